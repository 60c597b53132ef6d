/* quic_conn.c: one QUIC v1 connection with libp2p TLS over ngtcp2 0.12.1 + GnuTLS (quic_conn.h).
 * The call sequences and their traps are in docs/QUIC.md; the section numbers below refer to it. */
#include "transport/quic/quic_conn.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "crypto/crypto.h"
#include "crypto/tlscert.h"

#define SECRET_LEN 32
/* How long a Retry token is good for (ngtcp2's examples use the same). */
#define RETRY_TOKEN_TTL (10 * NGTCP2_SECONDS)
/* The secret's derivation from the identity key (HMAC-SHA256 keyed by the encoded private key). */
static const char secret_label[] = "mesh-relay quic static secret v1";
#define CHUNK_MIN 4096u
#define CHUNK_MAX 65536u

/* Bytes queued on a stream, kept until the peer acknowledges them (ngtcp2 sends from them and
 * retransmits from them). */
typedef struct qchunk {
    struct qchunk *next;
    uint64_t off; /* stream offset of data[0] */
    size_t len, cap;
    uint8_t data[];
} qchunk;

typedef struct qstream {
    rly_stream base; /* first: an rly_stream * is a qstream * */
    rly_qconn *q;
    int64_t id;
    struct qstream *prev, *next; /* all streams of the connection */
    struct qstream *send_next;   /* streams with something to send */
    qchunk *head, *tail;
    uint64_t acked_off; /* everything below is acknowledged */
    uint64_t send_off;  /* the next byte to hand to ngtcp2 */
    uint64_t write_off; /* the end of what was queued */
    bool in_send_list;
    bool is_blocked; /* the peer's stream window is full */
    bool fin_queued, fin_sent;
    bool want_writable;
    bool is_announced;
    bool is_done; /* on_close delivered: the owner is gone; freed at ngtcp2's stream_close */
    bool peer_reset;
    bool peer_stopped;    /* the peer sent STOP_SENDING: the owner hears a reset after this send */
    bool unacked_dropped; /* its unacknowledged bytes are out of the connection's count */
    uint64_t delivered, consumed; /* bytes handed to on_data, and reported back by consume */
} qstream;

/* TLS 1.3 only, AES-GCM first with server precedence (js offers ChaCha20 first, about six times
 * slower in nettle), no middlebox compatibility mode (RFC 9001 8.4). */
static const char tls_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE:"
    "%SERVER_PRECEDENCE";
static const gnutls_datum_t alpn_libp2p = {(unsigned char *)"libp2p", 6};

struct rly_quic_ctx {
    rly_quic_settings set;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio; /* tls_priority, parsed once: gnutls_priority_init per session costs */
    uint8_t secret[SECRET_LEN]; /* stateless-reset and Retry tokens; the same after a restart */
    const rly_log *log;
    rly_mem *mem; /* each connection's allocations (ngtcp2's too) go to an account on it */
};

struct rly_qconn {
    ngtcp2_crypto_conn_ref ref; /* gnutls_session_get_ptr: owned by ngtcp2's glue (docs 1.5) */
    rly_quic_ctx *ctx;
    rly_mem mem;     /* the connection's account: ngtcp2's allocations and our stream buffers */
    ngtcp2_mem nmem; /* ngtcp2's allocator, on |mem| */
    ngtcp2_conn *conn;
    gnutls_session_t tls;
    ngtcp2_path_storage ps;
    ngtcp2_connection_close_error ccerr;
    bool is_server;
    bool has_expected;
    rly_peerid expected;
    bool peer_verified; /* the certificate passed rly_tlscert_verify */
    rly_peerid peer;
    int verify_err;
    bool is_established;
    bool close_pending;   /* a CONNECTION_CLOSE is to be sent once */
    bool has_stopped;     /* some stream has peer_stopped set */
    bool recheck_blocked; /* a datagram came in since the last send: it may have stopped
                             (STOP_SENDING) a stream that waits on the peer's window */
    bool is_closed;       /* nothing more goes out */
    int err;
    const rly_qconn_events *ev;
    void *ev_ud;
    qstream *streams;    /* every stream object */
    ngtcp2_cid odcid;    /* server: the destination ID of the client's Initials (routed to us) */
    ngtcp2_cid scids[8]; /* our IDs, as last listed for the owner */
    size_t nscids;
    qstream *send_head, *send_tail; /* round robin of streams with data, FIN to send */
    /* write_timeout: stream bytes queued and not yet acknowledged (all streams), and when they
     * last moved (an acknowledgement, a stream window opened) */
    uint64_t unacked;
    rly_tstamp wmoved_at;
    bool write_timed_out;
    rly_tstamp now;          /* of the last recv, send or expiry call */
    bool got_handshake_data; /* server: the client sent Handshake-level CRYPTO data */
};

void rly_quic_settings_default(rly_quic_settings *s)
{
    s->handshake_timeout = 10 * RLY_NS_PER_S;
    s->handshake_idle_timeout = 5 * RLY_NS_PER_S;
    s->write_timeout = 30 * RLY_NS_PER_S;
    s->idle_timeout = 30 * RLY_NS_PER_S;
    s->keepalive = 15 * RLY_NS_PER_S;
    s->max_streams_bidi = 256;
    s->stream_window = 256 * 1024; /* as Yamux: the relay's circuit buffer cap assumes it */
    s->conn_window = 4 * 1024 * 1024;
    s->max_pending_handshakes = 256;
    s->max_pending_per_ip = 32;
    s->retry_threshold = 64;
    s->max_connections = 10000;
    s->max_conn_memory = RLY_QUIC_CONN_MEMORY;
}

size_t rly_quic_stateless_reset(const rly_quic_ctx *ctx, const uint8_t *dcid, size_t dcidlen,
                                size_t pktlen, uint8_t *dest, size_t cap)
{
    /* The smallest reset is 21 bytes (RFC 9000 10.3: the first byte and 4 more unpredictable ones,
     * the 16-byte token);
     * ours is one byte shorter than the trigger, at most 43 bytes, like a short packet. */
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64];
    size_t len = pktlen > 0 ? pktlen - 1 : 0;
    if (len > 43)
        len = 43;
    if (len < NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN || len > cap ||
        dcidlen == 0 || dcidlen > NGTCP2_MAX_CIDLEN)
        return 0;
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, dcid, dcidlen);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, ctx->secret, SECRET_LEN, &cid) != 0 ||
        rly_crypto_random(rnd, sizeof(rnd)) != 0)
        return 0;
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(dest, len, token, rnd,
                                                      len - NGTCP2_STATELESS_RESET_TOKENLEN);
    return n > 0 ? (size_t)n : 0;
}

