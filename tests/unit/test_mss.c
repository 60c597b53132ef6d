/* test_mss.c: multistream-select 1.0 (src/proto/mss): wire vectors from tests/vectors/mss/,
 * listener and dialer wired back to back with every chunking, lazy dialers, na + retry, ls,
 * caps, malformed frames and the header arriving before or after our own. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "proto/mss/mss.h"
#include "vecfile.h"

#define HDR "\x13/multistream/1.0.0\n"
#define HDR_LEN 20
#define NA "\x03na\n"
#define BUF 4096

typedef struct supported {
    const char *const *protos;
    size_t n;
    int calls;
    int fail;
} supported;

static int select_cb(void *ud, const char *proto, size_t len)
{
    supported *s = ud;
    s->calls++;
    if (s->fail)
        return RLY_ERR_CALLBACK_FAILURE;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->protos[i]) == len && memcmp(s->protos[i], proto, len) == 0)
            return 1;
    return 0;
}

static const char *const relay_protos[] = {"/noise", "/yamux/1.0.0",
                                           "/libp2p/circuit/relay/0.2.0/hop", "/ipfs/id/1.0.0"};
static supported relay_sup = {relay_protos, 4, 0, 0};

static rly_mss *listener(supported *s, uint32_t max_attempts)
{
    rly_mss_settings st;
    rly_mss *m = NULL;
    rly_mss_settings_default(&st);
    st.select = select_cb;
    st.user_data = s;
    if (max_attempts)
        st.max_attempts = max_attempts;
    cr_assert_eq(rly_mss_new(&m, RLY_MSS_LISTENER, &st, NULL), 0);
    return m;
}

static rly_mss *dialer(const char *const *protos, size_t n)
{
    rly_mss_settings st;
    rly_mss *m = NULL;
    rly_mss_settings_default(&st);
    st.protocols = protos;
    st.nprotocols = n;
    cr_assert_eq(rly_mss_new(&m, RLY_MSS_DIALER, &st, NULL), 0);
    return m;
}

/* drain collects all pending output, |chunk| bytes per send call. */
static size_t drain(rly_mss *m, uint8_t *out, size_t cap, size_t chunk)
{
    size_t n = 0;
    while (rly_mss_want_write(m)) {
        size_t c = chunk < cap - n ? chunk : cap - n;
        rly_ssize w = rly_mss_send(m, out + n, c);
        cr_assert(w > 0 && (size_t)w <= c);
        n += (size_t)w;
    }
    cr_assert_eq(rly_mss_send(m, out + n, cap - n), 0);
    return n;
}

static void end_check(void)
{
    cr_assert_eq(rly_mem_default()->live_bytes, 0, "leak: %zu bytes",
                 rly_mem_default()->live_bytes);
}

static void check_listener_vector(const vec_line *l, void *ud)
{
    static uint8_t in[BUF], want[BUF], out[BUF];
    cr_assert_eq(l->nf, 4, "%s:%d: want 4 fields", l->file, l->lineno);
    size_t n = vec_hex(l->f[0], in, sizeof(in));
    size_t wn = vec_hex(l->f[2], want, sizeof(want));
    supported s = relay_sup;
    rly_mss *m = listener(&s, 0);
    rly_ssize rv = rly_mss_recv(m, in, n);
    if (strcmp(l->f[1], "!negotiation") == 0) {
        cr_assert_eq(rv, RLY_ERR_NEGOTIATION, "%s:%d: got %td", l->file, l->lineno, rv);
        cr_assert_eq(rly_mss_get_state(m), RLY_MSS_FAILED);
    } else {
        cr_assert_eq(rv, strtol(l->f[1], NULL, 10), "%s:%d: consumed %td", l->file, l->lineno, rv);
    }
    cr_assert_eq(drain(m, out, sizeof(out), BUF), wn, "%s:%d: output length", l->file, l->lineno);
    cr_assert_arr_eq(out, want, wn, "%s:%d: output bytes", l->file, l->lineno);
    const char *p = rly_mss_protocol(m, NULL);
    if (strcmp(l->f[3], "-") == 0)
        cr_assert_null(p, "%s:%d", l->file, l->lineno);
    else
        cr_assert_str_eq(p, l->f[3], "%s:%d", l->file, l->lineno);
    rly_mss_del(m);
    (*(int *)ud)++;
}

