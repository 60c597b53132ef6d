#!/usr/bin/env bash
# SIGHUP reloads the configuration file without dropping a connection: an [acl] change applies
# to the next RESERVE, the log level changes, a [network] change is reported as needing a
# restart (and not applied), an open circuit survives, and an invalid file is rejected with the
# running configuration kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT
C=$O/relay.toml

loopback_config "$C" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0'
start_relay "$RH" "$O/r" --config "$C"
check "the relay starts" [ $? -eq 0 ]
RELAY_ADDR=$(sed -n 's/^Listening on: //p' "$O/r.out" | head -n 1)
RELAY_LOG=$O/r.err
listener a "$O/a"
check "A reserves" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
client_bg "$O/b" --name b --dial "$A" --hold --timeout 60
B_PID=$CLIENT_PID
wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=" 10
check "B holds a circuit to A" grep -q CircuitReqAccepted "$RELAY_LOG"

loopback_config "$C" 'max_connections = 5000' '[relay]' 'max_circuit_bytes = 0' \
    'max_circuit_duration_secs = 0' '[acl]' "reserve_allow_peers = [\"$A\"]" '[logging]' 'level = "debug"'
kill -HUP "$RELAY_PID"
check "SIGHUP: configuration reloaded" wait_for "$RELAY_LOG" "Configuration reloaded" 10
check "the [acl] change is applied" \
    grep -qE 'Configuration changed section=acl key=reserve_allow_peers effect=applied' "$RELAY_LOG"
check "the log level change is applied" \
    grep -qE 'Configuration changed section=logging key=level effect=applied' "$RELAY_LOG"
check "a [network] change needs a restart" \
    grep -qE 'Configuration changed section=network key=max_connections effect="needs a restart' "$RELAY_LOG"
check "the relay keeps running" kill -0 "$RELAY_PID"
check "B's circuit survived" kill -0 "$B_PID"
client_run "$O/c1" --name c --reserve-only
check "C (not in the new reserve_allow_peers) is refused (exit 4)" [ $? -eq 4 ]
check "C: PERMISSION_DENIED" grep -qx "reservation refused status=PERMISSION_DENIED" "$O/c1.out"
check "debug records now appear" grep -qE ' DEBUG ' "$RELAY_LOG"

printf '[relay]\nmax_reservations = 0\n' >"$C"
kill -HUP "$RELAY_PID"
check "an invalid file: reload rejected" wait_for "$RELAY_LOG" "Reload rejected" 10
check "naming the key" grep -qE 'Reload rejected.*max_reservations = 0 is out of range' "$RELAY_LOG"
client_run "$O/c2" --name c --reserve-only
check "the running [acl] stays in force (C still refused)" [ $? -eq 4 ]
check "B's circuit is still there" kill -0 "$B_PID"

stop_pid "$B_PID"
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
