#!/usr/bin/env bash
# Token authentication (docs/AUTH.md): with [auth] auth_enabled, RESERVE and CONNECT are refused
# (PERMISSION_DENIED) until the connection has run /meshnet/relay-auth/1.0.0 with the shared
# token or a token minted for its PeerId (relay-server --mint-token). No token, a wrong one,
# another peer's, an expired one: refused, each failure one AuthFailed line with the IP. The
# right ones reserve, over TCP and QUIC; a CONNECT needs it too. Failures of any kind (framing
# errors, extra streams) are rate limited per IP, and over the budget logged once per interval
# with a count. A connection runs at most 2 exchanges at once. A minted token that expires ends
# the authentication and the reservation. --mint-token's own errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT
T=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# --mint-token needs a real secret and a PeerId.
loopback_config "$O/mint.toml" '[auth]' "auth_token = '$T'"
HOME="$RH" timeout -k 5 20 "$RELAY" --config "$O/mint.toml" --mint-token not-a-peer-id \
    >"$O/m1.out" 2>"$O/m1.err"
check "--mint-token with a bad PeerId exits 1" [ $? -eq 1 ]
check "--mint-token with a bad PeerId says so" one_line_error "$O/m1.err" "is not a PeerId"
loopback_config "$O/mint-default.toml"
HOME="$RH" timeout -k 5 20 "$RELAY" --config "$O/mint-default.toml" --mint-token \
    12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA >"$O/m2.out" 2>"$O/m2.err"
check "--mint-token with the default auth_token exits 1" [ $? -eq 1 ]
check "--mint-token with the default auth_token names the key" one_line_error "$O/m2.err" "auth_token"
HOME="$RH" timeout -k 5 20 "$RELAY" --config "$O/mint.toml" --mint-token x --ttl 0 \
    >"$O/m3.out" 2>"$O/m3.err"
check "--ttl 0 is a usage error (exit 2)" [ $? -eq 2 ]

relay_up r 'max_circuit_bytes = 0' '[auth]' 'auth_enabled = true' "auth_token = '$T'"
check "the relay starts with auth on" [ $? -eq 0 ]
QUIC_ADDR=$(sed -n 's/^Listening on: //p' "$O/r.out" | grep -m1 '/udp/.*/quic-v1/')
check "the log says authentication is required" grep -q "Authentication required" "$RELAY_LOG"

mint() { # mint PEER_ID [TTL]: a token from the relay's secret
    HOME="$RH" timeout -k 5 20 "$RELAY" --config "$O/mint.toml" --mint-token "$1" --ttl "${2:-600}"
}

client_run "$O/a0" --name a --reserve-only
check "no token: the reservation is refused (exit 4)" [ $? -eq 4 ]
check "no token: PERMISSION_DENIED" grep -qx "reservation refused status=PERMISSION_DENIED" "$O/a0.out"
A=$(sed -n 's/^local peer_id=//p' "$O/a0.out")
check "the relay logs why" grep -qE "ReservationReqDenied peer_id=$A .*status=PERMISSION_DENIED.*not authenticated" "$RELAY_LOG"
client_run "$O/b0" --name b --reserve-only
B=$(sed -n 's/^local peer_id=//p' "$O/b0.out")

TA=$(mint "$A")
check "--mint-token prints a v1 token" eval '[[ "$TA" =~ ^v1\.[0-9]+\.[A-Za-z0-9_-]{43}$ ]]'
TB=$(mint "$B")
TX=$(mint "$A" 1)

client_run "$O/a1" --name a --reserve-only --token wrong-token
check "a wrong token: refused (exit 4)" [ $? -eq 4 ]
check "a wrong token: PERMISSION_DENIED, 'wrong token'" \
    grep -qx 'auth refused status=PERMISSION_DENIED text="wrong token"' "$O/a1.out"
check "AuthFailed with the peer, IP and reason" \
    grep -qE "WARN .*AuthFailed peer_id=$A ip=127\.0\.0\.1 transport=tcp reason=\"wrong token\"" "$RELAY_LOG"

