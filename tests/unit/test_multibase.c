/* test_multibase.c: base58btc, base32 (RFC 4648 section 10 vectors, no padding) and the
 * multibase prefixes (src/core/multibase.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/multibase.h"

static void check_b58(const void *bin, size_t n, const char *text)
{
    char s[512];
    uint8_t b[512];
    cr_assert_eq(rly_base58_encode(bin, n, s, sizeof(s)), (rly_ssize)strlen(text), "%s", text);
    cr_assert_str_eq(s, text);
    if (n == 0)
        return;
    cr_assert_eq(rly_base58_decode(text, strlen(text), b, sizeof(b)), (rly_ssize)n, "%s", text);
    cr_assert_arr_eq(b, bin, n);
}

Test(base58, vectors)
{
    check_b58("", 0, "");
    check_b58("\0", 1, "1");
    check_b58("\0\0\0\x01", 4, "1112");
    check_b58("\x00\x00\x28\x7f\xb4\xcd", 6, "11233QC4");
    check_b58("hello world", 11, "StV1DL6CwTryKyV");
    check_b58("\x39", 1, "z");
    check_b58("\x3a", 1, "21");
}

Test(base58, leading_zeros)
{
    /* Each leading zero byte is one '1', whatever follows, including only zeros. */
    uint8_t zeros[5] = {0};
    char s[16];
    uint8_t b[16];
    cr_assert_eq(rly_base58_encode(zeros, 5, s, sizeof(s)), 5);
    cr_assert_str_eq(s, "11111");
    cr_assert_eq(rly_base58_decode("11111", 5, b, sizeof(b)), 5);
    cr_assert_arr_eq(b, zeros, 5);
    cr_assert_eq(rly_base58_decode("1112", 4, b, sizeof(b)), 4);
    cr_assert(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1);
}

