/*
 * The drill-downs of DESIGN §7: the conversions behind an attribution row, the contacts
 * behind a funnel cell, the leads behind an SLA figure, paged with `limit` and `cursor`.
 *
 * A drill-down runs the report's own job (report_job.h: the same readers, the same pure
 * arithmetic in reports/) with two hooks set, so it lists exactly what the report counts:
 * attribution hands each contact to rp_attribution_drill instead of the report; the
 * funnel keeps its contact table and picks the cell with rp_funnel_cell; the SLA keeps
 * its leads with their status (rp_sla_keep_leads). The items are then sorted (by time,
 * then id), the page after the cursor is cut, and one report.lua "people" call gives the
 * page's contacts their live id, email and name. Items are bounded (REPORT_MAX_CONTACTS),
 * a page by DRILL_LIMIT_MAX.
 *
 * The cursor is opaque to clients: the hex of "<time ms>:<id>" of the page's last item,
 * so the next page starts after it even when items were added or removed meanwhile.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "ctab.h"
#include "http.h"
#include "report_job.h"
#include "util.h"

#define DRILL_LIMIT_DEFAULT 50
#define DRILL_LIMIT_MAX 500
#define CURSOR_MAX (24 + 1 + ID_MAX)

enum drill_kind { DRILL_ATTRIBUTION, DRILL_FUNNEL, DRILL_SLA };

static const char *const stage_names[] = {"lead", "qualified", "opportunity", "won", "paid"};
/* By enum rp_sla_status. */
static const char *const status_names[] = {"self_served", "within", "breached", "waiting", "open"};

struct drill_item {
    char *id;  /* attribution: the conversion's event id; else the contact id */
    char *cid; /* the contact (attribution: owned here; else == id) */
    int64_t t; /* sort time: the conversion's at, the stage entry, the lead entry */
    int64_t lead_at;
    int64_t amount, credit; /* attribution */
    char currency[4];
    int payment;
    uint64_t touches;
    enum rp_sla_status status; /* SLA */
    int64_t seconds, response_at;
};

struct drill {
    enum drill_kind kind;
    char key[CX_TEXT_MAX];
    char period[32];
    int rank;        /* funnel: lead 2 … paid 6 */
    unsigned status; /* SLA: mask of RP_SLA_* asked for */
    char status_name[16];
    int64_t lo, hi; /* funnel: the cell */
    size_t limit;
    int has_cursor;
    int64_t cur_t;
    char cur_id[ID_MAX + 1];
    struct drill_item *v;
    size_t n, cap;
    size_t first, count; /* the page: v[first … first + count) */
};

static void drill_free(void *p)
{
    struct drill *d = p;
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i].cid != d->v[i].id)
            free(d->v[i].cid);
        free(d->v[i].id);
    }
    free(d->v);
    free(d);
}

/* A new item (zeroed), or NULL: -1 out of memory, -2 too many. */
static struct drill_item *drill_push(struct drill *d, int *rc)
{
    if (d->n >= REPORT_MAX_CONTACTS) {
        *rc = -2;
        return NULL;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct drill_item *v = realloc(d->v, cap * sizeof(*v));
        if (!v) {
            *rc = -1;
            return NULL;
        }
        d->v = v;
        d->cap = cap;
    }
    struct drill_item *it = &d->v[d->n];
    memset(it, 0, sizeof(*it));
    return it;
}

/* drill_push for a row that is a contact: its id is a copy of cid, and names the person. */
static struct drill_item *drill_push_contact(struct drill *d, const char *cid, int *rc)
{
    struct drill_item *it = drill_push(d, rc);
    if (!it)
        return NULL;
    if (!(it->id = strdup(cid))) {
        *rc = -1;
        return NULL;
    }
    it->cid = it->id;
    return it;
}

/* ---- query ---- */

static int parse_query(struct evhttp_request *req, struct cx_form *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    memset(q, 0, sizeof(*q));
    if (!query)
        return 0;
    return cx_form_parse(q, query, strlen(query));
}

/* from/to as the reports take them today (RFC 3339 instants; absent = open). The one call
 * to switch when the reports' range parser changes. */
