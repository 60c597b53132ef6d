/* identity.c: the relay's identity file (identity.h).
 *
 * The file is opened once, relative to its directory and without following a symbolic link, and
 * every check is made on what was opened (fstat), so nothing can be swapped in between the check
 * and the read: the directory belongs to the effective user and group and others cannot write to
 * it (they could replace the key), the file is a regular file of the effective user with no group
 * or other permission bits. Each refusal names the file and the fix. */
#include "app/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/files.h"
#include "core/mem.h"

/* The key file's directory, opened. */
typedef struct key_dir {
    int fd;
    char path[RLY_PATH_MAX];
    const char *base; /* the key file's name in it (points into the caller's path) */
} key_dir;

/* open_dir opens the directory holding |path| and checks it (see the file comment). Returns 0,
 * RLY_ERR_NOT_FOUND (no such directory), RLY_ERR_PERM or RLY_ERR_IO with |errmsg| written (but
 * for NOT_FOUND). */
static int open_dir(const char *path, key_dir *d, char *errmsg, size_t cap)
{
    struct stat st;
    d->fd = -1;
    if (rly_files_split(path, d->path, sizeof(d->path), &d->base) != 0) {
        snprintf(errmsg, cap, "Key file path %s is not a file name", path);
        return RLY_ERR_IO;
    }
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0 && errno == ENOENT)
        return RLY_ERR_NOT_FOUND;
    if (d->fd < 0 || fstat(d->fd, &st) != 0) {
        snprintf(errmsg, cap, "Cannot open directory %s (holding key file %s): %s", d->path, path,
                 strerror(errno));
        return RLY_ERR_IO;
    }
    if (st.st_uid != geteuid()) {
        snprintf(errmsg, cap,
                 "Directory %s (holding key file %s) belongs to uid %u, not to the relay's user "
                 "(uid %u): its owner could replace the key; fix it with 'chown %u %s'",
                 d->path, path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
                 d->path);
        return RLY_ERR_PERM;
    }
    if ((st.st_mode & 022) != 0) {
        snprintf(errmsg, cap,
                 "Directory %s (holding key file %s) has mode %04o: group or others can write to "
                 "it and replace the key; fix it with 'chmod go-w %s'",
                 d->path, path, (unsigned)(st.st_mode & 07777), d->path);
        return RLY_ERR_PERM;
    }
    return 0;
}

/* check_key checks the opened key file |st| (see the file comment). */
static int check_key(const char *path, const struct stat *st, char *errmsg, size_t cap)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(errmsg, cap,
                 "Key file %s is not a regular file; move it away to create a new identity", path);
        return RLY_ERR_MALFORMED;
    }
    if (st->st_uid != geteuid()) {
        snprintf(errmsg, cap,
                 "Key file %s belongs to uid %u, not to the relay's user (uid %u): the relay "
                 "loads only a key its own user wrote; if it is the relay's key, fix it with "
                 "'chown %u %s'",
                 path, (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
        return RLY_ERR_PERM;
    }
    if ((st->st_mode & 077) != 0) {
        snprintf(errmsg, cap,
                 "Key file %s has mode %04o: the relay's private key must not be accessible by "
                 "group or others; fix it with 'chmod 600 %s'",
                 path, (unsigned)(st->st_mode & 07777), path);
        return RLY_ERR_PERM;
    }
    return 0;
}

/* decode reads the opened key file |fd| into |kp|. */
static int decode(const char *path, int fd, rly_keypair *kp, char *errmsg, size_t cap)
{
    uint8_t buf[RLY_PRIVKEY_PB_MAX];
    rly_ssize n = rly_files_read_fd(fd, buf, sizeof(buf));
    if (n == RLY_ERR_NOBUF) {
        snprintf(errmsg, cap, "Key file %s is corrupt (larger than %d bytes)", path,
                 RLY_PRIVKEY_PB_MAX);
        return RLY_ERR_MALFORMED;
    }
    if (n < 0) {
        snprintf(errmsg, cap, "Cannot read key file %s: %s", path, strerror(errno));
        return RLY_ERR_IO;
    }
    int rv = rly_keypair_decode(kp, buf, (size_t)n);
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

/* load opens the key file in |d| and loads it. Returns as rly_identity_load_or_create, or
 * RLY_ERR_NOT_FOUND (no file: nothing written to |errmsg|). */
static int load(const char *path, const key_dir *d, rly_keypair *kp, char *errmsg, size_t cap)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO planted in place of the key must not hang the start. */
    int fd = openat(d->fd, d->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return RLY_ERR_NOT_FOUND;
    if (fd < 0 && errno == ELOOP) {
        snprintf(errmsg, cap,
                 "Key file %s is a symbolic link: the relay reads its identity only from a "
                 "regular file (a link could plant another key); replace the link with the file "
                 "itself",
                 path);
        return RLY_ERR_PERM;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errmsg, cap, "Cannot open key file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return RLY_ERR_IO;
    }
    int rv = check_key(path, &st, errmsg, cap);
    if (rv == 0)
        rv = decode(path, fd, kp, errmsg, cap);
    close(fd);
    return rv;
}

static int create(const char *path, rly_keypair *kp, char *errmsg, size_t cap)
{
    uint8_t buf[RLY_ED25519_PRIVKEY_PB_LEN];
    int rv = rly_keypair_generate(kp);
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

/* prepare_dir opens the key file's directory, creating it (0700) when it does not exist. */
static int prepare_dir(const char *path, key_dir *d, char *errmsg, size_t cap)
{
    int rv = open_dir(path, d, errmsg, cap);
    if (rv != RLY_ERR_NOT_FOUND)
        return rv;
    if (rly_files_ensure_parent_dir(path) != 0) {
        snprintf(errmsg, cap, "Cannot create the directory for key file %s: %s", path,
                 strerror(errno));
        return RLY_ERR_IO;
    }
    rv = open_dir(path, d, errmsg, cap);
    if (rv == RLY_ERR_NOT_FOUND) {
        snprintf(errmsg, cap, "Cannot open the directory for key file %s: %s", path,
                 strerror(ENOENT));
        rv = RLY_ERR_IO;
    }
    return rv;
}

int rly_identity_load_or_create(const char *path, rly_keypair *kp, bool *pcreated, char *errmsg,
                                size_t cap)
{
    key_dir d;
    *pcreated = false;
    int rv = prepare_dir(path, &d, errmsg, cap);
    if (rv == 0)
        rv = load(path, &d, kp, errmsg, cap);
    if (rv == RLY_ERR_NOT_FOUND) {
        rv = create(path, kp, errmsg, cap);
        if (rv == 0)
            *pcreated = true;
        else if (rv == RLY_ERR_INVALID_STATE)
            rv = load(path, &d, kp, errmsg, cap);
        if (rv == RLY_ERR_NOT_FOUND) { /* created by another process, then removed */
            snprintf(errmsg, cap, "Key file %s disappeared while the relay created it", path);
            rv = RLY_ERR_IO;
        }
    }
    if (d.fd >= 0)
        close(d.fd);
    if (rv != 0)
        rly_keypair_wipe(kp);
    return rv;
}
