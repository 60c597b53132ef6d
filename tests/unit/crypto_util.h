/* crypto_util.h: helpers shared by test_crypto.c, test_keys.c and test_envelope.c: reading the
 * hex vectors of tests/vectors/keys/, and making foreign keys and signatures with OpenSSL
 * directly (test code only), so our verifiers are checked against an independent signer. */
#ifndef RLY_TEST_CRYPTO_UTIL_H
#define RLY_TEST_CRYPTO_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "core/hex.h"
#include "core/mem.h"

#define VEC_DIR RLY_VECTORS_DIR "/keys/"

#define ASSERT_NO_LEAK()                                                                           \
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",                             \
                 rly_mem_default()->live_bytes)

/* hex_decode decodes |hex| (whitespace ignored) into |out|; aborts the test on bad input. */
static inline size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            continue;
        int v = rly_hex_digit((unsigned char)*p);
        cr_assert(v >= 0, "bad hex char %c", *p);
        if (hi < 0) {
            hi = v;
            continue;
        }
        cr_assert(n < cap, "hex too long");
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    cr_assert(hi < 0, "odd hex length");
    return n;
}

/* read_text reads tests/vectors/keys/<name> into |buf| (NUL-terminated, trailing newline cut). */
static inline size_t read_text(const char *name, char *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", VEC_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return n;
}

/* read_hex reads and decodes the hex vector tests/vectors/keys/<name>. */
static inline size_t read_hex(const char *name, uint8_t *out, size_t cap)
{
    static char text[8192];
    read_text(name, text, sizeof(text));
    return hex_decode(text, out, cap);
}

static inline EVP_PKEY *gen_rsa(unsigned bits)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    cr_assert_not_null(pk);
    return pk;
}

static inline EVP_PKEY *gen_ec(const char *curve)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    cr_assert_not_null(pk);
    return pk;
}

/* spki_der writes the DER SubjectPublicKeyInfo of |pk|. */
static inline size_t spki_der(EVP_PKEY *pk, uint8_t *out, size_t cap)
{
    int n = i2d_PUBKEY(pk, NULL);
    cr_assert(n > 0 && (size_t)n <= cap);
    unsigned char *p = out;
    cr_assert_eq(i2d_PUBKEY(pk, &p), n);
    return (size_t)n;
}

/* sec1_point writes the public point of an EC key on a 256-bit curve, compressed (33 bytes) or
 * uncompressed (65). OpenSSL hands out the uncompressed form; compressing is keeping x and the
 * parity of y. */
static inline size_t sec1_point(EVP_PKEY *pk, bool compressed, uint8_t *out, size_t cap)
{
    uint8_t unc[65];
    size_t n = 0;
    cr_assert_eq(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, unc, sizeof(unc), &n),
                 1);
    cr_assert(n == 65 && unc[0] == 0x04 && cap >= 65);
    if (!compressed) {
        memcpy(out, unc, 65);
        return 65;
    }
    out[0] = (uint8_t)(0x02 | (unc[64] & 1));
    memcpy(out + 1, unc + 1, 32);
    return 33;
}

/* ossl_sign signs |msg| with SHA-256 (PKCS#1 v1.5 for RSA, DER ECDSA for EC keys). */
static inline size_t ossl_sign(EVP_PKEY *pk, const uint8_t *msg, size_t len, uint8_t *sig,
                               size_t cap)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = cap;
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk), 1);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &n, msg, len), 1);
    EVP_MD_CTX_free(ctx);
    return n;
}

/* rsa_factor reads one CRT parameter of an RSA key. */
static inline BIGNUM *rsa_factor(const EVP_PKEY *pk, const char *name)
{
    BIGNUM *v = NULL;
    cr_assert_eq(EVP_PKEY_get_bn_param(pk, name, &v), 1, "%s", name);
    return v;
}

/* rsa_rekey gives the primes of |pk| the public exponent |e|: NULL if |e| is not invertible
 * modulo lcm(p - 1, q - 1). */
