/* auth.h: the relay's token authentication (docs/AUTH.md), sans I/O.
 *
 * Protocol /meshnet/relay-auth/1.0.0: on a new stream the client writes one uvarint
 * length-prefixed protobuf AuthRequest, the relay answers one length-prefixed AuthResponse and
 * closes the stream. The connection counts as authenticated from a response with status OK on.
 *
 *   message AuthRequest  { optional bytes  token  = 1; }
 *   message AuthResponse { optional uint32 status = 1;   // Circuit Relay v2 Status numbers
 *                          optional string text   = 2; } // (rly_circuit_status): OK 100,
 *                                                        // PERMISSION_DENIED 202,
 *                                                        // RESOURCE_LIMIT_EXCEEDED 201 (too many
 *                                                        // failures), MALFORMED_MESSAGE 400;
 *                                                        // text: why, for the client's logs
 *
 * Two token forms, both compared in constant time:
 *   - the shared secret (the relay's auth_token) itself;
 *   - a token minted for one peer:  v1.<expiry>.<mac>  where <expiry> is a unix time in decimal
 *     (no sign, no leading zeros, at most 19 digits) and <mac> is base64url without padding of
 *     HMAC-SHA256(key = secret, msg = "mesh-relay-auth-v1" || peer-id bytes || <expiry> as the
 *     same decimal text). It is valid only on a connection authenticated as that PeerId, and
 *     until <expiry> (a token whose expiry is now or past is refused). */
#ifndef RLY_PROTO_AUTH_AUTH_H
#define RLY_PROTO_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/peerid.h"

#define RLY_AUTH_PROTOCOL "/meshnet/relay-auth/1.0.0"
/* Longest token accepted on the wire (the config's auth_token is at most 1023 bytes). */
#define RLY_AUTH_TOKEN_MAX 1024
/* Longest AuthResponse text we send or keep. */
#define RLY_AUTH_TEXT_MAX 128
/* Shortest shared secret the relay accepts when auth is on. */
#define RLY_AUTH_SECRET_MIN 32
/* The label in front of a minted token's MAC input. */
#define RLY_AUTH_MINT_LABEL "mesh-relay-auth-v1"
/* Longest minted token: "v1." + 19 digits + "." + 43 base64url characters. */
#define RLY_AUTH_MINTED_MAX 66

typedef struct rly_auth_request {
    const uint8_t *token; /* borrowed from the decoded input; NULL when absent */
    size_t token_len;
} rly_auth_request;

typedef struct rly_auth_response {
    uint32_t status; /* 0 when absent */
    char text[RLY_AUTH_TEXT_MAX];
} rly_auth_response;

/* Why a token was refused (for the log line; never sent in more detail than the text). */
typedef enum rly_auth_reason {
    RLY_AUTH_OK = 0,
    RLY_AUTH_NO_TOKEN,    /* empty or absent */
    RLY_AUTH_WRONG_TOKEN, /* neither the secret nor a well-formed minted token */
    RLY_AUTH_MALFORMED,   /* starts with "v1." but is not v1.<expiry>.<mac> */
    RLY_AUTH_EXPIRED,     /* a minted token whose expiry is not after now */
    RLY_AUTH_OTHER_PEER,  /* a minted token whose MAC does not match this peer (or secret) */
} rly_auth_reason;

/* rly_auth_reason_text: a short lower-case phrase for |r| ("wrong token", "expired token"...). */
const char *rly_auth_reason_text(rly_auth_reason r);

/* rly_auth_request_encode appends the length-prefixed AuthRequest carrying |token| (|len| bytes,
 * at most RLY_AUTH_TOKEN_MAX) to |out|. Returns 0, RLY_ERR_INVALID_ARG (too long) or the dynbuf's
 * RLY_ERR_NOMEM / RLY_ERR_NOBUF. */
RLY_NODISCARD int rly_auth_request_encode(const uint8_t *token, size_t len, rly_dynbuf *out);

/* rly_auth_request_decode parses an AuthRequest body (no length prefix) of |len| bytes; the
 * token points into |body|. Unknown fields are skipped. Returns 0, RLY_ERR_MALFORMED (protobuf
 * error, token field not length-delimited) or RLY_ERR_FRAME_TOO_LARGE (token over
 * RLY_AUTH_TOKEN_MAX). */
RLY_NODISCARD int rly_auth_request_decode(const uint8_t *body, size_t len, rly_auth_request *req);

/* rly_auth_response_encode appends the length-prefixed AuthResponse (|status|, |text| NUL-ended,
 * cut to RLY_AUTH_TEXT_MAX - 1 bytes; NULL: none) to |out|. Returns 0 or a dynbuf error. */
RLY_NODISCARD int rly_auth_response_encode(uint32_t status, const char *text, rly_dynbuf *out);

/* rly_auth_response_decode parses an AuthResponse body; the text is copied (cut to fit, NUL-ended,
 * bytes outside printable ASCII replaced by '?'). Returns 0 or RLY_ERR_MALFORMED. */
RLY_NODISCARD int rly_auth_response_decode(const uint8_t *body, size_t len,
                                           rly_auth_response *resp);

/* rly_auth_check decides on |token| (|len| bytes) presented on a connection authenticated as
 * |peer|, against the shared |secret| (|secret_len| bytes, non-empty) at unix time |now|: the
 * secret itself, or a minted token for |peer| that has not expired. Every comparison of secret
 * material takes time independent of where the inputs differ. Returns RLY_AUTH_OK or why not. */
rly_auth_reason rly_auth_check(const uint8_t *secret, size_t secret_len, const uint8_t *token,
                               size_t len, const rly_peerid *peer, uint64_t now);

/* rly_auth_minted_expiry reads the expiry of |token| (|len| bytes) when it has the form of a
 * minted token (v1.<expiry>.<mac>; the MAC is not checked: call it on a token rly_auth_check
 * accepted, to learn until when). Returns 0 and sets |*pexpiry|, or RLY_ERR_MALFORMED. */
RLY_NODISCARD int rly_auth_minted_expiry(const uint8_t *token, size_t len, uint64_t *pexpiry);

/* rly_auth_mint writes the minted token for |peer| valid until unix time |expiry| (NUL-ended)
 * into |out| (|cap| >= RLY_AUTH_MINTED_MAX + 1). Returns its length, or RLY_ERR_NOBUF /
 * RLY_ERR_INVALID_ARG (|expiry| above INT64_MAX, empty secret). */
RLY_NODISCARD rly_ssize rly_auth_mint(const uint8_t *secret, size_t secret_len,
                                      const rly_peerid *peer, uint64_t expiry, char *out,
                                      size_t cap);

#endif
