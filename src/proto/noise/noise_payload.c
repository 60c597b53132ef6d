/* noise_payload.c: the libp2p Noise handshake payload codec (see noise_payload.h). */
#include "proto/noise/noise_payload.h"

#include <string.h>

/* Field numbers (PROTOCOLS.md 3). */
#define F_IDENTITY_KEY 1
#define F_IDENTITY_SIG 2
#define F_EXTENSIONS 4
#define F_STREAM_MUXERS 2
/* Protobuf wire types. */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5
#define VARINT_MAX_BYTES 10

/* A protobuf reader over [pos, end). */
typedef struct reader {
    const uint8_t *pos;
    const uint8_t *end;
} reader;

/* get_varint reads a protobuf varint (up to 10 bytes; unlike multiformats varints, protobuf
 * accepts non-minimal encodings). */
static int get_varint(reader *r, uint64_t *pv)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX_BYTES; i++) {
        if (r->pos == r->end)
            return RLY_ERR_MALFORMED;
        uint8_t b = *r->pos++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pv = v;
            return 0;
        }
    }
    return RLY_ERR_MALFORMED;
}

/* A field: its number, wire type and, for length-delimited fields, the bytes. */
typedef struct field {
    uint64_t num;
    unsigned wt;
    const uint8_t *data;
    size_t len;
} field;

/* skip advances |r| over |n| bytes. */
static int skip(reader *r, uint64_t n, field *f)
{
    if (n > (uint64_t)(r->end - r->pos))
        return RLY_ERR_MALFORMED;
    f->data = r->pos;
    f->len = (size_t)n;
    r->pos += n;
    return 0;
}

/* next_field reads one field header and its value. Groups (wire types 3, 4) and field number 0
 * are malformed. */
static int next_field(reader *r, field *f)
{
    uint64_t key, v;
    if (get_varint(r, &key) != 0)
        return RLY_ERR_MALFORMED;
    f->num = key >> 3;
    f->wt = (unsigned)(key & 7);
    f->data = NULL;
    f->len = 0;
    if (f->num == 0)
        return RLY_ERR_MALFORMED;
    switch (f->wt) {
    case WT_VARINT: return get_varint(r, &v);
    case WT_I64: return skip(r, 8, f);
    case WT_I32: return skip(r, 4, f);
    case WT_LEN:
        if (get_varint(r, &v) != 0)
            return RLY_ERR_MALFORMED;
        return skip(r, v, f);
    default: return RLY_ERR_MALFORMED;
    }
}

/* decode_extensions reads one NoiseExtensions message. Entries of stream_muxers from every
 * occurrence of the message add up (protobuf merges embedded messages). */
static int decode_extensions(rly_noise_payload *p, const uint8_t *buf, size_t len)
{
    static const char yamux[] = RLY_NOISE_MUXER_YAMUX;
    reader r = {buf, buf + len};
    field f;
    while (r.pos < r.end) {
        if (next_field(&r, &f) != 0)
            return RLY_ERR_MALFORMED;
        if (f.num != F_STREAM_MUXERS)
            continue;
        if (f.wt != WT_LEN || ++p->nmuxers > RLY_NOISE_MAX_MUXERS)
            return RLY_ERR_MALFORMED;
        if (f.len == sizeof(yamux) - 1 && memcmp(f.data, yamux, f.len) == 0)
            p->has_yamux = true;
    }
    return 0;
}

int rly_noise_payload_decode(rly_noise_payload *p, const uint8_t *buf, size_t len)
{
    reader r = {buf, buf + len};
    field f;
    memset(p, 0, sizeof(*p));
    while (r.pos < r.end) {
        if (next_field(&r, &f) != 0)
            return RLY_ERR_MALFORMED;
        bool is_known = f.num == F_IDENTITY_KEY || f.num == F_IDENTITY_SIG || f.num == F_EXTENSIONS;
        if (!is_known)
            continue;
        if (f.wt != WT_LEN)
            return RLY_ERR_MALFORMED;
        if (f.num == F_IDENTITY_KEY) {
            p->identity_key = f.data;
            p->identity_key_len = f.len;
        } else if (f.num == F_IDENTITY_SIG) {
            p->identity_sig = f.data;
            p->identity_sig_len = f.len;
        } else if (decode_extensions(p, f.data, f.len) != 0) {
            return RLY_ERR_MALFORMED;
        }
    }
    if (p->identity_key_len == 0 || p->identity_sig_len == 0)
        return RLY_ERR_MALFORMED;
    return 0;
}

/* put_varint appends a varint; |*pn| is the write offset. */
static void put_varint(uint8_t *out, size_t *pn, uint64_t v)
{
    while (v >= 0x80) {
        out[(*pn)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[(*pn)++] = (uint8_t)v;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* put_bytes appends field |num| (length-delimited) holding |len| bytes of |p|. */
static void put_bytes(uint8_t *out, size_t *pn, unsigned num, const void *p, size_t len)
{
    put_varint(out, pn, (uint64_t)num << 3 | WT_LEN);
    put_varint(out, pn, len);
    if (len > 0)
        memcpy(out + *pn, p, len);
    *pn += len;
}

static size_t bytes_len(size_t len)
{
    return 1 + varint_len(len) + len;
}

/* The NoiseExtensions message we send: stream_muxers = ["/yamux/1.0.0"]. */
static size_t extensions_len(void)
{
    return bytes_len(sizeof(RLY_NOISE_MUXER_YAMUX) - 1);
}

size_t rly_noise_payload_len(size_t keylen, size_t siglen, bool with_yamux)
{
    return bytes_len(keylen) + bytes_len(siglen) + (with_yamux ? bytes_len(extensions_len()) : 0);
}

rly_ssize rly_noise_payload_encode(const uint8_t *key, size_t keylen, const uint8_t *sig,
                                   size_t siglen, bool with_yamux, uint8_t *out, size_t cap)
{
    static const char yamux[] = RLY_NOISE_MUXER_YAMUX;
    size_t need = rly_noise_payload_len(keylen, siglen, with_yamux);
    size_t n = 0;
    if (need > cap)
        return RLY_ERR_NOBUF;
    put_bytes(out, &n, F_IDENTITY_KEY, key, keylen);
    put_bytes(out, &n, F_IDENTITY_SIG, sig, siglen);
    if (with_yamux) {
        put_varint(out, &n, (uint64_t)F_EXTENSIONS << 3 | WT_LEN);
        put_varint(out, &n, extensions_len());
        put_bytes(out, &n, F_STREAM_MUXERS, yamux, sizeof(yamux) - 1);
    }
    return (rly_ssize)n;
}
