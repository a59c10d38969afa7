/*
 * POST /v1/spend (DESIGN §6 ROAS): ad spend rows imported into jd:spend, one per date,
 * source and campaign, so the attribution report can put spend beside revenue.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "campaigns.h"
#include "config_keys.h"
#include "common.h"
#include "http.h"
#include "report_job.h"

/* POST /v1/spend {"rows":[{"date":"2026-10-01","source":"google","campaign":"spring",
 * "campaign_id":"123","amount":12345,"currency":"EUR"}]}: amount in minor units; campaign,
 * campaign_id or both. One row per date, source and campaign (a row sent again replaces the
 * earlier one, so imports are idempotent); a row with a campaign_id is kept by its id,
 * whatever name it carries, and reports put it under the name known for the id (config,
 * then learned, then its own). A row with both teaches that name (jd:campaigns). */
#define SPEND_MAX_ROWS 1000
/* Key (2 * CX_TEXT_MAX + 16), day (32) and value (48 + CX_TEXT_MAX) of one row. */
#define SPEND_SLOT (3 * CX_TEXT_MAX + 128)

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

/* names_set's answer: only a failure matters, and spend_set (sent after it on the same
 * connection) answers the request. */
static void on_names_set(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!j->answered && (!r || r->type == REDIS_REPLY_ERROR))
        report_job_fail(j, 503, "unavailable", "store unavailable");
    report_job_release(j);
}

/* One row into its jd:spend key, day and value, and, when it carries both a campaign and a
 * campaign_id, the name it teaches ("<platform>:<id>" into learn, "" when none). */
static const char *spend_row(const cJSON *row, char *key, size_t kcap, char *day, size_t dcap,
                             char *val, size_t vcap, char *learn, size_t lcap)
{
    const char *date = cx_json_str(row, "date"), *source = cx_json_str(row, "source");
    const char *campaign = cx_json_str(row, "campaign"), *cur = cx_json_str(row, "currency");
    const char *campaign_id = cx_json_str(row, "campaign_id");
    char currency[4], platform[32], idbuf[CFG_CAMPAIGN_ID_MAX + 8];
    int64_t amount;
    int y, m, d;
    char tail;
    learn[0] = '\0';
    if (!date || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return "date: expected YYYY-MM-DD";
    /* Ads exports give ids as numbers as often as strings: both are the same id. */
    if (!campaign_id && cx_json_id(row, "campaign_id", idbuf, sizeof(idbuf)) == 0)
        campaign_id = idbuf;
    if (campaign_id && cfg_check_campaign_id(campaign_id))
        return "campaign_id: 1-63 of A-Z a-z 0-9 _ . -";
    if (!source || (!campaign && !campaign_id) || strchr(source, '\t') ||
        (campaign && (!*campaign || strchr(campaign, '\t'))) || strlen(source) >= CX_TEXT_MAX ||
        (campaign && strlen(campaign) >= CX_TEXT_MAX))
        return "source and campaign (or campaign_id): non-empty text";
    if (!cur || cx_norm_currency(cur, currency) != 0)
        return "currency: an ISO 4217 code";
    if (cx_json_int(row, "amount", &amount) != 0 || amount < 0)
        return "amount: a non-negative integer in minor units";
    int64_t start;
    if (rp_local_date(y, m, d, &start) != 0)
        return "date: not a calendar date";
    if (campaign_id) {
        snprintf(key, kcap, "%04d-%02d-%02d\t%s\t\t%s", y, m, d, source, campaign_id);
        snprintf(val, vcap, "%lld\t%s\t%s", (long long)amount, currency, campaign ? campaign : "");
        campaigns_platform(source, platform, sizeof(platform));
        if (campaign && platform[0] && !cfg_check_campaign_name(campaign))
            snprintf(learn, lcap, "%s:%s", platform, campaign_id);
    } else {
        snprintf(key, kcap, "%04d-%02d-%02d\t%s\t%s", y, m, d, source, campaign);
        snprintf(val, vcap, "%lld\t%s", (long long)amount, currency);
    }
    snprintf(day, dcap, "%lld", (long long)start);
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
    const char **names = calloc(1 + 2 * (size_t)n, sizeof(*names));
    size_t *lens = calloc(1 + 3 * (size_t)n, sizeof(*lens));
    size_t *nlens = calloc(1 + 2 * (size_t)n, sizeof(*nlens));
    /* Per row: key, day, value, then the learned name's "<platform>:<id>". */
    char *store = calloc((size_t)n, SPEND_SLOT + RP_CAMPAIGN_KEY_MAX);
    const char *bad = argv && names && lens && nlens && store ? NULL : "out of memory";
    int argc = 1, nargc = 1, i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (bad)
            break;
        char *key = store + (size_t)i * (SPEND_SLOT + RP_CAMPAIGN_KEY_MAX);
        char *day = key + 2 * CX_TEXT_MAX + 16, *val = day + 32, *learn = key + SPEND_SLOT;
        char msg[96];
        const char *why = spend_row(row, key, 2 * CX_TEXT_MAX + 16, day, 32, val, 48 + CX_TEXT_MAX,
                                    learn, RP_CAMPAIGN_KEY_MAX);
        if (why) {
            snprintf(msg, sizeof(msg), "row %d: %s", i, why);
            http_reply_error(req, 400, "bad_request", msg);
            bad = "";
            break;
        }
        argv[argc++] = key;
        argv[argc++] = day;
        argv[argc++] = val;
        if (learn[0]) {
            names[nargc++] = learn;
            names[nargc++] = cx_json_str(row, "campaign"); /* borrowed from root, still alive */
        }
        i++;
    }
    struct report_job *j = bad ? NULL : report_job_new(jd, req, REPORT_ATTRIBUTION);
    if (j) {
        /* The names first: both go on one connection, so once spend_set answers the names
         * are in too, and a report asked for right after sees both. */
        if (nargc > 1) {
            names[0] = "names_set";
            for (int k = 0; k < nargc; k++)
                nlens[k] = strlen(names[k]);
            (void)report_job_eval(j, on_names_set, nargc, names, nlens);
        }
        if (!j->answered) {
            argv[0] = "spend_set";
            for (int k = 0; k < argc; k++)
                lens[k] = strlen(argv[k]);
            (void)report_job_eval(j, on_spend_set, argc, argv, lens);
        }
        report_job_release(j);
    } else if (bad && *bad) {
        http_reply_unavailable(jd, req, bad);
    }
    cJSON_Delete(root);
    free(argv);
    free(names);
    free(lens);
    free(nlens);
    free(store);
}
