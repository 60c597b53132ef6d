#!/usr/bin/env bash
# Reservation caps: max_reservations (all peers: the third client is refused RESERVATION_REFUSED,
# exit 4); a refusal is logged as ReservationReqDenied, and a freed slot can be taken again. One
# reservation per peer: an identity reserving over two connections holds one slot, which follows
# it from connection to connection and ends with its last one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up global 'max_reservations = 2' 'max_reservations_per_peer = 1'
check "the relay starts (max_reservations = 2)" [ $? -eq 0 ]
listener c1 "$O/c1"
check "client 1 reserves" [ $? -eq 0 ]
P1=$LISTENER_PID
listener c2 "$O/c2"
check "client 2 reserves" [ $? -eq 0 ]
client_run "$O/c3" --name c3 --reserve-only
check "client 3 is refused: exit 4" [ $? -eq 4 ]
C3=$(sed -n 's/^local peer_id=//p' "$O/c3.out")
check "and prints RESERVATION_REFUSED" grep -qx 'reservation refused status=RESERVATION_REFUSED' \
    "$O/c3.out"
check "and no reservation line" [ "$(count_of "$O/c3.out" '^reservation accepted')" -eq 0 ]
check "the relay logged ReservationReqDenied for client 3" \
    event "$RELAY_LOG" ReservationReqDenied "peer_id=$C3 status=RESERVATION_REFUSED reason="
check "two ReservationReqAccepted, one ReservationReqDenied" \
    eval '[ "$(count_of "$RELAY_LOG" ReservationReqAccepted)" -eq 2 ] &&
          [ "$(count_of "$RELAY_LOG" ReservationReqDenied)" -eq 1 ]'
stop_pid "$P1"
check "client 1 leaves (exit 0)" [ "$STOP_RC" = 0 ]
ok=1
for i in $(seq 1 50); do
    client_run "$O/c3b" --name c3 --reserve-only && { ok=0; break; }
    sleep 0.2
done
check "then client 3 gets the freed slot" [ $ok -eq 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# One reservation per peer (go's rule): the same identity reserving over two connections holds
# one slot, even at max_reservations = 1 (the second RESERVE is a refresh); CONNECT goes over the
# connection that reserved last; when it closes, the reservation moves to the peer's remaining
# connection and CONNECT follows; the peer's last connection takes it along.
relay_up perpeer 'max_reservations = 1' 'max_reservations_per_peer = 1' -- --log-level debug
check "the relay starts (max_reservations = 1)" [ $? -eq 0 ]
listener same "$O/s1"
check "identity 'same', connection 1: reserved" [ $? -eq 0 ]
SAME=$LISTENER_ID
S1_PID=$LISTENER_PID
listener same "$O/s2"
check "identity 'same', connection 2: reserved at the cap (a refresh, no second slot)" [ $? -eq 0 ]
S2_PID=$LISTENER_PID
check "both run as the same PeerId" grep -qx "local peer_id=$SAME" "$O/s2.out"
check "the relay logged the second as renewed" \
    event "$RELAY_LOG" ReservationReqAccepted "peer_id=$SAME renewed=true"
client_run "$O/o1" --name other --reserve-only
check "another identity is refused: the one slot is taken (exit 4)" [ $? -eq 4 ]
client_run "$O/d1" --name dialer --dial "$SAME" --echo first
check "CONNECT to 'same' works (exit 0)" [ $? -eq 0 ]
DIALER=$(sed -n 's/^local peer_id=//p' "$O/d1.out")
check "over connection 2, which reserved last" \
    eval 'grep -q "^incoming circuit from $DIALER" "$O/s2.out" &&
          ! grep -q "^incoming circuit from" "$O/s1.out"'
stop_pid "$S2_PID"
check "connection 2's client leaves (exit 0)" [ "$STOP_RC" = 0 ]
check "the relay moves the reservation to connection 1" \
    wait_for "$RELAY_LOG" "Reservation moved to the peer's next connection peer_id=$SAME " 10
client_run "$O/d2" --name dialer --dial "$SAME" --echo second
check "CONNECT to 'same' still works (exit 0)" [ $? -eq 0 ]
check "now over connection 1" grep -q "^incoming circuit from $DIALER" "$O/s1.out"
stop_pid "$S1_PID"
check "connection 1's client leaves (exit 0)" [ "$STOP_RC" = 0 ]
check "the relay drops the reservation with the peer's last connection" \
    wait_for "$RELAY_LOG" "Reservation dropped: its connection closed peer_id=$SAME" 10
client_run "$O/d3" --name dialer --dial "$SAME" --ping 1
check "CONNECT to 'same' now: exit 4" [ $? -eq 4 ]
check "with NO_RESERVATION" grep -qx 'circuit refused status=NO_RESERVATION' "$O/d3.out"
client_run "$O/o2" --name other --reserve-only
check "the other identity gets the freed slot" [ $? -eq 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$RELAY_LOG"
finish
