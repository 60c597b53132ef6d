/* Peer-opened streams on a real loop, two swarms in one process over TCP: what a stream costs the
 * server and how long it may hold it (issue 11, item 4).
 *   - the swarm's deadlines (one timer for all streams): a stream that never finishes its
 *     protocol negotiation, an identify push cut short, a ping stream left idle and a finished
 *     service stream the peer never closes are all reset, and none before its deadline;
 *   - identify push: the server reads one message and closes its side at once, keeping nothing;
 *     a broken one is reset at once;
 *   - identify: the server's FIN follows its message without waiting for the requester;
 *   - an idle negotiated stream costs the server less than 1 KiB;
 *   - the process's memory budget: over it a new stream is reset and counted, and streams work
 *     again once memory is back under it;
 *   - the connection's memory account: it never holds more than its cap.
 * The server swarm allocates from its own rly_mem, so its bytes are measured apart from the
 * client's. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "core/varint.h"
#include "proto/identify/identify.h"
#include "proto/mss/mss.h"
#include "proto/ping/ping.h"
#include "swarm/swarm.h"

#define MAX_PROBES 300

/* A client-side stream and what happened to it. */
typedef struct probe {
    rly_stream *s;
    const uint8_t *send; /* written once the stream is negotiated (or at once if raw) */
    size_t send_len;
    bool close_on_fin; /* answer the server's FIN with ours */
    bool negotiated, got_fin, closed;
    int close_err;
    size_t nbytes;
    uint64_t opened_ms, fin_ms, closed_ms;
} probe;

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    uv_timer_t settle; /* the idle-stream test's wait for quiet */
    rly_mem smem;      /* the server swarm's allocator */
    rly_swarm *ss, *cs;
    rly_keypair skp, ckp;
    rly_multiaddr dial;
    rly_conn *conn;  /* the client's connection */
    rly_conn *sconn; /* the server's end of it */
    probe probes[MAX_PROBES];
    size_t nprobes, nclosed, nnegotiated;
    size_t wait_closed;               /* finish once this many probes closed */
    size_t wait_negotiated;           /* call |on_negotiated| once this many are negotiated */
    void (*on_dial)(void);            /* the scenario */
    void (*on_negotiated)(void);      /* a second step */
    size_t sconn_live_at_negotiated;  /* the server connection's account at that point */
    size_t sconn_live_at_established; /* ... and once the connection was up */
    size_t sconn_peak;                /* its peak, sampled at every probe event */
    uint64_t sconn_nlimited;          /* its refused allocations, sampled likewise */
    void (*on_probe_closed)(probe *p);
    bool over_quic; /* the client dials the server over QUIC, not TCP */
    bool started, timed_out, finished;
    size_t nclosed_by_guard;
    int open_swarms;
} world;

static world w;

static uint64_t now_ms(void)
{
    return uv_now(&w.loop);
}

static void sample(void)
{
    if (!w.sconn || !w.sconn->mem)
        return;
    if (w.sconn->mem->peak_bytes > w.sconn_peak)
        w.sconn_peak = w.sconn->mem->peak_bytes;
    w.sconn_nlimited = w.sconn->mem->nlimited;
}

static void swarm_closed(void *ud)
{
    if (--w.open_swarms == 0)
        uv_close((uv_handle_t *)&w.guard, NULL);
}

static void finish(void)
{
    if (w.finished)
        return;
    w.finished = true;
    sample();
    uv_timer_stop(&w.guard);
    rly_swarm_close(w.cs, swarm_closed, NULL);
    rly_swarm_close(w.ss, swarm_closed, NULL);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    w.nclosed_by_guard = w.nclosed; /* teardown closes the rest */
    finish();
}

/* ---- client-side streams -------------------------------------------------------------------- */

static void probe_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    probe *p = ud;
    p->nbytes += len;
    (void)rly_stream_consume(s, len);
}

static void probe_on_fin(rly_stream *s, void *ud)
{
    probe *p = ud;
    p->got_fin = true;
    p->fin_ms = now_ms();
    if (p->close_on_fin)
        (void)rly_stream_shutdown(s);
}

