/* envelope.h: signed envelopes (RFC 0002) and the two records we sign or check: peer records
 * (identify) and reservation vouchers (circuit relay v2). PROTOCOLS.md 6 and 8.3.
 *
 *   Envelope { PublicKey public_key = 1; bytes payload_type = 2; bytes payload = 3;
 *              bytes signature = 5; }
 *   signed = uvarint(len(domain)) domain uvarint(len(type)) type uvarint(len(payload)) payload
 *
 * payload_type is the raw two bytes implementations send (03 01 / 03 02), not the uvarint. */
#ifndef RLY_CRYPTO_ENVELOPE_H
#define RLY_CRYPTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/peerid.h"
#include "crypto/keys.h"

#define RLY_ENVELOPE_MAX 8192 /* largest envelope we open or seal */
#define RLY_ENVELOPE_PAYLOAD_TYPE_MAX 16

#define RLY_DOMAIN_PEER_RECORD "libp2p-peer-record"
#define RLY_DOMAIN_RELAY_RSVP "libp2p-relay-rsvp"
extern const uint8_t rly_payload_type_peer_record[2]; /* 03 01 */
extern const uint8_t rly_payload_type_voucher[2];     /* 03 02 */

/* A verified envelope. Owns its payload copy: free with rly_envelope_free. */
typedef struct rly_envelope {
    rly_pubkey key;
    rly_peerid signer; /* peer ID of |key| */
    uint8_t payload_type[RLY_ENVELOPE_PAYLOAD_TYPE_MAX];
    size_t payload_type_len;
    uint8_t *payload;
    size_t payload_len;
    rly_mem *mem;
} rly_envelope;

/* rly_envelope_seal signs |payload| under |domain| with |kp| and appends the serialized envelope
 * to |out| (unchanged on error). Returns 0, RLY_ERR_NOBUF, RLY_ERR_NOMEM, RLY_ERR_CRYPTO or
 * RLY_ERR_INVALID_ARG (empty or too long domain / payload type, payload too large). */
RLY_NODISCARD int rly_envelope_seal(const rly_keypair *kp, const char *domain, const uint8_t *ptype,
                                    size_t ptlen, const uint8_t *payload, size_t plen,
                                    rly_dynbuf *out);

/* rly_envelope_open parses the envelope |p| (|len| bytes, at most RLY_ENVELOPE_MAX), checks its
 * signature under |domain| and fills |env| (allocating from |mem|, NULL: default).
 * Returns 0, RLY_ERR_MALFORMED, RLY_ERR_SIGNATURE, RLY_ERR_UNSUPPORTED, RLY_ERR_NOBUF (too
 * large) or RLY_ERR_NOMEM. On error |env| holds nothing to free. */
RLY_NODISCARD int rly_envelope_open(rly_envelope *env, const uint8_t *p, size_t len,
                                    const char *domain, rly_mem *mem);

/* rly_envelope_free releases what |env| owns. NULL-safe. */
void rly_envelope_free(rly_envelope *env);

/* Reservation voucher: Voucher { bytes relay = 1; bytes peer = 2; uint64 expiration = 3; } */
typedef struct rly_voucher {
    rly_peerid relay;
    rly_peerid peer;
    uint64_t expiration; /* UNIX seconds */
} rly_voucher;

/* rly_voucher_seal encodes |v| canonically and appends the signed envelope to |out|. The signer
 * |kp| must be the relay in |v|. Returns as rly_envelope_seal, or RLY_ERR_INVALID_ARG. */
RLY_NODISCARD int rly_voucher_seal(const rly_keypair *kp, const rly_voucher *v, rly_dynbuf *out);

/* rly_voucher_open opens a voucher envelope, decodes the voucher and checks that the signer is
 * the voucher's relay. Returns 0, RLY_ERR_MALFORMED, RLY_ERR_SIGNATURE, RLY_ERR_UNEXPECTED_MSG
 * (wrong payload type), RLY_ERR_PEER_ID_MISMATCH or errors of rly_envelope_open. */
RLY_NODISCARD int rly_voucher_open(rly_voucher *v, const uint8_t *p, size_t len, rly_mem *mem);

#define RLY_PEER_RECORD_MAX_ADDRS 32

/* PeerRecord { bytes peer_id = 1; uint64 seq = 2; repeated AddressInfo addresses = 3; }
 * AddressInfo { bytes multiaddr = 1; } */
typedef struct rly_peer_record {
    rly_peerid peer;
    uint64_t seq;
    size_t naddrs;
    rly_multiaddr addrs[RLY_PEER_RECORD_MAX_ADDRS];
} rly_peer_record;

/* rly_peer_record_seal encodes |r| and appends the signed envelope to |out|. The record's peer
 * must be |kp|'s. Returns as rly_voucher_seal. */
RLY_NODISCARD int rly_peer_record_seal(const rly_keypair *kp, const rly_peer_record *r,
                                       rly_dynbuf *out);

/* rly_peer_record_open opens a peer record envelope and checks that peer_id matches the signer.
 * Addresses that do not parse are skipped; more than RLY_PEER_RECORD_MAX_ADDRS are dropped.
 * Returns as rly_voucher_open. */
RLY_NODISCARD int rly_peer_record_open(rly_peer_record *r, const uint8_t *p, size_t len,
                                       rly_mem *mem);

#endif
