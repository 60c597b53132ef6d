#!/usr/bin/env bash
# run.sh: run interop test files with node's test runner, installing the npm dependencies first
# when needed. Used by CTest (cmake/tests.cmake, label interop) and by hand:
#
#   tests/interop/run.sh --deps                  # only make node_modules match package-lock.json
#   RLY_BUILD_DIR=build tests/interop/run.sh tests/interop/tcp.test.mjs [more files or node args]
#
# node_modules is (re)installed with `npm ci` when it is missing or older than package-lock.json
# or package.json; concurrent runs (ctest -j) serialise on a lock file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

command -v node >/dev/null || { echo "run.sh: node not found (scripts/deps.sh test installs it)" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm not found (scripts/deps.sh test installs it)" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "run.sh: node $(node --version) is too old (>= 18 needed)" >&2
    exit 1
fi

ensure_deps() {
    local stamp="$here/node_modules/.package-lock.json"
    exec 9>"$here/.npm-ci.lock"
    flock -w 600 9 || { echo "run.sh: timed out waiting for another npm ci" >&2; exit 1; }
    if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ] || [ "$here/package.json" -nt "$stamp" ]; then
        echo "run.sh: npm ci in $here" >&2
        (cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >&2
        touch "$stamp"
    fi
    flock -u 9
}

ensure_deps
if [ "${1:-}" = "--deps" ]; then
    exit 0
fi
[ $# -gt 0 ] || { echo "usage: run.sh --deps | run.sh FILE.test.mjs... [node --test args]" >&2; exit 2; }

flags=(--test)
help=$(node --help 2>/dev/null || true) # (not piped into grep -q: with pipefail, an early exit
                                        # of grep can fail the pipeline on SIGPIPE)
# --test-force-exit (node >= 20.14): end the run when the tests are done even if a stuck handle
# remains; the harness then kills any child process still running by its PID on exit.
if grep -q -- '--test-force-exit' <<<"$help"; then
    flags+=(--test-force-exit)
fi

# TAP on stdout as before, and, unless the caller picks a reporter, lib/failures_reporter.mjs on
# stderr: after the run, each failed test's name and the first lines of its error, the part a CI
# log that keeps only the head and tail of a long output would otherwise lose.
if ! printf '%s\n' "$@" | grep -q -- '^--test-reporter' &&
    grep -q -- '--test-reporter-destination' <<<"$help"; then
    flags+=(--test-reporter=tap --test-reporter-destination=stdout
        "--test-reporter=$here/lib/failures_reporter.mjs" --test-reporter-destination=stderr)
fi

exec node "${flags[@]}" "$@"
