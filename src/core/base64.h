/* base64.h: RFC 4648 section 5 base64url ("URL and filename safe" alphabet: '-' and '_' in place
 * of '+' and '/'), written without '=' padding, as JWTs and the relay's minted auth tokens use it
 * (proto/auth/auth.h).
 *
 * The encoder works without table lookups or branches on the data (each character is computed
 * from its 6-bit value with masks), so encoding secret bytes, such as the expected MAC of an auth
 * token, does not leak them through timing or cache use. */
#ifndef RLY_CORE_BASE64_H
#define RLY_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* RLY_BASE64URL_LEN(n): characters of the unpadded encoding of n bytes (NUL not counted). */
#define RLY_BASE64URL_LEN(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* rly_base64url_encode writes the unpadded base64url encoding of the |inlen| bytes at |in| (NULL
 * when |inlen| is 0) and a NUL into |out| (|cap| bytes, the NUL included). Returns the string
 * length or RLY_ERR_NOBUF (|out| too small; nothing meaningful is written). */
RLY_NODISCARD rly_ssize rly_base64url_encode(const uint8_t *in, size_t inlen, char *out,
                                             size_t cap);

/* rly_base64url_decode decodes the unpadded base64url text |in| (|inlen| characters) into |out|
 * (|cap| bytes). Strict: only the alphabet, no padding or spaces, no length of 1 modulo 4, and
 * the unused low bits of the last character zero (one text per byte string). Returns the
 * number of bytes, RLY_ERR_MALFORMED or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_base64url_decode(const char *in, size_t inlen, uint8_t *out,
                                             size_t cap);

#endif
