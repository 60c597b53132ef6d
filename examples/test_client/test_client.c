/* test_client: the example libp2p client built on the relay's own libraries (README "Example
 * client"; SPEC.md "Test with Example Client").
 *
 *   test_client [--relay MULTIADDR] [--name NAME]                     listen through the relay
 *   test_client [--relay MULTIADDR] [--name NAME] --dial PEER_ID ...  dial a peer through it
 *   test_client --dial MULTIADDR [--ping N] [--identify] ...          dial a peer directly
 *
 * Listening: connect to the relay, RESERVE (and refresh), answer STOP CONNECTs and serve ping,
 * identify, echo and sink over the relayed connections until SIGINT/SIGTERM. Dialing through the
 * relay: CONNECT, upgrade the circuit to a Noise + Yamux connection, run the requested steps.
 * One line on stdout per event or result; diagnostics on stderr.
 * Exit codes: 0 success, 1 failure, 2 usage, 3 timeout, 4 refused by the relay. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/files.h"
#include "app/identity.h"
#include "client.h"
#include "crypto/keys.h"
#include "proto/auth/auth.h"

#define ECHO_TEXT_MAX 4096
#define NAME_MAX_LEN 64
#define CLIENT_YAMUX_WINDOW (1024u * 1024u)

/* ---- shutdown ----------------------------------------------------------------------------- */

