/* varint.h: multiformats unsigned varint (LEB128, low bits first). PROTOCOLS.md section 0.
 * Values are < 2^63, at most 9 bytes, minimally encoded: a padded encoding such as 81 00 is
 * rejected. */
#ifndef RLY_CORE_VARINT_H
#define RLY_CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"

#define RLY_VARINT_MAX_LEN 9
#define RLY_VARINT_MAX_VALUE ((UINT64_C(1) << 63) - 1)

/* rly_varint_len returns the encoded length of |v| (1..9; |v| must be <= RLY_VARINT_MAX_VALUE). */
size_t rly_varint_len(uint64_t v);

/* rly_varint_encode writes |v| to |dst| (|cap| bytes).
 * Returns the number of bytes written, RLY_ERR_NOBUF if |cap| is too small, or
 * RLY_ERR_INVALID_ARG if |v| > RLY_VARINT_MAX_VALUE. */
RLY_NODISCARD rly_ssize rly_varint_encode(uint8_t *dst, size_t cap, uint64_t v);

/* rly_varint_decode reads one varint from the |len| bytes at |p| into |*pv|.
 * Returns the number of bytes consumed (1..9), or:
 *   RLY_ERR_TRUNCATED   input ended before the last byte (stream callers: need more bytes),
 *   RLY_ERR_NON_MINIMAL a longer encoding than necessary,
 *   RLY_ERR_MALFORMED   more than 9 bytes or a value >= 2^63. */
RLY_NODISCARD rly_ssize rly_varint_decode(const uint8_t *p, size_t len, uint64_t *pv);

/* rly_varint_append appends |v| to |b|. Returns 0 or an rly_dynbuf_append / encode error. */
RLY_NODISCARD int rly_varint_append(rly_dynbuf *b, uint64_t v);

#endif
