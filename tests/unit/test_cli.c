/* Command-line parsing (SPEC.md "CLI Options" + --check-config, --force). */
#include <criterion/criterion.h>
#include <string.h>

#include "app/cli.h"

static int parse(rly_cli *cli, char *err, const char *a0, ...)
{
    /* getopt wants mutable strings: copy the arguments. */
    static char storage[16][64];
    char *argv[16];
    int argc = 0;
    va_list ap;
    snprintf(storage[argc], sizeof(storage[0]), "relay-server");
    argv[argc] = storage[argc];
    argc++;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 15; a = va_arg(ap, const char *)) {
        snprintf(storage[argc], sizeof(storage[0]), "%s", a);
        argv[argc] = storage[argc];
        argc++;
    }
    va_end(ap);
    return rly_cli_parse(cli, argc, argv, err, 256);
}

Test(cli, no_arguments_runs)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_RUN);
    cr_assert_null(c.config_path);
    cr_assert_null(c.log_level);
}

Test(cli, short_and_long_options)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, "-c", "/etc/r.toml", "-l", "debug", NULL), 0);
    cr_assert_str_eq(c.config_path, "/etc/r.toml");
    cr_assert_str_eq(c.log_level, "debug");
    cr_assert_eq(parse(&c, err, "--config=/x.toml", "--log-level", "warn", NULL), 0);
    cr_assert_str_eq(c.config_path, "/x.toml");
    cr_assert_str_eq(c.log_level, "warn");
}

Test(cli, actions)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, "--generate-config", "--force", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_GENERATE_CONFIG);
    cr_assert(c.force);
    cr_assert_eq(parse(&c, err, "--check-config", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_CHECK_CONFIG);
    cr_assert_eq(parse(&c, err, "--generate-config", "-h", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_HELP);
    cr_assert_eq(parse(&c, err, "-V", "--check-config", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_VERSION);
}

Test(cli, usage_errors)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, "--nope", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "--nope"));
    cr_assert_eq(parse(&c, err, "-l", "verbose", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "'verbose'"));
    cr_assert_eq(parse(&c, err, "-l", "off", NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "-c", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "needs a value"));
    cr_assert_eq(parse(&c, err, "--force", NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "--generate-config", "--check-config", NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "stray", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "'stray'"));
}

Test(cli, help_lists_defaults)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    rly_cli_print_help(f);
    fclose(f);
    cr_assert(strstr(out, "Usage: relay-server [OPTIONS]"));
    cr_assert(strstr(out, "max_reservations = 100"));
    cr_assert(strstr(out, "max_circuit_bytes = 10485760"));
    cr_assert(strstr(out, "reservation_ttl_secs = 3600"));
    cr_assert(strstr(out, "/ip6/::/tcp/4001"));
    free(out);
}

Test(cli, set_and_health_check)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, "--set", "relay.max_circuits=5",
                       "--set=network.external_addrs=", "--health-check", NULL),
                 0, "%s", err);
    cr_assert_eq(c.action, RLY_CLI_HEALTH_CHECK);
    cr_assert_eq(c.nsets, 2);
    cr_assert_str_eq(c.sets[0], "relay.max_circuits=5");
    cr_assert_str_eq(c.sets[1], "network.external_addrs=");
    cr_assert_eq(parse(&c, err, "--set", "max_circuits=5", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "'--set <SECTION.KEY=VALUE>'"), "%s", err);
    cr_assert_eq(parse(&c, err, "--set", "relay.max_circuits", NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "--set", NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "--health-check", "--check-config", NULL), RLY_ERR_INVALID_ARG);
}

Test(cli, set_count_is_bounded)
{
    static char storage[RLY_CLI_MAX_SETS + 2][32];
    char *argv[RLY_CLI_MAX_SETS + 3];
    rly_cli c;
    char err[256];
    int argc = 0;
    argv[argc++] = "relay-server";
    for (int i = 0; i <= RLY_CLI_MAX_SETS; i++) {
        snprintf(storage[i], sizeof(storage[i]), "--set=relay.max_circuits=%d", i + 1);
        argv[argc++] = storage[i];
    }
    cr_assert_eq(rly_cli_parse(&c, argc - 1, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.nsets, RLY_CLI_MAX_SETS);
    cr_assert_eq(rly_cli_parse(&c, argc, argv, err, sizeof(err)), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "too many --set"), "%s", err);
}

Test(cli, signed_token_options)
{
    rly_cli c;
    char err[256];
    cr_assert_eq(parse(&c, err, "--mint-token", "P", "--signing-key", "k.bin", "--relay", "R1",
                       "--relay", "R2", "--class", "trusted", NULL),
                 0, "%s", err);
    cr_assert_eq(c.action, RLY_CLI_MINT_TOKEN);
    cr_assert_str_eq(c.signing_key, "k.bin");
    cr_assert_eq(c.nrelays, 2);
    cr_assert_str_eq(c.relays[1], "R2");
    cr_assert_str_eq(c.token_class, "trusted");
    cr_assert_eq(parse(&c, err, "--control-plane-keygen", "/d", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_KEYGEN);
    cr_assert_str_eq(c.keygen_dir, "/d");
    cr_assert_eq(parse(&c, err, "--verify-token", "v2.x", NULL), 0);
    cr_assert_eq(c.action, RLY_CLI_VERIFY_TOKEN);
    cr_assert_eq(parse(&c, err, "--mint-token", "P", "--class", "x", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "need --signing-key"), "%s", err);
    cr_assert_eq(parse(&c, err, "--signing-key", "k", NULL), RLY_ERR_INVALID_ARG);
    cr_assert(strstr(err, "only apply to --mint-token"), "%s", err);
    cr_assert_eq(parse(&c, err, "--verify-token", "t", "--control-plane-keygen", "d", NULL),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(parse(&c, err, "--mint-token", "P", "--signing-key", "k", "--relay", "1",
                       "--relay", "2", "--relay", "3", "--relay", "4", "--relay", "5", NULL),
                 0, "%s", err);
}
