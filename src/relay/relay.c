/* relay.c: the Circuit Relay v2 service (relay.h). One hop_ctx per hop stream: it reads the
 * request (proto/circuit/hop), answers RESERVE at once, and for CONNECT opens the STOP stream on
 * the destination's reserving connection (proto/circuit/stop), waits for its OK, answers the
 * source and hands both streams to a bridge.
 *
 * Lifetime of a hop_ctx (issue 11: a source that reset its stream while the STOP stream was
 * still being opened freed the state the open's callback then used). The state is freed only
 * when nothing can call into it any more: its hop stream and STOP stream no longer carry its
 * handler, no stream open is owed a callback (|is_opening|), no bridge reports to it, and no
 * call into it is still running (|busy|: a stream reset inside a callback calls back in at
 * once). Every entry point runs between enter() and leave(); only the outermost leave() frees.
 * The deadline is an rly_timer, stopped synchronously. */
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
    rly_relay_host host;
    rly_relay_settings settings;
    const rly_log *log;
    rly_mem *mem;
    rly_reservations *table;
    rly_limiter *limiter; /* NULL: no [limits] */
    rly_timer expiry_timer;
    rly_peerid local;
    rly_multiaddr addrs[RLY_RELAY_MAX_ADDRS]; /* reservation addrs, each with /p2p/<relay> */
    size_t naddrs;
    struct hop_ctx *ctxs; /* every live hop_ctx, for shutdown */
    size_t nctxs;
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
    PHASE_DONE,      /* answered or given up: waiting only for what still holds the state */
} hop_phase;

typedef struct hop_ctx {
    rly_relay *r;
    struct hop_ctx *prev, *next;
    rly_stream *s;    /* the hop stream (the source's) while it carries our handler */
    rly_stream *stop; /* the STOP stream while it carries our handler */
    bool is_opening;  /* the STOP stream's open callback is still owed to us */
    rly_bridge *bridge;
    unsigned busy; /* calls into this state still running (enter/leave) */
    rly_hop hop;
    rly_stop *stopm; /* the STOP exchange, from the STOP stream's open on (CONNECT only) */
    hop_phase phase;
    rly_timer timer; /* request and STOP deadlines */
    rly_peerid src, dst;
    uint64_t dst_conn_id;     /* CONNECT: the destination's reserving connection */
    bool is_counted;          /* circuit_begin succeeded: circuit_end is owed */
    rly_bridge_limits limits; /* bridged: the limits it runs under */
    uint8_t *early;           /* source bytes after the CONNECT, before the bridge */
    size_t nearly, early_cap;
    rly_mem *early_mem; /* |early| is charged to the source's connection (its memory cap), and
                           freed whenever the hop stream is given up, before that goes */
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

static rly_tstamp now_of(const rly_relay *r)
{
    return rly_timerq_now(r->host.timers);
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

static void arm_expiry(rly_relay *r)
{
    rly_tstamp when = rly_reservations_get_expiry(r->table);
    if (r->is_shutting_down)
        when = RLY_TSTAMP_MAX;
    rly_timerq_start(r->host.timers, &r->expiry_timer, when);
}

static void on_expiry_timer(rly_timer *t, void *ud)
{
    rly_relay *r = ud;
    (void)rly_reservations_expire(r->table, now_of(r), on_timed_out, r);
    arm_expiry(r);
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

/* deny logs ConnectionDenied for |c| and closes it. */
static void deny(rly_relay *r, rly_conn *c, int err, const char *why)
{
    char a[RLY_PEERID_STR_MAX];
    r->stats.connections_denied++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ConnectionDenied"),
             RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))), RLY_F_STR("reason", why));
    rly_conn_close(c, err, why);
}

#define DENIED_WHY "denied by [acl] deny_peers or deny_cidrs"

/* deny_if_listed closes |c| when the [acl] deny lists cover it (a reload added it). */
static void deny_if_listed(void *ud, rly_conn *c)
{
    rly_relay *r = ud;
    struct sockaddr_storage ss;
    if (r->settings.acl &&
        rly_acl_is_denied(r->settings.acl, &c->peer, rly_conn_remote_sockaddr(c, &ss)))
        deny(r, c, RLY_ERR_PERMISSION_DENIED, DENIED_WHY);
}

/* dst_denied: whether a CONNECT's destination |dst| (on |dc|, NULL: not looked up yet) is on the
 * [acl] deny lists. */
static bool dst_denied(const rly_relay *r, const rly_peerid *dst, const rly_conn *dc)
{
    struct sockaddr_storage ss;
    return r->settings.acl &&
           rly_acl_is_denied(r->settings.acl, dst, dc ? rly_conn_remote_sockaddr(dc, &ss) : NULL);
}

/* [acl] deny_peers / deny_cidrs: closed as soon as the peer is known. */
void rly_relay_conn_established(rly_relay *r, rly_conn *c, size_t num_established)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = rly_conn_remote_sockaddr(c, &ss);
    const char *why = NULL;
    r->stats.connections_opened[is_quic(c)]++;
    int err = RLY_ERR_PERMISSION_DENIED;
    if (r->is_draining) {
        why = "draining";
    } else if (r->settings.acl && rly_acl_is_denied(r->settings.acl, &c->peer, sa)) {
        why = DENIED_WHY;
    } else if (r->limiter && (err = rly_limiter_conn_open(r->limiter, c->id, sa)) != 0) {
        why = err == RLY_ERR_LIMIT ? "too many connections from this address "
                                     "(max_connections_per_ip)"
                                   : rly_strerror(err);
    }
    if (why)
        deny(r, c, err, why);
}

