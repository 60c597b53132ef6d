/* fuzz_cidr.c: rly_cidr_parse on arbitrary text (the [acl] lists of the configuration).
 * Invariants: a parsed network has family 4 or 6, a prefix within its family, no host bits set,
 * and contains its own network address; a refused text leaves the struct zeroed. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_cidr c, zero;
    memset(&zero, 0, sizeof(zero));
    if (rly_cidr_parse(&c, (const char *)data, size) != 0) {
        if (memcmp(&c, &zero, sizeof(c)) != 0)
            abort();
        return 0;
    }
    unsigned max = c.family == 4 ? 32 : c.family == 6 ? 128 : 0;
    if (max == 0 || c.prefix > max)
        abort();
    for (unsigned bit = c.prefix; bit < 128; bit++)
        if (c.addr[bit / 8] & (0x80u >> (bit % 8)))
            abort();
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (c.family == 4) {
        ss.ss_family = AF_INET;
        memcpy(&((struct sockaddr_in *)&ss)->sin_addr, c.addr, 4);
    } else {
        ss.ss_family = AF_INET6;
        memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, c.addr, 16);
    }
    /* an IPv6 network inside ::ffff:0:0/96 holds IPv4-mapped addresses, which count as IPv4 */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool is_mapped = c.family == 6 && memcmp(c.addr, mapped, 12) == 0;
    if (!is_mapped && !rly_cidr_contains(&c, (struct sockaddr *)&ss))
        abort();
    return 0;
}
