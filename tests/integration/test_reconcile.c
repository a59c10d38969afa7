/*
 * Reconciliation (issue 15 item 3): a Stripe source with `reconcile = 2s` reads a fake
 * Stripe API on loopback. Of six payments, one arrives as a webhook; the other five were
 * never delivered. After the first walk all six are in their journeys exactly once, and
 * journeyd_reconciled_total{source="stripe"} counts the five that were new (the sixth,
 * fetched too, changed nothing). The webhooks of the five then arrive late: still exactly
 * once, nothing more counted. Also checked: the walk's requests (delivery_success=false on
 * the first walk, the subscribed types, the page cursor, the token), the "source went
 * silent" log line and gauge, the "signatures failing" log line and gauge, and that a
 * config asking reconcile of a type without a list API is refused.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_TOKEN "sk_test_reconcile_0123456789"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static char prefix[32];

static long long metric_src(const char *name)
{
    char series[128];
    snprintf(series, sizeof series, "%s{source=\"stripe\"}", name);
    return jd_metric(&daemon_, series);
}

static void wait_hits(int route, size_t n, int timeout_s)
{
    int64_t end = jd_mono_ms() + timeout_s * 1000;
    while (fake_api_hits(fake, route) < n && jd_mono_ms() < end)
        jd_sleep_ms(100);
    JD_REQUIRE(fake_api_hits(fake, route) >= n, "the list API got %zu requests, want %zu",
               fake_api_hits(fake, route), n);
}

static void post_stripe(int i, const char *secret, long want)
{
    char *body = jd_stripe_checkout_body(prefix, i);
    char sig[256];
    jd_stripe_sig_header(sig, sizeof sig, secret, jd_now_s(), body, strlen(body));
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "stripe", hdrs, body, &h);
    JD_EXPECT(h.status == want, "webhook %d: want %ld, got %ld", i, want, h.status);
    jd_http_free(&h);
    free(body);
}

static void expect_log(const char *needle, int want)
{
    char *log = jd_slurp(daemon_.log);
    int found = log && strstr(log, needle) != NULL;
    JD_EXPECT(found == want, "the log %s \"%s\"", want ? "lacks" : "holds", needle);
    free(log);
}

static void check_refused_config(void)
{
    char path[JD_PATH_MAX], out[2048];
    snprintf(path, sizeof path, "%s/bad-reconcile.conf", jd_tmpdir());
    FILE *f = fopen(path, "w");
    JD_REQUIRE(f, "cannot write %s", path);
    fprintf(f, "[journeyd]\nlisten = 127.0.0.1:1\nredis = 127.0.0.1:1\napi_tokens = " JD_TOKEN
               "\n\n[source site]\ntype = form\nsecret = " JD_FORM_SECRET "\nreconcile = 10m\n");
    JD_REQUIRE(fclose(f) == 0, "write %s failed", path);
    char *argv[] = {(char *)(uintptr_t)jd_binary(), "--check-config", "-c", path, NULL};
    int st = jd_run_capture(argv, out, sizeof out, 30);
    JD_EXPECT(st != 0 && strstr(out, "'reconcile' is not available for type form"),
              "reconcile on a form source: want a refusal, got status %d: %.300s", st, out);
}

int main(void)
{
    jd_setup("reconcile", 240, 1);
    snprintf(prefix, sizeof prefix, "rc%08" PRIx64, jd_rand() & 0xffffffffu);
    check_refused_config();
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    /* The harness's [source stripe] gains the API keys. */
    jd_daemon_config_stripe(&daemon_, "api_token = " API_TOKEN "\napi_base = %s\nreconcile = 2s\n",
                            fake_api_base(fake));

    /* Page 1 (events 5, 4, 3) comes late, so the webhook of event 5 is applied first. */
    int r_events = fake_api_route(fake, "GET", "/v1/events?", FAKE_PREFIX);
    char *p1 = jd_stripe_events_page(prefix, 5, 3, 1), *p2 = jd_stripe_events_page(prefix, 2, 0, 0);
    fake_api_reply(fake, r_events, 200, NULL, p1, 3000);
    fake_api_reply(fake, r_events, 200, NULL, p2, 0);
    fake_api_reply(fake, r_events, 200, NULL,
                   "{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":false,\"data\":[]}",
                   0);
    free(p1);
    free(p2);

    jd_daemon_start(&daemon_, 1);
    post_stripe(5, JD_STRIPE_SECRET, 200);
    jd_wait_drained(&daemon_, 30);

    /* ---- after one walk: all six, exactly once; five counted as recovered ---- */
    wait_hits(r_events, 2, 30);
    int64_t end = jd_mono_ms() + 30000;
    while (metric_src("journeyd_reconciled_total") < 5 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(metric_src("journeyd_reconciled_total") == 5,
              "journeyd_reconciled_total{source=\"stripe\"}: want 5, got %lld",
              metric_src("journeyd_reconciled_total"));
    JD_EXPECT(metric_src("journeyd_reconcile_fetched_total") >= 6,
              "journeyd_reconcile_fetched_total: want >= 6, got %lld",
              metric_src("journeyd_reconcile_fetched_total"));
    jd_check_checkout_journeys(&daemon_, prefix, 6, NULL);

    /* ---- what was asked ---- */
    struct fake_request rq;
    char auth[256], want[128];
    JD_REQUIRE(fake_api_request(fake, 0, &rq) == 0, "no first request recorded");
    JD_EXPECT(strstr(rq.target, "delivery_success=false") &&
                  strstr(rq.target, "types%5B%5D=checkout.session.completed") &&
                  strstr(rq.target, "types%5B%5D=charge.refunded") &&
                  strstr(rq.target, "created%5Bgte%5D=") && !strstr(rq.target, "starting_after"),
              "first walk: unexpected request %s", rq.target);
    JD_EXPECT(fake_request_header(&rq, "Authorization", auth, sizeof auth) &&
                  strcmp(auth, "Bearer " API_TOKEN) == 0,
              "the list request carried Authorization \"%s\"", auth);
    JD_REQUIRE(fake_api_request(fake, 1, &rq) == 0, "no second request recorded");
    snprintf(want, sizeof want, "starting_after=evt_%s_00003", prefix);
    JD_EXPECT(strstr(rq.target, want) != NULL, "page 2 of the walk: want %s in %s", want,
              rq.target);

    /* ---- the next walk: recent events only, and the source named as silent ---- */
    wait_hits(r_events, 3, 30);
    JD_REQUIRE(fake_api_request(fake, 2, &rq) == 0, "no third request recorded");
    JD_EXPECT(!strstr(rq.target, "delivery_success") && !strstr(rq.target, "starting_after"),
              "the second walk: unexpected request %s", rq.target);
    jd_sleep_ms(200);
    JD_EXPECT(metric_src("journeyd_source_silent") == 1,
              "journeyd_source_silent{source=\"stripe\"}: want 1, got %lld",
              metric_src("journeyd_source_silent"));
    expect_log("webhooks missed events", 1);

    /* ---- the late webhooks change nothing ---- */
    long long dups = jd_metric(&daemon_, "journeyd_duplicates_skipped_total");
    for (int i = 0; i < 5; i++)
        post_stripe(i, JD_STRIPE_SECRET, 200);
    jd_wait_drained(&daemon_, 30);
    jd_check_checkout_journeys(&daemon_, prefix, 6, NULL);
    JD_EXPECT(metric_src("journeyd_reconciled_total") == 5,
              "after the late webhooks: journeyd_reconciled_total want 5, got %lld",
              metric_src("journeyd_reconciled_total"));
    JD_EXPECT(jd_metric(&daemon_, "journeyd_duplicates_skipped_total") == dups + 5,
              "the late webhooks: want 5 more duplicates, got %lld",
              jd_metric(&daemon_, "journeyd_duplicates_skipped_total") - dups);

    /* ---- a walk that recovers nothing clears the signal ---- */
    size_t seen = fake_api_hits(fake, r_events);
    wait_hits(r_events, seen + 2, 30);
    JD_EXPECT(metric_src("journeyd_source_silent") == 0,
              "after a walk with nothing new: journeyd_source_silent want 0, got %lld",
              metric_src("journeyd_source_silent"));
    expect_log("webhooks deliver again", 1);

    /* ---- signatures failing: named in the log and in /metrics, cleared by a good one ---- */
    expect_log("signatures failing", 0);
    for (int i = 0; i < 5; i++)
        post_stripe(i, "whsec_rotated_but_not_here", 401);
    JD_EXPECT(metric_src("journeyd_source_signature_failures") == 5,
              "journeyd_source_signature_failures: want 5, got %lld",
              metric_src("journeyd_source_signature_failures"));
    expect_log("signatures failing", 1);
    post_stripe(0, JD_STRIPE_SECRET, 200);
    JD_EXPECT(metric_src("journeyd_source_signature_failures") == 0,
              "after an accepted webhook: journeyd_source_signature_failures want 0, got %lld",
              metric_src("journeyd_source_signature_failures"));
    expect_log("signatures accepted again", 1);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
