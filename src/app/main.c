/* main.c: relay-server, the Mesh Relay daemon (SPEC.md).
 *
 * Exit codes: 0 success (including a clean shutdown after SIGINT/SIGTERM), 1 a configuration,
 * identity or start-up error (one line on stderr naming the file/key and the fix), 2 a command
 * line usage error, 128+N when a second signal N forces an immediate exit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "app/cli.h"
#include "app/config.h"
#include "app/files.h"
#include "app/healthcheck.h"
#include "app/identity.h"
#include "app/log_sink.h"
#include "app/revoked_file.h"
#include "app/server.h"
#include "core/mem.h"
#include "core/peerid.h"
#include "crypto/crypto.h"
#include "proto/auth/auth.h"
#include "proto/auth/token.h"

#define EXIT_USAGE 2

extern char **environ;

typedef struct app {
    rly_cli cli;
    rly_config cfg;
    char config_path[RLY_PATH_MAX];
    bool config_loaded;             /* a file was read (else: built-in defaults) */
    rly_config_overrides overrides; /* MESH_RELAY_* and --set, over the file */
    rly_log_sink sink;
    rly_log log;
    char err[2 * RLY_PATH_MAX + 512];
} app;

static int fail(const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    return 1;
}

static int resolve_config_path(app *a)
{
    /* --config, else MESH_RELAY_CONFIG (both name a file that must exist), else the default. */
    const char *env = getenv(RLY_CONFIG_ENV_PATH);
    if (!a->cli.config_path && env && env[0] != '\0')
        a->cli.config_path = env;
    if (a->cli.config_path) {
        int n = snprintf(a->config_path, sizeof(a->config_path), "%s", a->cli.config_path);
        return (n < 0 || (size_t)n >= sizeof(a->config_path)) ? RLY_ERR_NOBUF : 0;
    }
    return rly_files_home_path(RLY_MESHNET_DIR "/" RLY_CONFIG_FILE, a->config_path,
                               sizeof(a->config_path));
}

static int generate_config(app *a)
{
    const char *text = rly_config_default_text();
    if (rly_files_ensure_parent_dir(a->config_path) != 0) {
        snprintf(a->err, sizeof(a->err), "Cannot create the directory for %s: %s", a->config_path,
                 strerror(errno));
        return fail(a->err);
    }
    /* 0600: the file holds the auth token. */
    int rv = rly_files_write_new(a->config_path, (const uint8_t *)text, strlen(text), 0600,
                                 a->cli.force);
    if (rv == RLY_ERR_INVALID_STATE) {
        snprintf(a->err, sizeof(a->err),
                 "%s already exists; not overwriting it (use --force to replace it with the "
                 "defaults)",
                 a->config_path);
        return fail(a->err);
    }
    if (rv != 0) {
        snprintf(a->err, sizeof(a->err), "Cannot write %s: %s", a->config_path, strerror(errno));
        return fail(a->err);
    }
    printf("Generated default configuration at %s\n", a->config_path);
    return 0;
}

/* Loads the file when one was named or exists at the default path; otherwise keeps the
 * built-in defaults. Then applies -l and validates. */
static int load_config(app *a)
{
    struct stat st;
    rly_config_defaults(&a->cfg);
    if (a->cli.config_path || stat(a->config_path, &st) == 0) {
        int rv = rly_config_load_file(&a->cfg, a->config_path, a->err, sizeof(a->err));
        if (rv == RLY_ERR_NOT_FOUND) {
            size_t n = strlen(a->err);
            snprintf(a->err + n, sizeof(a->err) - n,
                     " (create one with 'relay-server --generate-config --config %s')",
                     a->config_path);
        }
        if (rv != 0)
            return rv;
        a->config_loaded = true;
    }
    a->overrides.env = environ;
    a->overrides.sets = a->cli.sets;
    a->overrides.nsets = a->cli.nsets;
    int rv = rly_config_apply_overrides(&a->cfg, &a->overrides, a->err, sizeof(a->err));
    if (rv != 0)
        return rv;
    if (a->cli.log_level)
        (void)rly_log_level_parse(a->cli.log_level, &a->cfg.logging.level);
    return rly_config_validate(&a->cfg, a->config_loaded ? a->config_path : "built-in defaults",
                               a->err, sizeof(a->err));
}

