#include "core/log.h"

#include <string.h>

#include "core/err.h"

/* Records carry at most this many fields; more are dropped (a programming error, not input). */
#define MAX_FIELDS 32

void rly_log_emit(const rly_log *log, rly_log_level lvl, const char *target,
                  const rly_log_field *fields, size_t n)
{
    rly_log_field rest[MAX_FIELDS];
    rly_log_record rec = {.level = lvl, .target = target, .fields = rest};

    if (!rly_log_enabled(log, lvl))
        return;
    for (size_t i = 0; i < n; i++) {
        if (!rec.message && fields[i].type == RLY_LOG_F_STR &&
            strcmp(fields[i].key, "message") == 0)
            rec.message = fields[i].v.s;
        else if (rec.nfields < MAX_FIELDS)
            rest[rec.nfields++] = fields[i];
    }
    log->sink(log->user_data, &rec);
}

static const char *const level_names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
static const char *const level_lower[] = {"off", "error", "warn", "info", "debug", "trace"};

int rly_log_level_parse(const char *s, rly_log_level *plevel)
{
    for (size_t i = 0; i < RLY_ARRAY_LEN(level_lower); i++) {
        if (strcmp(s, level_lower[i]) == 0) {
            *plevel = (rly_log_level)i;
            return 0;
        }
    }
    return RLY_ERR_INVALID_ARG;
}

const char *rly_log_level_name(rly_log_level lvl)
{
    if ((size_t)lvl < RLY_ARRAY_LEN(level_names))
        return level_names[lvl];
    return "UNKNOWN";
}
