/* test_keys.c: key protobufs, peer IDs and the Ed25519 identity (src/crypto/keys.h), against the
 * libp2p/specs peer-ids.md vectors in tests/vectors/keys/. */
#include <criterion/criterion.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/peerid.h"
#include "crypto/keys.h"
#include "crypto_util.h"

static const uint8_t msg[] = "noise handshake payload to sign";

TestSuite(keys);

/* check_vector decodes the public key vector <name>_public.hex, re-encodes it to the same bytes
 * and checks its peer ID against <name>_peerid.txt and <name>_cid.txt. */
static void check_vector(const char *name, rly_key_type type)
{
    char file[64], want[RLY_PEERID_STR_MAX], got[RLY_PEERID_STR_MAX];
    uint8_t pb[RLY_PUBKEY_PB_MAX], enc[RLY_PUBKEY_PB_MAX];
    rly_pubkey k;
    rly_peerid pid, parsed;

    snprintf(file, sizeof(file), "%s_public.hex", name);
    size_t n = read_hex(file, pb, sizeof(pb));
    cr_assert_eq(rly_pubkey_decode(&k, pb, n), 0, "%s", name);
    cr_assert_eq(k.type, type);
    rly_ssize m = rly_pubkey_encode(&k, enc, sizeof(enc));
    cr_assert_eq(m, (rly_ssize)n);
    cr_assert_arr_eq(enc, pb, n);
    /* One byte short of room is refused. */
    cr_assert_eq(rly_pubkey_encode(&k, enc, n - 1), RLY_ERR_NOBUF);

    cr_assert_eq(rly_pubkey_to_peerid(&k, &pid), 0);
    snprintf(file, sizeof(file), "%s_peerid.txt", name);
    read_text(file, want, sizeof(want));
    cr_assert(rly_peerid_to_string(&pid, got, sizeof(got)) > 0);
    cr_assert_str_eq(got, want);
    cr_assert_eq(rly_peerid_parse(&parsed, want, strlen(want)), 0);
    cr_assert(rly_peerid_equal(&parsed, &pid));

    snprintf(file, sizeof(file), "%s_cid.txt", name);
    read_text(file, want, sizeof(want));
    cr_assert(rly_peerid_to_cid(&pid, got, sizeof(got)) > 0);
    cr_assert_str_eq(got, want);
    ASSERT_NO_LEAK();
}

Test(keys, spec_vector_ed25519)
{
    check_vector("ed25519", RLY_KEY_ED25519);
    char s[RLY_PEERID_STR_MAX];
    rly_pubkey k;
    rly_peerid pid;
    uint8_t pb[64];
    size_t n = read_hex("ed25519_public.hex", pb, sizeof(pb));
    cr_assert_eq(rly_pubkey_decode(&k, pb, n), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&k, &pid), 0);
    /* Identity multihash: 00 24 <the 36-byte protobuf>. */
    cr_assert_eq(pid.len, 38);
    cr_assert_eq(pid.bytes[0], 0x00);
    cr_assert_eq(pid.bytes[1], 0x24);
    cr_assert_arr_eq(pid.bytes + 2, pb, 36);
    cr_assert(rly_peerid_to_string(&pid, s, sizeof(s)) > 0);
    cr_assert_str_eq(s, "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
    ASSERT_NO_LEAK();
}

Test(keys, spec_vector_ecdsa)
{
    check_vector("ecdsa", RLY_KEY_ECDSA);
}

Test(keys, spec_vector_secp256k1)
{
    check_vector("secp256k1", RLY_KEY_SECP256K1);
}

Test(keys, spec_vector_rsa)
{
    check_vector("rsa", RLY_KEY_RSA);
    char want[RLY_PEERID_STR_MAX];
    read_text("rsa_peerid.txt", want, sizeof(want));
    cr_assert(strncmp(want, "Qm", 2) == 0);
}

