/* test_circuit_pb.c: Circuit Relay v2 codec and message reader (src/proto/circuit/circuit_pb):
 * decode vectors of tests/vectors/circuit/ through the reader with every chunking, exact
 * re-encoding, round trips of every message, presence rules, caps, and the status mappings. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/multiaddr.h"
#include "proto/circuit/circuit_pb.h"
#include "vecfile.h"
#include "circuit_util.h"

static const size_t chunks[] = {0, 1, 2, 3, 5, 7, 64};

static int err_named(const char *s)
{
    if (strcmp(s, "!frame_too_large") == 0)
        return RLY_ERR_FRAME_TOO_LARGE;
    return vec_err(s);
}

static void peer_text(bool has, const rly_peerid *p, char *out, size_t cap)
{
    if (!has) {
        snprintf(out, cap, "-");
        return;
    }
    cr_assert_gt(rly_peerid_to_string(p, out, cap), 0);
}

static void limit_text(bool has, const rly_circuit_limit *l, char *out, size_t cap)
{
    if (has)
        snprintf(out, cap, "%u/%llu", l->duration, (unsigned long long)l->data);
    else
        snprintf(out, cap, "-");
}

static void status_text(bool has, uint32_t status, char *out, size_t cap)
{
    if (has)
        snprintf(out, cap, "%u", status);
    else
        snprintf(out, cap, "-");
}

static void hop_summary(const rly_circuit_hop_msg *m, char *out, size_t cap)
{
    char p[RLY_PEERID_STR_MAX], r[64] = "-", l[48], s[16];
    const rly_circuit_reservation *rsv = &m->reservation;
    peer_text(m->has_peer, &m->peer, p, sizeof(p));
    if (m->has_reservation)
        snprintf(r, sizeof(r), "%llu/%zu/%zu", (unsigned long long)rsv->expire, rsv->naddrs,
                 rsv->voucher.len);
    limit_text(m->has_limit, &m->limit, l, sizeof(l));
    status_text(m->has_status, m->status, s, sizeof(s));
    snprintf(out, cap, "type=%u peer=%s rsv=%s limit=%s status=%s", m->type, p, r, l, s);
}

static void stop_summary(const rly_circuit_stop_msg *m, char *out, size_t cap)
{
    char p[RLY_PEERID_STR_MAX], l[48], s[16];
    peer_text(m->has_peer, &m->peer, p, sizeof(p));
    limit_text(m->has_limit, &m->limit, l, sizeof(l));
    status_text(m->has_status, m->status, s, sizeof(s));
    snprintf(out, cap, "type=%u peer=%s limit=%s status=%s", m->type, p, l, s);
}

/* A vector's framed bytes, followed by a tail the reader must leave alone. */
typedef struct framed {
    uint8_t b[WIRE_MAX];
    size_t n;
} framed;

static const uint8_t tail[] = {0x13, 0x2f, 0x6d, 0x75, 0x6c}; /* "\x13/mul...": multistream */

static void load(const vec_line *l, framed *f)
{
    cr_assert_eq(l->nf, 3, "%s:%d: want 3 fields", l->file, l->lineno);
    f->n = vec_hex(l->f[0], f->b, sizeof(f->b) - sizeof(tail));
    memcpy(f->b + f->n, tail, sizeof(tail));
}

/* check_hop_row decodes one row with one chunking; returns 0 or the error. */
static int check_hop_row(const vec_line *l, const framed *f, size_t chunk)
{
    rly_circuit_pb_reader r;
    const uint8_t *msg;
    size_t mlen;
    char got[512];
    rly_circuit_pb_reader_init(&r, NULL);
    rly_ssize n = feed(&r, f->b, f->n + sizeof(tail), chunk, &msg, &mlen);
    int rv = n < 0 ? (int)n : 0;
    if (rv == 0) {
        /* The tail stays with the caller. */
        cr_assert_eq((size_t)n, f->n, "%s:%d chunk %zu: consumed %td", l->file, l->lineno, chunk,
                     n);
        rly_circuit_hop_msg m, again;
        rv = rly_circuit_pb_decode_hop(&m, msg, mlen);
        if (rv == 0) {
            hop_summary(&m, got, sizeof(got));
            cr_assert_str_eq(got, l->f[1], "%s:%d", l->file, l->lineno);
            rly_dynbuf out;
            rly_dynbuf_init(&out, NULL, WIRE_MAX);
            cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), 0, "%s:%d", l->file, l->lineno);
            if (strcmp(l->f[2], "exact") == 0)
                cr_assert(out.len == f->n && memcmp(out.data, f->b, f->n) == 0, "%s:%d re-encode",
                          l->file, l->lineno);
            size_t hdr = out.data[0] & 0x80 ? 2 : 1;
            cr_assert_eq(rly_circuit_pb_decode_hop(&again, out.data + hdr, out.len - hdr), 0);
            cr_assert(rly_circuit_pb_hop_equal(&m, &again), "%s:%d round trip", l->file, l->lineno);
            rly_dynbuf_free(&out);
        }
    }
    rly_circuit_pb_reader_free(&r);
    return rv;
}

