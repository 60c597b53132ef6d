/* httpd.c: the request-head parser (sans I/O) and the small HTTP/1.1 server on the libuv loop
 * (httpd.h).
 *
 * A connection lives through: reading the head into its fixed buffer (RLY_HTTPD_HEAD_MAX bytes,
 * re-parsed from the start after every read), one answer (the handler's, or 400/405/431), the
 * write, a shutdown of the write side, and then, still reading and dropping whatever the client
 * sends, its end of stream. Reading to the end keeps unread bytes out of the socket at close,
 * where the kernel would answer them with a reset that can destroy the response on its way. One
 * timer bounds each phase: RLY_HTTPD_FIRST_BYTE_MS for the first byte, RLY_HTTPD_TIMEOUT_MS from
 * the accept for the whole head, as long again for the answer to be written and the client to
 * close.
 *
 * Admission (httpd.h): every accepted connection is admitted; when that puts a group over its
 * cap (its address, the addresses other than localhost, all), the group's stalest connection is
 * closed. The list is newest first, so the stalest is the group's last open member. Closed
 * connections are freed at the loop's next close phase; at most RLY_HTTPD_MAX_CONNS plus one
 * backlog of them exist at once (HTTPD_CONNS_HARD_MAX), more are refused at accept.
 *
 * Handles: the listener, the spare handle (while it closes a refused connection) and each
 * connection (its socket and timer together) count as one in |open_handles|; the last release
 * after rly_httpd_close frees the server. */
#include "app/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/cidr.h"

#define RLY_TARGET_HTTP "relay_server::http"

#define HTTPD_BACKLOG 128
/* Most connections taken in one loop turn (as RLY_TCP_ACCEPTS_PER_TURN): a connect flood on the
 * HTTP port cannot hold the loop; the rest wait in the kernel's queue for the next turn. */
#define HTTPD_ACCEPTS_PER_TURN 16
#define HTTPD_CONNS_HARD_MAX (RLY_HTTPD_MAX_CONNS + HTTPD_BACKLOG)
#define HTTPD_BODY_MAX (4u * 1024u * 1024u)
#define HTTPD_RESP_HEAD_MAX 1024
#define HTTPD_DEFAULT_TYPE "text/plain; charset=utf-8"
#define HTTPD_ADDR_MAX (INET6_ADDRSTRLEN + 8) /* "[addr]:port" */

/* ---- the request head parser (RFC 9112 2.2, 3, 5) ------------------------------------------ */

/* tchar (RFC 9110 5.6.2): the characters of a method or a header name. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A header value byte: visible ASCII, space or tab (no obs-text, no controls). */
static bool is_value_char(uint8_t c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\t';
}

/* The request line "METHOD SP /target SP HTTP/1.x", |n| bytes without its line end. A line not
 * |complete| yet is checked as far as it goes: 0 while it can still become valid. Fills |req|
 * once the line is complete and valid. */
static int request_line(const uint8_t *p, size_t n, bool complete, rly_http_request *req)
{
    static const char version[] = "HTTP/1.";
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    size_t mlen = i;
    if (i == n)
        return complete ? RLY_ERR_MALFORMED : 0;
    if (p[i] != ' ' || mlen == 0)
        return RLY_ERR_MALFORMED;
    size_t t0 = ++i;
    if (i == n)
        return complete ? RLY_ERR_MALFORMED : 0;
    if (p[i] != '/') /* origin-form only: no absolute-form, authority-form or '*' */
        return RLY_ERR_MALFORMED;
    for (; i < n && p[i] > 0x20 && p[i] < 0x7f; i++)
        if (i - t0 == RLY_HTTP_PATH_MAX - 1)
            return RLY_ERR_FRAME_TOO_LARGE;
    size_t tlen = i - t0;
    if (i == n)
        return complete ? RLY_ERR_MALFORMED : 0;
    if (p[i] != ' ') /* a control character, DEL, a byte >= 0x80 */
        return RLY_ERR_MALFORMED;
    size_t v0 = ++i;
    for (; i < n; i++) {
        size_t k = i - v0;
        if (k < 7 ? p[i] != (uint8_t)version[k] : k > 7 || (p[i] != '0' && p[i] != '1'))
            return RLY_ERR_MALFORMED;
    }
    if (n - v0 < 8)
        return complete ? RLY_ERR_MALFORMED : 0;
    if (mlen == 3 && memcmp(p, "GET", 3) == 0)
        req->method = RLY_HTTP_GET;
    else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
        req->method = RLY_HTTP_HEAD;
    else
        req->method = RLY_HTTP_OTHER;
    memcpy(req->path, p + t0, tlen);
    req->path[tlen] = '\0';
    return 0;
}

