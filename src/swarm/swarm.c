/* swarm.c: the peer table, connection events and their logs, and multistream-select on every
 * stream (listener for inbound streams against the router, dialer for outbound ones). */
#include "swarm/swarm_internal.h"

#include <string.h>

#include "crypto/envelope.h"
#include "proto/ping/ping.h"

/* ---- peer table ------------------------------------------------------------------------- */

static size_t peer_hash(const rly_peerid *p)
{
    /* FNV-1a over the tail of the multihash (the digest, uniformly distributed). */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < p->len; i++)
        h = (h ^ p->bytes[i]) * 1099511628211ull;
    return (size_t)(h & (PEER_BUCKETS - 1));
}

static peer_entry **peer_slot(rly_swarm *sw, const rly_peerid *p)
{
    peer_entry **pp = &sw->peers[peer_hash(p)];
    while (*pp && !rly_peerid_equal(&(*pp)->id, p))
        pp = &(*pp)->next;
    return pp;
}

/* Adds connection |c| of its peer; returns the peer's count, 0 when out of memory. */
static size_t peer_add(rly_swarm *sw, rly_conn *c)
{
    peer_entry **pp = peer_slot(sw, &c->peer);
    if (!*pp) {
        peer_entry *e = rly_calloc(sw->mem, 1, sizeof(*e));
        if (!e)
            return 0;
        e->id = c->peer;
        *pp = e;
    }
    peer_entry *e = *pp;
    if (e->nconns == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        rly_conn **nc = rly_realloc(sw->mem, e->conns, cap * sizeof(*nc));
        if (!nc) {
            if (e->nconns == 0) {
                *pp = e->next;
                rly_free(sw->mem, e);
            }
            return 0;
        }
        e->conns = nc;
        e->cap = cap;
    }
    e->conns[e->nconns++] = c;
    return e->nconns;
}

/* Removes connection |c| of its peer; returns the remaining count. */
static size_t peer_remove(rly_swarm *sw, rly_conn *c)
{
    peer_entry **pp = peer_slot(sw, &c->peer);
    peer_entry *e = *pp;
    if (!e)
        return 0;
    for (size_t i = 0; i < e->nconns; i++) {
        if (e->conns[i] == c) {
            e->conns[i] = e->conns[--e->nconns];
            break;
        }
    }
    if (e->nconns > 0)
        return e->nconns;
    *pp = e->next;
    rly_free(sw->mem, e->conns);
    rly_free(sw->mem, e);
    return 0;
}

static const peer_entry *peer_find(const rly_swarm *sw, const rly_peerid *peer)
{
    for (const peer_entry *e = sw->peers[peer_hash(peer)]; e; e = e->next)
        if (rly_peerid_equal(&e->id, peer))
            return e;
    return NULL;
}

rly_conn *rly_swarm_find_conn(const rly_swarm *sw, const rly_peerid *peer, uint64_t conn_id)
{
    if (conn_id == 0)
        return rly_swarm_find_older_conn(sw, peer, UINT64_MAX);
    const peer_entry *e = peer_find(sw, peer);
    for (size_t i = 0; e && i < e->nconns; i++)
        if (e->conns[i]->id == conn_id)
            return e->conns[i];
    return NULL;
}

rly_conn *rly_swarm_find_older_conn(const rly_swarm *sw, const rly_peerid *peer, uint64_t below_id)
{
    const peer_entry *e = peer_find(sw, peer);
    rly_conn *best = NULL;
    for (size_t i = 0; e && i < e->nconns; i++)
        if (e->conns[i]->id < below_id && (!best || e->conns[i]->id > best->id))
            best = e->conns[i];
    return best;
}

rly_conn *const *rly_swarm_peer_conns(const rly_swarm *sw, const rly_peerid *peer, size_t *pn)
{
    const peer_entry *e = peer_find(sw, peer);
    *pn = e ? e->nconns : 0;
    return e && e->nconns ? e->conns : NULL;
}

