/* test_client's --send step (examples/test_client/client_steps.c), found by the audit of issue
 * 11 item 1 ("every asynchronous open"). The sink stream's open callback hands the bytes that came
 * with the negotiation to send_on_data and then pumped the data out. A sink that answers more than
 * its 8-byte count in the same read as its protocol echo makes send_on_data reset the stream;
 * send_on_close frees the step's state (and the transport frees the stream) inside that reset, and
 * the pump then read both (heap-use-after-free under ASan). The peer the client dials decides
 * this: here a server whose sink writes 16 bytes at once. The step must fail cleanly. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>
#include <uv.h>

#include "core/mem.h"
#include "swarm/swarm.h"

/* The step code of the example client, as test_client links it. */
#include "../../examples/test_client/client_steps.c"

typedef struct audit_world {
    uv_loop_t loop;
    uv_timer_t guard, stop;
    rly_swarm *ss, *cs;
    rly_keypair skp, ckp;
    rly_peerid spid;
    bool is_finished, timed_out;
    int failures;
} audit_world;

static audit_world aw;
static client cl;

/* ---- what test_client.c provides to client_steps.c ---------------------------------------- */

static void do_stop(uv_timer_t *t)
{
    if (aw.is_finished)
        return;
    aw.is_finished = true;
    uv_timer_stop(&aw.guard);
    rly_swarm_close(aw.cs, NULL, NULL);
    rly_swarm_close(aw.ss, NULL, NULL);
    uv_close((uv_handle_t *)&aw.guard, NULL);
    uv_close((uv_handle_t *)&aw.stop, NULL);
}

void client_finish(client *c, int code)
{
    if (c->exit_code < 0)
        c->exit_code = code;
    if (c->is_finishing)
        return;
    c->is_finishing = true;
    uv_timer_start(&aw.stop, do_stop, 0, 0); /* never from inside a stream callback */
}

void client_fail(client *c, int code, const char *what, int err)
{
    aw.failures++;
    client_finish(c, code);
}

void client_out(const char *fmt, ...)
{
    (void)fmt;
}

const char *client_pid(const rly_peerid *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "?");
    return buf;
}

const char *client_reason(int err, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", err ? rly_strerror(err) : "closed");
    return buf;
}

/* ---- the peer: a sink that answers 16 bytes right after its protocol echo ----------------- */

static void bad_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    (void)rly_stream_consume(s, len);
}

static const rly_stream_handler bad_handler = {.on_data = bad_on_data};

static void on_bad_sink(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    static const uint8_t extra[16] = "0123456789abcdef";
    rly_stream_set_handler(s, &bad_handler, NULL);
    if (len)
        (void)rly_stream_consume(s, len);
    /* Queued behind the multistream echo: both leave in one Yamux frame, one read at the client. */
    cr_assert_eq(rly_stream_write(s, extra, sizeof(extra)), (rly_ssize)sizeof(extra));
}

/* ---- the client ---------------------------------------------------------------------------- */

static void on_dial(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "dial failed: %s", rly_strerror(err));
    client_steps_start(&cl, c); /* --send 1000: opens the sink stream */
}

static void on_guard(uv_timer_t *t)
{
    aw.timed_out = true;
    do_stop(t);
}

Test(audit, send_step_survives_a_sink_that_answers_too_much_with_its_echo)
{
    rly_swarm_settings st = {.agent_version = "test"};
    struct sockaddr_in sin;
    rly_multiaddr addr;

    memset(&aw, 0, sizeof(aw));
    memset(&cl, 0, sizeof(cl));
    cl.exit_code = -1;
    cl.o.has_send = true;
    cl.o.send_bytes = 1000;
    cl.want_send = true;
    uv_loop_init(&aw.loop);
    uv_timer_init(&aw.loop, &aw.guard);
    uv_timer_init(&aw.loop, &aw.stop);
    rly_tcp_settings_default(&st.tcp);
    cr_assert_eq(rly_keypair_generate(&aw.skp), 0);
    cr_assert_eq(rly_keypair_generate(&aw.ckp), 0);
    cr_assert_eq(rly_keypair_peerid(&aw.skp, &aw.spid), 0);
    cr_assert_eq(rly_swarm_new(&aw.ss, &aw.loop, &aw.skp, &st, NULL, NULL), 0);
    cr_assert_eq(rly_swarm_new(&aw.cs, &aw.loop, &aw.ckp, &st, NULL, NULL), 0);
    cl.swarm = aw.cs;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(rly_swarm_listen_tcp(aw.ss, (struct sockaddr *)&sin, NULL), 0);
    cr_assert_eq(rly_swarm_listen_addrs(aw.ss, &addr, 1), 1);
    cr_assert_eq(rly_swarm_add_protocol(aw.ss, CLIENT_SINK_PROTOCOL, on_bad_sink, NULL), 0);
    cr_assert_eq(rly_multiaddr_append_p2p(&addr, &aw.spid), 0);
    cr_assert_eq(rly_swarm_dial(aw.cs, &addr, on_dial, NULL), 0);
    uv_timer_start(&aw.guard, on_guard, 10000, 0);
    uv_run(&aw.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&aw.loop), 0, "no handle left open");

    cr_assert_not(aw.timed_out, "timed out");
    cr_assert_eq(cl.exit_code, EXIT_FAIL, "the send step fails (the sink overran its count)");
    cr_assert_geq(aw.failures, 1);
    rly_keypair_wipe(&aw.skp);
    rly_keypair_wipe(&aw.ckp);
    rly_mem_trim(rly_mem_default());
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
