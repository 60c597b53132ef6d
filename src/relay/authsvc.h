/* authsvc.h: the relay's token authentication service on the swarm (docs/AUTH.md): answers
 * /meshnet/relay-auth/1.0.0 (proto/auth/auth.h) and marks a connection authenticated
 * (RLY_CONN_APP_AUTHENTICATED in rly_conn.app_flags) when its peer presents the shared token or a
 * token minted for it. The relay service refuses RESERVE and CONNECT on connections without the
 * mark while auth is required.
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
 * Authenticated peer_id=<id> ip=<address> token=<shared|minted>. An exchange not finished within
 * RLY_AUTHSVC_TIMEOUT_S seconds is reset; a connection runs at most RLY_AUTHSVC_MAX_STREAMS
 * exchanges at once (more streams are reset).
 *
 * Revocation: an authentication lasts while its token does. A minted token's expiry ends it (the
 * mark lapses at once; a timer then revokes it), and so does a reload that changes the secret
 * (rly_authsvc_update: every connection) or starts requiring tokens. Each revoked connection gets
 * an INFO record AuthRevoked peer_id=<id> ip=<address> reason="<why>" and the owner's revoke
 * callback, which ends what the connection holds (docs/AUTH.md: its reservations and circuits).
 * The connection stays open and may authenticate again. */
#ifndef RLY_RELAY_AUTHSVC_H
#define RLY_RELAY_AUTHSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/auth/auth.h"
#include "swarm/swarm.h"

/* The rly_conn.app_flags bit set on an authenticated connection. */
#define RLY_CONN_APP_AUTHENTICATED 0x1u

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

/* rly_authsvc_new registers the protocol on |sw| (borrowed; it must outlive the service until
 * rly_authsvc_del) with the shared |secret| (|len| bytes, copied; may be empty when |required| is
 * false: then every request is answered OK and nothing is checked, so clients that always send a
 * token work against any relay). Returns 0, RLY_ERR_NOMEM, RLY_ERR_LIMIT (protocol table full)
 * or RLY_ERR_INVALID_ARG (required with an empty secret, or a secret over RLY_AUTH_TOKEN_MAX). */
RLY_NODISCARD int rly_authsvc_new(rly_authsvc **pa, rly_swarm *sw, bool required,
                                  const uint8_t *secret, size_t len, const rly_log *log,
                                  rly_mem *mem);

/* Outcomes so far. */
typedef struct rly_authsvc_stats {
    uint64_t ok, failed, rate_limited; /* failed: every failed attempt (rate_limited included) */
    uint64_t revoked;                  /* authentications withdrawn (expiry, reload) */
} rly_authsvc_stats;

/* Called for each connection whose authorisation is withdrawn (its mark already cleared), with
 * the reason ("token expired", "auth_token changed", "authentication now required"). */
typedef void (*rly_authsvc_revoke_fn)(void *ud, rly_conn *c, const char *reason);

/* rly_authsvc_set_revoke_cb installs |fn| (NULL: none) with |ud|. */
void rly_authsvc_set_revoke_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud);

void rly_authsvc_stats_get(const rly_authsvc *a, rly_authsvc_stats *out);

/* rly_authsvc_update changes whether tokens are required and the secret (as rly_authsvc_new).
 * When tokens are required afterwards and the secret changed or they were not required before,
 * every connection's authorisation is revoked (see above); with the same secret nothing changes.
 * Returns 0 or RLY_ERR_INVALID_ARG (then nothing changed). */
RLY_NODISCARD int rly_authsvc_update(rly_authsvc *a, bool required, const uint8_t *secret,
                                     size_t len);

/* rly_authsvc_is_required: whether tokens are checked. */
bool rly_authsvc_is_required(const rly_authsvc *a);

/* rly_authsvc_is_authenticated: whether |c| may RESERVE and CONNECT (always, when not required;
 * else while its mark is set and its token has not expired). */
bool rly_authsvc_is_authenticated(const rly_authsvc *a, const rly_conn *c);

/* rly_authsvc_del resets the exchanges in progress and frees |a| (NULL-safe). Call before the
 * swarm closes, or after it has (then nothing is left to reset). */
void rly_authsvc_del(rly_authsvc *a);

#endif
