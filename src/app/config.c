/* config.c: the relay's configuration (config.h). One table of key descriptors drives the
 * defaults, applying a parsed TOML document, validation and the generated default file, so no
 * key, default, range or comment is written twice. */
#include "app/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app/toml.h"
#include "core/dynbuf.h"
#include "core/multiaddr.h"
#include "crypto/keys.h"
#include "proto/auth/auth.h"

/* Values and names quoted in messages are cut to this many bytes. */
#define QUOTE_MAX 160
/* Longest schema key or section name (for the edit-distance row). */
#define NAME_MAX_LEN 48
/* Column where the comment of a key starts in the default file (as in SPEC.md). */
#define COMMENT_COL 36
#define DEFAULT_TEXT_MAX 8192

typedef enum ktype {
    K_U64,      /* uint64_t; TOML integer */
    K_STR,      /* char[size]; TOML string */
    K_BOOL,     /* bool; TOML boolean */
    K_LEVEL,    /* rly_log_level; TOML string */
    K_FORMAT,   /* rly_log_format; TOML string */
    K_ADDRLIST, /* network.external_addrs: TOML array of multiaddr strings */
    K_PEERS,    /* rly_peer_list; TOML array of PeerId strings */
    K_CIDRS,    /* rly_cidr_list; TOML array of CIDR strings */
    K_CLASSES,  /* rly_auth_class_list; TOML array of "NAME: key=value ..." strings */
} ktype;

typedef enum kcheck {
    C_NONE,
    C_RANGE,   /* min..max */
    C_TCP4,    /* "" or /ip4/<ip>/tcp/<port> */
    C_TCP6,    /* "" or /ip6/<ip>/tcp/<port> */
    C_TCPANY,  /* "" or /ip4|ip6/<ip>/tcp/<port> */
    C_QUIC4,   /* "" or /ip4/<ip>/udp/<port>/quic-v1 */
    C_QUIC6,   /* "" or /ip6/<ip>/udp/<port>/quic-v1 */
    C_TOKEN,   /* non-empty */
    C_ED25519, /* K_PEERS: PeerIds of Ed25519 keys */
} kcheck;

typedef struct keydesc {
    const char *section;
    const char *key;
    ktype type;
    kcheck check;
    size_t off;  /* of the field in rly_config */
    size_t size; /* K_STR: the buffer size */
    uint64_t min, max;
    uint64_t def_u;    /* K_U64, K_BOOL */
    const char *def_s; /* K_STR, K_LEVEL, K_FORMAT */
    const char *doc;   /* one-line comment in the default file */
} keydesc;

#define FIELD(sec, member) offsetof(rly_config, sec.member)
#define KEY_U64(sec, name, lo, hi, def, doc)                                                       \
    {                                                                                              \
#sec, #name, K_U64, C_RANGE, FIELD(sec, name), 0, lo, hi, def, NULL, doc                   \
    }
/* [limits] exempt_cidrs by default: loopback (comma-separated here). */
#define DEFAULT_EXEMPT "127.0.0.0/8,::1"
#define KEY_ACL(name, type, doc)                                                                   \
    {                                                                                              \
        "acl", #name, type, C_NONE, offsetof(rly_config, acl.name), 0, 0, RLY_ACL_MAX, 0, NULL,    \
            doc                                                                                    \
    }
#define KEY_ADDR(sec, name, check, def, doc)                                                       \
    {                                                                                              \
#sec, #name, K_STR, check, FIELD(sec, name), RLY_CONFIG_ADDR_MAX, 0, 0, 0, def, doc        \
    }

static const keydesc keys[] = {
    KEY_U64(relay, max_reservations, 1, 1000000, 100, "Global reservation limit"),
    KEY_U64(
        relay, max_reservations_per_peer, 1, 1000, 5,
        "Per-peer limit (SPEC.md); a peer holds one reservation, refreshed over any connection"),
    KEY_U64(relay, max_circuits_per_peer, 1, 100000, 16, "Concurrent circuits per peer"),
    KEY_U64(relay, max_circuit_duration_secs, 0, 2592000, 120,
            "Circuit lifetime (2 minutes); 0 = no limit"),
    KEY_U64(relay, max_circuit_bytes, 0, INT64_MAX, 10485760,
            "Max data per circuit and direction (10MB); 0 = no limit"),
    KEY_U64(relay, reservation_ttl_secs, 1, 604800, 3600, "Reservation lifetime (1 hour)"),
    KEY_U64(relay, max_circuits, 1, 1000000, 1024, "Global limit on concurrent circuits"),
    KEY_ADDR(network, tcp_listen_addr, C_TCP4, "/ip4/0.0.0.0/tcp/4001", "TCP over IPv4"),
    KEY_ADDR(network, tcp_listen_addr_v6, C_TCP6, "/ip6/::/tcp/4001", "TCP over IPv6"),
    KEY_ADDR(network, quic_listen_addr, C_QUIC4, "/ip4/0.0.0.0/udp/4001/quic-v1", "QUIC over IPv4"),
    KEY_ADDR(network, quic_listen_addr_v6, C_QUIC6, "/ip6/::/udp/4001/quic-v1", "QUIC over IPv6"),
    KEY_U64(network, handshake_timeout_secs, 1, 300, 10,
            "Seconds for a new connection to finish its handshake"),
    KEY_U64(network, handshake_idle_timeout_secs, 1, 300, 5,
            "a handshake that completes no stage this long is closed"),
    KEY_U64(network, max_pending_handshakes, 1, 100000, 256,
            "Connections still handshaking; a new one closes the stalest"),
    KEY_U64(network, max_pending_handshakes_per_ip, 1, 100000, 32,
            "of them from one address (IPv6: /56), alike"),
    KEY_U64(network, max_connections, 1, 1000000, 10000,
            "Established connections; more are refused"),
    KEY_U64(network, keepalive_interval_secs, 0, 3600, 30,
            "Ping idle connections this often; 0 = off"),
    KEY_U64(network, write_timeout_secs, 0, 3600, 30,
            "close a peer that takes no output this long; 0: off"),
    KEY_U64(network, shutdown_grace_secs, 0, 3600, 30,
            "after SIGTERM: circuits may run this long before the relay closes; 0: at once"),
    {"network", "external_addrs", K_ADDRLIST, C_NONE, FIELD(network, external_addrs),
     RLY_CONFIG_ADDR_MAX, 0, RLY_CONFIG_MAX_EXTERNAL, 0, NULL,
     "Announced addresses, e.g. [\"/dns4/relay.example.com/tcp/4001\"]"},
    {"auth", "auth_token", K_STR, C_TOKEN, FIELD(auth, auth_token), RLY_CONFIG_TOKEN_MAX, 0, 0, 0,
     RLY_DEFAULT_AUTH_TOKEN, "Shared secret for token validation"},
    {"auth", "auth_enabled", K_BOOL, C_NONE, FIELD(auth, auth_enabled), 0, 0, 0, 0, NULL,
     "Enable for production"},
    {"auth", "control_plane_keys", K_PEERS, C_ED25519, FIELD(auth, control_plane_keys), 0, 0,
     RLY_CONFIG_MAX_CP_KEYS, 0, NULL, "PeerIds of keys whose signed tokens are accepted"},
    {"auth", "revoked_tokens_file", K_STR, C_NONE, FIELD(auth, revoked_tokens_file),
     RLY_CONFIG_PATH_MAX, 0, 0, 0, "", "revoked token ids, one per line; \"\": none"},
    {"auth", "classes", K_CLASSES, C_NONE, FIELD(auth, classes), 0, 0, RLY_AUTH_MAX_CLASSES, 0,
     NULL, "e.g. [\"gold: max_circuit_duration_secs=3600\"]"},
    KEY_ADDR(metrics, listen_addr, C_TCPANY, "/ip4/127.0.0.1/tcp/9464",
             "HTTP /metrics, /healthz, /readyz, /addrs (\"\": off)"),
    KEY_U64(limits, max_connections_per_ip, 0, 1000000, 64,
            "established connections per address (IPv6: per /56); 0: no cap"),
    KEY_U64(limits, max_reservations_per_ip, 0, 1000000, 8, "reservations per address; 0: no cap"),
    KEY_U64(limits, reservation_rate_per_peer, 0, 1000000, 30,
            "RESERVE per minute per peer (burst as many); 0: no limit"),
    KEY_U64(limits, reservation_rate_per_ip, 0, 1000000, 120, "RESERVE per minute per address"),
    KEY_U64(limits, circuit_rate_per_peer, 0, 1000000, 120, "CONNECT per minute per peer"),
    KEY_U64(limits, circuit_rate_per_ip, 0, 1000000, 600, "CONNECT per minute per address"),
    {"limits", "exempt_cidrs", K_CIDRS, C_NONE, offsetof(rly_config, limits.exempt), 0, 0,
     RLY_ACL_MAX, 0, DEFAULT_EXEMPT, "addresses never limited"},
    {"limits", "max_memory_mb", K_U64, C_RANGE, offsetof(rly_config, max_memory_mb), 0, 0,
     RLY_CONFIG_MEMORY_MB_MAX, 0, NULL,
     "MiB; above it new work is refused. 0: 1/8 of physical memory, 128..4096"},
    KEY_ACL(reserve_allow_peers, K_PEERS, "PeerIds that may reserve ([] and no CIDRs: all)"),
    KEY_ACL(reserve_allow_cidrs, K_CIDRS, "addresses that may reserve, e.g. \"10.0.0.0/8\""),
    KEY_ACL(connect_allow_peers, K_PEERS, "PeerIds that may connect through the relay"),
    KEY_ACL(connect_allow_cidrs, K_CIDRS, "addresses that may connect through the relay"),
    KEY_ACL(deny_peers, K_PEERS, "PeerIds refused at connection time"),
    KEY_ACL(deny_cidrs, K_CIDRS, "addresses refused at connection time"),
    KEY_ACL(trusted_peers, K_PEERS, "PeerIds whose circuits have no duration or data limit"),
    {"logging", "level", K_LEVEL, C_NONE, FIELD(logging, level), 0, 0, 0, 0, "info",
     "trace, debug, info, warn, error"},
    {"logging", "log_format", K_FORMAT, C_NONE, FIELD(logging, format), 0, 0, 0, 0, "pretty",
     "pretty (human-readable) or json (structured)"},
};

