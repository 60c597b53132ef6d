#!/usr/bin/env bash
# Circuit caps: max_circuits_per_peer (a destination already in that many circuits) and the
# global max_circuits: held circuits (--hold) fill the cap, the next CONNECT gets
# RESOURCE_LIMIT_EXCEEDED (exit 4, CircuitReqDenied), and a closed circuit frees its slot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

# hold OUT NAME TARGET: a dialer that holds a circuit to TARGET; waits until it does.
hold() {
    client_bg "$1" --name "$2" --dial "$3" --hold --timeout 20
    HOLD_PID=$CLIENT_PID
    wait_for "$1.out" '^holding the circuit$' 15
}

relay_up perpeer 'max_circuits_per_peer = 2' 'max_circuits = 100'
check "the relay starts (max_circuits_per_peer = 2)" [ $? -eq 0 ]
listener dst "$O/dst"
check "the destination listens" [ $? -eq 0 ]
DST=$LISTENER_ID
hold "$O/h1" h1 "$DST"
check "circuit 1 to the destination is held" [ $? -eq 0 ]
H1=$HOLD_PID
hold "$O/h2" h2 "$DST"
check "circuit 2 to the destination is held" [ $? -eq 0 ]
client_run "$O/h3" --name h3 --dial "$DST" --ping 1
check "circuit 3 to the same destination is refused: exit 4" [ $? -eq 4 ]
check "with RESOURCE_LIMIT_EXCEEDED" \
    grep -qx 'circuit refused status=RESOURCE_LIMIT_EXCEEDED' "$O/h3.out"
H3ID=$(sed -n 's/^local peer_id=//p' "$O/h3.out")
check "the relay logged CircuitReqDenied RESOURCE_LIMIT_EXCEEDED" event "$RELAY_LOG" \
    CircuitReqDenied "src_peer_id=$H3ID dst_peer_id=$DST status=RESOURCE_LIMIT_EXCEEDED"
stop_pid "$H1"
check "a holder stopped by SIGTERM exits 0" [ "$STOP_RC" = 0 ]
check "its circuit closes on the relay" wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=$(
    sed -n 's/^local peer_id=//p' "$O/h1.out") " 10
client_run "$O/h3b" --name h3 --dial "$DST" --ping 1
check "then a new circuit to the destination is accepted" [ $? -eq 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

relay_up global 'max_circuits = 1' 'max_circuits_per_peer = 16'
check "the relay starts (max_circuits = 1)" [ $? -eq 0 ]
listener d1 "$O/d1"
D1=$LISTENER_ID
listener d2 "$O/d2"
D2=$LISTENER_ID
hold "$O/g1" g1 "$D1"
check "one circuit (to d1) is held" [ $? -eq 0 ]
client_run "$O/g2" --name g2 --dial "$D2" --echo x
check "a circuit to another destination is refused: exit 4" [ $? -eq 4 ]
check "with RESOURCE_LIMIT_EXCEEDED" \
    grep -qx 'circuit refused status=RESOURCE_LIMIT_EXCEEDED' "$O/g2.out"
check "the relay logged CircuitReqDenied for d2" event "$RELAY_LOG" CircuitReqDenied \
    "src_peer_id=[^ ]+ dst_peer_id=$D2 status=RESOURCE_LIMIT_EXCEEDED"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
