#include "core/dynbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rly_dynbuf_init(rly_dynbuf *b, rly_mem *mem, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->mem = mem ? mem : rly_mem_default();
    b->max = max;
}

void rly_dynbuf_init_small(rly_dynbuf *b, uint8_t *stackbuf, size_t size, rly_mem *mem, size_t max)
{
    rly_dynbuf_init(b, mem, max);
    RLY_ASSERT(size >= 1);
    b->data = stackbuf;
    b->cap = size;
    b->data[0] = 0;
}

void rly_dynbuf_free(rly_dynbuf *b)
{
    if (!b)
        return;
    if (b->is_allocated)
        rly_free(b->mem, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->is_allocated = false;
}

void rly_dynbuf_reset(rly_dynbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

int rly_dynbuf_reserve(rly_dynbuf *b, size_t n)
{
    if (n > b->max - b->len) /* len <= max always holds */
        return RLY_ERR_NOBUF;
    size_t need = b->len + n + 1; /* + the trailing NUL */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    uint8_t *p;
    if (b->is_allocated) {
        p = rly_realloc(b->mem, b->data, ncap);
    } else {
        p = rly_malloc(b->mem, ncap);
        if (p && b->data)
            memcpy(p, b->data, b->len + 1);
    }
    if (!p)
        return RLY_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    b->is_allocated = true;
    return 0;
}

int rly_dynbuf_append(rly_dynbuf *b, const void *p, size_t n)
{
    int rv = rly_dynbuf_reserve(b, n);
    if (rv != 0)
        return rv;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int rly_dynbuf_append_byte(rly_dynbuf *b, uint8_t c)
{
    return rly_dynbuf_append(b, &c, 1);
}

int rly_dynbuf_append_str(rly_dynbuf *b, const char *s)
{
    return rly_dynbuf_append(b, s, strlen(s));
}

int rly_dynbuf_appendf(rly_dynbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return RLY_ERR_INVALID_ARG;
    if ((size_t)n < sizeof(small))
        return rly_dynbuf_append(b, small, (size_t)n);
    int rv = rly_dynbuf_reserve(b, (size_t)n);
    if (rv != 0)
        return rv;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void rly_dynbuf_truncate(rly_dynbuf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = 0;
    }
}

const char *rly_dynbuf_cstr(const rly_dynbuf *b)
{
    return b->data ? (const char *)b->data : "";
}