_Static_assert(sizeof(keys) / sizeof(keys[0]) == RLY_CONFIG_NKEYS, "RLY_CONFIG_NKEYS");

typedef struct sectiondesc {
    const char *name;
    const char *doc; /* comment lines under the header, or NULL */
} sectiondesc;

static const sectiondesc sections[] = {
    {"relay", "# Resource limits."},
    {"network", "# Listen multiaddrs (\"\" disables a listener; at least one TCP listener must "
                "stay enabled)\n# and connection limits."},
    {"auth", "# IMPORTANT: change auth_token before enabling authentication in production!"},
    {"metrics",
     "# Prometheus metrics and health checks over HTTP; keep it on loopback or firewalled."},
    {"limits", "# Per-address caps and rates (0: none); IPv6 addresses count per /56. And the\n"
               "# memory budget of the whole relay."},
    {"acl", "# Access control: PeerIds (\"12D3KooW...\") and CIDRs (\"203.0.113.0/24\", "
            "\"2001:db8::/32\"),\n"
            "# at most 128 per list. Deny wins over allow."},
    {"logging", NULL},
};

/* Where messages go, and the file name that prefixes them. */
typedef struct ctx {
    const char *name;
    char *errmsg;
    size_t errcap;
} ctx;

static int clip(size_t n)
{
    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

static int clip_str(const char *s)
{
    return clip(strlen(s));
}

__attribute__((format(printf, 3, 0))) static void vmsg(const ctx *x, size_t at, const char *fmt,
                                                       va_list ap)
{
    if (!x->errmsg || x->errcap <= at)
        return;
    vsnprintf(x->errmsg + at, x->errcap - at, fmt, ap);
    /* One line, whatever a quoted value holds (a TOML "\n" escape, a byte from the environment). */
    for (char *p = x->errmsg + at; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* errf writes a message without a prefix and returns |code|. */
__attribute__((format(printf, 3, 4))) static int errf(const ctx *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(x, 0, fmt, ap);
    va_end(ap);
    return code;
}

/* cfg_err writes "NAME:LINE: <message>" ("NAME: " when |line| is 0) and returns RLY_ERR_CONFIG. */
__attribute__((format(printf, 3, 4))) static int cfg_err(const ctx *x, uint32_t line,
                                                         const char *fmt, ...)
{
    int n = 0;
    va_list ap;
    if (!x->errmsg || x->errcap == 0)
        return RLY_ERR_CONFIG;
    if (line)
        n = snprintf(x->errmsg, x->errcap, "%s:%u: ", x->name, line);
    else
        n = snprintf(x->errmsg, x->errcap, "%s: ", x->name);
    va_start(ap, fmt);
    if (n >= 0)
        vmsg(x, (size_t)n, fmt, ap);
    va_end(ap);
    return RLY_ERR_CONFIG;
}

static void *field(rly_config *c, const keydesc *k)
{
    return (char *)c + k->off;
}

static const void *cfield(const rly_config *c, const keydesc *k)
{
    return (const char *)c + k->off;
}

static const sectiondesc *find_section(const char *name)
{
    for (size_t i = 0; i < RLY_ARRAY_LEN(sections); i++) {
        if (strcmp(sections[i].name, name) == 0)
            return &sections[i];
    }
    return NULL;
}

/* find_key returns the descriptor of |key| in |section| (NULL: in any section). */
static const keydesc *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
        if ((!section || strcmp(keys[i].section, section) == 0) && strcmp(keys[i].key, key) == 0)
            return &keys[i];
    }
    return NULL;
}

/* edit_distance is the Levenshtein distance between |a| (any length) and the schema name |b|,
 * ignoring case. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t nb = strlen(b);
    size_t row[NAME_MAX_LEN + 1];
    RLY_ASSERT(nb <= NAME_MAX_LEN);
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1] != '\0'; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* closeness returns how far |typed| is from the valid name |cand|, or SIZE_MAX if too far to
 * suggest. A name that contains the other (log_level vs level) counts as close. */
static size_t closeness(const char *typed, const char *cand)
{
    size_t d = edit_distance(typed, cand);
    size_t limit = strlen(cand) / 3;
    if (limit < 2)
        limit = 2;
    if (d <= limit)
        return d;
    if (strlen(typed) >= 3 && (strstr(typed, cand) || strstr(cand, typed)))
        return limit + 1;
    return SIZE_MAX;
}

/* nearest_key returns the closest key to |typed| in |section| (NULL: any section) or NULL. */
static const keydesc *nearest_key(const char *section, const char *typed)
{
    const keydesc *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
        if (section && strcmp(keys[i].section, section) != 0)
            continue;
        size_t d = closeness(typed, keys[i].key);
        if (d < best_d) {
            best_d = d;
            best = &keys[i];
        }
    }
    return best;
}

static const char *nearest_section(const char *typed)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < RLY_ARRAY_LEN(sections); i++) {
        size_t d = closeness(typed, sections[i].name);
        if (d < best_d) {
            best_d = d;
            best = sections[i].name;
        }
    }
    return best;
}

/* key_list writes the keys of |section| as "a, b, c" into |out|. */
static void key_list(const char *section, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys) && n < cap; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", keys[i].key);
        n += w > 0 ? (size_t)w : 0;
    }
}

static int unknown_section(const ctx *x, const rly_toml_table *t)
{
    const char *near = nearest_section(t->name);
    if (near)
        return cfg_err(x, t->line, "unknown section [%.*s] (did you mean [%s]?)", clip_str(t->name),
                       t->name, near);
    return cfg_err(x, t->line,
                   "unknown section [%.*s] (valid sections: [relay], [network], [auth], "
                   "[metrics], [limits], [acl], [logging])",
                   clip_str(t->name), t->name);
}

static int unknown_key(const ctx *x, const char *section, const rly_toml_entry *e)
{
    const keydesc *elsewhere = find_key(NULL, e->key);
    const keydesc *near = nearest_key(section, e->key);
    char list[256];
    if (elsewhere)
        return cfg_err(x, e->line, "unknown key '%s' in [%s] (it belongs in [%s])", e->key, section,
                       elsewhere->section);
    if (near)
        return cfg_err(x, e->line, "unknown key '%.*s' in [%s] (did you mean '%s'?)",
                       clip_str(e->key), e->key, section, near->key);
    key_list(section, list, sizeof(list));
    return cfg_err(x, e->line, "unknown key '%.*s' in [%s] (valid keys: %s)", clip_str(e->key),
                   e->key, section, list);
}

