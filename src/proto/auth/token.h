/* token.h: signed peer tokens (issue 15, docs/AUTH.md "Signed tokens"), sans I/O.
 *
 * A control plane holds an Ed25519 key pair; relays hold only its public key(s). A token says,
 * signed by that key, which PeerId it is for, until when, optionally at which relays and with
 * which limits class, and carries an id (for logs and revocation). It is a libp2p signed
 * envelope (RFC 0002), so any libp2p stack can check it:
 *
 *   domain       "mesh-relay-token"
 *   payload type "/meshnet/token/1" (16 bytes, as they are)
 *   payload      message MeshRelayToken {
 *                  bytes  peer    = 1; // the PeerId (multihash bytes) it is for: required
 *                  uint64 expiry  = 2; // unix seconds, 1..2^63-1: required
 *                  repeated bytes relay = 3; // relays' PeerIds it is good at; none: any relay
 *                  string class   = 4; // a limits class; [a-z0-9_-], 1..32 characters
 *                  bytes  id      = 5; // the token id, 1..32 bytes: required
 *                  uint64 issued  = 6; // unix seconds (informational)
 *                }
 *
 * In text (configuration, command lines, the auth protocol) a token is "v2." followed by the
 * unpadded base64url of the envelope's bytes. Decoding is strict: every field at most once
 * (relay up to RLY_TOKEN_MAX_RELAYS times), no field of another number or wire type (a token
 * that says more than this relay understands is refused, not half-obeyed). */
#ifndef RLY_PROTO_AUTH_TOKEN_H
#define RLY_PROTO_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "crypto/keys.h"

#define RLY_TOKEN_DOMAIN "mesh-relay-token"
#define RLY_TOKEN_PAYLOAD_TYPE "/meshnet/token/1"
#define RLY_TOKEN_PREFIX "v2."
#define RLY_TOKEN_MAX_RELAYS 8
#define RLY_TOKEN_CLASS_MAX 32
#define RLY_TOKEN_ID_MAX 32
/* Longest token text (the auth protocol's token limit). */
#define RLY_TOKEN_TEXT_MAX 1024
/* An id in hex (what logs and revocation lists say), NUL included. */
#define RLY_TOKEN_ID_HEX_MAX (2 * RLY_TOKEN_ID_MAX + 1)

typedef struct rly_token {
    rly_peerid peer;
    uint64_t expiry;
    uint64_t issued; /* 0: not stated */
    rly_peerid relays[RLY_TOKEN_MAX_RELAYS];
    size_t nrelays;                    /* 0: any relay */
    char cls[RLY_TOKEN_CLASS_MAX + 1]; /* "": none */
    uint8_t id[RLY_TOKEN_ID_MAX];
    size_t id_len;
    rly_peerid signer; /* set by rly_token_open: the PeerId of the key that signed it */
} rly_token;

/* Why a token is refused (rly_token_check). */
typedef enum rly_token_verdict {
    RLY_TOKEN_OK = 0,
    RLY_TOKEN_UNKNOWN_SIGNER, /* not signed by a configured control-plane key */
    RLY_TOKEN_EXPIRED,        /* expiry is now or past */
    RLY_TOKEN_OTHER_PEER,     /* for another PeerId than the connection's */
    RLY_TOKEN_OTHER_RELAY,    /* names relays, not this one */
} rly_token_verdict;

/* rly_token_verdict_text: a short lower-case phrase ("expired token", ...). */
const char *rly_token_verdict_text(rly_token_verdict v);

/* rly_token_class_valid tells whether the |n| bytes at |s| are a class name: 1 to
 * RLY_TOKEN_CLASS_MAX characters of a-z, 0-9, '_' and '-'. */
bool rly_token_class_valid(const char *s, size_t n);

/* rly_token_mint signs |t| (its signer ignored) with the control plane's |kp| and writes the
 * token text, NUL-ended, into |out| (|cap| bytes). Returns its length, RLY_ERR_INVALID_ARG (a
 * field out of its bounds: see above), RLY_ERR_NOBUF (longer than |cap| or
 * RLY_TOKEN_TEXT_MAX), RLY_ERR_NOMEM or RLY_ERR_CRYPTO. */
RLY_NODISCARD rly_ssize rly_token_mint(const rly_keypair *kp, const rly_token *t, char *out,
                                       size_t cap, rly_mem *mem);

/* rly_token_is_signed tells whether |text| (|len| bytes) has this form's prefix, "v2.". */
bool rly_token_is_signed(const uint8_t *text, size_t len);

/* rly_token_open decodes the token |text| (|len| bytes), checks the envelope's signature under
 * RLY_TOKEN_DOMAIN and its payload type, decodes the payload strictly into |t| and sets
 * |t->signer|. It does not decide whether the signer is trusted, nor anything about time, peer
 * or relay (rly_token_check). Returns 0, RLY_ERR_MALFORMED (not a token of this form, or a bad
 * payload), RLY_ERR_SIGNATURE, RLY_ERR_UNSUPPORTED (a key type we cannot check) or
 * RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_token_open(rly_token *t, const uint8_t *text, size_t len, rly_mem *mem);

/* rly_token_check decides on an opened token presented by |peer| at the relay |relay| at unix
 * time |now|, trusting the control-plane keys whose PeerIds are |keys| (|nkeys|). */
rly_token_verdict rly_token_check(const rly_token *t, const rly_peerid *keys, size_t nkeys,
                                  const rly_peerid *peer, const rly_peerid *relay, uint64_t now);

/* rly_token_id_hex writes |t|'s id in lower-case hex into |out| (RLY_TOKEN_ID_HEX_MAX bytes). */
void rly_token_id_hex(const rly_token *t, char out[RLY_TOKEN_ID_HEX_MAX]);

#endif
