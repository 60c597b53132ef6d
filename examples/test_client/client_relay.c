/* client_relay.c: the client side of Circuit Relay v2 (PROTOCOLS.md 8.3, 8.4): the connection
 * to the relay, RESERVE with the voucher check and the refresh at 3/4 of the remaining time,
 * CONNECT to a peer, and the STOP handler that accepts incoming circuits. A circuit's stream is
 * then upgraded (Noise + Yamux end to end) into a relayed connection of its own. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "crypto/envelope.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"

/* Retry delay after a failed refresh, at least. */
#define REFRESH_RETRY_MS 1000

typedef struct hop_req {
    client *c;
    rly_stream *s; /* NULL once handed over or closed */
    uint32_t type; /* RLY_CIRCUIT_HOP_RESERVE or _CONNECT */
    rly_circuit_pb_reader reader;
    bool is_done; /* the reply was handled */
} hop_req;

static void hop_free(hop_req *h)
{
    rly_circuit_pb_reader_free(&h->reader);
    rly_free(rly_mem_default(), h);
}

/* Our connection to the relay ends: listening is over; a dial fails unless it is done. */
void client_relay_conn_closed(client *c, rly_conn *conn, int err, const char *cause)
{
    char why[64];
    c->relay_conn = NULL;
    if (c->is_swarm_closing)
        return;
    client_out("relay connection closed reason=%s", client_reason(err, why, sizeof(why)));
    client_fail(c, EXIT_FAIL, "lost the connection to the relay", 0);
}

void client_relay_stop(client *c)
{
    uv_timer_stop(&c->refresh);
}

/* "<relay addr>/p2p/<relay>/p2p-circuit[/p2p/<peer>]" */
static int circuit_addr(const client *c, const rly_peerid *peer, rly_multiaddr *out)
{
    *out = c->relay_ma;
    int rv = rly_multiaddr_append_p2p(out, &c->relay_id);
    if (rv == 0)
        rv = rly_multiaddr_append_component(out, RLY_MA_P2P_CIRCUIT, NULL, 0);
    if (rv == 0 && peer)
        rv = rly_multiaddr_append_p2p(out, peer);
    return rv;
}

static void print_limit(char *buf, size_t cap, const rly_circuit_hop_msg *m)
{
    snprintf(buf, cap, "limit_duration=%" PRIu32 " limit_data=%" PRIu64,
             m->has_limit ? m->limit.duration : 0, m->has_limit ? m->limit.data : 0);
}

/* ---- RESERVE ------------------------------------------------------------------------------ */

static int hop_open(client *c, uint32_t type);

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds until |frac_num|/|frac_den| of the reservation's remaining time has passed. */
static uint64_t ms_until(const client *c, uint64_t frac_num, uint64_t frac_den)
{
    uint64_t now = unix_ms(), end = c->reserve_expire * 1000;
    return end > now ? (end - now) * frac_num / frac_den : 0;
}

static void on_refresh_timer(uv_timer_t *t)
{
    client *c = t->data;
    if (c->is_finishing)
        return;
    if (c->o.no_refresh) {
        client_out("reservation expired expire=%" PRIu64 " (not refreshed)", c->reserve_expire);
        return;
    }
    c->is_refreshing = true;
    int rv = hop_open(c, RLY_CIRCUIT_HOP_RESERVE);
    if (rv != 0) {
        client_out("reservation refresh failed error=%s", rly_strerror(rv));
        uv_timer_start(&c->refresh, on_refresh_timer, REFRESH_RETRY_MS, 0);
    }
}

/* The next RESERVE at 3/4 of the remaining time (rust's cadence); with --no-refresh only a line
 * when it expires. */
static void schedule_refresh(client *c)
{
    uint64_t ms = c->o.no_refresh ? ms_until(c, 1, 1) : ms_until(c, 3, 4);
    uv_timer_start(&c->refresh, on_refresh_timer, ms, 0);
}

