/* The QUIC transport on a real loop over loopback UDP (src/transport/quic/quic_transport.h): a
 * client transport dials a listening one by /ip4|ip6/.../udp/<port>/quic-v1/p2p/<id>, both get
 * on_established with the other's PeerId, a stream carries 4 MiB with FIN both ways, and when the
 * client transport closes, the server learns it from the CONNECTION_CLOSE (on_closed, no timeout).
 * The same through a Retry; a server over its handshake cap; a flood of Initials nobody answers
 * (and garbage) holds no more than retry_threshold handshakes while a real client still gets in.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "crypto/crypto.h"
#include "transport/quic/quic_transport.h"
#include "transport/quic/udp.h"
#include "quic_flood_util.h"

#define BYTES (4u * 1024u * 1024u)

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_quic_transport *server, *client;
    rly_peerid spid, cpid;
    rly_conn *sconn, *cconn;
    rly_stream *cs;
    size_t sent, got;
    bool server_fin, client_fin, client_closed_stream;
    int established, server_closed, open_transports;
    int server_close_err;
    bool timed_out, is_finished;
    rly_quic_stats server_stats; /* as the server closes */
} world;

static world w;
static uint8_t chunk[65536];

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
    rly_quic_transport_stats(w.server, &w.server_stats);
    rly_quic_transport_close(w.server, transport_closed, NULL);
}

/* ---- server: a sink that answers FIN with FIN ---------------------------------------------- */

static void sink_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(data[i], (uint8_t)((w.got + i) * 7u), "byte %zu", w.got + i);
    w.got += len;
    cr_assert_eq(rly_stream_consume(s, len), 0);
}

static void sink_fin(rly_stream *s, void *ud)
{
    w.server_fin = true;
    cr_assert_eq(rly_stream_shutdown(s), 0);
}

static const rly_stream_handler sink = {.on_data = sink_data, .on_fin = sink_fin};

static void srv_established(void *ud, rly_conn *c)
{
    w.sconn = c;
    w.established++;
    cr_assert_str_eq(c->transport, "quic-v1");
    cr_assert(rly_peerid_equal(&c->peer, &w.cpid), "the server authenticated the client");
    cr_assert_eq(c->dir, RLY_CONN_INBOUND);
}

static void srv_stream(void *ud, rly_conn *c, rly_stream *s)
{
    cr_assert_eq(s->conn, c);
    rly_stream_set_handler(s, &sink, NULL);
}

static void srv_closed(void *ud, rly_conn *c, int err, const char *cause)
{
    w.server_closed++;
    w.server_close_err = err;
    finish();
}

static const rly_conn_events srv_events = {srv_established, srv_stream, srv_closed};

/* ---- client ------------------------------------------------------------------------------- */

static void pump(void)
{
    while (w.sent < BYTES) {
        size_t off = w.sent % 256, n = sizeof(chunk) - off;
        if (n > BYTES - w.sent)
            n = BYTES - w.sent;
        rly_ssize r = rly_stream_write(w.cs, chunk + off, n);
        if (r == RLY_ERR_AGAIN)
            return;
        cr_assert_gt(r, 0, "%s", rly_strerror((int)r));
        w.sent += (size_t)r;
    }
    if (w.sent == BYTES) {
        w.sent++;
        cr_assert_eq(rly_stream_shutdown(w.cs), 0);
    }
}

static void cli_writable(rly_stream *s, void *ud)
{
    pump();
}

static void cli_fin(rly_stream *s, void *ud)
{
    w.client_fin = true;
}

static void cli_close(rly_stream *s, void *ud, int err)
{
    cr_assert_eq(err, 0, "the stream closed cleanly: %s", rly_strerror(err));
    w.client_closed_stream = true;
    w.cs = NULL;
    /* Done: the client goes away; the server must notice from its CONNECTION_CLOSE. */
    rly_quic_transport_close(w.client, transport_closed, NULL);
}

static const rly_stream_handler cli = {
    .on_fin = cli_fin, .on_writable = cli_writable, .on_close = cli_close};

static void cli_established(void *ud, rly_conn *c)
{
    w.established++;
    cr_assert(rly_peerid_equal(&c->peer, &w.spid), "the client authenticated the server");
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
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    w.cconn = c;
    cr_assert_eq(c->dir, RLY_CONN_OUTBOUND);
    cr_assert_eq(rly_conn_open_stream(c, &w.cs), 0);
    rly_stream_set_handler(w.cs, &cli, NULL);
    pump();
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    if (w.client && !w.client_closed_stream)
        rly_quic_transport_close(w.client, transport_closed, NULL);
    finish();
}

