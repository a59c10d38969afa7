#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "log.h"
#include "report.h"

#define API_MAX_CURRENCIES 32
#define API_MAX_PAYMENT_KEYS 4096

enum api_view { VIEW_JOURNEY, VIEW_CONTACT };

struct api_req {
    struct jd *jd;
    struct evhttp_request *req;
    enum api_view view;
    struct rp_attr_params attr; /* the journey's "conversions": model, lookback, half-life */
};

static const char *const stage_names[] = {NULL,          "visit", "lead", "qualified",
                                          "opportunity", "won",   "paid"};

struct revenue {
    size_t n;
    char cur[API_MAX_CURRENCIES][4];
    int64_t minor[API_MAX_CURRENCIES];
};

static int revenue_add(struct revenue *rv, const char *cur, int64_t v)
{
    for (size_t i = 0; i < rv->n; i++)
        if (strcmp(rv->cur[i], cur) == 0) {
            if ((v > 0 && rv->minor[i] > INT64_MAX - v) || (v < 0 && rv->minor[i] < INT64_MIN - v))
                return -1;
            rv->minor[i] += v;
            return 0;
        }
    if (rv->n == API_MAX_CURRENCIES)
        return -1;
    snprintf(rv->cur[rv->n], 4, "%s", cur);
    rv->minor[rv->n++] = v;
    return 0;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Revenue counts once per payment key (DESIGN §3): the first payment event in journey
 * order that carries a key is the conversion; later ones with the same key stay in the
 * journey without an amount. Refunds subtract what they refunded. */
static void account_revenue(cJSON *events, struct revenue *rv)
{
    const char **seen = calloc(API_MAX_PAYMENT_KEYS, sizeof(*seen));
    size_t nseen = 0;
    cJSON *ev;
    cJSON_ArrayForEach(ev, events)
    {
        const char *kind = str_field(ev, "kind");
        const cJSON *amount = cJSON_GetObjectItemCaseSensitive(ev, "amount");
        const char *cur = amount ? str_field(amount, "currency") : NULL;
        int64_t minor;
        if (!kind || !cur || cx_json_int(amount, "minor", &minor) != 0)
            continue;
        if (strcmp(kind, "payment") == 0) {
            const char *key = str_field(ev, "payment_key");
            int dup = 0;
            for (size_t i = 0; key && seen && i < nseen; i++)
                if (strcmp(seen[i], key) == 0)
                    dup = 1;
            if (dup) {
                cJSON_DeleteItemFromObjectCaseSensitive(ev, "amount");
                cJSON_AddBoolToObject(ev, "counted", 0);
                continue;
            }
            if (key && seen && nseen < API_MAX_PAYMENT_KEYS)
                seen[nseen++] = key;
            (void)revenue_add(rv, cur, minor);
        } else if (strcmp(kind, "refund") == 0) {
            (void)revenue_add(rv, cur, -minor);
        }
    }
    free(seen);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static cJSON *time_string(const redisReply *score)
{
    char buf[32];
    if (score->type != REDIS_REPLY_STRING || score->len == 0)
        return cJSON_CreateNull();
    cx_format_rfc3339(strtoll(score->str, NULL, 10), buf);
    return cJSON_CreateString(buf);
}

/* Builds the answer from journey.lua's reply. NULL on allocation failure. */
static int stage_rank(const char *s)
{
    for (int i = 1; s && i <= 6; i++)
        if (strcmp(s, stage_names[i]) == 0)
            return i;
    return 0;
}

/* "conversions" (DESIGN §7): each payment or refund with the credit every touch received
 * under the requested model, so each report number can be traced to its payments. */
static cJSON *conversions_json(const cJSON *events, const int64_t *ats, size_t nats,
                               const struct rp_attr_params *p)
{
    size_t n = (size_t)cJSON_GetArraySize(events), k = 0, skipped = 0;
    struct rp_event *rv = calloc(n ? n : 1, sizeof(*rv));
    cJSON *out = cJSON_CreateArray();
    struct rp_conversion *conv = NULL;
    size_t nconv = 0;
    if (!rv || !out)
        goto fail;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events)
    {
        struct rp_event *e = &rv[k];
        const cJSON *touch = cJSON_GetObjectItemCaseSensitive(ev, "touch");
        const cJSON *amount = cJSON_GetObjectItemCaseSensitive(ev, "amount");
        const char *v;
        e->id = str_field(ev, "id");
        e->kind = str_field(ev, "kind");
        size_t at_index = (size_t)(e - rv) + skipped;
        if (!e->id || !e->kind || at_index >= nats) {
            skipped++;
            continue;
        }
        e->at_ms = ats[at_index];
        e->stage = stage_rank(str_field(ev, "stage"));
        e->source_type = (v = str_field(ev, "type")) ? v : "";
        e->is_touch = cJSON_IsObject(touch);
        e->channel = e->is_touch && (v = str_field(touch, "channel")) ? v : "";
        e->source = e->is_touch && (v = str_field(touch, "source")) ? v : "";
        e->campaign = e->is_touch && (v = str_field(touch, "campaign")) ? v : "";
        e->ad = e->is_touch && (v = str_field(touch, "ad")) ? v : "";
        e->payment_key = (v = str_field(ev, "payment_key")) ? v : "";
        const char *cur = amount ? str_field(amount, "currency") : NULL;
        if (cur && strlen(cur) == 3 && cx_json_int(amount, "minor", &e->amount_minor) == 0) {
            e->has_amount = 1;
            memcpy(e->currency, cur, 4);
        }
        k++;
    }
    struct rp_contact c = {.id = "", .events = rv, .n = k};
    if (rp_contact_conversions(&c, p, &conv, &nconv) != 0)
        goto fail;
    for (size_t i = 0; i < nconv; i++) {
        cJSON *o = cJSON_CreateObject(), *amt, *credit;
        cJSON_AddItemToArray(out, o);
        cJSON_AddStringToObject(o, "event", conv[i].event_id);
        amt = cJSON_AddObjectToObject(o, "amount");
        cJSON_AddNumberToObject(amt, "minor", (double)conv[i].amount_minor);
        cJSON_AddStringToObject(amt, "currency", conv[i].currency);
        credit = cJSON_AddArrayToObject(o, "credit");
        for (size_t t = 0; t < conv[i].ncredit; t++) {
            cJSON *cr = cJSON_CreateObject();
            cJSON_AddItemToArray(credit, cr);
            if (conv[i].credit[t].touch_id)
                cJSON_AddStringToObject(cr, "touch", conv[i].credit[t].touch_id);
            else
                cJSON_AddStringToObject(cr, "touch", "(direct)");
            cJSON_AddNumberToObject(cr, "minor", (double)conv[i].credit[t].minor);
        }
    }
    rp_conversions_free(conv, nconv);
    free(rv);
    return out;
fail:
    rp_conversions_free(conv, nconv);
    free(rv);
    cJSON_Delete(out);
    return NULL;
}

static cJSON *build_answer(const redisReply *r, enum api_view view, const struct rp_attr_params *p)
{
    int64_t *ats = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *contact = cJSON_AddObjectToObject(root, "contact");
    cJSON *events = cJSON_CreateArray();
    if (!root || !contact || !events)
        goto fail;
    cJSON_AddStringToObject(contact, "id", r->element[0]->str);
    long rank = strtol(r->element[1]->str, NULL, 10);
    if (rank >= 1 && rank <= 6)
        cJSON_AddStringToObject(contact, "stage", stage_names[rank]);
    else
        cJSON_AddNullToObject(contact, "stage");

    /* Identities sorted by type, then value ("type\tvalue" sorts that way). */
    const redisReply *ids = r->element[2];
    const char **sorted = calloc(ids->elements + 1, sizeof(*sorted));
    cJSON *idarr = cJSON_AddArrayToObject(contact, "identities");
    if (!sorted || !idarr) {
        free(sorted);
        goto fail;
    }
    for (size_t i = 0; i < ids->elements; i++)
        sorted[i] = ids->element[i]->str;
    qsort(sorted, ids->elements, sizeof(*sorted), cmp_str);
    for (size_t i = 0; i < ids->elements; i++) {
        const char *tab = strchr(sorted[i], '\t');
        cJSON *o = cJSON_CreateObject();
        if (!tab || !o) {
            cJSON_Delete(o);
            continue;
        }
        char type[CX_IDENT_TYPE_MAX];
        snprintf(type, sizeof(type), "%.*s", (int)(tab - sorted[i]), sorted[i]);
        cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "value", tab + 1);
        cJSON_AddItemToArray(idarr, o);
    }
    free(sorted);
    cJSON_AddItemToObject(contact, "first_seen", time_string(r->element[6]));
    cJSON_AddItemToObject(contact, "last_seen", time_string(r->element[7]));

    const redisReply *evs = r->element[8];
    /* The exact at of each event kept, in step with the events array (the JSON has it as
     * text only). */
    size_t nats = 0;
    ats = calloc(evs->elements / 3 + 1, sizeof(*ats));
    if (!ats)
        goto fail;
    for (size_t i = 0; i + 2 < evs->elements; i += 3) {
        cJSON *ev = cJSON_ParseWithLength(evs->element[i + 2]->str, evs->element[i + 2]->len);
        if (ev) {
            cJSON_AddItemToArray(events, ev);
            ats[nats++] = strtoll(evs->element[i + 1]->str, NULL, 10);
        }
    }
    struct revenue rv = {0};
    account_revenue(events, &rv);
    cJSON *rev = cJSON_AddObjectToObject(contact, "revenue");
    for (size_t i = 0; rev && i < rv.n; i++)
        cJSON_AddNumberToObject(rev, rv.cur[i], (double)rv.minor[i]);

    cJSON *conf = cJSON_AddArrayToObject(contact, "conflicts");
    for (size_t i = 0; conf && i < r->element[3]->elements; i++) {
        const redisReply *c = r->element[3]->element[i];
        cJSON *o = cJSON_ParseWithLength(c->str, c->len);
        if (o)
            cJSON_AddItemToArray(conf, o);
    }
    cJSON *mf = cJSON_AddArrayToObject(contact, "merged_from");
    for (size_t i = 0; mf && i < r->element[4]->elements; i++)
        cJSON_AddItemToArray(mf, cJSON_CreateString(r->element[4]->element[i]->str));
    cJSON_AddNumberToObject(contact, "events_total", (double)r->element[5]->integer);

    if (view == VIEW_JOURNEY) {
        cJSON *conversions = conversions_json(events, ats, nats, p);
        cJSON_AddItemToObject(root, "events", events);
        if (conversions)
            cJSON_AddItemToObject(root, "conversions", conversions);
        if ((long long)(evs->elements / 3) < r->element[5]->integer)
            cJSON_AddBoolToObject(root, "truncated", 1);
    } else {
        cJSON_Delete(events);
    }
    free(ats);
    return root;
fail:
    free(ats);
    cJSON_Delete(events);
    cJSON_Delete(root);
    return NULL;
}