/* One connection of a rly_swarm_foreach_conn snapshot. */
typedef struct conn_ref {
    rly_peerid peer;
    uint64_t id;
} conn_ref;

int rly_swarm_foreach_conn(rly_swarm *sw, void (*fn)(void *ud, rly_conn *c), void *ud)
{
    size_t n = 0;
    conn_ref *refs = rly_calloc(sw->mem, sw->nconns ? sw->nconns : 1, sizeof(*refs));
    if (!refs)
        return RLY_ERR_NOMEM;
    for (size_t b = 0; b < PEER_BUCKETS; b++)
        for (const peer_entry *e = sw->peers[b]; e; e = e->next)
            for (size_t i = 0; i < e->nconns && n < sw->nconns; i++)
                refs[n++] = (conn_ref){e->id, e->conns[i]->id};
    /* By reference, not pointer: |fn| may close a connection, and the transport may free it. */
    for (size_t i = 0; i < n; i++) {
        rly_conn *c = rly_swarm_find_conn(sw, &refs[i].peer, refs[i].id);
        if (c)
            fn(ud, c);
    }
    rly_free(sw->mem, refs);
    return 0;
}

void rly_swarm_tcp_stats(const rly_swarm *sw, rly_tcp_stats *out)
{
    rly_tcp_transport_stats(sw->tcp, out);
}

void rly_swarm_quic_stats(const rly_swarm *sw, rly_quic_stats *out)
{
    if (sw->quic)
        rly_quic_transport_stats(sw->quic, out);
    else
        memset(out, 0, sizeof(*out));
}

size_t rly_swarm_num_connections(const rly_swarm *sw, const rly_peerid *peer)
{
    if (!peer)
        return sw->nconns;
    const peer_entry *e = peer_find(sw, peer);
    return e ? e->nconns : 0;
}

/* ---- connection events -------------------------------------------------------------------- */

/* The endpoint as rust-libp2p's ConnectedPoint prints it, so log queries written for the Rust
 * relay keep matching. */
static void endpoint_text(const rly_conn *c, char *out, size_t cap)
{
    char local[RLY_MULTIADDR_STR_MAX], remote[RLY_MULTIADDR_STR_MAX];
    if (rly_multiaddr_to_string(&c->local, local, sizeof(local)) < 0)
        local[0] = '\0';
    if (rly_multiaddr_to_string(&c->remote, remote, sizeof(remote)) < 0)
        remote[0] = '\0';
    if (c->dir == RLY_CONN_INBOUND)
        snprintf(out, cap, "Listener { local_addr: %s, send_back_addr: %s }", local, remote);
    else
        snprintf(out, cap, "Dialer { address: %s, role_override: Dialer }", remote);
}

static void on_established(void *ud, rly_conn *c)
{
    rly_swarm *sw = ud;
    char pid[RLY_PEERID_STR_MAX], ep[2 * RLY_MULTIADDR_STR_MAX + 64];
    size_t n = peer_add(sw, c);
    if (n == 0) {
        rly_conn_close(c, RLY_ERR_NOMEM, "out of memory");
        return;
    }
    sw->nconns++;
    c->swarm_data = sw;
    if (rly_log_enabled(sw->log, RLY_LOG_INFO)) {
        if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
            pid[0] = '\0';
        endpoint_text(c, ep, sizeof(ep));
        RLY_LOGI(sw->log, RLY_TARGET_EVENTS, RLY_MSG("ConnectionEstablished"),
                 RLY_F_STR("peer_id", pid), RLY_F_STR("endpoint", ep),
                 RLY_F_U64("num_established", n), RLY_F_U64("conn_id", c->id),
                 RLY_F_STR("transport", c->transport));
    }
    if (sw->observer.on_established)
        sw->observer.on_established(sw->observer.ud, c, n);
}

