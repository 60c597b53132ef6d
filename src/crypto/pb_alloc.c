#include "crypto/pb_alloc.h"

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Each block is prefixed with its size so a secret block can be wiped in full on free; the union
 * keeps the caller's pointer max_align_t aligned. */
typedef union blk_hdr {
    size_t size;
    max_align_t align;
} blk_hdr;

static void *pb_alloc(void *data, size_t size)
{
    rly_pb_alloc *a = data;
    blk_hdr *h = NULL;
    if (size <= SIZE_MAX - sizeof(*h))
        h = rly_malloc(a->mem, sizeof(*h) + size);
    if (!h) {
        a->has_failed = true;
        return NULL;
    }
    h->size = size;
    return h + 1;
}

static void pb_free(void *data, void *p)
{
    rly_pb_alloc *a = data;
    if (!p)
        return;
    blk_hdr *h = (blk_hdr *)p - 1;
    if (a->is_secret)
        rly_zeroize(p, h->size);
    rly_free(a->mem, h);
}

void rly_pb_alloc_init(rly_pb_alloc *a, rly_mem *mem, bool is_secret)
{
    a->base.alloc = pb_alloc;
    a->base.free = pb_free;
    a->base.allocator_data = a;
    a->mem = mem ? mem : rly_mem_default();
    a->is_secret = is_secret;
    a->has_failed = false;
}

int rly_pb_alloc_unpack_error(const rly_pb_alloc *a)
{
    return a->has_failed ? RLY_ERR_NOMEM : RLY_ERR_MALFORMED;
}
