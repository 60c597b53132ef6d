#!/usr/bin/env bash
# Slow consumers cannot make the relay buffer: a destination that never reads (--stall: its sink
# consumes nothing) or that is frozen altogether (SIGSTOP: not even its socket is read) while the
# source pushes many MB. The relay's resident memory stays flat (growth < 16 MiB) and it keeps
# answering other peers (a ping to the relay itself) meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_relay.sh"
O=$TMP_ROOT
LIMIT_KIB=$((16 * 1024))
# ASan keeps freed memory in quarantine, which would count as growth: keep it small here.
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"

relay_up slow 'max_circuit_bytes = 0' 'max_circuit_duration_secs = 0'
check "the relay starts (no circuit limits)" [ $? -eq 0 ]

# ping_relay OUT: a direct ping of the relay by another client.
ping_relay() {
    HOME="$RH" timeout -k 5 20 "$CLIENT" --dial "$RELAY_ADDR" --ping 2 --timeout 10 >"$1.out" \
        2>"$1.err" && [ "$(count_of "$1.out" '^ping rtt_ms=')" -eq 2 ]
}

# push OUT TARGET: a source pushing 200 MB to TARGET's sink in the background.
push() {
    client_bg "$1" --name pusher --dial "$2" --send 200000000 --timeout 8
    PUSH_PID=$CLIENT_PID
    wait_for "$1.out" '^relayed connection established ' 15
}

# --stall: the sink never consumes; the source is held by the Yamux window.
listener staller "$O/st" --stall
check "a --stall destination listens" [ $? -eq 0 ]
STALLER=$LISTENER_ID
ping_relay "$O/warm"
BASE=$(rss_kib "$RELAY_PID")
push "$O/p1" "$STALLER"
check "the source reaches the stalled sink" [ $? -eq 0 ]
sleep 2
check "the relay answers a ping meanwhile" ping_relay "$O/ping1"
GROWN=$(($(rss_kib "$RELAY_PID") - BASE))
check "relay RSS growth < 16 MiB with a stalled sink (grew ${GROWN} KiB)" [ "$GROWN" -lt "$LIMIT_KIB" ]
wait "$PUSH_PID"
check "the source gives up at its timeout (exit 3)" [ $? -eq 3 ]
check "without reporting success" [ "$(count_of "$O/p1.out" '^sent ')" -eq 0 ]
wait_for "$RELAY_LOG" 'CircuitClosed' 10
check "the relay logged CircuitClosed for it" \
    event "$RELAY_LOG" CircuitClosed "src_peer_id=[^ ]+ dst_peer_id=$STALLER "
stop_pid "$LISTENER_PID"

# SIGSTOP: the destination process is frozen; the relay's writes to it back up.
listener frozen "$O/fr"
check "a second destination listens" [ $? -eq 0 ]
FROZEN=$LISTENER_ID
FROZEN_PID=$LISTENER_PID
BASE=$(rss_kib "$RELAY_PID")
push "$O/p2" "$FROZEN"
check "the source reaches it" [ $? -eq 0 ]
kill -STOP "$FROZEN_PID"
sleep 3
check "the relay answers a ping while the destination is frozen" ping_relay "$O/ping2"
GROWN=$(($(rss_kib "$RELAY_PID") - BASE))
check "relay RSS growth < 16 MiB with a frozen destination (grew ${GROWN} KiB)" \
    [ "$GROWN" -lt "$LIMIT_KIB" ]
wait "$PUSH_PID"
RC=$?
check "the source did not get 200 MB through (exit 3: timeout)" [ "$RC" -eq 3 ]
kill -CONT "$FROZEN_PID"
stop_pid "$FROZEN_PID"
check "the thawed destination stops with 0" [ "$STOP_RC" = 0 ]
check "the relay is still up" kill -0 "$RELAY_PID"
stop_pid "$RELAY_PID"
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err
finish
