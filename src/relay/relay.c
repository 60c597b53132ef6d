/* relay.c: the Circuit Relay v2 service (relay.h). One hop_ctx per hop stream: it reads the
 * request (proto/circuit/hop), answers RESERVE at once, and for CONNECT opens the STOP stream on
 * the destination's reserving connection (proto/circuit/stop), waits for its OK, answers the
 * source and hands both streams to a bridge. */
#include "relay/relay.h"

#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/envelope.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"
#include "relay/bridge.h"

#define RLY_TARGET_RELAY "relay_server::relay"
/* Bytes a source may send after its CONNECT before the bridge starts (kept, then forwarded). */
#define EARLY_DATA_MAX RLY_BRIDGE_PENDING_MAX

struct rly_relay {
    rly_swarm *sw;
    rly_relay_settings settings;
    const rly_log *log;
    rly_mem *mem;
    rly_reservations *table;
    rly_limiter *limiter; /* NULL: no [limits] */
    uv_timer_t expiry_timer;
    rly_multiaddr addrs[RLY_SWARM_MAX_ADDRS]; /* reservation addrs, each with /p2p/<relay> */
    size_t naddrs;
    struct hop_ctx *ctxs; /* every live hop_ctx, for shutdown */
    size_t ncircuits;
    bool is_shutting_down;
    bool is_draining;
    rly_relay_stats stats;
};

const double rly_relay_duration_bounds[RLY_RELAY_DURATION_BUCKETS] = {1,   5,   15,   60,   120,
                                                                      300, 900, 1800, 3600, 7200};

rly_relay_refusal rly_relay_refusal_of(uint32_t status)
{
    switch (status) {
    case RLY_CIRCUIT_STATUS_RESERVATION_REFUSED: return RLY_REFUSAL_RESERVATION_REFUSED;
    case RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED: return RLY_REFUSAL_RESOURCE_LIMIT_EXCEEDED;
    case RLY_CIRCUIT_STATUS_PERMISSION_DENIED: return RLY_REFUSAL_PERMISSION_DENIED;
    case RLY_CIRCUIT_STATUS_NO_RESERVATION: return RLY_REFUSAL_NO_RESERVATION;
    case RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE:
    case RLY_CIRCUIT_STATUS_UNEXPECTED_MESSAGE: return RLY_REFUSAL_MALFORMED_MESSAGE;
    default: return RLY_REFUSAL_CONNECTION_FAILED;
    }
}

typedef enum hop_phase {
    PHASE_READ = 0,  /* reading the request */
    PHASE_STOP_OPEN, /* CONNECT: negotiating the STOP stream */
    PHASE_STOP_WAIT, /* CONNECT: waiting for the destination's STATUS */
    PHASE_BRIDGED,   /* the bridge owns both streams */
    PHASE_FINISHING, /* reply written (or stream gone): waiting for the close */
} hop_phase;

typedef struct hop_ctx {
    rly_relay *r;
    struct hop_ctx *prev, *next;
    rly_stream *s;    /* the hop stream (the source's); NULL once closed */
    rly_stream *stop; /* the STOP stream; NULL until negotiated or once closed */
    rly_hop hop;
    rly_stop stopm;
    hop_phase phase;
    uv_timer_t timer;    /* request and STOP deadlines */
    rly_tstamp deadline; /* what |timer| is armed for */
    rly_peerid src, dst;
    bool is_counted; /* circuit_begin succeeded: circuit_end is owed */
    rly_bridge *bridge;
    uint8_t *early; /* source bytes after the CONNECT, before the bridge */
    size_t nearly;
} hop_ctx;

void rly_relay_settings_default(rly_relay_settings *s)
{
    rly_relay_limits_default(&s->limits);
    s->max_circuit_duration = 120 * RLY_NS_PER_S;
    s->max_circuit_bytes = 10485760;
    s->hop_timeout = 30 * RLY_NS_PER_S;
    s->stop_timeout = 30 * RLY_NS_PER_S;
    s->auth = NULL;
    s->acl = NULL;
    s->ip_limits = NULL;
}

/* ---- events --------------------------------------------------------------------------------- */

static const char *pid_text(const rly_peerid *p, char *buf, size_t cap)
{
    if (rly_peerid_to_string(p, buf, cap) < 0)
        buf[0] = '\0';
    return buf;
}

