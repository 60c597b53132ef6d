# lib.sh: helpers for the integration tests (sourced). Each test script:
#   - runs the binaries from $RLY_BUILD_DIR (the release or the ASan build, set by CTest),
#   - uses a private HOME under a temporary directory and loopback addresses only,
#   - starts processes in the background, remembers their PIDs and stops only those,
#   - bounds every wait in time,
#   - ends with `finish`, which prints "N passed, N failed" and sets the exit code.
set -uo pipefail

: "${RLY_BUILD_DIR:?RLY_BUILD_DIR must point at the build directory}"
: "${RLY_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
RELAY="$RLY_BUILD_DIR/relay-server"
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/rly-integ.XXXXXX")
STARTED_PIDS=()
PASSED=0
FAILED=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

cleanup() {
    local p
    for p in "${STARTED_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$TMP_ROOT"
}
trap cleanup EXIT

pass() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

failt() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    [ $# -gt 1 ] && printf '  %s\n' "${@:2}"
    return 0
}

# check DESC CMD...: pass if CMD succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else failt "$desc"; fi
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# new_home: a fresh HOME directory; prints its path.
new_home() {
    mktemp -d "$TMP_ROOT/home.XXXXXX"
}

# has_ipv6: true when ::1 can be bound here.
has_ipv6() {
    [ -e /proc/net/if_inet6 ] && grep -q '00000000000000000000000000000001' /proc/net/if_inet6
}

# loopback_config FILE [EXTRA...]: a config that listens on loopback port 0 (any free port), TCP
# and QUIC (the banner lists TCP first).
loopback_config() {
    local file=$1
    shift
    local v6='"/ip6/::1/tcp/0"' q6='"/ip6/::1/udp/0/quic-v1"'
    has_ipv6 || { v6='""'; q6='""'; }
    {
        echo '[network]'
        echo 'tcp_listen_addr = "/ip4/127.0.0.1/tcp/0"'
        echo "tcp_listen_addr_v6 = $v6"
        echo 'quic_listen_addr = "/ip4/127.0.0.1/udp/0/quic-v1"'
        echo "quic_listen_addr_v6 = $q6"
        # a stop with circuits open drains briefly, unless the test sets its own grace
        [[ " $* " == *"shutdown_grace_secs"* ]] || echo "shutdown_grace_secs = 2"
        printf '%s\n' "$@"
        printf '\n[metrics]\nlisten_addr = "/ip4/127.0.0.1/tcp/0"\n'
    } >"$file"
}

# run_relay HOME OUTPREFIX ARGS...: run to completion (bounded to 20 s); stdout/stderr go to
# OUTPREFIX.out / OUTPREFIX.err; prints nothing; returns the exit code.
run_relay() {
    local home=$1 out=$2
    shift 2
    HOME="$home" timeout -k 5 20 "$RELAY" "$@" >"$out.out" 2>"$out.err"
}

# start_relay HOME OUTPREFIX ARGS...: start in the background, wait (max 15 s) for the banner's
# first "Listening on:" line. Sets RELAY_PID. Returns non-zero if it exited or timed out.
start_relay() {
    local home=$1 out=$2
    shift 2
    # Remove the previous run's output first: the shell truncates it only once the child runs,
    # and the wait below must not see an old banner.
    rm -f "$out.out" "$out.err"
    HOME="$home" "$RELAY" "$@" >"$out.out" 2>"$out.err" &
    RELAY_PID=$!
    STARTED_PIDS+=("$RELAY_PID")
    local i
    for i in $(seq 1 150); do
        grep -q '^Listening on:' "$out.out" 2>/dev/null && return 0
        kill -0 "$RELAY_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_relay PID SIGNAL: send SIGNAL and wait (max 15 s) for exit. Sets STOP_RC to the exit
# code, or "timeout" (after a SIGKILL) if it did not exit. Call it directly, not in $(...): only
# the shell that started the relay can wait for it.
stop_relay() {
    local pid=$1 sig=$2 i
    STOP_RC=timeout
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            STOP_RC=$?
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# peer_id_of OUTPREFIX: the PeerId from a banner.
peer_id_of() {
    sed -n 's/^Local PeerId: //p' "$1.out" | head -n 1
}

# one_line_error FILE PATTERN: FILE holds exactly one "error: " line (log lines from before the
# failure may precede it), that line is a single line matching the extended regex PATTERN.
one_line_error() {
    local file=$1 pattern=$2
    [ "$(grep -c '^error: ' "$file")" -eq 1 ] && grep '^error: ' "$file" | grep -qE -- "$pattern"
}

# only_line_error FILE PATTERN: as one_line_error, and nothing else was printed.
only_line_error() {
    [ "$(wc -l <"$1")" -eq 1 ] && one_line_error "$1" "$2"
}

# file_mode PATH: octal permission bits.
file_mode() {
    stat -c '%a' "$1"
}

# one_line_unhealthy FILE: --health-check's single "unhealthy: <url>: <reason>" line.
one_line_unhealthy() {
    [ "$(wc -l <"$1")" -eq 1 ] && grep -qE '^unhealthy: http://[^ ]+/healthz: .+' "$1"
}