/* may_hold: whether |n| could make the RESERVE that would put the reservation on it now: not
 * relayed, authenticated when [auth] requires it, allowed to reserve by the [acl] (decide()'s
 * checks), and its address below max_reservations_per_ip (the limiter then counts the
 * reservation there instead of at |c|'s). A move must not get round what a RESERVE checks: an
 * expired token or a refused address would otherwise keep a reservation by moving it. */
static bool may_hold(rly_relay *r, const rly_conn *c, rly_conn *n)
{
    struct sockaddr_storage ss;
    if (n == c || n->id == c->id || rly_multiaddr_has(&n->remote, RLY_MA_P2P_CIRCUIT))
        return false;
    if (r->settings.auth && !rly_authsvc_is_authenticated(r->settings.auth, n))
        return false;
    if (r->settings.acl &&
        !rly_acl_may_reserve(r->settings.acl, &n->peer, rly_conn_remote_sockaddr(n, &ss)))
        return false;
    return !r->limiter || rly_limiter_reservation_move(r->limiter, c->id, n->id) == 0;
}

/* next_conn picks where the reservation of |c|'s peer goes when |c| closes: the peer's newest
 * remaining connection that may hold it (may_hold), or NULL to drop it, logged with the reason
 * (the peer learns it at its next refresh). At most NEXT_CONN_TRIES connections are looked at,
 * newest first. */
#define NEXT_CONN_TRIES 16
static rly_conn *next_conn(rly_relay *r, const rly_conn *c, size_t remaining)
{
    char a[RLY_PEERID_STR_MAX];
    if (remaining == 0)
        return NULL;
    rly_conn *n = r->host.find_conn(r->host.ud, &c->peer, 0);
    for (int i = 0; n && i < NEXT_CONN_TRIES; i++) {
        if (may_hold(r, c, n))
            return n;
        n = r->host.find_older_conn ? r->host.find_older_conn(r->host.ud, &c->peer, n->id) : NULL;
    }
    RLY_LOGI(r->log, RLY_TARGET_RELAY,
             RLY_MSG("Reservation dropped: none of the peer's other connections may hold it "
                     "(relayed, not authenticated, refused by [acl] or its address at "
                     "max_reservations_per_ip)"),
             RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))), RLY_F_U64("conn_id", c->id),
             RLY_F_U64("connections_left", remaining));
    return NULL;
}

/* The connection that holds a peer's reservation closed: it moves to the peer's next connection
 * (go keeps a reservation while the peer has any connection) or goes with the last one. */
void rly_relay_conn_closed(rly_relay *r, rly_conn *c, size_t remaining)
{
    char a[RLY_PEERID_STR_MAX];
    rly_reservation_info info;
    r->stats.connections_closed[is_quic(c)]++;
    if (rly_reservations_find(r->table, &c->peer, &info) == 0 && info.conn_id == c->id) {
        rly_conn *n = next_conn(r, c, remaining);
        uint64_t next_id = n ? n->id : 0;
        if (rly_reservations_on_connection_closed(r->table, &c->peer, c->id, n ? &next_id : NULL,
                                                  on_dropped, r) == RLY_RESERVATION_MOVED)
            RLY_LOGD(r->log, RLY_TARGET_RELAY,
                     RLY_MSG("Reservation moved to the peer's next connection"),
                     RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))),
                     RLY_F_U64("from_conn_id", c->id), RLY_F_U64("to_conn_id", next_id));
    }
    if (r->limiter)
        rly_limiter_conn_close(r->limiter, c->id); /* and its reservation's count, unless moved */
    arm_expiry(r);
    /* Last: the peer's reservation has moved or gone by what is left (may_hold). */
    if (r->settings.auth)
        rly_authsvc_conn_closed(r->settings.auth, c);
}

/* ---- hop stream life cycle ------------------------------------------------------------------- */

static void release_circuit(hop_ctx *x)
{
    if (x->is_counted) {
        RLY_IGNORE(rly_reservations_circuit_end(x->r->table, &x->src, &x->dst));
        x->is_counted = false;
    }
}

static void drop_early(hop_ctx *x)
{
    if (x->early)
        rly_free(x->early_mem, x->early);
    x->early = NULL;
    x->nearly = x->early_cap = 0;
}

/* Frees |x| once nothing can call into it (see the top of this file). */
static void ctx_maybe_free(hop_ctx *x)
{
    if (x->busy || x->s || x->stop || x->is_opening || x->bridge)
        return;
    rly_relay *r = x->r;
    rly_timerq_stop(r->host.timers, &x->timer);
    release_circuit(x);
    if (x->prev)
        x->prev->next = x->next;
    else
        r->ctxs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    r->nctxs--;
    rly_hop_free(&x->hop);
    if (x->stopm) {
        rly_stop_free(x->stopm);
        rly_free(r->mem, x->stopm);
    }
    drop_early(x); /* nothing: done when the hop stream went (rly_relay_check_invariants) */
    rly_free(r->mem, x);
}

static void enter(hop_ctx *x)
{
    x->busy++;
}

static void leave(hop_ctx *x)
{
    x->busy--;
    ctx_maybe_free(x);
}

static void arm_deadline(hop_ctx *x, rly_tstamp deadline)
{
    rly_timerq_start(x->r->host.timers, &x->timer, deadline);
}

