#!/usr/bin/env bash
# Start, banner, connections, shutdown on SIGINT/SIGTERM, "Address already in use", JSON logs.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml
loopback_config "$C"

start_relay "$H" "$O" --config "$C"
check "the relay starts on a loopback config" [ $? -eq 0 ]
PID=$(peer_id_of "$O")
check "the banner says the relay is running" grep -q '^Mesh Relay Server is running!$' "$O.out"
check "the banner says how to stop it" grep -q '^Press Ctrl+C to stop$' "$O.out"
check "the banner lists the IPv4 address with /p2p/<PeerId>" \
    grep -qE "^Listening on: /ip4/127\.0\.0\.1/tcp/[1-9][0-9]*/p2p/$PID\$" "$O.out"
if has_ipv6; then
    check "the banner lists the IPv6 address with /p2p/<PeerId>" \
        grep -qE "^Listening on: /ip6/::1/tcp/[1-9][0-9]*/p2p/$PID\$" "$O.out"
fi
PORT=$(sed -n 's|^Listening on: /ip4/127.0.0.1/tcp/\([0-9]*\)/.*|\1|p' "$O.out")

# Two idle TCP clients stay connected until shutdown closes them.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'hello' >&3
sleep 0.3
check "the relay keeps running with clients connected" kill -0 "$RELAY_PID"

# Address already in use: a second relay on the same fixed port.
C2=$TMP_ROOT/busy.toml
printf '[network]\ntcp_listen_addr = "/ip4/127.0.0.1/tcp/%s"\ntcp_listen_addr_v6 = ""\n' \
    "$PORT" >"$C2"
run_relay "$(new_home)" "$TMP_ROOT/busy" --config "$C2"
check "a busy port exits 1" [ $? -eq 1 ]
check "a busy port: one line naming the address, the cause and the keys to change" \
    one_line_error "$TMP_ROOT/busy.err" \
    "/ip4/127.0.0.1/tcp/$PORT.*Address already in use.*tcp_listen_addr.*quic_listen_addr"
check "a busy port: no banner" [ ! -s "$TMP_ROOT/busy.out" ]

stop_relay "$RELAY_PID" TERM
RC=$STOP_RC
check "SIGTERM: exit code 0" [ "$RC" = 0 ]
check "SIGTERM: shutdown is logged" grep -q 'Shutdown signal received' "$O.err"
check "SIGTERM: the stop is logged" grep -q 'Relay server stopped' "$O.err"
# The clients see the connection closed (EOF) once the relay is gone.
check "SIGTERM: client connections were closed" timeout 5 cat <&3 >/dev/null
exec 3<&- 4<&-

start_relay "$H" "$O" --config "$C"
stop_relay "$RELAY_PID" INT
RC=$STOP_RC
check "SIGINT: exit code 0" [ "$RC" = 0 ]
check "SIGINT: shutdown is logged" grep -q 'Shutdown signal received.*signal=Interrupt' "$O.err"

# JSON logs: one object per line in tracing-subscriber's layout.
CJ=$TMP_ROOT/json.toml
loopback_config "$CJ" '[logging]' 'log_format = "json"' 'level = "debug"'
start_relay "$H" "$O" --config "$CJ"
exec 3<>"/dev/tcp/127.0.0.1/$(sed -n 's|^Listening on: /ip4/127.0.0.1/tcp/\([0-9]*\)/.*|\1|p' "$O.out")"
sleep 0.3
exec 3<&-
sleep 0.2
stop_relay "$RELAY_PID" TERM
RC=$STOP_RC
check "json: exit code 0" [ "$RC" = 0 ]
JSON_RE='^\{"timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z","level":"(TRACE|DEBUG|INFO|WARN|ERROR)","fields":\{"message":"[^"]*"(,"[a-z_]+":("([^"\\]|\\.)*"|[0-9]+|true|false))*\},"target":"relay_server(::[a-z_]+)*"\}$'
check "json: every stderr line is one JSON object in tracing's layout" \
    bash -c "[ -s '$O.err' ] && ! grep -vE '$JSON_RE' '$O.err'"
check "json: the identity line carries peer_id" \
    grep -qE '"fields":\{"message":"Loaded relay identity","peer_id":"12D3KooW' "$O.err"
check "json: debug level shows the inbound connection" grep -q '"message":"Inbound connection"' "$O.err"

# -l overrides the configured level.
start_relay "$H" "$O" --config "$CJ" -l warn
stop_relay "$RELAY_PID" TERM
RC=$STOP_RC
check "-l warn: exit code 0" [ "$RC" = 0 ]
check "-l warn: no info lines" bash -c "! grep -q '\"level\":\"INFO\"' '$O.err'"
finish
