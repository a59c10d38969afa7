/*
 * Sales activity as the SLA's response (issue 14 item 7): marketing leads arrive through
 * POST /v1/events; sales answers them by logging calls in Pipedrive, delivered as v2
 * activity webhooks with HTTP Basic credentials. The activity names only the Pipedrive
 * person; the daemon reads the person from a fake Pipedrive API (api_base) for the e-mail
 * that joins it to the lead.
 *
 *   anna   lead at T;          call logged done at T+30 min by owner 7  → 1800 s
 *   bruno  lead at T+1 h;      a call planned at T+1 h 2 min by owner 9 (not a response),
 *                              marked done at T+3 h                      → 7200 s
 *   carla  lead at T+2 h;      call logged done at T+2 h 10 min by owner 7 → 600 s
 *
 * Expected: every lead answered at the call's time (bruno's planned call is not his
 * answer), sales median 1800 and p90 7200; by_owner pipedrive:7 answered 2, median 600,
 * p90 1800; pipedrive:9 answered 1, 7200 and 7200. The journeys show the calls as
 * sales_touch events with their owner, and no event for the planned call.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define PD_USER "journeyd-hooks"
#define PD_PASS "pipedrive-basic-pass-0123"
#define PD_TOKEN "pipedrive-api-token-0123"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static char sfx[17];

static void email_of(const char *who, char *out, size_t cap)
{
    snprintf(out, cap, "%s.%s@example.it", who, sfx);
}

static void post_lead(const char *who, int64_t at_s)
{
    char at[32], email[96], body[512];
    struct jd_http h;
    jd_rfc3339(at_s, at, sizeof at);
    email_of(who, email, sizeof email);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"lead-%s-%s\",\"kind\":\"lead\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}]}",
             who, sfx, at, email);
    jd_post_events(&daemon_, body, &h);
    JD_EXPECT(h.status == 200, "POST /v1/events (%s): %ld %.200s", who, h.status,
              h.body ? h.body : "");
    jd_http_free(&h);
}

/* The person the activities name, as GET /api/v2/persons/<id> answers it. */
static void fake_person(long person, const char *who)
{
    char path[64], email[96], body[512];
    email_of(who, email, sizeof email);
    snprintf(path, sizeof path, "/api/v2/persons/%ld", person);
    int r = fake_api_route(fake, "GET", path, FAKE_EXACT);
    snprintf(body, sizeof body,
             "{\"success\":true,\"data\":{\"id\":%ld,\"name\":\"%s\",\"emails\":[{\"value\":"
             "\"%s\",\"primary\":true,\"label\":\"work\"}],\"phones\":[]}}",
             person, who, email);
    fake_api_reply(fake, r, 200, NULL, body, 0);
}

/* A v2 activity webhook (pipedrive.readme.io, Webhooks v2 migration guide, "Create
 * activity" / "Update activity"). previous_done < 0: no previous (a creation). */
static void post_activity(const char *action, long id, int done, int previous_done, long owner,
                          long person, int64_t at_s, const char *event_uuid)
{
    char at[32], prev[96], body[1024], cred[128], b64[192], auth[256];
    jd_rfc3339(at_s, at, sizeof at);
    if (previous_done < 0)
        snprintf(prev, sizeof prev, "null");
    else
        snprintf(prev, sizeof prev, "{\"done\":%s,\"update_time\":\"%s\"}",
                 previous_done ? "true" : "false", at);
    snprintf(body, sizeof body,
             "{\"data\":{\"active_flag\":true,\"add_time\":\"%s\",\"deal_id\":null,"
             "\"done\":%s,\"id\":%ld,\"lead_id\":null,\"org_id\":null,\"owner_id\":%ld,"
             "\"person_id\":%ld,\"subject\":\"First call\",\"type\":\"call\"},"
             "\"previous\":%s,\"meta\":{\"action\":\"%s\",\"company_id\":\"8087566\","
             "\"entity_id\":\"%ld\",\"entity\":\"activity\",\"id\":\"%s\",\"is_bulk_edit\":false,"
             "\"timestamp\":\"%s\",\"type\":\"general\",\"user_id\":\"%ld\",\"version\":\"2.0\","
             "\"attempt\":1}}",
             at, done ? "true" : "false", id, owner, person, prev, action, id, event_uuid, at,
             owner);
    int n = snprintf(cred, sizeof cred, "%s:%s", PD_USER, PD_PASS);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, n);
    snprintf(auth, sizeof auth, "Authorization: Basic %s", b64);
    const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "pipedrive", hdrs, body, &h);
    JD_EXPECT(h.status == 200, "POST /hooks/pipedrive (%s): %ld %.200s", event_uuid, h.status,
              h.body ? h.body : "");
    jd_http_free(&h);
}