/* A header line "Name: value", |n| bytes without its line end (not empty). Checked as
 * request_line is. */
static int header_line(const uint8_t *p, size_t n, bool complete)
{
    if (p[0] == ' ' || p[0] == '\t') /* obs-fold (RFC 9112 5.2): refused */
        return RLY_ERR_MALFORMED;
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == n)
        return complete ? RLY_ERR_MALFORMED : 0;
    if (p[i] != ':' || i == 0) /* no whitespace before the colon (RFC 9112 5.1) */
        return RLY_ERR_MALFORMED;
    for (i++; i < n; i++)
        if (!is_value_char(p[i]))
            return RLY_ERR_MALFORMED;
    return 0;
}

rly_ssize rly_http_parse_head(const uint8_t *buf, size_t len, rly_http_request *req)
{
    size_t n = len < RLY_HTTPD_HEAD_MAX ? len : RLY_HTTPD_HEAD_MAX;
    size_t pos = 0;
    bool first = true;
    while (pos < n) {
        const uint8_t *nl = memchr(buf + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t llen = end - pos;
        /* A CR may only come right before the LF (or be the last byte so far). */
        if (llen > 0 && buf[end - 1] == '\r')
            llen--;
        int rv;
        if (first)
            rv = request_line(buf + pos, llen, nl != NULL, req);
        else if (llen == 0)
            rv = 0;
        else
            rv = header_line(buf + pos, llen, nl != NULL);
        if (rv != 0)
            return rv;
        if (!nl)
            break;
        if (!first && llen == 0)
            return (rly_ssize)(end + 1);
        first = false;
        pos = end + 1;
    }
    return len >= RLY_HTTPD_HEAD_MAX ? RLY_ERR_FRAME_TOO_LARGE : 0;
}

/* ---- the server ------------------------------------------------------------------------------ */

typedef struct httpd_conn httpd_conn;

struct httpd_conn {
    rly_httpd *h;
    httpd_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    unsigned open_handles; /* tcp and timer until their close callbacks ran */
    bool is_answered;      /* the response is queued; reads are dropped from now on */
    bool is_shut;          /* the response is written and the write side shut down */
    bool is_peer_done;     /* the client's end of stream (or a read error) came */
    bool is_closing;
    bool is_local;        /* from 127.0.0.1 or ::1: may use the RLY_HTTPD_LOCAL_SLOTS */
    uint64_t accepted_ms; /* uv_now at the accept */
    uint8_t group[RLY_CIDR_GROUP_LEN]; /* the address group (rly_cidr_group) */
    size_t len;                        /* bytes of the head in |buf| */
    rly_http_request req;
    rly_dynbuf head, body; /* the response, held until the write completes */
    char remote[HTTPD_ADDR_MAX];
    uint8_t head_small[256];
    uint8_t buf[RLY_HTTPD_HEAD_MAX];
};

struct rly_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_tcp_t spare; /* takes a connection to refuse and closes it */
    rly_httpd_handler handler;
    void *ud;
    const rly_log *log;
    rly_mem *mem;
    httpd_conn *conns;
    size_t nconns;
    unsigned open_handles;
    bool is_spare_busy;      /* |spare| is closing */
    bool is_accept_pending;  /* a connection waits for |spare| (libuv stops accepting meanwhile) */
    uv_timer_t accept_timer; /* takes a deferred connection next turn (on_connection) */
    uint64_t accept_turn;    /* the uv_now of the turn |accepts| counts */
    unsigned accepts;        /* connections taken in that turn */
    bool is_accept_deferred; /* one waits in libuv, not taken */
    bool is_closing;
    void (*closed_cb)(void *ud);
    void *closed_ud;
};

static void handle_released(rly_httpd *h)
{
    if (--h->open_handles > 0 || !h->is_closing)
        return;
    void (*cb)(void *) = h->closed_cb;
    void *ud = h->closed_ud;
    rly_free(h->mem, h);
    if (cb)
        cb(ud);
}

