/*
 * Reference (a) for the ingest benchmark: a bare libevent evhttp server that answers 202
 * to every request and does nothing else. The ceiling for one evhttp loop on this box.
 * usage: ref_evhttp PORT
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add(b, "{\"status\":\"accepted\"}", 21);
    evhttp_send_reply(req, 202, "Accepted", b);
    if (b)
        evbuffer_free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ref_evhttp PORT\n");
        return 2;
    }
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http ||
        evhttp_bind_socket(http, "127.0.0.1", (unsigned short)strtol(argv[1], NULL, 10)) != 0) {
        fprintf(stderr, "ref_evhttp: cannot listen\n");
        return 1;
    }
    evhttp_set_max_body_size(http, 1024 * 1024);
    evhttp_set_gencb(http, on_request, NULL);
    event_base_dispatch(base);
    return 0;
}
