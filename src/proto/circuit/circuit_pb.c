/* circuit_pb.c: Circuit Relay v2 protobuf codec and message reader (PROTOCOLS.md 8.1-8.2).
 *
 * Written by hand like the identify codec: the messages are small (five message types, two wire
 * types), presence must be controlled exactly (PROTOCOLS.md 8.2: type is written even when 0,
 * which proto3 generators skip), decoding must not allocate, and every cap applies while
 * reading. Encoding sizes the message first, so the 4096-byte cap is checked before a byte is
 * written and the writer below cannot overflow. */
#include "proto/circuit/circuit_pb.h"

#include <string.h>

#include "core/pb.h"
#include "core/varint.h"

/* Field numbers (PROTOCOLS.md 8.2 table). */
#define HOP_TYPE 1
#define HOP_PEER 2
#define HOP_RESERVATION 3
#define HOP_LIMIT 4
#define HOP_STATUS 5
#define STOP_TYPE 1
#define STOP_PEER 2
#define STOP_LIMIT 3
#define STOP_STATUS 4
#define PEER_ID 1
#define RSV_EXPIRE 1
#define RSV_ADDRS 2
#define RSV_VOUCHER 3
#define LIMIT_DURATION 1
#define LIMIT_DATA 2

/* uvarint(RLY_CIRCUIT_MAX_MSG) takes 2 bytes. */
#define PREFIX_MAX 2

/* Encoding. Sizes first (every field number is < 16, so a tag is one byte), then the bytes. */

static size_t vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t uint_len(uint64_t v)
{
    return 1 + vlen(v);
}

static size_t bytes_len(size_t n)
{
    return 1 + vlen(n) + n;
}

static size_t limit_len(const rly_circuit_limit *l)
{
    return (l->duration ? uint_len(l->duration) : 0) + (l->data ? uint_len(l->data) : 0);
}

static size_t rsv_len(const rly_circuit_reservation *r)
{
    size_t n = uint_len(r->expire);
    for (size_t i = 0; i < r->naddrs; i++)
        n += bytes_len(r->addrs[i].len);
    if (r->voucher.len)
        n += bytes_len(r->voucher.len);
    return n;
}

/* Peer { id } with the id always present and no addrs (the relay never sends any). */
static size_t peer_len(const rly_peerid *id)
{
    return bytes_len(id->len);
}

static size_t hop_len(const rly_circuit_hop_msg *m)
{
    size_t n = uint_len(m->type);
    if (m->has_peer)
        n += bytes_len(peer_len(&m->peer));
    if (m->has_reservation)
        n += bytes_len(rsv_len(&m->reservation));
    if (m->has_limit)
        n += bytes_len(limit_len(&m->limit));
    if (m->has_status)
        n += uint_len(m->status);
    return n;
}

static size_t stop_len(const rly_circuit_stop_msg *m)
{
    size_t n = uint_len(m->type);
    if (m->has_peer)
        n += bytes_len(peer_len(&m->peer));
    if (m->has_limit)
        n += bytes_len(limit_len(&m->limit));
    if (m->has_status)
        n += uint_len(m->status);
    return n;
}

/* A writer over a buffer that holds the largest message; the caller sized the message first. */
typedef struct pb_writer {
    uint8_t buf[PREFIX_MAX + RLY_CIRCUIT_MAX_MSG];
    size_t len;
} pb_writer;

