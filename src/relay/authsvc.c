/* authsvc.c: the token authentication service (authsvc.h).
 *
 * What a connection's authentication holds is a grant hanging off the connection
 * (rly_conn.app_auth; app_streams counts its exchanges), freed when the connection closes
 * (rly_authsvc_conn_closed) or the authentication is withdrawn; every grant is also on the
 * service's list, so rly_authsvc_del frees those of connections whose close it was not told of.
 * Nothing here refers to a connection that may have closed: a grant does not point back, and
 * the checks that need every connection (a reload, an expiry, a revocation) walk the host's.
 * A peer's authentication is the newest valid grant among its connections (host.peer_conns).
 * Time comes from the host: deadlines on its timer queue, token expiry from its wall clock, so
 * the stateful fuzzer (fuzz/fuzz_authsvc.c) can run it on a virtual clock. */
#include "relay/authsvc.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "core/cidr.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "proto/auth/token.h"
#include "proto/circuit/circuit_pb.h"

#define SWEEP_MS 1000
/* Longest timer for a token expiry (a token may be valid for centuries): re-armed when it ends. */
#define EXPIRY_TIMER_MAX_MS (86400u * 1000u)

/* The form of an accepted token. */
typedef enum grant_form { FORM_SHARED, FORM_MINTED, FORM_SIGNED } grant_form;

static const char *const form_names[] = {"shared", "minted", "signed"};

/* What one connection's accepted token gave its peer. */
typedef struct grant {
    struct grant *prev, *next; /* the service's list */
    grant_form form;
    uint64_t expiry; /* unix seconds; 0: never */
    uint64_t seq;    /* grants in the order they were made: the peer's newest counts */
    /* FORM_SIGNED: */
    rly_peerid signer;
    uint8_t id[RLY_TOKEN_ID_MAX];
    size_t id_len;
    char cls[RLY_TOKEN_CLASS_MAX + 1]; /* "": none */
} grant;

/* One exchange on an auth stream. */
typedef struct auth_ctx {
    rly_authsvc *a;
    rly_stream *s;
    rly_conn *conn; /* the stream's connection: it outlives the stream */
    rly_circuit_pb_reader reader;
    uint64_t started; /* now_ms at the stream's arrival */
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
    rly_authsvc_host host;
    bool required;
    bool is_shut_down; /* rly_authsvc_shutdown: no timer is armed any more */
    uint8_t secret[RLY_AUTH_TOKEN_MAX];
    size_t secret_len;
    rly_peerid keys[RLY_AUTHSVC_MAX_KEYS];
    size_t nkeys;
    const rly_auth_class_list *classes;
    rly_revoked revoked;
    grant *grants;
    uint64_t seq;
    const rly_log *log;
    rly_mem *mem;
    rly_authsvc_stats stats;
    rly_timer sweep;      /* exchange deadlines and quiet lines: runs while either exists */
    rly_timer expiry;     /* the next token expiry among authenticated connections */
    uint64_t next_expiry; /* unix time |expiry| is armed for; 0: not armed */
    rly_authsvc_revoke_fn on_revoked;
    void *revoked_ud;
    rly_authsvc_revoke_fn on_reclassed;
    void *reclassed_ud;
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
    return rly_timerq_now(a->host.timers) / RLY_NS_PER_MS;
}

static uint64_t unix_now(const rly_authsvc *a)
{
    return a->host.unix_now(a->host.ud);
}

/* ---- failures: the budget and the log ------------------------------------------------------- */

static void log_failure(rly_authsvc *a, const rly_peerid *peer, const char *ip,
                        const char *transport, const char *reason, uint64_t repeated,
                        const char *token_id)
{
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    if (repeated > 0)
        RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("transport", transport),
                 RLY_F_STR("reason", reason), RLY_F_U64("repeated", repeated));
    else if (token_id)
        RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("transport", transport),
                 RLY_F_STR("reason", reason), RLY_F_STR("token_id", token_id));
    else
        RLY_LOGW(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthFailed"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("transport", transport),
                 RLY_F_STR("reason", reason));
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
    log_failure(a, &q->peer, q->ip, q->transport, RATE_LIMITED, q->count, NULL);
    rly_free(a->mem, q);
}

