/* bridge.h: one relayed connection: two rly_streams (the source's hop stream and the
 * destination's stop stream) bridged in both directions (PROTOCOLS.md 8.4 "Copy rules").
 *
 * Backpressure: bytes are consumed from one stream (granting its peer more window) only once the
 * other stream accepted them. What the other stream does not accept yet waits in a per-direction
 * buffer capped at RLY_BRIDGE_PENDING_MAX, which a well-behaved peer cannot exceed (it is the
 * Yamux window); a peer that overruns it is reset. Relay memory per circuit is therefore bounded
 * by configuration whatever the peers do.
 *
 * Limits (the circuit's Limit): |duration| from the bridge start, and |data| bytes per direction
 * (the spec's per-direction rule). Reaching either resets both streams. FIN on one side is passed
 * to the other once the pending bytes are written (half-close); a reset on either side resets the
 * other. The circuit ends when both streams are closed: |done| reports bytes each way, the
 * duration and why it ended, then the circuit frees itself. */
#ifndef RLY_RELAY_BRIDGE_H
#define RLY_RELAY_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/time.h"
#include "transport/stream.h"

/* The most bytes held per direction while the other side's send queue is full. */
#define RLY_BRIDGE_PENDING_MAX (512 * 1024)

typedef struct rly_bridge rly_bridge;

typedef struct rly_bridge_limits {
    rly_tstamp duration; /* 0: no time limit */
    uint64_t data;       /* bytes per direction; 0: no data limit */
} rly_bridge_limits;

typedef struct rly_bridge_stats {
    uint64_t bytes_src_to_dst;
    uint64_t bytes_dst_to_src;
    rly_tstamp duration;
    int err;            /* 0: both sides finished cleanly */
    const char *reason; /* "closed", "reset by source", "data limit", "duration limit", ... */
} rly_bridge_stats;

/* Called once, when both streams are gone. |c| is freed right after it returns. */
typedef void (*rly_bridge_done_cb)(void *ud, rly_bridge *c, const rly_bridge_stats *st);

/* rly_bridge_start bridges |src| and |dst| (both taken: the circuit owns their handlers from
 * now on). |src_rest| / |dst_rest| are bytes already read from each stream past the relay
 * messages (delivered, not yet consumed): they are forwarded first. |now| starts the duration
 * clock. On failure both streams are reset and |done| is not called.
 * Returns 0, RLY_ERR_NOMEM or RLY_ERR_NOBUF (a leftover larger than RLY_BRIDGE_PENDING_MAX). */
RLY_NODISCARD int rly_bridge_start(rly_bridge **pc, uv_loop_t *loop, rly_stream *src,
                                   const uint8_t *src_rest, size_t src_rest_len, rly_stream *dst,
                                   const uint8_t *dst_rest, size_t dst_rest_len,
                                   const rly_bridge_limits *limits, rly_tstamp now,
                                   rly_bridge_done_cb done, void *ud, rly_mem *mem);

/* rly_bridge_abort resets both streams (e.g. on shutdown); |done| follows with |reason|. */
void rly_bridge_abort(rly_bridge *c, const char *reason);

#endif
