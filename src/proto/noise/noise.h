/* noise.h: the libp2p Noise secure channel, Noise_XX_25519_ChaChaPoly_SHA256 with an empty
 * prologue and the libp2p handshake payload (PROTOCOLS.md 3; Noise rev34; specs noise/README.md).
 * Sans-IO (STYLE.md section C): bytes in, bytes out, no socket, no clock. The handshake timeout
 * is the shell's: this module has no timers.
 *
 *   msg1  I -> R : e
 *   msg2  R -> I : e, ee, s, es + payload      (payload lists the muxer "/yamux/1.0.0")
 *   msg3  I -> R : s, se + payload             (likewise)
 *
 * Every message on the wire, handshake or transport, is a 2-byte big-endian length followed by
 * at most 65535 bytes.
 *
 * Typical use (responder):
 *
 *   rly_noise_new(&n, false, id, NULL, NULL, mem);
 *   on read:  if (state == HANDSHAKE) used = rly_noise_handshake_recv(n, in, len, &out);
 *             -> send |out|; once TRANSPORT, hand in + used, len - used to the transport path.
 *   transport: while ((rv = rly_noise_decrypt_next(n, &p, &len, &pt, &ptlen)) > 0) use pt;
 *              rly_noise_encrypt(n, data, dlen, dest, cap) -> send dest.
 *
 * Keys: the static X25519 key, the identity signature over it and the encoded payload live in
 * an rly_noise_identity made once per process, so a handshake costs its four DH operations and
 * one signature verification. Ephemeral keys, the chaining key, the handshake hash and cipher
 * keys are wiped with rly_zeroize when they are no longer needed, on failure, and in
 * rly_noise_del. */
#ifndef RLY_PROTO_NOISE_NOISE_H
#define RLY_PROTO_NOISE_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"

#define RLY_NOISE_PROTOCOL_ID "/noise"
/* Bytes of the length prefix in front of every message. */
#define RLY_NOISE_FRAME_HDR_LEN 2
/* Largest Noise message (the length prefix is 16 bits). */
#define RLY_NOISE_MAX_MSG_LEN 65535
/* Largest frame on the wire, prefix included. */
#define RLY_NOISE_MAX_FRAME_LEN (RLY_NOISE_FRAME_HDR_LEN + RLY_NOISE_MAX_MSG_LEN)
/* Largest plaintext per transport message: 65535 - the 16-byte tag (go and js split here). */
#define RLY_NOISE_MAX_PLAINTEXT (RLY_NOISE_MAX_MSG_LEN - RLY_AEAD_TAG_LEN)
/* Largest handshake payload we send (an RSA-8192 identity needs about 2.2 KB). */
#define RLY_NOISE_PAYLOAD_MAX 4096
/* Most bytes one handshake step appends to the caller's output buffer (msg2 with the largest
 * payload: prefix, e, encrypted s, encrypted payload). */
#define RLY_NOISE_HANDSHAKE_OUT_MAX                                                                \
    (RLY_NOISE_FRAME_HDR_LEN + RLY_X25519_LEN + RLY_X25519_LEN + RLY_AEAD_TAG_LEN +                \
     RLY_NOISE_PAYLOAD_MAX + RLY_AEAD_TAG_LEN)
/* What identity_sig signs: this prefix, then the 32-byte static X25519 public key. */
#define RLY_NOISE_SIG_PREFIX "noise-libp2p-static-key:"
#define RLY_NOISE_SIG_PREFIX_LEN 24

/* The local side of every handshake: static X25519 key, identity public key, the signature over
 * the static key and the encoded payload. Immutable once made; shared by all sessions. */
typedef struct rly_noise_identity rly_noise_identity;

/* One Noise session (one connection). */
typedef struct rly_noise rly_noise;

typedef enum rly_noise_state {
    RLY_NOISE_HANDSHAKE = 0, /* exchanging handshake messages */
    RLY_NOISE_TRANSPORT = 1, /* handshake done: encrypt / decrypt */
    RLY_NOISE_FAILED = 2,    /* an error happened; keys are wiped; only rly_noise_del is left */
} rly_noise_state;

/* Fills |out| with |len| random bytes; returns 0 or a negative rly_err. */
typedef int (*rly_noise_rng_fn)(void *user_data, uint8_t *out, size_t len);

typedef struct rly_noise_settings {
    /* Send no stream_muxers list (the payload stops after identity_sig), so early muxer
     * negotiation never happens and the muxer is always negotiated with multistream-select. */
    bool is_early_muxer_disabled;
    /* Source of the ephemeral private key. NULL: the OS CSPRNG. Only known-answer tests and
     * fuzzers set this: a predictable ephemeral key breaks the handshake's secrecy. */
    rly_noise_rng_fn rng;
    void *rng_user_data;
} rly_noise_settings;

