/* The circuit bridge on mock streams and a virtual clock: straight-through forwarding,
 * backpressure (consume only what the other side accepted), half-close, reset propagation, the
 * per-direction data limit, the duration limit, leftovers, the pending cap, a stream that fails
 * while the bridge starts, and the done report (synchronous: the bridge is gone when it runs). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timerq.h"
#include "relay/bridge.h"

typedef struct mock {
    rly_stream base;
    uint8_t got[1 << 20]; /* bytes written to this stream */
    size_t len;
    size_t room;     /* bytes write() still accepts before RLY_ERR_AGAIN */
    size_t consumed; /* bytes the bridge consumed from this stream */
    bool fin_sent;
    bool reset;
    bool closed;
} mock;

static rly_ssize m_write(rly_stream *s, const uint8_t *data, size_t len)
{
    mock *m = (mock *)s;
    if (m->reset)
        return RLY_ERR_RESET;
    size_t n = len < m->room ? len : m->room;
    if (n == 0 && len > 0)
        return RLY_ERR_AGAIN;
    memcpy(m->got + m->len, data, n);
    m->len += n;
    m->room -= n;
    return (rly_ssize)n;
}

static int m_shutdown(rly_stream *s)
{
    ((mock *)s)->fin_sent = true;
    return 0;
}

/* Like Yamux: a reset calls on_close before it returns. */
static void m_close(mock *m, int err)
{
    if (m->closed)
        return;
    m->closed = true;
    if (m->base.handler && m->base.handler->on_close)
        m->base.handler->on_close(&m->base, m->base.handler_ud, err);
}

static int m_reset(rly_stream *s)
{
    mock *m = (mock *)s;
    m->reset = true;
    m_close(m, RLY_ERR_RESET);
    return 0;
}

static int m_consume(rly_stream *s, size_t n)
{
    ((mock *)s)->consumed += n;
    return 0;
}

static const rly_stream_ops mock_ops = {m_write, m_shutdown, m_reset, m_consume};

static mock *mock_new(size_t room)
{
    mock *m = calloc(1, sizeof(*m));
    m->base.ops = &mock_ops;
    m->room = room;
    return m;
}

static void deliver(mock *m, const char *text)
{
    m->base.handler->on_data(&m->base, m->base.handler_ud, (const uint8_t *)text, strlen(text));
}

typedef struct report {
    int calls;
    rly_bridge_stats st;
    char reason[64];
} report;

static rly_bridge *br;

static void on_done(void *ud, const rly_bridge_stats *st)
{
    report *r = ud;
    br = NULL; /* as the relay does: whatever held the bridge lets go */
    r->calls++;
    r->st = *st;
    snprintf(r->reason, sizeof(r->reason), "%s", st->reason);
}

static rly_timerq timers;
static rly_tstamp vnow;
static mock *src, *dst;
static report rep;

static rly_tstamp virtual_now(void *ud)
{
    return vnow;
}

/* Moves the virtual clock on by |ms| and runs what is due. */
static void advance(uint64_t ms)
{
    vnow += ms * RLY_NS_PER_MS;
    (void)rly_timerq_run(&timers, vnow, 100);
}

static void start(size_t src_room, size_t dst_room, rly_bridge_limits lim, const char *rest)
{
    rly_timerq_clock clock = {.now = virtual_now};
    vnow = 1000 * RLY_NS_PER_S;
    rly_timerq_init(&timers, &clock);
    memset(&rep, 0, sizeof(rep));
    src = mock_new(src_room);
    dst = mock_new(dst_room);
    cr_assert_eq(rly_bridge_start(&br, &timers, &src->base, (const uint8_t *)rest, strlen(rest),
                                  &dst->base, NULL, 0, &lim, on_done, &rep, NULL),
                 0);
}

