/* noise_payload.h: the libp2p Noise handshake payload (PROTOCOLS.md 3), a pure codec.
 *
 *   NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2;
 *                           NoiseExtensions extensions = 4; }
 *   NoiseExtensions { repeated bytes webtransport_certhashes = 1;
 *                     repeated string stream_muxers = 2; }
 *
 * Hand-written (proto2 wire format, no allocation): the payload is tiny, and decoding it in place
 * keeps the handshake free of heap work. Decoding follows protobuf rules: unknown fields are
 * skipped, a repeated scalar field keeps its last value, embedded messages merge. */
#ifndef RLY_PROTO_NOISE_NOISE_PAYLOAD_H
#define RLY_PROTO_NOISE_NOISE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The one muxer we offer and look for in early muxer negotiation. */
#define RLY_NOISE_MUXER_YAMUX "/yamux/1.0.0"
/* Most stream_muxers entries we accept from a peer (go's cap). */
#define RLY_NOISE_MAX_MUXERS 100

/* A decoded payload. The pointers borrow from the decoded buffer. */
typedef struct rly_noise_payload {
    const uint8_t *identity_key; /* serialized PublicKey */
    size_t identity_key_len;
    const uint8_t *identity_sig;
    size_t identity_sig_len;
    size_t nmuxers; /* stream_muxers entries */
    bool has_yamux; /* RLY_NOISE_MUXER_YAMUX is one of them */
} rly_noise_payload;

/* rly_noise_payload_decode parses |len| bytes at |buf| into |p| (borrowing from |buf|).
 * identity_key and identity_sig must be present and non-empty. Returns 0 or RLY_ERR_MALFORMED
 * (bad wire format, missing field, more than RLY_NOISE_MAX_MUXERS muxers). */
RLY_NODISCARD int rly_noise_payload_decode(rly_noise_payload *p, const uint8_t *buf, size_t len);

/* rly_noise_payload_len returns the encoded length of the payload rly_noise_payload_encode
 * writes for these sizes. */
size_t rly_noise_payload_len(size_t keylen, size_t siglen, bool with_yamux);

/* rly_noise_payload_encode writes a payload with |key| (a serialized PublicKey, |keylen| bytes),
 * |sig| (|siglen| bytes) and, if |with_yamux|, extensions { stream_muxers: "/yamux/1.0.0" } to
 * |out|. Returns the length or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_noise_payload_encode(const uint8_t *key, size_t keylen,
                                                 const uint8_t *sig, size_t siglen, bool with_yamux,
                                                 uint8_t *out, size_t cap);

#endif
