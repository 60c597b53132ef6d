#!/usr/bin/env bash
# --generate-config writes the commented default file; refuses to overwrite without --force.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o
CFG=$H/.meshnet/relay.toml

run_relay "$H" "$O" --generate-config
check "--generate-config exits 0" [ $? -eq 0 ]
check "the file exists at ~/.meshnet/relay.toml" [ -f "$CFG" ]
check "it prints the path" grep -qF "$CFG" "$O.out"
check "~/.meshnet is created 0700" [ "$(file_mode "$H/.meshnet")" = 700 ]
check "the config file is 0600 (it holds the auth token)" [ "$(file_mode "$CFG")" = 600 ]
for sec in relay network auth logging; do
    check "it has the [$sec] section" grep -q "^\[$sec\]" "$CFG"
done
for key in max_reservations max_reservations_per_peer max_circuits_per_peer \
    max_circuit_duration_secs max_circuit_bytes reservation_ttl_secs max_circuits \
    tcp_listen_addr quic_listen_addr auth_token auth_enabled level log_format; do
    check "it sets $key" grep -qE "^$key = " "$CFG"
done
check "it is commented" grep -q '^#' "$CFG"
SUM=$(md5sum <"$CFG")

echo "# edited by the operator" >>"$CFG"
EDITED=$(md5sum <"$CFG")
run_relay "$H" "$O" --generate-config
check "a second --generate-config fails" [ $? -eq 1 ]
check "the refusal is one line naming the path and --force" \
    only_line_error "$O.err" "$CFG.*--force"
check "the existing file is untouched" [ "$(md5sum <"$CFG")" = "$EDITED" ]

run_relay "$H" "$O" --generate-config --force
check "--generate-config --force exits 0" [ $? -eq 0 ]
check "--force restores the defaults" [ "$(md5sum <"$CFG")" = "$SUM" ]
check "no temporary files are left behind" [ "$(ls -A "$H/.meshnet")" = relay.toml ]

run_relay "$H" "$O" --check-config
check "the generated file passes --check-config" [ $? -eq 0 ]
check "--check-config names the file it checked" grep -qF "$CFG" "$O.out"

run_relay "$H" "$O" --generate-config --config "$TMP_ROOT/custom.toml"
check "--generate-config --config PATH writes there" [ -f "$TMP_ROOT/custom.toml" ]
run_relay "$H" "$O" --check-config --config "$TMP_ROOT/custom.toml"
check "and that file validates" [ $? -eq 0 ]

H2=$(new_home)
run_relay "$H2" "$O" --check-config
check "--check-config without any file validates the built-in defaults" [ $? -eq 0 ]
check "and says so" grep -q 'built-in defaults' "$O.out"
finish
