#!/usr/bin/env bash
# SIGHUP reloads the configuration file without dropping a connection: an [acl] change applies
# to the next RESERVE, the log level and the memory budget change, a [network] change is reported as needing a
# restart (and not applied), an open circuit survives, and an invalid file is rejected with the
# running configuration kept. [auth] changes withdraw the authentications they invalidate; deny
# lists close the connections they now cover.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT
C=$O/relay.toml

# relay_from NAME CONFIG: start a relay on CONFIG (output $O/NAME.out/.err); sets RELAY_PID,
# RELAY_ADDR and RELAY_LOG.
relay_from() {
    start_relay "$RH" "$O/$1" --config "$2" || return 1
    RELAY_ADDR=$(sed -n 's/^Listening on: //p' "$O/$1.out" | head -n 1)
    RELAY_LOG=$O/$1.err
}
# hold NAME DST [ARGS...]: client NAME holds a circuit to DST in the background (CLIENT_PID);
# true once the relay has accepted it (at most 10 s).
hold() {
    client_bg "$O/$1" --name "$1" --dial "$2" --hold --timeout 60 "${@:3}"
    wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=.* dst_peer_id=$2" 10
}

loopback_config "$C" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0'
relay_from r "$C"
check "the relay starts" [ $? -eq 0 ]
listener a "$O/a"
check "A reserves" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
hold b "$A"
check "B holds a circuit to A" [ $? -eq 0 ]
B_PID=$CLIENT_PID

loopback_config "$C" 'max_connections = 5000' '[relay]' 'max_circuit_bytes = 0' \
    'max_circuit_duration_secs = 0' '[acl]' "reserve_allow_peers = [\"$A\"]" '[logging]' 'level = "debug"' \
    '[limits]' 'max_memory_mb = 300'
kill -HUP "$RELAY_PID"
check "SIGHUP: configuration reloaded" wait_for "$RELAY_LOG" "Configuration reloaded" 10
check "the [acl] change is applied" \
    grep -qE 'Configuration changed section=acl key=reserve_allow_peers effect=applied' "$RELAY_LOG"
check "the log level change is applied" \
    grep -qE 'Configuration changed section=logging key=level effect=applied' "$RELAY_LOG"
check "the memory budget change is applied" \
    grep -qE 'Configuration changed section=limits key=max_memory_mb effect=applied' "$RELAY_LOG"
check "the new budget is in force" grep -qE 'Memory budget budget_mb=300 source=max_memory_mb' "$RELAY_LOG"
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

# [auth] by SIGHUP (docs/AUTH.md): turning auth on ends what connections hold without having
# authenticated; changing auth_token withdraws every authentication made with the old one, ends
# the reservations and circuits it allowed, and the old token no longer reserves. Connections
# stay open.
T1=1111111111111111111111111111111111111111111111111111111111111111
T2=2222222222222222222222222222222222222222222222222222222222222222
CA=$O/auth.toml
auth_config() { # auth_config LINES...: the [auth] relay's config
    loopback_config "$CA" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0' "$@"
}
auth_config
relay_from ra "$CA"
check "a relay without auth starts" [ $? -eq 0 ]
listener g "$O/g"
check "G reserves without a token" [ $? -eq 0 ]
G=$LISTENER_ID
G_PID=$LISTENER_PID
auth_config '[auth]' 'auth_enabled = true' "auth_token = '$T1'"
kill -HUP "$RELAY_PID"
check "SIGHUP turns auth on" wait_for "$RELAY_LOG" "Configuration reloaded" 10
check "G's reservation, made without a token, is ended" \
    grep -qE "ReservationRevoked peer_id=$G .*reason=\"authentication now required\"" "$RELAY_LOG"
check "G's connection stays" kill -0 "$G_PID"
stop_pid "$G_PID"

listener d "$O/d" --token "$T1"
check "D reserves with auth_token" [ $? -eq 0 ]
D=$LISTENER_ID
D_PID=$LISTENER_PID
hold e "$D" --token "$T1"
check "E holds a circuit to D" [ $? -eq 0 ]
E_PID=$CLIENT_PID
auth_config '[auth]' 'auth_enabled = true' "auth_token = '$T2'"
kill -HUP "$RELAY_PID"
check "SIGHUP changes auth_token" wait_for "$RELAY_LOG" "Configuration changed section=auth key=auth_token" 10
check "D's authentication is revoked" \
    grep -qE "AuthRevoked peer_id=$D .*reason=\"auth_token changed\"" "$RELAY_LOG"
check "D's reservation is ended" \
    grep -qE "ReservationRevoked peer_id=$D .*reason=\"auth_token changed\"" "$RELAY_LOG"
check "E's circuit is ended" \
    wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=.* dst_peer_id=$D error=\"auth_token changed\"" 10
check "E sees its circuit close" wait_for "$O/e.out" "^circuit closed " 10
check "D's connection stays" kill -0 "$D_PID"
client_run "$O/f1" --name f --reserve-only --token "$T1"
check "the old token: the next RESERVE is refused (exit 4)" [ $? -eq 4 ]
client_run "$O/f2" --name f --reserve-only --token "$T2"
check "the new token reserves (exit 0)" [ $? -eq 0 ]
stop_pid "$E_PID"
stop_pid "$D_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# [acl] deny lists by SIGHUP: the connections they now cover are closed, with the reservation and
# the circuit; other connections stay.
CD=$O/deny.toml
loopback_config "$CD" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0'
relay_from rd "$CD"
check "a relay without deny lists starts" [ $? -eq 0 ]
listener h "$O/h"
check "H reserves" [ $? -eq 0 ]
H=$LISTENER_ID
H_PID=$LISTENER_PID
listener j "$O/j"
check "J reserves" [ $? -eq 0 ]
J=$LISTENER_ID
J_PID=$LISTENER_PID
hold i "$H"
check "I holds a circuit to H" [ $? -eq 0 ]
I_PID=$CLIENT_PID
loopback_config "$CD" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0' '[acl]' \
    "deny_peers = [\"$H\"]"
kill -HUP "$RELAY_PID"
check "SIGHUP adds H to deny_peers" wait_for "$RELAY_LOG" "Configuration reloaded" 10
check "H's connection is closed (ConnectionDenied)" \
    grep -qE "ConnectionDenied peer_id=$H reason=\"denied by \[acl\]" "$RELAY_LOG"
check "H sees its relay connection close" wait_for "$O/h.out" "^relay connection closed " 10
check "I's circuit to H ends" wait_for "$O/i.out" "^circuit closed " 10
check "J's connection stays" kill -0 "$J_PID"
client_run "$O/k1" --name k --dial "$J" --ping 1
check "and J is still reachable (exit 0)" [ $? -eq 0 ]
loopback_config "$CD" '[relay]' 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0' '[acl]' \
    'deny_cidrs = ["127.0.0.0/8"]'
kill -HUP "$RELAY_PID"
check "SIGHUP adds 127.0.0.0/8 to deny_cidrs: J's connection is closed" \
    wait_for "$RELAY_LOG" "ConnectionDenied peer_id=$J " 10
check "J sees its relay connection close" wait_for "$O/j.out" "^relay connection closed " 10
stop_pid "$I_PID"
stop_pid "$H_PID"
stop_pid "$J_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