Test(mss, listener_vectors)
{
    int count = 0;
    cr_assert_eq(vec_each("mss/listener.txt", check_listener_vector, &count), count);
    cr_assert_geq(count, 20);
    end_check();
}

Test(mss, wire_bytes)
{
    static const uint8_t na[] = {0x03, 0x6e, 0x61, 0x0a};
    static const uint8_t hdr_start[] = {0x13, 0x2f, 0x6d};
    uint8_t out[BUF];
    supported s = relay_sup;
    rly_mss *m = listener(&s, 0);
    /* go style: the header is out before anything was read. */
    cr_assert(rly_mss_want_write(m));
    cr_assert_eq(drain(m, out, sizeof(out), BUF), HDR_LEN);
    cr_assert_arr_eq(out, hdr_start, 3);
    cr_assert_eq(out[HDR_LEN - 1], 0x0a);
    cr_assert_eq(rly_mss_recv(m, (const uint8_t *)HDR "\x03ls\n", HDR_LEN + 4), HDR_LEN + 4);
    cr_assert_eq(drain(m, out, sizeof(out), BUF), 4);
    cr_assert_arr_eq(out, na, 4);
    rly_mss_del(m);

    static const char *const p[] = {"/libp2p/circuit/relay/0.2.0/stop"};
    rly_mss *d = dialer(p, 1);
    size_t n = drain(d, out, sizeof(out), BUF);
    static const char want[] = HDR "\x21/libp2p/circuit/relay/0.2.0/stop\n";
    cr_assert_eq(n, sizeof(want) - 1);
    cr_assert_arr_eq(out, want, n);
    cr_assert_eq(rly_mss_get_state(d), RLY_MSS_NEGOTIATING);
    rly_mss_del(d);
    end_check();
}

/* feed gives |len| bytes to |m| in |chunk|-byte reads; once |m| is DONE the unconsumed rest is
 * appended to |rest|. Returns the error, if any. */
static int feed(rly_mss *m, const uint8_t *in, size_t len, size_t chunk, uint8_t *rest,
                size_t *prestlen)
{
    size_t off = 0;
    *prestlen = 0;
    while (off < len) {
        size_t c = chunk < len - off ? chunk : len - off;
        rly_ssize n = rly_mss_recv(m, in + off, c);
        if (n < 0)
            return (int)n;
        cr_assert((size_t)n <= c);
        if ((size_t)n < c) {
            cr_assert_eq(rly_mss_get_state(m), RLY_MSS_DONE);
            memcpy(rest + *prestlen, in + off + n, len - off - (size_t)n);
            *prestlen += len - off - (size_t)n;
            return 0;
        }
        off += c;
        if (rly_mss_get_state(m) == RLY_MSS_DONE) {
            memcpy(rest, in + off, len - off);
            *prestlen = len - off;
            return 0;
        }
    }
    return 0;
}

/* pair runs a dialer and a listener back to back, moving |chunk| bytes at a time both ways,
 * until neither has anything to say. Returns the number of rounds. */
static int pair(rly_mss *d, rly_mss *l, size_t chunk)
{
    uint8_t buf[BUF];
    int rounds = 0;
    for (; rounds < 1000; rounds++) {
        bool moved = false;
        rly_mss *from[2] = {d, l}, *to[2] = {l, d};
        for (int k = 0; k < 2; k++) {
            rly_ssize n = rly_mss_send(from[k], buf, chunk);
            cr_assert(n >= 0);
            if (n == 0 || rly_mss_get_state(to[k]) != RLY_MSS_NEGOTIATING)
                continue;
            moved = true;
            rly_ssize c = rly_mss_recv(to[k], buf, (size_t)n);
            if (c < 0)
                return (int)c;
            /* While negotiating both sides only ever send negotiation messages. */
            cr_assert_eq(c, n);
        }
        if (!moved)
            break;
    }
    return rounds;
}

