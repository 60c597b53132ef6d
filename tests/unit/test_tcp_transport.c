/* The TCP transport on a real loop, driven through its own API (no swarm). The regression: a
 * peer-opened stream is announced to the owner (on_stream) at its first event; an owner that
 * resets the stream right there (the swarm does when even the multistream header cannot be
 * queued, e.g. the session's send buffer is full because the peer never reads) frees it, and the
 * data event that triggered the announcement then touched the freed stream (heap-use-after-free
 * under ASan; found by tests/interop/robustness.test.mjs, case 8). Here the client's SYN, data and
 * FIN (or SYN and FIN alone, the FIN event's path) arrive in one read and the server resets every
 * stream it is given. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/mem.h"
#include "crypto/keys.h"
#include "transport/tcp/tcp_internal.h"
#include "transport/tcp/tcp_transport.h"

#define NSTREAMS 8

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_tcp_transport *server, *client;
    rly_noise_identity *sid, *cid;
    int announced, client_closed, open_transports;
    int close_err[NSTREAMS];
    bool timed_out, is_finished;
} world;

static world w;

static void transport_closed(void *ud)
{
    if (--w.open_transports == 0)
        uv_close((uv_handle_t *)&w.guard, NULL);
}

static void finish(void)
{
    if (w.is_finished)
        return;
    w.is_finished = true;
    uv_timer_stop(&w.guard);
    rly_tcp_transport_close(w.client, transport_closed, NULL);
    rly_tcp_transport_close(w.server, transport_closed, NULL);
}

/* ---- server: refuses every stream the moment it is announced -------------------------------- */

static void srv_established(void *ud, rly_conn *c)
{
}

static void srv_stream(void *ud, rly_conn *c, rly_stream *s)
{
    w.announced++;
    cr_assert_eq(rly_stream_reset(s), 0); /* frees |s| */
}

static void srv_closed(void *ud, rly_conn *c, int err, const char *cause)
{
}

static const rly_conn_events srv_events = {srv_established, srv_stream, srv_closed};

/* ---- client: opens NSTREAMS streams, each with FIN (and data on even ones) queued at once ---- */

static void cli_on_close(rly_stream *s, void *ud, int err)
{
    w.close_err[(intptr_t)ud] = err;
    if (++w.client_closed == NSTREAMS)
        finish();
}

static const rly_stream_handler cli_handler = {.on_close = cli_on_close};

static void cli_established(void *ud, rly_conn *c)
{
}
static void cli_stream(void *ud, rly_conn *c, rly_stream *s)
{
}
static void cli_closed(void *ud, rly_conn *c, int err, const char *cause)
{
}

static const rly_conn_events cli_events = {cli_established, cli_stream, cli_closed};

static void on_dial(void *ud, rly_conn *c, int err)
{
    static const uint8_t hello[] = "data in the same read as the SYN";
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    for (intptr_t i = 0; i < NSTREAMS; i++) {
        rly_stream *s;
        cr_assert_eq(rly_conn_open_stream(c, &s), 0);
        rly_stream_set_handler(s, &cli_handler, (void *)i);
        if (i % 2 == 0)
            cr_assert_eq(rly_stream_write(s, hello, sizeof(hello)), (rly_ssize)sizeof(hello));
        cr_assert_eq(rly_stream_shutdown(s), 0);
    }
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    finish();
}

