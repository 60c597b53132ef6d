#!/usr/bin/env bash
# run.sh: the interop matrix suite (matrix.test.mjs), run by scripts/interop.sh (`make interop`)
# with RLY_BUILD_DIR, RLY_SOURCE_DIR and RLY_CACHE_DIR set; by hand from the repository root:
#
#   tests/interop/peers/matrix/run.sh [node --test args, e.g. --test-name-pattern='go -> rust']
#
# Builds the go and rust peers once (tests/interop/{go,rust}/build.sh: toolchains and caches in
# RLY_CACHE_DIR, the binary's path as the last line of stdout), one after the other (two cores
# are shared), then runs the matrix with tests/interop/run.sh (node --test) against
# $RLY_BUILD_DIR/relay-server and test_client. A peer that does not build fails its cells (the
# others still run); the suite then exits non-zero.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$here/../../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
interop=$RLY_SOURCE_DIR/tests/interop

[ -x "$RLY_BUILD_DIR/relay-server" ] || { echo "matrix: no $RLY_BUILD_DIR/relay-server (run make first)" >&2; exit 1; }

build_failed=0
for kind in go rust; do
    var=RLY_$(tr '[:lower:]' '[:upper:]' <<<"$kind")_PEER
    if [ -n "${!var:-}" ]; then
        echo "matrix: the $kind peer from $var: ${!var}" >&2
        continue
    fi
    t0=$SECONDS
    out=$(mktemp)
    if "$interop/$kind/build.sh" >"$out" && bin=$(tail -n 1 "$out") && [ -x "$bin" ]; then
        export "$var=$bin"
        echo "matrix: built the $kind peer in $((SECONDS - t0)) s: $bin" >&2
    else
        echo "matrix: the $kind peer did not build ($interop/$kind/build.sh; last lines above); its cells fail" >&2
        tail -n 5 "$out" >&2 || true
        export "RLY_${var#RLY_}_BUILD_FAILED=$interop/$kind/build.sh failed (see the suite's log)"
        build_failed=1
    fi
    rm -f "$out"
done

rc=0
"$interop/run.sh" "$@" "$here/matrix.test.mjs" || rc=$?
[ "$rc" -ne 0 ] || [ "$build_failed" -eq 0 ] || rc=1
exit "$rc"
