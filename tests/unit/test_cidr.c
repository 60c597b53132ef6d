/* test_cidr.c: CIDR parsing and matching (src/core/cidr.h): IPv4 and IPv6 networks, bare
 * addresses, prefix 0, host bits cleared, every malformed shape refused with the struct zeroed,
 * IPv4-mapped IPv6 addresses matching IPv4 networks, families kept apart; address scopes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "addr_util.h"
#include "core/cidr.h"

static rly_cidr parse_ok(const char *s, uint8_t family, uint8_t prefix)
{
    rly_cidr c;
    cr_assert_eq(rly_cidr_parse(&c, s, strlen(s)), 0, "%s", s);
    cr_assert_eq(c.family, family, "%s", s);
    cr_assert_eq(c.prefix, prefix, "%s", s);
    return c;
}

static void parse_bad(const char *s, size_t len)
{
    rly_cidr c, zero;
    memset(&c, 0x5a, sizeof(c));
    memset(&zero, 0, sizeof(zero));
    cr_assert_eq(rly_cidr_parse(&c, s, len), RLY_ERR_INVALID_ARG, "'%.*s' parsed", (int)len, s);
    cr_assert_eq(memcmp(&c, &zero, sizeof(c)), 0, "'%.*s': not zeroed", (int)len, s);
}

static bool in(const rly_cidr *c, const char *ip)
{
    struct sockaddr_storage ss = test_sockaddr(ip);
    return rly_cidr_contains(c, (struct sockaddr *)&ss);
}

Test(cidr, parses_networks_and_addresses)
{
    rly_cidr c = parse_ok("203.0.113.0/24", 4, 24);
    static const uint8_t net[4] = {203, 0, 113, 0};
    cr_assert_eq(memcmp(c.addr, net, 4), 0);
    parse_ok("0.0.0.0/0", 4, 0);
    parse_ok("127.0.0.1", 4, 32);
    parse_ok("2001:db8::/32", 6, 32);
    parse_ok("::1", 6, 128);
    parse_ok("::/0", 6, 0);
    parse_ok("::ffff:10.0.0.1/104", 6, 104);
    c = parse_ok("10.1.2.3/8", 4, 8); /* host bits cleared, as go's net.ParseCIDR */
    static const uint8_t ten[4] = {10, 0, 0, 0};
    cr_assert_eq(memcmp(c.addr, ten, 4), 0);
    c = parse_ok("2001:db8:ffff:ffff::1/33", 6, 33);
    cr_assert_eq(c.addr[4], 0x80, "bit 32 kept, the rest of the byte cleared");
    cr_assert_eq(c.addr[5] | c.addr[15], 0);
}

