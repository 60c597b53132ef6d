/* cidr.c: CIDR networks (cidr.h). */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

int rly_cidr_parse(rly_cidr *c, const char *s, size_t len)
{
    char ip[INET6_ADDRSTRLEN + 1];
    memset(c, 0, sizeof(*c));
    const char *slash = memchr(s, '/', len);
    size_t iplen = slash ? (size_t)(slash - s) : len;
    if (iplen == 0 || iplen >= sizeof(ip))
        return RLY_ERR_INVALID_ARG;
    memcpy(ip, s, iplen);
    ip[iplen] = '\0';
    if (memchr(ip, '\0', iplen)) /* a NUL inside the text */
        return RLY_ERR_INVALID_ARG;
    unsigned max;
    if (inet_pton(AF_INET, ip, c->addr) == 1) {
        c->family = 4;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
        c->family = 6;
        max = 128;
    } else {
        memset(c, 0, sizeof(*c));
        return RLY_ERR_INVALID_ARG;
    }
    unsigned prefix = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        size_t n = (size_t)(end - p);
        bool ok = n >= 1 && n <= 3 && !(n > 1 && p[0] == '0');
        prefix = 0;
        for (size_t i = 0; ok && i < n; i++) {
            ok = p[i] >= '0' && p[i] <= '9';
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (!ok || prefix > max) {
            memset(c, 0, sizeof(*c));
            return RLY_ERR_INVALID_ARG;
        }
    }
    c->prefix = (uint8_t)prefix;
    for (unsigned bit = prefix; bit < max; bit++) /* clear the host bits */
        c->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

bool rly_cidr_group(const struct sockaddr *sa, uint8_t key[RLY_CIDR_GROUP_LEN])
{
    memset(key, 0, RLY_CIDR_GROUP_LEN);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 7); /* /56 */
        return true;
    }
    return false;
}

/* Whether the first |bits| bits of |a| and |b| agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    size_t whole = bits / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (bits % 8 == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - bits % 8));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool rly_cidr_contains(const rly_cidr *c, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *a;
    uint8_t family;
    if (sa->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        family = 4;
    } else if (sa->sa_family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        family = 6;
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            a += 12;
            family = 4;
        }
    } else {
        return false;
    }
    return family == c->family && prefix_equal(a, c->addr, c->prefix);
}

rly_ip_scope rly_cidr_scope(const struct sockaddr *sa)
{
    static const struct {
        const char *net;
        rly_ip_scope scope;
    } table[] = {
        {"127.0.0.0/8", RLY_IP_LOOPBACK},       {"::1/128", RLY_IP_LOOPBACK},
        {"10.0.0.0/8", RLY_IP_PRIVATE},         {"172.16.0.0/12", RLY_IP_PRIVATE},
        {"192.168.0.0/16", RLY_IP_PRIVATE},     {"100.64.0.0/10", RLY_IP_PRIVATE},
        {"fc00::/7", RLY_IP_PRIVATE},           {"0.0.0.0/8", RLY_IP_UNROUTABLE},
        {"169.254.0.0/16", RLY_IP_UNROUTABLE},  {"192.0.0.0/24", RLY_IP_UNROUTABLE},
        {"192.0.2.0/24", RLY_IP_UNROUTABLE},    {"198.18.0.0/15", RLY_IP_UNROUTABLE},
        {"198.51.100.0/24", RLY_IP_UNROUTABLE}, {"203.0.113.0/24", RLY_IP_UNROUTABLE},
        {"224.0.0.0/3", RLY_IP_UNROUTABLE},     {"::/128", RLY_IP_UNROUTABLE},
        {"fe80::/10", RLY_IP_UNROUTABLE},       {"2001:db8::/32", RLY_IP_UNROUTABLE},
        {"100::/64", RLY_IP_UNROUTABLE},        {"ff00::/8", RLY_IP_UNROUTABLE},
    };
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return RLY_IP_UNROUTABLE;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        rly_cidr c;
        if (rly_cidr_parse(&c, table[i].net, strlen(table[i].net)) == 0 &&
            rly_cidr_contains(&c, sa))
            return table[i].scope;
    }
    return RLY_IP_PUBLIC;
}
