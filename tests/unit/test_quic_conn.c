/* QUIC v1 with libp2p TLS in memory (src/transport/quic/quic_conn.h): our client and our server
 * exchange datagrams through a loop on a virtual clock, no sockets. Both sides end up with the
 * other's PeerId from its certificate; a client that expects another PeerId refuses the server;
 * garbage is dropped without harm. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "crypto_util.h"
#include "tlscert_util.h"
#include "transport/quic/quic_conn.h"

typedef struct pair {
    rly_quic_ctx *sctx, *cctx;
    rly_keypair skp, ckp;
    rly_peerid spid, cpid;
    struct sockaddr_in saddr, caddr;
    rly_qconn *server, *client;
    rly_tstamp now;
    int rounds;
} pair;

static void pair_init(pair *p)
{
    rly_quic_settings st;
    memset(p, 0, sizeof(*p));
    rly_quic_settings_default(&st);
    cr_assert_eq(rly_keypair_generate(&p->skp), 0);
    cr_assert_eq(rly_keypair_generate(&p->ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&p->skp, &p->spid), 0);
    cr_assert_eq(rly_keypair_peerid(&p->ckp, &p->cpid), 0);
    cr_assert_eq(rly_quic_ctx_new(&p->sctx, &p->skp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_quic_ctx_new(&p->cctx, &p->ckp, &st, NULL, NULL), 0);
    p->saddr.sin_family = p->caddr.sin_family = AF_INET;
    p->saddr.sin_addr.s_addr = p->caddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->saddr.sin_port = htons(4001);
    p->caddr.sin_port = htons(50000);
    p->now = RLY_NS_PER_S;
}

static void pair_free(pair *p)
{
    rly_qconn_del(p->client);
    rly_qconn_del(p->server);
    rly_quic_ctx_del(p->sctx);
    rly_quic_ctx_del(p->cctx);
    rly_keypair_wipe(&p->skp);
    rly_keypair_wipe(&p->ckp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* Moves every datagram |from| has now to the other side. Returns how many moved. */
static int flush(pair *p, bool from_client)
{
    static uint8_t pkt[RLY_QUIC_MAX_PKT];
    rly_qconn *src = from_client ? p->client : p->server;
    int moved = 0;
    for (int i = 0; src && i < 64; i++) {
        rly_ssize n = rly_qconn_send(src, pkt, sizeof(pkt), p->now);
        cr_assert_geq(n, 0);
        if (n == 0)
            break;
        moved++;
        if (from_client && !p->server && getenv("RLY_QUIC_SEEDS")) {
            char path[512]; /* the fuzz seeds: our client's first datagrams */
            snprintf(path, sizeof(path), "%s/client_initial_%d", getenv("RLY_QUIC_SEEDS"), i);
            FILE *f = fopen(path, "wb");
            cr_assert_not_null(f, "%s", path);
            cr_assert_eq(fwrite(pkt, 1, (size_t)n, f), (size_t)n);
            fclose(f);
        }
        if (from_client && !p->server) {
            int rv = rly_qconn_server_new(&p->server, p->sctx, (struct sockaddr *)&p->saddr,
                                          (struct sockaddr *)&p->caddr, pkt, (size_t)n, p->now);
            cr_assert_eq(rv, 0, "server_new: %s", rly_strerror(rv));
        } else if (from_client) {
            RLY_IGNORE(rly_qconn_recv(p->server, pkt, (size_t)n, p->now));
        } else {
            RLY_IGNORE(rly_qconn_recv(p->client, pkt, (size_t)n, p->now));
        }
    }
    return moved;
}

/* One round: every datagram each side has now goes across, 1 ms passes, due timers run. */
static void step(pair *p)
{
    flush(p, true);
    flush(p, false);
    p->now += RLY_NS_PER_MS;
    rly_qconn *both[2] = {p->client, p->server};
    for (int i = 0; i < 2; i++)
        if (both[i] && rly_qconn_expiry(both[i]) <= p->now)
            RLY_IGNORE(rly_qconn_handle_expiry(both[i], p->now));
}

static void steps(pair *p, int n)
{
    for (int r = 0; r < n; r++)
        step(p);
}

