/* tcp_conn.c: one TCP connection: the upgrade pipeline (mss -> noise -> mss -> yamux), Yamux
 * streams as rly_streams, the write path and the connection timer.
 *
 * Input: socket bytes -> (STAGE_SEC_MSS) mss | (STAGE_NOISE) noise handshake | Noise transport
 * frames -> plaintext -> (STAGE_MUX_MSS) mss | (STAGE_YAMUX) yamux -> stream callbacks.
 * Output: pulled only when no write is in flight (rly_tcp_conn_flush): module output -> Noise
 * frames -> uv_try_write, the rest (if any) by one uv_write. A slow socket therefore stops the
 * pulling, Yamux stream queues fill up, and stream writers see RLY_ERR_AGAIN: backpressure
 * without unbounded buffers. */
#include "transport/tcp/tcp_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static const char *const mux_protocols[] = {"/yamux/1.0.0"};
static const char *const sec_protocols[] = {RLY_NOISE_PROTOCOL_ID};

static void conn_fail(tcp_conn *c, int err, const char *cause);
static void update_timer(tcp_conn *c);
static void mark_dirty(tcp_conn *c);

#define REASON_WRITE_TIMEOUT "write timeout (write_timeout_secs)"
#define REASON_IDLE_TIMEOUT "handshake idle timeout (handshake_idle_timeout_secs)"

static rly_tstamp after(rly_tstamp t, rly_tstamp d)
{
    return t > RLY_TSTAMP_MAX - d ? RLY_TSTAMP_MAX : t + d;
}

/* ---- output buffer ---------------------------------------------------------------------- */

static int out_reserve(tcp_conn *c, size_t n)
{
    if (c->out_cap - c->out_len >= n)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap - c->out_len < n)
        cap *= 2;
    uint8_t *p = rly_realloc(&c->mem, c->out, cap);
    if (!p)
        return RLY_ERR_NOMEM;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int out_append(tcp_conn *c, const uint8_t *p, size_t n)
{
    int rv = out_reserve(c, n);
    if (rv == 0 && n) {
        memcpy(c->out + c->out_len, p, n);
        c->out_len += n;
    }
    return rv;
}

/* Encrypts |n| plaintext bytes into the output as Noise transport frames. */
static int out_encrypt(tcp_conn *c, const uint8_t *p, size_t n)
{
    size_t need = rly_noise_encrypted_len(n);
    int rv = out_reserve(c, need);
    if (rv != 0)
        return rv;
    rly_ssize w = rly_noise_encrypt(c->noise, p, n, c->out + c->out_len, need);
    if (w < 0)
        return (int)w;
    c->out_len += (size_t)w;
    return 0;
}

/* Moves an rly_dynbuf's bytes (module output before Noise) into the output. */
static int out_take_dynbuf(tcp_conn *c, rly_dynbuf *b)
{
    int rv = out_append(c, b->data, b->len);
    rly_dynbuf_free(b);
    return rv;
}

/* ---- pulling module output -------------------------------------------------------------- */

