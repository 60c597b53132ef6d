/* services.c: identify (/ipfs/id/1.0.0), identify push (/ipfs/id/push/1.0.0) and ping
 * (/ipfs/ping/1.0.0), both as responder (registered on the router) and as requester. */
#include "swarm/swarm_internal.h"

#include <string.h>

#include "crypto/crypto.h"
#include "proto/ping/ping.h"

/* ---- identify: responder ------------------------------------------------------------------ */

/* Our identify message for the connection of |s|, framed (PROTOCOLS.md 6). */
static int identify_build(rly_swarm *sw, const rly_conn *c, rly_dynbuf *out)
{
    const char *protocols[RLY_SWARM_MAX_PROTOCOLS];
    rly_identify id;
    bool dropped;
    rly_identify_init(&id, sw->mem);
    for (size_t i = 0; i < sw->nroutes; i++)
        protocols[i] = sw->routes[i].protocol;
    id.public_key = sw->pubkey_pb;
    id.public_key_len = sw->pubkey_pb_len;
    id.listen_addrs = sw->addrs;
    id.nlisten_addrs = sw->naddrs;
    id.protocols = protocols;
    id.nprotocols = sw->nroutes;
    id.observed_addr = c->remote;
    id.has_observed_addr = c->remote.len > 0;
    id.protocol_version = RLY_IDENTIFY_PROTOCOL_VERSION;
    id.agent_version = sw->settings.agent_version;
    id.signed_peer_record = sw->peer_record.len ? sw->peer_record.data : NULL;
    id.signed_peer_record_len = sw->peer_record.len;
    return rly_identify_encode(&id, out, &dropped);
}

/* ---- a finished service stream: our side is closed, the peer's FIN is awaited -------------- */

/* After its last message a service closes its side at once (FIN right behind the message: go's
 * identify client reads until EOF and blocks new streams until then, and js closes the stream
 * only after that EOF) and keeps this small state until the peer closes its side too, which
 * frees the stream. Whatever the peer still sends is dropped (go may split an identify push in
 * two messages; we read one), and it must close within stream_timeout (a reset by the
 * deadline). */
typedef struct closing {
    rly_swarm *sw;
    rly_mem *mem;
    swarm_deadline deadline;
} closing;

static void closing_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
}

static void closing_on_close(rly_stream *s, void *ud, int err)
{
    closing *c = ud;
    rly_swarm_deadline_stop(c->sw, &c->deadline);
    rly_free(c->mem, c);
}

static const rly_stream_handler closing_handler = {
    .on_data = closing_on_data,
    .on_close = closing_on_close,
};

/* finish closes our side of |s| after what is queued and waits for the peer's (see closing). */
static void finish(rly_swarm *sw, rly_stream *s)
{
    rly_mem *mem = rly_swarm_stream_mem(sw, s->conn);
    closing *c = rly_calloc(mem, 1, sizeof(*c));
    if (!c || rly_stream_shutdown(s) != 0) {
        rly_free(mem, c);
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s);
        return;
    }
    c->sw = sw;
    c->mem = mem;
    rly_stream_set_handler(s, &closing_handler, c);
    rly_swarm_deadline_start(sw, &c->deadline, s, SWARM_DEADLINE_STREAM, "the peer's FIN");
}

static void identify_respond(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data,
                             size_t len)
{
    uint8_t small[RLY_IDENTIFY_MAX_MSG];
    rly_dynbuf out;
    rly_dynbuf_init_small(&out, small, sizeof(small), sw->mem, RLY_IDENTIFY_MAX_MSG + 16);
    rly_stream_set_handler(s, NULL, NULL);
    (void)rly_stream_consume(s, len);
    int rv = identify_build(sw, s->conn, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        RLY_LOGD(sw->log, RLY_TARGET_SWARM, RLY_MSG("Identify reply failed"),
                 RLY_F_U64("conn_id", s->conn->id), RLY_F_STR("error", rly_strerror(rv)));
        (void)rly_stream_reset(s);
        return;
    }
    finish(sw, s);
}

