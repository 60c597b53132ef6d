/* multiaddr.h: binary <-> text multiaddrs for the protocols the relay speaks. PROTOCOLS.md 1.1.
 *
 * Supported: ip4, ip6, tcp, udp, quic-v1, p2p (text alias "ipfs" accepted on input, "/p2p/" always
 * printed), p2p-circuit, dns, dns4, dns6. Unknown codes, truncated values, non-minimal varints and
 * trailing garbage are rejected: a multiaddr whose parts cannot all be understood is not used.
 * An rly_multiaddr stores the binary form inline (no allocation).
 *
 * Text syntax is strict, and every value has one binary form: each component is "/name" or
 * "/name/value"; "" is the empty multiaddr, but "/" alone, "//" and a trailing '/' are rejected
 * (go trims trailing slashes, rust rejects them; we follow rust). Names are case-sensitive. IPv4
 * is exactly four decimal octets and ports are decimal 0-65535, both without sign or leading
 * zeros. IPv6 input is anything inet_pton accepts (no zone); output is RFC 5952 with ::ffff:a.b.c.d
 * for v4-mapped addresses (as go). A dns/dns4/dns6 name is 1..RLY_MA_DNS_MAX bytes without '/',
 * spaces, NUL or other control bytes, so the text form always round-trips. The p2p value is read
 * as base58btc or CIDv1 (rly_peerid_parse) and printed as base58btc. */
#ifndef RLY_CORE_MULTIADDR_H
#define RLY_CORE_MULTIADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/peerid.h"

#define RLY_MA_IP4 4
#define RLY_MA_TCP 6
#define RLY_MA_IP6 41
#define RLY_MA_DNS 53
#define RLY_MA_DNS4 54
#define RLY_MA_DNS6 55
#define RLY_MA_UDP 273
#define RLY_MA_P2P_CIRCUIT 290
#define RLY_MA_P2P 421
#define RLY_MA_QUIC_V1 461

/* Longest binary multiaddr we keep. */
#define RLY_MULTIADDR_MAX_BYTES 400
/* Longest text multiaddr we print or parse (incl. NUL). */
#define RLY_MULTIADDR_STR_MAX 1024
/* Longest DNS name in a dns/dns4/dns6 component. */
#define RLY_MA_DNS_MAX 253

typedef struct rly_multiaddr {
    uint8_t bytes[RLY_MULTIADDR_MAX_BYTES];
    size_t len;
} rly_multiaddr;

typedef struct rly_ma_component {
    uint32_t code;
    const uint8_t *value; /* borrowed; NULL/0 for zero-size protocols */
    size_t len;
} rly_ma_component;

/* rly_multiaddr_from_bytes validates the binary multiaddr |p| (|len| bytes) and copies it into
 * |ma|. An empty input is an empty multiaddr.
 * Returns 0, RLY_ERR_UNSUPPORTED (unknown code), RLY_ERR_TRUNCATED, RLY_ERR_NON_MINIMAL,
 * RLY_ERR_MALFORMED (bad value: e.g. invalid p2p multihash, empty or '/'-containing dns name) or
 * RLY_ERR_NOBUF (longer than RLY_MULTIADDR_MAX_BYTES). */
RLY_NODISCARD int rly_multiaddr_from_bytes(rly_multiaddr *ma, const uint8_t *p, size_t len);

/* rly_multiaddr_parse parses the text multiaddr |s| (NUL-terminated, e.g. "/ip4/1.2.3.4/tcp/1").
 * On error |ma| is left empty.
 * Returns 0, RLY_ERR_MALFORMED (syntax, bad value, port out of range, missing value),
 * RLY_ERR_UNSUPPORTED (unknown protocol name) or RLY_ERR_NOBUF. */
RLY_NODISCARD int rly_multiaddr_parse(rly_multiaddr *ma, const char *s);

/* rly_multiaddr_to_string prints |ma| into |out| (|cap| bytes incl. NUL).
 * Returns the length, RLY_ERR_NOBUF or a decode error if |ma| is invalid. */
RLY_NODISCARD rly_ssize rly_multiaddr_to_string(const rly_multiaddr *ma, char *out, size_t cap);

/* rly_multiaddr_next decodes the component at |*poff| of the binary |p| (|len| bytes) into |c|
 * and advances |*poff|. Returns 1 for a component, 0 at the end, or a negative error as
 * rly_multiaddr_from_bytes. */
RLY_NODISCARD int rly_multiaddr_next(const uint8_t *p, size_t len, size_t *poff,
                                     rly_ma_component *c);

/* rly_multiaddr_append_component appends one component (|value| of |vlen| bytes; for variable-size
 * protocols the length prefix is added here). Returns 0, RLY_ERR_NOBUF, RLY_ERR_UNSUPPORTED or
 * RLY_ERR_INVALID_ARG (wrong value size for the code). */
RLY_NODISCARD int rly_multiaddr_append_component(rly_multiaddr *ma, uint32_t code,
                                                 const uint8_t *value, size_t vlen);

/* rly_multiaddr_append_p2p appends "/p2p/<pid>". Returns as append_component. */
RLY_NODISCARD int rly_multiaddr_append_p2p(rly_multiaddr *ma, const rly_peerid *pid);

/* rly_multiaddr_has returns true if |ma| contains a component with |code| (e.g. the relayed
 * check: RLY_MA_P2P_CIRCUIT). |ma| must be valid. */
bool rly_multiaddr_has(const rly_multiaddr *ma, uint32_t code);

/* rly_multiaddr_equal returns true if both hold the same bytes. */
bool rly_multiaddr_equal(const rly_multiaddr *a, const rly_multiaddr *b);

/* rly_multiaddr_to_sockaddr converts "/ip4|ip6/<addr>/tcp|udp/<port>[/quic-v1]" (nothing else
 * after, except an optional trailing /p2p/<id>) into |ss| and reports the transport in
 * |*ptransport| (RLY_MA_TCP or RLY_MA_UDP) and whether /quic-v1 follows (|*pquic|).
 * Returns 0 or RLY_ERR_UNSUPPORTED (dns names, other shapes). Any out-pointer may be NULL. */
RLY_NODISCARD int rly_multiaddr_to_sockaddr(const rly_multiaddr *ma, struct sockaddr_storage *ss,
                                            uint32_t *ptransport, bool *pquic);

/* rly_multiaddr_split_p2p copies |ma| without its /p2p/<id> components into |bare| and stores the
 * last such PeerId in |peer| (|*has_peer| says whether there was one). Returns 0,
 * RLY_ERR_UNSUPPORTED (an invalid PeerId) or a decode error. */
RLY_NODISCARD int rly_multiaddr_split_p2p(const rly_multiaddr *ma, rly_multiaddr *bare,
                                          rly_peerid *peer, bool *has_peer);

/* rly_multiaddr_from_sockaddr builds "/ip4|ip6/<addr>/<tcp|udp>/<port>" (+ "/quic-v1" when
 * |quic| and |transport| is RLY_MA_UDP) from an AF_INET or AF_INET6 |sa|. IPv4-mapped IPv6
 * addresses become /ip4. |ma| is emptied first and stays empty on error.
 * Returns 0 or RLY_ERR_INVALID_ARG (|sa| NULL or another family, |transport| neither TCP nor
 * UDP, or |quic| with TCP). */
RLY_NODISCARD int rly_multiaddr_from_sockaddr(rly_multiaddr *ma, const struct sockaddr *sa,
                                              uint32_t transport, bool quic);

#endif