/* Gives the STOP stream up: it no longer calls us, and the destination sees a reset. */
static void drop_stop(hop_ctx *x)
{
    rly_stream *st = x->stop;
    if (!st)
        return;
    x->stop = NULL;
    rly_stream_set_handler(st, NULL, NULL);
    (void)rly_stream_reset(st);
}

/* The end of every hop exchange that does not become a circuit: |b| (the reply; NULL: none) is
 * written, our side closed, and the stream let go of at once (as go's relay closes the stream
 * after its answer): what the peer still sends is dropped by the transport, and the request
 * state with its early bytes goes now, not when the peer gets round to closing. */
static void finish_hop(hop_ctx *x, const rly_dynbuf *b)
{
    x->phase = PHASE_DONE;
    rly_timerq_stop(x->r->host.timers, &x->timer);
    drop_early(x);
    rly_stream *s = x->s;
    if (!s)
        return;
    x->s = NULL;
    rly_stream_set_handler(s, NULL, NULL);
    if (b && rly_stream_write(s, b->data, b->len) == (rly_ssize)b->len)
        (void)rly_stream_shutdown(s);
    else
        (void)rly_stream_reset(s);
}

static void reply_status(hop_ctx *x, uint32_t status)
{
    uint8_t small[64];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), x->r->mem, RLY_CIRCUIT_MAX_MSG);
    bool ok = rly_hop_reply_status(&x->hop, status, &b) == 0;
    finish_hop(x, ok ? &b : NULL);
    rly_dynbuf_free(&b);
}

/* peer_limits: the circuit limits that apply to |p| (0: none): none when it is in [acl]
 * trusted_peers, its token's class's when it has one this relay knows (relay/authsvc.h:
 * "trusted" none, a profile of [auth] classes what it sets), else the relay's. */
static rly_bridge_limits peer_limits(const rly_relay *r, const rly_peerid *p)
{
    rly_bridge_limits l = {r->settings.max_circuit_duration, r->settings.max_circuit_bytes};
    rly_auth_class k;
    if (r->settings.acl && rly_acl_is_trusted(r->settings.acl, p))
        return (rly_bridge_limits){0, 0};
    if (r->settings.auth && rly_authsvc_peer_limits(r->settings.auth, p, &k)) {
        if (k.has_duration)
            l.duration = k.duration_secs * RLY_NS_PER_S;
        if (k.has_bytes)
            l.data = k.bytes;
    }
    return l;
}

/* The more generous of two limits (0: none). */
static uint64_t wider(uint64_t x, uint64_t y)
{
    return x == 0 || y == 0 ? 0 : x > y ? x : y;
}

/* circuit_limits: the limits of circuits between |a| and |b| (NULL: a reservation of |a|), the
 * more generous of the two ends' (a trusted end: none), as [acl] trusted_peers always was. */
static rly_bridge_limits circuit_limits(const rly_relay *r, const rly_peerid *a,
                                        const rly_peerid *b)
{
    rly_bridge_limits l = peer_limits(r, a);
    if (b) {
        rly_bridge_limits m = peer_limits(r, b);
        l.duration = wider(l.duration, m.duration);
        l.data = wider(l.data, m.data);
    }
    return l;
}

