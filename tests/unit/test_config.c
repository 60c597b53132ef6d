/* test_config.c: configuration schema, defaults, messages and validation (src/app/config.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/config.h"
#include "core/mem.h"

static rly_config cfg;
static char msg[RLY_CONFIG_ERRMSG_MAX];

static void done(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leaked %zu bytes",
                 rly_mem_default()->live_bytes);
}

static int load(const char *text)
{
    rly_config_defaults(&cfg);
    msg[0] = '\0';
    return rly_config_load_string(&cfg, text, strlen(text), "relay.toml", msg, sizeof(msg));
}

static int validate(void)
{
    msg[0] = '\0';
    return rly_config_validate(&cfg, "relay.toml", msg, sizeof(msg));
}

/* ok loads and validates |text|, which must pass both. */
static void ok(const char *text)
{
    cr_assert_eq(load(text), 0, "load '%s': %s", text, msg);
    cr_assert_eq(validate(), 0, "validate '%s': %s", text, msg);
    done();
}

/* load_fails expects loading |text| to fail with exactly |want|. */
static void load_fails(const char *text, const char *want)
{
    rly_config before;
    rly_config_defaults(&before);
    cr_assert_eq(load(text), RLY_ERR_CONFIG, "'%s' loaded", text);
    cr_assert_str_eq(msg, want, "'%s'", text);
    /* A failed load changes nothing. */
    cr_assert_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
    done();
}

/* invalid expects |text| to load and then fail validation with exactly |want|. */
static void invalid(const char *text, const char *want)
{
    cr_assert_eq(load(text), 0, "load '%s': %s", text, msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG, "'%s' validated", text);
    cr_assert_str_eq(msg, want, "'%s'", text);
    done();
}

static void assert_same(const rly_config *a, const rly_config *b)
{
    cr_assert_eq(memcmp(&a->relay, &b->relay, sizeof(a->relay)), 0);
    cr_assert_eq(memcmp(&a->network, &b->network, sizeof(a->network)), 0);
    cr_assert_str_eq(a->auth.auth_token, b->auth.auth_token);
    cr_assert_eq(a->auth.auth_enabled, b->auth.auth_enabled);
    cr_assert_eq(a->logging.level, b->logging.level);
    cr_assert_eq(a->logging.format, b->logging.format);
}

Test(config, defaults)
{
    rly_config_defaults(&cfg);
    cr_assert_eq(cfg.relay.max_reservations, 100);
    cr_assert_eq(cfg.relay.max_reservations_per_peer, 5);
    cr_assert_eq(cfg.relay.max_circuits_per_peer, 16);
    cr_assert_eq(cfg.relay.max_circuit_duration_secs, 120);
    cr_assert_eq(cfg.relay.max_circuit_bytes, 10485760);
    cr_assert_eq(cfg.relay.reservation_ttl_secs, 3600);
    cr_assert_eq(cfg.relay.max_circuits, 1024);
    cr_assert_str_eq(cfg.network.tcp_listen_addr, "/ip4/0.0.0.0/tcp/4001");
    cr_assert_str_eq(cfg.network.tcp_listen_addr_v6, "/ip6/::/tcp/4001");
    cr_assert_str_eq(cfg.network.quic_listen_addr, "/ip4/0.0.0.0/udp/4001/quic-v1");
    cr_assert_str_eq(cfg.network.quic_listen_addr_v6, "/ip6/::/udp/4001/quic-v1");
    cr_assert_str_eq(cfg.auth.auth_token, RLY_DEFAULT_AUTH_TOKEN);
    cr_assert_eq(cfg.auth.auth_enabled, false);
    cr_assert_eq(cfg.logging.level, RLY_LOG_INFO);
    cr_assert_eq(cfg.logging.format, RLY_LOG_FORMAT_PRETTY);
    cr_assert_eq(cfg.max_memory_mb, 0, "the memory budget follows the machine");
    cr_assert_eq(rly_config_validate(&cfg, "built-in defaults", msg, sizeof(msg)), 0, "%s", msg);
    done();
}

