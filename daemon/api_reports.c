/*
 * The report endpoints of DESIGN §7: GET /v1/reports/attribution, /funnel and /sla. Each
 * handler parses and validates the query (the range through report_range.h, the same
 * for every report; JSON or CSV from format= or Accept) and starts a report job
 * (report_job.h) whose readers answer it; nothing here talks to Redis itself. The token
 * was checked by the route table.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "api.h"
#include "common.h"
#include "csv.h"
#include "http.h"
#include "report_job.h"
#include "report_range.h"
#include "util.h"

#define DAY_MS INT64_C(86400000)

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

/* from=/to=/period= (report_range.h) into the report's [from, to). */
static const char *parse_range(const struct cx_form *q, enum report_range_default def,
                               int64_t now_ms, int64_t *from, int64_t *to)
{
    struct report_range r;
    const char *err;
    if (report_range_parse(q, def, now_ms, &r, &err) != 0)
        return err;
    *from = r.from_ms;
    *to = r.to_ms;
    return NULL;
}

/* format=csv|json, else the Accept header (reports/csv.h); the SLA's CSV also takes
 * table=figures|waiting (its JSON holds both, so JSON ignores it). */
static const char *parse_format(struct evhttp_request *req, const struct cx_form *q,
                                enum report_kind kind, enum report_format *out)
{
    const char *f = cx_form_get(q, "format"), *t = cx_form_get(q, "table");
    *out = REPORT_JSON;
    if (f && f[0]) {
        if (strcmp(f, "csv") == 0)
            *out = REPORT_CSV;
        else if (strcmp(f, "json") != 0)
            return "unknown format: expected json or csv";
    } else if (rp_csv_accepted(
                   evhttp_find_header(evhttp_request_get_input_headers(req), "Accept"))) {
        *out = REPORT_CSV;
    }
    if (kind == REPORT_SLA && t && t[0]) {
        if (strcmp(t, "waiting") == 0)
            *out = *out == REPORT_CSV ? REPORT_CSV_WAITING : *out;
        else if (strcmp(t, "by_owner") == 0)
            *out = *out == REPORT_CSV ? REPORT_CSV_BY_OWNER : *out;
        else if (strcmp(t, "figures") != 0)
            return "unknown table: expected figures, waiting or by_owner";
    }
    return NULL;
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

/* GET /v1/reports/attribution?model=&from=&to=&by=&lookback=&half_life=; model=all answers
 * the five models side by side from one read of the contacts (docs/api.md). */
void api_handle_attribution(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_attr_params p = {
        .model = RP_LINEAR,
        .by = RP_BY_CHANNEL,
        .lookback_ms = jd->cfg->attribution_lookback_ms,
        .half_life_ms = jd->cfg->attribution_half_life_ms,
    };
    enum report_format format = REPORT_JSON;
    const char *bad = NULL, *v;
    int all = 0;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "model")) && !(all = strcmp(v, "all") == 0) &&
             rp_parse_model(v, &p.model) != 0)
        bad = "unknown model: expected first_touch, last_touch, linear, position, time_decay or "
              "all";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_key(v, &p.by) != 0)
        bad = "unknown by: expected channel, source, campaign or ad";
    else if ((v = cx_form_get(&q, "lookback")) && parse_duration(v, &p.lookback_ms) != 0)
        bad = "lookback: expected a duration such as 90d";
    else if ((v = cx_form_get(&q, "half_life")) && parse_duration(v, &p.half_life_ms) != 0)
        bad = "half_life: expected a duration such as 7d";
    else
        bad = parse_range(&q, REPORT_RANGE_ALL_TIME, jd_now_ms(), &p.from_ms, &p.to_ms);
    if (!bad)
        bad = parse_format(req, &q, REPORT_ATTRIBUTION, &format);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = report_job_new(jd, req, REPORT_ATTRIBUTION);
    if (!j)
        return;
    j->attr = p;
    j->format = format;
    if (all) {
        for (int m = 0; m < RP_NMODELS; m++) {
            struct rp_attr_params pm = p;
            pm.model = (enum rp_model)m;
            if (!(j->all[j->nall] = rp_attribution_new(&pm, 100000)))
                break;
            j->nall++;
        }
    } else {
        j->acc = rp_attribution_new(&j->attr, 100000);
    }
    if (all ? j->nall < RP_NMODELS : !j->acc) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        report_job_release(j);
        return;
    }
    report_attribution_start(j);
    report_job_release(j);
}

/* GET /v1/reports/funnel?from=&to=&by=&view=&compare= */
void api_handle_funnel(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_funnel_params p = {.by = RP_MONTH};
    enum report_format format = REPORT_JSON;
    const char *bad = NULL, *v;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_period(v, &p.by) != 0)
        bad = "unknown by: expected day, week or month";
    else if ((v = cx_form_get(&q, "view")) && strcmp(v, "cohort") != 0 &&
             strcmp(v, "activity") != 0)
        bad = "unknown view: expected cohort or activity";
    else if (!(bad = parse_range(&q, REPORT_RANGE_THIS_MONTH, jd_now_ms(), &p.from_ms, &p.to_ms))) {
        p.activity = (v = cx_form_get(&q, "view")) && strcmp(v, "activity") == 0;
        if ((v = cx_form_get(&q, "compare"))) {
            p.has_compare = 1;
            if (rp_period_range(v, p.by, &p.compare_from_ms, &p.compare_to_ms) != 0)
                bad = "compare: expected a period label such as 2026-09, 2026-W40 or 2026-09-15";
        }
    }
    if (!bad)
        bad = parse_format(req, &q, REPORT_FUNNEL, &format);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = report_job_new(jd, req, REPORT_FUNNEL);
    if (!j)
        return;
    j->funnel = p;
    j->format = format;
    report_funnel_start(j);
    report_job_release(j);
}

/* GET /v1/reports/sla?from=&to= */
void api_handle_sla(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct cx_form q;
    struct rp_sla_params p = {.now_ms = jd_now_ms()};
    enum report_format format = REPORT_JSON;
    const char *bad = NULL;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if (!(bad = parse_format(req, &q, REPORT_SLA, &format)))
        bad = parse_range(&q, REPORT_RANGE_THIS_MONTH, p.now_ms, &p.from_ms, &p.to_ms);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = report_job_new(jd, req, REPORT_SLA);
    if (!j)
        return;
    const struct cfg *c = jd->cfg;
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
    j->format = format;
    if (!(j->sla_acc = rp_sla_new(&j->sla))) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        report_job_release(j);
        return;
    }
    report_sla_start(j);
    report_job_release(j);
}