Test(keys, pubkey_from_peerid)
{
    uint8_t pb[RLY_PUBKEY_PB_MAX];
    rly_pubkey k, k2;
    rly_peerid pid;
    size_t n = read_hex("secp256k1_public.hex", pb, sizeof(pb));
    cr_assert_eq(rly_pubkey_decode(&k, pb, n), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&k, &pid), 0);
    cr_assert_eq(rly_pubkey_from_peerid(&k2, &pid), 0);
    cr_assert_eq(k2.type, k.type);
    cr_assert_eq(k2.len, k.len);
    cr_assert_arr_eq(k2.data, k.data, k.len);
    /* A sha2-256 peer ID does not carry its key. */
    n = read_hex("rsa_public.hex", pb, sizeof(pb));
    cr_assert_eq(rly_pubkey_decode(&k, pb, n), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&k, &pid), 0);
    cr_assert_eq(pid.len, 34);
    cr_assert_eq(rly_pubkey_from_peerid(&k2, &pid), RLY_ERR_NOT_FOUND);
    ASSERT_NO_LEAK();
}

/* The spec's Ed25519 PrivateKey is what rust-libp2p's Keypair::to_protobuf_encoding writes. */
Test(keys, keypair_spec_vector)
{
    uint8_t priv[128], pub[64], out[128];
    rly_keypair kp;
    rly_pubkey k, want_k;
    rly_peerid pid, want;
    size_t n = read_hex("ed25519_private.hex", priv, sizeof(priv));
    cr_assert_eq(n, RLY_ED25519_PRIVKEY_PB_LEN);
    size_t pn = read_hex("ed25519_public.hex", pub, sizeof(pub));
    cr_assert_eq(rly_pubkey_decode(&want_k, pub, pn), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&want_k, &want), 0);

    cr_assert_eq(rly_keypair_decode(&kp, priv, n), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &pid), 0);
    cr_assert(rly_peerid_equal(&pid, &want));
    rly_keypair_public(&kp, &k);
    cr_assert_eq(k.len, 32);
    cr_assert_arr_eq(k.data, want_k.data, 32);
    cr_assert_eq(rly_keypair_encode(&kp, out, sizeof(out)), (rly_ssize)n);
    cr_assert_arr_eq(out, priv, n);
    cr_assert_eq(rly_keypair_encode(&kp, out, n - 1), RLY_ERR_NOBUF);

    uint8_t sig[64];
    cr_assert_eq(rly_keypair_sign(&kp, msg, sizeof(msg), sig), 0);
    cr_assert_eq(rly_pubkey_verify(&want_k, msg, sizeof(msg), sig, 64), 0);
    rly_keypair_wipe(&kp);
    uint8_t zero[sizeof(kp)] = {0};
    cr_assert_arr_eq((const uint8_t *)&kp, zero, sizeof(kp));
    ASSERT_NO_LEAK();
}

Test(keys, keypair_legacy_and_bad)
{
    uint8_t priv[128], legacy[128];
    rly_keypair kp, kp2;
    size_t n = read_hex("ed25519_private.hex", priv, sizeof(priv));
    cr_assert_eq(rly_keypair_decode(&kp, priv, n), 0);

    /* Legacy 96-byte Data: seed || pub || pub. */
    memcpy(legacy, priv, n);
    legacy[3] = 0x60;
    memcpy(legacy + n, priv + 36, 32);
    cr_assert_eq(rly_keypair_decode(&kp2, legacy, n + 32), 0);
    cr_assert_arr_eq((const uint8_t *)&kp2, (const uint8_t *)&kp, sizeof(kp));
    legacy[n + 31] ^= 1; /* the two public copies differ */
    cr_assert_eq(rly_keypair_decode(&kp2, legacy, n + 32), RLY_ERR_MALFORMED);

    /* Public half that does not belong to the seed. */
    priv[n - 1] ^= 1;
    cr_assert_eq(rly_keypair_decode(&kp2, priv, n), RLY_ERR_MALFORMED);
    priv[n - 1] ^= 1;
    /* Truncated, wrong Data length, empty, oversized. */
    cr_assert_eq(rly_keypair_decode(&kp2, priv, n - 1), RLY_ERR_MALFORMED);
    priv[3] = 0x3f;
    cr_assert_eq(rly_keypair_decode(&kp2, priv, n - 1), RLY_ERR_MALFORMED);
    priv[3] = 0x40;
    cr_assert_eq(rly_keypair_decode(&kp2, priv, 0), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_keypair_decode(&kp2, priv, RLY_PRIVKEY_PB_MAX + 1), RLY_ERR_MALFORMED);

    /* Other key types are not an identity we can run with. */
    n = read_hex("secp256k1_private.hex", priv, sizeof(priv));
    cr_assert_eq(rly_keypair_decode(&kp2, priv, n), RLY_ERR_UNSUPPORTED);
    n = read_hex("ecdsa_private.hex", priv, sizeof(priv));
    cr_assert_eq(rly_keypair_decode(&kp2, priv, n), RLY_ERR_UNSUPPORTED);
    static uint8_t big[4096];
    n = read_hex("rsa_private.hex", big, sizeof(big));
    cr_assert_eq(rly_keypair_decode(&kp2, big, n), RLY_ERR_UNSUPPORTED);
    rly_keypair_wipe(&kp);
    rly_keypair_wipe(&kp2);
    ASSERT_NO_LEAK();
}

