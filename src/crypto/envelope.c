/* envelope.c: signed envelopes (RFC 0002) and the two records carried in them, peer records and
 * reservation vouchers. PROTOCOLS.md 6 and 8.3.
 *
 * Opening goes through protobuf-c with every input capped first (RLY_ENVELOPE_MAX). Sealing
 * writes the protobuf by hand, fields in number order and nothing else: go clients verify the
 * voucher, and PROTOCOLS.md 8.3 fixes its exact layout
 *   0a 24 <PublicKey> 12 02 03 02 1a <len> <Voucher> 2a 40 <signature>. */
#include "crypto/envelope.h"

#include <string.h>

#include "envelope.pb-c.h"

#include "core/pb.h"
#include "core/varint.h"
#include "crypto/keys_internal.h"
#include "crypto/pb_alloc.h"

const uint8_t rly_payload_type_peer_record[2] = {0x03, 0x01};
const uint8_t rly_payload_type_voucher[2] = {0x03, 0x02};

/* Domains are our own constants; the cap only bounds the signed buffer. */
#define DOMAIN_MAX 64
/* uvarint lengths of domain, type and payload in the signed buffer. */
#define SIGNED_MAX (DOMAIN_MAX + RLY_ENVELOPE_PAYLOAD_TYPE_MAX + RLY_ENVELOPE_MAX + 3 * 9)
/* Stack space for short signed buffers and payloads (vouchers) before a dynbuf uses the heap. */
#define SMALL_BUF 256
/* Protobuf tag bytes: (field << 3) | wire type (2 = length-delimited, 0 = varint). */
#define TAG_ENV_KEY 0x0a
#define TAG_ENV_TYPE 0x12
#define TAG_ENV_PAYLOAD 0x1a
#define TAG_ENV_SIG 0x2a
#define TAG_VOUCHER_RELAY 0x0a
#define TAG_VOUCHER_PEER 0x12
#define TAG_VOUCHER_EXPIRATION 0x18
#define TAG_REC_PEER 0x0a
#define TAG_REC_SEQ 0x10
#define TAG_REC_ADDR 0x1a
#define TAG_ADDRINFO_MA 0x0a

/* uv_bytes appends uvarint(n) || p, one field of the signed buffer. */
static int uv_bytes(rly_dynbuf *b, const void *p, size_t n)
{
    int rv = rly_varint_append(b, n);
    if (rv == 0 && n > 0)
        rv = rly_dynbuf_append(b, p, n);
    return rv;
}

/* signed_bytes builds what is signed (RFC 0002): the domain is not transmitted, so an envelope
 * made for one purpose never verifies under another. */
static int signed_bytes(rly_dynbuf *b, const char *domain, const uint8_t *ptype, size_t ptlen,
                        const uint8_t *payload, size_t plen)
{
    size_t dlen = strnlen(domain, DOMAIN_MAX + 1);
    if (dlen == 0 || dlen > DOMAIN_MAX)
        return RLY_ERR_INVALID_ARG;
    int rv = uv_bytes(b, domain, dlen);
    if (rv == 0)
        rv = uv_bytes(b, ptype, ptlen);
    if (rv == 0)
        rv = uv_bytes(b, payload, plen);
    return rv;
}

static int sign_envelope(const rly_keypair *kp, const char *domain, const uint8_t *ptype,
                         size_t ptlen, const uint8_t *payload, size_t plen, rly_mem *mem,
                         uint8_t sig[RLY_ED25519_SIG_LEN])
{
    uint8_t small[SMALL_BUF];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), mem, SIGNED_MAX);
    int rv = signed_bytes(&b, domain, ptype, ptlen, payload, plen);
    if (rv == 0)
        rv = rly_keypair_sign(kp, b.data, b.len, sig);
    rly_dynbuf_free(&b);
    return rv;
}

