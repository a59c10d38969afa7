#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "common.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define INGEST_MAX_FIELDS (12 + 2 * 8)

/* What to answer once the XADD is acknowledged. */
enum ingest_answer { ANSWER_QUEUED, ANSWER_REDIRECT };

/* One webhook waiting for Redis. The request pointer lives here and nowhere else, so it
 * is answered exactly once: by the XADD reply (or the client's own command deadline,
 * which reaches us as a NULL reply). */
struct ingest_req {
    struct jd *jd;
    struct evhttp_request *req;
    enum ingest_answer answer;
    char location[2048]; /* ANSWER_REDIRECT: where to send the browser */
    int redirect_status;
    char source[64]; /* a copy: a reload may free the config while we wait */
    int64_t start_us;
};

static int verdict_status(enum cx_verdict v)
{
    switch (v) {
    case CX_OK:
    case CX_HANDSHAKE:
        return 200;
    case CX_BAD_REQUEST:
        return 400;
    case CX_BAD_SIGNATURE:
    case CX_STALE:
        return 401;
    }
    return 500;
}

static const char *verdict_code(enum cx_verdict v)
{
    switch (v) {
    case CX_BAD_REQUEST:
        return "bad_request";
    case CX_BAD_SIGNATURE:
        return "bad_signature";
    case CX_STALE:
        return "stale_timestamp";
    case CX_OK:
    case CX_HANDSHAKE:
        break;
    }
    return "ok";
}

/* Every answer of this module is counted once, here. */
static void account(struct jd *jd, const char *source, int status, int64_t start_us)
{
    metrics_count_webhook(&jd->metrics, source, status);
    metrics_observe_latency(&jd->metrics, jd_mono_us() - start_us);
}

/* The answer once the webhook is in Redis (queued = 1) or could not be put there. */
static void ingest_reply(struct ingest_req *ir, int queued)
{
    struct jd *jd = ir->jd;
    int status;
    if (ir->answer == ANSWER_REDIRECT) {
        /* A click must still reach its landing page even when it cannot be recorded. */
        if (!queued)
            jd->metrics.n.clicks_unrecorded++;
        evhttp_add_header(evhttp_request_get_output_headers(ir->req), "Location", ir->location);
        status = ir->redirect_status;
        http_reply_text(ir->req, status, "text/plain", "");
    } else if (queued) {
        status = 200;
        http_reply_text(ir->req, status, "application/json", "{\"status\":\"queued\"}");
    } else {
        status = 503;
        http_reply_unavailable(jd, ir->req, "queue unavailable");
    }
    if (queued)
        jd->metrics.n.accepted++;
    else
        jd->metrics.n.unavailable++;
    account(jd, ir->source, status, ir->start_us);
    free(ir);
}

static void on_xadd(struct rq_client *c, const redisReply *r, void *priv)
{
    struct ingest_req *ir = priv;
    struct jd *jd = ir->jd;
    (void)c;
    jd->ingest_inflight--;
    int queued = r && r->type == REDIS_REPLY_STRING;
    if (!queued)
        jlog(JLOG_INFO, "msg=\"webhook not queued\" source=%s reason=\"%s\"", ir->source,
             r && r->type == REDIS_REPLY_ERROR ? "redis error" : "redis unavailable");
    ingest_reply(ir, queued);
}

int ingest_is_idle(const struct jd *jd)
{
    return jd->ingest_inflight == 0;
}

/* Why the queue cannot take a webhook now, or NULL. */
static const char *queue_refusal(struct jd *jd)
{
    if (!rq_is_ready(jd->rq_ingest))
        return "queue unavailable";
    if (jd->ingest_inflight >= jd->cfg->max_inflight)
        return "too many webhooks in flight";
    if (jd->queue_length >= jd->cfg->max_queue)
        return "queue full";
    return NULL;
}

/* XADD <stream> * src <name> type <type> recv <ms> [h:<header> <value>]... body <bytes>.
 * Takes ownership of ir (filled by new_ingest_req). */
