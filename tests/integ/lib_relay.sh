# lib_relay.sh: helpers for the relay service tests (sourced after lib.sh). A relay on loopback
# port 0 with small limits, example clients (test_client) listening through it or dialing through
# it, all sharing one private HOME (client identities: ~/.meshnet/clients/NAME.key), every wait
# bounded, every process stopped by its PID.
CLIENT="$RLY_BUILD_DIR/test_client"
RH=$(new_home)

# relay_up NAME [RELAY_KEY=VALUE...] [-- RELAY_ARGS...]: start a relay whose [relay] section holds
# the given lines; its output goes to $TMP_ROOT/NAME.out/.err. Sets RELAY_PID, RELAY_ADDR (the
# first listen address with /p2p), RELAY_ID, RELAY_LOG (its stderr). Returns non-zero on failure.
relay_up() {
    local name=$1 lines=() args=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        lines+=("$1")
        shift
    done
    [ "${1:-}" = -- ] && shift
    args=("$@")
    local cfg="$TMP_ROOT/$name.toml"
    loopback_config "$cfg" '[relay]' "${lines[@]}"
    start_relay "$RH" "$TMP_ROOT/$name" --config "$cfg" "${args[@]}" || return 1
    RELAY_ADDR=$(sed -n 's/^Listening on: //p' "$TMP_ROOT/$name.out" | head -n 1)
    RELAY_ID=$(peer_id_of "$TMP_ROOT/$name")
    RELAY_LOG="$TMP_ROOT/$name.err"
}

# wait_for FILE REGEX [SECS]: wait (max SECS, 15 by default) until a line of FILE matches the
# extended REGEX.
wait_for() {
    local file=$1 re=$2 secs=${3:-15} i
    for i in $(seq 1 $((secs * 10))); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# count_of FILE REGEX: lines of FILE matching REGEX.
count_of() {
    grep -cE -- "$2" "$1" 2>/dev/null
}

# listener NAME OUT [ARGS...]: start `test_client --relay $RELAY_ADDR --name NAME ARGS` in the
# background (output OUT.out/.err) and wait (max 15 s) for its "listening on" line. Sets
# LISTENER_PID and LISTENER_ID. Returns non-zero if it exited or timed out.
listener() {
    local name=$1 out=$2 i
    shift 2
    HOME="$RH" "$CLIENT" --relay "$RELAY_ADDR" --name "$name" "$@" >"$out.out" 2>"$out.err" &
    LISTENER_PID=$!
    STARTED_PIDS+=("$LISTENER_PID")
    for i in $(seq 1 150); do
        if grep -q '^listening on ' "$out.out" 2>/dev/null; then
            LISTENER_ID=$(sed -n 's/^local peer_id=//p' "$out.out")
            return 0
        fi
        kill -0 "$LISTENER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# client_bg OUT ARGS...: start `test_client --relay $RELAY_ADDR ARGS` in the background. Sets
# CLIENT_PID.
client_bg() {
    local out=$1
    shift
    HOME="$RH" "$CLIENT" --relay "$RELAY_ADDR" "$@" >"$out.out" 2>"$out.err" &
    CLIENT_PID=$!
    STARTED_PIDS+=("$CLIENT_PID")
}

# client_run OUT ARGS...: run `test_client --relay $RELAY_ADDR ARGS` to completion (bounded to
# 20 s); returns its exit code.
client_run() {
    local out=$1
    shift
    HOME="$RH" timeout -k 5 20 "$CLIENT" --relay "$RELAY_ADDR" "$@" >"$out.out" 2>"$out.err"
}

# peer_of NAME: the PeerId of client identity NAME (created if needed), without reserving.
peer_of() {
    HOME="$RH" timeout -k 5 20 "$CLIENT" --name "$1" --dial /ip4/127.0.0.1/tcp/1 --timeout 5 \
        2>/dev/null | sed -n 's/^local peer_id=//p'
}

# stop_pid PID: SIGTERM and wait (max 15 s); STOP_RC as stop_relay.
stop_pid() {
    stop_relay "$1" TERM
}

# rss_kib PID: the resident set size of PID in KiB.
rss_kib() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# event FILE NAME FIELDS_REGEX: a relay event line "INFO relay_server::events: NAME <fields>".
event() {
    grep -qE -- "INFO relay_server::events: $2 $3" "$1"
}

# http_get PATH: the relay's HTTP answer (headers and body) for GET PATH on 127.0.0.1:$HTTP_PORT.
http_get() {
    timeout -k 2 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.1\r\nHost: relay\r\n\r\n" "$1" >&3
        cat <&3' "$HTTP_PORT" "$1"
}

# wait_count FILE REGEX N [SECS]: wait (max SECS, 15 by default) until N lines of FILE match.
wait_count() {
    local file=$1 re=$2 n=$3 secs=${4:-15} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(count_of "$file" "$re")" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}

# show FILE...: print files indented (diagnostics after a failure).
show() {
    local f
    for f in "$@"; do
        echo "  --- $f"
        sed 's/^/  | /' "$f" 2>/dev/null | tail -n 40
    done
}