/* root_key reports a key that appears before any [section]. */
static int root_key(const ctx *x, const rly_toml_entry *e)
{
    const keydesc *k = find_key(NULL, e->key);
    if (k)
        return cfg_err(x, e->line, "key '%s' must be in a section: put it under [%s]", e->key,
                       k->section);
    k = nearest_key(NULL, e->key);
    if (k)
        return cfg_err(x, e->line,
                       "unknown key '%.*s' outside any section (did you mean '%s' in [%s]?)",
                       clip_str(e->key), e->key, k->key, k->section);
    return cfg_err(x, e->line,
                   "unknown key '%.*s' outside any section (keys belong in [relay], [network], "
                   "[auth], [metrics], [limits], [acl] or [logging])",
                   clip_str(e->key), e->key);
}

static rly_toml_type toml_type_of(ktype t)
{
    switch (t) {
    case K_U64: return RLY_TOML_INTEGER;
    case K_BOOL: return RLY_TOML_BOOLEAN;
    case K_STR:
    case K_LEVEL:
    case K_FORMAT: return RLY_TOML_STRING;
    case K_ADDRLIST:
    case K_PEERS:
    case K_CIDRS:
    case K_CLASSES: return RLY_TOML_ARRAY;
    }
    return RLY_TOML_STRING;
}

static int wrong_type(const ctx *x, const keydesc *k, const rly_toml_entry *e)
{
    static const char *const wanted[] = {
        [RLY_TOML_STRING] = "a string",
        [RLY_TOML_INTEGER] = "an integer",
        [RLY_TOML_BOOLEAN] = "a boolean (true or false)",
        [RLY_TOML_ARRAY] = "an array",
    };
    return cfg_err(x, e->line, "[%s] %s must be %s, got %s", k->section, k->key,
                   wanted[toml_type_of(k->type)], rly_toml_type_name(e->value.type));
}

static int out_of_range(const ctx *x, const keydesc *k, uint32_t line, const char *value)
{
    return cfg_err(x, line, "[%s] %s = %s is out of range (allowed %llu..%llu)", k->section, k->key,
                   value, (unsigned long long)k->min, (unsigned long long)k->max);
}

static int format_parse(const char *s, rly_log_format *pf)
{
    if (strcmp(s, "pretty") == 0)
        *pf = RLY_LOG_FORMAT_PRETTY;
    else if (strcmp(s, "json") == 0)
        *pf = RLY_LOG_FORMAT_JSON;
    else
        return RLY_ERR_INVALID_ARG;
    return 0;
}

/* store_string sets the K_STR, K_LEVEL or K_FORMAT key |k| from |s| (|len| bytes). */
static int store_string(rly_config *c, const keydesc *k, const char *s, size_t len, uint32_t line,
                        const ctx *x)
{
    rly_log_level lvl;
    /* "off" is not an operator level (SPEC.md lists five): the relay always reports errors. */
    if (k->type == K_LEVEL && (rly_log_level_parse(s, &lvl) != 0 || lvl == RLY_LOG_OFF))
        return cfg_err(x, line,
                       "[%s] %s = \"%.*s\" is not valid (allowed trace, debug, info, warn, "
                       "error)",
                       k->section, k->key, clip(len), s);
    if (k->type == K_LEVEL)
        *(rly_log_level *)field(c, k) = lvl;
    if (k->type == K_FORMAT && format_parse(s, field(c, k)) != 0)
        return cfg_err(x, line, "[%s] %s = \"%.*s\" is not valid (allowed pretty, json)",
                       k->section, k->key, clip(len), s);
    if (k->type != K_STR)
        return 0;
    if (len >= k->size)
        return cfg_err(x, line, "[%s] %s is too long (%zu bytes, at most %zu)", k->section, k->key,
                       len, k->size - 1);
    memcpy(field(c, k), s, len);
    ((char *)field(c, k))[len] = '\0';
    return 0;
}

/* store_list sets external_addrs, the one list key, from a TOML array of strings. */
static int store_list(rly_config *c, const keydesc *k, const rly_toml_value *v, uint32_t line,
                      const ctx *x)
{
    if (v->v.arr.len > k->max)
        return cfg_err(x, line, "[%s] %s lists %zu addresses (at most %llu)", k->section, k->key,
                       v->v.arr.len, (unsigned long long)k->max);
    for (size_t i = 0; i < v->v.arr.len; i++) {
        const rly_toml_string *item = &v->v.arr.items[i];
        if (item->len >= k->size)
            return cfg_err(x, line, "[%s] %s: entry %zu is too long (at most %zu bytes)",
                           k->section, k->key, i + 1, k->size - 1);
        memcpy(c->network.external_addrs[i], item->ptr, item->len);
        c->network.external_addrs[i][item->len] = '\0';
    }
    c->network.nexternal_addrs = v->v.arr.len;
    return 0;
}

/* store_acl parses a PeerId or CIDR list key; a bad entry is named by its position and text. */
static int store_acl(rly_config *c, const keydesc *k, const rly_toml_value *v, uint32_t line,
                     const ctx *x)
{
    bool peers = k->type == K_PEERS;
    if (v->v.arr.len > k->max)
        return cfg_err(x, line, "[%s] %s lists %zu entries (at most %llu)", k->section, k->key,
                       v->v.arr.len, (unsigned long long)k->max);
    for (size_t i = 0; i < v->v.arr.len; i++) {
        const rly_toml_string *item = &v->v.arr.items[i];
        int rv =
            peers
                ? rly_peerid_parse(&((rly_peer_list *)field(c, k))->items[i], item->ptr, item->len)
                : rly_cidr_parse(&((rly_cidr_list *)field(c, k))->items[i], item->ptr, item->len);
        if (rv != 0)
            return cfg_err(x, line, "[%s] %s: entry %zu \"%.*s\" is not a %s", k->section, k->key,
                           i + 1, clip(item->len), item->ptr,
                           peers ? "PeerId (12D3KooW... or Qm...)"
                                 : "CIDR (203.0.113.0/24, 2001:db8::/32 or one address)");
    }
    if (peers)
        ((rly_peer_list *)field(c, k))->n = v->v.arr.len;
    else
        ((rly_cidr_list *)field(c, k))->n = v->v.arr.len;
    return 0;
}

/* store_classes parses the limits class profiles; a bad one is named by its position and why. */
static int store_classes(rly_config *c, const keydesc *k, const rly_toml_value *v, uint32_t line,
                         const ctx *x)
{
    rly_auth_class_list *l = field(c, k);
    char why[200];
    if (v->v.arr.len > k->max)
        return cfg_err(x, line, "[%s] %s lists %zu entries (at most %llu)", k->section, k->key,
                       v->v.arr.len, (unsigned long long)k->max);
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < v->v.arr.len; i++) {
        const rly_toml_string *item = &v->v.arr.items[i];
        if (rly_auth_class_parse(item->ptr, item->len, &l->items[i], why, sizeof(why)) != 0)
            return cfg_err(x, line, "[%s] %s: entry %zu: %s", k->section, k->key, i + 1, why);
        if (rly_auth_class_find(l, l->items[i].name)) /* among the first i */
            return cfg_err(x, line, "[%s] %s: entry %zu: class '%s' is defined twice", k->section,
                           k->key, i + 1, l->items[i].name);
        l->n = i + 1;
    }
    return 0;
}

static int apply_entry(rly_config *c, const char *section, const rly_toml_entry *e, const ctx *x)
{
    const rly_toml_value *v = &e->value;
    if (section[0] == '\0')
        return root_key(x, e);
    const keydesc *k = find_key(section, e->key);
    if (!k)
        return unknown_key(x, section, e);
    if (v->type != toml_type_of(k->type))
        return wrong_type(x, k, e);
    int rv = 0;
    if (k->type == K_U64 && v->v.i < 0) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)v->v.i);
        rv = out_of_range(x, k, e->line, num);
    } else if (k->type == K_U64) {
        *(uint64_t *)field(c, k) = (uint64_t)v->v.i;
    } else if (k->type == K_BOOL) {
        *(bool *)field(c, k) = v->v.b;
    } else if (k->type == K_ADDRLIST) {
        rv = store_list(c, k, v, e->line, x);
    } else if (k->type == K_PEERS || k->type == K_CIDRS) {
        rv = store_acl(c, k, v, e->line, x);
    } else if (k->type == K_CLASSES) {
        rv = store_classes(c, k, v, e->line, x);
    } else {
        rv = store_string(c, k, v->v.s.ptr, v->v.s.len, e->line, x);
    }
    if (rv == 0) {
        c->src_line[k - keys] = e->line;
        c->src[k - keys] = RLY_CONFIG_SRC_FILE;
    }
    return rv;
}

static int check_table(const ctx *x, const rly_toml_table *t)
{
    return find_section(t->name) ? 0 : unknown_section(x, t);
}

