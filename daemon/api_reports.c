/*
 * The report endpoints (DESIGN §6, §6b, §7) and ad spend import. The arithmetic lives in
 * report.c (pure); this file reads what a report needs from the indexes apply.lua keeps,
 * in bounded batches so one report never stalls Redis for the webhooks:
 *
 *   parse the query → contact ids from an index (report.lua "conv"/"stage(s)") →
 *   their compact event records, REPORT_BATCH contacts per call ("data") → report.c →
 *   reply.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "util.h"

#define REPORT_BATCH 500
#define REPORT_MAX_CONTACTS 1000000
#define REPORT_MAX_EVENTS 5000000 /* kept in memory by a funnel or SLA report */
#define DAY_MS INT64_C(86400000)

enum report_kind { REPORT_ATTRIBUTION, REPORT_FUNNEL, REPORT_SLA };

/* One contact's events, parsed from compact records into one owned block. */
struct loaded {
    struct rp_contact c;
    struct rp_event *events;
    char *blob;
};

struct report_job {
    struct jd *jd;
    struct evhttp_request *req;
    enum report_kind kind;
    struct rp_attr_params attr;
    struct rp_funnel_params funnel;
    struct rp_sla_params sla;
    /* Copies of the [sla] targets: a reload may free the config while the job runs. */
    char sla_hours[16], sla_share[16], sla_hours_text[128], sla_leads[16], sla_rate[16];
    struct rp_attribution *acc;
    char **ids;
    size_t nids, next;
    struct loaded *contacts;
    size_t ncontacts, cap, nevents;
    int64_t started_us;
};

static void job_free(struct report_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    for (size_t i = 0; i < j->ncontacts; i++) {
        free(j->contacts[i].events);
        free(j->contacts[i].blob);
    }
    free(j->contacts);
    rp_attribution_free(j->acc);
    free(j);
}

static void job_fail(struct report_job *j, int status, const char *code, const char *msg)
{
    if (status == 503)
        http_reply_unavailable(j->jd, j->req, msg);
    else
        http_reply_error(j->req, status, code, msg);
    job_free(j);
}

/* ---- query parsing ---- */

/* "90d", "36h", "45m", "600s" → ms. */
static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t unit = *end == 'd' ? DAY_MS : *end == 'h' ? 3600000 : *end == 'm' ? 60000 : 1000;
    if (end == s || v <= 0 || v > 3650LL * 86400 || (*end && end[1]) ||
        (*end && !strchr("dhms", *end)))
        return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

/* from/to: RFC 3339 instants; absent = open. from must be before to. */
static const char *parse_range(const struct cx_form *q, int required, int64_t *from, int64_t *to)
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

static int64_t local_ms(struct tm *tm)
{
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    return t == (time_t)-1 ? INT64_MIN : (int64_t)t * 1000;
}

/* A period label (2026-09, 2026-W40, 2026-09-15) → its [start, end) in the configured
 * time zone, for compare=. */
static int period_range(const char *label, enum rp_period by, int64_t *start, int64_t *end)
{
    struct tm a = {0}, b;
    int y, m, d, w;
    char tail;
    if (by == RP_MONTH && sscanf(label, "%4d-%2d%c", &y, &m, &tail) == 2 && m >= 1 && m <= 12) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = 1;
        b = a;
        b.tm_mon += 1;
    } else if (by == RP_DAY && sscanf(label, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
               m <= 12 && d >= 1 && d <= 31) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = d;
        b = a;
        b.tm_mday += 1;
    } else if (by == RP_WEEK && sscanf(label, "%4d-W%2d%c", &y, &w, &tail) == 2 && w >= 1 &&
               w <= 53) {
        /* ISO week 1 holds January 4th; weeks start on Monday. */
        a.tm_year = y - 1900;
        a.tm_mday = 4;
        a.tm_hour = 12;
        a.tm_isdst = -1;
        if (mktime(&a) == (time_t)-1)
            return -1;
        int back = (a.tm_wday + 6) % 7;
        a.tm_mday = 4 - back + (w - 1) * 7;
        a.tm_hour = 0;
        a.tm_mon = 0;
        b = a;
        b.tm_mday += 7;
    } else {
        return -1;
    }
    *start = local_ms(&a);
    *end = local_ms(&b);
    return *start == INT64_MIN || *end == INT64_MIN || *start >= *end ? -1 : 0;
}

