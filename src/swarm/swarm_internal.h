/* swarm_internal.h: what swarm.c and the service files share. Not for other layers. */
#ifndef RLY_SWARM_INTERNAL_H
#define RLY_SWARM_INTERNAL_H

#include "core/dynbuf.h"
#include "core/timerq.h"
#include "proto/mss/mss.h"
#include "proto/noise/noise.h"
#include "swarm/swarm.h"

#define RLY_TARGET_SWARM "relay_server::swarm"
/* Buckets of the peer table (chained; a power of two). */
#define PEER_BUCKETS 1024

typedef struct peer_entry {
    struct peer_entry *next;
    rly_peerid id;
    size_t nconns;
    size_t cap;
    rly_conn **conns; /* the peer's established connections */
} peer_entry;

/* The kinds of stream deadline, each a fixed delay. */
typedef enum swarm_deadline_kind {
    SWARM_DEADLINE_STREAM = 0, /* stream_timeout: negotiation, identify, closing */
    SWARM_DEADLINE_PING,       /* ping_timeout: between pings, or for an echo */
    SWARM_DEADLINE_KINDS
} swarm_deadline_kind;

/* A deadline on a stream, in the swarm's timer queue (no libuv timer of its own): when it passes
 * the swarm resets the stream (a debug line names |what|), so the stream's handler frees its
 * state in on_close, where it calls rly_swarm_deadline_stop first. Zeroed memory is a stopped
 * deadline. */
typedef struct swarm_deadline {
    rly_timer timer; /* first */
    rly_stream *s;
    const char *what;
    uint8_t kind; /* swarm_deadline_kind: its delay */
} swarm_deadline;

typedef struct route {
    const char *protocol;
    rly_swarm_stream_fn fn;
    void *ud;
} route;

struct rly_swarm {
    uv_loop_t *loop;
    rly_timerq timers; /* deadlines of the layers above, on the loop's clock */
    uv_timer_t clock;  /* armed for the earliest of |timers| */
    rly_swarm_settings settings;
    const rly_log *log;
    rly_mem *mem;
    rly_keypair kp;
    rly_peerid local;
    uint8_t pubkey_pb[RLY_PUBKEY_PB_MAX];
    size_t pubkey_pb_len;
    rly_noise_identity *noise_id;
    rly_tcp_transport *tcp;
    rly_quic_transport *quic; /* created at the first QUIC listen or dial */
    rly_quic_settings quic_settings;
    int open_transports; /* closing: transports not yet closed */
    rly_conn_events events;
    rly_swarm_observer observer;
    route routes[RLY_SWARM_MAX_PROTOCOLS];
    size_t nroutes;
    rly_multiaddr addrs[RLY_SWARM_MAX_ADDRS]; /* advertised in identify */
    size_t naddrs;
    rly_dynbuf peer_record; /* signed envelope, identify signedPeerRecord */
    peer_entry *peers[PEER_BUCKETS];
    size_t nconns;
    rly_swarm_closed_cb closed_cb;
    void *closed_ud;
    rly_tstamp delays[SWARM_DEADLINE_KINDS]; /* stream_timeout, ping_timeout */
};

/* rly_swarm_deadline_start (re)arms |t| on |s|: it passes the delay of |kind| from now. */
void rly_swarm_deadline_start(rly_swarm *sw, swarm_deadline *t, rly_stream *s,
                              swarm_deadline_kind kind, const char *what);

/* rly_swarm_deadline_stop disarms |t| (no-op if it is not armed). */
void rly_swarm_deadline_stop(rly_swarm *sw, swarm_deadline *t);

/* rly_swarm_stream_mem: the memory account that state kept for a stream of |c| comes from. */
static inline rly_mem *rly_swarm_stream_mem(const rly_swarm *sw, const rly_conn *c)
{
    return c->mem ? c->mem : sw->mem;
}

/* services.c */
int rly_swarm_services_register(rly_swarm *sw);

#endif
