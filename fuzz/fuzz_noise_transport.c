/* fuzz_noise_transport.c: a responder that completed a real handshake (fixed keys,
 * noise_fixture.h) decrypts arbitrary transport bytes. The first input byte is the piece size
 * (0: all at once). Every plaintext is encrypted back, so both directions run. Nothing may crash
 * or leak; a failure must leave the session FAILED. */
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "noise_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* responder returns a responder in transport: the fixed initiator's msg1 and msg3, recorded on
 * the first call, replayed to a fresh session (the keys are fixed, so they stay valid). */
static rly_noise *responder(void)
{
    static uint8_t msgs[1024];
    static size_t len;
    uint8_t scratch[1024];
    rly_dynbuf a, b;
    rly_dynbuf_init_small(&b, scratch, sizeof(scratch), NULL, sizeof(scratch) - 1);
    rly_noise *r = fx_session(false);
    if (len == 0) {
        rly_noise *i = fx_session(true);
        rly_dynbuf_init_small(&a, msgs, sizeof(msgs), NULL, sizeof(msgs) - 1);
        RLY_ASSERT(rly_noise_start(i, &a) == 0 &&
                   rly_noise_handshake_recv(r, a.data, a.len, &b) > 0);
        RLY_ASSERT(rly_noise_handshake_recv(i, b.data, b.len, &a) > 0);
        rly_noise_del(i);
        rly_noise_del(r);
        len = a.len;
        r = fx_session(false);
    }
    RLY_ASSERT(rly_noise_handshake_recv(r, msgs, len, &b) == (rly_ssize)len);
    RLY_ASSERT(rly_noise_get_state(r) == RLY_NOISE_TRANSPORT);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ct[RLY_NOISE_MAX_FRAME_LEN];
    rly_noise_del(responder()); /* makes the cached identities before counting */
    size_t live = rly_mem_default()->live_bytes, ptlen;
    rly_noise *n = responder();
    uint8_t *buf = rly_memdup(NULL, data, size), *in = buf + (size > 0), *pt;
    size_t chunk = size > 0 && data[0] ? data[0] : SIZE_MAX, left = size > 0 ? size - 1 : 0;
    while (buf && left > 0) {
        size_t len = left < chunk ? left : chunk, inlen = len;
        int rv;
        left -= len;
        while ((rv = rly_noise_decrypt_next(n, &in, &inlen, &pt, &ptlen)) == 1)
            RLY_ASSERT(rly_noise_encrypt(n, pt, ptlen, ct, sizeof(ct)) >= 0);
        RLY_ASSERT(rv == 0 ? inlen == 0 : rly_noise_get_state(n) == RLY_NOISE_FAILED);
        if (rv < 0)
            break;
    }
    rly_free(NULL, buf);
    rly_noise_del(n);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
