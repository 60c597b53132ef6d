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
};

/* services.c */
int rly_swarm_services_register(rly_swarm *sw);

#endif