static void swarm_closed(void *ud)
{
    client *c = ud;
    c->swarm = NULL;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs on the loop after client_finish: never from inside a connection's callbacks. */
static void do_close(uv_timer_t *t)
{
    client *c = t->data;
    client_relay_stop(c);
    close_handle((uv_handle_t *)&c->deadline);
    close_handle((uv_handle_t *)&c->refresh);
    close_handle((uv_handle_t *)&c->sigint);
    close_handle((uv_handle_t *)&c->sigterm);
    if (c->swarm) {
        c->is_swarm_closing = true;
        rly_swarm_close(c->swarm, swarm_closed, c);
    }
}

void client_finish(client *c, int code)
{
    if (c->exit_code < 0)
        c->exit_code = code;
    if (c->is_finishing)
        return;
    c->is_finishing = true;
    uv_timer_stop(&c->refresh);
    uv_timer_start(&c->deadline, do_close, 0, 0);
}

void client_fail(client *c, int code, const char *what, int err)
{
    if (!c->is_finishing) {
        if (err)
            fprintf(stderr, "test_client: %s: %s\n", what, rly_strerror(err));
        else
            fprintf(stderr, "test_client: %s\n", what);
    }
    client_finish(c, code);
}

const char *client_pid(const rly_peerid *p, char *buf, size_t cap)
{
    if (rly_peerid_to_string(p, buf, cap) < 0)
        snprintf(buf, cap, "?");
    return buf;
}

const char *client_reason(int err, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", err ? rly_strerror(err) : "closed");
    for (char *p = buf; *p; p++)
        if (*p == ' ')
            *p = '_';
    return buf;
}

void client_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* ---- events ------------------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    client_fail(t->data, EXIT_TIMEOUT, "timed out", 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    client *c = h->data;
    fprintf(stderr, "test_client: %s, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    client_finish(c, EXIT_OK);
}

static void on_conn_closed(void *ud, rly_conn *conn, size_t remaining, int err, const char *cause)
{
    client *c = ud;
    char pid[RLY_PEERID_STR_MAX], why[64];
    if (conn == c->relay_conn) {
        client_relay_conn_closed(c, conn, err, cause);
        return;
    }
    if (rly_multiaddr_has(&conn->remote, RLY_MA_P2P_CIRCUIT) && !c->is_swarm_closing)
        client_out("relayed connection closed peer_id=%s reason=%s",
                   client_pid(&conn->peer, pid, sizeof(pid)), client_reason(err, why, sizeof(why)));
    client_steps_conn_closed(c, conn, err);
}

/* ---- options ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: test_client [OPTIONS]\n"
            "\n"
            "Without --dial: connect to the relay, reserve a slot and serve incoming circuits\n"
            "(ping, identify, echo, sink) until SIGINT/SIGTERM.\n"
            "\n"
            "  --relay MULTIADDR   the relay [default: " CLIENT_DEFAULT_RELAY "]; TCP: its PeerId\n"
            "                      is learnt in the handshake unless the address ends in\n"
            "                      /p2p/<id>; QUIC (.../udp/<port>/quic-v1/p2p/<id>): the\n"
            "                      PeerId is required\n"
            "  --name NAME         stable identity ~/.meshnet/clients/NAME.key (default: a new\n"
            "                      key on every run)\n"
            "  --dial PEER_ID      connect to PEER_ID through the relay (CONNECT)\n"
            "  --dial MULTIADDR    connect directly (TCP or QUIC, no relay), e.g. to the relay\n"
            "  --ping N            with --dial: N pings\n"
            "  --identify          with --dial: ask for the peer's identify record\n"
            "  --echo TEXT         with --dial: send TEXT on " CLIENT_ECHO_PROTOCOL "\n"
            "  --echo-bytes N      with --dial: send N generated bytes on " CLIENT_ECHO_PROTOCOL
            "\n"
            "                      and compare every byte that comes back\n"
            "  --send BYTES        with --dial: push BYTES through " CLIENT_SINK_PROTOCOL "\n"
            "  --hold              with --dial: keep the circuit (or the direct connection)\n"
            "                      open until it closes\n"
            "  --reserve-only      reserve, print the reservation and exit\n"
            "  --no-refresh        listening: never refresh the reservation\n"
            "  --stall             listening: the sink never reads (a slow consumer)\n"
            "  --token TOKEN       authenticate to the relay first (" RLY_AUTH_PROTOCOL "):\n"
            "                      its auth_token, or a token minted (v1.) or signed\n"
            "                      (v2.) for our PeerId (relay-server --mint-token);\n"
            "                      refused: exit 4\n"
            "  --auth-raw HEX      (relay tests) send these bytes on the authentication\n"
            "                      stream instead of the token request\n"
            "  --auth-streams N    (relay tests) authenticate on N streams at once (1..16);\n"
            "                      prints \"auth streams answered=A reset=R\" first\n"
            "  --timeout SECS      give up after SECS (exit 3) [default: 30 with --dial or\n"
            "                      --reserve-only, none when listening]\n"
            "  --log-level LEVEL   trace, debug, info, warn, error [default: warn]\n"
            "  -h, --help          print this help\n"
            "\n"
            "Exit codes: 0 success, 1 failure, 2 usage, 3 timeout, 4 refused by the relay.\n");
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "test_client: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *pv)
{
    char *end = NULL;
    if (!*s || *s == '-' || *s == '+')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (!end || *end || v > max)
        return false;
    *pv = v;
    return true;
}

/* parse_hex reads --auth-raw's hexadecimal bytes into a static buffer. */
static bool parse_hex(const char *s, client_opts *o)
{
    static uint8_t raw[AUTH_RAW_MAX];
    size_t n = strlen(s);
    if (n == 0 || n % 2 || n / 2 > sizeof(raw))
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        char pair[3] = {s[2 * i], s[2 * i + 1], 0};
        char *end = NULL;
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
            return false;
        raw[i] = (uint8_t)strtoul(pair, &end, 16);
    }
    o->auth_raw = raw;
    o->auth_raw_len = n / 2;
    return true;
}

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > NAME_MAX_LEN || n[0] == '.')
        return false;
    return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

enum {
    OPT_RELAY = 256,
    OPT_NAME,
    OPT_ECHO,
    OPT_SEND,
    OPT_HOLD,
    OPT_ECHO_BYTES,
    OPT_RESERVE_ONLY,
    OPT_NO_REFRESH,
    OPT_STALL,
    OPT_TOKEN,
    OPT_AUTH_RAW,
    OPT_AUTH_STREAMS,
};

