/* fuzz_relay_service.c: a stateful fuzzer for the relay service (src/relay/relay.c, bridge.c,
 * reservation.c, limiter.c), issue 11 item 2. The service runs on an in-memory host
 * (rly_relay_host): several peers with connections and streams of their own, every stream open
 * the relay asks for left pending until the input resolves it, and a virtual clock. The input is
 * a program of events in whatever order it likes: connections come and go, hop streams open and
 * carry requests (well-formed, cut into pieces, without a type, garbage), peers send data, FIN
 * and resets, grant or withhold window, pending opens succeed or fail at any moment, the clock
 * jumps past deadlines, allocations fail, a peer's authorisation is withdrawn, the memory
 * budget is passed, the relay drains, reloads (closing newly denied connections) or shuts down.
 * With the configuration byte's 0x10 bit the token authentication service (relay/authsvc.c) runs
 * on the same host and clock: peers run /meshnet/relay-auth/1.0.0 on any connection with signed
 * tokens (valid, expiring within seconds, class trusted, another key's, another peer's), minted
 * and shared ones and garbage, in pieces; the revoked token list and the accepted keys and secret
 * change under them, so authorisations come and go across connections while requests and
 * circuits are in flight (rly_authsvc_check_invariants after every step: every grant held by
 * exactly one open connection).
 *
 * Checked after every step: the relay's own invariants (rly_relay_check_invariants: every request
 * state held by something and in a matching phase, circuit slots and bridges counted right), and
 * by the fake transport: the relay never touches a stream after its on_close (nor a closed
 * connection), never consumes more than was delivered, never calls back into a stream it let go
 * of, and leaves nothing in a closed connection's memory account (each connection has one,
 * capped or not, as the real transports give them). At the end every peer leaves and the clock
 * passes every deadline: no request state, circuit, reservation, timer or pending open may remain,
 * and the relay's allocator must be back to zero (each state freed exactly once: a second free is
 * ASan's to report). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/mem.h"
#include "core/timerq.h"
#include "proto/circuit/circuit_pb.h"
#include "proto/circuit/hop.h"
#include "proto/circuit/stop.h"
#include "proto/auth/auth.h"
#include "proto/auth/revoked.h"
#include "proto/auth/token.h"
#include "relay/authsvc.h"
#include "relay/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPEERS 4
#define NCONNS 8    /* connections per run (slots are not reused) */
#define NSTREAMS 64 /* streams per run (not reused: a dead stream stays dead) */
#define NOPENS 32   /* pending opens per run */
#define MAX_STEPS 400

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_relay_service: %s\n", what);
        abort();
    }
}

/* ---- the world ------------------------------------------------------------------------------ */

typedef struct fconn fconn;

typedef struct fstream {
    rly_stream base;
    fconn *fc;
    bool used;      /* slot taken */
    bool dead;      /* on_close delivered (or the slot never lived) */
    bool relay_fin; /* the relay shut its write side */
    bool peer_fin;  /* the peer sent FIN */
    bool reset_by_relay;
    bool sync_close; /* a reset by the relay calls on_close inside (Yamux) or later (deferred) */
    bool close_owed; /* deferred: on_close still to deliver */
    size_t window;   /* bytes the relay may still write */
    uint64_t delivered, consumed, written;
} fstream;

struct fconn {
    rly_conn base;
    rly_mem acct; /* base.mem: what the relay keeps for this connection's streams */
    int peer;
    bool used, open, closing; /* closing: the relay asked to close it */
};

typedef struct fopen_req {
    bool used, done;
    fconn *fc;
    rly_swarm_open_cb cb;
    void *cb_ud;
} fopen_req;

typedef struct world {
    rly_mem mem;
    rly_timerq timers;
    rly_tstamp now;
    rly_relay *r;
    rly_relay_settings settings;
    rly_acl acl;
    rly_limits_settings limits;
    rly_multiaddr addr;
    fconn conns[NCONNS];
    fstream streams[NSTREAMS];
    fopen_req opens[NOPENS];
    size_t nconns, nstreams, nopens;
    bool fail_next_open, shut_down;
    rly_authsvc *auth; /* NULL: no token authentication this run */
    rly_authsvc_settings auth_settings;
    const uint8_t *in;
    size_t left;
} world;

static world W;
static rly_keypair relay_kp;
static rly_peerid peers[NPEERS];
static bool keys_ready;

