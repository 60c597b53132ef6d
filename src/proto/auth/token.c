/* token.c: signed peer tokens (token.h). */
#include "proto/auth/token.h"

#include <string.h>

#include "core/base64.h"
#include "core/dynbuf.h"
#include "core/pb.h"
#include "crypto/envelope.h"

enum {
    F_PEER = 1,
    F_EXPIRY = 2,
    F_RELAY = 3,
    F_CLASS = 4,
    F_ID = 5,
    F_ISSUED = 6,
};

#define PREFIX_LEN (sizeof(RLY_TOKEN_PREFIX) - 1)
#define PTYPE_LEN (sizeof(RLY_TOKEN_PAYLOAD_TYPE) - 1)
/* The envelope bytes a token text can hold. */
#define ENVELOPE_MAX ((RLY_TOKEN_TEXT_MAX - PREFIX_LEN) / 4 * 3 + 2)
#define PAYLOAD_MAX 768

const char *rly_token_verdict_text(rly_token_verdict v)
{
    switch (v) {
    case RLY_TOKEN_OK: return "ok";
    case RLY_TOKEN_UNKNOWN_SIGNER: return "token not signed by a control-plane key";
    case RLY_TOKEN_EXPIRED: return "expired token";
    case RLY_TOKEN_OTHER_PEER: return "token for another peer";
    case RLY_TOKEN_OTHER_RELAY: return "token for other relays";
    }
    return "refused token";
}

