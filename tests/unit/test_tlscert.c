/* The libp2p TLS certificate (src/crypto/tlscert.h): our certificates verify to our PeerId, and
 * the verifier applies every rule of PROTOCOLS.md 5.1 to certificates built here the way go,
 * rust and js build theirs, and to forged or broken ones. The forging helper uses OpenSSL
 * directly (the one test that does: it has to make certificates our code would never make).
 *
 * RLY_TLSCERT_SEEDS=<dir> makes the `seeds` test write the fuzz seeds (fuzz/corpus/tlscert). */
#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
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

static ident ident_new(rly_key_type type)
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

static void ident_free(ident *id)
{
    EVP_PKEY_free(id->pk);
    rly_keypair_wipe(&id->ed);
}

/* The PublicKey of |id| as libp2p encodes it. */
static void ident_pubkey(const ident *id, rly_pubkey *k)
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
static size_t ident_sign(const ident *id, const uint8_t *msg, size_t len, uint8_t *sig, size_t cap)
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
} forge;

static EVP_PKEY *cert_key_new(cert_key k)
{
    switch (k) {
    case CK_P256: return EVP_EC_gen("P-256");
    case CK_P384: return EVP_EC_gen("P-384");
    case CK_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case CK_RSA: return EVP_RSA_gen(2048);
    }
    return NULL;
}

static void add_ext(X509 *x, const char *oid, const uint8_t *val, size_t len, int crit)
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
static size_t forge_cert(const ident *signer, const forge *f, uint8_t *out, size_t cap)
{
    EVP_PKEY *k = cert_key_new(f->key), *other = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new(), *iname = X509_NAME_new();
    cr_assert(k && other && x && name && iname);
    cr_assert(X509_set_version(x, f->version1 ? X509_VERSION_1 : X509_VERSION_3));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 12345);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(NOW + (f->not_before ? f->not_before : -3600)));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(NOW + (f->not_after ? f->not_after : 86400)));
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
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    return (size_t)n;
}

static int verify_forged(const ident *signer, const forge *f, rly_peerid *peer)
{
    static uint8_t der[RLY_TLSCERT_MAX];
    size_t n = forge_cert(signer, f, der, sizeof(der));
    return rly_tlscert_verify(der, n, NOW, peer, NULL);
}

