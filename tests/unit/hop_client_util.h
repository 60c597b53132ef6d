/* hop_client_util.h: a minimal hop client for the in-process relay tests (test_relay_service.c,
 * test_relay_timeouts.c): one request per hop stream, the reply's status reported once the
 * stream is gone. Header-only; include after <criterion/criterion.h>. */
#ifndef RLY_TEST_HOP_CLIENT_UTIL_H
#define RLY_TEST_HOP_CLIENT_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/dynbuf.h"
#include "proto/circuit/hop.h"
#include "swarm/swarm.h"

/* Not a request type: open the stream and send nothing. */
#define HOP_SILENT 0xffu

/* |status| is the reply's status, 0 when the stream closed without one; |reply_ms| is the time
 * from opening the stream to the reply (or to the close). Called once, after the stream closed. */
typedef void (*hop_done_fn)(void *ud, uint32_t status, uint64_t reply_ms);

typedef struct hop_req {
    rly_circuit_pb_reader reader;
    uint32_t type; /* RLY_CIRCUIT_HOP_RESERVE, RLY_CIRCUIT_HOP_CONNECT or HOP_SILENT */
    rly_peerid dst;
    uint32_t status;
    uint64_t t0, reply_ms;
    hop_done_fn done;
    void *ud;
} hop_req;

static void hop_req_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_req *q = ud;
    const uint8_t *msg;
    size_t n;
    rly_ssize used = rly_circuit_pb_reader_recv(&q->reader, data, len, &msg, &n);
    (void)rly_stream_consume(s, len);
    if (used < 0 || !msg)
        return;
    rly_circuit_hop_msg reply;
    memset(&reply, 0, sizeof(reply));
    uint32_t asked = q->type == HOP_SILENT ? RLY_CIRCUIT_HOP_RESERVE : q->type;
    RLY_IGNORE(rly_hop_parse_reply(&reply, asked, msg, n)); /* non-OK: status still set */
    q->status = reply.status;
    q->reply_ms = (uv_hrtime() - q->t0) / 1000000u;
    (void)rly_stream_reset(s); /* hop_req_on_close reports */
}

static void hop_req_on_close(rly_stream *s, void *ud, int err)
{
    hop_req *q = ud;
    if (q->status == 0)
        q->reply_ms = (uv_hrtime() - q->t0) / 1000000u;
    rly_circuit_pb_reader_free(&q->reader);
    hop_done_fn done = q->done;
    void *dud = q->ud;
    uint32_t status = q->status;
    uint64_t ms = q->reply_ms;
    free(q);
    done(dud, status, ms);
}

static const rly_stream_handler hop_req_handler = {.on_data = hop_req_on_data,
                                                   .on_close = hop_req_on_close};

static void hop_req_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    hop_req *q = ud;
    rly_dynbuf out;
    cr_assert_not_null(s, "hop stream refused: %s", rly_strerror(err));
    rly_stream_set_handler(s, &hop_req_handler, q);
    if (q->type != HOP_SILENT) {
        rly_dynbuf_init(&out, NULL, 4096);
        cr_assert_eq(q->type == RLY_CIRCUIT_HOP_RESERVE ? rly_hop_build_reserve(&out)
                                                        : rly_hop_build_connect(&q->dst, &out),
                     0);
        cr_assert_eq(rly_stream_write(s, out.data, out.len), (rly_ssize)out.len);
        rly_dynbuf_free(&out);
    }
    if (len)
        hop_req_on_data(s, q, data, len);
}

/* hop_request opens a hop stream on |c| and sends |type| (CONNECT to |dst|). */
static inline void hop_request(rly_swarm *sw, rly_conn *c, uint32_t type, const rly_peerid *dst,
                               hop_done_fn done, void *ud)
{
    hop_req *q = calloc(1, sizeof(*q));
    cr_assert_not_null(q);
    rly_circuit_pb_reader_init(&q->reader, NULL);
    q->type = type;
    if (dst)
        q->dst = *dst;
    q->done = done;
    q->ud = ud;
    q->t0 = uv_hrtime();
    cr_assert_eq(rly_swarm_open_stream(sw, c, RLY_HOP_PROTOCOL, hop_req_opened, q), 0);
}

#endif
