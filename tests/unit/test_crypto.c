/* test_crypto.c: the OpenSSL shim (src/crypto/crypto.h). Foreign keys and signatures are made
 * with OpenSSL directly, in the test, so each verifier meets an independent signer. */
#include <criterion/criterion.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto_util.h"

static const uint8_t msg[] = "mesh relay: signed message";

TestSuite(crypto);

Test(crypto, sha256_abc)
{
    uint8_t want[32], got[32];
    hex_decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want,
               sizeof(want));
    rly_sha256((const uint8_t *)"abc", 3, got);
    cr_assert_arr_eq(got, want, 32);
    /* Empty input, NULL pointer. */
    hex_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want,
               sizeof(want));
    rly_sha256(NULL, 0, got);
    cr_assert_arr_eq(got, want, 32);
    ASSERT_NO_LEAK();
}

Test(crypto, random)
{
    uint8_t a[32] = {0}, b[32] = {0};
    cr_assert_eq(rly_crypto_random(a, sizeof(a)), 0);
    cr_assert_eq(rly_crypto_random(b, sizeof(b)), 0);
    cr_assert_arr_neq(a, b, sizeof(a));
    cr_assert_eq(rly_crypto_random(a, 0), 0);
    ASSERT_NO_LEAK();
}

/* RFC 8032 section 7.1, TEST 1: empty message. */
Test(crypto, ed25519_rfc8032_test1)
{
    uint8_t seed[32], pub[32], sig[64], got_pub[32], got_sig[64];
    cr_assert_eq(read_hex("rfc8032_1_seed.hex", seed, sizeof(seed)), 32);
    cr_assert_eq(read_hex("rfc8032_1_pub.hex", pub, sizeof(pub)), 32);
    cr_assert_eq(read_hex("rfc8032_1_sig.hex", sig, sizeof(sig)), 64);
    cr_assert_eq(rly_ed25519_public(seed, got_pub), 0);
    cr_assert_arr_eq(got_pub, pub, 32);
    cr_assert_eq(rly_ed25519_sign(seed, NULL, 0, got_sig), 0);
    cr_assert_arr_eq(got_sig, sig, 64);
    cr_assert_eq(rly_ed25519_verify(pub, 32, NULL, 0, sig, 64), 0);
    sig[10] ^= 0x01;
    cr_assert_eq(rly_ed25519_verify(pub, 32, NULL, 0, sig, 64), RLY_ERR_SIGNATURE);
    ASSERT_NO_LEAK();
}

Test(crypto, ed25519_roundtrip_and_errors)
{
    uint8_t seed[32], pub[32], pub2[32], sig[64];
    cr_assert_eq(rly_ed25519_generate(seed, pub), 0);
    cr_assert_eq(rly_ed25519_public(seed, pub2), 0);
    cr_assert_arr_eq(pub, pub2, 32);
    cr_assert_eq(rly_ed25519_sign(seed, msg, sizeof(msg), sig), 0);
    cr_assert_eq(rly_ed25519_verify(pub, 32, msg, sizeof(msg), sig, 64), 0);
    /* Another message, a flipped signature bit, wrong lengths. */
    cr_assert_eq(rly_ed25519_verify(pub, 32, msg, sizeof(msg) - 1, sig, 64), RLY_ERR_SIGNATURE);
    cr_assert_eq(rly_ed25519_verify(pub, 31, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_ed25519_verify(pub, 32, msg, sizeof(msg), sig, 63), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_ed25519_verify(NULL, 0, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    sig[63] ^= 0x80;
    cr_assert_eq(rly_ed25519_verify(pub, 32, msg, sizeof(msg), sig, 64), RLY_ERR_SIGNATURE);
    /* A public key that is not a curve point never verifies anything. */
    memset(pub2, 0xff, sizeof(pub2));
    sig[63] ^= 0x80;
    cr_assert_eq(rly_ed25519_verify(pub2, 32, msg, sizeof(msg), sig, 64), RLY_ERR_SIGNATURE);
    ASSERT_NO_LEAK();
}

Test(crypto, rsa2048_verify)
{
    EVP_PKEY *pk = gen_rsa(2048);
    uint8_t spki[600], sig[256];
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl), 0);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg) - 1, sig, sl), RLY_ERR_SIGNATURE);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl - 1), RLY_ERR_SIGNATURE);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), NULL, 0), RLY_ERR_SIGNATURE);
    sig[0] ^= 0x01;
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_SIGNATURE);
    /* Truncated key, trailing garbage after the SPKI. */
    cr_assert_eq(rly_rsa_verify(spki, n - 1, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    spki[n] = 0;
    cr_assert_eq(rly_rsa_verify(spki, n + 1, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

Test(crypto, rsa1024_unsupported)
{
    EVP_PKEY *pk = gen_rsa(1024);
    uint8_t spki[300], sig[128];
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_UNSUPPORTED);
    ASSERT_NO_LEAK();
}

Test(crypto, p256_verify)
{
    EVP_PKEY *pk = gen_ec("P-256");
    uint8_t spki[200], sig[80];
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), 0);
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, 3, sig, sl), RLY_ERR_SIGNATURE);
    sig[sl - 1] ^= 0x01;
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_SIGNATURE);
    /* A DER signature with a byte too many is not accepted either. */
    sig[sl - 1] ^= 0x01;
    sig[sl] = 0;
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl + 1), RLY_ERR_SIGNATURE);
    /* An EC key is not an RSA key, and the reverse. */
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

