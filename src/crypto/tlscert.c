/* tlscert.c: the libp2p TLS certificate (tlscert.h). */
#include "crypto/tlscert.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "core/mem.h"
#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"

#define PREFIX_LEN (sizeof(RLY_TLSCERT_SIG_PREFIX) - 1)
#define SERIAL_LEN 16

/* ---- DER, just enough for SignedKey and the certificate skeleton ----------------------------- */

typedef struct der_tlv {
    uint8_t tag;
    const uint8_t *start; /* the tag byte */
    const uint8_t *val;
    size_t len;   /* of the value */
    size_t total; /* tag, length and value */
} der_tlv;

/* Reads one TLV at |p| (|n| bytes): single-byte tags, definite minimal lengths up to 2^32. */
static int der_read(const uint8_t *p, size_t n, der_tlv *t)
{
    if (n < 2 || (p[0] & 0x1f) == 0x1f)
        return RLY_ERR_MALFORMED;
    size_t hdr = 2, len = p[1];
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 4 || n < 2 + nb || p[2] == 0)
            return RLY_ERR_MALFORMED; /* indefinite, too long, or a leading zero */
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = (len << 8) | p[2 + i];
        if (len < 0x80)
            return RLY_ERR_MALFORMED; /* long form for a short length */
        hdr += nb;
    }
    if (len > n - hdr)
        return RLY_ERR_MALFORMED;
    t->tag = p[0];
    t->start = p;
    t->val = p + hdr;
    t->len = len;
    t->total = hdr + len;
    return 0;
}

/* Bytes of a DER length field for |len|. */
static size_t der_len_size(size_t len)
{
    if (len < 0x80)
        return 1;
    size_t n = 1;
    for (; len; len >>= 8)
        n++;
    return n;
}

static uint8_t *der_put_hdr(uint8_t *p, uint8_t tag, size_t len)
{
    *p++ = tag;
    if (len < 0x80) {
        *p++ = (uint8_t)len;
        return p;
    }
    size_t nb = der_len_size(len) - 1;
    *p++ = (uint8_t)(0x80 | nb);
    for (size_t i = nb; i > 0; i--)
        *p++ = (uint8_t)(len >> (8 * (i - 1)));
    return p;
}

int rly_tlscert_signedkey_decode(const uint8_t *in, size_t len, const uint8_t **pubkey,
                                 size_t *pubkey_len, const uint8_t **sig, size_t *sig_len)
{
    der_tlv seq, a, b;
    if (der_read(in, len, &seq) != 0 || seq.tag != 0x30 || seq.total != len)
        return RLY_ERR_MALFORMED;
    if (der_read(seq.val, seq.len, &a) != 0 || a.tag != 0x04)
        return RLY_ERR_MALFORMED;
    if (der_read(seq.val + a.total, seq.len - a.total, &b) != 0 || b.tag != 0x04 ||
        a.total + b.total != seq.len)
        return RLY_ERR_MALFORMED;
    *pubkey = a.val;
    *pubkey_len = a.len;
    *sig = b.val;
    *sig_len = b.len;
    return 0;
}

rly_ssize rly_tlscert_signedkey_encode(const uint8_t *pubkey, size_t pubkey_len, const uint8_t *sig,
                                       size_t sig_len, uint8_t *out, size_t cap)
{
    if (pubkey_len > RLY_TLSCERT_MAX || sig_len > RLY_TLSCERT_MAX)
        return RLY_ERR_NOBUF;
    size_t a = 1 + der_len_size(pubkey_len) + pubkey_len;
    size_t b = 1 + der_len_size(sig_len) + sig_len;
    size_t total = 1 + der_len_size(a + b) + a + b;
    if (total > cap)
        return RLY_ERR_NOBUF;
    uint8_t *p = der_put_hdr(out, 0x30, a + b);
    p = der_put_hdr(p, 0x04, pubkey_len);
    memcpy(p, pubkey, pubkey_len);
    p = der_put_hdr(p + pubkey_len, 0x04, sig_len);
    memcpy(p, sig, sig_len);
    return (rly_ssize)total;
}