static const struct option long_opts[] = {
    {"relay", required_argument, NULL, OPT_RELAY},
    {"name", required_argument, NULL, OPT_NAME},
    {"dial", required_argument, NULL, 'd'},
    {"ping", required_argument, NULL, 'p'},
    {"identify", no_argument, NULL, 'i'},
    {"echo", required_argument, NULL, OPT_ECHO},
    {"echo-bytes", required_argument, NULL, OPT_ECHO_BYTES},
    {"send", required_argument, NULL, OPT_SEND},
    {"hold", no_argument, NULL, OPT_HOLD},
    {"reserve-only", no_argument, NULL, OPT_RESERVE_ONLY},
    {"no-refresh", no_argument, NULL, OPT_NO_REFRESH},
    {"stall", no_argument, NULL, OPT_STALL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"auth-raw", required_argument, NULL, OPT_AUTH_RAW},
    {"auth-streams", required_argument, NULL, OPT_AUTH_STREAMS},
    {"timeout", required_argument, NULL, 't'},
    {"log-level", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into |o|. Returns -1 to go on, or the exit code. */
static int parse_opt(int opt, const char *arg, client_opts *o)
{
    uint64_t v;
    switch (opt) {
    case OPT_RELAY: o->relay = arg; break;
    case OPT_NAME:
        if (!valid_name(arg))
            return bad("--name takes 1-64 characters of A-Z a-z 0-9 . _ - (not starting with .)",
                       arg);
        o->name = arg;
        break;
    case 'd': o->dial = arg; break;
    case 'p':
        if (!parse_u64(arg, 1000, &v))
            return bad("--ping takes a count of 0..1000", arg);
        o->pings = (unsigned)v;
        break;
    case 'i': o->identify = true; break;
    case OPT_ECHO:
        if (strlen(arg) == 0 || strlen(arg) > ECHO_TEXT_MAX)
            return bad("--echo takes 1..4096 bytes of text", NULL);
        o->echo = arg;
        break;
    case OPT_ECHO_BYTES:
        if (!parse_u64(arg, UINT64_C(1) << 40, &o->echo_bytes) || o->echo_bytes == 0)
            return bad("--echo-bytes takes a byte count of 1..2^40", arg);
        break;
    case OPT_SEND:
        if (!parse_u64(arg, UINT64_C(1) << 40, &o->send_bytes))
            return bad("--send takes a byte count of 0..2^40", arg);
        o->has_send = true;
        break;
    case OPT_HOLD: o->hold = true; break;
    case OPT_RESERVE_ONLY: o->reserve_only = true; break;
    case OPT_NO_REFRESH: o->no_refresh = true; break;
    case OPT_STALL: o->stall = true; break;
    case OPT_TOKEN:
        if (strlen(arg) == 0 || strlen(arg) > RLY_AUTH_TOKEN_MAX)
            return bad("--token takes 1..1024 bytes", NULL);
        o->token = arg;
        break;
    case OPT_AUTH_RAW:
        if (!parse_hex(arg, o))
            return bad("--auth-raw takes 1..4096 bytes in hexadecimal", arg);
        break;
    case OPT_AUTH_STREAMS:
        if (!parse_u64(arg, AUTH_STREAMS_MAX, &v) || v == 0)
            return bad("--auth-streams takes a count of 1..16", arg);
        o->auth_streams = (unsigned)v;
        break;
    case 't':
        if (!parse_u64(arg, 86400, &v) || v == 0)
            return bad("--timeout takes 1..86400 seconds", arg);
        o->timeout_ms = v * 1000;
        break;
    case 'l':
        if (rly_log_level_parse(arg, &o->level) != 0)
            return bad("bad --log-level", arg);
        break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
    return -1;
}

/* Which mode the options ask for, and whether they fit it. Returns -1 or the exit code. */
static int check_mode(client *c)
{
    client_opts *o = &c->o;
    bool steps = o->pings || o->identify || o->echo || o->echo_bytes || o->has_send;
    if (o->echo && o->echo_bytes)
        return bad("give --echo or --echo-bytes, not both", NULL);
    if (o->auth_raw && o->token)
        return bad("--auth-raw replaces the --token request: give one of them", NULL);
    if (o->auth_streams && !o->token && !o->auth_raw)
        return bad("--auth-streams needs --token or --auth-raw", NULL);
    if (!o->dial) {
        c->mode = MODE_LISTEN;
        if (steps || o->hold)
            return bad("--ping, --identify, --echo, --echo-bytes, --send and --hold need --dial",
                       NULL);
        if (o->reserve_only && !o->timeout_ms)
            o->timeout_ms = 30000;
    } else {
        if (o->reserve_only || o->no_refresh || o->stall)
            return bad("--reserve-only, --no-refresh and --stall are for listening (no --dial)",
                       NULL);
        if (!o->timeout_ms)
            o->timeout_ms = 30000;
        if (o->dial[0] == '/') {
            c->mode = MODE_DIAL_DIRECT;
            if (rly_multiaddr_parse(&c->target_ma, o->dial) != 0)
                return bad("not a multiaddr", o->dial);
            return -1;
        }
        c->mode = MODE_DIAL_RELAY;
        if (rly_peerid_parse(&c->target, o->dial, strlen(o->dial)) != 0)
            return bad("--dial takes a PeerId or a multiaddr", o->dial);
    }
    if (rly_multiaddr_parse(&c->relay_ma, o->relay) != 0 ||
        rly_multiaddr_has(&c->relay_ma, RLY_MA_P2P_CIRCUIT))
        return bad("--relay takes a TCP multiaddr", o->relay);
    return -1;
}

static int parse_args(client *c, int argc, char **argv)
{
    int opt, rv;
    c->o.relay = CLIENT_DEFAULT_RELAY;
    c->o.level = RLY_LOG_WARN;
    while ((opt = getopt_long(argc, argv, "d:p:it:l:h", long_opts, NULL)) != -1)
        if ((rv = parse_opt(opt, optarg, &c->o)) >= 0)
            return rv;
    if (optind < argc)
        return bad("unexpected argument", argv[optind]);
    c->pings_left = c->o.pings;
    c->want_identify = c->o.identify;
    c->want_echo = c->o.echo != NULL || c->o.echo_bytes > 0;
    c->want_send = c->o.has_send;
    c->want_hold = c->o.hold;
    return check_mode(c);
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* --name: ~/.meshnet/clients/NAME.key (created 0600, its directories 0700); else a new key. */
static int load_identity(const client_opts *o, rly_keypair *kp)
{
    char path[RLY_PATH_MAX], rel[128], errmsg[512];
    bool created;
    if (!o->name)
        return rly_keypair_generate(kp);
    snprintf(rel, sizeof(rel), "%s/clients/%s.key", RLY_MESHNET_DIR, o->name);
    int rv = rly_files_home_path(rel, path, sizeof(path));
    if (rv != 0) {
        fprintf(stderr, "test_client: cannot place ~/%s: %s\n", rel,
                rv == RLY_ERR_NOT_FOUND ? "no home directory (HOME unset, no passwd entry)"
                                        : "the path is too long");
        return rv;
    }
    char dir[RLY_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0'; /* ~/.meshnet/clients: make sure ~/.meshnet exists */
    rv = rly_files_ensure_parent_dir(dir);
    if (rv != 0) {
        int err = errno;
        *strrchr(dir, '/') = '\0'; /* the directory that could not be made: ~/.meshnet */
        fprintf(stderr, "test_client: cannot create the directory %s: %s\n", dir, strerror(err));
        return rv;
    }
    rv = rly_identity_load_or_create(path, kp, &created, errmsg, sizeof(errmsg));
    if (rv != 0)
        fprintf(stderr, "test_client: %s\n", errmsg);
    return rv;
}

static int start_swarm(client *c)
{
    rly_keypair kp;
    rly_swarm_settings st = {.agent_version = "mesh-relay-test-client/" RLY_VERSION};
    rly_tcp_settings_default(&st.tcp);
    /* Bulk data through a relay crosses two hops and the relay: with the spec's 256 KiB a stream
     * waits for window updates half the time. 1 MiB per stream (go-yamux's auto-tuning grows to
     * 16 MiB) keeps both hops busy; a client can afford it, the relay keeps 256 KiB. */
    st.tcp.yamux_window = CLIENT_YAMUX_WINDOW;
    rly_quic_settings_default(&st.quic);
    st.quic.stream_window = CLIENT_YAMUX_WINDOW; /* the same over QUIC */
    int rv = load_identity(&c->o, &kp);
    if (rv != 0)
        return rv;
    rv = rly_keypair_peerid(&kp, &c->self);
    if (rv == 0)
        rv = rly_swarm_new(&c->swarm, &c->loop, &kp, &st, &c->log, rly_mem_default());
    rly_keypair_wipe(&kp);
    if (rv != 0) {
        fprintf(stderr, "test_client: cannot start: %s\n", rly_strerror(rv));
        return rv;
    }
    rly_swarm_observer obs = {.on_closed = on_conn_closed, .ud = c};
    rly_swarm_set_observer(c->swarm, &obs);
    rv = client_serve_register(c);
    if (rv == 0 && c->mode == MODE_LISTEN)
        rv = client_relay_register(c);
    if (rv != 0)
        fprintf(stderr, "test_client: cannot register the protocols: %s\n", rly_strerror(rv));
    return rv;
}

static void on_direct_dial(void *ud, rly_conn *conn, int err)
{
    client *c = ud;
    char pid[RLY_PEERID_STR_MAX];
    if (!conn) {
        client_fail(c, EXIT_FAIL, "dial failed", err);
        return;
    }
    client_out("connected peer_id=%s", client_pid(&conn->peer, pid, sizeof(pid)));
    client_steps_start(c, conn);
}

static void init_handles(client *c)
{
    uv_loop_init(&c->loop);
    uv_timer_init(&c->loop, &c->deadline);
    uv_timer_init(&c->loop, &c->refresh);
    uv_signal_init(&c->loop, &c->sigint);
    uv_signal_init(&c->loop, &c->sigterm);
    c->deadline.data = c->refresh.data = c->sigint.data = c->sigterm.data = c;
    uv_signal_start(&c->sigint, on_signal, SIGINT);
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);
}

static int start(client *c)
{
    char pid[RLY_PEERID_STR_MAX];
    int rv = start_swarm(c);
    if (rv != 0)
        return rv;
    client_out("local peer_id=%s", client_pid(&c->self, pid, sizeof(pid)));
    if (c->o.timeout_ms)
        uv_timer_start(&c->deadline, on_deadline, c->o.timeout_ms, 0);
    if (c->mode == MODE_DIAL_DIRECT) {
        rv = rly_swarm_dial(c->swarm, &c->target_ma, on_direct_dial, c);
        if (rv != 0)
            fprintf(stderr, "test_client: cannot dial %s: %s\n", c->o.dial, rly_strerror(rv));
        return rv;
    }
    return client_relay_start(c);
}

int main(int argc, char **argv)
{
    static client c;
    c.exit_code = -1;
    int rv = parse_args(&c, argc, argv);
    if (rv >= 0)
        return rv;
    rly_log_sink_init(&c.sink, RLY_LOG_FORMAT_PRETTY, stderr);
    c.log = (rly_log){c.o.level, rly_log_sink_write, &c.sink};
    init_handles(&c);
    if (start(&c) != 0)
        client_finish(&c, EXIT_FAIL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    rly_mem_trim(rly_mem_default());
    return c.exit_code < 0 ? EXIT_FAIL : c.exit_code;
}
