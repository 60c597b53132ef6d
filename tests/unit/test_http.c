/* The small HTTP server (src/app/httpd.h). First the sans-I/O head parser on exact bytes: whole
 * heads (CRLF, bare LF, mixed), fed byte by byte, the methods, every way a request line or a
 * header line can be wrong, and the two caps (the head at RLY_HTTPD_HEAD_MAX, the path at
 * RLY_HTTP_PATH_MAX). Then the server on a real loop bound to 127.0.0.1 port 0, with plain
 * non-blocking client sockets and the loop run with UV_RUN_NOWAIT in between (bounded waits):
 * GET, HEAD, 405, 400, 431, the first-byte and head timeouts, the caps (per address, the slots
 * kept for localhost; other loopback addresses, 127.0.0.2 and up, stand for other hosts), closing
 * the server with connections open (one in the middle of a 4 MiB write) and from inside the
 * handler. Every test ends with the loop closed and no live bytes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "app/httpd.h"
#include "core/mem.h"

/* ---- the parser ------------------------------------------------------------------------------ */

static rly_ssize parse_str(const char *s, rly_http_request *req)
{
    return rly_http_parse_head((const uint8_t *)s, strlen(s), req);
}

static void expect_err(const char *s, rly_ssize err)
{
    rly_http_request req;
    rly_ssize rv = parse_str(s, &req);
    cr_assert_eq(rv, err, "\"%s\": got %zd (%s), want %zd", s, rv, rly_strerror((int)rv), err);
}

Test(http_parse, complete_head_with_crlf)
{
    const char *s = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nAccept: */*\r\n\r\n";
    rly_http_request req;
    cr_assert_eq(parse_str(s, &req), (rly_ssize)strlen(s));
    cr_assert_eq(req.method, RLY_HTTP_GET);
    cr_assert_str_eq(req.path, "/metrics");
}

Test(http_parse, complete_head_with_bare_lf_and_mixed)
{
    const char *lf = "GET /healthz HTTP/1.0\nUser-Agent: x\n\n";
    const char *mixed = "GET /readyz HTTP/1.1\r\nA: b\nC:d\r\n\n";
    rly_http_request req;
    cr_assert_eq(parse_str(lf, &req), (rly_ssize)strlen(lf));
    cr_assert_str_eq(req.path, "/healthz");
    cr_assert_eq(parse_str(mixed, &req), (rly_ssize)strlen(mixed));
    cr_assert_str_eq(req.path, "/readyz");
}

Test(http_parse, no_headers_and_odd_but_valid_values)
{
    rly_http_request req;
    const char *bare = "GET / HTTP/1.0\r\n\r\n";
    cr_assert_eq(parse_str(bare, &req), (rly_ssize)strlen(bare));
    cr_assert_str_eq(req.path, "/");
    const char *vals = "GET /addrs?x=1&y=%20 HTTP/1.1\r\nEmpty:\r\nTab:\tv a l\t\r\n"
                       "X-!#$%&'*+-.^_`|~: ~!@\"()<>\r\n\r\n";
    cr_assert_eq(parse_str(vals, &req), (rly_ssize)strlen(vals));
    cr_assert_str_eq(req.path, "/addrs?x=1&y=%20", "the query string is kept");
}

Test(http_parse, bytes_after_the_head_are_not_counted)
{
    const char *head = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    char buf[128];
    snprintf(buf, sizeof(buf), "%sGET /y HTTP/1.1\r\n\r\nbody", head);
    rly_http_request req;
    cr_assert_eq(parse_str(buf, &req), (rly_ssize)strlen(head));
    cr_assert_str_eq(req.path, "/x");
}

Test(http_parse, byte_by_byte_is_zero_until_complete)
{
    const char *heads[] = {"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
                           "HEAD /x HTTP/1.0\n\n", "GET / HTTP/1.1\r\n\n"};
    for (size_t k = 0; k < RLY_ARRAY_LEN(heads); k++) {
        const uint8_t *s = (const uint8_t *)heads[k];
        size_t n = strlen(heads[k]);
        rly_http_request req;
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(rly_http_parse_head(s, i, &req), 0, "head %zu, prefix %zu", k, i);
        cr_assert_eq(rly_http_parse_head(s, n, &req), (rly_ssize)n);
    }
}

Test(http_parse, methods)
{
    rly_http_request req;
    cr_assert_gt(parse_str("HEAD /x HTTP/1.1\r\n\r\n", &req), 0);
    cr_assert_eq(req.method, RLY_HTTP_HEAD);
    cr_assert_str_eq(req.path, "/x");
    const char *others[] = {"POST", "PUT", "DELETE", "OPTIONS", "get", "GETS", "X-Custom!"};
    for (size_t i = 0; i < RLY_ARRAY_LEN(others); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s /p HTTP/1.1\r\n\r\n", others[i]);
        cr_assert_gt(parse_str(buf, &req), 0, "%s", others[i]);
        cr_assert_eq(req.method, RLY_HTTP_OTHER, "%s is well formed but not served", others[i]);
    }
}

Test(http_parse, bad_request_lines)
{
    const char *bad[] = {
        "\r\n",                             /* empty request line */
        "\r\nGET / HTTP/1.1\r\n\r\n",       /* no empty line before the request line */
        "GET\r\n\r\n",                      /* no target */
        "GET /\r\n\r\n",                    /* HTTP/0.9 */
        "GET / \r\n\r\n",                   /* no version */
        "GET  / HTTP/1.1\r\n\r\n",          /* two spaces */
        "GET /  HTTP/1.1\r\n\r\n",          /* two spaces */
        " GET / HTTP/1.1\r\n\r\n",          /* leading space */
        "GET / HTTP/1.1 \r\n\r\n",          /* trailing space */
        "GET\t/ HTTP/1.1\r\n\r\n",          /* tab as separator */
        "G(T / HTTP/1.1\r\n\r\n",           /* not a token */
        "GET / http/1.1\r\n\r\n",           /* the version is case-sensitive */
        "GET / HTTP/1.2\r\n\r\n",           /* no such version */
        "GET / HTTP/2.0\r\n\r\n",           /* not HTTP/1 */
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", /* the HTTP/2 preface */
        "GET / HTTP/1.10\r\n\r\n",          /* too long */
        "GET / HTTP/1.\r\n\r\n",            /* too short */
        "GET / HTTP/1.1\r\r\n\r\n",         /* two CRs */
        "GET / HTTP/1.1\rX: y\r\n\r\n",     /* a bare CR inside the line */
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(bad); i++)
        expect_err(bad[i], RLY_ERR_MALFORMED);
}

