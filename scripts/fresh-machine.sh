#!/usr/bin/env bash
# fresh-machine.sh: the newcomer's path, checked on a bare Debian 12 (the last step of .ci/run).
#
#   1. A minimal Debian 12 (debootstrap --variant=minbase, plus git, make, gcc and
#      ca-certificates), cached as a tarball under ~/.cache/mesh-relay/fresh-machine/ (keyed by
#      suite, architecture, mirror and package list; rebuilt after 30 days), unpacked into a new
#      directory under $TMPDIR (/var/tmp).
#   2. A clean clone of the current commit into it (no build directories, no node_modules;
#      uncommitted changes are not part of the check).
#   3. In a chroot, as root, with an empty environment: `make run` until the banner lists its
#      addresses, then SIGINT to the relay, which must exit 0 (and `make run` with it); then
#      `make test`. Both install the Debian packages they need, as on a new machine.
#
# Bounded: FRESH_MACHINE_TIMEOUT seconds in all (900). Needs root; installs debootstrap with
# apt-get when it is missing. Every mount lives in a private mount namespace and every process in
# the chroot in a private PID namespace (unshare): when the run ends or is killed the kernel
# removes both, so nothing stays mounted or running; then the directory is deleted
# (FRESH_MACHINE_KEEP=1 keeps it and prints its path).
#
# The chroot uses this machine's network: apt and npm need it, and `make run` listens on the
# default ports (4001, metrics 9464), which must be free. Certificate authorities this machine adds to Debian's
# (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's) and the proxy variables are
# passed in, so apt and npm reach what they reach here.
set -euo pipefail

suite=bookworm
mirror=${FRESH_MACHINE_MIRROR:-http://deb.debian.org/debian}
security_mirror=${FRESH_MACHINE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_pkgs=git,make,gcc,ca-certificates
budget=${FRESH_MACHINE_TIMEOUT:-900}
cache_days=30
start=$SECONDS

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

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount namespaces)"
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
base=$cache/debian-$suite-$arch-minbase-$key.tar.gz
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mesh-relay-fresh.XXXXXX")
root=$work/root

cleanup() {
    local rc=$?
    # Mounts were made in namespaces that are gone; refuse to delete anything still mounted.
    if grep -qF " $work/" /proc/self/mountinfo; then
        echo "fresh-machine: something is still mounted under $work; left in place" >&2
    elif [ "${FRESH_MACHINE_KEEP:-0}" = 1 ]; then
        echo "fresh-machine: kept $work" >&2
    else
        rm -rf --one-file-system "$work"
        say "removed $work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. the base system ------------------------------------------------------------------------
bootstrap() {
    local fresh=$work/bootstrap
    say "debootstrap $suite ($arch, minbase + $base_pkgs) from $mirror"
    mkdir -p "$cache"
    # Its /proc and /sys mounts in the target go away with the private mount namespace.
    timeout -k 10 "$(left)" unshare --mount --propagation private -- \
        debootstrap --variant=minbase --include="$base_pkgs" "$suite" "$fresh" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    }
    # A real install also has the updates and the security suite.
    cat >"$fresh/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
    rm -rf "$fresh"/var/cache/apt/archives/*.deb "$fresh"/var/lib/apt/lists/*
    tar -C "$fresh" -czf "$base.tmp.$$" . || die "cannot write $base"
    mv "$base.tmp.$$" "$base"
    rm -rf --one-file-system "$fresh"
    # Older bases of this script (another key) are of no further use.
    find "$cache" -maxdepth 1 -name 'debian-*.tar.gz' ! -path "$base" -delete
}

t0=$SECONDS
if [ -f "$base" ] && [ -z "$(find "$base" -mtime +"$cache_days")" ]; then
    say "base system from the cache ($base)"
else
    bootstrap
fi
mkdir "$root"
tar -C "$root" -xzf "$base" || die "cannot unpack $base"
t_base=$((SECONDS - t0))

# ---- 2. a clean clone, the host's name service and extra CAs -----------------------------------
t0=$SECONDS
dst=$root/root/mesh-relay
git clone --quiet --no-hardlinks --no-checkout "$repo" "$dst"
git -C "$dst" fetch --quiet "$repo" "$sha" 2>/dev/null || true
git -C "$dst" checkout --quiet --detach "$sha" || die "cannot check out $sha in the clone"
git -C "$dst" remote remove origin
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
env_in=(HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM=dumb
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
extra_ca=0
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] || continue
    cp "$crt" "$root/usr/local/share/ca-certificates/"
    extra_ca=1
done
if [ "$extra_ca" = 1 ]; then
    bundle=/etc/ssl/certs/ca-certificates.crt
    env_in+=("NODE_EXTRA_CA_CERTS=$bundle" "npm_config_cafile=$bundle")
fi
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && env_in+=("$v=${!v}")
done
t_clone=$((SECONDS - t0))

# ---- 3. in the chroot: make run, SIGINT, make test ---------------------------------------------
# The steps, run by bash inside the chroot. Times go to /root/fresh-times.
cat >"$root/root/fresh-steps.sh" <<'STEPS'
set -euo pipefail
say() { echo "fresh-machine [$((T0 + SECONDS)) s]: $*"; }
[ "$EXTRA_CA" = 1 ] && update-ca-certificates >/dev/null 2>&1
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
STEPS

say "chroot: $root ($((SECONDS - start)) s so far, $(left) s left)"
# A private mount namespace (nothing mounted here is seen outside, nor outlives the run) and a
# private PID namespace (when its first process ends, the kernel kills everything in it).
# /dev holds only the usual device nodes, bound one by one, and a new devpts instance.
inner() {
    local r=$1
    shift
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
    exec chroot "$r" /usr/bin/env -i "$@" /bin/bash /root/fresh-steps.sh
}
rc=0
timeout -k 30 "$(left)" unshare --mount --pid --fork --kill-child --propagation private -- \
    bash -c "$(declare -f inner); inner \"\$@\"" inner "$root" "${env_in[@]}" EXTRA_CA=$extra_ca \
    T0=$((SECONDS - start)) ||
    rc=$?
t_run=$(sed -n 's/^run //p' "$root/root/fresh-times" 2>/dev/null || true)
t_test=$(sed -n 's/^test //p' "$root/root/fresh-times" 2>/dev/null || true)
[ "$rc" -eq 124 ] && die "timed out after ${budget} s"
[ "$rc" -eq 0 ] || die "failed (exit $rc)"
say "passed in $((SECONDS - start)) s: base system ${t_base} s, clone ${t_clone} s," \
    "make run to the banner ${t_run:-?} s, make test ${t_test:-?} s"
