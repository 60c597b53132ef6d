/* bench_many: a Circuit Relay v2 server under many concurrent circuits, each moving data at a
 * modest rate (many agents, small flows), on our own library (swarm + proto/circuit), one libuv
 * loop; only the protocol is used, so any relay serves (ours, go-, rust-, js-libp2p's).
 *
 *   bench_many --relay <multiaddr/p2p/id> --circuits N [--rate BYTES_PER_S] [--chunk BYTES]
 *              [--seconds S] [--warmup S] [--concurrency K] [--pings MS] [--server-pid PID]
 *              [--timeout S]
 *
 * One agent per circuit, as in the field: N listener identities each connect to the relay and
 * RESERVE, N dialler identities each connect and CONNECT to their own listener (one relay
 * connection per identity, so the relay holds 2N connections, N reservations, N circuits). Both
 * ends upgrade the circuit end to end (Noise + Yamux, rly_swarm_upgrade_stream, as test_client);
 * the dialler opens one /mesh-relay/echo/1.0.0 stream on it and the listener echoes everything
 * back. Set-up runs at most --concurrency circuits at a time (default 64), from the listener's
 * dial to the echo stream's negotiation, so the relay is never flooded.
 *
 * Traffic: once its echo stream is open, each dialler writes --chunk bytes (default 4096) every
 * chunk/rate seconds (--rate default 16384 B/s), paced by a timer against its own start (no
 * drift; a stream held by flow control catches up later), started at a random phase so the N
 * flows do not tick together. The bytes are a counter pattern seeded with the circuit's index:
 * every echoed byte is checked, so corruption, loss, reordering and crossed circuits are caught.
 * One more pair of identities holds a circuit for latency: a /ipfs/ping/1.0.0 stream on it, one
 * 32-byte ping every --pings ms (default 100) while none is outstanding; the RTTs inside the
 * window give p50/p99.
 *
 * Once every circuit is set up (or failed), --warmup seconds (default 2) pass, then the window of
 * --seconds (default 10): bytes = bytes the diallers wrote plus bytes echoed back to them within
 * the window (what the relay forwarded: each byte crosses it twice); mbps in MB/s (1e6 B);
 * per_server_cpu_s_mb = MB forwarded per second of the relay's CPU (/proc/<pid>/stat utime+stime
 * over the window); server_rss0_kb is the relay's VmRSS before the first connection,
 * server_rss_kb at the end of the window. offered_mbps is what the pacing asked for (2 x N x rate);
 * mbps below it means the relay (or this tool: client_cpu_util) did not keep up.
 *
 * Output, one record line (scripts/bench.sh parses key=value):
 *   many circuits=N established=E seconds=S bytes=B mbps=M offered_mbps=O server_cpu_s=C
 *        per_server_cpu_s_mb=X server_rss0_kb=R0 server_rss_kb=R ping_p50_ms=P ping_p99_ms=Q
 *        pings=K failed=F setup_s=T client_cpu_util=U client_lag_p50_ms=L client_lag_p99_ms=L
 * The ping's RTT includes this process's own delays (both ends of every circuit run on this one
 * loop): client_lag_* is how late the ping timer fired, i.e. how long this loop was busy or
 * off the CPU; a lag near the RTT means the latency is the tool's, not the relay's.
 * failed counts circuits (the ping circuit included) that failed to set up, broke, or returned
 * data that was not what was sent. Exit codes: 0 ok, 1 any failure or data mismatch (a line on
 * stderr says why; the record line is printed all the same), 2 usage. Bounded by --timeout; on
 * the deadline a short record "many circuits=N established=E failed=F timed_out=1 server_rss0_kb=
 * server_rss_kb=" (E: circuits up then; F: the rest, the ping circuit included) and exit 1.
 *
 * --debug-corrupt OFFSET: the listener of circuit 0 flips one bit of the byte at stream offset
 * OFFSET when echoing it (the check must then fail the run: exit 1). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "app/log_sink.h"
#include "bench_proc.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"
#include "proto/ping/ping.h"
#include "swarm/swarm.h"

#define ECHO_PROTOCOL "/mesh-relay/echo/1.0.0"
#define ECHO_BACKLOG_MAX (1024 * 1024) /* far above one Yamux window */
#define SCRATCH_SIZE (64 * 1024)
#define MAX_REPORTED 5 /* failures described on stderr; the rest are counted */

typedef enum cstate {
    C_IDLE,    /* not started */
    C_LDIAL,   /* the listener connects to the relay */
    C_RESERVE, /* the listener's RESERVE */
    C_DDIAL,   /* the dialler connects to the relay */
    C_CONNECT, /* the dialler's CONNECT */
    C_UPGRADE, /* Noise + Yamux over the circuit */
    C_STREAM,  /* the echo (or ping) stream is negotiated */
    C_READY,   /* traffic flows */
    C_FAILED,  /* counted in failed */
} cstate;

