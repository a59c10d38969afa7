/*
 * The HTTP front: evhttp set-up, one generic callback with a static route table (evhttp
 * routes exact paths only, and our sources live under a prefix), JSON reply helpers, and
 * the connection guard. Every request is answered exactly once: a handler either replies
 * before it returns or hands the request to exactly one pending structure that will.
 */
#ifndef JD_HTTP_H
#define JD_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/http.h>

#include "jd.h"
#include "connector.h"

#define HTTP_MAX_HEADERS 64

int http_start(struct jd *jd);
/* Body size, header size and timeout from the (re)loaded config. */
void http_apply_limits(struct jd *jd);
/* Stops accepting new connections (SIGTERM); requests in flight still get answers. */
void http_stop_accepting(struct jd *jd);
void http_free(struct jd *jd);

/* Every answer goes through here (busy-connection accounting, Connection: close while
 * stopping). body may be NULL. */
void http_send(struct evhttp_request *req, int status, struct evbuffer *body);
/* Connections with a request being received or answered: a graceful stop waits for them. */
size_t http_busy_connections(void);
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
/* Bearer token check against [journeyd] api_tokens; replies 401 and returns 0 when bad. */
int http_require_token(struct jd *jd, struct evhttp_request *req);

#endif
