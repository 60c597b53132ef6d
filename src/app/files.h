/* files.h: the relay's files (DESIGN.md "Defaults and files") and safe ways to write them.
 *
 *   ~/.meshnet/               created 0700 when the relay needs it
 *   ~/.meshnet/relay.toml     configuration (--generate-config)
 *   ~/.meshnet/relay_keypair.bin   identity (libp2p PrivateKey protobuf, Ed25519), mode 0600 */
#ifndef RLY_APP_FILES_H
#define RLY_APP_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

#define RLY_PATH_MAX 4096
#define RLY_MESHNET_DIR ".meshnet"
#define RLY_CONFIG_FILE "relay.toml"
#define RLY_KEY_FILE "relay_keypair.bin"

/* rly_files_home_path writes "$HOME/<rel>" into |out| (|cap| bytes). $HOME unset or empty: the
 * passwd entry's home. Returns 0, RLY_ERR_NOT_FOUND (no home directory) or RLY_ERR_NOBUF. */
RLY_NODISCARD int rly_files_home_path(const char *rel, char *out, size_t cap);

/* rly_files_ensure_parent_dir creates the directory holding |path| with mode 0700 when it does
 * not exist (only the last component; its parent must exist). Returns 0 or RLY_ERR_IO (errno
 * is kept). */
RLY_NODISCARD int rly_files_ensure_parent_dir(const char *path);

/* rly_files_write_new writes |len| bytes to |path| through a temporary file in the same
 * directory (created with |mode|, fsynced) that is then renamed into place. Unless |overwrite|,
 * an existing |path| is never replaced (RLY_ERR_INVALID_STATE, errno EEXIST), even if it appears
 * between the check and the rename. Returns 0, RLY_ERR_INVALID_STATE or RLY_ERR_IO (errno kept). */
RLY_NODISCARD int rly_files_write_new(const char *path, const uint8_t *data, size_t len,
                                      mode_t mode, bool overwrite);

/* rly_files_read_small reads all of |path| into |buf| (|cap| bytes). Returns the length,
 * RLY_ERR_NOT_FOUND, RLY_ERR_NOBUF (file larger than |cap|) or RLY_ERR_IO (errno kept). */
RLY_NODISCARD rly_ssize rly_files_read_small(const char *path, uint8_t *buf, size_t cap);

/* rly_files_read_fd reads |fd| (borrowed, left open) to its end into |buf| (|cap| bytes).
 * Returns the length, RLY_ERR_NOBUF (more than |cap| bytes) or RLY_ERR_IO (errno kept). */
RLY_NODISCARD rly_ssize rly_files_read_fd(int fd, uint8_t *buf, size_t cap);

/* rly_files_split writes the directory part of |path| into |dir| (|cap| bytes; "." when there is
 * none) and points |*pbase| at its last component, inside |path|. Returns 0, RLY_ERR_NOBUF or
 * RLY_ERR_INVALID_ARG (|path| ends with '/'). */
RLY_NODISCARD int rly_files_split(const char *path, char *dir, size_t cap, const char **pbase);

#endif