static void log_reservation_denied(rly_relay *r, const rly_peerid *peer, uint32_t status,
                                   const char *reason)
{
    char a[RLY_PEERID_STR_MAX];
    r->stats.reservation_refusals[rly_relay_refusal_of(status)]++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ReservationReqDenied"),
             RLY_F_STR("peer_id", pid_text(peer, a, sizeof(a))),
             RLY_F_STR("status", rly_circuit_pb_status_name(status)), RLY_F_STR("reason", reason));
}

static void log_circuit_denied(rly_relay *r, const rly_peerid *src, const rly_peerid *dst,
                               uint32_t status, const char *reason)
{
    char a[RLY_PEERID_STR_MAX], b[RLY_PEERID_STR_MAX];
    r->stats.circuit_refusals[rly_relay_refusal_of(status)]++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("CircuitReqDenied"),
             RLY_F_STR("src_peer_id", pid_text(src, a, sizeof(a))),
             RLY_F_STR("dst_peer_id", dst ? pid_text(dst, b, sizeof(b)) : ""),
             RLY_F_STR("status", rly_circuit_pb_status_name(status)), RLY_F_STR("reason", reason));
}

/* ---- reservations expiry --------------------------------------------------------------------- */

static void on_timed_out(void *ud, const rly_reservation_info *info)
{
    rly_relay *r = ud;
    char a[RLY_PEERID_STR_MAX];
    r->stats.reservations_closed++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ReservationTimedOut"),
             RLY_F_STR("peer_id", pid_text(&info->peer, a, sizeof(a))),
             RLY_F_U64("conn_id", info->conn_id));
    if (r->limiter)
        rly_limiter_reservation_ended(r->limiter, info->conn_id);
}

static void arm_expiry(rly_relay *r);

static void on_expiry_timer(uv_timer_t *t)
{
    rly_relay *r = t->data;
    (void)rly_reservations_expire(r->table, rly_tcp_now(), on_timed_out, r);
    arm_expiry(r);
}

static void arm_expiry(rly_relay *r)
{
    rly_tstamp when = rly_reservations_get_expiry(r->table);
    if (when == RLY_TSTAMP_MAX || r->is_shutting_down) {
        uv_timer_stop(&r->expiry_timer);
        return;
    }
    uv_timer_start(&r->expiry_timer, on_expiry_timer, rly_tstamp_ms_until(when, rly_tcp_now()), 0);
}

static void on_dropped(void *ud, const rly_reservation_info *info)
{
    rly_relay *r = ud;
    char a[RLY_PEERID_STR_MAX];
    r->stats.reservations_closed++;
    RLY_LOGD(r->log, RLY_TARGET_RELAY, RLY_MSG("Reservation dropped: its connection closed"),
             RLY_F_STR("peer_id", pid_text(&info->peer, a, sizeof(a))),
             RLY_F_U64("conn_id", info->conn_id));
}

static size_t is_quic(const rly_conn *c)
{
    return c->transport && strcmp(c->transport, "quic-v1") == 0 ? 1 : 0;
}

/* [acl] deny_peers / deny_cidrs: closed as soon as the peer is known. */
static void on_conn_established(void *ud, rly_conn *c, size_t num_established)
{
    rly_relay *r = ud;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = rly_conn_remote_sockaddr(c, &ss);
    const char *why = NULL;
    r->stats.connections_opened[is_quic(c)]++;
    int err = RLY_ERR_PERMISSION_DENIED;
    if (r->is_draining) {
        why = "draining";
    } else if (r->settings.acl && rly_acl_is_denied(r->settings.acl, &c->peer, sa)) {
        why = "denied by [acl] deny_peers or deny_cidrs";
    } else if (r->limiter && (err = rly_limiter_conn_open(r->limiter, c->id, sa)) != 0) {
        why = err == RLY_ERR_LIMIT ? "too many connections from this address "
                                     "(max_connections_per_ip)"
                                   : rly_strerror(err);
    }
    if (!why)
        return;
    char a[RLY_PEERID_STR_MAX];
    r->stats.connections_denied++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ConnectionDenied"),
             RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))), RLY_F_STR("reason", why));
    rly_conn_close(c, err, why);
}

static void on_conn_closed(void *ud, rly_conn *c, size_t remaining, int err, const char *cause)
{
    rly_relay *r = ud;
    r->stats.connections_closed[is_quic(c)]++;
    (void)rly_reservations_on_connection_closed(r->table, &c->peer, c->id, remaining, on_dropped,
                                                r);
    if (r->limiter)
        rly_limiter_conn_close(r->limiter, c->id); /* and its reservation */
    arm_expiry(r);
}

