/* test_yamux.c: the Yamux session (src/proto/yamux/yamux.c, yamux_stream.c).
 *
 * Most tests wire a client and a server back to back in memory with an explicit clock: pump()
 * moves rly_yamux_send output of each side into the other's rly_yamux_recv in chunks of a chosen
 * size, so frames arrive cut at every byte boundary. Raw-byte tests feed hand-built frames to one
 * session and check the exact bytes it answers with (tests/vectors/yamux/session.txt). Every test
 * ends with no live bytes in the default allocator. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/mem.h"
#include "proto/yamux/yamux.h"
#include "vecfile.h"

#define KIB 1024u
#define WIN RLY_YAMUX_INITIAL_WINDOW
#define MAXREC 2048
#define BUF_MAX (4u << 20)

/* ---- Test peer: a session plus a record of what its callbacks saw ---- */

typedef struct rec {
    bool used;
    uint32_t id;
    rly_dynbuf data;
    int nfin, nclose, reason, nwritable;
} rec;

typedef struct peer {
    rly_yamux *y;
    rec recs[MAXREC];
    int open_verdict; /* on_stream_open returns this */
    int data_ret;     /* on_stream_data returns this */
    bool consume;     /* consume data as it arrives */
    bool reset_on_data;
    int close_ret; /* on_stream_close returns this */
    int nopen, ngoaway, nrtt;
    uint32_t goaway_code;
    rly_tstamp rtt;
} peer;

/* Bookkeeping memory is separate from the allocator the sessions use. */
static rly_mem tmem;

static rec *rec_get(peer *p, uint32_t id)
{
    for (int i = 0; i < MAXREC; i++)
        if (p->recs[i].used && p->recs[i].id == id)
            return &p->recs[i];
    for (int i = 0; i < MAXREC; i++) {
        if (!p->recs[i].used) {
            p->recs[i].used = true;
            p->recs[i].id = id;
            rly_dynbuf_init(&p->recs[i].data, &tmem, BUF_MAX);
            return &p->recs[i];
        }
    }
    cr_assert_fail("too many streams");
    return NULL;
}

static int cb_open(rly_yamux *y, uint32_t id, void *ud)
{
    peer *p = ud;
    p->nopen++;
    rec *r = rec_get(p, id);
    if (p->open_verdict == 0)
        cr_assert_eq(rly_yamux_stream_set_user_data(y, id, r), 0);
    return p->open_verdict;
}

static int cb_data(rly_yamux *y, uint32_t id, void *sud, const uint8_t *data, size_t len)
{
    peer *p = rly_yamux_get_user_data(y);
    rec *r = sud ? sud : rec_get(p, id);
    cr_assert_eq(r->id, id);
    cr_assert_gt(len, 0);
    cr_assert_eq(rly_dynbuf_append(&r->data, data, len), 0);
    if (p->consume)
        cr_assert_eq(rly_yamux_stream_consume(y, id, len), 0);
    if (p->reset_on_data)
        cr_assert_eq(rly_yamux_stream_reset(y, id), 0);
    return p->data_ret;
}

static int cb_fin(rly_yamux *y, uint32_t id, void *sud)
{
    rec *r = sud ? sud : rec_get(rly_yamux_get_user_data(y), id);
    r->nfin++;
    return 0;
}

static int cb_writable(rly_yamux *y, uint32_t id, void *sud)
{
    rec *r = sud ? sud : rec_get(rly_yamux_get_user_data(y), id);
    r->nwritable++;
    return 0;
}

static int cb_close(rly_yamux *y, uint32_t id, void *sud, int reason)
{
    rec *r = sud ? sud : rec_get(rly_yamux_get_user_data(y), id);
    cr_assert_eq(r->id, id);
    r->nclose++;
    r->reason = reason;
    return ((peer *)rly_yamux_get_user_data(y))->close_ret;
}

static int cb_goaway(rly_yamux *y, uint32_t code, void *ud)
{
    peer *p = ud;
    p->ngoaway++;
    p->goaway_code = code;
    return 0;
}

static int cb_rtt(rly_yamux *y, rly_tstamp rtt, void *ud)
{
    peer *p = ud;
    p->nrtt++;
    p->rtt = rtt;
    return 0;
}

static const rly_yamux_callbacks cbs = {
    .on_stream_open = cb_open,
    .on_stream_data = cb_data,
    .on_stream_fin = cb_fin,
    .on_stream_writable = cb_writable,
    .on_stream_close = cb_close,
    .on_goaway = cb_goaway,
    .on_ping_rtt = cb_rtt,
};

static void peer_init(peer *p, bool is_client, const rly_yamux_settings *set)
{
    memset(p, 0, sizeof(*p));
    p->consume = true;
    cr_assert_eq(rly_yamux_new(&p->y, is_client, set, &cbs, NULL, NULL, p), 0);
}

static void peer_free(peer *p)
{
    rly_yamux_del(p->y);
    p->y = NULL;
    for (int i = 0; i < MAXREC; i++)
        if (p->recs[i].used)
            rly_dynbuf_free(&p->recs[i].data);
}

static void check_no_leak(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",
                 rly_mem_default()->live_bytes);
    cr_assert_eq(tmem.live_bytes, 0);
}

static void setup(void)
{
    rly_mem_init(&tmem);
}

TestSuite(yamux, .init = setup);

/* ---- Moving bytes ---- */

static uint8_t wire[1u << 18];

/* xfer moves one rly_yamux_send batch (at most |room| bytes) from |a| to |b| in |chunk|-byte
 * rly_yamux_recv calls. Returns the byte count. */
static size_t xfer(peer *a, peer *b, size_t room, size_t chunk, rly_tstamp now)
{
    cr_assert_leq(room, sizeof(wire));
    rly_ssize n = rly_yamux_send(a->y, wire, room, now);
    cr_assert_geq(n, 0, "send: %s", rly_strerror((int)n));
    for (size_t off = 0; off < (size_t)n;) {
        size_t c = (size_t)n - off < chunk ? (size_t)n - off : chunk;
        rly_ssize r = rly_yamux_recv(b->y, wire + off, c, now);
        cr_assert_eq(r, (rly_ssize)c, "recv: %td (%s)", r, rly_strerror((int)r));
        off += c;
    }
    return (size_t)n;
}

static void pump_with(peer *a, peer *b, size_t room, size_t chunk, rly_tstamp now)
{
    for (int i = 0; i < 10000000; i++) {
        size_t n = xfer(a, b, room, chunk, now);
        n += xfer(b, a, room, chunk, now);
        if (n == 0) {
            cr_assert(!rly_yamux_want_write(a->y) || true);
            return;
        }
    }
    cr_assert_fail("pump did not settle");
}

