/* pb_alloc.h: internal to src/crypto. A ProtobufCAllocator that routes protobuf-c's allocations
 * through rly_mem, so unpacked messages are accounted like everything else (STYLE.md D.3 rule 7).
 *
 * It also remembers whether an allocation failed: protobuf-c's unpack returns NULL both for bad
 * input and for exhausted memory, and callers need to tell RLY_ERR_MALFORMED from
 * RLY_ERR_NOMEM. In secret mode every block is wiped before it is freed, because protobuf-c
 * copies bytes fields (private key material) into blocks it frees itself. */
#ifndef RLY_CRYPTO_PB_ALLOC_H
#define RLY_CRYPTO_PB_ALLOC_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "core/mem.h"

typedef struct rly_pb_alloc {
    ProtobufCAllocator base; /* handed to protobuf-c; its allocator_data points to this struct */
    rly_mem *mem;
    bool is_secret;  /* wipe every block before freeing it */
    bool has_failed; /* an allocation returned NULL since init */
} rly_pb_alloc;

/* rly_pb_alloc_init prepares |a| to allocate from |mem| (NULL: default). With |is_secret| every
 * block is zeroized before it is freed. Pass &a->base to the protobuf-c unpack and free calls;
 * |a| must outlive every message unpacked with it. */
void rly_pb_alloc_init(rly_pb_alloc *a, rly_mem *mem, bool is_secret);

/* rly_pb_alloc_unpack_error returns the code for a failed (NULL) unpack: RLY_ERR_NOMEM if an
 * allocation failed, RLY_ERR_MALFORMED otherwise. */
int rly_pb_alloc_unpack_error(const rly_pb_alloc *a);

#endif
