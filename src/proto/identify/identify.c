/* identify.c: Identify message codec and stream reader (PROTOCOLS.md 6).
 *
 * The protobuf is written and read by hand rather than through protobuf-c, for three reasons:
 *  - caps apply per entry while reading (32 addresses, 64 protocols, 256-byte IDs), and bad
 *    entries are skipped rather than failing the message; protobuf-c would first allocate every
 *    repeated entry of an 8 KiB message and leave the filtering to us;
 *  - decoding merges into an existing struct (go splits its answer, PROTOCOLS.md 6), which
 *    protobuf-c's unpack-then-free model does not do;
 *  - the encoder must know the exact size before writing, to stay under rust's 4 KiB and drop
 *    signedPeerRecord first.
 * The message has seven fields of two wire types, so the hand-rolled code is small. */
#include "proto/identify/identify.h"

#include <string.h>

#include "core/pb.h"
#include "core/varint.h"
#include "crypto/keys.h"

_Static_assert(RLY_IDENTIFY_MAX_PUBKEY >= RLY_PUBKEY_PB_MAX, "identify must hold any PublicKey");

/* Field numbers (PROTOCOLS.md 6 table); every one is length-delimited (wire type 2). */
#define F_PUBKEY 1
#define F_LISTEN 2
#define F_PROTOCOL 3
#define F_OBSERVED 4
#define F_PROTOVER 5
#define F_AGENTVER 6
#define F_SPR 8
/* A prefix for a body of up to RLY_IDENTIFY_MAX_RECV (< 2^14) bytes is at most 2 bytes. */
#define PREFIX_MAX 2

void rly_identify_init(rly_identify *id, rly_mem *mem)
{
    memset(id, 0, sizeof(*id));
    id->mem = mem ? mem : rly_mem_default();
}

/* release frees memory decode allocated. The fields are const so that encode callers can point
 * them at their own data; only decode's copies ever reach here. */
static void release(rly_mem *mem, const void *p)
{
    rly_free(mem, (void *)(uintptr_t)p);
}

void rly_identify_free(rly_identify *id)
{
    if (!id)
        return;
    rly_mem *mem = id->mem;
    release(mem, id->public_key);
    rly_free(mem, id->listen_addrs);
    for (size_t i = 0; i < id->nprotocols; i++)
        release(mem, id->protocols[i]);
    rly_free(mem, id->protocols);
    release(mem, id->protocol_version);
    release(mem, id->agent_version);
    release(mem, id->signed_peer_record);
    rly_identify_init(id, mem);
}

