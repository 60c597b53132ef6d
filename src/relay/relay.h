/* relay.h: the Circuit Relay v2 service (PROTOCOLS.md 8) on the swarm: the hop protocol
 * (RESERVE, CONNECT), STOP streams to destinations, circuits bridged with limits, reservation
 * expiry, and SPEC.md's relay events:
 *   ReservationReqAccepted peer_id renewed        ReservationReqDenied peer_id status reason
 *   ReservationTimedOut peer_id                   CircuitReqAccepted src_peer_id dst_peer_id
 *   CircuitReqDenied src_peer_id dst_peer_id status reason
 *   CircuitClosed src_peer_id dst_peer_id error bytes_src_to_dst bytes_dst_to_src duration_ms
 *
 * A peer holds at most one reservation (relay/reservation.h): it belongs to the connection that
 * reserved last, moves to the peer's newest remaining connection when that one closes, and ends
 * with the peer's last connection. The relay never dials a destination, it only opens a STOP
 * stream on the connection that holds the destination's reservation. */
#ifndef RLY_RELAY_RELAY_H
#define RLY_RELAY_RELAY_H

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timerq.h"
#include "relay/acl.h"
#include "relay/authsvc.h"
#include "relay/limiter.h"
#include "relay/reservation.h"
#include "swarm/swarm.h"

typedef struct rly_relay rly_relay;

/* Reservation addresses kept (each announced address with /p2p/<relay>). */
#define RLY_RELAY_MAX_ADDRS RLY_SWARM_MAX_ADDRS

/* What the relay service needs from the node it runs on. rly_relay_new builds it from a swarm;
 * tests and the stateful fuzzer (fuzz/fuzz_relay_service.c) give in-memory peers and a virtual
 * clock instead, and drive the service through rly_relay_accept_hop and rly_relay_conn_*. */
typedef struct rly_relay_host {
    rly_timerq *timers; /* the clock and every deadline of the service; must outlive the relay */
    /* Opens a stream on |c| and negotiates |protocol|, as rly_swarm_open_stream_early: the
     * |early_len| bytes at |early| (copied) follow the protocol proposal at once. |cb| runs
     * exactly once, later, unless an error is returned. */
    int (*open_stream)(void *ud, rly_conn *c, const char *protocol, const uint8_t *early,
                       size_t early_len, rly_swarm_open_cb cb, void *cb_ud);
    /* The established connection |conn_id| of |peer| (0: its newest, the highest id), or NULL. */
    rly_conn *(*find_conn)(void *ud, const rly_peerid *peer, uint64_t conn_id);
    /* The newest established connection of |peer| with an id below |below_id|, or NULL, as
     * rly_swarm_find_older_conn. NULL: only find_conn's newest is ever considered. */
    rly_conn *(*find_older_conn)(void *ud, const rly_peerid *peer, uint64_t below_id);
    /* Calls |fn| for every established connection (|fn| may close it), as
     * rly_swarm_foreach_conn. Returns 0 or RLY_ERR_NOMEM. NULL: the host has none to visit. */
    int (*foreach_conn)(void *ud, void (*fn)(void *fn_ud, rly_conn *c), void *fn_ud);
    void *ud;
    const rly_keypair *kp;      /* the relay's identity (signs vouchers); borrowed, outlives it */
    const rly_multiaddr *addrs; /* announced addresses without /p2p (copied at creation) */
    size_t naddrs;
} rly_relay_host;

typedef struct rly_relay_settings {
    rly_relay_limits limits;              /* reservations, circuits, reservation TTL */
    rly_tstamp max_circuit_duration;      /* 0: no time limit */
    uint64_t max_circuit_bytes;           /* per direction; 0: no data limit */
    rly_tstamp hop_timeout;               /* to read a hop request: 30 s */
    rly_tstamp stop_timeout;              /* to open the STOP stream and get the answer: 30 s */
    const rly_acl *acl;                   /* borrowed; NULL: no access control ([acl]) */
    const rly_limits_settings *ip_limits; /* copied at rly_relay_new; NULL: no per-address
                                             limits or rates ([limits]) */
    rly_authsvc *auth; /* borrowed; NULL or not required: RESERVE and CONNECT need no
                          authentication, else PERMISSION_DENIED until the connection has
                          authenticated */
} rly_relay_settings;

/* rly_relay_settings_default fills |s| with SPEC.md's defaults. */
void rly_relay_settings_default(rly_relay_settings *s);

/* rly_relay_new registers the hop protocol on |sw| (borrowed; it must outlive the relay until
 * rly_relay_del) and takes over its connection observer. Reservation replies carry the swarm's
 * advertised addresses at the time of the call, each with /p2p/<relay>.
 * Returns 0, RLY_ERR_NOMEM, RLY_ERR_LIMIT (protocol table full) or RLY_ERR_INVALID_ARG (no
 * address to announce). */
RLY_NODISCARD int rly_relay_new(rly_relay **pr, rly_swarm *sw, const rly_relay_settings *settings,
                                const rly_log *log, rly_mem *mem);

/* rly_relay_new_on_host creates the service on |host| (copied) without registering anything:
 * the caller hands it hop streams and connection events. Returns as rly_relay_new (never
 * RLY_ERR_LIMIT). */
RLY_NODISCARD int rly_relay_new_on_host(rly_relay **pr, const rly_relay_host *host,
                                        const rly_relay_settings *settings, const rly_log *log,
                                        rly_mem *mem);

/* rly_relay_accept_hop takes |s|, a stream negotiated to the hop protocol, with |data| (|len|
 * bytes delivered after the negotiation, not consumed): what the swarm's protocol router calls. */
