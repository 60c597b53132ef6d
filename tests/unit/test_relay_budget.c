/* The process's memory budget ([limits] max_memory_mb) in one process on a real loop: while the
 * relay's allocator holds more than its budget, a RESERVE and a CONNECT (on hop streams opened
 * before memory went over) are answered RESOURCE_LIMIT_EXCEEDED, a new TCP connection is closed
 * at accept and a QUIC Initial dropped; each refusal is counted by kind; once memory is back under
 * the budget the same requests and connections succeed. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "hop_client_util.h"
#include "proto/circuit/hop.h"
#include "relay/relay.h"
#include "swarm/swarm.h"

typedef struct world {
    uv_loop_t loop;
    uv_timer_t guard;
    rly_mem rmem; /* the relay's allocator: its budget is the one under test */
    rly_swarm *rs, *cs;
    rly_relay *relay;
    rly_keypair rkp, ckp;
    rly_peerid rpid, cpid;
    rly_multiaddr tcp, quic;
    rly_conn *conn;
    int step;
    uint32_t status[4]; /* RESERVE over, RESERVE under, CONNECT over, CONNECT under */
    int dial_err[4];    /* TCP over, QUIC over, TCP under, QUIC under: 0 = connected */
    int open_swarms;
    bool timed_out;
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
    uv_timer_stop(&w.guard);
    rly_relay_shutdown(w.relay);
    rly_swarm_close(w.cs, swarm_closed, NULL);
    rly_swarm_close(w.rs, swarm_closed, NULL);
}

static void over_budget(void)
{
    rly_mem_set_budget(&w.rmem, w.rmem.live_bytes / 2);
}

static void under_budget(void)
{
    rly_mem_set_budget(&w.rmem, 0);
}

/* A hop request whose stream is negotiated under the budget; for the "over" steps memory goes
 * over just before the request is written (a new hop stream would be reset). */
static void hop_opened_then(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    if (w.step == 0 || w.step == 4)
        over_budget();
    hop_req_opened(ud, s, err, data, len);
}

static void next_step(void);

static void hop_done(void *ud, uint32_t status, uint64_t ms)
{
    w.status[w.step == 0 ? 0 : w.step == 1 ? 1 : w.step == 4 ? 2 : 3] = status;
    under_budget(); /* memory falls back under it */
    w.step++;
    next_step();
}

static void hop_send(uint32_t type)
{
    hop_req *q = calloc(1, sizeof(*q));
    cr_assert_not_null(q);
    rly_circuit_pb_reader_init(&q->reader, NULL);
    q->type = type;
    q->dst = w.cpid; /* CONNECT to ourselves: we hold the reservation */
    q->done = hop_done;
    q->t0 = uv_hrtime();
    cr_assert_eq(rly_swarm_open_stream(w.cs, w.conn, RLY_HOP_PROTOCOL, hop_opened_then, q), 0);
}

static void on_dial(void *ud, rly_conn *c, int err)
{
    int i = (int)(intptr_t)ud;
    w.dial_err[i] = c ? 0 : (err ? err : RLY_ERR_CLOSED);
    if (c && i >= 2)
        rly_conn_close(c, 0, "test done");
    w.step++;
    next_step();
}

static void dial(const rly_multiaddr *ma, int i)
{
    cr_assert_eq(rly_swarm_dial(w.cs, ma, on_dial, (void *)(intptr_t)i), 0);
}

/* 0 RESERVE over, 1 RESERVE under, 2 TCP over, 3 QUIC over (dropped: the handshake times out),
 * 4 CONNECT over, 5 TCP under, 6 QUIC under, 7 CONNECT under, 8 done. */
static void next_step(void)
{
    switch (w.step) {
    case 1: hop_send(RLY_CIRCUIT_HOP_RESERVE); break;
    case 2:
        over_budget();
        dial(&w.tcp, 0);
        break;
    case 3: dial(&w.quic, 1); break;
    case 4:
        under_budget(); /* the hop stream opens; memory goes over before the request */
        hop_send(RLY_CIRCUIT_HOP_CONNECT);
        break;
    case 5:
        under_budget();
        dial(&w.tcp, 2);
        break;
    case 6: dial(&w.quic, 3); break;
    case 7: hop_send(RLY_CIRCUIT_HOP_CONNECT); break;
    default: finish(); break;
    }
}

