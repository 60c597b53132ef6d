/* test_ping.c: /ipfs/ping/1.0.0 (src/proto/ping): initiator and responder back to back with every
 * chunking, RTT from the |now| values, bad echoes, back-pressure and both deadlines. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "proto/ping/ping.h"

#define MS RLY_NS_PER_MS

static void payload(uint8_t *p, uint8_t seed)
{
    for (int i = 0; i < RLY_PING_SIZE; i++)
        p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* move sends up to |chunk| bytes from |from| to |to| at |now|; returns the bytes moved. */
static size_t move(rly_ping *from, rly_ping *to, size_t chunk, rly_tstamp now)
{
    uint8_t buf[64];
    rly_ssize n = rly_ping_send(from, buf, chunk < sizeof(buf) ? chunk : sizeof(buf), now);
    cr_assert(n >= 0);
    size_t off = 0;
    while (off < (size_t)n) {
        rly_ssize c = rly_ping_recv(to, buf + off, (size_t)n - off, now);
        cr_assert(c > 0, "recv gave %td", c);
        off += (size_t)c;
        if (off < (size_t)n) {
            /* Back-pressure: the responder needs its echo sent first; loop it back. */
            uint8_t echo[RLY_PING_SIZE];
            cr_assert_eq(rly_ping_send(to, echo, sizeof(echo), now), RLY_PING_SIZE);
            cr_assert_eq(rly_ping_recv(from, echo, sizeof(echo), now), RLY_PING_SIZE);
        }
    }
    return (size_t)n;
}

Test(ping, round_trip_every_chunking)
{
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        rly_ping ini, rsp;
        uint8_t p[RLY_PING_SIZE];
        rly_tstamp rtt = 0;
        rly_ping_init(&ini, true, NULL, 0);
        rly_ping_init(&rsp, false, NULL, 0);
        for (uint8_t round = 0; round < 3; round++) {
            rly_tstamp t0 = 1000 * MS * (round + 1);
            payload(p, round);
            cr_assert_eq(rly_ping_start(&ini, p, t0), 0);
            cr_assert_eq(rly_ping_start(&ini, p, t0), RLY_ERR_INVALID_STATE);
            cr_assert_eq(rly_ping_get_expiry(&ini), t0 + RLY_PING_ECHO_TIMEOUT);
            while (rly_ping_want_write(&ini))
                (void)move(&ini, &rsp, chunk, t0 + 5 * MS);
            cr_assert_eq(rly_ping_get_state(&ini), RLY_PING_WAITING);
            while (rly_ping_want_write(&rsp))
                (void)move(&rsp, &ini, chunk, t0 + 12 * MS);
            cr_assert_eq(rly_ping_get_state(&ini), RLY_PING_IDLE, "chunk %zu", chunk);
            /* Timed from the write of the last payload byte to the last echo byte. */
            cr_assert(rly_ping_take_rtt(&ini, &rtt));
            cr_assert_eq(rtt, 7 * MS);
            cr_assert(!rly_ping_take_rtt(&ini, &rtt));
            cr_assert_eq(rly_ping_get_expiry(&ini), RLY_TSTAMP_MAX);
            cr_assert_eq(rly_ping_get_expiry(&rsp), t0 + 5 * MS + RLY_PING_IDLE_TIMEOUT);
        }
    }
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(ping, responder_buffers_partial_and_applies_backpressure)
{
    uint8_t in[3 * RLY_PING_SIZE + 5], out[4 * RLY_PING_SIZE];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)i;
    rly_ping r;
    rly_ping_init(&r, false, NULL, 0);
    /* 31 bytes: nothing to echo yet. */
    cr_assert_eq(rly_ping_recv(&r, in, 31, 0), 31);
    cr_assert(!rly_ping_want_write(&r));
    /* The rest at once: one block echoes, a second is held, then it stops consuming. */
    rly_ssize c = rly_ping_recv(&r, in + 31, sizeof(in) - 31, 0);
    cr_assert_eq(c, 2 * RLY_PING_SIZE - 31);
    size_t off = 31 + (size_t)c, got = 0;
    while (rly_ping_want_write(&r) || off < sizeof(in)) {
        rly_ssize n = rly_ping_send(&r, out + got, 10, 0);
        cr_assert(n >= 0);
        got += (size_t)n;
        c = rly_ping_recv(&r, in + off, sizeof(in) - off, 0);
        cr_assert(c >= 0);
        off += (size_t)c;
        if (n == 0 && c == 0)
            break;
    }
    /* Three complete blocks echoed verbatim; 5 bytes wait for the rest of the fourth. */
    cr_assert_eq(got, 3 * RLY_PING_SIZE);
    cr_assert_arr_eq(out, in, got);
    cr_assert_eq(off, sizeof(in));
    cr_assert_eq(rly_ping_get_state(&r), RLY_PING_IDLE);
}

