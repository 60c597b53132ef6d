#!/usr/bin/env bash
# Hand-run smoke test of the rust-libp2p peer against our relay on loopback (not the harness:
# tests/interop/peers/ drives all peers). Starts one relay (TCP + QUIC on 127.0.0.1, ports 0),
# then checks, each with its exit code and JSON events:
#   rust listener + rust dialler over TCP/TCP, QUIC/QUIC, QUIC/TCP, TCP/QUIC: reserve, circuit,
#     3 pings, 1 MiB echo (byte for byte), 1 MiB sink count;
#   identify of the relay (TCP, QUIC): hop protocol listed, observed addr 127.0.0.1 + the
#     peer's own port (from ss);
#   test_client listener + rust dialler, rust listener + test_client dialler (TCP, QUIC);
#   a dial to a peer without reservation: dial_failed status NO_RESERVATION, exit 4.
# Needs: build/relay-server and build/test_client (make build), python3, ss.
# Usage: tests/interop/rust/smoke.sh      (prints one line per check, exits 1 if any failed)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
RELAY="$root/build/relay-server"
TC="$root/build/test_client"
for b in "$RELAY" "$TC"; do [ -x "$b" ] || { echo "smoke: $b missing (make build)" >&2; exit 1; }; done
PEER="$("$here/build.sh" | tail -n 1)" || exit 1

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rust-peer-smoke.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { # check NAME CONDITION-EXIT-CODE
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
# wait_for FILE REGEX SECS
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# jcheck FILE PYTHON-EXPR: evs is the list of JSON events of FILE
jcheck() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
def ev(name): return [e for e in evs if e.get('event') == name]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

mkdir -p "$tmp/home"
cat > "$tmp/relay.toml" <<'EOF'
[network]
tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"
tcp_listen_addr_v6 = ""
quic_listen_addr = "/ip4/127.0.0.1/udp/0/quic-v1"
quic_listen_addr_v6 = ""
shutdown_grace_secs = 2

[metrics]
listen_addr = "/ip4/127.0.0.1/tcp/0"

[logging]
level = "info"
log_format = "pretty"
EOF
HOME="$tmp/home" "$RELAY" --config "$tmp/relay.toml" > "$tmp/relay.out" 2> "$tmp/relay.err" &
pids+=($!)
wait_for "$tmp/relay.out" 'Listening on: /ip4/127.0.0.1/udp/' 10 || { echo "smoke: relay did not start" >&2; cat "$tmp/relay.err" >&2; exit 1; }
T="$(grep -o '/ip4/127.0.0.1/tcp/[0-9]*/p2p/[A-Za-z0-9]*' "$tmp/relay.out" | head -1)"
Q="$(grep -o '/ip4/127.0.0.1/udp/[0-9]*/quic-v1/p2p/[A-Za-z0-9]*' "$tmp/relay.out" | head -1)"
MiB=1048576

# rust_listener RELAYADDR OUT: start (in this shell, so that its PID is recorded for cleanup),
# wait for "listening", set $id to its PeerId
rust_listener() {
  id=""
  "$PEER" --relay "$1" > "$2" 2> "$2.err" &
  pids+=($!)
  wait_for "$2" '"event":"listening"' 15 || return 1
  id="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["peer_id"])' "$2")"
}

n=0
for combo in "T T" "Q Q" "Q T" "T Q"; do
  set -- $combo
  L=$([ "$1" = T ] && echo "$T" || echo "$Q"); D=$([ "$2" = T ] && echo "$T" || echo "$Q")
  n=$((n + 1)); lo="$tmp/l$n.out"; do="$tmp/d$n.out"
  rust_listener "$L" "$lo"; check "rust listener reserves over $1" $?
  timeout 60 "$PEER" --relay "$D" --dial "$id" --ping 3 --identify --echo-bytes $MiB --send $MiB > "$do" 2> "$do.err"
  check "rust dialler over $2 -> rust listener over $1: exit 0" $?
  jcheck "$do" "len(ev('circuit')) == 1 and len(ev('ping')) == 3 and ev('echo') == [{'event':'echo','bytes':$MiB,'ok':True}] and ev('sent')[0]['count'] == $MiB and ev('identify')[0]['peer_id'] == '$id'"
  check "  circuit, 3 pings, identify, 1 MiB echo byte for byte, 1 MiB sink count" $?
  jcheck "$lo" "len(ev('incoming')) == 1 and len(ev('reserved')[0]['addrs']) > 0 and ev('listening')[0]['addr'].endswith('/p2p-circuit/p2p/$id')"
  check "  listener: reserved with addrs, one incoming" $?
done

for A in T Q; do
  addr=$([ "$A" = T ] && echo "$T" || echo "$Q"); out="$tmp/id$A.out"
  "$PEER" --dial "$addr" --identify --ping 4 > "$out" 2> "$out.err" &
  p=$!; pids+=($p)
  wait_for "$out" '"event":"identify"' 10
  if [ "$A" = T ]; then port="$(ss -tanp | grep "pid=$p," | awk '{print $4}' | sed 's/.*://' | head -1)"
  else port="$(ss -uanp | grep "pid=$p," | awk '{print $4}' | sed 's/.*://' | head -1)"; fi
  wait "$p"; rc=$?
  check "identify of the relay over $A: exit 0" $rc
  jcheck "$out" "'/libp2p/circuit/relay/0.2.0/hop' in ev('identify')[0]['protocols'] and ev('identify')[0]['observed_addr'].startswith('/ip4/127.0.0.1/') and ev('identify')[0]['observed_addr'].split('/')[4] == '$port'"
  check "  hop protocol listed, observed addr 127.0.0.1 port $port (ours)" $?
done

for A in T Q; do
  addr=$([ "$A" = T ] && echo "$T" || echo "$Q"); n=$((n + 1))
  HOME="$tmp/home" "$TC" --relay "$addr" > "$tmp/tc$n.out" 2> "$tmp/tc$n.err" &
  pids+=($!)
  wait_for "$tmp/tc$n.out" '^listening on ' 15; check "test_client listener reserves over $A" $?
  id="$(grep -o 'local peer_id=[A-Za-z0-9]*' "$tmp/tc$n.out" | cut -d= -f2)"
  timeout 60 "$PEER" --relay "$addr" --dial "$id" --ping 3 --identify --echo-bytes $MiB --send $MiB > "$tmp/d$n.out" 2> "$tmp/d$n.err"
  check "rust dialler -> test_client over $A: exit 0" $?
  jcheck "$tmp/d$n.out" "len(ev('ping')) == 3 and ev('echo')[0]['ok'] and ev('sent')[0]['ok'] and ev('identify')[0]['peer_id'] == '$id'"
  check "  3 pings, identify, 1 MiB echo, 1 MiB sink" $?

  n=$((n + 1))
  rust_listener "$addr" "$tmp/l$n.out"; check "rust listener reserves over $A" $?
  HOME="$tmp/home" timeout 60 "$TC" --relay "$addr" --dial "$id" --ping 3 --echo hello --send $MiB > "$tmp/tcd$n.out" 2> "$tmp/tcd$n.err"
  check "test_client dialler -> rust listener over $A: exit 0" $?
  grep -c '^ping rtt_ms=' "$tmp/tcd$n.out" | grep -qx 3 && grep -qx 'echo hello' "$tmp/tcd$n.out" && grep -q "^sent bytes=$MiB " "$tmp/tcd$n.out"
  check "  3 pings, echo hello, 1 MiB sent" $?
done

timeout 30 "$PEER" --relay "$T" --dial 12D3KooWSQs7Bgp4WV6RwCr4WhtDagdTXLRRzxTzvJsqsSovie9h --ping 1 > "$tmp/nr.out" 2> "$tmp/nr.err"
check "dial without reservation: exit 4" $([ $? = 4 ]; echo $?)
jcheck "$tmp/nr.out" "ev('dial_failed')[0]['status'] == 'NO_RESERVATION'"
check "  dial_failed status NO_RESERVATION" $?

[ "$fails" = 0 ] && echo "smoke: all passed" || echo "smoke: $fails failed"
[ "$fails" = 0 ]
