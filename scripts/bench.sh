#!/usr/bin/env bash
# bench.sh: build and run the benchmarks, write bench/RESULTS.md (run by `make bench`).
#
# Four relays side by side, each started fresh for each run, listening on 127.0.0.1 TCP and QUIC
# (port 0), pinned to core 1 (`taskset -c 1`) while the load generators, all from our library,
# run on core 0:
#   ours  build/relay-server (the [relay] limits off, connection caps raised)
#   go    go-libp2p v0.52.0 with its circuit v2 relay service (bench/relays/go)
#   rust  rust-libp2p 0.57.1, the relay-server example's behaviours (bench/relays/rust)
#   js    js-libp2p 3.x with @libp2p/circuit-relay-v2 (bench/js_relay.mjs)
# Measures (each run BENCH_RUNS times, 3 by default; the report shows the median run):
#   1. new connections per second, TCP and QUIC (bench/bench_connect, churn);
#   2. memory per idle connection at 1k and 10k and the connection rate while they accumulate
#      (bench_connect, hold);
#   3. circuit setup latency, new and refreshed reservations per second (bench/bench_circuit);
#   4. throughput through one circuit, TCP-TCP, QUIC-QUIC, TCP-QUIC (build/test_client --send);
#   5. many circuits at once: 100 and 1000 circuits each moving a little data, a ping through
#      another circuit during the load (bench/bench_many);
#   and the ceilings: Noise and identity crypto in memory (bench_core, bench_noise), copy loops
#   (bench_copy), a direct QUIC transfer (bench_sink).
# bench/report.py turns the raw records into bench/RESULTS.md: one table per measure, a column
# per relay, the ratio ours / best other.
#
# Knobs (environment): BENCH=quick (every row once, smaller transfers: under 5 minutes),
# BENCH_RELAYS ("ours go rust js": which relays), BENCH_RUNS (3), BENCH_CONCURRENCY (dials in
# flight, 128), BENCH_SECONDS (churn window, 5), BENCH_CONNS (largest hold checkpoint, 10000),
# BENCH_HOLD_SECONDS (bound on one hold run, 150: js-libp2p accepts ever more slowly as
# connections accumulate and would need about 10 minutes to reach 10k; it is measured at the
# count it reached), BENCH_RELAY_BYTES (bytes through one circuit per run, 1 GiB),
# BENCH_CIRCUITS (sequential CONNECTs, 1000), BENCH_RESERVE_PEERS (1000), BENCH_RESERVE_SECONDS
# (3), BENCH_MANY ("100 1000": concurrent circuits), BENCH_MANY_RATE (bytes/s per circuit,
# 16384), BENCH_MANY_SECONDS (10), BENCH_MANY_TIMEOUT (bound on one bench_many run, setup
# included, 180 s; a relay that fails a count is not run at it again), BENCH_OUT (default bench/RESULTS.md; e.g. /tmp/bench.md for a
# trial run), BUILD (build directory, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
QUICK=0
[ "${BENCH:-}" = quick ] && QUICK=1
dflt() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
RELAYS=${BENCH_RELAYS:-ours go rust js}
RUNS=${BENCH_RUNS:-$(dflt 3 1)}
CONC=${BENCH_CONCURRENCY:-128}
SECS=${BENCH_SECONDS:-$(dflt 5 2)}
CONNS=${BENCH_CONNS:-10000}
HOLD_MAX=${BENCH_HOLD_SECONDS:-$(dflt 150 12)}
SETTLE_MS=$(dflt 2000 1000)
RELAY_BYTES=${BENCH_RELAY_BYTES:-$(dflt 1073741824 134217728)}
NCIRCUITS=${BENCH_CIRCUITS:-$(dflt 1000 200)}
RES_PEERS=${BENCH_RESERVE_PEERS:-$(dflt 1000 200)}
RES_SECS=${BENCH_RESERVE_SECONDS:-$(dflt 3 2)}
MANY=${BENCH_MANY-100 1000}
MANY_RATE=${BENCH_MANY_RATE:-16384}
MANY_SECS=${BENCH_MANY_SECONDS:-$(dflt 10 3)}
MANY_TIMEOUT=${BENCH_MANY_TIMEOUT:-$(dflt 180 20)}
out=${BENCH_OUT:-bench/RESULTS.md}

