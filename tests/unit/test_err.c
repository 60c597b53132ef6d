/* The error space: names, classes, the fatal threshold; allocator accounting; dynbuf caps. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"

Test(err, names_and_classes)
{
    cr_assert_str_eq(rly_strerror(RLY_OK), "success");
    cr_assert_str_eq(rly_strerror(RLY_ERR_NOMEM), "out of memory");
    cr_assert_str_eq(rly_strerror(-12345), "unknown error");
    cr_assert(rly_err_is_fatal(RLY_ERR_NOMEM));
    cr_assert(rly_err_is_fatal(RLY_ERR_CRYPTO));
    cr_assert_not(rly_err_is_fatal(RLY_ERR_PROTO));
    cr_assert_eq(rly_err_class_of(RLY_ERR_AGAIN), RLY_ERR_CLASS_FLOW);
    cr_assert_eq(rly_err_class_of(RLY_ERR_MALFORMED), RLY_ERR_CLASS_PEER);
    cr_assert_eq(rly_err_class_of(RLY_ERR_LIMIT), RLY_ERR_CLASS_POLICY);
    cr_assert_eq(rly_err_class_of(RLY_ERR_CONFIG), RLY_ERR_CLASS_LOCAL);
    cr_assert_eq(rly_err_class_of(RLY_ERR_INTERNAL), RLY_ERR_CLASS_FATAL);
    cr_assert_eq(rly_err_class_of(0), RLY_ERR_CLASS_OK);
}

Test(mem, accounting)
{
    rly_mem m;
    rly_mem_init(&m);
    void *a = rly_malloc(&m, 100);
    void *b = rly_calloc(&m, 10, 10);
    cr_assert_eq(m.live_bytes, 200);
    a = rly_realloc(&m, a, 300);
    cr_assert_eq(m.live_bytes, 400);
    cr_assert_eq(m.peak_bytes, 400);
    rly_free(&m, a);
    rly_free(&m, b);
    rly_free(&m, NULL);
    cr_assert_eq(m.live_bytes, 0);
    cr_assert_null(rly_calloc(&m, SIZE_MAX / 2, 4), "overflow is refused");
}

Test(mem, account_counts_in_itself_and_its_parent_and_caps_itself)
{
    rly_mem root, a;
    rly_mem_init(&root);
    rly_mem_init_account(&a, &root, 1000);
    cr_assert_eq(rly_mem_root(&a), &root);
    void *x = rly_malloc(&a, 600);
    cr_assert_not_null(x);
    cr_assert_eq(a.live_bytes, 600);
    cr_assert_eq(root.live_bytes, 600);
    cr_assert_null(rly_malloc(&a, 401), "past the account's limit");
    cr_assert_eq(a.nlimited, 1);
    void *y = rly_calloc(&a, 4, 100);
    cr_assert_not_null(y, "exactly at the limit is allowed");
    cr_assert_eq(a.live_bytes, 1000);
    cr_assert_null(rly_realloc(&a, x, 601), "growing past the limit");
    cr_assert_eq(a.nlimited, 2);
    memset(x, 0x5a, 600); /* the old block is still ours */
    x = rly_realloc(&a, x, 100);
    cr_assert_not_null(x, "shrinking always fits");
    cr_assert_eq(a.live_bytes, 500);
    cr_assert_eq(root.live_bytes, 500);
    cr_assert_eq(((uint8_t *)x)[99], 0x5a);
    rly_free(&a, x);
    rly_free(&a, y);
    cr_assert_eq(a.live_bytes, 0);
    cr_assert_eq(root.live_bytes, 0);
    cr_assert_eq(a.peak_bytes, 1000);
}

Test(mem, nested_accounts_and_the_parents_cache)
{
    rly_mem root, conn, stream;
    rly_mem_init(&root);
    rly_mem_set_cache(&root, 2 * RLY_MEM_CACHE_MIN);
    rly_mem_init_account(&conn, &root, 0);
    rly_mem_init_account(&stream, &conn, RLY_MEM_CACHE_MIN);
    cr_assert_eq(rly_mem_root(&stream), &root);
    void *b = rly_malloc(&stream, RLY_MEM_CACHE_MIN);
    cr_assert_not_null(b);
    cr_assert_eq(conn.live_bytes, RLY_MEM_CACHE_MIN);
    cr_assert_eq(root.live_bytes, RLY_MEM_CACHE_MIN);
    rly_free(&stream, b);
    cr_assert_eq(root.cached_bytes, RLY_MEM_CACHE_MIN, "the block went back to the root's cache");
    void *c = rly_malloc(&conn, RLY_MEM_CACHE_MIN);
    cr_assert_eq(root.cache_hits, 1);
    c = rly_realloc(&conn, c, 2 * RLY_MEM_CACHE_MIN);
    cr_assert_not_null(c);
    cr_assert_eq(conn.live_bytes, 2 * RLY_MEM_CACHE_MIN);
    rly_free(&conn, c);
    cr_assert_eq(root.live_bytes + conn.live_bytes + stream.live_bytes, 0);
    rly_mem_trim(&root);
}

