#!/usr/bin/env bash
# Per-circuit limits: max_circuit_duration_secs (a held circuit is reset after the limit:
# CircuitClosed error="duration limit") and max_circuit_bytes per direction (a larger transfer is
# cut: CircuitClosed error="data limit"; a smaller one gets through).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up dur 'max_circuit_duration_secs = 2'
check "the relay starts (max_circuit_duration_secs = 2)" [ $? -eq 0 ]
listener dst "$O/dst"
check "the destination listens" [ $? -eq 0 ]
DST=$LISTENER_ID
client_run "$O/h" --name holder --dial "$DST" --hold --timeout 15
check "a held circuit ends by itself: the holder exits 0" [ $? -eq 0 ]
H=$(sed -n 's/^local peer_id=//p' "$O/h.out")
check "the circuit was granted with a 2 s limit" \
    grep -qx "circuit to $DST accepted limit_duration=2 limit_data=10485760" "$O/h.out"
check "the holder saw its circuit reset" grep -qE '^circuit closed reason=reset after_ms=[0-9]+$' \
    "$O/h.out"
AFTER=$(sed -n 's/^circuit closed reason=reset after_ms=//p' "$O/h.out")
check "not before the limit (after_ms >= 1500)" eval '[ -n "$AFTER" ] && [ "$AFTER" -ge 1500 ]'
check "the destination saw its relayed connection close" \
    wait_for "$O/dst.out" "^relayed connection closed peer_id=$H reason=" 5
wait_for "$RELAY_LOG" 'CircuitClosed' 5
check "the relay logged CircuitClosed error=\"duration limit\"" event "$RELAY_LOG" CircuitClosed \
    "src_peer_id=$H dst_peer_id=$DST error=\"duration limit\" bytes_src_to_dst=[0-9]+ bytes_dst_to_src=[0-9]+ duration_ms=(19[5-9][0-9]|[2-9][0-9]{3})"
check "the destination is still reachable" \
    client_run "$O/p" --name pinger --dial "$DST" --ping 1
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

relay_up data 'max_circuit_bytes = 100000'
check "the relay starts (max_circuit_bytes = 100000)" [ $? -eq 0 ]
listener sink "$O/sink"
SINK=$LISTENER_ID
client_run "$O/big" --name big --dial "$SINK" --send 1000000
check "--send 1000000 over a 100000-byte circuit fails (exit 1)" [ $? -eq 1 ]
BIG=$(sed -n 's/^local peer_id=//p' "$O/big.out")
check "the circuit was granted with the data limit" \
    grep -qx "circuit to $SINK accepted limit_duration=120 limit_data=100000" "$O/big.out"
check "and it did not report success" [ "$(count_of "$O/big.out" '^sent ')" -eq 0 ]
wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=$BIG" 5
check "the relay logged CircuitClosed error=\"data limit\" at 100000 bytes" event "$RELAY_LOG" \
    CircuitClosed "src_peer_id=$BIG dst_peer_id=$SINK error=\"data limit\" bytes_src_to_dst=100000 "
client_run "$O/small" --name small --dial "$SINK" --send 50000
check "--send 50000 gets through (exit 0)" [ $? -eq 0 ]
check "and the sink counted all of it" grep -qE '^sent bytes=50000 ' "$O/small.out"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
