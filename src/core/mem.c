#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* Each block carries a header holding its size, so frees can be accounted. The header is
 * 16 bytes to keep max_align_t alignment for the caller's pointer. */
typedef union hdr {
    size_t size;
    max_align_t align;
} hdr;

static rly_mem default_mem;
static int default_ready;

static void load_fail_nth(rly_mem *mem)
{
#if defined(RLY_DEBUG_ALLOC)
    const char *s = getenv("RLY_FAILALLOC_NTH");
    if (s) {
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (end && *end == '\0')
            mem->fail_nth = v;
    }
#else
    (void)mem;
#endif
}

rly_mem *rly_mem_default(void)
{
    if (!default_ready) {
        rly_mem_init(&default_mem);
        load_fail_nth(&default_mem);
        default_ready = 1;
    }
    return &default_mem;
}

void rly_mem_init(rly_mem *mem)
{
    memset(mem, 0, sizeof(*mem));
}

static int should_fail(rly_mem *mem)
{
    mem->nattempts++;
    return mem->fail_nth != 0 && mem->nattempts == mem->fail_nth;
}

static void account_add(rly_mem *mem, size_t n)
{
    mem->live_bytes += n;
    mem->nallocs++;
    if (mem->live_bytes > mem->peak_bytes)
        mem->peak_bytes = mem->live_bytes;
}

void *rly_malloc(rly_mem *mem, size_t n)
{
    if (!mem)
        mem = rly_mem_default();
    if (n > SIZE_MAX - sizeof(hdr) || should_fail(mem))
        return NULL;
    hdr *h = malloc(sizeof(hdr) + n);
    if (!h)
        return NULL;
    h->size = n;
    account_add(mem, n);
    return h + 1;
}

void *rly_calloc(rly_mem *mem, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = rly_malloc(mem, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *rly_realloc(rly_mem *mem, void *p, size_t n)
{
    if (!mem)
        mem = rly_mem_default();
    if (!p)
        return rly_malloc(mem, n);
    if (n > SIZE_MAX - sizeof(hdr) || should_fail(mem))
        return NULL;
    hdr *old = (hdr *)p - 1;
    size_t oldn = old->size;
    hdr *h = realloc(old, sizeof(hdr) + n);
    if (!h)
        return NULL;
    h->size = n;
    mem->live_bytes -= oldn;
    account_add(mem, n);
    return h + 1;
}

void rly_free(rly_mem *mem, void *p)
{
    if (!p)
        return;
    if (!mem)
        mem = rly_mem_default();
    hdr *h = (hdr *)p - 1;
    mem->live_bytes -= h->size;
    free(h);
}

char *rly_strdup(rly_mem *mem, const char *s)
{
    return rly_memdup(mem, s, strlen(s) + 1);
}

void *rly_memdup(rly_mem *mem, const void *p, size_t n)
{
    void *d = rly_malloc(mem, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void rly_zeroize(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}
