/* fuzz_envelope.c: signed envelope parsing and verification (src/crypto/envelope.h) under both
 * domains, and the voucher and peer record openers. Invariants: whatever the outcome, every
 * allocation is returned (live_bytes back to its value before); opened records are within their
 * caps. */
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "crypto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const domains[] = {RLY_DOMAIN_PEER_RECORD, RLY_DOMAIN_RELAY_RSVP};
    static rly_envelope env;
    static rly_peer_record rec;
    rly_voucher v;
    size_t live = rly_mem_default()->live_bytes;
    for (size_t i = 0; i < RLY_ARRAY_LEN(domains); i++) {
        if (rly_envelope_open(&env, data, size, domains[i], NULL) != 0)
            continue;
        RLY_ASSERT(env.payload && env.payload_type_len <= RLY_ENVELOPE_PAYLOAD_TYPE_MAX);
        rly_envelope_free(&env);
    }
    if (rly_voucher_open(&v, data, size, NULL) == 0)
        RLY_ASSERT(v.relay.len > 0 && v.peer.len > 0);
    if (rly_peer_record_open(&rec, data, size, NULL) == 0)
        RLY_ASSERT(rec.peer.len > 0 && rec.naddrs <= RLY_PEER_RECORD_MAX_ADDRS);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
