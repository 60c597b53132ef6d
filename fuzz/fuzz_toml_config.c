/* fuzz_toml_config.c: arbitrary bytes as a configuration file, through the raw TOML parser
 * (default and tiny limits) and through rly_config_load_string + rly_config_validate. Nothing
 * may leak and every message must be a terminated string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "app/toml.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_raw(const char *text, size_t size, const rly_toml_limits *limits)
{
    rly_mem mem;
    rly_toml_doc doc;
    rly_toml_error err;
    rly_mem_init(&mem);
    if (rly_toml_parse(text, size, &mem, limits, &doc, &err) == 0)
        (void)rly_toml_doc_get(&doc, "relay", "max_reservations");
    else if (strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
        abort();
    rly_toml_doc_free(&doc);
    if (mem.live_bytes != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    /* line, entries, tables, string, array, total: small enough for fuzz inputs to hit. */
    const rly_toml_limits tiny = {64, 4, 2, 16, 3, 256};
    char msg[RLY_CONFIG_ERRMSG_MAX];
    rly_config cfg;
    size_t live = rly_mem_default()->live_bytes;

    parse_raw(text, size, NULL);
    parse_raw(text, size, &tiny);
    rly_config_defaults(&cfg);
    msg[0] = '\0';
    int rv = rly_config_load_string(&cfg, text, size, "fuzz.toml", msg, sizeof(msg));
    if (rv == 0)
        rv = rly_config_validate(&cfg, "fuzz.toml", msg, sizeof(msg));
    if (rv != 0 && rv != RLY_ERR_CONFIG && rv != RLY_ERR_NOMEM)
        abort();
    if (strnlen(msg, sizeof(msg)) == sizeof(msg) || rly_mem_default()->live_bytes != live)
        abort();
    return 0;
}
