#!/usr/bin/env bash
# bench.sh: build and run the benchmarks, write bench/RESULTS.md (run by `make bench`).
#
#   1. bench_core, bench_noise: micro-benchmarks (codecs, identity crypto, Noise in memory).
#   2. Connections, our relay (build/relay-server) and a js-libp2p node (bench/js_server.mjs),
#      each measured by bench/bench_connect (our library as the client):
#        - new connections per second through the full upgrade (TCP, mss, Noise XX, muxer,
#          Yamux), every connection closed once established ("churn");
#        - RSS and kernel memory per idle connection at 1k and 10k open connections ("hold").
#      The server runs on core 1 (taskset -c 1), the load generator on core 0, so the server has
#      exactly one core. Every server is started fresh, on 127.0.0.1 port 0, and stopped by PID.
#   3. Relay (skip with BENCH_SKIP_RELAY=1): our relay and a js-libp2p relay (bench/js_relay.mjs,
#      circuitRelayServer with its limits off), driven by the same C clients: throughput through
#      one circuit (build/test_client --send), circuit setup latency and reservations per second
#      (build/bench/bench_circuit); ceilings from build/bench/bench_copy (a plain copy loop, a
#      copy loop that decrypts and re-encrypts Noise frames, the same with the clients'
#      end-to-end layer, the crypto alone in memory).
#   4. QUIC (skip with BENCH_SKIP_QUIC=1): our relay and the js-libp2p nodes listening on QUIC too
#      (bench/js_server.mjs --quic, bench/js_relay.mjs --quic: @chainsafe/libp2p-quic):
#        - new QUIC connections per second (bench_connect --ping dialling
#          .../udp/<port>/quic-v1/p2p/<id>: QUIC v1 + TLS 1.3 with the libp2p certificate, both
#          sides verified, each connection confirmed by one ping), ours and js;
#        - throughput through one circuit (test_client --send; the listener reserves over QUIC):
#          QUIC-to-QUIC and TCP-to-QUIC through our relay, QUIC-to-QUIC through the js relay;
#        - the ceiling: the same transfer over one direct QUIC connection from test_client to
#          build/bench/bench_sink (our swarm serving the sink protocol), no relay.
#      Ratios and pass/fail against issue 5's targets: a QUIC-to-QUIC circuit >= 50 % of the
#      direct QUIC transfer and >= 5x the js relay over QUIC.
#
# Knobs (environment): BENCH_CONCURRENCY (dials in flight, 128), BENCH_SECONDS (churn window, 5),
# BENCH_CONNS (largest hold checkpoint, 10000), BENCH_JS_HOLD_SECONDS (bound on the js hold run,
# 600: js-libp2p accepts ever more slowly as connections accumulate and needs about 8 minutes to
# reach 10k here, so `make bench` takes about 15 minutes; a smaller bound measures js at the
# count it reached), BENCH_SKIP_JS=1 (ours only).
# Relay section: BENCH_SKIP_RELAY=1, BENCH_RELAY_BYTES (bytes through the circuit, 1 GiB),
# BENCH_CIRCUITS (sequential CONNECTs, 1000), BENCH_RESERVE_PEERS (identities, 1000),
# BENCH_RESERVE_SECONDS (refresh window, 3), BENCH_TPUT_RUNS (transfers and copy-loop runs each;
# the median by MB/s is reported, 3).
# QUIC section: BENCH_SKIP_QUIC=1, BENCH_ONLY_QUIC=1 (the QUIC section alone: skips sections 1-3),
# BENCH_QUIC_BYTES (bytes per transfer, circuits and the direct ceiling alike; default
# BENCH_RELAY_BYTES); BENCH_SECONDS, BENCH_CONCURRENCY and BENCH_TPUT_RUNS apply as above.
# BENCH_OUT: where the report goes (default bench/RESULTS.md), e.g. BENCH_OUT=/tmp/bench.md for a
# trial run that must not replace the committed results. BUILD: the build directory (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CONC=${BENCH_CONCURRENCY:-128}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-10000}
JS_HOLD_MAX=${BENCH_JS_HOLD_SECONDS:-600}
SETTLE_MS=2000
RELAY_BYTES=${BENCH_RELAY_BYTES:-1073741824}
NCIRCUITS=${BENCH_CIRCUITS:-1000}
RES_PEERS=${BENCH_RESERVE_PEERS:-1000}
RES_SECS=${BENCH_RESERVE_SECONDS:-3}
TPUT_RUNS=${BENCH_TPUT_RUNS:-3}
QUIC_BYTES=${BENCH_QUIC_BYTES:-$RELAY_BYTES}
ONLY_QUIC=${BENCH_ONLY_QUIC:-0}
out=${BENCH_OUT:-bench/RESULTS.md}

cmake --build "$BUILD" -j "$(nproc)" --target relay-server bench_core bench_noise bench_connect \
    bench_circuit bench_copy bench_sink test_client >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rly-bench.XXXXXX")
server_pid=
server_ma=
server_qma=
listener_pid=
listener_id=
cleanup() {
    stop_listener
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# The field |key| of a "word key=value ..." record line.
field() { awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit }}' <<<"$1"; }
# awk arithmetic, printed with |fmt|: calc FMT EXPR [var=value...]
calc() {
    local fmt=$1 expr=$2
    shift 2
    awk "$@" "BEGIN { v = ($expr); printf \"$fmt\", v }"
}

# ---- CPU placement and limits ---------------------------------------------------------------
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    SRV_PIN=(taskset -c 1)
    CLI_PIN=(taskset -c 0)
    placement="server pinned to core 1 (\`taskset -c 1\`), load generator to core 0 (\`taskset -c 0\`)"
else
    SRV_PIN=()
    CLI_PIN=()
    placement="not pinned (fewer than 2 cores or no taskset): server and load generator share the CPU"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fdlim=$(ulimit -n)
if [ "$fdlim" != unlimited ] && [ "$CONNS" -gt $((fdlim - 200)) ]; then
    CONNS=$((fdlim - 200))
    log "open-file limit $fdlim: largest checkpoint lowered to $CONNS"
fi
CP1=1000
[ "$CONNS" -gt "$CP1" ] || CP1=$((CONNS / 10))

# ---- servers ---------------------------------------------------------------------------------
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

# launch NAME WANT CMD...: start a server in the background (pinned), wait for its "Listening on:"
# lines; sets server_pid, server_ma (its TCP address; WANT tcp or both) and server_qma (its QUIC
# address; WANT quic or both; else empty).
launch() {
    local name=$1 want=$2
    shift 2
    "${SRV_PIN[@]}" "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    server_ma=
    server_qma=
    if [ "$want" != quic ]; then
        server_ma=$(wait_listen "$tmp/server.out" "$server_pid" tcp) || {
            log "$name did not start:"
            cat "$tmp/server.err" >&2
            return 1
        }
    fi
    if [ "$want" != tcp ]; then
        server_qma=$(wait_listen "$tmp/server.out" "$server_pid" quic) || {
            log "$name did not start on QUIC:"
            cat "$tmp/server.out" "$tmp/server.err" >&2
            return 1
        }
    fi
}

# relay_config FILE [RELAY_KEYS] [quic]: our relay on loopback port 0 with the connection limits
# raised and warn-level logs; RELAY_KEYS (text) becomes its [relay] section. With "quic" it also
# listens on QUIC (127.0.0.1, UDP port 0); the two limits apply to each transport separately.
relay_config() {
    local quic_addr=
    [ "${3:-}" = quic ] && quic_addr=/ip4/127.0.0.1/udp/0/quic-v1
    mkdir -p "$tmp/home"
    {
        if [ -n "${2:-}" ]; then printf '[relay]\n%s\n\n' "$2"; fi
        cat <<EOF
[network]
tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"
tcp_listen_addr_v6 = ""
quic_listen_addr = "$quic_addr"
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
    } >"$1"
}

