/* reservation.h: the relay's reservation table and circuit counters (PROTOCOLS.md 8.3, 8.4 step
 * 6, 8.6; SPEC.md limits). Pure bookkeeping: no libuv, no clock (|now| is passed in, monotonic
 * nanoseconds), allocation only through the table's rly_mem.
 *
 * Reservations are keyed by peer ID: a peer holds at most one reservation, and it belongs to one
 * of the peer's connections, the one that reserved last. The spec keeps a reservation "as long as
 * there is an active connection from the peer"; go-libp2p keys its reservations by peer (a
 * refresh over any connection replaces the peer's one reservation; it is deleted when the peer
 * has no connection left). Keyed by (peer, connection) instead, a go client with a TCP and a QUIC
 * connection, or one after a network change, was unreachable for most of the TTL (CONNECT went to
 * the connection of an older reservation, or none was left) and its refresh over another
 * connection took a second slot. The connection matters for CONNECT: the STOP stream goes over
 * the connection that holds the reservation, and rust-libp2p's client refuses a STOP stream on a
 * connection that does not carry its reservation.
 *
 * A RESERVE from peer P over connection C:
 *  - P already has a reservation (over any connection, expired but not swept yet included): a
 *    refresh. It gets a new expiry and now belongs to C. It is not a new slot, so no cap refuses
 *    it (8.3 "Refresh must not be rejected by per-peer limits").
 *  - otherwise a new reservation, refused with RLY_ERR_RESERVATION_REFUSED at max_reservations
 *    (or when max_reservations_per_peer is 0; any other value allows the one reservation a peer
 *    can hold). The caller answers with the spec's RESERVATION_REFUSED status (go and js do; rust
 *    sends RESOURCE_LIMIT_EXCEEDED for every refusal, which the spec reserves for CONNECT).
 *
 * A reservation ends when it expires (rly_reservations_expire, driven by one timer armed at
 * rly_reservations_get_expiry). When the connection that holds it closes, the caller moves it to
 * the peer's newest remaining connection, keeping its expiry, or drops it when the peer has none
 * left (rly_reservations_on_connection_closed).
 *
 * Circuits are counted the way go counts them: per peer, the number of active circuits the peer
 * takes part in (as source or as destination), checked against max_circuits_per_peer for the
 * source and for the destination separately, plus a global count checked against max_circuits.
 *
 * Complexity and memory: a keyed hash (SipHash-2-4) of peer entries, each holding the peer's
 * reservation (if any) and circuit counts, and a binary min-heap of the reservations on expiry,
 * so every operation is O(1) expected or O(log n). The table holds at most max_reservations
 * reservations and max_reservations + 2 * max_circuits peers (entries are freed as soon as a peer
 * has neither a reservation nor a circuit); its bucket array grows with the entries and never
 * beyond what those caps need.
 *
 * Limits can be replaced at any time (SIGHUP reload): entries that exist stay, even above new,
 * lower caps; later decisions use the new limits and TTL. */
#ifndef RLY_RELAY_RESERVATION_H
#define RLY_RELAY_RESERVATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "core/time.h"

/* SPEC.md defaults, and the reservation TTL other relays ship (1 h, PROTOCOLS.md 8.6). */
#define RLY_RELAY_DEFAULT_MAX_RESERVATIONS 100
#define RLY_RELAY_DEFAULT_MAX_RESERVATIONS_PER_PEER 5
#define RLY_RELAY_DEFAULT_RESERVATION_TTL (3600 * RLY_NS_PER_S)
#define RLY_RELAY_DEFAULT_MAX_CIRCUITS 1024
#define RLY_RELAY_DEFAULT_MAX_CIRCUITS_PER_PEER 16

/* Length of the key for rly_reservations_set_hash_key. */
#define RLY_RESERVATIONS_HASH_KEY_LEN 16

/* The limits the table enforces. A cap of 0 refuses everything it governs. */
typedef struct rly_relay_limits {
    uint64_t max_reservations;          /* reservations in the table, all peers */
    uint64_t max_reservations_per_peer; /* 0 refuses new reservations; any other value: a peer
                                           holds at most one (kept for SPEC.md's config key) */
    rly_tstamp ttl;                     /* a reservation lasts |ttl| ns from its last RESERVE */
    uint64_t max_circuits;              /* active circuits, all peers */
    uint64_t max_circuits_per_peer;     /* active circuits a peer takes part in (src or dst) */
} rly_relay_limits;

