/* test_noise.c: the Noise XX session (src/proto/noise): initiator and responder wired back to
 * back in memory, every chunking, transport sizes, tampering, identities of all four key types
 * (foreign ones made with OpenSSL directly), early muxer negotiation, nonces, and a known-answer
 * transcript from an independent Python implementation (tests/vectors/noise/gen_xx_kat.py). */
#include <criterion/criterion.h>

#include <stdlib.h>

#include "core/dynbuf.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "proto/noise/noise.h"
#include "proto/noise/noise_payload.h"

#include "crypto_util.h"
#include "vecfile.h"

#define OUT_MAX (1u << 22)

TestSuite(noise);

/* ---- fixtures ------------------------------------------------------------------------------ */

typedef struct pair {
    rly_keypair ikp, rkp;
    rly_noise_identity *iid, *rid;
    rly_noise *i, *r;
    rly_dynbuf to_r, to_i; /* bytes in flight towards the responder / the initiator */
    rly_mem *mem;          /* the sessions' allocator (NULL: the default) */
} pair;

static rly_noise_identity *new_identity(rly_keypair *kp)
{
    rly_noise_identity *id = NULL;
    cr_assert_eq(rly_keypair_generate(kp), 0);
    cr_assert_eq(rly_noise_identity_new(&id, kp, NULL, NULL), 0);
    return id;
}

/* pair_sessions (re)creates both sessions over the pair's identities. */
static void pair_sessions(pair *p, const rly_noise_settings *is, const rly_noise_settings *rs,
                          const rly_peerid *expected)
{
    rly_noise_del(p->i);
    rly_noise_del(p->r);
    p->i = p->r = NULL;
    cr_assert_eq(rly_noise_new(&p->i, true, p->iid, expected, is, p->mem), 0);
    cr_assert_eq(rly_noise_new(&p->r, false, p->rid, NULL, rs, p->mem), 0);
    rly_dynbuf_reset(&p->to_r);
    rly_dynbuf_reset(&p->to_i);
}

static void pair_init(pair *p)
{
    memset(p, 0, sizeof(*p));
    p->iid = new_identity(&p->ikp);
    p->rid = new_identity(&p->rkp);
    rly_dynbuf_init(&p->to_r, NULL, OUT_MAX);
    rly_dynbuf_init(&p->to_i, NULL, OUT_MAX);
    pair_sessions(p, NULL, NULL, NULL);
}

static void pair_free(pair *p)
{
    rly_noise_del(p->i);
    rly_noise_del(p->r);
    rly_noise_identity_del(p->iid);
    rly_noise_identity_del(p->rid);
    rly_dynbuf_free(&p->to_r);
    rly_dynbuf_free(&p->to_i);
    rly_keypair_wipe(&p->ikp);
    rly_keypair_wipe(&p->rkp);
}

/* feed hands |len| bytes to |n|'s handshake in pieces of |chunk| and returns the bytes it used
 * (it stops once the handshake is over), or the first error. */
static rly_ssize feed(rly_noise *n, const uint8_t *buf, size_t len, size_t chunk, rly_dynbuf *out)
{
    size_t off = 0;
    while (off < len) {
        size_t c = len - off < chunk ? len - off : chunk;
        rly_ssize rv = rly_noise_handshake_recv(n, buf + off, c, out);
        if (rv < 0)
            return rv;
        off += (size_t)rv;
        if (rly_noise_get_state(n) != RLY_NOISE_HANDSHAKE)
            break;
    }
    return (rly_ssize)off;
}

/* deliver moves everything in |from| to |n| (|reply| collects its answer), expecting success. */
static void deliver(rly_noise *n, rly_dynbuf *from, size_t chunk, rly_dynbuf *reply)
{
    uint8_t *copy = malloc(from->len + 1);
    size_t len = from->len;
    memcpy(copy, from->data, len);
    rly_dynbuf_reset(from);
    rly_ssize rv = feed(n, copy, len, chunk, reply);
    free(copy);
    cr_assert_eq(rv, (rly_ssize)len, "feed: %td (%s)", rv, rly_strerror((int)rv));
}

/* handshake runs the three messages through with the given chunk size. */
static void handshake(pair *p, size_t chunk)
{
    cr_assert_eq(rly_noise_start(p->r, &p->to_i), 0);
    cr_assert_eq(p->to_i.len, 0);
    cr_assert_eq(rly_noise_start(p->i, &p->to_r), 0);
    cr_assert_eq(p->to_r.len, 2 + 32);
    deliver(p->r, &p->to_r, chunk, &p->to_i); /* msg1 -> msg2 */
    cr_assert_eq(rly_noise_get_state(p->r), RLY_NOISE_HANDSHAKE);
    deliver(p->i, &p->to_i, chunk, &p->to_r); /* msg2 -> msg3 */
    cr_assert_eq(rly_noise_get_state(p->i), RLY_NOISE_TRANSPORT);
    deliver(p->r, &p->to_r, chunk, &p->to_i); /* msg3 */
    cr_assert_eq(rly_noise_get_state(p->r), RLY_NOISE_TRANSPORT);
    cr_assert_eq(p->to_i.len, 0);
}

static void assert_peers(const pair *p)
{
    rly_peerid ipid, rpid;
    cr_assert_eq(rly_keypair_peerid(&p->ikp, &ipid), 0);
    cr_assert_eq(rly_keypair_peerid(&p->rkp, &rpid), 0);
    cr_assert(rly_peerid_equal(rly_noise_remote_peerid(p->r), &ipid));
    cr_assert(rly_peerid_equal(rly_noise_remote_peerid(p->i), &rpid));
    cr_assert_eq(rly_noise_remote_pubkey(p->r)->type, RLY_KEY_ED25519);
    cr_assert_arr_eq(rly_noise_remote_pubkey(p->i)->data, p->rkp.pub, 32);
}

