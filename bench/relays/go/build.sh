#!/usr/bin/env bash
# build.sh: build go-relay (main.go here: go-libp2p's circuit v2 relay for `make bench`, see
# ../README.md) into ${RLY_CACHE_DIR:-$HOME/.cache/mesh-relay}/bin/go-relay-<stamp> and print that
# absolute path, alone, as the last line on stdout (everything else goes to stderr). The stamp is a
# hash of the inputs, so clones or worktrees with other sources never run each other's binary;
# the four newest are kept. The same scheme as tests/interop/go/build.sh.
#
# Exact pins: go.mod and go.sum, the interop peer's (tests/interop/go) with only the module name
# changed, so the benchmark runs the go-libp2p release the interop tests run (a warning on stderr
# if the two drift apart). -mod=readonly: a build never edits them. Go's caches (GOCACHE,
# GOMODCACHE) stay where go keeps them. GOTOOLCHAIN=local: the go on PATH (or $GO) builds it.
# Concurrent runs are serialised with flock; a run whose inputs (sources, go.mod, go.sum, go
# version, flags) match an existing binary returns at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=go-relay
cache=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
mkdir -p "$cache/bin"
cache=$(cd "$cache" && pwd)
go=${GO:-go}

command -v "$go" >/dev/null || { echo "build.sh: no go on PATH (go-libp2p v0.52.0 needs go >= 1.26)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false" CGO_ENABLED=0

interop=$here/../../../tests/interop/go
if [ -f "$interop/go.mod" ] &&
    ! { cmp -s "$interop/go.sum" "$here/go.sum" &&
        cmp -s <(grep -v '^module ' "$interop/go.mod") <(grep -v '^module ' "$here/go.mod"); }; then
    echo "build.sh: warning: go.mod/go.sum differ from tests/interop/go's (the pins should match)" >&2
fi

exec 9>"$cache/bin/.$name.lock"
flock -w 600 9 || { echo "build.sh: could not lock $cache/bin/.$name.lock in 600 s" >&2; exit 1; }

stamp=$( (cd "$here" && "$go" version && echo "$GOFLAGS $CGO_ENABLED" &&
    sha256sum go.mod go.sum ./*.go) | sha256sum | cut -d' ' -f1)
bin=$cache/bin/$name-${stamp:0:16}
if [ -x "$bin" ]; then
    touch "$bin"
    echo "$bin"
    exit 0
fi

t0=$(date +%s)
(cd "$here" && "$go" build -o "$bin.tmp" .) >&2
mv -f "$bin.tmp" "$bin"
echo "build.sh: built $bin in $(($(date +%s) - t0)) s" >&2
# shellcheck disable=SC2010,SC2012 # our own names: no spaces
ls -t "$cache/bin/$name"-* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | xargs -r rm -f
echo "$bin"