static void pump(peer *a, peer *b)
{
    pump_with(a, b, sizeof(wire), sizeof(wire), 0);
}

/* feed gives raw bytes to |p| and returns what rly_yamux_recv said. */
static rly_ssize feed(peer *p, const uint8_t *in, size_t len, rly_tstamp now)
{
    return rly_yamux_recv(p->y, in, len, now);
}

static size_t put(uint8_t *b, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    rly_yamux_frame f = {.type = type, .flags = flags, .stream_id = id, .length = len};
    rly_yamux_frame_encode(b, &f);
    return RLY_YAMUX_FRAME_LEN;
}

/* drain collects all of |p|'s output into |out| and returns its length. */
static size_t drain(peer *p, uint8_t *out, size_t cap, rly_tstamp now)
{
    size_t off = 0;
    for (;;) {
        rly_ssize n = rly_yamux_send(p->y, out + off, cap - off, now);
        cr_assert_geq(n, 0);
        if (n == 0)
            return off;
        off += (size_t)n;
    }
}

static void pattern(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31u + seed + (i >> 8));
}

/* write_all queues all of |data| on stream |id| (the caller sized it to fit). */
static void write_all(peer *p, uint32_t id, const uint8_t *data, size_t len)
{
    rly_ssize n = rly_yamux_stream_write(p->y, id, data, len);
    cr_assert_eq(n, (rly_ssize)len, "write: %td", n);
}

/* ---- Spec transcripts ---- */

static int err_named(const char *s)
{
    if (strcmp(s, "ok") == 0)
        return 0;
    if (strcmp(s, "!proto") == 0)
        return RLY_ERR_PROTO;
    if (strcmp(s, "!flow_control") == 0)
        return RLY_ERR_FLOW_CONTROL;
    if (strcmp(s, "!flooded") == 0)
        return RLY_ERR_FLOODED;
    cr_assert_fail("unknown result '%s'", s);
    return 1;
}

static void check_transcript(const vec_line *l, void *ud)
{
    static uint8_t in[4096], want[4096], out[4096];
    cr_assert_eq(l->nf, 4, "%s:%d: want 4 fields", l->file, l->lineno);
    peer p;
    peer_init(&p, strncmp(l->f[0], "client", 6) == 0, NULL);
    p.consume = false;
    const char *action = strchr(l->f[0], ':');
    uint32_t id;
    if (action && strcmp(action + 1, "open") == 0)
        cr_assert_eq(rly_yamux_open_stream(p.y, &id, NULL), 0);
    else if (action && strcmp(action + 1, "goaway0") == 0)
        cr_assert_eq(rly_yamux_goaway(p.y, RLY_YAMUX_GOAWAY_NORMAL), 0);
    else
        cr_assert_null(action, "%s:%d: unknown action", l->file, l->lineno);
    size_t nin = strcmp(l->f[1], "-") ? vec_hex(l->f[1], in, sizeof(in)) : 0;
    size_t nwant = strcmp(l->f[2], "-") ? vec_hex(l->f[2], want, sizeof(want)) : 0;
    int werr = err_named(l->f[3]);
    rly_ssize rv = feed(&p, in, nin, 0);
    cr_assert_eq(rv, werr ? werr : (rly_ssize)nin, "%s:%d: recv %td", l->file, l->lineno, rv);
    size_t nout = drain(&p, out, sizeof(out), 0);
    cr_assert_eq(nout, nwant, "%s:%d: output %zu bytes, want %zu", l->file, l->lineno, nout, nwant);
    cr_assert_arr_eq(out, want, nwant, "%s:%d: output differs", l->file, l->lineno);
    cr_assert(!rly_yamux_want_write(p.y));
    peer_free(&p);
    check_no_leak();
    (*(int *)ud)++;
}

Test(yamux, transcripts)
{
    int n = 0;
    cr_assert_geq(vec_each("yamux/session.txt", check_transcript, &n), 20);
}

/* The same transcript rules hold whatever the input chunking: a SYN, data for an unknown stream
 * and a ping, delivered one byte at a time. */
Test(yamux, unknown_stream_drained_bytewise)
{
    uint8_t in[256], out[64];
    size_t n = put(in, RLY_YAMUX_TYPE_DATA, 0, 41, 100);
    memset(in + n, 0xee, 100);
    n += 100;
    n += put(in + n, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_RST, 43, 7);
    n += put(in + n, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, 0x01020304);
    peer p;
    peer_init(&p, false, NULL);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(feed(&p, in + i, 1, 0), 1);
    uint8_t want[RLY_YAMUX_FRAME_LEN];
    put(want, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_ACK, 0, 0x01020304);
    cr_assert_eq(drain(&p, out, sizeof(out), 0), sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));
    cr_assert_eq(p.nopen, 0);
    peer_free(&p);
    check_no_leak();
}

/* ---- Streams end to end ---- */

/* exchange: the client opens a stream, sends |n1| bytes and FIN; the server answers with |n2|
 * bytes and FIN once it has the client's FIN. Moved with |room|-byte sends and |chunk|-byte
 * receives. */
static void exchange(size_t n1, size_t n2, size_t room, size_t chunk)
{
    static uint8_t a[64 * KIB], b[64 * KIB];
    pattern(a, n1, 1);
    pattern(b, n2, 2);
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, NULL);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)), 0);
    cr_assert_eq(id, 1);
    write_all(&c, id, a, n1);
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, id), 0);
    pump_with(&c, &s, room, chunk, 0);
    rec *rs = rec_get(&s, 1);
    cr_assert_eq(s.nopen, 1);
    cr_assert_eq(rs->data.len, n1, "chunk %zu room %zu: got %zu", chunk, room, rs->data.len);
    if (n1 > 0)
        cr_assert_arr_eq(rs->data.data, a, n1);
    cr_assert_eq(rs->nfin, 1);
    cr_assert_eq(rs->nclose, 0);
    write_all(&s, 1, b, n2);
    cr_assert_eq(rly_yamux_stream_shutdown(s.y, 1), 0);
    pump_with(&c, &s, room, chunk, 0);
    rec *rc = rec_get(&c, 1);
    cr_assert_eq(rc->data.len, n2);
    if (n2 > 0)
        cr_assert_arr_eq(rc->data.data, b, n2);
    cr_assert_eq(rc->nfin, 1);
    cr_assert(rc->nclose == 1 && rc->reason == 0);
    cr_assert(rs->nclose == 1 && rs->reason == 0);
    cr_assert_eq(rly_yamux_get_num_streams(c.y), 0);
    cr_assert_eq(rly_yamux_get_num_streams(s.y), 0);
    cr_assert_eq(rly_yamux_stream_write(c.y, id, a, 1), RLY_ERR_NOT_FOUND);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, exchange_every_chunking)
{
    for (size_t chunk = 1; chunk <= 64; chunk++)
        exchange(20000, 9000, sizeof(wire), chunk);
    const size_t chunks[] = {100, 4095, 4096, 16397, 65536, sizeof(wire)};
    for (size_t i = 0; i < RLY_ARRAY_LEN(chunks); i++)
        exchange(60000, 60000, sizeof(wire), chunks[i]);
}