Test(keys, keypair_generate)
{
    rly_keypair kp, kp2;
    uint8_t pb[RLY_ED25519_PRIVKEY_PB_LEN], sig[64];
    rly_pubkey k;
    rly_peerid a, b;
    char s[RLY_PEERID_STR_MAX];
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_keypair_encode(&kp, pb, sizeof(pb)), RLY_ED25519_PRIVKEY_PB_LEN);
    cr_assert_eq(rly_keypair_decode(&kp2, pb, sizeof(pb)), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &a), 0);
    cr_assert_eq(rly_keypair_peerid(&kp2, &b), 0);
    cr_assert(rly_peerid_equal(&a, &b));
    cr_assert(rly_peerid_to_string(&a, s, sizeof(s)) > 0);
    cr_assert(strncmp(s, "12D3KooW", 8) == 0, "%s", s);
    rly_keypair_public(&kp2, &k);
    cr_assert_eq(rly_keypair_sign(&kp, msg, sizeof(msg), sig), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sizeof(sig)), 0);
    rly_keypair_wipe(&kp);
    rly_keypair_wipe(&kp2);
    ASSERT_NO_LEAK();
}

Test(keys, decode_strict)
{
    uint8_t pb[2048], data[1300];
    rly_pubkey k;
    memset(data, 0x02, sizeof(data));
    /* Ed25519 must be 32 bytes. */
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(1, data, 31, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(1, data, 33, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    /* secp256k1: 33 (02/03) or 65 (04) bytes only. */
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(2, data, 32, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(2, data, 65, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(2, data, 33, pb, sizeof(pb))), 0);
    /* Unknown type, empty or oversized Data. */
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(4, data, 32, pb, sizeof(pb))),
                 RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(0, data, 0, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(
        rly_pubkey_decode(&k, pb, pubkey_pb(0, data, RLY_PUBKEY_MAX_DATA + 1, pb, sizeof(pb))),
        RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(0, data, RLY_PUBKEY_MAX_DATA, pb, sizeof(pb))),
                 0);
    /* Missing field, truncated, garbage, empty. */
    static const uint8_t no_data[] = {0x08, 0x01};
    static const uint8_t no_type[] = {0x12, 0x01, 0x00};
    static const uint8_t trunc[] = {0x08, 0x01, 0x12, 0x20, 0x00};
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(rly_pubkey_decode(&k, no_data, sizeof(no_data)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, no_type, sizeof(no_type)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, trunc, sizeof(trunc)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, junk, sizeof(junk)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, junk, 0), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, RLY_PUBKEY_PB_MAX + 1), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

/* Fields out of order still decode, and re-encode in the canonical order the peer ID needs. */
Test(keys, decode_noncanonical_reencodes)
{
    uint8_t pb[64], swapped[64], out[64];
    rly_pubkey k;
    size_t n = read_hex("ed25519_public.hex", pb, sizeof(pb));
    memcpy(swapped, pb + 2, n - 2);
    memcpy(swapped + n - 2, pb, 2);
    cr_assert_eq(rly_pubkey_decode(&k, swapped, n), 0);
    cr_assert_eq(rly_pubkey_encode(&k, out, sizeof(out)), (rly_ssize)n);
    cr_assert_arr_eq(out, pb, n);
    ASSERT_NO_LEAK();
}

/* go and rust hash the compressed form of a secp256k1 key, whatever form it arrived in. */
Test(keys, secp256k1_uncompressed_normalised)
{
    EVP_PKEY *pk = gen_ec("secp256k1");
    uint8_t comp[65], unc[65], pb1[80], pb2[80], sig[80];
    size_t cn = sec1_point(pk, true, comp, sizeof(comp));
    size_t un = sec1_point(pk, false, unc, sizeof(unc));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    rly_pubkey a, b;
    rly_peerid pa, pb;
    cr_assert_eq(rly_pubkey_decode(&a, pb1, pubkey_pb(2, comp, cn, pb1, sizeof(pb1))), 0);
    cr_assert_eq(rly_pubkey_decode(&b, pb2, pubkey_pb(2, unc, un, pb2, sizeof(pb2))), 0);
    cr_assert_eq(b.len, 33);
    cr_assert_eq(rly_pubkey_to_peerid(&a, &pa), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&b, &pb), 0);
    cr_assert(rly_peerid_equal(&pa, &pb));
    cr_assert_eq(rly_pubkey_verify(&b, msg, sizeof(msg), sig, sl), 0);
    ASSERT_NO_LEAK();
}

/* sign_check signs |msg| with |pk|, wraps its public key as |type| and runs rly_pubkey_verify:
 * good signature, flipped bit, other message. */
static void sign_check(EVP_PKEY *pk, int type, const uint8_t *pubdata, size_t publen)
{
    uint8_t pb[1400], sig[600];
    rly_pubkey k;
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(type, pubdata, publen, pb, sizeof(pb))), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg) - 2, sig, sl), RLY_ERR_SIGNATURE);
    sig[sl / 3] ^= 0x20;
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), RLY_ERR_SIGNATURE);
}

