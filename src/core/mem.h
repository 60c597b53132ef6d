/* mem.h: the accounting allocator every module allocates through (STYLE.md D.3 rule 7).
 *
 * An rly_mem counts live and peak bytes (exported later as the rly_memory_bytes metric). In
 * builds with RLY_DEBUG_ALLOC (the ASan build) the environment variable RLY_FAILALLOC_NTH=N makes
 * the N-th allocation fail, for curl-style torture runs. There is one rly_mem per loop; the
 * process-wide default is returned by rly_mem_default().
 */
#ifndef RLY_CORE_MEM_H
#define RLY_CORE_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef struct rly_mem {
    size_t live_bytes;  /* bytes currently allocated through this allocator */
    size_t peak_bytes;  /* highest live_bytes seen */
    uint64_t nallocs;   /* successful allocations so far */
    uint64_t fail_nth;  /* 0: never fail; N: fail the N-th allocation (debug builds) */
    uint64_t nattempts; /* allocation attempts, counted for fail_nth */
} rly_mem;

/* rly_mem_default returns the process-wide allocator. Never NULL. */
rly_mem *rly_mem_default(void);

/* rly_mem_init sets up |mem| with zero counters. */
void rly_mem_init(rly_mem *mem);

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