Test(mss, pair_every_chunking)
{
    static const char *const offer[] = {"/tls/1.0.0", "/noise"};
    for (size_t chunk = 1; chunk <= 64; chunk++) {
        supported s = relay_sup;
        rly_mss *d = dialer(offer, 2), *l = listener(&s, 0);
        cr_assert_geq(pair(d, l, chunk), 1);
        cr_assert_eq(rly_mss_get_state(d), RLY_MSS_DONE, "chunk %zu", chunk);
        cr_assert_eq(rly_mss_get_state(l), RLY_MSS_DONE, "chunk %zu", chunk);
        cr_assert_str_eq(rly_mss_protocol(d, NULL), "/noise");
        size_t plen = 0;
        cr_assert_str_eq(rly_mss_protocol(l, &plen), "/noise");
        cr_assert_eq(plen, 6);
        cr_assert(!rly_mss_want_write(d) && !rly_mss_want_write(l));
        cr_assert_eq(s.calls, 2);
        rly_mss_del(d);
        rly_mss_del(l);
    }
    end_check();
}

Test(mss, lazy_bytes_left_for_next_layer)
{
    static const char lazy[] = HDR "\x07/noise\n"
                                   "\x00\x20noise-msg1-ephemeral-key-32byte!";
    const size_t len = sizeof(lazy) - 1, neg = HDR_LEN + 8;
    uint8_t rest[BUF];
    for (size_t chunk = 1; chunk <= len; chunk++) {
        supported s = relay_sup;
        rly_mss *l = listener(&s, 0);
        size_t restlen = 0;
        cr_assert_eq(feed(l, (const uint8_t *)lazy, len, chunk, rest, &restlen), 0);
        cr_assert_eq(rly_mss_get_state(l), RLY_MSS_DONE, "chunk %zu", chunk);
        cr_assert_eq(restlen, len - neg, "chunk %zu", chunk);
        cr_assert_arr_eq(rest, lazy + neg, restlen);
        /* DONE: nothing more is consumed. */
        cr_assert_eq(rly_mss_recv(l, rest, restlen), 0);
        rly_mss_del(l);
    }
    end_check();
}

Test(mss, refused_then_lazy_data_fails)
{
    /* A lazy dialer's data after a refused proposal is not a proposal (PROTOCOLS.md 2). */
    static const char in[] = HDR "\x0b/tls/1.0.0\n"
                                 "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
                                 "\x8a\x12\x45\x99\x01\x02\x03\x04\x05\x06\x07\x08"
                                 "\x09\x0b\x0c\x0d\x0e\x0f\x10\x11";
    supported s = relay_sup;
    rly_mss *l = listener(&s, 0);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)in, sizeof(in) - 1), RLY_ERR_NEGOTIATION);
    cr_assert_eq(rly_mss_get_state(l), RLY_MSS_FAILED);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)HDR, HDR_LEN), RLY_ERR_NEGOTIATION);
    rly_mss_del(l);
    end_check();
}

Test(mss, ls_then_retry)
{
    static const char in[] = HDR "\x03ls\n\x05/foo\n\x0d/yamux/1.0.0\n";
    static const char want[] = HDR NA NA "\x0d/yamux/1.0.0\n";
    uint8_t out[BUF];
    supported s = relay_sup;
    rly_mss *l = listener(&s, 0);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)in, sizeof(in) - 1), sizeof(in) - 1);
    cr_assert_eq(s.calls, 2); /* "ls" never reaches the callback */
    size_t n = drain(l, out, sizeof(out), 3);
    cr_assert_eq(n, sizeof(want) - 1);
    cr_assert_arr_eq(out, want, n);
    rly_mss_del(l);
    end_check();
}