/* apply_doc applies every entry of |doc| in file order, checking each [section] header before
 * the first entry after it, so the first problem in the file is the one reported. */
static int apply_doc(rly_config *c, const rly_toml_doc *doc, const ctx *x)
{
    size_t t = 1;
    int rv = 0;
    for (size_t i = 0; i < doc->nentries && rv == 0; i++) {
        const rly_toml_entry *e = &doc->entries[i];
        for (; t < doc->ntables && doc->tables[t].line < e->line && rv == 0; t++)
            rv = check_table(x, &doc->tables[t]);
        if (rv == 0)
            rv = apply_entry(c, doc->tables[e->table].name, e, x);
    }
    for (; t < doc->ntables && rv == 0; t++)
        rv = check_table(x, &doc->tables[t]);
    return rv;
}

/* default_cidrs fills |l| from |text|, comma-separated CIDRs (built in: always valid). */
static void default_cidrs(rly_cidr_list *l, const char *text)
{
    l->n = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        RLY_ASSERT(l->n < RLY_ACL_MAX && rly_cidr_parse(&l->items[l->n++], p, n) == 0);
        p += n + (p[n] == ',');
    }
}

/* The bytes a key's value takes in rly_config. */
static size_t value_size(const keydesc *k)
{
    switch (k->type) {
    case K_U64: return sizeof(uint64_t);
    case K_BOOL: return sizeof(bool);
    case K_STR: return k->size;
    case K_LEVEL: return sizeof(rly_log_level);
    case K_FORMAT: return sizeof(rly_log_format);
    case K_ADDRLIST: return 0; /* compared below */
    case K_PEERS: return sizeof(rly_peer_list);
    case K_CIDRS: return sizeof(rly_cidr_list);
    case K_CLASSES: return sizeof(rly_auth_class_list);
    }
    return 0;
}

size_t rly_config_changed(const rly_config *a, const rly_config *b,
                          void (*fn)(void *ud, const char *section, const char *key), void *ud)
{
    size_t n = 0;
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
        const keydesc *k = &keys[i];
        bool differ;
        if (k->type == K_ADDRLIST)
            differ = a->network.nexternal_addrs != b->network.nexternal_addrs ||
                     memcmp(a->network.external_addrs, b->network.external_addrs,
                            sizeof(a->network.external_addrs)) != 0;
        else if (k->type == K_STR)
            differ = strncmp(cfield(a, k), cfield(b, k), k->size) != 0;
        else
            differ = memcmp(cfield(a, k), cfield(b, k), value_size(k)) != 0;
        if (differ) {
            n++;
            fn(ud, k->section, k->key);
        }
    }
    return n;
}

void rly_config_defaults(rly_config *c)
{
    static const ctx quiet = {.name = "built-in defaults"};
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
        const keydesc *k = &keys[i];
        if (k->type == K_U64)
            *(uint64_t *)field(c, k) = k->def_u;
        else if (k->type == K_BOOL)
            *(bool *)field(c, k) = k->def_u != 0;
        else if (k->type == K_CIDRS && k->def_s)
            default_cidrs((rly_cidr_list *)field(c, k), k->def_s);
        else if (k->type != K_ADDRLIST && k->type != K_PEERS && k->type != K_CIDRS &&
                 k->type != K_CLASSES)
            /* lists default to empty: the memset */
            RLY_ASSERT(store_string(c, k, k->def_s, strlen(k->def_s), 0, &quiet) == 0);
    }
}

int rly_config_load_string(rly_config *c, const char *text, size_t len, const char *name,
                           char *errmsg, size_t errcap)
{
    ctx x = {.name = name ? name : "config", .errmsg = errmsg, .errcap = errcap};
    rly_toml_limits limits;
    rly_toml_doc doc;
    rly_toml_error terr;
    rly_config tmp;
    if (len > RLY_CONFIG_FILE_MAX)
        return cfg_err(&x, 0, "configuration is too large (%zu bytes, at most %d)", len,
                       RLY_CONFIG_FILE_MAX);
    rly_toml_limits_default(&limits);
    limits.total_max = RLY_CONFIG_FILE_MAX;
    int rv = rly_toml_parse(text, len, NULL, &limits, &doc, &terr);
    if (rv == RLY_ERR_NOMEM)
        return errf(&x, rv, "%s: out of memory", x.name);
    if (rv)
        return errf(&x, RLY_ERR_CONFIG, "%s:%u:%u: %s", x.name, terr.line, terr.col, terr.msg);
    tmp = *c;
    rv = apply_doc(&tmp, &doc, &x);
    rly_toml_doc_free(&doc);
    if (rv == 0)
        *c = tmp;
    rly_zeroize(&tmp, sizeof(tmp));
    return rv;
}

/* read_all reads |f| (opened from |path|) into |b|. */
static int read_all(FILE *f, const char *path, rly_dynbuf *b, const ctx *x)
{
    char chunk[4096];
    int rv = 0;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        int saved = errno;
        if (n > 0 && (rv = rly_dynbuf_append(b, chunk, n)) != 0)
            break;
        if (n < sizeof(chunk) && ferror(f)) {
            rv =
                errf(x, RLY_ERR_IO, "Cannot read configuration file %s: %s", path, strerror(saved));
            break;
        }
        if (n < sizeof(chunk))
            break;
    }
    rly_zeroize(chunk, sizeof(chunk));
    if (rv == RLY_ERR_NOBUF)
        return errf(x, RLY_ERR_CONFIG, "Configuration file %s is too large (more than %d bytes)",
                    path, RLY_CONFIG_FILE_MAX);
    if (rv == RLY_ERR_NOMEM)
        return errf(x, rv, "Cannot read configuration file %s: out of memory", path);
    return rv;
}

int rly_config_load_file(rly_config *c, const char *path, char *errmsg, size_t errcap)
{
    ctx x = {.name = path, .errmsg = errmsg, .errcap = errcap};
    rly_dynbuf b;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT)
        return errf(&x, RLY_ERR_NOT_FOUND, "Configuration file not found: %s", path);
    if (!f)
        return errf(&x, RLY_ERR_IO, "Cannot open configuration file %s: %s", path, strerror(errno));
    rly_dynbuf_init(&b, NULL, RLY_CONFIG_FILE_MAX);
    int rv = read_all(f, path, &b, &x);
    fclose(f);
    if (rv == 0)
        rv = rly_config_load_string(c, rly_dynbuf_cstr(&b), b.len, path, errmsg, errcap);
    if (b.data)
        rly_zeroize(b.data, b.len);
    rly_dynbuf_free(&b);
    return rv;
}

/* addr_shape returns the expected form of a listen address key. */
static const char *addr_shape(kcheck check)
{
    switch (check) {
    case C_TCP4: return "/ip4/<address>/tcp/<port>";
    case C_TCP6: return "/ip6/<address>/tcp/<port>";
    case C_TCPANY: return "/ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>";
    case C_QUIC4: return "/ip4/<address>/udp/<port>/quic-v1";
    case C_QUIC6: return "/ip6/<address>/udp/<port>/quic-v1";
    default: return "";
    }
}

static bool addr_has_shape(const rly_multiaddr *ma, kcheck check)
{
    struct sockaddr_storage ss;
    uint32_t transport = 0;
    bool is_quic = false;
    bool want_v6 = check == C_TCP6 || check == C_QUIC6;
    bool want_quic = check == C_QUIC4 || check == C_QUIC6;
    memset(&ss, 0, sizeof(ss));
    if (rly_multiaddr_to_sockaddr(ma, &ss, &transport, &is_quic) != 0)
        return false;
    if (check == C_TCPANY)
        return transport == RLY_MA_TCP && !rly_multiaddr_has(ma, RLY_MA_P2P);
    return ss.ss_family == (want_v6 ? AF_INET6 : AF_INET) &&
           transport == (want_quic ? RLY_MA_UDP : RLY_MA_TCP) && is_quic == want_quic &&
           !rly_multiaddr_has(ma, RLY_MA_P2P);
}

static int check_addr(const ctx *x, const keydesc *k, const char *s, uint32_t line)
{
    rly_multiaddr ma;
    if (s[0] == '\0')
        return 0;
    int rv = rly_multiaddr_parse(&ma, s);
    if (rv)
        return cfg_err(x, line,
                       "[%s] %s = \"%.*s\" is not a valid multiaddr (%s); expected %s, or \"\" "
                       "to disable",
                       k->section, k->key, clip_str(s), s,
                       rv == RLY_ERR_UNSUPPORTED ? "unknown protocol" : rly_strerror(rv),
                       addr_shape(k->check));
    if (!addr_has_shape(&ma, k->check))
        return cfg_err(x, line,
                       "[%s] %s = \"%.*s\" has the wrong form: expected %s, or \"\" to "
                       "disable",
                       k->section, k->key, clip_str(s), s, addr_shape(k->check));
    return 0;
}

