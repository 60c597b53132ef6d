/* bench_circuit: circuit setup latency and reservation rate of a Circuit Relay v2 server, for
 * `make bench` (scripts/bench.sh, "Relay"), on our own library (swarm + proto/circuit), one libuv
 * loop, against our relay or a js-libp2p relay alike.
 *
 *   bench_circuit --relay <multiaddr/p2p/id> [--circuits N] [--reserve-peers K]
 *                 [--reserve-seconds S] [--server-pid PID] [--timeout S]
 *
 * 1. Circuits: a listener identity connects to the relay, RESERVEs and answers every STOP CONNECT
 *    with STATUS OK at once; a dialler identity connects and runs N CONNECTs to the listener one
 *    after another (5 more first as warm-up), each on a new hop stream, reset as soon as the OK
 *    is in (the relay then tears the circuit down). Latency: CONNECT written -> OK read (the
 *    relay's STOP round trip to the listener included); also from the hop stream open (Yamux
 *    stream + multistream-select) -> OK.
 * 2. Reservations: K more identities connect (each its own connection), then each sends one
 *    RESERVE, all at once: new reservations per second (first RESERVE to last OK). Then for S
 *    seconds each connection RESERVEs again as soon as the previous answer is in (one in flight
 *    per connection): refreshes per second. The relay signs a voucher for each.
 *
 * With --server-pid the relay's CPU time (/proc/<pid>/stat) over each phase is reported.
 * Output, one record per line (scripts/bench.sh parses it):
 *   circuit n=<n> seconds=<s> per_sec=<r> lat_p50_ms=<ms> lat_p99_ms=<ms> open_p50_ms=<ms>
 *       open_p99_ms=<ms> server_cpu_s=<s>
 *   reserve_new n=<k> seconds=<s> per_sec=<r> server_cpu_s=<s>
 *   reserve_refresh conns=<k> n=<n> seconds=<s> per_sec=<r> server_cpu_util=<0..1>
 *       per_server_cpu_s=<r>
 * Exit codes: 0 ok, 1 failure (a line on stderr says why), 2 usage. Bounded by --timeout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "app/log_sink.h"
#include "bench_proc.h"
#include "crypto/keys.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"
#include "swarm/swarm.h"

#define WARMUP_CIRCUITS 5

typedef enum phase { PH_LISTEN, PH_CIRCUITS, PH_DIAL, PH_NEW, PH_REFRESH, PH_DONE } phase;

typedef struct bench bench;

/* One identity with its connection to the relay and its current hop request. */
typedef struct peer {
    bench *b;
    rly_swarm *sw;
    rly_conn *conn;
    rly_circuit_pb_reader reader;
    uint32_t type;
    uint64_t t_open, t_sent;
} peer;

struct bench {
    uv_loop_t loop;
    uv_timer_t start, deadline, refresh_end;
    rly_log log;
    rly_log_sink sink;
    rly_multiaddr relay;
    peer listener, dialler, *res;
    rly_peerid listener_id;
    size_t nres, connected, replied, circuits_done, ncircuits;
    double *lat_ms, *open_ms;
    phase phase;
    long server_pid;
    double refresh_s;
    uint64_t t0;
    double cpu0;
    size_t refreshes;
};

static void hop_start(peer *p, uint32_t type);

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_circuit: %s%s%s\n", what, err ? ": " : "", err ? rly_strerror(err) : "");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static double since_s(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e9;
}

/* ---- phases -------------------------------------------------------------------------------- */

static void next_circuit(bench *b)
{
    if (b->circuits_done == b->ncircuits + WARMUP_CIRCUITS) {
        double secs = since_s(b->t0), cpu = bench_proc_cpu_s(b->server_pid) - b->cpu0;
        size_t n = b->ncircuits;
        double p50 = pct(b->lat_ms, n, 0.5), p99 = pct(b->lat_ms, n, 0.99);
        printf("circuit n=%zu seconds=%.3f per_sec=%.1f lat_p50_ms=%.3f lat_p99_ms=%.3f "
               "open_p50_ms=%.3f open_p99_ms=%.3f server_cpu_s=%.2f\n",
               n, secs, (double)n / secs, p50, p99, pct(b->open_ms, n, 0.5),
               pct(b->open_ms, n, 0.99), cpu);
        fflush(stdout);
        b->phase = PH_DIAL;
        return; /* the caller starts the reservation phase */
    }
    if (b->circuits_done == WARMUP_CIRCUITS) {
        b->t0 = uv_hrtime();
        b->cpu0 = bench_proc_cpu_s(b->server_pid);
    }
    hop_start(&b->dialler, RLY_CIRCUIT_HOP_CONNECT);
}

