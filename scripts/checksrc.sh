#!/usr/bin/env bash
# checksrc.sh: source rules that the compiler does not enforce (STYLE.md D.8, curl checksrc).
#  1. banned calls: sprintf vsprintf strcpy strcat atoi atol gets rand alloca
#  2. raw malloc/calloc/realloc/free only in src/core/mem.c (everything else goes through rly_mem)
#  3. every non-static function defined in src/ is named rly_* (main.c's main excepted)
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
mapfile -t srcs < <(git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'examples/*.c' \
    'examples/*.h' 'tests/*.c' 'fuzz/*.c' 'bench/*.c')

banned='\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|rand|alloca)[[:space:]]*\('
if out=$(grep -nE "$banned" "${srcs[@]}" 2>/dev/null); then
    echo "checksrc: banned function (use snprintf/rly_dynbuf/strtol/rly_crypto_random):" >&2
    echo "$out" >&2
    fail=1
fi

raw='(^|[^_a-z])(malloc|calloc|realloc|free)[[:space:]]*\('
for f in "${srcs[@]}"; do
    case "$f" in src/core/mem.c | fuzz/replay_main.c | tests/* | bench/*) continue ;; esac
    if out=$(grep -nE "$raw" "$f" | grep -vE '^\s*[0-9]+:\s*(/\*|\*)'); then
        echo "checksrc: raw allocator call outside src/core/mem.c in $f (use rly_malloc/rly_free):" >&2
        echo "$out" >&2
        fail=1
    fi
done

# A function definition at column 0: "type name(" on one line, body brace on a later line.
for f in $(printf '%s\n' "${srcs[@]}" | grep -E '^src/.*\.c$'); do
    out=$(grep -nE '^[a-z_][a-z0-9_ *]*[ *]([a-z_][a-z0-9_]*)\(' "$f" |
        grep -vE '^[0-9]+:(static|typedef|extern|#)' |
        grep -vE '^[0-9]+:[^(]*[ *](rly_[a-z0-9_]*|main)\(' || true)
    if [ -n "$out" ]; then
        echo "checksrc: non-static function without the rly_ prefix in $f (make it static or rename):" >&2
        echo "$out" >&2
        fail=1
    fi
done

if [ $fail -ne 0 ]; then
    exit 1
fi
echo "checksrc: ${#srcs[@]} files ok"
