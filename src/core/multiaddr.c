/* multiaddr.c: binary <-> text multiaddrs (PROTOCOLS.md 1.1; multiformats/multiaddr
 * protocols.csv). The binary form is the canonical one: every accepted value has exactly one
 * encoding, so two multiaddrs are equal iff their bytes are. */
#include "core/multiaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/varint.h"

/* How a protocol's binary value is framed. */
enum vkind {
    V_NONE,  /* no value (p2p-circuit, quic-v1) */
    V_FIXED, /* |size| bytes, no length prefix */
    V_VAR,   /* uvarint length, then that many bytes */
};

typedef struct proto {
    uint32_t code;
    const char *name;
    enum vkind kind;
    size_t size;
} proto;

static const proto protos[] = {
    {RLY_MA_IP4, "ip4", V_FIXED, 4},  {RLY_MA_TCP, "tcp", V_FIXED, 2},
    {RLY_MA_IP6, "ip6", V_FIXED, 16}, {RLY_MA_DNS, "dns", V_VAR, 0},
    {RLY_MA_DNS4, "dns4", V_VAR, 0},  {RLY_MA_DNS6, "dns6", V_VAR, 0},
    {RLY_MA_UDP, "udp", V_FIXED, 2},  {RLY_MA_P2P_CIRCUIT, "p2p-circuit", V_NONE, 0},
    {RLY_MA_P2P, "p2p", V_VAR, 0},    {RLY_MA_QUIC_V1, "quic-v1", V_NONE, 0},
};

/* Longest text of one value we print: a DNS name; ip6 and peer IDs are shorter. */
#define VALUE_TEXT_MAX (RLY_MA_DNS_MAX + 1)
/* Longest binary value we build from text: a DNS name; a peer ID is at most 44 bytes. */
#define VALUE_BIN_MAX RLY_MA_DNS_MAX

static const proto *by_code(uint64_t code)
{
    for (size_t i = 0; i < RLY_ARRAY_LEN(protos); i++)
        if (protos[i].code == code)
            return &protos[i];
    return NULL;
}

static const proto *by_name(const char *s, size_t n)
{
    /* "ipfs" is the old name of p2p: read it, never write it. */
    if (n == 4 && memcmp(s, "ipfs", 4) == 0)
        return by_code(RLY_MA_P2P);
    for (size_t i = 0; i < RLY_ARRAY_LEN(protos); i++)
        if (strlen(protos[i].name) == n && memcmp(protos[i].name, s, n) == 0)
            return &protos[i];
    return NULL;
}

/* check_dns accepts a non-empty name of at most RLY_MA_DNS_MAX bytes without '/' (it would split
 * the text form), NUL, spaces or control bytes (the text form must survive a round trip and be
 * safe to log). Returns 0 or RLY_ERR_MALFORMED. */
static int check_dns(const uint8_t *v, size_t len)
{
    if (len == 0 || len > RLY_MA_DNS_MAX)
        return RLY_ERR_MALFORMED;
    for (size_t i = 0; i < len; i++)
        if (v[i] == '/' || v[i] <= ' ' || v[i] == 0x7f)
            return RLY_ERR_MALFORMED;
    return 0;
}

/* check_value validates a value whose size already matches the protocol's framing. */
static int check_value(uint32_t code, const uint8_t *v, size_t len)
{
    rly_peerid pid;
    switch (code) {
    case RLY_MA_DNS:
    case RLY_MA_DNS4:
    case RLY_MA_DNS6: return check_dns(v, len);
    case RLY_MA_P2P: return rly_peerid_from_bytes(&pid, v, len) == 0 ? 0 : RLY_ERR_MALFORMED;
    default: return 0;
    }
}

/* value_len reads the size of a value of |pr| at |p| (|len| bytes left), setting |*phdr| to the
 * length-prefix size. Returns 0 or a varint / RLY_ERR_TRUNCATED error. */
static int value_len(const proto *pr, const uint8_t *p, size_t len, size_t *phdr, size_t *pvlen)
{
    uint64_t v = pr->size;
    rly_ssize n = 0;
    if (pr->kind == V_VAR) {
        n = rly_varint_decode(p, len, &v);
        if (n < 0)
            return (int)n;
    }
    if (v > len - (size_t)n)
        return RLY_ERR_TRUNCATED;
    *phdr = (size_t)n;
    *pvlen = (size_t)v;
    return 0;
}

