/* hop.c: the relay side of a hop stream and the client's hop messages (PROTOCOLS.md 8.3-8.4). */
#include "proto/circuit/hop.h"

#include <string.h>

void rly_hop_init(rly_hop *h, rly_mem *mem, rly_tstamp deadline)
{
    memset(h, 0, sizeof(*h));
    rly_circuit_pb_reader_init(&h->reader, mem);
    h->state = RLY_HOP_READ_REQUEST;
    h->deadline = deadline;
}

void rly_hop_free(rly_hop *h)
{
    if (h)
        rly_circuit_pb_reader_free(&h->reader);
}

/* reject moves to REJECT: the request failed with |err| and is answered with |status|. */
static int reject(rly_hop *h, int err, uint32_t status)
{
    h->state = RLY_HOP_REJECT;
    h->err = err;
    h->status = status;
    return err;
}

/* bad_request_status: 8.3 step 1. Anything the peer got wrong in the message is
 * MALFORMED_MESSAGE, an unexpected type (STATUS, unknown) too: go answers that, and the relay
 * speaks to go clients most (js would say UNEXPECTED_MESSAGE; rust drops the stream). */
static uint32_t bad_request_status(int err)
{
    if (err == RLY_ERR_UNEXPECTED_MSG || rly_err_class_of(err) == RLY_ERR_CLASS_PEER)
        return RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE;
    return rly_err_to_relay_status(err);
}

/* check_request accepts what the relay serves: a RESERVE, or a CONNECT naming its target. The
 * type is required (a message without one is not a RESERVE by default: rust and js refuse it
 * too), so an empty message is MALFORMED_MESSAGE. */
static int check_request(const rly_circuit_hop_msg *m)
{
    if (!m->has_type)
        return RLY_ERR_MALFORMED;
    if (m->type == RLY_CIRCUIT_HOP_RESERVE)
        return 0;
    if (m->type != RLY_CIRCUIT_HOP_CONNECT)
        return RLY_ERR_UNEXPECTED_MSG;
    /* 8.4 step 3: the peer is missing (an invalid id already failed decoding). */
    return m->has_peer ? 0 : RLY_ERR_MALFORMED;
}

rly_ssize rly_hop_recv(rly_hop *h, const uint8_t *in, size_t len)
{
    const uint8_t *msg;
    size_t mlen;
    if (h->state == RLY_HOP_REJECT)
        return h->err;
    if (h->state != RLY_HOP_READ_REQUEST)
        return 0;
    rly_ssize n = rly_circuit_pb_reader_recv(&h->reader, in, len, &msg, &mlen);
    if (n < 0)
        return reject(h, (int)n, bad_request_status((int)n));
    if (!msg)
        return n;
    int rv = rly_circuit_pb_decode_hop(&h->req, msg, mlen);
    if (rv == 0)
        rv = check_request(&h->req);
    if (rv != 0) {
        memset(&h->req, 0, sizeof(h->req));
        return reject(h, rv, bad_request_status(rv));
    }
    h->has_request = true;
    h->state = RLY_HOP_DECIDE;
    return n;
}

int rly_hop_handle_eof(rly_hop *h)
{
    if (h->state != RLY_HOP_READ_REQUEST)
        return 0;
    return reject(h, RLY_ERR_TRUNCATED, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE);
}

rly_tstamp rly_hop_get_expiry(const rly_hop *h)
{
    return h->state == RLY_HOP_READ_REQUEST ? h->deadline : RLY_TSTAMP_MAX;
}

int rly_hop_handle_expiry(rly_hop *h, rly_tstamp now)
{
    if (h->state != RLY_HOP_READ_REQUEST || now < h->deadline)
        return 0;
    /* go sets a read deadline and answers its failure like any read error. */
    return reject(h, RLY_ERR_TIMEOUT, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE);
}

rly_hop_state rly_hop_get_state(const rly_hop *h)
{
    return h->state;
}

const rly_circuit_hop_msg *rly_hop_get_request(const rly_hop *h)
{
    return h->has_request ? &h->req : NULL;
}

uint32_t rly_hop_get_status(const rly_hop *h)
{
    return h->state == RLY_HOP_REJECT || h->state == RLY_HOP_DONE ? h->status : 0;
}

/* status_msg starts HopMessage{type=STATUS, status}, with |limit| unless unlimited (8.2: go marks
 * any connection that received a Limit as limited, so an unlimited relay sends none). */