static int put_envelope(const rly_keypair *kp, const uint8_t *ptype, size_t ptlen,
                        const uint8_t *payload, size_t plen, const uint8_t *sig, rly_dynbuf *out)
{
    rly_pubkey k;
    uint8_t kpb[RLY_ED25519_PUB_LEN + 8];
    rly_keypair_public(kp, &k);
    rly_ssize kn = rly_pubkey_encode(&k, kpb, sizeof(kpb));
    if (kn < 0)
        return (int)kn;
    int rv = rly_pb_append_bytes(out, TAG_ENV_KEY, kpb, (size_t)kn);
    if (rv == 0)
        rv = rly_pb_append_bytes(out, TAG_ENV_TYPE, ptype, ptlen);
    if (rv == 0)
        rv = rly_pb_append_bytes(out, TAG_ENV_PAYLOAD, payload, plen);
    if (rv == 0)
        rv = rly_pb_append_bytes(out, TAG_ENV_SIG, sig, RLY_ED25519_SIG_LEN);
    return rv;
}

int rly_envelope_seal(const rly_keypair *kp, const char *domain, const uint8_t *ptype, size_t ptlen,
                      const uint8_t *payload, size_t plen, rly_dynbuf *out)
{
    if (!domain || !ptype || ptlen == 0 || ptlen > RLY_ENVELOPE_PAYLOAD_TYPE_MAX ||
        (!payload && plen > 0) || plen > RLY_ENVELOPE_MAX)
        return RLY_ERR_INVALID_ARG;
    uint8_t sig[RLY_ED25519_SIG_LEN];
    int rv = sign_envelope(kp, domain, ptype, ptlen, payload, plen, out->mem, sig);
    if (rv != 0)
        return rv;
    /* On any failure |out| is put back as it was: no half-written envelope is left behind. */
    size_t start = out->len;
    rv = put_envelope(kp, ptype, ptlen, payload, plen, sig, out);
    if (rv == 0 && out->len - start > RLY_ENVELOPE_MAX)
        rv = RLY_ERR_NOBUF;
    if (rv != 0)
        rly_dynbuf_truncate(out, start);
    return rv;
}

static int verify_envelope(const rly_envelope *env, const Envelope *m, const char *domain,
                           rly_mem *mem)
{
    uint8_t small[SMALL_BUF];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), mem, SIGNED_MAX);
    int rv = signed_bytes(&b, domain, m->payload_type.data, m->payload_type.len, m->payload.data,
                          m->payload.len);
    if (rv == 0)
        rv = rly_pubkey_verify(&env->key, b.data, b.len, m->signature.data, m->signature.len);
    rly_dynbuf_free(&b);
    return rv;
}

/* check_envelope validates the unpacked |m| and fills |env| except for the payload copy. */
static int check_envelope(rly_envelope *env, const Envelope *m, const char *domain, rly_mem *mem)
{
    const PublicKey *pk = m->public_key;
    if (!pk || m->payload_type.len > RLY_ENVELOPE_PAYLOAD_TYPE_MAX)
        return RLY_ERR_MALFORMED;
    int rv = rly_pubkey_set(&env->key, (int)pk->type, pk->data.data, pk->data.len);
    if (rv == 0)
        rv = verify_envelope(env, m, domain, mem);
    if (rv == 0)
        rv = rly_pubkey_to_peerid(&env->key, &env->signer);
    if (rv != 0)
        return rv;
    if (m->payload_type.len > 0)
        memcpy(env->payload_type, m->payload_type.data, m->payload_type.len);
    env->payload_type_len = m->payload_type.len;
    return 0;
}

int rly_envelope_open(rly_envelope *env, const uint8_t *p, size_t len, const char *domain,
                      rly_mem *mem)
{
    memset(env, 0, sizeof(*env));
    if (!domain)
        return RLY_ERR_INVALID_ARG;
    if (!p || len == 0)
        return RLY_ERR_MALFORMED;
    if (len > RLY_ENVELOPE_MAX)
        return RLY_ERR_NOBUF;
    mem = mem ? mem : rly_mem_default();
    rly_pb_alloc a;
    rly_pb_alloc_init(&a, mem, false);
    Envelope *m = envelope__unpack(&a.base, len, p);
    if (!m)
        return rly_pb_alloc_unpack_error(&a);
    int rv = check_envelope(env, m, domain, mem);
    if (rv == 0) {
        /* rly_malloc(0) returns a unique pointer, so an empty payload is not an error. */
        env->payload = rly_memdup(mem, m->payload.data, m->payload.len);
        if (!env->payload)
            rv = RLY_ERR_NOMEM;
        env->payload_len = m->payload.len;
        env->mem = mem;
    }
    envelope__free_unpacked(m, &a.base);
    if (rv != 0)
        memset(env, 0, sizeof(*env));
    return rv;
}

