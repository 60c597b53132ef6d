#include "app/server.h"

#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "app/httpd.h"
#include "app/metrics.h"
#include "app/revoked_file.h"
#include "app/sdnotify.h"
#include "core/cidr.h"
#include "core/multiaddr.h"
#include "relay/relay.h"
#include "swarm/swarm.h"

/* How often [auth] revoked_tokens_file's metadata is looked at (uv_fs_poll). */
#define REVOKED_POLL_MS 1000

typedef struct server {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t drain_timer;
    bool has_drain_timer;
    uv_timer_t budget_timer; /* logs refusals over the memory budget, once per interval */
    bool has_budget_timer;
    uint64_t budget_logged[RLY_MEM_WORK_COUNT]; /* refusals already logged */
    bool was_over_budget;
    uint64_t drain_deadline_ms; /* uv_now when the grace period ends */
    uint64_t grace_secs;
    rly_swarm *swarm;
    rly_relay *relay;
    rly_authsvc *auth;
    uv_fs_poll_t revoked_poll; /* [auth] revoked_tokens_file: read again when it changes */
    bool has_revoked_poll;
    char revoked_path[RLY_CONFIG_PATH_MAX]; /* the one polled ("": none) */
    rly_httpd *httpd;                       /* [metrics] listen_addr; NULL: off */
    uint64_t started;                       /* unix seconds */
    bool is_ready;                          /* every listener bound; false again once draining */
    rly_log *log;
    rly_config live;         /* the configuration in force (the relay points into it) */
    const char *config_path; /* NULL: built-in defaults */
    const rly_config_overrides *overrides; /* MESH_RELAY_* and --set; NULL: none */
    rly_peerid peerid;
    rly_multiaddr addrs[RLY_SWARM_MAX_ADDRS]; /* dialable listen addresses, without /p2p */
    size_t naddrs;
    rly_multiaddr announce[RLY_SWARM_MAX_ADDRS]; /* what identify announces */
    size_t nannounce;
    bool has_external;       /* |announce| holds external_addrs, not the listen addresses */
    bool is_announce_subset; /* without external_addrs: some listen addresses are not announced */
    int signals_seen;
    unsigned nsignals; /* signal handles initialised (sigint, sigterm, sighup in that order) */
} server;

static void signal_closed(uv_handle_t *h)
{
}

static void swarm_closed(void *user_data)
{
    server *s = user_data;
    s->swarm = NULL;
    rly_relay_del(s->relay); /* after the swarm: its streams referred to the relay */
    s->relay = NULL;
    rly_authsvc_del(s->auth);
    s->auth = NULL;
    /* Every listener and connection is gone: the signal handles are all that keeps the loop.
     * Only those that were set up: start-up may have failed before or among them. */
    uv_signal_t *sigs[3] = {&s->sigint, &s->sigterm, &s->sighup};
    for (unsigned i = 0; i < s->nsignals; i++)
        uv_close((uv_handle_t *)sigs[i], signal_closed);
    s->nsignals = 0;
    if (s->has_drain_timer)
        uv_close((uv_handle_t *)&s->drain_timer, signal_closed);
    if (s->has_budget_timer)
        uv_close((uv_handle_t *)&s->budget_timer, signal_closed);
    if (s->has_revoked_poll)
        uv_close((uv_handle_t *)&s->revoked_poll, signal_closed);
    s->has_revoked_poll = false;
}

static void begin_shutdown(server *s)
{
    if (s->is_ready && rly_sd_notify("STOPPING=1") != 0)
        RLY_LOGW(s->log, RLY_TARGET_APP, RLY_MSG("Cannot notify systemd (NOTIFY_SOCKET)"));
    s->is_ready = false;
    if (s->httpd) {
        rly_httpd_close(s->httpd, NULL, NULL);
        s->httpd = NULL;
    }
    if (s->relay)
        rly_relay_shutdown(s->relay);
    if (s->auth)
        rly_authsvc_shutdown(s->auth);
    if (s->swarm)
        rly_swarm_close(s->swarm, swarm_closed, s);
    else
        swarm_closed(s);
}
/* Draining: once no circuit is left, or the grace period is over, the relay closes. */
static void on_drain_timer(uv_timer_t *t)
{
    server *s = t->data;
    size_t left = s->relay ? rly_relay_num_circuits(s->relay) : 0;
    bool over = uv_now(&s->loop) >= s->drain_deadline_ms;
    if (left > 0 && !over)
        return;
    uv_timer_stop(t);
    RLY_LOGI(s->log, RLY_TARGET_APP,
             RLY_MSG(left ? "Grace period over, closing the remaining circuits"
                          : "No circuit left, shutting down"),
             RLY_F_U64("circuits", left));
    begin_shutdown(s);
}

/* First signal: stop taking connections and requests, let circuits finish (shutdown_grace_secs),
 * report not ready. A second signal exits at once. */
