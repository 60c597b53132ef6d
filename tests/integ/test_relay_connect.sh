#!/usr/bin/env bash
# CONNECT through the relay with the example client: client A listens, client B dials A's PeerId,
# the circuit becomes an end-to-end Noise + Yamux connection, and ping, identify, echo and sink run
# over it; the relay logs CircuitReqAccepted, then CircuitClosed with the bytes each way.
# A peer without a reservation: exit 4, NO_RESERVATION, CircuitReqDenied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up r 'max_circuit_duration_secs = 60' 'max_circuit_bytes = 4000000'
check "the relay starts" [ $? -eq 0 ]
RELAY_TCP=${RELAY_ADDR%/p2p/*}
listener clientA "$O/a"
check "client A listens through the relay" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID

client_run "$O/b" --name clientB --dial "$A" --ping 3 --identify --echo 'hello through the relay' \
    --send 1000000
check "client B: all steps succeed (exit 0)" [ $? -eq 0 ]
B=$(sed -n 's/^local peer_id=//p' "$O/b.out")
check "B: circuit accepted with the relay's limits" \
    grep -qx "circuit to $A accepted limit_duration=60 limit_data=4000000" "$O/b.out"
check "B: the relayed connection authenticated A" \
    grep -qx "relayed connection established peer_id=$A" "$O/b.out"
check "B: three pings through the relay" [ "$(count_of "$O/b.out" '^ping rtt_ms=[0-9.]+$')" -eq 3 ]
check "B: A's identify (A's agent, its circuit address, B's observed circuit address)" \
    grep -qE "^identify agent=mesh-relay-test-client/[0-9.]+ protocol_version=ipfs/0.1.0 protocols=[^ ]*/mesh-relay/echo/1.0.0[^ ]* listen_addrs=$RELAY_TCP/p2p/$RELAY_ID/p2p-circuit observed_addr=$RELAY_TCP/p2p/$RELAY_ID/p2p-circuit/p2p/$B " \
    "$O/b.out"
check "B: the echo came back" grep -qx 'echo hello through the relay' "$O/b.out"
check "B: 1000000 bytes through the sink" \
    grep -qE '^sent bytes=1000000 seconds=[0-9.]+ mbps=[0-9.]+$' "$O/b.out"
check "A: the incoming circuit, with the limits" \
    grep -qx "incoming circuit from $B limit_duration=60 limit_data=4000000" "$O/a.out"
check "A: the relayed connection authenticated B" \
    grep -qx "relayed connection established peer_id=$B" "$O/a.out"
check "A: the relayed connection closed when B left" \
    wait_for "$O/a.out" "^relayed connection closed peer_id=$B reason=" 10
check "the relay logged CircuitReqAccepted" event "$RELAY_LOG" CircuitReqAccepted \
    "src_peer_id=$B dst_peer_id=$A"
wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=$B" 10
LINE=$(grep -E "INFO relay_server::events: CircuitClosed src_peer_id=$B dst_peer_id=$A " "$RELAY_LOG")
UP=$(sed -n 's/.* bytes_src_to_dst=\([0-9]*\) .*/\1/p' <<<"$LINE")
DOWN=$(sed -n 's/.* bytes_dst_to_src=\([0-9]*\) .*/\1/p' <<<"$LINE")
check "then CircuitClosed with the bytes each way (B->A over 1 MB, A->B some)" \
    eval '[ -n "$UP" ] && [ "$UP" -gt 1000000 ] && [ "$DOWN" -gt 100 ]'
check "CircuitClosed comes after CircuitReqAccepted" \
    [ "$(grep -nE 'CircuitReqAccepted|CircuitClosed' "$RELAY_LOG" | head -n 1 | grep -c CircuitReqAccepted)" -eq 1 ]
check "A keeps listening after the circuit" kill -0 "$A_PID"

# The demo of SPEC.md / README: B pings 3 times and echoes "hi".
client_run "$O/b2" --name clientB --dial "$A" --ping 3 --echo hi
check "README demo: exit 0" [ $? -eq 0 ]
check "README demo: three pings and the echo" \
    eval '[ "$(count_of "$O/b2.out" "^ping rtt_ms=")" -eq 3 ] && grep -qx "echo hi" "$O/b2.out"'

# A peer that never reserved: NO_RESERVATION, exit 4.
GHOST=$(peer_of ghost)
client_run "$O/n" --name clientB --dial "$GHOST" --ping 1
check "dialing a peer without a reservation exits 4" [ $? -eq 4 ]
check "and prints the status" grep -qx 'circuit refused status=NO_RESERVATION' "$O/n.out"
check "the relay logged CircuitReqDenied NO_RESERVATION" event "$RELAY_LOG" CircuitReqDenied \
    "src_peer_id=$B dst_peer_id=$GHOST status=NO_RESERVATION"

# The direct mode still works against the relay itself, and reports its hop protocol.
HOME="$RH" timeout -k 5 20 "$CLIENT" --dial "$RELAY_ADDR" --ping 1 --identify >"$O/d.out" 2>&1
check "--dial MULTIADDR (direct) still pings and identifies the relay" \
    eval 'grep -qx "connected peer_id=$RELAY_ID" "$O/d.out" &&
        grep -q "protocols=.*/libp2p/circuit/relay/0.2.0/hop" "$O/d.out"'

stop_pid "$A_PID"
check "client A stops with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/a.out "$O"/a.err "$O"/b.out "$O"/b.err "$RELAY_LOG"
finish
