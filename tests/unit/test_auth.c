/* test_auth.c: the relay-auth codec and token check (src/proto/auth/auth.c): exact bytes and round
 * trips of both messages, unknown fields, malformed and oversize input, then rly_auth_check on
 * the shared secret, minted tokens (right peer, other peer, other secret, expired, every way to
 * break the v1.<expiry>.<mac> form) and a minted token computed independently (see below). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/peerid.h"
#include "proto/auth/auth.h"

#define PEER_A "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
#define SECRET "mesh-relay-test-secret-0123456789abcdef"

/* The fixed vector, computed with Python's standard library (not with this code):
 *
 *   python3 -c 'import hmac, hashlib, base64
 *   A = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
 *   s = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"; n = 0
 *   for c in s: n = n * 58 + A.index(c)
 *   pid = n.to_bytes((n.bit_length() + 7) // 8, "big")   # no leading "1": no zero bytes
 *   mac = hmac.new(b"mesh-relay-test-secret-0123456789abcdef",
 *                  b"mesh-relay-auth-v1" + pid + b"1700000000", hashlib.sha256).digest()
 *   print("v1.1700000000." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode())'
 *
 * pid is 0024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b (38 bytes,
 * an identity multihash of an Ed25519 public key protobuf). */
#define VECTOR_EXPIRY 1700000000u
#define VECTOR_TOKEN "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E"

static const uint8_t *S = (const uint8_t *)SECRET;
static const size_t SLEN = sizeof(SECRET) - 1;

static void end_check(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leak: %zu bytes",
                 rly_mem_default()->live_bytes);
}

static rly_peerid peer_a(void)
{
    rly_peerid p;
    cr_assert_eq(rly_peerid_parse(&p, PEER_A, strlen(PEER_A)), 0);
    return p;
}

/* peer_b: PEER_A with one byte of its public key changed, another valid peer ID. */
static rly_peerid peer_b(void)
{
    rly_peerid a = peer_a(), b;
    a.bytes[a.len - 1] ^= 1;
    cr_assert_eq(rly_peerid_from_bytes(&b, a.bytes, a.len), 0);
    return b;
}

static rly_auth_reason check_str(const char *token, const rly_peerid *p, uint64_t now)
{
    return rly_auth_check(S, SLEN, (const uint8_t *)token, strlen(token), p, now);
}

/* mint_a: the token minted with SECRET for PEER_A, valid until |expiry|. */
static void mint_a(uint64_t expiry, char out[RLY_AUTH_MINTED_MAX + 1])
{
    rly_peerid p = peer_a();
    rly_ssize n = rly_auth_mint(S, SLEN, &p, expiry, out, RLY_AUTH_MINTED_MAX + 1);
    cr_assert_gt(n, 0);
    cr_assert_eq((size_t)n, strlen(out));
}

/* ---- AuthRequest ---- */

Test(auth_codec, request_bytes_and_round_trip)
{
    static const uint8_t want[] = {0x05, 0x0a, 0x03, 'a', 'b', 'c'};
    rly_dynbuf out;
    rly_auth_request req;
    rly_dynbuf_init(&out, NULL, 4096);
    cr_assert_eq(rly_auth_request_encode((const uint8_t *)"abc", 3, &out), 0);
    cr_assert_eq(out.len, sizeof(want));
    cr_assert_arr_eq(out.data, want, sizeof(want));
    cr_assert_eq(rly_auth_request_decode(out.data + 1, out.len - 1, &req), 0);
    cr_assert_eq(req.token, out.data + 3, "the token points into the body");
    cr_assert_eq(req.token_len, 3);
    /* Appends after what the buffer holds. */
    cr_assert_eq(rly_auth_request_encode(S, SLEN, &out), 0);
    cr_assert_eq(out.len, sizeof(want) + 3 + SLEN);
    cr_assert_eq(out.data[sizeof(want)], 2 + SLEN);
    cr_assert_eq(rly_auth_request_decode(out.data + sizeof(want) + 1, 2 + SLEN, &req), 0);
    cr_assert_eq(req.token_len, SLEN);
    cr_assert_arr_eq(req.token, S, SLEN);
    rly_dynbuf_free(&out);
    end_check();
}

