/* test_peerid.c: multihash framing (src/core/multihash.c) and peer IDs (src/core/peerid.c)
 * against the spec test keys of PROTOCOLS.md 1.2/1.3 (tests/vectors/peerid*.txt). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/multihash.h"
#include "core/peerid.h"
#include "vecfile.h"

#define ED25519_ID "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define ED25519_CID "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"
/* The spec's Ed25519 PublicKey protobuf (peer-ids.md test vector). */
static const char ed25519_pk_hex[] =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

/* ---- multihash ---- */

Test(multihash, identity_and_sha256)
{
    uint8_t b[64];
    size_t n =
        vec_hex("0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", b,
                sizeof(b));
    rly_multihash mh;
    cr_assert_eq(rly_multihash_decode(b, n, &mh), 38);
    cr_assert_eq(mh.code, RLY_MH_IDENTITY);
    cr_assert_eq(mh.len, 36);
    cr_assert_eq(mh.digest, b + 2);
    n = vec_hex("122068362c312e155f4f7290b67f5cd094a22a0a4fbf20efd8c287934419350d36f7", b,
                sizeof(b));
    /* A multihash is self-delimiting: bytes after it are not consumed. */
    b[n] = 0xee;
    cr_assert_eq(rly_multihash_decode(b, n + 1, &mh), 34);
    cr_assert_eq(mh.code, RLY_MH_SHA2_256);
    cr_assert_eq(mh.len, 32);
}

Test(multihash, decode_errors)
{
    static const uint8_t sha_short[] = {0x12, 0x1f, 0};
    static const uint8_t sha_trunc[] = {0x12, 0x20, 1, 2, 3};
    static const uint8_t id_long[] = {0x00, 0x2b};
    static const uint8_t sha512[] = {0x13, 0x02, 1, 2};
    static const uint8_t nonmin[] = {0x80, 0x00, 0x00};
    static const uint8_t nonmin_len[] = {0x00, 0x81, 0x00};
    rly_multihash mh;
    cr_assert_eq(rly_multihash_decode(sha_short, sizeof(sha_short), &mh), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multihash_decode(sha_trunc, sizeof(sha_trunc), &mh), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_multihash_decode(id_long, sizeof(id_long), &mh), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_multihash_decode(sha512, sizeof(sha512), &mh), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_multihash_decode(nonmin, sizeof(nonmin), &mh), RLY_ERR_NON_MINIMAL);
    cr_assert_eq(rly_multihash_decode(nonmin_len, sizeof(nonmin_len), &mh), RLY_ERR_NON_MINIMAL);
    cr_assert_eq(rly_multihash_decode(sha_short, 0, &mh), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_multihash_decode(sha_short, 1, &mh), RLY_ERR_TRUNCATED);
}

Test(multihash, encode)
{
    uint8_t d[42], out[64];
    memset(d, 0xab, sizeof(d));
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), RLY_MH_SHA2_256, d, 32), 34);
    cr_assert(out[0] == 0x12 && out[1] == 0x20 && out[33] == 0xab);
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), RLY_MH_IDENTITY, d, 42), 44);
    cr_assert(out[0] == 0x00 && out[1] == 42);
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), RLY_MH_IDENTITY, d, 0), 2);
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), RLY_MH_SHA2_256, d, 31),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), RLY_MH_IDENTITY, d, 43),
                 RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_multihash_encode(out, sizeof(out), 0x13, d, 32), RLY_ERR_UNSUPPORTED);
    cr_assert_eq(rly_multihash_encode(out, 33, RLY_MH_SHA2_256, d, 32), RLY_ERR_NOBUF);
    cr_assert_eq(rly_multihash_encode(out, 1, RLY_MH_IDENTITY, d, 0), RLY_ERR_NOBUF);
}

/* ---- peer IDs ---- */

Test(peerid, ed25519_spec_vector)
{
    /* PROTOCOLS.md 1.3: a 36-byte key is inlined, 00 24 || PublicKey protobuf. */
    uint8_t want[64];
    want[0] = 0x00;
    want[1] = 0x24;
    size_t n = 2 + vec_hex(ed25519_pk_hex, want + 2, sizeof(want) - 2);
    cr_assert_eq(n, 38);
    rly_peerid pid;
    cr_assert_eq(rly_peerid_parse(&pid, ED25519_ID, strlen(ED25519_ID)), 0);
    cr_assert_eq(pid.len, n);
    cr_assert_arr_eq(pid.bytes, want, n);
    char s[RLY_PEERID_STR_MAX];
    cr_assert_eq(rly_peerid_to_cid(&pid, s, sizeof(s)), (rly_ssize)strlen(ED25519_CID));
    cr_assert_str_eq(s, ED25519_CID);
    rly_peerid back;
    cr_assert_eq(rly_peerid_parse(&back, ED25519_CID, strlen(ED25519_CID)), 0);
    cr_assert(rly_peerid_equal(&pid, &back));
}

static void check_vector(const vec_line *l, void *ud)
{
    uint8_t want[64];
    char s[RLY_PEERID_STR_MAX];
    rly_peerid a, b, c;
    cr_assert_eq(l->nf, 3, "%s:%d", l->file, l->lineno);
    size_t n = vec_hex(l->f[2], want, sizeof(want));
    cr_assert_eq(rly_peerid_from_bytes(&a, want, n), 0, "%s:%d", l->file, l->lineno);
    cr_assert_eq(rly_peerid_parse(&b, l->f[0], strlen(l->f[0])), 0, "%s", l->f[0]);
    cr_assert_eq(rly_peerid_parse(&c, l->f[1], strlen(l->f[1])), 0, "%s", l->f[1]);
    cr_assert(rly_peerid_equal(&a, &b) && rly_peerid_equal(&a, &c), "%s:%d", l->file, l->lineno);
    cr_assert_eq(rly_peerid_to_string(&a, s, sizeof(s)), (rly_ssize)strlen(l->f[0]));
    cr_assert_str_eq(s, l->f[0]);
    cr_assert_eq(rly_peerid_to_cid(&a, s, sizeof(s)), (rly_ssize)strlen(l->f[1]));
    cr_assert_str_eq(s, l->f[1]);
    (*(int *)ud)++;
}

