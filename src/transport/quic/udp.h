/* udp.h: the UDP socket calls of the QUIC transport, batched (Linux).
 *
 * QUIC moves one datagram of at most RLY_QUIC_MAX_PKT bytes per packet, so a socket call per
 * datagram costs more than the crypto (docs/ARCHITECTURE.md "QUIC data path"). Here:
 * - receiving takes up to RLY_UDP_RX_MSGS datagrams per recvmmsg, and with UDP_GRO on (when the
 *   kernel has it) each may be a train of equal-sized segments that the kernel coalesced (on
 *   loopback a GSO send arrives whole); rly_udp_recv splits them again;
 * - sending hands a train of equal-sized packets (the last may be shorter) to one sendmsg with
 *   UDP_SEGMENT (GSO); where the kernel or the route refuses it, GSO is switched off for that
 *   socket and the packets go one by one.
 * libuv 1.44 has no GSO, GRO or control messages, so the sockets are ours and libuv only polls
 * them (uv_poll_t in quic_transport.c). */
#ifndef RLY_TRANSPORT_QUIC_UDP_H
#define RLY_TRANSPORT_QUIC_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/mem.h"

/* Datagrams (or GRO trains) taken per recvmmsg, each into a buffer of RLY_UDP_RX_BUF bytes. */
#define RLY_UDP_RX_MSGS 8
#define RLY_UDP_RX_BUF 65536
/* Packets in one GSO send at most (the kernel allows 64 and 64 KiB in all). */
#define RLY_UDP_GSO_MAX_SEGS 40
/* Socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max). */
#define RLY_UDP_SOCKBUF (4 * 1024 * 1024)

typedef struct rly_udp_sock {
    int fd;                        /* -1: none */
    struct sockaddr_storage local; /* the bound address, port included */
    bool has_gso;                  /* UDP_SEGMENT sends work (until one is refused) */
} rly_udp_sock;

/* rly_udp_open makes a non-blocking UDP socket bound to |sa| (IPv6 ones v6-only), with UDP_GRO on
 * where the kernel has it and the socket buffers raised. Returns 0 or a negative errno (also a
 * libuv error code on Unix: UV_EADDRINUSE is -EADDRINUSE). */
RLY_NODISCARD int rly_udp_open(rly_udp_sock *s, const struct sockaddr *sa);

/* rly_udp_close closes the socket (fd -1 after). */
void rly_udp_close(rly_udp_sock *s);

/* Buffers for rly_udp_recv, owned by the caller (about 520 KiB: allocate, don't put on a stack). */
typedef struct rly_udp_rx {
    struct mmsghdr msgs[RLY_UDP_RX_MSGS];
    struct iovec iov[RLY_UDP_RX_MSGS];
    struct sockaddr_storage from[RLY_UDP_RX_MSGS];
    uint64_t ctrl[RLY_UDP_RX_MSGS][8]; /* control messages (the GRO segment size) */
    uint8_t data[RLY_UDP_RX_MSGS][RLY_UDP_RX_BUF];
} rly_udp_rx;

/* Called for each datagram received, a segment of a GRO train included. |pkt| and |from| are
 * borrowed for the call. */
typedef void (*rly_udp_datagram_cb)(void *ud, const uint8_t *pkt, size_t len,
                                    const struct sockaddr *from);

/* rly_udp_recv runs one recvmmsg on |s| and calls |cb| for every datagram in it. Returns how many
 * messages the kernel gave (0: nothing waiting, or an error other than a datagram's: the caller
 * stops reading until the next readiness). */
size_t rly_udp_recv(rly_udp_sock *s, rly_udp_rx *rx, rly_udp_datagram_cb cb, void *ud);

/* rly_udp_send sends |len| bytes to |to|: one datagram, or with |seg| < |len| a train of |seg|-byte
 * datagrams (the last may be shorter; at most RLY_UDP_GSO_MAX_SEGS). A full socket buffer drops
 * them (QUIC's loss recovery resends). Returns 0 or RLY_ERR_IO (the socket refused; dropped). */
int rly_udp_send(rly_udp_sock *s, const struct sockaddr *to, const uint8_t *data, size_t len,
                 size_t seg);

#endif
