/* test_reservation.c: the reservation table and circuit counters (src/relay/reservation.c) on a
 * virtual clock: reserve, refresh (over the same or another connection: one reservation per
 * peer, belonging to the connection that reserved last), expiry order, the global cap, lookup,
 * connection close (the reservation moves to the next connection or is dropped), circuit caps for
 * source and destination, limit changes at run time, allocation failures, and thousands of peers
 * doing seeded random operations against a simple reference model. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "relay/reservation.h"

#define S RLY_NS_PER_S

static void check_no_leak(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",
                 rly_mem_default()->live_bytes);
}

/* A sha2-256-shaped peer ID (0x12 0x20 + 32 bytes) derived from |i|. */
static rly_peerid peer(uint32_t i)
{
    rly_peerid p;
    memset(&p, 0, sizeof(p));
    p.bytes[0] = 0x12;
    p.bytes[1] = 0x20;
    for (int k = 0; k < 32; k++)
        p.bytes[2 + k] = (uint8_t)((i >> (8 * (k % 4))) ^ (uint32_t)(k * 29));
    p.len = 34;
    return p;
}

static rly_relay_limits limits(uint64_t max_res, uint64_t per_peer, rly_tstamp ttl,
                               uint64_t max_circ, uint64_t circ_per_peer)
{
    rly_relay_limits l = {.max_reservations = max_res,
                          .max_reservations_per_peer = per_peer,
                          .ttl = ttl,
                          .max_circuits = max_circ,
                          .max_circuits_per_peer = circ_per_peer};
    return l;
}

static rly_reservations *table(const rly_relay_limits *l)
{
    rly_reservations *t = NULL;
    cr_assert_eq(rly_reservations_new(&t, l, NULL, NULL), 0);
    cr_assert_not_null(t);
    return t;
}

/* Events collected by the removal callback. */
typedef struct events {
    rly_reservation_info ev[64];
    size_t n;
} events;

static void collect(void *ud, const rly_reservation_info *r)
{
    events *e = ud;
    cr_assert(e->n < RLY_ARRAY_LEN(e->ev));
    e->ev[e->n++] = *r;
}

/* Reserve and expect success; returns |renewed|, and the connection that held it before in
 * |*pprev| (may be NULL; 0 for a new reservation). */
static bool reserve_prev(rly_reservations *t, uint32_t p, uint64_t conn, rly_tstamp now,
                         uint64_t *pprev)
{
    rly_peerid id = peer(p);
    rly_tstamp exp = 0;
    bool renewed = true;
    uint64_t prev = UINT64_MAX;
    int rv = rly_reservations_reserve(t, &id, conn, now, &exp, &renewed, &prev);
    cr_assert_eq(rv, 0, "reserve peer %u conn %llu: %d", p, (unsigned long long)conn, rv);
    cr_assert_eq(exp, now + rly_reservations_get_limits(t)->ttl);
    if (!renewed)
        cr_assert_eq(prev, 0);
    if (pprev)
        *pprev = prev;
    return renewed;
}

static bool reserve_ok(rly_reservations *t, uint32_t p, uint64_t conn, rly_tstamp now)
{
    return reserve_prev(t, p, conn, now, NULL);
}

static int reserve_rv(rly_reservations *t, uint32_t p, uint64_t conn, rly_tstamp now)
{
    rly_peerid id = peer(p);
    rly_tstamp exp = 0;
    bool renewed = false;
    return rly_reservations_reserve(t, &id, conn, now, &exp, &renewed, NULL);
}

/* Connection |conn| of peer |p| closes; |next| is where the reservation moves (NULL: drop). */
static rly_reservation_close conn_closed(rly_reservations *t, uint32_t p, uint64_t conn,
                                         const uint64_t *next, events *e)
{
    rly_peerid id = peer(p);
    return rly_reservations_on_connection_closed(t, &id, conn, next, e ? collect : NULL, e);
}

static bool is_peer(const rly_peerid *id, uint32_t p)
{
    rly_peerid want = peer(p);
    return rly_peerid_equal(id, &want);
}

static uint64_t lookup_conn(const rly_reservations *t, uint32_t p, rly_tstamp now)
{
    rly_peerid id = peer(p);
    rly_reservation_info info;
    int rv = rly_reservations_lookup(t, &id, now, &info);
    if (rv == RLY_ERR_NO_RESERVATION)
        return UINT64_MAX;
    cr_assert_eq(rv, 0);
    cr_assert(rly_peerid_equal(&info.peer, &id));
    return info.conn_id;
}

static rly_reservations_peer_stats stats(const rly_reservations *t, uint32_t p)
{
    rly_peerid id = peer(p);
    rly_reservations_peer_stats s;
    rly_reservations_get_peer_stats(t, &id, &s);
    return s;
}

static int circ_begin(rly_reservations *t, uint32_t src, uint32_t dst)
{
    rly_peerid a = peer(src), b = peer(dst);
    return rly_reservations_circuit_begin(t, &a, &b);
}

static int circ_end(rly_reservations *t, uint32_t src, uint32_t dst)
{
    rly_peerid a = peer(src), b = peer(dst);
    return rly_reservations_circuit_end(t, &a, &b);
}

/* ---- reservations ---- */