Test(http_parse, only_origin_form_targets)
{
    expect_err("GET http://127.0.0.1/metrics HTTP/1.1\r\n\r\n", RLY_ERR_MALFORMED);
    expect_err("CONNECT 127.0.0.1:9090 HTTP/1.1\r\n\r\n", RLY_ERR_MALFORMED);
    expect_err("OPTIONS * HTTP/1.1\r\n\r\n", RLY_ERR_MALFORMED);
    expect_err("GET metrics HTTP/1.1\r\n\r\n", RLY_ERR_MALFORMED);
}

Test(http_parse, control_characters_are_refused)
{
    static const char ctl[] = {'\x01', '\x1f', '\x7f', '\x80', '\xff', '\t', '\r'};
    for (size_t i = 0; i < sizeof(ctl); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "GET /a%cb HTTP/1.1\r\n\r\n", ctl[i]);
        expect_err(buf, RLY_ERR_MALFORMED);
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: a%cb\r\n\r\n", ctl[i]);
        if (ctl[i] != '\t') /* a tab is fine in a value */
            expect_err(buf, RLY_ERR_MALFORMED);
    }
    /* A NUL inside the target or a value (strlen cannot carry it). */
    static const uint8_t nul_target[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    static const uint8_t nul_value[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    rly_http_request req;
    cr_assert_eq(rly_http_parse_head(nul_target, sizeof(nul_target) - 1, &req), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_http_parse_head(nul_value, sizeof(nul_value) - 1, &req), RLY_ERR_MALFORMED);
}

Test(http_parse, bad_header_lines)
{
    expect_err("GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", RLY_ERR_MALFORMED); /* no colon */
    expect_err("GET / HTTP/1.1\r\n: v\r\n\r\n", RLY_ERR_MALFORMED);            /* no name */
    expect_err("GET / HTTP/1.1\r\nHost : a\r\n\r\n", RLY_ERR_MALFORMED);       /* space before : */
    expect_err("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", RLY_ERR_MALFORMED);       /* not a token */
    expect_err("GET / HTTP/1.1\r\nHost\r\n\r\n", RLY_ERR_MALFORMED);
}

Test(http_parse, obs_fold_is_refused)
{
    expect_err("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/1.1\r\n Host: a\r\n\r\n", RLY_ERR_MALFORMED);
}

Test(http_parse, errors_come_as_soon_as_the_bytes_show_them)
{
    /* A TLS ClientHello or another protocol is refused without waiting for a line end. */
    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    rly_http_request req;
    cr_assert_eq(rly_http_parse_head(tls, sizeof(tls), &req), RLY_ERR_MALFORMED);
    expect_err("GET http:", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/2", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/1.1\r\n X", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/1.1\r\nX\x01", RLY_ERR_MALFORMED);
    expect_err("GET / HTTP/1.1\rX", RLY_ERR_MALFORMED);
    /* ... while every prefix of a valid head is only incomplete. */
    cr_assert_eq(parse_str("GET / HTTP/1.1\r", &req), 0);
    cr_assert_eq(parse_str("GET / HTTP/1.1\r\nX: y\r", &req), 0);
    cr_assert_eq(parse_str("GET / HTTP/1.1\r\n\r", &req), 0);
    cr_assert_eq(parse_str("", &req), 0);
}

/* A head of |total| bytes: a request line and "X: aaaa" lines, the last line filled up to the
 * end; complete (ending with the empty line) or not. */
static uint8_t *big_head(size_t total, bool complete)
{
    uint8_t *b = rly_malloc(NULL, total);
    cr_assert_not_null(b);
    static const char rl[] = "GET /big HTTP/1.1\r\n";
    memcpy(b, rl, sizeof(rl) - 1);
    size_t pos = sizeof(rl) - 1, end = complete ? total - 2 : total;
    while (pos < end) {
        size_t line = end - pos < 100 ? end - pos : 100;
        if (end - pos - line < 8 && end - pos - line > 0)
            line = end - pos; /* no line too short to hold "X: a\r\n" */
        cr_assert_geq(line, 6);
        memcpy(b + pos, "X: ", 3);
        memset(b + pos + 3, 'a', line - 5);
        memcpy(b + pos + line - 2, "\r\n", 2);
        pos += line;
    }
    if (complete)
        memcpy(b + total - 2, "\r\n", 2);
    else
        memcpy(b + total - 2, "aa", 2); /* the last line is not ended */
    return b;
}

Test(http_parse, head_cap_is_exact)
{
    rly_http_request req;
    uint8_t *b = big_head(RLY_HTTPD_HEAD_MAX + 16, false);
    cr_assert_eq(rly_http_parse_head(b, RLY_HTTPD_HEAD_MAX - 1, &req), 0,
                 "one byte below the cap: still waiting");
    cr_assert_eq(rly_http_parse_head(b, RLY_HTTPD_HEAD_MAX, &req), RLY_ERR_FRAME_TOO_LARGE,
                 "at the cap without the empty line: too large");
    cr_assert_eq(rly_http_parse_head(b, RLY_HTTPD_HEAD_MAX + 16, &req), RLY_ERR_FRAME_TOO_LARGE);
    rly_free(NULL, b);

    b = big_head(RLY_HTTPD_HEAD_MAX, true);
    cr_assert_eq(rly_http_parse_head(b, RLY_HTTPD_HEAD_MAX, &req), RLY_HTTPD_HEAD_MAX,
                 "a complete head of exactly the cap is fine");
    cr_assert_str_eq(req.path, "/big");
    rly_free(NULL, b);

    /* One byte more and the empty line falls outside the cap. */
    b = big_head(RLY_HTTPD_HEAD_MAX + 1, true);
    cr_assert_eq(rly_http_parse_head(b, RLY_HTTPD_HEAD_MAX + 1, &req), RLY_ERR_FRAME_TOO_LARGE);
    rly_free(NULL, b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(http_parse, path_cap)
{
    char path[RLY_HTTP_PATH_MAX + 2], buf[RLY_HTTP_PATH_MAX + 64];
    rly_http_request req;
    path[0] = '/';
    memset(path + 1, 'p', sizeof(path) - 1);
    path[RLY_HTTP_PATH_MAX - 1] = '\0'; /* the longest kept: PATH_MAX - 1 characters */
    snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n\r\n", path);
    cr_assert_gt(parse_str(buf, &req), 0);
    cr_assert_str_eq(req.path, path);
    cr_assert_eq(strlen(req.path), RLY_HTTP_PATH_MAX - 1);

    path[RLY_HTTP_PATH_MAX - 1] = 'p';
    path[RLY_HTTP_PATH_MAX] = '\0';
    snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n\r\n", path);
    expect_err(buf, RLY_ERR_FRAME_TOO_LARGE);
    snprintf(buf, sizeof(buf), "GET %s", path); /* known before the line ends */
    expect_err(buf, RLY_ERR_FRAME_TOO_LARGE);
}

/* ---- the server on a real loop --------------------------------------------------------------- */

#define BIG_BODY (4u * 1024u * 1024u)
#define MAX_RECORDS 256

typedef struct record {
    char message[64], method[16], path[RLY_HTTP_PATH_MAX], remote[64];
    uint64_t status;
} record;

typedef struct world {
    uv_loop_t loop;
    rly_httpd *h;
    rly_log log;
    record rec[MAX_RECORDS];
    size_t nrec;
    int handler_calls;
    int over_cap_rv;         /* the append past 4 MiB in /big */
    bool close_called;       /* rly_httpd_close was called */
    bool closed;             /* and its callback ran */
    struct sockaddr_in addr; /* where the server listens */
    size_t base_live;        /* live bytes with the server up and no connection */
} world;

static world w;

static void log_sink(void *ud, const rly_log_record *r)
{
    if (w.nrec >= MAX_RECORDS)
        return;
    record *x = &w.rec[w.nrec++];
    memset(x, 0, sizeof(*x));
    snprintf(x->message, sizeof(x->message), "%s", r->message ? r->message : "");
    for (size_t i = 0; i < r->nfields; i++) {
        const rly_log_field *f = &r->fields[i];
        if (strcmp(f->key, "method") == 0)
            snprintf(x->method, sizeof(x->method), "%s", f->v.s);
        else if (strcmp(f->key, "path") == 0)
            snprintf(x->path, sizeof(x->path), "%s", f->v.s);
        else if (strcmp(f->key, "remote") == 0)
            snprintf(x->remote, sizeof(x->remote), "%s", f->v.s);
        else if (strcmp(f->key, "status") == 0)
            x->status = f->v.u;
    }
}

static void on_closed(void *ud)
{
    cr_assert_eq(ud, &w);
    cr_assert_not(w.closed, "the close callback runs once");
    w.closed = true;
}

static void handler(void *ud, const rly_http_request *req, int *pstatus, rly_dynbuf *body,
                    const char **content_type)
{
    cr_assert_eq(ud, &w);
    w.handler_calls++;
    if (strcmp(req->path, "/x") == 0) {
        *pstatus = 200;
        *content_type = "text/x-test; charset=utf-8";
        cr_assert_eq(rly_dynbuf_append_str(body, "hello from /x\n"), 0);
    } else if (strcmp(req->path, "/big") == 0) {
        static char chunk[64 * 1024];
        memset(chunk, 'b', sizeof(chunk));
        *pstatus = 200;
        for (size_t i = 0; i < BIG_BODY / sizeof(chunk); i++)
            cr_assert_eq(rly_dynbuf_append(body, chunk, sizeof(chunk)), 0);
        w.over_cap_rv = rly_dynbuf_append_byte(body, 'x');
    } else if (strcmp(req->path, "/close") == 0) {
        w.close_called = true;
        rly_httpd_close(w.h, on_closed, &w);
        *pstatus = 200;
    } else if (strcmp(req->path, "/bad-status") == 0) {
        *pstatus = 42;
        *content_type = "text/plain\r\nX-Injected: 1";
        cr_assert_eq(rly_dynbuf_append_str(body, "dropped"), 0);
    } else {
        *pstatus = 404;
        cr_assert_eq(rly_dynbuf_append_str(body, "not found\n"), 0);
    }
}

static void server_start(void)
{
    memset(&w, 0, sizeof(w));
    cr_assert_eq(uv_loop_init(&w.loop), 0);
    w.log = (rly_log){.level = RLY_LOG_DEBUG, .sink = log_sink, .user_data = &w};
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    int uverr = 0;
    cr_assert_eq(
        rly_httpd_new(&w.h, &w.loop, (struct sockaddr *)&sin, handler, &w, &w.log, NULL, &uverr), 0,
        "listen: %s", uv_strerror(uverr));
    struct sockaddr_storage ss;
    rly_httpd_local_addr(w.h, &ss);
    cr_assert_eq(ss.ss_family, AF_INET);
    memcpy(&w.addr, &ss, sizeof(w.addr));
    cr_assert_neq(w.addr.sin_port, 0, "the real port is reported");
    w.base_live = rly_mem_default()->live_bytes;
}

/* Closes the server (unless a test did) and checks that everything is gone. */
static void server_finish(void)
{
    if (!w.close_called) {
        w.close_called = true;
        rly_httpd_close(w.h, on_closed, &w);
    }
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (!w.closed && uv_hrtime() < deadline)
        uv_run(&w.loop, UV_RUN_NOWAIT);
    cr_assert(w.closed, "the close callback ran");
    uv_run(&w.loop, UV_RUN_DEFAULT); /* nothing is left to wait for */
    cr_assert_eq(uv_loop_close(&w.loop), 0, "no handle left open");
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

static void pump_ms(unsigned ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    do {
        uv_run(&w.loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    } while (uv_hrtime() < deadline);
}

static int cli_connect_to(const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    /* A loopback connect completes in the kernel's backlog, before the server accepts. */
    cr_assert_eq(connect(fd, sa, salen), 0, "connect: %s", strerror(errno));
    cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

static int cli_connect(void)
{
    return cli_connect_to((struct sockaddr *)&w.addr, sizeof(w.addr));
}

/* cli_connect_from connects from the loopback address 127.0.0.|host|. */
static int cli_connect_from(unsigned host)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | host)};
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(connect(fd, (struct sockaddr *)&w.addr, sizeof(w.addr)), 0, "connect: %s",
                 strerror(errno));
    cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

static void cli_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
            continue;
        }
        cr_assert(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send: %s", strerror(errno));
        cr_assert_lt(uv_hrtime(), deadline, "send blocked for 5 s");
        pump_ms(1);
    }
}

static void cli_send_str(int fd, const char *s)
{
    cli_send(fd, s, strlen(s));
}

typedef struct reply {
    char data[16384];
    size_t len;
    bool eof;   /* orderly end of stream */
    bool reset; /* ECONNRESET */
} reply;

/* Reads from |fd| while running the loop until the server ends the stream or |ms| pass. */
static void cli_read(int fd, reply *r, unsigned ms)
{
    memset(r, 0, sizeof(*r));
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < deadline) {
        uv_run(&w.loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, r->data + r->len, sizeof(r->data) - 1 - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
            cr_assert_lt(r->len, sizeof(r->data) - 1, "reply larger than the test expects");
            continue;
        }
        if (n == 0) {
            r->eof = true;
            break;
        }
        if (errno == ECONNRESET) {
            r->reset = true;
            break;
        }
        cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        (void)poll(&p, 1, 1);
    }
    r->data[r->len] = '\0';
}

/* |fd| is open: nothing to read and no end of stream. */
static bool cli_is_open(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The body of a complete response in |r| (after the empty line), NULL without one. */
static const char *reply_body(const reply *r)
{
    const char *e = strstr(r->data, "\r\n\r\n");
    return e ? e + 4 : NULL;
}

static bool has_header(const reply *r, const char *line)
{
    const char *end = reply_body(r);
    const char *at = strstr(r->data, line);
    return at && end && at < end;
}

static const record *last_request(void)
{
    for (size_t i = w.nrec; i-- > 0;)
        if (strcmp(w.rec[i].message, "HTTP request") == 0)
            return &w.rec[i];
    static const record none;
    cr_assert_fail("no \"HTTP request\" record was logged");
    return &none; /* not reached; never NULL for the callers */
}

static size_t count_records(const char *message)
{
    size_t n = 0;
    for (size_t i = 0; i < w.nrec; i++)
        n += strcmp(w.rec[i].message, message) == 0;
    return n;
}

/* One request on a fresh connection; the whole reply. */
static void request(const char *req, reply *r)
{
    int fd = cli_connect();
    cli_send_str(fd, req);
    cli_read(fd, r, 5000);
    cr_assert(r->eof, "the server ends the stream after the response");
    close(fd);
}

Test(httpd, get_returns_the_handlers_answer)
{
    server_start();
    reply r;
    request("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Type: text/x-test; charset=utf-8\r\n"), "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Length: 14\r\n"), "%s", r.data);
    cr_assert(has_header(&r, "\r\nConnection: close\r\n"), "%s", r.data);
    cr_assert(has_header(&r, "\r\nCache-Control: no-store\r\n"), "%s", r.data);
    cr_assert_str_eq(reply_body(&r), "hello from /x\n");
    cr_assert_eq(w.handler_calls, 1);

    const record *rec = last_request();
    cr_assert_not_null(rec, "each request is logged");
    cr_assert_str_eq(rec->method, "GET");
    cr_assert_str_eq(rec->path, "/x");
    cr_assert_eq(rec->status, 200);
    cr_assert(strncmp(rec->remote, "127.0.0.1:", 10) == 0, "remote %s", rec->remote);

    request("GET /nowhere?q=1 HTTP/1.0\n\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"), "%s", r.data);
    cr_assert_str_eq(reply_body(&r), "not found\n");
    cr_assert_str_eq(last_request()->path, "/nowhere?q=1");
    server_finish();
}

