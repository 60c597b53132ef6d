/* classes.c: limits class profiles (classes.h). */
#include "proto/auth/classes.h"

#include <stdio.h>
#include <string.h>

#include "core/quote.h"

#define KEY_DURATION "max_circuit_duration_secs"
#define KEY_BYTES "max_circuit_bytes"
#define QUOTE_MAX 40

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* parse_u64 reads the decimal |n| bytes at |s| (no sign, at most 19 digits) into |*v|. */
static bool parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

static const char *quote(const char *p, size_t n, char q[QUOTE_MAX + 4])
{
    return rly_quote(p, n, q, QUOTE_MAX);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, cap, __VA_ARGS__);                                                           \
        return RLY_ERR_MALFORMED;                                                                  \
    } while (0)

int rly_auth_class_parse(const char *s, size_t len, rly_auth_class *out, char *why, size_t cap)
{
    char q[QUOTE_MAX + 4];
    memset(out, 0, sizeof(*out));
    const char *colon = memchr(s, ':', len);
    if (!colon)
        FAIL("\"%s\" is not NAME: key=value ...", quote(s, len, q));
    const char *name = s;
    size_t nlen = (size_t)(colon - s);
    while (nlen > 0 && is_space(*name)) {
        name++;
        nlen--;
    }
    while (nlen > 0 && is_space(name[nlen - 1]))
        nlen--;
    if (!rly_token_class_valid(name, nlen))
        FAIL("\"%s\" is not a class name (1 to 32 characters of a-z, 0-9, _ and -)",
             quote(name, nlen, q));
    if (nlen == strlen(RLY_AUTH_CLASS_TRUSTED) && memcmp(name, RLY_AUTH_CLASS_TRUSTED, nlen) == 0)
        FAIL("\"%s\" is built in (no circuit limits): choose another name", quote(name, nlen, q));
    memcpy(out->name, name, nlen);
    const char *p = colon + 1, *end = s + len;
    size_t nkeys = 0;
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        const char *w = p;
        while (p < end && !is_space(*p))
            p++;
        size_t wlen = (size_t)(p - w);
        const char *eq = memchr(w, '=', wlen);
        if (!eq)
            FAIL("\"%s\" is not key=value", quote(w, wlen, q));
        size_t klen = (size_t)(eq - w), vlen = wlen - klen - 1;
        uint64_t v;
        bool dur = klen == strlen(KEY_DURATION) && memcmp(w, KEY_DURATION, klen) == 0;
        bool bytes = klen == strlen(KEY_BYTES) && memcmp(w, KEY_BYTES, klen) == 0;
        if (!dur && !bytes)
            FAIL("unknown key '%s' (allowed: " KEY_DURATION ", " KEY_BYTES ")", quote(w, klen, q));
        if ((dur && out->has_duration) || (bytes && out->has_bytes))
            FAIL("'%s' is given twice", quote(w, klen, q));
        if (!parse_u64(eq + 1, vlen, &v))
            FAIL("\"%s\": the value must be a whole number of at most 19 digits",
                 quote(w, wlen, q));
        if (dur ? v > RLY_AUTH_CLASS_DURATION_MAX : v > (uint64_t)INT64_MAX) {
            if (dur)
                FAIL("\"%s\" is out of range (" KEY_DURATION " 0..2592000)", quote(w, wlen, q));
            FAIL("\"%s\" is out of range (" KEY_BYTES " 0..9223372036854775807)",
                 quote(w, wlen, q));
        }
        if (dur) {
            out->has_duration = true;
            out->duration_secs = v;
        } else {
            out->has_bytes = true;
            out->bytes = v;
        }
        nkeys++;
    }
    if (nkeys == 0)
        FAIL("class '%s' sets no limit (" KEY_DURATION "=..., " KEY_BYTES "=...)", out->name);
    return 0;
}

const rly_auth_class *rly_auth_class_find(const rly_auth_class_list *l, const char *name)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}