static ngtcp2_socklen sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

size_t rly_quic_version_negotiation(const uint8_t *pkt, size_t len, uint8_t *dest, size_t cap)
{
    ngtcp2_version_cid vc;
    if (len == 0)
        return 0;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, RLY_QUIC_SCID_LEN);
    if ((rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION) || !(pkt[0] & 0x80) || vc.version == 0 ||
        vc.version == NGTCP2_PROTO_VER_V1 || len < NGTCP2_MAX_UDP_PAYLOAD_SIZE)
        return 0;
    uint8_t unused;
    if (rly_crypto_random(&unused, 1) != 0)
        return 0;
    /* v1 and a reserved version of the 0x?a?a?a?a pattern (RFC 9000 6.3: greasing) */
    const uint32_t sv[] = {NGTCP2_PROTO_VER_V1, 0x1a2a3a4au};
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(dest, cap, unused, vc.scid, vc.scidlen,
                                                          vc.dcid, vc.dcidlen, sv, 2);
    return n > 0 ? (size_t)n : 0;
}

/* A Retry token of ours in |hd| that verifies for |remote|: the client's original destination ID
 * goes to |odcid|. */
static bool retry_token_ok(const rly_quic_ctx *ctx, const ngtcp2_pkt_hd *hd,
                           const struct sockaddr *remote, rly_tstamp now, ngtcp2_cid *odcid)
{
    return hd->token.len > 0 && hd->token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY &&
           ngtcp2_crypto_verify_retry_token(odcid, hd->token.base, hd->token.len, ctx->secret,
                                            SECRET_LEN, hd->version,
                                            (const ngtcp2_sockaddr *)remote, sa_len(remote),
                                            &hd->dcid, RETRY_TOKEN_TTL, now) == 0;
}

rly_quic_initial_verdict rly_quic_check_initial(const rly_quic_ctx *ctx, const uint8_t *pkt,
                                                size_t len, const struct sockaddr *remote,
                                                bool require, rly_tstamp now, uint8_t *dest,
                                                size_t cap, size_t *preply)
{
    *preply = 0;
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.version != NGTCP2_PROTO_VER_V1)
        return RLY_QUIC_INITIAL_DROP;
    bool has_retry = hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY;
    ngtcp2_cid odcid;
    if (has_retry) {
        if (retry_token_ok(ctx, &hd, remote, now, &odcid))
            return RLY_QUIC_INITIAL_VALIDATED;
        /* forged, expired or for another address: INVALID_TOKEN, without any state (RFC 9000
         * 8.1.2); the client starts over without a token */
        ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(
            dest, cap, hd.version, &hd.scid, &hd.dcid, NGTCP2_INVALID_TOKEN, NULL, 0);
        *preply = n > 0 ? (size_t)n : 0;
        return *preply ? RLY_QUIC_INITIAL_BAD_TOKEN : RLY_QUIC_INITIAL_DROP;
    }
    if (!require)
        return RLY_QUIC_INITIAL_TAKE; /* no token, or a NEW_TOKEN one (we issue none): ignored */
    ngtcp2_cid scid = {.datalen = RLY_QUIC_SCID_LEN};
    uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    if (rly_crypto_random(scid.data, scid.datalen) != 0)
        return RLY_QUIC_INITIAL_DROP;
    ngtcp2_ssize tlen = ngtcp2_crypto_generate_retry_token(
        token, ctx->secret, SECRET_LEN, hd.version, (const ngtcp2_sockaddr *)remote, sa_len(remote),
        &scid, &hd.dcid, now);
    if (tlen < 0)
        return RLY_QUIC_INITIAL_DROP;
    /* a Retry is far smaller than the 1200-byte Initial: no amplification */
    ngtcp2_ssize n = ngtcp2_crypto_write_retry(dest, cap, hd.version, &hd.scid, &scid, &hd.dcid,
                                               token, (size_t)tlen);
    *preply = n > 0 ? (size_t)n : 0;
    return *preply ? RLY_QUIC_INITIAL_RETRY : RLY_QUIC_INITIAL_DROP;
}

/* ---- the shared context: certificate and credentials ------------------------------------- */

static void *nmem_malloc(size_t size, void *ud)
{
    return rly_malloc(ud, size);
}

static void nmem_free(void *ptr, void *ud)
{
    rly_free(ud, ptr);
}

static void *nmem_calloc(size_t nmemb, size_t size, void *ud)
{
    return rly_calloc(ud, nmemb, size);
}

static void *nmem_realloc(void *ptr, size_t size, void *ud)
{
    return rly_realloc(ud, ptr, size);
}

/* The token secret derives from the identity key, so a restarted relay still recognises the
 * connection IDs it gave out before: their packets get a Stateless Reset the peer accepts, not
 * silence until its idle timeout (the js transport does the same). */
static int derive_secret(const rly_keypair *id, uint8_t out[SECRET_LEN])
{
    uint8_t key[128]; /* the encoding is 68 bytes (Ed25519) */
    rly_ssize n = rly_keypair_encode(id, key, sizeof(key));
    if (n < 0)
        return RLY_ERR_CRYPTO;
    rly_hmac_sha256(key, (size_t)n, (const uint8_t *)secret_label, sizeof(secret_label) - 1, out);
    rly_zeroize(key, sizeof(key));
    return 0;
}