typedef struct bench bench;

typedef struct circ {
    bench *b;
    size_t idx; /* data circuits 0..n-1; the ping circuit is n */
    bool is_ping;
    cstate st;
    rly_swarm *lsw, *dsw; /* listener and dialler identities */
    rly_peerid lid;
    rly_conn *lconn, *dconn; /* their connections to the relay */
    rly_circuit_pb_reader reader;
    uint32_t hop_type;
    bool has_reader;
    rly_stream *ds; /* the dialler's stream on the relayed connection */
    uint32_t seed;
    uint64_t t_start;           /* uv_hrtime when traffic began */
    uint64_t tx_target, tx, rx; /* bytes due, written, echoed back (checked) */
    uint64_t tx0, rx0;          /* at the window's start */
    uv_timer_t tick;
    bool has_tick;
    /* ping circuit */
    uint8_t ping_out[RLY_PING_SIZE], ping_in[RLY_PING_SIZE];
    size_t ping_in_len;
    bool is_ping_outstanding;
    uint64_t ping_t;
} circ;

struct bench {
    uv_loop_t loop;
    uv_timer_t start, deadline, phase, ping_timer;
    rly_log log;
    rly_log_sink sink;
    rly_multiaddr relay;
    circ *c; /* n data circuits, then the ping circuit */
    size_t n, next, inflight, ready, failed, reported;
    unsigned concurrency;
    uint64_t rate, chunk, interval_ns;
    double seconds, warmup;
    unsigned ping_ms;
    long server_pid;
    long rss0;
    bool is_window, is_setup_done;
    uint64_t t_setup0, t_win0;
    double setup_s, cpu0, ccpu0;
    double *rtt_ms, *lag_ms; /* ping RTTs; lateness of the ping timer (this loop's lag) */
    size_t nrtt, nlag, cap_rtt;
    uint64_t ping_due;   /* uv_hrtime the ping timer is next due */
    uint64_t corrupt_at; /* UINT64_MAX: off */
    uint8_t scratch[SCRATCH_SIZE];
};

static void fail_circ(circ *c, const char *what, int err);
static void setup_pump(bench *b);

/* ---- /proc readings -------------------------------------------------------------------------- */

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- the data pattern: a 32-bit little-endian counter, offset by the circuit's seed --------- */

static inline uint8_t pattern(uint32_t seed, uint64_t k)
{
    uint32_t word = (uint32_t)(k >> 2) + seed;
    return (uint8_t)(word >> (8 * (k & 3)));
}

/* ---- the end ------------------------------------------------------------------------------ */

static void report_and_exit(bench *b)
{
    double secs = (double)(uv_hrtime() - b->t_win0) / 1e9;
    double cpu = bench_proc_cpu_s(b->server_pid) - b->cpu0;
    double ccpu = self_cpu_s() - b->ccpu0;
    long rss = bench_proc_rss_kb(b->server_pid);
    uint64_t bytes = 0;
    size_t established = 0;
    for (size_t i = 0; i < b->n; i++) {
        circ *c = &b->c[i];
        if (c->st == C_READY)
            established++;
        if (c->t_start) /* a broken circuit's bytes up to the break count too */
            bytes += (c->tx - c->tx0) + (c->rx - c->rx0);
    }
    double mb = (double)bytes / 1e6;
    if (getenv("BENCH_MANY_RTTS"))
        for (size_t i = 0; i < b->nrtt; i++)
            fprintf(stderr, "rtt %.3f\n", b->rtt_ms[i]);
    qsort(b->rtt_ms, b->nrtt, sizeof(double), cmp_double);
    qsort(b->lag_ms, b->nlag, sizeof(double), cmp_double);
    printf("many circuits=%zu established=%zu seconds=%.3f bytes=%" PRIu64 " mbps=%.2f "
           "offered_mbps=%.2f server_cpu_s=%.2f per_server_cpu_s_mb=%.2f server_rss0_kb=%ld "
           "server_rss_kb=%ld ping_p50_ms=%.3f ping_p99_ms=%.3f pings=%zu failed=%zu setup_s=%.2f "
           "client_cpu_util=%.2f client_lag_p50_ms=%.3f client_lag_p99_ms=%.3f\n",
           b->n, established, secs, bytes, secs > 0 ? mb / secs : 0,
           2.0 * (double)b->n * (double)b->rate / 1e6, cpu, cpu > 0 ? mb / cpu : 0, b->rss0, rss,
           pct(b->rtt_ms, b->nrtt, 0.5), pct(b->rtt_ms, b->nrtt, 0.99), b->nrtt, b->failed,
           b->setup_s, secs > 0 ? ccpu / secs : 0, pct(b->lag_ms, b->nlag, 0.5),
           pct(b->lag_ms, b->nlag, 0.99));
    fflush(stdout);
    int code = 0;
    if (b->failed > 0) {
        fprintf(stderr, "bench_many: %zu circuit(s) failed\n", b->failed);
        code = 1;
    }
    if (b->nrtt == 0) {
        fprintf(stderr, "bench_many: no ping answered in the window\n");
        code = 1;
    }
    exit(code); /* the kernel closes the sockets */
}

