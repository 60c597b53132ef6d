/* noise.c: the Noise XX handshake and transport of libp2p (see noise.h; PROTOCOLS.md 3).
 *
 * The symmetric state follows Noise rev34 section 5.2 name by name (mix_hash, mix_key,
 * encrypt_and_hash, decrypt_and_hash, split) and each message step is tagged with its tokens, so
 * the code can be read next to the spec. During the handshake the |send| cipher context holds
 * the handshake key k; split() rekeys it and creates |recv|, so a session owns two OpenSSL
 * contexts and allocates nothing per message. */
#include "proto/noise/noise.h"

#include <string.h>

#include "proto/noise/noise_internal.h"
#include "proto/noise/noise_payload.h"

/* The protocol name is exactly HASHLEN (32) bytes, so h starts as the name itself. */
#define PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
#define KEY_LEN RLY_X25519_LEN
#define TAG_LEN RLY_AEAD_TAG_LEN
/* msg1: e (the payload is plaintext and ignored). */
#define MSG1_MIN KEY_LEN
/* Encrypted static key: s + tag. */
#define ENC_S_LEN (KEY_LEN + TAG_LEN)
/* msg2: e, encrypted s, encrypted payload (at least the tag). */
#define MSG2_MIN (KEY_LEN + ENC_S_LEN + TAG_LEN)
/* msg3: encrypted s, encrypted payload. */
#define MSG3_MIN (ENC_S_LEN + TAG_LEN)

typedef enum step {
    STEP_START,     /* initiator: msg1 not written yet */
    STEP_READ_MSG1, /* responder */
    STEP_READ_MSG2, /* initiator */
    STEP_READ_MSG3, /* responder */
    STEP_TRANSPORT,
    STEP_FAILED,
} step;