/* rly_noise_identity_new builds the identity of |kp| (borrowed; only read during the call) with
 * the static X25519 private key |static_priv| (32 bytes; NULL: a fresh random key). Signs the
 * static key once. Returns 0, RLY_ERR_NOMEM or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_noise_identity_new(rly_noise_identity **pid, const rly_keypair *kp,
                                         const uint8_t *static_priv, rly_mem *mem);

/* rly_noise_identity_new_signed builds an identity from parts made elsewhere (another key type,
 * an external signer): |pubkey_pb| is the serialized PublicKey (|pblen| bytes) and |sig| (|siglen|
 * bytes) its signature over RLY_NOISE_SIG_PREFIX || the public key of |static_priv|
 * (rly_x25519_from_private). The signature is not checked here: a wrong one makes every peer
 * drop the handshake. All inputs are borrowed for the call. Returns 0, RLY_ERR_MALFORMED or
 * RLY_ERR_UNSUPPORTED (|pubkey_pb| does not decode), RLY_ERR_NOBUF (payload over
 * RLY_NOISE_PAYLOAD_MAX), RLY_ERR_NOMEM or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_noise_identity_new_signed(rly_noise_identity **pid, const uint8_t *pubkey_pb,
                                                size_t pblen, const uint8_t *sig, size_t siglen,
                                                const uint8_t static_priv[RLY_X25519_LEN],
                                                rly_mem *mem);

/* rly_noise_identity_del wipes and frees |id|. NULL-safe. No session may still use it. */
void rly_noise_identity_del(rly_noise_identity *id);

/* rly_noise_identity_static_public returns the 32-byte static X25519 public key (borrowed). */
const uint8_t *rly_noise_identity_static_public(const rly_noise_identity *id);

/* rly_noise_new creates a session. |id| is borrowed and must outlive the session. The
 * initiator may pass |expected_peer| (copied), the peer it dialled: a remote identity with
 * another peer ID fails the handshake. |settings| may be NULL (defaults). |mem| NULL: default.
 * Returns 0, RLY_ERR_INVALID_ARG (|expected_peer| given to a responder) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_noise_new(rly_noise **pn, bool is_initiator, const rly_noise_identity *id,
                                const rly_peerid *expected_peer, const rly_noise_settings *settings,
                                rly_mem *mem);

/* rly_noise_del wipes every key and buffer and frees |n|. NULL-safe. */
void rly_noise_del(rly_noise *n);

/* rly_noise_start begins the handshake. The initiator appends msg1 (-> e) to |out|; the
 * responder appends nothing. Call once, right after rly_noise_new. Returns 0,
 * RLY_ERR_INVALID_STATE (called twice), RLY_ERR_NOBUF / RLY_ERR_NOMEM (|out| full) or
 * RLY_ERR_CRYPTO; every error but INVALID_STATE fails the session. */
RLY_NODISCARD int rly_noise_start(rly_noise *n, rly_dynbuf *out);

/* rly_noise_handshake_recv consumes handshake bytes |in| (|inlen|, borrowed, any chunking;
 * partial messages are buffered, at most RLY_NOISE_MAX_FRAME_LEN bytes, in storage that grows
 * with the bytes received, not with the announced length) and appends the reply
 * message, if one is due, to |out| (it must have room for RLY_NOISE_HANDSHAKE_OUT_MAX bytes).
 * It stops right after the last handshake message: it returns the bytes it used, and bytes
 * past that (transport frames sent together with msg3) are the caller's to pass to the
 * transport functions. Returns the count used, or
 *   RLY_ERR_HANDSHAKE      malformed message or payload, failed AEAD tag, bad DH share;
 *   RLY_ERR_SIGNATURE      identity_sig does not verify;
 *   RLY_ERR_UNSUPPORTED    the remote identity key type or size is not supported;
 *   RLY_ERR_PEER_ID_MISMATCH the initiator's |expected_peer| is not the remote peer;
 *   RLY_ERR_NOBUF / RLY_ERR_NOMEM / RLY_ERR_CRYPTO   local failures;
 *   RLY_ERR_INVALID_STATE  not in the handshake (or the initiator did not start).
 * Every error but INVALID_STATE fails the session (RLY_NOISE_FAILED). */
RLY_NODISCARD rly_ssize rly_noise_handshake_recv(rly_noise *n, const uint8_t *in, size_t inlen,
                                                 rly_dynbuf *out);