/* Tokens, made once: per peer, these kinds (signed ones with the id {kind, peer}). */
enum { TOK_VALID, TOK_SHORT, TOK_TRUSTED, TOK_ROGUE, TOK_MINTED, TOK_SHARED, TOK_GARBAGE, NTOK };
#define UNIX_BASE UINT64_C(1900000000) /* the wall clock when the virtual one reads 0 */
#define SHORT_TTL 4                    /* TOK_SHORT lapses this long after a run starts */
static const char secret[] = "0123456789abcdef0123456789abcdef";
static rly_peerid cp_key, rogue_key;
static char tokens[NPEERS][NTOK][RLY_TOKEN_TEXT_MAX + 1];

static uint8_t next_byte(void)
{
    if (W.left == 0)
        return 0;
    W.left--;
    return *W.in++;
}

static rly_tstamp virtual_now(void *ud)
{
    return W.now;
}

/* ---- fake streams --------------------------------------------------------------------------- */

static fstream *fs_of(rly_stream *s)
{
    return (fstream *)s;
}

/* What the relay may do to a stream: never after on_close, never on a closed connection. */
static fstream *live(rly_stream *s, const char *what)
{
    fstream *f = fs_of(s);
    check(f >= W.streams && f < W.streams + NSTREAMS && f->used, "not a stream of ours");
    if (f->dead) {
        fprintf(stderr, "relay called %s on stream %td after its on_close\n", what, f - W.streams);
        abort();
    }
    check(f->fc->open, "relay used a stream of a closed connection");
    return f;
}

static void deliver_close(fstream *f, int err)
{
    f->dead = true;
    f->close_owed = false;
    const rly_stream_handler *h = f->base.handler;
    void *ud = f->base.handler_ud;
    f->base.handler = NULL;
    if (h && h->on_close)
        h->on_close(&f->base, ud, err);
}

static rly_ssize fs_write(rly_stream *s, const uint8_t *data, size_t len)
{
    fstream *f = live(s, "write");
    if (f->reset_by_relay || f->relay_fin)
        return RLY_ERR_CLOSED;
    size_t n = len < f->window ? len : f->window;
    if (n == 0 && len > 0)
        return RLY_ERR_AGAIN;
    f->window -= n;
    f->written += n;
    return (rly_ssize)n;
}

static int fs_shutdown(rly_stream *s)
{
    fstream *f = live(s, "shutdown");
    if (f->reset_by_relay)
        return RLY_ERR_CLOSED;
    f->relay_fin = true;
    return 0;
}

static int fs_reset(rly_stream *s)
{
    fstream *f = live(s, "reset");
    if (f->reset_by_relay)
        return RLY_ERR_CLOSED;
    f->reset_by_relay = true;
    if (f->sync_close)
        deliver_close(f, RLY_ERR_RESET);
    else
        f->close_owed = true;
    return 0;
}

static int fs_consume(rly_stream *s, size_t n)
{
    fstream *f = live(s, "consume");
    f->consumed += n;
    check(f->consumed <= f->delivered, "relay consumed more than was delivered");
    return 0;
}

static const rly_stream_ops fs_ops = {fs_write, fs_shutdown, fs_reset, fs_consume};

static fstream *stream_new(fconn *fc, bool outbound)
{
    if (W.nstreams == NSTREAMS)
        return NULL;
    fstream *f = &W.streams[W.nstreams++];
    memset(f, 0, sizeof(*f));
    f->used = true;
    f->fc = fc;
    f->base.ops = &fs_ops;
    f->base.conn = &fc->base;
    f->base.id = W.nstreams;
    f->base.is_outbound = outbound;
    uint8_t b = next_byte();
    f->sync_close = (b & 1) == 0;
    f->window = (b & 6) == 6 ? 0 : (b & 6) == 4 ? 7 : 1u << 20;
    return f;
}

/* A stream the peer can act on: alive, not reset by the relay (its close is pending). */
static fstream *pick_stream(uint8_t b)
{
    if (W.nstreams == 0)
        return NULL;
    fstream *f = &W.streams[b % W.nstreams];
    return f->dead ? NULL : f;
}

/* A stream the peer opens on connection |b| (of those made so far), if it is open; NULL when
 * not (or no stream slot is left). */
static fstream *inbound_stream(uint8_t b)
{
    if (W.nconns == 0 || !W.conns[b % W.nconns].open)
        return NULL;
    return stream_new(&W.conns[b % W.nconns], false);
}

