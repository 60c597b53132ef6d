/* classes.h: limits classes of signed tokens (docs/AUTH.md "Classes"), sans I/O.
 *
 * A signed token may name a class; the relay applies that class's circuit limits to circuits
 * from or to its peer. "trusted" is built in (no limit). Others are profiles an operator writes
 * in [auth] classes, one string each:
 *
 *   "NAME: key=value [key=value]"     e.g. "gold: max_circuit_duration_secs=3600
 * max_circuit_bytes=0"
 *
 * NAME is a class name ([a-z0-9_-], 1 to 32 characters, not "trusted"); the keys are the [relay]
 * circuit limits, each at most once, at least one: max_circuit_duration_secs (0..2592000, 0: no
 * limit) and max_circuit_bytes (0..2^63-1, 0: no limit). A key left out is the relay's value.
 * Spaces or tabs separate the parts. */
#ifndef RLY_PROTO_AUTH_CLASSES_H
#define RLY_PROTO_AUTH_CLASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "proto/auth/token.h"

#define RLY_AUTH_CLASS_TRUSTED "trusted"
/* Most profiles in [auth] classes. */
#define RLY_AUTH_MAX_CLASSES 16
#define RLY_AUTH_CLASS_DURATION_MAX 2592000u

/* A class's circuit limits; a field not set is the relay's. */
typedef struct rly_auth_class {
    char name[RLY_TOKEN_CLASS_MAX + 1];
    bool has_duration, has_bytes;
    uint64_t duration_secs; /* 0: no limit */
    uint64_t bytes;         /* per direction; 0: no limit */
} rly_auth_class;

typedef struct rly_auth_class_list {
    rly_auth_class items[RLY_AUTH_MAX_CLASSES];
    size_t n;
} rly_auth_class_list;

/* rly_auth_class_parse reads one profile from the |len| bytes at |s| into |out| (zeroed first).
 * Returns 0 or RLY_ERR_MALFORMED with why in |why| (|cap| bytes), e.g. "unknown key 'foo'
 * (allowed: max_circuit_duration_secs, max_circuit_bytes)". */
RLY_NODISCARD int rly_auth_class_parse(const char *s, size_t len, rly_auth_class *out, char *why,
                                       size_t cap);

/* rly_auth_class_find returns the profile called |name| in |l| (NULL-safe), or NULL. */
const rly_auth_class *rly_auth_class_find(const rly_auth_class_list *l, const char *name);

#endif