/* --health-check: GET /healthz of the relay this configuration describes. */
static int health_check(app *a)
{
    char msg[256];
    if (rly_health_check(&a->cfg, "/healthz", RLY_HEALTH_TIMEOUT_MS, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "unhealthy: %s\n", msg);
        return 1;
    }
    printf("healthy: %s\n", msg);
    return 0;
}

/* The control-plane key file in --control-plane-keygen's DIR. */
#define CONTROL_PLANE_KEY_FILE "control_plane_key.bin"

static void iso_time(uint64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t > (uint64_t)INT32_MAX * 100 || !gmtime_r(&tt, &tm) ||
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "?");
}

/* --control-plane-keygen DIR: a new Ed25519 key pair in DIR (never replacing one); its PeerId,
 * the public key relays are configured with, on stdout. */
static int control_plane_keygen(app *a)
{
    char path[RLY_PATH_MAX], text[RLY_PEERID_STR_MAX];
    struct stat st;
    rly_keypair kp;
    rly_peerid pid;
    bool created = false;
    int n = snprintf(path, sizeof(path), "%s/" CONTROL_PLANE_KEY_FILE, a->cli.keygen_dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail("--control-plane-keygen: the directory's path is too long");
    if (lstat(path, &st) == 0) {
        snprintf(a->err, sizeof(a->err),
                 "%s already exists; not replacing a control-plane key (tokens it signed would "
                 "stop verifying): choose another directory",
                 path);
        return fail(a->err);
    }
    if (rly_identity_load_or_create(path, &kp, &created, a->err, sizeof(a->err)) != 0)
        return fail(a->err);
    int rv = rly_keypair_peerid(&kp, &pid);
    rly_keypair_wipe(&kp);
    if (rv != 0 || rly_peerid_to_string(&pid, text, sizeof(text)) <= 0)
        return fail("--control-plane-keygen: cannot derive the public key's PeerId");
    fprintf(stderr,
            "Control-plane key written to %s (mode 0600): keep it on the control plane, never "
            "on a relay.\nRelays trust the public key below ([auth] control_plane_keys).\n",
            path);
    printf("%s\n", text);
    return 0;
}

/* --mint-token PEER_ID --signing-key FILE [--ttl S] [--relay ID]... [--class NAME]. */
static int mint_signed(app *a, const rly_peerid *peer)
{
    struct stat st;
    rly_keypair kp;
    rly_token t;
    bool created = false;
    char text[RLY_TOKEN_TEXT_MAX + 1], id[RLY_TOKEN_ID_HEX_MAX], when[32];
    memset(&t, 0, sizeof(t));
    t.peer = *peer;
    for (size_t i = 0; i < a->cli.nrelays; i++) {
        const char *r = a->cli.relays[i];
        if (rly_peerid_parse(&t.relays[i], r, strlen(r)) != 0) {
            snprintf(a->err, sizeof(a->err), "--relay: '%s' is not a PeerId", r);
            return fail(a->err);
        }
    }
    t.nrelays = a->cli.nrelays;
    if (a->cli.token_class) {
        size_t n = strlen(a->cli.token_class);
        if (!rly_token_class_valid(a->cli.token_class, n)) {
            snprintf(a->err, sizeof(a->err),
                     "--class '%s': a class is 1 to %d characters of a-z, 0-9, _ and -",
                     a->cli.token_class, RLY_TOKEN_CLASS_MAX);
            return fail(a->err);
        }
        memcpy(t.cls, a->cli.token_class, n + 1);
    }
    t.issued = (uint64_t)time(NULL);
    t.expiry = t.issued + a->cli.mint_ttl;
    t.id_len = 16;
    if (rly_crypto_random(t.id, t.id_len) != 0)
        return fail("--mint-token: no random bytes for the token id");
    if (stat(a->cli.signing_key, &st) != 0) {
        snprintf(a->err, sizeof(a->err),
                 "--signing-key %s: %s (make one with --control-plane-keygen DIR)",
                 a->cli.signing_key, strerror(errno));
        return fail(a->err);
    }
    if (rly_identity_load_or_create(a->cli.signing_key, &kp, &created, a->err, sizeof(a->err)) != 0)
        return fail(a->err);
    rly_ssize n = rly_token_mint(&kp, &t, text, sizeof(text), NULL);
    rly_keypair_wipe(&kp);
    if (n < 0)
        return fail("--mint-token: cannot make the signed token");
    rly_token_id_hex(&t, id);
    iso_time(t.expiry, when, sizeof(when));
    fprintf(stderr, "token id %s for %s, valid until %s\n", id, a->cli.mint_peer, when);
    printf("%s\n", text);
    return 0;
}

/* relay_verdict prints whether this relay (its configuration, revoked token list and identity)
 * would accept |t| from the peer it names, and returns whether it would (true, too, when the
 * relay has no control-plane keys to judge by: then only the token's own validity counts). */
static bool relay_verdict(app *a, const rly_token *t, uint64_t now)
{
    char key_path[RLY_PATH_MAX], why[600];
    const char *where = a->config_loaded ? a->config_path : "built-in defaults";
    const rly_peer_list *keys = &a->cfg.auth.control_plane_keys;
    rly_peerid self;
    struct stat st;
    if (keys->n == 0) {
        printf("this relay: cannot tell ([auth] control_plane_keys is empty in %s)\n", where);
        return true;
    }
    /* Its scope: the relay's own PeerId, if it has one yet (never created here). */
    bool has_self = false;
    if (rly_files_home_path(RLY_MESHNET_DIR "/" RLY_KEY_FILE, key_path, sizeof(key_path)) == 0 &&
        lstat(key_path, &st) == 0) {
        rly_keypair kp;
        bool created = false;
        has_self = rly_identity_load_or_create(key_path, &kp, &created, why, sizeof(why)) == 0 &&
                   rly_keypair_peerid(&kp, &self) == 0;
        rly_keypair_wipe(&kp);
    }
    rly_token_verdict v =
        rly_token_check(t, keys->items, keys->n, &t->peer, has_self ? &self : &t->peer, now);
    if (v == RLY_TOKEN_OTHER_RELAY && !has_self) {
        printf("this relay: cannot tell (the token names relays, and this relay has no identity "
               "at %s yet)\n",
               key_path);
        return false;
    }
    if (v != RLY_TOKEN_OK) {
        printf("this relay: would refuse it (%s)\n", rly_token_verdict_text(v));
        return false;
    }
    const char *path = a->cfg.auth.revoked_tokens_file;
    if (path[0]) {
        rly_revoked list;
        if (rly_revoked_load(path, &list, NULL, why, sizeof(why)) != 0) {
            printf("this relay: cannot tell (%s)\n", why);
            return false;
        }
        bool listed = rly_revoked_has(&list, t->id, t->id_len);
        rly_revoked_free(&list, NULL);
        if (listed) {
            printf("this relay: would refuse it (revoked token: listed in %s)\n", path);
            return false;
        }
    }
    char pid[RLY_PEERID_STR_MAX];
    RLY_IGNORE(rly_peerid_to_string(&t->peer, pid, sizeof(pid)));
    printf("this relay: would accept it from %s%s\n", pid,
           a->cfg.auth.auth_enabled ? ""
                                    : " (but [auth] auth_enabled is false: nothing is checked)");
    return true;
}

/* --verify-token TOKEN: what a signed token says, whether its signature holds and whether this
 * relay would accept it. */
static int verify_token(app *a)
{
    rly_token t;
    char s[RLY_PEERID_STR_MAX], id[RLY_TOKEN_ID_HEX_MAX], when[32];
    const char *text = a->cli.verify_token;
    int rv = rly_token_open(&t, (const uint8_t *)text, strlen(text), NULL);
    if (rv != 0) {
        snprintf(a->err, sizeof(a->err), "--verify-token: not a valid signed token (%s)",
                 rv == RLY_ERR_SIGNATURE ? "the signature does not verify" : rly_strerror(rv));
        return fail(a->err);
    }
    uint64_t now = (uint64_t)time(NULL);
    rly_token_id_hex(&t, id);
    printf("token id:   %s\n", id);
    RLY_IGNORE(rly_peerid_to_string(&t.signer, s, sizeof(s)));
    printf("signed by:  %s (signature valid)\n", s);
    RLY_IGNORE(rly_peerid_to_string(&t.peer, s, sizeof(s)));
    printf("peer:       %s\n", s);
    iso_time(t.expiry, when, sizeof(when));
    if (t.expiry > now)
        printf("expires:    %s (in %llu s)\n", when, (unsigned long long)(t.expiry - now));
    else
        printf("expires:    %s (expired %llu s ago)\n", when, (unsigned long long)(now - t.expiry));
    if (t.issued) {
        iso_time(t.issued, when, sizeof(when));
        printf("issued:     %s\n", when);
    }
    if (t.nrelays == 0)
        printf("relays:     any\n");
    for (size_t i = 0; i < t.nrelays; i++) {
        RLY_IGNORE(rly_peerid_to_string(&t.relays[i], s, sizeof(s)));
        printf("%s%s\n", i == 0 ? "relays:     " : "            ", s);
    }
    printf("class:      %s\n", t.cls[0] ? t.cls : "(none)");
    bool accepted = relay_verdict(a, &t, now);
    return t.expiry > now && accepted ? 0 : 1;
}

/* --mint-token PEER_ID [--ttl SECONDS]: one line on stdout, the token. */
static int mint_token(app *a)
{
    rly_peerid peer;
    char token[RLY_AUTH_MINTED_MAX + 1];
    const char *secret = a->cfg.auth.auth_token;
    const char *where = a->config_loaded ? a->config_path : "built-in defaults";
    if (rly_peerid_parse(&peer, a->cli.mint_peer, strlen(a->cli.mint_peer)) != 0) {
        snprintf(a->err, sizeof(a->err), "--mint-token: '%s' is not a PeerId", a->cli.mint_peer);
        return fail(a->err);
    }
    if (a->cli.signing_key)
        return mint_signed(a, &peer);
    if (strcmp(secret, RLY_DEFAULT_AUTH_TOKEN) == 0 && a->cfg.auth.control_plane_keys.n > 0) {
        snprintf(a->err, sizeof(a->err),
                 "--mint-token: %s holds only the control plane's public keys ([auth] "
                 "control_plane_keys), no secret that mints tokens: mint on the control plane "
                 "with --signing-key FILE",
                 where);
        return fail(a->err);
    }
    if (strcmp(secret, RLY_DEFAULT_AUTH_TOKEN) == 0 || strlen(secret) < RLY_AUTH_SECRET_MIN) {
        snprintf(a->err, sizeof(a->err),
                 "--mint-token needs [auth] auth_token set to a random secret of at least %d "
                 "bytes in %s (the relay checks minted tokens against it)",
                 RLY_AUTH_SECRET_MIN, where);
        return fail(a->err);
    }
    uint64_t expiry = (uint64_t)time(NULL) + a->cli.mint_ttl;
    if (rly_auth_mint((const uint8_t *)secret, strlen(secret), &peer, expiry, token,
                      sizeof(token)) < 0)
        return fail("--mint-token: cannot make the token");
    printf("%s\n", token);
    return 0;
}

static void start_logging(app *a)
{
    rly_log_sink_init(&a->sink, a->cfg.logging.format, stderr);
    a->log.level = a->cfg.logging.level;
    a->log.sink = rly_log_sink_write;
    a->log.user_data = &a->sink;
}

static void log_startup(app *a)
{
    RLY_LOGI(&a->log, RLY_TARGET_APP, RLY_MSG("Starting Mesh Relay Server"),
             RLY_F_STR("version", RLY_VERSION));
    if (a->config_loaded)
        RLY_LOGI(&a->log, RLY_TARGET_CONFIG, RLY_MSG("Loaded configuration"),
                 RLY_F_STR("path", a->config_path));
    else
        RLY_LOGI(&a->log, RLY_TARGET_CONFIG,
                 RLY_MSG("No configuration file found; using built-in defaults"),
                 RLY_F_STR("path", a->config_path),
                 RLY_F_STR("hint", "run relay-server --generate-config to create one"));
    (void)rly_config_log_sources(&a->cfg, a->config_loaded ? a->config_path : NULL, &a->log);
    if (a->config_loaded)
        (void)rly_config_warn_exposed_token(&a->cfg, a->config_path, &a->log);
    if (a->cfg.auth.auth_enabled)
        RLY_LOGI(
            &a->log, RLY_TARGET_CONFIG,
            RLY_MSG("Authentication required: RESERVE and CONNECT only after " RLY_AUTH_PROTOCOL),
            RLY_F_STR("path", a->config_loaded ? a->config_path : "built-in defaults"));
}

/* Raises the open-file soft limit to the hard limit: every connection is a descriptor. */
static void raise_nofile(app *a)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        RLY_LOGI(&a->log, RLY_TARGET_APP, RLY_MSG("Raised the open-file limit"),
                 RLY_F_U64("from", was), RLY_F_U64("to", rl.rlim_max));
    else
        RLY_LOGW(&a->log, RLY_TARGET_APP, RLY_MSG("Cannot raise the open-file limit"),
                 RLY_F_U64("soft", was), RLY_F_U64("hard", rl.rlim_max));
}