# start_relay [quic], start_js [quic]: the servers of the connection benchmarks; with "quic" they
# listen on QUIC too.
start_relay() {
    local want=tcp
    [ "${1:-}" = quic ] && want=both
    relay_config "$tmp/relay.toml" "" "${1:-}"
    HOME="$tmp/home" launch relay-server $want "$BUILD/relay-server" --config "$tmp/relay.toml"
}

start_js() {
    if [ "${1:-}" = quic ]; then
        launch js_server.mjs both node bench/js_server.mjs --quic
    else
        launch js_server.mjs tcp node bench/js_server.mjs
    fi
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

# run_gen NAME MULTIADDR ARGS...: the load generator against the running server at MULTIADDR; its
# output in $tmp/NAME.
run_gen() {
    local name=$1 ma=$2
    shift 2
    "${CLI_PIN[@]}" "$BUILD/bench/bench_connect" --dial "$ma" --server-pid "$server_pid" \
        --concurrency "$CONC" "$@" >"$tmp/$name" 2>"$tmp/$name.err" || {
        log "bench_connect ($name) failed:"
        cat "$tmp/$name.err" >&2
        return 1
    }
}

# bench_server KIND (relay|js): a churn run and a hold run, each on a fresh server.
bench_server() {
    local kind=$1 hold_args=()
    [ "$kind" = js ] && hold_args=(--hold-max-seconds "$JS_HOLD_MAX" --timeout $((JS_HOLD_MAX + 120)))
    log "$kind: new connections per second (${SECS} s after 1 s of warm-up)"
    "start_$kind"
    run_gen "$kind.churn" "$server_ma" --mode churn --warmup 1 --duration "$SECS" --peers 1000 --timeout 120
    stop_server
    log "$kind: memory with $CP1 and $CONNS idle connections"
    "start_$kind"
    run_gen "$kind.hold" "$server_ma" --mode hold --checkpoints "$CP1,$CONNS" --settle-ms "$SETTLE_MS" \
        --peers "$CONNS" --timeout 300 "${hold_args[@]}"
    stop_server
}

# ---- relay benchmarks --------------------------------------------------------------------------
# start_relay_circuit [quic]: our relay with the circuit limits off ([relay] max_circuit_bytes = 0,
# max_circuit_duration_secs = 0: unlimited) and the reservation and circuit counts raised.
start_relay_circuit() {
    local want=tcp
    [ "${1:-}" = quic ] && want=both
    relay_config "$tmp/relay-circuit.toml" "max_reservations = 1000000
max_reservations_per_peer = 1000
max_circuits_per_peer = 100000
max_circuits = 1000000
max_circuit_duration_secs = 0
max_circuit_bytes = 0" "${1:-}"
    HOME="$tmp/home" launch relay-server $want "$BUILD/relay-server" --config "$tmp/relay-circuit.toml"
}

# start_js_relay [quic]
start_js_relay() {
    if [ "${1:-}" = quic ]; then
        launch js_relay.mjs both node bench/js_relay.mjs --quic
    else
        launch js_relay.mjs tcp node bench/js_relay.mjs
    fi
}

stop_listener() {
    [ -n "$listener_pid" ] || return 0
    kill -TERM "$listener_pid" 2>/dev/null || true
    wait "$listener_pid" 2>/dev/null || true
    listener_pid=
}

# utime + stime of PID in clock ticks; "busy total" ticks of cpu N from /proc/stat.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

# Deltas of the machine-wide UDP counters (/proc/net/snmp) between two `udp_counters` readings:
# datagrams received, datagrams dropped because a socket's receive buffer was full, sends refused
# because a socket's send buffer was full (our QUIC transport drops those datagrams, a loss).
udp_counters() {
    awk '$1 == "Udp:" { if (!n++) { for (i = 2; i <= NF; i++) k[$i] = i } else { print $k["InDatagrams"], $k["RcvbufErrors"], $k["SndbufErrors"]; exit } }' /proc/net/snmp
}
udp_delta() {
    local a0 a1 a2 b0 b1 b2
    read -r a0 a1 a2 <<<"$1"
    read -r b0 b1 b2 <<<"$2"
    echo "udp_in=$((b0 - a0)) udp_rcvbuf_drops=$((b1 - a1)) udp_sndbuf_full=$((b2 - a2))"
}

# start_listener NAME RELAY_MA: a listening test_client (no --name: a fresh identity) reserving on
# the relay at RELAY_MA (TCP or QUIC); sets listener_pid and listener_id. Output in $tmp/NAME.listener.
start_listener() {
    local name=$1 i
    "${CLI_PIN[@]}" "$BUILD/test_client" --relay "$2" >"$tmp/$name.listener" 2>&1 &
    listener_pid=$!
    for i in $(seq 1 300); do
        grep -q '^listening on ' "$tmp/$name.listener" && break
        kill -0 "$listener_pid" 2>/dev/null || break
        sleep 0.1
    done
    listener_id=$(sed -n 's/^local peer_id=//p' "$tmp/$name.listener")
    grep -q '^listening on ' "$tmp/$name.listener" || {
        log "the listening test_client ($name) did not reserve:"
        cat "$tmp/$name.listener" >&2
        return 1
    }
}

# tput_runs NAME BYTES ARGS...: TPUT_RUNS transfers `test_client ARGS... --send BYTES` (core 0) into
# a sink (/mesh-relay/sink/1.0.0: the listening test_client behind a relay, or bench_sink); one
# line per run to $tmp/NAME.tput:
# "tput mbps= seconds= bytes= server_cpu_s= server_cpu_util= client_cpu_s= core0_util= core1_util=
# udp_in= udp_rcvbuf_drops= udp_sndbuf_full=": the server's CPU time (/proc), the clients' (the
# sender's, from `times`, plus the listening test_client's, /proc), core utilisation from
# /proc/stat over the transfer, the UDP counters (udp_counters).
tput_runs() {
    local name=$1 bytes=$2 c0 c1 l0 l1 a0 a1 a2 a3 b0 b1 b2 b3 u0 u1 line secs hz run snd
    shift 2
    hz=$(getconf CLK_TCK)
    for run in $(seq 1 "$TPUT_RUNS"); do
        c0=$(proc_ticks "$server_pid")
        l0=0
        [ -z "$listener_pid" ] || l0=$(proc_ticks "$listener_pid")
        read -r a0 a1 < <(cpu_ticks 0)
        read -r b0 b1 < <(cpu_ticks 1)
        u0=$(udp_counters)
        ("${CLI_PIN[@]}" "$BUILD/test_client" "$@" --send "$bytes" --timeout 600 \
            >"$tmp/$name.sender" 2>&1 && times >"$tmp/$name.times") || {
            log "test_client --send ($name) failed:"
            cat "$tmp/$name.sender" >&2
            return 1
        }
        c1=$(proc_ticks "$server_pid")
        l1=0
        [ -z "$listener_pid" ] || l1=$(proc_ticks "$listener_pid")
        read -r a2 a3 < <(cpu_ticks 0)
        read -r b2 b3 < <(cpu_ticks 1)
        u1=$(udp_counters)
        # `times`, second line: the children's user and system time, "1m2.345s 0m0.678s"
        snd=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } print t }' "$tmp/$name.times")
        line=$(grep -m1 '^sent bytes=' "$tmp/$name.sender")
        secs=$(field "$line" seconds)
        echo "tput mbps=$(field "$line" mbps) seconds=$secs bytes=$(field "$line" bytes)" \
            "server_cpu_s=$(calc %.2f '(b - a) / hz' -v a="$c0" -v b="$c1" -v hz="$hz")" \
            "server_cpu_util=$(calc %.2f '(b - a) / hz / s' -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs")" \
            "client_cpu_s=$(calc %.2f 'x + (b - a) / hz' -v x="$snd" -v a="$l0" -v b="$l1" -v hz="$hz")" \
            "core0_util=$(calc %.2f '(b - a) / (d - c)' -v a="$a0" -v b="$a2" -v c="$a1" -v d="$a3")" \
            "core1_util=$(calc %.2f '(b - a) / (d - c)' -v a="$b0" -v b="$b2" -v c="$b1" -v d="$b3")" \
            "$(udp_delta "$u0" "$u1")" >>"$tmp/$name.tput"
    done
}