static void begin_drain(server *s, int signum)
{
    s->is_ready = false;
    if (rly_sd_notify("STOPPING=1\nSTATUS=Draining") != 0)
        RLY_LOGW(s->log, RLY_TARGET_APP, RLY_MSG("Cannot notify systemd (NOTIFY_SOCKET)"));
    rly_relay_drain(s->relay);
    RLY_LOGI(s->log, RLY_TARGET_APP,
             RLY_MSG("Shutdown signal received, draining: no new connections or requests; open "
                     "circuits may finish (a second signal exits at once)"),
             RLY_F_STR("signal", strsignal(signum)),
             RLY_F_U64("circuits", rly_relay_num_circuits(s->relay)),
             RLY_F_U64("grace_secs", s->grace_secs));
    s->drain_deadline_ms = uv_now(&s->loop) + s->grace_secs * 1000;
    uv_timer_start(&s->drain_timer, on_drain_timer, 0, 200);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (++s->signals_seen > 1) {
        RLY_LOGW(s->log, RLY_TARGET_APP, RLY_MSG("Second signal received, exiting immediately"),
                 RLY_F_STR("signal", strsignal(signum)));
        fflush(NULL);
        _exit(128 + signum);
    }
    if (s->relay && s->grace_secs > 0 && s->has_drain_timer) {
        begin_drain(s, signum);
        return;
    }
    RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Shutdown signal received, shutting down"),
             RLY_F_STR("signal", strsignal(signum)));
    begin_shutdown(s);
}

/* origin_phrase: where [section] key came from, for a message that says what to change. */
static void origin_phrase(const server *s, const char *section, const char *key, char *out,
                          size_t cap)
{
    char var[96];
    if (rly_config_source_of(&s->live, section, key) != RLY_CONFIG_SRC_DEFAULT) {
        rly_config_origin(&s->live, s->config_path, section, key, out, cap);
        return;
    }
    if (s->config_path) {
        snprintf(out, cap, "in [%s] of %s", section, s->config_path);
        return;
    }
    rly_config_env_name(section, key, var, sizeof(var));
    snprintf(out, cap,
             "by default; change it with [%s] %s in a configuration file, %s or --set %s.%s",
             section, key, var, section, key);
}

static int listen_addr_error(const server *s, const char *key, const char *addr, int rv, int uverr,
                             char *errmsg, size_t cap)
{
    char where[512];
    origin_phrase(s, "network", key, where, sizeof(where));
    if (rv == RLY_ERR_ADDR_IN_USE) {
        snprintf(errmsg, cap,
                 "Cannot listen on %s: Address already in use (another process is using the port; "
                 "stop it or change tcp_listen_addr / tcp_listen_addr_v6 and quic_listen_addr / "
                 "quic_listen_addr_v6: this one is %s = \"%s\" %s)",
                 addr, key, addr, where);
    } else {
        snprintf(errmsg, cap, "Cannot listen on %s (%s = \"%s\" %s): %s", addr, key, addr, where,
                 uverr ? uv_strerror(uverr) : rly_strerror(rv));
    }
    return rv;
}

static int start_listener(server *s, const char *key, const char *addr, char *errmsg, size_t cap)
{
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    int uverr = 0;
    bool quic = false;
    int rv = rly_multiaddr_parse(&ma, addr);
    if (rv == 0)
        rv = rly_multiaddr_to_sockaddr(&ma, &ss, NULL, &quic);
    if (rv != 0) {
        snprintf(errmsg, cap, "%s = \"%s\" is not a listen multiaddr", key, addr);
        return RLY_ERR_CONFIG;
    }
    rv = quic ? rly_swarm_listen_quic(s->swarm, (struct sockaddr *)&ss, &uverr)
              : rly_swarm_listen_tcp(s->swarm, (struct sockaddr *)&ss, &uverr);
    if (rv != 0)
        return listen_addr_error(s, key, addr, rv, uverr, errmsg, cap);
    return 0;
}

static void add_addr(server *s, const struct sockaddr *sa, uint32_t transport, bool quic)
{
    if (s->naddrs < RLY_SWARM_MAX_ADDRS &&
        rly_multiaddr_from_sockaddr(&s->addrs[s->naddrs], sa, transport, quic) == 0)
        s->naddrs++;
}

/* The addresses a peer can dial: an unspecified listen IP (0.0.0.0, ::) becomes the interface
 * addresses of its family, as libp2p reports them (IPv6 link-local ones need a zone: skipped). */
