/* test_stop.c: the relay side of a stop stream and the target's stop messages
 * (src/proto/circuit/stop): relay and target back to back with every chunking, exact CONNECT
 * bytes, the target's early bytes left for the bridge, refusals, wrong answers, EOF and the
 * deadline. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "proto/circuit/stop.h"
#include "vecfile.h"
#include "circuit_util.h"

#define S RLY_NS_PER_S

static const rly_circuit_limit default_limit = {.duration = 120, .data = 128 * 1024};

static void assert_bytes(const uint8_t *p, size_t n, const char *name)
{
    uint8_t want[WIRE_MAX];
    size_t wn = wire(name, want, sizeof(want));
    cr_assert_eq(n, wn, "%s: %zu bytes, want %zu", name, n, wn);
    cr_assert_arr_eq(p, want, wn, "%s", name);
}

/* answer feeds the target's bytes to the relay side in pieces of |chunk| until it leaves
 * READ_REPLY. Returns the bytes consumed or the error. */
static rly_ssize answer(rly_stop *s, const uint8_t *in, size_t n, size_t chunk)
{
    size_t off = 0;
    while (off < n && rly_stop_get_state(s) == RLY_STOP_READ_REPLY) {
        size_t c = chunk == 0 || chunk > n - off ? n - off : chunk;
        rly_ssize k = rly_stop_recv(s, in + off, c);
        if (k < 0)
            return k;
        cr_assert((size_t)k == c || rly_stop_get_state(s) == RLY_STOP_DONE);
        off += (size_t)k;
    }
    return (rly_ssize)off;
}

/* target_accepts plays the target: reads the relay's CONNECT (in |chunk| pieces), checks it and
 * appends its STATUS OK followed by the first bytes of its side of the relayed connection. */
static void target_accepts(const rly_dynbuf *req, size_t chunk, rly_dynbuf *reply)
{
    rly_circuit_pb_reader r;
    const uint8_t *msg;
    size_t mlen;
    rly_circuit_stop_msg m;
    rly_circuit_pb_reader_init(&r, NULL);
    cr_assert_eq(feed(&r, req->data, req->len, chunk, &msg, &mlen), (rly_ssize)req->len);
    cr_assert_eq(rly_stop_parse_connect(&m, msg, mlen), 0);
    rly_peerid src = peer(ED25519_PEER);
    cr_assert(rly_peerid_equal(&m.peer, &src));
    cr_assert(m.has_limit && m.limit.duration == 120 && m.limit.data == 131072);
    rly_circuit_pb_reader_free(&r);
    cr_assert_eq(rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, reply), 0);
    cr_assert_eq(rly_dynbuf_append_str(reply, "\x13/multistream/1.0.0\n"), 0);
}

Test(stop, connect_accept_every_chunking)
{
    rly_peerid src = peer(ED25519_PEER);
    for (size_t chunk = 0; chunk <= 60; chunk++) {
        rly_stop s;
        rly_dynbuf req, reply;
        rly_dynbuf_init(&req, NULL, WIRE_MAX);
        rly_dynbuf_init(&reply, NULL, WIRE_MAX);
        rly_stop_init(&s, NULL);
        cr_assert_eq(rly_stop_get_expiry(&s), RLY_TSTAMP_MAX);
        cr_assert_eq(rly_stop_recv(&s, (const uint8_t *)"x", 1), RLY_ERR_INVALID_STATE);
        cr_assert_eq(rly_stop_connect(&s, &src, &default_limit, 90 * S, &req), 0);
        cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_READ_REPLY);
        cr_assert_eq(rly_stop_get_expiry(&s), 90 * S);
        assert_bytes(req.data, req.len, "stop_connect_2min_128k");
        cr_assert_eq(rly_stop_connect(&s, &src, NULL, 0, &req), RLY_ERR_INVALID_STATE);

        target_accepts(&req, chunk, &reply);
        assert_bytes(reply.data, 5, "stop_status_100");
        /* Only the STATUS is taken: the target's first bytes wait for the bridge (10.17). */
        cr_assert_eq(answer(&s, reply.data, reply.len, chunk), 5, "chunk %zu", chunk);
        cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_DONE);
        cr_assert_eq(rly_stop_get_status(&s), RLY_CIRCUIT_STATUS_OK);
        cr_assert_eq(rly_stop_recv(&s, reply.data + 5, reply.len - 5), 0);
        cr_assert_eq(rly_stop_get_expiry(&s), RLY_TSTAMP_MAX);
        cr_assert_eq(rly_stop_handle_eof(&s), 0);
        rly_stop_free(&s);
        rly_dynbuf_free(&req);
        rly_dynbuf_free(&reply);
    }
    end_check();
}