static void peerid_of(const ident *id, rly_peerid *pid)
{
    rly_pubkey k;
    ident_pubkey(id, &k);
    cr_assert_eq(rly_pubkey_to_peerid(&k, pid), 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(tlscert, ours_verifies_to_our_peer_id)
{
    static rly_tlscert c;
    rly_keypair kp;
    rly_peerid want, got;
    rly_pubkey key;
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &want), 0);
    cr_assert_eq(rly_tlscert_generate(&c, &kp, NOW), 0);
    cr_assert(c.cert_len > 100 && c.cert_len < 1000, "%zu bytes", c.cert_len);
    cr_assert(c.key_len > 0);
    cr_assert_eq(rly_tlscert_verify(c.cert, c.cert_len, NOW, &got, &key), 0);
    cr_assert(rly_peerid_equal(&got, &want));
    cr_assert_eq(key.type, RLY_KEY_ED25519);
    /* Valid from an hour back (clock skew) for a hundred years. */
    cr_assert_eq(rly_tlscert_verify(c.cert, c.cert_len, NOW - 3599, NULL, NULL), 0);
    cr_assert_eq(rly_tlscert_verify(c.cert, c.cert_len, NOW - 3601, NULL, NULL),
                 RLY_ERR_CERTIFICATE);
    cr_assert_eq(rly_tlscert_verify(c.cert, c.cert_len, NOW + 99LL * 365 * 86400, NULL, NULL), 0);
    cr_assert_eq(rly_tlscert_verify(c.cert, c.cert_len, NOW + 101LL * 365 * 86400, NULL, NULL),
                 RLY_ERR_CERTIFICATE);
    /* Two certificates of one identity differ (fresh key and serial). */
    static rly_tlscert c2;
    cr_assert_eq(rly_tlscert_generate(&c2, &kp, NOW), 0);
    cr_assert(c2.cert_len != c.cert_len || memcmp(c2.cert, c.cert, c.cert_len) != 0);
    rly_tlscert_wipe(&c);
    rly_tlscert_wipe(&c2);
    cr_assert_eq(c.key_len, 0);
    rly_keypair_wipe(&kp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(tlscert, every_identity_key_type_and_certificate_key)
{
    static const rly_key_type types[] = {RLY_KEY_ED25519, RLY_KEY_ECDSA, RLY_KEY_SECP256K1,
                                         RLY_KEY_RSA};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        ident id = ident_new(types[i]);
        rly_peerid want, got;
        peerid_of(&id, &want);
        forge f = {.key = CK_P256};
        cr_assert_eq(verify_forged(&id, &f, &got), 0, "identity type %d", types[i]);
        cr_assert(rly_peerid_equal(&got, &want), "identity type %d", types[i]);
        ident_free(&id);
    }
    ident id = ident_new(RLY_KEY_ED25519);
    forge rust = {.key = CK_P256, .critical = 1}; /* rust and js-quic mark the extension critical */
    cr_assert_eq(verify_forged(&id, &rust, NULL), 0);
    forge p384 = {.key = CK_P384, .md = EVP_sha384()};
    cr_assert_eq(verify_forged(&id, &p384, NULL), 0);
    forge ed = {.key = CK_ED25519};
    cr_assert_eq(verify_forged(&id, &ed, NULL), 0);
    forge rsa = {.key = CK_RSA};
    cr_assert_eq(verify_forged(&id, &rsa, NULL), 0);
    forge sha512 = {.key = CK_P256, .md = EVP_sha512()};
    cr_assert_eq(verify_forged(&id, &sha512, NULL), 0);
    ident_free(&id);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(tlscert, forged_and_broken_certificates_are_refused)
{
    ident id = ident_new(RLY_KEY_ED25519), other = ident_new(RLY_KEY_ED25519);
    struct {
        const char *what;
        forge f;
        int want;
    } cases[] = {
        {"the identity signed another key's SPKI", {.sign_other_spki = 1}, RLY_ERR_SIGNATURE},
        {"another identity's key with this signature", {.key_of = &other}, RLY_ERR_SIGNATURE},
        {"no libp2p extension", {.nexts = -1}, RLY_ERR_CERTIFICATE},
        {"two libp2p extensions", {.nexts = 2}, RLY_ERR_CERTIFICATE},
        {"another critical extension", {.extra_critical = 1}, RLY_ERR_CERTIFICATE},
        {"not yet valid", {.not_before = 60, .not_after = 86400}, RLY_ERR_CERTIFICATE},
        {"expired", {.not_before = -86400, .not_after = -60}, RLY_ERR_CERTIFICATE},
        {"SHA-1 self-signature", {.md = NULL}, 0}, /* placeholder, set below */
        {"issuer is not the subject", {.other_issuer = 1}, RLY_ERR_CERTIFICATE},
    };
    cases[7].f.md = EVP_sha1();
    cases[7].want = RLY_ERR_CERTIFICATE;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = verify_forged(&id, &cases[i].f, NULL);
        cr_assert_eq(rv, cases[i].want, "%s: %s", cases[i].what, rly_strerror(rv));
    }

    /* A valid certificate, then damaged bytes: a flipped bit anywhere must not verify. */
    static uint8_t der[RLY_TLSCERT_MAX];
    forge good = {.key = CK_P256};
    size_t n = forge_cert(&id, &good, der, sizeof(der));
    cr_assert_eq(rly_tlscert_verify(der, n, NOW, NULL, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        der[i] ^= 0x01;
        cr_assert_neq(rly_tlscert_verify(der, n, NOW, NULL, NULL), 0, "bit flip at %zu", i);
        der[i] ^= 0x01;
    }
    der[n] = 0;
    cr_assert_eq(rly_tlscert_verify(der, n + 1, NOW, NULL, NULL), RLY_ERR_MALFORMED,
                 "a trailing byte");
    cr_assert_eq(rly_tlscert_verify(der, n - 1, NOW, NULL, NULL), RLY_ERR_MALFORMED, "truncated");
    cr_assert_eq(rly_tlscert_verify(der, 0, NOW, NULL, NULL), RLY_ERR_MALFORMED);
    ident_free(&id);
    ident_free(&other);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(tlscert, signedkey_der)
{
    static uint8_t pk[300], sig[70], out[600];
    memset(pk, 0xaa, sizeof(pk));
    memset(sig, 0xbb, sizeof(sig));
    const uint8_t *a, *b;
    size_t al, bl;
    /* Short and long lengths (1- and 2-byte length fields). */
    for (size_t pl = 0; pl <= sizeof(pk); pl += 100) {
        rly_ssize n = rly_tlscert_signedkey_encode(pk, pl, sig, sizeof(sig), out, sizeof(out));
        cr_assert_gt(n, 0);
        cr_assert_eq(rly_tlscert_signedkey_decode(out, (size_t)n, &a, &al, &b, &bl), 0);
        cr_assert_eq(al, pl);
        cr_assert_eq(bl, sizeof(sig));
        cr_assert_arr_eq(b, sig, sizeof(sig));
        /* Every truncation fails; a trailing byte fails. */
        for (size_t k = 0; k < (size_t)n; k++)
            cr_assert_eq(rly_tlscert_signedkey_decode(out, k, &a, &al, &b, &bl), RLY_ERR_MALFORMED);
        out[n] = 0;
        cr_assert_eq(rly_tlscert_signedkey_decode(out, (size_t)n + 1, &a, &al, &b, &bl),
                     RLY_ERR_MALFORMED);
    }
    cr_assert_eq(rly_tlscert_signedkey_encode(pk, sizeof(pk), sig, sizeof(sig), out, 10),
                 RLY_ERR_NOBUF);
    /* Non-minimal length, indefinite length, wrong tags, a third element. */
    static const uint8_t nonmin[] = {0x30, 0x81, 0x04, 0x04, 0x00, 0x04, 0x00};
    static const uint8_t indef[] = {0x30, 0x80, 0x04, 0x00, 0x04, 0x00, 0x00, 0x00};
    static const uint8_t badtag[] = {0x30, 0x04, 0x02, 0x00, 0x04, 0x00};
    static const uint8_t three[] = {0x30, 0x06, 0x04, 0x00, 0x04, 0x00, 0x04, 0x00};
    static const uint8_t ok[] = {0x30, 0x04, 0x04, 0x00, 0x04, 0x00};
    cr_assert_eq(rly_tlscert_signedkey_decode(nonmin, sizeof(nonmin), &a, &al, &b, &bl),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_tlscert_signedkey_decode(indef, sizeof(indef), &a, &al, &b, &bl),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_tlscert_signedkey_decode(badtag, sizeof(badtag), &a, &al, &b, &bl),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_tlscert_signedkey_decode(three, sizeof(three), &a, &al, &b, &bl),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_tlscert_signedkey_decode(ok, sizeof(ok), &a, &al, &b, &bl), 0);
    cr_assert_eq(al + bl, 0);
}

Test(tlscert, spki_is_found_as_encoded)
{
    static rly_tlscert c;
    rly_keypair kp;
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_tlscert_generate(&c, &kp, NOW), 0);
    const uint8_t *spki;
    size_t n;
    cr_assert_eq(rly_tlscert_find_spki(c.cert, c.cert_len, &spki, &n), 0);
    /* Compare with OpenSSL's view of the certificate's key. */
    const unsigned char *p = c.cert;
    X509 *x = d2i_X509(NULL, &p, (long)c.cert_len);
    unsigned char *der = NULL;
    int dn = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    cr_assert_eq((size_t)dn, n);
    cr_assert_arr_eq(spki, der, n);
    cr_assert_eq(n, 91, "a P-256 SubjectPublicKeyInfo is 91 bytes");
    OPENSSL_free(der);
    X509_free(x);
    for (size_t k = 0; k < c.cert_len; k++)
        cr_assert_eq(rly_tlscert_find_spki(c.cert, k, &spki, &n), RLY_ERR_MALFORMED);
    rly_tlscert_wipe(&c);
    rly_keypair_wipe(&kp);
}

/* RLY_TLSCERT_SEEDS=<dir>: write the fuzz seeds (ours, rust-shaped, forged, other key types). */
static void seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

Test(tlscert, seeds)
{
    const char *dir = getenv("RLY_TLSCERT_SEEDS");
    if (!dir)
        return;
    static rly_tlscert c;
    static uint8_t der[RLY_TLSCERT_MAX];
    rly_keypair kp;
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_tlscert_generate(&c, &kp, NOW), 0);
    seed(dir, "ours", c.cert, c.cert_len);
    ident id = ident_new(RLY_KEY_ED25519), other = ident_new(RLY_KEY_ED25519),
          rsa = ident_new(RLY_KEY_RSA), k1 = ident_new(RLY_KEY_SECP256K1);
    struct {
        const char *name;
        const ident *by;
        forge f;
    } v[] = {
        {"rust_critical", &id, {.critical = 1}},
        {"p384", &id, {.key = CK_P384, .md = EVP_sha384()}},
        {"ed25519_cert", &id, {.key = CK_ED25519}},
        {"rsa_identity", &rsa, {.key = CK_RSA}},
        {"secp256k1_identity", &k1, {0}},
        {"bad_other_spki", &id, {.sign_other_spki = 1}},
        {"bad_key_swap", &id, {.key_of = &other}},
        {"bad_no_ext", &id, {.nexts = -1}},
        {"bad_two_ext", &id, {.nexts = 2}},
        {"bad_extra_critical", &id, {.extra_critical = 1}},
        {"bad_expired", &id, {.not_before = -86400, .not_after = -60}},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = forge_cert(v[i].by, &v[i].f, der, sizeof(der));
        seed(dir, v[i].name, der, n);
    }
    const uint8_t *ext;
    size_t n;
    cr_assert_eq(rly_tlscert_find_spki(c.cert, c.cert_len, &ext, &n), 0);
    seed(dir, "spki_only", ext, n);
    const unsigned char *p = c.cert;
    X509 *x = d2i_X509(NULL, &p, (long)c.cert_len);
    ASN1_OBJECT *oid = OBJ_txt2obj(RLY_TLSCERT_EXT_OID, 1);
    int at = X509_get_ext_by_OBJ(x, oid, -1);
    ASN1_OBJECT_free(oid);
    const ASN1_OCTET_STRING *sk = X509_EXTENSION_get_data(X509_get_ext(x, at));
    seed(dir, "signedkey_only", ASN1_STRING_get0_data(sk), (size_t)ASN1_STRING_length(sk));
    X509_free(x);
    ident_free(&id);
    ident_free(&other);
    ident_free(&rsa);
    ident_free(&k1);
    rly_tlscert_wipe(&c);
    rly_keypair_wipe(&kp);
}
