/* keys_internal.h: internal to src/crypto. Lets envelope.c check the PublicKey it gets embedded
 * in an Envelope (already unpacked by protobuf-c) with exactly the rules of rly_pubkey_decode. */
#ifndef RLY_CRYPTO_KEYS_INTERNAL_H
#define RLY_CRYPTO_KEYS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

/* rly_pubkey_set validates a key given as its protobuf fields (|type|, |data| of |len| bytes)
 * and stores it in |k|, normalised to the form peer IDs are computed from (uncompressed
 * secp256k1 points are compressed). Returns 0, RLY_ERR_MALFORMED or RLY_ERR_UNSUPPORTED. */
RLY_NODISCARD int rly_pubkey_set(rly_pubkey *k, int type, const uint8_t *data, size_t len);

#endif
