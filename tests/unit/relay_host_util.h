/* relay_host_util.h: the relay service on an in-memory host for scripted tests
 * (test_relay_host.c): fake connections and streams that record what the relay writes, stream
 * opens the test resolves by hand, and a virtual clock. fuzz/fuzz_relay_service.c drives the same
 * interface from fuzz input. Header-only; include after <criterion/criterion.h>. */
#ifndef RLY_TEST_RELAY_HOST_UTIL_H
#define RLY_TEST_RELAY_HOST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/mem.h"
#include "core/timerq.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"
#include "relay/relay.h"

#define SIM_STREAMS 16
#define SIM_CONNS 4
#define SIM_OPENS 8

typedef struct sim_stream {
    rly_stream base;
    bool dead, relay_fin, relay_reset;
    uint8_t out[4096]; /* what the relay wrote */
    size_t outlen;
    uint64_t delivered, consumed;
} sim_stream;

typedef struct sim_open {
    rly_conn *c;
    uint8_t early[256]; /* what goes with the protocol proposal: the STOP CONNECT */
    size_t early_len;
    rly_swarm_open_cb cb;
    void *ud;
    bool done;
} sim_open;

typedef struct sim {
    rly_mem mem;
    rly_timerq timers;
    rly_tstamp now;
    rly_relay *r;
    rly_keypair kp;
    rly_multiaddr addr;
    rly_peerid peers[SIM_CONNS];
    rly_conn conns[SIM_CONNS];
    bool conn_open[SIM_CONNS];
    sim_stream streams[SIM_STREAMS];
    size_t nstreams;
    sim_open opens[SIM_OPENS];
    size_t nopens;
} sim;

static sim S;

static sim_stream *sim_live(rly_stream *s)
{
    sim_stream *f = (sim_stream *)s;
    cr_assert_not(f->dead, "the relay used stream %zu after its on_close", f - S.streams);
    return f;
}

static rly_ssize sim_write(rly_stream *s, const uint8_t *d, size_t n)
{
    sim_stream *f = sim_live(s);
    cr_assert_not(f->relay_fin, "write after shutdown");
    cr_assert_leq(f->outlen + n, sizeof(f->out));
    memcpy(f->out + f->outlen, d, n);
    f->outlen += n;
    return (rly_ssize)n;
}

static int sim_shutdown(rly_stream *s)
{
    sim_live(s)->relay_fin = true;
    return 0;
}

static void sim_close(sim_stream *f, int err)
{
    f->dead = true;
    const rly_stream_handler *h = f->base.handler;
    if (h && h->on_close)
        h->on_close(&f->base, f->base.handler_ud, err);
}

static int sim_reset(rly_stream *s)
{
    sim_stream *f = sim_live(s);
    f->relay_reset = true;
    sim_close(f, RLY_ERR_RESET); /* as Yamux: on_close before reset returns */
    return 0;
}

static int sim_consume(rly_stream *s, size_t n)
{
    sim_stream *f = sim_live(s);
    f->consumed += n;
    cr_assert_leq(f->consumed, f->delivered, "consumed more than was delivered");
    return 0;
}

static const rly_stream_ops sim_stream_ops = {sim_write, sim_shutdown, sim_reset, sim_consume};

static void sim_conn_close(rly_conn *c, int err, const char *cause)
{
}

static int sim_conn_open_stream(rly_conn *c, rly_stream **ps)
{
    return RLY_ERR_UNSUPPORTED;
}

static const rly_conn_ops sim_conn_ops = {sim_conn_open_stream, sim_conn_close};

static int sim_host_open(void *ud, rly_conn *c, const char *protocol, const uint8_t *early,
                         size_t early_len, rly_swarm_open_cb cb, void *cb_ud)
{
    cr_assert(early_len > 0 && early != NULL, "the STOP request goes with the proposal");
    cr_assert_leq(early_len, sizeof(S.opens[0].early));
    cr_assert_lt(S.nopens, SIM_OPENS);
    sim_open *o = &S.opens[S.nopens++];
    *o = (sim_open){.c = c, .cb = cb, .ud = cb_ud, .early_len = early_len};
    memcpy(o->early, early, early_len);
    return 0;
}