static void start_reserve_dials(bench *b);
static void dial_dialler(bench *b);

static void on_refresh_end(uv_timer_t *t)
{
    bench *b = t->data;
    double secs = since_s(b->t0), cpu = bench_proc_cpu_s(b->server_pid) - b->cpu0;
    b->phase = PH_DONE;
    printf("reserve_refresh conns=%zu n=%zu seconds=%.3f per_sec=%.1f server_cpu_util=%.2f "
           "per_server_cpu_s=%.1f\n",
           b->nres, b->refreshes, secs, (double)b->refreshes / secs, cpu / secs,
           cpu > 0 ? (double)b->refreshes / cpu : 0);
    fflush(stdout);
    exit(0);
}

/* A reply to |p|'s request arrived (0: OK). */
static void on_reply(peer *p, int err)
{
    bench *b = p->b;
    uint64_t now = uv_hrtime();
    if (err != 0)
        die(p->type == RLY_CIRCUIT_HOP_CONNECT ? "CONNECT refused" : "RESERVE refused", err);
    switch (b->phase) {
    case PH_LISTEN:
        b->phase = PH_CIRCUITS;
        dial_dialler(b);
        break;
    case PH_CIRCUITS:
        if (b->circuits_done >= WARMUP_CIRCUITS) {
            size_t i = b->circuits_done - WARMUP_CIRCUITS;
            b->lat_ms[i] = (double)(now - p->t_sent) / 1e6;
            b->open_ms[i] = (double)(now - p->t_open) / 1e6;
        }
        b->circuits_done++;
        next_circuit(b);
        if (b->phase == PH_DIAL)
            start_reserve_dials(b);
        break;
    case PH_NEW:
        if (++b->replied == b->nres) {
            double secs = since_s(b->t0);
            printf("reserve_new n=%zu seconds=%.3f per_sec=%.1f server_cpu_s=%.2f\n", b->nres, secs,
                   (double)b->nres / secs, bench_proc_cpu_s(b->server_pid) - b->cpu0);
            fflush(stdout);
            b->phase = PH_REFRESH;
            b->t0 = uv_hrtime();
            b->cpu0 = bench_proc_cpu_s(b->server_pid);
            uv_timer_start(&b->refresh_end, on_refresh_end, (uint64_t)(b->refresh_s * 1000), 0);
            for (size_t i = 0; i < b->nres; i++)
                hop_start(&b->res[i], RLY_CIRCUIT_HOP_RESERVE);
        }
        break;
    case PH_REFRESH:
        b->refreshes++;
        hop_start(p, RLY_CIRCUIT_HOP_RESERVE);
        break;
    default: break;
    }
}

/* ---- hop requests -------------------------------------------------------------------------- */

static void hop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    peer *p = ud;
    const uint8_t *msg;
    size_t msglen;
    rly_circuit_hop_msg m;
    rly_ssize used = rly_circuit_pb_reader_recv(&p->reader, data, len, &msg, &msglen);
    if (used < 0)
        die("bad hop reply", (int)used);
    (void)rly_stream_consume(s, (size_t)used);
    if (!msg)
        return;
    int rv = rly_hop_parse_reply(&m, p->type, msg, msglen);
    rly_stream_set_handler(s, NULL, NULL);
    if (p->type == RLY_CIRCUIT_HOP_CONNECT)
        (void)rly_stream_reset(s); /* closes the circuit */
    else
        (void)rly_stream_shutdown(s);
    rly_circuit_pb_reader_free(&p->reader);
    on_reply(p, rv);
}

static void hop_on_fin(rly_stream *s, void *ud)
{
    die("the relay closed the hop stream without a reply", 0);
}

static void hop_on_close(rly_stream *s, void *ud, int err)
{
    die("the hop stream closed without a reply", err);
}

static const rly_stream_handler hop_handler = {
    .on_data = hop_on_data, .on_fin = hop_on_fin, .on_close = hop_on_close};

