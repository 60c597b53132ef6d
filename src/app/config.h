/* config.h: the relay's configuration (SPEC.md keys and defaults, plus reservation_ttl_secs,
 * max_circuits and the IPv6 listen twins), loaded from the in-tree TOML subset (toml.h).
 *
 * Flow (STYLE.md D.7): TOML text -> rly_toml_doc -> rly_config_apply (schema: known sections and
 * keys, value types) -> rly_config_validate (ranges and values, kept separate) -> use.
 * Every error message names the file, the line where known, the key and what is allowed. */
#ifndef RLY_APP_CONFIG_H
#define RLY_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/auth/classes.h"
#include "relay/acl.h"
#include "relay/limiter.h"

#define RLY_CONFIG_ADDR_MAX 256
#define RLY_CONFIG_TOKEN_MAX 1024
#define RLY_CONFIG_PATH_MAX 1024
/* Most [auth] control_plane_keys (authsvc.h's RLY_AUTHSVC_MAX_KEYS). */
#define RLY_CONFIG_MAX_CP_KEYS 16
/* Most addresses external_addrs may list. */
#define RLY_CONFIG_MAX_EXTERNAL 8
#define RLY_CONFIG_ERRMSG_MAX 512
/* Largest config file we read. */
#define RLY_CONFIG_FILE_MAX (1024 * 1024)

#define RLY_DEFAULT_AUTH_TOKEN "CHANGE_ME_IN_PRODUCTION"

/* Number of keys in the schema (the key table in config.c has exactly this many entries). */
#define RLY_CONFIG_NKEYS 43
/* [limits] max_memory_mb: its largest value (1 TiB), and the bounds of the automatic one (0). */
#define RLY_CONFIG_MEMORY_MB_MAX 1048576
#define RLY_CONFIG_MEMORY_MB_AUTO_MIN 128
#define RLY_CONFIG_MEMORY_MB_AUTO_MAX 4096

typedef enum rly_log_format {
    RLY_LOG_FORMAT_PRETTY = 0,
    RLY_LOG_FORMAT_JSON = 1,
} rly_log_format;

typedef struct rly_config {
    struct {
        uint64_t max_reservations;          /* global, default 100 */
        uint64_t max_reservations_per_peer; /* default 5 */
        uint64_t max_circuits_per_peer;     /* default 16 */
        uint64_t max_circuits;              /* global, default 1024 */
        uint64_t max_circuit_duration_secs; /* default 120; 0 = no time limit */
        uint64_t max_circuit_bytes;         /* default 10485760, per direction; 0 = no limit */
        uint64_t reservation_ttl_secs;      /* default 3600 */
    } relay;
    struct {
        /* Each a multiaddr; "" disables that listener. */
        char tcp_listen_addr[RLY_CONFIG_ADDR_MAX];     /* /ip4/0.0.0.0/tcp/4001 */
        char tcp_listen_addr_v6[RLY_CONFIG_ADDR_MAX];  /* /ip6/::/tcp/4001 */
        char quic_listen_addr[RLY_CONFIG_ADDR_MAX];    /* /ip4/0.0.0.0/udp/4001/quic-v1 */
        char quic_listen_addr_v6[RLY_CONFIG_ADDR_MAX]; /* /ip6/::/udp/4001/quic-v1 */
        uint64_t handshake_timeout_secs;      /* default 10: security + muxer upgrade must finish */
        uint64_t handshake_idle_timeout_secs; /* default 5: a handshake that completes no stage
                                                 for this long is closed */
        uint64_t max_pending_handshakes;      /* default 256: connections still upgrading, per
                                                 transport; a new one closes the stalest */
        uint64_t max_pending_handshakes_per_ip; /* default 32: of them from one address */
        uint64_t max_connections;               /* default 10000: established connections */
        uint64_t keepalive_interval_secs; /* default 30: yamux ping on idle connections; 0 off */
        uint64_t write_timeout_secs;      /* default 30: output pending and none taken for this long
                                             closes the connection; 0 off */
        uint64_t shutdown_grace_secs;     /* default 30: circuits may finish after a signal */
        /* Addresses peers should dial, announced in identify (and in reservations) instead of
         * the listen addresses: "/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>" or
         * ".../udp/<port>/quic-v1", without /p2p (the relay appends its own). Default: none. */
        char external_addrs[RLY_CONFIG_MAX_EXTERNAL][RLY_CONFIG_ADDR_MAX];
        size_t nexternal_addrs;
    } network;
    struct {
        char auth_token[RLY_CONFIG_TOKEN_MAX]; /* CHANGE_ME_IN_PRODUCTION */
        bool auth_enabled;                     /* false */
        /* PeerIds of the control-plane Ed25519 keys whose signed tokens are accepted (at most
         * RLY_CONFIG_MAX_CP_KEYS); empty: none (docs/AUTH.md "Signed tokens"). */
        rly_peer_list control_plane_keys;
        /* The revoked token ids (proto/auth/revoked.h); "": none. */
        char revoked_tokens_file[RLY_CONFIG_PATH_MAX];
        /* Limits classes signed tokens may name (proto/auth/classes.h); "trusted" is built in. */
        rly_auth_class_list classes;
    } auth;
    struct {
        char listen_addr[RLY_CONFIG_ADDR_MAX]; /* /ip4/127.0.0.1/tcp/9464; "": no HTTP server */
    } metrics;
    rly_acl acl;                /* [acl]: every list empty by default (relay/acl.h) */
    rly_limits_settings limits; /* [limits] (relay/limiter.h); exempt: loopback by default */
    /* [limits] max_memory_mb: the memory budget (rly_mem_admit) in MiB; 0 (the default): 1/8
     * of physical memory clamped to 128..4096, as go-libp2p's resource manager sizes its own
     * (rly_config_memory_budget). */
    uint64_t max_memory_mb;
    struct {
        rly_log_level level;   /* info */
        rly_log_format format; /* pretty */
    } logging;
    /* Private to config.c, in the order of its key table, only used in messages and the
     * start-up log: where each key's value came from (rly_config_source), and for the file the
     * line it was last set on (0 otherwise). */
    uint32_t src_line[RLY_CONFIG_NKEYS];
    uint8_t src[RLY_CONFIG_NKEYS];
} rly_config;

