/* quic_conn.h: one QUIC v1 connection with libp2p TLS (PROTOCOLS.md 5), without sockets.
 *
 * The layer over ngtcp2 0.12.1 and GnuTLS (docs/QUIC.md). Every ngtcp2 and GnuTLS call of the
 * project stays in src/transport/quic/. A connection takes datagrams in (rly_qconn_recv) and hands
 * datagrams out (rly_qconn_send); time comes in as an argument; the owner arms one timer for
 * rly_qconn_expiry. The UDP endpoint (sockets, connection IDs to connections, stateless reset) sits
 * on top; the unit tests drive two connections through memory.
 *
 * Identity: both sides present the libp2p certificate of their identity (crypto/tlscert.h) and
 * require the peer's; the peer's certificate is checked by rly_tlscert_verify inside the
 * handshake, before GnuTLS verifies the peer's CertificateVerify with the certificate's key (so
 * a key the rules refuse costs no signature check), and a client also requires the PeerId it
 * dialled. ALPN "libp2p" is required. */
#ifndef RLY_TRANSPORT_QUIC_QUIC_CONN_H
#define RLY_TRANSPORT_QUIC_QUIC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "transport/stream.h"

/* Bytes a stream holds for sending (queued and not yet acknowledged: QUIC retransmits from the
 * sender's buffer); a writer beyond it gets RLY_ERR_AGAIN and then on_writable. */
#define RLY_QUIC_STREAM_BUFFER (256u * 1024u)
/* Length of the connection IDs we choose. */
#define RLY_QUIC_SCID_LEN 16
/* Largest UDP payload we send (IPv6 minimum MTU minus headers, as ngtcp2's default). */
#define RLY_QUIC_MAX_PKT 1452

typedef struct rly_quic_ctx rly_quic_ctx;
typedef struct rly_qconn rly_qconn;

typedef struct rly_quic_settings {
    rly_tstamp handshake_timeout;      /* 10 s */
    rly_tstamp handshake_idle_timeout; /* 5 s: a server handshake whose client reaches no new
                                          stage for this long is closed (the transport) */
    rly_tstamp write_timeout;          /* 30 s: stream data is waiting and for this long none of
                                          it was acknowledged and no stream window opened: the
                                          peer does not read; the connection is closed. 0: off */
    rly_tstamp idle_timeout;           /* 30 s (the effective one is the smaller of both sides') */
    rly_tstamp keepalive;              /* 15 s (go); 0: off */
    uint64_t max_streams_bidi;         /* 256 concurrent peer-opened streams (go, rust, js) */
    uint64_t stream_window;            /* 256 KiB receive window per stream (as Yamux's; the relay's
                                          circuit buffer relies on it); clients may grant more */
    uint64_t conn_window;              /* 4 MiB per connection */
    size_t max_pending_handshakes;     /* 256: server handshakes in progress; a new client beyond
                                          closes the stalest (transport/pending.h) */
    size_t max_pending_per_ip;         /* 32: of them from one address (IPv6: one /56); a new client
                                          from an address at the cap closes that address's stalest */
    size_t retry_threshold;            /* 64: with this many handshakes in progress from unproven
                                          addresses, a new client must prove its address with a Retry
                                          round trip first (spoofed Initials hold no more slots than
                                          this); 0: always */
    size_t max_connections;            /* 10000 established; more Initials are dropped */
    size_t max_conn_memory;            /* 16 MiB (RLY_QUIC_CONN_MEMORY): the cap of a connection's
                                          memory account (rly_qconn_mem); past it, what needs
                                          memory fails: a stream write, or the connection */
} rly_quic_settings;

/* What one connection may hold: ngtcp2's state and its buffers of out-of-order data (up to the
 * 4 MiB connection window) and of packets in flight, and our send buffers (256 KiB per stream,
 * no limit across streams but this one), with room to spare. */
#define RLY_QUIC_CONN_MEMORY (16u * 1024u * 1024u)

void rly_quic_settings_default(rly_quic_settings *s);

