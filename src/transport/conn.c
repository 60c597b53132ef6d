/* conn.c: what every transport's connections share (conn.h). */
#include "transport/conn.h"

const struct sockaddr *rly_conn_remote_sockaddr(const rly_conn *c, struct sockaddr_storage *ss)
{
    uint32_t tr = 0;
    bool quic = false;
    if (rly_multiaddr_to_sockaddr(&c->remote, ss, &tr, &quic) != 0)
        return NULL;
    return (const struct sockaddr *)ss;
}

uint64_t rly_conn_new_id(void)
{
    static uint64_t next; /* one loop per process: no locking */
    return ++next;
}