/* ---- hop stream life cycle ------------------------------------------------------------------- */

static void ctx_freed(uv_handle_t *h)
{
    hop_ctx *x = h->data;
    rly_free(x->r->mem, x);
}

/* Frees |x| once nothing refers to it: the hop stream, the STOP stream and the bridge gone. */
static void ctx_maybe_free(hop_ctx *x)
{
    if (x->s || x->stop || x->bridge || uv_is_closing((uv_handle_t *)&x->timer))
        return;
    rly_relay *r = x->r;
    if (x->is_counted) {
        RLY_IGNORE(rly_reservations_circuit_end(r->table, &x->src, &x->dst));
        x->is_counted = false;
    }
    if (x->prev)
        x->prev->next = x->next;
    else
        r->ctxs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    rly_hop_free(&x->hop);
    rly_stop_free(&x->stopm);
    rly_free(r->mem, x->early);
    uv_close((uv_handle_t *)&x->timer, ctx_freed);
}

static void on_hop_timer(uv_timer_t *t);

/* (Re)arms the hop stream's one timer: the request deadline, then the destination's. */
static void arm_deadline(hop_ctx *x, rly_tstamp deadline)
{
    x->deadline = deadline;
    uv_timer_start(&x->timer, on_hop_timer, rly_tstamp_ms_until(deadline, rly_tcp_now()), 0);
}

/* Writes |b| to the hop stream and closes our side: the end of every hop exchange that does not
 * become a circuit. */
static void send_and_finish(hop_ctx *x, rly_dynbuf *b)
{
    x->phase = PHASE_FINISHING;
    uv_timer_stop(&x->timer);
    if (!x->s)
        return;
    if (rly_stream_write(x->s, b->data, b->len) != (rly_ssize)b->len)
        (void)rly_stream_reset(x->s); /* x->s cleared by on_close */
    else
        (void)rly_stream_shutdown(x->s);
}

static void reply_status(hop_ctx *x, uint32_t status)
{
    uint8_t small[64];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), x->r->mem, RLY_CIRCUIT_MAX_MSG);
    if (rly_hop_reply_status(&x->hop, status, &b) == 0)
        send_and_finish(x, &b);
    else if (x->s)
        (void)rly_stream_reset(x->s);
    rly_dynbuf_free(&b);
}

/* Circuits from or to a trusted peer ([acl] trusted_peers) have no limit. |b| may be NULL. */
static bool is_trusted(const rly_relay *r, const rly_peerid *a, const rly_peerid *b)
{
    const rly_acl *acl = r->settings.acl;
    return acl && (rly_acl_is_trusted(acl, a) || (b && rly_acl_is_trusted(acl, b)));
}

/* The Limit of circuits between |a| and |b| (NULL: a reservation of |a|). */
static rly_circuit_limit wire_limit(const rly_relay *r, const rly_peerid *a, const rly_peerid *b,
                                    bool *phas)
{
    bool unlimited = is_trusted(r, a, b);
    rly_circuit_limit l = {
        .duration = unlimited ? 0 : (uint32_t)(r->settings.max_circuit_duration / RLY_NS_PER_S),
        .data = unlimited ? 0 : r->settings.max_circuit_bytes,
    };
    *phas = l.duration != 0 || l.data != 0; /* an unlimited relay omits Limit (8.2) */
    return l;
}

/* ---- RESERVE (PROTOCOLS.md 8.3) ---------------------------------------------------------------
 */

static int build_reservation(rly_relay *r, const rly_peerid *peer, rly_tstamp expire,
                             rly_tstamp now, rly_circuit_reservation *rsv, rly_dynbuf *voucher)
{
    rly_voucher v;
    memset(rsv, 0, sizeof(*rsv));
    rsv->expire = (uint64_t)time(NULL) + (expire - now) / RLY_NS_PER_S;
    for (size_t i = 0; i < r->naddrs; i++) {
        int rv = rly_circuit_pb_reservation_add_addr(rsv, &r->addrs[i]);
        if (rv != 0)
            return rv;
    }
    RLY_ASSERT(rly_keypair_peerid(rly_swarm_keypair(r->sw), &v.relay) == 0);
    v.peer = *peer;
    v.expiration = rsv->expire;
    int rv = rly_voucher_seal(rly_swarm_keypair(r->sw), &v, voucher);
    if (rv == 0) {
        rsv->voucher.p = voucher->data;
        rsv->voucher.len = voucher->len;
    }
    return rv;
}

