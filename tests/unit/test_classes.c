/* test_classes.c: limits class profiles (src/proto/auth/classes.c): the grammar, each key's
 * range, every error's message, and lookups. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/auth/classes.h"

static rly_auth_class k;
static char why[256];

static int parse(const char *s)
{
    why[0] = '\0';
    return rly_auth_class_parse(s, strlen(s), &k, why, sizeof(why));
}

static void bad(const char *s, const char *want)
{
    cr_assert_eq(parse(s), RLY_ERR_MALFORMED, "'%s' parsed", s);
    cr_assert_str_eq(why, want, "'%s'", s);
}

Test(classes, profiles)
{
    cr_assert_eq(parse("gold: max_circuit_duration_secs=3600 max_circuit_bytes=0"), 0, "%s", why);
    cr_assert_str_eq(k.name, "gold");
    cr_assert(k.has_duration && k.has_bytes);
    cr_assert_eq(k.duration_secs, 3600);
    cr_assert_eq(k.bytes, 0);
    cr_assert_eq(parse("  tier-2_b :\tmax_circuit_bytes=9223372036854775807  "), 0, "%s", why);
    cr_assert_str_eq(k.name, "tier-2_b");
    cr_assert(!k.has_duration && k.has_bytes);
    cr_assert_eq(k.bytes, INT64_MAX);
    cr_assert_eq(parse("x:max_circuit_duration_secs=2592000"), 0, "%s", why);
    cr_assert_eq(k.duration_secs, 2592000);
}

Test(classes, errors_say_what_is_wrong)
{
    bad("gold max_circuit_bytes=1", "\"gold max_circuit_bytes=1\" is not NAME: key=value ...");
    bad("Gold: max_circuit_bytes=1",
        "\"Gold\" is not a class name (1 to 32 characters of a-z, 0-9, _ and -)");
    bad(": max_circuit_bytes=1",
        "\"\" is not a class name (1 to 32 characters of a-z, 0-9, _ and -)");
    bad("trusted: max_circuit_bytes=1",
        "\"trusted\" is built in (no circuit limits): choose another name");
    bad("gold:",
        "class 'gold' sets no limit (max_circuit_duration_secs=..., max_circuit_bytes=...)");
    bad("gold: max_circuit_bytes", "\"max_circuit_bytes\" is not key=value");
    bad("gold: max_circuits=3",
        "unknown key 'max_circuits' (allowed: max_circuit_duration_secs, max_circuit_bytes)");
    bad("gold: max_circuit_bytes=1 max_circuit_bytes=2", "'max_circuit_bytes' is given twice");
    bad("gold: max_circuit_duration_secs=2592001",
        "\"max_circuit_duration_secs=2592001\" is out of range (max_circuit_duration_secs "
        "0..2592000)");
    bad("gold: max_circuit_bytes=9223372036854775808",
        "\"max_circuit_bytes=9223372036854775808\" is out of range (max_circuit_bytes "
        "0..9223372036854775807)");
    bad("gold: max_circuit_bytes=-1",
        "\"max_circuit_bytes=-1\": the value must be a whole number of at most 19 digits");
    bad("gold: max_circuit_bytes=",
        "\"max_circuit_bytes=\": the value must be a whole number of at most 19 digits");
    bad("gold: max_circuit_bytes=1\x01",
        "\"max_circuit_bytes=1?\": the value must be a whole number of at most 19 digits");
}

Test(classes, find)
{
    rly_auth_class_list l = {.n = 2};
    cr_assert_eq(rly_auth_class_parse("a: max_circuit_bytes=1", 22, &l.items[0], why, sizeof(why)),
                 0);
    cr_assert_eq(rly_auth_class_parse("b: max_circuit_bytes=2", 22, &l.items[1], why, sizeof(why)),
                 0);
    cr_assert_eq(rly_auth_class_find(&l, "b"), &l.items[1]);
    cr_assert_null(rly_auth_class_find(&l, "c"));
    cr_assert_null(rly_auth_class_find(NULL, "a"));
}
