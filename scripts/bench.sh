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
#
# Knobs (environment): BENCH_CONCURRENCY (dials in flight, 128), BENCH_SECONDS (churn window, 5),
# BENCH_CONNS (largest hold checkpoint, 10000), BENCH_JS_HOLD_SECONDS (bound on the js hold run,
# 600: js-libp2p accepts ever more slowly as connections accumulate and needs about 8 minutes to
# reach 10k here, so `make bench` takes about 12 minutes; a smaller bound measures js at the
# count it reached), BENCH_SKIP_JS=1 (ours only).
# Relay section: BENCH_SKIP_RELAY=1, BENCH_RELAY_BYTES (bytes through the circuit, 1 GiB),
# BENCH_CIRCUITS (sequential CONNECTs, 1000), BENCH_RESERVE_PEERS (identities, 1000),
# BENCH_RESERVE_SECONDS (refresh window, 3), BENCH_TPUT_RUNS (transfers and copy-loop runs each;
# the median by MB/s is reported, 3).
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
out=bench/RESULTS.md

cmake --build "$BUILD" -j "$(nproc)" --target relay-server bench_core bench_noise bench_connect \
    bench_circuit bench_copy test_client >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rly-bench.XXXXXX")
server_pid=
listener_pid=
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
# wait_listen FILE PID: the first "Listening on: <multiaddr>" line of FILE (bounded, 30 s).
wait_listen() {
    local i ma
    for i in $(seq 1 300); do
        ma=$(grep -m1 '^Listening on: /ip4/127.0.0.1/' "$1" 2>/dev/null | awk '{print $3}' || true)
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
# line; sets server_pid and server_ma.
launch() {
    local name=$1
    shift
    "${SRV_PIN[@]}" "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    server_ma=$(wait_listen "$tmp/server.out" "$server_pid") || {
        log "$name did not start:"
        cat "$tmp/server.err" >&2
        return 1
    }
}

# relay_config FILE [RELAY_KEYS]: our relay on loopback port 0 with the connection limits raised
# and warn-level logs; RELAY_KEYS (text) becomes its [relay] section.
relay_config() {
    mkdir -p "$tmp/home"
    {
        if [ -n "${2:-}" ]; then printf '[relay]\n%s\n\n' "$2"; fi
        cat <<'EOF'
[network]
tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"
tcp_listen_addr_v6 = ""
quic_listen_addr = ""
quic_listen_addr_v6 = ""
max_connections = 20000
max_pending_handshakes = 4096

[logging]
level = "warn"
EOF
    } >"$1"
}

start_relay() {
    relay_config "$tmp/relay.toml"
    HOME="$tmp/home" launch relay-server "$BUILD/relay-server" --config "$tmp/relay.toml"
}