static const char *drill_range(const struct cx_form *q, int required, int64_t *from, int64_t *to)
{
    const char *f = cx_form_get(q, "from"), *t = cx_form_get(q, "to");
    *from = INT64_MIN;
    *to = INT64_MAX;
    if (required && (!f || !t))
        return "from and to are required (RFC 3339 instants)";
    if (f && cx_parse_rfc3339(f, from) != 0)
        return "from is not an RFC 3339 instant";
    if (t && cx_parse_rfc3339(t, to) != 0)
        return "to is not an RFC 3339 instant";
    if (*from >= *to)
        return "from must be before to";
    return NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* limit and cursor, shared by every drill-down. NULL, or what is wrong. */
static const char *parse_page(const struct cx_form *q, struct drill *d)
{
    const char *v = cx_form_get(q, "limit");
    d->limit = DRILL_LIMIT_DEFAULT;
    if (v) {
        char *end;
        errno = 0;
        long l = strtol(v, &end, 10);
        if (end == v || *end || errno || l < 1 || l > DRILL_LIMIT_MAX)
            return "limit: expected 1 to 500";
        d->limit = (size_t)l;
    }
    if (!(v = cx_form_get(q, "cursor")))
        return NULL;
    char text[CURSOR_MAX + 1];
    size_t len = strlen(v), n = len / 2;
    if (len == 0 || len % 2 || n > CURSOR_MAX)
        return "cursor: not one this API gave";
    for (size_t i = 0; i < n; i++) {
        int a = hexval(v[2 * i]), b = hexval(v[2 * i + 1]);
        if (a < 0 || b < 0 || (a == 0 && b == 0))
            return "cursor: not one this API gave";
        text[i] = (char)(a * 16 + b);
    }
    text[n] = '\0';
    char *colon = strchr(text, ':'), *end;
    if (!colon || colon == text || !colon[1])
        return "cursor: not one this API gave";
    *colon = '\0';
    errno = 0;
    long long t = strtoll(text, &end, 10);
    if (*end || errno)
        return "cursor: not one this API gave";
    d->has_cursor = 1;
    d->cur_t = t;
    snprintf(d->cur_id, sizeof(d->cur_id), "%s", colon + 1);
    return NULL;
}

static int item_cmp(const void *pa, const void *pb)
{
    const struct drill_item *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* ---- the answer ---- */

static cJSON *instant(int64_t ms)
{
    char at[32];
    cx_format_rfc3339(ms, at);
    return cJSON_CreateString(at);
}

/* An end of a range: null when open (INT64_MIN / INT64_MAX), as the reports write it. */
static cJSON *range_end(int64_t ms)
{
    return ms == INT64_MIN || ms == INT64_MAX ? cJSON_CreateNull() : instant(ms);
}

static cJSON *text_or_null(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING || r->len == 0)
        return cJSON_CreateNull();
    return cJSON_CreateString(r->str);
}

static cJSON *money(int64_t minor, const char *cur)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "minor", (double)minor) ||
        !cJSON_AddStringToObject(o, "currency", cur)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"id","name","email","journey"} of one page item's contact, from its "people" entry. */
static int put_person(cJSON *o, const struct drill_item *it, const redisReply *p)
{
    const redisReply *live = p->element[0];
    const char *id = live->len ? live->str : it->cid;
    char link[ID_MAX + 32];
    snprintf(link, sizeof(link), "/v1/journey?contact=%s", id);
    return cJSON_AddStringToObject(o, "id", id) &&
                   cJSON_AddItemToObject(o, "name", text_or_null(p->element[2])) &&
                   cJSON_AddItemToObject(o, "email", text_or_null(p->element[1])) &&
                   cJSON_AddStringToObject(o, "journey", link)
               ? 0
               : -1;
}

static cJSON *attribution_item(const struct drill_item *it, const redisReply *p)
{
    cJSON *o = cJSON_CreateObject(), *c = cJSON_CreateObject();
    if (!o || !c || !cJSON_AddStringToObject(o, "event", it->id) ||
        !cJSON_AddStringToObject(o, "kind", it->payment ? "payment" : "refund") ||
        !cJSON_AddItemToObject(o, "at", instant(it->t)) ||
        !cJSON_AddItemToObject(o, "amount", money(it->amount, it->currency)) ||
        !cJSON_AddItemToObject(o, "credit", money(it->credit, it->currency)) ||
        !cJSON_AddNumberToObject(o, "touches", (double)it->touches) || put_person(c, it, p) ||
        !cJSON_AddItemToObject(o, "contact", c)) {
        cJSON_Delete(o);
        cJSON_Delete(c);
        return NULL;
    }
    return o;
}

