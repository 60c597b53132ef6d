/* healthcheck.c: relay-server --health-check (healthcheck.h). */
#include "app/healthcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/multiaddr.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_for polls |fd| for |events| until |deadline| (ms). Returns 1 ready, 0 timed out, -1 error.
 */
static int wait_for(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
        if (n == 0)
            return 0;
    }
}

/* The address to ask: the listen address, with an unspecified one replaced by loopback. */
static void to_loopback(struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (a->sin_addr.s_addr == htonl(INADDR_ANY))
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
            a->sin6_addr = in6addr_loopback;
    }
}

static void url_of(const struct sockaddr_storage *ss, const char *path, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    bool v6 = ss->ss_family == AF_INET6;
    const void *a = v6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                       : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    unsigned port = ntohs(v6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                             : ((const struct sockaddr_in *)ss)->sin_port);
    (void)inet_ntop(ss->ss_family, a, ip, sizeof(ip));
    snprintf(out, cap, "http://%s%s%s:%u%s", v6 ? "[" : "", ip, v6 ? "]" : "", port, path);
}

/* ask sends the request on the connected |fd| and reads the status line. */
static int ask(int fd, const char *path, long long deadline, const char *url, char *msg, size_t cap)
{
    char req[256], resp[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    size_t sent = 0, got = 0;
    while (n > 0 && sent < (size_t)n) {
        if (wait_for(fd, POLLOUT, deadline) != 1)
            break;
        ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;
        sent += w > 0 ? (size_t)w : 0;
    }
    if (n <= 0 || sent < (size_t)n) {
        snprintf(msg, cap, "%s: cannot send the request: %s", url,
                 now_ms() >= deadline ? "timed out" : strerror(errno));
        return RLY_ERR_IO;
    }
    while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
        if (wait_for(fd, POLLIN, deadline) != 1) {
            snprintf(msg, cap, "%s: no answer within the timeout", url);
            return RLY_ERR_IO;
        }
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(msg, cap, "%s: %s", url, strerror(errno));
            return RLY_ERR_IO;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    resp[got] = '\0';
    size_t line = strcspn(resp, "\r\n");
    resp[line] = '\0';
    for (size_t i = 0; i < line; i++) /* the server's bytes go to a log: printable only */
        if ((unsigned char)resp[i] < 0x20 || (unsigned char)resp[i] >= 0x7f)
            resp[i] = '?';
    /* "HTTP/1.x SSS reason" */
    if (strncmp(resp, "HTTP/1.", 7) != 0 || line < 12 || resp[8] != ' ') {
        snprintf(msg, cap, "%s: not an HTTP answer (\"%.60s\")", url, resp);
        return RLY_ERR_IO;
    }
    snprintf(msg, cap, "%s: %s", url, resp + 9);
    return strncmp(resp + 9, "200", 3) == 0 && (resp[12] == ' ' || resp[12] == '\0') ? 0
                                                                                     : RLY_ERR_IO;
}

int rly_health_check(const rly_config *cfg, const char *path, int timeout_ms, char *msg, size_t cap)
{
    const char *addr = cfg->metrics.listen_addr;
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    uint32_t transport = 0;
    bool quic = false;
    char url[128];
    if (addr[0] == '\0') {
        snprintf(msg, cap,
                 "[metrics] listen_addr is \"\": the relay serves no HTTP, so there is nothing to "
                 "check (set it, e.g. /ip4/127.0.0.1/tcp/9464)");
        return RLY_ERR_CONFIG;
    }
    memset(&ss, 0, sizeof(ss));
    if (rly_multiaddr_parse(&ma, addr) != 0 ||
        rly_multiaddr_to_sockaddr(&ma, &ss, &transport, &quic) != 0 || transport != RLY_MA_TCP) {
        snprintf(msg, cap, "[metrics] listen_addr = \"%s\" is not a TCP address", addr);
        return RLY_ERR_CONFIG;
    }
    to_loopback(&ss);
    url_of(&ss, path, url, sizeof(url));
    long long deadline = now_ms() + timeout_ms;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, cap, "%s: socket: %s", url, strerror(errno));
        return RLY_ERR_IO;
    }
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int rv = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
        snprintf(msg, cap, "%s: cannot connect: %s", url, strerror(errno));
        rv = RLY_ERR_IO;
    } else {
        int err = 0;
        socklen_t elen = sizeof(err);
        int w = wait_for(fd, POLLOUT, deadline);
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0) {
            rv = ask(fd, path, deadline, url, msg, cap);
        } else {
            snprintf(msg, cap, "%s: cannot connect: %s", url,
                     w == 0 ? "timed out" : strerror(err ? err : errno));
            rv = RLY_ERR_IO;
        }
    }
    close(fd);
    return rv;
}
