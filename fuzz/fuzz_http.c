/* fuzz_http.c: rly_http_parse_head (src/app/httpd.h) on arbitrary bytes, whole and in its
 * prefixes, the way the server calls it after each read. Each prefix is copied to the end of a
 * block of exactly the input's size, so a read past |len| is caught by ASan. Every prefix of the
 * first EVERY_PREFIX bytes is tried; past them (the inputs near the 8 KiB head cap, where every
 * prefix would cost O(n^2), some 30 ms per input), one prefix in STRIDE and every prefix within
 * WINDOW bytes of the places that matter: the head's end, the cap and the input's end.
 * Invariants: over the growing prefixes the result is 0 (only below RLY_HTTPD_HEAD_MAX) until a
 * first non-zero result, which every longer prefix repeats (the same head length and request, or
 * the same error); a head length is at most |len| and ends with an empty line; the only errors are
 * RLY_ERR_MALFORMED and RLY_ERR_FRAME_TOO_LARGE; the method is one of the three; the path is the
 * request line's target: NUL-terminated within RLY_HTTP_PATH_MAX, starting with '/', visible
 * ASCII only. */
#include <stdlib.h>
#include <string.h>

#include "app/httpd.h"
#include "core/mem.h"

#define EVERY_PREFIX 1024
#define STRIDE 61
#define WINDOW 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool near(size_t i, size_t at)
{
    return i + WINDOW >= at && i <= at + WINDOW;
}

/* The prefix lengths tried: all up to EVERY_PREFIX, then a sample (see above). */
static bool tried(size_t i, size_t size, rly_ssize whole)
{
    return i <= EVERY_PREFIX || i % STRIDE == 0 || near(i, RLY_HTTPD_HEAD_MAX) || near(i, size) ||
           (whole > 0 && near(i, (size_t)whole));
}

static void check_head(const uint8_t *p, size_t len, rly_ssize rv, const rly_http_request *req)
{
    if (rv < 0) {
        if (rv != RLY_ERR_MALFORMED && rv != RLY_ERR_FRAME_TOO_LARGE)
            abort();
        return;
    }
    size_t n = (size_t)rv;
    if (n > len || n > RLY_HTTPD_HEAD_MAX || n < 2 || p[n - 1] != '\n')
        abort();
    if (p[n - 2] != '\n' && (p[n - 2] != '\r' || n < 3 || p[n - 3] != '\n'))
        abort(); /* the head ends with an empty line */
    if (req->method != RLY_HTTP_GET && req->method != RLY_HTTP_HEAD &&
        req->method != RLY_HTTP_OTHER)
        abort();
    const char *end = memchr(req->path, '\0', sizeof(req->path));
    if (!end || req->path[0] != '/')
        abort();
    size_t plen = (size_t)(end - req->path);
    for (size_t i = 0; i < plen; i++)
        if (req->path[i] <= 0x20 || req->path[i] >= 0x7f)
            abort();
    /* The path is the target: the bytes after the method and one space, then a space. */
    const uint8_t *sp = memchr(p, ' ', n);
    if (!sp || (size_t)(sp - p) + 2 + plen > n || memcmp(sp + 1, req->path, plen) != 0 ||
        sp[1 + plen] != ' ')
        abort();
    if ((req->method == RLY_HTTP_GET) != (sp - p == 3 && memcmp(p, "GET", 3) == 0))
        abort();
    if ((req->method == RLY_HTTP_HEAD) != (sp - p == 4 && memcmp(p, "HEAD", 4) == 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *block = rly_malloc(NULL, size);
    if (!block)
        abort();
    rly_http_request first_req;
    if (size > 0)
        memcpy(block, data, size);
    rly_ssize whole = rly_http_parse_head(block, size, &first_req), first = 0;
    if (whole != 0)
        check_head(block, size, whole, &first_req);
    memset(&first_req, 0, sizeof(first_req));
    for (size_t i = 0; i <= size; i++) {
        if (!tried(i, size, whole))
            continue;
        uint8_t *p = block + (size - i);
        if (i > 0)
            memcpy(p, data, i);
        rly_http_request req;
        rly_ssize rv = rly_http_parse_head(p, i, &req);
        if (rv == 0) {
            if (first != 0 || i >= RLY_HTTPD_HEAD_MAX)
                abort(); /* incomplete only below the cap, and never after an answer */
            continue;
        }
        if (first == 0) {
            check_head(p, i, rv, &req);
            first = rv;
            first_req = req;
            continue;
        }
        if (rv != first)
            abort();
        if (rv > 0 && (req.method != first_req.method || strcmp(req.path, first_req.path) != 0))
            abort();
    }
    rly_free(NULL, block);
    return 0;
}
