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
    rly_timerq *timers;
    rly_timer timer; /* the duration limit */
    rly_bridge_limits limits;
    rly_tstamp start;
    rly_bridge_done_cb done;
    void *ud;
    rly_mem *mem;
    int err;
    const char *reason;
    bool is_ending; /* aborting: streams are being reset */
    unsigned busy;  /* nesting depth of calls into the bridge: it is freed only at depth 0 */
};

static side *other(side *f)
{
    rly_bridge *c = f->c;
    return f == &c->sides[0] ? &c->sides[1] : &c->sides[0];
}

/* Both streams are gone: stop the timer, report, free. */
static void finish(rly_bridge *c)
{
    rly_timerq_stop(c->timers, &c->timer);
    rly_tstamp now = rly_timerq_now(c->timers);
    rly_bridge_stats st = {
        .bytes_src_to_dst = c->sides[0].forwarded,
        .bytes_dst_to_src = c->sides[1].forwarded,
        .duration = now > c->start ? now - c->start : 0,
        .err = c->err,
        .reason = c->reason ? c->reason : "closed",
    };
    rly_bridge_done_cb done = c->done;
    void *ud = c->ud;
    for (int i = 0; i < 2; i++)
        rly_free(c->mem, c->sides[i].pending);
    rly_free(c->mem, c);
    if (done)
        done(ud, &st);
}

/* Every entry into the bridge (stream callbacks, the timer, rly_bridge_start and _abort) runs
 * between enter and leave: a stream reset inside may call back into the bridge, and the bridge
 * is freed only by the outermost leave, so no inner call frees what an outer one still uses. */
static void enter(rly_bridge *c)
{
    c->busy++;
}

static void leave(rly_bridge *c)
{
    if (--c->busy == 0 && !c->sides[0].s && !c->sides[1].s)
        finish(c);
}

static void abort_circuit(rly_bridge *c, int err, const char *reason)
{
    if (c->is_ending)
        return;
    c->is_ending = true;
    if (!c->reason) {
        c->reason = reason;
        c->err = err;
    }
    rly_timerq_stop(c->timers, &c->timer);
    for (int i = 0; i < 2; i++) {
        rly_stream *s = c->sides[i].s;
        if (s)
            (void)rly_stream_reset(s); /* on_close runs inside and clears sides[i].s */
    }
}

void rly_bridge_abort(rly_bridge *c, const char *reason)
{
    enter(c);
    abort_circuit(c, RLY_ERR_CLOSED, reason);
    leave(c);
}

bool rly_bridge_uses_conn(const rly_bridge *c, const rly_conn *conn)
{
    for (size_t i = 0; i < 2; i++)
        if (c->sides[i].s && c->sides[i].s->conn == conn)
            return true;
    return false;
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

static void take(side *f, const uint8_t *data, size_t len)
{
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

static void on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    side *f = ud;
    rly_bridge *c = f->c;
    enter(c);
    take(f, data, len);
    leave(c);
}

static void on_fin(rly_stream *s, void *ud)
{
    side *f = ud;
    rly_bridge *c = f->c;
    enter(c);
    f->is_fin_recv = true;
    pump(f);
    leave(c);
}

/* The stream of |t| has room again: move what the other side has waiting. */
static void on_writable(rly_stream *s, void *ud)
{
    side *t = ud;
    rly_bridge *c = t->c;
    enter(c);
    pump(other(t));
    leave(c);
}

static void on_close(rly_stream *s, void *ud, int err)
{
    side *f = ud;
    rly_bridge *c = f->c;
    bool is_src = f == &c->sides[0];
    enter(c);
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
    leave(c);
}

static const rly_stream_handler circuit_handler = {
    .on_data = on_data,
    .on_fin = on_fin,
    .on_writable = on_writable,
    .on_close = on_close,
};

static void on_timer(rly_timer *t, void *ud)
{
    rly_bridge *c = ud;
    enter(c);
    abort_circuit(c, RLY_ERR_TIMEOUT, "duration limit");
    leave(c);
}

int rly_bridge_start(rly_bridge **pc, rly_timerq *timers, rly_stream *src, const uint8_t *src_rest,
                     size_t src_rest_len, rly_stream *dst, const uint8_t *dst_rest,
                     size_t dst_rest_len, const rly_bridge_limits *limits, rly_bridge_done_cb done,
                     void *ud, rly_mem *mem)
{
    rly_bridge *c = rly_calloc(mem, 1, sizeof(*c));
    int rv = c ? 0 : RLY_ERR_NOMEM;
    if (rv == 0) {
        c->mem = mem;
        c->timers = timers;
        c->limits = *limits;
        c->start = rly_timerq_now(timers);
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
    rly_timerq_timer_init(&c->timer, on_timer, c);
    if (limits->duration > 0)
        rly_timerq_start(timers, &c->timer, c->start + limits->duration);
    rly_stream_set_handler(src, &circuit_handler, &c->sides[0]);
    rly_stream_set_handler(dst, &circuit_handler, &c->sides[1]);
    *pc = c;
    enter(c);
    pump(&c->sides[0]);
    pump(&c->sides[1]);
    leave(c); /* may end the circuit at once (|done| runs before this returns) */
    return 0;
}
