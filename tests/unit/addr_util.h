/* addr_util.h: a socket address from IPv4 or IPv6 text, for the unit tests of address rules
 * (test_cidr.c, test_limiter.c). */
#ifndef RLY_TESTS_UNIT_ADDR_UTIL_H
#define RLY_TESTS_UNIT_ADDR_UTIL_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static inline struct sockaddr_storage test_sockaddr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        cr_assert_fail("bad test address %s", ip);
    return ss;
}

#endif
