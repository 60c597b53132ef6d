/* fuzz_hop.c: hop messages and the relay's hop state machine (src/proto/circuit). The first input
 * byte is the read size (0: everything at once); the rest is a hop stream from a client, whose
 * first message is also read in one piece for a codec round trip. Invariants: a read never consumes
 * more than it was given, and all of it while the request is incomplete; a decoded message encodes
 * again (or is too large once type is added) and decodes back equal; every state gets a reply that
 * a client parses with the status the relay chose; every allocation is returned. */
#include <stdlib.h>

#include "core/mem.h"
#include "proto/circuit/hop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* round_trip reads the framed message at the start of |in| in one piece, and checks that what
 * decodes encodes again (or is too large once type is added) and decodes back equal. */
static void round_trip(const uint8_t *in, size_t inlen)
{
    rly_circuit_hop_msg m, back;
    rly_circuit_pb_reader r;
    rly_dynbuf out;
    const uint8_t *pb;
    size_t len;
    rly_circuit_pb_reader_init(&r, NULL);
    rly_dynbuf_init(&out, NULL, 2 + RLY_CIRCUIT_MAX_MSG);
    if (rly_circuit_pb_reader_recv(&r, in, inlen, &pb, &len) >= 0 && pb &&
        rly_circuit_pb_decode_hop(&m, pb, len) == 0) {
        int rv = rly_circuit_pb_encode_hop(&m, &out);
        size_t hdr = out.len > 0 && (out.data[0] & 0x80) ? 2 : 1;
        if ((rv != 0 && rv != RLY_ERR_NOBUF) ||
            (rv == 0 && (rly_circuit_pb_decode_hop(&back, out.data + hdr, out.len - hdr) != 0 ||
                         !rly_circuit_pb_hop_equal(&m, &back))))
            abort();
    }
    rly_dynbuf_free(&out);
    rly_circuit_pb_reader_free(&r);
}

/* answer replies as the relay would and checks what a client reads from the reply. */
static void answer(rly_hop *h, uint8_t pick)
{
    static const rly_circuit_limit lim = {120, 1 << 17};
    rly_circuit_reservation rsv = {.expire = 1700000000};
    rly_circuit_hop_msg reply;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 2 + RLY_CIRCUIT_MAX_MSG);
    const rly_circuit_hop_msg *req = rly_hop_get_request(h);
    int rv = rly_hop_get_state(h) == RLY_HOP_DECIDE && !(pick & 1)
                 ? (req->type ? rly_hop_reply_connect(h, &lim, &out)
                              : rly_hop_reply_reservation(h, &rsv, &lim, &out))
                 : rly_hop_reply_err(h, -300 - (pick >> 4), &out);
    if (rv != 0 || (rly_hop_get_state(h) != RLY_HOP_DONE || out.len < 3 ||
                    (rly_hop_parse_reply(&reply, req ? req->type : 0, out.data + 1, out.len - 1) ==
                     0) != (rly_hop_get_status(h) == RLY_CIRCUIT_STATUS_OK) ||
                    reply.status != rly_hop_get_status(h)))
        abort();
    rly_dynbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes, off = 1;
    rly_hop h;
    if (size == 0)
        return 0;
    size_t chunk = data[0] ? data[0] : size;
    round_trip(data + 1, size - 1);
    rly_hop_init(&h, NULL, 60);
    while (off < size && rly_hop_get_state(&h) == RLY_HOP_READ_REQUEST) {
        size_t c = chunk < size - off ? chunk : size - off;
        rly_ssize n = rly_hop_recv(&h, data + off, c);
        if (n < 0 ? rly_hop_get_state(&h) != RLY_HOP_REJECT
                  : (size_t)n > c || ((size_t)n < c && rly_hop_get_state(&h) != RLY_HOP_DECIDE))
            abort();
        off += n < 0 ? c : (size_t)n;
    }
    if (rly_hop_get_state(&h) == RLY_HOP_READ_REQUEST && rly_hop_handle_eof(&h) == 0)
        abort();
    /* Only a request that states its type is decided on (a typeless one is MALFORMED). */
    if (rly_hop_get_state(&h) == RLY_HOP_DECIDE && !rly_hop_get_request(&h)->has_type)
        abort();
    answer(&h, data[size - 1]);
    rly_hop_free(&h);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
