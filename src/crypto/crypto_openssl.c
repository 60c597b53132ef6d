/* crypto_openssl.c: the crypto shim over OpenSSL 3 libcrypto (DESIGN.md: the one backend).
 *
 * Only EVP-level APIs are used (no deprecated RSA_ / EC_KEY_ calls). Every OpenSSL object is
 * freed on every path, and the OpenSSL error queue is cleared whenever a call fails, so a peer's
 * bad key never leaves stale errors behind for unrelated code (TLS) to trip over. */
#include "crypto/crypto.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/mem.h"
#include "crypto/crypto_internal.h"

/* Largest DER SubjectPublicKeyInfo we parse: an 8192-bit RSA key is about 1.06 KB. */
#define SPKI_MAX 4096
/* Largest signature we look at: RSA-8192 signatures are 1024 bytes, DER ECDSA P-521 ones 139. */
#define SIG_MAX 1024
#define SEC1_COMPRESSED_LEN 33
#define SEC1_UNCOMPRESSED_LEN 65

/* A valid pointer for empty messages: OpenSSL's one-shot calls want one even for zero bytes. */
static const uint8_t empty_msg[1];

static int fail(int err)
{
    ERR_clear_error();
    return err;
}

int rly_crypto_random(uint8_t *out, size_t len)
{
    /* RAND_bytes takes an int length: feed large requests in pieces. */
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(out, n) != 1)
            return fail(RLY_ERR_CRYPTO);
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

void rly_sha256(const uint8_t *p, size_t len, uint8_t out[RLY_SHA256_LEN])
{
    unsigned int outlen = 0;
    int ok = EVP_Digest(len ? p : empty_msg, len, out, &outlen, EVP_sha256(), NULL);
    /* Hashing memory only fails if libcrypto itself is broken; carrying on with a wrong digest
     * (peer IDs, signatures) would be worse than stopping. */
    RLY_ASSERT(ok == 1 && outlen == RLY_SHA256_LEN);
}

static EVP_PKEY *ed25519_private_key(const uint8_t seed[RLY_ED25519_SEED_LEN])
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, RLY_ED25519_SEED_LEN);
}

int rly_ed25519_public(const uint8_t seed[RLY_ED25519_SEED_LEN], uint8_t pub[RLY_ED25519_PUB_LEN])
{
    EVP_PKEY *pk = ed25519_private_key(seed);
    size_t n = RLY_ED25519_PUB_LEN;
    int rv = RLY_ERR_CRYPTO;
    if (pk && EVP_PKEY_get_raw_public_key(pk, pub, &n) == 1 && n == RLY_ED25519_PUB_LEN)
        rv = 0;
    /* EVP_PKEY_free wipes the private key copy OpenSSL holds. */
    EVP_PKEY_free(pk);
    return rv == 0 ? 0 : fail(rv);
}

int rly_ed25519_generate(uint8_t seed[RLY_ED25519_SEED_LEN], uint8_t pub[RLY_ED25519_PUB_LEN])
{
    int rv = rly_crypto_random(seed, RLY_ED25519_SEED_LEN);
    if (rv == 0)
        rv = rly_ed25519_public(seed, pub);
    if (rv != 0)
        rly_zeroize(seed, RLY_ED25519_SEED_LEN);
    return rv;
}

/* verify_pkey checks |sig| over |msg| with |pk|. |md| is NULL for Ed25519 (it hashes internally)
 * and SHA-256 for the others; |is_rsa| selects PKCS#1 v1.5 padding. OpenSSL answers 1 for a
 * good signature, 0 for a bad one and < 0 for one it cannot parse: all but 1 fail. */
static int verify_pkey(EVP_PKEY *pk, const EVP_MD *md, bool is_rsa, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t siglen)
{
    if (!sig || siglen == 0 || siglen > SIG_MAX)
        return RLY_ERR_SIGNATURE;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL; /* owned by ctx */
    int rv = RLY_ERR_CRYPTO;
    if (ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pk) == 1 &&
        (!is_rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1)) {
        int ok = EVP_DigestVerify(ctx, sig, siglen, len ? msg : empty_msg, len);
        rv = ok == 1 ? 0 : RLY_ERR_SIGNATURE;
    }
    EVP_MD_CTX_free(ctx);
    return rv == 0 ? 0 : fail(rv);
}

/* Ed25519 verification and X25519 run on libsodium: on this project's machines it verifies in
 * about half the time of OpenSSL 3.0 (49-57 us against 110 us) and multiplies in 31 us against
 * 41-48 us, and these three operations are most of a Noise handshake's cost (bench/RESULTS.md).
 * libsodium is also stricter: it rejects non-canonical signatures and small-order keys. */
