/* revoked_file.c: reading the revoked token list (revoked_file.h). */
#include "app/revoked_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/files.h"

int rly_revoked_load(const char *path, rly_revoked *out, rly_mem *mem, char *errmsg, size_t cap)
{
    struct stat st;
    char why[160];
    out->ids = NULL;
    out->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        snprintf(errmsg, cap,
                 "Cannot read the revoked token list [auth] revoked_tokens_file %s: %s", path,
                 strerror(err));
        return err == ENOENT ? RLY_ERR_NOT_FOUND : RLY_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(errmsg, cap,
                 "The revoked token list [auth] revoked_tokens_file %s is not a regular file",
                 path);
        return RLY_ERR_IO;
    }
    if (st.st_size > RLY_REVOKED_FILE_MAX) {
        close(fd);
        snprintf(errmsg, cap,
                 "The revoked token list [auth] revoked_tokens_file %s is too large (%lld bytes, "
                 "at most %d)",
                 path, (long long)st.st_size, RLY_REVOKED_FILE_MAX);
        return RLY_ERR_NOBUF;
    }
    size_t bufcap = (size_t)st.st_size + 1; /* one more: a file that grew is seen as too large */
    uint8_t *buf = rly_malloc(mem, bufcap);
    if (!buf) {
        close(fd);
        snprintf(errmsg, cap, "Cannot read the revoked token list %s: out of memory", path);
        return RLY_ERR_NOMEM;
    }
    rly_ssize n = rly_files_read_fd(fd, buf, bufcap);
    int err = errno;
    close(fd);
    int rv = 0;
    if (n == RLY_ERR_NOBUF || (n >= 0 && (size_t)n == bufcap)) {
        snprintf(errmsg, cap,
                 "The revoked token list %s changed while it was read: it is read again at the "
                 "next change",
                 path);
        rv = RLY_ERR_IO;
    } else if (n < 0) {
        snprintf(errmsg, cap, "Cannot read the revoked token list %s: %s", path, strerror(err));
        rv = RLY_ERR_IO;
    } else if ((rv = rly_revoked_parse(out, (const char *)buf, (size_t)n, mem, why, sizeof(why))) !=
               0) {
        snprintf(errmsg, cap, "The revoked token list [auth] revoked_tokens_file %s: %s", path,
                 why);
    }
    rly_free(mem, buf);
    return rv;
}