static void probe_on_close(rly_stream *s, void *ud, int err)
{
    probe *p = ud;
    p->closed = true;
    p->close_err = err;
    p->closed_ms = now_ms();
    p->s = NULL;
    sample();
    if (w.on_probe_closed)
        w.on_probe_closed(p);
    if (++w.nclosed == w.wait_closed)
        finish();
}

static const rly_stream_handler probe_handler = {
    .on_data = probe_on_data,
    .on_fin = probe_on_fin,
    .on_close = probe_on_close,
};

static probe *probe_new(const uint8_t *send, size_t len)
{
    cr_assert_lt(w.nprobes, MAX_PROBES);
    probe *p = &w.probes[w.nprobes++];
    memset(p, 0, sizeof(*p));
    p->send = send;
    p->send_len = len;
    p->opened_ms = now_ms();
    return p;
}

static void probe_send(probe *p)
{
    if (p->send_len)
        cr_assert_eq(rly_stream_write(p->s, p->send, p->send_len), (rly_ssize)p->send_len);
}

/* raw_open opens a stream and writes |send| without negotiating anything. */
static probe *raw_open(const uint8_t *send, size_t len)
{
    probe *p = probe_new(send, len);
    cr_assert_eq(rly_conn_open_stream(w.conn, &p->s), 0);
    rly_stream_set_handler(p->s, &probe_handler, p);
    probe_send(p);
    return p;
}

static void opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    probe *p = ud;
    if (!s) { /* refused before it was negotiated */
        probe_on_close(NULL, p, err);
        return;
    }
    p->s = s;
    p->negotiated = true;
    p->nbytes += len;
    (void)rly_stream_consume(s, len);
    rly_stream_set_handler(s, &probe_handler, p);
    probe_send(p);
    sample();
    if (++w.nnegotiated == w.wait_negotiated && w.on_negotiated) {
        w.sconn_live_at_negotiated = w.sconn->mem->live_bytes;
        w.on_negotiated();
    }
}

/* proto_open negotiates |protocol|, then writes |send|. */
static probe *proto_open(const char *protocol, const uint8_t *send, size_t len)
{
    probe *p = probe_new(send, len);
    cr_assert_eq(rly_swarm_open_stream(w.cs, w.conn, protocol, opened, p), 0);
    return p;
}

/* ---- the world ---------------------------------------------------------------------------- */

/* The scenario starts once both ends have the connection (the client's dial completes before
 * the server has read the last handshake message). */
static void maybe_start(void)
{
    if (w.conn && w.sconn && !w.started) {
        w.started = true;
        w.sconn_live_at_established = w.sconn->mem->live_bytes;
        w.on_dial();
    }
}

static void server_established(void *ud, rly_conn *c, size_t n)
{
    w.sconn = c;
    maybe_start();
}

static void server_closed(void *ud, rly_conn *c, size_t remaining, int err, const char *cause)
{
    sample();
    w.sconn = NULL;
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    w.conn = c;
    maybe_start();
}

/* run: a server with |st| (stream and ping timeouts, TCP caps), one client connection, then the
 * scenario; bounded by |guard_ms|. */
