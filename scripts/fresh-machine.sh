#!/usr/bin/env bash
# fresh-machine.sh: the newcomer's path, checked on a bare Debian 12 (the last step of .ci/run).
#
#   1. A minimal Debian 12 (debootstrap --variant=minbase, plus git, make, gcc and
#      ca-certificates; the updates and security suites in its sources.list), cached as a tarball
#      under ~/.cache/mesh-relay/fresh-machine/ (keyed by suite, architecture, mirror and package
#      list; rebuilt after 30 days).
#   2. Unpacked into a new root (a tmpfs when the machine has the memory, else a directory under
#      $TMPDIR, /var/tmp), with a clean clone of the current commit in /root/mesh-relay (no build
#      directories, no node_modules; uncommitted changes are not part of the check).
#   3. In a chroot, as root, with an empty environment: `make run` until the banner lists its
#      addresses, then SIGINT to the relay, which must exit 0 (and `make run` with it); then
#      `make test`. Both install the Debian packages they need, as on a new machine.
#
# Bounded: FRESH_MACHINE_TIMEOUT seconds in all (900). Needs root; installs debootstrap with
# apt-get when it is missing. Steps 2 and 3 run in a private mount namespace and a private PID
# namespace (unshare): every mount (the tmpfs, /proc, /sys, /dev, /run) and every process of the
# chroot goes away with them when the run ends or is killed, so nothing stays mounted or running.
# A root on disk is deleted at the end (FRESH_MACHINE_KEEP=1 keeps it, FRESH_MACHINE_TMPFS=0
# puts it on disk).
#
# The chroot uses this machine's network: apt and npm need it, and `make run` listens on the
# default ports (4001, metrics 9464), which must be free. Certificate authorities this machine adds
# to Debian's (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's) and the proxy
# variables are passed in, so apt and npm reach what they reach here.
set -euo pipefail

