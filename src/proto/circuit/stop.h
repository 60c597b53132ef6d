/* stop.h: /libp2p/circuit/relay/0.2.0/stop. The relay opens a stop stream to a CONNECT's target,
 * sends StopMessage{CONNECT, peer=source, limit} and waits for STATUS OK; the target side (our
 * test client) parses that CONNECT and answers (PROTOCOLS.md 8.4 steps 7-8; specs
 * relay/circuit-v2.md "Stop Protocol").
 *
 * Relay side, one rly_stop per stop stream:
 *
 *   IDLE --rly_stop_connect--> READ_REPLY --rly_stop_recv--> DONE     (STATUS OK: bridge)
 *                                   |
 *                                   +--anything else, EOF, deadline--> FAILED
 *
 * On FAILED the caller resets the stop stream and answers the source CONNECTION_FAILED
 * (rly_hop_reply_status), as go does whatever the target said (8.4 step 8); the target's status,
 * if it sent one, is in rly_stop_get_status for the log. rly_stop_recv never consumes a byte past
 * the reply: the target may start its side of the relayed connection right after its STATUS
 * (PROTOCOLS.md 10.17), and those bytes are forwarded once the bridge starts.
 *
 * Sans-IO: no clock (absolute deadline in, rly_stop_get_expiry out), allocation only in the
 * message reader (at most RLY_CIRCUIT_MAX_MSG bytes, released by rly_stop_free). */
#ifndef RLY_PROTO_CIRCUIT_STOP_H
#define RLY_PROTO_CIRCUIT_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "core/time.h"
#include "proto/circuit/circuit_pb.h"

#define RLY_STOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/stop"
/* Time the target gets to answer the CONNECT (go: 60 s for the stop handshake; rust 60 s). */
#define RLY_STOP_TIMEOUT (60 * RLY_NS_PER_S)

typedef enum rly_stop_state {
    RLY_STOP_IDLE = 0,       /* nothing sent yet: rly_stop_connect */
    RLY_STOP_READ_REPLY = 1, /* CONNECT encoded: feed the target's bytes to rly_stop_recv */
    RLY_STOP_DONE = 2,       /* the target answered STATUS OK: start the bridge */
    RLY_STOP_FAILED = 3,     /* any other answer, EOF or the deadline */
} rly_stop_state;

/* Embedded in the stop stream's state; the members are private to stop.c. */
typedef struct rly_stop {
    rly_circuit_pb_reader reader;
    rly_stop_state state;
    uint32_t status; /* the target's status, 0 until one was decoded */
    int err;         /* FAILED: why */
    rly_tstamp deadline;
} rly_stop;

/* rly_stop_init prepares |s| in IDLE, allocating from |mem| (NULL: default). */
void rly_stop_init(rly_stop *s, rly_mem *mem);

/* rly_stop_free releases |s|'s buffer. NULL-safe. */
void rly_stop_free(rly_stop *s);

/* rly_stop_connect appends StopMessage{type=CONNECT, peer=Peer{id=|src|}, limit} to |out| (8.4
 * step 7; Limit omitted when |limit| is NULL or unlimited, 8.2) and waits for the answer until
 * |deadline| (absolute, e.g. now + RLY_STOP_TIMEOUT; RLY_TSTAMP_MAX: none). |src| and |limit|
 * are borrowed for the call. On error nothing changes and |out| is unchanged.
 * Returns 0, RLY_ERR_INVALID_STATE (not IDLE), RLY_ERR_INVALID_ARG (|src| NULL or not a valid
 * peer ID), RLY_ERR_NOBUF or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_stop_connect(rly_stop *s, const rly_peerid *src,
                                   const rly_circuit_limit *limit, rly_tstamp deadline,
                                   rly_dynbuf *out);

/* rly_stop_recv feeds |len| bytes of |in| (borrowed) from the target in READ_REPLY. Returns the
 * bytes consumed: all of |in| while the answer is incomplete, only up to its end once it is
 * complete (the caller keeps the rest for the bridge). In DONE it consumes nothing and returns 0;
 * in FAILED it returns the error again.
 * Errors (the state becomes FAILED):
 *   RLY_ERR_INVALID_STATE                       IDLE: nothing was sent yet (state unchanged);
 *   RLY_ERR_FRAME_TOO_LARGE, RLY_ERR_MALFORMED  framing or protobuf error;
 *   RLY_ERR_UNEXPECTED_MSG                      type is not STATUS;
 *   rly_circuit_pb_status_to_err(status)        a status other than OK (absent: RLY_ERR_PROTO);
 *   RLY_ERR_NOMEM. */
RLY_NODISCARD rly_ssize rly_stop_recv(rly_stop *s, const uint8_t *in, size_t len);

/* rly_stop_handle_eof tells |s| the target closed its write side. Returns 0 unless READ_REPLY,
 * where the state becomes FAILED and RLY_ERR_TRUNCATED is returned. */
RLY_NODISCARD int rly_stop_handle_eof(rly_stop *s);

/* rly_stop_get_expiry returns the answer deadline while READ_REPLY, else RLY_TSTAMP_MAX. */
rly_tstamp rly_stop_get_expiry(const rly_stop *s);

/* rly_stop_handle_expiry checks the deadline at |now|. Returns 0, or RLY_ERR_TIMEOUT when it has
 * passed in READ_REPLY (the state becomes FAILED). */
RLY_NODISCARD int rly_stop_handle_expiry(rly_stop *s, rly_tstamp now);

/* rly_stop_get_state returns the state. */
rly_stop_state rly_stop_get_state(const rly_stop *s);

/* rly_stop_get_status returns the status the target sent (0: none decoded yet, or absent). */
uint32_t rly_stop_get_status(const rly_stop *s);

/* Target side (the destination of a relayed connection: our test client). */

/* rly_stop_parse_connect decodes the relay's request |msg| (|len| bytes, a body from
 * rly_circuit_pb_reader_recv) into |m|: the source is |m->peer|, the circuit's limits |m->limit|
 * when |m->has_limit|.
 * Returns 0, a decode error (RLY_ERR_FRAME_TOO_LARGE, RLY_ERR_MALFORMED: also a Peer without a
 * valid id), RLY_ERR_UNEXPECTED_MSG (type is not CONNECT) or RLY_ERR_MALFORMED (no peer). The
 * answer to an error is rly_stop_build_status(rly_err_to_relay_status(err)): 401 for an
 * unexpected type, 400 for a malformed message, as go's client does. */
RLY_NODISCARD int rly_stop_parse_connect(rly_circuit_stop_msg *m, const uint8_t *msg, size_t len);

/* rly_stop_build_status appends StopMessage{type=STATUS, status=|status|} to |out|: OK to accept
 * the relayed connection, anything else to refuse it.
 * Returns 0, RLY_ERR_INVALID_ARG (|status| UNUSED), RLY_ERR_NOBUF or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_stop_build_status(uint32_t status, rly_dynbuf *out);

#endif
