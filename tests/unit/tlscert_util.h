/* tlscert_util.h: libp2p TLS certificates made the way go, rust and js make theirs, and forged
 * or broken ones, with OpenSSL directly (test code only: certificates our code would never make).
 * Shared by test_tlscert.c (the verifier) and test_quic_conn.c (a peer presenting them). */
#ifndef RLY_TEST_TLSCERT_UTIL_H
#define RLY_TEST_TLSCERT_UTIL_H

#include <criterion/criterion.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "crypto/keys.h"
#include "crypto/tlscert.h"

#define NOW ((int64_t)1800000000) /* 2027-01-15 */
#define PREFIX RLY_TLSCERT_SIG_PREFIX
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* ---- identities of every key type, signing as libp2p does -------------------------------- */

typedef struct ident {
    rly_key_type type;
    rly_keypair ed; /* RLY_KEY_ED25519 */
    EVP_PKEY *pk;   /* the others */
} ident;

static inline ident ident_new(rly_key_type type)
{
    ident id = {.type = type};
    switch (type) {
    case RLY_KEY_ED25519: cr_assert_eq(rly_keypair_generate(&id.ed), 0); break;
    case RLY_KEY_ECDSA: id.pk = EVP_EC_gen("P-256"); break;
    case RLY_KEY_SECP256K1: id.pk = EVP_EC_gen("secp256k1"); break;
    case RLY_KEY_RSA: id.pk = EVP_RSA_gen(2048); break;
    }
    cr_assert(type == RLY_KEY_ED25519 || id.pk);
    return id;
}

static inline void ident_free(ident *id)
{
    EVP_PKEY_free(id->pk);
    rly_keypair_wipe(&id->ed);
}

/* The PublicKey of |id| as libp2p encodes it. */
static inline void ident_pubkey(const ident *id, rly_pubkey *k)
{
    if (id->type == RLY_KEY_ED25519) {
        rly_keypair_public(&id->ed, k);
        return;
    }
    k->type = id->type;
    if (id->type == RLY_KEY_SECP256K1) {
        unsigned char *pt = NULL;
        size_t n = EVP_PKEY_get1_encoded_public_key(id->pk, &pt);
        cr_assert_gt(n, 0);
        /* compressed form (33 bytes), what go and rust put in PublicKey.Data */
        EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_secp256k1);
        EC_POINT *p = EC_POINT_new(g);
        cr_assert_eq(EC_POINT_oct2point(g, p, pt, n, NULL), 1);
        k->len =
            EC_POINT_point2oct(g, p, POINT_CONVERSION_COMPRESSED, k->data, sizeof(k->data), NULL);
        EC_POINT_free(p);
        EC_GROUP_free(g);
        OPENSSL_free(pt);
        return;
    }
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(id->pk, &der); /* ECDSA and RSA: DER SubjectPublicKeyInfo */
    cr_assert_gt(n, 0);
    memcpy(k->data, der, (size_t)n);
    k->len = (size_t)n;
    OPENSSL_free(der);
}

/* Signs |msg| as libp2p does for |id|'s key type. */
static inline size_t ident_sign(const ident *id, const uint8_t *msg, size_t len, uint8_t *sig,
                                size_t cap)
{
    if (id->type == RLY_KEY_ED25519) {
        cr_assert_eq(rly_keypair_sign(&id->ed, msg, len, sig), 0);
        return RLY_ED25519_SIG_LEN;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = cap;
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, id->pk), 1);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &n, msg, len), 1);
    EVP_MD_CTX_free(ctx);
    return n;
}

/* ---- certificates, the right way and the wrong ways ----------------------------------------- */

typedef enum cert_key { CK_P256, CK_P384, CK_ED25519, CK_RSA } cert_key;

typedef struct forge {
    cert_key key;
    const EVP_MD *md;    /* NULL: SHA-256 (none for Ed25519) */
    int critical;        /* the libp2p extension's criticality */
    int nexts;           /* libp2p extensions: 1, 0 or 2 */
    int extra_critical;  /* add a critical basicConstraints */
    int sign_other_spki; /* the identity signs another key's SPKI */
    const ident *key_of; /* NULL: the signer; else its PublicKey goes in with the signer's sig */
    int64_t not_before, not_after; /* offsets from NOW */
    int version1;                  /* X.509 v1 */
    int other_issuer;              /* issuer name differs from subject */
    EVP_PKEY *cert_pk;             /* the certificate's key (borrowed); NULL: a new |key| */
    int64_t now;                   /* validity is around this time; 0: NOW */
} forge;

