/* The libp2p TLS certificate (src/crypto/tlscert.h): our certificates verify to our PeerId, and
 * the verifier applies every rule of PROTOCOLS.md 5.1 to certificates built here the way go,
 * rust and js build theirs, and to forged or broken ones (made by tlscert_util.h, with OpenSSL
 * directly: certificates our code would never make).
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
#include "crypto_util.h"
#include "tlscert_util.h"

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

/* The fast path (rly_tlscert_verify_fast) takes ours and go's shape (and rust's critical flag);
 * other shapes go to the OpenSSL path (1), which gives the same answer for what it took. */
Test(tlscert, fast_path_takes_the_usual_shape_only)
{
    static rly_tlscert c;
    rly_keypair kp;
    rly_peerid want, got, slow;
    rly_pubkey key, skey;
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &want), 0);
    cr_assert_eq(rly_tlscert_generate(&c, &kp, NOW), 0);
    cr_assert_eq(rly_tlscert_verify_fast(c.cert, c.cert_len, NOW, &got, &key), 0);
    cr_assert(rly_peerid_equal(&got, &want));
    cr_assert_eq(rly_tlscert_verify_openssl(c.cert, c.cert_len, NOW, &slow, &skey), 0);
    cr_assert(rly_peerid_equal(&slow, &want));
    cr_assert(key.len == skey.len && memcmp(key.data, skey.data, key.len) == 0);
    /* validity bounds: both ends inclusive, as in the OpenSSL path */
    int64_t nb = NOW - RLY_TLSCERT_BACKDATE_SECS;
    cr_assert_eq(rly_tlscert_verify_fast(c.cert, c.cert_len, nb, NULL, NULL), 0);
    cr_assert_eq(rly_tlscert_verify_openssl(c.cert, c.cert_len, nb, NULL, NULL), 0);
    cr_assert_eq(rly_tlscert_verify_fast(c.cert, c.cert_len, nb - 1, NULL, NULL), 1);
    cr_assert_eq(rly_tlscert_verify_openssl(c.cert, c.cert_len, nb - 1, NULL, NULL),
                 RLY_ERR_CERTIFICATE);
    rly_tlscert_wipe(&c);
    rly_keypair_wipe(&kp);

    ident id = ident_new(RLY_KEY_ED25519), k1 = ident_new(RLY_KEY_SECP256K1);
    struct {
        const char *what;
        const ident *by;
        forge f;
        int fast;
    } cases[] = {
        {"go's shape (UTCTime both ends)", &id, {.key = CK_P256}, 0},
        {"rust's critical extension", &id, {.key = CK_P256, .critical = 1}, 0},
        {"a secp256k1 identity", &k1, {.key = CK_P256}, 0},
        {"P-384", &id, {.key = CK_P384, .md = EVP_sha384()}, 1},
        {"Ed25519 certificate key", &id, {.key = CK_ED25519}, 1},
        {"RSA certificate key", &id, {.key = CK_RSA}, 1},
        {"P-256 with SHA-512", &id, {.key = CK_P256, .md = EVP_sha512()}, 1},
        {"another critical extension", &id, {.extra_critical = 1}, 1},
        {"two libp2p extensions", &id, {.nexts = 2}, 1},
        {"issuer is not the subject", &id, {.other_issuer = 1}, 1},
        {"expired", &id, {.not_before = -86400, .not_after = -60}, 1},
        {"another SPKI signed", &id, {.sign_other_spki = 1}, RLY_ERR_SIGNATURE},
    };
    static uint8_t der[RLY_TLSCERT_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = forge_cert(cases[i].by, &cases[i].f, der, sizeof(der));
        int fast = rly_tlscert_verify_fast(der, n, NOW, &got, NULL);
        cr_assert_eq(fast, cases[i].fast, "%s: %d", cases[i].what, fast);
        int all = rly_tlscert_verify(der, n, NOW, NULL, NULL);
        int ossl = rly_tlscert_verify_openssl(der, n, NOW, &slow, NULL);
        cr_assert_eq(all, ossl, "%s: %d vs %d", cases[i].what, all, ossl);
        if (fast == 0)
            cr_assert(ossl == 0 && rly_peerid_equal(&got, &slow), "%s", cases[i].what);
    }
    ident_free(&id);
    ident_free(&k1);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* The RSA public exponent is bounded (issue 11 item 6: a huge one made each verification about
 * 40 times as slow), for the certificate's key and for the identity key in the extension. */
Test(tlscert, rsa_exponent_bound)
{
    char huge[501];
    ident id = ident_new(RLY_KEY_ED25519);
    forge ok = {.key = CK_RSA, .cert_pk = gen_rsa_exp(2048, RSA_E_MAX)};
    cr_assert_eq(verify_forged(&id, &ok, NULL), 0);
    EVP_PKEY_free(ok.cert_pk);
    const char *refused[] = {RSA_E_OVER, rsa_e_huge(huge)};
    for (size_t i = 0; i < 2; i++) {
        forge f = {.key = CK_RSA, .cert_pk = gen_rsa_exp(2048, refused[i])};
        cr_assert_eq(verify_forged(&id, &f, NULL), RLY_ERR_CERTIFICATE, "e = %s", refused[i]);
        EVP_PKEY_free(f.cert_pk);
    }
    ident_free(&id);
    ident rsa = {.type = RLY_KEY_RSA, .pk = gen_rsa_exp(2048, RSA_E_MAX)};
    forge p256 = {.key = CK_P256};
    cr_assert_eq(verify_forged(&rsa, &p256, NULL), 0);
    ident_free(&rsa);
    for (size_t i = 0; i < 2; i++) {
        rsa = (ident){.type = RLY_KEY_RSA, .pk = gen_rsa_exp(2048, refused[i])};
        cr_assert_eq(verify_forged(&rsa, &p256, NULL), RLY_ERR_UNSUPPORTED, "e = %s", refused[i]);
        ident_free(&rsa);
    }
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
    char huge[501];
    EVP_PKEY *e_max = gen_rsa_exp(2048, RSA_E_MAX), *e_over = gen_rsa_exp(2048, RSA_E_OVER),
             *e_huge = gen_rsa_exp(2048, rsa_e_huge(huge));
    ident rsa_huge = {.type = RLY_KEY_RSA, .pk = gen_rsa_exp(2048, huge)};
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
        {"rsa_cert_e_max", &id, {.key = CK_RSA, .cert_pk = e_max}},
        {"bad_rsa_cert_e_over", &id, {.key = CK_RSA, .cert_pk = e_over}},
        {"bad_rsa_cert_e_huge", &id, {.key = CK_RSA, .cert_pk = e_huge}},
        {"bad_rsa_identity_e_huge", &rsa_huge, {0}},
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
    ident_free(&rsa_huge);
    EVP_PKEY_free(e_max);
    EVP_PKEY_free(e_over);
    EVP_PKEY_free(e_huge);
    rly_tlscert_wipe(&c);
    rly_keypair_wipe(&kp);
}
