#!/usr/bin/env bash
# build.sh: build relaylab (tests/interop/go/relaylab: go-libp2p's own relay, and one identity on
# two relay connections, for tests/interop/peers/clients) into
# ${RLY_CACHE_DIR:-$HOME/.cache/mesh-relay}/bin/go-relaylab and print that absolute path, alone,
# as the last line on stdout. Same pins (../go.mod, ../go.sum, -mod=readonly), flags and caches
# as ../build.sh (the go peer); its own binary, lock and stamp, so the two never rebuild each
# other.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod=$(cd "$here/.." && pwd)
cache=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
mkdir -p "$cache/bin"
cache=$(cd "$cache" && pwd)
bin=$cache/bin/go-relaylab
go=${GO:-go}

command -v "$go" >/dev/null || { echo "build.sh: no go on PATH (go-libp2p v0.52.0 needs go >= 1.26)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false" CGO_ENABLED=0

exec 9>"$cache/bin/.go-relaylab.lock"
flock -w 600 9 || { echo "build.sh: could not lock $cache/bin/.go-relaylab.lock in 600 s" >&2; exit 1; }

stamp=$( (cd "$mod" && "$go" version && echo "$GOFLAGS $CGO_ENABLED" &&
    sha256sum go.mod go.sum relaylab/*.go) | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$bin.stamp" ] && [ "$(cat "$bin.stamp")" = "$stamp" ]; then
    echo "$bin"
    exit 0
fi

t0=$(date +%s)
(cd "$mod" && "$go" build -o "$bin.tmp" ./relaylab) >&2
mv -f "$bin.tmp" "$bin"
echo "$stamp" >"$bin.stamp"
echo "build.sh: built $bin in $(($(date +%s) - t0)) s" >&2
echo "$bin"
