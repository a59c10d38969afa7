/*
 * DELETE /v1/contacts/<id> (DESIGN §7, GDPR erasure): the contact, its identities and
 * its journey are gone; a merged id erases its survivor; a provider's redelivery of an
 * erased event does not bring the contact back; other contacts are untouched.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static void post_events(const struct jd_daemon *d, const char *body)
{
    struct jd_http h;
    jd_post_events(d, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: want 200, got %ld %s", h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

static long http_delete(const struct jd_daemon *d, const char *path, struct jd_http *h)
{
    char url[256];
    const char *headers[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(url, sizeof url, "%s%s", d->base, path);
    jd_http(h, "DELETE", url, headers, NULL, 0);
    return h->status;
}

int main(void)
{
    jd_setup("erase", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    /* Two contacts that one later event merges, and a bystander. */
    static const char first[] =
        "{\"events\":[{\"id\":\"x1\",\"kind\":\"lead\",\"at\":\"2026-10-01T10:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"erase.me@example.com\"}]},"
        "{\"id\":\"x2\",\"kind\":\"visit\",\"at\":\"2026-10-01T09:00:00Z\","
        "\"identities\":[{\"type\":\"anon\",\"value\":\"a_erase\"}]},"
        "{\"id\":\"k1\",\"kind\":\"lead\",\"at\":\"2026-10-01T11:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"keep@example.com\"}]}]}";
    static const char link[] =
        "{\"events\":[{\"id\":\"x3\",\"kind\":\"form\",\"at\":\"2026-10-02T10:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"erase.me@example.com\"},"
        "{\"type\":\"anon\",\"value\":\"a_erase\"},{\"type\":\"phone\",\"value\":\"+39 02 1234 "
        "5678\"}]}]}";
    post_events(&d, first);
    jd_wait_drained(&d, 60);
    long status;
    cJSON *before = jd_journey(&d, "email", "erase.me@example.com", &status);
    JD_REQUIRE(before && status == 200, "journey before the merge: %ld", status);
    char loser[64];
    snprintf(loser, sizeof loser, "%s", jd_json_str(jd_json_path(before, "contact"), "id"));
    cJSON_Delete(before);
    post_events(&d, link);
    jd_wait_drained(&d, 60);

    cJSON *j = jd_journey(&d, "anon", "a_erase", &status);
    JD_REQUIRE(j && status == 200, "journey after the merge: %ld", status);
    char survivor[64];
    snprintf(survivor, sizeof survivor, "%s", jd_json_str(jd_json_path(j, "contact"), "id"));
    JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")) == 3,
              "merged journey holds 3 events: %s", jd_json_brief(j));
    cJSON_Delete(j);

    /* Erase through whichever of the two old ids is the merged one. */
    const char *via = strcmp(loser, survivor) != 0 ? loser : survivor;
    char path[128];
    struct jd_http h;
    snprintf(path, sizeof path, "/v1/contacts/%s", via);
    JD_EXPECT(http_delete(&d, path, &h) == 200, "DELETE %s: want 200, got %ld %s", path, h.status,
              h.body ? h.body : "");
    cJSON *ans = jd_http_json(&h);
    JD_EXPECT(
        ans && strcmp(jd_json_str(ans, "erased") ? jd_json_str(ans, "erased") : "", survivor) == 0,
        "erased the survivor %s: %s", survivor, jd_json_brief(ans));
    int ok;
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "events"), &ok) == 3 && ok,
              "3 events erased: %s", jd_json_brief(ans));
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "identities"), &ok) == 3 && ok,
              "3 identities erased (email, anon, phone): %s", jd_json_brief(ans));
    cJSON_Delete(ans);
    jd_http_free(&h);

    const char *gone[][2] = {{"email", "erase.me@example.com"},
                             {"anon", "a_erase"},
                             {"phone", "+390212345678"},
                             {"contact", survivor},
                             {"contact", loser}};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        cJSON *g = jd_journey(&d, gone[i][0], gone[i][1], &status);
        JD_EXPECT(status == 404, "%s=%s after erasure: want 404, got %ld", gone[i][0], gone[i][1],
                  status);
        cJSON_Delete(g);
    }
    JD_EXPECT(http_delete(&d, path, &h) == 404, "second DELETE: want 404, got %ld", h.status);
    jd_http_free(&h);

    /* Redeliveries of the erased events change nothing. */
    post_events(&d, first);
    post_events(&d, link);
    jd_wait_drained(&d, 60);
    cJSON *back = jd_journey(&d, "email", "erase.me@example.com", &status);
    JD_EXPECT(status == 404, "a redelivery brought the contact back: %s", jd_json_brief(back));
    cJSON_Delete(back);

    /* The bystander is untouched. */
    cJSON *keep = jd_journey(&d, "email", "keep@example.com", &status);
    JD_EXPECT(keep && status == 200 && jd_count_event(keep, "events:k1") == 1,
              "bystander journey intact: %s", jd_json_brief(keep));
    cJSON_Delete(keep);

    jd_daemon_stop(&d);
    return jd_finish();
}