/* Steps until |done| holds, at most |max| rounds. */
static void steps_until(pair *p, int max, bool (*done)(void))
{
    for (int r = 0; r < max && !done(); r++)
        step(p);
}

/* Runs the exchange until both sides are established (or |max_rounds|). */
static void run(pair *p, int max_rounds);

/* A client to the server, its first flight not sent yet. */
static void pair_client(pair *p)
{
    cr_assert_eq(rly_qconn_client_new(&p->client, p->cctx, (struct sockaddr *)&p->caddr,
                                      (struct sockaddr *)&p->saddr, &p->spid, p->now),
                 0);
}

/* A client connected to the server (100 ms of virtual time for the handshake). */
static void pair_connect(pair *p)
{
    pair_client(p);
    run(p, 100); /* pacing spreads the first flights over ~20 ms */
    cr_assert(rly_qconn_is_established(p->client) && rly_qconn_is_established(p->server));
}

static void run(pair *p, int max_rounds)
{
    for (p->rounds = 0; p->rounds < max_rounds; p->rounds++) {
        step(p);
        if (rly_qconn_is_established(p->client) && p->server && rly_qconn_is_established(p->server))
            return;
    }
}

Test(quic_conn, handshake_in_memory_authenticates_both_sides)
{
    pair p;
    pair_init(&p);
    pair_client(&p);
    cr_assert_not(rly_qconn_is_established(p.client));
    run(&p, 100); /* up to 100 ms of virtual time */
    cr_assert_not_null(p.server);
    /* Round 0: the client's Initial, the server's flight back; round 1: the client's Finished.
     * Pacing on the 333 ms RTT guess once held that Finished back about 26 ms. */
    cr_assert_leq(p.rounds, 2, "established after %d ms of virtual time", p.rounds);
    cr_assert(rly_qconn_is_established(p.client), "client: %s",
              rly_strerror(rly_qconn_error(p.client)));
    cr_assert(rly_qconn_is_established(p.server), "server: %s",
              rly_strerror(rly_qconn_error(p.server)));
    cr_assert(rly_peerid_equal(rly_qconn_peer(p.client), &p.spid), "the client sees the server");
    cr_assert(rly_peerid_equal(rly_qconn_peer(p.server), &p.cpid), "the server sees the client");
    cr_assert_lt(rly_qconn_expiry(p.client), RLY_TSTAMP_MAX, "timers armed (keepalive, idle)");

    /* Garbage to an established connection is dropped: still established. */
    static uint8_t junk[1200];
    memset(junk, 0x5a, sizeof(junk));
    junk[0] = 0x40; /* a short header with an unknown key phase */
    cr_assert_eq(rly_qconn_recv(p.server, junk, sizeof(junk), p.now), 0);
    cr_assert(rly_qconn_is_established(p.server));
    pair_free(&p);
}

Test(quic_conn, client_refuses_a_server_with_another_peer_id)
{
    pair p;
    pair_init(&p);
    rly_peerid other;
    rly_keypair okp;
    cr_assert_eq(rly_keypair_generate(&okp), 0);
    cr_assert_eq(rly_keypair_peerid(&okp, &other), 0);
    cr_assert_eq(rly_qconn_client_new(&p.client, p.cctx, (struct sockaddr *)&p.caddr,
                                      (struct sockaddr *)&p.saddr, &other, p.now),
                 0);
    run(&p, 50);
    cr_assert_not(rly_qconn_is_established(p.client));
    cr_assert_eq(rly_qconn_error(p.client), RLY_ERR_PEER_ID_MISMATCH, "%s",
                 rly_strerror(rly_qconn_error(p.client)));
    cr_assert_not(p.server && rly_qconn_is_established(p.server),
                  "the server saw the client's alert and never completed");
    rly_keypair_wipe(&okp);
    pair_free(&p);
}

/* client_presents makes the client present a libp2p certificate of its identity whose own key is
 * |cert_pk| (signed by it), with |priv| as the TLS private key: another key than |cert_pk| makes
 * a client that cannot sign for its certificate. */