/* msg frames |text| as uvarint(len + 1) || text || '\n' into |out|. */
static size_t msg(uint8_t *out, const char *text, size_t n)
{
    size_t k = 0, v = n + 1;
    while (v >= 0x80) {
        out[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[k++] = (uint8_t)v;
    memcpy(out + k, text, n);
    out[k + n] = '\n';
    return k + n + 1;
}

static int accept_all(void *ud, const char *proto, size_t len)
{
    return 1;
}

Test(mss, max_message_size)
{
    static char text[RLY_MSS_MAX_MSG + 1];
    static uint8_t in[BUF], out[BUF];
    rly_mss_settings st;
    rly_mss_settings_default(&st);
    st.select = accept_all;
    memset(text, 'a', sizeof(text));
    text[0] = '/';
    /* 1023 bytes of text + newline = 1024: the largest accepted message, echoed whole. */
    rly_mss *l = NULL;
    cr_assert_eq(rly_mss_new(&l, RLY_MSS_LISTENER, &st, NULL), 0);
    memcpy(in, HDR, HDR_LEN);
    size_t n = HDR_LEN + msg(in + HDR_LEN, text, RLY_MSS_MAX_PROTOCOL);
    for (size_t i = 0; i < n; i++) /* byte by byte: the accumulator path at its cap */
        cr_assert_eq(rly_mss_recv(l, in + i, 1), 1);
    cr_assert_eq(rly_mss_get_state(l), RLY_MSS_DONE);
    cr_assert_eq(drain(l, out, sizeof(out), 7), n);
    cr_assert_arr_eq(out, in, n);
    rly_mss_del(l);
    /* 1024 bytes of text: over the cap, refused as soon as the length is known. */
    cr_assert_eq(rly_mss_new(&l, RLY_MSS_LISTENER, &st, NULL), 0);
    n = HDR_LEN + msg(in + HDR_LEN, text, RLY_MSS_MAX_PROTOCOL + 1);
    cr_assert_eq(rly_mss_recv(l, in, HDR_LEN + 2), RLY_ERR_NEGOTIATION);
    rly_mss_del(l);
    end_check();
}

Test(mss, bad_varints_every_chunking)
{
    static const char *const bad[] = {"\x80\x00",     "\x00",       "\x81\x08",
                                      "\xff\xff\xff", "\x05/foo\r", "\x87\x00/noise\n"};
    static const size_t badlen[] = {2, 1, 2, 3, 6, 9};
    for (size_t i = 0; i < RLY_ARRAY_LEN(bad); i++) {
        uint8_t in[64], rest[64];
        memcpy(in, HDR, HDR_LEN);
        memcpy(in + HDR_LEN, bad[i], badlen[i]);
        for (size_t chunk = 1; chunk <= HDR_LEN + badlen[i]; chunk++) {
            supported s = relay_sup;
            rly_mss *l = listener(&s, 0);
            size_t restlen;
            cr_assert_eq(feed(l, in, HDR_LEN + badlen[i], chunk, rest, &restlen),
                         RLY_ERR_NEGOTIATION, "case %zu chunk %zu", i, chunk);
            cr_assert_eq(rly_mss_get_state(l), RLY_MSS_FAILED);
            rly_mss_del(l);
        }
    }
    end_check();
}

Test(mss, attempts_cap)
{
    uint8_t in[BUF], out[BUF];
    size_t n = 0;
    memcpy(in, HDR, HDR_LEN);
    n = HDR_LEN;
    for (int i = 0; i < RLY_MSS_MAX_ATTEMPTS; i++)
        n += msg(in + n, "/nope", 5);
    supported s = relay_sup;
    rly_mss *l = listener(&s, 0);
    cr_assert_eq(rly_mss_recv(l, in, n), (rly_ssize)n);
    cr_assert_eq(drain(l, out, sizeof(out), BUF), HDR_LEN + 4 * RLY_MSS_MAX_ATTEMPTS);
    /* One more refusal is one too many; "ls" counts too. */
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)"\x03ls\n", 4), RLY_ERR_NEGOTIATION);
    cr_assert_eq(rly_mss_get_state(l), RLY_MSS_FAILED);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)"\x07/noise\n", 8), RLY_ERR_NEGOTIATION);
    cr_assert_null(rly_mss_protocol(l, NULL));
    rly_mss_del(l);

    /* A custom cap of 2: the third refusal fails. */
    l = listener(&s, 2);
    n = HDR_LEN + 3 * 7;
    cr_assert_eq(rly_mss_recv(l, in, n), RLY_ERR_NEGOTIATION);
    rly_mss_del(l);
    end_check();
}

