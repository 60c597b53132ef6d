/* base64.c: unpadded base64url (RFC 4648 section 5), computed without table lookups. */
#include "core/base64.h"

/* above returns all ones when |x| > |t|, else 0 (both at most 63: t - x wraps only when x > t). */
static unsigned above(unsigned x, unsigned t)
{
    return 0u - (((t - x) >> 8) & 1u);
}

/* b64url_char maps a 6-bit value to its character: 'A'..'Z', 'a'..'z', '0'..'9', '-', '_'.
 * Starting from x + 'A', each range past the first adds the step to its first character
 * (modulo 256): 26 -> 'a', 52 -> '0', 62 -> '-', 63 -> '_'. */
static char b64url_char(unsigned x)
{
    unsigned c = x + 'A';
    c += above(x, 25) & ('a' - 'A' - 26);
    c += above(x, 51) & (unsigned)('0' - 'a' - 26);
    c += above(x, 61) & (unsigned)('-' - '0' - 10);
    c += above(x, 62) & ('_' - '-' - 1);
    return (char)(c & 0xff);
}

rly_ssize rly_base64url_encode(const uint8_t *in, size_t inlen, char *out, size_t cap)
{
    /* The length below cannot overflow a size_t, nor the result an rly_ssize, under this. */
    if (inlen / 3 >= (size_t)PTRDIFF_MAX / 4 || RLY_BASE64URL_LEN(inlen) >= cap)
        return RLY_ERR_NOBUF;
    size_t n = 0, i = 0;
    for (; inlen - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = b64url_char(v >> 18);
        out[n++] = b64url_char(v >> 12 & 63);
        out[n++] = b64url_char(v >> 6 & 63);
        out[n++] = b64url_char(v & 63);
    }
    if (inlen - i == 1) {
        out[n++] = b64url_char((unsigned)in[i] >> 2);
        out[n++] = b64url_char((unsigned)(in[i] & 3) << 4);
    } else if (inlen - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        out[n++] = b64url_char(v >> 10);
        out[n++] = b64url_char(v >> 4 & 63);
        out[n++] = b64url_char((v & 15) << 2);
    }
    out[n] = '\0';
    return (rly_ssize)n;
}

/* b64url_value returns the 6-bit value of |c|, or -1 outside the alphabet. Decoding reads
 * public data (signed tokens), so a plain range test is fine here. */
static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

rly_ssize rly_base64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    size_t full = inlen / 4, rest = inlen % 4;
    if (rest == 1)
        return RLY_ERR_MALFORMED;
    size_t outlen = full * 3 + (rest ? rest - 1 : 0);
    if (outlen > cap)
        return RLY_ERR_NOBUF;
    if (outlen > (size_t)PTRDIFF_MAX)
        return RLY_ERR_NOBUF;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        size_t k = inlen - i < 4 ? inlen - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < k; j++) {
            int d = b64url_value(in[i + j]);
            if (d < 0)
                return RLY_ERR_MALFORMED;
            v = v << 6 | (uint32_t)d;
        }
        if (k == 4) {
            out[n++] = (uint8_t)(v >> 16);
            out[n++] = (uint8_t)(v >> 8);
            out[n++] = (uint8_t)v;
        } else if (k == 3) { /* 18 bits: 16 of data, 2 that must be zero */
            if (v & 3)
                return RLY_ERR_MALFORMED;
            out[n++] = (uint8_t)(v >> 10);
            out[n++] = (uint8_t)(v >> 2);
        } else { /* k == 2: 12 bits, 8 of data, 4 zero */
            if (v & 15)
                return RLY_ERR_MALFORMED;
            out[n++] = (uint8_t)(v >> 4);
        }
    }
    return (rly_ssize)n;
}
