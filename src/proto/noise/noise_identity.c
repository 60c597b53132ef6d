/* noise_identity.c: rly_noise_identity, the per-process half of every Noise handshake: the static
 * X25519 key, the identity signature over it and the encoded handshake payload, all made once so
 * a handshake never signs anything. */
#include <string.h>

#include "proto/noise/noise.h"
#include "proto/noise/noise_internal.h"
#include "proto/noise/noise_payload.h"

/* identity_alloc allocates |*pid| and sets its static key from |static_priv|. */
static int identity_alloc(rly_noise_identity **pid, const uint8_t *static_priv, rly_mem *mem)
{
    mem = mem ? mem : rly_mem_default();
    rly_noise_identity *id = rly_calloc(mem, 1, sizeof(*id));
    if (!id)
        return RLY_ERR_NOMEM;
    id->mem = mem;
    int rv =
        static_priv ? rly_x25519_from_private(&id->s, static_priv) : rly_x25519_generate(&id->s);
    if (rv != 0) {
        rly_noise_identity_del(id);
        return rv;
    }
    *pid = id;
    return 0;
}

/* set_payload encodes the handshake payload listing "/yamux/1.0.0". The extensions field comes
 * last, so the payload without it (for sessions with early muxer negotiation disabled) is a
 * prefix: its length is that of the same payload encoded without muxers. */
static int set_payload(rly_noise_identity *id, const uint8_t *key, size_t keylen,
                       const uint8_t *sig, size_t siglen)
{
    rly_ssize n =
        rly_noise_payload_encode(key, keylen, sig, siglen, true, id->payload, sizeof(id->payload));
    if (n < 0)
        return (int)n;
    id->payload_len = (size_t)n;
    id->no_muxers_len = rly_noise_payload_len(keylen, siglen, false);
    return 0;
}

int rly_noise_identity_new(rly_noise_identity **pid, const rly_keypair *kp,
                           const uint8_t *static_priv, rly_mem *mem)
{
    rly_noise_identity *id = NULL;
    uint8_t msg[RLY_NOISE_SIG_PREFIX_LEN + RLY_X25519_LEN];
    uint8_t sig[RLY_ED25519_SIG_LEN];
    uint8_t key[RLY_PUBKEY_PB_MAX];
    rly_pubkey pk;
    int rv = identity_alloc(&id, static_priv, mem);
    if (rv != 0)
        return rv;
    memcpy(msg, RLY_NOISE_SIG_PREFIX, RLY_NOISE_SIG_PREFIX_LEN);
    memcpy(msg + RLY_NOISE_SIG_PREFIX_LEN, id->s.pub, RLY_X25519_LEN);
    rly_keypair_public(kp, &pk);
    rly_ssize keylen = rly_pubkey_encode(&pk, key, sizeof(key));
    rv = keylen < 0 ? (int)keylen : rly_keypair_sign(kp, msg, sizeof(msg), sig);
    if (rv == 0)
        rv = set_payload(id, key, (size_t)keylen, sig, sizeof(sig));
    if (rv != 0) {
        rly_noise_identity_del(id);
        return rv;
    }
    *pid = id;
    return 0;
}

int rly_noise_identity_new_signed(rly_noise_identity **pid, const uint8_t *pubkey_pb, size_t pblen,
                                  const uint8_t *sig, size_t siglen,
                                  const uint8_t static_priv[RLY_X25519_LEN], rly_mem *mem)
{
    rly_noise_identity *id = NULL;
    rly_pubkey pk;
    /* The key must at least decode, or no peer could even read it. */
    int rv = rly_pubkey_decode(&pk, pubkey_pb, pblen);
    if (rv != 0)
        return rv;
    if (!sig || siglen == 0)
        return RLY_ERR_MALFORMED;
    rv = identity_alloc(&id, static_priv, mem);
    if (rv != 0)
        return rv;
    rv = set_payload(id, pubkey_pb, pblen, sig, siglen);
    if (rv != 0) {
        rly_noise_identity_del(id);
        return rv;
    }
    *pid = id;
    return 0;
}

void rly_noise_identity_del(rly_noise_identity *id)
{
    if (!id)
        return;
    rly_mem *mem = id->mem;
    rly_zeroize(id, sizeof(*id));
    rly_free(mem, id);
}

const uint8_t *rly_noise_identity_static_public(const rly_noise_identity *id)
{
    return id->s.pub;
}
