/* circuit_util.h: helpers shared by test_circuit_pb.c, test_hop.c and test_stop.c: the named wire
 * vectors of tests/vectors/circuit/wire.txt, peer IDs of the test keys, and feeding framed bytes
 * through a reader in chunks. Header-only and static; include after <criterion/criterion.h>. */
#ifndef RLY_TEST_CIRCUIT_UTIL_H
#define RLY_TEST_CIRCUIT_UTIL_H

#include <string.h>

#include "core/mem.h"
#include "core/peerid.h"
#include "proto/circuit/circuit_pb.h"
#include "vecfile.h"

/* The Ed25519 test key of tests/vectors/peerid.txt. */
#define ED25519_PEER "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define RSA_PEER "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk"
/* Bytes large enough for any framed message and a tail. */
#define WIRE_MAX (2 + RLY_CIRCUIT_MAX_MSG + 64)

static inline void end_check(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leak: %zu bytes",
                 rly_mem_default()->live_bytes);
}

typedef struct wire_find {
    const char *name;
    uint8_t *out;
    size_t cap;
    size_t len;
    bool found;
} wire_find;

static inline void wire_row(const vec_line *l, void *ud)
{
    wire_find *w = ud;
    cr_assert_eq(l->nf, 2, "%s:%d: want 2 fields", l->file, l->lineno);
    if (strcmp(l->f[0], w->name) == 0) {
        w->len = vec_hex(l->f[1], w->out, w->cap);
        w->found = true;
    }
}

/* wire loads the named vector of circuit/wire.txt into |out| and returns its length. */
static inline size_t wire(const char *name, uint8_t *out, size_t cap)
{
    wire_find w = {.name = name, .out = out, .cap = cap};
    (void)vec_each("circuit/wire.txt", wire_row, &w);
    cr_assert(w.found, "no wire vector %s", name);
    return w.len;
}

static inline rly_peerid peer(const char *text)
{
    rly_peerid pid;
    cr_assert_eq(rly_peerid_parse(&pid, text, strlen(text)), 0);
    return pid;
}

/* feed runs |n| bytes of |p| through |r| in pieces of |chunk| bytes (0: all at once) until the
 * message is complete or the reader fails. Returns the reader's error, or the bytes consumed;
 * |*pmsg| / |*pmsglen| give the message (NULL while incomplete). Checks on the way that the
 * reader takes all of an incomplete piece and never more than it was given. */
static inline rly_ssize feed(rly_circuit_pb_reader *r, const uint8_t *p, size_t n, size_t chunk,
                             const uint8_t **pmsg, size_t *pmsglen)
{
    size_t off = 0;
    *pmsg = NULL;
    *pmsglen = 0;
    while (off < n && !*pmsg) {
        size_t c = chunk == 0 || chunk > n - off ? n - off : chunk;
        rly_ssize k = rly_circuit_pb_reader_recv(r, p + off, c, pmsg, pmsglen);
        if (k < 0)
            return k;
        cr_assert((size_t)k <= c);
        cr_assert(*pmsg || (size_t)k == c, "an incomplete message must take the whole piece");
        off += (size_t)k;
    }
    return (rly_ssize)off;
}

#endif
