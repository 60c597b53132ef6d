#!/usr/bin/env bash
# run.sh: the Prometheus deployment suite (issue 14): deploy/prometheus/ (alerts.yml, its unit
# tests alerts.test.yml, the example scrape configurations) and deploy/grafana/mesh-relay.json,
# checked with the real Prometheus and promtool of Debian's `prometheus` package (installed with
# apt when missing, as root). scripts/interop.sh (`make interop`) runs it with RLY_BUILD_DIR,
# RLY_SOURCE_DIR and RLY_CACHE_DIR set; by hand, from the repository after `make`:
#
#   tests/deploy/prometheus/run.sh
#
# 1. promtool check rules alerts.yml, promtool test rules alerts.test.yml, promtool check config
#    on the example, and the dashboard's model (check.py dashboard).
# 2. A relay on loopback (port 0, [metrics] on a port 0 too, max_reservations 50, max_circuits
#    200), and Prometheus (the binary, not a service: its own data directory and a free loopback
#    port) scraping it every second with deploy/prometheus/prometheus.yml (target replaced) plus
#    the job of prometheus-kubernetes.yml fed one static target with Kubernetes' pod labels, and
#    loading alerts.yml.
# 3. Real circuits while it scrapes: test_client (C) and js-libp2p (tests/interop/tools/peer.mjs)
#    peers reserve over TCP and QUIC and relay to each other (C to js, js to C, C to C over QUIC),
#    two CONNECTs to a peer without a reservation are refused (NO_RESERVATION) and a garbage TCP
#    handshake fails. `promtool check metrics` must find nothing to say about the relay's /metrics.
# 4. check.py live requires: both targets up, every rule loaded and evaluated without error
#    (MeshRelayDown and MeshRelayTargetMissing inactive), the traffic visible in Prometheus (also
#    as rates), and data, not NaN, from every PromQL expression of the dashboard and from each
#    operand of every alert condition (the sides of its comparisons and set operators: a
#    condition's own result is empty while it does not fire, so that alone would prove nothing).
#
# Exits 0 when all of it passes. Every wait is bounded; only the processes it started are
# stopped, by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
prom_dir=$RLY_SOURCE_DIR/deploy/prometheus
dashboard=$RLY_SOURCE_DIR/deploy/grafana/mesh-relay.json
check=$here/check.py
peer_js=$RLY_SOURCE_DIR/tests/interop/tools/peer.mjs
client=$RLY_BUILD_DIR/test_client
say() { echo "prometheus: $*"; }
fail() {
    echo "prometheus: FAIL: $*" >&2
    exit 1
}

[ -x "$RLY_BUILD_DIR/relay-server" ] || fail "no $RLY_BUILD_DIR/relay-server (run make first)"
[ -x "$client" ] || fail "no $client (run make first)"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    [ "$(id -u)" -eq 0 ] || fail "no prometheus or promtool: apt-get install prometheus (as root)"
    say "installing prometheus (Debian)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
        >/dev/null
