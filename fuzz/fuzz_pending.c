/* fuzz_pending.c: the table of handshakes in progress (src/transport/pending.c) driven by
 * operations read from the input (add from one of 8 addresses in 3 IPv4 and 2 IPv6 /56 groups or
 * none, touch at a stage, remove, make room as the transports do) over 32 nodes, checked after
 * every operation against a reference model that scans everything: room, the victim (the
 * address's stalest when its group is full, else the stalest of all: the oldest at stage 0 if
 * it is old enough or they are a crowd, else the least recent progress whatever the stage;
 * progress only by reaching a later stage), counts. Time moves by up to 700 ms
 * per operation. Everything is freed at the end. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "transport/pending.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NN 32
#define NA 9 /* the last one: no address */

static const char *const addrs[NA - 1] = {
    "192.0.2.1",         "192.0.2.1",         "192.0.2.2",
    "198.51.100.3",      "2001:db8:0:100::1", "2001:db8:0:1ff::2", /* one /56 */
    "2001:db8:0:200::1", "192.0.2.2",
};
/* The group of each address, as the model sees it (NA - 1: no address). */
static const int group_of[NA] = {0, 0, 1, 2, 3, 3, 4, 1, 5};

typedef struct model {
    bool in[NN];
    int addr[NN];
    unsigned stage[NN];
    uint64_t last[NN];
    uint64_t seq[NN]; /* order of the last add or stage reached (lists are in this order) */
    uint64_t nseq;
} model;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static const struct sockaddr *sa_of(int a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a == NA - 1)
        return NULL;
    if (strchr(addrs[a], ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        check(inet_pton(AF_INET6, addrs[a], &s6->sin6_addr) == 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        check(inet_pton(AF_INET, addrs[a], &s4->sin_addr) == 1);
    }
    return (const struct sockaddr *)ss;
}

static size_t count(const model *m, int group)
{
    size_t n = 0;
    for (int i = 0; i < NN; i++)
        n += m->in[i] && (group < 0 || group_of[m->addr[i]] == group);
    return n;
}

/* The model's victim among the nodes of |group| (-1: all; at most |cap| of them) at |now|: the
 * oldest that sent nothing whole (stage 0) if it is older than RLY_PENDING_FIRST_WORDS or there
 * are a crowd of them (cap / 8, from 2 to RLY_PENDING_CROWD_MAX), else the least recent progress
 * at a later stage (ties: the earlier stage, then the earlier in that stage's list), else that
 * oldest silent one. */
static int stalest(const model *m, int group, size_t cap, uint64_t now)
{
    int crowd = (int)(cap / 8 < 2                       ? 2
                      : cap / 8 > RLY_PENDING_CROWD_MAX ? RLY_PENDING_CROWD_MAX
                                                        : cap / 8);
    int v = -1, silent = -1, nsilent = 0;
    for (int i = 0; i < NN; i++) {
        if (!m->in[i] || (group >= 0 && group_of[m->addr[i]] != group))
            continue;
        if (m->stage[i] == 0) {
            nsilent++;
            if (silent < 0 || m->last[i] < m->last[silent] ||
                (m->last[i] == m->last[silent] && m->seq[i] < m->seq[silent]))
                silent = i;
            continue;
        }
        if (v < 0 || m->last[i] < m->last[v] ||
            (m->last[i] == m->last[v] &&
             (m->stage[i] < m->stage[v] || (m->stage[i] == m->stage[v] && m->seq[i] < m->seq[v]))))
            v = i;
    }
    if (silent >= 0 && (nsilent >= crowd || now - m->last[silent] >= RLY_PENDING_FIRST_WORDS))
        return silent;
    return v >= 0 ? v : silent;
}

/* Room and victim for a newcomer from |a|, compared with the table's answer. */
static int check_victim(const rly_pending *p, const model *m, const rly_pending_node *nodes, int a,
                        size_t max, size_t per, uint64_t now)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = sa_of(a, &ss);
    int g = group_of[a];
    bool group_full = per == 0 || count(m, g) >= per;
    bool room = !group_full && count(m, -1) < max;
    check(rly_pending_has_room(p, sa) == room);
    if (room)
        return -1;
    rly_pending_limit limit;
    const rly_pending_node *v = rly_pending_victim(p, sa, now, &limit);
    int want = group_full ? stalest(m, g, per, now) : stalest(m, -1, max, now);
    check(limit == (group_full ? RLY_PENDING_PER_GROUP : RLY_PENDING_TOTAL));
    check(want < 0 ? v == NULL : v == &nodes[want]);
    return want;
}

