/* circuit_pb.h: Circuit Relay v2 messages, their length-prefixed framing and a reader that takes
 * exactly one message off a stream (PROTOCOLS.md 8.1-8.2; specs relay/circuit-v2.md).
 *
 *   HopMessage  { Type type = 1; Peer peer = 2; Reservation reservation = 3; Limit limit = 4;
 *                 Status status = 5; }          Type: RESERVE = 0, CONNECT = 1, STATUS = 2
 *   StopMessage { Type type = 1; Peer peer = 2; Limit limit = 3; Status status = 4; }
 *                                               Type: CONNECT = 0, STATUS = 1
 *   Peer        { bytes id = 1; repeated bytes addrs = 2; }
 *   Reservation { uint64 expire = 1; repeated bytes addrs = 2; bytes voucher = 3; }
 *   Limit       { uint32 duration = 1; uint64 data = 2; }
 *
 * On the wire each message is uvarint(len) || protobuf, with len <= RLY_CIRCUIT_MAX_MSG (go and
 * rust read no more). The codec is pure and allocation-free; only the reader allocates (one
 * buffer of at most RLY_CIRCUIT_MAX_MSG bytes).
 *
 * Presence (PROTOCOLS.md 8.2, interop critical): the encoder always writes |type| (even 0),
 * Peer.id and Reservation.expire, and writes |status|, |peer|, |reservation| and |limit| when
 * their has_ flag is set; Limit.duration / Limit.data only when non-zero (0 means "no limit").
 * The decoder reports whether type was present (|has_type|; an absent type reads as 0, which the
 * relay and the client refuse: the spec's type is required, as rust and js require it), skips
 * unknown fields (and known numbers carrying another wire type), and merges repeated embedded
 * messages as protobuf does.
 *
 * Decoding is strict where the relay depends on a value and lenient elsewhere:
 *  - a Peer without id, or whose id is not a valid peer-ID multihash (rly_peerid_from_bytes),
 *    fails the message with RLY_ERR_MALFORMED (rust's schema makes id required);
 *  - Peer.addrs are skipped without being stored: active relay is deprecated and the relay never
 *    dials (PROTOCOLS.md 8.5), so they cost nothing beyond the message cap;
 *  - Reservation.addrs that are empty or do not parse as binary multiaddrs are skipped (as go
 *    does), and entries past RLY_CIRCUIT_MAX_ADDRS are dropped.
 *
 * Decoded bytes fields (Reservation.addrs, Reservation.voucher) are views into the decoded
 * buffer: they stay valid only as long as that buffer does. The peer ID is copied. */
#ifndef RLY_PROTO_CIRCUIT_PB_H
#define RLY_PROTO_CIRCUIT_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/peerid.h"

/* Largest message body (the uvarint prefix not counted) sent or read: go and rust use 4096. */
#define RLY_CIRCUIT_MAX_MSG 4096
/* Most Reservation.addrs encoded or kept by the decoder. */
#define RLY_CIRCUIT_MAX_ADDRS 16

typedef enum rly_circuit_hop_type {
    RLY_CIRCUIT_HOP_RESERVE = 0,
    RLY_CIRCUIT_HOP_CONNECT = 1,
    RLY_CIRCUIT_HOP_STATUS = 2,
} rly_circuit_hop_type;

typedef enum rly_circuit_stop_type {
    RLY_CIRCUIT_STOP_CONNECT = 0,
    RLY_CIRCUIT_STOP_STATUS = 1,
} rly_circuit_stop_type;

typedef enum rly_circuit_status {
    RLY_CIRCUIT_STATUS_UNUSED = 0,
    RLY_CIRCUIT_STATUS_OK = 100,
    RLY_CIRCUIT_STATUS_RESERVATION_REFUSED = 200,
    RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED = 201,
    RLY_CIRCUIT_STATUS_PERMISSION_DENIED = 202,
    RLY_CIRCUIT_STATUS_CONNECTION_FAILED = 203,
    RLY_CIRCUIT_STATUS_NO_RESERVATION = 204,
    RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE = 400,
    RLY_CIRCUIT_STATUS_UNEXPECTED_MESSAGE = 401,
} rly_circuit_status;

/* A borrowed byte string. */
typedef struct rly_circuit_bytes {
    const uint8_t *p;
    size_t len;
} rly_circuit_bytes;

/* Limit. Seconds and bytes; 0 means no limit of that kind. The data limit applies per
 * direction (PROTOCOLS.md 8.2). */