Test(yamux, exchange_small_send_buffers)
{
    const size_t rooms[] = {13, 14, 17, 24, 25, 29, 100, 1000, 16396, 16397};
    for (size_t i = 0; i < RLY_ARRAY_LEN(rooms); i++)
        exchange(3000, 2000, rooms[i], 7);
    exchange(0, 0, sizeof(wire), 1);
}

Test(yamux, many_streams_both_directions)
{
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, NULL);
    uint32_t ids[8];
    static uint8_t msg[8][5000];
    for (int i = 0; i < 8; i++) {
        peer *p = i % 2 ? &s : &c;
        cr_assert_eq(rly_yamux_open_stream(p->y, &ids[i], NULL), 0);
        rec_get(p, ids[i]);
        cr_assert_eq(rly_yamux_stream_set_user_data(p->y, ids[i], rec_get(p, ids[i])), 0);
        pattern(msg[i], sizeof(msg[i]), (unsigned)i);
        write_all(p, ids[i], msg[i], sizeof(msg[i]));
        cr_assert_eq(rly_yamux_stream_shutdown(p->y, ids[i]), 0);
    }
    /* Client IDs are odd, server IDs even, each side counting up. */
    const uint32_t want_ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_arr_eq(ids, want_ids, sizeof(ids));
    pump_with(&c, &s, 3000, 333, 0);
    for (int i = 0; i < 8; i++) {
        peer *rx = i % 2 ? &c : &s;
        rec *r = rec_get(rx, ids[i]);
        cr_assert_eq(r->data.len, sizeof(msg[i]));
        cr_assert_arr_eq(r->data.data, msg[i], sizeof(msg[i]));
        cr_assert_eq(r->nfin, 1);
        /* Open until the receiver shuts down too. */
        cr_assert_eq(rly_yamux_stream_shutdown(rx->y, ids[i]), 0);
    }
    cr_assert_eq(c.nopen + s.nopen, 8);
    pump(&c, &s);
    cr_assert_eq(rly_yamux_get_num_streams(c.y) + rly_yamux_get_num_streams(s.y), 0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(rec_get(&c, ids[i])->nclose, 1);
        cr_assert_eq(rec_get(&s, ids[i])->nclose, 1);
    }
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* open_pair opens stream 1 from the client and completes SYN/ACK. */
static void open_pair(peer *c, peer *s, const rly_yamux_settings *cs, const rly_yamux_settings *ss)
{
    peer_init(c, true, cs);
    peer_init(s, false, ss);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c->y, &id, rec_get(c, 1)), 0);
    pump(c, s);
    cr_assert_eq(s->nopen, 1);
}

static void check_reset(bool client_resets, size_t chunk)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    uint8_t d[100] = {0};
    write_all(&c, 1, d, sizeof(d));
    write_all(&s, 1, d, sizeof(d));
    peer *a = client_resets ? &c : &s, *b = client_resets ? &s : &c;
    cr_assert_eq(rly_yamux_stream_reset(a->y, 1), 0);
    /* The resetting side hears of it at once; the id is gone. */
    cr_assert(rec_get(a, 1)->nclose == 1 && rec_get(a, 1)->reason == RLY_ERR_RESET);
    cr_assert_eq(rly_yamux_stream_write(a->y, 1, d, 1), RLY_ERR_NOT_FOUND);
    cr_assert_eq(rly_yamux_stream_reset(a->y, 1), RLY_ERR_NOT_FOUND);
    cr_assert_eq(rly_yamux_get_num_streams(a->y), 0);
    pump_with(&c, &s, sizeof(wire), chunk, 0);
    cr_assert(rec_get(b, 1)->nclose == 1 && rec_get(b, 1)->reason == RLY_ERR_RESET);
    cr_assert_eq(rly_yamux_get_num_streams(b->y), 0);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, reset_both_ways)
{
    for (size_t chunk = 1; chunk < 20; chunk++) {
        check_reset(true, chunk);
        check_reset(false, chunk);
    }
}

Test(yamux, reset_before_syn_sends_nothing)
{
    peer c;
    peer_init(&c, true, NULL);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)), 0);
    cr_assert(rly_yamux_want_write(c.y));
    cr_assert_eq(rly_yamux_stream_reset(c.y, id), 0);
    cr_assert(!rly_yamux_want_write(c.y));
    cr_assert_eq(rec_get(&c, 1)->nclose, 1);
    peer_free(&c);
    check_no_leak();
}

Test(yamux, refused_stream_is_reset)
{
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, NULL);
    s.open_verdict = 1;
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)), 0);
    uint8_t d[3000] = {0};
    write_all(&c, id, d, sizeof(d));
    pump_with(&c, &s, sizeof(wire), 5, 0);
    cr_assert_eq(s.nopen, 1);
    cr_assert_eq(rec_get(&s, 1)->data.len, 0);
    cr_assert_eq(rec_get(&s, 1)->nclose, 0); /* never accepted: no close */
    cr_assert(rec_get(&c, 1)->nclose == 1 && rec_get(&c, 1)->reason == RLY_ERR_RESET);
    cr_assert_eq(rly_yamux_get_num_streams(s.y), 0);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, reset_from_data_callback)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    s.reset_on_data = true;
    static uint8_t d[50000];
    write_all(&c, 1, d, sizeof(d));
    pump_with(&c, &s, sizeof(wire), 1000, 0);
    /* The first piece (a 1000-byte read minus the header) was delivered; the rest of the frame
     * and later frames are drained. */
    cr_assert_eq(rec_get(&s, 1)->data.len, 1000 - RLY_YAMUX_FRAME_LEN);
    cr_assert_eq(rec_get(&s, 1)->reason, RLY_ERR_RESET);
    cr_assert_eq(rec_get(&c, 1)->reason, RLY_ERR_RESET);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* ---- Flow control ---- */