static int check_string(const ctx *x, const keydesc *k, const char *s, uint32_t line)
{
    size_t len = strnlen(s, k->size);
    if (len == k->size)
        return cfg_err(x, line, "[%s] %s is too long (at most %zu bytes)", k->section, k->key,
                       k->size - 1);
    if (k->check == C_TOKEN && len == 0)
        return cfg_err(x, line, "[%s] %s must not be empty", k->section, k->key);
    if (k->check == C_TOKEN || k->check == C_NONE)
        return 0;
    return check_addr(x, k, s, line);
}

/* An announced address: /ip4|ip6|dns|dns4|dns6/<host>, then /tcp/<port> or
 * /udp/<port>/quic-v1, and nothing else (the relay appends /p2p/<its id> itself). */
static bool announce_shape(const rly_multiaddr *ma)
{
    static const uint32_t hosts[] = {RLY_MA_IP4, RLY_MA_IP6, RLY_MA_DNS, RLY_MA_DNS4, RLY_MA_DNS6};
    rly_ma_component comp[4];
    size_t off = 0, n = 0;
    int rv;
    while (n < 4 && (rv = rly_multiaddr_next(ma->bytes, ma->len, &off, &comp[n])) == 1)
        n++;
    if (n < 2 || n > 3 || off != ma->len)
        return false;
    bool host = false;
    for (size_t i = 0; i < RLY_ARRAY_LEN(hosts); i++)
        host = host || comp[0].code == hosts[i];
    if (!host)
        return false;
    if (n == 2)
        return comp[1].code == RLY_MA_TCP;
    return comp[1].code == RLY_MA_UDP && comp[2].code == RLY_MA_QUIC_V1;
}

static int check_list(const rly_config *c, const keydesc *k, uint32_t line, const ctx *x)
{
    for (size_t i = 0; i < c->network.nexternal_addrs; i++) {
        const char *s = c->network.external_addrs[i];
        rly_multiaddr ma;
        int rv = rly_multiaddr_parse(&ma, s);
        if (rv)
            return cfg_err(x, line, "[%s] %s: \"%.*s\" is not a valid multiaddr (%s)", k->section,
                           k->key, clip_str(s), s,
                           rv == RLY_ERR_UNSUPPORTED ? "unknown protocol" : rly_strerror(rv));
        if (!announce_shape(&ma))
            return cfg_err(x, line,
                           "[%s] %s: \"%.*s\" has the wrong form: expected "
                           "/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port> or .../udp/<port>/quic-v1, "
                           "without /p2p",
                           k->section, k->key, clip_str(s), s);
    }
    return 0;
}

/* env_name writes the environment variable of |k|: MESH_RELAY_<SECTION>_<KEY>, upper case. */
static void env_name(const keydesc *k, char *out, size_t cap)
{
    int n = snprintf(out, cap, RLY_CONFIG_ENV_PREFIX "%s_%s", k->section, k->key);
    for (int i = 0; n > 0 && i < n && (size_t)i < cap; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

/* Messages about a key name where its value came from: the file (and line) in |x|, or the
 * environment variable or --set option, written into |buf| for |tmp|. */
typedef struct origin_ctx {
    ctx tmp;
    char buf[96];
} origin_ctx;

static const ctx *origin_of(const rly_config *c, const keydesc *k, const ctx *x, origin_ctx *o,
                            uint32_t *line)
{
    uint8_t src = c->src[k - keys];
    *line = c->src_line[k - keys];
    if (src != RLY_CONFIG_SRC_ENV && src != RLY_CONFIG_SRC_SET)
        return x;
    if (src == RLY_CONFIG_SRC_ENV) {
        char name[80];
        env_name(k, name, sizeof(name));
        snprintf(o->buf, sizeof(o->buf), "environment %s", name);
    } else {
        snprintf(o->buf, sizeof(o->buf), "--set %s.%s", k->section, k->key);
    }
    o->tmp = *x;
    o->tmp.name = o->buf;
    *line = 0;
    return &o->tmp;
}

/* check_ed25519: every PeerId of |k| must inline an Ed25519 public key (12D3KooW...). */
static int check_ed25519(const rly_config *c, const keydesc *k, uint32_t line, const ctx *x)
{
    const rly_peer_list *l = cfield(c, k);
    for (size_t i = 0; i < l->n; i++) {
        rly_pubkey pk;
        if (rly_pubkey_from_peerid(&pk, &l->items[i]) != 0 || pk.type != RLY_KEY_ED25519) {
            char pid[RLY_PEERID_STR_MAX];
            if (rly_peerid_to_string(&l->items[i], pid, sizeof(pid)) < 0)
                pid[0] = '\0';
            return cfg_err(
                x, line,
                "[%s] %s: entry %zu %s is not the PeerId of an Ed25519 key (12D3KooW...; "
                "relay-server --control-plane-keygen prints one)",
                k->section, k->key, i + 1, pid);
        }
    }
    return 0;
}

static int check_key(const rly_config *c, const keydesc *k, const ctx *file_ctx)
{
    origin_ctx o;
    uint32_t line;
    const ctx *x = origin_of(c, k, file_ctx, &o, &line);
    char num[24];
    switch (k->type) {
    case K_U64: {
        uint64_t v = *(const uint64_t *)cfield(c, k);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
        return v < k->min || v > k->max ? out_of_range(x, k, line, num) : 0;
    }
    case K_STR: return check_string(x, k, cfield(c, k), line);
    case K_LEVEL:
        if (c->logging.level > RLY_LOG_TRACE)
            return cfg_err(x, line, "[%s] %s has an invalid value", k->section, k->key);
        return 0;
    case K_FORMAT:
        if (c->logging.format != RLY_LOG_FORMAT_PRETTY && c->logging.format != RLY_LOG_FORMAT_JSON)
            return cfg_err(x, line, "[%s] %s has an invalid value", k->section, k->key);
        return 0;
    case K_BOOL: return 0;
    case K_ADDRLIST: return check_list(c, k, line, x);
    case K_PEERS: return k->check == C_ED25519 ? check_ed25519(c, k, line, x) : 0;
    case K_CIDRS:
    case K_CLASSES: return 0; /* parsed as they were stored */
    }
    return 0;
}

/* set_by tells whether [section] key was set by the file, the environment or --set. */
static bool set_by(const rly_config *c, const char *section, const char *key)
{
    const keydesc *k = find_key(section, key);
    RLY_ASSERT(k != NULL);
    return c->src[k - keys] != RLY_CONFIG_SRC_DEFAULT;
}

/* The context and line for a message about [section] key (origin_of). */
static const ctx *where(const rly_config *c, const char *section, const char *key, const ctx *x,
                        origin_ctx *o, uint32_t *line)
{
    const keydesc *k = find_key(section, key);
    RLY_ASSERT(k != NULL);
    return origin_of(c, k, x, o, line);
}

bool rly_config_warn_exposed_token(const rly_config *c, const char *path, const rly_log *log)
{
    struct stat st;
    char mode[8], fix[4096 + 16]; /* "chmod o-r " and a path of up to PATH_MAX */
    const keydesc *tok = find_key("auth", "auth_token");
    if (c->src[tok - keys] != RLY_CONFIG_SRC_FILE ||
        strcmp(c->auth.auth_token, RLY_DEFAULT_AUTH_TOKEN) == 0 || stat(path, &st) != 0 ||
        (st.st_mode & S_IROTH) == 0)
        return false;
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
    snprintf(fix, sizeof(fix), "chmod o-r %s", path);
    RLY_LOGW(log, RLY_TARGET_CONFIG,
             RLY_MSG("The configuration file holds [auth] auth_token and others can read it: "
                     "anyone on this machine could authenticate to the relay"),
             RLY_F_STR("path", path), RLY_F_STR("mode", mode), RLY_F_STR("fix", fix));
    return true;
}

/* check_cross checks the rules that involve two keys. */
static int check_cross(const rly_config *c, const ctx *file_ctx)
{
    origin_ctx o;
    uint32_t line;
    const ctx *x;
    /* Only a per-peer value that is set (file, environment, --set) is held to the global one:
     * the default (5) simply gives way to a smaller max_reservations
     * (rly_config_reservations_per_peer). */
    x = where(c, "relay", "max_reservations_per_peer", file_ctx, &o, &line);
    if (set_by(c, "relay", "max_reservations_per_peer") &&
        c->relay.max_reservations_per_peer > c->relay.max_reservations)
        return cfg_err(x, line,
                       "[relay] max_reservations_per_peer = %llu must not be greater than "
                       "max_reservations = %llu",
                       (unsigned long long)c->relay.max_reservations_per_peer,
                       (unsigned long long)c->relay.max_reservations);
    x = where(c, "network",
              set_by(c, "network", "tcp_listen_addr") ? "tcp_listen_addr" : "tcp_listen_addr_v6",
              file_ctx, &o, &line);
    if (c->network.tcp_listen_addr[0] == '\0' && c->network.tcp_listen_addr_v6[0] == '\0')
        return cfg_err(x, line,
                       "[network] tcp_listen_addr and tcp_listen_addr_v6 are both empty; at "
                       "least one TCP listener must be enabled");
    if (c->auth.auth_enabled) {
        size_t n = strlen(c->auth.auth_token);
        bool is_default = strcmp(c->auth.auth_token, RLY_DEFAULT_AUTH_TOKEN) == 0;
        x = where(c, "auth", set_by(c, "auth", "auth_token") ? "auth_token" : "auth_enabled",
                  file_ctx, &o, &line);
        /* With control-plane keys, the default auth_token means: no shared secret (signed
         * tokens only). */
        if (is_default && c->auth.control_plane_keys.n == 0)
            return cfg_err(x, line,
                           "[auth] auth_enabled = true with the default auth_token %s and no "
                           "control_plane_keys: anyone who read the docs could authenticate; set "
                           "control_plane_keys (signed tokens) or auth_token to a random secret of "
                           "at least %d bytes (e.g. the output of 'openssl rand -hex 32')",
                           RLY_DEFAULT_AUTH_TOKEN, RLY_AUTH_SECRET_MIN);
        if (!is_default && n < RLY_AUTH_SECRET_MIN)
            return cfg_err(x, line,
                           "[auth] auth_token is %zu bytes; with auth_enabled = true it must be "
                           "at least %d (e.g. the output of 'openssl rand -hex 32')",
                           n, RLY_AUTH_SECRET_MIN);
    }
    return 0;
}

bool rly_config_has_shared_secret(const rly_config *c)
{
    return strcmp(c->auth.auth_token, RLY_DEFAULT_AUTH_TOKEN) != 0;
}

uint64_t rly_config_reservations_per_peer(const rly_config *c)
{
    uint64_t per_peer = c->relay.max_reservations_per_peer;
    return per_peer < c->relay.max_reservations ? per_peer : c->relay.max_reservations;
}

int rly_config_validate(const rly_config *c, const char *name, char *errmsg, size_t errcap)
{
    ctx x = {.name = name ? name : "config", .errmsg = errmsg, .errcap = errcap};
    for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
        int rv = check_key(c, &keys[i], &x);
        if (rv)
            return rv;
    }
    return check_cross(c, &x);
}

/* put appends to the default text; the text is fixed, so running out of room is a bug. */
__attribute__((format(printf, 3, 4))) static void put(char *buf, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, DEFAULT_TEXT_MAX - *pos, fmt, ap);
    va_end(ap);
    RLY_ASSERT(n >= 0 && (size_t)n < DEFAULT_TEXT_MAX - *pos);
    *pos += (size_t)n;
}

