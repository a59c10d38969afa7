/*
 * POST /v1/backfill {"source":"stripe","since":"90d"} (admin): asks the worker's
 * reconciliation (daemon/reconcile.c) to read the source's history back, as `journeyd
 * backfill` does from a shell. The request is written to Redis (the backfill's state in
 * jd:backfill:<source>, the source in jd:backfill:requests), so whichever journeyd runs
 * the worker takes it up within a few seconds, and a restart resumes it from its cursor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "jd.h"
#include "listing.h"
#include "log.h"
#include "reconcile.h"
#include "util.h"

struct backfill_req {
    struct jd *jd;
    struct evhttp_request *req;
    char source[64];
    int64_t since_s;
};

/* A command whose answer nobody waits for (rq_command needs a callback). */
static void on_ignore(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)r;
    (void)priv;
}

static void on_queued(struct rq_client *c, const redisReply *r, void *priv)
{
    struct backfill_req *br = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        http_reply_unavailable(br->jd, br->req, "store unavailable");
    } else {
        char since[32];
        cx_format_rfc3339(br->since_s * 1000, since);
        jlog(JLOG_NOTICE, "msg=\"backfill queued\" source=%s since=%s", br->source, since);
        cJSON *o = cJSON_CreateObject();
        if (o && cJSON_AddStringToObject(o, "source", br->source) &&
            cJSON_AddStringToObject(o, "since", since) &&
            cJSON_AddStringToObject(o, "state", "queued"))
            http_reply_json(br->req, 202, o);
        else {
            cJSON_Delete(o);
            http_reply_unavailable(br->jd, br->req, "out of memory");
        }
    }
    free(br);
}

void api_handle_backfill(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    size_t len = 0;
    const unsigned char *body = http_body(req, &len);
    cJSON *root = body ? cx_json_parse(body, len, CX_JSON_MAX_DEPTH) : NULL;
    const char *name = cx_json_str(root, "source"), *since = cx_json_str(root, "since");
    const struct cfg_source *s = name ? cfg_find_source(jd->cfg, name) : NULL;
    int64_t since_s = 0;
    if (!s) {
        http_reply_error(
            req, 400, "bad_request",
            "expected {\"source\": a configured source, \"since\": \"90d\" or a date}");
        goto out;
    }
    if (!cx_list_supported(s->type) || !s->api_token || !s->api_token[0] ||
        cx_list_nforms(&s->cx) == 0) {
        http_reply_error(req, 400, "bad_request",
                         "the source cannot read its provider's API (type stripe, shopify, "
                         "pipedrive, hubspot or meta_leads with forms, with api_token)");
        goto out;
    }
    if (!since || reconcile_parse_since(since, jd_now_ms() / 1000, &since_s) != 0) {
        http_reply_error(req, 400, "bad_request",
                         "since: an age (90d, 12w, 36h) or a date, within 10 years");
        goto out;
    }
    struct backfill_req *br = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*br)) : NULL;
    if (!br) {
        http_reply_unavailable(jd, req, "store unavailable");
        goto out;
    }
    br->jd = jd;
    br->req = req;
    br->since_s = since_s;
    snprintf(br->source, sizeof(br->source), "%s", s->name);
    char key[160], since_txt[24];
    snprintf(key, sizeof(key), BACKFILL_KEY_PREFIX "%s", s->name);
    snprintf(since_txt, sizeof(since_txt), "%lld", (long long)since_s);
    /* A new request starts the walk over; the SADD answers, after the HSET in order. */
    const char *hset[] = {"HSET",  key,       "since", since_txt, "after",   "",
                          "state", "running", "pages", "0",       "fetched", "0"};
    const char *sadd[] = {"SADD", BACKFILL_REQUESTS, s->name};
    size_t hl[12], sl[3];
    for (int i = 0; i < 12; i++)
        hl[i] = strlen(hset[i]);
    for (int i = 0; i < 3; i++)
        sl[i] = strlen(sadd[i]);
    if (rq_command(jd->rq_api, 0, on_ignore, NULL, 12, hset, hl) != 0 ||
        rq_command(jd->rq_api, 0, on_queued, br, 3, sadd, sl) != 0) {
        free(br);
        http_reply_unavailable(jd, req, "store unavailable");
    }
out:
    cJSON_Delete(root);
}