static void enqueue(struct jd *jd, struct ingest_req *ir, const struct cx_source *src,
                    const struct cx_connector *cx, const struct cx_header *hdrs, size_t nhdrs,
                    const unsigned char *body, size_t body_len)
{
    const char *argv[INGEST_MAX_FIELDS];
    size_t lens[INGEST_MAX_FIELDS];
    char recv[24], hnames[8][64];
    int argc = 0;
#define ARG(s, l)                                                                                  \
    do {                                                                                           \
        argv[argc] = (s);                                                                          \
        lens[argc] = (l);                                                                          \
        argc++;                                                                                    \
    } while (0)
    snprintf(recv, sizeof(recv), "%lld", (long long)jd_now_ms());
    ARG("XADD", 4);
    ARG(JD_RAW_STREAM, strlen(JD_RAW_STREAM));
    ARG("*", 1);
    ARG("src", 3);
    ARG(src->name, strlen(src->name));
    ARG("type", 4);
    ARG(src->type, strlen(src->type));
    ARG("recv", 4);
    ARG(recv, strlen(recv));
    for (size_t k = 0; cx && cx->keep_headers && k < 8 && cx->keep_headers[k]; k++) {
        const char *v = cx_header_get(hdrs, nhdrs, cx->keep_headers[k]);
        if (!v)
            continue;
        snprintf(hnames[k], sizeof(hnames[k]), "h:%s", cx->keep_headers[k]);
        ARG(hnames[k], strlen(hnames[k]));
        ARG(v, strlen(v));
    }
    ARG("body", 4);
    ARG((const char *)body, body_len);
#undef ARG
    if (rq_command(jd->rq_ingest, 0, on_xadd, ir, argc, argv, lens) != 0) {
        ingest_reply(ir, 0);
        return;
    }
    jd->ingest_inflight++;
}

static struct ingest_req *new_ingest_req(struct jd *jd, struct evhttp_request *req,
                                         const char *source, int64_t start_us)
{
    struct ingest_req *ir = calloc(1, sizeof(*ir));
    if (!ir)
        return NULL;
    ir->jd = jd;
    ir->req = req;
    ir->answer = ANSWER_QUEUED;
    ir->start_us = start_us;
    snprintf(ir->source, sizeof(ir->source), "%s", source);
    return ir;
}

/* Shared by /hooks/<name> and /v1/events: verify on the raw bytes, then enqueue. */
static void verify_and_enqueue(struct jd *jd, struct evhttp_request *req,
                               const struct cx_source *src, const struct cx_connector *cx,
                               const char *thank_you)
{
    int64_t start_us = jd_mono_us();
    struct cx_header hdrs[HTTP_MAX_HEADERS];
    size_t nhdrs = http_collect_headers(req, hdrs, HTTP_MAX_HEADERS);
    size_t body_len;
    const unsigned char *body = http_body(req, &body_len);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    int is_get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    struct cx_input in = {
        .method = is_get ? "GET" : "POST",
        .query = uri ? evhttp_uri_get_query(uri) : NULL,
        .headers = hdrs,
        .nheaders = nhdrs,
        .body = body,
        .body_len = body_len,
        .now_ms = jd_now_ms(),
    };
    struct cx_reply reply = {0};
    struct cx_err err = {{0}};
    if (is_get && !cx->get_handshake) {
        http_reply_error(req, 405, "method_not_allowed", "webhooks are POSTed");
        account(jd, src->name, 405, start_us);
        return;
    }
    enum cx_verdict v = body ? cx->verify(src, &in, &reply, &err) : CX_BAD_REQUEST;
    if (!body) {
        http_reply_unavailable(jd, req, "out of memory");
        account(jd, src->name, 503, start_us);
        return;
    }
    if (v == CX_HANDSHAKE) {
        int status = reply.status ? reply.status : 200;
        http_reply_text(req, status, reply.content_type[0] ? reply.content_type : "text/plain",
                        reply.body);
        account(jd, src->name, status, start_us);
        return;
    }
    if (is_get && v == CX_BAD_SIGNATURE) {
        /* A handshake with the wrong verify token (Meta's GET subscription check). */
        http_reply_error(req, 403, "handshake_refused", err.msg[0] ? err.msg : "wrong token");
        account(jd, src->name, 403, start_us);
        return;
    }
    if (is_get) {
        /* GET exists only for providers' handshakes. */
        http_reply_error(req, 405, "method_not_allowed", "webhooks are POSTed");
        account(jd, src->name, 405, start_us);
        return;
    }
    if (v != CX_OK) {
        jd->metrics.n.rejected++;
        jlog(JLOG_INFO, "msg=\"webhook refused\" source=%s status=%d reason=%s", src->name,
             verdict_status(v), verdict_code(v));
        http_reply_error(req, verdict_status(v), verdict_code(v), err.msg[0] ? err.msg : "refused");
        account(jd, src->name, verdict_status(v), start_us);
        return;
    }
    const char *why = queue_refusal(jd);
    struct ingest_req *ir = why ? NULL : new_ingest_req(jd, req, src->name, start_us);
    if (!ir) {
        jd->metrics.n.unavailable++;
        http_reply_unavailable(jd, req, why ? why : "out of memory");
        account(jd, src->name, 503, start_us);
        return;
    }
    if (thank_you && thank_you[0]) {
        /* Browser-posted forms go on to the site's thank-you page. */
        ir->answer = ANSWER_REDIRECT;
        ir->redirect_status = 303;
        snprintf(ir->location, sizeof(ir->location), "%s", thank_you);
    }
    enqueue(jd, ir, src, cx, hdrs, nhdrs, body, body_len);
}