static void put_key(char *buf, size_t *pos, const keydesc *k)
{
    size_t start = *pos;
    if (k->type == K_U64) {
        put(buf, pos, "%s = %llu", k->key, (unsigned long long)k->def_u);
    } else if (k->type == K_BOOL) {
        put(buf, pos, "%s = %s", k->key, k->def_u ? "true" : "false");
    } else if (k->type == K_CIDRS && k->def_s) {
        put(buf, pos, "%s = [", k->key);
        for (const char *p = k->def_s; *p;) {
            size_t n = strcspn(p, ",");
            put(buf, pos, "%s\"%.*s\"", p == k->def_s ? "" : ", ", (int)n, p);
            p += n + (p[n] == ',');
        }
        put(buf, pos, "]");
    } else if (k->type == K_ADDRLIST || k->type == K_PEERS || k->type == K_CIDRS ||
               k->type == K_CLASSES) {
        put(buf, pos, "%s = []", k->key);
    } else {
        /* Defaults are plain text: no quote or backslash that would need an escape. */
        RLY_ASSERT(strpbrk(k->def_s, "\"\\") == NULL);
        put(buf, pos, "%s = \"%s\"", k->key, k->def_s);
    }
    size_t w = *pos - start;
    put(buf, pos, "%*s# %s\n", (int)(w + 2 < COMMENT_COL ? COMMENT_COL - w : 2), "", k->doc);
}

uint64_t rly_config_memory_budget(const rly_config *c, uint64_t physical)
{
    uint64_t mb = c->max_memory_mb;
    if (mb == 0) {
        mb = physical / 8 / (1024 * 1024);
        if (mb < RLY_CONFIG_MEMORY_MB_AUTO_MIN)
            mb = RLY_CONFIG_MEMORY_MB_AUTO_MIN;
        if (mb > RLY_CONFIG_MEMORY_MB_AUTO_MAX)
            mb = RLY_CONFIG_MEMORY_MB_AUTO_MAX;
    }
    return mb * 1024 * 1024;
}

const char *rly_config_default_text(void)
{
    static char text[DEFAULT_TEXT_MAX];
    static bool is_built;
    size_t pos = 0;
    if (is_built)
        return text;
    put(text, &pos,
        "# Mesh Relay Server configuration (relay.toml).\n"
        "# Written by relay-server --generate-config: every value below is the "
        "built-in default.\n");
    for (size_t s = 0; s < RLY_ARRAY_LEN(sections); s++) {
        put(text, &pos, "\n[%s]\n", sections[s].name);
        if (sections[s].doc)
            put(text, &pos, "%s\n", sections[s].doc);
        for (size_t i = 0; i < RLY_ARRAY_LEN(keys); i++) {
            if (strcmp(keys[i].section, sections[s].name) == 0)
                put_key(text, &pos, &keys[i]);
        }
    }
    is_built = true;
    return text;
}

/* ---- overrides: MESH_RELAY_* and --set ------------------------------------------------------- */

/* Most items of a comma-separated list value: one more than any list key takes, so that a
 * longer list is reported as too long by store_list / store_acl. */
#define LIST_ITEMS_MAX (RLY_ACL_MAX + 1)

/* parse_u64 reads a decimal integer (digits only, no sign). Returns 0, or -1 when |s| is not
 * one, or -2 when it is one but does not fit. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static size_t trim(char **p, size_t len)
{
    while (len > 0 && isspace((unsigned char)**p)) {
        (*p)++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)(*p)[len - 1]))
        len--;
    return len;
}

/* store_list_value sets the list key |k| from |val|: a TOML array ("[...]"), or comma-separated
 * items (spaces around each trimmed; empty items skipped, so "" is the empty list). */
