/* bridge.c: bridging two rly_streams (circuit.h). */
#include "relay/bridge.h"

#include <string.h>

typedef struct side {
    rly_bridge *c;
    rly_stream *s;    /* NULL once this stream is closed */
    uint8_t *pending; /* read from this side, not yet accepted by the other */
    size_t plen, pcap;
    uint64_t forwarded; /* bytes from this side written to the other */
    bool is_fin_recv;   /* this side sent FIN */
    bool is_fin_fwd;    /* ... and we passed it on */
} side;

struct rly_bridge {
    side sides[2]; /* [0] source (hop stream), [1] destination (stop stream) */
    uv_timer_t timer;
    rly_bridge_limits limits;
    rly_tstamp start;
    rly_bridge_done_cb done;
    void *ud;
    rly_mem *mem;
    int err;
    const char *reason;
    bool is_ending;   /* aborting: streams are being reset */
    bool is_finished; /* both streams gone: the timer is closing */
};

static side *other(side *f)
{
    rly_bridge *c = f->c;
    return f == &c->sides[0] ? &c->sides[1] : &c->sides[0];
}

static void timer_closed(uv_handle_t *h)
{
    rly_bridge *c = h->data;
    rly_bridge_stats st = {
        .bytes_src_to_dst = c->sides[0].forwarded,
        .bytes_dst_to_src = c->sides[1].forwarded,
        .duration = uv_hrtime() - c->start,
        .err = c->err,
        .reason = c->reason ? c->reason : "closed",
    };
    if (c->done)
        c->done(c->ud, c, &st);
    for (int i = 0; i < 2; i++)
        rly_free(c->mem, c->sides[i].pending);
    rly_free(c->mem, c);
}

/* Both streams are gone: report once the timer handle is released (libuv frees it later). */
static void maybe_finish(rly_bridge *c)
{
    if (c->is_finished || c->sides[0].s || c->sides[1].s)
        return;
    c->is_finished = true;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

static void abort_circuit(rly_bridge *c, int err, const char *reason)
{
    if (c->is_ending || c->is_finished)
        return;
    c->is_ending = true;
    if (!c->reason) {
        c->reason = reason;
        c->err = err;
    }
    for (int i = 0; i < 2; i++) {
        rly_stream *s = c->sides[i].s;
        if (s)
            (void)rly_stream_reset(s); /* on_close runs inside and clears sides[i].s */
    }
    maybe_finish(c);
}

void rly_bridge_abort(rly_bridge *c, const char *reason)
{
    abort_circuit(c, RLY_ERR_CLOSED, reason);
}

static int pending_append(side *f, const uint8_t *p, size_t n)
{
    if (n == 0) /* the usual start: no leftovers (and memcpy must not see NULL) */
        return 0;
    if (n > RLY_BRIDGE_PENDING_MAX - f->plen)
        return RLY_ERR_NOBUF;
    if (f->pcap - f->plen < n) {
        size_t cap = f->pcap ? f->pcap : 16384;
        while (cap - f->plen < n)
            cap *= 2;
        uint8_t *np = rly_realloc(f->c->mem, f->pending, cap);
        if (!np)
            return RLY_ERR_NOMEM;
        f->pending = np;
        f->pcap = cap;
    }
    memcpy(f->pending + f->plen, p, n);
    f->plen += n;
    return 0;
}

/* How many of |n| bytes from |f| the data limit still allows; 0 with data left: limit hit. */
static size_t allowed(side *f, size_t n)
{
    uint64_t limit = f->c->limits.data;
    if (limit == 0)
        return n;
    uint64_t left = limit > f->forwarded ? limit - f->forwarded : 0;
    return n < left ? n : (size_t)left;
}

/* Writes |n| bytes from |f| to the other side. Returns the count written, 0 when the other side
 * is full, or a negative error (the circuit is being aborted). */
static rly_ssize forward(side *f, const uint8_t *p, size_t n)
{
    side *t = other(f);
    if (!t->s)
        return RLY_ERR_CLOSED;
    size_t ok = allowed(f, n);
    if (ok == 0 && n > 0) {
        abort_circuit(f->c, RLY_ERR_LIMIT, "data limit");
        return RLY_ERR_LIMIT;
    }
    rly_ssize w = rly_stream_write(t->s, p, ok);
    if (w == RLY_ERR_AGAIN)
        return 0;
    if (w < 0) {
        abort_circuit(f->c, (int)w, "write failed");
        return w;
    }
    f->forwarded += (uint64_t)w;
    if (f->s && rly_stream_consume(f->s, (size_t)w) != 0) {
        abort_circuit(f->c, RLY_ERR_CLOSED, "consume failed");
        return RLY_ERR_CLOSED;
    }
    return w;
}

/* Moves pending bytes of |f| to the other side, then passes on a FIN once they are all out. */
static void pump(side *f)
{
    while (f->plen > 0 && !f->c->is_ending) {
        rly_ssize w = forward(f, f->pending, f->plen);
        if (w <= 0)
            return;
        memmove(f->pending, f->pending + w, f->plen - (size_t)w);
        f->plen -= (size_t)w;
    }
    side *t = other(f);
    if (f->plen == 0 && f->pending) {
        rly_free(f->c->mem, f->pending); /* idle circuits hold no buffer */
        f->pending = NULL;
        f->pcap = 0;
    }
    if (f->plen == 0 && f->is_fin_recv && !f->is_fin_fwd && t->s && !f->c->is_ending) {
        f->is_fin_fwd = true;
        (void)rly_stream_shutdown(t->s);
    }
}

static void on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    side *f = ud;
    if (f->c->is_ending)
        return;
    if (f->plen == 0) { /* the usual case: straight through, no copy into the circuit */
        rly_ssize w = forward(f, data, len);
        if (w < 0)
            return;
        data += w;
        len -= (size_t)w;
    }
    if (len > 0) {
        int rv = pending_append(f, data, len);
        if (rv != 0) {
            abort_circuit(f->c, rv, "peer overran the flow-control window");
            return;
        }
        pump(f);
    }
}