static int sodium_ready(void)
{
    static int ready;
    if (!ready)
        ready = sodium_init() >= 0 ? 1 : -1;
    return ready > 0 ? 0 : RLY_ERR_CRYPTO;
}

int rly_ed25519_verify(const uint8_t *pub, size_t publen, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t siglen)
{
    if (!pub || publen != RLY_ED25519_PUB_LEN || siglen != RLY_ED25519_SIG_LEN)
        return RLY_ERR_MALFORMED;
    if (sodium_ready() != 0)
        return RLY_ERR_CRYPTO;
    return crypto_sign_verify_detached(sig, msg, len, pub) == 0 ? 0 : RLY_ERR_SIGNATURE;
}

/* Signing runs on libsodium too: with the public key at hand (a keypair's) it signs in about a
 * fifth of the time OpenSSL 3.0 takes, which re-derives the public key from the seed on every
 * call and fetches its provider methods (bench_core: "Ed25519 sign"; vouchers and identify's
 * signed peer records are signed per request). RFC 8032 signatures are deterministic: both give
 * the same bytes (tests/unit/test_crypto.c). */
int rly_ed25519_sign_with_pub(const uint8_t seed[RLY_ED25519_SEED_LEN],
                              const uint8_t pub[RLY_ED25519_PUB_LEN], const uint8_t *msg,
                              size_t len, uint8_t sig[RLY_ED25519_SIG_LEN])
{
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES]; /* libsodium's form: seed || public key */
    int rv = RLY_ERR_CRYPTO;
    if (sodium_ready() == 0) {
        memcpy(sk, seed, RLY_ED25519_SEED_LEN);
        memcpy(sk + RLY_ED25519_SEED_LEN, pub, RLY_ED25519_PUB_LEN);
        if (crypto_sign_ed25519_detached(sig, NULL, len ? msg : empty_msg, len, sk) == 0)
            rv = 0;
        sodium_memzero(sk, sizeof(sk));
    }
    if (rv != 0) {
        rly_zeroize(sig, RLY_ED25519_SIG_LEN);
        return fail(rv);
    }
    return 0;
}

int rly_ed25519_sign(const uint8_t seed[RLY_ED25519_SEED_LEN], const uint8_t *msg, size_t len,
                     uint8_t sig[RLY_ED25519_SIG_LEN])
{
    uint8_t pub[RLY_ED25519_PUB_LEN];
    int rv = rly_ed25519_public(seed, pub);
    if (rv == 0)
        rv = rly_ed25519_sign_with_pub(seed, pub, msg, len, sig);
    else
        rly_zeroize(sig, RLY_ED25519_SIG_LEN);
    return rv;
}

/* parse_spki decodes a DER SubjectPublicKeyInfo that must fill all |len| bytes (go's x509 parser
 * rejects trailing data too). NULL if it does not parse. */
static EVP_PKEY *parse_spki(const uint8_t *p, size_t len)
{
    if (!p || len == 0 || len > SPKI_MAX)
        return NULL;
    const unsigned char *q = p;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)len);
    if (pk && q != p + len) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    if (!pk)
        ERR_clear_error();
    return pk;
}

/* The exponent must be odd and above 1: e = 1 would make every padded message its own valid
 * signature. It must also be at most RLY_RSA_MAX_EXPONENT (go's bound): OpenSSL bounds it only
 * for moduli above 3072 bits, and a huge exponent makes every verification dozens of times
 * slower, CPU the peer spends nothing for. */
int rly_rsa_check_key(const EVP_PKEY *pk)
{
    int bits = EVP_PKEY_get_bits(pk);
    if (bits < RLY_RSA_MIN_BITS || bits > RLY_RSA_MAX_BITS)
        return RLY_ERR_UNSUPPORTED;
    BIGNUM *e = NULL;
    int rv = RLY_ERR_MALFORMED;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) && !BN_is_one(e))
        rv = BN_get_word(e) <= RLY_RSA_MAX_EXPONENT ? 0 : RLY_ERR_UNSUPPORTED; /* too big: ~0 */
    BN_free(e);
    return rv == 0 ? 0 : fail(rv);
}

/* rsa_check enforces the key policy of go and rust on a libp2p RSA key: a plain rsaEncryption
 * key (not RSA-PSS) within rly_rsa_check_key's bounds. */
