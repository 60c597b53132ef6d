/* yamux.c: the Yamux session: settings, the inbound decoder, frame handling, the output
 * scheduler, keepalive and Go Away (PROTOCOLS.md 4 and 10.6-10.7; specs yamux/README.md).
 *
 * Inbound: rly_yamux_recv runs an explicit state machine (nghttp2's session_mem_recv shape):
 * READ_HEADER collects 12 bytes, READ_DATA hands payload to the stream as it arrives (nothing is
 * buffered), IGN_DATA drains payload nobody wants, IGN_ALL follows a fatal error. Every state
 * resumes at any byte boundary.
 *
 * Outbound: pending output is state, not bytes: a small FIFO of control frames the peer's input
 * made us owe (ping ACKs, RSTs of refused streams), two flags (our ping, Go Away), and two lists
 * of streams (those owing a control frame, and those with queued data and window). Frames are
 * rendered into the caller's buffer by rly_yamux_send, so a blocked writer costs no memory
 * beyond the capped queues.
 *
 * Flood limits (STYLE.md C rule 5, nghttp2's options): ping ACKs owed, control frames owed, a
 * token bucket for frames without progress and one for stream resets/refusals. */
#include "proto/yamux/yamux_internal.h"

#include <string.h>

#define TARGET "relay_server::yamux"

/* The one table of defaults (STYLE.md C rule 5). */
static const rly_yamux_settings default_settings = {
    .max_inbound_streams = 1000,
    .max_outbound_streams = 512,
    .max_ack_backlog = 256,
    .recv_window = RLY_YAMUX_INITIAL_WINDOW,
    .max_send_frame = 16u * 1024u,
    .max_stream_buffer = 256u * 1024u,
    .max_session_buffer = 1024u * 1024u,
    .max_pending_pings = 64,
    .max_pending_control = 1024,
    .empty_frame_burst = 1000,
    .empty_frame_rate = 100,
    .stream_reset_burst = 1000,
    .stream_reset_rate = 33,
    .keepalive_interval = 30 * RLY_NS_PER_S,
    .keepalive_timeout = 10 * RLY_NS_PER_S,
};

/* Upper bounds for validation. */
#define MAX_STREAMS_CAP (1u << 20)
#define MAX_SEND_FRAME (1u << 20)
#define MAX_RATE 1000000000u

void rly_yamux_settings_default(rly_yamux_settings *s)
{
    *s = default_settings;
}

static bool in_range(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi;
}

static bool settings_ok(const rly_yamux_settings *s)
{
    return in_range(s->max_inbound_streams, 1, MAX_STREAMS_CAP) &&
           in_range(s->max_outbound_streams, 1, MAX_STREAMS_CAP) &&
           in_range(s->max_ack_backlog, 1, MAX_STREAMS_CAP) &&
           in_range(s->recv_window, RLY_YAMUX_INITIAL_WINDOW, RLY_YAMUX_MAX_WINDOW) &&
           in_range(s->max_send_frame, 1, MAX_SEND_FRAME) && s->max_stream_buffer >= 1 &&
           s->max_session_buffer >= 1 &&
           in_range(s->max_pending_pings, 1, s->max_pending_control) &&
           in_range(s->max_pending_control, 1, MAX_STREAMS_CAP) && s->empty_frame_burst >= 1 &&
           in_range(s->empty_frame_rate, 1, MAX_RATE) && s->stream_reset_burst >= 1 &&
           in_range(s->stream_reset_rate, 1, MAX_RATE) &&
           (s->keepalive_interval == 0 || s->keepalive_timeout > 0);
}

