/* mem.h: the accounting allocator every module allocates through (STYLE.md D.3 rule 7).
 *
 * An rly_mem counts live and peak bytes (exported later as the rly_memory_bytes metric). In
 * builds with RLY_DEBUG_ALLOC (the ASan build) the environment variable RLY_FAILALLOC_NTH=N makes
 * the N-th allocation fail, for curl-style torture runs. There is one rly_mem per loop; the
 * process-wide default is returned by rly_mem_default().
 */
#ifndef RLY_CORE_MEM_H
#define RLY_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large-block cache. Freed blocks whose size is a power of two from RLY_MEM_CACHE_MIN to
 * RLY_MEM_CACHE_MAX (the sizes of the growing I/O buffers: connection output, Yamux send queues,
 * circuit buffers) are kept on one free list per size, up to |cache_max| bytes in all, and handed
 * out again by the next allocation of that size. A busy connection frees and reallocates such
 * buffers with every burst; straight through malloc, blocks of 128 KiB and more are mmapped or
 * trimmed back to the kernel each time and every reuse faults its pages in again (measured: a
 * third of the relay's CPU time through one circuit). Cached blocks are poisoned under ASan, so a
 * use after free is still caught. */
#define RLY_MEM_CACHE_MIN (16u * 1024u)
#define RLY_MEM_CACHE_MAX (1024u * 1024u)
#define RLY_MEM_CACHE_CLASSES 7 /* 16 KiB .. 1 MiB */
#define RLY_MEM_CACHE_DEFAULT (4u * 1024u * 1024u)

/* Kinds of new work the process-wide memory budget guards (rly_mem_admit). */
typedef enum rly_mem_work {
    RLY_MEM_WORK_CONNECTION = 0, /* an inbound connection (TCP accept, QUIC Initial) */
    RLY_MEM_WORK_STREAM,         /* a stream the peer opened */
    RLY_MEM_WORK_RESERVATION,    /* a RESERVE request */
    RLY_MEM_WORK_CIRCUIT,        /* a CONNECT request */
    RLY_MEM_WORK_COUNT
} rly_mem_work;

typedef struct rly_mem rly_mem;

struct rly_mem {
    size_t live_bytes;   /* bytes currently allocated through this allocator */
    size_t peak_bytes;   /* highest live_bytes seen */
    uint64_t nallocs;    /* successful allocations so far */
    uint64_t fail_nth;   /* 0: never fail; N: fail the N-th allocation (debug builds) */
    uint64_t nattempts;  /* allocation attempts, counted for fail_nth */
    size_t cache_max;    /* bytes of freed large blocks kept for reuse; 0: no cache */
    size_t cached_bytes; /* bytes on the free lists now (not in live_bytes) */
    uint64_t cache_hits; /* allocations served from the cache */
    void *cache[RLY_MEM_CACHE_CLASSES]; /* one free list per size */
    /* An account (rly_mem_init_account): its blocks come from |parent|, where they count too. */
    rly_mem *parent;
    size_t limit;      /* an account's cap on live_bytes; 0: none */
    uint64_t nlimited; /* allocations refused at |limit| */
    /* The budget of rly_mem_admit (on the root allocator): 0 means none. */
    size_t budget;
    uint64_t nrefused[RLY_MEM_WORK_COUNT]; /* new work refused over the budget, by kind */
};

/* rly_mem_default returns the process-wide allocator, with a cache of RLY_MEM_CACHE_DEFAULT
 * bytes. Never NULL. */
rly_mem *rly_mem_default(void);

/* rly_mem_init sets up |mem| with zero counters and no cache. */
void rly_mem_init(rly_mem *mem);

/* rly_mem_set_cache sets the cache budget to |max_bytes| (0: none), releasing cached blocks
 * beyond it. */
void rly_mem_set_cache(rly_mem *mem, size_t max_bytes);

/* rly_mem_trim releases every cached block to the system (the budget stays). */
void rly_mem_trim(rly_mem *mem);

/* rly_mem_init_account sets up |acct| as an account inside |parent| (borrowed; must outlive
 * |acct|): what is allocated from |acct| comes from |parent| and counts in both, and |acct| refuses
 * (NULL, RLY_ERR_NOMEM to its callers) any allocation that would take its live_bytes past |limit|
 * (0: no limit). A connection's modules allocate from its account, so one peer cannot make the
 * relay hold more than the connection's cap. Blocks must be freed through the account they came
 * from (checked in debug builds) and all of them before |acct| goes away. */
void rly_mem_init_account(rly_mem *acct, rly_mem *parent, size_t limit);

/* rly_mem_set_budget sets the live bytes above which rly_mem_admit refuses new work (0: never),
 * on the root of |mem|'s accounts. */
void rly_mem_set_budget(rly_mem *mem, size_t bytes);

/* rly_mem_admit decides whether new work of kind |what| may start: false while the root of
 * |mem|'s accounts holds more than its budget, and then the refusal is counted in the root's
 * nrefused[|what|]. Memory freed later makes it true again. */
bool rly_mem_admit(rly_mem *mem, rly_mem_work what);

/* rly_mem_root returns the allocator at the top of |mem|'s accounts (|mem| itself if it is no
 * account; NULL: the default). */
rly_mem *rly_mem_root(rly_mem *mem);

/* rly_malloc allocates |n| bytes from |mem| (NULL: the default). Returns NULL on failure. A
 * zero-byte request returns a valid, unique pointer. */
void *rly_malloc(rly_mem *mem, size_t n);

/* rly_calloc allocates zeroed memory for |count| * |size| bytes, NULL on failure or overflow. */
void *rly_calloc(rly_mem *mem, size_t count, size_t size);

/* rly_realloc resizes |p| (NULL: allocate) to |n| bytes. On failure returns NULL and |p| stays
 * valid. */
void *rly_realloc(rly_mem *mem, void *p, size_t n);

/* rly_free releases |p| (NULL is fine). |mem| must be the allocator |p| came from. */
void rly_free(rly_mem *mem, void *p);

/* rly_strdup copies the NUL-terminated |s|. NULL on failure. */
char *rly_strdup(rly_mem *mem, const char *s);

/* rly_memdup copies |n| bytes of |p|. NULL on failure. */
void *rly_memdup(rly_mem *mem, const void *p, size_t n);

/* rly_zeroize wipes |n| bytes at |p| in a way the compiler may not remove. For keys and
 * secrets, on every exit path. */
void rly_zeroize(void *p, size_t n);

#endif
