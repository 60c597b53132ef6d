#!/usr/bin/env bash
# Build the rust-libp2p interop peer (tests/interop/PEERS.md) with Cargo.toml's `interop` profile
# (release at opt-level 1, 256 codegen units: the quickest cold build measured on two cores;
# README.md has the numbers). RLY_CARGO_PROFILE=release gives a fully optimised one.
# Cache outside the repo: $RLY_CACHE_DIR/cargo-target (RLY_CACHE_DIR defaults to
# ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay). --locked: Cargo.lock is the pin.
# Serialised with flock so parallel callers share one build. Prints only errors, and on success
# the absolute path of the binary as the last line of stdout: a copy named by a hash of the
# inputs ($RLY_CACHE_DIR/bin/rust-peer-<hash>, the four newest kept), so that clones or
# worktrees with other sources, which share the target directory, never run each other's build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}"
export CARGO_TARGET_DIR="$cache/cargo-target"
mkdir -p "$CARGO_TARGET_DIR"
exec 9>"$CARGO_TARGET_DIR/.rust-peer.lock"
flock -w 1800 9 || { echo "build.sh: could not lock $CARGO_TARGET_DIR/.rust-peer.lock in 30 min" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
profile="${RLY_CARGO_PROFILE:-interop}"
if ! cargo build --profile "$profile" --locked -j "${RLY_CARGO_JOBS:-2}" \
    --manifest-path "$here/Cargo.toml" --bin rust-peer >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: cargo build failed" >&2
  exit 1
fi
case "$profile" in dev) dir=debug ;; *) dir="$profile" ;; esac
built="$CARGO_TARGET_DIR/$dir/rust-peer"
[ -x "$built" ] || { echo "build.sh: $built missing after build" >&2; exit 1; }
stamp=$( (cd "$here" && cargo --version && echo "$profile" &&
    find Cargo.toml Cargo.lock build.rs src -type f -print0 | sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16)
mkdir -p "$cache/bin"
bin="$(cd "$cache/bin" && pwd)/rust-peer-$stamp"
if [ ! -x "$bin" ]; then
  cp -f "$built" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
  # shellcheck disable=SC2010,SC2012 # our own names: no spaces
  ls -t "$cache/bin"/rust-peer-* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | xargs -r rm -f
fi
touch "$bin"
echo "$bin"
