/* authsvc.c: the token authentication service (authsvc.h).
 *
 * What a connection's authentication holds lives on the connection (rly_conn.app_flags,
 * app_expiry, app_streams), so nothing here refers to a connection that may have closed: the
 * checks that need every connection (a reload, an expiry) walk the swarm's connections. */
#include "relay/authsvc.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "core/cidr.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "proto/circuit/circuit_pb.h"

#define SWEEP_MS 1000
/* Longest timer for a token expiry (a token may be valid for centuries): re-armed when it ends. */
#define EXPIRY_TIMER_MAX_MS (86400u * 1000u)

/* One exchange on an auth stream. */
typedef struct auth_ctx {
    rly_authsvc *a;
    rly_stream *s;
    rly_conn *conn; /* the stream's connection: it outlives the stream */
    rly_circuit_pb_reader reader;
    uint64_t started; /* uv_now at the stream's arrival */
    bool is_answered;
    struct auth_ctx *prev, *next;
} auth_ctx;

typedef struct quiet quiet;

/* Failure budget of one source address (or /56). */
typedef struct fail_slot {
    uint8_t key[RLY_CIDR_GROUP_LEN]; /* rly_cidr_group */
    bool used;
    double tokens;
    uint64_t last_ms;
    quiet *quiet; /* refusals over the budget not logged yet; NULL: none */
} fail_slot;

/* Refusals over the budget from one source, logged as one line with their count once
 * RLY_AUTHSVC_LOG_INTERVAL_S has passed since the first. */
struct quiet {
    quiet *next;
    fail_slot *slot;
    uint64_t since_ms; /* the first one */
    uint64_t count;
    rly_peerid peer; /* the first one's */
    const char *transport;
    char ip[INET6_ADDRSTRLEN + 8];
};

struct rly_authsvc {
    rly_swarm *sw;
    bool required;
    uint8_t secret[RLY_AUTH_TOKEN_MAX];
    size_t secret_len;
    const rly_log *log;
    rly_mem *mem;
    rly_authsvc_stats stats;
    uv_timer_t sweep;     /* exchange deadlines and quiet lines: runs while either exists */
    uv_timer_t expiry;    /* the next minted token expiry among authenticated connections */
    uint64_t next_expiry; /* unix time |expiry| is armed for; 0: not armed */
    int open_timers;      /* rly_authsvc_del: freed when both have closed */
    rly_authsvc_revoke_fn on_revoked;
    void *revoked_ud;
    auth_ctx *ctxs;
    quiet *quiets;
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

static uint64_t now_ms(const rly_authsvc *a)
{
    return uv_now(rly_swarm_loop(a->sw));
}

/* ---- failures: the budget and the log ------------------------------------------------------- */

static void log_failure(rly_authsvc *a, const rly_peerid *peer, const char *ip,
                        const char *transport, const char *reason, uint64_t repeated)
{
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    if (repeated == 0)
        RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("transport", transport),
                 RLY_F_STR("reason", reason));
    else
        RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("transport", transport),
                 RLY_F_STR("reason", reason), RLY_F_U64("repeated", repeated));
}

#define RATE_LIMITED "rate limited (too many failed attempts)"

/* flush_quiet logs the refusals |q| counted, as one line, and forgets it. */
static void flush_quiet(rly_authsvc *a, quiet *q)
{
    quiet **pp = &a->quiets;
    while (*pp != q)
        pp = &(*pp)->next;
    *pp = q->next;
    q->slot->quiet = NULL;
    log_failure(a, &q->peer, q->ip, q->transport, RATE_LIMITED, q->count);
    rly_free(a->mem, q);
}

static void on_sweep(uv_timer_t *t);

