/* quic_transport.c: UDP sockets, connection-ID routing, timers and rly_conns for QUIC
 * (quic_transport.h). The protocol work is in quic_conn.c. */
#include "transport/quic/quic_transport.h"

#include <ngtcp2/ngtcp2.h>
#include <string.h>

#include "transport/flushq.h"
#include "transport/pending.h"
#include "transport/quic/udp.h"

#define CID_BUCKETS 4096u
/* recvmmsg calls per readiness event at most, so that one busy socket cannot starve the loop. */
#define RECV_BATCHES 16
/* Datagrams one connection sends per flush at most (in GSO trains). */
#define SEND_BURST 256
/* Why a connection closed, where the transport knows better than the error code. */
#define REASON_IDLE_TIMEOUT "handshake idle timeout (handshake_idle_timeout_secs)"
#define REASON_HANDSHAKE_TIMEOUT "handshake timeout"
#define REASON_WRITE_TIMEOUT "write timeout (write_timeout_secs)"

typedef struct qsock {
    uv_poll_t poll; /* libuv polls the socket; the calls are in udp.c */
    rly_udp_sock u;
    rly_quic_transport *t;
    bool is_listener;
} qsock;

typedef struct quic_conn quic_conn;

typedef struct cid_entry {
    struct cid_entry *next;
    quic_conn *c;
    uint8_t len;
    uint8_t id[NGTCP2_MAX_CIDLEN];
} cid_entry;

struct quic_conn {
    rly_conn base; /* first: an rly_conn * is a quic_conn * */
    rly_quic_transport *t;
    rly_qconn *q;
    qsock *sock;
    struct sockaddr_storage remote;
    uv_timer_t timer;
    quic_conn *prev, *next;
    rly_flushq_node flush;  /* in the transport's queue of connections to flush */
    bool is_announced;      /* on_established delivered */
    bool is_pending;        /* a server handshake counted in npending */
    bool is_unproven;       /* ... and in nunproven: its client's address is not validated */
    rly_pending_node pnode; /* ... and in the pending table */
    rly_tstamp rx_at;       /* ... and its client reached |stage| then */
    unsigned stage;         /* rly_qconn_handshake_stage when last seen */
    const char *cause;      /* why it closes, when the transport closed it (NULL: the error) */
    size_t ncids;           /* entries of the ID map that route to it */
    bool is_closed;         /* torn down: waiting for the timer handle to close */
    bool destroy_pending;   /* asked for inside a callback: done when the outermost event ends */
    int pending_err;
    quic_conn *deferred_next;
    rly_quic_dial_cb dial_cb;
    void *dial_ud;
};

struct rly_quic_transport {
    uv_loop_t *loop;
    rly_quic_ctx *ctx;
    const rly_conn_events *events;
    void *events_ud;
    const rly_log *log;
    rly_mem *mem;
    qsock *socks[RLY_QUIC_MAX_LISTENERS];
    size_t nsocks;
    qsock *dial4, *dial6;
    uv_idle_t idle;
    quic_conn *conns;
    rly_flushq dirty; /* connections to flush from the idle handle */
    cid_entry *buckets[CID_BUCKETS];
    size_t nestablished;
    size_t npending;      /* server handshakes in progress */
    size_t nunproven;     /* those of them from addresses no Retry validated */
    rly_pending pending;  /* the same handshakes, for eviction (transport/pending.h) */
    rly_quic_stats stats; /* the counters; the gauges above are copied in on demand */
    rly_quic_settings set;
    unsigned open_handles;
    bool is_closing;
    unsigned depth;       /* nesting of loop events being handled (ngtcp2 may be on the stack) */
    quic_conn *deferred;  /* connections to destroy once depth is back to 0 */
    bool close_requested; /* rly_quic_transport_close inside an event */
    rly_quic_closed_cb closed_cb;
    void *closed_ud;
    rly_udp_rx *rx;     /* receive buffers of every socket, allocated with the first socket */
    rly_tstamp rx_time; /* when the batch being read came in (one clock read per batch) */
    uint8_t send_buf[RLY_UDP_GSO_MAX_SEGS * RLY_QUIC_MAX_PKT];
};

static void conn_process(quic_conn *c);
static void conn_destroy(quic_conn *c, int err);
static void conn_destroy_now(quic_conn *c, int err);
static void on_timer(uv_timer_t *h);
static void on_idle(uv_idle_t *h);