static void on_closed(void *ud, rly_conn *c, int err, const char *cause)
{
    rly_swarm *sw = ud;
    char pid[RLY_PEERID_STR_MAX];
    if (!c->swarm_data)
        return; /* never registered (out of memory in on_established) */
    size_t remaining = peer_remove(sw, c);
    sw->nconns--;
    if (rly_log_enabled(sw->log, RLY_LOG_INFO)) {
        if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
            pid[0] = '\0';
        RLY_LOGI(sw->log, RLY_TARGET_EVENTS, RLY_MSG("ConnectionClosed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("cause", cause ? cause : "closed"), RLY_F_U64("remaining", remaining),
                 RLY_F_U64("conn_id", c->id), RLY_F_STR("error", err ? rly_strerror(err) : "none"));
    }
    if (sw->observer.on_closed)
        sw->observer.on_closed(sw->observer.ud, c, remaining, err, cause ? cause : "closed");
}

/* ---- multistream-select on streams ---------------------------------------------------------- */

typedef struct negotiation {
    rly_swarm *sw;
    rly_mem *mem; /* the connection's account */
    rly_mss *mss;
    const char *proto[1]; /* dialer: the protocol to propose (borrowed by mss) */
    rly_swarm_open_cb cb; /* outbound only */
    void *cb_ud;
    swarm_deadline deadline; /* inbound: the peer must agree on a protocol in time */
} negotiation;

static const route *find_route(const rly_swarm *sw, const char *p, size_t len)
{
    for (size_t i = 0; i < sw->nroutes; i++)
        if (strlen(sw->routes[i].protocol) == len && memcmp(sw->routes[i].protocol, p, len) == 0)
            return &sw->routes[i];
    return NULL;
}

static int router_select(void *ud, const char *proto, size_t len)
{
    return find_route(ud, proto, len) != NULL;
}

static void neg_free(negotiation *n)
{
    rly_swarm_deadline_stop(n->sw, &n->deadline);
    rly_mss_del(n->mss);
    rly_free(n->mem, n);
}

/* Writes pending multistream output to |s|. These messages are tiny next to a stream window:
 * a short write means the stream is gone or broken. */
static int neg_flush(negotiation *n, rly_stream *s)
{
    uint8_t buf[RLY_MSS_MAX_MSG * 2 + 64];
    while (rly_mss_want_write(n->mss)) {
        rly_ssize len = rly_mss_send(n->mss, buf, sizeof(buf));
        if (len <= 0)
            return len < 0 ? (int)len : 0;
        if (rly_stream_write(s, buf, (size_t)len) != len)
            return RLY_ERR_NOBUF;
    }
    return 0;
}

static void neg_on_close(rly_stream *s, void *ud, int err);

/* Negotiation finished: hand the stream and the bytes after the protocol line to the owner. */
static void neg_done(negotiation *n, rly_stream *s, const uint8_t *rest, size_t restlen)
{
    size_t plen;
    const char *p = rly_mss_protocol(n->mss, &plen);
    rly_swarm *sw = n->sw;
    rly_stream_set_handler(s, NULL, NULL);
    if (n->cb) {
        rly_swarm_open_cb cb = n->cb;
        void *cb_ud = n->cb_ud;
        s->protocol = n->proto[0]; /* the dialer agrees on its one proposal */
        neg_free(n);
        cb(cb_ud, s, 0, rest, restlen);
        return;
    }
    const route *r = find_route(sw, p, plen);
    s->protocol = r ? r->protocol : NULL;
    neg_free(n);
    if (!r) { /* cannot happen: the listener only agrees to routed protocols */
        (void)rly_stream_reset(s);
        return;
    }
    r->fn(sw, s, r->ud, rest, restlen);
}

static void neg_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    negotiation *n = ud;
    rly_ssize used = rly_mss_recv(n->mss, data, len);
    int rv = used < 0 ? (int)used : neg_flush(n, s);
    if (rv == 0 && used > 0)
        rv = rly_stream_consume(s, (size_t)used);
    if (rv == 0) {
        switch (rly_mss_get_state(n->mss)) {
        case RLY_MSS_NEGOTIATING: return;
        case RLY_MSS_DONE: neg_done(n, s, data + used, len - (size_t)used); return;
        case RLY_MSS_REFUSED:
        case RLY_MSS_FAILED: rv = RLY_ERR_NEGOTIATION; break;
        }
    }
    RLY_LOGD(n->sw->log, RLY_TARGET_SWARM, RLY_MSG("Stream negotiation failed"),
             RLY_F_U64("conn_id", s->conn->id), RLY_F_U64("stream_id", s->id),
             RLY_F_STR("error", rly_strerror(rv)));
    (void)rly_stream_reset(s); /* neg_on_close frees |n| */
}

