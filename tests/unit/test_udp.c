/* The batched UDP calls of the QUIC transport (src/transport/quic/udp.h), on loopback: a GSO train
 * arrives as the same datagrams in order whether the receiver got it coalesced (GRO) or not, the
 * one-by-one fallback sends the same, a batch of separate datagrams comes out of one recvmmsg, and
 * binding a taken port is EADDRINUSE. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "core/mem.h"
#include "transport/quic/quic_conn.h"
#include "transport/quic/udp.h"

#define MAX_GOT 256

typedef struct got {
    size_t n;
    size_t len[MAX_GOT];
    uint8_t first[MAX_GOT]; /* each datagram's first byte: which one it is */
    bool bad_content;
    struct sockaddr_storage from;
} got;

static void on_dgram(void *ud, const uint8_t *pkt, size_t len, const struct sockaddr *from)
{
    got *g = ud;
    cr_assert_lt(g->n, MAX_GOT);
    for (size_t i = 1; i < len; i++)
        if (pkt[i] != (uint8_t)(pkt[0] + i))
            g->bad_content = true;
    g->len[g->n] = len;
    g->first[g->n] = pkt[0];
    memcpy(&g->from, from, sizeof(struct sockaddr_in));
    g->n++;
}

static void open_pair(rly_udp_sock *a, rly_udp_sock *b)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(rly_udp_open(a, (struct sockaddr *)&sin), 0);
    cr_assert_eq(rly_udp_open(b, (struct sockaddr *)&sin), 0);
    cr_assert_neq(((struct sockaddr_in *)&b->local)->sin_port, 0, "the bound port is reported");
}

/* Reads from |s| until |want| datagrams are in or 2 s pass. */
static void recv_until(rly_udp_sock *s, rly_udp_rx *rx, got *g, size_t want)
{
    for (int i = 0; i < 200 && g->n < want; i++) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0)
            (void)rly_udp_recv(s, rx, on_dgram, g);
    }
}

/* |n| datagrams of |seg| bytes, the last one |last| bytes; datagram k starts with byte k*16. */
static size_t fill_train(uint8_t *buf, size_t n, size_t seg, size_t last)
{
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len = k + 1 == n ? last : seg;
        for (size_t i = 0; i < len; i++)
            buf[off + i] = (uint8_t)(k * 16 + i);
        off += len;
    }
    return off;
}

static void check_train(const got *g, size_t n, size_t seg, size_t last)
{
    cr_assert_eq(g->n, n, "%zu datagrams arrive (got %zu)", n, g->n);
    cr_assert_not(g->bad_content, "each datagram's bytes are its own");
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(g->len[k], k + 1 == n ? last : seg, "datagram %zu has its own length", k);
        cr_assert_eq(g->first[k], (uint8_t)(k * 16), "datagram %zu arrives in order", k);
    }
}

static void train_case(bool gso)
{
    rly_udp_sock a, b;
    open_pair(&a, &b);
    if (!gso)
        a.has_gso = false;
    rly_udp_rx *rx = rly_malloc(rly_mem_default(), sizeof(*rx));
    static uint8_t buf[RLY_UDP_GSO_MAX_SEGS * RLY_QUIC_MAX_PKT];
    size_t n = RLY_UDP_GSO_MAX_SEGS, seg = RLY_QUIC_MAX_PKT, last = 100;
    size_t len = fill_train(buf, n, seg, last);
    cr_assert_eq(rly_udp_send(&a, (struct sockaddr *)&b.local, buf, len, seg), 0);
    got g = {0};
    recv_until(&b, rx, &g, n);
    check_train(&g, n, seg, last);
    cr_assert_eq(((struct sockaddr_in *)&g.from)->sin_port,
                 ((struct sockaddr_in *)&a.local)->sin_port,
                 "the sender's address comes with each datagram");
    rly_free(rly_mem_default(), rx);
    rly_udp_close(&a);
    rly_udp_close(&b);
    cr_assert_eq(a.fd, -1);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(udp, gso_train_arrives_as_its_datagrams)
{
    train_case(true);
}

Test(udp, fallback_without_gso_sends_the_same)
{
    train_case(false);
}

Test(udp, separate_datagrams_in_one_batch)
{
    rly_udp_sock a, b;
    open_pair(&a, &b);
    rly_udp_rx *rx = rly_malloc(rly_mem_default(), sizeof(*rx));
    uint8_t pkt[64];
    size_t n = RLY_UDP_RX_MSGS + 3; /* more than one recvmmsg takes */
    for (size_t k = 0; k < n; k++) {
        size_t len = 10 + k;
        for (size_t i = 0; i < len; i++)
            pkt[i] = (uint8_t)(k * 16 + i);
        cr_assert_eq(rly_udp_send(&a, (struct sockaddr *)&b.local, pkt, len, 0), 0);
    }
    got g = {0};
    struct pollfd p = {.fd = b.fd, .events = POLLIN};
    cr_assert_gt(poll(&p, 1, 2000), 0);
    cr_assert_eq(rly_udp_recv(&b, rx, on_dgram, &g), RLY_UDP_RX_MSGS,
                 "one call takes a full batch");
    recv_until(&b, rx, &g, n);
    cr_assert_eq(g.n, n);
    cr_assert_not(g.bad_content);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(g.len[k], 10 + k);
    cr_assert_eq(rly_udp_recv(&b, rx, on_dgram, &g), 0, "nothing left: 0, no block");
    rly_free(rly_mem_default(), rx);
    rly_udp_close(&a);
    rly_udp_close(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(udp, taken_port_is_addr_in_use)
{
    rly_udp_sock a, b;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(rly_udp_open(&a, (struct sockaddr *)&sin), 0);
    cr_assert_eq(rly_udp_open(&b, (struct sockaddr *)&a.local), -EADDRINUSE);
    cr_assert_eq(b.fd, -1);
    rly_udp_close(&a);
}
