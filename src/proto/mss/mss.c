/* mss.c: multistream-select 1.0 (PROTOCOLS.md 2; specs connections/README.md).
 *
 * Inbound: messages are parsed straight from the caller's input when they arrive whole, which is
 * the usual case (everyone writes header + proposal in one segment). Only a message cut by a read
 * boundary is copied into |acc|, and then exactly up to its end, so the bytes that follow the
 * agreed line are never taken from the caller.
 *
 * Outbound: everything either role ever sends is the header, "na", or one protocol ID, in that
 * order. So pending output is three counters plus an offset into the item being written, and
 * each item is framed on demand. A listener's total output is bounded by construction: one header,
 * at most max_attempts "na" and one echo. */
#include "proto/mss/mss.h"

#include <string.h>

#include "core/dynbuf.h"
#include "core/varint.h"

/* A framed message: uvarint of at most RLY_MSS_MAX_MSG (2 bytes) plus the message. */
#define FRAME_MAX (RLY_MSS_MAX_MSG + 2)
#define HEADER_LEN (sizeof(RLY_MSS_HEADER) - 1)

struct rly_mss {
    rly_mem *mem;
    rly_mss_select_fn select;
    void *user_data;
    const char *const *protocols; /* dialer: borrowed proposal list */
    size_t nprotocols;
    size_t iproto;     /* dialer: index of the current proposal */
    const char *proto; /* the proposal (dialer) or the agreed protocol (listener: |agreed|) */
    size_t proto_len;
    char *agreed; /* listener: owned copy of the accepted ID */
    uint32_t attempts;
    uint32_t max_attempts;
    int err; /* the error every call returns once REFUSED or FAILED */
    rly_mss_role role;
    rly_mss_state state;
    bool has_peer_header;
    /* Pending output, in wire order: header, |out_na| x "na", then |proto|. */
    bool out_hdr;
    bool out_proto;
    uint32_t out_na;
    size_t out_off; /* bytes of the first pending item already written */
    rly_dynbuf acc; /* a message split across reads, up to FRAME_MAX bytes */
};

void rly_mss_settings_default(rly_mss_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->max_attempts = RLY_MSS_MAX_ATTEMPTS;
}

/* valid_proto checks a protocol ID we are about to send: the listener must be able to read it
 * back as one line of at most RLY_MSS_MAX_MSG bytes. */
static bool valid_proto(const char *p)
{
    if (!p)
        return false;
    size_t n = strnlen(p, RLY_MSS_MAX_PROTOCOL + 1);
    return n >= 1 && n <= RLY_MSS_MAX_PROTOCOL && !memchr(p, '\n', n);
}

static int check_settings(rly_mss_role role, const rly_mss_settings *s)
{
    if (!s)
        return RLY_ERR_INVALID_ARG;
    if (role == RLY_MSS_LISTENER)
        return s->select ? 0 : RLY_ERR_INVALID_ARG;
    if (role != RLY_MSS_DIALER || !s->protocols || s->nprotocols == 0 ||
        s->nprotocols > RLY_MSS_MAX_PROPOSALS)
        return RLY_ERR_INVALID_ARG;
    for (size_t i = 0; i < s->nprotocols; i++)
        if (!valid_proto(s->protocols[i]))
            return RLY_ERR_INVALID_ARG;
    return 0;
}

int rly_mss_new(rly_mss **pm, rly_mss_role role, const rly_mss_settings *settings, rly_mem *mem)
{
    *pm = NULL;
    int rv = check_settings(role, settings);
    if (rv != 0)
        return rv;
    mem = mem ? mem : rly_mem_default();
    rly_mss *m = rly_calloc(mem, 1, sizeof(*m));
    if (!m)
        return RLY_ERR_NOMEM;
    m->mem = mem;
    m->role = role;
    m->state = RLY_MSS_NEGOTIATING;
    m->select = settings->select;
    m->user_data = settings->user_data;
    m->max_attempts = settings->max_attempts ? settings->max_attempts : RLY_MSS_MAX_ATTEMPTS;
    rly_dynbuf_init(&m->acc, mem, FRAME_MAX);
    /* Both roles may send the header without waiting (PROTOCOLS.md 2 step 1); the dialer adds
     * its first proposal to the same write. */
    m->out_hdr = true;
    if (role == RLY_MSS_DIALER) {
        m->protocols = settings->protocols;
        m->nprotocols = settings->nprotocols;
        m->proto = m->protocols[0];
        m->proto_len = strlen(m->proto);
        m->out_proto = true;
    }
    *pm = m;
    return 0;
}

void rly_mss_del(rly_mss *m)
{
    if (!m)
        return;
    rly_dynbuf_free(&m->acc);
    rly_free(m->mem, m->agreed);
    rly_free(m->mem, m);
}

/* frame_check looks at the start of a message in |p| (|n| bytes). Returns 1 when the whole
 * message is there (|*phdr| uvarint bytes, |*ptotal| bytes in all), 0 when more bytes are needed
 * (|*ptotal| is 0 while the uvarint itself is incomplete), or RLY_ERR_NEGOTIATION. */
