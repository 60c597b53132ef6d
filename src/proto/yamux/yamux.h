/* yamux.h: a Yamux session (/yamux/1.0.0), sans-IO (STYLE.md C; PROTOCOLS.md 4 and 10.6-10.7).
 *
 * Bytes from the peer go in through rly_yamux_recv, bytes for the peer come out of
 * rly_yamux_send, and the caller passes |now| in; the session never reads a clock, never owns a
 * socket and allocates only through its rly_mem. Events reach the owner through
 * rly_yamux_callbacks, with borrowed data.
 *
 * Roles: the side that dialed the connection is the client (is_initiator, odd stream IDs); the
 * listener is the server (even IDs). The relay is the server on inbound connections.
 *
 * Flow control (per stream, no session window): each direction starts at 256 KiB; a larger
 * |recv_window| is announced as a delta on our SYN/ACK frame. Received Data is delivered at once
 * and counts against the window until the owner calls rly_yamux_stream_consume; a Window Update
 * goes out once half the window has been consumed. An owner that does not consume stops the
 * peer after one window: this is the relay's backpressure (STYLE.md D.4). The session never
 * sends more than the peer's window, and a peer that overruns ours is a protocol error.
 *
 * Output order in rly_yamux_send: queued control frames (ping ACKs, RSTs of refused streams), our
 * keepalive ping, a Go Away, per-stream control frames (SYN/ACK/window update/FIN/RST, each a
 * Window Update frame, as go and js send them), then Data round-robin across streams, at most
 * |max_send_frame| bytes per frame. Data frames carry no flags: js applies a frame's flags before
 * its payload, so a FIN on the last Data frame would drop that data; the FIN follows as a Window
 * Update. A fatal error replaces all of that with one Go Away.
 *
 * Errors: a fatal session error (peer protocol violation, flood, callback failure, memory) makes
 * rly_yamux_recv return it, queues a Go Away (1 for peer errors, 2 otherwise), and every later
 * rly_yamux_recv returns it again; the owner flushes rly_yamux_send and closes the connection.
 *
 * Memory: an idle session is one small struct; a stream is ~130 bytes until it has queued output.
 * Send queues are allocated when data is written and freed when drained; the stream table and
 * the control queue grow on demand and shrink to nothing when empty. Every table and buffer has
 * a cap in rly_yamux_settings. */
#ifndef RLY_PROTO_YAMUX_H
#define RLY_PROTO_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "proto/yamux/yamux_frame.h"

/* The window every stream starts with in both directions (spec: 256 KiB). */
#define RLY_YAMUX_INITIAL_WINDOW (256u * 1024u)
/* The largest receive window a session may be configured with. */
#define RLY_YAMUX_MAX_WINDOW (1u << 30)

typedef struct rly_yamux rly_yamux;

/* Caps and timers. Start from rly_yamux_settings_default and change fields; rly_yamux_new
 * rejects values outside the ranges noted. Defaults are in one table in yamux.c. */
typedef struct rly_yamux_settings {
    uint32_t max_inbound_streams;  /* 1000 (js): live peer-opened streams; more are reset. >= 1 */
    uint32_t max_outbound_streams; /* 512 (rust's accept limit): live streams we opened. >= 1 */
    uint32_t max_ack_backlog;      /* 256 (spec): our streams the peer has not ACKed yet. >= 1 */
    uint32_t recv_window;          /* 256 KiB: per-stream receive window we grant; >= 256 KiB,
                                      <= 1 GiB. No auto-tuning: this is also the maximum. */
    uint32_t max_send_frame;       /* 16 KiB (rust): Data payload per frame we send. 1..1 MiB */
    uint32_t max_stream_buffer;    /* 256 KiB: bytes queued per stream by stream_write. >= 1 */
    uint32_t max_session_buffer;   /* 1 MiB: bytes queued by all streams together; a peer that
                                      does not read cannot make the session hold more. >= 1 */
    uint32_t max_pending_pings;    /* 64: ping ACKs owed and not yet sent; more: FLOODED. >= 1 */
    uint32_t max_pending_control;  /* 1024: queued control frames (ping ACKs, RSTs of refused
                                      streams); more: FLOODED. >= max_pending_pings */
    /* Frames that carry no progress (Data or Window Update frames with no flags and length 0, on
     * any stream; pings; Go Aways) spend a token from a bucket of |empty_frame_burst| tokens
     * refilled at |empty_frame_rate| per second; an empty bucket is RLY_ERR_FLOODED (nghttp2's
     * glitch limit). Rates >= 1, bursts >= 1. */
    uint32_t empty_frame_burst; /* 1000 */
    uint32_t empty_frame_rate;  /* 100 per second */
    /* Streams reset by the peer, and peer streams we refuse, spend a token from another bucket
     * (nghttp2 stream_reset_rate_limit): rapid open/reset churn is RLY_ERR_FLOODED. */
    uint32_t stream_reset_burst; /* 1000 */
    uint32_t stream_reset_rate;  /* 33 per second */
    /* Keepalive: after |keepalive_interval| without receiving anything, send a SYN ping; no ACK
     * within |keepalive_timeout| fails the session with RLY_ERR_TIMEOUT. 0 interval: off. */
    rly_tstamp keepalive_interval; /* 30 s (go, js) */
    rly_tstamp keepalive_timeout;  /* 10 s; >= 1 ns when the interval is set */
} rly_yamux_settings;

