/* keys.h: libp2p PublicKey / PrivateKey protobufs (PROTOCOLS.md 1.2), signature verification for
 * all four key types, peer IDs from public keys, and the relay's own Ed25519 keypair.
 *
 *   PublicKey  { KeyType Type = 1; bytes Data = 2; }   both required, deterministic encoding
 *   PrivateKey { KeyType Type = 1; bytes Data = 2; }
 *
 * Encodings come from protobuf-c code generated from src/crypto/keys.proto; input sizes are capped
 * before unpacking. */
#ifndef RLY_CRYPTO_KEYS_H
#define RLY_CRYPTO_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/peerid.h"
#include "crypto/crypto.h"

typedef enum rly_key_type {
    RLY_KEY_RSA = 0,
    RLY_KEY_ED25519 = 1,
    RLY_KEY_SECP256K1 = 2,
    RLY_KEY_ECDSA = 3,
} rly_key_type;

/* Largest PublicKey.Data we accept (DER SPKI of an 8192-bit RSA key is ~1.06 KB). */
#define RLY_PUBKEY_MAX_DATA 1200
/* Largest serialized PublicKey protobuf we accept or produce. */
#define RLY_PUBKEY_PB_MAX (RLY_PUBKEY_MAX_DATA + 16)
/* Largest serialized PrivateKey we read (identity files are 68 bytes; legacy 100). */
#define RLY_PRIVKEY_PB_MAX 4096
/* Serialized Ed25519 PrivateKey: 08 01 12 40 <seed 32> <pub 32>. */
#define RLY_ED25519_PRIVKEY_PB_LEN 68

typedef struct rly_pubkey {
    rly_key_type type;
    size_t len;
    uint8_t data[RLY_PUBKEY_MAX_DATA];
} rly_pubkey;

/* The relay's identity: an Ed25519 keypair. |seed| is secret: wipe with rly_keypair_wipe. */
typedef struct rly_keypair {
    uint8_t seed[RLY_ED25519_SEED_LEN];
    uint8_t pub[RLY_ED25519_PUB_LEN];
} rly_keypair;

/* rly_pubkey_decode parses a serialized PublicKey protobuf (|len| bytes at |pb|) into |k|.
 * A 65-byte secp256k1 point is stored compressed, the form go and rust hash into peer IDs.
 * Returns 0, RLY_ERR_MALFORMED (protobuf error, missing field, data too long, wrong length for
 * the type), RLY_ERR_UNSUPPORTED (unknown key type) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_pubkey_decode(rly_pubkey *k, const uint8_t *pb, size_t len);

/* rly_pubkey_encode writes the deterministic PublicKey encoding of |k| to |out|.
 * Returns the length, RLY_ERR_NOBUF or RLY_ERR_INVALID_ARG (type or length out of range). */
RLY_NODISCARD rly_ssize rly_pubkey_encode(const rly_pubkey *k, uint8_t *out, size_t cap);

/* rly_pubkey_verify checks |sig| over |msg| with |k| (Ed25519: raw; RSA: PKCS#1 v1.5 SHA-256;
 * secp256k1 and ECDSA: DER signature over SHA-256(msg)).
 * Returns 0, RLY_ERR_SIGNATURE, RLY_ERR_MALFORMED, RLY_ERR_UNSUPPORTED or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_pubkey_verify(const rly_pubkey *k, const uint8_t *msg, size_t len,
                                    const uint8_t *sig, size_t siglen);

/* rly_pubkey_to_peerid derives the peer ID: identity multihash of the encoded key when it is at
 * most 42 bytes, otherwise its sha2-256 multihash. Returns 0 or RLY_ERR_INVALID_ARG (|k| out of
 * range). */
RLY_NODISCARD int rly_pubkey_to_peerid(const rly_pubkey *k, rly_peerid *pid);

/* rly_pubkey_from_peerid extracts the key inlined in an identity-multihash peer ID.
 * Returns 0, RLY_ERR_NOT_FOUND (sha2-256 peer ID: key not inlined) or a decode error. */
RLY_NODISCARD int rly_pubkey_from_peerid(rly_pubkey *k, const rly_peerid *pid);

/* rly_keypair_generate creates a fresh Ed25519 identity. Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_keypair_generate(rly_keypair *kp);

/* rly_keypair_decode parses a serialized PrivateKey (what rust-libp2p's
 * Keypair::to_protobuf_encoding writes for Ed25519): Type must be Ed25519 and Data 64 bytes
 * (seed || public, the public half must match the seed) or the legacy 96 bytes (seed || pub ||
 * pub, both copies equal). Returns 0, RLY_ERR_MALFORMED, RLY_ERR_UNSUPPORTED (another key
 * type), RLY_ERR_NOMEM or RLY_ERR_CRYPTO. Wipes its temporaries; |kp| is unchanged on error. */
RLY_NODISCARD int rly_keypair_decode(rly_keypair *kp, const uint8_t *pb, size_t len);

/* rly_keypair_encode writes the 68-byte PrivateKey encoding. Returns 68 or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_keypair_encode(const rly_keypair *kp, uint8_t *out, size_t cap);

/* rly_keypair_sign signs |msg| with the identity key. Returns 0 or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_keypair_sign(const rly_keypair *kp, const uint8_t *msg, size_t len,
                                   uint8_t sig[RLY_ED25519_SIG_LEN]);

/* rly_keypair_public fills |k| with the public half. */
void rly_keypair_public(const rly_keypair *kp, rly_pubkey *k);

/* rly_keypair_peerid derives the identity's peer ID. Returns 0 or an rly_pubkey_to_peerid error. */
RLY_NODISCARD int rly_keypair_peerid(const rly_keypair *kp, rly_peerid *pid);

/* rly_keypair_wipe zeroizes |kp|. */
void rly_keypair_wipe(rly_keypair *kp);

#endif
