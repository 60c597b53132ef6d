/* test_identify.c: Identify codec and stream reader (src/proto/identify): decode vectors from
 * tests/vectors/identify/, the exact bytes of a small message, encode/decode round trips with a
 * real signed peer record, go's two-message split, caps, the 4 KiB send limit and the reader
 * with every chunking. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/multiaddr.h"
#include "core/varint.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "proto/identify/identify.h"
#include "vecfile.h"

#define BIG 16384

static void end_check(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leak: %zu bytes",
                 rly_mem_default()->live_bytes);
}

/* summary prints what a decoded message kept, in the vector file's format. */
static void summary(const rly_identify *id, char *out, size_t cap)
{
    snprintf(out, cap, "pk=%zu addrs=%zu protos=%zu obs=%d pv=%s av=%s spr=%zu", id->public_key_len,
             id->nlisten_addrs, id->nprotocols, id->has_observed_addr ? 1 : 0,
             id->protocol_version ? id->protocol_version : "-",
             id->agent_version ? id->agent_version : "-", id->signed_peer_record_len);
}

static void check_decode_vector(const vec_line *l, void *ud)
{
    static uint8_t body[BIG];
    char got[1024];
    cr_assert_eq(l->nf, 2, "%s:%d: want 2 fields", l->file, l->lineno);
    size_t n = strcmp(l->f[0], "-") == 0 ? 0 : vec_hex(l->f[0], body, sizeof(body));
    rly_identify id;
    rly_identify_init(&id, NULL);
    int rv = rly_identify_decode(&id, body, n);
    if (l->f[1][0] == '!') {
        cr_assert_eq(rv, vec_err(l->f[1]), "%s:%d: got %d", l->file, l->lineno, rv);
        /* Checked before stored: nothing was kept. */
        cr_assert_eq(id.nprotocols + id.nlisten_addrs + id.public_key_len, 0);
        cr_assert_eq(rly_mem_default()->live_bytes, 0);
    } else {
        cr_assert_eq(rv, 0, "%s:%d: got %d", l->file, l->lineno, rv);
        summary(&id, got, sizeof(got));
        cr_assert_str_eq(got, l->f[1], "%s:%d", l->file, l->lineno);
        for (size_t i = 0; i < id.nprotocols; i++)
            cr_assert(strlen(id.protocols[i]) >= 1 &&
                      strlen(id.protocols[i]) <= RLY_IDENTIFY_MAX_PROTOCOL_LEN);
    }
    rly_identify_free(&id);
    (*(int *)ud)++;
}

Test(identify, decode_vectors)
{
    int count = 0;
    cr_assert_eq(vec_each("identify/decode.txt", check_decode_vector, &count), count);
    cr_assert_geq(count, 25);
    end_check();
}

/* small builds the message of tests/vectors/identify/encode_small.hex from borrowed data. */
static void small(rly_identify *id, rly_multiaddr *la, const char **protos)
{
    memset(id, 0, sizeof(*id));
    cr_assert_eq(rly_multiaddr_parse(&la[0], "/ip4/1.2.3.4/tcp/4001"), 0);
    cr_assert_eq(rly_multiaddr_parse(&id->observed_addr, "/ip4/5.6.7.8/tcp/1234"), 0);
    protos[0] = "/ipfs/ping/1.0.0";
    id->listen_addrs = la;
    id->nlisten_addrs = 1;
    id->protocols = protos;
    id->nprotocols = 1;
    id->has_observed_addr = true;
    id->protocol_version = "ipfs/0.1.0";
    id->agent_version = "mesh-relay/0.1.0";
}

static size_t read_hex_file(const char *name, uint8_t *out, size_t cap)
{
    static char hex[2 * BIG + 2];
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", RLY_VECTORS_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_not_null(fgets(hex, sizeof(hex), f));
    fclose(f);
    hex[strcspn(hex, "\r\n")] = '\0';
    return vec_hex(hex, out, cap);
}