/* ---- loading contacts ---- */

static void load_next(struct report_job *j);
static void on_spend(struct rq_client *c, const redisReply *r, void *priv);

static char *field(char **p)
{
    char *f = *p;
    char *sep = f ? strchr(f, CX_RECORD_SEP) : NULL;
    if (sep) {
        *sep = '\0';
        *p = sep + 1;
    } else {
        *p = NULL;
    }
    return f ? f : (char *)"";
}

/* {cid, "id\x1eat\x1erecord\x1d…"} → one owned rp_contact (report.lua's "data" form). */
static int parse_contact(const redisReply *r, struct loaded *out)
{
    memset(out, 0, sizeof(*out));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    const redisReply *cid = r->element[0], *evs = r->element[1];
    size_t n = evs->len ? 1 : 0;
    for (size_t i = 0; i < evs->len; i++)
        n += evs->str[i] == '\x1d';
    out->blob = malloc(cid->len + 1 + evs->len + 1);
    out->events = calloc(n ? n : 1, sizeof(*out->events));
    if (!out->blob || !out->events)
        return -1;
    memcpy(out->blob, cid->str, cid->len + 1);
    out->c.id = out->blob;
    char *b = out->blob + cid->len + 1;
    memcpy(b, evs->str, evs->len + 1);
    size_t k = 0;
    for (char *next = evs->len ? b : NULL; next && k < n;) {
        char *item = next;
        char *end = strchr(item, '\x1d');
        if (end) {
            *end = '\0';
            next = end + 1;
        } else {
            next = NULL;
        }
        char *at = strchr(item, '\x1e');
        char *p = at ? strchr(at + 1, '\x1e') : NULL;
        if (!p)
            continue;
        *at++ = '\0';
        *p++ = '\0';
        struct rp_event *e = &out->events[k];
        e->id = item;
        e->at_ms = strtoll(at, NULL, 10);
        e->kind = field(&p);
        e->stage = (int)strtol(field(&p), NULL, 10);
        e->source_type = field(&p);
        e->is_touch = field(&p)[0] == '1';
        e->channel = field(&p);
        e->source = field(&p);
        e->campaign = field(&p);
        e->ad = field(&p);
        const char *amount = field(&p);
        const char *cur = field(&p);
        e->payment_key = field(&p);
        if (amount[0] && strlen(cur) == 3) {
            e->has_amount = 1;
            e->amount_minor = strtoll(amount, NULL, 10);
            memcpy(e->currency, cur, 4);
        }
        k++;
    }
    out->c.events = out->events;
    out->c.n = k;
    return 0;
}

/* "cid\x1ee2\x1e…\x1ee6" → one rp_contact with an event per stage entered (lead … paid),
 * at its entry time: the funnel computes entries as the earliest event at that stage or
 * higher, which gives back exactly these times (they never decrease with the stage).
 * item is modified. */
static int parse_entries(char *item, struct loaded *out)
{
    static const char *const ids[7] = {"", "s1", "s2", "s3", "s4", "s5", "s6"};
    memset(out, 0, sizeof(*out));
    char *f[6];
    f[0] = item;
    for (int i = 1; i < 6; i++) {
        char *sep = strchr(f[i - 1], '\x1e');
        if (!sep)
            return -1;
        *sep = '\0';
        f[i] = sep + 1;
    }
    out->blob = strdup(f[0]);
    out->events = calloc(5, sizeof(*out->events));
    if (!out->blob || !out->events)
        return -1;
    out->c.id = out->blob;
    size_t k = 0;
    for (int i = 1; i < 6; i++) {
        int stage = i + 1; /* f[1] is lead (rank 2) */
        if (!f[i][0])
            continue;
        struct rp_event *ev = &out->events[k++];
        ev->id = ids[stage];
        ev->at_ms = strtoll(f[i], NULL, 10);
        ev->kind = "custom";
        ev->stage = stage;
        ev->source_type = ev->channel = ev->source = ev->campaign = ev->ad = ev->payment_key = "";
    }
    out->c.events = out->events;
    out->c.n = k;
    return 0;
}