static void handle_reserve(hop_ctx *x)
{
    rly_relay *r = x->r;
    rly_conn *c = x->s->conn;
    rly_tstamp now = rly_tcp_now(), expire;
    bool renewed = false, has_limit;
    uint8_t small[1024];
    rly_dynbuf out, voucher;
    rly_circuit_reservation rsv;
    char a[RLY_PEERID_STR_MAX];

    if (rly_multiaddr_has(&c->remote, RLY_MA_P2P_CIRCUIT)) {
        log_reservation_denied(r, &c->peer, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
                               "reservation over a relayed connection");
        reply_status(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED);
        return;
    }
    struct sockaddr_storage ss;
    const char *why = NULL;
    int rv = r->limiter ? rly_limiter_reserve(r->limiter, &c->peer, c->id,
                                              rly_conn_remote_sockaddr(c, &ss),
                                              uv_now(rly_swarm_loop(r->sw)), &why)
                        : 0;
    if (rv != 0) {
        uint32_t st = rv == RLY_ERR_LIMIT ? RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED
                                          : RLY_CIRCUIT_STATUS_RESERVATION_REFUSED;
        log_reservation_denied(r, &c->peer, st, why);
        reply_status(x, st);
        return;
    }
    rv = rly_reservations_reserve(r->table, &c->peer, c->id, now, &expire, &renewed);
    if (rv != 0) {
        uint32_t st = rly_err_to_relay_status(rv);
        log_reservation_denied(r, &c->peer, st,
                               rv == RLY_ERR_RESERVATION_REFUSED
                                   ? "reservation limit reached (max_reservations or "
                                     "max_reservations_per_peer)"
                                   : rly_strerror(rv));
        reply_status(x, st);
        return;
    }
    arm_expiry(r);
    rly_circuit_limit limit = wire_limit(r, &c->peer, NULL, &has_limit);
    rly_dynbuf_init(&voucher, r->mem, RLY_ENVELOPE_MAX);
    rly_dynbuf_init_small(&out, small, sizeof(small), r->mem, RLY_CIRCUIT_MAX_MSG);
    rv = build_reservation(r, &c->peer, expire, now, &rsv, &voucher);
    if (rv == 0)
        rv = rly_hop_reply_reservation(&x->hop, &rsv, has_limit ? &limit : NULL, &out);
    if (rv == 0) {
        send_and_finish(x, &out);
        if (r->limiter)
            rly_limiter_reservation_added(r->limiter, c->id);
        if (renewed)
            r->stats.reservations_renewed++;
        else
            r->stats.reservations_opened++;
        RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ReservationReqAccepted"),
                 RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))),
                 RLY_F_BOOL("renewed", renewed), RLY_F_U64("expire", rsv.expire));
    } else {
        /* Could not build the reply: the slot must not stay taken. */
        RLY_IGNORE(rly_reservations_remove(r->table, &c->peer, c->id));
        log_reservation_denied(r, &c->peer, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, rly_strerror(rv));
        reply_status(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED);
    }
    rly_dynbuf_free(&voucher);
    rly_dynbuf_free(&out);
}

/* ---- CONNECT (PROTOCOLS.md 8.4) ---------------------------------------------------------------
 */

static void connect_failed(hop_ctx *x, uint32_t status, const char *reason)
{
    log_circuit_denied(x->r, &x->src, &x->dst, status, reason);
    if (x->stop) {
        rly_stream *st = x->stop;
        x->stop = NULL;
        rly_stream_set_handler(st, NULL, NULL);
        (void)rly_stream_reset(st);
    }
    reply_status(x, status);
    ctx_maybe_free(x);
}

