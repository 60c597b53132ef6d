#include "app/identity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app/files.h"
#include "core/mem.h"

static int load(const char *path, const struct stat *st, rly_keypair *kp, char *errmsg, size_t cap)
{
    uint8_t buf[RLY_PRIVKEY_PB_MAX];
    int rv;

    if (!S_ISREG(st->st_mode)) {
        snprintf(errmsg, cap, "Key file %s is not a regular file", path);
        return RLY_ERR_MALFORMED;
    }
    if ((st->st_mode & 077) != 0) {
        snprintf(errmsg, cap,
                 "Key file %s has mode %04o: the relay's private key must not be accessible by "
                 "group or others; fix it with 'chmod 600 %s'",
                 path, (unsigned)(st->st_mode & 07777), path);
        return RLY_ERR_PERM;
    }
    rly_ssize n = rly_files_read_small(path, buf, sizeof(buf));
    if (n == RLY_ERR_NOBUF) {
        snprintf(errmsg, cap, "Key file %s is corrupt (larger than %d bytes)", path,
                 RLY_PRIVKEY_PB_MAX);
        return RLY_ERR_MALFORMED;
    }
    if (n < 0) {
        snprintf(errmsg, cap, "Cannot read key file %s: %s", path, strerror(errno));
        return RLY_ERR_IO;
    }
    rv = rly_keypair_decode(kp, buf, (size_t)n);
    rly_zeroize(buf, sizeof(buf));
    if (rv != 0)
        rly_keypair_wipe(kp);
    if (rv == RLY_ERR_UNSUPPORTED) {
        snprintf(errmsg, cap,
                 "Key file %s holds a key type other than Ed25519; the relay identity must be "
                 "an Ed25519 libp2p PrivateKey",
                 path);
    } else if (rv != 0) {
        snprintf(errmsg, cap,
                 "Key file %s is corrupt (%s): it is not a libp2p Ed25519 PrivateKey protobuf; "
                 "restore it from a backup, or move it away to create a new identity (the "
                 "relay's PeerId will change)",
                 path, rly_strerror(rv));
    }
    return rv;
}

static int create(const char *path, rly_keypair *kp, char *errmsg, size_t cap)
{
    uint8_t buf[RLY_ED25519_PRIVKEY_PB_LEN];
    int rv;

    if (rly_files_ensure_parent_dir(path) != 0) {
        snprintf(errmsg, cap, "Cannot create the directory for key file %s: %s", path,
                 strerror(errno));
        return RLY_ERR_IO;
    }
    rv = rly_keypair_generate(kp);
    if (rv != 0) {
        snprintf(errmsg, cap, "Cannot generate a relay identity key: %s", rly_strerror(rv));
        return rv;
    }
    rly_ssize n = rly_keypair_encode(kp, buf, sizeof(buf));
    rv = n < 0 ? (int)n : rly_files_write_new(path, buf, (size_t)n, 0600, false);
    rly_zeroize(buf, sizeof(buf));
    if (rv == RLY_ERR_INVALID_STATE)
        return rv; /* another process created it first: the caller loads that one */
    if (rv != 0)
        snprintf(errmsg, cap, "Cannot write key file %s: %s", path,
                 n < 0 ? rly_strerror(rv) : strerror(errno));
    return rv;
}

int rly_identity_load_or_create(const char *path, rly_keypair *kp, bool *pcreated, char *errmsg,
                                size_t cap)
{
    struct stat st;
    int rv;

    *pcreated = false;
    if (stat(path, &st) == 0)
        return load(path, &st, kp, errmsg, cap);
    if (errno != ENOENT) {
        snprintf(errmsg, cap, "Cannot access key file %s: %s", path, strerror(errno));
        return RLY_ERR_IO;
    }
    rv = create(path, kp, errmsg, cap);
    if (rv == RLY_ERR_INVALID_STATE && stat(path, &st) == 0)
        return load(path, &st, kp, errmsg, cap);
    if (rv != 0)
        rly_keypair_wipe(kp);
    else
        *pcreated = true;
    return rv;
}
