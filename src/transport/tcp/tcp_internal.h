/* tcp_internal.h: the structures shared by tcp_transport.c and tcp_conn.c. Not for other layers. */
#ifndef RLY_TRANSPORT_TCP_INTERNAL_H
#define RLY_TRANSPORT_TCP_INTERNAL_H

#include <stdbool.h>

#include "proto/mss/mss.h"
#include "proto/noise/noise.h"
#include "proto/yamux/yamux.h"
#include "transport/flushq.h"
#include "transport/pending.h"
#include "transport/tcp/tcp_transport.h"

/* Shared read buffer: four Noise frames and a bit. libuv reads one socket at a time and every
 * read is fully processed before the callback returns, so one buffer serves the whole loop.
 * Through a circuit, 256 KiB reads cost the relay a tenth less CPU than 64 KiB reads. */
#define TCP_READ_BUF (256 * 1024 + 2048)
/* A relayed connection copies what the stream under it delivers (Noise decrypts in place) in
 * chunks of at most this many bytes. */
#define TCP_RELAYED_CHUNK (256 * 1024)
/* Plaintext pulled from Yamux per Noise frame. */
#define TCP_PLAIN_CHUNK RLY_NOISE_MAX_PLAINTEXT
/* Output gathered for one uv_write before the connection stops pulling from Yamux. */
#define TCP_WRITE_BATCH (256 * 1024)
/* Largest Yamux Data frame we send (go, js: 64 KiB). */
#define TCP_YAMUX_MAX_FRAME (64u * 1024u)
/* How long a closing connection may take to flush its GoAway before it is cut. */
#define TCP_CLOSE_GRACE (2 * RLY_NS_PER_S)

typedef enum conn_stage {
    STAGE_SEC_MSS = 0, /* multistream-select for the security protocol (plaintext) */
    STAGE_NOISE,       /* Noise handshake */
    STAGE_MUX_MSS,     /* multistream-select for the muxer (inside Noise) */
    STAGE_YAMUX,       /* established */
} conn_stage;

typedef struct tcp_conn tcp_conn;

typedef struct tcp_stream {
    rly_stream base;
    tcp_conn *conn;
    uint32_t yid;
    bool is_announced;           /* on_stream was delivered to the swarm */
    struct tcp_stream *next_new; /* the connection's list of streams not yet announced */
} tcp_stream;

struct tcp_conn {
    rly_conn base; /* first: an rly_conn * is a tcp_conn * */
    rly_mem mem;   /* the connection's account (base.mem): everything below comes from it */
    /* The bytes travel over |handle| (a TCP socket) or, for a relayed connection, over |under|
     * (a stream of another connection: the hop or stop stream of a circuit). */
    rly_stream *under;
    bool is_over_stream;
    uv_tcp_t handle;
    uv_timer_t timer;
    rly_tcp_transport *t;
    tcp_conn *prev, *next; /* the transport's list of connections */
    rly_flushq_node flush; /* in the transport's queue of connections to flush */
    conn_stage stage;
    bool is_established;
    bool is_closed;        /* torn down; waiting for libuv to release the handles */
    bool is_shutting_down; /* GoAway sent: close once the output is flushed */
    int close_err;         /* why, once the output is flushed (0: a clean shutdown) */
    const char *close_cause;
    bool write_inflight;
    unsigned open_handles;
    rly_mss *mss;
    rly_noise *noise;
    rly_yamux *yamux;
    tcp_stream *new_streams; /* opened by the peer during the current read, not yet announced */
    uint8_t *out;            /* output not yet handed to libuv (rly_mem), NULL when idle */
    size_t out_len, out_cap;
    uv_write_t wreq;
    uint8_t *wbuf;            /* the buffer of the write in flight */
    rly_tstamp deadline;      /* handshake or close-grace deadline; RLY_TSTAMP_MAX: none */
    rly_tstamp idle_deadline; /* upgrading: handshake_idle_timeout after the stage began */
    unsigned idle_stage;      /* the handshake step |idle_deadline| was set for (pending stage) */
    rly_tstamp wstall_at;     /* output waiting since (or last progress); RLY_TSTAMP_MAX: none */
    size_t wq_seen;           /* the socket's write queue when last looked at (write_timeout) */
    bool close_reset;         /* close with RST (nothing left worth delivering) */
    rly_pending_node pnode;   /* accepted and upgrading: in the transport's pending table */
    rly_tcp_dial_cb dial_cb;
    void *dial_ud;
    bool has_expected;
    rly_peerid expected;
    uv_connect_t creq;
};

struct rly_tcp_transport {
    uv_loop_t *loop;
    rly_tcp_settings settings;
    const rly_noise_identity *noise_id;
    const rly_conn_events *events;
    void *events_ud;
    const rly_log *log;
    rly_mem *mem;
    uv_tcp_t listeners[RLY_TCP_MAX_LISTENERS];
    size_t nlisteners;
    uv_idle_t idle;
    uv_timer_t accept_timer; /* takes the deferred connections next turn (on_connection) */
    uint64_t accept_turn;    /* the uv_now of the turn |accepts| counts */
    unsigned accepts;        /* connections accepted in that turn */
    bool accept_deferred[RLY_TCP_MAX_LISTENERS]; /* a connection waits in libuv (not taken) */
    unsigned open_handles;
    tcp_conn *conns;
    rly_flushq dirty;    /* connections to flush from the idle handle */
    rly_flushq draining; /* this turn's batch of them (on_idle) */
    size_t npending;     /* connections still upgrading */
    rly_pending pending; /* the accepted ones among them, for eviction (pending.h) */
    size_t nestablished;
    rly_tcp_stats stats; /* the counters (rly_tcp_transport_stats) */
    uint64_t next_stream_id;
    bool is_closing;
    rly_tcp_closed_cb closed_cb;
    void *closed_ud;
    uint8_t *read_buf; /* TCP_READ_BUF bytes, allocated at the first read: a process with many
                          client swarms (bench_connect) pays for it only where it reads */
    uint8_t plain_buf[TCP_PLAIN_CHUNK + RLY_NOISE_FRAME_HDR_LEN];
};

/* tcp_transport.c */
void rly_tcp_transport_mark_dirty(rly_tcp_transport *t, tcp_conn *c);
void rly_tcp_transport_unmark_dirty(rly_tcp_transport *t, tcp_conn *c);
void rly_tcp_transport_link(rly_tcp_transport *t, tcp_conn *c);
void rly_tcp_transport_unlink(rly_tcp_transport *t, tcp_conn *c);
void rly_tcp_transport_conn_freed(rly_tcp_transport *t);

/* tcp_conn.c */
void rly_tcp_conn_accept(rly_tcp_transport *t, uv_stream_t *server);
int rly_tcp_conn_dial(rly_tcp_transport *t, const rly_multiaddr *ma, rly_tcp_dial_cb cb, void *ud);
int rly_tcp_conn_over_stream(rly_tcp_transport *t, rly_stream *s, rly_conn_dir dir,
                             const rly_peerid *expected, const rly_multiaddr *remote,
                             const uint8_t *rest, size_t restlen, rly_tcp_dial_cb cb, void *ud);
void rly_tcp_conn_flush(tcp_conn *c);
void rly_tcp_conn_shutdown(tcp_conn *c, const char *cause);

#endif
