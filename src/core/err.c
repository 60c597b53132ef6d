#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>

const char *rly_strerror(int err)
{
    switch (err) {
    case RLY_OK: return "success";
    case RLY_ERR_AGAIN: return "would block";
    case RLY_ERR_EOF: return "end of stream";
    case RLY_ERR_PROTO: return "protocol error";
    case RLY_ERR_MALFORMED: return "malformed input";
    case RLY_ERR_FRAME_TOO_LARGE: return "frame too large";
    case RLY_ERR_FLOW_CONTROL: return "flow control violation";
    case RLY_ERR_UNEXPECTED_MSG: return "unexpected message";
    case RLY_ERR_HANDSHAKE: return "handshake failed";
    case RLY_ERR_PEER_ID_MISMATCH: return "peer id mismatch";
    case RLY_ERR_FLOODED: return "flood limit exceeded";
    case RLY_ERR_NEGOTIATION: return "protocol negotiation failed";
    case RLY_ERR_UNSUPPORTED: return "unsupported";
    case RLY_ERR_SIGNATURE: return "invalid signature";
    case RLY_ERR_NON_MINIMAL: return "non-minimal varint";
    case RLY_ERR_TRUNCATED: return "truncated input";
    case RLY_ERR_CERTIFICATE: return "certificate rejected";
    case RLY_ERR_LIMIT: return "resource limit exceeded";
    case RLY_ERR_RESERVATION_REFUSED: return "reservation refused";
    case RLY_ERR_PERMISSION_DENIED: return "permission denied";
    case RLY_ERR_NO_RESERVATION: return "no reservation";
    case RLY_ERR_TIMEOUT: return "timed out";
    case RLY_ERR_INVALID_ARG: return "invalid argument";
    case RLY_ERR_INVALID_STATE: return "invalid state";
    case RLY_ERR_CLOSED: return "closed";
    case RLY_ERR_RESET: return "reset";
    case RLY_ERR_NOBUF: return "buffer limit reached";
    case RLY_ERR_IO: return "i/o error";
    case RLY_ERR_NOT_FOUND: return "not found";
    case RLY_ERR_PERM: return "unsafe permissions";
    case RLY_ERR_CONFIG: return "invalid configuration";
    case RLY_ERR_ADDR_IN_USE: return "address already in use";
    case RLY_ERR_FATAL: return "fatal error";
    case RLY_ERR_NOMEM: return "out of memory";
    case RLY_ERR_INTERNAL: return "internal error";
    case RLY_ERR_CALLBACK_FAILURE: return "callback failure";
    case RLY_ERR_CRYPTO: return "crypto failure";
    }
    return "unknown error";
}

bool rly_err_is_fatal(int err)
{
    return err <= RLY_ERR_FATAL;
}

rly_err_class rly_err_class_of(int err)
{
    if (err >= 0)
        return RLY_ERR_CLASS_OK;
    if (err <= RLY_ERR_FATAL)
        return RLY_ERR_CLASS_FATAL;
    return (rly_err_class)(-err / 100);
}

void rly_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