void rly_relay_accept_hop(rly_relay *r, rly_stream *s, const uint8_t *data, size_t len);

/* rly_relay_conn_established / _closed: the connection observer (rly_swarm_observer). A closed
 * connection's streams have all had their on_close before, and the host's find_conn no longer
 * returns it; for conn_id 0 find_conn returns the peer's newest connection (highest id), where a
 * reservation the closed connection held moves. */
void rly_relay_conn_established(rly_relay *r, rly_conn *c, size_t num_established);
void rly_relay_conn_closed(rly_relay *r, rly_conn *c, size_t remaining);

/* rly_relay_update applies new settings to what comes next: reservation limits and TTL (held
 * reservations stay until they end), circuit limits of new circuits, the ACL and auth pointers,
 * the [limits] (counts kept). Open circuits and connections are not touched, except that the
 * connections the [acl] deny lists now cover are closed (ConnectionDenied), with their
 * reservations and circuits. */
void rly_relay_update(rly_relay *r, const rly_relay_settings *settings);

/* rly_relay_revoke ends what |peer| was authorised for once it has no authorisation left
 * (relay/authsvc.h, docs/AUTH.md): its reservation (ReservationRevoked peer_id conn_id reason),
 * every circuit from it or to it (CircuitClosed error=<reason>) and every CONNECT being set up
 * from it or to it (CircuitReqDenied, PERMISSION_DENIED to the source). Its connections stay
 * open. */
void rly_relay_revoke(rly_relay *r, const rly_peerid *peer, const char *reason);

/* rly_relay_reclass ends the circuits from or to |peer| that run under wider limits than those
 * that apply to them now ([acl] trusted_peers, the ends' token classes: relay/authsvc.h), after
 * |peer| lost a token's limits class while staying authenticated (CircuitClosed
 * error=<reason>). Circuits within today's limits run on. */
void rly_relay_reclass(rly_relay *r, const rly_peerid *peer, const char *reason);

/* rly_relay_drain starts a graceful stop: new connections are closed once established
 * (ConnectionDenied reason="draining"), RESERVE gets RESERVATION_REFUSED and CONNECT
 * CONNECTION_FAILED, and the circuits already open run on (rly_relay_num_circuits says how many).
 */
void rly_relay_drain(rly_relay *r);

/* rly_relay_shutdown refuses new requests, resets every circuit and stops the relay's timers
 * (call before closing the swarm, whose timer queue the relay uses). */
void rly_relay_shutdown(rly_relay *r);

/* rly_relay_del frees the relay. Call after rly_relay_shutdown and after the swarm has closed
 * (its streams reference |r|). */
void rly_relay_del(rly_relay *r);

/* Upper bounds (seconds) of the circuit duration histogram buckets (the last is +Inf). */
#define RLY_RELAY_DURATION_BUCKETS 10
extern const double rly_relay_duration_bounds[RLY_RELAY_DURATION_BUCKETS];

/* Statuses counted apart in the refusal counters (rly_relay_stats), by index. */
typedef enum rly_relay_refusal {
    RLY_REFUSAL_RESERVATION_REFUSED = 0,
    RLY_REFUSAL_RESOURCE_LIMIT_EXCEEDED,
    RLY_REFUSAL_PERMISSION_DENIED,
    RLY_REFUSAL_CONNECTION_FAILED,
    RLY_REFUSAL_NO_RESERVATION,
    RLY_REFUSAL_MALFORMED_MESSAGE, /* and UNEXPECTED_MESSAGE */
    RLY_REFUSAL_COUNT
} rly_relay_refusal;

/* What the service did since it started (the metrics, OPERATORS.md section 3). */
typedef struct rly_relay_stats {
    uint64_t reservations_opened, reservations_renewed, reservations_closed;
    uint64_t reservation_refusals[RLY_REFUSAL_COUNT];
    uint64_t circuits_opened, circuits_closed;
    uint64_t circuit_refusals[RLY_REFUSAL_COUNT];
    uint64_t circuits_limit_closed; /* circuits ended by the duration or data limit */
    uint64_t bytes_relayed;         /* both directions */
    uint64_t duration_buckets[RLY_RELAY_DURATION_BUCKETS + 1]; /* cumulative-free counts */
    double duration_sum;                                       /* seconds */
    uint64_t connections_opened[2], connections_closed[2];     /* [0] TCP, [1] QUIC */
    uint64_t connections_denied; /* [acl] deny lists and max_connections_per_ip */
} rly_relay_stats;

/* rly_relay_stats_get fills |out|; |limiter| (may be NULL) gets the [limits] refusals. */
void rly_relay_stats_get(const rly_relay *r, rly_relay_stats *out, rly_limiter_stats *limiter);

/* The status's index in the refusal counters. */
rly_relay_refusal rly_relay_refusal_of(uint32_t status);

/* Counters for tests and metrics. */
size_t rly_relay_num_reservations(const rly_relay *r);
size_t rly_relay_num_circuits(const rly_relay *r);
/* Hop streams whose request state is alive (reading, waiting for a destination, bridged). */
size_t rly_relay_num_requests(const rly_relay *r);

/* rly_relay_check_invariants checks the service's internal consistency between events (for
 * tests and the stateful fuzzer): every request state is held by something (a stream, a pending
 * open, a bridge) and is in a phase that matches what holds it, its deadline armed exactly when
 * it waits for something, the circuit slots of the reservation table match the requests that
 * hold one, the bridges match the circuit count, and the expiry timer is armed exactly when a
 * reservation exists. Returns 0, or the number of the first check that failed. */
int rly_relay_check_invariants(const rly_relay *r);

#endif
