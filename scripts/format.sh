#!/usr/bin/env bash
# format.sh [--check]: clang-format every C source and header of the project (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build')
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ]; then
    if ! clang-format --dry-run -Werror "${files[@]}"; then
        echo "format check failed: run 'make format'" >&2
        exit 1
    fi
    echo "format check: ${#files[@]} files ok"
else
    clang-format -i "${files[@]}"
fi
