/* quic_flood_util.h: QUIC handshakes that stall, for tests (test_quic_transport.c and the
 * tests/tools/quic_stall program). Each is a real client Initial from an in-memory client
 * (rly_qconn), sent from a raw UDP socket, so the server accepts it and answers; then the client
 * says nothing more. A Retry is answered when |answer_retry| is set (an attacker with a real
 * address); nothing else ever is. A handshake's client object is kept for
 * QFLOOD_RETRY_WINDOW_MS to answer a Retry, then dropped (or when the ring is full). */
#ifndef RLY_TESTS_QUIC_FLOOD_UTIL_H
#define RLY_TESTS_QUIC_FLOOD_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "core/peerid.h"
#include "transport/quic/quic_conn.h"
#include "transport/quic/udp.h"

#define QFLOOD_MAX_SRCS 16
#define QFLOOD_MAX_LIVE 8192
#define QFLOOD_RETRY_WINDOW_MS 3000

typedef struct qflood_hs {
    rly_qconn *q;
    uint64_t born_ms;
    size_t src;
} qflood_hs;

typedef struct qflood_src {
    rly_udp_sock u;
    uv_poll_t poll;
    struct qflood *f;
} qflood_src;

typedef struct qflood {
    uv_loop_t *loop;
    rly_quic_ctx *ctx;
    rly_peerid peer;
    struct sockaddr_storage to;
    bool answer_retry;
    qflood_src srcs[QFLOOD_MAX_SRCS];
    size_t nsrcs, next_src;
    qflood_hs live[QFLOOD_MAX_LIVE]; /* a ring: the oldest at |head| */
    size_t head, nlive;
    rly_udp_rx *rx;
    uint64_t initials, retries;
} qflood;

static inline void qflood_send_next(qflood *f, rly_qconn *q, size_t src)
{
    uint8_t pkt[RLY_QUIC_MAX_PKT];
    rly_ssize n = rly_qconn_send(q, pkt, sizeof(pkt), uv_hrtime());
    if (n > 0 && rly_udp_send(&f->srcs[src].u, (struct sockaddr *)&f->to, pkt, (size_t)n, 0) == 0)
        f->initials++;
}

static inline void qflood_drop_oldest(qflood *f)
{
    rly_qconn_del(f->live[f->head].q);
    f->live[f->head].q = NULL;
    f->head = (f->head + 1) % QFLOOD_MAX_LIVE;
    f->nlive--;
}

/* qflood_expire drops the client objects older than the Retry window. */
static inline void qflood_expire(qflood *f)
{
    uint64_t now = uv_now(f->loop);
    while (f->nlive > 0 && now - f->live[f->head].born_ms > QFLOOD_RETRY_WINDOW_MS)
        qflood_drop_oldest(f);
}

/* qflood_open sends one new handshake's Initial, from the next source address in turn. */
static inline void qflood_open(qflood *f)
{
    if (f->nlive == QFLOOD_MAX_LIVE)
        qflood_drop_oldest(f);
    size_t src = f->next_src++ % f->nsrcs;
    rly_qconn *q;
    if (rly_qconn_client_new(&q, f->ctx, (struct sockaddr *)&f->srcs[src].u.local,
                             (struct sockaddr *)&f->to, &f->peer, uv_hrtime()) != 0)
        return;
    qflood_hs *h = &f->live[(f->head + f->nlive) % QFLOOD_MAX_LIVE];
    h->q = q;
    h->born_ms = uv_now(f->loop);
    h->src = src;
    f->nlive++;
    qflood_send_next(f, q, src);
}

static inline qflood_hs *qflood_find(qflood *f, const uint8_t *dcid, size_t len)
{
    for (size_t i = 0; i < f->nlive; i++) {
        qflood_hs *h = &f->live[(f->head + i) % QFLOOD_MAX_LIVE];
        const uint8_t *ids[4];
        size_t lens[4];
        size_t n = rly_qconn_cids(h->q, ids, lens, 4);
        for (size_t k = 0; k < n; k++)
            if (lens[k] == len && memcmp(ids[k], dcid, len) == 0)
                return h;
    }
    return NULL;
}

/* A datagram from the server: a Retry is answered with the Initial that carries its token. */
static inline void qflood_datagram(void *ud, const uint8_t *pkt, size_t len,
                                   const struct sockaddr *from)
{
    qflood *f = ud;
    if (!f->answer_retry || len < 7 || (pkt[0] & 0xf0) != 0xf0) /* long header, type Retry */
        return;
    size_t dlen = pkt[5];
    if (dlen == 0 || 6 + dlen > len)
        return;
    qflood_hs *h = qflood_find(f, pkt + 6, dlen);
    if (!h || rly_qconn_recv(h->q, pkt, len, uv_hrtime()) != 0)
        return;
    f->retries++;
    qflood_send_next(f, h->q, h->src);
}

static inline void qflood_readable(uv_poll_t *p, int status, int events)
{
    qflood_src *s = p->data;
    for (int i = 0; i < 64 && rly_udp_recv(&s->u, s->f->rx, qflood_datagram, s->f) > 0; i++)
        ;
}

/* qflood_init sets up |f| on |loop| against the server |to| (whose identity is |peer|), with a
 * client context of its own. Returns 0 or an error. */
static inline int qflood_init(qflood *f, uv_loop_t *loop, const struct sockaddr *to,
                              const rly_peerid *peer, bool answer_retry)
{
    rly_quic_settings st;
    rly_keypair kp;
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->peer = *peer;
    f->answer_retry = answer_retry;
    memcpy(&f->to, to,
           to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    f->rx = rly_malloc(rly_mem_default(), sizeof(*f->rx));
    if (!f->rx)
        return RLY_ERR_NOMEM;
    rly_quic_settings_default(&st);
    int rv = rly_keypair_generate(&kp);
    if (rv == 0)
        rv = rly_quic_ctx_new(&f->ctx, &kp, &st, NULL, rly_mem_default());
    rly_keypair_wipe(&kp);
    return rv;
}

/* qflood_add_source opens a UDP socket bound to |sa| (port 0) that handshakes come from in turn.
 * Returns 0 or an error. */
static inline int qflood_add_source(qflood *f, const struct sockaddr *sa)
{
    if (f->nsrcs == QFLOOD_MAX_SRCS)
        return RLY_ERR_LIMIT;
    qflood_src *s = &f->srcs[f->nsrcs];
    int rv = rly_udp_open(&s->u, sa);
    if (rv != 0)
        return rv;
    s->f = f;
    uv_poll_init_socket(f->loop, &s->poll, s->u.fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, qflood_readable);
    f->nsrcs++;
    return 0;
}

/* qflood_stop closes the sockets' poll handles (the loop must run once more to release them). */
static inline void qflood_stop(qflood *f)
{
    for (size_t i = 0; i < f->nsrcs; i++)
        uv_close((uv_handle_t *)&f->srcs[i].poll, NULL);
}

/* qflood_free drops every client object and closes the sockets (after qflood_stop and a loop
 * run). */
static inline void qflood_free(qflood *f)
{
    while (f->nlive > 0)
        qflood_drop_oldest(f);
    for (size_t i = 0; i < f->nsrcs; i++)
        rly_udp_close(&f->srcs[i].u);
    rly_quic_ctx_del(f->ctx);
    rly_free(rly_mem_default(), f->rx);
}

#endif
