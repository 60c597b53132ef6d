/* test_revoked.c: the revoked token list (src/proto/auth/revoked.c): comments, blank lines,
 * spaces, CRLF, either case, duplicates; every malformed line named by number; the bounds on id
 * length and count; lookups that tell ids apart by length. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/auth/revoked.h"

static rly_revoked list;
static char err[256];

static int parse(const char *text)
{
    err[0] = '\0';
    return rly_revoked_parse(&list, text, strlen(text), NULL, err, sizeof(err));
}

static bool has_hex(const char *hex)
{
    uint8_t id[RLY_TOKEN_ID_MAX];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        id[i] = (uint8_t)v;
    }
    return rly_revoked_has(&list, id, n);
}

Test(revoked, the_file_format)
{
    cr_assert_eq(parse("# revoked tokens\n"
                       "\n"
                       "1c76bea0400f031a381520724a146c98\n"
                       "  ABCDEF01   # the laptop, uppercase\r\n"
                       "abcdef01\n" /* the same id again */
                       "\t00\t\n"
                       "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
                 0, "%s", err);
    cr_assert_eq(list.n, 4, "duplicates count once");
    cr_assert(has_hex("1c76bea0400f031a381520724a146c98"));
    cr_assert(has_hex("abcdef01"));
    cr_assert(has_hex("00"));
    cr_assert(has_hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"));
    cr_assert(!has_hex("abcdef"), "a prefix is another id");
    cr_assert(!has_hex("abcdef0100"), "so is a longer one");
    cr_assert(!has_hex("1c76bea0400f031a381520724a146c99"));
    cr_assert(!rly_revoked_has(&list, (const uint8_t *)"", 0));
    rly_revoked_free(&list, NULL);
    cr_assert_null(list.ids);
    cr_assert_eq(parse(""), 0);
    cr_assert_eq(list.n, 0);
    cr_assert(!has_hex("00"));
    cr_assert_eq(parse("# only comments\n\n   \n"), 0);
    cr_assert_eq(list.n, 0);
}

static void bad(const char *text, int want_rv, const char *want)
{
    cr_assert_eq(parse(text), want_rv, "'%s'", text);
    cr_assert_str_eq(err, want);
    cr_assert_null(list.ids);
    cr_assert_eq(list.n, 0);
}

Test(revoked, malformed_lines_are_named)
{
    bad("aa\nabc\n", RLY_ERR_MALFORMED, "line 2: not a token id (2 to 64 hex digits): \"abc\"");
    bad("aa\n\n0x12\n", RLY_ERR_MALFORMED, "line 3: not a token id (2 to 64 hex digits): \"0x12\"");
    bad("a\n", RLY_ERR_MALFORMED, "line 1: not a token id (2 to 64 hex digits): \"a\"");
    bad("aa bb\n", RLY_ERR_MALFORMED, "line 1: not a token id (2 to 64 hex digits): \"aa bb\"");
    bad("zz\n", RLY_ERR_MALFORMED, "line 1: not a token id (2 to 64 hex digits): \"zz\"");
    bad("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021\n", RLY_ERR_MALFORMED,
        "line 1: not a token id (2 to 64 hex digits): "
        "\"0102030405060708090a0b0c0d0e0f1011121314...\"");
    bad("aa\n\x01\x7f\n", RLY_ERR_MALFORMED, "line 2: not a token id (2 to 64 hex digits): \"??\"");
    const char nul[] = "aa\nbb\0cc\n";
    err[0] = '\0';
    cr_assert_eq(rly_revoked_parse(&list, nul, sizeof(nul) - 1, NULL, err, sizeof(err)),
                 RLY_ERR_MALFORMED);
    cr_assert_str_eq(err, "line 2: a NUL byte (the file is not text)");
}

Test(revoked, at_most_the_limit)
{
    size_t n = RLY_REVOKED_MAX + 1;
    char *text = malloc(n * 9 + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < n; i++)
        snprintf(text + 9 * i, 10, "%08zx\n", i);
    err[0] = '\0';
    cr_assert_eq(rly_revoked_parse(&list, text, 9 * (n - 1), NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(list.n, RLY_REVOKED_MAX);
    cr_assert(has_hex("0000ffff"));
    rly_revoked found = list;
    cr_assert_eq(rly_revoked_parse(&list, text, 9 * n, NULL, err, sizeof(err)), RLY_ERR_LIMIT);
    cr_assert_str_eq(err, "line 65537: more than 65536 token ids");
    list = found;
    rly_revoked again;
    cr_assert_eq(rly_revoked_parse(&again, text, 9 * (n - 1), NULL, err, sizeof(err)), 0);
    cr_assert(rly_revoked_equal(&list, &again));
    rly_revoked_free(&again, NULL);
    rly_revoked_free(&list, NULL);
    free(text);
}