static void on_fin(rly_stream *s, void *ud)
{
    side *f = ud;
    f->is_fin_recv = true;
    pump(f);
}

/* The stream of |t| has room again: move what the other side has waiting. */
static void on_writable(rly_stream *s, void *ud)
{
    side *t = ud;
    pump(other(t));
}

static void on_close(rly_stream *s, void *ud, int err)
{
    side *f = ud;
    rly_bridge *c = f->c;
    bool is_src = f == &c->sides[0];
    f->s = NULL;
    if (err != 0 && !c->is_ending) {
        const char *why =
            err == RLY_ERR_RESET
                ? (is_src ? "reset by source" : "reset by destination")
                : (is_src ? "source connection closed" : "destination connection closed");
        abort_circuit(c, err, why);
    } else if (!c->is_ending && other(f)->s && !f->is_fin_fwd) {
        /* Closed cleanly in both directions on this side: nothing more can come from it. */
        f->is_fin_recv = true;
        pump(f);
    }
    maybe_finish(c);
}

static const rly_stream_handler circuit_handler = {
    .on_data = on_data,
    .on_fin = on_fin,
    .on_writable = on_writable,
    .on_close = on_close,
};

static void on_timer(uv_timer_t *t)
{
    abort_circuit(t->data, RLY_ERR_TIMEOUT, "duration limit");
}

int rly_bridge_start(rly_bridge **pc, uv_loop_t *loop, rly_stream *src, const uint8_t *src_rest,
                     size_t src_rest_len, rly_stream *dst, const uint8_t *dst_rest,
                     size_t dst_rest_len, const rly_bridge_limits *limits, rly_tstamp now,
                     rly_bridge_done_cb done, void *ud, rly_mem *mem)
{
    rly_bridge *c = rly_calloc(mem, 1, sizeof(*c));
    int rv = c ? 0 : RLY_ERR_NOMEM;
    if (rv == 0) {
        c->mem = mem;
        c->limits = *limits;
        c->start = now;
        c->done = done;
        c->ud = ud;
        for (int i = 0; i < 2; i++)
            c->sides[i].c = c;
        c->sides[0].s = src;
        c->sides[1].s = dst;
        rv = pending_append(&c->sides[0], src_rest, src_rest_len);
        if (rv == 0)
            rv = pending_append(&c->sides[1], dst_rest, dst_rest_len);
    }
    if (rv != 0) {
        if (c) {
            rly_free(mem, c->sides[0].pending);
            rly_free(mem, c->sides[1].pending);
            rly_free(mem, c);
        }
        rly_stream_set_handler(src, NULL, NULL);
        rly_stream_set_handler(dst, NULL, NULL);
        (void)rly_stream_reset(src);
        (void)rly_stream_reset(dst);
        return rv;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    /* libuv times from its cached loop time: refresh it so the limit is not cut short by the
     * time already spent in this loop iteration. */
    uv_update_time(loop);
    if (limits->duration > 0)
        uv_timer_start(&c->timer, on_timer, rly_tstamp_ms_ceil(limits->duration), 0);
    rly_stream_set_handler(src, &circuit_handler, &c->sides[0]);
    rly_stream_set_handler(dst, &circuit_handler, &c->sides[1]);
    *pc = c;
    pump(&c->sides[0]);
    pump(&c->sides[1]);
    return 0;
}