/* transfer encrypts |len| bytes on |tx| and decrypts them on |rx| in pieces of |chunk|. */
static void transfer(rly_noise *tx, rly_noise *rx, const uint8_t *data, size_t len, size_t chunk)
{
    size_t cap = rly_noise_encrypted_len(len);
    uint8_t *ct = malloc(cap + 1);
    rly_dynbuf pt;
    rly_dynbuf_init(&pt, NULL, len + 1);
    cr_assert_eq(rly_noise_encrypt(tx, data, len, ct, cap), (rly_ssize)cap);
    for (size_t off = 0; off < cap;) {
        size_t c = cap - off < chunk ? cap - off : chunk;
        rly_ssize rv = rly_noise_decrypt(rx, ct + off, c, &pt);
        cr_assert(rv >= 0, "decrypt: %s", rly_strerror((int)rv));
        off += c;
    }
    cr_assert_eq(pt.len, len);
    if (len > 0)
        cr_assert_arr_eq(pt.data, data, len);
    rly_dynbuf_free(&pt);
    free(ct);
}

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
        p[k] = (uint8_t)(k * 31 + (k >> 8));
    return p;
}

/* ---- handshake ----------------------------------------------------------------------------- */

Test(noise, handshake)
{
    pair p;
    pair_init(&p);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_HANDSHAKE);
    cr_assert_null(rly_noise_remote_peerid(p.i));
    cr_assert_null(rly_noise_remote_pubkey(p.r));
    cr_assert_not(rly_noise_early_muxer(p.i));
    handshake(&p, SIZE_MAX);
    assert_peers(&p);
    cr_assert(rly_noise_early_muxer(p.i));
    cr_assert(rly_noise_early_muxer(p.r));
    uint64_t s, r;
    rly_noise_get_nonces(p.i, &s, &r);
    cr_assert(s == 0 && r == 0);
    static const uint8_t hello[] = "hello";
    transfer(p.i, p.r, hello, 5, SIZE_MAX);
    transfer(p.r, p.i, hello, 5, SIZE_MAX);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* Every piece size from 1 byte up to whole messages. */
