#!/usr/bin/env bash
# Access control ([acl]): reserve_allow_peers lets A reserve and refuses B (PERMISSION_DENIED);
# connect_allow_cidrs without loopback refuses every CONNECT; deny_peers closes C's connection as
# soon as it is established (ConnectionDenied) and a CONNECT to C is PERMISSION_DENIED; trusted_peers gives A's reservation and circuits
# no limit (more than max_circuit_bytes goes through); deny_cidrs with 127.0.0.1 refuses
# everyone; a bad entry is a config error naming the list and the entry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

peer_of() { # peer_of NAME: the PeerId of test_client --name NAME (made on first use)
    HOME="$RH" timeout -k 5 20 "$CLIENT" --name "$1" --relay /ip4/127.0.0.1/tcp/1 --reserve-only \
        --timeout 2 2>/dev/null | sed -n 's/^local peer_id=//p'
}
A=$(peer_of a)
B=$(peer_of b)
C=$(peer_of c)
check "three client identities" eval '[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ "$A" != "$B" ]'

relay_up r1 'max_circuit_bytes = 100000' '[acl]' "reserve_allow_peers = [\"$A\"]" \
    "deny_peers = [\"$C\"]" "trusted_peers = [\"$A\"]"
check "the relay starts with an [acl]" [ $? -eq 0 ]
listener a "$O/a"
check "A (allowed) reserves" [ $? -eq 0 ]
A_PID=$LISTENER_PID
check "A's reservation carries no limit (trusted)" \
    grep -qE "^reservation accepted .* limit_duration=0 limit_data=0" "$O/a.out"
client_run "$O/b1" --name b --reserve-only
check "B (not in reserve_allow_peers): refused (exit 4)" [ $? -eq 4 ]
check "B: PERMISSION_DENIED" grep -qx "reservation refused status=PERMISSION_DENIED" "$O/b1.out"
check "the relay says why" grep -qE "ReservationReqDenied peer_id=$B .*status=PERMISSION_DENIED.*\[acl\]" "$RELAY_LOG"
client_run "$O/b2" --name b --dial "$A" --send 400000
check "B reaches trusted A with 4x max_circuit_bytes (exit 0)" [ $? -eq 0 ]
check "B: all 400000 bytes through" grep -qE '^sent bytes=400000 ' "$O/b2.out"
client_run "$O/c1" --name c --dial "$A" --ping 1
check "C (denied): the dial fails (exit 1)" [ $? -eq 1 ]
check "the relay logs ConnectionDenied for C" grep -qE "ConnectionDenied peer_id=$C " "$RELAY_LOG"
check "and no circuit for C" eval '! grep -qE "CircuitReqAccepted src_peer_id=$C " "$RELAY_LOG"'
client_run "$O/b5" --name b --dial "$C" --ping 1
check "a CONNECT to denied C: refused (exit 4)" [ $? -eq 4 ]
check "a CONNECT to denied C: PERMISSION_DENIED, not NO_RESERVATION" \
    grep -qx "circuit refused status=PERMISSION_DENIED" "$O/b5.out"
check "the relay says the destination is denied" \
    grep -qE "CircuitReqDenied src_peer_id=$B dst_peer_id=$C status=PERMISSION_DENIED reason=\"destination denied" "$RELAY_LOG"
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "relay 1 stops with 0" [ "$STOP_RC" = 0 ]

relay_up r2 'max_circuit_bytes = 100000' '[acl]' 'connect_allow_cidrs = ["10.0.0.0/8", "2001:db8::/32"]'
check "relay 2 starts" [ $? -eq 0 ]
listener a "$O/a2"
check "A reserves (no reserve list)" [ $? -eq 0 ]
A_PID=$LISTENER_PID
check "A's reservation has the limit (not trusted here)" \
    grep -qE "^reservation accepted .* limit_data=100000" "$O/a2.out"
client_run "$O/b3" --name b --dial "$A" --ping 1
check "B from 127.0.0.1 (not in connect_allow_cidrs): refused (exit 4)" [ $? -eq 4 ]
check "B: circuit refused PERMISSION_DENIED" grep -qx "circuit refused status=PERMISSION_DENIED" "$O/b3.out"
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "relay 2 stops with 0" [ "$STOP_RC" = 0 ]

relay_up r3 '[acl]' 'deny_cidrs = ["127.0.0.1"]'
check "relay 3 starts" [ $? -eq 0 ]
client_run "$O/a3" --name a --reserve-only
check "deny_cidrs 127.0.0.1: A is turned away (exit 1)" [ $? -eq 1 ]
check "ConnectionDenied for A" grep -qE "ConnectionDenied peer_id=$A " "$RELAY_LOG"
stop_pid "$RELAY_PID"
check "relay 3 stops with 0" [ "$STOP_RC" = 0 ]

loopback_config "$O/bad.toml" '[acl]' 'deny_cidrs = ["10.0.0.0/8", "10.0.0.0/33"]'
run_relay "$RH" "$O/bad" --config "$O/bad.toml"
check "a bad CIDR exits 1" [ $? -eq 1 ]
check "naming the list and the entry" one_line_error "$O/bad.err" 'deny_cidrs: entry 2 "10.0.0.0/33" is not a CIDR'
loopback_config "$O/bad2.toml" '[acl]' 'trusted_peers = ["12D3KooWnot-a-peer"]'
run_relay "$RH" "$O/bad2" --config "$O/bad2.toml"
check "a bad PeerId exits 1" [ $? -eq 1 ]
check "naming the list and the entry" one_line_error "$O/bad2.err" 'trusted_peers: entry 1 "12D3KooWnot-a-peer" is not a PeerId'
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
