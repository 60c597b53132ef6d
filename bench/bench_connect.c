/* bench_connect: connection load generator for `make bench` (scripts/bench.sh), built on our own
 * library: one process, one libuv loop, a pool of identities (one rly_swarm each, so the target
 * sees distinct peers, as a relay does), at most --concurrency dials in flight. Every dial runs
 * the full upgrade and counts once our side has the connection established:
 *   - a TCP target (/ip4/<ip>/tcp/<port>/p2p/<id>): TCP, multistream-select /noise, Noise XX, the
 *     muxer (early negotiation or multistream-select /yamux/1.0.0) and Yamux (established after
 *     the third Noise message is written; the target finishes on reading it);
 *   - a QUIC target (/ip4/<ip>/udp/<port>/quic-v1/p2p/<id>): QUIC v1 with TLS 1.3, both sides
 *     presenting and verifying the libp2p certificate (established when our side has the
 *     server's Finished and has sent its own; the target verifies our certificate on reading it).
 *     Each identity creates its QUIC transport (certificate, UDP socket) at its first dial.
 *     Our side is established one flight before the target has verified our certificate (it
 *     arrives with our last flight): --ping makes a dial count (and close) only once a ping
 *     (/ipfs/ping/1.0.0) on the connection is answered, proof that the target finished the
 *     handshake and verified us. The latency is then to the ping's answer.
 *
 *   bench_connect --dial <multiaddr/p2p/id> --mode churn [--warmup S] [--duration S] ...
 *       new connections per second: each connection is closed (Yamux GoAway, then TCP close; QUIC:
 *       CONNECTION_CLOSE) as soon as it is established; the rate is counted over --duration after
 *       --warmup. With --warmup-all-peers the warm-up also lasts until every identity has
 *       completed a dial (so a QUIC identity's set-up is never inside the window).
 *   bench_connect --dial <multiaddr/p2p/id> --mode hold --checkpoints 1000,10000 ...
 *       connections stay open; at each checkpoint dialing pauses, --settle-ms passes (the
 *       target's identify etc. finishes) and the memory figures below are taken. With
 *       --hold-max-seconds the dialing stops at that bound and the connections open then are
 *       measured as the last checkpoint (a slow target need not reach it; its line says so).
 *
 * With --server-pid the target's CPU time (/proc/<pid>/stat) and VmRSS (/proc/<pid>/status) are
 * read. Kernel memory is measured, machine-wide: the slab objects in use (/proc/slabinfo when
 * readable, root; each object with its share of its slab page; TIME_WAIT mini-sockets left out,
 * they belong to earlier connections), else /proc/meminfo Slab; and /proc/net/sockstat TCP.
 *
 * Output on stdout, one record per line, key=value (machine-readable; scripts/bench.sh parses it):
 *   setup peers=<n> seconds=<s>
 *   mem conns=<n> target=<asked> server_rss_kb=<kb> client_rss_kb=<kb> slab_bytes=<b>
 *       slab_source=<slabinfo|meminfo> tcp_objs=<n> sock_inuse=<n> sock_mem_pages=<n>
 *   rate mode=<churn|hold> from=<n> handshakes=<n> seconds=<s> per_sec=<r> failed=<n>
 *       server_cpu_s=<s> server_cpu_util=<0..1> per_server_cpu_s=<r> client_cpu_util=<0..1>
 *       lat_p50_ms=<ms> lat_p99_ms=<ms>
 *   done ok=<0|1>
 * Exit codes: 0 ok, 1 failure (a line on stderr says why), 2 usage. Every phase is bounded by
 * --timeout. */
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
#include "crypto/keys.h"
#include "swarm/swarm.h"

#define MAX_CHECKPOINTS 8
#define MAX_LAT_SAMPLES (1u << 20)

typedef enum mode { MODE_CHURN, MODE_HOLD } mode;