static int reply_shape_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 9)
        return 0;
    return r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
           r->element[2]->type == REDIS_REPLY_ARRAY && r->element[3]->type == REDIS_REPLY_ARRAY &&
           r->element[4]->type == REDIS_REPLY_ARRAY && r->element[5]->type == REDIS_REPLY_INTEGER &&
           r->element[8]->type == REDIS_REPLY_ARRAY;
}

static void on_journey(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r)
            jlog(JLOG_WARNING, "msg=\"journey read failed\" error=\"%.120s\"", r->str);
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
    } else if (r->type == REDIS_REPLY_NIL) {
        http_reply_error(ar->req, 404, "not_found", "no contact with that identity");
    } else if (!reply_shape_ok(r)) {
        http_reply_error(ar->req, 500, "internal", "unexpected store answer");
    } else {
        cJSON *answer = build_answer(r, ar->view, &ar->attr);
        if (answer)
            http_reply_json(ar->req, 200, answer);
        else
            http_reply_unavailable(ar->jd, ar->req, "out of memory");
    }
    free(ar);
}

static void read_contact(struct jd *jd, struct evhttp_request *req, enum api_view view,
                         enum rp_model model, const char *mode, const char *key, size_t key_len)
{
    if (!rq_is_ready(jd->rq_api)) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    struct api_req *ar = calloc(1, sizeof(*ar));
    if (!ar) {
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    ar->view = view;
    ar->attr.model = model;
    ar->attr.lookback_ms = jd->cfg->attribution_lookback_ms;
    ar->attr.half_life_ms = jd->cfg->attribution_half_life_ms;
    ar->attr.from_ms = INT64_MIN;
    ar->attr.to_ms = INT64_MAX;
    char limit[24];
    snprintf(limit, sizeof(limit), "%lld", (long long)jd->cfg->max_journey_events);
    const char *argv[3] = {mode, key, limit};
    size_t lens[3] = {strlen(mode), key_len, strlen(limit)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_JOURNEY, 0, on_journey, ar, 0, 3, argv, lens) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}

/* ?email= | phone= | anon= | contact= | identity=<type>:<value>, normalized the same way
 * the connectors normalize identities. */
void api_handle_journey(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct cx_form q = {0};
    char key[CX_IDENT_TYPE_MAX + CX_IDENT_VALUE_MAX + 2], norm[CX_IDENT_VALUE_MAX];
    const char *v;
    int ok = query && cx_form_parse(&q, query, strlen(query)) == 0;
    enum rp_model model = RP_LINEAR;
    if (ok && (v = cx_form_get(&q, "model")) && rp_parse_model(v, &model) != 0) {
        cx_form_free(&q);
        http_reply_error(req, 400, "bad_request",
                         "unknown model: expected first_touch, last_touch, linear, position or "
                         "time_decay");
        return;
    }
    if (ok && (v = cx_form_get(&q, "contact"))) {
        snprintf(key, sizeof(key), "%s", v);
        cx_form_free(&q);
        read_contact(jd, req, VIEW_JOURNEY, model, "contact", key, strlen(key));
        return;
    }
    const char *type = NULL, *value = NULL;
    if (ok && (v = cx_form_get(&q, "email"))) {
        ok = cx_norm_email(v, norm, sizeof(norm)) == 0;
        type = "email";
        value = norm;
    } else if (ok && (v = cx_form_get(&q, "phone"))) {
        ok = cx_norm_phone(v, jd->cfg->default_country_code, norm, sizeof(norm)) == 0;
        type = "phone";
        value = norm;
    } else if (ok && (v = cx_form_get(&q, "anon"))) {
        type = "anon";
        value = v;
    } else if (ok && (v = cx_form_get(&q, "identity"))) {
        const char *colon = strrchr(v, ':');
        /* custom:<name>:<value> keeps its own colon: split at the last one. */
        if (colon && colon != v && colon - v < CX_IDENT_TYPE_MAX) {
            char t[CX_IDENT_TYPE_MAX];
            snprintf(t, sizeof(t), "%.*s", (int)(colon - v), v);
            if (strcmp(t, "email") == 0)
                ok = cx_norm_email(colon + 1, norm, sizeof(norm)) == 0;
            else if (strcmp(t, "phone") == 0)
                ok = cx_norm_phone(colon + 1, jd->cfg->default_country_code, norm, sizeof(norm)) ==
                     0;
            else
                snprintf(norm, sizeof(norm), "%s", colon + 1);
            snprintf(key, sizeof(key), "%s\t%s", t, norm);
            type = "";
        } else {
            ok = 0;
        }
    } else {
        ok = 0;
    }
    if (ok && type && type[0])
        snprintf(key, sizeof(key), "%s\t%s", type, value);
    cx_form_free(&q);
    if (!ok) {
        http_reply_error(
            req, 400, "bad_request",
            "expected one of email=, phone=, anon=, contact=, identity=<type>:<value>");
        return;
    }
    read_contact(jd, req, VIEW_JOURNEY, model, "identity", key, strlen(key));
}

static void on_erased(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
    } else if (r->type == REDIS_REPLY_NIL) {
        http_reply_error(ar->req, 404, "not_found", "no such contact");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
               r->element[0]->type != REDIS_REPLY_STRING) {
        http_reply_error(ar->req, 500, "internal", "unexpected store answer");
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "erased", r->element[0]->str);
        cJSON_AddNumberToObject(o, "events", (double)r->element[1]->integer);
        cJSON_AddNumberToObject(o, "identities", (double)r->element[2]->integer);
        /* The contact id is not personal data; what it held is gone. */
        jlog(JLOG_NOTICE, "msg=\"contact erased\" contact=%s events=%lld", r->element[0]->str,
             r->element[1]->integer);
        http_reply_json(ar->req, 200, o);
    }
    free(ar);
}