Test(cidr, refuses_malformed_text)
{
    const char *bad[] = {"",
                         "/24",
                         "10.0.0.0/",
                         "10.0.0.0/33",
                         "10.0.0.0/024",
                         "10.0.0.0/-1",
                         "10.0.0.0/2a",
                         "10.0.0/24",
                         "::/129",
                         "2001:db8::/1000",
                         " 10.0.0.0/8",
                         "10.0.0.0 /8",
                         "example.com",
                         "10.0.0.0/8/8",
                         "1.2.3.4.5",
                         "fe80::1%eth0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i], strlen(bad[i]));
    parse_bad("10.0.0.0\0/8", 11); /* a NUL inside */
    char longtext[80];
    memset(longtext, '1', sizeof(longtext));
    parse_bad(longtext, sizeof(longtext));
}

Test(cidr, contains)
{
    rly_cidr v4 = parse_ok("192.168.0.0/16", 4, 16);
    cr_assert(in(&v4, "192.168.1.2"));
    cr_assert(in(&v4, "192.168.255.255"));
    cr_assert_not(in(&v4, "192.169.0.1"));
    cr_assert(in(&v4, "::ffff:192.168.3.4"), "an IPv4-mapped IPv6 address is the IPv4 address");
    cr_assert_not(in(&v4, "2001:db8::1"), "families apart");
    rly_cidr v6 = parse_ok("2001:db8:1200::/40", 6, 40);
    cr_assert(in(&v6, "2001:db8:12ff::1"));
    cr_assert_not(in(&v6, "2001:db8:1300::1"));
    cr_assert_not(in(&v6, "10.0.0.1"));
    rly_cidr odd = parse_ok("10.0.0.0/9", 4, 9);
    cr_assert(in(&odd, "10.127.255.255"));
    cr_assert_not(in(&odd, "10.128.0.0"));
    rly_cidr all = parse_ok("0.0.0.0/0", 4, 0);
    cr_assert(in(&all, "8.8.8.8"));
    rly_cidr host = parse_ok("::1", 6, 128);
    cr_assert(in(&host, "::1"));
    cr_assert_not(in(&host, "::2"));
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    cr_assert_not(rly_cidr_contains(&all, &unix_sa));
}

Test(cidr, address_groups)
{
    uint8_t k1[RLY_CIDR_GROUP_LEN], k2[RLY_CIDR_GROUP_LEN];
    struct sockaddr_storage a = test_sockaddr("2001:db8:0:ff01::1"),
                            b = test_sockaddr("2001:db8:0:ffee::2"),
                            c = test_sockaddr("2001:db8:0:fe00::1"),
                            v4 = test_sockaddr("192.0.2.7"), v4b = test_sockaddr("192.0.2.8");
    cr_assert(rly_cidr_group((struct sockaddr *)&a, k1));
    cr_assert(rly_cidr_group((struct sockaddr *)&b, k2));
    cr_assert_eq(memcmp(k1, k2, sizeof(k1)), 0, "one IPv6 /56");
    cr_assert(rly_cidr_group((struct sockaddr *)&c, k2));
    cr_assert_neq(memcmp(k1, k2, sizeof(k1)), 0, "another /56");
    cr_assert(rly_cidr_group((struct sockaddr *)&v4, k1));
    cr_assert_eq(k1[0], 4);
    cr_assert(rly_cidr_group((struct sockaddr *)&v4b, k2));
    cr_assert_neq(memcmp(k1, k2, sizeof(k1)), 0, "IPv4: per address");
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    cr_assert_not(rly_cidr_group(&unix_sa, k1));
}

static rly_ip_scope scope(const char *ip)
{
    struct sockaddr_storage ss = test_sockaddr(ip);
    return rly_cidr_scope((struct sockaddr *)&ss);
}

/* How addresses are sorted before the relay announces them (issue 12): as go's manet sorts them. */
Test(cidr, scopes)
{
    static const struct {
        const char *ip;
        rly_ip_scope scope;
    } t[] = {
        {"127.0.0.1", RLY_IP_LOOPBACK},     {"127.255.0.9", RLY_IP_LOOPBACK},
        {"::1", RLY_IP_LOOPBACK},           {"::ffff:127.0.0.1", RLY_IP_LOOPBACK},
        {"10.1.2.3", RLY_IP_PRIVATE},       {"172.16.0.1", RLY_IP_PRIVATE},
        {"172.31.255.255", RLY_IP_PRIVATE}, {"192.168.1.1", RLY_IP_PRIVATE},
        {"100.64.0.1", RLY_IP_PRIVATE},     {"100.127.255.254", RLY_IP_PRIVATE},
        {"fd00::2", RLY_IP_PRIVATE},        {"fc12::1", RLY_IP_PRIVATE},
        {"0.0.0.0", RLY_IP_UNROUTABLE},     {"169.254.1.1", RLY_IP_UNROUTABLE},
        {"192.0.2.2", RLY_IP_UNROUTABLE},   {"198.51.100.7", RLY_IP_UNROUTABLE},
        {"203.0.113.9", RLY_IP_UNROUTABLE}, {"198.19.0.1", RLY_IP_UNROUTABLE},
        {"224.0.0.1", RLY_IP_UNROUTABLE},   {"255.255.255.255", RLY_IP_UNROUTABLE},
        {"::", RLY_IP_UNROUTABLE},          {"fe80::1", RLY_IP_UNROUTABLE},
        {"2001:db8::1", RLY_IP_UNROUTABLE}, {"ff02::1", RLY_IP_UNROUTABLE},
        {"8.8.8.8", RLY_IP_PUBLIC},         {"1.1.1.1", RLY_IP_PUBLIC},
        {"172.32.0.1", RLY_IP_PUBLIC},      {"100.128.0.1", RLY_IP_PUBLIC},
        {"192.169.0.1", RLY_IP_PUBLIC},     {"2606:4700::1111", RLY_IP_PUBLIC},
        {"::ffff:8.8.4.4", RLY_IP_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        cr_assert_eq(scope(t[i].ip), t[i].scope, "%s: %d, not %d", t[i].ip, scope(t[i].ip),
                     t[i].scope);
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    cr_assert_eq(rly_cidr_scope(&unix_sa), RLY_IP_UNROUTABLE);
}
