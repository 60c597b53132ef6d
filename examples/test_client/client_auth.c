/* client_auth.c: --token: authenticate on the relay connection (/meshnet/relay-auth/1.0.0,
 * docs/AUTH.md) before the first hop request. Prints "auth ok" or
 * auth refused status=<STATUS_NAME> text="<the relay's text>"   (then exit 4).
 *
 * For the relay's tests: --auth-raw HEX sends those bytes instead of the AuthRequest (a framing
 * error, say), and --auth-streams N opens N authentication streams at once, sends the request on
 * each once all are open, and prints "auth streams answered=<A> reset=<R>" before the verdict:
 * "auth ok" if one was accepted, else the first refusal. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "proto/auth/auth.h"
#include "proto/circuit/circuit_pb.h"

/* The authentication as a whole: |nstreams| exchanges. */
typedef struct auth_run {
    client *c;
    void (*next)(client *c);
    unsigned nstreams, opened, ended;      /* streams asked for, open callbacks seen, ended */
    unsigned answered, reset;              /* how they ended: a reply, or none */
    bool ok, refused;                      /* some reply was OK / a refusal */
    bool is_busy;                          /* auth_opened is working on it: it may not end yet */
    rly_auth_response refusal;             /* the first refusal */
    rly_stream *streams[AUTH_STREAMS_MAX]; /* open ones waiting for the request */
} auth_run;

/* One stream of a run. */
typedef struct auth_req {
    auth_run *run;
    rly_circuit_pb_reader reader;
    bool is_done; /* a reply came (or the request could not be sent) */
} auth_req;

static void run_end(auth_run *run)
{
    client *c = run->c;
    bool multi = run->nstreams > 1;
    if (multi)
        client_out("auth streams answered=%u reset=%u", run->answered, run->reset);
    if (run->ok) {
        client_out("auth ok");
        run->next(c);
    } else if (run->refused) {
        client_out("auth refused status=%s text=\"%s\"",
                   rly_circuit_pb_status_name(run->refusal.status), run->refusal.text);
        client_fail(c, EXIT_REFUSED, "the relay refused the token", 0);
    } else if (!c->is_finishing) {
        client_fail(c, EXIT_FAIL, "the relay closed the authentication stream without a reply",
                    RLY_ERR_RESET);
    }
    rly_free(rly_mem_default(), run);
}

/* The run ends once every stream has, and not while auth_opened is working on it. */
static void maybe_end(auth_run *run)
{
    if (run->ended == run->nstreams && !run->is_busy)
        run_end(run);
}

static void stream_ended(auth_run *run)
{
    run->ended++;
    maybe_end(run);
}

static void auth_on_data(rly_stream *s, void *ud, const uint8_t *data, size_t len)
{
    auth_req *a = ud;
    const uint8_t *msg;
    size_t msglen;
    rly_auth_response resp;
    (void)rly_stream_consume(s, len);
    if (a->is_done)
        return;
    rly_ssize used = rly_circuit_pb_reader_recv(&a->reader, data, len, &msg, &msglen);
    if (used >= 0 && !msg)
        return;
    a->is_done = true;
    if (used < 0 || rly_auth_response_decode(msg, msglen, &resp) != 0) {
        client_fail(a->run->c, EXIT_FAIL, "bad authentication reply from the relay",
                    used < 0 ? (int)used : RLY_ERR_MALFORMED);
        (void)rly_stream_reset(s);
        return;
    }
    (void)rly_stream_shutdown(s);
    a->run->answered++;
    if (resp.status == RLY_CIRCUIT_STATUS_OK) {
        a->run->ok = true;
    } else if (!a->run->refused) {
        a->run->refused = true;
        a->run->refusal = resp;
    }
}

static void auth_on_fin(rly_stream *s, void *ud)
{
    auth_req *a = ud;
    if (!a->is_done)
        (void)rly_stream_reset(s); /* no reply: auth_on_close counts it */
}