static void expand_listen_addr(server *s, const rly_multiaddr *bound)
{
    struct sockaddr_storage ss;
    uint32_t transport = 0;
    bool quic = false;
    if (rly_multiaddr_to_sockaddr(bound, &ss, &transport, &quic) != 0)
        return;
    int family = ss.ss_family;
    bool any = family == AF_INET
                   ? ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)
                   : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    uv_interface_address_t *ifs = NULL;
    int nifs = 0;
    if (!any) {
        add_addr(s, (struct sockaddr *)&ss, transport, quic);
        return;
    }
    if (uv_interface_addresses(&ifs, &nifs) != 0)
        return;
    uint16_t port = family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port;
    for (int i = 0; i < nifs; i++) {
        struct sockaddr_storage a;
        const struct sockaddr *ia = (const struct sockaddr *)&ifs[i].address;
        if (ia->sa_family != family)
            continue;
        if (family == AF_INET6 &&
            IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)ia)->sin6_addr))
            continue;
        memcpy(&a, ia,
               family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        if (family == AF_INET)
            ((struct sockaddr_in *)&a)->sin_port = port;
        else
            ((struct sockaddr_in6 *)&a)->sin6_port = port;
        add_addr(s, (struct sockaddr *)&a, transport, quic);
    }
    uv_free_interface_addresses(ifs, nifs);
}

/* How far an address reaches: 0 across the Internet, 1 a private network (or a range nobody
 * routes), 2 this machine. */
static int reach_rank(const rly_multiaddr *ma)
{
    struct sockaddr_storage ss;
    if (rly_multiaddr_to_sockaddr(ma, &ss, NULL, NULL) != 0)
        return 1;
    switch (rly_cidr_scope((struct sockaddr *)&ss)) {
    case RLY_IP_PUBLIC: return 0;
    case RLY_IP_LOOPBACK: return 2;
    default: return 1;
    }
}

/* Without external_addrs, the listen addresses that reach farthest: the public ones when there
 * are any (go relays announce only those; go clients build circuit addresses from a relay's
 * public addresses only, and rust clients advertise every reservation address as their own),
 * else the private ones, loopback only when that is all there is; with a warning naming
 * external_addrs unless public ones are announced. */
static void announce_listen_addrs(server *s)
{
    int best = 2;
    for (size_t i = 0; i < s->naddrs; i++) {
        int r = reach_rank(&s->addrs[i]);
        best = r < best ? r : best;
    }
    s->nannounce = 0;
    for (size_t i = 0; i < s->naddrs; i++)
        if (reach_rank(&s->addrs[i]) == best)
            s->announce[s->nannounce++] = s->addrs[i];
    s->is_announce_subset = s->nannounce < s->naddrs;
    if (best > 0 && s->naddrs > 0)
        RLY_LOGW(s->log, RLY_TARGET_APP,
                 RLY_MSG("No public address to announce: peers on other networks cannot reach "
                         "the relay at the addresses it gives them; set [network] external_addrs "
                         "to the addresses they dial"),
                 RLY_F_STR("announcing", best == 1 ? "private" : "loopback"),
                 RLY_F_U64("addresses", s->nannounce));
}

/* Identify announces the configured external_addrs when there are any (validated by the
 * config), otherwise the listen addresses that reach farthest (announce_listen_addrs). */
static int advertise(server *s, const rly_config *cfg)
{
    rly_multiaddr bound[RLY_SWARM_MAX_ADDRS];
    size_t n = rly_swarm_listen_addrs(s->swarm, bound, RLY_SWARM_MAX_ADDRS);
    for (size_t i = 0; i < n; i++)
        expand_listen_addr(s, &bound[i]);
    s->nannounce = 0;
    for (size_t i = 0; i < cfg->network.nexternal_addrs && i < RLY_SWARM_MAX_ADDRS; i++)
        if (rly_multiaddr_parse(&s->announce[s->nannounce], cfg->network.external_addrs[i]) == 0)
            s->nannounce++;
    s->has_external = s->nannounce > 0;
    if (!s->has_external)
        announce_listen_addrs(s);
    return rly_swarm_set_advertised_addrs(s->swarm, s->announce, s->nannounce,
                                          (uint64_t)time(NULL));
}

static void print_banner(server *s, FILE *out)
{
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(&s->peerid, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    fprintf(out, "Mesh Relay Server is running!\nPress Ctrl+C to stop\n\nLocal PeerId: %s\n\n",
            pid);
    for (size_t i = 0; i < s->naddrs; i++) {
        rly_multiaddr ma = s->addrs[i];
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_append_p2p(&ma, &s->peerid) == 0 &&
            rly_multiaddr_to_string(&ma, text, sizeof(text)) > 0) {
            fprintf(out, "Listening on: %s\n", text);
            RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Listening"), RLY_F_STR("address", text));
        }
    }
    for (size_t i = 0; (s->has_external || s->is_announce_subset) && i < s->nannounce; i++) {
        rly_multiaddr ma = s->announce[i];
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_append_p2p(&ma, &s->peerid) == 0 &&
            rly_multiaddr_to_string(&ma, text, sizeof(text)) > 0) {
            fprintf(out, "Announcing: %s\n", text);
            RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Announcing"), RLY_F_STR("address", text));
        }
    }
    fflush(out);
}

/* ---- HTTP: /metrics, /healthz, /readyz, /addrs ---------------------------------------------- */