Test(identify, encode_exact_bytes)
{
    uint8_t want[256];
    size_t wn = read_hex_file("identify/encode_small.hex", want, sizeof(want));
    rly_identify id;
    rly_multiaddr la[1];
    const char *protos[1];
    small(&id, la, protos);
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
    bool dropped = true;
    cr_assert_eq(rly_identify_encode(&id, &out, &dropped), 0);
    cr_assert(!dropped);
    cr_assert_eq(out.len, wn);
    cr_assert_arr_eq(out.data, want, wn);
    /* Appends: a second encode follows the first. */
    cr_assert_eq(rly_identify_encode(&id, &out, NULL), 0);
    cr_assert_eq(out.len, 2 * wn);
    cr_assert_arr_eq(out.data + wn, want, wn);
    rly_dynbuf_free(&out);
    end_check();
}

/* full builds a relay-like message with a real peer record signed by a fresh key. */
static void full(rly_identify *id, rly_multiaddr *la, const char **protos, rly_dynbuf *spr,
                 uint8_t *pk, size_t pkcap)
{
    static const char *const names[] = {RLY_IDENTIFY_PROTOCOL, RLY_IDENTIFY_PUSH_PROTOCOL,
                                        "/ipfs/ping/1.0.0", "/libp2p/circuit/relay/0.2.0/hop"};
    rly_keypair kp;
    rly_pubkey pub = {.type = RLY_KEY_ED25519, .len = RLY_ED25519_PUB_LEN};
    static rly_peer_record rec;
    memset(id, 0, sizeof(*id));
    cr_assert_eq(rly_keypair_generate(&kp), 0);
    memcpy(pub.data, kp.pub, RLY_ED25519_PUB_LEN);
    rly_ssize pklen = rly_pubkey_encode(&pub, pk, pkcap);
    cr_assert_gt(pklen, 0);
    cr_assert_eq(rly_multiaddr_parse(&la[0], "/ip4/203.0.113.7/tcp/4001"), 0);
    cr_assert_eq(rly_multiaddr_parse(&la[1], "/ip4/203.0.113.7/udp/4001/quic-v1"), 0);
    cr_assert_eq(rly_multiaddr_parse(&la[2], "/ip6/2001:db8::1/tcp/4001"), 0);
    memset(&rec, 0, sizeof(rec));
    cr_assert_eq(rly_pubkey_to_peerid(&pub, &rec.peer), 0);
    rec.seq = 1700000000;
    rec.naddrs = 3;
    memcpy(rec.addrs, la, 3 * sizeof(rly_multiaddr));
    cr_assert_eq(rly_peer_record_seal(&kp, &rec, spr), 0);
    rly_zeroize(&kp, sizeof(kp));
    for (size_t i = 0; i < 4; i++)
        protos[i] = names[i];
    id->public_key = pk;
    id->public_key_len = (size_t)pklen;
    id->listen_addrs = la;
    id->nlisten_addrs = 3;
    id->protocols = protos;
    id->nprotocols = 4;
    cr_assert_eq(rly_multiaddr_parse(&id->observed_addr, "/ip4/198.51.100.9/udp/55000/quic-v1"), 0);
    id->has_observed_addr = true;
    id->protocol_version = "ipfs/0.1.0";
    id->agent_version = "mesh-relay/0.1.0";
    id->signed_peer_record = spr->data;
    id->signed_peer_record_len = spr->len;
}

static void assert_same(const rly_identify *a, const rly_identify *b)
{
    cr_assert_eq(a->public_key_len, b->public_key_len);
    cr_assert_arr_eq(a->public_key, b->public_key, a->public_key_len);
    cr_assert_eq(a->nlisten_addrs, b->nlisten_addrs);
    for (size_t i = 0; i < a->nlisten_addrs; i++)
        cr_assert(rly_multiaddr_equal(&a->listen_addrs[i], &b->listen_addrs[i]));
    cr_assert_eq(a->nprotocols, b->nprotocols);
    for (size_t i = 0; i < a->nprotocols; i++)
        cr_assert_str_eq(a->protocols[i], b->protocols[i]);
    cr_assert_eq(a->has_observed_addr, b->has_observed_addr);
    cr_assert(rly_multiaddr_equal(&a->observed_addr, &b->observed_addr));
    cr_assert_str_eq(a->protocol_version, b->protocol_version);
    cr_assert_str_eq(a->agent_version, b->agent_version);
    cr_assert_eq(a->signed_peer_record_len, b->signed_peer_record_len);
    cr_assert_arr_eq(a->signed_peer_record, b->signed_peer_record, a->signed_peer_record_len);
}