static void finish(void)
{
    cr_assert_eq(rep.calls, 1, "done reported once");
    cr_assert_null(br);
    cr_assert_eq(rly_timerq_count(&timers), 0, "no timer left armed");
    free(src);
    free(dst);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(bridge, straight_through_and_clean_close)
{
    start(1000, 1000, (rly_bridge_limits){0, 0}, "");
    deliver(src, "hello");
    deliver(dst, "world!");
    cr_assert_eq(dst->len, 5);
    cr_assert_eq(memcmp(dst->got, "hello", 5), 0);
    cr_assert_eq(src->len, 6);
    cr_assert_eq(src->consumed, 5, "consumed from the source once the destination took it");
    cr_assert_eq(dst->consumed, 6);
    src->base.handler->on_fin(&src->base, src->base.handler_ud);
    cr_assert(dst->fin_sent, "half-close is passed on");
    cr_assert_not(src->fin_sent);
    dst->base.handler->on_fin(&dst->base, dst->base.handler_ud);
    cr_assert(src->fin_sent);
    m_close(src, 0);
    cr_assert_eq(rep.calls, 0, "one stream is still open");
    m_close(dst, 0);
    cr_assert_eq(rep.calls, 1);
    cr_assert_eq(rep.st.err, 0);
    cr_assert_str_eq(rep.reason, "closed");
    cr_assert_eq(rep.st.bytes_src_to_dst, 5);
    cr_assert_eq(rep.st.bytes_dst_to_src, 6);
    finish();
}

Test(bridge, backpressure_consumes_only_what_was_forwarded)
{
    start(1000, 4, (rly_bridge_limits){0, 0}, "");
    deliver(src, "0123456789");
    cr_assert_eq(dst->len, 4);
    cr_assert_eq(src->consumed, 4, "the rest waits, unconsumed: the peer's window stays shut");
    src->base.handler->on_fin(&src->base, src->base.handler_ud);
    cr_assert_not(dst->fin_sent, "FIN waits behind pending bytes");
    dst->room = 100;
    dst->base.handler->on_writable(&dst->base, dst->base.handler_ud);
    cr_assert_eq(dst->len, 10);
    cr_assert_eq(memcmp(dst->got, "0123456789", 10), 0);
    cr_assert_eq(src->consumed, 10);
    cr_assert(dst->fin_sent);
    m_reset(&dst->base);
    cr_assert(src->reset, "a reset on one side resets the other");
    cr_assert_eq(rep.calls, 1);
    cr_assert_str_eq(rep.reason, "reset by destination");
    finish();
}

Test(bridge, data_limit_per_direction_resets_both)
{
    start(1000, 1000, (rly_bridge_limits){0, 8}, "");
    deliver(dst, "12345678"); /* exactly the limit the other way: fine */
    deliver(src, "abcdef");
    cr_assert_not(src->reset);
    deliver(src, "ghij");
    cr_assert_eq(dst->len, 8, "forwarded up to the limit, no further");
    cr_assert(src->reset && dst->reset);
    cr_assert_str_eq(rep.reason, "data limit");
    cr_assert_eq(rep.st.err, RLY_ERR_LIMIT);
    cr_assert_eq(rep.st.bytes_src_to_dst, 8);
    cr_assert_eq(rep.st.bytes_dst_to_src, 8);
    finish();
}

Test(bridge, duration_limit)
{
    start(1000, 1000, (rly_bridge_limits){20 * RLY_NS_PER_MS, 0}, "");
    deliver(src, "x");
    advance(19);
    cr_assert_not(src->reset, "not before the limit");
    advance(1); /* the timer fires, resets both, then the report */
    cr_assert(src->reset && dst->reset);
    cr_assert_eq(rep.calls, 1);
    cr_assert_str_eq(rep.reason, "duration limit");
    cr_assert_eq(rep.st.duration, 20 * RLY_NS_PER_MS);
    finish();
}

Test(bridge, leftovers_go_first_and_source_close_aborts)
{
    start(1000, 1000, (rly_bridge_limits){0, 0}, "early:");
    cr_assert_eq(dst->len, 6);
    deliver(src, "late");
    cr_assert_eq(memcmp(dst->got, "early:late", 10), 0);
    cr_assert_eq(src->consumed, 10, "leftovers are consumed once forwarded");
    m_close(src, RLY_ERR_CLOSED);
    cr_assert(dst->reset);
    cr_assert_str_eq(rep.reason, "source connection closed");
    finish();
}

Test(bridge, pending_cap_resets_a_peer_that_overruns)
{
    static uint8_t big[RLY_BRIDGE_PENDING_MAX + 1];
    start(1000, 0, (rly_bridge_limits){0, 0}, "");
    src->base.handler->on_data(&src->base, src->base.handler_ud, big, sizeof(big) - 1);
    cr_assert_not(src->reset, "up to the cap is held");
    src->base.handler->on_data(&src->base, src->base.handler_ud, big, 1);
    cr_assert(src->reset && dst->reset);
    cr_assert_str_eq(rep.reason, "peer overran the flow-control window");
    finish();
}

Test(bridge, abort)
{
    start(1000, 1000, (rly_bridge_limits){0, 0}, "");
    rly_bridge_abort(br, "relay shutting down");
    cr_assert(src->reset && dst->reset);
    cr_assert_str_eq(rep.reason, "relay shutting down");
    finish();
}

/* The destination is already dead when the bridge starts with leftovers for it: the first write
 * fails, both streams go, and the report comes before rly_bridge_start returns (after |*pc| was
 * set, so the caller's done can clear it). */
Test(bridge, a_stream_that_fails_at_start_ends_the_circuit_before_start_returns)
{
    rly_timerq_clock clock = {.now = virtual_now};
    rly_bridge_limits lim = {5 * RLY_NS_PER_S, 0};
    rly_timerq_init(&timers, &clock);
    memset(&rep, 0, sizeof(rep));
    src = mock_new(100);
    dst = mock_new(100);
    dst->reset = true;       /* writes fail with RLY_ERR_RESET */
    br = (rly_bridge *)&rep; /* not NULL: done must clear it */
    cr_assert_eq(rly_bridge_start(&br, &timers, &src->base, (const uint8_t *)"x", 1, &dst->base,
                                  NULL, 0, &lim, on_done, &rep, NULL),
                 0);
    cr_assert_eq(rep.calls, 1);
    cr_assert_str_eq(rep.reason, "write failed");
    cr_assert(src->closed && dst->closed);
    finish();
}
