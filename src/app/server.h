/* server.h: the relay process on its libuv loop: listeners from the configuration, the start
 * banner, and signal handling (SIGINT/SIGTERM: close listeners and connections, flush logs,
 * exit 0; a second signal exits at once). */
#ifndef RLY_APP_SERVER_H
#define RLY_APP_SERVER_H

#include <stdio.h>

#include "app/config.h"
#include "core/err.h"
#include "core/log.h"
#include "crypto/keys.h"

/* rly_server_run binds the listeners of |cfg|, prints the banner to |banner| and runs until a
 * shutdown signal. |cfg|, |kp| and |log| are borrowed for the call (|cfg| is copied; a SIGHUP
 * re-reads |config_path|, applies |overrides| (NULL: none; borrowed until the call returns) over
 * it again, and applies what can change without a restart, the log level of |log| included).
 * |config_path| names the configuration file (NULL: built-in defaults, nothing to reload). Returns
 * 0 after a clean shutdown, or writes a one-line message to |errmsg| (|cap| bytes) and returns
 * RLY_ERR_ADDR_IN_USE, RLY_ERR_IO, RLY_ERR_CONFIG or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_server_run(const rly_config *cfg, const rly_keypair *kp, rly_log *log,
                                 const char *config_path, const rly_config_overrides *overrides,
                                 FILE *banner, char *errmsg, size_t cap);

#endif