static int rsa_check(EVP_PKEY *pk)
{
    if (!EVP_PKEY_is_a(pk, "RSA"))
        return RLY_ERR_MALFORMED;
    return rly_rsa_check_key(pk);
}

int rly_rsa_verify(const uint8_t *spki, size_t spkilen, const uint8_t *msg, size_t len,
                   const uint8_t *sig, size_t siglen)
{
    EVP_PKEY *pk = parse_spki(spki, spkilen);
    if (!pk)
        return RLY_ERR_MALFORMED;
    int rv = rsa_check(pk);
    if (rv == 0)
        rv = verify_pkey(pk, EVP_sha256(), true, msg, len, sig, siglen);
    EVP_PKEY_free(pk);
    return rv;
}

/* ec_public_check rejects the point at infinity and points outside the group: a key anyone can
 * sign for must never verify. */
static int ec_public_check(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int rv = ctx && EVP_PKEY_public_check(ctx) == 1 ? 0 : RLY_ERR_MALFORMED;
    EVP_PKEY_CTX_free(ctx);
    return rv == 0 ? 0 : fail(rv);
}

/* secp256k1_key builds an EC key from a SEC1 point. Only the 02/03 (compressed) and 04
 * (uncompressed) forms are accepted, not OpenSSL's hybrid 06/07; the import itself checks that
 * the point lies on the curve. */
static EVP_PKEY *secp256k1_key(const uint8_t *point, size_t len)
{
    bool is_compressed = len == SEC1_COMPRESSED_LEN && (point[0] == 0x02 || point[0] == 0x03);
    bool is_uncompressed = len == SEC1_UNCOMPRESSED_LEN && point[0] == 0x04;
    if (!is_compressed && !is_uncompressed)
        return NULL;
    /* OSSL_PARAM takes non-const buffers: hand it copies. */
    uint8_t pt[SEC1_UNCOMPRESSED_LEN];
    char group[] = "secp256k1";
    memcpy(pt, point, len);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, len),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

int rly_secp256k1_verify(const uint8_t *point, size_t pointlen, const uint8_t *msg, size_t len,
                         const uint8_t *sig, size_t siglen)
{
    if (!point)
        return RLY_ERR_MALFORMED;
    EVP_PKEY *pk = secp256k1_key(point, pointlen);
    if (!pk)
        return RLY_ERR_MALFORMED;
    int rv = ec_public_check(pk);
    if (rv == 0)
        rv = verify_pkey(pk, EVP_sha256(), false, msg, len, sig, siglen);
    EVP_PKEY_free(pk);
    return rv;
}

/* The named curves go's x509 parser knows (rust accepts P-256 only). OpenSSL reports either the
 * NIST or the SEC/X9.62 name depending on how the key was made, so both spellings are listed. */
static const char *const ecdsa_curves[] = {
    "P-224", "secp224r1", "P-256", "prime256v1", "P-384", "secp384r1", "P-521", "secp521r1",
};

/* ecdsa_check accepts EC keys whose SPKI names one of |ecdsa_curves|; explicit curve parameters
 * are refused as go and rust refuse them. */
static int ecdsa_check(EVP_PKEY *pk)
{
    char enc[32];
    char name[64];
    if (!EVP_PKEY_is_a(pk, "EC"))
        return RLY_ERR_MALFORMED;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) !=
            1 ||
        strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), NULL) !=
            1)
        return fail(RLY_ERR_UNSUPPORTED);
    for (size_t i = 0; i < RLY_ARRAY_LEN(ecdsa_curves); i++)
        if (strcmp(name, ecdsa_curves[i]) == 0)
            return ec_public_check(pk);
    return RLY_ERR_UNSUPPORTED;
}

int rly_ecdsa_verify(const uint8_t *spki, size_t spkilen, const uint8_t *msg, size_t len,
                     const uint8_t *sig, size_t siglen)
{
    EVP_PKEY *pk = parse_spki(spki, spkilen);
    if (!pk)
        return RLY_ERR_MALFORMED;
    int rv = ecdsa_check(pk);
    /* go signs with SHA-256 whatever the curve; so do we verify. */
    if (rv == 0)
        rv = verify_pkey(pk, EVP_sha256(), false, msg, len, sig, siglen);
    EVP_PKEY_free(pk);
    return rv;
}

/* ---- Noise primitives ---------------------------------------------------------------------- */

#define SHA256_BLOCK_LEN 64