# relay_tput KIND (relay|js): a listening test_client, then a second one pushing RELAY_BYTES
# through the relay to it, TPUT_RUNS times (tput_runs), into $tmp/KIND.tput.
relay_tput() {
    local kind=$1
    start_listener "$kind" "$server_ma"
    tput_runs "$kind" "$RELAY_BYTES" --relay "$server_ma" --dial "$listener_id"
    stop_listener
}

# bench_relay KIND (relay|js): bench_circuit, then the throughput run, on one fresh server.
bench_relay() {
    local kind=$1
    log "$kind relay: circuit setup ($NCIRCUITS CONNECTs), reservations ($RES_PEERS peers)"
    if [ "$kind" = relay ]; then start_relay_circuit; else start_js_relay; fi
    "${CLI_PIN[@]}" "$BUILD/bench/bench_circuit" --relay "$server_ma" --server-pid "$server_pid" \
        --circuits "$NCIRCUITS" --reserve-peers "$RES_PEERS" --reserve-seconds "$RES_SECS" \
        --timeout 300 >"$tmp/$kind.circuit" 2>"$tmp/$kind.circuit.err" || {
        log "bench_circuit ($kind) failed:"
        cat "$tmp/$kind.circuit.err" >&2
        return 1
    }
    log "$kind relay: $RELAY_BYTES bytes through one circuit"
    relay_tput "$kind"
    stop_server
}

# ---- QUIC benchmarks ---------------------------------------------------------------------------
# bench_quic_churn KIND (relay|js): new QUIC connections per second on a fresh server listening on
# TCP and QUIC; the UDP counters over the whole run are appended to $tmp/KIND.qchurn.
bench_quic_churn() {
    local kind=$1 u0
    log "$kind: new QUIC connections per second (${SECS} s after the warm-up)"
    "start_$kind" quic
    u0=$(udp_counters)
    run_gen "$kind.qchurn" "$server_qma" --mode churn --warmup 1 --warmup-all-peers --ping \
        --duration "$SECS" --peers 1000 --timeout 120
    echo "udp $(udp_delta "$u0" "$(udp_counters)")" >>"$tmp/$kind.qchurn"
    stop_server
}

# bench_quic_tput: QUIC_BYTES TPUT_RUNS times each, the clients on core 0: a direct QUIC transfer
# (test_client -> bench_sink) with bench_sink on core 0 too (the ceiling: the circuit clients'
# placement), the same with bench_sink on core 1, then
# through our relay a QUIC-to-QUIC and a TCP-to-QUIC circuit (one listening test_client reserved
# over QUIC), then through the js relay a QUIC-to-QUIC circuit.
bench_quic_tput() {
    local pin=("${SRV_PIN[@]}")
    log "direct QUIC transfer (ceiling): $QUIC_BYTES bytes, test_client -> bench_sink, both on core 0"
    SRV_PIN=("${CLI_PIN[@]}")
    launch bench_sink quic "$BUILD/bench/bench_sink"
    SRV_PIN=("${pin[@]}")
    tput_runs direct.quic0 "$QUIC_BYTES" --dial "$server_qma"
    stop_server
    log "direct QUIC transfer: $QUIC_BYTES bytes, test_client -> bench_sink on core 1"
    launch bench_sink quic "$BUILD/bench/bench_sink"
    tput_runs direct.quic "$QUIC_BYTES" --dial "$server_qma"
    stop_server
    log "our relay: $QUIC_BYTES bytes through a QUIC-to-QUIC and a TCP-to-QUIC circuit"
    start_relay_circuit quic
    start_listener relay.quic "$server_qma"
    tput_runs relay.qq "$QUIC_BYTES" --relay "$server_qma" --dial "$listener_id"
    tput_runs relay.tq "$QUIC_BYTES" --relay "$server_ma" --dial "$listener_id"
    stop_listener
    stop_server
    if [ "$js_status" = ok ]; then
        log "js relay: $QUIC_BYTES bytes through a QUIC-to-QUIC circuit"
        start_js_relay quic
        start_listener js.quic "$server_qma"
        tput_runs js.qq "$QUIC_BYTES" --relay "$server_qma" --dial "$listener_id"
        stop_listener
        stop_server
    fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
[ -z "$(git status --porcelain -- src CMakeLists.txt 2>/dev/null)" ] || dirty=" with uncommitted changes in src/"
knobs=$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ' || true)
invocation="${knobs}make bench"
t_start=$(date +%s)
js_status=ok
if [ "${BENCH_SKIP_JS:-0}" = 1 ]; then
    js_status="skipped (BENCH_SKIP_JS=1)"
elif ! command -v node >/dev/null; then
    js_status="skipped (node not found; scripts/deps.sh test installs it)"
elif ! tests/interop/run.sh --deps >&2; then
    js_status="skipped (tests/interop/run.sh --deps failed)"
fi
if [ "$ONLY_QUIC" != 1 ]; then
    log "bench_core"
    "$BUILD/bench/bench_core" >"$tmp/core.md"
    log "bench_noise"
    "${SRV_PIN[@]}" "$BUILD/bench/bench_noise" >"$tmp/noise.md"
    bench_server relay
    if [ "$js_status" = ok ]; then
        bench_server js
    fi
fi
relay_status=ok
if [ "${BENCH_SKIP_RELAY:-0}" = 1 ]; then
    relay_status="skipped (BENCH_SKIP_RELAY=1)"
elif [ "$ONLY_QUIC" = 1 ]; then
    relay_status="skipped (BENCH_ONLY_QUIC=1)"
fi
if [ "$relay_status" = ok ]; then
    log "copy-loop ceilings (bench_copy: plain, Noise decrypt + re-encrypt, with the end-to-end layer, crypto in memory)"
    for i in $(seq 1 "$TPUT_RUNS"); do
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" >>"$tmp/copy.plain"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --noise >>"$tmp/copy.noise"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --noise --e2e >>"$tmp/copy.e2e"
        "$BUILD/bench/bench_copy" --bytes "$RELAY_BYTES" --crypto >>"$tmp/copy.crypto"
    done
    bench_relay relay
    if [ "$js_status" = ok ]; then
        bench_relay js
    fi
fi
quic_status=ok
if [ "${BENCH_SKIP_QUIC:-0}" = 1 ]; then
    quic_status="skipped (BENCH_SKIP_QUIC=1)"
fi
if [ "$quic_status" = ok ]; then
    bench_quic_churn relay
    if [ "$js_status" = ok ]; then
        bench_quic_churn js
    fi
    bench_quic_tput
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
t_total=$(($(date +%s) - t_start))

# ---- report ------------------------------------------------------------------------------------
# raw_output TITLE NAME...: a collapsed block with the raw record lines of $tmp/NAME (those there).
raw_output() {
    local title=$1 f
    shift
    echo "<details><summary>$title</summary>"
    echo
    echo '```'
    for f in "$@"; do
        [ -f "$tmp/$f" ] || continue
        echo "# $f"
        cat "$tmp/$f"
    done
    echo '```'
    echo
    echo "</details>"
}

mem_line() { grep "^mem conns=" "$tmp/$1" | sed -n "$2p"; }

# Per-connection memory at checkpoint row $2 (2: first, 3: second) of $1.hold: sets rss_pc,
# kern_pc, total_pc (bytes), n, rss_mb, target, tcp_per_conn.
mem_calc() {
    local f=$1.hold base cp
    base=$(mem_line "$f" 1)
    cp=$(mem_line "$f" "$2")
    n=$(field "$cp" conns)
    target=$(field "$cp" target)
    rss_mb=$(calc %.1f 'r / 1024' -v r="$(field "$cp" server_rss_kb)")
    rss_pc=$(calc %.0f '(b - a) * 1024 / n' -v a="$(field "$base" server_rss_kb)" -v b="$(field "$cp" server_rss_kb)" -v n="$n")
    kern_pc=$(calc %.0f '(b - a) / (2 * n)' -v a="$(field "$base" slab_bytes)" -v b="$(field "$cp" slab_bytes)" -v n="$n")
    total_pc=$((rss_pc + kern_pc))
    tcp_per_conn=$(calc %.2f '(b - a) / n' -v a="$(field "$base" tcp_objs)" -v b="$(field "$cp" tcp_objs)" -v n="$n")
    sockmem_pc=$(calc %.0f '(b - a) * 4096 / n' -v a="$(field "$base" sock_mem_pages)" -v b="$(field "$cp" sock_mem_pages)" -v n="$n")
    slab_source=$(field "$cp" slab_source)
}
kb() { calc %.1f 'b / 1000' -v b="$1"; }
num() { calc %.0f 'v' -v v="$1"; }
passfail() { if [ "$1" = 1 ]; then echo "**pass**"; else echo "**FAIL**"; fi; }
# cl FILE KIND: the line of $tmp/FILE starting with KIND; with several (repeated runs), the median
# by mbps=. tp NAME: the median line of $tmp/NAME.tput.
cl() {
    grep "^$2 " "$tmp/$1" 2>/dev/null |
        awk '{ k = 0; for (i = 1; i <= NF; i++) if ($i ~ /^mbps=/) k = substr($i, 6); print k "\t" $0 }' |
        sort -n -k1,1 | awk -F'\t' '{ l[NR] = $2 } END { if (NR) print l[int((NR + 1) / 2)] }' ||
        true
}
tp() { cl "$1.tput" tput; }
# per_cpu LINE: MB (10^6 bytes) per server CPU-second of a tput line.
per_cpu() { calc %.1f 'b / 1e6 / c' -v b="$(field "$1" bytes)" -v c="$(field "$1" server_cpu_s)"; }
pct() { calc '%.0f %%' 'u * 100' -v u="$1"; }

{
    echo "# Benchmark results"
    echo
    echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d) at $(date -u +%H:%M) UTC:"
    echo "$ncpu cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(uname -sr), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo), open-file limit $fdlim."
    echo "Source: commit $rev$dirty. Release build (\`-O3\` via CMake Release), one thread;"
    echo "$(openssl version 2>/dev/null | cut -d' ' -f1-2),"
    echo "libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?'), node $(node --version 2>/dev/null || echo '-'),"
    echo "js-libp2p $(sed -n 's/.*"version": "\(.*\)".*/\1/p' tests/interop/node_modules/libp2p/package.json 2>/dev/null | head -1)."
    echo "Invoked as \`$invocation\`; the benchmarks took $t_total s. Load average (1, 5, 15 min) before:"
    echo "$load_before; after: $load_after. Wall-clock numbers on a shared machine move by 10-20 %"
    echo "between runs, more when other jobs run."
} >"$out"