int rly_tlscert_find_spki(const uint8_t *der, size_t len, const uint8_t **spki, size_t *spki_len)
{
    der_tlv cert, tbs, f;
    if (der_read(der, len, &cert) != 0 || cert.tag != 0x30 || cert.total != len)
        return RLY_ERR_MALFORMED;
    if (der_read(cert.val, cert.len, &tbs) != 0 || tbs.tag != 0x30)
        return RLY_ERR_MALFORMED;
    const uint8_t *p = tbs.val;
    size_t n = tbs.len;
    /* [0] version (optional), serialNumber, signature, issuer, validity, subject, SPKI */
    static const uint8_t want[] = {0x02, 0x30, 0x30, 0x30, 0x30};
    if (der_read(p, n, &f) != 0)
        return RLY_ERR_MALFORMED;
    if (f.tag == 0xa0) {
        p += f.total;
        n -= f.total;
    }
    for (size_t i = 0; i < sizeof(want); i++) {
        if (der_read(p, n, &f) != 0 || f.tag != want[i])
            return RLY_ERR_MALFORMED;
        p += f.total;
        n -= f.total;
    }
    if (der_read(p, n, &f) != 0 || f.tag != 0x30)
        return RLY_ERR_MALFORMED;
    *spki = f.start;
    *spki_len = f.total;
    return 0;
}

/* ---- generation --------------------------------------------------------------------------- */

/* The SignedKey of |id| for a certificate whose SubjectPublicKeyInfo is |spki|. */
static rly_ssize signed_key(const rly_keypair *id, const uint8_t *spki, size_t spki_len,
                            uint8_t *out, size_t cap)
{
    uint8_t pk[RLY_PUBKEY_PB_MAX], sig[RLY_ED25519_SIG_LEN];
    rly_pubkey pub;
    rly_keypair_public(id, &pub);
    rly_ssize pklen = rly_pubkey_encode(&pub, pk, sizeof(pk));
    if (pklen < 0 || spki_len > RLY_TLSCERT_MAX)
        return RLY_ERR_CRYPTO;
    uint8_t *msg = rly_malloc(NULL, PREFIX_LEN + spki_len);
    if (!msg)
        return RLY_ERR_NOMEM;
    memcpy(msg, RLY_TLSCERT_SIG_PREFIX, PREFIX_LEN);
    memcpy(msg + PREFIX_LEN, spki, spki_len);
    int rv = rly_keypair_sign(id, msg, PREFIX_LEN + spki_len, sig);
    rly_free(NULL, msg);
    if (rv != 0)
        return rv;
    return rly_tlscert_signedkey_encode(pk, (size_t)pklen, sig, sizeof(sig), out, cap);
}

static int add_libp2p_ext(X509 *x, const uint8_t *val, size_t len)
{
    int ok = 0;
    ASN1_OBJECT *obj = OBJ_txt2obj(RLY_TLSCERT_EXT_OID, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (obj && os && ASN1_OCTET_STRING_set(os, val, (int)len) == 1 &&
        (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, ext, -1))
        ok = 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok;
}

static int set_serial(X509 *x)
{
    uint8_t sn[SERIAL_LEN];
    if (rly_crypto_random(sn, sizeof(sn)) != 0)
        return 0;
    sn[0] &= 0x7f; /* positive */
    sn[0] |= 0x01; /* and no leading zero byte */
    BIGNUM *bn = BN_bin2bn(sn, sizeof(sn), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

int rly_tlscert_generate(rly_tlscert *out, const rly_keypair *id, int64_t now)
{
    int rv = RLY_ERR_CRYPTO;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char *spki = NULL, *p;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    uint8_t sk[RLY_PUBKEY_PB_MAX + RLY_ED25519_SIG_LEN + 16];
    memset(out, 0, sizeof(*out));
    if (!k || !x || !name || !X509_set_version(x, X509_VERSION_3) || !set_serial(x) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - RLY_TLSCERT_BACKDATE_SECS)) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + RLY_TLSCERT_LIFETIME_SECS)) ||
        !X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, (const unsigned char *)"1",
                                    -1, -1, 0) ||
        !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, k))
        goto out;
    int spki_len = i2d_PUBKEY(k, &spki);
    if (spki_len <= 0)
        goto out;
    rly_ssize sklen = signed_key(id, spki, (size_t)spki_len, sk, sizeof(sk));
    if (sklen < 0) {
        rv = (int)sklen;
        goto out;
    }
    if (!add_libp2p_ext(x, sk, (size_t)sklen) || X509_sign(x, k, EVP_sha256()) <= 0)
        goto out;
    int n = i2d_X509(x, NULL);
    if (n <= 0 || (size_t)n > sizeof(out->cert))
        goto out;
    p = out->cert;
    out->cert_len = (size_t)i2d_X509(x, &p);
    p8 = EVP_PKEY2PKCS8(k);
    n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    if (n <= 0 || (size_t)n > sizeof(out->key))
        goto out;
    p = out->key;
    out->key_len = (size_t)i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    rv = 0;