Test(auth_codec, request_empty_and_absent_token)
{
    static const uint8_t want[] = {0x02, 0x0a, 0x00};
    rly_dynbuf out;
    rly_auth_request req;
    rly_dynbuf_init(&out, NULL, 64);
    cr_assert_eq(rly_auth_request_encode(NULL, 0, &out), 0);
    cr_assert_eq(out.len, sizeof(want));
    cr_assert_arr_eq(out.data, want, sizeof(want));
    cr_assert_eq(rly_auth_request_decode(out.data + 1, out.len - 1, &req), 0);
    cr_assert_not_null(req.token);
    cr_assert_eq(req.token_len, 0);
    /* An empty body: no token at all. */
    cr_assert_eq(rly_auth_request_decode(NULL, 0, &req), 0);
    cr_assert_null(req.token);
    cr_assert_eq(req.token_len, 0);
    rly_dynbuf_free(&out);
    end_check();
}

Test(auth_codec, request_largest_token)
{
    static uint8_t tok[RLY_AUTH_TOKEN_MAX + 1];
    rly_dynbuf out;
    rly_auth_request req;
    memset(tok, 'x', sizeof(tok));
    rly_dynbuf_init(&out, NULL, 4096);
    cr_assert_eq(rly_auth_request_encode(tok, RLY_AUTH_TOKEN_MAX, &out), 0);
    /* uvarint(1 + 2 + 1024 = 1027) = 83 08, then 0a, uvarint(1024) = 80 08. */
    cr_assert_eq(out.len, 2 + 1 + 2 + RLY_AUTH_TOKEN_MAX);
    cr_assert(out.data[0] == 0x83 && out.data[1] == 0x08 && out.data[2] == 0x0a &&
              out.data[3] == 0x80 && out.data[4] == 0x08);
    cr_assert_eq(rly_auth_request_decode(out.data + 2, out.len - 2, &req), 0);
    cr_assert_eq(req.token_len, RLY_AUTH_TOKEN_MAX);
    cr_assert_arr_eq(req.token, tok, RLY_AUTH_TOKEN_MAX);
    /* One more byte is refused and nothing is appended. */
    size_t before = out.len;
    cr_assert_eq(rly_auth_request_encode(tok, RLY_AUTH_TOKEN_MAX + 1, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_auth_request_encode(NULL, 1, &out), RLY_ERR_INVALID_ARG);
    cr_assert_eq(out.len, before);
    rly_dynbuf_free(&out);
    end_check();
}

Test(auth_codec, request_too_large_on_the_wire)
{
    static uint8_t body[3 + RLY_AUTH_TOKEN_MAX + 1];
    rly_auth_request req;
    memset(body, 'y', sizeof(body));
    body[0] = 0x0a;
    body[1] = 0x81; /* 1025 */
    body[2] = 0x08;
    cr_assert_eq(rly_auth_request_decode(body, sizeof(body), &req), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_null(req.token);
    cr_assert_eq(req.token_len, 0);
    /* Exactly the cap is fine. */
    body[1] = 0x80;
    cr_assert_eq(rly_auth_request_decode(body, sizeof(body) - 1, &req), 0);
    cr_assert_eq(req.token_len, RLY_AUTH_TOKEN_MAX);
    /* A too-large token is refused even when a later one would fit. */
    static uint8_t two[3 + RLY_AUTH_TOKEN_MAX + 1 + 3];
    memcpy(two, body, sizeof(body));
    two[1] = 0x81;
    memcpy(two + sizeof(body), "\x0a\x01z", 3);
    cr_assert_eq(rly_auth_request_decode(two, sizeof(two), &req), RLY_ERR_FRAME_TOO_LARGE);
    end_check();
}

Test(auth_codec, request_unknown_fields_skipped)
{
    /* field 2 varint, field 3 bytes, field 4 fixed64, field 5 fixed32, field 1 "tok", field 9
     * bytes, field 536870911 varint (the largest field number). */
    static const uint8_t body[] = {0x10, 0x96, 0x01, 0x1a, 0x02, 'h',  'i', 0x21, 1,
                                   2,    3,    4,    5,    6,    7,    8,   0x2d, 1,
                                   2,    3,    4,    0x0a, 0x03, 't',  'o', 'k',  0x4a,
                                   0x00, 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x2a};
    rly_auth_request req;
    cr_assert_eq(rly_auth_request_decode(body, sizeof(body), &req), 0);
    cr_assert_eq(req.token_len, 3);
    cr_assert_arr_eq(req.token, "tok", 3);
    /* A repeated token: the last one counts. */
    static const uint8_t twice[] = {0x0a, 0x01, 'a', 0x0a, 0x02, 'b', 'c'};
    cr_assert_eq(rly_auth_request_decode(twice, sizeof(twice), &req), 0);
    cr_assert_eq(req.token, twice + 5);
    cr_assert_eq(req.token_len, 2);
    end_check();
}

Test(auth_codec, request_malformed)
{
    static const uint8_t varint_token[] = {0x08, 0x01};      /* field 1 as a varint */
    static const uint8_t fixed_token[] = {0x0d, 1, 2, 3, 4}; /* field 1 as fixed32 */
    static const uint8_t truncated[] = {0x0a, 0x05, 'a', 'b'};
    static const uint8_t no_length[] = {0x0a};
    static const uint8_t field0[] = {0x02, 0x00};
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t key_cut[] = {0x8a};
    static const uint8_t long_varint[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0x02};
    static const uint8_t tail_after_token[] = {0x0a, 0x01, 'a', 0x12};
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {
        {varint_token, sizeof(varint_token)},
        {fixed_token, sizeof(fixed_token)},
        {truncated, sizeof(truncated)},
        {no_length, sizeof(no_length)},
        {field0, sizeof(field0)},
        {group, sizeof(group)},
        {key_cut, sizeof(key_cut)},
        {long_varint, sizeof(long_varint)},
        {tail_after_token, sizeof(tail_after_token)},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(bad); i++) {
        rly_auth_request req = {(const uint8_t *)"stale", 5};
        cr_assert_eq(rly_auth_request_decode(bad[i].p, bad[i].n, &req), RLY_ERR_MALFORMED,
                     "case %zu", i);
        cr_assert(req.token == NULL && req.token_len == 0, "case %zu: cleared", i);
    }
    end_check();
}

Test(auth_codec, request_dynbuf_full)
{
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 5);
    /* 6 bytes do not fit in 5: nothing is appended. */
    cr_assert_eq(rly_auth_request_encode((const uint8_t *)"abc", 3, &out), RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(rly_auth_request_encode((const uint8_t *)"ab", 2, &out), 0);
    cr_assert_eq(out.len, 5);
    rly_dynbuf_free(&out);
    end_check();
}

/* ---- AuthResponse ---- */

Test(auth_codec, response_bytes_and_round_trip)
{
    static const uint8_t ok[] = {0x06, 0x08, 0x64, 0x12, 0x02, 'o', 'k'};
    static const uint8_t denied[] = {0x03, 0x08, 0xca, 0x01};
    static const uint8_t zero[] = {0x04, 0x08, 0x00, 0x12, 0x00};
    rly_dynbuf out;
    rly_auth_response resp;
    rly_dynbuf_init(&out, NULL, 4096);
    cr_assert_eq(rly_auth_response_encode(100, "ok", &out), 0);
    cr_assert_eq(out.len, sizeof(ok));
    cr_assert_arr_eq(out.data, ok, sizeof(ok));
    cr_assert_eq(rly_auth_response_decode(out.data + 1, out.len - 1, &resp), 0);
    cr_assert_eq(resp.status, 100);
    cr_assert_str_eq(resp.text, "ok");
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_auth_response_encode(202, NULL, &out), 0);
    cr_assert_eq(out.len, sizeof(denied));
    cr_assert_arr_eq(out.data, denied, sizeof(denied));
    cr_assert_eq(rly_auth_response_decode(out.data + 1, out.len - 1, &resp), 0);
    cr_assert_eq(resp.status, 202);
    cr_assert_str_eq(resp.text, "");
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_auth_response_encode(0, "", &out), 0);
    cr_assert_eq(out.len, sizeof(zero));
    cr_assert_arr_eq(out.data, zero, sizeof(zero));
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_auth_response_encode(UINT32_MAX, "too many failures", &out), 0);
    cr_assert_eq(rly_auth_response_decode(out.data + 1, out.len - 1, &resp), 0);
    cr_assert_eq(resp.status, UINT32_MAX);
    cr_assert_str_eq(resp.text, "too many failures");
    /* An empty body: status 0, no text. */
    cr_assert_eq(rly_auth_response_decode(NULL, 0, &resp), 0);
    cr_assert_eq(resp.status, 0);
    cr_assert_str_eq(resp.text, "");
    rly_dynbuf_free(&out);
    end_check();
}

