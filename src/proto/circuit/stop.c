/* stop.c: the relay side of a stop stream and the target's stop messages (PROTOCOLS.md 8.4). */
#include "proto/circuit/stop.h"

#include <string.h>

void rly_stop_init(rly_stop *s, rly_mem *mem)
{
    memset(s, 0, sizeof(*s));
    rly_circuit_pb_reader_init(&s->reader, mem);
    s->state = RLY_STOP_IDLE;
    s->deadline = RLY_TSTAMP_MAX;
}

void rly_stop_free(rly_stop *s)
{
    if (s)
        rly_circuit_pb_reader_free(&s->reader);
}

int rly_stop_connect(rly_stop *s, const rly_peerid *src, const rly_circuit_limit *limit,
                     rly_tstamp deadline, rly_dynbuf *out)
{
    rly_circuit_stop_msg m;
    if (s->state != RLY_STOP_IDLE)
        return RLY_ERR_INVALID_STATE;
    if (!src)
        return RLY_ERR_INVALID_ARG;
    /* 8.4 step 7: Peer{id=source} without addrs; no Limit for an unlimited relay (8.2). */
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_STOP_CONNECT;
    m.has_peer = true;
    m.peer = *src;
    if (limit && (limit->duration || limit->data)) {
        m.has_limit = true;
        m.limit = *limit;
    }
    int rv = rly_circuit_pb_encode_stop(&m, out);
    if (rv != 0)
        return rv;
    s->state = RLY_STOP_READ_REPLY;
    s->deadline = deadline;
    return 0;
}

static int fail(rly_stop *s, int err)
{
    s->state = RLY_STOP_FAILED;
    s->err = err;
    return err;
}

/* check_reply: 8.4 step 8, the answer must be STATUS with status OK. */
static int check_reply(rly_stop *s, const uint8_t *msg, size_t len)
{
    rly_circuit_stop_msg m;
    int rv = rly_circuit_pb_decode_stop(&m, msg, len);
    if (rv != 0)
        return rv;
    s->status = m.status;
    if (!m.has_type)
        return RLY_ERR_MALFORMED;
    if (m.type != RLY_CIRCUIT_STOP_STATUS)
        return RLY_ERR_UNEXPECTED_MSG;
    return rly_circuit_pb_status_to_err(m.status);
}

rly_ssize rly_stop_recv(rly_stop *s, const uint8_t *in, size_t len)
{
    const uint8_t *msg;
    size_t mlen;
    switch (s->state) {
    case RLY_STOP_IDLE: return RLY_ERR_INVALID_STATE;
    case RLY_STOP_DONE: return 0;
    case RLY_STOP_FAILED: return s->err;
    default: break;
    }
    rly_ssize n = rly_circuit_pb_reader_recv(&s->reader, in, len, &msg, &mlen);
    if (n < 0)
        return fail(s, (int)n);
    if (!msg)
        return n;
    int rv = check_reply(s, msg, mlen);
    if (rv != 0)
        return fail(s, rv);
    s->state = RLY_STOP_DONE;
    return n;
}

int rly_stop_handle_eof(rly_stop *s)
{
    return s->state == RLY_STOP_READ_REPLY ? fail(s, RLY_ERR_TRUNCATED) : 0;
}

rly_tstamp rly_stop_get_expiry(const rly_stop *s)
{
    return s->state == RLY_STOP_READ_REPLY ? s->deadline : RLY_TSTAMP_MAX;
}

int rly_stop_handle_expiry(rly_stop *s, rly_tstamp now)
{
    if (s->state != RLY_STOP_READ_REPLY || now < s->deadline)
        return 0;
    return fail(s, RLY_ERR_TIMEOUT);
}

rly_stop_state rly_stop_get_state(const rly_stop *s)
{
    return s->state;
}

uint32_t rly_stop_get_status(const rly_stop *s)
{
    return s->status;
}

int rly_stop_parse_connect(rly_circuit_stop_msg *m, const uint8_t *msg, size_t len)
{
    int rv = rly_circuit_pb_decode_stop(m, msg, len);
    if (rv != 0)
        return rv;
    if (!m->has_type) /* required: an empty message is not a CONNECT */
        return RLY_ERR_MALFORMED;
    if (m->type != RLY_CIRCUIT_STOP_CONNECT)
        return RLY_ERR_UNEXPECTED_MSG;
    return m->has_peer ? 0 : RLY_ERR_MALFORMED;
}

int rly_stop_build_status(uint32_t status, rly_dynbuf *out)
{
    rly_circuit_stop_msg m;
    if (status == RLY_CIRCUIT_STATUS_UNUSED)
        return RLY_ERR_INVALID_ARG;
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_STOP_STATUS;
    m.has_status = true;
    m.status = status;
    return rly_circuit_pb_encode_stop(&m, out);
}
