#!/usr/bin/env bash
# A reservation ends when it expires unrefreshed (reservation_ttl_secs = 2, --no-refresh:
# ReservationTimedOut, then CONNECT gets NO_RESERVATION) and when the reserving connection
# closes (the client killed by PID: the relay drops the reservation, CONNECT gets
# NO_RESERVATION). A refreshing client stays reachable past the TTL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up ttl 'reservation_ttl_secs = 2' -- --log-level debug
check "the relay starts (reservation_ttl_secs = 2)" [ $? -eq 0 ]

listener lazy "$O/lazy" --no-refresh
check "a --no-refresh client reserves" [ $? -eq 0 ]
LAZY=$LISTENER_ID
LAZY_PID=$LISTENER_PID
NOW=$(date +%s)
EXP=$(sed -n 's/^reservation accepted expire=\([0-9]*\) .*/\1/p' "$O/lazy.out")
check "its reservation expires in about 2 s" eval '[ -n "$EXP" ] && [ "$EXP" -le $((NOW + 3)) ]'
check "the relay logs ReservationTimedOut for it" \
    wait_for "$RELAY_LOG" "INFO relay_server::events: ReservationTimedOut peer_id=$LAZY" 10
check "the client noticed the expiry" wait_for "$O/lazy.out" '^reservation expired expire=' 5
check "and did not refresh" [ "$(count_of "$O/lazy.out" '^reservation refreshed')" -eq 0 ]
check "only one ReservationReqAccepted for it" \
    [ "$(count_of "$RELAY_LOG" "ReservationReqAccepted peer_id=$LAZY ")" -eq 1 ]
client_run "$O/d1" --name dialer --dial "$LAZY" --ping 1
check "CONNECT to the expired reservation: exit 4" [ $? -eq 4 ]
check "with NO_RESERVATION" grep -qx 'circuit refused status=NO_RESERVATION' "$O/d1.out"
check "CircuitReqDenied NO_RESERVATION logged" event "$RELAY_LOG" CircuitReqDenied \
    "src_peer_id=[^ ]+ dst_peer_id=$LAZY status=NO_RESERVATION"
check "the lazy client is still connected" kill -0 "$LAZY_PID"

listener eager "$O/eager"
check "a refreshing client reserves" [ $? -eq 0 ]
EAGER=$LISTENER_ID
EAGER_PID=$LISTENER_PID
sleep 3
check "it refreshed past the 2 s TTL" wait_for "$O/eager.out" '^reservation refreshed ' 5
check "and no ReservationTimedOut for it" \
    [ "$(count_of "$RELAY_LOG" "ReservationTimedOut peer_id=$EAGER")" -eq 0 ]
client_run "$O/d2" --name dialer --dial "$EAGER" --ping 2 --echo still-here
check "it is reachable after 3 s (exit 0)" [ $? -eq 0 ]
check "ping and echo went through" grep -qx 'echo still-here' "$O/d2.out"

# Disconnect: SIGKILL the listening client (no goodbye); its connection closes on the relay.
kill -KILL "$EAGER_PID"
wait "$EAGER_PID" 2>/dev/null
check "the relay logs the client's ConnectionClosed" \
    wait_for "$RELAY_LOG" "ConnectionClosed peer_id=$EAGER .*remaining=0" 10
check "and drops its reservation" \
    wait_for "$RELAY_LOG" "Reservation dropped: its connection closed peer_id=$EAGER" 5
client_run "$O/d3" --name dialer --dial "$EAGER" --ping 1
check "CONNECT to the departed client: exit 4" [ $? -eq 4 ]
check "with NO_RESERVATION" grep -qx 'circuit refused status=NO_RESERVATION' "$O/d3.out"
check "CircuitReqDenied NO_RESERVATION logged for it" event "$RELAY_LOG" CircuitReqDenied \
    "src_peer_id=[^ ]+ dst_peer_id=$EAGER status=NO_RESERVATION"
stop_pid "$LAZY_PID"
check "the lazy client stops with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
