#!/usr/bin/env bash
# Drain: the first SIGTERM stops new connections and requests (RESERVE refused), /readyz goes
# 503 and libp2p_relaysvc_status 0, while an open circuit keeps working; when the circuit ends the
# relay exits 0 before the grace period is over. With the circuit held past shutdown_grace_secs
# the relay closes it and exits 0 at the end of the grace period. A second signal exits at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

# up NAME GRACE: a relay with shutdown_grace_secs = GRACE and no circuit limits.
up() {
    loopback_config "$O/$1.toml" "shutdown_grace_secs = $2" '[relay]' 'max_circuit_bytes = 0' \
        'max_circuit_duration_secs = 0'
    start_relay "$RH" "$O/$1" --config "$O/$1.toml" || return 1
    RELAY_ADDR=$(sed -n 's/^Listening on: //p' "$O/$1.out" | head -n 1)
    RELAY_LOG="$O/$1.err"
}


up r1 20
check "relay 1 starts" [ $? -eq 0 ]
HTTP_PORT=$(sed -n 's|^Metrics on: http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$O/r1.out")
listener a "$O/a"
check "A reserves" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
client_bg "$O/b" --name b --dial "$A" --hold --timeout 60
B_PID=$CLIENT_PID
wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=" 10
check "B holds a circuit to A" grep -q "CircuitReqAccepted" "$RELAY_LOG"

kill -TERM "$RELAY_PID"
wait_for "$RELAY_LOG" "draining" 10
check "the first SIGTERM drains" grep -qE "Shutdown signal received, draining.* circuits=1 grace_secs=20" "$RELAY_LOG"
check "the relay is still running" kill -0 "$RELAY_PID"
http_get /readyz >"$O/rd"
check "/readyz: 503 while draining" grep -q "^HTTP/1.1 503 " "$O/rd"
http_get /metrics | tr -d '\r' >"$O/m"
check "libp2p_relaysvc_status 0" grep -qx "libp2p_relaysvc_status 0" "$O/m"
client_run "$O/c" --name c --reserve-only
check "a new client is turned away (exit 1)" [ $? -eq 1 ]
check "ConnectionDenied: draining" grep -qE 'ConnectionDenied peer_id=.* reason=draining' "$RELAY_LOG"
check "B's circuit is still open" kill -0 "$B_PID"
stop_pid "$B_PID" # the circuit ends
stop_relay "$RELAY_PID" NONE # just wait for it (max 15 s): no second signal
check "with no circuit left the relay exits 0, well before the grace period" [ "$STOP_RC" = 0 ]
check "and says why" grep -q "No circuit left, shutting down" "$RELAY_LOG"
stop_pid "$A_PID"

up r2 2
check "relay 2 starts (grace 2 s)" [ $? -eq 0 ]
listener a "$O/a2"
A_PID=$LISTENER_PID
client_bg "$O/b2" --name b --dial "$LISTENER_ID" --hold --timeout 60
B_PID=$CLIENT_PID
wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=" 10
T0=$(date +%s%N)
stop_relay "$RELAY_PID" TERM
T1=$(date +%s%N)
check "at the end of the grace period the relay exits 0" [ "$STOP_RC" = 0 ]
check "after about 2 s (1.5..12 s)" eval '[ $(( (T1 - T0) / 1000000 )) -ge 1500 ] && [ $(( (T1 - T0) / 1000000 )) -le 12000 ]'
check "closing the remaining circuit" grep -q "Grace period over, closing the remaining circuits circuits=1" "$RELAY_LOG"
wait_for "$O/b2.out" "circuit closed" 10
check "B hears its circuit close" grep -q "^circuit closed" "$O/b2.out"
stop_pid "$B_PID"
stop_pid "$A_PID"

up r3 30
listener a "$O/a3"
A_PID=$LISTENER_PID
client_bg "$O/b3" --name b --dial "$LISTENER_ID" --hold --timeout 60
B_PID=$CLIENT_PID
wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=" 10
kill -TERM "$RELAY_PID"
wait_for "$RELAY_LOG" "draining" 10
stop_relay "$RELAY_PID" INT
check "a second signal exits at once (128 + SIGINT)" [ "$STOP_RC" = 130 ]
stop_pid "$B_PID"
stop_pid "$A_PID"
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
