/* fuzz_auth.c: the relay-auth codec and token check (src/proto/auth). The whole input is decoded
 * as an AuthRequest body and as an AuthResponse body, sent as a response text, and checked as a
 * token (as is the token a decoded request carries) against a fixed secret, peer and time.
 * Invariants: the request decoder agrees with a walk of the fields (the first bad token field
 * decides the error, the last token counts, and it lies inside the input), a failed decode leaves
 * nothing behind, what decodes encodes and decodes back the same; a response text is NUL-ended
 * printable ASCII, and a text is cut only before a UTF-8 sequence that would not fit; the verdict
 * agrees with a reference built on rly_auth_mint (itself anchored by a token Python minted): OK
 * only for the secret or a token the relay mints for that expiry (which then fails for any other
 * peer), EXPIRED only for such a token at or past its expiry, OTHER_PEER only for a well-formed
 * token with another MAC, MALFORMED for any other "v1." token, WRONG_TOKEN for the rest;
 * rly_auth_minted_expiry reads the expiry of exactly the well-formed tokens; nothing stays
 * allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/pb.h"
#include "proto/auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same values as fuzz/corpus/gen_auth_seeds.py, so its minted seeds verify. */
#define FUZZ_SECRET "fuzz-auth-secret-0123456789abcdef"
#define FUZZ_NOW 1700000000u
#define MAC_CHARS 43

static const uint8_t *const secret = (const uint8_t *)FUZZ_SECRET;
static const size_t secret_len = sizeof(FUZZ_SECRET) - 1;

/* 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA; peer B differs in its last byte. */
static const uint8_t peer_bytes[] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x2f, 0xfa, 0x35, 0xa9,
                                     0x9d, 0x3a, 0x3c, 0xfb, 0xb1, 0x7b, 0xb7, 0xc1, 0xdc, 0x55,
                                     0x61, 0xb1, 0x8a, 0x8d, 0xcc, 0xa4, 0xdf, 0x38, 0xdc, 0x61,
                                     0x3e, 0xa8, 0x59, 0xc3, 0x7e, 0xb1, 0x33, 0x6b};

static void peers(rly_peerid *a, rly_peerid *b)
{
    uint8_t other[sizeof(peer_bytes)];
    memcpy(other, peer_bytes, sizeof(other));
    other[sizeof(other) - 1] ^= 1;
    if (rly_peerid_from_bytes(a, peer_bytes, sizeof(peer_bytes)) != 0 ||
        rly_peerid_from_bytes(b, other, sizeof(other)) != 0)
        abort();
}

/* expiry_of reads the digits between "v1." and the next '.' the way a well-formed token spells
 * them (1..19 digits, at most INT64_MAX); false for anything else. Leading zeros are let through:
 * re-minting then gives other text, which must not verify. */
static bool expiry_of(const uint8_t *t, size_t len, uint64_t *pv)
{
    uint64_t v = 0;
    size_t i = 3;
    if (len < 3 || memcmp(t, "v1.", 3) != 0)
        return false;
    for (; i < len && t[i] >= '0' && t[i] <= '9'; i++) {
        if (i - 3 == 19)
            return false;
        v = v * 10 + (uint64_t)(t[i] - '0');
    }
    if (i == 3 || i == len || t[i] != '.' || v > (uint64_t)INT64_MAX)
        return false;
    *pv = v;
    return true;
}

/* canonical_mac: |mac| is 43 base64url characters whose last one carries no stray bits (one of
 * the 16 characters whose value is a multiple of 4). */
static bool canonical_mac(const uint8_t *mac)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < MAC_CHARS; i++)
        if (mac[i] == 0 || !strchr(alphabet, mac[i]))
            return false;
    return strchr("AEIMQUYcgkosw048", mac[MAC_CHARS - 1]) != NULL;
}