static void client_presents(pair *p, EVP_PKEY *cert_pk, EVP_PKEY *priv)
{
    static uint8_t der[RLY_TLSCERT_MAX], key[4096];
    ident id = {.type = RLY_KEY_ED25519, .ed = p->ckp};
    forge f = {.key = CK_RSA, .cert_pk = cert_pk, .now = (int64_t)time(NULL)};
    size_t n = forge_cert(&id, &f, der, sizeof(der));
    unsigned char *kp = key;
    int kn = i2d_PrivateKey(priv, &kp);
    cr_assert(kn > 0 && (size_t)kn <= sizeof(key));
    cr_assert_eq(rly_quic_ctx_set_cert_for_test(p->cctx, der, n, key, (size_t)kn), 0);
    rly_zeroize(key, sizeof(key));
}

/* quic_with_cert runs a handshake whose client presents |cert_pk| and signs with |priv|; returns
 * the server's verdict (0: established). */
static int quic_with_cert(EVP_PKEY *cert_pk, EVP_PKEY *priv)
{
    pair p;
    pair_init(&p);
    client_presents(&p, cert_pk, priv);
    pair_client(&p);
    run(&p, 100);
    cr_assert_not_null(p.server);
    int rv = rly_qconn_is_established(p.server) ? 0 : rly_qconn_error(p.server);
    cr_assert(rv != 0 || rly_peerid_equal(rly_qconn_peer(p.server), &p.cpid));
    pair_free(&p);
    return rv;
}

/* An RSA certificate key with a public exponent above 2^31 - 1 is refused before GnuTLS checks
 * the client's CertificateVerify with it (issue 11 item 6: a huge exponent costs 4 ms per
 * verification). A client that cannot sign for its key shows the order: refused for its key
 * (RLY_ERR_CERTIFICATE), not for its signature (RLY_ERR_HANDSHAKE). */
Test(quic_conn, rsa_certificate_exponent_is_bounded_before_certificate_verify)
{
    char huge[501];
    EVP_PKEY *ok = gen_rsa_exp(2048, RSA_E_MAX), *other = gen_rsa(2048);
    cr_assert_eq(quic_with_cert(ok, ok), 0);
    int rv = quic_with_cert(ok, other);
    cr_assert_eq(rv, RLY_ERR_HANDSHAKE, "CertificateVerify is still checked: %s", rly_strerror(rv));
    const char *refused[] = {RSA_E_OVER, rsa_e_huge(huge)};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *big = gen_rsa_exp(2048, refused[i]);
        rv = quic_with_cert(big, big);
        cr_assert_eq(rv, RLY_ERR_CERTIFICATE, "e = %s: %s", refused[i], rly_strerror(rv));
        rv = quic_with_cert(big, other);
        cr_assert_eq(rv, RLY_ERR_CERTIFICATE, "e = %s: %s", refused[i], rly_strerror(rv));
        EVP_PKEY_free(big);
    }
    EVP_PKEY_free(ok);
    EVP_PKEY_free(other);
}

Test(quic_conn, garbage_is_not_an_initial)
{
    pair p;
    pair_init(&p);
    static uint8_t junk[1500];
    for (size_t n = 0; n <= sizeof(junk); n += 100) {
        memset(junk, (int)n, sizeof(junk));
        rly_qconn *q = NULL;
        cr_assert_eq(rly_qconn_server_new(&q, p.sctx, (struct sockaddr *)&p.saddr,
                                          (struct sockaddr *)&p.caddr, junk, n, p.now),
                     RLY_ERR_MALFORMED, "%zu bytes", n);
        cr_assert_null(q);
    }
    pair_free(&p);
}

/* ---- streams: an echo of 3 MiB each way, far more than the stream window ------------------- */

#define ECHO_BYTES (3u * 1024u * 1024u)

typedef struct echo_side {
    rly_stream *s;
    size_t sent, got;
    bool fin_seen, closed, is_server;
    int close_err;
    uint8_t *pending; /* server: received, not yet echoed */
    size_t plen;
} echo_side;

static echo_side cli, srv;
static uint8_t pattern[65536];

static void pump_client(echo_side *e)
{
    while (e->sent < ECHO_BYTES) {
        size_t off = e->sent % 256, n = sizeof(pattern) - off;
        if (n > ECHO_BYTES - e->sent)
            n = ECHO_BYTES - e->sent;
        rly_ssize w = rly_stream_write(e->s, pattern + off, n);
        if (w == RLY_ERR_AGAIN)
            return;
        cr_assert_gt(w, 0, "%s", rly_strerror((int)w));
        e->sent += (size_t)w;
    }
    if (e->sent == ECHO_BYTES) {
        e->sent++; /* FIN once */
        cr_assert_eq(rly_stream_shutdown(e->s), 0);
    }
}

