/* multihash.h: multihash codec for the two functions libp2p peer IDs use: identity (0x00) and
 * sha2-256 (0x12, 32-byte digest). PROTOCOLS.md 1.3. Computing a SHA-256 digest is the crypto
 * layer's job; this module only frames and checks. */
#ifndef RLY_CORE_MULTIHASH_H
#define RLY_CORE_MULTIHASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RLY_MH_IDENTITY 0x00
#define RLY_MH_SHA2_256 0x12
#define RLY_MH_SHA2_256_LEN 32
/* Longest identity digest we accept anywhere (libp2p inlines keys of up to 42 bytes). */
#define RLY_MH_IDENTITY_MAX 42

typedef struct rly_multihash {
    uint64_t code;
    const uint8_t *digest; /* borrowed from the decoded input */
    size_t len;
} rly_multihash;

/* rly_multihash_decode parses one multihash at the start of |p| (|len| bytes) into |mh|.
 * Returns the bytes consumed, or RLY_ERR_TRUNCATED, RLY_ERR_NON_MINIMAL, RLY_ERR_MALFORMED (bad
 * varint, sha2-256 digest length != 32, identity digest longer than RLY_MH_IDENTITY_MAX) or
 * RLY_ERR_UNSUPPORTED (another hash function). */
RLY_NODISCARD rly_ssize rly_multihash_decode(const uint8_t *p, size_t len, rly_multihash *mh);

/* rly_multihash_encode writes code || uvarint(len) || digest into |dst| (|cap| bytes).
 * Returns the length written, RLY_ERR_NOBUF, RLY_ERR_UNSUPPORTED or RLY_ERR_INVALID_ARG (bad
 * digest length for the code). */
RLY_NODISCARD rly_ssize rly_multihash_encode(uint8_t *dst, size_t cap, uint64_t code,
                                             const uint8_t *digest, size_t len);

#endif