t_log0=$(date +%s)
log() { echo "bench: [$(($(date +%s) - t_log0)) s] $*" >&2; }
# The field |key| of a "word key=value ..." record line.
field() { awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit }}' <<<"$1"; }
calc() {
    local fmt=$1 expr=$2
    shift 2
    awk "$@" "BEGIN { printf \"$fmt\", $expr }"
}

command -v python3 >/dev/null || {
    echo "bench.sh: python3 is needed for the report (scripts/deps.sh test installs it)" >&2
    exit 1
}
cmake --build "$BUILD" -j "$(nproc)" --target relay-server bench_core bench_noise bench_connect \
    bench_circuit bench_copy bench_sink bench_many test_client >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rly-bench.XXXXXX")
raw=$tmp/raw
mkdir -p "$raw"
server_pid=
server_ma=
server_qma=
listener_pid=
listener_id=
cleanup() {
    stop_listener 2>/dev/null || true
    stop_server 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- CPU placement and limits ---------------------------------------------------------------
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    SRV_PIN=(taskset -c 1)
    CLI_PIN=(taskset -c 0)
    placement="relay pinned to core 1 (taskset -c 1), load generators to core 0 (taskset -c 0)"
else
    SRV_PIN=()
    CLI_PIN=()
    placement="not pinned (fewer than 2 cores or no taskset): relay and load generators share the CPU"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fdlim=$(ulimit -n)
if [ "$fdlim" != unlimited ] && [ "$CONNS" -gt $((fdlim - 200)) ]; then
    CONNS=$((fdlim - 200))
    log "open-file limit $fdlim: largest checkpoint lowered to $CONNS"
fi
CP1=1000
[ "$CONNS" -gt "$CP1" ] || CP1=$((CONNS / 10))

# ---- the relays --------------------------------------------------------------------------------
# Each relay's status: "ok" or why it is not measured; its version line for the report.
declare -A status version many_failed
go_bin=
rust_bin=
prepare_relays() {
    local k
    for k in $RELAYS; do
        case $k in
        ours)
            status[$k]=ok
            version[$k]="build/relay-server, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
            ;;
        go)
            if ! command -v go >/dev/null; then
                status[$k]="skipped (no go on PATH)"
            elif go_bin=$(bench/relays/go/build.sh | tail -n1) && [ -x "$go_bin" ]; then
                status[$k]=ok
                version[$k]="go-libp2p $(awk '$1 == "github.com/libp2p/go-libp2p" {print $2}' bench/relays/go/go.mod), $(go version | awk '{print $3}')"
            else
                status[$k]="skipped (bench/relays/go/build.sh failed)"
            fi
            ;;
        rust)
            if ! command -v cargo >/dev/null; then
                status[$k]="skipped (no cargo on PATH)"
            elif rust_bin=$(bench/relays/rust/build.sh | tail -n1) && [ -x "$rust_bin" ]; then
                status[$k]=ok
                version[$k]="rust-libp2p $(sed -n 's/^libp2p = .*version = "=\([0-9.]*\)".*/\1/p' bench/relays/rust/Cargo.toml), $(rustc --version | awk '{print $2}')"
            else
                status[$k]="skipped (bench/relays/rust/build.sh failed)"
            fi
            ;;
        js)
            if ! command -v node >/dev/null; then
                status[$k]="skipped (node not found; scripts/deps.sh test installs it)"
            elif tests/interop/run.sh --deps >&2; then
                status[$k]=ok
                version[$k]="js-libp2p $(sed -n 's/.*"version": "\(.*\)".*/\1/p' tests/interop/node_modules/libp2p/package.json | head -1), node $(node --version)"
            else
                status[$k]="skipped (tests/interop/run.sh --deps failed)"
            fi
            ;;
        *)
            echo "bench.sh: unknown relay '$k' in BENCH_RELAYS (ours go rust js)" >&2
            exit 2
            ;;
        esac
        log "$k: ${status[$k]}"
    done
}