static void hop_row(const vec_line *l, void *ud)
{
    static framed f;
    load(l, &f);
    for (size_t i = 0; i < RLY_ARRAY_LEN(chunks); i++) {
        int rv = check_hop_row(l, &f, chunks[i]);
        int want = l->f[1][0] == '!' ? err_named(l->f[1]) : 0;
        cr_assert_eq(rv, want, "%s:%d chunk %zu: got %d", l->file, l->lineno, chunks[i], rv);
    }
    (*(int *)ud)++;
}

Test(circuit_pb, hop_vectors)
{
    int count = 0;
    cr_assert_eq(vec_each("circuit/hop.txt", hop_row, &count), count);
    cr_assert_geq(count, 40);
    end_check();
}

static int check_stop_row(const vec_line *l, const framed *f, size_t chunk)
{
    rly_circuit_pb_reader r;
    const uint8_t *msg;
    size_t mlen;
    char got[256];
    rly_circuit_pb_reader_init(&r, NULL);
    rly_ssize n = feed(&r, f->b, f->n + sizeof(tail), chunk, &msg, &mlen);
    int rv = n < 0 ? (int)n : 0;
    if (rv == 0) {
        cr_assert_eq((size_t)n, f->n, "%s:%d chunk %zu", l->file, l->lineno, chunk);
        rly_circuit_stop_msg m, again;
        rv = rly_circuit_pb_decode_stop(&m, msg, mlen);
        if (rv == 0) {
            stop_summary(&m, got, sizeof(got));
            cr_assert_str_eq(got, l->f[1], "%s:%d", l->file, l->lineno);
            rly_dynbuf out;
            rly_dynbuf_init(&out, NULL, WIRE_MAX);
            cr_assert_eq(rly_circuit_pb_encode_stop(&m, &out), 0);
            if (strcmp(l->f[2], "exact") == 0)
                cr_assert(out.len == f->n && memcmp(out.data, f->b, f->n) == 0, "%s:%d re-encode",
                          l->file, l->lineno);
            cr_assert_eq(rly_circuit_pb_decode_stop(&again, out.data + 1, out.len - 1), 0);
            cr_assert(rly_circuit_pb_stop_equal(&m, &again), "%s:%d", l->file, l->lineno);
            rly_dynbuf_free(&out);
        }
    }
    rly_circuit_pb_reader_free(&r);
    return rv;
}

static void stop_row(const vec_line *l, void *ud)
{
    static framed f;
    load(l, &f);
    for (size_t i = 0; i < RLY_ARRAY_LEN(chunks); i++) {
        int rv = check_stop_row(l, &f, chunks[i]);
        int want = l->f[1][0] == '!' ? err_named(l->f[1]) : 0;
        cr_assert_eq(rv, want, "%s:%d chunk %zu: got %d", l->file, l->lineno, chunks[i], rv);
    }
    (*(int *)ud)++;
}

Test(circuit_pb, stop_vectors)
{
    int count = 0;
    cr_assert_eq(vec_each("circuit/stop.txt", stop_row, &count), count);
    cr_assert_geq(count, 14);
    end_check();
}

/* encodes checks that |m| encodes to the named wire vector. */
static void hop_encodes(const rly_circuit_hop_msg *m, const char *name)
{
    uint8_t want[WIRE_MAX];
    size_t wn = wire(name, want, sizeof(want));
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    cr_assert_eq(rly_circuit_pb_encode_hop(m, &out), 0);
    cr_assert_eq(out.len, wn, "%s: %zu bytes, want %zu", name, out.len, wn);
    cr_assert_arr_eq(out.data, want, wn, "%s", name);
    rly_dynbuf_free(&out);
}

