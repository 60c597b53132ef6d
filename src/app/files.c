#include "app/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rly_files_home_path(const char *rel, char *out, size_t cap)
{
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return RLY_ERR_NOT_FOUND;
    int n = snprintf(out, cap, "%s/%s", home, rel);
    return (n < 0 || (size_t)n >= cap) ? RLY_ERR_NOBUF : 0;
}

/* Copies the directory part of |path| into |dir|. */
static int dir_of(const char *path, char *dir, size_t cap)
{
    char tmp[RLY_PATH_MAX];
    if (strlen(path) >= sizeof(tmp))
        return RLY_ERR_NOBUF;
    memcpy(tmp, path, strlen(path) + 1);
    int n = snprintf(dir, cap, "%s", dirname(tmp));
    return (n < 0 || (size_t)n >= cap) ? RLY_ERR_NOBUF : 0;
}

int rly_files_ensure_parent_dir(const char *path)
{
    char dir[RLY_PATH_MAX];
    struct stat st;
    int rv = dir_of(path, dir, sizeof(dir));
    if (rv != 0)
        return rv;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return RLY_ERR_IO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return RLY_ERR_IO;
    return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RLY_ERR_IO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Moves |tmp| to |path|; without |overwrite| it fails with EEXIST instead of replacing a file. */
static int install(const char *tmp, const char *path, bool overwrite)
{
    if (overwrite)
        return rename(tmp, path) == 0 ? 0 : RLY_ERR_IO;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EEXIST)
        return RLY_ERR_INVALID_STATE;
    if (errno != EINVAL && errno != ENOSYS)
        return RLY_ERR_IO;
    /* The file system cannot rename without replacing: a hard link fails on an existing name. */
    if (link(tmp, path) != 0)
        return errno == EEXIST ? RLY_ERR_INVALID_STATE : RLY_ERR_IO;
    unlink(tmp);
    return 0;
}

static void fsync_dir(const char *path)
{
    char dir[RLY_PATH_MAX];
    if (dir_of(path, dir, sizeof(dir)) != 0)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int rly_files_write_new(const char *path, const uint8_t *data, size_t len, mode_t mode,
                        bool overwrite)
{
    char tmp[RLY_PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return RLY_ERR_NOBUF;
    if (!overwrite && access(path, F_OK) == 0) {
        errno = EEXIST;
        return RLY_ERR_INVALID_STATE;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return RLY_ERR_IO;
    int rv = fchmod(fd, mode) == 0 ? write_all(fd, data, len) : RLY_ERR_IO;
    if (rv == 0 && fsync(fd) != 0)
        rv = RLY_ERR_IO;
    int saved = errno;
    close(fd);
    if (rv == 0) {
        rv = install(tmp, path, overwrite);
        saved = errno;
    }
    if (rv != 0) {
        unlink(tmp);
        errno = saved;
        return rv;
    }
    fsync_dir(path);
    return 0;
}

int rly_files_split(const char *path, char *dir, size_t cap, const char **pbase)
{
    const char *slash = strrchr(path, '/');
    *pbase = slash ? slash + 1 : path;
    if (**pbase == '\0')
        return RLY_ERR_INVALID_ARG;
    return dir_of(path, dir, cap);
}

rly_ssize rly_files_read_small(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? RLY_ERR_NOT_FOUND : RLY_ERR_IO;
    rly_ssize n = rly_files_read_fd(fd, buf, cap);
    int saved = errno;
    close(fd);
    errno = saved;
    return n;
}

rly_ssize rly_files_read_fd(int fd, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        uint8_t extra;
        uint8_t *dst = len < cap ? buf + len : &extra;
        size_t room = len < cap ? cap - len : 1;
        ssize_t n = read(fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return RLY_ERR_IO;
        if (n == 0)
            break;
        if (len >= cap)
            return RLY_ERR_NOBUF;
        len += (size_t)n;
    }
    return (rly_ssize)len;
}