static void on_deadline(uv_timer_t *t)
{
    bench *b = t->data;
    fprintf(stderr, "bench_many: timed out (--timeout): ready=%zu failed=%zu of %zu\n", b->ready,
            b->failed, b->n + 1);
    /* a record all the same, so that the report shows how far the relay got */
    printf("many circuits=%zu established=%zu failed=%zu timed_out=1 server_rss0_kb=%ld "
           "server_rss_kb=%ld\n",
           b->n, b->ready, b->n + 1 - b->ready, b->rss0, bench_proc_rss_kb(b->server_pid));
    fflush(stdout);
    exit(1);
}

/* ---- failures ------------------------------------------------------------------------------ */

static void fail_circ(circ *c, const char *what, int err)
{
    bench *b = c->b;
    if (c->st == C_FAILED)
        return;
    bool was_setup = c->st != C_READY && c->st != C_IDLE;
    if (c->st == C_READY)
        b->ready--;
    c->st = C_FAILED;
    b->failed++;
    if (c->has_tick)
        uv_timer_stop(&c->tick);
    if (b->reported++ < MAX_REPORTED)
        fprintf(stderr, "bench_many: circuit %zu%s: %s%s%s\n", c->idx, c->is_ping ? " (ping)" : "",
                what, err ? ": " : "", err ? rly_strerror(err) : "");
    if (c->ds) {
        rly_stream_set_handler(c->ds, NULL, NULL);
        (void)rly_stream_reset(c->ds);
        c->ds = NULL;
    }
    if (was_setup) {
        b->inflight--;
        setup_pump(b);
    }
}

/* ---- the dialler's echo stream: paced writes, checked echo -------------------------------- */

static void data_flush(circ *c)
{
    bench *b = c->b;
    while (c->ds && c->tx < c->tx_target) {
        uint64_t want = c->tx_target - c->tx;
        size_t len = want < SCRATCH_SIZE ? (size_t)want : SCRATCH_SIZE;
        for (size_t i = 0; i < len; i++)
            b->scratch[i] = pattern(c->seed, c->tx + i);
        rly_ssize w = rly_stream_write(c->ds, b->scratch, len);
        if (w == RLY_ERR_AGAIN)
            return; /* on_writable */
        if (w < 0) {
            fail_circ(c, "write", (int)w);
            return;
        }
        c->tx += (uint64_t)w;
        if ((size_t)w < len)
            return;
    }
}

static void data_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    circ *c = ud;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != pattern(c->seed, c->rx + i)) {
            char what[96];
            snprintf(what, sizeof(what), "data mismatch at offset %" PRIu64 " (0x%02x, not 0x%02x)",
                     c->rx + i, data[i], pattern(c->seed, c->rx + i));
            fail_circ(c, what, 0);
            return;
        }
    }
    if (c->rx + len > c->tx) {
        fail_circ(c, "more bytes echoed than sent", 0);
        return;
    }
    c->rx += len;
    (void)rly_stream_consume(s, len);
}

static void data_on_fin(rly_stream *s, void *ud)
{
    fail_circ(ud, "the echo stream ended", 0);
}

static void data_on_writable(rly_stream *s, void *ud)
{
    data_flush(ud);
}

static void data_on_close(rly_stream *s, void *ud, int err)
{
    circ *c = ud;
    c->ds = NULL;
    fail_circ(c, "the echo stream closed", err ? err : RLY_ERR_CLOSED);
}

static const rly_stream_handler data_handler = {.on_data = data_on_data,
                                                .on_fin = data_on_fin,
                                                .on_writable = data_on_writable,
                                                .on_close = data_on_close};

static void on_tick(uv_timer_t *t)
{
    circ *c = t->data;
    bench *b = c->b;
    uint64_t now = uv_hrtime();
    /* Chunks due since the start (the first at the start itself; the loop's clock may run a
     * little behind uv_hrtime, so the first tick can come before t_start). */
    uint64_t due = now > c->t_start ? (now - c->t_start) / b->interval_ns + 1 : 1;
    if (due * b->chunk > c->tx_target)
        c->tx_target = due * b->chunk;
    data_flush(c);
}

