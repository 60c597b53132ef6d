/* quote.h: bytes from a file or the network, made safe to put in a one-line message. */
#ifndef RLY_CORE_QUOTE_H
#define RLY_CORE_QUOTE_H

#include <stddef.h>

/* rly_quote writes the |n| bytes at |p| into |out| (|max| + 4 bytes) cut to |max| bytes ("..."
 * added when cut), each byte outside printable ASCII as '?', NUL-ended; returns |out|. */
const char *rly_quote(const char *p, size_t n, char *out, size_t max);

#endif