static void auth_on_close(rly_stream *s, void *ud, int err)
{
    auth_req *a = ud;
    auth_run *run = a->run;
    if (!a->is_done)
        run->reset++;
    for (unsigned i = 0; i < run->nstreams; i++)
        if (run->streams[i] == s)
            run->streams[i] = NULL;
    rly_circuit_pb_reader_free(&a->reader);
    rly_free(rly_mem_default(), a);
    stream_ended(run);
}

static const rly_stream_handler auth_handler = {
    .on_data = auth_on_data,
    .on_fin = auth_on_fin,
    .on_close = auth_on_close,
};

/* The request: --auth-raw's bytes, or the AuthRequest carrying --token. */
static int request_bytes(const client *c, rly_dynbuf *out)
{
    if (c->o.auth_raw)
        return rly_dynbuf_append(out, c->o.auth_raw, c->o.auth_raw_len);
    return rly_auth_request_encode((const uint8_t *)c->o.token, strlen(c->o.token), out);
}

static void send_request(client *c, rly_stream *s)
{
    auth_req *a = s->handler_ud;
    uint8_t small[256];
    rly_dynbuf out;
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_AUTH_TOKEN_MAX + 16);
    int rv = request_bytes(c, &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        a->is_done = true;
        client_fail(c, EXIT_FAIL, "cannot send the token", rv);
        (void)rly_stream_reset(s);
    }
}

static void auth_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    auth_req *a = ud;
    auth_run *run = a->run;
    client *c = run->c;
    run->opened++;
    run->is_busy = true;
    if (!s || c->is_finishing) {
        if (s)
            (void)rly_stream_reset(s);
        if (!c->is_finishing && run->nstreams == 1)
            client_fail(c, EXIT_FAIL, "the relay does not speak " RLY_AUTH_PROTOCOL, err);
        run->reset++;
        rly_circuit_pb_reader_free(&a->reader);
        rly_free(rly_mem_default(), a);
        stream_ended(run);
    } else {
        rly_stream_set_handler(s, &auth_handler, a);
        run->streams[run->opened - 1] = s;
        if (len > 0)
            auth_on_data(s, a, data, len);
    }
    /* All open (or refused): the requests go out together. */
    for (unsigned i = 0; run->opened == run->nstreams && i < run->nstreams; i++)
        if (run->streams[i])
            send_request(c, run->streams[i]);
    run->is_busy = false;
    maybe_end(run);
}

void client_auth_start(client *c, void (*next)(client *c))
{
    if (!c->o.token && !c->o.auth_raw) {
        next(c);
        return;
    }
    auth_run *run = rly_calloc(rly_mem_default(), 1, sizeof(*run));
    if (!run) {
        client_fail(c, EXIT_FAIL, "cannot authenticate", RLY_ERR_NOMEM);
        return;
    }
    run->c = c;
    run->next = next;
    run->nstreams = c->o.auth_streams ? c->o.auth_streams : 1;
    for (unsigned i = 0; i < run->nstreams; i++) {
        auth_req *a = rly_calloc(rly_mem_default(), 1, sizeof(*a));
        int rv = a ? 0 : RLY_ERR_NOMEM;
        if (a) {
            a->run = run;
            rly_circuit_pb_reader_init(&a->reader, NULL);
            rv = rly_swarm_open_stream(c->swarm, c->relay_conn, RLY_AUTH_PROTOCOL, auth_opened, a);
        }
        if (rv != 0) {
            if (a) {
                rly_circuit_pb_reader_free(&a->reader);
                rly_free(rly_mem_default(), a);
            }
            /* Streams already asked for end on their own; the run ends with them. */
            run->nstreams = i;
            client_fail(c, EXIT_FAIL, "cannot open the authentication stream", rv);
            if (i == 0)
                rly_free(rly_mem_default(), run);
            return;
        }
    }
}
