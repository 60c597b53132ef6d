/* A relayed connection (an end-to-end Noise + Yamux connection over a stream of another
 * connection, as a circuit carries it) moves bulk data on several streams at once, with 1 MiB
 * windows (what test_client grants), on a real loop in one process: every byte arrives intact and
 * in order, window updates flow back through the stream under it, and nothing waits for a timer.
 * Keepalive is off, so a stall is a timeout here, not a slow pass. (A relayed connection has no
 * write completion to resume it: after a batch of output that the stream under it takes whole,
 * it must schedule its own next pull; see flush_to_stream in tcp_conn.c.)
 *
 * The relayed connection runs over a tunnel (tunnel_util.h), as over a circuit's stream. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "swarm/swarm.h"
#include "tunnel_util.h"

#define SINK "/test/sink/1.0.0"
#define NSTREAMS 4
#define PER_STREAM (3u * 1024u * 1024u) /* > the 1 MiB window: window updates must flow too */
#define WINDOW (1024u * 1024u)

typedef struct sender {
    rly_stream *s;
    size_t sent;
    bool is_done;
} sender;

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_swarm *ss, *cs; /* server and client swarms */
    rly_keypair skp, ckp;
    rly_peerid spid;
    sender senders[NSTREAMS];
    size_t received[NSTREAMS + 1]; /* by the sink stream's order of arrival */
    int nsinks, nfins, open_swarms;
    bool timed_out, is_finished;
} world;

static world w;
static uint8_t payload[65536];

static void finish(void)
{
    if (w.is_finished)
        return;
    w.is_finished = true;
    uv_timer_stop(&w.guard);
    rly_swarm_close(w.cs, NULL, NULL);
    rly_swarm_close(w.ss, NULL, NULL);
    uv_close((uv_handle_t *)&w.guard, NULL);
}

/* ---- client: NSTREAMS sink streams over the relayed connection, written as fast as allowed */

static void pump(sender *q)
{
    while (!q->is_done && q->sent < PER_STREAM) {
        size_t off = q->sent % 256, n = sizeof(payload) - off; /* the pattern's period: 256 */
        if (n > PER_STREAM - q->sent)
            n = PER_STREAM - q->sent;
        rly_ssize r = rly_stream_write(q->s, payload + off, n);
        if (r == RLY_ERR_AGAIN)
            return; /* on_writable follows */
        cr_assert_gt(r, 0, "write: %s", rly_strerror((int)r));
        q->sent += (size_t)r;
    }
    if (!q->is_done) {
        q->is_done = true;
        cr_assert_eq(rly_stream_shutdown(q->s), 0);
    }
}

static void snd_on_writable(rly_stream *s, void *ud)
{
    pump(ud);
}

static void snd_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
}

static void snd_on_close(rly_stream *s, void *ud, int err)
{
    sender *q = ud;
    q->s = NULL;
}

static const rly_stream_handler snd_handler = {
    .on_data = snd_on_data, .on_writable = snd_on_writable, .on_close = snd_on_close};

static void sink_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    sender *q = ud;
    cr_assert_not_null(s, "sink stream refused: %s", rly_strerror(err));
    q->s = s;
    rly_stream_set_handler(s, &snd_handler, q);
    pump(q);
}

static void on_relayed(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "relayed upgrade failed: %s", rly_strerror(err));
    cr_assert_str_eq(c->transport, "p2p-circuit");
    for (int i = 0; i < NSTREAMS; i++)
        cr_assert_eq(rly_swarm_open_stream(w.cs, c, SINK, sink_opened, &w.senders[i]), 0);
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    tunnel_open(w.cs, c, on_relayed, NULL);
}

/* ---- server: the sink counts, checks and consumes ------------------------------------------ */

static void sink_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    size_t *got = ud;
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(data[i], (uint8_t)((*got + i) * 7u), "byte %zu", *got + i);
    *got += len;
    cr_assert_eq(rly_stream_consume(s, len), 0);
}

static void sink_on_fin(rly_stream *s, void *ud)
{
    cr_assert_eq(rly_stream_shutdown(s), 0);
    if (++w.nfins == NSTREAMS)
        finish();
}

static const rly_stream_handler sink_handler = {.on_data = sink_on_data, .on_fin = sink_on_fin};

static void on_sink(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    cr_assert_lt(w.nsinks, NSTREAMS);
    size_t *got = &w.received[w.nsinks++];
    rly_stream_set_handler(s, &sink_handler, got);
    if (len)
        sink_on_data(s, got, data, len);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    finish();
}

Test(relayed_conn, bulk_data_on_several_streams_does_not_stall)
{
    rly_swarm_settings st = {.agent_version = "test"};
    struct sockaddr_in sin;
    rly_multiaddr addr;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7u);
    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&st.tcp);
    st.tcp.keepalive_interval = 0; /* no ping may rescue a stalled connection */
    st.tcp.yamux_window = WINDOW;
    cr_assert_eq(rly_keypair_generate(&w.skp), 0);
    cr_assert_eq(rly_keypair_generate(&w.ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.skp, &w.spid), 0);
    cr_assert_eq(rly_swarm_new(&w.ss, &w.loop, &w.skp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&w.cs, &w.loop, &w.ckp, &st, NULL, NULL), 0);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(w.ss, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.ss, &addr, 1), 1);
    tunnel_serve(w.ss, &addr, &w.spid);
    cr_assert_eq(rly_swarm_add_protocol(w.ss, SINK, on_sink, NULL), 0);

    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &w.spid), 0);
    cr_assert_eq(rly_swarm_dial(w.cs, &addr, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 20000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stalled: %d of %d streams finished (received %zu %zu %zu %zu)",
                  w.nfins, NSTREAMS, w.received[0], w.received[1], w.received[2], w.received[3]);
    for (int i = 0; i < NSTREAMS; i++)
        cr_assert_eq(w.received[i], PER_STREAM, "stream %d: %zu bytes", i, w.received[i]);
    rly_keypair_wipe(&w.skp);
    rly_keypair_wipe(&w.ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(relayed_conn, window_outside_the_yamux_range_is_refused)
{
    rly_swarm_settings st = {.agent_version = "test"};
    rly_keypair kp;
    rly_swarm *sw = NULL;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    rly_tcp_settings_default(&st.tcp);
    cr_assert_eq(st.tcp.yamux_window, RLY_YAMUX_INITIAL_WINDOW, "the spec's window by default");
    st.tcp.yamux_window = RLY_YAMUX_INITIAL_WINDOW - 1;
    cr_assert_eq(rly_swarm_new(&sw, &loop, &kp, &st, NULL, NULL), RLY_ERR_INVALID_ARG);
    st.tcp.yamux_window = RLY_YAMUX_MAX_WINDOW + 1;
    cr_assert_eq(rly_swarm_new(&sw, &loop, &kp, &st, NULL, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_null(sw);
    rly_keypair_wipe(&kp);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