Test(yamux, backpressure_without_consume)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    s.consume = false;
    static uint8_t d[WIN];
    pattern(d, sizeof(d), 9);
    /* Two queues' worth: the second write must wait for the queue to drain. */
    write_all(&c, 1, d, sizeof(d));
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1), RLY_ERR_AGAIN);
    pump(&c, &s);
    cr_assert_eq(rec_get(&c, 1)->nwritable, 1);
    write_all(&c, 1, d, sizeof(d));
    pump(&c, &s);
    /* Exactly one window crossed; the sender holds the rest. */
    rec *r = rec_get(&s, 1);
    cr_assert_eq(r->data.len, WIN);
    cr_assert(!rly_yamux_want_write(c.y));
    rly_yamux_stream_info ci, si;
    cr_assert_eq(rly_yamux_stream_get_info(c.y, 1, &ci), 0);
    cr_assert_eq(ci.send_window, 0);
    cr_assert_eq(ci.queued, WIN);
    cr_assert_eq(rly_yamux_stream_get_info(s.y, 1, &si), 0);
    cr_assert_eq(si.recv_window, 0);
    cr_assert_eq(si.unconsumed, WIN);
    /* Less than half the window consumed: no update yet. */
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, WIN / 2 - 1), 0);
    cr_assert(!rly_yamux_want_write(s.y));
    pump(&c, &s);
    cr_assert_eq(r->data.len, WIN);
    /* Half: one Window Update, and exactly that much more flows. */
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, 1), 0);
    cr_assert(rly_yamux_want_write(s.y));
    pump(&c, &s);
    cr_assert_eq(r->data.len, WIN + WIN / 2);
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, WIN + 1), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, WIN), 0);
    pump(&c, &s);
    cr_assert_eq(r->data.len, 2 * WIN);
    cr_assert_arr_eq(r->data.data, d, WIN);
    cr_assert_arr_eq(r->data.data + WIN, d, WIN);
    cr_assert_eq(rly_yamux_stream_consume(s.y, 99, 1), RLY_ERR_NOT_FOUND);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* A bigger receive window is announced as a delta on the ACK (and on the SYN), and the peer
 * uses it without waiting for any consumption. */
Test(yamux, larger_window_via_syn_ack_delta)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.recv_window = 1024 * KIB;
    peer c, s;
    open_pair(&c, &s, &set, &set);
    s.consume = false;
    c.consume = false;
    static uint8_t d[1024 * KIB];
    rly_yamux_stream_info ci;
    cr_assert_eq(rly_yamux_stream_get_info(c.y, 1, &ci), 0);
    cr_assert_eq(ci.send_window, 1024 * KIB);
    for (size_t off = 0; off < sizeof(d); off += 256 * KIB) {
        write_all(&c, 1, d + off, 256 * KIB);
        pump(&c, &s);
    }
    cr_assert_eq(rec_get(&s, 1)->data.len, 1024 * KIB);
    cr_assert(!rly_yamux_want_write(c.y));
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, peer_overruns_window)
{
    /* Fill the window exactly, then one byte more: Go Away 1. */
    static uint8_t in[WIN + 64];
    uint8_t out[64];
    peer s;
    peer_init(&s, false, NULL);
    s.consume = false;
    size_t n = put(in, RLY_YAMUX_TYPE_DATA, RLY_YAMUX_FLAG_SYN, 1, WIN);
    memset(in + n, 'x', WIN);
    n += WIN;
    cr_assert_eq(feed(&s, in, n, 0), (rly_ssize)n);
    n = put(in, RLY_YAMUX_TYPE_DATA, 0, 1, 1);
    in[n++] = 'y';
    cr_assert_eq(feed(&s, in, n, 0), RLY_ERR_FLOW_CONTROL);
    cr_assert_eq(rly_yamux_get_error(s.y), RLY_ERR_FLOW_CONTROL);
    cr_assert(!rly_yamux_want_read(s.y));
    uint8_t want[RLY_YAMUX_FRAME_LEN];
    put(want, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, RLY_YAMUX_GOAWAY_PROTOCOL);
    cr_assert_eq(drain(&s, out, sizeof(out), 0), sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));
    /* Failed for good: input is refused, the API says closed. */
    cr_assert_eq(feed(&s, in, 1, 0), RLY_ERR_FLOW_CONTROL);
    cr_assert_eq(rly_yamux_stream_write(s.y, 1, in, 1), RLY_ERR_CLOSED);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(s.y, &id, NULL), RLY_ERR_CLOSED);
    cr_assert_eq(rly_yamux_handle_expiry(s.y, 0), RLY_ERR_FLOW_CONTROL);
    peer_free(&s);
    /* The stream was still open at rly_yamux_del: it was told. */
    check_no_leak();
}

/* A Data frame that arrives in pieces: its window is taken at the header, but only the bytes
 * delivered so far may be consumed (found by fuzz_yamux_pair: the whole frame counted as
 * unconsumed at its header, so an owner could consume, and grant window for, bytes it had not
 * been given). */
Test(yamux, only_delivered_bytes_may_be_consumed)
{
    static uint8_t in[64];
    peer s;
    rly_yamux_stream_info info;
    peer_init(&s, false, NULL);
    s.consume = false;
    size_t n = put(in, RLY_YAMUX_TYPE_DATA, RLY_YAMUX_FLAG_SYN, 1, 40);
    memset(in + n, 'x', 40);
    cr_assert_eq(feed(&s, in, n + 10, 0), (rly_ssize)(n + 10));
    cr_assert_eq(rly_yamux_stream_get_info(s.y, 1, &info), 0);
    cr_assert_eq(info.unconsumed, 10, "delivered so far: %zu", info.unconsumed);
    cr_assert_eq(info.recv_window, WIN - 40, "the whole frame is charged to the window");
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, 11), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, 10), 0);
    cr_assert_eq(feed(&s, in + n + 10, 30, 0), 30);
    cr_assert_eq(rly_yamux_stream_get_info(s.y, 1, &info), 0);
    cr_assert_eq(info.unconsumed, 30);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, data_frames_round_robin_and_capped)
{
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, NULL);
    static uint8_t d[64 * KIB];
    uint32_t a, b;
    cr_assert_eq(rly_yamux_open_stream(c.y, &a, NULL), 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &b, NULL), 0);
    write_all(&c, a, d, sizeof(d));
    write_all(&c, b, d, sizeof(d));
    size_t n = (size_t)rly_yamux_send(c.y, wire, sizeof(wire), 0);
    cr_assert_eq(n, 2 * 12 + 8 * 12 + 2 * sizeof(d));
    /* Two SYNs first, then Data alternating between the streams, 16 KiB each. */
    size_t off = 24;
    for (int i = 0; i < 8; i++) {
        rly_yamux_frame f;
        cr_assert_eq(rly_yamux_frame_decode(&f, wire + off), 0);
        cr_assert_eq(f.type, RLY_YAMUX_TYPE_DATA);
        cr_assert_eq(f.stream_id, i % 2 ? b : a);
        cr_assert_eq(f.length, 16 * KIB);
        off += 12 + f.length;
    }
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, write_queue_cap_and_writable)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_stream_buffer = 1000;
    peer c, s;
    open_pair(&c, &s, &set, NULL);
    uint8_t d[1500] = {0};
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 600), 600);
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 600), 400); /* partial */
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1), RLY_ERR_AGAIN);
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 0), 0);
    cr_assert_eq(rly_yamux_stream_write(c.y, 7, d, 1), RLY_ERR_NOT_FOUND);
    pump(&c, &s);
    cr_assert_eq(rec_get(&c, 1)->nwritable, 1);
    cr_assert_eq(rec_get(&s, 1)->data.len, 1000);
    /* A full write needs no notification. */
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 10), 10);
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, 1), 0);
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, 1), 0);
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1), RLY_ERR_CLOSED);
    pump(&c, &s);
    cr_assert_eq(rec_get(&c, 1)->nwritable, 1);
    cr_assert_eq(rec_get(&s, 1)->nfin, 1);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* The session cap bounds what all streams together may queue (a peer that never reads cannot
 * make the relay hold max_stream_buffer per stream), and a stream refused for it is woken once
 * the session drains, even though its own queue is empty. */
