/*
 * Ingest (ingest.h): the webhook doors /hooks/<name>, /v1/events and the click tracker's
 * GET /c. Each handler checks at the door, answers a refusal through one helper, and
 * hands an accepted request to one struct ingest_req that is answered when Redis has
 * acknowledged the XADD; it owns the in-flight count main.c polls to end a graceful stop.
 */
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
#include "ratelimit.h"
#include "sources.h"
#include "ui.h"
#include "util.h"

/* What to answer once the XADD is acknowledged. ANSWER_NO_CONTENT: /c as a tracking
 * template, 204 whether or not the click could be recorded (nobody waits for it). */
enum ingest_answer { ANSWER_QUEUED, ANSWER_REDIRECT, ANSWER_NO_CONTENT };

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

/* Refused signatures in a row after which a source is said to be failing: a few stray
 * probes stay quiet, a rotated secret nobody copied here does not. */
#define INGEST_SIG_FAIL_WARN 5

/* A source whose signatures keep failing loses every webhook until someone fixes the
 * secret: named once in a warning (and in /metrics) when it starts, once when it heals. */
static void note_signature(struct jd *jd, const char *source, enum cx_verdict v)
{
    struct metrics_source *row = metrics_source(&jd->metrics, source);
    if (!row)
        return;
    if (v == CX_BAD_SIGNATURE || v == CX_STALE) {
        if (++row->bad_signatures == INGEST_SIG_FAIL_WARN)
            jlog(JLOG_WARNING,
                 "msg=\"signatures failing: webhooks refused, check the source's secret\" "
                 "source=%s refused=%d",
                 source, INGEST_SIG_FAIL_WARN);
    } else if (v == CX_OK) {
        if (row->bad_signatures >= INGEST_SIG_FAIL_WARN)
            jlog(JLOG_NOTICE, "msg=\"signatures accepted again\" source=%s refused=%llu", source,
                 (unsigned long long)row->bad_signatures);
        row->bad_signatures = 0;
    }
}

/* Every answer of this module is counted once, here. */
static void account(struct jd *jd, const char *source, int status, int64_t start_us)
{
    metrics_count_webhook(&jd->metrics, source, status);
    metrics_observe_latency(&jd->metrics, jd_mono_us() - start_us);
}

static void redirect(struct evhttp_request *req, int status, const char *location)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    http_reply_text(req, status, "text/plain", "");
}