/* One libuv handle of the transport is released; the last one frees it. */
static void handle_released(rly_quic_transport *t)
{
    if (--t->open_handles > 0 || !t->is_closing)
        return;
    rly_quic_closed_cb cb = t->closed_cb;
    void *ud = t->closed_ud;
    rly_quic_ctx_del(t->ctx);
    rly_pending_free(&t->pending);
    rly_free(t->mem, t->rx);
    rly_free(t->mem, t);
    if (cb)
        cb(ud);
}

static void transport_close_now(rly_quic_transport *t);

/* Loop events are handled between enter and leave. Inside, ngtcp2 may be on the stack (a stream
 * callback runs inside rly_qconn_recv), so a connection is never freed there, and a transport
 * close waits: both happen when the outermost event ends. */
static void enter(rly_quic_transport *t)
{
    t->depth++;
}

static void leave(rly_quic_transport *t)
{
    if (--t->depth > 0)
        return;
    t->depth++; /* destroying calls back into the owner, which may ask for more */
    while (t->deferred) {
        quic_conn *c = t->deferred;
        t->deferred = c->deferred_next;
        conn_destroy_now(c, c->pending_err);
    }
    t->depth--;
    if (t->close_requested) {
        t->close_requested = false;
        transport_close_now(t);
    }
}

/* ---- debug records ---------------------------------------------------------------------- */

/* One debug record about |from| (nothing is formatted unless debug is on). |conn_id| 0: none. */
static void log_remote(const rly_quic_transport *t, const char *msg, uint64_t conn_id,
                       const struct sockaddr *from, const char *reason, int err)
{
    if (!rly_log_enabled(t->log, RLY_LOG_DEBUG))
        return;
    char addr[RLY_MULTIADDR_STR_MAX];
    rly_multiaddr ma;
    if (rly_multiaddr_from_sockaddr(&ma, from, RLY_MA_UDP, true) != 0 ||
        rly_multiaddr_to_string(&ma, addr, sizeof(addr)) < 0)
        addr[0] = '\0';
    RLY_LOGD(t->log, RLY_TARGET_TRANSPORT, RLY_MSG(msg), RLY_F_U64("conn_id", conn_id),
             RLY_F_STR("remote_addr", addr), RLY_F_STR("reason", reason),
             RLY_F_STR("error", err ? rly_strerror(err) : ""));
}

/* ---- connection-ID map ----------------------------------------------------------------------- */

static size_t cid_hash(const uint8_t *id, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a; our IDs are random, a client's first one is too */
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 16777619u;
    return h % CID_BUCKETS;
}

static quic_conn *cid_find(rly_quic_transport *t, const uint8_t *id, size_t len)
{
    for (cid_entry *e = t->buckets[cid_hash(id, len)]; e; e = e->next)
        if (e->len == len && memcmp(e->id, id, len) == 0)
            return e->c;
    return NULL;
}

static void cid_add(rly_quic_transport *t, quic_conn *c, const uint8_t *id, size_t len)
{
    if (len == 0 || len > NGTCP2_MAX_CIDLEN || cid_find(t, id, len))
        return;
    cid_entry *e = rly_malloc(t->mem, sizeof(*e));
    if (!e)
        return; /* that ID does not route: the peer uses another one */
    size_t b = cid_hash(id, len);
    e->c = c;
    e->len = (uint8_t)len;
    memcpy(e->id, id, len);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    c->ncids++;
}

static void cid_remove(rly_quic_transport *t, const uint8_t *id, size_t len)
{
    for (cid_entry **pp = &t->buckets[cid_hash(id, len)]; *pp; pp = &(*pp)->next) {
        cid_entry *e = *pp;
        if (e->len == len && memcmp(e->id, id, len) == 0) {
            *pp = e->next;
            e->c->ncids--;
            rly_free(t->mem, e);
            return;
        }
    }
}