static void listener_closed(uv_handle_t *hd)
{
    handle_released(hd->data);
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip))) {
            snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
            return;
        }
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip))) {
            snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
            return;
        }
    }
    snprintf(out, cap, "?");
}

/* get_peer stores the remote address of |tcp| in |ss| (AF_UNSPEC when unknown). */
static void get_peer(const uv_tcp_t *tcp, struct sockaddr_storage *ss)
{
    int len = sizeof(*ss);
    memset(ss, 0, sizeof(*ss));
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)ss, &len) != 0)
        ss->ss_family = AF_UNSPEC;
}

static void peer_addr(const uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    get_peer(tcp, &ss);
    format_addr(&ss, out, cap);
}

/* is_localhost: 127.0.0.1 or ::1 exactly, the addresses a probe on the machine connects from
 * ("localhost"). Other loopback addresses count as other addresses. */
static bool is_localhost(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return ""; /* the reason phrase may be empty (RFC 9112 4) */
    }
}

static const char *method_name(rly_http_method m)
{
    switch (m) {
    case RLY_HTTP_GET: return "GET";
    case RLY_HTTP_HEAD: return "HEAD";
    case RLY_HTTP_OTHER: return "OTHER";
    }
    return "-";
}

/* A content type from the handler goes into the head as is: visible ASCII and spaces only. */
static bool is_header_value(const char *s)
{
    for (; *s; s++)
        if (!is_value_char((uint8_t)*s))
            return false;
    return true;
}

/* ---- one connection ---- */

static void conn_closed(uv_handle_t *hd)
{
    httpd_conn *c = hd->data;
    if (--c->open_handles > 0)
        return;
    rly_httpd *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    rly_dynbuf_free(&c->head);
    rly_dynbuf_free(&c->body);
    rly_free(h->mem, c);
    handle_released(h);
}

/* conn_close starts closing |c| (idempotent). A write in flight is cancelled; |c| is freed once
 * both handles are closed. */
