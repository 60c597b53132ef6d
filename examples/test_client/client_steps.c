/* client_steps.c: what a dialing client does on its connection, in this order: --ping N,
 * --identify, --echo TEXT, --send BYTES, --hold. One line per result:
 *   ping rtt_ms=<float>
 *   identify agent=<a> protocol_version=<v> protocols=<a,b> listen_addrs=<a,b> observed_addr=<a>
 *            public_key_bytes=<n>
 *   echo <TEXT>
 *   sent bytes=<n> seconds=<s> mbps=<MB/s>
 *   circuit closed reason=<why> after_ms=<n>          (--hold) */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

/* Sink payload is sent in chunks of this size (the stream takes what fits). */
#define SEND_CHUNK 16384

static void next_step(client *c);

/* ---- ping, identify ----------------------------------------------------------------------- */

static void on_ping(void *ud, int err, rly_tstamp rtt)
{
    client *c = ud;
    if (err) {
        client_fail(c, EXIT_FAIL, "ping failed", err);
        return;
    }
    client_out("ping rtt_ms=%.3f", (double)rtt / 1e6);
    c->pings_left--;
    next_step(c);
}

static void print_list_addrs(const char *key, const rly_multiaddr *a, size_t n)
{
    printf(" %s=", key);
    for (size_t i = 0; i < n; i++) {
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_to_string(&a[i], text, sizeof(text)) > 0)
            printf("%s%s", i ? "," : "", text);
    }
}

static void on_identify(void *ud, int err, const rly_identify *id)
{
    client *c = ud;
    if (err) {
        client_fail(c, EXIT_FAIL, "identify failed", err);
        return;
    }
    printf("identify agent=%s protocol_version=%s protocols=",
           id->agent_version ? id->agent_version : "",
           id->protocol_version ? id->protocol_version : "");
    for (size_t i = 0; i < id->nprotocols; i++)
        printf("%s%s", i ? "," : "", id->protocols[i]);
    print_list_addrs("listen_addrs", id->listen_addrs, id->nlisten_addrs);
    print_list_addrs("observed_addr", &id->observed_addr, id->has_observed_addr ? 1 : 0);
    printf(" public_key_bytes=%zu\n", id->public_key_len);
    fflush(stdout);
    c->want_identify = false;
    next_step(c);
}

/* ---- echo: send TEXT, FIN, read until FIN, compare ---------------------------------------- */

typedef struct echo_op {
    client *c;
    rly_dynbuf got;
} echo_op;

static void echo_end(echo_op *e, rly_stream *s)
{
    if (s)
        rly_stream_set_handler(s, NULL, NULL);
    rly_dynbuf_free(&e->got);
    rly_free(rly_mem_default(), e);
}

static void echo_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_op *e = ud;
    (void)rly_stream_consume(s, len);
    if (rly_dynbuf_append(&e->got, data, len) != 0) {
        client_fail(e->c, EXIT_FAIL, "echo: more came back than was sent", 0);
        (void)rly_stream_reset(s); /* echo_on_close frees */
    }
}

static void echo_on_fin(rly_stream *s, void *ud)
{
    echo_op *e = ud;
    client *c = e->c;
    const char *text = c->o.echo;
    bool same = e->got.len == strlen(text) && memcmp(e->got.data, text, e->got.len) == 0;
    echo_end(e, s);
    if (!same) {
        client_fail(c, EXIT_FAIL, "echo: the reply differs from what was sent", 0);
        return;
    }
    client_out("echo %s", text);
    c->want_echo = false;
    next_step(c);
}

static void echo_on_close(rly_stream *s, void *ud, int err)
{
    echo_op *e = ud;
    client *c = e->c;
    echo_end(e, NULL);
    client_fail(c, EXIT_FAIL, "echo: the stream closed before the reply", err);
}

static const rly_stream_handler echo_handler = {
    .on_data = echo_on_data,
    .on_fin = echo_on_fin,
    .on_close = echo_on_close,
};

static void echo_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    echo_op *e = ud;
    client *c = e->c;
    const char *text = c->o.echo;
    if (!s) {
        echo_end(e, NULL);
        client_fail(c, EXIT_FAIL, "echo: cannot open " CLIENT_ECHO_PROTOCOL, err);
        return;
    }
    rly_stream_set_handler(s, &echo_handler, e);
    if (rly_stream_write(s, (const uint8_t *)text, strlen(text)) != (rly_ssize)strlen(text)) {
        client_fail(c, EXIT_FAIL, "echo: cannot write", 0);
        (void)rly_stream_reset(s);
        return;
    }
    (void)rly_stream_shutdown(s);
    if (len > 0)
        echo_on_data(s, e, data, len);
}

static int echo_start(client *c)
{
    echo_op *e = rly_calloc(rly_mem_default(), 1, sizeof(*e));
    if (!e)
        return RLY_ERR_NOMEM;
    e->c = c;
    rly_dynbuf_init(&e->got, rly_mem_default(), strlen(c->o.echo));
    int rv = rly_swarm_open_stream(c->swarm, c->conn, CLIENT_ECHO_PROTOCOL, echo_opened, e);
    if (rv != 0)
        echo_end(e, NULL);
    return rv;
}

/* ---- send: push BYTES into the sink, FIN, read its 8-byte count --------------------------- */

typedef struct send_op {
    client *c;
    uint64_t sent;
    uint64_t start; /* uv_hrtime() once negotiated */
    uint8_t reply[8];
    size_t nreply;
    bool is_fin_sent;
} send_op;

static void send_end(send_op *o, rly_stream *s)
{
    if (s)
        rly_stream_set_handler(s, NULL, NULL);
    rly_free(rly_mem_default(), o);
}