typedef enum phase {
    PH_WARMUP,  /* churn: dialing, not counted */
    PH_MEASURE, /* churn: dialing, counted; hold: dialing towards the next checkpoint */
    PH_SETTLE,  /* hold: waiting before a memory reading */
    PH_DRAIN,   /* no new dials; waiting for those in flight */
    PH_CLOSING, /* swarms closing */
} phase;

typedef struct mem_reading {
    long server_rss_kb, client_rss_kb;
    long long slab_bytes;
    const char *slab_source;
    long tcp_objs, sock_inuse, sock_mem_pages;
} mem_reading;

typedef struct bench {
    uv_loop_t loop;
    uv_timer_t phase_timer, deadline, hold_timer;
    rly_log log;
    rly_log_sink sink;
    rly_multiaddr target;
    rly_swarm **swarms;
    size_t nswarms, nswarms_open;
    mode mode;
    phase phase;
    unsigned concurrency;
    double warmup_s, duration_s;
    bool is_warmup_all; /* churn: the warm-up lasts until every identity has completed a dial */
    bool is_ping;       /* a dial counts once a ping on the new connection is answered */
    unsigned long settle_ms, timeout_s;
    double hold_max_s; /* hold: stop dialing after this long, measure what is open (0: off) */
    bool is_truncated; /* hold: hold_max_s passed before the last checkpoint */
    size_t cp_target;  /* hold: the checkpoint being dialed towards, as asked */
    size_t checkpoints[MAX_CHECKPOINTS], ncheckpoints, next_cp;
    long server_pid;
    /* counters */
    size_t inflight, started, established, failed, open_conns;
    size_t window_from;        /* established count at the start of the measured window */
    size_t window_failed_from; /* failed count at the start of the measured window */
    double window_t0, server_cpu0, client_cpu0;
    uint64_t dial_attempt_cap; /* hold: bound on dials in total (failures included) */
    float *lat_ms;
    size_t nlat;
    int exit_code;
} bench;

typedef struct dial_ctx {
    bench *b;
    rly_swarm *sw; /* the identity that dials */
    uint64_t t0;   /* uv_hrtime at the dial */
    bool counted;
    rly_peerid peer;  /* --ping: the connection being pinged, found again by peer and id */
    uint64_t conn_id; /* (the connection may be gone when the ping fails) */
} dial_ctx;

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

/* ---- /proc readings ------------------------------------------------------------------------ */

/* Slab memory in use: every cache's active objects, each with its share of the slab pages,
 * TIME_WAIT mini-sockets excepted. Returns -1 when /proc/slabinfo is not readable. */
static long long slabinfo_bytes(long *tcp_objs)
{
    char line[512];
    long long total = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/slabinfo", "r");
    if (!f)
        return -1;
    *tcp_objs = -1;
    while (fgets(line, sizeof(line), f)) {
        char name[128];
        long active, num, objsize, perslab, pages;
        if (sscanf(line, "%127s %ld %ld %ld %ld %ld", name, &active, &num, &objsize, &perslab,
                   &pages) != 6 ||
            perslab <= 0)
            continue;
        if (strncmp(name, "tw_sock_", 8) == 0)
            continue;
        total += (long long)active * pages * page / perslab;
        if (strcmp(name, "TCP") == 0)
            *tcp_objs = active;
    }
    fclose(f);
    return total;
}

static long long meminfo_slab_bytes(void)
{
    char line[256];
    long long kb = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Slab:", 5) == 0)
            kb = strtoll(line + 5, NULL, 10);
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void sockstat(long *inuse, long *mem_pages)
{
    char line[256];
    *inuse = *mem_pages = -1;
    FILE *f = fopen("/proc/net/sockstat", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "TCP:", 4) != 0)
            continue;
        char *p = strstr(line, "inuse ");
        if (p)
            *inuse = strtol(p + 6, NULL, 10);
        p = strstr(line, " mem ");
        if (p)
            *mem_pages = strtol(p + 5, NULL, 10);
    }
    fclose(f);
}