Test(mss, dialer_header_before_and_after)
{
    static const char *const p[] = {"/yamux/1.0.0"};
    static const char echo[] = "\x0d/yamux/1.0.0\n";
    uint8_t out[BUF];
    /* The listener's header arrives before we sent anything (go listener). */
    rly_mss *d = dialer(p, 1);
    cr_assert_eq(rly_mss_recv(d, (const uint8_t *)HDR, HDR_LEN), HDR_LEN);
    cr_assert_eq(drain(d, out, sizeof(out), BUF), HDR_LEN + 14);
    cr_assert_eq(rly_mss_recv(d, (const uint8_t *)echo, 14), 14);
    cr_assert_eq(rly_mss_get_state(d), RLY_MSS_DONE);
    rly_mss_del(d);
    /* After ours, header and echo in one segment followed by the peer's first frame. */
    static const char both[] = HDR "\x0d/yamux/1.0.0\n\x00\x01\x00\x01";
    for (size_t chunk = 1; chunk < sizeof(both); chunk++) {
        uint8_t rest[64];
        size_t restlen;
        d = dialer(p, 1);
        (void)drain(d, out, sizeof(out), BUF);
        cr_assert_eq(feed(d, (const uint8_t *)both, sizeof(both) - 1, chunk, rest, &restlen), 0);
        cr_assert_eq(rly_mss_get_state(d), RLY_MSS_DONE);
        cr_assert_eq(restlen, 4, "chunk %zu", chunk);
        cr_assert_str_eq(rly_mss_protocol(d, NULL), "/yamux/1.0.0");
        rly_mss_del(d);
    }
    end_check();
}

Test(mss, dialer_refused)
{
    static const char *const p[] = {"/libp2p/circuit/relay/0.2.0/stop", "/other"};
    uint8_t out[BUF];
    supported none = {NULL, 0, 0, 0};
    rly_mss *d = dialer(p, 2), *l = listener(&none, 0);
    cr_assert_eq(pair(d, l, BUF), RLY_ERR_NEGOTIATION);
    cr_assert_eq(rly_mss_get_state(d), RLY_MSS_REFUSED);
    cr_assert_eq(rly_mss_get_state(l), RLY_MSS_NEGOTIATING);
    cr_assert_null(rly_mss_protocol(d, NULL));
    cr_assert_eq(rly_mss_recv(d, (const uint8_t *)NA, 4), RLY_ERR_NEGOTIATION);
    cr_assert_eq(drain(d, out, sizeof(out), BUF), 0);
    rly_mss_del(d);
    rly_mss_del(l);
    end_check();
}

Test(mss, dialer_protocol_errors)
{
    static const char *const p[] = {"/noise"};
    static const char *const cases[] = {
        "\x07/noise\n",           /* no header first */
        HDR "\x0d/yamux/1.0.0\n", /* an answer to something we did not propose */
        HDR "\x03ls\n",           /* not an answer */
        HDR "\x88\x00",           /* non-minimal uvarint */
    };
    static const size_t lens[] = {8, HDR_LEN + 14, HDR_LEN + 4, HDR_LEN + 2};
    uint8_t out[BUF];
    for (size_t i = 0; i < RLY_ARRAY_LEN(cases); i++) {
        rly_mss *d = dialer(p, 1);
        (void)drain(d, out, sizeof(out), BUF);
        cr_assert_eq(rly_mss_recv(d, (const uint8_t *)cases[i], lens[i]), RLY_ERR_NEGOTIATION,
                     "case %zu", i);
        cr_assert_eq(rly_mss_get_state(d), RLY_MSS_FAILED);
        rly_mss_del(d);
    }
    /* An echo while our proposal is still unsent cannot be an answer. */
    rly_mss *d = dialer(p, 1);
    cr_assert_eq(rly_mss_send(d, out, HDR_LEN + 3), HDR_LEN + 3);
    cr_assert_eq(rly_mss_recv(d, (const uint8_t *)HDR "\x07/noise\n", HDR_LEN + 8),
                 RLY_ERR_NEGOTIATION);
    rly_mss_del(d);
    end_check();
}