static void sweep_start(rly_authsvc *a)
{
    if (!uv_is_active((uv_handle_t *)&a->sweep))
        uv_timer_start(&a->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
}

/* note_quiet counts a refusal over the budget of |slot|: the first one of an interval starts a
 * quiet line, the others only add to its count. */
static void note_quiet(rly_authsvc *a, fail_slot *slot, const rly_conn *c, const char *ip)
{
    if (!slot->quiet) {
        quiet *q = rly_calloc(a->mem, 1, sizeof(*q));
        if (!q) { /* no memory for the count: this one is logged alone */
            log_failure(a, &c->peer, ip, c->transport, RATE_LIMITED, 1);
            return;
        }
        q->slot = slot;
        q->since_ms = now_ms(a);
        q->peer = c->peer;
        q->transport = c->transport;
        snprintf(q->ip, sizeof(q->ip), "%s", ip);
        q->next = a->quiets;
        a->quiets = q;
        slot->quiet = q;
        sweep_start(a);
    }
    slot->quiet->count++;
}

static fail_slot *slot_for(rly_authsvc *a, const uint8_t key[RLY_CIDR_GROUP_LEN])
{
    uint64_t h = a->hash_key ^ 1469598103934665603u; /* FNV-1a, keyed */
    for (size_t i = 0; i < RLY_CIDR_GROUP_LEN; i++)
        h = (h ^ key[i]) * 1099511628211u;
    fail_slot *s = &a->slots[h % RLY_AUTHSVC_FAIL_SLOTS];
    if (!s->used ||
        memcmp(s->key, key, RLY_CIDR_GROUP_LEN) != 0) { /* free, or another source's: start over */
        if (s->quiet)
            flush_quiet(a, s->quiet);
        memcpy(s->key, key, RLY_CIDR_GROUP_LEN);
        s->used = true;
        s->tokens = RLY_AUTHSVC_FAIL_BURST;
        s->last_ms = now_ms(a);
    }
    return s;
}

/* Refills |s| up to the burst; returns whether a failure may still be tried. */
static bool slot_allows(rly_authsvc *a, fail_slot *s)
{
    uint64_t now = now_ms(a);
    s->tokens += (double)(now - s->last_ms) / (1000.0 * RLY_AUTHSVC_FAIL_REFILL_S);
    if (s->tokens > RLY_AUTHSVC_FAIL_BURST)
        s->tokens = RLY_AUTHSVC_FAIL_BURST;
    s->last_ms = now;
    return s->tokens >= 1.0;
}

/* count_failure charges a failed attempt of any kind on |c| to its source's budget and logs it
 * (one line each within the budget, for fail2ban; over it, one line per interval with the
 * count). Returns whether the source was within its budget. */
static bool count_failure(rly_authsvc *a, const rly_conn *c, const char *reason)
{
    char ip[INET6_ADDRSTRLEN + 8];
    uint8_t key[RLY_CIDR_GROUP_LEN];
    source_of(c, key, ip, sizeof(ip));
    fail_slot *slot = slot_for(a, key);
    a->stats.failed++;
    if (!slot_allows(a, slot)) {
        a->stats.rate_limited++;
        note_quiet(a, slot, c, ip);
        return false;
    }
    slot->tokens -= 1.0;
    log_failure(a, &c->peer, ip, c->transport, reason, 0);
    return true;
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

/* refuse answers a failed exchange: |status| and |text| within the budget, else
 * RESOURCE_LIMIT_EXCEEDED. */
static void refuse(auth_ctx *x, uint32_t status, const char *text)
{
    if (count_failure(x->a, x->conn, text))
        answer(x, status, text);
    else
        answer(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "too many failed attempts");
}

static void arm_expiry(rly_authsvc *a, uint64_t when);

/* grant marks the connection authenticated with |token| (accepted) and answers OK. */
static void grant(auth_ctx *x, const uint8_t *token, size_t len)
{
    rly_authsvc *a = x->a;
    rly_conn *c = x->conn;
    char ip[INET6_ADDRSTRLEN + 8], pid[RLY_PEERID_STR_MAX];
    uint8_t key[RLY_CIDR_GROUP_LEN];
    uint64_t expiry = 0;
    /* accepted already: which form it was is no secret any more */
    bool shared = len == a->secret_len && memcmp(token, a->secret, a->secret_len) == 0;
    if (!shared && rly_auth_minted_expiry(token, len, &expiry) != 0)
        expiry = 0; /* cannot happen: rly_auth_check accepted it as minted */
    c->app_flags |= RLY_CONN_APP_AUTHENTICATED;
    c->app_expiry = expiry; /* the latest token counts: a shared one never lapses */
    if (expiry)
        arm_expiry(a, expiry);
    a->stats.ok++;
    source_of(c, key, ip, sizeof(ip));
    if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("Authenticated"), RLY_F_STR("peer_id", pid),
             RLY_F_STR("ip", ip), RLY_F_STR("token", shared ? "shared" : "minted"));
    answer(x, RLY_CIRCUIT_STATUS_OK, "authenticated");
}

/* The request is in: decide, answer, mark the connection. */
static void decide(auth_ctx *x, const uint8_t *body, size_t len)
{
    rly_authsvc *a = x->a;
    rly_auth_request req;
    if (!a->required) {
        answer(x, RLY_CIRCUIT_STATUS_OK, "authentication not required");
        return;
    }
    /* A valid token always passes: the budget only limits failures, so one bad neighbour behind
     * the same address cannot lock the others out. */
    if (rly_auth_request_decode(body, len, &req) != 0) {
        refuse(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, "malformed request");
        return;
    }
    rly_auth_reason why = rly_auth_check(a->secret, a->secret_len, req.token, req.token_len,
                                         &x->conn->peer, (uint64_t)time(NULL));
    if (why != RLY_AUTH_OK)
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, rly_auth_reason_text(why));
    else
        grant(x, req.token, req.token_len);
}

