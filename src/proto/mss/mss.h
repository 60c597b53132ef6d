/* mss.h: multistream-select 1.0, one state machine for both roles (PROTOCOLS.md 2).
 *
 * Every message is uvarint(len) || text || '\n', where len counts the newline and is at most
 * RLY_MSS_MAX_MSG. Both sides open with the header "/multistream/1.0.0"; the dialer then
 * proposes protocol IDs, and the listener echoes the one it accepts or answers "na".
 *
 *   LISTENER  sends its header at once (go style, PROTOCOLS.md 2 "listener behaviour"), accepts
 *             the dialer's header and first proposal in one read, answers "ls" with "na", and
 *             fails after |max_attempts| refused proposals. Once it echoes a protocol it is DONE
 *             and stops consuming: bytes after the proposal line belong to the agreed protocol
 *             (lazy dialers, PROTOCOLS.md 10.1).
 *   DIALER    sends the header and its first proposal together and waits for both echo lines
 *             (non-lazy V1, as the relay does for STOP streams). "na" moves on to the next
 *             proposal; "na" to the last one leaves the machine REFUSED.
 *
 * Sans-IO (STYLE.md C): bytes go in through rly_mss_recv, bytes come out of rly_mss_send, no
 * clock (the shell times out a stuck negotiation). One instance runs per stream, so it stays
 * small: pending output is kept as a few flags and rendered on demand, and only a message split
 * across reads is copied into a lazily allocated buffer (at most RLY_MSS_MAX_MSG + 2 bytes,
 * freed when negotiation ends). */
#ifndef RLY_PROTO_MSS_H
#define RLY_PROTO_MSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* The protocol ID of multistream-select itself, sent as the first message by both sides. */
#define RLY_MSS_HEADER "/multistream/1.0.0"
/* Largest message length (the uvarint value, newline included) that go and js accept. */
#define RLY_MSS_MAX_MSG 1024
/* Longest protocol ID: a message is the ID plus its newline. */
#define RLY_MSS_MAX_PROTOCOL (RLY_MSS_MAX_MSG - 1)
/* Default for rly_mss_settings.max_attempts: refused proposals before the listener gives up. */
#define RLY_MSS_MAX_ATTEMPTS 16
/* Most protocols a dialer may offer in turn. */
#define RLY_MSS_MAX_PROPOSALS 8

typedef enum rly_mss_role {
    RLY_MSS_LISTENER = 0,
    RLY_MSS_DIALER = 1,
} rly_mss_role;

typedef enum rly_mss_state {
    RLY_MSS_NEGOTIATING = 0, /* feed it input, drain its output */
    RLY_MSS_DONE = 1,        /* agreed: rly_mss_protocol names the protocol */
    RLY_MSS_REFUSED = 2,     /* dialer: the listener answered "na" to every proposal */
    RLY_MSS_FAILED = 3,      /* malformed input, too many attempts, callback or memory failure */
} rly_mss_state;

/* rly_mss_select_fn asks the listener's owner whether the protocol ID |proto| (|len| bytes, NOT
 * NUL-terminated, borrowed for the call) is supported. Returns 1 to accept, 0 to answer "na", or
 * RLY_ERR_CALLBACK_FAILURE to abort the negotiation. It must not call back into the rly_mss. */
typedef int (*rly_mss_select_fn)(void *user_data, const char *proto, size_t len);

typedef struct rly_mss_settings {
    /* Listener: decides on each proposal. Required for RLY_MSS_LISTENER. */
    rly_mss_select_fn select;
    void *user_data;
    /* Dialer: protocol IDs to propose, in order (1..RLY_MSS_MAX_PROPOSALS, each 1..
     * RLY_MSS_MAX_PROTOCOL bytes without '\n'). The array and strings are borrowed until
     * rly_mss_del: they are usually static protocol constants. */
    const char *const *protocols;
    size_t nprotocols;
    /* Listener: refused proposals ("na" answers, "ls" included) before RLY_ERR_NEGOTIATION. */
    uint32_t max_attempts;
} rly_mss_settings;

typedef struct rly_mss rly_mss;

/* rly_mss_settings_default fills |s| with the defaults (max_attempts = RLY_MSS_MAX_ATTEMPTS, no
 * callback, no protocols). */
void rly_mss_settings_default(rly_mss_settings *s);

/* rly_mss_new creates a negotiation in |role|. Its first output (the listener's header, or the
 * dialer's header and first proposal) is pending at once. |settings| is copied (its protocol
 * list stays borrowed, see above); a max_attempts of 0 means the default. Allocates from |mem|
 * (NULL: default). Returns 0, RLY_ERR_INVALID_ARG (no select callback for a listener, bad
 * protocol list for a dialer, unknown role) or RLY_ERR_NOMEM. */
RLY_NODISCARD int rly_mss_new(rly_mss **pm, rly_mss_role role, const rly_mss_settings *settings,
                              rly_mem *mem);

/* rly_mss_del releases |m|. NULL-safe. */
void rly_mss_del(rly_mss *m);

/* rly_mss_recv feeds |len| bytes of |in| (borrowed for the call). It consumes whole messages and
 * stops right after the line that ends the negotiation, so when the state becomes DONE the bytes
 * from in + returned count on belong to the agreed protocol. After DONE it consumes nothing.
 * Returns the number of bytes consumed (all of them while negotiating: a partial message is
 * kept), or:
 *   RLY_ERR_NEGOTIATION      malformed message (bad or non-minimal uvarint, length 0 or over
 *                            RLY_MSS_MAX_MSG, no trailing newline), a first message other than
 *                            the header, too many refused proposals (listener), an unexpected
 *                            answer (dialer), or "na" to the last proposal (state REFUSED);
 *   RLY_ERR_CALLBACK_FAILURE the select callback aborted;
 *   RLY_ERR_NOMEM            (state FAILED).
 * Once the machine has failed or been refused, every call returns that error again. */
RLY_NODISCARD rly_ssize rly_mss_recv(rly_mss *m, const uint8_t *in, size_t len);

/* rly_mss_send writes pending output into |dest| (|destlen| bytes), as much as fits; the rest
 * stays pending for the next call. Returns the number of bytes written (0: nothing pending). */
RLY_NODISCARD rly_ssize rly_mss_send(rly_mss *m, uint8_t *dest, size_t destlen);

/* rly_mss_want_write returns true while output is pending. The listener's echo is pending when
 * it reaches DONE: send it before handing the stream to the agreed protocol. */
bool rly_mss_want_write(const rly_mss *m);

/* rly_mss_get_state returns where the negotiation stands. */
rly_mss_state rly_mss_get_state(const rly_mss *m);

/* rly_mss_protocol returns the agreed protocol ID (NUL-terminated, owned by |m|, valid until
 * rly_mss_del) once the state is DONE, NULL before. |*plen| (if not NULL) gets its length. */
const char *rly_mss_protocol(const rly_mss *m, size_t *plen);

#endif
