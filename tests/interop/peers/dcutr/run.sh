#!/usr/bin/env bash
# run.sh: the hole-punching (DCUtR) lab suite (issue 12): builds the go and rust interop peers
# (their build.sh print the binary as the last line), then runs dcutr.test.mjs with node's test
# runner (tests/interop/run.sh). scripts/interop.sh runs it with RLY_BUILD_DIR, RLY_SOURCE_DIR and
# RLY_CACHE_DIR set; by hand:  sudo tests/interop/peers/dcutr/run.sh   (from the repo, after make)
#
# The lab needs root and network namespaces. Without them (not root, or `ip netns add` refused,
# e.g. in an unprivileged container) it prints SKIP and exits 0; everything else that goes wrong
# fails. nftables is installed from Debian when missing (as root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/peers/lib/build_peers.sh
. "$here/../lib/build_peers.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "dcutr: SKIP: the hole-punching lab needs root (network namespaces, nftables)"
    exit 0
fi
if ! command -v ip >/dev/null; then
    echo "dcutr: SKIP: no ip (iproute2): no network namespaces"
    exit 0
fi
probe="rlyd-probe$$"
if ! ip netns add "$probe" 2>/dev/null; then
    echo "dcutr: SKIP: this machine does not allow network namespaces (ip netns add failed)"
    exit 0
fi
ip netns del "$probe"

if ! command -v nft >/dev/null; then
    echo "dcutr: installing nftables (Debian) for the lab's NATs" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables >/dev/null
fi
[ -x "$RLY_BUILD_DIR/relay-server" ] || { echo "dcutr: no $RLY_BUILD_DIR/relay-server (make build)" >&2; exit 1; }

build_peers dcutr "go:$interop/go/build.sh:RLY_GO_PEER" "rust:$interop/rust/build.sh:RLY_RUST_PEER"
[ "$PEERS_BUILD_FAILED" -eq 0 ] || exit 1

# The lab's namespaces are named after this tag; the test removes them when it ends, and so does
# this script's trap (also after a SIGKILL of node, e.g. by a timeout's -k).
export RLY_DCUTR_TAG=${RLY_DCUTR_TAG:-r$(printf '%x' $$ | tail -c 7)}
trap '"$here/lab.sh" down "$RLY_DCUTR_TAG"' EXIT
rc=0
"$RLY_SOURCE_DIR/tests/interop/run.sh" "$@" "$here/dcutr.test.mjs" || rc=$?
exit "$rc"