typedef struct rly_circuit_limit {
    uint32_t duration;
    uint64_t data;
} rly_circuit_limit;

typedef struct rly_circuit_reservation {
    uint64_t expire; /* absolute UNIX time, seconds, UTC */
    size_t naddrs;
    rly_circuit_bytes addrs[RLY_CIRCUIT_MAX_ADDRS]; /* binary multiaddrs incl. /p2p/<relay> */
    rly_circuit_bytes voucher;                      /* signed envelope; len 0: absent */
} rly_circuit_reservation;

typedef struct rly_circuit_hop_msg {
    uint32_t type; /* rly_circuit_hop_type; other values are kept as received */
    bool has_type; /* decoded: the field was present (the encoder always writes it) */
    bool has_peer;
    bool has_reservation;
    bool has_limit;
    bool has_status;
    rly_peerid peer; /* Peer.id */
    rly_circuit_reservation reservation;
    rly_circuit_limit limit;
    uint32_t status; /* rly_circuit_status */
} rly_circuit_hop_msg;

typedef struct rly_circuit_stop_msg {
    uint32_t type; /* rly_circuit_stop_type; other values are kept as received */
    bool has_type; /* decoded: the field was present (the encoder always writes it) */
    bool has_peer;
    bool has_limit;
    bool has_status;
    rly_peerid peer; /* Peer.id */
    rly_circuit_limit limit;
    uint32_t status; /* rly_circuit_status */
} rly_circuit_stop_msg;

/* rly_circuit_pb_encode_hop appends uvarint(len) || HopMessage |m| (borrowed) to |out|, fields in
 * number order. |out| is unchanged on error.
 * Returns 0, RLY_ERR_INVALID_ARG (naddrs over RLY_CIRCUIT_MAX_ADDRS, an address that is empty or
 * not a valid binary multiaddr, a length without a pointer, an invalid peer ID), RLY_ERR_NOBUF
 * (body over RLY_CIRCUIT_MAX_MSG, or |out| would pass its max) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_circuit_pb_encode_hop(const rly_circuit_hop_msg *m, rly_dynbuf *out);

/* rly_circuit_pb_decode_hop parses one HopMessage body |pb| (|len| bytes, without the prefix)
 * into |m|, which is overwritten. Bytes fields of |m| point into |pb| (see above). On error |m| is
 * zeroed.
 * Returns 0, RLY_ERR_FRAME_TOO_LARGE (|len| over RLY_CIRCUIT_MAX_MSG) or RLY_ERR_MALFORMED
 * (truncated field, bad varint, field number 0, group or reserved wire type, Peer without a
 * valid id). */
RLY_NODISCARD int rly_circuit_pb_decode_hop(rly_circuit_hop_msg *m, const uint8_t *pb, size_t len);

/* rly_circuit_pb_encode_stop appends uvarint(len) || StopMessage |m| to |out|. Returns as
 * rly_circuit_pb_encode_hop. */
RLY_NODISCARD int rly_circuit_pb_encode_stop(const rly_circuit_stop_msg *m, rly_dynbuf *out);

/* rly_circuit_pb_decode_stop parses one StopMessage body. Returns as rly_circuit_pb_decode_hop. */
RLY_NODISCARD int rly_circuit_pb_decode_stop(rly_circuit_stop_msg *m, const uint8_t *pb,
                                             size_t len);

/* rly_circuit_pb_hop_equal returns true if |a| and |b| carry the same fields: what was present,
 * and the values of what was present (bytes compared by content). */
bool rly_circuit_pb_hop_equal(const rly_circuit_hop_msg *a, const rly_circuit_hop_msg *b);

/* rly_circuit_pb_stop_equal is rly_circuit_pb_hop_equal for StopMessages. */
bool rly_circuit_pb_stop_equal(const rly_circuit_stop_msg *a, const rly_circuit_stop_msg *b);

/* rly_circuit_pb_reservation_add_addr appends a view of |ma| (borrowed: it must outlive |r|'s
 * use) to |r|'s addresses. Returns 0 or RLY_ERR_NOBUF (already RLY_CIRCUIT_MAX_ADDRS). */
RLY_NODISCARD int rly_circuit_pb_reservation_add_addr(rly_circuit_reservation *r,
                                                      const rly_multiaddr *ma);

/* rly_circuit_pb_status_name returns the protobuf name of |status| ("OK", "NO_RESERVATION", ...)
 * or "UNKNOWN". Static, never NULL. */
