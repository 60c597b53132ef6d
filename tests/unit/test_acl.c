/* test_acl.c: the relay's access control decisions (src/relay/acl.h): empty allow lists are open,
 * a peer passes an allow pair by PeerId or by address, deny wins over allow, a missing address
 * matches no CIDR, trusted is by PeerId only. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "crypto/keys.h"
#include "relay/acl.h"

static rly_acl acl;
static rly_peerid a, b;
static struct sockaddr_in lo, ten;

static void setup(void)
{
    rly_keypair k;
    memset(&acl, 0, sizeof(acl));
    cr_assert_eq(rly_keypair_generate(&k), 0);
    cr_assert_eq(rly_keypair_peerid(&k, &a), 0);
    cr_assert_eq(rly_keypair_generate(&k), 0);
    cr_assert_eq(rly_keypair_peerid(&k, &b), 0);
    rly_keypair_wipe(&k);
    lo = (struct sockaddr_in){.sin_family = AF_INET};
    ten = (struct sockaddr_in){.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
    inet_pton(AF_INET, "10.1.2.3", &ten.sin_addr);
}

static void add_cidr(rly_cidr_list *l, const char *s)
{
    cr_assert_eq(rly_cidr_parse(&l->items[l->n++], s, strlen(s)), 0);
}

#define LO ((struct sockaddr *)&lo)
#define TEN ((struct sockaddr *)&ten)

Test(acl, empty_lists_are_open, .init = setup)
{
    cr_assert(rly_acl_may_reserve(&acl, &a, LO));
    cr_assert(rly_acl_may_connect(&acl, &a, NULL));
    cr_assert_not(rly_acl_is_denied(&acl, &a, LO));
    cr_assert_not(rly_acl_is_trusted(&acl, &a));
}

Test(acl, allow_by_peer_or_address, .init = setup)
{
    acl.reserve_allow_peers.items[acl.reserve_allow_peers.n++] = a;
    add_cidr(&acl.reserve_allow_cidrs, "10.0.0.0/8");
    cr_assert(rly_acl_may_reserve(&acl, &a, LO), "listed PeerId");
    cr_assert(rly_acl_may_reserve(&acl, &b, TEN), "listed network");
    cr_assert_not(rly_acl_may_reserve(&acl, &b, LO), "neither");
    cr_assert_not(rly_acl_may_reserve(&acl, &b, NULL), "no address: only the PeerId counts");
    cr_assert(rly_acl_may_connect(&acl, &b, LO), "the connect lists are separate (empty: open)");
    add_cidr(&acl.connect_allow_cidrs, "127.0.0.0/8");
    cr_assert(rly_acl_may_connect(&acl, &b, LO));
    cr_assert_not(rly_acl_may_connect(&acl, &b, TEN));
}

Test(acl, deny_wins, .init = setup)
{
    acl.reserve_allow_peers.items[acl.reserve_allow_peers.n++] = a;
    acl.deny_peers.items[acl.deny_peers.n++] = a;
    cr_assert(rly_acl_is_denied(&acl, &a, NULL));
    cr_assert_not(rly_acl_may_reserve(&acl, &a, LO));
    cr_assert_not(rly_acl_may_connect(&acl, &a, LO));
    add_cidr(&acl.deny_cidrs, "10.0.0.0/8");
    cr_assert(rly_acl_is_denied(&acl, &b, TEN));
    cr_assert_not(rly_acl_is_denied(&acl, &b, LO));
    cr_assert_not(rly_acl_may_connect(&acl, &b, TEN));
}

Test(acl, trusted_by_peer, .init = setup)
{
    acl.trusted_peers.items[acl.trusted_peers.n++] = b;
    cr_assert(rly_acl_is_trusted(&acl, &b));
    cr_assert_not(rly_acl_is_trusted(&acl, &a));
}
