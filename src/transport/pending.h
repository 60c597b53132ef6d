/* pending.h: the table of inbound handshakes in progress, shared by the TCP and QUIC transports.
 * It decides who goes when a new handshake arrives and there is no room for it, so that a flood of
 * stalled handshakes can never keep an honest client out (issue 11, item 3):
 *   - an address (IPv4 address, IPv6 /56: rly_cidr_group) holds at most |max_per_group|
 *     handshakes, every address alike (loopback and [limits] exemptions too: nobody is refused,
 *     the cap only picks who is closed); a new one from an address at its cap closes that
 *     address's stalest handshake, never a handshake of another address;
 *   - the table holds at most |max|; a new one when it is full closes the stalest of all.
 * Progress is a stage reached (a transport's own numbering of handshake messages received whole:
 * 0 = nothing yet), nothing less: bytes that complete no message are not progress, so a peer that
 * trickles a byte now and then stays as stale as one that sends nothing. The stalest is the
 * oldest handshake that has sent nothing whole yet (stage 0): an honest client's first message
 * comes with its connect, so a flood of connections that say nothing, at any rate, only pushes
 * out its own. A few such newcomers are spared for RLY_PENDING_FIRST_WORDS, the time a first
 * message may take to come (they may be honest clients just accepted, among stalled handshakes
 * that all said something); a flood of silent ones is a crowd, and is not spared. Else the
 * stalest is the handshake whose last progress is the least recent, whatever its stage: an
 * honest client makes progress every round trip until it is done, a stalled one does not,
 * wherever it stalled, so a client is closed only when everything else of its address made
 * progress more recently than its own last message. Two rules this replaces failed (issue 11
 * reviews): ranking by stage first let an attacker take its connections through Noise (cheap for
 * it) and park them there, kept, while honest clients at an earlier step were closed; sparing
 * every silent connection for its first 200 ms let a flood of them faster than the cap per
 * 200 ms rank all of them fresher than a client waiting a round trip.
 *
 * Intrusive and O(1) per operation: each node sits in two lists ordered by last progress, the
 * table's list of its stage and its group's list of its stage (a touch moves it to the tails).
 * Groups live in a keyed hash table (random key: an attacker cannot aim addresses at one chain)
 * and are allocated with their first handshake, freed with their last. */
#ifndef RLY_TRANSPORT_PENDING_H
#define RLY_TRANSPORT_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

/* A newcomer that has sent nothing whole yet is spared this long (rly_pending_victim), unless
 * such newcomers are a crowd: RLY_PENDING_CROWD_MAX of them, fewer for a small cap (cap / 8, at
 * least 2). */
#define RLY_PENDING_FIRST_WORDS (200 * RLY_NS_PER_MS)
#define RLY_PENDING_CROWD_MAX 4
/* Stages a transport may use: 0 .. RLY_PENDING_STAGES - 1, earliest first. Each is a protocol
 * message received whole (TCP: the security proposal, Noise msg1, Noise msg3; QUIC: the client's
 * handshake data), so an honest client moves up one every round trip. */
#define RLY_PENDING_STAGES 4
/* Group hash buckets (a power of two). */
#define RLY_PENDING_BUCKETS 1024u
/* The reasons an evicted handshake is closed with (its debug "Handshake failed" record). */
#define RLY_PENDING_REASON_PER_IP                                                                  \
    "evicted for a newer handshake from its address (max_pending_handshakes_per_ip)"
#define RLY_PENDING_REASON_TOTAL "evicted for a newer handshake (max_pending_handshakes)"
/* rly_pending_warn writes at most one warning per this interval. */
#define RLY_PENDING_WARN_INTERVAL (10 * RLY_NS_PER_S)

/* The connection of type |type| whose member |member| is the node |n|. */
#define RLY_PENDING_OWNER(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

typedef struct rly_pending_group rly_pending_group;

typedef struct rly_pending_list {
    struct rly_pending_node *head, *tail; /* head: the least recent progress */
    size_t count;
} rly_pending_list;

typedef struct rly_pending_link {
    struct rly_pending_node *prev, *next;
} rly_pending_link;

