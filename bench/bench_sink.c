/* bench_sink: the receiving end of the direct-transfer ceiling in `make bench` (scripts/bench.sh,
 * "QUIC"): our swarm listening on loopback and serving /mesh-relay/sink/1.0.0 exactly as a
 * listening test_client does (reads until FIN, consumes everything as it arrives, answers the
 * 8-byte big-endian count, then FIN), with test_client's windows (1 MiB per stream, Yamux and QUIC
 * alike). The sender is test_client itself, `test_client --dial <ma>/p2p/<id> --send N`: the same
 * code that pushes through a circuit, here over one direct connection with no relay.
 *
 *   bench_sink [--listen MULTIADDR]...   default /ip4/127.0.0.1/udp/0/quic-v1 (TCP works too)
 *
 * Prints "Local PeerId: <id>" and one "Listening on: <multiaddr>/p2p/<id>" per bound address (the
 * lines of relay-server's banner, which scripts/bench.sh waits for), then per finished sink
 * stream "sink bytes=<n> seconds=<s> mbps=<MB/s>" (first byte to FIN; MB = 10^6 bytes). Runs until
 * SIGTERM/SIGINT, then closes the swarm and exits 0. Exit codes: 0 ok, 1 failure, 2 usage. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "app/log_sink.h"
#include "crypto/keys.h"
#include "swarm/swarm.h"

#define SINK_PROTOCOL "/mesh-relay/sink/1.0.0" /* test_client's CLIENT_SINK_PROTOCOL */
#define SINK_WINDOW (1024u * 1024u)            /* test_client's CLIENT_YAMUX_WINDOW */
#define MAX_LISTEN 4

typedef struct sink_app {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    rly_swarm *swarm;
    rly_log log;
    rly_log_sink sink;
} sink_app;

typedef struct sink_op {
    uint64_t count;
    uint64_t t0; /* uv_hrtime() at the first byte */
} sink_op;

/* ---- the sink protocol ------------------------------------------------------------------- */

static void sink_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    sink_op *k = ud;
    if (k->t0 == 0)
        k->t0 = uv_hrtime();
    k->count += len;
    (void)rly_stream_consume(s, len);
}

static void sink_on_fin(rly_stream *s, void *ud)
{
    sink_op *k = ud;
    uint8_t be[8];
    double secs = k->t0 ? (double)(uv_hrtime() - k->t0) / 1e9 : 0;
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(k->count >> (56 - 8 * i));
    if (rly_stream_write(s, be, sizeof(be)) != (rly_ssize)sizeof(be)) {
        (void)rly_stream_reset(s);
        return;
    }
    (void)rly_stream_shutdown(s);
    printf("sink bytes=%" PRIu64 " seconds=%.3f mbps=%.2f\n", k->count, secs,
           secs > 0 ? (double)k->count / secs / 1e6 : 0.0);
    fflush(stdout);
}

static void sink_on_close(rly_stream *s, void *ud, int err)
{
    rly_free(rly_mem_default(), ud);
}

static const rly_stream_handler sink_handler = {
    .on_data = sink_on_data,
    .on_fin = sink_on_fin,
    .on_close = sink_on_close,
};

static void on_sink_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    sink_op *k = rly_calloc(rly_mem_default(), 1, sizeof(*k));
    if (!k) {
        (void)rly_stream_reset(s);
        return;
    }
    rly_stream_set_handler(s, &sink_handler, k);
    if (len > 0)
        sink_on_data(s, k, data, len);
}

/* ---- set-up and shutdown ------------------------------------------------------------------ */

static void swarm_closed(void *ud)
{
    sink_app *a = ud;
    a->swarm = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    sink_app *a = h->data;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    if (a->swarm)
        rly_swarm_close(a->swarm, swarm_closed, a);
}

