/* test_multiaddr.c: binary and text multiaddrs (src/core/multiaddr.c) against
 * tests/vectors/multiaddr*.txt (PROTOCOLS.md 1.1), plus components, sockaddr conversion and a
 * seeded round-trip property test. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/multiaddr.h"
#include "vecfile.h"

#define ED25519_ID "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define SECP_ID "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY"

static void check_vector(const vec_line *l, void *ud)
{
    uint8_t want[RLY_MULTIADDR_MAX_BYTES];
    char s[RLY_MULTIADDR_STR_MAX];
    rly_multiaddr a, b;
    cr_assert(l->nf == 2 || l->nf == 3, "%s:%d", l->file, l->lineno);
    size_t n = vec_hex(l->f[1], want, sizeof(want));
    const char *printed = l->nf == 3 ? l->f[2] : l->f[0];
    cr_assert_eq(rly_multiaddr_parse(&a, l->f[0]), 0, "%s:%d: %s", l->file, l->lineno, l->f[0]);
    cr_assert_eq(a.len, n, "%s:%d: length", l->file, l->lineno);
    cr_assert_arr_eq(a.bytes, want, n, "%s:%d: bytes", l->file, l->lineno);
    cr_assert_eq(rly_multiaddr_from_bytes(&b, want, n), 0, "%s:%d", l->file, l->lineno);
    cr_assert(rly_multiaddr_equal(&a, &b));
    cr_assert_eq(rly_multiaddr_to_string(&b, s, sizeof(s)), (rly_ssize)strlen(printed));
    cr_assert_str_eq(s, printed, "%s:%d", l->file, l->lineno);
    (*(int *)ud)++;
}

Test(multiaddr, vectors)
{
    int n = 0;
    vec_each("multiaddr.txt", check_vector, &n);
    cr_assert_geq(n, 30);
}

static void check_bad_text(const vec_line *l, void *ud)
{
    rly_multiaddr ma;
    cr_assert_eq(l->nf, 2, "%s:%d", l->file, l->lineno);
    int rv = rly_multiaddr_parse(&ma, l->f[0]);
    cr_assert_eq(rv, vec_err(l->f[1]), "%s:%d: '%s' gave %d", l->file, l->lineno, l->f[0], rv);
    cr_assert_eq(ma.len, 0, "a failed parse leaves an empty multiaddr");
    (*(int *)ud)++;
}

Test(multiaddr, bad_text)
{
    int n = 0;
    vec_each("multiaddr_bad_text.txt", check_bad_text, &n);
    cr_assert_geq(n, 60);
}

static void check_bad_bytes(const vec_line *l, void *ud)
{
    uint8_t b[RLY_MULTIADDR_MAX_BYTES];
    rly_multiaddr ma;
    cr_assert_eq(l->nf, 2, "%s:%d", l->file, l->lineno);
    size_t n = vec_hex(l->f[0], b, sizeof(b));
    int rv = rly_multiaddr_from_bytes(&ma, b, n);
    cr_assert_eq(rv, vec_err(l->f[1]), "%s:%d: %s gave %d", l->file, l->lineno, l->f[0], rv);
    (*(int *)ud)++;
}

Test(multiaddr, bad_bytes)
{
    int n = 0;
    vec_each("multiaddr_bad_bytes.txt", check_bad_bytes, &n);
    cr_assert_geq(n, 30);
}

Test(multiaddr, spec_worked_example)
{
    static const uint8_t want[] = {0x04, 0xcb, 0x00, 0x71, 0x07, 0x06, 0x0f, 0xa1};
    rly_multiaddr ma;
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip4/203.0.113.7/tcp/4001"), 0);
    cr_assert_eq(ma.len, sizeof(want));
    cr_assert_arr_eq(ma.bytes, want, sizeof(want));
}

Test(multiaddr, empty)
{
    rly_multiaddr ma;
    char s[8] = "x";
    cr_assert_eq(rly_multiaddr_parse(&ma, ""), 0);
    cr_assert_eq(ma.len, 0);
    cr_assert_eq(rly_multiaddr_from_bytes(&ma, NULL, 0), 0);
    cr_assert_eq(rly_multiaddr_to_string(&ma, s, sizeof(s)), 0);
    cr_assert_str_eq(s, "");
    cr_assert_eq(rly_multiaddr_to_string(&ma, s, 0), RLY_ERR_NOBUF);
    cr_assert_not(rly_multiaddr_has(&ma, RLY_MA_P2P));
}

Test(multiaddr, circuit_address)
{
    const char *txt = "/ip4/198.51.100.1/tcp/4001/p2p/" ED25519_ID "/p2p-circuit/p2p/" SECP_ID;
    rly_multiaddr ma;
    cr_assert_eq(rly_multiaddr_parse(&ma, txt), 0);
    cr_assert(rly_multiaddr_has(&ma, RLY_MA_P2P_CIRCUIT));
    cr_assert(rly_multiaddr_has(&ma, RLY_MA_IP4));
    cr_assert(rly_multiaddr_has(&ma, RLY_MA_P2P));
    cr_assert_not(rly_multiaddr_has(&ma, RLY_MA_UDP));
    cr_assert_not(rly_multiaddr_has(&ma, RLY_MA_QUIC_V1));
    /* Walk it: relay transport, relay id, circuit, target id. */
    static const uint32_t codes[] = {RLY_MA_IP4, RLY_MA_TCP, RLY_MA_P2P, RLY_MA_P2P_CIRCUIT,
                                     RLY_MA_P2P};
    size_t off = 0;
    rly_ma_component c;
    for (size_t i = 0; i < RLY_ARRAY_LEN(codes); i++) {
        cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 1);
        cr_assert_eq(c.code, codes[i]);
    }
    /* The last component is the target's peer ID: 39 bytes of secp256k1 identity multihash. */
    cr_assert_eq(c.len, 39);
    rly_peerid pid;
    cr_assert_eq(rly_peerid_from_bytes(&pid, c.value, c.len), 0);
    cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 0);
    cr_assert_eq(off, ma.len);
}