/* The server echoes: it consumes (re-opens the window) only what its own stream accepted. */
static void pump_server(echo_side *e)
{
    while (e->plen > 0) {
        rly_ssize w = rly_stream_write(e->s, e->pending, e->plen);
        if (w == RLY_ERR_AGAIN)
            return;
        cr_assert_gt(w, 0);
        memmove(e->pending, e->pending + w, e->plen - (size_t)w);
        e->plen -= (size_t)w;
        cr_assert_eq(rly_stream_consume(e->s, (size_t)w), 0);
    }
    if (e->fin_seen && e->sent == 0) {
        e->sent = 1;
        cr_assert_eq(rly_stream_shutdown(e->s), 0);
    }
}

static void e_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_side *e = ud;
    if (e->is_server) {
        cr_assert_leq(e->plen + len, 2u * 1024u * 1024u, "beyond the stream window");
        memcpy(e->pending + e->plen, data, len);
        e->plen += len;
        e->got += len;
        pump_server(e);
        return;
    }
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(data[i], (uint8_t)((e->got + i) * 13u), "echo byte %zu", e->got + i);
    e->got += len;
    cr_assert_eq(rly_stream_consume(s, len), 0);
}

static void e_on_fin(rly_stream *s, void *ud)
{
    echo_side *e = ud;
    e->fin_seen = true;
    if (e->is_server)
        pump_server(e);
}

static void e_on_writable(rly_stream *s, void *ud)
{
    echo_side *e = ud;
    if (e->is_server)
        pump_server(e);
    else
        pump_client(e);
}

static void e_on_close(rly_stream *s, void *ud, int err)
{
    echo_side *e = ud;
    e->closed = true;
    e->close_err = err;
    e->s = NULL;
}

static const rly_stream_handler echo_handler = {e_on_data, e_on_fin, e_on_writable, e_on_close};

static bool both_closed(void)
{
    return cli.closed && srv.closed;
}

static bool server_got_two(void)
{
    return srv.got >= 2;
}

static bool server_closed(void)
{
    return srv.closed;
}

static void srv_on_stream(void *ud, rly_qconn *q, rly_stream *s)
{
    cr_assert_null(srv.s, "one stream");
    cr_assert_not(s->is_outbound);
    srv.s = s;
    rly_stream_set_handler(s, &echo_handler, &srv);
}

static const rly_qconn_events srv_events = {.on_stream = srv_on_stream};

Test(quic_conn, stream_echo_with_flow_control)
{
    pair p;
    pair_init(&p);
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 13u);
    memset(&cli, 0, sizeof(cli));
    memset(&srv, 0, sizeof(srv));
    srv.is_server = true;
    srv.pending = malloc(2u * 1024u * 1024u);
    pair_connect(&p);
    cr_assert(rly_qconn_is_established(p.client) && rly_qconn_is_established(p.server));
    rly_qconn_set_events(p.server, &srv_events, NULL);
    cr_assert_eq(rly_qconn_open_stream(p.client, &cli.s), 0);
    cr_assert(cli.s->is_outbound);
    rly_stream_set_handler(cli.s, &echo_handler, &cli);
    pump_client(&cli);
    cr_assert_lt(cli.sent, ECHO_BYTES, "the stream buffer caps the writer");
    steps_until(&p, 20000, both_closed); /* up to 20 s of virtual time */
    cr_assert_eq(srv.got, ECHO_BYTES, "server got %zu", srv.got);
    cr_assert_eq(cli.got, ECHO_BYTES, "client got %zu back", cli.got);
    cr_assert(cli.fin_seen && srv.fin_seen);
    cr_assert(cli.closed && srv.closed, "both ends closed cleanly");
    cr_assert_eq(cli.close_err, 0);
    cr_assert_eq(srv.close_err, 0);
    cr_assert(rly_qconn_is_established(p.client) && rly_qconn_is_established(p.server));
    free(srv.pending);
    pair_free(&p);
}

/* ---- reset: RESET_STREAM + STOP_SENDING reach the other side as a reset ------------------- */

