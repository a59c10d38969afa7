/*
 * The route table: every endpoint journeyd serves, by method mask and exact path or
 * prefix, and the handler that answers it. It sits at the top of daemon/ (only main.c is
 * above it): http.c runs the server and hands each request here, and the handlers below
 * know nothing of routing. The probes and GET /metrics are answered here because they
 * read across the daemon's modules (the Redis connections, in-flight work, look-ups).
 */
#include <string.h>

#include <event2/buffer.h>

#include "api.h"
#include "http.h"
#include "ingest.h"
#include "jd.h"
#include "metrics.h"
#include "routes.h"
#include "util.h"

enum route_kind { ROUTE_EXACT, ROUTE_PREFIX };

struct route {
    enum route_kind kind;
    const char *path;
    int methods; /* EVHTTP_REQ_* mask */
    void (*handler)(struct jd *jd, struct evhttp_request *req, const char *rest);
};

static void handle_healthz(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)jd;
    (void)rest;
    http_reply_text(req, 200, "application/json", "{\"status\":\"ok\"}");
}

static void handle_readyz(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    int ready = (!jd->rq_ingest || rq_is_ready(jd->rq_ingest)) &&
                (!jd->rq_worker || rq_is_ready(jd->rq_worker)) &&
                (!jd->rq_api || rq_is_ready(jd->rq_api)) && !jd->stopping;
    if (ready)
        http_reply_text(req, 200, "application/json", "{\"status\":\"ready\"}");
    else
        http_reply_unavailable(jd, req, jd->stopping ? "stopping" : "redis not ready");
}

/* The counters metrics.c owns, with the gauges sampled from the rest of the daemon. */
static void handle_metrics(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    const struct metrics_gauges g = {
        .ingest_inflight = (int64_t)jd->ingest_inflight,
        .outbound = jd->outbound,
        .redis = {jd->rq_ingest, jd->rq_worker, jd->rq_api},
        .uptime_s = (jd_now_ms() - jd->started_ms) / 1000,
    };
    struct evbuffer *b = metrics_render(&jd->metrics, &g);
    if (!b) {
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    http_send(req, 200, b);
    evbuffer_free(b);
}

/* Longest paths first within each kind; the first match wins. */
static const struct route routes[] = {
    {ROUTE_EXACT, "/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, handle_healthz},
    {ROUTE_EXACT, "/readyz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, handle_readyz},
    {ROUTE_PREFIX, "/hooks/", EVHTTP_REQ_POST | EVHTTP_REQ_GET, ingest_handle_hook},
    {ROUTE_EXACT, "/c", EVHTTP_REQ_GET, ingest_handle_click},
    {ROUTE_EXACT, "/v1/events", EVHTTP_REQ_POST, ingest_handle_events},
    {ROUTE_EXACT, "/v1/journey", EVHTTP_REQ_GET, api_handle_journey},
    {ROUTE_PREFIX, "/v1/contacts/", EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, api_handle_contact},
    {ROUTE_EXACT, "/v1/status", EVHTTP_REQ_GET, api_handle_status},
    {ROUTE_EXACT, "/v1/dead/replay", EVHTTP_REQ_POST, api_handle_replay},
    {ROUTE_EXACT, "/v1/reports/attribution", EVHTTP_REQ_GET, api_handle_attribution},
    {ROUTE_EXACT, "/v1/reports/funnel", EVHTTP_REQ_GET, api_handle_funnel},
    {ROUTE_EXACT, "/v1/reports/sla", EVHTTP_REQ_GET, api_handle_sla},
    {ROUTE_EXACT, "/v1/spend", EVHTTP_REQ_POST, api_handle_spend},
    {ROUTE_EXACT, "/metrics", EVHTTP_REQ_GET, handle_metrics},
};

void routes_dispatch(void *ctx, struct evhttp_request *req, const char *path)
{
    struct jd *jd = ctx;
    int method = (int)evhttp_request_get_command(req);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        size_t plen = strlen(r->path);
        const char *rest = NULL;
        if (r->kind == ROUTE_EXACT && strcmp(path, r->path) == 0)
            rest = "";
        else if (r->kind == ROUTE_PREFIX && strncmp(path, r->path, plen) == 0)
            rest = path + plen;
        if (!rest)
            continue;
        if (!(method & r->methods)) {
            http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path");
            return;
        }
        r->handler(jd, req, rest);
        return;
    }
    http_reply_error(req, 404, "not_found", "no such endpoint");
}