int rly_quic_ctx_new(rly_quic_ctx **pctx, const rly_keypair *id, const rly_quic_settings *settings,
                     const rly_log *log, rly_mem *mem)
{
    rly_tlscert *cert = rly_malloc(mem, sizeof(*cert));
    rly_quic_ctx *ctx = rly_calloc(mem, 1, sizeof(*ctx));
    int rv = cert && ctx ? 0 : RLY_ERR_NOMEM;
    if (rv == 0)
        rv = rly_tlscert_generate(cert, id, (int64_t)time(NULL));
    if (rv == 0)
        rv = derive_secret(id, ctx->secret);
    if (rv == 0) {
        gnutls_datum_t c = {cert->cert, (unsigned)cert->cert_len};
        gnutls_datum_t k = {cert->key, (unsigned)cert->key_len};
        if (gnutls_certificate_allocate_credentials(&ctx->cred) != 0 ||
            gnutls_certificate_set_x509_key_mem2(ctx->cred, &c, &k, GNUTLS_X509_FMT_DER, NULL,
                                                 GNUTLS_PKCS_PLAIN) < 0 ||
            gnutls_priority_init(&ctx->prio, tls_priority, NULL) != 0)
            rv = RLY_ERR_CRYPTO;
    }
    if (cert) {
        rly_tlscert_wipe(cert);
        rly_free(mem, cert);
    }
    if (rv != 0) {
        if (ctx && ctx->cred)
            gnutls_certificate_free_credentials(ctx->cred);
        if (ctx && ctx->prio)
            gnutls_priority_deinit(ctx->prio);
        rly_free(mem, ctx);
        return rv;
    }
    ctx->set = *settings;
    ctx->log = log;
    ctx->mem = mem;
    *pctx = ctx;
    return 0;
}

int rly_quic_ctx_set_cert_for_test(rly_quic_ctx *ctx, uint8_t *cert, size_t certlen, uint8_t *key,
                                   size_t keylen)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_datum_t c = {cert, (unsigned)certlen};
    gnutls_datum_t k = {key, (unsigned)keylen};
    if (gnutls_certificate_allocate_credentials(&cred) != 0)
        return RLY_ERR_CRYPTO;
    gnutls_certificate_set_flags(cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
    if (gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_DER, NULL,
                                             GNUTLS_PKCS_PLAIN) < 0) {
        gnutls_certificate_free_credentials(cred);
        return RLY_ERR_CRYPTO;
    }
    gnutls_certificate_free_credentials(ctx->cred);
    ctx->cred = cred;
    return 0;
}

void rly_quic_ctx_del(rly_quic_ctx *ctx)
{
    if (!ctx)
        return;
    gnutls_certificate_free_credentials(ctx->cred);
    gnutls_priority_deinit(ctx->prio);
    rly_zeroize(ctx->secret, sizeof(ctx->secret));
    rly_free(ctx->mem, ctx);
}

/* ---- TLS session ----------------------------------------------------------------------------- */

static rly_qconn *qconn_of_session(gnutls_session_t s)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
    return ref->user_data;
}

/* The peer's certificate: exactly one, and the libp2p rules (crypto/tlscert.h). Runs once, from
 * the hook below before GnuTLS checks the peer's CertificateVerify (so a key our rules refuse,
 * such as an RSA key with a huge public exponent, costs no verification at all), or as GnuTLS's
 * verify function after it when no CertificateVerify came; only records the result (docs 3.3). */
static int verify_peer(gnutls_session_t s)
{
    rly_qconn *q = qconn_of_session(s);
    if (q->peer_verified)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || n != 1) {
        q->verify_err = RLY_ERR_CERTIFICATE;
        return -1;
    }
    int rv = rly_tlscert_verify(certs[0].data, certs[0].size, (int64_t)time(NULL), &q->peer, NULL);
    if (rv == 0 && q->has_expected && !rly_peerid_equal(&q->peer, &q->expected))
        rv = RLY_ERR_PEER_ID_MISMATCH;
    q->verify_err = rv;
    q->peer_verified = rv == 0;
    return rv == 0 ? 0 : -1;
}

/* GnuTLS lets a ClientHello without ALPN through even with GNUTLS_ALPN_MANDATORY (docs 3.1). */
static int require_alpn(gnutls_session_t s)
{
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(s, &p) != 0 || p.size != alpn_libp2p.size ||
        memcmp(p.data, alpn_libp2p.data, p.size) != 0)
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
    return 0;
}

/* GnuTLS keeps one hook per session: the server's ALPN check once the ClientHello is processed,
 * and on both sides the peer's certificate, checked when its CertificateVerify arrives (the
 * Certificate is processed by then) but before GnuTLS verifies that signature. */
static int handshake_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                          const gnutls_datum_t *msg)
{
    if (!incoming)
        return 0;
    if (htype == GNUTLS_HANDSHAKE_CLIENT_HELLO && when == GNUTLS_HOOK_POST &&
        qconn_of_session(s)->is_server)
        return require_alpn(s);
    if (htype == GNUTLS_HANDSHAKE_CERTIFICATE_VERIFY && when == GNUTLS_HOOK_PRE)
        return verify_peer(s) == 0 ? 0 : GNUTLS_E_CERTIFICATE_ERROR;
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((rly_qconn *)ref->user_data)->conn;
}