Test(base58, decode_errors)
{
    uint8_t b[64];
    cr_assert_eq(rly_base58_decode("", 0, b, sizeof(b)), RLY_ERR_MALFORMED);
    /* 0, O, I and l are not in the Bitcoin alphabet. */
    cr_assert_eq(rly_base58_decode("0", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("abcO", 4, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("I", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("l", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("ab\0c", 4, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("\xff", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base58_decode("StV1DL6CwTryKyV", 15, b, 10), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base58_decode("111", 3, b, 2), RLY_ERR_NOBUF);
}

Test(base58, caps)
{
    static uint8_t big[RLY_BASE58_MAX_BYTES + 1];
    static char s[2 * RLY_BASE58_MAX_BYTES];
    static uint8_t back[RLY_BASE58_MAX_BYTES + 1];
    memset(big, 0xff, sizeof(big));
    cr_assert_eq(rly_base58_encode(big, sizeof(big), s, sizeof(s)), RLY_ERR_INVALID_ARG);
    /* The largest accepted input round-trips, all 0xff (most digits) and all zero. */
    rly_ssize n = rly_base58_encode(big, RLY_BASE58_MAX_BYTES, s, sizeof(s));
    cr_assert_gt(n, 0);
    cr_assert_eq(rly_base58_decode(s, (size_t)n, back, sizeof(back)), RLY_BASE58_MAX_BYTES);
    cr_assert_arr_eq(back, big, RLY_BASE58_MAX_BYTES);
    memset(big, 0, sizeof(big));
    n = rly_base58_encode(big, RLY_BASE58_MAX_BYTES, s, sizeof(s));
    cr_assert_eq(n, RLY_BASE58_MAX_BYTES);
    memset(s, 'z', sizeof(s));
    cr_assert_eq(rly_base58_decode(s, sizeof(s), back, sizeof(back)), RLY_ERR_INVALID_ARG);
    /* The longest accepted string of the largest digit decodes to more than the byte cap. */
    size_t longest = RLY_BASE58_MAX_BYTES * 138 / 100 + 1;
    cr_assert_eq(rly_base58_decode(s, longest, back, sizeof(back)), RLY_ERR_INVALID_ARG);
    memset(s, '1', sizeof(s));
    cr_assert_eq(rly_base58_decode(s, RLY_BASE58_MAX_BYTES + 1, back, sizeof(back)),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_base58_decode(s, RLY_BASE58_MAX_BYTES, back, sizeof(back)),
                 RLY_BASE58_MAX_BYTES);
    /* Output space: the NUL needs a byte too. */
    cr_assert_eq(rly_base58_encode((const uint8_t *)"hello world", 11, s, 15), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base58_encode((const uint8_t *)"hello world", 11, s, 16), 15);
}

static void check_b32(const char *bin, const char *lower, const char *upper)
{
    char s[64];
    uint8_t b[64];
    size_t n = strlen(bin), tl = strlen(lower);
    cr_assert_eq(rly_base32_encode((const uint8_t *)bin, n, s, sizeof(s)), (rly_ssize)tl);
    cr_assert_str_eq(s, lower);
    cr_assert_eq(rly_base32_decode(lower, tl, b, sizeof(b)), (rly_ssize)n);
    cr_assert_arr_eq(b, bin, n);
    cr_assert_eq(rly_base32_decode(upper, tl, b, sizeof(b)), (rly_ssize)n);
    cr_assert_arr_eq(b, bin, n);
}

Test(base32, rfc4648_vectors)
{
    check_b32("", "", "");
    check_b32("f", "my", "MY");
    check_b32("fo", "mzxq", "MZXQ");
    check_b32("foo", "mzxw6", "MZXW6");
    check_b32("foob", "mzxw6yq", "MZXW6YQ");
    check_b32("fooba", "mzxw6ytb", "MZXW6YTB");
    check_b32("foobar", "mzxw6ytboi", "MZXW6YTBOI");
}

Test(base32, decode_errors)
{
    uint8_t b[16];
    /* "my" is "f"; "mz" sets a padding bit of the last character. */
    cr_assert_eq(rly_base32_decode("mz", 2, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxr", 4, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxw7", 5, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxw6yr", 7, b, sizeof(b)), RLY_ERR_MALFORMED);
    /* Lengths 1, 3 and 6 (mod 8) cannot come from whole bytes. */
    cr_assert_eq(rly_base32_decode("m", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzx", 3, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxw6y", 6, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxw6ytbm", 9, b, sizeof(b)), RLY_ERR_MALFORMED);
    /* Padding and characters outside the alphabet. */
    cr_assert_eq(rly_base32_decode("my======", 8, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("m1", 2, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("m8", 2, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base32_decode("mzxw6ytb", 8, b, 4), RLY_ERR_NOBUF);
    /* The plain decoder takes mixed case. */
    cr_assert_eq(rly_base32_decode("mZxW6", 5, b, sizeof(b)), 3);
    cr_assert_arr_eq(b, "foo", 3);
}

Test(base32, encode_nobuf)
{
    char s[8];
    cr_assert_eq(rly_base32_encode((const uint8_t *)"fooba", 5, s, 8), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base32_encode((const uint8_t *)"foob", 4, s, 8), 7);
    cr_assert_eq(rly_base32_encode((const uint8_t *)"", 0, s, 0), RLY_ERR_NOBUF);
}

Test(multibase, encode)
{
    char s[32];
    const uint8_t *in = (const uint8_t *)"foobar";
    cr_assert_eq(rly_multibase_encode(RLY_MULTIBASE_BASE32, in, 6, s, sizeof(s)), 11);
    cr_assert_str_eq(s, "bmzxw6ytboi");
    cr_assert_eq(rly_multibase_encode(RLY_MULTIBASE_BASE32_UPPER, in, 6, s, sizeof(s)), 11);
    cr_assert_str_eq(s, "BMZXW6YTBOI");
    cr_assert_eq(rly_multibase_encode(RLY_MULTIBASE_BASE58BTC, in, 6, s, sizeof(s)), 9);
    cr_assert_str_eq(s, "zt1Zv2yaZ");
    cr_assert_eq(rly_multibase_encode((rly_multibase)'f', in, 6, s, sizeof(s)),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multibase_encode(RLY_MULTIBASE_BASE32, in, 6, s, 0), RLY_ERR_NOBUF);
    cr_assert_eq(rly_multibase_encode(RLY_MULTIBASE_BASE32, in, 6, s, 11), RLY_ERR_NOBUF);
}

Test(multibase, decode)
{
    uint8_t b[32];
    cr_assert_eq(rly_multibase_decode("bmzxw6ytboi", 11, b, sizeof(b)), 6);
    cr_assert_arr_eq(b, "foobar", 6);
    cr_assert_eq(rly_multibase_decode("BMZXW6YTBOI", 11, b, sizeof(b)), 6);
    cr_assert_arr_eq(b, "foobar", 6);
    cr_assert_eq(rly_multibase_decode("zt1Zv2yaZ", 9, b, sizeof(b)), 6);
    cr_assert_arr_eq(b, "foobar", 6);
    /* The prefix fixes the case of the alphabet. */
    cr_assert_eq(rly_multibase_decode("bMZXW6YTBOI", 11, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multibase_decode("Bmzxw6ytboi", 11, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multibase_decode("bmzxw6yTBOI", 11, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multibase_decode("f666f6f", 7, b, sizeof(b)), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_multibase_decode("mZm9v", 5, b, sizeof(b)), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_multibase_decode("", 0, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multibase_decode("z", 1, b, sizeof(b)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multibase_decode("b", 1, b, sizeof(b)), 0);
}
