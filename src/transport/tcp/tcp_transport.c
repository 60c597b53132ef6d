/* tcp_transport.c: listeners, dials, connection bookkeeping and the deferred flush of dirty
 * connections. The per-connection pipeline is in tcp_conn.c. */
#include "transport/tcp/tcp_internal.h"

#include <string.h>

void rly_tcp_settings_default(rly_tcp_settings *s)
{
    s->handshake_timeout = 10 * RLY_NS_PER_S;
    s->handshake_idle_timeout = 5 * RLY_NS_PER_S;
    s->max_pending_handshakes = 256;
    s->max_pending_per_ip = 32;
    s->write_timeout = 30 * RLY_NS_PER_S;
    s->max_connections = 10000;
    s->keepalive_interval = 30 * RLY_NS_PER_S;
    s->yamux_window = RLY_YAMUX_INITIAL_WINDOW;
    s->max_inbound_streams = 256;
    s->max_conn_memory = RLY_TCP_CONN_MEMORY;
}

rly_tstamp rly_tcp_now(void)
{
    return uv_hrtime();
}

/* The idle handle runs once per loop iteration while connections are queued (flushq.h). Each
 * turn flushes the connections queued when it starts, once each: one that queues itself again
 * while flushed (its socket took a whole batch and Yamux has more) waits for the next turn, after
 * the reads and timers of this one, instead of being popped again at once until its Yamux queue is
 * empty. */
static void on_idle(uv_idle_t *h)
{
    rly_tcp_transport *t = h->data;
    rly_flushq_node *n;
    t->draining = t->dirty;
    t->dirty.head = NULL;
    while ((n = rly_flushq_pop(&t->draining)) != NULL)
        rly_tcp_conn_flush(RLY_FLUSHQ_OWNER(n, tcp_conn, flush));
    if (!t->dirty.head)
        uv_idle_stop(&t->idle);
}

void rly_tcp_transport_mark_dirty(rly_tcp_transport *t, tcp_conn *c)
{
    if (c->is_closed)
        return;
    rly_flushq_push(&t->dirty, &c->flush);
    if (!uv_is_active((uv_handle_t *)&t->idle))
        uv_idle_start(&t->idle, on_idle);
}

void rly_tcp_transport_unmark_dirty(rly_tcp_transport *t, tcp_conn *c)
{
    if (!rly_flushq_remove(&t->dirty, &c->flush))
        (void)rly_flushq_remove(&t->draining, &c->flush);
}

void rly_tcp_transport_link(rly_tcp_transport *t, tcp_conn *c)
{
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
}

void rly_tcp_transport_unlink(rly_tcp_transport *t, tcp_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void handle_closed(uv_handle_t *h);

/* Once closing and every connection is gone: close the idle handle (kept until now so that
 * connections can still flush their GoAway), then free the transport when libuv is done. */
static void maybe_finish_close(rly_tcp_transport *t)
{
    if (!t->is_closing || t->conns)
        return;
    if (!uv_is_closing((uv_handle_t *)&t->idle)) {
        uv_close((uv_handle_t *)&t->idle, handle_closed);
        return;
    }
    if (t->open_handles > 0)
        return;
    rly_tcp_closed_cb cb = t->closed_cb;
    void *ud = t->closed_ud;
    rly_free(t->mem, t->read_buf);
    rly_pending_free(&t->pending);
    rly_free(t->mem, t);
    if (cb)
        cb(ud);
}

void rly_tcp_transport_conn_freed(rly_tcp_transport *t)
{
    maybe_finish_close(t);
}

static void handle_closed(uv_handle_t *h)
{
    rly_tcp_transport *t = h->data;
    t->open_handles--;
    maybe_finish_close(t);
}

/* The deferred connections of the last turn: one from each listener that has one (uv_accept
 * watches the listener again, and the rest come from the poll). */
static void on_accept_timer(uv_timer_t *h)
{
    rly_tcp_transport *t = h->data;
    t->accept_turn = uv_now(t->loop);
    t->accepts = 0;
    for (size_t i = 0; i < t->nlisteners; i++) {
        if (!t->accept_deferred[i] || t->is_closing)
            continue;
        t->accept_deferred[i] = false;
        t->accepts++;
        rly_tcp_conn_accept(t, (uv_stream_t *)&t->listeners[i]);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    rly_tcp_transport *t = server->data;
    if (status < 0 || t->is_closing) {
        RLY_LOGW(t->log, RLY_TARGET_TRANSPORT, RLY_MSG("Accept failed"),
                 RLY_F_STR("error", uv_strerror(status)));
        return;
    }
    if (uv_now(t->loop) != t->accept_turn) {
        t->accept_turn = uv_now(t->loop);
        t->accepts = 0;
    }
    if (t->accepts >= RLY_TCP_ACCEPTS_PER_TURN) {
        /* Not taken: libuv holds it and stops watching this listener until uv_accept. */
        t->accept_deferred[(uv_tcp_t *)server - t->listeners] = true;
        if (!uv_is_active((uv_handle_t *)&t->accept_timer))
            (void)uv_timer_start(&t->accept_timer, on_accept_timer, 0, 0);
        return;
    }
    t->accepts++;
    rly_tcp_conn_accept(t, server);
}

static void listener_abort_closed(uv_handle_t *h)
{
    rly_tcp_transport *t = h->data;
    t->open_handles--;
}

int rly_tcp_transport_listen(rly_tcp_transport *t, const struct sockaddr *sa, int *puv_err)
{
    if (t->nlisteners >= RLY_TCP_MAX_LISTENERS)
        return RLY_ERR_LIMIT;
    uv_tcp_t *l = &t->listeners[t->nlisteners];
    int uverr = uv_tcp_init(t->loop, l);
    if (uverr == 0) {
        l->data = t;
        t->open_handles++;
        uverr = uv_tcp_bind(l, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
        if (uverr == 0)
            uverr = uv_listen((uv_stream_t *)l, RLY_TCP_BACKLOG, on_connection);
        if (uverr != 0) {
            uv_close((uv_handle_t *)l, listener_abort_closed);
            uv_run(t->loop, UV_RUN_NOWAIT);
        }
    }
    if (uverr != 0) {
        if (puv_err)
            *puv_err = uverr;
        return uverr == UV_EADDRINUSE ? RLY_ERR_ADDR_IN_USE : RLY_ERR_IO;
    }
    t->nlisteners++;
    return 0;
}

size_t rly_tcp_transport_listen_addrs(const rly_tcp_transport *t, rly_multiaddr *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nlisteners && n < cap; i++) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getsockname(&t->listeners[i], (struct sockaddr *)&ss, &len) == 0 &&
            rly_multiaddr_from_sockaddr(&out[n], (struct sockaddr *)&ss, RLY_MA_TCP, false) == 0)
            n++;
    }
    return n;
}