/* Embedded in a connection. Zero-initialised: not in the table. */
typedef struct rly_pending_node {
    rly_pending_link link[2]; /* [0]: in the table's list of its stage, [1]: in its group's */
    rly_pending_group *group; /* NULL: not in the table */
    rly_tstamp last;          /* last progress: when it was added or reached its stage */
    unsigned stage;
} rly_pending_node;

/* Which limit made room (rly_pending_victim). */
typedef enum rly_pending_limit {
    RLY_PENDING_PER_GROUP = 0, /* max_per_group: the address's stalest */
    RLY_PENDING_TOTAL = 1,     /* max: the stalest of all */
} rly_pending_limit;

typedef struct rly_pending {
    size_t max, max_per_group; /* 0: nothing is admitted */
    size_t count;
    rly_pending_list lists[RLY_PENDING_STAGES];
    rly_pending_group *buckets[RLY_PENDING_BUCKETS];
    uint64_t hash_key;
    rly_mem *mem;
    uint64_t evicted[2];  /* handshakes closed to make room, by rly_pending_limit */
    uint64_t unwarned;    /* evictions since the last warning */
    rly_tstamp warned_at; /* of the last warning */
    bool has_warned;
} rly_pending;

/* Closes the handshake of |n| for |reason| (one of RLY_PENDING_REASON_*); must take |n| out of
 * the table (rly_pending_remove) before it returns. */
typedef void (*rly_pending_evict_cb)(void *ud, rly_pending_node *n, const char *reason);

/* rly_pending_init makes an empty table in |p|. Returns 0 or RLY_ERR_CRYPTO (no random key). */
RLY_NODISCARD int rly_pending_init(rly_pending *p, size_t max, size_t max_per_group, rly_mem *mem);

/* rly_pending_free releases what the table still holds; its nodes are forgotten (not touched). */
void rly_pending_free(rly_pending *p);

/* rly_pending_victim: a handshake from |sa| (NULL or no IP address: one group for all of those)
 * wants in at |now| and there is no room for it (rly_pending_has_room). Returns the handshake to
 * close first: the stalest of |sa|'s group when that group is at max_per_group (|*plimit|
 * RLY_PENDING_PER_GROUP), else the stalest of all (RLY_PENDING_TOTAL); NULL when there is room or
 * nothing to close (a limit of 0). The caller closes it, which removes it, and checks again: room
 * may take two closes (the address's, then the table's). |plimit| may be NULL. */
rly_pending_node *rly_pending_victim(const rly_pending *p, const struct sockaddr *sa,
                                     rly_tstamp now, rly_pending_limit *plimit);

/* rly_pending_has_room: whether a handshake from |sa| can be added without closing another. */
bool rly_pending_has_room(const rly_pending *p, const struct sockaddr *sa);

/* rly_pending_add puts |n| (not in the table) in, from |sa| at stage 0, progress |now|. It does
 * not check the limits (rly_pending_victim). Returns 0 or RLY_ERR_NOMEM (|n| stays out). */
RLY_NODISCARD int rly_pending_add(rly_pending *p, rly_pending_node *n, const struct sockaddr *sa,
                                  rly_tstamp now);

/* rly_pending_touch records that |n| reached |stage| at |now|. Only a later stage than its own
 * is progress (the same or an earlier one changes nothing). Nothing for a node not in the
 * table. */
void rly_pending_touch(rly_pending *p, rly_pending_node *n, unsigned stage, rly_tstamp now);

/* rly_pending_remove takes |n| out (the handshake is done or gone). Nothing if it is not in. */
void rly_pending_remove(rly_pending *p, rly_pending_node *n);

/* rly_pending_make_room closes, through |evict|, the stalest handshakes in the way of one from
 * |sa| (rly_pending_victim) until it fits; each is counted in |evicted|, and at most once per
 * RLY_PENDING_WARN_INTERVAL a warning on |log| (may be NULL) says how many |transport| ("tcp",
 * "quic") closed since the last one (each also has its own debug record, the transport's).
 * Returns whether there is room now (false: a limit of 0, nothing to close). */
bool rly_pending_make_room(rly_pending *p, const struct sockaddr *sa, rly_tstamp now,
                           const rly_log *log, const char *transport, rly_pending_evict_cb evict,
                           void *ud);

/* rly_pending_contains: whether |n| is in the table. */
static inline bool rly_pending_contains(const rly_pending_node *n)
{
    return n->group != NULL;
}

#endif
