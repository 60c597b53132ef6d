/* multihash.c: code || uvarint(len) || digest for identity and sha2-256 (PROTOCOLS.md 1.3). */
#include "core/multihash.h"

#include <string.h>

#include "core/varint.h"

/* check_len returns 0 if a digest of |len| bytes is valid for |code|, else an rly_err. */
static int check_len(uint64_t code, uint64_t len)
{
    switch (code) {
    case RLY_MH_IDENTITY: return len <= RLY_MH_IDENTITY_MAX ? 0 : RLY_ERR_MALFORMED;
    case RLY_MH_SHA2_256: return len == RLY_MH_SHA2_256_LEN ? 0 : RLY_ERR_MALFORMED;
    default: return RLY_ERR_UNSUPPORTED;
    }
}

rly_ssize rly_multihash_decode(const uint8_t *p, size_t len, rly_multihash *mh)
{
    uint64_t code, dlen;
    rly_ssize n1 = rly_varint_decode(p, len, &code);
    if (n1 < 0)
        return n1;
    size_t off = (size_t)n1;
    rly_ssize n2 = rly_varint_decode(p + off, len - off, &dlen);
    if (n2 < 0)
        return n2;
    off += (size_t)n2;
    int rv = check_len(code, dlen);
    if (rv != 0)
        return rv;
    /* dlen is at most 42 here, so the cast cannot truncate. */
    if (len - off < dlen)
        return RLY_ERR_TRUNCATED;
    mh->code = code;
    mh->digest = p + off;
    mh->len = (size_t)dlen;
    return (rly_ssize)(off + mh->len);
}

rly_ssize rly_multihash_encode(uint8_t *dst, size_t cap, uint64_t code, const uint8_t *digest,
                               size_t len)
{
    int rv = check_len(code, len);
    if (rv == RLY_ERR_MALFORMED)
        return RLY_ERR_INVALID_ARG;
    if (rv != 0)
        return rv;
    /* Both codes and every accepted length fit in one varint byte each. */
    if (cap < 2 || cap - 2 < len)
        return RLY_ERR_NOBUF;
    dst[0] = (uint8_t)code;
    dst[1] = (uint8_t)len;
    if (len > 0)
        memcpy(dst + 2, digest, len);
    return (rly_ssize)(len + 2);
}