static void bridge_done(void *ud, rly_bridge *b, const rly_bridge_stats *st)
{
    hop_ctx *x = ud;
    rly_relay *r = x->r;
    char a[RLY_PEERID_STR_MAX], c[RLY_PEERID_STR_MAX];
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("CircuitClosed"),
             RLY_F_STR("src_peer_id", pid_text(&x->src, a, sizeof(a))),
             RLY_F_STR("dst_peer_id", pid_text(&x->dst, c, sizeof(c))),
             RLY_F_STR("error", st->err ? st->reason : "none"),
             RLY_F_U64("bytes_src_to_dst", st->bytes_src_to_dst),
             RLY_F_U64("bytes_dst_to_src", st->bytes_dst_to_src),
             RLY_F_U64("duration_ms", st->duration / RLY_NS_PER_MS));
    double secs = (double)st->duration / 1e9;
    size_t i = 0;
    while (i < RLY_RELAY_DURATION_BUCKETS && secs > rly_relay_duration_bounds[i])
        i++;
    r->stats.duration_buckets[i]++;
    r->stats.duration_sum += secs;
    r->stats.circuits_closed++;
    r->stats.bytes_relayed += st->bytes_src_to_dst + st->bytes_dst_to_src;
    if (st->err == RLY_ERR_LIMIT || st->err == RLY_ERR_TIMEOUT)
        r->stats.circuits_limit_closed++;
    r->ncircuits--;
    x->bridge = NULL;
    ctx_maybe_free(x);
}

/* The destination said OK: answer the source, then bridge. |rest| are destination bytes that
 * followed its STATUS (delivered on the STOP stream, not consumed). */
static void connect_ok(hop_ctx *x, const uint8_t *rest, size_t restlen)
{
    rly_relay *r = x->r;
    bool has_limit;
    uint8_t small[64];
    rly_dynbuf out;
    char a[RLY_PEERID_STR_MAX], b[RLY_PEERID_STR_MAX];
    rly_circuit_limit limit = wire_limit(r, &x->src, &x->dst, &has_limit);
    rly_dynbuf_init_small(&out, small, sizeof(small), r->mem, RLY_CIRCUIT_MAX_MSG);
    int rv = rly_hop_reply_connect(&x->hop, has_limit ? &limit : NULL, &out);
    if (rv == 0 && rly_stream_write(x->s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "cannot answer the source");
        return;
    }
    uv_timer_stop(&x->timer);
    rly_bridge_limits bl = {r->settings.max_circuit_duration, r->settings.max_circuit_bytes};
    if (is_trusted(r, &x->src, &x->dst))
        bl = (rly_bridge_limits){0, 0};
    rly_stream *src = x->s, *dst = x->stop;
    x->phase = PHASE_BRIDGED;
    /* From here the bridge owns both streams (and their close callbacks). */
    x->s = x->stop = NULL;
    rv = rly_bridge_start(&x->bridge, rly_swarm_loop(r->sw), src, x->early, x->nearly, dst, rest,
                          restlen, &bl, rly_tcp_now(), bridge_done, x, r->mem);
    rly_free(r->mem, x->early);
    x->early = NULL;
    x->nearly = 0;
    if (rv != 0) {
        log_circuit_denied(r, &x->src, &x->dst, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                           rly_strerror(rv));
        ctx_maybe_free(x);
        return;
    }
    r->ncircuits++;
    r->stats.circuits_opened++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("CircuitReqAccepted"),
             RLY_F_STR("src_peer_id", pid_text(&x->src, a, sizeof(a))),
             RLY_F_STR("dst_peer_id", pid_text(&x->dst, b, sizeof(b))));
}

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    rly_ssize used = rly_stop_recv(&x->stopm, data, len);
    if (used > 0)
        (void)rly_stream_consume(s, (size_t)used);
    switch (rly_stop_get_state(&x->stopm)) {
    case RLY_STOP_DONE: connect_ok(x, data + used, len - (size_t)used); return;
    case RLY_STOP_FAILED:
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       "destination refused or sent a bad STOP reply");
        return;
    default: break;
    }
    if (used < 0)
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "bad STOP reply");
}

static void stop_on_fin(rly_stream *s, void *ud)
{
    hop_ctx *x = ud;
    RLY_IGNORE(rly_stop_handle_eof(&x->stopm));
    connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "destination closed the STOP stream");
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    hop_ctx *x = ud;
    x->stop = NULL;
    if (x->phase == PHASE_STOP_WAIT)
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "STOP stream reset");
    ctx_maybe_free(x);
}

static const rly_stream_handler stop_handler = {
    .on_data = stop_on_data,
    .on_fin = stop_on_fin,
    .on_close = stop_on_close,
};