Test(multiaddr, next_components)
{
    rly_multiaddr ma;
    rly_ma_component c;
    size_t off = 0;
    cr_assert_eq(rly_multiaddr_parse(&ma, "/dns4/relay.example.com/udp/443/quic-v1"), 0);
    cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 1);
    cr_assert(c.code == RLY_MA_DNS4 && c.len == 17 &&
              memcmp(c.value, "relay.example.com", 17) == 0);
    cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 1);
    cr_assert(c.code == RLY_MA_UDP && c.len == 2 && c.value[0] == 0x01 && c.value[1] == 0xbb);
    cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 1);
    cr_assert(c.code == RLY_MA_QUIC_V1 && c.len == 0 && c.value == NULL);
    cr_assert_eq(rly_multiaddr_next(ma.bytes, ma.len, &off, &c), 0);
    /* An error leaves the offset where it was. */
    static const uint8_t bad[] = {0x04, 0x01, 0x02, 0x03, 0x04, 0x06, 0x01};
    off = 5;
    cr_assert_eq(rly_multiaddr_next(bad, sizeof(bad), &off, &c), RLY_ERR_TRUNCATED);
    cr_assert_eq(off, 5);
}

/* dns_name fills |s| with a |n|-character name "aaaa..." and NUL-terminates it. */
static void dns_name(char *s, size_t n)
{
    memset(s, 'a', n);
    s[n] = '\0';
}

Test(multiaddr, dns_length)
{
    char name[300], txt[400];
    rly_multiaddr ma;
    dns_name(name, RLY_MA_DNS_MAX);
    snprintf(txt, sizeof(txt), "/dns/%s/tcp/1", name);
    cr_assert_eq(rly_multiaddr_parse(&ma, txt), 0);
    /* 35 fd 01 <253 bytes>: the length is a two-byte varint. */
    cr_assert_eq(ma.len, 1 + 2 + RLY_MA_DNS_MAX + 3);
    cr_assert(ma.bytes[1] == 0xfd && ma.bytes[2] == 0x01);
    char back[RLY_MULTIADDR_STR_MAX];
    cr_assert_eq(rly_multiaddr_to_string(&ma, back, sizeof(back)), (rly_ssize)strlen(txt));
    cr_assert_str_eq(back, txt);
    dns_name(name, RLY_MA_DNS_MAX + 1);
    snprintf(txt, sizeof(txt), "/dns/%s/tcp/1", name);
    cr_assert_eq(rly_multiaddr_parse(&ma, txt), RLY_ERR_MALFORMED);
    uint8_t b[300] = {0x35, 0xfe, 0x01};
    memset(b + 3, 'a', 254);
    cr_assert_eq(rly_multiaddr_from_bytes(&ma, b, 3 + 254), RLY_ERR_MALFORMED);
    /* Control characters cannot be written in the vector file; check them here. */
    cr_assert_eq(rly_multiaddr_parse(&ma, "/dns4/a\tb"), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multiaddr_parse(&ma, "/dns4/a\x7f"), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multiaddr_parse(&ma, "/dns6/xn--bcher-kva.example"), 0);
}

