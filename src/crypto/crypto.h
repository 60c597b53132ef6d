/* crypto.h: the thin shim over OpenSSL 3 libcrypto (DESIGN.md: the one crypto backend).
 * Nothing outside src/crypto/ includes OpenSSL headers. All functions are safe on any input:
 * malformed keys or signatures give an error, never a crash. */
#ifndef RLY_CRYPTO_CRYPTO_H
#define RLY_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RLY_SHA256_LEN 32
#define RLY_ED25519_SEED_LEN 32
#define RLY_ED25519_PUB_LEN 32
#define RLY_ED25519_SIG_LEN 64
/* RSA moduli accepted for verification (go and rust accept 2048..8192 bits). */
#define RLY_RSA_MIN_BITS 2048
#define RLY_RSA_MAX_BITS 8192
/* Largest RSA public exponent accepted (go's crypto/rsa bound, 2^31 - 1). Verifying costs one
 * modular multiplication per exponent bit: e = 65537 takes 17, a modulus-sized exponent
 * thousands, which made a Noise handshake with such a key cost the relay 40 times more. */
#define RLY_RSA_MAX_EXPONENT 0x7fffffffu

/* rly_crypto_random fills |out| with |len| bytes from the OS CSPRNG.
 * Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_crypto_random(uint8_t *out, size_t len);

/* rly_sha256 writes SHA-256(|p|, |len|) to |out|. */
void rly_sha256(const uint8_t *p, size_t len, uint8_t out[RLY_SHA256_LEN]);

/* rly_ed25519_generate creates a fresh key: |seed| (secret) and |pub|.
 * Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_ed25519_generate(uint8_t seed[RLY_ED25519_SEED_LEN],
                                       uint8_t pub[RLY_ED25519_PUB_LEN]);

/* rly_ed25519_public derives |pub| from |seed|. Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_ed25519_public(const uint8_t seed[RLY_ED25519_SEED_LEN],
                                     uint8_t pub[RLY_ED25519_PUB_LEN]);

/* rly_ed25519_sign signs |msg| (RFC 8032 pure Ed25519). Returns 0 or RLY_ERR_CRYPTO.
 * Cost note: it derives the public key from |seed| first (a scalar multiplication, about half
 * the cost of a signature); with a keypair at hand use rly_ed25519_sign_with_pub (or
 * rly_keypair_sign), which does not. */
RLY_NODISCARD int rly_ed25519_sign(const uint8_t seed[RLY_ED25519_SEED_LEN], const uint8_t *msg,
                                   size_t len, uint8_t sig[RLY_ED25519_SIG_LEN]);

/* rly_ed25519_sign_with_pub signs |msg| with the key whose seed is |seed| and whose public key
 * is |pub|, which must be the one derived from |seed| (a keypair's, checked when it was decoded
 * or made). A wrong |pub| gives a signature nobody accepts, and signatures of one message under
 * two public keys reveal the private key: never pass a |pub| from anywhere else. Returns 0 or
 * RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_ed25519_sign_with_pub(const uint8_t seed[RLY_ED25519_SEED_LEN],
                                            const uint8_t pub[RLY_ED25519_PUB_LEN],
                                            const uint8_t *msg, size_t len,
                                            uint8_t sig[RLY_ED25519_SIG_LEN]);

/* rly_ed25519_verify checks |sig| (|siglen| bytes, must be 64) over |msg| with the raw 32-byte
 * |pub|. Returns 0, RLY_ERR_SIGNATURE, RLY_ERR_MALFORMED (bad key / length) or RLY_ERR_CRYPTO
 * (OpenSSL could not run the check, e.g. out of memory). */
RLY_NODISCARD int rly_ed25519_verify(const uint8_t *pub, size_t publen, const uint8_t *msg,
                                     size_t len, const uint8_t *sig, size_t siglen);

/* rly_rsa_verify checks an RSASSA-PKCS1-v1_5 SHA-256 signature. |spki| is the DER
 * SubjectPublicKeyInfo of an RSA key of RLY_RSA_MIN_BITS..RLY_RSA_MAX_BITS.
 * Returns 0, RLY_ERR_SIGNATURE, RLY_ERR_MALFORMED (key does not parse / not RSA / trailing
 * bytes / exponent even or 1), RLY_ERR_UNSUPPORTED (modulus size out of range, exponent above
 * RLY_RSA_MAX_EXPONENT) or RLY_ERR_CRYPTO (OpenSSL could not run the check). */
RLY_NODISCARD int rly_rsa_verify(const uint8_t *spki, size_t spkilen, const uint8_t *msg,
                                 size_t len, const uint8_t *sig, size_t siglen);

/* rly_secp256k1_verify checks a DER ECDSA signature over SHA-256(|msg|) with a SEC1 point (33
 * bytes compressed or 65 uncompressed) on secp256k1. Returns as rly_rsa_verify. */
RLY_NODISCARD int rly_secp256k1_verify(const uint8_t *point, size_t pointlen, const uint8_t *msg,
                                       size_t len, const uint8_t *sig, size_t siglen);

/* rly_ecdsa_verify checks a DER ECDSA signature over SHA-256(|msg|) with a DER
 * SubjectPublicKeyInfo EC key on a named curve (P-224, P-256, P-384, P-521, as go's x509).
 * Returns as rly_rsa_verify; RLY_ERR_UNSUPPORTED for other curves or explicit parameters. */
RLY_NODISCARD int rly_ecdsa_verify(const uint8_t *spki, size_t spkilen, const uint8_t *msg,
                                   size_t len, const uint8_t *sig, size_t siglen);

