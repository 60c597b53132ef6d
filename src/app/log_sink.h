/* log_sink.h: the two log output formats (SPEC.md [logging] log_format).
 *
 * pretty: one human line per record, the layout of tracing-subscriber's default formatter:
 *   2026-11-24T20:46:15.123456Z  INFO relay_server::events: ConnectionEstablished peer_id=12D3...
 * num_established=1 json: one object per line, the layout of tracing-subscriber's JSON formatter,
 * so existing log pipelines parse it unchanged:
 *   {"timestamp":"...","level":"INFO","fields":{"message":"...","peer_id":"..."},"target":"..."}
 *
 * Values are escaped: a record is always exactly one line. */
#ifndef RLY_APP_LOG_SINK_H
#define RLY_APP_LOG_SINK_H

#include <stdio.h>

#include "app/config.h"
#include "core/dynbuf.h"
#include "core/log.h"

typedef struct rly_log_sink {
    rly_log_format format;
    FILE *out; /* borrowed; each record is written with one fwrite and flushed */
} rly_log_sink;

/* rly_log_sink_init prepares |s| to write |format| records to |out|. */
void rly_log_sink_init(rly_log_sink *s, rly_log_format format, FILE *out);

/* rly_log_sink_write is an rly_log_sink_fn: |user_data| is an rly_log_sink. */
void rly_log_sink_write(void *user_data, const rly_log_record *rec);

/* rly_log_sink_format renders |rec| (with |timestamp|, RFC 3339 text) in |format| into |b|,
 * newline included. Returns 0 or an rly_dynbuf error. Exposed for tests. */
RLY_NODISCARD int rly_log_sink_format(rly_dynbuf *b, rly_log_format format, const char *timestamp,
                                      const rly_log_record *rec);

/* rly_log_sink_timestamp writes the current UTC time as 2026-11-24T20:46:15.123456Z into |out|
 * (at least 32 bytes). */
void rly_log_sink_timestamp(char *out, size_t cap);

#endif