/* Pulls multistream-select output; encrypted when Noise is already running. */
static int pull_mss(tcp_conn *c)
{
    uint8_t buf[RLY_MSS_MAX_MSG * 2 + 64];
    while (c->mss && rly_mss_want_write(c->mss)) {
        rly_ssize n = rly_mss_send(c->mss, buf, sizeof(buf));
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        int rv = c->stage == STAGE_SEC_MSS ? out_append(c, buf, (size_t)n)
                                           : out_encrypt(c, buf, (size_t)n);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Pulls Yamux frames, one Noise frame at a time, until a write batch is full. */
static int pull_yamux(tcp_conn *c)
{
    uint8_t *plain = c->t->plain_buf;
    while (c->yamux && c->out_len < TCP_WRITE_BATCH && rly_yamux_want_write(c->yamux)) {
        rly_ssize n = rly_yamux_send(c->yamux, plain, TCP_PLAIN_CHUNK, rly_tcp_now());
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        int rv = out_encrypt(c, plain, (size_t)n);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* ---- write progress (write_timeout) -------------------------------------------------------- */

/* Output is waiting for the socket (or the stream under us): the write clock runs from now unless
 * it already does. */
static void write_waiting(tcp_conn *c)
{
    if (c->wstall_at != RLY_TSTAMP_MAX)
        return;
    c->wstall_at = rly_tcp_now();
    if (c->t->settings.write_timeout)
        update_timer(c);
}

/* Some output went out: the clock starts over, or stops when nothing is left. */
static void write_progressed(tcp_conn *c, bool more)
{
    c->wstall_at = more ? rly_tcp_now() : RLY_TSTAMP_MAX;
}

/* At the write deadline: whether the socket took some of the write in flight since the last
 * look (libuv's queue shrank); then the clock starts over. */
static bool write_moved(tcp_conn *c)
{
    if (c->is_over_stream || !c->write_inflight)
        return false;
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->handle);
    bool moved = q < c->wq_seen;
    c->wq_seen = q;
    return moved;
}

static void on_write(uv_write_t *req, int status)
{
    tcp_conn *c = req->data;
    rly_free(&c->mem, c->wbuf);
    c->wbuf = NULL;
    c->write_inflight = false;
    if (c->is_closed)
        return;
    write_progressed(c, true); /* rly_tcp_conn_flush stops the clock if nothing follows */
    if (status < 0) {
        conn_fail(c, RLY_ERR_IO, uv_strerror(status));
        return;
    }
    rly_tcp_conn_flush(c);
}

/* A relayed connection writes into the stream under it; what that stream does not accept yet
 * stays in |out| until its on_writable (then nothing more is pulled: backpressure). */
static void flush_to_stream(tcp_conn *c)
{
    rly_ssize w = rly_stream_write(c->under, c->out, c->out_len);
    if (w == RLY_ERR_AGAIN) {
        write_waiting(c);
        return;
    }
    if (w < 0) {
        conn_fail(c, (int)w, "relayed stream write failed");
        return;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    write_progressed(c, c->out_len > 0);
    if (c->out_len > 0)
        return; /* a short write: the stream calls on_writable when it has room */
    bool more = c->yamux && rly_yamux_want_write(c->yamux);
    if (more)
        mark_dirty(c); /* pull_yamux stopped at one batch: pull the next (no on_write here) */
    else if (c->is_shutting_down)
        conn_fail(c, c->close_err, c->close_cause);
}

void rly_tcp_conn_flush(tcp_conn *c)
{
    if (c->is_closed || c->write_inflight || (c->is_over_stream && c->out_len > 0 && !c->under))
        return;
    int rv = c->stage == STAGE_YAMUX ? pull_yamux(c) : pull_mss(c);
    if (rv != 0) {
        conn_fail(c, rv, "output failed");
        return;
    }
    if (c->out_len == 0) {
        c->wstall_at = RLY_TSTAMP_MAX;
        if (c->is_shutting_down)
            conn_fail(c, c->close_err, c->close_cause);
        return;
    }
    if (c->is_over_stream) {
        flush_to_stream(c);
        return;
    }
    /* First straight into the socket: most writes fit its buffer whole, and then there is no
     * write request, no completion callback, no write clock and none of the epoll_ctl that libuv
     * makes after every completed uv_write (one system call per flush saved). */
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int tw = uv_try_write((uv_stream_t *)&c->handle, &b, 1);
    if (tw < 0 && tw != UV_EAGAIN) {
        conn_fail(c, RLY_ERR_IO, uv_strerror(tw));
        return;
    }
    size_t done = tw > 0 ? (size_t)tw : 0;
    if (done == c->out_len) {
        /* all out: the buffer goes back (an idle connection holds none), the next batch waits
         * for the next turn of the loop so that one busy connection cannot hold it */
        rly_free(&c->mem, c->out);
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        write_progressed(c, false);
        if (c->yamux && rly_yamux_want_write(c->yamux))
            mark_dirty(c);
        else if (c->is_shutting_down)
            conn_fail(c, c->close_err, c->close_cause);
        return;
    }
    if (done > 0)
        c->wstall_at = RLY_TSTAMP_MAX; /* progress: write_waiting below starts the clock anew */
    b = uv_buf_init((char *)c->out + done, (unsigned)(c->out_len - done));
    c->wbuf = c->out;
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->handle, &b, 1, on_write) != 0) {
        rly_free(&c->mem, c->wbuf);
        c->wbuf = NULL;
        conn_fail(c, RLY_ERR_IO, "write failed");
        return;
    }
    c->write_inflight = true;
    c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)&c->handle);
    write_waiting(c);
}

static void mark_dirty(tcp_conn *c)
{
    rly_tcp_transport_mark_dirty(c->t, c);
}

/* ---- rly_stream over Yamux ---------------------------------------------------------------- */

static tcp_stream *as_ts(rly_stream *s)
{
    return (tcp_stream *)s;
}

static rly_ssize ts_write(rly_stream *s, const uint8_t *data, size_t len)
{
    tcp_stream *ts = as_ts(s);
    if (!ts->conn->yamux)
        return RLY_ERR_CLOSED;
    rly_ssize n = rly_yamux_stream_write(ts->conn->yamux, ts->yid, data, len);
    if (n > 0)
        mark_dirty(ts->conn);
    if (n == 0 && len > 0)
        return RLY_ERR_AGAIN;
    return n;
}

static int ts_shutdown(rly_stream *s)
{
    tcp_stream *ts = as_ts(s);
    if (!ts->conn->yamux)
        return RLY_ERR_CLOSED;
    mark_dirty(ts->conn);
    return rly_yamux_stream_shutdown(ts->conn->yamux, ts->yid);
}

static int ts_reset(rly_stream *s)
{
    tcp_conn *c = as_ts(s)->conn;
    uint32_t yid = as_ts(s)->yid;
    if (!c->yamux)
        return RLY_ERR_CLOSED;
    mark_dirty(c);
    /* on_stream_close runs inside and frees |s|: do not touch it afterwards. */
    return rly_yamux_stream_reset(c->yamux, yid);
}

static int ts_consume(rly_stream *s, size_t n)
{
    tcp_stream *ts = as_ts(s);
    if (!ts->conn->yamux)
        return RLY_ERR_CLOSED;
    int rv = rly_yamux_stream_consume(ts->conn->yamux, ts->yid, n);
    if (rv == 0)
        mark_dirty(ts->conn);
    return rv;
}

static const rly_stream_ops tcp_stream_ops = {ts_write, ts_shutdown, ts_reset, ts_consume};

static tcp_stream *stream_new(tcp_conn *c, uint32_t yid, bool outbound)
{
    tcp_stream *ts = rly_calloc(&c->mem, 1, sizeof(*ts));
    if (!ts)
        return NULL;
    ts->base.ops = &tcp_stream_ops;
    ts->base.conn = &c->base;
    ts->base.id = ++c->t->next_stream_id;
    ts->base.is_outbound = outbound;
    ts->is_announced = outbound; /* only peer-opened streams are announced to the swarm */
    ts->conn = c;
    ts->yid = yid;
    return ts;
}