static void sink_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    srv.got += len;
    cr_assert_eq(rly_stream_consume(s, len), 0);
}

static const rly_stream_handler sink_handler = {.on_data = sink_on_data, .on_close = e_on_close};

static void on_stream_keep(void *ud, rly_qconn *q, rly_stream *s)
{
    srv.s = s;
    rly_stream_set_handler(s, &sink_handler, &srv);
}

static const rly_qconn_events keep_events = {.on_stream = on_stream_keep};

Test(quic_conn, reset_reaches_the_peer_and_streams_close_with_the_connection)
{
    pair p;
    pair_init(&p);
    memset(&cli, 0, sizeof(cli));
    memset(&srv, 0, sizeof(srv));
    srv.is_server = true;
    srv.pending = malloc(2u * 1024u * 1024u);
    pair_connect(&p);
    rly_qconn_set_events(p.server, &keep_events, NULL);
    cr_assert_eq(rly_qconn_open_stream(p.client, &cli.s), 0);
    rly_stream_set_handler(cli.s, &echo_handler, &cli);
    static const uint8_t hi[] = "hi";
    cr_assert_eq(rly_stream_write(cli.s, hi, 2), 2);
    steps_until(&p, 50, server_got_two);
    cr_assert_eq(srv.got, 2, "the server has the stream");
    cr_assert_eq(rly_stream_reset(cli.s), 0);
    cr_assert(cli.closed, "on_close at once for the side that resets");
    cr_assert_eq(cli.close_err, RLY_ERR_RESET);
    steps_until(&p, 100, server_closed);
    cr_assert(srv.closed, "the server saw the reset");
    cr_assert_eq(srv.close_err, RLY_ERR_RESET);

    /* A second stream is open when the connection goes: it gets on_close(CLOSED). */
    memset(&cli, 0, sizeof(cli));
    cr_assert_eq(rly_qconn_open_stream(p.client, &cli.s), 0);
    rly_stream_set_handler(cli.s, &echo_handler, &cli);
    rly_qconn_del(p.client);
    p.client = NULL;
    cr_assert(cli.closed);
    cr_assert_eq(cli.close_err, RLY_ERR_CLOSED);
    free(srv.pending);
    pair_free(&p);
}

/* ---- stateless reset: a connection the server forgot ends at once at the client ------------- */

Test(quic_conn, stateless_reset_ends_the_peer_connection)
{
    static uint8_t out[64], pkt[RLY_QUIC_MAX_PKT];
    pair p;
    pair_init(&p);
    /* Sizes: nothing for packets too short to hide a reset; one byte less; at most 43. */
    static const uint8_t cid[RLY_QUIC_SCID_LEN] = {1, 2, 3};
    cr_assert_eq(rly_quic_stateless_reset(p.sctx, cid, sizeof(cid), 21, out, sizeof(out)), 0);
    cr_assert_eq(rly_quic_stateless_reset(p.sctx, cid, sizeof(cid), 22, out, sizeof(out)), 21);
    cr_assert_eq(rly_quic_stateless_reset(p.sctx, cid, sizeof(cid), 1200, out, sizeof(out)), 43);
    cr_assert_eq(out[0] & 0xc0, 0x40, "looks like a short-header packet");

    pair_connect(&p);
    cr_assert(rly_qconn_is_established(p.client) && rly_qconn_is_established(p.server));
    /* A client packet after the handshake: its destination ID is one the server issued. */
    rly_stream *s;
    cr_assert_eq(rly_qconn_open_stream(p.client, &s), 0);
    cr_assert_eq(rly_stream_write(s, (const uint8_t *)"x", 1), 1);
    rly_ssize n = rly_qconn_send(p.client, pkt, sizeof(pkt), p.now);
    cr_assert_gt(n, 1 + RLY_QUIC_SCID_LEN);
    cr_assert_eq(pkt[0] & 0x80, 0, "a short header");
    /* A reset made with another secret is not one: ignored. */
    size_t rn =
        rly_quic_stateless_reset(p.cctx, pkt + 1, RLY_QUIC_SCID_LEN, (size_t)n, out, sizeof(out));
    cr_assert_gt(rn, 0);
    cr_assert_eq(rly_qconn_recv(p.client, out, rn, p.now), 0);
    cr_assert(rly_qconn_is_established(p.client), "a forged reset is ignored");
    /* The server restarted (no state; a new context from the same identity key): its reset ends
     * the client's connection. */
    rly_quic_settings st;
    rly_quic_ctx *restarted;
    rly_quic_settings_default(&st);
    cr_assert_eq(rly_quic_ctx_new(&restarted, &p.skp, &st, NULL, NULL), 0);
    rn = rly_quic_stateless_reset(restarted, pkt + 1, RLY_QUIC_SCID_LEN, (size_t)n, out,
                                  sizeof(out));
    rly_quic_ctx_del(restarted);
    cr_assert_gt(rn, 0);
    RLY_IGNORE(rly_qconn_recv(p.client, out, rn, p.now));
    cr_assert_eq(rly_qconn_error(p.client), RLY_ERR_CLOSED, "the client drained: %s",
                 rly_strerror(rly_qconn_error(p.client)));
    pair_free(&p);
}