static void refresh_failed(client *c, const char *what, const char *detail)
{
    uint64_t ms = ms_until(c, 3, 4);
    client_out("reservation refresh failed %s=%s", what, detail);
    uv_timer_start(&c->refresh, on_refresh_timer, ms < REFRESH_RETRY_MS ? REFRESH_RETRY_MS : ms, 0);
}

/* "valid", "absent" or "INVALID": signed by the relay, for us (go clients fail a bad one). */
static const char *voucher_state(const client *c, const rly_circuit_reservation *r)
{
    rly_voucher v;
    if (r->voucher.len == 0)
        return "absent";
    if (rly_voucher_open(&v, r->voucher.p, r->voucher.len, NULL) != 0 ||
        !rly_peerid_equal(&v.relay, &c->relay_id) || !rly_peerid_equal(&v.peer, &c->self))
        return "INVALID";
    return "valid";
}

static void addrs_text(const rly_circuit_reservation *r, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->naddrs && used < cap; i++) {
        rly_multiaddr ma;
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_from_bytes(&ma, r->addrs[i].p, r->addrs[i].len) != 0 ||
            rly_multiaddr_to_string(&ma, text, sizeof(text)) < 0)
            snprintf(text, sizeof(text), "?");
        int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", text);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* First reservation: print our circuit address and announce it in identify. */
static void announce_listening(client *c)
{
    rly_multiaddr full, adv;
    char text[RLY_MULTIADDR_STR_MAX];
    if (circuit_addr(c, &c->self, &full) != 0 || circuit_addr(c, NULL, &adv) != 0 ||
        rly_multiaddr_to_string(&full, text, sizeof(text)) < 0)
        return;
    client_out("listening on %s", text);
    RLY_IGNORE(rly_swarm_set_advertised_addrs(c->swarm, &adv, 1, unix_ms()));
}

static void reserve_refused(client *c, const rly_circuit_hop_msg *m, int err)
{
    bool has_status = m->has_status && m->status != RLY_CIRCUIT_STATUS_OK;
    const char *status = rly_circuit_pb_status_name(m->status);
    if (c->is_refreshing) {
        refresh_failed(c, has_status ? "status" : "error", has_status ? status : rly_strerror(err));
        return;
    }
    if (has_status) {
        client_out("reservation refused status=%s", status);
        client_finish(c, EXIT_REFUSED);
    } else {
        client_fail(c, EXIT_FAIL, "bad reservation reply", err);
    }
}

static void reserve_reply(client *c, const uint8_t *msg, size_t len)
{
    rly_circuit_hop_msg m;
    char addrs[2048], limit[96];
    int rv = rly_hop_parse_reply(&m, RLY_CIRCUIT_HOP_RESERVE, msg, len);
    if (rv != 0) {
        reserve_refused(c, &m, rv);
        return;
    }
    bool first = c->reserve_expire == 0;
    const char *voucher = voucher_state(c, &m.reservation);
    c->reserve_expire = m.reservation.expire;
    addrs_text(&m.reservation, addrs, sizeof(addrs));
    print_limit(limit, sizeof(limit), &m);
    client_out("reservation %s expire=%" PRIu64 " addrs=%s voucher=%s %s",
               first ? "accepted" : "refreshed", m.reservation.expire, addrs, voucher, limit);
    c->is_refreshing = false;
    if (strcmp(voucher, "INVALID") == 0) {
        client_fail(c, EXIT_FAIL, "the reservation voucher is invalid", 0);
        return;
    }
    if (first)
        announce_listening(c);
    if (c->o.reserve_only)
        client_finish(c, EXIT_OK);
    else
        schedule_refresh(c);
}

/* ---- CONNECT ------------------------------------------------------------------------------ */

