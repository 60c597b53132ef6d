/* swarm.h: connections, the peer table, the protocol router and the built-in services
 * (identify, identify push, ping) on top of the transports.
 *
 * Inbound streams run multistream-select as listener against the registered protocols; the
 * chosen protocol's handler then owns the stream. Outbound streams (rly_swarm_open_stream) run it
 * as dialer. The swarm logs SPEC.md's connection events:
 *   ConnectionEstablished peer_id=<id> endpoint=<rust-style endpoint> num_established=<n>
 *   ConnectionClosed peer_id=<id> cause=<why> remaining=<n> */
#ifndef RLY_SWARM_SWARM_H
#define RLY_SWARM_SWARM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/timerq.h"
#include "crypto/keys.h"
#include "proto/identify/identify.h"
#include "transport/conn.h"
#include "transport/quic/quic_transport.h"
#include "transport/tcp/tcp_transport.h"

#define RLY_SWARM_MAX_PROTOCOLS 16
#define RLY_SWARM_MAX_ADDRS 16
#define RLY_IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"
/* Default of rly_swarm_settings.stream_timeout (go's negotiation timeout and ping timeout). */
#define RLY_SWARM_STREAM_TIMEOUT (10 * RLY_NS_PER_S)

typedef struct rly_swarm rly_swarm;

/* A stream negotiated to a registered protocol. |data| (|len| bytes) arrived after the
 * negotiation in the same read: delivered, not yet consumed. The handler owns |s| from now on
 * (rly_stream_set_handler) and must consume, and eventually close or reset it. */
typedef void (*rly_swarm_stream_fn)(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data,
                                    size_t len);

/* Result of rly_swarm_open_stream: |s| negotiated (owned by the caller), or NULL and |err|. */
typedef void (*rly_swarm_open_cb)(void *ud, rly_stream *s, int err, const uint8_t *data,
                                  size_t len);

typedef void (*rly_swarm_dial_cb)(void *ud, rly_conn *c, int err);
typedef void (*rly_swarm_ping_cb)(void *ud, int err, rly_tstamp rtt);
/* |id| is valid for the call only (NULL on error). */
typedef void (*rly_swarm_identify_cb)(void *ud, int err, const rly_identify *id);
typedef void (*rly_swarm_closed_cb)(void *ud);

/* Observer of connection events (e.g. the relay service: reservations end with the peer's last
 * connection). on_closed gets what the transport reported: |err| 0 for a normal close (else the
 * error, e.g. RLY_ERR_RESET when a relayed connection's stream was reset) and |cause| (static
 * text, never NULL). */
typedef struct rly_swarm_observer {
    void (*on_established)(void *ud, rly_conn *c, size_t num_established);
    void (*on_closed)(void *ud, rly_conn *c, size_t remaining, int err, const char *cause);
    void *ud;
} rly_swarm_observer;

typedef struct rly_swarm_settings {
    const char *agent_version; /* identify agentVersion, e.g. "mesh-relay/0.1.0" */
    rly_tcp_settings tcp;
    rly_quic_settings quic; /* all zero: rly_quic_settings_default. The QUIC transport is
                               created at the first QUIC listen or dial. */
    /* How long a peer-opened stream may take to agree on a protocol, an identify stream to
     * deliver its message and a finished service stream to be closed by the peer; then the swarm
     * resets it. 0: RLY_SWARM_STREAM_TIMEOUT. One timer serves every stream. */
    rly_tstamp stream_timeout;
    /* How long a ping responder waits for the next ping, and an initiator for its echo.
     * 0: RLY_PING_IDLE_TIMEOUT (PROTOCOLS.md 7: a relay waits at least 20 s). */
    rly_tstamp ping_timeout;
} rly_swarm_settings;

/* rly_swarm_new creates the swarm on |loop| with the identity |kp| (copied), and registers the
 * identify, identify push and ping services. |log| is borrowed. Returns 0, RLY_ERR_NOMEM,
 * RLY_ERR_CRYPTO or RLY_ERR_IO. */