/* Where a key's value came from; each later one wins over the earlier (SPEC.md's file, then
 * what a fleet sets per instance: the environment, then the command line). */
typedef enum rly_config_source {
    RLY_CONFIG_SRC_DEFAULT = 0, /* built in */
    RLY_CONFIG_SRC_FILE,        /* the configuration file */
    RLY_CONFIG_SRC_ENV,         /* MESH_RELAY_<SECTION>_<KEY> */
    RLY_CONFIG_SRC_SET,         /* --set section.key=value */
} rly_config_source;

/* The prefix of the environment variables that override keys: MESH_RELAY_<SECTION>_<KEY>, upper
 * case, e.g. MESH_RELAY_NETWORK_EXTERNAL_ADDRS for [network] external_addrs. */
#define RLY_CONFIG_ENV_PREFIX "MESH_RELAY_"
/* The configuration file's path when there is no --config (as if given with --config: it must
 * exist); e.g. a container image's own file. */
#define RLY_CONFIG_ENV_PATH "MESH_RELAY_CONFIG"
/* Most --set options on one command line. */
#define RLY_CONFIG_MAX_SETS 128

/* Per-instance values over the file: the process environment and --set options. */
typedef struct rly_config_overrides {
    char *const *env;        /* "NAME=value" entries, NULL-terminated (environ); NULL: none */
    const char *const *sets; /* "section.key=value", command-line order */
    size_t nsets;
} rly_config_overrides;

/* rly_config_apply_overrides applies, over |c| (defaults and the file already applied), every
 * MESH_RELAY_* variable of |ov->env| (in key-table order) and then every --set of |ov->sets| (in
 * order: the last one of a key wins). A value is written as on a command line, without TOML
 * quoting: integers in decimal, booleans true or false, strings as they are ("" allowed),
 * lists as comma-separated items ("" is the empty list) or as a TOML array ("[\"a\", \"b\"]").
 * Type errors, unknown keys (with the nearest valid name) and list entries are checked as for
 * the file; ranges are left to rly_config_validate, whose messages then name the variable or
 * the --set option instead of a file line. An environment variable with the prefix that names
 * no key is an error (a typo would otherwise be silently ignored), except RLY_CONFIG_ENV_PATH
 * and the service-link variables Kubernetes and Docker make for a Service named mesh-relay
 * (MESH_RELAY_SERVICE_HOST, MESH_RELAY_0_PORT_4001_TCP, ...).
 * On error returns RLY_ERR_CONFIG and writes a one-line message, e.g.
 *   "environment MESH_RELAY_RELAY_MAX_RESERVATION: unknown key (did you mean
 *   MESH_RELAY_RELAY_MAX_RESERVATIONS?)". */
RLY_NODISCARD int rly_config_apply_overrides(rly_config *c, const rly_config_overrides *ov,
                                             char *errmsg, size_t errcap);

/* rly_config_origin writes where [section] key's value in |c| came from, as a phrase for
 * messages: "in [network] of /etc/relay.toml" (|file|; "the built-in default" when |file| is
 * NULL or the key is at its default), "from the environment variable MESH_RELAY_NETWORK_X",
 * "from --set network.x". */
