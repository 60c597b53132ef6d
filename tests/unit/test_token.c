/* test_token.c: signed peer tokens (src/proto/auth/token.h): the vector of
 * tests/vectors/token/token.txt (made by gen.py from the specification alone, with Python's
 * cryptography package), minting it byte for byte, opening it, every check, and every way a
 * token can be malformed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "crypto/envelope.h"
#include "proto/auth/token.h"

#define VEC_PATH RLY_VECTORS_DIR "/token/token.txt"

static char vec_text[8192];

/* vec returns the value of |key| in the vector file. */
static const char *vec(const char *key)
{
    static char value[4096];
    if (vec_text[0] == '\0') {
        FILE *f = fopen(VEC_PATH, "r");
        cr_assert_not_null(f, "%s", VEC_PATH);
        size_t n = fread(vec_text, 1, sizeof(vec_text) - 1, f);
        fclose(f);
        vec_text[n] = '\0';
    }
    size_t klen = strlen(key);
    for (const char *p = vec_text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(value, sizeof(value), "%.*s", (int)(n - klen - 1), p + klen + 1);
            return value;
        }
        p += n + (p[n] == '\n');
    }
    cr_assert_fail("no %s in %s", key, VEC_PATH);
    return NULL;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    cr_assert_leq(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static rly_peerid pid(const char *key)
{
    rly_peerid p;
    const char *s = vec(key);
    cr_assert_eq(rly_peerid_parse(&p, s, strlen(s)), 0, "%s", s);
    return p;
}

/* The control plane's key: RFC 8032 test 1 (its public key comes from the seed). */
static void control_plane(rly_keypair *kp)
{
    uint8_t seed[32];
    cr_assert_eq(unhex(vec("control_plane_seed"), seed, sizeof(seed)), 32);
    /* A PrivateKey protobuf: type Ed25519, 64 bytes seed || public key. Derive the public key by
     * signing nothing: rly_keypair_decode checks the pair, so build it through generate's
     * layout: seed, then the public key from the vector's control-plane PeerId. */
    rly_peerid cp = pid("control_plane");
    rly_pubkey pub;
    cr_assert_eq(rly_pubkey_from_peerid(&pub, &cp), 0);
    uint8_t pb[4 + 64];
    pb[0] = 0x08;
    pb[1] = 0x01;
    pb[2] = 0x12;
    pb[3] = 64;
    memcpy(pb + 4, seed, 32);
    uint8_t pubpb[64];
    rly_ssize k = rly_pubkey_encode(&pub, pubpb, sizeof(pubpb));
    cr_assert_eq(k, 36);
    memcpy(pb + 36, pubpb + 4, 32);
    cr_assert_eq(rly_keypair_decode(kp, pb, sizeof(pb)), 0);
}

static rly_token vector_token(void)
{
    rly_token t;
    memset(&t, 0, sizeof(t));
    t.peer = pid("peer");
    t.expiry = strtoull(vec("expiry"), NULL, 10);
    t.issued = strtoull(vec("issued"), NULL, 10);
    t.relays[0] = pid("relay");
    t.nrelays = 1;
    snprintf(t.cls, sizeof(t.cls), "%s", vec("class"));
    t.id_len = unhex(vec("id"), t.id, sizeof(t.id));
    return t;
}

static void done(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",
                 rly_mem_default()->live_bytes);
}

Test(token, mint_gives_the_vector_byte_for_byte)
{
    rly_keypair kp;
    control_plane(&kp);
    rly_token t = vector_token();
    char out[RLY_TOKEN_TEXT_MAX + 1];
    rly_ssize n = rly_token_mint(&kp, &t, out, sizeof(out), NULL);
    cr_assert_gt(n, 0);
    cr_assert_str_eq(out, vec("token"));
    cr_assert_eq((size_t)n, strlen(out));
    done();
}