int rly_yamux_new(rly_yamux **py, bool is_initiator, const rly_yamux_settings *settings,
                  const rly_yamux_callbacks *cb, rly_mem *mem, const rly_log *log, void *user_data)
{
    if (!py)
        return RLY_ERR_INVALID_ARG;
    *py = NULL;
    const rly_yamux_settings *set = settings ? settings : &default_settings;
    if (!cb || !settings_ok(set))
        return RLY_ERR_INVALID_ARG;
    if (!mem)
        mem = rly_mem_default();
    rly_yamux *y = rly_calloc(mem, 1, sizeof(*y));
    if (!y)
        return RLY_ERR_NOMEM;
    y->set = *set;
    y->cb = *cb;
    y->mem = mem;
    y->log = log;
    y->user_data = user_data;
    y->is_client = is_initiator;
    y->next_id = is_initiator ? 1 : 2;
    y->empty_tb.tokens = set->empty_frame_burst;
    y->reset_tb.tokens = set->stream_reset_burst;
    *py = y;
    return 0;
}

void rly_yamux_del(rly_yamux *y)
{
    if (!y)
        return;
    y->is_deleting = true;
    rly_yamux_stream_free_all(y, true);
    rly_free(y->mem, y->cq);
    rly_free(y->mem, y);
}

/* ---- Small helpers ---- */

static rly_tstamp sat_add(rly_tstamp a, rly_tstamp b)
{
    return a > RLY_TSTAMP_MAX - b ? RLY_TSTAMP_MAX : a + b;
}

/* start_clock runs once, on the first call that brings a |now|. */
static void start_clock(rly_yamux *y, rly_tstamp now)
{
    if (y->clock_started)
        return;
    y->clock_started = true;
    y->keepalive_at = sat_add(now, y->set.keepalive_interval);
    y->empty_tb.last = now;
    y->reset_tb.last = now;
}

/* bucket_take refills |b| for the time since its last refill and takes one token. Returns false
 * when the bucket is empty. A clock that goes backwards refills nothing. */
static bool bucket_take(rly_yamux_bucket *b, uint32_t burst, uint32_t rate, rly_tstamp now)
{
    rly_tstamp period = RLY_NS_PER_S / rate;
    if (now < b->last)
        b->last = now;
    rly_tstamp add = (now - b->last) / period;
    if (add > 0) {
        b->tokens = add >= burst - b->tokens ? burst : b->tokens + (uint32_t)add;
        b->last += add * period;
    }
    if (b->tokens == 0)
        return false;
    b->tokens--;
    return true;
}

static int take_empty(rly_yamux *y, rly_tstamp now)
{
    if (bucket_take(&y->empty_tb, y->set.empty_frame_burst, y->set.empty_frame_rate, now))
        return 0;
    return RLY_ERR_FLOODED;
}

static int take_reset(rly_yamux *y, rly_tstamp now)
{
    if (bucket_take(&y->reset_tb, y->set.stream_reset_burst, y->set.stream_reset_rate, now))
        return 0;
    return RLY_ERR_FLOODED;
}

/* is_ours: |id| has the parity of the IDs we open (client odd, server even). */
static bool is_ours(const rly_yamux *y, uint32_t id)
{
    return (id & 1u) == (y->is_client ? 1u : 0u);
}

static int proto_error(rly_yamux *y, const char *why)
{
    RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux protocol error"), RLY_F_STR("reason", why),
             RLY_F_U64("type", y->ib.f.type), RLY_F_U64("flags", y->ib.f.flags),
             RLY_F_U64("stream_id", y->ib.f.stream_id), RLY_F_U64("length", y->ib.f.length));
    return RLY_ERR_PROTO;
}

static int flow_error(rly_yamux *y)
{
    RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux peer exceeded the receive window"),
             RLY_F_U64("stream_id", y->ib.f.stream_id), RLY_F_U64("length", y->ib.f.length));
    return RLY_ERR_FLOW_CONTROL;
}

/* fail makes |err| the session's fatal error (the first one wins) and queues the Go Away that
 * reports it: 1 (protocol error) for what the peer did, 2 (internal error) otherwise. */
static int fail(rly_yamux *y, int err)
{
    if (y->failed)
        return y->failed;
    y->failed = err;
    y->ib.state = RLY_YAMUX_IB_IGN_ALL;
    y->goaway_pending = true;
    y->goaway_sent = true;
    y->goaway_code = rly_err_class_of(err) == RLY_ERR_CLASS_PEER ? RLY_YAMUX_GOAWAY_PROTOCOL
                                                                 : RLY_YAMUX_GOAWAY_INTERNAL;
    RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux session failed"), RLY_F_STR("error", rly_strerror(err)),
             RLY_F_U64("goaway_code", y->goaway_code));
    return err;
}

