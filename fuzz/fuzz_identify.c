/* fuzz_identify.c: Identify decoder and stream reader (src/proto/identify). The first input byte
 * is the read size for the reader (0: everything at once); the rest is decoded both as one
 * protobuf body and as a stream of length-prefixed messages merged together. Invariants: caps
 * hold after every merge, whatever decode keeps encodes again (or is too large to send) and
 * decodes back to the same counts, and every allocation is returned. */
#include <stdlib.h>

#include "core/mem.h"
#include "proto/identify/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const rly_identify *id)
{
    rly_identify again;
    rly_dynbuf out;
    bool dropped;
    if (id->nlisten_addrs > RLY_IDENTIFY_MAX_ADDRS || id->nprotocols > RLY_IDENTIFY_MAX_PROTOCOLS)
        abort();
    rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
    rly_identify_init(&again, NULL);
    int rv = rly_identify_encode(id, &out, &dropped);
    if (rv != 0 && rv != RLY_ERR_NOBUF)
        abort();
    size_t hdr = out.len > 0 && (out.data[0] & 0x80) ? 2 : 1;
    if (rv == 0 &&
        (rly_identify_decode(&again, out.data + hdr, out.len - hdr) != 0 ||
         again.nprotocols != id->nprotocols || again.nlisten_addrs != id->nlisten_addrs ||
         (!dropped && again.signed_peer_record_len != id->signed_peer_record_len)))
        abort();
    rly_identify_free(&again);
    rly_dynbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes;
    if (size == 0)
        return 0;
    size_t chunk = data[0] ? data[0] : size;
    rly_identify id;
    rly_identify_reader r;
    rly_identify_init(&id, NULL);
    if (rly_identify_decode(&id, data + 1, size - 1) == 0)
        check(&id);
    rly_identify_free(&id);
    rly_identify_reader_init(&r, NULL);
    for (size_t off = 1; off < size;) {
        size_t c = chunk < size - off ? chunk : size - off, mlen;
        const uint8_t *m;
        rly_ssize n = rly_identify_reader_recv(&r, data + off, c, &m, &mlen);
        if (n < 0)
            break;
        /* Progress, never past the read, and a partial message keeps all of it. */
        if (n == 0 || (size_t)n > c || (!m && (size_t)n != c) || mlen > RLY_IDENTIFY_MAX_RECV)
            abort();
        off += (size_t)n;
        if (m && rly_identify_decode(&id, m, mlen) != 0)
            break;
    }
    check(&id);
    rly_identify_free(&id);
    rly_identify_reader_free(&r);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
