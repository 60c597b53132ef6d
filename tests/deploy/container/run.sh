#!/usr/bin/env bash
# run.sh: the container image (Containerfile, `make image`) built and run for real with podman
# (issue 14). scripts/interop.sh runs it in `make interop` (as root) with RLY_BUILD_DIR,
# RLY_SOURCE_DIR and RLY_CACHE_DIR set; by hand:  sudo tests/deploy/container/run.sh  (after make)
#
#   - the base debian:bookworm-slim made locally (base.sh: debootstrap, cached), since no image
#     registry may be reachable; then `make image` with --pull=never: the Containerfile users build
#   - the image: its size; user 10001, the volume, the ports, the health check, SIGTERM; no
#     compiler in it; every shared library of relay-server resolves; `IMAGE --help` works
#   - a container with a named volume and ports published on 127.0.0.1: healthy (its HEALTHCHECK,
#     relay-server --health-check), /readyz 200 from the host; two test_client peers reserve and
#     reach each other through it over TCP and over QUIC, echoing bytes
#   - the identity on the volume: the same PeerId after `podman restart` and in a new container on
#     the same volume; another PeerId in a container on a new volume
#   - `podman stop` with a circuit open: the relay drains (/readyz 503, the circuit still up), and
#     exits 0 when the circuit ends
#
# Needs root and podman (installed from Debian with runc and debootstrap when missing); without
# them it prints SKIP and exits 0. Podman runs with its own configuration (a temporary
# CONTAINERS_CONF: runc, cgroupfs, no default ulimits; a registries.conf that resolves "debian"
# to docker.io/library/debian) and its usual storage (/var/lib/containers: the base image and
# the build's layers stay there as the cache). What else it makes (containers, volumes, the
# image) is named rlytest-<pid>-* and removed at the end.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
t_start=$SECONDS

say() { echo "container [$((SECONDS - t_start)) s]: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "container: SKIP: needs root (podman with its system storage, debootstrap)"
    exit 0
fi
missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (Debian)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; }; then
        echo "container: SKIP: cannot install ${missing[*]} with apt-get"
        exit 0
    fi
fi
[ -x "$RLY_BUILD_DIR/test_client" ] || {
    echo "container: no $RLY_BUILD_DIR/test_client (make build)" >&2
    exit 1
}

# The integration tests' helpers: check/finish, test_client peers (listener, client_run on
# $RELAY_ADDR, identities in $RH), wait_for, stop_pid, show; $TMP_ROOT, removed at the end.
. "$RLY_SOURCE_DIR/tests/integ/lib.sh"
. "$RLY_SOURCE_DIR/tests/integ/lib_relay.sh"
O=$TMP_ROOT
P=rlytest-$$
IMG=localhost/mesh-relay:$P

# podman: runc (crun does not run on every host's cgroups), cgroupfs (no systemd needed), no
# default ulimits (a container may not raise them past the host's), logs in files. Short names:
# "debian" is docker.io/library/debian, with no registry asked (the build runs with --pull=never).
export CONTAINERS_CONF=$O/containers.conf CONTAINERS_REGISTRIES_CONF=$O/registries.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$CONTAINERS_REGISTRIES_CONF" <<'EOF'
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
[aliases]
"debian" = "docker.io/library/debian"
EOF

# What this run made in podman goes, then what lib.sh's cleanup removes (processes, $TMP_ROOT).
podman_cleanup() {
    local c
    for c in a b; do
        podman rm -f -v -t 0 "$P-$c" >/dev/null 2>&1 || true
    done
    podman volume rm -f "$P-vol" "$P-vol2" >/dev/null 2>&1 || true
    podman rmi -f "$IMG" >/dev/null 2>&1 || true
}
trap 'podman_cleanup; cleanup' EXIT

