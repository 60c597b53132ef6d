#!/usr/bin/env bash
# Per-address limits and rates ([limits]), with loopback taken out of exempt_cidrs so that our
# clients count: max_reservations_per_ip refuses a second reservation from 127.0.0.1
# (RESERVATION_REFUSED), reservation_rate_per_peer then refuses with RESOURCE_LIMIT_EXCEEDED,
# circuit_rate_per_peer refuses a second CONNECT, max_connections_per_ip turns a second connection
# away (ConnectionDenied); with the default exemption (loopback) nothing of it applies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up r1 'max_circuit_bytes = 0' '[limits]' 'exempt_cidrs = []' 'max_reservations_per_ip = 1' \
    'reservation_rate_per_peer = 2' 'reservation_rate_per_ip = 1000' 'circuit_rate_per_peer = 1'
check "the relay starts with [limits]" [ $? -eq 0 ]
listener a "$O/a"
check "A reserves (the address's one reservation)" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
client_run "$O/c1" --name c --reserve-only
check "C from the same address: refused (exit 4)" [ $? -eq 4 ]
check "C: RESERVATION_REFUSED" grep -qx "reservation refused status=RESERVATION_REFUSED" "$O/c1.out"
check "the relay says why" grep -qE "ReservationReqDenied .*status=RESERVATION_REFUSED.*max_reservations_per_ip" "$RELAY_LOG"
client_run "$O/c2" --name c --reserve-only
check "C again: RESERVATION_REFUSED (its second RESERVE this minute)" \
    grep -qx "reservation refused status=RESERVATION_REFUSED" "$O/c2.out"
client_run "$O/c3" --name c --reserve-only
check "C a third time: over reservation_rate_per_peer = 2 (exit 4)" [ $? -eq 4 ]
check "C: RESOURCE_LIMIT_EXCEEDED" grep -qx "reservation refused status=RESOURCE_LIMIT_EXCEEDED" "$O/c3.out"
check "the relay names the rate" grep -qE "ReservationReqDenied .*reservation_rate_per_peer" "$RELAY_LOG"
client_run "$O/b1" --name b --dial "$A" --ping 1
check "B's first CONNECT passes (exit 0)" [ $? -eq 0 ]
client_run "$O/b2" --name b --dial "$A" --ping 1
check "B's second CONNECT this minute: refused (exit 4)" [ $? -eq 4 ]
check "B: RESOURCE_LIMIT_EXCEEDED" grep -qx "circuit refused status=RESOURCE_LIMIT_EXCEEDED" "$O/b2.out"
check "the relay names the rate" grep -qE "CircuitReqDenied .*circuit_rate_per_peer" "$RELAY_LOG"
stop_pid "$A_PID"
wait_for "$RELAY_LOG" "ConnectionClosed peer_id=$A " 10
client_run "$O/c4" --name d --reserve-only
check "once A is gone another peer reserves from the address (exit 0)" [ $? -eq 0 ]
stop_pid "$RELAY_PID"
check "relay 1 stops with 0" [ "$STOP_RC" = 0 ]

relay_up r2 '[limits]' 'exempt_cidrs = []' 'max_connections_per_ip = 1'
check "relay 2 starts" [ $? -eq 0 ]
listener a "$O/a2"
check "A holds the address's one connection" [ $? -eq 0 ]
A_PID=$LISTENER_PID
client_run "$O/e1" --name e --reserve-only
check "E from the same address is turned away (exit 1)" [ $? -eq 1 ]
check "ConnectionDenied with the reason" \
    grep -qE "ConnectionDenied peer_id=.* reason=\"too many connections from this address \(max_connections_per_ip\)\"" "$RELAY_LOG"
QADDR=$(sed -n 's/^Listening on: //p' "$O/r2.out" | grep -m1 '^/ip4/127.0.0.1/udp/.*/quic-v1/')
SAVED=$RELAY_ADDR
RELAY_ADDR=$QADDR
client_run "$O/e3" --name f --reserve-only
check "over QUIC too: F is turned away (TCP and QUIC connections count together) (exit 1)" [ $? -eq 1 ]
RELAY_ADDR=$SAVED
check "two ConnectionDenied lines" [ "$(count_of "$RELAY_LOG" "ConnectionDenied ")" -eq 2 ]
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "relay 2 stops with 0" [ "$STOP_RC" = 0 ]

relay_up r3 '[limits]' 'max_connections_per_ip = 1' 'max_reservations_per_ip = 1'
check "relay 3 (loopback exempt by default) starts" [ $? -eq 0 ]
listener a "$O/a3"
A_PID=$LISTENER_PID
client_run "$O/e2" --name e --reserve-only
check "exempt: a second connection and reservation from 127.0.0.1 pass (exit 0)" [ $? -eq 0 ]
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "relay 3 stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
