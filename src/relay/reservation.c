/* reservation.c: the reservation table and circuit counters (reservation.h).
 *
 * Two structures share the peer entries:
 *  - peers: a chained hash table of peer entries keyed by SipHash-2-4 of the peer-ID bytes. A
 *    peer entry holds the peer's reservation (if any: its connection, expiry and heap index) and
 *    its circuit counts, and is freed as soon as it has neither.
 *  - heap: a binary min-heap of the peer entries that hold a reservation, on their expiry; each
 *    knows its index.
 * The bucket array doubles when it holds more entries than buckets (best effort: a failed growth
 * only makes chains longer), up to MAX_BUCKETS. */
#include "relay/reservation.h"

#include <string.h>

#define INITIAL_BUCKETS 16
#define MAX_BUCKETS ((size_t)1 << 22)
#define INITIAL_HEAP 16

typedef struct peer_ent peer_ent;

struct peer_ent {
    peer_ent *hnext; /* chain in t->peers */
    uint64_t hash;
    rly_peerid id;
    bool has_rsv;     /* the peer holds a reservation: the next three fields are valid */
    uint64_t conn_id; /* the connection that holds it */
    rly_tstamp expire;
    size_t heap_idx;
    uint64_t ncirc_src;
    uint64_t ncirc_dst;
};

struct rly_reservations {
    rly_relay_limits limits;
    rly_mem *mem;
    const rly_log *log;
    uint64_t k0, k1; /* SipHash key */

    peer_ent **peers;
    size_t npeer_buckets; /* a power of two */
    size_t npeers;

    peer_ent **heap; /* the entries with a reservation */
    size_t heap_cap;
    size_t nrsv; /* entries in the heap */

    size_t ncircuits;
};

/* ---- hashing ---- */

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static void sipblock(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sipround(v);
    sipround(v);
    v[0] ^= m;
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of |len| bytes at |p|. */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *p, size_t len)
{
    uint64_t v[4] = {k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d),
                     k0 ^ UINT64_C(0x6c7967656e657261), k1 ^ UINT64_C(0x7465646279746573)};
    size_t off = 0;
    for (; off + 8 <= len; off += 8)
        sipblock(v, load64le(p + off));
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (unsigned i = 0; off + i < len; i++)
        last |= (uint64_t)p[off + i] << (8 * i);
    sipblock(v, last);
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t hash_peer(const rly_reservations *t, const rly_peerid *id)
{
    RLY_ASSERT(id->len <= sizeof(id->bytes));
    return siphash24(t->k0, t->k1, id->bytes, id->len);
}

/* ---- peers ---- */

static void peers_grow(rly_reservations *t)
{
    if (t->npeers <= t->npeer_buckets || t->npeer_buckets >= MAX_BUCKETS)
        return;
    size_t nn = t->npeer_buckets * 2;
    peer_ent **nb = rly_calloc(t->mem, nn, sizeof(*nb));
    if (!nb)
        return;
    for (size_t i = 0; i < t->npeer_buckets; i++) {
        peer_ent *pe = t->peers[i];
        while (pe) {
            peer_ent *next = pe->hnext;
            size_t b = (size_t)(pe->hash & (nn - 1));
            pe->hnext = nb[b];
            nb[b] = pe;
            pe = next;
        }
    }
    rly_free(t->mem, t->peers);
    t->peers = nb;
    t->npeer_buckets = nn;
}

static peer_ent *peer_find(const rly_reservations *t, const rly_peerid *id, uint64_t h)
{
    for (peer_ent *pe = t->peers[h & (t->npeer_buckets - 1)]; pe; pe = pe->hnext)
        if (pe->hash == h && rly_peerid_equal(&pe->id, id))
            return pe;
    return NULL;
}

