/*
 * The HTTP server (http.h): evhttp set-up and limits, the listener and its connection
 * guard, the per-connection state a graceful stop waits on, and the reply helpers. All of
 * it lives in one struct http_server that struct jd owns; every request goes to the
 * dispatcher the server was started with.
 */
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
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "common.h"
#include "http.h"
#include "jd.h"
#include "log.h"

/* Where each client connection stands, so a graceful stop waits for requests being
 * received or answered and not for idle keep-alive clients (libevent 2.1 has no hook for
 * "a connection was accepted" or "bytes of a request arrived"). Indexed by descriptor:
 *   CONN_NEW  accepted (or unknown): its first request may be on the way;
 *   CONN_BUSY bytes arrived since our last answer;
 *   CONN_IDLE answered, nothing since;
 *   CONN_CLOSING answered while stopping: evhttp closes it once the answer is written.
 * Reset to CONN_NEW when the connection closes. */
enum conn_state { CONN_NEW, CONN_BUSY, CONN_IDLE, CONN_CLOSING };

struct http_server {
    struct evhttp *http;
    struct evconnlistener *listener; /* freed with http */
    struct event *conn_guard;        /* caps open connections (libevent 2.1 has no such limit) */
    http_dispatch_fn dispatch;
    void *dispatch_ctx;
    unsigned char *conns; /* enum conn_state, by descriptor */
    size_t nconns_cap;
    int listen_port;
    size_t max_connections;
    int guard_paused;
    int stop_requested;
};

/* A connection that has had a request: it watches the input for the next one. Created at
 * its first request (a connection before that is CONN_NEW, busy anyway) and freed when it
 * closes, so only connections evhttp still holds have one. */
struct conn_watch {
    struct http_server *server;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *entry;
};

static void set_state(struct http_server *s, int fd, enum conn_state st)
{
    if (fd >= 0 && (size_t)fd < s->nconns_cap)
        s->conns[fd] = (unsigned char)st;
}

static enum conn_state get_state(const struct http_server *s, int fd)
{
    return fd >= 0 && (size_t)fd < s->nconns_cap ? (enum conn_state)s->conns[fd] : CONN_NEW;
}

/* Marks a request as one of ours; its argument is how an answer finds its server. */
static void on_request_done(struct evhttp_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

/* The server a request came through, NULL for one that did not pass route_request.
 * evhttp keeps no user pointer per server or per connection, so route_request leaves it
 * as the request's completion-callback argument. */
static struct http_server *server_of(struct evhttp_request *req)
{
    return req->on_complete_cb == on_request_done ? req->on_complete_cb_arg : NULL;
}

static void on_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn_watch *w = arg;
    (void)buf;
    if (info->n_added > 0)
        set_state(w->server, bufferevent_getfd(w->bev), CONN_BUSY);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct conn_watch *w = arg;
    (void)evcon;
    set_state(w->server, bufferevent_getfd(w->bev), CONN_NEW);
    evbuffer_remove_cb_entry(bufferevent_get_input(w->bev), w->entry);
    free(w);
}

/* A connection whose watch could not be allocated still resets its state when it closes,
 * or the next connection on its descriptor would look idle. */
static void on_unwatched_close(struct evhttp_connection *evcon, void *arg)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    if (bev)
        set_state(arg, bufferevent_getfd(bev), CONN_NEW);
}

/* First request on a connection: from now on its input and its close are watched. */
static void watch_connection(struct http_server *s, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || get_state(s, fd) != CONN_NEW)
        return;
    /* Answers are written whole: without this, Nagle holds the tail of a large answer
     * back until the client's delayed ACK (40 ms) on a keep-alive connection. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn_watch *w = calloc(1, sizeof(*w));
    if (w) {
        w->server = s;
        w->bev = bev;
        w->entry = evbuffer_add_cb(bufferevent_get_input(bev), on_conn_input, w);
    }
    if (!w || !w->entry) {
        /* Out of memory: a later request on this connection may look idle to a stop. */
        free(w);
        evhttp_connection_set_closecb(evcon, on_unwatched_close, s);
    } else
        evhttp_connection_set_closecb(evcon, on_conn_close, w);
    set_state(s, fd, CONN_BUSY);
}

