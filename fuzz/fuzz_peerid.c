/* fuzz_peerid.c: the input as peer-ID bytes, as peer-ID text and as a multibase string.
 * Invariants: an accepted peer ID prints in both text forms and each parses back to the same
 * bytes; a decoded multibase string re-encodes to exactly the input (one spelling per value). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/multibase.h"
#include "core/peerid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_peerid(const rly_peerid *pid)
{
    char s[RLY_PEERID_STR_MAX];
    rly_peerid back;
    rly_ssize n = rly_peerid_to_string(pid, s, sizeof(s));
    if (n <= 0 || rly_peerid_parse(&back, s, (size_t)n) != 0 || !rly_peerid_equal(pid, &back))
        abort();
    n = rly_peerid_to_cid(pid, s, sizeof(s));
    if (n <= 0 || rly_peerid_parse(&back, s, (size_t)n) != 0 || !rly_peerid_equal(pid, &back))
        abort();
    if (rly_peerid_from_bytes(&back, pid->bytes, pid->len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t bin[RLY_BASE58_MAX_BYTES];
    static char text[2 * RLY_BASE58_MAX_BYTES + 2];
    const char *s = (const char *)data;
    rly_peerid pid;
    if (rly_peerid_from_bytes(&pid, data, size) == 0)
        check_peerid(&pid);
    if (rly_peerid_parse(&pid, s, size) == 0)
        check_peerid(&pid);
    rly_ssize n = rly_multibase_decode(s, size, bin, sizeof(bin));
    if (n >= 0) {
        rly_ssize m = rly_multibase_encode((rly_multibase)s[0], bin, (size_t)n, text, sizeof(text));
        if (m < 0 || (size_t)m != size || memcmp(text, s, size) != 0)
            abort();
    }
    return 0;
}
