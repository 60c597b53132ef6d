/* The error space: names, classes, the fatal threshold; allocator accounting; dynbuf caps. */
#include <criterion/criterion.h>
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
