#!/usr/bin/env bash
# Signed tokens from the command line (issue 15, docs/AUTH.md "Signed tokens"):
# --control-plane-keygen makes the control plane's key pair and prints its public key,
# --mint-token --signing-key signs a token with it, --verify-token prints what a token says and
# whether its signature holds and it has not expired.
. "$(dirname "$0")/lib.sh"
H=$(new_home)
O=$TMP_ROOT/o
K=$TMP_ROOT/cp
PEER=12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91
RELAY_ID=12D3KooWSoKFn4y7TtC1chE8CRkXdPZZfkjfNbTSUK5rjjp4oPHn

run_relay "$H" "$O.kg" --control-plane-keygen "$K"
check "keygen exits 0" [ $? -eq 0 ]
CP=$(cat "$O.kg.out")
check "keygen prints one PeerId, the public key" grep -qxE '12D3KooW[1-9A-HJ-NP-Za-km-z]+' "$O.kg.out"
check "the private key is 0600" [ "$(file_mode "$K/control_plane_key.bin")" = 600 ]
check "the private key never goes to stdout" [ "$(wc -l <"$O.kg.out")" -eq 1 ]
SUM=$(sha256sum <"$K/control_plane_key.bin")
run_relay "$H" "$O.kg2" --control-plane-keygen "$K"
check "a second keygen into the same directory exits 1" [ $? -eq 1 ]
check "... and says it does not replace the key" one_line_error "$O.kg2.err" "already exists; not replacing"
check "... and the key is unchanged" [ "$(sha256sum <"$K/control_plane_key.bin")" = "$SUM" ]
run_relay "$H" "$O.kg3" --control-plane-keygen "$TMP_ROOT/other"
OTHER=$(cat "$O.kg3.out")
check "another key has another PeerId" [ -n "$OTHER" ] && [ "$OTHER" != "$CP" ]

run_relay "$H" "$O.m" --mint-token "$PEER" --signing-key "$K/control_plane_key.bin" --ttl 600 \
    --relay "$RELAY_ID" --class trusted
check "mint with the signing key exits 0" [ $? -eq 0 ]
TOKEN=$(cat "$O.m.out")
check "the token is one v2. line" grep -qxE 'v2\.[A-Za-z0-9_-]+' "$O.m.out"
check "the token id and expiry go to stderr" grep -qE '^token id [0-9a-f]{32} for '"$PEER"', valid until ' "$O.m.err"
run_relay "$H" "$O.v" --verify-token "$TOKEN"
check "verify exits 0" [ $? -eq 0 ]
check "verify names the signer: the keygen's public key" grep -qxF "signed by:  $CP (signature valid)" "$O.v.out"
check "verify names the peer" grep -qxF "peer:       $PEER" "$O.v.out"
check "verify names the relay" grep -qxF "relays:     $RELAY_ID" "$O.v.out"
check "verify names the class" grep -qxF "class:      trusted" "$O.v.out"
check "verify gives the same token id" grep -qF "token id:   $(sed -n 's/^token id \([0-9a-f]*\) .*/\1/p' "$O.m.err")" "$O.v.out"

run_relay "$H" "$O.m2" --mint-token "$PEER" --signing-key "$TMP_ROOT/other/control_plane_key.bin"
run_relay "$H" "$O.v2" --verify-token "$(cat "$O.m2.out")"
check "a token of the other key names the other signer" grep -qxF "signed by:  $OTHER (signature valid)" "$O.v2.out"
check "... and any relay, no class" grep -qxF "relays:     any" "$O.v2.out"

# A changed character in the middle: the signature no longer holds (or the envelope breaks).
MID=$(( ${#TOKEN} / 2 ))
C=${TOKEN:$MID:1}
[ "$C" = A ] && N=B || N=A
run_relay "$H" "$O.t" --verify-token "${TOKEN:0:$MID}$N${TOKEN:$((MID + 1))}"
check "a tampered token fails verification (exit 1)" [ $? -eq 1 ]
check "... with one line" one_line_error "$O.t.err" "not a valid signed token"

run_relay "$H" "$O.e" --mint-token "$PEER" --signing-key "$K/control_plane_key.bin" --ttl 1
sleep 2
run_relay "$H" "$O.ev" --verify-token "$(cat "$O.e.out")"
check "an expired token: verify exits 1" [ $? -eq 1 ]
check "... and says it expired" grep -qE '^expires: .*\(expired [0-9]+ s ago\)$' "$O.ev.out"

VEC=$(sed -n 's/^token=//p' "$RLY_SOURCE_DIR/tests/vectors/token/token.txt")
run_relay "$H" "$O.vec" --verify-token "$VEC"
check "the spec vector verifies" [ $? -eq 0 ]
check "... signed by the vector's control plane" \
    grep -qxF "signed by:  $(sed -n 's/^control_plane=//p' "$RLY_SOURCE_DIR/tests/vectors/token/token.txt") (signature valid)" "$O.vec.out"

# Refusals.
run_relay "$H" "$O.r1" --mint-token "$PEER" --signing-key "$TMP_ROOT/missing.bin"
check "a missing signing key: exit 1" [ $? -eq 1 ]
check "... naming it" one_line_error "$O.r1.err" "--signing-key $TMP_ROOT/missing.bin: No such file"
check "... and not creating it" [ ! -e "$TMP_ROOT/missing.bin" ]
chmod 640 "$K/control_plane_key.bin"
run_relay "$H" "$O.r2" --mint-token "$PEER" --signing-key "$K/control_plane_key.bin"
check "a signing key others can read is refused" [ $? -eq 1 ]
chmod 600 "$K/control_plane_key.bin"
run_relay "$H" "$O.r3" --mint-token "$PEER" --signing-key "$K/control_plane_key.bin" --class Bad
check "a bad class: exit 1" [ $? -eq 1 ]
run_relay "$H" "$O.r4" --mint-token "$PEER" --signing-key "$K/control_plane_key.bin" --relay nope
check "a bad --relay: exit 1" [ $? -eq 1 ] && one_line_error "$O.r4.err" "--relay: 'nope' is not a PeerId"
run_relay "$H" "$O.r5" --mint-token "$PEER" --relay "$RELAY_ID"
check "--relay without --signing-key is a usage error" [ $? -eq 2 ]
run_relay "$H" "$O.r6" --verify-token "v1.123.abc"
check "an HMAC-minted (v1) token is not a signed token" [ $? -eq 1 ]

finish
