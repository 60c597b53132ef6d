/* tlscert.h: the libp2p TLS certificate (PROTOCOLS.md 5.1; libp2p spec tls/tls.md), used by QUIC.
 *
 * Each side presents one self-signed X.509 v3 certificate whose key (here ECDSA P-256) is not the
 * identity key. The certificate carries extension 1.3.6.1.4.1.53594.1.1 whose value is
 *
 *   SignedKey ::= SEQUENCE { publicKey OCTET STRING,   -- the identity's PublicKey protobuf
 *                            signature OCTET STRING }  -- identity signature
 *
 * over "libp2p-tls-handshake:" || the certificate's DER SubjectPublicKeyInfo. Verifying a peer's
 * certificate yields its PeerId; no CA, no PKIX path.
 *
 * The DER helpers (SignedKey, finding the SubjectPublicKeyInfo in a certificate) are pure functions
 * over caller bytes and have a fuzz target (fuzz/fuzz_tlscert.c). Generation and verification use
 * OpenSSL's X.509 code (with a strict fast path for the usual shape, tlscert.c); the TLS stack
 * (GnuTLS, in src/transport/quic/) only carries the bytes. */
#ifndef RLY_CRYPTO_TLSCERT_H
#define RLY_CRYPTO_TLSCERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/peerid.h"
#include "crypto/keys.h"

#define RLY_TLSCERT_EXT_OID "1.3.6.1.4.1.53594.1.1"
#define RLY_TLSCERT_SIG_PREFIX "libp2p-tls-handshake:"
/* Largest certificate we accept or produce (an RSA-8192 identity with an RSA-8192 certificate key
 * stays under 4 KiB; ours are about 400 bytes). */
#define RLY_TLSCERT_MAX 8192
/* Largest certificate private key (PKCS#8 DER of a P-256 key: 138 bytes). */
#define RLY_TLSCERT_KEY_MAX 256
/* Validity of our certificate: from an hour ago (clock skew) to 100 years ahead, as go and js. */
#define RLY_TLSCERT_BACKDATE_SECS 3600
#define RLY_TLSCERT_LIFETIME_SECS (100LL * 365 * 24 * 3600)

/* Our certificate and its key, both DER. |key| is secret: wipe with rly_tlscert_wipe. */
typedef struct rly_tlscert {
    uint8_t cert[RLY_TLSCERT_MAX];
    size_t cert_len;
    uint8_t key[RLY_TLSCERT_KEY_MAX]; /* PKCS#8 PrivateKeyInfo */
    size_t key_len;
} rly_tlscert;

/* rly_tlscert_generate makes a fresh certificate for identity |id|, valid from |now| (Unix seconds)
 * minus RLY_TLSCERT_BACKDATE_SECS for RLY_TLSCERT_LIFETIME_SECS: a new ECDSA P-256 key, a random
 * 16-byte serial, subject and issuer serialNumber=1 (go's shape), the libp2p extension
 * (non-critical, as go; rust marks it critical: verifiers accept both) and no other extension,
 * self-signed with ecdsa-with-SHA256. Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_tlscert_generate(rly_tlscert *out, const rly_keypair *id, int64_t now);

/* rly_tlscert_wipe zeroizes |c| (the private key). */
void rly_tlscert_wipe(rly_tlscert *c);

/* rly_tlscert_verify checks a peer's certificate |der| (|len| bytes) at time |now| (Unix seconds):
 *   - one DER X.509 v3 certificate, nothing after it;
 *   - NotBefore <= now <= NotAfter;
 *   - self-signed, and the signature verifies with the certificate's own key: ECDSA on P-256 or
 *     P-384, Ed25519, or RSA (PKCS#1 v1.5 or PSS, 2048..8192 bits, a public exponent of at most
 *     RLY_RSA_MAX_EXPONENT), with SHA-256, -384 or -512;
 *   - exactly one libp2p extension, and no other critical extension;
 *   - the SignedKey decodes, its PublicKey decodes, and its signature verifies over the prefix and
 *     the certificate's SubjectPublicKeyInfo exactly as encoded.
 * On success stores the identity's PeerId in |peer| (may be NULL) and its key in |key| (may be
 * NULL). Returns 0, RLY_ERR_MALFORMED (not DER or not a certificate), RLY_ERR_CERTIFICATE (time,
 * version, algorithm and key, extensions), RLY_ERR_SIGNATURE (either signature),
 * RLY_ERR_UNSUPPORTED (identity key type, or an RSA identity key outside rly_rsa_verify's
 * bounds) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_tlscert_verify(const uint8_t *der, size_t len, int64_t now, rly_peerid *peer,
                                     rly_pubkey *key);

/* Tests and fuzzing only: the two halves of rly_tlscert_verify. rly_tlscert_verify_fast is the
 * strict reader of the usual certificate (v3, ECDSA P-256 with SHA-256, issuer == subject, the
 * libp2p extension alone): it answers as rly_tlscert_verify does for the certificates it takes,
 * and 1 for any other (rly_tlscert_verify then asks the OpenSSL path). rly_tlscert_verify_openssl
 * is that OpenSSL path alone (d2i_X509). Invariant (fuzz/fuzz_tlscert.c): whatever the fast path
 * accepts, the OpenSSL path accepts with the same PeerId and key. */
RLY_NODISCARD int rly_tlscert_verify_fast(const uint8_t *der, size_t len, int64_t now,
                                          rly_peerid *peer, rly_pubkey *key);
RLY_NODISCARD int rly_tlscert_verify_openssl(const uint8_t *der, size_t len, int64_t now,
                                             rly_peerid *peer, rly_pubkey *key);

/* rly_tlscert_signedkey_decode splits a SignedKey (the extension value, |len| bytes) into its two
 * OCTET STRINGs, pointing into |in|. DER only: definite minimal lengths, nothing trailing.
 * Returns 0 or RLY_ERR_MALFORMED. */
RLY_NODISCARD int rly_tlscert_signedkey_decode(const uint8_t *in, size_t len,
                                               const uint8_t **pubkey, size_t *pubkey_len,
                                               const uint8_t **sig, size_t *sig_len);

/* rly_tlscert_signedkey_encode writes the DER SignedKey of |pubkey| and |sig| to |out|.
 * Returns its length or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_tlscert_signedkey_encode(const uint8_t *pubkey, size_t pubkey_len,
                                                     const uint8_t *sig, size_t sig_len,
                                                     uint8_t *out, size_t cap);

/* rly_tlscert_find_spki finds the SubjectPublicKeyInfo (tag and length included) inside the DER
 * certificate |der|: Certificate -> tbsCertificate -> after version, serial, signature, issuer,
 * validity and subject. Points |*spki| into |der|. Returns 0 or RLY_ERR_MALFORMED. */
RLY_NODISCARD int rly_tlscert_find_spki(const uint8_t *der, size_t len, const uint8_t **spki,
                                        size_t *spki_len);

#endif
