/* test_metrics.c: the Prometheus exposition (src/app/metrics.h): every line is a HELP or TYPE
 * comment or "name[{labels}] value", each family is described once, go's libp2p_relaysvc_*
 * names and labels are there with the given values, the duration histogram is cumulative and
 * ends in +Inf with _count, and the ok/rejected/error split follows the refusal reasons. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "app/metrics.h"
#include "core/mem.h"

static char text[65536];

static void render(const rly_metrics_input *in)
{
    rly_dynbuf b;
    rly_dynbuf_init(&b, rly_mem_default(), 1 << 20);
    cr_assert_eq(rly_metrics_render(in, &b), 0);
    cr_assert_lt(b.len, sizeof(text));
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

static bool has_line(const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

Test(metrics, well_formed_and_go_compatible)
{
    rly_metrics_input in;
    memset(&in, 0, sizeof(in));
    in.version = "0.1.0";
    in.running = in.ready = true;
    in.reservations_active = 2;
    in.reservations_limit = 100;
    in.circuits_limit = 1024;
    in.relay.reservations_opened = 3;
    in.relay.reservations_renewed = 4;
    in.relay.reservation_refusals[RLY_REFUSAL_PERMISSION_DENIED] = 5;
    in.relay.reservation_refusals[RLY_REFUSAL_MALFORMED_MESSAGE] = 1;
    in.relay.circuits_opened = 7;
    in.relay.circuits_closed = 6;
    in.relay.duration_buckets[0] = 2;                          /* <= 1 s */
    in.relay.duration_buckets[3] = 3;                          /* <= 60 s */
    in.relay.duration_buckets[RLY_RELAY_DURATION_BUCKETS] = 1; /* longer than the last bound */
    in.relay.duration_sum = 9000.5;
    in.relay.bytes_relayed = 123456789;
    in.relay.connections_opened[1] = 4;
    in.relay.connections_closed[1] = 1;
    in.quic.retries = 8;
    in.tcp.pending = 3;
    in.tcp.evicted_per_ip = 11;
    in.quic.evicted_total = 12;
    in.tcp.idle_timeouts = 13;
    in.quic.handshake_timeouts = 14;
    in.tcp.write_timeouts = 15;
    in.quic.write_timeouts = 16;
    in.memory_bytes = 4096;
    in.memory_budget_bytes = 128u << 20;
    in.memory_refusals[RLY_MEM_WORK_STREAM] = 11;
    in.memory_refusals[RLY_MEM_WORK_CIRCUIT] = 2;
    render(&in);

    /* every line: a comment or a sample */
    char copy[sizeof(text)];
    memcpy(copy, text, sizeof(copy));
    int helps = 0, samples = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0) {
            helps += l[2] == 'H';
            continue;
        }
        cr_assert(isalpha((unsigned char)l[0]), "bad line: %s", l);
        const char *sp = strrchr(l, ' ');
        cr_assert_not_null(sp, "no value: %s", l);
        for (const char *p = l; p < sp && *p != '{'; p++)
            cr_assert(isalnum((unsigned char)*p) || *p == '_', "bad name: %s", l);
        double v;
        char end;
        cr_assert_eq(sscanf(sp + 1, "%lf%c", &v, &end), 1, "bad value: %s", l);
        samples++;
    }
    cr_assert_gt(helps, 20);
    cr_assert_gt(samples, helps);

    cr_assert(has_line("libp2p_relaysvc_status 1"));
    cr_assert(has_line("libp2p_relaysvc_reservations_total{type=\"opened\"} 3"));
    cr_assert(has_line("libp2p_relaysvc_reservations_total{type=\"renewed\"} 4"));
    cr_assert(
        has_line("libp2p_relaysvc_reservation_request_response_status_total{status=\"ok\"} 7"));
    cr_assert(has_line(
        "libp2p_relaysvc_reservation_request_response_status_total{status=\"rejected\"} 5"));
    cr_assert(
        has_line("libp2p_relaysvc_reservation_request_response_status_total{status=\"error\"} 1"));
    cr_assert(
        has_line("libp2p_relaysvc_reservation_rejections_total{reason=\"permission denied\"} 5"));
    cr_assert(has_line("libp2p_relaysvc_connections_total{type=\"opened\"} 7"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_bucket{le=\"1\"} 2"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_bucket{le=\"15\"} 2"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_bucket{le=\"60\"} 5"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_bucket{le=\"7200\"} 5"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_bucket{le=\"+Inf\"} 6"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_count 6"));
    cr_assert(has_line("libp2p_relaysvc_connection_duration_seconds_sum 9000.500"));
    cr_assert(has_line("libp2p_relaysvc_data_transferred_bytes_total 123456789"));
    cr_assert(has_line("mesh_relay_build_info{version=\"0.1.0\"} 1"));
    cr_assert(has_line("mesh_relay_reservations 2"));
    cr_assert(has_line("mesh_relay_reservations_limit 100"));
    cr_assert(has_line("mesh_relay_circuits_limit 1024"));
    cr_assert(has_line("# TYPE mesh_relay_circuits_limit gauge"));
    cr_assert(has_line("mesh_relay_connections{transport=\"quic\"} 3"));
    cr_assert(has_line("mesh_relay_quic_packets_sent_total{type=\"retry\"} 8"));
    cr_assert(has_line("mesh_relay_memory_bytes 4096"));
    cr_assert(has_line("mesh_relay_tcp_handshakes 3"));
    cr_assert(has_line("mesh_relay_handshakes_evicted_total{transport=\"tcp\",limit=\"max_pending_"
                       "handshakes_per_ip\"} 11"));
    cr_assert(has_line("mesh_relay_handshakes_evicted_total{transport=\"quic\",limit=\"max_pending_"
                       "handshakes\"} 12"));
    cr_assert(has_line("mesh_relay_handshake_timeouts_total{transport=\"tcp\",timeout=\"handshake_"
                       "idle_timeout_secs\"} 13"));
    cr_assert(has_line("mesh_relay_handshake_timeouts_total{transport=\"quic\",timeout=\"handshake_"
                       "timeout_secs\"} 14"));
    cr_assert(has_line("mesh_relay_write_timeouts_total{transport=\"tcp\"} 15"));
    cr_assert(has_line("mesh_relay_write_timeouts_total{transport=\"quic\"} 16"));
    cr_assert(has_line("mesh_relay_memory_budget_bytes 134217728"));
    cr_assert(has_line("mesh_relay_memory_refusals_total{what=\"connection\"} 0"));
    cr_assert(has_line("mesh_relay_memory_refusals_total{what=\"stream\"} 11"));
    cr_assert(has_line("mesh_relay_memory_refusals_total{what=\"reservation\"} 0"));
    cr_assert(has_line("mesh_relay_memory_refusals_total{what=\"circuit\"} 2"));
    cr_assert(has_line("# TYPE libp2p_relaysvc_connection_duration_seconds histogram"));
}

Test(metrics, a_full_buffer_is_an_error)
{
    rly_metrics_input in;
    memset(&in, 0, sizeof(in));
    in.version = "x";
    rly_dynbuf b;
    rly_dynbuf_init(&b, rly_mem_default(), 256);
    cr_assert_neq(rly_metrics_render(&in, &b), 0);
    rly_dynbuf_free(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
