/* fuzz_quic_initial.c: a datagram arriving at the QUIC server for an unknown connection
 * (src/transport/quic/quic_conn.h), as quic_transport.c handles it: Version Negotiation, the
 * stateless address-validation verdict (with and without a Retry required), then
 * rly_qconn_server_new decides whether it is an acceptable client Initial and, if so, processes
 * it; then the new connection takes the same bytes again (a retransmission) and answers until it
 * has nothing more to send. Invariants: no crash; a reply is never larger than the datagram that
 * caused it (Version Negotiation, Retry, INVALID_TOKEN: no amplification); a refused datagram
 * leaves nothing behind; every allocation is returned after rly_qconn_del. The seeds are real
 * Initials of our client (test_quic_conn.c with RLY_QUIC_SEEDS) and variants of one
 * (fuzz/corpus/gen_quic_seeds.py: tokens, another version). */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "transport/quic/quic_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rly_quic_ctx *ctx;
    static rly_keypair kp;
    if (!ctx) {
        rly_quic_settings st;
        rly_quic_settings_default(&st);
        RLY_ASSERT(rly_keypair_generate(&kp) == 0);
        RLY_ASSERT(rly_quic_ctx_new(&ctx, &kp, &st, NULL, NULL) == 0);
    }
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(4001)};
    struct sockaddr_in remote = {.sin_family = AF_INET, .sin_port = htons(50000)};
    local.sin_addr.s_addr = remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t live = rly_mem_default()->live_bytes;
    rly_qconn *q = NULL;
    rly_tstamp now = RLY_NS_PER_S;
    static uint8_t reply[RLY_QUIC_MAX_PKT];
    size_t n = rly_quic_version_negotiation(data, size, reply, sizeof(reply));
    RLY_ASSERT(n == 0 || (n <= size && size >= 1200 && (reply[0] & 0x80) && reply[1] == 0 &&
                          reply[2] == 0 && reply[3] == 0 && reply[4] == 0));
    for (int require = 0; require < 2 && size > 0; require++) {
        size_t rlen = 1;
        rly_quic_initial_verdict v = rly_quic_check_initial(
            ctx, data, size, (struct sockaddr *)&remote, require, now, reply, sizeof(reply), &rlen);
        if (v == RLY_QUIC_INITIAL_RETRY || v == RLY_QUIC_INITIAL_BAD_TOKEN)
            RLY_ASSERT(rlen > 0 && rlen <= size);
        else
            RLY_ASSERT(rlen == 0);
        RLY_ASSERT(v != RLY_QUIC_INITIAL_VALIDATED); /* no token of this process's secret */
        RLY_ASSERT(!(require && v == RLY_QUIC_INITIAL_TAKE));
        RLY_ASSERT(rly_mem_default()->live_bytes == live);
    }
    int rv = rly_qconn_server_new(&q, ctx, (struct sockaddr *)&local, (struct sockaddr *)&remote,
                                  data, size, now);
    if (rv != 0) {
        RLY_ASSERT(q == NULL);
        RLY_ASSERT(rly_mem_default()->live_bytes == live);
        return 0;
    }
    static uint8_t out[RLY_QUIC_MAX_PKT];
    RLY_IGNORE(rly_qconn_recv(q, data, size, now));
    for (int i = 0; i < 16 && rly_qconn_send(q, out, sizeof(out), now) > 0; i++)
        ;
    RLY_IGNORE(rly_qconn_handle_expiry(q, now + 60 * RLY_NS_PER_S));
    RLY_ASSERT(!rly_qconn_is_established(q)); /* no handshake from one datagram */
    rly_qconn_del(q);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
