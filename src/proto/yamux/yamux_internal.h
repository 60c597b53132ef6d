/* yamux_internal.h: the session and stream structs shared by yamux.c (session, inbound decoder,
 * output scheduler) and yamux_stream.c (stream table, send queues, the rly_yamux_stream_* API).
 * Not for use outside src/proto/yamux/. */
#ifndef RLY_PROTO_YAMUX_INTERNAL_H
#define RLY_PROTO_YAMUX_INTERNAL_H

#include "proto/yamux/yamux.h"

/* Stream flags. */
enum {
    RLY_YAMUX_SF_LOCAL = 1u << 0,         /* we opened it */
    RLY_YAMUX_SF_SYN_PENDING = 1u << 1,   /* our SYN has not been written yet */
    RLY_YAMUX_SF_ACK_PENDING = 1u << 2,   /* our ACK has not been written yet */
    RLY_YAMUX_SF_ACKED = 1u << 3,         /* the peer ACKed our SYN (leaves the backlog) */
    RLY_YAMUX_SF_FIN_PENDING = 1u << 4,   /* shutdown requested */
    RLY_YAMUX_SF_FIN_SENT = 1u << 5,      /* our FIN has been written */
    RLY_YAMUX_SF_FIN_RECV = 1u << 6,      /* the peer's FIN arrived */
    RLY_YAMUX_SF_RST_PENDING = 1u << 7,   /* reset locally: a zombie waiting for its RST frame */
    RLY_YAMUX_SF_WANT_WRITABLE = 1u << 8, /* a write was short: call on_stream_writable */
    RLY_YAMUX_SF_IN_CTL = 1u << 9,        /* linked in the control list */
    RLY_YAMUX_SF_IN_DATA = 1u << 10,      /* linked in the data list */
    RLY_YAMUX_SF_WAKE = 1u << 11,         /* to be woken by rly_yamux_stream_wake_blocked */
};

/* The two output lists a stream can be in (round-robin FIFOs). */
enum { RLY_YAMUX_LIST_CTL = 0, RLY_YAMUX_LIST_DATA = 1 };

typedef struct rly_yamux_stream rly_yamux_stream;

typedef struct rly_yamux_link {
    rly_yamux_stream *prev;
    rly_yamux_stream *next;
} rly_yamux_link;

typedef struct rly_yamux_list {
    rly_yamux_stream *head;
    rly_yamux_stream *tail;
} rly_yamux_list;

struct rly_yamux_stream {
    rly_yamux_stream *hnext; /* hash chain */
    rly_yamux_link link[2];  /* RLY_YAMUX_LIST_CTL, RLY_YAMUX_LIST_DATA */
    void *user_data;
    uint8_t *sq; /* send queue: a ring of |sq_cap| bytes, NULL while empty */
    uint32_t sq_cap;
    uint32_t sq_head;
    uint32_t sq_len;
    uint32_t id;
    uint32_t send_window;     /* bytes the peer lets us send */
    uint32_t recv_window;     /* bytes the peer may still send us */
    uint32_t recv_unconsumed; /* received, not yet consumed by the owner */
    uint32_t recv_consumed;   /* consumed, not yet granted back */
    uint32_t wu_delta;        /* granted, waiting for its Window Update frame */
    uint16_t flags;
};

/* Inbound decoder states (STYLE.md C rule 2, nghttp2 style). */
typedef enum rly_yamux_ib_state {
    RLY_YAMUX_IB_READ_HEADER = 0, /* collecting the 12 header bytes */
    RLY_YAMUX_IB_READ_DATA,       /* delivering Data payload to a stream */
    RLY_YAMUX_IB_IGN_DATA,        /* draining payload of an unknown, closed or refused stream */
    RLY_YAMUX_IB_IGN_ALL,         /* the session failed: nothing more is read */
} rly_yamux_ib_state;

/* A token bucket (flood limits). */
typedef struct rly_yamux_bucket {
    rly_tstamp last;
    uint32_t tokens;
} rly_yamux_bucket;

struct rly_yamux {
    rly_yamux_settings set;
    rly_yamux_callbacks cb;
    rly_mem *mem;
    const rly_log *log;
    void *user_data;
    bool is_client;
    bool is_deleting;
    bool in_recv;
    bool clock_started;
    int failed; /* the fatal error, 0 while healthy */

