/* test_client: the example libp2p client built on the relay's own libraries.
 *
 *   test_client --dial <multiaddr>[/p2p/<id>] [--ping N] [--identify] [--timeout SECS]
 *
 * Dials the peer over TCP (multistream-select, Noise, Yamux), then pings it N times and/or asks
 * for its identify record, printing one line per result:
 *   connected peer_id=<id>
 *   ping rtt_ms=<float>
 *   identify agent=<agentVersion> protocol_version=<v> protocols=<a,b,...> listen_addrs=<a,b>
 *            observed_addr=<addr>
 * Exit codes: 0 everything succeeded, 1 a step failed (a line on stderr says which), 2 usage,
 * 3 timeout. Circuit relay actions (reserve, dial through a relay) arrive with the relay. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/log_sink.h"
#include "crypto/keys.h"
#include "swarm/swarm.h"

typedef struct client {
    uv_loop_t loop;
    uv_timer_t deadline;
    rly_swarm *swarm;
    rly_conn *conn;
    rly_log log;
    rly_log_sink sink;
    unsigned pings_left;
    bool want_identify;
    int exit_code;
} client;

static void swarm_closed(void *ud)
{
    client *c = ud;
    c->swarm = NULL;
    uv_close((uv_handle_t *)&c->deadline, NULL);
}

static void finish(client *c, int code)
{
    if (c->exit_code < 0)
        c->exit_code = code;
    if (c->swarm)
        rly_swarm_close(c->swarm, swarm_closed, c);
}

static void next_step(client *c);

static void on_ping(void *ud, int err, rly_tstamp rtt)
{
    client *c = ud;
    if (err) {
        fprintf(stderr, "test_client: ping failed: %s\n", rly_strerror(err));
        finish(c, 1);
        return;
    }
    printf("ping rtt_ms=%.3f\n", (double)rtt / 1e6);
    fflush(stdout);
    c->pings_left--;
    next_step(c);
}

static void print_list_addrs(const char *key, const rly_multiaddr *a, size_t n)
{
    printf(" %s=", key);
    for (size_t i = 0; i < n; i++) {
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_to_string(&a[i], text, sizeof(text)) > 0)
            printf("%s%s", i ? "," : "", text);
    }
}

static void on_identify(void *ud, int err, const rly_identify *id)
{
    client *c = ud;
    if (err) {
        fprintf(stderr, "test_client: identify failed: %s\n", rly_strerror(err));
        finish(c, 1);
        return;
    }
    printf("identify agent=%s protocol_version=%s protocols=",
           id->agent_version ? id->agent_version : "",
           id->protocol_version ? id->protocol_version : "");
    for (size_t i = 0; i < id->nprotocols; i++)
        printf("%s%s", i ? "," : "", id->protocols[i]);
    print_list_addrs("listen_addrs", id->listen_addrs, id->nlisten_addrs);
    print_list_addrs("observed_addr", &id->observed_addr, id->has_observed_addr ? 1 : 0);
    printf(" public_key_bytes=%zu\n", id->public_key_len);
    fflush(stdout);
    c->want_identify = false;
    next_step(c);
}

static void next_step(client *c)
{
    int rv = 0;
    if (c->pings_left > 0)
        rv = rly_swarm_ping(c->swarm, c->conn, on_ping, c);
    else if (c->want_identify)
        rv = rly_swarm_identify(c->swarm, c->conn, on_identify, c);
    else
        finish(c, 0);
    if (rv != 0) {
        fprintf(stderr, "test_client: cannot open a stream: %s\n", rly_strerror(rv));
        finish(c, 1);
    }
}

static void on_dial(void *ud, rly_conn *conn, int err)
{
    client *c = ud;
    char pid[RLY_PEERID_STR_MAX];
    if (!conn) {
        fprintf(stderr, "test_client: dial failed: %s\n", rly_strerror(err));
        finish(c, 1);
        return;
    }
    c->conn = conn;
    if (rly_peerid_to_string(&conn->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    printf("connected peer_id=%s\n", pid);
    fflush(stdout);
    next_step(c);
}

static void on_deadline(uv_timer_t *t)
{
    client *c = t->data;
    fprintf(stderr, "test_client: timed out\n");
    finish(c, 3);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: test_client --dial <multiaddr> [--ping N] [--identify] [--timeout SECS]\n"
                 "                   [--log-level LEVEL]\n");
}

int main(int argc, char **argv)
{
    static client c;
    static const struct option opts[] = {{"dial", required_argument, NULL, 'd'},
                                         {"ping", required_argument, NULL, 'p'},
                                         {"identify", no_argument, NULL, 'i'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dial = NULL;
    unsigned long timeout = 30;
    rly_log_level level = RLY_LOG_WARN;
    int o;
    while ((o = getopt_long(argc, argv, "d:p:it:l:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'd': dial = optarg; break;
        case 'p':
            c.pings_left = (unsigned)strtoul(optarg, &end, 10);
            if (!end || *end || c.pings_left > 1000) {
                fprintf(stderr, "test_client: --ping takes a count of 0..1000\n");
                return 2;
            }
            break;
        case 'i': c.want_identify = true; break;
        case 't':
            timeout = strtoul(optarg, &end, 10);
            if (!end || *end || timeout == 0 || timeout > 3600) {
                fprintf(stderr, "test_client: --timeout takes 1..3600 seconds\n");
                return 2;
            }
            break;
        case 'l':
            if (rly_log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "test_client: bad --log-level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    rly_multiaddr ma;
    if (!dial || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (rly_multiaddr_parse(&ma, dial) != 0) {
        fprintf(stderr, "test_client: '%s' is not a multiaddr\n", dial);
        return 2;
    }

    rly_keypair kp;
    rly_swarm_settings st = {.agent_version = "mesh-relay-test-client/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    rly_log_sink_init(&c.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    c.log = (rly_log){level, rly_log_sink_write, &c.sink};
    c.exit_code = -1;
    uv_loop_init(&c.loop);
    uv_timer_init(&c.loop, &c.deadline);
    c.deadline.data = &c;
    int rv = rly_keypair_generate(&kp);
    if (rv == 0)
        rv = rly_swarm_new(&c.swarm, &c.loop, &kp, &st, &c.log, rly_mem_default());
    rly_keypair_wipe(&kp);
    if (rv == 0)
        rv = rly_swarm_dial(c.swarm, &ma, on_dial, &c);
    if (rv != 0) {
        fprintf(stderr, "test_client: cannot dial %s: %s\n", dial, rly_strerror(rv));
        finish(&c, 1);
    } else {
        uv_timer_start(&c.deadline, on_deadline, timeout * 1000, 0);
    }
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    return c.exit_code < 0 ? 1 : c.exit_code;
}