/* A peer-opened stream is announced to the swarm at its first event or once the read that
 * opened it is processed, whichever comes first: never from inside on_stream_open, where the
 * stream may not be writable yet. Returns false when the stream is gone afterwards: the swarm
 * may refuse or reset it inside on_stream, which frees |ts|. */
static bool announce(tcp_stream *ts)
{
    tcp_conn *c = ts->conn;
    if (ts->is_announced)
        return true;
    ts->is_announced = true;
    for (tcp_stream **pp = &c->new_streams; *pp; pp = &(*pp)->next_new) {
        if (*pp == ts) {
            *pp = ts->next_new;
            break;
        }
    }
    ts->next_new = NULL;
    uint32_t yid = ts->yid;
    RLY_IGNORE(rly_yamux_stream_set_user_data(c->yamux, yid, ts));
    c->t->events->on_stream(c->t->events_ud, &c->base, &ts->base);
    /* Yamux stream IDs are never reused: a live |yid| still carries |ts|. */
    return !c->is_closed && c->yamux && rly_yamux_stream_get_user_data(c->yamux, yid) != NULL;
}

static void announce_new_streams(tcp_conn *c)
{
    while (c->new_streams && !c->is_closed)
        (void)announce(c->new_streams);
}

static int y_on_stream_open(rly_yamux *y, uint32_t id, void *ud)
{
    tcp_conn *c = ud;
    if (c->is_shutting_down || c->t->is_closing)
        return 1;
    tcp_stream *ts = stream_new(c, id, false);
    if (!ts)
        return 1;
    ts->next_new = c->new_streams;
    c->new_streams = ts;
    return 0;
}

/* The stream object of |id|: attached at the first callback after on_stream_open. */
static rly_stream *stream_of(rly_yamux *y, uint32_t id, void *sud)
{
    if (sud)
        return sud;
    tcp_conn *c = rly_yamux_get_user_data(y);
    for (tcp_stream *ts = c->new_streams; ts; ts = ts->next_new) {
        if (ts->yid == id) {
            RLY_IGNORE(rly_yamux_stream_set_user_data(y, id, ts));
            return &ts->base;
        }
    }
    return NULL;
}

static int y_on_stream_data(rly_yamux *y, uint32_t id, void *sud, const uint8_t *data, size_t len)
{
    rly_stream *s = stream_of(y, id, sud);
    if (!s || !announce((tcp_stream *)s))
        return 0;
    if (s->handler && s->handler->on_data)
        s->handler->on_data(s, s->handler_ud, data, len);
    else
        (void)rly_stream_consume(s, len); /* nobody listens: drop, but keep the window open */
    return 0;
}

static int y_on_stream_fin(rly_yamux *y, uint32_t id, void *sud)
{
    rly_stream *s = stream_of(y, id, sud);
    if (!s || !announce((tcp_stream *)s))
        return 0;
    if (s->handler && s->handler->on_fin)
        s->handler->on_fin(s, s->handler_ud);
    return 0;
}

static int y_on_stream_writable(rly_yamux *y, uint32_t id, void *sud)
{
    rly_stream *s = stream_of(y, id, sud);
    if (s && s->handler && s->handler->on_writable)
        s->handler->on_writable(s, s->handler_ud);
    return 0;
}

static int y_on_stream_close(rly_yamux *y, uint32_t id, void *sud, int reason)
{
    rly_stream *s = stream_of(y, id, sud);
    if (!s)
        return 0;
    tcp_stream *ts = (tcp_stream *)s;
    tcp_conn *c = ts->conn;
    if (!ts->is_announced) {
        /* Gone before anyone saw it: just forget it. */
        ts->is_announced = true;
        for (tcp_stream **pp = &c->new_streams; *pp; pp = &(*pp)->next_new) {
            if (*pp == ts) {
                *pp = ts->next_new;
                break;
            }
        }
    } else if (s->handler && s->handler->on_close) {
        s->handler->on_close(s, s->handler_ud, reason);
    }
    rly_free(&c->mem, s);
    return 0;
}

static int y_on_goaway(rly_yamux *y, uint32_t code, void *ud)
{
    tcp_conn *c = ud;
    RLY_LOGD(c->t->log, RLY_TARGET_TRANSPORT, RLY_MSG("Peer sent GoAway"),
             RLY_F_U64("conn_id", c->base.id), RLY_F_U64("code", code));
    return 0;
}

static const rly_yamux_callbacks yamux_cb = {
    .on_stream_open = y_on_stream_open,
    .on_stream_data = y_on_stream_data,
    .on_stream_fin = y_on_stream_fin,
    .on_stream_writable = y_on_stream_writable,
    .on_stream_close = y_on_stream_close,
    .on_goaway = y_on_goaway,
};

static int conn_open_stream(rly_conn *base, rly_stream **ps)
{
    tcp_conn *c = (tcp_conn *)base;
    uint32_t id;
    if (!c->yamux || c->is_shutting_down)
        return RLY_ERR_CLOSED;
    tcp_stream *ts = stream_new(c, 0, true);
    if (!ts)
        return RLY_ERR_NOMEM;
    int rv = rly_yamux_open_stream(c->yamux, &id, ts);
    if (rv != 0) {
        rly_free(&c->mem, ts);
        return rv;
    }
    ts->yid = id;
    mark_dirty(c);
    *ps = &ts->base;
    return 0;
}

