/* identify.h: the Identify message codec and a reader for length-prefixed messages on a stream
 * (PROTOCOLS.md 6; specs identify/README.md).
 *
 *   Identify { bytes publicKey = 1; repeated bytes listenAddrs = 2; repeated string protocols = 3;
 *              bytes observedAddr = 4; string protocolVersion = 5; string agentVersion = 6;
 *              bytes signedPeerRecord = 8; }
 *
 * On the wire each message is uvarint(len) || protobuf. We send one message of at most
 * RLY_IDENTIFY_MAX_MSG bytes (rust reads no more than 4 KiB), and read messages of up to
 * RLY_IDENTIFY_MAX_RECV (go and js accept 8 KiB). go may split its answer in two, the second
 * holding only signedPeerRecord, so decoding merges into what an rly_identify already holds:
 * repeated fields append (up to their caps), other fields present in the message replace.
 *
 * Decoding is tolerant the way the implementations are: unknown fields are skipped, listen
 * addresses we cannot parse are skipped (rly_multiaddr_from_bytes), and entries past a cap are
 * dropped. Only a broken protobuf structure is an error.
 *
 * The fields of an rly_identify are read-only pointers so that a caller can build one for
 * rly_identify_encode from its own strings and arrays (borrowed). A struct filled by
 * rly_identify_decode owns everything it points to; release it with rly_identify_free. */
#ifndef RLY_PROTO_IDENTIFY_H
#define RLY_PROTO_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/pb.h"

#define RLY_IDENTIFY_PROTOCOL "/ipfs/id/1.0.0"
#define RLY_IDENTIFY_PUSH_PROTOCOL "/ipfs/id/push/1.0.0"

/* Largest message we send, uvarint prefix included. */
#define RLY_IDENTIFY_MAX_MSG 4096
/* Largest message body we read. */
#define RLY_IDENTIFY_MAX_RECV 8192
/* Messages one identify stream may carry (go reads up to 10 and merges them). */
#define RLY_IDENTIFY_MAX_MESSAGES 10
#define RLY_IDENTIFY_MAX_ADDRS 32
#define RLY_IDENTIFY_MAX_PROTOCOLS 64
/* Longest protocol ID kept; longer ones are dropped on decode, refused on encode. */
#define RLY_IDENTIFY_MAX_PROTOCOL_LEN 256
/* Longest protocolVersion / agentVersion kept (longer: treated as absent). */
#define RLY_IDENTIFY_MAX_VERSION_LEN 256
/* Longest publicKey kept: a serialized PublicKey of an 8192-bit RSA key fits. */
#define RLY_IDENTIFY_MAX_PUBKEY 1216

typedef struct rly_identify {
    const uint8_t *public_key; /* serialized PublicKey protobuf; NULL/0: absent */
    size_t public_key_len;
    rly_multiaddr *listen_addrs; /* binary multiaddrs */
    size_t nlisten_addrs;
    const char **protocols; /* NUL-terminated protocol IDs */
    size_t nprotocols;
    rly_multiaddr observed_addr; /* valid when |has_observed_addr| */
    bool has_observed_addr;
    const char *protocol_version;      /* NULL: absent */
    const char *agent_version;         /* NULL: absent */
    const uint8_t *signed_peer_record; /* serialized signed envelope; NULL/0: absent */
    size_t signed_peer_record_len;
    /* Set by rly_identify_init: the allocator behind everything decode stores. */
    rly_mem *mem;
} rly_identify;

/* rly_identify_init empties |id| for decoding, allocating from |mem| (NULL: default). */
void rly_identify_init(rly_identify *id, rly_mem *mem);

/* rly_identify_free releases what rly_identify_decode stored in |id| and empties it (its
 * allocator stays). Only for structs set up with rly_identify_init; NULL-safe. */
void rly_identify_free(rly_identify *id);

