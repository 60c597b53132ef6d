/* toml.c: the in-tree TOML subset (toml.h). One line at a time: a pre-scan rejects control
 * characters and invalid UTF-8, then a small recursive-descent pass reads one statement (or the
 * next items of an open array). Everything is bounded by rly_toml_limits. */
#include "app/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/hex.h"

/* Names and values quoted in messages are cut to this many bytes. */
#define QUOTE_MAX 48

/* A cursor over one line. */
typedef struct cur {
    const char *s;
    size_t len;
    size_t pos;
} cur;

static bool at_end(const cur *c)
{
    return c->pos >= c->len;
}

static char peek_at(const cur *c, size_t k)
{
    return c->pos + k < c->len ? c->s[c->pos + k] : '\0';
}

static char peek(const cur *c)
{
    return peek_at(c, 0);
}

static void skip_ws(cur *c)
{
    while (!at_end(c) && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
        c->pos++;
}

static bool at_line_end(cur *c)
{
    skip_ws(c);
    return at_end(c) || peek(c) == '#';
}

static bool is_bare(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

static size_t read_bare(cur *c)
{
    size_t start = c->pos;
    while (!at_end(c) && is_bare(c->s[c->pos]))
        c->pos++;
    return c->pos - start;
}

/* clip returns the precision for quoting |n| bytes of a name in a message. */
static int clip(size_t n)
{
    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

static uint32_t col_of(size_t pos)
{
    return pos >= UINT32_MAX ? UINT32_MAX : (uint32_t)(pos + 1);
}

static bool name_eq(const char *a, const char *b, size_t n)
{
    return strlen(a) == n && memcmp(a, b, n) == 0;
}

__attribute__((format(printf, 5, 0))) static int
vfail_at(rly_toml_parser *p, int code, uint32_t line, uint32_t col, const char *fmt, va_list ap)
{
    p->status = code;
    p->err.line = line;
    p->err.col = col;
    vsnprintf(p->err.msg, sizeof(p->err.msg), fmt, ap);
    return code;
}

/* fail records the first error of |p| at byte |pos| of the current line and returns |code|. */
__attribute__((format(printf, 4, 5))) static int fail(rly_toml_parser *p, int code, size_t pos,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = vfail_at(p, code, p->line, col_of(pos), fmt, ap);
    va_end(ap);
    return rv;
}

__attribute__((format(printf, 5, 6))) static int
fail_at(rly_toml_parser *p, int code, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = vfail_at(p, code, line, col, fmt, ap);
    va_end(ap);
    return rv;
}

static int fail_nomem(rly_toml_parser *p, size_t pos)
{
    return fail(p, RLY_ERR_NOMEM, pos, "out of memory");
}

/* utf8_seq returns the length of the valid UTF-8 sequence at |s| (|avail| bytes, first byte
 * >= 0x80), or 0 if it is invalid: truncated, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    size_t n;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1fu;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* check_chars rejects control characters (TOML allows only tab) and invalid UTF-8 anywhere in
 * the line, so later stages only see text. */
static int check_chars(rly_toml_parser *p, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return fail(p, RLY_ERR_MALFORMED, i, "control character 0x%02x is not allowed", ch);
            i++;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0)
            return fail(p, RLY_ERR_MALFORMED, i, "invalid UTF-8");
        i += n;
    }
    return 0;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* grow returns |arr| (holding |n| elements of |size| bytes) with room for one more, or NULL when
 * out of memory (|arr| then stays valid). Capacities are powers of two from 4, so the capacity
 * follows from the count. */
static void *grow(rly_mem *mem, void *arr, size_t n, size_t size)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return arr;
    size_t ncap = n == 0 ? 4 : n * 2;
    if (ncap > SIZE_MAX / size)
        return NULL;
    return rly_realloc(mem, arr, ncap * size);
}

/* decode_unicode reads the \u or \U escape whose backslash is at |at| (|to|: end of the string
 * body) into |out| at |*po| and moves |*pi| past it. */
static int decode_unicode(rly_toml_parser *p, const char *s, size_t at, size_t to, size_t *pi,
                          char *out, size_t *po)
{
    char e = s[at + 1];
    size_t nd = e == 'u' ? 4 : 8;
    uint32_t cp = 0;
    if (to - (at + 2) < nd)
        return fail(p, RLY_ERR_MALFORMED, at, "\\%c escape needs %zu hex digits", e, nd);
    for (size_t k = 0; k < nd; k++) {
        int d = rly_hex_digit(s[at + 2 + k]);
        if (d < 0)
            return fail(p, RLY_ERR_MALFORMED, at, "\\%c escape needs %zu hex digits", e, nd);
        cp = (cp << 4) | (uint32_t)d;
    }
    if (cp == 0)
        return fail(p, RLY_ERR_MALFORMED, at, "\\u0000 is not allowed in strings");
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail(p, RLY_ERR_MALFORMED, at, "escape is not a Unicode scalar value");
    *po += utf8_put(cp, out + *po);
    *pi = at + 2 + nd;
    return 0;
}

/* decode_escape reads the escape whose backslash is at |*pi|. A backslash is always followed
 * by one more byte before |to|: find_close skipped that byte. */
static int decode_escape(rly_toml_parser *p, const char *s, size_t *pi, size_t to, char *out,
                         size_t *po)
{
    static const char from[] = "btnfr\"\\";
    static const char into[] = "\b\t\n\f\r\"\\";
    size_t at = *pi;
    char e = s[at + 1];
    const char *hit = e ? strchr(from, e) : NULL;
    if (hit) {
        out[(*po)++] = into[hit - from];
        *pi = at + 2;
        return 0;
    }
    if (e == 'u' || e == 'U')
        return decode_unicode(p, s, at, to, pi, out, po);
    if (e > ' ' && e < 0x7f)
        return fail(p, RLY_ERR_MALFORMED, at, "invalid escape '\\%c'", e);
    return fail(p, RLY_ERR_MALFORMED, at, "invalid escape");
}

/* find_close finds the closing quote |q| of the string opened at |open|. */
static int find_close(rly_toml_parser *p, const cur *c, size_t open, size_t *pclose)
{
    char q = c->s[open];
    size_t i = open + 1;
    while (i < c->len) {
        if (c->s[i] == q) {
            *pclose = i;
            return 0;
        }
        i += (q == '"' && c->s[i] == '\\') ? 2 : 1;
    }
    return fail(p, RLY_ERR_MALFORMED, open, "unterminated string");
}

/* parse_string reads the basic or literal string at the cursor into |out|. */
static int parse_string(rly_toml_parser *p, cur *c, rly_toml_string *out)
{
    size_t open = c->pos, close = 0, len = 0;
    char q = c->s[open];
    if (peek_at(c, 1) == q && peek_at(c, 2) == q)
        return fail(p, RLY_ERR_MALFORMED, open, "multi-line strings are not supported");
    int rv = find_close(p, c, open, &close);
    if (rv)
        return rv;
    /* The decoded text is never longer than the raw text. */
    char *buf = rly_malloc(p->mem, close - open);
    if (!buf)
        return fail_nomem(p, open);
    if (q == '\'') {
        len = close - open - 1;
        memcpy(buf, c->s + open + 1, len);
    } else {
        for (size_t i = open + 1; i < close && rv == 0;) {
            if (c->s[i] == '\\')
                rv = decode_escape(p, c->s, &i, close, buf, &len);
            else
                buf[len++] = c->s[i++];
        }
    }
    if (rv == 0 && len > p->limits.string_max)
        rv = fail(p, RLY_ERR_NOBUF, open, "string longer than %zu bytes", p->limits.string_max);
    if (rv) {
        rly_free(p->mem, buf);
        return rv;
    }
    buf[len] = '\0';
    *out = (rly_toml_string){.ptr = buf, .len = len, .line = p->line, .col = col_of(open)};
    c->pos = close + 1;
    return 0;
}

enum { INT_OK = 0, INT_BAD = 1, INT_RANGE = 2 };

static int digit_val(char ch, unsigned base)
{
    int d = rly_hex_digit(ch);
    return d >= 0 && (unsigned)d < base ? d : -1;
}

/* parse_digits reads digits of |base| with underscores only between digits. */
static int parse_digits(const char *s, size_t n, unsigned base, uint64_t *pv)
{
    uint64_t v = 0;
    bool prev_digit = false;
    if (n == 0)
        return INT_BAD;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (!prev_digit || i + 1 == n)
                return INT_BAD;
            prev_digit = false;
            continue;
        }
        int d = digit_val(s[i], base);
        if (d < 0)
            return INT_BAD;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return INT_RANGE;
        v = v * base + (uint64_t)d;
        prev_digit = true;
    }
    *pv = v;
    return INT_OK;
}

