/* QUIC v1 with libp2p TLS in memory (src/transport/quic/quic_conn.h): our client and our server
 * exchange datagrams through a loop on a virtual clock, no sockets. Both sides end up with the
 * other's PeerId from its certificate; a client that expects another PeerId refuses the server;
 * garbage is dropped without harm. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "core/mem.h"
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

/* Runs the exchange until both sides are established (or |max_rounds|), 1 ms per round, timers
 * on. */
static void run(pair *p, int max_rounds)
{
    for (p->rounds = 0; p->rounds < max_rounds; p->rounds++) {
        flush(p, true);
        flush(p, false);
        p->now += RLY_NS_PER_MS;
        rly_qconn *both[2] = {p->client, p->server};
        for (int i = 0; i < 2; i++)
            if (both[i] && rly_qconn_expiry(both[i]) <= p->now)
                RLY_IGNORE(rly_qconn_handle_expiry(both[i], p->now));
        if (rly_qconn_is_established(p->client) && p->server && rly_qconn_is_established(p->server))
            return;
    }
}

Test(quic_conn, handshake_in_memory_authenticates_both_sides)
{
    pair p;
    pair_init(&p);
    cr_assert_eq(rly_qconn_client_new(&p.client, p.cctx, (struct sockaddr *)&p.caddr,
                                      (struct sockaddr *)&p.saddr, &p.spid, p.now),
                 0);
    cr_assert_not(rly_qconn_is_established(p.client));
    run(&p, 100); /* 100 ms of virtual time; pacing spreads the first flights over ~20 ms */
    cr_assert_not_null(p.server);
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