static void start_traffic(circ *c)
{
    bench *b = c->b;
    uint64_t interval_ms = b->interval_ns / 1000000;
    uint32_t r = 0;
    if (rly_crypto_random((uint8_t *)&r, sizeof(r)) != 0)
        r = (uint32_t)c->idx * 2654435761u; /* spread all the same */
    uint64_t phase = interval_ms > 0 ? (uint64_t)r % interval_ms : 0;
    uv_timer_init(&b->loop, &c->tick);
    c->tick.data = c;
    c->has_tick = true;
    c->t_start = uv_hrtime() + phase * 1000000;
    /* The first tick at the phase, then every interval (on_tick computes what is due). */
    uv_timer_start(&c->tick, on_tick, phase, interval_ms > 0 ? interval_ms : 1);
}

/* ---- the ping circuit ---------------------------------------------------------------------- */

static void ping_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    circ *c = ud;
    bench *b = c->b;
    uint64_t now = uv_hrtime();
    if (!c->is_ping_outstanding || len > RLY_PING_SIZE - c->ping_in_len) {
        fail_circ(c, "unexpected ping bytes", 0);
        return;
    }
    memcpy(c->ping_in + c->ping_in_len, data, len);
    c->ping_in_len += len;
    (void)rly_stream_consume(s, len);
    if (c->ping_in_len < RLY_PING_SIZE)
        return;
    if (memcmp(c->ping_in, c->ping_out, RLY_PING_SIZE) != 0) {
        fail_circ(c, "the ping's echo differs", 0);
        return;
    }
    c->is_ping_outstanding = false;
    if (b->is_window && c->ping_t >= b->t_win0 && b->nrtt < b->cap_rtt)
        b->rtt_ms[b->nrtt++] = (double)(now - c->ping_t) / 1e6;
}

static void ping_on_fin(rly_stream *s, void *ud)
{
    fail_circ(ud, "the ping stream ended", 0);
}

static void ping_on_close(rly_stream *s, void *ud, int err)
{
    circ *c = ud;
    c->ds = NULL;
    fail_circ(c, "the ping stream closed", err ? err : RLY_ERR_CLOSED);
}

static const rly_stream_handler ping_handler = {
    .on_data = ping_on_data, .on_fin = ping_on_fin, .on_close = ping_on_close};

/* Every --pings ms: a ping unless one is outstanding (a slow answer is one long RTT, not many). */
static void on_ping_timer(uv_timer_t *t)
{
    bench *b = t->data;
    circ *c = &b->c[b->n];
    uint64_t now = uv_hrtime();
    if (b->ping_due && now > b->ping_due && b->is_window && b->nlag < b->cap_rtt)
        b->lag_ms[b->nlag++] = (double)(now - b->ping_due) / 1e6;
    b->ping_due = now + (uint64_t)b->ping_ms * 1000000;
    if (c->st != C_READY || c->is_ping_outstanding)
        return;
    if (rly_crypto_random(c->ping_out, RLY_PING_SIZE) != 0) {
        fail_circ(c, "no random bytes", 0);
        return;
    }
    c->ping_in_len = 0;
    c->is_ping_outstanding = true;
    c->ping_t = uv_hrtime();
    if (rly_stream_write(c->ds, c->ping_out, RLY_PING_SIZE) != RLY_PING_SIZE)
        fail_circ(c, "cannot write a ping", 0);
}

/* ---- phases -------------------------------------------------------------------------------- */

static void on_window_end(uv_timer_t *t)
{
    report_and_exit(t->data);
}

static void on_warmup_end(uv_timer_t *t)
{
    bench *b = t->data;
    for (size_t i = 0; i < b->n; i++) {
        b->c[i].tx0 = b->c[i].tx;
        b->c[i].rx0 = b->c[i].rx;
    }
    b->t_win0 = uv_hrtime();
    b->cpu0 = bench_proc_cpu_s(b->server_pid);
    b->ccpu0 = self_cpu_s();
    b->is_window = true;
    uv_timer_start(&b->phase, on_window_end, (uint64_t)(b->seconds * 1000), 0);
}

static void setup_done(bench *b)
{
    b->is_setup_done = true;
    b->setup_s = (double)(uv_hrtime() - b->t_setup0) / 1e9;
    fprintf(stderr, "bench_many: set-up of %zu circuits (+1 ping) in %.2f s, %zu failed\n", b->n,
            b->setup_s, b->failed);
    uv_timer_start(&b->phase, on_warmup_end, (uint64_t)(b->warmup * 1000), 0);
}

/* A circuit's stream is negotiated: it counts as set up. */
static void circ_ready(circ *c)
{
    bench *b = c->b;
    c->st = C_READY;
    b->ready++;
    b->inflight--;
    if (c->is_ping)
        uv_timer_start(&b->ping_timer, on_ping_timer, 0, b->ping_ms);
    else
        start_traffic(c);
    setup_pump(b);
}

