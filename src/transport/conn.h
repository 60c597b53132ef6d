/* conn.h: rly_conn, one libp2p connection (secured and multiplexed) as the swarm sees it,
 * whatever the transport (TCP + Noise + Yamux now, QUIC later). */
#ifndef RLY_TRANSPORT_CONN_H
#define RLY_TRANSPORT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/peerid.h"
#include "transport/stream.h"

typedef enum rly_conn_dir {
    RLY_CONN_INBOUND = 0,
    RLY_CONN_OUTBOUND = 1,
} rly_conn_dir;

typedef struct rly_conn_ops {
    /* Opens an outbound stream (not yet negotiated). Returns 0, RLY_ERR_CLOSED or RLY_ERR_LIMIT. */
    int (*open_stream)(rly_conn *c, rly_stream **ps);
    /* Closes the connection (GoAway, flush, close); events follow from the transport. */
    void (*close)(rly_conn *c, int err, const char *cause);
} rly_conn_ops;

struct rly_conn {
    const rly_conn_ops *ops;
    uint64_t id; /* unique per process, for logs */
    rly_conn_dir dir;
    rly_peerid peer;       /* the authenticated remote peer */
    rly_multiaddr remote;  /* the remote transport address, e.g. /ip4/1.2.3.4/tcp/5678 */
    rly_multiaddr local;   /* our side of it */
    const char *transport; /* "tcp" or "quic-v1" */
    void *swarm_data;      /* owned by the swarm */
    /* The connection's memory account (rly_mem_init_account, capped): what the connection and the
     * state of its streams allocate, so one peer cannot hold more than the cap. NULL: none. */
    rly_mem *mem;
    uint32_t app_flags;   /* for the layers above (relay/authsvc.h: RLY_CONN_APP_*); 0 at first */
    void *app_auth;       /* relay/authsvc.h: the connection's accepted token; NULL: none */
    uint32_t app_streams; /* relay/authsvc.h: authentication exchanges in progress */
};

/* rly_conn_new_id returns the next connection ID, unique across every transport of the process
 * (the reservation table and the per-address limits key connections by it). */
uint64_t rly_conn_new_id(void);

/* rly_conn_remote_sockaddr writes |c|'s remote IP address and port into |ss| and returns it as a
 * sockaddr, or NULL when the remote is no IP address (a relayed connection). */
const struct sockaddr *rly_conn_remote_sockaddr(const rly_conn *c, struct sockaddr_storage *ss);

/* rly_conn_open_stream: see rly_conn_ops.open_stream. */
static inline RLY_NODISCARD int rly_conn_open_stream(rly_conn *c, rly_stream **ps)
{
    return c->ops->open_stream(c, ps);
}

/* rly_conn_close: see rly_conn_ops.close. */
static inline void rly_conn_close(rly_conn *c, int err, const char *cause)
{
    c->ops->close(c, err, cause);
}

/* Events a transport delivers to its owner (the swarm). */
typedef struct rly_conn_events {
    /* The upgrade finished: |c| is authenticated and multiplexed. */
    void (*on_established)(void *ud, rly_conn *c);
    /* The peer opened |s| on |c| (multistream-select not yet run). */
    void (*on_stream)(void *ud, rly_conn *c, rly_stream *s);
    /* |c| is closing: |err| 0 for a normal close; |cause| says why. Every stream of |c| has had
     * its on_close. |c| is freed after this returns. Only for established connections. */
    void (*on_closed)(void *ud, rly_conn *c, int err, const char *cause);
} rly_conn_events;

#endif
