/* bench_core: micro-benchmarks of the core codecs and the identity crypto (STYLE.md E.9).
 * Each case runs for about BENCH_SECONDS and reports ns/op and ops/s as a Markdown table row.
 * Wall-clock numbers on a shared machine are noisy: compare runs with callgrind when it matters. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/config.h"
#include "core/multiaddr.h"
#include "core/multibase.h"
#include "core/peerid.h"
#include "core/varint.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"

#define BENCH_SECONDS 0.3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A sink the compiler cannot see through, so benchmarked work is not optimised away. */
static volatile uint64_t sink;

typedef void (*bench_fn)(void *ctx);

static void run(const char *name, bench_fn fn, void *ctx)
{
    uint64_t n = 0, batch = 1;
    double start = now_s(), elapsed;
    do {
        for (uint64_t i = 0; i < batch; i++)
            fn(ctx);
        n += batch;
        batch *= 2;
        elapsed = now_s() - start;
    } while (elapsed < BENCH_SECONDS);
    printf("| %s | %.1f | %.0f |\n", name, elapsed * 1e9 / (double)n, (double)n / elapsed);
}

static void b_varint(void *ctx)
{
    static const uint8_t in[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    uint64_t v = 0;
    if (rly_varint_decode(in, sizeof(in), &v) > 0)
        sink += v;
}

static void b_multiaddr_parse(void *ctx)
{
    rly_multiaddr ma;
    if (rly_multiaddr_parse(&ma, ctx) == 0)
        sink += ma.len;
}

static void b_multiaddr_print(void *ctx)
{
    char out[RLY_MULTIADDR_STR_MAX];
    rly_ssize n = rly_multiaddr_to_string(ctx, out, sizeof(out));
    sink += (uint64_t)n;
}

static void b_peerid_parse(void *ctx)
{
    rly_peerid pid;
    if (rly_peerid_parse(&pid, ctx, strlen(ctx)) == 0)
        sink += pid.len;
}

static void b_peerid_print(void *ctx)
{
    char out[RLY_PEERID_STR_MAX];
    sink += (uint64_t)rly_peerid_to_string(ctx, out, sizeof(out));
}

static void b_sign(void *ctx)
{
    uint8_t sig[64];
    if (rly_keypair_sign(ctx, (const uint8_t *)"noise-libp2p-static-key:0123456789abcdef", 40,
                         sig) == 0)
        sink += sig[0];
}

typedef struct verify_ctx {
    rly_pubkey pk;
    uint8_t sig[64];
} verify_ctx;

static void b_verify(void *ctx)
{
    verify_ctx *v = ctx;
    sink += (uint64_t)(rly_pubkey_verify(
                           &v->pk, (const uint8_t *)"noise-libp2p-static-key:0123456789abcdef", 40,
                           v->sig, 64) == 0);
}

static void b_voucher(void *ctx)
{
    rly_voucher v = {.expiration = 1800000000};
    rly_dynbuf b;
    if (rly_keypair_peerid(ctx, &v.relay) != 0)
        return;
    v.peer = v.relay;
    rly_dynbuf_init(&b, NULL, RLY_ENVELOPE_MAX);
    if (rly_voucher_seal(ctx, &v, &b) == 0)
        sink += b.len;
    rly_dynbuf_free(&b);
}

static void b_config(void *ctx)
{
    rly_config c;
    char err[256];
    const char *text = rly_config_default_text();
    rly_config_defaults(&c);
    sink +=
        (uint64_t)(rly_config_load_string(&c, text, strlen(text), "bench", err, sizeof(err)) == 0);
}

int main(void)
{
    static char ma_text[] =
        "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    static char pid_text[] = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    rly_multiaddr ma;
    rly_peerid pid;
    rly_keypair kp;
    verify_ctx v;

    if (rly_multiaddr_parse(&ma, ma_text) != 0 ||
        rly_peerid_parse(&pid, pid_text, strlen(pid_text)) != 0 || rly_keypair_generate(&kp) != 0 ||
        rly_keypair_sign(&kp, (const uint8_t *)"noise-libp2p-static-key:0123456789abcdef", 40,
                         v.sig) != 0) {
        fprintf(stderr, "bench_core: set-up failed\n");
        return 1;
    }
    rly_keypair_public(&kp, &v.pk);
    printf("| operation | ns/op | ops/s |\n| --- | ---: | ---: |\n");
    run("uvarint decode (5 bytes)", b_varint, NULL);
    run("multiaddr parse (ip4/tcp/p2p text)", b_multiaddr_parse, ma_text);
    run("multiaddr print (ip4/tcp/p2p)", b_multiaddr_print, &ma);
    run("peer ID parse (base58)", b_peerid_parse, pid_text);
    run("peer ID print (base58)", b_peerid_print, &pid);
    run("Ed25519 sign (identity key)", b_sign, &kp);
    run("Ed25519 verify (PublicKey dispatch)", b_verify, &v);
    run("reservation voucher seal (encode + sign)", b_voucher, &kp);
    run("config parse (default file)", b_config, NULL);
    rly_keypair_wipe(&kp);
    return 0;
}
