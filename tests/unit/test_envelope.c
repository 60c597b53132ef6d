/* test_envelope.c: signed envelopes, reservation vouchers and peer records
 * (src/crypto/envelope.h; PROTOCOLS.md 6 and 8.3). */
#include <criterion/criterion.h>

#include <openssl/evp.h>

#include "core/dynbuf.h"
#include "core/multiaddr.h"
#include "core/peerid.h"
#include "crypto/envelope.h"
#include "crypto_util.h"

#define EXPIRATION UINT64_C(1735689600)

TestSuite(envelope);

/* relay_kp is the spec's Ed25519 private key; peer_kp the RFC 8032 test 1 key. Both are fixed,
 * so sealed bytes are reproducible (Ed25519 signatures are deterministic). */
static void relay_kp(rly_keypair *kp)
{
    uint8_t pb[128];
    size_t n = read_hex("ed25519_private.hex", pb, sizeof(pb));
    cr_assert_eq(rly_keypair_decode(kp, pb, n), 0);
}

static void peer_kp(rly_keypair *kp)
{
    cr_assert_eq(read_hex("rfc8032_1_seed.hex", kp->seed, sizeof(kp->seed)), 32);
    cr_assert_eq(read_hex("rfc8032_1_pub.hex", kp->pub, sizeof(kp->pub)), 32);
}

static void make_voucher(rly_voucher *v, const rly_keypair *relay, const rly_keypair *peer)
{
    cr_assert_eq(rly_keypair_peerid(relay, &v->relay), 0);
    cr_assert_eq(rly_keypair_peerid(peer, &v->peer), 0);
    v->expiration = EXPIRATION;
}

/* put appends tag || len || data (len < 16384) at |*off|. */
static void put(uint8_t *out, size_t *off, uint8_t tag, const uint8_t *data, size_t len)
{
    out[(*off)++] = tag;
    if (len < 128) {
        out[(*off)++] = (uint8_t)len;
    } else {
        out[(*off)++] = (uint8_t)(0x80 | (len & 0x7f));
        out[(*off)++] = (uint8_t)(len >> 7);
    }
    memcpy(out + *off, data, len);
    *off += len;
}

/* PROTOCOLS.md 8.3: 0a 24 <R PublicKey> 12 02 03 02 1a <len> <Voucher> 2a 40 <sig>, the signature
 * made here with OpenSSL directly over 11 "libp2p-relay-rsvp" 02 03 02 <len> <Voucher>. */
Test(envelope, voucher_exact_layout)
{
    rly_keypair relay, peer;
    rly_voucher v;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);

    uint8_t pubpb[64], voucher[128], tbs[256], want[512], sig[64];
    size_t pn = read_hex("ed25519_public.hex", pubpb, sizeof(pubpb));
    size_t vn = 0, tn = 0, wn = 0;
    put(voucher, &vn, 0x0a, v.relay.bytes, v.relay.len);
    put(voucher, &vn, 0x12, v.peer.bytes, v.peer.len);
    /* 1735689600 as a protobuf varint. */
    static const uint8_t exp[] = {0x18, 0x80, 0x8b, 0xd2, 0xbb, 0x06};
    memcpy(voucher + vn, exp, sizeof(exp));
    vn += sizeof(exp);
    cr_assert_eq(vn, 86);

    tbs[tn++] = 17;
    memcpy(tbs + tn, "libp2p-relay-rsvp", 17);
    tn += 17;
    tbs[tn++] = 2;
    tbs[tn++] = 0x03;
    tbs[tn++] = 0x02;
    tbs[tn++] = (uint8_t)vn;
    memcpy(tbs + tn, voucher, vn);
    tn += vn;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, relay.seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = sizeof(sig);
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), 1);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &sl, tbs, tn), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);

    put(want, &wn, 0x0a, pubpb, pn);
    put(want, &wn, 0x12, rly_payload_type_voucher, 2);
    put(want, &wn, 0x1a, voucher, vn);
    put(want, &wn, 0x2a, sig, sl);
    cr_assert_eq(want[1], 0x24);

    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), 0);
    cr_assert_eq(out.len, wn);
    cr_assert_arr_eq(out.data, want, wn);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

Test(envelope, voucher_roundtrip)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    rly_envelope env;
    relay_kp(&relay);
    cr_assert_eq(rly_keypair_generate(&peer), 0);
    make_voucher(&v, &relay, &peer);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), 0);

    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), 0);
    cr_assert(rly_peerid_equal(&got.relay, &v.relay));
    cr_assert(rly_peerid_equal(&got.peer, &v.peer));
    cr_assert_eq(got.expiration, EXPIRATION);

    cr_assert_eq(rly_envelope_open(&env, out.data, out.len, RLY_DOMAIN_RELAY_RSVP, NULL), 0);
    cr_assert(rly_peerid_equal(&env.signer, &v.relay));
    cr_assert_eq(env.payload_type_len, 2);
    cr_assert_arr_eq(env.payload_type, rly_payload_type_voucher, 2);
    cr_assert_eq(env.key.type, RLY_KEY_ED25519);
    rly_envelope_free(&env);
    rly_envelope_free(NULL);

    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    rly_keypair_wipe(&peer);
    ASSERT_NO_LEAK();
}

