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
