/* fuzz_yamux_session.c: a server-side Yamux session fed arbitrary bytes. Input: byte 0 seeds the
 * chunk sizes (1..256), byte 1 is the clock step per chunk in ms, the rest is the peer's byte
 * stream. Callbacks accept most streams, consume and echo data, and answer FIN with FIN; output
 * is drained after every chunk. Invariants: recv consumes everything or fails with a documented
 * error, the session stays failed, and nothing leaks. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/yamux/yamux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_open(rly_yamux *y, uint32_t id, void *ud)
{
    return id % 11 == 9; /* refuse some */
}

static int on_data(rly_yamux *y, uint32_t id, void *sud, const uint8_t *d, size_t n)
{
    if (rly_yamux_stream_consume(y, id, n) != 0)
        abort();
    if (d[0] == 'R')
        return rly_yamux_stream_reset(y, id);
    return rly_yamux_stream_write(y, id, d, n) == RLY_ERR_NOMEM;
}

static int on_fin(rly_yamux *y, uint32_t id, void *sud)
{
    return rly_yamux_stream_shutdown(y, id);
}

static const rly_yamux_callbacks cbs = {
    .on_stream_open = on_open, .on_stream_data = on_data, .on_stream_fin = on_fin};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_yamux_settings set;
    rly_yamux *y = NULL;
    rly_yamux_settings_default(&set);
    set.max_inbound_streams = 16;
    set.max_pending_pings = 8;
    set.max_pending_control = 32;
    set.max_stream_buffer = 8192;
    set.empty_frame_burst = set.stream_reset_burst = 64;
    if (size < 2 || rly_yamux_new(&y, false, &set, &cbs, NULL, NULL, NULL) != 0)
        return 0;
    uint32_t seed = data[0];
    rly_tstamp now = 0, step = data[1] * RLY_NS_PER_MS;
    static uint8_t out[4096];
    for (size_t pos = 2, n; pos < size; pos += n) {
        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 256;
        n = n < size - pos ? n : size - pos;
        now += step;
        rly_ssize rv = rly_yamux_recv(y, data + pos, n, now);
        if (rv >= 0 && (size_t)rv != n)
            abort();
        if (rv < 0 && rv != RLY_ERR_PROTO && rv != RLY_ERR_FLOW_CONTROL && rv != RLY_ERR_FLOODED &&
            rv != RLY_ERR_TIMEOUT && rv != RLY_ERR_CALLBACK_FAILURE)
            abort();
        int ev = rly_yamux_handle_expiry(y, now);
        if (ev != 0 && ev != rly_yamux_get_error(y))
            abort();
        while (rly_yamux_send(y, out, sizeof(out), now) > 0)
            ;
        if (rv < 0 && (rly_yamux_recv(y, data, 1, now) != rv || rly_yamux_want_read(y)))
            abort();
        if (rv < 0)
            break;
    }
    rly_yamux_del(y);
    if (rly_mem_default()->live_bytes != 0)
        abort();
    return 0;
}
