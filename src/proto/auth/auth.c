/* auth.c: the relay-auth messages and the token check (auth.h).
 *
 * The two messages are tiny, so each is built whole in a stack buffer sized for its largest form
 * and appended to the output in one call: a failed append leaves the output as it was. Decoding
 * does not allocate. Minted tokens are checked by computing the expected MAC for the presented
 * expiry and this peer and comparing its base64url text with the presented one in constant time,
 * so no base64 decoder is involved. */
#include "proto/auth/auth.h"

#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "core/pb.h"
#include "core/varint.h"
#include "crypto/crypto.h"

/* Field numbers. */
#define REQ_TOKEN 1
#define RESP_STATUS 1
#define RESP_TEXT 2

/* A minted token: "v1." <expiry: 1..19 decimal digits> "." <MAC: 43 base64url characters>. */
#define MINT_PREFIX "v1."
#define MINT_PREFIX_LEN (sizeof(MINT_PREFIX) - 1)
#define EXPIRY_DIGITS_MAX 19
#define MAC_CHARS RLY_BASE64URL_LEN(RLY_HMAC_SHA256_LEN)
#define LABEL_LEN (sizeof(RLY_AUTH_MINT_LABEL) - 1)

/* 3 + 19 + 1 + 43 = 66: auth.h's RLY_AUTH_MINTED_MAX (67) leaves one byte to spare. */
#define MINTED_LEN_MAX (MINT_PREFIX_LEN + EXPIRY_DIGITS_MAX + 1 + MAC_CHARS)
_Static_assert(RLY_AUTH_MINTED_MAX >= MINTED_LEN_MAX, "a minted token fits RLY_AUTH_MINTED_MAX");

/* uvarint prefixes: a request body is at most 1027 bytes, a response body at most 135. */
#define PREFIX_MAX 2
#define REQ_MAX (PREFIX_MAX + 1 + 2 + RLY_AUTH_TOKEN_MAX)
#define RESP_MAX (PREFIX_MAX + 1 + 5 + 1 + 1 + (RLY_AUTH_TEXT_MAX - 1))

const char *rly_auth_reason_text(rly_auth_reason r)
{
    switch (r) {
    case RLY_AUTH_OK: return "ok";
    case RLY_AUTH_NO_TOKEN: return "no token";
    case RLY_AUTH_WRONG_TOKEN: return "wrong token";
    case RLY_AUTH_MALFORMED: return "malformed token";
    case RLY_AUTH_EXPIRED: return "expired token";
    case RLY_AUTH_OTHER_PEER: return "token for another peer";
    default: return "unknown reason";
    }
}

/* Encoding. */

/* put_varint writes |v| at |*pn| of |buf| (|cap| bytes), which the caller sized to hold it. */
static void put_varint(uint8_t *buf, size_t cap, size_t *pn, uint64_t v)
{
    rly_ssize k = rly_varint_encode(buf + *pn, cap - *pn, v);
    RLY_ASSERT(k > 0);
    *pn += (size_t)k;
}

/* put_bytes writes the length-delimited field |num| holding |len| bytes of |p|. */
static void put_bytes(uint8_t *buf, size_t cap, size_t *pn, unsigned num, const void *p, size_t len)
{
    put_varint(buf, cap, pn, num << 3 | RLY_PB_WIRE_LEN);
    put_varint(buf, cap, pn, len);
    RLY_ASSERT(cap - *pn >= len);
    if (len)
        memcpy(buf + *pn, p, len);
    *pn += len;
}

/* frame moves the |len|-byte body at |buf| + PREFIX_MAX right behind its uvarint length prefix,
 * so the message starts at |buf|. Returns the message length. */
static size_t frame(uint8_t *buf, size_t len)
{
    size_t k = rly_varint_len(len);
    RLY_ASSERT(k <= PREFIX_MAX);
    memmove(buf + k, buf + PREFIX_MAX, len);
    size_t n = 0;
    put_varint(buf, k, &n, len);
    return k + len;
}

int rly_auth_request_encode(const uint8_t *token, size_t len, rly_dynbuf *out)
{
    uint8_t buf[REQ_MAX];
    size_t n = PREFIX_MAX;
    if (len > RLY_AUTH_TOKEN_MAX || (len && !token))
        return RLY_ERR_INVALID_ARG;
    /* The token is always written, even empty: the relay then answers "no token". */
    put_bytes(buf, sizeof(buf), &n, REQ_TOKEN, token, len);
    n = frame(buf, n - PREFIX_MAX);
    int rv = rly_dynbuf_append(out, buf, n);
    /* The token may be the shared secret. */
    rly_zeroize(buf, sizeof(buf));
    return rv;
}

/* text_cut returns how many bytes of |text| are sent: at most RLY_AUTH_TEXT_MAX - 1, and a cut
 * never splits a UTF-8 sequence (protobuf strings must be UTF-8; go's decoder checks). */