static void stream_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    circ *c = ud;
    if (!s) {
        fail_circ(c, c->is_ping ? "cannot open the ping stream" : "cannot open the echo stream",
                  err);
        return;
    }
    if (c->st == C_FAILED) {
        (void)rly_stream_reset(s);
        return;
    }
    c->ds = s;
    rly_stream_set_handler(s, c->is_ping ? &ping_handler : &data_handler, c);
    circ_ready(c);
    if (len > 0)
        s->handler->on_data(s, c, data, len);
}

static void on_drelayed(void *ud, rly_conn *conn, int err)
{
    circ *c = ud;
    if (!conn) {
        fail_circ(c, "the dialler's relayed connection failed", err);
        return;
    }
    if (c->st == C_FAILED)
        return;
    c->st = C_STREAM;
    int rv = rly_swarm_open_stream(c->dsw, conn, c->is_ping ? RLY_PING_PROTOCOL : ECHO_PROTOCOL,
                                   stream_opened, c);
    if (rv != 0)
        fail_circ(c, "cannot open a stream", rv);
}

/* "<relay>/p2p-circuit/p2p/<peer>": the relayed connection's remote address. */
static int circuit_addr(const bench *b, const rly_peerid *peer, rly_multiaddr *out)
{
    *out = b->relay;
    int rv = rly_multiaddr_append_component(out, RLY_MA_P2P_CIRCUIT, NULL, 0);
    return rv ? rv : rly_multiaddr_append_p2p(out, peer);
}

/* ---- hop requests (RESERVE by the listener, CONNECT by the dialler) ----------------------- */

static void hop_send(circ *c, uint32_t type);
static void on_ddial(void *ud, rly_conn *conn, int err);

static void hop_reply(circ *c, rly_stream *s, const uint8_t *msg, size_t msglen,
                      const uint8_t *rest, size_t restlen)
{
    bench *b = c->b;
    rly_circuit_hop_msg m;
    rly_multiaddr remote;
    int rv = rly_hop_parse_reply(&m, c->hop_type, msg, msglen);
    rly_stream_set_handler(s, NULL, NULL);
    rly_circuit_pb_reader_free(&c->reader);
    c->has_reader = false;
    if (c->hop_type == RLY_CIRCUIT_HOP_RESERVE) {
        (void)rly_stream_shutdown(s);
        if (rv != 0) {
            fail_circ(c, "RESERVE refused", rv);
            return;
        }
        c->st = C_DDIAL;
        rly_multiaddr ma = b->relay;
        rv = rly_swarm_dial(c->dsw, &ma, on_ddial, c);
        if (rv != 0)
            fail_circ(c, "the dialler cannot dial", rv);
        return;
    }
    if (rv == 0)
        rv = circuit_addr(b, &c->lid, &remote);
    if (rv != 0) {
        (void)rly_stream_reset(s);
        fail_circ(c, "CONNECT refused", rv);
        return;
    }
    c->st = C_UPGRADE;
    rv = rly_swarm_upgrade_stream(c->dsw, s, RLY_CONN_OUTBOUND, &c->lid, &remote, rest, restlen,
                                  on_drelayed, c);
    if (rv != 0)
        fail_circ(c, "cannot upgrade the circuit", rv);
}

static void hop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    circ *c = ud;
    const uint8_t *msg;
    size_t msglen;
    rly_ssize used = rly_circuit_pb_reader_recv(&c->reader, data, len, &msg, &msglen);
    if (used < 0) {
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s);
        fail_circ(c, "bad hop reply", (int)used);
        return;
    }
    (void)rly_stream_consume(s, (size_t)used);
    if (msg)
        hop_reply(c, s, msg, msglen, data + used, len - (size_t)used);
}

static void hop_on_fin(rly_stream *s, void *ud)
{
    rly_stream_set_handler(s, NULL, NULL);
    (void)rly_stream_reset(s);
    fail_circ(ud, "the relay closed the hop stream without a reply", 0);
}

static void hop_on_close(rly_stream *s, void *ud, int err)
{
    fail_circ(ud, "the hop stream closed without a reply", err);
}

static const rly_stream_handler hop_handler = {
    .on_data = hop_on_data, .on_fin = hop_on_fin, .on_close = hop_on_close};

static void hop_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    circ *c = ud;
    uint8_t small[128];
    rly_dynbuf out;
    if (!s) {
        fail_circ(c, "cannot open a hop stream", err);
        return;
    }
    if (c->st == C_FAILED) {
        (void)rly_stream_reset(s);
        return;
    }
    rly_stream_set_handler(s, &hop_handler, c);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    int rv = c->hop_type == RLY_CIRCUIT_HOP_RESERVE ? rly_hop_build_reserve(&out)
                                                    : rly_hop_build_connect(&c->lid, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s);
        fail_circ(c, "cannot send the hop request", rv);
        return;
    }
    if (len > 0)
        hop_on_data(s, c, data, len);
}