/* not_answered refuses an exchange that ended without a request (|text|): counted when tokens
 * are required, answered MALFORMED_MESSAGE either way. */
static void not_answered(auth_ctx *x, const char *text)
{
    if (x->a->required)
        refuse(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, text);
    else
        answer(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, text);
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
    if (used < 0)
        not_answered(x, "malformed request");
    else if (msg)
        decide(x, msg, mlen);
}

static void auth_on_fin(rly_stream *s, void *ud)
{
    auth_ctx *x = ud;
    if (!x->is_answered)
        not_answered(x, "no request");
}

static void auth_on_close(rly_stream *s, void *ud, int err)
{
    auth_ctx *x = ud;
    ctx_unlink(x);
    x->conn->app_streams--;
    rly_circuit_pb_reader_free(&x->reader);
    rly_free(x->a->mem, x);
}

static const rly_stream_handler auth_handler = {
    .on_data = auth_on_data,
    .on_fin = auth_on_fin,
    .on_close = auth_on_close,
};

/* Resets the exchanges older than the timeout (an unanswered one counts as a failure), logs the
 * quiet lines whose interval is over; runs while either is left. */
static void on_sweep(uv_timer_t *t)
{
    rly_authsvc *a = t->data;
    uint64_t now = now_ms(a);
    auth_ctx *x = a->ctxs;
    while (x) {
        auth_ctx *next = x->next;
        if (now - x->started >= RLY_AUTHSVC_TIMEOUT_S * 1000u) {
            if (!x->is_answered && a->required)
                (void)count_failure(a, x->conn, "no request in time");
            (void)rly_stream_reset(x->s); /* on_close frees it */
        }
        x = next;
    }
    quiet *q = a->quiets;
    while (q) {
        quiet *next = q->next;
        if (now - q->since_ms >= RLY_AUTHSVC_LOG_INTERVAL_S * 1000u)
            flush_quiet(a, q);
        q = next;
    }
    if (!a->ctxs && !a->quiets)
        uv_timer_stop(&a->sweep);
}

static void on_auth_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_authsvc *a = ud;
    rly_conn *c = s->conn;
    if (c->app_streams >= RLY_AUTHSVC_MAX_STREAMS) {
        if (a->required)
            (void)count_failure(a, c, "too many authentication streams at once");
        (void)rly_stream_reset(s);
        return;
    }
    auth_ctx *x = rly_calloc(a->mem, 1, sizeof(*x));
    if (!x) {
        (void)rly_stream_reset(s);
        return;
    }
    x->a = a;
    x->s = s;
    x->conn = c;
    c->app_streams++;
    x->started = uv_now(rly_swarm_loop(sw));
    rly_circuit_pb_reader_init(&x->reader, a->mem);
    x->next = a->ctxs;
    if (a->ctxs)
        a->ctxs->prev = x;
    a->ctxs = x;
    sweep_start(a);
    rly_stream_set_handler(s, &auth_handler, x);
    if (len > 0)
        auth_on_data(s, x, data, len);
}

/* ---- revocation ------------------------------------------------------------------------------ */

/* withdraw takes back |c|'s authentication (|reason|, logged when it had one) and tells the owner,
 * which ends what the connection holds. */
static void withdraw(rly_authsvc *a, rly_conn *c, const char *reason)
{
    if (c->app_flags & RLY_CONN_APP_AUTHENTICATED) {
        char ip[INET6_ADDRSTRLEN + 8], pid[RLY_PEERID_STR_MAX];
        uint8_t key[RLY_CIDR_GROUP_LEN];
        source_of(c, key, ip, sizeof(ip));
        if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
            pid[0] = '\0';
        a->stats.revoked++;
        RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthRevoked"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("reason", reason));
    }
    c->app_flags &= ~RLY_CONN_APP_AUTHENTICATED;
    c->app_expiry = 0;
    if (a->on_revoked)
        a->on_revoked(a->revoked_ud, c, reason);
}

