/* limiter.c: per-address limits and rate limits (limiter.h). */
#include "relay/limiter.h"

#include <netinet/in.h>
#include <string.h>

#include "crypto/crypto.h"

#define MAP_BUCKETS 1024u
#define KEY_LEN RLY_CIDR_GROUP_LEN

/* Counts of one address (group). */
typedef struct ip_entry {
    struct ip_entry *next;
    uint8_t key[KEY_LEN];
    uint64_t conns, rsvs;
} ip_entry;

/* One counted connection. */
typedef struct conn_entry {
    struct conn_entry *next;
    uint64_t id;
    ip_entry *ip;
    bool has_rsv; /* a reservation made over it is counted in ip->rsvs */
} conn_entry;

typedef struct bucket {
    uint64_t key; /* keyed hash of (kind, bytes); 0: free */
    double tokens;
    uint64_t last_ms;
} bucket;

enum { B_RSV_PEER = 1, B_RSV_IP, B_CIRC_PEER, B_CIRC_IP };

struct rly_limiter {
    rly_limits_settings s;
    rly_mem *mem;
    uint64_t hash_key;
    ip_entry *ips[MAP_BUCKETS];
    conn_entry *conns[MAP_BUCKETS];
    rly_limiter_stats stats;
    bucket buckets[RLY_LIMITER_SLOTS];
};

static uint64_t hash(const rly_limiter *l, unsigned kind, const uint8_t *p, size_t len)
{
    uint64_t h = (l->hash_key ^ 1469598103934665603u) * 1099511628211u; /* FNV-1a, keyed */
    h = (h ^ kind) * 1099511628211u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h ? h : 1;
}

/* The address group of |sa| in |key|; false for no address or an exempt one (not limited). */
static bool key_of(const rly_limiter *l, const struct sockaddr *sa, uint8_t key[KEY_LEN])
{
    memset(key, 0, KEY_LEN);
    return sa && !rly_cidr_list_has(&l->s.exempt, sa) && rly_cidr_group(sa, key);
}

static ip_entry **ip_slot(rly_limiter *l, const uint8_t key[KEY_LEN])
{
    ip_entry **pp = &l->ips[hash(l, 0, key, KEY_LEN) % MAP_BUCKETS];
    while (*pp && memcmp((*pp)->key, key, KEY_LEN) != 0)
        pp = &(*pp)->next;
    return pp;
}

