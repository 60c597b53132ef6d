#!/usr/bin/env bash
# Per-instance configuration (issue 14): every key can be set by an environment variable
# MESH_RELAY_<SECTION>_<KEY> and by --set section.key=value, over the file, with the file's
# validation and messages naming the variable or option; the log says where each non-default
# value came from; a SIGHUP re-reads the file and keeps the overrides; --health-check asks
# /healthz of the relay the configuration describes.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml
TOKEN=0123456789abcdef0123456789abcdef-env-secret

# Loopback listeners from the environment alone (no file): what a container does.
export MESH_RELAY_NETWORK_TCP_LISTEN_ADDR=/ip4/127.0.0.1/tcp/0
export MESH_RELAY_NETWORK_TCP_LISTEN_ADDR_V6=
export MESH_RELAY_NETWORK_QUIC_LISTEN_ADDR=/ip4/127.0.0.1/udp/0/quic-v1
export MESH_RELAY_NETWORK_QUIC_LISTEN_ADDR_V6=
export MESH_RELAY_NETWORK_SHUTDOWN_GRACE_SECS=1

# log_has FILE KEY VALUE SOURCE: the start-up line for KEY (pretty log format).
log_has() {
    grep -F "Configuration value key=$2 value=$3 source=$4" "$1" >/dev/null
}

MESH_RELAY_AUTH_AUTH_TOKEN=$TOKEN MESH_RELAY_AUTH_AUTH_ENABLED=true \
    start_relay "$H" "$O" --set metrics.listen_addr=/ip4/127.0.0.1/tcp/0 \
    --set relay.max_circuits=77
check "starts on built-in defaults plus the environment and --set" [ $? -eq 0 ]
check "listens where the environment says" grep -q '^Listening on: /ip4/127.0.0.1/tcp/' "$O.out"
check "only the listeners the environment left on" [ "$(grep -c '^Listening on:' "$O.out")" -eq 2 ]
check "logs the environment as the source" \
    log_has "$O.err" network.tcp_listen_addr /ip4/127.0.0.1/tcp/0 \
    '"environment MESH_RELAY_NETWORK_TCP_LISTEN_ADDR"'
check "logs --set as the source" log_has "$O.err" relay.max_circuits 77 --set
check "the token's source is logged, never the token" \
    log_has "$O.err" auth.auth_token '"(secret, not logged)"' '"environment MESH_RELAY_AUTH_AUTH_TOKEN"'
check "the token appears nowhere in the output" bash -c "! grep -rqF '$TOKEN' '$O.out' '$O.err'"
check "authentication is on (from the environment)" grep -q 'Authentication required' "$O.err"
check "keys at their defaults are not listed" bash -c "! grep -q 'key=relay.max_reservations ' '$O.err'"
MPORT=$(sed -n 's|^Metrics on: http://127.0.0.1:\([0-9]*\)/metrics|\1|p' "$O.out")
check "the metrics port from --set" [ -n "$MPORT" ]

# --health-check: the relay this configuration describes answers /healthz.
run_relay "$H" "$O.hc" --set "metrics.listen_addr=/ip4/0.0.0.0/tcp/$MPORT" --health-check
check "--health-check exits 0 while the relay runs" [ $? -eq 0 ]
check "--health-check says healthy (0.0.0.0 asked on loopback)" \
    grep -q "^healthy: http://127.0.0.1:$MPORT/healthz: 200 OK" "$O.hc.out"
stop_relay "$RELAY_PID" TERM
check "the relay exits 0 on SIGTERM" [ "$STOP_RC" = 0 ]
run_relay "$H" "$O.hc" --set "metrics.listen_addr=/ip4/127.0.0.1/tcp/$MPORT" --health-check
check "--health-check exits 1 once it is gone" [ $? -eq 1 ]
check "--health-check says why" one_line_unhealthy "$O.hc.err"
run_relay "$H" "$O.hc" --set metrics.listen_addr= --health-check
check "--health-check without an HTTP server exits 1" [ $? -eq 1 ]
check "... and says there is nothing to check" grep -q 'serves no HTTP' "$O.hc.err"

# Precedence: built-in < file < environment < --set, each logged with its source.
loopback_config "$C" '[relay]' 'max_reservations = 10' 'max_circuits = 11' 'max_circuits_per_peer = 12'
MESH_RELAY_RELAY_MAX_CIRCUITS=21 MESH_RELAY_RELAY_MAX_CIRCUITS_PER_PEER=22 \
    start_relay "$H" "$O.p" --config "$C" --set relay.max_circuits_per_peer=32
check "starts with a file, the environment and --set" [ $? -eq 0 ]
P_PID=$RELAY_PID
check "file value, file source and line" log_has "$O.p.err" relay.max_reservations 10 "$C:8"
check "environment over the file" log_has "$O.p.err" relay.max_circuits 21 \
    '"environment MESH_RELAY_RELAY_MAX_CIRCUITS"'
check "--set over the environment" log_has "$O.p.err" relay.max_circuits_per_peer 32 --set

# SIGHUP: the file is re-read and the overrides still win over it.
loopback_config "$C" '[relay]' 'max_reservations = 13' 'max_circuits = 14' 'max_circuits_per_peer = 15'
kill -HUP "$P_PID"
wait_reload() {
    local i
    for i in $(seq 1 50); do
        grep -q 'Configuration reloaded' "$O.p.err" && return 0
        sleep 0.1
    done
    return 1
}
check "reloads" wait_reload
check "the file's own key changes" grep -q 'Configuration changed section=relay key=max_reservations ' "$O.p.err"
check "an overridden key does not change (environment)" \
    bash -c "! grep -q 'Configuration changed section=relay key=max_circuits ' '$O.p.err'"