out:
    if (rv != 0)
        rly_tlscert_wipe(out);
    PKCS8_PRIV_KEY_INFO_free(p8);
    OPENSSL_free(spki);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(k);
    if (rv != 0)
        ERR_clear_error();
    return rv;
}

void rly_tlscert_wipe(rly_tlscert *c)
{
    rly_zeroize(c->key, sizeof(c->key));
    c->key_len = 0;
}

/* ---- verification ------------------------------------------------------------------------- */

/* The certificate's own signature: an algorithm rust-libp2p accepts, and it verifies. */
static int check_self_signature(X509 *x)
{
    int mdnid = NID_undef, pknid = NID_undef, secbits = 0;
    uint32_t flags = 0;
    if (!X509_get_signature_info(x, &mdnid, &pknid, &secbits, &flags))
        return RLY_ERR_CERTIFICATE;
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (!pk)
        return RLY_ERR_CERTIFICATE;
    int type = EVP_PKEY_get_base_id(pk);
    bool strong_md = mdnid == NID_sha256 || mdnid == NID_sha384 || mdnid == NID_sha512;
    switch (type) {
    case EVP_PKEY_EC: {
        char curve[32];
        size_t cl = 0;
        if (!strong_md || pknid != NID_X9_62_id_ecPublicKey ||
            !EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve), &cl) ||
            (strcmp(curve, "prime256v1") != 0 && strcmp(curve, "secp384r1") != 0))
            return RLY_ERR_CERTIFICATE;
        break;
    }
    case EVP_PKEY_ED25519:
        if (pknid != NID_ED25519)
            return RLY_ERR_CERTIFICATE;
        break;
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        if (!strong_md || rly_rsa_check_key(pk) != 0)
            return RLY_ERR_CERTIFICATE;
        break;
    default: return RLY_ERR_CERTIFICATE;
    }
    /* Self-issued: the issuer is the subject. */
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) != 0)
        return RLY_ERR_CERTIFICATE;
    return X509_verify(x, pk) == 1 ? 0 : RLY_ERR_SIGNATURE;
}

/* The one libp2p extension's value; any other critical extension is refused. */
static int find_libp2p_ext(X509 *x, const uint8_t **val, size_t *len)
{
    ASN1_OBJECT *want = OBJ_txt2obj(RLY_TLSCERT_EXT_OID, 1);
    if (!want)
        return RLY_ERR_NOMEM;
    int found = 0, rv = 0;
    for (int i = 0; i < X509_get_ext_count(x) && rv == 0; i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        if (OBJ_cmp(X509_EXTENSION_get_object(e), want) == 0) {
            const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(e);
            *val = ASN1_STRING_get0_data(d);
            *len = (size_t)ASN1_STRING_length(d);
            found++;
        } else if (X509_EXTENSION_get_critical(e)) {
            rv = RLY_ERR_CERTIFICATE; /* rust refuses these too */
        }
    }
    ASN1_OBJECT_free(want);
    if (rv == 0 && found != 1)
        rv = RLY_ERR_CERTIFICATE;
    return rv;
}

static int check_time(X509 *x, int64_t now)
{
    int nb = ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)now);
    int na = ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)now);
    return nb == -2 || na == -2 || nb > 0 || na < 0 ? RLY_ERR_CERTIFICATE : 0;
}

/* ---- the fast path: the usual certificate, without OpenSSL's X.509 parser ---------------------
 *
 * d2i_X509 decodes the SubjectPublicKeyInfo through OpenSSL 3's decoder machinery, which builds a
 * fresh decoder chain per call: most of a QUIC server handshake's CPU went there. The certificate
 * every libp2p implementation we know sends (go's shape, and ours) is small and fixed: v3, an
 * ECDSA P-256 key, ecdsa-with-SHA256, issuer equal to subject, the libp2p extension and no other.
 * tlscert_fast_check reads exactly that shape with the strict DER reader above and verifies the
 * self-signature with a key built from the point (no decoder). It only ever answers "accepted":
 * anything else, or anything it is unsure of, goes to the OpenSSL path below, which decides as
 * before. Every certificate it accepts is one that path accepts too: it is stricter at each step
 * (strict DER, minimal INTEGERs, printable ASCII names, exact time formats, no other extension). */

/* AlgorithmIdentifier ecdsa-with-SHA256 (no parameters), and the P-256 SubjectPublicKeyInfo up to
 * the uncompressed point's 64 coordinate bytes. */
