/* multibase.c: base58btc, RFC 4648 base32 without padding, and the multibase prefixes that
 * peer IDs use (PROTOCOLS.md 1.3). No heap: work space is on the stack and bounded by
 * RLY_BASE58_MAX_BYTES. */
#include "core/multibase.h"

#include <string.h>

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_lower[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b32_upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* log(256)/log(58) < 1.38: the number of base58 digits a byte string can need. */
#define B58_MAX_CHARS (RLY_BASE58_MAX_BYTES * 138 / 100 + 1)
/* log(58)/log(256) < 0.733: the number of bytes a base58 string can decode to (+ 1 for the
 * rounding, + 1 spare). */
#define B58_MAX_DECODED (B58_MAX_CHARS * 733 / 1000 + 2)

/* Which letter case base32 decoding accepts. */
enum b32_case { B32_ANY, B32_LOWER, B32_UPPER };

/* b58_value returns the digit value of |c|, or -1 if it is not in the alphabet. A linear scan is
 * fine: inputs are capped at a few hundred characters. */
static int b58_value(char c)
{
    const char *hit = memchr(b58_alphabet, c, sizeof(b58_alphabet) - 1);
    return hit ? (int)(hit - b58_alphabet) : -1;
}

rly_ssize rly_base58_encode(const uint8_t *in, size_t inlen, char *out, size_t cap)
{
    if (inlen > RLY_BASE58_MAX_BYTES)
        return RLY_ERR_INVALID_ARG;
    size_t zeros = 0;
    while (zeros < inlen && in[zeros] == 0)
        zeros++;
    /* Big-number conversion, digits kept least significant first. */
    uint8_t digits[B58_MAX_CHARS];
    size_t ndig = 0;
    for (size_t i = zeros; i < inlen; i++) {
        uint32_t carry = in[i];
        for (size_t k = 0; k < ndig; k++) {
            carry += (uint32_t)digits[k] << 8;
            digits[k] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits[ndig++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t n = zeros + ndig;
    if (n >= cap)
        return RLY_ERR_NOBUF;
    /* Each leading zero byte is a literal '1', the digit zero. */
    memset(out, '1', zeros);
    for (size_t k = 0; k < ndig; k++)
        out[zeros + k] = b58_alphabet[digits[ndig - 1 - k]];
    out[n] = '\0';
    return (rly_ssize)n;
}

rly_ssize rly_base58_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    if (inlen == 0)
        return RLY_ERR_MALFORMED;
    if (inlen > B58_MAX_CHARS)
        return RLY_ERR_INVALID_ARG;
    size_t ones = 0;
    while (ones < inlen && in[ones] == '1')
        ones++;
    uint8_t bytes[B58_MAX_DECODED];
    size_t nbytes = 0;
    for (size_t i = ones; i < inlen; i++) {
        int v = b58_value(in[i]);
        if (v < 0)
            return RLY_ERR_MALFORMED;
        uint32_t carry = (uint32_t)v;
        for (size_t k = 0; k < nbytes; k++) {
            carry += (uint32_t)bytes[k] * 58;
            bytes[k] = (uint8_t)(carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            bytes[nbytes++] = (uint8_t)(carry & 0xff);
            carry >>= 8;
        }
    }
    /* Symmetric with the encoder: what decodes can always be encoded again. */
    if (ones + nbytes > RLY_BASE58_MAX_BYTES)
        return RLY_ERR_INVALID_ARG;
    if (ones + nbytes > cap)
        return RLY_ERR_NOBUF;
    memset(out, 0, ones);
    for (size_t k = 0; k < nbytes; k++)
        out[ones + k] = bytes[nbytes - 1 - k];
    return (rly_ssize)(ones + nbytes);
}

/* b32_encode encodes with the given alphabet: 5 bits per character, the last character padded
 * with zero bits, no '=' padding. */
static rly_ssize b32_encode(const char *alphabet, const uint8_t *in, size_t inlen, char *out,
                            size_t cap)
{
    if (inlen > (SIZE_MAX - 4) / 8)
        return RLY_ERR_INVALID_ARG;
    size_t n = (inlen * 8 + 4) / 5;
    if (n >= cap)
        return RLY_ERR_NOBUF;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        acc = (acc << 8 | in[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return (rly_ssize)o;
}

/* b32_value returns the 5-bit value of |c| allowed by |cs|, or -1. */
static int b32_value(char c, enum b32_case cs)
{
    if (c >= 'a' && c <= 'z' && cs != B32_UPPER)
        return c - 'a';
    if (c >= 'A' && c <= 'Z' && cs != B32_LOWER)
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

static rly_ssize b32_decode(const char *in, size_t inlen, uint8_t *out, size_t cap,
                            enum b32_case cs)
{
    /* 1, 3 or 6 characters past a full 8-character group cannot come from whole bytes. */
    size_t rem = inlen % 8;
    if (rem == 1 || rem == 3 || rem == 6)
        return RLY_ERR_MALFORMED;
    size_t n = inlen / 8 * 5 + rem * 5 / 8;
    if (n > cap)
        return RLY_ERR_NOBUF;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b32_value(in[i], cs);
        if (v < 0)
            return RLY_ERR_MALFORMED;
        acc = (acc << 5 | (uint32_t)v) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The padding bits of the last character must be zero, or two strings would decode to the
     * same bytes and text comparisons of IDs would lie. */
    if ((acc & ((1u << bits) - 1)) != 0)
        return RLY_ERR_MALFORMED;
    return (rly_ssize)o;
}

rly_ssize rly_base32_encode(const uint8_t *in, size_t inlen, char *out, size_t cap)
{
    return b32_encode(b32_lower, in, inlen, out, cap);
}

rly_ssize rly_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    return b32_decode(in, inlen, out, cap, B32_ANY);
}

rly_ssize rly_multibase_encode(rly_multibase base, const uint8_t *in, size_t inlen, char *out,
                               size_t cap)
{
    if (cap < 1)
        return RLY_ERR_NOBUF;
    rly_ssize n;
    switch (base) {
    case RLY_MULTIBASE_BASE58BTC: n = rly_base58_encode(in, inlen, out + 1, cap - 1); break;
    case RLY_MULTIBASE_BASE32: n = b32_encode(b32_lower, in, inlen, out + 1, cap - 1); break;
    case RLY_MULTIBASE_BASE32_UPPER: n = b32_encode(b32_upper, in, inlen, out + 1, cap - 1); break;
    default: return RLY_ERR_INVALID_ARG;
    }
    if (n < 0)
        return n;
    out[0] = (char)base;
    return n + 1;
}

rly_ssize rly_multibase_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    if (inlen == 0)
        return RLY_ERR_MALFORMED;
    /* The prefix names one alphabet, so 'b' is strictly lower case and 'B' strictly upper. */
    switch (in[0]) {
    case RLY_MULTIBASE_BASE58BTC: return rly_base58_decode(in + 1, inlen - 1, out, cap);
    case RLY_MULTIBASE_BASE32: return b32_decode(in + 1, inlen - 1, out, cap, B32_LOWER);
    case RLY_MULTIBASE_BASE32_UPPER: return b32_decode(in + 1, inlen - 1, out, cap, B32_UPPER);
    default: return RLY_ERR_UNSUPPORTED;
    }
}