/* rly_quic_ctx_new makes what every connection of a process shares: a fresh libp2p certificate
 * for |id| (borrowed during the call only), the TLS credentials, a secret for stateless-reset
 * and Retry tokens (derived from |id|: the same after a restart). Returns 0, RLY_ERR_NOMEM or
 * RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_quic_ctx_new(rly_quic_ctx **pctx, const rly_keypair *id,
                                   const rly_quic_settings *settings, const rly_log *log,
                                   rly_mem *mem);
void rly_quic_ctx_del(rly_quic_ctx *ctx);

/* rly_quic_ctx_set_cert_for_test makes connections made from now on present the certificate
 * |cert| (DER, |certlen| bytes) with the private key |key| (DER PKCS#8, |keylen| bytes), without
 * checking that the two match. Both are copied, not modified (GnuTLS takes them non-const). Tests
 * only: a peer with a certificate we would never make, or one whose key it does not hold. Returns 0
 * or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_quic_ctx_set_cert_for_test(rly_quic_ctx *ctx, uint8_t *cert, size_t certlen,
                                                 uint8_t *key, size_t keylen);

/* rly_quic_stateless_reset writes into |dest| a Stateless Reset (RFC 9000 10.3) for a short-header
 * packet of |pktlen| bytes whose destination connection ID |dcid| (|dcidlen| bytes) routes to no
 * connection: the token is the one we gave out with that ID (derived from |ctx|'s secret), the
 * reset is shorter than the packet that triggered it (so two endpoints cannot loop), and packets
 * too short to hide a reset get none. Returns its length, or 0: send nothing. */
size_t rly_quic_stateless_reset(const rly_quic_ctx *ctx, const uint8_t *dcid, size_t dcidlen,
                                size_t pktlen, uint8_t *dest, size_t cap);

/* rly_quic_version_negotiation writes into |dest| a Version Negotiation packet (offering v1) for
 * |pkt| (|len| bytes) when it is a long-header packet of another version and at least 1200 bytes
 * long (a client's first flight; smaller ones could make us an amplifier). Returns its length,
 * or 0: send nothing. */
size_t rly_quic_version_negotiation(const uint8_t *pkt, size_t len, uint8_t *dest, size_t cap);

/* What to do with a client Initial for no known connection (rly_quic_check_initial). */
typedef enum rly_quic_initial_verdict {
    RLY_QUIC_INITIAL_TAKE,      /* make a connection (rly_qconn_server_new); address unproven */
    RLY_QUIC_INITIAL_VALIDATED, /* make one: a Retry token of ours proves the address */
    RLY_QUIC_INITIAL_RETRY,     /* make none; send the reply back: a Retry */
    RLY_QUIC_INITIAL_BAD_TOKEN, /* make none; send the reply back: a CONNECTION_CLOSE with
                                   INVALID_TOKEN (the client starts over without a token) */
    RLY_QUIC_INITIAL_DROP,      /* make none, send nothing (not an Initial we take) */
} rly_quic_initial_verdict;

/* rly_quic_check_initial decides on the Initial |pkt| (|len| bytes) from |remote|, without any
 * state: a valid Retry token of ours (bound to |remote|, at most 10 s old) validates it, an
 * invalid one is answered with INVALID_TOKEN, and with |require| (handshakes from unproven
 * addresses are piling up) one without a token is answered with a Retry. A reply is written to
 * |dest| (|cap| >= RLY_QUIC_MAX_PKT), its length in |*preply|. */
rly_quic_initial_verdict rly_quic_check_initial(const rly_quic_ctx *ctx, const uint8_t *pkt,
                                                size_t len, const struct sockaddr *remote,
                                                bool require, rly_tstamp now, uint8_t *dest,
                                                size_t cap, size_t *preply);

/* rly_qconn_client_new starts a connection to |remote| from |local| that must end up
 * authenticated as |expected|. The first datagram comes out of rly_qconn_send.
 * Returns 0, RLY_ERR_NOMEM or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_qconn_client_new(rly_qconn **pq, rly_quic_ctx *ctx,
                                       const struct sockaddr *local, const struct sockaddr *remote,
                                       const rly_peerid *expected, rly_tstamp now);

/* rly_qconn_server_new accepts a connection from the client Initial |pkt| (|len| bytes) that
 * arrived from |remote| on |local|, and processes it; a valid Retry token in it validates the
 * client's address. Returns 0, RLY_ERR_MALFORMED (not an acceptable Initial, or a Retry token
 * that does not verify: drop it), RLY_ERR_NOMEM or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_qconn_server_new(rly_qconn **pq, rly_quic_ctx *ctx,
                                       const struct sockaddr *local, const struct sockaddr *remote,
                                       const uint8_t *pkt, size_t len, rly_tstamp now);

void rly_qconn_del(rly_qconn *q);

/* rly_qconn_recv processes one datagram. Returns 0, or the error that closed the connection
 * (RLY_ERR_HANDSHAKE for a TLS or certificate failure, RLY_ERR_CLOSED when the peer closed it,
 * RLY_ERR_PROTO for other QUIC errors); then rly_qconn_send still produces the
 * CONNECTION_CLOSE once. */
RLY_NODISCARD int rly_qconn_recv(rly_qconn *q, const uint8_t *pkt, size_t len, rly_tstamp now);

/* rly_qconn_send writes the next datagram into |dest| (|cap| >= RLY_QUIC_MAX_PKT). Returns its
 * length, 0 when there is nothing to send now, or an error (the connection is closed). */
