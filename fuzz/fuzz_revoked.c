/* fuzz_revoked.c: the revoked token list (src/proto/auth/revoked.h). The input as a list file:
 * when it parses, the ids are sorted without duplicates, each is found, and the list written back
 * as hex lines parses to the same list; when it does not, nothing is left allocated and the
 * message is one line. Nothing may leak. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "proto/auth/revoked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const rly_revoked_id *a, const rly_revoked_id *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->id, b->id, a->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_revoked r, again;
    char err[256];
    err[0] = '\0';
    int rv = rly_revoked_parse(&r, (const char *)data, size, NULL, err, sizeof(err));
    if (rv != 0) {
        if (r.ids || r.n || !err[0] || strchr(err, '\n'))
            abort();
        return 0;
    }
    if (r.n > RLY_REVOKED_MAX || (r.n > 0) != (r.ids != NULL))
        abort();
    size_t cap = r.n * (2 * RLY_TOKEN_ID_MAX + 1) + 1;
    char *text = rly_malloc(NULL, cap);
    if (!text)
        abort();
    size_t pos = 0;
    text[0] = '\0';
    for (size_t i = 0; i < r.n; i++) {
        const rly_revoked_id *e = &r.ids[i];
        if (e->len == 0 || e->len > RLY_TOKEN_ID_MAX || (i > 0 && cmp(&r.ids[i - 1], e) >= 0))
            abort();
        if (!rly_revoked_has(&r, e->id, e->len))
            abort();
        for (size_t k = 0; k < e->len; k++)
            pos += (size_t)snprintf(text + pos, cap - pos, "%02X", e->id[k]);
        text[pos++] = '\n';
    }
    if (rly_revoked_parse(&again, text, pos, NULL, err, sizeof(err)) != 0 ||
        !rly_revoked_equal(&r, &again))
        abort();
    /* A prefix of an id is another id: found exactly when it is listed too. */
    if (r.n > 0 && r.ids[r.n - 1].len > 1) {
        rly_revoked_id p = r.ids[r.n - 1];
        p.len--;
        p.id[p.len] = 0;
        bool listed = false;
        for (size_t i = 0; i < r.n; i++)
            listed = listed || cmp(&r.ids[i], &p) == 0;
        if (rly_revoked_has(&r, p.id, p.len) != listed)
            abort();
    }
    rly_revoked_free(&again, NULL);
    rly_revoked_free(&r, NULL);
    rly_free(NULL, text);
    return 0;
}
