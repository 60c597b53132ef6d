#!/usr/bin/env bash
# build.sh: build rust-relay (src/main.rs here: rust-libp2p's circuit v2 relay for `make bench`, see
# ../README.md) with cargo's full `release` profile (a benchmark binary, not a test peer), and
# print the absolute path of the binary as the last line of stdout (only errors otherwise): a copy
# named by a hash of the inputs ($RLY_CACHE_DIR/bin/rust-relay-<hash>, the four newest kept), so
# clones or worktrees with other sources, which share the target directory, never run each
# other's build. The same scheme as tests/interop/rust/build.sh.
# Cache outside the repo: $RLY_CACHE_DIR/cargo-target (RLY_CACHE_DIR defaults to
# ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay), shared with the interop peer. --locked: Cargo.lock
# is the pin (libp2p =0.57.1, as tests/interop/rust). Serialised with flock on the same lock as
# the interop peer's build, since both use one target directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}"
export CARGO_TARGET_DIR="$cache/cargo-target"
mkdir -p "$CARGO_TARGET_DIR"
exec 9>"$CARGO_TARGET_DIR/.rust-peer.lock"
flock -w 1800 9 || { echo "build.sh: could not lock $CARGO_TARGET_DIR/.rust-peer.lock in 30 min" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
if ! cargo build --release --locked -j "${RLY_CARGO_JOBS:-2}" \
    --manifest-path "$here/Cargo.toml" --bin rust-relay >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: cargo build failed" >&2
  exit 1
fi
built="$CARGO_TARGET_DIR/release/rust-relay"
[ -x "$built" ] || { echo "build.sh: $built missing after build" >&2; exit 1; }
stamp=$( (cd "$here" && cargo --version && echo release &&
    find Cargo.toml Cargo.lock src -type f -print0 | sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16)
mkdir -p "$cache/bin"
bin="$(cd "$cache/bin" && pwd)/rust-relay-$stamp"
if [ ! -x "$bin" ]; then
  cp -f "$built" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
  echo "build.sh: built $bin in $(($(date +%s) - t0)) s" >&2
  # shellcheck disable=SC2010,SC2012 # our own names: no spaces
  ls -t "$cache/bin"/rust-relay-* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | xargs -r rm -f
fi
touch "$bin"
echo "$bin"
