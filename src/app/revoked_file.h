/* revoked_file.h: reading [auth] revoked_tokens_file (proto/auth/revoked.h has its format). */
#ifndef RLY_APP_REVOKED_FILE_H
#define RLY_APP_REVOKED_FILE_H

#include <stddef.h>

#include "core/err.h"
#include "core/mem.h"
#include "proto/auth/revoked.h"

/* rly_revoked_load reads the list at |path| (a regular file of at most RLY_REVOKED_FILE_MAX
 * bytes) into |out|. Returns 0, or an error with a one-line message in |errmsg| (|cap| bytes)
 * that names the file and, for a bad entry, its line: RLY_ERR_NOT_FOUND, RLY_ERR_IO,
 * RLY_ERR_NOBUF (too large), RLY_ERR_MALFORMED, RLY_ERR_LIMIT or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_revoked_load(const char *path, rly_revoked *out, rly_mem *mem, char *errmsg,
                                   size_t cap);

#endif
