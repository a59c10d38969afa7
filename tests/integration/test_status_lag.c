/*
 * GET /v1/status says how long the oldest webhook not yet applied has waited
 * (queue.lag_seconds, issue 13 item 2: the operations view shows queue length and lag).
 * A daemon without the worker role takes a webhook and never applies it: its lag grows
 * with the clock; a whole daemon, once drained, answers 0.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* queue.lag_seconds and queue.length of one /v1/status answer; -1 on failure. */
static long long status_field(const struct jd_daemon *d, const char *path)
{
    struct jd_http h;
    long long v = -1;
    if (jd_get_auth(d, "/v1/status", &h) == 0 && h.status == 200) {
        cJSON *j = jd_http_json(&h);
        int ok = 0;
        int64_t n = jd_json_int(jd_json_path(j, path), &ok);
        if (ok)
            v = n;
        cJSON_Delete(j);
    }
    jd_http_free(&h);
    return v;
}

int main(void)
{
    jd_setup("status_lag", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);

    /* Ingest and API only: the webhook waits in the raw stream. */
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "roles = ingest, api\n");
    jd_daemon_start(&d, 1);
    JD_EXPECT(status_field(&d, "queue.lag_seconds") == 0, "an empty queue has no lag");
    char *body = jd_stripe_checkout_body("lag", 1);
    struct jd_http h;
    JD_REQUIRE(jd_post_stripe(&d, body, &h) == 0 && h.status == 200, "webhook accepted: %ld",
               h.status);
    jd_http_free(&h);
    free(body);
    long long lag = -1;
    for (int i = 0; i < 100 && lag < 2; i++) {
        lag = status_field(&d, "queue.lag_seconds");
        if (lag < 2)
            jd_sleep_ms(100);
    }
    JD_EXPECT(lag >= 2 && lag < 60, "the waiting webhook's lag grows: %lld", lag);
    JD_EXPECT(status_field(&d, "queue.length") == 1, "one webhook waits");
    jd_daemon_stop(&d);

    /* With a worker the same webhook is applied and the lag is 0 again. */
    struct jd_daemon w;
    jd_daemon_config(&w, redis.port, NULL);
    jd_daemon_start(&w, 1);
    jd_wait_drained(&w, 30);
    JD_EXPECT(status_field(&w, "queue.lag_seconds") == 0, "a drained queue has no lag");
    jd_daemon_stop(&w);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