Test(tcp_transport, stream_reset_while_announced_with_data_pending)
{
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    rly_peerid spid;
    rly_multiaddr addr;
    struct sockaddr_in sin;

    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&st);
    cr_assert_eq(rly_keypair_generate(&skp), 0);
    cr_assert_eq(rly_keypair_generate(&ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&skp, &spid), 0);
    cr_assert_eq(rly_noise_identity_new(&w.sid, &skp, NULL, NULL), 0);
    cr_assert_eq(rly_noise_identity_new(&w.cid, &ckp, NULL, NULL), 0);
    cr_assert_eq(
        rly_tcp_transport_new(&w.server, &w.loop, &st, w.sid, &srv_events, NULL, NULL, NULL), 0);
    cr_assert_eq(
        rly_tcp_transport_new(&w.client, &w.loop, &st, w.cid, &cli_events, NULL, NULL, NULL), 0);
    w.open_transports = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_tcp_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_tcp_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &spid), 0);
    cr_assert_eq(rly_tcp_transport_dial(w.client, &addr, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "%d of %d streams closed", w.client_closed, NSTREAMS);
    cr_assert_eq(w.announced, NSTREAMS);
    for (int i = 0; i < NSTREAMS; i++)
        cr_assert_eq(w.close_err[i], RLY_ERR_RESET, "stream %d: %s", i,
                     rly_strerror(w.close_err[i]));
    rly_noise_identity_del(w.sid);
    rly_noise_identity_del(w.cid);
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* ---- rly_tcp_transport_upgrade_stream takes its stream on every path --------------------- */

/* A stream under test: records what the transport does with it. A reset calls on_close before
 * returning, as Yamux does. */
typedef struct taken_stream {
    rly_stream base;
    bool reset;
    int owner_closes; /* on_close calls that reached the caller's old handler */
} taken_stream;

static rly_ssize ts_write_(rly_stream *s, const uint8_t *d, size_t n)
{
    return (rly_ssize)n;
}

static int ts_shutdown_(rly_stream *s)
{
    return 0;
}

static int ts_reset_(rly_stream *s)
{
    taken_stream *t = (taken_stream *)s;
    t->reset = true;
    if (s->handler && s->handler->on_close)
        s->handler->on_close(s, s->handler_ud, RLY_ERR_RESET);
    return 0;
}

static int ts_consume_(rly_stream *s, size_t n)
{
    return 0;
}

static const rly_stream_ops taken_ops = {ts_write_, ts_shutdown_, ts_reset_, ts_consume_};

static void owner_on_close(rly_stream *s, void *ud, int err)
{
    ((taken_stream *)s)->owner_closes++;
}

static const rly_stream_handler owner_handler = {.on_close = owner_on_close};

static void never_dialled(void *ud, rly_conn *c, int err)
{
    cr_assert_fail("the dial callback must not run when upgrade_stream fails");
}

static void closed_noop(void *ud)
{
    *(bool *)ud = true;
}

/* The caller (test_client's connect_reply) frees the state its handler points to before it hands
 * the stream over: a refusal must reset the stream without calling that handler. */
Test(tcp_transport, upgrade_stream_refused_takes_the_stream_without_calling_its_old_handler)
{
    uv_loop_t loop;
    rly_tcp_transport *t;
    rly_tcp_settings st;
    rly_keypair kp;
    rly_noise_identity *id;
    rly_peerid peer;
    bool closed = false;
    taken_stream s1 = {.base.ops = &taken_ops}, s2 = {.base.ops = &taken_ops};
    static const rly_conn_events events = {0};

    uv_loop_init(&loop);
    rly_tcp_settings_default(&st);
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &peer), 0);
    cr_assert_eq(rly_noise_identity_new(&id, &kp, NULL, NULL), 0);
    cr_assert_eq(rly_tcp_transport_new(&t, &loop, &st, id, &events, NULL, NULL, NULL), 0);

    /* An outbound upgrade without the peer to expect: invalid. */
    rly_stream_set_handler(&s1.base, &owner_handler, NULL);
    cr_assert_eq(rly_tcp_transport_upgrade_stream(t, &s1.base, RLY_CONN_OUTBOUND, NULL, NULL, NULL,
                                                  0, never_dialled, NULL),
                 RLY_ERR_INVALID_ARG);
    cr_assert(s1.reset, "the stream is reset");
    cr_assert_eq(s1.owner_closes, 0, "the old handler was removed first");

    /* A transport that is closing. */
    rly_tcp_transport_close(t, closed_noop, &closed);
    rly_stream_set_handler(&s2.base, &owner_handler, NULL);
    cr_assert_eq(rly_tcp_transport_upgrade_stream(t, &s2.base, RLY_CONN_OUTBOUND, &peer, NULL, NULL,
                                                  0, never_dialled, NULL),
                 RLY_ERR_CLOSED);
    cr_assert(s2.reset);
    cr_assert_eq(s2.owner_closes, 0, "the old handler was removed first");

    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(closed);
    cr_assert_eq(uv_loop_close(&loop), 0);
    rly_noise_identity_del(id);
    rly_keypair_wipe(&kp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* ---- a full pending table makes room: the address's stalest, then the stalest of all ----------
 */

#define NRAW 5

static struct {
    rly_tcp_transport *server;
    uv_tcp_t raw[NRAW];
    uv_connect_t creq[NRAW];
    bool inited[NRAW], connected[NRAW], closed[NRAW];
    int step, established;
    uv_timer_t tick;
    rly_multiaddr addr;
    rly_tcp_stats stats;
} ev;

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    static char sink[4096];
    *buf = uv_buf_init(sink, sizeof(sink));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        ev.closed[(intptr_t)s->data] = true;
        uv_read_stop(s);
    }
}

