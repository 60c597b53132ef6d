#!/usr/bin/env bash
# The identity file ~/.meshnet/relay_keypair.bin: created once with mode 0600, the same PeerId on
# every start, a rust-libp2p key file loads to its PeerId, bad files stop start-up and are never
# overwritten: corrupt ones, symbolic links, files or directories of another user, a directory
# others can write to. A world-readable configuration that holds auth_token is warned about.
. "$(dirname "$0")/lib.sh"
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml
loopback_config "$C"

# start_stop HOME [CONFIG]: start, record the PeerId in STARTED_ID, stop with SIGTERM (exit 0
# expected).
start_stop() {
    STARTED_ID=
    if ! start_relay "$1" "$O" --config "${2:-$C}"; then
        cat "$O.err" >&2
        return 1
    fi
    STARTED_ID=$(peer_id_of "$O")
    stop_relay "$RELAY_PID" TERM
    [ "$STOP_RC" = 0 ]
}

H=$(new_home)
KEY=$H/.meshnet/relay_keypair.bin
start_stop "$H"
check "first start and stop succeed" [ $? -eq 0 ]
P1=$STARTED_ID
check "first start prints a PeerId" [ -n "$P1" ]
check "the PeerId is an Ed25519 one (12D3KooW...)" [ "${P1#12D3KooW}" != "$P1" ]
check "the key file is created" [ -f "$KEY" ]
check "the key file is 0600" [ "$(file_mode "$KEY")" = 600 ]
check "~/.meshnet is 0700" [ "$(file_mode "$H/.meshnet")" = 700 ]
check "the key file is a 68-byte Ed25519 PrivateKey protobuf" [ "$(stat -c %s "$KEY")" = 68 ]
check "it starts with 08 01 12 40" [ "$(head -c 4 "$KEY" | od -An -tx1 | tr -d ' \n')" = 08011240 ]
check "the first start logs a new identity" grep -q 'Generated new relay identity' "$O.err"
SUM=$(md5sum <"$KEY")
start_stop "$H"
P2=$STARTED_ID
check "the second start prints the same PeerId" [ "$P1" = "$P2" ]
check "the second start loads the identity" grep -q 'Loaded relay identity' "$O.err"
check "the key file is unchanged" [ "$(md5sum <"$KEY")" = "$SUM" ]
check "no temporary files are left" [ "$(ls -A "$H/.meshnet")" = relay_keypair.bin ]

# A key file written by rust-libp2p (Keypair::to_protobuf_encoding, the spec's Ed25519 vector).
HR=$(new_home)
mkdir -m 700 "$HR/.meshnet"
VEC=$RLY_SOURCE_DIR/tests/vectors/keys/ed25519_private.hex
printf "$(tr -d ' \n' <"$VEC" | sed 's/../\\x&/g')" >"$HR/.meshnet/relay_keypair.bin"
chmod 600 "$HR/.meshnet/relay_keypair.bin"
start_stop "$HR"
PR=$STARTED_ID
check "a rust-libp2p Ed25519 key file keeps its PeerId" \
    [ "$PR" = 12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq ]

# bad_key DESC PATTERN: the key file at $BK must stop start-up with one error line.
bad_key() {
    local desc=$1 pattern=$2 before
    before=$(md5sum <"$BK")
    run_relay "$HB" "$O" --config "$C"
    check "$desc: exits 1" [ $? -eq 1 ]
    check "$desc: one error line naming the path and the problem" \
        one_line_error "$O.err" "$BK.*$pattern"
    check "$desc: the key file is not overwritten" [ "$(md5sum <"$BK")" = "$before" ]
    check "$desc: nothing listens (no banner)" [ ! -s "$O.out" ]
}

