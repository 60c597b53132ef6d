#!/usr/bin/env bash
# Each bad configuration gives a one-line error naming file, line, key and what is allowed, and
# a non-zero exit, both at start-up and with --check-config.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml

# bad_config DESC PATTERN LINES...: write the config, expect exit 1 and one error line.
bad_config() {
    local desc=$1 pattern=$2
    shift 2
    printf '%s\n' "$@" >"$C"
    run_relay "$H" "$O" --config "$C" --check-config
    check "$desc: --check-config exits 1" [ $? -eq 1 ]
    check "$desc: one line naming the problem" only_line_error "$O.err" "$pattern"
    run_relay "$H" "$O" --config "$C"
    check "$desc: start-up exits 1" [ $? -eq 1 ]
    check "$desc: start-up gives the same line" only_line_error "$O.err" "$pattern"
}

bad_config "unknown key" "relay.toml:3: .*unknown key 'max_reservation'.*max_reservations" \
    '[relay]' 'max_circuits_per_peer = 4' 'max_reservation = 10'
bad_config "unknown section" "relay.toml:1: .*\[relays\].*relay" \
    '[relays]' 'max_reservations = 10'
bad_config "wrong type" "relay.toml:2: .*max_reservations.*integer" \
    '[relay]' 'max_reservations = "ten"'
bad_config "wrong type (bool)" "relay.toml:2: .*auth_enabled.*bool" \
    '[auth]' 'auth_enabled = "yes"'
bad_config "out of range" "relay.toml:2: .*max_reservations = 0.*out of range.*1\.\.1000000" \
    '[relay]' 'max_reservations = 0'
bad_config "out of range (ttl)" "reservation_ttl_secs = 0.*1\.\.604800" \
    '[relay]' 'reservation_ttl_secs = 0'
bad_config "negative value" "max_circuit_bytes = -1.*out of range" \
    '[relay]' 'max_circuit_bytes = -1'
bad_config "bad log level" "relay.toml:2: .*level.*loud.*trace" \
    '[logging]' 'level = "loud"'
bad_config "bad log format" "relay.toml:2: .*log_format.*yaml.*pretty.*json" \
    '[logging]' 'log_format = "yaml"'
bad_config "bad listen multiaddr" "relay.toml:2: .*tcp_listen_addr.*/ip4/1.2.3/tcp/1" \
    '[network]' 'tcp_listen_addr = "/ip4/1.2.3/tcp/1"'
bad_config "udp where tcp belongs" "relay.toml:2: .*tcp_listen_addr" \
    '[network]' 'tcp_listen_addr = "/ip4/0.0.0.0/udp/4001/quic-v1"'
bad_config "malformed TOML (unterminated string)" "relay.toml:2" \
    '[relay]' 'max_reservations = "100'
bad_config "malformed TOML (no value)" "relay.toml:3" \
    '[relay]' '' 'max_reservations ='
bad_config "malformed TOML (bad table header)" "relay.toml:1" \
    '[relay'
bad_config "duplicate key" "relay.toml:3:.*duplicate key 'max_reservations'.*line 2" \
    '[relay]' 'max_reservations = 1' 'max_reservations = 2'
bad_config "explicit per-peer reservations above the global cap" \
    "relay.toml:3: \\[relay\\] max_reservations_per_peer = 3 must not be greater than max_reservations = 2" \
    '[relay]' 'max_reservations = 2' 'max_reservations_per_peer = 3'

# Only max_reservations, below the per-peer default (5): valid; the per-peer cap in force is 2,
# and the relay says so.
loopback_config "$C" '[relay]' 'max_reservations = 2'
run_relay "$H" "$O" --config "$C" --check-config
check "only max_reservations = 2: --check-config exits 0" [ $? -eq 0 ]
if start_relay "$(new_home)" "$O" --config "$C"; then
    pass "only max_reservations = 2: the relay starts"
    check "only max_reservations = 2: logs the per-peer cap lowered to 2" \
        grep -qE 'Per-peer reservation cap lowered to max_reservations.*max_reservations_per_peer=5.*max_reservations=2.*effective=2' "$O.err"
    stop_relay "$RELAY_PID" INT
    check "only max_reservations = 2: SIGINT exits 0" [ "$STOP_RC" = 0 ]
else
    failt "only max_reservations = 2: the relay starts" "$(cat "$O.err")"
fi

run_relay "$H" "$O" --config "$TMP_ROOT/missing.toml"
check "missing explicit file exits 1" [ $? -eq 1 ]
check "missing explicit file: 'Configuration file not found: PATH' with the hint" \
    only_line_error "$O.err" "Configuration file not found: $TMP_ROOT/missing.toml.*--generate-config"
check "a missing explicit file creates nothing" [ -z "$(ls -A "$H")" ]

mkdir -p "$TMP_ROOT/dir.toml"
run_relay "$H" "$O" --config "$TMP_ROOT/dir.toml"
check "a directory as config exits 1" [ $? -eq 1 ]
check "a directory as config: one line naming it" one_line_error "$O.err" "dir.toml"

# Auth enabled with the default token, or a short one: refused, naming the file and key.
loopback_config "$C" '[auth]' 'auth_enabled = true'
run_relay "$H" "$O" --config "$C"
check "auth_enabled with the default token exits 1" [ $? -eq 1 ]
check "auth_enabled with the default token: one line naming the key" \
    one_line_error "$O.err" "relay.toml:[0-9]+: \\[auth\\] auth_enabled = true with the default auth_token CHANGE_ME_IN_PRODUCTION"
loopback_config "$C" '[auth]' 'auth_enabled = true' "auth_token = 'too-short'"
run_relay "$H" "$O" --config "$C"
check "auth_enabled with a 9-byte token exits 1" [ $? -eq 1 ]
check "a 9-byte token: one line saying how long it must be" \
    one_line_error "$O.err" "auth_token is 9 bytes; with auth_enabled = true it must be at least 32"
finish