static cJSON *contact_item(const struct drill *d, const struct drill_item *it, const redisReply *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || put_person(o, it, p) || !cJSON_AddItemToObject(o, "lead_at", instant(it->lead_at)))
        goto fail;
    if (d->kind == DRILL_FUNNEL) {
        if (!cJSON_AddItemToObject(o, "entered_at", instant(it->t)))
            goto fail;
        return o;
    }
    if (!cJSON_AddStringToObject(o, "status", status_names[it->status]))
        goto fail;
    if (it->status == RP_SLA_WITHIN || it->status == RP_SLA_BREACHED) {
        if (!cJSON_AddItemToObject(o, "response_at", instant(it->response_at)) ||
            !cJSON_AddNumberToObject(o, "response_seconds", (double)it->seconds))
            goto fail;
    } else if ((it->status == RP_SLA_WAITING || it->status == RP_SLA_OPEN) &&
               !cJSON_AddNumberToObject(o, "waited_seconds", (double)it->seconds)) {
        goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* The answer's head: what was asked, and how many items there are in all. */
static cJSON *answer_head(const struct report_job *j, const struct drill *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = 1;
    if (d->kind == DRILL_ATTRIBUTION) {
        static const char *const models[] = {"first_touch", "last_touch", "linear", "position",
                                             "time_decay"};
        static const char *const keys[] = {"channel", "source", "campaign", "ad"};
        ok = cJSON_AddStringToObject(o, "model", models[j->attr.model]) &&
             cJSON_AddStringToObject(o, "by", keys[j->attr.by]) &&
             cJSON_AddStringToObject(o, "key", d->key) &&
             cJSON_AddItemToObject(o, "from", range_end(j->attr.from_ms)) &&
             cJSON_AddItemToObject(o, "to", range_end(j->attr.to_ms));
    } else if (d->kind == DRILL_FUNNEL) {
        ok = cJSON_AddStringToObject(o, "view", j->funnel.activity ? "activity" : "cohort") &&
             cJSON_AddStringToObject(o, "by",
                                     j->funnel.by == RP_DAY    ? "day"
                                     : j->funnel.by == RP_WEEK ? "week"
                                                               : "month") &&
             cJSON_AddStringToObject(o, "period", d->period) &&
             cJSON_AddStringToObject(o, "stage", stage_names[d->rank - 2]) &&
             cJSON_AddItemToObject(o, "from", range_end(d->lo)) &&
             cJSON_AddItemToObject(o, "to", range_end(d->hi));
    } else {
        ok = cJSON_AddItemToObject(o, "from", range_end(j->sla.from_ms)) &&
             cJSON_AddItemToObject(o, "to", range_end(j->sla.to_ms)) &&
             cJSON_AddStringToObject(o, "status", d->status_name);
    }
    if (!ok || !cJSON_AddNumberToObject(o, "total", (double)d->n)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *build_answer(struct report_job *j, const redisReply *r)
{
    struct drill *d = j->drill;
    cJSON *o = answer_head(j, d), *arr = cJSON_CreateArray();
    if (!o || !arr ||
        !cJSON_AddItemToObject(o, d->kind == DRILL_ATTRIBUTION ? "conversions" : "contacts", arr)) {
        cJSON_Delete(arr);
        goto fail;
    }
    for (size_t i = 0; i < d->count; i++) {
        const struct drill_item *it = &d->v[d->first + i];
        const redisReply *p = r ? r->element[i] : NULL;
        cJSON *e = d->kind == DRILL_ATTRIBUTION ? attribution_item(it, p) : contact_item(d, it, p);
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            goto fail;
        }
    }
    cJSON *next = cJSON_CreateNull();
    if (d->first + d->count < d->n && d->count) {
        const struct drill_item *last = &d->v[d->first + d->count - 1];
        char text[CURSOR_MAX + 1], hex[2 * CURSOR_MAX + 1];
        int len = snprintf(text, sizeof(text), "%lld:%s", (long long)last->t, last->id);
        if (len > 0 && (size_t)len < sizeof(text)) {
            for (int i = 0; i < len; i++)
                snprintf(hex + 2 * i, 3, "%02x", (unsigned char)text[i]);
            cJSON_Delete(next);
            next = cJSON_CreateString(hex);
        }
    }
    if (!cJSON_AddItemToObject(o, "next_cursor", next)) {
        cJSON_Delete(next);
        goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* The page's people: one entry {live id, email, name} per item, in page order. */
static void on_people(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    struct drill *d = j->drill;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    int ok = r->elements == d->count;
    for (size_t i = 0; ok && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        ok = e->type == REDIS_REPLY_ARRAY && e->elements == 3;
        for (size_t k = 0; ok && k < 3; k++)
            ok = e->element[k]->type == REDIS_REPLY_STRING;
    }
    if (!ok) {
        report_job_fail(j, 503, "unavailable", "unexpected store answer");
        goto out;
    }
    report_job_finish(j, build_answer(j, r), d->count);
out:
    report_job_release(j);
}

/* Every item is known: sort, cut the page after the cursor, look its people up. */
static void drill_page(struct report_job *j)
{
    struct drill *d = j->drill;
    if (d->n > 1)
        qsort(d->v, d->n, sizeof(*d->v), item_cmp);
    d->first = 0;
    if (d->has_cursor) {
        struct drill_item key = {.id = d->cur_id, .t = d->cur_t};
        size_t lo = 0, hi = d->n; /* the first item after the cursor */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (item_cmp(&d->v[mid], &key) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        d->first = lo;
    }
    d->count = d->n - d->first < d->limit ? d->n - d->first : d->limit;
    if (d->count == 0) {
        report_job_finish(j, build_answer(j, NULL), 0);
        return;
    }
    const char *argv[1 + DRILL_LIMIT_MAX];
    size_t lens[1 + DRILL_LIMIT_MAX];
    argv[0] = "people";
    lens[0] = 6;
    for (size_t i = 0; i < d->count; i++) {
        argv[1 + i] = d->v[d->first + i].cid;
        lens[1 + i] = strlen(argv[1 + i]);
    }
    (void)report_job_eval(j, on_people, 1 + (int)d->count, argv, lens);
}

/* The rows are pushed (rc 0): the page; else the job fails, -2 with too many rows
 * (`narrow` says how to ask for fewer), -1 out of memory. */
static void drill_rows_done(struct report_job *j, int rc, const char *narrow)
{
    if (rc) {
        report_job_fail(j, rc == -2 ? 422 : 503, rc == -2 ? "too_large" : "unavailable",
                        rc == -2 ? narrow : "out of memory");
        return;
    }
    drill_page(j);
}

/* ---- attribution ---- */

static int attr_drill(struct report_job *j, const struct rp_contact *c)
{
    struct drill *d = j->drill;
    struct rp_drill_conv *v;
    size_t n;
    int rc = 0;
    if (rp_attribution_drill(j->acc, c, d->key, &v, &n))
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct drill_item *it = drill_push(d, &rc);
        if (!it)
            break;
        it->id = strdup(v[i].event_id);
        it->cid = strdup(c->id);
        if (!it->id || !it->cid) {
            free(it->id);
            free(it->cid);
            rc = -1;
            break;
        }
        it->t = v[i].at_ms;
        it->amount = v[i].amount_minor;
        it->credit = v[i].credit;
        memcpy(it->currency, v[i].currency, sizeof(it->currency));
        it->payment = v[i].payment;
        it->touches = v[i].touches;
        d->n++;
    }
    free(v);
    return rc;
}

/* ---- funnel ---- */

static void funnel_drill_done(struct report_job *j)
{
    struct drill *d = j->drill;
    const struct ctab *t = &j->tab;
    int rc = 0;
    for (size_t e = 0; e < t->n && rc == 0; e++) {
        int64_t at;
        if (!rp_funnel_cell(&t->ent[e], j->funnel.activity, d->rank, d->lo, d->hi, &at))
            continue;
        struct drill_item *it = drill_push_contact(d, t->ids + t->off[e], &rc);
        if (!it)
            break;
        it->t = at;
        it->lead_at = t->ent[e].at[2];
        d->n++;
    }
    drill_rows_done(j, rc, "too many contacts: narrow the period");
}

/* ---- SLA ---- */

static void sla_drill_done(struct report_job *j)
{
    struct drill *d = j->drill;
    size_t n;
    const struct rp_sla_lead *l = rp_sla_leads(j->sla_acc, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct drill_item *it = drill_push_contact(d, l[i].contact, &rc);
        if (!it)
            break;
        it->t = it->lead_at = l[i].lead_at;
        it->status = l[i].status;
        it->seconds = l[i].seconds;
        it->response_at = l[i].response_at;
        d->n++;
    }
    drill_rows_done(j, rc, "too many leads: narrow from/to");
}

static void attr_drill_done(struct report_job *j)
{
    drill_page(j);
}

/* ---- handlers ---- */

/* A new job carrying d (taken: freed with the job, or here when there is none). */
static struct report_job *drill_job(struct jd *jd, struct evhttp_request *req, enum report_kind k,
                                    struct drill *d)
{
    struct report_job *j = report_job_new(jd, req, k);
    if (!j) {
        drill_free(d);
        return NULL;
    }
    j->drill = d;
    j->drill_free = drill_free;
    return j;
}

static void reply_bad(struct evhttp_request *req, struct drill *d, const char *bad)
{
    drill_free(d);
    http_reply_error(req, 400, "bad_request", bad);
}

/* The drill-down's state, or NULL after answering 503. */
static struct drill *drill_new(struct jd *jd, struct evhttp_request *req)
{
    struct drill *d = calloc(1, sizeof(struct drill));
    if (!d)
        http_reply_unavailable(jd, req, "out of memory");
    return d;
}

/* GET /v1/reports/attribution/conversions?model=&by=&key=&from=&to=&limit=&cursor= */
void api_handle_drill_attribution(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_attr_params p = {
        .model = RP_LINEAR,
        .by = RP_BY_CHANNEL,
        .lookback_ms = jd->cfg->attribution_lookback_ms,
        .half_life_ms = jd->cfg->attribution_half_life_ms,
    };
    struct drill *d = drill_new(jd, req);
    const char *bad = NULL, *v;
    if (!d)
        return;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "model")) && rp_parse_model(v, &p.model) != 0)
        bad = "unknown model: expected first_touch, last_touch, linear, position or time_decay";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_key(v, &p.by) != 0)
        bad = "unknown by: expected channel, source, campaign or ad";
    else if (!(v = cx_form_get(&q, "key")) || !v[0] || strlen(v) >= sizeof(d->key))
        bad = "key: the row's key is required (as the report names it)";
    else if (!(bad = parse_page(&q, d)))
        bad = drill_range(&q, 0, &p.from_ms, &p.to_ms);
    if (!bad) {
        d->kind = DRILL_ATTRIBUTION;
        snprintf(d->key, sizeof(d->key), "%s", cx_form_get(&q, "key"));
    }
    cx_form_free(&q);
    if (bad) {
        reply_bad(req, d, bad);
        return;
    }
    struct report_job *j = drill_job(jd, req, REPORT_ATTRIBUTION, d);
    if (!j)
        return;
    j->attr = p;
    /* Rows are not kept: the accumulator holds the params and, by campaign, the campaign
     * names report_attribution_start reads first, so the keys are the report's. */
    if (!(j->acc = rp_attribution_new(&p, 0))) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        report_job_release(j);
        return;
    }
    j->attr_drill = attr_drill;
    j->drill_done = attr_drill_done;
    report_attribution_start(j);
    report_job_release(j);
}