client_run "$O/a2" --name a --reserve-only --token "$TB"
check "another peer's minted token: refused (exit 4)" [ $? -eq 4 ]
check "another peer's minted token: PERMISSION_DENIED" grep -q '^auth refused status=PERMISSION_DENIED' "$O/a2.out"

sleep 2 # TX expires
client_run "$O/a3" --name a --reserve-only --token "$TX"
check "an expired minted token: refused (exit 4)" [ $? -eq 4 ]
check "an expired minted token: 'expired'" grep -qE '^auth refused status=PERMISSION_DENIED text=".*expired' "$O/a3.out"
check "three AuthFailed lines so far" [ "$(count_of "$RELAY_LOG" "AuthFailed peer_id=$A ")" -eq 3 ]

client_run "$O/a4" --name a --reserve-only --token "$TA"
check "A's own minted token reserves (exit 0)" [ $? -eq 0 ]
check "A: auth ok, then the reservation" eval 'grep -qx "auth ok" "$O/a4.out" && grep -q "^reservation accepted " "$O/a4.out"'
check "the relay logs Authenticated (minted)" grep -qE "Authenticated peer_id=$A ip=127\.0\.0\.1 token=minted" "$RELAY_LOG"

RELAY_ADDR_TCP=$RELAY_ADDR
RELAY_ADDR=$QUIC_ADDR
listener a "$O/aq" --token "$T"
check "the shared token reserves over QUIC" [ $? -eq 0 ]
A_PID=$LISTENER_PID
RELAY_ADDR=$RELAY_ADDR_TCP

client_run "$O/b1" --name b --dial "$A" --ping 1
check "a CONNECT without a token: refused (exit 4)" [ $? -eq 4 ]
check "a CONNECT without a token: PERMISSION_DENIED" grep -qx "circuit refused status=PERMISSION_DENIED" "$O/b1.out"
client_run "$O/b2" --name b --dial "$A" --ping 1 --echo authenticated --token "$TB"
check "B with its minted token reaches A (exit 0)" [ $? -eq 0 ]
check "B: the echo came back" grep -qx "echo authenticated" "$O/b2.out"

# Rate limit: 5 failures per IP, then one more per 12 s; three are spent above, three more here.
client_run "$O/c0" --name c --reserve-only --token wrong-0
client_run "$O/c1" --name c --reserve-only --token wrong-1
client_run "$O/c2" --name c --reserve-only --token wrong-2
client_run "$O/c3" --name c --reserve-only --token wrong-3
check "over the failure budget a wrong token is refused (exit 4)" [ $? -eq 4 ]
check "over the failure budget: RESOURCE_LIMIT_EXCEEDED" \
    grep -qx 'auth refused status=RESOURCE_LIMIT_EXCEEDED text="too many failed attempts"' "$O/c3.out"
check "logged as rate limited, once with the count (within 5 s)" \
    wait_for "$RELAY_LOG" "AuthFailed peer_id=.* ip=127\.0\.0\.1 .*reason=\"rate limited.*repeated=2" 10
client_run "$O/c4" --name c --reserve-only --token "$T"
check "but the right token from the same address still passes (exit 0)" [ $? -eq 0 ]

stop_pid "$A_PID"
check "A stops with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

