/* metrics.h: the Prometheus text exposition of the relay (/metrics): go-libp2p's
 * libp2p_relaysvc_* series (names and labels as go's relay service exports them, so existing
 * dashboards work; OPERATORS.md section 3) and our own mesh_relay_* series (connections, QUIC,
 * authentication, per-address limits, memory, build information). Pure: it formats what it is
 * given. */
#ifndef RLY_APP_METRICS_H
#define RLY_APP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "relay/authsvc.h"
#include "relay/limiter.h"
#include "relay/relay.h"
#include "transport/quic/quic_transport.h"
#include "transport/tcp/tcp_transport.h"

typedef struct rly_metrics_input {
    const char *version;
    bool running; /* libp2p_relaysvc_status */
    bool ready;   /* mesh_relay_ready: listeners bound and not draining */
    size_t reservations_active, circuits_active;
    uint64_t reservations_limit, circuits_limit; /* [relay] max_reservations, max_circuits */
    rly_relay_stats relay;
    rly_limiter_stats limiter;
    rly_authsvc_stats auth;
    rly_quic_stats quic;
    rly_tcp_stats tcp;
    size_t memory_bytes, memory_peak_bytes;
    size_t memory_budget_bytes;                   /* [limits] max_memory_mb, in bytes */
    uint64_t memory_refusals[RLY_MEM_WORK_COUNT]; /* new work refused over the budget */
    uint64_t start_time;                          /* unix seconds */
} rly_metrics_input;

/* rly_metrics_render appends the exposition (text format 0.0.4) to |out|. Returns 0 or the
 * dynbuf's RLY_ERR_NOMEM / RLY_ERR_NOBUF. */
RLY_NODISCARD int rly_metrics_render(const rly_metrics_input *in, rly_dynbuf *out);

/* The Content-Type of the exposition. */
#define RLY_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
