#include "app/cli.h"

#include <getopt.h>
#include <string.h>

#include "app/config.h"
#include "core/log.h"

enum {
    OPT_GENERATE = 256,
    OPT_CHECK,
    OPT_FORCE,
    OPT_MINT,
    OPT_TTL,
    OPT_SET,
    OPT_HEALTH,
    OPT_KEYGEN,
    OPT_SIGNING_KEY,
    OPT_RELAY,
    OPT_CLASS,
    OPT_VERIFY,
};

static const struct option options[] = {
    {"config", required_argument, NULL, 'c'},
    {"log-level", required_argument, NULL, 'l'},
    {"generate-config", no_argument, NULL, OPT_GENERATE},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"force", no_argument, NULL, OPT_FORCE},
    {"mint-token", required_argument, NULL, OPT_MINT},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"set", required_argument, NULL, OPT_SET},
    {"health-check", no_argument, NULL, OPT_HEALTH},
    {"control-plane-keygen", required_argument, NULL, OPT_KEYGEN},
    {"signing-key", required_argument, NULL, OPT_SIGNING_KEY},
    {"relay", required_argument, NULL, OPT_RELAY},
    {"class", required_argument, NULL, OPT_CLASS},
    {"verify-token", required_argument, NULL, OPT_VERIFY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int set_action(rly_cli *cli, rly_cli_action a, char *errmsg, size_t cap)
{
    bool busy =
        cli->action != RLY_CLI_RUN && cli->action != RLY_CLI_HELP && cli->action != RLY_CLI_VERSION;
    if (busy && cli->action != a) {
        snprintf(errmsg, cap,
                 "--generate-config, --check-config, --mint-token, --health-check, "
                 "--control-plane-keygen and --verify-token cannot be used together");
        return RLY_ERR_INVALID_ARG;
    }
    /* --help and --version win over everything else, as clap does. */
    if (cli->action != RLY_CLI_HELP && cli->action != RLY_CLI_VERSION)
        cli->action = a;
    return 0;
}

static int check_level(const char *s, char *errmsg, size_t cap)
{
    rly_log_level lvl;
    if (rly_log_level_parse(s, &lvl) == 0 && lvl != RLY_LOG_OFF)
        return 0;
    snprintf(errmsg, cap,
             "invalid value '%s' for '--log-level <LOG_LEVEL>' (allowed: trace, debug, info, "
             "warn, error)",
             s);
    return RLY_ERR_INVALID_ARG;
}

static int parse_ttl(rly_cli *cli, const char *s, char *errmsg, size_t cap)
{
    uint64_t v = 0;
    size_t n = strlen(s);
    bool ok = n > 0 && n <= 10 && s[0] != '0';
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (!ok || v > RLY_CLI_MINT_TTL_MAX) {
        snprintf(errmsg, cap, "invalid value '%s' for '--ttl <SECONDS>' (allowed: 1..%u)", s,
                 RLY_CLI_MINT_TTL_MAX);
        return RLY_ERR_INVALID_ARG;
    }
    cli->mint_ttl = v;
    cli->has_ttl = true;
    return 0;
}

/* --set section.key=value: the form is checked here, the key and value with the
 * configuration (rly_config_apply_overrides), so that their messages match the file's. */
static int add_set(rly_cli *cli, const char *s, char *errmsg, size_t cap)
{
    const char *eq = strchr(s, '=');
    if (!eq || !memchr(s, '.', (size_t)(eq - s))) {
        snprintf(errmsg, cap,
                 "invalid value '%s' for '--set <SECTION.KEY=VALUE>' (e.g. --set "
                 "relay.max_reservations=500)",
                 s);
        return RLY_ERR_INVALID_ARG;
    }
    if (cli->nsets == RLY_CLI_MAX_SETS) {
        snprintf(errmsg, cap, "too many --set options (at most %d)", RLY_CLI_MAX_SETS);
        return RLY_ERR_INVALID_ARG;
    }
    cli->sets[cli->nsets++] = s;
    return 0;
}

int rly_cli_parse(rly_cli *cli, int argc, char **argv, char *errmsg, size_t cap)
{
    int c, rv = 0;
    memset(cli, 0, sizeof(*cli));
    opterr = 0;
    optind = 0; /* glibc: 0 fully re-initialises getopt between calls */
    while (rv == 0 && (c = getopt_long(argc, argv, ":c:l:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c': cli->config_path = optarg; break;
        case 'l':
            cli->log_level = optarg;
            rv = check_level(optarg, errmsg, cap);
            break;
        case OPT_GENERATE: rv = set_action(cli, RLY_CLI_GENERATE_CONFIG, errmsg, cap); break;
        case OPT_CHECK: rv = set_action(cli, RLY_CLI_CHECK_CONFIG, errmsg, cap); break;
        case OPT_FORCE: cli->force = true; break;
        case OPT_MINT:
            cli->mint_peer = optarg;
            rv = set_action(cli, RLY_CLI_MINT_TOKEN, errmsg, cap);
            break;
        case OPT_TTL: rv = parse_ttl(cli, optarg, errmsg, cap); break;
        case OPT_SET: rv = add_set(cli, optarg, errmsg, cap); break;
        case OPT_HEALTH: rv = set_action(cli, RLY_CLI_HEALTH_CHECK, errmsg, cap); break;
        case OPT_KEYGEN:
            cli->keygen_dir = optarg;
            rv = set_action(cli, RLY_CLI_KEYGEN, errmsg, cap);
            break;
        case OPT_VERIFY:
            cli->verify_token = optarg;
            rv = set_action(cli, RLY_CLI_VERIFY_TOKEN, errmsg, cap);
            break;
        case OPT_SIGNING_KEY: cli->signing_key = optarg; break;
        case OPT_CLASS: cli->token_class = optarg; break;
        case OPT_RELAY:
            if (cli->nrelays == RLY_CLI_MAX_RELAYS) {
                snprintf(errmsg, cap, "too many --relay options (a token names at most %d)",
                         RLY_CLI_MAX_RELAYS);
                rv = RLY_ERR_INVALID_ARG;
            } else {
                cli->relays[cli->nrelays++] = optarg;
            }
            break;
        case 'h': cli->action = RLY_CLI_HELP; break;
        case 'V':
            if (cli->action != RLY_CLI_HELP)
                cli->action = RLY_CLI_VERSION;
            break;
        case ':':
            snprintf(errmsg, cap, "option '%s' needs a value (see --help)", argv[optind - 1]);
            rv = RLY_ERR_INVALID_ARG;
            break;
        default:
            snprintf(errmsg, cap, "unexpected argument '%s' (see --help)", argv[optind - 1]);
            rv = RLY_ERR_INVALID_ARG;
            break;
        }
    }
    if (rv == 0 && optind < argc) {
        snprintf(errmsg, cap, "unexpected argument '%s' (see --help)", argv[optind]);
        rv = RLY_ERR_INVALID_ARG;
    }
    if (rv == 0 && cli->has_ttl && cli->action != RLY_CLI_MINT_TOKEN &&
        cli->action != RLY_CLI_HELP && cli->action != RLY_CLI_VERSION) {
        snprintf(errmsg, cap, "--ttl only applies to --mint-token");
        rv = RLY_ERR_INVALID_ARG;
    }
    if (rv == 0 && !cli->has_ttl)
        cli->mint_ttl = RLY_CLI_MINT_TTL_DEFAULT;
    bool signed_opts = cli->nrelays > 0 || cli->token_class != NULL;
    if (rv == 0 && (cli->signing_key || signed_opts) && cli->action != RLY_CLI_MINT_TOKEN &&
        cli->action != RLY_CLI_HELP && cli->action != RLY_CLI_VERSION) {
        snprintf(errmsg, cap, "--signing-key, --relay and --class only apply to --mint-token");
        rv = RLY_ERR_INVALID_ARG;
    }
    if (rv == 0 && signed_opts && !cli->signing_key && cli->action == RLY_CLI_MINT_TOKEN) {
        snprintf(errmsg, cap,
                 "--relay and --class need --signing-key (they are fields of a signed token)");
        rv = RLY_ERR_INVALID_ARG;
    }
    if (rv == 0 && cli->force && cli->action == RLY_CLI_RUN) {
        snprintf(errmsg, cap, "--force only applies to --generate-config");
        rv = RLY_ERR_INVALID_ARG;
    }
    return rv;
}

void rly_cli_print_help(FILE *out)
{
    rly_config d;
    rly_config_defaults(&d);
    fprintf(
        out,
        "Mesh Relay Server for NAT traversal and device connectivity\n"
        "\n"
        "Usage: relay-server [OPTIONS]\n"
        "\n"
        "Options:\n"
        "  -c, --config <CONFIG>\n"
        "          Configuration file path [default: $MESH_RELAY_CONFIG, else\n"
        "          ~/.meshnet/relay.toml]\n"
        "\n"
        "  -l, --log-level <LOG_LEVEL>\n"
        "          Override log level (trace, debug, info, warn, error)\n"
        "\n"
        "      --generate-config\n"
        "          Generate default config and exit (refuses to overwrite; see --force)\n"
        "\n"
        "      --check-config\n"
        "          Validate the configuration and exit (0: valid, 1: invalid)\n"
        "\n"
        "      --force\n"
        "          With --generate-config: overwrite an existing file\n"
        "\n"
        "      --mint-token <PEER_ID>\n"
        "          Print a token for PEER_ID alone, made from [auth] auth_token, and exit\n"
        "          (docs/AUTH.md)\n"
        "\n"
        "      --ttl <SECONDS>\n"
        "          With --mint-token: how long the token is valid [default: 86400]\n"
        "\n"
        "      --signing-key <FILE>\n"
        "          With --mint-token: a token signed with this control-plane key (from\n"
        "          --control-plane-keygen) instead of one made from auth_token\n"
        "\n"
        "      --relay <PEER_ID>\n"
        "          With --signing-key: the token is good at this relay only (repeatable, up\n"
        "          to 8; none: at any relay)\n"
        "\n"
        "      --class <NAME>\n"
        "          With --signing-key: the limits class the token gives ([a-z0-9_-])\n"
        "\n"
        "      --control-plane-keygen <DIR>\n"
        "          Make a control-plane key pair in DIR (control_plane_key.bin, 0600) and print\n"
        "          its public key (a PeerId, for [auth] control_plane_keys), then exit\n"
        "\n"
        "      --verify-token <TOKEN>\n"
        "          Print what a signed token says, whether its signature holds and whether\n"
        "          this relay (its control_plane_keys, revoked_tokens_file and PeerId) would\n"
        "          accept it; exit 0 when valid, unexpired and not refused here\n"
        "\n"
        "      --set <SECTION.KEY=VALUE>\n"
        "          Override one configuration key, e.g. --set network.external_addrs=\n"
        "          /dns4/relay.example.com/tcp/4001 (repeatable; lists comma-separated).\n"
        "          Wins over the environment (MESH_RELAY_<SECTION>_<KEY>, e.g.\n"
        "          MESH_RELAY_METRICS_LISTEN_ADDR), which wins over the file\n"
        "\n"
        "      --health-check\n"
        "          GET /healthz on [metrics] listen_addr; exit 0 when the relay answers 200,\n"
        "          1 otherwise (for a container HEALTHCHECK)\n"
        "\n"
        "  -h, --help\n"
        "          Print help\n"
        "\n"
        "  -V, --version\n"
        "          Print version\n"
        "\n");
    fprintf(out,
            "Built-in defaults (used when no configuration file exists):\n"
            "  [relay]   max_reservations = %llu, max_reservations_per_peer = %llu,\n"
            "            max_circuits_per_peer = %llu, max_circuits = %llu,\n"
            "            max_circuit_duration_secs = %llu, max_circuit_bytes = %llu,\n"
            "            reservation_ttl_secs = %llu\n"
            "  [network] tcp_listen_addr = \"%s\", tcp_listen_addr_v6 = \"%s\",\n"
            "            quic_listen_addr = \"%s\", quic_listen_addr_v6 = \"%s\",\n"
            "            handshake_timeout_secs = %llu, max_pending_handshakes = %llu,\n"
            "            max_connections = %llu, keepalive_interval_secs = %llu\n"
            "  [auth]    auth_enabled = %s, auth_token = \"%s\"\n"
            "  [logging] level = \"info\", log_format = \"pretty\"\n"
            "\n"
            "Files:\n"
            "  ~/.meshnet/relay.toml          configuration (--generate-config writes it)\n"
            "  ~/.meshnet/relay_keypair.bin   relay identity (Ed25519), created on first run\n",
            (unsigned long long)d.relay.max_reservations,
            (unsigned long long)d.relay.max_reservations_per_peer,
            (unsigned long long)d.relay.max_circuits_per_peer,
            (unsigned long long)d.relay.max_circuits,
            (unsigned long long)d.relay.max_circuit_duration_secs,
            (unsigned long long)d.relay.max_circuit_bytes,
            (unsigned long long)d.relay.reservation_ttl_secs, d.network.tcp_listen_addr,
            d.network.tcp_listen_addr_v6, d.network.quic_listen_addr, d.network.quic_listen_addr_v6,
            (unsigned long long)d.network.handshake_timeout_secs,
            (unsigned long long)d.network.max_pending_handshakes,
            (unsigned long long)d.network.max_connections,
            (unsigned long long)d.network.keepalive_interval_secs,
            d.auth.auth_enabled ? "true" : "false", d.auth.auth_token);
}

void rly_cli_print_version(FILE *out)
{
    fprintf(out, "relay-server %s\n", RLY_VERSION);
}