Test(peerid, vectors)
{
    int n = 0;
    vec_each("peerid.txt", check_vector, &n);
    cr_assert_geq(n, 4);
}

static void check_text(const vec_line *l, void *ud)
{
    rly_peerid pid;
    uint8_t want[64];
    cr_assert_eq(l->nf, 2, "%s:%d", l->file, l->lineno);
    int rv = rly_peerid_parse(&pid, l->f[0], strlen(l->f[0]));
    (*(int *)ud)++;
    if (l->f[1][0] == '!') {
        cr_assert_eq(rv, vec_err(l->f[1]), "%s:%d: %s gave %d", l->file, l->lineno, l->f[0], rv);
        return;
    }
    size_t n = vec_hex(l->f[1], want, sizeof(want));
    cr_assert_eq(rv, 0, "%s:%d: %s gave %d", l->file, l->lineno, l->f[0], rv);
    cr_assert_eq(pid.len, n);
    cr_assert_arr_eq(pid.bytes, want, n);
}

Test(peerid, text_inputs)
{
    int n = 0;
    vec_each("peerid_text.txt", check_text, &n);
    cr_assert_geq(n, 15);
}

Test(peerid, ecdsa_and_secp256k1_shapes)
{
    rly_peerid pid;
    const char *qm = "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk";
    const char *sk = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";
    cr_assert_eq(rly_peerid_parse(&pid, qm, strlen(qm)), 0);
    cr_assert(pid.len == 34 && pid.bytes[0] == 0x12 && pid.bytes[1] == 0x20);
    cr_assert_eq(rly_peerid_parse(&pid, sk, strlen(sk)), 0);
    /* Secp256k1: 37-byte PublicKey (08 02 12 21 + 33-byte compressed point) inlined. */
    cr_assert(pid.len == 39 && pid.bytes[0] == 0 && pid.bytes[1] == 37);
    cr_assert(pid.bytes[2] == 0x08 && pid.bytes[3] == 0x02 && pid.bytes[4] == 0x12);
}

Test(peerid, from_bytes_errors)
{
    uint8_t b[64] = {0};
    rly_peerid pid;
    b[0] = 0x12;
    b[1] = 0x20;
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 34), 0);
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 35), RLY_ERR_MALFORMED, "trailing byte");
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 33), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 0), RLY_ERR_TRUNCATED);
    b[1] = 0x1f;
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 33), RLY_ERR_MALFORMED);
    b[0] = 0x13;
    b[1] = 0x40;
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 64), RLY_ERR_UNSUPPORTED);
    b[0] = 0x00;
    b[1] = 43;
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 45), RLY_ERR_MALFORMED);
    b[0] = 0x80;
    b[1] = 0x00;
    cr_assert_eq(rly_peerid_from_bytes(&pid, b, 3), RLY_ERR_NON_MINIMAL);
}

Test(peerid, parse_errors)
{
    rly_peerid pid;
    char big[RLY_PEERID_STR_MAX + 8];
    memset(big, '1', sizeof(big));
    cr_assert_eq(rly_peerid_parse(&pid, "", 0), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_peerid_parse(&pid, big, sizeof(big)), RLY_ERR_MALFORMED);
    /* 45 leading zero bytes would not fit a peer ID. */
    cr_assert_eq(rly_peerid_parse(&pid, big, 45), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_peerid_parse(&pid, "b", 1), RLY_ERR_MALFORMED);
    cr_assert_eq(rly_peerid_parse(&pid, "Q", 1), RLY_ERR_UNSUPPORTED);
    /* Length is honoured: a valid ID followed by junk the caller did not include. */
    cr_assert_eq(rly_peerid_parse(&pid, ED25519_ID "/tcp", strlen(ED25519_ID)), 0);
}

Test(peerid, output_space)
{
    rly_peerid pid;
    char s[RLY_PEERID_STR_MAX];
    cr_assert_eq(rly_peerid_parse(&pid, ED25519_ID, strlen(ED25519_ID)), 0);
    cr_assert_eq(rly_peerid_to_string(&pid, s, strlen(ED25519_ID)), RLY_ERR_NOBUF);
    cr_assert_eq(rly_peerid_to_string(&pid, s, strlen(ED25519_ID) + 1),
                 (rly_ssize)strlen(ED25519_ID));
    cr_assert_eq(rly_peerid_to_cid(&pid, s, strlen(ED25519_CID)), RLY_ERR_NOBUF);
    cr_assert_eq(rly_peerid_to_cid(&pid, s, 0), RLY_ERR_NOBUF);
}

Test(peerid, equal)
{
    rly_peerid a, b;
    cr_assert_eq(rly_peerid_parse(&a, ED25519_ID, strlen(ED25519_ID)), 0);
    b = a;
    cr_assert(rly_peerid_equal(&a, &b));
    b.bytes[37] ^= 1;
    cr_assert_not(rly_peerid_equal(&a, &b));
    b = a;
    b.len--;
    cr_assert_not(rly_peerid_equal(&a, &b));
}