Test(envelope, wrong_domain_fails)
{
    rly_keypair relay, peer;
    rly_voucher v;
    rly_envelope env;
    rly_peer_record *r = rly_calloc(NULL, 1, sizeof(*r));
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), 0);
    cr_assert_eq(rly_envelope_open(&env, out.data, out.len, RLY_DOMAIN_PEER_RECORD, NULL),
                 RLY_ERR_SIGNATURE);
    cr_assert_null(env.payload);
    cr_assert_eq(rly_envelope_open(&env, out.data, out.len, "libp2p-relay-rsvq", NULL),
                 RLY_ERR_SIGNATURE);
    cr_assert_eq(rly_peer_record_open(r, out.data, out.len, NULL), RLY_ERR_SIGNATURE);
    rly_free(NULL, r);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

Test(envelope, tampered_fails)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), 0);
    /* Layout: 38 bytes of key, 4 of type, then 1a 56 <voucher>: byte 50 is in the relay ID. */
    out.data[50] ^= 0x01;
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_SIGNATURE);
    out.data[50] ^= 0x01;
    /* The expiration, the last byte of the signature, the payload type. */
    out.data[127] ^= 0x01;
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_SIGNATURE);
    out.data[127] ^= 0x01;
    out.data[out.len - 1] ^= 0x01;
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_SIGNATURE);
    out.data[out.len - 1] ^= 0x01;
    out.data[41] = 0x01;
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_SIGNATURE);
    out.data[41] = 0x02;
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), 0);
    /* Truncated anywhere: never opens. */
    for (size_t n = 0; n < out.len; n++)
        cr_assert_neq(rly_voucher_open(&got, out.data, n, NULL), 0, "len %zu", n);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

Test(envelope, payload_type_mismatch)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    /* A voucher payload, correctly signed for the rsvp domain, but typed as a peer record. */
    uint8_t payload[128];
    size_t pn = 0;
    put(payload, &pn, 0x0a, v.relay.bytes, v.relay.len);
    put(payload, &pn, 0x12, v.peer.bytes, v.peer.len);
    payload[pn++] = 0x18;
    payload[pn++] = 0x01;
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_envelope_seal(&relay, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_peer_record, 2,
                                   payload, pn, &out),
                 0);
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_UNEXPECTED_MSG);
    /* Same payload, right type: opens. */
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_envelope_seal(&relay, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_voucher, 2,
                                   payload, pn, &out),
                 0);
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), 0);
    cr_assert_eq(got.expiration, 1);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