/* Callbacks. |ud| is the session's user_data, |stream_ud| the stream's (see
 * rly_yamux_stream_set_user_data). Every callback may call rly_yamux_stream_write, _consume,
 * _shutdown, _reset, rly_yamux_open_stream and rly_yamux_goaway; none may call rly_yamux_recv,
 * rly_yamux_send or rly_yamux_del. Unless noted, a callback returns 0, or
 * RLY_ERR_CALLBACK_FAILURE (any nonzero value) to abort: the session then fails with
 * RLY_ERR_CALLBACK_FAILURE. A NULL callback is skipped (on_stream_open NULL: refuse all). */
typedef struct rly_yamux_callbacks {
    /* The peer opened stream |id|. Return 0 to accept it (we ACK it at the next send), a positive
     * value to refuse it (we reset it), or RLY_ERR_CALLBACK_FAILURE. */
    int (*on_stream_open)(rly_yamux *y, uint32_t id, void *ud);
    /* |len| > 0 bytes of Data for |id| (borrowed for the call). A frame may be delivered in
     * several pieces. Call rly_yamux_stream_consume once they are processed. */
    int (*on_stream_data)(rly_yamux *y, uint32_t id, void *stream_ud, const uint8_t *data,
                          size_t len);
    /* The peer closed its side (FIN): no more data will arrive on |id|. */
    int (*on_stream_fin)(rly_yamux *y, uint32_t id, void *stream_ud);
    /* Space freed in |id|'s send queue after rly_yamux_stream_write took fewer bytes than asked
     * (or none). Called from rly_yamux_send, once per short write. */
    int (*on_stream_writable)(rly_yamux *y, uint32_t id, void *stream_ud);
    /* Stream |id| is gone; called exactly once per stream that was opened or accepted. |reason|
     * is 0 when both sides sent FIN, RLY_ERR_RESET when either side reset it (also from within
     * rly_yamux_stream_reset), RLY_ERR_CLOSED from rly_yamux_del. The id is invalid afterwards.
     * Its return value is ignored when called from rly_yamux_del or rly_yamux_stream_reset. */
    int (*on_stream_close)(rly_yamux *y, uint32_t id, void *stream_ud, int reason);
    /* The peer sent Go Away with |code| (RLY_YAMUX_GOAWAY_*, or any other value it chose). No
     * new streams can be opened afterwards; existing ones continue. */
    int (*on_goaway)(rly_yamux *y, uint32_t code, void *ud);
    /* Our keepalive ping was answered after |rtt| nanoseconds. */
    int (*on_ping_rtt)(rly_yamux *y, rly_tstamp rtt, void *ud);
} rly_yamux_callbacks;

/* A snapshot of one stream's flow-control state, for metrics and tests. */
typedef struct rly_yamux_stream_info {
    uint32_t send_window;  /* bytes we may still send before the peer's next window update */
    uint32_t recv_window;  /* bytes the peer may still send us */
    size_t queued;         /* bytes in the send queue */
    size_t unconsumed;     /* bytes received and not yet passed to rly_yamux_stream_consume */
    bool is_local_closed;  /* we called rly_yamux_stream_shutdown */
    bool is_remote_closed; /* the peer sent FIN */
} rly_yamux_stream_info;