static conn_entry **conn_slot(rly_limiter *l, uint64_t id)
{
    conn_entry **pp = &l->conns[(id * 11400714819323198485u) >> 54]; /* 1024 buckets */
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

/* Drops |ip| once nothing counts on it. */
static void ip_release(rly_limiter *l, ip_entry *ip)
{
    if (ip->conns > 0 || ip->rsvs > 0)
        return;
    ip_entry **pp = ip_slot(l, ip->key);
    *pp = ip->next;
    rly_free(l->mem, ip);
}

/* Takes a token from the bucket of (|kind|, |p|) at |rate| per minute; true when there was one. */
static bool take(rly_limiter *l, unsigned kind, const uint8_t *p, size_t len, uint64_t rate,
                 uint64_t now_ms)
{
    if (rate == 0)
        return true;
    uint64_t k = hash(l, kind, p, len);
    bucket *b = &l->buckets[k % RLY_LIMITER_SLOTS];
    if (b->key != k) { /* free, or another key's: a full bucket */
        b->key = k;
        b->tokens = (double)rate;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms)
        b->tokens += (double)(now_ms - b->last_ms) * (double)rate / 60000.0;
    if (b->tokens > (double)rate)
        b->tokens = (double)rate;
    b->last_ms = now_ms;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

int rly_limiter_new(rly_limiter **pl, const rly_limits_settings *s, rly_mem *mem)
{
    rly_limiter *l = rly_calloc(mem, 1, sizeof(*l));
    if (!l)
        return RLY_ERR_NOMEM;
    l->s = *s;
    l->mem = mem;
    if (rly_crypto_random((uint8_t *)&l->hash_key, sizeof(l->hash_key)) != 0) {
        rly_free(mem, l);
        return RLY_ERR_CRYPTO;
    }
    *pl = l;
    return 0;
}

void rly_limiter_update(rly_limiter *l, const rly_limits_settings *s)
{
    l->s = *s;
}

void rly_limiter_del(rly_limiter *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < MAP_BUCKETS; i++) {
        while (l->conns[i]) {
            conn_entry *c = l->conns[i];
            l->conns[i] = c->next;
            rly_free(l->mem, c);
        }
        while (l->ips[i]) {
            ip_entry *e = l->ips[i];
            l->ips[i] = e->next;
            rly_free(l->mem, e);
        }
    }
    rly_free(l->mem, l);
}

int rly_limiter_conn_open(rly_limiter *l, uint64_t conn_id, const struct sockaddr *sa)
{
    uint8_t key[KEY_LEN];
    if (!key_of(l, sa, key) || *conn_slot(l, conn_id))
        return 0;
    ip_entry **pp = ip_slot(l, key), *ip = *pp;
    if (ip && l->s.max_connections_per_ip && ip->conns >= l->s.max_connections_per_ip) {
        l->stats.connections_per_ip++;
        return RLY_ERR_LIMIT;
    }
    conn_entry *c = rly_calloc(l->mem, 1, sizeof(*c));
    if (!c)
        return RLY_ERR_NOMEM;
    if (!ip) {
        ip = rly_calloc(l->mem, 1, sizeof(*ip));
        if (!ip) {
            rly_free(l->mem, c);
            return RLY_ERR_NOMEM;
        }
        memcpy(ip->key, key, KEY_LEN);
        *pp = ip;
    }
    ip->conns++;
    c->id = conn_id;
    c->ip = ip;
    conn_entry **cp = conn_slot(l, conn_id);
    *cp = c;
    return 0;
}

void rly_limiter_conn_close(rly_limiter *l, uint64_t conn_id)
{
    conn_entry **cp = conn_slot(l, conn_id), *c = *cp;
    if (!c)
        return;
    *cp = c->next;
    c->ip->conns--;
    if (c->has_rsv)
        c->ip->rsvs--;
    ip_release(l, c->ip);
    rly_free(l->mem, c);
}

/* fits: whether a reservation held at |from| (NULL: none) may be counted at |to| within
 * max_reservations_per_ip: |to| uncounted or counted already (a refresh over the same
 * connection), a move within one address (its count stays), no cap, or room under it. */
static bool fits(const rly_limiter *l, const conn_entry *from, const conn_entry *to)
{
    if (!to || to->has_rsv || !l->s.max_reservations_per_ip)
        return true;
    if (from && from->has_rsv && from->ip == to->ip)
        return true;
    return to->ip->rsvs < l->s.max_reservations_per_ip;
}

int rly_limiter_reserve(rly_limiter *l, const rly_peerid *peer, uint64_t conn_id,
                        uint64_t prev_conn_id, const struct sockaddr *sa, uint64_t now_ms,
                        const char **pwhy)
{
    uint8_t key[KEY_LEN];
    if (!key_of(l, sa, key))
        return 0;
    if (!take(l, B_RSV_PEER, peer->bytes, peer->len, l->s.reservation_rate_per_peer, now_ms)) {
        l->stats.reservation_rate_peer++;
        *pwhy = "reservation rate of this peer (reservation_rate_per_peer)";
        return RLY_ERR_LIMIT;
    }
    if (!take(l, B_RSV_IP, key, KEY_LEN, l->s.reservation_rate_per_ip, now_ms)) {
        l->stats.reservation_rate_ip++;
        *pwhy = "reservation rate of this address (reservation_rate_per_ip)";
        return RLY_ERR_LIMIT;
    }
    conn_entry *prev = prev_conn_id && prev_conn_id != conn_id ? *conn_slot(l, prev_conn_id) : NULL;
    if (!fits(l, prev, *conn_slot(l, conn_id))) {
        l->stats.reservations_per_ip++;
        *pwhy = "reservations of this address (max_reservations_per_ip)";
        return RLY_ERR_RESERVATION_REFUSED;
    }
    return 0;
}

void rly_limiter_reservation_ended(rly_limiter *l, uint64_t conn_id)
{
    conn_entry *c = *conn_slot(l, conn_id);
    if (c && c->has_rsv) {
        c->has_rsv = false;
        c->ip->rsvs--;
    }
}

void rly_limiter_reservation_added(rly_limiter *l, uint64_t conn_id, uint64_t prev_conn_id)
{
    if (prev_conn_id && prev_conn_id != conn_id)
        rly_limiter_reservation_ended(l, prev_conn_id);
    conn_entry *c = *conn_slot(l, conn_id);
    if (c && !c->has_rsv) {
        c->has_rsv = true;
        c->ip->rsvs++;
    }
}

int rly_limiter_reservation_move(rly_limiter *l, uint64_t from, uint64_t to)
{
    if (!fits(l, *conn_slot(l, from), *conn_slot(l, to))) {
        l->stats.reservations_per_ip++;
        return RLY_ERR_RESERVATION_REFUSED;
    }
    rly_limiter_reservation_added(l, to, from);
    return 0;
}

int rly_limiter_connect(rly_limiter *l, const rly_peerid *peer, const struct sockaddr *sa,
                        uint64_t now_ms, const char **pwhy)
{
    uint8_t key[KEY_LEN];
    if (!key_of(l, sa, key))
        return 0;
    if (!take(l, B_CIRC_PEER, peer->bytes, peer->len, l->s.circuit_rate_per_peer, now_ms)) {
        l->stats.circuit_rate_peer++;
        *pwhy = "circuit rate of this peer (circuit_rate_per_peer)";
        return RLY_ERR_LIMIT;
    }
    if (!take(l, B_CIRC_IP, key, KEY_LEN, l->s.circuit_rate_per_ip, now_ms)) {
        l->stats.circuit_rate_ip++;
        *pwhy = "circuit rate of this address (circuit_rate_per_ip)";
        return RLY_ERR_LIMIT;
    }
    return 0;
}

void rly_limiter_stats_get(const rly_limiter *l, rly_limiter_stats *out)
{
    *out = l->stats;
}