static int store_list_value(rly_config *c, const keydesc *k, char *val, size_t len, const ctx *x)
{
    rly_toml_string items[LIST_ITEMS_MAX];
    rly_toml_value v;
    rly_toml_doc doc;
    bool from_toml = false;
    int rv;
    char *p = val;
    size_t n = trim(&p, len);
    memset(&v, 0, sizeof(v));
    memset(&doc, 0, sizeof(doc));
    v.type = RLY_TOML_ARRAY;
    if (n > 0 && p[0] == '[') {
        /* "v = [...]" through the file's own parser: the same strings, escapes and limits. */
        rly_toml_limits limits;
        rly_toml_error terr;
        rly_dynbuf b;
        rly_dynbuf_init(&b, NULL, RLY_CONFIG_FILE_MAX);
        rv = rly_dynbuf_append_str(&b, "v = ");
        if (rv == 0)
            rv = rly_dynbuf_append(&b, p, n);
        if (rv != 0) {
            rly_dynbuf_free(&b);
            return cfg_err(x, 0, "[%s] %s: the value is too long", k->section, k->key);
        }
        rly_toml_limits_default(&limits);
        rv = rly_toml_parse(rly_dynbuf_cstr(&b), b.len, NULL, &limits, &doc, &terr);
        rly_dynbuf_free(&b);
        if (rv == RLY_ERR_NOMEM)
            return errf(x, rv, "%s: out of memory", x->name);
        if (rv != 0)
            return cfg_err(x, 0, "[%s] %s = %.*s is not a valid TOML array of strings (%s)",
                           k->section, k->key, clip(n), p, terr.msg);
        if (doc.nentries != 1 || doc.entries[0].value.type != RLY_TOML_ARRAY) {
            rly_toml_doc_free(&doc);
            return cfg_err(x, 0, "[%s] %s = %.*s is not a valid TOML array of strings", k->section,
                           k->key, clip(n), p);
        }
        v = doc.entries[0].value;
        from_toml = true;
    } else {
        size_t count = 0;
        char *q = p;
        size_t left = n;
        while (left > 0) {
            char *comma = memchr(q, ',', left);
            size_t part = comma ? (size_t)(comma - q) : left;
            char *item = q;
            size_t ilen = trim(&item, part);
            if (ilen > 0) {
                if (count == LIST_ITEMS_MAX)
                    return cfg_err(x, 0, "[%s] %s lists more than %llu entries", k->section, k->key,
                                   (unsigned long long)k->max);
                items[count].ptr = item;
                items[count].len = ilen;
                count++;
            }
            q += part + (comma != NULL);
            left -= part + (comma != NULL);
        }
        v.v.arr.items = items;
        v.v.arr.len = count;
    }
    rv = k->type == K_ADDRLIST  ? store_list(c, k, &v, 0, x)
         : k->type == K_CLASSES ? store_classes(c, k, &v, 0, x)
                                : store_acl(c, k, &v, 0, x);
    if (from_toml)
        rly_toml_doc_free(&doc);
    return rv;
}

/* apply_value sets |k| from the command-line text |val| (|len| bytes) and records |src|. */
static int apply_value(rly_config *c, const keydesc *k, const char *val, size_t len, uint8_t src,
                       const ctx *x)
{
    static const char *const wanted[] = {
        [K_U64] = "an integer",
        [K_BOOL] = "a boolean (true or false)",
    };
    rly_config tmp = *c;
    int rv = 0;
    if (memchr(val, '\0', len) || memchr(val, '\n', len))
        return cfg_err(x, 0, "[%s] %s: the value holds a newline or NUL byte", k->section, k->key);
    if (k->type == K_U64) {
        uint64_t u = 0;
        int p = parse_u64(val, len, &u);
        if (p == -2 ||
            (p == -1 && len > 1 && val[0] == '-' && parse_u64(val + 1, len - 1, &u) == 0))
            rv = cfg_err(x, 0, "[%s] %s = %.*s is out of range (allowed %llu..%llu)", k->section,
                         k->key, clip(len), val, (unsigned long long)k->min,
                         (unsigned long long)k->max);
        else if (p != 0)
            rv = cfg_err(x, 0, "[%s] %s must be %s, got \"%.*s\"", k->section, k->key,
                         wanted[K_U64], clip(len), val);
        else
            *(uint64_t *)field(&tmp, k) = u;
    } else if (k->type == K_BOOL) {
        if (len == 4 && memcmp(val, "true", 4) == 0)
            *(bool *)field(&tmp, k) = true;
        else if (len == 5 && memcmp(val, "false", 5) == 0)
            *(bool *)field(&tmp, k) = false;
        else
            rv = cfg_err(x, 0, "[%s] %s must be %s, got \"%.*s\"", k->section, k->key,
                         wanted[K_BOOL], clip(len), val);
    } else if (k->type == K_ADDRLIST || k->type == K_PEERS || k->type == K_CIDRS ||
               k->type == K_CLASSES) {
        /* A copy the items can point into (rly_toml_string holds a mutable pointer). */
        rly_dynbuf own;
        rly_dynbuf_init(&own, NULL, RLY_CONFIG_FILE_MAX);
        rv = rly_dynbuf_append(&own, val, len);
        if (rv == 0)
            rv = store_list_value(&tmp, k, (char *)own.data, len, x);
        else
            rv = cfg_err(x, 0, "[%s] %s: the value is too long", k->section, k->key);
        rly_dynbuf_free(&own);
    } else {
        rv = store_string(&tmp, k, val, len, 0, x);
    }
    if (rv == 0) {
        tmp.src[k - keys] = src;
        tmp.src_line[k - keys] = 0;
        *c = tmp;
    }
    rly_zeroize(&tmp, sizeof(tmp));
    return rv;
}

/* env_lookup finds the value of |name| in |env| (the last entry wins, as getenv's first does
 * not matter: duplicates are a caller's bug either way). */
static const char *env_lookup(char *const *env, const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; env && env[i]; i++) {
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            found = env[i] + n + 1;
    }
    return found;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool is_digits(const char *v)
{
    return v[0] != '\0' && strspn(v, "0123456789") == strlen(v);
}

static bool is_ip(const char *v)
{
    uint8_t a[16];
    return inet_pton(AF_INET, v, a) == 1 || inet_pton(AF_INET6, v, a) == 1;
}

static bool is_proto(const char *v)
{
    return strcmp(v, "tcp") == 0 || strcmp(v, "udp") == 0 || strcmp(v, "sctp") == 0;
}

static bool is_link_url(const char *v)
{
    return strncmp(v, "tcp://", 6) == 0 || strncmp(v, "udp://", 6) == 0 ||
           strncmp(v, "sctp://", 7) == 0;
}

/* is_service_link tells whether the variable |e| ("NAME=value", the name |n| bytes) is one of
 * what Kubernetes (and Docker links) put into every container for each Service in the namespace,
 * by its name and the shape of its value: <SERVICE>_SERVICE_HOST (an IP address),
 * <SERVICE>_SERVICE_PORT[_<NAME>] (a port), <SERVICE>_PORT and <SERVICE>_PORT_<port>_<PROTO>
 * (proto://address:port), and the latter's _PROTO, _PORT and _ADDR. A Service named
 * mesh-relay[-N] makes MESH_RELAY_[N_]... ones; no key's name holds "PORT". The value keeps a
 * guess such as MESH_RELAY_METRICS_PORT=9465 from passing for one. */
static bool is_service_link(const char *e, size_t n)
{
    char name[256];
    const char *v = e[n] == '=' ? e + n + 1 : "";
    if (n >= sizeof(name))
        return false;
    memcpy(name, e, n);
    name[n] = '\0';
    if (ends_with(name, n, "_SERVICE_HOST"))
        return is_ip(v);
    if (strstr(name, "_SERVICE_PORT"))
        return is_digits(v);
    const char *p = strstr(name, "_PORT_");
    bool numbered = p && isdigit((unsigned char)p[6]); /* <SERVICE>_PORT_<port>_<PROTO>... */
    if (numbered && ends_with(name, n, "_PROTO"))
        return is_proto(v);
    if (numbered && ends_with(name, n, "_ADDR"))
        return is_ip(v);
    if (numbered && ends_with(name, n, "_PORT"))
        return is_digits(v);
    if (numbered || ends_with(name, n, "_PORT"))
        return is_link_url(v);
    return false;
}

/* check_env_names refuses a MESH_RELAY_* variable that names no key, with the nearest one
 * (RLY_CONFIG_ENV_PATH and service links aside). */
static int check_env_names(char *const *env, const ctx *x)
{
    char name[96];
    for (size_t i = 0; env && env[i]; i++) {
        const char *e = env[i];
        size_t plen = strlen(RLY_CONFIG_ENV_PREFIX);
        if (strncmp(e, RLY_CONFIG_ENV_PREFIX, plen) != 0)
            continue;
        size_t nlen = strcspn(e, "=");
        if ((nlen == strlen(RLY_CONFIG_ENV_PATH) && strncmp(e, RLY_CONFIG_ENV_PATH, nlen) == 0) ||
            is_service_link(e, nlen))
            continue;
        bool known = false;
        const keydesc *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t j = 0; j < RLY_ARRAY_LEN(keys) && !known; j++) {
            env_name(&keys[j], name, sizeof(name));
            if (strlen(name) == nlen && strncmp(e, name, nlen) == 0) {
                known = true;
                break;
            }
            /* The nearest by the part after the prefix, compared with section_key. */
            char typed[96], cand[96];
            snprintf(typed, sizeof(typed), "%.*s", (int)(nlen - plen > 90 ? 90 : nlen - plen),
                     e + plen);
            snprintf(cand, sizeof(cand), "%s_%s", keys[j].section, keys[j].key);
            if (strlen(cand) > NAME_MAX_LEN)
                continue;
            size_t d = closeness(typed, cand);
            if (d < best_d) {
                best_d = d;
                best = &keys[j];
            }
        }
        if (known)
            continue;
        if (best) {
            env_name(best, name, sizeof(name));
            return errf(x, RLY_ERR_CONFIG,
                        "environment %.*s: no such configuration key (did you mean %s for "
                        "[%s] %s?)",
                        clip(nlen), e, name, best->section, best->key);
        }
        return errf(x, RLY_ERR_CONFIG,
                    "environment %.*s: no such configuration key (variables are "
                    "MESH_RELAY_<SECTION>_<KEY>, e.g. MESH_RELAY_RELAY_MAX_RESERVATIONS; see "
                    "relay-server --generate-config for the keys)",
                    clip(nlen), e);
    }
    return 0;
}