Test(auth_codec, response_text_cut)
{
    char text[300];
    rly_dynbuf out;
    rly_auth_response resp;
    rly_dynbuf_init(&out, NULL, 4096);
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    cr_assert_eq(rly_auth_response_encode(400, text, &out), 0);
    /* 08 90 03, 12 7f, 127 bytes of text: a body of 132 bytes, a 2-byte prefix. */
    cr_assert_eq(out.len, 2 + 132);
    cr_assert_eq(out.data[6], RLY_AUTH_TEXT_MAX - 1);
    cr_assert_eq(rly_auth_response_decode(out.data + 2, out.len - 2, &resp), 0);
    cr_assert_eq(strlen(resp.text), RLY_AUTH_TEXT_MAX - 1);
    /* A cut never splits a UTF-8 sequence: 126 'a' then "é" (c3 a9) keeps 126 bytes. */
    memcpy(text + 126, "\xc3\xa9", 3);
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_auth_response_encode(400, text, &out), 0);
    cr_assert_eq(out.data[6], 126);
    /* ... while one that ends exactly at the cut is kept whole. */
    memcpy(text + 125, "\xc3\xa9x", 4);
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_auth_response_encode(400, text, &out), 0);
    cr_assert_eq(out.data[6], 127);
    rly_dynbuf_free(&out);
    end_check();
}

