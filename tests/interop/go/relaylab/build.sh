#!/usr/bin/env bash
# build.sh: build relaylab (go-libp2p's own relay, and one identity on two relay connections, for
# tests/interop/peers/clients) with the go peer's build script, pins, flags and caches
# (../build.sh relaylab); prints the binary's absolute path as the last line on stdout.
exec "$(dirname "${BASH_SOURCE[0]}")/../build.sh" relaylab
