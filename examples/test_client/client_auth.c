/* client_auth.c: --token: authenticate on the relay connection (/meshnet/relay-auth/1.0.0,
 * docs/AUTH.md) before the first hop request. Prints "auth ok" or
 * auth refused status=<STATUS_NAME> text="<the relay's text>"   (then exit 4). */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "proto/auth/auth.h"
#include "proto/circuit/circuit_pb.h"

typedef struct auth_req {
    client *c;
    void (*next)(client *c);
    rly_circuit_pb_reader reader;
    bool is_done;
} auth_req;

static void auth_free(auth_req *a)
{
    rly_circuit_pb_reader_free(&a->reader);
    rly_free(rly_mem_default(), a);
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
        client_fail(a->c, EXIT_FAIL, "bad authentication reply from the relay",
                    used < 0 ? (int)used : RLY_ERR_MALFORMED);
        (void)rly_stream_reset(s);
        return;
    }
    (void)rly_stream_shutdown(s);
    if (resp.status != RLY_CIRCUIT_STATUS_OK) {
        client_out("auth refused status=%s text=\"%s\"", rly_circuit_pb_status_name(resp.status),
                   resp.text);
        client_fail(a->c, EXIT_REFUSED, "the relay refused the token", 0);
        return;
    }
    client_out("auth ok");
    a->next(a->c);
}

static void auth_on_fin(rly_stream *s, void *ud)
{
    auth_req *a = ud;
    if (!a->is_done)
        (void)rly_stream_reset(s); /* no reply: auth_on_close reports it */
}

static void auth_on_close(rly_stream *s, void *ud, int err)
{
    auth_req *a = ud;
    client *c = a->c;
    bool answered = a->is_done;
    auth_free(a);
    if (!answered && !c->is_finishing)
        client_fail(c, EXIT_FAIL, "the relay closed the authentication stream without a reply",
                    err);
}

static const rly_stream_handler auth_handler = {
    .on_data = auth_on_data,
    .on_fin = auth_on_fin,
    .on_close = auth_on_close,
};

static void auth_opened(void *ud, rly_stream *s, int err, const uint8_t *data, size_t len)
{
    auth_req *a = ud;
    client *c = a->c;
    uint8_t small[256];
    rly_dynbuf out;
    if (!s || c->is_finishing) {
        if (s)
            (void)rly_stream_reset(s);
        auth_free(a);
        if (!c->is_finishing)
            client_fail(c, EXIT_FAIL, "the relay does not speak " RLY_AUTH_PROTOCOL, err);
        return;
    }
    rly_stream_set_handler(s, &auth_handler, a);
    rly_dynbuf_init_small(&out, small, sizeof(small), rly_mem_default(), RLY_AUTH_TOKEN_MAX + 16);
    int rv = rly_auth_request_encode((const uint8_t *)c->o.token, strlen(c->o.token), &out);
    if (rv == 0 && rly_stream_write(s, out.data, out.len) != (rly_ssize)out.len)
        rv = RLY_ERR_NOBUF;
    rly_dynbuf_free(&out);
    if (rv != 0) {
        a->is_done = true;
        client_fail(c, EXIT_FAIL, "cannot send the token", rv);
        (void)rly_stream_reset(s);
        return;
    }
    if (len > 0)
        auth_on_data(s, a, data, len);
}

void client_auth_start(client *c, void (*next)(client *c))
{
    if (!c->o.token) {
        next(c);
        return;
    }
    auth_req *a = rly_calloc(rly_mem_default(), 1, sizeof(*a));
    if (!a) {
        client_fail(c, EXIT_FAIL, "cannot authenticate", RLY_ERR_NOMEM);
        return;
    }
    a->c = c;
    a->next = next;
    rly_circuit_pb_reader_init(&a->reader, NULL);
    int rv = rly_swarm_open_stream(c->swarm, c->relay_conn, RLY_AUTH_PROTOCOL, auth_opened, a);
    if (rv != 0) {
        auth_free(a);
        client_fail(c, EXIT_FAIL, "cannot open the authentication stream", rv);
    }
}
