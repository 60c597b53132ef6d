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
    memset(got_sig, 0, sizeof(got_sig));
    cr_assert_eq(rly_ed25519_sign_with_pub(seed, pub, NULL, 0, got_sig), 0);
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
    {
        /* With the public key given: the same (deterministic) signature; with a wrong one, a
         * signature that does not verify. */
        uint8_t sig2[64], other[32];
        cr_assert_eq(rly_ed25519_sign_with_pub(seed, pub, msg, sizeof(msg), sig2), 0);
        cr_assert_arr_eq(sig2, sig, 64);
        memcpy(other, pub, sizeof(other));
        other[0] ^= 0x01;
        cr_assert_eq(rly_ed25519_sign_with_pub(seed, other, msg, sizeof(msg), sig2), 0);
        cr_assert_eq(rly_ed25519_verify(pub, 32, msg, sizeof(msg), sig2, 64), RLY_ERR_SIGNATURE);
    }
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

/* rsa_exp_verify signs with a 2048-bit key of public exponent |e_hex| and verifies. */
static int rsa_exp_verify(const char *e_hex)
{
    EVP_PKEY *pk = gen_rsa_exp(2048, e_hex);
    uint8_t spki[800], sig[256];
    size_t n = spki_der(pk, spki, sizeof(spki));
    size_t sl = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    EVP_PKEY_free(pk);
    return rly_rsa_verify(spki, n, msg, sizeof(msg), sig, sl);
}

/* The public exponent is bounded as go bounds it (issue 11 item 6): a huge one made each
 * verification about 40 times as slow as e = 65537. */
Test(crypto, rsa_exponent_bound)
{
    char huge[501];
    cr_assert_eq(rsa_exp_verify("3"), 0);
    cr_assert_eq(rsa_exp_verify(RSA_E_MAX), 0);
    cr_assert_eq(rsa_exp_verify(RSA_E_OVER), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rsa_exp_verify(rsa_e_huge(huge)), RLY_ERR_UNSUPPORTED);
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

/* ---- Noise primitives ---------------------------------------------------------------------- */

/* RFC 7748 section 6.1. */
Test(crypto, x25519_rfc7748)
{
    uint8_t a[32], b[32], apub[32], bpub[32], shared[32], out[32];
    rly_x25519_keypair ka, kb;
    hex_decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
    hex_decode("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", apub, 32);
    hex_decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
    hex_decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bpub, 32);
    hex_decode("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", shared, 32);
    cr_assert_eq(rly_x25519_from_private(&ka, a), 0);
    cr_assert_eq(rly_x25519_from_private(&kb, b), 0);
    cr_assert_arr_eq(ka.pub, apub, 32);
    cr_assert_arr_eq(kb.pub, bpub, 32);
    cr_assert_eq(rly_x25519_dh(&ka, bpub, out), 0);
    cr_assert_arr_eq(out, shared, 32);
    cr_assert_eq(rly_x25519_dh(&kb, apub, out), 0);
    cr_assert_arr_eq(out, shared, 32);
    ASSERT_NO_LEAK();
}

/* Low-order points give an all-zero secret: refused, output wiped, no stale OpenSSL error. */
Test(crypto, x25519_low_order)
{
    uint8_t zero[32] = {0}, one[32] = {1}, out[32];
    rly_x25519_keypair k, k2;
    cr_assert_eq(rly_x25519_generate(&k), 0);
    cr_assert_eq(rly_x25519_generate(&k2), 0);
    cr_assert_arr_neq(k.priv, k2.priv, 32);
    memset(out, 0x55, sizeof(out));
    cr_assert_eq(rly_x25519_dh(&k, zero, out), RLY_ERR_CRYPTO);
    cr_assert_arr_eq(out, zero, 32);
    cr_assert_eq(rly_x25519_dh(&k, one, out), RLY_ERR_CRYPTO);
    cr_assert_eq(ERR_peek_error(), 0);
    ASSERT_NO_LEAK();
}

/* RFC 8439 section 2.8.2, then the same context reused: in place, direction switches, rekeying,
 * a tampered tag. */
