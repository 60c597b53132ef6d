#!/usr/bin/env bash
# Build the rust-libp2p interop peer (tests/interop/PEERS.md) in release mode.
# Cache outside the repo: $RLY_CACHE_DIR/cargo-target (RLY_CACHE_DIR defaults to
# ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay). --locked: Cargo.lock is the pin.
# Serialised with flock so parallel callers share one build. Prints only errors, and on success
# the absolute path of the binary as the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}"
export CARGO_TARGET_DIR="$cache/cargo-target"
mkdir -p "$CARGO_TARGET_DIR"
exec 9>"$CARGO_TARGET_DIR/.rust-peer.lock"
flock -w 1800 9 || { echo "build.sh: could not lock $CARGO_TARGET_DIR/.rust-peer.lock in 30 min" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! cargo build --release --locked -j "${RLY_CARGO_JOBS:-2}" \
    --manifest-path "$here/Cargo.toml" --bin rust-peer >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: cargo build failed" >&2
  exit 1
fi
bin="$CARGO_TARGET_DIR/release/rust-peer"
[ -x "$bin" ] || { echo "build.sh: $bin missing after build" >&2; exit 1; }
echo "$bin"
