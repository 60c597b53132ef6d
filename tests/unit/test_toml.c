/* test_toml.c: the in-tree TOML subset (src/app/toml.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "app/toml.h"
#include "core/mem.h"

static rly_toml_doc doc;
static rly_toml_error err;

static int parse(const char *text)
{
    return rly_toml_parse(text, strlen(text), NULL, NULL, &doc, &err);
}

static int parse_lim(const char *text, const rly_toml_limits *l)
{
    return rly_toml_parse(text, strlen(text), NULL, l, &doc, &err);
}

/* done frees the document and checks that nothing is left allocated. */
static void done(void)
{
    rly_toml_doc_free(&doc);
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",
                 rly_mem_default()->live_bytes);
}

static const rly_toml_value *get(const char *table, const char *key, rly_toml_type type)
{
    const rly_toml_value *v = rly_toml_doc_get(&doc, table, key);
    cr_assert_not_null(v, "no %s.%s", table, key);
    cr_assert_eq(v->type, type, "%s.%s has type %d", table, key, (int)v->type);
    return v;
}

static const char *get_str(const char *table, const char *key)
{
    return get(table, key, RLY_TOML_STRING)->v.s.ptr;
}

static int64_t get_int(const char *table, const char *key)
{
    return get(table, key, RLY_TOML_INTEGER)->v.i;
}

/* bad parses |text| expecting |code| at |line|:|col| with |substr| in the message. */
static void bad_lim(const char *text, const rly_toml_limits *l, int code, uint32_t line,
                    uint32_t col, const char *substr)
{
    int rv = parse_lim(text, l);
    cr_assert_eq(rv, code, "'%s': rv %d, want %d (%s)", text, rv, code, err.msg);
    cr_assert_eq(err.line, line, "'%s': line %u, want %u (%s)", text, err.line, line, err.msg);
    if (col)
        cr_assert_eq(err.col, col, "'%s': col %u, want %u (%s)", text, err.col, col, err.msg);
    cr_assert(strstr(err.msg, substr), "'%s': message '%s' lacks '%s'", text, err.msg, substr);
    cr_assert_eq(doc.nentries, 0);
    cr_assert_null(doc.entries);
    done();
}

static void bad(const char *text, uint32_t line, uint32_t col, const char *substr)
{
    bad_lim(text, NULL, RLY_ERR_MALFORMED, line, col, substr);
}

Test(toml, empty_input)
{
    cr_assert_eq(parse(""), 0);
    cr_assert_eq(doc.ntables, 1);
    cr_assert_str_eq(doc.tables[0].name, "");
    cr_assert_eq(doc.nentries, 0);
    done();
}

Test(toml, tables_keys_and_root)
{
    const char *text = "top = 1\n"
                       "\n"
                       "[relay]\n"
                       "max = 100\n"
                       "[ net-2 ]  # spaces inside the brackets\n"
                       "addr = \"/ip4/0.0.0.0/tcp/4001\"\n"
                       "Key_X-9 = true\n"
                       "[empty]\n";
    cr_assert_eq(parse(text), 0, "%s", err.msg);
    cr_assert_eq(doc.ntables, 4);
    cr_assert_str_eq(doc.tables[1].name, "relay");
    cr_assert_eq(doc.tables[1].line, 3);
    cr_assert_str_eq(doc.tables[2].name, "net-2");
    cr_assert_str_eq(doc.tables[3].name, "empty");
    cr_assert_eq(doc.nentries, 4);
    cr_assert_eq(get_int("", "top"), 1);
    cr_assert_eq(get_int("relay", "max"), 100);
    cr_assert_str_eq(get_str("net-2", "addr"), "/ip4/0.0.0.0/tcp/4001");
    cr_assert_eq(get("net-2", "Key_X-9", RLY_TOML_BOOLEAN)->v.b, true);
    cr_assert_eq(doc.entries[1].line, 4);
    cr_assert_eq(doc.entries[1].col, 1);
    cr_assert_eq(doc.entries[1].value.col, 7);
    cr_assert_null(rly_toml_doc_get(&doc, "relay", "top"));
    cr_assert_null(rly_toml_doc_get(&doc, "nope", "max"));
    done();
}