/* GET /v1/reports/funnel/contacts?view=&by=&period=&stage=&from=&to=&limit=&cursor= */
void api_handle_drill_funnel(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_funnel_params p = {.by = RP_MONTH};
    struct drill *d = drill_new(jd, req);
    const char *bad = NULL, *v;
    int64_t from = INT64_MIN, to = INT64_MAX;
    if (!d)
        return;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_period(v, &p.by) != 0)
        bad = "unknown by: expected day, week or month";
    else if ((v = cx_form_get(&q, "view")) && strcmp(v, "cohort") != 0 &&
             strcmp(v, "activity") != 0)
        bad = "unknown view: expected cohort or activity";
    else if (!(bad = parse_page(&q, d)) && !(bad = drill_range(&q, 0, &from, &to))) {
        p.activity = (v = cx_form_get(&q, "view")) && strcmp(v, "activity") == 0;
        d->rank = 0;
        v = cx_form_get(&q, "stage");
        for (int i = 0; v && i < 5; i++)
            if (strcmp(v, stage_names[i]) == 0)
                d->rank = 2 + i;
        if (!d->rank)
            bad = "stage: expected lead, qualified, opportunity, won or paid";
        else if (!(v = cx_form_get(&q, "period")) || strlen(v) >= sizeof(d->period) ||
                 rp_period_range(v, p.by, &d->lo, &d->hi) != 0)
            bad = "period: expected a period label of `by`, such as 2026-09, 2026-W40 or "
                  "2026-09-15";
        else
            snprintf(d->period, sizeof(d->period), "%s", v);
    }
    cx_form_free(&q);
    if (!bad) {
        /* The cell as the report lists it: its period clipped to the report's range. */
        d->lo = d->lo > from ? d->lo : from;
        d->hi = d->hi < to ? d->hi : to;
        if (d->lo >= d->hi)
            bad = "period: outside from/to";
    }
    if (bad) {
        reply_bad(req, d, bad);
        return;
    }
    d->kind = DRILL_FUNNEL;
    p.from_ms = d->lo;
    p.to_ms = d->hi;
    struct report_job *j = drill_job(jd, req, REPORT_FUNNEL, d);
    if (!j)
        return;
    j->funnel = p;
    j->drill_done = funnel_drill_done;
    report_funnel_start(j);
    report_job_release(j);
}