Test(noise, handshake_every_chunk_size)
{
    pair p;
    pair_init(&p);
    for (size_t chunk = 1; chunk <= 260; chunk++) {
        pair_sessions(&p, NULL, NULL, NULL);
        handshake(&p, chunk);
        assert_peers(&p);
        transfer(p.i, p.r, (const uint8_t *)"x", 1, chunk);
    }
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* Each message cut in two at every point. */
Test(noise, handshake_every_split_point)
{
    pair p;
    pair_init(&p);
    for (int msg = 1; msg <= 3; msg++) {
        for (size_t cut = 1;; cut++) {
            uint8_t buf[512];
            pair_sessions(&p, NULL, NULL, NULL);
            cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
            rly_noise *rx = p.r;
            rly_dynbuf *from = &p.to_r, *reply = &p.to_i;
            for (int k = 1; k < msg; k++) {
                deliver(rx, from, SIZE_MAX, reply);
                rx = rx == p.r ? p.i : p.r;
                rly_dynbuf *t = from;
                from = reply;
                reply = t;
            }
            size_t len = from->len;
            if (cut >= len)
                break;
            memcpy(buf, from->data, len);
            rly_dynbuf_reset(from);
            cr_assert_eq(rly_noise_handshake_recv(rx, buf, cut, reply), (rly_ssize)cut);
            cr_assert_eq(rly_noise_get_state(rx), RLY_NOISE_HANDSHAKE);
            cr_assert_eq(reply->len, 0);
            cr_assert_eq(rly_noise_handshake_recv(rx, buf + cut, len - cut, reply),
                         (rly_ssize)(len - cut));
            while (rly_noise_get_state(p.r) != RLY_NOISE_TRANSPORT) {
                rx = rx == p.r ? p.i : p.r;
                rly_dynbuf *t = from;
                from = reply;
                reply = t;
                deliver(rx, from, SIZE_MAX, reply);
            }
            assert_peers(&p);
        }
    }
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* Transport bytes sent right behind msg3 in the same read stay with the caller. */
Test(noise, leftover_after_msg3)
{
    pair p;
    pair_init(&p);
    for (size_t chunk = 1; chunk <= 64; chunk += 9) {
        pair_sessions(&p, NULL, NULL, NULL);
        cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
        deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
        deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
        size_t msg3 = p.to_r.len;
        uint8_t ct[64];
        cr_assert_eq(rly_noise_encrypt(p.i, (const uint8_t *)"/yamux/1.0.0\n", 13, ct, sizeof(ct)),
                     2 + 13 + 16);
        cr_assert_eq(rly_dynbuf_append(&p.to_r, ct, 31), 0);
        uint8_t buf[512];
        size_t len = p.to_r.len;
        memcpy(buf, p.to_r.data, len);
        /* Pieces until the handshake ends; the rest goes to the transport. */
        rly_ssize used = feed(p.r, buf, len, chunk, &p.to_i);
        cr_assert_eq(used, (rly_ssize)msg3);
        cr_assert_eq(rly_noise_get_state(p.r), RLY_NOISE_TRANSPORT);
        rly_dynbuf pt;
        rly_dynbuf_init(&pt, NULL, 100);
        cr_assert_eq(rly_noise_decrypt(p.r, buf + used, len - (size_t)used, &pt), 13);
        cr_assert_arr_eq(pt.data, "/yamux/1.0.0\n", 13);
        rly_dynbuf_free(&pt);
    }
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* ---- transport ----------------------------------------------------------------------------- */

Test(noise, transport_sizes)
{
    static const size_t sizes[] = {1,     2,     100,       4096,          65518,
                                   65519, 65520, 2 * 65519, 2 * 65519 + 1, 1u << 20};
    pair p;
    pair_init(&p);
    handshake(&p, SIZE_MAX);
    uint8_t *data = pattern(1u << 20);
    for (size_t k = 0; k < RLY_ARRAY_LEN(sizes); k++) {
        transfer(p.i, p.r, data, sizes[k], SIZE_MAX);
        transfer(p.r, p.i, data, sizes[k], SIZE_MAX);
        transfer(p.i, p.r, data, sizes[k], 4093);
    }
    /* Frame layout: 65519 bytes fit one 65535-byte message, 65520 need two. */
    cr_assert_eq(rly_noise_encrypted_len(0), 0);
    cr_assert_eq(rly_noise_encrypted_len(65519), 2 + 65535);
    cr_assert_eq(rly_noise_encrypted_len(65520), 2 + 65535 + 2 + 1 + 16);
    cr_assert_eq(rly_noise_encrypted_len(1u << 20), (1u << 20) + 17 * 18);
    uint8_t *ct = malloc(2 * 65537);
    cr_assert_eq(rly_noise_encrypt(p.i, data, 65520, ct, 2 * 65537), 65537 + 19);
    cr_assert(ct[0] == 0xff && ct[1] == 0xff && ct[65537] == 0 && ct[65538] == 17);
    cr_assert_eq(rly_noise_encrypt(p.i, data, 0, ct, 0), 0);
    free(ct);
    free(data);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* decrypt_next: whole frames are decrypted where they lie; split frames come from the session's
 * buffer; every piece size works. */
Test(noise, transport_chunking)
{
    static const size_t msgs[] = {1, 100, 65519, 7, 70000};
    static const size_t chunks[] = {1, 2, 3, 17, 1000, 65536, 65537, 65538, 300000};
    pair p;
    pair_init(&p);
    handshake(&p, SIZE_MAX);
    uint8_t *data = pattern(70000);
    size_t total = 0, ctlen = 0;
    for (size_t k = 0; k < RLY_ARRAY_LEN(msgs); k++) {
        total += msgs[k];
        ctlen += rly_noise_encrypted_len(msgs[k]);
    }
    uint8_t *ct = malloc(ctlen), *work = malloc(ctlen);
    for (size_t c = 0; c < RLY_ARRAY_LEN(chunks); c++) {
        size_t off = 0;
        for (size_t k = 0; k < RLY_ARRAY_LEN(msgs); k++) {
            rly_ssize rv = rly_noise_encrypt(p.i, data, msgs[k], ct + off, ctlen - off);
            cr_assert(rv > 0);
            off += (size_t)rv;
        }
        memcpy(work, ct, ctlen);
        size_t got = 0, frames = 0, in_place = 0;
        for (off = 0; off < ctlen;) {
            size_t len = ctlen - off < chunks[c] ? ctlen - off : chunks[c];
            uint8_t *in = work + off, *pt;
            size_t inlen = len, ptlen;
            int rv;
            while ((rv = rly_noise_decrypt_next(p.r, &in, &inlen, &pt, &ptlen)) == 1) {
                frames++;
                in_place += pt >= work && pt < work + ctlen;
                got += ptlen;
            }
            cr_assert_eq(rv, 0);
            cr_assert_eq(inlen, 0);
            off += len;
        }
        cr_assert_eq(got, total);
        cr_assert_eq(frames, 6);
        if (chunks[c] >= ctlen)
            cr_assert_eq(in_place, 6, "no copy when every frame is whole");
    }
    uint64_t s, r;
    rly_noise_get_nonces(p.r, &s, &r);
    cr_assert_eq(r, 6 * RLY_ARRAY_LEN(chunks));
    free(ct);
    free(work);
    free(data);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

Test(noise, encrypt_in_place_and_args)
{
    pair p;
    pair_init(&p);
    uint8_t *buf = malloc(2 + 65535), *data = pattern(65519);
    rly_dynbuf pt;
    rly_dynbuf_init(&pt, NULL, 70000);
    cr_assert_eq(rly_noise_encrypt(p.i, data, 1, buf, 100), RLY_ERR_INVALID_STATE);
    handshake(&p, SIZE_MAX);
    memcpy(buf + 2, data, 65519);
    cr_assert_eq(rly_noise_encrypt(p.i, buf + 2, 65519, buf, 2 + 65535), 2 + 65535);
    cr_assert_eq(rly_noise_decrypt(p.r, buf, 2 + 65535, &pt), 65519);
    cr_assert_arr_eq(pt.data, data, 65519);
    /* Other overlaps and short buffers write nothing and use no nonce. */
    cr_assert_eq(rly_noise_encrypt(p.i, buf, 10, buf, 100), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_noise_encrypt(p.i, buf + 5, 10, buf, 100), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_noise_encrypt(p.i, data, 10, buf, 27), RLY_ERR_NOBUF);
    uint64_t s, r;
    rly_noise_get_nonces(p.i, &s, &r);
    cr_assert_eq(s, 1);
    cr_assert_eq(rly_noise_handshake_recv(p.i, data, 1, &pt), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_TRANSPORT);
    rly_dynbuf_free(&pt);
    free(buf);
    free(data);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* A flipped bit anywhere in a frame (past the prefix) fails authentication for good. */
Test(noise, transport_tampered)
{
    pair p;
    pair_init(&p);
    uint8_t ct[64], work[64];
    rly_dynbuf pt;
    rly_dynbuf_init(&pt, NULL, 100);
    for (size_t pos = 2; pos < 2 + 20 + 16; pos++) {
        pair_sessions(&p, NULL, NULL, NULL);
        handshake(&p, SIZE_MAX);
        cr_assert_eq(rly_noise_encrypt(p.i, (const uint8_t *)"twenty bytes of text", 20, ct, 64),
                     38);
        memcpy(work, ct, 38);
        work[pos] ^= 0x04;
        rly_dynbuf_reset(&pt);
        cr_assert_eq(rly_noise_decrypt(p.r, work, 38, &pt), RLY_ERR_CRYPTO);
        cr_assert_eq(pt.len, 0);
        cr_assert_eq(rly_noise_get_state(p.r), RLY_NOISE_FAILED);
        cr_assert_null(rly_noise_remote_peerid(p.r));
        memcpy(work, ct, 38);
        cr_assert_eq(rly_noise_decrypt(p.r, work, 38, &pt), RLY_ERR_INVALID_STATE);
        cr_assert_eq(rly_noise_encrypt(p.r, ct, 1, work, 64), RLY_ERR_INVALID_STATE);
    }
    /* A message too short to hold a tag, and a shortened prefix. */
    pair_sessions(&p, NULL, NULL, NULL);
    handshake(&p, SIZE_MAX);
    uint8_t shorty[] = {0x00, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    cr_assert_eq(rly_noise_decrypt(p.r, shorty, sizeof(shorty), &pt), RLY_ERR_MALFORMED);
    pair_sessions(&p, NULL, NULL, NULL);
    handshake(&p, SIZE_MAX);
    cr_assert_eq(rly_noise_encrypt(p.i, (const uint8_t *)"twenty bytes of text", 20, ct, 64), 38);
    ct[1]--;
    cr_assert_eq(rly_noise_decrypt(p.r, ct, 38, &pt), RLY_ERR_CRYPTO);
    rly_dynbuf_free(&pt);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

Test(noise, nonce_limits)
{
    pair p;
    pair_init(&p);
    handshake(&p, SIZE_MAX);
    uint8_t ct[200], *big = pattern(65520);
    rly_dynbuf pt;
    rly_dynbuf_init(&pt, NULL, 100);
    for (int k = 0; k < 3; k++)
        transfer(p.i, p.r, (const uint8_t *)"abc", 3, SIZE_MAX);
    uint64_t s, r;
    rly_noise_get_nonces(p.i, &s, &r);
    cr_assert(s == 3 && r == 0);
    rly_noise_get_nonces(p.r, &s, &r);
    cr_assert(s == 0 && r == 3);
    /* The last usable nonce is 2^64 - 2; 2^64 - 1 is never used. */
    rly_noise_set_nonces_for_test(p.i, UINT64_MAX - 1, 0);
    rly_noise_set_nonces_for_test(p.r, 0, UINT64_MAX - 1);
    uint8_t *bigct = malloc(2 * 65537);
    cr_assert_eq(rly_noise_encrypt(p.i, big, 65520, bigct, 2 * 65537), RLY_ERR_CLOSED);
    transfer(p.i, p.r, (const uint8_t *)"last", 4, SIZE_MAX);
    cr_assert_eq(rly_noise_encrypt(p.i, (const uint8_t *)"x", 1, ct, sizeof(ct)), RLY_ERR_CLOSED);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_TRANSPORT, "receiving still works");
    transfer(p.r, p.i, (const uint8_t *)"reply", 5, SIZE_MAX);
    /* A peer that goes past the limit broke the protocol. */
    rly_noise_set_nonces_for_test(p.i, 5, 1);
    cr_assert_eq(rly_noise_encrypt(p.i, (const uint8_t *)"x", 1, ct, sizeof(ct)), 19);
    cr_assert_eq(rly_noise_decrypt(p.r, ct, 19, &pt), RLY_ERR_PROTO);
    cr_assert_eq(rly_noise_get_state(p.r), RLY_NOISE_FAILED);
    free(bigct);
    free(big);
    rly_dynbuf_free(&pt);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* ---- failures ------------------------------------------------------------------------------ */

/* Any byte flipped in msg2 (past the prefix) fails the initiator; in msg3, the responder; in msg1
 * the responder cannot tell, and the initiator fails on msg2. */
Test(noise, handshake_tampered)
{
    pair p;
    pair_init(&p);
    for (int msg = 1; msg <= 3; msg++) {
        for (size_t pos = 2;; pos++) {
            pair_sessions(&p, NULL, NULL, NULL);
            cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
            if (msg >= 2)
                deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
            if (msg == 3)
                deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
            rly_dynbuf *b = msg == 2 ? &p.to_i : &p.to_r;
            if (pos >= b->len)
                break;
            b->data[pos] ^= 0x20;
            rly_noise *rx = msg == 2 ? p.i : p.r;
            rly_dynbuf *reply = msg == 2 ? &p.to_r : &p.to_i;
            uint8_t buf[512];
            size_t len = b->len;
            memcpy(buf, b->data, len);
            rly_dynbuf_reset(b);
            if (msg == 1) {
                cr_assert_eq(feed(rx, buf, len, SIZE_MAX, reply), (rly_ssize)len);
                len = reply->len;
                memcpy(buf, reply->data, len);
                rx = p.i;
                reply = &p.to_r;
            }
            cr_assert_eq(feed(rx, buf, len, SIZE_MAX, reply), RLY_ERR_HANDSHAKE, "msg%d pos %zu",
                         msg, pos);
            cr_assert_eq(rly_noise_get_state(rx), RLY_NOISE_FAILED);
            cr_assert_null(rly_noise_remote_peerid(rx));
            cr_assert_eq(rly_noise_handshake_recv(rx, buf, 1, reply), RLY_ERR_INVALID_STATE);
        }
    }
    pair_free(&p);
    ASSERT_NO_LEAK();
}

Test(noise, bad_messages)
{
    pair p;
    pair_init(&p);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, OUT_MAX);
    /* msg1 shorter than e; e a low-order point (all-zero DH); empty frames. */
    uint8_t m1[2 + 32] = {0x00, 0x1f};
    cr_assert_eq(rly_noise_handshake_recv(p.r, m1, 2 + 31, &out), RLY_ERR_HANDSHAKE);
    pair_sessions(&p, NULL, NULL, NULL);
    m1[1] = 0x20;
    cr_assert_eq(rly_noise_handshake_recv(p.r, m1, sizeof(m1), &out), RLY_ERR_HANDSHAKE);
    pair_sessions(&p, NULL, NULL, NULL);
    static const uint8_t empty[2] = {0, 0};
    cr_assert_eq(rly_noise_handshake_recv(p.r, empty, 2, &out), RLY_ERR_HANDSHAKE);
    /* A msg1 payload is ignored, even a maximal one (rust refuses it, go ignores it). */
    pair_sessions(&p, NULL, NULL, NULL);
    uint8_t *big = pattern(2 + 65535);
    big[0] = big[1] = 0xff;
    cr_assert_eq(rly_noise_handshake_recv(p.r, big, 2 + 65535, &out), 2 + 65535);
    cr_assert_eq(rly_noise_get_state(p.r), RLY_NOISE_HANDSHAKE);
    cr_assert(out.len > 2 + 96);
    free(big);
    /* msg2 / msg3 shorter than their fixed part. */
    pair_sessions(&p, NULL, NULL, NULL);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    uint8_t m2[2 + 95] = {0x00, 95};
    cr_assert_eq(rly_noise_handshake_recv(p.i, m2, sizeof(m2), &out), RLY_ERR_HANDSHAKE);
    pair_sessions(&p, NULL, NULL, NULL);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
    uint8_t m3[2 + 63] = {0x00, 63};
    cr_assert_eq(rly_noise_handshake_recv(p.r, m3, sizeof(m3), &out), RLY_ERR_HANDSHAKE);
    rly_dynbuf_free(&out);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* held returns the bytes |m| holds beyond |base|. */
static size_t held(const rly_mem *m, size_t base)
{
    return m->live_bytes - base;
}

/* A partial frame holds storage for the bytes received, not for the length its prefix announces
 * (issue 11 item 5: a 2-byte prefix of 65535 used to reserve 64 KiB, in the handshake and in
 * transport alike). The dynbuf doubles, so a buffer is at most 64 bytes or twice its content. */
Test(noise, partial_frame_memory_follows_bytes)
{
    static const uint8_t prefix[2] = {0xff, 0xff};
    rly_mem mem;
    rly_mem_init(&mem);
    pair p;
    memset(&p, 0, sizeof(p));
    p.iid = new_identity(&p.ikp);
    p.rid = new_identity(&p.rkp);
    rly_dynbuf_init(&p.to_r, NULL, OUT_MAX);
    rly_dynbuf_init(&p.to_i, NULL, OUT_MAX);
    p.mem = &mem;
    pair_sessions(&p, NULL, NULL, NULL);
    size_t base = mem.live_bytes;
    /* Handshake: msg1 announced at 65535 bytes, then 1000 bytes of it in pieces of 100. */
    cr_assert_eq(rly_noise_handshake_recv(p.r, prefix, 2, &p.to_i), 2);
    cr_assert_leq(held(&mem, base), 64, "after the prefix: %zu bytes", held(&mem, base));
    uint8_t *body = pattern(1000);
    for (size_t k = 0; k < 10; k++) {
        cr_assert_eq(rly_noise_handshake_recv(p.r, body + 100 * k, 100, &p.to_i), 100);
        size_t got = 2 + 100 * (k + 1);
        cr_assert_leq(held(&mem, base), 2 * got + 2, "%zu bytes for %zu", held(&mem, base), got);
    }
    cr_assert_eq(p.to_i.len, 0);
    /* Transport: the same prefix after the handshake. */
    pair_sessions(&p, NULL, NULL, NULL);
    handshake(&p, SIZE_MAX);
    base = mem.live_bytes;
    uint8_t frame[2] = {0xff, 0xff}, *in = frame, *pt = NULL;
    size_t inlen = sizeof(frame), ptlen = 0;
    cr_assert_eq(rly_noise_decrypt_next(p.r, &in, &inlen, &pt, &ptlen), 0);
    cr_assert_eq(inlen, 0);
    cr_assert_leq(held(&mem, base), 64, "after the prefix: %zu bytes", held(&mem, base));
    /* A whole maximal message still arrives, in pieces of any size. */
    pair_sessions(&p, NULL, NULL, NULL);
    handshake(&p, SIZE_MAX);
    uint8_t *big = pattern(RLY_NOISE_MAX_PLAINTEXT);
    transfer(p.i, p.r, big, RLY_NOISE_MAX_PLAINTEXT, 777);
    free(big);
    free(body);
    pair_free(&p);
    cr_assert_eq(mem.live_bytes, 0);
    ASSERT_NO_LEAK();
}

Test(noise, misuse)
{
    pair p;
    pair_init(&p);
    rly_noise *n = NULL;
    rly_peerid pid;
    rly_dynbuf small;
    cr_assert_eq(rly_keypair_peerid(&p.rkp, &pid), 0);
    cr_assert_eq(rly_noise_new(&n, false, p.rid, &pid, NULL, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_noise_new(&n, true, NULL, NULL, NULL, NULL), RLY_ERR_INVALID_ARG);
    /* The initiator must start first, and only once. */
    cr_assert_eq(rly_noise_handshake_recv(p.i, (const uint8_t *)"x", 1, &p.to_r),
                 RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), RLY_ERR_INVALID_STATE);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_HANDSHAKE);
    /* An output buffer that cannot take the message fails the session. */
    pair_sessions(&p, NULL, NULL, NULL);
    rly_dynbuf_init(&small, NULL, 10);
    cr_assert_eq(rly_noise_start(p.i, &small), RLY_ERR_NOBUF);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_FAILED);
    rly_dynbuf_free(&small);
    rly_noise_del(NULL);
    rly_noise_identity_del(NULL);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

Test(noise, expected_peer)
{
    pair p;
    rly_keypair other;
    rly_peerid good, bad;
    pair_init(&p);
    cr_assert_eq(rly_keypair_generate(&other), 0);
    cr_assert_eq(rly_keypair_peerid(&other, &bad), 0);
    cr_assert_eq(rly_keypair_peerid(&p.rkp, &good), 0);
    pair_sessions(&p, NULL, NULL, &good);
    handshake(&p, SIZE_MAX);
    assert_peers(&p);
    pair_sessions(&p, NULL, NULL, &bad);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
    cr_assert_eq(feed(p.i, p.to_i.data, p.to_i.len, SIZE_MAX, &p.to_r), RLY_ERR_PEER_ID_MISMATCH);
    cr_assert_eq(rly_noise_get_state(p.i), RLY_NOISE_FAILED);
    cr_assert_eq(p.to_r.len, 0, "no msg3 to a peer we did not dial");
    rly_keypair_wipe(&other);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* ---- identities of every key type ----------------------------------------------------------- */

/* foreign_identity makes an identity for the OpenSSL key |pk| of libp2p |type|, signing the
 * static key itself; with |forge|, the signature is over another static key. */
static rly_noise_identity *foreign_identity(int type, EVP_PKEY *pk, bool forge, rly_pubkey *pkey)
{
    uint8_t priv[32], data[1200], pb[1300], msg[24 + 32], sig[1100];
    rly_x25519_keypair s;
    size_t dlen;
    cr_assert_eq(rly_crypto_random(priv, sizeof(priv)), 0);
    cr_assert_eq(rly_x25519_from_private(&s, priv), 0);
    if (type == RLY_KEY_SECP256K1)
        dlen = sec1_point(pk, true, data, sizeof(data));
    else
        dlen = spki_der(pk, data, sizeof(data));
    size_t pblen = pubkey_pb(type, data, dlen, pb, sizeof(pb));
    cr_assert_eq(rly_pubkey_decode(pkey, pb, pblen), 0);
    memcpy(msg, RLY_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, s.pub, 32);
    msg[24 + 31] ^= forge;
    size_t siglen = ossl_sign(pk, msg, sizeof(msg), sig, sizeof(sig));
    rly_noise_identity *id = NULL;
    cr_assert_eq(rly_noise_identity_new_signed(&id, pb, pblen, sig, siglen, priv, NULL), 0);
    cr_assert_arr_eq(rly_noise_identity_static_public(id), s.pub, 32);
    return id;
}

static void foreign_case(int type, EVP_PKEY *pk)
{
    pair p;
    rly_pubkey key;
    rly_peerid pid;
    pair_init(&p);
    for (int role = 0; role < 2; role++) {
        rly_noise_identity **slot = role == 0 ? &p.iid : &p.rid;
        rly_noise_identity_del(*slot);
        *slot = foreign_identity(type, pk, false, &key);
        cr_assert_eq(rly_pubkey_to_peerid(&key, &pid), 0);
        pair_sessions(&p, NULL, NULL, role == 1 ? &pid : NULL);
        handshake(&p, SIZE_MAX);
        rly_noise *seer = role == 0 ? p.r : p.i;
        cr_assert_eq(rly_noise_remote_pubkey(seer)->type, (rly_key_type)type);
        cr_assert(rly_peerid_equal(rly_noise_remote_peerid(seer), &pid));
        transfer(p.i, p.r, (const uint8_t *)"ok", 2, SIZE_MAX);
        /* The same key signing another static key: refused. */
        rly_noise_identity_del(*slot);
        *slot = foreign_identity(type, pk, true, &key);
        pair_sessions(&p, NULL, NULL, NULL);
        cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
        deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
        /* role 0: the responder checks msg3; role 1: the initiator checks msg2. */
        rly_noise *rx = role == 0 ? p.r : p.i;
        if (role == 0)
            deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
        rly_dynbuf *in = role == 0 ? &p.to_r : &p.to_i;
        rly_ssize rv = feed(rx, in->data, in->len, SIZE_MAX, role == 0 ? &p.to_i : &p.to_r);
        cr_assert_eq(rv, RLY_ERR_SIGNATURE, "role %d: %s", role, rly_strerror((int)rv));
        cr_assert_eq(rly_noise_get_state(rx), RLY_NOISE_FAILED);
        /* Back to an honest Ed25519 identity for the other role. */
        rly_noise_identity_del(*slot);
        *slot = new_identity(role == 0 ? &p.ikp : &p.rkp);
    }
    pair_free(&p);
}

Test(noise, identity_rsa)
{
    EVP_PKEY *pk = gen_rsa(2048);
    foreign_case(RLY_KEY_RSA, pk);
    EVP_PKEY_free(pk);
    ASSERT_NO_LEAK();
}

/* refused_case runs a handshake whose initiator has the identity of |pk| (libp2p |type|) and
 * returns the responder's answer to msg3. */
static rly_ssize refused_case(int type, EVP_PKEY *pk)
{
    pair p;
    rly_pubkey key;
    pair_init(&p);
    rly_noise_identity_del(p.iid);
    p.iid = foreign_identity(type, pk, false, &key);
    pair_sessions(&p, NULL, NULL, NULL);
    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
    deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
    rly_ssize rv = feed(p.r, p.to_r.data, p.to_r.len, SIZE_MAX, &p.to_i);
    cr_assert(rv >= 0 || rly_noise_get_state(p.r) == RLY_NOISE_FAILED);
    pair_free(&p);
    return rv;
}

/* RSA identities with a public exponent above 2^31 - 1 are refused (issue 11 item 6). */
Test(noise, identity_rsa_exponent_bound)
{
    char huge[501];
    EVP_PKEY *pk = gen_rsa_exp(2048, RSA_E_MAX);
    foreign_case(RLY_KEY_RSA, pk);
    EVP_PKEY_free(pk);
    const char *refused[] = {RSA_E_OVER, rsa_e_huge(huge)};
    for (size_t i = 0; i < 2; i++) {
        pk = gen_rsa_exp(2048, refused[i]);
        cr_assert_eq(refused_case(RLY_KEY_RSA, pk), RLY_ERR_UNSUPPORTED, "e = %s", refused[i]);
        EVP_PKEY_free(pk);
    }
    ASSERT_NO_LEAK();
}

Test(noise, identity_secp256k1)
{
    EVP_PKEY *pk = gen_ec("secp256k1");
    foreign_case(RLY_KEY_SECP256K1, pk);
    EVP_PKEY_free(pk);
    ASSERT_NO_LEAK();
}

Test(noise, identity_ecdsa)
{
    EVP_PKEY *pk = gen_ec("P-256");
    foreign_case(RLY_KEY_ECDSA, pk);
    EVP_PKEY_free(pk);
    ASSERT_NO_LEAK();
}

/* An Ed25519 identity whose signature covers another static key, or is junk. */
Test(noise, identity_forged_ed25519)
{
    pair p;
    pair_init(&p);
    uint8_t priv[32], pb[64], msg[56], sig[64];
    rly_x25519_keypair other;
    rly_pubkey pk;
    cr_assert_eq(rly_crypto_random(priv, 32), 0);
    cr_assert_eq(rly_x25519_generate(&other), 0);
    rly_keypair_public(&p.ikp, &pk);
    rly_ssize pblen = rly_pubkey_encode(&pk, pb, sizeof(pb));
    memcpy(msg, RLY_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, other.pub, 32);
    cr_assert_eq(rly_keypair_sign(&p.ikp, msg, sizeof(msg), sig), 0);
    for (int junk = 0; junk < 2; junk++) {
        if (junk)
            memset(sig, 0x5a, sizeof(sig));
        rly_noise_identity_del(p.iid);
        cr_assert_eq(rly_noise_identity_new_signed(&p.iid, pb, (size_t)pblen, sig, 64, priv, NULL),
                     0);
        pair_sessions(&p, NULL, NULL, NULL);
        cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
        deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
        deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
        cr_assert_eq(feed(p.r, p.to_r.data, p.to_r.len, SIZE_MAX, &p.to_i), RLY_ERR_SIGNATURE);
    }
    /* Keys that do not decode are refused up front. */
    rly_noise_identity *id = NULL;
    cr_assert_eq(rly_noise_identity_new_signed(&id, pb, 3, sig, 64, priv, NULL), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_noise_identity_new_signed(&id, pb, (size_t)pblen, sig, 0, priv, NULL),
                 RLY_ERR_MALFORMED);
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* ---- early muxer negotiation ---------------------------------------------------------------- */

Test(noise, early_muxer)
{
    pair p;
    pair_init(&p);
    rly_noise_settings off = {.is_early_muxer_disabled = true};
    const rly_noise_settings *cases[4][2] = {
        {NULL, NULL}, {&off, NULL}, {NULL, &off}, {&off, &off}};
    for (int k = 0; k < 4; k++) {
        pair_sessions(&p, cases[k][0], cases[k][1], NULL);
        handshake(&p, SIZE_MAX);
        assert_peers(&p);
        cr_assert_eq(rly_noise_early_muxer(p.i), k == 0, "case %d", k);
        cr_assert_eq(rly_noise_early_muxer(p.r), k == 0, "case %d", k);
    }
    pair_free(&p);
    ASSERT_NO_LEAK();
}

/* ---- payload codec -------------------------------------------------------------------------- */

static size_t pb_field(uint8_t *out, unsigned num, const void *p, size_t len)
{
    out[0] = (uint8_t)(num << 3 | 2);
    out[1] = (uint8_t)len;
    memcpy(out + 2, p, len);
    return 2 + len;
}

Test(noise, payload_codec)
{
    uint8_t buf[4096], ext[2048];
    rly_noise_payload pl;
    rly_ssize n = rly_noise_payload_encode((const uint8_t *)"KEY", 3, (const uint8_t *)"SIG", 3,
                                           true, buf, sizeof(buf));
    cr_assert_eq(n, 5 + 5 + 16);
    cr_assert_eq((size_t)n, rly_noise_payload_len(3, 3, true));
    cr_assert_eq(rly_noise_payload_len(3, 3, false), 10);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, (size_t)n), 0);
    cr_assert(pl.has_yamux && pl.nmuxers == 1 && pl.identity_key_len == 3);
    cr_assert_arr_eq(pl.identity_sig, "SIG", 3);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, 10), 0);
    cr_assert(!pl.has_yamux && pl.nmuxers == 0);
    cr_assert_eq(
        rly_noise_payload_encode((const uint8_t *)"K", 1, (const uint8_t *)"S", 1, true, buf, 10),
        RLY_ERR_NOBUF);
    /* Other muxers, webtransport hashes, unknown fields of every wire type, a split extension. */
    size_t e = pb_field(ext, 2, "/mplex/6.7.0", 12);
    e += pb_field(ext + e, 1, "\x12\x20", 2);
    size_t k = pb_field(buf, 1, "KEY", 3);
    k += pb_field(buf + k, 3, "early data", 10);
    buf[k++] = 0x28; /* field 5, varint 300 */
    buf[k++] = 0xac;
    buf[k++] = 0x02;
    buf[k++] = 0x31; /* field 6, fixed64 */
    memset(buf + k, 0, 8);
    k += 8;
    buf[k++] = 0x3d; /* field 7, fixed32 */
    memset(buf + k, 0, 4);
    k += 4;
    k += pb_field(buf + k, 4, ext, e);
    k += pb_field(buf + k, 2, "SIG", 3);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, k), 0);
    cr_assert(!pl.has_yamux && pl.nmuxers == 1);
    size_t e2 = pb_field(ext, 2, "/yamux/1.0.0", 12);
    k += pb_field(buf + k, 4, ext, e2);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, k), 0);
    cr_assert(pl.has_yamux && pl.nmuxers == 2);
    /* "/yamux/1.0.0" must match exactly. */
    e = pb_field(ext, 2, "/yamux/1.0.00", 13);
    k = pb_field(buf, 1, "K", 1) + pb_field(buf + 3, 2, "S", 1);
    k += pb_field(buf + k, 4, ext, e);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, k), 0);
    cr_assert_not(pl.has_yamux);
    /* Non-minimal lengths are fine in protobuf. */
    uint8_t nm[] = {0x0a, 0x81, 0x00, 'K', 0x12, 0x01, 'S'};
    cr_assert_eq(rly_noise_payload_decode(&pl, nm, sizeof(nm)), 0);
    cr_assert_eq(pl.identity_key_len, 1);
    ASSERT_NO_LEAK();
}

