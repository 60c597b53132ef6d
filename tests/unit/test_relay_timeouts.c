/* The relay's two deadlines, in one process on a real loop, shortened to 300 ms through
 * rly_relay_settings (30 s each by default):
 *   - hop_timeout: a hop stream that never sends its request is answered MALFORMED_MESSAGE (as
 *     go answers a read deadline);
 *   - stop_timeout: a destination that accepts the STOP stream and never answers makes the
 *     relay give up: the source gets CONNECTION_FAILED and the STOP stream is reset.
 * Neither answer may come early. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "hop_client_util.h"
#include "proto/circuit/stop.h"
#include "relay/relay.h"
#include "swarm/swarm.h"

#define DEADLINE_MS 300

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_swarm *rs, *ss, *ds; /* relay, source, destination */
    rly_relay *relay;
    rly_keypair rkp, skp, dkp;
    rly_peerid dpid;
    rly_multiaddr relay_dial;
    rly_conn *src_conn;
    rly_stream *stop; /* the destination's end of the STOP stream, until it closes */
    int stop_close_err;
    bool stop_opened, stop_closed, connect_answered;
    uint32_t reserve_status, silent_status, connect_status;
    uint64_t silent_ms, connect_ms;
    int open_swarms;
    bool timed_out, is_finished;
    bool answered_by_guard, stop_closed_by_guard; /* where things stood when the guard fired */
} world;

static world w;

static void swarm_closed(void *ud)
{
    if (--w.open_swarms == 0) {
        rly_relay_del(w.relay);
        uv_close((uv_handle_t *)&w.guard, NULL);
    }
}

static void finish(void)
{
    if (w.is_finished)
        return;
    w.is_finished = true;
    uv_timer_stop(&w.guard);
    rly_relay_shutdown(w.relay);
    rly_swarm_close(w.ss, swarm_closed, NULL);
    rly_swarm_close(w.ds, swarm_closed, NULL);
    rly_swarm_close(w.rs, swarm_closed, NULL);
}

/* ---- the destination: reserves, then takes STOP streams and never answers ------------------ */

static void mute_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
}

/* The end: the source has its answer and the destination saw its STOP stream go. */
static void maybe_finish(void)
{
    if (w.connect_answered && w.stop_closed)
        finish();
}

static void mute_on_close(rly_stream *s, void *ud, int err)
{
    w.stop = NULL;
    w.stop_closed = true;
    w.stop_close_err = err;
    maybe_finish();
}

static const rly_stream_handler mute_handler = {.on_data = mute_on_data, .on_close = mute_on_close};

static void on_stop(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    w.stop = s;
    w.stop_opened = true;
    rly_stream_set_handler(s, &mute_handler, NULL);
    if (len)
        (void)rly_stream_consume(s, len);
}

/* ---- the source: a silent hop stream, then a CONNECT to the destination -------------------- */

static void connect_done(void *ud, uint32_t status, uint64_t ms)
{
    w.connect_status = status;
    w.connect_ms = ms;
    w.connect_answered = true;
    maybe_finish();
}

static void silent_done(void *ud, uint32_t status, uint64_t ms)
{
    w.silent_status = status;
    w.silent_ms = ms;
    hop_request(w.ss, w.src_conn, RLY_CIRCUIT_HOP_CONNECT, &w.dpid, connect_done, NULL);
}

static void on_src_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "source dial failed: %s", rly_strerror(err));
    w.src_conn = c;
    hop_request(w.ss, c, HOP_SILENT, NULL, silent_done, NULL);
}

static void reserve_done(void *ud, uint32_t status, uint64_t ms)
{
    w.reserve_status = status;
    if (status != RLY_CIRCUIT_STATUS_OK) {
        finish();
        return;
    }
    cr_assert_eq(rly_swarm_dial(w.ss, &w.relay_dial, on_src_dial, NULL), 0);
}

static void on_dst_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "destination dial failed: %s", rly_strerror(err));
    hop_request(w.ds, c, RLY_CIRCUIT_HOP_RESERVE, NULL, reserve_done, NULL);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    w.answered_by_guard = w.connect_answered;
    w.stop_closed_by_guard = w.stop_closed;
    finish();
}

Test(relay_timeouts, silent_request_and_mute_destination)
{
    rly_swarm_settings st = {.agent_version = "test"};
    rly_relay_settings rset;
    rly_peerid rpid;
    rly_multiaddr addr;
    struct sockaddr_in sin;

    memset(&w, 0, sizeof(w));
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
    cr_assert_eq(rset.hop_timeout, 30 * RLY_NS_PER_S, "default: 30 s to read the request");
    cr_assert_eq(rset.stop_timeout, 30 * RLY_NS_PER_S, "default: 30 s for the destination");
    rset.hop_timeout = DEADLINE_MS * RLY_NS_PER_MS;
    rset.stop_timeout = DEADLINE_MS * RLY_NS_PER_MS;
    cr_assert_eq(rly_relay_new(&w.relay, w.rs, &rset, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_add_protocol(w.ds, RLY_STOP_PROTOCOL, on_stop, NULL), 0);

    w.relay_dial = addr;
    cr_assert_eq(rly_multiaddr_append_p2p(&w.relay_dial, &rpid), 0);
    cr_assert_eq(rly_swarm_dial(w.ds, &w.relay_dial, on_dst_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stalled (CONNECT answered: %d, STOP closed: %d)",
                  w.answered_by_guard, w.stop_closed_by_guard);
    cr_assert_eq(w.reserve_status, RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(w.silent_status, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, "silent request: %u",
                 w.silent_status);
    cr_assert_geq(w.silent_ms, DEADLINE_MS - 20, "answered after %llu ms",
                  (unsigned long long)w.silent_ms);
    cr_assert(w.stop_opened, "the relay opened STOP to the destination");
    cr_assert_eq(w.connect_status, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "CONNECT: %u",
                 w.connect_status);
    cr_assert_geq(w.connect_ms, DEADLINE_MS - 20, "answered after %llu ms",
                  (unsigned long long)w.connect_ms);
    cr_assert(w.stop_closed, "the STOP stream is gone");
    cr_assert_eq(w.stop_close_err, RLY_ERR_RESET, "and was reset: %s",
                 rly_strerror(w.stop_close_err));
    rly_keypair_wipe(&w.rkp);
    rly_keypair_wipe(&w.skp);
    rly_keypair_wipe(&w.dkp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