/* read_all runs |n| bytes of |stream| through a reader in |chunk|-byte reads and merges every
 * message into |id|. Returns the number of messages, or an error. */
static int read_all(const uint8_t *stream, size_t n, size_t chunk, rly_identify *id)
{
    rly_identify_reader r;
    rly_identify_reader_init(&r, NULL);
    int msgs = 0, rv = 0;
    for (size_t off = 0; off < n && rv == 0;) {
        size_t end = off + chunk < n ? off + chunk : n;
        while (off < end && rv == 0) {
            const uint8_t *m;
            size_t mlen;
            rly_ssize c = rly_identify_reader_recv(&r, stream + off, end - off, &m, &mlen);
            if (c < 0) {
                rv = (int)c;
                break;
            }
            off += (size_t)c;
            if (m) {
                msgs++;
                rv = rly_identify_decode(id, m, mlen);
            }
        }
    }
    if (rv == 0)
        rv = rly_identify_reader_finish(&r);
    rly_identify_reader_free(&r);
    return rv != 0 ? rv : msgs;
}

Test(identify, round_trip_every_chunking)
{
    rly_identify in, got;
    rly_multiaddr la[3];
    const char *protos[4];
    uint8_t pk[RLY_PUBKEY_PB_MAX];
    rly_dynbuf spr, out;
    rly_dynbuf_init(&spr, NULL, RLY_ENVELOPE_MAX);
    rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
    full(&in, la, protos, &spr, pk, sizeof(pk));
    cr_assert_eq(rly_identify_encode(&in, &out, NULL), 0);
    for (size_t chunk = 1; chunk <= out.len; chunk += chunk < 40 ? 1 : 37) {
        rly_identify_init(&got, NULL);
        cr_assert_eq(read_all(out.data, out.len, chunk, &got), 1, "chunk %zu", chunk);
        assert_same(&in, &got);
        rly_identify_free(&got);
    }
    /* The record inside still opens and names the key's peer. */
    rly_identify_init(&got, NULL);
    cr_assert_eq(read_all(out.data, out.len, out.len, &got), 1);
    static rly_peer_record rec;
    cr_assert_eq(
        rly_peer_record_open(&rec, got.signed_peer_record, got.signed_peer_record_len, NULL), 0);
    cr_assert_eq(rec.naddrs, 3);
    rly_identify_free(&got);
    rly_dynbuf_free(&spr);
    rly_dynbuf_free(&out);
    end_check();
}

Test(identify, go_split_merges)
{
    /* go sends everything but the record first, then a message holding only the record. */
    rly_identify in, first, got;
    rly_multiaddr la[3];
    const char *protos[4];
    uint8_t pk[RLY_PUBKEY_PB_MAX];
    rly_dynbuf spr, out;
    rly_dynbuf_init(&spr, NULL, RLY_ENVELOPE_MAX);
    rly_dynbuf_init(&out, NULL, 2 * RLY_IDENTIFY_MAX_MSG);
    full(&in, la, protos, &spr, pk, sizeof(pk));
    first = in;
    first.signed_peer_record = NULL;
    first.signed_peer_record_len = 0;
    rly_identify second = {.signed_peer_record = in.signed_peer_record,
                           .signed_peer_record_len = in.signed_peer_record_len};
    cr_assert_eq(rly_identify_encode(&first, &out, NULL), 0);
    cr_assert_eq(rly_identify_encode(&second, &out, NULL), 0);
    for (size_t chunk = 1; chunk <= out.len; chunk += 13) {
        rly_identify_init(&got, NULL);
        cr_assert_eq(read_all(out.data, out.len, chunk, &got), 2);
        assert_same(&in, &got);
        rly_identify_free(&got);
    }
    /* A push with other addresses appends (repeated fields) and replaces singular ones. */
    rly_identify_init(&got, NULL);
    cr_assert_eq(read_all(out.data, out.len, out.len, &got), 2);
    rly_identify push = {.listen_addrs = la, .nlisten_addrs = 1, .agent_version = "other/1"};
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_identify_encode(&push, &out, NULL), 0);
    cr_assert_eq(read_all(out.data, out.len, 3, &got), 1);
    cr_assert_eq(got.nlisten_addrs, 4);
    cr_assert_str_eq(got.agent_version, "other/1");
    cr_assert_str_eq(got.protocol_version, "ipfs/0.1.0");
    rly_identify_free(&got);
    rly_dynbuf_free(&spr);
    rly_dynbuf_free(&out);
    end_check();
}

