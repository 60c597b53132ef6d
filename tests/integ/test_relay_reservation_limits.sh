#!/usr/bin/env bash
# Reservation caps: max_reservations (all peers: the third client is refused RESERVATION_REFUSED,
# exit 4) and max_reservations_per_peer (one identity reserving over more connections than
# allowed); a refusal is logged as ReservationReqDenied, and a freed slot can be taken again.
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

relay_up perpeer 'max_reservations = 10' 'max_reservations_per_peer = 2'
check "the relay starts (max_reservations_per_peer = 2)" [ $? -eq 0 ]
listener same "$O/s1"
check "identity 'same', connection 1: reserved" [ $? -eq 0 ]
SAME=$LISTENER_ID
listener same "$O/s2"
check "identity 'same', connection 2: reserved" [ $? -eq 0 ]
check "both run as the same PeerId" grep -qx "local peer_id=$SAME" "$O/s2.out"
client_run "$O/s3" --name same --reserve-only
check "identity 'same', connection 3: refused, exit 4" [ $? -eq 4 ]
check "with RESERVATION_REFUSED" grep -qx 'reservation refused status=RESERVATION_REFUSED' "$O/s3.out"
check "the relay logged ReservationReqDenied for it" \
    event "$RELAY_LOG" ReservationReqDenied "peer_id=$SAME status=RESERVATION_REFUSED"
client_run "$O/o1" --name other --reserve-only
check "another identity still reserves" [ $? -eq 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$RELAY_LOG"
finish