static void on_relayed(void *ud, rly_conn *conn, int err)
{
    client *c = ud;
    char pid[RLY_PEERID_STR_MAX];
    if (!conn) {
        if (c->mode == MODE_LISTEN)
            client_out("relayed connection failed error=%s", rly_strerror(err));
        else
            client_fail(c, EXIT_FAIL, "relayed connection failed", err);
        return;
    }
    client_out("relayed connection established peer_id=%s",
               client_pid(&conn->peer, pid, sizeof(pid)));
    if (c->mode == MODE_DIAL_RELAY)
        client_steps_start(c, conn);
}

/* The relay's answer to our CONNECT. Accepted: the hop stream becomes the relayed connection
 * (we dial: Noise initiator, Yamux client) and |h| is freed, returning true (the stream is not
 * ours any more). Otherwise false. */
static bool connect_reply(hop_req *h, const uint8_t *msg, size_t len, const uint8_t *rest,
                          size_t restlen)
{
    client *c = h->c;
    rly_circuit_hop_msg m;
    rly_multiaddr remote;
    char pid[RLY_PEERID_STR_MAX], limit[96];
    int rv = rly_hop_parse_reply(&m, RLY_CIRCUIT_HOP_CONNECT, msg, len);
    client_pid(&c->target, pid, sizeof(pid));
    if (rv != 0 && m.has_status && m.status != RLY_CIRCUIT_STATUS_OK) {
        client_out("circuit refused status=%s", rly_circuit_pb_status_name(m.status));
        client_finish(c, EXIT_REFUSED);
        return false;
    }
    if (rv == 0)
        rv = circuit_addr(c, &c->target, &remote);
    if (rv != 0) {
        client_fail(c, EXIT_FAIL, "bad CONNECT reply", rv);
        return false;
    }
    print_limit(limit, sizeof(limit), &m);
    client_out("circuit to %s accepted %s", pid, limit);
    rly_stream *s = h->s;
    h->s = NULL;
    rly_stream_set_handler(s, NULL, NULL); /* |h| goes now: nothing may reach it any more */
    hop_free(h);
    rv = rly_swarm_upgrade_stream(c->swarm, s, RLY_CONN_OUTBOUND, &c->target, &remote, rest,
                                  restlen, on_relayed, c);
    if (rv != 0)
        client_fail(c, EXIT_FAIL, "cannot upgrade the circuit", rv);
    return true;
}

/* ---- the hop stream ------------------------------------------------------------------------ */

static void hop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_req *h = ud;
    const uint8_t *msg;
    size_t msglen;
    if (h->is_done) {
        (void)rly_stream_consume(s, len);
        return;
    }
    rly_ssize used = rly_circuit_pb_reader_recv(&h->reader, data, len, &msg, &msglen);
    if (used < 0) {
        client_fail(h->c, EXIT_FAIL, "bad reply from the relay", (int)used);
        (void)rly_stream_reset(s); /* hop_on_close frees |h| */
        return;
    }
    (void)rly_stream_consume(s, (size_t)used);
    if (!msg)
        return;
    h->is_done = true;
    if (h->type == RLY_CIRCUIT_HOP_CONNECT) {
        if (!connect_reply(h, msg, msglen, data + used, len - (size_t)used))
            (void)rly_stream_shutdown(s);
        return;
    }
    reserve_reply(h->c, msg, msglen);
    (void)rly_stream_shutdown(s); /* the relay closes its side too: on_close follows */
}

static void hop_on_fin(rly_stream *s, void *ud)
{
    hop_req *h = ud;
    if (!h->is_done)
        (void)rly_stream_reset(s); /* no reply: hop_on_close reports it */
}

static void hop_on_close(rly_stream *s, void *ud, int err)
{
    hop_req *h = ud;
    client *c = h->c;
    bool answered = h->is_done;
    uint32_t type = h->type;
    h->s = NULL;
    hop_free(h);
    if (answered || c->is_finishing)
        return;
    if (type == RLY_CIRCUIT_HOP_RESERVE && c->is_refreshing)
        refresh_failed(c, "error", "the relay closed the hop stream without a reply");
    else
        client_fail(c, EXIT_FAIL, "the relay closed the hop stream without a reply", 0);
}