/* Bytes from the peer, cut into pieces of |chunk| (0: whole). */
static void peer_data(fstream *f, const uint8_t *p, size_t n, size_t chunk)
{
    while (n > 0 && !f->dead && !f->reset_by_relay && !f->peer_fin) {
        size_t k = chunk == 0 || chunk > n ? n : chunk;
        f->delivered += k;
        const rly_stream_handler *h = f->base.handler;
        if (h && h->on_data)
            h->on_data(&f->base, f->base.handler_ud, p, k);
        else
            f->consumed += k; /* nobody listens: the transport drops it and opens the window */
        p += k;
        n -= k;
    }
}

/* ---- fake connections and the host ---------------------------------------------------------- */

static int fc_open_stream(rly_conn *c, rly_stream **ps)
{
    return RLY_ERR_UNSUPPORTED; /* the relay opens streams through the host */
}

static void fc_close(rly_conn *c, int err, const char *cause)
{
    fconn *fc = (fconn *)c;
    check(fc->open, "relay closed a connection twice or after it closed");
    fc->closing = true; /* as TCP: GoAway now, the teardown later (the input decides when) */
}

static const rly_conn_ops fc_ops = {fc_open_stream, fc_close};

static int host_open(void *ud, rly_conn *c, const char *protocol, const uint8_t *early,
                     size_t early_len, rly_swarm_open_cb cb, void *cb_ud)
{
    check(early_len > 0 && early != NULL, "the STOP request goes with the proposal");
    fconn *fc = (fconn *)c;
    check(fc >= W.conns && fc < W.conns + NCONNS && fc->open, "open on a closed connection");
    check(strcmp(protocol, RLY_STOP_PROTOCOL) == 0, "the relay opens only STOP streams");
    if (W.fail_next_open || fc->closing || W.nopens == NOPENS) {
        W.fail_next_open = false;
        return RLY_ERR_CLOSED;
    }
    fopen_req *o = &W.opens[W.nopens++];
    *o = (fopen_req){.used = true, .fc = fc, .cb = cb, .cb_ud = cb_ud};
    return 0;
}

/* Connection ids grow with the slot index: backwards, the first match of conn_id 0 is the
 * newest, as the swarm returns it. */
static rly_conn *host_find(void *ud, const rly_peerid *peer, uint64_t conn_id)
{
    for (size_t i = W.nconns; i-- > 0;) {
        fconn *fc = &W.conns[i];
        if (fc->open && rly_peerid_equal(&fc->base.peer, peer) &&
            (conn_id == 0 || fc->base.id == conn_id))
            return &fc->base;
    }
    return NULL;
}

static rly_conn *host_find_older(void *ud, const rly_peerid *peer, uint64_t below_id)
{
    for (size_t i = W.nconns; i-- > 0;) {
        fconn *fc = &W.conns[i];
        if (fc->open && rly_peerid_equal(&fc->base.peer, peer) && fc->base.id < below_id)
            return &fc->base;
    }
    return NULL;
}

static int host_foreach(void *ud, void (*fn)(void *fn_ud, rly_conn *c), void *fn_ud)
{
    for (size_t i = 0; i < W.nconns; i++)
        if (W.conns[i].open)
            fn(fn_ud, &W.conns[i].base);
    return 0;
}

static size_t peer_conns(int peer)
{
    size_t n = 0;
    for (size_t i = 0; i < W.nconns; i++)
        n += W.conns[i].open && W.conns[i].peer == peer;
    return n;
}

static void resolve_open(fopen_req *o, fstream *s, int err, const uint8_t *data, size_t len)
{
    o->done = true;
    o->cb(o->cb_ud, s ? &s->base : NULL, err, data, len);
}

/* Teardown as the transports do it: every stream's on_close (a pending open's negotiation
 * stream too: its callback gets the error), then the observer. */
static void conn_teardown(fconn *fc)
{
    if (!fc->open)
        return;
    for (size_t i = 0; i < W.nstreams; i++)
        if (W.streams[i].fc == fc && !W.streams[i].dead)
            deliver_close(&W.streams[i], RLY_ERR_CLOSED);
    for (size_t i = 0; i < W.nopens; i++)
        if (W.opens[i].fc == fc && !W.opens[i].done)
            resolve_open(&W.opens[i], NULL, RLY_ERR_CLOSED, NULL, 0);
    fc->open = false;
    rly_relay_conn_closed(W.r, &fc->base, peer_conns(fc->peer));
    /* the transport frees the account now: nothing of the relay's may be left in it */
    check(fc->acct.live_bytes == 0, "a closed connection's account still holds bytes");
}

