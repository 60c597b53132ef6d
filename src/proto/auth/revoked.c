/* revoked.c: the revoked token ids (revoked.h). One pass over the text collects the ids in an
 * array that grows by doubling (bounded by RLY_REVOKED_MAX), then a sort and a pass that drops
 * duplicates; a lookup is a binary search. */
#include "proto/auth/revoked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/quote.h"

/* Bytes of a bad line quoted in a message. */
#define QUOTE_MAX 40

static int cmp_id(const void *pa, const void *pb)
{
    const rly_revoked_id *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->id, b->id, a->len);
}

/* parse_id reads the |n| characters at |s| as an id into |out|. */
static bool parse_id(const char *s, size_t n, rly_revoked_id *out)
{
    if (n < 2 || n > 2 * RLY_TOKEN_ID_MAX || n % 2 != 0)
        return false;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i += 2) {
        int hi = rly_hex_digit(s[i]), lo = rly_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out->id[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    out->len = (uint8_t)(n / 2);
    return true;
}

int rly_revoked_parse(rly_revoked *out, const char *text, size_t len, rly_mem *mem, char *errmsg,
                      size_t errcap)
{
    rly_revoked_id *ids = NULL, one;
    size_t n = 0, cap = 0, line = 0;
    int rv = 0;
    out->ids = NULL;
    out->n = 0;
    for (size_t pos = 0; pos < len && rv == 0;) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t k = end - pos;
        pos = nl ? end + 1 : len;
        line++;
        if (memchr(start, '\0', k)) {
            snprintf(errmsg, errcap, "line %zu: a NUL byte (the file is not text)", line);
            rv = RLY_ERR_MALFORMED;
            break;
        }
        const char *hash = memchr(start, '#', k);
        if (hash)
            k = (size_t)(hash - start);
        while (k > 0 && (start[k - 1] == ' ' || start[k - 1] == '\t' || start[k - 1] == '\r'))
            k--;
        while (k > 0 && (*start == ' ' || *start == '\t')) {
            start++;
            k--;
        }
        if (k == 0)
            continue;
        if (!parse_id(start, k, &one)) {
            char q[QUOTE_MAX + 4];
            rly_quote(start, k, q, QUOTE_MAX);
            snprintf(errmsg, errcap, "line %zu: not a token id (2 to %d hex digits): \"%s\"", line,
                     2 * RLY_TOKEN_ID_MAX, q);
            rv = RLY_ERR_MALFORMED;
            break;
        }
        if (n == RLY_REVOKED_MAX) {
            snprintf(errmsg, errcap, "line %zu: more than %d token ids", line, RLY_REVOKED_MAX);
            rv = RLY_ERR_LIMIT;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            rly_revoked_id *nids = rly_realloc(mem, ids, ncap * sizeof(*nids));
            if (!nids) {
                snprintf(errmsg, errcap, "out of memory for %zu token ids", ncap);
                rv = RLY_ERR_NOMEM;
                break;
            }
            ids = nids;
            cap = ncap;
        }
        ids[n++] = one;
    }
    if (rv != 0) {
        rly_free(mem, ids);
        return rv;
    }
    if (n > 1) {
        qsort(ids, n, sizeof(*ids), cmp_id);
        size_t w = 1;
        for (size_t i = 1; i < n; i++)
            if (cmp_id(&ids[i], &ids[w - 1]) != 0)
                ids[w++] = ids[i];
        n = w;
    }
    out->ids = ids;
    out->n = n;
    return 0;
}

bool rly_revoked_has(const rly_revoked *r, const uint8_t *id, size_t len)
{
    rly_revoked_id key;
    if (r->n == 0 || len == 0 || len > RLY_TOKEN_ID_MAX)
        return false;
    memset(&key, 0, sizeof(key));
    key.len = (uint8_t)len;
    memcpy(key.id, id, len);
    return bsearch(&key, r->ids, r->n, sizeof(*r->ids), cmp_id) != NULL;
}

bool rly_revoked_equal(const rly_revoked *a, const rly_revoked *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (cmp_id(&a->ids[i], &b->ids[i]) != 0)
            return false;
    return true;
}

void rly_revoked_free(rly_revoked *r, rly_mem *mem)
{
    rly_free(mem, r->ids);
    r->ids = NULL;
    r->n = 0;
}
