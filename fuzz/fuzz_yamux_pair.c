/* fuzz_yamux_pair.c: a stateful fuzzer for two Yamux sessions wired back to back in memory
 * (src/proto/yamux), issue 11 item 2. A client and a server session exchange bytes through two
 * wires the input drains in pieces of its choosing; the input also opens streams on either side,
 * writes, consumes, half-closes and resets them, sends Go Away, moves a virtual clock (keepalive
 * pings and their timeout), injects hostile frames between the sessions' own (pings, window
 * updates, resets, Go Aways, data for any stream ID, bad versions), and decides per side how the
 * application reacts inside callbacks (consume or not, echo FIN, reset, refuse new streams).
 *
 * Checked after every step and in every callback, against a model of each stream: a callback
 * never arrives for a stream after its on_stream_close (nor before it was opened or accepted),
 * on_stream_close comes exactly once per stream, data arrives in order and byte for byte as the
 * other side wrote it (unless a hostile frame touched that stream), never after the peer's FIN,
 * the unconsumed count matches what was delivered minus consumed, no send queue passes its cap,
 * and each session's memory stays under a bound set by its settings. At the end both sessions
 * are deleted: every live stream gets its close, and both allocators are back to zero. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "proto/yamux/yamux.h"
#include "proto/yamux/yamux_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXS 64 /* streams tracked per side (ids beyond are not modelled) */
#define WIRE_MAX (4u << 20)
#define MAX_STEPS 600

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_yamux_pair: %s\n", what);
        abort();
    }
}

typedef struct mstream {
    uint32_t id;
    bool live;         /* opened or accepted, no close yet */
    bool closed;       /* on_stream_close seen */
    bool fin_recv;     /* the peer's FIN arrived */
    bool tainted;      /* a hostile frame touched this stream: content unchecked */
    uint64_t recv_off; /* bytes received (the pattern offset of the next byte) */
    uint64_t sent_off; /* bytes this side queued */
    uint64_t unconsumed;
} mstream;

typedef struct side {
    rly_yamux *y;
    rly_mem mem;
    mstream s[MAXS];
    size_t n;
    bool failed;   /* the session failed (its own error or a hostile frame) */
    uint8_t react; /* bit 0: consume at once; 1: FIN answers FIN; 2: reset on data; 3: refuse */
    uint32_t touched[32]; /* stream IDs hostile Data frames were sent to (maybe not open yet) */
    size_t ntouched;
    uint8_t *wire; /* bytes this side sent, not yet delivered to the other */
    size_t wlen;
    size_t closes;
} side;

typedef struct world {
    side sd[2]; /* [0] client, [1] server */
    rly_tstamp now;
    const uint8_t *in;
    size_t left;
} world;

static world W;

static uint8_t next_byte(void)
{
    if (W.left == 0)
        return 0;
    W.left--;
    return *W.in++;
}

static side *side_of(rly_yamux *y)
{
    return rly_yamux_get_user_data(y);
}

static side *peer_of(side *s)
{
    return s == &W.sd[0] ? &W.sd[1] : &W.sd[0];
}

/* The byte at |off| of the stream |id| written by the client (dir 0) or the server (dir 1). */
static uint8_t pattern(uint32_t id, int dir, uint64_t off)
{
    return (uint8_t)(id * 31u + (unsigned)dir * 101u + (unsigned)(off * 7u) + (unsigned)(off >> 8));
}

/* The newest entry of |id| (a hostile SYN may bring back the ID of a closed stream). */
static mstream *find(side *s, uint32_t id)
{
    for (size_t i = s->n; i-- > 0;)
        if (s->s[i].id == id)
            return &s->s[i];
    return NULL;
}

static mstream *add(side *s, uint32_t id)
{
    const mstream *old = find(s, id);
    check(!old || old->closed, "a live stream ID was opened again");
    if (s->n == MAXS)
        return NULL;
    mstream *m = &s->s[s->n++];
    memset(m, 0, sizeof(*m));
    m->id = id;
    m->live = true;
    for (size_t i = 0; i < s->ntouched; i++)
        m->tainted |= s->touched[i] == id;
    return m;
}

