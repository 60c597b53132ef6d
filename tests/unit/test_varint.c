/* test_varint.c: unsigned varint codec (src/core/varint.c) against tests/vectors/varint.txt and
 * edge cases: the 9-byte / 2^63 cap, minimality, truncation at every byte. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>

#include "core/dynbuf.h"
#include "core/mem.h"
#include "core/varint.h"
#include "vecfile.h"

static void check_vector(const vec_line *l, void *ud)
{
    uint8_t in[32], out[RLY_VARINT_MAX_LEN];
    size_t n = vec_hex(l->f[0], in, sizeof(in));
    uint64_t v = 0;
    cr_assert_eq(l->nf, 2, "%s:%d: want 2 fields", l->file, l->lineno);
    rly_ssize rv = rly_varint_decode(in, n, &v);
    if (l->f[1][0] == '!') {
        cr_assert_eq(rv, vec_err(l->f[1]), "%s:%d: %s gave %td", l->file, l->lineno, l->f[0], rv);
        return;
    }
    uint64_t want = strtoull(l->f[1], NULL, 10);
    cr_assert_eq(rv, (rly_ssize)n, "%s:%d: consumed %td", l->file, l->lineno, rv);
    cr_assert_eq(v, want, "%s:%d: value %" PRIu64, l->file, l->lineno, v);
    /* The encoder must produce exactly the vector bytes: the minimal form is unique. */
    cr_assert_eq(rly_varint_len(want), n);
    cr_assert_eq(rly_varint_encode(out, sizeof(out), want), (rly_ssize)n);
    cr_assert_arr_eq(out, in, n);
    /* Every proper prefix is a truncation, never a shorter value. */
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(rly_varint_decode(in, k, &v), RLY_ERR_TRUNCATED);
    (*(int *)ud)++;
}

Test(varint, vectors)
{
    int nvalid = 0;
    int n = vec_each("varint.txt", check_vector, &nvalid);
    cr_assert_geq(n, 20);
    cr_assert_geq(nvalid, 10);
}

Test(varint, edge_values)
{
    uint8_t b[RLY_VARINT_MAX_LEN + 1];
    uint64_t v;
    cr_assert_eq(rly_varint_encode(b, sizeof(b), 0), 1);
    cr_assert_eq(b[0], 0);
    cr_assert_eq(rly_varint_encode(b, sizeof(b), 127), 1);
    cr_assert_eq(b[0], 0x7f);
    cr_assert_eq(rly_varint_encode(b, sizeof(b), 128), 2);
    cr_assert(b[0] == 0x80 && b[1] == 0x01);
    cr_assert_eq(rly_varint_encode(b, sizeof(b), RLY_VARINT_MAX_VALUE), 9);
    cr_assert_eq(rly_varint_decode(b, 9, &v), 9);
    cr_assert_eq(v, RLY_VARINT_MAX_VALUE);
    cr_assert_eq(rly_varint_encode(b, sizeof(b), RLY_VARINT_MAX_VALUE + 1), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_varint_encode(b, sizeof(b), UINT64_MAX), RLY_ERR_INVALID_ARG);
}

Test(varint, len_boundaries)
{
    cr_assert_eq(rly_varint_len(0), 1);
    for (unsigned k = 1; k <= 8; k++) {
        uint64_t edge = UINT64_C(1) << (7 * k);
        cr_assert_eq(rly_varint_len(edge - 1), k, "2^%u-1", 7 * k);
        cr_assert_eq(rly_varint_len(edge), k + 1, "2^%u", 7 * k);
    }
    cr_assert_eq(rly_varint_len(RLY_VARINT_MAX_VALUE), RLY_VARINT_MAX_LEN);
}

Test(varint, decode_errors)
{
    static const uint8_t non_min1[] = {0x81, 0x00}, non_min2[] = {0x80, 0x00};
    static const uint8_t ten[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t nine_more[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    uint64_t v = 42;
    cr_assert_eq(rly_varint_decode(NULL, 0, &v), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_varint_decode(non_min1, 2, &v), RLY_ERR_NON_MINIMAL);
    cr_assert_eq(rly_varint_decode(non_min2, 2, &v), RLY_ERR_NON_MINIMAL);
    /* Ten bytes, even ending in 00, is over the 9-byte cap before minimality matters. */
    cr_assert_eq(rly_varint_decode(ten, sizeof(ten), &v), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_varint_decode(nine_more, sizeof(nine_more), &v), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_varint_decode(nine_more, 8, &v), RLY_ERR_TRUNCATED);
    cr_assert_eq(v, 42, "failed decodes leave the output alone");
}

Test(varint, encode_nobuf)
{
    uint8_t b[RLY_VARINT_MAX_LEN];
    cr_assert_eq(rly_varint_encode(b, 0, 0), RLY_ERR_NOBUF);
    cr_assert_eq(rly_varint_encode(b, 1, 128), RLY_ERR_NOBUF);
    cr_assert_eq(rly_varint_encode(b, 8, RLY_VARINT_MAX_VALUE), RLY_ERR_NOBUF);
}

Test(varint, decode_stops_at_end_of_value)
{
    static const uint8_t two[] = {0xac, 0x02, 0x05, 0xff};
    uint64_t v;
    cr_assert_eq(rly_varint_decode(two, sizeof(two), &v), 2);
    cr_assert_eq(v, 300);
    cr_assert_eq(rly_varint_decode(two + 2, 2, &v), 1);
    cr_assert_eq(v, 5);
}

Test(varint, round_trip_many)
{
    /* A fixed-seed LCG (the libc generator is banned) over all magnitudes, and powers of two. */
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    for (int i = 0; i < 20000; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        uint64_t v = (x >> (i % 64)) & RLY_VARINT_MAX_VALUE;
        if (i < 63)
            v = UINT64_C(1) << i;
        uint8_t b[RLY_VARINT_MAX_LEN];
        uint64_t got;
        rly_ssize n = rly_varint_encode(b, sizeof(b), v);
        cr_assert_eq(n, (rly_ssize)rly_varint_len(v));
        cr_assert_eq(rly_varint_decode(b, (size_t)n, &got), n);
        cr_assert_eq(got, v);
    }
}

Test(varint, append)
{
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 4);
    cr_assert_eq(rly_varint_append(&b, 300), 0);
    cr_assert_eq(rly_varint_append(&b, 1), 0);
    cr_assert_eq(b.len, 3);
    cr_assert(b.data[0] == 0xac && b.data[1] == 0x02 && b.data[2] == 0x01);
    /* Two more bytes would pass the 4-byte cap: nothing is appended. */
    cr_assert_eq(rly_varint_append(&b, 128), RLY_ERR_NOBUF);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(rly_varint_append(&b, RLY_VARINT_MAX_VALUE + 1), RLY_ERR_INVALID_ARG);
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