/* The Limit of circuits between |a| and |b| (NULL: a reservation of |a|). */
static rly_circuit_limit wire_limit(const rly_relay *r, const rly_peerid *a, const rly_peerid *b,
                                    bool *phas)
{
    rly_bridge_limits bl = circuit_limits(r, a, b);
    uint64_t secs = bl.duration / RLY_NS_PER_S;
    rly_circuit_limit l = {
        .duration = secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs,
        .data = bl.data,
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
    v.relay = r->local;
    v.peer = *peer;
    v.expiration = rsv->expire;
    int rv = rly_voucher_seal(r->host.kp, &v, voucher);
    if (rv == 0) {
        rsv->voucher.p = voucher->data;
        rsv->voucher.len = voucher->len;
    }
    return rv;
}

/* The process's memory budget ([limits] max_memory_mb): over it, new reservations and circuits
 * are refused (counted by rly_mem_admit; the server logs the counts once per interval). */
#define MEMORY_BUDGET_REASON "memory budget exceeded (max_memory_mb)"

static bool over_memory_budget(const rly_relay *r, rly_mem_work what)
{
    return !rly_mem_admit(r->mem, what);
}

/* The status a RESERVE that failed with |err| gets: one of those the spec gives RESERVE
 * (CONNECTION_FAILED is CONNECT's), out of memory as a resource limit. */
static uint32_t reserve_refusal_status(int err)
{
    if (err == RLY_ERR_NOMEM || err == RLY_ERR_LIMIT)
        return RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED;
    if (err == RLY_ERR_PERMISSION_DENIED)
        return RLY_CIRCUIT_STATUS_PERMISSION_DENIED;
    return RLY_CIRCUIT_STATUS_RESERVATION_REFUSED;
}

static void handle_reserve(hop_ctx *x)
{
    rly_relay *r = x->r;
    rly_conn *c = x->s->conn;
    rly_tstamp now = now_of(r), expire;
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
    if (over_memory_budget(r, RLY_MEM_WORK_RESERVATION)) {
        log_reservation_denied(r, &c->peer, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED,
                               MEMORY_BUDGET_REASON);
        reply_status(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED);
        return;
    }
    struct sockaddr_storage ss;
    const char *why = NULL;
    /* The connection that holds the peer's reservation now, if any: a refresh from another
     * connection moves it (and its per-address count) here. */
    rly_reservation_info held;
    uint64_t prev_conn = rly_reservations_find(r->table, &c->peer, &held) == 0 ? held.conn_id : 0;
    int rv = r->limiter
                 ? rly_limiter_reserve(r->limiter, &c->peer, c->id, prev_conn,
                                       rly_conn_remote_sockaddr(c, &ss), now / RLY_NS_PER_MS, &why)
                 : 0;
    if (rv != 0) {
        uint32_t st = rv == RLY_ERR_LIMIT ? RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED
                                          : RLY_CIRCUIT_STATUS_RESERVATION_REFUSED;
        log_reservation_denied(r, &c->peer, st, why);
        reply_status(x, st);
        return;
    }
    rv = rly_reservations_reserve(r->table, &c->peer, c->id, now, &expire, &renewed, &prev_conn);
    if (rv != 0) {
        uint32_t st = reserve_refusal_status(rv);
        log_reservation_denied(r, &c->peer, st,
                               rv == RLY_ERR_RESERVATION_REFUSED
                                   ? "reservation limit reached (max_reservations)"
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
        if (r->limiter)
            rly_limiter_reservation_added(r->limiter, c->id, prev_conn);
        if (renewed)
            r->stats.reservations_renewed++;
        else
            r->stats.reservations_opened++;
        RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("ReservationReqAccepted"),
                 RLY_F_STR("peer_id", pid_text(&c->peer, a, sizeof(a))),
                 RLY_F_BOOL("renewed", renewed), RLY_F_U64("expire", rsv.expire));
        finish_hop(x, &out);
    } else {
        /* Could not build the reply: the slot must not stay taken. A refreshed reservation goes
         * too, with the per-address count of the connection that held it. */
        RLY_IGNORE(rly_reservations_remove(r->table, &c->peer, c->id));
        if (renewed) {
            r->stats.reservations_closed++;
            if (r->limiter)
                rly_limiter_reservation_ended(r->limiter, prev_conn);
        }
        arm_expiry(r);
        log_reservation_denied(r, &c->peer, reserve_refusal_status(rv), rly_strerror(rv));
        reply_status(x, reserve_refusal_status(rv));
    }
    rly_dynbuf_free(&voucher);
    rly_dynbuf_free(&out);
}

/* ---- CONNECT (PROTOCOLS.md 8.4) ---------------------------------------------------------------
 */

/* The CONNECT ends without a circuit: the destination's STOP stream (if any) is reset, its
 * circuit slot given back at once, and the source (if still there) answered |status|. A STOP
 * stream whose open is still in flight is reset by stop_opened when it arrives. */
static void connect_failed(hop_ctx *x, uint32_t status, const char *reason)
{
    log_circuit_denied(x->r, &x->src, &x->dst, status, reason);
    drop_stop(x);
    release_circuit(x);
    reply_status(x, status);
}

static void bridge_done(void *ud, const rly_bridge_stats *st)
{
    hop_ctx *x = ud;
    rly_relay *r = x->r;
    char a[RLY_PEERID_STR_MAX], c[RLY_PEERID_STR_MAX];
    enter(x);
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
    x->phase = PHASE_DONE;
    leave(x);
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
    rly_timerq_stop(r->host.timers, &x->timer);
    rly_bridge_limits bl = circuit_limits(r, &x->src, &x->dst);
    x->limits = bl;
    rly_stream *src = x->s, *dst = x->stop;
    x->phase = PHASE_BRIDGED;
    /* From here the bridge owns both streams (and their close callbacks). */
    x->s = x->stop = NULL;
    r->ncircuits++;
    r->stats.circuits_opened++;
    RLY_LOGI(r->log, RLY_TARGET_EVENTS, RLY_MSG("CircuitReqAccepted"),
             RLY_F_STR("src_peer_id", pid_text(&x->src, a, sizeof(a))),
             RLY_F_STR("dst_peer_id", pid_text(&x->dst, b, sizeof(b))));
    /* x->bridge is set before anything moves; bridge_done clears it (maybe before this returns). */
    rv = rly_bridge_start(&x->bridge, r->host.timers, src, x->early, x->nearly, dst, rest, restlen,
                          &bl, bridge_done, x, r->mem);
    drop_early(x);
    if (rv != 0) {
        r->ncircuits--;
        r->stats.circuits_opened--;
        x->phase = PHASE_DONE;
        log_circuit_denied(r, &x->src, &x->dst, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                           rly_strerror(rv));
    }
}

static void stop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    enter(x);
    rly_ssize used = rly_stop_recv(x->stopm, data, len);
    if (used > 0)
        (void)rly_stream_consume(s, (size_t)used);
    rly_stop_state st = rly_stop_get_state(x->stopm);
    if (st == RLY_STOP_DONE)
        connect_ok(x, data + used, len - (size_t)used);
    else if (st == RLY_STOP_FAILED || used < 0)
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       "destination refused or sent a bad STOP reply");
    leave(x);
}

static void stop_on_fin(rly_stream *s, void *ud)
{
    hop_ctx *x = ud;
    enter(x);
    RLY_IGNORE(rly_stop_handle_eof(x->stopm));
    connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "destination closed the STOP stream");
    leave(x);
}