static void send_pump(rly_stream *s, send_op *o)
{
    static uint8_t chunk[SEND_CHUNK];
    uint64_t total = o->c->o.send_bytes;
    while (o->sent < total) {
        uint64_t left = total - o->sent;
        rly_ssize w =
            rly_stream_write(s, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (w == RLY_ERR_AGAIN || w == 0)
            return; /* on_writable brings us back */
        if (w < 0) {
            client_fail(o->c, EXIT_FAIL, "send: write failed", (int)w);
            (void)rly_stream_reset(s);
            return;
        }
        o->sent += (uint64_t)w;
    }
    if (!o->is_fin_sent) {
        o->is_fin_sent = true;
        (void)rly_stream_shutdown(s);
    }
}

/* Takes the sink's answer; false when it was too long and the stream is gone (|o| with it). */
static bool take_reply(rly_stream *s, send_op *o, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
    if (len > sizeof(o->reply) - o->nreply) {
        client_fail(o->c, EXIT_FAIL, "send: the sink answered more than its 8-byte count", 0);
        (void)rly_stream_reset(s); /* send_on_close frees |o| */
        return false;
    }
    memcpy(o->reply + o->nreply, data, len);
    o->nreply += len;
    return true;
}

static void send_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)take_reply(s, ud, data, len);
}

static void send_on_fin(rly_stream *s, void *ud)
{
    send_op *o = ud;
    client *c = o->c;
    uint64_t count = 0;
    double secs = (double)(uv_hrtime() - o->start) / 1e9;
    for (size_t i = 0; i < o->nreply; i++)
        count = count << 8 | o->reply[i];
    bool ok = o->nreply == sizeof(o->reply) && o->is_fin_sent && count == c->o.send_bytes;
    send_end(o, s);
    if (!ok) {
        fprintf(stderr, "test_client: send: the sink counted %" PRIu64 " bytes, not %" PRIu64 "\n",
                count, c->o.send_bytes);
        client_finish(c, EXIT_FAIL);
        return;
    }
    client_out("sent bytes=%" PRIu64 " seconds=%.3f mbps=%.2f", count, secs,
               secs > 0 ? (double)count / secs / 1e6 : 0.0);
    c->want_send = false;
    next_step(c);
}

static void send_on_writable(rly_stream *s, void *ud)
{
    send_pump(s, ud);
}

static void send_on_close(rly_stream *s, void *ud, int err)
{
    send_op *o = ud;
    client *c = o->c;
    uint64_t sent = o->sent;
    send_end(o, NULL);
    fprintf(stderr, "test_client: send: stream closed after %" PRIu64 " bytes\n", sent);
    client_fail(c, EXIT_FAIL, "send failed", err ? err : RLY_ERR_CLOSED);
}

static const rly_stream_handler send_handler = {
    .on_data = send_on_data,
    .on_fin = send_on_fin,
    .on_writable = send_on_writable,
    .on_close = send_on_close,
};

static void send_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    send_op *o = ud;
    client *c = o->c;
    if (!s) {
        send_end(o, NULL);
        client_fail(c, EXIT_FAIL, "send: cannot open " CLIENT_SINK_PROTOCOL, err);
        return;
    }
    o->start = uv_hrtime();
    rly_stream_set_handler(s, &send_handler, o);
    if (len > 0 && !take_reply(s, o, data, len))
        return; /* reset: neither |s| nor |o| is there any more */
    send_pump(s, o);
}

static int send_start(client *c)
{
    send_op *o = rly_calloc(rly_mem_default(), 1, sizeof(*o));
    if (!o)
        return RLY_ERR_NOMEM;
    o->c = c;
    int rv = rly_swarm_open_stream(c->swarm, c->conn, CLIENT_SINK_PROTOCOL, send_opened, o);
    if (rv != 0)
        send_end(o, NULL);
    return rv;
}

/* ---- sequencing --------------------------------------------------------------------------- */

static void next_step(client *c)
{
    int rv = 0;
    if (c->is_finishing)
        return;
    if (!c->conn) {
        client_fail(c, EXIT_FAIL, "the connection closed", 0);
        return;
    }
    if (c->pings_left > 0) {
        rv = rly_swarm_ping(c->swarm, c->conn, on_ping, c);
    } else if (c->want_identify) {
        rv = rly_swarm_identify(c->swarm, c->conn, on_identify, c);
    } else if (c->want_echo) {
        rv = echo_start(c);
    } else if (c->want_send) {
        rv = send_start(c);
    } else if (c->want_hold) {
        if (!c->hold_start) {
            c->hold_start = uv_hrtime();
            client_out("holding the circuit");
        }
    } else {
        client_finish(c, EXIT_OK);
    }
    if (rv != 0)
        client_fail(c, EXIT_FAIL, "cannot open a stream", rv);
}

void client_steps_start(client *c, rly_conn *conn)
{
    c->conn = conn;
    next_step(c);
}

/* The connection the steps run on closed: a hold is over (that is what it waits for); any
 * step still running fails through its stream's on_close. */
void client_steps_conn_closed(client *c, rly_conn *conn, int err)
{
    char why[64];
    if (conn != c->conn)
        return;
    c->conn = NULL;
    if (c->is_finishing)
        return;
    if (c->hold_start) {
        client_out("circuit closed reason=%s after_ms=%" PRIu64,
                   client_reason(err, why, sizeof(why)), (uv_hrtime() - c->hold_start) / 1000000);
        client_finish(c, EXIT_OK);
        return;
    }
    client_fail(c, EXIT_FAIL, "the connection closed", err);
}
