/*
 * The report job's life (see report_job.h): references, the one answer, commands sent on
 * its behalf, and what every reader parses the same way (records, scores, ids).
 */
#include "report_job.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "csv.h"
#include "http.h"
#include "log.h"
#include "util.h"

static void job_free(struct report_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    rp_attribution_free(j->acc);
    for (size_t i = 0; i < j->nall; i++)
        rp_attribution_free(j->all[i]);
    if (j->cleanup)
        j->cleanup(j);
    if (j->drill_free)
        j->drill_free(j->drill);
    rp_sla_free(j->sla_acc);
    ctab_free(&j->tab);
    free(j);
}

/* Drops one reference; the last one frees an answered job. */
void report_job_release(struct report_job *j)
{
    if (--j->inflight == 0 && j->answered)
        job_free(j);
}

/* Answers with an error once; the job is freed when its last reference goes. */
void report_job_fail(struct report_job *j, int status, const char *code, const char *msg)
{
    if (j->answered)
        return;
    j->answered = 1;
    if (status == 503)
        http_reply_unavailable(j->jd, j->req, msg);
    else
        http_reply_error(j->req, status, code, msg);
}

/* Sends one command for the job (arguments are copied at once); cb must end with
 * job_release. 0, or -1 after answering 503 (cb will not run). */
int report_job_send(struct report_job *j, rq_reply_cb cb, void *priv, int argc, const char **argv,
                    const size_t *lens)
{
    size_t own[16];
    if (!lens) {
        if (argc > 16) {
            report_job_fail(j, 503, "unavailable", "internal error");
            return -1;
        }
        for (int i = 0; i < argc; i++)
            own[i] = strlen(argv[i]);
        lens = own;
    }
    if (rq_command(j->jd->rq_api, 0, cb, priv, argc, argv, lens) != 0) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        return -1;
    }
    j->inflight++;
    return 0;
}

/* 1 when the job still waits and the reply is the array it asked for; else 0, and a job
 * still waiting is answered 503. */
int report_job_array_reply(struct report_job *j, const redisReply *r)
{
    if (j->answered)
        return 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        return 0;
    }
    return 1;
}

int report_job_eval(struct report_job *j, rq_reply_cb cb, int argc, const char **argv,
                    const size_t *lens)
{
    if (rq_eval(j->jd->rq_api, JD_SCRIPT_REPORT, 0, cb, j, 0, argc, argv, lens) != 0) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        return -1;
    }
    j->inflight++;
    return 0;
}

/* The answer as its CSV table (reports/csv.h renders it from the JSON, so both give the
 * same numbers), offered as a file named after the report. */
static void finish_csv(struct report_job *j, cJSON *answer)
{
    static const char *const names[] = {"attribution", "funnel", "sla"};
    char *text = NULL, disposition[64];
    switch (j->kind) {
    case REPORT_ATTRIBUTION:
        text = rp_csv_attribution(answer, REPORT_CSV_MAX);
        break;
    case REPORT_FUNNEL:
        text = rp_csv_funnel(answer, REPORT_CSV_MAX);
        break;
    case REPORT_SLA:
        text = j->format == REPORT_CSV_WAITING    ? rp_csv_sla_waiting(answer, REPORT_CSV_MAX)
               : j->format == REPORT_CSV_BY_OWNER ? rp_csv_sla_by_owner(answer, REPORT_CSV_MAX)
                                                  : rp_csv_sla(answer, REPORT_CSV_MAX);
        break;
    }
    cJSON_Delete(answer);
    if (!text) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    j->answered = 1;
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s%s.csv\"", names[j->kind],
             j->format == REPORT_CSV_WAITING    ? "-waiting"
             : j->format == REPORT_CSV_BY_OWNER ? "-by-owner"
                                                : "");
    /* Without the header (no memory for it) the file only loses its name. */
    if (evhttp_add_header(evhttp_request_get_output_headers(j->req), "Content-Disposition",
                          disposition) != 0)
        jlog(JLOG_DEBUG, "msg=\"csv answer without a file name\"");
    http_reply_text(j->req, 200, "text/csv; charset=utf-8; header=present", text);
    free(text);
}

void report_job_finish(struct report_job *j, cJSON *answer, size_t contacts)
{
    if (j->answered) {
        cJSON_Delete(answer);
        return;
    }
    if (!answer) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    if (j->kind == REPORT_SLA || j->kind == REPORT_ATTRIBUTION)
        metrics_set_identity(&j->jd->metrics, cJSON_GetObjectItemCaseSensitive(answer, "identity"));
    jlog(JLOG_DEBUG, "msg=report kind=%d contacts=%zu events=%zu ms=%lld", (int)j->kind, contacts,
         j->nevents, (long long)((jd_mono_us() - j->started_us) / 1000));
    if (j->format == REPORT_JSON) {
        j->answered = 1;
        http_reply_json(j->req, 200, answer);
        return;
    }
    finish_csv(j, answer);
}

void report_job_done(struct report_job *j, cJSON *(*answer)(struct report_job *j), size_t contacts)
{
    if (j->answered)
        return;
    if (j->drill_done)
        j->drill_done(j);
    else
        report_job_finish(j, answer(j), contacts);
}

/* ---- compact records ---- */

/* A compact record (connectors/record.h) into e; rec is cut in place and e points into
 * it. */
void report_parse_record(char *rec, struct rp_event *e)
{
    struct cx_record r;
    cx_record_decode(rec, &r);
    e->kind = r.kind;
    e->stage = r.stage;
    e->source_type = r.type;
    e->is_touch = r.touch;
    e->channel = r.channel;
    e->source = r.source;
    e->campaign = r.campaign;
    e->ad = r.ad;
    e->platform = r.platform;
    e->campaign_id = r.campaign_id;
    e->owner = r.owner;
    e->payment_key = r.payment_key;
    e->has_amount = r.has_amount;
    if (r.has_amount) {
        e->amount_minor = r.amount_minor;
        memcpy(e->currency, r.currency, 4);
    }
}

/* A score as Redis prints it (%.17g) → whole milliseconds. Every score of the report
 * indexes is an event's at_ms; anything else is an unexpected store answer (-1). */
int report_parse_score(const char *s, size_t len, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (len && end == s + len && errno == 0) {
        *out = v;
        return 0;
    }
    double d = strtod(s, &end);
    if (end != s + len || !(d >= -9007199254740992.0 && d <= 9007199254740992.0) ||
        d != (double)(int64_t)d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* An id member of an index reply: a string of sane length without NUL. */
int report_is_id(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING && r->len > 0 && r->len <= ID_MAX &&
           !memchr(r->str, '\0', r->len);
}

struct report_job *report_job_new(struct jd *jd, struct evhttp_request *req, enum report_kind k)
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
    j->inflight = 1; /* the handler's, dropped when it has started the job */
    return j;
}