/* Keeps one loaded contact for the funnel or SLA arithmetic. */
static int keep_contact(struct report_job *j, struct loaded *l)
{
    if (j->ncontacts == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 256;
        struct loaded *n = realloc(j->contacts, cap * sizeof(*n));
        if (!n)
            return -1;
        j->contacts = n;
        j->cap = cap;
    }
    j->contacts[j->ncontacts++] = *l;
    return 0;
}

/* The funnel's batch: one string for all its contacts. */
static int on_entries(struct report_job *j, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING)
        return -1;
    char *copy = malloc(r->len + 1);
    if (!copy)
        return -1;
    memcpy(copy, r->str, r->len + 1);
    int rc = 0;
    for (char *next = r->len ? copy : NULL; next && rc == 0;) {
        char *item = next;
        char *end = strchr(item, '\x1d');
        if (end) {
            *end = '\0';
            next = end + 1;
        } else {
            next = NULL;
        }
        struct loaded l;
        if (parse_entries(item, &l) != 0 || keep_contact(j, &l) != 0) {
            free(l.events);
            free(l.blob);
            rc = -1;
        } else {
            j->nevents += l.c.n;
        }
    }
    free(copy);
    return rc;
}

static void finish(struct report_job *j)
{
    cJSON *answer = NULL;
    if (j->kind == REPORT_ATTRIBUTION) {
        answer = rp_attribution_json(j->acc);
    } else {
        struct rp_contact *cs = calloc(j->ncontacts ? j->ncontacts : 1, sizeof(*cs));
        if (cs) {
            for (size_t i = 0; i < j->ncontacts; i++)
                cs[i] = j->contacts[i].c;
            answer = j->kind == REPORT_FUNNEL ? rp_funnel(cs, j->ncontacts, &j->funnel)
                                              : rp_sla(cs, j->ncontacts, &j->sla);
            free(cs);
        }
    }
    if (!answer) {
        job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    jlog(JLOG_DEBUG, "msg=report kind=%d contacts=%zu events=%zu ms=%lld", (int)j->kind, j->nids,
         j->nevents, (long long)((jd_mono_us() - j->started_us) / 1000));
    http_reply_json(j->req, 200, answer);
    job_free(j);
}

static void on_data(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (r && j->kind == REPORT_FUNNEL) {
        if (on_entries(j, r) != 0)
            job_fail(j, 503, "unavailable", "out of memory or unexpected store answer");
        else
            load_next(j);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        struct loaded l;
        int rc = parse_contact(r->element[i], &l);
        if (rc != 0) {
            free(l.events);
            free(l.blob);
            job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
        j->nevents += l.c.n;
        if (j->kind == REPORT_ATTRIBUTION) {
            rc = rp_attribution_add(j->acc, &l.c);
            free(l.events);
            free(l.blob);
            if (rc == -2) {
                job_fail(j, 422, "too_large", "too many report keys: group by a coarser key");
                return;
            }
            if (rc != 0) {
                job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
                return;
            }
            continue;
        }
        if (j->nevents > REPORT_MAX_EVENTS) {
            free(l.events);
            free(l.blob);
            job_fail(j, 422, "too_large", "the range holds too many events: narrow from/to");
            return;
        }
        if (keep_contact(j, &l) != 0) {
            free(l.events);
            free(l.blob);
            job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
    }
    load_next(j);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_next(struct report_job *j)
{
    if (j->next >= j->nids) {
        finish(j);
        return;
    }
    const char *argv[1 + REPORT_BATCH];
    size_t lens[1 + REPORT_BATCH];
    int argc = 0;
    /* Each report reads only what its arithmetic uses. */
    argv[argc] = j->kind == REPORT_FUNNEL        ? "entries"
                 : j->kind == REPORT_ATTRIBUTION ? "touches"
                                                 : "data";
    lens[argc] = strlen(argv[argc]);
    argc++;
    while (j->next < j->nids && argc <= REPORT_BATCH) {
        /* Skip ids already asked for: a merge between index and data reads may name one
         * survivor twice (the list is sorted, so duplicates are neighbours). */
        if (j->next > 0 && strcmp(j->ids[j->next], j->ids[j->next - 1]) == 0) {
            j->next++;
            continue;
        }
        argv[argc] = j->ids[j->next];
        lens[argc++] = strlen(j->ids[j->next]);
        j->next++;
    }
    if (rq_eval(j->jd->rq_api, JD_SCRIPT_REPORT, 0, on_data, j, 0, argc, argv, lens) != 0)
        job_fail(j, 503, "unavailable", "store unavailable");
}

static void on_index(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    if (r->elements > REPORT_MAX_CONTACTS) {
        job_fail(j, 422, "too_large", "the range holds too many contacts: narrow from/to");
        return;
    }
    j->ids = calloc(r->elements ? r->elements : 1, sizeof(*j->ids));
    if (!j->ids) {
        job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (!(j->ids[j->nids] = strdup(r->element[i]->str))) {
            job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
        j->nids++;
    }
    qsort(j->ids, j->nids, sizeof(*j->ids), cmp_str);
    load_next(j);
}

static void start_job(struct report_job *j, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rq_eval(j->jd->rq_api, JD_SCRIPT_REPORT, 0, on_index, j, 0, argc, argv, lens) != 0)
        job_fail(j, 503, "unavailable", "store unavailable");
}

static struct report_job *new_job(struct jd *jd, struct evhttp_request *req, enum report_kind k)
{
    struct report_job *j = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*j)) : NULL;
    if (!j) {
        http_reply_unavailable(jd, req, "store unavailable");
        return NULL;
    }
    j->jd = jd;
    j->req = req;
    j->kind = k;
    j->started_us = jd_mono_us();
    return j;
}

static int parse_query(struct evhttp_request *req, struct cx_form *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    memset(q, 0, sizeof(*q));
    if (!query)
        return 0;
    return cx_form_parse(q, query, strlen(query));
}

/* GET /v1/reports/attribution?model=&from=&to=&by=&lookback=&half_life= */
void api_handle_attribution(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_attr_params p = {
        .model = RP_LINEAR,
        .by = RP_BY_CHANNEL,
        .lookback_ms = jd->cfg->attribution_lookback_ms,
        .half_life_ms = jd->cfg->attribution_half_life_ms,
    };
    const char *bad = NULL, *v;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "model")) && rp_parse_model(v, &p.model) != 0)
        bad = "unknown model: expected first_touch, last_touch, linear, position or time_decay";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_key(v, &p.by) != 0)
        bad = "unknown by: expected channel, source, campaign or ad";
    else if ((v = cx_form_get(&q, "lookback")) && parse_duration(v, &p.lookback_ms) != 0)
        bad = "lookback: expected a duration such as 90d";
    else if ((v = cx_form_get(&q, "half_life")) && parse_duration(v, &p.half_life_ms) != 0)
        bad = "half_life: expected a duration such as 7d";
    else
        bad = parse_range(&q, 0, &p.from_ms, &p.to_ms);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_ATTRIBUTION);
    if (!j)
        return;
    j->attr = p;
    j->acc = rp_attribution_new(&j->attr, 100000);
    if (!j->acc) {
        job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    /* Spend first (small), then the contacts with conversions in range. */
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)p.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)p.to_ms);
    if (p.by == RP_BY_CAMPAIGN || p.by == RP_BY_SOURCE) {
        const char *argv[3] = {"spend", from, to};
        size_t lens[3] = {5, strlen(from), strlen(to)};
        if (rq_eval(jd->rq_api, JD_SCRIPT_REPORT, 0, on_spend, j, 0, 3, argv, lens) != 0)
            job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    const char *argv[3] = {"conv", from, to};
    start_job(j, 3, argv);
}