int rly_multiaddr_next(const uint8_t *p, size_t len, size_t *poff, rly_ma_component *c)
{
    size_t off = *poff;
    if (off >= len)
        return 0;
    uint64_t code;
    rly_ssize n = rly_varint_decode(p + off, len - off, &code);
    if (n < 0)
        return (int)n;
    off += (size_t)n;
    const proto *pr = by_code(code);
    if (!pr)
        return RLY_ERR_UNSUPPORTED;
    size_t hdr = 0, vlen = 0; /* set by value_len; zeroed to quiet -Wmaybe-uninitialized */
    int rv = value_len(pr, p + off, len - off, &hdr, &vlen);
    if (rv != 0)
        return rv;
    off += hdr;
    rv = check_value(pr->code, p + off, vlen);
    if (rv != 0)
        return rv;
    c->code = pr->code;
    c->value = vlen ? p + off : NULL;
    c->len = vlen;
    *poff = off + vlen;
    return 1;
}

int rly_multiaddr_from_bytes(rly_multiaddr *ma, const uint8_t *p, size_t len)
{
    if (len > sizeof(ma->bytes))
        return RLY_ERR_NOBUF;
    size_t off = 0;
    rly_ma_component c = {0};
    int rv;
    while ((rv = rly_multiaddr_next(p, len, &off, &c)) == 1)
        ;
    if (rv < 0)
        return rv;
    if (len > 0)
        memcpy(ma->bytes, p, len);
    ma->len = len;
    return 0;
}

/* check_append returns 0 if |vlen| bytes of |value| are a valid value for |pr|. */
static int check_append(const proto *pr, const uint8_t *value, size_t vlen)
{
    switch (pr->kind) {
    case V_NONE: return vlen == 0 ? 0 : RLY_ERR_INVALID_ARG;
    case V_FIXED: return vlen == pr->size ? 0 : RLY_ERR_INVALID_ARG;
    default: return check_value(pr->code, value, vlen) == 0 ? 0 : RLY_ERR_INVALID_ARG;
    }
}

int rly_multiaddr_append_component(rly_multiaddr *ma, uint32_t code, const uint8_t *value,
                                   size_t vlen)
{
    RLY_ASSERT(ma->len <= sizeof(ma->bytes));
    const proto *pr = by_code(code);
    if (!pr)
        return RLY_ERR_UNSUPPORTED;
    int rv = check_append(pr, value, vlen);
    if (rv != 0)
        return rv;
    size_t hdr = pr->kind == V_VAR ? rly_varint_len(vlen) : 0;
    size_t need = rly_varint_len(code) + hdr + vlen;
    if (need > sizeof(ma->bytes) - ma->len)
        return RLY_ERR_NOBUF;
    /* The space was checked above, so the encodes cannot fail. */
    size_t o = ma->len;
    o += (size_t)rly_varint_encode(ma->bytes + o, sizeof(ma->bytes) - o, code);
    if (pr->kind == V_VAR)
        o += (size_t)rly_varint_encode(ma->bytes + o, sizeof(ma->bytes) - o, vlen);
    if (vlen > 0)
        memcpy(ma->bytes + o, value, vlen);
    ma->len = o + vlen;
    return 0;
}

int rly_multiaddr_append_p2p(rly_multiaddr *ma, const rly_peerid *pid)
{
    return rly_multiaddr_append_component(ma, RLY_MA_P2P, pid->bytes, pid->len);
}

/* ---- text -> binary ---- */

/* parse_dec reads an unsigned decimal at s[*pi..len): no sign, no leading zero (so every number
 * has one spelling), at most |maxdig| digits and a value <= |max|. */
static int parse_dec(const char *s, size_t len, size_t *pi, size_t maxdig, uint32_t max,
                     uint32_t *pv)
{
    size_t i = *pi, start = *pi;
    uint32_t v = 0;
    while (i < len && i - start < maxdig && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (uint32_t)(s[i++] - '0');
    if (i == start || v > max || (s[start] == '0' && i - start > 1))
        return RLY_ERR_MALFORMED;
    *pi = i;
    *pv = v;
    return 0;
}

/* parse_ip4 reads a strict dotted quad: four decimal octets, nothing else. */
static int parse_ip4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (size_t k = 0; k < 4; k++) {
        uint32_t v;
        if (k > 0 && (i >= len || s[i++] != '.'))
            return RLY_ERR_MALFORMED;
        if (parse_dec(s, len, &i, 3, 255, &v) != 0)
            return RLY_ERR_MALFORMED;
        out[k] = (uint8_t)v;
    }
    return i == len ? 0 : RLY_ERR_MALFORMED;
}

