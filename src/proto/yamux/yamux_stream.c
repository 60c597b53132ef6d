/* yamux_stream.c: Yamux streams: the ID table, the per-stream send queues, the output lists and
 * the rly_yamux_stream_* API (PROTOCOLS.md 4 "Streams", "Flow control").
 *
 * The table is a chained hash map keyed by stream ID (Fibonacci hashing), grown by doubling
 * when it holds as many streams as buckets and freed when the last stream leaves, so an idle
 * session holds no table at all. Its size is bounded by the stream caps of the settings.
 *
 * A send queue is a byte ring allocated on the first write, grown by doubling up to
 * max_stream_buffer and freed as soon as it drains: idle streams hold no buffer. */
#include "proto/yamux/yamux_internal.h"

#include <string.h>

#define MIN_BUCKET_BITS 3
#define MIN_QUEUE 256u

static uint32_t hash_id(uint32_t id, uint32_t bits)
{
    return (uint32_t)(id * UINT32_C(2654435761)) >> (32 - bits);
}

rly_yamux_stream *rly_yamux_stream_find(const rly_yamux *y, uint32_t id)
{
    if (!y->buckets)
        return NULL;
    rly_yamux_stream *s = y->buckets[hash_id(id, y->bucket_bits)];
    while (s && s->id != id)
        s = s->hnext;
    return s;
}

rly_yamux_stream *rly_yamux_stream_find_live(const rly_yamux *y, uint32_t id)
{
    rly_yamux_stream *s = rly_yamux_stream_find(y, id);
    return s && !(s->flags & RLY_YAMUX_SF_RST_PENDING) ? s : NULL;
}

/* grow_table doubles the bucket array (or creates it) and rehashes. */
static int grow_table(rly_yamux *y)
{
    uint32_t bits = y->buckets ? y->bucket_bits + 1 : MIN_BUCKET_BITS;
    size_t n = (size_t)1 << bits;
    rly_yamux_stream **b = rly_calloc(y->mem, n, sizeof(*b));
    if (!b)
        return RLY_ERR_NOMEM;
    size_t old = y->buckets ? (size_t)1 << y->bucket_bits : 0;
    for (size_t i = 0; i < old; i++) {
        rly_yamux_stream *s = y->buckets[i];
        while (s) {
            rly_yamux_stream *next = s->hnext;
            uint32_t h = hash_id(s->id, bits);
            s->hnext = b[h];
            b[h] = s;
            s = next;
        }
    }
    rly_free(y->mem, y->buckets);
    y->buckets = b;
    y->bucket_bits = bits;
    return 0;
}

