# shellcheck shell=bash
# build_peers.sh (sourced by the suites' run.sh): the suite's environment (below), then
# build_peers SUITE NAME:SCRIPT:VAR ..., private_copies VAR... and run_suite SUITE FILE ARGS...
#
# Sourcing it exports RLY_SOURCE_DIR, RLY_BUILD_DIR and RLY_CACHE_DIR (as scripts/interop.sh sets
# them; for a run by hand, this checkout, its build/ and ~/.cache/mesh-relay) and sets $interop
# (tests/interop).
_peers_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$_peers_lib/../../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
# shellcheck disable=SC2034 # read by the suites
interop=$RLY_SOURCE_DIR/tests/interop

# require_relay SUITE: exit 1 with a message when $RLY_BUILD_DIR has no relay-server.
require_relay() {
    [ -x "$RLY_BUILD_DIR/relay-server" ] || {
        echo "$1: no $RLY_BUILD_DIR/relay-server (run make first)" >&2
        exit 1
    }
}

# run_suite FILE [node --test args]: run FILE with tests/interop/run.sh (node --test; the options
# go before the file: node 20 takes what follows a file as more files) and exit with its status,
# or 1 when it passed but a peer did not build (build_peers).
run_suite() {
    local file=$1 rc=0
    shift
    "$interop/run.sh" "$@" "$file" || rc=$?
    [ "$rc" -ne 0 ] || [ "${PEERS_BUILD_FAILED:-0}" -eq 0 ] || rc=1
    exit "$rc"
}
#
# For each program: when VAR already names a binary (scripts/interop.sh builds the go and rust
# peers once for every suite and exports RLY_GO_PEER / RLY_RUST_PEER), that one is used;
# otherwise SCRIPT builds it (cached under $RLY_CACHE_DIR, fast when warm; it prints the binary's
# path as its last line) and VAR is exported. A program that does not build gets
# VAR_BUILD_FAILED exported (the tests that need it fail with that text, the others still run)
# and PEERS_BUILD_FAILED=1. One build after the other: the two cores are shared.
# shellcheck disable=SC2034 # PEERS_BUILD_FAILED is read by the suite after the call
build_peers() {
    local suite=$1 spec name script var t0 out bin
    shift
    PEERS_BUILD_FAILED=0
    for spec in "$@"; do
        IFS=: read -r name script var <<<"$spec"
        if [ -n "${!var:-}" ]; then
            echo "$suite: $name from $var: ${!var}" >&2
            continue
        fi
        t0=$SECONDS
        out=$(mktemp)
        if "$script" >"$out" && bin=$(tail -n 1 "$out") && [ -x "$bin" ]; then
            export "$var=$bin"
            echo "$suite: built $name in $((SECONDS - t0)) s: $bin" >&2
        else
            echo "$suite: $name did not build ($script; last lines above); its tests fail" >&2
            tail -n 5 "$out" >&2 || true
            export "${var}_BUILD_FAILED=$script failed (see the suite's log)"
            PEERS_BUILD_FAILED=1
        fi
        rm -f "$out"
    done
}

# private_copies VAR...: copy the binary each VAR names (if it names one) into a private temporary
# directory, removed when the shell exits (an EXIT trap), and point VAR at the copy: another suite
# or worktree rebuilding the shared $RLY_CACHE_DIR/bin during the run cannot swap it.
private_copies() {
    local var
    PEERS_PRIVATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rly-peers-bin.XXXXXX")
    trap 'rm -rf "$PEERS_PRIVATE_DIR"' EXIT
    for var in "$@"; do
        if [ -n "${!var:-}" ] && cp "${!var}" "$PEERS_PRIVATE_DIR/$var"; then
            export "$var=$PEERS_PRIVATE_DIR/$var"
        fi
    done
}