static void raw_connected(uv_connect_t *req, int status)
{
    intptr_t i = (intptr_t)req->data;
    cr_assert_eq(status, 0, "raw connect: %s", uv_strerror(status));
    ev.connected[i] = true;
    ev.raw[i].data = (void *)i;
    uv_read_start((uv_stream_t *)&ev.raw[i], raw_alloc, raw_read);
}

/* The server's listen address (|ev.addr| without its /p2p) as a socket address. */
static void server_sockaddr(struct sockaddr_storage *to)
{
    rly_multiaddr bare;
    rly_peerid peer;
    bool has_peer, quic;
    uint32_t tr;
    cr_assert_eq(rly_multiaddr_split_p2p(&ev.addr, &bare, &peer, &has_peer), 0);
    cr_assert_eq(rly_multiaddr_to_sockaddr(&bare, to, &tr, &quic), 0);
}

/* A raw connection from |src| that says nothing. */
static void raw_open(intptr_t i, const char *src)
{
    struct sockaddr_in from;
    struct sockaddr_storage to;
    uv_tcp_init(&w.loop, &ev.raw[i]);
    ev.inited[i] = true;
    uv_ip4_addr(src, 0, &from);
    cr_assert_eq(uv_tcp_bind(&ev.raw[i], (struct sockaddr *)&from, 0), 0);
    server_sockaddr(&to);
    ev.creq[i].data = (void *)i;
    cr_assert_eq(uv_tcp_connect(&ev.creq[i], &ev.raw[i], (struct sockaddr *)&to, raw_connected), 0);
}

/* The test is over (or timed out): the raw handles and |tick| go, so that the loop ends. */
static void raws_close(uv_timer_t *tick)
{
    for (int i = 0; i < NRAW; i++)
        if (ev.inited[i])
            uv_close((uv_handle_t *)&ev.raw[i], NULL);
    uv_close((uv_handle_t *)tick, NULL);
}

static size_t pending_now(void)
{
    rly_tcp_transport_stats(ev.server, &ev.stats);
    return ev.stats.pending;
}

static void evict_dialed(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "a new client gets in: %s", rly_strerror(err));
    ev.established++;
}

/* One step each time the previous one shows (the server accepted, a connection closed). */
static void evict_tick(uv_timer_t *t)
{
    if (w.timed_out) {
        raws_close(t);
        return;
    }
    switch (ev.step) {
    case 0: raw_open(0, "127.0.0.1"); break;
    case 1:
        if (pending_now() < 1)
            return;
        raw_open(1, "127.0.0.1");
        break;
    case 2:
        if (pending_now() < 2)
            return;
        raw_open(2, "127.0.0.1");
        break; /* evicts 0 */
    case 3:
        if (!ev.closed[0] || pending_now() < 2)
            return;
        raw_open(3, "127.0.0.2");
        break;
    case 4:
        if (pending_now() < 3)
            return;
        raw_open(4, "127.0.0.3");
        break; /* evicts 1 */
    case 5:
        if (!ev.closed[1] || pending_now() < 3)
            return;
        cr_assert_eq(rly_tcp_transport_dial(w.client, &ev.addr, evict_dialed, NULL), 0);
        break; /* evicts 2, the stalest of all */
    case 6:
        if (ev.established < 1 || !ev.closed[2])
            return;
        rly_tcp_transport_stats(ev.server, &ev.stats);
        raws_close(t);
        finish();
        return;
    }
    ev.step++;
}

static void srv_quiet_established(void *ud, rly_conn *c)
{
}
static void srv_quiet_stream(void *ud, rly_conn *c, rly_stream *s)
{
    (void)rly_stream_reset(s);
}

static const rly_conn_events quiet_events = {srv_quiet_established, srv_quiet_stream, srv_closed};