/* Spend rows "<date>\t<source>\t<campaign>" → "<minor>\t<currency>", summed per key. */
static void on_spend(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        const char *t1 = k ? strchr(k, '\t') : NULL, *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        const char *vt = v ? strchr(v, '\t') : NULL;
        if (!t2 || !vt)
            continue;
        char key[CX_TEXT_MAX];
        if (j->attr.by == RP_BY_SOURCE)
            snprintf(key, sizeof(key), "%.*s", (int)(t2 - t1 - 1), t1 + 1);
        else
            snprintf(key, sizeof(key), "%s", t2 + 1);
        if (rp_attribution_add_spend(j->acc, key, vt + 1, strtoll(v, NULL, 10)) != 0) {
            job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
    }
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)j->attr.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)j->attr.to_ms);
    const char *argv[3] = {"conv", from, to};
    start_job(j, 3, argv);
}

/* GET /v1/reports/funnel?from=&to=&by=&view=&compare= */
void api_handle_funnel(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_funnel_params p = {.by = RP_MONTH};
    const char *bad = NULL, *v;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_period(v, &p.by) != 0)
        bad = "unknown by: expected day, week or month";
    else if ((v = cx_form_get(&q, "view")) && strcmp(v, "cohort") != 0 &&
             strcmp(v, "activity") != 0)
        bad = "unknown view: expected cohort or activity";
    else if (!(bad = parse_range(&q, 1, &p.from_ms, &p.to_ms))) {
        p.activity = (v = cx_form_get(&q, "view")) && strcmp(v, "activity") == 0;
        if ((v = cx_form_get(&q, "compare"))) {
            p.has_compare = 1;
            if (period_range(v, p.by, &p.compare_from_ms, &p.compare_to_ms) != 0)
                bad = "compare: expected a period label such as 2026-09, 2026-W40 or 2026-09-15";
        }
    }
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_FUNNEL);
    if (!j)
        return;
    j->funnel = p;
    /* Contacts that entered a funnel stage around the range (a period can start before
     * `from` and end after `to`): report.c keeps exactly the ones each period needs. */
    int64_t lo = p.from_ms - 32 * DAY_MS, hi = p.to_ms + 32 * DAY_MS;
    if (p.has_compare) {
        lo = p.compare_from_ms - 32 * DAY_MS < lo ? p.compare_from_ms - 32 * DAY_MS : lo;
        hi = p.compare_to_ms + 32 * DAY_MS > hi ? p.compare_to_ms + 32 * DAY_MS : hi;
    }
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)lo);
    snprintf(to, sizeof(to), "%lld", (long long)hi);
    const char *argv[5] = {"stages", "2", p.activity ? "6" : "2", from, to};
    start_job(j, 5, argv);
}

