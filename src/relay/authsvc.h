/* authsvc.h: the relay's token authentication service on the swarm (docs/AUTH.md): answers
 * /meshnet/relay-auth/1.0.0 (proto/auth/auth.h) and keeps, on the connection that ran it, what
 * token was accepted (rly_conn.app_auth): the shared token, a token minted from it (v1.), or a
 * token signed by a control-plane key (v2., proto/auth/token.h). The relay service refuses
 * RESERVE and CONNECT from peers that are not authenticated while auth is required.
 *
 * Authentication belongs to the peer: a peer is authenticated on all its connections while one
 * of them holds a valid accepted token (its newest one decides the peer's class). A signed
 * token's class "trusted" lifts the circuit limits as [acl] trusted_peers does; a class of
 * [auth] classes gets its profile's limits; an unknown one the relay's.
 *
 * Failed attempts of any kind (a refused token, a malformed or missing request, an exchange not
 * finished in time, one stream too many) are rate limited per source address (IPv4, IPv6 by
 * /56): a burst of RLY_AUTHSVC_FAIL_BURST, then one more every RLY_AUTHSVC_FAIL_REFILL_S seconds;
 * over it a failed attempt is answered RESOURCE_LIMIT_EXCEEDED. A valid token always passes, so a
 * bad neighbour behind the same address locks nobody out. Each failure within the budget is one
 * WARN record on relay_server::events, for fail2ban and the like:
 *   AuthFailed peer_id=<id> ip=<address> transport=<tcp|quic-v1> reason="<why>"
 * and those over it one record per source and RLY_AUTHSVC_LOG_INTERVAL_S with their count
 * (reason="rate limited (too many failed attempts)" repeated=<n>). A success is one INFO record:
 * Authenticated peer_id=<id> ip=<address> token=<shared|minted|signed> (signed: token_id, class,
 * expiry). The token itself is never logged. An exchange not finished within
 * RLY_AUTHSVC_TIMEOUT_S seconds is reset; a connection runs at most RLY_AUTHSVC_MAX_STREAMS
 * exchanges at once (more streams are reset).
 *
 * Revocation: an authentication lasts while its token does. It is withdrawn when the token
 * expires (it lapses at once; a timer then withdraws it), when its id is listed by
 * rly_authsvc_set_revoked, when a reload changes the secret it was checked with (auth_token, or
 * its control-plane key leaves control_plane_keys) or starts requiring tokens. Each withdrawn
 * one is an INFO record AuthRevoked peer_id=<id> ip=<address> reason="<why>"; once its peer has
 * no valid authentication left on any connection, the owner's revoke callback ends what the peer
 * holds (its reservation and circuits). So does the close of a peer's last connection with a
 * valid authentication while it has others. The connections stay open and may authenticate
 * again. */
#ifndef RLY_RELAY_AUTHSVC_H
#define RLY_RELAY_AUTHSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timerq.h"
#include "proto/auth/auth.h"
#include "proto/auth/classes.h"
#include "proto/auth/revoked.h"
#include "swarm/swarm.h"

#define RLY_AUTHSVC_FAIL_BURST 5
#define RLY_AUTHSVC_FAIL_REFILL_S 12
#define RLY_AUTHSVC_TIMEOUT_S 10
/* Authentication exchanges one connection may run at once. */
#define RLY_AUTHSVC_MAX_STREAMS 2
/* Refusals over the budget from one source are logged once per this many seconds. */
#define RLY_AUTHSVC_LOG_INTERVAL_S 5
/* Source addresses whose failures are counted (more share slots: the oldest is forgotten). */
#define RLY_AUTHSVC_FAIL_SLOTS 4096

typedef struct rly_authsvc rly_authsvc;

/* What the service accepts. */
typedef struct rly_authsvc_settings {
    bool required;          /* false: every request is answered OK, nothing is checked (clients
                               that always send a token work against any relay) */
    const uint8_t *secret;  /* auth_token: the shared and minted forms; copied. NULL/0: off */
    size_t secret_len;      /* at most RLY_AUTH_TOKEN_MAX */
    const rly_peerid *keys; /* control_plane_keys: the signed form; copied. NULL/0: off */
    size_t nkeys;           /* at most RLY_AUTHSVC_MAX_KEYS */
    /* The limits class profiles ([auth] classes), borrowed: the owner may change them in place
     * (a reload); they are looked up when asked (rly_authsvc_peer_limits). NULL: none. */
    const rly_auth_class_list *classes;
} rly_authsvc_settings;

#define RLY_AUTHSVC_MAX_KEYS 16

/* rly_authsvc_new registers the protocol on |sw| (borrowed; it must outlive the service until
 * rly_authsvc_del) and runs the service on it. Returns 0, RLY_ERR_NOMEM, RLY_ERR_CRYPTO,
 * RLY_ERR_LIMIT (protocol table full) or RLY_ERR_INVALID_ARG (required with neither a secret nor
 * a key, or over a bound). */
RLY_NODISCARD int rly_authsvc_new(rly_authsvc **pa, rly_swarm *sw, const rly_authsvc_settings *st,
                                  const rly_log *log, rly_mem *mem);

/* What the service needs from its surroundings: rly_authsvc_new fills it from a swarm; the
 * stateful fuzzer (fuzz/fuzz_authsvc.c) supplies its own, with a virtual clock. */