Test(config, max_memory_mb)
{
    const uint64_t mib = 1024 * 1024, gib = 1024 * mib;
    rly_config_defaults(&cfg);
    /* 0: 1/8 of physical memory, clamped to 128..4096 MiB (go-libp2p's resource manager) */
    cr_assert_eq(rly_config_memory_budget(&cfg, 8 * gib), 1024 * mib);
    cr_assert_eq(rly_config_memory_budget(&cfg, 512 * mib), 128 * mib);
    cr_assert_eq(rly_config_memory_budget(&cfg, 0), 128 * mib, "unknown: the floor");
    cr_assert_eq(rly_config_memory_budget(&cfg, 64 * gib), 4096 * mib);
    const char *text = "[limits]\nmax_memory_mb = 300\n";
    cr_assert_eq(rly_config_load_string(&cfg, text, strlen(text), "relay.toml", msg, sizeof(msg)),
                 0, "%s", msg);
    cr_assert_eq(cfg.max_memory_mb, 300);
    cr_assert_eq(rly_config_validate(&cfg, "relay.toml", msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(rly_config_memory_budget(&cfg, 64 * gib), 300 * mib, "explicit: as given");
    invalid("[limits]\nmax_memory_mb = 1048577\n",
            "relay.toml:2: [limits] max_memory_mb = 1048577 is out of range (allowed 0..1048576)");
    load_fails("[limits]\nmax_memory_mb = -1\n",
               "relay.toml:2: [limits] max_memory_mb = -1 is out of range (allowed 0..1048576)");
    cr_assert(strstr(rly_config_default_text(), "\nmax_memory_mb = 0 "));
    done();
}

Test(config, default_text_round_trip)
{
    rly_config d;
    const char *text = rly_config_default_text();
    rly_config_defaults(&d);
    /* Start from something else, so every key must come from the text. */
    memset(&cfg, 0, sizeof(cfg));
    cfg.logging.level = RLY_LOG_TRACE;
    cfg.logging.format = RLY_LOG_FORMAT_JSON;
    cfg.auth.auth_enabled = true;
    cr_assert_eq(rly_config_load_string(&cfg, text, strlen(text), "gen", msg, sizeof(msg)), 0, "%s",
                 msg);
    assert_same(&cfg, &d);
    for (size_t i = 0; i < RLY_CONFIG_NKEYS; i++)
        cr_assert_gt(cfg.src_line[i], 0, "key %zu not in the default text", i);
    cr_assert_eq(rly_config_validate(&cfg, "gen", msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(rly_config_default_text(), text);
    done();
}

Test(config, default_text_layout)
{
    const char *t = rly_config_default_text();
    const char *relay = strstr(t, "\n[relay]\n");
    const char *network = strstr(t, "\n[network]\n");
    const char *auth = strstr(t, "\n[auth]\n");
    const char *logging = strstr(t, "\n[logging]\n");
    cr_assert(relay && network && auth && logging);
    cr_assert(relay < network && network < auth && auth < logging);
    cr_assert(strstr(t, "max_reservations = 100              # "));
    cr_assert(strstr(t, "max_circuit_bytes = 10485760        # "));
    cr_assert(strstr(t, "tcp_listen_addr = \"/ip4/0.0.0.0/tcp/4001\""));
    cr_assert(strstr(t, "auth_enabled = false"));
    cr_assert(strstr(t, "level = \"info\""));
    cr_assert(strstr(t, "log_format = \"pretty\""));
    const char *warn = strstr(t, "change auth_token before enabling authentication");
    cr_assert(warn && warn > auth && warn < logging);
    /* Every key line carries a comment. */
    for (const char *line = t; *line; line = strchr(line, '\n') + 1) {
        const char *end = strchr(line, '\n');
        cr_assert_not_null(end);
        if (line[0] != '#' && line[0] != '[' && line[0] != '\n')
            cr_assert(memchr(line, '#', (size_t)(end - line)), "%.*s", (int)(end - line), line);
    }
    done();
}

Test(config, applies_every_type)
{
    const char *text = "# custom\n"
                       "[relay]\n"
                       "max_reservations = 200\n"
                       "max_reservations_per_peer = 10\n"
                       "max_circuits_per_peer = 8\n"
                       "max_circuit_duration_secs = 0\n"
                       "max_circuit_bytes = 0x50_0000\n"
                       "reservation_ttl_secs = 7_200\n"
                       "max_circuits = 64\n"
                       "[network]\n"
                       "tcp_listen_addr = \"/ip4/127.0.0.1/tcp/0\"\n"
                       "tcp_listen_addr_v6 = ''\n"
                       "quic_listen_addr = \"\"\n"
                       "quic_listen_addr_v6 = '/ip6/::1/udp/4002/quic-v1'\n"
                       "[auth]\n"
                       "auth_token = \"s3cr\\u00e9t-and-32-bytes-or-more-for-auth\"\n"
                       "auth_enabled = true\n"
                       "[logging]\n"
                       "level = \"debug\"\n"
                       "log_format = \"json\"\n";
    cr_assert_eq(load(text), 0, "%s", msg);
    cr_assert_eq(validate(), 0, "%s", msg);
    cr_assert_eq(cfg.relay.max_reservations, 200);
    cr_assert_eq(cfg.relay.max_reservations_per_peer, 10);
    cr_assert_eq(cfg.relay.max_circuits_per_peer, 8);
    cr_assert_eq(cfg.relay.max_circuit_duration_secs, 0);
    cr_assert_eq(cfg.relay.max_circuit_bytes, 0x500000);
    cr_assert_eq(cfg.relay.reservation_ttl_secs, 7200);
    cr_assert_eq(cfg.relay.max_circuits, 64);
    cr_assert_str_eq(cfg.network.tcp_listen_addr, "/ip4/127.0.0.1/tcp/0");
    cr_assert_str_eq(cfg.network.tcp_listen_addr_v6, "");
    cr_assert_str_eq(cfg.network.quic_listen_addr, "");
    cr_assert_str_eq(cfg.network.quic_listen_addr_v6, "/ip6/::1/udp/4002/quic-v1");
    cr_assert_str_eq(cfg.auth.auth_token, "s3cr\xc3\xa9t-and-32-bytes-or-more-for-auth");
    cr_assert_eq(cfg.auth.auth_enabled, true);
    cr_assert_eq(cfg.logging.level, RLY_LOG_DEBUG);
    cr_assert_eq(cfg.logging.format, RLY_LOG_FORMAT_JSON);
    done();
}

Test(config, partial_file_keeps_defaults)
{
    cr_assert_eq(load("[relay]\nmax_circuits = 5\n\n[logging]\nlevel = 'trace'\n"), 0, "%s", msg);
    cr_assert_eq(cfg.relay.max_circuits, 5);
    cr_assert_eq(cfg.relay.max_reservations, 100);
    cr_assert_eq(cfg.logging.level, RLY_LOG_TRACE);
    cr_assert_str_eq(cfg.network.tcp_listen_addr, "/ip4/0.0.0.0/tcp/4001");
    cr_assert_eq(load(""), 0);
    cr_assert_eq(load("# only a comment\r\n\r\n[relay]\r\n"), 0, "%s", msg);
    done();
}

Test(config, levels_and_formats)
{
    static const struct {
        const char *name;
        rly_log_level level;
    } levels[] = {{"trace", RLY_LOG_TRACE},
                  {"debug", RLY_LOG_DEBUG},
                  {"info", RLY_LOG_INFO},
                  {"warn", RLY_LOG_WARN},
                  {"error", RLY_LOG_ERROR}};
    char text[64];
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        snprintf(text, sizeof(text), "[logging]\nlevel = \"%s\"\n", levels[i].name);
        cr_assert_eq(load(text), 0, "%s", msg);
        cr_assert_eq(cfg.logging.level, levels[i].level);
    }
    load_fails("[logging]\nlevel = \"verbose\"\n",
               "relay.toml:2: [logging] level = \"verbose\" is not valid (allowed trace, debug, "
               "info, warn, error)");
    load_fails("[logging]\nlevel = \"INFO\"\n",
               "relay.toml:2: [logging] level = \"INFO\" is not valid (allowed trace, debug, "
               "info, warn, error)");
    load_fails("[logging]\n\nlog_format = \"xml\"\n",
               "relay.toml:3: [logging] log_format = \"xml\" is not valid (allowed pretty, json)");
}

Test(config, unknown_keys_suggest)
{
    load_fails("[relay]\nmax_circuits = 5\nmax_reservation = 5\n",
               "relay.toml:3: unknown key 'max_reservation' in [relay] (did you mean "
               "'max_reservations'?)");
    load_fails("[relay]\nmax-reservations-per-peer = 5\n",
               "relay.toml:2: unknown key 'max-reservations-per-peer' in [relay] (did you mean "
               "'max_reservations_per_peer'?)");
    load_fails("[network]\ntcp_listen = \"x\"\n",
               "relay.toml:2: unknown key 'tcp_listen' in [network] (did you mean "
               "'tcp_listen_addr'?)");
    load_fails("[logging]\nformat = \"json\"\n",
               "relay.toml:2: unknown key 'format' in [logging] (did you mean 'log_format'?)");
    load_fails("[logging]\nlog_level = \"info\"\n",
               "relay.toml:2: unknown key 'log_level' in [logging] (did you mean 'level'?)");
    load_fails("[auth]\nAuth_Enabled = true\n",
               "relay.toml:2: unknown key 'Auth_Enabled' in [auth] (did you mean "
               "'auth_enabled'?)");
}

Test(config, unknown_keys_list_or_redirect)
{
    load_fails("[relay]\nfoo = 1\n",
               "relay.toml:2: unknown key 'foo' in [relay] (valid keys: max_reservations, "
               "max_reservations_per_peer, max_circuits_per_peer, max_circuit_duration_secs, "
               "max_circuit_bytes, reservation_ttl_secs, max_circuits)");
    load_fails("[auth]\nzzzzzzzzzzzzzz = 1\n",
               "relay.toml:2: unknown key 'zzzzzzzzzzzzzz' in [auth] (valid keys: auth_token, "
               "auth_enabled, control_plane_keys, revoked_tokens_file, classes)");
    load_fails("[relay]\nlevel = \"info\"\n",
               "relay.toml:2: unknown key 'level' in [relay] (it belongs in [logging])");
    load_fails("[auth]\ntcp_listen_addr = \"\"\n",
               "relay.toml:2: unknown key 'tcp_listen_addr' in [auth] (it belongs in [network])");
}

Test(config, keys_outside_sections)
{
    load_fails("max_reservations = 5\n[relay]\n",
               "relay.toml:1: key 'max_reservations' must be in a section: put it under "
               "[relay]");
    load_fails("# c\nlevle = \"info\"\n",
               "relay.toml:2: unknown key 'levle' outside any section (did you mean 'level' in "
               "[logging]?)");
    load_fails("zzz = 1\n", "relay.toml:1: unknown key 'zzz' outside any section (keys belong in "
                            "[relay], [network], [auth], [metrics], [limits], [acl] or [logging])");
}

Test(config, unknown_sections)
{
    load_fails("[relya]\nmax_reservations = 5\n",
               "relay.toml:1: unknown section [relya] (did you mean [relay]?)");
    load_fails("[Network]\n", "relay.toml:1: unknown section [Network] (did you mean [network]?)");
    load_fails("[log]\nlevel = \"info\"\n",
               "relay.toml:1: unknown section [log] (did you mean [logging]?)");
    load_fails("[relay]\nmax_circuits = 5\n\n[telemetry]\n",
               "relay.toml:4: unknown section [telemetry] (valid sections: [relay], [network], "
               "[auth], [metrics], [limits], [acl], [logging])");
    /* The first problem in the file is the one reported. */
    load_fails("[relay]\nbogus = 1\n[xyzzy]\n",
               "relay.toml:2: unknown key 'bogus' in [relay] (valid keys: max_reservations, "
               "max_reservations_per_peer, max_circuits_per_peer, max_circuit_duration_secs, "
               "max_circuit_bytes, reservation_ttl_secs, max_circuits)");
    load_fails("[xyzzy]\n[relay]\nbogus = 1\n",
               "relay.toml:1: unknown section [xyzzy] (valid sections: [relay], [network], "
               "[auth], [metrics], [limits], [acl], [logging])");
}

Test(config, wrong_types)
{
    load_fails("[relay]\nmax_reservations = \"100\"\n",
               "relay.toml:2: [relay] max_reservations must be an integer, got string");
    load_fails("[relay]\nmax_circuits = true\n",
               "relay.toml:2: [relay] max_circuits must be an integer, got boolean");
    load_fails("[network]\ntcp_listen_addr = 4001\n",
               "relay.toml:2: [network] tcp_listen_addr must be a string, got integer");
    load_fails("[auth]\nauth_enabled = \"true\"\n",
               "relay.toml:2: [auth] auth_enabled must be a boolean (true or false), got string");
    load_fails("[auth]\nauth_token = [\"a\",\n\"b\"]\n",
               "relay.toml:2: [auth] auth_token must be a string, got array");
    load_fails("[logging]\nlevel = 3\n",
               "relay.toml:2: [logging] level must be a string, got integer");
    load_fails("[logging]\nlog_format = false\n",
               "relay.toml:2: [logging] log_format must be a string, got boolean");
}

Test(config, toml_syntax_errors_name_line_and_column)
{
    load_fails("[relay]\nmax_reservations = 1.5\n",
               "relay.toml:2:20: floats are not supported: '1.5'");
    load_fails("[relay]\nmax_reservations = 1\nmax_reservations = 2\n",
               "relay.toml:3:1: duplicate key 'max_reservations' (first set on line 2)");
    load_fails("[relay]\n[relay]\n", "relay.toml:2:1: duplicate table [relay] (first on line 1)");
    load_fails("[relay]\nmax_reservations = 99999999999999999999\n",
               "relay.toml:2:20: integer '99999999999999999999' does not fit in 64 bits "
               "(signed)");
    load_fails("[logging]\nlevel = info\n",
               "relay.toml:2:9: invalid value 'info' (strings must be quoted)");
}

/* One [relay] integer key with its bounds. |prefix| keeps the cross-key rule satisfied. */
typedef struct range_case {
    const char *key;
    uint64_t min, max;
    const char *prefix;
} range_case;

static const range_case ranges[] = {
    {"max_reservations", 1, 1000000, "max_reservations_per_peer = 1\n"},
    {"max_reservations_per_peer", 1, 1000, "max_reservations = 1000000\n"},
    {"max_circuits_per_peer", 1, 100000, ""},
    {"max_circuits", 1, 1000000, ""},
    {"max_circuit_duration_secs", 0, 2592000, ""},
    {"max_circuit_bytes", 0, 9223372036854775807ull, ""},
    {"reservation_ttl_secs", 1, 604800, ""},
};

static void range_text(char *out, size_t cap, const range_case *r, const char *value)
{
    snprintf(out, cap, "[relay]\n%s%s = %s\n", r->prefix, r->key, value);
}

static uint32_t range_line(const range_case *r)
{
    return r->prefix[0] ? 3 : 2;
}

static void range_bad(const range_case *r, const char *value, bool at_load)
{
    char text[256], want[256];
    range_text(text, sizeof(text), r, value);
    snprintf(want, sizeof(want),
             "relay.toml:%u: [relay] %s = %s is out of range (allowed %llu..%llu)", range_line(r),
             r->key, value, (unsigned long long)r->min, (unsigned long long)r->max);
    if (at_load)
        load_fails(text, want);
    else
        invalid(text, want);
}

Test(config, range_bounds)
{
    char text[256], num[32];
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const range_case *r = &ranges[i];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)r->min);
        range_text(text, sizeof(text), r, num);
        ok(text);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)r->max);
        range_text(text, sizeof(text), r, num);
        ok(text);
        if (r->min > 0) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)(r->min - 1));
            range_bad(r, num, false);
        }
        /* Negative values cannot be stored: refused while loading, same message. */
        range_bad(r, "-1", true);
        if (r->max < INT64_MAX) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)(r->max + 1));
            range_bad(r, num, false);
        }
    }
    /* max_circuit_bytes' maximum is INT64_MAX: one more is not even a TOML integer. */
    load_fails("[relay]\nmax_circuit_bytes = 9223372036854775808\n",
               "relay.toml:2:21: integer '9223372036854775808' does not fit in 64 bits (signed)");
}

