/* fuzz_reservation.c: the reservation table (src/relay/reservation.c) driven by operations read
 * from the input (reserve, lookup, connection close with or without a next connection, remove,
 * expire, time steps, circuits, limit and hash-key changes) over 16 peers with 4 connections
 * each, checked after every operation against a small reference model (one reservation per peer,
 * held by one of its connections): results, the connection that held a refreshed reservation,
 * counts, the next expiry, expiry order and per-peer counters. Everything is freed at the end. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "relay/reservation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NP 16
#define NC 4
#define MAXC 64

typedef struct fz {
    rly_reservations *t;
    rly_tstamp now;
    bool present[NP];  /* peer p holds a reservation */
    unsigned conn[NP]; /* held by its connection k */
    rly_tstamp expire[NP];
    size_t nrsv;
    size_t ncirc, ncirc_peer[NP];
    uint8_t csrc[MAXC], cdst[MAXC];
    rly_tstamp last; /* expiry of the previous entry reported in one sweep */
    bool ordered;    /* the current removal reports entries in expiry order */
} fz;

static rly_peerid peer(unsigned i)
{
    rly_peerid p;
    memset(&p, 0, sizeof(p));
    p.bytes[0] = 0x00; /* identity multihash of varying length */
    p.bytes[1] = (uint8_t)(4 + i % 3);
    for (unsigned k = 0; k < 4 + i % 3; k++)
        p.bytes[2 + k] = (uint8_t)(i * 17 + k);
    p.len = 2 + 4 + i % 3;
    return p;
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

static rly_relay_limits limits_from(uint8_t a, uint8_t b)
{
    rly_relay_limits l = {.max_reservations = a & 31,
                          .max_reservations_per_peer = a >> 5,
                          .ttl = (rly_tstamp)(b & 15) * 1000,
                          .max_circuits = (b >> 4) * 4u,
                          .max_circuits_per_peer = b >> 6};
    return l;
}

static void drop(fz *f, unsigned p)
{
    check(f->present[p]);
    f->present[p] = false;
    f->nrsv--;
}

static void removed_cb(void *ud, const rly_reservation_info *r)
{
    fz *f = ud;
    unsigned p = (unsigned)(r->conn_id / NC), k = (unsigned)(r->conn_id % NC);
    rly_peerid id = peer(p);
    check(p < NP && rly_peerid_equal(&id, &r->peer) && f->present[p] && f->conn[p] == k &&
          f->expire[p] == r->expire);
    check(!f->ordered || r->expire >= f->last);
    f->last = r->expire;
    drop(f, p);
}

static void do_reserve(fz *f, unsigned p, unsigned k)
{
    const rly_relay_limits *l = rly_reservations_get_limits(f->t);
    bool refuse =
        !f->present[p] && (f->nrsv >= l->max_reservations || l->max_reservations_per_peer == 0);
    rly_peerid id = peer(p);
    rly_tstamp exp = 0;
    bool renewed = false;
    uint64_t prev = UINT64_MAX;
    int rv = rly_reservations_reserve(f->t, &id, p * NC + k, f->now, &exp, &renewed, &prev);
    if (rv == RLY_ERR_NOMEM)
        return;
    check(rv == (refuse ? RLY_ERR_RESERVATION_REFUSED : 0));
    if (rv != 0)
        return;
    check(renewed == f->present[p] && exp == f->now + l->ttl);
    check(prev == (f->present[p] ? p * NC + f->conn[p] : 0));
    if (!f->present[p]) {
        f->present[p] = true;
        f->nrsv++;
    }
    f->conn[p] = k;
    f->expire[p] = exp;
}

static void do_lookup(fz *f, unsigned p)
{
    rly_peerid id = peer(p);
    rly_reservation_info info;
    int rv = rly_reservations_lookup(f->t, &id, f->now, &info);
    if (!f->present[p] || f->expire[p] <= f->now) {
        check(rv == RLY_ERR_NO_RESERVATION);
    } else {
        check(rv == 0 && info.conn_id == p * NC + f->conn[p] && rly_peerid_equal(&id, &info.peer));
        check(info.expire == f->expire[p]);
    }
    rv = rly_reservations_find(f->t, &id, &info);
    check(rv == (f->present[p] ? 0 : RLY_ERR_NO_RESERVATION));
    check(rv != 0 || (info.conn_id == p * NC + f->conn[p] && info.expire == f->expire[p]));
}

/* Connection k of peer p closes; |next| < NC: the reservation may move to that connection. */
static void do_close(fz *f, unsigned p, unsigned k, unsigned next)
{
    rly_reservation_close want = RLY_RESERVATION_UNTOUCHED;
    if (f->present[p] && f->conn[p] == k)
        want = next < NC ? RLY_RESERVATION_MOVED : RLY_RESERVATION_DROPPED;
    rly_peerid id = peer(p);
    uint64_t next_id = p * NC + next;
    f->ordered = false;
    rly_reservation_close got = rly_reservations_on_connection_closed(
        f->t, &id, p * NC + k, next < NC ? &next_id : NULL, removed_cb, f);
    check(got == want);
    if (got == RLY_RESERVATION_MOVED)
        f->conn[p] = next;
    check(got != RLY_RESERVATION_DROPPED || !f->present[p]);
}

static void do_remove(fz *f, unsigned p, unsigned k)
{
    rly_peerid id = peer(p);
    bool holds = f->present[p] && f->conn[p] == k;
    int rv = rly_reservations_remove(f->t, &id, p * NC + k);
    check(rv == (holds ? 0 : RLY_ERR_NOT_FOUND));
    if (rv == 0)
        drop(f, p);
}

static void do_expire(fz *f)
{
    size_t want = 0;
    for (unsigned p = 0; p < NP; p++)
        want += f->present[p] && f->expire[p] <= f->now;
    f->last = 0;
    f->ordered = true;
    check(rly_reservations_expire(f->t, f->now, removed_cb, f) == want);
}

static void do_circuit(fz *f, uint8_t a, uint8_t b)
{
    const rly_relay_limits *l = rly_reservations_get_limits(f->t);
    unsigned s = a & 15, d = a >> 4;
    rly_peerid ids = peer(s), idd = peer(d);
    if (f->ncirc > 0 && (b & 1)) {
        size_t i = b % f->ncirc;
        s = f->csrc[i];
        d = f->cdst[i];
        ids = peer(s);
        idd = peer(d);
        check(rly_reservations_circuit_end(f->t, &ids, &idd) == 0);
        f->ncirc--;
        f->ncirc_peer[s]--;
        f->ncirc_peer[d]--;
        f->csrc[i] = f->csrc[f->ncirc];
        f->cdst[i] = f->cdst[f->ncirc];
        return;
    }
    bool ok =
        f->ncirc < l->max_circuits && (s == d ? f->ncirc_peer[s] + 2 <= l->max_circuits_per_peer
                                              : f->ncirc_peer[s] < l->max_circuits_per_peer &&
                                                    f->ncirc_peer[d] < l->max_circuits_per_peer);
    int rv = rly_reservations_circuit_begin(f->t, &ids, &idd);
    if (rv == RLY_ERR_NOMEM)
        return;
    check(rv == (ok ? 0 : RLY_ERR_LIMIT));
    if (!ok)
        return;
    check(f->ncirc < MAXC);
    f->csrc[f->ncirc] = (uint8_t)s;
    f->cdst[f->ncirc] = (uint8_t)d;
    f->ncirc++;
    f->ncirc_peer[s]++;
    f->ncirc_peer[d]++;
}

static void check_peer(const fz *f, unsigned p)
{
    rly_peerid id = peer(p);
    rly_reservations_peer_stats st;
    rly_reservations_get_peer_stats(f->t, &id, &st);
    check(st.reservations == (f->present[p] ? 1u : 0u) && st.circuits == f->ncirc_peer[p]);
    check(st.circuits == st.circuits_src + st.circuits_dst);
}

/* check_all compares the counts and the next expiry, and the counters of the peers in |a| (all
 * of them when |all|). */
static void check_all(const fz *f, uint8_t a, bool all)
{
    rly_tstamp min = RLY_TSTAMP_MAX;
    size_t npeers = 0;
    for (unsigned p = 0; p < NP; p++) {
        if (f->present[p] && f->expire[p] < min)
            min = f->expire[p];
        npeers += f->present[p] || f->ncirc_peer[p];
        if (all)
            check_peer(f, p);
    }
    check_peer(f, a & 15);
    check_peer(f, a >> 4);
    check(rly_reservations_count(f->t) == f->nrsv);
    check(rly_reservations_circuit_count(f->t) == f->ncirc);
    check(rly_reservations_peer_count(f->t) == npeers);
    check(rly_reservations_get_expiry(f->t) == min);
}

static void step(fz *f, uint8_t op, uint8_t a, uint8_t b)
{
    unsigned p = a & 15, k = (a >> 4) & 3;
    switch (op % 10) {
    case 0: do_reserve(f, p, k); break;
    case 1: do_lookup(f, p); break;
    case 2: do_close(f, p, k, b % (NC + 2)); break; /* NC, NC + 1: no next connection */
    case 3: do_remove(f, p, k); break;
    case 4: f->now += (rly_tstamp)a * 100; break;
    case 5: do_expire(f); break;
    case 6:
    case 7: do_circuit(f, a, b); break;
    case 8: {
        rly_relay_limits l = limits_from(a, b);
        rly_reservations_set_limits(f->t, &l);
        break;
    }
    default: {
        uint8_t key[RLY_RESERVATIONS_HASH_KEY_LEN];
        for (size_t i = 0; i < sizeof(key); i++)
            key[i] = (uint8_t)(a + b * i);
        rly_reservations_set_hash_key(f->t, key);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    if (size < 2)
        return 0;
    size_t base = rly_mem_default()->live_bytes;
    memset(&f, 0, sizeof(f));
    rly_relay_limits l = limits_from(data[0], data[1]);
    if (rly_reservations_new(&f.t, &l, NULL, NULL) != 0)
        return 0;
    f.now = 1;
    for (size_t i = 2; i + 3 <= size; i += 3) {
        step(&f, data[i], data[i + 1], data[i + 2]);
        check_all(&f, data[i + 1], false);
    }
    check_all(&f, 0, true);
    rly_reservations_del(f.t);
    check(rly_mem_default()->live_bytes == base);
    return 0;
}