static void read_mem(const bench *b, mem_reading *m)
{
    m->server_rss_kb = b->server_pid > 0 ? bench_proc_rss_kb(b->server_pid) : -1;
    m->client_rss_kb = bench_proc_rss_kb((long)getpid());
    m->tcp_objs = -1;
    m->slab_bytes = slabinfo_bytes(&m->tcp_objs);
    m->slab_source = "slabinfo";
    if (m->slab_bytes < 0) {
        m->slab_bytes = meminfo_slab_bytes();
        m->slab_source = "meminfo";
    }
    sockstat(&m->sock_inuse, &m->sock_mem_pages);
}

static void print_mem(const bench *b, size_t conns, size_t target)
{
    mem_reading m;
    read_mem(b, &m);
    printf("mem conns=%zu target=%zu server_rss_kb=%ld client_rss_kb=%ld slab_bytes=%lld "
           "slab_source=%s "
           "tcp_objs=%ld sock_inuse=%ld sock_mem_pages=%ld\n",
           conns, target, m.server_rss_kb, m.client_rss_kb, m.slab_bytes, m.slab_source, m.tcp_objs,
           m.sock_inuse, m.sock_mem_pages);
    fflush(stdout);
}

/* ---- rate window ---------------------------------------------------------------------------- */

static double client_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void window_start(bench *b)
{
    b->window_from = b->established;
    b->window_failed_from = b->failed;
    b->window_t0 = now_s();
    b->server_cpu0 = b->server_pid > 0 ? bench_proc_cpu_s(b->server_pid) : -1;
    b->client_cpu0 = client_cpu_s();
    b->nlat = 0;
}

static int cmp_float(const void *a, const void *c)
{
    float x = *(const float *)a, y = *(const float *)c;
    return x < y ? -1 : x > y;
}

static void window_end(bench *b)
{
    double secs = now_s() - b->window_t0;
    double scpu = b->server_pid > 0 ? bench_proc_cpu_s(b->server_pid) - b->server_cpu0 : -1;
    double ccpu = client_cpu_s() - b->client_cpu0;
    size_t n = b->established - b->window_from;
    double rate = secs > 0 ? (double)n / secs : 0;
    double p50 = 0, p99 = 0;
    if (b->nlat > 0) {
        qsort(b->lat_ms, b->nlat, sizeof(float), cmp_float);
        p50 = b->lat_ms[b->nlat / 2];
        p99 = b->lat_ms[(size_t)((double)(b->nlat - 1) * 0.99)];
    }
    printf("rate mode=%s from=%zu handshakes=%zu seconds=%.3f per_sec=%.1f failed=%zu "
           "server_cpu_s=%.2f server_cpu_util=%.3f per_server_cpu_s=%.1f client_cpu_util=%.3f "
           "lat_p50_ms=%.2f lat_p99_ms=%.2f\n",
           b->mode == MODE_CHURN ? "churn" : "hold", b->window_from, n, secs, rate,
           b->failed - b->window_failed_from, scpu, scpu >= 0 && secs > 0 ? scpu / secs : -1,
           scpu > 0 ? (double)n / scpu : -1, secs > 0 ? ccpu / secs : -1, p50, p99);
    fflush(stdout);
}

/* ---- dialing ----------------------------------------------------------------------------------
 */

static void pump(bench *b);
static void finish(bench *b, int code);

static size_t dial_target_count(const bench *b)
{
    if (b->mode != MODE_HOLD || b->is_truncated || b->next_cp >= b->ncheckpoints)
        return 0;
    return b->checkpoints[b->next_cp];
}

static void on_settled(uv_timer_t *t)
{
    bench *b = t->data;
    print_mem(b, b->open_conns, b->cp_target);
    b->next_cp++;
    if (b->next_cp >= b->ncheckpoints || b->is_truncated) {
        finish(b, 0);
        return;
    }
    b->phase = PH_MEASURE;
    b->cp_target = b->checkpoints[b->next_cp];
    window_start(b);
    pump(b);
}