static void conn_close_api(rly_conn *base, int err, const char *cause)
{
    rly_tcp_conn_shutdown((tcp_conn *)base, cause);
}

static const rly_conn_ops tcp_conn_ops = {conn_open_stream, conn_close_api};

/* ---- upgrade stages ------------------------------------------------------------------------ */

/* Listener side: the one protocol this stage accepts. */
static int mss_select(void *ud, const char *proto, size_t len)
{
    const tcp_conn *c = ud;
    const char *want = c->stage == STAGE_SEC_MSS ? sec_protocols[0] : mux_protocols[0];
    return strlen(want) == len && memcmp(want, proto, len) == 0;
}

static int start_mss(tcp_conn *c, const char *const *protocols)
{
    rly_mss_settings s;
    rly_mss_settings_default(&s);
    if (c->base.dir == RLY_CONN_INBOUND) {
        s.select = mss_select;
        s.user_data = c;
    } else {
        s.protocols = protocols;
        s.nprotocols = 1;
    }
    return rly_mss_new(&c->mss, c->base.dir == RLY_CONN_INBOUND ? RLY_MSS_LISTENER : RLY_MSS_DIALER,
                       &s, &c->mem);
}

static void established(tcp_conn *c)
{
    c->is_established = true;
    c->deadline = c->idle_deadline = RLY_TSTAMP_MAX;
    rly_pending_remove(&c->t->pending, &c->pnode);
    c->t->npending--;
    c->t->nestablished++;
    c->t->events->on_established(c->t->events_ud, &c->base);
    if (c->dial_cb && !c->is_closed) {
        rly_tcp_dial_cb cb = c->dial_cb;
        c->dial_cb = NULL;
        cb(c->dial_ud, &c->base, 0);
    }
}

static int start_yamux(tcp_conn *c)
{
    rly_yamux_settings s;
    rly_yamux_settings_default(&s);
    s.keepalive_interval = c->t->settings.keepalive_interval;
    s.recv_window = c->t->settings.yamux_window;
    /* Data frames of up to 64 KiB, as go-yamux and js-libp2p-yamux send (rust: 16 KiB). Each
     * rly_yamux_send call fills one Noise frame, and a frame is cut to the room left, so bulk
     * data goes out as one Yamux frame per Noise frame: through a circuit, 7 % more throughput
     * than 16 KiB frames (the per-frame work at both ends, bench/RESULTS.md). */
    s.max_send_frame = TCP_YAMUX_MAX_FRAME;
    s.max_inbound_streams = c->t->settings.max_inbound_streams;
    rly_mss_del(c->mss);
    c->mss = NULL;
    if (c->t->nestablished >= c->t->settings.max_connections)
        return RLY_ERR_LIMIT;
    int rv = rly_yamux_new(&c->yamux, c->base.dir == RLY_CONN_OUTBOUND, &s, &yamux_cb, &c->mem,
                           c->t->log, c);
    if (rv != 0)
        return rv;
    c->stage = STAGE_YAMUX;
    established(c);
    return 0;
}

static int start_noise(tcp_conn *c)
{
    rly_dynbuf out;
    int rv = pull_mss(c); /* the echo of "/noise" goes out before the first Noise message */
    rly_mss_del(c->mss);
    c->mss = NULL;
    if (rv != 0)
        return rv;
    rv = rly_noise_new(&c->noise, c->base.dir == RLY_CONN_OUTBOUND, c->t->noise_id,
                       c->has_expected ? &c->expected : NULL, NULL, &c->mem);
    if (rv != 0)
        return rv;
    c->stage = STAGE_NOISE;
    rly_dynbuf_init(&out, &c->mem, RLY_NOISE_HANDSHAKE_OUT_MAX);
    rv = rly_noise_start(c->noise, &out);
    if (rv == 0)
        rv = out_take_dynbuf(c, &out);
    else
        rly_dynbuf_free(&out);
    return rv;
}

/* The Noise handshake is done: the peer is authenticated. */
static int noise_done(tcp_conn *c)
{
    c->base.peer = *rly_noise_remote_peerid(c->noise);
    if (rly_noise_early_muxer(c->noise))
        return start_yamux(c);
    c->stage = STAGE_MUX_MSS;
    return start_mss(c, mux_protocols);
}

/* Handles multistream-select input; on agreement moves to the next stage. Returns bytes used. */
static rly_ssize feed_mss(tcp_conn *c, const uint8_t *in, size_t len)
{
    rly_ssize used = rly_mss_recv(c->mss, in, len);
    if (used < 0)
        return used;
    switch (rly_mss_get_state(c->mss)) {
    case RLY_MSS_DONE: {
        int rv;
        if (c->stage == STAGE_SEC_MSS) {
            rv = start_noise(c);
        } else {
            rv = pull_mss(c); /* the echo of "/yamux/1.0.0" precedes the first Yamux frame */
            if (rv == 0)
                rv = start_yamux(c);
        }
        return rv ? rv : used;
    }
    case RLY_MSS_REFUSED:
    case RLY_MSS_FAILED: return RLY_ERR_NEGOTIATION;
    case RLY_MSS_NEGOTIATING: break;
    }
    return used;
}