/* Unroutes every ID of |c| (ours now in use, and a client's original one). */
static void cid_remove_conn(rly_quic_transport *t, quic_conn *c)
{
    const uint8_t *ids[16];
    size_t lens[16];
    size_t n = c->q ? rly_qconn_cids(c->q, ids, lens, 16) : 0;
    for (size_t i = 0; i < n && c->ncids > 0; i++)
        if (cid_find(t, ids[i], lens[i]) == c)
            cid_remove(t, ids[i], lens[i]);
    for (size_t b = 0; b < CID_BUCKETS && c->ncids > 0; b++) { /* any the listing missed */
        for (cid_entry **pp = &t->buckets[b]; *pp;) {
            cid_entry *e = *pp;
            if (e->c == c) {
                *pp = e->next;
                c->ncids--;
                rly_free(t->mem, e);
            } else {
                pp = &e->next;
            }
        }
    }
}

static void cid_sync(quic_conn *c)
{
    const uint8_t *ids[16];
    size_t lens[16];
    size_t n = rly_qconn_cids(c->q, ids, lens, 16);
    for (size_t i = 0; i < n; i++)
        cid_add(c->t, c, ids[i], lens[i]);
}

/* ---- qconn events ---------------------------------------------------------------------------- */

static void mark_dirty(quic_conn *c)
{
    rly_quic_transport *t = c->t;
    if (c->is_closed)
        return;
    rly_flushq_push(&t->dirty, &c->flush);
    if (!uv_is_active((uv_handle_t *)&t->idle))
        uv_idle_start(&t->idle, on_idle);
}

static bool conn_announce(quic_conn *c);

/* A peer stream can arrive in the very datagrams that complete the handshake: the connection is
 * announced first. */
static void ev_on_stream(void *ud, rly_qconn *q, rly_stream *s)
{
    quic_conn *c = ud;
    s->conn = &c->base;
    if (conn_announce(c) && !c->is_closed && rly_qconn_error(q) == 0)
        c->t->events->on_stream(c->t->events_ud, &c->base, s);
    else
        (void)rly_stream_reset(s); /* no verified peer yet, or closed from on_established */
}

static void ev_on_dirty(void *ud, rly_qconn *q)
{
    mark_dirty(ud);
}

static void ev_on_cid(void *ud, rly_qconn *q, const uint8_t *id, size_t len, bool add)
{
    quic_conn *c = ud;
    if (add)
        cid_add(c->t, c, id, len);
    else
        cid_remove(c->t, id, len);
}

static const rly_qconn_events qconn_events = {ev_on_stream, ev_on_dirty, ev_on_cid};

/* ---- rly_conn over a qconn ------------------------------------------------------------------ */

static int conn_open_stream(rly_conn *base, rly_stream **ps)
{
    quic_conn *c = (quic_conn *)base;
    if (c->is_closed)
        return RLY_ERR_CLOSED;
    int rv = rly_qconn_open_stream(c->q, ps);
    if (rv == 0)
        (*ps)->conn = base;
    return rv;
}

static void conn_close(rly_conn *base, int err, const char *cause)
{
    quic_conn *c = (quic_conn *)base;
    if (c->is_closed)
        return;
    rly_qconn_close(c->q); /* the CONNECTION_CLOSE goes out from the idle handle */
    mark_dirty(c);
}

static const rly_conn_ops quic_conn_ops = {conn_open_stream, conn_close};

static quic_conn *conn_new(rly_quic_transport *t, qsock *sock, const struct sockaddr *remote,
                           rly_conn_dir dir)
{
    quic_conn *c = rly_calloc(t->mem, 1, sizeof(*c));
    if (!c)
        return NULL;
    c->t = t;
    c->sock = sock;
    memcpy(&c->remote, remote,
           remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                         : sizeof(struct sockaddr_in));
    c->base.ops = &quic_conn_ops;
    c->base.id = rly_conn_new_id();
    c->base.dir = dir;
    c->base.transport = "quic-v1";
    RLY_IGNORE(rly_multiaddr_from_sockaddr(&c->base.remote, remote, RLY_MA_UDP, true));
    RLY_IGNORE(rly_multiaddr_from_sockaddr(&c->base.local, (struct sockaddr *)&sock->u.local,
                                           RLY_MA_UDP, true));
    uv_timer_init(t->loop, &c->timer);
    c->timer.data = c;
    t->open_handles++;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    return c;
}

/* A server handshake whose client reached no new stage for this long is closed. */
static rly_tstamp idle_deadline(const quic_conn *c)
{
    rly_tstamp d = c->t->set.handshake_idle_timeout;
    return c->rx_at > RLY_TSTAMP_MAX - d ? RLY_TSTAMP_MAX : c->rx_at + d;
}