void rly_envelope_free(rly_envelope *env)
{
    if (!env)
        return;
    rly_free(env->mem, env->payload);
    env->payload = NULL;
    env->payload_len = 0;
}

static bool has_type(const rly_envelope *env, const uint8_t type[2])
{
    return env->payload_type_len == 2 && memcmp(env->payload_type, type, 2) == 0;
}

/* peerid_field copies a peer-ID bytes field; any defect in it makes the record malformed. */
static int peerid_field(rly_peerid *pid, const ProtobufCBinaryData *f)
{
    if (!f->data || f->len == 0 || rly_peerid_from_bytes(pid, f->data, f->len) != 0)
        return RLY_ERR_MALFORMED;
    return 0;
}

static int put_voucher(rly_dynbuf *b, const rly_voucher *v)
{
    int rv = rly_pb_append_bytes(b, TAG_VOUCHER_RELAY, v->relay.bytes, v->relay.len);
    if (rv == 0)
        rv = rly_pb_append_bytes(b, TAG_VOUCHER_PEER, v->peer.bytes, v->peer.len);
    if (rv == 0)
        rv = rly_pb_append_uint(b, TAG_VOUCHER_EXPIRATION, v->expiration);
    return rv;
}

/* signer_is checks that |pid| is |kp|'s own peer ID: we only sign records about ourselves. */
static int signer_is(const rly_keypair *kp, const rly_peerid *pid)
{
    rly_peerid me;
    int rv = rly_keypair_peerid(kp, &me);
    if (rv != 0)
        return rv;
    return rly_peerid_equal(&me, pid) ? 0 : RLY_ERR_INVALID_ARG;
}

int rly_voucher_seal(const rly_keypair *kp, const rly_voucher *v, rly_dynbuf *out)
{
    if (v->relay.len > RLY_PEERID_MAX_BYTES || v->peer.len == 0 ||
        v->peer.len > RLY_PEERID_MAX_BYTES)
        return RLY_ERR_INVALID_ARG;
    int rv = signer_is(kp, &v->relay);
    if (rv != 0)
        return rv;
    uint8_t small[SMALL_BUF];
    rly_dynbuf b;
    rly_dynbuf_init_small(&b, small, sizeof(small), out->mem, RLY_ENVELOPE_MAX);
    rv = put_voucher(&b, v);
    if (rv == 0)
        rv = rly_envelope_seal(kp, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_voucher,
                               sizeof(rly_payload_type_voucher), b.data, b.len, out);
    rly_dynbuf_free(&b);
    return rv;
}

static int voucher_decode(rly_voucher *v, const uint8_t *p, size_t len, rly_mem *mem)
{
    rly_pb_alloc a;
    rly_pb_alloc_init(&a, mem, false);
    Voucher *m = voucher__unpack(&a.base, len, p);
    if (!m)
        return rly_pb_alloc_unpack_error(&a);
    int rv = peerid_field(&v->relay, &m->relay);
    if (rv == 0)
        rv = peerid_field(&v->peer, &m->peer);
    v->expiration = m->expiration;
    voucher__free_unpacked(m, &a.base);
    return rv;
}

int rly_voucher_open(rly_voucher *v, const uint8_t *p, size_t len, rly_mem *mem)
{
    rly_envelope env;
    int rv = rly_envelope_open(&env, p, len, RLY_DOMAIN_RELAY_RSVP, mem);
    if (rv != 0)
        return rv;
    rly_voucher tmp;
    if (!has_type(&env, rly_payload_type_voucher))
        rv = RLY_ERR_UNEXPECTED_MSG;
    else
        rv = voucher_decode(&tmp, env.payload, env.payload_len, env.mem);
    /* go clients require the signer to be the relay named inside (PROTOCOLS.md 8.3). */
    if (rv == 0 && !rly_peerid_equal(&env.signer, &tmp.relay))
        rv = RLY_ERR_PEER_ID_MISMATCH;
    if (rv == 0)
        *v = tmp;
    rly_envelope_free(&env);
    return rv;
}

