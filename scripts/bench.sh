#!/usr/bin/env bash
# bench.sh: build and run the benchmarks, write bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j "$(nproc)" --target bench_core >/dev/null
out=bench/RESULTS.md
tmp=$(mktemp)
build/bench/bench_core >"$tmp"
{
    echo "# Benchmark results"
    echo
    echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d): $(nproc) cores,"
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)."
    echo "Release build (\`-O3\` via CMake Release), one thread."
    echo
    echo "## Core codecs and identity crypto (\`build/bench/bench_core\`)"
    echo
    echo "Each row runs for about 0.3 s. Wall-clock numbers on a shared machine move by 10-20 %"
    echo "between runs; use \`valgrind --tool=callgrind build/bench/bench_core\` to compare changes."
    echo
    cat "$tmp"
    echo
    echo "Connection, handshake, circuit and memory benchmarks side by side with js-libp2p arrive"
    echo "with the libp2p stack and the relay service (see the issues); this file grows with them."
} >"$out"
rm -f "$tmp"
cat "$out"