static void timer_closed(uv_handle_t *h)
{
    quic_conn *c = h->data;
    rly_quic_transport *t = c->t;
    rly_free(t->mem, c);
    handle_released(t);
}

/* |c|'s server handshake is over (done or failed). */
static void pending_done(quic_conn *c)
{
    if (!c->is_pending)
        return;
    c->is_pending = false;
    c->t->npending--;
    rly_pending_remove(&c->t->pending, &c->pnode);
    if (c->is_unproven) {
        c->is_unproven = false;
        c->t->nunproven--;
    }
}

/* Tears |c| down, once the current loop event is over (leave). */
static void conn_destroy(quic_conn *c, int err)
{
    rly_quic_transport *t = c->t;
    if (c->is_closed || c->destroy_pending)
        return;
    c->destroy_pending = true;
    c->pending_err = err;
    pending_done(c); /* out of the pending table now: a dying handshake takes no place */
    c->deferred_next = t->deferred;
    t->deferred = c;
    if (t->depth == 0) {
        enter(t);
        leave(t);
    }
}

/* Tears |c| down: streams closed, owner told, IDs unrouted; freed once the timer handle is. */
static void conn_destroy_now(quic_conn *c, int err)
{
    rly_quic_transport *t = c->t;
    if (c->is_closed)
        return;
    c->destroy_pending = false;
    c->is_closed = true;
    pending_done(c);
    rly_flushq_remove(&t->dirty, &c->flush);
    cid_remove_conn(t, c); /* before rly_qconn_del: it lists the IDs */
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    rly_qconn_del(c->q); /* every stream's on_close runs here */
    c->q = NULL;
    c->base.mem = NULL; /* the account went with it */
    if (c->is_announced) {
        t->nestablished--;
        t->events->on_closed(t->events_ud, &c->base, err == RLY_ERR_CLOSED ? 0 : err,
                             c->cause                ? c->cause
                             : err == RLY_ERR_CLOSED ? "closed"
                                                     : rly_strerror(err));
    } else {
        const char *dir = c->base.dir == RLY_CONN_INBOUND ? "quic inbound" : "quic outbound";
        log_remote(t, "Handshake failed", c->base.id, (struct sockaddr *)&c->remote,
                   c->cause ? c->cause : dir, err);
    }
    /* A dialler still waiting: the handshake failed, or the owner closed the connection while
     * it was being announced (conn_announce leaves the callback for here then). */
    if (c->dial_cb) {
        rly_quic_dial_cb cb = c->dial_cb;
        c->dial_cb = NULL;
        cb(c->dial_ud, NULL, err ? err : RLY_ERR_CLOSED);
    }
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* Announces |c| to the owner (and a dialler) once the handshake is done and the peer verified.
 * Returns whether it is announced. */
static bool conn_announce(quic_conn *c)
{
    rly_quic_transport *t = c->t;
    if (c->is_announced)
        return true;
    if (c->is_closed || !rly_qconn_is_established(c->q))
        return false;
    c->is_announced = true;
    c->base.peer = *rly_qconn_peer(c->q);
    t->nestablished++;
    pending_done(c);
    cid_sync(c);
    t->events->on_established(t->events_ud, &c->base);
    if (c->dial_cb && !c->is_closed && rly_qconn_error(c->q) == 0) { /* else destroy reports it */
        rly_quic_dial_cb cb = c->dial_cb;
        c->dial_cb = NULL;
        cb(c->dial_ud, &c->base, 0);
    }
    return true;
}

/* Sends what |c| has now: consecutive datagrams of one size (the last of a train may be shorter)
 * go out as one GSO train. */
static void send_burst(quic_conn *c, rly_tstamp now)
{
    rly_quic_transport *t = c->t;
    const struct sockaddr *to = (const struct sockaddr *)&c->remote;
    uint8_t *buf = t->send_buf;
    size_t off = 0, seg = 0, nseg = 0;
    for (int i = 0; i < SEND_BURST; i++) {
        rly_ssize n = rly_qconn_send(c->q, buf + off, RLY_QUIC_MAX_PKT, now);
        if (n <= 0)
            break;
        size_t len = (size_t)n;
        if (nseg > 0 && len > seg) { /* cannot join the train: it goes, this one starts the next */
            RLY_IGNORE(rly_udp_send(&c->sock->u, to, buf, off, seg));
            memmove(buf, buf + off, len);
            off = nseg = 0;
        }
        if (nseg == 0)
            seg = len;
        off += len;
        nseg++;
        if (len < seg || nseg == RLY_UDP_GSO_MAX_SEGS) {
            RLY_IGNORE(rly_udp_send(&c->sock->u, to, buf, off, seg));
            off = nseg = 0;
        }
    }
    if (off > 0)
        RLY_IGNORE(rly_udp_send(&c->sock->u, to, buf, off, seg));
}

/* Sends what |c| has, announces it once established, re-arms its timer or tears it down. */
static void conn_process(quic_conn *c)
{
    if (c->is_closed || c->destroy_pending)
        return;
    rly_tstamp now = uv_hrtime();
    send_burst(c, now);
    int err = rly_qconn_error(c->q);
    if (err) {
        conn_destroy(c, err);
        return;
    }
    if (!conn_announce(c) && c->is_closed)
        return;
    if (c->is_closed)
        return;
    rly_tstamp when = rly_qconn_expiry(c->q);
    if (c->is_pending && idle_deadline(c) < when)
        when = idle_deadline(c);
    if (when == RLY_TSTAMP_MAX)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, rly_tstamp_ms_until(when, now), 0);
}

