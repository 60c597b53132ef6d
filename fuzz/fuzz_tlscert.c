/* fuzz_tlscert.c: the libp2p TLS certificate verifier and its DER helpers (src/crypto/tlscert.h).
 * The input is tried as a whole certificate (at a fixed time inside our seeds' validity), as a
 * SignedKey extension value and for its SubjectPublicKeyInfo. Invariants: no crash, every
 * allocation returned, found slices inside the input, a verified certificate has a PeerId, and
 * the fast path (rly_tlscert_verify_fast) accepts nothing the OpenSSL path refuses: whatever it
 * accepts, rly_tlscert_verify_openssl accepts with the same PeerId and key. The verdict of
 * rly_tlscert_verify (accept or refuse) is that of the OpenSSL path alone. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "crypto/tlscert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW ((int64_t)1800000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes;
    const uint8_t *a, *b;
    size_t al, bl;
    if (rly_tlscert_signedkey_decode(data, size, &a, &al, &b, &bl) == 0)
        RLY_ASSERT(a >= data && a + al <= data + size && b >= a + al && b + bl == data + size);
    if (rly_tlscert_find_spki(data, size, &a, &al) == 0)
        RLY_ASSERT(a > data && a + al <= data + size && al >= 2);
    rly_peerid peer, fpeer, speer;
    rly_pubkey fkey, skey;
    memset(&fkey, 0, sizeof(fkey));
    memset(&skey, 0, sizeof(skey));
    int rv = rly_tlscert_verify(data, size, FUZZ_NOW, &peer, NULL);
    if (rv == 0)
        RLY_ASSERT(peer.len > 0);
    int frv = rly_tlscert_verify_fast(data, size, FUZZ_NOW, &fpeer, &fkey);
    int srv = rly_tlscert_verify_openssl(data, size, FUZZ_NOW, &speer, &skey);
    RLY_ASSERT((rv == 0) == (srv == 0));
    if (frv == 0) {
        RLY_ASSERT(srv == 0);
        RLY_ASSERT(rly_peerid_equal(&fpeer, &speer) && rly_peerid_equal(&fpeer, &peer));
        RLY_ASSERT(fkey.type == skey.type && fkey.len == skey.len &&
                   memcmp(fkey.data, skey.data, fkey.len) == 0);
    }
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