# logs NAME: the container's output so far (stdout and stderr) into $O/NAME.log.
logs() {
    podman logs "$P-$1" >"$O/$1.log" 2>&1
}
# peer_id NAME: the PeerId the container's relay printed last (its banner).
peer_id() {
    logs "$1"
    sed -n 's/^Local PeerId: //p' "$O/$1.log" | tail -n 1
}
# http_status PORT PATH: the HTTP status code of GET PATH on 127.0.0.1:PORT.
http_status() {
    timeout -k 2 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n" "$1" >&3
        head -n 1 <&3' "$1" "$2" 2>/dev/null | sed -n 's/^HTTP\/1\.[01] \([0-9]*\) .*/\1/p'
}
# host_port NAME PORT/PROTO: the host port podman published PORT/PROTO of the container on.
host_port() {
    podman port "$P-$1" "$2" | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -n 1
}
# healthy NAME: run the image's health check until it passes (max 20 s; without systemd podman
# does not run it on its interval), then the container's health status must say so.
healthy() {
    local i
    for i in $(seq 1 40); do
        if podman healthcheck run "$P-$1" >/dev/null 2>&1; then
            [ "$(podman inspect --format '{{.State.Health.Status}}' "$P-$1")" = healthy ]
            return
        fi
        sleep 0.5
    done
    return 1
}
# up NAME VOLUME: start a container of the image on the named VOLUME, its ports published on
# 127.0.0.1 (free host ports chosen by podman), and wait for its banner.
up() {
    rm -f "$O/$1.log"
    podman run -d --name "$P-$1" --stop-timeout 45 -v "$2:/var/lib/mesh-relay" \
        -p 127.0.0.1::4001/tcp -p 127.0.0.1::4001/udp -p 127.0.0.1::9464/tcp "$IMG" \
        >"$O/$1.run" 2>&1 || return 1
    started "$1"
}
# started NAME: wait (max 20 s) for one more banner in the container's output than it has now.
started() {
    local i n0
    n0=$(grep -c '^Metrics on: ' "$O/$1.log" 2>/dev/null) || n0=0
    for i in $(seq 1 200); do
        logs "$1"
        [ "$(grep -c '^Metrics on: ' "$O/$1.log")" -gt "$n0" ] && return 0
        [ "$(podman inspect --format '{{.State.Running}}' "$P-$1")" = true ] || return 1
        sleep 0.1
    done
    return 1
}
# relay_at NAME: RELAY_ADDR (TCP), QUIC_ADDR and METRICS_PORT of container NAME's relay, from its
# published ports and the PeerId in its banner (RELAY_ID).
relay_at() {
    RELAY_ID=$(peer_id "$1")
    RELAY_ADDR=/ip4/127.0.0.1/tcp/$(host_port "$1" 4001/tcp)/p2p/$RELAY_ID
    QUIC_ADDR=/ip4/127.0.0.1/udp/$(host_port "$1" 4001/udp)/quic-v1/p2p/$RELAY_ID
    METRICS_PORT=$(host_port "$1" 9464/tcp)
}
# circuit_through PROTO ADDR: peer A reserves on the relay at ADDR, peer B reaches A through it
# and echoes 256 KiB byte for byte; A stops.
circuit_through() {
    RELAY_ADDR=$2
    LISTENER_ID=
    listener "a$1" "$O/a$1"
    check "$1: peer A reserves through the published port" [ $? -eq 0 ]
    client_run "$O/b$1" --name "b$1" --dial "$LISTENER_ID" --ping 1 --echo-bytes 262144
    check "$1: peer B reaches A through the relay (exit 0)" [ $? -eq 0 ]
    check "$1: 256 KiB echoed byte for byte" grep -qE '^echo bytes=262144 ' "$O/b$1.out"
    logs a
    check "$1: the relay logged the circuit" \
        grep -q "CircuitReqAccepted .*dst_peer_id=$LISTENER_ID" "$O/a.log"
    stop_pid "$LISTENER_PID"
    [ "$FAILED" -eq 0 ] || show "$O/a$1.out" "$O/a$1.err" "$O/b$1.out" "$O/b$1.err"
}