/* Every stream callback: the stream must be live in the model. */
static mstream *live_stream(side *s, uint32_t id, const char *what)
{
    mstream *m = find(s, id);
    if (!m)
        return NULL; /* beyond the model's table: not tracked */
    if (!m->live) {
        fprintf(stderr, "fuzz_yamux_pair: %s for stream %u after its close\n", what, id);
        abort();
    }
    return m;
}

/* ---- callbacks ------------------------------------------------------------------------------ */

static int cb_open(rly_yamux *y, uint32_t id, void *ud)
{
    side *s = side_of(y);
    if (s->react & 8)
        return 1; /* refused: the session resets it and never reports it */
    check(add(s, id) != NULL || s->n == MAXS, "model");
    return 0;
}

static int cb_data(rly_yamux *y, uint32_t id, void *sud, const uint8_t *d, size_t n)
{
    side *s = side_of(y);
    mstream *m = live_stream(s, id, "data");
    check(n > 0, "empty data callback");
    if (m) {
        check(!m->fin_recv, "data after the peer's FIN");
        int dir = s == &W.sd[0] ? 1 : 0; /* written by the other side */
        for (size_t i = 0; i < n && !m->tainted; i++)
            check(d[i] == pattern(id, dir, m->recv_off + i), "data corrupted or out of order");
        m->recv_off += n;
        m->unconsumed += n;
    }
    if ((s->react & 4) && d[0] % 5 == 0) {
        RLY_IGNORE(rly_yamux_stream_reset(y, id));
        return 0;
    }
    if ((s->react & 1) && m) {
        check(rly_yamux_stream_consume(y, id, (size_t)m->unconsumed) == 0, "consume");
        m->unconsumed = 0;
    }
    return 0;
}

static int cb_fin(rly_yamux *y, uint32_t id, void *sud)
{
    side *s = side_of(y);
    mstream *m = live_stream(s, id, "fin");
    if (m) {
        check(!m->fin_recv, "two FINs");
        m->fin_recv = true;
    }
    if (s->react & 2)
        RLY_IGNORE(rly_yamux_stream_shutdown(y, id));
    return 0;
}

static int cb_writable(rly_yamux *y, uint32_t id, void *sud)
{
    (void)live_stream(side_of(y), id, "writable");
    return 0;
}

static int cb_close(rly_yamux *y, uint32_t id, void *sud, int reason)
{
    side *s = side_of(y);
    mstream *m = live_stream(s, id, "close");
    check(reason == 0 || reason == RLY_ERR_RESET || reason == RLY_ERR_CLOSED, "close reason");
    if (m) {
        m->live = false;
        m->closed = true;
        s->closes++;
    }
    return 0;
}

static const rly_yamux_callbacks cbs = {
    .on_stream_open = cb_open,
    .on_stream_data = cb_data,
    .on_stream_fin = cb_fin,
    .on_stream_writable = cb_writable,
    .on_stream_close = cb_close,
};

/* ---- operations ----------------------------------------------------------------------------- */

static void fail_side(side *s, rly_ssize rv)
{
    check(rv == RLY_ERR_PROTO || rv == RLY_ERR_FLOW_CONTROL || rv == RLY_ERR_FLOODED ||
              rv == RLY_ERR_TIMEOUT || rv == RLY_ERR_CALLBACK_FAILURE || rv == RLY_ERR_NOMEM,
          "undocumented error");
    s->failed = true;
}

/* Side |s| writes what it has into its wire, in batches of |cap| bytes. */
static void pump(side *s, size_t cap)
{
    static uint8_t buf[RLY_YAMUX_FRAME_LEN + (256u << 10)];
    for (int k = 0; k < 64 && rly_yamux_want_write(s->y); k++) {
        rly_ssize n = rly_yamux_send(s->y, buf, cap, W.now);
        if (n <= 0)
            return;
        if (s->wlen + (size_t)n > WIRE_MAX)
            return; /* the other side is not reading: the wire is full */
        memcpy(s->wire + s->wlen, buf, (size_t)n);
        s->wlen += (size_t)n;
    }
}

/* |n| bytes of |s|'s wire reach the other side. */
static void deliver(side *s, size_t n)
{
    side *p = peer_of(s);
    n = n < s->wlen ? n : s->wlen;
    if (n == 0)
        return;
    if (!p->failed) { /* a failed session reads nothing more: the bytes are lost */
        rly_ssize rv = rly_yamux_recv(p->y, s->wire, n, W.now);
        if (rv < 0)
            fail_side(p, rv);
        else
            check((size_t)rv == n, "recv took less than given");
    }
    memmove(s->wire, s->wire + n, s->wlen - n);
    s->wlen -= n;
}

