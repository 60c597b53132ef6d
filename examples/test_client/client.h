/* client.h: what the files of the example client (test_client) share.
 *
 *   test_client.c     options, set-up, signals, the deadline and the exit code
 *   client_relay.c    the relay: RESERVE (voucher check, refresh), CONNECT, the STOP handler
 *   client_steps.c    what runs on an established connection: ping, identify, echo, send, hold
 *   client_serve.c    the echo and sink protocols the listening client serves
 *
 * Everything runs on one libuv loop; nothing here is thread-safe. */
#ifndef RLY_EXAMPLES_TEST_CLIENT_CLIENT_H
#define RLY_EXAMPLES_TEST_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "app/log_sink.h"
#include "core/multiaddr.h"
#include "core/peerid.h"
#include "swarm/swarm.h"

#define CLIENT_ECHO_PROTOCOL "/mesh-relay/echo/1.0.0"
#define CLIENT_SINK_PROTOCOL "/mesh-relay/sink/1.0.0"
#define CLIENT_DEFAULT_RELAY "/ip4/127.0.0.1/tcp/4001"
/* Most --auth-streams, and longest --auth-raw (bytes). */
#define AUTH_STREAMS_MAX 16
#define AUTH_RAW_MAX 4096

/* Exit codes (README "Example client"). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_TIMEOUT = 3,
    EXIT_REFUSED = 4,
};

typedef enum client_mode {
    MODE_LISTEN = 0, /* reserve on the relay and serve incoming circuits */
    MODE_DIAL_RELAY, /* --dial PEER_ID: CONNECT through the relay */
    MODE_DIAL_DIRECT /* --dial MULTIADDR: a plain TCP connection (no relay) */
} client_mode;

typedef struct client_opts {
    const char *relay; /* --relay MULTIADDR */
    const char *name;  /* --name NAME: identity file; NULL: ephemeral key */
    const char *dial;  /* --dial PEER_ID or MULTIADDR */
    unsigned pings;
    bool identify;
    const char *echo;        /* --echo TEXT */
    uint64_t echo_bytes;     /* --echo-bytes N (0: none) */
    const char *token;       /* --token TOKEN: authenticate to the relay first */
    const uint8_t *auth_raw; /* --auth-raw HEX: these bytes instead of the AuthRequest */
    size_t auth_raw_len;
    unsigned auth_streams; /* --auth-streams N: N authentication streams at once (0: 1) */
    bool has_send;
    uint64_t send_bytes;
    bool reserve_only, hold, no_refresh, stall;
    uint64_t timeout_ms; /* 0: none */
    rly_log_level level;
} client_opts;

typedef struct client {
    uv_loop_t loop;
    uv_timer_t deadline;
    uv_timer_t refresh; /* listen mode: the next RESERVE (or the expiry with --no-refresh) */
    uv_signal_t sigint, sigterm;
    rly_swarm *swarm;
    rly_log log;
    rly_log_sink sink;
    client_opts o;
    client_mode mode;
    rly_multiaddr relay_ma;  /* --relay without /p2p */
    rly_multiaddr target_ma; /* MODE_DIAL_DIRECT */
    rly_peerid self, target; /* target: MODE_DIAL_RELAY */
    rly_conn *relay_conn;    /* our connection to the relay */
    rly_peerid relay_id;     /* learnt in the Noise handshake */
    rly_conn *conn;          /* the connection the steps run on (relayed or direct) */
    uint64_t reserve_expire; /* UNIX seconds of the reservation in force; 0: none */
    bool is_refreshing;      /* a RESERVE after the first is in flight */
    unsigned pings_left;
    bool want_identify, want_echo, want_send, want_hold;
    uint64_t hold_start;   /* uv_hrtime() when the hold began */
    bool is_finishing;     /* client_finish was called */
    bool is_swarm_closing; /* our own shutdown closes the connections now */
    int exit_code;         /* -1 until decided */
} client;

/* test_client.c */
/* client_finish records |code| (the first one wins) and, on the next loop turn, closes the
 * swarm and every handle; the loop then ends. */
void client_finish(client *c, int code);
/* client_fail prints "test_client: <what>" on stderr and finishes with |code|. */
void client_fail(client *c, int code, const char *what, int err);
/* client_out prints one line on stdout (newline added) and flushes it. */
void client_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* client_pid writes |p| as text into |buf|; returns |buf|. */
const char *client_pid(const rly_peerid *p, char *buf, size_t cap);
/* client_reason writes |err| as one token for "reason=" ("closed", "reset", "timed_out", ...). */
const char *client_reason(int err, char *buf, size_t cap);

/* client_auth.c */
/* client_auth_start authenticates on the relay connection with --token (or --auth-raw, on
 * --auth-streams streams), then calls |next|; without either it calls |next| at once. A refusal
 * finishes with EXIT_REFUSED. */
void client_auth_start(client *c, void (*next)(client *c));

/* client_relay.c */
/* client_relay_start dials the relay, then RESERVEs (listening) or CONNECTs (--dial PEER_ID).
 * Returns 0 or an rly_swarm_dial error. */
int client_relay_start(client *c);
/* client_relay_register registers the STOP handler (listening only). Returns 0 or RLY_ERR_LIMIT. */
int client_relay_register(client *c);
/* client_relay_conn_closed: our connection to the relay is gone (the swarm's observer). */
void client_relay_conn_closed(client *c, rly_conn *conn, int err, const char *cause);
/* client_relay_stop stops the refresh timer (shutdown). */
void client_relay_stop(client *c);

/* client_steps.c */
/* client_steps_start runs the requested steps on |conn| (borrowed), then finishes with 0. */
void client_steps_start(client *c, rly_conn *conn);
/* client_steps_conn_closed: |conn| closed with |err| (ends a --hold, fails running steps). */
void client_steps_conn_closed(client *c, rly_conn *conn, int err);

/* client_serve.c */
/* client_serve_register registers the echo and sink protocols. Returns 0 or RLY_ERR_LIMIT. */
int client_serve_register(client *c);

#endif