static void status_msg(rly_circuit_hop_msg *m, uint32_t status, const rly_circuit_limit *limit)
{
    memset(m, 0, sizeof(*m));
    m->type = RLY_CIRCUIT_HOP_STATUS;
    m->has_status = true;
    m->status = status;
    if (limit && (limit->duration || limit->data)) {
        m->has_limit = true;
        m->limit = *limit;
    }
}

static int reply(rly_hop *h, const rly_circuit_hop_msg *m, rly_dynbuf *out)
{
    int rv = rly_circuit_pb_encode_hop(m, out);
    if (rv == 0) {
        h->state = RLY_HOP_DONE;
        h->status = m->status;
    }
    return rv;
}

static bool deciding(const rly_hop *h, uint32_t type)
{
    return h->state == RLY_HOP_DECIDE && h->req.type == type;
}

int rly_hop_reply_reservation(rly_hop *h, const rly_circuit_reservation *rsv,
                              const rly_circuit_limit *limit, rly_dynbuf *out)
{
    rly_circuit_hop_msg m;
    if (!deciding(h, RLY_CIRCUIT_HOP_RESERVE))
        return RLY_ERR_INVALID_STATE;
    if (!rsv)
        return RLY_ERR_INVALID_ARG;
    /* 8.3 step 2.5: STATUS OK with Reservation{expire, addrs, voucher} and the circuit Limit. */
    status_msg(&m, RLY_CIRCUIT_STATUS_OK, limit);
    m.has_reservation = true;
    m.reservation = *rsv;
    return reply(h, &m, out);
}

int rly_hop_reply_connect(rly_hop *h, const rly_circuit_limit *limit, rly_dynbuf *out)
{
    rly_circuit_hop_msg m;
    if (!deciding(h, RLY_CIRCUIT_HOP_CONNECT))
        return RLY_ERR_INVALID_STATE;
    /* 8.4 step 9, sent only after the target's STATUS OK on the stop stream. */
    status_msg(&m, RLY_CIRCUIT_STATUS_OK, limit);
    return reply(h, &m, out);
}

int rly_hop_reply_status(rly_hop *h, uint32_t status, rly_dynbuf *out)
{
    rly_circuit_hop_msg m;
    if (h->state != RLY_HOP_DECIDE && h->state != RLY_HOP_REJECT)
        return RLY_ERR_INVALID_STATE;
    if (status == RLY_CIRCUIT_STATUS_UNUSED || status == RLY_CIRCUIT_STATUS_OK)
        return RLY_ERR_INVALID_ARG;
    status_msg(&m, status, NULL);
    return reply(h, &m, out);
}

int rly_hop_reply_err(rly_hop *h, int err, rly_dynbuf *out)
{
    if (h->state == RLY_HOP_REJECT)
        return rly_hop_reply_status(h, h->status, out);
    if (h->state != RLY_HOP_DECIDE)
        return RLY_ERR_INVALID_STATE;
    if (err == 0)
        return RLY_ERR_INVALID_ARG;
    return rly_hop_reply_status(h, rly_err_to_relay_status(err), out);
}

int rly_hop_build_reserve(rly_dynbuf *out)
{
    rly_circuit_hop_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_HOP_RESERVE;
    return rly_circuit_pb_encode_hop(&m, out);
}

int rly_hop_build_connect(const rly_peerid *dst, rly_dynbuf *out)
{
    rly_circuit_hop_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_HOP_CONNECT;
    m.has_peer = true;
    m.peer = *dst;
    return rly_circuit_pb_encode_hop(&m, out);
}

int rly_hop_parse_reply(rly_circuit_hop_msg *reply, uint32_t request_type, const uint8_t *msg,
                        size_t len)
{
    int rv = rly_circuit_pb_decode_hop(reply, msg, len);
    if (rv != 0)
        return rv;
    if (!reply->has_type)
        return RLY_ERR_MALFORMED;
    if (reply->type != RLY_CIRCUIT_HOP_STATUS)
        return RLY_ERR_UNEXPECTED_MSG;
    rv = rly_circuit_pb_status_to_err(reply->status);
    if (rv == 0 && request_type == RLY_CIRCUIT_HOP_RESERVE && !reply->has_reservation)
        rv = RLY_ERR_MALFORMED;
    return rv;
}
