/*
 * A contact with thousands of touches, then an earlier event that joins it (out-of-order
 * arrival): the contact is renamed to the id its new first event implies, and the merge
 * of a second such contact follows. Both rewrite every touch's entry in the conversion
 * index in one script call, so a slice-less Lua `unpack` (a stack of about 8,000 values)
 * would fail the call and dead-letter the webhook. Nothing may be dead-lettered, the
 * whole journey must answer under the new id, and the old ids must resolve to it.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 900    /* at most CX_MAX_EVENTS (1,000) per /v1/events call */
#define TOUCHES 4500 /* 9,000 values to point at a contact: over unpack's limit */

static void post_events(const struct jd_daemon *d, const char *body)
{
    struct jd_http h;
    jd_post_events(d, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: want 200, got %ld %s", h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

/* TOUCHES page views with utm for anonymous id `anon`, one second apart from `t0`. */
static void post_touches(const struct jd_daemon *d, const char *anon, const char *prefix,
                         int64_t t0)
{
    size_t cap = (size_t)BATCH * 256 + 64;
    char *body = malloc(cap);
    JD_REQUIRE(body != NULL, "out of memory");
    for (int b = 0; b < TOUCHES / BATCH; b++) {
        size_t o = (size_t)snprintf(body, cap, "{\"events\":[");
        for (int i = 0; i < BATCH; i++) {
            char at[32];
            jd_rfc3339(t0 + b * BATCH + i, at, sizeof at);
            o += (size_t)snprintf(body + o, cap - o,
                                  "%s{\"id\":\"%s-%05d\",\"kind\":\"visit\",\"at\":\"%s\","
                                  "\"identities\":[{\"type\":\"anon\",\"value\":\"%s\"}],"
                                  "\"touch\":{\"source\":\"newsletter\",\"medium\":\"email\","
                                  "\"campaign\":\"c%d\"}}",
                                  i ? "," : "", prefix, b * BATCH + i, at, anon, i % 7);
            JD_REQUIRE(o < cap, "body buffer too small");
        }
        snprintf(body + o, cap - o, "]}");
        post_events(d, body);
    }
    free(body);
}

static const char *contact_id(const cJSON *j)
{
    const cJSON *id = jd_json_path(j, "contact.id");
    return cJSON_IsString(id) ? id->valuestring : "";
}

int main(void)
{
    jd_setup("big_contact", 300, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    const int64_t t0 = 1790899200; /* 2026-10-02T00:00:00Z */
    post_touches(&d, "a_big_one", "big1", t0);
    post_touches(&d, "a_big_two", "big2", t0 + TOUCHES);
    long dead = jd_wait_drained(&d, 240);
    JD_EXPECT(dead == 0, "%ld dead letters after the touches", dead);

    long st;
    cJSON *j = jd_journey(&d, "anon", "a_big_one", &st);
    JD_REQUIRE(st == 200 && j, "journey of a_big_one: status %ld", st);
    char before[64];
    snprintf(before, sizeof before, "%s", contact_id(j));
    cJSON_Delete(j);

    /* Earlier than every touch: the contact takes this event's id (a rename). Then an
     * event naming both anonymous ids and an email merges the two big contacts. */
    post_events(&d, "{\"events\":[{\"id\":\"big-first\",\"kind\":\"visit\",\"at\":"
                    "\"2026-10-01T00:00:00Z\",\"identities\":[{\"type\":\"anon\",\"value\":"
                    "\"a_big_one\"}]}]}");
    post_events(&d, "{\"events\":[{\"id\":\"big-join\",\"kind\":\"lead\",\"at\":"
                    "\"2026-10-05T00:00:00Z\",\"identities\":[{\"type\":\"anon\",\"value\":"
                    "\"a_big_one\"},{\"type\":\"anon\",\"value\":\"a_big_two\"},{\"type\":"
                    "\"email\",\"value\":\"big@example.com\"}]}]}");
    dead = jd_wait_drained(&d, 240);
    JD_EXPECT(dead == 0, "%ld dead letters after the rename and the merge", dead);

    j = jd_journey(&d, "email", "big@example.com", &st);
    JD_REQUIRE(st == 200 && j, "journey of big@example.com: status %ld", st);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_EXPECT(cJSON_GetArraySize(events) == 2 * TOUCHES + 2,
              "want %d events in the merged journey, got %d", 2 * TOUCHES + 2,
              cJSON_GetArraySize(events));
    const cJSON *first = cJSON_GetArrayItem(events, 0);
    JD_EXPECT(first && cJSON_IsString(jd_json_path(first, "id")) &&
                  strcmp(jd_json_path(first, "id")->valuestring, "events:big-first") == 0,
              "the journey should start with events:big-first: %s", jd_json_brief(first));
    char after[64];
    snprintf(after, sizeof after, "%s", contact_id(j));
    JD_EXPECT(after[0] && strcmp(after, before) != 0,
              "the contact should have been renamed from %s, is %s", before, after);
    cJSON_Delete(j);

    /* The retired id resolves to the survivor. */
    j = jd_journey(&d, "contact", before, &st);
    JD_EXPECT(st == 200 && j && strcmp(contact_id(j), after) == 0,
              "contact=%s: want the survivor %s, got status %ld %s", before, after, st,
              j ? contact_id(j) : "");
    cJSON_Delete(j);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