Test(httpd, head_returns_the_headers_only)
{
    server_start();
    reply r;
    request("HEAD /x HTTP/1.1\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Length: 14\r\n"), "the length GET would have");
    cr_assert_str_eq(reply_body(&r), "", "no body");
    cr_assert_str_eq(last_request()->method, "HEAD");
    server_finish();
}

Test(httpd, other_methods_get_405)
{
    server_start();
    reply r;
    request("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nAllow: GET, HEAD\r\n"), "%s", r.data);
    cr_assert(has_header(&r, "\r\nConnection: close\r\n"), "%s", r.data);
    cr_assert_eq(w.handler_calls, 0, "the handler never sees it");
    cr_assert_eq(last_request()->status, 405);
    server_finish();
}

Test(httpd, garbage_gets_400)
{
    server_start();
    reply r;
    request("\x16\x03\x01\x02\x01\x01\xfc\x03\x03", &r); /* a TLS ClientHello */
    cr_assert(strncmp(r.data, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Length: 12\r\n"), "%s", r.data);
    cr_assert_str_eq(reply_body(&r), "Bad Request\n");
    request("GET /x HTTP/2.0\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 400 ", 13) == 0, "%s", r.data);
    request("GET /x HTTP/1.1\r\nX: a\r\n b\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 400 ", 13) == 0, "obs-fold: %s", r.data);
    cr_assert_eq(w.handler_calls, 0);
    cr_assert_eq(last_request()->status, 400);

    /* The client ends its stream inside the head: 400 as well. */
    int fd = cli_connect();
    cli_send_str(fd, "GET /x HTTP/1.1\r\nHost: a\r\n");
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    cli_read(fd, &r, 5000);
    cr_assert(r.eof);
    cr_assert(strncmp(r.data, "HTTP/1.1 400 ", 13) == 0, "%s", r.data);
    close(fd);
    server_finish();
}