HB=$(new_home)
mkdir -m 700 "$HB/.meshnet"
BK=$HB/.meshnet/relay_keypair.bin
cp "$KEY" "$BK"
chmod 644 "$BK"
bad_key "mode 0644" "mode 0644.*chmod 600"
chmod 640 "$BK"
bad_key "mode 0640" "mode 0640.*chmod 600"
chmod 600 "$BK"
printf 'this is not a key' >"$BK"
bad_key "corrupt file" "corrupt"
: >"$BK"
bad_key "empty file" "corrupt"
head -c 40 "$KEY" >"$BK"
bad_key "truncated key" "corrupt"
# A valid protobuf for a secp256k1 key (type 2): refused, named.
printf '\x08\x02\x12\x20%s' "$(head -c 32 /dev/zero | tr '\0' 'A')" >"$BK"
bad_key "non-Ed25519 key" "Ed25519"
# Seed and public half that do not belong together.
{ head -c 36 "$KEY"; head -c 32 /dev/zero; } >"$BK"
bad_key "mismatched public half" "corrupt"
rm -f "$BK"
mkdir "$BK"
run_relay "$HB" "$O" --config "$C"
check "a directory in place of the key file: exits 1" [ $? -eq 1 ]
check "a directory in place of the key file: named" one_line_error "$O.err" "$BK"
rmdir "$BK"

# A key planted through a symbolic link (issue 11 item 11): never followed, neither end touched.
PLANTED=$TMP_ROOT/planted.bin
cp "$KEY" "$PLANTED"
chmod 600 "$PLANTED"
ln -s "$PLANTED" "$BK"
bad_key "a symbolic link" "symbolic link.*replace the link"
check "a symbolic link: the link is left as it was" [ "$(readlink "$BK")" = "$PLANTED" ]
rm -f "$BK"
mkfifo -m 600 "$BK"
run_relay "$HB" "$O" --config "$C"
check "a FIFO in place of the key file: exits 1 (without hanging)" [ $? -eq 1 ]
check "a FIFO in place of the key file: named" one_line_error "$O.err" "$BK.*not a regular file"
rm -f "$BK"
cp "$KEY" "$BK"
chmod 600 "$BK"

# The directory holding the key: others must not be able to replace the key.
chmod 770 "$HB/.meshnet"
bad_key "a group-writable directory" "has mode 0770.*chmod go-w $HB/.meshnet'"
chmod 703 "$HB/.meshnet"
bad_key "an other-writable directory" "mode 0703.*chmod go-w"
chmod 700 "$HB/.meshnet"
HG=$(new_home)
mkdir -m 775 "$HG/.meshnet"
run_relay "$HG" "$O" --config "$C"
check "first start in a group-writable ~/.meshnet: exits 1" [ $? -eq 1 ]
check "first start in a group-writable ~/.meshnet: named with the fix" \
    one_line_error "$O.err" "$HG/.meshnet.*chmod go-w"
check "first start in a group-writable ~/.meshnet: no key is created" \
    [ -z "$(ls -A "$HG/.meshnet")" ]

# Owned by another user: needs root to chown (to nobody); skipped otherwise.
if [ "$(id -u)" = 0 ] && id -u nobody >/dev/null 2>&1; then
    NOBODY=$(id -u nobody)
    chown nobody "$BK"
    bad_key "a key owned by another uid" "belongs to uid $NOBODY.*chown 0 $BK"
    chown 0 "$BK"
    chown nobody "$HB/.meshnet"
    bad_key "a directory owned by another uid" "belongs to uid $NOBODY.*chown 0 $HB/.meshnet'"
    chown 0 "$HB/.meshnet"
else
    echo "ok - # SKIP keys and directories of another uid (needs root and a nobody user)"
fi
start_stop "$HB"
check "with every fix applied the relay starts with that key" [ "$STARTED_ID" = "$P1" ]

# A configuration file that holds auth_token and others can read: a warning naming it and the fix.
HC=$(new_home)
CA=$TMP_ROOT/auth.toml
loopback_config "$CA" '[auth]' 'auth_token = "a-secret-of-more-than-32-bytes-0123456789"'
chmod 644 "$CA"
start_stop "$HC" "$CA"
check "a world-readable config with auth_token: the relay starts" [ -n "$STARTED_ID" ]
check "and warns, naming the file and the fix" \
    grep -qE "WARN .*others can read it.*path=$CA.*mode=0644.*chmod o-r $CA" "$O.err"
run_relay "$HC" "$O" --config "$CA" --check-config
check "--check-config warns too" grep -qE "WARN .*others can read it.*chmod o-r $CA" "$O.err"
chmod 640 "$CA"
start_stop "$HC" "$CA"
check "mode 0640: no warning" eval '! grep -q "others can read it" "$O.err"'
chmod 644 "$C"
start_stop "$HC"
check "a world-readable config without auth_token: no warning" \
    eval '! grep -q "others can read it" "$O.err"'
finish