RLY_NODISCARD int rly_swarm_new(rly_swarm **psw, uv_loop_t *loop, const rly_keypair *kp,
                                const rly_swarm_settings *settings, const rly_log *log,
                                rly_mem *mem);

/* rly_swarm_listen_tcp: see rly_tcp_transport_listen. */
RLY_NODISCARD int rly_swarm_listen_tcp(rly_swarm *sw, const struct sockaddr *sa, int *puv_err);

/* rly_swarm_listen_quic: see rly_quic_transport_listen. */
RLY_NODISCARD int rly_swarm_listen_quic(rly_swarm *sw, const struct sockaddr *sa, int *puv_err);

/* rly_swarm_listen_addrs: the bound listen addresses, TCP then QUIC (see
 * rly_tcp_transport_listen_addrs, rly_quic_transport_listen_addrs). */
size_t rly_swarm_listen_addrs(const rly_swarm *sw, rly_multiaddr *out, size_t cap);

/* rly_swarm_set_advertised_addrs sets the addresses identify announces (and the signed peer
 * record, re-signed with a new seq). Each is copied; at most RLY_SWARM_MAX_ADDRS.
 * Returns 0, RLY_ERR_INVALID_ARG or an envelope error. */
RLY_NODISCARD int rly_swarm_set_advertised_addrs(rly_swarm *sw, const rly_multiaddr *addrs,
                                                 size_t n, uint64_t seq);

/* rly_swarm_add_protocol registers |fn| for |protocol| (borrowed for the swarm's lifetime,
 * usually a constant). Returns 0 or RLY_ERR_LIMIT. */
RLY_NODISCARD int rly_swarm_add_protocol(rly_swarm *sw, const char *protocol,
                                         rly_swarm_stream_fn fn, void *ud);

/* rly_swarm_set_observer installs |obs| (copied; NULL: none). */
void rly_swarm_set_observer(rly_swarm *sw, const rly_swarm_observer *obs);

/* rly_swarm_dial connects to |ma|: TCP (optionally with /p2p/<id>) or QUIC
 * (.../udp/<port>/quic-v1/p2p/<id>). |cb| runs once. Returns 0 or an rly_tcp_transport_dial /
 * rly_quic_transport_dial error (then |cb| is not called). */
RLY_NODISCARD int rly_swarm_dial(rly_swarm *sw, const rly_multiaddr *ma, rly_swarm_dial_cb cb,
                                 void *ud);

/* rly_swarm_open_stream opens a stream on |c| and negotiates |protocol| (borrowed for the life of
 * the stream, which names it: a constant). |cb| runs exactly once, later (with the stream, or
 * NULL and the error when the negotiation fails, the stream is reset or the connection closes).
 * Returns 0, or an rly_conn_open_stream error, RLY_ERR_NOMEM or a write error (then |cb| is not
 * called and no stream is left). */
RLY_NODISCARD int rly_swarm_open_stream(rly_swarm *sw, rly_conn *c, const char *protocol,
                                        rly_swarm_open_cb cb, void *ud);

/* rly_swarm_open_stream_early is rly_swarm_open_stream that also writes |early| (|len| bytes,
 * copied; none when 0) right after the protocol proposal, before the peer's echo (multistream's
 * optimistic mode, go's "lazy" negotiation): one round trip less. Only for a protocol the peer
 * is known to speak: if it refuses, the stream fails as without, but the peer has read the
 * early bytes as a protocol name. The peer's answer (|data| of |cb|) is what came after the
 * echo. Returns as rly_swarm_open_stream. */
RLY_NODISCARD int rly_swarm_open_stream_early(rly_swarm *sw, rly_conn *c, const char *protocol,
                                              const uint8_t *early, size_t len,
                                              rly_swarm_open_cb cb, void *ud);

/* rly_swarm_ping pings the peer of |c| once (/ipfs/ping/1.0.0). |cb| runs once with the RTT. */
RLY_NODISCARD int rly_swarm_ping(rly_swarm *sw, rly_conn *c, rly_swarm_ping_cb cb, void *ud);

