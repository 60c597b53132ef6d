/* multibase.h: base58btc (Bitcoin alphabet) and RFC 4648 base32 (no padding), plus the multibase
 * prefixes we use: 'z' base58btc, 'b' base32 lower, 'B' base32 upper. PROTOCOLS.md 1.3.
 *
 * Encoders write a NUL-terminated string and return its length without the NUL. Inputs are
 * capped (base58 is quadratic): longer inputs fail with RLY_ERR_NOBUF / RLY_ERR_INVALID_ARG. */
#ifndef RLY_CORE_MULTIBASE_H
#define RLY_CORE_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Longest binary input accepted by the base58 codec (a peer ID is at most 44 bytes). */
#define RLY_BASE58_MAX_BYTES 256

typedef enum rly_multibase {
    RLY_MULTIBASE_BASE58BTC = 'z',
    RLY_MULTIBASE_BASE32 = 'b',       /* lower case, no padding */
    RLY_MULTIBASE_BASE32_UPPER = 'B', /* upper case, no padding */
} rly_multibase;

/* rly_base58_encode encodes |inlen| bytes into |out| (|cap| bytes incl. NUL).
 * Returns the string length, RLY_ERR_NOBUF (out too small) or RLY_ERR_INVALID_ARG (input longer
 * than RLY_BASE58_MAX_BYTES). */
RLY_NODISCARD rly_ssize rly_base58_encode(const uint8_t *in, size_t inlen, char *out, size_t cap);

/* rly_base58_decode decodes |inlen| characters into |out| (|cap| bytes).
 * Returns the number of bytes, RLY_ERR_MALFORMED (character outside the alphabet, empty input),
 * RLY_ERR_NOBUF (result longer than |cap|) or RLY_ERR_INVALID_ARG (input too long, or a result
 * longer than RLY_BASE58_MAX_BYTES, so whatever decodes can be encoded again). */
RLY_NODISCARD rly_ssize rly_base58_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* rly_base32_encode encodes lower-case RFC 4648 base32 without padding. Returns as base58. */
RLY_NODISCARD rly_ssize rly_base32_encode(const uint8_t *in, size_t inlen, char *out, size_t cap);

/* rly_base32_decode decodes base32 without padding, in either case (mixed case is accepted here;
 * rly_multibase_decode is stricter). Rejects '=' padding, characters outside the alphabet, a
 * length of 1, 3 or 6 mod 8 and non-zero trailing bits (RLY_ERR_MALFORMED).
 * Returns the number of bytes or an error as base58. */
RLY_NODISCARD rly_ssize rly_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* rly_multibase_encode writes the prefix character of |base| and the encoding of |in|.
 * Returns the string length or an error as above. */
RLY_NODISCARD rly_ssize rly_multibase_encode(rly_multibase base, const uint8_t *in, size_t inlen,
                                             char *out, size_t cap);

/* rly_multibase_decode decodes a multibase string (prefix 'z', 'b' or 'B'). The prefix fixes the
 * alphabet: after 'b' only lower case, after 'B' only upper case (else RLY_ERR_MALFORMED).
 * Returns the number of bytes, RLY_ERR_UNSUPPORTED for another prefix, RLY_ERR_MALFORMED for an
 * empty string, or a decode error. */
RLY_NODISCARD rly_ssize rly_multibase_decode(const char *in, size_t inlen, uint8_t *out,
                                             size_t cap);

#endif