Test(multiaddr, size_caps)
{
    static char txt[RLY_MULTIADDR_STR_MAX + 16];
    rly_multiaddr ma;
    /* Text longer than RLY_MULTIADDR_STR_MAX - 1 characters. */
    memset(txt, 0, sizeof(txt));
    for (size_t i = 0; i + 12 < sizeof(txt) - 1; i += 12)
        memcpy(txt + i, "/p2p-circuit", 12);
    cr_assert_eq(rly_multiaddr_parse(&ma, txt), RLY_ERR_NOBUF);
    /* Short enough text whose binary form passes RLY_MULTIADDR_MAX_BYTES (2 x 256 bytes). */
    char name[300];
    dns_name(name, RLY_MA_DNS_MAX);
    snprintf(txt, sizeof(txt), "/dns/%s/dns/%s", name, name);
    cr_assert_eq(rly_multiaddr_parse(&ma, txt), RLY_ERR_NOBUF);
    cr_assert_eq(ma.len, 0);
    static uint8_t big[RLY_MULTIADDR_MAX_BYTES + 2];
    for (size_t i = 0; i + 1 < sizeof(big); i += 2) {
        big[i] = 0xa2;
        big[i + 1] = 0x02;
    }
    cr_assert_eq(rly_multiaddr_from_bytes(&ma, big, RLY_MULTIADDR_MAX_BYTES), 0);
    cr_assert_eq(rly_multiaddr_from_bytes(&ma, big, sizeof(big)), RLY_ERR_NOBUF);
}

Test(multiaddr, to_string_errors)
{
    rly_multiaddr ma;
    char s[RLY_MULTIADDR_STR_MAX];
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip4/1.2.3.4/tcp/4001"), 0);
    cr_assert_eq(rly_multiaddr_to_string(&ma, s, 21), RLY_ERR_NOBUF);
    cr_assert_str_eq(s, "", "a failed print leaves an empty string");
    cr_assert_eq(rly_multiaddr_to_string(&ma, s, 22), 21);
    /* Bytes stuffed in by hand are still checked before printing. */
    ma.bytes[ma.len++] = 0x00;
    cr_assert_eq(rly_multiaddr_to_string(&ma, s, sizeof(s)), RLY_ERR_UNSUPPORTED);
    cr_assert_str_eq(s, "");
}

Test(multiaddr, append_component)
{
    rly_multiaddr ma = {.len = 0};
    static const uint8_t ip[4] = {10, 0, 0, 1}, port[2] = {0x0f, 0xa1};
    char s[RLY_MULTIADDR_STR_MAX];
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_IP4, ip, 4), 0);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_UDP, port, 2), 0);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_QUIC_V1, NULL, 0), 0);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_DNS, (const uint8_t *)"x.org", 5), 0);
    rly_peerid pid;
    cr_assert_eq(rly_peerid_parse(&pid, ED25519_ID, strlen(ED25519_ID)), 0);
    cr_assert_eq(rly_multiaddr_append_p2p(&ma, &pid), 0);
    cr_assert_gt(rly_multiaddr_to_string(&ma, s, sizeof(s)), 0);
    cr_assert_str_eq(s, "/ip4/10.0.0.1/udp/4001/quic-v1/dns/x.org/p2p/" ED25519_ID);
    size_t len = ma.len;
    cr_assert_eq(rly_multiaddr_append_component(&ma, 460, NULL, 0), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_IP4, ip, 3), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_IP6, ip, 4), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_P2P_CIRCUIT, ip, 1),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_DNS, NULL, 0), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_DNS4, (const uint8_t *)"a/b", 3),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_P2P, ip, 4), RLY_ERR_INVALID_ARG);
    cr_assert_eq(ma.len, len, "failed appends change nothing");
}

Test(multiaddr, append_nobuf)
{
    rly_multiaddr ma = {.len = 0};
    /* 199 circuits use 398 bytes: one more two-byte component fits, then nothing does. */
    for (int i = 0; i < 199; i++)
        cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_P2P_CIRCUIT, NULL, 0), 0);
    static const uint8_t port[2] = {0, 80};
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_TCP, port, 2), RLY_ERR_NOBUF);
    cr_assert_eq(ma.len, 398);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_QUIC_V1, NULL, 0), 0);
    cr_assert_eq(ma.len, RLY_MULTIADDR_MAX_BYTES);
    cr_assert_eq(rly_multiaddr_append_component(&ma, RLY_MA_QUIC_V1, NULL, 0), RLY_ERR_NOBUF);
}