/* Binds |text| (TCP or QUIC). Returns 0 or -1 (a line on stderr says why). */
static int listen_on(sink_app *a, const char *text)
{
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    uint32_t tr = 0;
    bool quic = false;
    int uv_err = 0, rv;
    if (rly_multiaddr_parse(&ma, text) != 0 ||
        rly_multiaddr_to_sockaddr(&ma, &ss, &tr, &quic) != 0 || (tr == RLY_MA_UDP && !quic)) {
        fprintf(stderr, "bench_sink: '%s' is not an ip4/ip6 TCP or QUIC address\n", text);
        return -1;
    }
    if (tr == RLY_MA_UDP)
        rv = rly_swarm_listen_quic(a->swarm, (struct sockaddr *)&ss, &uv_err);
    else
        rv = rly_swarm_listen_tcp(a->swarm, (struct sockaddr *)&ss, &uv_err);
    if (rv != 0) {
        fprintf(stderr, "bench_sink: cannot listen on %s: %s%s%s\n", text, rly_strerror(rv),
                uv_err ? ": " : "", uv_err ? uv_strerror(uv_err) : "");
        return -1;
    }
    return 0;
}

static void print_banner(const sink_app *a)
{
    rly_multiaddr addrs[MAX_LISTEN * 2];
    char pid[RLY_PEERID_STR_MAX], text[RLY_MULTIADDR_STR_MAX];
    const rly_peerid *self = rly_swarm_local_peer(a->swarm);
    if (rly_peerid_to_string(self, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    printf("Local PeerId: %s\n\n", pid);
    size_t n = rly_swarm_listen_addrs(a->swarm, addrs, MAX_LISTEN * 2);
    for (size_t i = 0; i < n; i++)
        if (rly_multiaddr_append_p2p(&addrs[i], self) == 0 &&
            rly_multiaddr_to_string(&addrs[i], text, sizeof(text)) > 0)
            printf("Listening on: %s\n", text);
    fflush(stdout);
}

static int start(sink_app *a, const char *const *listen, size_t nlisten)
{
    rly_keypair kp;
    rly_swarm_settings st = {.agent_version = "mesh-relay-bench-sink/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    st.tcp.yamux_window = SINK_WINDOW;
    rly_quic_settings_default(&st.quic);
    st.quic.stream_window = SINK_WINDOW;
    int rv = rly_keypair_generate(&kp);
    if (rv == 0)
        rv = rly_swarm_new(&a->swarm, &a->loop, &kp, &st, &a->log, rly_mem_default());
    rly_keypair_wipe(&kp);
    if (rv == 0)
        rv = rly_swarm_add_protocol(a->swarm, SINK_PROTOCOL, on_sink_stream, a);
    if (rv != 0) {
        fprintf(stderr, "bench_sink: cannot start: %s\n", rly_strerror(rv));
        return -1;
    }
    for (size_t i = 0; i < nlisten; i++)
        if (listen_on(a, listen[i]) != 0)
            return -1;
    print_banner(a);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: bench_sink [--listen MULTIADDR]...\n"
            "  --listen MULTIADDR  /ip4|ip6/<ip>/tcp/<port> or .../udp/<port>/quic-v1, at most 4\n"
            "                      (default /ip4/127.0.0.1/udp/0/quic-v1)\n"
            "Serves " SINK_PROTOCOL " until SIGTERM/SIGINT.\n");
}

int main(int argc, char **argv)
{
    static sink_app a;
    static const struct option opts[] = {{"listen", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *listen[MAX_LISTEN] = {"/ip4/127.0.0.1/udp/0/quic-v1"};
    size_t nlisten = 0;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'L':
            if (nlisten >= MAX_LISTEN)
                goto bad;
            listen[nlisten++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (optind < argc)
        goto bad;
    if (nlisten == 0)
        nlisten = 1;

    rly_log_sink_init(&a.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    a.log = (rly_log){RLY_LOG_WARN, rly_log_sink_write, &a.sink};
    uv_loop_init(&a.loop);
    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    int code = 0;
    if (start(&a, listen, nlisten) != 0) {
        code = 1;
        on_signal(&a.sigterm, SIGTERM); /* the same shutdown path */
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    rly_mem_trim(rly_mem_default());
    return code;
bad:
    usage(stderr);
    return 2;
}