static const rly_stream_handler hop_handler = {
    .on_data = hop_on_data,
    .on_fin = hop_on_fin,
    .on_close = hop_on_close,
};

static void hop_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    hop_req *h = ud;
    client *c = h->c;
    uint8_t small[128];
    rly_dynbuf out;
    if (!s || c->is_finishing) {
        if (s)
            (void)rly_stream_reset(s);
        hop_free(h);
        if (!c->is_finishing)
            client_fail(c, EXIT_FAIL, "the relay does not speak " RLY_HOP_PROTOCOL, err);
        return;
    }
    h->s = s;
    rly_stream_set_handler(s, &hop_handler, h);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    int rv = h->type == RLY_CIRCUIT_HOP_RESERVE ? rly_hop_build_reserve(&out)
                                                : rly_hop_build_connect(&c->target, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        client_fail(c, EXIT_FAIL, "cannot send the hop request", rv);
        (void)rly_stream_reset(s);
        return;
    }
    if (len > 0)
        hop_on_data(s, h, data, len);
}

static int hop_open(client *c, uint32_t type)
{
    if (!c->relay_conn)
        return RLY_ERR_CLOSED;
    hop_req *h = rly_calloc(rly_mem_default(), 1, sizeof(*h));
    if (!h)
        return RLY_ERR_NOMEM;
    h->c = c;
    h->type = type;
    rly_circuit_pb_reader_init(&h->reader, NULL);
    int rv = rly_swarm_open_stream(c->swarm, c->relay_conn, RLY_HOP_PROTOCOL, hop_opened, h);
    if (rv != 0)
        hop_free(h);
    return rv;
}

/* ---- the relay connection ------------------------------------------------------------------ */

/* The first hop request on the relay connection (after authentication, if any). */
static void first_hop(client *c)
{
    int rv =
        hop_open(c, c->mode == MODE_LISTEN ? RLY_CIRCUIT_HOP_RESERVE : RLY_CIRCUIT_HOP_CONNECT);
    if (rv != 0)
        client_fail(c, EXIT_FAIL, "cannot open a hop stream", rv);
}

static void on_relay_dial(void *ud, rly_conn *conn, int err)
{
    client *c = ud;
    char pid[RLY_PEERID_STR_MAX];
    if (!conn) {
        client_fail(c, EXIT_FAIL, "cannot connect to the relay", err);
        return;
    }
    c->relay_conn = conn;
    c->relay_id = conn->peer;
    client_out("relay connected peer_id=%s", client_pid(&conn->peer, pid, sizeof(pid)));
    client_auth_start(c, first_hop);
}

/* Strips a trailing /p2p/<relay> from --relay (the dial checks it; addresses we print add it
 * back from the handshake). */
static void strip_p2p(rly_multiaddr *ma)
{
    rly_multiaddr bare = {.len = 0};
    rly_ma_component comp;
    size_t off = 0;
    while (rly_multiaddr_next(ma->bytes, ma->len, &off, &comp) == 1)
        if (comp.code != RLY_MA_P2P)
            RLY_IGNORE(rly_multiaddr_append_component(&bare, comp.code, comp.value, comp.len));
    *ma = bare;
}

int client_relay_start(client *c)
{
    rly_multiaddr dial = c->relay_ma;
    strip_p2p(&c->relay_ma);
    int rv = rly_swarm_dial(c->swarm, &dial, on_relay_dial, c);
    if (rv != 0)
        fprintf(stderr, "test_client: cannot dial the relay %s: %s\n", c->o.relay,
                rly_strerror(rv));
    return rv;
}

/* ---- STOP: incoming circuits --------------------------------------------------------------- */

typedef struct stop_req {
    client *c;
    rly_circuit_pb_reader reader;
} stop_req;