Test(crypto, aead_rfc8439)
{
    static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                             "one tip for the future, sunscreen would be it.";
    size_t len = sizeof(pt) - 1;
    uint8_t key[32], nonce[12], ad[12], want[200], buf[200], back[200];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x80 + i);
    hex_decode("070000004041424344454647", nonce, sizeof(nonce));
    hex_decode("50515253c0c1c2c3c4c5c6c7", ad, sizeof(ad));
    hex_decode("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282"
               "fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab3"
               "24e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
               "1ae10b594f09e26a7e902ecbd0600691",
               want, sizeof(want));
    rly_aead a = {0};
    cr_assert_eq(rly_aead_init(&a, key), 0);
    cr_assert_eq(rly_aead_seal(&a, nonce, ad, sizeof(ad), (const uint8_t *)pt, len, buf), 0);
    cr_assert_arr_eq(buf, want, len + 16);
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), 0);
    cr_assert_arr_eq(back, pt, len);
    /* In place, both ways. */
    memcpy(buf, pt, len);
    cr_assert_eq(rly_aead_seal(&a, nonce, ad, sizeof(ad), buf, len, buf), 0);
    cr_assert_arr_eq(buf, want, len + 16);
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, buf), 0);
    cr_assert_arr_eq(buf, pt, len);
    /* Tampering: tag, ciphertext, additional data, nonce. */
    memcpy(buf, want, len + 16);
    buf[len + 3] ^= 1;
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), RLY_ERR_CRYPTO);
    cr_assert_eq(back[0], 0, "unauthenticated plaintext must be wiped");
    buf[len + 3] ^= 1;
    buf[7] ^= 0x80;
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), RLY_ERR_CRYPTO);
    buf[7] ^= 0x80;
    cr_assert_eq(rly_aead_open(&a, nonce, ad, 11, buf, len + 16, back), RLY_ERR_CRYPTO);
    nonce[11] ^= 1;
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), RLY_ERR_CRYPTO);
    nonce[11] ^= 1;
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), 0);
    /* Too short, and another key. */
    cr_assert_eq(rly_aead_open(&a, nonce, NULL, 0, buf, 15, back), RLY_ERR_INVALID_ARG);
    key[0] ^= 1;
    cr_assert_eq(rly_aead_set_key(&a, key), 0);
    cr_assert_eq(rly_aead_open(&a, nonce, ad, sizeof(ad), buf, len + 16, back), RLY_ERR_CRYPTO);
    cr_assert_eq(ERR_peek_error(), 0);
    rly_aead_free(&a);
    rly_aead_free(&a);
    cr_assert_eq(rly_aead_set_key(&a, key), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_aead_seal(&a, nonce, NULL, 0, buf, 1, buf), RLY_ERR_INVALID_ARG);
    ASSERT_NO_LEAK();
}

/* Empty plaintext: the message is the tag alone. */
Test(crypto, aead_empty)
{
    uint8_t key[32] = {7}, nonce[12], tag[16], out[1];
    rly_aead a = {0};
    rly_aead_nonce(nonce, 0x0102030405060708u);
    cr_assert_eq(nonce[0] | nonce[1] | nonce[2] | nonce[3], 0);
    cr_assert_eq(nonce[4], 0x08);
    cr_assert_eq(nonce[11], 0x01);
    cr_assert_eq(rly_aead_init(&a, key), 0);
    cr_assert_eq(rly_aead_seal(&a, nonce, NULL, 0, NULL, 0, tag), 0);
    cr_assert_eq(rly_aead_open(&a, nonce, NULL, 0, tag, 16, out), 0);
    tag[0] ^= 1;
    cr_assert_eq(rly_aead_open(&a, nonce, NULL, 0, tag, 16, out), RLY_ERR_CRYPTO);
    rly_aead_free(&a);
    ASSERT_NO_LEAK();
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block is hashed first). */
Test(crypto, hmac_sha256_rfc4231)
{
    uint8_t key[131], want[32], got[32];
    memset(key, 0x0b, 20);
    hex_decode("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
    rly_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, got);
    cr_assert_arr_eq(got, want, 32);
    hex_decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
    rly_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28,
                    got);
    cr_assert_arr_eq(got, want, 32);
    memset(key, 0xaa, sizeof(key));
    hex_decode("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
    rly_hmac_sha256(key, sizeof(key),
                    (const uint8_t *)"Test Using Larger Than Block-Size Key - Hash Key First", 54,
                    got);
    cr_assert_arr_eq(got, want, 32);
    ASSERT_NO_LEAK();
}

/* The Noise HKDF against its definition spelled out with HMAC; and SHA-256 of a concatenation. */
Test(crypto, hkdf_noise)
{
    uint8_t ck[32], ikm[32], temp[32], w1[32], w2[32], w3[32], o1[32], o2[32], o3[32], m[33];
    memset(ck, 0x11, sizeof(ck));
    memset(ikm, 0x22, sizeof(ikm));
    rly_hmac_sha256(ck, 32, ikm, 32, temp);
    rly_hmac_sha256(temp, 32, (const uint8_t *)"\x01", 1, w1);
    memcpy(m, w1, 32);
    m[32] = 2;
    rly_hmac_sha256(temp, 32, m, 33, w2);
    memcpy(m, w2, 32);
    m[32] = 3;
    rly_hmac_sha256(temp, 32, m, 33, w3);
    rly_hkdf_noise(ck, ikm, 32, o1, o2, o3);
    cr_assert_arr_eq(o1, w1, 32);
    cr_assert_arr_eq(o2, w2, 32);
    cr_assert_arr_eq(o3, w3, 32);
    memset(o3, 0, sizeof(o3));
    rly_hkdf_noise(ck, ikm, 32, o1, o2, NULL);
    cr_assert_arr_eq(o2, w2, 32);
    /* Empty ikm (Split). */
    rly_hmac_sha256(ck, 32, NULL, 0, temp);
    rly_hmac_sha256(temp, 32, (const uint8_t *)"\x01", 1, w1);
    rly_hkdf_noise(ck, NULL, 0, o1, o2, NULL);
    cr_assert_arr_eq(o1, w1, 32);

    uint8_t h1[32], h2[32];
    rly_sha256((const uint8_t *)"abcdef", 6, h1);
    rly_sha256_concat((const uint8_t *)"abc", 3, (const uint8_t *)"def", 3, h2);
    cr_assert_arr_eq(h1, h2, 32);
    memcpy(h2, "abc", 3);
    rly_sha256_concat(h2, 3, NULL, 0, h2); /* the output may alias an input */
    rly_sha256((const uint8_t *)"abc", 3, h1);
    cr_assert_arr_eq(h1, h2, 32);
    ASSERT_NO_LEAK();
}