static void conn_new(uint8_t b)
{
    if (W.nconns == NCONNS)
        return;
    fconn *fc = &W.conns[W.nconns++];
    memset(fc, 0, sizeof(*fc));
    fc->used = fc->open = true;
    fc->peer = b % NPEERS;
    fc->base.ops = &fc_ops;
    fc->base.id = 1000 + W.nconns;
    fc->base.dir = RLY_CONN_INBOUND;
    fc->base.peer = peers[fc->peer];
    fc->base.transport = (b & 4) ? "quic-v1" : "tcp";
    rly_mem_init_account(&fc->acct, &W.mem, (b & 32) ? 8192 : 0); /* capped, or not */
    fc->base.mem = &fc->acct;
    char text[96];
    if ((b & 24) == 24) /* a relayed connection: requests over it are refused */
        snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p-circuit");
    else
        snprintf(text, sizeof(text), "/ip4/10.0.0.%u/tcp/%u", 1u + ((b >> 3) & 3u),
                 (unsigned)(5000 + W.nconns));
    check(rly_multiaddr_parse(&fc->base.remote, text) == 0, "remote address");
    rly_relay_conn_established(W.r, &fc->base, peer_conns(fc->peer));
}

/* ---- the token authentication service on the same host --------------------------------------- */

static uint64_t auth_unix_now(void *ud)
{
    return UNIX_BASE + W.now / RLY_NS_PER_S;
}

static rly_conn *const *auth_peer_conns(void *ud, const rly_peerid *peer, size_t *pn)
{
    static rly_conn *list[NCONNS];
    size_t n = 0;
    for (size_t i = 0; i < W.nconns; i++)
        if (W.conns[i].open && rly_peerid_equal(&W.conns[i].base.peer, peer))
            list[n++] = &W.conns[i].base;
    *pn = n;
    return n ? list : NULL;
}

static rly_conn *auth_newest_conn(void *ud, const rly_peerid *peer)
{
    return host_find(ud, peer, 0);
}

static void auth_revoked(void *ud, const rly_peerid *peer, const char *reason)
{
    rly_relay_revoke(W.r, peer, reason);
}

static void auth_reclassed(void *ud, const rly_peerid *peer, const char *reason)
{
    rly_relay_reclass(W.r, peer, reason);
}

static void auth_start(uint8_t cfg)
{
    rly_authsvc_host host = {.timers = &W.timers,
                             .unix_now = auth_unix_now,
                             .peer_conns = auth_peer_conns,
                             .foreach_conn = host_foreach,
                             .newest_conn = auth_newest_conn,
                             .ud = NULL};
    check(rly_keypair_peerid(&relay_kp, &host.self) == 0, "relay id");
    static rly_auth_class_list classes = {
        .items = {{.name = "gold", .has_duration = true, .duration_secs = 2}}, .n = 1};
    W.auth_settings =
        (rly_authsvc_settings){.required = true, .keys = &cp_key, .nkeys = 1, .classes = &classes};
    if (cfg & 0x20) { /* the shared and minted forms too */
        W.auth_settings.secret = (const uint8_t *)secret;
        W.auth_settings.secret_len = strlen(secret);
    }
    check(rly_authsvc_new_on_host(&W.auth, &host, &W.auth_settings, NULL, &W.mem) == 0, "auth");
    rly_authsvc_set_revoke_cb(W.auth, auth_revoked, NULL);
    rly_authsvc_set_reclass_cb(W.auth, auth_reclassed, NULL);
    W.settings.auth = W.auth;
}

/* A peer authenticates on one of its connections: kind, delivery (whole, in pieces, with the
 * negotiation) and maybe FIN after the request. */
static void op_auth_stream(void)
{
    uint8_t b = next_byte(), how = next_byte();
    fstream *f = W.auth ? inbound_stream(b) : NULL;
    if (!f)
        return;
    fconn *fc = f->fc;
    const char *tok =
        tokens[(how >> 3) % NPEERS == 0 ? fc->peer : (how >> 3) % NPEERS][(how & 7) % NTOK];
    rly_dynbuf req;
    rly_dynbuf_init(&req, NULL, 4096);
    if (rly_auth_request_encode((const uint8_t *)tok, strlen(tok), &req) != 0) {
        rly_dynbuf_free(&req);
        return;
    }
    size_t first = (how & 0x40) ? req.len : 0;
    f->delivered += first;
    rly_authsvc_accept(W.auth, &f->base, req.data, first);
    if (first < req.len)
        peer_data(f, req.data + first, req.len - first, (how & 0x80) ? 3 : 0);
    rly_dynbuf_free(&req);
}

