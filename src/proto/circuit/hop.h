/* hop.h: /libp2p/circuit/relay/0.2.0/hop, the relay (server) side of one hop stream, plus the
 * client's requests and reply parsing (PROTOCOLS.md 8.3-8.4; specs relay/circuit-v2.md).
 *
 * Server side, one rly_hop per hop stream, embedded in the stream's state:
 *
 *   READ_REQUEST --rly_hop_recv--> DECIDE --rly_hop_reply_*--> DONE
 *         |                          (the caller looks at rly_hop_get_request and decides)
 *         +--bad request, EOF, deadline--> REJECT --rly_hop_reply_err/_status--> DONE
 *
 * The module reads exactly one HopMessage and never consumes a byte past it (after a CONNECT
 * the stream becomes the relayed connection). A request it can judge by itself moves to REJECT
 * with the Status to send: a framing or protobuf error, a Peer without a valid id, a CONNECT
 * without a peer, EOF or the read deadline -> MALFORMED_MESSAGE (8.3 step 1, 8.4 step 3); type
 * STATUS or an unknown type -> MALFORMED_MESSAGE too, as go answers (js says
 * UNEXPECTED_MESSAGE; the error is still RLY_ERR_UNEXPECTED_MSG). A RESERVE or a CONNECT
 * with a valid target moves to DECIDE: relayed-connection check, ACL, reservation table and
 * limits are the caller's (src/relay), which then asks for the reply bytes. Replies are
 * appended, framed, to a caller's rly_dynbuf; the caller writes them and closes its write side.
 *
 * Sans-IO: no clock (the read deadline comes in as an absolute rly_tstamp and is pulled with
 * rly_hop_get_expiry), no I/O, allocation only in the message reader (at most
 * RLY_CIRCUIT_MAX_MSG bytes, released by rly_hop_free). */
#ifndef RLY_PROTO_CIRCUIT_HOP_H
#define RLY_PROTO_CIRCUIT_HOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "core/time.h"
#include "proto/circuit/circuit_pb.h"

#define RLY_HOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/hop"
/* Time a hop stream gets to deliver its request (go and rust: 60 s). */
#define RLY_HOP_READ_TIMEOUT (60 * RLY_NS_PER_S)

typedef enum rly_hop_state {
    RLY_HOP_READ_REQUEST = 0, /* feed the stream's bytes to rly_hop_recv */
    RLY_HOP_DECIDE = 1,       /* a RESERVE or CONNECT is in rly_hop_get_request: answer it */
    RLY_HOP_REJECT = 2,       /* the request was bad: rly_hop_get_status says what to answer */
    RLY_HOP_DONE = 3,         /* the reply is encoded; rly_hop_get_status is what it says */
} rly_hop_state;

/* Embedded in the hop stream's state; the members are private to hop.c. */
typedef struct rly_hop {
    rly_circuit_pb_reader reader;
    rly_circuit_hop_msg req;
    rly_hop_state state;
    bool has_request; /* |req| holds a RESERVE or a CONNECT with a valid peer */
    uint32_t status;  /* REJECT: the status to send; DONE: the status sent */
    int err;          /* REJECT: why */
    rly_tstamp deadline;
} rly_hop;

/* rly_hop_init prepares |h| to read a request until |deadline| (absolute, e.g. now +
 * RLY_HOP_READ_TIMEOUT; RLY_TSTAMP_MAX: none), allocating from |mem| (NULL: default). */
void rly_hop_init(rly_hop *h, rly_mem *mem, rly_tstamp deadline);

/* rly_hop_free releases |h|'s buffer; the request (and its views) become invalid. NULL-safe. */
void rly_hop_free(rly_hop *h);

/* rly_hop_recv feeds |len| bytes of |in| (borrowed) in READ_REQUEST. Returns the bytes consumed:
 * all of |in| while the request is incomplete, only up to its end once it is complete (the state
 * is then DECIDE; the caller keeps the rest). In any other state it consumes nothing and returns
 * 0, except in REJECT, where it returns the error again.
 * Errors (the state becomes REJECT, with the status to send in rly_hop_get_status):
 *   RLY_ERR_FRAME_TOO_LARGE, RLY_ERR_MALFORMED  framing or protobuf error, a Peer without a valid
 *                                               id, a CONNECT without a peer  -> 400;
 *   RLY_ERR_UNEXPECTED_MSG                      type STATUS or unknown        -> 401;
 *   RLY_ERR_NOMEM                                                             -> 203. */
RLY_NODISCARD rly_ssize rly_hop_recv(rly_hop *h, const uint8_t *in, size_t len);

/* rly_hop_handle_eof tells |h| the client closed its write side. Returns 0 unless READ_REQUEST,
 * where the state becomes REJECT (MALFORMED_MESSAGE, as go answers a failed read) and
 * RLY_ERR_TRUNCATED is returned. */
RLY_NODISCARD int rly_hop_handle_eof(rly_hop *h);

/* rly_hop_get_expiry returns the request deadline while READ_REQUEST, else RLY_TSTAMP_MAX. */
rly_tstamp rly_hop_get_expiry(const rly_hop *h);