/* ---- address validation: Retry, tokens, Version Negotiation --------------------------------- */

/* The client's next datagram (an Initial). */
static size_t client_datagram(pair *p, uint8_t *pkt)
{
    rly_ssize n = rly_qconn_send(p->client, pkt, RLY_QUIC_MAX_PKT, p->now);
    cr_assert_geq(n, 1200, "a padded Initial");
    return (size_t)n;
}

Test(quic_conn, retry_then_validated_handshake)
{
    static uint8_t pkt[RLY_QUIC_MAX_PKT], reply[RLY_QUIC_MAX_PKT];
    size_t rlen;
    pair p;
    pair_init(&p);
    pair_client(&p);
    size_t n = client_datagram(&p, pkt);
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, n, (struct sockaddr *)&p.caddr, false, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_TAKE, "no token, none required");
    cr_assert_eq(rlen, 0);
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, 100, (struct sockaddr *)&p.caddr, true, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_DROP, "a truncated Initial gets nothing, not even a Retry");
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, n, (struct sockaddr *)&p.caddr, true, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_RETRY);
    cr_assert_gt(rlen, 0);
    cr_assert_lt(rlen, n / 3, "a Retry amplifies nothing (%zu bytes for %zu)", rlen, n);
    cr_assert_eq(reply[0] & 0xf0, 0xf0, "a long-header Retry packet");

    /* The client takes the Retry and sends its Initial again, with the token. */
    cr_assert_eq(rly_qconn_recv(p.client, reply, rlen, p.now), 0);
    n = client_datagram(&p, pkt);
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, n, (struct sockaddr *)&p.caddr, true, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_VALIDATED);

    /* The token is bound to the client's address, expires, and cannot be altered. */
    struct sockaddr_in other = p.caddr;
    other.sin_port = htons(50001);
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, n, (struct sockaddr *)&other, true, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_BAD_TOKEN, "another source port");
    cr_assert_gt(rlen, 0, "answered with INVALID_TOKEN");
    cr_assert_eq(rly_quic_check_initial(p.sctx, pkt, n, (struct sockaddr *)&p.caddr, true,
                                        p.now + 11 * RLY_NS_PER_S, reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_BAD_TOKEN, "11 s later");
    rly_qconn *none = NULL;
    cr_assert_eq(rly_qconn_server_new(&none, p.sctx, (struct sockaddr *)&p.saddr,
                                      (struct sockaddr *)&other, pkt, n, p.now),
                 RLY_ERR_MALFORMED, "server_new checks the token too");
    cr_assert_null(none);
    rly_quic_settings st;
    rly_quic_ctx *other_ctx;
    rly_keypair okp;
    rly_quic_settings_default(&st);
    cr_assert_eq(rly_keypair_generate(&okp), 0);
    cr_assert_eq(rly_quic_ctx_new(&other_ctx, &okp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_quic_check_initial(other_ctx, pkt, n, (struct sockaddr *)&p.caddr, true, p.now,
                                        reply, sizeof(reply), &rlen),
                 RLY_QUIC_INITIAL_BAD_TOKEN, "another server's secret");
    rly_quic_ctx_del(other_ctx);
    rly_keypair_wipe(&okp);

    /* The validated Initial makes the connection, and the handshake completes. */
    cr_assert_eq(rly_qconn_server_new(&p.server, p.sctx, (struct sockaddr *)&p.saddr,
                                      (struct sockaddr *)&p.caddr, pkt, n, p.now),
                 0);
    run(&p, 100);
    cr_assert(rly_qconn_is_established(p.client) && rly_qconn_is_established(p.server),
              "established after a Retry (the client checks retry_source_connection_id)");
    cr_assert(rly_peerid_equal(rly_qconn_peer(p.server), &p.cpid));
    pair_free(&p);
}

Test(quic_conn, version_negotiation_for_other_versions)
{
    static uint8_t pkt[RLY_QUIC_MAX_PKT], out[256];
    pair p;
    pair_init(&p);
    pair_client(&p);
    size_t n = client_datagram(&p, pkt);
    cr_assert_eq(rly_quic_version_negotiation(pkt, n, out, sizeof(out)), 0, "v1: none");
    static const uint8_t grease[4] = {0x5a, 0x6a, 0x7a, 0x8a};
    memcpy(pkt + 1, grease, 4);
    cr_assert_eq(rly_quic_version_negotiation(pkt, 1199, out, sizeof(out)), 0,
                 "below 1200 bytes: none (no amplification)");
    size_t vn = rly_quic_version_negotiation(pkt, n, out, sizeof(out));
    cr_assert_gt(vn, 0);
    cr_assert(out[0] & 0x80, "long header");
    cr_assert_eq(out[1] | out[2] | out[3] | out[4], 0, "version 0: Version Negotiation");
    size_t dcidlen = pkt[5], scidlen = pkt[6 + dcidlen];
    cr_assert_eq(out[5], scidlen, "its destination is the client's source ID");
    cr_assert_eq(memcmp(out + 6, pkt + 7 + dcidlen, scidlen), 0);
    static const uint8_t v1[4] = {0, 0, 0, 1};
    cr_assert_eq(memcmp(out + vn - 8, v1, 4), 0, "offers v1");
    cr_assert_eq(rly_quic_version_negotiation(out, vn, pkt, sizeof(pkt)), 0,
                 "never answers a Version Negotiation");
    pkt[0] &= 0x7f;
    cr_assert_eq(rly_quic_version_negotiation(pkt, n, out, sizeof(out)), 0, "short header: none");
    pair_free(&p);
}

/* ---- the connection window survives streams closed with unconsumed data --------------------- */

static size_t sink_got[8];
static rly_stream *sink_streams[8];
static int nsinks;
static bool sink_consumes;

static void lazy_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    size_t i = (size_t)(uintptr_t)ud;
    sink_got[i] += len;
    if (sink_consumes)
        cr_assert_eq(rly_stream_consume(s, len), 0);
}

