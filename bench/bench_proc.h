/* bench_proc.h: what the benchmark programs read from /proc about the server they measure (and
 * themselves), shared by bench_connect, bench_circuit and bench_many. Header-only: each program
 * is one translation unit. */
#ifndef RLY_BENCH_PROC_H
#define RLY_BENCH_PROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* utime + stime of process |pid| in seconds (/proc/<pid>/stat), or -1 when it cannot be read
 * (|pid| <= 0 included). */
static inline double bench_proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command name (which may hold spaces): state is field 3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2;
    unsigned long long ut = 0, st = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        unsigned long long v = strtoull(p, NULL, 10);
        if (field == 14)
            ut = v;
        if (field == 15)
            st = v;
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of process |pid| in kB (/proc/<pid>/status), or -1 when it cannot be read (|pid| <= 0
 * included). */
static inline long bench_proc_rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

#endif