/* DELETE: GDPR erasure. Event ids stay as tombstones for dedup_days, so a provider's
 * retry of an old delivery does not bring the contact back. */
static void erase_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id)
{
    struct api_req *ar = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*ar)) : NULL;
    if (!ar) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)jd->cfg->dedup_days * 86400);
    const char *argv[2] = {contact_id, ttl};
    size_t lens[2] = {strlen(contact_id), strlen(ttl)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_ERASE, 0, on_erased, ar, 0, 2, argv, lens) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}

void api_handle_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id)
{
    if (!http_require_token(jd, req))
        return;
    size_t len = strlen(contact_id);
    if (len == 0 || len > 64 || strchr(contact_id, '/')) {
        http_reply_error(req, 404, "not_found", "no such contact");
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_DELETE)
        erase_contact(jd, req, contact_id);
    else
        read_contact(jd, req, VIEW_CONTACT, RP_LINEAR, "contact", contact_id, len);
}

static void on_status(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
        free(ar);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "length", (double)r->element[0]->integer);
    cJSON_AddNumberToObject(q, "pending", (double)r->element[1]->integer);
    cJSON_AddNumberToObject(o, "dead_letters", (double)r->element[2]->integer);
    cJSON_AddStringToObject(o, "redis", "ready");
    http_reply_json(ar->req, 200, o);
    free(ar);
}