/* rly_identify_decode parses one protobuf body |pb| (|len| bytes, borrowed, without the uvarint
 * prefix) and merges it into |id| (set up with rly_identify_init). The structure is checked
 * before anything is stored, so on RLY_ERR_MALFORMED or RLY_ERR_FRAME_TOO_LARGE |id| is
 * unchanged; on RLY_ERR_NOMEM it may hold part of the message (still safe to free).
 * Returns 0, RLY_ERR_FRAME_TOO_LARGE (|len| > RLY_IDENTIFY_MAX_RECV), RLY_ERR_MALFORMED
 * (truncated field, bad varint, field number 0, group or reserved wire type) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_identify_decode(rly_identify *id, const uint8_t *pb, size_t len);

/* rly_identify_encode appends uvarint(len) || protobuf of |id| (borrowed) to |out|, fields in
 * number order and absent ones omitted. If the result would exceed RLY_IDENTIFY_MAX_MSG, it is
 * encoded again without signedPeerRecord, which is optional, and |*pdropped_spr| (may be NULL)
 * is set. |out| is unchanged on error.
 * Returns 0, RLY_ERR_NOBUF (too large even without the record, or |out| is full),
 * RLY_ERR_INVALID_ARG (a count over its cap, a NULL or overlong protocol or version, a length
 * without a pointer) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_identify_encode(const rly_identify *id, rly_dynbuf *out, bool *pdropped_spr);

/* Reads the length-prefixed messages of an identify or identify push stream, chunk by chunk.
 * The members are private to identify.c. */
typedef struct rly_identify_reader {
    rly_dynbuf buf;   /* a message split across reads: prefix + body, capped */
    size_t nmessages; /* complete messages returned so far */
    bool holds_msg;   /* |buf| holds the message returned by the last call */
} rly_identify_reader;

/* rly_identify_reader_init prepares |r|, allocating from |mem| (NULL: default) only when a
 * message is split across reads. */
void rly_identify_reader_init(rly_identify_reader *r, rly_mem *mem);

/* rly_identify_reader_free releases |r|'s buffer. NULL-safe. */
void rly_identify_reader_free(rly_identify_reader *r);

/* rly_identify_reader_recv consumes bytes of |in| (|len|, borrowed) up to the end of the next
 * complete message. When one is complete, |*pmsg| / |*pmsglen| give its body (pointing into
 * |in| or into |r|; valid until the next call on |r| and while |in| is); otherwise |*pmsg| is
 * NULL and all of |in| was kept. Call it again with the rest of |in|.
 * Returns the bytes consumed, or RLY_ERR_FRAME_TOO_LARGE (a body over RLY_IDENTIFY_MAX_RECV),
 * RLY_ERR_NON_MINIMAL / RLY_ERR_MALFORMED (bad uvarint prefix), RLY_ERR_FLOODED (more than
 * RLY_IDENTIFY_MAX_MESSAGES messages) or RLY_ERR_NOMEM. */
RLY_NODISCARD rly_ssize rly_identify_reader_recv(rly_identify_reader *r, const uint8_t *in,
                                                 size_t len, const uint8_t **pmsg, size_t *pmsglen);

/* rly_identify_reader_finish checks the stream's end (EOF): Returns 0, or RLY_ERR_TRUNCATED if a
 * message was cut off. */
RLY_NODISCARD int rly_identify_reader_finish(const rly_identify_reader *r);

/* Reads the one message of an identify push and keeps none of it: the relay has no peer store.
 * The length prefix is checked as rly_identify_reader checks it and the body's protobuf structure
 * as rly_identify_decode does (unknown fields and values are not looked at), while the bytes
 * stream by: a few dozen bytes per stream whatever the message size or how it is cut. The
 * members are private to identify.c. */
typedef struct rly_identify_push_reader {
    uint8_t prefix[2]; /* the length prefix so far (a body of at most 8 KiB needs 2 bytes) */
    uint8_t nprefix;
    bool has_body; /* the prefix is complete: |body| scans the message */
    rly_pb_scan body;
} rly_identify_push_reader;

/* rly_identify_push_reader_init prepares |r|. */
void rly_identify_push_reader_init(rly_identify_push_reader *r);

/* rly_identify_push_reader_recv consumes bytes of |in| (|len|, borrowed) up to the end of the
 * message; |*pdone| is set once the whole message is in (bytes after it are not consumed).
 * Returns the bytes consumed, or RLY_ERR_FRAME_TOO_LARGE (a body over RLY_IDENTIFY_MAX_RECV),
 * RLY_ERR_NON_MINIMAL / RLY_ERR_MALFORMED (a bad prefix) or RLY_ERR_MALFORMED (a broken
 * protobuf body). */
RLY_NODISCARD rly_ssize rly_identify_push_reader_recv(rly_identify_push_reader *r,
                                                      const uint8_t *in, size_t len, bool *pdone);

#endif
