#!/usr/bin/env bash
# The identity file ~/.meshnet/relay_keypair.bin: created once with mode 0600, the same PeerId on
# every start, a rust-libp2p key file loads to its PeerId, bad files stop start-up and are never
# overwritten.
. "$(dirname "$0")/lib.sh"
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml
loopback_config "$C"

# start_stop HOME: start, record the PeerId in STARTED_ID, stop with SIGTERM (exit 0 expected).
start_stop() {
    STARTED_ID=
    if ! start_relay "$1" "$O" --config "$C"; then
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
finish