Test(toml, same_key_in_two_tables)
{
    cr_assert_eq(parse("a = 1\n[x]\na = 2\n[y]\na = 3\n"), 0, "%s", err.msg);
    cr_assert_eq(get_int("", "a"), 1);
    cr_assert_eq(get_int("x", "a"), 2);
    cr_assert_eq(get_int("y", "a"), 3);
    done();
}

Test(toml, basic_string_escapes)
{
    cr_assert_eq(parse("a = \"q\\\"b\\\\s\\n\\t\\r\\b\\f end\"\n"
                       "u = \"\\u00e9\\u20AC\\U0001F600\"\n"
                       "raw = \"caf\xc3\xa9 \t tab\"\n"
                       "e = \"\"\n"),
                 0, "%s", err.msg);
    cr_assert_str_eq(get_str("", "a"), "q\"b\\s\n\t\r\b\f end");
    cr_assert_str_eq(get_str("", "u"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    cr_assert_eq(get("", "u", RLY_TOML_STRING)->v.s.len, 9);
    cr_assert_str_eq(get_str("", "raw"), "caf\xc3\xa9 \t tab");
    cr_assert_str_eq(get_str("", "e"), "");
    cr_assert_eq(get("", "e", RLY_TOML_STRING)->v.s.len, 0);
    done();
}

Test(toml, literal_strings)
{
    cr_assert_eq(parse("p = 'C:\\new\\table \"quoted\"'\nq = ''\nr = '#not a comment'  # real\n"),
                 0, "%s", err.msg);
    cr_assert_str_eq(get_str("", "p"), "C:\\new\\table \"quoted\"");
    cr_assert_str_eq(get_str("", "q"), "");
    cr_assert_str_eq(get_str("", "r"), "#not a comment");
    done();
}

Test(toml, string_escape_errors)
{
    bad("a = \"x\\qy\"\n", 1, 7, "invalid escape '\\q'");
    bad("a = \"\\u12\"\n", 1, 6, "\\u escape needs 4 hex digits");
    bad("a = \"\\u12G4\"\n", 1, 6, "\\u escape needs 4 hex digits");
    bad("a = \"\\U0001F60\"\n", 1, 6, "\\U escape needs 8 hex digits");
    bad("a = \"\\uD800\"\n", 1, 6, "not a Unicode scalar value");
    bad("a = \"\\U00110000\"\n", 1, 6, "not a Unicode scalar value");
    bad("a = \"\\u0000\"\n", 1, 6, "\\u0000 is not allowed");
    bad("a = \"\\ \"\n", 1, 6, "invalid escape");
}

Test(toml, string_errors)
{
    bad("a = \"abc\n", 1, 5, "unterminated string");
    bad("a = 'abc\n", 1, 5, "unterminated string");
    bad("a = \"abc\\\"\n", 1, 5, "unterminated string");
    bad("a = \"\"\"multi\"\"\"\n", 1, 5, "multi-line strings are not supported");
    bad("a = '''multi'''\n", 1, 5, "multi-line strings are not supported");
    bad("a = \"x\" \"y\"\n", 1, 9, "unexpected text after value");
}

Test(toml, control_characters_and_utf8)
{
    bad("a = \"x\x01y\"\n", 1, 7, "control character 0x01");
    bad("a = 'x\x7fy'\n", 1, 7, "control character 0x7f");
    bad("a = 1 # bell \x07\n", 1, 14, "control character 0x07");
    bad("a = \"x\ry\"\n", 1, 7, "control character 0x0d");
    bad("a = \"\xff\"\n", 1, 6, "invalid UTF-8");
    bad("a = \"\xc0\xaf\"\n", 1, 6, "invalid UTF-8");         /* overlong */
    bad("a = \"\xed\xa0\x80\"\n", 1, 6, "invalid UTF-8");     /* surrogate */
    bad("a = \"\xe2\x82\"\n", 1, 6, "invalid UTF-8");         /* truncated */
    bad("a = \"\xf4\x90\x80\x80\"\n", 1, 6, "invalid UTF-8"); /* above U+10FFFF */
    static const char nul[] = "a = \"x\0y\"\n";
    cr_assert_eq(rly_toml_parse(nul, sizeof(nul) - 1, NULL, NULL, &doc, &err), RLY_ERR_MALFORMED);
    cr_assert_eq(err.col, 7);
    cr_assert(strstr(err.msg, "control character 0x00"));
    done();
}

Test(toml, integers)
{
    cr_assert_eq(parse("a = 0\nb = +5\nc = -17\nd = 1_000_000\ne = 0xDEAD_beef\nf = 0o755\n"
                       "g = 0b1010\nh = 9223372036854775807\ni = -9223372036854775808\n"
                       "j = -0\nk = 0x7FFFFFFFFFFFFFFF\n"),
                 0, "%s", err.msg);
    cr_assert_eq(get_int("", "a"), 0);
    cr_assert_eq(get_int("", "b"), 5);
    cr_assert_eq(get_int("", "c"), -17);
    cr_assert_eq(get_int("", "d"), 1000000);
    cr_assert_eq(get_int("", "e"), 0xdeadbeef);
    cr_assert_eq(get_int("", "f"), 0755);
    cr_assert_eq(get_int("", "g"), 10);
    cr_assert_eq(get_int("", "h"), INT64_MAX);
    cr_assert_eq(get_int("", "i"), INT64_MIN);
    cr_assert_eq(get_int("", "j"), 0);
    cr_assert_eq(get_int("", "k"), INT64_MAX);
    done();
}

Test(toml, integer_errors)
{
    bad("a = 01\n", 1, 5, "invalid integer: '01'");
    bad("a = 1__0\n", 1, 5, "invalid integer");
    bad("a = _1\n", 1, 5, "invalid value '_1'");
    bad("a = 1_\n", 1, 5, "invalid integer");
    bad("a = 0x\n", 1, 5, "invalid integer");
    bad("a = 0x_1\n", 1, 5, "invalid integer");
    bad("a = +0x1\n", 1, 5, "invalid integer");
    bad("a = 0b102\n", 1, 5, "invalid integer");
    bad("a = 0o8\n", 1, 5, "invalid integer");
    bad("a = 0X10\n", 1, 5, "invalid integer");
    bad("a = 12abc\n", 1, 5, "invalid integer");
    bad("a = -\n", 1, 5, "invalid integer");
    bad("a = 9223372036854775808\n", 1, 5, "does not fit in 64 bits");
    bad("a = -9223372036854775809\n", 1, 5, "does not fit in 64 bits");
    bad("a = 0xFFFFFFFFFFFFFFFF\n", 1, 5, "does not fit in 64 bits");
    bad("a = 99999999999999999999999999\n", 1, 5, "does not fit in 64 bits");
    bad("a = 1 2\n", 1, 7, "unexpected text after value");
    bad("a = 1,\n", 1, 6, "unexpected text after value");
}

Test(toml, unsupported_values)
{
    bad("a = 1.5\n", 1, 5, "floats are not supported");
    bad("a = 1e5\n", 1, 5, "floats are not supported");
    bad("a = -inf\n", 1, 5, "floats are not supported");
    bad("a = nan\n", 1, 5, "floats are not supported");
    bad("a = 1979-05-27\n", 1, 5, "dates and times are not supported");
    bad("a = 07:32:00\n", 1, 5, "dates and times are not supported");
    bad("a = { b = 1 }\n", 1, 5, "inline tables are not supported");
    bad("level = info\n", 1, 9, "invalid value 'info' (strings must be quoted)");
    bad("a = True\n", 1, 5, "invalid value 'True'");
    bad("a = ]\n", 1, 5, "expected a value");
}

Test(toml, booleans)
{
    cr_assert_eq(parse("t = true\nf = false # no\n"), 0, "%s", err.msg);
    cr_assert_eq(get("", "t", RLY_TOML_BOOLEAN)->v.b, true);
    cr_assert_eq(get("", "f", RLY_TOML_BOOLEAN)->v.b, false);
    done();
}

Test(toml, arrays)
{
    const char *text = "one = [\"a\"]\n"
                       "empty = []\n"
                       "multi = [ # comment after the bracket\n"
                       "  \"x\",\n"
                       "\n"
                       "  # a comment line\n"
                       "  'y\\z' , \"w\",  # trailing comma next\n"
                       "]\n"
                       "after = 1\n"
                       "spaced = [ ]\n";
    cr_assert_eq(parse(text), 0, "%s", err.msg);
    const rly_toml_value *v = get("", "one", RLY_TOML_ARRAY);
    cr_assert_eq(v->v.arr.len, 1);
    cr_assert_str_eq(v->v.arr.items[0].ptr, "a");
    cr_assert_eq(get("", "empty", RLY_TOML_ARRAY)->v.arr.len, 0);
    v = get("", "multi", RLY_TOML_ARRAY);
    cr_assert_eq(v->v.arr.len, 3);
    cr_assert_str_eq(v->v.arr.items[0].ptr, "x");
    cr_assert_eq(v->v.arr.items[0].line, 4);
    cr_assert_str_eq(v->v.arr.items[1].ptr, "y\\z");
    cr_assert_str_eq(v->v.arr.items[2].ptr, "w");
    cr_assert_eq(v->v.arr.items[2].line, 7);
    cr_assert_eq(get_int("", "after"), 1);
    cr_assert_eq(get("", "spaced", RLY_TOML_ARRAY)->v.arr.len, 0);
    done();
}

Test(toml, array_errors)
{
    bad("a = [1, 2]\n", 1, 6, "arrays may only hold strings");
    bad("a = [\"x\", true]\n", 1, 11, "arrays may only hold strings");
    bad("a = [[\"x\"]]\n", 1, 6, "nested arrays are not supported");
    bad("a = [\"x\" \"y\"]\n", 1, 10, "expected ',' or ']' in array");
    bad("a = [\"x\",,]\n", 1, 10, "unexpected ',' in array");
    bad("a = [,]\n", 1, 6, "unexpected ',' in array");
    bad("a = [\"x\"] b\n", 1, 11, "unexpected text after array");
    bad("x = 1\na = [\n\"x\",\n", 2, 5, "unterminated array");
    bad("a = [\"x\",\n\"y\" \"z\"]\n", 2, 5, "expected ',' or ']'");
}

Test(toml, comments_blank_lines_whitespace)
{
    const char *text = "# leading comment\n"
                       "   \t  \n"
                       "\t# indented comment\n"
                       "  [ t ]   # table comment\n"
                       "\tk\t=\t\"v\"\t# trailing\n"
                       "n=1\n"
                       "#\n";
    cr_assert_eq(parse(text), 0, "%s", err.msg);
    cr_assert_str_eq(get_str("t", "k"), "v");
    cr_assert_eq(get_int("t", "n"), 1);
    cr_assert_eq(doc.entries[0].line, 5);
    done();
}

Test(toml, crlf_and_missing_final_newline)
{
    cr_assert_eq(parse("[t]\r\na = \"x\"\r\nb = 2\r\nc = [\r\n 'q',\r\n]\r\nd = true"), 0, "%s",
                 err.msg);
    cr_assert_str_eq(get_str("t", "a"), "x");
    cr_assert_eq(get_int("t", "b"), 2);
    cr_assert_eq(get("t", "c", RLY_TOML_ARRAY)->v.arr.len, 1);
    cr_assert_eq(get("t", "d", RLY_TOML_BOOLEAN)->v.b, true);
    done();
    bad("[t]\r\na = 1 x\r\n", 2, 7, "unexpected text");
}

Test(toml, duplicates)
{
    bad("[t]\na = 1\nb = 2\na = 3\n", 4, 1, "duplicate key 'a' (first set on line 2)");
    bad("a = 1\na = 'x'\n", 2, 1, "duplicate key 'a' (first set on line 1)");
    bad("[t]\n[u]\n[t]\n", 3, 1, "duplicate table [t] (first on line 1)");
    bad("relay = 1\n[relay]\n", 2, 1, "table [relay] conflicts with key 'relay' on line 1");
}

Test(toml, syntax_errors)
{
    bad("a.b = 1\n", 1, 2, "dotted keys are not supported");
    bad("\"a\" = 1\n", 1, 1, "quoted keys are not supported");
    bad("'a' = 1\n", 1, 1, "quoted keys are not supported");
    bad("[a.b]\n", 1, 3, "dotted table names are not supported");
    bad("[[a]]\n", 1, 1, "arrays of tables ([[...]]) are not supported");
    bad("[\"a\"]\n", 1, 2, "quoted table names are not supported");
    bad("[]\n", 1, 2, "expected a table name");
    bad("[a\n", 1, 3, "expected ']' after table name");
    bad("[a] x\n", 1, 5, "unexpected text after table header");
    bad("a 1\n", 1, 3, "expected '=' after key 'a'");
    bad("a\n", 1, 2, "expected '=' after key 'a'");
    bad("a =\n", 1, 4, "missing value for key 'a'");
    bad("a = # nothing\n", 1, 5, "missing value for key 'a'");
    bad("= 1\n", 1, 1, "expected a key or a [table]");
    bad("x = 1\n\n  @ = 2\n", 3, 3, "expected a key or a [table]");
    bad("a = 1 = 2\n", 1, 7, "unexpected text after value");
}

Test(toml, line_length_limit)
{
    char line[RLY_TOML_LINE_MAX + 16];
    /* "k = '" + filler + "'" is exactly RLY_TOML_LINE_MAX bytes. */
    size_t fill = RLY_TOML_LINE_MAX - 6;
    memcpy(line, "k = '", 5);
    memset(line + 5, 'x', fill);
    memcpy(line + 5 + fill, "'\n", 3);
    cr_assert_eq(parse(line), 0, "%s", err.msg);
    cr_assert_eq(get("", "k", RLY_TOML_STRING)->v.s.len, fill);
    done();
    /* A CR before the LF does not count. */
    memcpy(line + 5 + fill, "'\r\n", 4);
    cr_assert_eq(parse(line), 0, "%s", err.msg);
    done();
    memcpy(line + 5 + fill, "x'\n", 4);
    bad_lim(line, NULL, RLY_ERR_NOBUF, 1, RLY_TOML_LINE_MAX + 1, "line longer than 4096 bytes");
}

Test(toml, small_limits)
{
    rly_toml_limits l;
    rly_toml_limits_default(&l);
    l.entries_max = 2;
    l.tables_max = 1;
    l.string_max = 4;
    l.array_max = 2;
    l.line_max = 20;
    l.total_max = 40;
    cr_assert_eq(parse_lim("a = 'abcd'\n[t]\nb = ['x','y']\n", &l), 0, "%s", err.msg);
    done();
    bad_lim("a = 1\nb = 2\nc = 3\n", &l, RLY_ERR_NOBUF, 3, 1, "more than 2 keys");
    bad_lim("[t]\n[u]\n", &l, RLY_ERR_NOBUF, 2, 1, "more than 1 tables");
    bad_lim("a = 'abcde'\n", &l, RLY_ERR_NOBUF, 1, 5, "string longer than 4 bytes");
    bad_lim("a = \"ab\\u00e9x\"\n", &l, RLY_ERR_NOBUF, 1, 5, "string longer than 4 bytes");
    bad_lim("abcde = 1\n", &l, RLY_ERR_NOBUF, 1, 1, "key longer than 4 bytes");
    bad_lim("[abcde]\n", &l, RLY_ERR_NOBUF, 1, 1, "table name longer than 4 bytes");
    bad_lim("a = [\n'x',\n'y',\n'z']\n", &l, RLY_ERR_NOBUF, 4, 1, "array with more than 2 items");
    bad_lim("a = 1 # 4567890123456\n", &l, RLY_ERR_NOBUF, 1, 21, "line longer than 20 bytes");
    bad_lim("# 3456789\n# 3456789\n# 3456789\n# 3456789\n# 3\n", &l, RLY_ERR_NOBUF, 5, 0,
            "input longer than 40 bytes");
}

Test(toml, total_limit_counts_file_bytes)
{
    rly_toml_limits l;
    rly_toml_limits_default(&l);
    l.total_max = 11;
    /* 12 bytes, but the final line end is not counted. */
    cr_assert_eq(parse_lim("a = 1\nb = 2\n", &l), 0, "%s", err.msg);
    done();
    cr_assert_eq(parse_lim("a = 1\nb = 2", &l), 0, "%s", err.msg);
    done();
    bad_lim("a = 1\nb = 23\n", &l, RLY_ERR_NOBUF, 2, 0, "input longer than 11 bytes");
}

Test(toml, incremental_api)
{
    rly_toml_parser p;
    rly_toml_parser_init(&p, NULL, NULL);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "[t]", 3), 0);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "a = [  ", 7), 0);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "'x']\r", 5), 0);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "b = 5 # c", 9), 0);
    cr_assert_str_eq(rly_toml_parser_error(&p)->msg, "");
    cr_assert_eq(rly_toml_parser_finish(&p, &doc), 0);
    cr_assert_eq(rly_toml_parser_finish(&p, &doc), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "c = 1", 5), RLY_ERR_INVALID_STATE);
    rly_toml_parser_free(&p);
    cr_assert_eq(get("t", "a", RLY_TOML_ARRAY)->v.arr.len, 1);
    cr_assert_eq(get_int("t", "b"), 5);
    done();
}