static const uint8_t ecdsa_sha256_alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t p256_spki_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
/* OBJECT IDENTIFIER 1.3.6.1.4.1.53594.1.1 */
static const uint8_t libp2p_ext_oid[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                         0x01, 0x83, 0xa2, 0x5a, 0x01, 0x01};

/* Reads the next TLV of [*p, *p + *n) with tag |tag| and steps past it. */
static bool der_next(const uint8_t **p, size_t *n, uint8_t tag, der_tlv *t)
{
    if (der_read(*p, *n, t) != 0 || t->tag != tag)
        return false;
    *p += t->total;
    *n -= t->total;
    return true;
}

/* An OBJECT IDENTIFIER's contents: non-empty, minimal subidentifiers, the last one complete. */
static bool oid_ok(const uint8_t *v, size_t n)
{
    if (n == 0 || (v[n - 1] & 0x80))
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0x80 && (i == 0 || !(v[i - 1] & 0x80)))
            return false;
    return true;
}

/* Name: RDNs of (OID, PrintableString or UTF8String of printable ASCII) attributes. */
static bool name_ok(const der_tlv *name)
{
    const uint8_t *p = name->val;
    size_t n = name->len;
    for (int rdns = 0; n > 0; rdns++) {
        der_tlv set, atv, oid, str;
        if (rdns >= 16 || !der_next(&p, &n, 0x31, &set) || set.len == 0)
            return false;
        const uint8_t *q = set.val;
        size_t m = set.len;
        for (int attrs = 0; m > 0; attrs++) {
            if (attrs >= 16 || !der_next(&q, &m, 0x30, &atv))
                return false;
            const uint8_t *r = atv.val;
            size_t k = atv.len;
            if (!der_next(&r, &k, 0x06, &oid) || !oid_ok(oid.val, oid.len) ||
                der_read(r, k, &str) != 0 || str.total != k || (str.tag != 0x13 && str.tag != 0x0c))
                return false;
            for (size_t i = 0; i < str.len; i++)
                if (str.val[i] < 0x20 || str.val[i] > 0x7e)
                    return false;
        }
    }
    return true;
}

