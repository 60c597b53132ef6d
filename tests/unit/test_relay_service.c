/* The relay service in one process on a real loop: RESERVE and CONNECT arriving over a relayed
 * connection are refused with PERMISSION_DENIED (PROTOCOLS.md 8.5). A relayed connection to the
 * relay needs a second relay in real life; here a tunnel (tunnel_util.h) gives a connection whose
 * remote address contains /p2p-circuit, which is exactly what the relay checks. The same run
 * checks a plain RESERVE over TCP is accepted. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "hop_client_util.h"
#include "proto/circuit/hop.h"
#include "relay/relay.h"
#include "swarm/swarm.h"
#include "tunnel_util.h"

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_swarm *rs, *cs; /* relay and client swarms */
    rly_relay *relay;
    rly_keypair rkp, ckp;
    rly_peerid rpid;
    rly_multiaddr relay_addr;
    rly_conn *direct, *relayed;
    int step; /* 0: RESERVE direct, 1: RESERVE relayed, 2: CONNECT relayed */
    uint32_t status[3];
    int open_swarms;
    bool timed_out;
} world;

static world w;

/* ---- the client side: one hop request per step ---------------------------------------- */

static void next_step(void);

static void request_done(void *ud, uint32_t status, uint64_t ms)
{
    w.status[w.step] = status;
    w.step++;
    next_step();
}

static void send_request(rly_conn *c, uint32_t type)
{
    hop_request(w.cs, c, type, &w.rpid, request_done, NULL);
}

static void swarm_closed(void *ud)
{
    if (--w.open_swarms == 0) {
        rly_relay_del(w.relay);
        uv_close((uv_handle_t *)&w.guard, NULL);
    }
}

static void finish(void)
{
    rly_relay_shutdown(w.relay);
    rly_swarm_close(w.cs, swarm_closed, NULL);
    rly_swarm_close(w.rs, swarm_closed, NULL);
}

static void on_relayed(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "relayed upgrade failed: %s", rly_strerror(err));
    cr_assert(rly_peerid_equal(&c->peer, &w.rpid));
    w.relayed = c;
    send_request(c, RLY_CIRCUIT_HOP_RESERVE);
}

static void next_step(void)
{
    if (w.step == 1)
        tunnel_open(w.cs, w.direct, on_relayed, NULL);
    else if (w.step == 2)
        send_request(w.relayed, RLY_CIRCUIT_HOP_CONNECT);
    else if (w.step == 3)
        finish();
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    w.direct = c;
    send_request(c, RLY_CIRCUIT_HOP_RESERVE);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    finish();
}

Test(relay_service, requests_over_a_relayed_connection_are_refused)
{
    rly_swarm_settings st = {.agent_version = "test"};
    rly_relay_settings rset;
    struct sockaddr_in sin;

    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_tcp_settings_default(&st.tcp);
    cr_assert_eq(rly_keypair_generate(&w.rkp), 0);
    cr_assert_eq(rly_keypair_generate(&w.ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.rkp, &w.rpid), 0);
    cr_assert_eq(rly_swarm_new(&w.rs, &w.loop, &w.rkp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&w.cs, &w.loop, &w.ckp, &st, NULL, NULL), 0);
    w.open_swarms = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(w.rs, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.rs, &w.relay_addr, 1), 1);
    cr_assert_eq(rly_swarm_set_advertised_addrs(w.rs, &w.relay_addr, 1, 1), 0);
    rly_relay_settings_default(&rset);
    cr_assert_eq(rly_relay_new(&w.relay, w.rs, &rset, NULL, NULL), 0);
    tunnel_serve(w.rs, &w.relay_addr, &w.rpid);

    rly_multiaddr dial = w.relay_addr;
    cr_assert_eq(rly_multiaddr_append_p2p(&dial, &w.rpid), 0);
    cr_assert_eq(rly_swarm_dial(w.cs, &dial, on_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 10000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stopped at step %d", w.step);
    cr_assert_eq(w.status[0], RLY_CIRCUIT_STATUS_OK, "RESERVE over TCP: %u", w.status[0]);
    cr_assert_eq(w.status[1], RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "RESERVE relayed: %u",
                 w.status[1]);
    cr_assert_eq(w.status[2], RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "CONNECT relayed: %u",
                 w.status[2]);
    rly_keypair_wipe(&w.rkp);
    rly_keypair_wipe(&w.ckp);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