Test(toml, incremental_errors_are_sticky)
{
    rly_toml_parser p;
    rly_toml_parser_init(&p, NULL, NULL);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "a = 1", 5), 0);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "a = 2", 5), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "b = 2", 5), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_toml_parser_finish(&p, &doc), RLY_ERR_MALFORMED);
    const rly_toml_error *e = rly_toml_parser_error(&p);
    cr_assert_eq(e->line, 2);
    cr_assert_eq(e->col, 1);
    cr_assert(strstr(e->msg, "duplicate key 'a'"));
    cr_assert_eq(doc.nentries, 0);
    rly_toml_parser_free(&p);
    rly_toml_parser_free(&p);
    done();
}

Test(toml, free_without_finish_and_null)
{
    rly_toml_parser p;
    rly_toml_parser_init(&p, NULL, NULL);
    cr_assert_eq(rly_toml_parser_feed_line(&p, "a = ['x', 'y',", 14), 0);
    rly_toml_parser_free(&p);
    rly_toml_parser_free(NULL);
    rly_toml_doc_free(NULL);
    done();
}

Test(toml, long_names_are_clipped_in_messages)
{
    char text[300];
    memset(text, 'k', 200);
    memcpy(text + 200, " 1\n", 4);
    cr_assert_eq(parse(text), RLY_ERR_MALFORMED);
    cr_assert(strlen(err.msg) < 100, "%s", err.msg);
    done();
}

