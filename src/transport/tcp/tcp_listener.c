#include "transport/tcp/tcp_listener.h"

#include <string.h>

/* One accepted connection. Freed in its close callback, never earlier (libuv handle rules). */
typedef struct tcp_conn {
    uv_tcp_t handle;
    struct tcp_conn *prev, *next;
    rly_tcp_listener *listener;
    uint64_t id;
} tcp_conn;

struct rly_tcp_listener {
    uv_tcp_t handle;
    const rly_log *log;
    rly_mem *mem;
    tcp_conn *conns; /* doubly linked list of open connections */
    size_t nconns;
    size_t pending_closes; /* handles whose close callback has not run yet */
    uint64_t next_id;
    bool closing;
    rly_tcp_listener_closed_cb closed_cb;
    void *closed_ud;
    /* Scratch space for reads: the bytes are discarded, so one buffer serves every connection. */
    char scratch[16384];
};

static void maybe_free(rly_tcp_listener *l)
{
    if (!l->closing || l->pending_closes > 0)
        return;
    rly_tcp_listener_closed_cb cb = l->closed_cb;
    void *ud = l->closed_ud;
    rly_free(l->mem, l);
    if (cb)
        cb(ud);
}

static void conn_closed(uv_handle_t *h)
{
    tcp_conn *c = h->data;
    rly_tcp_listener *l = c->listener;
    rly_free(l->mem, c);
    l->pending_closes--;
    maybe_free(l);
}

static void conn_close(tcp_conn *c, const char *reason)
{
    rly_tcp_listener *l = c->listener;
    if (uv_is_closing((uv_handle_t *)&c->handle))
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nconns--;
    RLY_LOGD(l->log, "relay_server::transport", RLY_MSG("Connection closed"),
             RLY_F_U64("conn_id", c->id), RLY_F_STR("reason", reason));
    l->pending_closes++;
    uv_close((uv_handle_t *)&c->handle, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tcp_conn *c = h->data;
    buf->base = c->listener->scratch;
    buf->len = sizeof(c->listener->scratch);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tcp_conn *c = s->data;
    if (nread == UV_EOF)
        conn_close(c, "remote closed");
    else if (nread < 0)
        conn_close(c, uv_err_name((int)nread));
}

static void log_accepted(rly_tcp_listener *l, tcp_conn *c)
{
    struct sockaddr_storage ss;
    char host[64] = "?";
    int len = sizeof(ss);
    int port = 0;
    if (!rly_log_enabled(l->log, RLY_LOG_DEBUG))
        return;
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    RLY_LOGD(l->log, "relay_server::transport", RLY_MSG("Inbound connection"),
             RLY_F_U64("conn_id", c->id), RLY_F_STR("remote_ip", host),
             RLY_F_U64("remote_port", port));
}

static void on_connection(uv_stream_t *server, int status)
{
    rly_tcp_listener *l = server->data;
    if (status < 0 || l->closing) {
        RLY_LOGW(l->log, "relay_server::transport", RLY_MSG("Accept failed"),
                 RLY_F_STR("error", uv_strerror(status)));
        return;
    }
    tcp_conn *c = rly_calloc(l->mem, 1, sizeof(*c));
    if (!c || uv_tcp_init(server->loop, &c->handle) != 0) {
        /* Leave the connection in the backlog: libuv will report it again. */
        rly_free(l->mem, c);
        RLY_LOGW(l->log, "relay_server::transport", RLY_MSG("Accept failed"),
                 RLY_F_STR("error", "out of memory"));
        return;
    }
    c->handle.data = c;
    c->listener = l;
    c->id = ++l->next_id;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
        conn_close(c, "accept failed");
        return;
    }
    log_accepted(l, c);
    if (uv_read_start((uv_stream_t *)&c->handle, conn_alloc, conn_read) != 0)
        conn_close(c, "read failed");
}

static void listener_closed(uv_handle_t *h)
{
    rly_tcp_listener *l = h->data;
    l->pending_closes--;
    maybe_free(l);
}

static void listener_abort(uv_handle_t *h)
{
    rly_tcp_listener *l = h->data;
    rly_free(l->mem, l);
}

int rly_tcp_listener_new(rly_tcp_listener **pl, uv_loop_t *loop, const struct sockaddr *sa,
                         const rly_log *log, rly_mem *mem, int *puv_err)
{
    int uverr;
    rly_tcp_listener *l = rly_calloc(mem, 1, sizeof(*l));
    if (!l)
        return RLY_ERR_NOMEM;
    l->log = log;
    l->mem = mem;
    uverr = uv_tcp_init(loop, &l->handle);
    if (uverr != 0) {
        rly_free(mem, l);
        goto fail;
    }
    l->handle.data = l;
    uverr = uv_tcp_bind(&l->handle, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (uverr == 0)
        uverr = uv_listen((uv_stream_t *)&l->handle, RLY_TCP_BACKLOG, on_connection);
    if (uverr != 0) {
        /* The handle is initialised: it may only be freed from its close callback. Run the
         * loop once so the caller gets "nothing left to free" synchronously. */
        uv_close((uv_handle_t *)&l->handle, listener_abort);
        uv_run(loop, UV_RUN_NOWAIT);
        goto fail;
    }
    *pl = l;
    return 0;
fail:
    if (puv_err)
        *puv_err = uverr;
    return uverr == UV_EADDRINUSE ? RLY_ERR_ADDR_IN_USE : RLY_ERR_IO;
}

int rly_tcp_listener_addr(const rly_tcp_listener *l, struct sockaddr_storage *ss)
{
    int len = sizeof(*ss);
    return uv_tcp_getsockname(&l->handle, (struct sockaddr *)ss, &len) == 0 ? 0 : RLY_ERR_IO;
}

size_t rly_tcp_listener_nconns(const rly_tcp_listener *l)
{
    return l->nconns;
}

void rly_tcp_listener_close(rly_tcp_listener *l, rly_tcp_listener_closed_cb cb, void *user_data)
{
    l->closing = true;
    l->closed_cb = cb;
    l->closed_ud = user_data;
    while (l->conns)
        conn_close(l->conns, "shutdown");
    l->pending_closes++;
    uv_close((uv_handle_t *)&l->handle, listener_closed);
}
