/* authsvc.c: the token authentication service (authsvc.h). */
#include "relay/authsvc.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "core/cidr.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "proto/circuit/circuit_pb.h"

#define SWEEP_MS 1000

/* One exchange on an auth stream. */
typedef struct auth_ctx {
    rly_authsvc *a;
    rly_stream *s;
    rly_circuit_pb_reader reader;
    uint64_t started; /* uv_now at the stream's arrival */
    bool is_answered;
    struct auth_ctx *prev, *next;
} auth_ctx;

/* Failure budget of one source address (or /56). */
typedef struct fail_slot {
    uint8_t key[RLY_CIDR_GROUP_LEN]; /* rly_cidr_group */
    bool used;
    double tokens;
    uint64_t last_ms;
} fail_slot;

struct rly_authsvc {
    rly_swarm *sw;
    bool required;
    uint8_t secret[RLY_AUTH_TOKEN_MAX];
    size_t secret_len;
    const rly_log *log;
    rly_mem *mem;
    rly_authsvc_stats stats;
    uv_timer_t sweep;
    auth_ctx *ctxs;
    uint64_t hash_key; /* random: which addresses share a slot is not predictable */
    fail_slot slots[RLY_AUTHSVC_FAIL_SLOTS];
};

/* ---- source addresses ------------------------------------------------------------------------ */

/* The slot key and printable address of |c|'s remote end. */
static void source_of(const rly_conn *c, uint8_t key[RLY_CIDR_GROUP_LEN], char *text, size_t cap)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = rly_conn_remote_sockaddr(c, &ss);
    memset(key, 0, RLY_CIDR_GROUP_LEN);
    snprintf(text, cap, "unknown");
    if (!sa || !rly_cidr_group(sa, key))
        return;
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, a, text, (socklen_t)cap))
        snprintf(text, cap, "unknown");
}

static fail_slot *slot_for(rly_authsvc *a, const uint8_t key[RLY_CIDR_GROUP_LEN])
{
    uint64_t h = a->hash_key ^ 1469598103934665603u; /* FNV-1a, keyed */
    for (size_t i = 0; i < RLY_CIDR_GROUP_LEN; i++)
        h = (h ^ key[i]) * 1099511628211u;
    fail_slot *s = &a->slots[h % RLY_AUTHSVC_FAIL_SLOTS];
    if (!s->used ||
        memcmp(s->key, key, RLY_CIDR_GROUP_LEN) != 0) { /* free, or another source's: start over */
        memcpy(s->key, key, RLY_CIDR_GROUP_LEN);
        s->used = true;
        s->tokens = RLY_AUTHSVC_FAIL_BURST;
        s->last_ms = uv_now(rly_swarm_loop(a->sw));
    }
    return s;
}

/* Refills |s| up to the burst; returns whether a failure may still be tried. */
static bool slot_allows(rly_authsvc *a, fail_slot *s)
{
    uint64_t now = uv_now(rly_swarm_loop(a->sw));
    s->tokens += (double)(now - s->last_ms) / (1000.0 * RLY_AUTHSVC_FAIL_REFILL_S);
    if (s->tokens > RLY_AUTHSVC_FAIL_BURST)
        s->tokens = RLY_AUTHSVC_FAIL_BURST;
    s->last_ms = now;
    return s->tokens >= 1.0;
}

/* ---- one exchange ---------------------------------------------------------------------------- */

static void ctx_unlink(auth_ctx *x)
{
    rly_authsvc *a = x->a;
    if (x->prev)
        x->prev->next = x->next;
    else if (a->ctxs == x)
        a->ctxs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void answer(auth_ctx *x, uint32_t status, const char *text)
{
    uint8_t small[RLY_AUTH_TEXT_MAX + 16];
    rly_dynbuf b;
    x->is_answered = true;
    rly_dynbuf_init_small(&b, small, sizeof(small), x->a->mem, sizeof(small));
    if (rly_auth_response_encode(status, text, &b) != 0 ||
        rly_stream_write(x->s, b.data, b.len) != (rly_ssize)b.len)
        (void)rly_stream_reset(x->s);
    else
        (void)rly_stream_shutdown(x->s);
    rly_dynbuf_free(&b);
}

static void log_failure(rly_authsvc *a, const rly_conn *c, const char *ip, const char *reason)
{
    a->stats.failed++;
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
             RLY_F_STR("ip", ip), RLY_F_STR("transport", c->transport),
             RLY_F_STR("reason", reason));
}