static int frame_check(const uint8_t *p, size_t n, size_t *phdr, size_t *ptotal)
{
    uint64_t v = 0;
    *ptotal = 0;
    if (n == 0)
        return 0;
    rly_ssize k = rly_varint_decode(p, n, &v);
    /* Two bytes of uvarint already carry 14 bits: a longer one is past RLY_MSS_MAX_MSG. */
    if (k == RLY_ERR_TRUNCATED)
        return n >= 2 ? RLY_ERR_NEGOTIATION : 0;
    if (k < 0 || v == 0 || v > RLY_MSS_MAX_MSG)
        return RLY_ERR_NEGOTIATION;
    *phdr = (size_t)k;
    *ptotal = (size_t)k + (size_t)v;
    if (n < *ptotal)
        return 0;
    return p[*ptotal - 1] == '\n' ? 1 : RLY_ERR_NEGOTIATION;
}

/* acc_continue adds input to the partial message in |acc|, never past its end. Sets |*pmsg| when
 * the message is complete. Returns the input bytes taken or an error. */
static rly_ssize acc_continue(rly_mss *m, const uint8_t *in, size_t len, const uint8_t **pmsg,
                              size_t *pmsglen)
{
    size_t used = 0;
    for (;;) {
        size_t hdr = 0, total = 0;
        int r = frame_check(m->acc.data, m->acc.len, &hdr, &total);
        if (r < 0)
            return r;
        if (r == 1) {
            *pmsg = m->acc.data + hdr;
            *pmsglen = total - hdr;
            return (rly_ssize)used;
        }
        if (used == len)
            return (rly_ssize)used;
        /* Until the length is known take one byte at a time: it may be a 1-byte uvarint. */
        size_t want = total ? total - m->acc.len : 1;
        size_t take = want < len - used ? want : len - used;
        int rv = rly_dynbuf_append(&m->acc, in + used, take);
        if (rv != 0)
            return rv;
        used += take;
    }
}

/* next_msg takes the next message from |in|. Returns the bytes consumed and sets |*pmsg| (the
 * message including its newline, borrowed from |in| or |acc|) when one is complete; otherwise
 * everything was kept in |acc| and |*pmsg| is NULL. */
static rly_ssize next_msg(rly_mss *m, const uint8_t *in, size_t len, const uint8_t **pmsg,
                          size_t *pmsglen)
{
    *pmsg = NULL;
    if (m->acc.len > 0)
        return acc_continue(m, in, len, pmsg, pmsglen);
    size_t hdr = 0, total = 0;
    int r = frame_check(in, len, &hdr, &total);
    if (r < 0)
        return r;
    if (r == 1) {
        *pmsg = in + hdr;
        *pmsglen = total - hdr;
        return (rly_ssize)total;
    }
    /* Incomplete, so shorter than FRAME_MAX: the buffer cannot overflow. */
    int rv = rly_dynbuf_append(&m->acc, in, len);
    return rv != 0 ? rv : (rly_ssize)len;
}

static bool text_is(const char *t, size_t n, const char *s, size_t slen)
{
    return n == slen && memcmp(t, s, n) == 0;
}

/* Step 1: the first message from either side must be the header, or the side aborts. */
static int on_header(rly_mss *m, const char *t, size_t n)
{
    if (!text_is(t, n, RLY_MSS_HEADER, HEADER_LEN))
        return RLY_ERR_NEGOTIATION;
    m->has_peer_header = true;
    return 0;
}

/* ask decides on a proposal: 1 accept, 0 "na", or an error. "ls" is answered with "na", which
 * go does too (PROTOCOLS.md 2 step 3). An ID containing NUL is refused unasked: it could not be
 * handed on as a C string. */