/* rly_noise_get_state returns the session state. */
rly_noise_state rly_noise_get_state(const rly_noise *n);

/* rly_noise_messages_read returns how many handshake messages from the peer have been read whole:
 * a responder 0, 1 (msg1) or 2 (msg3), an initiator 0 or 1 (msg2). How far a handshake has come,
 * for a transport that must tell a stalled one from an honest one (transport/pending.h). */
unsigned rly_noise_messages_read(const rly_noise *n);

/* rly_noise_remote_peerid returns the authenticated remote peer ID (borrowed), or NULL before
 * the handshake has verified it. */
const rly_peerid *rly_noise_remote_peerid(const rly_noise *n);

/* rly_noise_remote_pubkey returns the remote identity key (borrowed), or NULL before the
 * handshake has verified it. */
const rly_pubkey *rly_noise_remote_pubkey(const rly_noise *n);

/* rly_noise_early_muxer returns true once the handshake is done if both sides listed
 * "/yamux/1.0.0" in their stream_muxers (we do unless is_early_muxer_disabled): yamux then starts
 * right away, without a multistream muxer negotiation (PROTOCOLS.md 3, early muxer negotiation). */
bool rly_noise_early_muxer(const rly_noise *n);

/* rly_noise_encrypted_len returns the bytes rly_noise_encrypt writes for |len| plaintext bytes:
 * one frame (prefix + ciphertext + tag) per RLY_NOISE_MAX_PLAINTEXT bytes; 0 for 0. */
size_t rly_noise_encrypted_len(size_t len);

/* rly_noise_encrypt encrypts |len| bytes of |p| into frames of at most RLY_NOISE_MAX_PLAINTEXT
 * plaintext bytes written to |dest| (|cap| bytes). |p| and |dest| must not overlap, except
 * |p| == |dest| + RLY_NOISE_FRAME_HDR_LEN with |len| <= RLY_NOISE_MAX_PLAINTEXT (one frame,
 * encrypted in place). Returns the bytes written (rly_noise_encrypted_len), or
 * RLY_ERR_NOBUF (|cap| too small; nothing written), RLY_ERR_INVALID_ARG (bad overlap),
 * RLY_ERR_INVALID_STATE (not in transport), RLY_ERR_CLOSED (the send nonce would reach
 * 2^64 - 1: the connection must close; nothing written) or RLY_ERR_CRYPTO (fails the session). */
RLY_NODISCARD rly_ssize rly_noise_encrypt(rly_noise *n, const uint8_t *p, size_t len, uint8_t *dest,
                                          size_t cap);

/* rly_noise_decrypt_next takes transport bytes from |*pin| / |*pinlen| (the caller's buffer,
 * modified: frames are decrypted where they lie) and advances both past what it used. When a
 * whole message is available it sets |*pplain| / |*pplainlen| to its plaintext and returns 1:
 * the plaintext lies in the caller's buffer, or, for a message that arrived in pieces, in the
 * session's buffer, valid until the next call on |n|. Empty messages give |*pplainlen| == 0.
 * Returns 0 once all input is used (a partial message is kept, at most
 * RLY_NOISE_MAX_FRAME_LEN bytes), or
 *   RLY_ERR_MALFORMED      a message shorter than the 16-byte tag;
 *   RLY_ERR_CRYPTO         a message failed authentication;
 *   RLY_ERR_PROTO          the peer went past nonce 2^64 - 2;
 *   RLY_ERR_NOMEM          buffering a partial message failed;
 *   RLY_ERR_INVALID_STATE  not in transport.
 * Every error but INVALID_STATE fails the session. */
RLY_NODISCARD int rly_noise_decrypt_next(rly_noise *n, uint8_t **pin, size_t *pinlen,
                                         uint8_t **pplain, size_t *pplainlen);

/* rly_noise_decrypt is rly_noise_decrypt_next in a loop that appends all plaintext to |out|.
 * |in| is modified. Returns the plaintext bytes appended, an rly_noise_decrypt_next error, or
 * RLY_ERR_NOBUF (|out| full; fails the session, as plaintext would be lost). */
RLY_NODISCARD rly_ssize rly_noise_decrypt(rly_noise *n, uint8_t *in, size_t inlen, rly_dynbuf *out);

/* rly_noise_get_nonces reports the next send and receive nonces (messages so far). */
void rly_noise_get_nonces(const rly_noise *n, uint64_t *psend, uint64_t *precv);

/* rly_noise_set_nonces_for_test moves both nonces (transport state only). Tests only: reusing
 * a nonce destroys confidentiality. */
void rly_noise_set_nonces_for_test(rly_noise *n, uint64_t send, uint64_t recv);

#endif