check "an overridden key does not change (--set)" \
    bash -c "! grep -q 'Configuration changed section=relay key=max_circuits_per_peer ' '$O.p.err'"
check "one key applied" grep -q 'Configuration reloaded .*applied=1 ' "$O.p.err"

# A listener the environment names that cannot be bound: the message names the variable.
TAKEN=$(sed -n 's/^Listening on: \(\/ip4\/127.0.0.1\/tcp\/[0-9]*\)\/p2p.*/\1/p' "$O.p.out")
H2=$(new_home)
MESH_RELAY_NETWORK_TCP_LISTEN_ADDR=$TAKEN run_relay "$H2" "$O.inuse"
check "a taken port from the environment exits 1" [ $? -eq 1 ]
check "... naming the variable" one_line_error "$O.inuse.err" \
    "Address already in use.*this one is tcp_listen_addr = \"$TAKEN\" from the environment variable MESH_RELAY_NETWORK_TCP_LISTEN_ADDR"
stop_relay "$P_PID" TERM
check "exits 0" [ "$STOP_RC" = 0 ]

# bad DESC PATTERN [ENV=VALUE...] -- [ARGS...]: --check-config and start-up both exit 1 with
# one line matching PATTERN.
bad() {
    local desc=$1 pattern=$2 envs=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" HOME="$H" timeout -k 5 20 "$RELAY" "$@" --check-config >"$O.b.out" 2>"$O.b.err"
    check "$desc: --check-config exits 1" [ $? -eq 1 ]
    check "$desc: one line naming the problem" only_line_error "$O.b.err" "$pattern"
    env "${envs[@]}" HOME="$H" timeout -k 5 20 "$RELAY" "$@" >"$O.b.out" 2>"$O.b.err"
    check "$desc: start-up exits 1" [ $? -eq 1 ]
    check "$desc: start-up gives the same line" one_line_error "$O.b.err" "$pattern"
}
bad "a misspelt variable" \
    "environment MESH_RELAY_RELAY_MAX_RESERVATION: no such configuration key \(did you mean MESH_RELAY_RELAY_MAX_RESERVATIONS" \
    MESH_RELAY_RELAY_MAX_RESERVATION=5 --
bad "out of range from the environment" \
    "environment MESH_RELAY_RELAY_MAX_RESERVATIONS: \[relay\] max_reservations = 0 is out of range \(allowed 1\.\.1000000\)" \
    MESH_RELAY_RELAY_MAX_RESERVATIONS=0 --
bad "not an integer from --set" \
    "--set relay.max_circuits: \[relay\] max_circuits must be an integer, got \"many\"" \
    -- --set relay.max_circuits=many
bad "a bad external address from the environment" \
    "environment MESH_RELAY_NETWORK_EXTERNAL_ADDRS: \[network\] external_addrs: \"/dns4/x.example/tcp/1/p2p/12D3KooW\" is not a valid multiaddr" \
    MESH_RELAY_NETWORK_EXTERNAL_ADDRS=/dns4/ok.example/tcp/1,/dns4/x.example/tcp/1/p2p/12D3KooW --
bad "an unknown --set key" \
    "--set relay.max_circuit: unknown key 'max_circuit' in \[relay\] \(did you mean 'max_circuits'\?\)" \
    -- --set relay.max_circuit=3
bad "auth on with the default token, from the environment" \
    "environment MESH_RELAY_AUTH_AUTH_ENABLED: \[auth\] auth_enabled = true with the default auth_token" \
    MESH_RELAY_AUTH_AUTH_ENABLED=true --
# MESH_RELAY_CONFIG names the file when there is no --config (a container's own file), and
# must exist like --config's.
loopback_config "$C" '[relay]' 'max_circuits = 41'
MESH_RELAY_CONFIG=$C run_relay "$H" "$O.cp" --check-config
check "MESH_RELAY_CONFIG names the file, and the overrides are counted" \
    grep -qE "^Configuration OK: $C \(and 5 keys from the environment or --set\)\$" "$O.cp.out"
MESH_RELAY_CONFIG=$C run_relay "$H" "$O.cp" --check-config --config /nonexistent/r.toml
check "--config wins over MESH_RELAY_CONFIG" one_line_error "$O.cp.err" "not found: /nonexistent/r.toml"
MESH_RELAY_CONFIG=$TMP_ROOT/missing.toml run_relay "$H" "$O.cp" --check-config
check "a MESH_RELAY_CONFIG that does not exist is an error" \
    one_line_error "$O.cp.err" "Configuration file not found: $TMP_ROOT/missing.toml"
# A Kubernetes Service named mesh-relay-0 puts service links into the pod: not keys, not errors.
MESH_RELAY_0_SERVICE_HOST=10.0.0.1 MESH_RELAY_0_PORT_4001_TCP=tcp://10.0.0.1:4001 \
    run_relay "$H" "$O.sl" --check-config
check "service-link variables are left alone" [ $? -eq 0 ]

run_relay "$H" "$O.u" --set relay
check "--set without section.key=value is a usage error (exit 2)" [ $? -eq 2 ]

finish