    /* Inbound. */
    struct {
        rly_yamux_ib_state state;
        uint8_t hbuf[RLY_YAMUX_FRAME_LEN];
        uint8_t hlen;
        rly_yamux_frame f; /* the frame being read */
        uint32_t left;     /* payload bytes still to read or drain */
    } ib;

    /* Streams: a chained hash table of 2^bits buckets, NULL when empty. */
    rly_yamux_stream **buckets;
    uint32_t bucket_bits;
    uint32_t nstreams; /* in the table, zombies included */
    uint32_t nlive;    /* not reset locally */
    uint32_t ninbound;
    uint32_t noutbound;
    uint32_t nbacklog; /* our streams not ACKed yet */
    size_t queued;     /* bytes in all send queues (capped by max_session_buffer) */
    bool has_blocked;  /* a stream_write was refused for the session cap: wake writers */
    uint64_t next_id;
    rly_yamux_list lists[2];

    /* Queued control frames (ping ACKs, RSTs of refused streams): a FIFO array, NULL when
     * empty. */
    rly_yamux_frame *cq;
    uint32_t cq_cap;
    uint32_t cq_head;
    uint32_t cq_len;
    uint32_t npingacks;

    /* Go Away. */
    bool goaway_pending; /* to be written */
    bool goaway_sent;    /* queued or written: no new streams */
    bool goaway_recv;
    uint32_t goaway_code;

    /* Keepalive. */
    bool ping_pending;     /* our SYN ping is to be written */
    bool ping_outstanding; /* waiting for its ACK */
    uint32_t ping_value;
    rly_tstamp ping_sent_at;
    rly_tstamp keepalive_at;

    rly_yamux_bucket empty_tb;
    rly_yamux_bucket reset_tb;
};

/* yamux_stream.c: the stream table and send queues. */

/* rly_yamux_stream_wake_blocked calls on_stream_writable for every stream that wants it, once
 * the session's queued bytes are back under half the session cap. Returns 0 or
 * RLY_ERR_CALLBACK_FAILURE. */
RLY_NODISCARD int rly_yamux_stream_wake_blocked(rly_yamux *y);

/* rly_yamux_stream_find returns the stream |id| (zombies included), NULL if none. */
rly_yamux_stream *rly_yamux_stream_find(const rly_yamux *y, uint32_t id);

/* rly_yamux_stream_find_live returns the stream |id| unless it is unknown or reset locally. */
rly_yamux_stream *rly_yamux_stream_find_live(const rly_yamux *y, uint32_t id);

/* rly_yamux_stream_new allocates stream |id| with |flags|, both windows at the spec's 256 KiB
 * (ours raised to recv_window, the extra queued as a delta), and adds it to the table. Returns 0
 * or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_yamux_stream_new(rly_yamux *y, uint32_t id, uint16_t flags, void *ud,
                                       rly_yamux_stream **ps);

/* rly_yamux_stream_del removes |s| from the table and lists, updates the counters and frees it.
 * No callback. */
void rly_yamux_stream_del(rly_yamux *y, rly_yamux_stream *s);

/* rly_yamux_stream_close frees |s| and then calls on_stream_close with |reason|. Returns 0 or
 * RLY_ERR_CALLBACK_FAILURE. */
RLY_NODISCARD int rly_yamux_stream_close(rly_yamux *y, rly_yamux_stream *s, int reason);

/* rly_yamux_stream_schedule links |s| into, or unlinks it from, the control and data lists
 * according to its state. */
void rly_yamux_stream_schedule(rly_yamux *y, rly_yamux_stream *s);

/* rly_yamux_stream_unlink takes |s| out of list |which| if it is in it. */
void rly_yamux_stream_unlink(rly_yamux *y, rly_yamux_stream *s, int which);

/* rly_yamux_stream_take copies the first |n| queued bytes of |s| to |dest| and drops them; the
 * queue is freed once empty. |n| must not exceed sq_len. */
void rly_yamux_stream_take(rly_yamux *y, rly_yamux_stream *s, uint8_t *dest, uint32_t n);

/* rly_yamux_stream_free_all detaches the table and frees every stream; with |notify|, live
 * streams get on_stream_close(RLY_ERR_CLOSED) first (return values ignored). */
void rly_yamux_stream_free_all(rly_yamux *y, bool notify);

#endif
