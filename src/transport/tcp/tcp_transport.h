/* tcp_transport.h: libp2p over TCP on the libuv loop (PROTOCOLS.md 2, 3, 4).
 *
 * Every connection is upgraded: multistream-select "/noise" -> Noise XX -> multistream-select
 * "/yamux/1.0.0" (skipped when Noise's early muxer negotiation agreed) -> Yamux. Then it is an
 * rly_conn whose streams are rly_streams, delivered through rly_conn_events.
 *
 * Bounds (rly_tcp_settings): a connection that has not finished its upgrade within
 * handshake_timeout, or that completes no stage of it for handshake_idle_timeout, is
 * closed. Accepted connections upgrade in a table of at most max_pending_handshakes, at most
 * max_pending_per_ip of them from one address (transport/pending.h): a new connection that finds
 * no room closes the stalest upgrade of its own address, or of all, and takes its place, so a
 * flood of stalled connections only ever pushes out its own. At most max_connections are
 * established (more are accepted and closed at once, with a debug line); idle connections are
 * pinged every keepalive_interval (Yamux keepalive); a connection whose output the socket (or, for
 * a relayed one, the stream under it) takes no byte of for write_timeout is closed (a peer that
 * never reads would otherwise pin its output buffers for good).
 *
 * Reads go into one buffer shared by the whole loop, so an idle connection holds no read buffer;
 * writes hold a buffer only while a write is in flight. */
#ifndef RLY_TRANSPORT_TCP_TRANSPORT_H
#define RLY_TRANSPORT_TCP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/time.h"
#include "proto/noise/noise.h"
#include "proto/yamux/yamux.h"
#include "transport/conn.h"

#define RLY_TCP_BACKLOG 1024
#define RLY_TCP_MAX_LISTENERS 8
/* Most connections taken from the listeners in one loop turn; the others wait in the kernel's
 * queue for the next turn, so that a connection flood cannot hold the loop (libuv accepts until
 * the queue is empty, and a flood keeps it full). */
#define RLY_TCP_ACCEPTS_PER_TURN 64

typedef struct rly_tcp_settings {
    rly_tstamp handshake_timeout;      /* 10 s */
    rly_tstamp handshake_idle_timeout; /* 5 s: no stage completed for this long while upgrading */
    size_t max_pending_handshakes;     /* 256 */
    size_t max_pending_per_ip;         /* 32: of them from one address (IPv6: one /56) */
    rly_tstamp write_timeout;          /* 30 s: output pending and none taken; 0: off */
    size_t max_connections;            /* 10000 */
    rly_tstamp keepalive_interval;     /* 30 s; 0: off */
    uint32_t yamux_window;             /* 256 KiB (RLY_YAMUX_INITIAL_WINDOW, the spec's): receive
                                          window per Yamux stream; a client moving bulk data over a
                                          long path (a circuit) wants more, up to 1 GiB */
    uint32_t max_inbound_streams;      /* 256 (go's resource manager, per peer): live streams the
                                          peer opened; more are reset */
    size_t max_conn_memory;            /* 4 MiB (RLY_TCP_CONN_MEMORY): the cap of a connection's
                                          memory account (rly_conn.mem); past it the connection
                                          is closed */
} rly_tcp_settings;

/* What one connection may hold: its Yamux send queues (1 MiB), a write batch being filled and one
 * in flight (2 x 512 KiB at most), a partial Noise frame and its streams, with room to spare. */
#define RLY_TCP_CONN_MEMORY (4u * 1024u * 1024u)

typedef struct rly_tcp_transport rly_tcp_transport;

/* Called once per dial: |c| established, or NULL with |err| (and a reason in the debug log). */
typedef void (*rly_tcp_dial_cb)(void *ud, rly_conn *c, int err);
typedef void (*rly_tcp_closed_cb)(void *ud);

/* rly_tcp_settings_default fills |s| with the defaults above. */
void rly_tcp_settings_default(rly_tcp_settings *s);

/* rly_tcp_transport_new creates the transport on |loop|. |id| (the Noise identity), |events| and
 * |log| are borrowed and must outlive it. Returns 0, RLY_ERR_NOMEM, RLY_ERR_CRYPTO or
 * RLY_ERR_IO. */
RLY_NODISCARD int rly_tcp_transport_new(rly_tcp_transport **pt, uv_loop_t *loop,
                                        const rly_tcp_settings *settings,
                                        const rly_noise_identity *id, const rly_conn_events *events,
                                        void *events_ud, const rly_log *log, rly_mem *mem);

