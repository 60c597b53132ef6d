/* The relay on a real loop, through real Yamux streams, with a source that gives up while the
 * relay is still opening the STOP stream to the destination (issue 11, item 1). The source sends
 * CONNECT and resets its hop stream right after it, so the reset reaches the relay while the
 * STOP negotiation to the destination is in flight. The destination then
 * refuses the protocol, accepts it and stays mute, accepts and resets, or accepts and answers OK.
 * Whatever it does, the relay must survive (ASan: no use after free), answer nothing more, leave
 * no request state behind, and give the destination's circuit slot back.
 *
 * Ordering: once the relay has processed the reset (its refusal counter moved), the relay pings
 * the destination on the same connection; the ping goes out after the STOP proposal, so the
 * destination's answer to the proposal reaches the relay before the pong does. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "hop_client_util.h"
#include "proto/circuit/stop.h"
#include "relay/relay.h"
#include "swarm/swarm.h"

typedef enum dst_mode {
    DST_REFUSES = 0, /* no STOP protocol: answers "na" */
    DST_MUTE,        /* takes the STOP stream, never answers */
    DST_RESETS,      /* takes it and resets it at once */
    DST_ANSWERS_OK,  /* takes it and answers STATUS OK at once */
} dst_mode;

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard, poll;
    uv_prepare_t reset_prep;
    rly_stream *src_hop;     /* the source's hop stream until it closes */
    rly_swarm *rs, *ss, *ds; /* relay, source, destination */
    rly_relay *relay;
    rly_keypair rkp, skp, dkp;
    rly_peerid dpid;
    rly_multiaddr relay_dial;
    dst_mode mode;
    rly_stream *dst_stop; /* the destination's STOP stream (DST_MUTE) until it closes */
    int stops_seen;
    bool reserved, pinged, ping_ok, timed_out, is_finished;
    int open_swarms;
    size_t requests_left;
} world;

static world w;

static void swarm_closed(void *ud)
{
    if (--w.open_swarms == 0) {
        rly_relay_del(w.relay);
        uv_close((uv_handle_t *)&w.guard, NULL);
        uv_close((uv_handle_t *)&w.poll, NULL);
        uv_close((uv_handle_t *)&w.reset_prep, NULL);
    }
}

static void finish(void)
{
    if (w.is_finished)
        return;
    w.is_finished = true;
    uv_timer_stop(&w.guard);
    uv_timer_stop(&w.poll);
    w.requests_left = rly_relay_num_requests(w.relay);
    rly_relay_shutdown(w.relay);
    rly_swarm_close(w.ss, swarm_closed, NULL);
    rly_swarm_close(w.ds, swarm_closed, NULL);
    rly_swarm_close(w.rs, swarm_closed, NULL);
}

/* ---- the destination ---------------------------------------------------------------------- */

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    w.dst_stop = NULL;
}

static const rly_stream_handler stop_handler = {.on_data = stop_on_data, .on_close = stop_on_close};

static void on_stop(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    w.stops_seen++;
    if (w.mode == DST_RESETS) {
        (void)rly_stream_reset(s);
        return;
    }
    rly_stream_set_handler(s, &stop_handler, NULL);
    w.dst_stop = s;
    if (len)
        (void)rly_stream_consume(s, len);
    if (w.mode == DST_ANSWERS_OK) {
        rly_dynbuf out;
        rly_dynbuf_init(&out, NULL, 256);
        cr_assert_eq(rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, &out), 0);
        cr_assert_eq(rly_stream_write(s, out.data, out.len), (rly_ssize)out.len);
        rly_dynbuf_free(&out);
    }
}

/* ---- the source: CONNECT, then a reset one loop iteration later -------------------------- */

/* A reset drops what the stream has queued, so the CONNECT must be out first: connections flush
 * from an idle handle, and the reset comes from the prepare handle that runs after it. The relay
 * reads the CONNECT and sends the STOP proposal; the reset leaves in the same iteration as the
 * proposal, so it reaches the relay before the destination's answer, which needs one iteration
 * more (the destination reads the proposal, then the relay reads the answer). */
static void src_on_close(rly_stream *s, void *ud, int err)
{
    w.src_hop = NULL;
}

static const rly_stream_handler src_handler = {.on_data = stop_on_data, .on_close = src_on_close};

static void src_reset(uv_prepare_t *p)
{
    uv_prepare_stop(p);
    if (w.src_hop)
        (void)rly_stream_reset(w.src_hop);
}

static void src_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    rly_dynbuf out;
    cr_assert_not_null(s, "hop stream refused: %s", rly_strerror(err));
    rly_stream_set_handler(s, &src_handler, NULL);
    w.src_hop = s;
    rly_dynbuf_init(&out, NULL, 4096);
    cr_assert_eq(rly_hop_build_connect(&w.dpid, &out), 0);
    cr_assert_eq(rly_stream_write(s, out.data, out.len), (rly_ssize)out.len);
    rly_dynbuf_free(&out);
    uv_prepare_start(&w.reset_prep, src_reset);
}

