/* test_hop.c: the relay side of a hop stream and the client's hop messages
 * (src/proto/circuit/hop): RESERVE and CONNECT through the state machine with every chunking,
 * relayed bytes after a CONNECT left alone, exact reply bytes, a voucher that verifies, every
 * refusal, bad requests, EOF and the deadline. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "core/multiaddr.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "proto/circuit/hop.h"
#include "vecfile.h"
#include "circuit_util.h"

#define S RLY_NS_PER_S

static const rly_circuit_limit default_limit = {.duration = 120, .data = 128 * 1024};

/* serve feeds |n| bytes of |in| to |h| in pieces of |chunk| (0: at once) until it leaves
 * READ_REQUEST. Returns the bytes consumed or the error. */
static rly_ssize serve(rly_hop *h, const uint8_t *in, size_t n, size_t chunk)
{
    size_t off = 0;
    while (off < n && rly_hop_get_state(h) == RLY_HOP_READ_REQUEST) {
        size_t c = chunk == 0 || chunk > n - off ? n - off : chunk;
        rly_ssize k = rly_hop_recv(h, in + off, c);
        if (k < 0)
            return k;
        cr_assert((size_t)k == c || rly_hop_get_state(h) == RLY_HOP_DECIDE);
        off += (size_t)k;
    }
    return (rly_ssize)off;
}

static void assert_bytes(const rly_dynbuf *out, const char *name)
{
    uint8_t want[WIRE_MAX];
    size_t wn = wire(name, want, sizeof(want));
    cr_assert_eq(out->len, wn, "%s: %zu bytes, want %zu", name, out->len, wn);
    cr_assert_arr_eq(out->data, want, wn, "%s", name);
}

/* parse_reply reads the framed reply in |out| like a client and parses it. */
static int parse_reply(const rly_dynbuf *out, uint32_t request_type, rly_circuit_hop_msg *reply,
                       rly_circuit_pb_reader *r)
{
    const uint8_t *msg;
    size_t mlen;
    rly_circuit_pb_reader_init(r, NULL);
    cr_assert_eq(feed(r, out->data, out->len, 0, &msg, &mlen), (rly_ssize)out->len);
    cr_assert_not_null(msg);
    return rly_hop_parse_reply(reply, request_type, msg, mlen);
}

Test(hop, client_requests_exact)
{
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    cr_assert_eq(rly_hop_build_reserve(&out), 0);
    assert_bytes(&out, "hop_reserve");
    rly_dynbuf_reset(&out);
    rly_peerid dst = peer(ED25519_PEER);
    cr_assert_eq(rly_hop_build_connect(&dst, &out), 0);
    assert_bytes(&out, "hop_connect_ed25519");
    dst.len = 3;
    cr_assert_eq(rly_hop_build_connect(&dst, &out), RLY_ERR_INVALID_ARG);
    rly_dynbuf_free(&out);
    end_check();
}

Test(hop, connect_every_chunking_keeps_relayed_bytes)
{
    uint8_t in[WIRE_MAX];
    size_t n = wire("hop_connect_ed25519", in, sizeof(in));
    /* B may pipeline its first multistream bytes: they belong to the circuit. */
    static const uint8_t relayed[] = "\x13/multistream/1.0.0\n";
    memcpy(in + n, relayed, sizeof(relayed));
    rly_peerid dst = peer(ED25519_PEER);
    for (size_t chunk = 0; chunk <= n + 3; chunk++) {
        rly_hop h;
        rly_hop_init(&h, NULL, 60 * S);
        cr_assert_eq(rly_hop_get_request(&h), NULL);
        cr_assert_eq(serve(&h, in, n + sizeof(relayed), chunk), (rly_ssize)n, "chunk %zu", chunk);
        cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_DECIDE);
        const rly_circuit_hop_msg *req = rly_hop_get_request(&h);
        cr_assert_not_null(req);
        cr_assert_eq(req->type, RLY_CIRCUIT_HOP_CONNECT);
        cr_assert(req->has_peer && rly_peerid_equal(&req->peer, &dst));
        /* Nothing more is taken in DECIDE, and the deadline is off. */
        cr_assert_eq(rly_hop_recv(&h, in + n, sizeof(relayed)), 0);
        cr_assert_eq(rly_hop_get_expiry(&h), RLY_TSTAMP_MAX);
        cr_assert_eq(rly_hop_handle_expiry(&h, 100 * S), 0);
        cr_assert_eq(rly_hop_handle_eof(&h), 0);
        rly_hop_free(&h);
    }
    end_check();
}

