/*
 * One campaign, one row (issue 16 item 1). A Google Ads lead-form lead names its campaign
 * by id, the campaign's clicks by their utm_campaign name; attribution by=campaign must
 * put both under the name, and its ROAS must use the spend imported by name and by id.
 * The id → name mapping comes from three places, one campaign each:
 *   autumn_sale  = google:1001, from [campaigns] in the config;
 *   winter_sale  = google:2002, from a spend row that carries both campaign and campaign_id;
 *   spring_promo = google:3003, from a lead whose webhook carries both (as a Meta look-up
 *                  does), which teaches the name to a later lead carrying the id alone.
 * Each campaign has a contact who clicked by name or came through a lead form by id, and
 * then paid; the journey keeps the id in the touch (campaign_id) beside the campaign (its
 * [campaigns] name when the config has one).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOGLE_KEY "google-key-campaigns-0123456789"

static struct jd_redis redis_;
static struct jd_daemon daemon_;

static void start(void)
{
    jd_redis_start(&redis_, NULL, 0);
    jd_daemon_config(&daemon_, redis_.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[campaigns]\n"
                            "google:1001 = autumn_sale\n"
                            "meta:1001 = not_this_one\n"
                            "\n[source gads]\ntype = google_ads\nsecret = " GOOGLE_KEY "\n");
    jd_daemon_start(&daemon_, 1);
}

/* A custom click by utm_campaign name at the given time. */
static void click(const char *email, const char *campaign, const char *at, const char *id)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"%s\",\"kind\":\"click\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
             "\"touch\":{\"source\":\"google\",\"medium\":\"cpc\",\"campaign\":\"%s\"}}]}",
             id, at, email, campaign);
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "click %s: want 200, got %ld: %.200s", id, h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

/* A Google Ads lead form lead: campaign_id as Google sends it (a number), a campaign name
 * only when name is set (not in Google's schema today; a look-up's answer in effect). */
static void lead(const char *lead_id, const char *email, const char *campaign_id, const char *name,
                 const char *at)
{
    char body[1024], extra[128] = "";
    if (name)
        snprintf(extra, sizeof extra, "\"campaign_name\":\"%s\",", name);
    snprintf(body, sizeof body,
             "{\"lead_id\":\"%s\",\"api_version\":\"1.0\",\"form_id\":40000,"
             "\"campaign_id\":%s,%s\"google_key\":\"" GOOGLE_KEY "\",\"is_test\":false,"
             "\"gcl_id\":\"gclid-%s\",\"adgroup_id\":50000,\"creative_id\":60000,"
             "\"lead_submit_time\":\"%s\","
             "\"user_column_data\":[{\"column_id\":\"EMAIL\",\"string_value\":\"%s\"}]}",
             lead_id, campaign_id, extra, lead_id, at, email);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "gads", hdrs, body, &h);
    JD_REQUIRE(h.status == 200, "lead %s: want 200, got %ld: %.200s", lead_id, h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

static void payment(const char *email, long long minor, const char *at, const char *id)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"%s\",\"kind\":\"payment\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
             "\"amount\":{\"minor\":%lld,\"currency\":\"EUR\"},\"payment_key\":\"pk-%s\"}]}",
             id, at, email, minor, id);
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "payment %s: want 200, got %ld: %.200s", id, h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

static long post_spend(const char *rows, struct jd_http *h)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/spend", daemon_.base);
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, "Content-Type: application/json",
                          NULL};
    jd_http(h, "POST", url, hdrs, rows, strlen(rows));
    return h->status;
}

/* The row of key in a report answer, NULL when absent. */
static const cJSON *row_of(const cJSON *report, const char *key)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(report, "rows"))
    {
        const char *k = jd_json_str(r, "key");
        if (k && strcmp(k, key) == 0)
            return r;
    }
    return NULL;
}