struct rly_noise {
    rly_mem *mem;
    const rly_noise_identity *id; /* borrowed */
    rly_noise_rng_fn rng;
    void *rng_user_data;
    step step;
    bool is_initiator;
    bool has_expected;
    bool has_k;           /* the handshake cipher has a key */
    bool is_verified;     /* the remote identity is authenticated */
    bool early_muxer;     /* the remote listed "/yamux/1.0.0" */
    bool frame_delivered; /* |rbuf| holds plaintext handed out by the last decrypt_next */
    bool is_early_muxer_disabled;
    uint64_t hs_n;   /* handshake cipher nonce */
    uint64_t send_n; /* transport nonces */
    uint64_t recv_n;
    uint8_t h[RLY_SHA256_LEN];  /* handshake hash */
    uint8_t ck[RLY_SHA256_LEN]; /* chaining key: secret */
    rly_x25519_keypair e;       /* ephemeral key: secret */
    uint8_t re[KEY_LEN];        /* remote ephemeral */
    uint8_t rs[KEY_LEN];        /* remote static */
    rly_aead send;              /* handshake cipher, then the sending cipher */
    rly_aead recv;
    rly_dynbuf rbuf; /* one partial frame, prefix included */
    rly_peerid expected;
    rly_peerid remote_peer;
    rly_pubkey remote_key;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static size_t get_be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static void put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* wipe_handshake forgets every handshake secret. */
static void wipe_handshake(rly_noise *n)
{
    rly_zeroize(n->ck, sizeof(n->ck));
    rly_zeroize(n->h, sizeof(n->h));
    rly_zeroize(&n->e, sizeof(n->e));
    n->has_k = false;
}

/* release_rbuf wipes the partial-frame buffer (it may hold plaintext) and frees it. */
static void release_rbuf(rly_noise *n)
{
    if (n->rbuf.is_allocated)
        rly_zeroize(n->rbuf.data, n->rbuf.cap);
    rly_dynbuf_free(&n->rbuf);
    n->frame_delivered = false;
}

/* fail moves |n| to FAILED, wiping every key, and returns |err|. */
static int fail(rly_noise *n, int err)
{
    wipe_handshake(n);
    rly_aead_free(&n->send);
    rly_aead_free(&n->recv);
    release_rbuf(n);
    n->step = STEP_FAILED;
    return err;
}

/* ---- symmetric state (Noise rev34 section 5.2) ---------------------------------------------- */

static void mix_hash(rly_noise *n, const uint8_t *data, size_t len)
{
    rly_sha256_concat(n->h, sizeof(n->h), data, len, n->h);
}

static int mix_key(rly_noise *n, const uint8_t ikm[KEY_LEN])
{
    uint8_t ck[RLY_SHA256_LEN], k[RLY_AEAD_KEY_LEN];
    rly_hkdf_noise(n->ck, ikm, KEY_LEN, ck, k, NULL);
    memcpy(n->ck, ck, sizeof(ck));
    int rv = n->send.ctx ? rly_aead_set_key(&n->send, k) : rly_aead_init(&n->send, k);
    rly_zeroize(ck, sizeof(ck));
    rly_zeroize(k, sizeof(k));
    n->has_k = rv == 0;
    n->hs_n = 0;
    return rv;
}

/* dh_mix is MixKey(DH(kp, pub)), the ee / es / se tokens. A DH failure (a low-order share from
 * the peer) is the peer's fault: RLY_ERR_HANDSHAKE. */
static int dh_mix(rly_noise *n, const rly_x25519_keypair *kp, const uint8_t pub[KEY_LEN])
{
    uint8_t dh[KEY_LEN];
    int rv = rly_x25519_dh(kp, pub, dh);
    if (rv == 0)
        rv = mix_key(n, dh);
    else
        rv = RLY_ERR_HANDSHAKE;
    rly_zeroize(dh, sizeof(dh));
    return rv;
}

/* encrypt_and_hash writes |len| bytes of |p| to |out|, encrypted with the handshake hash as
 * additional data once a key exists (|len| + 16 bytes), then hashes what it wrote. */
static int encrypt_and_hash(rly_noise *n, const uint8_t *p, size_t len, uint8_t *out)
{
    uint8_t nonce[RLY_AEAD_NONCE_LEN];
    if (!n->has_k) {
        memmove(out, p, len);
        mix_hash(n, out, len);
        return 0;
    }
    rly_aead_nonce(nonce, n->hs_n++);
    int rv = rly_aead_seal(&n->send, nonce, n->h, sizeof(n->h), p, len, out);
    if (rv == 0)
        mix_hash(n, out, len + TAG_LEN);
    return rv;
}

/* decrypt_and_hash decrypts |len| bytes at |c| in place (plaintext: |len| - 16 bytes at |c|).
 * The hash takes the ciphertext, so it is computed before the ciphertext is overwritten.
 * A bad tag is the peer's fault: RLY_ERR_HANDSHAKE. Needs a key (always set where used). */
static int decrypt_and_hash(rly_noise *n, uint8_t *c, size_t len)
{
    uint8_t nonce[RLY_AEAD_NONCE_LEN], h[RLY_SHA256_LEN];
    if (!n->has_k || len < TAG_LEN)
        return RLY_ERR_HANDSHAKE;
    rly_sha256_concat(n->h, sizeof(n->h), c, len, h);
    rly_aead_nonce(nonce, n->hs_n++);
    if (rly_aead_open(&n->send, nonce, n->h, sizeof(n->h), c, len, c) != 0)
        return RLY_ERR_HANDSHAKE;
    memcpy(n->h, h, sizeof(h));
    return 0;
}

/* split derives the transport keys (Noise rev34 section 5.2 Split): c1 carries initiator ->
 * responder, c2 responder -> initiator. Then every handshake secret is wiped. */
static int split(rly_noise *n)
{
    uint8_t k1[RLY_AEAD_KEY_LEN], k2[RLY_AEAD_KEY_LEN];
    rly_hkdf_noise(n->ck, NULL, 0, k1, k2, NULL);
    const uint8_t *ksend = n->is_initiator ? k1 : k2;
    const uint8_t *krecv = n->is_initiator ? k2 : k1;
    int rv = rly_aead_set_key(&n->send, ksend);
    if (rv == 0)
        rv = rly_aead_init(&n->recv, krecv);
    rly_zeroize(k1, sizeof(k1));
    rly_zeroize(k2, sizeof(k2));
    wipe_handshake(n);
    if (rv != 0)
        return rv;
    n->send_n = n->recv_n = 0;
    n->step = STEP_TRANSPORT;
    return 0;
}

/* ---- the libp2p payload ------------------------------------------------------------------- */

/* verify_identity checks the peer's payload (|p|, |len|, plaintext): the identity key decodes,
 * its peer ID is the expected one, and identity_sig signs the static key |rs| we learned in the
 * handshake. Records the remote peer and whether it listed yamux. */
static int verify_identity(rly_noise *n, const uint8_t *p, size_t len)
{
    uint8_t msg[RLY_NOISE_SIG_PREFIX_LEN + KEY_LEN];
    rly_noise_payload pl;
    if (rly_noise_payload_decode(&pl, p, len) != 0)
        return RLY_ERR_HANDSHAKE;
    int rv = rly_pubkey_decode(&n->remote_key, pl.identity_key, pl.identity_key_len);
    if (rv == 0)
        rv = rly_pubkey_to_peerid(&n->remote_key, &n->remote_peer);
    if (rv == 0 && n->has_expected && !rly_peerid_equal(&n->expected, &n->remote_peer))
        return RLY_ERR_PEER_ID_MISMATCH;
    if (rv == 0) {
        memcpy(msg, RLY_NOISE_SIG_PREFIX, RLY_NOISE_SIG_PREFIX_LEN);
        memcpy(msg + RLY_NOISE_SIG_PREFIX_LEN, n->rs, KEY_LEN);
        rv = rly_pubkey_verify(&n->remote_key, msg, sizeof(msg), pl.identity_sig,
                               pl.identity_sig_len);
    }
    /* Keys that do not parse are a malformed handshake; SIGNATURE, UNSUPPORTED, NOMEM and
     * CRYPTO keep their meaning. */
    if (rv == RLY_ERR_MALFORMED || rv == RLY_ERR_INVALID_ARG)
        rv = RLY_ERR_HANDSHAKE;
    if (rv != 0)
        return rv;
    n->is_verified = true;
    /* Agreement needs both lists (PROTOCOLS.md 3); ours holds only yamux. */
    n->early_muxer = pl.has_yamux && !n->is_early_muxer_disabled;
    return 0;
}

/* ---- handshake messages ------------------------------------------------------------------- */

/* out_reserve makes room for a frame of |len| message bytes in |out| and returns where the
 * message goes (after the prefix). */
static int out_reserve(rly_dynbuf *out, size_t len, uint8_t **pmsg)
{
    int rv = rly_dynbuf_reserve(out, RLY_NOISE_FRAME_HDR_LEN + len);
    if (rv != 0)
        return rv;
    *pmsg = out->data + out->len + RLY_NOISE_FRAME_HDR_LEN;
    return 0;
}

/* out_commit writes the prefix of the frame out_reserve prepared and appends it to |out|. */
static void out_commit(rly_dynbuf *out, size_t len)
{
    put_be16(out->data + out->len, len);
    out->len += RLY_NOISE_FRAME_HDR_LEN + len;
    out->data[out->len] = 0; /* rly_dynbuf keeps its data NUL-terminated */
}

/* new_ephemeral generates e, from the test RNG if one is set. */
static int new_ephemeral(rly_noise *n)
{
    uint8_t priv[KEY_LEN];
    if (!n->rng)
        return rly_x25519_generate(&n->e);
    int rv = n->rng(n->rng_user_data, priv, sizeof(priv));
    if (rv == 0)
        rv = rly_x25519_from_private(&n->e, priv);
    rly_zeroize(priv, sizeof(priv));
    return rv < 0 ? rv : 0;
}

/* write_msg1: -> e, with an empty payload. */
static int write_msg1(rly_noise *n, rly_dynbuf *out)
{
    uint8_t *m;
    int rv = out_reserve(out, KEY_LEN, &m);
    if (rv == 0)
        rv = new_ephemeral(n);
    if (rv != 0)
        return rv;
    /* e */
    memcpy(m, n->e.pub, KEY_LEN);
    mix_hash(n, m, KEY_LEN);
    /* payload: empty, and no key yet, so EncryptAndHash("") is MixHash("") */
    mix_hash(n, NULL, 0);
    out_commit(out, KEY_LEN);
    return 0;
}

/* read_msg1: -> e. A payload after e is plaintext; go ignores it, so do we (rust refuses it),
 * but it is hashed like any payload. */
static int read_msg1(rly_noise *n, const uint8_t *m, size_t len)
{
    if (len < MSG1_MIN)
        return RLY_ERR_HANDSHAKE;
    /* e */
    memcpy(n->re, m, KEY_LEN);
    mix_hash(n, n->re, KEY_LEN);
    /* payload */
    mix_hash(n, m + KEY_LEN, len - KEY_LEN);
    return 0;
}

/* payload_len is the length of the payload this session sends: the identity's payload, without
 * its trailing extensions field when early muxer negotiation is disabled. */
static size_t payload_len(const rly_noise *n)
{
    return n->is_early_muxer_disabled ? n->id->no_muxers_len : n->id->payload_len;
}

/* write_msg2: <- e, ee, s, es, then the payload. */
static int write_msg2(rly_noise *n, rly_dynbuf *out)
{
    const rly_noise_identity *id = n->id;
    size_t len = KEY_LEN + ENC_S_LEN + payload_len(n) + TAG_LEN;
    uint8_t *m;
    int rv = out_reserve(out, len, &m);
    if (rv == 0)
        rv = new_ephemeral(n);
    if (rv != 0)
        return rv;
    /* e */
    memcpy(m, n->e.pub, KEY_LEN);
    mix_hash(n, m, KEY_LEN);
    /* ee */
    rv = dh_mix(n, &n->e, n->re);
    /* s */
    if (rv == 0)
        rv = encrypt_and_hash(n, id->s.pub, KEY_LEN, m + KEY_LEN);
    /* es: the responder's side is DH(s, re) */
    if (rv == 0)
        rv = dh_mix(n, &id->s, n->re);
    /* payload */
    if (rv == 0)
        rv = encrypt_and_hash(n, id->payload, payload_len(n), m + KEY_LEN + ENC_S_LEN);
    if (rv == 0)
        out_commit(out, len);
    return rv;
}

/* read_msg2: <- e, ee, s, es, then the payload (decrypted in place in |m|). */
static int read_msg2(rly_noise *n, uint8_t *m, size_t len)
{
    if (len < MSG2_MIN)
        return RLY_ERR_HANDSHAKE;
    /* e */
    memcpy(n->re, m, KEY_LEN);
    mix_hash(n, n->re, KEY_LEN);
    /* ee */
    int rv = dh_mix(n, &n->e, n->re);
    /* s */
    if (rv == 0)
        rv = decrypt_and_hash(n, m + KEY_LEN, ENC_S_LEN);
    if (rv == 0)
        memcpy(n->rs, m + KEY_LEN, KEY_LEN);
    /* es: the initiator's side is DH(e, rs) */
    if (rv == 0)
        rv = dh_mix(n, &n->e, n->rs);
    /* payload */
    uint8_t *pl = m + KEY_LEN + ENC_S_LEN;
    size_t pllen = len - KEY_LEN - ENC_S_LEN;
    if (rv == 0)
        rv = decrypt_and_hash(n, pl, pllen);
    if (rv == 0)
        rv = verify_identity(n, pl, pllen - TAG_LEN);
    return rv;
}

/* write_msg3: -> s, se, then the payload. */
static int write_msg3(rly_noise *n, rly_dynbuf *out)
{
    const rly_noise_identity *id = n->id;
    size_t len = ENC_S_LEN + payload_len(n) + TAG_LEN;
    uint8_t *m;
    int rv = out_reserve(out, len, &m);
    /* s */
    if (rv == 0)
        rv = encrypt_and_hash(n, id->s.pub, KEY_LEN, m);
    /* se: the initiator's side is DH(s, re) */
    if (rv == 0)
        rv = dh_mix(n, &id->s, n->re);
    /* payload */
    if (rv == 0)
        rv = encrypt_and_hash(n, id->payload, payload_len(n), m + ENC_S_LEN);
    if (rv == 0)
        out_commit(out, len);
    return rv;
}

/* read_msg3: -> s, se, then the payload (decrypted in place in |m|). */
static int read_msg3(rly_noise *n, uint8_t *m, size_t len)
{
    if (len < MSG3_MIN)
        return RLY_ERR_HANDSHAKE;
    /* s */
    int rv = decrypt_and_hash(n, m, ENC_S_LEN);
    if (rv == 0)
        memcpy(n->rs, m, KEY_LEN);
    /* se: the responder's side is DH(e, rs) */
    if (rv == 0)
        rv = dh_mix(n, &n->e, n->rs);
    /* payload */
    uint8_t *pl = m + ENC_S_LEN;
    size_t pllen = len - ENC_S_LEN;
    if (rv == 0)
        rv = decrypt_and_hash(n, pl, pllen);
    if (rv == 0)
        rv = verify_identity(n, pl, pllen - TAG_LEN);
    return rv;
}

/* handshake_step handles one complete handshake message |m| (|len| bytes, modified) and writes
 * the reply. The handshake state machine: READ_MSG1 -> READ_MSG3 -> TRANSPORT for the
 * responder, (START ->) READ_MSG2 -> TRANSPORT for the initiator. */
static int handshake_step(rly_noise *n, uint8_t *m, size_t len, rly_dynbuf *out)
{
    int rv;
    switch (n->step) {
    case STEP_READ_MSG1:
        rv = read_msg1(n, m, len);
        if (rv == 0)
            rv = write_msg2(n, out);
        if (rv == 0)
            n->step = STEP_READ_MSG3;
        return rv;
    case STEP_READ_MSG2:
        rv = read_msg2(n, m, len);
        if (rv == 0)
            rv = write_msg3(n, out);
        if (rv == 0)
            rv = split(n);
        return rv;
    case STEP_READ_MSG3:
        rv = read_msg3(n, m, len);
        if (rv == 0)
            rv = split(n);
        return rv;
    default: return RLY_ERR_INVALID_STATE;
    }
}

/* ---- framing ------------------------------------------------------------------------------- */

/* gather adds bytes of |in| to the partial frame in |rbuf| until it is complete, and returns the
 * count used (or RLY_ERR_NOMEM). Storage grows with the bytes that arrived, never with the
 * length the prefix announces: a peer that sends a 2-byte prefix of 65535 and stops holds about
 * 64 bytes, not 64 KiB (the dynbuf doubles, so at most twice what was received). */
static rly_ssize gather(rly_noise *n, const uint8_t *in, size_t inlen)
{
    rly_dynbuf *b = &n->rbuf;
    size_t want = RLY_NOISE_FRAME_HDR_LEN;
    if (b->len >= RLY_NOISE_FRAME_HDR_LEN)
        want += get_be16(b->data);
    else if (b->len == 0 && inlen >= RLY_NOISE_FRAME_HDR_LEN)
        want += get_be16(in);
    else if (b->len == 1 && inlen >= 1)
        want += (size_t)b->data[0] << 8 | in[0];
    size_t take = want - b->len < inlen ? want - b->len : inlen;
    int rv = rly_dynbuf_append(b, in, take);
    return rv == 0 ? (rly_ssize)take : rv;
}

/* frame_ready tells whether |rbuf| holds a whole frame; |*plen| is its message length. */
static bool frame_ready(const rly_noise *n, size_t *plen)
{
    const rly_dynbuf *b = &n->rbuf;
    if (b->len < RLY_NOISE_FRAME_HDR_LEN)
        return false;
    *plen = get_be16(b->data);
    return b->len == RLY_NOISE_FRAME_HDR_LEN + *plen;
}

/* ---- public API ---------------------------------------------------------------------------- */

int rly_noise_new(rly_noise **pn, bool is_initiator, const rly_noise_identity *id,
                  const rly_peerid *expected_peer, const rly_noise_settings *settings, rly_mem *mem)
{
    static const char name[] = PROTOCOL_NAME;
    if (!id || (expected_peer && !is_initiator))
        return RLY_ERR_INVALID_ARG;
    mem = mem ? mem : rly_mem_default();
    rly_noise *n = rly_calloc(mem, 1, sizeof(*n));
    if (!n)
        return RLY_ERR_NOMEM;
    n->mem = mem;
    n->id = id;
    n->is_initiator = is_initiator;
    n->step = is_initiator ? STEP_START : STEP_READ_MSG1;
    if (settings) {
        n->is_early_muxer_disabled = settings->is_early_muxer_disabled;
        n->rng = settings->rng;
        n->rng_user_data = settings->rng_user_data;
    }
    if (expected_peer) {
        n->expected = *expected_peer;
        n->has_expected = true;
    }
    rly_dynbuf_init(&n->rbuf, mem, RLY_NOISE_MAX_FRAME_LEN);
    /* InitializeSymmetric: h = the 32-byte name, ck = h; then MixHash(prologue = empty). */
    memcpy(n->h, name, sizeof(n->h));
    memcpy(n->ck, n->h, sizeof(n->ck));
    mix_hash(n, NULL, 0);
    *pn = n;
    return 0;
}

void rly_noise_del(rly_noise *n)
{
    if (!n)
        return;
    rly_mem *mem = n->mem;
    (void)fail(n, 0);
    rly_zeroize(n, sizeof(*n));
    rly_free(mem, n);
}

int rly_noise_start(rly_noise *n, rly_dynbuf *out)
{
    if (!n->is_initiator)
        return n->step == STEP_READ_MSG1 ? 0 : RLY_ERR_INVALID_STATE;
    if (n->step != STEP_START)
        return RLY_ERR_INVALID_STATE;
    int rv = write_msg1(n, out);
    if (rv != 0)
        return fail(n, rv);
    n->step = STEP_READ_MSG2;
    return 0;
}

rly_ssize rly_noise_handshake_recv(rly_noise *n, const uint8_t *in, size_t inlen, rly_dynbuf *out)
{
    size_t used = 0, len = 0;
    if (n->step != STEP_READ_MSG1 && n->step != STEP_READ_MSG2 && n->step != STEP_READ_MSG3)
        return RLY_ERR_INVALID_STATE;
    while (used < inlen && n->step < STEP_TRANSPORT) {
        rly_ssize took = gather(n, in + used, inlen - used);
        if (took < 0)
            return fail(n, (int)took);
        used += (size_t)took;
        if (!frame_ready(n, &len))
            break;
        int rv = handshake_step(n, n->rbuf.data + RLY_NOISE_FRAME_HDR_LEN, len, out);
        if (rv != 0)
            return fail(n, rv);
        release_rbuf(n);
    }
    return (rly_ssize)used;
}

unsigned rly_noise_messages_read(const rly_noise *n)
{
    switch (n->step) {
    case STEP_READ_MSG3: return 1;
    case STEP_TRANSPORT: return n->is_initiator ? 1 : 2;
    default: return 0; /* START, READ_MSG1, READ_MSG2; FAILED: nothing counts */
    }
}

rly_noise_state rly_noise_get_state(const rly_noise *n)
{
    if (n->step == STEP_TRANSPORT)
        return RLY_NOISE_TRANSPORT;
    return n->step == STEP_FAILED ? RLY_NOISE_FAILED : RLY_NOISE_HANDSHAKE;
}

const rly_peerid *rly_noise_remote_peerid(const rly_noise *n)
{
    return n->is_verified && n->step != STEP_FAILED ? &n->remote_peer : NULL;
}

const rly_pubkey *rly_noise_remote_pubkey(const rly_noise *n)
{
    return n->is_verified && n->step != STEP_FAILED ? &n->remote_key : NULL;
}

bool rly_noise_early_muxer(const rly_noise *n)
{
    return n->step == STEP_TRANSPORT && n->early_muxer;
}

size_t rly_noise_encrypted_len(size_t len)
{
    size_t frames = len / RLY_NOISE_MAX_PLAINTEXT + (len % RLY_NOISE_MAX_PLAINTEXT != 0);
    return len + frames * (RLY_NOISE_FRAME_HDR_LEN + TAG_LEN);
}

/* overlaps tells whether [a, a + alen) and [b, b + blen) share a byte. */
static bool overlaps(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + blen && pb < pa + alen;
}

rly_ssize rly_noise_encrypt(rly_noise *n, const uint8_t *p, size_t len, uint8_t *dest, size_t cap)
{
    uint8_t nonce[RLY_AEAD_NONCE_LEN];
    if (n->step != STEP_TRANSPORT)
        return RLY_ERR_INVALID_STATE;
    if (len == 0)
        return 0;
    size_t need = rly_noise_encrypted_len(len);
    size_t frames = (need - len) / (RLY_NOISE_FRAME_HDR_LEN + TAG_LEN);
    if (need > cap)
        return RLY_ERR_NOBUF;
    bool is_in_place = p == dest + RLY_NOISE_FRAME_HDR_LEN && len <= RLY_NOISE_MAX_PLAINTEXT;
    if (!is_in_place && overlaps(p, len, dest, need))
        return RLY_ERR_INVALID_ARG;
    /* Nonce 2^64 - 1 is reserved (Noise rev34 section 5.1): refuse before using any. */
    if (frames > UINT64_MAX - n->send_n)
        return RLY_ERR_CLOSED;
    size_t off = 0;
    for (size_t done = 0; done < len;) {
        size_t chunk = len - done < RLY_NOISE_MAX_PLAINTEXT ? len - done : RLY_NOISE_MAX_PLAINTEXT;
        put_be16(dest + off, chunk + TAG_LEN);
        rly_aead_nonce(nonce, n->send_n++);
        if (rly_aead_seal(&n->send, nonce, NULL, 0, p + done, chunk,
                          dest + off + RLY_NOISE_FRAME_HDR_LEN) != 0)
            return fail(n, RLY_ERR_CRYPTO);
        done += chunk;
        off += RLY_NOISE_FRAME_HDR_LEN + chunk + TAG_LEN;
    }
    return (rly_ssize)off;
}

/* open_frame authenticates and decrypts the message |m| (|len| bytes) in place. */
static int open_frame(rly_noise *n, uint8_t *m, size_t len)
{
    uint8_t nonce[RLY_AEAD_NONCE_LEN];
    if (len < TAG_LEN)
        return RLY_ERR_MALFORMED;
    if (n->recv_n == UINT64_MAX)
        return RLY_ERR_PROTO;
    rly_aead_nonce(nonce, n->recv_n++);
    return rly_aead_open(&n->recv, nonce, NULL, 0, m, len, m) == 0 ? 0 : RLY_ERR_CRYPTO;
}

/* next_buffered continues a frame that began in an earlier read: bytes go to |rbuf| and the
 * frame is decrypted there once complete. Returns 1 (frame), 0 (need more) or an error. */
static int next_buffered(rly_noise *n, uint8_t **pin, size_t *pinlen, uint8_t **pplain,
                         size_t *pplainlen)
{
    size_t len = 0;
    rly_ssize took = gather(n, *pin, *pinlen);
    if (took < 0)
        return (int)took;
    *pin += took;
    *pinlen -= (size_t)took;
    if (!frame_ready(n, &len))
        return 0;
    uint8_t *m = n->rbuf.data + RLY_NOISE_FRAME_HDR_LEN;
    int rv = open_frame(n, m, len);
    if (rv != 0)
        return rv;
    n->frame_delivered = true;
    *pplain = m;
    *pplainlen = len - TAG_LEN;
    return 1;
}

int rly_noise_decrypt_next(rly_noise *n, uint8_t **pin, size_t *pinlen, uint8_t **pplain,
                           size_t *pplainlen)
{
    if (n->step != STEP_TRANSPORT)
        return RLY_ERR_INVALID_STATE;
    /* The plaintext handed out last time is no longer the caller's. */
    if (n->frame_delivered)
        release_rbuf(n);
    int rv;
    uint8_t *in = *pin;
    size_t inlen = *pinlen;
    size_t len = inlen >= RLY_NOISE_FRAME_HDR_LEN ? get_be16(in) : 0;
    if (n->rbuf.len == 0 && inlen == 0) {
        rv = 0;
    } else if (n->rbuf.len > 0 || inlen < RLY_NOISE_FRAME_HDR_LEN + len) {
        /* A partial frame: the only case that copies. */
        rv = next_buffered(n, pin, pinlen, pplain, pplainlen);
    } else {
        /* A whole frame in the caller's buffer: decrypt it where it lies. */
        rv = open_frame(n, in + RLY_NOISE_FRAME_HDR_LEN, len);
        if (rv == 0) {
            *pplain = in + RLY_NOISE_FRAME_HDR_LEN;
            *pplainlen = len - TAG_LEN;
            *pin = in + RLY_NOISE_FRAME_HDR_LEN + len;
            *pinlen = inlen - RLY_NOISE_FRAME_HDR_LEN - len;
            rv = 1;
        }
    }
    return rv < 0 ? fail(n, rv) : rv;
}

rly_ssize rly_noise_decrypt(rly_noise *n, uint8_t *in, size_t inlen, rly_dynbuf *out)
{
    uint8_t *pt = NULL;
    size_t ptlen = 0, total = 0;
    int rv;
    while ((rv = rly_noise_decrypt_next(n, &in, &inlen, &pt, &ptlen)) > 0) {
        int arv = rly_dynbuf_append(out, pt, ptlen);
        if (arv != 0)
            return fail(n, arv);
        total += ptlen;
    }
    return rv < 0 ? rv : (rly_ssize)total;
}

void rly_noise_get_nonces(const rly_noise *n, uint64_t *psend, uint64_t *precv)
{
    *psend = n->send_n;
    *precv = n->recv_n;
}

void rly_noise_set_nonces_for_test(rly_noise *n, uint64_t send, uint64_t recv)
{
    if (n->step != STEP_TRANSPORT)
        return;
    n->send_n = send;
    n->recv_n = recv;
}