static rly_ssize feed_noise_handshake(tcp_conn *c, const uint8_t *in, size_t len)
{
    rly_dynbuf out;
    rly_dynbuf_init(&out, &c->mem, RLY_NOISE_HANDSHAKE_OUT_MAX);
    rly_ssize used = rly_noise_handshake_recv(c->noise, in, len, &out);
    int rv = used < 0 ? (int)used : out_take_dynbuf(c, &out);
    if (used < 0)
        rly_dynbuf_free(&out);
    if (rv == 0 && rly_noise_get_state(c->noise) == RLY_NOISE_TRANSPORT)
        rv = noise_done(c);
    return rv ? rv : used;
}

/* Plaintext from inside Noise: the muxer negotiation, then Yamux. */
static int feed_plain(tcp_conn *c, const uint8_t *p, size_t len)
{
    while (len > 0 && !c->is_closed) {
        conn_stage before = c->stage;
        rly_ssize used;
        if (c->stage == STAGE_MUX_MSS) {
            used = feed_mss(c, p, len);
        } else {
            used = rly_yamux_recv(c->yamux, p, len, rly_tcp_now());
            if (used >= 0) /* a failed session announces nothing: its streams are dead */
                announce_new_streams(c);
        }
        if (used < 0)
            return (int)used;
        if (used == 0 && c->stage == before)
            break;
        p += used;
        len -= (size_t)used;
    }
    return 0;
}

