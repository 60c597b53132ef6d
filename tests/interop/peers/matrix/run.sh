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
# shellcheck source=tests/interop/peers/lib/build_peers.sh
. "$here/../lib/build_peers.sh"

require_relay matrix
build_peers matrix "go:$interop/go/build.sh:RLY_GO_PEER" "rust:$interop/rust/build.sh:RLY_RUST_PEER"

run_suite "$here/matrix.test.mjs" "$@"