/* Adds node |n| from address |a| to the table and the model. */
static void model_add(rly_pending *p, model *m, rly_pending_node *nodes, int n, int a, uint64_t now)
{
    struct sockaddr_storage ss;
    check(rly_pending_add(p, &nodes[n], sa_of(a, &ss), now) == 0);
    m->in[n] = true;
    m->addr[n] = a;
    m->stage[n] = 0;
    m->last[n] = now;
    m->seq[n] = m->nseq++;
}

/* What the evict callback compares against: the next victim the model names. */
typedef struct fz_ctx {
    rly_pending *p;
    model *m;
    rly_pending_node *nodes;
    int a;
    size_t max, per;
    uint64_t now;
    int want;
} fz_ctx;

static void fz_evict(void *ud, rly_pending_node *n, const char *reason)
{
    fz_ctx *x = ud;
    check(x->want >= 0 && n == &x->nodes[x->want] && reason != NULL);
    rly_pending_remove(x->p, n);
    x->m->in[x->want] = false;
    x->want = check_victim(x->p, x->m, x->nodes, x->a, x->max, x->per, x->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rly_pending_node nodes[NN];
    static model m;
    rly_pending p;
    uint64_t now = 0;
    if (size < 2)
        return 0;
    size_t max = data[0] % 20, per = data[1] % 8;
    memset(nodes, 0, sizeof(nodes));
    memset(&m, 0, sizeof(m));
    check(rly_pending_init(&p, max, per, rly_mem_default()) == 0);
    for (size_t i = 2; i + 1 < size; i += 2) {
        uint8_t op = data[i], arg = data[i + 1];
        int n = arg % NN, a = ((op >> 2) ^ (arg >> 5)) % NA;
        struct sockaddr_storage ss;
        now += 1 + (uint64_t)((op ^ arg) & 7) * 100 * RLY_NS_PER_MS;
        switch (op % 4) {
        case 0: /* add, where there is room */
            if (m.in[n] || check_victim(&p, &m, nodes, a, max, per, now) >= 0 ||
                !rly_pending_has_room(&p, sa_of(a, &ss)))
                break;
            model_add(&p, &m, nodes, n, a, now);
            break;
        case 1: { /* touch */
            unsigned st = (op / 4) % (RLY_PENDING_STAGES + 1);
            rly_pending_touch(&p, &nodes[n], st, now);
            if (m.in[n] && st > m.stage[n] && st < RLY_PENDING_STAGES) { /* else no progress */
                m.stage[n] = st;
                m.last[n] = now;
                m.seq[n] = m.nseq++;
            }
            break;
        }
        case 2: /* remove */
            rly_pending_remove(&p, &nodes[n]);
            m.in[n] = false;
            break;
        default: { /* make room for a newcomer from |a| and add it as |n|, as a transport does */
            if (m.in[n])
                break;
            fz_ctx x = {&p,  &m,  nodes, a,
                        max, per, now,   check_victim(&p, &m, nodes, a, max, per, now)};
            bool room = rly_pending_make_room(&p, sa_of(a, &ss), now, NULL, "fuzz", fz_evict, &x);
            check(room == rly_pending_has_room(&p, sa_of(a, &ss)));
            check(x.want < 0); /* every victim the model named was the one closed */
            if (!room)
                break;
            model_add(&p, &m, nodes, n, a, now);
            break;
        }
        }
        check(p.count == count(&m, -1));
        for (int k = 0; k < NN; k++)
            check(rly_pending_contains(&nodes[k]) == m.in[k]);
    }
    rly_pending_free(&p);
    return 0;
}