static void conn_close(httpd_conn *c)
{
    if (c->is_closing)
        return;
    c->is_closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
    httpd_conn *c = t->data;
    RLY_LOGD(c->h->log, RLY_TARGET_HTTP,
             RLY_MSG(c->is_answered ? "HTTP connection timed out after the response"
                                    : "HTTP request timed out"),
             RLY_F_STR("remote", c->remote), RLY_F_U64("received", c->len));
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    httpd_conn *c = req->data;
    if (c->is_closing)
        return;
    c->is_shut = true;
    if (status < 0 || c->is_peer_done)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    httpd_conn *c = req->data;
    if (c->is_closing)
        return; /* cancelled by the close; the buffers go with |c| */
    rly_dynbuf_free(&c->head);
    rly_dynbuf_free(&c->body);
    if (status < 0 || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

/* respond writes the head for |status| and, with |send_body|, |c->body|; logs the request. */
static void respond(httpd_conn *c, int status, const char *ctype, bool allow, bool send_body,
                    const char *method, const char *path)
{
    rly_httpd *h = c->h;
    c->is_answered = true;
    RLY_LOGD(h->log, RLY_TARGET_HTTP, RLY_MSG("HTTP request"), RLY_F_STR("method", method),
             RLY_F_STR("path", path), RLY_F_U64("status", status), RLY_F_STR("remote", c->remote));
    int rv = rly_dynbuf_appendf(&c->head,
                                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                "%sConnection: close\r\nCache-Control: no-store\r\n\r\n",
                                status, reason_phrase(status), ctype, c->body.len,
                                allow ? "Allow: GET, HEAD\r\n" : "");
    uv_buf_t bufs[2];
    unsigned nbufs = 1;
    bufs[0] = uv_buf_init((char *)c->head.data, (unsigned)c->head.len);
    if (send_body && c->body.len > 0)
        bufs[nbufs++] = uv_buf_init((char *)c->body.data, (unsigned)c->body.len);
    if (rv == 0)
        rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, nbufs, on_written);
    if (rv == 0)
        rv = uv_timer_start(&c->timer, on_timeout, RLY_HTTPD_TIMEOUT_MS, 0);
    if (rv != 0)
        conn_close(c);
}

/* respond_error answers a request the server refuses itself (400, 405, 431). */
static void respond_error(httpd_conn *c, int status, const char *method, const char *path)
{
    rly_dynbuf_reset(&c->body);
    if (rly_dynbuf_appendf(&c->body, "%s\n", reason_phrase(status)) != 0) {
        conn_close(c);
        return;
    }
    respond(c, status, HTTPD_DEFAULT_TYPE, status == 405, true, method, path);
}

static void answer(httpd_conn *c)
{
    rly_httpd *h = c->h;
    int status = 200;
    const char *ctype = HTTPD_DEFAULT_TYPE;
    h->handler(h->ud, &c->req, &status, &c->body, &ctype);
    if (c->is_closing)
        return; /* the handler closed the server */
    if (status < 200 || status > 599) {
        status = 500;
        rly_dynbuf_reset(&c->body);
    }
    if (!ctype || !is_header_value(ctype))
        ctype = HTTPD_DEFAULT_TYPE;
    respond(c, status, ctype, false, c->req.method == RLY_HTTP_GET, method_name(c->req.method),
            c->req.path);
}

/* The head is complete (|rv| > 0) or broken (|rv| < 0): answer it. */
static void handle_head(httpd_conn *c, rly_ssize rv)
{
    if (rv == RLY_ERR_FRAME_TOO_LARGE)
        respond_error(c, 431, "-", "-");
    else if (rv < 0)
        respond_error(c, 400, "-", "-");
    else if (c->req.method == RLY_HTTP_OTHER)
        respond_error(c, 405, method_name(c->req.method), c->req.path);
    else
        answer(c);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    httpd_conn *c = hd->data;
    /* Once answered, the head buffer takes the bytes that are dropped. Before, at least one byte
     * is free: a full buffer has been answered (431). */
    size_t off = c->is_answered ? 0 : c->len;
    *buf = uv_buf_init((char *)c->buf + off, (unsigned)(sizeof(c->buf) - off));
}

/* first_bytes: the head has begun within RLY_HTTPD_FIRST_BYTE_MS; the rest of it is due
 * RLY_HTTPD_TIMEOUT_MS after the accept. */
static void first_bytes(httpd_conn *c)
{
    uint64_t now = uv_now(c->h->loop), end = c->accepted_ms + RLY_HTTPD_TIMEOUT_MS;
    if (uv_timer_start(&c->timer, on_timeout, end > now ? end - now : 0, 0) != 0)
        conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    httpd_conn *c = s->data;
    if (c->is_closing || nread == 0)
        return;
    if (nread < 0) {
        c->is_peer_done = true;
        uv_read_stop(s);
        if (!c->is_answered && c->len > 0 && nread == UV_EOF)
            handle_head(c, RLY_ERR_MALFORMED); /* ended inside the head */
        else if (!c->is_answered || c->is_shut)
            conn_close(c);
        return;
    }
    if (c->is_answered)
        return; /* bytes after the head are ignored */
    if (c->len == 0)
        first_bytes(c);
    c->len += (size_t)nread;
    rly_ssize rv = rly_http_parse_head(c->buf, c->len, &c->req);
    if (rv != 0)
        handle_head(c, rv);
}

/* ---- accepting ---- */

static void accept_next(rly_httpd *h);

static void spare_closed(uv_handle_t *hd)
{
    rly_httpd *h = hd->data;
    bool pending = h->is_accept_pending && !h->is_closing;
    h->is_spare_busy = false;
    h->is_accept_pending = false;
    if (pending)
        accept_next(h);
    handle_released(h);
}

/* refuse takes the waiting connection on the spare handle and closes it at once. While the spare
 * is closing the connection stays queued (libuv stops accepting until it is taken). */
static void refuse(rly_httpd *h)
{
    if (h->is_spare_busy) {
        h->is_accept_pending = true;
        return;
    }
    /* Without a socket yet (AF_UNSPEC) uv_tcp_init cannot fail. */
    int rv = uv_tcp_init(h->loop, &h->spare);
    RLY_ASSERT(rv == 0);
    h->spare.data = h;
    h->is_spare_busy = true;
    h->open_handles++;
    if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&h->spare) == 0) {
        char remote[HTTPD_ADDR_MAX];
        peer_addr(&h->spare, remote, sizeof(remote));
        RLY_LOGD(h->log, RLY_TARGET_HTTP, RLY_MSG("HTTP connection refused"),
                 RLY_F_STR("remote", remote), RLY_F_U64("connections", h->nconns),
                 RLY_F_U64("max_connections", HTTPD_CONNS_HARD_MAX));
    }
    uv_close((uv_handle_t *)&h->spare, spare_closed);
}

