/*
 * An escaped NUL (\u0000) in a JSON string is refused with 400 at the door (issue 11.8):
 * cJSON stores strings NUL-terminated, so "events:nul\u0000x" became "events:nul" and
 * "a@b.c\u0000evil" became "a@b.c" — an id or identity silently cut to another one. Ids,
 * identities and signed provider bodies are all tried; other escapes still pass.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static long post_events_status(const struct jd_daemon *d, const char *body)
{
    struct jd_http h;
    jd_post_events(d, body, &h);
    long st = h.status;
    JD_EXPECT(st != 400 || jd_http_is_error(&h, "bad_request"),
              "a 400 should carry the bad_request error body: %s", h.body ? h.body : "");
    jd_http_free(&h);
    return st;
}

static long post_stripe_status(const struct jd_daemon *d, const char *email_json)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"id\":\"evt_nul_%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":1790000000,\"data\":{\"object\":{\"id\":\"cs_nul\",\"object\":"
             "\"checkout.session\",\"amount_total\":1000,\"currency\":\"eur\","
             "\"payment_status\":\"paid\",\"customer_email\":\"%s\"}}}",
             strstr(email_json, "\\u0000") ? "cut" : "ok", email_json);
    struct jd_http h;
    jd_post_stripe(d, body, &h);
    long st = h.status;
    jd_http_free(&h);
    return st;
}

int main(void)
{
    jd_setup("json_nul", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    long st = post_events_status(
        &d,
        "{\"events\":[{\"id\":\"nul\\u0000x\",\"kind\":\"visit\",\"at\":"
        "\"2026-10-01T00:00:00Z\",\"identities\":[{\"type\":\"anon\",\"value\":\"a_nul1\"}]}]}");
    JD_EXPECT(st == 400, "an event id with \\u0000: want 400, got %ld", st);

    st = post_events_status(
        &d, "{\"events\":[{\"id\":\"nul-email\",\"kind\":\"lead\",\"at\":"
            "\"2026-10-01T00:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
            "\"a@b.c\\u0000evil\"}]}]}");
    JD_EXPECT(st == 400, "an email with \\u0000: want 400, got %ld", st);

    st = post_stripe_status(&d, "cut@example.com\\u0000x");
    JD_EXPECT(st == 400, "a signed Stripe body with \\u0000: want 400, got %ld", st);

    /* Other escapes are ordinary JSON and pass: \u0041 is "A". */
    st = post_events_status(
        &d, "{\"events\":[{\"id\":\"esc\\u0041\",\"kind\":\"lead\",\"at\":"
            "\"2026-10-01T00:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
            "\"esc@example.com\"}]}]}");
    JD_EXPECT(st == 200, "an event with a \\u0041 escape: want 200, got %ld", st);
    st = post_stripe_status(&d, "ok@example.com");
    JD_EXPECT(st == 200, "a plain signed Stripe body: want 200, got %ld", st);

    long dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);
    /* Nothing of the refused events reached Redis: no cut id, no cut email. */
    cJSON *j = jd_journey(&d, "email", "a@b.c", &st);
    JD_EXPECT(st == 404, "a@b.c (the cut email) must not exist: status %ld", st);
    cJSON_Delete(j);
    j = jd_journey(&d, "email", "cut@example.com", &st);
    JD_EXPECT(st == 404, "cut@example.com (the cut Stripe email) must not exist: status %ld", st);
    cJSON_Delete(j);
    j = jd_journey(&d, "email", "esc@example.com", &st);
    JD_EXPECT(st == 200 && j && jd_count_event(j, "events:escA") == 1,
              "the \\u0041 event should be stored as events:escA: status %ld", st);
    cJSON_Delete(j);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