# wait_listen FILE PID KIND (tcp|quic): the multiaddr of the first "Listening on:
# /ip4/127.0.0.1/tcp/..." (or ".../udp/<port>/quic-v1/...") line of FILE (bounded, 30 s).
wait_listen() {
    local i ma pat='^Listening on: /ip4/127\.0\.0\.1/tcp/'
    [ "$3" = quic ] && pat='^Listening on: /ip4/127\.0\.0\.1/udp/[0-9]+/quic-v1/'
    for i in $(seq 1 300); do
        ma=$(grep -m1 -E "$pat" "$1" 2>/dev/null | awk '{print $3}' || true)
        if [ -n "$ma" ]; then
            echo "$ma"
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# launch NAME CMD...: start a server in the background (pinned), wait for its "Listening on:"
# lines; sets server_pid, server_ma (TCP) and server_qma (QUIC).
launch() {
    local name=$1
    shift
    "${SRV_PIN[@]}" "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    server_ma=$(wait_listen "$tmp/server.out" "$server_pid" tcp) &&
        server_qma=$(wait_listen "$tmp/server.out" "$server_pid" quic) || {
        log "$name did not start:"
        cat "$tmp/server.out" "$tmp/server.err" >&2
        return 1
    }
}

# Our relay: loopback TCP and QUIC on port 0, connection caps raised (every dial comes from
# 127.0.0.1), the circuit limits off, warn-level logs.
relay_config() {
    mkdir -p "$tmp/home"
    cat >"$1" <<EOF
[relay]
max_reservations = 1000000
max_reservations_per_peer = 1000
max_circuits_per_peer = 100000
max_circuits = 1000000
max_circuit_duration_secs = 0
max_circuit_bytes = 0

[network]
tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"
tcp_listen_addr_v6 = ""
quic_listen_addr = "/ip4/127.0.0.1/udp/0/quic-v1"
quic_listen_addr_v6 = ""
max_connections = 20000
max_pending_handshakes = 4096
max_pending_handshakes_per_ip = 4096

[metrics]
listen_addr = "/ip4/127.0.0.1/tcp/0"

[limits]
exempt_cidrs = ["127.0.0.0/8", "::1"]

[logging]
level = "warn"
EOF
}

# start_server KIND: a fresh relay of that kind.
start_server() {
    case $1 in
    ours)
        relay_config "$tmp/relay.toml"
        HOME="$tmp/home" launch relay-server "$BUILD/relay-server" --config "$tmp/relay.toml"
        ;;
    go) launch go-relay "$go_bin" ;;
    rust) launch rust-relay "$rust_bin" ;;
    js) launch js_relay.mjs node bench/js_relay.mjs --quic ;;
    esac
}