static void metrics_body(server *s, rly_dynbuf *body)
{
    rly_metrics_input in;
    memset(&in, 0, sizeof(in));
    in.version = RLY_VERSION;
    in.running = s->relay != NULL && s->is_ready;
    in.ready = s->is_ready;
    in.start_time = s->started;
    in.reservations_limit = s->live.relay.max_reservations; /* follows reloads */
    in.circuits_limit = s->live.relay.max_circuits;
    if (s->relay) {
        in.reservations_active = rly_relay_num_reservations(s->relay);
        in.circuits_active = rly_relay_num_circuits(s->relay);
        rly_relay_stats_get(s->relay, &in.relay, &in.limiter);
    }
    if (s->auth)
        rly_authsvc_stats_get(s->auth, &in.auth);
    if (s->swarm) {
        rly_swarm_quic_stats(s->swarm, &in.quic);
        rly_swarm_tcp_stats(s->swarm, &in.tcp);
    }
    in.memory_bytes = rly_mem_default()->live_bytes;
    in.memory_peak_bytes = rly_mem_default()->peak_bytes;
    in.memory_budget_bytes = rly_mem_default()->budget;
    memcpy(in.memory_refusals, rly_mem_default()->nrefused, sizeof(in.memory_refusals));
    RLY_IGNORE(rly_metrics_render(&in, body));
}

/* ["<addr>/p2p/<id>", ...]: what a control plane registers (the announced addresses). */
static void addrs_body(server *s, rly_dynbuf *body)
{
    int rv = rly_dynbuf_append_str(body, "[");
    bool first = true;
    for (size_t i = 0; rv == 0 && i < s->nannounce; i++) {
        rly_multiaddr ma = s->announce[i];
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_append_p2p(&ma, &s->peerid) != 0 ||
            rly_multiaddr_to_string(&ma, text, sizeof(text)) <= 0)
            continue;
        rv = rly_dynbuf_appendf(body, "%s\"%s\"", first ? "" : ",", text); /* no quotes in them */
        first = false;
    }
    if (rv == 0)
        RLY_IGNORE(rly_dynbuf_append_str(body, "]\n"));
}

static void on_http(void *ud, const rly_http_request *req, int *pstatus, rly_dynbuf *body,
                    const char **content_type)
{
    server *s = ud;
    size_t n = strcspn(req->path, "?");
    *content_type = "text/plain; charset=utf-8";
    *pstatus = 200;
    if (n == 8 && memcmp(req->path, "/metrics", 8) == 0) {
        *content_type = RLY_METRICS_CONTENT_TYPE;
        metrics_body(s, body);
    } else if (n == 8 && memcmp(req->path, "/healthz", 8) == 0) {
        RLY_IGNORE(rly_dynbuf_append_str(body, "ok\n")); /* the loop answered */
    } else if (n == 7 && memcmp(req->path, "/readyz", 7) == 0) {
        *pstatus = s->is_ready ? 200 : 503;
        RLY_IGNORE(rly_dynbuf_append_str(body, s->is_ready ? "ready\n" : "not ready\n"));
    } else if (n == 6 && memcmp(req->path, "/addrs", 6) == 0) {
        *content_type = "application/json";
        addrs_body(s, body);
    } else {
        *pstatus = 404;
        RLY_IGNORE(rly_dynbuf_append_str(body, "not found: /metrics, /healthz, /readyz, /addrs\n"));
    }
}

static int start_http(server *s, const rly_config *cfg, char *errmsg, size_t cap)
{
    const char *addr = cfg->metrics.listen_addr;
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    uint32_t tr = 0;
    bool quic = false;
    int uverr = 0;
    if (addr[0] == '\0')
        return 0;
    int rv = rly_multiaddr_parse(&ma, addr);
    if (rv == 0)
        rv = rly_multiaddr_to_sockaddr(&ma, &ss, &tr, &quic);
    if (rv == 0)
        rv = rly_httpd_new(&s->httpd, &s->loop, (struct sockaddr *)&ss, on_http, s, s->log,
                           rly_mem_default(), &uverr);
    if (rv != 0) {
        char where[512];
        origin_phrase(s, "metrics", "listen_addr", where, sizeof(where));
        snprintf(errmsg, cap, "Cannot listen on %s (listen_addr = \"%s\" %s): %s", addr, addr,
                 where, uverr ? uv_strerror(uverr) : rly_strerror(rv));
    }
    return rv;
}

static void print_http(server *s, FILE *out)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN];
    if (!s->httpd)
        return;
    rly_httpd_local_addr(s->httpd, &ss);
    bool v6 = ss.ss_family == AF_INET6;
    const void *a = v6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                       : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
    unsigned port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    if (!inet_ntop(ss.ss_family, a, ip, sizeof(ip)))
        return;
    fprintf(out, "Metrics on: http://%s%s%s:%u/metrics\n", v6 ? "[" : "", ip, v6 ? "]" : "", port);
    fflush(out);
}

static void relay_settings(const rly_config *cfg, rly_relay_settings *rs, rly_log *log);

/* ---- SIGHUP: reload ----------------------------------------------------------------------------
 */