static void stop_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    uint8_t small[128];
    rly_dynbuf out;
    bool has_limit;
    if (x->phase != PHASE_STOP_OPEN || !x->s) { /* the source gave up meanwhile */
        if (s)
            (void)rly_stream_reset(s);
        ctx_maybe_free(x);
        return;
    }
    if (!s) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       "destination does not speak the stop protocol");
        return;
    }
    x->stop = s;
    x->phase = PHASE_STOP_WAIT;
    rly_stream_set_handler(s, &stop_handler, x);
    rly_circuit_limit limit = wire_limit(x->r, &x->src, &x->dst, &has_limit);
    rly_dynbuf_init_small(&out, small, sizeof(small), x->r->mem, RLY_CIRCUIT_MAX_MSG);
    int rv = rly_stop_connect(&x->stopm, &x->src, has_limit ? &limit : NULL,
                              rly_tcp_now() + x->r->settings.stop_timeout, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "cannot write the STOP request");
        return;
    }
    if (len > 0)
        stop_on_data(s, x, data, len);
}

static void handle_connect(hop_ctx *x)
{
    rly_relay *r = x->r;
    rly_conn *c = x->s->conn;
    rly_reservation_info info;
    x->src = c->peer;
    x->dst = rly_hop_get_request(&x->hop)->peer;
    if (rly_multiaddr_has(&c->remote, RLY_MA_P2P_CIRCUIT)) {
        connect_failed(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
                       "CONNECT over a relayed connection");
        return;
    }
    struct sockaddr_storage ss;
    const char *why = NULL;
    if (r->limiter && rly_limiter_connect(r->limiter, &c->peer, rly_conn_remote_sockaddr(c, &ss),
                                          uv_now(rly_swarm_loop(r->sw)), &why) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, why);
        return;
    }
    if (rly_reservations_lookup(r->table, &x->dst, rly_tcp_now(), &info) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_NO_RESERVATION, "destination has no reservation");
        return;
    }
    rly_conn *dc = rly_swarm_find_conn(r->sw, &x->dst, info.conn_id);
    if (!dc) {
        connect_failed(x, RLY_CIRCUIT_STATUS_NO_RESERVATION, "destination is not connected");
        return;
    }
    if (rly_reservations_circuit_begin(r->table, &x->src, &x->dst) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED,
                       "circuit limit reached (max_circuits or max_circuits_per_peer)");
        return;
    }
    x->is_counted = true;
    x->phase = PHASE_STOP_OPEN;
    arm_deadline(x, rly_tcp_now() + r->settings.stop_timeout);
    int rv = rly_swarm_open_stream(r->sw, dc, RLY_STOP_PROTOCOL, stop_opened, x);
    if (rv != 0)
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, rly_strerror(rv));
}

/* ---- the hop stream
 * ------------------------------------------------------------------------------ */

static void decide(hop_ctx *x)
{
    const rly_circuit_hop_msg *req = rly_hop_get_request(&x->hop);
    if (x->r->is_shutting_down) {
        reply_status(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED);
        return;
    }
    if (x->r->is_draining) {
        rly_conn *dc = x->s->conn;
        if (req->type == RLY_CIRCUIT_HOP_RESERVE) {
            log_reservation_denied(x->r, &dc->peer, RLY_CIRCUIT_STATUS_RESERVATION_REFUSED,
                                   "the relay is draining (shutting down)");
            reply_status(x, RLY_CIRCUIT_STATUS_RESERVATION_REFUSED);
        } else {
            log_circuit_denied(x->r, &dc->peer, req->has_peer ? &req->peer : NULL,
                               RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                               "the relay is draining (shutting down)");
            reply_status(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED);
        }
        return;
    }
    rly_conn *c = x->s->conn;
    if (x->r->settings.auth && !rly_authsvc_is_authenticated(x->r->settings.auth, c)) {
        static const char why[] =
            "not authenticated (auth_enabled: run " RLY_AUTH_PROTOCOL " with the token first)";
        if (req->type == RLY_CIRCUIT_HOP_RESERVE)
            log_reservation_denied(x->r, &c->peer, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, why);
        else
            log_circuit_denied(x->r, &c->peer, req->has_peer ? &req->peer : NULL,
                               RLY_CIRCUIT_STATUS_PERMISSION_DENIED, why);
        reply_status(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED);
        return;
    }
    const rly_acl *acl = x->r->settings.acl;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = rly_conn_remote_sockaddr(c, &ss);
    if (acl && req->type == RLY_CIRCUIT_HOP_RESERVE && !rly_acl_may_reserve(acl, &c->peer, sa)) {
        log_reservation_denied(x->r, &c->peer, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
                               "not allowed to reserve ([acl])");
        reply_status(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED);
        return;
    }
    if (acl && req->type == RLY_CIRCUIT_HOP_CONNECT && !rly_acl_may_connect(acl, &c->peer, sa)) {
        log_circuit_denied(x->r, &c->peer, req->has_peer ? &req->peer : NULL,
                           RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "not allowed to connect ([acl])");
        reply_status(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED);
        return;
    }
    if (req->type == RLY_CIRCUIT_HOP_RESERVE)
        handle_reserve(x);
    else
        handle_connect(x);
}