Test(ping, bad_echo)
{
    uint8_t p[RLY_PING_SIZE], buf[RLY_PING_SIZE];
    rly_ping ini;
    payload(p, 9);
    rly_ping_init(&ini, true, NULL, 0);
    cr_assert_eq(rly_ping_start(&ini, p, 0), 0);
    cr_assert_eq(rly_ping_send(&ini, buf, sizeof(buf), 1), RLY_PING_SIZE);
    cr_assert_arr_eq(buf, p, RLY_PING_SIZE);
    cr_assert_eq(rly_ping_recv(&ini, p, 10, 2), 10);
    buf[10] ^= 1;
    cr_assert_eq(rly_ping_recv(&ini, buf + 10, 22, 3), RLY_ERR_PROTO);
    cr_assert_eq(rly_ping_get_state(&ini), RLY_PING_FAILED);
    cr_assert_eq(rly_ping_recv(&ini, p, 1, 4), RLY_ERR_PROTO);
    cr_assert_eq(rly_ping_send(&ini, buf, sizeof(buf), 4), RLY_ERR_PROTO);
    cr_assert_eq(rly_ping_start(&ini, p, 5), RLY_ERR_INVALID_STATE);
}

Test(ping, unexpected_bytes)
{
    uint8_t p[RLY_PING_SIZE + 1] = {0}, buf[RLY_PING_SIZE];
    rly_ping ini;
    /* Nothing outstanding. */
    rly_ping_init(&ini, true, NULL, 0);
    cr_assert_eq(rly_ping_recv(&ini, p, 0, 0), 0);
    cr_assert_eq(rly_ping_recv(&ini, p, 1, 0), RLY_ERR_UNEXPECTED_MSG);
    /* The payload is not all out yet: no echo can exist. */
    rly_ping_init(&ini, true, NULL, 0);
    cr_assert_eq(rly_ping_start(&ini, p, 0), 0);
    cr_assert_eq(rly_ping_send(&ini, buf, 31, 0), 31);
    cr_assert_eq(rly_ping_recv(&ini, p, 1, 0), RLY_ERR_UNEXPECTED_MSG);
    /* More than the echo. */
    rly_ping_init(&ini, true, NULL, 0);
    cr_assert_eq(rly_ping_start(&ini, p, 0), 0);
    cr_assert_eq(rly_ping_send(&ini, buf, sizeof(buf), 0), RLY_PING_SIZE);
    cr_assert_eq(rly_ping_recv(&ini, p, sizeof(p), 0), RLY_ERR_UNEXPECTED_MSG);
    /* A responder cannot start pings. */
    rly_ping_init(&ini, false, NULL, 0);
    cr_assert_eq(rly_ping_start(&ini, p, 0), RLY_ERR_INVALID_STATE);
}

Test(ping, deadlines)
{
    rly_ping_settings s = {.echo_timeout = 100, .idle_timeout = 1000};
    uint8_t p[RLY_PING_SIZE] = {1}, buf[RLY_PING_SIZE];
    rly_ping ini, rsp;
    rly_ping_init(&ini, true, &s, 50);
    cr_assert_eq(rly_ping_get_expiry(&ini), RLY_TSTAMP_MAX);
    cr_assert_eq(rly_ping_handle_expiry(&ini, UINT64_MAX - 1), 0);
    cr_assert_eq(rly_ping_start(&ini, p, 200), 0);
    cr_assert_eq(rly_ping_get_expiry(&ini), 300);
    cr_assert_eq(rly_ping_handle_expiry(&ini, 299), 0);
    cr_assert_eq(rly_ping_handle_expiry(&ini, 300), RLY_ERR_TIMEOUT);
    cr_assert_eq(rly_ping_get_state(&ini), RLY_PING_FAILED);
    cr_assert_eq(rly_ping_get_expiry(&ini), RLY_TSTAMP_MAX);

    rly_ping_init(&rsp, false, &s, 50);
    cr_assert_eq(rly_ping_get_expiry(&rsp), 1050);
    cr_assert_eq(rly_ping_recv(&rsp, p, 20, 900), 20); /* a partial ping does not count */
    cr_assert_eq(rly_ping_get_expiry(&rsp), 1050);
    cr_assert_eq(rly_ping_recv(&rsp, p, 12, 1000), 12);
    cr_assert_eq(rly_ping_get_expiry(&rsp), 2000);
    cr_assert_eq(rly_ping_send(&rsp, buf, sizeof(buf), 1001), RLY_PING_SIZE);
    cr_assert_eq(rly_ping_handle_expiry(&rsp, 2000), RLY_ERR_TIMEOUT);
    cr_assert(!rly_ping_want_write(&rsp));

    /* A huge timeout saturates instead of wrapping. */
    s.idle_timeout = RLY_TSTAMP_MAX;
    rly_ping_init(&rsp, false, &s, 5);
    cr_assert_eq(rly_ping_get_expiry(&rsp), RLY_TSTAMP_MAX);

    rly_ping_settings d;
    rly_ping_settings_default(&d);
    cr_assert_eq(d.echo_timeout, 20 * RLY_NS_PER_S);
    cr_assert_geq(d.idle_timeout, 20 * RLY_NS_PER_S);
}