static void hop_send(circ *c, uint32_t type)
{
    c->hop_type = type;
    if (c->has_reader)
        rly_circuit_pb_reader_free(&c->reader);
    rly_circuit_pb_reader_init(&c->reader, NULL);
    c->has_reader = true;
    c->st = type == RLY_CIRCUIT_HOP_RESERVE ? C_RESERVE : C_CONNECT;
    rly_conn *conn = type == RLY_CIRCUIT_HOP_RESERVE ? c->lconn : c->dconn;
    rly_swarm *sw = type == RLY_CIRCUIT_HOP_RESERVE ? c->lsw : c->dsw;
    int rv = rly_swarm_open_stream(sw, conn, RLY_HOP_PROTOCOL, hop_opened, c);
    if (rv != 0)
        fail_circ(c, "cannot open a hop stream", rv);
}

static void on_ddial(void *ud, rly_conn *conn, int err)
{
    circ *c = ud;
    if (!conn) {
        fail_circ(c, "the dialler cannot connect to the relay", err);
        return;
    }
    if (c->st == C_FAILED)
        return;
    c->dconn = conn;
    hop_send(c, RLY_CIRCUIT_HOP_CONNECT);
}

static void on_ldial(void *ud, rly_conn *conn, int err)
{
    circ *c = ud;
    if (!conn) {
        fail_circ(c, "the listener cannot connect to the relay", err);
        return;
    }
    if (c->st == C_FAILED)
        return;
    c->lconn = conn;
    hop_send(c, RLY_CIRCUIT_HOP_RESERVE);
}

/* ---- the listener: STOP, then serve echo on the relayed connection ------------------------- */

typedef struct stop_req {
    circ *c;
    rly_circuit_pb_reader reader;
} stop_req;

static void stop_free(stop_req *r)
{
    rly_circuit_pb_reader_free(&r->reader);
    free(r);
}

static void on_lrelayed(void *ud, rly_conn *conn, int err)
{
    if (!conn)
        fail_circ(ud, "the listener's relayed connection failed", err);
}

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    stop_req *r = ud;
    circ *c = r->c;
    const uint8_t *msg;
    size_t msglen;
    rly_circuit_stop_msg m;
    rly_multiaddr remote;
    uint8_t small[32];
    rly_dynbuf out;
    rly_ssize used = rly_circuit_pb_reader_recv(&r->reader, data, len, &msg, &msglen);
    int rv = used < 0 ? (int)used : 0;
    if (used > 0)
        (void)rly_stream_consume(s, (size_t)used);
    if (rv == 0 && !msg)
        return;
    rly_stream_set_handler(s, NULL, NULL);
    stop_free(r);
    if (rv == 0)
        rv = rly_stop_parse_connect(&m, msg, msglen);
    if (rv == 0)
        rv = circuit_addr(c->b, &m.peer, &remote);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    if (rv == 0)
        rv = rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        (void)rly_stream_reset(s);
        fail_circ(c, "cannot accept the STOP CONNECT", rv);
        return;
    }
    rv = rly_swarm_upgrade_stream(c->lsw, s, RLY_CONN_INBOUND, NULL, &remote, data + used,
                                  len - (size_t)used, on_lrelayed, c);
    if (rv != 0)
        fail_circ(c, "the listener cannot upgrade the circuit", rv);
}

static void stop_on_fin(rly_stream *s, void *ud)
{
    (void)rly_stream_reset(s); /* closed before its CONNECT: stop_on_close frees */
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    stop_free(ud);
}

static const rly_stream_handler stop_handler = {
    .on_data = stop_on_data, .on_fin = stop_on_fin, .on_close = stop_on_close};

static void on_stop_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    circ *c = ud;
    stop_req *r = calloc(1, sizeof(*r));
    if (!r || s->conn != c->lconn) { /* only from the relay, on the reserving connection */
        free(r);
        (void)rly_stream_reset(s);
        return;
    }
    r->c = c;
    rly_circuit_pb_reader_init(&r->reader, NULL);
    rly_stream_set_handler(s, &stop_handler, r);
    if (len > 0)
        stop_on_data(s, r, data, len);
}

/* Echo: what is read is written back, consumed once written (the dialler is held by the
 * stream window, so the backlog stays below one window). */
typedef struct echo_srv {
    circ *c;
    rly_stream *s;
    uint8_t *pend;
    size_t plen, pcap;
    uint64_t off; /* stream offset of the next byte read */
} echo_srv;

static void echo_pump(echo_srv *e)
{
    if (e->plen == 0)
        return;
    rly_ssize w = rly_stream_write(e->s, e->pend, e->plen);
    if (w == RLY_ERR_AGAIN)
        return;
    if (w < 0) {
        (void)rly_stream_reset(e->s);
        return;
    }
    memmove(e->pend, e->pend + w, e->plen - (size_t)w);
    e->plen -= (size_t)w;
    (void)rly_stream_consume(e->s, (size_t)w);
}