static void stop_on_close(rly_stream *s, void *ud, int err)
{
    hop_ctx *x = ud;
    enter(x);
    x->stop = NULL;
    if (x->phase == PHASE_STOP_WAIT)
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "STOP stream reset");
    leave(x);
}

static const rly_stream_handler stop_handler = {
    .on_data = stop_on_data,
    .on_fin = stop_on_fin,
    .on_close = stop_on_close,
};

/* Builds the STOP CONNECT into |out| (x->stopm then waits for the answer). Returns 0 or
 * RLY_ERR_NOMEM. */
static int stop_request(hop_ctx *x, rly_dynbuf *out)
{
    bool has_limit;
    x->stopm = rly_calloc(x->r->mem, 1, sizeof(*x->stopm));
    if (!x->stopm)
        return RLY_ERR_NOMEM;
    rly_stop_init(x->stopm, x->r->mem);
    rly_circuit_limit limit = wire_limit(x->r, &x->src, &x->dst, &has_limit);
    return rly_stop_connect(x->stopm, &x->src, has_limit ? &limit : NULL,
                            now_of(x->r) + x->r->settings.stop_timeout, out);
}

/* The STOP stream |s| is negotiated and ours; the STOP CONNECT went with the protocol proposal.
 * Reads what came after the protocol echo (the destination's answer, or part of it). */
static void stop_start(hop_ctx *x, rly_stream *s, const uint8_t *data, size_t len)
{
    x->stop = s;
    x->phase = PHASE_STOP_WAIT;
    rly_stream_set_handler(s, &stop_handler, x);
    if (len > 0)
        stop_on_data(s, x, data, len);
}

/* The open of the STOP stream finished: |s| negotiated, or NULL. It may arrive in any phase:
 * the source may have gone, the deadline passed or the relay shut down meanwhile. */
static void stop_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    enter(x);
    x->is_opening = false;
    if (x->phase != PHASE_STOP_OPEN) { /* given up meanwhile: the destination sees a reset */
        if (s) {
            rly_stream_set_handler(s, NULL, NULL);
            (void)rly_stream_reset(s);
        }
    } else if (!s) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       err == RLY_ERR_NEGOTIATION ? "destination does not speak the stop protocol"
                                                  : "cannot open the STOP stream");
    } else {
        stop_start(x, s, data, len);
    }
    leave(x);
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
    if (over_memory_budget(r, RLY_MEM_WORK_CIRCUIT)) {
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, MEMORY_BUDGET_REASON);
        return;
    }
    struct sockaddr_storage ss;
    const char *why = NULL;
    if (r->limiter && rly_limiter_connect(r->limiter, &c->peer, rly_conn_remote_sockaddr(c, &ss),
                                          now_of(r) / RLY_NS_PER_MS, &why) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, why);
        return;
    }
    if (dst_denied(r, &x->dst, NULL)) {
        connect_failed(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "destination " DENIED_WHY);
        return;
    }
    if (rly_reservations_lookup(r->table, &x->dst, now_of(r), &info) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_NO_RESERVATION, "destination has no reservation");
        return;
    }
    rly_conn *dc = r->host.find_conn(r->host.ud, &x->dst, info.conn_id);
    if (!dc) {
        /* Not reached while the table follows the connections (a reservation moves to the
         * peer's next connection or goes with its last one); go says CONNECTION_FAILED when a
         * reserved peer cannot be reached. */
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "destination is not connected");
        return;
    }
    if (dst_denied(r, &x->dst, dc)) {
        connect_failed(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "destination " DENIED_WHY);
        return;
    }
    if (rly_reservations_circuit_begin(r->table, &x->src, &x->dst) != 0) {
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED,
                       "circuit limit reached (max_circuits or max_circuits_per_peer)");
        return;
    }
    x->is_counted = true;
    x->dst_conn_id = dc->id;
    x->phase = PHASE_STOP_OPEN;
    arm_deadline(x, now_of(r) + r->settings.stop_timeout);
    /* The STOP CONNECT goes with the protocol proposal, without waiting for the echo: the
     * destination reserved over this connection, so it speaks the stop protocol (go sends at
     * once too, once identify has announced the protocol). One round trip less per circuit. */
    uint8_t small[128];
    rly_dynbuf req;
    rly_dynbuf_init_small(&req, small, sizeof(small), r->mem, RLY_CIRCUIT_MAX_MSG);
    int rv = stop_request(x, &req);
    if (rv != 0) {
        rly_dynbuf_free(&req);
        connect_failed(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, rly_strerror(rv));
        return;
    }
    x->is_opening = true; /* the open's callback is owed to |x|: it holds |x| until it runs */
    rv = r->host.open_stream(r->host.ud, dc, RLY_STOP_PROTOCOL, req.data, req.len, stop_opened, x);
    rly_dynbuf_free(&req);
    if (rv != 0) {
        x->is_opening = false; /* no callback comes */
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, rly_strerror(rv));
    }
}

/* ---- the hop stream ------------------------------------------------------------------------- */