Test(toml, type_names)
{
    cr_assert_str_eq(rly_toml_type_name(RLY_TOML_STRING), "string");
    cr_assert_str_eq(rly_toml_type_name(RLY_TOML_INTEGER), "integer");
    cr_assert_str_eq(rly_toml_type_name(RLY_TOML_BOOLEAN), "boolean");
    cr_assert_str_eq(rly_toml_type_name(RLY_TOML_ARRAY), "array");
    cr_assert_str_eq(rly_toml_type_name((rly_toml_type)0), "unknown");
}

/* Every allocation failure is reported as RLY_ERR_NOMEM and leaks nothing. */
Test(toml, allocation_failures)
{
    const char *text = "r = 1\n[t]\na = \"x\\u00e9\"\nb = ['p', 'q', 'r', 's', 't']\nc = 2\n"
                       "d = 3\ne = 4\n[u]\nf = true\n";
    int rv = -1;
    for (uint64_t n = 1; rv != 0 && n < 1000; n++) {
        rly_mem mem;
        rly_mem_init(&mem);
        mem.fail_nth = n;
        rv = rly_toml_parse(text, strlen(text), &mem, NULL, &doc, &err);
        cr_assert(rv == 0 || rv == RLY_ERR_NOMEM, "n=%llu rv=%d", (unsigned long long)n, rv);
        if (rv)
            cr_assert_str_eq(err.msg, "out of memory");
        rly_toml_doc_free(&doc);
        cr_assert_eq(mem.live_bytes, 0, "n=%llu leaked %zu", (unsigned long long)n, mem.live_bytes);
    }
    cr_assert_eq(rv, 0);
    done();
}

Test(toml, custom_allocator_is_used)
{
    rly_mem mem;
    rly_mem_init(&mem);
    cr_assert_eq(rly_toml_parse("a = 'x'\n", 8, &mem, NULL, &doc, &err), 0);
    cr_assert_gt(mem.live_bytes, 0);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
    rly_toml_doc_free(&doc);
    cr_assert_eq(mem.live_bytes, 0);
    done();
}
