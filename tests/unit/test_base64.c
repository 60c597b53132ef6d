/* test_base64.c: unpadded base64url (src/core/base64.c): the RFC 4648 section 10 vectors with the
 * '=' padding dropped, the two characters that differ from base64 ('-' and '_'), every 6-bit
 * value, every 1- and 2-byte input against a plain table encoder, and the output caps. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void check(const void *in, size_t n, const char *want)
{
    char out[128];
    memset(out, 0x5a, sizeof(out));
    cr_assert_eq(rly_base64url_encode(in, n, out, sizeof(out)), (rly_ssize)strlen(want), "%s",
                 want);
    cr_assert_str_eq(out, want);
    cr_assert_eq(RLY_BASE64URL_LEN(n), strlen(want));
}

/* reference: the obvious table encoder, for comparison. */
static size_t reference(const uint8_t *in, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t c = 0; c < chars; c++)
            out[k++] = alphabet[v >> (18 - 6 * c) & 63];
    }
    out[k] = '\0';
    return k;
}

Test(base64url, rfc4648_vectors)
{
    /* RFC 4648 section 10, base64 with the trailing '=' removed (no '+' or '/' occur). */
    check("", 0, "");
    check("f", 1, "Zg");
    check("fo", 2, "Zm8");
    check("foo", 3, "Zm9v");
    check("foob", 4, "Zm9vYg");
    check("fooba", 5, "Zm9vYmE");
    check("foobar", 6, "Zm9vYmFy");
    check(NULL, 0, "");
}

Test(base64url, url_safe_characters)
{
    /* base64 "+/+/", "-_8=" and "+w==" in the URL-safe alphabet, without padding. */
    check("\xfb\xef\xbe", 3, "----");
    check("\xff\xff\xff", 3, "____");
    check("\xfb\xff\xbf", 3, "-_-_");
    check("\xfb\xff", 2, "-_8");
    check("\xfb", 1, "-w");
    check("\x00\x00\x00", 3, "AAAA");
    check("\x00", 1, "AA");
    /* RFC 4648 section 9's example bytes: base64 "FPucA9l+" and "FPucA9k=". */
    check("\x14\xfb\x9c\x03\xd9\x7e", 6, "FPucA9l-");
    check("\x14\xfb\x9c\x03\xd9", 5, "FPucA9k");
    check("\x14\xfb\x9c\x03", 4, "FPucAw");
}

Test(base64url, every_six_bit_value)
{
    /* 48 bytes whose 64 six-bit groups are 0, 1, ..., 63: the alphabet in order. */
    uint8_t in[48];
    char out[80];
    for (size_t g = 0; g < 64; g += 4) {
        uint32_t v = (uint32_t)g << 18 | (uint32_t)(g + 1) << 12 | (uint32_t)(g + 2) << 6 |
                     (uint32_t)(g + 3);
        in[g / 4 * 3] = (uint8_t)(v >> 16);
        in[g / 4 * 3 + 1] = (uint8_t)(v >> 8);
        in[g / 4 * 3 + 2] = (uint8_t)v;
    }
    cr_assert_eq(rly_base64url_encode(in, sizeof(in), out, sizeof(out)), 64);
    cr_assert_str_eq(out, alphabet);
}

Test(base64url, all_short_inputs_match_reference)
{
    uint8_t in[3];
    char got[8], want[8];
    for (unsigned v = 0; v < 65536; v++) {
        in[0] = (uint8_t)(v >> 8);
        in[1] = (uint8_t)v;
        in[2] = (uint8_t)(v * 7);
        for (size_t n = 1; n <= 3; n++) {
            if (n == 1 && v > 255)
                break;
            size_t k = reference(in, n, want);
            cr_assert_eq(rly_base64url_encode(in, n, got, sizeof(got)), (rly_ssize)k);
            cr_assert_str_eq(got, want, "v=%u n=%zu", v, n);
        }
    }
}

Test(base64url, longer_inputs_match_reference)
{
    uint8_t in[200];
    char got[300], want[300];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 131 + 17);
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t k = reference(in, n, want);
        cr_assert_eq(k, RLY_BASE64URL_LEN(n));
        cr_assert_eq(rly_base64url_encode(in, n, got, sizeof(got)), (rly_ssize)k);
        cr_assert_str_eq(got, want, "n=%zu", n);
    }
}

Test(base64url, caps)
{
    char out[8];
    /* "Zm9vYg" needs 7 bytes with its NUL. */
    cr_assert_eq(rly_base64url_encode((const uint8_t *)"foob", 4, out, 6), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base64url_encode((const uint8_t *)"foob", 4, out, 7), 6);
    cr_assert_str_eq(out, "Zm9vYg");
    cr_assert_eq(rly_base64url_encode(NULL, 0, out, 0), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base64url_encode(NULL, 0, out, 1), 0);
    cr_assert_str_eq(out, "");
    /* A length no buffer can hold fails before anything is read. */
    cr_assert_eq(rly_base64url_encode((const uint8_t *)"x", SIZE_MAX, out, sizeof(out)),
                 RLY_ERR_NOBUF);
    /* A SHA-256 output is 43 characters. */
    cr_assert_eq(RLY_BASE64URL_LEN(32), 43);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(base64url_decode, rfc4648_vectors_and_round_trips)
{
    static const char *const text[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    uint8_t out[16];
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        cr_assert_eq(rly_base64url_decode(text[i], strlen(text[i]), out, sizeof(out)), (rly_ssize)i,
                     "%s", text[i]);
        cr_assert_eq(memcmp(out, "foobar", i), 0, "%s", text[i]);
    }
    /* Every 1- and 2-byte input and some longer ones decode back to themselves. */
    uint8_t in[40];
    char enc[64];
    for (unsigned v = 0; v < 65536; v++) {
        in[0] = (uint8_t)(v >> 8);
        in[1] = (uint8_t)v;
        for (size_t n = 1; n <= 2; n++) {
            rly_ssize k = rly_base64url_encode(in, n, enc, sizeof(enc));
            cr_assert_eq(rly_base64url_decode(enc, (size_t)k, out, sizeof(out)), (rly_ssize)n);
            cr_assert_eq(memcmp(out, in, n), 0);
        }
    }
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    uint8_t big[40];
    for (size_t n = 0; n <= sizeof(in); n++) {
        rly_ssize k = rly_base64url_encode(in, n, enc, sizeof(enc));
        cr_assert_eq(rly_base64url_decode(enc, (size_t)k, big, sizeof(big)), (rly_ssize)n);
        cr_assert_eq(memcmp(big, in, n), 0);
    }
}

Test(base64url_decode, strict)
{
    uint8_t out[16];
    cr_assert_eq(rly_base64url_decode("Z", 1, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zm9vY", 5, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zg==", 4, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zm+v", 4, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zm/v", 4, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zm9 ", 4, out, sizeof(out)), RLY_ERR_MALFORMED);
    /* Non-zero unused bits: "Zh" and "Zm9" differ from the canonical "Zg" / "Zm8". */
    cr_assert_eq(rly_base64url_decode("Zh", 2, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("Zm9", 3, out, sizeof(out)), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_base64url_decode("-_-_", 4, out, sizeof(out)), 3);
    cr_assert_eq(out[0], 0xfb);
    cr_assert_eq(out[1], 0xff);
    cr_assert_eq(out[2], 0xbf);
    cr_assert_eq(rly_base64url_decode("Zm9vYmFy", 8, out, 5), RLY_ERR_NOBUF);
    cr_assert_eq(rly_base64url_decode("Zm9vYmFy", 8, out, 6), 6);
}