Test(circuit_pb, presence_always_emitted)
{
    rly_circuit_hop_msg m;
    memset(&m, 0, sizeof(m));
    /* type 0 is written (08 00), not skipped as proto3 would. */
    hop_encodes(&m, "hop_reserve");
    m.type = RLY_CIRCUIT_HOP_CONNECT;
    m.has_peer = true;
    m.peer = peer(ED25519_PEER);
    hop_encodes(&m, "hop_connect_ed25519");
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_HOP_STATUS;
    m.has_status = true;
    m.status = RLY_CIRCUIT_STATUS_OK;
    m.has_limit = true;
    m.limit = (rly_circuit_limit){.duration = 120, .data = 128 * 1024};
    hop_encodes(&m, "hop_connect_ok_2min_128k");
    m.has_limit = false;
    hop_encodes(&m, "hop_connect_ok_unlimited");
    end_check();
}

Test(circuit_pb, stop_wire_vectors)
{
    uint8_t want[WIRE_MAX];
    rly_circuit_stop_msg m;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    memset(&m, 0, sizeof(m));
    m.has_peer = true;
    m.peer = peer(ED25519_PEER);
    m.has_limit = true;
    m.limit = (rly_circuit_limit){120, 131072};
    cr_assert_eq(rly_circuit_pb_encode_stop(&m, &out), 0);
    size_t wn = wire("stop_connect_2min_128k", want, sizeof(want));
    cr_assert_eq(out.len, wn);
    cr_assert_arr_eq(out.data, want, wn);
    /* The documented prefix: 34 08 00 12 28 0a 26 <38-byte id> 1a 06 08 78 10 80 80 08. */
    cr_assert_eq(wn, 53);
    cr_assert_arr_eq(out.data, ((uint8_t[]){0x34, 0x08, 0x00, 0x12, 0x28, 0x0a, 0x26}), 7);
    rly_dynbuf_free(&out);
    end_check();
}

/* The status varints of PROTOCOLS.md 8.2, written out by hand. */
Test(circuit_pb, status_varints)
{
    static const struct {
        uint32_t status;
        uint8_t b[2];
        size_t n;
    } t[] = {
        {100, {0x64}, 1},       {200, {0xc8, 0x01}, 2}, {201, {0xc9, 0x01}, 2},
        {202, {0xca, 0x01}, 2}, {203, {0xcb, 0x01}, 2}, {204, {0xcc, 0x01}, 2},
        {400, {0x90, 0x03}, 2}, {401, {0x91, 0x03}, 2},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(t); i++) {
        rly_circuit_hop_msg h = {.type = 2, .has_status = true, .status = t[i].status};
        rly_circuit_stop_msg s = {.type = 1, .has_status = true, .status = t[i].status};
        rly_dynbuf out;
        rly_dynbuf_init(&out, NULL, 64);
        cr_assert_eq(rly_circuit_pb_encode_hop(&h, &out), 0);
        cr_assert_eq(out.len, 4 + t[i].n);
        cr_assert_eq(out.data[3], 0x28);
        cr_assert_arr_eq(out.data + 4, t[i].b, t[i].n);
        rly_dynbuf_reset(&out);
        cr_assert_eq(rly_circuit_pb_encode_stop(&s, &out), 0);
        cr_assert_eq(out.data[3], 0x20, "StopMessage.status uses tag 20");
        cr_assert_arr_eq(out.data + 4, t[i].b, t[i].n);
        rly_dynbuf_free(&out);
        char name[32];
        snprintf(name, sizeof(name), "stop_status_%u", t[i].status);
        uint8_t want[16];
        cr_assert_eq(wire(name, want, sizeof(want)), 4 + t[i].n);
        if (t[i].status != 100) {
            snprintf(name, sizeof(name), "hop_status_%u", t[i].status);
            cr_assert_eq(wire(name, want, sizeof(want)), 4 + t[i].n);
        }
    }
    end_check();
}

static void full_reservation(rly_circuit_reservation *r, rly_multiaddr *ma, size_t n)
{
    static const uint8_t voucher[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    memset(r, 0, sizeof(*r));
    r->expire = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        char text[128];
        snprintf(text, sizeof(text), "/ip4/10.0.0.%zu/udp/%zu/quic-v1/p2p/" RSA_PEER, i, 4000 + i);
        cr_assert_eq(rly_multiaddr_parse(&ma[i], text), 0);
        cr_assert_eq(rly_circuit_pb_reservation_add_addr(r, &ma[i]), 0);
    }
    r->voucher = (rly_circuit_bytes){voucher, sizeof(voucher)};
}