Test(stop, connect_unlimited_and_bad_source)
{
    rly_peerid src = peer(ED25519_PEER);
    rly_stop s;
    rly_dynbuf req;
    rly_dynbuf_init(&req, NULL, WIRE_MAX);
    rly_stop_init(&s, NULL);
    cr_assert_eq(rly_stop_connect(&s, NULL, NULL, RLY_TSTAMP_MAX, &req), RLY_ERR_INVALID_ARG);
    rly_peerid bad = src;
    bad.len = 5;
    cr_assert_eq(rly_stop_connect(&s, &bad, NULL, RLY_TSTAMP_MAX, &req), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_IDLE);
    cr_assert_eq(req.len, 0);
    cr_assert_eq(rly_stop_connect(&s, &src, &(rly_circuit_limit){0, 0}, RLY_TSTAMP_MAX, &req), 0);
    assert_bytes(req.data, req.len, "stop_connect_unlimited");
    rly_stop_free(&s);
    rly_dynbuf_free(&req);
    end_check();
}

/* refused feeds |in| as the target's answer and checks FAILED with |err| and |status|. */
static void refused(const uint8_t *in, size_t n, int err, uint32_t status)
{
    rly_peerid src = peer(ED25519_PEER);
    for (size_t chunk = 0; chunk <= 2; chunk++) {
        rly_stop s;
        rly_dynbuf req;
        rly_dynbuf_init(&req, NULL, WIRE_MAX);
        rly_stop_init(&s, NULL);
        cr_assert_eq(rly_stop_connect(&s, &src, NULL, RLY_TSTAMP_MAX, &req), 0);
        cr_assert_eq(answer(&s, in, n, chunk), err, "chunk %zu", chunk);
        cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_FAILED);
        cr_assert_eq(rly_stop_get_status(&s), status);
        cr_assert_eq(rly_stop_recv(&s, in, n), err, "sticky");
        /* What the source is told: CONNECTION_FAILED, as go does (8.4 step 8). */
        rly_stop_free(&s);
        rly_dynbuf_free(&req);
    }
}

Test(stop, target_refusals)
{
    static const struct {
        uint32_t status;
        int err;
    } t[] = {
        {200, RLY_ERR_RESERVATION_REFUSED}, {201, RLY_ERR_LIMIT},
        {202, RLY_ERR_PERMISSION_DENIED},   {203, RLY_ERR_PROTO},
        {204, RLY_ERR_NO_RESERVATION},      {400, RLY_ERR_MALFORMED},
        {401, RLY_ERR_UNEXPECTED_MSG},      {999, RLY_ERR_PROTO},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(t); i++) {
        rly_dynbuf reply;
        rly_dynbuf_init(&reply, NULL, WIRE_MAX);
        cr_assert_eq(rly_stop_build_status(t[i].status, &reply), 0);
        if (t[i].status != 999) {
            char name[32];
            snprintf(name, sizeof(name), "stop_status_%u", t[i].status);
            assert_bytes(reply.data, reply.len, name);
        }
        refused(reply.data, reply.len, t[i].err, t[i].status);
        rly_dynbuf_free(&reply);
    }
    end_check();
}

Test(stop, wrong_answers)
{
    /* STATUS without status: absent is not OK. */
    refused((const uint8_t *)"\x02\x08\x01", 3, RLY_ERR_PROTO, 0);
    /* A CONNECT back, an empty message (no type: malformed), an unknown type. */
    refused((const uint8_t *)"\x04\x08\x00\x20\x64", 5, RLY_ERR_UNEXPECTED_MSG, 100);
    refused((const uint8_t *)"\x00", 1, RLY_ERR_MALFORMED, 0);
    refused((const uint8_t *)"\x04\x08\x05\x20\x64", 5, RLY_ERR_UNEXPECTED_MSG, 100);
    /* The hop status tag (28) is an unknown field here: no status. */
    refused((const uint8_t *)"\x04\x08\x01\x28\x64", 5, RLY_ERR_PROTO, 0);
    /* Broken protobuf and framing. */
    refused((const uint8_t *)"\x02\x08\xff", 3, RLY_ERR_MALFORMED, 0);
    refused((const uint8_t *)"\x81\x20", 2, RLY_ERR_FRAME_TOO_LARGE, 0);
    refused((const uint8_t *)"\x80\x00", 2, RLY_ERR_MALFORMED, 0);
    end_check();
}

