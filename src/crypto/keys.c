/* keys.c: libp2p key protobufs, signature dispatch, peer IDs and the relay's Ed25519 identity
 * (PROTOCOLS.md 1.2, 1.3).
 *
 * Decoding goes through protobuf-c (allocating via rly_mem, input capped first). Encoding is done
 * by hand because the peer ID hashes these exact bytes and the canonical form is tiny:
 * 08 <type> 12 <uvarint len> <data>, both fields always present, nothing else. */
#include "crypto/keys.h"

#include <string.h>

#include "keys.pb-c.h"

#include "core/mem.h"
#include "core/multihash.h"
#include "core/varint.h"
#include "crypto/keys_internal.h"
#include "crypto/pb_alloc.h"

/* Keys whose encoding is at most this long are inlined in the peer ID (PROTOCOLS.md 1.3). */
#define PEERID_INLINE_MAX 42
#define SECP256K1_COMPRESSED_LEN 33
#define SECP256K1_UNCOMPRESSED_LEN 65
/* PrivateKey.Data for Ed25519: seed || pub, or the legacy seed || pub || pub. */
#define ED25519_PRIV_LEN (RLY_ED25519_SEED_LEN + RLY_ED25519_PUB_LEN)
#define ED25519_PRIV_LEGACY_LEN (ED25519_PRIV_LEN + RLY_ED25519_PUB_LEN)
/* Protobuf tag bytes: (field << 3) | wire type. */
#define TAG_TYPE 0x08
#define TAG_DATA 0x12

/* set_secp256k1 stores a SEC1 point in compressed form. go and rust re-encode a parsed key
 * compressed before hashing it into a peer ID, so a peer that sends the 65-byte form still has
 * the peer ID of its 33-byte form. Whether the point is on the curve is checked at verification. */
static int set_secp256k1(rly_pubkey *k, const uint8_t *p, size_t len)
{
    if (len == SECP256K1_COMPRESSED_LEN && (p[0] == 0x02 || p[0] == 0x03)) {
        memcpy(k->data, p, len);
    } else if (len == SECP256K1_UNCOMPRESSED_LEN && p[0] == 0x04) {
        /* 04 || x || y  ->  (02 | parity of y) || x */
        k->data[0] = (uint8_t)(0x02 | (p[SECP256K1_UNCOMPRESSED_LEN - 1] & 1));
        memcpy(k->data + 1, p + 1, SECP256K1_COMPRESSED_LEN - 1);
    } else {
        return RLY_ERR_MALFORMED;
    }
    k->type = RLY_KEY_SECP256K1;
    k->len = SECP256K1_COMPRESSED_LEN;
    return 0;
}

int rly_pubkey_set(rly_pubkey *k, int type, const uint8_t *data, size_t len)
{
    if (type < RLY_KEY_RSA || type > RLY_KEY_ECDSA)
        return RLY_ERR_UNSUPPORTED;
    if (!data || len == 0 || len > RLY_PUBKEY_MAX_DATA)
        return RLY_ERR_MALFORMED;
    if (type == RLY_KEY_SECP256K1)
        return set_secp256k1(k, data, len);
    if (type == RLY_KEY_ED25519 && len != RLY_ED25519_PUB_LEN)
        return RLY_ERR_MALFORMED;
    /* RSA and ECDSA SPKIs are parsed when a signature is verified, not here: decoding stays
     * cheap, and a key that never verifies anything cannot do harm. */
    k->type = (rly_key_type)type;
    k->len = len;
    memcpy(k->data, data, len);
    return 0;
}

int rly_pubkey_decode(rly_pubkey *k, const uint8_t *pb, size_t len)
{
    if (!pb || len == 0 || len > RLY_PUBKEY_PB_MAX)
        return RLY_ERR_MALFORMED;
    rly_pb_alloc a;
    rly_pb_alloc_init(&a, NULL, false);
    PublicKey *m = public_key__unpack(&a.base, len, pb);
    if (!m)
        return rly_pb_alloc_unpack_error(&a);
    int rv = rly_pubkey_set(k, (int)m->type, m->data.data, m->data.len);
    public_key__free_unpacked(m, &a.base);
    return rv;
}

/* put_key writes 08 <type> 12 <uvarint len> <data>. Protobuf varints and multiformats uvarints
 * are the same encoding for these small values. */
static rly_ssize put_key(int type, const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    size_t need = 3 + rly_varint_len(len) + len;
    if (need > cap)
        return RLY_ERR_NOBUF;
    out[0] = TAG_TYPE;
    out[1] = (uint8_t)type;
    out[2] = TAG_DATA;
    rly_ssize n = rly_varint_encode(out + 3, cap - 3, len);
    if (n < 0)
        return n;
    memcpy(out + 3 + n, data, len);
    return (rly_ssize)need;
}

rly_ssize rly_pubkey_encode(const rly_pubkey *k, uint8_t *out, size_t cap)
{
    if (k->type < RLY_KEY_RSA || k->type > RLY_KEY_ECDSA || k->len > RLY_PUBKEY_MAX_DATA)
        return RLY_ERR_INVALID_ARG;
    return put_key((int)k->type, k->data, k->len, out, cap);
}

int rly_pubkey_verify(const rly_pubkey *k, const uint8_t *msg, size_t len, const uint8_t *sig,
                      size_t siglen)
{
    if (k->len > RLY_PUBKEY_MAX_DATA)
        return RLY_ERR_MALFORMED;
    switch (k->type) {
    case RLY_KEY_ED25519: return rly_ed25519_verify(k->data, k->len, msg, len, sig, siglen);
    case RLY_KEY_RSA: return rly_rsa_verify(k->data, k->len, msg, len, sig, siglen);
    case RLY_KEY_SECP256K1: return rly_secp256k1_verify(k->data, k->len, msg, len, sig, siglen);
    case RLY_KEY_ECDSA: return rly_ecdsa_verify(k->data, k->len, msg, len, sig, siglen);
    }
    return RLY_ERR_UNSUPPORTED;
}