Test(mss, callback_failure)
{
    supported s = relay_sup;
    s.fail = 1;
    rly_mss *l = listener(&s, 0);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)HDR "\x07/noise\n", HDR_LEN + 8),
                 RLY_ERR_CALLBACK_FAILURE);
    cr_assert_eq(rly_mss_get_state(l), RLY_MSS_FAILED);
    rly_mss_del(l);
    end_check();
}

Test(mss, nul_in_protocol_refused_unasked)
{
    static const char in[] = HDR "\x07/no\0se\n";
    uint8_t out[BUF];
    supported s = relay_sup;
    rly_mss *l = listener(&s, 0);
    cr_assert_eq(rly_mss_recv(l, (const uint8_t *)in, sizeof(in) - 1), sizeof(in) - 1);
    cr_assert_eq(s.calls, 0);
    cr_assert_eq(drain(l, out, sizeof(out), BUF), HDR_LEN + 4);
    rly_mss_del(l);
    end_check();
}

Test(mss, invalid_settings)
{
    rly_mss *m = (rly_mss *)1;
    rly_mss_settings st;
    rly_mss_settings_default(&st);
    cr_assert_eq(rly_mss_new(&m, RLY_MSS_LISTENER, &st, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_null(m);
    cr_assert_eq(rly_mss_new(&m, RLY_MSS_DIALER, &st, NULL), RLY_ERR_INVALID_ARG);
    cr_assert_eq(rly_mss_new(&m, RLY_MSS_DIALER, NULL, NULL), RLY_ERR_INVALID_ARG);
    static const char *const nl[] = {"/a\nb"}, *const empty[] = {""}, *const null[] = {NULL};
    static const char *const nine[9] = {"/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/9"};
    const char *const *lists[] = {nl, empty, null, nine};
    size_t counts[] = {1, 1, 1, 9};
    for (size_t i = 0; i < RLY_ARRAY_LEN(lists); i++) {
        st.protocols = lists[i];
        st.nprotocols = counts[i];
        cr_assert_eq(rly_mss_new(&m, RLY_MSS_DIALER, &st, NULL), RLY_ERR_INVALID_ARG, "%zu", i);
    }
    cr_assert_eq(rly_mss_new(&m, (rly_mss_role)7, &st, NULL), RLY_ERR_INVALID_ARG);
    rly_mss_del(NULL);
    end_check();
}

Test(mss, out_of_memory)
{
    /* Every allocation point fails once: the error is NOMEM, never a leak or a crash. */
    static const char in[] = HDR "\x07/noise\n";
    rly_mss_settings st;
    rly_mss_settings_default(&st);
    st.select = select_cb;
    supported s = relay_sup;
    st.user_data = &s;
    for (uint64_t nth = 1; nth <= 4; nth++) {
        rly_mem mem;
        rly_mem_init(&mem);
        mem.fail_nth = nth;
        rly_mss *l = NULL;
        int rv = rly_mss_new(&l, RLY_MSS_LISTENER, &st, &mem);
        if (rv == 0) {
            rly_ssize r = 0;
            for (size_t i = 0; i < sizeof(in) - 1 && r >= 0; i++)
                r = rly_mss_recv(l, (const uint8_t *)in + i, 1);
            cr_assert(r == 1 || r == RLY_ERR_NOMEM, "nth %llu: %td", (unsigned long long)nth, r);
            cr_assert_eq(rly_mss_get_state(l), r == 1 ? RLY_MSS_DONE : RLY_MSS_FAILED);
        } else {
            cr_assert_eq(rv, RLY_ERR_NOMEM);
        }
        rly_mss_del(l);
        cr_assert_eq(mem.live_bytes, 0);
    }
    end_check();
}
