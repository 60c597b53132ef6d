/* crypto_openssl.c: the crypto shim over OpenSSL 3 libcrypto (DESIGN.md: the one backend).
 *
 * Only EVP-level APIs are used (no deprecated RSA_ / EC_KEY_ calls). Every OpenSSL object is
 * freed on every path, and the OpenSSL error queue is cleared whenever a call fails, so a peer's
 * bad key never leaves stale errors behind for unrelated code (TLS) to trip over. */
#include "crypto/crypto.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/mem.h"

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

int rly_ed25519_sign(const uint8_t seed[RLY_ED25519_SEED_LEN], const uint8_t *msg, size_t len,
                     uint8_t sig[RLY_ED25519_SIG_LEN])
{
    EVP_PKEY *pk = ed25519_private_key(seed);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = RLY_ED25519_SIG_LEN;
    int rv = RLY_ERR_CRYPTO;
    /* Ed25519 is "pure": no digest is named, the message is signed whole. */
    if (pk && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
        EVP_DigestSign(ctx, sig, &n, len ? msg : empty_msg, len) == 1 && n == RLY_ED25519_SIG_LEN)
        rv = 0;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    if (rv != 0) {
        rly_zeroize(sig, RLY_ED25519_SIG_LEN);
        return fail(rv);
    }
    return 0;
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

int rly_ed25519_verify(const uint8_t *pub, size_t publen, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t siglen)
{
    if (!pub || publen != RLY_ED25519_PUB_LEN || siglen != RLY_ED25519_SIG_LEN)
        return RLY_ERR_MALFORMED;
    /* Import does not check the point; an invalid one simply fails verification below. */
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
    if (!pk)
        return fail(RLY_ERR_MALFORMED);
    int rv = verify_pkey(pk, NULL, false, msg, len, sig, siglen);
    EVP_PKEY_free(pk);
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

/* rsa_check enforces the key policy of go and rust: plain rsaEncryption keys of 2048..8192 bits.
 * The exponent must be odd and above 1: e = 1 would make every padded message its own valid
 * signature. */
static int rsa_check(EVP_PKEY *pk)
{
    if (!EVP_PKEY_is_a(pk, "RSA"))
        return RLY_ERR_MALFORMED;
    int bits = EVP_PKEY_get_bits(pk);
    if (bits < RLY_RSA_MIN_BITS || bits > RLY_RSA_MAX_BITS)
        return RLY_ERR_UNSUPPORTED;
    BIGNUM *e = NULL;
    int rv = RLY_ERR_MALFORMED;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) && !BN_is_one(e))
        rv = 0;
    BN_free(e);
    return rv == 0 ? 0 : fail(rv);
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
