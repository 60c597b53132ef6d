/* fuzz_identify.c: Identify decoder and stream reader (src/proto/identify). The first input byte
 * is the read size for the reader (0: everything at once); the rest is decoded both as one
 * protobuf body and as a stream of length-prefixed messages merged together. Invariants: caps
 * hold after every merge, whatever decode keeps encodes again (or is too large to send) and
 * decodes back to the same counts, and every allocation is returned. The push reader (which keeps
 * nothing) reads the same stream with the same reads and must agree with the reader on where the
 * first message ends (or that its prefix is bad) and with rly_pb_next on whether its structure is
 * valid. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/pb.h"
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

static bool structure_ok(const uint8_t *m, size_t n)
{
    size_t off = 0;
    rly_pb_field f;
    int rv;
    while ((rv = rly_pb_next(m, n, &off, &f)) == 1)
        ;
    return rv == 0;
}

/* The first message by the reader: its body (copied to |body|, |*pn| bytes) and where it ended,
 * or 0 and the reader's error (0: the input ended first). */
static size_t first_message(const uint8_t *in, size_t n, size_t chunk, uint8_t *body, size_t *pn,
                            int *perr)
{
    rly_identify_reader r;
    size_t off = 0, end = 0;
    *perr = 0;
    rly_identify_reader_init(&r, NULL);
    while (off < n && end == 0) {
        size_t c = chunk < n - off ? chunk : n - off, mlen;
        const uint8_t *m;
        rly_ssize k = rly_identify_reader_recv(&r, in + off, c, &m, &mlen);
        if (k < 0) {
            *perr = (int)k;
            break;
        }
        off += (size_t)k;
        if (m) {
            memcpy(body, m, mlen);
            *pn = mlen;
            end = off;
        }
    }
    rly_identify_reader_free(&r);
    return end;
}

static void check_push(const uint8_t *in, size_t n, size_t chunk)
{
    static uint8_t body[RLY_IDENTIFY_MAX_RECV];
    size_t blen = 0, off = 0;
    int rerr, perr = 0;
    size_t end = first_message(in, n, chunk, body, &blen, &rerr);
    rly_identify_push_reader p;
    bool done = false;
    rly_identify_push_reader_init(&p);
    while (off < n && !done) {
        size_t c = chunk < n - off ? chunk : n - off;
        rly_ssize k = rly_identify_push_reader_recv(&p, in + off, c, &done);
        if (k < 0) {
            perr = (int)k;
            break;
        }
        if ((size_t)k > c || (!done && (size_t)k != c))
            abort();
        off += (size_t)k;
    }
    if (end > 0 && structure_ok(body, blen) && !(done && perr == 0 && off == end))
        abort();
    if (end > 0 && !structure_ok(body, blen) && !(perr == RLY_ERR_MALFORMED && off <= end))
        abort();
    /* A bad prefix fails both (the code may differ: how many prefix bytes each saw at once). */
    if (end == 0 && rerr != 0 && rerr != RLY_ERR_NOMEM && perr == 0)
        abort();
    if (end == 0 && done)
        abort();
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
    check_push(data + 1, size - 1, chunk);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
