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

#define RLY_TARGET_QUIC "relay_server::quic"
#define SECRET_LEN 32

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
    uint8_t secret[SECRET_LEN]; /* stateless-reset tokens */
    const rly_log *log;
    rly_mem *mem;
};

struct rly_qconn {
    ngtcp2_crypto_conn_ref ref; /* gnutls_session_get_ptr: owned by ngtcp2's glue (docs 1.5) */
    rly_quic_ctx *ctx;
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
    bool close_pending; /* a CONNECTION_CLOSE is to be sent once */
    bool is_closed;     /* nothing more goes out */
    int err;
};

void rly_quic_settings_default(rly_quic_settings *s)
{
    s->handshake_timeout = 10 * RLY_NS_PER_S;
    s->idle_timeout = 30 * RLY_NS_PER_S;
    s->keepalive = 15 * RLY_NS_PER_S;
    s->max_streams_bidi = 256;
    s->stream_window = 1024 * 1024;
    s->conn_window = 4 * 1024 * 1024;
}

/* ---- the shared context: certificate and credentials ------------------------------------- */

int rly_quic_ctx_new(rly_quic_ctx **pctx, const rly_keypair *id, const rly_quic_settings *settings,
                     const rly_log *log, rly_mem *mem)
{
    rly_tlscert *cert = rly_malloc(mem, sizeof(*cert));
    rly_quic_ctx *ctx = rly_calloc(mem, 1, sizeof(*ctx));
    int rv = cert && ctx ? 0 : RLY_ERR_NOMEM;
    if (rv == 0)
        rv = rly_tlscert_generate(cert, id, (int64_t)time(NULL));
    if (rv == 0)
        rv = rly_crypto_random(ctx->secret, sizeof(ctx->secret));
    if (rv == 0) {
        gnutls_datum_t c = {cert->cert, (unsigned)cert->cert_len};
        gnutls_datum_t k = {cert->key, (unsigned)cert->key_len};
        if (gnutls_certificate_allocate_credentials(&ctx->cred) != 0 ||
            gnutls_certificate_set_x509_key_mem2(ctx->cred, &c, &k, GNUTLS_X509_FMT_DER, NULL,
                                                 GNUTLS_PKCS_PLAIN) < 0)
            rv = RLY_ERR_CRYPTO;
    }
    if (cert) {
        rly_tlscert_wipe(cert);
        rly_free(mem, cert);
    }
    if (rv != 0) {
        if (ctx && ctx->cred)
            gnutls_certificate_free_credentials(ctx->cred);
        rly_free(mem, ctx);
        return rv;
    }
    ctx->set = *settings;
    ctx->log = log;
    ctx->mem = mem;
    *pctx = ctx;
    return 0;
}

void rly_quic_ctx_del(rly_quic_ctx *ctx)
{
    if (!ctx)
        return;
    gnutls_certificate_free_credentials(ctx->cred);
    rly_zeroize(ctx->secret, sizeof(ctx->secret));
    rly_free(ctx->mem, ctx);
}

/* ---- TLS session ----------------------------------------------------------------------------- */

static rly_qconn *qconn_of_session(gnutls_session_t s)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
    return ref->user_data;
}

/* The peer's certificate: exactly one, and the libp2p rules (crypto/tlscert.h). Runs inside the
 * handshake after the peer's CertificateVerify; only records the result (docs 3.3). */
