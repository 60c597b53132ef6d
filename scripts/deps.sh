#!/usr/bin/env bash
# deps.sh SET: make sure the Debian packages for SET (build | test | fuzz) are installed.
# As root: apt-get installs what is missing. Otherwise: print the exact command and fail.
set -euo pipefail

set_name=${1:-build}
build_pkgs=(cmake make gcc pkg-config libc6-dev libuv1-dev libssl-dev libsodium-dev libprotobuf-c-dev
            protobuf-c-compiler libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev)
test_pkgs=("${build_pkgs[@]}" libcriterion-dev clang-format python3 iproute2)
fuzz_pkgs=(clang libclang-rt-14-dev)

case "$set_name" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${test_pkgs[@]}") ;;
fuzz) want=("${fuzz_pkgs[@]}") ;;
*) echo "deps.sh: unknown set '$set_name' (build, test, fuzz)" >&2; exit 2 ;;
esac

# The interop tests (tests/interop) need Node.js >= 18 and npm. A node + npm already on PATH (e.g.
# a newer Node from elsewhere) is used as it is; otherwise Debian's nodejs and npm are installed.
node_ok() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
        [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]
}
if [ "$set_name" = test ] && ! node_ok; then
    want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