Test(yamux, session_buffer_cap_and_wake)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_stream_buffer = 1000;
    set.max_session_buffer = 1500;
    peer c, s;
    open_pair(&c, &s, &set, NULL);
    uint32_t id2;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id2, rec_get(&c, 3)), 0);
    cr_assert_eq(id2, 3);
    uint8_t d[1000] = {0};
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1000), 1000);
    cr_assert_eq(rly_yamux_stream_write(c.y, 3, d, 1000), 500, "capped by the session");
    cr_assert_eq(rly_yamux_stream_write(c.y, 3, d, 1), RLY_ERR_AGAIN);
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1), RLY_ERR_AGAIN, "stream 1 is full too");
    pump(&c, &s);
    cr_assert_eq(rec_get(&c, 1)->nwritable, 1);
    cr_assert_eq(rec_get(&c, 3)->nwritable, 1);
    cr_assert_eq(rec_get(&s, 1)->data.len, 1000);
    cr_assert_eq(rec_get(&s, 3)->data.len, 500);
    cr_assert_eq(rly_yamux_stream_write(c.y, 3, d, 1000), 1000, "room again after draining");
    /* A stream blocked only by the session, with nothing of its own queued, is woken too. */
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1000), 500);
    cr_assert_eq(rly_yamux_stream_write(c.y, 1, d, 1), RLY_ERR_AGAIN);
    pump(&c, &s);
    cr_assert_eq(rec_get(&c, 1)->nwritable, 2);
    cr_assert_eq(rec_get(&s, 1)->data.len, 1500);
    cr_assert_eq(rec_get(&s, 3)->data.len, 1500);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* FIN waits behind queued data when the window is closed. */
Test(yamux, fin_waits_for_window)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_stream_buffer = 2 * WIN;
    peer c, s;
    open_pair(&c, &s, &set, NULL);
    s.consume = false;
    static uint8_t d[WIN + 10];
    write_all(&c, 1, d, sizeof(d));
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, 1), 0);
    pump(&c, &s);
    cr_assert_eq(rec_get(&s, 1)->data.len, WIN);
    cr_assert_eq(rec_get(&s, 1)->nfin, 0);
    cr_assert_eq(rly_yamux_stream_consume(s.y, 1, WIN), 0);
    pump(&c, &s);
    cr_assert_eq(rec_get(&s, 1)->data.len, WIN + 10);
    cr_assert_eq(rec_get(&s, 1)->nfin, 1);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* Exact output for open + write + shutdown: SYN (Window Update), a Data frame without flags, then
 * FIN on a Window Update. js applies a frame's flags before its payload, so a FIN riding on the
 * Data frame would lose the data. */
Test(yamux, fin_never_on_data_frame)
{
    peer c;
    peer_init(&c, true, NULL);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)), 0);
    write_all(&c, id, (const uint8_t *)"ping", 4);
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, id), 0);
    uint8_t out[128], want[40];
    size_t n = put(want, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_SYN, 1, 0);
    n += put(want + n, RLY_YAMUX_TYPE_DATA, 0, 1, 4);
    memcpy(want + n, "ping", 4);
    n += 4;
    n += put(want + n, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_FIN, 1, 0);
    cr_assert_eq(drain(&c, out, sizeof(out), 0), n);
    cr_assert_arr_eq(out, want, n);
    peer_free(&c);
    check_no_leak();
}

/* ---- Keepalive and ping ---- */

Test(yamux, keepalive_ping_and_rtt)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    const rly_tstamp S = RLY_NS_PER_S;
    peer c, s;
    peer_init(&c, true, &set);
    peer_init(&s, false, NULL);
    cr_assert_eq(rly_yamux_get_expiry(c.y), 0); /* no clock seen yet */
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 100 * S), 0);
    cr_assert_eq(rly_yamux_get_expiry(c.y), 130 * S);
    cr_assert(!rly_yamux_want_write(c.y));
    /* Traffic from the peer postpones the ping. */
    uint8_t in[RLY_YAMUX_FRAME_LEN];
    put(in, RLY_YAMUX_TYPE_WINDOW_UPDATE, 0, 99, 5);
    cr_assert_eq(feed(&c, in, sizeof(in), 110 * S), 12);
    cr_assert_eq(rly_yamux_get_expiry(c.y), 140 * S);
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 139 * S), 0);
    cr_assert(!rly_yamux_want_write(c.y));
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 140 * S), 0);
    cr_assert(rly_yamux_want_write(c.y));
    cr_assert_eq(rly_yamux_get_expiry(c.y), 150 * S);
    xfer(&c, &s, sizeof(wire), 3, 140 * S);
    xfer(&s, &c, sizeof(wire), 3, 140 * S + 5 * RLY_NS_PER_MS);
    cr_assert_eq(c.nrtt, 1);
    cr_assert_eq(c.rtt, 5 * RLY_NS_PER_MS);
    cr_assert_eq(rly_yamux_get_expiry(c.y), 170 * S + 5 * RLY_NS_PER_MS);
    /* The server heard from the client at 140 s. Keepalive off: no deadline. */
    cr_assert_eq(rly_yamux_get_expiry(s.y), 170 * S);
    set.keepalive_interval = 0;
    peer o;
    peer_init(&o, false, &set);
    cr_assert_eq(rly_yamux_get_expiry(o.y), RLY_TSTAMP_MAX);
    cr_assert_eq(rly_yamux_handle_expiry(o.y, 5), 0);
    peer_free(&o);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, keepalive_timeout)
{
    const rly_tstamp S = RLY_NS_PER_S;
    peer c;
    peer_init(&c, true, NULL);
    uint8_t out[64];
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 0), 0);
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 30 * S), 0);
    uint8_t want[2 * RLY_YAMUX_FRAME_LEN];
    put(want, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, 1);
    cr_assert_eq(drain(&c, out, sizeof(out), 30 * S), 12);
    cr_assert_arr_eq(out, want, 12);
    /* An ACK with another value does not count. */
    uint8_t in[RLY_YAMUX_FRAME_LEN];
    put(in, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_ACK, 0, 2);
    cr_assert_eq(feed(&c, in, sizeof(in), 35 * S), 12);
    cr_assert_eq(rly_yamux_get_expiry(c.y), 40 * S);
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 40 * S - 1), 0);
    cr_assert_eq(rly_yamux_handle_expiry(c.y, 40 * S), RLY_ERR_TIMEOUT);
    cr_assert_eq(rly_yamux_get_expiry(c.y), RLY_TSTAMP_MAX);
    cr_assert_eq(feed(&c, in, sizeof(in), 41 * S), RLY_ERR_TIMEOUT);
    put(want, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, RLY_YAMUX_GOAWAY_INTERNAL);
    cr_assert_eq(drain(&c, out, sizeof(out), 41 * S), 12);
    cr_assert_arr_eq(out, want, 12);
    peer_free(&c);
    check_no_leak();
}