Test(hop, connect_ok_exact_and_parsed)
{
    uint8_t in[WIRE_MAX];
    size_t n = wire("hop_connect_ed25519", in, sizeof(in));
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_hop_recv(&h, in, n), (rly_ssize)n);
    /* Wrong reply for the request type. */
    cr_assert_eq(rly_hop_reply_reservation(&h, &(rly_circuit_reservation){0}, NULL, &out),
                 RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_hop_reply_connect(&h, &default_limit, &out), 0);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_DONE);
    cr_assert_eq(rly_hop_get_status(&h), RLY_CIRCUIT_STATUS_OK);
    assert_bytes(&out, "hop_connect_ok_2min_128k");
    /* One reply per stream. */
    cr_assert_eq(rly_hop_reply_connect(&h, NULL, &out), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_hop_reply_err(&h, RLY_ERR_LIMIT, &out), RLY_ERR_INVALID_STATE);
    rly_circuit_hop_msg reply;
    rly_circuit_pb_reader r;
    cr_assert_eq(parse_reply(&out, RLY_CIRCUIT_HOP_CONNECT, &reply, &r), 0);
    cr_assert(reply.has_limit && reply.limit.duration == 120 && reply.limit.data == 131072);
    rly_circuit_pb_reader_free(&r);
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

Test(hop, unlimited_omits_limit)
{
    uint8_t in[WIRE_MAX];
    size_t n = wire("hop_connect_ed25519", in, sizeof(in));
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_hop_recv(&h, in, n), (rly_ssize)n);
    /* Zero duration and zero data mean unlimited: no Limit at all (go marks any Limit). */
    cr_assert_eq(rly_hop_reply_connect(&h, &(rly_circuit_limit){0, 0}, &out), 0);
    assert_bytes(&out, "hop_connect_ok_unlimited");
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

/* reserve_request runs the RESERVE request through |h| up to DECIDE. */
static void reserve_request(rly_hop *h, size_t chunk)
{
    uint8_t in[8];
    size_t n = wire("hop_reserve", in, sizeof(in));
    rly_hop_init(h, NULL, 60 * S);
    cr_assert_eq(rly_hop_get_expiry(h), 60 * S);
    cr_assert_eq(serve(h, in, n, chunk), (rly_ssize)n);
    cr_assert_eq(rly_hop_get_state(h), RLY_HOP_DECIDE);
    cr_assert_eq(rly_hop_get_request(h)->type, RLY_CIRCUIT_HOP_RESERVE);
    cr_assert_not(rly_hop_get_request(h)->has_peer);
}