/* Hold mode: the checkpoint is reached (every dial of this round answered). */
static void checkpoint_reached(bench *b)
{
    window_end(b);
    b->phase = PH_SETTLE;
    uv_timer_start(&b->phase_timer, on_settled, b->settle_ms, 0);
}

/* A dial is over: |c| established (and with --ping answered a ping), or NULL with |err|. Counts
 * it, closes (churn) or keeps (hold) the connection, and dials on. */
static void dial_done(dial_ctx *d, rly_conn *c, int err, const char *what)
{
    bench *b = d->b;
    b->inflight--;
    if (c) {
        b->established++;
        if (b->phase == PH_MEASURE && b->nlat < MAX_LAT_SAMPLES)
            b->lat_ms[b->nlat++] = (float)((double)(uv_hrtime() - d->t0) / 1e6);
        if (b->mode == MODE_CHURN)
            rly_conn_close(c, 0, "bench done");
        else
            b->open_conns++;
    } else {
        b->failed++;
        if (b->failed <= 5)
            fprintf(stderr, "bench_connect: %s failed: %s\n", what, rly_strerror(err));
    }
    free(d);
    if (b->phase == PH_DRAIN) {
        if (b->inflight == 0)
            finish(b, b->exit_code < 0 ? 0 : b->exit_code);
        return;
    }
    if (b->mode == MODE_HOLD && b->phase == PH_MEASURE && b->inflight == 0 &&
        (b->open_conns >= dial_target_count(b) || b->is_truncated)) {
        checkpoint_reached(b);
        return;
    }
    pump(b);
}

static void on_ping(void *ud, int err, rly_tstamp rtt)
{
    dial_ctx *d = ud;
    rly_conn *c = NULL;
    if (d->b->phase != PH_CLOSING) /* the swarms may be half closed then */
        c = rly_swarm_find_conn(d->sw, &d->peer, d->conn_id);
    if (err != 0 && c && d->b->mode == MODE_CHURN)
        rly_conn_close(c, 0, "bench ping failed");
    dial_done(d, err == 0 ? c : NULL, err ? err : RLY_ERR_CLOSED, "ping");
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    dial_ctx *d = ud;
    if (c && d->b->is_ping) {
        /* QUIC: our side is established once it has the server's Finished; the server verifies
         * our certificate when our last flight arrives. The answer to a ping proves it did,
         * whatever the transport. */
        d->peer = c->peer;
        d->conn_id = c->id;
        int rv = rly_swarm_ping(d->sw, c, on_ping, d);
        if (rv == 0)
            return;
        if (d->b->mode == MODE_CHURN)
            rly_conn_close(c, 0, "bench ping failed");
        dial_done(d, NULL, rv, "ping");
        return;
    }
    dial_done(d, c, err, "dial");
}

static void pump(bench *b)
{
    if (b->phase != PH_WARMUP && b->phase != PH_MEASURE)
        return;
    while (b->inflight < b->concurrency) {
        if (b->mode == MODE_HOLD) {
            if (b->open_conns + b->inflight >= dial_target_count(b))
                return;
            if (b->started >= b->dial_attempt_cap) {
                if (b->inflight == 0) {
                    fprintf(stderr, "bench_connect: too many failed dials (%zu)\n", b->failed);
                    finish(b, 1);
                }
                return;
            }
        }
        dial_ctx *d = calloc(1, sizeof(*d));
        if (!d) {
            finish(b, 1);
            return;
        }
        d->b = b;
        d->t0 = uv_hrtime();
        d->sw = b->swarms[b->started % b->nswarms];
        int rv = rly_swarm_dial(d->sw, &b->target, on_dial, d);
        if (rv != 0) {
            free(d);
            fprintf(stderr, "bench_connect: cannot dial: %s\n", rly_strerror(rv));
            finish(b, 1);
            return;
        }
        b->started++;
        b->inflight++;
    }
}