static void expect_row(const cJSON *report, const char *key, int64_t revenue, int64_t conversions,
                       int64_t spend, const char *roas)
{
    const cJSON *r = row_of(report, key);
    int ok1 = 0, ok2 = 0, ok3 = 0;
    JD_EXPECT(r, "by=campaign: no row %s in %s", key, jd_json_brief(report));
    if (!r)
        return;
    JD_EXPECT(jd_json_int(jd_json_path(r, "revenue.EUR"), &ok1) == revenue && ok1 &&
                  jd_json_int(jd_json_path(r, "conversions"), &ok2) == conversions && ok2 &&
                  jd_json_int(jd_json_path(r, "spend.EUR"), &ok3) == spend && ok3,
              "row %s: want revenue EUR %lld, %lld conversions, spend EUR %lld; got %s", key,
              (long long)revenue, (long long)conversions, (long long)spend, jd_json_brief(r));
    const cJSON *ro = jd_json_path(r, "roas.EUR");
    char *text = ro ? jd_json_print(ro) : NULL;
    JD_EXPECT(text && strcmp(text, roas) == 0, "row %s: want roas EUR %s, got %s", key, roas,
              text ? text : "(none)");
    cJSON_free(text);
}

int main(void)
{
    jd_setup("test_campaign_names", 120, 1);
    start();

    /* autumn_sale: a click by name (anna) and a lead form lead by id 1001 (bruno). */
    click("anna@example.com", "autumn_sale", "2026-10-01T09:00:00Z", "click-anna");
    payment("anna@example.com", 10000, "2026-10-01T10:00:00Z", "pay-anna");
    lead("L-bruno", "bruno@example.com", "1001", NULL, "2026-10-02T09:00:00Z");
    payment("bruno@example.com", 20000, "2026-10-02T10:00:00Z", "pay-bruno");
    /* winter_sale: a lead by id 2002 (carla), a click by name (dario). */
    lead("L-carla", "carla@example.com", "2002", NULL, "2026-10-03T09:00:00Z");
    payment("carla@example.com", 30000, "2026-10-03T10:00:00Z", "pay-carla");
    click("dario@example.com", "winter_sale", "2026-10-03T11:00:00Z", "click-dario");
    payment("dario@example.com", 6000, "2026-10-03T12:00:00Z", "pay-dario");
    /* spring_promo: elena's lead names it, fabio's only gives the id. */
    lead("L-elena", "elena@example.com", "3003", "spring_promo", "2026-10-04T09:00:00Z");
    payment("elena@example.com", 10000, "2026-10-04T10:00:00Z", "pay-elena");
    jd_wait_drained(&daemon_, 60);
    lead("L-fabio", "fabio@example.com", "3003", NULL, "2026-10-05T09:00:00Z");
    payment("fabio@example.com", 10000, "2026-10-05T10:00:00Z", "pay-fabio");

    /* Spend by name and by id (as a number, as ads exports give it), and one row with
     * both, which names 2002. */
    struct jd_http h;
    long st =
        post_spend("{\"rows\":["
                   "{\"date\":\"2026-10-01\",\"source\":\"google\",\"campaign\":\"autumn_sale\","
                   "\"amount\":5000,\"currency\":\"EUR\"},"
                   "{\"date\":\"2026-10-02\",\"source\":\"google\",\"campaign_id\":1001,"
                   "\"amount\":10000,\"currency\":\"EUR\"},"
                   "{\"date\":\"2026-10-03\",\"source\":\"google\",\"campaign\":\"winter_sale\","
                   "\"campaign_id\":\"2002\",\"amount\":6000,\"currency\":\"EUR\"},"
                   "{\"date\":\"2026-10-04\",\"source\":\"google\",\"campaign_id\":\"3003\","
                   "\"amount\":5000,\"currency\":\"EUR\"}]}",
                   &h);
    JD_REQUIRE(st == 200, "POST /v1/spend with campaign ids: want 200, got %ld: %.300s", st,
               h.body ? h.body : "");
    jd_http_free(&h);
    /* Idempotent per row: the id row sent again replaces itself. */
    st = post_spend("{\"rows\":[{\"date\":\"2026-10-02\",\"source\":\"google\","
                    "\"campaign_id\":\"1001\",\"amount\":10000,\"currency\":\"EUR\"}]}",
                    &h);
    JD_EXPECT(st == 200, "spend row again: want 200, got %ld", st);
    jd_http_free(&h);
    /* A row needs a campaign or a campaign_id; an id is a platform's id, not any text. */
    st = post_spend("{\"rows\":[{\"date\":\"2026-10-02\",\"source\":\"google\","
                    "\"amount\":1,\"currency\":\"EUR\"}]}",
                    &h);
    JD_EXPECT(st == 400 && jd_http_is_error(&h, "bad_request"),
              "spend row without campaign: want 400, got %ld %.200s", st, h.body ? h.body : "");
    jd_http_free(&h);
    st = post_spend("{\"rows\":[{\"date\":\"2026-10-02\",\"source\":\"google\","
                    "\"campaign_id\":\"a b\",\"amount\":1,\"currency\":\"EUR\"}]}",
                    &h);
    JD_EXPECT(st == 400 && jd_http_is_error(&h, "bad_request"),
              "spend row with campaign_id \"a b\": want 400, got %ld %.200s", st,
              h.body ? h.body : "");
    jd_http_free(&h);
    jd_wait_drained(&daemon_, 60);

    JD_REQUIRE(
        jd_get_auth(&daemon_, "/v1/reports/attribution?model=last_touch&by=campaign", &h) == 0 &&
            h.status == 200,
        "attribution by campaign: want 200, got %ld: %.300s", h.status, h.body ? h.body : "");
    cJSON *report = jd_http_json(&h);
    jd_http_free(&h);
    JD_REQUIRE(report, "attribution answer is not JSON");
    /* autumn_sale: 10000 + 20000 over 5000 + 10000 of spend; winter_sale: 30000 + 6000 over
     * 6000; spring_promo: 10000 + 10000 over 5000. */
    expect_row(report, "autumn_sale", 30000, 2, 15000, "2");
    expect_row(report, "winter_sale", 36000, 2, 6000, "6");
    expect_row(report, "spring_promo", 20000, 2, 5000, "4");
    static const char *const ids[] = {"1001", "2002", "3003", "not_this_one", "(none)"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        JD_EXPECT(!row_of(report, ids[i]), "by=campaign: a row %s of its own: %s", ids[i],
                  jd_json_brief(report));
    JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(report, "rows")) == 3,
              "by=campaign: want 3 rows, got %s", jd_json_brief(report));
    cJSON_Delete(report);

    /* The drill-down behind a row lists what the row counts: the lead form's conversion
     * (by id) and the click's (by name) both, credits summing to the row's revenue. */
    static const struct {
        const char *key;
        int64_t revenue;
    } rows[] = {{"autumn_sale", 30000}, {"winter_sale", 36000}, {"spring_promo", 20000}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char path[200];
        snprintf(path, sizeof path,
                 "/v1/reports/attribution/conversions?model=last_touch&by=campaign&key=%s",
                 rows[i].key);
        JD_REQUIRE(jd_get_auth(&daemon_, path, &h) == 0 && h.status == 200,
                   "%s: want 200, got %ld: %.300s", path, h.status, h.body ? h.body : "");
        cJSON *d = jd_http_json(&h);
        jd_http_free(&h);
        int ok = 0;
        int64_t total = jd_json_int(jd_json_path(d, "total"), &ok), credit = 0;
        const cJSON *cv;
        cJSON_ArrayForEach(cv, cJSON_GetObjectItemCaseSensitive(d, "conversions"))
        {
            int okc = 0;
            credit += jd_json_int(jd_json_path(cv, "credit.minor"), &okc);
        }
        JD_EXPECT(ok && total == 2 && credit == rows[i].revenue,
                  "drill-down of %s: want 2 conversions crediting %lld, got %s", rows[i].key,
                  (long long)rows[i].revenue, jd_json_brief(d));
        cJSON_Delete(d);
    }

    /* The journey keeps the id in the touch. */
    long status;
    cJSON *j = jd_journey(&daemon_, "email", "bruno@example.com", &status);
    JD_REQUIRE(j && status == 200, "journey of bruno: got %ld", status);
    int seen = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        const char *id = jd_json_str(ev, "id");
        if (!id || strcmp(id, "google_ads:L-bruno") != 0)
            continue;
        seen = 1;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "touch");
        const char *cid = jd_json_str(t, "campaign_id"), *name = jd_json_str(t, "campaign");
        JD_EXPECT(cid && strcmp(cid, "1001") == 0 && name && strcmp(name, "autumn_sale") == 0,
                  "bruno's lead: want touch.campaign_id 1001 and campaign autumn_sale "
                  "([campaigns]): %s",
                  jd_json_brief(ev));
    }
    JD_EXPECT(seen, "bruno's journey has no lead: %s", jd_json_brief(j));
    cJSON_Delete(j);

    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis_, SIGKILL);
    return jd_finish();
}