static void neg_on_fin(rly_stream *s, void *ud)
{
    (void)rly_stream_reset(s); /* closed before agreeing on a protocol */
}

static void neg_on_close(rly_stream *s, void *ud, int err)
{
    negotiation *n = ud;
    rly_swarm_open_cb cb = n->cb;
    void *cb_ud = n->cb_ud;
    neg_free(n);
    if (cb)
        cb(cb_ud, NULL, err ? err : RLY_ERR_NEGOTIATION, NULL, 0);
}

static const rly_stream_handler neg_handler = {
    .on_data = neg_on_data,
    .on_fin = neg_on_fin,
    .on_close = neg_on_close,
};

/* Starts multistream-select on |s|, which it takes: on failure |s| is reset (no callback). */
static int neg_start(rly_swarm *sw, rly_stream *s, rly_mss_role role, const char *proto,
                     const uint8_t *early, size_t early_len, rly_swarm_open_cb cb, void *ud)
{
    rly_mss_settings st;
    rly_mem *mem = rly_swarm_stream_mem(sw, s->conn);
    negotiation *n = rly_calloc(mem, 1, sizeof(*n));
    if (!n) {
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s); /* else it lingers, unowned, until the connection closes */
        return RLY_ERR_NOMEM;
    }
    n->sw = sw;
    n->mem = mem;
    n->cb = cb;
    n->cb_ud = ud;
    rly_mss_settings_default(&st);
    st.select = router_select;
    st.user_data = sw;
    n->proto[0] = proto;
    st.protocols = n->proto;
    st.nprotocols = proto ? 1 : 0;
    int rv = rly_mss_new(&n->mss, role, &st, mem);
    if (rv != 0) {
        rly_free(mem, n);
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s);
        return rv;
    }
    rly_stream_set_handler(s, &neg_handler, n);
    if (role == RLY_MSS_LISTENER)
        rly_swarm_deadline_start(sw, &n->deadline, s, SWARM_DEADLINE_STREAM,
                                 "protocol negotiation");
    rv = neg_flush(n, s);
    /* Tiny next to a stream's window, as the negotiation's own messages: a short write means
     * the stream is gone or broken. */
    if (rv == 0 && early_len > 0 && rly_stream_write(s, early, early_len) != (rly_ssize)early_len)
        rv = RLY_ERR_NOBUF;
    if (rv != 0) {
        n->cb = NULL; /* the caller learns it from the return value */
        (void)rly_stream_reset(s);
    }
    return rv;
}

static void on_stream(void *ud, rly_conn *c, rly_stream *s)
{
    rly_swarm *sw = ud;
    /* Over the process's memory budget ([limits] max_memory_mb): counted, logged by the server
     * once per interval. */
    if (!rly_mem_admit(sw->mem, RLY_MEM_WORK_STREAM)) {
        (void)rly_stream_reset(s);
        return;
    }
    if (neg_start(sw, s, RLY_MSS_LISTENER, NULL, NULL, 0, NULL, NULL) != 0)
        RLY_LOGD(sw->log, RLY_TARGET_SWARM, RLY_MSG("Inbound stream refused"),
                 RLY_F_U64("conn_id", c->id), RLY_F_STR("error", "out of memory"));
}

