#include "core/mem.h"

#include <stdbool.h>

#include "core/err.h"
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RLY_MEM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RLY_MEM_ASAN 1
#endif
#if defined(RLY_MEM_ASAN)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Each block carries a header holding its size, so frees can be accounted, the free-list link
 * while the block sits in the cache, and the allocator it was handed out by (an account or the
 * root), so that a free through the wrong one is caught in debug builds. The header keeps
 * max_align_t alignment for the caller's pointer. */
typedef union hdr {
    struct {
        size_t size;
        union hdr *next; /* cache free list */
        rly_mem *owner;  /* while live */
    } h;
    max_align_t align;
} hdr;

static hdr *hdr_of(void *p)
{
    return (hdr *)p - 1;
}

/* check_owner: |p| must be freed or resized through the allocator it came from. */
static void check_owner(const rly_mem *mem, void *p)
{
#if defined(RLY_DEBUG_ALLOC)
    RLY_ASSERT(hdr_of(p)->h.owner == mem);
#else
    (void)mem;
    (void)p;
#endif
}

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
        default_mem.cache_max = RLY_MEM_CACHE_DEFAULT;
        default_ready = 1;
    }
    return &default_mem;
}

void rly_mem_init(rly_mem *mem)
{
    memset(mem, 0, sizeof(*mem));
}

/* The cache class of a block of |n| bytes, or -1 when blocks of that size are not cached. */
static int cache_class(size_t n)
{
    if (n < RLY_MEM_CACHE_MIN || n > RLY_MEM_CACHE_MAX || (n & (n - 1)) != 0)
        return -1;
    int k = 0;
    for (size_t v = n / RLY_MEM_CACHE_MIN; v > 1; v >>= 1)
        k++;
    return k;
}

static hdr *cache_pop(rly_mem *mem, size_t n)
{
    int k = cache_class(n);
    if (k < 0 || !mem->cache[k])
        return NULL;
    hdr *h = mem->cache[k];
    mem->cache[k] = h->h.next;
    mem->cached_bytes -= n;
    mem->cache_hits++;
    UNPOISON(h + 1, n);
    return h;
}

/* Keeps |h| (a block of |n| bytes) in the cache if it fits the budget; returns false if not. */
static bool cache_push(rly_mem *mem, hdr *h, size_t n)
{
    int k = cache_class(n);
    if (k < 0 || n > mem->cache_max || mem->cached_bytes > mem->cache_max - n)
        return false;
    h->h.next = mem->cache[k];
    mem->cache[k] = h;
    mem->cached_bytes += n;
    /* The header stays readable: LeakSanitizer does not follow pointers in poisoned memory, and
     * the free list runs through the headers. */
    POISON(h + 1, n);
    return true;
}

void rly_mem_set_cache(rly_mem *mem, size_t max_bytes)
{
    mem->cache_max = max_bytes;
    /* Release from the largest class down until the rest fits. */
    for (int k = RLY_MEM_CACHE_CLASSES - 1; k >= 0 && mem->cached_bytes > max_bytes; k--) {
        size_t n = (size_t)RLY_MEM_CACHE_MIN << k;
        while (mem->cache[k] && mem->cached_bytes > max_bytes) {
            hdr *h = mem->cache[k];
            UNPOISON(h + 1, n);
            mem->cache[k] = h->h.next;
            mem->cached_bytes -= n;
            free(h);
        }
    }
}

void rly_mem_trim(rly_mem *mem)
{
    size_t max = mem->cache_max;
    rly_mem_set_cache(mem, 0);
    mem->cache_max = max;
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

/* ---- accounts --------------------------------------------------------------------------- */

void rly_mem_init_account(rly_mem *acct, rly_mem *parent, size_t limit)
{
    rly_mem_init(acct);
    acct->parent = parent ? parent : rly_mem_default();
    acct->limit = limit;
}

rly_mem *rly_mem_root(rly_mem *mem)
{
    if (!mem)
        mem = rly_mem_default();
    while (mem->parent)
        mem = mem->parent;
    return mem;
}

void rly_mem_set_budget(rly_mem *mem, size_t bytes)
{
    rly_mem_root(mem)->budget = bytes;
}

bool rly_mem_admit(rly_mem *mem, rly_mem_work what)
{
    rly_mem *root = rly_mem_root(mem);
    if (root->budget == 0 || root->live_bytes <= root->budget)
        return true;
    if ((unsigned)what < RLY_MEM_WORK_COUNT)
        root->nrefused[what]++;
    return false;
}

/* over_limit: growing account |a| by |n| bytes would pass its limit. */
static bool over_limit(rly_mem *a, size_t n)
{
    if (a->limit == 0 || (n <= a->limit && a->live_bytes <= a->limit - n))
        return false;
    a->nlimited++;
    return true;
}

static void *account_malloc(rly_mem *a, size_t n)
{
    if (over_limit(a, n))
        return NULL;
    void *p = rly_malloc(a->parent, n);
    if (p) {
        hdr_of(p)->h.owner = a;
        account_add(a, n);
    }
    return p;
}

static void *account_realloc(rly_mem *a, void *p, size_t n)
{
    size_t oldn = hdr_of(p)->h.size;
    check_owner(a, p);
    if (n > oldn && over_limit(a, n - oldn))
        return NULL;
    hdr_of(p)->h.owner = a->parent;
    void *q = rly_realloc(a->parent, p, n);
    if (!q) {
        hdr_of(p)->h.owner = a;
        return NULL;
    }
    hdr_of(q)->h.owner = a;
    a->live_bytes -= oldn;
    account_add(a, n);
    return q;
}

static void account_free(rly_mem *a, void *p)
{
    check_owner(a, p);
    a->live_bytes -= hdr_of(p)->h.size;
    hdr_of(p)->h.owner = a->parent;
    rly_free(a->parent, p);
}

/* ---- allocation ---------------------------------------------------------------------------- */

void *rly_malloc(rly_mem *mem, size_t n)
{
    if (!mem)
        mem = rly_mem_default();
    if (mem->parent)
        return account_malloc(mem, n);
    if (n > SIZE_MAX - sizeof(hdr) || should_fail(mem))
        return NULL;
    hdr *h = cache_pop(mem, n);
    if (!h)
        h = malloc(sizeof(hdr) + n);
    if (!h)
        return NULL;
    h->h.size = n;
    h->h.owner = mem;
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
    if (mem->parent)
        return account_realloc(mem, p, n);
    check_owner(mem, p);
    if (n > SIZE_MAX - sizeof(hdr) || should_fail(mem))
        return NULL;
    hdr *old = (hdr *)p - 1;
    size_t oldn = old->h.size;
    hdr *h;
    if (mem->cache_max > 0 && (cache_class(oldn) >= 0 || cache_class(n) >= 0)) {
        /* Through the cache: a new block (maybe a cached one), the old one to the cache. */
        h = cache_pop(mem, n);
        if (!h)
            h = malloc(sizeof(hdr) + n);
        if (!h)
            return NULL;
        memcpy(h + 1, p, oldn < n ? oldn : n);
        if (!cache_push(mem, old, oldn))
            free(old);
    } else {
        h = realloc(old, sizeof(hdr) + n);
        if (!h)
            return NULL;
    }
    h->h.size = n;
    h->h.owner = mem;
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
    if (mem->parent) {
        account_free(mem, p);
        return;
    }
    check_owner(mem, p);
    hdr *h = (hdr *)p - 1;
    size_t n = h->h.size;
    mem->live_bytes -= n;
    if (!cache_push(mem, h, n))
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