/* ---- Go Away ---- */

Test(yamux, goaway_graceful)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    cr_assert_eq(rly_yamux_goaway(s.y, RLY_YAMUX_GOAWAY_NORMAL), 0);
    cr_assert_eq(rly_yamux_goaway(s.y, 2), 0); /* only the first one is sent */
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(s.y, &id, NULL), RLY_ERR_CLOSED);
    pump(&c, &s);
    cr_assert_eq(c.ngoaway, 1);
    cr_assert_eq(c.goaway_code, 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), RLY_ERR_CLOSED);
    /* The open stream still works, in both directions. */
    uint8_t d[10] = {1, 2, 3};
    write_all(&c, 1, d, sizeof(d));
    write_all(&s, 1, d, sizeof(d));
    pump(&c, &s);
    cr_assert_eq(rec_get(&s, 1)->data.len, 10);
    cr_assert_eq(rec_get(&c, 1)->data.len, 10);
    cr_assert(rly_yamux_want_read(s.y) && rly_yamux_want_read(c.y));
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, 1), 0);
    cr_assert_eq(rly_yamux_stream_shutdown(s.y, 1), 0);
    pump(&c, &s);
    /* No stream left after a Go Away: both sides are done reading. */
    cr_assert(!rly_yamux_want_read(s.y) && !rly_yamux_want_read(c.y));
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* ---- Limits ---- */

Test(yamux, inbound_stream_cap)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_inbound_streams = 4;
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, &set);
    uint32_t ids[5];
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(rly_yamux_open_stream(c.y, &ids[i], NULL), 0);
        rec_get(&c, ids[i]);
    }
    pump(&c, &s);
    cr_assert_eq(s.nopen, 4);
    cr_assert_eq(rly_yamux_get_num_streams(s.y), 4);
    cr_assert_eq(rly_yamux_get_num_streams(c.y), 4);
    cr_assert(rec_get(&c, 9)->nclose == 1 && rec_get(&c, 9)->reason == RLY_ERR_RESET);
    /* A slot frees up when a stream closes. */
    cr_assert_eq(rly_yamux_stream_reset(c.y, 1), 0);
    pump(&c, &s);
    cr_assert_eq(rly_yamux_open_stream(c.y, &ids[0], NULL), 0);
    rec_get(&c, ids[0]);
    pump(&c, &s);
    cr_assert_eq(s.nopen, 5);
    cr_assert_eq(rly_yamux_get_num_streams(s.y), 4);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, outbound_limits)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_ack_backlog = 3;
    set.max_outbound_streams = 5;
    peer c, s;
    peer_init(&c, true, &set);
    peer_init(&s, false, NULL);
    uint32_t id;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), RLY_ERR_LIMIT);
    pump(&c, &s); /* ACKs arrive: the backlog empties */
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), RLY_ERR_LIMIT); /* 5 live */
    cr_assert_eq(id, 9);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, default_ack_backlog_is_256)
{
    peer c;
    peer_init(&c, true, NULL);
    uint32_t id;
    for (int i = 0; i < 256; i++)
        cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), 0);
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), RLY_ERR_LIMIT);
    cr_assert_eq(rly_yamux_get_num_streams(c.y), 256);
    peer_free(&c);
    check_no_leak();
}

/* ---- Flood limits ---- */

static void expect_flooded(peer *p, const uint8_t *in, size_t len, size_t frames, rly_tstamp now)
{
    rly_ssize rv = 0;
    for (size_t i = 0; i < frames && rv >= 0; i++)
        rv = feed(p, in, len, now);
    cr_assert_eq(rv, RLY_ERR_FLOODED, "got %td", rv);
    uint8_t out[64], want[RLY_YAMUX_FRAME_LEN];
    put(want, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, RLY_YAMUX_GOAWAY_PROTOCOL);
    cr_assert_eq(drain(p, out, sizeof(out), now), 12);
    cr_assert_arr_eq(out, want, 12);
}

Test(yamux, ping_flood)
{
    uint8_t in[RLY_YAMUX_FRAME_LEN];
    put(in, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, 7);
    peer s;
    peer_init(&s, false, NULL);
    /* 64 unanswered pings are fine (the peer does not read our ACKs); the 65th floods. */
    for (int i = 0; i < 64; i++)
        cr_assert_eq(feed(&s, in, sizeof(in), 0), 12);
    expect_flooded(&s, in, sizeof(in), 1, 0);
    peer_free(&s);
    /* A peer that reads its ACKs may keep pinging at the allowed rate. */
    peer_init(&s, false, NULL);
    uint8_t out[64];
    for (rly_tstamp t = 0; t < 5000; t++) {
        cr_assert_eq(feed(&s, in, sizeof(in), t * 10 * RLY_NS_PER_MS), 12);
        cr_assert_eq(drain(&s, out, sizeof(out), 0), 12);
    }
    peer_free(&s);
    check_no_leak();
}

