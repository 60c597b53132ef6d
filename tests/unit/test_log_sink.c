/* Log sinks: the pretty and JSON layouts, escaping, and the record routing of core/log. */
#include <criterion/criterion.h>
#include <string.h>

#include "app/log_sink.h"
#include "core/log.h"
#include "core/mem.h"

static const char *TS = "2026-11-24T20:46:15.123456Z";

static char *render(rly_log_format fmt, const rly_log_record *rec)
{
    static char out[4096];
    rly_dynbuf b;
    rly_dynbuf_init(&b, NULL, 4096);
    cr_assert_eq(rly_log_sink_format(&b, fmt, TS, rec), 0);
    snprintf(out, sizeof(out), "%s", rly_dynbuf_cstr(&b));
    rly_dynbuf_free(&b);
    return out;
}

Test(log_sink, pretty_layout)
{
    rly_log_field f[] = {RLY_F_STR("peer_id", "12D3KooWabc"), RLY_F_U64("num_established", 1),
                         RLY_F_BOOL("renewed", false), RLY_F_I64("delta", -3)};
    rly_log_record rec = {RLY_LOG_INFO, "relay_server::events", "ConnectionEstablished", f, 4};
    cr_assert_str_eq(
        render(RLY_LOG_FORMAT_PRETTY, &rec),
        "2026-11-24T20:46:15.123456Z  INFO relay_server::events: ConnectionEstablished "
        "peer_id=12D3KooWabc num_established=1 renewed=false delta=-3\n");
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(log_sink, json_layout_matches_tracing_subscriber)
{
    rly_log_field f[] = {RLY_F_STR("peer_id", "12D3KooWabc"), RLY_F_U64("remaining", 0),
                         RLY_F_BOOL("renewed", true)};
    rly_log_record rec = {RLY_LOG_WARN, "relay_server::events", "ConnectionClosed", f, 3};
    cr_assert_str_eq(render(RLY_LOG_FORMAT_JSON, &rec),
                     "{\"timestamp\":\"2026-11-24T20:46:15.123456Z\",\"level\":\"WARN\","
                     "\"fields\":{\"message\":\"ConnectionClosed\",\"peer_id\":\"12D3KooWabc\","
                     "\"remaining\":0,\"renewed\":true},\"target\":\"relay_server::events\"}\n");
}

Test(log_sink, json_escapes_everything_that_could_break_a_line)
{
    rly_log_field f[] = {RLY_F_STR("reason", "a\"b\\c\nd\te\x01 \xff")};
    rly_log_record rec = {RLY_LOG_ERROR, "relay_server", "bad \"input\"\r\n", f, 1};
    cr_assert_str_eq(render(RLY_LOG_FORMAT_JSON, &rec),
                     "{\"timestamp\":\"2026-11-24T20:46:15.123456Z\",\"level\":\"ERROR\","
                     "\"fields\":{\"message\":\"bad \\\"input\\\"\\r\\n\","
                     "\"reason\":\"a\\\"b\\\\c\\nd\\te\\u0001 \\ufffd\"},"
                     "\"target\":\"relay_server\"}\n");
}

Test(log_sink, json_keeps_valid_utf8)
{
    rly_log_field f[] = {RLY_F_STR("name", "caf\xc3\xa9 \xe2\x82\xac")};
    rly_log_record rec = {RLY_LOG_INFO, "t", "m", f, 1};
    cr_assert(strstr(render(RLY_LOG_FORMAT_JSON, &rec), "\"name\":\"caf\xc3\xa9 \xe2\x82\xac\""));
}

Test(log_sink, json_rejects_overlong_and_surrogate_utf8)
{
    rly_log_field f[] = {RLY_F_STR("a", "\xc0\xaf"), RLY_F_STR("b", "\xed\xa0\x80")};
    rly_log_record rec = {RLY_LOG_INFO, "t", NULL, f, 2};
    const char *out = render(RLY_LOG_FORMAT_JSON, &rec);
    cr_assert(strstr(out, "\"fields\":{\"a\":\"\\ufffd\\ufffd\",\"b\":\"\\ufffd\\ufffd\\ufffd\"}"),
              "%s", out);
}

Test(log_sink, pretty_quotes_values_that_could_forge_fields)
{
    rly_log_field f[] = {RLY_F_STR("reason", "x peer_id=evil"), RLY_F_STR("empty", ""),
                         RLY_F_STR("nl", "a\nb"), RLY_F_STR("null", NULL)};
    rly_log_record rec = {RLY_LOG_DEBUG, "relay_server", "msg\nwith newline", f, 4};
    cr_assert_str_eq(render(RLY_LOG_FORMAT_PRETTY, &rec),
                     "2026-11-24T20:46:15.123456Z DEBUG relay_server: msg\\x0awith newline "
                     "reason=\"x peer_id=evil\" empty=\"\" nl=\"a\\nb\" null=\"\"\n");
}

typedef struct capture {
    int calls;
    rly_log_level level;
    char message[64];
    size_t nfields;
} capture;

static void capture_sink(void *ud, const rly_log_record *rec)
{
    capture *c = ud;
    c->calls++;
    c->level = rec->level;
    snprintf(c->message, sizeof(c->message), "%s", rec->message ? rec->message : "(null)");
    c->nfields = rec->nfields;
}

static int evaluated;
static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

Test(log, level_filter_and_message_extraction)
{
    capture c = {0};
    rly_log log = {RLY_LOG_INFO, capture_sink, &c};
    RLY_LOGD(&log, "t", RLY_MSG("hidden"), RLY_F_STR("k", side_effect()));
    cr_assert_eq(c.calls, 0);
    cr_assert_eq(evaluated, 0, "fields of a filtered record must not be evaluated");
    RLY_LOGI(&log, "t", RLY_F_U64("n", 1), RLY_MSG("shown"), RLY_F_STR("k", "v"));
    cr_assert_eq(c.calls, 1);
    cr_assert_str_eq(c.message, "shown");
    cr_assert_eq(c.nfields, 2);
    RLY_LOGE(&log, "t", RLY_F_U64("only", 1));
    cr_assert_str_eq(c.message, "(null)");
    cr_assert_eq(c.level, RLY_LOG_ERROR);
    rly_log off = {RLY_LOG_OFF, capture_sink, &c};
    RLY_LOGE(&off, "t", RLY_MSG("never"));
    cr_assert_eq(c.calls, 2);
}

Test(log, level_names_and_parsing)
{
    rly_log_level l;
    cr_assert_eq(rly_log_level_parse("trace", &l), 0);
    cr_assert_eq(l, RLY_LOG_TRACE);
    cr_assert_eq(rly_log_level_parse("error", &l), 0);
    cr_assert_eq(l, RLY_LOG_ERROR);
    cr_assert_neq(rly_log_level_parse("INFO", &l), 0);
    cr_assert_neq(rly_log_level_parse("", &l), 0);
    cr_assert_str_eq(rly_log_level_name(RLY_LOG_WARN), "WARN");
}

Test(log_sink, timestamp_shape)
{
    char ts[40];
    rly_log_sink_timestamp(ts, sizeof(ts));
    cr_assert_eq(strlen(ts), 27);
    cr_assert_eq(ts[10], 'T');
    cr_assert_eq(ts[26], 'Z');
}

Test(log_sink, oversized_record_is_cut_to_one_line)
{
    static char big[20000];
    memset(big, 'a', sizeof(big) - 1);
    rly_log_field f[] = {RLY_F_STR("blob", big)};
    rly_log_record rec = {RLY_LOG_INFO, "relay_server", "huge", f, 1};
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    rly_log_sink s;
    rly_log_sink_init(&s, RLY_LOG_FORMAT_JSON, mem);
    rly_log_sink_write(&s, &rec);
    fclose(mem);
    cr_assert(strstr(out, "\"message\":\"log record dropped (too long)\""), "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + len - 1);
    free(out);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
