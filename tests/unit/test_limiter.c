/* test_limiter.c: per-address caps and token-bucket rates (src/relay/limiter.h): connection
 * counts per address with IPv6 grouped by /56, reservations per address with renewals and
 * releases, reservations that move between a peer's connections (a refresh over another
 * connection, the holding connection closing) keeping the counts exact, rates refilling with time
 * (a burst of N, then N per minute), exempt addresses, and all memory returned. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "core/mem.h"
#include "crypto/keys.h"
#include "relay/limiter.h"
#include "addr_util.h"

#define SA(x) ((struct sockaddr *)&(x))

static rly_peerid new_peer(void)
{
    rly_keypair k;
    rly_peerid p;
    cr_assert_eq(rly_keypair_generate(&k), 0);
    cr_assert_eq(rly_keypair_peerid(&k, &p), 0);
    rly_keypair_wipe(&k);
    return p;
}

Test(limiter, connections_per_address_ipv6_by_56)
{
    rly_limits_settings s = {.max_connections_per_ip = 2};
    rly_limiter *l;
    cr_assert_eq(rly_limiter_new(&l, &s, rly_mem_default()), 0);
    struct sockaddr_storage a = test_sockaddr("2001:db8:0:ff01::1"),
                            b = test_sockaddr("2001:db8:0:ff02::2"),
                            c = test_sockaddr("2001:db8:0:fe00::3"),
                            v4 = test_sockaddr("198.51.100.7");
    cr_assert_eq(rly_limiter_conn_open(l, 1, SA(a)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 2, SA(b)), 0, "same /56");
    cr_assert_eq(rly_limiter_conn_open(l, 3, SA(b)), RLY_ERR_LIMIT, "a third from the /56");
    cr_assert_eq(rly_limiter_conn_open(l, 4, SA(c)), 0, "another /56");
    cr_assert_eq(rly_limiter_conn_open(l, 5, SA(v4)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 6, NULL), 0, "no address: not counted");
    rly_limiter_conn_close(l, 3); /* never counted: nothing happens */
    rly_limiter_conn_close(l, 1);
    cr_assert_eq(rly_limiter_conn_open(l, 7, SA(a)), 0, "a slot freed");
    rly_limiter_stats st;
    rly_limiter_stats_get(l, &st);
    cr_assert_eq(st.connections_per_ip, 1);
    rly_limiter_del(l); /* frees what is still counted */
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(limiter, reservations_per_address)
{
    rly_limits_settings s = {.max_reservations_per_ip = 1};
    rly_limiter *l;
    const char *why = NULL;
    rly_peerid p = new_peer(), q = new_peer();
    cr_assert_eq(rly_limiter_new(&l, &s, rly_mem_default()), 0);
    struct sockaddr_storage a = test_sockaddr("203.0.113.9");
    cr_assert_eq(rly_limiter_conn_open(l, 1, SA(a)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 2, SA(a)), 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), 0, &why), 0);
    rly_limiter_reservation_added(l, 1, 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), 0, &why), 0, "a renewal passes");
    rly_limiter_reservation_added(l, 1, 0); /* counted once */
    cr_assert_eq(rly_limiter_reserve(l, &q, 2, 0, SA(a), 0, &why), RLY_ERR_RESERVATION_REFUSED);
    cr_assert(strstr(why, "max_reservations_per_ip"), "%s", why);
    rly_limiter_reservation_ended(l, 1);
    cr_assert_eq(rly_limiter_reserve(l, &q, 2, 0, SA(a), 0, &why), 0, "the expired one freed it");
    rly_limiter_reservation_added(l, 2, 0);
    rly_limiter_conn_close(l, 2); /* takes its reservation along */
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), 0, &why), 0);
    rly_limiter_conn_close(l, 1);
    rly_limiter_del(l);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

/* A peer's one reservation moves between its connections (relay/reservation.h): the count of
 * its address goes with it, a move within one address is never refused, a move onto another
 * address is checked as a new reservation there. */
