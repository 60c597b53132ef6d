#!/usr/bin/env bash
# base.sh: make the Containerfile's base image, debian:bookworm-slim, locally, for machines that
# reach Debian's mirror but no container registry (run.sh uses it; by hand, as root:
# tests/deploy/container/base.sh, then `make image IMAGE_FLAGS=--pull=never`).
#
# A minimal Debian 12 from debootstrap (--variant=minbase), made slim as the official image is
# (no documentation but the copyright files, no manuals or translations, and dpkg told to keep
# leaving them out; apt's lists and downloaded packages removed; Debian's sources for bookworm,
# bookworm-updates and bookworm-security), imported with podman as
# docker.io/library/debian:bookworm-slim, the name `FROM debian:bookworm-slim` resolves to. The
# root is cached as a tarball under $RLY_CACHE_DIR/container/ (keyed by suite, architecture and
# mirrors; made again after 30 days) and imported again only when the tarball changed.
#
# A debian:bookworm-slim that is already there and was not made by this script (e.g. pulled from
# a registry) is used as it is. Needs root and podman; installs debootstrap when it is missing.
# Podman's configuration comes from the caller's environment (CONTAINERS_CONF, ...).
set -euo pipefail

suite=bookworm
mirror=${CONTAINER_BASE_MIRROR:-http://deb.debian.org/debian}
security_mirror=${CONTAINER_BASE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
name=docker.io/library/debian:$suite-slim
tag="mesh-relay base.sh:" # the import's comment on the images this script makes, with the tarball
cache_days=30
cache=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}/container
t0=$SECONDS

say() { echo "container base [$((SECONDS - t0)) s]: $*" >&2; }
die() {
    say "$*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap)"
command -v podman >/dev/null || die "needs podman"
arch=$(dpkg --print-architecture)
key=$(printf '%s\n' v1 "$suite" "$arch" "$mirror" "$security_mirror" | sha256sum | cut -c1-12)
tarball=$cache/debian-$suite-$arch-slim-$key.tar

current=
if podman image exists "$name"; then
    current=$(podman image inspect --format '{{.Comment}}' "$name")
    if [ "${current#"$tag "}" = "$current" ]; then
        say "using the $name that is here (not made by this script)"
        exit 0
    fi
fi

if [ ! -f "$tarball" ] || [ -n "$(find "$tarball" -mtime +"$cache_days")" ]; then
    command -v debootstrap >/dev/null || {
        say "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
            >/dev/null || die "cannot install debootstrap"
    }
    mkdir -p "$cache"
    work=$(mktemp -d "${TMPDIR:-/var/tmp}/mesh-relay-base.XXXXXX")
    trap 'rm -rf --one-file-system "$work"' EXIT
    r=$work/root
    say "debootstrap $suite ($arch, minbase) from $mirror"
    # Its /proc and /sys mounts in the target go away with the private mount namespace.
    timeout -k 10 600 unshare --mount --propagation private -- \
        debootstrap --variant=minbase "$suite" "$r" "$mirror" >"$work/log" 2>&1 || {
        tail -n 20 "$work/log" >&2
        die "debootstrap failed (log above)"
    }
    # Slim: what the official image leaves out, and dpkg leaves out of later packages too.
    cat >"$r/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$r"/usr/share/{info,linda,locale,man}/* "$r"/usr/share/lintian/overrides/*
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # The container engine provides these; the build machine's are no part of the image.
    rm -f "$r/etc/resolv.conf" "$r/etc/hostname" "$r/var/log/bootstrap.log"
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/*
    tar -C "$r" --numeric-owner -cf "$tarball.tmp.$$" . || die "cannot write $tarball"
    mv "$tarball.tmp.$$" "$tarball"
    # Older bases (another key) are of no further use.
    find "$cache" -maxdepth 1 -name 'debian-*.tar' ! -path "$tarball" -delete
    say "cached $tarball ($(du -m "$tarball" | cut -f1) MB)"
fi

stamp="$tag $(basename "$tarball")@$(stat -c %Y "$tarball")"
if [ "$current" = "$stamp" ]; then
    say "$name is up to date (${stamp#"$tag "})"
    exit 0
fi
podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --message "$stamp" \
    "$tarball" "$name" >/dev/null || die "podman import failed"
say "imported $tarball as $name"