static int run(app *a)
{
    char key_path[RLY_PATH_MAX];
    char pid_text[RLY_PEERID_STR_MAX];
    rly_keypair kp;
    rly_peerid pid;
    bool created = false;

    start_logging(a);
    log_startup(a);
    raise_nofile(a);
    if (rly_files_home_path(RLY_MESHNET_DIR "/" RLY_KEY_FILE, key_path, sizeof(key_path)) != 0)
        return fail("Cannot find the home directory for ~/.meshnet/relay_keypair.bin (set HOME)");
    if (rly_identity_load_or_create(key_path, &kp, &created, a->err, sizeof(a->err)) != 0)
        return fail(a->err);
    if (rly_keypair_peerid(&kp, &pid) == 0 &&
        rly_peerid_to_string(&pid, pid_text, sizeof(pid_text)) > 0)
        RLY_LOGI(&a->log, RLY_TARGET_APP,
                 RLY_MSG(created ? "Generated new relay identity" : "Loaded relay identity"),
                 RLY_F_STR("peer_id", pid_text), RLY_F_STR("path", key_path));
    int rv = rly_server_run(&a->cfg, &kp, &a->log, a->config_loaded ? a->config_path : NULL,
                            &a->overrides, stdout, a->err, sizeof(a->err));
    rly_keypair_wipe(&kp);
    if (rv != 0) {
        RLY_LOGE(&a->log, RLY_TARGET_APP, RLY_MSG("Relay server failed to start"),
                 RLY_F_STR("error", a->err));
        return fail(a->err);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static app a; /* large: keep it off the stack */
    if (rly_cli_parse(&a.cli, argc, argv, a.err, sizeof(a.err)) != 0) {
        fprintf(stderr, "error: %s\n", a.err);
        return EXIT_USAGE;
    }
    if (a.cli.action == RLY_CLI_HELP) {
        rly_cli_print_help(stdout);
        return 0;
    }
    if (a.cli.action == RLY_CLI_VERSION) {
        rly_cli_print_version(stdout);
        return 0;
    }
    if (resolve_config_path(&a) != 0)
        return fail("Cannot find the home directory for ~/.meshnet/relay.toml (set HOME or "
                    "pass --config PATH)");
    if (a.cli.action == RLY_CLI_GENERATE_CONFIG)
        return generate_config(&a);
    if (a.cli.action == RLY_CLI_KEYGEN)
        return control_plane_keygen(&a);
    if (load_config(&a) != 0)
        return fail(a.err);
    if (a.cli.action == RLY_CLI_VERIFY_TOKEN)
        return verify_token(&a);
    if (a.cli.action == RLY_CLI_MINT_TOKEN)
        return mint_token(&a);
    if (a.cli.action == RLY_CLI_HEALTH_CHECK)
        return health_check(&a);
    if (a.cli.action == RLY_CLI_CHECK_CONFIG) {
        start_logging(&a);
        if (a.config_loaded)
            (void)rly_config_warn_exposed_token(&a.cfg, a.config_path, &a.log);
        const char *rpath = a.cfg.auth.revoked_tokens_file;
        rly_revoked list;
        if (rpath[0]) {
            if (rly_revoked_load(rpath, &list, NULL, a.err, sizeof(a.err)) != 0)
                return fail(a.err);
            rly_revoked_free(&list, NULL);
        }
        size_t over = 0;
        for (size_t i = 0; i < RLY_CONFIG_NKEYS; i++)
            over += a.cfg.src[i] == RLY_CONFIG_SRC_ENV || a.cfg.src[i] == RLY_CONFIG_SRC_SET;
        printf("Configuration OK: %s", a.config_loaded ? a.config_path : "built-in defaults");
        if (over > 0)
            printf(" (and %zu key%s from the environment or --set)", over, over == 1 ? "" : "s");
        printf("\n");
        return 0;
    }
    int rc = run(&a);
    rly_mem_trim(rly_mem_default()); /* the freed-block cache: no "still reachable" at exit */
    return rc;
}