start_js() {
    launch js_server.mjs node bench/js_server.mjs
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

# run_gen NAME ARGS...: the load generator against the running server; its output in $tmp/NAME.
run_gen() {
    local name=$1
    shift
    "${CLI_PIN[@]}" "$BUILD/bench/bench_connect" --dial "$server_ma" --server-pid "$server_pid" \
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
    run_gen "$kind.churn" --mode churn --warmup 1 --duration "$SECS" --peers 1000 --timeout 120
    stop_server
    log "$kind: memory with $CP1 and $CONNS idle connections"
    "start_$kind"
    run_gen "$kind.hold" --mode hold --checkpoints "$CP1,$CONNS" --settle-ms "$SETTLE_MS" \
        --peers "$CONNS" --timeout 300 "${hold_args[@]}"
    stop_server
}

# ---- relay benchmarks --------------------------------------------------------------------------
# Our relay with the circuit limits off ([relay] max_circuit_bytes = 0, max_circuit_duration_secs
# = 0: unlimited) and the reservation and circuit counts raised.
start_relay_circuit() {
    relay_config "$tmp/relay-circuit.toml" "max_reservations = 1000000
max_reservations_per_peer = 1000
max_circuits_per_peer = 100000
max_circuits = 1000000
max_circuit_duration_secs = 0
max_circuit_bytes = 0"
    HOME="$tmp/home" launch relay-server "$BUILD/relay-server" --config "$tmp/relay-circuit.toml"
}

start_js_relay() {
    launch js_relay.mjs node bench/js_relay.mjs
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

# relay_tput KIND (relay|js): a listening test_client (no --name: a fresh identity), then a second
# one pushing RELAY_BYTES through the relay to it (/mesh-relay/sink/1.0.0), TPUT_RUNS times; one line
# per run
# "tput mbps= seconds= bytes= server_cpu_s= server_cpu_util= core0_util= core1_util=" to
# $tmp/KIND.tput (core utilisation from /proc/stat over the transfer).
relay_tput() {
    local kind=$1 bid c0 c1 a0 a1 a2 a3 b0 b1 b2 b3 line i secs hz run
    "${CLI_PIN[@]}" "$BUILD/test_client" --relay "$server_ma" >"$tmp/$kind.listener" 2>&1 &
    listener_pid=$!
    for i in $(seq 1 300); do
        grep -q '^listening on ' "$tmp/$kind.listener" && break
        sleep 0.1
    done
    bid=$(sed -n 's/^local peer_id=//p' "$tmp/$kind.listener")
    grep -q '^listening on ' "$tmp/$kind.listener" || {
        log "the listening test_client did not reserve:"
        cat "$tmp/$kind.listener" >&2
        return 1
    }
    hz=$(getconf CLK_TCK)
    for run in $(seq 1 "$TPUT_RUNS"); do
        c0=$(proc_ticks "$server_pid")
        read -r a0 a1 < <(cpu_ticks 0)
        read -r b0 b1 < <(cpu_ticks 1)
        "${CLI_PIN[@]}" "$BUILD/test_client" --relay "$server_ma" --dial "$bid" --send "$RELAY_BYTES" \
            --timeout 600 >"$tmp/$kind.sender" 2>&1 || {
            log "test_client --send through the $kind relay failed:"
            cat "$tmp/$kind.sender" >&2
            return 1
        }
        c1=$(proc_ticks "$server_pid")
        read -r a2 a3 < <(cpu_ticks 0)
        read -r b2 b3 < <(cpu_ticks 1)
        line=$(grep -m1 '^sent bytes=' "$tmp/$kind.sender")
        secs=$(field "$line" seconds)
        echo "tput mbps=$(field "$line" mbps) seconds=$secs bytes=$(field "$line" bytes)" \
            "server_cpu_s=$(calc %.2f '(b - a) / hz' -v a="$c0" -v b="$c1" -v hz="$hz")" \
            "server_cpu_util=$(calc %.2f '(b - a) / hz / s' -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs")" \
            "core0_util=$(calc %.2f '(b - a) / (d - c)' -v a="$a0" -v b="$a2" -v c="$a1" -v d="$a3")" \
            "core1_util=$(calc %.2f '(b - a) / (d - c)' -v a="$b0" -v b="$b2" -v c="$b1" -v d="$b3")" \
            >>"$tmp/$kind.tput"
    done
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
[ -z "$(git status --porcelain -- src CMakeLists.txt 2>/dev/null)" ] || dirty=" with uncommitted changes in src/"
knobs=$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ' || true)
invocation="${knobs}make bench"
t_start=$(date +%s)
log "bench_core"
"$BUILD/bench/bench_core" >"$tmp/core.md"
log "bench_noise"
"${SRV_PIN[@]}" "$BUILD/bench/bench_noise" >"$tmp/noise.md"

bench_server relay
js_status=ok
if [ "${BENCH_SKIP_JS:-0}" = 1 ]; then
    js_status="skipped (BENCH_SKIP_JS=1)"
elif ! command -v node >/dev/null; then
    js_status="skipped (node not found; scripts/deps.sh test installs it)"
elif ! tests/interop/run.sh --deps >&2; then
    js_status="skipped (tests/interop/run.sh --deps failed)"
fi
if [ "$js_status" = ok ]; then
    bench_server js
fi
relay_status=ok
if [ "${BENCH_SKIP_RELAY:-0}" = 1 ]; then
    relay_status="skipped (BENCH_SKIP_RELAY=1)"
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
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
t_total=$(($(date +%s) - t_start))

# ---- report ------------------------------------------------------------------------------------
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
    echo "  \`max_pending_handshakes = 4096\`, logging \`warn\`, other settings default (Yamux keepalive 30 s)."
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
    echo "<details><summary>Raw load-generator output</summary>"
    echo
    echo '```'
    for f in relay.churn relay.hold js.churn js.hold; do
        [ -f "$tmp/$f" ] || continue
        echo "# $f"
        cat "$tmp/$f"
    done
    echo '```'
    echo
    echo "</details>"
} >"$out"

# ---- relay section ---------------------------------------------------------------------------
{
    echo
    echo "## Relay: throughput, circuit setup, reservations"
    echo
    if [ "$relay_status" != ok ]; then
        echo "$relay_status."
    else
        # The line of FILE starting with KIND; with several (repeated runs), the median by mbps=.
        cl() {
            grep "^$2 " "$tmp/$1" 2>/dev/null |
                awk '{ k = 0; for (i = 1; i <= NF; i++) if ($i ~ /^mbps=/) k = substr($i, 6); print k "\t" $0 }' |
                sort -n -k1,1 | awk -F'\t' '{ l[NR] = $2 } END { if (NR) print l[int((NR + 1) / 2)] }' ||
                true
        }
        tp() { cl "$1.tput" tput; }
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
        echo "<details><summary>Raw relay-benchmark output</summary>"
        echo
        echo '```'
        for f in copy.plain copy.noise copy.e2e copy.crypto relay.circuit relay.tput js.circuit js.tput; do
            [ -f "$tmp/$f" ] || continue
            echo "# $f"
            cat "$tmp/$f"
        done
        echo '```'
        echo
        echo "</details>"
    fi
} >>"$out"

cat "$out"