static void decide(hop_ctx *x)
{
    const rly_circuit_hop_msg *req = rly_hop_get_request(&x->hop);
    if (x->r->is_shutting_down) {
        /* A RESERVE is refused with a status meant for RESERVE (go: PERMISSION_DENIED once its
         * relay is closed); a CONNECT cannot reach anyone any more. */
        uint32_t st = req->type == RLY_CIRCUIT_HOP_RESERVE ? RLY_CIRCUIT_STATUS_RESERVATION_REFUSED
                                                           : RLY_CIRCUIT_STATUS_CONNECTION_FAILED;
        if (req->type == RLY_CIRCUIT_HOP_RESERVE)
            log_reservation_denied(x->r, &x->s->conn->peer, st, "the relay is shutting down");
        else
            log_circuit_denied(x->r, &x->s->conn->peer, req->has_peer ? &req->peer : NULL, st,
                               "the relay is shutting down");
        reply_status(x, st);
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

/* Source bytes after its CONNECT: kept (bounded) and forwarded once the bridge starts. The
 * buffer doubles as it fills: grown by each piece's size, a source that sends its early bytes in
 * one-byte frames made the relay copy the whole buffer for every byte (quadratic; found by
 * fuzz_relay_service). */
static int keep_early(hop_ctx *x, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > EARLY_DATA_MAX - x->nearly)
        return RLY_ERR_NOBUF;
    if (x->early_cap - x->nearly < n) {
        if (!x->early) /* the source's connection pays (x->s is set while bytes come) */
            x->early_mem = x->s && x->s->conn && x->s->conn->mem ? x->s->conn->mem : x->r->mem;
        size_t cap = x->early_cap ? x->early_cap : 1024;
        while (cap - x->nearly < n)
            cap *= 2;
        if (cap > EARLY_DATA_MAX) /* the last doubling stops at the bound */
            cap = EARLY_DATA_MAX;
        uint8_t *e = rly_realloc(x->early_mem, x->early, cap);
        if (!e)
            return RLY_ERR_NOMEM;
        x->early = e;
        x->early_cap = cap;
    }
    memcpy(x->early + x->nearly, p, n);
    x->nearly += n;
    return 0;
}

/* Bytes on the hop stream while the request is being read. */
static void read_request(hop_ctx *x, rly_stream *s, const uint8_t *data, size_t len)
{
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
    /* Only a CONNECT becomes a stream of data; bytes after a RESERVE are dropped. */
    const rly_circuit_hop_msg *req = rly_hop_get_request(&x->hop);
    if (req->type == RLY_CIRCUIT_HOP_CONNECT &&
        keep_early(x, data + used, len - (size_t)used) != 0) {
        reply_status(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE);
        return;
    }
    decide(x);
}

static void hop_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    hop_ctx *x = ud;
    enter(x);
    if (x->phase == PHASE_READ) {
        read_request(x, s, data, len);
    } else if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
        /* Waiting for the destination: not consumed until forwarded (backpressure). */
        if (keep_early(x, data, len) != 0)
            connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED, "too much early data");
    }
    leave(x);
}

static void hop_on_fin(rly_stream *s, void *ud)
{
    hop_ctx *x = ud;
    enter(x);
    if (x->phase == PHASE_READ) {
        RLY_IGNORE(rly_hop_handle_eof(&x->hop));
        reject(x);
    }
    leave(x);
}

static void hop_on_close(rly_stream *s, void *ud, int err)
{
    hop_ctx *x = ud;
    enter(x);
    x->s = NULL;
    if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
        log_circuit_denied(x->r, &x->src, &x->dst, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                           "source went away");
        drop_stop(x);
        release_circuit(x);
    }
    x->phase = PHASE_DONE;
    rly_timerq_stop(x->r->host.timers, &x->timer);
    drop_early(x);
    leave(x);
}

static const rly_stream_handler hop_handler = {
    .on_data = hop_on_data,
    .on_fin = hop_on_fin,
    .on_close = hop_on_close,
};

static void on_hop_timer(rly_timer *t, void *ud)
{
    hop_ctx *x = ud;
    enter(x);
    if (x->phase == PHASE_READ) {
        RLY_IGNORE(rly_hop_handle_expiry(&x->hop, now_of(x->r)));
        reject(x);
    } else if (x->phase == PHASE_STOP_OPEN || x->phase == PHASE_STOP_WAIT) {
        connect_failed(x, RLY_CIRCUIT_STATUS_CONNECTION_FAILED,
                       "destination did not answer in time");
    }
    leave(x);
}