# stop_server: SIGTERM to the server we started, SIGKILL after 15 s.
stop_server() {
    [ -n "$server_pid" ] || return 0
    local i
    kill -TERM "$server_pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

stop_listener() {
    [ -n "$listener_pid" ] || return 0
    kill -TERM "$listener_pid" 2>/dev/null || true
    wait "$listener_pid" 2>/dev/null || true
    listener_pid=
}

# tool NAME PROGRAM ARGS...: a load generator on core 0; its output in $raw/NAME (appended).
tool() {
    local name=$1 prog=$2
    shift 2
    "${CLI_PIN[@]}" "$prog" "$@" >>"$raw/$name" 2>"$tmp/tool.err" || {
        log "$(basename "$prog") ($name) failed:"
        cat "$tmp/tool.err" >&2
        return 1
    }
}

# utime + stime of PID in clock ticks; "busy total" ticks of cpu N from /proc/stat.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
# Datagrams received, dropped for a full receive buffer, refused for a full send buffer
# (/proc/net/snmp, machine-wide).
udp_counters() {
    awk '$1 == "Udp:" { if (!n++) { for (i = 2; i <= NF; i++) k[$i] = i } else { print $k["InDatagrams"], $k["RcvbufErrors"], $k["SndbufErrors"]; exit } }' /proc/net/snmp
}
udp_delta() {
    local a0 a1 a2 b0 b1 b2
    read -r a0 a1 a2 <<<"$1"
    read -r b0 b1 b2 <<<"$2"
    echo "udp_in=$((b0 - a0)) udp_rcvbuf_drops=$((b1 - a1)) udp_sndbuf_full=$((b2 - a2))"
}

# start_listener RELAY_MA: a listening test_client (a fresh identity) reserving on the relay
# (TCP or QUIC address) and serving the sink protocol; sets listener_pid and listener_id.
start_listener() {
    local i
    "${CLI_PIN[@]}" "$BUILD/test_client" --relay "$1" >"$tmp/listener" 2>&1 &
    listener_pid=$!
    for i in $(seq 1 300); do
        grep -q '^listening on ' "$tmp/listener" && break
        kill -0 "$listener_pid" 2>/dev/null || break
        sleep 0.1
    done
    listener_id=$(sed -n 's/^local peer_id=//p' "$tmp/listener")
    grep -q '^listening on ' "$tmp/listener" || {
        log "the listening test_client did not reserve:"
        cat "$tmp/listener" >&2
        return 1
    }
}

# tput NAME BYTES ARGS...: one transfer `test_client ARGS... --send BYTES` (core 0) into a sink;
# appends to $raw/NAME "tput mbps= seconds= bytes= server_cpu_s= server_cpu_util= client_cpu_s=
# core0_util= core1_util= udp_in= udp_rcvbuf_drops= udp_sndbuf_full=": the server's CPU time
# (/proc), the clients' (the sender's from `times`, the listener's from /proc), core use from
# /proc/stat, the UDP counters.
tput() {
    local name=$1 bytes=$2 c0 c1 l0 l1 a0 a1 a2 a3 b0 b1 b2 b3 u0 u1 line secs hz snd
    shift 2
    hz=$(getconf CLK_TCK)
    c0=$(proc_ticks "$server_pid")
    l0=0
    [ -z "$listener_pid" ] || l0=$(proc_ticks "$listener_pid")
    read -r a0 a1 < <(cpu_ticks 0)
    read -r b0 b1 < <(cpu_ticks 1)
    u0=$(udp_counters)
    ("${CLI_PIN[@]}" "$BUILD/test_client" "$@" --send "$bytes" --timeout 600 \
        >"$tmp/sender" 2>&1 && times >"$tmp/times") || {
        log "test_client --send ($name) failed:"
        cat "$tmp/sender" >&2
        return 1
    }
    c1=$(proc_ticks "$server_pid")
    l1=0
    [ -z "$listener_pid" ] || l1=$(proc_ticks "$listener_pid")
    read -r a2 a3 < <(cpu_ticks 0)
    read -r b2 b3 < <(cpu_ticks 1)
    u1=$(udp_counters)
    # `times`, second line: the children's user and system time, "1m2.345s 0m0.678s"
    snd=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } print t }' "$tmp/times")
    line=$(grep -m1 '^sent bytes=' "$tmp/sender")
    secs=$(field "$line" seconds)
    echo "tput mbps=$(field "$line" mbps) seconds=$secs bytes=$(field "$line" bytes)" \
        "server_cpu_s=$(calc %.2f '(b - a) / hz' -v a="$c0" -v b="$c1" -v hz="$hz")" \
        "server_cpu_util=$(calc %.2f '(b - a) / hz / s' -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs")" \
        "client_cpu_s=$(calc %.2f 'x + (b - a) / hz' -v x="$snd" -v a="$l0" -v b="$l1" -v hz="$hz")" \
        "core0_util=$(calc %.2f '(b - a) / (d - c)' -v a="$a0" -v b="$a2" -v c="$a1" -v d="$a3")" \
        "core1_util=$(calc %.2f '(b - a) / (d - c)' -v a="$b0" -v b="$b2" -v c="$b1" -v d="$b3")" \
        "$(udp_delta "$u0" "$u1")" >>"$raw/$name"
}