Test(multiaddr, equal)
{
    rly_multiaddr a, b;
    cr_assert_eq(rly_multiaddr_parse(&a, "/ipfs/" ED25519_ID), 0);
    cr_assert_eq(rly_multiaddr_parse(&b, "/p2p/" ED25519_ID), 0);
    cr_assert(rly_multiaddr_equal(&a, &b));
    cr_assert_eq(rly_multiaddr_parse(&b, "/p2p/" SECP_ID), 0);
    cr_assert_not(rly_multiaddr_equal(&a, &b));
}

/* ---- sockaddr ---- */

Test(multiaddr_sockaddr, ip4_tcp_round_trip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4001)};
    cr_assert_eq(inet_pton(AF_INET, "203.0.113.7", &sin.sin_addr), 1);
    rly_multiaddr ma;
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&sin, RLY_MA_TCP, false), 0);
    static const uint8_t want[] = {0x04, 0xcb, 0x00, 0x71, 0x07, 0x06, 0x0f, 0xa1};
    cr_assert_eq(ma.len, sizeof(want));
    cr_assert_arr_eq(ma.bytes, want, sizeof(want));
    struct sockaddr_storage ss;
    uint32_t tr = 0;
    bool quic = true;
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, &tr, &quic), 0);
    cr_assert(tr == RLY_MA_TCP && !quic);
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert_eq(memcmp(&ss, &sin, sizeof(sin)), 0);
}

Test(multiaddr_sockaddr, ip6_quic_round_trip)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr), 1);
    rly_multiaddr ma;
    char s[RLY_MULTIADDR_STR_MAX];
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&sin6, RLY_MA_UDP, true), 0);
    cr_assert_gt(rly_multiaddr_to_string(&ma, s, sizeof(s)), 0);
    cr_assert_str_eq(s, "/ip6/2001:db8::1/udp/443/quic-v1");
    struct sockaddr_storage ss;
    uint32_t tr = 0;
    bool quic = false;
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, &tr, &quic), 0);
    cr_assert(tr == RLY_MA_UDP && quic);
    const struct sockaddr_in6 *got = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(got->sin6_family, AF_INET6);
    cr_assert_eq(got->sin6_port, htons(443));
    cr_assert_eq(memcmp(&got->sin6_addr, &sin6.sin6_addr, 16), 0);
    /* Out-pointers are optional. */
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, NULL, NULL, NULL), 0);
}

Test(multiaddr_sockaddr, v4_mapped_becomes_ip4)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr), 1);
    rly_multiaddr ma;
    char s[RLY_MULTIADDR_STR_MAX];
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&sin6, RLY_MA_TCP, false), 0);
    cr_assert_gt(rly_multiaddr_to_string(&ma, s, sizeof(s)), 0);
    cr_assert_str_eq(s, "/ip4/192.0.2.1/tcp/80");
    /* Written as /ip6 it stays IPv6 (the text form keeps the mapped prefix). */
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip6/::ffff:192.0.2.1/tcp/80"), 0);
    struct sockaddr_storage ss;
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, NULL, NULL), 0);
    cr_assert_eq(ss.ss_family, AF_INET6);
}

Test(multiaddr_sockaddr, with_peer_id)
{
    rly_multiaddr ma;
    struct sockaddr_storage ss;
    bool quic = false;
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip4/1.2.3.4/udp/1/quic-v1/p2p/" ED25519_ID), 0);
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, NULL, &quic), 0);
    cr_assert(quic);
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip4/1.2.3.4/tcp/1/p2p/" ED25519_ID), 0);
    cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, NULL, &quic), 0);
    cr_assert_not(quic);
}

Test(multiaddr_sockaddr, unsupported_shapes)
{
    static const char *const bad[] = {
        "",
        "/ip4/1.2.3.4",
        "/tcp/1",
        "/dns4/example.com/tcp/1",
        "/ip4/1.2.3.4/tcp/1/quic-v1",
        "/ip4/1.2.3.4/udp/1/quic-v1/quic-v1",
        "/ip4/1.2.3.4/tcp/1/tcp/2",
        "/ip4/1.2.3.4/tcp/1/p2p-circuit",
        "/ip4/1.2.3.4/tcp/1/p2p/" ED25519_ID "/p2p-circuit",
        "/ip4/1.2.3.4/tcp/1/p2p/" ED25519_ID "/p2p/" ED25519_ID,
        "/ip4/1.2.3.4/ip4/1.2.3.4",
        "/p2p/" ED25519_ID "/ip4/1.2.3.4/tcp/1",
    };
    struct sockaddr_storage ss;
    for (size_t i = 0; i < RLY_ARRAY_LEN(bad); i++) {
        rly_multiaddr ma;
        cr_assert_eq(rly_multiaddr_parse(&ma, bad[i]), 0, "%s", bad[i]);
        cr_assert_eq(rly_multiaddr_to_sockaddr(&ma, &ss, NULL, NULL), RLY_ERR_UNSUPPORTED, "%s",
                     bad[i]);
    }
}

