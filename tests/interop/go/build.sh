#!/usr/bin/env bash
# build.sh [relaylab]: build the go-libp2p interop peer (tests/interop/go), or with `relaylab`
# the relaylab program beside it (go-libp2p's own relay, one identity on two relay connections,
# for tests/interop/peers/clients), into ${RLY_CACHE_DIR:-$HOME/.cache/mesh-relay}/bin/NAME-<stamp>
# (NAME go-peer or go-relaylab) and print that absolute path, alone, as the last line on stdout
# (everything else goes to stderr). The name carries a hash of the inputs, so clones or worktrees
# with different sources never run each other's binary; the four newest of each are kept.
#
# Exact pins: go.mod and go.sum (-mod=readonly: a build never edits them). Go's own caches
# (GOCACHE, GOMODCACHE) stay where go keeps them, outside the repository. GOTOOLCHAIN=local: the
# go on PATH (or $GO) builds it, never a downloaded toolchain. Concurrent runs of one program are
# serialised with flock; a run whose inputs (sources, go.mod, go.sum, go version, flags) match an
# existing binary returns at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
'') name=go-peer pkg=. ;;
relaylab) name=go-relaylab pkg=./relaylab ;;
*) echo "usage: build.sh [relaylab]" >&2; exit 2 ;;
esac
cache=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
mkdir -p "$cache/bin"
cache=$(cd "$cache" && pwd)
go=${GO:-go}

command -v "$go" >/dev/null || { echo "build.sh: no go on PATH (go-libp2p v0.52.0 needs go >= 1.26)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false" CGO_ENABLED=0

exec 9>"$cache/bin/.$name.lock"
flock -w 600 9 || { echo "build.sh: could not lock $cache/bin/.$name.lock in 600 s" >&2; exit 1; }

stamp=$( (cd "$here" && "$go" version && echo "$GOFLAGS $CGO_ENABLED" &&
    sha256sum go.mod go.sum "$pkg"/*.go) | sha256sum | cut -d' ' -f1)
bin=$cache/bin/$name-${stamp:0:16}
if [ -x "$bin" ]; then
    touch "$bin"
    echo "$bin"
    exit 0
fi

t0=$(date +%s)
(cd "$here" && "$go" build -o "$bin.tmp" "$pkg") >&2
mv -f "$bin.tmp" "$bin"
echo "build.sh: built $bin in $(($(date +%s) - t0)) s" >&2
# shellcheck disable=SC2010,SC2012 # our own names: no spaces
ls -t "$cache/bin/$name"-* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | xargs -r rm -f
rm -f "$cache/bin/$name" "$cache/bin/$name.stamp" # the unhashed name of earlier versions
echo "$bin"