# ---- the measures --------------------------------------------------------------------------------
# Every measure of one relay: RUNS runs each, a fresh relay for each run (the three transfers
# of a run share one).
bench_kind() {
    local k=$1 run n u0
    for run in $(seq 1 "$RUNS"); do
        log "$k, run $run/$RUNS: new TCP connections per second"
        start_server "$k"
        tool "$k.churn" "$BUILD/bench/bench_connect" --dial "$server_ma" --server-pid "$server_pid" \
            --concurrency "$CONC" --mode churn --warmup 1 --duration "$SECS" --peers 1000 --timeout 120
        stop_server

        log "$k, run $run/$RUNS: new QUIC connections per second"
        start_server "$k"
        u0=$(udp_counters)
        tool "$k.qchurn" "$BUILD/bench/bench_connect" --dial "$server_qma" --server-pid "$server_pid" \
            --concurrency "$CONC" --mode churn --warmup 1 --warmup-all-peers --ping \
            --duration "$SECS" --peers 1000 --timeout 120
        echo "udp $(udp_delta "$u0" "$(udp_counters)")" >>"$raw/$k.qchurn"
        stop_server

        log "$k, run $run/$RUNS: memory with $CP1 and $CONNS idle connections"
        start_server "$k"
        tool "$k.hold" "$BUILD/bench/bench_connect" --dial "$server_ma" --server-pid "$server_pid" \
            --concurrency "$CONC" --mode hold --checkpoints "$CP1,$CONNS" --settle-ms "$SETTLE_MS" \
            --peers "$CONNS" --timeout $((HOLD_MAX + 300)) --hold-max-seconds "$HOLD_MAX"
        echo "end run=$run" >>"$raw/$k.hold"
        stop_server

        log "$k, run $run/$RUNS: circuit setup ($NCIRCUITS CONNECTs), reservations ($RES_PEERS peers)"
        start_server "$k"
        tool "$k.circuit" "$BUILD/bench/bench_circuit" --relay "$server_ma" --server-pid "$server_pid" \
            --circuits "$NCIRCUITS" --reserve-peers "$RES_PEERS" --reserve-seconds "$RES_SECS" --timeout 300
        stop_server

        log "$k, run $run/$RUNS: $RELAY_BYTES bytes through one circuit, TCP-TCP, QUIC-QUIC, TCP-QUIC"
        start_server "$k"
        start_listener "$server_ma"
        tput "$k.tt" "$RELAY_BYTES" --relay "$server_ma" --dial "$listener_id"
        stop_listener
        start_listener "$server_qma"
        tput "$k.qq" "$RELAY_BYTES" --relay "$server_qma" --dial "$listener_id"
        tput "$k.tq" "$RELAY_BYTES" --relay "$server_ma" --dial "$listener_id"
        stop_listener
        stop_server

        for n in $MANY; do
            # a relay that could not carry N circuits once is not asked again (its record says how
            # far it got); bounded: setup of 1000 circuits takes seconds on the others
            if [ -n "${many_failed[$k.$n]:-}" ]; then
                log "$k, run $run/$RUNS: $n circuits at once: skipped (failed in run ${many_failed[$k.$n]})"
                continue
            fi
            log "$k, run $run/$RUNS: $n circuits at once, $MANY_RATE bytes/s each"
            start_server "$k"
            tool "$k.many$n" "$BUILD/bench/bench_many" --relay "$server_ma" --server-pid "$server_pid" \
                --circuits "$n" --rate "$MANY_RATE" --seconds "$MANY_SECS" --pings 20 --timeout "$MANY_TIMEOUT" ||
                many_failed[$k.$n]=$run
            stop_server
        done
    done
}

