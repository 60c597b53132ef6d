/* bench_noise: Noise XX in memory (STYLE.md E.9). One row per case, as bench_core:
 *   - a full handshake per iteration (new initiator + responder, three messages, free both),
 *   - the responder's share of that handshake (its calls only, timed inside the same loop),
 *   - transport: encrypt 64 KiB (one 65519-byte frame) and decrypt it in place.
 * Wall-clock numbers on a shared machine are noisy; compare with callgrind when it matters. */
#include <stdio.h>
#include <time.h>

#include "core/dynbuf.h"
#include "crypto/keys.h"
#include "proto/noise/noise.h"

#define BENCH_SECONDS 1.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *name, double seconds, double n)
{
    printf("| %s | %.1f | %.0f |\n", name, seconds * 1e9 / n, n / seconds);
}

typedef struct ctx {
    rly_noise_identity *iid, *rid;
    rly_dynbuf to_r, to_i;
    double responder_s; /* time spent in responder calls */
} ctx;

/* handshake runs one initiator/responder pair to completion; returns 0 on success. */
static int handshake(ctx *c, rly_noise **pi, rly_noise **pr)
{
    rly_dynbuf_reset(&c->to_r);
    rly_dynbuf_reset(&c->to_i);
    if (rly_noise_new(pi, true, c->iid, NULL, NULL, NULL) != 0 ||
        rly_noise_start(*pi, &c->to_r) != 0)
        return -1;
    double t0 = now_s();
    int rv = rly_noise_new(pr, false, c->rid, NULL, NULL, NULL);
    if (rv == 0 && rly_noise_handshake_recv(*pr, c->to_r.data, c->to_r.len, &c->to_i) < 0)
        rv = -1;
    c->responder_s += now_s() - t0;
    rly_dynbuf_reset(&c->to_r);
    if (rv != 0 || rly_noise_handshake_recv(*pi, c->to_i.data, c->to_i.len, &c->to_r) < 0)
        return -1;
    t0 = now_s();
    rv = rly_noise_handshake_recv(*pr, c->to_r.data, c->to_r.len, &c->to_i) < 0 ? -1 : 0;
    c->responder_s += now_s() - t0;
    return rv == 0 && rly_noise_get_state(*pr) == RLY_NOISE_TRANSPORT ? 0 : -1;
}

static int bench_handshakes(ctx *c)
{
    double n = 0, start = now_s(), elapsed;
    c->responder_s = 0;
    do {
        rly_noise *i = NULL, *r = NULL;
        int rv = handshake(c, &i, &r);
        double t0 = now_s();
        rly_noise_del(r);
        c->responder_s += now_s() - t0;
        rly_noise_del(i);
        if (rv != 0)
            return -1;
        n++;
        elapsed = now_s() - start;
    } while (elapsed < BENCH_SECONDS);
    row("Noise XX handshake, initiator + responder pair", elapsed, n);
    row("Noise XX handshake, responder share of the pair", c->responder_s, n);
    return 0;
}

static int bench_transport(ctx *c)
{
    static uint8_t plain[RLY_NOISE_MAX_PLAINTEXT], frame[RLY_NOISE_MAX_FRAME_LEN];
    rly_noise *i = NULL, *r = NULL;
    int rv = handshake(c, &i, &r);
    double n = 0, start = now_s(), elapsed;
    while (rv == 0) {
        uint8_t *in = frame, *pt;
        size_t inlen = sizeof(frame), ptlen;
        if (rly_noise_encrypt(i, plain, sizeof(plain), frame, sizeof(frame)) < 0 ||
            rly_noise_decrypt_next(r, &in, &inlen, &pt, &ptlen) != 1)
            rv = -1;
        n++;
        elapsed = now_s() - start;
        if (elapsed >= BENCH_SECONDS)
            break;
    }
    if (rv == 0) {
        row("Noise transport, encrypt + decrypt 65519 B", elapsed, n);
        printf("| (throughput: %.0f MB/s each way) | | |\n",
               n * (double)sizeof(plain) / elapsed / 1e6);
    }
    rly_noise_del(i);
    rly_noise_del(r);
    return rv;
}

int main(void)
{
    rly_keypair ik, rk;
    ctx c = {0};
    rly_dynbuf_init(&c.to_r, NULL, 1u << 16);
    rly_dynbuf_init(&c.to_i, NULL, 1u << 16);
    if (rly_keypair_generate(&ik) != 0 || rly_keypair_generate(&rk) != 0 ||
        rly_noise_identity_new(&c.iid, &ik, NULL, NULL) != 0 ||
        rly_noise_identity_new(&c.rid, &rk, NULL, NULL) != 0) {
        fprintf(stderr, "bench_noise: set-up failed\n");
        return 1;
    }
    printf("| operation | ns/op | ops/s |\n| --- | ---: | ---: |\n");
    int rv = bench_handshakes(&c);
    if (rv == 0)
        rv = bench_transport(&c);
    rly_noise_identity_del(c.iid);
    rly_noise_identity_del(c.rid);
    rly_dynbuf_free(&c.to_r);
    rly_dynbuf_free(&c.to_i);
    rly_keypair_wipe(&ik);
    rly_keypair_wipe(&rk);
    if (rv != 0)
        fprintf(stderr, "bench_noise: a handshake failed\n");
    return rv == 0 ? 0 : 1;
}
