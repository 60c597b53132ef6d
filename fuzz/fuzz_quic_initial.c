/* fuzz_quic_initial.c: a datagram arriving at the QUIC server for an unknown connection
 * (src/transport/quic/quic_conn.h): rly_qconn_server_new decides whether it is an acceptable
 * client Initial and, if so, processes it; then the new connection takes the same bytes again
 * (a retransmission) and answers until it has nothing more to send. Invariants: no crash, a
 * refused datagram leaves nothing behind, every allocation is returned after rly_qconn_del. The
 * seeds are real Initials of our client (test_quic_conn.c with RLY_QUIC_SEEDS). */
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
