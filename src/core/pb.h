/* pb.h: the protobuf wire-format field reader shared by the hand-rolled codecs (identify,
 * circuit relay). Protobuf varints differ from multiformats uvarints (varint.h): non-minimal
 * encodings and 64-bit values are allowed; only a 10th byte carrying more than bit 63 is bad. */
#ifndef RLY_CORE_PB_H
#define RLY_CORE_PB_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
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

/* A protobuf message checked as its bytes stream by, without keeping them: the same verdict as
 * reading it with rly_pb_next, in constant memory (an identify push the relay does not keep).
 * The members are private to pb.c. */
typedef struct rly_pb_scan {
    uint64_t left; /* bytes of the message not seen yet */
    uint64_t v;    /* the varint being read */
    uint64_t skip; /* bytes of the current value still to skip */
    uint8_t nv;    /* bytes of |v| so far */
    uint8_t state;
} rly_pb_scan;

/* rly_pb_scan_init prepares |sc| for a message of |len| bytes. */
void rly_pb_scan_init(rly_pb_scan *sc, uint64_t len);

/* rly_pb_scan_feed checks the next bytes of the message: it consumes min(|len|, bytes left) of
 * |in| (borrowed for the call). Returns the number consumed, or RLY_ERR_MALFORMED as soon as the
 * bytes so far cannot be the start of a valid message (then every later call returns it too). */
RLY_NODISCARD rly_ssize rly_pb_scan_feed(rly_pb_scan *sc, const uint8_t *in, size_t len);

/* rly_pb_scan_done returns 1 once the whole message was fed and is valid, 0 while bytes are
 * missing, or RLY_ERR_MALFORMED. */
RLY_NODISCARD int rly_pb_scan_done(const rly_pb_scan *sc);

/* Writers, for the codecs that build small messages field by field. |tag| is the field's key
 * byte (number << 3 | wire type; numbers 1..15). Varints cover all of uint64 (up to 10 bytes),
 * unlike multiformats uvarints. Each returns 0 or the dynbuf's error. */
RLY_NODISCARD int rly_pb_append_varint(rly_dynbuf *b, uint64_t v);
RLY_NODISCARD int rly_pb_append_uint(rly_dynbuf *b, uint8_t tag, uint64_t v);
RLY_NODISCARD int rly_pb_append_bytes(rly_dynbuf *b, uint8_t tag, const void *p, size_t n);

/* rly_pb_varint_len returns how many bytes rly_pb_append_varint writes for |v|. */
size_t rly_pb_varint_len(uint64_t v);

#endif