typedef struct expiry_walk {
    rly_authsvc *a;
    uint64_t now, next; /* unix times; next 0: none */
} expiry_walk;

static void expire_one(void *ud, rly_conn *c)
{
    expiry_walk *w = ud;
    if (!(c->app_flags & RLY_CONN_APP_AUTHENTICATED) || c->app_expiry == 0)
        return;
    if (c->app_expiry <= w->now)
        withdraw(w->a, c, "token expired");
    else if (w->next == 0 || c->app_expiry < w->next)
        w->next = c->app_expiry;
}

static void on_expiry(uv_timer_t *t)
{
    rly_authsvc *a = t->data;
    expiry_walk w = {a, (uint64_t)time(NULL), 0};
    uint64_t armed = a->next_expiry;
    a->next_expiry = 0;
    if (armed > w.now) { /* a long expiry's intermediate wake-up */
        arm_expiry(a, armed);
        return;
    }
    if (rly_swarm_foreach_conn(a->sw, expire_one, &w) != 0) {
        arm_expiry(a, w.now + 1); /* no memory for the walk: try again in a second */
        return;
    }
    if (w.next)
        arm_expiry(a, w.next);
}

/* arm_expiry makes sure the expiry timer runs at unix time |when| at the latest. */
static void arm_expiry(rly_authsvc *a, uint64_t when)
{
    if (a->next_expiry && a->next_expiry <= when)
        return;
    uint64_t now = (uint64_t)time(NULL);
    uint64_t ms = when > now ? (when - now) * 1000u : 0;
    a->next_expiry = when;
    uv_timer_start(&a->expiry, on_expiry, ms < EXPIRY_TIMER_MAX_MS ? ms : EXPIRY_TIMER_MAX_MS, 0);
}

typedef struct reload_walk {
    rly_authsvc *a;
    const char *reason;
} reload_walk;

static void revoke_one(void *ud, rly_conn *c)
{
    reload_walk *w = ud;
    withdraw(w->a, c, w->reason);
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
    uv_timer_init(rly_swarm_loop(sw), &a->expiry);
    a->sweep.data = a->expiry.data = a;
    a->open_timers = 2;
    *pa = a;
    return 0;
}

void rly_authsvc_set_revoke_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud)
{
    a->on_revoked = fn;
    a->revoked_ud = ud;
}

int rly_authsvc_update(rly_authsvc *a, bool required, const uint8_t *secret, size_t len)
{
    if ((required && len == 0) || len > RLY_AUTH_TOKEN_MAX)
        return RLY_ERR_INVALID_ARG;
    /* Operator input, compared once per reload: no need for constant time. */
    bool changed = len != a->secret_len || (len > 0 && memcmp(secret, a->secret, len) != 0);
    bool was_required = a->required;
    rly_zeroize(a->secret, sizeof(a->secret));
    if (len > 0)
        memcpy(a->secret, secret, len);
    a->secret_len = len;
    a->required = required;
    if (!required || (was_required && !changed))
        return 0;
    /* Every authentication was under the old secret (its minted tokens do not verify under the
     * new one), or there was none to have: no connection is authorised any more. */
    reload_walk w = {a, was_required ? "auth_token changed" : "authentication now required"};
    if (rly_swarm_foreach_conn(a->sw, revoke_one, &w) != 0)
        RLY_LOGE(a->log, RLY_TARGET_EVENTS,
                 RLY_MSG("Cannot revoke the authentications of the old auth_token (out of memory): "
                         "they stay until their connections close"));
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
    if (!a->required)
        return true;
    /* The expiry timer ends what the connection holds; until it runs, the mark lapses here. */
    return (c->app_flags & RLY_CONN_APP_AUTHENTICATED) != 0 &&
           (c->app_expiry == 0 || c->app_expiry > (uint64_t)time(NULL));
}

static void timer_closed(uv_handle_t *h)
{
    rly_authsvc *a = h->data;
    if (--a->open_timers > 0)
        return;
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
        x->conn->app_streams--;
        (void)rly_stream_reset(x->s);
        rly_circuit_pb_reader_free(&x->reader);
        rly_free(a->mem, x);
    }
    while (a->quiets)
        flush_quiet(a, a->quiets);
    uv_close((uv_handle_t *)&a->sweep, timer_closed);
    uv_close((uv_handle_t *)&a->expiry, timer_closed);
}
