/* quote.c: message-safe excerpts (quote.h). */
#include "core/quote.h"

#include <string.h>

const char *rly_quote(const char *p, size_t n, char *out, size_t max)
{
    size_t k = n < max ? n : max;
    for (size_t i = 0; i < k; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    if (n > max) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}
