#include "app/server.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/multiaddr.h"
#include "transport/tcp/tcp_listener.h"

/* tcp_listen_addr and tcp_listen_addr_v6. QUIC listeners join with the QUIC transport. */
#define MAX_LISTENERS 2

typedef struct server {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    rly_tcp_listener *listeners[MAX_LISTENERS];
    size_t nlisteners;
    const rly_log *log;
    rly_peerid peerid;
    int signals_seen;
} server;

static void signal_closed(uv_handle_t *h)
{
}

static void listener_closed(void *user_data)
{
    server *s = user_data;
    if (--s->nlisteners > 0)
        return;
    /* Every listener and connection is gone: the signal handles are all that keeps the loop. */
    uv_close((uv_handle_t *)&s->sigint, signal_closed);
    uv_close((uv_handle_t *)&s->sigterm, signal_closed);
}

static void begin_shutdown(server *s)
{
    size_t n = s->nlisteners;
    s->nlisteners++; /* held until every close below has been started */
    for (size_t i = 0; i < n; i++)
        rly_tcp_listener_close(s->listeners[i], listener_closed, s);
    listener_closed(s);
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
    RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Shutdown signal received, shutting down"),
             RLY_F_STR("signal", strsignal(signum)));
    begin_shutdown(s);
}

static int listen_addr_error(const char *key, const char *addr, int rv, int uverr,
                             const char *config_path, char *errmsg, size_t cap)
{
    const char *where = config_path ? config_path : "your configuration file";
    if (rv == RLY_ERR_ADDR_IN_USE) {
        snprintf(errmsg, cap,
                 "Cannot listen on %s: Address already in use (another process is using the port; "
                 "stop it or change tcp_listen_addr / tcp_listen_addr_v6 and quic_listen_addr / "
                 "quic_listen_addr_v6 in [network] of %s)",
                 addr, where);
    } else {
        snprintf(errmsg, cap, "Cannot listen on %s (%s = \"%s\" in [network] of %s): %s", addr, key,
                 addr, where, uverr ? uv_strerror(uverr) : rly_strerror(rv));
    }
    return rv;
}

static int start_listener(server *s, const char *key, const char *addr, rly_mem *mem,
                          const char *config_path, char *errmsg, size_t cap)
{
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    int uverr = 0;
    int rv = rly_multiaddr_parse(&ma, addr);
    if (rv == 0)
        rv = rly_multiaddr_to_sockaddr(&ma, &ss, NULL, NULL);
    if (rv != 0) {
        snprintf(errmsg, cap, "%s = \"%s\" is not a TCP listen multiaddr", key, addr);
        return RLY_ERR_CONFIG;
    }
    rv = rly_tcp_listener_new(&s->listeners[s->nlisteners], &s->loop, (struct sockaddr *)&ss,
                              s->log, mem, &uverr);
    if (rv != 0)
        return listen_addr_error(key, addr, rv, uverr, config_path, errmsg, cap);
    s->nlisteners++;
    return 0;
}

/* Prints one "Listening on:" line per address a peer can dial: an unspecified listen IP
 * (0.0.0.0, ::) is expanded to the interface addresses of its family, as libp2p reports them. */
static void print_listener(server *s, rly_tcp_listener *l, FILE *out)
{
    struct sockaddr_storage ss;
    if (rly_tcp_listener_addr(l, &ss) != 0)
        return;
    int family = ss.ss_family;
    bool any = family == AF_INET
                   ? ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)
                   : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    uv_interface_address_t *ifs = NULL;
    int nifs = 0;
    if (any && uv_interface_addresses(&ifs, &nifs) != 0)
        nifs = 0;
    for (int i = -1; i < nifs; i++) {
        struct sockaddr_storage a = ss;
        if (i >= 0) {
            const struct sockaddr *ia = (const struct sockaddr *)&ifs[i].address;
            if (ia->sa_family != family)
                continue;
            if (family == AF_INET6 &&
                IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)ia)->sin6_addr))
                continue; /* needs a zone: not dialable from elsewhere */
            uint16_t port = family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port;
            memcpy(&a, ia,
                   family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
            if (family == AF_INET)
                ((struct sockaddr_in *)&a)->sin_port = port;
            else
                ((struct sockaddr_in6 *)&a)->sin6_port = port;
        } else if (any) {
            continue;
        }
        rly_multiaddr ma;
        char text[RLY_MULTIADDR_STR_MAX];
        if (rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&a, RLY_MA_TCP, false) == 0 &&
            rly_multiaddr_append_p2p(&ma, &s->peerid) == 0 &&
            rly_multiaddr_to_string(&ma, text, sizeof(text)) > 0) {
            fprintf(out, "Listening on: %s\n", text);
            RLY_LOGI(s->log, RLY_TARGET_APP, RLY_MSG("Listening"), RLY_F_STR("address", text));
        }
    }
    uv_free_interface_addresses(ifs, nifs);
}

static void print_banner(server *s, FILE *out)
{
    char pid[RLY_PEERID_STR_MAX];
    if (rly_peerid_to_string(&s->peerid, pid, sizeof(pid)) < 0)
        pid[0] = '\0';
    fprintf(out, "Mesh Relay Server is running!\nPress Ctrl+C to stop\n\nLocal PeerId: %s\n\n",
            pid);
    for (size_t i = 0; i < s->nlisteners; i++)
        print_listener(s, s->listeners[i], out);
    fflush(out);
}

static int start_signals(server *s)
{
    if (uv_signal_init(&s->loop, &s->sigint) != 0 || uv_signal_init(&s->loop, &s->sigterm) != 0)
        return RLY_ERR_IO;
    s->sigint.data = s->sigterm.data = s;
    if (uv_signal_start(&s->sigint, on_signal, SIGINT) != 0 ||
        uv_signal_start(&s->sigterm, on_signal, SIGTERM) != 0)
        return RLY_ERR_IO;
    return 0;
}

static int start(server *s, const rly_config *cfg, rly_mem *mem, const char *config_path,
                 char *errmsg, size_t cap)
{
    int rv = start_signals(s);
    if (rv != 0) {
        snprintf(errmsg, cap, "Cannot install signal handlers");
        return rv;
    }
    if (cfg->network.tcp_listen_addr[0])
        rv = start_listener(s, "tcp_listen_addr", cfg->network.tcp_listen_addr, mem, config_path,
                            errmsg, cap);
    if (rv == 0 && cfg->network.tcp_listen_addr_v6[0])
        rv = start_listener(s, "tcp_listen_addr_v6", cfg->network.tcp_listen_addr_v6, mem,
                            config_path, errmsg, cap);
    return rv;
}

int rly_server_run(const rly_config *cfg, const rly_keypair *kp, const rly_log *log,
                   const char *config_path, FILE *banner, char *errmsg, size_t cap)
{
    server s;
    rly_mem *mem = rly_mem_default();
    int rv;

    memset(&s, 0, sizeof(s));
    s.log = log;
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
    rv = start(&s, cfg, mem, config_path, errmsg, cap);
    if (rv == 0) {
        print_banner(&s, banner);
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
