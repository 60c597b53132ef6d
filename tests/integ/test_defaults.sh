#!/usr/bin/env bash
# `make run` acceptance: with no config file at all the relay starts on the built-in defaults
# (TCP and QUIC on 4001, on 0.0.0.0 and ::), says so, and stops cleanly.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o

if (exec 3<>/dev/tcp/127.0.0.1/4001) 2>/dev/null; then
    echo "skip: port 4001 is already in use on this machine"
    finish
    exit $?
fi
start_relay "$H" "$O"
check "starts with no configuration file" [ $? -eq 0 ]
check "logs that it uses the built-in defaults" grep -q 'using built-in defaults' "$O.err"
check "listens on 127.0.0.1:4001 (0.0.0.0 expanded)" \
    grep -qE '^Listening on: /ip4/127\.0\.0\.1/tcp/4001/p2p/12D3KooW' "$O.out"
if has_ipv6; then
    check "listens on [::1]:4001 (:: expanded)" \
        grep -qE '^Listening on: /ip6/::1/tcp/4001/p2p/12D3KooW' "$O.out"
fi
check "accepts a TCP connection on 4001" bash -c 'exec 3<>/dev/tcp/127.0.0.1/4001'
check "listens for QUIC on UDP 127.0.0.1:4001" \
    grep -qE '^Listening on: /ip4/127\.0\.0\.1/udp/4001/quic-v1/p2p/12D3KooW' "$O.out"
if has_ipv6; then
    check "and on UDP [::1]:4001" grep -qE '^Listening on: /ip6/::1/udp/4001/quic-v1/p2p/12D3KooW' "$O.out"
fi
check "creates the identity on first run" [ -f "$H/.meshnet/relay_keypair.bin" ]
check "writes no config file by itself" [ ! -e "$H/.meshnet/relay.toml" ]
stop_relay "$RELAY_PID" INT
RC=$STOP_RC
check "stops with exit code 0" [ "$RC" = 0 ]
finish
