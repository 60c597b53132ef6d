/* pb.h: the protobuf wire-format field reader shared by the hand-rolled codecs (identify,
 * circuit relay). Protobuf varints differ from multiformats uvarints (varint.h): non-minimal
 * encodings and 64-bit values are allowed; only a 10th byte carrying more than bit 63 is bad. */
#ifndef RLY_CORE_PB_H
#define RLY_CORE_PB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RLY_PB_WIRE_VARINT 0
#define RLY_PB_WIRE_I64 1
#define RLY_PB_WIRE_LEN 2
#define RLY_PB_WIRE_I32 5
/* Protobuf varints are at most 10 bytes; field numbers at most 2^29 - 1. */
#define RLY_PB_VARINT_MAX 10
#define RLY_PB_FIELD_MAX ((UINT64_C(1) << 29) - 1)

typedef struct rly_pb_field {
    uint32_t num;
    unsigned wire;
    uint64_t v;       /* RLY_PB_WIRE_VARINT: the value; RLY_PB_WIRE_LEN: the length */
    const uint8_t *p; /* RLY_PB_WIRE_LEN: the value, borrowed from the input */
    size_t len;
} rly_pb_field;

/* rly_pb_varint reads a protobuf varint at |*poff| of the |len| bytes at |p| and advances
 * |*poff|. Returns 0 or RLY_ERR_MALFORMED (truncated or longer than 64 bits). */
RLY_NODISCARD int rly_pb_varint(const uint8_t *p, size_t len, size_t *poff, uint64_t *pv);

/* rly_pb_next reads the field at |*poff| into |f| and advances |*poff|; fixed-width values are
 * skipped. Returns 1 (a field), 0 (end of input) or RLY_ERR_MALFORMED (bad key, field number 0,
 * truncated value, groups: wire types 3 and 4 are not used by libp2p messages). */
RLY_NODISCARD int rly_pb_next(const uint8_t *p, size_t len, size_t *poff, rly_pb_field *f);

#endif
