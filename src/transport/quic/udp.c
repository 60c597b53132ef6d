/* udp.c: batched UDP socket calls for the QUIC transport (udp.h). */
#include "transport/quic/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

static socklen_t addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int rly_udp_open(rly_udp_sock *s, const struct sockaddr *sa)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0)
        return -errno;
    int on = 1, size = RLY_UDP_SOCKBUF;
    if (sa->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
        goto fail;
    /* Best effort: a smaller buffer or no GRO still works, only slower. */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    (void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on));
    /* Never fragment, and ignore learnt path MTUs: QUIC sizes its own packets (and probes), and
     * one peer's small MTU must not make sends to everyone fail (GSO trains included). */
    int probe = sa->sa_family == AF_INET6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    (void)setsockopt(fd, sa->sa_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                     sa->sa_family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, &probe,
                     sizeof(probe));
    int seg = 0;
    socklen_t seglen = sizeof(seg);
    s->has_gso = getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg, &seglen) == 0;
    socklen_t len = sizeof(s->local);
    if (bind(fd, sa, addr_len(sa)) != 0 || getsockname(fd, (struct sockaddr *)&s->local, &len) != 0)
        goto fail;
    s->fd = fd;
    return 0;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

void rly_udp_close(rly_udp_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* The GRO segment size of a received message, or 0 (one datagram). */
static size_t gro_size(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof(v));
            return v > 0 ? (size_t)v : 0;
        }
    }
    return 0;
}

size_t rly_udp_recv(rly_udp_sock *s, rly_udp_rx *rx, rly_udp_datagram_cb cb, void *ud)
{
    for (size_t i = 0; i < RLY_UDP_RX_MSGS; i++) {
        rx->iov[i].iov_base = rx->data[i];
        rx->iov[i].iov_len = sizeof(rx->data[i]);
        struct msghdr *m = &rx->msgs[i].msg_hdr;
        memset(m, 0, sizeof(*m));
        m->msg_name = &rx->from[i];
        m->msg_namelen = sizeof(rx->from[i]);
        m->msg_iov = &rx->iov[i];
        m->msg_iovlen = 1;
        m->msg_control = rx->ctrl[i];
        m->msg_controllen = sizeof(rx->ctrl[i]);
    }
    int n;
    do
        n = recvmmsg(s->fd, rx->msgs, RLY_UDP_RX_MSGS, 0, NULL);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        struct msghdr *m = &rx->msgs[i].msg_hdr;
        size_t len = rx->msgs[i].msg_len;
        if ((m->msg_flags & MSG_TRUNC) || len == 0)
            continue; /* larger than any QUIC datagram: not ours */
        size_t seg = gro_size(m);
        if (seg == 0 || seg > len)
            seg = len;
        for (size_t off = 0; off < len; off += seg) {
            size_t k = len - off < seg ? len - off : seg;
            cb(ud, rx->data[i] + off, k, (const struct sockaddr *)&rx->from[i]);
        }
    }
    return (size_t)n;
}

static ssize_t send_msg(int fd, const struct sockaddr *to, const uint8_t *data, size_t len,
                        size_t seg)
{
    struct iovec iov = {(void *)(uintptr_t)data, len}; /* sendmsg does not write it */
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
    } ctrl;
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    m.msg_name = (void *)(uintptr_t)to;
    m.msg_namelen = addr_len(to);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (seg > 0 && seg < len) {
        memset(&ctrl, 0, sizeof(ctrl));
        m.msg_control = ctrl.buf;
        m.msg_controllen = sizeof(ctrl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t v = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &v, sizeof(v));
    }
    ssize_t n;
    do
        n = sendmsg(fd, &m, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

static bool is_drop(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

int rly_udp_send(rly_udp_sock *s, const struct sockaddr *to, const uint8_t *data, size_t len,
                 size_t seg)
{
    if (seg == 0 || seg >= len) {
        if (send_msg(s->fd, to, data, len, 0) >= 0 || is_drop(errno))
            return 0;
        return RLY_ERR_IO;
    }
    if (s->has_gso) {
        if (send_msg(s->fd, to, data, len, seg) >= 0 || is_drop(errno))
            return 0;
        if (errno == EIO || errno == EOPNOTSUPP)
            s->has_gso = false; /* the device cannot segment: one by one from now on */
        else if (errno != EINVAL && errno != EMSGSIZE)
            return RLY_ERR_IO;
        /* EINVAL / EMSGSIZE: this destination's route refuses the train; one by one, this time */
    }
    for (size_t off = 0; off < len; off += seg) {
        size_t k = len - off < seg ? len - off : seg;
        if (send_msg(s->fd, to, data + off, k, 0) < 0 && !is_drop(errno))
            return RLY_ERR_IO;
    }
    return 0;
}
