/* dynbuf.h: rly_dynbuf, a growable byte buffer with a hard maximum fixed at creation (curl
 * dynbuf). Appending past |max| fails with RLY_ERR_NOBUF and leaves the contents unchanged.
 *
 * A dynbuf may start on a caller-supplied (stack) buffer and move to the heap only when it grows
 * past it (picotls ptls_buffer): rly_dynbuf_init_small.
 *
 * The data is always followed by a NUL byte that is not counted in |len|, so text built in a
 * dynbuf can be used as a C string directly (rly_dynbuf_cstr).
 */
#ifndef RLY_CORE_DYNBUF_H
#define RLY_CORE_DYNBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct rly_dynbuf {
    uint8_t *data;     /* NULL until the first append when not started small */
    size_t len;        /* bytes of data */
    size_t cap;        /* bytes available at |data| */
    size_t max;        /* hard cap on |len| */
    rly_mem *mem;      /* allocator for heap storage */
    bool is_allocated; /* |data| is heap memory owned by the dynbuf */
} rly_dynbuf;

/* rly_dynbuf_init prepares an empty |b| that may grow to |max| bytes, allocating from |mem|
 * (NULL: default). Allocates nothing yet. */
void rly_dynbuf_init(rly_dynbuf *b, rly_mem *mem, size_t max);

/* rly_dynbuf_init_small is rly_dynbuf_init starting on the caller's |stackbuf| of |size| bytes
 * (borrowed for the dynbuf's lifetime; size must be >= 1). */
void rly_dynbuf_init_small(rly_dynbuf *b, uint8_t *stackbuf, size_t size, rly_mem *mem, size_t max);

/* rly_dynbuf_free releases heap storage (if any) and makes |b| empty. NULL-safe. */
void rly_dynbuf_free(rly_dynbuf *b);

/* rly_dynbuf_reset empties |b| and keeps its storage. */
void rly_dynbuf_reset(rly_dynbuf *b);

/* rly_dynbuf_append appends |n| bytes from |p|.
 * Returns 0, RLY_ERR_NOBUF (would exceed max) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_dynbuf_append(rly_dynbuf *b, const void *p, size_t n);

/* rly_dynbuf_append_byte appends one byte. Returns as rly_dynbuf_append. */
RLY_NODISCARD int rly_dynbuf_append_byte(rly_dynbuf *b, uint8_t c);

/* rly_dynbuf_append_str appends the NUL-terminated |s| (without its NUL). */
RLY_NODISCARD int rly_dynbuf_append_str(rly_dynbuf *b, const char *s);

/* rly_dynbuf_appendf appends printf-formatted text. Returns as rly_dynbuf_append. */
RLY_NODISCARD int rly_dynbuf_appendf(rly_dynbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* rly_dynbuf_reserve makes room for |n| more bytes without changing |len|. Returns as append. */
RLY_NODISCARD int rly_dynbuf_reserve(rly_dynbuf *b, size_t n);

/* rly_dynbuf_truncate shortens |b| to |len| bytes (no-op if already shorter). */
void rly_dynbuf_truncate(rly_dynbuf *b, size_t len);

/* rly_dynbuf_cstr returns the contents as a NUL-terminated string ("" when empty). Valid until
 * the next change to |b|. */
const char *rly_dynbuf_cstr(const rly_dynbuf *b);

#endif