RLY_NODISCARD rly_ssize rly_qconn_send(rly_qconn *q, uint8_t *dest, size_t cap, rly_tstamp now);

/* rly_qconn_expiry is when rly_qconn_handle_expiry must run next (RLY_TSTAMP_MAX: never). */
rly_tstamp rly_qconn_expiry(const rly_qconn *q);

/* rly_qconn_handle_expiry runs timers (loss recovery, ACK delay, keepalive, idle, handshake
 * timeout, write timeout). Returns 0, RLY_ERR_TIMEOUT (idle or handshake timeout: the connection
 * is gone, nothing to send; write timeout: rly_qconn_send still produces the CONNECTION_CLOSE
 * once, rly_qconn_write_timed_out tells) or another closing error. */
RLY_NODISCARD int rly_qconn_handle_expiry(rly_qconn *q, rly_tstamp now);

/* rly_qconn_write_timed_out: the connection was closed by the write timeout (write_timeout). */
bool rly_qconn_write_timed_out(const rly_qconn *q);

/* rly_qconn_handshake_stage is how far the client of a server handshake has come: 0 while only
 * its Initial data (the ClientHello) has arrived, 1 once Handshake-level data has (it has our
 * first flight and answers it). */
unsigned rly_qconn_handshake_stage(const rly_qconn *q);

/* Streams. Each libp2p stream is one bidirectional QUIC stream (PROTOCOLS.md 5.2), an rly_stream
 * as Yamux streams are: write queues (copied) up to RLY_QUIC_STREAM_BUFFER, shutdown sends FIN,
 * reset sends RESET_STREAM and STOP_SENDING with code 0 (go, js), consume re-opens the peer's
 * stream and connection windows (nothing does it by itself: the relay's backpressure). A stream
 * the peer opens is announced through on_stream at its first data or FIN, during
 * rly_qconn_recv. When the connection ends, every stream gets on_close(RLY_ERR_CLOSED). */
typedef struct rly_qconn_events {
    void (*on_stream)(void *ud, rly_qconn *q, rly_stream *s);
    /* A stream call (write, shutdown, reset, consume) left something to send: the owner should
     * run rly_qconn_send soon (not from inside this callback). May be NULL. */
    void (*on_dirty)(void *ud, rly_qconn *q);
    /* A connection ID of ours starts (|add|) or stops routing to |q|. May be NULL. */
    void (*on_cid)(void *ud, rly_qconn *q, const uint8_t *cid, size_t len, bool add);
} rly_qconn_events;

/* rly_qconn_set_events routes |q|'s events to |ev| (borrowed) with |ud|. */
void rly_qconn_set_events(rly_qconn *q, const rly_qconn_events *ev, void *ud);

/* rly_qconn_open_stream opens a bidirectional stream (established connections only). Returns 0,
 * RLY_ERR_LIMIT (the peer's stream limit is reached), RLY_ERR_CLOSED or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_qconn_open_stream(rly_qconn *q, rly_stream **ps);

/* rly_qconn_stop_reading sends STOP_SENDING (code 0) for |s|, a stream of a QUIC connection:
 * we read no more of it, the peer should stop writing (go's CloseRead). The stream stays open
 * for writing. Returns 0 or RLY_ERR_CLOSED. */
RLY_NODISCARD int rly_qconn_stop_reading(rly_stream *s);

/* rly_qconn_cids writes up to |max| connection IDs that route to |q| now (ours, and on a server
 * the client's original destination ID) as pointers into |q|. Returns how many. */
size_t rly_qconn_cids(rly_qconn *q, const uint8_t **cids, size_t *lens, size_t max);

/* rly_qconn_close starts a graceful close (CONNECTION_CLOSE with application code 0, as go and
 * js): every stream gets on_close(RLY_ERR_CLOSED); rly_qconn_send produces the frame once. */
void rly_qconn_close(rly_qconn *q);

/* rly_qconn_remote is the peer's address as given at creation. */
const struct sockaddr *rly_qconn_remote(const rly_qconn *q);

/* rly_qconn_is_established: the handshake completed and the peer's certificate verified. */
bool rly_qconn_is_established(const rly_qconn *q);

/* rly_qconn_mem is |q|'s memory account (a child of the context's allocator, capped at
 * max_conn_memory): ngtcp2's allocations and the stream buffers of |q| come from it. */
rly_mem *rly_qconn_mem(rly_qconn *q);

/* rly_qconn_peer is the authenticated peer (valid once established). */
const rly_peerid *rly_qconn_peer(const rly_qconn *q);

/* rly_qconn_error is why the connection failed (0 while it has not). */
int rly_qconn_error(const rly_qconn *q);

#endif