Test(yamux, empty_frame_flood)
{
    uint8_t in[2 * RLY_YAMUX_FRAME_LEN];
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    /* Zero-delta window updates on a live stream, all at once. */
    put(in, RLY_YAMUX_TYPE_WINDOW_UPDATE, 0, 1, 0);
    expect_flooded(&s, in, 12, 1001, 0);
    peer_free(&c);
    peer_free(&s);
    /* Empty Data frames and frames for unknown streams count too; spaced out at the refill rate
     * (100/s) they never trip. */
    open_pair(&c, &s, NULL, NULL);
    put(in, RLY_YAMUX_TYPE_DATA, 0, 1, 0);
    put(in + 12, RLY_YAMUX_TYPE_WINDOW_UPDATE, 0, 77, 0);
    for (rly_tstamp t = 0; t < 3000; t++)
        cr_assert_eq(feed(&s, in, sizeof(in), t * 20 * RLY_NS_PER_MS), 24);
    expect_flooded(&s, in, sizeof(in), 600, 60 * RLY_NS_PER_S);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, rapid_reset_flood)
{
    peer s;
    peer_init(&s, false, NULL);
    uint8_t in[2 * RLY_YAMUX_FRAME_LEN];
    uint8_t out[256];
    rly_ssize rv = 0;
    uint32_t id = 1;
    for (; id < 5000 && rv >= 0; id += 2) {
        put(in, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_SYN, id, 0);
        put(in + 12, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_RST, id, 0);
        rv = feed(&s, in, sizeof(in), 0);
        (void)drain(&s, out, sizeof(out), 0);
    }
    cr_assert_eq(rv, RLY_ERR_FLOODED);
    cr_assert_eq(id, 2 * 1001 + 1); /* the 1001st reset */
    cr_assert_eq(rec_get(&s, 1)->reason, RLY_ERR_RESET);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, control_queue_flood)
{
    /* Refused streams queue RSTs; a peer that never reads them fills the control queue. */
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_pending_control = 6;
    set.max_pending_pings = 4;
    peer s;
    peer_init(&s, false, &set);
    s.open_verdict = 1;
    uint8_t in[RLY_YAMUX_FRAME_LEN];
    rly_ssize rv = 0;
    int n = 0;
    for (uint32_t id = 1; rv >= 0; id += 2, n++) {
        put(in, RLY_YAMUX_TYPE_WINDOW_UPDATE, RLY_YAMUX_FLAG_SYN, id, 0);
        rv = feed(&s, in, sizeof(in), 0);
    }
    cr_assert_eq(rv, RLY_ERR_FLOODED);
    cr_assert_eq(n, 7);
    peer_free(&s);
    check_no_leak();
}

/* Ping ACKs keep their order while the control queue is drained a frame at a time and refilled
 * (the FIFO compacts instead of growing). */
Test(yamux, control_queue_order)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_pending_pings = 4;
    set.max_pending_control = 6;
    peer s;
    peer_init(&s, false, &set);
    uint8_t in[RLY_YAMUX_FRAME_LEN], out[64];
    uint32_t next_in = 100, next_out = 100;
    for (int round = 0; round < 50; round++) {
        while (next_in - next_out < 4) {
            put(in, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, next_in++);
            cr_assert_eq(feed(&s, in, sizeof(in), (rly_tstamp)round * RLY_NS_PER_S), 12);
        }
        /* Room for one frame only. */
        cr_assert_eq(rly_yamux_send(s.y, out, 23, 0), 12);
        rly_yamux_frame f;
        cr_assert_eq(rly_yamux_frame_decode(&f, out), 0);
        cr_assert(f.type == RLY_YAMUX_TYPE_PING && f.flags == RLY_YAMUX_FLAG_ACK);
        cr_assert_eq(f.length, next_out++);
    }
    peer_free(&s);
    check_no_leak();
}

/* The send queue is a ring: small frames drain it partly, writes wrap around its end, and it
 * grows while wrapped; the bytes still arrive in order. */
Test(yamux, send_queue_ring_wraps_and_grows)
{
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.max_send_frame = 100;
    peer c, s;
    open_pair(&c, &s, &set, NULL);
    static uint8_t d[20000];
    pattern(d, sizeof(d), 5);
    size_t in = 0;
    unsigned step = 1;
    while (in < sizeof(d)) {
        size_t n = (step * 37) % 300 + 1;
        n = n < sizeof(d) - in ? n : sizeof(d) - in;
        write_all(&c, 1, d + in, n);
        in += n;
        /* Move one or two small frames. */
        xfer(&c, &s, 12 + 100 + (step % 2) * 112, 7, 0);
        step++;
    }
    pump(&c, &s);
    cr_assert_eq(rec_get(&s, 1)->data.len, sizeof(d));
    cr_assert_arr_eq(rec_get(&s, 1)->data.data, d, sizeof(d));
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* Hundreds of streams opened and closed in a scattered order: the table finds every survivor
 * and shrinks to nothing at the end. */
Test(yamux, stream_table_churn)
{
    peer c, s;
    peer_init(&c, true, NULL);
    peer_init(&s, false, NULL);
    size_t sessions = rly_mem_default()->live_bytes;
    uint32_t ids[200];
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(rly_yamux_open_stream(c.y, &ids[i], NULL), 0);
        rec_get(&c, ids[i]);
    }
    pump(&c, &s);
    cr_assert_eq(rly_yamux_get_num_streams(s.y), 200);
    for (int i = 0; i < 200; i++) {
        uint32_t id = ids[(i * 73) % 200];
        if (i % 3 == 0)
            cr_assert_eq(rly_yamux_stream_reset(c.y, id), 0);
        else if (i % 3 == 1)
            cr_assert_eq(rly_yamux_stream_reset(s.y, id), 0);
        else
            write_all(&c, id, (const uint8_t *)&id, sizeof(id));
    }
    pump(&c, &s);
    size_t left = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t id = ids[(i * 73) % 200];
        if (i % 3 != 2) {
            cr_assert_eq(rly_yamux_stream_get_user_data(s.y, id), NULL);
            continue;
        }
        left++;
        rec *r = rec_get(&s, id);
        cr_assert_eq(rly_yamux_stream_get_user_data(s.y, id), r);
        cr_assert(r->data.len == 4 && memcmp(r->data.data, &id, 4) == 0);
        cr_assert_eq(rly_yamux_stream_shutdown(s.y, id), 0);
        cr_assert_eq(rly_yamux_stream_shutdown(c.y, id), 0);
    }
    cr_assert_eq(rly_yamux_get_num_streams(s.y), left);
    pump(&c, &s);
    cr_assert_eq(rly_yamux_get_num_streams(s.y) + rly_yamux_get_num_streams(c.y), 0);
    /* Only the sessions are left: tables, streams and queues are gone. */
    cr_assert_eq(rly_mem_default()->live_bytes, sessions);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* ---- Callbacks and teardown ---- */