static peer_ent *peer_new(rly_reservations *t, const rly_peerid *id, uint64_t h)
{
    peer_ent *pe = rly_calloc(t->mem, 1, sizeof(*pe));
    if (!pe)
        return NULL;
    pe->hash = h;
    pe->id = *id;
    size_t b = (size_t)(h & (t->npeer_buckets - 1));
    pe->hnext = t->peers[b];
    t->peers[b] = pe;
    t->npeers++;
    peers_grow(t);
    return pe;
}

/* peer_maybe_free frees |pe| once it has neither a reservation nor a circuit. */
static void peer_maybe_free(rly_reservations *t, peer_ent *pe)
{
    if (pe->has_rsv || pe->ncirc_src || pe->ncirc_dst)
        return;
    peer_ent **pp = &t->peers[pe->hash & (t->npeer_buckets - 1)];
    while (*pp != pe)
        pp = &(*pp)->hnext;
    *pp = pe->hnext;
    t->npeers--;
    rly_free(t->mem, pe);
}

static uint64_t peer_circuits(const peer_ent *pe)
{
    return pe ? pe->ncirc_src + pe->ncirc_dst : 0;
}

/* ---- expiry heap ---- */

static void heap_set(rly_reservations *t, size_t i, peer_ent *r)
{
    t->heap[i] = r;
    r->heap_idx = i;
}

static void heap_up(rly_reservations *t, size_t i)
{
    peer_ent *r = t->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (t->heap[parent]->expire <= r->expire)
            break;
        heap_set(t, i, t->heap[parent]);
        i = parent;
    }
    heap_set(t, i, r);
}

static void heap_down(rly_reservations *t, size_t i)
{
    peer_ent *r = t->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->nrsv)
            break;
        if (c + 1 < t->nrsv && t->heap[c + 1]->expire < t->heap[c]->expire)
            c++;
        if (r->expire <= t->heap[c]->expire)
            break;
        heap_set(t, i, t->heap[c]);
        i = c;
    }
    heap_set(t, i, r);
}

/* heap_fix restores the order after the expiry of the entry at |i| changed. */
static void heap_fix(rly_reservations *t, size_t i)
{
    peer_ent *r = t->heap[i];
    heap_up(t, i);
    if (r->heap_idx == i)
        heap_down(t, i);
}

static int heap_reserve(rly_reservations *t)
{
    if (t->nrsv < t->heap_cap)
        return 0;
    size_t ncap = t->heap_cap ? t->heap_cap * 2 : INITIAL_HEAP;
    peer_ent **nh = rly_realloc(t->mem, t->heap, ncap * sizeof(*nh));
    if (!nh)
        return RLY_ERR_NOMEM;
    t->heap = nh;
    t->heap_cap = ncap;
    return 0;
}

static void heap_remove(rly_reservations *t, peer_ent *r)
{
    size_t i = r->heap_idx;
    RLY_ASSERT(i < t->nrsv && t->heap[i] == r);
    t->nrsv--;
    if (i == t->nrsv)
        return;
    heap_set(t, i, t->heap[t->nrsv]);
    heap_fix(t, i);
}

static void rsv_info(const peer_ent *pe, rly_reservation_info *pinfo)
{
    pinfo->peer = pe->id;
    pinfo->conn_id = pe->conn_id;
    pinfo->expire = pe->expire;
}

/* rsv_remove takes the reservation of |pe| out of the heap, copies it into |pinfo| (may be
 * NULL), and frees |pe| when it is now unused. */
static void rsv_remove(rly_reservations *t, peer_ent *pe, rly_reservation_info *pinfo)
{
    RLY_ASSERT(pe->has_rsv);
    if (pinfo)
        rsv_info(pe, pinfo);
    heap_remove(t, pe);
    pe->has_rsv = false;
    peer_maybe_free(t, pe);
}

/* ---- logging ---- */

static void log_refused(const rly_reservations *t, const char *what, const rly_peerid *peer,
                        const char *reason, uint64_t count, uint64_t cap)
{
    if (!rly_log_enabled(t->log, RLY_LOG_DEBUG))
        return;
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    RLY_LOGD(t->log, RLY_TARGET_APP, RLY_MSG(what), RLY_F_STR("peer_id", pid),
             RLY_F_STR("reason", reason), RLY_F_U64("count", count), RLY_F_U64("limit", cap));
}