int rly_tcp_transport_new(rly_tcp_transport **pt, uv_loop_t *loop, const rly_tcp_settings *settings,
                          const rly_noise_identity *id, const rly_conn_events *events,
                          void *events_ud, const rly_log *log, rly_mem *mem)
{
    if (settings->yamux_window < RLY_YAMUX_INITIAL_WINDOW ||
        settings->yamux_window > RLY_YAMUX_MAX_WINDOW)
        return RLY_ERR_INVALID_ARG;
    rly_tcp_transport *t = rly_calloc(mem, 1, sizeof(*t));
    if (!t)
        return RLY_ERR_NOMEM;
    t->loop = loop;
    t->settings = *settings;
    t->noise_id = id;
    t->events = events;
    t->events_ud = events_ud;
    t->log = log;
    t->mem = mem;
    int rv = rly_pending_init(&t->pending, settings->max_pending_handshakes,
                              settings->max_pending_per_ip, mem);
    if (rv == 0 && uv_idle_init(loop, &t->idle) != 0)
        rv = RLY_ERR_IO;
    if (rv != 0) {
        rly_free(mem, t);
        return rv;
    }
    int uverr = uv_timer_init(loop, &t->accept_timer); /* cannot fail */
    RLY_ASSERT(uverr == 0);
    t->idle.data = t->accept_timer.data = t;
    t->open_handles = 2;
    *pt = t;
    return 0;
}

int rly_tcp_transport_upgrade_stream(rly_tcp_transport *t, rly_stream *s, rly_conn_dir dir,
                                     const rly_peerid *expected, const rly_multiaddr *remote,
                                     const uint8_t *rest, size_t restlen, rly_tcp_dial_cb cb,
                                     void *ud)
{
    if (t->is_closing || (dir == RLY_CONN_OUTBOUND && !expected)) {
        /* |s| is ours now: the caller's handler (whose state may be gone) hears nothing more. */
        rly_stream_set_handler(s, NULL, NULL);
        (void)rly_stream_reset(s);
        return t->is_closing ? RLY_ERR_CLOSED : RLY_ERR_INVALID_ARG;
    }
    return rly_tcp_conn_over_stream(t, s, dir, expected, remote, rest, restlen, cb, ud);
}

void rly_tcp_transport_stats(const rly_tcp_transport *t, rly_tcp_stats *out)
{
    *out = t->stats;
    out->pending = t->npending;
    out->evicted_per_ip = t->pending.evicted[RLY_PENDING_PER_GROUP];
    out->evicted_total = t->pending.evicted[RLY_PENDING_TOTAL];
}

size_t rly_tcp_transport_num_connections(const rly_tcp_transport *t)
{
    return t->nestablished;
}

int rly_tcp_transport_dial(rly_tcp_transport *t, const rly_multiaddr *ma, rly_tcp_dial_cb cb,
                           void *ud)
{
    if (t->is_closing)
        return RLY_ERR_CLOSED;
    return rly_tcp_conn_dial(t, ma, cb, ud);
}

void rly_tcp_transport_close(rly_tcp_transport *t, rly_tcp_closed_cb cb, void *ud)
{
    t->is_closing = true;
    t->closed_cb = cb;
    t->closed_ud = ud;
    for (size_t i = 0; i < t->nlisteners; i++)
        uv_close((uv_handle_t *)&t->listeners[i], handle_closed);
    uv_close((uv_handle_t *)&t->accept_timer, handle_closed);
    for (tcp_conn *c = t->conns, *next; c; c = next) {
        next = c->next;
        rly_tcp_conn_shutdown(c, "shutdown");
    }
    maybe_finish_close(t);
}