[ "$ONLY_QUIC" = 1 ] || {
    echo
    echo "## Core codecs and identity crypto (\`$BUILD/bench/bench_core\`)"
    echo
    echo "Each row runs for about 0.3 s. Use \`valgrind --tool=callgrind $BUILD/bench/bench_core\` to"
    echo "compare changes."
    echo
    cat "$tmp/core.md"
    echo
    echo "## Noise XX in memory (\`${SRV_PIN[*]} $BUILD/bench/bench_noise\`)"
    echo
    echo "No sockets: the cost of the handshake and transport crypto alone, the ceiling for the"
    echo "connection rate below (the responder share is what a server pays per connection)."
    echo
    cat "$tmp/noise.md"
    echo
    echo "## Connections: our relay and js-libp2p side by side"
    echo
    echo "Both servers listen on 127.0.0.1 port 0 and are started fresh for each run;"
    echo "$placement."
    echo "The load generator, \`$BUILD/bench/bench_connect\` (bench/bench_connect.c, our library, one"
    echo "libuv loop), dials from a pool of identities (distinct peers, as a relay sees them) with"
    echo "$CONC dials in flight. A dial counts when the full upgrade is done on its side: TCP,"
    echo "multistream-select \`/noise\`, Noise XX, the muxer (early negotiation in the Noise payload or"
    echo "multistream-select \`/yamux/1.0.0\`), Yamux."
    echo
    echo "- **Our relay**: \`$BUILD/relay-server\` with \`max_connections = 20000\`,"
    echo "  \`max_pending_handshakes = 4096\` and \`max_pending_handshakes_per_ip = 4096\` (every dial comes"
    echo "  from 127.0.0.1: at the default of 32, $CONC handshakes in flight would push each other out),"
    echo "  logging \`warn\`, other settings default (Yamux keepalive 30 s)."
    echo "  It runs no identify of its own on new connections (it answers the peer's)."
    if [ "$js_status" = ok ]; then
        echo "- **js-libp2p**: \`node bench/js_server.mjs\`: TCP + Noise + Yamux + identify + ping, as"
        echo "  the interop tests build js nodes, with \`maxConnections: 20000\`, \`inboundConnectionThreshold\`"
        echo "  and \`maxIncomingPendingConnections\` raised, and the connection monitor off (it pings every"
        echo "  connection over a new stream every 10 s; with it js spends its core pinging the held"
        echo "  connections). js runs identify on every new connection (our client answers it)."
    else
        echo "- **js-libp2p**: $js_status."
    fi
    echo

    # ---- connection rate
    echo "### New connections per second (churn)"
    echo
    echo "Each connection is closed (Yamux GoAway, TCP close) as soon as it is established; counted"
    echo "over $SECS s after 1 s of warm-up. *Per server CPU-second* divides by the CPU time the server"
    echo "used in the window (utime + stime from /proc): the rate of one fully used core, what the"
    echo "target is about, even when the one-core load generator cannot saturate the server."
    echo
    echo "| server | handshakes/s (wall) | server CPU use | handshakes per server CPU-second | latency p50 / p99 (ms) | failed |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for kind in relay js; do
        [ -f "$tmp/$kind.churn" ] || continue
        l=$(grep -m1 '^rate ' "$tmp/$kind.churn")
        name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p")
        echo "| $name | $(num "$(field "$l" per_sec)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$l" server_cpu_util)") | $(num "$(field "$l" per_server_cpu_s)") | $(field "$l" lat_p50_ms) / $(field "$l" lat_p99_ms) | $(field "$l" failed) |"
    done
    r_rate=$(field "$(grep -m1 '^rate ' "$tmp/relay.churn")" per_sec)
    r_cpu=$(field "$(grep -m1 '^rate ' "$tmp/relay.churn")" per_server_cpu_s)
    if [ -f "$tmp/js.churn" ]; then
        j=$(grep -m1 '^rate ' "$tmp/js.churn")
        echo "| **ratio ours / js** | **$(calc '%.1fx' 'a / b' -v a="$r_rate" -v b="$(field "$j" per_sec)")** | | **$(calc '%.1fx' 'a / b' -v a="$r_cpu" -v b="$(field "$j" per_server_cpu_s)")** | | |"
    fi
    echo
    echo "Target: >= 3,000 handshakes/s on one core for our relay:"
    echo "$(passfail "$(calc %d 'r >= 3000' -v r="$r_cpu")") per server CPU-second ($(num "$r_cpu")),"
    echo "$(passfail "$(calc %d 'r >= 3000' -v r="$r_rate")") on the wall clock ($(num "$r_rate"))."
    echo

    echo "### Connection rate while connections accumulate (hold runs)"
    echo
    echo "The same dials with every connection kept open, from the memory runs below."
    echo
    echo "| server | connections | handshakes/s (wall) | server CPU use | handshakes per server CPU-second |"
    echo "| --- | --- | ---: | ---: | ---: |"
    for kind in relay js; do
        [ -f "$tmp/$kind.hold" ] || continue
        name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p")
        while read -r l; do
            from=$(field "$l" from)
            to=$((from + $(field "$l" handshakes)))
            echo "| $name | $from -> $to | $(num "$(field "$l" per_sec)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$l" server_cpu_util)") | $(num "$(field "$l" per_server_cpu_s)") |"
        done < <(grep '^rate ' "$tmp/$kind.hold")
    done
    echo

    # ---- memory
    echo "### Memory per idle connection"
    echo
    echo "RSS: the server's VmRSS (/proc/<pid>/status) with N connections open and idle (${SETTLE_MS} ms after the"
    echo "last one, so identify has settled) minus before the first, over N. Kernel: slab memory in use"
    echo "(/proc/slabinfo: active objects with their share of the slab pages, TIME_WAIT mini-sockets"
    echo "left out; source: $(field "$(mem_line relay.hold 2)" slab_source)), its growth over 2N: both ends of every loopback connection"
    echo "live in this kernel and cost the same (socket, inode, dentry, file, epoll item), so half is"
    echo "the server's. kB = 1000 bytes."
    echo
    echo "| server | connections | server RSS (MB) | RSS per connection (kB) | kernel per connection (kB) | total per connection (kB) | target <= 20 kB |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    declare -A tot
    notes=()
    sanity=()
    for kind in relay js; do
        [ -f "$tmp/$kind.hold" ] || continue
        name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p")
        for row in 2 3; do
            [ -n "$(mem_line "$kind.hold" "$row")" ] || continue
            mem_calc "$kind" "$row"
            tot[$kind.$row]=$total_pc
            nlabel=$(num "$n")
            if [ "$n" != "$target" ]; then
                nlabel="$n (of $target)"
                notes+=("$name reached $n of $target connections within the ${JS_HOLD_MAX} s bound (BENCH_JS_HOLD_SECONDS); its row is measured at $n.")
            fi
            verdict=-
            [ $kind = relay ] && verdict=$(passfail "$(calc %d 't <= 20000' -v t="$total_pc")")
            echo "| $name | $nlabel | $rss_mb | $(kb "$rss_pc") | $(kb "$kern_pc") | $(kb "$total_pc") | $verdict |"
            sanity+=("$name, $n connections: the TCP socket slab objects grew by $tcp_per_conn per connection (2 expected: both ends); /proc/net/sockstat TCP \`mem\` (socket buffers, machine-wide) moved by $sockmem_pc B per connection (idle sockets hold no buffers).")
        done
    done
    for row in 2 3; do
        if [ -n "${tot[relay.$row]:-}" ] && [ -n "${tot[js.$row]:-}" ]; then
            mem_calc relay "$row"
            rn=$n
            mem_calc js "$row"
            label=$(num "$rn")
            [ "$n" = "$rn" ] || label="$rn (js: $n)"
            echo "| **ratio js / ours** | $label | | | | **$(calc '%.1fx' 'j / r' -v j="${tot[js.$row]}" -v r="${tot[relay.$row]}")** | |"
        fi
    done
    echo
    for l in "${notes[@]}"; do echo "- $l"; done
    for l in "${sanity[@]}"; do echo "- Check: $l"; done
    echo

    # ---- commands
    echo "### Commands"
    echo
    echo "What \`$invocation\` ran (scripts/bench.sh; \`<ma>\` is the server's \"Listening on:\" address"
    echo "with its /p2p/ id, \`<pid>\` its process id):"
    echo
    echo '```sh'
    echo "ulimit -n $fdlim"
    echo "HOME=<tmp>/home ${SRV_PIN[*]} $BUILD/relay-server --config <tmp>/relay.toml   # the [network] and [logging] keys above"
    [ "$js_status" = ok ] && echo "${SRV_PIN[*]} node bench/js_server.mjs"
    echo "${CLI_PIN[*]} $BUILD/bench/bench_connect --dial <ma> --server-pid <pid> --concurrency $CONC --mode churn --warmup 1 --duration $SECS --peers 1000"
    echo "${CLI_PIN[*]} $BUILD/bench/bench_connect --dial <ma> --server-pid <pid> --concurrency $CONC --mode hold --checkpoints $CP1,$CONNS --settle-ms $SETTLE_MS --peers $CONNS"
    [ "$js_status" = ok ] && echo "#   (js hold run: also --hold-max-seconds $JS_HOLD_MAX)"
    echo '```'
    echo
    raw_output "Raw load-generator output" relay.churn relay.hold js.churn js.hold
} >>"$out"

