/*
 * The five attribution models side by side (issue 13 item 5: the Revenue view's "all
 * five models" took five reports, each reading the same contacts). GET
 * /v1/reports/attribution?model=all answers every model from one read, and each model's
 * part is exactly what that model's own request answers.
 *
 * A simulated month (bench/synth.c: clicks, website forms, the events API, Stripe, sent
 * shuffled, with provider retries) and spend rows by source and campaign; then, for every
 * key (channel, source, campaign, ad) over all time and over a 40-day range:
 *   - JSON: the model=all answer ends with "models":{"first_touch":<B1>,…,"time_decay":<B5>}
 *     where Bm is the body of the single request model=m, byte for byte, and its by, from,
 *     to and identity are theirs;
 *   - CSV: its lines, model column taken off, are the single CSV's lines, byte for byte,
 *     the models in that order.
 * One read: with Redis's slow log recording every command, model=all sends report.lua
 * "conv" and "touches" as many times as one single-model report does (five reads would
 * send five times as many).
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_send.h"

#define CONTACTS 80

static struct jd_daemon d;
static const char *const models[] = {"first_touch", "last_touch", "linear", "position",
                                     "time_decay"};
#define NMODELS (sizeof models / sizeof models[0])

/* GET with the token: the raw answer (fatal unless 200). */
static void get_ok(const char *path, struct jd_http *h)
{
    memset(h, 0, sizeof *h);
    JD_REQUIRE(jd_get_auth(&d, path, h) == 0, "GET %s: no answer", path);
    JD_REQUIRE(h->status == 200 && h->body, "GET %s: status %ld: %.300s", path, h->status,
               h->body ? h->body : "");
}

static void post_spend(const char *body)
{
    struct jd_http h = {0};
    char url[128];
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, "Content-Type: application/json",
                          NULL};
    snprintf(url, sizeof url, "%s/v1/spend", d.base);
    JD_REQUIRE(jd_http(&h, "POST", url, hdrs, body, strlen(body)) == 0 && h.status == 200,
               "POST /v1/spend: status %ld: %.300s", h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

/* The JSON of every model against its own request. Returns the rows of the linear model. */
static int check_json(const char *by, const char *range)
{
    char path[512];
    struct jd_http all, one;
    struct jd_buf want = {0};
    int rows = 0;
    snprintf(path, sizeof path, "/v1/reports/attribution?model=all&by=%s%s", by, range);
    get_ok(path, &all);
    cJSON *a = jd_http_json(&all);
    JD_REQUIRE(a, "%s: not JSON", path);
    JD_EXPECT(jd_json_str(a, "model") && strcmp(jd_json_str(a, "model"), "all") == 0,
              "%s: model is not \"all\"", path);
    jd_buf_printf(&want, "\"models\":{");
    for (size_t m = 0; m < NMODELS; m++) {
        snprintf(path, sizeof path, "/v1/reports/attribution?model=%s&by=%s%s", models[m], by,
                 range);
        get_ok(path, &one);
        jd_buf_printf(&want, "%s\"%s\":%s", m ? "," : "", models[m], one.body);
        cJSON *o = jd_http_json(&one);
        JD_REQUIRE(o, "%s: not JSON", path);
        /* The answer's own by, from, to and identity are each model's. */
        static const char *const shared[] = {"by", "from", "to", "identity"};
        for (size_t k = 0; k < sizeof shared / sizeof shared[0]; k++) {
            char *x = jd_json_print(cJSON_GetObjectItemCaseSensitive(a, shared[k]));
            char *y = jd_json_print(cJSON_GetObjectItemCaseSensitive(o, shared[k]));
            JD_EXPECT(x && y && strcmp(x, y) == 0, "by %s%s: %s is %s in model=all, %s in %s", by,
                      range, shared[k], x ? x : "(absent)", y ? y : "(absent)", models[m]);
            cJSON_free(x);
            cJSON_free(y);
        }
        if (strcmp(models[m], "linear") == 0)
            rows = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "rows"));
        cJSON_Delete(o);
        jd_http_free(&one);
    }
    jd_buf_printf(&want, "}}");
    size_t wl = want.len, al = strlen(all.body);
    JD_EXPECT(al > wl && memcmp(all.body + al - wl, want.p, wl) == 0,
              "by %s%s: model=all's models differ from the five single answers:\n%.1500s\n"
              "expected the answer to end with\n%.1500s",
              by, range, all.body, want.p);
    cJSON_Delete(a);
    jd_http_free(&all);
    jd_buf_free(&want);
    return rows;
}

