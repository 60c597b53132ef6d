/* The reservation rule at the relay service, on the in-memory host (relay_host_util.h), issue 12
 * item 5: a peer holds one reservation, held by the connection that reserved last (a refresh over
 * a second connection takes no second slot and moves the STOP stream there), which moves to the
 * peer's newest remaining connection when it closes and ends with the last one; revocation of a
 * connection that does not hold it leaves it; and the per-address reservation count follows the
 * moves ([limits] max_reservations_per_ip). Under the old rule (one reservation per connection,
 * dropped with it) each of these fails. */
#include <criterion/criterion.h>

#include "relay_host_util.h"

/* Connection |i| closes as the swarm reports it: no longer found, then the observer with the
 * number of its peer's connections still open. */
static void sim_conn_gone(int i)
{
    size_t remaining = 0;
    S.conn_open[i] = false;
    for (int j = 0; j < SIM_CONNS; j++)
        remaining += S.conn_open[j] && rly_peerid_equal(&S.conns[j].peer, &S.conns[i].peer);
    rly_relay_conn_closed(S.r, &S.conns[i], remaining);
}

/* Connection |i| closes and a new connection |id| of peer |p| from |remote| takes its slot (ids
 * must grow, as rly_conn_new_id's do). */
static void sim_conn_replace(int i, int p, uint64_t id, const char *remote)
{
    sim_conn_gone(i);
    rly_conn *c = &S.conns[i];
    c->id = id;
    c->peer = S.peers[p];
    cr_assert_eq(rly_multiaddr_parse(&c->remote, remote), 0);
    S.conn_open[i] = true;
    size_t n = 0;
    for (int j = 0; j < SIM_CONNS; j++)
        n += S.conn_open[j] && rly_peerid_equal(&S.conns[j].peer, &c->peer);
    rly_relay_conn_established(S.r, c, n);
}

static rly_relay_settings settings(void)
{
    rly_relay_settings rs;
    rly_relay_settings_default(&rs);
    rs.hop_timeout = 3 * RLY_NS_PER_S;
    rs.stop_timeout = 3 * RLY_NS_PER_S;
    return rs;
}

/* A CONNECT from connection |src| to peer |dst|: the connection the relay opened the STOP stream
 * on, or NULL when it answered without one (|*pstatus| then has the status). */
static rly_conn *connect_target(int src, int dst, uint32_t *pstatus)
{
    size_t opens = S.nopens;
    sim_stream *h = sim_connect(src, dst);
    *pstatus = sim_reply_status(h, RLY_CIRCUIT_HOP_CONNECT);
    if (S.nopens == opens)
        return NULL;
    cr_assert_eq(S.nopens, opens + 1);
    return S.opens[opens].c;
}

static rly_relay_stats stats(void)
{
    rly_relay_stats st;
    rly_relay_stats_get(S.r, &st, NULL);
    return st;
}

/* A refresh over a second connection of the peer is accepted even at max_reservations (it is no
 * new slot), counted as renewed, and CONNECT's STOP stream then goes over that connection. */
Test(relay_reservations, refresh_over_a_second_connection_moves_the_stop_stream)
{
    rly_relay_settings rs = settings();
    rs.limits.max_reservations = 1;
    sim_start(&rs);
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.9/tcp/5000"); /* peer 0's second connection */
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(sim_reserve(3), RLY_CIRCUIT_STATUS_OK, "a refresh, not a second slot");
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    cr_assert_eq(stats().reservations_opened, 1);
    cr_assert_eq(stats().reservations_renewed, 1);
    uint32_t st = 0;
    rly_conn *dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc, "no STOP stream: status %u", st);
    cr_assert_eq(dc->id, 203, "STOP over the connection that reserved last, not %llu",
                 (unsigned long long)dc->id);
    /* And back: a refresh over the first connection moves it again. */
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK);
    dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc);
    cr_assert_eq(dc->id, 100);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    /* Another peer still finds the global cap full. */
    cr_assert_eq(sim_reserve(2), RLY_CIRCUIT_STATUS_RESERVATION_REFUSED);
    sim_check();
    sim_finish();
}

/* The connection that holds the reservation closes while the peer has others: the reservation
 * moves to the newest of them, keeps its expiry, and CONNECT reaches the peer there. When the
 * peer's last connection closes it is dropped. */