/* A fresh world with a listening server (|st|) and a default client; |ev.addr| is the server. */
static void world_listen(const rly_tcp_settings *st, const rly_conn_events *sev, rly_keypair *skp,
                         rly_keypair *ckp)
{
    rly_tcp_settings cst;
    rly_peerid spid;
    struct sockaddr_in sin;
    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&cst);
    cr_assert_eq(rly_keypair_generate(skp), 0);
    cr_assert_eq(rly_keypair_generate(ckp), 0);
    cr_assert_eq(rly_keypair_peerid(skp, &spid), 0);
    cr_assert_eq(rly_noise_identity_new(&w.sid, skp, NULL, NULL), 0);
    cr_assert_eq(rly_noise_identity_new(&w.cid, ckp, NULL, NULL), 0);
    cr_assert_eq(rly_tcp_transport_new(&w.server, &w.loop, st, w.sid, sev, NULL, NULL, NULL), 0);
    cr_assert_eq(
        rly_tcp_transport_new(&w.client, &w.loop, &cst, w.cid, &cli_events, NULL, NULL, NULL), 0);
    w.open_transports = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_tcp_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_tcp_transport_listen_addrs(w.server, &ev.addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&ev.addr, &spid), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 15000, 0);
}

static void world_end(rly_keypair *skp, rly_keypair *ckp)
{
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    rly_noise_identity_del(w.sid);
    rly_noise_identity_del(w.cid);
    rly_keypair_wipe(skp);
    rly_keypair_wipe(ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(tcp_transport, stalled_handshakes_make_room_for_new_ones)
{
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    memset(&ev, 0, sizeof(ev));
    rly_tcp_settings_default(&st);
    st.max_pending_handshakes = 3;
    st.max_pending_per_ip = 2;
    st.handshake_timeout = st.handshake_idle_timeout = 30 * RLY_NS_PER_S; /* never, here */
    world_listen(&st, &quiet_events, &skp, &ckp);
    ev.server = w.server;
    uv_timer_init(&w.loop, &ev.tick);
    uv_timer_start(&ev.tick, evict_tick, 10, 10);
    world_end(&skp, &ckp);

    cr_assert_not(w.timed_out, "stuck at step %d", ev.step);
    cr_assert(ev.closed[0], "the stalest of 127.0.0.1 made room for its third");
    cr_assert(ev.closed[1], "the stalest of all made room in the full table");
    cr_assert(ev.closed[2], "... and again for the real client");
    cr_assert_not(ev.closed[3] || ev.closed[4], "the newer ones stay");
    cr_assert_eq(ev.established, 1);
    cr_assert_eq(ev.stats.evicted_per_ip, 1);
    cr_assert_eq(ev.stats.evicted_total, 2);
    cr_assert_eq(ev.stats.handshake_timeouts + ev.stats.idle_timeouts, 0);
}

/* ---- a handshake from which nothing arrives is closed by the idle deadline ----------------- */

static void idle_tick(uv_timer_t *t)
{
    static char header[] = "\x13/multistream/1.0.0\n";
    if (w.timed_out) {
        raws_close(t);
        return;
    }
    switch (ev.step) {
    case 0:
        raw_open(0, "127.0.0.1"); /* says nothing */
        raw_open(1, "127.0.0.1"); /* says the multistream header, then nothing */
        break;
    case 1: {
        if (!ev.connected[1])
            return;
        uv_buf_t b = uv_buf_init(header, sizeof(header) - 1);
        cr_assert_eq(uv_try_write((uv_stream_t *)&ev.raw[1], &b, 1), (int)b.len);
        break;
    }
    case 2:
        if (!ev.closed[0] || !ev.closed[1])
            return;
        rly_tcp_transport_stats(ev.server, &ev.stats);
        raws_close(t);
        finish();
        return;
    }
    ev.step++;
}

Test(tcp_transport, silent_handshakes_hit_the_idle_deadline)
{
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    memset(&ev, 0, sizeof(ev));
    rly_tcp_settings_default(&st);
    st.handshake_idle_timeout = 200 * RLY_NS_PER_MS; /* well before handshake_timeout */
    world_listen(&st, &quiet_events, &skp, &ckp);
    ev.server = w.server;
    uv_timer_init(&w.loop, &ev.tick);
    uv_timer_start(&ev.tick, idle_tick, 10, 10);
    world_end(&skp, &ckp);

    cr_assert_not(w.timed_out, "stuck at step %d", ev.step);
    cr_assert_eq(ev.stats.idle_timeouts, 2);
    cr_assert_eq(ev.stats.handshake_timeouts, 0);
    cr_assert_eq(ev.stats.failed, 2);
}

/* ---- silent connections go before a client that spoke ----------------------------------- */

static struct {
    int h, a1, a2; /* plain sockets: h speaks, a1 says nothing, a2 comes later */
    struct sockaddr_storage to;
    bool h_answered, h_closed, a1_closed, a2_closed;
    uv_timer_t later;
} ab;

static int plain_connect(const struct sockaddr_storage *to)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from;
    cr_assert_geq(fd, 0);
    uv_ip4_addr("127.0.0.1", 0, &from);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    cr_assert_eq(connect(fd, (const struct sockaddr *)to, sizeof(struct sockaddr_in)), 0);
    return fd;
}

/* What |fd| shows now: 1 bytes came, -1 closed (EOF or reset), 0 nothing yet. */
static int plain_poll(int fd)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0)
        return 1;
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ? -1 : 0;
}

