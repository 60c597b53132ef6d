#!/usr/bin/env bash
# Signed tokens (docs/AUTH.md "Signed tokens"): a relay configured with the control plane's
# public key alone ([auth] control_plane_keys) accepts a v2 token only from the PeerId it names,
# signed by that key, before its expiry, when it names no relays or this one, and when its id is
# not in [auth] revoked_tokens_file. Every refusal: exit 4 at the client, an AuthFailed line.
# Listing a live token's id in the file (read again when it changes, and on SIGHUP) ends its
# peer's reservation and circuits at once. An authentication counts for the peer on its other
# connections while the authenticated one is open. Class "trusted" lifts the circuit limits, a
# profile of [auth] classes sets them, an unknown class gets the relay's. The
# shared and minted forms work beside signed tokens. The relay holds nothing that can mint.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT
T=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
CPH=$(new_home) # the control plane's machine: not the relay's HOME

keygen() { # keygen DIR: a control-plane key in DIR; prints its PeerId
    HOME="$CPH" timeout -k 5 20 "$RELAY" --control-plane-keygen "$1" 2>/dev/null
}
sign() { # sign KEYDIR PEER [ARGS...]: a signed token for PEER; its id goes to $O/last_id
    local dir=$1 peer=$2
    shift 2
    HOME="$CPH" timeout -k 5 20 "$RELAY" --mint-token "$peer" --signing-key "$dir/control_plane_key.bin" \
        --ttl 600 "$@" 2>"$O/sign.err"
    sed -n 's/^token id \([0-9a-f]*\) .*/\1/p' "$O/sign.err" >"$O/last_id"
}
refused() { # refused LABEL OUT TEXT: the client exited 4 with the relay's TEXT
    check "$1: refused (exit 4)" [ "$RC" -eq 4 ]
    check "$1: PERMISSION_DENIED, '$3'" grep -qx "auth refused status=PERMISSION_DENIED text=\"$3\"" "$2.out"
}

CP=$(keygen "$O/cp")
check "a control-plane key" eval '[[ "$CP" =~ ^12D3KooW ]]'
ROGUE=$(keygen "$O/rogue")
A=$(peer_of a)
B=$(peer_of b)
C=$(peer_of c)
printf '# revoked tokens\n\n' >"$O/revoked.txt"

# ---- a relay with only the public key ----------------------------------------------------------
relay_up r 'reservation_ttl_secs = 8' '[auth]' 'auth_enabled = true' \
    "control_plane_keys = [\"$CP\"]" "revoked_tokens_file = \"$O/revoked.txt\"" \
    'classes = ["gold: max_circuit_duration_secs=3600 max_circuit_bytes=0"]'
check "the relay starts with control_plane_keys alone (no auth_token)" [ $? -eq 0 ]
check "it loads the revoked token list" \
    grep -qE "Revoked token list loaded path=$O/revoked.txt ids=0 trigger=start" "$RELAY_LOG"
