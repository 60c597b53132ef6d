/* ping.c: /ipfs/ping/1.0.0 (PROTOCOLS.md 7). */
#include "proto/ping/ping.h"

#include <string.h>

void rly_ping_settings_default(rly_ping_settings *s)
{
    s->echo_timeout = RLY_PING_ECHO_TIMEOUT;
    s->idle_timeout = RLY_PING_IDLE_TIMEOUT;
}

/* after adds a timeout to |now| without wrapping: a huge timeout means "never". */
static rly_tstamp after(rly_tstamp now, rly_tstamp timeout)
{
    return timeout > RLY_TSTAMP_MAX - now ? RLY_TSTAMP_MAX : now + timeout;
}

void rly_ping_init(rly_ping *p, bool is_initiator, const rly_ping_settings *settings,
                   rly_tstamp now)
{
    memset(p, 0, sizeof(*p));
    if (settings)
        p->settings = *settings;
    else
        rly_ping_settings_default(&p->settings);
    p->is_initiator = is_initiator;
    p->state = RLY_PING_IDLE;
    /* A responder that never sees a ping still closes (go: 10 s without a ping). */
    p->deadline = is_initiator ? RLY_TSTAMP_MAX : after(now, p->settings.idle_timeout);
}

int rly_ping_start(rly_ping *p, const uint8_t *payload, rly_tstamp now)
{
    if (!p->is_initiator || p->state != RLY_PING_IDLE)
        return RLY_ERR_INVALID_STATE;
    memcpy(p->out, payload, RLY_PING_SIZE);
    p->out_len = RLY_PING_SIZE;
    p->out_off = 0;
    p->in_len = 0;
    p->state = RLY_PING_SENDING;
    p->deadline = after(now, p->settings.echo_timeout);
    return 0;
}

static rly_ssize fail(rly_ping *p, int err)
{
    p->state = RLY_PING_FAILED;
    p->err = err;
    p->deadline = RLY_TSTAMP_MAX;
    return err;
}

/* The responder reads exactly 32 bytes and writes them back (ping.md). It may hold one partial
 * block while an echo is pending, never more. */
static rly_ssize responder_recv(rly_ping *p, const uint8_t *in, size_t len, rly_tstamp now)
{
    size_t off = 0;
    for (;;) {
        if (p->in_len == RLY_PING_SIZE) {
            if (p->out_len != 0)
                break; /* back-pressure: the previous echo is not out yet */
            memcpy(p->out, p->in, RLY_PING_SIZE);
            p->out_len = RLY_PING_SIZE;
            p->out_off = 0;
            p->in_len = 0;
            p->deadline = after(now, p->settings.idle_timeout);
        }
        if (off == len)
            break;
        size_t take = RLY_PING_SIZE - p->in_len;
        if (take > len - off)
            take = len - off;
        memcpy(p->in + p->in_len, in + off, take);
        p->in_len = (uint8_t)(p->in_len + take);
        off += take;
    }
    return (rly_ssize)off;
}

/* The initiator compares the echo as it arrives, so a wrong byte fails at once. */
static rly_ssize initiator_recv(rly_ping *p, const uint8_t *in, size_t len, rly_tstamp now)
{
    if (len == 0)
        return 0;
    if (p->state != RLY_PING_WAITING)
        return fail(p, RLY_ERR_UNEXPECTED_MSG);
    size_t take = RLY_PING_SIZE - p->in_len;
    if (take > len)
        take = len;
    if (memcmp(in, p->out + p->in_len, take) != 0)
        return fail(p, RLY_ERR_PROTO);
    p->in_len = (uint8_t)(p->in_len + take);
    if (p->in_len == RLY_PING_SIZE) {
        p->rtt = now > p->sent_at ? now - p->sent_at : 0;
        p->has_rtt = true;
        p->state = RLY_PING_IDLE;
        p->deadline = RLY_TSTAMP_MAX;
    }
    /* Bytes past the echo answer nothing we sent. */
    if (take < len)
        return fail(p, RLY_ERR_UNEXPECTED_MSG);
    return (rly_ssize)len;
}

rly_ssize rly_ping_recv(rly_ping *p, const uint8_t *in, size_t len, rly_tstamp now)
{
    if (p->state == RLY_PING_FAILED)
        return p->err;
    return p->is_initiator ? initiator_recv(p, in, len, now) : responder_recv(p, in, len, now);
}

rly_ssize rly_ping_send(rly_ping *p, uint8_t *dest, size_t destlen, rly_tstamp now)
{
    if (p->state == RLY_PING_FAILED)
        return p->err;
    if (!rly_ping_want_write(p))
        return 0;
    size_t n = (size_t)(p->out_len - p->out_off);
    if (n > destlen)
        n = destlen;
    memcpy(dest, p->out + p->out_off, n);
    p->out_off = (uint8_t)(p->out_off + n);
    if (p->out_off == p->out_len) {
        if (p->is_initiator) {
            /* The initiator keeps |out| to check the echo against. */
            p->sent_at = now;
            p->state = RLY_PING_WAITING;
        } else {
            p->out_len = 0;
        }
        p->out_off = 0;
    }
    return (rly_ssize)n;
}

bool rly_ping_want_write(const rly_ping *p)
{
    if (p->is_initiator)
        return p->state == RLY_PING_SENDING;
    return p->state != RLY_PING_FAILED && p->out_len != 0;
}

bool rly_ping_take_rtt(rly_ping *p, rly_tstamp *prtt)
{
    if (!p->has_rtt)
        return false;
    p->has_rtt = false;
    *prtt = p->rtt;
    return true;
}

rly_ping_state rly_ping_get_state(const rly_ping *p)
{
    return p->state;
}

rly_tstamp rly_ping_get_expiry(const rly_ping *p)
{
    return p->deadline;
}

int rly_ping_handle_expiry(rly_ping *p, rly_tstamp now)
{
    if (p->state == RLY_PING_FAILED || now < p->deadline)
        return 0;
    return (int)fail(p, RLY_ERR_TIMEOUT);
}