Test(identify, merge_respects_caps)
{
    /* Three messages of 20 addresses and 30 protocols each: the caps hold across merges. */
    static uint8_t body[BIG];
    static char names[30][16];
    rly_multiaddr la[20];
    const char *protos[30];
    for (int i = 0; i < 20; i++)
        cr_assert_eq(rly_multiaddr_parse(&la[i], "/ip4/10.0.0.1/tcp/4001"), 0);
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof(names[i]), "/p/%d", i);
        protos[i] = names[i];
    }
    rly_identify m = {
        .listen_addrs = la, .nlisten_addrs = 20, .protocols = protos, .nprotocols = 30};
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
    cr_assert_eq(rly_identify_encode(&m, &out, NULL), 0);
    size_t hdr = out.data[0] & 0x80 ? 2 : 1;
    memcpy(body, out.data + hdr, out.len - hdr);
    rly_identify got;
    rly_identify_init(&got, NULL);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(rly_identify_decode(&got, body, out.len - hdr), 0);
    cr_assert_eq(got.nlisten_addrs, RLY_IDENTIFY_MAX_ADDRS);
    cr_assert_eq(got.nprotocols, RLY_IDENTIFY_MAX_PROTOCOLS);
    cr_assert_str_eq(got.protocols[63], "/p/3");
    rly_identify_free(&got);
    rly_dynbuf_free(&out);
    end_check();
}

Test(identify, encode_size_limit)
{
    /* A record that pushes the message past 4 KiB is dropped; the rest still goes out. */
    static uint8_t spr[3000];
    static char names[RLY_IDENTIFY_MAX_PROTOCOLS][RLY_IDENTIFY_MAX_PROTOCOL_LEN + 1];
    const char *protos[RLY_IDENTIFY_MAX_PROTOCOLS];
    memset(spr, 0x5a, sizeof(spr));
    for (size_t i = 0; i < RLY_IDENTIFY_MAX_PROTOCOLS; i++) {
        memset(names[i], 'a', RLY_IDENTIFY_MAX_PROTOCOL_LEN);
        names[i][0] = '/';
        names[i][RLY_IDENTIFY_MAX_PROTOCOL_LEN] = '\0';
        protos[i] = names[i];
    }
    rly_identify id = {.protocols = protos,
                       .nprotocols = 4,
                       .signed_peer_record = spr,
                       .signed_peer_record_len = sizeof(spr)};
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, 2 * RLY_IDENTIFY_MAX_MSG);
    bool dropped = false;
    cr_assert_eq(rly_identify_encode(&id, &out, &dropped), 0);
    cr_assert(!dropped);
    cr_assert_leq(out.len, RLY_IDENTIFY_MAX_MSG);
    rly_dynbuf_reset(&out);
    id.nprotocols = 8; /* 8 x 259 + 3003 > 4096 */
    cr_assert_eq(rly_identify_encode(&id, &out, &dropped), 0);
    cr_assert(dropped);
    cr_assert_eq(out.len, 2 + 8 * 259);
    /* Without anything optional to drop, too large is an error and |out| stays as it was. */
    rly_dynbuf_reset(&out);
    cr_assert_eq(rly_dynbuf_append(&out, "xy", 2), 0);
    id.nprotocols = RLY_IDENTIFY_MAX_PROTOCOLS;
    cr_assert_eq(rly_identify_encode(&id, &out, &dropped), RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 2);
    rly_dynbuf_free(&out);
    /* A full output buffer: RLY_ERR_NOBUF, contents unchanged. */
    rly_dynbuf_init(&out, NULL, 10);
    cr_assert_eq(rly_dynbuf_append(&out, "abc", 3), 0);
    id.nprotocols = 1;
    id.signed_peer_record_len = 0;
    cr_assert_eq(rly_identify_encode(&id, &out, NULL), RLY_ERR_NOBUF);
    cr_assert_eq(out.len, 3);
    rly_dynbuf_free(&out);
    end_check();
}