static void run(const rly_swarm_settings *sst, uint64_t guard_ms)
{
    rly_swarm_settings cst = {.agent_version = "client"};
    struct sockaddr_in sin;
    rly_peerid spid;
    rly_swarm_observer obs = {.on_established = server_established, .on_closed = server_closed};

    uv_loop_init(&w.loop);
    rly_mem_init(&w.smem);
    rly_tcp_settings_default(&cst.tcp);
    cr_assert_eq(rly_keypair_generate(&w.skp), 0);
    cr_assert_eq(rly_keypair_generate(&w.ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.skp, &spid), 0);
    cr_assert_eq(rly_swarm_new(&w.ss, &w.loop, &w.skp, sst, NULL, &w.smem), 0);
    cr_assert_eq(rly_swarm_new(&w.cs, &w.loop, &w.ckp, &cst, NULL, NULL), 0);
    rly_swarm_set_observer(w.ss, &obs);
    w.open_swarms = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    if (w.over_quic)
        cr_assert_eq(rly_swarm_listen_quic(w.ss, (struct sockaddr *)&sin, NULL), 0);
    else
        cr_assert_eq(rly_swarm_listen_tcp(w.ss, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.ss, &w.dial, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&w.dial, &spid), 0);
    cr_assert_eq(rly_swarm_dial(w.cs, &w.dial, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, guard_ms, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    rly_keypair_wipe(&w.skp);
    rly_keypair_wipe(&w.ckp);
    cr_assert_eq(w.smem.live_bytes, 0, "the server leaked %zu bytes", w.smem.live_bytes);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

static void settings(rly_swarm_settings *st, uint64_t stream_ms, uint64_t ping_ms)
{
    memset(st, 0, sizeof(*st));
    st->agent_version = "server";
    rly_tcp_settings_default(&st->tcp);
    st->stream_timeout = stream_ms * RLY_NS_PER_MS;
    st->ping_timeout = ping_ms * RLY_NS_PER_MS;
}

static void setup(void)
{
    memset(&w, 0, sizeof(w));
}

TestSuite(swarm_streams, .init = setup);

/* ---- wire bytes ------------------------------------------------------------------------------ */

/* mss_line appends one multistream-select message to |out| at |*n|. */
static void mss_line(uint8_t *out, size_t *n, const char *text)
{
    size_t len = strlen(text) + 1;
    out[(*n)++] = (uint8_t)len;
    memcpy(out + *n, text, len - 1);
    *n += len;
    out[*n - 1] = '\n';
}

/* An identify message of |body_len| bytes: one signedPeerRecord field (field 8) of zeros. */
static size_t identify_msg(uint8_t *out, size_t body_len)
{
    size_t n = (size_t)rly_varint_encode(out, 4, body_len);
    size_t val = body_len - 1 - (body_len - 1 > 127 ? 2 : 1);
    out[n++] = 0x42;
    n += (size_t)rly_varint_encode(out + n, 4, val);
    memset(out + n, 0, val);
    return n + val;
}

/* ---- deadlines ------------------------------------------------------------------------------- */

#define SHORT_MS 300

static uint8_t neg_header[64], neg_partial[64], push_cut[4096], push_bad[8];
static size_t neg_header_len, neg_partial_len, push_cut_len;

static void stalls(void)
{
    raw_open(NULL, 0);                      /* nothing at all */
    raw_open(neg_header, neg_header_len);   /* the multistream header only */
    raw_open(neg_partial, neg_partial_len); /* header, then half a proposal */
    proto_open(RLY_IDENTIFY_PUSH_PROTOCOL, push_cut, push_cut_len); /* a push cut short */
    proto_open(RLY_PING_PROTOCOL, NULL, 0); /* a ping stream, never pinged */
}

Test(swarm_streams, stalled_streams_are_reset_at_their_deadline_and_not_before)
{
    rly_swarm_settings st;
    settings(&st, SHORT_MS, 2 * SHORT_MS);
    neg_header_len = 0;
    mss_line(neg_header, &neg_header_len, RLY_MSS_HEADER);
    neg_partial_len = 0;
    mss_line(neg_partial, &neg_partial_len, RLY_MSS_HEADER);
    neg_partial[neg_partial_len++] = 17; /* "/ipfs/ping/1.0.0\n" announced, 8 bytes sent */
    memcpy(neg_partial + neg_partial_len, "/ipfs/pi", 8);
    neg_partial_len += 8;
    uint8_t full[2100];
    size_t n = identify_msg(full, 2000);
    memcpy(push_cut, full, n / 2); /* half of a valid message */
    push_cut_len = n / 2;
    w.on_dial = stalls;
    w.wait_closed = 5;
    run(&st, 10000);
    cr_assert_not(w.timed_out, "%zu of 5 streams closed", w.nclosed_by_guard);
    for (size_t i = 0; i < 5; i++) {
        probe *p = &w.probes[i];
        uint64_t limit = i == 4 ? 2 * SHORT_MS : SHORT_MS;
        cr_assert_eq(p->close_err, RLY_ERR_RESET, "stream %zu: %s", i, rly_strerror(p->close_err));
        cr_assert_geq(p->closed_ms - p->opened_ms, limit - 5,
                      "stream %zu reset after %" PRIu64 " ms, its deadline is %" PRIu64 " ms", i,
                      p->closed_ms - p->opened_ms, limit);
    }
    cr_assert(w.probes[3].negotiated && w.probes[4].negotiated);
    cr_assert_not(w.probes[3].got_fin, "a push cut short is not answered");
}

/* ---- identify push ------------------------------------------------------------------------ */

static uint8_t push_then_more[4200];
static size_t push_then_more_len;

static void pushes(void)
{
    probe *p = proto_open(RLY_IDENTIFY_PUSH_PROTOCOL, push_then_more, push_then_more_len);
    p->close_on_fin = true;
    proto_open(RLY_IDENTIFY_PUSH_PROTOCOL, push_bad, 3);
}

Test(swarm_streams, identify_push_is_read_once_then_closed_and_a_broken_one_reset)
{
    /* A long deadline: what happens here must not wait for it (the guard is shorter). */
    rly_swarm_settings st;
    settings(&st, 60000, 60000);
    push_then_more_len = identify_msg(push_then_more, 4000);
    /* and a second message right behind it: not read, dropped */
    push_then_more_len += identify_msg(push_then_more + push_then_more_len, 100);
    push_bad[0] = 2;    /* a 2-byte body */
    push_bad[1] = 0x00; /* field number 0: broken */
    push_bad[2] = 0x00;
    w.on_dial = pushes;
    w.wait_closed = 2;
    run(&st, 8000);
    cr_assert_not(w.timed_out, "%zu of 2 streams closed", w.nclosed_by_guard);
    probe *ok = &w.probes[0], *bad = &w.probes[1];
    cr_assert(ok->got_fin, "the server closed its side after the message");
    cr_assert_eq(ok->nbytes, 0, "a push is not answered");
    cr_assert_eq(ok->close_err, 0, "both sides closed: %s", rly_strerror(ok->close_err));
    cr_assert_eq(bad->close_err, RLY_ERR_RESET);
    cr_assert_not(bad->got_fin);
}

/* ---- identify: FIN right after the message, and the peer must close too ------------------- */

static void identify_twice(void)
{
    probe *p = proto_open(RLY_IDENTIFY_PROTOCOL, NULL, 0);
    p->close_on_fin = true;
    proto_open(RLY_IDENTIFY_PROTOCOL, NULL, 0); /* never closes its side */
}

Test(swarm_streams, identify_reply_is_followed_by_fin_and_an_unclosed_stream_reset)
{
    rly_swarm_settings st;
    settings(&st, SHORT_MS, SHORT_MS);
    w.on_dial = identify_twice;
    w.wait_closed = 2;
    run(&st, 8000);
    cr_assert_not(w.timed_out, "%zu of 2 streams closed", w.nclosed_by_guard);
    for (int i = 0; i < 2; i++) {
        cr_assert(w.probes[i].got_fin, "identify %d: no FIN after the message", i);
        cr_assert_gt(w.probes[i].nbytes, 100, "the identify message");
    }
    cr_assert_eq(w.probes[0].close_err, 0);
    cr_assert_eq(w.probes[1].close_err, RLY_ERR_RESET, "the requester never closed its side");
    cr_assert_geq(w.probes[1].closed_ms - w.probes[1].fin_ms, SHORT_MS - 5);
}

/* ---- the cost of an idle stream -------------------------------------------------------------- */

#define IDLE_STREAMS 200

/* Measured once the streams are quiet: the peer has acknowledged what the server sent (a QUIC
 * stream keeps its sent bytes until then). */
static void idle_settled(uv_timer_t *t)
{
    w.sconn_live_at_negotiated = w.sconn->mem->live_bytes;
    uv_close((uv_handle_t *)t, NULL);
    finish();
}

static void idle_measured(void)
{
    uv_timer_init(&w.loop, &w.settle);
    uv_timer_start(&w.settle, idle_settled, 300, 0);
}

static void idle_streams(void)
{
    for (int i = 0; i < IDLE_STREAMS; i++)
        proto_open(RLY_PING_PROTOCOL, NULL, 0);
}

static void idle_cost(bool quic)
{
    rly_swarm_settings st;
    settings(&st, 60000, 60000);
    w.over_quic = quic;
    w.on_dial = idle_streams;
    w.wait_negotiated = IDLE_STREAMS;
    w.on_negotiated = idle_measured;
    run(&st, 10000);
    cr_assert_not(w.timed_out, "%zu of %d streams negotiated", w.nnegotiated, IDLE_STREAMS);
    size_t per = (w.sconn_live_at_negotiated - w.sconn_live_at_established) / IDLE_STREAMS;
    cr_log_info("an idle ping stream over %s costs the server %zu bytes", quic ? "QUIC" : "TCP",
                per);
    cr_assert_lt(per, 1024, "%zu bytes per idle stream", per);
}

Test(swarm_streams, an_idle_stream_costs_the_server_less_than_1_kib)
{
    idle_cost(false);
}

Test(swarm_streams, an_idle_stream_over_quic_costs_the_server_less_than_1_kib)
{
    idle_cost(true);
}

/* ---- the memory budget ---------------------------------------------------------------------- */

static void budget_refused(probe *p)
{
    /* Memory is back under the budget (it was raised): streams work again. */
    w.on_probe_closed = NULL;
    rly_mem_set_budget(&w.smem, 0);
    proto_open(RLY_IDENTIFY_PROTOCOL, NULL, 0)->close_on_fin = true;
}

static void budget_first(void)
{
    rly_mem_set_budget(&w.smem, w.smem.live_bytes / 2); /* far over it */
    w.on_probe_closed = budget_refused;
    proto_open(RLY_PING_PROTOCOL, NULL, 0);
}

Test(swarm_streams, over_the_memory_budget_new_streams_are_reset_until_memory_falls)
{
    rly_swarm_settings st;
    settings(&st, 60000, 60000);
    w.on_dial = budget_first;
    w.wait_closed = 2;
    run(&st, 8000);
    cr_assert_not(w.timed_out);
    cr_assert_eq(w.probes[0].close_err, RLY_ERR_RESET, "refused over the budget");
    cr_assert_not(w.probes[0].negotiated);
    cr_assert_eq(w.smem.nrefused[RLY_MEM_WORK_STREAM], 1);
    cr_assert(w.probes[1].negotiated, "accepted again under the budget");
    cr_assert_eq(w.probes[1].close_err, 0);
    cr_assert_gt(w.probes[1].nbytes, 100, "and answered");
}

/* ---- the connection's memory account ------------------------------------------------------- */

#define CAP_STREAMS 250 /* under the client's ACK backlog (256) */
#define CAP_BYTES (64u * 1024u)

static void cap_streams(void)
{
    for (int i = 0; i < CAP_STREAMS; i++)
        raw_open(neg_header, neg_header_len); /* each holds a negotiation */
}

Test(swarm_streams, a_connection_never_holds_more_than_its_memory_cap)
{
    rly_swarm_settings st;
    settings(&st, SHORT_MS, SHORT_MS);
    st.tcp.max_inbound_streams = 1000; /* the cap, not the stream count, is what binds */
    st.tcp.max_conn_memory = CAP_BYTES;
    neg_header_len = 0;
    mss_line(neg_header, &neg_header_len, RLY_MSS_HEADER);
    w.on_dial = cap_streams;
    w.wait_closed = CAP_STREAMS;
    run(&st, 10000);
    cr_assert_not(w.timed_out, "%zu of %d streams closed", w.nclosed_by_guard, CAP_STREAMS);
    cr_log_info("connection account: peak %zu bytes of %u, %" PRIu64 " allocations refused",
                w.sconn_peak, CAP_BYTES, w.sconn_nlimited);
    cr_assert_gt(w.sconn_nlimited, 0, "%d streams did not reach the cap", CAP_STREAMS);
    cr_assert_leq(w.sconn_peak, CAP_BYTES);
}
