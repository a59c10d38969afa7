/*
 * Reconciliation of a Pipedrive account: a pipedrive source with `reconcile = 2s` lists
 * persons and deals on a fake API v2 on loopback (updated_since, the x-api-token header).
 * Pipedrive's webhook uuids cannot be rebuilt from the API, so both paths key an event on
 * the object: its creation, and its change at update_time (connectors/pipedrive.c).
 *   - the person's creation came as a webhook before the walk: fetched again, it changes
 *     nothing (and its retry neither);
 *   - the person's later change, the deal's creation and the deal's win never came: after
 *     the walk each is in the journey once, journeyd_reconciled_total{source="pd"} is 3;
 *   - their webhooks then arrive late (and the win twice, a retry): nothing changes, every
 *     one of them counts as a duplicate.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PD_TOKEN "pd_api_token_0123456789abcdef"
/* base64("pd-hooks:pipedrive_test_password_0123") */
#define PD_AUTH "Authorization: Basic cGQtaG9va3M6cGlwZWRyaXZlX3Rlc3RfcGFzc3dvcmRfMDEyMw=="

static struct jd_daemon daemon_;
static struct fake_api *fake;

static void iso(int64_t s, char out[32])
{
    time_t t = (time_t)s;
    struct tm tm;
    JD_REQUIRE(gmtime_r(&t, &tm) && strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0,
               "time formatting failed");
}

static void post_hook(const char *body)
{
    const char *hdrs[] = {PD_AUTH, "Content-Type: application/json", NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "pd", hdrs, body, &h);
    JD_EXPECT(h.status == 200, "webhook: want 200, got %ld (%s)", h.status, h.body);
    jd_http_free(&h);
}

static long long metric(const char *series)
{
    long long v = jd_metric(&daemon_, series);
    return v < 0 ? 0 : v;
}