static void route_request(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    evhttp_request_set_on_complete_cb(req, on_request_done, s);
    watch_connection(s, evhttp_request_get_connection(req));
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    if (!uri || !path) {
        http_reply_error(req, 400, "bad_request", "unparseable request target");
        return;
    }
    s->dispatch(s->dispatch_ctx, req, path);
}

static int is_client_socket(int fd, int listen_port)
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

size_t http_busy_connections(const struct http_server *s)
{
    size_t busy = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d) || (size_t)fd >= s->nconns_cap)
            continue;
        /* The listener itself is bound to the port too, but it was never a connection
         * with bytes: it is told apart by accepting (SO_ACCEPTCONN). */
        int acc = 0;
        socklen_t alen = sizeof(acc);
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc)
            continue;
        if (s->conns[fd] != CONN_IDLE && is_client_socket((int)fd, s->listen_port))
            busy++;
    }
    closedir(d);
    return busy;
}

void http_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
    struct http_server *s = server_of(req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int stopping = s && s->stop_requested;
    if (s && bev)
        set_state(s, bufferevent_getfd(bev), stopping ? CONN_CLOSING : CONN_IDLE);
    if (stopping)
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
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    if (!s->listener || s->stop_requested)
        return;
    size_t open = count_open_fds();
    if (!s->guard_paused && open > s->max_connections) {
        evconnlistener_disable(s->listener);
        s->guard_paused = 1;
        jlog(JLOG_WARNING, "msg=\"connection limit reached, pausing accept\" open=%zu", open);
    } else if (s->guard_paused && open < s->max_connections * 9 / 10) {
        evconnlistener_enable(s->listener);
        s->guard_paused = 0;
        jlog(JLOG_NOTICE, "msg=\"accepting connections again\" open=%zu", open);
    }
}

void http_apply_limits(struct http_server *s, const struct cfg *c)
{
    if (!s)
        return;
    evhttp_set_max_body_size(s->http, (ev_ssize_t)c->max_body);
    evhttp_set_max_headers_size(s->http, 64 * 1024);
    evhttp_set_timeout(s->http, (int)((c->request_timeout_ms + 999) / 1000));
    s->max_connections = c->max_connections;
}

/* The listener evhttp serves: ours, so the connection guard can pause it. 0 / -1. */
static int listen_on(struct http_server *s, struct event_base *base, const struct cfg *c)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d", c->listen_host,
             c->listen_port);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        jlog(JLOG_ERROR, "msg=\"listen address must be numeric\" listen=%s", addr);
        return -1;
    }
    s->listener = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        (struct sockaddr *)&ss, sslen);
    if (!s->listener) {
        jlog_errno(JLOG_ERROR, "msg=\"cannot listen\" listen=%s", addr);
        return -1;
    }
    if (!evhttp_bind_listener(s->http, s->listener)) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
        return -1;
    }
    jlog(JLOG_NOTICE, "msg=listening listen=%s", addr);
    return 0;
}

struct http_server *http_start(struct event_base *base, const struct cfg *c,
                               http_dispatch_fn dispatch, void *ctx)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->dispatch = dispatch;
    s->dispatch_ctx = ctx;
    s->listen_port = c->listen_port;
    s->http = evhttp_new(base);
    if (!s->http)
        goto fail;
    http_apply_limits(s, c);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
    evhttp_set_gencb(s->http, route_request, s);
    struct rlimit rl;
    s->nconns_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20)
                        ? (size_t)rl.rlim_cur
                        : (size_t)1 << 20;
    s->conns = calloc(s->nconns_cap, sizeof(*s->conns));
    if (!s->conns || listen_on(s, base, c) != 0)
        goto fail;
    s->conn_guard = event_new(base, -1, EV_PERSIST, on_conn_guard, s);
    struct timeval tv = {0, 250 * 1000};
    if (!s->conn_guard || event_add(s->conn_guard, &tv) != 0)
        goto fail;
    return s;
fail:
    http_free(s);
    return NULL;
}

void http_stop_accepting(struct http_server *s)
{
    if (!s)
        return;
    s->stop_requested = 1;
    if (s->listener)
        evconnlistener_disable(s->listener);
}

void http_free(struct http_server *s)
{
    if (!s)
        return;
    if (s->conn_guard)
        event_free(s->conn_guard);
    /* Frees the bound listener (and its socket) too, and closes every connection, whose
     * close callbacks still use the state table: it goes after. */
    if (s->http)
        evhttp_free(s->http);
    free(s->conns);
    free(s);
}