Test(relay_reservations, reservation_follows_the_peer_to_its_newest_connection)
{
    rly_relay_settings rs = settings();
    rs.limits.ttl = 100 * RLY_NS_PER_S;
    sim_start(&rs);
    sim_conn_replace(2, 0, 202, "/ip4/10.0.0.8/tcp/5000");
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.9/tcp/5000");
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK); /* held by 100 */
    sim_conn_gone(0);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1, "kept while the peer is connected");
    sim_check();
    uint32_t st = 0;
    rly_conn *dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc, "no STOP stream: status %u", st);
    cr_assert_eq(dc->id, 203, "the newest remaining connection, not %llu",
                 (unsigned long long)dc->id);
    /* The circuit works over it. */
    sim_stream *stop = sim_stream_new(3);
    sim_open *o = &S.opens[S.nopens - 1];
    o->done = true;
    o->cb(o->ud, &stop->base, 0, NULL, 0);
    cr_assert_gt(o->early_len, 0, "the STOP CONNECT went with the proposal");
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 64);
    cr_assert_eq(rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, &b), 0);
    sim_send_buf(stop, &b);
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_relay_num_circuits(S.r), 1);
    sim_close(stop, RLY_ERR_RESET);
    sim_check();
    /* 203 closes: on to 202, the last one. */
    sim_conn_gone(3);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc);
    cr_assert_eq(dc->id, 202);
    /* The expiry did not change with the moves: still 100 s after the RESERVE. */
    sim_advance(99 * RLY_NS_PER_S);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    sim_advance(1 * RLY_NS_PER_S);
    cr_assert_eq(rly_relay_num_reservations(S.r), 0, "expired on time");
    cr_assert_eq(stats().reservations_closed, 1);
    sim_check();
    sim_finish();
}

Test(relay_reservations, dropped_with_the_peers_last_connection)
{
    rly_relay_settings rs = settings();
    sim_start(&rs);
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.9/tcp/5000");
    sim_reserve(3);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    sim_conn_gone(0); /* not the holder: nothing moves */
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    sim_conn_gone(3);
    cr_assert_eq(rly_relay_num_reservations(S.r), 0, "the peer has no connection left");
    cr_assert_eq(stats().reservations_closed, 1);
    uint32_t st = 0;
    cr_assert_null(connect_target(1, 0, &st));
    cr_assert_eq(st, RLY_CIRCUIT_STATUS_NO_RESERVATION);
    sim_check();
    sim_finish();
}

/* Revoking a peer ends its reservation on whichever of its connections holds it, and nobody
 * else's. */
Test(relay_reservations, revocation_takes_the_peers_reservation_wherever_it_is)
{
    rly_relay_settings rs = settings();
    sim_start(&rs);
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.9/tcp/5000");
    cr_assert_eq(sim_reserve(3), RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(sim_reserve(1), RLY_CIRCUIT_STATUS_OK);
    rly_relay_revoke(S.r, &S.conns[1].peer, "token withdrawn");
    cr_assert_eq(rly_relay_num_reservations(S.r), 1, "peer 1's went, peer 0's stays");
    rly_relay_revoke(S.r, &S.conns[0].peer, "token withdrawn");
    cr_assert_eq(rly_relay_num_reservations(S.r), 0, "held on connection 203 of the same peer");
    sim_check();
    sim_finish();
}

/* [limits] max_reservations_per_ip = 1 through moves. A refresh onto a connection of a full
 * address is refused and leaves the reservation where it was; a move on close onto a full
 * address drops it; moves within one address keep exactly one count. */
Test(relay_reservations, per_address_count_follows_the_moves)
{
    rly_limits_settings lim = {.max_reservations_per_ip = 1};
    rly_relay_settings rs = settings();
    rs.ip_limits = &lim;
    sim_start(&rs);
    /* peer 2 on 10.0.0.3 holds that address's one reservation; peer 0 has 100 (10.0.0.1) and
     * 203 (10.0.0.3). */
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.3/tcp/5001");
    cr_assert_eq(sim_reserve(2), RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(sim_reserve(3), RLY_CIRCUIT_STATUS_RESERVATION_REFUSED,
                 "a move onto a full address is a new reservation there");
    uint32_t st = 0;
    rly_conn *dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc, "the refused refresh left the reservation: status %u", st);
    cr_assert_eq(dc->id, 100);
    /* 100 closes: 203's address is full, so the reservation is dropped, not moved. */
    sim_conn_gone(0);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1, "only peer 2's is left");
    cr_assert_null(connect_target(1, 0, &st));
    cr_assert_eq(st, RLY_CIRCUIT_STATUS_NO_RESERVATION);
    sim_check();
    sim_finish();
}