static int tls_new(rly_qconn *q)
{
    unsigned flags = (q->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_TICKETS;
    if (gnutls_init(&q->tls, flags) != 0)
        return RLY_ERR_NOMEM;
    int ok = gnutls_priority_set(q->tls, q->ctx->prio) == 0 &&
             (q->is_server ? ngtcp2_crypto_gnutls_configure_server_session(q->tls)
                           : ngtcp2_crypto_gnutls_configure_client_session(q->tls)) == 0 &&
             gnutls_credentials_set(q->tls, GNUTLS_CRD_CERTIFICATE, q->ctx->cred) == 0 &&
             gnutls_alpn_set_protocols(q->tls, &alpn_libp2p, 1, GNUTLS_ALPN_MANDATORY) == 0;
    if (!ok)
        return RLY_ERR_CRYPTO;
    q->ref.get_conn = get_conn;
    q->ref.user_data = q;
    gnutls_session_set_ptr(q->tls, &q->ref);
    gnutls_session_set_verify_function(q->tls, verify_peer);
    gnutls_handshake_set_hook_function(q->tls, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_BOTH,
                                       handshake_hook);
    if (q->is_server) {
        gnutls_certificate_server_set_request(q->tls, GNUTLS_CERT_REQUIRE);
        gnutls_certificate_send_x509_rdn_sequence(q->tls, 1); /* no CA list */
    }
    return 0;
}

/* ---- streams ------------------------------------------------------------------------------- */

static void notify_dirty(rly_qconn *q)
{
    if (q->ev && q->ev->on_dirty)
        q->ev->on_dirty(q->ev_ud, q);
}

static void send_list_add(qstream *st)
{
    rly_qconn *q = st->q;
    if (st->in_send_list || st->is_blocked || st->is_done)
        return;
    st->in_send_list = true;
    st->send_next = NULL;
    if (q->send_tail)
        q->send_tail->send_next = st;
    else
        q->send_head = st;
    q->send_tail = st;
}

static void send_list_pop(rly_qconn *q)
{
    qstream *st = q->send_head;
    q->send_head = st->send_next;
    if (!q->send_head)
        q->send_tail = NULL;
    st->send_next = NULL;
    st->in_send_list = false;
}

static void send_list_remove(qstream *st)
{
    rly_qconn *q = st->q;
    if (!st->in_send_list)
        return;
    qstream *prev = NULL;
    for (qstream *x = q->send_head; x; prev = x, x = x->send_next) {
        if (x != st)
            continue;
        if (prev)
            prev->send_next = x->send_next;
        else
            q->send_head = x->send_next;
        if (q->send_tail == x)
            q->send_tail = prev;
        break;
    }
    st->send_next = NULL;
    st->in_send_list = false;
}

static bool has_to_send(const qstream *st)
{
    return st->send_off < st->write_off || (st->fin_queued && !st->fin_sent);
}

/* Stream bytes were queued on a connection that had none waiting: the write clock starts. */
static void unacked_add(rly_qconn *q, uint64_t n)
{
    if (q->unacked == 0)
        q->wmoved_at = q->now;
    q->unacked += n;
}

/* |st|'s bytes will never be acknowledged (reset, or gone): out of the count. */
static void unacked_drop(qstream *st)
{
    if (st->unacked_dropped)
        return;
    st->unacked_dropped = true;
    st->q->unacked -= st->write_off - st->acked_off;
}

/* Delivers on_close once; the object itself lives until ngtcp2 is done with the stream. */
static void deliver_close(qstream *st, int err)
{
    if (st->is_done)
        return;
    st->is_done = true;
    if (err)
        unacked_drop(st);
    send_list_remove(st);
    /* Bytes delivered and never consumed still count against the connection's window: ngtcp2
     * gives back only what it did not deliver. Re-open it, or every stream closed with data in
     * flight (a reset circuit) would shrink the window for good. */
    rly_qconn *q = st->q;
    if (st->delivered > st->consumed && q->conn && !q->err) {
        ngtcp2_conn_extend_max_offset(q->conn, st->delivered - st->consumed);
        st->consumed = st->delivered;
        notify_dirty(q);
    }
    if (st->base.handler && st->base.handler->on_close)
        st->base.handler->on_close(&st->base, st->base.handler_ud, err);
}

static void stream_free(qstream *st)
{
    rly_qconn *q = st->q;
    unacked_drop(st);
    send_list_remove(st);
    if (st->prev)
        st->prev->next = st->next;
    else
        q->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    for (qchunk *c = st->head, *n; c; c = n) {
        n = c->next;
        rly_free(&q->mem, c);
    }
    rly_free(&q->mem, st);
}

static rly_ssize qs_write(rly_stream *s, const uint8_t *data, size_t len)
{
    qstream *st = (qstream *)s;
    rly_qconn *q = st->q;
    if (st->is_done || st->fin_queued || q->err)
        return RLY_ERR_CLOSED;
    size_t held = (size_t)(st->write_off - st->acked_off);
    size_t room = held < RLY_QUIC_STREAM_BUFFER ? RLY_QUIC_STREAM_BUFFER - held : 0;
    if (len > 0 && room == 0) {
        st->want_writable = true;
        return RLY_ERR_AGAIN;
    }
    size_t n = len < room ? len : room, done = 0;
    while (done < n) {
        qchunk *t = st->tail;
        if (!t || t->len == t->cap) {
            size_t cap = CHUNK_MIN;
            while (cap < n - done && cap < CHUNK_MAX)
                cap *= 2;
            t = rly_malloc(&q->mem, sizeof(*t) + cap);
            if (!t)
                return done ? (rly_ssize)done : RLY_ERR_NOMEM;
            t->next = NULL;
            t->off = st->write_off;
            t->len = 0;
            t->cap = cap;
            if (st->tail)
                st->tail->next = t;
            else
                st->head = t;
            st->tail = t;
        }
        size_t k = t->cap - t->len < n - done ? t->cap - t->len : n - done;
        memcpy(t->data + t->len, data + done, k);
        t->len += k;
        st->write_off += k;
        unacked_add(q, k);
        done += k;
    }
    if (n < len)
        st->want_writable = true;
    send_list_add(st);
    notify_dirty(q);
    return (rly_ssize)n;
}

static int qs_shutdown(rly_stream *s)
{
    qstream *st = (qstream *)s;
    if (st->is_done || st->q->err)
        return RLY_ERR_CLOSED;
    st->fin_queued = true;
    send_list_add(st);
    notify_dirty(st->q);
    return 0;
}

static int qs_reset(rly_stream *s)
{
    qstream *st = (qstream *)s;
    rly_qconn *q = st->q;
    if (st->is_done)
        return RLY_ERR_CLOSED;
    if (!q->err) /* RESET_STREAM + STOP_SENDING */
        RLY_IGNORE(ngtcp2_conn_shutdown_stream(q->conn, st->id, 0));
    deliver_close(st, RLY_ERR_RESET);
    notify_dirty(q);
    return 0;
}

static int qs_consume(rly_stream *s, size_t n)
{
    qstream *st = (qstream *)s;
    rly_qconn *q = st->q;
    if (st->is_done || q->err)
        return RLY_ERR_CLOSED;
    if (n > st->delivered - st->consumed)
        return RLY_ERR_INVALID_ARG; /* more than was delivered */
    st->consumed += n;
    RLY_IGNORE(ngtcp2_conn_extend_max_stream_offset(q->conn, st->id, n));
    ngtcp2_conn_extend_max_offset(q->conn, n);
    notify_dirty(q);
    return 0;
}

static const rly_stream_ops qstream_ops = {qs_write, qs_shutdown, qs_reset, qs_consume};

static uint64_t next_stream_id = 0; /* for logs: unique per process */

static qstream *stream_new(rly_qconn *q, int64_t id, bool outbound)
{
    qstream *st = rly_calloc(&q->mem, 1, sizeof(*st));
    if (!st)
        return NULL;
    st->base.ops = &qstream_ops;
    st->base.id = ++next_stream_id;
    st->base.is_outbound = outbound;
    st->q = q;
    st->id = id;
    st->is_announced = outbound;
    st->next = q->streams;
    if (q->streams)
        q->streams->prev = st;
    q->streams = st;
    if (ngtcp2_conn_set_stream_user_data(q->conn, id, st) != 0) {
        stream_free(st);
        return NULL;
    }
    return st;
}

void rly_qconn_set_events(rly_qconn *q, const rly_qconn_events *ev, void *ud)
{
    q->ev = ev;
    q->ev_ud = ud;
}

int rly_qconn_open_stream(rly_qconn *q, rly_stream **ps)
{
    int64_t id;
    if (q->err || !q->is_established)
        return RLY_ERR_CLOSED;
    int rv = ngtcp2_conn_open_bidi_stream(q->conn, &id, NULL);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
        return RLY_ERR_LIMIT;
    if (rv != 0)
        return RLY_ERR_NOMEM;
    qstream *st = stream_new(q, id, true);
    if (!st) {
        RLY_IGNORE(ngtcp2_conn_shutdown_stream(q->conn, id, 0));
        return RLY_ERR_NOMEM;
    }
    *ps = &st->base;
    return 0;
}

/* A peer-opened stream is announced at its first data or FIN. Returns false when the owner
 * closed it right there. */
static bool announce(qstream *st)
{
    if (st->is_announced)
        return !st->is_done;
    st->is_announced = true;
    rly_qconn *q = st->q;
    if (q->ev && q->ev->on_stream)
        q->ev->on_stream(q->ev_ud, q, &st->base);
    else
        RLY_IGNORE(qs_reset(&st->base)); /* nobody takes streams */
    return !st->is_done;
}

/* ---- ngtcp2 callbacks ------------------------------------------------------------------------ */

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *rctx)
{
    (void)rctx;
    if (rly_crypto_random(dest, len) != 0)
        memset(dest, 0, len); /* never happens with a working OS CSPRNG; ngtcp2 cannot fail here */
}

