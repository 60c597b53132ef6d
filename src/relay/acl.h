/* acl.h: the relay's access control lists ([acl] in the configuration, README):
 *   - who may reserve: reserve_allow_peers / reserve_allow_cidrs (both empty: everyone);
 *   - who may connect through the relay (the CONNECT's source): connect_allow_peers /
 *     connect_allow_cidrs (both empty: everyone);
 *   - who is refused at connection time: deny_peers / deny_cidrs;
 *   - trusted_peers: circuits from or to them get no duration or data limit.
 * A peer passes an allow pair when its PeerId is in the peer list or its address in the CIDR
 * list. Deny wins over allow. */
#ifndef RLY_RELAY_ACL_H
#define RLY_RELAY_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/cidr.h"
#include "core/peerid.h"

/* Entries in one list at most. */
#define RLY_ACL_MAX 128

typedef struct rly_peer_list {
    rly_peerid items[RLY_ACL_MAX];
    size_t n;
} rly_peer_list;

typedef struct rly_cidr_list {
    rly_cidr items[RLY_ACL_MAX];
    size_t n;
} rly_cidr_list;

typedef struct rly_acl {
    rly_peer_list reserve_allow_peers;
    rly_cidr_list reserve_allow_cidrs;
    rly_peer_list connect_allow_peers;
    rly_cidr_list connect_allow_cidrs;
    rly_peer_list deny_peers;
    rly_cidr_list deny_cidrs;
    rly_peer_list trusted_peers;
} rly_acl;

/* rly_peer_list_has / rly_cidr_list_has: membership (|sa| NULL: no address, never in a CIDR). */
bool rly_peer_list_has(const rly_peer_list *l, const rly_peerid *p);
bool rly_cidr_list_has(const rly_cidr_list *l, const struct sockaddr *sa);

/* The decisions. |sa| is the peer's address (NULL when unknown: only its PeerId counts). */
bool rly_acl_is_denied(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa);
bool rly_acl_may_reserve(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa);
bool rly_acl_may_connect(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa);
bool rly_acl_is_trusted(const rly_acl *a, const rly_peerid *p);

#endif