/* The control plane revokes: the ids of the signed tokens the bits of the next byte choose. */
static void op_auth_revoke(void)
{
    uint8_t bits = next_byte();
    char text[512] = "";
    size_t pos = 0;
    for (int i = 0; i < 8; i++)
        if (bits & (1u << i)) /* kinds VALID, SHORT, TRUSTED, ROGUE alternately, of peer i / 2 */
            pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "%02x%02x\n", i % 4,
                                    (i / 2) % NPEERS);
    rly_revoked list;
    char err[128];
    check(rly_revoked_parse(&list, text, pos, &W.mem, err, sizeof(err)) == 0 || W.mem.fail_nth != 0,
          "the revoked list parses");
    (void)rly_authsvc_set_revoked(W.auth, &list);
    rly_revoked_free(&list, &W.mem);
}

/* A reload changes what is accepted. */
static void op_auth_settings(uint8_t b)
{
    rly_authsvc_settings st = W.auth_settings;
    st.required = (b & 1) == 0;
    st.keys = (b & 2) ? &rogue_key : &cp_key;
    st.nkeys = (b & 4) ? 0 : 1;
    st.secret = (b & 8) ? (const uint8_t *)secret : NULL;
    st.secret_len = (b & 8) ? strlen(secret) : 0;
    if (rly_authsvc_update(W.auth, &st) == 0)
        W.auth_settings = st;
}

/* The relay asks: nothing to check but that the answers come without harm. */
static void op_auth_queries(void)
{
    for (size_t i = 0; i < W.nconns; i++)
        if (W.conns[i].open)
            (void)rly_authsvc_is_authenticated(W.auth, &W.conns[i].base);
    rly_auth_class k;
    for (int p = 0; p < NPEERS; p++)
        if (rly_authsvc_peer_limits(W.auth, &peers[p], &k))
            check(k.has_duration || k.has_bytes, "a class without limits");
}

/* ---- messages the peers send ---------------------------------------------------------------- */

static void frame_hop(const rly_circuit_hop_msg *m, rly_dynbuf *out)
{
    check(rly_circuit_pb_encode_hop(m, out) == 0, "encode hop");
}

/* Builds message |kind| into |out| (framed, as on the wire). */
static void build_msg(uint8_t kind, rly_dynbuf *out)
{
    rly_circuit_hop_msg h;
    memset(&h, 0, sizeof(h));
    switch (kind % 10) {
    case 0: check(rly_hop_build_reserve(out) == 0, "reserve"); break;
    case 1: check(rly_hop_build_connect(&peers[next_byte() % NPEERS], out) == 0, "connect"); break;
    case 2:
        h.type = RLY_CIRCUIT_HOP_STATUS;
        h.has_status = true;
        h.status = RLY_CIRCUIT_STATUS_OK;
        frame_hop(&h, out);
        break;
    case 3: RLY_IGNORE(rly_dynbuf_append(out, (const uint8_t *)"\x00", 1)); break; /* no type */
    case 4: check(rly_stop_build_status(RLY_CIRCUIT_STATUS_OK, out) == 0, "stop ok"); break;
    case 5:
        check(rly_stop_build_status(RLY_CIRCUIT_STATUS_CONNECTION_FAILED, out) == 0, "stop no");
        break;
    case 6: RLY_IGNORE(rly_dynbuf_append(out, (const uint8_t *)"\x04\x08\x00\x12\x00", 5)); break;
    case 7: { /* raw bytes from the input */
        size_t n = next_byte() % 40;
        for (size_t i = 0; i < n; i++)
            RLY_IGNORE(rly_dynbuf_append_byte(out, next_byte()));
        break;
    }
    default: { /* bulk data: for circuits */
        static const size_t sizes[4] = {16, 1000, 70000, 600000};
        static uint8_t bulk[600000];
        if (bulk[1] == 0)
            for (size_t i = 0; i < sizeof(bulk); i++)
                bulk[i] = (uint8_t)(i * 7);
        RLY_IGNORE(rly_dynbuf_append(out, bulk, sizes[next_byte() % 4]));
        break;
    }
    }
}