Test(token, open_reads_the_vector)
{
    const char *text = vec("token");
    rly_token t;
    cr_assert_eq(rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL), 0);
    rly_token want = vector_token();
    rly_peerid cp = pid("control_plane");
    cr_assert(rly_peerid_equal(&t.peer, &want.peer));
    cr_assert(rly_peerid_equal(&t.signer, &cp));
    cr_assert_eq(t.expiry, want.expiry);
    cr_assert_eq(t.issued, want.issued);
    cr_assert_eq(t.nrelays, 1);
    cr_assert(rly_peerid_equal(&t.relays[0], &want.relays[0]));
    cr_assert_str_eq(t.cls, "trusted");
    char hex[RLY_TOKEN_ID_HEX_MAX];
    rly_token_id_hex(&t, hex);
    cr_assert_str_eq(hex, vec("id"));
    done();
}

Test(token, check_every_verdict)
{
    const char *text = vec("token");
    rly_token t;
    cr_assert_eq(rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL), 0);
    rly_peerid cp = pid("control_plane"), peer = pid("peer"), relay = pid("relay");
    rly_peerid other = pid("control_plane"); /* any other PeerId */
    rly_peerid keys[2] = {relay, cp};
    cr_assert_eq(rly_token_check(&t, keys, 2, &peer, &relay, t.expiry - 1), RLY_TOKEN_OK);
    cr_assert_eq(rly_token_check(&t, keys, 1, &peer, &relay, 0), RLY_TOKEN_UNKNOWN_SIGNER);
    cr_assert_eq(rly_token_check(&t, keys, 0, &peer, &relay, 0), RLY_TOKEN_UNKNOWN_SIGNER);
    cr_assert_eq(rly_token_check(&t, keys, 2, &other, &relay, 0), RLY_TOKEN_OTHER_PEER);
    cr_assert_eq(rly_token_check(&t, keys, 2, &peer, &relay, t.expiry), RLY_TOKEN_EXPIRED);
    cr_assert_eq(rly_token_check(&t, keys, 2, &peer, &other, 0), RLY_TOKEN_OTHER_RELAY);
    t.nrelays = 0; /* any relay */
    cr_assert_eq(rly_token_check(&t, keys, 2, &peer, &other, 0), RLY_TOKEN_OK);
    cr_assert_str_eq(rly_token_verdict_text(RLY_TOKEN_EXPIRED), "expired token");
    done();
}

/* reseal signs |payload| as a token with the vector's control-plane key; the text into |out|. */
static void reseal(const uint8_t *payload, size_t plen, const char *domain, const char *ptype,
                   char *out, size_t cap)
{
    rly_keypair kp;
    rly_dynbuf env;
    control_plane(&kp);
    rly_dynbuf_init(&env, NULL, 4096);
    cr_assert_eq(
        rly_envelope_seal(&kp, domain, (const uint8_t *)ptype, strlen(ptype), payload, plen, &env),
        0);
    memcpy(out, "v2.", 3);
    cr_assert_gt(rly_base64url_encode(env.data, env.len, out + 3, cap - 3), 0);
    rly_dynbuf_free(&env);
}

static int open_payload(const uint8_t *payload, size_t plen)
{
    char text[2048];
    rly_token t;
    reseal(payload, plen, RLY_TOKEN_DOMAIN, RLY_TOKEN_PAYLOAD_TYPE, text, sizeof(text));
    int rv = rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL);
    done();
    return rv;
}

Test(token, resealed_vector_payload_opens)
{
    uint8_t p[512];
    size_t n = unhex(vec("payload"), p, sizeof(p));
    cr_assert_eq(open_payload(p, n), 0);
}

Test(token, malformed_payloads)
{
    uint8_t p[512], q[600];
    size_t n = unhex(vec("payload"), p, sizeof(p));
    /* Without a required field: peer (bytes 0..39), then expiry, id. */
    cr_assert_eq(open_payload(p + 40, n - 40), RLY_ERR_MALFORMED);
    /* A field twice: the payload then its peer again. */
    memcpy(q, p, n);
    memcpy(q + n, p, 40);
    cr_assert_eq(open_payload(q, n + 40), RLY_ERR_MALFORMED);
    /* An unknown field (7, varint). */
    memcpy(q, p, n);
    q[n] = 7 << 3;
    q[n + 1] = 1;
    cr_assert_eq(open_payload(q, n + 2), RLY_ERR_MALFORMED);
    /* The right number with the wrong wire type: expiry as bytes. */
    uint8_t bad[] = {0x12, 0x01, 0x01};
    memcpy(q, p, 40);
    memcpy(q + 40, bad, sizeof(bad));
    cr_assert_eq(open_payload(q, 40 + sizeof(bad)), RLY_ERR_MALFORMED);
    /* A truncated payload. */
    cr_assert_eq(open_payload(p, n - 1), RLY_ERR_MALFORMED);
    /* An empty payload. */
    cr_assert_eq(open_payload(p, 0), RLY_ERR_MALFORMED);
}