static int64_t num(const cJSON *o, const char *path)
{
    int ok = 0;
    int64_t v = jd_json_int(jd_json_path(o, path), &ok);
    JD_EXPECT(ok, "%s: not an integer in %s", path, jd_json_brief(o));
    return ok ? v : -1;
}

/* The journey of who: its sales touches, in order, as "owner@at" joined by spaces. */
static void touches_of(const char *who, char *out, size_t cap)
{
    char email[96];
    long status = 0;
    size_t o = 0;
    email_of(who, email, sizeof email);
    out[0] = '\0';
    cJSON *j = jd_journey(&daemon_, "email", email, &status);
    JD_EXPECT(j && status == 200, "journey of %s: %ld", who, status);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        const char *kind = jd_json_str(e, "kind"), *owner = jd_json_str(e, "owner");
        if (!kind || strcmp(kind, "sales_touch") != 0)
            continue;
        int n = snprintf(out + o, cap - o, "%s%s@%s", o ? " " : "", owner ? owner : "-",
                         jd_json_str(e, "at") ? jd_json_str(e, "at") : "-");
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
    cJSON_Delete(j);
}

int main(void)
{
    jd_setup("sales_touch", 180, 1);
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[source pipedrive]\ntype = pipedrive\nusername = " PD_USER
                            "\npassword = " PD_PASS "\napi_token = " PD_TOKEN "\napi_base = %s\n",
                            fake_api_base(fake));
    jd_daemon_start(&daemon_, 1);

    snprintf(sfx, sizeof sfx, "%016" PRIx64, jd_rand());
    const long pa = 100000 + (long)jd_rand_below(100000), pb = pa + 1, pc = pa + 2;
    fake_person(pa, "anna");
    fake_person(pb, "bruno");
    fake_person(pc, "carla");
    /* Ten days ago, on the hour: every figure is a whole number of seconds. */
    const int64_t T = (jd_now_s() / 3600 - 240) * 3600;
    char u[8][48];
    for (int i = 0; i < 8; i++)
        snprintf(u[i], sizeof u[i], "%08x-0000-4000-8000-%s", i + 1, sfx + 4);

    post_lead("anna", T);
    post_lead("bruno", T + 3600);
    post_lead("carla", T + 7200);
    post_activity("create", 501, 1, -1, 7, pa, T + 1800, u[0]);
    /* Bruno: planned first (no answer), then marked done. */
    post_activity("create", 502, 0, -1, 9, pb, T + 3720, u[1]);
    post_activity("change", 502, 1, 0, 9, pb, T + 3600 + 7200, u[2]);
    post_activity("create", 503, 1, -1, 7, pc, T + 7800, u[3]);
    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);
    JD_EXPECT(fake_api_count(fake, "GET", "/api/v2/persons/") >= 3,
              "the persons were not looked up (%zu requests)",
              fake_api_count(fake, "GET", "/api/v2/persons/"));

    /* The journeys: the calls, with owner and time; not the planned call. */
    char got[512], want[512], at[3][32];
    jd_rfc3339(T + 1800, at[0], sizeof at[0]);
    jd_rfc3339(T + 10800, at[1], sizeof at[1]);
    jd_rfc3339(T + 7800, at[2], sizeof at[2]);
    touches_of("anna", got, sizeof got);
    snprintf(want, sizeof want, "pipedrive:7@%s", at[0]);
    JD_EXPECT(!strcmp(got, want), "anna's sales touches: got \"%s\", want \"%s\"", got, want);
    touches_of("bruno", got, sizeof got);
    snprintf(want, sizeof want, "pipedrive:9@%s", at[1]);
    JD_EXPECT(!strcmp(got, want), "bruno's sales touches: got \"%s\", want \"%s\"", got, want);
    touches_of("carla", got, sizeof got);
    snprintf(want, sizeof want, "pipedrive:7@%s", at[2]);
    JD_EXPECT(!strcmp(got, want), "carla's sales touches: got \"%s\", want \"%s\"", got, want);

    /* The SLA of the leads' day (default 24 h limit). */
    char from[32], to[32], path[160];
    jd_rfc3339(T - 3600, from, sizeof from);
    jd_rfc3339(T + 86400, to, sizeof to);
    snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s", from, to);
    struct jd_http h;
    jd_get_auth(&daemon_, path, &h);
    cJSON *j = jd_http_json(&h);
    JD_EXPECT(h.status == 200 && j, "GET %s: %ld %.300s", path, h.status, h.body ? h.body : "");
    if (j) {
        const cJSON *sales = cJSON_GetObjectItemCaseSensitive(j, "sales");
        JD_EXPECT(num(sales, "leads") == 3, "sales.leads: %s", jd_json_brief(sales));
        JD_EXPECT(num(sales, "answered") == 3, "sales.answered: %s", jd_json_brief(sales));
        JD_EXPECT(num(sales, "within_sla") == 3, "sales.within_sla: %s", jd_json_brief(sales));
        JD_EXPECT(num(sales, "median_seconds") == 1800, "sales.median: %s", jd_json_brief(sales));
        JD_EXPECT(num(sales, "p90_seconds") == 7200, "sales.p90: %s", jd_json_brief(sales));
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(sales, "by_owner");
        JD_EXPECT(cJSON_GetArraySize(by) == 2, "by_owner: %s", jd_json_brief(by));
        const cJSON *o7 = cJSON_GetArrayItem(by, 0), *o9 = cJSON_GetArrayItem(by, 1);
        JD_EXPECT(
            o7 && !strcmp(jd_json_str(o7, "owner") ? jd_json_str(o7, "owner") : "", "pipedrive:7"),
            "by_owner[0]: %s", jd_json_brief(o7));
        JD_EXPECT(num(o7, "answered") == 2 && num(o7, "within_sla") == 2 &&
                      num(o7, "median_seconds") == 600 && num(o7, "p90_seconds") == 1800,
                  "pipedrive:7: %s", jd_json_brief(o7));
        JD_EXPECT(
            o9 && !strcmp(jd_json_str(o9, "owner") ? jd_json_str(o9, "owner") : "", "pipedrive:9"),
            "by_owner[1]: %s", jd_json_brief(o9));
        JD_EXPECT(num(o9, "answered") == 1 && num(o9, "within_sla") == 1 &&
                      num(o9, "median_seconds") == 7200 && num(o9, "p90_seconds") == 7200,
                  "pipedrive:9: %s", jd_json_brief(o9));
    }
    cJSON_Delete(j);
    jd_http_free(&h);

    /* The same rows as CSV (table=by_owner). */
    snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s&format=csv&table=by_owner", from,
             to);
    jd_get_auth(&daemon_, path, &h);
    JD_EXPECT(h.status == 200 && h.body &&
                  !strcmp(h.body, "owner,answered,within_sla,median_seconds,p90_seconds\r\n"
                                  "pipedrive:7,2,2,600,1800\r\n"
                                  "pipedrive:9,1,1,7200,7200\r\n"),
              "GET %s: %ld \"%s\"", path, h.status, h.body ? h.body : "");
    jd_http_free(&h);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