/* ---- public API ---- */

void rly_relay_limits_default(rly_relay_limits *l)
{
    l->max_reservations = RLY_RELAY_DEFAULT_MAX_RESERVATIONS;
    l->max_reservations_per_peer = RLY_RELAY_DEFAULT_MAX_RESERVATIONS_PER_PEER;
    l->ttl = RLY_RELAY_DEFAULT_RESERVATION_TTL;
    l->max_circuits = RLY_RELAY_DEFAULT_MAX_CIRCUITS;
    l->max_circuits_per_peer = RLY_RELAY_DEFAULT_MAX_CIRCUITS_PER_PEER;
}

int rly_reservations_new(rly_reservations **pt, const rly_relay_limits *limits, rly_mem *mem,
                         const rly_log *log)
{
    if (!pt || !limits)
        return RLY_ERR_INVALID_ARG;
    *pt = NULL;
    rly_reservations *t = rly_calloc(mem, 1, sizeof(*t));
    if (!t)
        return RLY_ERR_NOMEM;
    t->limits = *limits;
    t->mem = mem;
    t->log = log;
    t->npeer_buckets = INITIAL_BUCKETS;
    t->peers = rly_calloc(mem, t->npeer_buckets, sizeof(*t->peers));
    if (!t->peers) {
        rly_reservations_del(t);
        return RLY_ERR_NOMEM;
    }
    *pt = t;
    return 0;
}

void rly_reservations_del(rly_reservations *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->peers && i < t->npeer_buckets; i++) {
        peer_ent *pe = t->peers[i];
        while (pe) {
            peer_ent *next = pe->hnext;
            rly_free(t->mem, pe);
            pe = next;
        }
    }
    rly_free(t->mem, t->heap);
    rly_free(t->mem, t->peers);
    rly_free(t->mem, t);
}

void rly_reservations_set_limits(rly_reservations *t, const rly_relay_limits *limits)
{
    t->limits = *limits;
}

const rly_relay_limits *rly_reservations_get_limits(const rly_reservations *t)
{
    return &t->limits;
}

void rly_reservations_set_hash_key(rly_reservations *t, const uint8_t *key)
{
    t->k0 = load64le(key);
    t->k1 = load64le(key + 8);
    /* Rehash into the same number of buckets: detach the array, then reinsert. */
    size_t n = t->npeer_buckets;
    peer_ent *all = NULL;
    for (size_t i = 0; i < n; i++) {
        peer_ent *pe = t->peers[i];
        while (pe) {
            peer_ent *next = pe->hnext;
            pe->hnext = all;
            all = pe;
            pe = next;
        }
        t->peers[i] = NULL;
    }
    while (all) {
        peer_ent *next = all->hnext;
        all->hash = hash_peer(t, &all->id);
        size_t b = (size_t)(all->hash & (n - 1));
        all->hnext = t->peers[b];
        t->peers[b] = all;
        all = next;
    }
}

static rly_tstamp expiry_at(const rly_reservations *t, rly_tstamp now)
{
    return now > RLY_TSTAMP_MAX - t->limits.ttl ? RLY_TSTAMP_MAX : now + t->limits.ttl;
}