static void echo_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_srv *e = ud;
    bench *b = e->c->b;
    if (len > ECHO_BACKLOG_MAX - e->plen) {
        (void)rly_stream_reset(s);
        return;
    }
    if (e->pcap - e->plen < len) {
        size_t cap = e->plen + len < 65536 ? 65536 : e->plen + len;
        uint8_t *np = realloc(e->pend, cap);
        if (!np) {
            (void)rly_stream_reset(s);
            return;
        }
        e->pend = np;
        e->pcap = cap;
    }
    memcpy(e->pend + e->plen, data, len);
    if (e->c->idx == 0 && b->corrupt_at >= e->off && b->corrupt_at - e->off < len)
        e->pend[e->plen + (b->corrupt_at - e->off)] ^= 0x01; /* --debug-corrupt */
    e->plen += len;
    e->off += len;
    echo_pump(e);
}

static void echo_on_fin(rly_stream *s, void *ud)
{
    (void)rly_stream_shutdown(s);
}

static void echo_on_writable(rly_stream *s, void *ud)
{
    echo_pump(ud);
}

static void echo_on_close(rly_stream *s, void *ud, int err)
{
    echo_srv *e = ud;
    if (e->c->st == C_READY)
        fail_circ(e->c, "the listener's echo stream closed", err ? err : RLY_ERR_CLOSED);
    free(e->pend);
    free(e);
}

static const rly_stream_handler echo_handler = {.on_data = echo_on_data,
                                                .on_fin = echo_on_fin,
                                                .on_writable = echo_on_writable,
                                                .on_close = echo_on_close};

static void on_echo_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    echo_srv *e = calloc(1, sizeof(*e));
    if (!e) {
        (void)rly_stream_reset(s);
        return;
    }
    e->c = ud;
    e->s = s;
    rly_stream_set_handler(s, &echo_handler, e);
    if (len > 0)
        echo_on_data(s, e, data, len);
}

/* ---- set-up -------------------------------------------------------------------------------- */

static void circ_start(circ *c)
{
    c->st = C_LDIAL;
    c->b->inflight++;
    rly_multiaddr ma = c->b->relay;
    int rv = rly_swarm_dial(c->lsw, &ma, on_ldial, c);
    if (rv != 0)
        fail_circ(c, "the listener cannot dial", rv);
}

/* Starts circuits while fewer than --concurrency are being set up; the ping circuit first. */
static void setup_pump(bench *b)
{
    while (b->inflight < b->concurrency && b->next <= b->n) {
        size_t i = b->next == 0 ? b->n : b->next - 1;
        b->next++;
        circ_start(&b->c[i]);
    }
    if (!b->is_setup_done && b->next > b->n && b->inflight == 0)
        setup_done(b);
}

static rly_swarm *new_swarm(bench *b)
{
    rly_keypair kp;
    rly_swarm *sw = NULL;
    rly_swarm_settings st = {.agent_version = "mesh-relay-bench-many/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    st.tcp.handshake_timeout = 30 * RLY_NS_PER_S;
    st.tcp.handshake_idle_timeout = st.tcp.handshake_timeout; /* as long as the relay needs */
    st.tcp.keepalive_interval = 0;                            /* the relay's keepalive still runs */
    int rv = rly_keypair_generate(&kp);
    if (rv == 0)
        rv = rly_swarm_new(&sw, &b->loop, &kp, &st, &b->log, rly_mem_default());
    rly_keypair_wipe(&kp);
    if (rv != 0) {
        fprintf(stderr, "bench_many: cannot create an identity: %s\n", rly_strerror(rv));
        exit(1);
    }
    return sw;
}

static void on_start(uv_timer_t *t)
{
    bench *b = t->data;
    b->t_setup0 = uv_hrtime();
    setup_pump(b);
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_many --relay MULTIADDR/p2p/ID --circuits N [options]\n"
            "  --rate B           bytes per second per circuit, each way (default 16384)\n"
            "  --chunk B          bytes per write (default 4096): one every chunk/rate s\n"
            "  --seconds S        measured window (default 10)\n"
            "  --warmup S         after the set-up, before the window (default 2)\n"
            "  --concurrency K    circuits being set up at a time (default 64)\n"
            "  --pings MS         ping interval on the latency circuit (default 100)\n"
            "  --server-pid PID   the relay's CPU time and RSS (/proc)\n"
            "  --timeout S        bound on the whole run (default 300)\n"
            "  --debug-corrupt O  circuit 0's listener flips a bit at echo offset O (a check)\n");
}