/* The request is in: decide, answer, mark the connection. */
static void decide(auth_ctx *x, const uint8_t *body, size_t len)
{
    rly_authsvc *a = x->a;
    rly_conn *c = x->s->conn;
    rly_auth_request req;
    char ip[INET6_ADDRSTRLEN + 8], pid[RLY_PEERID_STR_MAX];
    uint8_t key[RLY_CIDR_GROUP_LEN];
    if (!a->required) {
        answer(x, RLY_CIRCUIT_STATUS_OK, "authentication not required");
        return;
    }
    source_of(c, key, ip, sizeof(ip));
    /* A valid token always passes: the budget only limits failures, so one bad neighbour behind
     * the same address cannot lock the others out. */
    bool decoded = rly_auth_request_decode(body, len, &req) == 0;
    rly_auth_reason why = decoded ? rly_auth_check(a->secret, a->secret_len, req.token,
                                                   req.token_len, &c->peer, (uint64_t)time(NULL))
                                  : RLY_AUTH_MALFORMED;
    if (!decoded || why != RLY_AUTH_OK) {
        fail_slot *slot = slot_for(a, key);
        if (!slot_allows(a, slot)) {
            a->stats.rate_limited++;
            log_failure(a, c, ip, "rate limited (too many failed attempts)");
            answer(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "too many failed attempts");
            return;
        }
        slot->tokens -= 1.0;
        const char *text = decoded ? rly_auth_reason_text(why) : "malformed request";
        log_failure(a, c, ip, text);
        answer(x,
               decoded ? RLY_CIRCUIT_STATUS_PERMISSION_DENIED
                       : RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE,
               text);
        return;
    }
    c->app_flags |= RLY_CONN_APP_AUTHENTICATED;
    a->stats.ok++;
    if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    /* accepted already: which form it was is no secret any more */
    bool shared =
        req.token_len == a->secret_len && memcmp(req.token, a->secret, a->secret_len) == 0;
    RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("Authenticated"), RLY_F_STR("peer_id", pid),
             RLY_F_STR("ip", ip), RLY_F_STR("token", shared ? "shared" : "minted"));
    answer(x, RLY_CIRCUIT_STATUS_OK, "authenticated");
}

static void auth_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    auth_ctx *x = ud;
    const uint8_t *msg = NULL;
    size_t mlen = 0;
    if (x->is_answered) { /* nothing more is expected: dropped */
        (void)rly_stream_consume(s, len);
        return;
    }
    rly_ssize used = rly_circuit_pb_reader_recv(&x->reader, data, len, &msg, &mlen);
    (void)rly_stream_consume(s, len);
    if (used < 0) {
        char ip[INET6_ADDRSTRLEN + 8];
        uint8_t key[RLY_CIDR_GROUP_LEN];
        source_of(s->conn, key, ip, sizeof(ip));
        if (x->a->required)
            log_failure(x->a, s->conn, ip, "malformed request");
        answer(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, "malformed request");
        return;
    }
    if (msg)
        decide(x, msg, mlen);
}

static void auth_on_fin(rly_stream *s, void *ud)
{
    auth_ctx *x = ud;
    if (!x->is_answered)
        answer(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, "no request");
}

static void auth_on_close(rly_stream *s, void *ud, int err)
{
    auth_ctx *x = ud;
    ctx_unlink(x);
    rly_circuit_pb_reader_free(&x->reader);
    rly_free(x->a->mem, x);
}

static const rly_stream_handler auth_handler = {
    .on_data = auth_on_data,
    .on_fin = auth_on_fin,
    .on_close = auth_on_close,
};