suite=bookworm
mirror=${FRESH_MACHINE_MIRROR:-http://deb.debian.org/debian}
security_mirror=${FRESH_MACHINE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_pkgs=git,make,gcc,ca-certificates
budget=${FRESH_MACHINE_TIMEOUT:-900}
cache_days=30
# The root is a tmpfs when at least this much memory is available (it holds about 2.5 GiB).
tmpfs_need_kib=$((8 * 1024 * 1024))
start=$SECONDS
start_epoch=$(date +%s)

say() { echo "fresh-machine [$((SECONDS - start)) s]: $*"; }
die() {
    echo "fresh-machine [$((SECONDS - start)) s]: $*" >&2
    exit 1
}
# left: the seconds of the budget still left, at least 1 (timeout 0 would mean no limit)
left() {
    local n=$((budget - (SECONDS - start)))
    echo $((n > 0 ? n : 1))
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, namespaces)"
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
sha=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    say "note: uncommitted changes in $repo are not part of the check (it clones $sha)"
fi
for port in 4001 9464; do # the default listen and metrics ports
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        die "port $port is in use on this machine: 'make run' in the chroot could not listen on it"
    fi
done
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
        >/dev/null || die "cannot install debootstrap"
fi

arch=$(dpkg --print-architecture)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay/fresh-machine
key=$(printf '%s\n' "v1" "$suite" "$arch" "$mirror" "$security_mirror" "$base_pkgs" |
    sha256sum | cut -c1-12)
base=$cache/debian-$suite-$arch-minbase-$key.tar
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mesh-relay-fresh.XXXXXX")
root=$work/root
mkdir "$root"

# bounded CMD...: CMD within the time left, in the background so that a signal to this script
# reaches it at once (stop_child); returns its status (124: timed out).
child=
bounded() {
    timeout -k 30 "$(left)" "$@" &
    child=$!
    local rc=0
    wait "$child" || rc=$?
    child=
    return "$rc"
}
# stop_child: end what bounded runs (timeout passes the signal on; unshare's --kill-child then
# ends the namespaces and everything in them) and wait for it.
stop_child() {
    [ -n "$child" ] || return 0
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
    child=
}

cleanup() {
    local rc=$?
    stop_child
    # Mounts were made in namespaces that are gone; refuse to delete anything still mounted.
    if grep -qF " $work/" /proc/self/mountinfo; then
        echo "fresh-machine: something is still mounted under $work; left in place" >&2
    elif [ "${FRESH_MACHINE_KEEP:-0}" = 1 ]; then
        echo "fresh-machine: kept $work" >&2
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM

# ---- 1. the base system ------------------------------------------------------------------------
bootstrap() {
    local fresh=$work/bootstrap
    say "debootstrap $suite ($arch, minbase + $base_pkgs) from $mirror"
    mkdir -p "$cache"
    # Its /proc and /sys mounts in the target go away with the private mount namespace.
    bounded unshare --mount --propagation private -- \
        debootstrap --variant=minbase --include="$base_pkgs" "$suite" "$fresh" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    }
    cat >"$fresh/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
    rm -rf "$fresh"/var/cache/apt/archives/*.deb "$fresh"/var/lib/apt/lists/*
    tar -C "$fresh" -cf "$base.tmp.$$" . || die "cannot write $base"
    mv "$base.tmp.$$" "$base"
    rm -rf --one-file-system "$fresh"
    # Older bases of this script (another key) are of no further use.
    find "$cache" -maxdepth 1 -name 'debian-*.tar*' ! -path "$base" -delete
}

t0=$SECONDS
if [ -f "$base" ] && [ -z "$(find "$base" -mtime +"$cache_days")" ]; then
    say "base system from the cache ($base)"
    t_base="cached"
else
    bootstrap
    t_base="debootstrap $((SECONDS - t0)) s"
fi

# ---- 2. and 3.: in the namespaces --------------------------------------------------------------
use_tmpfs=${FRESH_MACHINE_TMPFS:-auto}
if [ "$use_tmpfs" = auto ]; then
    avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
    use_tmpfs=$((avail >= tmpfs_need_kib ? 1 : 0))
fi
[ "${FRESH_MACHINE_KEEP:-0}" = 1 ] && use_tmpfs=0 # a tmpfs would vanish with the namespace
extra_ca=()
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] && extra_ca+=("$crt")
done
env_in=(HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM=dumb
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
if [ ${#extra_ca[@]} -gt 0 ]; then
    bundle=/etc/ssl/certs/ca-certificates.crt
    env_in+=("NODE_EXTRA_CA_CERTS=$bundle" "npm_config_cafile=$bundle" EXTRA_CA=1)
fi
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && env_in+=("$v=${!v}")
done

# The steps inside the chroot. They report their times in /root/fresh-times.
cat >"$work/steps.sh" <<'STEPS'
set -euo pipefail
say() { echo "fresh-machine [$(($(date +%s) - FRESH_START)) s]: $*"; }
[ "${EXTRA_CA:-0}" = 1 ] && update-ca-certificates >/dev/null 2>&1
cd /root/mesh-relay

# relay_below PID: the PID of the relay-server process below PID (make, maybe a shell), if any.
relay_below() {
    local p exe
    for p in /proc/[0-9]*; do
        [ "$(awk '/^PPid:/ { print $2 }' "$p/status" 2>/dev/null)" = "$1" ] || continue
        exe=$(readlink "$p/exe" 2>/dev/null || true)
        if [ "$exe" = /root/mesh-relay/build/relay-server ]; then
            echo "${p#/proc/}"
            return 0
        fi
        relay_below "${p#/proc/}" && return 0
    done
    return 1
}

say "make run"
t0=$SECONDS
make run </dev/null >/root/make-run.log 2>&1 &
make_pid=$!
relay=
for _ in $(seq 1 1200); do # 10 minutes at most: packages, a release build, the start
    if grep -q '^Listening on:' /root/make-run.log && relay=$(relay_below "$make_pid"); then
        break
    fi
    kill -0 "$make_pid" 2>/dev/null || break
    sleep 0.5
done
if [ -z "$relay" ]; then
    tail -n 40 /root/make-run.log
    say "make run: no banner (log above)"
    exit 1
fi
echo "run $((SECONDS - t0))" >>/root/fresh-times
sleep 1 # the rest of the banner
sed -n '/^Mesh Relay Server is running!/,$p' /root/make-run.log | grep -v '^gmake' | head -n 20
say "make run: banner after $((SECONDS - t0)) s; SIGINT to the relay (PID $relay)"
kill -INT "$relay"
rc=timeout
for _ in $(seq 1 600); do # 60 s at most
    if ! kill -0 "$make_pid" 2>/dev/null; then
        rc=0
        wait "$make_pid" || rc=$?
        break
    fi
    sleep 0.1
done
if [ "$rc" != 0 ]; then
    tail -n 20 /root/make-run.log
    say "make run: after SIGINT: exit $rc, expected 0 (log above)"
    exit 1
fi
say "make run: exit 0 after SIGINT"

say "make test"
t0=$SECONDS
make test
echo "test $((SECONDS - t0))" >>/root/fresh-times
say "make test: passed in $((SECONDS - t0)) s"
STEPS

# inner ROOT BASE REPO SHA USE_TMPFS WORK NCA CA... -- ENV...: runs as root in the new
# namespaces. Prepares the root (tmpfs, base system, clone, name service, CAs), mounts what a
# system needs (a /dev of the usual nodes and a private devpts) and runs the steps in a chroot.
inner() {
    local r=$1 base=$2 repo=$3 sha=$4 use_tmpfs=$5 work=$6 nca=$7 t0=$SECONDS
    shift 7
    local cas=("${@:1:nca}")
    shift "$nca"
    [ "$use_tmpfs" = 1 ] && mount -t tmpfs -o mode=0755,size=12g tmpfs "$r"
    tar -C "$r" -xf "$base"
    git clone --quiet --no-hardlinks --no-checkout "$repo" "$r/root/mesh-relay"
    git -C "$r/root/mesh-relay" fetch --quiet "$repo" "$sha" 2>/dev/null || true
    git -C "$r/root/mesh-relay" checkout --quiet --detach "$sha"
    git -C "$r/root/mesh-relay" remote remove origin
    rm -f "$r/etc/resolv.conf" "$r/etc/hosts" # never write through a link in the base
    cp /etc/resolv.conf /etc/hosts "$r/etc/"
    [ "$nca" -gt 0 ] && cp "${cas[@]}" "$r/usr/local/share/ca-certificates/"
    cp "$work/steps.sh" "$r/root/fresh-steps.sh"
    echo "prepare $((SECONDS - t0))" >"$r/root/fresh-times"
    mount -t proc proc "$r/proc"
    mount -t sysfs -o ro sysfs "$r/sys"
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$r/dev"
    for n in null zero full random urandom tty; do
        touch "$r/dev/$n"
        mount --bind "/dev/$n" "$r/dev/$n"
    done
    mkdir "$r/dev/pts" "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
    ln -s pts/ptmx "$r/dev/ptmx"
    mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
    ln -s /proc/self/fd "$r/dev/fd"
    ln -s /proc/self/fd/0 "$r/dev/stdin"
    ln -s /proc/self/fd/1 "$r/dev/stdout"
    ln -s /proc/self/fd/2 "$r/dev/stderr"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mkdir -m 1777 "$r/run/lock"
    # fresh-times is copied out before the namespace (and a tmpfs root) goes away.
    chroot "$r" /usr/bin/env -i "$@" /bin/bash /root/fresh-steps.sh || {
        local rc=$?
        cp "$r/root/fresh-times" "$work/times"
        return "$rc"
    }
    cp "$r/root/fresh-times" "$work/times"
}

say "chroot in $root ($([ "$use_tmpfs" = 1 ] && echo tmpfs || echo on disk)), $(left) s left"
rc=0
bounded unshare --mount --pid --fork --kill-child --propagation private -- \
    bash -c "set -euo pipefail; $(declare -f inner); inner \"\$@\"" inner \
    "$root" "$base" "$repo" "$sha" "$use_tmpfs" "$work" "${#extra_ca[@]}" "${extra_ca[@]}" \
    "${env_in[@]}" "FRESH_START=$start_epoch" || rc=$?
times_of() { sed -n "s/^$1 //p" "$work/times" 2>/dev/null || true; }
[ "$rc" -eq 124 ] && die "timed out after ${budget} s"
[ "$rc" -eq 0 ] || die "failed (exit $rc)"
say "passed in $((SECONDS - start)) s: base system $t_base, root and clone $(times_of prepare) s," \
    "make run to the banner $(times_of run) s, make test $(times_of test) s"
