/* ping.h: /ipfs/ping/1.0.0, responder and initiator (PROTOCOLS.md 7; specs ping/ping.md).
 *
 * The initiator writes 32 random bytes, the responder writes back every complete 32-byte block
 * it reads, and this repeats on the same stream until the initiator closes its write side. There
 * is no framing.
 *
 * Sans-IO and allocation-free: an rly_ping is embedded in its stream and holds at most one
 * partial inbound block and one outbound block. Back-pressure is explicit: a responder that has
 * an echo waiting and a second complete block in hand stops consuming until the echo is sent.
 * The payload comes from the caller (the shell fills it with rly_crypto_random), so this module
 * never touches crypto or a clock: |now| is passed in. Timers are pull-only (STYLE.md C rule 4):
 * the initiator's echo deadline and the responder's idle deadline come out of
 * rly_ping_get_expiry. */
#ifndef RLY_PROTO_PING_H
#define RLY_PROTO_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/time.h"

#define RLY_PING_PROTOCOL "/ipfs/ping/1.0.0"
/* Size of one ping and of its echo. */
#define RLY_PING_SIZE 32
/* Default echo deadline for an initiator (rust-libp2p waits 20 s). */
#define RLY_PING_ECHO_TIMEOUT (20 * RLY_NS_PER_S)
/* Default time a responder waits for the next complete ping: above rust's 15 s interval and the
 * 20 s floor PROTOCOLS.md 7 asks of a relay. */
#define RLY_PING_IDLE_TIMEOUT (30 * RLY_NS_PER_S)

typedef struct rly_ping_settings {
    rly_tstamp echo_timeout; /* initiator: from rly_ping_start to the complete echo */
    rly_tstamp idle_timeout; /* responder: from init or the last complete ping to the next */
} rly_ping_settings;

typedef enum rly_ping_state {
    RLY_PING_IDLE = 0,    /* responder: always; initiator: no ping outstanding */
    RLY_PING_SENDING = 1, /* initiator: the payload is not all written yet */
    RLY_PING_WAITING = 2, /* initiator: payload written, echo not complete */
    RLY_PING_FAILED = 3,  /* a bad echo, unexpected bytes or a timeout; see rly_ping_recv */
} rly_ping_state;

/* Embedded in the stream object; the members are private to ping.c. */
typedef struct rly_ping {
    rly_ping_settings settings;
    rly_ping_state state;
    bool is_initiator;
    bool has_rtt;
    int err;
    uint8_t in[RLY_PING_SIZE];  /* responder: partial block; initiator: echo so far */
    uint8_t out[RLY_PING_SIZE]; /* responder: block to echo; initiator: the payload */
    uint8_t in_len;
    uint8_t out_len; /* responder: 0 or RLY_PING_SIZE while an echo is pending */
    uint8_t out_off; /* bytes of |out| already written */
    rly_tstamp sent_at;
    rly_tstamp rtt;
    rly_tstamp deadline;
} rly_ping;

/* rly_ping_settings_default fills |s| with RLY_PING_ECHO_TIMEOUT and RLY_PING_IDLE_TIMEOUT. */
void rly_ping_settings_default(rly_ping_settings *s);

/* rly_ping_init sets up |p| as initiator or responder at time |now|. |settings| is copied (NULL:
 * the defaults). An rly_ping holds no resources, so there is nothing to free. */
void rly_ping_init(rly_ping *p, bool is_initiator, const rly_ping_settings *settings,
                   rly_tstamp now);

/* rly_ping_start queues one ping carrying |payload| (RLY_PING_SIZE bytes, copied) and arms the
 * echo deadline at |now| + echo_timeout.
 * Returns 0, RLY_ERR_INVALID_STATE (a responder, a ping already outstanding, or FAILED). */
RLY_NODISCARD int rly_ping_start(rly_ping *p, const uint8_t *payload, rly_tstamp now);

/* rly_ping_recv feeds |len| bytes of |in| (borrowed) received at |now|.
 * Responder: returns the bytes consumed, which is fewer than |len| only when an echo is waiting
 * and another complete block has arrived: call rly_ping_send, then rly_ping_recv with the rest.
 * Initiator: returns |len|; when the echo completes, rly_ping_take_rtt reports the round trip.
 * Errors (the state becomes FAILED and every later call returns the same code):
 *   RLY_ERR_PROTO          the echo differs from the payload;
 *   RLY_ERR_UNEXPECTED_MSG initiator: bytes while no complete payload is awaiting an echo. */
RLY_NODISCARD rly_ssize rly_ping_recv(rly_ping *p, const uint8_t *in, size_t len, rly_tstamp now);

/* rly_ping_send writes pending output (a payload or an echo) into |dest| (|destlen| bytes), as
 * much as fits. The initiator's round trip is timed from the call at |now| that writes the
 * payload's last byte. Returns the bytes written (0: nothing pending) or the stored error once
 * FAILED. */
RLY_NODISCARD rly_ssize rly_ping_send(rly_ping *p, uint8_t *dest, size_t destlen, rly_tstamp now);

/* rly_ping_want_write returns true while output is pending. */
bool rly_ping_want_write(const rly_ping *p);

/* rly_ping_take_rtt returns true once per completed ping and stores its round-trip time (ns) in
 * |*prtt|. */
bool rly_ping_take_rtt(rly_ping *p, rly_tstamp *prtt);

/* rly_ping_get_state returns the state (see rly_ping_state). */
rly_ping_state rly_ping_get_state(const rly_ping *p);

/* rly_ping_get_expiry returns the next deadline (RLY_TSTAMP_MAX: none). */
rly_tstamp rly_ping_get_expiry(const rly_ping *p);

/* rly_ping_handle_expiry checks the deadline at |now|. Returns 0 (not yet, or none) or
 * RLY_ERR_TIMEOUT (the state becomes FAILED): the shell closes the stream. */
RLY_NODISCARD int rly_ping_handle_expiry(rly_ping *p, rly_tstamp now);

#endif