# ---- the image ---------------------------------------------------------------------------------
"$here/base.sh" || { echo "container: cannot make the base image (above)" >&2; exit 1; }
say "make image IMAGE=$IMG (--pull=never)"
t0=$SECONDS
if ! make -C "$RLY_SOURCE_DIR" --no-print-directory image CONTAINER_ENGINE=podman IMAGE="$IMG" \
    IMAGE_FLAGS=--pull=never >"$O/build.log" 2>&1; then
    show "$O/build.log"
    echo "container: make image failed (above)" >&2
    exit 1
fi
t_build=$((SECONDS - t0))
size=$(podman image inspect --format '{{.Size}}' "$IMG")
base_size=$(podman image inspect --format '{{.Size}}' docker.io/library/debian:bookworm-slim)
say "built in $t_build s: $IMG is $((size / 1000000)) MB (the base $((base_size / 1000000)) MB)"

inspect() { podman image inspect --format "$1" "$IMG"; }
check "the image runs as 10001:10001" [ "$(inspect '{{.Config.User}}')" = 10001:10001 ]
check "its volume is /var/lib/mesh-relay, its HOME" \
    eval '[ "$(inspect "{{json .Config.Volumes}}")" = "{\"/var/lib/mesh-relay\":{}}" ] &&
        inspect "{{json .Config.Env}}" | grep -q "\"HOME=/var/lib/mesh-relay\""'
check "it exposes 4001/tcp, 4001/udp and 9464/tcp" \
    [ "$(inspect '{{json .Config.ExposedPorts}}')" = '{"4001/tcp":{},"4001/udp":{},"9464/tcp":{}}' ]
check "its health check is relay-server --health-check" \
    [ "$(inspect '{{json .Config.Healthcheck.Test}}')" = '["CMD","relay-server","--health-check"]' ]
check "its stop signal is SIGTERM" [ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ]
check "its entrypoint is relay-server" \
    [ "$(inspect '{{json .Config.Entrypoint}}')" = '["relay-server"]' ]

podman run --rm --no-healthcheck --entrypoint /bin/sh "$IMG" -c '
    echo "uid=$(id -u) gid=$(id -g)"
    for t in gcc cc c99 cpp ld as make cmake; do command -v $t; done
    ldd /usr/local/bin/relay-server' >"$O/inside" 2>&1
check "inside: uid 10001, gid 10001" grep -qx 'uid=10001 gid=10001' "$O/inside"
check "inside: no compiler, linker or build tool" eval '! grep -E "^/" "$O/inside"'
check "inside: every shared library of relay-server resolves" \
    eval 'grep -q "libngtcp2" "$O/inside" && ! grep -qiE "not found|not a dynamic" "$O/inside"'
podman run --rm --no-healthcheck "$IMG" --help >"$O/help" 2>&1
rc=$?
check "IMAGE --help: the relay's usage (exit 0)" \
    eval '[ $rc -eq 0 ] && grep -q "^Usage: relay-server" "$O/help"'
[ "$FAILED" -eq 0 ] || show "$O/inside" "$O/help"

# ---- a relay in a container, two peers through it ----------------------------------------------
up a "$P-vol"
rc=$?
check "container A starts (a named volume, ports on 127.0.0.1)" [ $rc -eq 0 ]
if [ $rc -ne 0 ]; then # nothing more to test
    show "$O/a.run" "$O/a.log"
    finish
    exit 1
fi
relay_at a
RID=$RELAY_ID
say "A: PeerId $RID; $RELAY_ADDR, $QUIC_ADDR, metrics on port $METRICS_PORT"
check "A's health check passes: healthy" healthy a
check "/readyz from the host: 200" [ "$(http_status "$METRICS_PORT" /readyz)" = 200 ]
circuit_through TCP "$RELAY_ADDR"
circuit_through QUIC "$QUIC_ADDR"