/* ---- the memory budget ([limits] max_memory_mb) ---------------------------------------------- */

/* How often refusals over the budget are logged (one line with the counts). */
#define BUDGET_LOG_INTERVAL_MS 5000

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static void apply_budget(server *s)
{
    uint64_t b = rly_config_memory_budget(&s->live, physical_memory());
    rly_mem_set_budget(rly_mem_default(), b > SIZE_MAX ? SIZE_MAX : (size_t)b);
    RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Memory budget"), RLY_F_U64("budget_mb", b >> 20),
             RLY_F_STR("source", s->live.max_memory_mb ? "max_memory_mb"
                                                       : "1/8 of physical memory, 128..4096 MiB"));
}

/* Once per interval: what the budget refused since the last line, and when service is back. */
static void on_budget_timer(uv_timer_t *t)
{
    server *s = t->data;
    const rly_mem *m = rly_mem_default();
    uint64_t d[RLY_MEM_WORK_COUNT], total = 0;
    for (int i = 0; i < RLY_MEM_WORK_COUNT; i++) {
        d[i] = m->nrefused[i] - s->budget_logged[i];
        s->budget_logged[i] = m->nrefused[i];
        total += d[i];
    }
    bool over = m->budget > 0 && m->live_bytes > m->budget;
    if (total > 0)
        RLY_LOGW(s->log, RLY_TARGET_APP,
                 RLY_MSG("Memory budget exceeded: new work refused (max_memory_mb)"),
                 RLY_F_U64("memory_bytes", m->live_bytes), RLY_F_U64("budget_bytes", m->budget),
                 RLY_F_U64("connections", d[RLY_MEM_WORK_CONNECTION]),
                 RLY_F_U64("streams", d[RLY_MEM_WORK_STREAM]),
                 RLY_F_U64("reservations", d[RLY_MEM_WORK_RESERVATION]),
                 RLY_F_U64("circuits", d[RLY_MEM_WORK_CIRCUIT]),
                 RLY_F_U64("interval_ms", BUDGET_LOG_INTERVAL_MS));
    if ((s->was_over_budget || total > 0) && !over)
        RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Memory back under the budget"),
                 RLY_F_U64("memory_bytes", m->live_bytes), RLY_F_U64("budget_bytes", m->budget));
    s->was_over_budget = over;
}

typedef struct reload_ctx {
    server *s;
    size_t applied, restart;
} reload_ctx;

/* Keys a running relay cannot take: listeners, transports, the HTTP server, the log format. */
static bool needs_restart(const char *section, const char *key)
{
    if (strcmp(section, "network") == 0)
        return strcmp(key, "shutdown_grace_secs") != 0;
    return strcmp(section, "metrics") == 0 ||
           (strcmp(section, "logging") == 0 && strcmp(key, "log_format") == 0);
}

static void on_changed(void *ud, const char *section, const char *key)
{
    reload_ctx *r = ud;
    bool restart = needs_restart(section, key);
    if (restart)
        r->restart++;
    else
        r->applied++;
    RLY_LOGI(r->s->log, RLY_TARGET_CONFIG, RLY_MSG("Configuration changed"),
             RLY_F_STR("section", section), RLY_F_STR("key", key),
             RLY_F_STR("effect", restart ? "needs a restart (not applied)" : "applied"));
}

/* A peer has no valid authentication left (a token expired or was revoked, a reload changed
 * what is accepted): the relay ends its reservation and circuits (docs/AUTH.md). */
static void on_auth_revoked(void *ud, const rly_peerid *peer, const char *reason)
{
    server *s = ud;
    if (s->relay)
        rly_relay_revoke(s->relay, peer, reason);
}

/* A peer lost a token's limits class but stays authenticated: its circuits that run under wider
 * limits than apply now end (docs/AUTH.md). */
static void on_auth_reclassed(void *ud, const rly_peerid *peer, const char *reason)
{
    server *s = ud;
    if (s->relay)
        rly_relay_reclass(s->relay, peer, reason);
}

/* What the authentication service accepts under |cfg|: auth_token unless it is the default
 * (only possible with control-plane keys), and the control-plane keys; the class profiles are
 * those in force (s->live, which a reload changes in place). */
static void auth_settings(const server *s, const rly_config *cfg, rly_authsvc_settings *st)
{
    bool shared = rly_config_has_shared_secret(cfg);
    *st = (rly_authsvc_settings){
        .required = cfg->auth.auth_enabled,
        .secret = shared ? (const uint8_t *)cfg->auth.auth_token : NULL,
        .secret_len = shared ? strlen(cfg->auth.auth_token) : 0,
        .keys = cfg->auth.control_plane_keys.items,
        .nkeys = cfg->auth.control_plane_keys.n,
        .classes = &s->live.auth.classes,
    };
}

/* load_revoked reads [auth] revoked_tokens_file into the service. On error the list in force
 * stays; returns the error with the message in |errmsg|. */