void rly_relay_accept_hop(rly_relay *r, rly_stream *s, const uint8_t *data, size_t len)
{
    hop_ctx *x = rly_calloc(r->mem, 1, sizeof(*x));
    if (!x) {
        (void)rly_stream_reset(s);
        return;
    }
    x->r = r;
    x->s = s;
    rly_tstamp deadline = now_of(r) + r->settings.hop_timeout;
    rly_hop_init(&x->hop, r->mem, deadline);
    rly_timerq_timer_init(&x->timer, on_hop_timer, x);
    x->next = r->ctxs;
    if (r->ctxs)
        r->ctxs->prev = x;
    r->ctxs = x;
    r->nctxs++;
    rly_stream_set_handler(s, &hop_handler, x);
    arm_deadline(x, deadline);
    if (len > 0)
        hop_on_data(s, x, data, len);
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int reservation_addrs(rly_relay *r)
{
    for (size_t i = 0; i < r->host.naddrs && r->naddrs < RLY_RELAY_MAX_ADDRS; i++) {
        rly_multiaddr ma = r->host.addrs[i];
        if (rly_multiaddr_append_p2p(&ma, &r->local) == 0)
            r->addrs[r->naddrs++] = ma;
    }
    /* rust clients fail a reservation without addresses (PROTOCOLS.md 10.9). */
    return r->naddrs > 0 ? 0 : RLY_ERR_INVALID_ARG;
}

int rly_relay_new_on_host(rly_relay **pr, const rly_relay_host *host,
                          const rly_relay_settings *settings, const rly_log *log, rly_mem *mem)
{
    rly_relay *r = rly_calloc(mem, 1, sizeof(*r));
    if (!r)
        return RLY_ERR_NOMEM;
    r->host = *host;
    r->host.addrs = NULL; /* copied into r->addrs below, not kept */
    r->settings = *settings;
    r->log = log;
    r->mem = mem;
    uint8_t key[16];
    int rv = rly_keypair_peerid(host->kp, &r->local);
    if (rv == 0) {
        r->host.addrs = host->addrs;
        rv = reservation_addrs(r);
        r->host.addrs = NULL;
        r->host.naddrs = 0;
    }
    if (rv == 0)
        rv = rly_reservations_new(&r->table, &settings->limits, mem, log);
    if (rv == 0 && settings->ip_limits)
        rv = rly_limiter_new(&r->limiter, settings->ip_limits, mem);
    if (rv == 0)
        rv = rly_crypto_random(key, sizeof(key));
    if (rv == 0) /* keyed: peers cannot pick IDs that land in one bucket */
        rly_reservations_set_hash_key(r->table, key);
    if (rv != 0) {
        rly_reservations_del(r->table);
        rly_limiter_del(r->limiter);
        rly_free(mem, r);
        return rv;
    }
    r->settings.ip_limits = NULL; /* copied into the limiter, not kept */
    rly_timerq_timer_init(&r->expiry_timer, on_expiry_timer, r);
    *pr = r;
    return 0;
}

/* ---- on the swarm ------------------------------------------------------------------------- */

static int swarm_open_stream(void *ud, rly_conn *c, const char *protocol, const uint8_t *early,
                             size_t early_len, rly_swarm_open_cb cb, void *cb_ud)
{
    return rly_swarm_open_stream_early(ud, c, protocol, early, early_len, cb, cb_ud);
}

static rly_conn *swarm_find_conn(void *ud, const rly_peerid *peer, uint64_t conn_id)
{
    return rly_swarm_find_conn(ud, peer, conn_id);
}

static rly_conn *swarm_find_older_conn(void *ud, const rly_peerid *peer, uint64_t below_id)
{
    return rly_swarm_find_older_conn(ud, peer, below_id);
}

static int swarm_foreach_conn(void *ud, void (*fn)(void *fn_ud, rly_conn *c), void *fn_ud)
{
    return rly_swarm_foreach_conn(ud, fn, fn_ud);
}

static void on_hop_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_relay_accept_hop(ud, s, data, len);
}

static void on_conn_established(void *ud, rly_conn *c, size_t num_established)
{
    rly_relay_conn_established(ud, c, num_established);
}

static void on_conn_closed(void *ud, rly_conn *c, size_t remaining, int err, const char *cause)
{
    rly_relay_conn_closed(ud, c, remaining);
}

int rly_relay_new(rly_relay **pr, rly_swarm *sw, const rly_relay_settings *settings,
                  const rly_log *log, rly_mem *mem)
{
    rly_relay_host host = {
        .timers = rly_swarm_timers(sw),
        .open_stream = swarm_open_stream,
        .find_conn = swarm_find_conn,
        .find_older_conn = swarm_find_older_conn,
        .foreach_conn = swarm_foreach_conn,
        .ud = sw,
        .kp = rly_swarm_keypair(sw),
    };
    host.addrs = rly_swarm_advertised_addrs(sw, &host.naddrs);
    rly_relay *r;
    int rv = rly_relay_new_on_host(&r, &host, settings, log, mem);
    if (rv != 0)
        return rv;
    rv = rly_swarm_add_protocol(sw, RLY_HOP_PROTOCOL, on_hop_stream, r);
    if (rv != 0) {
        rly_relay_del(r);
        return rv;
    }
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
    if (r->host.foreach_conn)     /* no memory: at the next reload */
        RLY_IGNORE(r->host.foreach_conn(r->host.ud, deny_if_listed, r));
}

void rly_relay_drain(rly_relay *r)
{
    r->is_draining = true;
}

void rly_relay_shutdown(rly_relay *r)
{
    r->is_shutting_down = true;
    rly_timerq_stop(r->host.timers, &r->expiry_timer);
    /* Aborting a circuit frees its hop_ctx (and may reach others through their streams): pin
     * every state first, abort, then let each go. */
    for (hop_ctx *x = r->ctxs; x; x = x->next)
        enter(x);
    for (hop_ctx *x = r->ctxs; x; x = x->next)
        if (x->bridge)
            rly_bridge_abort(x->bridge, "relay shutting down");
    for (hop_ctx *x = r->ctxs, *next; x; x = next) {
        next = x->next;
        leave(x);
    }
}