/* dup_text copies |n| bytes plus a NUL, or NULL when out of memory. */
static char *dup_text(rly_mem *mem, const uint8_t *p, size_t n)
{
    char *s = rly_malloc(mem, n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* set_bytes replaces a bytes field (present values replace, PROTOCOLS.md 6 "merges"). Values
 * over |max| are ignored: no real key or record is that long. */
static int set_bytes(rly_identify *id, const uint8_t **pfield, size_t *pflen, const rly_pb_field *f,
                     size_t max)
{
    if (f->len == 0 || f->len > max)
        return 0;
    uint8_t *copy = rly_memdup(id->mem, f->p, f->len);
    if (!copy)
        return RLY_ERR_NOMEM;
    release(id->mem, *pfield);
    *pfield = copy;
    *pflen = f->len;
    return 0;
}

/* set_version replaces protocolVersion or agentVersion; an overlong value or one holding a NUL
 * (not representable as a C string) counts as absent. */
static int set_version(rly_identify *id, const char **pfield, const rly_pb_field *f)
{
    if (f->len > RLY_IDENTIFY_MAX_VERSION_LEN || memchr(f->p, '\0', f->len))
        return 0;
    char *s = dup_text(id->mem, f->p, f->len);
    if (!s)
        return RLY_ERR_NOMEM;
    release(id->mem, *pfield);
    *pfield = s;
    return 0;
}

/* slots is the array capacity behind |n| entries: powers of two from 4, so adding entry n needs
 * a larger array exactly when slots(n + 1) > slots(n). */
static size_t slots(size_t n)
{
    size_t s = 4;
    if (n == 0)
        return 0;
    while (s < n)
        s *= 2;
    return s;
}

static int add_addr(rly_identify *id, const rly_pb_field *f)
{
    rly_multiaddr ma;
    size_t n = id->nlisten_addrs;
    /* Addresses we cannot parse are skipped, as go and rust do, and so are empty ones. */
    if (n == RLY_IDENTIFY_MAX_ADDRS || f->len == 0 ||
        rly_multiaddr_from_bytes(&ma, f->p, f->len) != 0)
        return 0;
    if (slots(n + 1) > slots(n)) {
        rly_multiaddr *a =
            rly_realloc(id->mem, id->listen_addrs, slots(n + 1) * sizeof(rly_multiaddr));
        if (!a)
            return RLY_ERR_NOMEM;
        id->listen_addrs = a;
    }
    id->listen_addrs[n] = ma;
    id->nlisten_addrs = n + 1;
    return 0;
}

static int add_protocol(rly_identify *id, const rly_pb_field *f)
{
    size_t n = id->nprotocols;
    if (n == RLY_IDENTIFY_MAX_PROTOCOLS || f->len == 0 || f->len > RLY_IDENTIFY_MAX_PROTOCOL_LEN ||
        memchr(f->p, '\0', f->len))
        return 0;
    if (slots(n + 1) > slots(n)) {
        const char **a = rly_realloc(id->mem, id->protocols, slots(n + 1) * sizeof(char *));
        if (!a)
            return RLY_ERR_NOMEM;
        id->protocols = a;
    }
    char *s = dup_text(id->mem, f->p, f->len);
    if (!s)
        return RLY_ERR_NOMEM;
    id->protocols[n] = s;
    id->nprotocols = n + 1;
    return 0;
}

static int store(rly_identify *id, const rly_pb_field *f)
{
    /* A known number with another wire type is an unknown field to protobuf: skip it. */
    if (f->wire != RLY_PB_WIRE_LEN)
        return 0;
    switch (f->num) {
    case F_PUBKEY:
        return set_bytes(id, &id->public_key, &id->public_key_len, f, RLY_IDENTIFY_MAX_PUBKEY);
    case F_LISTEN: return add_addr(id, f);
    case F_PROTOCOL: return add_protocol(id, f);
    case F_OBSERVED:
        if (f->len > 0 && rly_multiaddr_from_bytes(&id->observed_addr, f->p, f->len) == 0)
            id->has_observed_addr = true;
        return 0;
    case F_PROTOVER: return set_version(id, &id->protocol_version, f);
    case F_AGENTVER: return set_version(id, &id->agent_version, f);
    case F_SPR:
        return set_bytes(id, &id->signed_peer_record, &id->signed_peer_record_len, f,
                         RLY_IDENTIFY_MAX_RECV);
    default: return 0;
    }
}

int rly_identify_decode(rly_identify *id, const uint8_t *pb, size_t len)
{
    rly_pb_field f;
    size_t off = 0;
    int rv;
    if (len > RLY_IDENTIFY_MAX_RECV)
        return RLY_ERR_FRAME_TOO_LARGE;
    /* First pass: structure only, so a broken message changes nothing. */
    while ((rv = rly_pb_next(pb, len, &off, &f)) == 1)
        ;
    if (rv < 0)
        return rv;
    off = 0;
    while (rly_pb_next(pb, len, &off, &f) == 1) {
        rv = store(id, &f);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* field_len is the encoded size of one length-delimited field (one tag byte: numbers < 16). */
static size_t field_len(size_t n)
{
    return 1 + rly_varint_len(n) + n;
}

static bool valid_text(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) <= max;
}

static bool valid_identify(const rly_identify *id)
{
    if (id->nlisten_addrs > RLY_IDENTIFY_MAX_ADDRS || id->nprotocols > RLY_IDENTIFY_MAX_PROTOCOLS ||
        id->public_key_len > RLY_IDENTIFY_MAX_PUBKEY ||
        id->signed_peer_record_len > RLY_IDENTIFY_MAX_RECV)
        return false;
    if ((id->nlisten_addrs && !id->listen_addrs) || (id->nprotocols && !id->protocols) ||
        (id->public_key_len && !id->public_key) ||
        (id->signed_peer_record_len && !id->signed_peer_record))
        return false;
    for (size_t i = 0; i < id->nprotocols; i++)
        if (!valid_text(id->protocols[i], RLY_IDENTIFY_MAX_PROTOCOL_LEN))
            return false;
    if (id->protocol_version && !valid_text(id->protocol_version, RLY_IDENTIFY_MAX_VERSION_LEN))
        return false;
    return !id->agent_version || valid_text(id->agent_version, RLY_IDENTIFY_MAX_VERSION_LEN);
}

/* body_len sizes the protobuf of |id|, with or without signedPeerRecord. */
static size_t body_len(const rly_identify *id, bool with_spr)
{
    size_t n = 0;
    if (id->public_key_len)
        n += field_len(id->public_key_len);
    for (size_t i = 0; i < id->nlisten_addrs; i++)
        n += field_len(id->listen_addrs[i].len);
    for (size_t i = 0; i < id->nprotocols; i++)
        n += field_len(strlen(id->protocols[i]));
    if (id->has_observed_addr)
        n += field_len(id->observed_addr.len);
    if (id->protocol_version)
        n += field_len(strlen(id->protocol_version));
    if (id->agent_version)
        n += field_len(strlen(id->agent_version));
    if (with_spr && id->signed_peer_record_len)
        n += field_len(id->signed_peer_record_len);
    return n;
}

static int put_field(rly_dynbuf *b, unsigned num, const void *p, size_t n)
{
    return rly_pb_append_bytes(b, (uint8_t)(num << 3 | RLY_PB_WIRE_LEN), p, n);
}

/* put_body writes the fields in number order, as go's marshaller does. */
static int put_body(rly_dynbuf *b, const rly_identify *id, bool with_spr)
{
    int rv = 0;
    if (id->public_key_len)
        rv = put_field(b, F_PUBKEY, id->public_key, id->public_key_len);
    for (size_t i = 0; rv == 0 && i < id->nlisten_addrs; i++)
        rv = put_field(b, F_LISTEN, id->listen_addrs[i].bytes, id->listen_addrs[i].len);
    for (size_t i = 0; rv == 0 && i < id->nprotocols; i++)
        rv = put_field(b, F_PROTOCOL, id->protocols[i], strlen(id->protocols[i]));
    if (rv == 0 && id->has_observed_addr)
        rv = put_field(b, F_OBSERVED, id->observed_addr.bytes, id->observed_addr.len);
    if (rv == 0 && id->protocol_version)
        rv = put_field(b, F_PROTOVER, id->protocol_version, strlen(id->protocol_version));
    if (rv == 0 && id->agent_version)
        rv = put_field(b, F_AGENTVER, id->agent_version, strlen(id->agent_version));
    if (rv == 0 && with_spr && id->signed_peer_record_len)
        rv = put_field(b, F_SPR, id->signed_peer_record, id->signed_peer_record_len);
    return rv;
}

int rly_identify_encode(const rly_identify *id, rly_dynbuf *out, bool *pdropped_spr)
{
    if (pdropped_spr)
        *pdropped_spr = false;
    if (!valid_identify(id))
        return RLY_ERR_INVALID_ARG;
    bool with_spr = true;
    size_t n = body_len(id, true);
    /* Keep the whole message within rust's 4 KiB read (PROTOCOLS.md 10.15); the record is the
     * one optional field, so it goes first. */
    if (rly_varint_len(n) + n > RLY_IDENTIFY_MAX_MSG && id->signed_peer_record_len) {
        with_spr = false;
        n = body_len(id, false);
    }
    if (rly_varint_len(n) + n > RLY_IDENTIFY_MAX_MSG)
        return RLY_ERR_NOBUF;
    size_t start = out->len;
    int rv = rly_dynbuf_reserve(out, rly_varint_len(n) + n);
    if (rv == 0)
        rv = rly_varint_append(out, n);
    if (rv == 0)
        rv = put_body(out, id, with_spr);
    if (rv != 0) {
        rly_dynbuf_truncate(out, start);
        return rv;
    }
    RLY_ASSERT(out->len - start == rly_varint_len(n) + n);
    if (pdropped_spr)
        *pdropped_spr = !with_spr;
    return 0;
}

void rly_identify_reader_init(rly_identify_reader *r, rly_mem *mem)
{
    memset(r, 0, sizeof(*r));
    rly_dynbuf_init(&r->buf, mem, PREFIX_MAX + RLY_IDENTIFY_MAX_RECV);
}

void rly_identify_reader_free(rly_identify_reader *r)
{
    if (r)
        rly_dynbuf_free(&r->buf);
}

/* frame_check looks at the start of a message in |p| (|n| bytes). Returns 1 when it is complete
 * (|*phdr| prefix bytes, |*ptotal| in all), 0 when more is needed (|*ptotal| 0 while the prefix
 * itself is incomplete) or an error. */
static int frame_check(const uint8_t *p, size_t n, size_t *phdr, size_t *ptotal)
{
    uint64_t v = 0;
    *ptotal = 0;
    if (n == 0)
        return 0;
    rly_ssize k = rly_varint_decode(p, n, &v);
    /* Two prefix bytes already carry 14 bits: a longer prefix is past the 8 KiB cap. */
    if (k == RLY_ERR_TRUNCATED)
        return n >= PREFIX_MAX ? RLY_ERR_FRAME_TOO_LARGE : 0;
    if (k < 0)
        return (int)k;
    if (v > RLY_IDENTIFY_MAX_RECV)
        return RLY_ERR_FRAME_TOO_LARGE;
    *phdr = (size_t)k;
    *ptotal = (size_t)k + (size_t)v;
    return n >= *ptotal ? 1 : 0;
}

/* buffered continues a message split across reads, taking input only up to its end. */
static rly_ssize buffered(rly_identify_reader *r, const uint8_t *in, size_t len,
                          const uint8_t **pmsg, size_t *pmsglen)
{
    size_t used = 0;
    for (;;) {
        size_t hdr = 0, total = 0;
        int rv = frame_check(r->buf.data, r->buf.len, &hdr, &total);
        if (rv < 0)
            return rv;
        if (rv == 1) {
            *pmsg = r->buf.data + hdr;
            *pmsglen = total - hdr;
            r->holds_msg = true;
            r->nmessages++;
            return (rly_ssize)used;
        }
        if (used == len)
            return (rly_ssize)used;
        /* Until the prefix is known take one byte at a time: it may be a single byte. */
        size_t want = total ? total - r->buf.len : 1;
        size_t take = want < len - used ? want : len - used;
        rv = rly_dynbuf_append(&r->buf, in + used, take);
        if (rv != 0)
            return rv;
        used += take;
    }
}

rly_ssize rly_identify_reader_recv(rly_identify_reader *r, const uint8_t *in, size_t len,
                                   const uint8_t **pmsg, size_t *pmsglen)
{
    *pmsg = NULL;
    *pmsglen = 0;
    if (r->holds_msg) {
        rly_dynbuf_reset(&r->buf);
        r->holds_msg = false;
    }
    if (len == 0)
        return 0;
    if (r->buf.len > 0)
        return buffered(r, in, len, pmsg, pmsglen);
    if (r->nmessages == RLY_IDENTIFY_MAX_MESSAGES)
        return RLY_ERR_FLOODED;
    size_t hdr = 0, total = 0;
    int rv = frame_check(in, len, &hdr, &total);
    if (rv < 0)
        return rv;
    if (rv == 1) {
        *pmsg = in + hdr;
        *pmsglen = total - hdr;
        r->nmessages++;
        return (rly_ssize)total;
    }
    /* Incomplete, so within the buffer's cap. */
    rv = rly_dynbuf_append(&r->buf, in, len);
    return rv != 0 ? rv : (rly_ssize)len;
}

int rly_identify_reader_finish(const rly_identify_reader *r)
{
    return r->buf.len > 0 && !r->holds_msg ? RLY_ERR_TRUNCATED : 0;
}

/* ---- identify push: one message, checked and dropped --------------------------------------- */

void rly_identify_push_reader_init(rly_identify_push_reader *r)
{
    memset(r, 0, sizeof(*r));
}

/* push_prefix takes prefix bytes, one at a time (the prefix may be one byte). */
static rly_ssize push_prefix(rly_identify_push_reader *r, const uint8_t *in, size_t len)
{
    size_t used = 0;
    while (!r->has_body && used < len) {
        size_t hdr = 0, total = 0;
        r->prefix[r->nprefix++] = in[used++];
        int rv = frame_check(r->prefix, r->nprefix, &hdr, &total);
        if (rv < 0)
            return rv;
        if (total > 0) { /* the prefix is complete: frame_check checked the body's size */
            rly_pb_scan_init(&r->body, total - hdr);
            r->has_body = true;
        }
    }
    return (rly_ssize)used;
}

rly_ssize rly_identify_push_reader_recv(rly_identify_push_reader *r, const uint8_t *in, size_t len,
                                        bool *pdone)
{
    *pdone = false;
    rly_ssize used = push_prefix(r, in, len);
    if (used < 0 || !r->has_body)
        return used;
    rly_ssize n = rly_pb_scan_feed(&r->body, in + used, len - (size_t)used);
    if (n < 0)
        return n;
    *pdone = rly_pb_scan_done(&r->body) == 1;
    return used + n;
}
