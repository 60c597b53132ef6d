/* quic_stall: a flood of QUIC handshakes that stall, for the robustness interop test (issue 11,
 * item 3). Each handshake is a real client Initial (tests/unit/quic_flood_util.h), so the server
 * accepts it and answers; then the client says nothing more, as a stalled or malicious client
 * would. A Retry is answered (the attacker has a real address), nothing else is.
 *
 *   quic_stall --to IP:PORT --peer PEERID [--from IP[,IP...]] [--burst N] [--rate R] [--seconds S]
 *
 * sends --burst Initials at once, then --rate new ones per second for --seconds, spread over the
 * --from addresses (one UDP socket each, default 127.0.0.1), and prints one line of JSON:
 * {"initials":N,"retries_answered":N,"seconds":S}. SIGTERM or SIGINT end it early (the line is
 * printed all the same, also when the signal comes as it ends by itself). Exit 0, 1 when the QUIC
 * context cannot be made, 2 for bad arguments. */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../unit/quic_flood_util.h"

#define TICK_MS 10

static struct {
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    bool is_stopped;
    qflood f;
    uint64_t start_ms, end_ms, burst, rate, sent_by_rate;
} g;

/* The end signals, held back from the moment their handlers go: closing the last uv_signal of a
 * signal number puts back its default action, and a SIGTERM then (the test stops the flood as it
 * ends by itself) killed the process before it printed its line. */
static void hold_end_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(how, &set, NULL);
}

static void stop(void)
{
    if (g.is_stopped)
        return;
    g.is_stopped = true;
    hold_end_signals(SIG_BLOCK);
    uv_close((uv_handle_t *)&g.tick, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
    uv_close((uv_handle_t *)&g.sigint, NULL);
    qflood_stop(&g.f);
}

static void on_signal(uv_signal_t *h, int signum)
{
    stop();
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now = uv_now(&g.loop);
    qflood_expire(&g.f);
    if (now >= g.end_ms) {
        stop();
        return;
    }
    uint64_t due = (now - g.start_ms) * g.rate / 1000;
    for (; g.sent_by_rate < due; g.sent_by_rate++)
        qflood_open(&g.f);
}

static int parse_addr(const char *text, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(text, ':'))
        return uv_ip6_addr(text, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(text, port, (struct sockaddr_in *)ss);
}

/* "IP:PORT" or "[IP]:PORT". */
static int parse_to(const char *arg, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= sizeof(host))
        return -1;
    const char *h = arg, *e = colon;
    if (*h == '[' && e > h && e[-1] == ']') {
        h++;
        e--;
    }
    memcpy(host, h, (size_t)(e - h));
    host[e - h] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535)
        return -1;
    return parse_addr(host, (uint16_t)port, ss);
}

static int add_sources(const char *list)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        struct sockaddr_storage ss;
        if (parse_addr(a, 0, &ss) != 0 || qflood_add_source(&g.f, (struct sockaddr *)&ss) != 0)
            return -1;
    }
    return g.f.nsrcs > 0 ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: quic_stall --to IP:PORT --peer PEERID [--from IP[,IP...]] "
                    "[--burst N] [--rate R] [--seconds S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *to = NULL, *peer = NULL, *from = "127.0.0.1";
    uint64_t seconds = 10;
    struct sockaddr_storage dst;
    rly_peerid pid;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--to") == 0)
            to = v;
        else if (strcmp(k, "--peer") == 0)
            peer = v;
        else if (strcmp(k, "--from") == 0)
            from = v;
        else if (strcmp(k, "--burst") == 0)
            g.burst = strtoull(v, NULL, 10);
        else if (strcmp(k, "--rate") == 0)
            g.rate = strtoull(v, NULL, 10);
        else if (strcmp(k, "--seconds") == 0)
            seconds = strtoull(v, NULL, 10);
        else
            return usage();
    }
    if (!to || !peer || parse_to(to, &dst) != 0 || rly_peerid_parse(&pid, peer, strlen(peer)) != 0)
        return usage();
    uv_loop_init(&g.loop);
    if (qflood_init(&g.f, &g.loop, (struct sockaddr *)&dst, &pid, true) != 0) {
        fprintf(stderr, "quic_stall: cannot make a QUIC context\n");
        return 1;
    }
    if (add_sources(from) != 0)
        return usage();
    g.start_ms = uv_now(&g.loop);
    g.end_ms = g.start_ms + seconds * 1000;
    for (uint64_t i = 0; i < g.burst; i++)
        qflood_open(&g.f);
    uv_timer_init(&g.loop, &g.tick);
    uv_timer_start(&g.tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(&g.loop, &g.sigterm);
    uv_signal_init(&g.loop, &g.sigint);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    /* Done: an end signal held back meanwhile, or one still to come, changes nothing now. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    hold_end_signals(SIG_UNBLOCK);
    qflood_free(&g.f);
    uv_loop_close(&g.loop);
    printf("{\"initials\":%" PRIu64 ",\"retries_answered\":%" PRIu64 ",\"seconds\":%" PRIu64 "}\n",
           g.f.initials, g.f.retries, seconds);
    return 0;
}