Test(limiter, reservations_move_with_their_count)
{
    rly_limits_settings s = {.max_reservations_per_ip = 1};
    rly_limiter *l;
    const char *why = NULL;
    rly_peerid p = new_peer(), q = new_peer(), x = new_peer();
    cr_assert_eq(rly_limiter_new(&l, &s, rly_mem_default()), 0);
    struct sockaddr_storage a = test_sockaddr("203.0.113.9"), b = test_sockaddr("198.51.100.1");
    cr_assert_eq(rly_limiter_conn_open(l, 1, SA(a)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 2, SA(a)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 3, SA(b)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 4, SA(b)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 5, SA(a)), 0);
    cr_assert_eq(rly_limiter_conn_open(l, 6, NULL), 0); /* not counted */

    /* p reserves over 1, then refreshes over 2: the same address, at its cap, passes. */
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), 0, &why), 0);
    rly_limiter_reservation_added(l, 1, 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 2, 1, SA(a), 0, &why), 0, "moves within the address");
    rly_limiter_reservation_added(l, 2, 1);
    cr_assert_eq(rly_limiter_reserve(l, &x, 5, 0, SA(a), 0, &why), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 2, SA(a), 0, &why), 0, "and back");
    rly_limiter_reservation_added(l, 1, 2);
    rly_limiter_reservation_ended(l, 2); /* 2 no longer holds it: nothing */
    cr_assert_eq(rly_limiter_reserve(l, &x, 5, 0, SA(a), 0, &why), RLY_ERR_RESERVATION_REFUSED,
                 "still counted once, on 1");
    cr_assert_eq(rly_limiter_reserve(l, &p, 2, 1, SA(a), 0, &why), 0);
    rly_limiter_reservation_added(l, 2, 1);

    /* q holds b's one reservation: p's refresh over 4 (address b) is a new one there, refused,
     * and p's count stays on a. */
    cr_assert_eq(rly_limiter_reserve(l, &q, 3, 0, SA(b), 0, &why), 0);
    rly_limiter_reservation_added(l, 3, 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 4, 2, SA(b), 0, &why), RLY_ERR_RESERVATION_REFUSED);
    cr_assert(strstr(why, "max_reservations_per_ip"), "%s", why);
    cr_assert_eq(rly_limiter_reserve(l, &x, 5, 0, SA(a), 0, &why), RLY_ERR_RESERVATION_REFUSED);

    /* 2 closes and p's reservation would move to 4: b is full, so it may not. */
    cr_assert_eq(rly_limiter_reservation_move(l, 2, 4), RLY_ERR_RESERVATION_REFUSED);
    cr_assert_eq(rly_limiter_reserve(l, &x, 5, 0, SA(a), 0, &why), RLY_ERR_RESERVATION_REFUSED,
                 "a refused move changes nothing");
    /* Once q's ends, it may: a's count goes, b's comes. */
    rly_limiter_reservation_ended(l, 3);
    cr_assert_eq(rly_limiter_reservation_move(l, 2, 4), 0);
    rly_limiter_conn_close(l, 2);
    cr_assert_eq(rly_limiter_reserve(l, &q, 3, 0, SA(b), 0, &why), RLY_ERR_RESERVATION_REFUSED,
                 "b holds p's now");
    cr_assert_eq(rly_limiter_reserve(l, &x, 5, 0, SA(a), 0, &why), 0, "a is free");

    /* A move within b, at its cap, passes; closing the old holder then counts nothing. */
    cr_assert_eq(rly_limiter_reservation_move(l, 4, 3), 0);
    rly_limiter_conn_close(l, 4);
    cr_assert_eq(rly_limiter_conn_open(l, 7, SA(b)), 0);
    cr_assert_eq(rly_limiter_reserve(l, &x, 7, 0, SA(b), 0, &why), RLY_ERR_RESERVATION_REFUSED,
                 "counted once, on 3");
    /* A move to an uncounted connection ends the count. */
    cr_assert_eq(rly_limiter_reservation_move(l, 3, 6), 0);
    cr_assert_eq(rly_limiter_reserve(l, &x, 7, 0, SA(b), 0, &why), 0);

    rly_limiter_stats st;
    rly_limiter_stats_get(l, &st);
    cr_assert_eq(st.reservations_per_ip, 8);
    rly_limiter_del(l);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(limiter, rates_refill_and_exemptions)
{
    rly_limits_settings s = {.reservation_rate_per_peer = 3, .circuit_rate_per_ip = 60};
    cr_assert_eq(rly_cidr_parse(&s.exempt.items[s.exempt.n++], "10.0.0.0/8", 10), 0);
    rly_limiter *l;
    const char *why = NULL;
    rly_peerid p = new_peer(), q = new_peer();
    cr_assert_eq(rly_limiter_new(&l, &s, rly_mem_default()), 0);
    struct sockaddr_storage a = test_sockaddr("192.0.2.1"), ex = test_sockaddr("10.9.9.9");
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t, &why), 0, "burst %d", i);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t, &why), RLY_ERR_LIMIT);
    cr_assert(strstr(why, "reservation_rate_per_peer"), "%s", why);
    cr_assert_eq(rly_limiter_reserve(l, &q, 1, 0, SA(a), t, &why), 0, "another peer's bucket");
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 19000, &why), RLY_ERR_LIMIT,
                 "3 per minute: one token after 20 s");
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 20000, &why), 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 10 * 60000, &why), 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 10 * 60000, &why), 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 10 * 60000, &why), 0);
    cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(a), t + 10 * 60000, &why), RLY_ERR_LIMIT,
                 "a long pause refills the burst, not more");
    for (int i = 0; i < 10; i++)
        cr_assert_eq(rly_limiter_reserve(l, &p, 1, 0, SA(ex), t, &why), 0, "exempt");
    for (int i = 0; i < 60; i++)
        cr_assert_eq(rly_limiter_connect(l, &p, SA(a), t, &why), 0);
    cr_assert_eq(rly_limiter_connect(l, &q, SA(a), t, &why), RLY_ERR_LIMIT, "per address");
    cr_assert(strstr(why, "circuit_rate_per_ip"), "%s", why);
    cr_assert_eq(rly_limiter_connect(l, &q, SA(ex), t, &why), 0);
    rly_limiter_stats st;
    rly_limiter_stats_get(l, &st);
    cr_assert_eq(st.reservation_rate_peer, 3);
    cr_assert_eq(st.circuit_rate_ip, 1);
    rly_limiter_del(l);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