/* ---- Noise primitives (PROTOCOLS.md 3): X25519, ChaCha20-Poly1305, HMAC-SHA256, HKDF ---- */

#define RLY_X25519_LEN 32
#define RLY_AEAD_KEY_LEN 32
#define RLY_AEAD_NONCE_LEN 12
#define RLY_AEAD_TAG_LEN 16
#define RLY_HMAC_SHA256_LEN 32

/* An X25519 keypair. |priv| is secret: wipe the struct with rly_zeroize when done. Keeping the
 * public half next to the private one lets every DH skip OpenSSL's re-derivation of it (one
 * scalar multiplication, as costly as the DH itself). */
typedef struct rly_x25519_keypair {
    uint8_t priv[RLY_X25519_LEN];
    uint8_t pub[RLY_X25519_LEN];
} rly_x25519_keypair;

/* rly_x25519_from_private fills |kp| from the 32 raw bytes |priv| (RFC 7748: clamped when used,
 * stored as given) and derives the public key. Returns 0 or RLY_ERR_CRYPTO (|kp| wiped). */
RLY_NODISCARD int rly_x25519_from_private(rly_x25519_keypair *kp,
                                          const uint8_t priv[RLY_X25519_LEN]);

/* rly_x25519_generate fills |kp| with a fresh random keypair. Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_x25519_generate(rly_x25519_keypair *kp);

/* rly_x25519_dh writes X25519(kp->priv, |peer|) to |out|. |kp| must be consistent (made by the
 * functions above). Returns 0, or RLY_ERR_CRYPTO when OpenSSL fails or the shared secret is all
 * zero (|peer| is a low-order point); |out| is wiped on error. */
RLY_NODISCARD int rly_x25519_dh(const rly_x25519_keypair *kp, const uint8_t peer[RLY_X25519_LEN],
                                uint8_t out[RLY_X25519_LEN]);

/* rly_sha256_concat writes SHA-256(|a| || |b|) to |out|. Either part may be empty (NULL), and
 * |out| may be |a| or |b| (Noise's MixHash: h = HASH(h || data)). */
void rly_sha256_concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t out[RLY_SHA256_LEN]);

/* rly_hmac_sha256 writes HMAC-SHA256(|key|, |msg|) (RFC 2104) to |out|. */
void rly_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                     uint8_t out[RLY_HMAC_SHA256_LEN]);

/* rly_hkdf_noise is the Noise HKDF (Noise rev34 section 4.3) with HMAC-SHA256: temp =
 * HMAC(|ck|, |ikm|), out1 = HMAC(temp, 0x01), out2 = HMAC(temp, out1 || 0x02) and, when |out3| is
 * not NULL, out3 = HMAC(temp, out2 || 0x03). |ikm| may be empty (Split). The outputs may not
 * alias |ck| or |ikm|. Wipes its temporaries. */
void rly_hkdf_noise(const uint8_t ck[RLY_SHA256_LEN], const uint8_t *ikm, size_t ikmlen,
                    uint8_t out1[RLY_SHA256_LEN], uint8_t out2[RLY_SHA256_LEN], uint8_t *out3);

/* rly_aead is one ChaCha20-Poly1305 (RFC 8439) cipher context with its key loaded, created once
 * per key holder (e.g. per direction of a Noise session) and reused for every message, so the
 * data path never allocates per call. Embedded in the owner: _init / _free. */
typedef struct rly_aead {
    void *ctx; /* EVP_CIPHER_CTX; NULL before init and after free */
} rly_aead;

/* rly_aead_nonce builds the Noise nonce: 4 zero bytes || |counter| as 64-bit little endian. */
void rly_aead_nonce(uint8_t nonce[RLY_AEAD_NONCE_LEN], uint64_t counter);

/* rly_aead_init creates |a|'s cipher context and loads |key|. Returns 0 or RLY_ERR_CRYPTO
 * (|a| is then freed and may be passed to rly_aead_free). */
RLY_NODISCARD int rly_aead_init(rly_aead *a, const uint8_t key[RLY_AEAD_KEY_LEN]);

/* rly_aead_set_key replaces the key of an initialised |a| (no allocation).
 * Returns 0, RLY_ERR_INVALID_STATE (not initialised) or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_aead_set_key(rly_aead *a, const uint8_t key[RLY_AEAD_KEY_LEN]);

/* rly_aead_free wipes and frees the context (OpenSSL cleanses the key it holds). NULL-safe, and
 * safe on a zeroed or already freed |a|. */
void rly_aead_free(rly_aead *a);

/* rly_aead_seal encrypts |len| bytes of |in| with |nonce| and additional data |ad| (|adlen|,
 * may be empty), writing |len| bytes of ciphertext and then the 16-byte tag to |out|. |in| ==
 * |out| is allowed; any other overlap is not. Returns 0, RLY_ERR_INVALID_ARG (|len| or |adlen|
 * above INT_MAX, or |a| not initialised) or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_aead_seal(rly_aead *a, const uint8_t nonce[RLY_AEAD_NONCE_LEN],
                                const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                                uint8_t *out);

/* rly_aead_open authenticates and decrypts |len| bytes of |in| (ciphertext followed by the tag,
 * so |len| >= 16), writing |len| - 16 bytes of plaintext to |out| (|in| == |out| allowed). On a
 * bad tag |out| is wiped. Returns 0, RLY_ERR_CRYPTO (bad tag or OpenSSL failure) or
 * RLY_ERR_INVALID_ARG (|len| < 16, sizes above INT_MAX, |a| not initialised). */
RLY_NODISCARD int rly_aead_open(rly_aead *a, const uint8_t nonce[RLY_AEAD_NONCE_LEN],
                                const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                                uint8_t *out);

#endif