static int load_revoked(server *s, const char *why, char *errmsg, size_t cap)
{
    rly_revoked list;
    const char *path = s->live.auth.revoked_tokens_file;
    int rv = rly_revoked_load(path, &list, rly_mem_default(), errmsg, cap);
    if (rv != 0)
        return rv;
    size_t ids = list.n;
    size_t withdrawn = rly_authsvc_set_revoked(s->auth, &list);
    RLY_LOGI(s->log, RLY_TARGET_CONFIG, RLY_MSG("Revoked token list loaded"),
             RLY_F_STR("path", path), RLY_F_U64("ids", ids), RLY_F_STR("trigger", why),
             RLY_F_U64("withdrawn", withdrawn));
    return 0;
}

static void reload_revoked(server *s, const char *why)
{
    char err[512];
    if (load_revoked(s, why, err, sizeof(err)) != 0)
        RLY_LOGE(s->log, RLY_TARGET_CONFIG,
                 RLY_MSG("Revoked token list not reloaded: the list in force stays"),
                 RLY_F_STR("error", err));
}

static void on_revoked_file(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                            const uv_stat_t *curr)
{
    server *s = h->data;
    if (s->auth) /* draining too: a revoked token's circuits must not run out the grace period */
        reload_revoked(s, status < 0 ? "file gone" : "file changed");
}

/* watch_revoked polls the configured list's path (or stops, when there is none any more). */
static void watch_revoked(server *s)
{
    const char *path = s->live.auth.revoked_tokens_file;
    if (s->has_revoked_poll && strcmp(path, s->revoked_path) == 0)
        return;
    if (s->has_revoked_poll)
        uv_fs_poll_stop(&s->revoked_poll);
    snprintf(s->revoked_path, sizeof(s->revoked_path), "%s", path);
    if (!path[0])
        return;
    if (!s->has_revoked_poll) {
        uv_fs_poll_init(&s->loop, &s->revoked_poll);
        s->revoked_poll.data = s;
        s->has_revoked_poll = true;
    }
    if (uv_fs_poll_start(&s->revoked_poll, on_revoked_file, s->revoked_path, REVOKED_POLL_MS) != 0)
        RLY_LOGW(s->log, RLY_TARGET_CONFIG,
                 RLY_MSG("Cannot watch the revoked token list: it is read again on SIGHUP only"),
                 RLY_F_STR("path", path));
}

static void reload(server *s)
{
    static rly_config next; /* large: off the stack */
    char err[512];
    rly_config_defaults(&next);
    int rv = rly_config_load_file(&next, s->config_path, err, sizeof(err));
    if (rv == 0 && s->overrides) /* the environment and --set still win over the file */
        rv = rly_config_apply_overrides(&next, s->overrides, err, sizeof(err));
    if (rv == 0)
        rv = rly_config_validate(&next, s->config_path, err, sizeof(err));
    if (rv != 0) {
        RLY_LOGE(s->log, RLY_TARGET_CONFIG,
                 RLY_MSG("Reload rejected: the running configuration stays in force"),
                 RLY_F_STR("error", err));
        return;
    }
    reload_ctx rc = {s, 0, 0};
    (void)rly_config_changed(&s->live, &next, on_changed, &rc);
    /* What needs a restart keeps its running value, so that the two never disagree. */
    uint64_t grace = next.network.shutdown_grace_secs;
    memcpy(&next.network, &s->live.network, sizeof(next.network));
    next.network.shutdown_grace_secs = grace;
    memcpy(&next.metrics, &s->live.metrics, sizeof(next.metrics));
    next.logging.format = s->live.logging.format;
    rly_authsvc_settings as;
    auth_settings(s, &next, &as);
    if (s->auth && !rly_authsvc_settings_ok(&as)) {
        RLY_LOGE(s->log, RLY_TARGET_CONFIG, RLY_MSG("Reload rejected: bad [auth] settings"));
        return;
    }
    bool budget_changed = next.max_memory_mb != s->live.max_memory_mb;
    s->live = next;
    if (budget_changed)
        apply_budget(s);
    s->grace_secs = s->live.network.shutdown_grace_secs;
    s->log->level = s->live.logging.level;
    if (s->relay) {
        rly_relay_settings rs;
        relay_settings(&s->live, &rs, s->log);
        rs.auth = s->auth;
        rs.acl = &s->live.acl;
        rs.ip_limits = &s->live.limits;
        rly_relay_update(s->relay, &rs);
    }
    /* After the relay's limits and the class profiles: a peer that loses a class meanwhile is
     * measured against the limits that apply from now on, not the old ones. */
    auth_settings(s, &s->live, &as);
    if (s->auth && rly_authsvc_update(s->auth, &as) != 0)
        RLY_LOGE(s->log, RLY_TARGET_CONFIG, RLY_MSG("Cannot apply the [auth] settings"));
    if (s->auth) {
        rly_revoked none = {0};
        if (s->live.auth.revoked_tokens_file[0])
            reload_revoked(s, "reload");
        else if (s->revoked_path[0])
            (void)rly_authsvc_set_revoked(s->auth, &none); /* no list any more */
        watch_revoked(s);
    }
    RLY_LOGI(s->log, RLY_TARGET_CONFIG, RLY_MSG("Configuration reloaded"),
             RLY_F_STR("path", s->config_path), RLY_F_U64("applied", rc.applied),
             RLY_F_U64("need_restart", rc.restart));
    (void)rly_config_warn_exposed_token(&s->live, s->config_path, s->log);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (!s->config_path) {
        RLY_LOGW(s->log, RLY_TARGET_CONFIG,
                 RLY_MSG("SIGHUP: running on built-in defaults, no configuration file to reload"));
        return;
    }
    if (s->signals_seen > 0)
        return; /* draining: too late to change anything */
    char state[96];
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)(uv_hrtime() / 1000));
    RLY_IGNORE(rly_sd_notify(state));
    reload(s);
    RLY_IGNORE(rly_sd_notify("READY=1"));
}

