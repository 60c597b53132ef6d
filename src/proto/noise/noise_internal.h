/* noise_internal.h: internal to src/proto/noise. The layout of rly_noise_identity, shared by
 * noise_identity.c (which builds it) and noise.c (which reads it during handshakes). */
#ifndef RLY_PROTO_NOISE_NOISE_INTERNAL_H
#define RLY_PROTO_NOISE_NOISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "crypto/crypto.h"
#include "proto/noise/noise.h"

struct rly_noise_identity {
    rly_mem *mem;
    rly_x25519_keypair s; /* static key: secret, wiped in rly_noise_identity_del */
    size_t payload_len;   /* the whole payload, stream_muxers included */
    size_t no_muxers_len; /* its prefix without the extensions field (encoded last) */
    uint8_t payload[RLY_NOISE_PAYLOAD_MAX]; /* NoiseHandshakePayload for msg2 / msg3 */
};

#endif