static void on_src_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "source dial failed: %s", rly_strerror(err));
    cr_assert_eq(rly_swarm_open_stream(w.ss, c, RLY_HOP_PROTOCOL, src_opened, NULL), 0);
}

static void reserve_done(void *ud, uint32_t status, uint64_t ms)
{
    cr_assert_eq(status, RLY_CIRCUIT_STATUS_OK, "RESERVE: %u", status);
    w.reserved = true;
    cr_assert_eq(rly_swarm_dial(w.ss, &w.relay_dial, on_src_dial, NULL), 0);
}

static void on_dst_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "destination dial failed: %s", rly_strerror(err));
    hop_request(w.ds, c, RLY_CIRCUIT_HOP_RESERVE, NULL, reserve_done, NULL);
}

/* ---- the relay side: wait until the source is gone, then flush the destination's answer ---- */

static void pong(void *ud, int err, rly_tstamp rtt)
{
    w.ping_ok = err == 0;
    /* The destination's answer to the STOP proposal has been processed; what remains (a reset
     * of a mute destination's stream) happens within this loop iteration or the next. */
}

static void on_poll(uv_timer_t *t)
{
    rly_relay_stats st;
    rly_relay_stats_get(w.relay, &st, NULL);
    if (!w.pinged && st.circuit_refusals[RLY_REFUSAL_CONNECTION_FAILED] > 0) {
        rly_conn *dc = rly_swarm_find_conn(w.rs, &w.dpid, 0);
        cr_assert_not_null(dc, "the relay lost the destination's connection");
        cr_assert_eq(rly_swarm_ping(w.rs, dc, pong, NULL), 0);
        w.pinged = true;
        return;
    }
    if (w.ping_ok && rly_relay_num_requests(w.relay) == 0 && !w.dst_stop)
        finish();
}

static void on_guard(uv_timer_t *t)
{
    rly_relay_stats st;
    rly_relay_stats_get(w.relay, &st, NULL);
    for (int i = 0; i < RLY_REFUSAL_COUNT; i++)
        fprintf(stderr, "refusal %d: %llu\n", i, (unsigned long long)st.circuit_refusals[i]);
    fprintf(stderr, "opened %llu\n", (unsigned long long)st.circuits_opened);
    w.timed_out = true;
    finish();
}

static void run(dst_mode mode)
{
    rly_swarm_settings st = {.agent_version = "test"};
    rly_relay_settings rset;
    rly_peerid rpid;
    rly_multiaddr addr;
    struct sockaddr_in sin;

    memset(&w, 0, sizeof(w));
    w.mode = mode;
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&st.tcp);
    cr_assert_eq(rly_keypair_generate(&w.rkp), 0);
    cr_assert_eq(rly_keypair_generate(&w.skp), 0);
    cr_assert_eq(rly_keypair_generate(&w.dkp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.rkp, &rpid), 0);
    cr_assert_eq(rly_keypair_peerid(&w.dkp, &w.dpid), 0);
    cr_assert_eq(rly_swarm_new(&w.rs, &w.loop, &w.rkp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&w.ss, &w.loop, &w.skp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&w.ds, &w.loop, &w.dkp, &st, NULL, NULL), 0);
    w.open_swarms = 3;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(w.rs, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.rs, &addr, 1), 1);
    cr_assert_eq(rly_swarm_set_advertised_addrs(w.rs, &addr, 1, 1), 0);
    rly_relay_settings_default(&rset);
    rset.limits.max_circuits_per_peer = 1; /* a slot not given back would show */
    cr_assert_eq(rly_relay_new(&w.relay, w.rs, &rset, NULL, NULL), 0);
    if (mode != DST_REFUSES)
        cr_assert_eq(rly_swarm_add_protocol(w.ds, RLY_STOP_PROTOCOL, on_stop, NULL), 0);

    w.relay_dial = addr;
    cr_assert_eq(rly_multiaddr_append_p2p(&w.relay_dial, &rpid), 0);
    cr_assert_eq(rly_swarm_dial(w.ds, &w.relay_dial, on_dst_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_timer_init(&w.loop, &w.poll);
    uv_timer_start(&w.poll, on_poll, 5, 5);
    uv_prepare_init(&w.loop, &w.reset_prep);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stalled (reserved %d, pinged %d, pong %d, requests %zu)",
                  w.reserved, w.pinged, w.ping_ok, w.requests_left);
    cr_assert_eq(w.requests_left, 0, "request state left behind");
    if (mode != DST_REFUSES)
        cr_assert_eq(w.stops_seen, 1, "the destination saw the STOP stream");
    rly_keypair_wipe(&w.rkp);
    rly_keypair_wipe(&w.skp);
    rly_keypair_wipe(&w.dkp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(relay_races, source_resets_while_destination_refuses_stop)
{
    run(DST_REFUSES);
}

Test(relay_races, source_resets_while_destination_takes_stop_and_stays_mute)
{
    run(DST_MUTE);
}

Test(relay_races, source_resets_while_destination_takes_stop_and_resets_it)
{
    run(DST_RESETS);
}

Test(relay_races, source_resets_while_destination_answers_ok)
{
    run(DST_ANSWERS_OK);
}