static void on_first_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    w.conn = c;
    hop_send(RLY_CIRCUIT_HOP_RESERVE);
}

static void on_guard(uv_timer_t *t)
{
    w.timed_out = true;
    finish();
}

Test(relay_budget, over_the_budget_requests_and_connections_are_refused_until_memory_falls)
{
    rly_swarm_settings rst = {.agent_version = "relay"}, cst = {.agent_version = "client"};
    rly_relay_settings rset;
    struct sockaddr_in sin;
    rly_multiaddr addrs[2];

    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    rly_mem_init(&w.rmem);
    rly_tcp_settings_default(&rst.tcp);
    rly_tcp_settings_default(&cst.tcp);
    rly_quic_settings_default(&cst.quic);
    cst.quic.handshake_timeout = 500 * RLY_NS_PER_MS; /* a dropped Initial fails the dial */
    cr_assert_eq(rly_keypair_generate(&w.rkp), 0);
    cr_assert_eq(rly_keypair_generate(&w.ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&w.rkp, &w.rpid), 0);
    cr_assert_eq(rly_keypair_peerid(&w.ckp, &w.cpid), 0);
    cr_assert_eq(rly_swarm_new(&w.rs, &w.loop, &w.rkp, &rst, NULL, &w.rmem), 0);
    cr_assert_eq(rly_swarm_new(&w.cs, &w.loop, &w.ckp, &cst, NULL, NULL), 0);
    w.open_swarms = 2;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(w.rs, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_quic(w.rs, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(w.rs, addrs, 2), 2);
    cr_assert_eq(rly_swarm_set_advertised_addrs(w.rs, addrs, 2, 1), 0);
    rly_relay_settings_default(&rset);
    cr_assert_eq(rly_relay_new(&w.relay, w.rs, &rset, NULL, &w.rmem), 0);
    w.tcp = addrs[0];
    w.quic = addrs[1];
    cr_assert_eq(rly_multiaddr_append_p2p(&w.tcp, &w.rpid), 0);
    cr_assert_eq(rly_multiaddr_append_p2p(&w.quic, &w.rpid), 0);
    cr_assert_eq(rly_swarm_dial(w.cs, &w.tcp, on_first_dial, NULL), 0);
    uv_timer_init(&w.loop, &w.guard);
    uv_timer_start(&w.guard, on_guard, 15000, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");

    cr_assert_not(w.timed_out, "stopped at step %d", w.step);
    cr_assert_eq(w.status[0], RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "RESERVE over: %u",
                 w.status[0]);
    cr_assert_eq(w.status[1], RLY_CIRCUIT_STATUS_OK, "RESERVE under: %u", w.status[1]);
    cr_assert_eq(w.status[2], RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "CONNECT over: %u",
                 w.status[2]);
    cr_assert_neq(w.status[3], RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "CONNECT under: %u",
                  w.status[3]);
    cr_assert_neq(w.dial_err[0], 0, "a TCP connection over the budget is closed");
    cr_assert_neq(w.dial_err[1], 0, "a QUIC Initial over the budget is dropped");
    cr_assert_eq(w.dial_err[2], 0, "TCP under: %s", rly_strerror(w.dial_err[2]));
    cr_assert_eq(w.dial_err[3], 0, "QUIC under: %s", rly_strerror(w.dial_err[3]));
    cr_assert_eq(w.rmem.nrefused[RLY_MEM_WORK_RESERVATION], 1);
    cr_assert_eq(w.rmem.nrefused[RLY_MEM_WORK_CIRCUIT], 1);
    cr_assert_geq(w.rmem.nrefused[RLY_MEM_WORK_CONNECTION], 2, "one TCP, at least one Initial");
    rly_keypair_wipe(&w.rkp);
    rly_keypair_wipe(&w.ckp);
    rly_mem_trim(&w.rmem);
    cr_assert_eq(w.rmem.live_bytes, 0);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
