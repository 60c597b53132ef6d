#!/usr/bin/env bash
# run.sh: the auth suite (auth.test.mjs: control-plane signed peer tokens, issue 15, with the
# go-libp2p and rust-libp2p peers' --identity and --auth-token), run by scripts/interop.sh
# (`make interop`) with RLY_BUILD_DIR, RLY_SOURCE_DIR and RLY_CACHE_DIR set; by hand from the
# repository root:
#
#   tests/interop/peers/auth/run.sh [node --test args, e.g. --test-name-pattern='rust: refused']
#
# Builds the go and rust peers (lib/build_peers.sh: unless scripts/interop.sh built them; cached
# in RLY_CACHE_DIR, fast when warm), copies them into a private temporary directory for the run
# (another suite or worktree rebuilding the shared cache meanwhile cannot swap them), then runs
# auth.test.mjs with tests/interop/run.sh (node --test) against $RLY_BUILD_DIR/relay-server. A peer
# that does not build fails its tests (the others still run); the suite then exits non-zero.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$here/../../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
interop=$RLY_SOURCE_DIR/tests/interop

[ -x "$RLY_BUILD_DIR/relay-server" ] || { echo "auth: no $RLY_BUILD_DIR/relay-server (run make first)" >&2; exit 1; }

# shellcheck source=tests/interop/peers/lib/build_peers.sh
. "$here/../lib/build_peers.sh"
build_peers auth "go:$interop/go/build.sh:RLY_GO_PEER" "rust:$interop/rust/build.sh:RLY_RUST_PEER"
private_copies RLY_GO_PEER RLY_RUST_PEER

rc=0
# node --test options before the file (node 20 takes what follows a file as more files)
"$interop/run.sh" "$@" "$here/auth.test.mjs" || rc=$?
[ "$rc" -ne 0 ] || [ "$PEERS_BUILD_FAILED" -eq 0 ] || rc=1
exit "$rc"
