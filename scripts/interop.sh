#!/usr/bin/env bash
# interop.sh BUILD_DIR: `make interop`. Builds the go-libp2p and rust-libp2p test peers
# (tests/interop/go, tests/interop/rust: the machine's Go and Rust, pinned modules and crates,
# caches under $RLY_CACHE_DIR, never in the clone), then runs every suite in tests/interop/peers/
# against BUILD_DIR's relay-server and test_client. What runs on plain Debian 12 (the js-libp2p
# suites on Debian's Node.js) is part of `make test` instead.
#
# A suite is a directory tests/interop/peers/<name>/ (the peers) or tests/deploy/<name>/ (the
# deployment artefacts with the real tools: podman, Kubernetes' API types, Prometheus; they run
# after the peer suites) with an executable run.sh that runs its
# tests on loopback (or in network namespaces it makes) and exits 0 when they pass. Each runs
# with RLY_BUILD_DIR, RLY_SOURCE_DIR and RLY_CACHE_DIR set (absolute paths), and RLY_GO_PEER /
# RLY_RUST_PEER when those built; all of it together is bounded to INTEROP_TIMEOUT seconds (900:
# CI's budget for this step).
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
for run in "$here"/tests/interop/peers/*/run.sh "$here"/tests/deploy/*/run.sh; do
    [ -e "$run" ] && suites+=("$run")
done
if [ ${#suites[@]} -eq 0 ]; then
    echo "make interop: no suites in tests/interop/peers/ or tests/deploy/ yet (the js-libp2p suites run in make test)"
    exit 0
fi

# The go and rust peers, built once for every suite, side by side: cargo leaves a core idle for
# long stretches (one crate at a time at the end of the graph) that go's build fills. Each
# build.sh prints its binary's path last; a suite given RLY_GO_PEER / RLY_RUST_PEER uses it, and
# one whose peer did not build fails that peer's tests (its own run.sh says so).
t0=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for kind in go rust; do
    timeout -k 30 "$budget" "$here/tests/interop/$kind/build.sh" >"$logs/$kind.out" 2>"$logs/$kind.err" &
    pids+=($!)
done
for i in 0 1; do
    kind=$([ "$i" -eq 0 ] && echo go || echo rust)
    var=RLY_$(tr '[:lower:]' '[:upper:]' <<<"$kind")_PEER
    if wait "${pids[$i]}" && bin=$(tail -n 1 "$logs/$kind.out") && [ -x "$bin" ]; then
        export "$var=$bin"
        echo "make interop: the $kind peer: $bin"
    else
        echo "make interop: the $kind peer did not build (tests/interop/$kind/build.sh):" >&2
        tail -n 20 "$logs/$kind.err" >&2 || true
    fi
done
echo "make interop: peers built in $((SECONDS - t0)) s"

failed=()
for run in "${suites[@]}"; do
    name=$(basename "$(dirname "$(dirname "$run")")")/$(basename "$(dirname "$run")")
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
echo "make interop: all ${#suites[@]} suites passed"