/* One reservation, as reported to callers. */
typedef struct rly_reservation_info {
    rly_peerid peer;
    uint64_t conn_id;  /* the connection that holds it (the last RESERVE's, or where it moved) */
    rly_tstamp expire; /* monotonic; the caller converts to UNIX seconds for the wire */
} rly_reservation_info;

/* Counters of one peer (all zero for a peer the table does not know). */
typedef struct rly_reservations_peer_stats {
    uint64_t reservations; /* 0 or 1 */
    uint64_t circuits;     /* circuits_src + circuits_dst: what max_circuits_per_peer caps */
    uint64_t circuits_src; /* active circuits the peer initiated */
    uint64_t circuits_dst; /* active circuits to the peer */
} rly_reservations_peer_stats;

/* Called once per reservation removed by rly_reservations_expire or
 * rly_reservations_on_connection_closed, after it has left the table. |r| is borrowed for the
 * call. The callback may call any function of the table. */
typedef void (*rly_reservations_cb)(void *user_data, const rly_reservation_info *r);

typedef struct rly_reservations rly_reservations;

/* rly_relay_limits_default fills |l| with the RLY_RELAY_DEFAULT_* values. */
void rly_relay_limits_default(rly_relay_limits *l);

/* rly_reservations_new creates an empty table enforcing |limits| (copied). |mem| (NULL: the
 * default allocator) and |log| (NULL: no logging; refusals are logged at debug level) are
 * borrowed and must outlive the table. The hash key starts as all zeros: the shell sets a random
 * one with rly_reservations_set_hash_key.
 * Returns 0 or RLY_ERR_INVALID_ARG (|pt| or |limits| NULL) / RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_reservations_new(rly_reservations **pt, const rly_relay_limits *limits,
                                       rly_mem *mem, const rly_log *log);

/* rly_reservations_del frees |t| and every entry in it, without callbacks. NULL is fine. */
void rly_reservations_del(rly_reservations *t);

/* rly_reservations_set_limits replaces the limits with |limits| (copied). Existing reservations
 * and circuits stay, even above lower caps, and keep their expiry; the next decisions and
 * refreshes use the new values. */
void rly_reservations_set_limits(rly_reservations *t, const rly_relay_limits *limits);

/* rly_reservations_get_limits returns the limits in force (borrowed from |t|). */
const rly_relay_limits *rly_reservations_get_limits(const rly_reservations *t);

/* rly_reservations_set_hash_key sets the SipHash key used for peer IDs to |key|
 * (RLY_RESERVATIONS_HASH_KEY_LEN bytes, copied) and rehashes the entries in place. Peer IDs are
 * chosen by the network: with a random key (rly_crypto_random) nobody can aim them at one
 * bucket. */
void rly_reservations_set_hash_key(rly_reservations *t, const uint8_t *key);

/* rly_reservations_reserve handles a RESERVE from |peer| (borrowed) over connection |conn_id| at
 * |now|. On success the reservation expires at |now| + ttl (saturating), stored in |*pexpire|,
 * and belongs to |conn_id|. |*prenewed| says whether it refreshed the peer's reservation (no new
 * slot; never refused by the caps) or created one. |pprev_conn_id| (may be NULL) gets the
 * connection that held the reservation before the call when renewed (|conn_id| if it did not
 * move), 0 otherwise. An entry whose expiry has passed but that rly_reservations_expire has not
 * removed yet is refreshed too (go behaves the same between its sweeps); the shell's timer
 * removes entries at their exact deadline.
 * Returns 0, RLY_ERR_RESERVATION_REFUSED (new reservation with max_reservations reached or
 * max_reservations_per_peer 0; nothing changed) or RLY_ERR_NOMEM (nothing changed). */
RLY_NODISCARD int rly_reservations_reserve(rly_reservations *t, const rly_peerid *peer,
                                           uint64_t conn_id, rly_tstamp now, rly_tstamp *pexpire,
                                           bool *prenewed, uint64_t *pprev_conn_id);

/* rly_reservations_find copies the reservation of |peer| (borrowed) into |*pinfo|, expired or
 * not. Returns 0 or RLY_ERR_NO_RESERVATION. */