Test(noise, payload_bad)
{
    uint8_t buf[4096], ext[2048];
    rly_noise_payload pl;
    /* Missing or empty key / signature; truncated; a group; field 0; a key with the wrong type. */
    static const struct {
        const char *hex;
    } bad[] = {
        {""},
        {"0a014b"},
        {"12015b"},
        {"0a00120153"},
        {"0a014b1200"},
        {"0a024b"},
        {"0a014b1201"},
        {"0a014b120153"
         "1b"},
        {"0a014b120153"
         "0200"},
        {"084b120153"},
        {"0a014b120153"
         "22021b00"},
        {"0a014b120153"
         "2202"},
        {"0a014b120153"
         "22021001"},
        {"0a014b120153"
         "ffffffffffffffffffff01"},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(bad); i++) {
        size_t n = hex_decode(bad[i].hex, buf, sizeof(buf));
        cr_assert_eq(rly_noise_payload_decode(&pl, buf, n), RLY_ERR_MALFORMED, "case %zu", i);
    }
    /* At most 100 muxers. */
    size_t e = 0;
    for (int m = 0; m < 100; m++)
        e += pb_field(ext + e, 2, "/m", 2);
    size_t k = pb_field(buf, 1, "K", 1) + pb_field(buf + 3, 2, "S", 1);
    buf[k++] = 0x22;
    buf[k++] = (uint8_t)(0x80 | (e & 0x7f));
    buf[k++] = (uint8_t)(e >> 7);
    memcpy(buf + k, ext, e);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, k + e), 0);
    cr_assert_eq(pl.nmuxers, 100);
    k += e;
    k += pb_field(buf + k, 4, "\x12\x01m", 3);
    cr_assert_eq(rly_noise_payload_decode(&pl, buf, k), RLY_ERR_MALFORMED);
    ASSERT_NO_LEAK();
}