static size_t text_cut(const char *text)
{
    size_t n = strnlen(text, RLY_AUTH_TEXT_MAX - 1);
    if (text[n] != '\0')
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
    return n;
}

int rly_auth_response_encode(uint32_t status, const char *text, rly_dynbuf *out)
{
    uint8_t buf[RESP_MAX];
    size_t n = PREFIX_MAX;
    put_varint(buf, sizeof(buf), &n, RESP_STATUS << 3 | RLY_PB_WIRE_VARINT);
    put_varint(buf, sizeof(buf), &n, status);
    if (text)
        put_bytes(buf, sizeof(buf), &n, RESP_TEXT, text, text_cut(text));
    n = frame(buf, n - PREFIX_MAX);
    return rly_dynbuf_append(out, buf, n);
}

/* Decoding. */

int rly_auth_request_decode(const uint8_t *body, size_t len, rly_auth_request *req)
{
    rly_pb_field f;
    size_t off = 0;
    int rv;
    memset(req, 0, sizeof(*req));
    while ((rv = rly_pb_next(body, len, &off, &f)) == 1) {
        if (f.num != REQ_TOKEN)
            continue;
        if (f.wire != RLY_PB_WIRE_LEN) {
            rv = RLY_ERR_MALFORMED;
            break;
        }
        if (f.len > RLY_AUTH_TOKEN_MAX) {
            rv = RLY_ERR_FRAME_TOO_LARGE;
            break;
        }
        /* A repeated token: the last one counts, as protobuf specifies. */
        req->token = f.p;
        req->token_len = f.len;
    }
    if (rv != 0)
        memset(req, 0, sizeof(*req));
    return rv;
}

/* copy_text keeps what fits of |len| bytes at |p| as printable ASCII, NUL-ended. */
static void copy_text(char dst[RLY_AUTH_TEXT_MAX], const uint8_t *p, size_t len)
{
    size_t n = len < RLY_AUTH_TEXT_MAX - 1 ? len : RLY_AUTH_TEXT_MAX - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = p[i] >= 0x20 && p[i] <= 0x7e ? (char)p[i] : '?';
    dst[n] = '\0';
}

int rly_auth_response_decode(const uint8_t *body, size_t len, rly_auth_response *resp)
{
    rly_pb_field f;
    size_t off = 0;
    int rv;
    memset(resp, 0, sizeof(*resp));
    while ((rv = rly_pb_next(body, len, &off, &f)) == 1) {
        /* A known number with another wire type is an unknown field to protobuf: skipped. A
         * uint32 keeps the low 32 bits of a longer varint, as protobuf decoders do. */
        if (f.num == RESP_STATUS && f.wire == RLY_PB_WIRE_VARINT)
            resp->status = (uint32_t)f.v;
        else if (f.num == RESP_TEXT && f.wire == RLY_PB_WIRE_LEN)
            copy_text(resp->text, f.p, f.len);
    }
    if (rv != 0)
        memset(resp, 0, sizeof(*resp));
    return rv;
}

/* Tokens. */

/* ct_equal compares |a| (|alen| bytes, the presented token) with the secret |b| (|blen| bytes).
 * It reads all of |a| and wraps around |b| as needed, so its time depends on |alen| (known to the
 * presenter) and never on where the contents differ; a length mismatch is folded in at the end.
 * The volatile reads keep the compiler from turning the loop into an early-exit memcmp. */
static bool ct_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    const volatile uint8_t *va = a, *vb = b;
    unsigned diff = (unsigned)(alen != blen);
    if (blen == 0)
        return alen == 0;
    for (size_t i = 0, j = 0; i < alen; i++) {
        diff |= (unsigned)(va[i] ^ vb[j]);
        j = j + 1 == blen ? 0 : j + 1;
    }
    return diff == 0;
}

/* fmt_expiry writes |v| in decimal (no sign, no leading zeros) without a NUL. Returns its
 * length (1..20). */
static size_t fmt_expiry(uint64_t v, char out[20])
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

/* mint_mac writes the base64url text of HMAC-SHA256(secret, label || peer bytes || expiry text)
 * and a NUL to |mac|. */
static void mint_mac(const uint8_t *secret, size_t secret_len, const rly_peerid *peer,
                     const char *digits, size_t ndigits, char mac[MAC_CHARS + 1])
{
    uint8_t msg[LABEL_LEN + RLY_PEERID_MAX_BYTES + EXPIRY_DIGITS_MAX];
    uint8_t raw[RLY_HMAC_SHA256_LEN];
    RLY_ASSERT(peer->len <= RLY_PEERID_MAX_BYTES && ndigits <= EXPIRY_DIGITS_MAX);
    memcpy(msg, RLY_AUTH_MINT_LABEL, LABEL_LEN);
    memcpy(msg + LABEL_LEN, peer->bytes, peer->len);
    memcpy(msg + LABEL_LEN + peer->len, digits, ndigits);
    rly_hmac_sha256(secret, secret_len, msg, LABEL_LEN + peer->len + ndigits, raw);
    rly_ssize k = rly_base64url_encode(raw, sizeof(raw), mac, MAC_CHARS + 1);
    RLY_ASSERT(k == MAC_CHARS);
    rly_zeroize(raw, sizeof(raw));
}