fi
say "$(prometheus --version 2>&1 | head -n 1)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rly-prometheus.XXXXXX")
pids=()
cleanup() { # the processes it started that still run (a PID already waited for may be reused)
    local p live=()
    for p in $(jobs -pr); do
        [[ " ${pids[*]} " == *" $p "* ]] && live+=("$p")
    done
    for p in "${live[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${live[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # (so that a timeout's SIGTERM runs the cleanup too)
# show FILE...: the tail of each file (after a failure).
show() {
    local f
    for f in "$@"; do
        echo "  --- $f" >&2
        tail -n 30 "$f" 2>/dev/null | sed 's/^/  | /' >&2 || true
    done
}
# wait_line FILE REGEX SECS PID: until a line of FILE matches, PID still running.
wait_line() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---- 1. the artefacts, statically ---------------------------------------------------------------
t0=$SECONDS
promtool check rules "$prom_dir/alerts.yml" || fail "promtool check rules alerts.yml"
(cd "$prom_dir" && promtool test rules alerts.test.yml) ||
    fail "promtool test rules alerts.test.yml"
promtool check config "$prom_dir/prometheus.yml" || fail "promtool check config prometheus.yml"
python3 "$check" dashboard "$dashboard" >"$tmp/dashboard.txt" || {
    grep -v '^ok ' "$tmp/dashboard.txt" >&2
    fail "the dashboard's model (deploy/grafana/mesh-relay.json)"
}
say "$(tail -n 1 "$tmp/dashboard.txt") in the dashboard's model"
"$RLY_SOURCE_DIR/tests/interop/run.sh" --deps || fail "npm ci in tests/interop (the js-libp2p peer)"
say "static checks and node_modules in $((SECONDS - t0)) s"

# ---- 2. a relay, and Prometheus scraping it from before the traffic on ---------------------------
t0=$SECONDS
mkdir -p "$tmp/home"
export HOME=$tmp/home # the relay's and the clients' identities
cat >"$tmp/relay.toml" <<'EOF'
[relay]
max_reservations = 50
max_circuits = 200

[network]
tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"
tcp_listen_addr_v6 = ""
quic_listen_addr = "/ip4/127.0.0.1/udp/0/quic-v1"
quic_listen_addr_v6 = ""
shutdown_grace_secs = 1

[metrics]
listen_addr = "/ip4/127.0.0.1/tcp/0"
EOF
"$RLY_BUILD_DIR/relay-server" --config "$tmp/relay.toml" >"$tmp/relay.out" 2>"$tmp/relay.err" &
relay_pid=$!
pids+=("$relay_pid")
wait_line "$tmp/relay.out" '^Metrics on: ' 15 "$relay_pid" ||
    { show "$tmp/relay.out" "$tmp/relay.err"; fail "the relay did not start"; }
tcp=$(sed -n 's|^Listening on: \(/ip4/127\.0\.0\.1/tcp/.*\)|\1|p' "$tmp/relay.out" | head -n 1)
quic=$(sed -n 's|^Listening on: \(/ip4/.*/quic-v1/.*\)|\1|p' "$tmp/relay.out" | head -n 1)
metrics=$(sed -n 's|^Metrics on: http://\(127\.0\.0\.1:[0-9]*\)/metrics$|\1|p' "$tmp/relay.out")
[ -n "$tcp" ] && [ -n "$quic" ] && [ -n "$metrics" ] ||
    { show "$tmp/relay.out"; fail "no TCP, QUIC or metrics address in the banner"; }

t0=$SECONDS
cp "$prom_dir/alerts.yml" "$tmp/alerts.yml" # rule_files is relative to the configuration
python3 "$check" config "$prom_dir/prometheus.yml" "$prom_dir/prometheus-kubernetes.yml" \
    "$tmp/prometheus.yml" "$metrics" || fail "could not make the test configuration of the examples"
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config (test's)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$port" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
url=http://127.0.0.1:$port
ready=0
for _ in $(seq 1 150); do
    kill -0 "$prom_pid" 2>/dev/null || break
    if python3 "$check" get "$url/-/ready" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.2
done
[ "$ready" = 1 ] || { show "$tmp/prometheus.log"; fail "Prometheus did not become ready on $url"; }
# (its scrape manager takes the targets a few seconds after it is ready)
python3 "$check" wait "$url" \
    'up{job="mesh-relay"} == 1 and on (instance) up{job="mesh-relay-k8s"} == 1' ||
    { show "$tmp/prometheus.log"; fail "Prometheus did not scrape the relay"; }
say "Prometheus on $url scraping the relay in $((SECONDS - t0)) s"

# ---- 3. the traffic ------------------------------------------------------------------------------
t0=$SECONDS
# listeners: A (C, TCP) and J (js-libp2p, QUIC)
"$client" --relay "$tcp" >"$tmp/a.out" 2>"$tmp/a.err" &
pids+=($!)
wait_line "$tmp/a.out" '^listening on ' 15 $! ||
    { show "$tmp/a.out" "$tmp/a.err"; fail "the C listener did not reserve"; }
A=$(sed -n 's/^local peer_id=//p' "$tmp/a.out")
node "$peer_js" --relay "$quic" >"$tmp/j.out" 2>"$tmp/j.err" &
pids+=($!)
wait_line "$tmp/j.out" '"event":"listening"' 30 $! ||
    { show "$tmp/j.out" "$tmp/j.err"; fail "the js listener did not reserve"; }
J=$(sed -n 's/.*"event":"started".*"peer_id":"\([^"]*\)".*/\1/p' "$tmp/j.out" | head -n 1)
grep -q '"impl":"js"' "$tmp/j.out" || fail "the js peer did not say it is js-libp2p"
[ -n "$A" ] && [ -n "$J" ] || fail "no PeerId for a listener (A=$A J=$J)"

# the circuits and the refusals, side by side; each bounded
nobody=12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA # holds no reservation
bg_pids=() bg_names=() bg_want=()
run() { # run NAME WANT_EXIT CMD...: in the background, bounded; NAME.out, NAME.err
    bg_names+=("$1")
    bg_want+=("$2")
    shift 2
    timeout -k 5 40 "$@" >"$tmp/${bg_names[-1]}.out" 2>"$tmp/${bg_names[-1]}.err" &
    bg_pids+=($!)
    pids+=($!)
}
run c-to-js 0 "$client" --relay "$tcp" --dial "$J" --echo-bytes 65536
run js-to-c 0 node "$peer_js" --relay "$tcp" --dial "$A" --echo-bytes 65536
run c-to-c-quic 0 "$client" --relay "$quic" --dial "$A" --send 100000
run c-refused 4 "$client" --relay "$tcp" --dial "$nobody" --ping 1
run js-refused 4 node "$peer_js" --relay "$tcp" --dial "$nobody" --ping 1
# not libp2p: the relay counts a failed TCP handshake
timeout -k 2 5 bash -c \
    'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "not libp2p\n" >&3 && cat <&3 >/dev/null' \
    "$(sed -n 's|.*/tcp/\([0-9]*\)/.*|\1|p' <<<"$tcp")" || true
for i in "${!bg_pids[@]}"; do
    rc=0
    wait "${bg_pids[$i]}" || rc=$?
    name=${bg_names[$i]}
    [ "$rc" = "${bg_want[$i]}" ] ||
        { show "$tmp/$name.out" "$tmp/$name.err"; fail "$name: exit $rc, expected ${bg_want[$i]}"; }
done
grep -q '"event":"echo".*"ok":true' "$tmp/js-to-c.out" || fail "js-to-c: no good echo"
grep -q '"status":"NO_RESERVATION"' "$tmp/js-refused.out" || fail "js-refused: not NO_RESERVATION"
say "circuits C->js, js->C, C->C (QUIC), two refusals in $((SECONDS - t0)) s"

python3 "$check" get "http://$metrics/metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
# (a lint problem: exit 3 and a line; any line fails the test too)
if ! promtool check metrics <"$tmp/metrics.txt" >"$tmp/lint.txt" 2>&1 || [ -s "$tmp/lint.txt" ]
then
    cat "$tmp/lint.txt" >&2
    fail "promtool check metrics on the relay's /metrics"
fi
say "promtool check metrics: $(grep -vc '^#' "$tmp/metrics.txt") samples, nothing to say"

# ---- 4. what Prometheus has ---------------------------------------------------------------------
t0=$SECONDS
job='job="mesh-relay"'
expects=(
    "libp2p_relaysvc_connections_total{$job,type=\"opened\"} >= 3"
    "libp2p_relaysvc_connection_rejections_total{$job,reason=\"no reservation\"} >= 2"
    "libp2p_relaysvc_data_transferred_bytes_total{$job} >= 300000"
    "mesh_relay_reservations{$job} >= 2"
    "mesh_relay_connections_total{$job,transport=\"quic\",type=\"opened\"} >= 2"
    "mesh_relay_tcp_handshake_failures_total{$job} >= 1"
    "mesh_relay_reservations_limit{$job} == 50"
    "mesh_relay_circuits_limit{$job} == 200"
    # the scrapes saw the counters move: the dashboard's rates are not all zero
    "rate(libp2p_relaysvc_data_transferred_bytes_total{$job}[1m]) > 0"
    "rate(libp2p_relaysvc_connection_duration_seconds_count{$job}[1m]) > 0"
    # at least 10 s of scrapes, so that the 1m rate windows hold many samples
    "count_over_time(up{$job}[1m]) >= 10"
)
rc=0
python3 "$check" live "$url" "$dashboard" "$prom_dir/alerts.yml" "${expects[@]}" \
    >"$tmp/live.txt" || rc=$?
cat "$tmp/live.txt"
say "live checks in $((SECONDS - t0)) s: $(tail -n 1 "$tmp/live.txt")"
if [ "$rc" -ne 0 ]; then
    show "$tmp/prometheus.log"
    fail "the live checks"
fi
say "passed"