/* round_trip_hop encodes |m|, decodes it back and checks it is the same message. */
static void round_trip_hop(const rly_circuit_hop_msg *m)
{
    rly_dynbuf out;
    rly_circuit_hop_msg back;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    cr_assert_eq(rly_circuit_pb_encode_hop(m, &out), 0);
    rly_circuit_pb_reader r;
    const uint8_t *msg;
    size_t mlen;
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(feed(&r, out.data, out.len, 0, &msg, &mlen), (rly_ssize)out.len);
    cr_assert_eq(rly_circuit_pb_decode_hop(&back, msg, mlen), 0);
    cr_assert(rly_circuit_pb_hop_equal(m, &back));
    rly_circuit_pb_reader_free(&r);
    rly_dynbuf_free(&out);
}

Test(circuit_pb, hop_round_trips)
{
    static rly_multiaddr ma[RLY_CIRCUIT_MAX_ADDRS];
    rly_circuit_hop_msg m;
    for (uint32_t type = 0; type <= 3; type++) {
        memset(&m, 0, sizeof(m));
        m.type = type;
        round_trip_hop(&m);
        m.has_peer = true;
        m.peer = peer(type & 1 ? RSA_PEER : ED25519_PEER);
        round_trip_hop(&m);
        m.has_reservation = true;
        full_reservation(&m.reservation, ma, RLY_CIRCUIT_MAX_ADDRS);
        round_trip_hop(&m);
        m.has_limit = true;
        m.limit = (rly_circuit_limit){UINT32_MAX, UINT64_MAX};
        round_trip_hop(&m);
        m.has_status = true;
        m.status = UINT32_MAX;
        round_trip_hop(&m);
        m.reservation.naddrs = 0;
        m.reservation.voucher.len = 0;
        m.reservation.expire = 0;
        round_trip_hop(&m);
    }
    end_check();
}

Test(circuit_pb, stop_round_trips)
{
    rly_circuit_stop_msg m, back;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    for (unsigned bits = 0; bits < 16; bits++) {
        memset(&m, 0, sizeof(m));
        m.type = bits & 1;
        m.has_peer = bits & 2;
        m.peer = peer(ED25519_PEER);
        m.has_limit = bits & 4;
        m.limit = (rly_circuit_limit){7, bits};
        m.has_status = bits & 8;
        m.status = 100 + bits;
        rly_dynbuf_reset(&out);
        cr_assert_eq(rly_circuit_pb_encode_stop(&m, &out), 0);
        cr_assert_eq(out.data[0], out.len - 1);
        cr_assert_eq(rly_circuit_pb_decode_stop(&back, out.data + 1, out.len - 1), 0);
        cr_assert(rly_circuit_pb_stop_equal(&m, &back), "bits %u", bits);
    }
    rly_dynbuf_free(&out);
    end_check();
}

Test(circuit_pb, equal_compares_present_fields_only)
{
    rly_circuit_hop_msg a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    b.status = 7; /* not present: ignored */
    b.limit.data = 9;
    cr_assert(rly_circuit_pb_hop_equal(&a, &b));
    b.has_limit = true;
    cr_assert_not(rly_circuit_pb_hop_equal(&a, &b));
    a.has_limit = true;
    a.limit.data = 9;
    cr_assert(rly_circuit_pb_hop_equal(&a, &b));
    a.type = 1;
    cr_assert_not(rly_circuit_pb_hop_equal(&a, &b));
}

