/* varint.c: multiformats unsigned varint (PROTOCOLS.md section 0).
 *
 * The multiformats spec caps varints at 9 bytes (63 bits of value) and requires the minimal
 * encoding, so every value has exactly one byte form. That uniqueness is what lets the multiaddr
 * and peer-ID code compare binary forms byte for byte. */
#include "core/varint.h"

size_t rly_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

rly_ssize rly_varint_encode(uint8_t *dst, size_t cap, uint64_t v)
{
    if (v > RLY_VARINT_MAX_VALUE)
        return RLY_ERR_INVALID_ARG;
    size_t n = rly_varint_len(v);
    if (n > cap)
        return RLY_ERR_NOBUF;
    for (size_t i = 0; i + 1 < n; i++) {
        dst[i] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    dst[n - 1] = (uint8_t)v;
    return (rly_ssize)n;
}

rly_ssize rly_varint_decode(const uint8_t *p, size_t len, uint64_t *pv)
{
    uint64_t v = 0;
    for (size_t i = 0; i < RLY_VARINT_MAX_LEN; i++) {
        if (i == len)
            return RLY_ERR_TRUNCATED;
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] & 0x80)
            continue;
        /* A zero final byte after the first adds nothing: a shorter form exists. */
        if (i > 0 && p[i] == 0)
            return RLY_ERR_NON_MINIMAL;
        *pv = v;
        return (rly_ssize)(i + 1);
    }
    /* The ninth byte still had its continuation bit: a tenth byte would carry bit 63 or more. */
    return RLY_ERR_MALFORMED;
}

int rly_varint_append(rly_dynbuf *b, uint64_t v)
{
    uint8_t tmp[RLY_VARINT_MAX_LEN];
    rly_ssize n = rly_varint_encode(tmp, sizeof(tmp), v);
    if (n < 0)
        return (int)n;
    return rly_dynbuf_append(b, tmp, (size_t)n);
}
