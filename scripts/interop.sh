#!/usr/bin/env bash
# interop.sh BUILD_DIR: `make interop`. Runs every interop peer suite that needs a toolchain newer
# than Debian 12's (go-libp2p, rust-libp2p: they arrive with later issues) against BUILD_DIR's
# relay-server and test_client. What runs on plain Debian 12 (the js-libp2p suites on Debian's
# Node.js) is part of `make test` instead.
#
# A suite is a directory tests/interop/peers/<name>/ with an executable run.sh that fetches its
# own toolchain into $RLY_CACHE_DIR (not into the system), builds its peer, runs its tests on
# loopback against $RLY_BUILD_DIR/relay-server (and test_client) and exits 0 when they pass.
# Each suite runs with RLY_BUILD_DIR, RLY_SOURCE_DIR and RLY_CACHE_DIR set (absolute paths);
# all of them together are bounded to INTEROP_TIMEOUT seconds (900: CI's budget for this step).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: interop.sh BUILD_DIR}
[ -x "$build/relay-server" ] || { echo "interop.sh: no $build/relay-server (run make first)" >&2; exit 1; }
export RLY_BUILD_DIR RLY_SOURCE_DIR RLY_CACHE_DIR
RLY_BUILD_DIR=$(cd "$build" && pwd)
RLY_SOURCE_DIR=$here
RLY_CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay
budget=${INTEROP_TIMEOUT:-900}
start=$SECONDS

suites=()
for run in "$here"/tests/interop/peers/*/run.sh; do
    [ -e "$run" ] && suites+=("$run")
done
if [ ${#suites[@]} -eq 0 ]; then
    echo "make interop: no peer suites in tests/interop/peers/ yet (the js-libp2p suites run in make test)"
    exit 0
fi

failed=()
for run in "${suites[@]}"; do
    name=$(basename "$(dirname "$run")")
    left=$((budget - (SECONDS - start)))
    if [ "$left" -le 0 ]; then
        failed+=("$name (not run: the ${budget} s budget is spent)")
        continue
    fi
    echo "make interop: $name"
    t0=$SECONDS
    if timeout -k 30 "$left" "$run"; then
        echo "make interop: $name passed in $((SECONDS - t0)) s"
    else
        rc=$?
        [ "$rc" -eq 124 ] && failed+=("$name (timed out)") || failed+=("$name (exit $rc)")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    printf 'make interop: failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "make interop: all ${#suites[@]} peer suites passed"