Test(circuit_pb, encode_caps)
{
    static uint8_t big[RLY_CIRCUIT_MAX_MSG];
    static rly_multiaddr ma[RLY_CIRCUIT_MAX_ADDRS];
    rly_circuit_hop_msg m;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 2 * WIRE_MAX);
    memset(&m, 0, sizeof(m));
    m.type = RLY_CIRCUIT_HOP_STATUS;
    m.has_reservation = true;
    /* Body: 08 02 | 1a <2-byte len> {08 00 | 1a <2-byte len> voucher} = 2 + 3 + 2 + 3 + v. */
    m.reservation.voucher = (rly_circuit_bytes){big, RLY_CIRCUIT_MAX_MSG - 10};
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), 0);
    cr_assert_eq(out.len, 2 + RLY_CIRCUIT_MAX_MSG, "exactly 4096 bytes of body");
    cr_assert_arr_eq(out.data, ((uint8_t[]){0x80, 0x20}), 2);
    m.reservation.voucher.len++;
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_NOBUF, "4097 bytes refused");
    cr_assert_eq(out.len, 2 + RLY_CIRCUIT_MAX_MSG, "out unchanged");
    m.reservation.voucher.len = SIZE_MAX / 2;
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_NOBUF);
    /* Too many addresses, empty or unparsable addresses, a length without a pointer. */
    full_reservation(&m.reservation, ma, RLY_CIRCUIT_MAX_ADDRS);
    cr_assert_eq(rly_circuit_pb_reservation_add_addr(&m.reservation, &ma[0]), RLY_ERR_NOBUF);
    m.reservation.naddrs = RLY_CIRCUIT_MAX_ADDRS + 1;
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_INVALID_ARG);
    m.reservation.naddrs = 2;
    m.reservation.addrs[1].len = 0;
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_INVALID_ARG);
    m.reservation.addrs[1] = (rly_circuit_bytes){(const uint8_t *)"\xff\xff", 2};
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_INVALID_ARG);
    m.reservation.naddrs = 1;
    m.reservation.voucher = (rly_circuit_bytes){NULL, 3};
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_INVALID_ARG);
    /* An invalid peer ID is refused in both messages. */
    m.has_reservation = false;
    m.has_peer = true;
    m.peer.len = 0;
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_INVALID_ARG);
    rly_circuit_stop_msg s = {.has_peer = true};
    cr_assert_eq(rly_circuit_pb_encode_stop(&s, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(out.len, 2 + RLY_CIRCUIT_MAX_MSG);
    rly_dynbuf_free(&out);
    /* A full output buffer. */
    rly_dynbuf_init(&out, NULL, 2);
    memset(&m, 0, sizeof(m));
    cr_assert_eq(rly_circuit_pb_encode_hop(&m, &out), RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 0);
    rly_dynbuf_free(&out);
    end_check();
}

Test(circuit_pb, decode_caps)
{
    static uint8_t body[RLY_CIRCUIT_MAX_MSG + 1];
    rly_circuit_hop_msg m;
    rly_circuit_stop_msg s;
    /* A 4096-byte body of one unknown field decodes; 4097 is refused before parsing. */
    body[0] = 0x4a; /* field 9, length-delimited */
    body[1] = 0xfd;
    body[2] = 0x1f; /* 4093 */
    cr_assert_eq(rly_circuit_pb_decode_hop(&m, body, RLY_CIRCUIT_MAX_MSG), 0);
    cr_assert_eq(m.type, 0);
    cr_assert_eq(rly_circuit_pb_decode_hop(&m, body, RLY_CIRCUIT_MAX_MSG + 1),
                 RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(rly_circuit_pb_decode_stop(&s, body, RLY_CIRCUIT_MAX_MSG + 1),
                 RLY_ERR_FRAME_TOO_LARGE);
    /* On error the message is zeroed, even what was decoded before the bad field. */
    static const uint8_t bad[] = {0x08, 0x01, 0x28, 0x64, 0x12, 0x00};
    cr_assert_eq(rly_circuit_pb_decode_hop(&m, bad, sizeof(bad)), RLY_ERR_MALFORMED);
    cr_assert_eq(m.type + m.status + m.has_status, 0);
    end_check();
}

Test(circuit_pb, reader_every_chunking_with_tail)
{
    uint8_t buf[WIRE_MAX];
    size_t n = wire("hop_reserve_ok", buf, sizeof(buf));
    static const uint8_t relayed[] = "/multistream/1.0.0\n";
    memcpy(buf + n, relayed, sizeof(relayed));
    for (size_t chunk = 1; chunk <= n + sizeof(relayed); chunk++) {
        rly_circuit_pb_reader r;
        const uint8_t *msg;
        size_t mlen;
        rly_circuit_pb_reader_init(&r, NULL);
        rly_ssize k = feed(&r, buf, n + sizeof(relayed), chunk, &msg, &mlen);
        cr_assert_eq(k, (rly_ssize)n, "chunk %zu: consumed %td of %zu", chunk, k, n);
        cr_assert_eq(mlen, n - 2);
        cr_assert_arr_eq(msg, buf + 2, mlen);
        /* Done: later calls take nothing and give the same message. */
        const uint8_t *again;
        size_t alen;
        cr_assert_eq(rly_circuit_pb_reader_recv(&r, buf + n, sizeof(relayed), &again, &alen), 0);
        cr_assert(again == msg && alen == mlen);
        rly_circuit_pb_reader_free(&r);
    }
    end_check();
}

Test(circuit_pb, reader_edges)
{
    rly_circuit_pb_reader r;
    const uint8_t *msg;
    size_t mlen;
    /* An empty message: complete after one byte, no allocation. */
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x00\x08", 2, &msg, &mlen), 1);
    cr_assert(msg != NULL && mlen == 0);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
    rly_circuit_pb_reader_free(&r);
    /* A prefix announcing the largest body, and no body yet: nothing is held for it (the
     * buffer grows with the bytes that arrive, not with the announced length). */
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x80\x20\x08", 3, &msg, &mlen),
                 3);
    cr_assert_null(msg);
    cr_assert_lt(rly_mem_default()->live_bytes, 256, "%zu bytes held for 1 byte of body",
                 rly_mem_default()->live_bytes);
    rly_circuit_pb_reader_free(&r);
    /* Nothing fed yet: nothing happens. */
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, NULL, 0, &msg, &mlen), 0);
    cr_assert_null(msg);
    /* A 4096-byte body is the largest accepted: prefix 80 20. */
    static uint8_t big[2 + RLY_CIRCUIT_MAX_MSG];
    big[0] = 0x80;
    big[1] = 0x20;
    cr_assert_eq(feed(&r, big, sizeof(big), 1000, &msg, &mlen), (rly_ssize)sizeof(big));
    cr_assert_eq(mlen, RLY_CIRCUIT_MAX_MSG);
    rly_circuit_pb_reader_free(&r);
    /* 4097 is refused at the prefix, and the error sticks. */
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x81", 1, &msg, &mlen), 1);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x20", 1, &msg, &mlen),
                 RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x00", 1, &msg, &mlen),
                 RLY_ERR_FRAME_TOO_LARGE);
    rly_circuit_pb_reader_free(&r);
    /* A padded prefix is a malformed varint. */
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(rly_circuit_pb_reader_recv(&r, (const uint8_t *)"\x80\x00", 2, &msg, &mlen),
                 RLY_ERR_MALFORMED);
    rly_circuit_pb_reader_free(&r);
    end_check();
}