Test(mem, budget_refuses_new_work_while_over_and_recovers)
{
    rly_mem root, a;
    rly_mem_init(&root);
    rly_mem_init_account(&a, &root, 0);
    cr_assert(rly_mem_admit(&a, RLY_MEM_WORK_STREAM), "no budget: always admitted");
    rly_mem_set_budget(&a, 1000); /* set on the root */
    cr_assert_eq(root.budget, 1000);
    void *x = rly_malloc(&a, 1000);
    cr_assert(rly_mem_admit(&root, RLY_MEM_WORK_CONNECTION), "at the budget is fine");
    void *y = rly_malloc(&root, 1);
    cr_assert_not(rly_mem_admit(&a, RLY_MEM_WORK_STREAM));
    cr_assert_not(rly_mem_admit(&root, RLY_MEM_WORK_CIRCUIT));
    cr_assert_not(rly_mem_admit(&root, RLY_MEM_WORK_CIRCUIT));
    cr_assert_not_null(y, "the budget refuses work, never an allocation");
    cr_assert_eq(root.nrefused[RLY_MEM_WORK_STREAM], 1);
    cr_assert_eq(root.nrefused[RLY_MEM_WORK_CIRCUIT], 2);
    cr_assert_eq(root.nrefused[RLY_MEM_WORK_CONNECTION], 0);
    rly_free(&root, y);
    cr_assert(rly_mem_admit(&a, RLY_MEM_WORK_RESERVATION), "back under the budget");
    cr_assert_eq(root.nrefused[RLY_MEM_WORK_RESERVATION], 0);
    rly_free(&a, x);
    rly_mem_set_budget(&root, 0);
    cr_assert(rly_mem_admit(&root, RLY_MEM_WORK_STREAM));
}

#if defined(RLY_DEBUG_ALLOC)
Test(mem, a_block_freed_through_another_allocator_is_caught, .signal = SIGABRT)
{
    rly_mem root, a;
    rly_mem_init(&root);
    rly_mem_init_account(&a, &root, 0);
    void *x = rly_malloc(&a, 10);
    rly_free(&root, x); /* not through its account */
}
#endif

Test(mem, fail_nth)
{
    rly_mem m;
    rly_mem_init(&m);
    m.fail_nth = 2;
    void *a = rly_malloc(&m, 8);
    cr_assert_not_null(a);
    cr_assert_null(rly_malloc(&m, 8));
    void *c = rly_malloc(&m, 8);
    cr_assert_not_null(c);
    rly_free(&m, a);
    rly_free(&m, c);
    cr_assert_eq(m.live_bytes, 0);
}

Test(mem, cache_reuses_large_blocks_within_its_budget)
{
    rly_mem m;
    rly_mem_init(&m);
    cr_assert_eq(m.cache_max, 0, "a fresh allocator caches nothing");
    rly_mem_set_cache(&m, 3 * RLY_MEM_CACHE_MIN);

    /* A class size comes back as the same block. */
    uint8_t *a = rly_malloc(&m, RLY_MEM_CACHE_MIN);
    cr_assert_not_null(a);
    memset(a, 0xab, RLY_MEM_CACHE_MIN);
    rly_free(&m, a);
    cr_assert_eq(m.live_bytes, 0);
    cr_assert_eq(m.cached_bytes, RLY_MEM_CACHE_MIN);
    uint8_t *b = rly_calloc(&m, 1, RLY_MEM_CACHE_MIN);
    cr_assert_eq(b, a);
    cr_assert_eq(m.cache_hits, 1);
    cr_assert_eq(m.cached_bytes, 0);
    cr_assert_eq(b[0], 0, "calloc zeroes a cached block");
    cr_assert_eq(b[RLY_MEM_CACHE_MIN - 1], 0);

    /* Other sizes are not cached: below the minimum, above the maximum, not a power of two. */
    void *small = rly_malloc(&m, RLY_MEM_CACHE_MIN / 2);
    void *odd = rly_malloc(&m, RLY_MEM_CACHE_MIN + 1);
    rly_free(&m, small);
    rly_free(&m, odd);
    cr_assert_eq(m.cached_bytes, 0);
    void *huge = rly_malloc(&m, 2 * RLY_MEM_CACHE_MAX);
    rly_free(&m, huge);
    cr_assert_eq(m.cached_bytes, 0);

    /* The budget: a 2x block fits beside b's, the next one does not. */
    void *c = rly_malloc(&m, 2 * RLY_MEM_CACHE_MIN);
    void *d = rly_malloc(&m, RLY_MEM_CACHE_MIN);
    rly_free(&m, b);
    rly_free(&m, c);
    cr_assert_eq(m.cached_bytes, 3 * RLY_MEM_CACHE_MIN);
    rly_free(&m, d);
    cr_assert_eq(m.cached_bytes, 3 * RLY_MEM_CACHE_MIN, "over the budget: released");

    /* A smaller budget releases the largest blocks first; trim releases all. */
    rly_mem_set_cache(&m, 2 * RLY_MEM_CACHE_MIN);
    cr_assert_eq(m.cached_bytes, RLY_MEM_CACHE_MIN);
    rly_mem_trim(&m);
    cr_assert_eq(m.cached_bytes, 0);
    cr_assert_eq(m.cache_max, 2 * RLY_MEM_CACHE_MIN, "trim keeps the budget");
    cr_assert_eq(m.live_bytes, 0);
}