/* GET /v1/reports/sla/contacts?from=&to=&status=&limit=&cursor= */
void api_handle_drill_sla(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_sla_params p = {0};
    struct drill *d = drill_new(jd, req);
    const char *bad = NULL, *v;
    if (!d)
        return;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if (!(bad = parse_page(&q, d)) && !(bad = drill_range(&q, 1, &p.from_ms, &p.to_ms))) {
        v = cx_form_get(&q, "status");
        if (v && strcmp(v, "answered") == 0)
            d->status = 1u << RP_SLA_WITHIN | 1u << RP_SLA_BREACHED;
        if (v && strcmp(v, "leads") == 0) /* the marketing side's leads: every status */
            d->status = (1u << (RP_SLA_OPEN + 1)) - 1;
        for (int i = 0; v && i < 5; i++)
            if (strcmp(v, status_names[i]) == 0)
                d->status = 1u << i;
        if (!d->status)
            bad = "status: expected answered, within, breached, waiting, open, self_served or "
                  "leads";
        else
            snprintf(d->status_name, sizeof(d->status_name), "%s", v);
    }
    cx_form_free(&q);
    if (bad) {
        reply_bad(req, d, bad);
        return;
    }
    d->kind = DRILL_SLA;
    struct report_job *j = drill_job(jd, req, REPORT_SLA, d);
    if (!j)
        return;
    /* The scorecard's own parameters (api_reports.c), copied: a reload may free the
     * config while the job runs. */
    const struct cfg *c = jd->cfg;
    p.now_ms = jd_now_ms();
    snprintf(j->sla_hours, sizeof(j->sla_hours), "%s", c->sla_response_hours);
    snprintf(j->sla_share, sizeof(j->sla_share), "%s", c->sla_response_share);
    p.response_hours = j->sla_hours;
    p.response_share = j->sla_share;
    if (c->sla_business_hours && c->sla_business_hours[0]) {
        snprintf(j->sla_hours_text, sizeof(j->sla_hours_text), "%s", c->sla_business_hours);
        p.business_hours = j->sla_hours_text;
    }
    j->sla = p;
    if (!(j->sla_acc = rp_sla_new(&j->sla))) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        report_job_release(j);
        return;
    }
    rp_sla_keep_leads(j->sla_acc, d->status, REPORT_MAX_CONTACTS);
    j->drill_done = sla_drill_done;
    report_sla_start(j);
    report_job_release(j);
}