static void hop_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    peer *p = ud;
    uint8_t small[128];
    rly_dynbuf out;
    if (!s)
        die("cannot open a hop stream", err);
    rly_stream_set_handler(s, &hop_handler, p);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    int rv = p->type == RLY_CIRCUIT_HOP_RESERVE ? rly_hop_build_reserve(&out)
                                                : rly_hop_build_connect(&p->b->listener_id, &out);
    p->t_sent = uv_hrtime();
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0)
        die("cannot send the hop request", rv);
    if (len > 0)
        hop_on_data(s, p, data, len);
}

static void hop_start(peer *p, uint32_t type)
{
    p->type = type;
    rly_circuit_pb_reader_init(&p->reader, NULL);
    p->t_open = uv_hrtime();
    int rv = rly_swarm_open_stream(p->sw, p->conn, RLY_HOP_PROTOCOL, hop_opened, p);
    if (rv != 0)
        die("cannot open a hop stream", rv);
}

/* ---- STOP on the listener: accept every circuit at once ----------------------------------- */

static void open_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)rly_stream_consume(s, len);
}

static void open_on_fin(rly_stream *s, void *ud)
{
    (void)ud;
    (void)rly_stream_reset(s);
}

static void open_on_close(rly_stream *s, void *ud, int err)
{
    (void)s;
    (void)ud;
    (void)err;
}

static const rly_stream_handler open_handler = {
    .on_data = open_on_data, .on_fin = open_on_fin, .on_close = open_on_close};

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_circuit_pb_reader *r = ud;
    const uint8_t *msg;
    size_t msglen;
    rly_circuit_stop_msg m;
    uint8_t small[32];
    rly_dynbuf out;
    rly_ssize used = rly_circuit_pb_reader_recv(r, data, len, &msg, &msglen);
    if (used < 0)
        die("bad STOP request", (int)used);
    (void)rly_stream_consume(s, (size_t)used);
    if (!msg)
        return;
    int rv = rly_stop_parse_connect(&m, msg, msglen);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    if (rv == 0)
        rv = rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0)
        die("cannot answer STOP", rv);
    /* The circuit is now open; the dialler resets it, and the relay then resets this stream or
     * closes its side (rust-libp2p's relay sends FIN): open_on_fin resets ours so that no
     * half-closed stream lingers (the relay's Yamux counts it until both sides are done). */
    rly_stream_set_handler(s, &open_handler, NULL);
    rly_circuit_pb_reader_free(r);
    free(r);
}

static void stop_on_fin(rly_stream *s, void *ud)
{
    (void)rly_stream_reset(s);
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    rly_circuit_pb_reader_free(ud);
    free(ud);
}

static const rly_stream_handler stop_handler = {
    .on_data = stop_on_data, .on_fin = stop_on_fin, .on_close = stop_on_close};

static void on_stop_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_circuit_pb_reader *r = calloc(1, sizeof(*r));
    if (!r)
        die("out of memory", 0);
    rly_circuit_pb_reader_init(r, NULL);
    rly_stream_set_handler(s, &stop_handler, r);
    if (len > 0)
        stop_on_data(s, r, data, len);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void on_listener_dial(void *ud, rly_conn *c, int err)
{
    peer *p = ud;
    if (!c)
        die("the listener cannot connect to the relay", err);
    p->conn = c;
    hop_start(p, RLY_CIRCUIT_HOP_RESERVE);
}

static void on_dialler_dial(void *ud, rly_conn *c, int err)
{
    peer *p = ud;
    if (!c)
        die("the dialler cannot connect to the relay", err);
    p->conn = c;
    next_circuit(p->b);
}

static void on_res_dial(void *ud, rly_conn *c, int err)
{
    peer *p = ud;
    bench *b = p->b;
    if (!c)
        die("a reserving peer cannot connect to the relay", err);
    p->conn = c;
    if (++b->connected < b->nres)
        return;
    b->phase = PH_NEW;
    b->t0 = uv_hrtime();
    b->cpu0 = bench_proc_cpu_s(b->server_pid);
    for (size_t i = 0; i < b->nres; i++)
        hop_start(&b->res[i], RLY_CIRCUIT_HOP_RESERVE);
}

