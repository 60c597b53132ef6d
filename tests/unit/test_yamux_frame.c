/* test_yamux_frame.c: the Yamux header codec (src/proto/yamux/yamux_frame.c) against
 * tests/vectors/yamux/frames.txt, plus every version and type byte. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "proto/yamux/yamux_frame.h"
#include "vecfile.h"

static void check_vector(const vec_line *l, void *ud)
{
    uint8_t in[RLY_YAMUX_FRAME_LEN], out[RLY_YAMUX_FRAME_LEN];
    cr_assert_eq(l->nf, 2, "%s:%d: want 2 fields", l->file, l->lineno);
    cr_assert_eq(vec_hex(l->f[0], in, sizeof(in)), RLY_YAMUX_FRAME_LEN, "%s:%d", l->file,
                 l->lineno);
    rly_yamux_frame f;
    int rv = rly_yamux_frame_decode(&f, in);
    if (l->f[1][0] == '!') {
        cr_assert_str_eq(l->f[1], "!proto");
        cr_assert_eq(rv, RLY_ERR_PROTO, "%s:%d: %s decoded", l->file, l->lineno, l->f[0]);
        return;
    }
    unsigned type, flags;
    unsigned long id, len;
    cr_assert_eq(sscanf(l->f[1], "%u %u %lu %lu", &type, &flags, &id, &len), 4);
    cr_assert_eq(rv, 0, "%s:%d: %s", l->file, l->lineno, rly_strerror(rv));
    cr_assert_eq(f.type, type, "%s:%d", l->file, l->lineno);
    cr_assert_eq(f.flags, flags, "%s:%d", l->file, l->lineno);
    cr_assert_eq(f.stream_id, id, "%s:%d", l->file, l->lineno);
    cr_assert_eq(f.length, len, "%s:%d", l->file, l->lineno);
    rly_yamux_frame_encode(out, &f);
    cr_assert_arr_eq(out, in, sizeof(in), "%s:%d: re-encoding differs", l->file, l->lineno);
    (*(int *)ud)++;
}

Test(yamux_frame, vectors)
{
    int nvalid = 0;
    int n = vec_each("yamux/frames.txt", check_vector, &nvalid);
    cr_assert_geq(n, 15);
    cr_assert_geq(nvalid, 10);
}

Test(yamux_frame, every_version_and_type)
{
    uint8_t in[RLY_YAMUX_FRAME_LEN] = {0};
    rly_yamux_frame f;
    for (unsigned v = 0; v < 256; v++) {
        for (unsigned t = 0; t < 256; t++) {
            in[0] = (uint8_t)v;
            in[1] = (uint8_t)t;
            int want = v == 0 && t <= RLY_YAMUX_TYPE_GO_AWAY ? 0 : RLY_ERR_PROTO;
            cr_assert_eq(rly_yamux_frame_decode(&f, in), want, "version %u type %u", v, t);
            cr_assert_eq(f.type, t);
        }
    }
}

Test(yamux_frame, encode_fields)
{
    rly_yamux_frame f = {.type = RLY_YAMUX_TYPE_DATA,
                         .flags = RLY_YAMUX_FLAG_SYN | RLY_YAMUX_FLAG_FIN,
                         .stream_id = 0x01020304,
                         .length = 0x0a0b0c0d};
    uint8_t out[RLY_YAMUX_FRAME_LEN];
    const uint8_t want[RLY_YAMUX_FRAME_LEN] = {0, 0, 0, 5, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d};
    rly_yamux_frame_encode(out, &f);
    cr_assert_arr_eq(out, want, sizeof(want));
}