const char *rly_circuit_pb_status_name(uint32_t status);

/* rly_circuit_pb_status_to_err maps a received status to the error a client reports:
 * OK -> 0, RESERVATION_REFUSED -> RLY_ERR_RESERVATION_REFUSED, RESOURCE_LIMIT_EXCEEDED ->
 * RLY_ERR_LIMIT, PERMISSION_DENIED -> RLY_ERR_PERMISSION_DENIED, NO_RESERVATION ->
 * RLY_ERR_NO_RESERVATION, MALFORMED_MESSAGE -> RLY_ERR_MALFORMED, UNEXPECTED_MESSAGE ->
 * RLY_ERR_UNEXPECTED_MSG, and CONNECTION_FAILED, UNUSED (absent) or unknown -> RLY_ERR_PROTO.
 * rly_err_to_relay_status maps each of these back to the same status, except UNUSED and unknown
 * values, which come back as CONNECTION_FAILED. */
int rly_circuit_pb_status_to_err(uint32_t status);

/* rly_err_to_relay_status maps an error to the Status a relay (or a stop target) answers with
 * (STYLE.md D.2): RLY_ERR_LIMIT -> RESOURCE_LIMIT_EXCEEDED (201), RLY_ERR_RESERVATION_REFUSED ->
 * RESERVATION_REFUSED (200), RLY_ERR_PERMISSION_DENIED -> PERMISSION_DENIED (202),
 * RLY_ERR_NO_RESERVATION -> NO_RESERVATION (204), RLY_ERR_MALFORMED -> MALFORMED_MESSAGE (400),
 * RLY_ERR_UNEXPECTED_MSG -> UNEXPECTED_MESSAGE (401), anything else (0 included) ->
 * CONNECTION_FAILED (203).
 * STYLE.md lists it with the err.h helpers, but core sits below proto and cannot know the relay's
 * Status codes, so it lives here, next to the enum it returns. The hop server maps a bad request
 * itself (rly_hop_recv): every framing or protobuf error becomes MALFORMED_MESSAGE there. */
rly_circuit_status rly_err_to_relay_status(int err);

/* Reads one length-prefixed message from a stream, chunk by chunk. The members are private to
 * circuit_pb.c. */
typedef struct rly_circuit_pb_reader {
    rly_dynbuf body; /* the body, reserved to its exact size once the prefix is known */
    uint64_t want;   /* body length, valid once |npfx| holds a complete prefix */
    uint8_t pfx[2];  /* uvarint prefix so far: <= 4096 needs at most 2 bytes */
    uint8_t npfx;    /* prefix bytes received */
    bool has_len;    /* the prefix is complete */
    bool is_done;    /* the whole message is in |body| */
    int err;         /* sticky error, 0 while fine */
} rly_circuit_pb_reader;

/* rly_circuit_pb_reader_init prepares |r|, allocating from |mem| (NULL: default) once the length
 * of a non-empty body is known. */
void rly_circuit_pb_reader_init(rly_circuit_pb_reader *r, rly_mem *mem);

/* rly_circuit_pb_reader_free releases |r|'s buffer; a message it returned becomes invalid.
 * NULL-safe. */
void rly_circuit_pb_reader_free(rly_circuit_pb_reader *r);

/* rly_circuit_pb_reader_recv consumes bytes of |in| (|len|, borrowed) up to the end of the one
 * message the reader takes, and never past it: bytes that follow belong to whatever runs on the
 * stream next (the relayed connection, PROTOCOLS.md 8.1), so the caller keeps |in| + the return
 * value onwards. Once the message is complete, |*pmsg| / |*pmsglen| give its body (a copy owned
 * by |r|, valid until rly_circuit_pb_reader_free; never NULL, even for an empty body); until then
 * |*pmsg| is NULL and all of |in| was consumed. Later calls consume nothing, return 0 and give the
 * same message again.
 * Returns the bytes consumed, or (sticky: every later call returns it again)
 * RLY_ERR_FRAME_TOO_LARGE (body over RLY_CIRCUIT_MAX_MSG: a prefix over 4096, or longer than 2
 * bytes), RLY_ERR_MALFORMED (non-minimal uvarint prefix) or RLY_ERR_NOMEM. */
RLY_NODISCARD rly_ssize rly_circuit_pb_reader_recv(rly_circuit_pb_reader *r, const uint8_t *in,
                                                   size_t len, const uint8_t **pmsg,
                                                   size_t *pmsglen);

#endif
