/* pending.c: the table of inbound handshakes in progress (pending.h). */
#include "transport/pending.h"

#include <string.h>

#include "core/cidr.h"
#include "crypto/crypto.h"

struct rly_pending_group {
    rly_pending_group *next; /* in its hash bucket */
    uint8_t key[RLY_CIDR_GROUP_LEN];
    size_t count;
    rly_pending_list lists[RLY_PENDING_STAGES];
};

static uint64_t key_hash(const rly_pending *p, const uint8_t key[RLY_CIDR_GROUP_LEN])
{
    uint64_t h = (p->hash_key ^ 1469598103934665603u) * 1099511628211u; /* FNV-1a, keyed */
    for (size_t i = 0; i < RLY_CIDR_GROUP_LEN; i++)
        h = (h ^ key[i]) * 1099511628211u;
    return h;
}

/* The group key of |sa|: its address group, or all zero (no IP address). */
static void key_of(const struct sockaddr *sa, uint8_t key[RLY_CIDR_GROUP_LEN])
{
    memset(key, 0, RLY_CIDR_GROUP_LEN);
    if (sa)
        (void)rly_cidr_group(sa, key);
}

static size_t bucket_of(const rly_pending *p, const uint8_t key[RLY_CIDR_GROUP_LEN])
{
    return (size_t)(key_hash(p, key) & (RLY_PENDING_BUCKETS - 1));
}

static rly_pending_group **group_slot(rly_pending *p, const uint8_t key[RLY_CIDR_GROUP_LEN])
{
    rly_pending_group **pp = &p->buckets[bucket_of(p, key)];
    while (*pp && memcmp((*pp)->key, key, RLY_CIDR_GROUP_LEN) != 0)
        pp = &(*pp)->next;
    return pp;
}

static const rly_pending_group *group_find(const rly_pending *p, const struct sockaddr *sa)
{
    uint8_t key[RLY_CIDR_GROUP_LEN];
    key_of(sa, key);
    const rly_pending_group *g = p->buckets[bucket_of(p, key)];
    while (g && memcmp(g->key, key, RLY_CIDR_GROUP_LEN) != 0)
        g = g->next;
    return g;
}

/* ---- the lists ------------------------------------------------------------------------------
 * A node is in two lists at once, through link[0] (the table's) and link[1] (its group's). */

#define IN_TABLE 0
#define IN_GROUP 1

static void list_append(rly_pending_list *l, rly_pending_node *n, int k)
{
    l->count++;
    n->link[k].prev = l->tail;
    n->link[k].next = NULL;
    if (l->tail)
        l->tail->link[k].next = n;
    else
        l->head = n;
    l->tail = n;
}

static void list_unlink(rly_pending_list *l, rly_pending_node *n, int k)
{
    rly_pending_link *x = &n->link[k];
    l->count--;
    if (x->prev)
        x->prev->link[k].next = x->next;
    else
        l->head = x->next;
    if (x->next)
        x->next->link[k].prev = x->prev;
    else
        l->tail = x->prev;
    x->prev = x->next = NULL;
}

/* |n| at the tail of its stage's lists, the table's and its group's. */
static void lists_append(rly_pending *p, rly_pending_node *n)
{
    list_append(&p->lists[n->stage], n, IN_TABLE);
    list_append(&n->group->lists[n->stage], n, IN_GROUP);
}

static void lists_unlink(rly_pending *p, rly_pending_node *n)
{
    list_unlink(&p->lists[n->stage], n, IN_TABLE);
    list_unlink(&n->group->lists[n->stage], n, IN_GROUP);
}

/* How many silent newcomers are a crowd, for a set of lists holding at most |cap|. */
static size_t crowd_of(size_t cap)
{
    size_t c = cap / 8;
    return c < 2 ? 2 : c > RLY_PENDING_CROWD_MAX ? RLY_PENDING_CROWD_MAX : c;
}

/* The stalest of one set of stage lists holding at most |cap| (each in order of progress, oldest
 * at its head): the oldest of those that sent nothing whole yet (stage 0), if it is older than
 * RLY_PENDING_FIRST_WORDS or they are a crowd; else the head whose last progress is the least
 * recent (ties: the earlier stage); else that oldest silent one. */
static rly_pending_node *stalest(const rly_pending_list lists[RLY_PENDING_STAGES], size_t cap,
                                 rly_tstamp now)
{
    rly_pending_node *silent = lists[0].head;
    if (silent && (lists[0].count >= crowd_of(cap) ||
                   (now >= silent->last && now - silent->last >= RLY_PENDING_FIRST_WORDS)))
        return silent;
    rly_pending_node *oldest = NULL;
    for (unsigned s = 1; s < RLY_PENDING_STAGES; s++) {
        rly_pending_node *h = lists[s].head;
        if (h && (!oldest || h->last < oldest->last))
            oldest = h;
    }
    return oldest ? oldest : silent;
}