int rly_pubkey_to_peerid(const rly_pubkey *k, rly_peerid *pid)
{
    uint8_t enc[RLY_PUBKEY_PB_MAX];
    uint8_t digest[RLY_SHA256_LEN];
    rly_ssize n = rly_pubkey_encode(k, enc, sizeof(enc));
    if (n < 0)
        return (int)n;
    rly_ssize m;
    if ((size_t)n <= PEERID_INLINE_MAX) {
        m = rly_multihash_encode(pid->bytes, sizeof(pid->bytes), RLY_MH_IDENTITY, enc, (size_t)n);
    } else {
        rly_sha256(enc, (size_t)n, digest);
        m = rly_multihash_encode(pid->bytes, sizeof(pid->bytes), RLY_MH_SHA2_256, digest,
                                 sizeof(digest));
    }
    if (m < 0)
        return (int)m;
    pid->len = (size_t)m;
    return 0;
}

int rly_pubkey_from_peerid(rly_pubkey *k, const rly_peerid *pid)
{
    if (pid->len > sizeof(pid->bytes))
        return RLY_ERR_MALFORMED;
    rly_multihash mh;
    rly_ssize n = rly_multihash_decode(pid->bytes, pid->len, &mh);
    if (n < 0)
        return (int)n;
    if ((size_t)n != pid->len)
        return RLY_ERR_MALFORMED;
    if (mh.code != RLY_MH_IDENTITY)
        return RLY_ERR_NOT_FOUND;
    return rly_pubkey_decode(k, mh.digest, mh.len);
}

int rly_keypair_generate(rly_keypair *kp)
{
    return rly_ed25519_generate(kp->seed, kp->pub);
}

/* keypair_from_pb takes the Ed25519 key out of an unpacked PrivateKey. The public half is
 * re-derived from the seed: a file whose halves disagree would make us sign as one peer while
 * announcing another. */
static int keypair_from_pb(rly_keypair *kp, const PrivateKey *m)
{
    const uint8_t *d = m->data.data;
    size_t n = m->data.len;
    if ((int)m->type != RLY_KEY_ED25519)
        return RLY_ERR_UNSUPPORTED;
    if (!d || (n != ED25519_PRIV_LEN && n != ED25519_PRIV_LEGACY_LEN))
        return RLY_ERR_MALFORMED;
    if (n == ED25519_PRIV_LEGACY_LEN &&
        memcmp(d + RLY_ED25519_SEED_LEN, d + ED25519_PRIV_LEN, RLY_ED25519_PUB_LEN) != 0)
        return RLY_ERR_MALFORMED;
    memcpy(kp->seed, d, RLY_ED25519_SEED_LEN);
    int rv = rly_ed25519_public(kp->seed, kp->pub);
    if (rv != 0)
        return rv;
    if (memcmp(kp->pub, d + RLY_ED25519_SEED_LEN, RLY_ED25519_PUB_LEN) != 0)
        return RLY_ERR_MALFORMED;
    return 0;
}

int rly_keypair_decode(rly_keypair *kp, const uint8_t *pb, size_t len)
{
    if (!pb || len == 0 || len > RLY_PRIVKEY_PB_MAX)
        return RLY_ERR_MALFORMED;
    /* Secret mode: protobuf-c's copies of Data are wiped before they go back to the heap. */
    rly_pb_alloc a;
    rly_pb_alloc_init(&a, NULL, true);
    PrivateKey *m = private_key__unpack(&a.base, len, pb);
    if (!m)
        return rly_pb_alloc_unpack_error(&a);
    rly_keypair tmp;
    int rv = keypair_from_pb(&tmp, m);
    private_key__free_unpacked(m, &a.base);
    if (rv == 0)
        memcpy(kp, &tmp, sizeof(tmp));
    rly_keypair_wipe(&tmp);
    return rv;
}

rly_ssize rly_keypair_encode(const rly_keypair *kp, uint8_t *out, size_t cap)
{
    uint8_t data[ED25519_PRIV_LEN];
    memcpy(data, kp->seed, RLY_ED25519_SEED_LEN);
    memcpy(data + RLY_ED25519_SEED_LEN, kp->pub, RLY_ED25519_PUB_LEN);
    rly_ssize n = put_key(RLY_KEY_ED25519, data, sizeof(data), out, cap);
    rly_zeroize(data, sizeof(data));
    return n;
}

int rly_keypair_sign(const rly_keypair *kp, const uint8_t *msg, size_t len,
                     uint8_t sig[RLY_ED25519_SIG_LEN])
{
    return rly_ed25519_sign_with_pub(kp->seed, kp->pub, msg, len, sig);
}

void rly_keypair_public(const rly_keypair *kp, rly_pubkey *k)
{
    k->type = RLY_KEY_ED25519;
    k->len = RLY_ED25519_PUB_LEN;
    memcpy(k->data, kp->pub, RLY_ED25519_PUB_LEN);
}

int rly_keypair_peerid(const rly_keypair *kp, rly_peerid *pid)
{
    rly_pubkey k;
    rly_keypair_public(kp, &k);
    return rly_pubkey_to_peerid(&k, pid);
}

void rly_keypair_wipe(rly_keypair *kp)
{
    rly_zeroize(kp, sizeof(*kp));
}