Test(hop, reserve_ok_exact)
{
    rly_multiaddr ma[2];
    rly_circuit_reservation rsv = {.expire = 1700000000};
    uint8_t voucher[40];
    for (size_t i = 0; i < sizeof(voucher); i++)
        voucher[i] = (uint8_t)i;
    cr_assert_eq(rly_multiaddr_parse(&ma[0], "/ip4/1.2.3.4/tcp/4001/p2p/" RSA_PEER), 0);
    cr_assert_eq(rly_multiaddr_parse(&ma[1], "/ip4/1.2.3.4/udp/4001/quic-v1/p2p/" RSA_PEER), 0);
    cr_assert_eq(rly_circuit_pb_reservation_add_addr(&rsv, &ma[0]), 0);
    cr_assert_eq(rly_circuit_pb_reservation_add_addr(&rsv, &ma[1]), 0);
    rsv.voucher = (rly_circuit_bytes){voucher, sizeof(voucher)};
    for (size_t chunk = 0; chunk <= 3; chunk++) {
        rly_hop h;
        rly_dynbuf out;
        rly_dynbuf_init(&out, NULL, WIRE_MAX);
        reserve_request(&h, chunk);
        cr_assert_eq(rly_hop_reply_connect(&h, NULL, &out), RLY_ERR_INVALID_STATE);
        cr_assert_eq(rly_hop_reply_reservation(&h, NULL, NULL, &out), RLY_ERR_INVALID_ARG);
        cr_assert_eq(rly_hop_reply_reservation(&h, &rsv, &default_limit, &out), 0);
        assert_bytes(&out, "hop_reserve_ok");
        rly_hop_free(&h);
        rly_dynbuf_free(&out);
    }
    /* rust style: unlimited, no voucher. */
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    reserve_request(&h, 0);
    rsv.naddrs = 1;
    rsv.voucher.len = 0;
    cr_assert_eq(rly_hop_reply_reservation(&h, &rsv, NULL, &out), 0);
    assert_bytes(&out, "hop_reserve_ok_unlimited_no_voucher");
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

Test(hop, reserve_voucher_verifies)
{
    rly_keypair relay_kp, client_kp;
    rly_peerid relay, client;
    cr_assert_eq(rly_keypair_generate(&relay_kp), 0);
    cr_assert_eq(rly_keypair_generate(&client_kp), 0);
    cr_assert_eq(rly_keypair_peerid(&relay_kp, &relay), 0);
    cr_assert_eq(rly_keypair_peerid(&client_kp, &client), 0);
    rly_voucher v = {.relay = relay, .peer = client, .expiration = 1700003600};
    rly_dynbuf env;
    rly_dynbuf_init(&env, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay_kp, &v, &env), 0);

    /* The relay's address with /p2p/<relay>, as announced. */
    rly_multiaddr ma;
    char text[RLY_MULTIADDR_STR_MAX], pid[RLY_PEERID_STR_MAX];
    cr_assert_gt(rly_peerid_to_string(&relay, pid, sizeof(pid)), 0);
    snprintf(text, sizeof(text), "/ip4/203.0.113.7/tcp/4001/p2p/%s", pid);
    cr_assert_eq(rly_multiaddr_parse(&ma, text), 0);
    rly_circuit_reservation rsv = {.expire = v.expiration};
    cr_assert_eq(rly_circuit_pb_reservation_add_addr(&rsv, &ma), 0);
    rsv.voucher = (rly_circuit_bytes){env.data, env.len};

    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    reserve_request(&h, 1);
    cr_assert_eq(rly_hop_reply_reservation(&h, &rsv, &default_limit, &out), 0);
    rly_dynbuf_free(&env);

    /* The client side: parse, then open the voucher it carries. */
    rly_circuit_hop_msg reply;
    rly_circuit_pb_reader r;
    cr_assert_eq(parse_reply(&out, RLY_CIRCUIT_HOP_RESERVE, &reply, &r), 0);
    cr_assert(reply.has_reservation && reply.reservation.expire == 1700003600);
    cr_assert_eq(reply.reservation.naddrs, 1);
    cr_assert_arr_eq(reply.reservation.addrs[0].p, ma.bytes, ma.len);
    rly_voucher got;
    const rly_circuit_bytes *vb = &reply.reservation.voucher;
    cr_assert_eq(rly_voucher_open(&got, vb->p, vb->len, NULL), 0);
    cr_assert(rly_peerid_equal(&got.relay, &relay));
    cr_assert(rly_peerid_equal(&got.peer, &client));
    cr_assert_eq(got.expiration, reply.reservation.expire);
    rly_circuit_pb_reader_free(&r);
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay_kp);
    rly_keypair_wipe(&client_kp);
    end_check();
}