static inline EVP_PKEY *rsa_rekey(const EVP_PKEY *pk, const BIGNUM *e)
{
    BN_CTX *bc = BN_CTX_new();
    BIGNUM *n = rsa_factor(pk, OSSL_PKEY_PARAM_RSA_N), *p = rsa_factor(pk, "rsa-factor1"),
           *q = rsa_factor(pk, "rsa-factor2");
    BIGNUM *p1 = BN_dup(p), *q1 = BN_dup(q), *g = BN_new(), *lam = BN_new(), *d = BN_new(),
           *dp = BN_new(), *dq = BN_new(), *qi = BN_new();
    cr_assert(bc && p1 && q1 && g && lam && d && dp && dq && qi);
    cr_assert(BN_sub_word(p1, 1) && BN_sub_word(q1, 1) && BN_gcd(g, p1, q1, bc));
    cr_assert(BN_mul(lam, p1, q1, bc) && BN_div(lam, NULL, lam, g, bc));
    EVP_PKEY *out = NULL;
    if (BN_mod_inverse(d, e, lam, bc)) {
        cr_assert(BN_mod(dp, d, p1, bc) && BN_mod(dq, d, q1, bc) && BN_mod_inverse(qi, q, p, bc));
        OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
        cr_assert(OSSL_PARAM_BLD_push_BN(b, "n", n) && OSSL_PARAM_BLD_push_BN(b, "e", e) &&
                  OSSL_PARAM_BLD_push_BN(b, "d", d) &&
                  OSSL_PARAM_BLD_push_BN(b, "rsa-factor1", p) &&
                  OSSL_PARAM_BLD_push_BN(b, "rsa-factor2", q) &&
                  OSSL_PARAM_BLD_push_BN(b, "rsa-exponent1", dp) &&
                  OSSL_PARAM_BLD_push_BN(b, "rsa-exponent2", dq) &&
                  OSSL_PARAM_BLD_push_BN(b, "rsa-coefficient1", qi));
        OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        cr_assert(params && ctx && EVP_PKEY_fromdata_init(ctx) == 1);
        cr_assert_eq(EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_KEYPAIR, params), 1);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(b);
    }
    BN_free(n);
    BN_free(p);
    BN_free(q);
    BN_free(p1);
    BN_free(q1);
    BN_free(g);
    BN_free(lam);
    BN_clear_free(d);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_free(qi);
    BN_CTX_free(bc);
    return out;
}

/* gen_rsa_exp makes a |bits|-bit RSA key (a signing key) with the public exponent |e_hex|
 * (hexadecimal, any size OpenSSL's key generation would refuse): fresh primes until |e| is
 * invertible, at most 64 tries. */
static inline EVP_PKEY *gen_rsa_exp(unsigned bits, const char *e_hex)
{
    BIGNUM *e = NULL;
    cr_assert(BN_hex2bn(&e, e_hex) > 0);
    EVP_PKEY *out = NULL;
    for (int i = 0; i < 64 && !out; i++) {
        EVP_PKEY *pk = gen_rsa(bits);
        out = rsa_rekey(pk, e);
        EVP_PKEY_free(pk);
    }
    BN_free(e);
    cr_assert_not_null(out, "no key with exponent %s", e_hex);
    return out;
}

/* Public exponents around the bound (RLY_RSA_MAX_EXPONENT, as go): the largest accepted, the
 * next odd one, and rsa_e_huge, a nearly modulus-sized one (what made a verification 40 times as
 * slow). */
#define RSA_E_MAX "7fffffff"
#define RSA_E_OVER "80000001"
/* RSA_E_HUGE: "c", 498 zeros, "b" (a 2000-bit exponent), in |buf| of at least 501 bytes. */
static inline const char *rsa_e_huge(char *buf)
{
    memset(buf, '0', 500);
    buf[0] = 'c';
    buf[499] = 'b';
    buf[500] = '\0';
    return buf;
}

/* pubkey_pb wraps |data| in a PublicKey protobuf by hand (type < 128, len < 16384). */
static inline size_t pubkey_pb(int type, const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    cr_assert(cap >= len + 5);
    out[n++] = 0x08;
    out[n++] = (uint8_t)type;
    out[n++] = 0x12;
    if (len < 128) {
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(0x80 | (len & 0x7f));
        out[n++] = (uint8_t)(len >> 7);
    }
    memcpy(out + n, data, len);
    return n + len;
}

#endif