static void sweep_start(rly_authsvc *a)
{
    if (!rly_timerq_is_active(&a->sweep) && !a->is_shut_down)
        rly_timerq_start(a->host.timers, &a->sweep,
                         rly_timerq_now(a->host.timers) + SWEEP_MS * RLY_NS_PER_MS);
}

/* note_quiet counts a refusal over the budget of |slot|: the first one of an interval starts a
 * quiet line, the others only add to its count. */
static void note_quiet(rly_authsvc *a, fail_slot *slot, const rly_conn *c, const char *ip)
{
    if (!slot->quiet) {
        quiet *q = rly_calloc(a->mem, 1, sizeof(*q));
        if (!q) { /* no memory for the count: this one is logged alone */
            log_failure(a, &c->peer, ip, c->transport, RATE_LIMITED, 1, NULL);
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
 * (one line each within the budget, for fail2ban, with the token's id when it has a meaningful
 * one; over it, one line per interval with the count). Returns whether the source was within
 * its budget. */
static bool count_failure(rly_authsvc *a, const rly_conn *c, const char *reason,
                          const char *token_id)
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
    log_failure(a, &c->peer, ip, c->transport, reason, 0, token_id);
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
 * RESOURCE_LIMIT_EXCEEDED. |token_id|: the refused token's, for the log (NULL: none). */
static void refuse(auth_ctx *x, uint32_t status, const char *text, const char *token_id)
{
    if (count_failure(x->a, x->conn, text, token_id))
        answer(x, status, text);
    else
        answer(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "too many failed attempts");
}

static void arm_expiry(rly_authsvc *a, uint64_t when);

static void grant_unlink(rly_authsvc *a, grant *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        a->grants = g->next;
    if (g->next)
        g->next->prev = g->prev;
}

/* drop_grant frees what |c| holds (if anything). */
static void drop_grant(rly_authsvc *a, rly_conn *c)
{
    grant *g = c->app_auth;
    if (!g)
        return;
    grant_unlink(a, g);
    c->app_auth = NULL;
    rly_free(a->mem, g);
}

static bool grant_valid(const grant *g, uint64_t now)
{
    return g && (g->expiry == 0 || g->expiry > now);
}

/* peer_grant returns the newest valid grant among |peer|'s connections, or NULL. */
static const grant *peer_grant(const rly_authsvc *a, const rly_peerid *peer, uint64_t now)
{
    size_t n;
    rly_conn *const *conns = a->host.peer_conns(a->host.ud, peer, &n);
    const grant *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const grant *g = conns[i]->app_auth;
        if (grant_valid(g, now) && (!best || g->seq > best->seq))
            best = g;
    }
    return best;
}

/* reclassed tells the owner that a token of |peer| that named a class stopped counting while the
 * peer stays authenticated: what the class gave beyond the limits that apply now must end. */
static void reclassed(rly_authsvc *a, const rly_peerid *peer, const char *reason)
{
    if (a->on_reclassed)
        a->on_reclassed(a->reclassed_ud, peer, reason);
}

static void id_hex(const uint8_t *id, size_t len, char out[RLY_TOKEN_ID_HEX_MAX])
{
    rly_token t;
    t.id_len = len;
    memcpy(t.id, id, len);
    rly_token_id_hex(&t, out);
}

/* grant_conn gives the connection the token accepted (|g|: its form and what it says; copied)
 * and answers OK. */
static void grant_conn(auth_ctx *x, const grant *proto)
{
    rly_authsvc *a = x->a;
    rly_conn *c = x->conn;
    char ip[INET6_ADDRSTRLEN + 8], pid[RLY_PEERID_STR_MAX], id[RLY_TOKEN_ID_HEX_MAX];
    uint8_t key[RLY_CIDR_GROUP_LEN];
    grant *g = c->app_auth;
    if (!g) {
        g = rly_calloc(a->mem, 1, sizeof(*g));
        if (!g) { /* not the peer's fault: not counted as a failure */
            answer(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "the relay is out of memory");
            return;
        }
        g->next = a->grants;
        if (a->grants)
            a->grants->prev = g;
        a->grants = g;
        c->app_auth = g;
    }
    grant *prev = g->prev, *next = g->next;
    char old_cls[sizeof(g->cls)];
    memcpy(old_cls, g->cls, sizeof(old_cls)); /* "" for a new grant */
    *g = *proto; /* the latest token counts: a shared one after a minted one never lapses */
    g->prev = prev;
    g->next = next;
    g->seq = ++a->seq;
    if (g->expiry)
        arm_expiry(a, g->expiry);
    a->stats.ok++;
    a->stats.ok_shared += g->form == FORM_SHARED;
    a->stats.ok_minted += g->form == FORM_MINTED;
    a->stats.ok_signed += g->form == FORM_SIGNED;
    source_of(c, key, ip, sizeof(ip));
    if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    if (g->form != FORM_SIGNED) {
        RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("Authenticated"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("token", form_names[g->form]));
    } else {
        id_hex(g->id, g->id_len, id);
        const char *limits = "the relay's";
        if (strcmp(g->cls, RLY_AUTH_CLASS_TRUSTED) == 0)
            limits = "none (class trusted)";
        else if (rly_auth_class_find(a->classes, g->cls))
            limits = "the class's";
        else if (g->cls[0])
            limits = "the relay's (class not configured here)";
        RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("Authenticated"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("token", "signed"), RLY_F_STR("token_id", id),
                 RLY_F_STR("class", g->cls[0] ? g->cls : "none"), RLY_F_STR("limits", limits),
                 RLY_F_U64("expiry", g->expiry));
    }
    if (old_cls[0] && strcmp(old_cls, g->cls) != 0)
        reclassed(a, &c->peer, "its token of a limits class was replaced");
    answer(x, RLY_CIRCUIT_STATUS_OK, "authenticated");
}

/* decide_signed decides on a v2. token. */
static void decide_signed(auth_ctx *x, const uint8_t *token, size_t len)
{
    rly_authsvc *a = x->a;
    rly_token t;
    if (a->nkeys == 0) {
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
               "signed tokens are not accepted here (no control_plane_keys)", NULL);
        return;
    }
    int rv = rly_token_open(&t, token, len, a->mem);
    if (rv == RLY_ERR_NOMEM) {
        answer(x, RLY_CIRCUIT_STATUS_RESOURCE_LIMIT_EXCEEDED, "the relay is out of memory");
        return;
    }
    if (rv != 0) {
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
               rv == RLY_ERR_SIGNATURE ? "bad token signature" : "malformed token", NULL);
        return;
    }
    char id[RLY_TOKEN_ID_HEX_MAX];
    rly_token_id_hex(&t, id);
    rly_token_verdict v =
        rly_token_check(&t, a->keys, a->nkeys, &x->conn->peer, &a->host.self, unix_now(a));
    if (v == RLY_TOKEN_OK && rly_revoked_has(&a->revoked, t.id, t.id_len)) {
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, "revoked token", id);
        return;
    }
    if (v != RLY_TOKEN_OK) {
        /* The id of a token nobody we trust signed means nothing: not logged. */
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, rly_token_verdict_text(v),
               v == RLY_TOKEN_UNKNOWN_SIGNER ? NULL : id);
        return;
    }
    grant g = {.form = FORM_SIGNED, .expiry = t.expiry, .signer = t.signer, .id_len = t.id_len};
    memcpy(g.id, t.id, t.id_len);
    memcpy(g.cls, t.cls, sizeof(g.cls));
    grant_conn(x, &g);
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
        refuse(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, "malformed request", NULL);
        return;
    }
    if (req.token_len > 0 && rly_token_is_signed(req.token, req.token_len)) {
        decide_signed(x, req.token, req.token_len);
        return;
    }
    if (a->secret_len == 0) { /* only signed tokens here */
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED,
               req.token_len == 0 ? rly_auth_reason_text(RLY_AUTH_NO_TOKEN)
                                  : rly_auth_reason_text(RLY_AUTH_WRONG_TOKEN),
               NULL);
        return;
    }
    rly_auth_reason why = rly_auth_check(a->secret, a->secret_len, req.token, req.token_len,
                                         &x->conn->peer, unix_now(a));
    if (why != RLY_AUTH_OK) {
        refuse(x, RLY_CIRCUIT_STATUS_PERMISSION_DENIED, rly_auth_reason_text(why), NULL);
        return;
    }
    /* accepted already: which form it was is no secret any more */
    grant g = {.form = FORM_SHARED};
    if (!(req.token_len == a->secret_len && memcmp(req.token, a->secret, a->secret_len) == 0)) {
        g.form = FORM_MINTED;
        if (rly_auth_minted_expiry(req.token, req.token_len, &g.expiry) != 0)
            g.expiry = 0; /* cannot happen: rly_auth_check accepted it as minted */
    }
    grant_conn(x, &g);
}