/* GET /v1/reports/sla?from=&to= */
void api_handle_sla(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_sla_params p = {0};
    const char *bad = parse_query(req, &q) != 0 ? "malformed query string"
                                                : parse_range(&q, 1, &p.from_ms, &p.to_ms);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_SLA);
    if (!j)
        return;
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
    if (c->sla_leads_per_month && c->sla_leads_per_month[0]) {
        snprintf(j->sla_leads, sizeof(j->sla_leads), "%s", c->sla_leads_per_month);
        p.leads_per_month = j->sla_leads;
    }
    if (c->sla_qualified_rate && c->sla_qualified_rate[0]) {
        snprintf(j->sla_rate, sizeof(j->sla_rate), "%s", c->sla_qualified_rate);
        p.qualified_rate = j->sla_rate;
    }
    j->sla = p;
    /* The leads of the range and everyone who paid in it (the revenue line). */
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)p.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)p.to_ms);
    const char *argv[3] = {"sla", from, to};
    start_job(j, 3, argv);
}

/* POST /v1/spend {"rows":[{"date":"2026-10-01","source":"google","campaign":"spring",
 * "amount":12345,"currency":"EUR"}]}: amount in minor units; one row per date, source and
 * campaign (a row sent again replaces the earlier one, so imports are idempotent). */