/* The newest open connection of |peer| with an id below |below_id|, as the swarm finds it. */
static rly_conn *sim_host_find_older(void *ud, const rly_peerid *peer, uint64_t below_id)
{
    rly_conn *best = NULL;
    for (int i = 0; i < SIM_CONNS; i++) {
        rly_conn *c = &S.conns[i];
        if (S.conn_open[i] && rly_peerid_equal(&c->peer, peer) && c->id < below_id &&
            (!best || c->id > best->id))
            best = c;
    }
    return best;
}

/* Connection |conn_id| of |peer|; for 0 its newest (the highest id), as the swarm does. */
static rly_conn *sim_host_find(void *ud, const rly_peerid *peer, uint64_t conn_id)
{
    if (conn_id == 0)
        return sim_host_find_older(ud, peer, UINT64_MAX);
    for (int i = 0; i < SIM_CONNS; i++)
        if (S.conn_open[i] && rly_peerid_equal(&S.conns[i].peer, peer) && S.conns[i].id == conn_id)
            return &S.conns[i];
    return NULL;
}

static rly_tstamp sim_now(void *ud)
{
    return S.now;
}

/* sim_start: a relay with default settings but |stop_timeout|, and connection i of peer i. */
static void sim_start(rly_relay_settings *rs)
{
    memset(&S, 0, sizeof(S));
    rly_mem_init(&S.mem);
    S.now = 1000 * RLY_NS_PER_S;
    rly_timerq_clock clock = {.now = sim_now};
    rly_timerq_init(&S.timers, &clock);
    cr_assert_eq(rly_keypair_generate(&S.kp), 0);
    cr_assert_eq(rly_multiaddr_parse(&S.addr, "/ip4/192.0.2.1/tcp/4001"), 0);
    rly_relay_host host = {.timers = &S.timers,
                           .open_stream = sim_host_open,
                           .find_conn = sim_host_find,
                           .find_older_conn = sim_host_find_older,
                           .kp = &S.kp,
                           .addrs = &S.addr,
                           .naddrs = 1};
    cr_assert_eq(rly_relay_new_on_host(&S.r, &host, rs, NULL, &S.mem), 0);
    for (int i = 0; i < SIM_CONNS; i++) {
        rly_keypair kp;
        char text[64];
        cr_assert_eq(rly_keypair_generate(&kp), 0);
        cr_assert_eq(rly_keypair_peerid(&kp, &S.peers[i]), 0);
        rly_keypair_wipe(&kp);
        rly_conn *c = &S.conns[i];
        c->ops = &sim_conn_ops;
        c->id = 100 + (uint64_t)i;
        c->peer = S.peers[i];
        c->transport = "tcp";
        snprintf(text, sizeof(text), "/ip4/10.0.0.%d/tcp/5000", i + 1);
        cr_assert_eq(rly_multiaddr_parse(&c->remote, text), 0);
        S.conn_open[i] = true;
        rly_relay_conn_established(S.r, c, 1);
    }
}

static sim_stream *sim_stream_new(int conn)
{
    cr_assert_lt(S.nstreams, SIM_STREAMS);
    sim_stream *f = &S.streams[S.nstreams++];
    memset(f, 0, sizeof(*f));
    f->base.ops = &sim_stream_ops;
    f->base.conn = &S.conns[conn];
    return f;
}

