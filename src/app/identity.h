/* identity.h: the relay's persistent identity file (DESIGN.md "Defaults and files").
 *
 * The file holds the libp2p PrivateKey protobuf of an Ed25519 key (type 1, 64 bytes seed ||
 * public), the bytes rust-libp2p's Keypair::to_protobuf_encoding writes, so an operator's
 * existing key keeps its PeerId. It is created once, mode 0600, through a temporary file and a
 * rename that never replaces an existing file. An existing file is never overwritten: a corrupt
 * one, a symbolic link, one of another user or with group/other permission bits, or one in a
 * directory of another user or that group or others can write to, stops start-up with a message
 * naming the path and the fix. */
#ifndef RLY_APP_IDENTITY_H
#define RLY_APP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "crypto/keys.h"

/* rly_identity_load_or_create loads the keypair at |path| into |kp|, or creates the file (and
 * its directory, 0700) when it does not exist; |*pcreated| tells which happened.
 * Returns 0, or on error writes a one-line message to |errmsg| (|cap| bytes) and returns
 * RLY_ERR_PERM (a symbolic link; the file or its directory belongs to another user than the
 * effective one; the file has group/other permission bits; group or others can write to the
 * directory), RLY_ERR_MALFORMED (corrupt file, not a regular file), RLY_ERR_UNSUPPORTED (not an
 * Ed25519 key), RLY_ERR_IO or RLY_ERR_CRYPTO. */
RLY_NODISCARD int rly_identity_load_or_create(const char *path, rly_keypair *kp, bool *pcreated,
                                              char *errmsg, size_t cap);

#endif