Test(httpd, bad_status_and_content_type_from_the_handler)
{
    server_start();
    reply r;
    request("GET /bad-status HTTP/1.1\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0, "%s", r.data);
    cr_assert(has_header(&r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"), "%s", r.data);
    cr_assert_null(strstr(r.data, "X-Injected"), "no header injection");
    cr_assert_str_eq(reply_body(&r), "");
    server_finish();
}

Test(httpd, oversized_head_gets_431)
{
    server_start();
    uint8_t *b = big_head(RLY_HTTPD_HEAD_MAX + 100, false);
    int fd = cli_connect();
    cli_send(fd, b, RLY_HTTPD_HEAD_MAX + 100);
    rly_free(NULL, b);
    reply r;
    cli_read(fd, &r, 5000);
    cr_assert(r.eof || r.reset);
    cr_assert(strncmp(r.data, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0, "%s",
              r.data);
    close(fd);
    cr_assert_eq(w.handler_calls, 0);

    /* A path over the cap is refused the same way. */
    char req[RLY_HTTP_PATH_MAX + 64];
    char path[RLY_HTTP_PATH_MAX + 1];
    memset(path, 'p', sizeof(path) - 1);
    path[0] = '/';
    path[RLY_HTTP_PATH_MAX] = '\0';
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
    request(req, &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 431 ", 13) == 0, "%s", r.data);
    server_finish();
}

Test(httpd, silent_and_slow_clients_are_closed_after_the_timeout)
{
    server_start();
    int silent = cli_connect();
    int slow = cli_connect();
    cli_send_str(slow, "GET /x HTTP/1.1\r\nHost:");
    pump_ms(1000);
    cr_assert(cli_is_open(silent), "still waiting for a first byte after 1 s");
    cr_assert(cli_is_open(slow));
    reply r;
    cli_read(silent, &r, RLY_HTTPD_FIRST_BYTE_MS + 3000);
    cr_assert(r.eof, "closed after RLY_HTTPD_FIRST_BYTE_MS without a byte");
    cr_assert_eq(r.len, 0, "without a response");
    cr_assert(cli_is_open(slow), "a head that has begun has RLY_HTTPD_TIMEOUT_MS");
    cli_read(slow, &r, RLY_HTTPD_TIMEOUT_MS + 3000);
    cr_assert(r.eof);
    cr_assert_eq(r.len, 0);
    cr_assert_eq(w.handler_calls, 0);
    cr_assert_eq(count_records("HTTP request timed out"), 2);
    close(silent);
    close(slow);
    server_finish();
}

/* open_count: how many of |n| client sockets the server still holds open. */
static size_t open_count(const int *fds, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += cli_is_open(fds[i]);
    return k;
}

static void close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Waits (at most 5 s) until every connection is freed. */
static void wait_all_freed(void)
{
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (rly_mem_default()->live_bytes != w.base_live && uv_hrtime() < deadline)
        pump_ms(1);
    cr_assert_eq(rly_mem_default()->live_bytes, w.base_live, "every connection was freed");
}

/* Idle sockets from one address (the issue 11 item 8 slowloris: 64 of them once locked /healthz
 * out): only its newest RLY_HTTPD_MAX_PER_ADDR stay, and a request from that same address is
 * still answered. */
Test(httpd, idle_connections_from_one_address_make_room_for_a_request)
{
    server_start();
    enum { N = 3 * RLY_HTTPD_MAX_CONNS };
    int fds[N];
    for (size_t i = 0; i < N; i++) {
        fds[i] = cli_connect();
        if (i % 16 == 15)
            pump_ms(10); /* the server accepts as they come (the backlog is 128) */
    }
    pump_ms(200);
    cr_assert_eq(open_count(fds, N), RLY_HTTPD_MAX_PER_ADDR);
    for (size_t i = N - RLY_HTTPD_MAX_PER_ADDR; i < N; i++)
        cr_assert(cli_is_open(fds[i]), "the newest are kept (%zu)", i);
    cr_assert_eq(count_records("HTTP connection closed for a newer one"),
                 N - RLY_HTTPD_MAX_PER_ADDR);
    cr_assert_eq(count_records("HTTP connection refused"), 0);
    reply r;
    request("GET /x HTTP/1.1\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    /* The same from another address (127.0.0.2). */
    int other[N];
    for (size_t i = 0; i < N; i++) {
        other[i] = cli_connect_from(2);
        if (i % 16 == 15)
            pump_ms(10);
    }
    pump_ms(200);
    cr_assert_eq(open_count(other, N), RLY_HTTPD_MAX_PER_ADDR);
    int fd = cli_connect_from(2);
    cli_send_str(fd, "GET /x HTTP/1.1\r\n\r\n");
    cli_read(fd, &r, 5000);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    close(fd);
    close_all(fds, N);
    close_all(other, N);
    wait_all_freed();
    server_finish();
}

/* Connections from other addresses never take the RLY_HTTPD_LOCAL_SLOTS: with localhost holding
 * that many, a flood from other addresses closes its own stalest, never localhost's. */
Test(httpd, other_addresses_leave_the_localhost_slots)
{
    server_start();
    enum { LOCAL = RLY_HTTPD_LOCAL_SLOTS, OTHERS = RLY_HTTPD_MAX_CONNS + 16 };
    int local[LOCAL], others[OTHERS];
    for (size_t i = 0; i < LOCAL; i++)
        local[i] = cli_connect();
    pump_ms(50);
    for (size_t i = 0; i < OTHERS; i++) {
        /* RLY_HTTPD_MAX_PER_ADDR from each of 127.0.0.2, .3, ...: no address is over its cap */
        others[i] = cli_connect_from(2 + (unsigned)(i / RLY_HTTPD_MAX_PER_ADDR));
        if (i % 16 == 15)
            pump_ms(10);
    }
    pump_ms(200);
    cr_assert_eq(open_count(local, LOCAL), LOCAL, "localhost keeps its slots");
    cr_assert_eq(open_count(others, OTHERS), RLY_HTTPD_MAX_CONNS - RLY_HTTPD_LOCAL_SLOTS);
    for (size_t i = OTHERS - (RLY_HTTPD_MAX_CONNS - LOCAL); i < OTHERS; i++)
        cr_assert(cli_is_open(others[i]), "the newest are kept (%zu)", i);
    /* One more from localhost closes its own stalest (its address is at its cap). */
    reply r;
    request("GET /x HTTP/1.1\r\n\r\n", &r);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    close_all(local, LOCAL);
    close_all(others, OTHERS);
    wait_all_freed();
    server_finish();
}

/* A probe's request already waits when its connection is taken (a connect flood queued many
 * behind it): it is answered, though the connections after it would have closed it as the
 * stalest before its read came. */
Test(httpd, a_waiting_request_is_answered_under_a_connect_flood)
{
    server_start();
    enum { FLOOD = 100 }; /* below the listen backlog: every connect completes in the kernel */
    int flood[FLOOD];
    int probe = cli_connect_from(200);
    cli_send_str(probe, "GET /x HTTP/1.1\r\n\r\n");
    for (size_t i = 0; i < FLOOD; i++)
        flood[i] = cli_connect_from(2 + (unsigned)(i / RLY_HTTPD_MAX_PER_ADDR));
    reply r;
    cli_read(probe, &r, 5000);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "the probe's answer: '%s'%s", r.data,
              r.reset ? " (reset)" : "");
    close(probe);
    close_all(flood, FLOOD);
    wait_all_freed();
    server_finish();
}

Test(httpd, close_with_connections_open_frees_everything)
{
    server_start();
    int idle = cli_connect();
    int partial = cli_connect();
    int big = cli_connect();
    cli_send_str(partial, "GET /x HTTP/1.1\r\n");
    /* A 4 MiB response to a client that reads nothing: the write stays in flight. */
    cli_send_str(big, "GET /big HTTP/1.1\r\n\r\n");
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (w.handler_calls == 0 && uv_hrtime() < deadline)
        pump_ms(1);
    cr_assert_eq(w.handler_calls, 1);
    cr_assert_eq(w.over_cap_rv, RLY_ERR_NOBUF, "the body is capped at 4 MiB");
    pump_ms(50);
    cr_assert(cli_is_open(idle));
    w.close_called = true;
    rly_httpd_close(w.h, on_closed, &w);
    server_finish(); /* the loop closed, no bytes live */
    reply r;
    int fds[] = {idle, partial, big};
    for (size_t i = 0; i < RLY_ARRAY_LEN(fds); i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 2000), 1);
        /* the big one may hold part of the body: read until the end */
        for (int k = 0; k < 1000; k++) {
            ssize_t n = recv(fds[i], r.data, sizeof(r.data), 0);
            if (n <= 0)
                break;
        }
        close(fds[i]);
    }
}

Test(httpd, close_from_inside_the_handler)
{
    server_start();
    int fd = cli_connect();
    cli_send_str(fd, "GET /close HTTP/1.1\r\n\r\n");
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (!w.closed && uv_hrtime() < deadline)
        uv_run(&w.loop, UV_RUN_NOWAIT);
    cr_assert(w.closed);
    cr_assert_eq(w.handler_calls, 1);
    server_finish();
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 2000), 1);
    ssize_t n = recv(fd, &c, 1, 0);
    cr_assert_leq(n, 0, "closed without a response");
    close(fd);
}

Test(httpd, taken_port_is_addr_in_use)
{
    server_start();
    rly_httpd *other = NULL;
    int uverr = 0;
    cr_assert_eq(rly_httpd_new(&other, &w.loop, (struct sockaddr *)&w.addr, handler, &w, &w.log,
                               NULL, &uverr),
                 RLY_ERR_ADDR_IN_USE);
    cr_assert_eq(uverr, UV_EADDRINUSE);
    cr_assert_null(other);
    server_finish(); /* runs the loop: the failed listener's memory goes with it */
}

Test(httpd, ipv6_loopback)
{
    memset(&w, 0, sizeof(w));
    cr_assert_eq(uv_loop_init(&w.loop), 0);
    struct sockaddr_in6 sin6;
    uv_ip6_addr("::1", 0, &sin6);
    int uverr = 0;
    int rv =
        rly_httpd_new(&w.h, &w.loop, (struct sockaddr *)&sin6, handler, &w, NULL, NULL, &uverr);
    if (rv != 0) {
        uv_run(&w.loop, UV_RUN_DEFAULT);
        cr_assert_eq(uv_loop_close(&w.loop), 0);
        cr_assert_eq(rly_mem_default()->live_bytes, 0);
        cr_skip_test("no IPv6 loopback here: %s", uv_strerror(uverr));
    }
    struct sockaddr_storage ss;
    rly_httpd_local_addr(w.h, &ss);
    cr_assert_eq(ss.ss_family, AF_INET6);
    int fd = cli_connect_to((struct sockaddr *)&ss, sizeof(struct sockaddr_in6));
    cli_send_str(fd, "GET /x HTTP/1.1\r\n\r\n");
    reply r;
    cli_read(fd, &r, 5000);
    cr_assert(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.data);
    close(fd);
    server_finish();
}