void rly_relay_del(rly_relay *r)
{
    if (!r)
        return;
    /* The swarm is gone already (relay.h): every stream, and with them every hop_ctx, is gone,
     * and rly_relay_shutdown stopped the expiry timer. */
    rly_timerq_stop(r->host.timers, &r->expiry_timer);
    rly_reservations_del(r->table);
    rly_limiter_del(r->limiter);
    rly_free(r->mem, r);
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

size_t rly_relay_num_requests(const rly_relay *r)
{
    return r->nctxs;
}

/* One check per line, numbered for the report. */
static int check_ctx(const rly_relay *r, const hop_ctx *x)
{
    if (x->busy != 0)
        return 10; /* no call into the state is running between events */
    if (!x->s && !x->stop && !x->is_opening && !x->bridge)
        return 11; /* nothing holds it: it should have been freed */
    bool timed = rly_timerq_is_active(&x->timer);
    switch (x->phase) {
    case PHASE_READ: return x->s && !x->stop && !x->is_opening && !x->bridge && timed ? 0 : 12;
    case PHASE_STOP_OPEN:
        return x->s && !x->stop && x->is_opening && x->is_counted && timed ? 0 : 13;
    case PHASE_STOP_WAIT:
        return x->s && x->stop && x->stopm && !x->is_opening && x->is_counted && timed ? 0 : 14;
    case PHASE_BRIDGED: return !x->s && !x->stop && !x->is_opening && x->bridge && !timed ? 0 : 15;
    case PHASE_DONE: return !x->s && !x->stop && !x->bridge && !x->is_counted && !timed ? 0 : 16;
    }
    return 17;
}

int rly_relay_check_invariants(const rly_relay *r)
{
    size_t n = 0, counted = 0, bridged = 0;
    for (const hop_ctx *x = r->ctxs; x; x = x->next) {
        int rv = check_ctx(r, x);
        if (rv != 0)
            return rv;
        n++;
        counted += x->is_counted;
        bridged += x->bridge != NULL;
        if (x->nearly > EARLY_DATA_MAX || (x->nearly > 0 && x->phase == PHASE_DONE))
            return 5;
        if (x->early && !x->s)
            return 6; /* early bytes outlive the hop stream, whose connection they are charged to */
    }
    if (n != r->nctxs)
        return 1;
    if (counted != rly_reservations_circuit_count(r->table))
        return 2; /* a circuit slot held by no request, or a request holding none */
    if (bridged != r->ncircuits)
        return 3;
    bool want_expiry = !r->is_shutting_down && rly_reservations_count(r->table) > 0;
    if (rly_timerq_is_active(&r->expiry_timer) != want_expiry)
        return 4;
    return 0;
}

/* ---- revoked authorisation (rly_relay_revoke) ------------------------------------------------ */

typedef struct revoke_ctx {
    rly_relay *r;
    const char *reason;
} revoke_ctx;

static void on_revoked(void *ud, const rly_reservation_info *info)
{
    revoke_ctx *rc = ud;
    char a[RLY_PEERID_STR_MAX];
    rc->r->stats.reservations_closed++;
    RLY_LOGI(rc->r->log, RLY_TARGET_EVENTS, RLY_MSG("ReservationRevoked"),
             RLY_F_STR("peer_id", pid_text(&info->peer, a, sizeof(a))),
             RLY_F_U64("conn_id", info->conn_id), RLY_F_STR("reason", rc->reason));
    if (rc->r->limiter)
        rly_limiter_reservation_ended(rc->r->limiter, info->conn_id);
}

/* Whether |x| is a CONNECT still being set up from |peer| or to it. */
static bool connecting_with(const hop_ctx *x, const rly_peerid *peer)
{
    if (x->phase != PHASE_STOP_OPEN && x->phase != PHASE_STOP_WAIT)
        return false;
    return rly_peerid_equal(&x->src, peer) || rly_peerid_equal(&x->dst, peer);
}

void rly_relay_revoke(rly_relay *r, const rly_peerid *peer, const char *reason)
{
    revoke_ctx rc = {r, reason};
    rly_reservation_info info;
    if (rly_reservations_find(r->table, peer, &info) == 0)
        (void)rly_reservations_on_connection_closed(r->table, peer, info.conn_id, NULL, on_revoked,
                                                    &rc);
    /* Every circuit and every CONNECT being set up from or to the peer ends. Ending one frees its
     * state at once: pin them all first (as rly_relay_shutdown). */
    for (hop_ctx *x = r->ctxs; x; x = x->next)
        enter(x);
    for (hop_ctx *x = r->ctxs; x; x = x->next) {
        if (x->bridge && (rly_peerid_equal(&x->src, peer) || rly_peerid_equal(&x->dst, peer)))
            rly_bridge_abort(x->bridge, reason);
        else if (connecting_with(x, peer))
            connect_failed(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, reason);
    }
    for (hop_ctx *x = r->ctxs, *next; x; x = next) {
        next = x->next;
        leave(x);
    }
    arm_expiry(r);
}

/* exceeds: whether one of |have|'s limits is wider than |may|'s (0: none). */
static bool exceeds(uint64_t have, uint64_t may)
{
    return may != 0 && (have == 0 || have > may);
}

void rly_relay_reclass(rly_relay *r, const rly_peerid *peer, const char *reason)
{
    for (hop_ctx *x = r->ctxs; x; x = x->next)
        enter(x);
    for (hop_ctx *x = r->ctxs; x; x = x->next) {
        if (!x->bridge || !(rly_peerid_equal(&x->src, peer) || rly_peerid_equal(&x->dst, peer)))
            continue;
        rly_bridge_limits now = circuit_limits(r, &x->src, &x->dst);
        if (exceeds(x->limits.duration, now.duration) || exceeds(x->limits.data, now.data))
            rly_bridge_abort(x->bridge, reason);
    }
    for (hop_ctx *x = r->ctxs, *next; x; x = next) {
        next = x->next;
        leave(x);
    }
}
