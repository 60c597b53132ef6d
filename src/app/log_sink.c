#include "app/log_sink.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

/* A record longer than this is cut (and marked) rather than growing without bound. */
#define MAX_LINE 16384

void rly_log_sink_init(rly_log_sink *s, rly_log_format format, FILE *out)
{
    s->format = format;
    s->out = out;
}

void rly_log_sink_timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* The ranges are known (gmtime fields, microseconds < 10^6): casts keep gcc's truncation
     * analysis honest about it. */
    snprintf(out, cap, "%04d-%02u-%02uT%02u:%02u:%02u.%06uZ", tm.tm_year + 1900,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

/* Length of the valid UTF-8 sequence at |s| (at most |n| bytes), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* JSON string body: quotes, backslashes and control characters escaped; invalid UTF-8 becomes
 * U+FFFD. */
static int append_json_str(rly_dynbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    int rv = rly_dynbuf_append_byte(b, '"');
    for (size_t i = 0; rv == 0 && i < n;) {
        unsigned char c = p[i];
        size_t ul = utf8_len(p + i, n - i);
        if (c == '"' || c == '\\') {
            rv = rly_dynbuf_appendf(b, "\\%c", c);
        } else if (c == '\n') {
            rv = rly_dynbuf_append_str(b, "\\n");
        } else if (c == '\r') {
            rv = rly_dynbuf_append_str(b, "\\r");
        } else if (c == '\t') {
            rv = rly_dynbuf_append_str(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            rv = rly_dynbuf_appendf(b, "\\u%04x", c);
        } else if (ul == 0) {
            rv = rly_dynbuf_append_str(b, "\\ufffd");
            i++;
            continue;
        } else {
            rv = rly_dynbuf_append(b, p + i, ul);
            i += ul;
            continue;
        }
        i++;
    }
    return rv ? rv : rly_dynbuf_append_byte(b, '"');
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return true;
    return false;
}

/* Pretty values: bare when safe, otherwise a JSON-style quoted string, so a value can never
 * break the line or forge another field. */
static int append_pretty_str(rly_dynbuf *b, const char *s, bool is_message)
{
    s = s ? s : "";
    if (is_message) {
        /* Messages are free text: keep spaces, escape only line breaks and controls. */
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
            int rv = (*p < 0x20 || *p == 0x7f) ? rly_dynbuf_appendf(b, "\\x%02x", *p)
                                               : rly_dynbuf_append_byte(b, *p);
            if (rv)
                return rv;
        }
        return 0;
    }
    return needs_quotes(s) ? append_json_str(b, s) : rly_dynbuf_append_str(b, s);
}

static int append_value(rly_dynbuf *b, const rly_log_field *f, bool json)
{
    switch (f->type) {
    case RLY_LOG_F_STR: return json ? append_json_str(b, f->v.s) : append_pretty_str(b, f->v.s, 0);
    case RLY_LOG_F_U64: return rly_dynbuf_appendf(b, "%" PRIu64, f->v.u);
    case RLY_LOG_F_I64: return rly_dynbuf_appendf(b, "%" PRId64, f->v.i);
    case RLY_LOG_F_BOOL: return rly_dynbuf_append_str(b, f->v.b ? "true" : "false");
    }
    return RLY_ERR_INVALID_ARG;
}

static int format_pretty(rly_dynbuf *b, const char *ts, const rly_log_record *rec)
{
    int rv = rly_dynbuf_appendf(b, "%s %5s %s: ", ts, rly_log_level_name(rec->level),
                                rec->target ? rec->target : "");
    if (rv == 0 && rec->message)
        rv = append_pretty_str(b, rec->message, true);
    for (size_t i = 0; rv == 0 && i < rec->nfields; i++) {
        rv = rly_dynbuf_appendf(b, "%s%s=", (i == 0 && !rec->message) ? "" : " ",
                                rec->fields[i].key);
        if (rv == 0)
            rv = append_value(b, &rec->fields[i], false);
    }
    return rv ? rv : rly_dynbuf_append_byte(b, '\n');
}

static int format_json(rly_dynbuf *b, const char *ts, const rly_log_record *rec)
{
    int rv = rly_dynbuf_appendf(b, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"fields\":{", ts,
                                rly_log_level_name(rec->level));
    bool first = true;
    if (rv == 0 && rec->message) {
        rv = rly_dynbuf_append_str(b, "\"message\":");
        if (rv == 0)
            rv = append_json_str(b, rec->message);
        first = false;
    }
    for (size_t i = 0; rv == 0 && i < rec->nfields; i++, first = false) {
        if (!first)
            rv = rly_dynbuf_append_byte(b, ',');
        if (rv == 0)
            rv = append_json_str(b, rec->fields[i].key);
        if (rv == 0)
            rv = rly_dynbuf_append_byte(b, ':');
        if (rv == 0)
            rv = append_value(b, &rec->fields[i], true);
    }
    if (rv == 0)
        rv = rly_dynbuf_append_str(b, "},\"target\":");
    if (rv == 0)
        rv = append_json_str(b, rec->target);
    return rv ? rv : rly_dynbuf_append_str(b, "}\n");
}

int rly_log_sink_format(rly_dynbuf *b, rly_log_format format, const char *timestamp,
                        const rly_log_record *rec)
{
    if (format == RLY_LOG_FORMAT_JSON)
        return format_json(b, timestamp, rec);
    return format_pretty(b, timestamp, rec);
}

void rly_log_sink_write(void *user_data, const rly_log_record *rec)
{
    rly_log_sink *s = user_data;
    char ts[40];
    uint8_t small[1024];
    rly_dynbuf b;

    rly_log_sink_timestamp(ts, sizeof(ts));
    rly_dynbuf_init_small(&b, small, sizeof(small), NULL, MAX_LINE);
    if (rly_log_sink_format(&b, s->format, ts, rec) != 0) {
        /* Too long or out of memory: say so, in the same format, rather than drop it silently. */
        rly_log_record cut = {
            .level = rec->level, .target = rec->target, .message = "log record dropped (too long)"};
        rly_dynbuf_reset(&b);
        if (rly_log_sink_format(&b, s->format, ts, &cut) != 0)
            rly_dynbuf_reset(&b);
    }
    fwrite(b.data, 1, b.len, s->out);
    fflush(s->out);
    rly_dynbuf_free(&b);
}