/* rly_hop_handle_expiry checks the deadline at |now|. Returns 0, or RLY_ERR_TIMEOUT when it has
 * passed in READ_REQUEST: the state becomes REJECT with MALFORMED_MESSAGE (go answers so); the
 * caller may send that or simply reset the stream. */
RLY_NODISCARD int rly_hop_handle_expiry(rly_hop *h, rly_tstamp now);

/* rly_hop_get_state returns the state. */
rly_hop_state rly_hop_get_state(const rly_hop *h);

/* rly_hop_get_request returns the decoded request from DECIDE on (NULL before, and after a
 * bad request): type RLY_CIRCUIT_HOP_RESERVE, or RLY_CIRCUIT_HOP_CONNECT with |has_peer| set and
 * the target in |peer|. Owned by |h|, valid until rly_hop_free. */
const rly_circuit_hop_msg *rly_hop_get_request(const rly_hop *h);

/* rly_hop_get_status returns the status to send (REJECT) or sent (DONE); 0 otherwise. */
uint32_t rly_hop_get_status(const rly_hop *h);

/* rly_hop_reply_reservation accepts a RESERVE (8.3 step 2.5): appends HopMessage{type=STATUS,
 * status=OK, reservation=|rsv|, limit} to |out|. |limit| NULL, or with duration and data both 0,
 * means unlimited: Limit is omitted (8.2). Both pointers are borrowed for the call. The state
 * becomes DONE; on error nothing changes and |out| is unchanged.
 * Returns 0, RLY_ERR_INVALID_STATE (not DECIDE, or the request is not a RESERVE),
 * RLY_ERR_INVALID_ARG (|rsv| NULL, or refused by rly_circuit_pb_encode_hop), RLY_ERR_NOBUF or
 * RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_hop_reply_reservation(rly_hop *h, const rly_circuit_reservation *rsv,
                                            const rly_circuit_limit *limit, rly_dynbuf *out);

/* rly_hop_reply_connect reports a bridged CONNECT (8.4 step 9): appends HopMessage{type=STATUS,
 * status=OK, limit} (Limit omitted when unlimited, as above). The bridge starts after the caller
 * has written it.
 * Returns 0, RLY_ERR_INVALID_STATE (not DECIDE, or not a CONNECT), RLY_ERR_NOBUF or
 * RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_hop_reply_connect(rly_hop *h, const rly_circuit_limit *limit,
                                        rly_dynbuf *out);

/* rly_hop_reply_status refuses the request with |status| (any value but UNUSED and OK):
 * appends HopMessage{type=STATUS, status}. Allowed in DECIDE and REJECT (overriding the
 * module's choice). The state becomes DONE.
 * Returns 0, RLY_ERR_INVALID_STATE, RLY_ERR_INVALID_ARG (UNUSED or OK), RLY_ERR_NOBUF or
 * RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_hop_reply_status(rly_hop *h, uint32_t status, rly_dynbuf *out);

/* rly_hop_reply_err refuses the request because of |err|: in REJECT with the status the module
 * chose (|err| is not looked at), in DECIDE with rly_err_to_relay_status(|err|), e.g.
 * RLY_ERR_NO_RESERVATION -> NO_RESERVATION. Returns as rly_hop_reply_status, and
 * RLY_ERR_INVALID_ARG for |err| 0 in DECIDE. */
RLY_NODISCARD int rly_hop_reply_err(rly_hop *h, int err, rly_dynbuf *out);

/* Client side (our test client, or anything that reserves or dials through a relay). */

/* rly_hop_build_reserve appends the RESERVE request (framed: 02 08 00) to |out|.
 * Returns 0, RLY_ERR_NOBUF or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_hop_build_reserve(rly_dynbuf *out);

/* rly_hop_build_connect appends HopMessage{type=CONNECT, peer=Peer{id=|dst|}} to |out|.
 * Returns 0, RLY_ERR_INVALID_ARG (|dst| not a valid peer ID), RLY_ERR_NOBUF or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_hop_build_connect(const rly_peerid *dst, rly_dynbuf *out);

/* rly_hop_parse_reply decodes the relay's answer |msg| (|len| bytes, a body from
 * rly_circuit_pb_reader_recv) to a request of |request_type| into |reply|, whose bytes fields
 * point into |msg|. |reply| is filled whenever the message decodes, so a refusal's status can be
 * read from it.
 * Returns 0 (STATUS OK; for a RESERVE, |reply->reservation| is present), a decode error
 * (RLY_ERR_FRAME_TOO_LARGE, RLY_ERR_MALFORMED), RLY_ERR_UNEXPECTED_MSG (type is not STATUS),
 * rly_circuit_pb_status_to_err(status) for any other status (e.g. RLY_ERR_NO_RESERVATION), or
 * RLY_ERR_MALFORMED for an OK answer to a RESERVE without a reservation. */
RLY_NODISCARD int rly_hop_parse_reply(rly_circuit_hop_msg *reply, uint32_t request_type,
                                      const uint8_t *msg, size_t len);

#endif