/* parse_int reads a TOML integer token into |*pv|: INT_OK, INT_BAD or INT_RANGE. */
static int parse_int(const char *s, size_t n, int64_t *pv)
{
    size_t i = 0;
    unsigned base = 10;
    bool neg = false;
    uint64_t v = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
        if (i != 0)
            return INT_BAD; /* no sign on prefixed forms */
        base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        i = 2;
    } else if (n - i > 1 && s[i] == '0') {
        return INT_BAD; /* leading zero */
    }
    int rv = parse_digits(s + i, n - i, base, &v);
    if (rv != INT_OK)
        return rv;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (v > limit)
        return INT_RANGE;
    if (neg)
        *pv = v == limit ? INT64_MIN : -(int64_t)v;
    else
        *pv = (int64_t)v;
    return INT_OK;
}

/* bad_number says why the numeric-looking token |t| is not an integer we accept. */
static const char *bad_number(const char *t, size_t n)
{
    size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
    bool is_hex = n > i + 1 && t[i] == '0' && t[i + 1] == 'x';
    if (n - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0))
        return "floats are not supported";
    if (memchr(t, ':', n) || (i == 0 && n > 4 && t[4] == '-'))
        return "dates and times are not supported";
    if (memchr(t, '.', n) || (!is_hex && (memchr(t, 'e', n) || memchr(t, 'E', n))))
        return "floats are not supported";
    return "invalid integer";
}

