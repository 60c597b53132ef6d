/* Safe file writes (temp + rename, never replacing without permission) and the identity file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/files.h"
#include "app/identity.h"
#include "core/mem.h"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rly-test-files.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(files, .init = make_dir, .fini = remove_dir);

static mode_t mode_of(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return st.st_mode & 07777;
}

Test(files, write_new_creates_with_mode_and_never_replaces)
{
    char p[512];
    uint8_t buf[64];
    snprintf(p, sizeof(p), "%s/a.bin", dir);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"one", 3, 0600, false), 0);
    cr_assert_eq(mode_of(p), 0600);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"two", 3, 0600, false),
                 RLY_ERR_INVALID_STATE);
    cr_assert_eq(errno, EEXIST);
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), 3);
    cr_assert_eq(memcmp(buf, "one", 3), 0);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"three", 5, 0644, true), 0);
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), 5);
    cr_assert_eq(mode_of(p), 0644);
}

Test(files, write_new_leaves_no_temporary_files)
{
    char p[512], cmd[600];
    snprintf(p, sizeof(p), "%s/b.bin", dir);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"x", 1, 0600, false), 0);
    cr_assert_neq(rly_files_write_new(p, (const uint8_t *)"y", 1, 0600, false), 0);
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = b.bin", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(files, write_new_into_missing_directory_fails_cleanly)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/missing/c.bin", dir);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"x", 1, 0600, false), RLY_ERR_IO);
}

Test(files, read_small_limits)
{
    char p[512];
    uint8_t buf[4];
    snprintf(p, sizeof(p), "%s/d.bin", dir);
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), RLY_ERR_NOT_FOUND);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"12345", 5, 0600, false), 0);
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), RLY_ERR_NOBUF);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"1234", 4, 0600, true), 0);
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), 4);
}

Test(files, ensure_parent_dir_creates_0700)
{
    char p[600], d[512];
    snprintf(d, sizeof(d), "%s/.meshnet", dir);
    snprintf(p, sizeof(p), "%s/relay.toml", d);
    cr_assert_eq(rly_files_ensure_parent_dir(p), 0);
    cr_assert_eq(mode_of(d), 0700);
    cr_assert_eq(rly_files_ensure_parent_dir(p), 0, "an existing directory is fine");
}

Test(files, home_path)
{
    char p[64];
    setenv("HOME", "/home/op", 1);
    cr_assert_eq(rly_files_home_path(".meshnet/relay.toml", p, sizeof(p)), 0);
    cr_assert_str_eq(p, "/home/op/.meshnet/relay.toml");
    cr_assert_eq(rly_files_home_path(".meshnet/relay.toml", p, 10), RLY_ERR_NOBUF);
}

Test(files, identity_created_once_then_loaded)
{
    char p[512], err[512];
    rly_keypair a, b;
    bool created;
    snprintf(p, sizeof(p), "%s/.meshnet/relay_keypair.bin", dir);
    cr_assert_eq(rly_identity_load_or_create(p, &a, &created, err, sizeof(err)), 0, "%s", err);
    cr_assert(created);
    cr_assert_eq(mode_of(p), 0600);
    cr_assert_eq(rly_identity_load_or_create(p, &b, &created, err, sizeof(err)), 0, "%s", err);
    cr_assert_not(created);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
    rly_keypair_wipe(&a);
    rly_keypair_wipe(&b);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(files, identity_refuses_group_readable_and_corrupt_files)
{
    char p[512], err[512];
    rly_keypair k;
    bool created;
    snprintf(p, sizeof(p), "%s/relay_keypair.bin", dir);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(chmod(p, 0644), 0);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), RLY_ERR_PERM);
    cr_assert(strstr(err, p) && strstr(err, "chmod 600"), "%s", err);
    cr_assert_eq(rly_files_write_new(p, (const uint8_t *)"garbage", 7, 0600, true), 0);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), RLY_ERR_MALFORMED);
    cr_assert(strstr(err, p) && strstr(err, "corrupt"), "%s", err);
    uint8_t buf[16];
    cr_assert_eq(rly_files_read_small(p, buf, sizeof(buf)), 7, "a bad key file is never replaced");
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(files, split)
{
    char d[64];
    const char *base;
    cr_assert_eq(rly_files_split("/home/op/.meshnet/relay_keypair.bin", d, sizeof(d), &base), 0);
    cr_assert_str_eq(d, "/home/op/.meshnet");
    cr_assert_str_eq(base, "relay_keypair.bin");
    cr_assert_eq(rly_files_split("key.bin", d, sizeof(d), &base), 0);
    cr_assert_str_eq(d, ".");
    cr_assert_str_eq(base, "key.bin");
    cr_assert_eq(rly_files_split("/home/op/", d, sizeof(d), &base), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_files_split("/a/very/long/directory/name/x", d, 8, &base), RLY_ERR_NOBUF);
}

/* Issue 11 item 11: a key reached through a symbolic link, or in a directory others can write
 * to, is refused with the path and the fix, and nothing is written. */
Test(files, identity_refuses_links_and_writable_directories)
{
    char kd[300], p[400], real[400], err[1024];
    rly_keypair k;
    bool created;
    snprintf(kd, sizeof(kd), "%s/keys", dir);
    snprintf(p, sizeof(p), "%s/relay_keypair.bin", kd);
    snprintf(real, sizeof(real), "%s/real.bin", dir);
    cr_assert_eq(rly_identity_load_or_create(real, &k, &created, err, sizeof(err)), 0, "%s", err);
    rly_keypair_wipe(&k);
    cr_assert_eq(mkdir(kd, 0700), 0);
    cr_assert_eq(symlink(real, p), 0);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), RLY_ERR_PERM);
    cr_assert(strstr(err, p) && strstr(err, "symbolic link"), "%s", err);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(chmod(kd, 0770), 0);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), RLY_ERR_PERM);
    cr_assert(strstr(err, kd) && strstr(err, "chmod go-w"), "%s", err);
    cr_assert_eq(access(p, F_OK), -1, "no key is created in such a directory");
    cr_assert_eq(chmod(kd, 0700), 0);
    cr_assert_eq(rly_identity_load_or_create(p, &k, &created, err, sizeof(err)), 0, "%s", err);
    cr_assert(created);
    rly_keypair_wipe(&k);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}