/* Closes the server handshake |c| for |cause| (a CONNECTION_CLOSE goes out): evicted, or silent
 * for too long. It leaves the pending table at once. */
static void handshake_close(quic_conn *c, const char *cause)
{
    pending_done(c);
    c->cause = cause;
    rly_qconn_close(c->q);
    mark_dirty(c);
}

/* Times out what the connection's expiry says; a pending CONNECTION_CLOSE (write timeout) still
 * goes out from conn_process. */
static void expire(quic_conn *c, rly_tstamp now)
{
    rly_quic_transport *t = c->t;
    if (c->is_pending && now >= idle_deadline(c)) {
        t->stats.handshake_idle_timeouts++;
        handshake_close(c, REASON_IDLE_TIMEOUT);
        return;
    }
    bool was_pending = c->is_pending;
    if (rly_qconn_handle_expiry(c->q, now) != RLY_ERR_TIMEOUT)
        return;
    if (was_pending) {
        t->stats.handshake_timeouts++;
        c->cause = REASON_HANDSHAKE_TIMEOUT;
    } else if (rly_qconn_write_timed_out(c->q)) {
        t->stats.write_timeouts++;
        c->cause = REASON_WRITE_TIMEOUT;
    }
}

static void on_timer(uv_timer_t *h)
{
    quic_conn *c = h->data;
    rly_quic_transport *t = c->t;
    if (c->is_closed || c->destroy_pending)
        return;
    enter(t);
    expire(c, uv_hrtime());
    conn_process(c); /* sends what is due (a CONNECTION_CLOSE too), or tears it down */
    leave(t);
}

/* Processes every connection that has something to send or whose state moved. */
static void flush_dirty(rly_quic_transport *t)
{
    rly_flushq_node *n;
    while ((n = rly_flushq_pop(&t->dirty)) != NULL)
        conn_process(RLY_FLUSHQ_OWNER(n, quic_conn, flush));
}

static void on_idle(uv_idle_t *h)
{
    rly_quic_transport *t = h->data;
    enter(t);
    flush_dirty(t);
    uv_idle_stop(&t->idle);
    leave(t);
}

/* ---- sockets ------------------------------------------------------------------------------ */

static void initial_dropped(rly_quic_transport *t, const struct sockaddr *from, const char *why)
{
    t->stats.initials_over_cap++;
    log_remote(t, "Initial dropped", 0, from, why, RLY_ERR_LIMIT);
}

/* A server handshake pushed out for a newer one (pending.h). */
static void evict(void *ud, rly_pending_node *n, const char *reason)
{
    handshake_close(RLY_PENDING_OWNER(n, quic_conn, pnode), reason);
}

/* One datagram: to its connection (processed once the whole batch is in, so that one ACK answers
 * many packets), a stateless reset, or a new server connection. */