/* go clients require the voucher's signer to be its relay (PROTOCOLS.md 8.3). */
Test(envelope, voucher_signer_not_relay)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    /* rly_voucher_seal refuses to sign for another relay and leaves |out| alone. */
    cr_assert_eq(rly_voucher_seal(&peer, &v, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(out.len, 0);

    uint8_t payload[128];
    size_t pn = 0;
    put(payload, &pn, 0x0a, v.relay.bytes, v.relay.len);
    put(payload, &pn, 0x12, v.peer.bytes, v.peer.len);
    payload[pn++] = 0x18;
    payload[pn++] = 0x07;
    cr_assert_eq(rly_envelope_seal(&peer, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_voucher, 2,
                                   payload, pn, &out),
                 0);
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_PEER_ID_MISMATCH);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

static void make_record(rly_peer_record *r, const rly_keypair *kp)
{
    cr_assert_eq(rly_keypair_peerid(kp, &r->peer), 0);
    r->seq = UINT64_C(1700000000123);
    r->naddrs = 2;
    cr_assert_eq(rly_multiaddr_parse(&r->addrs[0], "/ip4/203.0.113.7/tcp/4001"), 0);
    cr_assert_eq(rly_multiaddr_parse(&r->addrs[1], "/ip6/2001:db8::1/udp/4001/quic-v1"), 0);
}

Test(envelope, peer_record_roundtrip)
{
    rly_keypair kp;
    rly_peer_record *r = rly_calloc(NULL, 1, sizeof(*r));
    rly_peer_record *got = rly_calloc(NULL, 1, sizeof(*got));
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    make_record(r, &kp);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_peer_record_seal(&kp, r, &out), 0);
    cr_assert_eq(rly_peer_record_open(got, out.data, out.len, NULL), 0);
    cr_assert(rly_peerid_equal(&got->peer, &r->peer));
    cr_assert_eq(got->seq, r->seq);
    cr_assert_eq(got->naddrs, 2);
    cr_assert(rly_multiaddr_equal(&got->addrs[0], &r->addrs[0]));
    cr_assert(rly_multiaddr_equal(&got->addrs[1], &r->addrs[1]));
    /* A peer record is not a voucher. */
    rly_voucher v;
    cr_assert_eq(rly_voucher_open(&v, out.data, out.len, NULL), RLY_ERR_SIGNATURE);

    /* A record about someone else is refused when sealing... */
    rly_keypair other;
    cr_assert_eq(rly_keypair_generate(&other), 0);
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_peer_record_seal(&other, r, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(out.len, 0);
    /* ...and when opening. */
    uint8_t payload[64];
    size_t pn = 0;
    put(payload, &pn, 0x0a, r->peer.bytes, r->peer.len);
    cr_assert_eq(rly_envelope_seal(&other, RLY_DOMAIN_PEER_RECORD, rly_payload_type_peer_record, 2,
                                   payload, pn, &out),
                 RLY_OK);
    /* seq is required in our schema: missing, the record is malformed. */
    cr_assert_eq(rly_peer_record_open(got, out.data, out.len, NULL), RLY_ERR_MALFORMED);
    rly_dynbuf_reset(&out);
    payload[pn++] = 0x10;
    payload[pn++] = 0x05;
    cr_assert_eq(rly_envelope_seal(&other, RLY_DOMAIN_PEER_RECORD, rly_payload_type_peer_record, 2,
                                   payload, pn, &out),
                 RLY_OK);
    cr_assert_eq(rly_peer_record_open(got, out.data, out.len, NULL), RLY_ERR_PEER_ID_MISMATCH);

    rly_free(NULL, r);
    rly_free(NULL, got);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&kp);
    rly_keypair_wipe(&other);
    ASSERT_NO_LEAK();
}

/* Unparsable addresses are skipped, not fatal; more than the cap are dropped. */
Test(envelope, peer_record_bad_and_many_addrs)
{
    rly_keypair kp;
    rly_peerid pid;
    rly_peer_record *got = rly_calloc(NULL, 1, sizeof(*got));
    static uint8_t payload[4096];
    size_t pn = 0;
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    cr_assert_eq(rly_keypair_peerid(&kp, &pid), 0);
    put(payload, &pn, 0x0a, pid.bytes, pid.len);
    payload[pn++] = 0x10;
    payload[pn++] = 0x01;
    static const uint8_t bad_ma[] = {0x0a, 0x03, 0xff, 0xff, 0x7f}; /* AddressInfo, unknown code */
    static const uint8_t good_ma[] = {0x0a, 0x08, 0x04, 0xcb, 0x00, 0x71, 0x07, 0x06, 0x0f, 0xa1};
    put(payload, &pn, 0x1a, bad_ma, sizeof(bad_ma));
    for (int i = 0; i < RLY_PEER_RECORD_MAX_ADDRS + 5; i++)
        put(payload, &pn, 0x1a, good_ma, sizeof(good_ma));
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_envelope_seal(&kp, RLY_DOMAIN_PEER_RECORD, rly_payload_type_peer_record, 2,
                                   payload, pn, &out),
                 0);
    cr_assert_eq(rly_peer_record_open(got, out.data, out.len, NULL), 0);
    cr_assert_eq(got->naddrs, RLY_PEER_RECORD_MAX_ADDRS);
    char s[RLY_MULTIADDR_STR_MAX];
    cr_assert(rly_multiaddr_to_string(&got->addrs[0], s, sizeof(s)) > 0);
    cr_assert_str_eq(s, "/ip4/203.0.113.7/tcp/4001");
    rly_free(NULL, got);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&kp);
    ASSERT_NO_LEAK();
}

/* An envelope signed with a secp256k1 key (made with OpenSSL, by hand): the signer's peer ID is
 * the key's, and the record opens. */
