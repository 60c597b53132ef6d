/* fuzz_multiaddr_bytes.c: rly_multiaddr_from_bytes on arbitrary bytes. Invariants: accepted bytes
 * always print; the text (when short enough to parse) parses back to identical bytes; a socket
 * address taken from it converts back to a multiaddr. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest text of a 400-byte multiaddr is 200 "/p2p-circuit" = 2400 characters. */
static char text[4 * RLY_MULTIADDR_STR_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rly_multiaddr ma, back;
    if (rly_multiaddr_from_bytes(&ma, data, size) != 0)
        return 0;
    rly_ssize n = rly_multiaddr_to_string(&ma, text, sizeof(text));
    if (n < 0 || (size_t)n != strlen(text))
        abort();
    if (n < RLY_MULTIADDR_STR_MAX)
        if (rly_multiaddr_parse(&back, text) != 0 || !rly_multiaddr_equal(&ma, &back))
            abort();
    struct sockaddr_storage ss;
    uint32_t transport;
    bool quic;
    if (rly_multiaddr_to_sockaddr(&ma, &ss, &transport, &quic) == 0) {
        if (rly_multiaddr_from_sockaddr(&back, (struct sockaddr *)&ss, transport, quic) != 0)
            abort();
        if (rly_multiaddr_to_sockaddr(&back, NULL, NULL, NULL) != 0)
            abort();
    }
    return 0;
}