static int cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    rly_qconn *q = ud;
    if (rly_crypto_random(cid->data, cidlen) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, q->ctx->secret, SECRET_LEN, cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (q->ev && q->ev->on_cid)
        q->ev->on_cid(q->ev_ud, q, cid->data, cid->datalen, true);
    return 0;
}

static int cb_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud)
{
    rly_qconn *q = ud;
    if (q->ev && q->ev->on_cid)
        q->ev->on_cid(q->ev_ud, q, cid->data, cid->datalen, false);
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *ud)
{
    rly_qconn *q = ud;
    if (!q->peer_verified)
        return NGTCP2_ERR_CALLBACK_FAILURE; /* the verify function must have run and passed */
    q->is_established = true;
    return 0;
}

static int cb_stream_open(ngtcp2_conn *conn, int64_t id, void *ud)
{
    rly_qconn *q = ud;
    if (ngtcp2_is_bidi_stream(id) == 0)
        return 0; /* unidirectional: libp2p uses none, and we allow none */
    return stream_new(q, id, false) ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    qstream *st = sud;
    rly_qconn *q = ud;
    if (!st || st->is_done || !announce(st)) {
        ngtcp2_conn_extend_max_offset(conn, len); /* dropped: its share of the window comes back */
        return 0;
    }
    (void)q;
    if (len > 0) {
        st->delivered += len;
        if (st->base.handler && st->base.handler->on_data)
            st->base.handler->on_data(&st->base, st->base.handler_ud, data, len);
        else
            RLY_IGNORE(qs_consume(&st->base, len)); /* nobody listens: keep the window open */
    }
    if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !st->is_done && st->base.handler &&
        st->base.handler->on_fin)
        st->base.handler->on_fin(&st->base, st->base.handler_ud);
    return 0;
}

static int cb_acked(ngtcp2_conn *conn, int64_t id, uint64_t offset, uint64_t len, void *ud,
                    void *sud)
{
    qstream *st = sud;
    if (!st)
        return 0;
    rly_qconn *q = st->q;
    if (offset + len > st->acked_off) {
        if (!st->unacked_dropped)
            q->unacked -= offset + len - st->acked_off;
        q->wmoved_at = q->now;
        st->acked_off = offset + len;
    }
    /* Every chunk the peer has acknowledged goes, the last one too even if it has room left: a
     * stream that went quiet keeps no send buffer (4 KiB at least, which made an idle stream
     * cost 5 KB); the next write allocates one again. */
    while (st->head && st->head->off + st->head->len <= st->acked_off) {
        qchunk *c = st->head;
        st->head = c->next;
        if (!st->head)
            st->tail = NULL;
        rly_free(&q->mem, c);
    }
    if (st->want_writable && !st->is_done &&
        st->write_off - st->acked_off <= RLY_QUIC_STREAM_BUFFER / 2) {
        st->want_writable = false;
        if (st->base.handler && st->base.handler->on_writable)
            st->base.handler->on_writable(&st->base, st->base.handler_ud);
    }
    return 0;
}

static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t code, void *ud,
                           void *sud)
{
    rly_qconn *q = ud;
    qstream *st = sud;
    if (!ngtcp2_conn_is_local_stream(conn, id))
        ngtcp2_conn_extend_max_streams_bidi(conn, 1); /* the peer may open another */
    if (!st)
        return 0;
    bool reset = st->peer_reset || (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET);
    deliver_close(st, reset ? RLY_ERR_RESET : 0);
    (void)q;
    stream_free(st);
    return 0;
}