RLY_NODISCARD int rly_reservations_find(const rly_reservations *t, const rly_peerid *peer,
                                        rly_reservation_info *pinfo);

/* rly_reservations_lookup finds the reservation CONNECT should use to reach |peer| (borrowed) at
 * |now|: the peer's reservation if it has not expired (expire > now). Copies it into |*pinfo|.
 * Returns 0 or RLY_ERR_NO_RESERVATION. */
RLY_NODISCARD int rly_reservations_lookup(const rly_reservations *t, const rly_peerid *peer,
                                          rly_tstamp now, rly_reservation_info *pinfo);

/* rly_reservations_expire removes every reservation with expire <= |now| (earliest first) and
 * calls |cb| (may be NULL) for each, for the ReservationTimedOut event. Entries that the callback
 * adds are looked at on the next call. Returns the number removed. */
size_t rly_reservations_expire(rly_reservations *t, rly_tstamp now, rly_reservations_cb cb,
                               void *user_data);

/* rly_reservations_get_expiry returns the earliest expiry in the table, RLY_TSTAMP_MAX if it is
 * empty: the shell arms one timer for it. */
rly_tstamp rly_reservations_get_expiry(const rly_reservations *t);

/* What rly_reservations_on_connection_closed did. */
typedef enum rly_reservation_close {
    RLY_RESERVATION_UNTOUCHED = 0, /* the peer has no reservation on that connection */
    RLY_RESERVATION_MOVED,         /* it now belongs to the next connection, same expiry */
    RLY_RESERVATION_DROPPED,       /* removed; |cb| was called */
} rly_reservation_close;

/* rly_reservations_on_connection_closed: connection |conn_id| of |peer| (borrowed) closed, or no
 * longer carries what it was authorised for. If the peer's reservation belongs to |conn_id|, it
 * moves to |*next_conn_id| keeping its expiry, or, with |next_conn_id| NULL (no connection left,
 * or the caller refuses the move), is removed and |cb| (may be NULL) called. A reservation on
 * another connection of the peer is not touched. */
rly_reservation_close
rly_reservations_on_connection_closed(rly_reservations *t, const rly_peerid *peer, uint64_t conn_id,
                                      const uint64_t *next_conn_id, rly_reservations_cb cb,
                                      void *user_data);

/* rly_reservations_remove drops the reservation of |peer| if it belongs to |conn_id|, without a
 * callback, e.g. when the reply to the RESERVE could not be written (js does this).
 * Returns 0 or RLY_ERR_NOT_FOUND. */
RLY_NODISCARD int rly_reservations_remove(rly_reservations *t, const rly_peerid *peer,
                                          uint64_t conn_id);

/* rly_reservations_circuit_begin counts a new circuit from |src| to |dst| (both borrowed; they
 * may be equal, then the peer takes part twice, as go counts it).
 * Returns 0, RLY_ERR_LIMIT (max_circuits reached, or |src| or |dst| already takes part in
 * max_circuits_per_peer circuits; nothing changed) or RLY_ERR_NOMEM (nothing changed). */
RLY_NODISCARD int rly_reservations_circuit_begin(rly_reservations *t, const rly_peerid *src,
                                                 const rly_peerid *dst);

/* rly_reservations_circuit_end releases a circuit counted by rly_reservations_circuit_begin with
 * the same |src| and |dst|. Returns 0 or RLY_ERR_INVALID_STATE (no such circuit is counted: a
 * bug in the caller; nothing changed). */
RLY_NODISCARD int rly_reservations_circuit_end(rly_reservations *t, const rly_peerid *src,
                                               const rly_peerid *dst);

/* rly_reservations_count returns the number of reservations in the table (expired entries not
 * removed yet included). */
size_t rly_reservations_count(const rly_reservations *t);

/* rly_reservations_circuit_count returns the number of active circuits. */
size_t rly_reservations_circuit_count(const rly_reservations *t);

/* rly_reservations_peer_count returns the number of peers with a reservation or a circuit. */
size_t rly_reservations_peer_count(const rly_reservations *t);

/* rly_reservations_get_peer_stats fills |*pstats| with the counters of |peer| (borrowed). */
void rly_reservations_get_peer_stats(const rly_reservations *t, const rly_peerid *peer,
                                     rly_reservations_peer_stats *pstats);

#endif
