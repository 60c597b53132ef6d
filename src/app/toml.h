/* toml.h: the in-tree TOML subset the configuration is written in (DESIGN.md, STYLE.md D.7).
 *
 * Supported (TOML 1.0 syntax for each):
 *   - tables "[name]" with a bare name ([A-Za-z0-9_-]+); keys before the first table belong to
 *     the root table, whose name is "";
 *   - "key = value" with bare keys;
 *   - values: basic strings "..." with the escapes \b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX,
 *     literal strings '...', integers (decimal with an optional sign, 0x / 0o / 0b forms,
 *     underscores between digits; 64-bit signed), booleans, and arrays of strings (which may
 *     span lines, hold comments and end with a trailing comma);
 *   - comments from '#', blank lines, LF or CRLF line ends.
 * Rejected with a message saying so: dotted keys and table names, quoted keys, arrays of
 * tables, inline tables, multi-line strings, floats, dates, nested or non-string arrays, and
 * "\u0000" (strings are C strings).
 *
 * The parser is incremental in the wireguard-tools way: rly_toml_parser_init, then one
 * rly_toml_parser_feed_line per line, then rly_toml_parser_finish, which hands over the
 * document. rly_toml_parse does all three for a whole text. Every error carries the line and
 * column (both 1-based) and a short message. Every limit (rly_toml_limits) is enforced while
 * parsing; nothing grows without a bound. All memory comes from the given rly_mem.
 */
#ifndef RLY_APP_TOML_H
#define RLY_APP_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Default limits (rly_toml_limits_default). */
#define RLY_TOML_LINE_MAX 4096        /* bytes per line, without the line end */
#define RLY_TOML_ENTRIES_MAX 1024     /* key = value entries in the document */
#define RLY_TOML_TABLES_MAX 64        /* [tables], not counting the root */
#define RLY_TOML_STRING_MAX 4096      /* bytes of one decoded string (and of a key) */
#define RLY_TOML_ARRAY_MAX 256        /* items in one array */
#define RLY_TOML_TOTAL_MAX (1u << 20) /* bytes of input, final line end not counted */
#define RLY_TOML_ERRMSG_MAX 160       /* bytes of an error message, NUL included */

typedef struct rly_toml_limits {
    size_t line_max;
    size_t entries_max;
    size_t tables_max;
    size_t string_max;
    size_t array_max;
    size_t total_max;
} rly_toml_limits;

typedef enum rly_toml_type {
    RLY_TOML_STRING = 1,
    RLY_TOML_INTEGER = 2,
    RLY_TOML_BOOLEAN = 3,
    RLY_TOML_ARRAY = 4, /* of strings */
} rly_toml_type;

/* One string: |ptr| is NUL-terminated and holds no NUL before |len|. */
typedef struct rly_toml_string {
    char *ptr;
    size_t len;
    uint32_t line; /* where the opening quote is */
    uint32_t col;
} rly_toml_string;

typedef struct rly_toml_value {
    rly_toml_type type;
    uint32_t line; /* where the value starts */
    uint32_t col;
    union {
        rly_toml_string s; /* RLY_TOML_STRING */
        int64_t i;         /* RLY_TOML_INTEGER */
        bool b;            /* RLY_TOML_BOOLEAN */
        struct {
            rly_toml_string *items;
            size_t len;
        } arr; /* RLY_TOML_ARRAY */
    } v;
} rly_toml_value;

typedef struct rly_toml_table {
    char *name;    /* "" for the root table */
    uint32_t line; /* of the [name] header; 0 for the root */
} rly_toml_table;

typedef struct rly_toml_entry {
    size_t table; /* index into rly_toml_doc.tables */
    char *key;
    uint32_t line; /* of the key */
    uint32_t col;
    rly_toml_value value;
} rly_toml_entry;

/* A parsed document. Tables and entries are kept in file order; tables[0] is the root. */
typedef struct rly_toml_doc {
    rly_mem *mem;
    rly_toml_table *tables;
    size_t ntables;
    rly_toml_entry *entries;
    size_t nentries;
} rly_toml_doc;

typedef struct rly_toml_error {
    uint32_t line; /* 1-based; 0 when the error is not tied to a line */
    uint32_t col;  /* 1-based byte column; 0 when not tied to a column */
    char msg[RLY_TOML_ERRMSG_MAX];
} rly_toml_error;