static void start_reserve_dials(bench *b)
{
    for (size_t i = 0; i < b->nres; i++) {
        int rv = rly_swarm_dial(b->res[i].sw, &b->relay, on_res_dial, &b->res[i]);
        if (rv != 0)
            die("dial", rv);
    }
}

static void new_peer(bench *b, peer *p)
{
    rly_keypair kp;
    rly_swarm_settings st = {.agent_version = "mesh-relay-bench-circuit/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    st.tcp.handshake_timeout = 30 * RLY_NS_PER_S;
    st.tcp.handshake_idle_timeout = st.tcp.handshake_timeout; /* as long as the relay needs */
    st.tcp.keepalive_interval = 0;
    p->b = b;
    int rv = rly_keypair_generate(&kp);
    if (rv == 0)
        rv = rly_swarm_new(&p->sw, &b->loop, &kp, &st, &b->log, rly_mem_default());
    rly_keypair_wipe(&kp);
    if (rv != 0)
        die("cannot create an identity", rv);
}

static void on_start(uv_timer_t *t)
{
    bench *b = t->data;
    int rv = rly_swarm_dial(b->listener.sw, &b->relay, on_listener_dial, &b->listener);
    if (rv != 0)
        die("dial", rv);
}

static void on_deadline(uv_timer_t *t)
{
    die("timed out", 0);
}

/* The dialler's relay connection is made once the listener has its reservation (on_reply). */
static void dial_dialler(bench *b)
{
    int rv = rly_swarm_dial(b->dialler.sw, &b->relay, on_dialler_dial, &b->dialler);
    if (rv != 0)
        die("dial", rv);
}

int main(int argc, char **argv)
{
    static bench b;
    const char *relay = NULL;
    unsigned long timeout_s = 120;
    b.ncircuits = 200;
    b.nres = 100;
    b.refresh_s = 3;
    static const struct option lo[] = {{"relay", required_argument, NULL, 'r'},
                                       {"circuits", required_argument, NULL, 'c'},
                                       {"reserve-peers", required_argument, NULL, 'k'},
                                       {"reserve-seconds", required_argument, NULL, 's'},
                                       {"server-pid", required_argument, NULL, 'p'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'r': relay = optarg; break;
        case 'c': b.ncircuits = strtoul(optarg, NULL, 10); break;
        case 'k': b.nres = strtoul(optarg, NULL, 10); break;
        case 's': b.refresh_s = strtod(optarg, NULL); break;
        case 'p': b.server_pid = strtol(optarg, NULL, 10); break;
        case 't': timeout_s = strtoul(optarg, NULL, 10); break;
        default: relay = NULL; goto usage;
        }
    }
usage:
    if (!relay || b.ncircuits == 0 || b.nres == 0 || rly_multiaddr_parse(&b.relay, relay) != 0) {
        fprintf(stderr, "usage: bench_circuit --relay <multiaddr/p2p/id> [--circuits N] "
                        "[--reserve-peers K] [--reserve-seconds S] [--server-pid PID] "
                        "[--timeout S]\n");
        return 2;
    }
    b.lat_ms = calloc(b.ncircuits, sizeof(double));
    b.open_ms = calloc(b.ncircuits, sizeof(double));
    b.res = calloc(b.nres, sizeof(peer));
    if (!b.lat_ms || !b.open_ms || !b.res)
        die("out of memory", 0);
    uv_loop_init(&b.loop);
    rly_log_sink_init(&b.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    b.log = (rly_log){RLY_LOG_WARN, rly_log_sink_write, &b.sink};
    new_peer(&b, &b.listener);
    new_peer(&b, &b.dialler);
    b.listener_id = *rly_swarm_local_peer(b.listener.sw);
    if (rly_swarm_add_protocol(b.listener.sw, RLY_STOP_PROTOCOL, on_stop_stream, &b) != 0)
        die("cannot register STOP", 0);
    for (size_t i = 0; i < b.nres; i++)
        new_peer(&b, &b.res[i]);
    uv_timer_init(&b.loop, &b.start);
    uv_timer_init(&b.loop, &b.deadline);
    uv_timer_init(&b.loop, &b.refresh_end);
    b.start.data = b.deadline.data = b.refresh_end.data = &b;
    uv_timer_start(&b.start, on_start, 0, 0);
    uv_timer_start(&b.deadline, on_deadline, timeout_s * 1000, 0);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    return 1;
}