/* ---- known-answer transcript -------------------------------------------------------------- */

typedef struct kat {
    uint8_t v[24][512];
    size_t len[24];
    char *names[24];
    int n;
} kat;

static void kat_line(const vec_line *l, void *ud)
{
    kat *k = ud;
    cr_assert(l->nf == 2 && k->n < 24);
    k->names[k->n] = strdup(l->f[0]);
    k->len[k->n] = vec_hex(l->f[1], k->v[k->n], sizeof(k->v[0]));
    k->n++;
}

static const uint8_t *kat_get(const kat *k, const char *name, size_t *plen)
{
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->names[i], name) == 0) {
            if (plen)
                *plen = k->len[i];
            return k->v[i];
        }
    cr_assert_fail("no vector %s", name);
    return NULL;
}

/* The test RNG hands out the ephemeral key of the vector. */
static int kat_rng(void *ud, uint8_t *out, size_t len)
{
    cr_assert_eq(len, 32);
    memcpy(out, ud, len);
    return 0;
}

static rly_noise_identity *kat_identity(const kat *k, const char *who, rly_keypair *kp)
{
    char name[64];
    rly_noise_identity *id = NULL;
    snprintf(name, sizeof(name), "%s_identity_seed", who);
    memcpy(kp->seed, kat_get(k, name, NULL), 32);
    cr_assert_eq(rly_ed25519_public(kp->seed, kp->pub), 0);
    snprintf(name, sizeof(name), "%s_static_priv", who);
    cr_assert_eq(rly_noise_identity_new(&id, kp, kat_get(k, name, NULL), NULL), 0);
    return id;
}

