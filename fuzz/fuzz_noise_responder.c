/* fuzz_noise_responder.c: a Noise responder (fixed keys, noise_fixture.h) fed arbitrary handshake
 * bytes. The first input byte is the piece size (0: all at once); bytes left once the handshake
 * is over go to the transport, as the TCP upgrade does. Nothing may crash or leak, and an error
 * always leaves the session FAILED. */
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "noise_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_noise_del(fx_session(false)); /* makes the cached identity before counting */
    size_t live = rly_mem_default()->live_bytes;
    rly_noise *n = fx_session(false);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 1u << 20);
    size_t chunk = size > 0 && data[0] ? data[0] : SIZE_MAX, off = size > 0;
    rly_ssize rv = 0;
    while (off < size && rly_noise_get_state(n) == RLY_NOISE_HANDSHAKE) {
        size_t len = size - off < chunk ? size - off : chunk;
        rv = rly_noise_handshake_recv(n, data + off, len, &out);
        RLY_ASSERT(rv < 0 ? rly_noise_get_state(n) == RLY_NOISE_FAILED : (size_t)rv <= len);
        off = rv < 0 ? size : off + (size_t)rv;
    }
    if (rly_noise_get_state(n) == RLY_NOISE_TRANSPORT && off < size) {
        uint8_t *rest = rly_memdup(NULL, data + off, size - off);
        rv = rest ? rly_noise_decrypt(n, rest, size - off, &out) : 0;
        rly_free(NULL, rest);
    }
    rly_dynbuf_free(&out);
    rly_noise_del(n);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
