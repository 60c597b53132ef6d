#include "core/pb.h"

#include <string.h>

int rly_pb_varint(const uint8_t *p, size_t len, size_t *poff, uint64_t *pv)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < RLY_PB_VARINT_MAX; i++) {
        if (*poff == len)
            return RLY_ERR_MALFORMED;
        uint8_t b = p[(*poff)++];
        if (i == RLY_PB_VARINT_MAX - 1 && b > 1)
            return RLY_ERR_MALFORMED;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pv = v;
            return 0;
        }
    }
    return RLY_ERR_MALFORMED;
}

static int skip(size_t len, size_t *poff, uint64_t n)
{
    if (n > len - *poff)
        return RLY_ERR_MALFORMED;
    *poff += (size_t)n;
    return 0;
}

int rly_pb_next(const uint8_t *p, size_t len, size_t *poff, rly_pb_field *f)
{
    uint64_t key;
    if (*poff == len)
        return 0;
    int rv = rly_pb_varint(p, len, poff, &key);
    if (rv != 0)
        return rv;
    if ((key >> 3) == 0 || (key >> 3) > RLY_PB_FIELD_MAX)
        return RLY_ERR_MALFORMED;
    memset(f, 0, sizeof(*f));
    f->num = (uint32_t)(key >> 3);
    f->wire = (unsigned)(key & 7);
    switch (f->wire) {
    case RLY_PB_WIRE_VARINT: rv = rly_pb_varint(p, len, poff, &f->v); break;
    case RLY_PB_WIRE_I64: rv = skip(len, poff, 8); break;
    case RLY_PB_WIRE_I32: rv = skip(len, poff, 4); break;
    case RLY_PB_WIRE_LEN:
        rv = rly_pb_varint(p, len, poff, &f->v);
        if (rv == 0 && f->v > len - *poff)
            rv = RLY_ERR_MALFORMED;
        if (rv == 0) {
            f->p = p + *poff;
            f->len = (size_t)f->v;
            *poff += f->len;
        }
        break;
    default: rv = RLY_ERR_MALFORMED;
    }
    return rv != 0 ? rv : 1;
}

/* ---- streaming check ------------------------------------------------------------------------ */

enum { SCAN_KEY = 0, SCAN_VARINT, SCAN_LEN, SCAN_SKIP, SCAN_FAILED };

void rly_pb_scan_init(rly_pb_scan *sc, uint64_t len)
{
    memset(sc, 0, sizeof(*sc));
    sc->left = len;
}

/* scan_varint_byte adds |b| to the varint being read. Returns 1 when it is complete, 0 when more
 * bytes follow, RLY_ERR_MALFORMED past 64 bits (as rly_pb_varint). */
static int scan_varint_byte(rly_pb_scan *sc, uint8_t b)
{
    if (sc->nv == RLY_PB_VARINT_MAX - 1 && b > 1)
        return RLY_ERR_MALFORMED;
    sc->v |= (uint64_t)(b & 0x7f) << (7 * sc->nv);
    sc->nv++;
    return (b & 0x80) ? 0 : 1;
}

/* scan_value moves on from a complete key or length (in |v|; |left| counts the bytes after it). */
static int scan_value(rly_pb_scan *sc)
{
    uint64_t v = sc->v;
    sc->v = 0;
    sc->nv = 0;
    if (sc->state == SCAN_VARINT) {
        sc->state = SCAN_KEY;
        return 0;
    }
    if (sc->state == SCAN_LEN) {
        sc->skip = v;
    } else if ((v >> 3) == 0 || (v >> 3) > RLY_PB_FIELD_MAX) {
        return RLY_ERR_MALFORMED;
    } else {
        switch (v & 7) {
        case RLY_PB_WIRE_VARINT: sc->state = SCAN_VARINT; return 0;
        case RLY_PB_WIRE_LEN: sc->state = SCAN_LEN; return 0;
        case RLY_PB_WIRE_I64: sc->skip = 8; break;
        case RLY_PB_WIRE_I32: sc->skip = 4; break;
        default: return RLY_ERR_MALFORMED;
        }
    }
    if (sc->skip > sc->left)
        return RLY_ERR_MALFORMED; /* the value would run past the message */
    sc->state = sc->skip ? SCAN_SKIP : SCAN_KEY;
    return 0;
}

rly_ssize rly_pb_scan_feed(rly_pb_scan *sc, const uint8_t *in, size_t len)
{
    size_t n = len < sc->left ? len : (size_t)sc->left, i = 0;
    while (i < n && sc->state != SCAN_FAILED) {
        int rv = 0;
        if (sc->state == SCAN_SKIP) {
            size_t k = sc->skip < n - i ? (size_t)sc->skip : n - i;
            i += k;
            sc->left -= k;
            sc->skip -= k;
            if (sc->skip == 0)
                sc->state = SCAN_KEY;
            continue;
        }
        rv = scan_varint_byte(sc, in[i++]);
        sc->left--;
        if (rv == 1)
            rv = scan_value(sc);
        if (rv < 0)
            sc->state = SCAN_FAILED;
    }
    /* A message that ends inside a key, a varint or a length is truncated. */
    if (sc->state != SCAN_FAILED && sc->left == 0 && (sc->nv > 0 || sc->state != SCAN_KEY))
        sc->state = SCAN_FAILED;
    return sc->state == SCAN_FAILED ? RLY_ERR_MALFORMED : (rly_ssize)n;
}

int rly_pb_scan_done(const rly_pb_scan *sc)
{
    if (sc->state == SCAN_FAILED)
        return RLY_ERR_MALFORMED;
    return sc->left == 0 && sc->state == SCAN_KEY ? 1 : 0;
}

int rly_pb_append_varint(rly_dynbuf *b, uint64_t v)
{
    uint8_t tmp[RLY_PB_VARINT_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return rly_dynbuf_append(b, tmp, n);
}

size_t rly_pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

int rly_pb_append_uint(rly_dynbuf *b, uint8_t tag, uint64_t v)
{
    int rv = rly_dynbuf_append_byte(b, tag);
    return rv != 0 ? rv : rly_pb_append_varint(b, v);
}

int rly_pb_append_bytes(rly_dynbuf *b, uint8_t tag, const void *p, size_t n)
{
    int rv = rly_pb_append_uint(b, tag, n);
    if (rv == 0 && n > 0)
        rv = rly_dynbuf_append(b, p, n);
    return rv;
}