void rly_config_origin(const rly_config *c, const char *file, const char *section, const char *key,
                       char *out, size_t cap);

/* rly_config_has_shared_secret: whether [auth] auth_token is set to a secret (not the
 * default), so that the shared and minted token forms are on. */
bool rly_config_has_shared_secret(const rly_config *c);

/* rly_config_source_of returns where [section] key's value in |c| came from. */
rly_config_source rly_config_source_of(const rly_config *c, const char *section, const char *key);

/* rly_config_env_name writes the environment variable of [section] key into |out| (|cap|
 * bytes): MESH_RELAY_<SECTION>_<KEY>, upper case. */
void rly_config_env_name(const char *section, const char *key, char *out, size_t cap);

/* rly_config_log_sources logs one line for each key whose value differs from the built-in
 * default: the key, where its value came from (the file and line, the environment variable or
 * --set) and the value (never [auth] auth_token's; a list's number of entries). |file| names the
 * configuration file (NULL: none). Returns how many keys it logged. */
size_t rly_config_log_sources(const rly_config *c, const char *file, const rly_log *log);

/* rly_config_changed lists the keys whose values differ between |a| and |b|: for each, calls
 * |fn| with the section and key names. Returns how many differ. */
size_t rly_config_changed(const rly_config *a, const rly_config *b,
                          void (*fn)(void *ud, const char *section, const char *key), void *ud);

/* rly_config_defaults fills |c| with the built-in defaults. */
void rly_config_defaults(rly_config *c);

/* rly_config_load_string parses |text| (|len| bytes; |name| is the file name used in messages),
 * applying every key over the values already in |c| (call rly_config_defaults first). It checks
 * the schema (unknown section or key -> error with line and the nearest valid name; wrong value
 * type -> error naming key and expected type) but not ranges.
 * On error returns RLY_ERR_CONFIG (or RLY_ERR_NOMEM) and writes a one-line message without a
 * trailing newline into |errmsg| (|errcap| bytes), e.g.
 *   "relay.toml:3: unknown key 'max_reservation' in [relay] (did you mean 'max_reservations'?)" */
RLY_NODISCARD int rly_config_load_string(rly_config *c, const char *text, size_t len,
                                         const char *name, char *errmsg, size_t errcap);

/* rly_config_load_file reads |path| and calls rly_config_load_string. A missing file gives
 * RLY_ERR_NOT_FOUND with the message "Configuration file not found: <path>"; an unreadable or
 * oversized one RLY_ERR_IO / RLY_ERR_CONFIG with a message naming the path. */
RLY_NODISCARD int rly_config_load_file(rly_config *c, const char *path, char *errmsg,
                                       size_t errcap);

/* rly_config_validate checks ranges and values: every integer within its documented range,
 * listen addresses parse as the right multiaddr shape (tcp: /ip4|ip6/<ip>/tcp/<port>; quic:
 * /ip4|ip6/<ip>/udp/<port>/quic-v1; the _v6 keys must be /ip6), the auth token non-empty.
 * |name| (the file name, or "built-in defaults") prefixes messages. On error returns
 * RLY_ERR_CONFIG with e.g. "relay.toml: [relay] max_reservations = 0 is out of range
 * (allowed 1..1000000)". Line numbers are included when the value came from a file. */
RLY_NODISCARD int rly_config_validate(const rly_config *c, const char *name, char *errmsg,
                                      size_t errcap);

/* rly_config_warn_exposed_token logs a warning on |log| when the file |path| that |c| was loaded
 * from sets [auth] auth_token to a secret (anything but RLY_DEFAULT_AUTH_TOKEN) and others may
 * read it (mode o+r): anyone on the machine could authenticate. The message names the file and
 * the fix. Returns whether it warned. */
bool rly_config_warn_exposed_token(const rly_config *c, const char *path, const rly_log *log);

/* rly_config_memory_budget returns the budget in bytes that |c|'s max_memory_mb means on a
 * machine with |physical| bytes of memory. */
uint64_t rly_config_memory_budget(const rly_config *c, uint64_t physical);

/* rly_config_reservations_per_peer returns the per-peer reservation cap in force: the smaller
 * of max_reservations_per_peer and max_reservations. They differ only when the file sets
 * max_reservations below the per-peer default and leaves max_reservations_per_peer unset
 * (rly_config_validate refuses an explicit per-peer value above the global one). */
uint64_t rly_config_reservations_per_peer(const rly_config *c);

/* rly_config_default_text returns the commented default configuration file (what
 * --generate-config writes). Parsing it gives exactly rly_config_defaults. */
const char *rly_config_default_text(void);

#endif