/* ---- identify push: one message, checked and dropped -------------------------------------- */

/* The relay keeps no peer store: a push is read as it streams by (rly_identify_push_reader keeps
 * none of it), and once its one message is in, our side is closed (finish). */
typedef struct push_reader {
    rly_swarm *sw;
    rly_mem *mem;
    rly_identify_push_reader r;
    swarm_deadline deadline;
} push_reader;

static void push_free(push_reader *p)
{
    rly_swarm_deadline_stop(p->sw, &p->deadline);
    rly_free(p->mem, p);
}

static void push_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    push_reader *p = ud;
    bool done = false;
    (void)rly_stream_consume(s, len);
    rly_ssize used = rly_identify_push_reader_recv(&p->r, data, len, &done);
    if (used < 0) {
        RLY_LOGD(p->sw->log, RLY_TARGET_SWARM, RLY_MSG("Identify push refused"),
                 RLY_F_U64("conn_id", s->conn->id), RLY_F_STR("error", rly_strerror((int)used)));
        (void)rly_stream_reset(s); /* push_on_close frees |p| */
        return;
    }
    if (!done)
        return;
    rly_swarm *sw = p->sw;
    rly_stream_set_handler(s, NULL, NULL);
    push_free(p);
    finish(sw, s); /* what follows the message is dropped */
}

static void push_on_fin(rly_stream *s, void *ud)
{
    push_reader *p = ud;
    RLY_LOGD(p->sw->log, RLY_TARGET_SWARM, RLY_MSG("Identify push cut short"),
             RLY_F_U64("conn_id", s->conn->id),
             RLY_F_STR("error", rly_strerror(RLY_ERR_TRUNCATED)));
    (void)rly_stream_shutdown(s); /* both sides closed: push_on_close follows */
}

static void push_on_close(rly_stream *s, void *ud, int err)
{
    push_free(ud);
}

static const rly_stream_handler push_handler = {
    .on_data = push_on_data,
    .on_fin = push_on_fin,
    .on_close = push_on_close,
};

static void identify_push(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_mem *mem = rly_swarm_stream_mem(sw, s->conn);
    push_reader *p = rly_calloc(mem, 1, sizeof(*p));
    if (!p) {
        (void)rly_stream_reset(s);
        return;
    }
    p->sw = sw;
    p->mem = mem;
    rly_identify_push_reader_init(&p->r);
    rly_stream_set_handler(s, &push_handler, p);
    rly_swarm_deadline_start(sw, &p->deadline, s, SWARM_DEADLINE_STREAM, "the identify push");
    if (len)
        push_on_data(s, p, data, len);
}

/* ---- identify: asking a peer (requester) ----------------------------------------------------- */

typedef struct id_reader {
    rly_swarm *sw;
    rly_mem *mem;
    rly_identify_reader reader;
    rly_identify merged;
    bool got_one;
    rly_swarm_identify_cb cb;
    void *cb_ud;
    swarm_deadline deadline;
} id_reader;

static void id_reader_free(id_reader *r)
{
    rly_swarm_deadline_stop(r->sw, &r->deadline);
    rly_identify_reader_free(&r->reader);
    rly_identify_free(&r->merged);
    rly_free(r->mem, r);
}

static void id_finish(id_reader *r, int err)
{
    rly_swarm_identify_cb cb = r->cb;
    r->cb = NULL;
    if (cb)
        cb(r->cb_ud, err, err ? NULL : &r->merged);
}

static void id_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    id_reader *r = ud;
    (void)rly_stream_consume(s, len);
    while (len > 0) {
        const uint8_t *msg;
        size_t msglen;
        rly_ssize used = rly_identify_reader_recv(&r->reader, data, len, &msg, &msglen);
        int rv = used < 0 ? (int)used : 0;
        if (rv == 0 && msg) {
            rv = rly_identify_decode(&r->merged, msg, msglen);
            r->got_one = true;
        }
        if (rv != 0) {
            id_finish(r, rv);
            (void)rly_stream_reset(s);
            return;
        }
        data += used;
        len -= (size_t)used;
    }
}

