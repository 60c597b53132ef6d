/* fuzz_noise_payload.c: the Noise handshake payload codec (src/proto/noise/noise_payload.h),
 * which the handshake fuzzers cannot reach (it sits behind an AEAD tag). Invariant: a decoded
 * payload re-encodes (key, signature, yamux) to bytes that decode to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "proto/noise/noise_payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[1 << 17];
    rly_noise_payload p, q;
    if (size > sizeof(out) - 64 || rly_noise_payload_decode(&p, data, size) != 0)
        return 0;
    RLY_ASSERT(p.nmuxers <= RLY_NOISE_MAX_MUXERS && (!p.has_yamux || p.nmuxers > 0));
    rly_ssize n = rly_noise_payload_encode(p.identity_key, p.identity_key_len, p.identity_sig,
                                           p.identity_sig_len, p.has_yamux, out, sizeof(out));
    RLY_ASSERT(n > 0 && (size_t)n == rly_noise_payload_len(p.identity_key_len, p.identity_sig_len,
                                                           p.has_yamux));
    RLY_ASSERT(rly_noise_payload_decode(&q, out, (size_t)n) == 0);
    RLY_ASSERT(q.identity_key_len == p.identity_key_len &&
               q.identity_sig_len == p.identity_sig_len);
    RLY_ASSERT(memcmp(q.identity_key, p.identity_key, p.identity_key_len) == 0);
    RLY_ASSERT(memcmp(q.identity_sig, p.identity_sig, p.identity_sig_len) == 0);
    RLY_ASSERT(q.has_yamux == p.has_yamux && q.nmuxers == (p.has_yamux ? 1u : 0u));
    return 0;
}
