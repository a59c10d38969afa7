/*
 * The route table (routes.c): the one place that names every endpoint and its handler.
 * main.c hands routes_dispatch to the HTTP server with the daemon's struct jd as ctx.
 */
#ifndef JD_ROUTES_H
#define JD_ROUTES_H

#include <event2/http.h>

/* An http_dispatch_fn; ctx is the struct jd. */
void routes_dispatch(void *ctx, struct evhttp_request *req, const char *path);

#endif