# ---- the identity on the volume ------------------------------------------------------------------
vol=$(podman volume inspect --format '{{.Mountpoint}}' "$P-vol")
check "the key is on the volume: .meshnet/relay_keypair.bin, 10001:10001, mode 600" \
    [ "$(stat -c '%u:%g %a' "$vol/.meshnet/relay_keypair.bin" 2>/dev/null)" = "10001:10001 600" ]
timeout -k 5 60 podman restart "$P-a" >/dev/null 2>&1 && started a
check "podman restart: A is back" [ $? -eq 0 ]
check "after the restart: the same PeerId" [ "$(peer_id a)" = "$RID" ]
# A restart keeps the container's own files too: a new container on the volume is the real test.
timeout -k 5 60 podman rm -f -t 45 "$P-a" >/dev/null 2>&1
up a "$P-vol"
check "a new container on the same volume starts" [ $? -eq 0 ]
check "and has the same PeerId" [ "$(peer_id a)" = "$RID" ]
up b "$P-vol2"
check "a container on a new volume starts" [ $? -eq 0 ]
RID2=$(peer_id b)
check "and has another PeerId" eval '[ -n "$RID2" ] && [ "$RID2" != "$RID" ]'
timeout -k 5 60 podman rm -f -t 45 "$P-b" >/dev/null 2>&1
[ "$FAILED" -eq 0 ] || show "$O/a.log" "$O/a.run" "$O/b.log" "$O/b.run"

# ---- podman stop drains ------------------------------------------------------------------------
relay_at a
check "the new A is healthy" healthy a
LISTENER_ID=
listener ad "$O/ad"
check "peer A reserves on the new A" [ $? -eq 0 ]
A_PID=$LISTENER_PID
client_bg "$O/bd" --name bd --dial "$LISTENER_ID" --hold --timeout 90
B_PID=$CLIENT_PID
for _ in $(seq 1 100); do
    logs a
    grep -q "CircuitReqAccepted .*dst_peer_id=$LISTENER_ID" "$O/a.log" && break
    sleep 0.1
done
check "peer B holds a circuit to A" \
    grep -q "CircuitReqAccepted .*dst_peer_id=$LISTENER_ID" "$O/a.log"
T0=$SECONDS
timeout -k 5 70 podman stop "$P-a" >"$O/stop.out" 2>&1 &
STOP_PID=$!
STARTED_PIDS+=("$STOP_PID")
ready=
for _ in $(seq 1 100); do
    ready=$(http_status "$METRICS_PORT" /readyz)
    [ "$ready" = 503 ] && break
    sleep 0.1
done
check "podman stop: /readyz 503 while the relay drains" [ "$ready" = 503 ]
logs a
check "the relay logged the drain with the circuit open" \
    grep -qE "Shutdown signal received, draining.* circuits=1 grace_secs=30" "$O/a.log"
check "the circuit is still open" kill -0 "$B_PID"
stop_pid "$B_PID" # the circuit ends, and with it the drain
wait "$STOP_PID"
check "podman stop returns 0" [ $? -eq 0 ]
check "well before the stop timeout ($((SECONDS - T0)) s < 40 s)" [ $((SECONDS - T0)) -lt 40 ]
logs a
check "the relay: no circuit left, stopped" \
    eval 'grep -q "No circuit left, shutting down" "$O/a.log" &&
        grep -q "Relay server stopped" "$O/a.log"'
check "the container's exit code: 0" \
    [ "$(podman inspect --format '{{.State.ExitCode}}' "$P-a")" = 0 ]
stop_pid "$A_PID"
[ "$FAILED" -eq 0 ] || show "$O/a.log" "$O/stop.out" "$O"/ad.* "$O"/bd.*
say "image $IMG: $((size / 1000000)) MB (built in $t_build s);" \
    "the test ran $((SECONDS - t_start)) s"
finish