/* A fresh world: a loop, server and client transports with new identities. */
static void world_start(const rly_quic_settings *sst, const rly_quic_settings *cst,
                        rly_keypair *skp, rly_keypair *ckp)
{
    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    cr_assert_eq(rly_keypair_generate(skp), 0);
    cr_assert_eq(rly_keypair_generate(ckp), 0);
    cr_assert_eq(rly_keypair_peerid(skp, &w.spid), 0);
    cr_assert_eq(rly_keypair_peerid(ckp, &w.cpid), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.server, &w.loop, sst, skp, &srv_events, NULL, NULL, NULL), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.client, &w.loop, cst, ckp, &cli_events, NULL, NULL, NULL), 0);
    w.open_transports = 2;
}

static void run_over(const char *ip, int family, size_t retry_threshold)
{
    rly_quic_settings st, sst;
    rly_keypair skp, ckp;
    struct sockaddr_storage ss;
    rly_multiaddr addr;

    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)(i * 7u);
    rly_quic_settings_default(&st);
    sst = st;
    sst.retry_threshold = retry_threshold;
    world_start(&sst, &st, &skp, &ckp);
    if (family == AF_INET)
        uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss);
    else
        uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&ss, NULL), 0);
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    char text[RLY_MULTIADDR_STR_MAX];
    cr_assert_gt(rly_multiaddr_to_string(&addr, text, sizeof(text)), 0);
    cr_assert(strstr(text, "/udp/") && strstr(text, "/quic-v1"), "%s", text);
    rly_multiaddr no_peer = addr;
    cr_assert_eq(rly_quic_transport_dial(w.client, &no_peer, on_dial, NULL), RLY_ERR_UNSUPPORTED,
                 "QUIC dials need the PeerId");
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    cr_assert_eq(rly_quic_transport_dial(w.client, &addr, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 20000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stalled: sent %zu got %zu", w.sent, w.got);
    cr_assert_eq(w.established, 2);
    cr_assert_eq(w.got, BYTES);
    cr_assert(w.server_fin && w.client_fin);
    cr_assert_eq(w.server_closed, 1, "the server saw the connection go");
    cr_assert_eq(w.server_close_err, 0, "as a normal close: %s", rly_strerror(w.server_close_err));
    if (retry_threshold == 0)
        cr_assert_geq(w.server_stats.retries, 1, "the client came back through a Retry");
    else
        cr_assert_eq(w.server_stats.retries, 0, "no Retry below the threshold");
    cr_assert_eq(w.server_stats.pending, 0);
    cr_assert_eq(w.server_stats.unproven, 0);
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(quic_transport, ipv4_dial_stream_and_close)
{
    run_over("127.0.0.1", AF_INET, 64);
}

Test(quic_transport, ipv6_dial_stream_and_close)
{
    run_over("::1", AF_INET6, 64);
}

Test(quic_transport, retry_validates_the_address_first)
{
    run_over("127.0.0.1", AF_INET, 0); /* every client must come back with a Retry token */
}

/* ---- a server over its handshake cap drops Initials: the dial fails by its timeout ----------- */

static int capped_err;
static int capped_calls;

static void capped_dial(void *ud, rly_conn *c, int err)
{
    capped_calls++;
    capped_err = err;
    cr_assert_null(c);
    rly_quic_transport_close(w.client, transport_closed, NULL);
    rly_quic_transport_close(w.server, transport_closed, NULL);
}

Test(quic_transport, handshake_cap_drops_initials)
{
    rly_quic_settings sst, cst;
    rly_keypair skp, ckp;
    struct sockaddr_in sin;
    rly_multiaddr addr;

    rly_quic_settings_default(&sst);
    rly_quic_settings_default(&cst);
    sst.max_pending_handshakes = 0;              /* takes no new connection at all */
    cst.handshake_timeout = 300 * RLY_NS_PER_MS; /* the client gives up soon */
    world_start(&sst, &cst, &skp, &ckp);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    capped_calls = 0;
    cr_assert_eq(rly_quic_transport_dial(w.client, &addr, capped_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT); /* the transports' close (capped_dial) ends it */
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    cr_assert_eq(capped_calls, 1);
    cr_assert_eq(capped_err, RLY_ERR_TIMEOUT, "%s", rly_strerror(capped_err));
    cr_assert_eq(w.established, 0);
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* ---- the owner closes a dialled connection in on_established ------------------------------ */

/* The swarm does this when it cannot register the connection (out of memory). The dialler must
 * still hear once, with an error: its state waits for that callback (found by the audit of issue
 * 11 item 1: QUIC skipped the callback of a connection closed while it was being announced). */
static int owner_dials, owner_dial_err;
static bool owner_dial_conn;

static void owner_established(void *ud, rly_conn *c)
{
    if (c->dir == RLY_CONN_OUTBOUND)
        rly_conn_close(c, RLY_ERR_NOMEM, "the owner cannot take it");
}

static void owner_closed(void *ud, rly_conn *c, int err, const char *cause)
{
}

static const rly_conn_events owner_events = {owner_established, cli_stream, owner_closed};

static void owner_dial(void *ud, rly_conn *c, int err)
{
    owner_dials++;
    owner_dial_err = err;
    owner_dial_conn = c != NULL;
    uv_timer_stop(&w.guard);
    rly_quic_transport_close(w.client, transport_closed, NULL);
    rly_quic_transport_close(w.server, transport_closed, NULL);
}

static void owner_guard(uv_timer_t *t)
{
    w.timed_out = true;
    rly_quic_transport_close(w.client, transport_closed, NULL);
    rly_quic_transport_close(w.server, transport_closed, NULL);
}

Test(quic_transport, a_dial_closed_by_its_owner_on_established_is_still_reported)
{
    rly_quic_settings sst, cst;
    rly_keypair skp, ckp;
    struct sockaddr_in sin;
    rly_multiaddr addr;

    rly_quic_settings_default(&sst);
    rly_quic_settings_default(&cst);
    world_start(&sst, &cst, &skp, &ckp);
    rly_quic_transport_close(w.client, NULL, NULL); /* replaced by one with the owner's events */
    uv_run(&w.loop, UV_RUN_NOWAIT);
    cr_assert_eq(
        rly_quic_transport_new(&w.client, &w.loop, &cst, &ckp, &owner_events, NULL, NULL, NULL), 0);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    owner_dials = 0;
    cr_assert_eq(rly_quic_transport_dial(w.client, &addr, owner_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, owner_guard, 5000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT); /* the transports' close ends it (and closes the guard) */
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    cr_assert_not(w.timed_out, "the dial callback never came");
    cr_assert_eq(owner_dials, 1);
    cr_assert_not(owner_dial_conn, "reported as failed: the connection is gone");
    cr_assert_neq(owner_dial_err, 0);
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* ---- a flood of Initials that nobody answers (as from spoofed addresses), and garbage ------- */

#define FLOOD 300
#define FLOOD_RETRY_AT 16

static struct {
    rly_udp_sock raw; /* the flooder: sends, never answers */
    struct sockaddr_storage server;
    rly_quic_stats during;
    size_t live_before, live_during;
    int dials;
    uv_timer_t settle;
} fl;

static void flood_dial(void *ud, rly_conn *c, int err)
{
    fl.dials++;
    cr_assert_not_null(c, "a real client gets in during the flood: %s", rly_strerror(err));
    rly_quic_transport_close(w.client, transport_closed, NULL);
    uv_close((uv_handle_t *)&fl.settle, NULL);
    finish();
}

/* The flood is in: count what the server holds, then dial for real. */
static void flood_settled(uv_timer_t *h)
{
    rly_quic_transport_stats(w.server, &fl.during);
    fl.live_during = rly_mem_default()->live_bytes;
    rly_multiaddr addr;
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    cr_assert_eq(rly_quic_transport_dial(w.client, &addr, flood_dial, NULL), 0);
}

static void send_raw(const uint8_t *pkt, size_t len)
{
    cr_assert_eq(rly_udp_send(&fl.raw, (struct sockaddr *)&fl.server, pkt, len, 0), 0);
}

/* FLOOD client Initials, each from a new connection of an in-memory client; then garbage: a
 * short header for no connection, a long header of an unknown version, random bytes. */
static void flood(const rly_keypair *kp)
{
    rly_quic_settings st;
    rly_quic_ctx *ctx;
    uint8_t pkt[RLY_QUIC_MAX_PKT];
    rly_quic_settings_default(&st);
    cr_assert_eq(rly_quic_ctx_new(&ctx, kp, &st, NULL, rly_mem_default()), 0);
    for (int i = 0; i < FLOOD; i++) {
        rly_qconn *q;
        cr_assert_eq(rly_qconn_client_new(&q, ctx, (struct sockaddr *)&fl.raw.local,
                                          (struct sockaddr *)&fl.server, &w.spid, uv_hrtime()),
                     0);
        rly_ssize n = rly_qconn_send(q, pkt, sizeof(pkt), uv_hrtime());
        cr_assert_geq(n, 1200, "a client Initial is padded to 1200 bytes");
        send_raw(pkt, (size_t)n);
        rly_qconn_del(q);
    }
    rly_quic_ctx_del(ctx);
    memset(pkt, 0x5a, sizeof(pkt));
    pkt[0] = 0x40; /* short header, fixed bit, an ID nobody gave out */
    send_raw(pkt, 100);
    pkt[0] = 0xc0; /* long header, version 0x5a5a5a5a: Version Negotiation */
    pkt[5] = 8;
    pkt[14] = 8;
    send_raw(pkt, 1200);
    send_raw(pkt, 1199); /* too short to be answered */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(rly_crypto_random(pkt, sizeof(pkt)), 0);
        send_raw(pkt, 1 + (size_t)i * 50); /* below 1200: never a Version Negotiation */
    }
}

Test(quic_transport, flood_of_unanswered_initials_is_capped)
{
    rly_quic_settings sst, cst;
    rly_keypair skp, ckp, fkp;
    struct sockaddr_in sin;

    memset(&fl, 0, sizeof(fl));
    rly_quic_settings_default(&sst);
    rly_quic_settings_default(&cst);
    sst.retry_threshold = FLOOD_RETRY_AT;
    world_start(&sst, &cst, &skp, &ckp);
    cr_assert_eq(rly_keypair_generate(&fkp), 0);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    rly_multiaddr addr;
    uint32_t tr;
    bool quic;
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_to_sockaddr(&addr, &fl.server, &tr, &quic), 0);
    cr_assert_eq(rly_udp_open(&fl.raw, (struct sockaddr *)&sin), 0);
    fl.live_before = rly_mem_default()->live_bytes;
    flood(&fkp);
    /* From now: the loop's clock stopped while flood() ran, and a settle timer started on the
     * stale clock can fire before the first datagram is read (a slow or loaded machine). */
    uv_update_time(&w.loop);
    uv_timer_init(&w.loop, &fl.settle);
    uv_timer_start(&fl.settle, flood_settled, 500, 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    rly_udp_close(&fl.raw);

    cr_assert_not(w.timed_out);
    cr_assert_eq(fl.dials, 1);
    cr_assert_eq(fl.during.pending, FLOOD_RETRY_AT, "unanswered handshakes held: %zu",
                 fl.during.pending);
    cr_assert_eq(fl.during.unproven, FLOOD_RETRY_AT);
    cr_assert_eq(fl.during.retries, FLOOD - FLOOD_RETRY_AT, "the rest got a Retry: %" PRIu64,
                 fl.during.retries);
    cr_assert_eq(fl.during.version_negotiations, 1);
    cr_assert_geq(fl.during.stateless_resets, 1);
    cr_assert_eq(fl.during.established, 0);
    cr_assert_geq(w.server_stats.retries, FLOOD - FLOOD_RETRY_AT + 1,
                  "the real client went through a Retry too (the threshold was reached)");
    size_t held = fl.live_during - fl.live_before;
    cr_log_info("flood: %zu bytes held for %d Initials", held, FLOOD);
    /* about 85 KB per handshake (ngtcp2's allocations count too: quic_conn.c routes them through
     * rly_mem); all 300 would hold some 25 MB */
    cr_assert_lt(held, (size_t)(FLOOD_RETRY_AT + 1) * 128 * 1024,
                 "memory follows the cap, not the flood");
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_keypair_wipe(&fkp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* ---- a full handshake table makes room, but only for a proven address ------------------------ */

static struct {
    qflood f, spoof;
    uv_timer_t tick;
    int step;
    size_t max_pending;
    rly_quic_stats st;
    int dials;
    struct sockaddr_storage server;
} ev;

static void ev_stats(void)
{
    rly_quic_transport_stats(w.server, &ev.st);
    if (ev.st.pending > ev.max_pending)
        ev.max_pending = ev.st.pending;
}

static void ev_dialed(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "the client gets in through the flood of its own address: %s",
                       rly_strerror(err));
    ev.dials++;
}

static void ev_end(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, NULL);
    qflood_stop(&ev.f);
    qflood_stop(&ev.spoof);
    rly_quic_transport_close(w.client, transport_closed, NULL);
    finish();
}

/* Timed out: the tick and the floods' sockets go, so that the loop ends (on_guard closed the rest).
 */
static bool ev_timed_out(uv_timer_t *t)
{
    if (!w.timed_out)
        return false;
    uv_close((uv_handle_t *)t, NULL);
    qflood_stop(&ev.f);
    qflood_stop(&ev.spoof);
    return true;
}

static void evict_tick(uv_timer_t *t)
{
    rly_multiaddr addr;
    if (ev_timed_out(t))
        return;
    ev_stats();
    qflood_expire(&ev.f);
    switch (ev.step) {
    case 0: /* four unproven handshakes fill 127.0.0.1's share: there is room for them */
        for (int i = 0; i < 4; i++)
            qflood_open(&ev.f);
        break;
    case 1: /* the address is full: spoofed Initials (no Retry answered) push nobody out */
        if (ev.st.pending < 4)
            return;
        for (int i = 0; i < 3; i++)
            qflood_open(&ev.spoof);
        break;
    case 2:
        if (ev.st.retries < 3)
            return;
        cr_assert_eq(ev.st.evicted_per_ip + ev.st.evicted_total, 0, "a spoofed Initial evicted");
        cr_assert_eq(ev.st.pending, 4);
        for (int i = 0; i < 20; i++) /* proven ones (a Retry answered) push out the stalest */
            qflood_open(&ev.f);
        break;
    case 3:
        if (ev.st.evicted_per_ip < 20)
            return;
        cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
        cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
        cr_assert_eq(rly_quic_transport_dial(w.client, &addr, ev_dialed, NULL), 0);
        break;
    case 4:
        if (ev.dials < 1 || w.established < 2) /* the server's side comes a moment later */
            return;
        ev_end(t);
        return;
    }
    ev.step++;
}

/* A server on 127.0.0.1 (|sst|), a default client, a tick; |ev.server| is the server's address. */
static void ev_world(rly_quic_settings *sst, rly_keypair *skp, rly_keypair *ckp, uv_timer_cb tick)
{
    rly_quic_settings cst;
    struct sockaddr_in sin;
    rly_multiaddr addr;
    uint32_t tr;
    bool quic;
    memset(&ev, 0, sizeof(ev));
    rly_quic_settings_default(&cst);
    world_start(sst, &cst, skp, ckp);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_to_sockaddr(&addr, &ev.server, &tr, &quic), 0);
    cr_assert_eq(qflood_init(&ev.f, &w.loop, (struct sockaddr *)&ev.server, &w.spid, true), 0);
    cr_assert_eq(qflood_init(&ev.spoof, &w.loop, (struct sockaddr *)&ev.server, &w.spid, false), 0);
    cr_assert_eq(qflood_add_source(&ev.f, (struct sockaddr *)&sin), 0);
    cr_assert_eq(qflood_add_source(&ev.spoof, (struct sockaddr *)&sin), 0);
    uv_timer_init(&w.loop, &ev.tick);
    uv_timer_start(&ev.tick, tick, 10, 10);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 15000, 0);
}

static void ev_world_end(rly_keypair *skp, rly_keypair *ckp)
{
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    qflood_free(&ev.f);
    qflood_free(&ev.spoof);
    rly_keypair_wipe(skp);
    rly_keypair_wipe(ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(quic_transport, a_flood_from_the_clients_own_address_cannot_keep_it_out)
{
    rly_quic_settings sst;
    rly_keypair skp, ckp;
    rly_quic_settings_default(&sst);
    sst.max_pending_handshakes = 8;
    sst.max_pending_per_ip = 4;
    sst.handshake_timeout = sst.handshake_idle_timeout = 30 * RLY_NS_PER_S; /* never, here */
    ev_world(&sst, &skp, &ckp, evict_tick);
    ev_world_end(&skp, &ckp);

    cr_assert_not(w.timed_out, "stuck at step %d", ev.step);
    cr_assert_eq(ev.dials, 1);
    cr_assert_eq(w.established, 2, "both ends of the real connection");
    cr_assert_eq(w.server_stats.evicted_per_ip, 21, "20 by the flood, 1 by the client");
    cr_assert_eq(w.server_stats.evicted_total, 0);
    cr_assert_leq(ev.max_pending, 4, "one address never held more than its share");
    cr_assert_geq(w.server_stats.retries, 24, "every Initial beyond the share went via a Retry");
}

/* ---- silent handshakes hit the idle deadline --------------------------------------------------
 */

static void idle_tick(uv_timer_t *t)
{
    if (ev_timed_out(t))
        return;
    ev_stats();
    switch (ev.step) {
    case 0:
        for (int i = 0; i < 3; i++)
            qflood_open(&ev.spoof); /* room: taken without a Retry, then silence */
        break;
    case 1:
        if (ev.st.handshake_idle_timeouts < 3 || ev.st.pending > 0)
            return;
        ev_end(t);
        return;
    }
    ev.step++;
}

Test(quic_transport, silent_handshakes_hit_the_idle_deadline)
{
    rly_quic_settings sst;
    rly_keypair skp, ckp;
    rly_quic_settings_default(&sst);
    sst.handshake_idle_timeout = 200 * RLY_NS_PER_MS; /* well before handshake_timeout */
    ev_world(&sst, &skp, &ckp, idle_tick);
    ev_world_end(&skp, &ckp);

    cr_assert_not(w.timed_out, "stuck at step %d", ev.step);
    cr_assert_eq(w.server_stats.handshake_idle_timeouts, 3);
    cr_assert_eq(w.server_stats.handshake_timeouts, 0);
    cr_assert_eq(w.server_stats.pending, 0);
}

/* ---- a peer that never reads: no acknowledgement, no window, write_timeout closes it -------- */

static struct {
    size_t written;
    bool closed;
    int err;
    const char *cause;
} wt;

static void wt_pump(rly_stream *s, void *ud)
{
    for (;;) {
        rly_ssize n = rly_stream_write(s, chunk, sizeof(chunk));
        if (n <= 0)
            return; /* RLY_ERR_AGAIN: the client's window stays shut, on_writable never comes */
        wt.written += (size_t)n;
    }
}

static const rly_stream_handler wt_writer = {.on_writable = wt_pump};

static void wt_srv_established(void *ud, rly_conn *c)
{
    rly_stream *s;
    w.established++;
    cr_assert_eq(rly_conn_open_stream(c, &s), 0);
    rly_stream_set_handler(s, &wt_writer, NULL);
    wt_pump(s, NULL);
}

static void wt_srv_closed(void *ud, rly_conn *c, int err, const char *cause)
{
    wt.closed = true;
    wt.err = err;
    wt.cause = cause;
    rly_quic_transport_close(w.client, transport_closed, NULL);
    finish();
}

static const rly_conn_events wt_srv_events = {wt_srv_established, srv_stream, wt_srv_closed};

static void wt_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    /* never consumed: the stream's window is never opened again */
}

static const rly_stream_handler wt_reader = {.on_data = wt_data};

static void wt_cli_stream(void *ud, rly_conn *c, rly_stream *s)
{
    rly_stream_set_handler(s, &wt_reader, NULL);
}

static const rly_conn_events wt_cli_events = {cli_established, wt_cli_stream, cli_closed};

static void wt_dialed(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
}

Test(quic_transport, a_peer_that_never_reads_hits_the_write_timeout)
{
    rly_quic_settings sst, cst;
    rly_keypair skp, ckp;
    struct sockaddr_in sin;
    rly_multiaddr addr;
    memset(&wt, 0, sizeof(wt));
    rly_quic_settings_default(&sst);
    rly_quic_settings_default(&cst);
    sst.write_timeout = 300 * RLY_NS_PER_MS;
    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    cr_assert_eq(rly_keypair_generate(&skp), 0);
    cr_assert_eq(rly_keypair_generate(&ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&skp, &w.spid), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.server, &w.loop, &sst, &skp, &wt_srv_events, NULL, NULL, NULL),
        0);
    cr_assert_eq(
        rly_quic_transport_new(&w.client, &w.loop, &cst, &ckp, &wt_cli_events, NULL, NULL, NULL),
        0);
    w.open_transports = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_quic_transport_listen(w.server, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_quic_transport_listen_addrs(w.server, &addr, 1), 1);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    cr_assert_eq(rly_quic_transport_dial(w.client, &addr, wt_dialed, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 15000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "not closed; %zu bytes written", wt.written);
    cr_assert(wt.closed);
    cr_assert_eq(wt.err, RLY_ERR_TIMEOUT, "%s", rly_strerror(wt.err));
    cr_assert_str_eq(wt.cause, "write timeout (write_timeout_secs)");
    cr_assert_eq(w.server_stats.write_timeouts, 1);
    cr_assert_geq(wt.written, 256 * 1024, "the client's window was filled first");
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
