/* The swarm over QUIC, on a real loop: a swarm listening on 127.0.0.1 UDP is dialled by another
 * at .../udp/<port>/quic-v1/p2p/<id>; ping and identify run unchanged over QUIC streams (each a
 * multistream-select negotiated bidirectional stream), and identify reports the QUIC observed
 * address. The listen addresses list TCP first, then QUIC. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "swarm/swarm.h"

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_swarm *a, *b;
    rly_keypair akp, bkp;
    rly_peerid apid;
    rly_conn *conn;
    bool pinged, identified, timed_out, is_finished;
    char observed[RLY_MULTIADDR_STR_MAX];
    char agent[64];
    int open_swarms;
} world;

static world w;

static void swarm_closed(void *ud)
{
    if (--w.open_swarms == 0)
        uv_close((uv_handle_t *)&w.guard, NULL);
}

static void finish(void)
{
    if (w.is_finished)
        return;
    w.is_finished = true;
    uv_timer_stop(&w.guard);
    rly_swarm_close(w.a, swarm_closed, NULL);
    rly_swarm_close(w.b, swarm_closed, NULL);
}

static void on_identify(void *ud, int err, const rly_identify *id)
{
    cr_assert_eq(err, 0, "identify: %s", rly_strerror(err));
    w.identified = true;
    if (id->agent_version)
        snprintf(w.agent, sizeof(w.agent), "%s", id->agent_version);
    if (id->has_observed_addr)
        cr_assert_gt(rly_multiaddr_to_string(&id->observed_addr, w.observed, sizeof(w.observed)),
                     0);
    finish();
}

static void on_ping(void *ud, int err, rly_tstamp rtt)
{
    cr_assert_eq(err, 0, "ping: %s", rly_strerror(err));
    w.pinged = true;
    cr_assert_eq(rly_swarm_identify(w.b, w.conn, on_identify, NULL), 0);
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial: %s", rly_strerror(err));
    cr_assert_str_eq(c->transport, "quic-v1");
    cr_assert(rly_peerid_equal(&c->peer, &w.apid));
    w.conn = c;
    cr_assert_eq(rly_swarm_ping(w.b, c, on_ping, NULL), 0);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    finish();
}

Test(swarm_quic, ping_and_identify_over_quic)
{
    rly_swarm_settings st = {.agent_version = "quic-test"};
    struct sockaddr_in sin;
    rly_multiaddr addrs[4];

    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&st.tcp);
    cr_assert_eq(rly_keypair_generate(&w.akp), 0);
    cr_assert_eq(rly_keypair_generate(&w.bkp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.akp, &w.apid), 0);
    cr_assert_eq(rly_swarm_new(&w.a, &w.loop, &w.akp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&w.b, &w.loop, &w.bkp, &st, NULL, NULL), 0);
    w.open_swarms = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(w.a, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_quic(w.a, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.a, addrs, 4), 2);
    cr_assert_not(rly_multiaddr_has(&addrs[0], RLY_MA_QUIC_V1), "TCP first");
    cr_assert(rly_multiaddr_has(&addrs[1], RLY_MA_QUIC_V1), "then QUIC");
    cr_assert_eq(rly_swarm_set_advertised_addrs(w.a, addrs, 2, 1), 0);
    rly_multiaddr dial = addrs[1];
    cr_assert_eq(rly_multiaddr_append_p2p(&dial, &w.apid), 0);
    cr_assert_eq(rly_swarm_dial(w.b, &dial, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "pinged %d identified %d", w.pinged, w.identified);
    cr_assert(w.pinged && w.identified);
    cr_assert_str_eq(w.agent, "quic-test");
    cr_assert(strstr(w.observed, "/ip4/127.0.0.1/udp/") && strstr(w.observed, "/quic-v1"),
              "observed %s", w.observed);
    rly_keypair_wipe(&w.akp);
    rly_keypair_wipe(&w.bkp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
