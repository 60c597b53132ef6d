#!/usr/bin/env bash
# Identify over a real libp2p connection (test_client): the listen addresses are announced,
# unless external_addrs is set; the observed address is the client's; bad external_addrs are
# refused with a line naming the key.
. "$(dirname "$0")/lib.sh"
CLIENT="$RLY_BUILD_DIR/test_client"
H=$(new_home)
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml

loopback_config "$C"
start_relay "$H" "$O" --config "$C"
check "the relay starts" [ $? -eq 0 ]
ADDR=$(sed -n 's/^Listening on: //p' "$O.out" | head -n 1)
PID=$(peer_id_of "$O")
LISTEN=${ADDR%/p2p/*}
timeout -k 5 20 "$CLIENT" --dial "$ADDR" --ping 2 --identify >"$TMP_ROOT/c.out" 2>"$TMP_ROOT/c.err"
check "test_client exits 0" [ $? -eq 0 ]
check "test_client reached the relay's PeerId" grep -qx "connected peer_id=$PID" "$TMP_ROOT/c.out"
check "two pings" [ "$(grep -c '^ping rtt_ms=' "$TMP_ROOT/c.out")" -eq 2 ]
check "identify: agent and protocol version" \
    grep -q '^identify agent=mesh-relay/[0-9.]* protocol_version=ipfs/0.1.0 ' "$TMP_ROOT/c.out"
check "identify: protocols (auth and hop advertised)" \
    grep -qE 'protocols=/ipfs/id/1.0.0,/ipfs/id/push/1.0.0,/ipfs/ping/1.0.0,/meshnet/relay-auth/1.0.0,/libp2p/circuit/relay/0.2.0/hop( |$)' \
    "$TMP_ROOT/c.out"
check "identify: the listen address is announced" grep -qE "listen_addrs=([^ ]*,)?$LISTEN(,| )" \
    "$TMP_ROOT/c.out"
check "identify: observed address is the client's loopback address" \
    grep -qE 'observed_addr=/ip4/127\.0\.0\.1/tcp/[1-9][0-9]* ' "$TMP_ROOT/c.out"
check "the relay logged ConnectionEstablished for the client" \
    grep -qE 'INFO relay_server::events: ConnectionEstablished peer_id=12D3KooW[^ ]+ endpoint="Listener \{ local_addr: /ip4/127\.0\.0\.1/tcp/[0-9]+, send_back_addr: /ip4/127\.0\.0\.1/tcp/[0-9]+ \}" num_established=1' "$O.err"
sleep 0.3
check "and ConnectionClosed with remaining=0" \
    grep -qE 'ConnectionClosed peer_id=12D3KooW[^ ]+ cause=[^ ]+.* remaining=0' "$O.err"
stop_relay "$RELAY_PID" TERM
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

loopback_config "$C" 'external_addrs = ["/dns4/relay.example.com/tcp/4001", "/ip4/203.0.113.7/udp/4001/quic-v1"]'
start_relay "$H" "$O" --config "$C"
ADDR=$(sed -n 's/^Listening on: //p' "$O.out" | head -n 1)
check "the banner lists announced addresses with /p2p" \
    grep -qx "Announcing: /dns4/relay.example.com/tcp/4001/p2p/$PID" "$O.out"
timeout -k 5 20 "$CLIENT" --dial "$ADDR" --identify >"$TMP_ROOT/c.out" 2>"$TMP_ROOT/c.err"
check "identify announces exactly external_addrs" grep -q \
    'listen_addrs=/dns4/relay.example.com/tcp/4001,/ip4/203.0.113.7/udp/4001/quic-v1 ' \
    "$TMP_ROOT/c.out"
stop_relay "$RELAY_PID" TERM
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

loopback_config "$C" 'external_addrs = ["/ip4/1.2.3.4/tcp/1/p2p-circuit"]'
run_relay "$H" "$O" --config "$C"
check "a bad external_addrs entry exits 1" [ $? -eq 1 ]
check "with one line naming the key and the form" \
    one_line_error "$O.err" "external_addrs.*p2p-circuit.*wrong form"

timeout -k 5 20 "$CLIENT" --dial /ip4/127.0.0.1/tcp/1 --identify --timeout 5 >/dev/null 2>"$TMP_ROOT/c.err"
check "test_client: a refused dial exits 1" [ $? -eq 1 ]
check "test_client: and says why" grep -q 'dial failed' "$TMP_ROOT/c.err"
"$CLIENT" --ping 1 >/dev/null 2>&1
check "test_client: missing --dial is a usage error (2)" [ $? -eq 2 ]
finish