/* parse_ip6 accepts any RFC 4291 text form inet_pton takes (printing is canonical RFC 5952). */
static int parse_ip6(const char *s, size_t len, uint8_t out[16])
{
    char tmp[INET6_ADDRSTRLEN];
    if (len >= sizeof(tmp))
        return RLY_ERR_MALFORMED;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : RLY_ERR_MALFORMED;
}

static int parse_port(const char *s, size_t len, uint8_t out[2])
{
    size_t i = 0;
    uint32_t v;
    if (parse_dec(s, len, &i, 5, 65535, &v) != 0 || i != len)
        return RLY_ERR_MALFORMED;
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)(v & 0xff);
    return 0;
}

/* text_to_value converts the text value |s| (|len| chars) of |pr| to binary in |out|
 * (VALUE_BIN_MAX bytes). Returns the binary length or RLY_ERR_MALFORMED. */
static rly_ssize text_to_value(const proto *pr, const char *s, size_t len, uint8_t *out)
{
    rly_peerid pid;
    int rv = RLY_ERR_MALFORMED;
    switch (pr->code) {
    case RLY_MA_IP4: rv = parse_ip4(s, len, out); break;
    case RLY_MA_IP6: rv = parse_ip6(s, len, out); break;
    case RLY_MA_TCP:
    case RLY_MA_UDP: rv = parse_port(s, len, out); break;
    case RLY_MA_P2P:
        if (rly_peerid_parse(&pid, s, len) != 0)
            return RLY_ERR_MALFORMED;
        memcpy(out, pid.bytes, pid.len);
        return (rly_ssize)pid.len;
    default: /* dns, dns4, dns6: the text is the value */
        if (check_dns((const uint8_t *)s, len) != 0)
            return RLY_ERR_MALFORMED;
        memcpy(out, s, len);
        return (rly_ssize)len;
    }
    return rv == 0 ? (rly_ssize)pr->size : rv;
}

/* segment reads the "/segment" at |*pcur| (before |end|) into |*pseg|, |*plen| and advances.
 * Returns 0, or RLY_ERR_MALFORMED at the end of input, on a missing '/' or an empty segment:
 * "//" and a trailing '/' are rejected. */
static int segment(const char **pcur, const char *end, const char **pseg, size_t *plen)
{
    const char *cur = *pcur;
    if (cur >= end || *cur != '/')
        return RLY_ERR_MALFORMED;
    cur++;
    const char *slash = memchr(cur, '/', (size_t)(end - cur));
    const char *stop = slash ? slash : end;
    if (stop == cur)
        return RLY_ERR_MALFORMED;
    *pseg = cur;
    *plen = (size_t)(stop - cur);
    *pcur = stop;
    return 0;
}

/* parse_component parses "/name[/value]" at |*pcur| and appends it to |ma|. */
static int parse_component(rly_multiaddr *ma, const char **pcur, const char *end)
{
    const char *seg;
    size_t len;
    if (segment(pcur, end, &seg, &len) != 0)
        return RLY_ERR_MALFORMED;
    const proto *pr = by_name(seg, len);
    if (!pr)
        return RLY_ERR_UNSUPPORTED;
    if (pr->kind == V_NONE)
        return rly_multiaddr_append_component(ma, pr->code, NULL, 0);
    if (segment(pcur, end, &seg, &len) != 0)
        return RLY_ERR_MALFORMED;
    uint8_t val[VALUE_BIN_MAX];
    rly_ssize n = text_to_value(pr, seg, len, val);
    if (n < 0)
        return (int)n;
    int rv = rly_multiaddr_append_component(ma, pr->code, val, (size_t)n);
    return rv == RLY_ERR_INVALID_ARG ? RLY_ERR_MALFORMED : rv;
}

int rly_multiaddr_parse(rly_multiaddr *ma, const char *s)
{
    size_t slen = strnlen(s, RLY_MULTIADDR_STR_MAX);
    ma->len = 0;
    if (slen == RLY_MULTIADDR_STR_MAX)
        return RLY_ERR_NOBUF;
    /* "" is the empty multiaddr, the text twin of zero bytes; "/" alone is a trailing slash. */
    const char *cur = s, *end = s + slen;
    while (cur < end) {
        int rv = parse_component(ma, &cur, end);
        if (rv != 0) {
            ma->len = 0;
            return rv;
        }
    }
    return 0;
}

/* ---- binary -> text ---- */