static int feed_transport(tcp_conn *c, uint8_t *in, size_t len)
{
    while (!c->is_closed) {
        uint8_t *plain;
        size_t plen;
        int rv = rly_noise_decrypt_next(c->noise, &in, &len, &plain, &plen);
        if (rv <= 0)
            return rv;
        rv = feed_plain(c, plain, plen);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int feed(tcp_conn *c, uint8_t *in, size_t len)
{
    while (len > 0 && !c->is_closed) {
        conn_stage before = c->stage;
        rly_ssize used;
        if (c->stage == STAGE_SEC_MSS)
            used = feed_mss(c, in, len);
        else if (c->stage == STAGE_NOISE && rly_noise_get_state(c->noise) != RLY_NOISE_TRANSPORT)
            used = feed_noise_handshake(c, in, len);
        else
            return feed_transport(c, in, len);
        if (used < 0)
            return (int)used;
        if (used == 0 && c->stage == before)
            break;
        in += used;
        len -= (size_t)used;
    }
    return 0;
}

static const char *stage_name(conn_stage s)
{
    static const char *const names[] = {"security negotiation", "noise handshake",
                                        "muxer negotiation", "yamux"};
    return names[s];
}

/* ---- socket events ------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tcp_conn *c = h->data;
    rly_tcp_transport *t = c->t;
    if (!t->read_buf)
        t->read_buf = rly_malloc(t->mem, TCP_READ_BUF);
    buf->base = (char *)t->read_buf;
    buf->len = t->read_buf ? TCP_READ_BUF : 0; /* 0: libuv reports UV_ENOBUFS, the read fails */
}

/* How far the upgrade has come, counted in messages received whole (the pending table's stages):
 * 0 nothing yet, 1 the security protocol agreed, 2 Noise msg1 read, 3 Noise done (muxer
 * negotiation). An outbound upgrade counts its own way (msg2 for Noise); only inbound ones are in
 * the table, but every upgrade has the idle deadline. */
static unsigned handshake_step(const tcp_conn *c)
{
    switch (c->stage) {
    case STAGE_SEC_MSS: return 0;
    case STAGE_NOISE: return 1 + (c->noise ? rly_noise_messages_read(c->noise) : 0);
    default: return 3;
    }
}

/* Bytes came in during the upgrade. Progress is a message received whole, nothing less: then
 * the idle deadline starts again and the pending table sees the connection fresh at its new
 * step. Bytes that finish no message change nothing, so a peer that trickles a byte now and then
 * cannot keep a stalled handshake alive, nor look fresher than one that sends nothing (issue 11
 * review: handshakes parked after Noise by a trickle outlived honest clients). */
static void handshake_progress(tcp_conn *c)
{
    if (c->is_established || c->is_closed || c->is_shutting_down)
        return;
    unsigned step = handshake_step(c);
    if (step == c->idle_stage)
        return;
    rly_tstamp now = rly_tcp_now();
    c->idle_stage = step;
    c->idle_deadline = after(now, c->t->settings.handshake_idle_timeout);
    rly_pending_touch(&c->t->pending, &c->pnode, step, now);
}

/* The peer broke the protocol: stop reading, let what is already queued go out (the "na"
 * answers, Yamux's GoAway with its error code), then close; cut after TCP_CLOSE_GRACE. */
static void fail_after_flush(tcp_conn *c, int err, const char *cause)
{
    if (c->is_closed || c->is_shutting_down)
        return;
    c->is_shutting_down = true;
    c->close_err = err;
    c->close_cause = cause;
    c->deadline = rly_tcp_now() + TCP_CLOSE_GRACE; /* the only deadline from now on */
    c->idle_deadline = RLY_TSTAMP_MAX;
    if (!c->is_over_stream)
        uv_read_stop((uv_stream_t *)&c->handle);
    update_timer(c);
    mark_dirty(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tcp_conn *c = s->data;
    if (nread == 0 || c->is_closed)
        return;
    if (nread < 0) {
        conn_fail(c, nread == UV_EOF ? 0 : RLY_ERR_IO,
                  nread == UV_EOF ? "remote closed" : uv_strerror((int)nread));
        return;
    }
    int rv = feed(c, (uint8_t *)buf->base, (size_t)nread);
    if (rv != 0) {
        fail_after_flush(c, rv, c->is_established ? rly_strerror(rv) : stage_name(c->stage));
        return;
    }
    handshake_progress(c);
    mark_dirty(c);
    update_timer(c);
}

/* Whether output has waited write_timeout without the socket taking a byte of it. */
static bool write_timed_out(tcp_conn *c, rly_tstamp now)
{
    rly_tstamp wt = c->t->settings.write_timeout;
    if (wt == 0 || c->wstall_at == RLY_TSTAMP_MAX || now < after(c->wstall_at, wt))
        return false;
    if (!write_moved(c))
        return true;
    c->wstall_at = now;
    return false;
}

static void on_timer(uv_timer_t *h)
{
    tcp_conn *c = h->data;
    rly_tstamp now = rly_tcp_now();
    if (c->is_closed)
        return;
    if (now >= c->deadline) {
        if (c->is_shutting_down) {
            conn_fail(c, c->close_err, c->close_cause);
            return;
        }
        c->t->stats.handshake_timeouts++;
        conn_fail(c, RLY_ERR_TIMEOUT, "handshake timeout");
        return;
    }
    if (now >= c->idle_deadline) {
        c->t->stats.idle_timeouts++;
        conn_fail(c, RLY_ERR_TIMEOUT, REASON_IDLE_TIMEOUT);
        return;
    }
    if (!c->is_shutting_down && write_timed_out(c, now)) {
        c->t->stats.write_timeouts++;
        c->close_reset = true; /* the peer does not read: drop what the kernel still holds */
        conn_fail(c, RLY_ERR_TIMEOUT, REASON_WRITE_TIMEOUT);
        return;
    }
    if (c->yamux) {
        int rv = rly_yamux_handle_expiry(c->yamux, now);
        if (rv != 0) {
            conn_fail(c, rv, rv == RLY_ERR_TIMEOUT ? "keepalive timeout" : rly_strerror(rv));
            return;
        }
        mark_dirty(c);
    }
    update_timer(c);
}

static void update_timer(tcp_conn *c)
{
    rly_tstamp when = c->deadline;
    if (c->idle_deadline < when)
        when = c->idle_deadline;
    if (c->t->settings.write_timeout && c->wstall_at != RLY_TSTAMP_MAX && !c->is_shutting_down) {
        rly_tstamp w = after(c->wstall_at, c->t->settings.write_timeout);
        if (w < when)
            when = w;
    }
    if (c->yamux) {
        rly_tstamp y = rly_yamux_get_expiry(c->yamux);
        if (y < when)
            when = y;
    }
    if (when == RLY_TSTAMP_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, rly_tstamp_ms_until(when, rly_tcp_now()), 0);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    tcp_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    rly_tcp_transport *t = c->t;
    rly_tcp_transport_unlink(t, c);
    rly_free(&c->mem, c->out);
    rly_free(t->mem, c);
    rly_tcp_transport_conn_freed(t);
}

static void log_failed_handshake(tcp_conn *c, int err, const char *cause)
{
    char addr[RLY_MULTIADDR_STR_MAX];
    if (!rly_log_enabled(c->t->log, RLY_LOG_DEBUG))
        return;
    if (rly_multiaddr_to_string(&c->base.remote, addr, sizeof(addr)) < 0)
        addr[0] = '\0';
    RLY_LOGD(c->t->log, RLY_TARGET_TRANSPORT, RLY_MSG("Handshake failed"),
             RLY_F_U64("conn_id", c->base.id), RLY_F_STR("remote_addr", addr),
             RLY_F_STR("stage", stage_name(c->stage)), RLY_F_STR("reason", cause),
             RLY_F_STR("error", err ? rly_strerror(err) : "closed by peer"));
}

/* Tears the connection down now: streams get on_close, the swarm on_closed (for established
 * connections) or the dialer its callback; the memory goes once libuv releases the handles. */
static void conn_fail(tcp_conn *c, int err, const char *cause)
{
    if (c->is_closed)
        return;
    c->is_closed = true;
    rly_tcp_transport_unmark_dirty(c->t, c);
    if (c->is_established) {
        rly_yamux_del(c->yamux); /* every stream's on_close runs here */
        c->yamux = NULL;
        c->t->nestablished--;
        c->t->events->on_closed(c->t->events_ud, &c->base, err, cause);
    } else {
        c->t->npending--;
        c->t->stats.failed++;
        rly_pending_remove(&c->t->pending, &c->pnode);
        log_failed_handshake(c, err, cause);
        if (c->dial_cb)
            c->dial_cb(c->dial_ud, NULL, err ? err : RLY_ERR_CLOSED);
    }
    rly_mss_del(c->mss);
    rly_noise_del(c->noise);
    c->mss = NULL;
    c->noise = NULL;
    if (c->is_over_stream) {
        rly_stream *under = c->under;
        c->under = NULL;
        if (under) {
            rly_stream_set_handler(under, NULL, NULL);
            (void)rly_stream_reset(under);
        }
    } else if (!c->close_reset || uv_tcp_close_reset(&c->handle, handle_closed) != 0) {
        uv_close((uv_handle_t *)&c->handle, handle_closed);
    }
    uv_close((uv_handle_t *)&c->timer, handle_closed);
}

void rly_tcp_conn_shutdown(tcp_conn *c, const char *cause)
{
    if (c->is_closed || c->is_shutting_down)
        return;
    if (!c->is_established) {
        conn_fail(c, RLY_ERR_CLOSED, cause);
        return;
    }
    c->is_shutting_down = true;
    c->close_err = 0;
    c->close_cause = cause;
    RLY_IGNORE(rly_yamux_goaway(c->yamux, 0));
    c->deadline = rly_tcp_now() + TCP_CLOSE_GRACE; /* the only deadline from now on */
    update_timer(c);
    mark_dirty(c);
}

static tcp_conn *conn_new(rly_tcp_transport *t, rly_conn_dir dir, rly_stream *under)
{
    tcp_conn *c = rly_calloc(t->mem, 1, sizeof(*c));
    if (!c)
        return NULL;
    if (!under && uv_tcp_init(t->loop, &c->handle) != 0) {
        rly_free(t->mem, c);
        return NULL;
    }
    uv_timer_init(t->loop, &c->timer);
    c->handle.data = c->timer.data = c;
    c->open_handles = under ? 1 : 2;
    c->under = under;
    c->is_over_stream = under != NULL;
    c->t = t;
    rly_mem_init_account(&c->mem, t->mem, t->settings.max_conn_memory);
    c->base.mem = &c->mem;
    c->base.ops = &tcp_conn_ops;
    c->base.id = rly_conn_new_id();
    c->base.dir = dir;
    c->base.transport = "tcp";
    rly_tstamp now = rly_tcp_now();
    c->deadline = after(now, t->settings.handshake_timeout);
    c->idle_deadline = after(now, t->settings.handshake_idle_timeout);
    c->wstall_at = RLY_TSTAMP_MAX;
    t->npending++;
    rly_tcp_transport_link(t, c);
    return c;
}

static void fill_addrs(tcp_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&ss, &len) == 0)
        RLY_IGNORE(rly_multiaddr_from_sockaddr(&c->base.remote, (struct sockaddr *)&ss, RLY_MA_TCP,
                                               false));
    len = sizeof(ss);
    if (uv_tcp_getsockname(&c->handle, (struct sockaddr *)&ss, &len) == 0)
        RLY_IGNORE(
            rly_multiaddr_from_sockaddr(&c->base.local, (struct sockaddr *)&ss, RLY_MA_TCP, false));
}

