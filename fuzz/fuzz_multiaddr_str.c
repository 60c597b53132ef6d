/* fuzz_multiaddr_str.c: rly_multiaddr_parse on arbitrary text. Invariants: what parses is valid
 * binary; its printed form parses to the same bytes and prints identically again (the printed
 * form is canonical); a failed parse leaves an empty multiaddr. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in[2 * RLY_MULTIADDR_STR_MAX + 1];
static char out[4 * RLY_MULTIADDR_STR_MAX], again[4 * RLY_MULTIADDR_STR_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_multiaddr ma, back;
    if (size >= sizeof(in))
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if (rly_multiaddr_parse(&ma, in) != 0) {
        if (ma.len != 0)
            abort();
        return 0;
    }
    if (rly_multiaddr_from_bytes(&back, ma.bytes, ma.len) != 0)
        abort();
    rly_ssize n = rly_multiaddr_to_string(&ma, out, sizeof(out));
    if (n < 0)
        abort();
    if (n >= RLY_MULTIADDR_STR_MAX)
        return 0;
    if (rly_multiaddr_parse(&back, out) != 0 || !rly_multiaddr_equal(&ma, &back))
        abort();
    if (rly_multiaddr_to_string(&back, again, sizeof(again)) != n || strcmp(out, again) != 0)
        abort();
    return 0;
}
