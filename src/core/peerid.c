/* peerid.c: peer IDs as multihash bytes and as text (PROTOCOLS.md 1.3, specs
 * peer-ids/peer-ids.md and RFC 0001 text-peerid-cid). */
#include "core/peerid.h"

#include <string.h>

#include "core/multibase.h"
#include "core/multihash.h"
#include "core/varint.h"

#define CID_VERSION_1 1
/* A CID is version and codec varints (one byte each for the values we accept) + a multihash.
 * Two spare bytes let a longer, wrong prefix fail on its value instead of on buffer space. */
#define CID_MAX_BYTES (RLY_PEERID_MAX_BYTES + 4)

int rly_peerid_from_bytes(rly_peerid *pid, const uint8_t *p, size_t len)
{
    rly_multihash mh;
    rly_ssize n = rly_multihash_decode(p, len, &mh);
    if (n < 0)
        return (int)n;
    /* A peer ID is exactly one multihash: anything after it is not ours to ignore. */
    if ((size_t)n != len || len > sizeof(pid->bytes))
        return RLY_ERR_MALFORMED;
    memcpy(pid->bytes, p, len);
    pid->len = len;
    return 0;
}

/* parse_cid checks the CIDv1 binary |b| (|len| bytes) and takes its multihash as the peer ID. */
static int parse_cid(rly_peerid *pid, const uint8_t *b, size_t len)
{
    uint64_t version, codec;
    rly_ssize n1 = rly_varint_decode(b, len, &version);
    if (n1 < 0)
        return RLY_ERR_MALFORMED;
    if (version != CID_VERSION_1)
        return RLY_ERR_UNSUPPORTED;
    rly_ssize n2 = rly_varint_decode(b + n1, len - (size_t)n1, &codec);
    if (n2 < 0)
        return RLY_ERR_MALFORMED;
    if (codec != RLY_CID_CODEC_LIBP2P_KEY)
        return RLY_ERR_UNSUPPORTED;
    size_t off = (size_t)n1 + (size_t)n2;
    return rly_peerid_from_bytes(pid, b + off, len - off);
}

int rly_peerid_parse(rly_peerid *pid, const char *s, size_t len)
{
    uint8_t b[CID_MAX_BYTES];
    rly_ssize n;
    int rv;
    if (len == 0 || len >= RLY_PEERID_STR_MAX)
        return RLY_ERR_MALFORMED;
    /* The RFC 0001 rule: "Qm..." (sha2-256) and "1..." (identity) are bare base58btc
     * multihashes; everything else is a multibase-encoded CID. */
    if (s[0] == '1' || (len >= 2 && s[0] == 'Q' && s[1] == 'm')) {
        n = rly_base58_decode(s, len, b, RLY_PEERID_MAX_BYTES);
        rv = n < 0 ? (int)n : rly_peerid_from_bytes(pid, b, (size_t)n);
    } else {
        n = rly_multibase_decode(s, len, b, sizeof(b));
        rv = n < 0 ? (int)n : parse_cid(pid, b, (size_t)n);
    }
    /* The caller gets two answers: "not a peer ID" or "a kind we do not support". */
    return rv == 0 || rv == RLY_ERR_UNSUPPORTED ? rv : RLY_ERR_MALFORMED;
}

rly_ssize rly_peerid_to_string(const rly_peerid *pid, char *out, size_t cap)
{
    RLY_ASSERT(pid->len <= sizeof(pid->bytes));
    return rly_base58_encode(pid->bytes, pid->len, out, cap);
}

rly_ssize rly_peerid_to_cid(const rly_peerid *pid, char *out, size_t cap)
{
    RLY_ASSERT(pid->len <= sizeof(pid->bytes));
    uint8_t b[CID_MAX_BYTES];
    b[0] = CID_VERSION_1;
    b[1] = RLY_CID_CODEC_LIBP2P_KEY;
    memcpy(b + 2, pid->bytes, pid->len);
    return rly_multibase_encode(RLY_MULTIBASE_BASE32, b, pid->len + 2, out, cap);
}

bool rly_peerid_equal(const rly_peerid *a, const rly_peerid *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}
