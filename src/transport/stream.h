/* stream.h: rly_stream, one libp2p stream, as the layers above transport see it (STYLE.md A:
 * "relay sees an abstract rly_stream, implemented once by yamux streams and once by QUIC
 * streams"). The swarm runs multistream-select on a new stream and then hands it to the
 * protocol's handler; the relay bridges two streams without knowing their transport.
 *
 * Flow control: data is delivered through on_data (borrowed for the call). The receiver calls
 * rly_stream_consume(s, n) once it has processed n bytes (for a circuit: once it has forwarded
 * them); only then does the transport grant the peer more window. A receiver that never consumes
 * stops the sender after one window.
 *
 * Lifetime: a stream belongs to its connection. After on_close the stream pointer is invalid;
 * it is called exactly once (reset by either side, both directions finished, or the connection
 * closing). Callbacks must not free the connection. */
#ifndef RLY_TRANSPORT_STREAM_H
#define RLY_TRANSPORT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct rly_stream rly_stream;
typedef struct rly_conn rly_conn;

typedef struct rly_stream_handler {
    /* Bytes from the peer (borrowed). Call rly_stream_consume when they have been processed. */
    void (*on_data)(rly_stream *s, void *ud, const uint8_t *data, size_t len);
    /* The peer closed its write side (FIN). */
    void (*on_fin)(rly_stream *s, void *ud);
    /* Space freed in the send queue after rly_stream_write returned RLY_ERR_AGAIN or less. */
    void (*on_writable)(rly_stream *s, void *ud);
    /* The stream is gone: |err| is 0 when both sides finished cleanly, RLY_ERR_RESET when a side
     * reset it, RLY_ERR_CLOSED when the connection closed, or another error. */
    void (*on_close)(rly_stream *s, void *ud, int err);
} rly_stream_handler;

typedef struct rly_stream_ops {
    rly_ssize (*write)(rly_stream *s, const uint8_t *data, size_t len);
    int (*shutdown)(rly_stream *s);
    int (*reset)(rly_stream *s);
    int (*consume)(rly_stream *s, size_t n);
} rly_stream_ops;

struct rly_stream {
    const rly_stream_ops *ops;
    const rly_stream_handler *handler; /* NULL: data is dropped, no callbacks */
    void *handler_ud;
    rly_conn *conn;
    uint64_t id;          /* unique per process, for logs */
    bool is_outbound;     /* we opened it */
    const char *protocol; /* the negotiated protocol ID, NULL while negotiating: the string the
                             protocol was registered or opened with (a constant) */
};

/* rly_stream_write queues up to |len| bytes (copied). Returns the number queued (may be less
 * than |len|; 0 only for len 0), RLY_ERR_AGAIN when nothing fits (wait for on_writable), or
 * RLY_ERR_CLOSED / RLY_ERR_RESET. */
static inline RLY_NODISCARD rly_ssize rly_stream_write(rly_stream *s, const uint8_t *data,
                                                       size_t len)
{
    return s->ops->write(s, data, len);
}

/* rly_stream_shutdown closes our write side (FIN) after the queued bytes. Returns 0 or
 * RLY_ERR_CLOSED. */
static inline int rly_stream_shutdown(rly_stream *s)
{
    return s->ops->shutdown(s);
}

/* rly_stream_reset aborts the stream in both directions; on_close follows (err RLY_ERR_RESET).
 * Returns 0 or RLY_ERR_CLOSED. */
static inline int rly_stream_reset(rly_stream *s)
{
    return s->ops->reset(s);
}

/* rly_stream_consume reports |n| delivered bytes as processed (grants flow-control window).
 * Returns 0 or RLY_ERR_CLOSED. */
static inline int rly_stream_consume(rly_stream *s, size_t n)
{
    return s->ops->consume(s, n);
}

/* rly_stream_set_handler routes the stream's events to |h| with |ud|. */
static inline void rly_stream_set_handler(rly_stream *s, const rly_stream_handler *h, void *ud)
{
    s->handler = h;
    s->handler_ud = ud;
}

#endif