static void reject(hop_ctx *x)
{
    rly_conn *c = x->s->conn;
    uint32_t st = rly_hop_get_status(&x->hop);
    const char *why = rly_strerror(x->hop.err);
    const rly_circuit_hop_msg *req = rly_hop_get_request(&x->hop);
    if (req && req->type == RLY_CIRCUIT_HOP_CONNECT)
        log_circuit_denied(x->r, &c->peer, req->has_peer ? &req->peer : NULL, st, why);
    else
        log_reservation_denied(x->r, &c->peer, st, why);
    reply_status(x, st);
}

/* Source bytes after its CONNECT: kept (bounded) and forwarded once the bridge starts. */
static int keep_early(hop_ctx *x, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > EARLY_DATA_MAX - x->nearly)
        return RLY_ERR_NOBUF;
    uint8_t *e = rly_realloc(x->r->mem, x->early, x->nearly + n);
    if (!e)
        return RLY_ERR_NOMEM;
    memcpy(e + x->nearly, p, n);
    x->early = e;
    x->nearly += n;
    return 0;
}

static void hop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    if (x->phase != PHASE_READ) {
        /* Waiting for the destination: not consumed until forwarded (backpressure). */
        if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
            if (keep_early(x, data, len) != 0)
                connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "too much early data");
        } else {
            (void)rly_stream_consume(s, len);
        }
        return;
    }
    rly_ssize used = rly_hop_recv(&x->hop, data, len);
    if (used > 0)
        (void)rly_stream_consume(s, (size_t)used);
    rly_hop_state st = rly_hop_get_state(&x->hop);
    if (st == RLY_HOP_READ_REQUEST)
        return;
    if (st == RLY_HOP_REJECT || used < 0) {
        reject(x);
        return;
    }
    if (used >= 0 && keep_early(x, data + used, len - (size_t)used) != 0) {
        reply_status(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE);
        return;
    }
    decide(x);
}

static void hop_on_fin(rly_stream *s, void *ud)
{
    hop_ctx *x = ud;
    if (x->phase != PHASE_READ)
        return;
    RLY_IGNORE(rly_hop_handle_eof(&x->hop));
    reject(x);
}

static void hop_on_close(rly_stream *s, void *ud, int err)
{
    hop_ctx *x = ud;
    x->s = NULL;
    if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
        log_circuit_denied(x->r, &x->src, &x->dst, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                           "source went away");
        x->phase = PHASE_FINISHING;
        if (x->stop) {
            rly_stream *st = x->stop;
            x->stop = NULL;
            rly_stream_set_handler(st, NULL, NULL);
            (void)rly_stream_reset(st);
        }
    }
    uv_timer_stop(&x->timer);
    ctx_maybe_free(x);
}

static const rly_stream_handler hop_handler = {
    .on_data = hop_on_data,
    .on_fin = hop_on_fin,
    .on_close = hop_on_close,
};

static void on_hop_timer(uv_timer_t *t)
{
    hop_ctx *x = t->data;
    rly_tstamp now = rly_tcp_now();
    /* libuv timers count from the loop's cached time, which lags the clock under load: the
     * timer can fire a little before the deadline. Not yet: wait for the rest. */
    if (now < x->deadline) {
        arm_deadline(x, x->deadline);
        return;
    }
    if (x->phase == PHASE_READ) {
        RLY_IGNORE(rly_hop_handle_expiry(&x->hop, now));
        reject(x);
    } else if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       "destination did not answer in time");
    }
}

static void on_hop_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_relay *r = ud;
    hop_ctx *x = rly_calloc(r->mem, 1, sizeof(*x));
    if (!x) {
        (void)rly_stream_reset(s);
        return;
    }
    x->r = r;
    x->s = s;
    rly_tstamp deadline = rly_tcp_now() + r->settings.hop_timeout;
    rly_hop_init(&x->hop, r->mem, deadline);
    rly_stop_init(&x->stopm, r->mem);
    uv_timer_init(rly_swarm_loop(sw), &x->timer);
    x->timer.data = x;
    x->next = r->ctxs;
    if (r->ctxs)
        r->ctxs->prev = x;
    r->ctxs = x;
    rly_stream_set_handler(s, &hop_handler, x);
    arm_deadline(x, deadline);
    if (len > 0)
        hop_on_data(s, x, data, len);
}