Test(identify, encode_invalid_args)
{
    static char longp[RLY_IDENTIFY_MAX_PROTOCOL_LEN + 2];
    memset(longp, 'x', sizeof(longp) - 1);
    const char *protos[] = {"/ok", NULL, longp};
    uint8_t key[4] = {0};
    rly_dynbuf out;
    rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
    rly_identify cases[] = {
        {.protocols = protos + 1, .nprotocols = 1},
        {.protocols = protos + 2, .nprotocols = 1},
        {.protocols = protos, .nprotocols = RLY_IDENTIFY_MAX_PROTOCOLS + 1},
        {.nprotocols = 1},
        {.nlisten_addrs = 1},
        {.public_key_len = 4},
        {.public_key = key, .public_key_len = RLY_IDENTIFY_MAX_PUBKEY + 1},
        {.signed_peer_record_len = 4},
        {.agent_version = longp},
        {.protocol_version = longp},
    };
    for (size_t i = 0; i < RLY_ARRAY_LEN(cases); i++)
        cr_assert_eq(rly_identify_encode(&cases[i], &out, NULL), RLY_ERR_INVALID_ARG, "%zu", i);
    cr_assert_eq(out.len, 0);
    /* The empty message is valid: a single zero prefix. */
    rly_identify empty = {0};
    cr_assert_eq(rly_identify_encode(&empty, &out, NULL), 0);
    cr_assert_eq(out.len, 1);
    cr_assert_eq(out.data[0], 0);
    rly_dynbuf_free(&out);
    end_check();
}

/* largest_message writes the largest message a reader takes into |s| (2 + 8192 bytes): a body
 * of exactly 8192 bytes, one unknown field; s[0] = 0x81 makes it one byte too large. */
static void largest_message(uint8_t *s)
{
    s[0] = 0x80;
    s[1] = 0x40; /* 8192 */
    s[2] = 0xfa; /* field 1000, wire 2 */
    s[3] = 0x3e;
    s[4] = 0xfc; /* 8188 */
    s[5] = 0x3f;
    memset(s + 6, 0, 8188);
}

