#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"

enum route_kind { ROUTE_EXACT, ROUTE_PREFIX };

static void on_conn_close(struct evhttp_connection *evcon, void *arg);

static int stop_requested;

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
    {ROUTE_EXACT, "/metrics", EVHTTP_REQ_GET, metrics_handle},
};

static void route_request(struct evhttp_request *req, void *arg)
{
    struct jd *jd = arg;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    if (!uri || !path) {
        http_reply_error(req, 400, "bad_request", "unparseable request target");
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, on_conn_close, NULL);
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

/* Where each client connection stands, so a graceful stop waits for requests being
 * received or answered and not for idle keep-alive clients (libevent 2.1 has no hook for
 * "a connection was accepted" or "bytes of a request arrived"). Indexed by descriptor:
 *   CONN_NEW  accepted (or unknown): its first request may be on the way;
 *   CONN_BUSY bytes arrived since our last answer;
 *   CONN_IDLE answered, nothing since;
 *   CONN_CLOSING answered while stopping: evhttp closes it once the answer is written.
 * Reset to CONN_NEW when the connection closes. */
enum conn_state { CONN_NEW, CONN_BUSY, CONN_IDLE, CONN_CLOSING };
static unsigned char *conns;
static size_t nconns_cap;
static int listen_port;

static void set_state(int fd, enum conn_state st)
{
    if (fd >= 0 && (size_t)fd < nconns_cap)
        conns[fd] = (unsigned char)st;
}

static void on_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    if (info->n_added == 0)
        return;
    int fd = bufferevent_getfd(arg);
    if (fd >= 0 && (size_t)fd < nconns_cap && conns[fd] == CONN_NEW) {
        /* Answers are written whole: without this, Nagle holds the tail of a large answer
         * back until the client's delayed ACK (40 ms) on a keep-alive connection. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    set_state(fd, CONN_BUSY);
}

static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev && !evbuffer_add_cb(bufferevent_get_input(bev), on_conn_input, bev)) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    (void)arg;
    if (bev)
        set_state(bufferevent_getfd(bev), CONN_NEW);
}

static int is_client_socket(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port) == listen_port;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == listen_port;
    return 0;
}

size_t http_busy_connections(void)
{
    size_t busy = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d) || (size_t)fd >= nconns_cap)
            continue;
        /* The listener itself is bound to the port too, but it was never a connection
         * with bytes: it is told apart by accepting (SO_ACCEPTCONN). */
        int acc = 0;
        socklen_t alen = sizeof(acc);
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc)
            continue;
        if (conns[fd] != CONN_IDLE && is_client_socket((int)fd))
            busy++;
    }
    closedir(d);
    return busy;
}

void http_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev)
        set_state(bufferevent_getfd(bev), stop_requested ? CONN_CLOSING : CONN_IDLE);
    if (stop_requested)
        /* Stopping: no keep-alive, so each client leaves after its answer, and the stop
         * waits until the answer is out (the connection then closes). */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    evhttp_send_reply(req, status, NULL, body);
}

void http_reply_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *text)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (!buf || evbuffer_add(buf, text, strlen(text)) != 0) {
        /* Out of memory: answer without a body rather than not at all. */
        http_send(req, 503, NULL);
        if (buf)
            evbuffer_free(buf);
        return;
    }
    http_send(req, status, buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        http_reply_text(req, 503, "application/json",
                        "{\"error\":\"out_of_memory\",\"message\":\"try again\"}");
        return;
    }
    http_reply_text(req, status, "application/json", text);
    cJSON_free(text);
}

void http_reply_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "error", code) ||
              !cJSON_AddStringToObject(o, "message", message))) {
        cJSON_Delete(o);
        o = NULL;
    }
    http_reply_json(req, status, o);
}

void http_reply_unavailable(struct jd *jd, struct evhttp_request *req, const char *why)
{
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld", (long long)jd->cfg->retry_after_s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", secs);
    http_reply_error(req, 503, "unavailable", why);
}

size_t http_collect_headers(struct evhttp_request *req, struct cx_header *out, size_t cap)
{
    size_t n = 0;
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (n == cap)
            break;
        out[n].name = kv->key;
        out[n].value = kv->value;
        n++;
    }
    return n;
}