/* The peer reset its direction, or asked us to stop sending: the stream is over for the owner,
 * reset both ways (a libp2p reset is both, go and js send both). */
static int cb_stream_reset(ngtcp2_conn *conn, int64_t id, uint64_t final_size, uint64_t code,
                           void *ud, void *sud)
{
    qstream *st = sud;
    if (!st || st->is_done)
        return 0;
    st->peer_reset = true;
    RLY_IGNORE(ngtcp2_conn_shutdown_stream(conn, id, 0));
    deliver_close(st, RLY_ERR_RESET);
    return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *conn, int64_t id, uint64_t max_data, void *ud,
                                     void *sud)
{
    qstream *st = sud;
    rly_qconn *q = ud;
    q->wmoved_at = q->now; /* the peer read: window progress */
    if (st && st->is_blocked) {
        st->is_blocked = false;
        if (has_to_send(st))
            send_list_add(st);
    }
    return 0;
}

/* CRYPTO data from the peer: notes how far a client has come (rly_qconn_handshake_stage). */
static int cb_recv_crypto_data(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud)
{
    rly_qconn *q = ud;
    if (level != NGTCP2_CRYPTO_LEVEL_INITIAL)
        q->got_handshake_data = true;
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, len, ud);
}

static void fill_callbacks(ngtcp2_callbacks *cb, bool server)
{
    memset(cb, 0, sizeof(*cb));
    if (server)
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = cb_recv_crypto_data;
    cb->handshake_completed = cb_handshake_completed;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_new_cid;
    cb->remove_connection_id = cb_remove_cid;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->stream_open = cb_stream_open;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked;
    cb->stream_close = cb_stream_close;
    cb->stream_reset = cb_stream_reset;
    cb->extend_max_stream_data = cb_extend_max_stream_data;
}

/* ---- construction ---------------------------------------------------------------------------- */

static rly_qconn *qconn_alloc(rly_quic_ctx *ctx, bool server, const struct sockaddr *local,
                              const struct sockaddr *remote, rly_tstamp now)
{
    rly_qconn *q = rly_calloc(ctx->mem, 1, sizeof(*q));
    if (!q)
        return NULL;
    q->ctx = ctx;
    q->now = now;
    rly_mem_init_account(&q->mem, ctx->mem, ctx->set.max_conn_memory);
    q->nmem = (ngtcp2_mem){&q->mem, nmem_malloc, nmem_free, nmem_calloc, nmem_realloc};
    q->is_server = server;
    ngtcp2_path_storage_init(&q->ps, (const ngtcp2_sockaddr *)local, sa_len(local),
                             (const ngtcp2_sockaddr *)remote, sa_len(remote), NULL);
    ngtcp2_connection_close_error_default(&q->ccerr);
    return q;
}

static void base_settings(const rly_qconn *q, ngtcp2_settings *s, ngtcp2_transport_params *p,
                          rly_tstamp now)
{
    const rly_quic_settings *set = &q->ctx->set;
    ngtcp2_settings_default(s);
    s->initial_ts = now;
    s->handshake_timeout = set->handshake_timeout;
    s->max_tx_udp_payload_size = RLY_QUIC_MAX_PKT;
    ngtcp2_transport_params_default(p);
    p->initial_max_streams_bidi = set->max_streams_bidi;
    p->initial_max_streams_uni = 0; /* libp2p uses no unidirectional streams */
    p->initial_max_stream_data_bidi_local = set->stream_window;
    p->initial_max_stream_data_bidi_remote = set->stream_window;
    p->initial_max_data = set->conn_window;
    p->max_idle_timeout = set->idle_timeout;
    p->disable_active_migration = 1;
}

static int finish_new(rly_qconn *q, int nrv)
{
    if (nrv != 0)
        return nrv == NGTCP2_ERR_NOMEM ? RLY_ERR_NOMEM : RLY_ERR_CRYPTO;
    ngtcp2_conn_set_tls_native_handle(q->conn, q->tls);
    if (q->ctx->set.keepalive)
        ngtcp2_conn_set_keep_alive_timeout(q->conn, q->ctx->set.keepalive);
    return 0;
}

int rly_qconn_client_new(rly_qconn **pq, rly_quic_ctx *ctx, const struct sockaddr *local,
                         const struct sockaddr *remote, const rly_peerid *expected, rly_tstamp now)
{
    rly_qconn *q = qconn_alloc(ctx, false, local, remote, now);
    if (!q)
        return RLY_ERR_NOMEM;
    q->has_expected = true;
    q->expected = *expected;
    ngtcp2_cid dcid = {.datalen = RLY_QUIC_SCID_LEN}, scid = {.datalen = RLY_QUIC_SCID_LEN};
    ngtcp2_callbacks cb;
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    int rv = rly_crypto_random(dcid.data, dcid.datalen) == 0 &&
                     rly_crypto_random(scid.data, scid.datalen) == 0
                 ? tls_new(q)
                 : RLY_ERR_CRYPTO;
    if (rv == 0) {
        fill_callbacks(&cb, false);
        base_settings(q, &s, &p, now);
        rv = finish_new(q, ngtcp2_conn_client_new(&q->conn, &dcid, &scid, &q->ps.path,
                                                  NGTCP2_PROTO_VER_V1, &cb, &s, &p, &q->nmem, q));
    }
    if (rv != 0) {
        rly_qconn_del(q);
        return rv;
    }
    *pq = q;
    return 0;
}