Test(multiaddr_sockaddr, from_sockaddr_errors)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_un_like {
        sa_family_t family;
        char path[16];
    } un = {.family = AF_UNIX};
    rly_multiaddr ma;
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, NULL, RLY_MA_TCP, false), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&un, RLY_MA_TCP, false),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&sin, RLY_MA_IP4, false),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multiaddr_from_sockaddr(&ma, (struct sockaddr *)&sin, RLY_MA_TCP, true),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(ma.len, 0);
}

/* ---- property: random valid multiaddrs survive bytes -> text -> bytes ---- */

static uint64_t lcg(uint64_t *x)
{
    *x = *x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return *x >> 33;
}

/* append_random appends one random valid component; returns false when |ma| is full. */
static bool append_random(rly_multiaddr *ma, uint64_t *x)
{
    static const uint32_t codes[] = {RLY_MA_IP4,         RLY_MA_IP6,    RLY_MA_TCP,  RLY_MA_UDP,
                                     RLY_MA_DNS,         RLY_MA_DNS4,   RLY_MA_DNS6, RLY_MA_P2P,
                                     RLY_MA_P2P_CIRCUIT, RLY_MA_QUIC_V1};
    uint8_t v[RLY_MA_DNS_MAX];
    uint32_t code = codes[lcg(x) % RLY_ARRAY_LEN(codes)];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(v); i++)
        v[i] = (uint8_t)lcg(x);
    switch (code) {
    case RLY_MA_IP4: n = 4; break;
    case RLY_MA_IP6: n = 16; break;
    case RLY_MA_TCP:
    case RLY_MA_UDP: n = 2; break;
    case RLY_MA_P2P: /* sha2-256 or identity multihash */
        n = lcg(x) % 2 ? 34 : 2 + lcg(x) % 43;
        v[0] = n == 34 ? 0x12 : 0x00;
        v[1] = (uint8_t)(n - 2);
        break;
    case RLY_MA_DNS:
    case RLY_MA_DNS4:
    case RLY_MA_DNS6:
        n = 1 + lcg(x) % 40;
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t) "abcdefghijklmnopqrstuvwxyz0123456789.-"[v[i] % 38];
        break;
    default: break;
    }
    return rly_multiaddr_append_component(ma, code, v, n) == 0;
}

Test(multiaddr, random_round_trip)
{
    uint64_t x = 12345;
    char s[4 * RLY_MULTIADDR_STR_MAX];
    for (int iter = 0; iter < 3000; iter++) {
        rly_multiaddr ma = {.len = 0}, back;
        size_t ncomp = 1 + lcg(&x) % 12;
        for (size_t i = 0; i < ncomp && append_random(&ma, &x); i++)
            ;
        rly_ssize n = rly_multiaddr_to_string(&ma, s, sizeof(s));
        cr_assert_gt(n, 0, "iteration %d", iter);
        if (n >= RLY_MULTIADDR_STR_MAX)
            continue;
        cr_assert_eq(rly_multiaddr_parse(&back, s), 0, "%s", s);
        cr_assert(rly_multiaddr_equal(&ma, &back), "%s", s);
    }
}

Test(multiaddr, split_p2p)
{
    rly_multiaddr ma, bare, want;
    rly_peerid pid, want_pid;
    bool has;
    cr_assert_eq(rly_multiaddr_parse(&ma, "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/"
                                          "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"),
                 0);
    cr_assert_eq(rly_multiaddr_split_p2p(&ma, &bare, &pid, &has), 0);
    cr_assert(has);
    cr_assert_eq(rly_multiaddr_parse(&want, "/ip4/127.0.0.1/udp/4001/quic-v1"), 0);
    cr_assert(rly_multiaddr_equal(&bare, &want));
    cr_assert_eq(
        rly_peerid_parse(&want_pid, "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", 52), 0);
    cr_assert(rly_peerid_equal(&pid, &want_pid));
    /* No /p2p: the address as it is. */
    cr_assert_eq(rly_multiaddr_split_p2p(&want, &bare, &pid, &has), 0);
    cr_assert_not(has);
    cr_assert(rly_multiaddr_equal(&bare, &want));
}
