/* fuzz_stop.c: stop messages and the relay's stop state machine (src/proto/circuit). The first
 * input byte is the read size (0: everything at once); the rest is the target's answer on a stop
 * stream, whose first message is also read in one piece for a codec round trip and the target's
 * CONNECT parser. Invariants: a read never consumes more than it was given, and all of it while the
 * answer is incomplete; DONE only for STATUS OK; a decoded message encodes again and decodes
 * back equal; every allocation is returned. */
#include <stdlib.h>

#include "core/mem.h"
#include "proto/circuit/stop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* round_trip reads the framed message at the start of |in| in one piece, and checks that what
 * decodes encodes again (or is too large once type is added) and decodes back equal. */
static void round_trip(const uint8_t *in, size_t inlen)
{
    rly_circuit_stop_msg m, back;
    rly_circuit_pb_reader r;
    rly_dynbuf out;
    const uint8_t *pb;
    size_t len;
    rly_circuit_pb_reader_init(&r, NULL);
    rly_dynbuf_init(&out, NULL, 2 + RLY_CIRCUIT_MAX_MSG);
    if (rly_circuit_pb_reader_recv(&r, in, inlen, &pb, &len) >= 0 && pb &&
        rly_circuit_pb_decode_stop(&m, pb, len) == 0) {
        /* The target's parser accepts exactly a CONNECT (type stated) naming its source. */
        if ((rly_stop_parse_connect(&back, pb, len) == 0) !=
            (m.has_type && m.type == RLY_CIRCUIT_STOP_CONNECT && m.has_peer))
            abort();
        int rv = rly_circuit_pb_encode_stop(&m, &out);
        size_t hdr = out.len > 0 && (out.data[0] & 0x80) ? 2 : 1;
        if ((rv != 0 && rv != RLY_ERR_NOBUF) ||
            (rv == 0 && (rly_circuit_pb_decode_stop(&back, out.data + hdr, out.len - hdr) != 0 ||
                         !rly_circuit_pb_stop_equal(&m, &back))))
            abort();
    }
    rly_dynbuf_free(&out);
    rly_circuit_pb_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const rly_peerid src = {.bytes = {0x12, 0x20}, .len = 34};
    size_t live = rly_mem_default()->live_bytes, off = 1;
    rly_stop s;
    rly_dynbuf req;
    if (size == 0)
        return 0;
    size_t chunk = data[0] ? data[0] : size;
    round_trip(data + 1, size - 1);
    rly_stop_init(&s, NULL);
    rly_dynbuf_init(&req, NULL, 2 + RLY_CIRCUIT_MAX_MSG);
    if (rly_stop_connect(&s, &src, &(rly_circuit_limit){120, 1 << 17}, 60, &req) != 0)
        abort();
    while (off < size && rly_stop_get_state(&s) == RLY_STOP_READ_REPLY) {
        size_t c = chunk < size - off ? chunk : size - off;
        rly_ssize n = rly_stop_recv(&s, data + off, c);
        if (n < 0 ? rly_stop_get_state(&s) != RLY_STOP_FAILED
                  : (size_t)n > c || ((size_t)n < c && rly_stop_get_state(&s) != RLY_STOP_DONE))
            abort();
        off += n < 0 ? c : (size_t)n;
    }
    if (rly_stop_get_state(&s) == RLY_STOP_DONE && rly_stop_get_status(&s) != RLY_CIRCUIT_STATUS_OK)
        abort();
    rly_stop_free(&s);
    rly_dynbuf_free(&req);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