void ingest_handle_hook(struct jd *jd, struct evhttp_request *req, const char *source_name)
{
    int64_t start_us = jd_mono_us();
    const struct cfg_source *s = cfg_find_source(jd->cfg, source_name);
    const struct cx_connector *cx = s ? cx_lookup(s->type) : NULL;
    if (!jd->roles_ingest || !s || !cx) {
        /* Not labelled with the requested name: anyone could grow the metrics table. */
        http_reply_error(req, 404, "unknown_source", "no source of that name");
        account(jd, "(unknown)", 404, start_us);
        return;
    }
    verify_and_enqueue(
        jd, req, &s->cx, cx,
        s->cx.auth == CX_AUTH_ORIGIN && strcmp(s->type, "form") == 0 ? s->thank_you_url : NULL);
}

void ingest_handle_events(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    const struct cx_connector *cx = cx_lookup("events");
    if (!jd->roles_ingest || !cx) {
        http_reply_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    /* Same answer as every other /v1/ endpoint without a valid token. */
    if (!http_require_token(jd, req))
        return;
    verify_and_enqueue(jd, req, &jd->events_source, cx, NULL);
}

/* The click tracker's anonymous id: "a_" + 32 lowercase hex digits. */
static int is_anon_id(const char *s, size_t len)
{
    if (len != 34 || s[0] != 'a' || s[1] != '_')
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void cookie_anon_id(struct evhttp_request *req, char out[40])
{
    const char *cookie = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    out[0] = '\0';
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 7 && strncmp(p, "jd_aid=", 7) == 0 && is_anon_id(p + 7, len - 7)) {
            memcpy(out, p + 7, len - 7);
            out[len - 7] = '\0';
            return;
        }
        p = end;
    }
}

static int host_allowed(const struct cfg *c, const char *host)
{
    for (size_t i = 0; i < c->nclick_allow; i++)
        if (strcasecmp(c->click_allow[i], host) == 0)
            return 1;
    return 0;
}

/* GET /c?to=<url>&utm_…&gclid=… records the click and redirects to an allow-listed
 * destination with the anonymous id appended, so the landing page can put it in its
 * forms. Anything not on the allow-list is refused: no open redirect. */