/* Each refusal the relay decides on, by error and by explicit status (8.3, 8.4). */
Test(hop, refusals)
{
    static const struct {
        int err;
        uint32_t status;
        const char *wire;
    } t[] = {
        {RLY_ERR_RESERVATION_REFUSED, 200, "hop_status_200"},
        {RLY_ERR_LIMIT, 201, "hop_status_201"},
        {RLY_ERR_PERMISSION_DENIED, 202, "hop_status_202"},
        {RLY_ERR_RESET, 203, "hop_status_203"},
        {RLY_ERR_NO_RESERVATION, 204, "hop_status_204"},
        {RLY_ERR_MALFORMED, 400, "hop_status_400"},
        {RLY_ERR_UNEXPECTED_MSG, 401, "hop_status_401"},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(t); i++) {
        for (int by_status = 0; by_status < 2; by_status++) {
            rly_hop h;
            rly_dynbuf out;
            rly_dynbuf_init(&out, NULL, WIRE_MAX);
            reserve_request(&h, 0);
            int rv = by_status ? rly_hop_reply_status(&h, t[i].status, &out)
                               : rly_hop_reply_err(&h, t[i].err, &out);
            cr_assert_eq(rv, 0);
            cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_DONE);
            cr_assert_eq(rly_hop_get_status(&h), t[i].status);
            assert_bytes(&out, t[i].wire);
            /* The client sees the status and the matching error (203 has none: PROTO). */
            rly_circuit_hop_msg reply;
            rly_circuit_pb_reader r;
            int want = t[i].status == 203 ? RLY_ERR_PROTO : t[i].err;
            cr_assert_eq(parse_reply(&out, RLY_CIRCUIT_HOP_RESERVE, &reply, &r), want);
            cr_assert_eq(reply.status, t[i].status);
            rly_circuit_pb_reader_free(&r);
            rly_hop_free(&h);
            rly_dynbuf_free(&out);
        }
    }
    end_check();
}