const unsigned char *http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    if (*len == 0)
        return (const unsigned char *)"";
    return evbuffer_pullup(in, -1);
}

int http_require_token(struct jd *jd, struct evhttp_request *req)
{
    struct cx_header hdrs[HTTP_MAX_HEADERS];
    size_t n = http_collect_headers(req, hdrs, HTTP_MAX_HEADERS);
    if (jd->cfg->napi_tokens > 0 &&
        cx_bearer_matches(hdrs, n, (const char *const *)jd->cfg->api_tokens, jd->cfg->napi_tokens))
        return 1;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    http_reply_error(req, 401, "unauthorized", "a valid bearer token is required");
    return 0;
}

/* libevent 2.1 cannot cap connections, so we watch our descriptors and pause accepting
 * near the limit (STYLE B3.6); the listener resumes once clients have gone. */
static size_t count_open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void on_conn_guard(evutil_socket_t fd, short what, void *arg)
{
    struct jd *jd = arg;
    static int paused;
    (void)fd;
    (void)what;
    if (!jd->listener || jd->stopping)
        return;
    size_t open = count_open_fds();
    if (!paused && open > jd->cfg->max_connections) {
        evconnlistener_disable(jd->listener);
        paused = 1;
        jlog(JLOG_WARNING, "msg=\"connection limit reached, pausing accept\" open=%zu", open);
    } else if (paused && open < jd->cfg->max_connections * 9 / 10) {
        evconnlistener_enable(jd->listener);
        paused = 0;
        jlog(JLOG_NOTICE, "msg=\"accepting connections again\" open=%zu", open);
    }
}

void http_apply_limits(struct jd *jd)
{
    const struct cfg *c = jd->cfg;
    if (!jd->http)
        return;
    evhttp_set_max_body_size(jd->http, (ev_ssize_t)c->max_body);
    evhttp_set_max_headers_size(jd->http, 64 * 1024);
    evhttp_set_timeout(jd->http, (int)((c->request_timeout_ms + 999) / 1000));
}

int http_start(struct jd *jd)
{
    const struct cfg *c = jd->cfg;
    jd->http = evhttp_new(jd->base);
    if (!jd->http)
        return -1;
    http_apply_limits(jd);
    evhttp_set_allowed_methods(jd->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
    evhttp_set_gencb(jd->http, route_request, jd);
    evhttp_set_bevcb(jd->http, on_new_connection, NULL);
    struct rlimit rl;
    nconns_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20)
                     ? (size_t)rl.rlim_cur
                     : (size_t)1 << 20;
    conns = calloc(nconns_cap, sizeof(*conns));
    if (!conns)
        return -1;
    listen_port = c->listen_port;

    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d", c->listen_host,
             c->listen_port);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        jlog(JLOG_ERROR, "msg=\"listen address must be numeric\" listen=%s", addr);
        return -1;
    }
    jd->listener = evconnlistener_new_bind(
        jd->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (struct sockaddr *)&ss, sslen);
    if (!jd->listener) {
        jlog_errno(JLOG_ERROR, "msg=\"cannot listen\" listen=%s", addr);
        return -1;
    }
    if (!evhttp_bind_listener(jd->http, jd->listener)) {
        evconnlistener_free(jd->listener);
        jd->listener = NULL;
        return -1;
    }
    jd->conn_guard = event_new(jd->base, -1, EV_PERSIST, on_conn_guard, jd);
    struct timeval tv = {0, 250 * 1000};
    if (!jd->conn_guard || event_add(jd->conn_guard, &tv) != 0)
        return -1;
    jlog(JLOG_NOTICE, "msg=listening listen=%s", addr);
    return 0;
}

void http_stop_accepting(struct jd *jd)
{
    stop_requested = 1;
    if (jd->listener)
        evconnlistener_disable(jd->listener);
}

void http_free(struct jd *jd)
{
    if (jd->conn_guard) {
        event_free(jd->conn_guard);
        jd->conn_guard = NULL;
    }
    if (jd->http) {
        /* Frees the bound listener (and its socket) too. */
        evhttp_free(jd->http);
        jd->http = NULL;
        jd->listener = NULL;
    }
    free(conns);
    conns = NULL;
    nconns_cap = 0;
}
