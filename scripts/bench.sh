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
#
# Knobs (environment): BENCH_CONCURRENCY (dials in flight, 128), BENCH_SECONDS (churn window, 5),
# BENCH_CONNS (largest hold checkpoint, 10000), BENCH_JS_HOLD_SECONDS (bound on the js hold run,
# 600: js-libp2p accepts ever more slowly as connections accumulate and needs about 8 minutes to
# reach 10k here, so `make bench` takes about 12 minutes; a smaller bound measures js at the
# count it reached), BENCH_SKIP_JS=1 (ours only).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CONC=${BENCH_CONCURRENCY:-128}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-10000}
JS_HOLD_MAX=${BENCH_JS_HOLD_SECONDS:-600}
SETTLE_MS=2000
out=bench/RESULTS.md

cmake --build "$BUILD" -j "$(nproc)" --target relay-server bench_core bench_noise bench_connect >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rly-bench.XXXXXX")
server_pid=
cleanup() {
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

start_relay() {
    mkdir -p "$tmp/home"
    cat >"$tmp/relay.toml" <<'EOF'
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
    HOME="$tmp/home" "${SRV_PIN[@]}" "$BUILD/relay-server" --config "$tmp/relay.toml" \
        >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    server_ma=$(wait_listen "$tmp/server.out" "$server_pid") || {
        log "relay-server did not start:"
        cat "$tmp/server.err" >&2
        return 1
    }
}

start_js() {
    "${SRV_PIN[@]}" node bench/js_server.mjs >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    server_ma=$(wait_listen "$tmp/server.out" "$server_pid") || {
        log "js_server.mjs did not start:"
        cat "$tmp/server.err" >&2
        return 1
    }
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
cat "$out"