int rly_x25519_from_private(rly_x25519_keypair *kp, const uint8_t priv[RLY_X25519_LEN])
{
    if (sodium_ready() != 0 || crypto_scalarmult_base(kp->pub, priv) != 0) {
        rly_zeroize(kp, sizeof(*kp));
        return RLY_ERR_CRYPTO;
    }
    memmove(kp->priv, priv, RLY_X25519_LEN);
    return 0;
}

int rly_x25519_generate(rly_x25519_keypair *kp)
{
    uint8_t priv[RLY_X25519_LEN];
    int rv = rly_crypto_random(priv, sizeof(priv));
    if (rv == 0)
        rv = rly_x25519_from_private(kp, priv);
    rly_zeroize(priv, sizeof(priv));
    return rv;
}

static bool is_all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int rly_x25519_dh(const rly_x25519_keypair *kp, const uint8_t peer[RLY_X25519_LEN],
                  uint8_t out[RLY_X25519_LEN])
{
    /* crypto_scalarmult refuses an all-zero result (a low-order peer point); the explicit check
     * keeps that guarantee whatever the backend does (Noise rev34 section 12.1). */
    if (sodium_ready() != 0 || crypto_scalarmult(out, kp->priv, peer) != 0 ||
        is_all_zero(out, RLY_X25519_LEN)) {
        rly_zeroize(out, RLY_X25519_LEN);
        return RLY_ERR_CRYPTO;
    }
    return 0;
}

/* digest3 writes SHA-256(a || b || c) with the reusable |ctx|; empty parts are skipped. */
static void digest3(EVP_MD_CTX *ctx, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                    const uint8_t *c, size_t clen, uint8_t out[RLY_SHA256_LEN])
{
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             (clen == 0 || EVP_DigestUpdate(ctx, c, clen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1;
    /* As in rly_sha256: a hash over memory failing means libcrypto is broken. */
    RLY_ASSERT(ok && n == RLY_SHA256_LEN);
}

static EVP_MD_CTX *md_ctx_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    RLY_ASSERT(ctx != NULL);
    return ctx;
}

void rly_sha256_concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t out[RLY_SHA256_LEN])
{
    EVP_MD_CTX *ctx = md_ctx_new();
    digest3(ctx, a, alen, b, blen, NULL, 0, out);
    EVP_MD_CTX_free(ctx);
}

/* hmac computes HMAC-SHA256(key, m1 || m2) from its definition (RFC 2104): H((K ^ opad) ||
 * H((K ^ ipad) || m)). Built on the digest context the caller already holds, it costs four
 * digest calls and no allocation (OpenSSL's HMAC() fetches a MAC object every time). */
static void hmac(EVP_MD_CTX *ctx, const uint8_t *key, size_t keylen, const uint8_t *m1,
                 size_t m1len, const uint8_t *m2, size_t m2len, uint8_t out[RLY_SHA256_LEN])
{
    uint8_t k0[SHA256_BLOCK_LEN] = {0};
    uint8_t pad[SHA256_BLOCK_LEN];
    uint8_t inner[RLY_SHA256_LEN];
    if (keylen > SHA256_BLOCK_LEN)
        digest3(ctx, key, keylen, NULL, 0, NULL, 0, k0);
    else if (keylen > 0)
        memcpy(k0, key, keylen);
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = (uint8_t)(k0[i] ^ 0x36);
    digest3(ctx, pad, sizeof(pad), m1, m1len, m2, m2len, inner);
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = (uint8_t)(k0[i] ^ 0x5c);
    digest3(ctx, pad, sizeof(pad), inner, sizeof(inner), NULL, 0, out);
    rly_zeroize(k0, sizeof(k0));
    rly_zeroize(pad, sizeof(pad));
    rly_zeroize(inner, sizeof(inner));
}

void rly_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                     uint8_t out[RLY_HMAC_SHA256_LEN])
{
    EVP_MD_CTX *ctx = md_ctx_new();
    hmac(ctx, key, keylen, msg, len, NULL, 0, out);
    EVP_MD_CTX_free(ctx);
}