Test(token, field_bounds)
{
    rly_keypair kp;
    control_plane(&kp);
    char out[RLY_TOKEN_TEXT_MAX + 1];
    rly_token t = vector_token();
    t.expiry = 0;
    cr_assert_eq(rly_token_mint(&kp, &t, out, sizeof(out), NULL), RLY_ERR_INVALID_ARG);
    t = vector_token();
    t.expiry = (uint64_t)INT64_MAX + 1;
    cr_assert_eq(rly_token_mint(&kp, &t, out, sizeof(out), NULL), RLY_ERR_INVALID_ARG);
    t = vector_token();
    t.id_len = 0;
    cr_assert_eq(rly_token_mint(&kp, &t, out, sizeof(out), NULL), RLY_ERR_INVALID_ARG);
    t = vector_token();
    snprintf(t.cls, sizeof(t.cls), "Trusted");
    cr_assert_eq(rly_token_mint(&kp, &t, out, sizeof(out), NULL), RLY_ERR_INVALID_ARG);
    t = vector_token();
    t.nrelays = RLY_TOKEN_MAX_RELAYS + 1;
    cr_assert_eq(rly_token_mint(&kp, &t, out, sizeof(out), NULL), RLY_ERR_INVALID_ARG);
    /* The most relays fit the text limit. */
    t = vector_token();
    for (size_t i = 0; i < RLY_TOKEN_MAX_RELAYS; i++)
        t.relays[i] = t.relays[0];
    t.nrelays = RLY_TOKEN_MAX_RELAYS;
    t.id_len = RLY_TOKEN_ID_MAX;
    memset(t.cls, 'a', RLY_TOKEN_CLASS_MAX);
    t.cls[RLY_TOKEN_CLASS_MAX] = '\0';
    rly_ssize n = rly_token_mint(&kp, &t, out, sizeof(out), NULL);
    cr_assert_gt(n, 0, "%zd", (ssize_t)n);
    rly_token back;
    cr_assert_eq(rly_token_open(&back, (const uint8_t *)out, (size_t)n, NULL), 0);
    cr_assert_eq(back.nrelays, RLY_TOKEN_MAX_RELAYS);
    cr_assert_eq(rly_token_mint(&kp, &t, out, 40, NULL), RLY_ERR_NOBUF);
    done();
}

Test(token, wrong_domain_type_signature_or_text)
{
    uint8_t p[512];
    size_t n = unhex(vec("payload"), p, sizeof(p));
    char text[2048];
    rly_token t;
    reseal(p, n, "libp2p-relay-rsvp", RLY_TOKEN_PAYLOAD_TYPE, text, sizeof(text));
    cr_assert_eq(rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL), RLY_ERR_SIGNATURE);
    reseal(p, n, RLY_TOKEN_DOMAIN, "/meshnet/token/2", text, sizeof(text));
    cr_assert_eq(rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL), RLY_ERR_MALFORMED);
    /* One bit of the vector flipped in the signature (the last characters). */
    snprintf(text, sizeof(text), "%s", vec("token"));
    size_t len = strlen(text);
    text[len - 3] = text[len - 3] == 'A' ? 'B' : 'A';
    cr_assert_eq(rly_token_open(&t, (const uint8_t *)text, len, NULL), RLY_ERR_SIGNATURE);
    static const char *const bad[] = {"", "v2.", "v1.123.abc", "v2.!!!!", "v2.Zg==", "V2.abcd"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rly_token_open(&t, (const uint8_t *)bad[i], strlen(bad[i]), NULL),
                     RLY_ERR_MALFORMED, "%s", bad[i]);
    cr_assert(rly_token_is_signed((const uint8_t *)"v2.x", 4));
    cr_assert(!rly_token_is_signed((const uint8_t *)"v1.x", 4));
    done();
}