Test(relay_reservations, moves_within_one_address_keep_one_count)
{
    rly_limits_settings lim = {.max_reservations_per_ip = 1};
    rly_relay_settings rs = settings();
    rs.ip_limits = &lim;
    sim_start(&rs);
    /* peer 0: 100 and 203, both from 10.0.0.1; peer 2 (slot 2) from 10.0.0.1 too. */
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.1/tcp/5001");
    sim_conn_replace(2, 2, 202, "/ip4/10.0.0.1/tcp/5002");
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK);
    cr_assert_eq(sim_reserve(3), RLY_CIRCUIT_STATUS_OK, "the same address: no new count");
    cr_assert_eq(sim_reserve(2), RLY_CIRCUIT_STATUS_RESERVATION_REFUSED, "10.0.0.1 is full");
    /* 203 holds it and closes: it moves to 100 (same address, full, but the count moves). */
    sim_conn_gone(3);
    cr_assert_eq(rly_relay_num_reservations(S.r), 1);
    uint32_t st = 0;
    rly_conn *dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc, "status %u", st);
    cr_assert_eq(dc->id, 100);
    cr_assert_eq(sim_reserve(2), RLY_CIRCUIT_STATUS_RESERVATION_REFUSED, "counted once");
    /* The last connection closes: the count goes with the reservation. */
    sim_conn_gone(0);
    cr_assert_eq(rly_relay_num_reservations(S.r), 0);
    cr_assert_eq(sim_reserve(2), RLY_CIRCUIT_STATUS_OK, "10.0.0.1 is free again");
    sim_check();
    sim_finish();
}

/* A move must not get round what a RESERVE checks (red team, issue 12): the reservation moves
 * only to a connection that could reserve now. With reserve_allow_cidrs = 10.0.0.0/30, peer 0
 * reserves from 10.0.0.1 and also has connections from 10.0.0.2 (allowed, older) and 10.0.0.9
 * (refused, newest): the move skips the newest for the allowed one; once only the refused one
 * is left, the reservation is dropped, not moved there. */
Test(relay_reservations, a_move_skips_connections_that_may_not_reserve)
{
    static rly_acl acl;
    memset(&acl, 0, sizeof(acl));
    cr_assert_eq(rly_cidr_parse(&acl.reserve_allow_cidrs.items[0], "10.0.0.0/30", 11), 0);
    acl.reserve_allow_cidrs.n = 1;
    rly_relay_settings rs = settings();
    rs.acl = &acl;
    sim_start(&rs);
    sim_conn_replace(2, 0, 202, "/ip4/10.0.0.2/tcp/5000");
    sim_conn_replace(3, 0, 203, "/ip4/10.0.0.9/tcp/5000");
    cr_assert_eq(sim_reserve(3), RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "10.0.0.9 may not");
    cr_assert_eq(sim_reserve(0), RLY_CIRCUIT_STATUS_OK);
    sim_conn_gone(0);
    uint32_t st = 0;
    rly_conn *dc = connect_target(1, 0, &st);
    cr_assert_not_null(dc, "no STOP stream: status %u", st);
    cr_assert_eq(dc->id, 202, "moved to the allowed connection, not %llu",
                 (unsigned long long)dc->id);
    S.opens[S.nopens - 1].done = true;
    S.opens[S.nopens - 1].cb(S.opens[S.nopens - 1].ud, NULL, RLY_ERR_RESET, NULL, 0);
    sim_conn_gone(2);
    cr_assert_eq(rly_relay_num_reservations(S.r), 0, "not moved onto the refused address");
    cr_assert_null(connect_target(1, 0, &st));
    cr_assert_eq(st, RLY_CIRCUIT_STATUS_NO_RESERVATION);
    sim_check();
    sim_finish();
}