/* ---- Control frame queue ---- */

static int cq_push(rly_yamux *y, uint8_t type, uint16_t flags, uint32_t id, uint32_t length)
{
    if (y->cq_len >= y->set.max_pending_control)
        return RLY_ERR_FLOODED;
    if (y->cq_head + y->cq_len == y->cq_cap) {
        if (y->cq_head > 0) {
            memmove(y->cq, y->cq + y->cq_head, y->cq_len * sizeof(*y->cq));
            y->cq_head = 0;
        } else {
            uint32_t cap = y->cq_cap ? y->cq_cap * 2 : 4;
            if (cap > y->set.max_pending_control)
                cap = y->set.max_pending_control;
            rly_yamux_frame *q = rly_realloc(y->mem, y->cq, cap * sizeof(*q));
            if (!q)
                return RLY_ERR_NOMEM;
            y->cq = q;
            y->cq_cap = cap;
        }
    }
    y->cq[y->cq_head + y->cq_len++] =
        (rly_yamux_frame){.type = type, .flags = flags, .stream_id = id, .length = length};
    return 0;
}

static rly_yamux_frame cq_pop(rly_yamux *y)
{
    rly_yamux_frame f = y->cq[y->cq_head++];
    if (--y->cq_len == 0) {
        rly_free(y->mem, y->cq);
        y->cq = NULL;
        y->cq_cap = y->cq_head = 0;
    }
    return f;
}

/* ---- Inbound frames ---- */

/* refuse resets a peer stream we will not accept. Refusals count as resets for the churn
 * limit, and the RST waits in the capped control queue. */
static int refuse(rly_yamux *y, uint32_t id, rly_tstamp now)
{
    int rv = take_reset(y, now);
    if (rv != 0)
        return rv;
    return cq_push(y, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_RST, id, 0);
}

/* accept_stream creates peer stream |id| and asks the owner. |*ps| is the live stream, or NULL
 * when it was refused or reset from the callback. */
