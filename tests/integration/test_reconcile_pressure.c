/*
 * Reconciliation gives way to webhooks: with the raw stream half full (max_queue = 8, so
 * 4 entries), a Stripe source with `reconcile = 1s` asks its list API nothing, and goes on
 * once the queue has drained. The queue is filled by holding the worker: a Meta lead
 * webhook whose Graph look-up answers only after 8 s keeps the worker from reading on,
 * while four Stripe webhooks wait behind it.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_SECRET "meta_test_app_secret"
#define META_TOKEN "meta-token-0123456789abcdef"
#define API_TOKEN "sk_test_pressure_0123456789"

static struct jd_daemon daemon_;
static struct fake_api *fake;

int main(void)
{
    jd_setup("reconcile_pressure", 240, 1);
    char prefix[32], lead[32];
    snprintf(prefix, sizeof prefix, "rp%08" PRIx64, jd_rand() & 0xffffffffu);
    snprintf(lead, sizeof lead, "%" PRIu64, (uint64_t)9007199254740993ULL + jd_rand_below(1000000));
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, "max_queue = 8\n");
    jd_daemon_config_stripe(&daemon_, "api_token = " API_TOKEN "\napi_base = %s\nreconcile = 1s\n",
                            fake_api_base(fake));
    jd_daemon_config_append(&daemon_,
                            "\n[source meta]\ntype = meta_leads\nsecret = " META_SECRET
                            "\nverify_token = verify-token-123\napi_token = " META_TOKEN
                            "\napi_base = %s/v19.0\n",
                            fake_api_base(fake));

    int r_events = fake_api_route(fake, "GET", "/v1/events?", FAKE_PREFIX);
    fake_api_reply(fake, r_events, 200, NULL,
                   "{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":false,\"data\":[]}",
                   0);
    char path[64], body[1024];
    snprintf(path, sizeof path, "/v19.0/%s?", lead);
    int r_lead = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"created_time\":\"2026-10-01T10:00:00+0000\",\"id\":\"%s\",\"form_id\":\"1\","
             "\"field_data\":[{\"name\":\"email\",\"values\":[\"%s@example.com\"]}]}",
             lead, prefix);
    fake_api_reply(fake, r_lead, 200, NULL, body, 8000);
    fake_api_reply(fake, r_lead, 200, NULL, body, 0);

    jd_daemon_start(&daemon_, 1);
    int64_t end = jd_mono_ms() + 30000;
    while (fake_api_hits(fake, r_events) < 1 && jd_mono_ms() < end)
        jd_sleep_ms(50);
    JD_REQUIRE(fake_api_hits(fake, r_events) >= 1, "no reconcile walk at start");

    /* Hold the worker on the look-up, then queue four webhooks behind it. */
    snprintf(body, sizeof body,
             "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"time\":%" PRId64
             ",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":%s,"
             "\"form_id\":1,\"created_time\":%" PRId64 "}}]}]}",
             jd_now_s(), lead, jd_now_s());
    struct jd_http h;
    jd_post_meta(&daemon_, "meta", META_SECRET, body, &h);
    JD_REQUIRE(h.status == 200, "the Meta webhook: want 200, got %ld", h.status);
    jd_http_free(&h);
    end = jd_mono_ms() + 5000;
    while (fake_api_hits(fake, r_lead) < 1 && jd_mono_ms() < end)
        jd_sleep_ms(20);
    JD_REQUIRE(fake_api_hits(fake, r_lead) >= 1, "the worker did not look the lead up");
    for (int i = 0; i < 4; i++) {
        char *b = jd_stripe_checkout_body(prefix, i);
        JD_EXPECT(jd_post_stripe(&daemon_, b, &h) == 0 && h.status == 200,
                  "webhook %d: want 200, got %ld", i, h.status);
        jd_http_free(&h);
        free(b);
    }
    end = jd_mono_ms() + 5000;
    while (jd_metric(&daemon_, "journeyd_raw_stream_length") < 4 && jd_mono_ms() < end)
        jd_sleep_ms(50);
    JD_REQUIRE(jd_metric(&daemon_, "journeyd_raw_stream_length") >= 4,
               "the queue did not fill (length %lld)",
               jd_metric(&daemon_, "journeyd_raw_stream_length"));

    /* A walk already past its check may still finish: count from a second later. */
    jd_sleep_ms(1000);
    size_t held = fake_api_hits(fake, r_events);
    jd_sleep_ms(3000);
    JD_EXPECT(fake_api_hits(fake, r_events) == held,
              "with the queue half full, reconcile asked the list API %zu times",
              fake_api_hits(fake, r_events) - held);
    JD_EXPECT(jd_metric(&daemon_, "journeyd_raw_stream_length") >= 4,
              "the worker was not held as the test assumed (queue %lld)",
              jd_metric(&daemon_, "journeyd_raw_stream_length"));

    /* Once the look-up answers, the queue drains and the walks go on. */
    jd_wait_drained(&daemon_, 60);
    end = jd_mono_ms() + 30000;
    while (fake_api_hits(fake, r_events) <= held && jd_mono_ms() < end)
        jd_sleep_ms(100);
    JD_EXPECT(fake_api_hits(fake, r_events) > held, "reconcile did not resume after the drain");
    jd_check_checkout_journeys(&daemon_, prefix, 4, NULL);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