# The ceilings: the crypto in memory, copy loops on real sockets, a direct QUIC transfer.
bench_ceilings() {
    local run pin=("${SRV_PIN[@]}")
    log "bench_core, bench_noise"
    "$BUILD/bench/bench_core" >"$tmp/core.md"
    "${SRV_PIN[@]}" "$BUILD/bench/bench_noise" >"$tmp/noise.md"
    for run in $(seq 1 "$RUNS"); do
        log "ceilings, run $run/$RUNS: copy loops, direct QUIC"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" >>"$raw/copy.plain"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --noise >>"$raw/copy.noise"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --noise --e2e >>"$raw/copy.e2e"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --crypto >>"$raw/copy.crypto"
        # the direct QUIC transfer with both ends on core 0, where a circuit's two clients run
        SRV_PIN=("${CLI_PIN[@]}")
        launch bench_sink "$BUILD/bench/bench_sink" --listen /ip4/127.0.0.1/tcp/0 \
            --listen /ip4/127.0.0.1/udp/0/quic-v1
        SRV_PIN=("${pin[@]}")
        tput direct.quic "$RELAY_BYTES" --dial "$server_qma"
        tput direct.tcp "$RELAY_BYTES" --dial "$server_ma"
        stop_server
    done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# CPU time the hypervisor took from this machine (/proc/stat "steal", all cores) and all CPU time:
# on a shared host stolen time slows relays and load generators alike and moves every number
cpu_steal() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
read -r steal0 cputot0 < <(cpu_steal)
t_start=$(date +%s)
prepare_relays
bench_ceilings
for k in $RELAYS; do
    [ "${status[$k]}" = ok ] || continue
    bench_kind "$k"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r steal1 cputot1 < <(cpu_steal)

# ---- the report ----------------------------------------------------------------------------------
{
    echo "date=$(date -u '+%Y-%m-%d at %H:%M UTC')"
    echo "cpu=$ncpu cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "ram=$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)"
    echo "fdlim=$fdlim"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -z "$(git status --porcelain -- src CMakeLists.txt 2>/dev/null)" ] || echo ' with uncommitted changes in src/')"
    echo "openssl=$(openssl version 2>/dev/null | cut -d' ' -f1-2)"
    echo "libuv=$(pkg-config --modversion libuv 2>/dev/null || echo '?')"
    echo "invocation=$(env | grep -E '^BENCH(_[A-Z_]+)?=' | sort | tr '\n' ' ' || true)make bench"
    echo "seconds=$(($(date +%s) - t_start))"
    echo "load_before=$load_before"
    echo "load_after=$load_after"
    echo "steal=$(calc '%.1f %% of the CPU time (%.0f s)' '(b - a) * 100 / (d - c), (b - a) / hz' -v a="$steal0" -v b="$steal1" -v c="$cputot0" -v d="$cputot1" -v hz="$(getconf CLK_TCK)")"
    echo "placement=$placement"
    echo "quick=$QUICK"
    echo "relays=$RELAYS"
    echo "runs=$RUNS"
    echo "conc=$CONC"
    echo "secs=$SECS"
    echo "conns=$CONNS"
    echo "cp1=$CP1"
    echo "hold_max=$HOLD_MAX"
    echo "settle_ms=$SETTLE_MS"
    echo "relay_bytes=$RELAY_BYTES"
    echo "ncircuits=$NCIRCUITS"
    echo "res_peers=$RES_PEERS"
    echo "res_secs=$RES_SECS"
    echo "many=$MANY"
    echo "many_rate=$MANY_RATE"
    echo "many_secs=$MANY_SECS"
    for k in $RELAYS; do
        echo "status.$k=${status[$k]}"
        echo "version.$k=${version[$k]:-}"
    done
} >"$tmp/meta"
python3 bench/report.py "$tmp" >"$out"
log "wrote $out"
