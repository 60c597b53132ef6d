/* peerid.h: libp2p peer IDs as bytes (a multihash) and as text (base58btc legacy form, or CIDv1
 * with the libp2p-key codec 0x72 in multibase). PROTOCOLS.md 1.3. Deriving a peer ID from a public
 * key is in crypto/keys.h (it needs SHA-256). */
#ifndef RLY_CORE_PEERID_H
#define RLY_CORE_PEERID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* identity multihash of a <= 42-byte key: 2 + 42 bytes; sha2-256: 34 bytes. */
#define RLY_PEERID_MAX_BYTES 44
/* Longest text form (CIDv1 base32 of 2 + 44 bytes, prefix, NUL) with room to spare. */
#define RLY_PEERID_STR_MAX 96
#define RLY_CID_CODEC_LIBP2P_KEY 0x72

typedef struct rly_peerid {
    uint8_t bytes[RLY_PEERID_MAX_BYTES];
    size_t len;
} rly_peerid;

/* rly_peerid_from_bytes checks that |p| (|len| bytes) is exactly one valid peer-ID multihash
 * (identity with a digest of at most 42 bytes, or sha2-256) and copies it into |pid|.
 * Returns 0 or RLY_ERR_MALFORMED / RLY_ERR_TRUNCATED / RLY_ERR_UNSUPPORTED /
 * RLY_ERR_NON_MINIMAL. */
RLY_NODISCARD int rly_peerid_from_bytes(rly_peerid *pid, const uint8_t *p, size_t len);

/* rly_peerid_parse parses the text form |s| (|len| chars): base58btc multihash when it starts with
 * "Qm" or "1", otherwise a multibase CIDv1 whose codec must be libp2p-key (0x72).
 * Returns 0 or RLY_ERR_MALFORMED / RLY_ERR_UNSUPPORTED (other codec, CID version, multibase). */
RLY_NODISCARD int rly_peerid_parse(rly_peerid *pid, const char *s, size_t len);

/* rly_peerid_to_string writes the base58btc form (what libp2p prints) into |out|.
 * Returns the length (without NUL) or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_peerid_to_string(const rly_peerid *pid, char *out, size_t cap);

/* rly_peerid_to_cid writes the CIDv1 form, base32 lower case with prefix 'b'.
 * Returns the length (without NUL) or RLY_ERR_NOBUF. */
RLY_NODISCARD rly_ssize rly_peerid_to_cid(const rly_peerid *pid, char *out, size_t cap);

/* rly_peerid_equal returns true if |a| and |b| are the same peer. */
bool rly_peerid_equal(const rly_peerid *a, const rly_peerid *b);

#endif