Test(envelope, foreign_secp256k1_signer)
{
    EVP_PKEY *pk = gen_ec("secp256k1");
    uint8_t point[65], keypb[64], payload[128], tbs[256], sig[80], env[512];
    size_t ptn = sec1_point(pk, true, point, sizeof(point));
    size_t kn = pubkey_pb(RLY_KEY_SECP256K1, point, ptn, keypb, sizeof(keypb));
    rly_pubkey k;
    rly_peerid pid;
    cr_assert_eq(rly_pubkey_decode(&k, keypb, kn), 0);
    cr_assert_eq(rly_pubkey_to_peerid(&k, &pid), 0);

    size_t pn = 0, tn = 0, en = 0;
    put(payload, &pn, 0x0a, pid.bytes, pid.len);
    payload[pn++] = 0x10;
    payload[pn++] = 0x2a;
    tbs[tn++] = 18;
    memcpy(tbs + tn, "libp2p-peer-record", 18);
    tn += 18;
    tbs[tn++] = 2;
    tbs[tn++] = 0x03;
    tbs[tn++] = 0x01;
    tbs[tn++] = (uint8_t)pn;
    memcpy(tbs + tn, payload, pn);
    tn += pn;
    size_t sl = ossl_sign(pk, tbs, tn, sig, sizeof(sig));
    EVP_PKEY_free(pk);

    put(env, &en, 0x0a, keypb, kn);
    put(env, &en, 0x12, rly_payload_type_peer_record, 2);
    put(env, &en, 0x1a, payload, pn);
    put(env, &en, 0x2a, sig, sl);
    rly_peer_record *r = rly_calloc(NULL, 1, sizeof(*r));
    cr_assert_eq(rly_peer_record_open(r, env, en, NULL), 0);
    cr_assert(rly_peerid_equal(&r->peer, &pid));
    cr_assert_eq(r->seq, 42);
    cr_assert_eq(r->naddrs, 0);
    char s[RLY_PEERID_STR_MAX];
    cr_assert(rly_peerid_to_string(&r->peer, s, sizeof(s)) > 0);
    cr_assert(strncmp(s, "16Uiu2HA", 8) == 0, "%s", s);
    rly_free(NULL, r);
    ASSERT_NO_LEAK();
}

Test(envelope, limits_and_errors)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    rly_envelope env;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    static uint8_t big[RLY_ENVELOPE_MAX + 1];
    cr_assert_eq(rly_envelope_open(&env, big, sizeof(big), RLY_DOMAIN_RELAY_RSVP, NULL),
                 RLY_ERR_NOBUF);
    cr_assert_eq(rly_envelope_open(&env, big, 0, RLY_DOMAIN_RELAY_RSVP, NULL), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_envelope_open(&env, NULL, 0, RLY_DOMAIN_RELAY_RSVP, NULL), RLY_ERR_MALFORMED);
    memset(big, 0xff, 64);
    cr_assert_eq(rly_voucher_open(&got, big, 64, NULL), RLY_ERR_MALFORMED);

    /* An output buffer too small: NOBUF and nothing appended. */
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 100);
    cr_assert_eq(rly_dynbuf_append(&out, "x", 1), 0);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 1);
    /* A payload larger than an envelope may be. */
    rly_dynbuf_free(&out);
    rly_dynbuf_init(&out, NULL, 4 * RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_envelope_seal(&relay, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_voucher, 2, big,
                                   RLY_ENVELOPE_MAX - 50, &out),
                 RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(rly_envelope_seal(&relay, RLY_DOMAIN_RELAY_RSVP, big, 17, big, 1, &out),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_envelope_seal(&relay, "", rly_payload_type_voucher, 2, big, 1, &out),
                 RLY_ERR_INVALID_ARG);
    /* An empty payload is allowed by the envelope layer. */
    cr_assert_eq(rly_envelope_seal(&relay, RLY_DOMAIN_RELAY_RSVP, rly_payload_type_voucher, 2, NULL,
                                   0, &out),
                 0);
    cr_assert_eq(rly_envelope_open(&env, out.data, out.len, RLY_DOMAIN_RELAY_RSVP, NULL), 0);
    cr_assert_eq(env.payload_len, 0);
    cr_assert_not_null(env.payload);
    rly_envelope_free(&env);
    cr_assert_eq(rly_voucher_open(&got, out.data, out.len, NULL), RLY_ERR_MALFORMED);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}

/* Every allocation of an open failing in turn: a clean error each time, never a leak. */
Test(envelope, open_nomem_torture)
{
    rly_keypair relay, peer;
    rly_voucher v, got;
    relay_kp(&relay);
    peer_kp(&peer);
    make_voucher(&v, &relay, &peer);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_ENVELOPE_MAX);
    cr_assert_eq(rly_voucher_seal(&relay, &v, &out), 0);
    rly_mem *mem = rly_mem_default();
    size_t base = mem->live_bytes;
    bool saw_nomem = false;
    for (uint64_t i = 1; i < 50; i++) {
        mem->fail_nth = mem->nattempts + i;
        int rv = rly_voucher_open(&got, out.data, out.len, NULL);
        mem->fail_nth = 0;
        cr_assert(rv == 0 || rv == RLY_ERR_NOMEM, "step %" PRIu64 ": %d", i, rv);
        cr_assert_eq(mem->live_bytes, base);
        saw_nomem |= rv == RLY_ERR_NOMEM;
        if (rv == 0)
            break;
    }
    cr_assert(saw_nomem);
    rly_dynbuf_free(&out);
    rly_keypair_wipe(&relay);
    ASSERT_NO_LEAK();
}