/* A new reservation of |peer| over |conn_id|; |pe| is the peer's entry or NULL. */
static int reserve_new(rly_reservations *t, const rly_peerid *peer, uint64_t h, peer_ent *pe,
                       uint64_t conn_id, rly_tstamp expire)
{
    if (t->nrsv >= t->limits.max_reservations) {
        log_refused(t, "reservation refused", peer, "max_reservations", t->nrsv,
                    t->limits.max_reservations);
        return RLY_ERR_RESERVATION_REFUSED;
    }
    if (t->limits.max_reservations_per_peer == 0) {
        log_refused(t, "reservation refused", peer, "max_reservations_per_peer", 0, 0);
        return RLY_ERR_RESERVATION_REFUSED;
    }
    if (heap_reserve(t) != 0)
        return RLY_ERR_NOMEM;
    if (!pe) {
        pe = peer_new(t, peer, h);
        if (!pe)
            return RLY_ERR_NOMEM;
    }
    pe->has_rsv = true;
    pe->conn_id = conn_id;
    pe->expire = expire;
    heap_set(t, t->nrsv, pe);
    t->nrsv++;
    heap_up(t, pe->heap_idx);
    return 0;
}

int rly_reservations_reserve(rly_reservations *t, const rly_peerid *peer, uint64_t conn_id,
                             rly_tstamp now, rly_tstamp *pexpire, bool *prenewed,
                             uint64_t *pprev_conn_id)
{
    uint64_t h = hash_peer(t, peer);
    peer_ent *pe = peer_find(t, peer, h);
    rly_tstamp expire = expiry_at(t, now);
    if (pe && pe->has_rsv) {
        /* A refresh, over whichever connection: not a new slot, so no cap applies (PROTOCOLS.md
         * 8.3). It now belongs to the connection it came over. */
        if (pprev_conn_id)
            *pprev_conn_id = pe->conn_id;
        pe->conn_id = conn_id;
        pe->expire = expire;
        heap_fix(t, pe->heap_idx);
        *pexpire = expire;
        *prenewed = true;
        return 0;
    }
    int rv = reserve_new(t, peer, h, pe, conn_id, expire);
    if (rv != 0)
        return rv;
    *pexpire = expire;
    *prenewed = false;
    if (pprev_conn_id)
        *pprev_conn_id = 0;
    return 0;
}

int rly_reservations_find(const rly_reservations *t, const rly_peerid *peer,
                          rly_reservation_info *pinfo)
{
    const peer_ent *pe = peer_find(t, peer, hash_peer(t, peer));
    if (!pe || !pe->has_rsv)
        return RLY_ERR_NO_RESERVATION;
    rsv_info(pe, pinfo);
    return 0;
}

int rly_reservations_lookup(const rly_reservations *t, const rly_peerid *peer, rly_tstamp now,
                            rly_reservation_info *pinfo)
{
    const peer_ent *pe = peer_find(t, peer, hash_peer(t, peer));
    if (!pe || !pe->has_rsv || pe->expire <= now)
        return RLY_ERR_NO_RESERVATION;
    rsv_info(pe, pinfo);
    return 0;
}

size_t rly_reservations_expire(rly_reservations *t, rly_tstamp now, rly_reservations_cb cb,
                               void *user_data)
{
    /* Bounded by the entries present at the start, so a callback that adds already expired
     * entries cannot keep this loop going. */
    size_t budget = t->nrsv, n = 0;
    while (n < budget && t->nrsv > 0 && t->heap[0]->expire <= now) {
        rly_reservation_info info;
        rsv_remove(t, t->heap[0], &info);
        n++;
        if (cb)
            cb(user_data, &info);
    }
    return n;
}

rly_tstamp rly_reservations_get_expiry(const rly_reservations *t)
{
    return t->nrsv > 0 ? t->heap[0]->expire : RLY_TSTAMP_MAX;
}

rly_reservation_close rly_reservations_on_connection_closed(rly_reservations *t,
                                                            const rly_peerid *peer,
                                                            uint64_t conn_id,
                                                            const uint64_t *next_conn_id,
                                                            rly_reservations_cb cb, void *user_data)
{
    peer_ent *pe = peer_find(t, peer, hash_peer(t, peer));
    if (!pe || !pe->has_rsv || pe->conn_id != conn_id)
        return RLY_RESERVATION_UNTOUCHED;
    if (next_conn_id) {
        pe->conn_id = *next_conn_id; /* same expiry: the heap stays as it is */
        return RLY_RESERVATION_MOVED;
    }
    rly_reservation_info info;
    rsv_remove(t, pe, &info);
    if (cb)
        cb(user_data, &info);
    return RLY_RESERVATION_DROPPED;
}