/* The groups a connection is admitted against (httpd.h), checked in this order. */
typedef enum cap_scope { CAP_ADDR, CAP_OTHERS, CAP_ALL } cap_scope;

static const struct {
    cap_scope scope;
    size_t max;
    const char *name;
} caps[] = {
    {CAP_ADDR, RLY_HTTPD_MAX_PER_ADDR, "address"},
    {CAP_OTHERS, RLY_HTTPD_MAX_CONNS - RLY_HTTPD_LOCAL_SLOTS, "other addresses"},
    {CAP_ALL, RLY_HTTPD_MAX_CONNS, "all"},
};

static bool in_scope(const httpd_conn *x, const httpd_conn *c, cap_scope scope)
{
    if (x->is_closing)
        return false;
    switch (scope) {
    case CAP_ADDR: return memcmp(x->group, c->group, sizeof(c->group)) == 0;
    case CAP_OTHERS: return !x->is_local;
    case CAP_ALL: return true;
    }
    return false;
}

/* count_in counts the open connections of |c|'s group |scope| (|c| included) and sets |*pstalest|
 * to the group's oldest member other than |c| (NULL if none). */
static size_t count_in(const rly_httpd *h, const httpd_conn *c, cap_scope scope,
                       httpd_conn **pstalest)
{
    size_t n = 0;
    *pstalest = NULL;
    for (httpd_conn *x = h->conns; x; x = x->next) {
        if (!in_scope(x, c, scope))
            continue;
        n++;
        if (x != c)
            *pstalest = x;
    }
    return n;
}

/* make_room closes the stalest connection of the first group |c| puts over its cap. One is
 * enough: the caps held before |c| came, and a group's members belong to the later groups too. */
static void make_room(rly_httpd *h, httpd_conn *c)
{
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        httpd_conn *stalest = NULL;
        if (caps[i].scope == CAP_OTHERS && c->is_local)
            continue;
        if (count_in(h, c, caps[i].scope, &stalest) <= caps[i].max || !stalest)
            continue;
        RLY_LOGD(h->log, RLY_TARGET_HTTP, RLY_MSG("HTTP connection closed for a newer one"),
                 RLY_F_STR("remote", stalest->remote), RLY_F_STR("cap", caps[i].name),
                 RLY_F_U64("received", stalest->len), RLY_F_STR("newer", c->remote));
        conn_close(stalest);
        return;
    }
}

/* admit records where |c| comes from and closes what its arrival puts over a cap. */
static void admit(rly_httpd *h, httpd_conn *c)
{
    struct sockaddr_storage ss;
    get_peer(&c->tcp, &ss);
    format_addr(&ss, c->remote, sizeof(c->remote));
    (void)rly_cidr_group((const struct sockaddr *)&ss, c->group); /* others: one zero key */
    c->is_local = is_localhost(&ss);
    make_room(h, c);
}

/* read_now reads what the client sent before its connection was taken (a probe sends its
 * request right after connecting; under a flood it waits in the accept queue): such a request is
 * answered at once, before later arrivals can close the connection to make room. */
static void read_now(httpd_conn *c)
{
    uv_os_fd_t fd;
    uv_buf_t b;
    if (c->is_closing || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    on_alloc((uv_handle_t *)&c->tcp, 0, &b);
    ssize_t n = recv(fd, b.base, b.len, MSG_DONTWAIT);
    if (n > 0)
        on_read((uv_stream_t *)&c->tcp, n, &b);
}

static void accept_next(rly_httpd *h)
{
    httpd_conn *c = NULL;
    if (h->nconns < HTTPD_CONNS_HARD_MAX)
        c = rly_calloc(h->mem, 1, sizeof(*c));
    if (!c) {
        refuse(h);
        return;
    }
    c->h = h;
    int uverr = uv_tcp_init(h->loop, &c->tcp); /* cannot fail: no socket yet (AF_UNSPEC) */
    RLY_ASSERT(uverr == 0);
    uverr = uv_timer_init(h->loop, &c->timer);
    RLY_ASSERT(uverr == 0);
    c->tcp.data = c->timer.data = c->wreq.data = c->sreq.data = c;
    c->open_handles = 2;
    rly_dynbuf_init_small(&c->head, c->head_small, sizeof(c->head_small), h->mem,
                          HTTPD_RESP_HEAD_MAX);
    rly_dynbuf_init(&c->body, h->mem, HTTPD_BODY_MAX);
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    h->open_handles++;
    uverr = uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&c->tcp);
    if (uverr == 0)
        uverr = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (uverr == 0)
        uverr = uv_timer_start(&c->timer, on_timeout, RLY_HTTPD_FIRST_BYTE_MS, 0);
    if (uverr != 0) {
        RLY_LOGW(h->log, RLY_TARGET_HTTP, RLY_MSG("HTTP accept failed"),
                 RLY_F_STR("error", uv_strerror(uverr)));
        conn_close(c);
        return;
    }
    c->accepted_ms = uv_now(h->loop);
    admit(h, c);
    read_now(c);
}

