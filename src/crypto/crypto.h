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

/* rly_ed25519_sign signs |msg| (RFC 8032 pure Ed25519). Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_ed25519_sign(const uint8_t seed[RLY_ED25519_SEED_LEN], const uint8_t *msg,
                                   size_t len, uint8_t sig[RLY_ED25519_SIG_LEN]);

/* rly_ed25519_verify checks |sig| (|siglen| bytes, must be 64) over |msg| with the raw 32-byte
 * |pub|. Returns 0, RLY_ERR_SIGNATURE, RLY_ERR_MALFORMED (bad key / length) or RLY_ERR_CRYPTO
 * (OpenSSL could not run the check, e.g. out of memory). */
RLY_NODISCARD int rly_ed25519_verify(const uint8_t *pub, size_t publen, const uint8_t *msg,
                                     size_t len, const uint8_t *sig, size_t siglen);

/* rly_rsa_verify checks an RSASSA-PKCS1-v1_5 SHA-256 signature. |spki| is the DER
 * SubjectPublicKeyInfo of an RSA key of RLY_RSA_MIN_BITS..RLY_RSA_MAX_BITS.
 * Returns 0, RLY_ERR_SIGNATURE, RLY_ERR_MALFORMED (key does not parse / not RSA / trailing
 * bytes / exponent even or 1), RLY_ERR_UNSUPPORTED (modulus size out of range) or
 * RLY_ERR_CRYPTO (OpenSSL could not run the check). */
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

#endif