rly_ssize rly_auth_mint(const uint8_t *secret, size_t secret_len, const rly_peerid *peer,
                        uint64_t expiry, char *out, size_t cap)
{
    char digits[20], mac[MAC_CHARS + 1];
    if (secret_len == 0 || expiry > (uint64_t)INT64_MAX)
        return RLY_ERR_INVALID_ARG;
    size_t nd = fmt_expiry(expiry, digits);
    size_t n = MINT_PREFIX_LEN + nd + 1 + MAC_CHARS;
    if (n >= cap)
        return RLY_ERR_NOBUF;
    mint_mac(secret, secret_len, peer, digits, nd, mac);
    memcpy(out, MINT_PREFIX, MINT_PREFIX_LEN);
    memcpy(out + MINT_PREFIX_LEN, digits, nd);
    out[MINT_PREFIX_LEN + nd] = '.';
    memcpy(out + MINT_PREFIX_LEN + nd + 1, mac, MAC_CHARS + 1);
    rly_zeroize(mac, sizeof(mac));
    return (rly_ssize)n;
}

/* parse_minted splits "v1.<expiry>.<mac>" (|len| bytes at |t|, the prefix already seen): the
 * expiry is 1..19 digits without leading zeros and at most INT64_MAX; the MAC is exactly the 43
 * characters of an unpadded base64url SHA-256 output, its last one carrying no stray bits.
 * Returns 0 or RLY_ERR_MALFORMED. */
static int parse_minted(const uint8_t *t, size_t len, uint64_t *pexpiry, const uint8_t **pmac)
{
    size_t i = MINT_PREFIX_LEN, start = MINT_PREFIX_LEN;
    uint64_t v = 0;
    for (; i < len && t[i] >= '0' && t[i] <= '9'; i++) {
        if (i - start == EXPIRY_DIGITS_MAX)
            return RLY_ERR_MALFORMED;
        v = v * 10 + (uint64_t)(t[i] - '0'); /* 19 digits fit in 64 bits */
    }
    size_t nd = i - start;
    if (nd == 0 || (t[start] == '0' && nd > 1) || v > (uint64_t)INT64_MAX)
        return RLY_ERR_MALFORMED;
    if (i == len || t[i] != '.' || len - i - 1 != MAC_CHARS)
        return RLY_ERR_MALFORMED;
    const uint8_t *mac = t + i + 1;
    /* The strict decoder checks the alphabet and that the last of the 43 characters (258 bits)
     * carries no stray bits; the MAC itself is compared as text, in constant time. */
    uint8_t raw[RLY_HMAC_SHA256_LEN];
    if (rly_base64url_decode((const char *)mac, MAC_CHARS, raw, sizeof(raw)) != RLY_HMAC_SHA256_LEN)
        return RLY_ERR_MALFORMED;
    *pexpiry = v;
    *pmac = mac;
    return 0;
}

int rly_auth_minted_expiry(const uint8_t *token, size_t len, uint64_t *pexpiry)
{
    const uint8_t *mac;
    if (len < MINT_PREFIX_LEN || memcmp(token, MINT_PREFIX, MINT_PREFIX_LEN) != 0)
        return RLY_ERR_MALFORMED;
    return parse_minted(token, len, pexpiry, &mac);
}

rly_auth_reason rly_auth_check(const uint8_t *secret, size_t secret_len, const uint8_t *token,
                               size_t len, const rly_peerid *peer, uint64_t now)
{
    uint64_t expiry;
    const uint8_t *given;
    char digits[20], want[MAC_CHARS + 1];
    if (len == 0)
        return RLY_AUTH_NO_TOKEN;
    /* The secret first: a secret that happens to look like a minted token still works. */
    if (ct_equal(token, len, secret, secret_len))
        return RLY_AUTH_OK;
    if (len < MINT_PREFIX_LEN || memcmp(token, MINT_PREFIX, MINT_PREFIX_LEN) != 0)
        return RLY_AUTH_WRONG_TOKEN;
    if (parse_minted(token, len, &expiry, &given) != 0)
        return RLY_AUTH_MALFORMED;
    /* rly_auth_mint refuses an empty secret: nothing minted can match it. */
    if (secret_len == 0)
        return RLY_AUTH_OTHER_PEER;
    mint_mac(secret, secret_len, peer, digits, fmt_expiry(expiry, digits), want);
    bool match = ct_equal(given, MAC_CHARS, (const uint8_t *)want, MAC_CHARS);
    rly_zeroize(want, sizeof(want));
    if (!match)
        return RLY_AUTH_OTHER_PEER;
    /* Expiry only after the MAC: without a valid MAC nobody learns more than "other peer". */
    return expiry <= now ? RLY_AUTH_EXPIRED : RLY_AUTH_OK;
}
