#!/usr/bin/env bash
# run.sh: the Kubernetes manifests (deploy/kubernetes/, issue 14) against the Kubernetes API types
# and the relay. Builds k8scheck (this directory: k8s.io/api v0.37.2, exact pins in go.mod and
# go.sum, -mod=readonly) into $RLY_CACHE_DIR/bin/k8scheck-<hash of its inputs> (flock; a warm run
# reuses it), runs it on deploy/kubernetes with $RLY_BUILD_DIR/relay-server, then `go test`: the
# same checks on the manifests and on broken copies of them (testdata/broken/*.yaml), each of
# which must fail its check. scripts/interop.sh runs it with RLY_BUILD_DIR, RLY_SOURCE_DIR and
# RLY_CACHE_DIR set; by hand:  tests/deploy/kubernetes/run.sh   (from the repo, after make)
# Exit 0 when everything passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RLY_SOURCE_DIR=${RLY_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
export RLY_BUILD_DIR=${RLY_BUILD_DIR:-$RLY_SOURCE_DIR/build}
export RLY_CACHE_DIR=${RLY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-relay}
go=${GO:-go}

[ -x "$RLY_BUILD_DIR/relay-server" ] || { echo "kubernetes: no $RLY_BUILD_DIR/relay-server (make build)" >&2; exit 1; }
command -v "$go" >/dev/null || { echo "kubernetes: no go on PATH (k8s.io/api v0.37.2 needs go >= 1.26)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false" CGO_ENABLED=0

mkdir -p "$RLY_CACHE_DIR/bin"
exec 9>"$RLY_CACHE_DIR/bin/.k8scheck.lock"
flock -w 600 9 || { echo "kubernetes: could not lock $RLY_CACHE_DIR/bin/.k8scheck.lock" >&2; exit 1; }
stamp=$( (cd "$here" && "$go" version && echo "$GOFLAGS $CGO_ENABLED" && sha256sum go.mod go.sum ./*.go) |
    sha256sum | cut -d' ' -f1)
bin=$RLY_CACHE_DIR/bin/k8scheck-${stamp:0:16}
if [ ! -x "$bin" ]; then
    t0=$SECONDS
    (cd "$here" && "$go" build -o "$bin.tmp" .)
    mv -f "$bin.tmp" "$bin"
    echo "kubernetes: built $bin in $((SECONDS - t0)) s" >&2
    # shellcheck disable=SC2012 # our own names: no spaces
    ls -t "$RLY_CACHE_DIR/bin/k8scheck-"* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | xargs -r rm -f
fi
exec 9>&-

rc=0
"$bin" -relay "$RLY_BUILD_DIR/relay-server" "$RLY_SOURCE_DIR/deploy/kubernetes" || rc=1
# The checker's own tests: broken manifests must fail the check they break.
(cd "$here" && "$go" test -count=1 .) || rc=1
exit "$rc"
