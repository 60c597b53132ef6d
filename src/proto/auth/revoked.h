/* revoked.h: the list of revoked signed-token ids ([auth] revoked_tokens_file, docs/AUTH.md),
 * sans I/O.
 *
 * The file is text: one token id per line in hex (2 to 2 * RLY_TOKEN_ID_MAX digits, an even
 * number, either case; what --mint-token prints and the relay logs as token_id), '#' starts a
 * comment that runs to the line's end, blank lines and spaces or tabs around an id are
 * ignored, lines end with LF or CRLF. Anything else is an error naming the line, so that a typo
 * cannot leave a token the operator meant to revoke working. The same id may appear twice. */
#ifndef RLY_PROTO_AUTH_REVOKED_H
#define RLY_PROTO_AUTH_REVOKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "proto/auth/token.h"

/* Most ids in one list, and the largest file read (about that many ids of 32 bytes). */
#define RLY_REVOKED_MAX 65536
#define RLY_REVOKED_FILE_MAX (RLY_REVOKED_MAX * 68)

typedef struct rly_revoked_id {
    uint8_t len;
    uint8_t id[RLY_TOKEN_ID_MAX];
} rly_revoked_id;

typedef struct rly_revoked {
    rly_revoked_id *ids; /* sorted, no duplicates; NULL when empty */
    size_t n;
} rly_revoked;

/* rly_revoked_parse reads the list in |text| (|len| bytes) into |out| (its old content is not
 * freed; on error |out| is empty). Returns 0, RLY_ERR_MALFORMED (|errmsg| says which line and
 * why, e.g. "line 3: not a token id (2 to 64 hex digits): \"12z4\""), RLY_ERR_LIMIT (more than
 * RLY_REVOKED_MAX ids) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_revoked_parse(rly_revoked *out, const char *text, size_t len, rly_mem *mem,
                                    char *errmsg, size_t errcap);

/* rly_revoked_has tells whether the |len|-byte token id |id| is in |r|. */
bool rly_revoked_has(const rly_revoked *r, const uint8_t *id, size_t len);

/* rly_revoked_equal tells whether |a| and |b| list the same ids. */
bool rly_revoked_equal(const rly_revoked *a, const rly_revoked *b);

/* rly_revoked_free frees |r|'s ids and empties it. */
void rly_revoked_free(rly_revoked *r, rly_mem *mem);

#endif