/* ---- set-up
 * -------------------------------------------------------------------------------------- */

static int reservation_addrs(rly_relay *r)
{
    size_t n;
    const rly_multiaddr *adv = rly_swarm_advertised_addrs(r->sw, &n);
    for (size_t i = 0; i < n && r->naddrs < RLY_SWARM_MAX_ADDRS; i++) {
        rly_multiaddr ma = adv[i];
        if (rly_multiaddr_append_p2p(&ma, rly_swarm_local_peer(r->sw)) == 0)
            r->addrs[r->naddrs++] = ma;
    }
    /* rust clients fail a reservation without addresses (PROTOCOLS.md 10.9). */
    return r->naddrs > 0 ? 0 : RLY_ERR_INVALID_ARG;
}

int rly_relay_new(rly_relay **pr, rly_swarm *sw, const rly_relay_settings *settings,
                  const rly_log *log, rly_mem *mem)
{
    rly_relay *r = rly_calloc(mem, 1, sizeof(*r));
    if (!r)
        return RLY_ERR_NOMEM;
    r->sw = sw;
    r->settings = *settings;
    r->log = log;
    r->mem = mem;
    uint8_t key[16];
    int rv = reservation_addrs(r);
    if (rv == 0)
        rv = rly_reservations_new(&r->table, &settings->limits, mem, log);
    if (rv == 0 && settings->ip_limits)
        rv = rly_limiter_new(&r->limiter, settings->ip_limits, mem);
    if (rv == 0)
        rv = rly_crypto_random(key, sizeof(key));
    if (rv == 0) /* keyed: peers cannot pick IDs that land in one bucket */
        rly_reservations_set_hash_key(r->table, key);
    if (rv == 0)
        rv = rly_swarm_add_protocol(sw, RLY_HOP_PROTOCOL, on_hop_stream, r);
    if (rv != 0) {
        rly_reservations_del(r->table);
        rly_limiter_del(r->limiter);
        rly_free(mem, r);
        return rv;
    }
    uv_timer_init(rly_swarm_loop(sw), &r->expiry_timer);
    r->expiry_timer.data = r;
    rly_swarm_observer obs = {
        .on_established = on_conn_established, .on_closed = on_conn_closed, .ud = r};
    rly_swarm_set_observer(sw, &obs);
    *pr = r;
    return 0;
}

void rly_relay_update(rly_relay *r, const rly_relay_settings *settings)
{
    r->settings = *settings;
    rly_reservations_set_limits(r->table, &settings->limits);
    if (r->limiter && settings->ip_limits)
        rly_limiter_update(r->limiter, settings->ip_limits);
    r->settings.ip_limits = NULL; /* copied into the limiter, not kept */
}

void rly_relay_drain(rly_relay *r)
{
    r->is_draining = true;
}

void rly_relay_shutdown(rly_relay *r)
{
    r->is_shutting_down = true;
    uv_timer_stop(&r->expiry_timer);
    for (hop_ctx *x = r->ctxs; x; x = x->next)
        if (x->bridge)
            rly_bridge_abort(x->bridge, "relay shutting down");
}

static void expiry_timer_closed(uv_handle_t *h)
{
    rly_relay *r = h->data;
    rly_reservations_del(r->table);
    rly_limiter_del(r->limiter);
    rly_free(r->mem, r);
}

void rly_relay_del(rly_relay *r)
{
    if (!r)
        return;
    /* The swarm is gone already (relay.h): its observer must not be touched. */
    uv_close((uv_handle_t *)&r->expiry_timer, expiry_timer_closed);
}

void rly_relay_stats_get(const rly_relay *r, rly_relay_stats *out, rly_limiter_stats *limiter)
{
    *out = r->stats;
    if (limiter && r->limiter)
        rly_limiter_stats_get(r->limiter, limiter);
    else if (limiter)
        memset(limiter, 0, sizeof(*limiter));
}

size_t rly_relay_num_reservations(const rly_relay *r)
{
    return rly_reservations_count(r->table);
}

size_t rly_relay_num_circuits(const rly_relay *r)
{
    return r->ncircuits;
}