int rly_swarm_open_stream(rly_swarm *sw, rly_conn *c, const char *protocol, rly_swarm_open_cb cb,
                          void *ud)
{
    return rly_swarm_open_stream_early(sw, c, protocol, NULL, 0, cb, ud);
}

int rly_swarm_open_stream_early(rly_swarm *sw, rly_conn *c, const char *protocol,
                                const uint8_t *early, size_t len, rly_swarm_open_cb cb, void *ud)
{
    rly_stream *s;
    int rv = rly_conn_open_stream(c, &s);
    if (rv != 0)
        return rv;
    return neg_start(sw, s, RLY_MSS_DIALER, protocol, early, len, cb, ud);
}

/* ---- stream deadlines, on the swarm's timer queue ---------------------------------------------
 */

static void on_stream_deadline(rly_timer *timer, void *ud)
{
    rly_swarm *sw = ud;
    swarm_deadline *t = (swarm_deadline *)timer;
    rly_stream *s = t->s;
    RLY_LOGD(sw->log, RLY_TARGET_SWARM, RLY_MSG("Stream deadline passed, resetting it"),
             RLY_F_U64("conn_id", s->conn->id), RLY_F_U64("stream_id", s->id),
             RLY_F_STR("waiting_for", t->what),
             RLY_F_U64("timeout_ms", sw->delays[t->kind] / RLY_NS_PER_MS));
    (void)rly_stream_reset(s); /* its on_close frees |t| */
}

void rly_swarm_deadline_start(rly_swarm *sw, swarm_deadline *t, rly_stream *s,
                              swarm_deadline_kind kind, const char *what)
{
    rly_swarm_deadline_stop(sw, t);
    rly_timerq_timer_init(&t->timer, on_stream_deadline, sw);
    t->s = s;
    t->what = what;
    t->kind = (uint8_t)kind;
    rly_timerq_start(&sw->timers, &t->timer, rly_timerq_now(&sw->timers) + sw->delays[kind]);
}

void rly_swarm_deadline_stop(rly_swarm *sw, swarm_deadline *t)
{
    rly_timerq_stop(&sw->timers, &t->timer);
}

/* ---- set-up and teardown ------------------------------------------------------------------ */

int rly_swarm_add_protocol(rly_swarm *sw, const char *protocol, rly_swarm_stream_fn fn, void *ud)
{
    if (sw->nroutes >= RLY_SWARM_MAX_PROTOCOLS)
        return RLY_ERR_LIMIT;
    sw->routes[sw->nroutes++] = (route){protocol, fn, ud};
    return 0;
}

void rly_swarm_set_observer(rly_swarm *sw, const rly_swarm_observer *obs)
{
    if (obs)
        sw->observer = *obs;
    else
        memset(&sw->observer, 0, sizeof(sw->observer));
}

int rly_swarm_set_advertised_addrs(rly_swarm *sw, const rly_multiaddr *addrs, size_t n,
                                   uint64_t seq)
{
    rly_peer_record rec;
    if (n > RLY_SWARM_MAX_ADDRS)
        return RLY_ERR_INVALID_ARG;
    memcpy(sw->addrs, addrs, n * sizeof(*addrs));
    sw->naddrs = n;
    memset(&rec, 0, sizeof(rec));
    rec.peer = sw->local;
    rec.seq = seq;
    rec.naddrs = n;
    memcpy(rec.addrs, addrs, n * sizeof(*addrs));
    rly_dynbuf_reset(&sw->peer_record);
    return rly_peer_record_seal(&sw->kp, &rec, &sw->peer_record);
}

const rly_multiaddr *rly_swarm_advertised_addrs(const rly_swarm *sw, size_t *pn)
{
    *pn = sw->naddrs;
    return sw->addrs;
}

const rly_keypair *rly_swarm_keypair(const rly_swarm *sw)
{
    return &sw->kp;
}

