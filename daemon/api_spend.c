/*
 * POST /v1/spend (DESIGN §6 ROAS): ad spend rows imported into jd:spend, one per date,
 * source and campaign, so the attribution report can put spend beside revenue.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "report_job.h"

/* POST /v1/spend {"rows":[{"date":"2026-10-01","source":"google","campaign":"spring",
 * "amount":12345,"currency":"EUR"}]}: amount in minor units; one row per date, source and
 * campaign (a row sent again replaces the earlier one, so imports are idempotent). */
#define SPEND_MAX_ROWS 1000

static void on_spend_set(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (j->answered)
        goto out;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "stored", (double)r->integer)) {
        cJSON_Delete(o);
        report_job_fail(j, 503, "unavailable", "out of memory");
        goto out;
    }
    j->answered = 1;
    http_reply_json(j->req, 200, o);
out:
    report_job_release(j);
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
    int64_t start;
    if (rp_local_date(y, m, d, &start) != 0)
        return "date: not a calendar date";
    snprintf(key, kcap, "%04d-%02d-%02d\t%s\t%s", y, m, d, source, campaign);
    snprintf(day, dcap, "%lld", (long long)start);
    snprintf(val, vcap, "%lld\t%s", (long long)amount, currency);
    return NULL;
}

void api_handle_spend(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
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
    struct report_job *j = bad ? NULL : report_job_new(jd, req, REPORT_ATTRIBUTION);
    if (j) {
        argv[0] = "spend_set";
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        (void)report_job_eval(j, on_spend_set, argc, argv, lens);
        report_job_release(j);
    } else if (bad) {
        http_reply_unavailable(jd, req, bad);
    }
    free(argv);
    free(lens);
    free(store);
}