/* Resets the exchanges older than the timeout; runs while any is open. */
static void on_sweep(uv_timer_t *t)
{
    rly_authsvc *a = t->data;
    uint64_t now = uv_now(rly_swarm_loop(a->sw));
    auth_ctx *x = a->ctxs;
    while (x) {
        auth_ctx *next = x->next;
        if (now - x->started >= RLY_AUTHSVC_TIMEOUT_S * 1000u)
            (void)rly_stream_reset(x->s); /* on_close frees it */
        x = next;
    }
    if (!a->ctxs)
        uv_timer_stop(&a->sweep);
}

static void on_auth_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_authsvc *a = ud;
    auth_ctx *x = rly_calloc(a->mem, 1, sizeof(*x));
    if (!x) {
        (void)rly_stream_reset(s);
        return;
    }
    x->a = a;
    x->s = s;
    x->started = uv_now(rly_swarm_loop(sw));
    rly_circuit_pb_reader_init(&x->reader, a->mem);
    x->next = a->ctxs;
    if (a->ctxs)
        a->ctxs->prev = x;
    a->ctxs = x;
    if (!uv_is_active((uv_handle_t *)&a->sweep))
        uv_timer_start(&a->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    rly_stream_set_handler(s, &auth_handler, x);
    if (len > 0)
        auth_on_data(s, x, data, len);
}

/* ---- the service ----------------------------------------------------------------------------- */

int rly_authsvc_new(rly_authsvc **pa, rly_swarm *sw, bool required, const uint8_t *secret,
                    size_t len, const rly_log *log, rly_mem *mem)
{
    if ((required && len == 0) || len > RLY_AUTH_TOKEN_MAX)
        return RLY_ERR_INVALID_ARG;
    rly_authsvc *a = rly_calloc(mem, 1, sizeof(*a));
    if (!a)
        return RLY_ERR_NOMEM;
    a->sw = sw;
    a->required = required;
    if (len > 0)
        memcpy(a->secret, secret, len);
    a->secret_len = len;
    a->log = log;
    a->mem = mem;
    if (rly_crypto_random((uint8_t *)&a->hash_key, sizeof(a->hash_key)) != 0) {
        rly_zeroize(a->secret, sizeof(a->secret));
        rly_free(mem, a);
        return RLY_ERR_CRYPTO;
    }
    int rv = rly_swarm_add_protocol(sw, RLY_AUTH_PROTOCOL, on_auth_stream, a);
    if (rv != 0) {
        rly_zeroize(a->secret, sizeof(a->secret));
        rly_free(mem, a);
        return rv;
    }
    uv_timer_init(rly_swarm_loop(sw), &a->sweep);
    a->sweep.data = a;
    *pa = a;
    return 0;
}

int rly_authsvc_update(rly_authsvc *a, bool required, const uint8_t *secret, size_t len)
{
    if ((required && len == 0) || len > RLY_AUTH_TOKEN_MAX)
        return RLY_ERR_INVALID_ARG;
    rly_zeroize(a->secret, sizeof(a->secret));
    if (len > 0)
        memcpy(a->secret, secret, len);
    a->secret_len = len;
    a->required = required;
    return 0;
}

void rly_authsvc_stats_get(const rly_authsvc *a, rly_authsvc_stats *out)
{
    *out = a->stats;
}

bool rly_authsvc_is_required(const rly_authsvc *a)
{
    return a->required;
}

bool rly_authsvc_is_authenticated(const rly_authsvc *a, const rly_conn *c)
{
    return !a->required || (c->app_flags & RLY_CONN_APP_AUTHENTICATED) != 0;
}

static void sweep_closed(uv_handle_t *h)
{
    rly_authsvc *a = h->data;
    rly_zeroize(a->secret, sizeof(a->secret));
    rly_free(a->mem, a);
}

void rly_authsvc_del(rly_authsvc *a)
{
    if (!a)
        return;
    while (a->ctxs) {
        auth_ctx *x = a->ctxs;
        ctx_unlink(x); /* reset may run on_close later; the stream no longer refers to us */
        rly_stream_set_handler(x->s, NULL, NULL);
        (void)rly_stream_reset(x->s);
        rly_circuit_pb_reader_free(&x->reader);
        rly_free(a->mem, x);
    }
    uv_close((uv_handle_t *)&a->sweep, sweep_closed);
}