uv_loop_t *rly_swarm_loop(const rly_swarm *sw)
{
    return sw->loop;
}

rly_timerq *rly_swarm_timers(rly_swarm *sw)
{
    return &sw->timers;
}

/* ---- the timer queue on the loop ------------------------------------------------------------ */

/* Due timers run in batches of this many per libuv timer callback, so a burst of deadlines
 * cannot hold the loop away from its sockets. */
#define TIMERS_PER_TICK 1024

static rly_tstamp loop_now(void *ud)
{
    return rly_tcp_now();
}

static void on_clock(uv_timer_t *t);

/* Arms the one libuv timer for the queue's first deadline. libuv counts from its cached loop
 * time, which may lag the clock: it can fire a little early, and on_clock then re-arms. */
static void clock_arm(rly_swarm *sw)
{
    rly_tstamp next = rly_timerq_next(&sw->timers);
    if (next == RLY_TSTAMP_MAX || uv_is_closing((uv_handle_t *)&sw->clock))
        uv_timer_stop(&sw->clock);
    else
        uv_timer_start(&sw->clock, on_clock, rly_tstamp_ms_until(next, rly_tcp_now()), 0);
}

static void on_earlier(void *ud, rly_tstamp when)
{
    clock_arm(ud);
}

static void on_clock(uv_timer_t *t)
{
    rly_swarm *sw = t->data;
    (void)rly_timerq_run(&sw->timers, rly_tcp_now(), TIMERS_PER_TICK);
    clock_arm(sw);
}

int rly_swarm_upgrade_stream(rly_swarm *sw, rly_stream *s, rly_conn_dir dir,
                             const rly_peerid *expected, const rly_multiaddr *remote,
                             const uint8_t *rest, size_t restlen, rly_swarm_dial_cb cb, void *ud)
{
    return rly_tcp_transport_upgrade_stream(sw->tcp, s, dir, expected, remote, rest, restlen, cb,
                                            ud);
}

const rly_peerid *rly_swarm_local_peer(const rly_swarm *sw)
{
    return &sw->local;
}

int rly_swarm_listen_tcp(rly_swarm *sw, const struct sockaddr *sa, int *puv_err)
{
    return rly_tcp_transport_listen(sw->tcp, sa, puv_err);
}

/* The QUIC transport, created when first needed: it makes a certificate and holds a receive
 * buffer and a connection-ID table, which a swarm that never speaks QUIC (a TCP-only client, one
 * of the benchmark's thousands of identities) should not pay for. */
static int quic_get(rly_swarm *sw)
{
    if (sw->quic)
        return 0;
    return rly_quic_transport_new(&sw->quic, sw->loop, &sw->quic_settings, &sw->kp, &sw->events, sw,
                                  sw->log, sw->mem);
}

int rly_swarm_listen_quic(rly_swarm *sw, const struct sockaddr *sa, int *puv_err)
{
    int rv = quic_get(sw);
    return rv ? rv : rly_quic_transport_listen(sw->quic, sa, puv_err);
}

size_t rly_swarm_listen_addrs(const rly_swarm *sw, rly_multiaddr *out, size_t cap)
{
    size_t n = rly_tcp_transport_listen_addrs(sw->tcp, out, cap);
    if (sw->quic)
        n += rly_quic_transport_listen_addrs(sw->quic, out + n, cap - n);
    return n;
}

int rly_swarm_dial(rly_swarm *sw, const rly_multiaddr *ma, rly_swarm_dial_cb cb, void *ud)
{
    if (rly_multiaddr_has(ma, RLY_MA_QUIC_V1)) {
        int rv = quic_get(sw);
        return rv ? rv : rly_quic_transport_dial(sw->quic, ma, cb, ud);
    }
    return rly_tcp_transport_dial(sw->tcp, ma, cb, ud);
}

