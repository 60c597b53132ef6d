/* fuzz_config_overrides.c: arbitrary per-instance overrides (issue 14) over the defaults: the
 * input is NUL-separated entries, each "E" + an environment entry (NAME=value) or "S" + a --set
 * argument (section.key=value). rly_config_apply_overrides, then rly_config_validate and the
 * start-up log of sources. Nothing may leak, every message must be a terminated string, and a
 * failed apply must leave the configuration as it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 32
#define MAX_INPUT 65536

static void no_log(void *ud, const rly_log_record *rec)
{
    (void)ud;
    (void)rec;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rly_config cfg, before;
    static char copy[MAX_INPUT + 1];
    char *env[MAX_ENTRIES + 1];
    const char *sets[MAX_ENTRIES];
    size_t nenv = 0, nsets = 0;
    char msg[RLY_CONFIG_ERRMSG_MAX];
    size_t live = rly_mem_default()->live_bytes;
    if (size > MAX_INPUT)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i < size;) {
        char *e = copy + i;
        size_t n = strlen(e);
        if (n > 0 && e[0] == 'E' && nenv < MAX_ENTRIES)
            env[nenv++] = e + 1;
        else if (n > 0 && e[0] == 'S' && nsets < MAX_ENTRIES)
            sets[nsets++] = e + 1;
        i += n + 1;
    }
    env[nenv] = NULL;
    rly_config_overrides ov = {.env = env, .sets = sets, .nsets = nsets};
    rly_config_defaults(&cfg);
    before = cfg;
    msg[0] = '\0';
    int rv = rly_config_apply_overrides(&cfg, &ov, msg, sizeof(msg));
    if (rv != 0 && rv != RLY_ERR_CONFIG && rv != RLY_ERR_NOMEM)
        abort();
    if (rv != 0 && memcmp(&cfg, &before, sizeof(cfg)) != 0 && nenv + nsets == 1)
        abort(); /* one entry that failed changed something */
    if (rv == 0) {
        rv = rly_config_validate(&cfg, "fuzz", msg, sizeof(msg));
        rly_log log = {.level = RLY_LOG_TRACE, .sink = no_log};
        (void)rly_config_log_sources(&cfg, "fuzz.toml", &log);
    }
    if (strnlen(msg, sizeof(msg)) == sizeof(msg) || rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