int main(void)
{
    jd_setup("reconcile_pipedrive", 240, 1);
    uint64_t r = jd_rand_below(1000000000);
    char email[96], added[32], changed[32], won[32], body[4096];
    uint64_t person = 1000 + r, deal = 2000000000 + r;
    int64_t now = jd_now_s();
    snprintf(email, sizeof email, "lead%" PRIu64 "@example.com", r);
    iso(now - 7200, added);
    iso(now - 3600, changed);
    iso(now - 600, won);

    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[source pd]\ntype = pipedrive\nusername = pd-hooks\npassword = "
                            "pipedrive_test_password_0123\napi_token = " PD_TOKEN
                            "\napi_base = %s\n"
                            "reconcile = 2s\n",
                            fake_api_base(fake));

    /* The lists: the person (created, then changed) and its deal (opened, then won). The
     * first persons page comes late, so the creation webhook is applied first. */
    int r_persons = fake_api_route(fake, "GET", "/api/v2/persons?", FAKE_PREFIX);
    int r_deals = fake_api_route(fake, "GET", "/api/v2/deals?", FAKE_PREFIX);
    int r_person = fake_api_route(fake, "GET", "/api/v2/persons/", FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"success\":true,\"data\":[{\"id\":%" PRIu64 ",\"name\":\"Giulia Rossi\","
             "\"emails\":[{\"value\":\"%s\",\"primary\":true}],\"phones\":[],\"add_time\":\"%s\","
             "\"update_time\":\"%s\"}],\"additional_data\":{\"next_cursor\":null}}",
             person, email, added, changed);
    fake_api_reply(fake, r_persons, 200, NULL, body, 3000);
    fake_api_reply(fake, r_persons, 200, NULL, "{\"success\":true,\"data\":[]}", 0);
    snprintf(body, sizeof body,
             "{\"success\":true,\"data\":[{\"id\":%" PRIu64 ",\"person_id\":%" PRIu64 ","
             "\"title\":\"Deal\",\"status\":\"won\",\"stage_id\":3,\"stage_change_time\":\"%s\","
             "\"value\":100,\"currency\":\"EUR\",\"add_time\":\"%s\",\"update_time\":\"%s\"}],"
             "\"additional_data\":{\"next_cursor\":null}}",
             deal, person, won, added, won);
    fake_api_reply(fake, r_deals, 200, NULL, body, 0);
    fake_api_reply(fake, r_deals, 200, NULL, "{\"success\":true,\"data\":[]}", 0);
    snprintf(body, sizeof body,
             "{\"success\":true,\"data\":{\"id\":%" PRIu64 ",\"emails\":[{\"value\":\"%s\"}]}}",
             person, email);
    fake_api_reply(fake, r_person, 200, NULL, body, 0);

    /* The webhooks Pipedrive would send (v2), each with its own uuid. */
    char create_hook[2048], change_hook[2048], won_hook[2048];
    snprintf(create_hook, sizeof create_hook,
             "{\"meta\":{\"action\":\"create\",\"entity\":\"person\",\"entity_id\":\"%" PRIu64
             "\",\"id\":\"aa%08" PRIu64 "-0000-4000-8000-000000000001\",\"timestamp\":\"%s\","
             "\"version\":\"2.0\"},\"data\":{\"id\":%" PRIu64 ",\"name\":\"Giulia\",\"emails\":"
             "[{\"value\":\"%s\"}],\"add_time\":\"%s\",\"update_time\":\"%s\"},\"previous\":null}",
             person, r, added, person, email, added, added);
    snprintf(change_hook, sizeof change_hook,
             "{\"meta\":{\"action\":\"change\",\"entity\":\"person\",\"entity_id\":\"%" PRIu64
             "\",\"id\":\"aa%08" PRIu64 "-0000-4000-8000-000000000002\",\"timestamp\":\"%s\","
             "\"version\":\"2.0\"},\"data\":{\"id\":%" PRIu64 ",\"name\":\"Giulia Rossi\","
             "\"emails\":[{\"value\":\"%s\"}],\"add_time\":\"%s\",\"update_time\":\"%s\"},"
             "\"previous\":{\"name\":\"Giulia\"}}",
             person, r, changed, person, email, added, changed);
    snprintf(won_hook, sizeof won_hook,
             "{\"meta\":{\"action\":\"change\",\"entity\":\"deal\",\"entity_id\":\"%" PRIu64
             "\",\"id\":\"aa%08" PRIu64 "-0000-4000-8000-000000000003\",\"timestamp\":\"%s\","
             "\"version\":\"2.0\"},\"data\":{\"id\":%" PRIu64 ",\"person_id\":%" PRIu64 ","
             "\"status\":\"won\",\"stage_id\":3,\"add_time\":\"%s\",\"update_time\":\"%s\"},"
             "\"previous\":{\"status\":\"open\"}}",
             deal, r, won, deal, person, added, won);

    jd_daemon_start(&daemon_, 1);
    post_hook(create_hook);
    jd_wait_drained(&daemon_, 30);

    /* ---- one walk: three events recovered, the delivered creation not counted ---- */
    const char *reconciled = "journeyd_reconciled_total{source=\"pd\"}";
    int64_t end = jd_mono_ms() + 30000;
    while ((fake_api_hits(fake, r_deals) < 1 || metric(reconciled) < 3) && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(metric(reconciled) == 3, "%s: want 3, got %lld", reconciled, metric(reconciled));
    char id[96];
    snprintf(id, sizeof id, "pipedrive:person:%" PRIu64 ":created", person);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "pipedrive:person:%" PRIu64 ":%" PRId64, person, now - 3600);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "pipedrive:deal:%" PRIu64 ":created", deal);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "pipedrive:deal:%" PRIu64 ":%" PRId64, deal, now - 600);
    JD_EXPECT_ONCE(&daemon_, email, id);
    long st;
    cJSON *j = jd_journey(&daemon_, "email", email, &st);
    const cJSON *stage = jd_json_path(j, "contact.stage");
    JD_EXPECT(cJSON_IsString(stage) && strcmp(stage->valuestring, "won") == 0,
              "the contact's stage: want won, got %s", jd_json_brief(stage));
    cJSON_Delete(j);

    /* ---- what was asked ---- */
    struct fake_request rq;
    char token[128];
    JD_REQUIRE(fake_api_request(fake, 0, &rq) == 0, "no request recorded");
    JD_EXPECT(strncmp(rq.target, "/api/v2/persons?limit=250&updated_since=", 40) == 0 &&
                  strstr(rq.target, "&sort_by=update_time&sort_direction=asc"),
              "the first request: %s", rq.target);
    JD_EXPECT(fake_request_header(&rq, "x-api-token", token, sizeof token) &&
                  strcmp(token, PD_TOKEN) == 0,
              "the API token was not sent in x-api-token");

    /* ---- the late webhooks, and a retry, change nothing ---- */
    long long dups = metric("journeyd_duplicates_skipped_total");
    post_hook(change_hook);
    post_hook(won_hook);
    post_hook(won_hook);    /* Pipedrive's retry of the same delivery */
    post_hook(create_hook); /* and of the first one */
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(metric("journeyd_duplicates_skipped_total") == dups + 4,
              "the late webhooks and retries: want 4 more duplicates, got %lld",
              metric("journeyd_duplicates_skipped_total") - dups);
    JD_EXPECT(metric(reconciled) == 3, "after the late webhooks: %s want 3, got %lld", reconciled,
              metric(reconciled));
    j = jd_journey(&daemon_, "email", email, &st);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_EXPECT(cJSON_GetArraySize(events) == 4, "the journey: want 4 events, got %d: %s",
              cJSON_GetArraySize(events), jd_json_brief(events));
    cJSON_Delete(j);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