Test(crypto, ecdsa_other_curves)
{
    uint8_t spki[300], sig[160];
    EVP_PKEY *pk = gen_ec("P-384");
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), 0);

    /* secp256k1 inside an SPKI is not one of the ECDSA curves go and rust take. */
    pk = gen_ec("secp256k1");
    n = spki_der(pk, spki, sizeof(spki));
    sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_UNSUPPORTED);
    ASSERT_NO_LEAK();
}

Test(crypto, ecdsa_explicit_params_unsupported)
{
    EVP_PKEY *pk = gen_ec("P-256");
    uint8_t spki[600], sig[80];
    cr_assert_eq(EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_ENCODING,
                                                OSSL_PKEY_EC_ENCODING_EXPLICIT),
                 1);
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_UNSUPPORTED);
    ASSERT_NO_LEAK();
}

Test(crypto, secp256k1_verify)
{
    EVP_PKEY *pk = gen_ec("secp256k1");
    uint8_t comp[65], unc[65], sig[80];
    cr_assert_eq(sec1_point(pk, true, comp, sizeof(comp)), 33);
    cr_assert_eq(sec1_point(pk, false, unc, sizeof(unc)), 65);
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    cr_assert_eq(rly_secp256k1_verify(comp, 33, msg, sizeof(msg), sig, sl), 0);
    cr_assert_eq(rly_secp256k1_verify(unc, 65, msg, sizeof(msg), sig, sl), 0);
    sig[sl / 2] ^= 0x04;
    cr_assert_eq(rly_secp256k1_verify(comp, 33, msg, sizeof(msg), sig, sl), RLY_ERR_SIGNATURE);
    sig[sl / 2] ^= 0x04;
    /* Bad prefixes, lengths, a point off the curve, OpenSSL's hybrid form. */
    cr_assert_eq(rly_secp256k1_verify(comp, 32, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_secp256k1_verify(unc, 33, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    unc[0] = (uint8_t)(0x06 | (unc[64] & 1));
    cr_assert_eq(rly_secp256k1_verify(unc, 65, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    unc[0] = 0x04;
    unc[64] ^= 0x01;
    cr_assert_eq(rly_secp256k1_verify(unc, 65, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    comp[0] = 0x05;
    cr_assert_eq(rly_secp256k1_verify(comp, 33, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

Test(crypto, garbage_keys)
{
    uint8_t junk[64], sig[64] = {0};
    memset(junk, 0x30, sizeof(junk));
    cr_assert_eq(rly_rsa_verify(junk, sizeof(junk), msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_ecdsa_verify(junk, sizeof(junk), msg, sizeof(msg), sig, 64),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_rsa_verify(NULL, 0, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_ecdsa_verify(junk, 0, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_secp256k1_verify(NULL, 33, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    /* x = 2^256 - 1 is above the field prime: no such point. */
    junk[0] = 0x02;
    memset(junk + 1, 0xff, 32);
    cr_assert_eq(rly_secp256k1_verify(junk, 33, msg, sizeof(msg), sig, 64), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

/* Failed checks must not leave errors on OpenSSL's queue for unrelated code (TLS) to find. */
Test(crypto, error_queue_clean)
{
    uint8_t spki[200], sig[80], junk[64], point[65];
    EVP_PKEY *pk = gen_ec("P-256");
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    ERR_clear_error();
    memset(junk, 0x30, sizeof(junk));
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), 0);
    cr_assert_eq(rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_rsa_verify(junk, sizeof(junk), msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    sig[4] ^= 0xff;
    cr_assert_eq(rly_ecdsa_verify(spki, n, msg, sizeof(msg), sig, sl), RLY_ERR_SIGNATURE);
    point[0] = 0x02;
    memset(point + 1, 0xff, 32);
    cr_assert_eq(rly_secp256k1_verify(point, 33, msg, sizeof(msg), sig, sl), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_ed25519_verify(junk, 32, msg, sizeof(msg), junk, 64), RLY_ERR_SIGNATURE);
    cr_assert_eq(ERR_peek_error(), 0, "stale OpenSSL error %lx", ERR_peek_error());
    ASSERT_NO_LEAK();
}