/* The CSV: the model=all table's lines of model m, model cell taken off, are the lines of
 * model m's own table (its header apart), in order. */
static void check_csv(const char *by, const char *range)
{
    char path[512];
    struct jd_http all, one;
    snprintf(path, sizeof path, "/v1/reports/attribution?model=all&by=%s%s&format=csv", by, range);
    get_ok(path, &all);
    const char *head = "model,key,currency,revenue_minor,spend_minor,roas,conversions,touches\r\n";
    JD_REQUIRE(strncmp(all.body, head, strlen(head)) == 0, "%s: header %.120s", path, all.body);
    const char *at = all.body + strlen(head);
    for (size_t m = 0; m < NMODELS; m++) {
        snprintf(path, sizeof path, "/v1/reports/attribution?model=%s&by=%s%s&format=csv",
                 models[m], by, range);
        get_ok(path, &one);
        const char *line = strstr(one.body, "\r\n");
        JD_REQUIRE(line, "%s: no header line", path);
        for (line += 2; *line;) {
            const char *end = strstr(line, "\r\n");
            JD_REQUIRE(end, "%s: a line without CRLF", path);
            size_t ml = strlen(models[m]), ll = (size_t)(end - line) + 2;
            int same = strncmp(at, models[m], ml) == 0 && at[ml] == ',' &&
                       strncmp(at + ml + 1, line, ll) == 0;
            JD_EXPECT(same, "by %s%s, %s: model=all's CSV line %.200s, the model's own %.*s", by,
                      range, models[m], at, (int)ll, line);
            if (!same)
                break;
            at += ml + 1 + ll;
            line = end + 2;
        }
        jd_http_free(&one);
    }
    JD_EXPECT(*at == '\0', "by %s%s: model=all's CSV has lines no model has: %.200s", by, range,
              at);
    jd_http_free(&all);
}

/* report.lua calls with first argument `what` in Redis's slow log (every command is in it:
 * slowlog-log-slower-than 0); EVALSHA <sha> 0 <what> …. */
static int script_calls(redisContext *rc, const char *what)
{
    redisReply *r = redisCommand(rc, "SLOWLOG GET 100000");
    int n = 0;
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "SLOWLOG GET failed");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const redisReply *args =
            e->type == REDIS_REPLY_ARRAY && e->elements > 3 ? e->element[3] : NULL;
        if (args && args->type == REDIS_REPLY_ARRAY && args->elements > 3 &&
            args->element[0]->type == REDIS_REPLY_STRING &&
            strcasecmp(args->element[0]->str, "evalsha") == 0 &&
            args->element[3]->type == REDIS_REPLY_STRING &&
            strcmp(args->element[3]->str, what) == 0)
            n++;
    }
    freeReplyObject(r);
    return n;
}

static void reset_log(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "SLOWLOG RESET");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "SLOWLOG RESET failed");
    freeReplyObject(r);
}

static void check_one_read(const struct jd_redis *redis)
{
    redisContext *rc = jd_redis_connect(redis);
    redisReply *r = redisCommand(rc, "CONFIG SET slowlog-max-len 100000");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET slowlog-max-len failed");
    freeReplyObject(r);
    r = redisCommand(rc, "CONFIG SET slowlog-log-slower-than 0");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET slowlog-log-slower-than failed");
    freeReplyObject(r);
    struct jd_http h;
    int conv[2], touches[2];
    const char *paths[2] = {"/v1/reports/attribution?model=linear&by=campaign",
                            "/v1/reports/attribution?model=all&by=campaign"};
    for (int i = 0; i < 2; i++) {
        reset_log(rc);
        get_ok(paths[i], &h);
        jd_http_free(&h);
        conv[i] = script_calls(rc, "conv");
        touches[i] = script_calls(rc, "touches");
    }
    jd_note("report.lua calls: one model conv %d touches %d; model=all conv %d touches %d", conv[0],
            touches[0], conv[1], touches[1]);
    JD_EXPECT(conv[0] == 1 && touches[0] >= 1, "a one-model report read conv %d, touches %d times",
              conv[0], touches[0]);
    JD_EXPECT(conv[1] == conv[0] && touches[1] == touches[0],
              "model=all read the store more than one report does: conv %d, touches %d (one "
              "model: %d, %d)",
              conv[1], touches[1], conv[0], touches[0]);
    r = redisCommand(rc, "CONFIG SET slowlog-log-slower-than 10000");
    freeReplyObject(r);
    redisFree(rc);
}