Test(yamux, callback_failure_in_send)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    cr_assert_eq(rly_yamux_stream_shutdown(c.y, 1), 0);
    pump(&c, &s);
    s.close_ret = RLY_ERR_CALLBACK_FAILURE;
    cr_assert_eq(rly_yamux_stream_shutdown(s.y, 1), 0);
    /* Writing the server's FIN completes the stream; its close callback aborts the session. */
    cr_assert_eq(rly_yamux_send(s.y, wire, sizeof(wire), 0), RLY_ERR_CALLBACK_FAILURE);
    cr_assert_eq(rly_yamux_get_error(s.y), RLY_ERR_CALLBACK_FAILURE);
    uint8_t out[64], want[12];
    put(want, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, RLY_YAMUX_GOAWAY_INTERNAL);
    cr_assert_eq(drain(&s, out, sizeof(out), 0), 12);
    cr_assert_arr_eq(out, want, 12);
    s.close_ret = 0;
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, callback_failure_is_fatal)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    s.data_ret = RLY_ERR_CALLBACK_FAILURE;
    uint8_t d[5] = {0};
    write_all(&c, 1, d, sizeof(d));
    rly_ssize n = rly_yamux_send(c.y, wire, sizeof(wire), 0);
    cr_assert_eq(feed(&s, wire, (size_t)n, 0), RLY_ERR_CALLBACK_FAILURE);
    uint8_t out[64], want[12];
    put(want, RLY_YAMUX_TYPE_GO_AWAY, 0, 0, RLY_YAMUX_GOAWAY_INTERNAL);
    cr_assert_eq(drain(&s, out, sizeof(out), 0), 12);
    cr_assert_arr_eq(out, want, 12);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, del_closes_open_streams)
{
    peer c, s;
    open_pair(&c, &s, NULL, NULL);
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 3)), 0);
    uint8_t d[100] = {0};
    write_all(&c, id, d, sizeof(d));
    cr_assert_eq(rly_yamux_stream_reset(s.y, 1), 0); /* a zombie with its RST pending */
    rly_yamux_del(c.y);
    c.y = NULL;
    cr_assert(rec_get(&c, 1)->nclose == 1 && rec_get(&c, 1)->reason == RLY_ERR_CLOSED);
    cr_assert(rec_get(&c, 3)->nclose == 1 && rec_get(&c, 3)->reason == RLY_ERR_CLOSED);
    rly_yamux_del(s.y);
    s.y = NULL;
    cr_assert_eq(rec_get(&s, 1)->nclose, 1); /* from the reset, not again */
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

Test(yamux, invalid_settings)
{
    rly_yamux *y = NULL;
    rly_yamux_settings set;
    rly_yamux_settings_default(&set);
    set.recv_window = WIN - 1;
    cr_assert_eq(rly_yamux_new(&y, false, &set, &cbs, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    rly_yamux_settings_default(&set);
    set.max_send_frame = 0;
    cr_assert_eq(rly_yamux_new(&y, false, &set, &cbs, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    rly_yamux_settings_default(&set);
    set.max_pending_pings = set.max_pending_control + 1;
    cr_assert_eq(rly_yamux_new(&y, false, &set, &cbs, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_yamux_new(&y, false, NULL, NULL, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_null(y);
    rly_yamux_del(NULL);
    check_no_leak();
}

/* ---- Memory ---- */

Test(yamux, idle_memory)
{
    rly_mem *m = rly_mem_default();
    size_t base = m->live_bytes;
    peer c, s;
    peer_init(&s, false, NULL);
    size_t session = m->live_bytes - base;
    peer_init(&c, true, NULL);
    cr_assert_eq(m->live_bytes - base, 2 * session); /* both roles the same size */
    uint32_t id;
    cr_assert_eq(rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)), 0);
    pump(&c, &s);
    size_t with_stream = m->live_bytes - base;
    size_t per_side = (with_stream - 2 * session) / 2;
    uint8_t d[1000] = {0};
    write_all(&c, id, d, sizeof(d));
    pump(&c, &s);
    cr_assert_eq(m->live_bytes - base, with_stream); /* drained queues are freed */
    /* 100 idle streams on the server. */
    for (int i = 0; i < 99; i++) {
        cr_assert_eq(rly_yamux_open_stream(c.y, &id, NULL), 0);
        rec_get(&c, id);
    }
    pump(&c, &s);
    size_t hundred = m->live_bytes - base - 2 * session;
    cr_log_info("yamux idle session: %zu bytes; idle stream (incl. table share): %zu bytes per "
                "side; 100 streams on both sides: %zu bytes (%zu per stream per side)",
                session, per_side, hundred, hundred / 200);
    printf("yamux idle memory: session %zu B, stream %zu B per side, 100 streams %zu B/side\n",
           session, per_side, hundred / 2);
    cr_assert_leq(session, 1024);
    cr_assert_leq(per_side, 256);
    cr_assert_leq(hundred / 200, 200);
    peer_free(&c);
    peer_free(&s);
    check_no_leak();
}

/* ---- Allocation failures ---- */

/* torture_run runs an exchange that tolerates errors and returns whether it completed. */
static bool torture_run(void)
{
    peer c, s;
    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.consume = s.consume = true;
    bool ok = false;
    if (rly_yamux_new(&c.y, true, NULL, &cbs, NULL, NULL, &c) != 0 ||
        rly_yamux_new(&s.y, false, NULL, &cbs, NULL, NULL, &s) != 0)
        goto out;
    static uint8_t d[40000];
    uint32_t id;
    if (rly_yamux_open_stream(c.y, &id, rec_get(&c, 1)) != 0)
        goto out;
    if (rly_yamux_stream_write(c.y, id, d, sizeof(d)) != (rly_ssize)sizeof(d))
        goto out;
    uint8_t ping[12];
    put(ping, RLY_YAMUX_TYPE_PING, RLY_YAMUX_FLAG_SYN, 0, 1);
    if (rly_yamux_recv(s.y, ping, sizeof(ping), 0) != 12)
        goto out;
    for (int i = 0; i < 100; i++) {
        rly_ssize n = rly_yamux_send(c.y, wire, sizeof(wire), 0);
        if (n < 0 || rly_yamux_recv(s.y, wire, (size_t)n, 0) != n)
            goto out;
        rly_ssize m = rly_yamux_send(s.y, wire, sizeof(wire), 0);
        if (m < 0 || rly_yamux_recv(c.y, wire, (size_t)m, 0) != m)
            goto out;
        if (n == 0 && m == 0)
            break;
    }
    ok = rec_get(&s, 1)->data.len == sizeof(d);
out:
    peer_free(&c);
    peer_free(&s);
    return ok;
}

Test(yamux, allocation_failures)
{
    rly_mem *m = rly_mem_default();
    int completed = 0;
    for (uint64_t k = 1; k < 40; k++) {
        m->fail_nth = m->nattempts + k;
        if (torture_run())
            completed++;
        m->fail_nth = 0;
        check_no_leak();
    }
    cr_assert_gt(completed, 0); /* late failure points are never reached */
    cr_assert(torture_run());
    check_no_leak();
}