static void connect_a2(uv_timer_t *t)
{
    ab.a2 = plain_connect(&ab.to);
    uv_close((uv_handle_t *)t, NULL);
}

static void burst_tick(uv_timer_t *t)
{
    if (w.timed_out) {
        uv_close((uv_handle_t *)t, NULL);
        return;
    }
    if (!ab.h_closed) {
        int r = plain_poll(ab.h);
        ab.h_answered = ab.h_answered || r > 0;
        ab.h_closed = r < 0;
    }
    ab.a1_closed = ab.a1_closed || plain_poll(ab.a1) < 0;
    if (ab.a2 >= 0)
        ab.a2_closed = ab.a2_closed || plain_poll(ab.a2) < 0;
    if (!ab.h_closed && (!ab.h_answered || !(ab.a1_closed || ab.a2_closed)))
        return;
    rly_tcp_transport_stats(w.server, &ev.stats);
    uv_close((uv_handle_t *)t, NULL);
    finish();
}

/* Cap 2 per address. h connects and proposes Noise (its answer comes back, and it says nothing
 * more), a1 connects and says nothing, and 300 ms later a2 connects: the address is full, and a1,
 * silent for longer than RLY_PENDING_FIRST_WORDS, goes, not h, whose last message is older than
 * a1's connect (by the least recent progress alone, h would go). */
Test(tcp_transport, a_silent_connection_goes_before_a_client_that_spoke)
{
    static const char hello[] = "\x13/multistream/1.0.0\n\x07/noise\n";
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    memset(&ev, 0, sizeof(ev));
    memset(&ab, 0, sizeof(ab));
    ab.a2 = -1;
    rly_tcp_settings_default(&st);
    st.max_pending_per_ip = 2;
    world_listen(&st, &quiet_events, &skp, &ckp);
    server_sockaddr(&ab.to);
    ab.h = plain_connect(&ab.to);
    cr_assert_eq(send(ab.h, hello, sizeof(hello) - 1, 0), (ssize_t)sizeof(hello) - 1);
    ab.a1 = plain_connect(&ab.to);
    uv_timer_init(&w.loop, &ev.tick);
    uv_timer_start(&ev.tick, burst_tick, 10, 10);
    uv_timer_init(&w.loop, &ab.later);
    uv_timer_start(&ab.later, connect_a2, 300, 0);
    world_end(&skp, &ckp);
    close(ab.h);
    close(ab.a1);
    if (ab.a2 >= 0)
        close(ab.a2);

    cr_assert_not(ab.h_closed, "the client that spoke was pushed out");
    cr_assert_not(w.timed_out, "answered %d, closed %d %d", ab.h_answered, ab.a1_closed,
                  ab.a2_closed);
    cr_assert(ab.a1_closed && !ab.a2_closed, "the silent one went");
    cr_assert_eq(ev.stats.evicted_per_ip, 1);
}

/* ---- a peer that never reads: the server's writes stall and write_timeout closes it --------- */

static struct {
    rly_stream *s;
    size_t written;
    int closed_err;
    const char *closed_cause;
    bool closed;
} wt;

static uint8_t junk[65536];

static void wt_pump(rly_stream *s, void *ud)
{
    for (;;) {
        rly_ssize n = rly_stream_write(s, junk, sizeof(junk));
        if (n <= 0)
            return; /* RLY_ERR_AGAIN: on_writable never comes, the peer reads nothing */
        wt.written += (size_t)n;
    }
}

static const rly_stream_handler wt_handler = {.on_writable = wt_pump};