/* ip6_to_text prints RFC 5952 text. glibc prints ::a.b.c.d for the deprecated IPv4-compatible
 * range; RFC 5952 section 5 and go-multiaddr keep dotted form for ::ffff:a.b.c.d only. */
static int ip6_to_text(const uint8_t v[16], char *buf, size_t cap)
{
    static const uint8_t zero12[12];
    if (memcmp(v, zero12, sizeof(zero12)) == 0 && (v[12] | v[13]) != 0) {
        unsigned hi = (unsigned)v[12] << 8 | v[13], lo = (unsigned)v[14] << 8 | v[15];
        return snprintf(buf, cap, "::%x:%x", hi, lo);
    }
    if (!inet_ntop(AF_INET6, v, buf, (socklen_t)cap))
        return RLY_ERR_INTERNAL;
    return (int)strlen(buf);
}

/* value_to_text prints the value of component |c| into |buf| (VALUE_TEXT_MAX bytes).
 * Returns the length or an error. */
static int value_to_text(const rly_ma_component *c, char *buf, size_t cap)
{
    const uint8_t *v = c->value;
    rly_peerid pid;
    switch (c->code) {
    case RLY_MA_IP4: return snprintf(buf, cap, "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
    case RLY_MA_IP6: return ip6_to_text(v, buf, cap);
    case RLY_MA_TCP:
    case RLY_MA_UDP: return snprintf(buf, cap, "%u", (unsigned)v[0] << 8 | v[1]);
    case RLY_MA_P2P:
        if (rly_peerid_from_bytes(&pid, v, c->len) != 0)
            return RLY_ERR_MALFORMED;
        return (int)rly_peerid_to_string(&pid, buf, cap);
    default: /* dns names were checked to be printable and shorter than |cap| */
        memcpy(buf, v, c->len);
        return (int)c->len;
    }
}

/* put appends |n| bytes of |s| to |out| at |*plen|, keeping room for the NUL. */
static int put(char *out, size_t cap, size_t *plen, const char *s, size_t n)
{
    if (n >= cap - *plen)
        return RLY_ERR_NOBUF;
    memcpy(out + *plen, s, n);
    *plen += n;
    return 0;
}

/* print_component appends "/name[/value]" for |c| to |out|. */
static int print_component(const rly_ma_component *c, char *out, size_t cap, size_t *plen)
{
    const proto *pr = by_code(c->code);
    char val[VALUE_TEXT_MAX];
    int rv = put(out, cap, plen, "/", 1);
    if (rv == 0)
        rv = put(out, cap, plen, pr->name, strlen(pr->name));
    if (rv != 0 || pr->kind == V_NONE)
        return rv;
    int n = value_to_text(c, val, sizeof(val));
    if (n < 0)
        return n;
    rv = put(out, cap, plen, "/", 1);
    return rv == 0 ? put(out, cap, plen, val, (size_t)n) : rv;
}

rly_ssize rly_multiaddr_to_string(const rly_multiaddr *ma, char *out, size_t cap)
{
    if (cap == 0)
        return RLY_ERR_NOBUF;
    size_t off = 0, len = 0;
    rly_ma_component c = {0};
    int rv;
    while ((rv = rly_multiaddr_next(ma->bytes, ma->len, &off, &c)) == 1) {
        rv = print_component(&c, out, cap, &len);
        if (rv != 0)
            break;
    }
    out[rv < 0 ? 0 : len] = '\0';
    return rv < 0 ? rv : (rly_ssize)len;
}

bool rly_multiaddr_has(const rly_multiaddr *ma, uint32_t code)
{
    size_t off = 0;
    rly_ma_component c = {0};
    while (rly_multiaddr_next(ma->bytes, ma->len, &off, &c) == 1)
        if (c.code == code)
            return true;
    return false;
}

bool rly_multiaddr_equal(const rly_multiaddr *a, const rly_multiaddr *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* ---- sockaddr ---- */

/* Components of the longest shape to_sockaddr accepts: ip, port, quic-v1, p2p. */
#define SOCK_SHAPE_MAX 4

/* socket_shape splits |ma| into at most SOCK_SHAPE_MAX components and checks the
 * ip / port [/quic-v1] [/p2p] shape. Returns 0 or RLY_ERR_UNSUPPORTED. */
static int socket_shape(const rly_multiaddr *ma, rly_ma_component *comps, bool *pquic)
{
    size_t off = 0, n = 0;
    rly_ma_component c = {0};
    while (rly_multiaddr_next(ma->bytes, ma->len, &off, &c) == 1) {
        if (n == SOCK_SHAPE_MAX)
            return RLY_ERR_UNSUPPORTED;
        comps[n++] = c;
    }
    if (off != ma->len || n < 2)
        return RLY_ERR_UNSUPPORTED;
    if (comps[0].code != RLY_MA_IP4 && comps[0].code != RLY_MA_IP6)
        return RLY_ERR_UNSUPPORTED;
    if (comps[1].code != RLY_MA_TCP && comps[1].code != RLY_MA_UDP)
        return RLY_ERR_UNSUPPORTED;
    size_t i = 2;
    *pquic = i < n && comps[i].code == RLY_MA_QUIC_V1 && comps[1].code == RLY_MA_UDP;
    if (*pquic)
        i++;
    if (i < n && comps[i].code == RLY_MA_P2P)
        i++;
    return i == n ? 0 : RLY_ERR_UNSUPPORTED;
}

static void fill_sockaddr(struct sockaddr_storage *ss, const rly_ma_component *ip,
                          const rly_ma_component *port)
{
    uint16_t p = (uint16_t)((unsigned)port->value[0] << 8 | port->value[1]);
    memset(ss, 0, sizeof(*ss));
    if (ip->code == RLY_MA_IP4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(p);
        memcpy(&sin->sin_addr, ip->value, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(p);
        memcpy(&sin6->sin6_addr, ip->value, 16);
    }
}

int rly_multiaddr_to_sockaddr(const rly_multiaddr *ma, struct sockaddr_storage *ss,
                              uint32_t *ptransport, bool *pquic)
{
    rly_ma_component comps[SOCK_SHAPE_MAX];
    bool quic;
    int rv = socket_shape(ma, comps, &quic);
    if (rv != 0)
        return rv;
    if (ss)
        fill_sockaddr(ss, &comps[0], &comps[1]);
    if (ptransport)
        *ptransport = comps[1].code;
    if (pquic)
        *pquic = quic;
    return 0;
}

/* append_ip appends /ip4 or /ip6 for |sa| and returns its port (network order) in |*pport|. */
static int append_ip(rly_multiaddr *ma, const struct sockaddr *sa, uint16_t *pport)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        *pport = sin->sin_port;
        return rly_multiaddr_append_component(ma, RLY_MA_IP4, (const uint8_t *)&sin->sin_addr, 4);
    }
    if (sa->sa_family != AF_INET6)
        return RLY_ERR_INVALID_ARG;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
    const uint8_t *a = sin6->sin6_addr.s6_addr;
    *pport = sin6->sin6_port;
    /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are IPv4 peers. */
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
        return rly_multiaddr_append_component(ma, RLY_MA_IP4, a + 12, 4);
    return rly_multiaddr_append_component(ma, RLY_MA_IP6, a, 16);
}

int rly_multiaddr_from_sockaddr(rly_multiaddr *ma, const struct sockaddr *sa, uint32_t transport,
                                bool quic)
{
    ma->len = 0;
    if (!sa || (transport != RLY_MA_TCP && transport != RLY_MA_UDP))
        return RLY_ERR_INVALID_ARG;
    if (quic && transport != RLY_MA_UDP)
        return RLY_ERR_INVALID_ARG;
    uint16_t nport = 0;
    int rv = append_ip(ma, sa, &nport);
    if (rv != 0)
        return rv;
    uint16_t port = ntohs(nport);
    uint8_t pb[2] = {(uint8_t)(port >> 8), (uint8_t)(port & 0xff)};
    rv = rly_multiaddr_append_component(ma, transport, pb, sizeof(pb));
    if (rv == 0 && quic)
        rv = rly_multiaddr_append_component(ma, RLY_MA_QUIC_V1, NULL, 0);
    if (rv != 0)
        ma->len = 0;
    return rv;
}

int rly_multiaddr_split_p2p(const rly_multiaddr *ma, rly_multiaddr *bare, rly_peerid *peer,
                            bool *has_peer)
{
    rly_ma_component comp = {0};
    size_t off = 0;
    int rv;
    bare->len = 0;
    *has_peer = false;
    while ((rv = rly_multiaddr_next(ma->bytes, ma->len, &off, &comp)) == 1) {
        if (comp.code == RLY_MA_P2P) {
            if (rly_peerid_from_bytes(peer, comp.value, comp.len) != 0)
                return RLY_ERR_UNSUPPORTED;
            *has_peer = true;
        } else if ((rv = rly_multiaddr_append_component(bare, comp.code, comp.value, comp.len)) !=
                   0) {
            return rv;
        }
    }
    return rv < 0 ? rv : 0;
}
