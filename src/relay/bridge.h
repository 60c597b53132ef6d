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
#include "core/err.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/timerq.h"
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

/* Called once, when both streams are gone; the bridge is already freed. */
typedef void (*rly_bridge_done_cb)(void *ud, const rly_bridge_stats *st);

/* rly_bridge_start bridges |src| and |dst| (both taken: the circuit owns their handlers from
 * now on). |src_rest| / |dst_rest| are bytes already read from each stream past the relay
 * messages (delivered, not yet consumed): they are forwarded first. The duration limit runs on
 * |timers| (borrowed; it must outlive the bridge), from now by its clock.
 * On success |*pc| is set before anything is forwarded, and |done| is called exactly once, when
 * both streams are gone: possibly before rly_bridge_start returns (a stream that fails at once),
 * so |done| must clear whatever holds |*pc|. On failure both streams are reset (their handlers
 * removed first) and |done| is not called.
 * Returns 0, RLY_ERR_NOMEM or RLY_ERR_NOBUF (a leftover larger than RLY_BRIDGE_PENDING_MAX). */
RLY_NODISCARD int rly_bridge_start(rly_bridge **pc, rly_timerq *timers, rly_stream *src,
                                   const uint8_t *src_rest, size_t src_rest_len, rly_stream *dst,
                                   const uint8_t *dst_rest, size_t dst_rest_len,
                                   const rly_bridge_limits *limits, rly_bridge_done_cb done,
                                   void *ud, rly_mem *mem);

/* rly_bridge_abort resets both streams (e.g. on shutdown); |done| follows with |reason|, before
 * this returns. */
void rly_bridge_abort(rly_bridge *c, const char *reason);

/* rly_bridge_uses_conn: whether one of |c|'s streams still open belongs to connection |conn|. */
bool rly_bridge_uses_conn(const rly_bridge *c, const rly_conn *conn);

#endif