static int ask(rly_mss *m, const char *t, size_t n)
{
    if (text_is(t, n, "ls", 2) || memchr(t, '\0', n))
        return 0;
    int r = m->select(m->user_data, t, n);
    if (r < 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return r > 0 ? 1 : 0;
}

/* Step 2, listener side: echo the proposal or answer "na". */
static int listener_msg(rly_mss *m, const char *t, size_t n)
{
    int r = ask(m, t, n);
    if (r < 0)
        return r;
    if (r == 0) {
        /* go and js keep reading proposals forever; we cap them (PROTOCOLS.md 2). */
        if (m->attempts >= m->max_attempts)
            return RLY_ERR_NEGOTIATION;
        m->attempts++;
        m->out_na++;
        return 0;
    }
    m->agreed = rly_malloc(m->mem, n + 1);
    if (!m->agreed)
        return RLY_ERR_NOMEM;
    memcpy(m->agreed, t, n);
    m->agreed[n] = '\0';
    m->proto = m->agreed;
    m->proto_len = n;
    m->out_proto = true;
    m->state = RLY_MSS_DONE;
    return 0;
}

/* Step 2, dialer side: the echo of the current proposal agrees, "na" moves to the next one. */
static int dialer_msg(rly_mss *m, const char *t, size_t n)
{
    /* No listener can answer a proposal it has not been sent. */
    if (m->out_proto)
        return RLY_ERR_NEGOTIATION;
    if (text_is(t, n, m->proto, m->proto_len)) {
        m->state = RLY_MSS_DONE;
        return 0;
    }
    if (!text_is(t, n, "na", 2))
        return RLY_ERR_NEGOTIATION;
    if (++m->iproto == m->nprotocols) {
        m->state = RLY_MSS_REFUSED;
        return RLY_ERR_NEGOTIATION;
    }
    m->proto = m->protocols[m->iproto];
    m->proto_len = strlen(m->proto);
    m->out_proto = true;
    return 0;
}

static int on_msg(rly_mss *m, const uint8_t *msg, size_t len)
{
    /* |len| >= 1 and msg[len - 1] == '\n' (frame_check); the newline is not part of the text. */
    const char *t = (const char *)msg;
    size_t n = len - 1;
    if (!m->has_peer_header)
        return on_header(m, t, n);
    return m->role == RLY_MSS_LISTENER ? listener_msg(m, t, n) : dialer_msg(m, t, n);
}

/* finish ends the negotiation: the accumulator is no longer needed whatever the outcome. */
static rly_ssize finish(rly_mss *m, int err)
{
    if (err < 0) {
        if (m->state != RLY_MSS_REFUSED)
            m->state = RLY_MSS_FAILED;
        m->err = err;
    }
    rly_dynbuf_free(&m->acc);
    return err;
}

rly_ssize rly_mss_recv(rly_mss *m, const uint8_t *in, size_t len)
{
    if (m->state == RLY_MSS_DONE)
        return 0;
    if (m->state != RLY_MSS_NEGOTIATING)
        return m->err;
    size_t off = 0;
    while (off < len && m->state == RLY_MSS_NEGOTIATING) {
        const uint8_t *msg = NULL;
        size_t mlen = 0;
        rly_ssize n = next_msg(m, in + off, len - off, &msg, &mlen);
        if (n < 0)
            return finish(m, (int)n);
        off += (size_t)n;
        if (!msg)
            break;
        int rv = on_msg(m, msg, mlen);
        if (rv < 0)
            return finish(m, rv);
        /* A complete message was either read in place (|acc| empty) or is all of |acc|. */
        rly_dynbuf_reset(&m->acc);
    }
    if (m->state != RLY_MSS_NEGOTIATING)
        (void)finish(m, 0);
    return (rly_ssize)off;
}

/* front returns the text of the first pending output item. */
static void front(const rly_mss *m, const char **pt, size_t *pn)
{
    if (m->out_hdr) {
        *pt = RLY_MSS_HEADER;
        *pn = HEADER_LEN;
    } else if (m->out_na > 0) {
        *pt = "na";
        *pn = 2;
    } else {
        *pt = m->proto;
        *pn = m->proto_len;
    }
}

static void pop_front(rly_mss *m)
{
    if (m->out_hdr)
        m->out_hdr = false;
    else if (m->out_na > 0)
        m->out_na--;
    else
        m->out_proto = false;
    m->out_off = 0;
}

/* frame writes uvarint(n + 1) || t || '\n' to |dst| (FRAME_MAX bytes) and returns its length. */
static size_t frame(uint8_t *dst, const char *t, size_t n)
{
    rly_ssize k = rly_varint_encode(dst, FRAME_MAX, n + 1);
    RLY_ASSERT(k > 0 && n <= RLY_MSS_MAX_PROTOCOL);
    memcpy(dst + k, t, n);
    dst[(size_t)k + n] = '\n';
    return (size_t)k + n + 1;
}

rly_ssize rly_mss_send(rly_mss *m, uint8_t *dest, size_t destlen)
{
    size_t w = 0;
    while (w < destlen && rly_mss_want_write(m)) {
        uint8_t tmp[FRAME_MAX];
        const char *t;
        size_t n;
        front(m, &t, &n);
        size_t flen = frame(tmp, t, n);
        size_t k = flen - m->out_off;
        if (k > destlen - w)
            k = destlen - w;
        memcpy(dest + w, tmp + m->out_off, k);
        w += k;
        m->out_off += k;
        if (m->out_off == flen)
            pop_front(m);
    }
    return (rly_ssize)w;
}

bool rly_mss_want_write(const rly_mss *m)
{
    return m->out_hdr || m->out_na > 0 || m->out_proto;
}

rly_mss_state rly_mss_get_state(const rly_mss *m)
{
    return m->state;
}

const char *rly_mss_protocol(const rly_mss *m, size_t *plen)
{
    if (m->state != RLY_MSS_DONE)
        return NULL;
    if (plen)
        *plen = m->proto_len;
    return m->proto;
}