static void send_msg(fstream *f, uint8_t kind)
{
    rly_dynbuf out;
    uint8_t chunking = next_byte();
    rly_dynbuf_init(&out, NULL, 1u << 21);
    build_msg(kind, &out);
    size_t chunk = chunking < 128 ? 0 : 1 + (chunking & 15);
    if (chunk && out.len > 65536) /* bulk data in pieces of 64..1024 bytes: enough for a quadratic
                                     cost to show, without a million callbacks per step */
        chunk *= 64;
    peer_data(f, out.data, out.len, chunk);
    rly_dynbuf_free(&out);
}

/* ---- operations ----------------------------------------------------------------------------- */

static void op_open_hop(void)
{
    uint8_t b = next_byte();
    fstream *f = W.shut_down ? NULL : inbound_stream(b);
    if (!f)
        return;
    uint8_t kind = next_byte();
    rly_dynbuf first;
    rly_dynbuf_init(&first, NULL, 1u << 21);
    if (kind & 0x80) /* the request arrived with the negotiation */
        build_msg(kind & 0x7f, &first);
    f->delivered += first.len;
    rly_relay_accept_hop(W.r, &f->base, first.data, first.len);
    rly_dynbuf_free(&first);
}

static void op_resolve(void)
{
    uint8_t b = next_byte(), how = next_byte();
    if (W.nopens == 0)
        return;
    fopen_req *o = &W.opens[b % W.nopens];
    if (o->done)
        return;
    if (how % 4 == 0) {
        resolve_open(o, NULL, RLY_ERR_NEGOTIATION, NULL, 0); /* "na" */
        return;
    }
    if (how % 4 == 1) {
        resolve_open(o, NULL, RLY_ERR_RESET, NULL, 0); /* reset during negotiation */
        return;
    }
    fstream *f = stream_new(o->fc, true);
    if (!f) {
        resolve_open(o, NULL, RLY_ERR_LIMIT, NULL, 0);
        return;
    }
    rly_dynbuf rest;
    rly_dynbuf_init(&rest, NULL, 1u << 21);
    if (how % 4 == 3) /* the destination's answer arrived with the negotiation */
        build_msg(next_byte(), &rest);
    f->delivered += rest.len;
    resolve_open(o, f, 0, rest.data, rest.len);
    rly_dynbuf_free(&rest);
}

static void op_stream(uint8_t op)
{
    fstream *f = pick_stream(next_byte());
    if (!f)
        return;
    switch (op) {
    case 0: send_msg(f, next_byte()); break;
    case 1: /* FIN from the peer */
        if (!f->peer_fin && !f->reset_by_relay) {
            f->peer_fin = true;
            if (f->base.handler && f->base.handler->on_fin)
                f->base.handler->on_fin(&f->base, f->base.handler_ud);
        }
        break;
    case 2: /* reset by the peer */
        if (!f->reset_by_relay)
            deliver_close(f, RLY_ERR_RESET);
        break;
    case 3: /* window update */
        f->window += (size_t)1 << (next_byte() % 21);
        if (!f->reset_by_relay && f->base.handler && f->base.handler->on_writable)
            f->base.handler->on_writable(&f->base, f->base.handler_ud);
        break;
    default: /* the transport catches up: deferred closes, both sides finished */
        if (f->close_owed)
            deliver_close(f, RLY_ERR_RESET);
        else if (f->relay_fin && f->peer_fin)
            deliver_close(f, 0);
        break;
    }
}

static void op_clock(void)
{
    uint8_t b = next_byte();
    static const rly_tstamp unit[4] = {RLY_NS_PER_MS, 100 * RLY_NS_PER_MS, RLY_NS_PER_S,
                                       10 * RLY_NS_PER_S};
    W.now += (rly_tstamp)(b >> 2) * unit[b & 3];
    (void)rly_timerq_run(&W.timers, W.now, 10000);
}

static void op_settings(void)
{
    uint8_t b = next_byte();
    if (b & 1) {
        rly_relay_drain(W.r);
        return;
    }
    rly_relay_settings s = W.settings;
    s.limits.max_reservations = 1 + (b >> 1) % 4;
    s.limits.max_circuits = (b >> 3) % 4;
    s.max_circuit_bytes = (b & 0x20) ? 100 : 0;
    s.max_circuit_duration = (b & 0x40) ? 3 * RLY_NS_PER_S : 0;
    s.acl = (b & 0x80) ? &W.acl : NULL;
    s.ip_limits = W.settings.ip_limits;
    rly_relay_update(W.r, &s);
}