/* not_answered refuses an exchange that ended without a request (|text|): counted when tokens
 * are required, answered MALFORMED_MESSAGE either way. */
static void not_answered(auth_ctx *x, const char *text)
{
    if (x->a->required)
        refuse(x, RLY_CIRCUIT_STATUS_MALFORMED_MESSAGE, text, NULL);
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
static void on_sweep(rly_timer *t, void *ud)
{
    rly_authsvc *a = ud;
    uint64_t now = now_ms(a);
    auth_ctx *x = a->ctxs;
    while (x) {
        auth_ctx *next = x->next;
        if (now - x->started >= RLY_AUTHSVC_TIMEOUT_S * 1000u) {
            if (!x->is_answered && a->required)
                (void)count_failure(a, x->conn, "no request in time", NULL);
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
    if (a->ctxs || a->quiets)
        sweep_start(a);
}

void rly_authsvc_accept(rly_authsvc *a, rly_stream *s, const uint8_t *data, size_t len)
{
    rly_conn *c = s->conn;
    if (c->app_streams >= RLY_AUTHSVC_MAX_STREAMS) {
        if (a->required)
            (void)count_failure(a, c, "too many authentication streams at once", NULL);
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
    x->started = now_ms(a);
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

/* A withdrawal: which grants go (|pred| true), and why. */
typedef struct withdrawal {
    rly_authsvc *a;
    bool (*pred)(const struct withdrawal *w, const grant *g);
    const char *reason;
    uint64_t now;
    bool listed; /* by the revoked token list (counted apart) */
    size_t count;
    uint64_t next_expiry; /* the expiry walk: the soonest expiry left; 0: none */
} withdrawal;

static void log_revoked(rly_authsvc *a, const rly_conn *c, const grant *g, const char *reason)
{
    char ip[INET6_ADDRSTRLEN + 8], pid[RLY_PEERID_STR_MAX], id[RLY_TOKEN_ID_HEX_MAX];
    uint8_t key[RLY_CIDR_GROUP_LEN];
    source_of(c, key, ip, sizeof(ip));
    if (rly_peerid_to_string(&c->peer, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    if (g->form == FORM_SIGNED) {
        id_hex(g->id, g->id_len, id);
        RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthRevoked"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("reason", reason), RLY_F_STR("token_id", id));
    } else {
        RLY_LOGI(a->log, RLY_TARGET_EVENTS, RLY_MSG("AuthRevoked"), RLY_F_STR("peer_id", pid),
                 RLY_F_STR("ip", ip), RLY_F_STR("reason", reason));
    }
}

/* peer_still_holds: whether a connection of |peer| still has a valid grant, or one the walk |w|
 * has yet to withdraw (then the owner is told once, at the last one). */
static bool peer_still_holds(const withdrawal *w, const rly_peerid *peer)
{
    size_t n;
    rly_conn *const *conns = w->a->host.peer_conns(w->a->host.ud, peer, &n);
    for (size_t i = 0; i < n; i++) {
        const grant *g = conns[i]->app_auth;
        if (g && (grant_valid(g, w->now) || w->pred(w, g)))
            return true;
    }
    return false;
}

/* withdraw_one takes back |c|'s grant when the walk's predicate says so, and tells the owner
 * once its peer holds nothing any more. */
static void withdraw_one(void *ud, rly_conn *c)
{
    withdrawal *w = ud;
    rly_authsvc *a = w->a;
    grant *g = c->app_auth;
    if (!g)
        return;
    if (!w->pred(w, g)) {
        if (g->expiry && g->expiry > w->now && (w->next_expiry == 0 || g->expiry < w->next_expiry))
            w->next_expiry = g->expiry;
        return;
    }
    log_revoked(a, c, g, w->reason);
    a->stats.revoked++;
    a->stats.revoked_listed += w->listed;
    w->count++;
    bool had_class = g->cls[0] != '\0';
    drop_grant(a, c);
    if (!peer_still_holds(w, &c->peer)) {
        if (a->on_revoked)
            a->on_revoked(a->revoked_ud, &c->peer, w->reason);
    } else if (had_class) {
        reclassed(a, &c->peer, w->reason);
    }
}

/* withdraw walks every connection. Returns RLY_ERR_NOMEM (logged) when it could not. */
static int withdraw(withdrawal *w)
{
    int rv = w->a->host.foreach_conn(w->a->host.ud, withdraw_one, w);
    if (rv != 0)
        RLY_LOGE(w->a->log, RLY_TARGET_EVENTS,
                 RLY_MSG("Cannot withdraw authentications (out of memory): they stay until their "
                         "connections close or the next try"),
                 RLY_F_STR("reason", w->reason));
    return rv;
}

static bool pred_expired(const withdrawal *w, const grant *g)
{
    return !grant_valid(g, w->now);
}

static bool pred_listed(const withdrawal *w, const grant *g)
{
    return g->form == FORM_SIGNED && rly_revoked_has(&w->a->revoked, g->id, g->id_len);
}

static bool pred_secret(const withdrawal *w, const grant *g)
{
    return g->form != FORM_SIGNED;
}

static bool pred_key_gone(const withdrawal *w, const grant *g)
{
    if (g->form != FORM_SIGNED)
        return false;
    for (size_t i = 0; i < w->a->nkeys; i++)
        if (rly_peerid_equal(&w->a->keys[i], &g->signer))
            return false;
    return true;
}

static void on_expiry(rly_timer *t, void *ud)
{
    rly_authsvc *a = ud;
    withdrawal w = {.a = a, .pred = pred_expired, .reason = "token expired", .now = unix_now(a)};
    uint64_t armed = a->next_expiry;
    a->next_expiry = 0;
    if (armed > w.now) { /* a long expiry's intermediate wake-up */
        arm_expiry(a, armed);
        return;
    }
    if (withdraw(&w) != 0) {
        arm_expiry(a, w.now + 1); /* try again in a second */
        return;
    }
    if (w.next_expiry)
        arm_expiry(a, w.next_expiry);
}

/* arm_expiry makes sure the expiry timer runs at unix time |when| at the latest. */
static void arm_expiry(rly_authsvc *a, uint64_t when)
{
    if (a->is_shut_down || (a->next_expiry && a->next_expiry <= when))
        return;
    uint64_t now = unix_now(a);
    uint64_t secs = when > now ? when - now : 0;
    uint64_t ms = secs < EXPIRY_TIMER_MAX_MS / 1000u ? secs * 1000u : EXPIRY_TIMER_MAX_MS;
    a->next_expiry = when;
    rly_timerq_start(a->host.timers, &a->expiry,
                     rly_timerq_now(a->host.timers) + ms * RLY_NS_PER_MS);
}

/* Starting to require tokens: nobody authenticated while nothing was checked, so every peer
 * loses what it got meanwhile (told once per peer: at its newest connection). */
static void revoke_unchecked(void *ud, rly_conn *c)
{
    rly_authsvc *a = ud;
    if (a->on_revoked && a->host.newest_conn(a->host.ud, &c->peer) == c)
        a->on_revoked(a->revoked_ud, &c->peer, "authentication now required");
}

/* Tokens no longer required (a reload): every grant goes; a peer whose token named a class
 * loses it (the relay's limits apply to everyone now), so what that class gave beyond them ends.
 * |a->required| is already false: the owner sees the limits that apply from now on. */
static void forget_grant(void *ud, rly_conn *c)
{
    rly_authsvc *a = ud;
    const grant *g = c->app_auth;
    bool had_class = g && g->cls[0] != '\0';
    drop_grant(a, c);
    if (had_class)
        reclassed(a, &c->peer, "authentication no longer required");
}

size_t rly_authsvc_set_revoked(rly_authsvc *a, rly_revoked *list)
{
    rly_revoked_free(&a->revoked, a->mem);
    a->revoked = *list;
    list->ids = NULL;
    list->n = 0;
    a->stats.revoked_ids = a->revoked.n;
    if (!a->required || a->revoked.n == 0)
        return 0;
    withdrawal w = {
        .a = a, .pred = pred_listed, .reason = "token revoked", .now = unix_now(a), .listed = true};
    (void)withdraw(&w);
    return w.count;
}

void rly_authsvc_conn_closed(rly_authsvc *a, rly_conn *c)
{
    const grant *g = c->app_auth;
    if (!g)
        return;
    bool had_class = g->cls[0] != '\0';
    drop_grant(a, c);
    size_t n;
    (void)a->host.peer_conns(a->host.ud, &c->peer, &n);
    if (!a->required || n == 0)
        return;
    if (!peer_grant(a, &c->peer, unix_now(a))) {
        if (a->on_revoked)
            a->on_revoked(a->revoked_ud, &c->peer, "its last authenticated connection closed");
    } else if (had_class) {
        reclassed(a, &c->peer, "its connection with a token of a limits class closed");
    }
}

/* ---- the service ----------------------------------------------------------------------------- */

bool rly_authsvc_settings_ok(const rly_authsvc_settings *st)
{
    if (st->secret_len > RLY_AUTH_TOKEN_MAX || st->nkeys > RLY_AUTHSVC_MAX_KEYS)
        return false;
    return !st->required || st->secret_len > 0 || st->nkeys > 0;
}

/* install copies the settings in. */
static void install(rly_authsvc *a, const rly_authsvc_settings *st)
{
    rly_zeroize(a->secret, sizeof(a->secret));
    if (st->secret_len > 0)
        memcpy(a->secret, st->secret, st->secret_len);
    a->secret_len = st->secret_len;
    memset(a->keys, 0, sizeof(a->keys));
    if (st->nkeys > 0)
        memcpy(a->keys, st->keys, st->nkeys * sizeof(*a->keys));
    a->nkeys = st->nkeys;
    a->classes = st->classes;
    a->required = st->required;
}

int rly_authsvc_new_on_host(rly_authsvc **pa, const rly_authsvc_host *host,
                            const rly_authsvc_settings *st, const rly_log *log, rly_mem *mem)
{
    if (!rly_authsvc_settings_ok(st))
        return RLY_ERR_INVALID_ARG;
    rly_authsvc *a = rly_calloc(mem, 1, sizeof(*a));
    if (!a)
        return RLY_ERR_NOMEM;
    a->host = *host;
    install(a, st);
    a->log = log;
    a->mem = mem;
    if (rly_crypto_random((uint8_t *)&a->hash_key, sizeof(a->hash_key)) != 0) {
        rly_zeroize(a->secret, sizeof(a->secret));
        rly_free(mem, a);
        return RLY_ERR_CRYPTO;
    }
    rly_timerq_timer_init(&a->sweep, on_sweep, a);
    rly_timerq_timer_init(&a->expiry, on_expiry, a);
    *pa = a;
    return 0;
}

/* ---- on a swarm ------------------------------------------------------------------------------ */

static uint64_t swarm_unix_now(void *ud)
{
    return (uint64_t)time(NULL);
}

static rly_conn *const *swarm_peer_conns(void *ud, const rly_peerid *peer, size_t *pn)
{
    return rly_swarm_peer_conns(ud, peer, pn);
}

static int swarm_foreach_conn(void *ud, void (*fn)(void *fn_ud, rly_conn *c), void *fn_ud)
{
    return rly_swarm_foreach_conn(ud, fn, fn_ud);
}

static rly_conn *swarm_newest_conn(void *ud, const rly_peerid *peer)
{
    return rly_swarm_find_conn(ud, peer, 0);
}

static void on_auth_stream(rly_swarm *sw, rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    rly_authsvc_accept(ud, s, data, len);
}

int rly_authsvc_new(rly_authsvc **pa, rly_swarm *sw, const rly_authsvc_settings *st,
                    const rly_log *log, rly_mem *mem)
{
    rly_authsvc_host host = {
        .timers = rly_swarm_timers(sw),
        .unix_now = swarm_unix_now,
        .peer_conns = swarm_peer_conns,
        .foreach_conn = swarm_foreach_conn,
        .newest_conn = swarm_newest_conn,
        .self = *rly_swarm_local_peer(sw),
        .ud = sw,
    };
    rly_authsvc *a;
    int rv = rly_authsvc_new_on_host(&a, &host, st, log, mem);
    if (rv != 0)
        return rv;
    rv = rly_swarm_add_protocol(sw, RLY_AUTH_PROTOCOL, on_auth_stream, a);
    if (rv != 0) {
        rly_authsvc_del(a);
        return rv;
    }
    *pa = a;
    return 0;
}

void rly_authsvc_set_revoke_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud)
{
    a->on_revoked = fn;
    a->revoked_ud = ud;
}

void rly_authsvc_set_reclass_cb(rly_authsvc *a, rly_authsvc_revoke_fn fn, void *ud)
{
    a->on_reclassed = fn;
    a->reclassed_ud = ud;
}

int rly_authsvc_update(rly_authsvc *a, const rly_authsvc_settings *st)
{
    if (!rly_authsvc_settings_ok(st))
        return RLY_ERR_INVALID_ARG;
    /* Operator input, compared once per reload: no need for constant time. */
    bool secret_changed =
        st->secret_len != a->secret_len ||
        (st->secret_len > 0 && memcmp(st->secret, a->secret, st->secret_len) != 0);
    bool keys_changed =
        st->nkeys != a->nkeys ||
        (st->nkeys > 0 && memcmp(st->keys, a->keys, st->nkeys * sizeof(*st->keys)) != 0);
    bool was_required = a->required;
    install(a, st);
    if (!st->required) { /* nothing is checked: what was accepted no longer matters */
        if (was_required && a->host.foreach_conn(a->host.ud, forget_grant, a) != 0)
            RLY_LOGE(a->log, RLY_TARGET_EVENTS,
                     RLY_MSG("Cannot forget the accepted tokens (out of memory): they stay until "
                             "their connections close"));
        return 0;
    }
    if (!was_required) {
        if (a->host.foreach_conn(a->host.ud, revoke_unchecked, a) != 0)
            RLY_LOGE(a->log, RLY_TARGET_EVENTS,
                     RLY_MSG("Cannot end what peers got while authentication was off (out of "
                             "memory): it stays until their connections close"));
        return 0;
    }
    uint64_t now = unix_now(a);
    if (secret_changed) { /* minted tokens do not verify under the new secret */
        withdrawal w = {.a = a, .pred = pred_secret, .reason = "auth_token changed", .now = now};
        (void)withdraw(&w);
    }
    if (keys_changed) {
        withdrawal w = {
            .a = a, .pred = pred_key_gone, .reason = "control-plane key removed", .now = now};
        (void)withdraw(&w);
    }
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
    /* The expiry timer ends what the peer holds; until it runs, an expired token lapses here. */
    return peer_grant(a, &c->peer, unix_now(a)) != NULL;
}

bool rly_authsvc_peer_limits(const rly_authsvc *a, const rly_peerid *peer, rly_auth_class *out)
{
    if (!a->required)
        return false;
    const grant *g = peer_grant(a, peer, unix_now(a));
    if (!g || !g->cls[0])
        return false;
    if (strcmp(g->cls, RLY_AUTH_CLASS_TRUSTED) == 0) {
        *out = (rly_auth_class){.has_duration = true, .has_bytes = true};
        memcpy(out->name, g->cls, sizeof(out->name));
        return true;
    }
    const rly_auth_class *k = rly_auth_class_find(a->classes, g->cls);
    if (!k)
        return false;
    *out = *k;
    return true;
}

typedef struct census {
    const rly_authsvc *a;
    size_t grants;
    bool stray; /* a connection's grant is not on the list */
} census;

static void count_grant(void *ud, rly_conn *c)
{
    census *k = ud;
    if (!c->app_auth)
        return;
    k->grants++;
    bool found = false;
    for (const grant *g = k->a->grants; g && !found; g = g->next)
        found = g == c->app_auth;
    k->stray = k->stray || !found;
}

int rly_authsvc_check_invariants(const rly_authsvc *a)
{
    census k = {a, 0, false};
    size_t listed = 0;
    for (const grant *g = a->grants; g; g = g->next) {
        if (g->next && g->next->prev != g)
            return 1;
        listed++;
    }
    if (a->host.foreach_conn(a->host.ud, count_grant, &k) != 0)
        return 0; /* cannot tell */
    if (k.stray)
        return 2;
    if (k.grants != listed) /* a grant of a closed connection, or one on two */
        return 3;
    if (a->is_shut_down && (rly_timerq_is_active(&a->sweep) || rly_timerq_is_active(&a->expiry)))
        return 4;
    return 0;
}

void rly_authsvc_shutdown(rly_authsvc *a)
{
    a->is_shut_down = true;
    rly_timerq_stop(a->host.timers, &a->sweep);
    rly_timerq_stop(a->host.timers, &a->expiry);
    while (a->quiets)
        flush_quiet(a, a->quiets);
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
    /* Grants of connections still open (the swarm closes after us, or their close was not
     * reported): freed here; nothing reads them once we are gone. */
    while (a->grants) {
        grant *g = a->grants;
        grant_unlink(a, g);
        rly_free(a->mem, g);
    }
    /* Stopped already when the swarm is gone (rly_authsvc_shutdown): then the queue is not
     * touched. */
    rly_timerq_stop(a->host.timers, &a->sweep);
    rly_timerq_stop(a->host.timers, &a->expiry);
    rly_zeroize(a->secret, sizeof(a->secret));
    rly_revoked_free(&a->revoked, a->mem);
    rly_free(a->mem, a);
}