/* [network] handshake_idle_timeout_secs and max_pending_handshakes_per_ip (issue 11, item 3):
 * defaults, bounds, the generated file. */
Test(config, handshake_idle_timeout_and_per_ip_cap)
{
    rly_config_defaults(&cfg);
    cr_assert_eq(cfg.network.handshake_idle_timeout_secs, 5);
    cr_assert_eq(cfg.network.max_pending_handshakes_per_ip, 32);
    cr_assert_eq(load("[network]\nhandshake_idle_timeout_secs = 2\nmax_pending_handshakes_per_ip = "
                      "4\n"),
                 0, "%s", msg);
    cr_assert_eq(validate(), 0, "%s", msg);
    cr_assert_eq(cfg.network.handshake_idle_timeout_secs, 2);
    cr_assert_eq(cfg.network.max_pending_handshakes_per_ip, 4);
    invalid("[network]\nhandshake_idle_timeout_secs = 0\n",
            "relay.toml:2: [network] handshake_idle_timeout_secs = 0 is out of range (allowed "
            "1..300)");
    invalid("[network]\nmax_pending_handshakes_per_ip = 0\n",
            "relay.toml:2: [network] max_pending_handshakes_per_ip = 0 is out of range (allowed "
            "1..100000)");
    const char *t = rly_config_default_text();
    cr_assert(strstr(t, "\nhandshake_idle_timeout_secs = 5 "));
    cr_assert(strstr(t, "\nmax_pending_handshakes_per_ip = 32 "));
    done();
}

/* [network] write_timeout_secs (issue 11, item 7): default, bounds, 0 turns it off. */
Test(config, write_timeout)
{
    rly_config_defaults(&cfg);
    cr_assert_eq(cfg.network.write_timeout_secs, 30);
    cr_assert_eq(load("[network]\nwrite_timeout_secs = 0\n"), 0, "%s", msg);
    cr_assert_eq(validate(), 0, "%s", msg);
    cr_assert_eq(cfg.network.write_timeout_secs, 0);
    invalid("[network]\nwrite_timeout_secs = 3601\n",
            "relay.toml:2: [network] write_timeout_secs = 3601 is out of range (allowed 0..3600)");
    cr_assert(strstr(rly_config_default_text(), "\nwrite_timeout_secs = 30 "));
    done();
}

Test(config, reservations_per_peer_not_above_global)
{
    /* An explicit per-peer value above the global one is an error, wherever it comes from. */
    invalid("[relay]\nmax_reservations_per_peer = 101\n",
            "relay.toml:2: [relay] max_reservations_per_peer = 101 must not be greater than "
            "max_reservations = 100");
    invalid("[relay]\nmax_reservations = 4\nmax_reservations_per_peer = 5\n",
            "relay.toml:3: [relay] max_reservations_per_peer = 5 must not be greater than "
            "max_reservations = 4");
    invalid("[relay]\nmax_reservations_per_peer = 3\nmax_reservations = 2\n",
            "relay.toml:2: [relay] max_reservations_per_peer = 3 must not be greater than "
            "max_reservations = 2");
    ok("[relay]\nmax_reservations = 5\n");
    cr_assert_eq(rly_config_reservations_per_peer(&cfg), 5);
    ok("[relay]\nmax_reservations = 3\nmax_reservations_per_peer = 3\n");
    cr_assert_eq(rly_config_reservations_per_peer(&cfg), 3);
}

