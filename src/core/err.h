/* err.h: the one error space of the project (STYLE.md D.2).
 *
 * Every status-returning function returns int: 0 (RLY_OK) or a negative rly_err. Functions that
 * return a length return rly_ssize: zero or more, or a negative rly_err. The hundreds digit is the
 * class and tells the caller what to do. Codes are append-only: never renumber, never reuse.
 */
#ifndef RLY_CORE_ERR_H
#define RLY_CORE_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef ptrdiff_t rly_ssize;

#define RLY_NODISCARD __attribute__((warn_unused_result))

typedef enum rly_err {
    RLY_OK = 0,
    /* -1xx: flow control of the call itself, not failures. */
    RLY_ERR_AGAIN = -101, /* would block / queue full; retry after an event */
    RLY_ERR_EOF = -102,
    /* -2xx: the peer (or input) broke the protocol or format. */
    RLY_ERR_PROTO = -201,
    RLY_ERR_MALFORMED = -202,
    RLY_ERR_FRAME_TOO_LARGE = -203,
    RLY_ERR_FLOW_CONTROL = -204,
    RLY_ERR_UNEXPECTED_MSG = -205,
    RLY_ERR_HANDSHAKE = -206,
    RLY_ERR_PEER_ID_MISMATCH = -207,
    RLY_ERR_FLOODED = -208,
    RLY_ERR_NEGOTIATION = -209,
    RLY_ERR_UNSUPPORTED =
        -210,                 /* well-formed but not supported (unknown multiaddr code, key type) */
    RLY_ERR_SIGNATURE = -211, /* a signature did not verify */
    RLY_ERR_NON_MINIMAL = -212, /* non-minimal varint encoding */
    RLY_ERR_TRUNCATED = -213,   /* input ended in the middle of a value */
    RLY_ERR_CERTIFICATE = -214, /* a TLS certificate broke the libp2p rules (time, extensions) */
    /* -3xx: policy decisions (answered, the connection survives). */
    RLY_ERR_LIMIT = -301,
    RLY_ERR_RESERVATION_REFUSED = -302,
    RLY_ERR_PERMISSION_DENIED = -303,
    RLY_ERR_NO_RESERVATION = -304,
    RLY_ERR_TIMEOUT = -305,
    /* -4xx: local state, misuse, transport, operator input. */
    RLY_ERR_INVALID_ARG = -401,
    RLY_ERR_INVALID_STATE = -402,
    RLY_ERR_CLOSED = -403,
    RLY_ERR_RESET = -404,
    RLY_ERR_NOBUF = -405, /* a capped buffer would exceed its maximum */
    RLY_ERR_IO = -406,
    RLY_ERR_NOT_FOUND = -407,
    RLY_ERR_PERM = -408,   /* unsafe file permissions */
    RLY_ERR_CONFIG = -409, /* invalid configuration value */
    RLY_ERR_ADDR_IN_USE = -410,
    /* <= -500: fatal for the object that returned it. */
    RLY_ERR_FATAL = -500,
    RLY_ERR_NOMEM = -501,
    RLY_ERR_INTERNAL = -502,
    RLY_ERR_CALLBACK_FAILURE = -503,
    RLY_ERR_CRYPTO = -504,
} rly_err;

/* Classes of rly_err, from the hundreds digit. */
typedef enum rly_err_class {
    RLY_ERR_CLASS_OK = 0,
    RLY_ERR_CLASS_FLOW = 1,
    RLY_ERR_CLASS_PEER = 2,
    RLY_ERR_CLASS_POLICY = 3,
    RLY_ERR_CLASS_LOCAL = 4,
    RLY_ERR_CLASS_FATAL = 5,
} rly_err_class;

/* rly_strerror returns a static, human-readable name for |err| ("unknown error" for codes that
 * are not in the enum). Never NULL. */
const char *rly_strerror(int err);

/* rly_err_is_fatal returns true if |err| is fatal for the object that returned it. */
bool rly_err_is_fatal(int err);

/* rly_err_class_of returns the class of |err|. */
rly_err_class rly_err_class_of(int err);

/* RLY_ASSERT checks cheap internal invariants and stays on in release builds. Never use it on
 * network or operator input: those return an error. */
#define RLY_ASSERT(x)                                                                              \
    do {                                                                                           \
        if (!(x))                                                                                  \
            rly_assert_fail(#x, __FILE__, __LINE__);                                               \
    } while (0)

_Noreturn void rly_assert_fail(const char *expr, const char *file, int line);

/* RLY_IGNORE evaluates |x| and drops its result on purpose (a cast to void does not silence
 * warn_unused_result): for best-effort calls whose failure changes nothing, e.g. a GoAway on a
 * connection that is being closed anyway. */
#define RLY_IGNORE(x)                                                                              \
    do {                                                                                           \
        if (x) {                                                                                   \
        }                                                                                          \
    } while (0)

#define RLY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
