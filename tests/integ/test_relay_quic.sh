#!/usr/bin/env bash
# The relay over QUIC (UDP, /quic-v1) and across transports, with the example client: the relay
# lists its QUIC addresses after the TCP ones and in reservation replies; client A reserves over
# QUIC; B reaches A through the relay over QUIC and over TCP (a TCP-to-QUIC circuit), with ping,
# echo and bulk data; the relay logs the QUIC endpoint in ConnectionEstablished.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up r 'max_circuit_bytes = 0'
check "the relay starts" [ $? -eq 0 ]
TCP_ADDR=$RELAY_ADDR
QUIC_ADDR=$(sed -n 's/^Listening on: //p' "$O/r.out" | grep -m1 '^/ip4/127.0.0.1/udp/[0-9]*/quic-v1/p2p/')
check "the banner lists a QUIC address after the TCP ones" \
    eval '[ -n "$QUIC_ADDR" ] && [ "$(sed -n "s/^Listening on: //p" "$O/r.out" | head -n 1)" = "$TCP_ADDR" ]'
if has_ipv6; then
    check "and the IPv6 QUIC address" grep -qE '^Listening on: /ip6/::1/udp/[0-9]+/quic-v1/p2p/' "$O/r.out"
fi

RELAY_ADDR=$QUIC_ADDR
listener qa "$O/a"
check "client A reserves over QUIC" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
check "A's reservation lists the relay's QUIC address" \
    grep -qE "^reservation accepted .*addrs=.*${QUIC_ADDR}.* voucher=valid" "$O/a.out"
check "A listens on the QUIC circuit address" grep -qx "listening on $QUIC_ADDR/p2p-circuit/p2p/$A" "$O/a.out"
check "the relay logged A's QUIC connection" \
    grep -qE "ConnectionEstablished peer_id=$A endpoint=\"Listener \\{ local_addr: /ip4/127.0.0.1/udp/[0-9]+/quic-v1, send_back_addr: /ip4/127.0.0.1/udp/[0-9]+/quic-v1 \\}\".* transport=quic-v1" \
    "$RELAY_LOG"

client_run "$O/bq" --name qb --dial "$A" --ping 2 --echo over-quic --send 20000000
check "B over QUIC -> A over QUIC: ping, echo, 20 MB (exit 0)" [ $? -eq 0 ]
check "B: the echo came back" grep -qx 'echo over-quic' "$O/bq.out"
check "B: 20000000 bytes through the sink" grep -qE '^sent bytes=20000000 ' "$O/bq.out"

client_run "$O/bqe" --name qb --dial "$A" --echo-bytes 1048576
check "B over QUIC -> A over QUIC: 1 MiB echoed byte for byte (exit 0)" [ $? -eq 0 ]
check "B: the echo line" grep -qE '^echo bytes=1048576 ' "$O/bqe.out"

RELAY_ADDR=$TCP_ADDR
client_run "$O/bt" --name tb --dial "$A" --ping 2 --echo tcp-to-quic --send 20000000
check "B over TCP -> A over QUIC: ping, echo, 20 MB (exit 0)" [ $? -eq 0 ]
check "B: the echo came back across transports" grep -qx 'echo tcp-to-quic' "$O/bt.out"
B=$(sed -n 's/^local peer_id=//p' "$O/bt.out")
wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=$B " 10
check "the TCP-to-QUIC circuit closed with its bytes" \
    grep -qE "CircuitClosed src_peer_id=$B dst_peer_id=$A error=.* bytes_src_to_dst=2[0-9]{7} " "$RELAY_LOG"

HOME="$RH" timeout -k 5 20 "$CLIENT" --dial "$QUIC_ADDR" --ping 1 --identify >"$O/d.out" 2>&1
check "--dial MULTIADDR over QUIC pings and identifies the relay (observed address on UDP)" \
    eval 'grep -qx "connected peer_id=$RELAY_ID" "$O/d.out" &&
        grep -qE "^identify agent=mesh-relay/[0-9.]+ .*observed_addr=/ip4/127.0.0.1/udp/[0-9]+/quic-v1 " "$O/d.out"'

stop_pid "$A_PID"
check "client A stops with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/a.out "$O"/a.err "$O"/bq.out "$O"/bq.err "$O"/bt.out "$O"/bt.err "$RELAY_LOG"
finish