static void lazy_on_close(rly_stream *s, void *ud, int err)
{
    sink_streams[(size_t)(uintptr_t)ud] = NULL;
}

static const rly_stream_handler lazy_handler = {.on_data = lazy_on_data, .on_close = lazy_on_close};

static void lazy_on_stream(void *ud, rly_qconn *q, rly_stream *s)
{
    cr_assert_lt(nsinks, 8);
    sink_streams[nsinks] = s;
    rly_stream_set_handler(s, &lazy_handler, (void *)(uintptr_t)nsinks);
    nsinks++;
}

static const rly_qconn_events lazy_events = {.on_stream = lazy_on_stream};

Test(quic_conn, connection_window_survives_streams_reset_with_unconsumed_data)
{
    static uint8_t data[256 * 1024];
    pair p;
    pair_init(&p);
    memset(sink_got, 0, sizeof(sink_got));
    nsinks = 0;
    sink_consumes = false;
    pair_connect(&p);
    rly_qconn_set_events(p.server, &lazy_events, NULL);
    /* 4 MiB connection window: 20 streams of 256 KiB each, delivered and never consumed, then
     * reset by the server, would use it up five times over if the bytes were lost. */
    for (int i = 0; i < 20; i++) {
        rly_stream *s;
        nsinks = 0;
        cr_assert_eq(rly_qconn_open_stream(p.client, &s), 0);
        cr_assert_eq(rly_stream_write(s, data, sizeof(data)), (rly_ssize)sizeof(data));
        steps(&p, 60);
        cr_assert_eq(nsinks, 1, "round %d: the server has the stream", i);
        cr_assert_eq(sink_got[0], sizeof(data), "round %d: %zu bytes delivered", i, sink_got[0]);
        cr_assert_eq(rly_stream_reset(sink_streams[0]), 0);
        RLY_IGNORE(rly_stream_reset(s));
        sink_got[0] = 0;
        steps(&p, 5);
    }
    /* And a normal stream still flows. */
    nsinks = 0;
    sink_consumes = true;
    rly_stream *s;
    cr_assert_eq(rly_qconn_open_stream(p.client, &s), 0);
    cr_assert_eq(rly_stream_write(s, data, sizeof(data)), (rly_ssize)sizeof(data));
    steps(&p, 60);
    cr_assert_eq(sink_got[0], sizeof(data), "the connection still carries data: %zu", sink_got[0]);
    pair_free(&p);
}