static bool digits(const uint8_t *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* UTCTime YYMMDDHHMMSSZ (years 1950..2049) or GeneralizedTime YYYYMMDDHHMMSSZ, to Unix seconds. */
static bool time_of(const der_tlv *t, int64_t *out)
{
    int y, mo, d, h, mi, s;
    const uint8_t *v = t->val;
    size_t yl = t->tag == 0x17 ? 2 : t->tag == 0x18 ? 4 : 0;
    if (yl == 0 || t->len != yl + 11 || v[yl + 10] != 'Z' || !digits(v, yl, &y) ||
        !digits(v + yl, 2, &mo) || !digits(v + yl + 2, 2, &d) || !digits(v + yl + 4, 2, &h) ||
        !digits(v + yl + 6, 2, &mi) || !digits(v + yl + 8, 2, &s))
        return false;
    if (yl == 2)
        y += y < 50 ? 2000 : 1900;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        s > 59)
        return false;
    /* Days from 1970-01-01 to y-mo-d (proleptic Gregorian; March-based year). */
    int64_t yy = y - (mo <= 2), era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400, mp = (mo + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* An INTEGER's contents: 1..20 bytes, minimal. */
static bool serial_ok(const der_tlv *t)
{
    if (t->len == 0 || t->len > 20)
        return false;
    return t->len == 1 || !((t->val[0] == 0x00 && !(t->val[1] & 0x80)) ||
                            (t->val[0] == 0xff && (t->val[1] & 0x80)));
}

/* A public P-256 key built from the uncompressed point |pt| (65 bytes), or NULL. */
static EVP_PKEY *p256_key_new(const uint8_t *pt)
{
    char group[] = "prime256v1";
    uint8_t pub[65];
    memcpy(pub, pt, sizeof(pub));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("group", group, 0),
        OSSL_PARAM_construct_octet_string("pub", pub, sizeof(pub)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!kc || EVP_PKEY_fromdata_init(kc) != 1 ||
        EVP_PKEY_fromdata(kc, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(kc);
    return pk;
}

/* Building the curve's group is most of EVP_PKEY_fromdata's cost, so keys are copies of one
 * public key (the base point) that get the peer's point: EVP_PKEY_dup copies the group, and
 * setting the encoded public key checks the point is on the curve, as the import does. */
static EVP_PKEY *p256_template;
static pthread_once_t p256_template_once = PTHREAD_ONCE_INIT;

static void p256_template_make(void)
{
    static const uint8_t base_point[65] = {
        0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
        0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
        0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
        0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
        0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
    p256_template = p256_key_new(base_point);
    ERR_clear_error();
}

static EVP_PKEY *p256_key(const uint8_t *pt)
{
    if (pthread_once(&p256_template_once, p256_template_make) != 0 || !p256_template)
        return p256_key_new(pt);
    EVP_PKEY *pk = EVP_PKEY_dup(p256_template);
    if (pk && EVP_PKEY_set1_encoded_public_key(pk, pt, 65) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

/* ECDSA P-256 with SHA-256: |sig| (DER) over |msg| with the uncompressed point |pt| (65 bytes). */
static bool p256_verify(const uint8_t *pt, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                        size_t sig_len)
{
    EVP_PKEY *pk = p256_key(pt);
    EVP_MD_CTX *mc = NULL;
    bool ok = pk && (mc = EVP_MD_CTX_new()) != NULL &&
              EVP_DigestVerifyInit_ex(mc, NULL, "SHA256", NULL, NULL, pk, NULL) == 1 &&
              EVP_DigestVerify(mc, sig, sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(pk);
    if (!ok)
        ERR_clear_error();
    return ok;
}

/* True when |der| (|len| bytes) is a certificate of the usual shape that the OpenSSL path would
 * accept up to the libp2p extension, whose value it then points to. */
static bool tlscert_fast_check(const uint8_t *der, size_t len, int64_t now, const uint8_t **ext,
                               size_t *ext_len)
{
    der_tlv cert, tbs, alg, sigv, f, issuer, subject, validity, nb, na, exts, e, oid, val;
    const uint8_t *p = der;
    size_t n = len;
    if (!der_next(&p, &n, 0x30, &cert) || n != 0)
        return false;
    p = cert.val;
    n = cert.len;
    if (!der_next(&p, &n, 0x30, &tbs) || !der_next(&p, &n, 0x30, &alg) ||
        !der_next(&p, &n, 0x03, &sigv) || n != 0)
        return false;
    if (alg.total != sizeof(ecdsa_sha256_alg) ||
        memcmp(alg.start, ecdsa_sha256_alg, sizeof(ecdsa_sha256_alg)) != 0 || sigv.len < 2 ||
        sigv.val[0] != 0)
        return false;
    p = tbs.val;
    n = tbs.len;
    static const uint8_t v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    if (n < sizeof(v3) || memcmp(p, v3, sizeof(v3)) != 0)
        return false;
    p += sizeof(v3);
    n -= sizeof(v3);
    if (!der_next(&p, &n, 0x02, &f) || !serial_ok(&f) || !der_next(&p, &n, 0x30, &f) ||
        f.total != sizeof(ecdsa_sha256_alg) ||
        memcmp(f.start, ecdsa_sha256_alg, sizeof(ecdsa_sha256_alg)) != 0)
        return false;
    if (!der_next(&p, &n, 0x30, &issuer) || !der_next(&p, &n, 0x30, &validity) ||
        !der_next(&p, &n, 0x30, &subject))
        return false;
    if (issuer.total != subject.total || memcmp(issuer.start, subject.start, issuer.total) != 0 ||
        !name_ok(&subject))
        return false;
    const uint8_t *q = validity.val;
    size_t m = validity.len;
    int64_t t0, t1;
    if (der_read(q, m, &nb) != 0 || !time_of(&nb, &t0) || nb.total > m ||
        der_read(q + nb.total, m - nb.total, &na) != 0 || nb.total + na.total != m ||
        !time_of(&na, &t1) || t0 > now || t1 < now)
        return false;
    /* SubjectPublicKeyInfo: P-256, an uncompressed point. */
    if (n < sizeof(p256_spki_prefix) + 64 ||
        memcmp(p, p256_spki_prefix, sizeof(p256_spki_prefix)) != 0)
        return false;
    const uint8_t *point = p + sizeof(p256_spki_prefix) - 1;
    p += sizeof(p256_spki_prefix) + 64;
    n -= sizeof(p256_spki_prefix) + 64;
    /* [3] { Extensions: the libp2p one alone }, and nothing else. */
    if (!der_next(&p, &n, 0xa3, &f) || n != 0)
        return false;
    q = f.val;
    m = f.len;
    if (!der_next(&q, &m, 0x30, &exts) || m != 0)
        return false;
    q = exts.val;
    m = exts.len;
    if (!der_next(&q, &m, 0x30, &e) || m != 0)
        return false;
    q = e.val;
    m = e.len;
    if (!der_next(&q, &m, 0x06, &oid) || oid.total != sizeof(libp2p_ext_oid) ||
        memcmp(oid.start, libp2p_ext_oid, sizeof(libp2p_ext_oid)) != 0)
        return false;
    if (m >= 3 && q[0] == 0x01 && q[1] == 0x01 && q[2] == 0xff) {
        q += 3; /* critical: allowed for this one (rust sets it) */
        m -= 3;
    }
    if (!der_next(&q, &m, 0x04, &val) || m != 0)
        return false;
    if (!p256_verify(point, tbs.start, tbs.total, sigv.val + 1, sigv.len - 1))
        return false;
    *ext = val.val;
    *ext_len = val.len;
    return true;
}

/* The identity part, once the certificate itself passed: the SignedKey in |ext| signs |spki|. */
static int check_signed_key(const uint8_t *ext, size_t ext_len, const uint8_t *spki,
                            size_t spki_len, rly_peerid *peer, rly_pubkey *key)
{
    const uint8_t *pkpb, *sig;
    size_t pkpb_len, sig_len;
    rly_pubkey *k = rly_malloc(NULL, sizeof(*k));
    uint8_t *msg = rly_malloc(NULL, PREFIX_LEN + spki_len);
    int rv = !k || !msg ? RLY_ERR_NOMEM : 0;
    if (rv == 0 &&
        rly_tlscert_signedkey_decode(ext, ext_len, &pkpb, &pkpb_len, &sig, &sig_len) != 0)
        rv = RLY_ERR_MALFORMED;
    if (rv == 0)
        rv = rly_pubkey_decode(k, pkpb, pkpb_len);
    if (rv == 0) {
        memcpy(msg, RLY_TLSCERT_SIG_PREFIX, PREFIX_LEN);
        memcpy(msg + PREFIX_LEN, spki, spki_len);
        rv = rly_pubkey_verify(k, msg, PREFIX_LEN + spki_len, sig, sig_len);
    }
    if (rv == 0 && peer)
        rv = rly_pubkey_to_peerid(k, peer);
    if (rv == 0 && key)
        *key = *k;
    rly_free(NULL, msg);
    rly_free(NULL, k);
    return rv;
}

/* The fast path alone (tlscert.h): 1 when the certificate is not of its shape. */
int rly_tlscert_verify_fast(const uint8_t *der, size_t len, int64_t now, rly_peerid *peer,
                            rly_pubkey *key)
{
    const uint8_t *spki, *ext = NULL;
    size_t spki_len, ext_len = 0;
    if (len == 0 || len > RLY_TLSCERT_MAX || rly_tlscert_find_spki(der, len, &spki, &spki_len) != 0)
        return RLY_ERR_MALFORMED;
    if (!tlscert_fast_check(der, len, now, &ext, &ext_len))
        return 1;
    int rv = check_signed_key(ext, ext_len, spki, spki_len, peer, key);
    if (rv != 0)
        ERR_clear_error();
    return rv;
}

int rly_tlscert_verify_openssl(const uint8_t *der, size_t len, int64_t now, rly_peerid *peer,
                               rly_pubkey *key)
{
    const uint8_t *spki, *ext = NULL;
    size_t spki_len, ext_len = 0;
    if (len == 0 || len > RLY_TLSCERT_MAX || rly_tlscert_find_spki(der, len, &spki, &spki_len) != 0)
        return RLY_ERR_MALFORMED;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return RLY_ERR_MALFORMED;
    }
    int rv = X509_get_version(x) != X509_VERSION_3 ? RLY_ERR_CERTIFICATE : 0;
    if (rv == 0)
        rv = check_time(x, now);
    if (rv == 0)
        rv = check_self_signature(x);
    if (rv == 0)
        rv = find_libp2p_ext(x, &ext, &ext_len);
    if (rv == 0)
        rv = check_signed_key(ext, ext_len, spki, spki_len, peer, key);
    X509_free(x);
    if (rv != 0)
        ERR_clear_error(); /* a refused certificate leaves nothing for later OpenSSL calls */
    return rv;
}

int rly_tlscert_verify(const uint8_t *der, size_t len, int64_t now, rly_peerid *peer,
                       rly_pubkey *key)
{
    int rv = rly_tlscert_verify_fast(der, len, now, peer, key);
    return rv == 1 ? rly_tlscert_verify_openssl(der, len, now, peer, key) : rv;
}