static int start_signals(server *s)
{
    uv_signal_t *sigs[3] = {&s->sigint, &s->sigterm, &s->sighup};
    for (; s->nsignals < 3; s->nsignals++) /* counted: a failure closes only what was set up */
        if (uv_signal_init(&s->loop, sigs[s->nsignals]) != 0)
            return RLY_ERR_IO;
    s->sigint.data = s->sigterm.data = s->sighup.data = s;
    if (uv_signal_start(&s->sigint, on_signal, SIGINT) != 0 ||
        uv_signal_start(&s->sigterm, on_signal, SIGTERM) != 0 ||
        uv_signal_start(&s->sighup, on_sighup, SIGHUP) != 0)
        return RLY_ERR_IO;
    return 0;
}

static void swarm_settings(const rly_config *cfg, rly_swarm_settings *st)
{
    memset(st, 0, sizeof(*st));
    st->agent_version = "mesh-relay/" RLY_VERSION;
    rly_tcp_settings_default(&st->tcp);
    st->tcp.handshake_timeout = cfg->network.handshake_timeout_secs * RLY_NS_PER_S;
    st->tcp.handshake_idle_timeout = cfg->network.handshake_idle_timeout_secs * RLY_NS_PER_S;
    st->tcp.max_pending_handshakes = cfg->network.max_pending_handshakes;
    st->tcp.max_pending_per_ip = cfg->network.max_pending_handshakes_per_ip;
    st->tcp.max_connections = cfg->network.max_connections;
    st->tcp.keepalive_interval = cfg->network.keepalive_interval_secs * RLY_NS_PER_S;
    st->tcp.write_timeout = cfg->network.write_timeout_secs * RLY_NS_PER_S;
    rly_quic_settings_default(&st->quic);
    st->quic.handshake_timeout = cfg->network.handshake_timeout_secs * RLY_NS_PER_S;
    st->quic.handshake_idle_timeout = st->tcp.handshake_idle_timeout;
    st->quic.max_pending_handshakes = cfg->network.max_pending_handshakes; /* each transport */
    st->quic.max_pending_per_ip = cfg->network.max_pending_handshakes_per_ip;
    st->quic.write_timeout = st->tcp.write_timeout;
    /* a quarter of the slots for handshakes from unproven addresses; then Retry (256: 64) */
    st->quic.retry_threshold = cfg->network.max_pending_handshakes / 4;
    st->quic.max_connections = cfg->network.max_connections;
}

/* The relay's limits from |cfg|; says so when the per-peer reservation default gives way to a
 * smaller max_reservations (config.h). */
static void relay_settings(const rly_config *cfg, rly_relay_settings *rs, rly_log *log)
{
    rly_relay_settings_default(rs);
    rs->limits.max_reservations = cfg->relay.max_reservations;
    rs->limits.max_reservations_per_peer = rly_config_reservations_per_peer(cfg);
    if (rs->limits.max_reservations_per_peer < cfg->relay.max_reservations_per_peer)
        RLY_LOGI(log, RLY_TARGET_CONFIG,
                 RLY_MSG("Per-peer reservation cap lowered to max_reservations"),
                 RLY_F_U64("max_reservations_per_peer", cfg->relay.max_reservations_per_peer),
                 RLY_F_U64("max_reservations", cfg->relay.max_reservations),
                 RLY_F_U64("effective", rs->limits.max_reservations_per_peer));
    rs->limits.ttl = cfg->relay.reservation_ttl_secs * RLY_NS_PER_S;
    rs->limits.max_circuits = cfg->relay.max_circuits;
    rs->limits.max_circuits_per_peer = cfg->relay.max_circuits_per_peer;
    rs->max_circuit_duration = cfg->relay.max_circuit_duration_secs * RLY_NS_PER_S;
    rs->max_circuit_bytes = cfg->relay.max_circuit_bytes;
}

