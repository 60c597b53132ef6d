/* cli.h: the command line (SPEC.md "CLI Options", plus --check-config and --force). */
#ifndef RLY_APP_CLI_H
#define RLY_APP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/err.h"

typedef enum rly_cli_action {
    RLY_CLI_RUN = 0,
    RLY_CLI_HELP,
    RLY_CLI_VERSION,
    RLY_CLI_GENERATE_CONFIG,
    RLY_CLI_CHECK_CONFIG,
} rly_cli_action;

typedef struct rly_cli {
    rly_cli_action action;
    const char *config_path; /* -c/--config; NULL: the default path (borrowed from argv) */
    const char *log_level;   /* -l/--log-level; NULL: from the config */
    bool force;              /* --force (with --generate-config) */
} rly_cli;

/* rly_cli_parse parses |argv|. On a usage error writes a one-line message to |errmsg| (|cap|
 * bytes) and returns RLY_ERR_INVALID_ARG. Returns 0 otherwise. */
RLY_NODISCARD int rly_cli_parse(rly_cli *cli, int argc, char **argv, char *errmsg, size_t cap);

/* rly_cli_print_help writes the --help text (with every built-in default) to |out|. */
void rly_cli_print_help(FILE *out);

/* rly_cli_print_version writes "relay-server <version>" to |out|. */
void rly_cli_print_version(FILE *out);

#endif