int rly_qconn_server_new(rly_qconn **pq, rly_quic_ctx *ctx, const struct sockaddr *local,
                         const struct sockaddr *remote, const uint8_t *pkt, size_t len,
                         rly_tstamp now)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.version != NGTCP2_PROTO_VER_V1)
        return RLY_ERR_MALFORMED;
    rly_qconn *q = qconn_alloc(ctx, true, local, remote, now);
    if (!q)
        return RLY_ERR_NOMEM;
    ngtcp2_cid scid = {.datalen = RLY_QUIC_SCID_LEN};
    ngtcp2_callbacks cb;
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    int rv = rly_crypto_random(scid.data, scid.datalen) == 0 ? tls_new(q) : RLY_ERR_CRYPTO;
    ngtcp2_cid retry_odcid;
    bool validated = retry_token_ok(ctx, &hd, remote, now, &retry_odcid);
    if (rv == 0 && hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY &&
        !validated)
        rv = RLY_ERR_MALFORMED; /* rly_quic_check_initial answers those */
    if (rv == 0) {
        fill_callbacks(&cb, true);
        base_settings(q, &s, &p, now);
        q->odcid = hd.dcid;
        if (validated) { /* the client's address is proven: ngtcp2 lifts the 3x limit at once */
            p.original_dcid = retry_odcid;
            p.retry_scid = hd.dcid;
            p.retry_scid_present = 1;
            s.token = hd.token;
        } else {
            p.original_dcid = hd.dcid; /* required: clients check it (docs 1.3) */
        }
        p.stateless_reset_token_present = 1;
        if (ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, ctx->secret,
                                                         SECRET_LEN, &scid) != 0)
            rv = RLY_ERR_CRYPTO;
    }
    if (rv == 0)
        rv = finish_new(q, ngtcp2_conn_server_new(&q->conn, &hd.scid, &scid, &q->ps.path,
                                                  hd.version, &cb, &s, &p, &q->nmem, q));
    if (rv == 0)
        rv = rly_qconn_recv(q, pkt, len, now);
    if (rv != 0 && !q->close_pending) {
        rly_qconn_del(q);
        return rv;
    }
    *pq = q; /* a failed handshake still answers with its CONNECTION_CLOSE */
    return 0;
}

void rly_qconn_del(rly_qconn *q)
{
    if (!q)
        return;
    while (q->streams) {
        deliver_close(q->streams, RLY_ERR_CLOSED);
        stream_free(q->streams);
    }
    if (q->conn)
        ngtcp2_conn_del(q->conn);
    if (q->tls)
        gnutls_deinit(q->tls);
    rly_free(q->ctx->mem, q);
}

/* ---- I/O ---------------------------------------------------------------------------------- */

/* Ends the connection with |err|; a CONNECTION_CLOSE goes out at the next send unless |silent|. */
static int fail(rly_qconn *q, int err, bool silent)
{
    if (!q->err)
        q->err = err;
    for (qstream *st = q->streams; st; st = st->next)
        deliver_close(st, RLY_ERR_CLOSED); /* objects stay until rly_qconn_del */
    if (!silent && !q->is_closed)
        q->close_pending = true;
    else
        q->is_closed = true;
    return q->err;
}

int rly_qconn_recv(rly_qconn *q, const uint8_t *pkt, size_t len, rly_tstamp now)
{
    if (q->is_closed || q->close_pending)
        return q->err ? q->err : RLY_ERR_CLOSED;
    q->now = now;
    ngtcp2_pkt_info pi = {0};
    int rv = ngtcp2_conn_read_pkt(q->conn, &q->ps.path, &pi, pkt, len, now);
    switch (rv) {
    case 0: q->recheck_blocked = true; return 0;
    case NGTCP2_ERR_DRAINING: return fail(q, RLY_ERR_CLOSED, true); /* the peer closed */
    case NGTCP2_ERR_DROP_CONN: return fail(q, RLY_ERR_PROTO, true);
    case NGTCP2_ERR_CRYPTO:
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &q->ccerr, ngtcp2_conn_get_tls_alert(q->conn), NULL, 0);
        return fail(q, q->verify_err ? q->verify_err : RLY_ERR_HANDSHAKE, false);
    default:
        ngtcp2_connection_close_error_set_transport_error_liberr(&q->ccerr, rv, NULL, 0);
        return fail(q, RLY_ERR_PROTO, false);
    }
}

static rly_ssize send_once(rly_qconn *q, uint8_t *dest, size_t cap, rly_tstamp now);

/* Streams whose writes the peer refused (STOP_SENDING; ngtcp2 0.12 has no callback for it): the
 * owner hears a reset, and we stop reading too (a libp2p reset is both ways). Runs between
 * packets, never between ngtcp2_conn_writev_stream calls with NGTCP2_WRITE_STREAM_FLAG_MORE. */
static void reset_stopped(rly_qconn *q)
{
    q->has_stopped = false;
    for (qstream *st = q->streams; st; st = st->next) {
        if (!st->peer_stopped || st->is_done)
            continue;
        RLY_IGNORE(ngtcp2_conn_shutdown_stream_read(q->conn, st->id, 0));
        deliver_close(st, RLY_ERR_RESET);
    }
}

rly_ssize rly_qconn_send(rly_qconn *q, uint8_t *dest, size_t cap, rly_tstamp now)
{
    q->now = now;
    rly_ssize n = send_once(q, dest, cap, now);
    if (q->has_stopped && !q->err)
        reset_stopped(q);
    return n;
}

/* Puts the streams blocked on the peer's window back in the send round: the next write attempt
 * either blocks again or meets NGTCP2_ERR_STREAM_SHUT_WR, which is how a STOP_SENDING shows (0.12
 * has no callback for it; a stream with something to send sees it on its own). */
static void recheck_blocked(rly_qconn *q)
{
    q->recheck_blocked = false;
    for (qstream *st = q->streams; st; st = st->next) {
        if (st->is_blocked && !st->is_done) {
            st->is_blocked = false;
            send_list_add(st);
        }
    }
}