Test(mem, cache_realloc_keeps_the_data)
{
    rly_mem m;
    rly_mem_init(&m);
    rly_mem_set_cache(&m, RLY_MEM_CACHE_DEFAULT);
    /* Grow by doubling from a small block, as the I/O buffers do: into, through and out of the
     * cached sizes, and back down. */
    size_t n = 4096;
    uint8_t *p = rly_malloc(&m, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31u);
    while (n < 2 * RLY_MEM_CACHE_MAX) {
        p = rly_realloc(&m, p, 2 * n);
        cr_assert_not_null(p);
        for (size_t i = n; i < 2 * n; i++)
            p[i] = (uint8_t)(i * 31u);
        n *= 2;
        cr_assert_eq(m.live_bytes, n);
    }
    p = rly_realloc(&m, p, RLY_MEM_CACHE_MIN);
    n = RLY_MEM_CACHE_MIN;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[i], (uint8_t)(i * 31u), "byte %zu", i);
    cr_assert_gt(m.cached_bytes, 0, "the outgrown blocks were kept");
    rly_free(&m, p);
    cr_assert_eq(m.live_bytes, 0);
    rly_mem_trim(&m);
}

Test(mem, cache_counts_toward_fail_nth)
{
    rly_mem m;
    rly_mem_init(&m);
    rly_mem_set_cache(&m, RLY_MEM_CACHE_DEFAULT);
    rly_free(&m, rly_malloc(&m, RLY_MEM_CACHE_MIN));
    m.fail_nth = m.nattempts + 1;
    cr_assert_null(rly_malloc(&m, RLY_MEM_CACHE_MIN), "a cached block does not bypass fail_nth");
    cr_assert_eq(m.cached_bytes, RLY_MEM_CACHE_MIN);
    rly_mem_trim(&m);
}

Test(dynbuf, cap_is_enforced)
{
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 8);
    cr_assert_eq(rly_dynbuf_append(&b, "12345678", 8), 0);
    cr_assert_eq(rly_dynbuf_append_byte(&b, '9'), RLY_ERR_NOBUF);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(rly_dynbuf_cstr(&b), "12345678");
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(dynbuf, small_buffer_moves_to_heap)
{
    uint8_t small[4];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), NULL, 1024);
    cr_assert_eq(rly_dynbuf_append_str(&b, "abc"), 0);
    cr_assert_eq(b.data, small);
    cr_assert_not(b.is_allocated);
    cr_assert_eq(rly_dynbuf_appendf(&b, "%s-%d", "defghij", 42), 0);
    cr_assert(b.is_allocated);
    cr_assert_str_eq(rly_dynbuf_cstr(&b), "abcdefghij-42");
    rly_dynbuf_truncate(&b, 3);
    cr_assert_str_eq(rly_dynbuf_cstr(&b), "abc");
    rly_dynbuf_reset(&b);
    cr_assert_str_eq(rly_dynbuf_cstr(&b), "");
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(dynbuf, long_formatted_text)
{
    rly_dynbuf b;
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    rly_dynbuf_init(&b, NULL, 2000);
    cr_assert_eq(rly_dynbuf_appendf(&b, "<%s>", big), 0);
    cr_assert_eq(b.len, 601);
    cr_assert_eq(rly_dynbuf_appendf(&b, "%s%s%s", big, big, big), RLY_ERR_NOBUF);
    cr_assert_eq(b.len, 601);
    rly_dynbuf_free(&b);
}