# ---- relay section ---------------------------------------------------------------------------
[ "$ONLY_QUIC" = 1 ] || {
    echo
    echo "## Relay: throughput, circuit setup, reservations"
    echo
    if [ "$relay_status" != ok ]; then
        echo "$relay_status."
    else
        cp_plain=$(field "$(cl copy.plain copy)" mbps)
        cp_noise=$(field "$(cl copy.noise copy)" mbps)
        cp_e2e=$(field "$(cl copy.e2e copy)" mbps)
        cp_crypto=$(field "$(cl copy.crypto copy)" mbps)
        echo "- **Our relay**: \`$BUILD/relay-server\` as above plus \`[relay] max_circuit_bytes = 0\`,"
        echo "  \`max_circuit_duration_secs = 0\` (unlimited), \`max_reservations = 1000000\`,"
        echo "  \`max_reservations_per_peer = 1000\`, \`max_circuits = 1000000\`, \`max_circuits_per_peer = 100000\`."
        if [ -f "$tmp/js.tput" ]; then
            echo "- **js-libp2p relay**: \`node bench/js_relay.mjs\`: the js node above plus \`circuitRelayServer\`"
            echo "  (@libp2p/circuit-relay-v2) with \`reservations.applyDefaultLimit: false\` (no circuit limit),"
            echo "  \`maxReservations: 1000000\`, \`maxInboundHopStreams: 256\`."
        else
            echo "- **js-libp2p relay**: $js_status."
        fi
        echo "- Both are driven by the same C clients (our library), pinned to core 0; the relay gets core 1."
        echo
        echo "### Throughput through one circuit"
        echo
        echo "A listening \`$BUILD/test_client\` (reserves, serves \`/mesh-relay/sink/1.0.0\`) and a dialling one"
        echo "(\`--dial <id> --send $RELAY_BYTES\`, $TPUT_RUNS times over one reservation; the table shows the run"
        echo "with the median MB/s, all runs are in the raw output), both on core 0; the relay on core 1. The payload is"
        echo "encrypted end to end (Noise + Yamux inside the circuit) and the relay decrypts and re-encrypts"
        echo "the outer Noise layer of both legs, so each client does two Noise layers and two Yamux layers"
        echo "per byte, on the one core they share. The clients grant 1 MiB Yamux windows (the relay keeps"
        echo "the spec's 256 KiB): the end-to-end window spans both hops and the relay, and with 256 KiB"
        echo "the sender waits for window updates about half the time. MB/s = 10^6 bytes/s as test_client prints it."
        echo "*Per relay CPU-second*: bytes over the relay's own CPU time (utime + stime, /proc) during"
        echo "the transfer: what one fully used relay core would move, when the clients are the"
        echo "bottleneck (see the core 0 column)."
        echo
        echo "| relay | MB/s (wall) | relay CPU use | MB per relay CPU-second | core 0 (clients) busy | seconds |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for kind in relay js; do
            l=$(tp $kind)
            [ -n "$l" ] || continue
            name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p relay")
            echo "| $name | $(num "$(field "$l" mbps)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$l" server_cpu_util)") | $(calc %.0f 'b / 1e6 / c' -v b="$(field "$l" bytes)" -v c="$(field "$l" server_cpu_s)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$l" core0_util)") | $(field "$l" seconds) |"
        done
        r=$(tp relay)
        r_mbps=$(field "$r" mbps)
        r_cpu=$(calc %.1f 'b / 1e6 / c' -v b="$(field "$r" bytes)" -v c="$(field "$r" server_cpu_s)")
        j=$(tp js)
        if [ -n "$j" ]; then
            j_mbps=$(field "$j" mbps)
            j_cpu=$(calc %.1f 'b / 1e6 / c' -v b="$(field "$j" bytes)" -v c="$(field "$j" server_cpu_s)")
            echo "| **ratio ours / js** | **$(calc '%.1fx' 'a / b' -v a="$r_mbps" -v b="$j_mbps")** | | **$(calc '%.1fx' 'a / b' -v a="$r_cpu" -v b="$j_cpu")** | | |"
        fi
        echo
        echo "Ceilings (\`$BUILD/bench/bench_copy --bytes $RELAY_BYTES\`, bench/bench_copy.c): one process, real"
        echo "loopback TCP sockets, the copying threads on core 1, pusher and sink on core 0; the relay"
        echo "threads' CPU time is measured. Each ran $TPUT_RUNS times; the run with the median MB/s is shown."
        echo
        echo "| ceiling | MB/s (wall) | relay CPU use | MB per relay CPU-second | ours / ceiling (wall) | ours / ceiling (per CPU-second) |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for c in plain noise e2e crypto; do
            l=$(cl copy.$c copy)
            case $c in
            plain) name="plain TCP copy loop, no protocol (\`bench_copy\`)" ;;
            noise) name="copy loop that decrypts and re-encrypts Noise frames (\`bench_copy --noise\`)" ;;
            e2e) name="the same, pusher and sink also running the end-to-end Noise layer of a circuit (\`bench_copy --noise --e2e\`)" ;;
            crypto) name="decrypt + re-encrypt in memory, no sockets (\`bench_copy --crypto\`)" ;;
            esac
            pc=$(calc %.1f 'b / 1e6 / c' -v b="$(field "$l" bytes)" -v c="$(field "$l" relay_cpu_s)")
            echo "| $name | $(num "$(field "$l" mbps)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$l" relay_cpu_util)") | $(num "$pc") | $(calc '%.0f %%' 'a / b * 100' -v a="$r_mbps" -v b="$(field "$l" mbps)") | $(calc '%.0f %%' 'a / b * 100' -v a="$r_cpu" -v b="$pc") |"
        done
        echo
        noise_pc=$(calc %.1f 'b / 1e6 / c' -v b="$(field "$(cl copy.noise copy)" bytes)" -v c="$(field "$(cl copy.noise copy)" relay_cpu_s)")
        echo "Target: >= 80 % of the copy loop that decrypts and re-encrypts, per core: per relay CPU-second"
        echo "against \`--noise\` ($(num "$noise_pc") MB): $(passfail "$(calc %d 'a >= 0.8 * b' -v a="$r_cpu" -v b="$noise_pc")") ($(num "$r_cpu") MB,"
        echo "$(calc '%.0f %%' 'a / b * 100' -v a="$r_cpu" -v b="$noise_pc"))."
        echo "On the wall clock the clients' shared core sets the pace: each client runs two Noise and"
        echo "two Yamux layers per byte, twice the pusher's and sink's work in \`--noise\`. The wall-clock"
        echo "ceiling with the same client work is \`--noise --e2e\` ($(num "$cp_e2e") MB/s): ours"
        echo "$(passfail "$(calc %d 'a >= 0.8 * b' -v a="$r_mbps" -v b="$cp_e2e")") at $(calc '%.0f %%' 'a / b * 100' -v a="$r_mbps" -v b="$cp_e2e")"
        echo "($(num "$r_mbps") MB/s; against \`--noise\`, $(num "$cp_noise") MB/s, it is $(calc '%.0f %%' 'a / b * 100' -v a="$r_mbps" -v b="$cp_noise"))."
        if [ -n "$j" ]; then
            echo ">= 5x the js relay: $(passfail "$(calc %d 'a >= 5 * b' -v a="$r_cpu" -v b="$j_cpu")") per relay CPU-second"
            echo "($(calc '%.1fx' 'a / b' -v a="$r_cpu" -v b="$j_cpu")), $(passfail "$(calc %d 'a >= 5 * b' -v a="$r_mbps" -v b="$j_mbps")") on the wall clock ($(calc '%.1fx' 'a / b' -v a="$r_mbps" -v b="$j_mbps")). The js relay"
            echo "saturates its core; ours waits for the clients, and with their core shared no relay can show"
            echo "more than the \`--noise --e2e\` ceiling here: $(calc '%.1fx' 'a / b' -v a="$cp_e2e" -v b="$j_mbps") the js relay."
        fi
        echo
        echo "### Circuit setup latency"
        echo
        echo "\`$BUILD/bench/bench_circuit\` (bench/bench_circuit.c, our library, core 0): a listener identity reserves"
        echo "and answers every STOP CONNECT with OK at once; a dialler sends $NCIRCUITS CONNECTs to it one after"
        echo "another (after 5 warm-up), each on a new hop stream over one connection, reset when the OK"
        echo "is in. *CONNECT -> OK*: from writing the CONNECT to reading the OK (the relay's STOP round"
        echo "trip to the listener included); *stream open -> OK* adds the Yamux stream and"
        echo "multistream-select negotiation of the hop protocol."
        echo
        echo "| relay | CONNECT -> OK p50 / p99 (ms) | stream open -> OK p50 / p99 (ms) | circuits/s (sequential) | relay CPU-seconds |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for kind in relay js; do
            l=$(cl $kind.circuit circuit)
            [ -n "$l" ] || continue
            name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p relay")
            echo "| $name | $(field "$l" lat_p50_ms) / $(field "$l" lat_p99_ms) | $(field "$l" open_p50_ms) / $(field "$l" open_p99_ms) | $(num "$(field "$l" per_sec)") | $(field "$l" server_cpu_s) |"
        done
        rl=$(cl relay.circuit circuit)
        jl=$(cl js.circuit circuit)
        if [ -n "$jl" ]; then
            echo "| **ratio js / ours** | **$(calc '%.1fx' 'b / a' -v a="$(field "$rl" lat_p50_ms)" -v b="$(field "$jl" lat_p50_ms)") / $(calc '%.1fx' 'b / a' -v a="$(field "$rl" lat_p99_ms)" -v b="$(field "$jl" lat_p99_ms)")** | | **$(calc '%.1fx' 'a / b' -v a="$(field "$rl" per_sec)" -v b="$(field "$jl" per_sec)")** (ours / js) | |"
        fi
        echo
        echo "### Reservations per second"
        echo
        echo "The same tool: $RES_PEERS more identities connect (one connection each); *new*: each sends"
        echo "one RESERVE, all at once (first sent -> last OK); *refresh*: for $RES_SECS s each connection"
        echo "RESERVEs again as soon as its answer is in (one in flight per connection, a fresh hop stream"
        echo "each time). Both relays sign a voucher per answer."
        echo
        echo "| relay | new reservations/s ($RES_PEERS peers) | refreshes/s | relay CPU use (refresh) | refreshes per relay CPU-second |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for kind in relay js; do
            n=$(cl $kind.circuit reserve_new)
            f=$(cl $kind.circuit reserve_refresh)
            [ -n "$f" ] || continue
            name=$([ $kind = relay ] && echo "our relay" || echo "js-libp2p relay")
            echo "| $name | $(num "$(field "$n" per_sec)") | $(num "$(field "$f" per_sec)") | $(calc '%.0f %%' 'u * 100' -v u="$(field "$f" server_cpu_util)") | $(num "$(field "$f" per_server_cpu_s)") |"
        done
        if [ -n "$(cl js.circuit reserve_refresh)" ]; then
            rn=$(cl relay.circuit reserve_new)
            jn=$(cl js.circuit reserve_new)
            rf=$(cl relay.circuit reserve_refresh)
            jf=$(cl js.circuit reserve_refresh)
            echo "| **ratio ours / js** | **$(calc '%.1fx' 'a / b' -v a="$(field "$rn" per_sec)" -v b="$(field "$jn" per_sec)")** | **$(calc '%.1fx' 'a / b' -v a="$(field "$rf" per_sec)" -v b="$(field "$jf" per_sec)")** | | **$(calc '%.1fx' 'a / b' -v a="$(field "$rf" per_server_cpu_s)" -v b="$(field "$jf" per_server_cpu_s)")** |"
        fi
        echo
        echo "### Relay commands"
        echo
        echo '```sh'
        echo "$BUILD/bench/bench_copy --bytes $RELAY_BYTES            # plain copy loop"
        echo "$BUILD/bench/bench_copy --bytes $RELAY_BYTES --noise    # decrypt + re-encrypt copy loop"
        echo "$BUILD/bench/bench_copy --bytes $RELAY_BYTES --noise --e2e   # ... with the clients' end-to-end layer"
        echo "$BUILD/bench/bench_copy --bytes $RELAY_BYTES --crypto   # the crypto alone, in memory"
        echo "HOME=<tmp>/home ${SRV_PIN[*]} $BUILD/relay-server --config <tmp>/relay-circuit.toml   # the [relay] keys above"
        [ -f "$tmp/js.tput" ] && echo "${SRV_PIN[*]} node bench/js_relay.mjs"
        echo "${CLI_PIN[*]} $BUILD/bench/bench_circuit --relay <ma> --server-pid <pid> --circuits $NCIRCUITS --reserve-peers $RES_PEERS --reserve-seconds $RES_SECS"
        echo "${CLI_PIN[*]} $BUILD/test_client --relay <ma> &                 # listener: prints local peer_id=<id>"
        echo "${CLI_PIN[*]} $BUILD/test_client --relay <ma> --dial <id> --send $RELAY_BYTES"
        echo '```'
        echo
        raw_output "Raw relay-benchmark output" copy.plain copy.noise copy.e2e copy.crypto relay.circuit relay.tput js.circuit js.tput
    fi
} >>"$out"