static size_t token_len(const cur *c)
{
    size_t i = c->pos;
    while (i < c->len && !strchr(" \t#,[]{}\"'=", c->s[i]))
        i++;
    return i - c->pos;
}

/* parse_scalar reads a bare value: a boolean or an integer. */
static int parse_scalar(rly_toml_parser *p, cur *c, rly_toml_value *v)
{
    const char *t = c->s + c->pos;
    size_t n = token_len(c);
    if (n == 0)
        return fail(p, RLY_ERR_MALFORMED, c->pos, "expected a value");
    if (n == 4 && memcmp(t, "true", 4) == 0) {
        v->type = RLY_TOML_BOOLEAN;
        v->v.b = true;
    } else if (n == 5 && memcmp(t, "false", 5) == 0) {
        v->type = RLY_TOML_BOOLEAN;
        v->v.b = false;
    } else if ((t[0] >= '0' && t[0] <= '9') || t[0] == '+' || t[0] == '-') {
        int rv = parse_int(t, n, &v->v.i);
        if (rv == INT_RANGE)
            return fail(p, RLY_ERR_MALFORMED, c->pos,
                        "integer '%.*s' does not fit in 64 bits (signed)", clip(n), t);
        if (rv != INT_OK)
            return fail(p, RLY_ERR_MALFORMED, c->pos, "%s: '%.*s'", bad_number(t, n), clip(n), t);
        v->type = RLY_TOML_INTEGER;
    } else if ((n == 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0))) {
        return fail(p, RLY_ERR_MALFORMED, c->pos, "floats are not supported: '%.*s'", 3, t);
    } else {
        return fail(p, RLY_ERR_MALFORMED, c->pos, "invalid value '%.*s' (strings must be quoted)",
                    clip(n), t);
    }
    c->pos += n;
    return 0;
}

static int expect_end(rly_toml_parser *p, cur *c, const char *what)
{
    if (at_line_end(c))
        return 0;
    return fail(p, RLY_ERR_MALFORMED, c->pos, "unexpected text after %s", what);
}

static rly_toml_entry *last_entry(rly_toml_parser *p)
{
    return &p->doc.entries[p->doc.nentries - 1];
}

static int add_item(rly_toml_parser *p, cur *c, rly_toml_value *v)
{
    if (v->v.arr.len >= p->limits.array_max)
        return fail(p, RLY_ERR_NOBUF, c->pos, "array with more than %zu items",
                    p->limits.array_max);
    rly_toml_string *items = grow(p->mem, v->v.arr.items, v->v.arr.len, sizeof(*items));
    if (!items)
        return fail_nomem(p, c->pos);
    v->v.arr.items = items;
    int rv = parse_string(p, c, &v->v.arr.items[v->v.arr.len]);
    if (rv == 0)
        v->v.arr.len++;
    return rv;
}

