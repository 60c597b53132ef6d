/* cidr.h: IP networks in CIDR notation ("203.0.113.0/24", "2001:db8::/32", a bare address is one
 * host), for the access lists and the per-address limits. */
#ifndef RLY_CORE_CIDR_H
#define RLY_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

/* Longest text rly_cidr_parse accepts (an IPv6 address with an embedded IPv4 one and "/128"). */
#define RLY_CIDR_STR_MAX 50

typedef struct rly_cidr {
    uint8_t family;   /* 4 or 6 */
    uint8_t prefix;   /* 0..32 or 0..128 */
    uint8_t addr[16]; /* network address: the bits past |prefix| are zero */
} rly_cidr;

/* rly_cidr_parse reads |s| (|len| bytes, no NUL needed): "<IPv4>[/0..32]" or "<IPv6>[/0..128]",
 * no spaces, the prefix in decimal without leading zeros. Host bits past the prefix are cleared
 * ("10.1.2.3/8" is 10.0.0.0/8, as go's net.ParseCIDR reads it). Returns 0 or RLY_ERR_INVALID_ARG
 * (|c| is then zeroed). */
RLY_NODISCARD int rly_cidr_parse(rly_cidr *c, const char *s, size_t len);

/* Bytes of an address group key (rly_cidr_group). */
#define RLY_CIDR_GROUP_LEN 17

/* rly_cidr_group writes the group |sa| counts in for per-address limits: an IPv4 address, or an
 * IPv6 /56 (what one subscriber usually gets): the family (4 or 6), then the address bytes, the
 * rest zero. Returns false (and a zero key) for other families. */
bool rly_cidr_group(const struct sockaddr *sa, uint8_t key[RLY_CIDR_GROUP_LEN]);

/* rly_cidr_contains: whether the address of |sa| (AF_INET or AF_INET6; other families: false)
 * lies in |c|. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as the IPv4 address. */
bool rly_cidr_contains(const rly_cidr *c, const struct sockaddr *sa);

/* Where an address can be reached from, as libp2p implementations sort addresses before they
 * announce or dial them (go's manet.IsPublicAddr / IsPrivateAddr, rust's is_global checks). */
typedef enum rly_ip_scope {
    RLY_IP_PUBLIC,     /* anything not below: reachable across the Internet */
    RLY_IP_PRIVATE,    /* 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier NAT), fc00::/7 */
    RLY_IP_UNROUTABLE, /* unspecified, link-local, documentation, benchmarking, multicast,
                          reserved (0/8, 169.254/16, 192.0.0/24, 192.0.2/24, 198.18/15,
                          198.51.100/24, 203.0.113/24, 224/3, fe80::/10, 2001:db8::/32,
                          100::/64, ff00::/8, ::) */
    RLY_IP_LOOPBACK,   /* 127/8, ::1 */
} rly_ip_scope;

/* rly_cidr_scope sorts the address of |sa| (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
 * as its IPv4 address; other families are RLY_IP_UNROUTABLE). */
rly_ip_scope rly_cidr_scope(const struct sockaddr *sa);

#endif
