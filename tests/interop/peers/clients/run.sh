#!/usr/bin/env bash
# run.sh: the clients suite (clients.test.mjs: what the go-libp2p and rust-libp2p clients do with
# the relay's answers, issue 12 items 3 and 5), run by scripts/interop.sh (`make interop`) with
# RLY_BUILD_DIR, RLY_SOURCE_DIR and RLY_CACHE_DIR set; by hand from the repository root:
#
#   tests/interop/peers/clients/run.sh [node --test args, e.g. --test-name-pattern='go: NO_RESERVATION']
#
# Builds (lib/build_peers.sh: unless scripts/interop.sh built them), the go peer, the rust peer
# (tests/interop/{go,rust}/build.sh) and relaylab (tests/interop/go/relaylab/build.sh: go-libp2p's
# own relay, one identity on two connections), each cached in RLY_CACHE_DIR (fast when warm), and
# copies the binaries into a private temporary directory for the run: other suites or worktrees
# rebuilding the shared cache during the run cannot swap them. Then runs clients.test.mjs with
# tests/interop/run.sh (node --test) against $RLY_BUILD_DIR/relay-server. A program that does not
# build fails its tests (the others still run); the suite then exits non-zero.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/peers/lib/build_peers.sh
. "$here/../lib/build_peers.sh"

require_relay clients
build_peers clients "go:$interop/go/build.sh:RLY_GO_PEER" "rust:$interop/rust/build.sh:RLY_RUST_PEER" \
    "go-relaylab:$interop/go/relaylab/build.sh:RLY_GO_RELAYLAB"
private_copies RLY_GO_PEER RLY_RUST_PEER RLY_GO_RELAYLAB

run_suite "$here/clients.test.mjs" "$@"
