/* log.h: the structured logging interface (STYLE.md D.5).
 *
 * Every log line is a record: level, target, a message and typed key=value fields. Sinks (pretty
 * text or JSON lines, src/app/log_sink.c) format records; modules only see an rly_log handle, so
 * tests can capture records and assert on them. Usage:
 *
 *   RLY_LOGI(log, RLY_TARGET_EVENTS, RLY_MSG("ConnectionEstablished"),
 *            RLY_F_STR("peer_id", pid), RLY_F_U64("num_established", n));
 *
 * The level is checked before any field is evaluated. Never log key material or payloads.
 */
#ifndef RLY_CORE_LOG_H
#define RLY_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rly_log_level {
    RLY_LOG_OFF = 0,
    RLY_LOG_ERROR = 1,
    RLY_LOG_WARN = 2,
    RLY_LOG_INFO = 3,
    RLY_LOG_DEBUG = 4,
    RLY_LOG_TRACE = 5,
} rly_log_level;

typedef enum rly_log_ftype {
    RLY_LOG_F_STR,
    RLY_LOG_F_U64,
    RLY_LOG_F_I64,
    RLY_LOG_F_BOOL,
} rly_log_ftype;

typedef struct rly_log_field {
    const char *key;
    rly_log_ftype type;
    union {
        const char *s; /* NULL prints as an empty string */
        uint64_t u;
        int64_t i;
        bool b;
    } v;
} rly_log_field;

typedef struct rly_log_record {
    rly_log_level level;
    const char *target;          /* e.g. "relay_server", "relay_server::events" */
    const char *message;         /* the "message" field; may be NULL */
    const rly_log_field *fields; /* the fields other than the message */
    size_t nfields;
} rly_log_record;

typedef void (*rly_log_sink_fn)(void *user_data, const rly_log_record *rec);

typedef struct rly_log {
    rly_log_level level;
    rly_log_sink_fn sink;
    void *user_data;
} rly_log;

/* Targets used across the project (tracing-style module paths, so existing log pipelines that
 * filter on the Rust relay's targets keep working). */
#define RLY_TARGET_APP "relay_server"
#define RLY_TARGET_EVENTS "relay_server::events"
#define RLY_TARGET_CONFIG "relay_server::config"
#define RLY_TARGET_TRANSPORT "relay_server::transport"

/* rly_log_enabled returns true if a record at |lvl| would be written through |log|. */
static inline bool rly_log_enabled(const rly_log *log, rly_log_level lvl)
{
    return log && log->sink && lvl != RLY_LOG_OFF && lvl <= log->level;
}

/* rly_log_emit sends one record. |fields| holds |n| fields; one whose key is "message" becomes
 * the record's message. Borrowed for the call only. */
void rly_log_emit(const rly_log *log, rly_log_level lvl, const char *target,
                  const rly_log_field *fields, size_t n);

/* rly_log_level_parse maps "trace".."error" (and "off") to a level. Returns 0 or
 * RLY_ERR_INVALID_ARG. */
int rly_log_level_parse(const char *s, rly_log_level *plevel);

/* rly_log_level_name returns "TRACE".."ERROR" (upper case, as tracing prints them). */
const char *rly_log_level_name(rly_log_level lvl);

#define RLY_MSG(m) ((rly_log_field){.key = "message", .type = RLY_LOG_F_STR, .v.s = (m)})
#define RLY_F_STR(k, x) ((rly_log_field){.key = (k), .type = RLY_LOG_F_STR, .v.s = (x)})
#define RLY_F_U64(k, x) ((rly_log_field){.key = (k), .type = RLY_LOG_F_U64, .v.u = (uint64_t)(x)})
#define RLY_F_I64(k, x) ((rly_log_field){.key = (k), .type = RLY_LOG_F_I64, .v.i = (int64_t)(x)})
#define RLY_F_BOOL(k, x) ((rly_log_field){.key = (k), .type = RLY_LOG_F_BOOL, .v.b = (x)})

#define RLY_LOG_(log, lvl, target, ...)                                                            \
    do {                                                                                           \
        if (rly_log_enabled((log), (lvl))) {                                                       \
            const rly_log_field rly_log_f_[] = {__VA_ARGS__};                                      \
            rly_log_emit((log), (lvl), (target), rly_log_f_,                                       \
                         sizeof(rly_log_f_) / sizeof(rly_log_f_[0]));                              \
        }                                                                                          \
    } while (0)

#define RLY_LOGE(log, target, ...) RLY_LOG_(log, RLY_LOG_ERROR, target, __VA_ARGS__)
#define RLY_LOGW(log, target, ...) RLY_LOG_(log, RLY_LOG_WARN, target, __VA_ARGS__)
#define RLY_LOGI(log, target, ...) RLY_LOG_(log, RLY_LOG_INFO, target, __VA_ARGS__)
#define RLY_LOGD(log, target, ...) RLY_LOG_(log, RLY_LOG_DEBUG, target, __VA_ARGS__)
#define RLY_LOGT(log, target, ...) RLY_LOG_(log, RLY_LOG_TRACE, target, __VA_ARGS__)

#endif
