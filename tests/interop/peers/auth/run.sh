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
# shellcheck source=tests/interop/peers/lib/build_peers.sh
. "$here/../lib/build_peers.sh"

require_relay auth
build_peers auth "go:$interop/go/build.sh:RLY_GO_PEER" "rust:$interop/rust/build.sh:RLY_RUST_PEER"
private_copies RLY_GO_PEER RLY_RUST_PEER

run_suite "$here/auth.test.mjs" "$@"