typedef struct rly_authsvc_host {
    rly_timerq *timers;             /* deadlines: exchange timeouts, log intervals, expiry */
    uint64_t (*unix_now)(void *ud); /* wall-clock seconds, for token expiry */
    /* The established connections of |peer| (as rly_swarm_peer_conns). */
    rly_conn *const *(*peer_conns)(void *ud, const rly_peerid *peer, size_t *pn);
    /* Calls |fn| for every established connection (as rly_swarm_foreach_conn). */
    int (*foreach_conn)(void *ud, void (*fn)(void *fn_ud, rly_conn *c), void *fn_ud);
    rly_conn *(*newest_conn)(void *ud, const rly_peerid *peer); /* NULL: none */
    rly_peerid self; /* this relay (the scope of signed tokens) */
    void *ud;
} rly_authsvc_host;

/* rly_authsvc_new_on_host: the service on |host| (copied; its timer queue borrowed), without
 * registering anything: the host hands it the protocol's streams (rly_authsvc_accept). */
RLY_NODISCARD int rly_authsvc_new_on_host(rly_authsvc **pa, const rly_authsvc_host *host,
                                          const rly_authsvc_settings *st, const rly_log *log,
                                          rly_mem *mem);

/* rly_authsvc_accept takes an inbound stream of RLY_AUTH_PROTOCOL (with its first |len| bytes
 * of |data|, maybe none). */
void rly_authsvc_accept(rly_authsvc *a, rly_stream *s, const uint8_t *data, size_t len);

/* Outcomes so far. */
typedef struct rly_authsvc_stats {
    uint64_t ok, failed, rate_limited; /* failed: every failed attempt (rate_limited included) */
    uint64_t ok_shared, ok_minted, ok_signed; /* ok, by form */
    uint64_t revoked;        /* authentications withdrawn (expiry, revocation, reload) */
    uint64_t revoked_listed; /* of them, by the revoked token list */
    uint64_t revoked_ids;    /* ids in the revoked token list now */
} rly_authsvc_stats;

/* Called once a peer has no valid authentication left (its connections' marks are gone), with
 * the reason ("token expired", "token revoked", "auth_token changed", "control-plane key
 * removed", "authentication now required", "its last authenticated connection closed"). It
 * ends what the peer holds. */
typedef void (*rly_authsvc_revoke_fn)(void *ud, const rly_peerid *peer, const char *reason);

/* rly_authsvc_set_revoke_cb installs |fn| (NULL: none) with |ud|. */
void rly_authsvc_set_revoke_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud);

/* rly_authsvc_set_reclass_cb installs |fn| (NULL: none) with |ud|, called when a token that
 * named a class stops counting (withdrawn, replaced by a token of another class on its
 * connection, or its connection closed) while its peer stays authenticated: the owner ends what
 * the class gave beyond the limits that apply now (circuits with wider limits). It may be called
 * when nothing changed for the peer (another token of the class): the owner checks. */
void rly_authsvc_set_reclass_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud);

void rly_authsvc_stats_get(const rly_authsvc *a, rly_authsvc_stats *out);

/* rly_authsvc_settings_ok tells whether rly_authsvc_update would take |st| (a reload checks
 * before it changes anything else). */
bool rly_authsvc_settings_ok(const rly_authsvc_settings *st);

/* rly_authsvc_update changes the settings (as rly_authsvc_new). Authentications the new ones no
 * longer hold are withdrawn (see above): a changed secret withdraws those made with the shared
 * or minted forms, a key that left those its tokens made, and starting to require tokens every
 * connection's. Returns 0 or RLY_ERR_INVALID_ARG (then nothing changed). */
RLY_NODISCARD int rly_authsvc_update(rly_authsvc *a, const rly_authsvc_settings *st);

/* rly_authsvc_set_revoked replaces the revoked token list with |*list| (taken over: |*list| is
 * left empty) and withdraws every authentication made with a token it lists. Returns how many
 * were withdrawn. */
size_t rly_authsvc_set_revoked(rly_authsvc *a, rly_revoked *list);

/* rly_authsvc_is_required: whether tokens are checked. */
bool rly_authsvc_is_required(const rly_authsvc *a);

/* rly_authsvc_is_authenticated: whether |c| may RESERVE and CONNECT (always, when not required;
 * else while a connection of its peer holds a token that has not expired). */
bool rly_authsvc_is_authenticated(const rly_authsvc *a, const rly_conn *c);

/* rly_authsvc_peer_limits: when |peer|'s newest valid authentication is a signed token whose
 * class this relay knows, writes that class's circuit limits to |out| and returns true: class
 * RLY_AUTH_CLASS_TRUSTED no limit at all, a profile of [auth] classes the limits it sets. False
 * (|out| untouched) when tokens are not required, or no class or an unknown one applies. */
bool rly_authsvc_peer_limits(const rly_authsvc *a, const rly_peerid *peer, rly_auth_class *out);

/* rly_authsvc_conn_closed forgets what connection |c| (closed, no longer among the swarm's
 * connections) held; when its peer has connections left but no valid authentication on them,
 * the revoke callback runs for it. The owner of the swarm's observer calls it for every
 * connection that closes. */
void rly_authsvc_conn_closed(rly_authsvc *a, rly_conn *c);

/* rly_authsvc_check_invariants (tests, fuzzers): 0, or which rule is broken: 1 the grant list's
 * links, 2 a connection's grant not on the list, 3 a grant on the list that no open connection
 * holds (or one held twice), 4 a timer armed after rly_authsvc_shutdown. */
int rly_authsvc_check_invariants(const rly_authsvc *a);

/* rly_authsvc_shutdown stops the service's timers for good (exchanges still answer; tokens no
 * longer expire by timer). Call before the swarm closes: its timer queue goes with it. */
void rly_authsvc_shutdown(rly_authsvc *a);

/* rly_authsvc_del resets the exchanges in progress and frees |a| (NULL-safe). Call before the
 * swarm closes, or after it has and rly_authsvc_shutdown ran before (then nothing is left to
 * reset and no timer to stop). */
void rly_authsvc_del(rly_authsvc *a);

#endif
