/* yamux_frame.h: the 12-byte Yamux frame header, encoded and decoded as pure functions
 * (PROTOCOLS.md 4; specs yamux/README.md "Framing").
 *
 *   version u8 (= 0) | type u8 | flags u16 | stream_id u32 | length u32, all big-endian.
 *
 * |length| is the payload size of a Data frame, the window delta of a Window Update, the opaque
 * value of a Ping and the error code of a Go Away. The codec checks only what the header alone
 * can tell (version and type); the session (yamux.c) checks flags and stream IDs. */
#ifndef RLY_PROTO_YAMUX_FRAME_H
#define RLY_PROTO_YAMUX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RLY_YAMUX_FRAME_LEN 12
#define RLY_YAMUX_VERSION 0

/* Frame types. */
typedef enum rly_yamux_type {
    RLY_YAMUX_TYPE_DATA = 0,
    RLY_YAMUX_TYPE_WINDOW_UPDATE = 1,
    RLY_YAMUX_TYPE_PING = 2,
    RLY_YAMUX_TYPE_GO_AWAY = 3,
} rly_yamux_type;

/* Flags (a bit set in the u16). */
#define RLY_YAMUX_FLAG_SYN 0x1u
#define RLY_YAMUX_FLAG_ACK 0x2u
#define RLY_YAMUX_FLAG_FIN 0x4u
#define RLY_YAMUX_FLAG_RST 0x8u

/* Go Away error codes (the |length| of a Go Away frame). */
#define RLY_YAMUX_GOAWAY_NORMAL 0u
#define RLY_YAMUX_GOAWAY_PROTOCOL 1u
#define RLY_YAMUX_GOAWAY_INTERNAL 2u

/* One decoded header (the version is always RLY_YAMUX_VERSION once decoded). */
typedef struct rly_yamux_frame {
    uint8_t type; /* rly_yamux_type */
    uint16_t flags;
    uint32_t stream_id;
    uint32_t length;
} rly_yamux_frame;

/* rly_yamux_frame_encode writes the 12 header bytes of |f| (version 0) to |out|, which must have
 * room for RLY_YAMUX_FRAME_LEN bytes. Nothing is checked: the caller builds valid frames. */
void rly_yamux_frame_encode(uint8_t *out, const rly_yamux_frame *f);

/* rly_yamux_frame_decode reads one header from the RLY_YAMUX_FRAME_LEN bytes at |in| (borrowed)
 * into |f|. Returns 0, or RLY_ERR_PROTO when the version is not 0 or the type is not one of the
 * four known types (fatal for the session: all implementations reject both). |f| is filled even
 * on error, so the caller can log it. */
RLY_NODISCARD int rly_yamux_frame_decode(rly_yamux_frame *f, const uint8_t *in);

#endif