/* The server opens a stream to the client and writes into it for as long as it can. */
static void wt_srv_established(void *ud, rly_conn *c)
{
    int sndbuf = 4096;
    uv_send_buffer_size((uv_handle_t *)&((tcp_conn *)c)->handle, &sndbuf);
    cr_assert_eq(rly_conn_open_stream(c, &wt.s), 0);
    rly_stream_set_handler(wt.s, &wt_handler, NULL);
    wt_pump(wt.s, NULL);
}

static void wt_srv_closed(void *ud, rly_conn *c, int err, const char *cause)
{
    wt.closed = true;
    wt.closed_err = err;
    wt.closed_cause = cause;
    rly_tcp_transport_stats(w.server, &ev.stats);
    finish();
}

static const rly_conn_events wt_events = {wt_srv_established, srv_quiet_stream, wt_srv_closed};

/* The client stops reading its socket once connected (and takes little into its buffer). */
static void wt_dialed(void *ud, rly_conn *c, int err)
{
    int rcvbuf = 4096;
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    uv_tcp_t *h = &((tcp_conn *)c)->handle;
    uv_read_stop((uv_stream_t *)h);
    uv_recv_buffer_size((uv_handle_t *)h, &rcvbuf);
}

Test(tcp_transport, a_peer_that_never_reads_hits_the_write_timeout)
{
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    memset(&ev, 0, sizeof(ev));
    memset(&wt, 0, sizeof(wt));
    rly_tcp_settings_default(&st);
    st.write_timeout = 300 * RLY_NS_PER_MS;
    world_listen(&st, &wt_events, &skp, &ckp);
    cr_assert_eq(rly_tcp_transport_dial(w.client, &ev.addr, wt_dialed, NULL), 0);
    world_end(&skp, &ckp);

    cr_assert_not(w.timed_out, "not closed; %zu bytes written", wt.written);
    cr_assert(wt.closed);
    cr_assert_eq(wt.closed_err, RLY_ERR_TIMEOUT, "%s", rly_strerror(wt.closed_err));
    cr_assert_str_eq(wt.closed_cause, "write timeout (write_timeout_secs)");
    cr_assert_eq(ev.stats.write_timeouts, 1);
    cr_log_info("a peer that never reads: closed after %zu bytes were queued", wt.written);
}

/* ---- a connection flood leaves the loop its turns ----------------------------------------- */

/* Connections queued at the listener faster than the relay takes them: libuv accepts until the
 * queue is empty, so a flood that keeps it full held the loop in one accept run (seconds under
 * a loopback flood: /healthz, timers and every circuit waited). Each turn now takes at most
 * RLY_TCP_ACCEPTS_PER_TURN (and one more from the deferred accept) and the rest come in later
 * turns, none lost. */
Test(tcp_transport, a_connection_flood_leaves_the_loop_its_turns)
{
    enum { NFLOOD = 300 };
    static int fds[NFLOOD];
    struct sockaddr_storage to;
    rly_tcp_settings st;
    rly_keypair skp, ckp;
    memset(&ev, 0, sizeof(ev));
    rly_tcp_settings_default(&st);
    st.max_pending_handshakes = st.max_pending_per_ip = 2 * NFLOOD;
    world_listen(&st, &quiet_events, &skp, &ckp);
    server_sockaddr(&to);
    for (int i = 0; i < NFLOOD; i++)
        fds[i] = plain_connect(&to); /* complete in the listener's queue, none accepted yet */
    cr_assert_eq(uv_run(&w.loop, UV_RUN_ONCE), 1);
    rly_tcp_transport_stats(w.server, &ev.stats);
    size_t first = ev.stats.pending;
    for (int i = 0; i < 100 && ev.stats.pending < NFLOOD; i++) {
        uv_run(&w.loop, UV_RUN_ONCE);
        rly_tcp_transport_stats(w.server, &ev.stats);
    }
    size_t all = ev.stats.pending;
    for (int i = 0; i < NFLOOD; i++)
        close(fds[i]);
    finish();
    world_end(&skp, &ckp);

    cr_assert_gt(first, 0);
    cr_assert_leq(first, RLY_TCP_ACCEPTS_PER_TURN + 1, "one turn accepted %zu of %d", first,
                  NFLOOD);
    cr_assert_eq(all, NFLOOD, "later turns accepted the rest");
}