/* Starts reading and the first stage; the listener also sends its multistream header now. */
static void conn_start(tcp_conn *c)
{
    int rv;
    fill_addrs(c);
    uv_tcp_nodelay(&c->handle, 1);
    rv = start_mss(c, sec_protocols);
    if (rv == 0)
        rv = uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0 ? 0 : RLY_ERR_IO;
    if (rv != 0) {
        conn_fail(c, rv, "start failed");
        return;
    }
    update_timer(c);
    mark_dirty(c);
}

/* An accepted connection may have its first bytes waiting already: a client sends them as soon as
 * its connect completes, and under a flood a connection waits in the accept queue. They are read
 * at once, so that an honest handshake has moved on (pending.h: later stages are closed last)
 * before libuv takes the next connection of the same accept burst, which may push out the
 * stalest handshake of the address. Nothing waiting (EAGAIN): libuv reads later, as always. */
static void read_waiting(tcp_conn *c)
{
    uv_os_fd_t fd;
    uv_buf_t buf;
    if (c->is_closed || uv_fileno((const uv_handle_t *)&c->handle, &fd) != 0)
        return;
    on_alloc((uv_handle_t *)&c->handle, TCP_READ_BUF, &buf);
    if (buf.len == 0)
        return;
    ssize_t n = recv(fd, buf.base, buf.len, MSG_DONTWAIT);
    if (n > 0)
        on_read((uv_stream_t *)&c->handle, n, &buf);
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        on_read((uv_stream_t *)&c->handle, uv_translate_sys_error(errno), &buf);
    /* n == 0: the peer's FIN; libuv's own read reports it */
}

/* An upgrade pushed out for a newer one (pending.h): closed with a reset, nothing of it is kept. */
static void evict(void *ud, rly_pending_node *n, const char *reason)
{
    tcp_conn *victim = RLY_PENDING_OWNER(n, tcp_conn, pnode);
    victim->close_reset = true;
    conn_fail(victim, RLY_ERR_LIMIT, reason);
}

