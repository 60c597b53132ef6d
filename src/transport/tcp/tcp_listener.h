/* tcp_listener.h: a TCP listen socket on the libuv loop and the connections it accepts.
 *
 * Accepted connections are tracked so that shutdown closes every one of them. The libp2p
 * upgrade (multistream-select, Noise, Yamux) plugs in here with the next layer; until then an
 * accepted connection is held open and whatever it sends is discarded. */
#ifndef RLY_TRANSPORT_TCP_LISTENER_H
#define RLY_TRANSPORT_TCP_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define RLY_TCP_BACKLOG 1024

typedef struct rly_tcp_listener rly_tcp_listener;

typedef void (*rly_tcp_listener_closed_cb)(void *user_data);

/* rly_tcp_listener_new binds |sa| (IPv6 sockets are IPv6-only, so a v4 and a v6 listener can
 * share a port) and starts listening on |loop|. |log| and |mem| are borrowed for the listener's
 * lifetime. On failure stores the libuv error code in |*puv_err| (may be NULL) and returns
 * RLY_ERR_ADDR_IN_USE, RLY_ERR_IO or RLY_ERR_NOMEM; nothing is left to free (the failed handle
 * is closed by running |loop| once, so call this at set-up, not from inside a loop callback). */
RLY_NODISCARD int rly_tcp_listener_new(rly_tcp_listener **pl, uv_loop_t *loop,
                                       const struct sockaddr *sa, const rly_log *log, rly_mem *mem,
                                       int *puv_err);

/* rly_tcp_listener_addr writes the bound address (with the real port when 0 was asked for).
 * Returns 0 or RLY_ERR_IO. */
RLY_NODISCARD int rly_tcp_listener_addr(const rly_tcp_listener *l, struct sockaddr_storage *ss);

/* rly_tcp_listener_nconns returns the number of open accepted connections. */
size_t rly_tcp_listener_nconns(const rly_tcp_listener *l);

/* rly_tcp_listener_close stops accepting, closes every accepted connection and frees the
 * listener once libuv has closed all handles; then calls |cb| (may be NULL) with |user_data|.
 * |l| must not be used after this call. */
void rly_tcp_listener_close(rly_tcp_listener *l, rly_tcp_listener_closed_cb cb, void *user_data);

#endif