/* rly_tcp_transport_listen binds |sa| (IPv6 sockets are v6-only, so v4 and v6 listeners can
 * share a port) and accepts connections. On failure stores the libuv error in |*puv_err| (may be
 * NULL) and returns RLY_ERR_ADDR_IN_USE, RLY_ERR_IO or RLY_ERR_LIMIT (too many listeners). Call it
 * at set-up, not from a loop callback (a failed socket is closed by running the loop once). */
RLY_NODISCARD int rly_tcp_transport_listen(rly_tcp_transport *t, const struct sockaddr *sa,
                                           int *puv_err);

/* rly_tcp_transport_listen_addrs writes the bound addresses ("/ip4|ip6/<ip>/tcp/<port>", the
 * real port when 0 was asked for) into |out| (|cap| entries). Returns how many. */
size_t rly_tcp_transport_listen_addrs(const rly_tcp_transport *t, rly_multiaddr *out, size_t cap);

/* rly_tcp_transport_dial connects to |ma| ("/ip4|ip6/<ip>/tcp/<port>[/p2p/<id>]"; with /p2p the
 * remote must prove that identity) and upgrades as initiator. |cb| runs exactly once, later.
 * Returns 0, RLY_ERR_UNSUPPORTED (address shape), RLY_ERR_CLOSED (transport closing) or
 * RLY_ERR_NOMEM; then |cb| is not called. */
RLY_NODISCARD int rly_tcp_transport_dial(rly_tcp_transport *t, const rly_multiaddr *ma,
                                         rly_tcp_dial_cb cb, void *ud);

/* rly_tcp_transport_upgrade_stream runs the same upgrade (mss -> Noise -> mss -> Yamux) over
 * |s|, a stream of another connection, making it a connection of its own: how a relayed
 * connection is built over a circuit's hop or stop stream. |dir| OUTBOUND: we are the dialer
 * (initiator); the remote must be |expected| (required then). |remote| (copied) is the
 * connection's remote address, normally "<relay addr>/p2p/<relay>/p2p-circuit/p2p/<peer>".
 * |rest| (|restlen| bytes, delivered on |s| but not consumed) is fed first. |s| is taken on
 * every path, failures included: its handler is replaced (the caller's is never called again)
 * and it is reset when the connection closes. |cb| runs once.
 * Returns 0, RLY_ERR_INVALID_ARG, RLY_ERR_CLOSED (the transport is closing) or RLY_ERR_NOMEM
 * (then |s| is reset, its handler removed first, and |cb| is not called). */
RLY_NODISCARD int rly_tcp_transport_upgrade_stream(rly_tcp_transport *t, rly_stream *s,
                                                   rly_conn_dir dir, const rly_peerid *expected,
                                                   const rly_multiaddr *remote, const uint8_t *rest,
                                                   size_t restlen, rly_tcp_dial_cb cb, void *ud);

/* What the transport has seen and done (for logs, metrics and tests). */
typedef struct rly_tcp_stats {
    size_t pending;          /* upgrades in progress now */
    uint64_t failed;         /* upgrades that failed so far (every reason below included) */
    uint64_t evicted_per_ip; /* closed to admit a newer one of the address (max_pending_per_ip) */
    uint64_t evicted_total;  /* closed to admit a newer one (max_pending_handshakes) */
    uint64_t handshake_timeouts; /* upgrades closed by handshake_timeout */
    uint64_t idle_timeouts;      /* upgrades closed by handshake_idle_timeout */
    uint64_t write_timeouts;     /* connections closed by write_timeout */
} rly_tcp_stats;

/* rly_tcp_transport_stats fills |out|. */
void rly_tcp_transport_stats(const rly_tcp_transport *t, rly_tcp_stats *out);

/* rly_tcp_transport_num_connections returns the established connections. */
size_t rly_tcp_transport_num_connections(const rly_tcp_transport *t);

/* rly_tcp_transport_close stops accepting, sends Yamux GoAway on every connection, flushes and
 * closes them (forcibly after a short grace period), then frees |t| and calls |cb|. */
void rly_tcp_transport_close(rly_tcp_transport *t, rly_tcp_closed_cb cb, void *ud);

/* rly_tcp_now returns the loop's monotonic time in rly_tstamp units. */
rly_tstamp rly_tcp_now(void);

#endif