static void on_datagram(void *ud, const uint8_t *pkt, size_t len, const struct sockaddr *from)
{
    qsock *s = ud;
    rly_quic_transport *t = s->t;
    if (t->is_closing)
        return;
    ngtcp2_version_cid vc;
    int drv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, RLY_QUIC_SCID_LEN);
    if (drv == NGTCP2_ERR_VERSION_NEGOTIATION ||
        (drv == 0 && vc.version != 0 && vc.version != NGTCP2_PROTO_VER_V1)) {
        size_t n = s->is_listener
                       ? rly_quic_version_negotiation(pkt, len, t->send_buf, sizeof(t->send_buf))
                       : 0;
        if (n > 0) {
            RLY_IGNORE(rly_udp_send(&s->u, from, t->send_buf, n, 0));
            t->stats.version_negotiations++;
        }
        return;
    }
    if (drv != 0)
        return; /* garbage: dropped */
    quic_conn *c = cid_find(t, vc.dcid, vc.dcidlen);
    rly_tstamp now = t->rx_time;
    if (c && c->destroy_pending)
        return;
    if (c) {
        RLY_IGNORE(rly_qconn_recv(c->q, pkt, len, now)); /* an error shows in conn_process */
        if (c->is_pending && rly_qconn_handshake_stage(c->q) > c->stage) {
            /* Progress is a stage reached; more datagrams at the same stage change nothing. */
            c->stage = rly_qconn_handshake_stage(c->q);
            c->rx_at = now;
            rly_pending_touch(&t->pending, &c->pnode, c->stage, now);
        }
        mark_dirty(c);
        return;
    }
    if (vc.version == 0 && (pkt[0] & 0x80)) /* Version Negotiation: we offered only v1 */
        return;
    if (vc.version == 0) { /* a short header for a connection we do not know (any more) */
        size_t n = rly_quic_stateless_reset(t->ctx, vc.dcid, vc.dcidlen, len, t->send_buf,
                                            sizeof(t->send_buf));
        if (n > 0) {
            RLY_IGNORE(rly_udp_send(&s->u, from, t->send_buf, n, 0));
            t->stats.stateless_resets++;
        }
        return;
    }
    if (!s->is_listener || t->is_closing)
        return;
    if (t->nestablished >= t->set.max_connections) {
        initial_dropped(t, from, "too many connections (max_connections)");
        return; /* the client retries its Initial, or gives up */
    }
    if (!rly_mem_admit(t->mem, RLY_MEM_WORK_CONNECTION)) {
        log_remote(t, "Initial dropped", 0, from, "memory budget exceeded (max_memory_mb)",
                   RLY_ERR_LIMIT);
        return; /* counted by rly_mem_admit */
    }
    /* Without room, only a proven address may push a handshake out (a spoofed one must not). */
    bool room = rly_pending_has_room(&t->pending, from);
    size_t reply = 0;
    rly_quic_initial_verdict v = rly_quic_check_initial(
        t->ctx, pkt, len, from, !room || t->nunproven >= t->set.retry_threshold, now, t->send_buf,
        sizeof(t->send_buf), &reply);
    if (v == RLY_QUIC_INITIAL_RETRY || v == RLY_QUIC_INITIAL_BAD_TOKEN) {
        RLY_IGNORE(rly_udp_send(&s->u, from, t->send_buf, reply, 0));
        if (v == RLY_QUIC_INITIAL_RETRY)
            t->stats.retries++;
        else
            t->stats.invalid_tokens++;
        const char *why = !room ? "address validation: no room without pushing a handshake out"
                                : "address validation (retry_threshold)";
        log_remote(t, v == RLY_QUIC_INITIAL_RETRY ? "Retry sent" : "Invalid token", 0, from,
                   v == RLY_QUIC_INITIAL_RETRY
                       ? why
                       : "retry token forged, expired or for another address",
                   0);
        return;
    }
    if (v == RLY_QUIC_INITIAL_DROP)
        return; /* not an Initial we could take: dropped before any allocation */
    if (!room && !rly_pending_make_room(&t->pending, from, now, t->log, "quic", evict, NULL)) {
        initial_dropped(t, from, "too many pending handshakes (max_pending_handshakes)");
        return;
    }
    c = conn_new(t, s, from, RLY_CONN_INBOUND);
    if (!c)
        return;
    rly_qconn *q = NULL;
    int rv = rly_qconn_server_new(&q, t->ctx, (struct sockaddr *)&s->u.local, from, pkt, len, now);
    if (rv != 0) {
        conn_destroy(c, rv); /* not an Initial we take: nothing was sent */
        return;
    }
    c->q = q;
    c->base.mem = rly_qconn_mem(q);
    if (rly_pending_add(&t->pending, &c->pnode, from, now) != 0) {
        conn_destroy(c, RLY_ERR_NOMEM);
        return;
    }
    c->is_pending = true;
    c->rx_at = now;
    t->npending++;
    if (v == RLY_QUIC_INITIAL_TAKE) {
        c->is_unproven = true;
        t->nunproven++;
    }
    rly_qconn_set_events(q, &qconn_events, c);
    cid_sync(c);
    mark_dirty(c);
    log_remote(t, "Inbound connection", c->base.id, from,
               v == RLY_QUIC_INITIAL_VALIDATED ? "quic, address validated by retry" : "quic", 0);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    qsock *s = h->data;
    rly_quic_transport *t = s->t;
    if (t->is_closing || status < 0)
        return; /* a poll error: the reads would fail too; datagrams wait for the next event */
    enter(t);
    for (int i = 0; i < RECV_BATCHES && !t->is_closing; i++) {
        t->rx_time = uv_hrtime();
        if (rly_udp_recv(&s->u, t->rx, on_datagram, s) < RLY_UDP_RX_MSGS)
            break; /* drained */
    }
    flush_dirty(t);
    leave(t);
}