static void check_token(const uint8_t *t, size_t len, const rly_peerid *a, const rly_peerid *b)
{
    char minted[RLY_AUTH_MINTED_MAX + 1];
    uint64_t exp = 0;
    bool shape = false, same = false, ok;
    rly_auth_reason r = rly_auth_check(secret, secret_len, t, len, a, FUZZ_NOW);
    bool is_secret = len == secret_len && memcmp(t, secret, len) == 0;
    bool v1 = len >= 3 && memcmp(t, "v1.", 3) == 0;
    if (expiry_of(t, len, &exp)) {
        rly_ssize n = rly_auth_mint(secret, secret_len, a, exp, minted, sizeof(minted));
        if (n <= 0 || (size_t)n > RLY_AUTH_MINTED_MAX || strlen(minted) != (size_t)n)
            abort();
        /* Well formed: the same "v1.<expiry>." and a canonical MAC; then the same MAC. */
        shape = (size_t)n == len && memcmp(minted, t, len - MAC_CHARS) == 0 &&
                canonical_mac(t + len - MAC_CHARS);
        same = shape && memcmp(minted, t, len) == 0;
    }
    switch (r) {
    case RLY_AUTH_NO_TOKEN: ok = len == 0; break;
    case RLY_AUTH_OK: ok = is_secret || (same && exp > FUZZ_NOW); break;
    case RLY_AUTH_EXPIRED: ok = !is_secret && same && exp <= FUZZ_NOW; break;
    case RLY_AUTH_OTHER_PEER: ok = !is_secret && shape && !same; break;
    case RLY_AUTH_MALFORMED: ok = !is_secret && v1 && !shape; break;
    case RLY_AUTH_WRONG_TOKEN: ok = len > 0 && !is_secret && !v1; break;
    default: ok = false;
    }
    if (!ok)
        abort();
    /* rly_auth_minted_expiry reads every well-formed token's expiry, and only theirs. */
    uint64_t got = 0;
    int erv = rly_auth_minted_expiry(t, len, &got);
    if ((erv == 0) != shape || (erv == 0 && got != exp))
        abort();
    /* A token minted for peer A is worth nothing to peer B, expired or not. */
    if ((r == RLY_AUTH_OK || r == RLY_AUTH_EXPIRED) && !is_secret &&
        rly_auth_check(secret, secret_len, t, len, b, FUZZ_NOW) != RLY_AUTH_OTHER_PEER)
        abort();
}

/* expect_request walks the fields as the header describes the decoder: the first bad field
 * decides the error (not length-delimited: malformed; too long: too large), the last token
 * counts. Returns the expected status. */
static int expect_request(const uint8_t *data, size_t size, rly_auth_request *want)
{
    rly_pb_field f;
    size_t off = 0;
    int rv;
    want->token = NULL;
    want->token_len = 0;
    while ((rv = rly_pb_next(data, size, &off, &f)) == 1) {
        if (f.num == 1 && f.wire != RLY_PB_WIRE_LEN)
            return RLY_ERR_MALFORMED;
        if (f.num == 1 && f.len > RLY_AUTH_TOKEN_MAX)
            return RLY_ERR_FRAME_TOO_LARGE;
        if (f.num == 1) {
            want->token = f.p;
            want->token_len = f.len;
        }
    }
    return rv;
}

static void check_request(const uint8_t *data, size_t size, const rly_peerid *a,
                          const rly_peerid *b)
{
    uint8_t stack[2 + 1 + 2 + RLY_AUTH_TOKEN_MAX + 1];
    rly_auth_request req, back, want;
    rly_dynbuf out;
    int rv = rly_auth_request_decode(data, size, &req);
    if (rv != expect_request(data, size, &want))
        abort();
    if (rv != 0) {
        if (req.token || req.token_len)
            abort();
        return;
    }
    if (req.token != want.token || req.token_len != want.token_len)
        abort();
    uintptr_t lo = (uintptr_t)data, p = (uintptr_t)req.token;
    if (req.token_len > RLY_AUTH_TOKEN_MAX || (!req.token && req.token_len) ||
        (req.token && (p < lo || p - lo > size || req.token_len > size - (p - lo))))
        abort();
    rly_dynbuf_init_small(&out, stack, sizeof(stack), NULL, sizeof(stack));
    if (rly_auth_request_encode(req.token, req.token_len, &out) != 0)
        abort();
    size_t hdr = out.data[0] & 0x80 ? 2 : 1;
    if (rly_auth_request_decode(out.data + hdr, out.len - hdr, &back) != 0 ||
        back.token_len != req.token_len ||
        (req.token_len && memcmp(back.token, req.token, req.token_len) != 0))
        abort();
    rly_dynbuf_free(&out);
    check_token(req.token, req.token_len, a, b);
}