static void id_on_fin(rly_stream *s, void *ud)
{
    id_reader *r = ud;
    int rv = rly_identify_reader_finish(&r->reader);
    if (rv == 0 && !r->got_one)
        rv = RLY_ERR_TRUNCATED;
    id_finish(r, rv);
    (void)rly_stream_shutdown(s);
}

static void id_on_close(rly_stream *s, void *ud, int err)
{
    id_reader *r = ud;
    id_finish(r, err ? err : RLY_ERR_CLOSED);
    id_reader_free(r);
}

static const rly_stream_handler id_reader_handler = {
    .on_data = id_on_data,
    .on_fin = id_on_fin,
    .on_close = id_on_close,
};

static void identify_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    id_reader *r = ud;
    if (!s) {
        id_finish(r, err);
        id_reader_free(r);
        return;
    }
    rly_stream_set_handler(s, &id_reader_handler, r);
    rly_swarm_deadline_start(r->sw, &r->deadline, s, SWARM_DEADLINE_STREAM, "the identify message");
    (void)rly_stream_shutdown(s); /* the requester sends nothing */
    if (len)
        id_on_data(s, r, data, len);
}

int rly_swarm_identify(rly_swarm *sw, rly_conn *c, rly_swarm_identify_cb cb, void *ud)
{
    rly_mem *mem = rly_swarm_stream_mem(sw, c);
    id_reader *r = rly_calloc(mem, 1, sizeof(*r));
    if (!r)
        return RLY_ERR_NOMEM;
    r->sw = sw;
    r->mem = mem;
    rly_identify_reader_init(&r->reader, mem);
    rly_identify_init(&r->merged, mem);
    r->cb = cb;
    r->cb_ud = ud;
    int rv = rly_swarm_open_stream(sw, c, RLY_IDENTIFY_PROTOCOL, identify_opened, r);
    if (rv != 0)
        id_reader_free(r);
    return rv;
}

/* ---- ping ---------------------------------------------------------------------------------- */

/* One stream of pings, either role. The deadline (ping_timeout) runs from the stream's start
 * and from every complete ping: a responder waits that long for the next one, an initiator for
 * its echo. */
typedef struct ping_stream {
    rly_swarm *sw;
    rly_mem *mem;
    rly_ping ping;
    rly_swarm_ping_cb cb; /* requester only */
    void *cb_ud;
    swarm_deadline deadline;
} ping_stream;

static void ping_finish(ping_stream *p, int err, rly_tstamp rtt)
{
    rly_swarm_ping_cb cb = p->cb;
    p->cb = NULL;
    if (cb)
        cb(p->cb_ud, err, rtt);
}

static int ping_flush(ping_stream *p, rly_stream *s)
{
    uint8_t buf[RLY_PING_SIZE];
    while (rly_ping_want_write(&p->ping)) {
        rly_ssize n = rly_ping_send(&p->ping, buf, sizeof(buf), rly_tcp_now());
        if (n <= 0)
            return (int)n;
        if (rly_stream_write(s, buf, (size_t)n) != n)
            return RLY_ERR_NOBUF;
    }
    return 0;
}

static void ping_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    ping_stream *p = ud;
    rly_tstamp rtt, expiry = rly_ping_get_expiry(&p->ping);
    while (len > 0) {
        rly_ssize used = rly_ping_recv(&p->ping, data, len, rly_tcp_now());
        int rv = used < 0 ? (int)used : ping_flush(p, s);
        if (rv == 0)
            rv = rly_stream_consume(s, (size_t)used);
        if (rv != 0) {
            ping_finish(p, rv, 0);
            (void)rly_stream_reset(s);
            return;
        }
        data += used;
        len -= (size_t)used;
    }
    if (!p->ping.is_initiator && rly_ping_get_expiry(&p->ping) != expiry)
        rly_swarm_deadline_start(p->sw, &p->deadline, s, SWARM_DEADLINE_PING, "the next ping");
    if (p->ping.is_initiator && rly_ping_take_rtt(&p->ping, &rtt)) {
        ping_finish(p, 0, rtt);
        (void)rly_stream_shutdown(s);
    }
}