void ingest_handle_click(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct cx_form q = {0};
    if (!jd->roles_ingest || !query || cx_form_parse(&q, query, strlen(query)) != 0) {
        cx_form_free(&q);
        http_reply_error(req, 400, "bad_request", "expected /c?to=<url>&utm_…");
        return;
    }
    const char *to = cx_form_get(&q, "to");
    struct evhttp_uri *dest = to ? evhttp_uri_parse_with_flags(to, 0) : NULL;
    const char *scheme = dest ? evhttp_uri_get_scheme(dest) : NULL;
    const char *host = dest ? evhttp_uri_get_host(dest) : NULL;
    int ok = scheme && host &&
             (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0) &&
             host_allowed(jd->cfg, host) && !evhttp_uri_get_userinfo(dest) && strlen(to) < 1900;
    if (dest)
        evhttp_uri_free(dest);
    if (!ok) {
        cx_form_free(&q);
        http_reply_error(req, 400, "destination_not_allowed",
                         "the destination is not on the click_allow list");
        return;
    }

    char aid[40], click_id[48];
    cookie_anon_id(req, aid);
    if (!aid[0] && jd_random_id("a_", 16, aid, sizeof(aid)) != 0) {
        cx_form_free(&q);
        http_reply_unavailable(jd, req, "no randomness");
        return;
    }
    if (jd_random_id("", 12, click_id, sizeof(click_id)) != 0) {
        cx_form_free(&q);
        http_reply_unavailable(jd, req, "no randomness");
        return;
    }
    struct ingest_req *ir = new_ingest_req(jd, req, "click", jd_mono_us());
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    if (ir && body && cJSON_AddStringToObject(body, "id", click_id) &&
        cJSON_AddStringToObject(body, "aid", aid) &&
        cJSON_AddNumberToObject(body, "at_ms", (double)jd_now_ms()) &&
        cJSON_AddStringToObject(body, "query", query) && cJSON_AddStringToObject(body, "to", to))
        text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        free(ir);
        cx_form_free(&q);
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    /* The id goes before any #fragment, after any existing query. */
    const char *hash = strchr(to, '#');
    size_t base_len = hash ? (size_t)(hash - to) : strlen(to);
    const char *qmark = memchr(to, '?', base_len);
    snprintf(ir->location, sizeof(ir->location), "%.*s%cjd_aid=%s%s", (int)base_len, to,
             qmark ? '&' : '?', aid, hash ? hash : "");
    ir->answer = ANSWER_REDIRECT;
    ir->redirect_status = 302;

    char cookie[160];
    snprintf(cookie, sizeof(cookie), "jd_aid=%s; Max-Age=%lld; Path=/; HttpOnly; SameSite=Lax%s",
             aid, (long long)jd->cfg->click_cookie_days * 86400,
             jd->cfg->click_cookie_secure ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    jd->metrics.n.clicks++;
    cx_form_free(&q);

    if (queue_refusal(jd)) {
        ingest_reply(ir, 0);
        cJSON_free(text);
        return;
    }
    enqueue(jd, ir, &jd->click_source, cx_lookup("click"), NULL, 0, (const unsigned char *)text,
            strlen(text));
    cJSON_free(text);
}

static void on_queue_status(struct rq_client *c, const redisReply *r, void *priv)
{
    struct jd *jd = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    jd->queue_length = jd->metrics.raw_length = r->element[0]->integer;
    jd->metrics.pending = r->element[1]->integer;
    jd->metrics.dead_letters = r->element[2]->integer;
}

/* Samples the queue once a second: back-pressure (max_queue) and the metrics. */
static void on_queue_probe(evutil_socket_t fd, short what, void *arg)
{
    struct jd *jd = arg;
    struct rq_client *c = jd->rq_ingest ? jd->rq_ingest : jd->rq_api;
    (void)fd;
    (void)what;
    const char *argv[3] = {JD_RAW_STREAM, JD_DEAD_STREAM, JD_GROUP};
    size_t lens[3] = {strlen(JD_RAW_STREAM), strlen(JD_DEAD_STREAM), strlen(JD_GROUP)};
    if (c)
        (void)rq_eval(c, JD_SCRIPT_STATUS, 0, on_queue_status, jd, 2, 3, argv, lens);
}

int ingest_start(struct jd *jd)
{
    jd->queue_probe = event_new(jd->base, -1, EV_PERSIST, on_queue_probe, jd);
    struct timeval tv = {1, 0};
    if (!jd->queue_probe || event_add(jd->queue_probe, &tv) != 0)
        return -1;
    return 0;
}

void ingest_free(struct jd *jd)
{
    if (jd->queue_probe) {
        event_free(jd->queue_probe);
        jd->queue_probe = NULL;
    }
}
