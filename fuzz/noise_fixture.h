/* noise_fixture.h: fixed keys for the Noise fuzz targets. They are the keys of the known-answer
 * transcript tests/vectors/noise/xx_kat.txt, so the seeds made from it by
 * fuzz/corpus/gen_noise_seeds.py (the real msg1 and msg3, real transport frames) drive the
 * responder through a complete handshake and keep meaning the same thing from run to run.
 * The identities are made once per process (signing is the slow part) and stay reachable from
 * static pointers; targets measure rly_mem live bytes after making them. */
#ifndef RLY_FUZZ_NOISE_FIXTURE_H
#define RLY_FUZZ_NOISE_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "core/dynbuf.h"
#include "crypto/keys.h"
#include "proto/noise/noise.h"

static const char *const fx_hex[2][3] = {
    /* identity seed, static X25519 key, ephemeral X25519 key: responder, then initiator */
    {"be637ecc28bd9940bd72664c1bc13a0134d6e6c814a501d76a8dbe73248c5092",
     "e10d28c86f8dd45895447974252f53ed53304b07e3c54ee6197f5882d165950b",
     "692702885cce6eea9c00ace0e43c81352a933d30f9a0e1d5f7a6fbb720c2c009"},
    {"dce707ecace75aee40a3a2427342ff63981fa7d3ef62ed8cfb23aa34113b129f",
     "839ccd2e698941f698a7b8abf7e6f3f7c5a2cfaa648718cc81a19f77e1ae5dd5",
     "acd85cbf1ca226d7cea26d8793acef8b00ca23db04c418d350c6cf2aa8e9def7"},
};

static void fx_unhex(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo =
            (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

static uint8_t fx_eph[2][32];

static int fx_rng(void *ud, uint8_t *out, size_t len)
{
    memcpy(out, ud, len);
    return 0;
}

/* fx_session makes a session with the fixed keys of side |is_initiator|. */
static rly_noise *fx_session(bool is_initiator)
{
    static rly_noise_identity *ids[2];
    int side = is_initiator ? 1 : 0;
    if (!ids[side]) {
        rly_keypair kp;
        uint8_t s[32];
        fx_unhex(fx_hex[side][0], kp.seed);
        fx_unhex(fx_hex[side][1], s);
        fx_unhex(fx_hex[side][2], fx_eph[side]);
        RLY_ASSERT(rly_ed25519_public(kp.seed, kp.pub) == 0);
        RLY_ASSERT(rly_noise_identity_new(&ids[side], &kp, s, NULL) == 0);
    }
    rly_noise_settings st = {.rng = fx_rng, .rng_user_data = fx_eph[side]};
    rly_noise *n = NULL;
    RLY_ASSERT(rly_noise_new(&n, is_initiator, ids[side], NULL, &st, NULL) == 0);
    return n;
}

#endif