/* ---- the peer's STOP_SENDING ends our writing side as a reset (no stall) -------------------- */

/* The client writes a stream as fast as it may to a server stream that consumes what it gets
 * (|consumes|) or nothing; |rounds| rounds later the server holds exactly that one stream. */
static void writer_to_lazy_sink(pair *p, bool consumes, int rounds)
{
    memset(&cli, 0, sizeof(cli));
    memset(sink_got, 0, sizeof(sink_got));
    nsinks = 0;
    sink_consumes = consumes;
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 13u);
    pair_connect(p);
    rly_qconn_set_events(p->server, &lazy_events, NULL);
    cr_assert_eq(rly_qconn_open_stream(p->client, &cli.s), 0);
    rly_stream_set_handler(cli.s, &echo_handler, &cli);
    pump_client(&cli);
    steps(p, rounds);
    cr_assert_eq(nsinks, 1);
}

Test(quic_conn, peer_stop_sending_resets_the_writer)
{
    pair p;
    pair_init(&p);
    writer_to_lazy_sink(&p, true, 20);
    cr_assert_eq(rly_qconn_stop_reading(sink_streams[0]), 0); /* the server stops reading */
    steps(&p, 200);
    cr_assert(cli.closed, "the client writer was told (sent %zu)", cli.sent);
    cr_assert_eq(cli.close_err, RLY_ERR_RESET, "%s", rly_strerror(cli.close_err));
    pair_free(&p);
}

/* The same while the writer is blocked on the peer's stream window (the reader consumed nothing,
 * as a relay destination that stopped reading), and with nothing of the writer's reaching the
 * reader any more: so the reader never answers the writer's RESET_STREAM with its own, as a peer
 * that only stops reading (go's CancelRead) would not either. No send attempt meets the shut
 * write side while the stream is blocked: only the STOP_SENDING itself can tell the writer. */
Test(quic_conn, peer_stop_sending_reaches_a_blocked_writer)
{
    static uint8_t scratch[RLY_QUIC_MAX_PKT];
    pair p;
    pair_init(&p);
    writer_to_lazy_sink(&p, false, 50);
    cr_assert_lt(sink_got[0], cli.sent, "the window holds the rest back (got %zu of %zu)",
                 sink_got[0], cli.sent);
    cr_assert_not(cli.closed);
    cr_assert_eq(rly_qconn_stop_reading(sink_streams[0]), 0);
    for (int r = 0; r < 200 && !cli.closed; r++) {
        flush(&p, false); /* server -> client */
        for (int i = 0; i < 64 && rly_qconn_send(p.client, scratch, sizeof(scratch), p.now) > 0;
             i++)
            ; /* client -> nowhere */
        p.now += RLY_NS_PER_MS;
        if (rly_qconn_expiry(p.server) <= p.now)
            RLY_IGNORE(rly_qconn_handle_expiry(p.server, p.now));
        if (rly_qconn_expiry(p.client) <= p.now)
            RLY_IGNORE(rly_qconn_handle_expiry(p.client, p.now));
    }
    cr_assert(cli.closed, "the blocked writer was told (sent %zu, delivered %zu)", cli.sent,
              sink_got[0]);
    cr_assert_eq(cli.close_err, RLY_ERR_RESET, "%s", rly_strerror(cli.close_err));
    pair_free(&p);
}