Test(auth_codec, response_decode_sanitises_and_skips)
{
    /* Unknown fields, status as bytes (an unknown field to protobuf), a status varint of more
     * than 32 bits (low 32 kept), a text with control and non-ASCII bytes, a text as a varint. */
    static const uint8_t body[] = {0x18, 0x05, 0x0a, 0x01, 'x',  0x08, 0x80, 0x80, 0x80,
                                   0x80, 0x10, 0x12, 0x06, 0x01, 0xff, 'h',  'i',  '\n',
                                   '~',  0x10, 0x07, 0x25, 0,    0,    0,    0};
    rly_auth_response resp;
    cr_assert_eq(rly_auth_response_decode(body, sizeof(body), &resp), 0);
    cr_assert_eq(resp.status, 0);
    cr_assert_str_eq(resp.text, "??hi?~");
    static const uint8_t big[] = {0x08, 0xe4, 0x80, 0x80, 0x80, 0x10};
    cr_assert_eq(rly_auth_response_decode(big, sizeof(big), &resp), 0);
    cr_assert_eq(resp.status, 100);
    /* A text longer than the buffer is cut, and the last text counts. */
    uint8_t longer[3 + 200 + 3];
    longer[0] = 0x12;
    longer[1] = 0xc8; /* 200 */
    longer[2] = 0x01;
    memset(longer + 3, 'b', 200);
    cr_assert_eq(rly_auth_response_decode(longer, 203, &resp), 0);
    cr_assert_eq(strlen(resp.text), RLY_AUTH_TEXT_MAX - 1);
    memcpy(longer + 203, "\x12\x01z", 3);
    cr_assert_eq(rly_auth_response_decode(longer, sizeof(longer), &resp), 0);
    cr_assert_str_eq(resp.text, "z");
    end_check();
}

Test(auth_codec, response_malformed)
{
    static const uint8_t truncated_text[] = {0x08, 0x64, 0x12, 0x09, 'a'};
    static const uint8_t truncated_status[] = {0x08, 0x80};
    static const uint8_t field0[] = {0x00, 0x01};
    static const uint8_t group[] = {0x0c};
    rly_auth_response resp;
    resp.status = 7;
    cr_assert_eq(rly_auth_response_decode(truncated_text, sizeof(truncated_text), &resp),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(resp.status, 0, "cleared on error");
    cr_assert_eq(rly_auth_response_decode(truncated_status, sizeof(truncated_status), &resp),
                 RLY_ERR_MALFORMED);
    cr_assert_eq(rly_auth_response_decode(field0, sizeof(field0), &resp), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_auth_response_decode(group, sizeof(group), &resp), RLY_ERR_MALFORMED);
    end_check();
}

Test(auth_codec, reason_text)
{
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_OK), "ok");
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_NO_TOKEN), "no token");
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_WRONG_TOKEN), "wrong token");
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_MALFORMED), "malformed token");
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_EXPIRED), "expired token");
    cr_assert_str_eq(rly_auth_reason_text(RLY_AUTH_OTHER_PEER), "token for another peer");
    cr_assert_str_eq(rly_auth_reason_text((rly_auth_reason)99), "unknown reason");
}