static void sock_closed(uv_handle_t *h)
{
    qsock *s = h->data;
    rly_quic_transport *t = s->t;
    rly_udp_close(&s->u);
    rly_free(t->mem, s);
    handle_released(t);
}

static void sock_close(qsock *s)
{
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static int sock_open(rly_quic_transport *t, const struct sockaddr *sa, bool listener, qsock **ps,
                     int *puv_err)
{
    if (!t->rx && !(t->rx = rly_malloc(t->mem, sizeof(*t->rx))))
        return RLY_ERR_NOMEM;
    qsock *s = rly_calloc(t->mem, 1, sizeof(*s));
    if (!s)
        return RLY_ERR_NOMEM;
    s->t = t;
    s->is_listener = listener;
    s->poll.data = s;
    int err = rly_udp_open(&s->u, sa);
    if (err == 0 && (err = uv_poll_init_socket(t->loop, &s->poll, s->u.fd)) == 0) {
        t->open_handles++;
        if ((err = uv_poll_start(&s->poll, UV_READABLE, on_readable)) == 0) {
            *ps = s;
            return 0;
        }
        sock_close(s);
    } else {
        rly_udp_close(&s->u);
        rly_free(t->mem, s);
    }
    if (puv_err)
        *puv_err = err;
    return err == UV_EADDRINUSE ? RLY_ERR_ADDR_IN_USE : RLY_ERR_IO;
}

/* ---- the transport ------------------------------------------------------------------------- */

int rly_quic_transport_new(rly_quic_transport **pt, uv_loop_t *loop,
                           const rly_quic_settings *settings, const rly_keypair *id,
                           const rly_conn_events *events, void *events_ud, const rly_log *log,
                           rly_mem *mem)
{
    rly_quic_transport *t = rly_calloc(mem, 1, sizeof(*t));
    if (!t)
        return RLY_ERR_NOMEM;
    int rv = rly_quic_ctx_new(&t->ctx, id, settings, log, mem);
    if (rv != 0) {
        rly_free(mem, t);
        return rv;
    }
    rv = rly_pending_init(&t->pending, settings->max_pending_handshakes,
                          settings->max_pending_per_ip, mem);
    if (rv != 0) {
        rly_quic_ctx_del(t->ctx);
        rly_free(mem, t);
        return rv;
    }
    t->loop = loop;
    t->set = *settings;
    t->events = events;
    t->events_ud = events_ud;
    t->log = log;
    t->mem = mem;
    uv_idle_init(loop, &t->idle);
    t->idle.data = t;
    t->open_handles = 1;
    *pt = t;
    return 0;
}

int rly_quic_transport_listen(rly_quic_transport *t, const struct sockaddr *sa, int *puv_err)
{
    if (t->nsocks >= RLY_QUIC_MAX_LISTENERS)
        return RLY_ERR_LIMIT;
    qsock *s;
    int rv = sock_open(t, sa, true, &s, puv_err);
    if (rv == 0)
        t->socks[t->nsocks++] = s;
    return rv;
}

size_t rly_quic_transport_listen_addrs(const rly_quic_transport *t, rly_multiaddr *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsocks && n < cap; i++)
        if (rly_multiaddr_from_sockaddr(&out[n], (const struct sockaddr *)&t->socks[i]->u.local,
                                        RLY_MA_UDP, true) == 0)
            n++;
    return n;
}

