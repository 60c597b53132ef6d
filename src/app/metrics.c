/* metrics.c: Prometheus text exposition (metrics.h). */
#include "app/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

/* Label values of the refusal reasons, in rly_relay_refusal order (go's spelling: words). */
static const char *const refusal_reason[RLY_REFUSAL_COUNT] = {
    "reservation refused", "resource limit exceeded", "permission denied",
    "connection failed",   "no reservation",          "malformed message",
};

typedef struct out_ctx {
    rly_dynbuf *b;
    int err;
} out_ctx;

__attribute__((format(printf, 2, 3))) static void put(out_ctx *o, const char *fmt, ...)
{
    va_list ap;
    if (o->err)
        return;
    va_start(ap, fmt);
    char line[512];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        o->err = RLY_ERR_NOBUF;
    else
        o->err = rly_dynbuf_append(o->b, line, (size_t)n);
}

static void head(out_ctx *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(out_ctx *o, const char *name, const char *type, const char *help, uint64_t v)
{
    head(o, name, type, help);
    put(o, "%s %" PRIu64 "\n", name, v);
}

/* A counter family with one label over the refusal reasons. */
static void refusals(out_ctx *o, const char *name, const char *help, const uint64_t *v)
{
    head(o, name, "counter", help);
    for (size_t i = 0; i < RLY_REFUSAL_COUNT; i++)
        put(o, "%s{reason=\"%s\"} %" PRIu64 "\n", name, refusal_reason[i], v[i]);
}

/* ok / rejected / error from the accepted count and the refusals (malformed: error). */
static void statuses(out_ctx *o, const char *name, const char *help, uint64_t ok,
                     const uint64_t *refused)
{
    uint64_t rejected = 0;
    for (size_t i = 0; i < RLY_REFUSAL_COUNT; i++)
        if (i != RLY_REFUSAL_MALFORMED_MESSAGE)
            rejected += refused[i];
    head(o, name, "counter", help);
    put(o, "%s{status=\"ok\"} %" PRIu64 "\n", name, ok);
    put(o, "%s{status=\"rejected\"} %" PRIu64 "\n", name, rejected);
    put(o, "%s{status=\"error\"} %" PRIu64 "\n", name, refused[RLY_REFUSAL_MALFORMED_MESSAGE]);
}

static void relaysvc(out_ctx *o, const rly_metrics_input *in)
{
    const rly_relay_stats *s = &in->relay;
    one(o, "libp2p_relaysvc_status", "gauge", "Relay service status (1: running)",
        in->running ? 1 : 0);
    const char *n = "libp2p_relaysvc_reservations_total";
    head(o, n, "counter", "Reservations opened, renewed and closed (expired or connection gone)");
    put(o, "%s{type=\"opened\"} %" PRIu64 "\n", n, s->reservations_opened);
    put(o, "%s{type=\"renewed\"} %" PRIu64 "\n", n, s->reservations_renewed);
    put(o, "%s{type=\"closed\"} %" PRIu64 "\n", n, s->reservations_closed);
    statuses(o, "libp2p_relaysvc_reservation_request_response_status_total",
             "Answers to RESERVE requests", s->reservations_opened + s->reservations_renewed,
             s->reservation_refusals);
    refusals(o, "libp2p_relaysvc_reservation_rejections_total", "Refused RESERVE requests",
             s->reservation_refusals);
    n = "libp2p_relaysvc_connections_total";
    head(o, n, "counter", "Relayed connections (circuits) opened and closed");
    put(o, "%s{type=\"opened\"} %" PRIu64 "\n", n, s->circuits_opened);
    put(o, "%s{type=\"closed\"} %" PRIu64 "\n", n, s->circuits_closed);
    statuses(o, "libp2p_relaysvc_connection_request_response_status_total",
             "Answers to CONNECT requests", s->circuits_opened, s->circuit_refusals);
    refusals(o, "libp2p_relaysvc_connection_rejections_total", "Refused CONNECT requests",
             s->circuit_refusals);
    n = "libp2p_relaysvc_connection_duration_seconds";
    head(o, n, "histogram", "How long relayed connections lasted");
    uint64_t cum = 0;
    for (size_t i = 0; i < RLY_RELAY_DURATION_BUCKETS; i++) {
        cum += s->duration_buckets[i];
        put(o, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", n, rly_relay_duration_bounds[i], cum);
    }
    cum += s->duration_buckets[RLY_RELAY_DURATION_BUCKETS];
    put(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", n, cum);
    put(o, "%s_sum %.3f\n%s_count %" PRIu64 "\n", n, s->duration_sum, n, cum);
    one(o, "libp2p_relaysvc_data_transferred_bytes_total", "counter",
        "Bytes relayed, both directions", s->bytes_relayed);
}

/* Per transport: a counter family with one more label. */
static void by_transport(out_ctx *o, const char *name, const char *label, const char *value,
                         uint64_t tcp, uint64_t quic)
{
    put(o, "%s{transport=\"tcp\",%s=\"%s\"} %" PRIu64 "\n", name, label, value, tcp);
    put(o, "%s{transport=\"quic\",%s=\"%s\"} %" PRIu64 "\n", name, label, value, quic);
}

/* Handshakes closed to make room or by their deadlines, and connections by write_timeout. */
static void handshake_closes(out_ctx *o, const rly_metrics_input *in)
{
    const rly_tcp_stats *t = &in->tcp;
    const rly_quic_stats *q = &in->quic;
    const char *n = "mesh_relay_handshakes_evicted_total";
    head(o, n, "counter",
         "Pending handshakes closed to admit a newer one, by the limit that was full");
    by_transport(o, n, "limit", "max_pending_handshakes_per_ip", t->evicted_per_ip,
                 q->evicted_per_ip);
    by_transport(o, n, "limit", "max_pending_handshakes", t->evicted_total, q->evicted_total);
    n = "mesh_relay_handshake_timeouts_total";
    head(o, n, "counter", "Handshakes closed by a deadline");
    by_transport(o, n, "timeout", "handshake_timeout_secs", t->handshake_timeouts,
                 q->handshake_timeouts);
    by_transport(o, n, "timeout", "handshake_idle_timeout_secs", t->idle_timeouts,
                 q->handshake_idle_timeouts);
    n = "mesh_relay_write_timeouts_total";
    head(o, n, "counter", "Connections closed because the peer took none of their output");
    put(o, "%s{transport=\"tcp\"} %" PRIu64 "\n", n, t->write_timeouts);
    put(o, "%s{transport=\"quic\"} %" PRIu64 "\n", n, q->write_timeouts);
}

static void ours(out_ctx *o, const rly_metrics_input *in)
{
    const rly_relay_stats *s = &in->relay;
    head(o, "mesh_relay_build_info", "gauge", "Build information");
    put(o, "mesh_relay_build_info{version=\"%s\"} 1\n", in->version);
    one(o, "mesh_relay_start_time_seconds", "gauge", "Start time (unix seconds)", in->start_time);
    one(o, "mesh_relay_ready", "gauge", "1: listeners bound and not draining", in->ready ? 1 : 0);
    one(o, "mesh_relay_reservations", "gauge", "Reservations in force", in->reservations_active);
    one(o, "mesh_relay_reservations_limit", "gauge",
        "Reservations allowed at once ([relay] max_reservations)", in->reservations_limit);
    one(o, "mesh_relay_circuits", "gauge", "Circuits open", in->circuits_active);
    one(o, "mesh_relay_circuits_limit", "gauge", "Circuits allowed at once ([relay] max_circuits)",
        in->circuits_limit);
    one(o, "mesh_relay_circuits_limit_closed_total", "counter",
        "Circuits ended by the duration or data limit", s->circuits_limit_closed);
    static const char *const tr[2] = {"tcp", "quic"};
    head(o, "mesh_relay_connections", "gauge", "Established connections by transport");
    for (int i = 0; i < 2; i++)
        put(o, "mesh_relay_connections{transport=\"%s\"} %" PRIu64 "\n", tr[i],
            s->connections_opened[i] - s->connections_closed[i]);
    head(o, "mesh_relay_connections_total", "counter", "Connections established and closed");
    for (int i = 0; i < 2; i++) {
        put(o, "mesh_relay_connections_total{transport=\"%s\",type=\"opened\"} %" PRIu64 "\n",
            tr[i], s->connections_opened[i]);
        put(o, "mesh_relay_connections_total{transport=\"%s\",type=\"closed\"} %" PRIu64 "\n",
            tr[i], s->connections_closed[i]);
    }
    one(o, "mesh_relay_connections_denied_total", "counter",
        "Connections closed by [acl] deny lists or max_connections_per_ip", s->connections_denied);
    const rly_limiter_stats *l = &in->limiter;
    const char *n = "mesh_relay_limit_refusals_total";
    head(o, n, "counter", "Requests refused by a [limits] key");
    put(o, "%s{limit=\"max_connections_per_ip\"} %" PRIu64 "\n", n, l->connections_per_ip);
    put(o, "%s{limit=\"max_reservations_per_ip\"} %" PRIu64 "\n", n, l->reservations_per_ip);
    put(o, "%s{limit=\"reservation_rate_per_peer\"} %" PRIu64 "\n", n, l->reservation_rate_peer);
    put(o, "%s{limit=\"reservation_rate_per_ip\"} %" PRIu64 "\n", n, l->reservation_rate_ip);
    put(o, "%s{limit=\"circuit_rate_per_peer\"} %" PRIu64 "\n", n, l->circuit_rate_peer);
    put(o, "%s{limit=\"circuit_rate_per_ip\"} %" PRIu64 "\n", n, l->circuit_rate_ip);
    n = "mesh_relay_auth_total";
    head(o, n, "counter", "Authentication attempts (rate_limited ones count as failed too)");
    put(o, "%s{result=\"ok\"} %" PRIu64 "\n", n, in->auth.ok);
    put(o, "%s{result=\"failed\"} %" PRIu64 "\n", n, in->auth.failed);
    put(o, "%s{result=\"rate_limited\"} %" PRIu64 "\n", n, in->auth.rate_limited);
    n = "mesh_relay_auth_accepted_total";
    head(o, n, "counter", "Tokens accepted, by form (shared secret, minted v1, signed v2)");
    put(o, "%s{token=\"shared\"} %" PRIu64 "\n", n, in->auth.ok_shared);
    put(o, "%s{token=\"minted\"} %" PRIu64 "\n", n, in->auth.ok_minted);
    put(o, "%s{token=\"signed\"} %" PRIu64 "\n", n, in->auth.ok_signed);
    one(o, "mesh_relay_auth_revoked_total", "counter",
        "Authentications withdrawn (token expired or revoked, a reload changed what is accepted)",
        in->auth.revoked);
    one(o, "mesh_relay_auth_revoked_tokens_total", "counter",
        "Authentications withdrawn because revoked_tokens_file listed their token",
        in->auth.revoked_listed);
    one(o, "mesh_relay_auth_revoked_token_ids", "gauge",
        "Token ids in the revoked token list in force", in->auth.revoked_ids);
    const rly_quic_stats *q = &in->quic;
    one(o, "mesh_relay_tcp_handshakes", "gauge",
        "TCP upgrades (multistream-select, Noise, Yamux) in progress", in->tcp.pending);
    one(o, "mesh_relay_tcp_handshake_failures_total", "counter", "TCP upgrades that failed",
        in->tcp.failed);
    handshake_closes(o, in);
    one(o, "mesh_relay_quic_handshakes", "gauge", "QUIC handshakes in progress", q->pending);
    one(o, "mesh_relay_quic_handshakes_unproven", "gauge",
        "QUIC handshakes in progress from addresses no Retry validated", q->unproven);
    n = "mesh_relay_quic_packets_sent_total";
    head(o, n, "counter", "Stateless QUIC packets sent");
    put(o, "%s{type=\"retry\"} %" PRIu64 "\n", n, q->retries);
    put(o, "%s{type=\"invalid_token\"} %" PRIu64 "\n", n, q->invalid_tokens);
    put(o, "%s{type=\"version_negotiation\"} %" PRIu64 "\n", n, q->version_negotiations);
    put(o, "%s{type=\"stateless_reset\"} %" PRIu64 "\n", n, q->stateless_resets);
    one(o, "mesh_relay_quic_initials_dropped_total", "counter",
        "QUIC Initials dropped at max_connections (or with no room for a handshake at all)",
        q->initials_over_cap);
    one(o, "mesh_relay_memory_bytes", "gauge", "Bytes allocated by the relay (rly_mem)",
        in->memory_bytes);
    one(o, "mesh_relay_memory_peak_bytes", "gauge", "Most bytes allocated at once",
        in->memory_peak_bytes);
    one(o, "mesh_relay_memory_budget_bytes", "gauge",
        "Memory budget ([limits] max_memory_mb): above it new work is refused",
        in->memory_budget_bytes);
    static const char *const work[RLY_MEM_WORK_COUNT] = {"connection", "stream", "reservation",
                                                         "circuit"};
    n = "mesh_relay_memory_refusals_total";
    head(o, n, "counter",
         "New connections, streams, reservations, circuits refused over the budget");
    for (int i = 0; i < RLY_MEM_WORK_COUNT; i++)
        put(o, "%s{what=\"%s\"} %" PRIu64 "\n", n, work[i], in->memory_refusals[i]);
}

int rly_metrics_render(const rly_metrics_input *in, rly_dynbuf *out)
{
    out_ctx o = {out, 0};
    relaysvc(&o, in);
    ours(&o, in);
    return o.err;
}
