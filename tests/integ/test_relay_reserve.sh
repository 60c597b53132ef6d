#!/usr/bin/env bash
# RESERVE with the example client: the reservation line (expire, relay addrs, a valid voucher,
# the limits), the circuit address, ReservationReqAccepted in the relay's log; stable identities
# per --name (~/.meshnet/clients/NAME.key, 0600), ephemeral ones without; a listening client
# refreshes before expiry (renewed=true) and stops cleanly on SIGTERM and SIGINT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

relay_up r1 'max_circuit_duration_secs = 60' 'max_circuit_bytes = 65536'
check "the relay starts" [ $? -eq 0 ]
RELAY_TCP=${RELAY_ADDR%/p2p/*}

client_run "$O/a" --name alice --reserve-only
check "--reserve-only exits 0" [ $? -eq 0 ]
ALICE=$(sed -n 's/^local peer_id=//p' "$O/a.out")
check "it prints its PeerId" [ -n "$ALICE" ]
check "it reached the relay's PeerId" grep -qx "relay connected peer_id=$RELAY_ID" "$O/a.out"
NOW=$(date +%s)
EXP=$(sed -n 's/^reservation accepted expire=\([0-9]*\) .*/\1/p' "$O/a.out")
check "reservation accepted: expire is about now + 1 h" \
    eval '[ -n "$EXP" ] && [ "$EXP" -ge $((NOW + 3500)) ] && [ "$EXP" -le $((NOW + 3700)) ]'
check "reservation accepted: the relay's address with /p2p, a valid voucher, the limits" \
    grep -qE "^reservation accepted expire=[0-9]+ addrs=([^ ]*,)?$RELAY_TCP/p2p/$RELAY_ID(,[^ ]*)? voucher=valid limit_duration=60 limit_data=65536\$" \
    "$O/a.out"
check "the circuit address: <relay>/p2p/<relay>/p2p-circuit/p2p/<me>" \
    grep -qx "listening on $RELAY_TCP/p2p/$RELAY_ID/p2p-circuit/p2p/$ALICE" "$O/a.out"
check "the relay logged ReservationReqAccepted (renewed=false, same expire)" \
    event "$RELAY_LOG" ReservationReqAccepted "peer_id=$ALICE renewed=false expire=$EXP"

KEY="$RH/.meshnet/clients/alice.key"
check "--name alice created ~/.meshnet/clients/alice.key" [ -f "$KEY" ]
check "with mode 0600" [ "$(file_mode "$KEY")" = 600 ]
check "in a 0700 directory" [ "$(file_mode "$RH/.meshnet/clients")" = 700 ]
client_run "$O/a2" --name alice --reserve-only
check "--name alice again: same PeerId" grep -qx "local peer_id=$ALICE" "$O/a2.out"
check "and a new reservation (another connection)" \
    grep -q '^reservation accepted ' "$O/a2.out"
client_run "$O/e1" --reserve-only
client_run "$O/e2" --reserve-only
E1=$(sed -n 's/^local peer_id=//p' "$O/e1.out")
E2=$(sed -n 's/^local peer_id=//p' "$O/e2.out")
check "without --name every run has a new PeerId" eval '[ -n "$E1" ] && [ "$E1" != "$E2" ]'
check "and no key file is written" [ "$(ls "$RH/.meshnet/clients")" = alice.key ]
check "the relay address may omit /p2p (PeerId learnt in the handshake)" \
    bash -c "HOME='$RH' timeout -k 5 20 '$CLIENT' --relay '$RELAY_TCP' --reserve-only | grep -qx 'relay connected peer_id=$RELAY_ID'"

# Usage errors and an unreachable relay.
"$CLIENT" --reserve-only --dial "$ALICE" >/dev/null 2>&1
check "--reserve-only with --dial is a usage error (2)" [ $? -eq 2 ]
"$CLIENT" --name ../x >/dev/null 2>&1
check "--name with a path is a usage error (2)" [ $? -eq 2 ]
"$CLIENT" --dial not-a-peer-id >/dev/null 2>&1
check "--dial with neither a PeerId nor a multiaddr is a usage error (2)" [ $? -eq 2 ]
"$CLIENT" --stall --dial "$ALICE" >/dev/null 2>&1
check "--stall with --dial is a usage error (2)" [ $? -eq 2 ]
HOME="$RH" timeout -k 5 20 "$CLIENT" --relay /ip4/127.0.0.1/tcp/1 --reserve-only >/dev/null \
    2>"$O/nr.err"
check "an unreachable relay exits 1" [ $? -eq 1 ]
check "and says why" grep -q 'cannot connect to the relay' "$O/nr.err"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# Refresh: with a 2 s TTL the listening client renews at 3/4 of the remaining time.
relay_up r2 'reservation_ttl_secs = 2'
listener bob "$O/b"
check "a listening client reserves" [ $? -eq 0 ]
BOB=$LISTENER_ID
check "it refreshes its reservation before it expires" \
    wait_for "$O/b.out" '^reservation refreshed expire=[0-9]+ addrs=[^ ]+ voucher=valid ' 15
wait_for "$RELAY_LOG" "ReservationReqAccepted peer_id=$BOB renewed=true" 5
check "the relay logged ReservationReqAccepted renewed=true" \
    event "$RELAY_LOG" ReservationReqAccepted "peer_id=$BOB renewed=true"
check "and never ReservationTimedOut" [ "$(count_of "$RELAY_LOG" ReservationTimedOut)" -eq 0 ]
stop_pid "$LISTENER_PID"
check "SIGTERM stops the listening client with 0" [ "$STOP_RC" = 0 ]
listener carol "$O/c"
stop_relay "$LISTENER_PID" INT
check "SIGINT stops the listening client with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/b.out "$O"/b.err "$O"/r2.err
finish