int main(void)
{
    jd_setup("test_attr_models", 300, 1);
    struct jd_redis r;
    jd_redis_start(&r, NULL, 0);
    jd_daemon_config(&d, r.port, NULL);
    jd_daemon_start(&d, 1);

    /* An unknown model is still refused, and the error names "all". */
    struct jd_http h = {0};
    JD_EXPECT(jd_get_auth(&d, "/v1/reports/attribution?model=every", &h) == 0 && h.status == 400 &&
                  h.body && strstr(h.body, "all"),
              "model=every: status %ld %.200s", h.status, h.body ? h.body : "");
    jd_http_free(&h);
    /* A drill-down lists one row under one model (docs/api.md): all is refused there. */
    JD_EXPECT(jd_get_auth(&d, "/v1/reports/attribution/conversions?model=all&by=channel&key=email",
                          &h) == 0 &&
                  h.status == 400 && jd_http_is_error(&h, "bad_request"),
              "a drill-down with model=all: status %ld %.200s", h.status, h.body ? h.body : "");
    jd_http_free(&h);

    int64_t now = jd_now_s();
    struct sy_month m = {0};
    struct sy_opts o = {
        .seed = 1313,
        .contacts = CONTACTS,
        .types = SY_CORE,
        .month_start_ms = (now - 31 * 86400) * 1000,
        .dup_rate = 0.05,
    };
    JD_REQUIRE(sy_month_build(&o, &m) == 0, "the simulator refused its options");
    sy_month_shuffle(&m, 1313);
    for (size_t i = 0; i < m.n; i++)
        jd_sim_send(&d, &m.v[i]);
    jd_note("sent %zu deliveries (%" PRId64 " events) for %d contacts", m.n, m.events, CONTACTS);
    sy_month_free(&m);

    /* Spend, so every model's rows carry spend and ROAS: by source and by campaign. */
    char day[32], body[1024];
    jd_rfc3339(now - 10 * 86400, day, sizeof day);
    snprintf(body, sizeof body,
             "{\"rows\":[{\"date\":\"%.10s\",\"source\":\"google\",\"campaign\":\"brand_search\","
             "\"amount\":48000,\"currency\":\"EUR\"},{\"date\":\"%.10s\",\"source\":\"facebook\","
             "\"campaign\":\"spring_promo\",\"amount\":31000,\"currency\":\"EUR\"},{\"date\":"
             "\"%.10s\",\"source\":\"bing\",\"campaign\":\"nobody_clicked\",\"amount\":900,"
             "\"currency\":\"USD\"}]}",
             day, day, day);
    post_spend(body);
    jd_wait_drained(&d, 120);

    char range[160], from_s[32], to_s[32];
    jd_rfc3339(now - 40 * 86400, from_s, sizeof from_s);
    jd_rfc3339(now + 3600, to_s, sizeof to_s);
    snprintf(range, sizeof range, "&from=%s&to=%s", from_s, to_s);
    const char *bys[] = {"channel", "source", "campaign", "ad"};
    int rows = 0;
    for (size_t b = 0; b < sizeof bys / sizeof bys[0]; b++) {
        rows += check_json(bys[b], "");
        rows += check_json(bys[b], range);
        check_csv(bys[b], "");
        check_csv(bys[b], range);
    }
    jd_note("%d rows (linear) compared under five models", rows);
    JD_EXPECT(rows >= 16, "the month gave too few attribution rows (%d)", rows);
    check_one_read(&r);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&r);
    return jd_finish();
}