# ---- QUIC section ------------------------------------------------------------------------------
{
    echo
    echo "## QUIC: handshakes, throughput through a circuit"
    echo
    if [ "$quic_status" != ok ]; then
        echo "$quic_status."
    else
        quic_ver=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' tests/interop/node_modules/@chainsafe/libp2p-quic/package.json 2>/dev/null | head -1)
        echo "Every server listens on 127.0.0.1 (TCP and UDP port 0) and is started fresh for each run;"
        echo "$placement."
        echo
        echo "- **Our relay**: \`$BUILD/relay-server\` as above (\`max_connections = 20000\`,"
        echo "  \`max_pending_handshakes = 4096\`: both per transport; QUIC sends a Retry first beyond a quarter"
        echo "  of it, 1024 handshakes from unproven addresses, which $CONC dials in flight never reach)"
        echo "  plus \`quic_listen_addr = \"/ip4/127.0.0.1/udp/0/quic-v1\"\`; for the circuits also the \`[relay]\`"
        echo "  keys of the relay section (no circuit limits). QUIC v1, TLS 1.3 (GnuTLS, AES-128-GCM first), ngtcp2."
        if [ "$js_status" = ok ]; then
            echo "- **js-libp2p**: \`node bench/js_server.mjs --quic\` and \`node bench/js_relay.mjs --quic\`: the js"
            echo "  nodes above plus @chainsafe/libp2p-quic $quic_ver (quinn + rustls in a native module, its default"
            echo "  options) listening on \`/ip4/127.0.0.1/udp/0/quic-v1\` beside TCP."
        else
            echo "- **js-libp2p**: $js_status."
        fi
        echo "- **Direct QUIC, the ceiling**: \`$BUILD/bench/bench_sink\` (bench/bench_sink.c, our swarm) listening"
        echo "  on QUIC only and serving the sink protocol exactly as a listening test_client does (its 1 MiB"
        echo "  stream window too); the sender is test_client, the same program that pushes through the circuits."
        echo "  The ceiling has both ends on core 0, where the circuit's two clients run (the relay gets core 1"
        echo "  in the circuit runs, core 1 idles here); the same transfer with bench_sink on core 1 is shown too."
        echo
        echo "### New QUIC connections per second (churn)"
        echo
        echo "\`$BUILD/bench/bench_connect\` as for TCP, dialling the server's \`/udp/<port>/quic-v1/p2p/<id>\`"
        echo "address: each dial is a full QUIC v1 handshake, TLS 1.3 with the libp2p certificate on both"
        echo "sides (each verifies the other's certificate and the peer-key signature in it). A QUIC client"
        echo "is established on the server's Finished, one flight before the server has the client's"
        echo "certificate, so each dial also pings once (\`--ping\`, /ipfs/ping/1.0.0 on a new stream) and"
        echo "counts, and is closed (CONNECTION_CLOSE), when the answer is in: proof that the server verified"
        echo "us too. The latency is to that answer. $CONC dials in flight from 1000 identities. An identity creates its QUIC"
        echo "transport (certificate, UDP socket) at its first dial, so the warm-up lasts until each has"
        echo "dialled once (\`--warmup-all-peers\`, at least 1 s); then the rate is counted over $SECS s."
        echo "*UDP drops*: datagrams the kernel dropped because a socket's receive buffer was full, over the"
        echo "whole run (/proc/net/snmp \`RcvbufErrors\`, machine-wide); a dropped handshake packet waits for"
        echo "QUIC's retransmission timer (about 1 s at the start of a connection). The TCP rows (from the"
        echo "section above) count at the upgrade, without a ping."
        echo
        echo "| server | handshakes/s (wall) | server CPU use | handshakes per server CPU-second | latency p50 / p99 (ms) | failed | UDP drops |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        for kind in relay js; do
            [ -f "$tmp/$kind.qchurn" ] || continue
            l=$(grep -m1 '^rate ' "$tmp/$kind.qchurn")
            u=$(grep -m1 '^udp ' "$tmp/$kind.qchurn")
            name=$([ $kind = relay ] && echo "our relay, QUIC" || echo "js-libp2p, QUIC")
            echo "| $name | $(num "$(field "$l" per_sec)") | $(pct "$(field "$l" server_cpu_util)") | $(num "$(field "$l" per_server_cpu_s)") | $(field "$l" lat_p50_ms) / $(field "$l" lat_p99_ms) | $(field "$l" failed) | $(field "$u" udp_rcvbuf_drops) |"
        done
        rq=$(grep -m1 '^rate ' "$tmp/relay.qchurn")
        if [ -f "$tmp/js.qchurn" ]; then
            jq=$(grep -m1 '^rate ' "$tmp/js.qchurn")
            echo "| **ratio ours / js (QUIC)** | **$(calc '%.1fx' 'a / b' -v a="$(field "$rq" per_sec)" -v b="$(field "$jq" per_sec)")** | | **$(calc '%.1fx' 'a / b' -v a="$(field "$rq" per_server_cpu_s)" -v b="$(field "$jq" per_server_cpu_s)")** | | | |"
        fi
        for kind in relay js; do
            [ -f "$tmp/$kind.churn" ] || continue
            l=$(grep -m1 '^rate ' "$tmp/$kind.churn")
            name=$([ $kind = relay ] && echo "our relay, TCP (above, no ping)" || echo "js-libp2p, TCP (above, no ping)")
            echo "| $name | $(num "$(field "$l" per_sec)") | $(pct "$(field "$l" server_cpu_util)") | $(num "$(field "$l" per_server_cpu_s)") | $(field "$l" lat_p50_ms) / $(field "$l" lat_p99_ms) | $(field "$l" failed) | |"
        done
        echo
        echo "The load generator is one core too: its QUIC handshake costs about what the server's does (see"
        echo "*client CPU* in the raw output), so on the wall clock the client caps the rate; *per server"
        echo "CPU-second* is the rate one fully used server core would reach."
        echo
        echo "### Throughput through one circuit over QUIC"
        echo
        echo "A listening \`$BUILD/test_client\` reserves on the relay over QUIC and serves"
        echo "\`/mesh-relay/sink/1.0.0\`; a dialling one pushes $QUIC_BYTES bytes through the relay to it"
        echo "(\`--dial <id> --send $QUIC_BYTES\`), over QUIC (*QUIC -> QUIC*) or over TCP (*TCP -> QUIC*: the"
        echo "relay bridges a Yamux stream over Noise/TCP and a QUIC stream), $TPUT_RUNS times each over one"
        echo "reservation; the table shows the run with the median MB/s, all runs are in the raw output. Both"
        echo "clients run on core 0, the relay on core 1. Inside the circuit the clients run Noise + Yamux end"
        echo "to end (1 MiB windows) as over TCP, so each client encrypts twice per byte (TLS over QUIC, or"
        echo "Noise over TCP, and the end-to-end Noise); the relay decrypts and re-encrypts each leg's outer layer."
        echo "The ceiling is the same sender and the same byte count over one direct QUIC connection to"
        echo "\`bench_sink\`: no relay, no end-to-end layer, both ends on core 0 like the circuit's clients. A"
        echo "ceiling has to share the constraint of what it bounds: through the circuit the two ends have core"
        echo "0 between them too, and the relay has core 1. With bench_sink on core 1 instead the two ends get"
        echo "a core each, which no circuit on two cores can have (its row is for reference)."
        echo "*Server* is the relay, or bench_sink for the direct transfer; *MB per server CPU-second*: bytes"
        echo "over the server's CPU time (utime + stime, /proc) during the transfer; *client CPU-seconds*:"
        echo "the sender's (\`times\`) plus the listening test_client's (/proc). *UDP drops / send-buffer full*:"
        echo "/proc/net/snmp \`RcvbufErrors\` / \`SndbufErrors\` during the transfer (machine-wide): datagrams"
        echo "lost in the kernel, and sends refused because a socket's send buffer was full (our transport"
        echo "drops such a datagram; QUIC retransmits it)."
        echo
        echo "| path | MB/s (wall) | server CPU use | MB per server CPU-second | client CPU-seconds | core 0 (clients) busy | seconds | of the direct QUIC transfer (wall) | UDP drops / send-buffer full |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        d=$(tp direct.quic0)
        d_mbps=$(field "$d" mbps)
        d1=$(tp direct.quic)
        for n in direct.quic0 direct.quic relay.qq relay.tq js.qq relay; do
            l=$(tp $n)
            [ -n "$l" ] || continue
            case $n in
            direct.quic0) name="direct QUIC, test_client -> bench_sink, both on core 0 (the ceiling)" ;;
            direct.quic) name="direct QUIC, bench_sink on core 1 (for reference)" ;;
            relay.qq) name="our relay, QUIC -> QUIC" ;;
            relay.tq) name="our relay, TCP -> QUIC" ;;
            js.qq) name="js-libp2p relay, QUIC -> QUIC" ;;
            relay) name="our relay, TCP -> TCP (relay section, $(field "$l" bytes) bytes)" ;;
            esac
            echo "| $name | $(num "$(field "$l" mbps)") | $(pct "$(field "$l" server_cpu_util)") | $(num "$(per_cpu "$l")") | $(field "$l" client_cpu_s) | $(pct "$(field "$l" core0_util)") | $(field "$l" seconds) | $(calc '%.0f %%' 'a / b * 100' -v a="$(field "$l" mbps)" -v b="$d_mbps") | $(field "$l" udp_rcvbuf_drops) / $(field "$l" udp_sndbuf_full) |"
        done
        q=$(tp relay.qq)
        q_mbps=$(field "$q" mbps)
        q_cpu=$(per_cpu "$q")
        j=$(tp js.qq)
        if [ -n "$j" ]; then
            j_mbps=$(field "$j" mbps)
            j_cpu=$(per_cpu "$j")
            echo "| **ratio ours / js (QUIC -> QUIC)** | **$(calc '%.1fx' 'a / b' -v a="$q_mbps" -v b="$j_mbps")** | | **$(calc '%.1fx' 'a / b' -v a="$q_cpu" -v b="$j_cpu")** | | | | | |"
        fi
        echo
        echo "Target: a QUIC-to-QUIC circuit >= 50 % of the direct QUIC transfer:"
        echo "$(passfail "$(calc %d 'a >= 0.5 * b' -v a="$q_mbps" -v b="$d_mbps")") at $(calc '%.0f %%' 'a / b * 100' -v a="$q_mbps" -v b="$d_mbps")"
        echo "($(num "$q_mbps") MB/s against $(num "$d_mbps") MB/s, wall clock, both ends on core 0 in each)."
        echo "Against the direct transfer with bench_sink on its own core ($(num "$(field "$d1" mbps)") MB/s) the circuit reaches"
        echo "$(calc '%.0f %%' 'a / b * 100' -v a="$q_mbps" -v b="$(field "$d1" mbps)")."
        echo "What bounds it: the circuit's two clients share core 0 ($(pct "$(field "$q" core0_util)") busy), and"
        echo "each runs the end-to-end Noise + Yamux on top of QUIC: that core makes four crypto passes per"
        echo "byte where the direct transfer's two ends make two. The relay, on core 1, was $(pct "$(field "$q" server_cpu_util)") busy and"
        echo "moved $(num "$q_cpu") MB per CPU-second (it decrypts and re-encrypts every byte)."
        if [ -n "$j" ]; then
            echo "Target: >= 5x the js relay over QUIC: $(passfail "$(calc %d 'a >= 5 * b' -v a="$q_mbps" -v b="$j_mbps")") on the wall clock"
            echo "($(calc '%.1fx' 'a / b' -v a="$q_mbps" -v b="$j_mbps")), $(passfail "$(calc %d 'a >= 5 * b' -v a="$q_cpu" -v b="$j_cpu")") per relay CPU-second ($(calc '%.1fx' 'a / b' -v a="$q_cpu" -v b="$j_cpu"))."
        else
            echo "Target: >= 5x the js relay over QUIC: not measured (js-libp2p $js_status)."
        fi
        t=$(tp relay.tq)
        if [ -n "$t" ]; then
            echo "TCP-to-QUIC: $(num "$(field "$t" mbps)") MB/s, $(calc '%.0f %%' 'a / b * 100' -v a="$(field "$t" mbps)" -v b="$d_mbps") of the direct QUIC"
            echo "transfer and $(calc '%.1fx' 'a / b' -v a="$(field "$t" mbps)" -v b="$q_mbps") the QUIC-to-QUIC circuit ($(num "$(per_cpu "$t")") MB per relay CPU-second"
            echo "against $(num "$q_cpu"))."
        fi
        echo
        echo "### QUIC commands"
        echo
        echo '```sh'
        echo "HOME=<tmp>/home ${SRV_PIN[*]} $BUILD/relay-server --config <tmp>/relay.toml   # + quic_listen_addr"
        [ "$js_status" = ok ] && echo "${SRV_PIN[*]} node bench/js_server.mjs --quic"
        echo "${CLI_PIN[*]} $BUILD/bench/bench_connect --dial <quic-ma> --server-pid <pid> --concurrency $CONC --mode churn --warmup 1 --warmup-all-peers --ping --duration $SECS --peers 1000"
        echo "${CLI_PIN[*]} $BUILD/bench/bench_sink                       # listens on /ip4/127.0.0.1/udp/0/quic-v1 (also: ${SRV_PIN[*]})"
        echo "${CLI_PIN[*]} $BUILD/test_client --dial <sink-quic-ma> --send $QUIC_BYTES"
        echo "HOME=<tmp>/home ${SRV_PIN[*]} $BUILD/relay-server --config <tmp>/relay-circuit.toml   # + quic_listen_addr"
        [ "$js_status" = ok ] && echo "${SRV_PIN[*]} node bench/js_relay.mjs --quic"
        echo "${CLI_PIN[*]} $BUILD/test_client --relay <quic-ma> &                 # listener: prints local peer_id=<id>"
        echo "${CLI_PIN[*]} $BUILD/test_client --relay <quic-ma> --dial <id> --send $QUIC_BYTES   # QUIC -> QUIC"
        echo "${CLI_PIN[*]} $BUILD/test_client --relay <tcp-ma> --dial <id> --send $QUIC_BYTES    # TCP -> QUIC"
        echo '```'
        echo
        raw_output "Raw QUIC-benchmark output" relay.qchurn js.qchurn direct.quic0.tput direct.quic.tput relay.qq.tput relay.tq.tput js.qq.tput
    fi
} >>"$out"

cat "$out"