static mstream *pick(side *s)
{
    uint8_t b = next_byte();
    if (s->n == 0)
        return NULL;
    mstream *m = &s->s[b % s->n];
    return m->live ? m : NULL;
}

static void op_write(side *s)
{
    mstream *m = pick(s);
    static const size_t sizes[4] = {1, 700, 20000, 300000};
    size_t n = sizes[next_byte() % 4];
    if (!m)
        return;
    static uint8_t buf[300000];
    int dir = s == &W.sd[0] ? 0 : 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(m->id, dir, m->sent_off + i);
    rly_ssize w = rly_yamux_stream_write(s->y, m->id, buf, n);
    if (w > 0)
        m->sent_off += (uint64_t)w;
    else
        check(w == RLY_ERR_AGAIN || w == RLY_ERR_CLOSED || w == RLY_ERR_NOMEM, "write error");
}

static void op_consume(side *s)
{
    mstream *m = pick(s);
    uint8_t how = next_byte();
    if (!m || s->failed)
        return;
    rly_yamux_stream_info info;
    check(rly_yamux_stream_get_info(s->y, m->id, &info) == 0, "a live stream is unknown");
    check(info.unconsumed == m->unconsumed, "unconsumed count differs from the model");
    uint64_t k = how & 1 ? m->unconsumed : m->unconsumed / 2;
    check(rly_yamux_stream_consume(s->y, m->id, (size_t)k) == 0, "consume");
    m->unconsumed -= k;
}

/* A frame from nowhere, between the sessions' own. */
static void op_inject(side *s)
{
    uint8_t t = next_byte(), f = next_byte(), idb = next_byte(), lb = next_byte();
    rly_yamux_frame fr = {.type = (uint8_t)(t % 5), .flags = (uint16_t)(f & 15)};
    side *p = peer_of(s);
    /* Mostly IDs of streams that exist, sometimes any. */
    fr.stream_id = p->n && idb < 200 ? p->s[idb % p->n].id : idb;
    fr.length = lb < 128 ? lb : (uint32_t)lb << 16;
    if (fr.type == RLY_YAMUX_TYPE_DATA && fr.length > 64)
        fr.length = 64;
    uint8_t frame[RLY_YAMUX_FRAME_LEN + 64];
    rly_yamux_frame_encode(frame, &fr);
    if (t >= 250)
        frame[0] = 1; /* a version that does not exist */
    size_t len = RLY_YAMUX_FRAME_LEN;
    if (fr.type == RLY_YAMUX_TYPE_DATA) {
        memset(frame + len, 0xee, fr.length);
        len += fr.length;
        /* A live stream's content is no longer checked; and a SYN may open the ID anew (a
         * closed stream's ID too: Yamux, like go's, forgets closed IDs), so remember it. */
        mstream *m = find(p, fr.stream_id);
        if (m && m->live)
            m->tainted = true;
        if (p->ntouched == 32)
            return; /* no room to remember it: not sent */
        p->touched[p->ntouched++] = fr.stream_id;
    }
    if (s->wlen + len <= WIRE_MAX) {
        memcpy(s->wire + s->wlen, frame, len);
        s->wlen += len;
    }
}

static void op_side(side *s, uint8_t op)
{
    switch (op) {
    case 0: {
        uint32_t id;
        if (!s->failed && rly_yamux_open_stream(s->y, &id, NULL) == 0)
            check(add(s, id) != NULL || s->n == MAXS, "model");
        break;
    }
    case 1: op_write(s); break;
    case 2: op_consume(s); break;
    case 3: {
        mstream *m = pick(s);
        if (m)
            RLY_IGNORE(rly_yamux_stream_shutdown(s->y, m->id));
        break;
    }
    case 4: {
        mstream *m = pick(s);
        if (m)
            RLY_IGNORE(rly_yamux_stream_reset(s->y, m->id));
        break;
    }
    case 5: pump(s, RLY_YAMUX_FRAME_LEN + ((size_t)1 << (next_byte() % 19))); break;
    case 6: deliver(s, (size_t)1 << (next_byte() % 23)); break;
    case 7: deliver(s, next_byte()); break;
    case 8: op_inject(s); break;
    case 9: RLY_IGNORE(rly_yamux_goaway(s->y, next_byte() % 3)); break;
    case 10: s->react = next_byte(); break;
    default: {
        if (s->failed)
            break;
        int rv = rly_yamux_handle_expiry(s->y, W.now);
        if (rv != 0)
            fail_side(s, rv);
        break;
    }
    }
}