static void ping_on_fin(rly_stream *s, void *ud)
{
    ping_stream *p = ud;
    ping_finish(p, RLY_ERR_EOF, 0);
    (void)rly_stream_shutdown(s);
}

static void ping_free(ping_stream *p)
{
    rly_swarm_deadline_stop(p->sw, &p->deadline);
    rly_free(p->mem, p);
}

static void ping_on_close(rly_stream *s, void *ud, int err)
{
    ping_stream *p = ud;
    ping_finish(p, err ? err : RLY_ERR_CLOSED, 0);
    ping_free(p);
}

static const rly_stream_handler ping_handler = {
    .on_data = ping_on_data,
    .on_fin = ping_on_fin,
    .on_close = ping_on_close,
};

static ping_stream *ping_new(rly_swarm *sw, rly_conn *c, bool initiator)
{
    rly_ping_settings st;
    rly_mem *mem = rly_swarm_stream_mem(sw, c);
    ping_stream *p = rly_calloc(mem, 1, sizeof(*p));
    if (!p)
        return NULL;
    p->sw = sw;
    p->mem = mem;
    rly_ping_settings_default(&st);
    st.echo_timeout = st.idle_timeout = sw->delays[SWARM_DEADLINE_PING];
    rly_ping_init(&p->ping, initiator, &st, rly_tcp_now());
    return p;
}

static void ping_respond(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    ping_stream *p = ping_new(sw, s->conn, false);
    if (!p) {
        (void)rly_stream_reset(s);
        return;
    }
    rly_stream_set_handler(s, &ping_handler, p);
    rly_swarm_deadline_start(sw, &p->deadline, s, SWARM_DEADLINE_PING, "the next ping");
    if (len)
        ping_on_data(s, p, data, len);
}

static void ping_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    ping_stream *p = ud;
    uint8_t payload[RLY_PING_SIZE];
    if (!s) {
        ping_finish(p, err, 0);
        ping_free(p);
        return;
    }
    rly_stream_set_handler(s, &ping_handler, p);
    rly_swarm_deadline_start(p->sw, &p->deadline, s, SWARM_DEADLINE_PING, "the ping's echo");
    int rv = rly_crypto_random(payload, sizeof(payload));
    if (rv == 0)
        rv = rly_ping_start(&p->ping, payload, rly_tcp_now());
    if (rv == 0)
        rv = ping_flush(p, s);
    if (rv != 0) {
        ping_finish(p, rv, 0);
        (void)rly_stream_reset(s);
        return;
    }
    if (len)
        ping_on_data(s, p, data, len);
}

int rly_swarm_ping(rly_swarm *sw, rly_conn *c, rly_swarm_ping_cb cb, void *ud)
{
    ping_stream *p = ping_new(sw, c, true);
    if (!p)
        return RLY_ERR_NOMEM;
    p->cb = cb;
    p->cb_ud = ud;
    int rv = rly_swarm_open_stream(sw, c, RLY_PING_PROTOCOL, ping_opened, p);
    if (rv != 0)
        ping_free(p);
    return rv;
}

int rly_swarm_services_register(rly_swarm *sw)
{
    int rv = rly_swarm_add_protocol(sw, RLY_IDENTIFY_PROTOCOL, identify_respond, NULL);
    if (rv == 0)
        rv = rly_swarm_add_protocol(sw, RLY_IDENTIFY_PUSH_PROTOCOL, identify_push, NULL);
    if (rv == 0)
        rv = rly_swarm_add_protocol(sw, RLY_PING_PROTOCOL, ping_respond, NULL);
    return rv;
}
