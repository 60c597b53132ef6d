/* cli.h: the command line (SPEC.md "CLI Options", plus --check-config, --force, --mint-token,
 * --set and --health-check). */
#ifndef RLY_APP_CLI_H
#define RLY_APP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

typedef enum rly_cli_action {
    RLY_CLI_RUN = 0,
    RLY_CLI_HELP,
    RLY_CLI_VERSION,
    RLY_CLI_GENERATE_CONFIG,
    RLY_CLI_CHECK_CONFIG,
    RLY_CLI_MINT_TOKEN,
    RLY_CLI_HEALTH_CHECK,
    RLY_CLI_KEYGEN,       /* --control-plane-keygen DIR */
    RLY_CLI_VERIFY_TOKEN, /* --verify-token TOKEN */
} rly_cli_action;

/* Most --relay options (a signed token names at most this many relays). */
#define RLY_CLI_MAX_RELAYS 8

/* Most --set options (as RLY_CONFIG_MAX_SETS). */
#define RLY_CLI_MAX_SETS 128

/* --ttl when --mint-token has none: one day. */
#define RLY_CLI_MINT_TTL_DEFAULT 86400u

/* Longest --ttl: ten years. */
#define RLY_CLI_MINT_TTL_MAX (10u * 366u * 86400u)

typedef struct rly_cli {
    rly_cli_action action;
    const char *config_path; /* -c/--config; NULL: the default path (borrowed from argv) */
    const char *log_level;   /* -l/--log-level; NULL: from the config */
    bool force;              /* --force (with --generate-config) */
    const char *mint_peer;   /* --mint-token PEER_ID (borrowed from argv) */
    uint64_t mint_ttl;       /* --ttl SECONDS (with --mint-token), 1..RLY_CLI_MINT_TTL_MAX */
    bool has_ttl;
    const char *keygen_dir;  /* --control-plane-keygen DIR */
    const char *signing_key; /* --signing-key FILE (with --mint-token: a signed token) */
    const char *relays[RLY_CLI_MAX_RELAYS]; /* --relay PEER_ID (with --signing-key) */
    size_t nrelays;
    const char *token_class;            /* --class NAME (with --signing-key) */
    const char *verify_token;           /* --verify-token TOKEN */
    const char *sets[RLY_CLI_MAX_SETS]; /* --set section.key=value, in order (borrowed) */
    size_t nsets;
} rly_cli;

/* rly_cli_parse parses |argv|. On a usage error writes a one-line message to |errmsg| (|cap|
 * bytes) and returns RLY_ERR_INVALID_ARG. Returns 0 otherwise. */
RLY_NODISCARD int rly_cli_parse(rly_cli *cli, int argc, char **argv, char *errmsg, size_t cap);

/* rly_cli_print_help writes the --help text (with every built-in default) to |out|. */
void rly_cli_print_help(FILE *out);

/* rly_cli_print_version writes "relay-server <version>" to |out|. */
void rly_cli_print_version(FILE *out);

#endif