/* The peer of |f| sends |n| bytes of |p| (NULL: a pattern) in pieces of |chunk|. */
static void sim_send(sim_stream *f, const uint8_t *p, size_t n, size_t chunk)
{
    static const uint8_t zeros[1];
    for (size_t off = 0; off < n && !f->dead;) {
        size_t k = n - off < chunk ? n - off : chunk;
        f->delivered += k;
        if (f->base.handler && f->base.handler->on_data)
            f->base.handler->on_data(&f->base, f->base.handler_ud, p ? p + off : zeros, p ? k : 1);
        else
            f->consumed += k;
        off += k;
    }
}

static void sim_send_buf(sim_stream *f, const rly_dynbuf *b)
{
    sim_send(f, b->data, b->len, b->len);
}

/* A hop stream from connection |conn| carrying |msg| (framed). */
static sim_stream *sim_hop(int conn, const rly_dynbuf *msg)
{
    sim_stream *f = sim_stream_new(conn);
    f->delivered = msg ? msg->len : 0;
    rly_relay_accept_hop(S.r, &f->base, msg ? msg->data : NULL, msg ? msg->len : 0);
    return f;
}

static sim_stream *sim_connect(int src, int dst)
{
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 256);
    cr_assert_eq(rly_hop_build_connect(&S.peers[dst], &b), 0);
    sim_stream *f = sim_hop(src, &b);
    rly_dynbuf_free(&b);
    return f;
}

/* The status of the hop reply the relay wrote on |f| (0: none or unreadable). */
static uint32_t sim_reply_status(const sim_stream *f, uint32_t asked)
{
    rly_circuit_pb_reader rd;
    const uint8_t *msg;
    size_t n;
    rly_circuit_hop_msg m;
    uint32_t status = 0;
    rly_circuit_pb_reader_init(&rd, NULL);
    if (rly_circuit_pb_reader_recv(&rd, f->out, f->outlen, &msg, &n) > 0 && msg) {
        memset(&m, 0, sizeof(m));
        RLY_IGNORE(rly_hop_parse_reply(&m, asked, msg, n));
        status = m.status;
    }
    rly_circuit_pb_reader_free(&rd);
    return status;
}

/* A RESERVE over connection |conn|, answered and closed; returns the reply's status. */
static uint32_t sim_reserve(int conn)
{
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 256);
    cr_assert_eq(rly_hop_build_reserve(&b), 0);
    sim_stream *f = sim_hop(conn, &b);
    rly_dynbuf_free(&b);
    cr_assert(f->relay_fin, "RESERVE answered and closed");
    return sim_reply_status(f, RLY_CIRCUIT_HOP_RESERVE);
}

static void sim_advance(rly_tstamp d)
{
    S.now += d;
    (void)rly_timerq_run(&S.timers, S.now, 1000);
}

static void sim_check(void)
{
    cr_assert_eq(rly_relay_check_invariants(S.r), 0, "invariant %d",
                 rly_relay_check_invariants(S.r));
}

/* Every connection closes (streams first, then the observer); nothing may remain. */
static void sim_finish(void)
{
    for (size_t i = 0; i < S.nstreams; i++)
        if (!S.streams[i].dead)
            sim_close(&S.streams[i], RLY_ERR_CLOSED);
    for (size_t i = 0; i < S.nopens; i++)
        if (!S.opens[i].done) {
            S.opens[i].done = true;
            S.opens[i].cb(S.opens[i].ud, NULL, RLY_ERR_CLOSED, NULL, 0);
        }
    for (int i = 0; i < SIM_CONNS; i++) {
        S.conn_open[i] = false;
        rly_relay_conn_closed(S.r, &S.conns[i], 0);
    }
    sim_check();
    cr_assert_eq(rly_relay_num_requests(S.r), 0);
    cr_assert_eq(rly_relay_num_circuits(S.r), 0);
    rly_relay_shutdown(S.r);
    cr_assert_eq(rly_timerq_count(&S.timers), 0);
    rly_relay_del(S.r);
    rly_keypair_wipe(&S.kp);
    cr_assert_eq(S.mem.live_bytes, 0);
}

#endif
