/* client_serve.c: the two test protocols every client serves (on any connection, relayed ones
 * included):
 *   /mesh-relay/echo/1.0.0  writes back everything it reads; FIN after the peer's FIN
 *   /mesh-relay/sink/1.0.0  reads until FIN, then writes the 8-byte big-endian count and closes;
 *                           with --stall it never consumes what arrives (a slow consumer: the
 *                           sender is held by flow control)
 * Bytes are consumed only once handled (echo: once written back), so the peer is held by the
 * stream window and the echo's backlog is bounded by it. */
#include <string.h>

#include "client.h"

/* Echo backlog cap: far above one Yamux window (256 KiB); a peer past it is reset. */
#define ECHO_BACKLOG_MAX (1024 * 1024)

typedef struct echo_srv {
    rly_stream *s;
    uint8_t *pend; /* read, not yet written back (and not yet consumed) */
    size_t plen, pcap;
    bool is_fin_recv, is_fin_sent;
} echo_srv;

static void echo_srv_free(echo_srv *e)
{
    rly_free(rly_mem_default(), e->pend);
    rly_free(rly_mem_default(), e);
}

static int backlog_add(echo_srv *e, const uint8_t *p, size_t n)
{
    if (n > ECHO_BACKLOG_MAX - e->plen)
        return RLY_ERR_NOBUF;
    if (e->pcap - e->plen < n) {
        size_t cap = e->plen + n;
        uint8_t *np = rly_realloc(rly_mem_default(), e->pend, cap);
        if (!np)
            return RLY_ERR_NOMEM;
        e->pend = np;
        e->pcap = cap;
    }
    memcpy(e->pend + e->plen, p, n);
    e->plen += n;
    return 0;
}

/* Writes back what waits; consumes what went out; FIN once everything did after the peer's. */
static void echo_pump(echo_srv *e)
{
    if (e->plen > 0) {
        rly_ssize w = rly_stream_write(e->s, e->pend, e->plen);
        if (w == RLY_ERR_AGAIN)
            return;
        if (w < 0) {
            (void)rly_stream_reset(e->s);
            return;
        }
        memmove(e->pend, e->pend + w, e->plen - (size_t)w);
        e->plen -= (size_t)w;
        (void)rly_stream_consume(e->s, (size_t)w);
    }
    if (e->plen == 0 && e->is_fin_recv && !e->is_fin_sent) {
        e->is_fin_sent = true;
        (void)rly_stream_shutdown(e->s);
    }
}

static void echo_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_srv *e = ud;
    if (backlog_add(e, data, len) != 0) {
        (void)rly_stream_reset(s);
        return;
    }
    echo_pump(e);
}

static void echo_on_fin(rly_stream *s, void *ud)
{
    echo_srv *e = ud;
    e->is_fin_recv = true;
    echo_pump(e);
}

static void echo_on_writable(rly_stream *s, void *ud)
{
    echo_pump(ud);
}

static void echo_on_close(rly_stream *s, void *ud, int err)
{
    echo_srv_free(ud);
}

static const rly_stream_handler echo_srv_handler = {
    .on_data = echo_on_data,
    .on_fin = echo_on_fin,
    .on_writable = echo_on_writable,
    .on_close = echo_on_close,
};

static void on_echo_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_srv *e = rly_calloc(rly_mem_default(), 1, sizeof(*e));
    if (!e) {
        (void)rly_stream_reset(s);
        return;
    }
    e->s = s;
    rly_stream_set_handler(s, &echo_srv_handler, e);
    if (len > 0)
        echo_on_data(s, e, data, len);
}

/* ---- sink --------------------------------------------------------------------------------- */

typedef struct sink_srv {
    client *c;
    uint64_t count;
} sink_srv;

static void sink_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    sink_srv *k = ud;
    if (k->c->o.stall)
        return; /* never consumed: the window closes and the sender waits */
    k->count += len;
    (void)rly_stream_consume(s, len);
}

static void sink_on_fin(rly_stream *s, void *ud)
{
    sink_srv *k = ud;
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(k->count >> (56 - 8 * i));
    if (rly_stream_write(s, be, sizeof(be)) != (rly_ssize)sizeof(be))
        (void)rly_stream_reset(s);
    else
        (void)rly_stream_shutdown(s);
}

static void sink_on_close(rly_stream *s, void *ud, int err)
{
    rly_free(rly_mem_default(), ud);
}

static const rly_stream_handler sink_srv_handler = {
    .on_data = sink_on_data,
    .on_fin = sink_on_fin,
    .on_close = sink_on_close,
};

static void on_sink_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    sink_srv *k = rly_calloc(rly_mem_default(), 1, sizeof(*k));
    if (!k) {
        (void)rly_stream_reset(s);
        return;
    }
    k->c = ud;
    rly_stream_set_handler(s, &sink_srv_handler, k);
    if (len > 0)
        sink_on_data(s, k, data, len);
}

int client_serve_register(client *c)
{
    int rv = rly_swarm_add_protocol(c->swarm, CLIENT_ECHO_PROTOCOL, on_echo_stream, c);
    return rv ? rv : rly_swarm_add_protocol(c->swarm, CLIENT_SINK_PROTOCOL, on_sink_stream, c);
}