static void assert_bytes(const rly_dynbuf *b, const kat *k, const char *name)
{
    size_t len;
    const uint8_t *want = kat_get(k, name, &len);
    cr_assert_eq(b->len, len, "%s: length %zu, want %zu", name, b->len, len);
    cr_assert_arr_eq(b->data, want, len, "%s differs", name);
}

Test(noise, known_answer)
{
    static kat k;
    cr_assert_eq(vec_each("noise/xx_kat.txt", kat_line, &k), 20);
    pair p;
    memset(&p, 0, sizeof(p));
    p.iid = kat_identity(&k, "init", &p.ikp);
    p.rid = kat_identity(&k, "resp", &p.rkp);
    rly_dynbuf_init(&p.to_r, NULL, OUT_MAX);
    rly_dynbuf_init(&p.to_i, NULL, OUT_MAX);
    uint8_t ie[32], re[32];
    memcpy(ie, kat_get(&k, "init_ephemeral_priv", NULL), 32);
    memcpy(re, kat_get(&k, "resp_ephemeral_priv", NULL), 32);
    rly_noise_settings is = {.rng = kat_rng, .rng_user_data = ie};
    rly_noise_settings rs = {.rng = kat_rng, .rng_user_data = re};
    pair_sessions(&p, &is, &rs, NULL);

    cr_assert_eq(rly_noise_start(p.i, &p.to_r), 0);
    assert_bytes(&p.to_r, &k, "msg1");
    deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
    assert_bytes(&p.to_i, &k, "msg2");
    deliver(p.i, &p.to_i, SIZE_MAX, &p.to_r);
    assert_bytes(&p.to_r, &k, "msg3");
    deliver(p.r, &p.to_r, SIZE_MAX, &p.to_i);
    assert_peers(&p);
    cr_assert(rly_noise_early_muxer(p.r));

    /* Our initiator's frames equal the vector's (the empty message is nonce 1). */
    uint8_t ct[256];
    size_t plen, flen;
    const uint8_t *pt0 = kat_get(&k, "i2r_plain_0", &plen), *f0 = kat_get(&k, "i2r_frame_0", &flen);
    cr_assert_eq(rly_noise_encrypt(p.i, pt0, plen, ct, sizeof(ct)), (rly_ssize)flen);
    cr_assert_arr_eq(ct, f0, flen);
    rly_noise_set_nonces_for_test(p.i, 2, 0);
    const uint8_t *pt2 = kat_get(&k, "i2r_plain_2", &plen), *f2 = kat_get(&k, "i2r_frame_2", &flen);
    cr_assert_eq(rly_noise_encrypt(p.i, pt2, plen, ct, sizeof(ct)), (rly_ssize)flen);
    cr_assert_arr_eq(ct, f2, flen);
    size_t rflen;
    const uint8_t *rpt = kat_get(&k, "r2i_plain_0", &plen),
                  *rf = kat_get(&k, "r2i_frame_0", &rflen);
    cr_assert_eq(rly_noise_encrypt(p.r, rpt, plen, ct, sizeof(ct)), (rly_ssize)rflen);
    cr_assert_arr_eq(ct, rf, rflen);

    /* The responder reads the vector's three frames, the empty one included, from one buffer. */
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "i2r_frame_%d", i);
        const uint8_t *f = kat_get(&k, name, &flen);
        memcpy(ct + off, f, flen);
        off += flen;
    }
    uint8_t *in = ct, *pt;
    size_t inlen = off, ptlen;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "i2r_plain_%d", i);
        const uint8_t *want = kat_get(&k, name, &plen);
        cr_assert_eq(rly_noise_decrypt_next(p.r, &in, &inlen, &pt, &ptlen), 1);
        cr_assert_eq(ptlen, plen);
        if (plen)
            cr_assert_arr_eq(pt, want, plen);
    }
    cr_assert_eq(rly_noise_decrypt_next(p.r, &in, &inlen, &pt, &ptlen), 0);
    memcpy(ct, rf, rflen);
    rly_dynbuf_reset(&p.to_i);
    cr_assert_eq(rly_noise_decrypt(p.i, ct, rflen, &p.to_i), (rly_ssize)(rflen - 18));
    cr_assert_arr_eq(p.to_i.data, rpt, rflen - 18);

    for (int i = 0; i < k.n; i++)
        free(k.names[i]);
    pair_free(&p);
    ASSERT_NO_LEAK();
}
