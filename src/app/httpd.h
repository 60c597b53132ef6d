/* httpd.h: the relay's small HTTP/1.1 server for /metrics, /healthz, /readyz and /addrs
 * ([metrics] in the configuration; loopback by default). One request per connection (the
 * response carries "Connection: close"), GET and HEAD only, request head capped at
 * RLY_HTTPD_HEAD_MAX bytes and RLY_HTTPD_TIMEOUT_MS, its first byte due within
 * RLY_HTTPD_FIRST_BYTE_MS. Bad requests get 400, other methods 405, an oversized head 431;
 * nothing the client sends can make the relay allocate more than the cap per connection.
 *
 * Idle sockets cannot lock a health check out (a slowloris on /healthz would get a healthy relay
 * restarted): at most RLY_HTTPD_MAX_CONNS connections at once, RLY_HTTPD_MAX_PER_ADDR from one
 * address (IPv4 address, IPv6 /56), and RLY_HTTPD_LOCAL_SLOTS of them kept for localhost
 * (127.0.0.1 and ::1, where a probe on the machine comes from). A connection over one of these
 * caps is not refused: the stalest connection of the group that is full (its own address, the
 * other addresses, or all) is closed to admit it, so a new request always gets in and what a
 * client holds lasts only until others arrive. A request that already waits when its connection
 * is taken (a probe that sent it while a connect flood filled the accept queue) is read and
 * answered at once, before the arrivals behind it can close it; and at most 16 connections are
 * taken per loop turn, so that a flood on this port cannot hold the loop.
 *
 * The request parser is sans I/O (rly_http_parse_head, below) with its own tests and fuzz
 * target; the server part runs on the libuv loop. */
#ifndef RLY_APP_HTTPD_H
#define RLY_APP_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define RLY_HTTPD_HEAD_MAX 8192
#define RLY_HTTPD_TIMEOUT_MS 5000
#define RLY_HTTPD_FIRST_BYTE_MS 2000
#define RLY_HTTPD_MAX_CONNS 64
#define RLY_HTTPD_MAX_PER_ADDR 8
#define RLY_HTTPD_LOCAL_SLOTS 8
/* Longest path kept (query string included). */
#define RLY_HTTP_PATH_MAX 256

typedef enum rly_http_method {
    RLY_HTTP_GET = 1,
    RLY_HTTP_HEAD = 2,
    RLY_HTTP_OTHER = 3, /* a well-formed method we do not serve: 405 */
} rly_http_method;

typedef struct rly_http_request {
    rly_http_method method;
    char path[RLY_HTTP_PATH_MAX]; /* NUL-ended, as sent (starts with '/') */
} rly_http_request;

/* rly_http_parse_head looks at the |len| bytes received so far. Returns the length of the
 * complete request head (request line and headers up to and including the empty line; CRLF or
 * bare LF line ends) with |req| filled, 0 when more bytes are needed (and |len| is below
 * RLY_HTTPD_HEAD_MAX), or an error: RLY_ERR_MALFORMED (not an HTTP/1.0 or 1.1 request line, a
 * target that is not an origin-form path, a control character, a malformed header line),
 * RLY_ERR_FRAME_TOO_LARGE (no complete head within RLY_HTTPD_HEAD_MAX bytes, or a path longer
 * than RLY_HTTP_PATH_MAX - 1). */
RLY_NODISCARD rly_ssize rly_http_parse_head(const uint8_t *buf, size_t len, rly_http_request *req);

/* What a handler answers: |*pstatus| (200, 404, 503...), the body appended to |body| (capped by
 * the server at 4 MiB), the content type (a static string). Called on the loop, once per GET or
 * HEAD request (for HEAD the body is measured and not sent). */
typedef void (*rly_httpd_handler)(void *ud, const rly_http_request *req, int *pstatus,
                                  rly_dynbuf *body, const char **content_type);

typedef struct rly_httpd rly_httpd;

/* rly_httpd_new listens on |sa| (IPv4 or IPv6, port 0: any) and serves |handler| (with |ud|;
 * both borrowed until rly_httpd_close finishes). |log| is borrowed. On failure stores the libuv
 * error in |*puv_err| (may be NULL) and returns RLY_ERR_ADDR_IN_USE, RLY_ERR_IO or
 * RLY_ERR_NOMEM; after a bind or listen failure its listener handle is still closing (its memory
 * goes with the close callback), so run the loop before uv_loop_close. */
RLY_NODISCARD int rly_httpd_new(rly_httpd **ph, uv_loop_t *loop, const struct sockaddr *sa,
                                rly_httpd_handler handler, void *ud, const rly_log *log,
                                rly_mem *mem, int *puv_err);

/* rly_httpd_local_addr writes the bound address (the real port when asked for 0). */
void rly_httpd_local_addr(const rly_httpd *h, struct sockaddr_storage *out);

/* rly_httpd_close stops listening, closes every connection and frees |h|, then calls |cb| (may be
 * NULL) once all its handles are closed. */
void rly_httpd_close(rly_httpd *h, void (*cb)(void *ud), void *ud);

#endif
