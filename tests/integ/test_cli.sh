#!/usr/bin/env bash
# The command line: --help, --version, usage errors (SPEC.md "CLI Options").
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o

run_relay "$H" "$O" --help
check "--help exits 0" [ $? -eq 0 ]
check "--help shows usage and every option" grep -q 'Usage: relay-server \[OPTIONS\]' "$O.out"
for opt in '-c, --config <CONFIG>' '-l, --log-level <LOG_LEVEL>' '--generate-config' \
    '--check-config' '--force' '-h, --help' '-V, --version'; do
    check "--help lists $opt" grep -qF -- "$opt" "$O.out"
done
check "--help lists the defaults" grep -q 'max_reservations = 100' "$O.out"
check "--help lists the default listen address" grep -qF '/ip4/0.0.0.0/tcp/4001' "$O.out"
check "--help names the default config path" grep -qF '~/.meshnet/relay.toml' "$O.out"
run_relay "$H" "$O" -h
check "-h exits 0" [ $? -eq 0 ]

run_relay "$H" "$O" --version
check "--version exits 0" [ $? -eq 0 ]
check "--version prints name and version" grep -qE '^relay-server [0-9]+\.[0-9]+\.[0-9]+$' "$O.out"
run_relay "$H" "$O" -V
check "-V exits 0" [ $? -eq 0 ]

run_relay "$H" "$O" --bogus
check "unknown option exits 2" [ $? -eq 2 ]
check "unknown option: one-line error naming it" only_line_error "$O.err" "'--bogus'"

run_relay "$H" "$O" -l loud
check "bad --log-level exits 2" [ $? -eq 2 ]
check "bad --log-level: one line naming value and allowed levels" \
    only_line_error "$O.err" "'loud'.*trace, debug, info, warn, error"

run_relay "$H" "$O" --config
check "--config without value exits 2" [ $? -eq 2 ]
check "--config without value: one-line error" only_line_error "$O.err" "needs a value"

run_relay "$H" "$O" --force
check "--force alone exits 2" [ $? -eq 2 ]

run_relay "$H" "$O" --generate-config --check-config
check "--generate-config with --check-config exits 2" [ $? -eq 2 ]

run_relay "$H" "$O" extra
check "positional argument exits 2" [ $? -eq 2 ]
check "nothing written to HOME by usage errors" [ -z "$(ls -A "$H")" ]

# test_client --name NAME keeps its key under ~/.meshnet/clients: a home directory that does not
# exist is named, with the reason, in one line (not "i/o error"), and is not created.
GONE=$TMP_ROOT/no-such-home
HOME="$GONE" timeout -k 5 20 "$RLY_BUILD_DIR/test_client" --name x --dial /ip4/127.0.0.1/tcp/1 \
    --timeout 5 >"$O.out" 2>"$O.err"
check "test_client --name with a missing home exits non-zero" [ $? -ne 0 ]
check "test_client --name with a missing home: one line naming the path and the reason" \
    [ "$(cat "$O.err")" = "test_client: cannot create the directory $GONE/.meshnet: No such file or directory" ]
check "test_client --name with a missing home: it is not created" [ ! -e "$GONE" ]
finish
