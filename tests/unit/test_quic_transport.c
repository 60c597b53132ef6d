/* The QUIC transport on a real loop over loopback UDP (src/transport/quic/quic_transport.h): a
 * client transport dials a listening one by /ip4|ip6/.../udp/<port>/quic-v1/p2p/<id>, both get
 * on_established with the other's PeerId, a stream carries 4 MiB with FIN both ways, and when the
 * client transport closes, the server learns it from the CONNECTION_CLOSE (on_closed, no timeout).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "transport/quic/quic_transport.h"

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

static void run_over(const char *ip, int family)
{
    rly_quic_settings st;
    rly_keypair skp, ckp;
    struct sockaddr_storage ss;
    rly_multiaddr addr;

    memset(&w, 0, sizeof(w));
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)(i * 7u);
    uv_loop_init(&w.loop);
    rly_quic_settings_default(&st);
    cr_assert_eq(rly_keypair_generate(&skp), 0);
    cr_assert_eq(rly_keypair_generate(&ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&skp, &w.spid), 0);
    cr_assert_eq(rly_keypair_peerid(&ckp, &w.cpid), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.server, &w.loop, &st, &skp, &srv_events, NULL, NULL, NULL), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.client, &w.loop, &st, &ckp, &cli_events, NULL, NULL, NULL), 0);
    w.open_transports = 2;
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
    rly_keypair_wipe(&skp);
    rly_keypair_wipe(&ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(quic_transport, ipv4_dial_stream_and_close)
{
    run_over("127.0.0.1", AF_INET);
}

Test(quic_transport, ipv6_dial_stream_and_close)
{
    run_over("::1", AF_INET6);
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

    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_quic_settings_default(&sst);
    rly_quic_settings_default(&cst);
    sst.max_pending_handshakes = 0;              /* takes no new connection at all */
    cst.handshake_timeout = 300 * RLY_NS_PER_MS; /* the client gives up soon */
    cr_assert_eq(rly_keypair_generate(&skp), 0);
    cr_assert_eq(rly_keypair_generate(&ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&skp, &w.spid), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.server, &w.loop, &sst, &skp, &srv_events, NULL, NULL, NULL), 0);
    cr_assert_eq(
        rly_quic_transport_new(&w.client, &w.loop, &cst, &ckp, &cli_events, NULL, NULL, NULL), 0);
    w.open_transports = 2;
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