static int identity_setup(rly_swarm *sw, const rly_keypair *kp)
{
    rly_pubkey pk;
    sw->kp = *kp;
    rly_keypair_public(kp, &pk);
    rly_ssize n = rly_pubkey_encode(&pk, sw->pubkey_pb, sizeof(sw->pubkey_pb));
    if (n < 0)
        return (int)n;
    sw->pubkey_pb_len = (size_t)n;
    int rv = rly_keypair_peerid(kp, &sw->local);
    return rv ? rv : rly_noise_identity_new(&sw->noise_id, kp, NULL, sw->mem);
}

int rly_swarm_new(rly_swarm **psw, uv_loop_t *loop, const rly_keypair *kp,
                  const rly_swarm_settings *settings, const rly_log *log, rly_mem *mem)
{
    rly_swarm *sw = rly_calloc(mem, 1, sizeof(*sw));
    if (!sw)
        return RLY_ERR_NOMEM;
    sw->loop = loop;
    sw->settings = *settings;
    sw->log = log;
    sw->mem = mem;
    sw->events = (rly_conn_events){on_established, on_stream, on_closed};
    rly_dynbuf_init(&sw->peer_record, mem, RLY_ENVELOPE_MAX);
    rly_timerq_clock clock = {.now = loop_now, .on_earlier = on_earlier, .ud = sw};
    rly_timerq_init(&sw->timers, &clock);
    int rv = identity_setup(sw, kp);
    sw->quic_settings = settings->quic;
    if (sw->quic_settings.stream_window == 0)
        rly_quic_settings_default(&sw->quic_settings);
    if (rv == 0)
        rv = rly_tcp_transport_new(&sw->tcp, loop, &settings->tcp, sw->noise_id, &sw->events, sw,
                                   log, mem);
    if (rv == 0)
        rv = rly_swarm_services_register(sw);
    sw->delays[SWARM_DEADLINE_STREAM] =
        settings->stream_timeout ? settings->stream_timeout : RLY_SWARM_STREAM_TIMEOUT;
    sw->delays[SWARM_DEADLINE_PING] =
        settings->ping_timeout ? settings->ping_timeout : RLY_PING_IDLE_TIMEOUT;
    if (rv != 0) {
        rly_noise_identity_del(sw->noise_id);
        rly_keypair_wipe(&sw->kp);
        rly_dynbuf_free(&sw->peer_record);
        rly_free(mem, sw);
        return rv;
    }
    uv_timer_init(loop, &sw->clock);
    sw->clock.data = sw;
    *psw = sw;
    return 0;
}

static void clock_closed(uv_handle_t *h)
{
    rly_swarm *sw = h->data;
    rly_swarm_closed_cb cb = sw->closed_cb;
    void *cb_ud = sw->closed_ud;
    for (size_t i = 0; i < PEER_BUCKETS; i++) {
        while (sw->peers[i]) {
            peer_entry *e = sw->peers[i];
            sw->peers[i] = e->next;
            rly_free(sw->mem, e->conns);
            rly_free(sw->mem, e);
        }
    }
    rly_noise_identity_del(sw->noise_id);
    rly_keypair_wipe(&sw->kp);
    rly_dynbuf_free(&sw->peer_record);
    rly_free(sw->mem, sw);
    if (cb)
        cb(cb_ud);
}

/* The transports are closed: every connection and stream is gone, and with them the timers of
 * the layers above that belonged to them. The clock goes last. */
static void transport_closed(void *ud)
{
    rly_swarm *sw = ud;
    if (--sw->open_transports > 0)
        return;
    uv_close((uv_handle_t *)&sw->clock, clock_closed);
}

void rly_swarm_close(rly_swarm *sw, rly_swarm_closed_cb cb, void *ud)
{
    sw->closed_cb = cb;
    sw->closed_ud = ud;
    sw->open_transports = sw->quic ? 2 : 1;
    rly_tcp_transport_close(sw->tcp, transport_closed, sw);
    if (sw->quic)
        rly_quic_transport_close(sw->quic, transport_closed, sw);
}