HTTP_PORT=$(sed -n 's|^Metrics on: http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$O/r.out")
QUIC_ADDR=$(sed -n 's/^Listening on: //p' "$O/r.out" | grep -m1 '/udp/.*/quic-v1/')

# It cannot mint: no secret on it. --mint-token from its configuration says so; its identity
# key signs tokens nobody accepts; the control plane's private key is in none of its files.
run_relay "$RH" "$O/m0" --config "$O/r.toml" --mint-token "$A"
check "--mint-token on the relay exits 1" [ $? -eq 1 ]
check "and says it holds only public keys" one_line_error "$O/m0.err" "holds only the control plane's public keys"
check "and printed no token" [ ! -s "$O/m0.out" ]
SELF_TOKEN=$(HOME="$RH" timeout -k 5 20 "$RELAY" --mint-token "$A" --signing-key "$RH/.meshnet/relay_keypair.bin" 2>/dev/null)
SEED=$(od -An -tx1 -j4 -N32 "$O/cp/control_plane_key.bin" | tr -d ' \n')
check "the control plane's seed is 32 bytes" eval '[ ${#SEED} -eq 64 ]'
found=0
while IFS= read -r -d '' f; do
    od -An -tx1 -v "$f" | tr -d ' \n' | grep -q "$SEED" && found=1
done < <(find "$RH" "$O/r.toml" "$O/revoked.txt" -type f -print0)
check "no file of the relay (HOME, config, revoked list) holds the control plane's private key" [ "$found" -eq 0 ]
check "the relay's key is no control-plane key" eval '[[ "$SELF_TOKEN" == v2.* ]]'
client_run "$O/a_self" --name a --reserve-only --token "$SELF_TOKEN"
RC=$?
refused "a token signed with the relay's own key" "$O/a_self" "token not signed by a control-plane key"

# ---- every refusal -------------------------------------------------------------------------------
client_run "$O/a_none" --name a --reserve-only
RC=$?
check "no token: refused (exit 4)" [ "$RC" -eq 4 ]
client_run "$O/a_rogue" --name a --reserve-only --token "$(sign "$O/rogue" "$A")"
RC=$?
refused "signed by another key" "$O/a_rogue" "token not signed by a control-plane key"
check "no token id logged for an unknown signer" \
    grep -qE "AuthFailed peer_id=$A ip=127\.0\.0\.1 transport=tcp reason=\"token not signed by a control-plane key\"$" "$RELAY_LOG"
client_run "$O/a_other" --name a --reserve-only --token "$(sign "$O/cp" "$B")"
RC=$?
refused "B's token presented by A" "$O/a_other" "token for another peer"
OTHER_ID=$(cat "$O/last_id")
check "the refusal logs the token id" \
    grep -qE "AuthFailed peer_id=$A .*reason=\"token for another peer\" token_id=$OTHER_ID" "$RELAY_LOG"
client_run "$O/a_scope" --name a --reserve-only --token "$(sign "$O/cp" "$A" --relay "$ROGUE")"
RC=$?
refused "a token for another relay" "$O/a_scope" "token for other relays"
# Failed attempts are rate limited per address (5 at once): the next ones go to a second relay
# with the same configuration (and list), started meanwhile.
R1=("$RELAY_PID" "$RELAY_ADDR" "$RELAY_LOG")
relay_up rb2 'reservation_ttl_secs = 8' '[auth]' 'auth_enabled = true' \
    "control_plane_keys = [\"$CP\"]" "revoked_tokens_file = \"$O/revoked.txt\""
check "a second relay with the same configuration starts" [ $? -eq 0 ]
TX=$(sign "$O/cp" "$A" --ttl 1)
sleep 2
client_run "$O/a_exp" --name a --reserve-only --token "$TX"
RC=$?
refused "an expired token" "$O/a_exp" "expired token"
client_run "$O/a_mal" --name a --reserve-only --token "v2.AAAA"
RC=$?
refused "a malformed v2 token" "$O/a_mal" "malformed token"
TREV=$(sign "$O/cp" "$A")
REV_ID=$(cat "$O/last_id")
echo "$REV_ID  # leaked laptop" >>"$O/revoked.txt"
check "a changed list is read again (relay 1)" \
    wait_for "${R1[2]}" "Revoked token list loaded path=$O/revoked.txt ids=1 trigger=\"file changed\"" 10
check "a changed list is read again (relay 2)" \
    wait_for "$RELAY_LOG" "Revoked token list loaded path=$O/revoked.txt ids=1 trigger=\"file changed\"" 10
client_run "$O/a_rev" --name a --reserve-only --token "$TREV"
RC=$?
refused "a revoked token" "$O/a_rev" "revoked token"
check "AuthFailed for every refusal" \
    [ $(($(count_of "${R1[2]}" "WARN .*AuthFailed peer_id=$A ") + $(count_of "$RELAY_LOG" "WARN .*AuthFailed peer_id=$A "))) -eq 7 ]
check "the token itself is never logged" eval '! grep -qF "${TREV:3:40}" "${R1[2]}" "$RELAY_LOG"'
stop_pid "$RELAY_PID"
RELAY_PID=${R1[0]} RELAY_ADDR=${R1[1]} RELAY_LOG=${R1[2]}

# ---- accepted: the PeerId it names, over TCP and QUIC --------------------------------------------
TA=$(sign "$O/cp" "$A")
A_ID=$(cat "$O/last_id")
client_run "$O/a_ok" --name a --reserve-only --token "$TA"
check "A's own token: reserved" [ $? -eq 0 ]
check "the relay logs the token id, never the token" \
    event "$RELAY_LOG" Authenticated "peer_id=$A ip=127\.0\.0\.1 token=signed token_id=$A_ID class=none"
HOME="$RH" timeout -k 5 20 "$CLIENT" --relay "$QUIC_ADDR" --name a --reserve-only --token "$TA" >"$O/a_quic.out" 2>&1
check "over QUIC too" [ $? -eq 0 ]
client_run "$O/a_here" --name a --reserve-only --token "$(sign "$O/cp" "$A" --relay "$ROGUE" --relay "$RELAY_ID")"
check "a token naming this relay among others: reserved" [ $? -eq 0 ]

# ---- --verify-token asks this relay --------------------------------------------------------------
run_relay "$RH" "$O/v1" --config "$O/r.toml" --verify-token "$TA"
check "--verify-token: a good token exits 0" [ $? -eq 0 ]
check "--verify-token: this relay would accept it" grep -qx "this relay: would accept it from $A" "$O/v1.out"
run_relay "$RH" "$O/v2" --config "$O/r.toml" --verify-token "$TREV"
check "--verify-token: a revoked token exits 1" [ $? -eq 1 ]
check "--verify-token: says it is revoked" grep -q "^this relay: would refuse it (revoked token" "$O/v2.out"
run_relay "$RH" "$O/v3" --config "$O/r.toml" --verify-token "$(sign "$O/rogue" "$A")"
check "--verify-token: another signer exits 1" [ $? -eq 1 ]
check "--verify-token: says who may sign" grep -qx "this relay: would refuse it (token not signed by a control-plane key)" "$O/v3.out"

# ---- the peer, not the connection ---------------------------------------------------------------
# A listens with its token (connection 1); a second process with A's identity and no token
# reserves over its own connection, and is refused once A's authenticated connection is gone.
listener a "$O/a_l1" --token "$TA"
check "A listens, authenticated" [ $? -eq 0 ]
A1_PID=$LISTENER_PID
client_run "$O/a_2nd" --name a --reserve-only
check "A's other connection, no token: reserved (A is authenticated)" [ $? -eq 0 ]
CLOSED=$(count_of "$RELAY_LOG" "ConnectionClosed peer_id=$A .*remaining=0")
stop_pid "$A1_PID"
wait_count "$RELAY_LOG" "ConnectionClosed peer_id=$A .*remaining=0" $((CLOSED + 1)) 10
client_run "$O/a_3rd" --name a --reserve-only
check "A's authenticated connection closed: a new one without a token is refused" [ $? -eq 4 ]

# ---- revoking a live token ends its reservation and circuits -------------------------------------
TB=$(sign "$O/cp" "$B")
listener a "$O/a_l2" --token "$TA"
check "A listens again" [ $? -eq 0 ]
A_PID=$LISTENER_PID
client_bg "$O/b_hold" --name b --dial "$A" --hold --timeout 60 --token "$TB"
B_PID=$CLIENT_PID
check "B holds a circuit to A" wait_for "$RELAY_LOG" "CircuitReqAccepted src_peer_id=$B dst_peer_id=$A" 10
echo "$A_ID" >>"$O/revoked.txt"
check "listing A's token id withdraws A's authentication" \
    wait_for "$RELAY_LOG" "AuthRevoked peer_id=$A ip=127\.0\.0\.1 reason=\"token revoked\" token_id=$A_ID" 10
check "the list is reloaded with 2 ids" grep -qE "Revoked token list loaded .*ids=2 trigger=\"file changed\" withdrawn=1" "$RELAY_LOG"
check "A's reservation ends" grep -qE "ReservationRevoked peer_id=$A .*reason=\"token revoked\"" "$RELAY_LOG"
check "B's circuit to A ends" wait_for "$O/b_hold.out" "^circuit closed" 10
check "the relay logs why" grep -qE "CircuitClosed .*error=\"token revoked\"" "$RELAY_LOG"
http_get /metrics | tr -d '\r' >"$O/metrics"
check "mesh_relay_auth_revoked_tokens_total 1" grep -qx "mesh_relay_auth_revoked_tokens_total 1" "$O/metrics"
check "mesh_relay_auth_revoked_token_ids 2" grep -qx "mesh_relay_auth_revoked_token_ids 2" "$O/metrics"
check "signed tokens are counted by form" grep -qE '^mesh_relay_auth_accepted_total\{token="signed"\} [1-9]' "$O/metrics"
check "A's connection stays open" kill -0 "$A_PID"
check "A's refresh is refused" wait_for "$O/a_l2.out" "reservation refresh failed status=PERMISSION_DENIED" 20
stop_pid "$B_PID"
stop_pid "$A_PID"

# A bad list on a change or SIGHUP: the one in force stays; a SIGHUP reads it again.
printf 'zz-not-hex\n' >>"$O/revoked.txt"
check "a bad list is not taken" wait_for "$RELAY_LOG" "Revoked token list not reloaded: the list in force stays .*line 5: not a token id" 10
client_run "$O/a_rev2" --name a --reserve-only --token "$TREV"
RC=$?
refused "the revoked token, after a bad list" "$O/a_rev2" "revoked token"
printf '%s\n' "$A_ID" >"$O/revoked.txt"
kill -HUP "$RELAY_PID"
check "SIGHUP reads the list again" wait_for "$RELAY_LOG" "Revoked token list loaded .*ids=1 trigger=reload" 10
client_run "$O/a_unrev" --name a --reserve-only --token "$TREV"
check "a token no longer listed is accepted again" [ $? -eq 0 ]

# ---- class trusted: no circuit limits --------------------------------------------------------------
listener c "$O/c_l" --token "$(sign "$O/cp" "$C" --class trusted)"
check "C listens with a trusted token" [ $? -eq 0 ]
check "its class is logged" event "$RELAY_LOG" Authenticated "peer_id=$C .*class=trusted limits=\"none \(class trusted\)\""
check "C's reservation carries no limit" grep -qE "^reservation accepted .*limit_duration=0 limit_data=0" "$O/c_l.out"
C_PID=$LISTENER_PID
client_run "$O/b_c" --name b --dial "$C" --ping 1 --token "$TB"
check "B reaches C" [ $? -eq 0 ]
check "B's circuit to C has no limit" grep -qE "^circuit .*limit_duration=0 limit_data=0" "$O/b_c.out"
stop_pid "$C_PID"

# ---- a class profile of [auth] classes: its limits; an unknown class: the relay's -------------------
listener c "$O/c_gold" --token "$(sign "$O/cp" "$C" --class gold)"
check "C listens with a gold token" [ $? -eq 0 ]
check "the class is known here" event "$RELAY_LOG" Authenticated "peer_id=$C .*class=gold limits=\"the class's\""
check "C's reservation carries gold's limits" grep -qE "^reservation accepted .*limit_duration=3600 limit_data=0" "$O/c_gold.out"
C_PID=$LISTENER_PID
client_run "$O/b_gold" --name b --dial "$C" --ping 1 --token "$TB"
check "B's circuit to C: the more generous ends' limits (gold's)" grep -qE "^circuit .*limit_duration=3600 limit_data=0" "$O/b_gold.out"
stop_pid "$C_PID"
listener c "$O/c_plat" --token "$(sign "$O/cp" "$C" --class platinum)"
check "an unknown class is accepted" [ $? -eq 0 ]
check "with the relay's limits, and the log says why" event "$RELAY_LOG" Authenticated "peer_id=$C .*class=platinum limits=\"the relay's \(class not configured here\)\""
check "C's reservation carries the relay's limits" grep -qE "^reservation accepted .*limit_duration=120 limit_data=10485760" "$O/c_plat.out"
stop_pid "$LISTENER_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# ---- both forms at once (a migration) --------------------------------------------------------------
relay_up r2 '[auth]' 'auth_enabled = true' "auth_token = '$T'" "control_plane_keys = [\"$CP\"]"
check "a relay with auth_token and control_plane_keys starts" [ $? -eq 0 ]
client_run "$O/m_shared" --name b --reserve-only --token "$T"
check "the shared token works" [ $? -eq 0 ]
client_run "$O/m_minted" --name b --reserve-only --token "$(HOME="$RH" timeout 20 "$RELAY" --config "$O/r2.toml" --mint-token "$B")"
check "a minted (v1) token works" [ $? -eq 0 ]
client_run "$O/m_signed" --name a --reserve-only --token "$TA"
check "a signed token works" [ $? -eq 0 ]
check "each logged with its form" eval 'grep -q "token=shared" "$RELAY_LOG" && grep -q "token=minted" "$RELAY_LOG" && grep -q "token=signed" "$RELAY_LOG"'
kill -HUP "$RELAY_PID" # nothing changed: nobody loses anything
check "a reload that changes nothing" wait_for "$RELAY_LOG" "Configuration reloaded .*applied=0" 10
sed -i "s/^control_plane_keys = .*/control_plane_keys = [\"$ROGUE\"]/" "$O/r2.toml"
listener a "$O/m_l" --token "$TA"
check "A listens with a signed token" [ $? -eq 0 ]
M_PID=$LISTENER_PID
kill -HUP "$RELAY_PID"
check "a reload that drops the key withdraws its tokens" \
    wait_for "$RELAY_LOG" "AuthRevoked peer_id=$A .*reason=\"control-plane key removed\" token_id=$A_ID" 10
check "and ends A's reservation" grep -qE "ReservationRevoked peer_id=$A .*reason=\"control-plane key removed\"" "$RELAY_LOG"
check "the shared-secret authentications stay" eval '! grep -qE "AuthRevoked peer_id=$B " "$RELAY_LOG"'
stop_pid "$M_PID"
stop_pid "$RELAY_PID"

# ---- start-up errors name the file --------------------------------------------------------------
loopback_config "$O/bad1.toml" '[auth]' 'auth_enabled = true' "control_plane_keys = [\"$CP\"]" \
    "revoked_tokens_file = \"$O/missing.txt\""
run_relay "$RH" "$O/bad1" --config "$O/bad1.toml"
check "a missing revoked_tokens_file: exit 1" [ $? -eq 1 ]
check "names the file" grep -q "revoked_tokens_file $O/missing.txt: No such file or directory" "$O/bad1.err"
printf 'abcd\n12345\n' >"$O/bad.txt"
loopback_config "$O/bad2.toml" '[auth]' "revoked_tokens_file = \"$O/bad.txt\""
run_relay "$RH" "$O/bad2" --config "$O/bad2.toml" --check-config
check "--check-config reads the list: exit 1" [ $? -eq 1 ]
check "names the file and line" one_line_error "$O/bad2.err" "$O/bad.txt: line 2: not a token id \(2 to 64 hex digits\): \"12345\""
loopback_config "$O/bad3.toml" '[auth]' 'control_plane_keys = ["QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"]'
run_relay "$RH" "$O/bad3" --config "$O/bad3.toml" --check-config
check "a control-plane key that is no Ed25519 key: exit 1" [ $? -eq 1 ]
check "says so" one_line_error "$O/bad3.err" "is not the PeerId of an Ed25519 key"

# ---- losing a class ends what it gave; a drain still reads the list ----------------------------
# C holds a regular token (connection 1) and a newer one of a class (connection 2); a third
# connection holds its reservation. B's circuit to C runs under the class's limits. When that
# token stops counting (listed, or its connection closed) C stays authenticated, and circuits
# under wider limits than now apply end; C keeps its reservation. The drain (SIGTERM, long grace)
# goes on reading the list: a token listed then ends its circuits at once.
printf '# revoked tokens\n' >"$O/revoked.txt"
MESH_RELAY_NETWORK_SHUTDOWN_GRACE_SECS=60 relay_up r3 '[auth]' 'auth_enabled = true' \
    "control_plane_keys = [\"$CP\"]" "revoked_tokens_file = \"$O/revoked.txt\"" \
    'classes = ["gold: max_circuit_duration_secs=3600"]'
check "a third relay starts" [ $? -eq 0 ]
classed() { # classed LABEL CLASS LIMITS: C's two tokens and B's circuit under the class's LIMITS
    listener c "$O/$1_c1" --token "$(sign "$O/cp" "$C")" && C1_PID=$LISTENER_PID &&
        listener c "$O/$1_c2" --token "$(sign "$O/cp" "$C" --class "$2")" && C2_PID=$LISTENER_PID &&
        cp "$O/last_id" "$O/$1_id" && listener c "$O/$1_c3" && C3_PID=$LISTENER_PID &&
        client_bg "$O/$1_b" --name b --dial "$C" --hold --timeout 60 --token "$TB" &&
        BH_PID=$CLIENT_PID && wait_for "$O/$1_b.out" "^circuit .*$3" 10
}
classed u1 trusted "limit_duration=0 limit_data=0"
check "B's circuit to trusted C has no limit" [ $? -eq 0 ]
cat "$O/u1_id" >>"$O/revoked.txt"
check "listing C's trusted token ends the circuit without limits" wait_for "$O/u1_b.out" "^circuit closed" 10
check "with the reason" grep -qE "CircuitClosed src_peer_id=$B dst_peer_id=$C .*error=\"token revoked\"" "$RELAY_LOG"
check "C keeps its reservation (still authenticated)" eval '! grep -qE "ReservationRevoked peer_id=$C " "$RELAY_LOG"'
stop_pid "$BH_PID"
stop_pid "$C1_PID" && stop_pid "$C2_PID" && stop_pid "$C3_PID"
classed u2 gold "limit_duration=3600 limit_data=10485760"
check "B's circuit to gold C runs under gold's duration" [ $? -eq 0 ]
stop_pid "$C2_PID"
check "closing C's gold connection ends the circuit (3600 s > the relay's 120 s)" wait_for "$O/u2_b.out" "^circuit closed" 10
check "with the reason" grep -qE "CircuitClosed .*error=\"its connection with a token of a limits class closed\"" "$RELAY_LOG"
stop_pid "$BH_PID"
client_bg "$O/d_b" --name b --dial "$C" --hold --timeout 60 --token "$TB"
BH_PID=$CLIENT_PID
check "B holds a circuit to C" wait_for "$O/d_b.out" "^circuit .*limit_duration=120 " 10
B_ID=$(sed -n 's/.*Authenticated peer_id='"$B"' .*token_id=\([0-9a-f]*\) .*/\1/p' "$RELAY_LOG" | tail -n 1)
kill -TERM "$RELAY_PID"
check "the relay drains" wait_for "$RELAY_LOG" "draining" 10
echo "$B_ID" >>"$O/revoked.txt"
check "draining, a listed token still ends its circuits" wait_for "$O/d_b.out" "^circuit closed" 10
check "so the drain ends early" wait_for "$RELAY_LOG" "No circuit left, shutting down" 10
stop_pid "$BH_PID"
stop_pid "$C1_PID" && stop_pid "$C3_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# ---- a reload that turns tokens off: classes no longer count ------------------------------------
# With auth_enabled = false nobody has a class any more and new circuits get the relay's limits;
# a circuit a trusted token gave no limits ends (red team), C keeps its reservation. The same
# reload gives the relay (unlimited until then) a duration: the circuit is measured against the
# limits that apply after the reload, not before.
relay_up r4 'max_circuit_duration_secs = 0' 'max_circuit_bytes = 0' '[auth]' 'auth_enabled = true' \
    "control_plane_keys = [\"$CP\"]"
check "a fourth relay starts" [ $? -eq 0 ]
listener c "$O/off_c" --token "$(sign "$O/cp" "$C" --class trusted)"
C_PID=$LISTENER_PID
client_bg "$O/off_b" --name b --dial "$C" --hold --timeout 60 --token "$TB"
BH_PID=$CLIENT_PID
check "B's circuit to trusted C has no limit" wait_for "$O/off_b.out" "^circuit .*limit_duration=0 limit_data=0" 10
sed -i -e 's/^auth_enabled = true$/auth_enabled = false/' \
    -e 's/^max_circuit_duration_secs = 0$/max_circuit_duration_secs = 120/' "$O/r4.toml"
kill -HUP "$RELAY_PID"
check "turning tokens off ends the circuit without limits" wait_for "$O/off_b.out" "^circuit closed" 10
check "with the reason" grep -qE "CircuitClosed src_peer_id=$B dst_peer_id=$C .*error=\"authentication no longer required\"" "$RELAY_LOG"
client_run "$O/off_b2" --name b --dial "$C" --ping 1
check "C keeps its reservation; a new circuit gets the relay's limits" grep -qE "^circuit .*limit_duration=120 " "$O/off_b2.out"
stop_pid "$BH_PID"
stop_pid "$C_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