Test(circuit_pb, status_mappings)
{
    static const struct {
        int err;
        uint32_t status;
    } t[] = {
        {RLY_ERR_LIMIT, 201},
        {RLY_ERR_RESERVATION_REFUSED, 200},
        {RLY_ERR_PERMISSION_DENIED, 202},
        {RLY_ERR_NO_RESERVATION, 204},
        {RLY_ERR_MALFORMED, 400},
        {RLY_ERR_UNEXPECTED_MSG, 401},
        {RLY_ERR_PROTO, 203},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(t); i++) {
        cr_assert_eq(rly_err_to_relay_status(t[i].err), t[i].status);
        cr_assert_eq(rly_circuit_pb_status_to_err(t[i].status), t[i].err);
    }
    /* Anything else is CONNECTION_FAILED. */
    static const int other[] = {0,
                                RLY_ERR_TIMEOUT,
                                RLY_ERR_NOMEM,
                                RLY_ERR_FRAME_TOO_LARGE,
                                RLY_ERR_RESET,
                                RLY_ERR_INTERNAL,
                                -12345};
    for (size_t i = 0; i < RLY_ARRAY_LEN(other); i++)
        cr_assert_eq(rly_err_to_relay_status(other[i]), RLY_CIRCUIT_STATUS_CONNECTION_FAILED);
    cr_assert_eq(rly_circuit_pb_status_to_err(100), 0);
    cr_assert_eq(rly_circuit_pb_status_to_err(0), RLY_ERR_PROTO);
    cr_assert_eq(rly_circuit_pb_status_to_err(999), RLY_ERR_PROTO);
    cr_assert_str_eq(rly_circuit_pb_status_name(204), "NO_RESERVATION");
    cr_assert_str_eq(rly_circuit_pb_status_name(100), "OK");
    cr_assert_str_eq(rly_circuit_pb_status_name(401), "UNEXPECTED_MESSAGE");
    cr_assert_str_eq(rly_circuit_pb_status_name(5), "UNKNOWN");
}