static int put_record(rly_dynbuf *b, const rly_peer_record *r)
{
    int rv = rly_pb_append_bytes(b, TAG_REC_PEER, r->peer.bytes, r->peer.len);
    if (rv == 0)
        rv = rly_pb_append_uint(b, TAG_REC_SEQ, r->seq);
    for (size_t i = 0; rv == 0 && i < r->naddrs; i++) {
        const rly_multiaddr *ma = &r->addrs[i];
        if (ma->len > RLY_MULTIADDR_MAX_BYTES)
            return RLY_ERR_INVALID_ARG;
        /* AddressInfo { multiaddr = 1 } embedded as field 3. */
        rv = rly_pb_append_uint(b, TAG_REC_ADDR, 1 + rly_pb_varint_len(ma->len) + ma->len);
        if (rv == 0)
            rv = rly_pb_append_bytes(b, TAG_ADDRINFO_MA, ma->bytes, ma->len);
    }
    return rv;
}

int rly_peer_record_seal(const rly_keypair *kp, const rly_peer_record *r, rly_dynbuf *out)
{
    if (r->naddrs > RLY_PEER_RECORD_MAX_ADDRS || r->peer.len > RLY_PEERID_MAX_BYTES)
        return RLY_ERR_INVALID_ARG;
    int rv = signer_is(kp, &r->peer);
    if (rv != 0)
        return rv;
    rly_dynbuf b;
    rly_dynbuf_init(&b, out->mem, RLY_ENVELOPE_MAX);
    rv = put_record(&b, r);
    if (rv == 0)
        rv = rly_envelope_seal(kp, RLY_DOMAIN_PEER_RECORD, rly_payload_type_peer_record,
                               sizeof(rly_payload_type_peer_record), b.data, b.len, out);
    rly_dynbuf_free(&b);
    return rv;
}

/* record_addrs keeps the addresses we understand, up to the cap; the rest are skipped rather
 * than failing the record, as go does with multiaddrs it cannot parse. */
static void record_addrs(rly_peer_record *r, const PeerRecord *m)
{
    r->naddrs = 0;
    for (size_t i = 0; i < m->n_addresses && r->naddrs < RLY_PEER_RECORD_MAX_ADDRS; i++) {
        const ProtobufCBinaryData *f = &m->addresses[i]->multiaddr;
        if (f->data && f->len > 0 &&
            rly_multiaddr_from_bytes(&r->addrs[r->naddrs], f->data, f->len) == 0)
            r->naddrs++;
    }
}

static int record_decode(rly_peer_record *r, const uint8_t *p, size_t len, rly_mem *mem)
{
    rly_pb_alloc a;
    rly_pb_alloc_init(&a, mem, false);
    PeerRecord *m = peer_record__unpack(&a.base, len, p);
    if (!m)
        return rly_pb_alloc_unpack_error(&a);
    int rv = peerid_field(&r->peer, &m->peer_id);
    r->seq = m->seq;
    if (rv == 0)
        record_addrs(r, m);
    peer_record__free_unpacked(m, &a.base);
    return rv;
}

int rly_peer_record_open(rly_peer_record *r, const uint8_t *p, size_t len, rly_mem *mem)
{
    rly_envelope env;
    int rv = rly_envelope_open(&env, p, len, RLY_DOMAIN_PEER_RECORD, mem);
    if (rv != 0)
        return rv;
    /* Decoded in place (the record is large for the stack); on error it is emptied below. */
    if (!has_type(&env, rly_payload_type_peer_record))
        rv = RLY_ERR_UNEXPECTED_MSG;
    else
        rv = record_decode(r, env.payload, env.payload_len, env.mem);
    /* RFC 0003: the record must be about the key that signed it. */
    if (rv == 0 && !rly_peerid_equal(&env.signer, &r->peer))
        rv = RLY_ERR_PEER_ID_MISMATCH;
    if (rv != 0) {
        r->peer.len = 0;
        r->naddrs = 0;
    }
    rly_envelope_free(&env);
    return rv;
}