/* parse_array_items continues the open array (the last entry) on this line. */
static int parse_array_items(rly_toml_parser *p, cur *c)
{
    rly_toml_value *v = &last_entry(p)->value;
    while (!at_line_end(c)) {
        char ch = peek(c);
        if (ch == ']') {
            c->pos++;
            p->in_array = false;
            return expect_end(p, c, "array");
        }
        if (p->want_comma) {
            if (ch != ',')
                return fail(p, RLY_ERR_MALFORMED, c->pos, "expected ',' or ']' in array");
            c->pos++;
            p->want_comma = false;
        } else if (ch == '"' || ch == '\'') {
            int rv = add_item(p, c, v);
            if (rv)
                return rv;
            p->want_comma = true;
        } else if (ch == ',') {
            return fail(p, RLY_ERR_MALFORMED, c->pos, "unexpected ',' in array");
        } else if (ch == '[') {
            return fail(p, RLY_ERR_MALFORMED, c->pos, "nested arrays are not supported");
        } else {
            return fail(p, RLY_ERR_MALFORMED, c->pos, "arrays may only hold strings");
        }
    }
    return 0;
}

static int parse_value(rly_toml_parser *p, cur *c, rly_toml_value *v)
{
    int rv;
    v->line = p->line;
    v->col = col_of(c->pos);
    switch (peek(c)) {
    case '"':
    case '\'':
        v->type = RLY_TOML_STRING;
        rv = parse_string(p, c, &v->v.s);
        return rv ? rv : expect_end(p, c, "value");
    case '[':
        c->pos++;
        v->type = RLY_TOML_ARRAY;
        p->in_array = true;
        p->want_comma = false;
        return parse_array_items(p, c);
    case '{': return fail(p, RLY_ERR_MALFORMED, c->pos, "inline tables are not supported");
    default: rv = parse_scalar(p, c, v); return rv ? rv : expect_end(p, c, "value");
    }
}

static int add_entry(rly_toml_parser *p, const char *key, size_t n, size_t kpos)
{
    rly_toml_doc *d = &p->doc;
    if (n > p->limits.string_max)
        return fail(p, RLY_ERR_NOBUF, kpos, "key longer than %zu bytes", p->limits.string_max);
    for (size_t i = 0; i < d->nentries; i++) {
        if (d->entries[i].table == p->cur_table && name_eq(d->entries[i].key, key, n))
            return fail(p, RLY_ERR_MALFORMED, kpos, "duplicate key '%.*s' (first set on line %u)",
                        clip(n), key, d->entries[i].line);
    }
    if (d->nentries >= p->limits.entries_max)
        return fail(p, RLY_ERR_NOBUF, kpos, "more than %zu keys", p->limits.entries_max);
    rly_toml_entry *entries = grow(p->mem, d->entries, d->nentries, sizeof(*entries));
    if (!entries)
        return fail_nomem(p, kpos);
    d->entries = entries;
    char *k = rly_malloc(p->mem, n + 1);
    if (!k)
        return fail_nomem(p, kpos);
    memcpy(k, key, n);
    k[n] = '\0';
    d->entries[d->nentries++] =
        (rly_toml_entry){.table = p->cur_table, .key = k, .line = p->line, .col = col_of(kpos)};
    return 0;
}

static int parse_keyval(rly_toml_parser *p, cur *c)
{
    size_t kpos = c->pos;
    if (peek(c) == '"' || peek(c) == '\'')
        return fail(p, RLY_ERR_MALFORMED, kpos, "quoted keys are not supported");
    size_t n = read_bare(c);
    const char *key = c->s + kpos;
    if (n == 0)
        return fail(p, RLY_ERR_MALFORMED, kpos, "expected a key or a [table]");
    skip_ws(c);
    if (peek(c) == '.')
        return fail(p, RLY_ERR_MALFORMED, c->pos, "dotted keys are not supported");
    if (peek(c) != '=')
        return fail(p, RLY_ERR_MALFORMED, c->pos, "expected '=' after key '%.*s'", clip(n), key);
    c->pos++;
    if (at_line_end(c))
        return fail(p, RLY_ERR_MALFORMED, c->pos, "missing value for key '%.*s'", clip(n), key);
    int rv = add_entry(p, key, n, kpos);
    return rv ? rv : parse_value(p, c, &last_entry(p)->value);
}

