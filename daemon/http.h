/*
 * The HTTP server: evhttp with its limits, the listener and the connection guard (deadlines
 * and caps that slow clients cannot outlast, accepting paused when descriptors run out),
 * the per-connection state a graceful stop waits on, and the reply helpers every answer
 * goes through. It knows no endpoint: whoever starts it hands it one dispatcher (routes.c's
 * table), which gets every request whose target parsed. Every
 * request is answered exactly once: a handler either replies before it returns or hands
 * the request to exactly one pending structure that will. The answers libevent gives on its
 * own (413 over max_body, 400 for malformed HTTP) leave as the same JSON errors, and their
 * connections close with a lingering close (docs/internals.md).
 */
#ifndef JD_HTTP_H
#define JD_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "connector.h"

struct jd;
struct http_server;

#define HTTP_MAX_HEADERS 64

/* Called with every request whose target parsed; path is its path, as sent. */
typedef void (*http_dispatch_fn)(void *ctx, struct evhttp_request *req, const char *path);

/* Listens on the config's address and hands requests to dispatch(ctx, ...). NULL (and
 * logged) when it cannot. */
struct http_server *http_start(struct event_base *base, const struct cfg *c,
                               http_dispatch_fn dispatch, void *ctx);
/* Body size, header size, deadlines, body rate and connection caps from the (re)loaded
 * config; max_connections is held below the descriptor limit (logged when that lowers it). */
void http_apply_limits(struct http_server *s, const struct cfg *c);
/* Stops accepting new connections (SIGTERM); requests in flight still get answers, and
 * each connection closes after its answer. */
void http_stop_accepting(struct http_server *s);
/* Connections with a request being received or answered: a graceful stop waits for them. */
size_t http_busy_connections(const struct http_server *s);
void http_free(struct http_server *s);

/* Every answer goes through here (busy-connection accounting, Connection: close while
 * stopping). body may be NULL. */
void http_send(struct evhttp_request *req, int status, struct evbuffer *body);
/* Replies with a JSON body; takes ownership of `body` (cJSON_Delete). */
void http_reply_json(struct evhttp_request *req, int status, cJSON *body);
/* Replies with a literal JSON text. */
void http_reply_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *text);
/* {"error": code, "message": message} */
void http_reply_error(struct evhttp_request *req, int status, const char *code,
                      const char *message);
/* 503 with Retry-After. */
void http_reply_unavailable(struct jd *jd, struct evhttp_request *req, const char *why);

/* Borrowed view of the request headers for the connectors; returns the count (capped). */
size_t http_collect_headers(struct evhttp_request *req, struct cx_header *out, size_t cap);
/* The request body as one contiguous block (valid until the request is answered). */
const unsigned char *http_body(struct evhttp_request *req, size_t *len);

#endif