static rly_ssize send_once(rly_qconn *q, uint8_t *dest, size_t cap, rly_tstamp now)
{
    if (q->is_closed)
        return 0;
    if (q->recheck_blocked)
        recheck_blocked(q);
    ngtcp2_pkt_info pi;
    if (q->close_pending) {
        q->close_pending = false;
        q->is_closed = true;
        ngtcp2_ssize n =
            ngtcp2_conn_write_connection_close(q->conn, NULL, &pi, dest, cap, &q->ccerr, now);
        return n < 0 ? 0 : (rly_ssize)n;
    }
    for (int guard = 0; guard < 1024; guard++) {
        qstream *st = q->send_head;
        while (st && !has_to_send(st)) { /* drained since it was listed */
            send_list_pop(q);
            st = q->send_head;
        }
        ngtcp2_vec v = {NULL, 0};
        size_t vcnt = 0;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
        int64_t sid = -1;
        if (st) {
            sid = st->id;
            flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
            qchunk *c = st->head;
            while (c && c->off + c->len <= st->send_off)
                c = c->next;
            if (c) {
                size_t at = (size_t)(st->send_off - c->off);
                v.base = c->data + at;
                v.len = c->len - at;
                vcnt = 1;
            }
            if (st->fin_queued && st->send_off + v.len == st->write_off)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize nd = -1;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(q->conn, NULL, &pi, dest, cap, &nd, flags, sid,
                                                   vcnt ? &v : NULL, vcnt, now);
        if (st && nd >= 0) {
            st->send_off += (uint64_t)nd;
            if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && (size_t)nd == v.len)
                st->fin_sent = true;
            send_list_pop(q); /* round robin: to the back if it has more */
            if (has_to_send(st))
                send_list_add(st);
        }
        if (n == NGTCP2_ERR_WRITE_MORE)
            continue; /* room left in the packet: the next stream */
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED && st) {
            send_list_pop(q);
            st->is_blocked = true; /* until extend_max_stream_data */
            continue;
        }
        if ((n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) && st) {
            send_list_pop(q);
            st->send_off = st->write_off; /* nothing of it can go out any more */
            st->fin_sent = true;
            if (n == NGTCP2_ERR_STREAM_SHUT_WR && !st->is_done) {
                st->peer_stopped = true; /* told to the owner once this packet is done */
                q->has_stopped = true;
            }
            continue;
        }
        if (n < 0) {
            ngtcp2_connection_close_error_set_transport_error_liberr(&q->ccerr, (int)n, NULL, 0);
            fail(q, RLY_ERR_PROTO, false);
            return rly_qconn_send(q, dest, cap, now);
        }
        /* Paced once the handshake is done. Before, the only RTT is the 333 ms guess, and one
         * 1200-byte Initial would hold the next flight (the client's certificate and Finished)
         * back by some 26 ms. */
        if (ngtcp2_conn_get_handshake_completed(q->conn))
            ngtcp2_conn_update_pkt_tx_time(q->conn, now);
        return (rly_ssize)n;
    }
    return 0;
}

/* When the write timeout strikes: stream data waits and nothing of it has moved since. */
static rly_tstamp write_deadline(const rly_qconn *q)
{
    rly_tstamp wt = q->ctx->set.write_timeout;
    if (wt == 0 || q->unacked == 0 || q->err)
        return RLY_TSTAMP_MAX;
    return q->wmoved_at > RLY_TSTAMP_MAX - wt ? RLY_TSTAMP_MAX : q->wmoved_at + wt;
}

rly_tstamp rly_qconn_expiry(const rly_qconn *q)
{
    if (q->is_closed)
        return RLY_TSTAMP_MAX;
    rly_tstamp e = ngtcp2_conn_get_expiry(q->conn), w = write_deadline(q);
    return w < e ? w : e;
}

int rly_qconn_handle_expiry(rly_qconn *q, rly_tstamp now)
{
    if (q->is_closed)
        return q->err;
    q->now = now;
    if (now >= write_deadline(q)) { /* the peer does not read: close, with a CONNECTION_CLOSE */
        q->write_timed_out = true;
        ngtcp2_connection_close_error_set_application_error(&q->ccerr, 0, NULL, 0);
        return fail(q, RLY_ERR_TIMEOUT, false);
    }
    int rv = ngtcp2_conn_handle_expiry(q->conn, now);
    if (rv == 0)
        return 0;
    if (rv == NGTCP2_ERR_IDLE_CLOSE)
        return fail(q, RLY_ERR_TIMEOUT, true); /* idle: no CONNECTION_CLOSE (RFC 9000 10.1) */
    if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
        return fail(q, RLY_ERR_TIMEOUT, true);
    ngtcp2_connection_close_error_set_transport_error_liberr(&q->ccerr, rv, NULL, 0);
    return fail(q, RLY_ERR_PROTO, false);
}

bool rly_qconn_write_timed_out(const rly_qconn *q)
{
    return q->write_timed_out;
}

unsigned rly_qconn_handshake_stage(const rly_qconn *q)
{
    return q->got_handshake_data ? 1 : 0;
}

rly_mem *rly_qconn_mem(rly_qconn *q)
{
    return &q->mem;
}

bool rly_qconn_is_established(const rly_qconn *q)
{
    return q->is_established && !q->err;
}

const rly_peerid *rly_qconn_peer(const rly_qconn *q)
{
    return &q->peer;
}

int rly_qconn_error(const rly_qconn *q)
{
    return q->err;
}

size_t rly_qconn_cids(rly_qconn *q, const uint8_t **cids, size_t *lens, size_t max)
{
    rly_qconn *m = q; /* the listing is kept in |q| so the pointers stay valid */
    size_t k = 0;
    m->nscids = 0;
    if (ngtcp2_conn_get_num_scid(m->conn) <= RLY_ARRAY_LEN(m->scids))
        m->nscids = ngtcp2_conn_get_scid(m->conn, m->scids);
    for (size_t i = 0; i < m->nscids && k < max; i++, k++) {
        cids[k] = m->scids[i].data;
        lens[k] = m->scids[i].datalen;
    }
    if (q->is_server && q->odcid.datalen && k < max) {
        cids[k] = q->odcid.data;
        lens[k] = q->odcid.datalen;
        k++;
    }
    return k;
}

void rly_qconn_close(rly_qconn *q)
{
    if (q->err || q->is_closed)
        return;
    ngtcp2_connection_close_error_set_application_error(&q->ccerr, 0, NULL, 0);
    fail(q, RLY_ERR_CLOSED, false);
    notify_dirty(q);
}

const struct sockaddr *rly_qconn_remote(const rly_qconn *q)
{
    return (const struct sockaddr *)q->ps.path.remote.addr;
}

int rly_qconn_stop_reading(rly_stream *s)
{
    qstream *st = (qstream *)s;
    rly_qconn *q = st->q;
    if (st->is_done || q->err)
        return RLY_ERR_CLOSED;
    RLY_IGNORE(ngtcp2_conn_shutdown_stream_read(q->conn, st->id, 0));
    notify_dirty(q);
    return 0;
}