static void verify(side *s)
{
    size_t live = 0;
    for (size_t i = 0; i < s->n; i++) {
        mstream *m = &s->s[i];
        if (!m->live)
            continue;
        live++;
        if (s->failed)
            continue;
        rly_yamux_stream_info info;
        check(rly_yamux_stream_get_info(s->y, m->id, &info) == 0, "a live stream is unknown");
        check(info.unconsumed == m->unconsumed, "unconsumed count differs from the model");
        check(info.queued <= 4096, "a send queue passed max_stream_buffer");
        check(info.is_remote_closed == m->fin_recv, "FIN state differs from the model");
    }
    if (s->n < MAXS && !s->failed)
        check(rly_yamux_get_num_streams(s->y) == live, "live streams differ from the model");
    /* What a session may hold: its queues (caps below), the stream table, the control queue.
     * Received data is never buffered (delivered at once), so nothing grows with the input. */
    check(s->mem.live_bytes <= 64u * 1024u + 16384u + (size_t)MAXS * 1024u, "session memory grew");
}

static void setup_side(side *s, bool initiator, uint8_t cfg)
{
    static uint8_t wires[2][WIRE_MAX];
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_inbound_streams = 16;
    set.max_outbound_streams = 16;
    set.max_ack_backlog = 8;
    set.max_stream_buffer = 4096;
    set.max_session_buffer = 16384;
    set.max_send_frame = (cfg & 1) ? 16384 : 700;
    set.max_pending_pings = 4;
    set.max_pending_control = 16;
    set.empty_frame_burst = 32;
    set.empty_frame_rate = 10;
    set.stream_reset_burst = 16;
    set.stream_reset_rate = 4;
    set.keepalive_interval = (cfg & 2) ? RLY_NS_PER_S : 0;
    set.keepalive_timeout = 500 * RLY_NS_PER_MS;
    rly_mem_init(&s->mem);
    s->wire = wires[initiator ? 0 : 1];
    s->react = 1;
    check(rly_yamux_new(&s->y, initiator, &set, &cbs, &s->mem, NULL, s) == 0, "new session");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&W, 0, sizeof(W));
    W.in = data;
    W.left = size;
    uint8_t cfg = next_byte();
    setup_side(&W.sd[0], true, cfg);
    setup_side(&W.sd[1], false, cfg);
    for (int n = 0; W.left > 0 && n < MAX_STEPS; n++) {
        uint8_t op = next_byte();
        if (op % 16 == 15) {
            W.now += (rly_tstamp)next_byte() * 20 * RLY_NS_PER_MS;
        } else if (op % 16 == 14) { /* a round trip: both pump and deliver everything */
            for (int i = 0; i < 2; i++) {
                pump(&W.sd[i], RLY_YAMUX_FRAME_LEN + 16384);
                deliver(&W.sd[i], WIRE_MAX);
            }
        } else {
            op_side(&W.sd[(op >> 4) & 1], (uint8_t)(op % 16 % 12));
        }
        verify(&W.sd[0]);
        verify(&W.sd[1]);
    }
    if (getenv("FUZZ_VERBOSE"))
        for (int i = 0; i < 2; i++) {
            uint64_t got = 0;
            for (size_t k = 0; k < W.sd[i].n; k++)
                got += W.sd[i].s[k].recv_off;
            fprintf(stderr, "side %d: %zu streams, %zu closed, %llu bytes received%s\n", i,
                    W.sd[i].n, W.sd[i].closes, (unsigned long long)got,
                    W.sd[i].failed ? ", failed" : "");
        }
    for (int i = 0; i < 2; i++) {
        side *s = &W.sd[i];
        rly_yamux_del(s->y);
        for (size_t k = 0; k < s->n; k++)
            check(!s->s[k].live, "a stream without its close after rly_yamux_del");
        check(s->mem.live_bytes == 0, "session memory not freed");
    }
    return 0;
}
