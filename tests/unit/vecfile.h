/* vecfile.h: reading spec vector files from tests/vectors/ (RLY_VECTORS_DIR) in unit tests.
 *
 * A vector file is text: one vector per line, fields separated by TAB, '#' starts a comment line,
 * blank lines are skipped. A field "!name" names an expected rly_err (see vec_err). Header-only
 * and static so each test executable stays self-contained; include after <criterion/criterion.h>.
 */
#ifndef RLY_TESTS_VECFILE_H
#define RLY_TESTS_VECFILE_H

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define VEC_MAX_FIELDS 4
#define VEC_LINE_MAX 8192

typedef struct vec_line {
    const char *file;
    int lineno;
    int nf;
    char *f[VEC_MAX_FIELDS];
} vec_line;

typedef void (*vec_fn)(const vec_line *l, void *ud);

/* vec_split cuts |buf| at TABs into |l|'s fields; only the line end is stripped, so fields may
 * keep leading or trailing spaces on purpose. */
static inline void vec_split(char *buf, vec_line *l)
{
    buf[strcspn(buf, "\r\n")] = '\0';
    l->nf = 0;
    char *p = buf;
    while (l->nf < VEC_MAX_FIELDS) {
        l->f[l->nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
}

/* vec_each calls |fn| for every vector line of RLY_VECTORS_DIR/|name| and returns the count. */
static inline int vec_each(const char *name, vec_fn fn, void *ud)
{
    static char buf[VEC_LINE_MAX];
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", RLY_VECTORS_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    int n = 0;
    vec_line l = {.file = name};
    while (fgets(buf, sizeof(buf), f)) {
        l.lineno++;
        if (buf[0] == '#' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\0')
            continue;
        vec_split(buf, &l);
        fn(&l, ud);
        n++;
    }
    fclose(f);
    return n;
}

static inline int vec_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* vec_hex decodes the lower-case hex string |hex| into |out| and returns the byte count. */
static inline size_t vec_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    cr_assert(n % 2 == 0 && n / 2 <= cap, "bad hex field '%s'", hex);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = vec_nibble(hex[2 * i]), lo = vec_nibble(hex[2 * i + 1]);
        cr_assert(hi >= 0 && lo >= 0, "bad hex field '%s'", hex);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

/* vec_err maps an expected-error field ("!malformed") to its rly_err. */
static inline int vec_err(const char *s)
{
    static const struct {
        const char *name;
        int err;
    } map[] = {
        {"!malformed", RLY_ERR_MALFORMED}, {"!unsupported", RLY_ERR_UNSUPPORTED},
        {"!truncated", RLY_ERR_TRUNCATED}, {"!non_minimal", RLY_ERR_NON_MINIMAL},
        {"!nobuf", RLY_ERR_NOBUF},         {"!invalid_arg", RLY_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, s) == 0)
            return map[i].err;
    cr_assert_fail("unknown error name '%s'", s);
    return 0;
}

#endif