/* ---- phases and shutdown ------------------------------------------------------------------------
 */

static void swarm_closed(void *ud)
{
    bench *b = ud;
    if (--b->nswarms_open == 0) {
        uv_close((uv_handle_t *)&b->phase_timer, NULL);
        uv_close((uv_handle_t *)&b->hold_timer, NULL);
        uv_close((uv_handle_t *)&b->deadline, NULL);
    }
}

static void close_all(bench *b)
{
    if (b->phase == PH_CLOSING)
        return;
    b->phase = PH_CLOSING;
    uv_timer_stop(&b->phase_timer);
    uv_timer_stop(&b->hold_timer);
    printf("done ok=%d\n", b->exit_code == 0 ? 1 : 0);
    fflush(stdout);
    size_t n = b->nswarms_open;
    if (n == 0) {
        uv_close((uv_handle_t *)&b->phase_timer, NULL);
        uv_close((uv_handle_t *)&b->hold_timer, NULL);
        uv_close((uv_handle_t *)&b->deadline, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        rly_swarm_close(b->swarms[i], swarm_closed, b);
}

static void finish(bench *b, int code)
{
    if (b->exit_code < 0 || code != 0)
        b->exit_code = code;
    if (b->phase == PH_CLOSING)
        return;
    if (b->inflight > 0 && code == 0) {
        b->phase = PH_DRAIN; /* on_dial finishes once the last dial is answered */
        return;
    }
    close_all(b);
}

static void on_phase_timer(uv_timer_t *t)
{
    bench *b = t->data;
    if (b->phase == PH_WARMUP) {
        if (b->is_warmup_all && b->established + b->failed < b->nswarms) {
            uv_timer_start(&b->phase_timer, on_phase_timer, 50, 0); /* bounded by --timeout */
            return;
        }
        b->phase = PH_MEASURE;
        window_start(b);
        uv_timer_start(&b->phase_timer, on_phase_timer, (uint64_t)(b->duration_s * 1000), 0);
    } else if (b->phase == PH_MEASURE) {
        window_end(b);
        finish(b, 0);
    }
}

/* Hold mode: --hold-max-seconds passed. Stop dialing; once the dials in flight are answered the
 * connections open then are measured as the last checkpoint (its line says target=<asked>). */
static void on_hold_max(uv_timer_t *t)
{
    bench *b = t->data;
    if (b->phase != PH_MEASURE && b->phase != PH_SETTLE)
        return;
    fprintf(stderr, "bench_connect: --hold-max-seconds %.0f passed at %zu connections\n",
            b->hold_max_s, b->open_conns);
    b->is_truncated = true;
    if (b->phase == PH_MEASURE && b->inflight == 0)
        checkpoint_reached(b);
}

static void on_deadline(uv_timer_t *t)
{
    bench *b = t->data;
    if (b->phase == PH_CLOSING) {
        /* The swarms did not close within the bound: leave, the kernel closes the sockets. */
        fprintf(stderr, "bench_connect: close timed out; exiting\n");
        fflush(stdout);
        _exit(b->exit_code > 0 ? b->exit_code : 0);
    }
    fprintf(stderr,
            "bench_connect: timed out (--timeout %lu s) in phase %d: established=%zu "
            "failed=%zu inflight=%zu\n",
            b->timeout_s, (int)b->phase, b->established, b->failed, b->inflight);
    b->exit_code = 1;
    close_all(b);
    if (!uv_is_closing((uv_handle_t *)&b->deadline))
        uv_timer_start(&b->deadline, on_deadline, 15000, 0);
}

static void on_start(uv_timer_t *t)
{
    bench *b = t->data;
    if (b->mode == MODE_CHURN) {
        b->phase = PH_WARMUP;
        uv_timer_start(&b->phase_timer, on_phase_timer, (uint64_t)(b->warmup_s * 1000), 0);
    } else {
        print_mem(b, 0, 0);
        b->phase = PH_MEASURE;
        b->cp_target = b->checkpoints[0];
        window_start(b);
        if (b->hold_max_s > 0)
            uv_timer_start(&b->hold_timer, on_hold_max, (uint64_t)(b->hold_max_s * 1000), 0);
    }
    pump(b);
}

/* ---- set-up -----------------------------------------------------------------------------------
 */

static int parse_checkpoints(bench *b, const char *s)
{
    char *end;
    b->ncheckpoints = 0;
    while (*s) {
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || v == 0 || v > 19000 || b->ncheckpoints >= MAX_CHECKPOINTS ||
            (b->ncheckpoints > 0 && v <= b->checkpoints[b->ncheckpoints - 1]))
            return -1;
        b->checkpoints[b->ncheckpoints++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return b->ncheckpoints > 0 ? 0 : -1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
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
            "Usage: bench_connect --dial MULTIADDR/p2p/ID --mode churn|hold [options]\n"
            "  --concurrency N     dials in flight (default 128)\n"
            "  --peers N           identities dialing (default 1000; hold: at most one\n"
            "                      connection per identity when N >= the last checkpoint)\n"
            "  --warmup S          churn: seconds before counting (default 1)\n"
            "  --warmup-all-peers  churn: and warm up until every identity has dialled once\n"
            "  --ping              a dial counts (and is closed, churn) once a ping on the new\n"
            "                      connection is answered: the target has finished its side\n"
            "  --duration S        churn: seconds counted (default 5)\n"
            "  --checkpoints A,B   hold: connection counts to stop at (default 1000,10000)\n"
            "  --settle-ms MS      hold: wait before each memory reading (default 2000)\n"
            "  --server-pid PID    read the target's CPU time and RSS\n"
            "  --hold-max-seconds S  hold: stop dialing after S seconds and measure the\n"
            "                      connections open then as the last checkpoint (default: off)\n"
            "  --timeout S         bound on the whole run (default 120)\n");
}

int main(int argc, char **argv)
{
    static bench b;
    static const struct option opts[] = {{"dial", required_argument, NULL, 'd'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"concurrency", required_argument, NULL, 'c'},
                                         {"peers", required_argument, NULL, 'p'},
                                         {"warmup", required_argument, NULL, 'w'},
                                         {"warmup-all-peers", no_argument, NULL, 'W'},
                                         {"ping", no_argument, NULL, 'g'},
                                         {"duration", required_argument, NULL, 'D'},
                                         {"checkpoints", required_argument, NULL, 'k'},
                                         {"settle-ms", required_argument, NULL, 's'},
                                         {"server-pid", required_argument, NULL, 'P'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"hold-max-seconds", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dial = NULL;
    double v;
    unsigned long peers = 1000;
    int o;
    b.concurrency = 128;
    b.warmup_s = 1;
    b.duration_s = 5;
    b.settle_ms = 2000;
    b.timeout_s = 120;
    b.exit_code = -1;
    b.checkpoints[0] = 1000;
    b.checkpoints[1] = 10000;
    b.ncheckpoints = 2;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dial = optarg; break;
        case 'm':
            if (strcmp(optarg, "churn") == 0)
                b.mode = MODE_CHURN;
            else if (strcmp(optarg, "hold") == 0)
                b.mode = MODE_HOLD;
            else
                goto bad;
            break;
        case 'c':
            if (parse_double(optarg, 1, 4096, &v) != 0)
                goto bad;
            b.concurrency = (unsigned)v;
            break;
        case 'p':
            if (parse_double(optarg, 1, 20000, &v) != 0)
                goto bad;
            peers = (unsigned long)v;
            break;
        case 'w':
            if (parse_double(optarg, 0, 60, &b.warmup_s) != 0)
                goto bad;
            break;
        case 'W': b.is_warmup_all = true; break;
        case 'g': b.is_ping = true; break;
        case 'D':
            if (parse_double(optarg, 0.1, 300, &b.duration_s) != 0)
                goto bad;
            break;
        case 'k':
            if (parse_checkpoints(&b, optarg) != 0)
                goto bad;
            break;
        case 's':
            if (parse_double(optarg, 0, 60000, &v) != 0)
                goto bad;
            b.settle_ms = (unsigned long)v;
            break;
        case 'P':
            if (parse_double(optarg, 1, 1e9, &v) != 0)
                goto bad;
            b.server_pid = (long)v;
            break;
        case 't':
            if (parse_double(optarg, 1, 3600, &v) != 0)
                goto bad;
            b.timeout_s = (unsigned long)v;
            break;
        case 'H':
            if (parse_double(optarg, 0, 3600, &b.hold_max_s) != 0)
                goto bad;
            break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (!dial || optind < argc)
        goto bad;
    if (rly_multiaddr_parse(&b.target, dial) != 0) {
        fprintf(stderr, "bench_connect: '%s' is not a multiaddr\n", dial);
        return 2;
    }
    b.dial_attempt_cap = b.ncheckpoints ? b.checkpoints[b.ncheckpoints - 1] + 1000 : 0;
    b.lat_ms = calloc(MAX_LAT_SAMPLES, sizeof(float));
    b.swarms = calloc(peers, sizeof(*b.swarms));
    if (!b.lat_ms || !b.swarms) {
        fprintf(stderr, "bench_connect: out of memory\n");
        return 1;
    }

    rly_log_sink_init(&b.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    b.log = (rly_log){RLY_LOG_WARN, rly_log_sink_write, &b.sink};
    uv_loop_init(&b.loop);
    uv_timer_init(&b.loop, &b.phase_timer);
    uv_timer_init(&b.loop, &b.deadline);
    uv_timer_init(&b.loop, &b.hold_timer);
    b.phase_timer.data = b.deadline.data = b.hold_timer.data = &b;

    rly_swarm_settings st = {.agent_version = "mesh-relay-bench-connect/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    /* The load generator waits as long as the server needs: a server that slows down as it
     * holds more connections (js) answers a step after several seconds, past the default idle
     * deadline of an upgrade (handshake_idle_timeout, 5 s). */
    st.tcp.handshake_timeout = 30 * RLY_NS_PER_S;
    st.tcp.handshake_idle_timeout = st.tcp.handshake_timeout;
    st.tcp.max_connections = 20000;
    st.tcp.max_pending_handshakes = 20000;
    st.tcp.keepalive_interval = 0; /* the target's keepalive (if any) still runs */
    rly_quic_settings_default(&st.quic);
    st.quic.handshake_timeout = 30 * RLY_NS_PER_S;
    st.quic.handshake_idle_timeout = st.quic.handshake_timeout;
    st.quic.max_connections = 20000;
    st.quic.max_pending_handshakes = 20000;
    st.quic.keepalive = 0;
    double t0 = now_s();
    for (size_t i = 0; i < peers; i++) {
        rly_keypair kp;
        int rv = rly_keypair_generate(&kp);
        if (rv == 0)
            rv = rly_swarm_new(&b.swarms[i], &b.loop, &kp, &st, &b.log, rly_mem_default());
        rly_keypair_wipe(&kp);
        if (rv != 0) {
            fprintf(stderr, "bench_connect: cannot create identity %zu: %s\n", i, rly_strerror(rv));
            return 1;
        }
        b.nswarms = b.nswarms_open = i + 1;
    }
    printf("setup peers=%zu seconds=%.2f\n", b.nswarms, now_s() - t0);
    fflush(stdout);

    /* Start from inside the loop (timers need a running loop for sane now values). */
    uv_timer_start(&b.phase_timer, on_start, 0, 0);
    uv_timer_start(&b.deadline, on_deadline, b.timeout_s * 1000, 0);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    free(b.swarms);
    free(b.lat_ms);
    return b.exit_code < 0 ? 1 : b.exit_code;
bad:
    usage(stderr);
    return 2;
}
