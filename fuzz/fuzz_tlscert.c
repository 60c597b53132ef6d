/* fuzz_tlscert.c: the libp2p TLS certificate verifier and its DER helpers (src/crypto/tlscert.h).
 * The input is tried as a whole certificate (at a fixed time inside our seeds' validity), as a
 * SignedKey extension value and for its SubjectPublicKeyInfo. Invariants: no crash, every
 * allocation returned, found slices inside the input, a verified certificate has a PeerId. */
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "crypto/tlscert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = rly_mem_default()->live_bytes;
    const uint8_t *a, *b;
    size_t al, bl;
    if (rly_tlscert_signedkey_decode(data, size, &a, &al, &b, &bl) == 0)
        RLY_ASSERT(a >= data && a + al <= data + size && b >= a + al && b + bl == data + size);
    if (rly_tlscert_find_spki(data, size, &a, &al) == 0)
        RLY_ASSERT(a > data && a + al <= data + size && al >= 2);
    rly_peerid peer;
    if (rly_tlscert_verify(data, size, 1800000000, &peer, NULL) == 0)
        RLY_ASSERT(peer.len > 0);
    RLY_ASSERT(rly_mem_default()->live_bytes == live);
    return 0;
}