Test(keys, verify_all_types)
{
    uint8_t der[600];
    EVP_PKEY *pk = gen_rsa(2048);
    sign_check(pk, RLY_KEY_RSA, der, spki_der(pk, der, sizeof(der)));
    EVP_PKEY_free(pk);
    pk = gen_ec("P-256");
    sign_check(pk, RLY_KEY_ECDSA, der, spki_der(pk, der, sizeof(der)));
    EVP_PKEY_free(pk);
    pk = gen_ec("secp256k1");
    sign_check(pk, RLY_KEY_SECP256K1, der, sec1_point(pk, true, der, sizeof(der)));
    EVP_PKEY_free(pk);

    rly_keypair kp;
    rly_pubkey k;
    uint8_t sig[64];
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    rly_keypair_public(&kp, &k);
    cr_assert_eq(rly_keypair_sign(&kp, msg, sizeof(msg), sig), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, 64), 0);
    sig[0] ^= 1;
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, 64), RLY_ERR_SIGNATURE);
    rly_keypair_wipe(&kp);
    ASSERT_NO_LEAK();
}

/* A key labelled with the wrong type never verifies. */
Test(keys, verify_wrong_type)
{
    uint8_t der[600], pb[700], sig[300];
    rly_pubkey k;
    EVP_PKEY *pk = gen_rsa(2048);
    size_t n = spki_der(pk, der, sizeof(der));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(RLY_KEY_ECDSA, der, n, pb, sizeof(pb))), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);

    pk = gen_ec("P-256");
    n = spki_der(pk, der, sizeof(der));
    sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(RLY_KEY_RSA, der, n, pb, sizeof(pb))), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);

    pk = gen_ec("secp256k1");
    n = sec1_point(pk, true, der, sizeof(der));
    sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    /* 33 bytes is not an Ed25519 key; as ECDSA it is no SPKI. */
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(RLY_KEY_ED25519, der, n, pb, sizeof(pb))),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(RLY_KEY_ECDSA, der, n, pb, sizeof(pb))), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