#define SPEND_MAX_ROWS 1000

static void on_spend_set(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "stored", (double)r->integer);
    http_reply_json(j->req, 200, o);
    job_free(j);
}

static const char *spend_row(const cJSON *row, char *key, size_t kcap, char *day, size_t dcap,
                             char *val, size_t vcap)
{
    const char *date = cx_json_str(row, "date"), *source = cx_json_str(row, "source");
    const char *campaign = cx_json_str(row, "campaign"), *cur = cx_json_str(row, "currency");
    char currency[4];
    int64_t amount;
    int y, m, d;
    char tail;
    if (!date || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return "date: expected YYYY-MM-DD";
    if (!source || !campaign || strchr(source, '\t') || strchr(campaign, '\t') ||
        strlen(source) >= CX_TEXT_MAX || strlen(campaign) >= CX_TEXT_MAX)
        return "source and campaign: non-empty text";
    if (!cur || cx_norm_currency(cur, currency) != 0)
        return "currency: an ISO 4217 code";
    if (cx_json_int(row, "amount", &amount) != 0 || amount < 0)
        return "amount: a non-negative integer in minor units";
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    int64_t start = local_ms(&tm);
    if (start == INT64_MIN || tm.tm_mday != d)
        return "date: not a calendar date";
    snprintf(key, kcap, "%04d-%02d-%02d\t%s\t%s", y, m, d, source, campaign);
    snprintf(day, dcap, "%lld", (long long)start);
    snprintf(val, vcap, "%lld\t%s", (long long)amount, currency);
    return NULL;
}

void api_handle_spend(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    size_t len;
    const unsigned char *body = http_body(req, &len);
    cJSON *root = body ? cx_json_parse(body, len, CX_JSON_MAX_DEPTH) : NULL;
    const cJSON *rows = root ? cx_json_arr(root, "rows") : NULL;
    int n = rows ? cJSON_GetArraySize(rows) : 0;
    if (!rows || n < 1 || n > SPEND_MAX_ROWS) {
        cJSON_Delete(root);
        http_reply_error(req, 400, "bad_request", "expected {\"rows\":[…]} with 1-1000 rows");
        return;
    }
    const char **argv = calloc(1 + 3 * (size_t)n, sizeof(*argv));
    size_t *lens = calloc(1 + 3 * (size_t)n, sizeof(*lens));
    char *store = calloc((size_t)n, 2 * CX_TEXT_MAX + 96);
    const char *bad = argv && lens && store ? NULL : "out of memory";
    int argc = 1, i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (bad)
            break;
        char *key = store + (size_t)i * (2 * CX_TEXT_MAX + 96);
        char *day = key + 2 * CX_TEXT_MAX + 16, *val = day + 32;
        char msg[96];
        const char *why = spend_row(row, key, 2 * CX_TEXT_MAX + 16, day, 32, val, 48);
        if (why) {
            snprintf(msg, sizeof(msg), "row %d: %s", i, why);
            http_reply_error(req, 400, "bad_request", msg);
            free(argv);
            free(lens);
            free(store);
            cJSON_Delete(root);
            return;
        }
        argv[argc++] = key;
        argv[argc++] = day;
        argv[argc++] = val;
        i++;
    }
    cJSON_Delete(root);
    struct report_job *j = bad ? NULL : new_job(jd, req, REPORT_ATTRIBUTION);
    if (j) {
        argv[0] = "spend_set";
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        if (rq_eval(jd->rq_api, JD_SCRIPT_REPORT, 0, on_spend_set, j, 0, argc, argv, lens) != 0)
            job_fail(j, 503, "unavailable", "store unavailable");
    } else if (bad) {
        http_reply_unavailable(jd, req, bad);
    }
    free(argv);
    free(lens);
    free(store);
}
