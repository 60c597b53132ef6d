/* fuzz_token.c: signed peer tokens (src/proto/auth/token.h). The input, as a token text, through
 * rly_token_open; and as a payload, signed with a key made at start (so that mutations get past
 * the signature to the payload decoder): whatever opens must mint again from its fields and
 * open to the same fields. Nothing may leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/dynbuf.h"
#include "core/mem.h"
#include "crypto/envelope.h"
#include "proto/auth/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const rly_token *a, const rly_token *b)
{
    if (!rly_peerid_equal(&a->peer, &b->peer) || a->expiry != b->expiry || a->issued != b->issued ||
        a->nrelays != b->nrelays || strcmp(a->cls, b->cls) != 0 || a->id_len != b->id_len ||
        memcmp(a->id, b->id, a->id_len) != 0)
        return false;
    for (size_t i = 0; i < a->nrelays; i++)
        if (!rly_peerid_equal(&a->relays[i], &b->relays[i]))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rly_keypair kp;
    static bool has_key;
    static char text[4096];
    size_t live = rly_mem_default()->live_bytes;
    rly_token t, back;
    if (!has_key) {
        if (rly_keypair_generate(&kp) != 0)
            abort();
        has_key = true;
    }
    RLY_IGNORE(rly_token_open(&t, data, size, NULL));
    if (size <= 1024) {
        rly_dynbuf env;
        rly_dynbuf_init(&env, NULL, 4096);
        if (rly_envelope_seal(&kp, RLY_TOKEN_DOMAIN, (const uint8_t *)RLY_TOKEN_PAYLOAD_TYPE,
                              strlen(RLY_TOKEN_PAYLOAD_TYPE), data, size, &env) == 0) {
            memcpy(text, RLY_TOKEN_PREFIX, 3);
            rly_ssize n = rly_base64url_encode(env.data, env.len, text + 3, sizeof(text) - 3);
            if (n > 0 && rly_token_open(&t, (const uint8_t *)text, (size_t)n + 3, NULL) == 0) {
                rly_ssize m = rly_token_mint(&kp, &t, text, sizeof(text), NULL);
                if (m > 0 && (rly_token_open(&back, (const uint8_t *)text, (size_t)m, NULL) != 0 ||
                              !same(&t, &back)))
                    abort(); /* what opens must mint and open again, alike */
                if (m < 0 && m != RLY_ERR_NOBUF)
                    abort(); /* an opened token's fields are always mintable */
            }
        }
        rly_dynbuf_free(&env);
    }
    if (rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