Test(keys, verify_rsa1024_unsupported)
{
    uint8_t der[300], pb[400], sig[128];
    rly_pubkey k;
    EVP_PKEY *pk = gen_rsa(1024);
    size_t n = spki_der(pk, der, sizeof(der));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_pubkey_decode(&k, pb, pubkey_pb(RLY_KEY_RSA, der, n, pb, sizeof(pb))), 0);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), RLY_ERR_UNSUPPORTED);
    ASSERT_NO_LEAK();
}

Test(keys, verify_garbage_keys)
{
    uint8_t junk[200], sig[64] = {0};
    rly_pubkey k;
    memset(junk, 0xa5, sizeof(junk));
    for (int type = RLY_KEY_RSA; type <= RLY_KEY_ECDSA; type++) {
        k.type = (rly_key_type)type;
        k.len = type == RLY_KEY_ED25519 ? 32 : type == RLY_KEY_SECP256K1 ? 33 : sizeof(junk);
        memcpy(k.data, junk, k.len);
        int rv = rly_pubkey_verify(&k, msg, sizeof(msg), sig, sizeof(sig));
        cr_assert(rv == RLY_ERR_MALFORMED || rv == RLY_ERR_SIGNATURE, "type %d: %d", type, rv);
    }
    k.type = (rly_key_type)9;
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sizeof(sig)), RLY_ERR_UNSUPPORTED);
    ASSERT_NO_LEAK();
}

/* The spec's private keys sign; its public keys verify. This ties each public vector to its
 * private one through our verifier (the spec says implementations SHOULD check they match). */
static EVP_PKEY *secp256k1_from_scalar(const uint8_t *scalar)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *d = BN_bin2bn(scalar, 32, NULL);
    cr_assert(bld && d);
    cr_assert(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp256k1", 0));
    cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d));
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    cr_assert(params && ctx && EVP_PKEY_fromdata_init(ctx) == 1);
    cr_assert_eq(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(d);
    return pk;
}

static void spec_pair_check(const char *priv_name, const char *pub_name)
{
    static uint8_t priv[4096], pub[1024];
    uint8_t sig[600];
    rly_pubkey k;
    size_t n = read_hex(priv_name, priv, sizeof(priv));
    size_t pn = read_hex(pub_name, pub, sizeof(pub));
    cr_assert_eq(rly_pubkey_decode(&k, pub, pn), 0);
    /* PrivateKey: 08 <type> 12 <uvarint len> <Data>. */
    size_t off = priv[3] & 0x80 ? 5 : 4;
    const unsigned char *p = priv + off;
    EVP_PKEY *pk;
    if (k.type == RLY_KEY_SECP256K1)
        pk = secp256k1_from_scalar(priv + off);
    else
        pk = d2i_PrivateKey(k.type == RLY_KEY_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC, NULL, &p,
                            (long)(n - off));
    cr_assert_not_null(pk, "%s", priv_name);
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_pubkey_verify(&k, msg, sizeof(msg), sig, sl), 0, "%s", pub_name);
}

Test(keys, spec_private_keys_match_public)
{
    spec_pair_check("secp256k1_private.hex", "secp256k1_public.hex");
    spec_pair_check("ecdsa_private.hex", "ecdsa_public.hex");
    spec_pair_check("rsa_private.hex", "rsa_public.hex");
    ASSERT_NO_LEAK();
}

/* protobuf-c returns NULL both for bad input and for no memory: the two must not be confused. */
Test(keys, unpack_nomem)
{
    uint8_t pb[128];
    rly_pubkey k;
    rly_keypair kp;
    size_t n = read_hex("ed25519_public.hex", pb, sizeof(pb));
    rly_mem *mem = rly_mem_default();
    mem->fail_nth = mem->nattempts + 1;
    cr_assert_eq(rly_pubkey_decode(&k, pb, n), RLY_ERR_NOMEM);
    n = read_hex("ed25519_private.hex", pb, sizeof(pb));
    mem->fail_nth = mem->nattempts + 1;
    cr_assert_eq(rly_keypair_decode(&kp, pb, n), RLY_ERR_NOMEM);
    mem->fail_nth = 0;
    cr_assert_eq(rly_keypair_decode(&kp, pb, n), 0);
    rly_keypair_wipe(&kp);
    ASSERT_NO_LEAK();
}