int main(int argc, char **argv)
{
    static bench b;
    static const struct option lo[] = {{"relay", required_argument, NULL, 'r'},
                                       {"circuits", required_argument, NULL, 'n'},
                                       {"rate", required_argument, NULL, 'R'},
                                       {"chunk", required_argument, NULL, 'c'},
                                       {"seconds", required_argument, NULL, 's'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"concurrency", required_argument, NULL, 'k'},
                                       {"pings", required_argument, NULL, 'g'},
                                       {"server-pid", required_argument, NULL, 'p'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"debug-corrupt", required_argument, NULL, 'D'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *relay = NULL;
    double v, timeout_s = 300;
    int ch;
    b.n = 0;
    b.rate = 16384;
    b.chunk = 4096;
    b.seconds = 10;
    b.warmup = 2;
    b.concurrency = 64;
    b.ping_ms = 100;
    b.corrupt_at = UINT64_MAX;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'r': relay = optarg; break;
        case 'n':
            if (parse_num(optarg, 1, 9000, &v) != 0)
                goto bad;
            b.n = (size_t)v;
            break;
        case 'R':
            if (parse_num(optarg, 1, 1e9, &v) != 0)
                goto bad;
            b.rate = (uint64_t)v;
            break;
        case 'c':
            if (parse_num(optarg, 1, 1 << 20, &v) != 0)
                goto bad;
            b.chunk = (uint64_t)v;
            break;
        case 's':
            if (parse_num(optarg, 0.1, 3600, &b.seconds) != 0)
                goto bad;
            break;
        case 'w':
            if (parse_num(optarg, 0, 3600, &b.warmup) != 0)
                goto bad;
            break;
        case 'k':
            if (parse_num(optarg, 1, 4096, &v) != 0)
                goto bad;
            b.concurrency = (unsigned)v;
            break;
        case 'g':
            if (parse_num(optarg, 1, 60000, &v) != 0)
                goto bad;
            b.ping_ms = (unsigned)v;
            break;
        case 'p':
            if (parse_num(optarg, 1, 1e9, &v) != 0)
                goto bad;
            b.server_pid = (long)v;
            break;
        case 't':
            if (parse_num(optarg, 1, 86400, &timeout_s) != 0)
                goto bad;
            break;
        case 'D':
            if (parse_num(optarg, 0, 1e15, &v) != 0)
                goto bad;
            b.corrupt_at = (uint64_t)v;
            break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (!relay || b.n == 0 || optind < argc)
        goto bad;
    if (rly_multiaddr_parse(&b.relay, relay) != 0) {
        fprintf(stderr, "bench_many: '%s' is not a multiaddr\n", relay);
        return 2;
    }
    b.interval_ns = b.chunk * 1000000000ull / b.rate;
    if (b.interval_ns < 1000000) {
        fprintf(stderr, "bench_many: chunk/rate below 1 ms: use a larger --chunk\n");
        return 2;
    }
    b.cap_rtt = (size_t)(b.seconds * 1000 / b.ping_ms) + 16;
    b.rtt_ms = calloc(b.cap_rtt, sizeof(double));
    b.lag_ms = calloc(b.cap_rtt, sizeof(double));
    b.c = calloc(b.n + 1, sizeof(circ));
    if (!b.rtt_ms || !b.lag_ms || !b.c) {
        fprintf(stderr, "bench_many: out of memory\n");
        return 1;
    }
    uv_loop_init(&b.loop);
    rly_log_sink_init(&b.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    b.log = (rly_log){RLY_LOG_WARN, rly_log_sink_write, &b.sink};
    b.rss0 = bench_proc_rss_kb(b.server_pid);
    uint64_t t0 = uv_hrtime();
    for (size_t i = 0; i <= b.n; i++) {
        circ *c = &b.c[i];
        c->b = &b;
        c->idx = i;
        c->is_ping = i == b.n;
        c->seed = (uint32_t)(i * 0x9E3779B1u);
        c->lsw = new_swarm(&b);
        c->dsw = new_swarm(&b);
        c->lid = *rly_swarm_local_peer(c->lsw);
        if (rly_swarm_add_protocol(c->lsw, RLY_STOP_PROTOCOL, on_stop_stream, c) != 0 ||
            rly_swarm_add_protocol(c->lsw, ECHO_PROTOCOL, on_echo_stream, c) != 0) {
            fprintf(stderr, "bench_many: cannot register the protocols\n");
            return 1;
        }
    }
    fprintf(stderr, "bench_many: %zu identities in %.2f s\n", 2 * (b.n + 1),
            (double)(uv_hrtime() - t0) / 1e9);
    uv_timer_init(&b.loop, &b.start);
    uv_timer_init(&b.loop, &b.deadline);
    uv_timer_init(&b.loop, &b.phase);
    uv_timer_init(&b.loop, &b.ping_timer);
    b.start.data = b.deadline.data = b.phase.data = b.ping_timer.data = &b;
    uv_timer_start(&b.start, on_start, 0, 0);
    uv_timer_start(&b.deadline, on_deadline, (uint64_t)(timeout_s * 1000), 0);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    return 1;
bad:
    usage(stderr);
    return 2;
}