void api_handle_status(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct api_req *ar = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*ar)) : NULL;
    if (!ar) {
        http_reply_unavailable(jd, req, "redis unavailable");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    const char *argv[3] = {JD_RAW_STREAM, JD_DEAD_STREAM, JD_GROUP};
    size_t lens[3] = {strlen(JD_RAW_STREAM), strlen(JD_DEAD_STREAM), strlen(JD_GROUP)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_STATUS, 0, on_status, ar, 2, 3, argv, lens) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}

static void on_replayed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", (double)r->integer);
        jlog(JLOG_NOTICE, "msg=\"dead letters replayed\" count=%lld", r->integer);
        http_reply_json(ar->req, 200, o);
    }
    free(ar);
}

/* POST /v1/dead/replay?count=N: after a fix, dead-lettered webhooks go back to the raw
 * stream (oldest first, at most N, default 100, at most 10,000 per call). */
void api_handle_replay(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct cx_form q = {0};
    long count = 100;
    const char *v;
    if (query && (cx_form_parse(&q, query, strlen(query)) != 0 ||
                  ((v = cx_form_get(&q, "count")) &&
                   ((count = strtol(v, NULL, 10)) < 1 || count > 10000)))) {
        cx_form_free(&q);
        http_reply_error(req, 400, "bad_request", "count: a number from 1 to 10000");
        return;
    }
    cx_form_free(&q);
    struct api_req *ar = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*ar)) : NULL;
    if (!ar) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    char n[24];
    snprintf(n, sizeof(n), "%ld", count);
    const char *argv[3] = {JD_RAW_STREAM, JD_DEAD_STREAM, n};
    size_t lens[3] = {strlen(JD_RAW_STREAM), strlen(JD_DEAD_STREAM), strlen(n)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_REPLAY, 0, on_replayed, ar, 2, 3, argv, lens) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}