void rly_hkdf_noise(const uint8_t ck[RLY_SHA256_LEN], const uint8_t *ikm, size_t ikmlen,
                    uint8_t out1[RLY_SHA256_LEN], uint8_t out2[RLY_SHA256_LEN], uint8_t *out3)
{
    static const uint8_t one = 0x01, two = 0x02, three = 0x03;
    uint8_t temp[RLY_SHA256_LEN];
    EVP_MD_CTX *ctx = md_ctx_new();
    hmac(ctx, ck, RLY_SHA256_LEN, ikm, ikmlen, NULL, 0, temp);
    hmac(ctx, temp, sizeof(temp), &one, 1, NULL, 0, out1);
    hmac(ctx, temp, sizeof(temp), out1, RLY_SHA256_LEN, &two, 1, out2);
    if (out3)
        hmac(ctx, temp, sizeof(temp), out2, RLY_SHA256_LEN, &three, 1, out3);
    rly_zeroize(temp, sizeof(temp));
    /* Freeing the context cleanses the digest state OpenSSL holds. */
    EVP_MD_CTX_free(ctx);
}

void rly_aead_nonce(uint8_t nonce[RLY_AEAD_NONCE_LEN], uint64_t counter)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

int rly_aead_init(rly_aead *a, const uint8_t key[RLY_AEAD_KEY_LEN])
{
    a->ctx = EVP_CIPHER_CTX_new();
    if (!a->ctx)
        return fail(RLY_ERR_CRYPTO);
    /* The key goes in once; each message then only sets its nonce and direction. */
    if (EVP_CipherInit_ex2(a->ctx, EVP_chacha20_poly1305(), key, NULL, 1, NULL) != 1) {
        rly_aead_free(a);
        return fail(RLY_ERR_CRYPTO);
    }
    return 0;
}

int rly_aead_set_key(rly_aead *a, const uint8_t key[RLY_AEAD_KEY_LEN])
{
    if (!a->ctx)
        return RLY_ERR_INVALID_STATE;
    if (EVP_CipherInit_ex2(a->ctx, NULL, key, NULL, 1, NULL) != 1)
        return fail(RLY_ERR_CRYPTO);
    return 0;
}

void rly_aead_free(rly_aead *a)
{
    if (!a)
        return;
    EVP_CIPHER_CTX_free(a->ctx);
    a->ctx = NULL;
}

/* aead_start sets the nonce and direction (|enc|: 1 seal, 0 open) and feeds the additional data. */
static int aead_start(EVP_CIPHER_CTX *c, const uint8_t nonce[RLY_AEAD_NONCE_LEN], int enc,
                      const uint8_t *ad, size_t adlen)
{
    int outl = 0;
    if (EVP_CipherInit_ex2(c, NULL, NULL, nonce, enc, NULL) != 1)
        return RLY_ERR_CRYPTO;
    /* A NULL output buffer makes the update authenticate |ad| without encrypting it. */
    if (adlen > 0 && EVP_CipherUpdate(c, NULL, &outl, ad, (int)adlen) != 1)
        return RLY_ERR_CRYPTO;
    return 0;
}

int rly_aead_seal(rly_aead *a, const uint8_t nonce[RLY_AEAD_NONCE_LEN], const uint8_t *ad,
                  size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
    if (!a->ctx || len > INT_MAX - RLY_AEAD_TAG_LEN || adlen > INT_MAX)
        return RLY_ERR_INVALID_ARG;
    EVP_CIPHER_CTX *c = a->ctx;
    int outl = 0;
    if (aead_start(c, nonce, 1, ad, adlen) != 0 ||
        (len > 0 && EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1) ||
        EVP_CipherFinal_ex(c, out + len, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, RLY_AEAD_TAG_LEN, out + len) != 1)
        return fail(RLY_ERR_CRYPTO);
    return 0;
}

int rly_aead_open(rly_aead *a, const uint8_t nonce[RLY_AEAD_NONCE_LEN], const uint8_t *ad,
                  size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
    if (!a->ctx || len < RLY_AEAD_TAG_LEN || len > INT_MAX || adlen > INT_MAX)
        return RLY_ERR_INVALID_ARG;
    EVP_CIPHER_CTX *c = a->ctx;
    size_t plen = len - RLY_AEAD_TAG_LEN;
    uint8_t tag[RLY_AEAD_TAG_LEN];
    int outl = 0;
    /* The tag is copied first: in place, nothing may overwrite it before it is checked. */
    memcpy(tag, in + plen, sizeof(tag));
    if (aead_start(c, nonce, 0, ad, adlen) != 0 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, RLY_AEAD_TAG_LEN, tag) != 1 ||
        (plen > 0 && EVP_CipherUpdate(c, out, &outl, in, (int)plen) != 1) ||
        EVP_CipherFinal_ex(c, out + plen, &outl) != 1) {
        /* Unauthenticated plaintext never reaches the caller. */
        if (plen > 0)
            rly_zeroize(out, plen);
        return fail(RLY_ERR_CRYPTO);
    }
    return 0;
}
