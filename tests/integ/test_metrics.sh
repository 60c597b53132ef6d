#!/usr/bin/env bash
# Metrics and health over HTTP ([metrics] listen_addr, port 0 here): the banner prints the URL;
# /healthz, /readyz, /addrs (the relay's full multiaddrs, JSON) answer; /metrics is Prometheus
# text with go's libp2p_relaysvc_* series and ours, and its values move as a reservation, a
# circuit and a refused CONNECT happen; the limit gauges follow a SIGHUP reload; unknown paths get
# 404, POST 405; idle sockets from one address do not lock /healthz out; listen_addr = "" turns
# it off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT

# http_get PATH [METHOD]: the whole response (status line, headers, body) on stdout, bounded.
http_get() {
    local path=$1 method=${2:-GET}
    timeout -k 2 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "%s %s HTTP/1.1\r\nHost: relay\r\n\r\n" "$1" "$2" >&3
        cat <&3' "$HTTP_PORT" "$method" "$path"
}
# metric NAME{LABELS}: its value from /metrics (empty when absent).
metric() {
    http_get /metrics | tr -d '\r' | awk -v m="$1" 'index($0, m " ") == 1 {print $NF; exit}'
}

relay_up r 'max_circuit_bytes = 0'
check "the relay starts" [ $? -eq 0 ]
HTTP_PORT=$(sed -n 's|^Metrics on: http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$O/r.out")
check "the banner prints the metrics URL" [ -n "$HTTP_PORT" ]

http_get /healthz >"$O/h"
check "/healthz: 200 ok" eval 'head -n1 "$O/h" | grep -q "^HTTP/1.1 200 " && tail -n1 "$O/h" | grep -qx ok'
http_get /readyz >"$O/rd"
check "/readyz: 200 ready" eval 'head -n1 "$O/rd" | grep -q "^HTTP/1.1 200 " && tail -n1 "$O/rd" | grep -qx ready'
http_get /addrs >"$O/ad"
check "/addrs: JSON with the relay's address" \
    eval 'grep -qi "^Content-Type: application/json" "$O/ad" && grep -qF "\"$RELAY_ADDR\"" "$O/ad"'
http_get /metrics >"$O/m0"
check "/metrics: Prometheus text" grep -qi "^Content-Type: text/plain; version=0.0.4" "$O/m0"
check "status 1 and nothing relayed yet" \
    eval '[ "$(metric libp2p_relaysvc_status)" = 1 ] && [ "$(metric "libp2p_relaysvc_reservations_total{type=\"opened\"}")" = 0 ]'
check "the limit gauges: max_reservations, max_circuits (defaults)" \
    eval '[ "$(metric mesh_relay_reservations_limit)" = 100 ] && [ "$(metric mesh_relay_circuits_limit)" = 1024 ]'
check "build info and memory" eval 'grep -q "^mesh_relay_build_info{version=\"" "$O/m0" && [ "$(metric mesh_relay_memory_bytes)" -gt 0 ]'

listener a "$O/a"
check "A reserves" [ $? -eq 0 ]
A=$LISTENER_ID
A_PID=$LISTENER_PID
check "reservations opened 1, in force 1" \
    eval '[ "$(metric "libp2p_relaysvc_reservations_total{type=\"opened\"}")" = 1 ] && [ "$(metric mesh_relay_reservations)" = 1 ]'
client_run "$O/b" --name b --dial "$A" --echo counted --send 100000
check "B reaches A (exit 0)" [ $? -eq 0 ]
wait_for "$RELAY_LOG" "CircuitClosed src_peer_id=" 10
check "a circuit opened and closed" \
    eval '[ "$(metric "libp2p_relaysvc_connections_total{type=\"opened\"}")" = 1 ] && [ "$(metric "libp2p_relaysvc_connections_total{type=\"closed\"}")" = 1 ]'
check "bytes relayed (at least the 100000 sent)" eval '[ "$(metric libp2p_relaysvc_data_transferred_bytes_total)" -ge 100000 ]'
check "the duration histogram counted it" eval '[ "$(metric libp2p_relaysvc_connection_duration_seconds_count)" = 1 ]'
client_run "$O/c" --name c --dial 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA --ping 1
check "a CONNECT to a peer without a reservation is refused" [ $? -eq 4 ]
check "counted as rejected: no reservation" \
    eval '[ "$(metric "libp2p_relaysvc_connection_rejections_total{reason=\"no reservation\"}")" = 1 ] && [ "$(metric "libp2p_relaysvc_connection_request_response_status_total{status=\"rejected\"}")" = 1 ]'
TCP_PORT=$(sed -n 's|^/ip4/127\.0\.0\.1/tcp/\([0-9]*\)/p2p/.*|\1|p' <<<"$RELAY_ADDR")
timeout -k 2 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "not libp2p\n" >&3 && cat <&3 >/dev/null' "$TCP_PORT"
failed_seen() { # bounded: up to 5 s for the relay to give up on the garbage
    local i
    for i in $(seq 1 50); do
        [ "$(metric mesh_relay_tcp_handshake_failures_total)" -ge 1 ] && return 0
        sleep 0.1
    done
    return 1
}
check "a garbage TCP handshake counts as failed" failed_seen
check "TCP connections are counted" eval '[ "$(metric "mesh_relay_connections_total{transport=\"tcp\",type=\"opened\"}")" -ge 3 ]'

http_get /nope >"$O/n"
check "an unknown path: 404" eval 'head -n1 "$O/n" | grep -q "^HTTP/1.1 404 "'
http_get /metrics POST >"$O/p"
check "POST: 405" eval 'head -n1 "$O/p" | grep -q "^HTTP/1.1 405 "'
# slowloris N SRC: hold N idle connections to the metrics port from 127.0.0.SRC (bounded to 15 s),
# then GET /healthz from 127.0.0.1 while they are open; prints the status line and how many of
# the idle ones the server held before that request. 64 idle sockets once made every /healthz fail.
slowloris() {
    timeout -k 2 15 python3 - "$HTTP_PORT" "$1" "$2" <<'PY'
import socket, sys, time
port, n, src = int(sys.argv[1]), int(sys.argv[2]), "127.0.0." + sys.argv[3]
idle = []
for _ in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    idle.append(s)
time.sleep(0.5)
held = 0
for s in idle:
    s.setblocking(False)
    try:
        held += s.recv(1) != b""
    except BlockingIOError:
        held += 1
    except OSError:
        pass
h = socket.create_connection(("127.0.0.1", port), timeout=5)
h.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
reply = b""
while True:
    b = h.recv(4096)
    if not b:
        break
    reply += b
print(reply.split(b"\r\n")[0].decode(), "held", held)
PY
}
slowloris 200 1 >"$O/sl1"
check "200 idle sockets from 127.0.0.1: /healthz still answers" grep -q "^HTTP/1.1 200 " "$O/sl1"
check "and only the newest 8 of them are held" grep -q " held 8$" "$O/sl1"
slowloris 200 2 >"$O/sl2"
check "200 idle sockets from 127.0.0.2: /healthz from 127.0.0.1 answers" grep -q "^HTTP/1.1 200 " "$O/sl2"

loopback_config "$O/r.toml" '[relay]' 'max_circuit_bytes = 0' 'max_reservations = 7' 'max_circuits = 9'
kill -HUP "$RELAY_PID"
check "SIGHUP reloads new limits" wait_for "$RELAY_LOG" "Configuration reloaded" 10
check "and the limit gauges follow" \
    eval '[ "$(metric mesh_relay_reservations_limit)" = 7 ] && [ "$(metric mesh_relay_circuits_limit)" = 9 ]'

stop_pid "$A_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]

printf '%s\n' '[network]' 'tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"' 'tcp_listen_addr_v6 = ""' \
    'quic_listen_addr = ""' 'quic_listen_addr_v6 = ""' '[metrics]' 'listen_addr = ""' >"$O/off.toml"
start_relay "$RH" "$O/off" --config "$O/off.toml"
check "listen_addr = \"\": the relay starts" [ $? -eq 0 ]
check "and prints no metrics URL" eval '! grep -q "^Metrics on:" "$O/off.out"'
stop_pid "$RELAY_PID"
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