bool rly_token_class_valid(const char *s, size_t n)
{
    if (n == 0 || n > RLY_TOKEN_CLASS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The key byte of field |num| with wire type |wire|. */
#define TAG(num, wire) ((uint8_t)((num) << 3 | (wire)))

/* valid_fields checks what mint writes and open accepts, so both hold the same rules. */
static bool valid_fields(const rly_token *t)
{
    size_t cls_len = strnlen(t->cls, sizeof(t->cls));
    if (t->peer.len == 0 || t->peer.len > RLY_PEERID_MAX_BYTES || t->expiry == 0 ||
        t->expiry > INT64_MAX || t->issued > INT64_MAX || t->nrelays > RLY_TOKEN_MAX_RELAYS ||
        t->id_len == 0 || t->id_len > RLY_TOKEN_ID_MAX || cls_len == sizeof(t->cls) ||
        (cls_len > 0 && !rly_token_class_valid(t->cls, cls_len)))
        return false;
    for (size_t i = 0; i < t->nrelays; i++)
        if (t->relays[i].len == 0 || t->relays[i].len > RLY_PEERID_MAX_BYTES)
            return false;
    return true;
}

static int put_payload(rly_dynbuf *b, const rly_token *t)
{
    int rv = rly_pb_append_bytes(b, TAG(F_PEER, RLY_PB_WIRE_LEN), t->peer.bytes, t->peer.len);
    if (rv == 0)
        rv = rly_pb_append_uint(b, TAG(F_EXPIRY, RLY_PB_WIRE_VARINT), t->expiry);
    for (size_t i = 0; rv == 0 && i < t->nrelays; i++)
        rv = rly_pb_append_bytes(b, TAG(F_RELAY, RLY_PB_WIRE_LEN), t->relays[i].bytes,
                                 t->relays[i].len);
    if (rv == 0 && t->cls[0] != '\0')
        rv = rly_pb_append_bytes(b, TAG(F_CLASS, RLY_PB_WIRE_LEN), t->cls, strlen(t->cls));
    if (rv == 0)
        rv = rly_pb_append_bytes(b, TAG(F_ID, RLY_PB_WIRE_LEN), t->id, t->id_len);
    if (rv == 0 && t->issued != 0)
        rv = rly_pb_append_uint(b, TAG(F_ISSUED, RLY_PB_WIRE_VARINT), t->issued);
    return rv;
}

rly_ssize rly_token_mint(const rly_keypair *kp, const rly_token *t, char *out, size_t cap,
                         rly_mem *mem)
{
    if (!valid_fields(t))
        return RLY_ERR_INVALID_ARG;
    rly_dynbuf payload, env;
    rly_dynbuf_init(&payload, mem, PAYLOAD_MAX);
    rly_dynbuf_init(&env, mem, ENVELOPE_MAX);
    int rv = put_payload(&payload, t);
    if (rv == 0)
        rv = rly_envelope_seal(kp, RLY_TOKEN_DOMAIN, (const uint8_t *)RLY_TOKEN_PAYLOAD_TYPE,
                               PTYPE_LEN, payload.data, payload.len, &env);
    rly_ssize n = rv;
    if (rv == 0) {
        size_t room = cap < RLY_TOKEN_TEXT_MAX + 1 ? cap : RLY_TOKEN_TEXT_MAX + 1;
        if (room <= PREFIX_LEN) {
            n = RLY_ERR_NOBUF;
        } else {
            memcpy(out, RLY_TOKEN_PREFIX, PREFIX_LEN);
            n = rly_base64url_encode(env.data, env.len, out + PREFIX_LEN, room - PREFIX_LEN);
            if (n >= 0)
                n += (rly_ssize)PREFIX_LEN;
        }
    }
    rly_dynbuf_free(&payload);
    rly_dynbuf_free(&env);
    return n;
}

bool rly_token_is_signed(const uint8_t *text, size_t len)
{
    return len >= PREFIX_LEN && memcmp(text, RLY_TOKEN_PREFIX, PREFIX_LEN) == 0;
}

/* decode_payload reads the payload strictly into |t| (token.h). */
static int decode_payload(rly_token *t, const uint8_t *p, size_t len)
{
    bool seen[F_ISSUED + 1] = {false};
    size_t off = 0;
    rly_pb_field f;
    int rv;
    while ((rv = rly_pb_next(p, len, &off, &f)) == 1) {
        bool want_len = f.num == F_PEER || f.num == F_RELAY || f.num == F_CLASS || f.num == F_ID;
        bool want_varint = f.num == F_EXPIRY || f.num == F_ISSUED;
        if ((!want_len && !want_varint) ||
            f.wire != (want_len ? RLY_PB_WIRE_LEN : RLY_PB_WIRE_VARINT))
            return RLY_ERR_MALFORMED;
        if (f.num != F_RELAY && seen[f.num])
            return RLY_ERR_MALFORMED;
        seen[f.num] = true;
        switch (f.num) {
        case F_PEER:
            if (f.len == 0 || rly_peerid_from_bytes(&t->peer, f.p, f.len) != 0)
                return RLY_ERR_MALFORMED;
            break;
        case F_EXPIRY:
            if (f.v == 0 || f.v > INT64_MAX)
                return RLY_ERR_MALFORMED;
            t->expiry = f.v;
            break;
        case F_ISSUED:
            if (f.v > INT64_MAX)
                return RLY_ERR_MALFORMED;
            t->issued = f.v;
            break;
        case F_RELAY:
            if (t->nrelays == RLY_TOKEN_MAX_RELAYS || f.len == 0 ||
                rly_peerid_from_bytes(&t->relays[t->nrelays], f.p, f.len) != 0)
                return RLY_ERR_MALFORMED;
            t->nrelays++;
            break;
        case F_CLASS:
            if (!rly_token_class_valid((const char *)f.p, f.len))
                return RLY_ERR_MALFORMED;
            memcpy(t->cls, f.p, f.len);
            t->cls[f.len] = '\0';
            break;
        case F_ID:
            if (f.len == 0 || f.len > RLY_TOKEN_ID_MAX)
                return RLY_ERR_MALFORMED;
            memcpy(t->id, f.p, f.len);
            t->id_len = f.len;
            break;
        default: return RLY_ERR_MALFORMED;
        }
    }
    if (rv != 0 || !seen[F_PEER] || !seen[F_EXPIRY] || !seen[F_ID])
        return RLY_ERR_MALFORMED;
    return 0;
}

int rly_token_open(rly_token *t, const uint8_t *text, size_t len, rly_mem *mem)
{
    uint8_t raw[ENVELOPE_MAX];
    rly_envelope env;
    rly_token tmp;
    if (!rly_token_is_signed(text, len) || len > RLY_TOKEN_TEXT_MAX)
        return RLY_ERR_MALFORMED;
    rly_ssize n =
        rly_base64url_decode((const char *)text + PREFIX_LEN, len - PREFIX_LEN, raw, sizeof(raw));
    if (n <= 0)
        return RLY_ERR_MALFORMED;
    int rv = rly_envelope_open(&env, raw, (size_t)n, RLY_TOKEN_DOMAIN, mem);
    if (rv == RLY_ERR_NOBUF)
        rv = RLY_ERR_MALFORMED;
    if (rv != 0)
        return rv;
    memset(&tmp, 0, sizeof(tmp));
    if (env.payload_type_len != PTYPE_LEN ||
        memcmp(env.payload_type, RLY_TOKEN_PAYLOAD_TYPE, PTYPE_LEN) != 0)
        rv = RLY_ERR_MALFORMED;
    else
        rv = decode_payload(&tmp, env.payload, env.payload_len);
    if (rv == 0) {
        tmp.signer = env.signer;
        *t = tmp;
    }
    rly_envelope_free(&env);
    return rv;
}

rly_token_verdict rly_token_check(const rly_token *t, const rly_peerid *keys, size_t nkeys,
                                  const rly_peerid *peer, const rly_peerid *relay, uint64_t now)
{
    bool trusted = false;
    for (size_t i = 0; i < nkeys; i++)
        trusted = trusted || rly_peerid_equal(&keys[i], &t->signer);
    if (!trusted)
        return RLY_TOKEN_UNKNOWN_SIGNER;
    if (!rly_peerid_equal(&t->peer, peer))
        return RLY_TOKEN_OTHER_PEER;
    if (t->expiry <= now)
        return RLY_TOKEN_EXPIRED;
    if (t->nrelays == 0)
        return RLY_TOKEN_OK;
    for (size_t i = 0; i < t->nrelays; i++)
        if (rly_peerid_equal(&t->relays[i], relay))
            return RLY_TOKEN_OK;
    return RLY_TOKEN_OTHER_RELAY;
}

void rly_token_id_hex(const rly_token *t, char out[RLY_TOKEN_ID_HEX_MAX])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = t->id_len <= RLY_TOKEN_ID_MAX ? t->id_len : RLY_TOKEN_ID_MAX;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[t->id[i] >> 4];
        out[2 * i + 1] = hex[t->id[i] & 15];
    }
    out[2 * n] = '\0';
}
