#!/usr/bin/env bash
# The relay alone builds without test-only packages (issue 11, item 14): a release configure with
# the defaults never looks for Criterion and defines no tests, and `make build` / `make run` ask
# scripts/deps.sh for the build set only. (scripts/fresh-machine.sh checks the whole path on a
# bare Debian 12; this is its quick guard in make test.)
. "$(dirname "$0")/lib.sh"
B=$TMP_ROOT/build

timeout -k 5 120 cmake -S "$RLY_SOURCE_DIR" -B "$B" -DCMAKE_BUILD_TYPE=Release >"$TMP_ROOT/cmake.out" 2>&1
check "a release configure with the defaults succeeds" [ $? -eq 0 ]
check "it never looks for Criterion" bash -c "! grep -q '^CRITERION_LIB' '$B/CMakeCache.txt'"
check "the tests are off" grep -qx 'RLY_TESTS:BOOL=OFF' "$B/CMakeCache.txt"
check "no test is defined" [ ! -e "$B/CTestTestfile.cmake" ]

# make -n: what the targets would run, without running it; not steered by an outer make's flags
# or a TESTS in the environment.
dry() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u TESTS make -n -C "$RLY_SOURCE_DIR" "$1"
}
for target in build run; do
    dry "$target" >"$TMP_ROOT/$target.n" 2>&1
    check "make $target: scripts/deps.sh build" grep -q 'scripts/deps.sh build' "$TMP_ROOT/$target.n"
    check "make $target: not scripts/deps.sh test" bash -c "! grep -q 'scripts/deps.sh test' '$TMP_ROOT/$target.n'"
    check "make $target: no -DRLY_TESTS=ON" bash -c "! grep -q 'RLY_TESTS=ON' '$TMP_ROOT/$target.n'"
done
dry test >"$TMP_ROOT/test.n" 2>&1
check "make test: scripts/deps.sh test and the tests on" \
    bash -c "grep -q 'scripts/deps.sh test' '$TMP_ROOT/test.n' && grep -q 'TESTS=ON' '$TMP_ROOT/test.n'"
finish
