/* limiter.h: per-address limits and rate limits of the relay ([limits] in the configuration):
 *   - established connections per address (IPv4 address, IPv6 /56);
 *   - reservations per address (go's default: 8), counted on the connection that holds each
 *     (a reservation that moves to another connection of its peer moves its count too);
 *   - token-bucket rates for RESERVE and CONNECT, per peer and per address: N per minute, a
 *     burst of N;
 *   - addresses in the exemption list (loopback by default) are never limited or counted.
 * Counts are exact (one entry per counted connection and per address); the buckets live in a
 * fixed table (RLY_LIMITER_SLOTS): a key that lands on a slot another key holds takes it over
 * with a full bucket, so memory stays fixed whatever the peers do. */
#ifndef RLY_RELAY_LIMITER_H
#define RLY_RELAY_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "relay/acl.h"

#define RLY_LIMITER_SLOTS 8192

typedef struct rly_limits_settings {
    uint64_t max_connections_per_ip;    /* 0: no cap */
    uint64_t max_reservations_per_ip;   /* 0: no cap */
    uint64_t reservation_rate_per_peer; /* per minute; 0: no rate limit */
    uint64_t reservation_rate_per_ip;
    uint64_t circuit_rate_per_peer;
    uint64_t circuit_rate_per_ip;
    rly_cidr_list exempt; /* never limited */
} rly_limits_settings;

/* Refusals so far, by cause (for logs and metrics). */
typedef struct rly_limiter_stats {
    uint64_t connections_per_ip;
    uint64_t reservations_per_ip;
    uint64_t reservation_rate_peer, reservation_rate_ip;
    uint64_t circuit_rate_peer, circuit_rate_ip;
} rly_limiter_stats;

typedef struct rly_limiter rly_limiter;

/* rly_limiter_new copies |s|. Returns 0, RLY_ERR_NOMEM or RLY_ERR_CRYPTO (no random hash key). */
RLY_NODISCARD int rly_limiter_new(rly_limiter **pl, const rly_limits_settings *s, rly_mem *mem);
void rly_limiter_del(rly_limiter *l);

/* rly_limiter_update takes new settings (copied); what is counted stays counted. */
void rly_limiter_update(rly_limiter *l, const rly_limits_settings *s);

/* rly_limiter_conn_open counts connection |conn_id| from |sa| (NULL: no address, not counted).
 * Returns 0, RLY_ERR_LIMIT (the address is at max_connections_per_ip: not counted, close it) or
 * RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_limiter_conn_open(rly_limiter *l, uint64_t conn_id,
                                        const struct sockaddr *sa);

/* rly_limiter_conn_close forgets |conn_id| and its reservation, if counted. */
void rly_limiter_conn_close(rly_limiter *l, uint64_t conn_id);

/* rly_limiter_reserve decides on a RESERVE from |peer| over |conn_id| from |sa| at |now_ms|
 * (it takes a token of each rate). |prev_conn_id| is the connection that holds the peer's
 * reservation now (0: it has none; a peer holds at most one, relay/reservation.h). Returns 0,
 * RLY_ERR_LIMIT (a rate: RESOURCE_LIMIT_EXCEEDED) or RLY_ERR_RESERVATION_REFUSED (the address of
 * |conn_id| is at max_reservations_per_ip). The per-address cap does not apply to a refresh over
 * the connection that holds the reservation, nor to one that moves it from |prev_conn_id| when
 * both connections count on the same address; any other RESERVE is checked as a new reservation
 * of |conn_id|'s address. |*pwhy| gets a static reason on refusal. */
RLY_NODISCARD int rly_limiter_reserve(rly_limiter *l, const rly_peerid *peer, uint64_t conn_id,
                                      uint64_t prev_conn_id, const struct sockaddr *sa,
                                      uint64_t now_ms, const char **pwhy);

/* rly_limiter_reservation_added counts the reservation the relay made or refreshed over
 * |conn_id| (once per connection; nothing for uncounted connections) and, when it was held by
 * another connection |prev_conn_id| (0: none), ends that one's count. */
void rly_limiter_reservation_added(rly_limiter *l, uint64_t conn_id, uint64_t prev_conn_id);

/* rly_limiter_reservation_ended: the reservation held by |conn_id| is gone (expired, removed). */
void rly_limiter_reservation_ended(rly_limiter *l, uint64_t conn_id);

/* rly_limiter_reservation_move: the connection |from| that holds a reservation closes and the
 * reservation would move to the peer's connection |to|. Returns 0 (the count moved with it) or
 * RLY_ERR_RESERVATION_REFUSED (|to| counts on another address than |from| and that address is at
 * max_reservations_per_ip: nothing changed, the caller drops the reservation; else two addresses
 * could walk any number of reservations onto one). */
RLY_NODISCARD int rly_limiter_reservation_move(rly_limiter *l, uint64_t from, uint64_t to);

/* rly_limiter_connect decides on a CONNECT from |peer| at |sa|. Returns 0 or RLY_ERR_LIMIT. */
RLY_NODISCARD int rly_limiter_connect(rly_limiter *l, const rly_peerid *peer,
                                      const struct sockaddr *sa, uint64_t now_ms,
                                      const char **pwhy);

void rly_limiter_stats_get(const rly_limiter *l, rly_limiter_stats *out);

#endif