Test(config, reservations_per_peer_default_gives_way)
{
    /* Only max_reservations set, below the per-peer default: valid, and the cap in force is the
     * global one; the per-peer key keeps its default. */
    ok("[relay]\nmax_reservations = 2\n");
    cr_assert_eq(cfg.relay.max_reservations_per_peer, 5);
    cr_assert_eq(rly_config_reservations_per_peer(&cfg), 2);
    ok("[relay]\nmax_reservations = 1\n");
    cr_assert_eq(rly_config_reservations_per_peer(&cfg), 1);
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_reservations_per_peer(&cfg), 5);
}

Test(config, validate_without_file_lines)
{
    rly_config_defaults(&cfg);
    cfg.relay.max_circuits = 0;
    cr_assert_eq(rly_config_validate(&cfg, "built-in defaults", msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "built-in defaults: [relay] max_circuits = 0 is out of range (allowed "
                          "1..1000000)");
    rly_config_defaults(&cfg);
    memset(cfg.auth.auth_token, 'a', sizeof(cfg.auth.auth_token));
    cr_assert_eq(rly_config_validate(&cfg, NULL, msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "config: [auth] auth_token is too long (at most 1023 bytes)");
    rly_config_defaults(&cfg);
    cfg.logging.level = (rly_log_level)9;
    cr_assert_eq(rly_config_validate(&cfg, "x", NULL, 0), RLY_ERR_CONFIG);
    cr_assert_eq(rly_config_validate(&cfg, "x", msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "x: [logging] level has an invalid value");
    rly_config_defaults(&cfg);
    cfg.logging.format = (rly_log_format)7;
    cr_assert_eq(rly_config_validate(&cfg, "x", msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "x: [logging] log_format has an invalid value");
    done();
}

Test(config, listen_addrs_valid)
{
    ok("[network]\ntcp_listen_addr = \"/ip4/127.0.0.1/tcp/0\"\n"
       "tcp_listen_addr_v6 = \"/ip6/::1/tcp/65535\"\n"
       "quic_listen_addr = \"/ip4/127.0.0.1/udp/4001/quic-v1\"\n"
       "quic_listen_addr_v6 = \"/ip6/::1/udp/1/quic-v1\"\n");
    ok("[network]\nquic_listen_addr = \"\"\nquic_listen_addr_v6 = \"\"\n");
    ok("[network]\ntcp_listen_addr = \"\"\n");
    ok("[network]\ntcp_listen_addr_v6 = \"\"\n");
}

Test(config, listen_addrs_need_one_tcp)
{
    invalid("[network]\ntcp_listen_addr = \"\"\ntcp_listen_addr_v6 = \"\"\n",
            "relay.toml:2: [network] tcp_listen_addr and tcp_listen_addr_v6 are both empty; at "
            "least one TCP listener must be enabled");
}

Test(config, listen_addrs_malformed)
{
    invalid("[network]\ntcp_listen_addr = \"/ip4/1.2.3/tcp/1\"\n",
            "relay.toml:2: [network] tcp_listen_addr = \"/ip4/1.2.3/tcp/1\" is not a valid "
            "multiaddr (malformed input); expected /ip4/<address>/tcp/<port>, or \"\" to "
            "disable");
    invalid("[network]\ntcp_listen_addr = \"/ip4/0.0.0.0/tcp/65536\"\n",
            "relay.toml:2: [network] tcp_listen_addr = \"/ip4/0.0.0.0/tcp/65536\" is not a valid "
            "multiaddr (malformed input); expected /ip4/<address>/tcp/<port>, or \"\" to "
            "disable");
    invalid("[network]\nquic_listen_addr_v6 = \"/ip6/::/udp\"\n",
            "relay.toml:2: [network] quic_listen_addr_v6 = \"/ip6/::/udp\" is not a valid "
            "multiaddr (malformed input); expected /ip6/<address>/udp/<port>/quic-v1, or \"\" "
            "to disable");
    invalid("[network]\ntcp_listen_addr_v6 = \"/foo/1\"\n",
            "relay.toml:2: [network] tcp_listen_addr_v6 = \"/foo/1\" is not a valid multiaddr "
            "(unknown protocol); expected /ip6/<address>/tcp/<port>, or \"\" to disable");
    cr_assert_eq(load("[network]\ntcp_listen_addr = \"0.0.0.0:4001\"\n"), 0);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert(strstr(msg, "relay.toml:2: [network] tcp_listen_addr = \"0.0.0.0:4001\" is not a "
                          "valid multiaddr"),
              "%s", msg);
    done();
}

static void wrong_shape(const char *key, const char *value, const char *shape)
{
    char text[256], want[512];
    snprintf(text, sizeof(text), "[network]\n%s = \"%s\"\n", key, value);
    snprintf(want, sizeof(want),
             "relay.toml:2: [network] %s = \"%s\" has the wrong form: expected %s, or \"\" to "
             "disable",
             key, value, shape);
    invalid(text, want);
}

Test(config, listen_addrs_wrong_shape)
{
    const char *tcp4 = "/ip4/<address>/tcp/<port>", *tcp6 = "/ip6/<address>/tcp/<port>";
    const char *quic4 = "/ip4/<address>/udp/<port>/quic-v1";
    const char *quic6 = "/ip6/<address>/udp/<port>/quic-v1";
    wrong_shape("tcp_listen_addr", "/ip4/0.0.0.0/udp/4001/quic-v1", tcp4);
    wrong_shape("tcp_listen_addr", "/ip4/0.0.0.0/udp/4001", tcp4);
    wrong_shape("tcp_listen_addr", "/ip6/::/tcp/4001", tcp4);
    wrong_shape("tcp_listen_addr", "/ip4/0.0.0.0", tcp4);
    wrong_shape("tcp_listen_addr", "/dns4/example.com/tcp/4001", tcp4);
    wrong_shape("tcp_listen_addr", "/ip4/0.0.0.0/tcp/4001/p2p-circuit", tcp4);
    wrong_shape("tcp_listen_addr",
                "/ip4/0.0.0.0/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", tcp4);
    wrong_shape("tcp_listen_addr_v6", "/ip4/0.0.0.0/tcp/4001", tcp6);
    wrong_shape("tcp_listen_addr_v6", "/ip6/::/udp/4001/quic-v1", tcp6);
    wrong_shape("quic_listen_addr", "/ip4/0.0.0.0/tcp/4001", quic4);
    wrong_shape("quic_listen_addr", "/ip4/0.0.0.0/udp/4001", quic4);
    wrong_shape("quic_listen_addr", "/ip6/::/udp/4001/quic-v1", quic4);
    wrong_shape("quic_listen_addr_v6", "/ip4/0.0.0.0/udp/4001/quic-v1", quic6);
    wrong_shape("quic_listen_addr_v6", "/ip6/::/tcp/4001", quic6);
}

Test(config, string_lengths)
{
    static char text[RLY_CONFIG_TOKEN_MAX + 64];
    char value[RLY_CONFIG_TOKEN_MAX + 1];
    memset(value, 'x', sizeof(value));
    value[RLY_CONFIG_TOKEN_MAX - 1] = '\0';
    snprintf(text, sizeof(text), "[auth]\nauth_token = \"%s\"\n", value);
    ok(text);
    cr_assert_eq(load(text), 0);
    cr_assert_eq(strlen(cfg.auth.auth_token), RLY_CONFIG_TOKEN_MAX - 1);
    value[RLY_CONFIG_TOKEN_MAX - 1] = 'x';
    value[RLY_CONFIG_TOKEN_MAX] = '\0';
    snprintf(text, sizeof(text), "[auth]\nauth_token = \"%s\"\n", value);
    load_fails(text, "relay.toml:2: [auth] auth_token is too long (1024 bytes, at most 1023)");
    /* Addresses: 255 bytes fit the buffer (and then fail as a multiaddr), 256 do not. */
    value[RLY_CONFIG_ADDR_MAX - 1] = '\0';
    snprintf(text, sizeof(text), "[network]\ntcp_listen_addr = '%s'\n", value);
    cr_assert_eq(load(text), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    value[RLY_CONFIG_ADDR_MAX - 1] = 'x';
    value[RLY_CONFIG_ADDR_MAX] = '\0';
    snprintf(text, sizeof(text), "[network]\n\ntcp_listen_addr = '%s'\n", value);
    load_fails(text, "relay.toml:3: [network] tcp_listen_addr is too long (256 bytes, at most "
                     "255)");
}

Test(config, empty_token)
{
    invalid("[auth]\nauth_token = \"\"\n", "relay.toml:2: [auth] auth_token must not be empty");
    invalid("[auth]\nauth_enabled = true\nauth_token = ''\n",
            "relay.toml:3: [auth] auth_token must not be empty");
}

Test(config, auth_needs_a_real_token)
{
    invalid("[auth]\nauth_enabled = true\n",
            "relay.toml:2: [auth] auth_enabled = true with the default auth_token "
            "CHANGE_ME_IN_PRODUCTION and no control_plane_keys: anyone who read the docs could "
            "authenticate; set control_plane_keys (signed tokens) or auth_token to a random secret "
            "of at least 32 bytes (e.g. the output of 'openssl rand -hex 32')");
    invalid("[auth]\nauth_token = 'short-but-not-default'\nauth_enabled = true\n",
            "relay.toml:2: [auth] auth_token is 21 bytes; with auth_enabled = true it must be at "
            "least 32 (e.g. the output of 'openssl rand -hex 32')");
    cr_assert_eq(load("[auth]\nauth_token = '0123456789abcdef0123456789abcdef'\nauth_enabled = "
                      "true\n"),
                 0, "32 bytes are enough");
    cr_assert_eq(load("[auth]\nauth_token = 'short'\n"), 0, "any token while auth is off");
}

#define CP_KEY "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

/* Signed tokens: the control plane's public keys alone are enough to turn auth on (the default
 * auth_token then means "no shared secret"); a real auth_token beside them is the migration. */
Test(config, control_plane_keys)
{
    ok("[auth]\nauth_enabled = true\ncontrol_plane_keys = [\"" CP_KEY "\"]\n");
    cr_assert_eq(cfg.auth.control_plane_keys.n, 1);
    cr_assert(!rly_config_has_shared_secret(&cfg), "the default auth_token is no secret");
    ok("[auth]\nauth_enabled = true\ncontrol_plane_keys = [\"" CP_KEY "\"]\n"
       "auth_token = '0123456789abcdef0123456789abcdef'\n"); /* both forms at once */
    cr_assert(rly_config_has_shared_secret(&cfg));
    invalid("[auth]\nauth_enabled = true\ncontrol_plane_keys = [\"" CP_KEY "\"]\n"
            "auth_token = 'short'\n",
            "relay.toml:4: [auth] auth_token is 5 bytes; with auth_enabled = true it must be at "
            "least 32 (e.g. the output of 'openssl rand -hex 32')");
    invalid("[auth]\ncontrol_plane_keys = [\"QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N\"]\n",
            "relay.toml:2: [auth] control_plane_keys: entry 1 "
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N is not the PeerId of an Ed25519 key "
            "(12D3KooW...; relay-server --control-plane-keygen prints one)");
    load_fails("[auth]\ncontrol_plane_keys = [\"12D3KooW\"]\n",
               "relay.toml:2: [auth] control_plane_keys: entry 1 \"12D3KooW\" is not a PeerId "
               "(12D3KooW... or Qm...)");
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof(text), "[auth]\ncontrol_plane_keys = [");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "\"" CP_KEY "\",");
    snprintf(text + n, sizeof(text) - n, "]\n");
    load_fails(text, "relay.toml:2: [auth] control_plane_keys lists 17 entries (at most 16)");
    ok("[auth]\nrevoked_tokens_file = \"/etc/mesh-relay/revoked.txt\"\n");
    cr_assert_str_eq(cfg.auth.revoked_tokens_file, "/etc/mesh-relay/revoked.txt");
}

Test(config, token_classes)
{
    ok("[auth]\nclasses = [\"gold: max_circuit_duration_secs=3600\", \"free: "
       "max_circuit_bytes=1000\"]\n");
    cr_assert_eq(cfg.auth.classes.n, 2);
    cr_assert_str_eq(cfg.auth.classes.items[1].name, "free");
    cr_assert_eq(cfg.auth.classes.items[0].duration_secs, 3600);
    load_fails("[auth]\nclasses = [\"gold: max_circuit_bytes=1\", \"gold: max_circuit_bytes=2\"]\n",
               "relay.toml:2: [auth] classes: entry 2: class 'gold' is defined twice");
    load_fails("[auth]\nclasses = [\"gold: speed=1\"]\n",
               "relay.toml:2: [auth] classes: entry 1: unknown key 'speed' (allowed: "
               "max_circuit_duration_secs, max_circuit_bytes)");
    load_fails("[auth]\nclasses = \"gold: max_circuit_bytes=1\"\n",
               "relay.toml:2: [auth] classes must be an array, got string");
}

Test(config, later_keys_override_earlier_lines)
{
    const char *two = "\n\n[relay]\nmax_circuits = 2000000\n";
    cr_assert_eq(load("[relay]\nmax_circuits = 0\n"), 0);
    cr_assert_eq(rly_config_load_string(&cfg, two, strlen(two), "second.toml", msg, sizeof(msg)), 0,
                 "%s", msg);
    cr_assert_eq(rly_config_validate(&cfg, "second.toml", msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "second.toml:4: [relay] max_circuits = 2000000 is out of range "
                          "(allowed 1..1000000)");
    done();
}

Test(config, null_name_and_no_errmsg)
{
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_string(&cfg, "x = 1", 5, NULL, NULL, 0), RLY_ERR_CONFIG);
    cr_assert_eq(rly_config_load_string(&cfg, "[x", 2, NULL, msg, sizeof(msg)), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "config:1:3: expected ']' after table name");
    char tiny[8];
    cr_assert_eq(rly_config_load_string(&cfg, "[x]", 3, "relay.toml", tiny, sizeof(tiny)),
                 RLY_ERR_CONFIG);
    cr_assert_str_eq(tiny, "relay.t");
    done();
}

Test(config, too_large_string)
{
    size_t n = RLY_CONFIG_FILE_MAX + 1;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, '\n', n);
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_string(&cfg, big, n, "big.toml", msg, sizeof(msg)),
                 RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "big.toml: configuration is too large (1048577 bytes, at most 1048576)");
    free(big);
    done();
}

/* write_file creates a temporary file holding |n| bytes of |data| and returns its path. */
static void write_file(char *path, size_t cap, const char *data, size_t n)
{
    snprintf(path, cap, "/tmp/rly_test_config_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

Test(config, load_file)
{
    char path[64];
    const char *text = "[relay]\r\nmax_circuits = 7\r\n";
    write_file(path, sizeof(path), text, strlen(text));
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_file(&cfg, path, msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(cfg.relay.max_circuits, 7);
    cr_assert_eq(rly_config_validate(&cfg, path, msg, sizeof(msg)), 0, "%s", msg);
    unlink(path);
    done();
}

Test(config, load_file_errors_name_the_path)
{
    char path[64], want[256];
    const char *text = "[relay]\nmax_circuits = 7\nmax_circuit = 8\n";
    write_file(path, sizeof(path), text, strlen(text));
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_file(&cfg, path, msg, sizeof(msg)), RLY_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s:3: unknown key 'max_circuit' in [relay] (did you mean 'max_circuits'?)", path);
    cr_assert_str_eq(msg, want);
    cr_assert_eq(cfg.relay.max_circuits, 1024);
    unlink(path);
    done();
}

Test(config, load_file_missing)
{
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_file(&cfg, "/nonexistent/rly/relay.toml", msg, sizeof(msg)),
                 RLY_ERR_NOT_FOUND);
    cr_assert_str_eq(msg, "Configuration file not found: /nonexistent/rly/relay.toml");
    done();
}

Test(config, load_file_directory)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/rly_test_config_dir_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    rly_config_defaults(&cfg);
    int rv = rly_config_load_file(&cfg, dir, msg, sizeof(msg));
    rmdir(dir);
    cr_assert_eq(rv, RLY_ERR_IO, "rv %d: %s", rv, msg);
    cr_assert(strstr(msg, dir), "%s", msg);
    cr_assert(strstr(msg, "Is a directory"), "%s", msg);
    done();
}

Test(config, load_file_unreadable)
{
    char path[64];
    if (geteuid() == 0)
        cr_skip_test("root can read any file");
    write_file(path, sizeof(path), "", 0);
    chmod(path, 0);
    rly_config_defaults(&cfg);
    int rv = rly_config_load_file(&cfg, path, msg, sizeof(msg));
    unlink(path);
    cr_assert_eq(rv, RLY_ERR_IO, "rv %d: %s", rv, msg);
    cr_assert(strstr(msg, path) && strstr(msg, "Permission denied"), "%s", msg);
    done();
}

Test(config, load_file_size_limit)
{
    char path[64], want[256];
    size_t n = RLY_CONFIG_FILE_MAX;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    /* Comment lines of 1024 bytes: exactly the limit loads. */
    for (size_t i = 0; i < n; i += 1024) {
        memset(big + i, '#', 1023);
        big[i + 1023] = '\n';
    }
    write_file(path, sizeof(path), big, n);
    rly_config_defaults(&cfg);
    cr_assert_eq(rly_config_load_file(&cfg, path, msg, sizeof(msg)), 0, "%s", msg);
    unlink(path);
    big[n] = '\n';
    write_file(path, sizeof(path), big, n + 1);
    free(big);
    cr_assert_eq(rly_config_load_file(&cfg, path, msg, sizeof(msg)), RLY_ERR_CONFIG);
    snprintf(want, sizeof(want), "Configuration file %s is too large (more than 1048576 bytes)",
             path);
    cr_assert_str_eq(msg, want);
    unlink(path);
    done();
}

Test(config, level_off_is_not_an_operator_level)
{
    rly_config c;
    char err[RLY_CONFIG_ERRMSG_MAX];
    const char *text = "[logging]\nlevel = \"off\"\n";
    rly_config_defaults(&c);
    cr_assert_eq(rly_config_load_string(&c, text, strlen(text), "relay.toml", err, sizeof(err)),
                 RLY_ERR_CONFIG);
    cr_assert(strstr(err, "relay.toml:2:") && strstr(err, "\"off\""), "%s", err);
    cr_assert_eq(c.logging.level, RLY_LOG_INFO, "a failed load changes nothing");
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(config, external_addrs)
{
    rly_config c;
    char err[RLY_CONFIG_ERRMSG_MAX];
    const char *ok = "[network]\nexternal_addrs = [\"/dns4/r.example/tcp/4001\",\n"
                     "  \"/ip6/2001:db8::1/udp/4001/quic-v1\", ]\n";
    rly_config_defaults(&c);
    cr_assert_eq(c.network.nexternal_addrs, 0);
    cr_assert_eq(rly_config_load_string(&c, ok, strlen(ok), "r.toml", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(c.network.nexternal_addrs, 2);
    cr_assert_str_eq(c.network.external_addrs[1], "/ip6/2001:db8::1/udp/4001/quic-v1");
    cr_assert_eq(rly_config_validate(&c, "r.toml", err, sizeof(err)), 0, "%s", err);

    static const char *const bad[] = {
        "[network]\nexternal_addrs = "
        "[\"/ip4/1.2.3.4/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq\"]\n",
        "[network]\nexternal_addrs = [\"/ip4/1.2.3.4/udp/1\"]\n",
        "[network]\nexternal_addrs = [\"/tcp/1\"]\n",
        "[network]\nexternal_addrs = [\"nonsense\"]\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rly_config_defaults(&c);
        cr_assert_eq(rly_config_load_string(&c, bad[i], strlen(bad[i]), "r.toml", err, sizeof(err)),
                     0, "%s", err);
        cr_assert_eq(rly_config_validate(&c, "r.toml", err, sizeof(err)), RLY_ERR_CONFIG, "%s",
                     bad[i]);
        cr_assert(strstr(err, "r.toml:2:") && strstr(err, "external_addrs"), "%s", err);
    }
    const char *many =
        "[network]\nexternal_addrs = [\"/ip4/1.1.1.1/tcp/1\", \"/ip4/1.1.1.1/tcp/2\","
        "\"/ip4/1.1.1.1/tcp/3\", \"/ip4/1.1.1.1/tcp/4\", \"/ip4/1.1.1.1/tcp/5\","
        "\"/ip4/1.1.1.1/tcp/6\", \"/ip4/1.1.1.1/tcp/7\", \"/ip4/1.1.1.1/tcp/8\","
        "\"/ip4/1.1.1.1/tcp/9\"]\n";
    rly_config_defaults(&c);
    cr_assert_eq(rly_config_load_string(&c, many, strlen(many), "r.toml", err, sizeof(err)),
                 RLY_ERR_CONFIG);
    cr_assert(strstr(err, "at most 8"), "%s", err);
    cr_assert_eq(rly_mem_default()->live_bytes, 0);
}

Test(config, acl_lists)
{
    cr_assert_eq(
        load("[acl]\nreserve_allow_peers = [\"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQ"
             "AJU5SA\"]\ndeny_cidrs = [\"10.0.0.0/8\", \"::1\"]\ntrusted_peers = []\n"),
        0, "%s", msg);
    cr_assert_eq(validate(), 0, "%s", msg);
    cr_assert_eq(cfg.acl.reserve_allow_peers.n, 1);
    cr_assert_eq(cfg.acl.deny_cidrs.n, 2);
    cr_assert_eq(cfg.acl.deny_cidrs.items[0].prefix, 8);
    cr_assert_eq(cfg.acl.deny_cidrs.items[1].family, 6);
    cr_assert_eq(cfg.acl.trusted_peers.n, 0);
    cr_assert_eq(cfg.acl.connect_allow_cidrs.n, 0, "untouched lists stay empty");
    done();
    load_fails("[acl]\ndeny_cidrs = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
               "relay.toml:2: [acl] deny_cidrs: entry 2 \"10.0.0.0/33\" is not a CIDR "
               "(203.0.113.0/24, 2001:db8::/32 or one address)");
    load_fails("[acl]\ntrusted_peers = [\"QmNope\"]\n",
               "relay.toml:2: [acl] trusted_peers: entry 1 \"QmNope\" is not a PeerId (12D3KooW... "
               "or Qm...)");
    load_fails("[acl]\ndeny_peers = \"12D3KooW\"\n",
               "relay.toml:2: [acl] deny_peers must be an array, got string");
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "[acl]\nconnect_allow_cidrs = [");
    for (int i = 0; i < 129; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"10.0.%d.0/24\"", i ? "," : "",
                              i % 250);
    snprintf(text + n, sizeof(text) - n, "]\n");
    load_fails(text, "relay.toml:2: [acl] connect_allow_cidrs lists 129 entries (at most 128)");
}

/* ---- overrides: MESH_RELAY_* and --set ------------------------------------------------------ */

/* override applies |env| (NULL-terminated) and |sets| over the file text |text|. */
static int override(const char *text, char **env, const char *const *sets, size_t nsets)
{
    rly_config_overrides ov = {.env = env, .sets = sets, .nsets = nsets};
    cr_assert_eq(load(text), 0, "load '%s': %s", text, msg);
    msg[0] = '\0';
    return rly_config_apply_overrides(&cfg, &ov, msg, sizeof(msg));
}

Test(config_overrides, environment_then_set_win_over_the_file)
{
    char *env[] = {"HOME=/x",
                   "MESH_RELAY_RELAY_MAX_CIRCUITS=300",
                   "MESH_RELAY_RELAY_MAX_RESERVATIONS=400",
                   "MESH_RELAY_AUTH_AUTH_ENABLED=true",
                   "MESH_RELAY_AUTH_AUTH_TOKEN=0123456789abcdef0123456789abcdef",
                   "MESH_RELAY_LOGGING_LEVEL=debug",
                   NULL};
    const char *sets[] = {"relay.max_circuits=500", "relay.max_circuits=600",
                          "logging.log_format=json"};
    cr_assert_eq(override("[relay]\nmax_circuits = 200\nmax_circuits_per_peer = 9\n", env, sets, 3),
                 0, "%s", msg);
    cr_assert_eq(validate(), 0, "%s", msg);
    cr_assert_eq(cfg.relay.max_circuits, 600); /* the last --set */
    cr_assert_eq(cfg.relay.max_reservations, 400);
    cr_assert_eq(cfg.relay.max_circuits_per_peer, 9); /* the file, nothing over it */
    cr_assert(cfg.auth.auth_enabled);
    cr_assert_str_eq(cfg.auth.auth_token, "0123456789abcdef0123456789abcdef");
    cr_assert_eq(cfg.logging.level, RLY_LOG_DEBUG);
    cr_assert_eq(cfg.logging.format, RLY_LOG_FORMAT_JSON);
    char o[256];
    rly_config_origin(&cfg, "relay.toml", "relay", "max_circuits", o, sizeof(o));
    cr_assert_str_eq(o, "from --set relay.max_circuits");
    rly_config_origin(&cfg, "relay.toml", "relay", "max_reservations", o, sizeof(o));
    cr_assert_str_eq(o, "from the environment variable MESH_RELAY_RELAY_MAX_RESERVATIONS");
    rly_config_origin(&cfg, "relay.toml", "relay", "max_circuits_per_peer", o, sizeof(o));
    cr_assert_str_eq(o, "in [relay] of relay.toml");
    rly_config_origin(&cfg, "relay.toml", "relay", "reservation_ttl_secs", o, sizeof(o));
    cr_assert_str_eq(o, "the built-in default");
    done();
}

Test(config_overrides, lists_comma_separated_or_toml)
{
    char *env[] = {"MESH_RELAY_NETWORK_EXTERNAL_ADDRS= /dns4/a.example/tcp/4001 , "
                   "/dns4/a.example/udp/4001/quic-v1,",
                   "MESH_RELAY_ACL_DENY_CIDRS=10.0.0.0/8,2001:db8::/32", NULL};
    cr_assert_eq(override("", env, NULL, 0), 0, "%s", msg);
    cr_assert_eq(cfg.network.nexternal_addrs, 2);
    cr_assert_str_eq(cfg.network.external_addrs[0], "/dns4/a.example/tcp/4001");
    cr_assert_str_eq(cfg.network.external_addrs[1], "/dns4/a.example/udp/4001/quic-v1");
    cr_assert_eq(cfg.acl.deny_cidrs.n, 2);
    cr_assert_eq(validate(), 0, "%s", msg);
    const char *sets[] = {"network.external_addrs=[\"/dns4/b.example/tcp/1\", "
                          "\"/ip4/192.0.2.1/tcp/2\"]"};
    cr_assert_eq(override("", NULL, sets, 1), 0, "%s", msg);
    cr_assert_eq(cfg.network.nexternal_addrs, 2);
    cr_assert_str_eq(cfg.network.external_addrs[1], "/ip4/192.0.2.1/tcp/2");
    /* "" empties a list the file set; and a string key to "" disables a listener. */
    const char *empty[] = {"network.external_addrs=", "network.tcp_listen_addr_v6="};
    cr_assert_eq(
        override("[network]\nexternal_addrs = [\"/dns4/c.example/tcp/4001\"]\n", NULL, empty, 2), 0,
        "%s", msg);
    cr_assert_eq(cfg.network.nexternal_addrs, 0);
    cr_assert_str_eq(cfg.network.tcp_listen_addr_v6, "");
    done();
}

/* bad expects the overrides to fail with exactly |want| and to leave the file's values. */
static void bad(char **env, const char *set, const char *want)
{
    const char *sets[] = {set};
    rly_config before;
    cr_assert_eq(load("[relay]\nmax_circuits = 200\n"), 0);
    before = cfg;
    cr_assert_eq(override("[relay]\nmax_circuits = 200\n", env, sets, set ? 1 : 0), RLY_ERR_CONFIG,
                 "accepted; want %s", want);
    cr_assert_str_eq(msg, want);
    cr_assert_eq(memcmp(&cfg, &before, sizeof(cfg)), 0, "a failed override changed the config");
    done();
}

Test(config_overrides, errors_name_the_variable_or_option)
{
    char *e1[] = {"MESH_RELAY_RELAY_MAX_RESERVATION=5", NULL};
    bad(e1, NULL,
        "environment MESH_RELAY_RELAY_MAX_RESERVATION: no such configuration key (did you mean "
        "MESH_RELAY_RELAY_MAX_RESERVATIONS for [relay] max_reservations?)");
    char *e2[] = {"MESH_RELAY_RELAY_MAX_CIRCUITS=12x", NULL};
    bad(e2, NULL,
        "environment MESH_RELAY_RELAY_MAX_CIRCUITS: [relay] max_circuits must be an integer, got "
        "\"12x\"");
    char *e3[] = {"MESH_RELAY_AUTH_AUTH_ENABLED=1", NULL};
    bad(e3, NULL,
        "environment MESH_RELAY_AUTH_AUTH_ENABLED: [auth] auth_enabled must be a boolean (true or "
        "false), got \"1\"");
    char *e4[] = {"MESH_RELAY_ACL_DENY_PEERS=12D3KooW0", NULL};
    bad(e4, NULL,
        "environment MESH_RELAY_ACL_DENY_PEERS: [acl] deny_peers: entry 1 \"12D3KooW0\" is not "
        "a PeerId (12D3KooW... or Qm...)");
    char *e5[] = {"MESH_RELAY_ZZZZZZZZZZZZZZZZZZZZ=1", NULL};
    bad(e5, NULL,
        "environment MESH_RELAY_ZZZZZZZZZZZZZZZZZZZZ: no such configuration key (variables are "
        "MESH_RELAY_<SECTION>_<KEY>, e.g. MESH_RELAY_RELAY_MAX_RESERVATIONS; see relay-server "
        "--generate-config for the keys)");
    bad(NULL, "relay.max_circuit=3",
        "--set relay.max_circuit: unknown key 'max_circuit' in [relay] (did you mean "
        "'max_circuits'?)");
    bad(NULL, "network.max_circuits=3",
        "--set network.max_circuits: unknown key 'max_circuits' in [network] (it belongs in "
        "[relay]: --set relay.max_circuits)");
    bad(NULL, "relais.max_circuits=3",
        "--set relais.max_circuits: unknown section [relais] (did you mean [relay]?)");
    bad(NULL, "relay.max_circuits=-1",
        "--set relay.max_circuits: [relay] max_circuits = -1 is out of range (allowed 1..1000000)");
    bad(NULL, "relay.max_circuits=18446744073709551616",
        "--set relay.max_circuits: [relay] max_circuits = 18446744073709551616 is out of range "
        "(allowed 1..1000000)");
    bad(NULL, "logging.level=off",
        "--set logging.level: [logging] level = \"off\" is not valid (allowed trace, debug, info, "
        "warn, error)");
    bad(NULL, "network.external_addrs=[\"a\", 1]",
        "--set network.external_addrs: [network] external_addrs = [\"a\", 1] is not a valid TOML "
        "array of strings (arrays may only hold strings)");
    bad(NULL, "relay.max_circuits=1\n2",
        "--set relay.max_circuits: [relay] max_circuits: the value holds a newline or NUL byte");
    bad(NULL, "relay=3",
        "--set relay=3: expected section.key=value, e.g. --set "
        "relay.max_reservations=500");
}

Test(config_overrides, too_many_list_entries)
{
    static char big[16384];
    size_t n = (size_t)snprintf(big, sizeof(big), "MESH_RELAY_ACL_DENY_CIDRS=");
    for (int i = 0; i < RLY_ACL_MAX + 5; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "10.0.%d.%d,", i / 256, i % 256);
    char *env[] = {big, NULL};
    bad(env, NULL,
        "environment MESH_RELAY_ACL_DENY_CIDRS: [acl] deny_cidrs lists more than 128 entries");
    n = (size_t)snprintf(big, sizeof(big), "MESH_RELAY_NETWORK_EXTERNAL_ADDRS=");
    for (int i = 0; i < RLY_CONFIG_MAX_EXTERNAL + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "/dns4/h%d.example/tcp/1,", i);
    bad(env, NULL,
        "environment MESH_RELAY_NETWORK_EXTERNAL_ADDRS: [network] external_addrs lists 9 "
        "addresses (at most 8)");
}

Test(config_overrides, validation_names_the_source)
{
    char *env[] = {"MESH_RELAY_RELAY_MAX_RESERVATIONS=0", NULL};
    cr_assert_eq(override("", env, NULL, 0), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "environment MESH_RELAY_RELAY_MAX_RESERVATIONS: [relay] max_reservations "
                          "= 0 is out of range (allowed 1..1000000)");
    const char *sets[] = {"network.tcp_listen_addr=/ip4/1.2.3.4/udp/1/quic-v1"};
    cr_assert_eq(override("", NULL, sets, 1), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "--set network.tcp_listen_addr: [network] tcp_listen_addr = "
                          "\"/ip4/1.2.3.4/udp/1/quic-v1\" has the wrong form: expected "
                          "/ip4/<address>/tcp/<port>, or \"\" to disable");
    /* A cross-key rule names the key that was set. */
    const char *sets2[] = {"relay.max_reservations_per_peer=20"};
    cr_assert_eq(override("[relay]\nmax_reservations = 10\n", NULL, sets2, 1), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "--set relay.max_reservations_per_peer: [relay] "
                          "max_reservations_per_peer = 20 must not be greater than "
                          "max_reservations = 10");
    char *env2[] = {"MESH_RELAY_AUTH_AUTH_ENABLED=true", NULL};
    cr_assert_eq(override("[auth]\nauth_token = \"short\"\n", env2, NULL, 0), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert_str_eq(msg, "relay.toml:2: [auth] auth_token is 5 bytes; with auth_enabled = true it "
                          "must be at least 32 (e.g. the output of 'openssl rand -hex 32')");
    done();
}

Test(config_overrides, every_key_has_a_variable)
{
    /* Each key's variable is accepted with its default's text, and marks the key as from the
     * environment (so the table and the variable names cannot drift apart). */
    const char *text = rly_config_default_text();
    char line[512];
    size_t keys_seen = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        static char section[32];
        if (line[0] == '[') {
            snprintf(section, sizeof(section), "%.*s", (int)(strcspn(line + 1, "]")), line + 1);
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char key[64], var[160];
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(line, " "), line);
        snprintf(var, sizeof(var), "MESH_RELAY_%s_%s=", section, key);
        for (char *c = var; *c != '='; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        char *env[] = {var, NULL};
        /* "": a valid value for strings and lists; integers and booleans must say so. */
        int rv = override("", env, NULL, 0);
        cr_assert(rv == 0 || strstr(msg, "must be an integer") ||
                      strstr(msg, "must be a boolean") || strstr(msg, "is not valid"),
                  "%s: %s", var, msg);
        cr_assert(!strstr(msg, "no such configuration key"), "%s: %s", var, msg);
        keys_seen++;
    }
    cr_assert_eq(keys_seen, RLY_CONFIG_NKEYS);
    done();
}

Test(config_overrides, service_links_and_the_config_path_are_not_keys)
{
    /* What Kubernetes puts into a pod for Services named mesh-relay and mesh-relay-0. */
    char *env[] = {"MESH_RELAY_SERVICE_HOST=10.0.0.1",
                   "MESH_RELAY_SERVICE_PORT=4001",
                   "MESH_RELAY_SERVICE_PORT_TCP=4001",
                   "MESH_RELAY_PORT=tcp://10.0.0.1:4001",
                   "MESH_RELAY_0_PORT_4001_TCP=tcp://10.0.0.2:4001",
                   "MESH_RELAY_0_PORT_4001_UDP_PROTO=udp",
                   "MESH_RELAY_0_PORT_4001_TCP_ADDR=10.0.0.2",
                   "MESH_RELAY_0_PORT_4001_TCP_PORT=4001",
                   "MESH_RELAY_1_SERVICE_HOST=fd00::10",
                   "MESH_RELAY_1_PORT=udp://[fd00::10]:4001",
                   "MESH_RELAY_CONFIG=/etc/mesh-relay/relay.toml",
                   "MESH_RELAY_RELAY_MAX_CIRCUITS=5",
                   NULL};
    cr_assert_eq(override("", env, NULL, 0), 0, "%s", msg);
    cr_assert_eq(cfg.relay.max_circuits, 5);
    /* Near misses are still typos. */
    char *typo[] = {"MESH_RELAY_METRICS_LISTEN_PORT_X=1", NULL};
    bad(typo, NULL,
        "environment MESH_RELAY_METRICS_LISTEN_PORT_X: no such configuration key (did you mean "
        "MESH_RELAY_METRICS_LISTEN_ADDR for [metrics] listen_addr?)");
    /* ... and so are guesses with a link's name but not its value (a port key the relay does
     * not have, silently ignored before). */
    char *guess[] = {"MESH_RELAY_METRICS_PORT=9465", NULL};
    bad(guess, NULL,
        "environment MESH_RELAY_METRICS_PORT: no such configuration key (variables are "
        "MESH_RELAY_<SECTION>_<KEY>, e.g. MESH_RELAY_RELAY_MAX_RESERVATIONS; see relay-server "
        "--generate-config for the keys)");
    static char guesses[][64] = {"MESH_RELAY_NETWORK_TCP_PORT=4002",
                                 "MESH_RELAY_NETWORK_PORT_4002=1",
                                 "MESH_RELAY_METRICS_SERVICE_HOST=metrics.local",
                                 "MESH_RELAY_METRICS_SERVICE_PORT=http",
                                 "MESH_RELAY_0_PORT_4001_TCP_PROTO=quic",
                                 "MESH_RELAY_0_PORT_4001_TCP_ADDR=relay-0"};
    for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
        char *one[] = {guesses[i], NULL};
        cr_assert_eq(override("", one, NULL, 0), RLY_ERR_CONFIG, "%s passed", guesses[i]);
        cr_assert(strstr(msg, "no such configuration key"), "%s: %s", guesses[i], msg);
    }
    done();
}

Test(config_overrides, messages_stay_on_one_line)
{
    char *env[] = {"MESH_RELAY_NETWORK_EXTERNAL_ADDRS=[\"/dns4/a\\nb/tcp/1\"]", NULL};
    cr_assert_eq(override("", env, NULL, 0), 0, "%s", msg);
    cr_assert_eq(validate(), RLY_ERR_CONFIG);
    cr_assert_null(strchr(msg, '\n'), "%s", msg);
    cr_assert(strstr(msg, "\"/dns4/a?b/tcp/1\""), "%s", msg);
    done();
}