int rly_reservations_remove(rly_reservations *t, const rly_peerid *peer, uint64_t conn_id)
{
    peer_ent *pe = peer_find(t, peer, hash_peer(t, peer));
    if (!pe || !pe->has_rsv || pe->conn_id != conn_id)
        return RLY_ERR_NOT_FOUND;
    rsv_remove(t, pe, NULL);
    return 0;
}

int rly_reservations_circuit_begin(rly_reservations *t, const rly_peerid *src,
                                   const rly_peerid *dst)
{
    const uint64_t cap = t->limits.max_circuits_per_peer;
    if (t->ncircuits >= t->limits.max_circuits) {
        log_refused(t, "circuit refused", src, "max_circuits", t->ncircuits,
                    t->limits.max_circuits);
        return RLY_ERR_LIMIT;
    }
    uint64_t hs = hash_peer(t, src), hd = hash_peer(t, dst);
    peer_ent *ps = peer_find(t, src, hs);
    peer_ent *pd = peer_find(t, dst, hd);
    bool same = rly_peerid_equal(src, dst);
    /* go checks the source and the destination separately; a peer on both ends counts twice. */
    if (same ? peer_circuits(ps) + 2 > cap : peer_circuits(ps) >= cap) {
        log_refused(t, "circuit refused", src, "max_circuits_per_peer (source)", peer_circuits(ps),
                    cap);
        return RLY_ERR_LIMIT;
    }
    if (!same && peer_circuits(pd) >= cap) {
        log_refused(t, "circuit refused", dst, "max_circuits_per_peer (destination)",
                    peer_circuits(pd), cap);
        return RLY_ERR_LIMIT;
    }
    bool created = false;
    if (!ps) {
        ps = peer_new(t, src, hs);
        if (!ps)
            return RLY_ERR_NOMEM;
        created = true;
    }
    if (same) {
        pd = ps;
    } else if (!pd) {
        pd = peer_new(t, dst, hd);
        if (!pd) {
            if (created)
                peer_maybe_free(t, ps);
            return RLY_ERR_NOMEM;
        }
    }
    ps->ncirc_src++;
    pd->ncirc_dst++;
    t->ncircuits++;
    return 0;
}

int rly_reservations_circuit_end(rly_reservations *t, const rly_peerid *src, const rly_peerid *dst)
{
    peer_ent *ps = peer_find(t, src, hash_peer(t, src));
    peer_ent *pd = peer_find(t, dst, hash_peer(t, dst));
    if (!ps || !pd || ps->ncirc_src == 0 || pd->ncirc_dst == 0 || t->ncircuits == 0)
        return RLY_ERR_INVALID_STATE;
    ps->ncirc_src--;
    pd->ncirc_dst--;
    t->ncircuits--;
    peer_maybe_free(t, ps);
    if (pd != ps)
        peer_maybe_free(t, pd);
    return 0;
}

size_t rly_reservations_count(const rly_reservations *t)
{
    return t->nrsv;
}

size_t rly_reservations_circuit_count(const rly_reservations *t)
{
    return t->ncircuits;
}

size_t rly_reservations_peer_count(const rly_reservations *t)
{
    return t->npeers;
}

void rly_reservations_get_peer_stats(const rly_reservations *t, const rly_peerid *peer,
                                     rly_reservations_peer_stats *pstats)
{
    memset(pstats, 0, sizeof(*pstats));
    const peer_ent *pe = peer_find(t, peer, hash_peer(t, peer));
    if (!pe)
        return;
    pstats->reservations = pe->has_rsv ? 1 : 0;
    pstats->circuits_src = pe->ncirc_src;
    pstats->circuits_dst = pe->ncirc_dst;
    pstats->circuits = pe->ncirc_src + pe->ncirc_dst;
}