/* rly_yamux_settings_default fills |s| with the defaults listed above. */
void rly_yamux_settings_default(rly_yamux_settings *s);

/* rly_yamux_new creates a session: the client role (odd stream IDs) if |is_initiator|, else the
 * server. |settings| (NULL: defaults) and |cb| are copied; |mem| (NULL: default allocator), |log|
 * (may be NULL) and |user_data| are borrowed for the session's lifetime. Nothing is sent until a
 * stream is opened, a ping is due or a Go Away is requested. Returns 0 and sets |*py|, or
 * RLY_ERR_INVALID_ARG (a setting out of range, NULL |py| or |cb|) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_yamux_new(rly_yamux **py, bool is_initiator,
                                const rly_yamux_settings *settings, const rly_yamux_callbacks *cb,
                                rly_mem *mem, const rly_log *log, void *user_data);

/* rly_yamux_del calls on_stream_close(RLY_ERR_CLOSED) for every remaining stream (those callbacks
 * must not call into |y|: such calls return RLY_ERR_CLOSED) and frees the session. NULL-safe. */
void rly_yamux_del(rly_yamux *y);

/* rly_yamux_recv feeds |inlen| bytes of |in| (borrowed for the call) at time |now|. The decoder
 * resumes at any byte boundary: a partial header is kept, Data is delivered as it arrives, and
 * frames for unknown, closed or refused streams are drained silently. Returns |inlen|, or a
 * fatal error (a Go Away is then queued):
 *   RLY_ERR_PROTO            unknown version or type, bad ping flags, a SYN with the wrong
 *                            parity or for a live stream ID;
 *   RLY_ERR_FLOW_CONTROL     Data beyond the stream's receive window, or a window update that
 *                            would push the send window past 2^32 - 1;
 *   RLY_ERR_FLOODED          a flood limit of rly_yamux_settings was exceeded;
 *   RLY_ERR_CALLBACK_FAILURE a callback aborted;
 *   RLY_ERR_NOMEM;
 *   RLY_ERR_TIMEOUT          (returned again after rly_yamux_handle_expiry failed).
 * After a fatal error every call returns that error and consumes nothing. */
RLY_NODISCARD rly_ssize rly_yamux_recv(rly_yamux *y, const uint8_t *in, size_t inlen,
                                       rly_tstamp now);

/* rly_yamux_send writes whole frames into |dest| (|destlen| bytes), as many as fit, in the order
 * given at the top of this file. A frame is never split: give at least RLY_YAMUX_FRAME_LEN +
 * max_send_frame bytes for full-size Data. May call on_stream_writable and on_stream_close.
 * Returns the number of bytes written (0: nothing to send or no room for the next frame), or
 * RLY_ERR_CALLBACK_FAILURE (the session has failed; the bytes of this call are lost and the Go
 * Away comes with the next call). */
RLY_NODISCARD rly_ssize rly_yamux_send(rly_yamux *y, uint8_t *dest, size_t destlen, rly_tstamp now);

/* rly_yamux_want_read returns false once the session has failed, or once a Go Away was sent or
 * received and no stream is left; the owner may then close the connection after flushing. */
bool rly_yamux_want_read(const rly_yamux *y);

/* rly_yamux_want_write returns true while rly_yamux_send has a frame to write (Data counts only
 * when the peer's window allows it). */
bool rly_yamux_want_write(const rly_yamux *y);

/* rly_yamux_get_expiry returns when rly_yamux_handle_expiry should next run: RLY_TSTAMP_MAX
 * without keepalive or once failed, 0 before the session has seen a clock (the first call of
 * rly_yamux_recv, rly_yamux_send or rly_yamux_handle_expiry starts the keepalive timer). */
rly_tstamp rly_yamux_get_expiry(const rly_yamux *y);

/* rly_yamux_handle_expiry runs the keepalive at |now|: it queues a SYN ping when the session has
 * been idle for keepalive_interval, and fails the session when the ping has gone unanswered for
 * keepalive_timeout. Returns 0, RLY_ERR_TIMEOUT (the session has failed; a Go Away 2 is queued)
 * or the session's earlier fatal error. */
RLY_NODISCARD int rly_yamux_handle_expiry(rly_yamux *y, rly_tstamp now);