/* rly_swarm_identify asks the peer of |c| for its identify record. |cb| runs once. */
RLY_NODISCARD int rly_swarm_identify(rly_swarm *sw, rly_conn *c, rly_swarm_identify_cb cb,
                                     void *ud);

/* rly_swarm_find_conn returns the established connection |conn_id| of |peer| (0: its newest
 * connection, the one with the highest id; ids grow with time, rly_conn_new_id), or NULL. */
rly_conn *rly_swarm_find_conn(const rly_swarm *sw, const rly_peerid *peer, uint64_t conn_id);

/* rly_swarm_find_older_conn returns the newest established connection of |peer| whose id is
 * below |below_id|, or NULL: from UINT64_MAX down, the peer's connections newest first. */
rly_conn *rly_swarm_find_older_conn(const rly_swarm *sw, const rly_peerid *peer, uint64_t below_id);

/* rly_swarm_peer_conns returns |peer|'s established connections (their number in |*pn|; NULL
 * and 0 when none), in no particular order. The array belongs to the swarm and is valid until
 * the next connection of that peer opens or closes: read it, do not keep it. */
rly_conn *const *rly_swarm_peer_conns(const rly_swarm *sw, const rly_peerid *peer, size_t *pn);

/* rly_swarm_foreach_conn calls |fn| for every established connection, as they are at the call
 * (a snapshot: connections that close meanwhile are skipped). |fn| may close the connection it
 * is given. Returns 0 or RLY_ERR_NOMEM (then |fn| was not called). */
RLY_NODISCARD int rly_swarm_foreach_conn(rly_swarm *sw, void (*fn)(void *ud, rly_conn *c),
                                         void *ud);

/* rly_swarm_advertised_addrs returns the announced addresses (without /p2p) and their count. */
const rly_multiaddr *rly_swarm_advertised_addrs(const rly_swarm *sw, size_t *pn);

/* rly_swarm_keypair returns the identity (for signing records such as vouchers). */
const rly_keypair *rly_swarm_keypair(const rly_swarm *sw);

/* rly_swarm_loop returns the loop the swarm runs on. */
uv_loop_t *rly_swarm_loop(const rly_swarm *sw);

/* rly_swarm_timers returns the swarm's timer queue: deadlines on the loop's monotonic clock
 * (rly_tcp_now), run from one libuv timer. Timers of the layers above must be stopped before
 * rly_swarm_close finishes (the queue goes with the swarm). */
rly_timerq *rly_swarm_timers(rly_swarm *sw);

/* rly_swarm_upgrade_stream makes |s| (a circuit's stream) a relayed connection: see
 * rly_tcp_transport_upgrade_stream. */
RLY_NODISCARD int rly_swarm_upgrade_stream(rly_swarm *sw, rly_stream *s, rly_conn_dir dir,
                                           const rly_peerid *expected, const rly_multiaddr *remote,
                                           const uint8_t *rest, size_t restlen,
                                           rly_swarm_dial_cb cb, void *ud);

/* rly_swarm_local_peer returns our peer ID. */
const rly_peerid *rly_swarm_local_peer(const rly_swarm *sw);

/* rly_swarm_quic_stats fills |out| with the QUIC endpoint's counters (all zero before the QUIC
 * transport exists). */
void rly_swarm_quic_stats(const rly_swarm *sw, rly_quic_stats *out);

/* rly_swarm_tcp_stats fills |out| with the TCP transport's counters (upgrades in progress,
 * failed, evicted, timed out; write timeouts). */
void rly_swarm_tcp_stats(const rly_swarm *sw, rly_tcp_stats *out);

/* rly_swarm_num_connections returns the established connections of |peer| (NULL: all). */
size_t rly_swarm_num_connections(const rly_swarm *sw, const rly_peerid *peer);

/* rly_swarm_close closes every connection (GoAway first) and the listeners, frees |sw| and then
 * calls |cb|. */
void rly_swarm_close(rly_swarm *sw, rly_swarm_closed_cb cb, void *ud);

#endif