Test(identify, reader_limits)
{
    static uint8_t s[BIG];
    rly_identify id;
    rly_identify_init(&id, NULL);
    /* A body of exactly 8192 bytes (one big unknown field) is read; 8193 is refused. */
    largest_message(s);
    cr_assert_eq(read_all(s, 2 + 8192, 1000, &id), 1);
    s[0] = 0x81;
    cr_assert_eq(read_all(s, 2 + 8193, 1000, &id), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(read_all(s, 2, 1, &id), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(read_all((const uint8_t *)"\x80\x80\x01", 3, 1, &id), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(rly_identify_decode(&id, s, 8193), RLY_ERR_FRAME_TOO_LARGE);
    /* Prefix errors. */
    cr_assert_eq(read_all((const uint8_t *)"\x80\x00", 2, 1, &id), RLY_ERR_NON_MINIMAL);
    cr_assert_eq(read_all((const uint8_t *)"\x80\x00", 2, 2, &id), RLY_ERR_NON_MINIMAL);
    /* Truncated at EOF, at every point. */
    cr_assert_eq(read_all((const uint8_t *)"\x05\x1a\x03/a", 4, 1, &id), RLY_ERR_TRUNCATED);
    cr_assert_eq(read_all((const uint8_t *)"\x85", 1, 1, &id), RLY_ERR_TRUNCATED);
    /* Empty messages are messages; the eleventh is one too many. */
    memset(s, 0, 11);
    cr_assert_eq(read_all(s, RLY_IDENTIFY_MAX_MESSAGES, 1, &id), RLY_IDENTIFY_MAX_MESSAGES);
    cr_assert_eq(read_all(s, RLY_IDENTIFY_MAX_MESSAGES + 1, 4, &id), RLY_ERR_FLOODED);
    cr_assert_eq(id.nprotocols + id.nlisten_addrs, 0);
    rly_identify_free(&id);
    end_check();
}

Test(identify, reader_stops_at_message_end)
{
    /* Bytes after a message are left to the caller, whatever the chunking. */
    static const uint8_t two[] = {0x04, 0x1a, 0x02, '/', 'a', 0x04, 0x1a, 0x02, '/', 'b'};
    rly_identify_reader r;
    rly_identify_reader_init(&r, NULL);
    const uint8_t *m;
    size_t mlen;
    cr_assert_eq(rly_identify_reader_recv(&r, two, 3, &m, &mlen), 3);
    cr_assert_null(m);
    cr_assert_eq(rly_identify_reader_finish(&r), RLY_ERR_TRUNCATED);
    cr_assert_eq(rly_identify_reader_recv(&r, two + 3, 7, &m, &mlen), 2);
    cr_assert_eq(mlen, 4);
    cr_assert_arr_eq(m, two + 1, 4);
    cr_assert_eq(rly_identify_reader_finish(&r), 0);
    cr_assert_eq(rly_identify_reader_recv(&r, two + 5, 5, &m, &mlen), 5);
    cr_assert_eq(m, two + 6); /* whole in the input: no copy */
    cr_assert_eq(rly_identify_reader_recv(&r, two, 0, &m, &mlen), 0);
    cr_assert_null(m);
    rly_identify_reader_free(&r);
    rly_identify_reader_free(NULL);
    rly_identify_free(NULL);
    end_check();
}

/* push_all runs |n| bytes of |stream| through a push reader in |chunk|-byte reads. Returns 1 once
 * the message is complete (|*pused|: the bytes consumed by then), 0 when it is still incomplete
 * after |n| bytes, or the error. */
static int push_all(const uint8_t *stream, size_t n, size_t chunk, size_t *pused)
{
    rly_identify_push_reader r;
    rly_identify_push_reader_init(&r);
    *pused = 0;
    for (size_t off = 0; off < n;) {
        size_t c = chunk < n - off ? chunk : n - off;
        bool done = false;
        rly_ssize k = rly_identify_push_reader_recv(&r, stream + off, c, &done);
        if (k < 0)
            return (int)k;
        cr_assert_leq((size_t)k, c);
        off += (size_t)k;
        *pused = off;
        if (done)
            return 1;
        cr_assert_eq((size_t)k, c, "an incomplete message takes the whole read");
    }
    return 0;
}

static void check_push_vector(const vec_line *l, void *ud)
{
    static uint8_t body[BIG], msg[BIG + 2];
    size_t n = strcmp(l->f[0], "-") == 0 ? 0 : vec_hex(l->f[0], body, sizeof(body)), used;
    size_t hdr = (size_t)rly_varint_encode(msg, sizeof(msg), n);
    memcpy(msg + hdr, body, n);
    const uint8_t *m = msg;
    size_t total = hdr + n;
    int want = l->f[1][0] == '!' ? vec_err(l->f[1]) : 1;
    for (size_t chunk = 1; chunk <= total; chunk = chunk < 8 ? chunk + 1 : chunk * 3) {
        cr_assert_eq(push_all(m, total, chunk, &used), want, "%s:%d chunk %zu", l->file, l->lineno,
                     chunk);
        if (want == 1)
            cr_assert_eq(used, total);
    }
    (*(int *)ud)++;
}

Test(identify, push_reader_has_decodes_verdict_on_the_structure)
{
    int count = 0;
    cr_assert_eq(vec_each("identify/decode.txt", check_push_vector, &count), count);
    cr_assert_geq(count, 25);
    end_check();
}

Test(identify, push_reader_framing_and_size)
{
    static uint8_t s[BIG];
    size_t used;
    /* One message, and not a byte past it. */
    static const uint8_t two[] = {0x04, 0x1a, 0x02, '/', 'a', 0x04, 0x1a, 0x02, '/', 'b'};
    for (size_t chunk = 1; chunk <= sizeof(two); chunk++) {
        cr_assert_eq(push_all(two, sizeof(two), chunk, &used), 1);
        cr_assert_eq(used, 5);
    }
    cr_assert_eq(push_all((const uint8_t *)"\x00", 1, 1, &used), 1, "an empty message");
    cr_assert_eq(push_all(two, 4, 1, &used), 0, "cut short");
    cr_assert_eq(push_all((const uint8_t *)"\x85", 1, 1, &used), 0);
    /* The same size cap and prefix rules as the reader. */
    largest_message(s);
    cr_assert_eq(push_all(s, 2 + 8192, 1000, &used), 1);
    s[0] = 0x81;
    cr_assert_eq(push_all(s, 2 + 8193, 1000, &used), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(push_all((const uint8_t *)"\x80\x80\x01", 3, 1, &used), RLY_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(push_all((const uint8_t *)"\x80\x00", 2, 2, &used), RLY_ERR_NON_MINIMAL);
    /* A field that runs past the message is caught as soon as its length is known. */
    cr_assert_eq(push_all((const uint8_t *)"\x10\x1a\x20", 3, 1, &used), RLY_ERR_MALFORMED);
    /* A varint of 11 bytes. */
    memset(s, 0xff, 12);
    s[0] = 12;
    s[1] = 0x08;
    cr_assert_eq(push_all(s, 13, 3, &used), RLY_ERR_MALFORMED);
    /* It holds nothing: the reader is a few dozen bytes and allocates nothing. */
    cr_assert_leq(sizeof(rly_identify_push_reader), 48);
    end_check();
}

Test(identify, out_of_memory)
{
    /* Every allocation of a decode fails once in turn: NOMEM or success, never a leak. */
    static uint8_t body[BIG];
    size_t n = 0;
    {
        rly_identify in;
        rly_multiaddr la[3];
        const char *protos[4];
        uint8_t pk[RLY_PUBKEY_PB_MAX];
        rly_dynbuf spr, out;
        rly_dynbuf_init(&spr, NULL, RLY_ENVELOPE_MAX);
        rly_dynbuf_init(&out, NULL, RLY_IDENTIFY_MAX_MSG);
        full(&in, la, protos, &spr, pk, sizeof(pk));
        cr_assert_eq(rly_identify_encode(&in, &out, NULL), 0);
        size_t hdr = out.data[0] & 0x80 ? 2 : 1;
        n = out.len - hdr;
        memcpy(body, out.data + hdr, n);
        rly_dynbuf_free(&spr);
        rly_dynbuf_free(&out);
    }
    bool succeeded = false;
    for (uint64_t nth = 1; !succeeded && nth < 100; nth++) {
        rly_mem mem;
        rly_mem_init(&mem);
        mem.fail_nth = nth;
        rly_identify id;
        rly_identify_init(&id, &mem);
        int rv = rly_identify_decode(&id, body, n);
        cr_assert(rv == 0 || rv == RLY_ERR_NOMEM, "nth %llu: %d", (unsigned long long)nth, rv);
        succeeded = rv == 0;
        rly_identify_free(&id);
        cr_assert_eq(mem.live_bytes, 0);
    }
    cr_assert(succeeded);
    end_check();
}