static int start(server *s, const rly_config *cfg, const rly_keypair *kp, char *errmsg, size_t cap)
{
    rly_swarm_settings st;
    int rv = start_signals(s);
    if (rv != 0) {
        snprintf(errmsg, cap, "Cannot install signal handlers");
        return rv;
    }
    swarm_settings(cfg, &st);
    apply_budget(s);
    rv = rly_swarm_new(&s->swarm, &s->loop, kp, &st, s->log, rly_mem_default());
    if (rv != 0) {
        snprintf(errmsg, cap, "Cannot start the libp2p stack: %s", rly_strerror(rv));
        return rv;
    }
    if (cfg->network.tcp_listen_addr[0])
        rv = start_listener(s, "tcp_listen_addr", cfg->network.tcp_listen_addr, errmsg, cap);
    if (rv == 0 && cfg->network.tcp_listen_addr_v6[0])
        rv = start_listener(s, "tcp_listen_addr_v6", cfg->network.tcp_listen_addr_v6, errmsg, cap);
    if (rv == 0 && cfg->network.quic_listen_addr[0])
        rv = start_listener(s, "quic_listen_addr", cfg->network.quic_listen_addr, errmsg, cap);
    if (rv == 0 && cfg->network.quic_listen_addr_v6[0])
        rv =
            start_listener(s, "quic_listen_addr_v6", cfg->network.quic_listen_addr_v6, errmsg, cap);
    if (rv == 0 && (rv = advertise(s, cfg)) != 0)
        snprintf(errmsg, cap, "Cannot sign the relay's peer record: %s", rly_strerror(rv));
    if (rv == 0) {
        rly_authsvc_settings as;
        auth_settings(s, cfg, &as);
        rv = rly_authsvc_new(&s->auth, s->swarm, &as, s->log, rly_mem_default());
        if (rv != 0)
            snprintf(errmsg, cap, "Cannot start the authentication service: %s", rly_strerror(rv));
    }
    if (rv == 0 && cfg->auth.revoked_tokens_file[0] &&
        (rv = load_revoked(s, "start", errmsg, cap)) == 0)
        watch_revoked(s);
    if (rv == 0) {
        rly_relay_settings rs;
        relay_settings(cfg, &rs, s->log);
        rs.auth = s->auth;
        rs.acl = &s->live.acl; /* reloads change it in place */
        rs.ip_limits = &s->live.limits;
        rv = rly_relay_new(&s->relay, s->swarm, &rs, s->log, rly_mem_default());
        if (rv != 0)
            snprintf(errmsg, cap, "Cannot start the relay service: %s", rly_strerror(rv));
        else {
            rly_authsvc_set_revoke_cb(s->auth, on_auth_revoked, s);
            rly_authsvc_set_reclass_cb(s->auth, on_auth_reclassed, s);
        }
    }
    if (rv == 0)
        rv = start_http(s, cfg, errmsg, cap);
    if (rv == 0) {
        s->is_ready = true;
        s->grace_secs = cfg->network.shutdown_grace_secs;
        uv_timer_init(&s->loop, &s->drain_timer);
        s->drain_timer.data = s;
        s->has_drain_timer = true;
        uv_timer_init(&s->loop, &s->budget_timer);
        s->budget_timer.data = s;
        s->has_budget_timer = true;
        uv_timer_start(&s->budget_timer, on_budget_timer, BUDGET_LOG_INTERVAL_MS,
                       BUDGET_LOG_INTERVAL_MS);
    }
    return rv;
}

int rly_server_run(const rly_config *cfg, const rly_keypair *kp, rly_log *log,
                   const char *config_path, const rly_config_overrides *overrides, FILE *banner,
                   char *errmsg, size_t cap)
{
    static server s; /* large (addresses): keep it off the stack */
    int rv;

    memset(&s, 0, sizeof(s));
    s.log = log;
    s.live = *cfg;
    s.config_path = config_path;
    s.overrides = overrides;
    s.started = (uint64_t)time(NULL);
    rv = rly_keypair_peerid(kp, &s.peerid);
    if (rv != 0) {
        snprintf(errmsg, cap, "Cannot derive the relay's PeerId: %s", rly_strerror(rv));
        return rv;
    }
    if (uv_loop_init(&s.loop) != 0) {
        snprintf(errmsg, cap, "Cannot create the event loop");
        return RLY_ERR_IO;
    }
    signal(SIGPIPE, SIG_IGN);
    rv = start(&s, cfg, kp, errmsg, cap);
    if (rv == 0) {
        print_banner(&s, banner);
        print_http(&s, banner);
        if (rly_sd_notify("READY=1\nSTATUS=Relaying") != 0)
            RLY_LOGW(log, RLY_TARGET_APP, RLY_MSG("Cannot notify systemd (NOTIFY_SOCKET)"));
        uv_run(&s.loop, UV_RUN_DEFAULT);
        RLY_LOGI(log, RLY_TARGET_APP, RLY_MSG("Relay server stopped"));
    } else {
        /* Tear down whatever started, then let libuv finish the closes. */
        s.signals_seen = 1;
        begin_shutdown(&s);
        uv_run(&s.loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&s.loop);
    return rv;
}