static int add_table(rly_toml_parser *p, const char *name, size_t n, size_t open)
{
    rly_toml_doc *d = &p->doc;
    if (n > p->limits.string_max)
        return fail(p, RLY_ERR_NOBUF, open, "table name longer than %zu bytes",
                    p->limits.string_max);
    for (size_t i = 1; i < d->ntables; i++) {
        if (name_eq(d->tables[i].name, name, n))
            return fail(p, RLY_ERR_MALFORMED, open, "duplicate table [%.*s] (first on line %u)",
                        clip(n), name, d->tables[i].line);
    }
    for (size_t i = 0; i < d->nentries; i++) {
        if (d->entries[i].table == 0 && name_eq(d->entries[i].key, name, n))
            return fail(p, RLY_ERR_MALFORMED, open,
                        "table [%.*s] conflicts with key '%.*s' "
                        "on line %u",
                        clip(n), name, clip(n), name, d->entries[i].line);
    }
    if (d->ntables - 1 >= p->limits.tables_max)
        return fail(p, RLY_ERR_NOBUF, open, "more than %zu tables", p->limits.tables_max);
    rly_toml_table *tables = grow(p->mem, d->tables, d->ntables, sizeof(*tables));
    if (!tables)
        return fail_nomem(p, open);
    d->tables = tables;
    char *k = rly_malloc(p->mem, n + 1);
    if (!k)
        return fail_nomem(p, open);
    memcpy(k, name, n);
    k[n] = '\0';
    d->tables[d->ntables] = (rly_toml_table){.name = k, .line = p->line};
    p->cur_table = d->ntables++;
    return 0;
}

static int parse_table(rly_toml_parser *p, cur *c)
{
    size_t open = c->pos++;
    if (peek(c) == '[')
        return fail(p, RLY_ERR_MALFORMED, open, "arrays of tables ([[...]]) are not supported");
    skip_ws(c);
    if (peek(c) == '"' || peek(c) == '\'')
        return fail(p, RLY_ERR_MALFORMED, c->pos, "quoted table names are not supported");
    size_t start = c->pos;
    size_t n = read_bare(c);
    if (n == 0)
        return fail(p, RLY_ERR_MALFORMED, c->pos, "expected a table name after '['");
    skip_ws(c);
    if (peek(c) == '.')
        return fail(p, RLY_ERR_MALFORMED, c->pos, "dotted table names are not supported");
    if (peek(c) != ']')
        return fail(p, RLY_ERR_MALFORMED, c->pos, "expected ']' after table name");
    c->pos++;
    int rv = expect_end(p, c, "table header");
    return rv ? rv : add_table(p, c->s + start, n, open);
}

static int ensure_root(rly_toml_parser *p)
{
    rly_toml_doc *d = &p->doc;
    if (d->ntables > 0)
        return 0;
    rly_toml_table *tables = grow(p->mem, NULL, 0, sizeof(*tables));
    char *root = rly_malloc(p->mem, 1);
    if (!tables || !root) {
        rly_free(p->mem, tables);
        rly_free(p->mem, root);
        return fail_at(p, RLY_ERR_NOMEM, p->line, 0, "out of memory");
    }
    d->tables = tables;
    root[0] = '\0';
    d->tables[0] = (rly_toml_table){.name = root, .line = 0};
    d->ntables = 1;
    return 0;
}

/* start_line counts the line against the limits, drops a CR before the LF and pre-scans it. */
static int start_line(rly_toml_parser *p, const char *line, size_t *plen)
{
    size_t len = *plen;
    /* The input so far, with one byte for each line end before this line. */
    size_t add = len + (p->line > 1 ? 1 : 0);
    if (add > p->limits.total_max - p->total)
        return fail_at(p, RLY_ERR_NOBUF, p->line, 0, "input longer than %zu bytes",
                       p->limits.total_max);
    p->total += add;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > p->limits.line_max)
        return fail(p, RLY_ERR_NOBUF, p->limits.line_max, "line longer than %zu bytes",
                    p->limits.line_max);
    *plen = len;
    int rv = ensure_root(p);
    return rv ? rv : check_chars(p, line, len);
}

void rly_toml_limits_default(rly_toml_limits *l)
{
    *l = (rly_toml_limits){
        .line_max = RLY_TOML_LINE_MAX,
        .entries_max = RLY_TOML_ENTRIES_MAX,
        .tables_max = RLY_TOML_TABLES_MAX,
        .string_max = RLY_TOML_STRING_MAX,
        .array_max = RLY_TOML_ARRAY_MAX,
        .total_max = RLY_TOML_TOTAL_MAX,
    };
}

