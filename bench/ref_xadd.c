/*
 * Reference (b) for the ingest benchmark: evhttp + hiredis async; each request's body is
 * XADDed to a stream and answered 200 once Redis replied. No verification, no
 * deduplication, no limits: the receiver a team would write in an afternoon, in C.
 * usage: ref_xadd PORT REDIS_PORT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

static redisAsyncContext *redis;

static void on_xadd(redisAsyncContext *c, void *r, void *priv)
{
    struct evhttp_request *req = priv;
    redisReply *reply = r;
    (void)c;
    int ok = reply && reply->type == REDIS_REPLY_STRING;
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add_printf(b, ok ? "{\"status\":\"queued\"}" : "{\"error\":\"redis\"}");
    evhttp_send_reply(req, ok ? 200 : 503, ok ? "OK" : "Unavailable", b);
    if (b)
        evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *argv[5] = {"XADD", "ref:raw", "*", "body", body};
    size_t lens[5] = {4, 7, 1, 4, len};
    if (redisAsyncCommandArgv(redis, on_xadd, req, 5, argv, lens) != REDIS_OK)
        evhttp_send_reply(req, 503, "Unavailable", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ref_xadd PORT REDIS_PORT\n");
        return 2;
    }
    struct event_base *base = event_base_new();
    redis = redisAsyncConnect("127.0.0.1", (int)strtol(argv[2], NULL, 10));
    if (!base || !redis || redis->err || redisLibeventAttach(redis, base) != REDIS_OK) {
        fprintf(stderr, "ref_xadd: cannot connect to redis\n");
        return 1;
    }
    struct evhttp *http = evhttp_new(base);
    if (!http ||
        evhttp_bind_socket(http, "127.0.0.1", (unsigned short)strtol(argv[1], NULL, 10)) != 0) {
        fprintf(stderr, "ref_xadd: cannot listen\n");
        return 1;
    }
    evhttp_set_max_body_size(http, 1024 * 1024);
    evhttp_set_gencb(http, on_request, NULL);
    event_base_dispatch(base);
    return 0;
}