static void step(uint8_t op)
{
    switch (op % 16) {
    case 0:
    case 1: conn_new(next_byte()); break;
    case 2: {
        uint8_t b = next_byte();
        if (W.nconns > 0)
            conn_teardown(&W.conns[b % W.nconns]);
        break;
    }
    case 3:
    case 4: op_open_hop(); break;
    case 5:
    case 6: op_stream(0); break;
    case 7: op_stream(1); break;
    case 8: op_stream(2); break;
    case 9: op_stream(3); break;
    case 10: op_stream(4); break;
    case 11:
    case 12: op_resolve(); break;
    case 13: op_clock(); break;
    case 14: op_settings(); break;
    default: {
        uint8_t b = next_byte();
        if (b < 16)
            W.fail_next_open = true;
        else if (b < 32) /* fail one allocation a few steps ahead */
            W.mem.fail_nth = W.mem.nattempts + 1 + (b & 15);
        else if (b < 48 && W.nconns > 0 && W.conns[b % W.nconns].open) /* auth withdrawn */
            rly_relay_revoke(W.r, &W.conns[b % W.nconns].base.peer, "authorisation revoked");
        else if (b < 64) /* the memory budget: 1 byte (everything over it) or none */
            rly_mem_set_budget(&W.mem, b & 1);
        else if (b < 128)
            op_auth_stream();
        else if (b < 144 && W.auth)
            op_auth_revoke();
        else if (b < 160 && W.auth)
            op_auth_settings(b);
        else if (b < 176 && W.auth)
            op_auth_queries();
        else if (b == 255 && !W.shut_down) {
            W.shut_down = true;
            rly_relay_shutdown(W.r);
        }
        break;
    }
    }
}

/* Nothing the relay holds may be left once every peer is gone and every deadline passed. */
static void final_checks(void)
{
    for (size_t i = 0; i < W.nconns; i++)
        conn_teardown(&W.conns[i]);
    W.now += 3600 * RLY_NS_PER_S;
    (void)rly_timerq_run(&W.timers, W.now, 100000);
    check(rly_relay_check_invariants(W.r) == 0, "invariants after teardown");
    for (size_t i = 0; i < W.nopens; i++)
        check(W.opens[i].done, "a stream open never resolved");
    check(rly_relay_num_requests(W.r) == 0, "request state left after every peer left");
    check(rly_relay_num_circuits(W.r) == 0, "circuits left");
    check(rly_relay_num_reservations(W.r) == 0, "reservations left");
    if (!W.shut_down)
        rly_relay_shutdown(W.r);
    if (W.auth) {
        rly_authsvc_shutdown(W.auth);
        check(rly_authsvc_check_invariants(W.auth) == 0, "auth invariants after teardown");
    }
    check(rly_timerq_count(&W.timers) == 0, "timers left armed");
    rly_relay_del(W.r);
    rly_authsvc_del(W.auth);
    check(W.mem.live_bytes == 0, "the relay's memory is not all freed");
}