static void table_remove(rly_yamux *y, rly_yamux_stream *s)
{
    rly_yamux_stream **pp = &y->buckets[hash_id(s->id, y->bucket_bits)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (--y->nstreams == 0) {
        rly_free(y->mem, y->buckets);
        y->buckets = NULL;
        y->bucket_bits = 0;
    }
}

int rly_yamux_stream_new(rly_yamux *y, uint32_t id, uint16_t flags, void *ud, rly_yamux_stream **ps)
{
    *ps = NULL;
    if ((!y->buckets || y->nstreams >= (UINT32_C(1) << y->bucket_bits)) && grow_table(y) != 0)
        return RLY_ERR_NOMEM;
    rly_yamux_stream *s = rly_calloc(y->mem, 1, sizeof(*s));
    if (!s)
        return RLY_ERR_NOMEM;
    s->id = id;
    s->flags = flags;
    s->user_data = ud;
    s->send_window = RLY_YAMUX_INITIAL_WINDOW;
    s->recv_window = y->set.recv_window;
    s->wu_delta = y->set.recv_window - RLY_YAMUX_INITIAL_WINDOW;
    uint32_t h = hash_id(id, y->bucket_bits);
    s->hnext = y->buckets[h];
    y->buckets[h] = s;
    y->nstreams++;
    y->nlive++;
    if (flags & RLY_YAMUX_SF_LOCAL) {
        y->noutbound++;
        y->nbacklog++;
    } else {
        y->ninbound++;
    }
    *ps = s;
    return 0;
}

static void list_push(rly_yamux *y, rly_yamux_stream *s, int which)
{
    rly_yamux_list *l = &y->lists[which];
    s->link[which].prev = l->tail;
    s->link[which].next = NULL;
    if (l->tail)
        l->tail->link[which].next = s;
    else
        l->head = s;
    l->tail = s;
    s->flags |= which == RLY_YAMUX_LIST_CTL ? RLY_YAMUX_SF_IN_CTL : RLY_YAMUX_SF_IN_DATA;
}

void rly_yamux_stream_unlink(rly_yamux *y, rly_yamux_stream *s, int which)
{
    uint16_t bit = which == RLY_YAMUX_LIST_CTL ? RLY_YAMUX_SF_IN_CTL : RLY_YAMUX_SF_IN_DATA;
    if (!(s->flags & bit))
        return;
    rly_yamux_list *l = &y->lists[which];
    rly_yamux_link *k = &s->link[which];
    if (k->prev)
        k->prev->link[which].next = k->next;
    else
        l->head = k->next;
    if (k->next)
        k->next->link[which].prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = NULL;
    s->flags &= (uint16_t)~bit;
}

/* needs_ctl: a Window Update frame of its own is due (SYN, ACK, window delta, the RST of a
 * zombie, or a FIN once the queue is empty: a FIN never rides on a Data frame, see write_data). */
static bool needs_ctl(const rly_yamux_stream *s)
{
    uint16_t f = s->flags;
    if (f & (RLY_YAMUX_SF_RST_PENDING | RLY_YAMUX_SF_SYN_PENDING | RLY_YAMUX_SF_ACK_PENDING))
        return true;
    if (s->wu_delta > 0)
        return true;
    return (f & RLY_YAMUX_SF_FIN_PENDING) && !(f & RLY_YAMUX_SF_FIN_SENT) && s->sq_len == 0;
}

static bool needs_data(const rly_yamux_stream *s)
{
    return !(s->flags & RLY_YAMUX_SF_RST_PENDING) && s->sq_len > 0 && s->send_window > 0;
}

void rly_yamux_stream_schedule(rly_yamux *y, rly_yamux_stream *s)
{
    bool want[2] = {needs_ctl(s), needs_data(s)};
    uint16_t bits[2] = {RLY_YAMUX_SF_IN_CTL, RLY_YAMUX_SF_IN_DATA};
    for (int i = 0; i < 2; i++) {
        bool in = (s->flags & bits[i]) != 0;
        if (want[i] && !in)
            list_push(y, s, i);
        else if (!want[i] && in)
            rly_yamux_stream_unlink(y, s, i);
    }
}

static void queue_clear(rly_yamux *y, rly_yamux_stream *s)
{
    y->queued -= s->sq_len; /* bytes dropped by a reset or a close */
    rly_free(y->mem, s->sq);
    s->sq = NULL;
    s->sq_cap = s->sq_head = s->sq_len = 0;
}

void rly_yamux_stream_del(rly_yamux *y, rly_yamux_stream *s)
{
    rly_yamux_stream_unlink(y, s, RLY_YAMUX_LIST_CTL);
    rly_yamux_stream_unlink(y, s, RLY_YAMUX_LIST_DATA);
    table_remove(y, s);
    if (!(s->flags & RLY_YAMUX_SF_RST_PENDING))
        y->nlive--;
    if (s->flags & RLY_YAMUX_SF_LOCAL) {
        y->noutbound--;
        if (!(s->flags & RLY_YAMUX_SF_ACKED))
            y->nbacklog--;
    } else {
        y->ninbound--;
    }
    queue_clear(y, s);
    rly_free(y->mem, s);
}

int rly_yamux_stream_close(rly_yamux *y, rly_yamux_stream *s, int reason)
{
    uint32_t id = s->id;
    void *ud = s->user_data;
    rly_yamux_stream_del(y, s);
    if (y->cb.on_stream_close && y->cb.on_stream_close(y, id, ud, reason) != 0)
        return RLY_ERR_CALLBACK_FAILURE;
    return 0;
}

void rly_yamux_stream_free_all(rly_yamux *y, bool notify)
{
    rly_yamux_stream **b = y->buckets;
    size_t n = b ? (size_t)1 << y->bucket_bits : 0;
    /* Detach first: lookups from the callbacks below find nothing. */
    y->buckets = NULL;
    y->nstreams = y->nlive = y->ninbound = y->noutbound = y->nbacklog = 0;
    y->lists[0].head = y->lists[0].tail = y->lists[1].head = y->lists[1].tail = NULL;
    for (size_t i = 0; i < n; i++) {
        while (b[i]) {
            rly_yamux_stream *s = b[i];
            b[i] = s->hnext;
            uint32_t id = s->id;
            void *ud = s->user_data;
            bool live = !(s->flags & RLY_YAMUX_SF_RST_PENDING);
            queue_clear(y, s);
            rly_free(y->mem, s);
            if (notify && live && y->cb.on_stream_close)
                (void)y->cb.on_stream_close(y, id, ud, RLY_ERR_CLOSED);
        }
    }
    rly_free(y->mem, b);
}

/* queue_grow makes room for |need| queued bytes (need <= max_stream_buffer), unwrapping the
 * ring into a new block. */
static int queue_grow(rly_yamux *y, rly_yamux_stream *s, uint32_t need)
{
    uint32_t max = y->set.max_stream_buffer;
    uint32_t cap = s->sq_cap ? s->sq_cap : MIN_QUEUE;
    while (cap < need && cap <= max / 2)
        cap *= 2;
    if (cap < need || cap > max)
        cap = max;
    uint8_t *q = rly_malloc(y->mem, cap);
    if (!q)
        return RLY_ERR_NOMEM;
    uint32_t len = s->sq_len;
    if (len > 0)
        rly_yamux_stream_take(y, s, q, len); /* frees the old ring */
    s->sq = q;
    s->sq_cap = cap;
    s->sq_head = 0;
    s->sq_len = len;
    return 0;
}

static int queue_append(rly_yamux *y, rly_yamux_stream *s, const uint8_t *data, uint32_t n)
{
    if (s->sq_len + n > s->sq_cap) {
        int rv = queue_grow(y, s, s->sq_len + n);
        if (rv != 0)
            return rv;
    }
    uint32_t tail = s->sq_head + s->sq_len;
    if (tail >= s->sq_cap)
        tail -= s->sq_cap;
    uint32_t first = s->sq_cap - tail < n ? s->sq_cap - tail : n;
    memcpy(s->sq + tail, data, first);
    memcpy(s->sq, data + first, n - first);
    s->sq_len += n;
    y->queued += n;
    return 0;
}

void rly_yamux_stream_take(rly_yamux *y, rly_yamux_stream *s, uint8_t *dest, uint32_t n)
{
    uint32_t first = s->sq_cap - s->sq_head < n ? s->sq_cap - s->sq_head : n;
    memcpy(dest, s->sq + s->sq_head, first);
    memcpy(dest + first, s->sq, n - first);
    s->sq_head += n;
    if (s->sq_head >= s->sq_cap)
        s->sq_head -= s->sq_cap;
    s->sq_len -= n;
    if (s->sq_len == 0)
        queue_clear(y, s);
}

/* usable returns |y| if the owner may act on it: not failed, not being deleted. */
static bool usable(const rly_yamux *y)
{
    return !y->failed && !y->is_deleting;
}

rly_ssize rly_yamux_stream_write(rly_yamux *y, uint32_t id, const uint8_t *data, size_t len)
{
    if (!usable(y))
        return RLY_ERR_CLOSED;
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    if (s->flags & RLY_YAMUX_SF_FIN_PENDING)
        return RLY_ERR_CLOSED;
    if (len == 0)
        return 0;
    uint32_t space = y->set.max_stream_buffer - s->sq_len;
    size_t session_space =
        y->queued < y->set.max_session_buffer ? y->set.max_session_buffer - y->queued : 0;
    if (session_space < space) {
        space = (uint32_t)session_space;
        if (space < len)
            y->has_blocked = true; /* woken by rly_yamux_stream_wake_blocked */
    }
    if (space == 0) {
        s->flags |= RLY_YAMUX_SF_WANT_WRITABLE;
        return RLY_ERR_AGAIN;
    }
    uint32_t n = len < space ? (uint32_t)len : space;
    int rv = queue_append(y, s, data, n);
    if (rv != 0)
        return rv;
    if (n < len)
        s->flags |= RLY_YAMUX_SF_WANT_WRITABLE;
    rly_yamux_stream_schedule(y, s);
    return (rly_ssize)n;
}

int rly_yamux_stream_consume(rly_yamux *y, uint32_t id, size_t n)
{
    if (!usable(y))
        return RLY_ERR_CLOSED;
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    if (n > s->recv_unconsumed)
        return RLY_ERR_INVALID_ARG;
    s->recv_unconsumed -= (uint32_t)n;
    s->recv_consumed += (uint32_t)n;
    /* Grant the window back once half of it is owed (go and rust use the same rule). After the
     * peer's FIN there is nothing left to grant. */
    if (s->flags & RLY_YAMUX_SF_FIN_RECV)
        s->recv_consumed = 0;
    if (s->recv_consumed >= y->set.recv_window / 2) {
        s->wu_delta += s->recv_consumed;
        s->recv_window += s->recv_consumed;
        s->recv_consumed = 0;
        rly_yamux_stream_schedule(y, s);
    }
    return 0;
}

int rly_yamux_stream_shutdown(rly_yamux *y, uint32_t id)
{
    if (!usable(y))
        return RLY_ERR_CLOSED;
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    s->flags |= RLY_YAMUX_SF_FIN_PENDING;
    rly_yamux_stream_schedule(y, s);
    return 0;
}

int rly_yamux_stream_reset(rly_yamux *y, uint32_t id)
{
    if (!usable(y))
        return RLY_ERR_CLOSED;
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    void *ud = s->user_data;
    if (s->flags & RLY_YAMUX_SF_SYN_PENDING) {
        /* The peer never heard of it: nothing to send. */
        rly_yamux_stream_del(y, s);
    } else {
        /* Keep a zombie in the table until its RST is written, so frames still in flight are
         * drained; it needs no allocation, so a reset never fails. */
        queue_clear(y, s);
        s->flags &=
            RLY_YAMUX_SF_LOCAL | RLY_YAMUX_SF_ACKED | RLY_YAMUX_SF_IN_CTL | RLY_YAMUX_SF_IN_DATA;
        s->flags |= RLY_YAMUX_SF_RST_PENDING;
        s->wu_delta = 0;
        s->user_data = NULL;
        y->nlive--;
        rly_yamux_stream_schedule(y, s);
    }
    if (y->cb.on_stream_close)
        (void)y->cb.on_stream_close(y, id, ud, RLY_ERR_RESET);
    return 0;
}

int rly_yamux_stream_set_user_data(rly_yamux *y, uint32_t id, void *stream_user_data)
{
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    s->user_data = stream_user_data;
    return 0;
}

void *rly_yamux_stream_get_user_data(const rly_yamux *y, uint32_t id)
{
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    return s ? s->user_data : NULL;
}

int rly_yamux_stream_get_info(const rly_yamux *y, uint32_t id, rly_yamux_stream_info *info)
{
    rly_yamux_stream *s = rly_yamux_stream_find_live(y, id);
    if (!s)
        return RLY_ERR_NOT_FOUND;
    info->send_window = s->send_window;
    info->recv_window = s->recv_window;
    info->queued = s->sq_len;
    info->unconsumed = s->recv_unconsumed;
    info->is_local_closed = (s->flags & RLY_YAMUX_SF_FIN_PENDING) != 0;
    info->is_remote_closed = (s->flags & RLY_YAMUX_SF_FIN_RECV) != 0;
    return 0;
}

/* next_to_wake returns a stream marked RLY_YAMUX_SF_WAKE, NULL if none is left. */
static rly_yamux_stream *next_to_wake(const rly_yamux *y)
{
    for (uint32_t b = 0; y->buckets && b < (1u << y->bucket_bits); b++)
        for (rly_yamux_stream *s = y->buckets[b]; s; s = s->hnext)
            if (s->flags & RLY_YAMUX_SF_WAKE)
                return s;
    return NULL;
}

int rly_yamux_stream_wake_blocked(rly_yamux *y)
{
    if (!y->has_blocked || y->queued > y->set.max_session_buffer / 2 || !y->buckets)
        return 0;
    y->has_blocked = false;
    /* Mark first, then wake one at a time from a fresh scan: a callback may write, open, close
     * or reset streams (and so rehash the table) while we go. */
    for (uint32_t b = 0; b < (1u << y->bucket_bits); b++) {
        for (rly_yamux_stream *s = y->buckets[b]; s; s = s->hnext) {
            if ((s->flags & RLY_YAMUX_SF_WANT_WRITABLE) && s->sq_len == 0) {
                s->flags &= (uint16_t)~RLY_YAMUX_SF_WANT_WRITABLE;
                s->flags |= RLY_YAMUX_SF_WAKE;
            }
        }
    }
    rly_yamux_stream *s;
    while ((s = next_to_wake(y)) != NULL) {
        s->flags &= (uint16_t)~RLY_YAMUX_SF_WAKE;
        if (y->cb.on_stream_writable && y->cb.on_stream_writable(y, s->id, s->user_data) != 0)
            return RLY_ERR_CALLBACK_FAILURE;
    }
    return 0;
}
