/* fuzz_key_pb.c: PublicKey and PrivateKey protobuf decoding (src/crypto/keys.h).
 * Invariants: a decoded public key re-encodes canonically and decodes back to the same key, its
 * peer ID and a verification attempt succeed or fail cleanly; a decoded identity re-encodes to
 * 68 bytes; nothing leaks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "crypto/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pubkey(const uint8_t *data, size_t size)
{
    static rly_pubkey k, k2;
    static uint8_t enc[RLY_PUBKEY_PB_MAX];
    rly_peerid pid;
    if (rly_pubkey_decode(&k, data, size) != 0)
        return;
    rly_ssize n = rly_pubkey_encode(&k, enc, sizeof(enc));
    RLY_ASSERT(n > 0 && rly_pubkey_decode(&k2, enc, (size_t)n) == 0);
    RLY_ASSERT(k2.type == k.type && k2.len == k.len && memcmp(k2.data, k.data, k.len) == 0);
    RLY_ASSERT(rly_pubkey_to_peerid(&k, &pid) == 0);
    /* The input doubles as message and signature: it must fail cleanly, never crash. */
    int rv = rly_pubkey_verify(&k, data, size, data, size);
    (void)rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes;
    check_pubkey(data, size);
    rly_keypair kp;
    uint8_t out[RLY_ED25519_PRIVKEY_PB_LEN];
    if (rly_keypair_decode(&kp, data, size) == 0) {
        RLY_ASSERT(rly_keypair_encode(&kp, out, sizeof(out)) == RLY_ED25519_PRIVKEY_PB_LEN);
        rly_keypair_wipe(&kp);
        rly_zeroize(out, sizeof(out));
    }
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