static void setup_keys(void)
{
    if (keys_ready)
        return;
    check(rly_keypair_generate(&relay_kp) == 0, "relay key");
    for (int i = 0; i < NPEERS; i++) {
        rly_keypair kp;
        check(rly_keypair_generate(&kp) == 0, "peer key");
        check(rly_keypair_peerid(&kp, &peers[i]) == 0, "peer id");
        rly_keypair_wipe(&kp);
    }
    rly_keypair cp, rogue;
    check(rly_keypair_generate(&cp) == 0 && rly_keypair_generate(&rogue) == 0, "control keys");
    check(rly_keypair_peerid(&cp, &cp_key) == 0 && rly_keypair_peerid(&rogue, &rogue_key) == 0,
          "control key ids");
    for (int p = 0; p < NPEERS; p++) {
        for (int k = 0; k < NTOK; k++) {
            char *out = tokens[p][k];
            rly_token t = {.peer = peers[p], .expiry = UNIX_BASE + 1000000, .id_len = 2};
            t.id[0] = (uint8_t)k;
            t.id[1] = (uint8_t)p;
            if (k == TOK_SHORT)
                t.expiry = UNIX_BASE + 1000 + SHORT_TTL; /* runs start at 1000 s */
            if (k == TOK_TRUSTED) /* even peers: trusted; odd: the profile "gold" */
                snprintf(t.cls, sizeof(t.cls), "%s", p % 2 ? "gold" : "trusted");
            if (k <= TOK_ROGUE)
                check(rly_token_mint(k == TOK_ROGUE ? &rogue : &cp, &t, out, RLY_TOKEN_TEXT_MAX + 1,
                                     NULL) > 0,
                      "mint");
            else if (k == TOK_MINTED)
                check(rly_auth_mint((const uint8_t *)secret, strlen(secret), &peers[p],
                                    UNIX_BASE + 1000 + 2 * SHORT_TTL, out,
                                    RLY_TOKEN_TEXT_MAX + 1) > 0,
                      "mint v1");
            else if (k == TOK_SHARED)
                snprintf(out, RLY_TOKEN_TEXT_MAX + 1, "%s", secret);
            else
                snprintf(out, RLY_TOKEN_TEXT_MAX + 1, "v2.%s", p % 2 ? "AAAA" : "");
        }
    }
    rly_keypair_wipe(&cp);
    rly_keypair_wipe(&rogue);
    keys_ready = true;
}

static void setup_world(uint8_t cfg)
{
    memset(&W, 0, sizeof(W));
    rly_mem_init(&W.mem);
    W.now = 1000 * RLY_NS_PER_S;
    rly_timerq_clock clock = {.now = virtual_now};
    rly_timerq_init(&W.timers, &clock);
    rly_relay_settings_default(&W.settings);
    W.settings.limits.max_reservations = 3;
    W.settings.limits.max_reservations_per_peer = 2;
    W.settings.limits.max_circuits = 3;
    W.settings.limits.max_circuits_per_peer = 2;
    W.settings.limits.ttl = 20 * RLY_NS_PER_S;
    W.settings.hop_timeout = 3 * RLY_NS_PER_S;
    W.settings.stop_timeout = 3 * RLY_NS_PER_S;
    W.settings.max_circuit_duration = (cfg & 1) ? 5 * RLY_NS_PER_S : 0;
    W.settings.max_circuit_bytes = (cfg & 2) ? 200 : 0;
    W.acl.deny_peers.items[0] = peers[3];
    W.acl.deny_peers.n = 1;
    W.acl.trusted_peers.items[0] = peers[2];
    W.acl.trusted_peers.n = 1;
    if (cfg & 4)
        W.settings.acl = &W.acl;
    W.limits = (rly_limits_settings){.max_connections_per_ip = 3,
                                     .max_reservations_per_ip = 2,
                                     .reservation_rate_per_peer = 4,
                                     .reservation_rate_per_ip = 6,
                                     .circuit_rate_per_peer = 4,
                                     .circuit_rate_per_ip = 6};
    if (cfg & 8)
        W.settings.ip_limits = &W.limits;
    check(rly_multiaddr_parse(&W.addr, "/ip4/192.0.2.1/tcp/4001") == 0, "relay address");
    rly_relay_host host = {.timers = &W.timers,
                           .open_stream = host_open,
                           .find_conn = host_find,
                           .find_older_conn = host_find_older,
                           .foreach_conn = host_foreach,
                           .kp = &relay_kp,
                           .addrs = &W.addr,
                           .naddrs = 1};
    if (cfg & 0x10)
        auth_start(cfg);
    check(rly_relay_new_on_host(&W.r, &host, &W.settings, NULL, &W.mem) == 0, "relay");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_keys();
    W.in = data;
    W.left = size;
    uint8_t cfg = size ? data[0] : 0;
    const uint8_t *in = data + (size ? 1 : 0);
    size_t left = size ? size - 1 : 0;
    setup_world(cfg);
    W.in = in;
    W.left = left;
    for (int n = 0; W.left > 0 && n < MAX_STEPS; n++) {
        step(next_byte());
        int bad = rly_relay_check_invariants(W.r);
        if (bad == 0 && W.auth && (bad = rly_authsvc_check_invariants(W.auth)) != 0)
            bad += 100;
        if (bad != 0) {
            fprintf(stderr, "fuzz_relay_service: invariant %d broken at step %d\n", bad, n);
            abort();
        }
    }
    W.mem.fail_nth = 0;
    final_checks();
    return 0;
}