/* The answer once the webhook is in Redis (queued = 1) or could not be put there. */
static void ingest_reply(struct ingest_req *ir, int queued)
{
    struct jd *jd = ir->jd;
    int status;
    if (ir->answer == ANSWER_REDIRECT || ir->answer == ANSWER_NO_CONTENT) {
        /* A click must still reach its landing page even when it cannot be recorded. */
        if (!queued)
            jd->metrics.n.clicks_unrecorded++;
        status = ir->redirect_status;
        if (ir->answer == ANSWER_REDIRECT)
            redirect(ir->req, status, ir->location);
        else
            http_send(ir->req, status, NULL);
    } else if (queued) {
        status = 200;
        http_reply_text(ir->req, status, "application/json", "{\"status\":\"queued\"}");
    } else {
        status = 503;
        http_reply_unavailable(jd, ir->req, "queue unavailable");
    }
    if (queued) {
        jd->metrics.n.accepted++;
        sources_accepted(jd->sources, ir->source, jd_now_ms());
    } else {
        jd->metrics.n.unavailable++;
        sources_refused(jd->sources, ir->source, "unavailable", jd_now_ms());
    }
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
    /* The source counts are written before a graceful stop ends, unless Redis is away
     * (then the drain would only wait for its deadline). */
    return jd->ingest_inflight == 0 &&
           (sources_is_flushed(jd->sources) || !rq_is_ready(jd->rq_ingest));
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

/* Queues the webhook as a raw record (queue/stream.h) with the headers its connector
 * keeps. Takes ownership of ir (filled by new_ingest_req). */
static void enqueue(struct jd *jd, struct ingest_req *ir, const struct cx_source *src,
                    const struct cx_connector *cx, const struct cx_header *hdrs, size_t nhdrs,
                    const unsigned char *body, size_t body_len)
{
    struct stream_record rec = {
        .src = src->name,
        .type = src->type,
        .recv_ms = jd_now_ms(),
        .body = (const char *)body,
        .body_len = body_len,
    };
    for (size_t k = 0; cx && cx->keep_headers && k < STREAM_MAX_HEADERS && cx->keep_headers[k];
         k++) {
        const char *v = cx_header_get(hdrs, nhdrs, cx->keep_headers[k]);
        if (v)
            rec.headers[rec.nheaders++] = (struct stream_header){cx->keep_headers[k], v};
    }
    if (stream_add(jd->rq_ingest, &rec, on_xadd, ir) != 0) {
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

/* Why a request is not taken: the status and the body's code and message (503s carry
 * Retry-After and the message alone). */
struct refusal {
    int status;
    const char *code;
    const char *message;
};

static void refuse(struct jd *jd, struct evhttp_request *req, const struct refusal *no)
{
    if (no->status == 503)
        http_reply_unavailable(jd, req, no->message);
    else
        http_reply_error(req, no->status, no->code, no->message);
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
    struct refusal no = {0};
    int status = 0; /* answered here, with this status; 0: enqueued */
    if (is_get && !cx->get_handshake) {
        no = (struct refusal){405, "method_not_allowed", "webhooks are POSTed"};
        goto out;
    }
    if (!body) {
        no = (struct refusal){503, "unavailable", "out of memory"};
        goto out;
    }
    enum cx_verdict v = cx->verify(src, &in, &reply, &err);
    if (v == CX_HANDSHAKE) {
        status = reply.status ? reply.status : 200;
        http_reply_text(req, status, reply.content_type[0] ? reply.content_type : "text/plain",
                        reply.body);
        goto out;
    }
    if (is_get && v == CX_BAD_SIGNATURE) {
        /* A handshake with the wrong verify token (Meta's GET subscription check). */
        no = (struct refusal){403, "handshake_refused", err.msg[0] ? err.msg : "wrong token"};
        goto out;
    }
    if (is_get) {
        /* GET exists only for providers' handshakes. */
        no = (struct refusal){405, "method_not_allowed", "webhooks are POSTed"};
        goto out;
    }
    note_signature(jd, src->name, v);
    if (v != CX_OK) {
        jd->metrics.n.rejected++;
        jlog(JLOG_INFO, "msg=\"webhook refused\" source=%s status=%d reason=%s", src->name,
             verdict_status(v), verdict_code(v));
        no = (struct refusal){verdict_status(v), verdict_code(v), err.msg[0] ? err.msg : "refused"};
        goto out;
    }
    const char *why = queue_refusal(jd);
    struct ingest_req *ir = why ? NULL : new_ingest_req(jd, req, src->name, start_us);
    if (!ir) {
        jd->metrics.n.unavailable++;
        no = (struct refusal){503, "unavailable", why ? why : "out of memory"};
        goto out;
    }
    if (thank_you && thank_you[0]) {
        /* Browser-posted forms go on to the site's thank-you page. */
        ir->answer = ANSWER_REDIRECT;
        ir->redirect_status = 303;
        snprintf(ir->location, sizeof(ir->location), "%s", thank_you);
    }
    /* Answered (and counted) when Redis has replied: status stays 0. */
    enqueue(jd, ir, src, cx, hdrs, nhdrs, body, body_len);
out:
    if (no.status) {
        refuse(jd, req, &no);
        status = no.status;
        sources_refused(jd->sources, src->name, no.code, in.now_ms);
    }
    if (status)
        account(jd, src->name, status, start_us);
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
    verify_and_enqueue(jd, req, &jd->events_source, cx, NULL);
}

static int host_allowed(const struct cfg *c, const char *host)
{
    for (size_t i = 0; i < c->nclick_allow; i++)
        if (strcasecmp(c->click_allow[i], host) == 0)
            return 1;
    return 0;
}

/* An absolute http(s) URL to an allow-listed host, without userinfo, short enough to
 * carry the anonymous id. */
static int destination_allowed(const struct cfg *c, const char *to)
{
    struct evhttp_uri *dest = to ? evhttp_uri_parse_with_flags(to, 0) : NULL;
    const char *scheme = dest ? evhttp_uri_get_scheme(dest) : NULL;
    const char *host = dest ? evhttp_uri_get_host(dest) : NULL;
    int ok = scheme && host &&
             (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0) &&
             host_allowed(c, host) && !evhttp_uri_get_userinfo(dest) && strlen(to) < 1900;
    if (dest)
        evhttp_uri_free(dest);
    return ok;
}

/* Google Ads' {lpurl} when the template was not substituted (a test call): no target. */
static int no_target(const char *to)
{
    return !to || !to[0] || strcmp(to, "{lpurl}") == 0;
}

/* GET /c?to=<url>&utm_…&gclid=… records the click and redirects to an allow-listed
 * destination with the anonymous id appended, so the landing page can put it in its
 * forms. Anything not on the allow-list is refused: no open redirect. The record and the
 * location come from the click connector; this handler mints the ids and does the I/O.
 * /c is an open door (DESIGN §2b): a query the click connector's verify does not accept
 * (too long, not UTF-8, a value normalize would not keep whole) is redirected without
 * being recorded, so it never reaches the queue, let alone the dead letters. A click that
 * cannot be recorded for want of Redis still redirects (ingest_reply).
 *
 * As a tracking template (Google Ads parallel tracking calls it in the background while
 * the browser goes straight to the landing page): with track=1, or without a destination,
 * it records the click and answers 204, no redirect. A `to` it is given (Google's
 * {lpurl}) must still be allowed and is kept as the click's destination; the landing page
 * joins the click through the gclid that /j.js reads from its URL. */
void ingest_handle_click(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    int64_t start_us = jd_mono_us();
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    const struct cx_connector *cx = cx_lookup("click");
    struct cx_input in = {.method = "GET", .query = query, .now_ms = jd_now_ms()};
    struct cx_reply reply = {0};
    struct cx_err err = {{0}};
    struct cx_form q = {0};
    struct refusal no = {0};
    struct ingest_req *ir = NULL;
    char *record = NULL;
    char aid[CX_CLICK_AID_SIZE], click_id[48], cookie[160];
    if (!jd->roles_ingest || !cx || !query || cx_form_parse(&q, query, strlen(query)) != 0) {
        no = (struct refusal){400, "bad_request", "expected /c?to=<url>&utm_…"};
        goto out;
    }
    const char *to = cx_form_get(&q, "to");
    const char *track = cx_form_get(&q, "track");
    int tracking = no_target(to) || (track && strcmp(track, "1") == 0);
    if (no_target(to))
        to = "";
    if (!(tracking && !to[0]) && !destination_allowed(jd->cfg, to)) {
        no = (struct refusal){400, "destination_not_allowed",
                              "the destination is not on the click_allow list"};
        goto out;
    }
    cx_click_cookie_aid(evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie"), aid);
    if ((!aid[0] && jd_random_id("a_", 16, aid, sizeof(aid)) != 0) ||
        jd_random_id("", 12, click_id, sizeof(click_id)) != 0) {
        no = (struct refusal){503, "unavailable", "no randomness"};
        goto out;
    }
    int valid = cx->verify(&jd->click_source, &in, &reply, &err) == CX_OK;
    ir = new_ingest_req(jd, req, "click", start_us);
    record = ir && valid ? cx_click_record(click_id, aid, query, to, in.now_ms) : NULL;
    if (!ir || (valid && !record) ||
        (!tracking && cx_click_location(to, aid, ir->location, sizeof(ir->location)) != 0)) {
        no = (struct refusal){503, "unavailable", "out of memory"};
        goto out;
    }
    ir->answer = tracking ? ANSWER_NO_CONTENT : ANSWER_REDIRECT;
    ir->redirect_status = tracking ? 204 : 302;
    snprintf(cookie, sizeof(cookie), "jd_aid=%s; Max-Age=%lld; Path=/; HttpOnly; SameSite=Lax%s",
             aid, (long long)jd->cfg->click_cookie_days * 86400,
             jd->cfg->click_cookie_secure ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    jd->metrics.n.clicks++;
    if (!valid) {
        jd->metrics.n.clicks_invalid++;
        if (tracking)
            http_send(req, ir->redirect_status, NULL);
        else
            redirect(req, ir->redirect_status, ir->location);
        account(jd, ir->source, ir->redirect_status, start_us);
        goto out;
    }
    /* Both take ir over. */
    if (queue_refusal(jd))
        ingest_reply(ir, 0);
    else
        enqueue(jd, ir, &jd->click_source, cx, NULL, 0, (const unsigned char *)record,
                strlen(record));
    ir = NULL;
out:
    if (no.status)
        refuse(jd, req, &no);
    free(ir);
    cJSON_free(record);
    cx_form_free(&q);
}

/* The Origin's "host" and "host:port" against collect_allow (either may be listed). */
static int collect_origin_allowed(const struct cfg *c, const char *origin)
{
    struct evhttp_uri *u = origin ? evhttp_uri_parse_with_flags(origin, 0) : NULL;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int port = u ? evhttp_uri_get_port(u) : -1;
    char hp[300];
    int ok = 0;
    if (scheme && host && (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0)) {
        int n = snprintf(hp, sizeof(hp), "%s:%d", host, port);
        for (size_t i = 0; i < c->ncollect_allow && !ok; i++)
            ok = strcasecmp(c->collect_allow[i], host) == 0 ||
                 (port > 0 && n > 0 && (size_t)n < sizeof(hp) &&
                  strcasecmp(c->collect_allow[i], hp) == 0);
    }
    if (u)
        evhttp_uri_free(u);
    return ok;
}

/* The client's address for the rate limit: the peer, or, when the peer is this machine (a
 * TLS proxy in front, docs/running.md), the last X-Forwarded-For entry, the one the proxy
 * itself appended (earlier entries are the client's to write). */
static void client_address(struct evhttp_request *req, char *out, size_t cap)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL; /* libevent 2.1 hands out its own string, not const */
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    snprintf(out, cap, "%s", peer ? peer : "");
    const char *xff = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Forwarded-For");
    if (xff && peer && (strcmp(peer, "127.0.0.1") == 0 || strcmp(peer, "::1") == 0)) {
        const char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ')
            last++;
        size_t len = strcspn(last, " ");
        if (len > 0 && len < cap) {
            memcpy(out, last, len);
            out[len] = '\0';
        }
    }
}

/* POST /v1/collect {"aid","url","referrer"}: a page view from the site script. An open
 * door (DESIGN §2b): no token, but the Origin must be on collect_allow, each client
 * address is held to collect_rate a minute, and the body is checked whole by the click
 * connector before anything is queued; what it queues is a small record the worker turns
 * into a "visit" event through the normal normalize/apply path. The answer carries the
 * CORS headers for the allowed origin (the script sends text/plain: no preflight). */
void ingest_handle_collect(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    int64_t start_us = jd_mono_us();
    struct evkeyvalq *hin = evhttp_request_get_input_headers(req);
    struct evkeyvalq *hout = evhttp_request_get_output_headers(req);
    const char *origin = evhttp_find_header(hin, "Origin");
    struct refusal no = {0};
    struct cx_err err = {{0}};
    char addr[RL_ADDR_MAX], aid[CX_CLICK_AID_SIZE], view_id[48], secs[24];
    char *record = NULL;
    int64_t retry_s = 0;
    size_t body_len = 0;
    const unsigned char *body;
    struct ingest_req *ir;
    if (!jd->roles_ingest || !jd->collect_limit || jd->cfg->ncollect_allow == 0) {
        no = (struct refusal){404, "not_found", "collect_allow is empty: no page views"};
        goto out;
    }
    if (!collect_origin_allowed(jd->cfg, origin)) {
        no = (struct refusal){403, "origin_not_allowed",
                              "the page's origin is not on the collect_allow list"};
        goto out;
    }
    evhttp_add_header(hout, "Access-Control-Allow-Origin", origin);
    evhttp_add_header(hout, "Access-Control-Allow-Credentials", "true");
    evhttp_add_header(hout, "Vary", "Origin");
    client_address(req, addr, sizeof(addr));
    if (!rl_take(jd->collect_limit, addr, jd->cfg->collect_rate, jd_now_ms(), &retry_s)) {
        jd->metrics.n.page_views_limited++;
        snprintf(secs, sizeof(secs), "%lld", (long long)(retry_s > 0 ? retry_s : 1));
        evhttp_add_header(hout, "Retry-After", secs);
        no = (struct refusal){429, "rate_limited", "too many page views from this address"};
        goto out;
    }
    body = http_body(req, &body_len);
    if (!body) {
        no = (struct refusal){503, "unavailable", "out of memory"};
        goto out;
    }
    if (body_len > CX_COLLECT_BODY_MAX) {
        no = (struct refusal){413, "too_large", "a page view is at most 6144 bytes"};
        goto out;
    }
    cx_click_cookie_aid(evhttp_find_header(hin, "Cookie"), aid);
    if (jd_random_id("", 12, view_id, sizeof(view_id)) != 0) {
        no = (struct refusal){503, "unavailable", "no randomness"};
        goto out;
    }
    if (cx_collect_record(body, body_len, view_id, aid, jd_now_ms(), &record, &err) != CX_OK) {
        no = (struct refusal){400, "bad_request", err.msg[0] ? err.msg : "not a page view"};
        goto out;
    }
    const char *why = queue_refusal(jd);
    ir = why ? NULL : new_ingest_req(jd, req, "collect", start_us);
    if (!ir) {
        jd->metrics.n.unavailable++;
        no = (struct refusal){503, "unavailable", why ? why : "out of memory"};
        goto out;
    }
    jd->metrics.n.page_views++;
    enqueue(jd, ir, &jd->click_source, cx_lookup("click"), NULL, 0, (const unsigned char *)record,
            strlen(record));
out:
    if (no.status) {
        if (no.status != 503 && no.status != 429)
            jd->metrics.n.page_views_refused++;
        refuse(jd, req, &no);
        account(jd, "collect", no.status, start_us);
    }
    cJSON_free(record);
}

/* GET /j.js: cached for a year when asked for by its version (/j.js?v=<the ETag's
 * digest>, what docs/providers/site.md has sites paste), else for an hour and revalidated
 * by ETag, so a page that pastes the bare URL picks up a new build within the hour. */
void ingest_handle_site_script(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    const struct ui_asset *a = NULL;
    for (size_t i = 0; i < site_nassets; i++)
        if (strcmp(site_assets[i].name, "j.js") == 0)
            a = &site_assets[i];
    if (!a) {
        http_reply_error(req, 404, "not_found", "no site script in this build");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    /* The ETag is the quoted digest: "v=<digest>" names this very build. */
    size_t dl = strlen(a->etag) - 2;
    int versioned = query && strncmp(query, "v=", 2) == 0 && strlen(query + 2) == dl &&
                    strncmp(query + 2, a->etag + 1, dl) == 0;
    evhttp_add_header(out, "Cache-Control",
                      versioned ? "public, max-age=31536000, immutable" : "public, max-age=3600");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    ui_send_asset(jd, req, a);
}

static void on_queue_status(struct rq_client *c, const redisReply *r, void *priv)
{
    struct jd *jd = priv;
    (void)c;
    /* status.lua answers four figures since it gained the oldest entry's id: a check for
     * exactly three left the queue length at 0, so neither max_queue nor the reconcile
     * walks' back-pressure ever saw the queue. */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
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
    if (c)
        (void)stream_status(c, on_queue_status, jd);
    sources_tick(jd->sources, jd->rq_ingest, jd->stopping);
}

int ingest_start(struct jd *jd)
{
    if (!(jd->collect_limit = rl_new()))
        return -1;
    jd->queue_probe = event_new(jd->base, -1, EV_PERSIST, on_queue_probe, jd);
    struct timeval tv = {1, 0};
    if (!jd->queue_probe || event_add(jd->queue_probe, &tv) != 0)
        return -1;
    return 0;
}

void ingest_free(struct jd *jd)
{
    rl_free(jd->collect_limit);
    jd->collect_limit = NULL;
    if (jd->queue_probe) {
        event_free(jd->queue_probe);
        jd->queue_probe = NULL;
    }
}
