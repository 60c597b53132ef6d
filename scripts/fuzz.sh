#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS: run every libFuzzer target in BUILD_DIR/fuzz for SECONDS each (0:
# none, build only), starting from its committed corpus. New inputs go to a scratch directory;
# crashes are written to BUILD_DIR/fuzz/crashes/<target>/ and make the script fail. Add a useful
# new input to fuzz/corpus/<target>/ by hand (libFuzzer's -merge=1 keeps the corpus small).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-30}
fail=0
if [ "$secs" = 0 ]; then # FUZZ_SECONDS=0: build only (libFuzzer would take 0 as "forever")
    exit 0
fi
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=fuzz/corpus/${name#fuzz_}
    scratch=$(mktemp -d)
    crashes=$build/fuzz/crashes/$name
    mkdir -p "$crashes"
    echo "== $name ($secs s)"
    if ! "$bin" -max_total_time="$secs" -artifact_prefix="$crashes/" -print_final_stats=1 \
        "$scratch" "$corpus" 2>"$build/fuzz/$name.log"; then
        echo "   FAILED: see $build/fuzz/$name.log and $crashes/"
        fail=1
    else
        grep -E 'stat::number_of_executed_units' "$build/fuzz/$name.log" || true
    fi
    rm -rf "$scratch"
done
exit $fail