void rly_tcp_conn_accept(rly_tcp_transport *t, uv_stream_t *server)
{
    tcp_conn *c = conn_new(t, RLY_CONN_INBOUND, NULL);
    if (!c) {
        RLY_LOGW(t->log, RLY_TARGET_TRANSPORT, RLY_MSG("Accept failed"),
                 RLY_F_STR("error", "out of memory"));
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
        conn_fail(c, RLY_ERR_IO, "accept failed");
        return;
    }
    fill_addrs(c);
    if (rly_log_enabled(t->log, RLY_LOG_DEBUG)) {
        char addr[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_to_string(&c->base.remote, addr, sizeof(addr)) < 0)
            addr[0] = '\0';
        RLY_LOGD(t->log, RLY_TARGET_TRANSPORT, RLY_MSG("Inbound connection"),
                 RLY_F_U64("conn_id", c->base.id), RLY_F_STR("remote_addr", addr));
    }
    if (t->nestablished >= t->settings.max_connections) {
        conn_fail(c, RLY_ERR_LIMIT, "too many connections (max_connections)");
        return;
    }
    if (!rly_mem_admit(t->mem, RLY_MEM_WORK_CONNECTION)) {
        conn_fail(c, RLY_ERR_LIMIT, "memory budget exceeded (max_memory_mb)");
        return;
    }
    struct sockaddr_storage ss;
    const struct sockaddr *sa = rly_conn_remote_sockaddr(&c->base, &ss);
    if (!rly_pending_make_room(&t->pending, sa, rly_tcp_now(), t->log, "tcp", evict, NULL)) {
        conn_fail(c, RLY_ERR_LIMIT, "too many pending handshakes (max_pending_handshakes)");
        return;
    }
    if (rly_pending_add(&t->pending, &c->pnode, sa, rly_tcp_now()) != 0) {
        conn_fail(c, RLY_ERR_NOMEM, "out of memory");
        return;
    }
    conn_start(c);
    read_waiting(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    tcp_conn *c = req->data;
    if (c->is_closed)
        return;
    if (status < 0) {
        conn_fail(c, RLY_ERR_IO, uv_strerror(status));
        return;
    }
    conn_start(c);
}

/* Splits "/ip4|ip6/.../tcp/<port>[/p2p/<id>]" into a socket address and the expected peer. */
static int dial_target(const rly_multiaddr *ma, struct sockaddr_storage *ss, tcp_conn *c)
{
    rly_multiaddr bare;
    uint32_t tr = 0;
    if (rly_multiaddr_split_p2p(ma, &bare, &c->expected, &c->has_expected) != 0 ||
        rly_multiaddr_to_sockaddr(&bare, ss, &tr, NULL) != 0 || tr != RLY_MA_TCP)
        return RLY_ERR_UNSUPPORTED;
    return 0;
}

int rly_tcp_conn_dial(rly_tcp_transport *t, const rly_multiaddr *ma, rly_tcp_dial_cb cb, void *ud)
{
    struct sockaddr_storage ss;
    tcp_conn *c = conn_new(t, RLY_CONN_OUTBOUND, NULL);
    if (!c)
        return RLY_ERR_NOMEM;
    int rv = dial_target(ma, &ss, c);
    if (rv == 0) {
        c->creq.data = c;
        rv = uv_tcp_connect(&c->creq, &c->handle, (struct sockaddr *)&ss, on_connect) == 0
                 ? 0
                 : RLY_ERR_IO;
    }
    if (rv != 0) {
        conn_fail(c, rv, "dial failed");
        return rv;
    }
    c->dial_cb = cb;
    c->dial_ud = ud;
    update_timer(c);
    return 0;
}

/* ---- a connection over a stream (relayed) ------------------------------------------------- */

static void under_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    tcp_conn *c = ud;
    size_t total = len, cap = RLY_MEM_CACHE_MIN;
    /* Noise decrypts in place: work on a copy. Not in the loop's shared read buffer: |data| comes
     * from the read of the connection under us, which is still being processed from that buffer
     * (its next Noise frames sit there). A power-of-two size, so the allocator's cache serves
     * it again with the next chunk. */
    if (len == 0)
        return;
    while (cap < len && cap < TCP_RELAYED_CHUNK)
        cap *= 2;
    uint8_t *buf = rly_malloc(&c->mem, cap);
    if (!buf) {
        fail_after_flush(c, RLY_ERR_NOMEM, "out of memory");
        return;
    }
    while (len > 0 && !c->is_closed) {
        size_t n = len < cap ? len : cap;
        memcpy(buf, data, n);
        int rv = feed(c, buf, n);
        if (rv != 0) {
            rly_free(&c->mem, buf);
            fail_after_flush(c, rv, c->is_established ? rly_strerror(rv) : stage_name(c->stage));
            return;
        }
        data += n;
        len -= n;
    }
    rly_free(&c->mem, buf);
    if (c->is_closed || !c->under)
        return;
    (void)rly_stream_consume(c->under, total);
    handshake_progress(c);
    mark_dirty(c);
    update_timer(c);
}

static void under_on_fin(rly_stream *s, void *ud)
{
    conn_fail(ud, 0, "remote closed");
}

static void under_on_writable(rly_stream *s, void *ud)
{
    mark_dirty(ud);
}

static void under_on_close(rly_stream *s, void *ud, int err)
{
    tcp_conn *c = ud;
    c->under = NULL; /* the stream is gone: conn_fail must not reset it */
    conn_fail(c, err ? err : RLY_ERR_CLOSED, "relayed stream closed");
}

static const rly_stream_handler under_handler = {
    .on_data = under_on_data,
    .on_fin = under_on_fin,
    .on_writable = under_on_writable,
    .on_close = under_on_close,
};

int rly_tcp_conn_over_stream(rly_tcp_transport *t, rly_stream *s, rly_conn_dir dir,
                             const rly_peerid *expected, const rly_multiaddr *remote,
                             const uint8_t *rest, size_t restlen, rly_tcp_dial_cb cb, void *ud)
{
    tcp_conn *c = conn_new(t, dir, s);
    if (!c) {
        rly_stream_set_handler(s, NULL, NULL); /* taken: the caller's handler hears nothing */
        (void)rly_stream_reset(s);
        return RLY_ERR_NOMEM;
    }
    if (expected) {
        c->expected = *expected;
        c->has_expected = true;
    }
    if (remote)
        c->base.remote = *remote;
    c->base.transport = "p2p-circuit";
    c->dial_cb = cb;
    c->dial_ud = ud;
    rly_stream_set_handler(s, &under_handler, c);
    int rv = start_mss(c, sec_protocols);
    if (rv != 0) {
        c->dial_cb = NULL;
        conn_fail(c, rv, "start failed");
        return rv;
    }
    update_timer(c);
    mark_dirty(c);
    if (restlen > 0)
        under_on_data(s, c, rest, restlen);
    return 0;
}