# Failures of any kind count (a fresh relay: a fresh budget). "ffff03" announces a 65535-byte
# request: a framing error, answered at once.
# burst FIRST LAST ARGS...: clients fFIRST..fLAST run `--name f --reserve-only ARGS` all at once
# (well within the budget's refill and the log interval, however slow the build); waits for all
# (each bounded by --timeout 10) and sets BURST_RCS to their exit codes.
burst() {
    local first=$1 last=$2 i pids=()
    shift 2
    for i in $(seq "$first" "$last"); do
        client_bg "$O/f$i" --name f --reserve-only --timeout 10 "$@"
        pids+=("$CLIENT_PID")
    done
    BURST_RCS=
    for i in "${pids[@]}"; do
        wait "$i"
        BURST_RCS="$BURST_RCS $?"
    done
}
relay_up r2 '[auth]' 'auth_enabled = true' "auth_token = '$T'"
check "a second relay with auth on starts" [ $? -eq 0 ]
burst 1 5 --auth-raw ffff03
check "a framing error: refused (exit 4)" [ "$BURST_RCS" = " 4 4 4 4 4" ]
check "a framing error: MALFORMED_MESSAGE" grep -q "^auth refused status=MALFORMED_MESSAGE" "$O/f5.out"
check "each one AuthFailed line" [ "$(count_of "$RELAY_LOG" 'AuthFailed .*reason="malformed request"')" -eq 5 ]
client_run "$O/f6" --name f --reserve-only --token wrong-token
check "framing errors count against the budget: the next wrong token is RESOURCE_LIMIT_EXCEEDED" \
    grep -qx 'auth refused status=RESOURCE_LIMIT_EXCEEDED text="too many failed attempts"' "$O/f6.out"
# A burst of refusals over the budget: one line per interval with the count, not one each.
burst 7 11 --token wrong-token
check "the burst: every one refused (exit 4)" [ "$BURST_RCS" = " 4 4 4 4 4" ]
check "the burst: RESOURCE_LIMIT_EXCEEDED" \
    eval '[ "$(cat "$O"/f{7,8,9,10,11}.out | grep -c RESOURCE_LIMIT_EXCEEDED)" -eq 5 ]'
check "the burst: one line with the count (6) within 5 s" \
    wait_for "$RELAY_LOG" 'AuthFailed .*reason="rate limited.*repeated=6' 10
check "the burst: no other rate-limited line" [ "$(count_of "$RELAY_LOG" 'reason="rate limited')" -eq 1 ]
stop_pid "$RELAY_PID"

# A connection runs at most 2 authentication exchanges at once: the others are reset.
relay_up r3 '[auth]' 'auth_enabled = true' "auth_token = '$T'"
client_run "$O/s1" --name s --reserve-only --token "$T" --auth-streams 5
check "5 auth streams at once: reserved with the token (exit 0)" [ $? -eq 0 ]
check "5 auth streams at once: 2 answered, 3 reset" grep -qx "auth streams answered=2 reset=3" "$O/s1.out"
check "the extra streams count as failures" \
    [ "$(count_of "$RELAY_LOG" 'AuthFailed .*reason="too many authentication streams at once"')" -eq 3 ]
stop_pid "$RELAY_PID"

# A minted token that expires: the authentication lapses, the reservation ends, the refresh
# (reservation_ttl_secs 8: at 6 s) is refused; the connection stays.
relay_up r4 'reservation_ttl_secs = 8' '[auth]' 'auth_enabled = true' "auth_token = '$T'"
TE=$(mint "$A" 3)
listener a "$O/ae" --token "$TE"
check "A reserves with a token valid for 3 s" [ $? -eq 0 ]
A_PID=$LISTENER_PID
check "at expiry: AuthRevoked (token expired)" \
    wait_for "$RELAY_LOG" "AuthRevoked peer_id=$A ip=127\.0\.0\.1 reason=\"token expired\"" 10
check "and its reservation is ended" grep -qE "ReservationRevoked peer_id=$A .*reason=\"token expired\"" "$RELAY_LOG"
client_run "$O/be" --name b --dial "$A" --ping 1 --token "$T"
check "a CONNECT to A is refused (exit 4)" [ $? -eq 4 ]
check "a CONNECT to A finds no reservation" grep -qx "circuit refused status=NO_RESERVATION" "$O/be.out"
check "A's next RESERVE (the refresh) is refused" \
    wait_for "$O/ae.out" "reservation refresh failed status=PERMISSION_DENIED" 10
check "A's connection stays open" kill -0 "$A_PID"
stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