void rly_toml_parser_init(rly_toml_parser *p, rly_mem *mem, const rly_toml_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->mem = mem ? mem : rly_mem_default();
    p->doc.mem = p->mem;
    if (limits)
        p->limits = *limits;
    else
        rly_toml_limits_default(&p->limits);
}

int rly_toml_parser_feed_line(rly_toml_parser *p, const char *line, size_t len)
{
    if (p->status)
        return p->status;
    if (p->is_finished)
        return RLY_ERR_INVALID_STATE;
    if (p->line < UINT32_MAX)
        p->line++;
    int rv = start_line(p, line, &len);
    if (rv)
        return rv;
    cur c = {.s = line, .len = len, .pos = 0};
    if (p->in_array)
        return parse_array_items(p, &c);
    if (at_line_end(&c))
        return 0;
    if (peek(&c) == '[')
        return parse_table(p, &c);
    return parse_keyval(p, &c);
}

int rly_toml_parser_finish(rly_toml_parser *p, rly_toml_doc *pdoc)
{
    if (p->is_finished)
        return RLY_ERR_INVALID_STATE;
    p->is_finished = true;
    memset(pdoc, 0, sizeof(*pdoc));
    pdoc->mem = p->mem;
    if (p->status)
        return p->status;
    if (p->in_array) {
        const rly_toml_value *v = &last_entry(p)->value;
        return fail_at(p, RLY_ERR_MALFORMED, v->line, v->col, "unterminated array (no ']')");
    }
    int rv = ensure_root(p);
    if (rv)
        return rv;
    *pdoc = p->doc;
    memset(&p->doc, 0, sizeof(p->doc));
    p->doc.mem = p->mem;
    return 0;
}

const rly_toml_error *rly_toml_parser_error(const rly_toml_parser *p)
{
    return &p->err;
}

void rly_toml_parser_free(rly_toml_parser *p)
{
    if (p)
        rly_toml_doc_free(&p->doc);
}

int rly_toml_parse(const char *text, size_t len, rly_mem *mem, const rly_toml_limits *limits,
                   rly_toml_doc *pdoc, rly_toml_error *perr)
{
    rly_toml_parser p;
    size_t start = 0;
    int rv = 0;
    rly_toml_parser_init(&p, mem, limits);
    while (rv == 0 && start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        rv = rly_toml_parser_feed_line(&p, text + start, end - start);
        start = end + 1;
    }
    if (rv == 0)
        rv = rly_toml_parser_finish(&p, pdoc);
    else
        *pdoc = (rly_toml_doc){.mem = p.mem};
    if (perr)
        *perr = p.err;
    rly_toml_parser_free(&p);
    return rv;
}

static void free_string(rly_mem *mem, rly_toml_string *s)
{
    rly_free(mem, s->ptr);
    s->ptr = NULL;
}

void rly_toml_doc_free(rly_toml_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->ntables; i++)
        rly_free(doc->mem, doc->tables[i].name);
    for (size_t i = 0; i < doc->nentries; i++) {
        rly_toml_value *v = &doc->entries[i].value;
        rly_free(doc->mem, doc->entries[i].key);
        if (v->type == RLY_TOML_STRING)
            free_string(doc->mem, &v->v.s);
        if (v->type != RLY_TOML_ARRAY)
            continue;
        for (size_t k = 0; k < v->v.arr.len; k++)
            free_string(doc->mem, &v->v.arr.items[k]);
        rly_free(doc->mem, v->v.arr.items);
    }
    rly_free(doc->mem, doc->tables);
    rly_free(doc->mem, doc->entries);
    *doc = (rly_toml_doc){.mem = doc->mem};
}

const rly_toml_value *rly_toml_doc_get(const rly_toml_doc *doc, const char *table, const char *key)
{
    for (size_t t = 0; t < doc->ntables; t++) {
        if (strcmp(doc->tables[t].name, table) != 0)
            continue;
        for (size_t i = 0; i < doc->nentries; i++) {
            if (doc->entries[i].table == t && strcmp(doc->entries[i].key, key) == 0)
                return &doc->entries[i].value;
        }
        return NULL;
    }
    return NULL;
}

const char *rly_toml_type_name(rly_toml_type t)
{
    switch (t) {
    case RLY_TOML_STRING: return "string";
    case RLY_TOML_INTEGER: return "integer";
    case RLY_TOML_BOOLEAN: return "boolean";
    case RLY_TOML_ARRAY: return "array";
    }
    return "unknown";
}