static void w_varint(pb_writer *w, uint64_t v)
{
    RLY_ASSERT(sizeof(w->buf) - w->len >= vlen(v));
    while (v >= 0x80) {
        w->buf[w->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->buf[w->len++] = (uint8_t)v;
}

static void w_tag(pb_writer *w, unsigned num, unsigned wire)
{
    w_varint(w, num << 3 | wire);
}

static void w_uint(pb_writer *w, unsigned num, uint64_t v)
{
    w_tag(w, num, RLY_PB_WIRE_VARINT);
    w_varint(w, v);
}

static void w_bytes(pb_writer *w, unsigned num, const uint8_t *p, size_t n)
{
    w_tag(w, num, RLY_PB_WIRE_LEN);
    w_varint(w, n);
    RLY_ASSERT(sizeof(w->buf) - w->len >= n);
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void w_limit(pb_writer *w, unsigned num, const rly_circuit_limit *l)
{
    w_tag(w, num, RLY_PB_WIRE_LEN);
    w_varint(w, limit_len(l));
    if (l->duration)
        w_uint(w, LIMIT_DURATION, l->duration);
    if (l->data)
        w_uint(w, LIMIT_DATA, l->data);
}

static void w_peer(pb_writer *w, unsigned num, const rly_peerid *id)
{
    w_tag(w, num, RLY_PB_WIRE_LEN);
    w_varint(w, peer_len(id));
    w_bytes(w, PEER_ID, id->bytes, id->len);
}

static void w_rsv(pb_writer *w, unsigned num, const rly_circuit_reservation *r)
{
    w_tag(w, num, RLY_PB_WIRE_LEN);
    w_varint(w, rsv_len(r));
    w_uint(w, RSV_EXPIRE, r->expire);
    for (size_t i = 0; i < r->naddrs; i++)
        w_bytes(w, RSV_ADDRS, r->addrs[i].p, r->addrs[i].len);
    if (r->voucher.len)
        w_bytes(w, RSV_VOUCHER, r->voucher.p, r->voucher.len);
}

static bool valid_peer(const rly_peerid *id)
{
    rly_peerid tmp;
    return id->len <= RLY_PEERID_MAX_BYTES && rly_peerid_from_bytes(&tmp, id->bytes, id->len) == 0;
}

/* check_rsv: every address a non-empty, valid binary multiaddr (rust fails a reservation with an
 * address it cannot parse, PROTOCOLS.md 10.9), a voucher that could fit a message. */
static int check_rsv(const rly_circuit_reservation *r)
{
    rly_multiaddr ma;
    if (r->naddrs > RLY_CIRCUIT_MAX_ADDRS)
        return RLY_ERR_INVALID_ARG;
    for (size_t i = 0; i < r->naddrs; i++) {
        const rly_circuit_bytes *a = &r->addrs[i];
        if (a->len == 0 || !a->p || rly_multiaddr_from_bytes(&ma, a->p, a->len) != 0)
            return RLY_ERR_INVALID_ARG;
    }
    if (r->voucher.len && !r->voucher.p)
        return RLY_ERR_INVALID_ARG;
    return r->voucher.len > RLY_CIRCUIT_MAX_MSG ? RLY_ERR_NOBUF : 0;
}

int rly_circuit_pb_encode_hop(const rly_circuit_hop_msg *m, rly_dynbuf *out)
{
    if (m->has_peer && !valid_peer(&m->peer))
        return RLY_ERR_INVALID_ARG;
    int rv = m->has_reservation ? check_rsv(&m->reservation) : 0;
    if (rv != 0)
        return rv;
    size_t n = hop_len(m);
    if (n > RLY_CIRCUIT_MAX_MSG)
        return RLY_ERR_NOBUF;
    pb_writer w;
    w.len = 0;
    w_varint(&w, n);
    /* Always written, even RESERVE = 0: js rejects a HopMessage without it (8.2). */
    w_uint(&w, HOP_TYPE, m->type);
    if (m->has_peer)
        w_peer(&w, HOP_PEER, &m->peer);
    if (m->has_reservation)
        w_rsv(&w, HOP_RESERVATION, &m->reservation);
    if (m->has_limit)
        w_limit(&w, HOP_LIMIT, &m->limit);
    if (m->has_status)
        w_uint(&w, HOP_STATUS, m->status);
    RLY_ASSERT(w.len == vlen(n) + n);
    return rly_dynbuf_append(out, w.buf, w.len);
}

int rly_circuit_pb_encode_stop(const rly_circuit_stop_msg *m, rly_dynbuf *out)
{
    if (m->has_peer && !valid_peer(&m->peer))
        return RLY_ERR_INVALID_ARG;
    size_t n = stop_len(m);
    if (n > RLY_CIRCUIT_MAX_MSG)
        return RLY_ERR_NOBUF;
    pb_writer w;
    w.len = 0;
    w_varint(&w, n);
    /* Always written, even CONNECT = 0 (8.2). */
    w_uint(&w, STOP_TYPE, m->type);
    if (m->has_peer)
        w_peer(&w, STOP_PEER, &m->peer);
    if (m->has_limit)
        w_limit(&w, STOP_LIMIT, &m->limit);
    if (m->has_status)
        w_uint(&w, STOP_STATUS, m->status);
    RLY_ASSERT(w.len == vlen(n) + n);
    return rly_dynbuf_append(out, w.buf, w.len);
}

/* Decoding. Embedded messages decode into what the message already holds, so a repeated one
 * merges into the earlier one, as protobuf specifies. */

static int decode_peer(rly_peerid *id, const rly_pb_field *f)
{
    rly_pb_field g;
    size_t off = 0;
    int rv;
    while ((rv = rly_pb_next(f->p, f->len, &off, &g)) == 1) {
        /* Peer.addrs (2) fall through as unknown: the relay never dials (8.5). */
        if (g.num == PEER_ID && g.wire == RLY_PB_WIRE_LEN &&
            rly_peerid_from_bytes(id, g.p, g.len) != 0)
            return RLY_ERR_MALFORMED;
    }
    return rv;
}

static int decode_limit(rly_circuit_limit *l, const rly_pb_field *f)
{
    rly_pb_field g;
    size_t off = 0;
    int rv;
    while ((rv = rly_pb_next(f->p, f->len, &off, &g)) == 1) {
        if (g.wire != RLY_PB_WIRE_VARINT)
            continue;
        /* uint32 fields keep the low 32 bits of a longer varint, as protobuf decoders do. */
        if (g.num == LIMIT_DURATION)
            l->duration = (uint32_t)g.v;
        else if (g.num == LIMIT_DATA)
            l->data = g.v;
    }
    return rv;
}

/* add_addr keeps a Reservation address that parses, while there is room (go skips the others). */
static void add_addr(rly_circuit_reservation *r, const rly_pb_field *g)
{
    rly_multiaddr ma;
    if (r->naddrs == RLY_CIRCUIT_MAX_ADDRS || g->len == 0 ||
        rly_multiaddr_from_bytes(&ma, g->p, g->len) != 0)
        return;
    r->addrs[r->naddrs].p = g->p;
    r->addrs[r->naddrs].len = g->len;
    r->naddrs++;
}

static int decode_rsv(rly_circuit_reservation *r, const rly_pb_field *f)
{
    rly_pb_field g;
    size_t off = 0;
    int rv;
    while ((rv = rly_pb_next(f->p, f->len, &off, &g)) == 1) {
        if (g.num == RSV_EXPIRE && g.wire == RLY_PB_WIRE_VARINT)
            r->expire = g.v;
        else if (g.num == RSV_ADDRS && g.wire == RLY_PB_WIRE_LEN)
            add_addr(r, &g);
        else if (g.num == RSV_VOUCHER && g.wire == RLY_PB_WIRE_LEN)
            r->voucher = (rly_circuit_bytes){g.p, g.len};
    }
    return rv;
}

static int hop_field(void *msg, const rly_pb_field *f)
{
    rly_circuit_hop_msg *m = msg;
    /* A known number with another wire type is an unknown field to protobuf: skipped. */
    if (f->wire == RLY_PB_WIRE_VARINT && f->num == HOP_TYPE) {
        m->type = (uint32_t)f->v;
        m->has_type = true;
    }
    if (f->wire == RLY_PB_WIRE_VARINT && f->num == HOP_STATUS) {
        m->status = (uint32_t)f->v;
        m->has_status = true;
    }
    if (f->wire != RLY_PB_WIRE_LEN)
        return 0;
    switch (f->num) {
    case HOP_PEER: m->has_peer = true; return decode_peer(&m->peer, f);
    case HOP_RESERVATION: m->has_reservation = true; return decode_rsv(&m->reservation, f);
    case HOP_LIMIT: m->has_limit = true; return decode_limit(&m->limit, f);
    default: return 0;
    }
}

static int stop_field(void *msg, const rly_pb_field *f)
{
    rly_circuit_stop_msg *m = msg;
    if (f->wire == RLY_PB_WIRE_VARINT && f->num == STOP_TYPE) {
        m->type = (uint32_t)f->v;
        m->has_type = true;
    }
    if (f->wire == RLY_PB_WIRE_VARINT && f->num == STOP_STATUS) {
        m->status = (uint32_t)f->v;
        m->has_status = true;
    }
    if (f->wire != RLY_PB_WIRE_LEN)
        return 0;
    switch (f->num) {
    case STOP_PEER: m->has_peer = true; return decode_peer(&m->peer, f);
    case STOP_LIMIT: m->has_limit = true; return decode_limit(&m->limit, f);
    default: return 0;
    }
}

/* decode zeroes |m| (|size| bytes), then feeds each top-level field to |fn|. */
static int decode(void *m, size_t size, int (*fn)(void *, const rly_pb_field *), const uint8_t *pb,
                  size_t len)
{
    rly_pb_field f;
    size_t off = 0;
    int rv;
    memset(m, 0, size);
    if (len > RLY_CIRCUIT_MAX_MSG)
        return RLY_ERR_FRAME_TOO_LARGE;
    while ((rv = rly_pb_next(pb, len, &off, &f)) == 1) {
        rv = fn(m, &f);
        if (rv != 0)
            break;
    }
    if (rv != 0)
        memset(m, 0, size);
    return rv;
}

int rly_circuit_pb_decode_hop(rly_circuit_hop_msg *m, const uint8_t *pb, size_t len)
{
    int rv = decode(m, sizeof(*m), hop_field, pb, len);
    /* Peer.id is required (rust's schema; a CONNECT names its target by it). */
    if (rv == 0 && m->has_peer && m->peer.len == 0) {
        memset(m, 0, sizeof(*m));
        rv = RLY_ERR_MALFORMED;
    }
    return rv;
}

int rly_circuit_pb_decode_stop(rly_circuit_stop_msg *m, const uint8_t *pb, size_t len)
{
    int rv = decode(m, sizeof(*m), stop_field, pb, len);
    if (rv == 0 && m->has_peer && m->peer.len == 0) {
        memset(m, 0, sizeof(*m));
        rv = RLY_ERR_MALFORMED;
    }
    return rv;
}

static bool bytes_equal(const rly_circuit_bytes *a, const rly_circuit_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool limit_equal(const rly_circuit_limit *a, const rly_circuit_limit *b)
{
    return a->duration == b->duration && a->data == b->data;
}

static bool rsv_equal(const rly_circuit_reservation *a, const rly_circuit_reservation *b)
{
    if (a->expire != b->expire || a->naddrs != b->naddrs || !bytes_equal(&a->voucher, &b->voucher))
        return false;
    for (size_t i = 0; i < a->naddrs; i++)
        if (!bytes_equal(&a->addrs[i], &b->addrs[i]))
            return false;
    return true;
}

/* Type presence is not compared: the encoder always writes the type. */
bool rly_circuit_pb_hop_equal(const rly_circuit_hop_msg *a, const rly_circuit_hop_msg *b)
{
    return a->type == b->type && a->has_peer == b->has_peer &&
           (!a->has_peer || rly_peerid_equal(&a->peer, &b->peer)) &&
           a->has_reservation == b->has_reservation &&
           (!a->has_reservation || rsv_equal(&a->reservation, &b->reservation)) &&
           a->has_limit == b->has_limit && (!a->has_limit || limit_equal(&a->limit, &b->limit)) &&
           a->has_status == b->has_status && (!a->has_status || a->status == b->status);
}

bool rly_circuit_pb_stop_equal(const rly_circuit_stop_msg *a, const rly_circuit_stop_msg *b)
{
    return a->type == b->type && a->has_peer == b->has_peer &&
           (!a->has_peer || rly_peerid_equal(&a->peer, &b->peer)) && a->has_limit == b->has_limit &&
           (!a->has_limit || limit_equal(&a->limit, &b->limit)) && a->has_status == b->has_status &&
           (!a->has_status || a->status == b->status);
}

int rly_circuit_pb_reservation_add_addr(rly_circuit_reservation *r, const rly_multiaddr *ma)
{
    if (r->naddrs >= RLY_CIRCUIT_MAX_ADDRS)
        return RLY_ERR_NOBUF;
    r->addrs[r->naddrs].p = ma->bytes;
    r->addrs[r->naddrs].len = ma->len;
    r->naddrs++;
    return 0;
}

const char *rly_circuit_pb_status_name(uint32_t status)
{
    switch (status) {
    case RLY_CIRCUIT_STATUS_UNUSED: return "UNUSED";
    case RLY_CIRCUIT_STATUS_OK: return "OK";
    case RLY_CIRCUIT_STATUS_RESERVATION_REFUSED: return "RESERVATION_REFUSED";
    case RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED: return "RESOURCE_LIMIT_EXCEEDED";
    case RLY_CIRCUIT_STATUS_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case RLY_CIRCUIT_STATUS_CONNECTION_FAILED: return "CONNECTION_FAILED";
    case RLY_CIRCUIT_STATUS_NO_RESERVATION: return "NO_RESERVATION";
    case RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE: return "MALFORMED_MESSAGE";
    case RLY_CIRCUIT_STATUS_UNEXPECTED_MESSAGE: return "UNEXPECTED_MESSAGE";
    default: return "UNKNOWN";
    }
}

int rly_circuit_pb_status_to_err(uint32_t status)
{
    switch (status) {
    case RLY_CIRCUIT_STATUS_OK: return 0;
    case RLY_CIRCUIT_STATUS_RESERVATION_REFUSED: return RLY_ERR_RESERVATION_REFUSED;
    case RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED: return RLY_ERR_LIMIT;
    case RLY_CIRCUIT_STATUS_PERMISSION_DENIED: return RLY_ERR_PERMISSION_DENIED;
    case RLY_CIRCUIT_STATUS_NO_RESERVATION: return RLY_ERR_NO_RESERVATION;
    case RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE: return RLY_ERR_MALFORMED;
    case RLY_CIRCUIT_STATUS_UNEXPECTED_MESSAGE: return RLY_ERR_UNEXPECTED_MSG;
    default: return RLY_ERR_PROTO;
    }
}

rly_circuit_status rly_err_to_relay_status(int err)
{
    switch (err) {
    case RLY_ERR_LIMIT: return RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED;
    case RLY_ERR_RESERVATION_REFUSED: return RLY_CIRCUIT_STATUS_RESERVATION_REFUSED;
    case RLY_ERR_PERMISSION_DENIED: return RLY_CIRCUIT_STATUS_PERMISSION_DENIED;
    case RLY_ERR_NO_RESERVATION: return RLY_CIRCUIT_STATUS_NO_RESERVATION;
    case RLY_ERR_MALFORMED: return RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE;
    case RLY_ERR_UNEXPECTED_MSG: return RLY_CIRCUIT_STATUS_UNEXPECTED_MESSAGE;
    default: return RLY_CIRCUIT_STATUS_CONNECTION_FAILED;
    }
}

/* The reader. The prefix is taken one byte at a time (it is at most 2 bytes), the body in as
 * large pieces as arrive, and nothing past the body's last byte. */

static const uint8_t empty_body[1];

void rly_circuit_pb_reader_init(rly_circuit_pb_reader *r, rly_mem *mem)
{
    memset(r, 0, sizeof(*r));
    rly_dynbuf_init(&r->body, mem, RLY_CIRCUIT_MAX_MSG);
}

void rly_circuit_pb_reader_free(rly_circuit_pb_reader *r)
{
    if (r)
        rly_dynbuf_free(&r->body);
}

/* take_prefix adds one byte of the uvarint prefix and, once it is complete, checks the length.
 * Nothing is reserved for the body: it grows as its bytes arrive, so a peer that announces 4 KB
 * and sends nothing more holds no 4 KB buffer (issue 11 item 4). Returns 0 or a reader error. */
static int take_prefix(rly_circuit_pb_reader *r, uint8_t b)
{
    uint64_t v = 0;
    r->pfx[r->npfx++] = b;
    rly_ssize k = rly_varint_decode(r->pfx, r->npfx, &v);
    /* Two bytes that both continue already encode 2^14 or more (or a padded encoding). */
    if (k == RLY_ERR_TRUNCATED)
        return r->npfx == PREFIX_MAX ? RLY_ERR_FRAME_TOO_LARGE : 0;
    if (k < 0)
        return RLY_ERR_MALFORMED;
    if (v > RLY_CIRCUIT_MAX_MSG)
        return RLY_ERR_FRAME_TOO_LARGE;
    r->want = v;
    r->has_len = true;
    r->is_done = v == 0;
    return 0;
}

/* take_body appends up to the rest of the body from |in|. Returns the bytes taken or an error. */
static rly_ssize take_body(rly_circuit_pb_reader *r, const uint8_t *in, size_t len)
{
    size_t need = (size_t)r->want - r->body.len;
    size_t take = need < len ? need : len;
    if (take == 0)
        return 0;
    int rv = rly_dynbuf_append(&r->body, in, take);
    if (rv != 0)
        return rv;
    r->is_done = r->body.len == r->want;
    return (rly_ssize)take;
}

rly_ssize rly_circuit_pb_reader_recv(rly_circuit_pb_reader *r, const uint8_t *in, size_t len,
                                     const uint8_t **pmsg, size_t *pmsglen)
{
    size_t used = 0;
    *pmsg = NULL;
    *pmsglen = 0;
    if (r->err != 0)
        return r->err;
    while (!r->has_len && used < len) {
        int rv = take_prefix(r, in[used++]);
        if (rv != 0)
            return r->err = rv;
    }
    if (r->has_len && !r->is_done && used < len) {
        rly_ssize n = take_body(r, in + used, len - used);
        if (n < 0)
            return r->err = (int)n;
        used += (size_t)n;
    }
    if (r->is_done) {
        *pmsg = r->body.len ? r->body.data : empty_body;
        *pmsglen = r->body.len;
    }
    return (rly_ssize)used;
}
