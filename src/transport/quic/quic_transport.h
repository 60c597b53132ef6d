/* quic_transport.h: libp2p over QUIC v1 on the libuv loop (PROTOCOLS.md 5), beside the TCP
 * transport and with the same shape: connections are rly_conns whose streams are rly_streams,
 * delivered through rly_conn_events, so the swarm, identify, ping and the relay run unchanged.
 *
 * One UDP socket per listen address, shared by all its connections; datagrams are routed by
 * destination connection ID (ours, 16 bytes, and a client's original one during its handshake).
 * Dials go out from one unbound socket per address family. Each connection has one timer
 * (rly_qconn_expiry) and output is flushed once per loop iteration for every connection that
 * has something to send. A datagram the socket cannot take now is dropped: QUIC recovers it as a
 * loss, and memory stays bounded.
 *
 * Under load: server handshakes in progress sit in a table of at most max_pending_handshakes, at
 * most max_pending_per_ip from one address (transport/pending.h). A new client that finds no room
 * must prove its address first (a Retry round trip, RFC 9000 8.1.2), then closes the stalest
 * handshake of its own address (at its cap), or of all, and takes its place: a flood of stalled
 * handshakes pushes out only itself, and a spoofed source can push out nobody. A handshake whose
 * client reaches no new stage for handshake_idle_timeout is closed. Beyond retry_threshold
 * handshakes from unproven addresses every new client gets a Retry, so spoofed sources hold no more
 * than that; Initials beyond max_connections established are dropped. Unknown long-header versions
 * get Version Negotiation (v1), short-header packets for no connection a Stateless Reset. */
#ifndef RLY_TRANSPORT_QUIC_QUIC_TRANSPORT_H
#define RLY_TRANSPORT_QUIC_QUIC_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "crypto/keys.h"
#include "transport/conn.h"
#include "transport/quic/quic_conn.h"

#define RLY_QUIC_MAX_LISTENERS 8

typedef struct rly_quic_transport rly_quic_transport;

/* Called once per dial: |c| established, or NULL with |err|. */
typedef void (*rly_quic_dial_cb)(void *ud, rly_conn *c, int err);
typedef void (*rly_quic_closed_cb)(void *ud);

/* rly_quic_transport_new creates the transport on |loop| with a fresh certificate for |id|
 * (borrowed during the call). |events| and |log| are borrowed and must outlive it. Returns 0,
 * RLY_ERR_NOMEM, RLY_ERR_CRYPTO or RLY_ERR_IO. */
RLY_NODISCARD int rly_quic_transport_new(rly_quic_transport **pt, uv_loop_t *loop,
                                         const rly_quic_settings *settings, const rly_keypair *id,
                                         const rly_conn_events *events, void *events_ud,
                                         const rly_log *log, rly_mem *mem);

/* rly_quic_transport_listen binds a UDP socket to |sa| (IPv6 sockets are v6-only) and accepts
 * connections on it. On failure stores the libuv error in |*puv_err| (may be NULL) and returns
 * RLY_ERR_ADDR_IN_USE, RLY_ERR_IO or RLY_ERR_LIMIT. */
RLY_NODISCARD int rly_quic_transport_listen(rly_quic_transport *t, const struct sockaddr *sa,
                                            int *puv_err);

/* rly_quic_transport_listen_addrs writes the bound addresses ("/ip4|ip6/<ip>/udp/<port>/quic-v1")
 * into |out| (|cap| entries). Returns how many. */
size_t rly_quic_transport_listen_addrs(const rly_quic_transport *t, rly_multiaddr *out, size_t cap);

/* rly_quic_transport_dial connects to |ma| ("/ip4|ip6/<ip>/udp/<port>/quic-v1/p2p/<id>": the
 * PeerId is required, QUIC authenticates it in the handshake). |cb| runs exactly once, later.
 * Returns 0, RLY_ERR_UNSUPPORTED (address shape), RLY_ERR_CLOSED, RLY_ERR_IO or RLY_ERR_NOMEM;
 * then |cb| is not called. */
RLY_NODISCARD int rly_quic_transport_dial(rly_quic_transport *t, const rly_multiaddr *ma,
                                          rly_quic_dial_cb cb, void *ud);

/* rly_quic_transport_num_connections returns the established connections. */
size_t rly_quic_transport_num_connections(const rly_quic_transport *t);

/* What the endpoint has seen and done (for logs, metrics and tests). */
typedef struct rly_quic_stats {
    size_t established;            /* connections now */
    size_t pending;                /* server handshakes in progress */
    size_t unproven;               /* ... of them from addresses no Retry validated */
    uint64_t retries;              /* Retry packets sent */
    uint64_t invalid_tokens;       /* Initials with a bad Retry token (answered INVALID_TOKEN) */
    uint64_t version_negotiations; /* Version Negotiation packets sent */
    uint64_t stateless_resets;     /* Stateless Resets sent */
    uint64_t initials_over_cap;    /* Initials dropped at max_pending_handshakes/max_connections */
    uint64_t evicted_per_ip;       /* handshakes closed for a newer one of their address */
    uint64_t evicted_total;        /* handshakes closed for a newer one (max_pending_handshakes) */
    uint64_t handshake_timeouts;   /* server handshakes closed by handshake_timeout */
    uint64_t handshake_idle_timeouts; /* ... by handshake_idle_timeout */
    uint64_t write_timeouts;          /* connections closed by write_timeout */
} rly_quic_stats;

/* rly_quic_transport_stats fills |out|. */
void rly_quic_transport_stats(const rly_quic_transport *t, rly_quic_stats *out);

/* rly_quic_transport_close closes every connection (CONNECTION_CLOSE, code 0) and the sockets,
 * then frees |t| and calls |cb| (may be NULL). */
void rly_quic_transport_close(rly_quic_transport *t, rly_quic_closed_cb cb, void *ud);

#endif
