/*
 * Contact ids reach Redis key names, so only their exact format is a contact (issue 11.7):
 * `DELETE /v1/contacts/<id>:j` answered 200 and deleted only that contact's journey set,
 * leaving its identities pointing at a half-erased contact, and `GET /v1/contacts/<id>:ids`
 * answered 503. Anything but "c_" and 20 lowercase hex digits is 404, and the contact it
 * resembles is untouched.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static long call(const struct jd_daemon *d, const char *method, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    const char *headers[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    struct jd_http h;
    jd_http(&h, method, url, headers, NULL, 0);
    long st = h.status;
    jd_http_free(&h);
    return st;
}

int main(void)
{
    jd_setup("contact_ids", 60, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    struct jd_http h;
    jd_post_events(&d,
                   "{\"events\":[{\"id\":\"ids-1\",\"kind\":\"lead\",\"at\":"
                   "\"2026-10-01T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                   "\"ids@example.com\"}]},{\"id\":\"ids-2\",\"kind\":\"visit\",\"at\":"
                   "\"2026-10-01T11:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                   "\"ids@example.com\"}]}]}",
                   &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: %ld", h.status);
    jd_http_free(&h);
    JD_REQUIRE(jd_wait_drained(&d, 60) == 0, "dead letters");
    long st;
    cJSON *j = jd_journey(&d, "email", "ids@example.com", &st);
    JD_REQUIRE(st == 200 && j, "journey: %ld", st);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", jd_json_str(jd_json_path(j, "contact"), "id"));
    cJSON_Delete(j);
    JD_REQUIRE(strlen(cid) == 22, "contact id %s", cid);

    static const char *const suffixes[] = {":j", ":ids", ":conf", ":cp", ":mf", ":a", "x", "%00"};
    char path[256];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "/v1/contacts/%s%s", cid, suffixes[i]);
        st = call(&d, "GET", path);
        JD_EXPECT(st == 404, "GET %s: want 404, got %ld", path, st);
        st = call(&d, "DELETE", path);
        JD_EXPECT(st == 404, "DELETE %s: want 404, got %ld", path, st);
        snprintf(path, sizeof path, "/v1/journey?contact=%s%s", cid, suffixes[i]);
        st = call(&d, "GET", path);
        /* A NUL in a query is a malformed query (400) before it is a contact id. */
        JD_EXPECT(st == 404 || (strcmp(suffixes[i], "%00") == 0 && st == 400),
                  "GET %s: want 404, got %ld", path, st);
    }
    /* Upper case, short, and another prefix are no contact ids either. */
    char upper[sizeof "/v1/contacts/C_" + sizeof cid];
    snprintf(upper, sizeof upper, "/v1/contacts/C_%s", cid + 2);
    JD_EXPECT(call(&d, "GET", upper) == 404, "GET %s", upper);
    JD_EXPECT(call(&d, "GET", "/v1/contacts/c_0123") == 404, "a short id");
    JD_EXPECT(call(&d, "DELETE", "/v1/contacts/jd:idx") == 404, "a key name");

    /* The contact is whole: both events, and its email still leads to it. */
    j = jd_journey(&d, "email", "ids@example.com", &st);
    JD_EXPECT(st == 200 && j && jd_count_event(j, "events:ids-1") == 1 &&
                  jd_count_event(j, "events:ids-2") == 1,
              "the contact lost events: status %ld", st);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/contacts/%s", cid);
    JD_EXPECT(call(&d, "GET", path) == 200, "GET %s", path);
    JD_EXPECT(call(&d, "DELETE", path) == 200, "DELETE %s", path);
    JD_EXPECT(call(&d, "GET", path) == 404, "GET %s after erasure", path);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