Test(hop, refusal_misuse)
{
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
    /* Nothing to answer yet. */
    cr_assert_eq(rly_hop_reply_status(&h, 204, &out), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_hop_reply_err(&h, RLY_ERR_LIMIT, &out), RLY_ERR_INVALID_STATE);
    rly_hop_free(&h);
    reserve_request(&h, 0);
    cr_assert_eq(rly_hop_reply_status(&h, RLY_CIRCUIT_STATUS_OK, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_hop_reply_status(&h, RLY_CIRCUIT_STATUS_UNUSED, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_hop_reply_err(&h, 0, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_DECIDE);
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

/* bad_request feeds |in| and checks the REJECT state, the error and the status answered. */
static void bad_request(const uint8_t *in, size_t n, int err, uint32_t status, const char *wire)
{
    for (size_t chunk = 0; chunk <= 2; chunk++) {
        rly_hop h;
        rly_dynbuf out;
        rly_dynbuf_init(&out, NULL, WIRE_MAX);
        rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
        cr_assert_eq(serve(&h, in, n, chunk), err, "chunk %zu", chunk);
        cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_REJECT);
        cr_assert_eq(rly_hop_get_status(&h), status);
        cr_assert_null(rly_hop_get_request(&h));
        /* Sticky, and the answer is the module's status whatever |err| the caller passes. */
        cr_assert_eq(rly_hop_recv(&h, in, n), err);
        cr_assert_eq(rly_hop_reply_err(&h, RLY_ERR_LIMIT, &out), 0);
        assert_bytes(&out, wire);
        rly_hop_free(&h);
        rly_dynbuf_free(&out);
    }
}

Test(hop, bad_requests)
{
    /* type STATUS or unknown -> MALFORMED_MESSAGE, as go answers (issue 12; js: 401). */
    bad_request((const uint8_t *)"\x04\x08\x02\x28\x64", 5, RLY_ERR_UNEXPECTED_MSG, 400,
                "hop_status_400");
    bad_request((const uint8_t *)"\x02\x08\x09", 3, RLY_ERR_UNEXPECTED_MSG, 400, "hop_status_400");
    /* No type at all (an empty message, or a peer alone): the type is required, so this is not
     * a RESERVE by default but MALFORMED_MESSAGE (issue 11 item 9). */
    bad_request((const uint8_t *)"\x00", 1, RLY_ERR_MALFORMED, 400, "hop_status_400");
    bad_request((const uint8_t *)"\x02\x28\x64", 3, RLY_ERR_MALFORMED, 400, "hop_status_400");
    /* CONNECT without peer, Peer without id, invalid id -> MALFORMED_MESSAGE (8.4 step 3). */
    bad_request((const uint8_t *)"\x02\x08\x01", 3, RLY_ERR_MALFORMED, 400, "hop_status_400");
    bad_request((const uint8_t *)"\x04\x08\x01\x12\x00", 5, RLY_ERR_MALFORMED, 400,
                "hop_status_400");
    bad_request((const uint8_t *)"\x08\x08\x01\x12\x04\x0a\x02\x12\x01", 9, RLY_ERR_MALFORMED, 400,
                "hop_status_400");
    /* Protobuf and framing errors -> MALFORMED_MESSAGE. */
    bad_request((const uint8_t *)"\x02\x08\x80", 3, RLY_ERR_MALFORMED, 400, "hop_status_400");
    bad_request((const uint8_t *)"\x81\x20", 2, RLY_ERR_FRAME_TOO_LARGE, 400, "hop_status_400");
    bad_request((const uint8_t *)"\x80\x00", 2, RLY_ERR_MALFORMED, 400, "hop_status_400");
    end_check();
}

Test(hop, override_module_status)
{
    /* A relay that answers like rust may override the module's choice. */
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_hop_recv(&h, (const uint8_t *)"\x02\x08\x02", 3), RLY_ERR_UNEXPECTED_MSG);
    cr_assert_eq(rly_hop_reply_status(&h, 201, &out), 0);
    assert_bytes(&out, "hop_status_201");
    cr_assert_eq(rly_hop_get_status(&h), 201);
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

Test(hop, eof_and_deadline)
{
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    /* EOF in the middle of the request. */
    rly_hop_init(&h, NULL, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_hop_recv(&h, (const uint8_t *)"\x2c\x08\x01", 3), 3);
    cr_assert_eq(rly_hop_handle_eof(&h), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_REJECT);
    cr_assert_eq(rly_hop_reply_err(&h, RLY_ERR_TRUNCATED, &out), 0);
    assert_bytes(&out, "hop_status_400");
    rly_hop_free(&h);
    /* The read deadline. */
    rly_hop_init(&h, NULL, 60 * S);
    cr_assert_eq(rly_hop_get_expiry(&h), 60 * S);
    cr_assert_eq(rly_hop_handle_expiry(&h, 60 * S - 1), 0);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_READ_REQUEST);
    cr_assert_eq(rly_hop_handle_expiry(&h, 60 * S), RLY_ERR_TIMEOUT);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_REJECT);
    cr_assert_eq(rly_hop_get_status(&h), RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE);
    cr_assert_eq(rly_hop_get_expiry(&h), RLY_TSTAMP_MAX);
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    end_check();
}

Test(hop, client_parse_reply_errors)
{
    rly_circuit_hop_msg reply;
    /* Not a STATUS. */
    cr_assert_eq(
        rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_RESERVE, (const uint8_t *)"\x08\x00", 2),
        RLY_ERR_UNEXPECTED_MSG);
    /* A reply without a type, even with status OK: malformed. */
    cr_assert_eq(
        rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_CONNECT, (const uint8_t *)"\x28\x64", 2),
        RLY_ERR_MALFORMED);
    /* STATUS without status: not OK. */
    cr_assert_eq(
        rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_CONNECT, (const uint8_t *)"\x08\x02", 2),
        RLY_ERR_PROTO);
    /* OK to a RESERVE without a reservation; fine for a CONNECT. */
    cr_assert_eq(rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_RESERVE,
                                     (const uint8_t *)"\x08\x02\x28\x64", 4),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_CONNECT,
                                     (const uint8_t *)"\x08\x02\x28\x64", 4),
                 0);
    cr_assert_not(reply.has_limit);
    /* Broken protobuf. */
    cr_assert_eq(rly_hop_parse_reply(&reply, RLY_CIRCUIT_HOP_CONNECT, (const uint8_t *)"\x08", 1),
                 RLY_ERR_MALFORMED);
    end_check();
}

Test(hop, out_of_memory)
{
    /* The reader's buffer cannot be had: REJECT, answered CONNECTION_FAILED, nothing leaks. */
    uint8_t in[WIRE_MAX];
    size_t n = wire("hop_connect_ed25519", in, sizeof(in));
    rly_mem mem;
    rly_mem_init(&mem);
    mem.fail_nth = 1;
    rly_hop h;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, WIRE_MAX);
    rly_hop_init(&h, &mem, RLY_TSTAMP_MAX);
    cr_assert_eq(rly_hop_recv(&h, in, n), RLY_ERR_NOMEM);
    cr_assert_eq(rly_hop_get_state(&h), RLY_HOP_REJECT);
    cr_assert_eq(rly_hop_reply_err(&h, RLY_ERR_NOMEM, &out), 0);
    assert_bytes(&out, "hop_status_203");
    rly_hop_free(&h);
    rly_dynbuf_free(&out);
    cr_assert_eq(mem.live_bytes, 0);
    end_check();
}