/* ---- the table ------------------------------------------------------------------------------ */

int rly_pending_init(rly_pending *p, size_t max, size_t max_per_group, rly_mem *mem)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->max_per_group = max_per_group;
    p->mem = mem;
    if (rly_crypto_random((uint8_t *)&p->hash_key, sizeof(p->hash_key)) != 0)
        return RLY_ERR_CRYPTO;
    return 0;
}

void rly_pending_free(rly_pending *p)
{
    for (size_t b = 0; b < RLY_PENDING_BUCKETS; b++) {
        while (p->buckets[b]) {
            rly_pending_group *g = p->buckets[b];
            p->buckets[b] = g->next;
            rly_free(p->mem, g);
        }
    }
    memset(p->lists, 0, sizeof(p->lists));
    p->count = 0;
}

rly_pending_node *rly_pending_victim(const rly_pending *p, const struct sockaddr *sa,
                                     rly_tstamp now, rly_pending_limit *plimit)
{
    const rly_pending_group *g = group_find(p, sa);
    rly_pending_limit limit = RLY_PENDING_TOTAL;
    rly_pending_node *v = NULL;
    if (p->max_per_group == 0 || (g && g->count >= p->max_per_group)) {
        limit = RLY_PENDING_PER_GROUP;
        v = g ? stalest(g->lists, p->max_per_group, now) : NULL;
    } else if (p->count >= p->max) {
        v = stalest(p->lists, p->max, now);
    } else {
        return NULL;
    }
    if (plimit)
        *plimit = limit;
    return v;
}

bool rly_pending_has_room(const rly_pending *p, const struct sockaddr *sa)
{
    const rly_pending_group *g = group_find(p, sa);
    return p->count < p->max && p->max_per_group > 0 && (!g || g->count < p->max_per_group);
}

int rly_pending_add(rly_pending *p, rly_pending_node *n, const struct sockaddr *sa, rly_tstamp now)
{
    uint8_t key[RLY_CIDR_GROUP_LEN];
    key_of(sa, key);
    rly_pending_group **pp = group_slot(p, key), *g = *pp;
    if (!g) {
        g = rly_calloc(p->mem, 1, sizeof(*g));
        if (!g)
            return RLY_ERR_NOMEM;
        memcpy(g->key, key, RLY_CIDR_GROUP_LEN);
        *pp = g;
    }
    n->group = g;
    n->stage = 0;
    n->last = now;
    lists_append(p, n);
    g->count++;
    p->count++;
    return 0;
}

void rly_pending_touch(rly_pending *p, rly_pending_node *n, unsigned stage, rly_tstamp now)
{
    if (!n->group || stage <= n->stage || stage >= RLY_PENDING_STAGES)
        return; /* no new stage: no progress (a trickle of bytes keeps nothing fresh) */
    lists_unlink(p, n);
    n->stage = stage;
    n->last = now;
    lists_append(p, n);
}

void rly_pending_remove(rly_pending *p, rly_pending_node *n)
{
    rly_pending_group *g = n->group;
    if (!g)
        return;
    lists_unlink(p, n);
    n->group = NULL;
    p->count--;
    if (--g->count > 0)
        return;
    rly_pending_group **pp = group_slot(p, g->key);
    *pp = g->next;
    rly_free(p->mem, g);
}

/* Counts one eviction; at most once per RLY_PENDING_WARN_INTERVAL, a warning. */
static void warn(rly_pending *p, const rly_log *log, const char *transport, rly_tstamp now)
{
    p->unwarned++;
    if (p->has_warned && now - p->warned_at < RLY_PENDING_WARN_INTERVAL)
        return;
    RLY_LOGW(log, RLY_TARGET_TRANSPORT,
             RLY_MSG("Pending handshakes evicted: new connections take the places of stalled ones "
                     "(a flood of connections that do not finish their handshake?)"),
             RLY_F_STR("transport", transport), RLY_F_U64("evicted", p->unwarned),
             RLY_F_U64("pending", p->count), RLY_F_U64("max_pending_handshakes", p->max),
             RLY_F_U64("max_pending_handshakes_per_ip", p->max_per_group));
    p->unwarned = 0;
    p->warned_at = now;
    p->has_warned = true;
}

bool rly_pending_make_room(rly_pending *p, const struct sockaddr *sa, rly_tstamp now,
                           const rly_log *log, const char *transport, rly_pending_evict_cb evict,
                           void *ud)
{
    rly_pending_limit limit;
    while (!rly_pending_has_room(p, sa)) {
        rly_pending_node *v = rly_pending_victim(p, sa, now, &limit);
        if (!v)
            return false;
        p->evicted[limit]++;
        warn(p, log, transport, now);
        evict(ud, v,
              limit == RLY_PENDING_PER_GROUP ? RLY_PENDING_REASON_PER_IP
                                             : RLY_PENDING_REASON_TOTAL);
    }
    return true;
}