static void stop_free(stop_req *r)
{
    rly_circuit_pb_reader_free(&r->reader);
    rly_free(rly_mem_default(), r);
}

static int stop_answer(rly_stream *s, uint32_t status)
{
    uint8_t small[32];
    rly_dynbuf out;
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_CIRCUIT_MAX_MSG);
    int rv = rly_stop_build_status(status, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    return rv;
}

/* A CONNECT from the relay: accept it and become the listener of the relayed connection. */
static void stop_accept(client *c, rly_stream *s, const rly_circuit_stop_msg *m,
                        const uint8_t *rest, size_t restlen)
{
    rly_multiaddr remote;
    char pid[RLY_PEERID_STR_MAX];
    int rv = circuit_addr(c, &m->peer, &remote);
    if (rv == 0)
        rv = stop_answer(s, RLY_CIRCUIT_STATUS_OK);
    if (rv != 0) {
        client_out("incoming circuit failed error=%s", rly_strerror(rv));
        (void)rly_stream_reset(s);
        return;
    }
    client_out("incoming circuit from %s limit_duration=%" PRIu32 " limit_data=%" PRIu64,
               client_pid(&m->peer, pid, sizeof(pid)), m->has_limit ? m->limit.duration : 0,
               m->has_limit ? m->limit.data : 0);
    /* The Noise responder learns the dialer's identity in the handshake (it takes no expected
     * peer): "relayed connection established peer_id=" prints the authenticated one. */
    rv = rly_swarm_upgrade_stream(c->swarm, s, RLY_CONN_INBOUND, NULL, &remote, rest, restlen,
                                  on_relayed, c);
    if (rv != 0)
        client_out("relayed connection failed error=%s", rly_strerror(rv));
}

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    stop_req *r = ud;
    client *c = r->c;
    const uint8_t *msg;
    size_t msglen;
    rly_circuit_stop_msg m;
    rly_ssize used = rly_circuit_pb_reader_recv(&r->reader, data, len, &msg, &msglen);
    int rv = used < 0 ? (int)used : 0;
    if (used > 0)
        (void)rly_stream_consume(s, (size_t)used);
    if (rv == 0 && !msg)
        return;
    if (rv == 0)
        rv = rly_stop_parse_connect(&m, msg, msglen);
    rly_stream_set_handler(s, NULL, NULL); /* ours no more: answered or handed over */
    stop_free(r);
    if (rv != 0) {
        client_out("incoming circuit refused error=%s", rly_strerror(rv));
        RLY_IGNORE(stop_answer(s, rly_err_to_relay_status(rv)));
        (void)rly_stream_shutdown(s);
        return;
    }
    stop_accept(c, s, &m, data + used, len - (size_t)used);
}

static void stop_on_fin(rly_stream *s, void *ud)
{
    (void)rly_stream_reset(s); /* closed before its CONNECT: stop_on_close frees */
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    stop_free(ud);
}

static const rly_stream_handler stop_handler = {
    .on_data = stop_on_data,
    .on_fin = stop_on_fin,
    .on_close = stop_on_close,
};

static void on_stop_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    client *c = ud;
    /* Only the relay we reserved on may ask (never over a relayed connection). */
    if (s->conn != c->relay_conn || c->is_finishing) {
        (void)rly_stream_reset(s);
        return;
    }
    stop_req *r = rly_calloc(rly_mem_default(), 1, sizeof(*r));
    if (!r) {
        (void)rly_stream_reset(s);
        return;
    }
    r->c = c;
    rly_circuit_pb_reader_init(&r->reader, NULL);
    rly_stream_set_handler(s, &stop_handler, r);
    if (len > 0)
        stop_on_data(s, r, data, len);
}

int client_relay_register(client *c)
{
    return rly_swarm_add_protocol(c->swarm, RLY_STOP_PROTOCOL, on_stop_stream, c);
}