/* The connection deferred last turn (uv_accept watches the listener again; the rest come from
 * the poll). */
static void on_accept_timer(uv_timer_t *t)
{
    rly_httpd *h = t->data;
    h->accept_turn = uv_now(h->loop);
    h->accepts = 0;
    if (!h->is_accept_deferred || h->is_closing)
        return;
    h->is_accept_deferred = false;
    h->accepts++;
    accept_next(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    rly_httpd *h = server->data;
    if (status < 0) {
        RLY_LOGW(h->log, RLY_TARGET_HTTP, RLY_MSG("HTTP accept failed"),
                 RLY_F_STR("error", uv_strerror(status)));
        return;
    }
    if (uv_now(h->loop) != h->accept_turn) {
        h->accept_turn = uv_now(h->loop);
        h->accepts = 0;
    }
    if (h->accepts >= HTTPD_ACCEPTS_PER_TURN) {
        /* Not taken: libuv holds it and stops watching the listener until uv_accept. */
        h->is_accept_deferred = true;
        if (!uv_is_active((uv_handle_t *)&h->accept_timer))
            (void)uv_timer_start(&h->accept_timer, on_accept_timer, 0, 0);
        return;
    }
    h->accepts++;
    accept_next(h);
}

/* ---- the server's life ---- */

int rly_httpd_new(rly_httpd **ph, uv_loop_t *loop, const struct sockaddr *sa,
                  rly_httpd_handler handler, void *ud, const rly_log *log, rly_mem *mem,
                  int *puv_err)
{
    rly_httpd *h = rly_calloc(mem, 1, sizeof(*h));
    if (!h)
        return RLY_ERR_NOMEM;
    h->loop = loop;
    h->handler = handler;
    h->ud = ud;
    h->log = log;
    h->mem = mem;
    int uverr = uv_tcp_init(loop, &h->listener); /* cannot fail: no socket yet (AF_UNSPEC) */
    RLY_ASSERT(uverr == 0);
    h->listener.data = h;
    uverr = uv_timer_init(loop, &h->accept_timer); /* cannot fail */
    RLY_ASSERT(uverr == 0);
    h->accept_timer.data = h;
    h->open_handles = 2;
    uverr = uv_tcp_bind(&h->listener, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (uverr == 0)
        uverr = uv_listen((uv_stream_t *)&h->listener, HTTPD_BACKLOG, on_connection);
    if (uverr != 0) {
        if (puv_err)
            *puv_err = uverr;
        h->is_closing = true; /* |h| goes with the last handle's close callback */
        uv_close((uv_handle_t *)&h->listener, listener_closed);
        uv_close((uv_handle_t *)&h->accept_timer, listener_closed);
        return uverr == UV_EADDRINUSE ? RLY_ERR_ADDR_IN_USE : RLY_ERR_IO;
    }
    *ph = h;
    return 0;
}

void rly_httpd_local_addr(const rly_httpd *h, struct sockaddr_storage *out)
{
    int len = sizeof(*out);
    memset(out, 0, sizeof(*out));
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)out, &len) != 0)
        memset(out, 0, sizeof(*out));
}

void rly_httpd_close(rly_httpd *h, void (*cb)(void *ud), void *ud)
{
    if (h->is_closing)
        return;
    h->is_closing = true;
    h->closed_cb = cb;
    h->closed_ud = ud;
    uv_close((uv_handle_t *)&h->listener, listener_closed);
    uv_close((uv_handle_t *)&h->accept_timer, listener_closed);
    for (httpd_conn *c = h->conns; c; c = c->next)
        conn_close(c);
}