/* apply_set applies one --set "section.key=value". */
static int apply_set(rly_config *c, const char *arg, const ctx *x)
{
    char where_buf[128];
    ctx sx = *x;
    const char *eq = strchr(arg, '=');
    const char *dot = memchr(arg, '.', eq ? (size_t)(eq - arg) : strlen(arg));
    if (!eq || !dot)
        return errf(x, RLY_ERR_CONFIG,
                    "--set %.*s: expected section.key=value, e.g. --set "
                    "relay.max_reservations=500",
                    clip_str(arg), arg);
    char section[NAME_MAX_LEN + 1], key[NAME_MAX_LEN + 1];
    size_t slen = (size_t)(dot - arg), klen = (size_t)(eq - dot - 1);
    if (slen > NAME_MAX_LEN || klen > NAME_MAX_LEN || slen == 0 || klen == 0)
        return errf(x, RLY_ERR_CONFIG, "--set %.*s: no such configuration key", clip_str(arg), arg);
    memcpy(section, arg, slen);
    section[slen] = '\0';
    memcpy(key, dot + 1, klen);
    key[klen] = '\0';
    if (!find_section(section)) {
        const char *near = nearest_section(section);
        if (near)
            return errf(x, RLY_ERR_CONFIG, "--set %s.%s: unknown section [%s] (did you mean [%s]?)",
                        section, key, section, near);
        return errf(x, RLY_ERR_CONFIG,
                    "--set %s.%s: unknown section [%s] (valid sections: relay, network, auth, "
                    "metrics, limits, acl, logging)",
                    section, key, section);
    }
    const keydesc *k = find_key(section, key);
    if (!k) {
        const keydesc *elsewhere = find_key(NULL, key);
        const keydesc *near = nearest_key(section, key);
        if (elsewhere)
            return errf(x, RLY_ERR_CONFIG,
                        "--set %s.%s: unknown key '%s' in [%s] (it belongs in [%s]: --set %s.%s)",
                        section, key, key, section, elsewhere->section, elsewhere->section, key);
        if (near)
            return errf(x, RLY_ERR_CONFIG,
                        "--set %s.%s: unknown key '%s' in [%s] (did you mean '%s'?)", section, key,
                        key, section, near->key);
        return errf(x, RLY_ERR_CONFIG, "--set %s.%s: unknown key '%s' in [%s]", section, key, key,
                    section);
    }
    snprintf(where_buf, sizeof(where_buf), "--set %s.%s", section, key);
    sx.name = where_buf;
    return apply_value(c, k, eq + 1, strlen(eq + 1), RLY_CONFIG_SRC_SET, &sx);
}

int rly_config_apply_overrides(rly_config *c, const rly_config_overrides *ov, char *errmsg,
                               size_t errcap)
{
    ctx x = {.name = "overrides", .errmsg = errmsg, .errcap = errcap};
    char name[96], where_buf[128];
    int rv = check_env_names(ov->env, &x);
    for (size_t i = 0; rv == 0 && i < RLY_ARRAY_LEN(keys); i++) {
        env_name(&keys[i], name, sizeof(name));
        const char *val = env_lookup(ov->env, name);
        if (!val)
            continue;
        ctx ex = x;
        snprintf(where_buf, sizeof(where_buf), "environment %s", name);
        ex.name = where_buf;
        rv = apply_value(c, &keys[i], val, strlen(val), RLY_CONFIG_SRC_ENV, &ex);
    }
    for (size_t i = 0; rv == 0 && i < ov->nsets; i++)
        rv = apply_set(c, ov->sets[i], &x);
    return rv;
}

void rly_config_origin(const rly_config *c, const char *file, const char *section, const char *key,
                       char *out, size_t cap)
{
    const keydesc *k = find_key(section, key);
    char name[96];
    RLY_ASSERT(k != NULL);
    switch (c->src[k - keys]) {
    case RLY_CONFIG_SRC_ENV:
        env_name(k, name, sizeof(name));
        snprintf(out, cap, "from the environment variable %s", name);
        return;
    case RLY_CONFIG_SRC_SET: snprintf(out, cap, "from --set %s.%s", section, key); return;
    case RLY_CONFIG_SRC_FILE:
        if (file) {
            snprintf(out, cap, "in [%s] of %s", section, file);
            return;
        }
        break;
    default: break;
    }
    snprintf(out, cap, "the built-in default");
}

rly_config_source rly_config_source_of(const rly_config *c, const char *section, const char *key)
{
    const keydesc *k = find_key(section, key);
    RLY_ASSERT(k != NULL);
    return (rly_config_source)c->src[k - keys];
}

void rly_config_env_name(const char *section, const char *key, char *out, size_t cap)
{
    const keydesc *k = find_key(section, key);
    RLY_ASSERT(k != NULL);
    env_name(k, out, cap);
}

typedef struct sources_ctx {
    const rly_config *c;
    const char *file;
    const rly_log *log;
} sources_ctx;

static void log_source(void *ud, const char *section, const char *key)
{
    const sources_ctx *sc = ud;
    const keydesc *k = find_key(section, key);
    const rly_config *c = sc->c;
    char name[96], from[4200], value[RLY_CONFIG_ADDR_MAX + 8], full[NAME_MAX_LEN * 2 + 2];
    RLY_ASSERT(k != NULL);
    size_t i = (size_t)(k - keys);
    snprintf(full, sizeof(full), "%s.%s", section, key);
    switch (c->src[i]) {
    case RLY_CONFIG_SRC_ENV:
        env_name(k, name, sizeof(name));
        snprintf(from, sizeof(from), "environment %s", name);
        break;
    case RLY_CONFIG_SRC_SET: snprintf(from, sizeof(from), "--set"); break;
    case RLY_CONFIG_SRC_FILE:
        snprintf(from, sizeof(from), "%s:%u", sc->file ? sc->file : "file", c->src_line[i]);
        break;
    default: snprintf(from, sizeof(from), "built-in"); break;
    }
    switch (k->type) {
    case K_U64:
        snprintf(value, sizeof(value), "%llu", (unsigned long long)*(const uint64_t *)cfield(c, k));
        break;
    case K_BOOL:
        snprintf(value, sizeof(value), "%s", *(const bool *)cfield(c, k) ? "true" : "false");
        break;
    case K_STR:
        if (k->check == C_TOKEN)
            snprintf(value, sizeof(value), "(secret, not logged)");
        else
            snprintf(value, sizeof(value), "%s", (const char *)cfield(c, k));
        break;
    case K_LEVEL:
        snprintf(value, sizeof(value), "%s", rly_log_level_name(c->logging.level));
        for (char *p = value; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        break;
    case K_FORMAT:
        snprintf(value, sizeof(value), "%s",
                 c->logging.format == RLY_LOG_FORMAT_JSON ? "json" : "pretty");
        break;
    case K_ADDRLIST:
        snprintf(value, sizeof(value), "%zu entries", c->network.nexternal_addrs);
        break;
    case K_PEERS:
        snprintf(value, sizeof(value), "%zu entries", ((const rly_peer_list *)cfield(c, k))->n);
        break;
    case K_CIDRS:
        snprintf(value, sizeof(value), "%zu entries", ((const rly_cidr_list *)cfield(c, k))->n);
        break;
    case K_CLASSES:
        snprintf(value, sizeof(value), "%zu entries",
                 ((const rly_auth_class_list *)cfield(c, k))->n);
        break;
    }
    RLY_LOGI(sc->log, RLY_TARGET_CONFIG, RLY_MSG("Configuration value"), RLY_F_STR("key", full),
             RLY_F_STR("value", value), RLY_F_STR("source", from));
}

size_t rly_config_log_sources(const rly_config *c, const char *file, const rly_log *log)
{
    static rly_config defaults; /* large: off the stack */
    sources_ctx sc = {c, file, log};
    rly_config_defaults(&defaults);
    return rly_config_changed(&defaults, c, log_source, &sc);
}