Test(stop, eof_and_deadline)
{
    rly_peerid src = peer(ED25519_PEER);
    rly_stop s;
    rly_dynbuf req;
    rly_dynbuf_init(&req, NULL, WIRE_MAX);
    rly_stop_init(&s, NULL);
    cr_assert_eq(rly_stop_handle_eof(&s), 0);
    cr_assert_eq(rly_stop_handle_expiry(&s, UINT64_MAX - 1), 0);
    cr_assert_eq(rly_stop_connect(&s, &src, NULL, 10 * S, &req), 0);
    cr_assert_eq(rly_stop_recv(&s, (const uint8_t *)"\x04\x08", 2), 2);
    cr_assert_eq(rly_stop_handle_eof(&s), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_FAILED);
    rly_stop_free(&s);

    rly_stop_init(&s, NULL);
    cr_assert_eq(rly_stop_connect(&s, &src, NULL, 10 * S, &req), 0);
    cr_assert_eq(rly_stop_handle_expiry(&s, 10 * S - 1), 0);
    cr_assert_eq(rly_stop_handle_expiry(&s, 10 * S), RLY_ERR_TIMEOUT);
    cr_assert_eq(rly_stop_get_state(&s), RLY_STOP_FAILED);
    cr_assert_eq(rly_stop_get_expiry(&s), RLY_TSTAMP_MAX);
    cr_assert_eq(rly_stop_recv(&s, (const uint8_t *)"\x02\x08\x01", 3), RLY_ERR_TIMEOUT);
    rly_stop_free(&s);
    rly_dynbuf_free(&req);
    end_check();
}

Test(stop, target_parse_errors)
{
    rly_circuit_stop_msg m;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    /* A STATUS where a CONNECT belongs: the target answers UNEXPECTED_MESSAGE. */
    int rv = rly_stop_parse_connect(&m, (const uint8_t *)"\x08\x01\x20\x64", 4);
    cr_assert_eq(rv, RLY_ERR_UNEXPECTED_MSG);
    cr_assert_eq(rly_stop_build_status(rly_err_to_relay_status(rv), &out), 0);
    assert_bytes(out.data, out.len, "stop_status_401");
    /* A CONNECT without peer, or with a bad one: MALFORMED_MESSAGE. */
    rv = rly_stop_parse_connect(&m, (const uint8_t *)"\x08\x00", 2);
    cr_assert_eq(rv, RLY_ERR_MALFORMED);
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_stop_build_status(rly_err_to_relay_status(rv), &out), 0);
    assert_bytes(out.data, out.len, "stop_status_400");
    cr_assert_eq(rly_stop_parse_connect(&m, (const uint8_t *)"\x08\x00\x12\x02\x0a\x00", 6),
                 RLY_ERR_MALFORMED);
    /* The type is required: a CONNECT without it is MALFORMED_MESSAGE (issue 11 item 9; rust and
     * js refuse it too), however well-formed the rest. */
    static const uint8_t no_type[] = {0x12, 0x24, 0x0a, 0x22, 0x12, 0x20, 0x68, 0x36, 0x2c, 0x31,
                                      0x2e, 0x15, 0x5f, 0x4f, 0x72, 0x90, 0xb6, 0x7f, 0x5c, 0xd0,
                                      0x94, 0xa2, 0x2a, 0x0a, 0x4f, 0xbf, 0x20, 0xef, 0xd8, 0xc2,
                                      0x87, 0x93, 0x44, 0x19, 0x35, 0x0d, 0x36, 0xf7};
    cr_assert_eq(rly_stop_parse_connect(&m, no_type, sizeof(no_type)), RLY_ERR_MALFORMED);
    cr_assert_not(m.has_type);
    rly_peerid rsa = peer(RSA_PEER);
    cr_assert(rly_peerid_equal(&m.peer, &rsa), "the rest decoded");
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_stop_build_status(rly_err_to_relay_status(RLY_ERR_MALFORMED), &out), 0);
    assert_bytes(out.data, out.len, "stop_status_400");
    cr_assert_eq(rly_stop_build_status(RLY_CIRCUIT_STATUS_UNUSED, &out), RLY_ERR_INVALID_ARG);
    rly_dynbuf_free(&out);
    end_check();
}
