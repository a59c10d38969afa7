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
#include "api_dead.h"
#include "common.h"
#include "http.h"
#include "ingest.h"
#include "jd.h"
#include "metrics.h"
#include "outbox.h"
#include "routes.h"
#include "ui.h"
#include "sources.h"
#include "util.h"

enum route_kind { ROUTE_EXACT, ROUTE_PREFIX };

/* Who may call a route: anyone (the probes, the webhook doors, whose connectors check the
 * provider's own signature), or a bearer token of at least this scope (DESIGN §7). */
enum route_access { ROUTE_OPEN, ROUTE_READ, ROUTE_WRITE, ROUTE_ADMIN };

struct route {
    enum route_kind kind;
    const char *path;
    int methods; /* EVHTTP_REQ_* mask */
    enum route_access access;
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
    outbox_metrics(jd->outbox, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    http_send(req, 200, b);
    evbuffer_free(b);
}

/* Who is asking (DESIGN §7, §7b): a bearer token from api_tokens, else (only without an
 * Authorization header) a dashboard session cookie, which stands for the token it was
 * opened with. 1 with *scope set; 0 when neither; -1 for a cookie-borne request other than
 * GET or HEAD without the dashboard's header (CSRF: another site's form cannot set it). */
static int request_scope(struct jd *jd, struct evhttp_request *req, enum cfg_scope *scope)
{
    struct cx_header hdrs[HTTP_MAX_HEADERS];
    size_t n = http_collect_headers(req, hdrs, HTTP_MAX_HEADERS);
    const struct cfg *c = jd->cfg;
    int i = cx_bearer_match(hdrs, n, (const char *const *)c->api_tokens, c->napi_tokens);
    if (i >= 0) {
        *scope = c->api_token_scopes[i];
        return 1;
    }
    int csrf_ok = 0;
    if (cx_header_get(hdrs, n, "Authorization") || !ui_session_scope(jd, req, scope, &csrf_ok))
        return 0;
    int method = (int)evhttp_request_get_command(req);
    return (method & (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)) || csrf_ok ? 1 : -1;
}

/* GET /v1/dead answers by the token's scope (the bodies only for admin): authorize() has
 * let the request through, so its token (or session) is known. */
static void handle_dead_list(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    enum cfg_scope scope = CFG_SCOPE_READ;
    if (request_scope(jd, req, &scope) != 1)
        scope = CFG_SCOPE_READ;
    api_handle_dead_list(jd, req, rest, scope);
}

/* Longest paths first within each kind; the first row whose path and method match wins,
 * so one path may have a row per access level (reading a contact, erasing it). */
static const struct route routes[] = {
    {ROUTE_EXACT, "/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_OPEN, handle_healthz},
    {ROUTE_EXACT, "/readyz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_OPEN, handle_readyz},
    {ROUTE_PREFIX, "/hooks/", EVHTTP_REQ_POST | EVHTTP_REQ_GET, ROUTE_OPEN, ingest_handle_hook},
    {ROUTE_EXACT, "/c", EVHTTP_REQ_GET, ROUTE_OPEN, ingest_handle_click},
    /* The site script and its page views: open doors (DESIGN §2b), no token. */
    {ROUTE_EXACT, "/j.js", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_OPEN, ingest_handle_site_script},
    {ROUTE_EXACT, "/v1/collect", EVHTTP_REQ_POST, ROUTE_OPEN, ingest_handle_collect},
    {ROUTE_EXACT, "/v1/events", EVHTTP_REQ_POST, ROUTE_WRITE, ingest_handle_events},
    {ROUTE_EXACT, "/v1/journey", EVHTTP_REQ_GET, ROUTE_READ, api_handle_journey},
    {ROUTE_PREFIX, "/v1/contacts/", EVHTTP_REQ_GET, ROUTE_READ, api_handle_contact},
    {ROUTE_PREFIX, "/v1/contacts/", EVHTTP_REQ_DELETE, ROUTE_ADMIN, api_handle_contact},
    {ROUTE_EXACT, "/v1/status", EVHTTP_REQ_GET, ROUTE_READ, api_handle_status},
    {ROUTE_EXACT, "/v1/dead", EVHTTP_REQ_GET, ROUTE_READ, handle_dead_list},
    {ROUTE_EXACT, "/v1/sources", EVHTTP_REQ_GET, ROUTE_READ, sources_handle_list},
    {ROUTE_EXACT, "/v1/dead/replay", EVHTTP_REQ_POST, ROUTE_ADMIN, api_handle_replay},
    {ROUTE_PREFIX, "/v1/dead/", EVHTTP_REQ_DELETE, ROUTE_ADMIN, api_handle_dead_discard},
    {ROUTE_EXACT, "/v1/reports/attribution", EVHTTP_REQ_GET, ROUTE_READ, api_handle_attribution},
    {ROUTE_EXACT, "/v1/reports/funnel", EVHTTP_REQ_GET, ROUTE_READ, api_handle_funnel},
    {ROUTE_EXACT, "/v1/reports/sla", EVHTTP_REQ_GET, ROUTE_READ, api_handle_sla},
    {ROUTE_EXACT, "/v1/reports/attribution/conversions", EVHTTP_REQ_GET, ROUTE_READ,
     api_handle_drill_attribution},
    {ROUTE_EXACT, "/v1/reports/funnel/contacts", EVHTTP_REQ_GET, ROUTE_READ,
     api_handle_drill_funnel},
    {ROUTE_EXACT, "/v1/reports/sla/contacts", EVHTTP_REQ_GET, ROUTE_READ, api_handle_drill_sla},
    {ROUTE_EXACT, "/v1/spend", EVHTTP_REQ_POST, ROUTE_WRITE, api_handle_spend},
    {ROUTE_EXACT, "/v1/backfill", EVHTTP_REQ_POST, ROUTE_ADMIN, api_handle_backfill},
    {ROUTE_EXACT, "/metrics", EVHTTP_REQ_GET, ROUTE_OPEN, handle_metrics},
    /* The dashboard (DESIGN §7b): its login and its files are open; what it shows comes
     * from the /v1 routes above, with the session cookie in the token's place. */
    {ROUTE_EXACT, "/ui/login", EVHTTP_REQ_POST, ROUTE_OPEN, ui_handle_login},
    {ROUTE_EXACT, "/ui/logout", EVHTTP_REQ_POST, ROUTE_OPEN, ui_handle_logout},
    {ROUTE_EXACT, "/ui/session", EVHTTP_REQ_GET, ROUTE_OPEN, ui_handle_session},
    {ROUTE_EXACT, "/ui", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_OPEN, ui_handle_static},
    {ROUTE_PREFIX, "/ui/", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_OPEN, ui_handle_static},
};

/* The one access check of the API: 401 without a token (or session), 403 with one whose
 * scope is below the route's, or for a cookie-borne write without the dashboard's header.
 * 1 when the request may go on. */
static int authorize(struct jd *jd, struct evhttp_request *req, enum route_access need)
{
    enum cfg_scope have = CFG_SCOPE_READ;
    int who = request_scope(jd, req, &have);
    if (who < 0) {
        http_reply_error(req, 403, "csrf", "the dashboard's requests carry " UI_CSRF_HEADER);
        return 0;
    }
    if (who == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        http_reply_error(req, 401, "unauthorized", "a valid bearer token is required");
        return 0;
    }
    enum cfg_scope scope = need == ROUTE_ADMIN   ? CFG_SCOPE_ADMIN
                           : need == ROUTE_WRITE ? CFG_SCOPE_WRITE
                                                 : CFG_SCOPE_READ;
    if (have < scope) {
        http_reply_error(req, 403, "forbidden", "this token's scope does not allow that");
        return 0;
    }
    return 1;
}

void routes_dispatch(void *ctx, struct evhttp_request *req, const char *path)
{
    struct jd *jd = ctx;
    int method = (int)evhttp_request_get_command(req);
    int path_known = 0;
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
        path_known = 1;
        if (!(method & r->methods))
            continue;
        if (r->access != ROUTE_OPEN && !authorize(jd, req, r->access))
            return;
        r->handler(jd, req, rest);
        return;
    }
    if (path_known)
        http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path");
    else
        http_reply_error(req, 404, "not_found", "no such endpoint");
}