/* Splits "/ip4|ip6/.../udp/<port>/quic-v1/p2p/<id>" into a socket address and the peer. */
static int dial_target(const rly_multiaddr *ma, struct sockaddr_storage *ss, rly_peerid *peer)
{
    rly_multiaddr bare;
    uint32_t tr = 0;
    bool quic = false, has_peer = false;
    if (rly_multiaddr_split_p2p(ma, &bare, peer, &has_peer) != 0 || !has_peer ||
        rly_multiaddr_to_sockaddr(&bare, ss, &tr, &quic) != 0 || tr != RLY_MA_UDP || !quic)
        return RLY_ERR_UNSUPPORTED;
    return 0;
}

int rly_quic_transport_dial(rly_quic_transport *t, const rly_multiaddr *ma, rly_quic_dial_cb cb,
                            void *ud)
{
    struct sockaddr_storage ss;
    rly_peerid peer;
    if (t->is_closing)
        return RLY_ERR_CLOSED;
    int rv = dial_target(ma, &ss, &peer);
    if (rv != 0)
        return rv;
    bool v6 = ss.ss_family == AF_INET6;
    qsock **pd = v6 ? &t->dial6 : &t->dial4;
    if (!*pd) {
        struct sockaddr_storage any;
        memset(&any, 0, sizeof(any));
        any.ss_family = ss.ss_family;
        rv = sock_open(t, (struct sockaddr *)&any, false, pd, NULL);
        if (rv != 0)
            return rv;
    }
    quic_conn *c = conn_new(t, *pd, (struct sockaddr *)&ss, RLY_CONN_OUTBOUND);
    if (!c)
        return RLY_ERR_NOMEM;
    rv = rly_qconn_client_new(&c->q, t->ctx, (struct sockaddr *)&(*pd)->u.local,
                              (struct sockaddr *)&ss, &peer, uv_hrtime());
    if (rv != 0) {
        conn_destroy(c, rv);
        return rv;
    }
    c->base.mem = rly_qconn_mem(c->q);
    rly_qconn_set_events(c->q, &qconn_events, c);
    cid_sync(c);
    c->dial_cb = cb;
    c->dial_ud = ud;
    mark_dirty(c); /* the ClientHello goes out from the idle handle: |cb| never runs inside */
    return 0;
}

size_t rly_quic_transport_num_connections(const rly_quic_transport *t)
{
    return t->nestablished;
}

void rly_quic_transport_stats(const rly_quic_transport *t, rly_quic_stats *out)
{
    *out = t->stats;
    out->evicted_per_ip = t->pending.evicted[RLY_PENDING_PER_GROUP];
    out->evicted_total = t->pending.evicted[RLY_PENDING_TOTAL];
    out->established = t->nestablished;
    out->pending = t->npending;
    out->unproven = t->nunproven;
}

static void idle_closed(uv_handle_t *h)
{
    handle_released(h->data);
}

void rly_quic_transport_close(rly_quic_transport *t, rly_quic_closed_cb cb, void *ud)
{
    if (t->is_closing || t->close_requested)
        return;
    t->closed_cb = cb;
    t->closed_ud = ud;
    if (t->depth > 0) {
        t->close_requested = true; /* when the current event ends (leave) */
        return;
    }
    transport_close_now(t);
}

static void transport_close_now(rly_quic_transport *t)
{
    t->is_closing = true;
    enter(t);
    /* A CONNECTION_CLOSE for every connection while the sockets are still open, then down. */
    for (quic_conn *c = t->conns; c; c = c->next) {
        if (c->destroy_pending)
            continue;
        rly_qconn_close(c->q);
        conn_process(c); /* sends the close; its error queues the destruction (depth > 0) */
    }
    leave(t); /* destroys them all */
    for (size_t i = 0; i < t->nsocks; i++)
        sock_close(t->socks[i]);
    if (t->dial4)
        sock_close(t->dial4);
    if (t->dial6)
        sock_close(t->dial6);
    uv_close((uv_handle_t *)&t->idle, idle_closed);
}