/* rly_yamux_open_stream opens a stream with the next ID of our parity and sets |*pstream_id|. Its
 * SYN (a Window Update with our extra window, as go and js send it) goes out at the next send;
 * data may be written at once. |stream_user_data| is borrowed. Returns 0, or:
 *   RLY_ERR_CLOSED  a Go Away was sent or received, or the session has failed;
 *   RLY_ERR_LIMIT   max_outbound_streams live, max_ack_backlog un-ACKed, or IDs exhausted;
 *   RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_yamux_open_stream(rly_yamux *y, uint32_t *pstream_id, void *stream_user_data);

/* rly_yamux_stream_write copies up to |len| bytes of |data| (borrowed) into |id|'s send queue,
 * as much as fits under max_stream_buffer: partial writes are accepted. When fewer than |len|
 * bytes were taken, on_stream_writable follows once space frees up. Returns the number of bytes
 * queued (0 only for |len| 0), or:
 *   RLY_ERR_AGAIN     the queue is full: nothing was queued;
 *   RLY_ERR_NOT_FOUND no such stream (never opened, or closed/reset);
 *   RLY_ERR_CLOSED    we already shut the stream down, or the session has failed;
 *   RLY_ERR_NOMEM. */
RLY_NODISCARD rly_ssize rly_yamux_stream_write(rly_yamux *y, uint32_t id, const uint8_t *data,
                                               size_t len);

/* rly_yamux_stream_consume reports |n| received bytes of |id| as processed, which grants the peer
 * that much window again (a Window Update goes out once half the window is owed). Returns 0,
 * RLY_ERR_NOT_FOUND (no such stream: it may have closed meanwhile, which is harmless),
 * RLY_ERR_INVALID_ARG (|n| exceeds the unconsumed bytes) or RLY_ERR_CLOSED (session failed). */
RLY_NODISCARD int rly_yamux_stream_consume(rly_yamux *y, uint32_t id, size_t n);

/* rly_yamux_stream_shutdown half-closes |id|: FIN goes out after the queued bytes. The stream is
 * freed (on_stream_close with 0) once both sides sent FIN. Returns 0 (also when already shut
 * down), RLY_ERR_NOT_FOUND or RLY_ERR_CLOSED (session failed). */
RLY_NODISCARD int rly_yamux_stream_shutdown(rly_yamux *y, uint32_t id);

/* rly_yamux_stream_reset aborts |id| in both directions: queued data is dropped, an RST goes out
 * at the next send (none if the SYN never left), and on_stream_close(RLY_ERR_RESET) is called
 * before this returns. Returns 0, RLY_ERR_NOT_FOUND or RLY_ERR_CLOSED (session failed). */
RLY_NODISCARD int rly_yamux_stream_reset(rly_yamux *y, uint32_t id);

/* rly_yamux_stream_set_user_data attaches |stream_user_data| (borrowed) to |id|. Returns 0 or
 * RLY_ERR_NOT_FOUND. */
RLY_NODISCARD int rly_yamux_stream_set_user_data(rly_yamux *y, uint32_t id, void *stream_user_data);

/* rly_yamux_stream_get_user_data returns |id|'s user data, NULL if unset or no such stream. */
void *rly_yamux_stream_get_user_data(const rly_yamux *y, uint32_t id);

/* rly_yamux_stream_get_info fills |info| for |id|. Returns 0 or RLY_ERR_NOT_FOUND. */
RLY_NODISCARD int rly_yamux_stream_get_info(const rly_yamux *y, uint32_t id,
                                            rly_yamux_stream_info *info);

/* rly_yamux_goaway queues a Go Away with |code| (RLY_YAMUX_GOAWAY_NORMAL for a graceful
 * shutdown): afterwards neither side opens new streams (peer SYNs are reset) while existing
 * streams finish. Only the first call sends. Returns 0 or RLY_ERR_CLOSED (session failed). */
RLY_NODISCARD int rly_yamux_goaway(rly_yamux *y, uint32_t code);

/* rly_yamux_get_user_data returns the session's user data. */
void *rly_yamux_get_user_data(const rly_yamux *y);

/* rly_yamux_get_num_streams returns the number of live streams (both directions). */
size_t rly_yamux_get_num_streams(const rly_yamux *y);

/* rly_yamux_get_error returns the session's fatal error, 0 while it is healthy. */
int rly_yamux_get_error(const rly_yamux *y);

#endif
