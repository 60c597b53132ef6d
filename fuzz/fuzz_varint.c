/* fuzz_varint.c: rly_varint_decode on arbitrary bytes. Invariants: a decoded value re-encodes to
 * exactly the consumed bytes (minimal form is unique), every shorter prefix is a truncation, and
 * errors come only from the documented set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t v = 0;
    rly_ssize n = rly_varint_decode(data, size, &v);
    if (n < 0) {
        if (n != RLY_ERR_TRUNCATED && n != RLY_ERR_NON_MINIMAL && n != RLY_ERR_MALFORMED)
            abort();
        return 0;
    }
    uint8_t b[RLY_VARINT_MAX_LEN];
    if (n == 0 || n > RLY_VARINT_MAX_LEN || v > RLY_VARINT_MAX_VALUE)
        abort();
    if ((size_t)n != rly_varint_len(v) || rly_varint_encode(b, sizeof(b), v) != n)
        abort();
    if (memcmp(b, data, (size_t)n) != 0)
        abort();
    for (size_t k = 0; k < (size_t)n; k++)
        if (rly_varint_decode(data, k, &v) != RLY_ERR_TRUNCATED)
            abort();
    return 0;
}
