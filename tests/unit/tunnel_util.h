/* tunnel_util.h: a relayed connection in one process, shared by test_relay_service.c and
 * test_relayed_conn.c. A relayed connection needs a relay in real life; here a test protocol on
 * the server's swarm (TUNNEL_PROTOCOL) turns a stream into a connection whose remote address ends
 * in /p2p-circuit, as the stop side of a circuit does, and the client upgrades its end of the
 * stream the same way. One tunnel set-up at a time (static state). Header-only; include after
 * <criterion/criterion.h>. */
#ifndef RLY_TEST_TUNNEL_UTIL_H
#define RLY_TEST_TUNNEL_UTIL_H

#include <string.h>

#include "swarm/swarm.h"

#define TUNNEL_PROTOCOL "/test/tunnel/1.0.0"

typedef struct tunnel {
    rly_multiaddr circuit_addr; /* the remote address both ends of the tunnel get */
    rly_peerid server;          /* what the client's end authenticates */
    rly_swarm *client;
    rly_swarm_dial_cb on_client_conn;
    void *ud;
} tunnel;

static tunnel tun;

static void tunnel_server_upgraded(void *ud, rly_conn *c, int err)
{
    cr_assert_not_null(c, "server-side tunnel upgrade failed: %s", rly_strerror(err));
}

static void tunnel_on_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data,
                             size_t len)
{
    cr_assert_eq(rly_swarm_upgrade_stream(sw, s, RLY_CONN_INBOUND, NULL, &tun.circuit_addr, data,
                                          len, tunnel_server_upgraded, NULL),
                 0);
}

/* tunnel_serve makes |server| (listening on |addr|, with identity |server_id|) accept tunnels,
 * and sets the circuit address both ends will carry: addr/p2p/<server_id>/p2p-circuit. */
static inline void tunnel_serve(rly_swarm *server, const rly_multiaddr *addr,
                                const rly_peerid *server_id)
{
    char text[RLY_MULTIADDR_STR_MAX];
    memset(&tun, 0, sizeof(tun));
    tun.server = *server_id;
    cr_assert_gt(rly_multiaddr_to_string(addr, text, sizeof(text)), 0);
    cr_assert_eq(rly_multiaddr_parse(&tun.circuit_addr, text), 0);
    cr_assert_eq(rly_multiaddr_append_p2p(&tun.circuit_addr, server_id), 0);
    cr_assert_eq(rly_multiaddr_append_component(&tun.circuit_addr, RLY_MA_P2P_CIRCUIT, NULL, 0), 0);
    cr_assert_eq(rly_swarm_add_protocol(server, TUNNEL_PROTOCOL, tunnel_on_stream, NULL), 0);
}

static void tunnel_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    cr_assert_not_null(s, "tunnel refused: %s", rly_strerror(err));
    cr_assert_eq(rly_swarm_upgrade_stream(tun.client, s, RLY_CONN_OUTBOUND, &tun.server,
                                          &tun.circuit_addr, data, len, tun.on_client_conn, tun.ud),
                 0);
}

/* tunnel_open opens a tunnel from |client| over its direct connection |c| to the server; |cb|
 * gets the client's relayed connection. */
static inline void tunnel_open(rly_swarm *client, rly_conn *c, rly_swarm_dial_cb cb, void *ud)
{
    tun.client = client;
    tun.on_client_conn = cb;
    tun.ud = ud;
    cr_assert_eq(rly_swarm_open_stream(client, c, TUNNEL_PROTOCOL, tunnel_opened, NULL), 0);
}

#endif