static inline EVP_PKEY *cert_key_new(cert_key k)
{
    switch (k) {
    case CK_P256: return EVP_EC_gen("P-256");
    case CK_P384: return EVP_EC_gen("P-384");
    case CK_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case CK_RSA: return EVP_RSA_gen(2048);
    }
    return NULL;
}

static inline void add_ext(X509 *x, const char *oid, const uint8_t *val, size_t len, int crit)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    cr_assert_eq(ASN1_OCTET_STRING_set(os, val, (int)len), 1);
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os);
    cr_assert_not_null(e);
    cr_assert(X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
}

/* Builds a certificate for |signer| shaped by |f| into |out|; returns its length. */
static inline size_t forge_cert(const ident *signer, const forge *f, uint8_t *out, size_t cap)
{
    EVP_PKEY *k = f->cert_pk ? f->cert_pk : cert_key_new(f->key), *other = EVP_EC_gen("P-256");
    int64_t now = f->now ? f->now : NOW;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new(), *iname = X509_NAME_new();
    cr_assert(k && other && x && name && iname);
    cr_assert(X509_set_version(x, f->version1 ? X509_VERSION_1 : X509_VERSION_3));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 12345);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now + (f->not_before ? f->not_before : -3600)));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + (f->not_after ? f->not_after : 86400)));
    X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, (const unsigned char *)"1", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(iname, "serialNumber", MBSTRING_ASC, (const unsigned char *)"2", -1,
                               -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, f->other_issuer ? iname : name);
    X509_set_pubkey(x, k);

    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(f->sign_other_spki ? other : k, &spki);
    uint8_t msg[PREFIX_LEN + 2048], sig[1024], pkpb[RLY_PUBKEY_PB_MAX], sk[4096];
    cr_assert(spki_len > 0 && (size_t)spki_len <= sizeof(msg) - PREFIX_LEN);
    memcpy(msg, PREFIX, PREFIX_LEN);
    memcpy(msg + PREFIX_LEN, spki, (size_t)spki_len);
    size_t siglen = ident_sign(signer, msg, PREFIX_LEN + (size_t)spki_len, sig, sizeof(sig));
    rly_pubkey pub;
    ident_pubkey(f->key_of ? f->key_of : signer, &pub);
    rly_ssize pklen = rly_pubkey_encode(&pub, pkpb, sizeof(pkpb));
    cr_assert_gt(pklen, 0);
    rly_ssize sklen =
        rly_tlscert_signedkey_encode(pkpb, (size_t)pklen, sig, siglen, sk, sizeof(sk));
    cr_assert_gt(sklen, 0);
    int nexts = f->nexts ? f->nexts : 1;
    if (f->nexts < 0)
        nexts = 0;
    for (int i = 0; i < nexts; i++)
        add_ext(x, RLY_TLSCERT_EXT_OID, sk, (size_t)sklen, f->critical);
    if (f->extra_critical) {
        static const uint8_t bc[] = {0x30, 0x00}; /* BasicConstraints: not a CA */
        add_ext(x, "2.5.29.19", bc, sizeof(bc), 1);
    }
    const EVP_MD *md = f->key == CK_ED25519 ? NULL : f->md ? f->md : EVP_sha256();
    cr_assert_gt(X509_sign(x, k, md), 0);
    int n = i2d_X509(x, NULL);
    cr_assert(n > 0 && (size_t)n <= cap);
    unsigned char *p = out;
    i2d_X509(x, &p);
    OPENSSL_free(spki);
    X509_NAME_free(name);
    X509_NAME_free(iname);
    X509_free(x);
    if (!f->cert_pk)
        EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    return (size_t)n;
}

static inline int verify_forged(const ident *signer, const forge *f, rly_peerid *peer)
{
    static uint8_t der[RLY_TLSCERT_MAX];
    size_t n = forge_cert(signer, f, der, sizeof(der));
    return rly_tlscert_verify(der, n, NOW, peer, NULL);
}

static inline void peerid_of(const ident *id, rly_peerid *pid)
{
    rly_pubkey k;
    ident_pubkey(id, &k);
    cr_assert_eq(rly_pubkey_to_peerid(&k, pid), 0);
}

#endif
