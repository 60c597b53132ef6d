/* healthcheck.h: relay-server --health-check, the probe a container runtime runs inside the
 * container (HEALTHCHECK): GET /healthz on the relay's own HTTP server, no curl in the image. */
#ifndef RLY_APP_HEALTHCHECK_H
#define RLY_APP_HEALTHCHECK_H

#include <stddef.h>

#include "app/config.h"
#include "core/err.h"

/* How long the whole check may take (connect, request, status line): under the Containerfile's
 * HEALTHCHECK --timeout=5s, so that the reason reaches the runtime before it kills the check. */
#define RLY_HEALTH_TIMEOUT_MS 4000

/* rly_health_check asks GET |path| of the HTTP server at |cfg|'s [metrics] listen_addr (an
 * unspecified address, 0.0.0.0 or ::, is asked on loopback) within |timeout_ms|, and writes
 * what it found into |msg| (|cap| bytes): "http://127.0.0.1:9464/healthz: 200 OK" or the reason
 * it failed (the server's status line with anything unprintable as '?'). Returns 0 when the
 * answer's status is 200; RLY_ERR_CONFIG when listen_addr is "" (no HTTP server) or not an address;
 * RLY_ERR_IO when the relay does not answer 200 in time. */
RLY_NODISCARD int rly_health_check(const rly_config *cfg, const char *path, int timeout_ms,
                                   char *msg, size_t cap);

#endif
