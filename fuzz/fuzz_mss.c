/* fuzz_mss.c: multistream-select (src/proto/mss) fed arbitrary bytes. The first input byte picks
 * the role (bit 7: dialer) and the read size (bits 0-6; 0: everything at once). Invariants: a
 * read never consumes more than it was given, and all of it while negotiating; errors leave the
 * machine FAILED or REFUSED; a listener's total output stays within header + max_attempts "na"
 * + one echo; DONE names a protocol; every allocation is returned. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "proto/mss/mss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sel(void *ud, const char *p, size_t n)
{
    return (n == 6 && memcmp(p, "/noise", 6) == 0) || (n == 12 && !memcmp(p, "/yamux/1.0.0", 12));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const offer[] = {"/tls/1.0.0", "/noise"};
    uint8_t out[2 * RLY_MSS_MAX_MSG];
    size_t live = rly_mem_default()->live_bytes, off = 0, sent = 0;
    rly_mss_settings st;
    rly_mss *m;
    if (size == 0)
        return 0;
    rly_mss_settings_default(&st);
    st.select = sel;
    st.protocols = offer;
    st.nprotocols = 2;
    size_t chunk = (data[0] & 0x7f) ? (data[0] & 0x7f) : size;
    if (rly_mss_new(&m, data[0] & 0x80 ? RLY_MSS_DIALER : RLY_MSS_LISTENER, &st, NULL) != 0)
        abort();
    for (data++, size--; off < size && rly_mss_get_state(m) == RLY_MSS_NEGOTIATING;) {
        size_t c = chunk < size - off ? chunk : size - off;
        rly_ssize n = rly_mss_recv(m, data + off, c);
        if (n < 0 && (rly_mss_get_state(m) < RLY_MSS_REFUSED || rly_mss_recv(m, data, 1) != n))
            abort();
        if (n < 0 || (size_t)n > c || ((size_t)n < c && rly_mss_get_state(m) != RLY_MSS_DONE))
            break;
        off += (size_t)n;
        sent += (size_t)rly_mss_send(m, out, sizeof(out));
    }
    sent += (size_t)rly_mss_send(m, out, sizeof(out));
    if (rly_mss_get_state(m) == RLY_MSS_DONE && !rly_mss_protocol(m, NULL))
        abort();
    if (sent > 20 + 4 * RLY_MSS_MAX_ATTEMPTS + RLY_MSS_MAX_MSG + 2 || rly_mss_want_write(m))
        abort();
    rly_mss_del(m);
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
