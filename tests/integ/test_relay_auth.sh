#!/usr/bin/env bash
# Token authentication (docs/AUTH.md): with [auth] auth_enabled, RESERVE and CONNECT are refused
# (PERMISSION_DENIED) until the connection has run /meshnet/relay-auth/1.0.0 with the shared
# token or a token minted for its PeerId (relay-server --mint-token). No token, a wrong one,
# another peer's, an expired one: refused, each failure one AuthFailed line with the IP. The
# right ones reserve, over TCP and QUIC; a CONNECT needs it too. Failures are rate limited per IP.
# --mint-token's own errors.
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
check "logged as rate limited" grep -qE "AuthFailed peer_id=.* ip=127\.0\.0\.1 .*reason=\"rate limited" "$RELAY_LOG"
client_run "$O/c4" --name c --reserve-only --token "$T"
check "but the right token from the same address still passes (exit 0)" [ $? -eq 0 ]

stop_pid "$A_PID"
check "A stops with 0" [ "$STOP_RC" = 0 ]
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