static void check_response(const uint8_t *data, size_t size)
{
    uint8_t stack[2 * RLY_AUTH_TEXT_MAX];
    rly_auth_response resp, back;
    rly_dynbuf out;
    int rv = rly_auth_response_decode(data, size, &resp);
    if (rv != 0) {
        if (rv != RLY_ERR_MALFORMED || resp.status || resp.text[0])
            abort();
        return;
    }
    size_t n = strnlen(resp.text, sizeof(resp.text));
    if (n == sizeof(resp.text))
        abort();
    for (size_t i = 0; i < n; i++)
        if (resp.text[i] < 0x20 || resp.text[i] > 0x7e)
            abort();
    rly_dynbuf_init_small(&out, stack, sizeof(stack), NULL, sizeof(stack));
    if (rly_auth_response_encode(resp.status, resp.text, &out) != 0)
        abort();
    size_t hdr = out.data[0] & 0x80 ? 2 : 1;
    if (rly_auth_response_decode(out.data + hdr, out.len - hdr, &back) != 0 ||
        back.status != resp.status || strcmp(back.text, resp.text) != 0)
        abort();
    rly_dynbuf_free(&out);
}

static bool cont(uint8_t c)
{
    return (c & 0xc0) == 0x80;
}

/* check_text_cut sends the input (up to its first NUL) as a response text: the text sent is its
 * first n bytes, all of it when it fits in RLY_AUTH_TEXT_MAX - 1 bytes, else cut before the
 * UTF-8 sequence that would not fit: every byte from n + 1 to the limit continues a sequence,
 * byte n does not. */
static void check_text_cut(const uint8_t *data, size_t size)
{
    char text[2 * RLY_AUTH_TEXT_MAX];
    uint8_t stack[2 * RLY_AUTH_TEXT_MAX];
    rly_dynbuf out;
    size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1, lim = RLY_AUTH_TEXT_MAX - 1;
    memcpy(text, data, len);
    text[len] = '\0';
    len = strlen(text);
    rly_dynbuf_init_small(&out, stack, sizeof(stack), NULL, sizeof(stack));
    if (rly_auth_response_encode(100, text, &out) != 0)
        abort();
    /* prefix, 08 64, 12, a one-byte length, the text */
    size_t hdr = out.data[0] & 0x80 ? 2 : 1, n = out.data[hdr + 3];
    if (out.len != hdr + 4 + n || memcmp(out.data + hdr + 4, text, n) != 0 || n > lim)
        abort();
    if (len <= lim ? n != len : (n > 0 && cont((uint8_t)text[n])))
        abort();
    for (size_t k = n + 1; len > lim && k <= lim; k++)
        if (!cont((uint8_t)text[k]))
            abort();
    rly_dynbuf_free(&out);
}

/* check_vector: the secret, peer and a token minted by Python's hmac module
 * (fuzz/corpus/gen_auth_seeds.py, seed_minted_valid), so the reference above is anchored. */
static void check_vector(const rly_peerid *a)
{
    static const char want[] = "v1.1800000000.udbd3U9qxzkGtGZnbb7xRF6zVDcrnG3AYfSX2OBL9HY";
    char got[RLY_AUTH_MINTED_MAX + 1];
    if (rly_auth_mint(secret, secret_len, a, 1800000000, got, sizeof(got)) !=
            (rly_ssize)sizeof(want) - 1 ||
        strcmp(got, want) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool vector_checked;
    size_t live = rly_mem_default()->live_bytes;
    rly_peerid a, b;
    peers(&a, &b);
    if (!vector_checked) {
        check_vector(&a);
        vector_checked = true;
    }
    check_request(data, size, &a, &b);
    check_response(data, size);
    check_text_cut(data, size);
    check_token(data, size, &a, &b);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
