/* acl.c: access control lists (acl.h). */
#include "relay/acl.h"

bool rly_peer_list_has(const rly_peer_list *l, const rly_peerid *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (rly_peerid_equal(&l->items[i], p))
            return true;
    return false;
}

bool rly_cidr_list_has(const rly_cidr_list *l, const struct sockaddr *sa)
{
    for (size_t i = 0; sa && i < l->n; i++)
        if (rly_cidr_contains(&l->items[i], sa))
            return true;
    return false;
}

/* An allow pair: open when both lists are empty. */
static bool allowed(const rly_peer_list *peers, const rly_cidr_list *cidrs, const rly_peerid *p,
                    const struct sockaddr *sa)
{
    if (peers->n == 0 && cidrs->n == 0)
        return true;
    return rly_peer_list_has(peers, p) || rly_cidr_list_has(cidrs, sa);
}

bool rly_acl_is_denied(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa)
{
    return rly_peer_list_has(&a->deny_peers, p) || rly_cidr_list_has(&a->deny_cidrs, sa);
}

bool rly_acl_may_reserve(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa)
{
    return !rly_acl_is_denied(a, p, sa) &&
           allowed(&a->reserve_allow_peers, &a->reserve_allow_cidrs, p, sa);
}

bool rly_acl_may_connect(const rly_acl *a, const rly_peerid *p, const struct sockaddr *sa)
{
    return !rly_acl_is_denied(a, p, sa) &&
           allowed(&a->connect_allow_peers, &a->connect_allow_cidrs, p, sa);
}

bool rly_acl_is_trusted(const rly_acl *a, const rly_peerid *p)
{
    return rly_peer_list_has(&a->trusted_peers, p);
}