Test(reservation, defaults)
{
    rly_relay_limits l;
    rly_relay_limits_default(&l);
    cr_assert_eq(l.max_reservations, 100);
    cr_assert_eq(l.max_reservations_per_peer, 5);
    cr_assert_eq(l.ttl, 3600 * S);
    cr_assert_eq(l.max_circuits, 1024);
    cr_assert_eq(l.max_circuits_per_peer, 16);
    rly_reservations *t = NULL;
    cr_assert_eq(rly_reservations_new(NULL, &l, NULL, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_reservations_new(&t, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    t = table(&l);
    cr_assert_eq(rly_reservations_count(t), 0);
    cr_assert_eq(rly_reservations_get_expiry(t), RLY_TSTAMP_MAX);
    cr_assert_eq(rly_reservations_expire(t, RLY_TSTAMP_MAX, NULL, NULL), 0);
    rly_reservations_del(t);
    rly_reservations_del(NULL);
    check_no_leak();
}

Test(reservation, reserve_refresh_lookup)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    cr_assert_not(reserve_ok(t, 1, 7, 10 * S));
    cr_assert_eq(rly_reservations_count(t), 1);
    cr_assert_eq(rly_reservations_peer_count(t), 1);
    cr_assert_eq(rly_reservations_get_expiry(t), 110 * S);
    cr_assert_eq(lookup_conn(t, 1, 10 * S), 7);
    cr_assert_eq(lookup_conn(t, 2, 10 * S), UINT64_MAX);

    /* Same (peer, connection): a refresh with a fresh expiry, not a new slot. */
    uint64_t prev = 0;
    cr_assert(reserve_prev(t, 1, 7, 50 * S, &prev));
    cr_assert_eq(prev, 7);
    cr_assert_eq(rly_reservations_count(t), 1);
    cr_assert_eq(stats(t, 1).reservations, 1);
    cr_assert_eq(rly_reservations_get_expiry(t), 150 * S);
    rly_peerid id = peer(1);
    rly_reservation_info info;
    cr_assert_eq(rly_reservations_lookup(t, &id, 149 * S, &info), 0);
    cr_assert_eq(info.conn_id, 7);
    cr_assert_eq(info.expire, 150 * S);

    /* The same peer over another connection: a refresh too, and the reservation now belongs to
     * that connection (CONNECT's STOP stream goes there). Still one slot. */
    cr_assert(reserve_prev(t, 1, 8, 60 * S, &prev));
    cr_assert_eq(prev, 7);
    cr_assert_eq(stats(t, 1).reservations, 1);
    cr_assert_eq(rly_reservations_count(t), 1);
    cr_assert_eq(rly_reservations_peer_count(t), 1);
    cr_assert_eq(lookup_conn(t, 1, 60 * S), 8);
    cr_assert_eq(rly_reservations_get_expiry(t), 160 * S);
    /* The old connection no longer holds it: closing it, or removing by it, changes nothing. */
    cr_assert_eq(conn_closed(t, 1, 7, NULL, NULL), RLY_RESERVATION_UNTOUCHED);
    cr_assert_eq(rly_reservations_remove(t, &id, 7), RLY_ERR_NOT_FOUND);
    cr_assert_eq(lookup_conn(t, 1, 60 * S), 8);
    /* The same connection id for another peer is another reservation. */
    cr_assert_not(reserve_ok(t, 2, 8, 60 * S));
    cr_assert_eq(rly_reservations_count(t), 2);
    cr_assert_eq(lookup_conn(t, 2, 60 * S), 8);
    /* find sees what lookup sees, and expired entries too. */
    cr_assert_eq(rly_reservations_find(t, &id, &info), 0);
    cr_assert_eq(info.conn_id, 8);
    cr_assert_eq(info.expire, 160 * S);
    cr_assert_eq(lookup_conn(t, 1, 160 * S), UINT64_MAX);
    cr_assert_eq(rly_reservations_find(t, &id, &info), 0);
    rly_peerid other = peer(3);
    cr_assert_eq(rly_reservations_find(t, &other, &info), RLY_ERR_NO_RESERVATION);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, expiry_order)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    /* Peers 1..5 at 10, 20, .., 50 s; then peer 1 refreshes at 60 s and moves last. */
    for (uint32_t p = 1; p <= 5; p++)
        (void)reserve_ok(t, p, p, p * 10 * S);
    cr_assert(reserve_ok(t, 1, 1, 60 * S));
    cr_assert_eq(rly_reservations_get_expiry(t), 120 * S);

    events e = {.n = 0};
    cr_assert_eq(rly_reservations_expire(t, 119 * S, collect, &e), 0);
    cr_assert_eq(rly_reservations_expire(t, 120 * S, collect, &e), 1);
    cr_assert(is_peer(&e.ev[0].peer, 2));
    cr_assert_eq(e.ev[0].conn_id, 2);
    cr_assert_eq(e.ev[0].expire, 120 * S);
    cr_assert_eq(rly_reservations_get_expiry(t), 130 * S);
    cr_assert_eq(rly_reservations_expire(t, 155 * S, collect, &e), 3);
    cr_assert(is_peer(&e.ev[1].peer, 3));
    cr_assert(is_peer(&e.ev[2].peer, 4));
    cr_assert(is_peer(&e.ev[3].peer, 5));
    cr_assert_eq(rly_reservations_get_expiry(t), 160 * S);
    cr_assert_eq(rly_reservations_peer_count(t), 1);
    cr_assert_eq(rly_reservations_expire(t, 1000 * S, NULL, NULL), 1);
    cr_assert_eq(rly_reservations_count(t), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    cr_assert_eq(rly_reservations_get_expiry(t), RLY_TSTAMP_MAX);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, ttl_saturates)
{
    rly_relay_limits l = limits(10, 5, RLY_TSTAMP_MAX - 5, 10, 4);
    rly_reservations *t = table(&l);
    rly_peerid id = peer(1);
    rly_tstamp exp = 0;
    bool renewed = true;
    cr_assert_eq(rly_reservations_reserve(t, &id, 1, 100, &exp, &renewed, NULL), 0);
    cr_assert_eq(exp, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_reservations_expire(t, RLY_TSTAMP_MAX - 1, NULL, NULL), 0);
    cr_assert_eq(lookup_conn(t, 1, RLY_TSTAMP_MAX - 1), 1);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, global_cap)
{
    rly_relay_limits l = limits(3, 5, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    for (uint32_t p = 1; p <= 3; p++)
        (void)reserve_ok(t, p, p, 0);
    cr_assert_eq(rly_reservations_count(t), 3);
    /* Exactly at the cap: a new one is refused and nothing changes. */
    cr_assert_eq(reserve_rv(t, 4, 4, S), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(rly_reservations_count(t), 3);
    cr_assert_eq(rly_reservations_peer_count(t), 3);
    cr_assert_eq(stats(t, 4).reservations, 0);
    /* A refresh at the cap is allowed, over the same connection or another one. */
    cr_assert(reserve_ok(t, 2, 2, 10 * S));
    cr_assert(reserve_ok(t, 1, 9, 20 * S));
    cr_assert_eq(lookup_conn(t, 1, 20 * S), 9);
    cr_assert_eq(rly_reservations_count(t), 3);
    /* Peer 3 expires first (100 s), which frees a slot. */
    cr_assert_eq(rly_reservations_expire(t, 100 * S, NULL, NULL), 1);
    cr_assert_eq(lookup_conn(t, 3, 100 * S), UINT64_MAX);
    cr_assert_not(reserve_ok(t, 4, 4, 100 * S));
    cr_assert_eq(reserve_rv(t, 5, 5, 100 * S), RLY_ERR_RESERVATION_REFUSED);
    rly_reservations_del(t);
    check_no_leak();
}

/* One reservation per peer whatever max_reservations_per_peer says (go keys them by peer): a
 * RESERVE over any of the peer's connections refreshes it and moves it there. */
Test(reservation, one_reservation_per_peer)
{
    rly_relay_limits l = limits(100, 2, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    uint64_t prev = 0;
    cr_assert_not(reserve_ok(t, 1, 1, 0));
    cr_assert(reserve_prev(t, 1, 2, S, &prev));
    cr_assert_eq(prev, 1);
    cr_assert(reserve_prev(t, 1, 3, 2 * S, &prev));
    cr_assert_eq(prev, 2);
    cr_assert(reserve_prev(t, 1, 1, 3 * S, &prev));
    cr_assert_eq(prev, 3);
    cr_assert_eq(stats(t, 1).reservations, 1);
    cr_assert_eq(rly_reservations_count(t), 1);
    cr_assert_eq(rly_reservations_get_expiry(t), 103 * S);
    /* Removal goes by the connection that holds it. */
    rly_peerid id = peer(1);
    cr_assert_eq(rly_reservations_remove(t, &id, 3), RLY_ERR_NOT_FOUND);
    cr_assert_eq(rly_reservations_remove(t, &id, 1), 0);
    cr_assert_eq(rly_reservations_remove(t, &id, 1), RLY_ERR_NOT_FOUND);
    cr_assert_eq(stats(t, 1).reservations, 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    cr_assert_not(reserve_ok(t, 1, 3, 4 * S), "a new one after the removal");
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, zero_caps_refuse_everything)
{
    rly_relay_limits l = limits(0, 5, 100 * S, 0, 4);
    rly_reservations *t = table(&l);
    cr_assert_eq(reserve_rv(t, 1, 1, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(circ_begin(t, 1, 2), RLY_ERR_LIMIT);
    l = limits(5, 0, 100 * S, 5, 0);
    rly_reservations_set_limits(t, &l);
    cr_assert_eq(reserve_rv(t, 1, 1, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(circ_begin(t, 1, 2), RLY_ERR_LIMIT);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    /* A reservation made before the caps dropped to 0 is still refreshed: not a new slot. */
    l = limits(5, 1, 100 * S, 5, 1);
    rly_reservations_set_limits(t, &l);
    (void)reserve_ok(t, 1, 1, 0);
    l = limits(0, 0, 100 * S, 0, 0);
    rly_reservations_set_limits(t, &l);
    cr_assert(reserve_ok(t, 1, 2, S));
    cr_assert_eq(reserve_rv(t, 2, 2, S), RLY_ERR_RESERVATION_REFUSED);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, lookup_ignores_expired_and_refresh_revives)
{
    rly_relay_limits l = limits(100, 5, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    (void)reserve_ok(t, 1, 1, 0);           /* expires at 100 */
    cr_assert(reserve_ok(t, 1, 2, 10 * S)); /* moved to 2, expires at 110 */
    cr_assert_eq(lookup_conn(t, 1, 20 * S), 2);
    /* A shorter TTL: the next refresh expires sooner. */
    l.ttl = 5 * S;
    rly_reservations_set_limits(t, &l);
    cr_assert(reserve_ok(t, 1, 1, 50 * S)); /* back on 1, expires at 55 */
    cr_assert_eq(rly_reservations_get_expiry(t), 55 * S);
    cr_assert_eq(lookup_conn(t, 1, 54 * S), 1);
    cr_assert_eq(lookup_conn(t, 1, 55 * S), UINT64_MAX); /* expire == now: expired */
    cr_assert_eq(rly_reservations_count(t), 1);
    /* An expired entry that was not swept yet is refreshed, not re-created, over any
     * connection. */
    cr_assert(reserve_ok(t, 1, 2, 60 * S));
    cr_assert_eq(lookup_conn(t, 1, 61 * S), 2);
    events e = {.n = 0};
    cr_assert_eq(rly_reservations_expire(t, 64 * S, collect, &e), 0);
    cr_assert_eq(rly_reservations_expire(t, 65 * S, collect, &e), 1);
    cr_assert_eq(e.ev[0].conn_id, 2);
    cr_assert_eq(e.ev[0].expire, 65 * S);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, connection_close_moves_or_drops)
{
    rly_relay_limits l = limits(100, 5, 100 * S, 10, 4);
    rly_reservations *t = table(&l);
    (void)reserve_ok(t, 1, 1, 0);
    (void)reserve_ok(t, 2, 3, 0);
    events e = {.n = 0};
    /* Connections that do not hold the reservation, and unknown peers: nothing happens. */
    uint64_t next = 9;
    cr_assert_eq(conn_closed(t, 1, 2, &next, &e), RLY_RESERVATION_UNTOUCHED);
    cr_assert_eq(conn_closed(t, 1, 2, NULL, &e), RLY_RESERVATION_UNTOUCHED);
    cr_assert_eq(conn_closed(t, 3, 3, NULL, &e), RLY_RESERVATION_UNTOUCHED);
    /* Peer 2's connection 3 closing as peer 1's does not touch peer 2. */
    cr_assert_eq(conn_closed(t, 1, 3, NULL, &e), RLY_RESERVATION_UNTOUCHED);
    cr_assert_eq(stats(t, 2).reservations, 1);
    cr_assert_eq(e.n, 0);
    /* The holding connection closes while the peer has another: the reservation moves there,
     * expiry kept, no callback. */
    next = 2;
    cr_assert_eq(conn_closed(t, 1, 1, &next, &e), RLY_RESERVATION_MOVED);
    cr_assert_eq(e.n, 0);
    cr_assert_eq(lookup_conn(t, 1, S), 2);
    rly_peerid a = peer(1);
    rly_reservation_info info;
    cr_assert_eq(rly_reservations_find(t, &a, &info), 0);
    cr_assert_eq(info.expire, 100 * S);
    cr_assert_eq(rly_reservations_count(t), 2);
    /* Closing the old one again changes nothing. */
    cr_assert_eq(conn_closed(t, 1, 1, NULL, &e), RLY_RESERVATION_UNTOUCHED);
    /* The peer's last connection: dropped, reported once. */
    cr_assert_eq(conn_closed(t, 1, 2, NULL, &e), RLY_RESERVATION_DROPPED);
    cr_assert_eq(e.n, 1);
    cr_assert(is_peer(&e.ev[0].peer, 1));
    cr_assert_eq(e.ev[0].conn_id, 2);
    cr_assert_eq(e.ev[0].expire, 100 * S);
    cr_assert_eq(lookup_conn(t, 1, S), UINT64_MAX);
    cr_assert_eq(rly_reservations_peer_count(t), 1);
    cr_assert_eq(conn_closed(t, 2, 3, NULL, NULL), RLY_RESERVATION_DROPPED);
    cr_assert_eq(rly_reservations_count(t), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    cr_assert_eq(rly_reservations_get_expiry(t), RLY_TSTAMP_MAX);
    rly_reservations_del(t);
    check_no_leak();
}

/* A callback that adds reservations while the table is removing others. */
typedef struct reenter {
    rly_reservations *t;
    rly_tstamp now;
    uint32_t next_peer;
    size_t calls;
} reenter;

static void reenter_cb(void *ud, const rly_reservation_info *r)
{
    reenter *x = ud;
    x->calls++;
    rly_peerid id = peer(x->next_peer++);
    rly_tstamp exp = 0;
    bool renewed = false;
    /* The reservation being reported is gone: its slot is free again. */
    cr_assert_eq(rly_reservations_lookup(x->t, &r->peer, 0, &(rly_reservation_info){0}),
                 RLY_ERR_NO_RESERVATION);
    cr_assert_eq(rly_reservations_reserve(x->t, &id, 1, x->now, &exp, &renewed, NULL), 0);
}

Test(reservation, callbacks_may_reenter)
{
    rly_relay_limits l = limits(3, 5, 10 * S, 10, 4);
    rly_reservations *t = table(&l);
    for (uint32_t p = 1; p <= 3; p++)
        (void)reserve_ok(t, p, 1, 0);
    reenter x = {.t = t, .now = 100 * S, .next_peer = 100, .calls = 0};
    cr_assert_eq(rly_reservations_expire(t, 100 * S, reenter_cb, &x), 3);
    cr_assert_eq(x.calls, 3);
    cr_assert_eq(rly_reservations_count(t), 3);
    cr_assert_eq(rly_reservations_get_expiry(t), 110 * S);
    rly_peerid id = peer(100);
    x.calls = 0;
    cr_assert_eq(rly_reservations_on_connection_closed(t, &id, 1, NULL, reenter_cb, &x),
                 RLY_RESERVATION_DROPPED);
    cr_assert_eq(x.calls, 1);
    cr_assert_eq(rly_reservations_count(t), 3);
    /* A TTL of 0 makes the callback's reservations expired at once: the sweep still ends. */
    l.ttl = 0;
    rly_reservations_set_limits(t, &l);
    x.now = 110 * S;
    x.calls = 0;
    cr_assert_eq(rly_reservations_expire(t, 110 * S, reenter_cb, &x), 3);
    cr_assert_eq(rly_reservations_count(t), 3);
    cr_assert_eq(rly_reservations_get_expiry(t), 110 * S);
    cr_assert_eq(x.calls, 3);
    rly_reservations_del(t);
    check_no_leak();
}

/* Refusals are logged at debug level with the cap that was hit. */
typedef struct logcap {
    char reason[64];
    char message[64];
    size_t n;
} logcap;

static void log_sink(void *ud, const rly_log_record *rec)
{
    logcap *c = ud;
    c->n++;
    snprintf(c->message, sizeof(c->message), "%s", rec->message ? rec->message : "");
    for (size_t i = 0; i < rec->nfields; i++)
        if (strcmp(rec->fields[i].key, "reason") == 0)
            snprintf(c->reason, sizeof(c->reason), "%s", rec->fields[i].v.s);
}

Test(reservation, refusals_are_logged)
{
    logcap cap = {.n = 0};
    rly_log log = {.level = RLY_LOG_DEBUG, .sink = log_sink, .user_data = &cap};
    rly_relay_limits l = limits(2, 0, 100 * S, 1, 4);
    rly_reservations *t = NULL;
    cr_assert_eq(rly_reservations_new(&t, &l, NULL, &log), 0);
    cr_assert_eq(reserve_rv(t, 1, 1, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_str_eq(cap.message, "reservation refused");
    cr_assert_str_eq(cap.reason, "max_reservations_per_peer");
    cr_assert_eq(cap.n, 1);
    l = limits(2, 1, 100 * S, 1, 4);
    rly_reservations_set_limits(t, &l);
    (void)reserve_ok(t, 1, 1, 0);
    (void)reserve_ok(t, 1, 2, 0); /* a refresh: nothing logged */
    (void)reserve_ok(t, 2, 2, 0);
    cr_assert_eq(cap.n, 1);
    cr_assert_eq(reserve_rv(t, 3, 3, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_str_eq(cap.reason, "max_reservations");
    cr_assert_eq(circ_begin(t, 1, 2), 0);
    cr_assert_eq(circ_begin(t, 3, 4), RLY_ERR_LIMIT);
    cr_assert_str_eq(cap.message, "circuit refused");
    cr_assert_str_eq(cap.reason, "max_circuits");
    cr_assert_eq(cap.n, 3);
    /* Below debug level nothing is emitted. */
    log.level = RLY_LOG_INFO;
    cr_assert_eq(reserve_rv(t, 3, 3, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(cap.n, 3);
    cr_assert_eq(circ_end(t, 1, 2), 0);
    rly_reservations_del(t);
    check_no_leak();
}

/* ---- circuits ---- */

Test(reservation, circuits_global_cap)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 3, 16);
    rly_reservations *t = table(&l);
    cr_assert_eq(circ_begin(t, 1, 2), 0);
    cr_assert_eq(circ_begin(t, 3, 4), 0);
    cr_assert_eq(circ_begin(t, 5, 6), 0);
    cr_assert_eq(rly_reservations_circuit_count(t), 3);
    cr_assert_eq(rly_reservations_peer_count(t), 6);
    cr_assert_eq(circ_begin(t, 7, 8), RLY_ERR_LIMIT);
    cr_assert_eq(rly_reservations_peer_count(t), 6);
    cr_assert_eq(circ_end(t, 3, 4), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 4);
    cr_assert_eq(circ_begin(t, 7, 8), 0);
    cr_assert_eq(circ_end(t, 1, 2), 0);
    cr_assert_eq(circ_end(t, 5, 6), 0);
    cr_assert_eq(circ_end(t, 7, 8), 0);
    cr_assert_eq(rly_reservations_circuit_count(t), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, circuits_per_peer_source_and_destination)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 100, 2);
    rly_reservations *t = table(&l);
    /* Source side: peer 1 starts two circuits. */
    cr_assert_eq(circ_begin(t, 1, 2), 0);
    cr_assert_eq(circ_begin(t, 1, 3), 0);
    cr_assert_eq(circ_begin(t, 1, 4), RLY_ERR_LIMIT);
    /* Peer 1 as destination: its count covers both roles. */
    cr_assert_eq(circ_begin(t, 4, 1), RLY_ERR_LIMIT);
    cr_assert_eq(stats(t, 1).circuits_src, 2);
    cr_assert_eq(stats(t, 1).circuits_dst, 0);
    cr_assert_eq(stats(t, 1).circuits, 2);
    cr_assert_eq(stats(t, 2).circuits_dst, 1);
    cr_assert_eq(stats(t, 4).circuits, 0);
    /* Destination side: peer 2 is the target of 1->2 and 5->2, full; 6->2 is refused because of
     * the destination although 6 has no circuit. */
    cr_assert_eq(circ_begin(t, 5, 2), 0);
    cr_assert_eq(circ_begin(t, 6, 2), RLY_ERR_LIMIT);
    cr_assert_eq(stats(t, 6).circuits, 0);
    cr_assert_eq(circ_begin(t, 2, 6), RLY_ERR_LIMIT);
    /* Release one of peer 1's: 4->1 now fits. */
    cr_assert_eq(circ_end(t, 1, 2), 0);
    cr_assert_eq(circ_begin(t, 4, 1), 0);
    cr_assert_eq(stats(t, 1).circuits_src, 1);
    cr_assert_eq(stats(t, 1).circuits_dst, 1);
    cr_assert_eq(circ_begin(t, 6, 2), 0);
    cr_assert_eq(rly_reservations_circuit_count(t), 4);
    cr_assert_eq(circ_end(t, 1, 3), 0);
    cr_assert_eq(circ_end(t, 4, 1), 0);
    cr_assert_eq(circ_end(t, 5, 2), 0);
    cr_assert_eq(circ_end(t, 6, 2), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, circuit_end_mismatch_and_self)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 100, 3);
    rly_reservations *t = table(&l);
    cr_assert_eq(circ_end(t, 1, 2), RLY_ERR_INVALID_STATE);
    cr_assert_eq(circ_begin(t, 1, 2), 0);
    cr_assert_eq(circ_end(t, 2, 1), RLY_ERR_INVALID_STATE);
    cr_assert_eq(circ_end(t, 1, 3), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_reservations_circuit_count(t), 1);
    cr_assert_eq(rly_reservations_peer_count(t), 2);
    /* A peer on both ends counts twice. */
    cr_assert_eq(circ_begin(t, 1, 1), 0);
    cr_assert_eq(stats(t, 1).circuits, 3);
    cr_assert_eq(circ_begin(t, 4, 4), 0);
    cr_assert_eq(circ_begin(t, 4, 4), RLY_ERR_LIMIT);
    cr_assert_eq(circ_end(t, 1, 1), 0);
    cr_assert_eq(circ_end(t, 4, 4), 0);
    cr_assert_eq(circ_end(t, 4, 4), RLY_ERR_INVALID_STATE);
    cr_assert_eq(circ_end(t, 1, 2), 0);
    cr_assert_eq(rly_reservations_circuit_count(t), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, circuits_and_reservations_share_peer_entries)
{
    rly_relay_limits l = limits(10, 5, 100 * S, 100, 3);
    rly_reservations *t = table(&l);
    (void)reserve_ok(t, 1, 1, 0);
    cr_assert_eq(circ_begin(t, 2, 1), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 2);
    /* The reservation goes; the circuit keeps peer 1's entry. */
    cr_assert_eq(rly_reservations_expire(t, 100 * S, NULL, NULL), 1);
    cr_assert_eq(rly_reservations_peer_count(t), 2);
    cr_assert_eq(stats(t, 1).circuits_dst, 1);
    cr_assert_eq(stats(t, 1).reservations, 0);
    cr_assert_eq(circ_end(t, 2, 1), 0);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
    check_no_leak();
}

/* ---- run-time limit changes ---- */

Test(reservation, limits_change_at_runtime)
{
    rly_relay_limits l = limits(4, 3, 100 * S, 4, 4);
    rly_reservations *t = table(&l);
    (void)reserve_ok(t, 1, 1, 0);
    (void)reserve_ok(t, 2, 2, 0);
    (void)reserve_ok(t, 3, 3, 0);
    (void)reserve_ok(t, 4, 4, 0);
    for (uint32_t p = 10; p < 14; p++)
        cr_assert_eq(circ_begin(t, p, p + 10), 0);

    /* Lower caps and TTL: existing entries stay and keep their expiry. */
    rly_relay_limits lower = limits(2, 1, 10 * S, 2, 1);
    rly_reservations_set_limits(t, &lower);
    cr_assert_eq(rly_reservations_get_limits(t)->max_reservations, 2);
    cr_assert_eq(rly_reservations_count(t), 4);
    cr_assert_eq(rly_reservations_get_expiry(t), 100 * S);
    cr_assert_eq(reserve_rv(t, 5, 5, S), RLY_ERR_RESERVATION_REFUSED);
    /* Refreshes still work, with the new TTL, over another connection too. */
    cr_assert(reserve_ok(t, 1, 6, S));
    cr_assert_eq(rly_reservations_get_expiry(t), 11 * S);
    cr_assert_eq(circ_begin(t, 30, 31), RLY_ERR_LIMIT);
    cr_assert_eq(rly_reservations_circuit_count(t), 4);
    cr_assert_eq(circ_end(t, 10, 20), 0);
    cr_assert_eq(circ_end(t, 11, 21), 0);
    cr_assert_eq(circ_end(t, 12, 22), 0);
    cr_assert_eq(circ_begin(t, 30, 31), 0);
    cr_assert_eq(circ_begin(t, 30, 32), RLY_ERR_LIMIT); /* per-peer 1 */

    /* Peer 1's expires at 11 s, the rest at 100 s: 3 left, above the cap of 2. */
    cr_assert_eq(rly_reservations_expire(t, 11 * S, NULL, NULL), 1);
    cr_assert_eq(reserve_rv(t, 1, 6, 11 * S), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(rly_reservations_expire(t, 100 * S, NULL, NULL), 3);
    (void)reserve_ok(t, 5, 5, 100 * S);
    (void)reserve_ok(t, 6, 6, 100 * S);
    cr_assert_eq(reserve_rv(t, 7, 7, 100 * S), RLY_ERR_RESERVATION_REFUSED); /* global */

    /* Raise them again. */
    rly_reservations_set_limits(t, &l);
    (void)reserve_ok(t, 7, 7, 100 * S);
    cr_assert_eq(rly_reservations_get_expiry(t), 110 * S);
    cr_assert_eq(circ_begin(t, 30, 32), 0);
    cr_assert_eq(circ_end(t, 13, 23), 0);
    cr_assert_eq(circ_end(t, 30, 31), 0);
    cr_assert_eq(circ_end(t, 30, 32), 0);
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, hash_key_change_keeps_entries)
{
    rly_relay_limits l = limits(1000, 5, 100 * S, 1000, 16);
    rly_reservations *t = table(&l);
    for (uint32_t p = 0; p < 300; p++)
        (void)reserve_ok(t, p, p, 0);
    for (uint32_t p = 0; p < 100; p++)
        cr_assert_eq(circ_begin(t, p, 1000 + p), 0);
    uint8_t key[RLY_RESERVATIONS_HASH_KEY_LEN];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 37 + 1);
    rly_reservations_set_hash_key(t, key);
    cr_assert_eq(rly_reservations_peer_count(t), 400);
    for (uint32_t p = 0; p < 300; p++)
        cr_assert_eq(lookup_conn(t, p, 0), p);
    for (uint32_t p = 0; p < 100; p++)
        cr_assert_eq(circ_end(t, p, 1000 + p), 0);
    cr_assert(reserve_ok(t, 7, 7, S));
    rly_reservations_del(t);
    check_no_leak();
}

Test(reservation, many_peers)
{
    rly_relay_limits l = limits(5000, 5, 100 * S, 5000, 16);
    rly_reservations *t = table(&l);
    for (uint32_t p = 0; p < 5000; p++)
        (void)reserve_ok(t, p, 10000 + p, (rly_tstamp)p);
    cr_assert_eq(reserve_rv(t, 5000, 1, 0), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(rly_reservations_peer_count(t), 5000);
    for (uint32_t p = 0; p < 5000; p += 7)
        cr_assert_eq(lookup_conn(t, p, 0), 10000 + p);
    for (uint32_t p = 0; p < 5000; p += 2) {
        rly_peerid id = peer(p);
        cr_assert_eq(rly_reservations_on_connection_closed(t, &id, 10000 + p, NULL, NULL, NULL),
                     RLY_RESERVATION_DROPPED);
    }
    cr_assert_eq(rly_reservations_get_expiry(t), 100 * S + 1);
    cr_assert_eq(rly_reservations_expire(t, 100 * S + 4999, NULL, NULL), 2500);
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
    check_no_leak();
}

/* ---- allocation failures ---- */

/* Runs a fixed script with the |nth| allocation failing; every call either works or returns
 * RLY_ERR_NOMEM and leaves the counts as they were. Returns true if no allocation failed. */
static bool script_with_failure(uint64_t nth)
{
    rly_mem mem;
    rly_mem_init(&mem);
    mem.fail_nth = nth;
    rly_relay_limits l = limits(100, 5, 100 * S, 100, 100);
    rly_reservations *t = NULL;
    bool failed = false;
    int rv = rly_reservations_new(&t, &l, &mem, NULL);
    if (rv != 0) {
        cr_assert_eq(rv, RLY_ERR_NOMEM);
        cr_assert_null(t);
        cr_assert_eq(mem.live_bytes, 0);
        return false;
    }
    for (uint32_t i = 0; i < 40; i++) {
        size_t before = rly_reservations_count(t), peers = rly_reservations_peer_count(t);
        rly_peerid id = peer(i % 25);
        rly_tstamp exp;
        bool renewed;
        rv = rly_reservations_reserve(t, &id, i % 3, i, &exp, &renewed, NULL);
        if (rv != 0) {
            cr_assert_eq(rv, RLY_ERR_NOMEM);
            cr_assert_eq(rly_reservations_count(t), before);
            cr_assert_eq(rly_reservations_peer_count(t), peers);
            failed = true;
        }
        size_t circs = rly_reservations_circuit_count(t);
        peers = rly_reservations_peer_count(t);
        rv = circ_begin(t, 50 + i, 90 + i % 2);
        if (rv != 0) {
            cr_assert_eq(rv, RLY_ERR_NOMEM);
            cr_assert_eq(rly_reservations_circuit_count(t), circs);
            cr_assert_eq(rly_reservations_peer_count(t), peers);
            failed = true;
        }
    }
    rly_reservations_del(t);
    cr_assert_eq(mem.live_bytes, 0);
    return !failed;
}

Test(reservation, allocation_failures)
{
    uint64_t nth = 1;
    while (!script_with_failure(nth))
        nth++;
    cr_assert_gt(nth, 10);
    check_no_leak();
}

/* ---- random operations against a reference model ---- */

#define M_PEERS 3000
#define M_CONNS 4 /* connections per peer: ids peer * M_CONNS + k */
#define M_MAX_CIRC 400

/* A peer's one reservation (if |present|) and the connection k that holds it. */
typedef struct model_rsv {
    bool present;
    uint32_t k;
    rly_tstamp expire;
} model_rsv;

typedef struct model {
    model_rsv rsv[M_PEERS];
    uint32_t ncirc_peer[M_PEERS];
    size_t nrsv;
    uint32_t circ_src[M_MAX_CIRC], circ_dst[M_MAX_CIRC];
    size_t ncirc;
} model;

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng() % n);
}

static rly_relay_limits random_limits(void)
{
    /* max_reservations_per_peer: 0 now and then (refuses new ones), else any value: one each */
    return limits(50 + rng_below(600), rng_below(8) == 0 ? 0 : 1 + rng_below(M_CONNS),
                  (10 + rng_below(200)) * S, 50 + rng_below(M_MAX_CIRC - 50), 1 + rng_below(6));
}

static uint64_t conn_of(uint32_t p, uint32_t k)
{
    return (uint64_t)p * M_CONNS + k;
}

static void model_drop(model *m, uint32_t p)
{
    m->rsv[p].present = false;
    m->nrsv--;
}

static void model_reserve(model *m, rly_reservations *t, uint32_t p, uint32_t k, rly_tstamp now)
{
    const rly_relay_limits *l = rly_reservations_get_limits(t);
    model_rsv *r = &m->rsv[p];
    int want = 0;
    if (!r->present && (m->nrsv >= l->max_reservations || l->max_reservations_per_peer == 0))
        want = RLY_ERR_RESERVATION_REFUSED;
    rly_peerid id = peer(p);
    rly_tstamp exp = 0;
    bool renewed = false;
    uint64_t prev = UINT64_MAX;
    int rv = rly_reservations_reserve(t, &id, conn_of(p, k), now, &exp, &renewed, &prev);
    cr_assert_eq(rv, want);
    if (rv != 0)
        return;
    cr_assert_eq(renewed, r->present);
    cr_assert_eq(prev, r->present ? conn_of(p, r->k) : 0);
    cr_assert_eq(exp, now + l->ttl);
    if (!r->present) {
        r->present = true;
        m->nrsv++;
    }
    r->k = k;
    r->expire = exp;
}

static void model_lookup(const model *m, const rly_reservations *t, uint32_t p, rly_tstamp now)
{
    const model_rsv *r = &m->rsv[p];
    uint64_t got = lookup_conn(t, p, now);
    cr_assert_eq(got, r->present && r->expire > now ? conn_of(p, r->k) : UINT64_MAX);
}

typedef struct sweep {
    model *m;
    rly_tstamp now;
    rly_tstamp last;
    size_t n;
} sweep;

static void sweep_cb(void *ud, const rly_reservation_info *info)
{
    sweep *s = ud;
    uint32_t p = (uint32_t)(info->conn_id / M_CONNS), k = (uint32_t)(info->conn_id % M_CONNS);
    cr_assert(p < M_PEERS && is_peer(&info->peer, p));
    model_rsv *r = &s->m->rsv[p];
    cr_assert(r->present);
    cr_assert_eq(r->k, k);
    cr_assert_eq(r->expire, info->expire);
    cr_assert(info->expire <= s->now);
    cr_assert(info->expire >= s->last, "expiry order");
    s->last = info->expire;
    model_drop(s->m, p);
    s->n++;
}

static void model_expire(model *m, rly_reservations *t, rly_tstamp now)
{
    size_t want = 0;
    for (uint32_t p = 0; p < M_PEERS; p++)
        want += m->rsv[p].present && m->rsv[p].expire <= now;
    sweep s = {.m = m, .now = now, .last = 0, .n = 0};
    cr_assert_eq(rly_reservations_expire(t, now, sweep_cb, &s), want);
    cr_assert_eq(s.n, want);
}

/* Connection k of peer p closes: half of the time the peer has another connection j for the
 * reservation to move to, else it has none left. */
static void model_close(model *m, rly_reservations *t, uint32_t p, uint32_t k)
{
    model_rsv *r = &m->rsv[p];
    uint32_t j = (k + 1 + rng_below(M_CONNS - 1)) % M_CONNS;
    uint64_t next = conn_of(p, j);
    bool has_next = rng_below(2) == 0;
    rly_reservation_close want = RLY_RESERVATION_UNTOUCHED;
    if (r->present && r->k == k)
        want = has_next ? RLY_RESERVATION_MOVED : RLY_RESERVATION_DROPPED;
    rly_peerid id = peer(p);
    sweep s = {.m = m, .now = RLY_TSTAMP_MAX, .last = 0, .n = 0};
    cr_assert_eq(rly_reservations_on_connection_closed(t, &id, conn_of(p, k),
                                                       has_next ? &next : NULL, sweep_cb, &s),
                 want);
    cr_assert_eq(s.n, want == RLY_RESERVATION_DROPPED ? 1 : 0);
    if (want == RLY_RESERVATION_MOVED)
        r->k = j;
}

/* A RESERVE whose reply could not be sent: removed if connection k holds it. */
static void model_remove(model *m, rly_reservations *t, uint32_t p, uint32_t k)
{
    model_rsv *r = &m->rsv[p];
    bool holds = r->present && r->k == k;
    rly_peerid id = peer(p);
    cr_assert_eq(rly_reservations_remove(t, &id, conn_of(p, k)), holds ? 0 : RLY_ERR_NOT_FOUND);
    if (holds)
        model_drop(m, p);
}

static void model_circuit(model *m, rly_reservations *t)
{
    const rly_relay_limits *l = rly_reservations_get_limits(t);
    if (m->ncirc > 0 && rng_below(3) == 0) {
        size_t i = rng_below((uint32_t)m->ncirc);
        uint32_t s = m->circ_src[i], d = m->circ_dst[i];
        cr_assert_eq(circ_end(t, s, d), 0);
        m->ncirc_peer[s]--;
        m->ncirc_peer[d]--;
        m->ncirc--;
        m->circ_src[i] = m->circ_src[m->ncirc];
        m->circ_dst[i] = m->circ_dst[m->ncirc];
        return;
    }
    /* A small set of busy peers, so the per-peer cap is hit. */
    uint32_t s = rng_below(100), d = rng_below(rng_below(4) == 0 ? 100 : M_PEERS);
    bool ok = m->ncirc < l->max_circuits;
    if (s == d)
        ok = ok && m->ncirc_peer[s] + 2 <= l->max_circuits_per_peer;
    else
        ok = ok && m->ncirc_peer[s] < l->max_circuits_per_peer &&
             m->ncirc_peer[d] < l->max_circuits_per_peer;
    cr_assert_eq(circ_begin(t, s, d), ok ? 0 : RLY_ERR_LIMIT);
    if (!ok)
        return;
    cr_assert(m->ncirc < M_MAX_CIRC);
    m->circ_src[m->ncirc] = s;
    m->circ_dst[m->ncirc] = d;
    m->ncirc++;
    m->ncirc_peer[s]++;
    m->ncirc_peer[d]++;
}

static void model_check(const model *m, const rly_reservations *t)
{
    cr_assert_eq(rly_reservations_count(t), m->nrsv);
    cr_assert_eq(rly_reservations_circuit_count(t), m->ncirc);
    rly_tstamp min = RLY_TSTAMP_MAX;
    size_t npeers = 0;
    for (uint32_t p = 0; p < M_PEERS; p++) {
        if (m->rsv[p].present && m->rsv[p].expire < min)
            min = m->rsv[p].expire;
        npeers += m->rsv[p].present || m->ncirc_peer[p];
    }
    cr_assert_eq(rly_reservations_get_expiry(t), min);
    cr_assert_eq(rly_reservations_peer_count(t), npeers);
    cr_assert_leq(npeers, m->nrsv + 2 * m->ncirc);
}

static void run_model(uint64_t seed, int nops)
{
    static model m;
    memset(&m, 0, sizeof(m));
    rng_state = seed;
    rly_relay_limits l = random_limits();
    rly_reservations *t = table(&l);
    rly_tstamp now = S;
    for (int op = 0; op < nops; op++) {
        /* A few hundred busy peers refresh often; the rest come and go. */
        uint32_t p = rng_below(rng_below(3) == 0 ? 200 : M_PEERS), k = rng_below(M_CONNS);
        uint32_t what = rng_below(100);
        if (what < 45)
            model_reserve(&m, t, p, k, now);
        else if (what < 55)
            model_lookup(&m, t, p, now);
        else if (what < 61)
            model_close(&m, t, p, k);
        else if (what < 62)
            model_remove(&m, t, p, k);
        else if (what < 85)
            model_circuit(&m, t);
        else if (what < 97)
            now += rng_below(3 * S);
        else if (what < 99)
            model_expire(&m, t, now); /* the shell's timer; not always in time */
        else {
            l = random_limits();
            rly_reservations_set_limits(t, &l);
        }
        if (op % 64 == 0) {
            model_check(&m, t);
            rly_reservations_peer_stats st;
            rly_peerid id = peer(p);
            rly_reservations_get_peer_stats(t, &id, &st);
            cr_assert_eq(st.reservations, m.rsv[p].present ? 1 : 0);
            cr_assert_eq(st.circuits, m.ncirc_peer[p]);
            rly_reservation_info info;
            int rv = rly_reservations_find(t, &id, &info);
            cr_assert_eq(rv, m.rsv[p].present ? 0 : RLY_ERR_NO_RESERVATION);
            if (rv == 0) {
                cr_assert_eq(info.conn_id, conn_of(p, m.rsv[p].k));
                cr_assert_eq(info.expire, m.rsv[p].expire);
            }
        }
    }
    model_check(&m, t);
    model_expire(&m, t, RLY_TSTAMP_MAX);
    while (m.ncirc > 0) {
        m.ncirc--;
        cr_assert_eq(circ_end(t, m.circ_src[m.ncirc], m.circ_dst[m.ncirc]), 0);
    }
    cr_assert_eq(rly_reservations_peer_count(t), 0);
    rly_reservations_del(t);
}

Test(reservation, random_ops_against_model)
{
    for (uint64_t seed = 1; seed <= 8; seed++)
        run_model(seed * UINT64_C(0x9e3779b97f4a7c15), 40000);
    check_no_leak();
}