static int accept_stream(rly_yamux *y, uint32_t id, rly_tstamp now, rly_yamux_stream **ps)
{
    rly_yamux_stream *s = NULL;
    int rv = rly_yamux_stream_new(y, id, RLY_YAMUX_SF_ACK_PENDING, NULL, &s);
    if (rv != 0)
        return rv;
    rv = y->cb.on_stream_open(y, id, y->user_data);
    s = rly_yamux_stream_find_live(y, id);
    if (rv == 0) {
        if (s)
            rly_yamux_stream_schedule(y, s);
        *ps = s;
        return 0;
    }
    if (s)
        rly_yamux_stream_del(y, s); /* never accepted: no on_stream_close */
    if (rv < 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return s ? refuse(y, id, now) : 0;
}

static int on_syn(rly_yamux *y, rly_tstamp now, rly_yamux_stream **ps)
{
    uint32_t id = y->ib.f.stream_id;
    *ps = NULL;
    if (id == 0 || is_ours(y, id))
        return proto_error(y, "SYN with the wrong stream ID parity");
    if (rly_yamux_stream_find(y, id))
        return proto_error(y, "SYN for a stream ID in use");
    if (y->goaway_sent || y->goaway_recv || y->ninbound >= y->set.max_inbound_streams ||
        !y->cb.on_stream_open)
        return refuse(y, id, now);
    return accept_stream(y, id, now, ps);
}

static int on_fin(rly_yamux *y, rly_yamux_stream *s)
{
    if (s->flags & RLY_YAMUX_SF_FIN_RECV)
        return 0;
    s->flags |= RLY_YAMUX_SF_FIN_RECV;
    /* The peer sends nothing more: granting window is pointless (the ACK still goes out). */
    s->wu_delta = 0;
    s->recv_consumed = 0;
    rly_yamux_stream_schedule(y, s);
    uint32_t id = s->id;
    if (y->cb.on_stream_fin && y->cb.on_stream_fin(y, id, s->user_data) != 0)
        return RLY_ERR_CALLBACK_FAILURE;
    s = rly_yamux_stream_find_live(y, id);
    if (s && (s->flags & RLY_YAMUX_SF_FIN_SENT))
        return rly_yamux_stream_close(y, s, 0);
    return 0;
}

static int on_rst(rly_yamux *y, rly_yamux_stream *s, rly_tstamp now)
{
    int rv = take_reset(y, now);
    if (rv != 0)
        return rv;
    return rly_yamux_stream_close(y, s, RLY_ERR_RESET);
}

/* add_window applies a Window Update delta (never with RST: go puts an error code there). */
static int add_window(rly_yamux *y, rly_yamux_stream *s)
{
    uint64_t w = (uint64_t)s->send_window + y->ib.f.length;
    if (w > UINT32_MAX)
        return flow_error(y);
    s->send_window = (uint32_t)w;
    rly_yamux_stream_schedule(y, s);
    return 0;
}

/* start_data accounts a Data payload against the receive window and starts delivering it.
 * Data after the peer's FIN is drained silently. */
static int start_data(rly_yamux *y, rly_yamux_stream *s)
{
    uint32_t len = y->ib.f.length;
    if (len > s->recv_window)
        return flow_error(y);
    if (s->flags & RLY_YAMUX_SF_FIN_RECV)
        return 0;
    s->recv_window -= len; /* the window is taken for the whole frame at once ... */
    y->ib.state = RLY_YAMUX_IB_READ_DATA;
    return 0;
}

/* take_if_empty charges a frame that does nothing at all (no flags, no delta, no payload) to
 * the empty-frame bucket. Frames for closed streams that still carry a FIN, RST or delta are the
 * normal aftermath of a close and cost us no output, so they are not charged. */
static int take_if_empty(rly_yamux *y, rly_tstamp now)
{
    if (y->ib.f.flags == 0 && y->ib.f.length == 0)
        return take_empty(y, now);
    return 0;
}

static int on_stream_frame(rly_yamux *y, rly_tstamp now)
{
    const rly_yamux_frame *f = &y->ib.f;
    rly_yamux_stream *s = NULL;
    int rv;
    if (f->flags & RLY_YAMUX_FLAG_SYN) {
        rv = on_syn(y, now, &s);
        if (rv != 0 || !s)
            return rv;
    } else {
        /* Unknown, closed or reset stream: drop silently (PROTOCOLS.md 4; rust and go too). */
        s = rly_yamux_stream_find_live(y, f->stream_id);
        if (!s)
            return take_if_empty(y, now);
    }
    if ((f->flags & RLY_YAMUX_FLAG_ACK) && (s->flags & RLY_YAMUX_SF_LOCAL) &&
        !(s->flags & RLY_YAMUX_SF_ACKED)) {
        s->flags |= RLY_YAMUX_SF_ACKED;
        y->nbacklog--;
    }
    if (f->flags & RLY_YAMUX_FLAG_RST)
        return on_rst(y, s, now);
    if (f->type == RLY_YAMUX_TYPE_DATA && f->length > 0)
        return start_data(y, s); /* a FIN is handled after the payload */
    if (f->type == RLY_YAMUX_TYPE_WINDOW_UPDATE && (rv = add_window(y, s)) != 0)
        return rv;
    if ((rv = take_if_empty(y, now)) != 0)
        return rv;
    if (f->flags & RLY_YAMUX_FLAG_FIN)
        return on_fin(y, s);
    return 0;
}

/* on_pong: an ACK ping. Only the answer to our outstanding ping counts; others are ignored
 * (go and rust ignore them too). */
static int on_pong(rly_yamux *y, rly_tstamp now)
{
    if (!y->ping_outstanding || y->ib.f.length != y->ping_value)
        return 0;
    y->ping_outstanding = false;
    y->keepalive_at = sat_add(now, y->set.keepalive_interval);
    rly_tstamp rtt = now >= y->ping_sent_at ? now - y->ping_sent_at : 0;
    if (y->cb.on_ping_rtt && y->cb.on_ping_rtt(y, rtt, y->user_data) != 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return 0;
}

/* on_ping: flags must be exactly SYN (answer with ACK and the same value) or exactly ACK (js
 * rejects anything else too). Pings use stream 0 but, like go, we do not check it. */
static int on_ping(rly_yamux *y, rly_tstamp now)
{
    const rly_yamux_frame *f = &y->ib.f;
    int rv = take_empty(y, now);
    if (rv != 0)
        return rv;
    if (f->flags == RLY_YAMUX_FLAG_ACK)
        return on_pong(y, now);
    if (f->flags != RLY_YAMUX_FLAG_SYN)
        return proto_error(y, "ping flags not exactly SYN or ACK");
    if (y->npingacks >= y->set.max_pending_pings)
        return RLY_ERR_FLOODED;
    rv = cq_push(y, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_ACK, 0, f->length);
    if (rv == 0)
        y->npingacks++;
    return rv;
}

static int on_goaway(rly_yamux *y, rly_tstamp now)
{
    int rv = take_empty(y, now);
    if (rv != 0)
        return rv;
    y->goaway_recv = true;
    RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux Go Away received"), RLY_F_U64("code", y->ib.f.length));
    if (y->cb.on_goaway && y->cb.on_goaway(y, y->ib.f.length, y->user_data) != 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return 0;
}

/* on_header acts on a complete header and picks the next state. */
static int on_header(rly_yamux *y, rly_tstamp now)
{
    const rly_yamux_frame *f = &y->ib.f;
    RLY_LOGT(y->log, TARGET, RLY_MSG("Yamux frame received"), RLY_F_U64("type", f->type),
             RLY_F_U64("flags", f->flags), RLY_F_U64("stream_id", f->stream_id),
             RLY_F_U64("length", f->length));
    y->ib.state = RLY_YAMUX_IB_READ_HEADER;
    y->ib.left = 0;
    if (f->type == RLY_YAMUX_TYPE_DATA) {
        /* No stream's window can ever exceed recv_window: a bigger frame is an overrun whatever
         * stream it names. */
        if (f->length > y->set.recv_window)
            return flow_error(y);
        y->ib.left = f->length;
        if (f->length > 0)
            y->ib.state = RLY_YAMUX_IB_IGN_DATA; /* start_data switches to READ_DATA */
    }
    switch (f->type) {
    case RLY_YAMUX_TYPE_PING: return on_ping(y, now);
    case RLY_YAMUX_TYPE_GO_AWAY: return on_goaway(y, now);
    default: return on_stream_frame(y, now);
    }
}

/* deliver hands payload to the stream, unless the owner reset it meanwhile. */
static int deliver(rly_yamux *y, const uint8_t *p, size_t n)
{
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, y->ib.f.stream_id);
    if (!s)
        return 0;
    /* ... but only delivered bytes may be consumed (found by fuzz_yamux_pair: a frame that came
     * in pieces let the owner consume bytes it had not been given yet). */
    s->recv_unconsumed += (uint32_t)n;
    if (!y->cb.on_stream_data)
        return 0;
    if (y->cb.on_stream_data(y, s->id, s->user_data, p, n) != 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return 0;
}

/* end_data finishes a Data frame: its FIN applies after the payload. */
static int end_data(rly_yamux *y)
{
    y->ib.state = RLY_YAMUX_IB_READ_HEADER;
    if (!(y->ib.f.flags & RLY_YAMUX_FLAG_FIN))
        return 0;
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, y->ib.f.stream_id);
    return s ? on_fin(y, s) : 0;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* decode is the inbound state switch (STYLE.md C rule 2). Returns |inlen| or a fatal error. */
static rly_ssize decode(rly_yamux *y, const uint8_t *in, size_t inlen, rly_tstamp now)
{
    size_t pos = 0;
    while (pos < inlen) {
        size_t avail = inlen - pos, n;
        int rv = 0;
        switch (y->ib.state) {
        case RLY_YAMUX_IB_READ_HEADER:
            n = min_size(RLY_YAMUX_FRAME_LEN - y->ib.hlen, avail);
            memcpy(y->ib.hbuf + y->ib.hlen, in + pos, n);
            y->ib.hlen = (uint8_t)(y->ib.hlen + n);
            pos += n;
            if (y->ib.hlen < RLY_YAMUX_FRAME_LEN)
                break;
            y->ib.hlen = 0;
            rv = rly_yamux_frame_decode(&y->ib.f, y->ib.hbuf);
            if (rv != 0)
                rv = proto_error(y, "unknown version or type");
            else
                rv = on_header(y, now);
            break;
        case RLY_YAMUX_IB_READ_DATA:
            n = min_size(y->ib.left, avail);
            y->ib.left -= (uint32_t)n;
            rv = deliver(y, in + pos, n);
            pos += n;
            if (rv == 0 && y->ib.left == 0)
                rv = end_data(y);
            break;
        case RLY_YAMUX_IB_IGN_DATA:
            n = min_size(y->ib.left, avail);
            y->ib.left -= (uint32_t)n;
            pos += n;
            if (y->ib.left == 0)
                y->ib.state = RLY_YAMUX_IB_READ_HEADER;
            break;
        case RLY_YAMUX_IB_IGN_ALL:
        default: return y->failed ? y->failed : RLY_ERR_INTERNAL;
        }
        if (rv != 0)
            return fail(y, rv);
    }
    return (rly_ssize)pos;
}

rly_ssize rly_yamux_recv(rly_yamux *y, const uint8_t *in, size_t inlen, rly_tstamp now)
{
    RLY_ASSERT(!y->in_recv);
    if (y->failed)
        return y->failed;
    start_clock(y, now);
    /* Keepalive pings only an idle session. */
    if (inlen > 0 && !y->ping_outstanding)
        y->keepalive_at = sat_add(now, y->set.keepalive_interval);
    y->in_recv = true;
    rly_ssize rv = decode(y, in, inlen, now);
    y->in_recv = false;
    return rv;
}

/* ---- Outbound ---- */

static size_t put_frame(rly_yamux *y, uint8_t *dest, const rly_yamux_frame *f)
{
    RLY_LOGT(y->log, TARGET, RLY_MSG("Yamux frame sent"), RLY_F_U64("type", f->type),
             RLY_F_U64("flags", f->flags), RLY_F_U64("stream_id", f->stream_id),
             RLY_F_U64("length", f->length));
    rly_yamux_frame_encode(dest, f);
    return RLY_YAMUX_FRAME_LEN;
}

static size_t put(rly_yamux *y, uint8_t *dest, uint8_t type, uint16_t flags, uint32_t id,
                  uint32_t len)
{
    rly_yamux_frame f = {.type = type, .flags = flags, .stream_id = id, .length = len};
    return put_frame(y, dest, &f);
}

static size_t write_goaway(rly_yamux *y, uint8_t *dest)
{
    y->goaway_pending = false;
    RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux Go Away sent"), RLY_F_U64("code", y->goaway_code));
    return put(y, dest, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, y->goaway_code);
}

static size_t write_cq(rly_yamux *y, uint8_t *dest)
{
    rly_yamux_frame f = cq_pop(y);
    if (f.type == RLY_YAMUX_TYPE_PING)
        y->npingacks--;
    return put_frame(y, dest, &f);
}

/* write_stream_ctl writes the Window Update frame a stream owes: the RST of a zombie (which is
 * then freed), or SYN/ACK/FIN with the window delta. */
static int write_stream_ctl(rly_yamux *y, rly_yamux_stream *s, uint8_t *dest)
{
    if (s->flags & RLY_YAMUX_SF_RST_PENDING) {
        put(y, dest, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_RST, s->id, 0);
        rly_yamux_stream_del(y, s);
        return 0;
    }
    uint16_t flags = 0;
    if (s->flags & RLY_YAMUX_SF_SYN_PENDING)
        flags |= RLY_YAMUX_FLAG_SYN;
    if (s->flags & RLY_YAMUX_SF_ACK_PENDING)
        flags |= RLY_YAMUX_FLAG_ACK;
    bool fin = (s->flags & RLY_YAMUX_SF_FIN_PENDING) && !(s->flags & RLY_YAMUX_SF_FIN_SENT) &&
               s->sq_len == 0;
    if (fin)
        flags |= RLY_YAMUX_FLAG_FIN;
    put(y, dest, RLY_YAMUX_TYPE_WINDOW_UPDATE, flags, s->id, s->wu_delta);
    s->wu_delta = 0;
    s->flags &= (uint16_t) ~(RLY_YAMUX_SF_SYN_PENDING | RLY_YAMUX_SF_ACK_PENDING);
    if (fin)
        s->flags |= RLY_YAMUX_SF_FIN_SENT;
    rly_yamux_stream_schedule(y, s);
    if (fin && (s->flags & RLY_YAMUX_SF_FIN_RECV))
        return rly_yamux_stream_close(y, s, 0);
    return 0;
}

/* write_data writes one Data frame of |s| into |room| bytes (more than a header), within the
 * peer's window and max_send_frame, then moves |s| to the back of the data list. */
static int write_data(rly_yamux *y, rly_yamux_stream *s, uint8_t *dest, size_t room, size_t *pn)
{
    size_t n = min_size(min_size(s->sq_len, s->send_window),
                        min_size(y->set.max_send_frame, room - RLY_YAMUX_FRAME_LEN));
    /* A FIN never rides on a Data frame: js-libp2p-yamux applies a frame's flags before its
     * payload (stream.js handleData -> processFlags), so it would close the stream and drop the
     * data. The FIN goes out as a Window Update once the queue is empty (write_stream_ctl),
     * as go-yamux sends it. */
    put(y, dest, RLY_YAMUX_TYPE_DATA, 0, s->id, (uint32_t)n);
    rly_yamux_stream_take(y, s, dest + RLY_YAMUX_FRAME_LEN, (uint32_t)n);
    y->queued -= n;
    s->send_window -= (uint32_t)n;
    rly_yamux_stream_unlink(y, s, RLY_YAMUX_LIST_DATA);
    rly_yamux_stream_schedule(y, s);
    *pn = RLY_YAMUX_FRAME_LEN + n;
    if (s->flags & RLY_YAMUX_SF_WANT_WRITABLE) {
        s->flags &= (uint16_t)~RLY_YAMUX_SF_WANT_WRITABLE;
        if (y->cb.on_stream_writable && y->cb.on_stream_writable(y, s->id, s->user_data) != 0)
            return RLY_ERR_CALLBACK_FAILURE;
    }
    return rly_yamux_stream_wake_blocked(y);
}

/* send_one writes the highest-priority pending frame into |dest| if it fits; |*pn| is its size
 * (0: nothing to write or no room). */
static int send_one(rly_yamux *y, uint8_t *dest, size_t len, size_t *pn)
{
    *pn = 0;
    if (len < RLY_YAMUX_FRAME_LEN)
        return 0;
    if (y->cq_len > 0) {
        *pn = write_cq(y, dest);
        return 0;
    }
    if (y->ping_pending) {
        y->ping_pending = false;
        *pn = put(y, dest, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, y->ping_value);
        return 0;
    }
    if (y->goaway_pending) {
        *pn = write_goaway(y, dest);
        return 0;
    }
    if (y->lists[RLY_YAMUX_LIST_CTL].head) {
        *pn = RLY_YAMUX_FRAME_LEN;
        return write_stream_ctl(y, y->lists[RLY_YAMUX_LIST_CTL].head, dest);
    }
    if (y->lists[RLY_YAMUX_LIST_DATA].head && len > RLY_YAMUX_FRAME_LEN)
        return write_data(y, y->lists[RLY_YAMUX_LIST_DATA].head, dest, len, pn);
    return 0;
}

rly_ssize rly_yamux_send(rly_yamux *y, uint8_t *dest, size_t destlen, rly_tstamp now)
{
    start_clock(y, now);
    if (!dest || destlen < RLY_YAMUX_FRAME_LEN)
        return 0;
    if (y->failed) {
        /* Only the Go Away that reports the failure goes out. */
        return y->goaway_pending ? (rly_ssize)write_goaway(y, dest) : 0;
    }
    size_t off = 0;
    for (;;) {
        size_t n = 0;
        int rv = send_one(y, dest + off, destlen - off, &n);
        if (rv != 0)
            return fail(y, rv);
        if (n == 0 || y->failed)
            break;
        off += n;
    }
    return (rly_ssize)off;
}

bool rly_yamux_want_read(const rly_yamux *y)
{
    if (y->failed)
        return false;
    return !((y->goaway_sent || y->goaway_recv) && y->nlive == 0);
}

bool rly_yamux_want_write(const rly_yamux *y)
{
    if (y->failed)
        return y->goaway_pending;
    return y->cq_len > 0 || y->ping_pending || y->goaway_pending ||
           y->lists[RLY_YAMUX_LIST_CTL].head || y->lists[RLY_YAMUX_LIST_DATA].head;
}

/* ---- Keepalive ---- */

rly_tstamp rly_yamux_get_expiry(const rly_yamux *y)
{
    if (y->set.keepalive_interval == 0 || y->failed)
        return RLY_TSTAMP_MAX;
    if (!y->clock_started)
        return 0;
    if (y->ping_outstanding)
        return sat_add(y->ping_sent_at, y->set.keepalive_timeout);
    return y->keepalive_at;
}

int rly_yamux_handle_expiry(rly_yamux *y, rly_tstamp now)
{
    if (y->failed)
        return y->failed;
    start_clock(y, now);
    if (y->set.keepalive_interval == 0)
        return 0;
    if (y->ping_outstanding) {
        if (now >= sat_add(y->ping_sent_at, y->set.keepalive_timeout)) {
            RLY_LOGD(y->log, TARGET, RLY_MSG("Yamux keepalive ping timed out"));
            return fail(y, RLY_ERR_TIMEOUT);
        }
        return 0;
    }
    if (now >= y->keepalive_at) {
        y->ping_value++;
        y->ping_pending = true;
        y->ping_outstanding = true;
        y->ping_sent_at = now;
    }
    return 0;
}

/* ---- Streams and Go Away ---- */

int rly_yamux_open_stream(rly_yamux *y, uint32_t *pstream_id, void *stream_user_data)
{
    if (y->failed || y->is_deleting || y->goaway_sent || y->goaway_recv)
        return RLY_ERR_CLOSED;
    if (y->noutbound >= y->set.max_outbound_streams || y->nbacklog >= y->set.max_ack_backlog ||
        y->next_id > UINT32_MAX)
        return RLY_ERR_LIMIT;
    uint32_t id = (uint32_t)y->next_id;
    rly_yamux_stream *s = NULL;
    uint16_t flags = RLY_YAMUX_SF_LOCAL | RLY_YAMUX_SF_SYN_PENDING;
    int rv = rly_yamux_stream_new(y, id, flags, stream_user_data, &s);
    if (rv != 0)
        return rv;
    y->next_id += 2;
    rly_yamux_stream_schedule(y, s);
    *pstream_id = id;
    return 0;
}

int rly_yamux_goaway(rly_yamux *y, uint32_t code)
{
    if (y->failed || y->is_deleting)
        return RLY_ERR_CLOSED;
    if (y->goaway_sent)
        return 0;
    y->goaway_sent = true;
    y->goaway_pending = true;
    y->goaway_code = code;
    return 0;
}

void *rly_yamux_get_user_data(const rly_yamux *y)
{
    return y->user_data;
}

size_t rly_yamux_get_num_streams(const rly_yamux *y)
{
    return y->nlive;
}

int rly_yamux_get_error(const rly_yamux *y)
{
    return y->failed;
}