/* ---- rly_auth_check: the shared secret ---- */

Test(auth_check, shared_secret)
{
    rly_peerid a = peer_a();
    cr_assert_eq(check_str(SECRET, &a, 0), RLY_AUTH_OK);
    cr_assert_eq(check_str(SECRET, &a, UINT64_MAX), RLY_AUTH_OK);
    /* Any peer may present the secret. */
    rly_peerid b = peer_b();
    cr_assert_eq(check_str(SECRET, &b, 1700000000), RLY_AUTH_OK);
    end_check();
}

Test(auth_check, wrong_and_empty_tokens)
{
    rly_peerid a = peer_a();
    cr_assert_eq(rly_auth_check(S, SLEN, NULL, 0, &a, 0), RLY_AUTH_NO_TOKEN);
    cr_assert_eq(rly_auth_check(S, SLEN, (const uint8_t *)"", 0, &a, 0), RLY_AUTH_NO_TOKEN);
    cr_assert_eq(check_str("CHANGE_ME_IN_PRODUCTION", &a, 0), RLY_AUTH_WRONG_TOKEN);
    /* The secret cut short, extended by a byte, or with its last byte changed. */
    cr_assert_eq(rly_auth_check(S, SLEN, S, SLEN - 1, &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(rly_auth_check(S, SLEN, S, 1, &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(check_str(SECRET "f", &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(check_str(SECRET SECRET, &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(check_str("mesh-relay-test-secret-0123456789abcdeF", &a, 0), RLY_AUTH_WRONG_TOKEN);
    /* A NUL inside: the whole length counts, not a C string. */
    uint8_t nul[sizeof(SECRET)];
    memcpy(nul, S, SLEN);
    nul[SLEN] = '\0';
    cr_assert_eq(rly_auth_check(S, SLEN, nul, SLEN + 1, &a, 0), RLY_AUTH_WRONG_TOKEN);
    /* Only the exact lower-case "v1." prefix makes a minted token. */
    char tok[RLY_AUTH_MINTED_MAX + 1];
    mint_a(VECTOR_EXPIRY, tok);
    tok[0] = 'V';
    cr_assert_eq(check_str(tok, &a, 0), RLY_AUTH_WRONG_TOKEN);
    tok[0] = 'v';
    tok[1] = '2';
    cr_assert_eq(check_str(tok, &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(check_str("v1", &a, 0), RLY_AUTH_WRONG_TOKEN);
    cr_assert_eq(check_str("v", &a, 0), RLY_AUTH_WRONG_TOKEN);
    end_check();
}

Test(auth_check, secret_that_looks_minted)
{
    /* The secret is checked first: one that starts with "v1." (even a well-formed minted token
     * for some other secret) is still the secret. */
    static const char *secrets[] = {"v1.", "v1.x", "v1.1700000000", VECTOR_TOKEN};
    rly_peerid a = peer_a();
    for (size_t i = 0; i < RLY_ARRAY_LEN(secrets); i++) {
        const uint8_t *s = (const uint8_t *)secrets[i];
        size_t n = strlen(secrets[i]);
        cr_assert_eq(rly_auth_check(s, n, s, n, &a, 0), RLY_AUTH_OK, "%s", secrets[i]);
    }
    end_check();
}

Test(auth_check, long_secret)
{
    static uint8_t secret[RLY_AUTH_TOKEN_MAX], token[RLY_AUTH_TOKEN_MAX];
    rly_peerid a = peer_a();
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(i * 37 + 11);
    memcpy(token, secret, sizeof(token));
    cr_assert_eq(rly_auth_check(secret, sizeof(secret), token, sizeof(token), &a, 0), RLY_AUTH_OK);
    token[sizeof(token) - 1] ^= 0x80;
    cr_assert_eq(rly_auth_check(secret, sizeof(secret), token, sizeof(token), &a, 0),
                 RLY_AUTH_WRONG_TOKEN);
    /* A minted token works with a secret longer than an HMAC block too. */
    char tok[RLY_AUTH_MINTED_MAX + 1];
    rly_ssize n = rly_auth_mint(secret, sizeof(secret), &a, 5000, tok, sizeof(tok));
    cr_assert_gt(n, 0);
    cr_assert_eq(rly_auth_check(secret, sizeof(secret), (const uint8_t *)tok, (size_t)n, &a, 4999),
                 RLY_AUTH_OK);
    end_check();
}

/* ---- rly_auth_check: minted tokens ---- */

Test(auth_check, fixed_vector)
{
    rly_peerid a = peer_a();
    char tok[RLY_AUTH_MINTED_MAX + 1];
    mint_a(VECTOR_EXPIRY, tok);
    cr_assert_str_eq(tok, VECTOR_TOKEN);
    cr_assert_eq(check_str(VECTOR_TOKEN, &a, VECTOR_EXPIRY - 1), RLY_AUTH_OK);
    cr_assert_eq(check_str(VECTOR_TOKEN, &a, 0), RLY_AUTH_OK);
    cr_assert_eq(check_str(VECTOR_TOKEN, &a, VECTOR_EXPIRY), RLY_AUTH_EXPIRED);
    end_check();
}

Test(auth_check, minted_right_peer)
{
    rly_peerid a = peer_a();
    char tok[RLY_AUTH_MINTED_MAX + 1];
    mint_a(1800000000, tok);
    cr_assert_eq(strncmp(tok, "v1.1800000000.", 14), 0);
    cr_assert_eq(strlen(tok), 14 + 43);
    cr_assert_eq(check_str(tok, &a, 1700000000), RLY_AUTH_OK);
    cr_assert_eq(check_str(tok, &a, 1799999999), RLY_AUTH_OK);
    /* The same peer parsed from its CIDv1 form is the same bytes. */
    char cid[RLY_PEERID_STR_MAX];
    rly_peerid again;
    cr_assert_gt(rly_peerid_to_cid(&a, cid, sizeof(cid)), 0);
    cr_assert_eq(rly_peerid_parse(&again, cid, strlen(cid)), 0);
    cr_assert_eq(check_str(tok, &again, 1700000000), RLY_AUTH_OK);
    end_check();
}

Test(auth_check, minted_other_peer_or_secret)
{
    rly_peerid a = peer_a(), b = peer_b();
    char tok[RLY_AUTH_MINTED_MAX + 1];
    mint_a(1800000000, tok);
    cr_assert_eq(check_str(tok, &b, 1700000000), RLY_AUTH_OTHER_PEER);
    /* Checked against another secret (as if minted with another one). */
    static const char other[] = "another-secret-of-the-same-length-0123";
    cr_assert_eq(rly_auth_check((const uint8_t *)other, strlen(other), (const uint8_t *)tok,
                                strlen(tok), &a, 1700000000),
                 RLY_AUTH_OTHER_PEER);
    /* Minted with another secret, checked against ours. */
    char theirs[RLY_AUTH_MINTED_MAX + 1];
    cr_assert_gt(rly_auth_mint((const uint8_t *)other, strlen(other), &a, 1800000000, theirs,
                               sizeof(theirs)),
                 0);
    cr_assert_eq(check_str(theirs, &a, 1700000000), RLY_AUTH_OTHER_PEER);
    /* A MAC mismatch wins over expiry: an expired token for another peer says "other peer". */
    cr_assert_eq(check_str(tok, &b, 1900000000), RLY_AUTH_OTHER_PEER);
    /* A later expiry with the old MAC, or one MAC character changed. */
    char later[RLY_AUTH_MINTED_MAX + 1];
    memcpy(later, tok, sizeof(later));
    later[3] = '9';
    cr_assert_eq(check_str(later, &a, 1700000000), RLY_AUTH_OTHER_PEER);
    memcpy(later, tok, sizeof(later));
    later[20] = later[20] == 'A' ? 'B' : 'A';
    cr_assert_eq(check_str(later, &a, 1700000000), RLY_AUTH_OTHER_PEER);
    /* An empty secret matches nothing minted. */
    cr_assert_eq(rly_auth_check((const uint8_t *)"", 0, (const uint8_t *)tok, strlen(tok), &a, 0),
                 RLY_AUTH_OTHER_PEER);
    cr_assert_eq(rly_auth_check((const uint8_t *)"", 0, (const uint8_t *)"x", 1, &a, 0),
                 RLY_AUTH_WRONG_TOKEN);
    end_check();
}

Test(auth_check, minted_expired)
{
    rly_peerid a = peer_a();
    char tok[RLY_AUTH_MINTED_MAX + 1];
    mint_a(1800000000, tok);
    cr_assert_eq(check_str(tok, &a, 1800000000), RLY_AUTH_EXPIRED);
    cr_assert_eq(check_str(tok, &a, 1800000001), RLY_AUTH_EXPIRED);
    cr_assert_eq(check_str(tok, &a, UINT64_MAX), RLY_AUTH_EXPIRED);
    /* Expiry 0 is well formed and always past. */
    mint_a(0, tok);
    cr_assert_eq(strncmp(tok, "v1.0.", 5), 0);
    cr_assert_eq(check_str(tok, &a, 0), RLY_AUTH_EXPIRED);
    /* The largest expiry: 19 digits, the longest token. */
    mint_a(INT64_MAX, tok);
    cr_assert_eq(strncmp(tok, "v1.9223372036854775807.", 23), 0);
    cr_assert_eq(strlen(tok), 3 + 19 + 1 + 43);
    cr_assert_leq(strlen(tok), RLY_AUTH_MINTED_MAX);
    cr_assert_eq(check_str(tok, &a, INT64_MAX - 1), RLY_AUTH_OK);
    cr_assert_eq(check_str(tok, &a, INT64_MAX), RLY_AUTH_EXPIRED);
    end_check();
}

Test(auth_check, minted_expiry_is_read)
{
    char tok[RLY_AUTH_MINTED_MAX + 1];
    uint64_t e = 1;
    mint_a(1800000000, tok);
    cr_assert_eq(rly_auth_minted_expiry((const uint8_t *)tok, strlen(tok), &e), 0);
    cr_assert_eq(e, 1800000000);
    mint_a(INT64_MAX, tok);
    cr_assert_eq(rly_auth_minted_expiry((const uint8_t *)tok, strlen(tok), &e), 0);
    cr_assert_eq(e, (uint64_t)INT64_MAX);
    static const char *const bad[] = {
        "",         "v1.",           "v1.12.",
        "v2.1.abc", "shared-secret", "v1.012.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rly_auth_minted_expiry((const uint8_t *)bad[i], strlen(bad[i]), &e),
                     RLY_ERR_MALFORMED, "%s", bad[i]);
    end_check();
}

/* with_expiry writes "v1.<digits>.<the MAC of |mac_of|>" into |out|. */
static void with_expiry(const char *digits, const char *mac_of, char *out, size_t cap)
{
    const char *mac = strrchr(mac_of, '.') + 1;
    snprintf(out, cap, "v1.%s.%s", digits, mac);
}

Test(auth_check, malformed_minted)
{
    rly_peerid a = peer_a();
    char tok[RLY_AUTH_MINTED_MAX + 1], bad[256];
    const char *mac = VECTOR_TOKEN + 14;
    mint_a(VECTOR_EXPIRY, tok);
    static const char *expiries[] = {
        "",                     /* no digits */
        "01700000000",          /* leading zero */
        "00",                   /* zero with a leading zero */
        "+1700000000",          /* sign */
        "-1",                   /* negative */
        " 1700000000",          /* space */
        "1700000000x",          /* not a digit */
        "0x6553f100",           /* hex */
        "17000000000000000000", /* 20 digits */
        "9223372036854775808",  /* INT64_MAX + 1 */
        "9999999999999999999",  /* 19 digits above INT64_MAX */
        "18446744073709551616", /* 2^64 */
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(expiries); i++) {
        with_expiry(expiries[i], tok, bad, sizeof(bad));
        cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_MALFORMED, "%s", bad);
    }
    /* Well-formed expiries with the wrong MAC are a MAC mismatch, not malformed. */
    with_expiry("9223372036854775807", tok, bad, sizeof(bad));
    cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_OTHER_PEER);
    with_expiry("0", tok, bad, sizeof(bad));
    cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_OTHER_PEER);

    static const char *shapes[] = {
        "v1.",
        "v1..",
        "v1.1700000000",   /* missing MAC */
        "v1.1700000000.",  /* empty MAC */
        "v1.1700000000..", /* an extra dot */
        "v1..xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E",
        "v1.1700000000xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E",   /* no dot */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E=", /* padding */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19",   /* truncated */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19EA", /* one too many */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19F",  /* stray low bits */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E.", /* trailing dot */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g19E\n",
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g1 E", /* space */
        "v1.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2hOvrdY8g1.E", /* dot inside */
        "v1.1700000000.1700000000.xtVAPzVJeWzMvhE1aPVlOudVDyXHDXc2", /* two expiries */
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(shapes); i++)
        cr_assert_eq(check_str(shapes[i], &a, 0), RLY_AUTH_MALFORMED, "%s", shapes[i]);

    /* The base64 (not base64url) alphabet: '+' for '-' and '/' for '_', each in the MAC. */
    snprintf(bad, sizeof(bad), "v1.1700000000.%.42s+", mac);
    cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_MALFORMED, "%s", bad);
    snprintf(bad, sizeof(bad), "v1.1700000000./%.42s", mac + 1);
    cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_MALFORMED, "%s", bad);
    /* ... while '-' and '_' are valid MAC characters (a mismatch here). */
    snprintf(bad, sizeof(bad), "v1.1700000000.-_%.41s", mac + 2);
    cr_assert_eq(check_str(bad, &a, 0), RLY_AUTH_OTHER_PEER, "%s", bad);
    /* A NUL inside the MAC. */
    memcpy(bad, VECTOR_TOKEN, sizeof(VECTOR_TOKEN));
    bad[30] = '\0';
    cr_assert_eq(rly_auth_check(S, SLEN, (const uint8_t *)bad, sizeof(VECTOR_TOKEN) - 1, &a, 0),
                 RLY_AUTH_MALFORMED);
    /* Far too long for a minted token. */
    static char huge[RLY_AUTH_TOKEN_MAX + 1];
    memset(huge, 'A', RLY_AUTH_TOKEN_MAX);
    memcpy(huge, "v1.1700000000.", 14);
    cr_assert_eq(check_str(huge, &a, 0), RLY_AUTH_MALFORMED);
    end_check();
}

Test(auth_mint, errors_and_caps)
{
    rly_peerid a = peer_a();
    char out[RLY_AUTH_MINTED_MAX + 1];
    size_t len = strlen(VECTOR_TOKEN);
    cr_assert_eq(rly_auth_mint(S, 0, &a, 1, out, sizeof(out)), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_auth_mint(S, SLEN, &a, (uint64_t)INT64_MAX + 1, out, sizeof(out)),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_auth_mint(S, SLEN, &a, UINT64_MAX, out, sizeof(out)), RLY_ERR_INVALID_ARG);
    /* The token and its NUL: exactly enough room works, one byte less does not. */
    cr_assert_eq(rly_auth_mint(S, SLEN, &a, VECTOR_EXPIRY, out, len), RLY_ERR_NOBUF);
    cr_assert_eq(rly_auth_mint(S, SLEN, &a, VECTOR_EXPIRY, out, 0), RLY_ERR_NOBUF);
    cr_assert_eq(rly_auth_mint(S, SLEN, &a, VECTOR_EXPIRY, out, len + 1), (rly_ssize)len);
    cr_assert_str_eq(out, VECTOR_TOKEN);
    /* Deterministic, and different per peer and per expiry. */
    char b_tok[RLY_AUTH_MINTED_MAX + 1], later[RLY_AUTH_MINTED_MAX + 1];
    rly_peerid b = peer_b();
    cr_assert_gt(rly_auth_mint(S, SLEN, &b, VECTOR_EXPIRY, b_tok, sizeof(b_tok)), 0);
    cr_assert_str_neq(b_tok, VECTOR_TOKEN);
    mint_a(VECTOR_EXPIRY + 1, later);
    cr_assert_str_neq(later + 14, VECTOR_TOKEN + 14);
    end_check();
}