/* The parser's state between lines. Treat as opaque. */
typedef struct rly_toml_parser {
    rly_mem *mem;
    rly_toml_limits limits;
    rly_toml_doc doc;
    size_t cur_table; /* where new keys go */
    uint32_t line;    /* lines fed so far */
    size_t total;     /* bytes fed so far */
    bool in_array;    /* the last entry is an array whose ']' has not been seen */
    bool want_comma;  /* in_array: an item was read; ',' or ']' comes next */
    bool is_finished; /* rly_toml_parser_finish was called */
    int status;       /* the first error, sticky; 0 while fine */
    rly_toml_error err;
} rly_toml_parser;

/* rly_toml_limits_default fills |l| with the RLY_TOML_*_MAX defaults. */
void rly_toml_limits_default(rly_toml_limits *l);

/* rly_toml_parser_init prepares |p| to parse a new document with |limits| (NULL: defaults;
 * copied) allocating from |mem| (NULL: the default allocator). Allocates nothing yet; call
 * rly_toml_parser_free when done, whatever happened. */
void rly_toml_parser_init(rly_toml_parser *p, rly_mem *mem, const rly_toml_limits *limits);

/* rly_toml_parser_feed_line parses the next line: |len| bytes at |line| (borrowed for the call),
 * without its '\n'; a final '\r' is dropped (CRLF input). Errors are sticky: once a call failed,
 * every later call returns the same code. The error is read with rly_toml_parser_error.
 * Returns 0, RLY_ERR_MALFORMED (syntax, invalid UTF-8, control character, duplicate key or
 * table, unsupported TOML feature), RLY_ERR_NOBUF (a limit was exceeded), RLY_ERR_NOMEM or
 * RLY_ERR_INVALID_STATE (called after rly_toml_parser_finish). */
RLY_NODISCARD int rly_toml_parser_feed_line(rly_toml_parser *p, const char *line, size_t len);

/* rly_toml_parser_finish ends the input and, on success, moves the document into |pdoc| (the
 * caller frees it with rly_toml_doc_free; |p| no longer owns it). On error |pdoc| is left
 * empty, except that a second call returns RLY_ERR_INVALID_STATE and leaves |pdoc| untouched.
 * Returns 0, RLY_ERR_MALFORMED (an array is still open), the sticky error of an earlier
 * rly_toml_parser_feed_line, or RLY_ERR_INVALID_STATE (called twice). */
RLY_NODISCARD int rly_toml_parser_finish(rly_toml_parser *p, rly_toml_doc *pdoc);

/* rly_toml_parser_error returns the error of |p|: line, column and message (msg is "" while
 * there is none). Valid until |p| is freed. */
const rly_toml_error *rly_toml_parser_error(const rly_toml_parser *p);

/* rly_toml_parser_free releases everything |p| still holds. NULL-safe; |p| itself is not
 * freed. */
void rly_toml_parser_free(rly_toml_parser *p);

/* rly_toml_parse parses the whole |text| (|len| bytes, borrowed; lines end in LF or CRLF; the
 * last may lack its line end) into |pdoc|. |mem| and |limits| as rly_toml_parser_init. On error
 * |pdoc| is left empty (safe to pass to rly_toml_doc_free) and |perr| (may be NULL) describes
 * the error. Returns as rly_toml_parser_feed_line and rly_toml_parser_finish. */
RLY_NODISCARD int rly_toml_parse(const char *text, size_t len, rly_mem *mem,
                                 const rly_toml_limits *limits, rly_toml_doc *pdoc,
                                 rly_toml_error *perr);

/* rly_toml_doc_free releases everything |doc| holds and leaves it empty. NULL-safe; calling it
 * twice is fine. */
void rly_toml_doc_free(rly_toml_doc *doc);

/* rly_toml_doc_get returns the value of |key| in table |table| ("" for the root), or NULL if
 * there is none. The pointer is borrowed from |doc|. */
const rly_toml_value *rly_toml_doc_get(const rly_toml_doc *doc, const char *table, const char *key);

/* rly_toml_type_name returns "string", "integer", "boolean" or "array" (for messages). */
const char *rly_toml_type_name(rly_toml_type t);

#endif
