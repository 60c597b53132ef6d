/* fuzz_tlscert.c: the libp2p TLS certificate verifier and its DER helpers (src/crypto/tlscert.h).
 * The input is tried as a whole certificate (at a fixed time inside our seeds' validity), as a
 * SignedKey extension value and for its SubjectPublicKeyInfo. Invariants: no crash, every
 * allocation returned, found slices inside the input, a verified certificate has a PeerId, and
 * the fast path (rly_tlscert_verify_fast) accepts nothing the OpenSSL path refuses: whatever it
 * accepts, rly_tlscert_verify_openssl accepts with the same PeerId and key. The verdict of
 * rly_tlscert_verify (accept or refuse) is that of the OpenSSL path alone.
 *
 * Random bytes rarely keep a self-signature valid, so the differential check runs a second time on
 * the input's first element re-signed (as the tbsCertificate of a new certificate,
 * ecdsa-with-SHA256) with a fixed P-256 key: the seeds named fixedkey_* (made, with the go_*
 * seeds, by tests/interop/go/tlscertgen) carry its SubjectPublicKeyInfo and a valid SignedKey
 * for it, so mutations of their tbsCertificate reach every check after the signature (names, times,
 * serial, extensions) in both paths. */
#include <stddef.h>
#include <stdint.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "crypto/tlscert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW ((int64_t)1800000000)

/* The fixed certificate key (P-256), its private scalar. */
static const uint8_t fixed_d[32] = {
    0x5a, 0x11, 0x7e, 0xc0, 0xff, 0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a};

static EVP_PKEY *fixed_key(void)
{
    static EVP_PKEY *k;
    if (k)
        return k;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *d = BN_bin2bn(fixed_d, sizeof(fixed_d), NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    RLY_ASSERT(b && d && c);
    RLY_ASSERT(OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0));
    RLY_ASSERT(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d));
    RLY_ASSERT((params = OSSL_PARAM_BLD_to_param(b)) != NULL);
    RLY_ASSERT(EVP_PKEY_fromdata_init(c) == 1 &&
               EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, params) == 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(d);
    EVP_PKEY_CTX_free(c);
    return k;
}

static uint8_t *put_hdr(uint8_t *p, uint8_t tag, size_t len)
{
    *p++ = tag;
    if (len < 0x80) {
        *p++ = (uint8_t)len;
    } else if (len < 0x100) {
        *p++ = 0x81;
        *p++ = (uint8_t)len;
    } else {
        *p++ = 0x82;
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
    }
    return p;
}

/* A certificate of the input's first TLV as tbsCertificate, signed with the fixed key; 0 if the
 * input does not start with a SEQUENCE holding a SEQUENCE. */
static size_t resign(const uint8_t *data, size_t size, uint8_t *out, size_t cap)
{
    if (size < 4 || data[0] != 0x30)
        return 0;
    /* skip the outer header, then take the next TLV as it is encoded */
    size_t i = 1, len;
    if (data[i] < 0x80)
        i += 1;
    else if (data[i] == 0x81)
        i += 2;
    else if (data[i] == 0x82)
        i += 3;
    else
        return 0;
    if (i + 2 > size || data[i] != 0x30)
        return 0;
    size_t h = i + 2;
    len = data[i + 1];
    if (len == 0x81 && i + 3 <= size) {
        len = data[i + 2];
        h = i + 3;
    } else if (len == 0x82 && i + 4 <= size) {
        len = (size_t)data[i + 2] << 8 | data[i + 3];
        h = i + 4;
    } else if (len >= 0x80) {
        return 0;
    }
    if (len > size - h)
        return 0;
    const uint8_t *tbs = data + i;
    size_t tbs_len = h - i + len;
    uint8_t sig[80];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    RLY_ASSERT(mc && EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, fixed_key()) == 1 &&
               EVP_DigestSign(mc, sig, &sig_len, tbs, tbs_len) == 1);
    EVP_MD_CTX_free(mc);
    static const uint8_t alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                  0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
    size_t body = tbs_len + sizeof(alg) + 2 + 1 + sig_len;
    if (body + 4 > cap)
        return 0;
    uint8_t *p = put_hdr(out, 0x30, body);
    memcpy(p, tbs, tbs_len);
    p += tbs_len;
    memcpy(p, alg, sizeof(alg));
    p += sizeof(alg);
    p = put_hdr(p, 0x03, sig_len + 1);
    *p++ = 0;
    memcpy(p, sig, sig_len);
    p += sig_len;
    return (size_t)(p - out);
}

/* The differential check of one certificate. */
static void differential(const uint8_t *data, size_t size)
{
    rly_peerid peer, fpeer, speer;
    rly_pubkey fkey, skey;
    memset(&fkey, 0, sizeof(fkey));
    memset(&skey, 0, sizeof(skey));
    int rv = rly_tlscert_verify(data, size, FUZZ_NOW, &peer, NULL);
    if (rv == 0)
        RLY_ASSERT(peer.len > 0);
    int frv = rly_tlscert_verify_fast(data, size, FUZZ_NOW, &fpeer, &fkey);
    int srv = rly_tlscert_verify_openssl(data, size, FUZZ_NOW, &speer, &skey);
    RLY_ASSERT((rv == 0) == (srv == 0));
    if (frv == 0) {
        RLY_ASSERT(srv == 0);
        RLY_ASSERT(rly_peerid_equal(&fpeer, &speer) && rly_peerid_equal(&fpeer, &peer));
        RLY_ASSERT(fkey.type == skey.type && fkey.len == skey.len &&
                   memcmp(fkey.data, skey.data, fkey.len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes;
    const uint8_t *a, *b;
    size_t al, bl;
    if (rly_tlscert_signedkey_decode(data, size, &a, &al, &b, &bl) == 0)
        RLY_ASSERT(a >= data && a + al <= data + size && b >= a + al && b + bl == data + size);
    if (rly_tlscert_find_spki(data, size, &a, &al) == 0)
        RLY_ASSERT(a > data && a + al <= data + size && al >= 2);
    differential(data, size);
    static uint8_t cert[RLY_TLSCERT_MAX + 64];
    size_t n = resign(data, size, cert, sizeof(cert));
    if (n > 0)
        differential(cert, n);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