static int verify_peer(gnutls_session_t s)
{
    rly_qconn *q = qconn_of_session(s);
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
static int require_alpn(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                        const gnutls_datum_t *msg)
{
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(s, &p) != 0 || p.size != alpn_libp2p.size ||
        memcmp(p.data, alpn_libp2p.data, p.size) != 0)
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
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
    int ok = gnutls_priority_set_direct(q->tls, tls_priority, NULL) == 0 &&
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
    if (q->is_server) {
        gnutls_certificate_server_set_request(q->tls, GNUTLS_CERT_REQUIRE);
        gnutls_certificate_send_x509_rdn_sequence(q->tls, 1); /* no CA list */
        gnutls_handshake_set_hook_function(q->tls, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                           require_alpn);
    }
    return 0;
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

static void fill_callbacks(ngtcp2_callbacks *cb, bool server)
{
    memset(cb, 0, sizeof(*cb));
    if (server)
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->handshake_completed = cb_handshake_completed;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_new_cid;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

/* ---- construction ---------------------------------------------------------------------------- */

static socklen_t sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static rly_qconn *qconn_alloc(rly_quic_ctx *ctx, bool server, const struct sockaddr *local,
                              const struct sockaddr *remote)
{
    rly_qconn *q = rly_calloc(ctx->mem, 1, sizeof(*q));
    if (!q)
        return NULL;
    q->ctx = ctx;
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
    rly_qconn *q = qconn_alloc(ctx, false, local, remote);
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
                                                  NGTCP2_PROTO_VER_V1, &cb, &s, &p, NULL, q));
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
    rly_qconn *q = qconn_alloc(ctx, true, local, remote);
    if (!q)
        return RLY_ERR_NOMEM;
    ngtcp2_cid scid = {.datalen = RLY_QUIC_SCID_LEN};
    ngtcp2_callbacks cb;
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    int rv = rly_crypto_random(scid.data, scid.datalen) == 0 ? tls_new(q) : RLY_ERR_CRYPTO;
    if (rv == 0) {
        fill_callbacks(&cb, true);
        base_settings(q, &s, &p, now);
        p.original_dcid = hd.dcid; /* required: clients check it (docs 1.3) */
        p.stateless_reset_token_present = 1;
        if (ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, ctx->secret,
                                                         SECRET_LEN, &scid) != 0)
            rv = RLY_ERR_CRYPTO;
    }
    if (rv == 0)
        rv = finish_new(q, ngtcp2_conn_server_new(&q->conn, &hd.scid, &scid, &q->ps.path,
                                                  hd.version, &cb, &s, &p, NULL, q));
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
    if (q->conn)
        ngtcp2_conn_del(q->conn);
    if (q->tls)
        gnutls_deinit(q->tls);
    rly_free(q->ctx->mem, q);
}

/* ---- I/O --------------------------------------------------------------------------------------
 */

/* Ends the connection with |err|; a CONNECTION_CLOSE goes out at the next send unless |silent|. */
static int fail(rly_qconn *q, int err, bool silent)
{
    if (!q->err)
        q->err = err;
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
    ngtcp2_pkt_info pi = {0};
    int rv = ngtcp2_conn_read_pkt(q->conn, &q->ps.path, &pi, pkt, len, now);
    switch (rv) {
    case 0: return 0;
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

rly_ssize rly_qconn_send(rly_qconn *q, uint8_t *dest, size_t cap, rly_tstamp now)
{
    if (q->is_closed)
        return 0;
    ngtcp2_pkt_info pi;
    if (q->close_pending) {
        q->close_pending = false;
        q->is_closed = true;
        ngtcp2_ssize n =
            ngtcp2_conn_write_connection_close(q->conn, NULL, &pi, dest, cap, &q->ccerr, now);
        return n < 0 ? 0 : (rly_ssize)n;
    }
    ngtcp2_ssize n = ngtcp2_conn_write_pkt(q->conn, NULL, &pi, dest, cap, now);
    if (n < 0) {
        ngtcp2_connection_close_error_set_transport_error_liberr(&q->ccerr, (int)n, NULL, 0);
        fail(q, RLY_ERR_PROTO, false);
        return rly_qconn_send(q, dest, cap, now);
    }
    ngtcp2_conn_update_pkt_tx_time(q->conn, now);
    return (rly_ssize)n;
}

rly_tstamp rly_qconn_expiry(const rly_qconn *q)
{
    if (q->is_closed)
        return RLY_TSTAMP_MAX;
    return ngtcp2_conn_get_expiry(q->conn);
}

int rly_qconn_handle_expiry(rly_qconn *q, rly_tstamp now)
{
    if (q->is_closed)
        return q->err;
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
