/*
 * Reconciliation of a Shopify shop: a shopify source with `reconcile = 2s` lists orders on
 * a fake Admin API on loopback (since_id paging, the access token header). A paid order
 * whose webhooks never came, and one of its refunds, are in the buyer's journey after the
 * walk, each once: the payment and the refund (the topic travels with each fetched
 * record, as ingest keeps it for a webhook); a pending order is not queued.
 * journeyd_reconciled_total{source="shop"} is 2; a page shorter than 250 ends the walk, so
 * the next walk starts again at since_id=0.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOP_SECRET "shopify_test_client_secret"
#define SHOP_TOKEN "shpat_test_0123456789abcdef"

static struct jd_daemon daemon_;
static struct fake_api *fake;

int main(void)
{
    jd_setup("reconcile_shopify", 240, 1);
    char email[96], order[32], pending[32], refund[32];
    uint64_t r = jd_rand_below(1000000000);
    snprintf(email, sizeof email, "buyer%" PRIu64 "@example.com", r);
    snprintf(order, sizeof order, "%" PRIu64, (uint64_t)820982911946154508ULL + r * 2);
    snprintf(pending, sizeof pending, "%" PRIu64, (uint64_t)820982911946154509ULL + r * 2);
    snprintf(refund, sizeof refund, "%" PRIu64, (uint64_t)509562969 + r);
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[source shop]\ntype = shopify\nsecret = " SHOP_SECRET
                            "\napi_token = " SHOP_TOKEN "\napi_base = %s\nreconcile = 2s\n",
                            fake_api_base(fake));

    int r_orders = fake_api_route(fake, "GET", "/admin/api/", FAKE_PREFIX);
    char body[4096];
    snprintf(body, sizeof body,
             "{\"orders\":[{\"id\":%s,\"financial_status\":\"partially_refunded\",\"email\":\"%s\","
             "\"total_price\":\"199.00\",\"currency\":\"EUR\",\"processed_at\":"
             "\"2026-10-01T10:00:00Z\",\"refunds\":[{\"id\":%s,\"created_at\":"
             "\"2026-10-02T10:00:00Z\",\"transactions\":[{\"kind\":\"refund\",\"status\":"
             "\"success\",\"amount\":\"10.00\",\"currency\":\"EUR\"}]}]},"
             "{\"id\":%s,\"financial_status\":\"pending\",\"email\":\"%s\",\"total_price\":"
             "\"5.00\",\"currency\":\"EUR\"}]}",
             order, email, refund, pending, email);
    fake_api_reply(fake, r_orders, 200, NULL, body, 0);
    fake_api_reply(fake, r_orders, 200, NULL, "{\"orders\":[]}", 0);

    jd_daemon_start(&daemon_, 1);
    const char *series = "journeyd_reconciled_total{source=\"shop\"}";
    int64_t end = jd_mono_ms() + 30000;
    while (jd_metric(&daemon_, series) < 2 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    end = jd_mono_ms() + 30000;
    while (fake_api_hits(fake, r_orders) < 2 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(jd_metric(&daemon_, series) == 2, "%s: want 2, got %lld", series,
              jd_metric(&daemon_, series));

    long st;
    cJSON *j = jd_journey(&daemon_, "email", email, &st);
    char id[96];
    snprintf(id, sizeof id, "shopify:orders/paid:%s", order);
    JD_EXPECT(j && jd_count_event(j, id) == 1, "the order %s: want once in the journey (%ld)", id,
              st);
    snprintf(id, sizeof id, "shopify:refunds/create:%s", refund);
    JD_EXPECT(j && jd_count_event(j, id) == 1, "the refund %s: want once in the journey", id);
    snprintf(id, sizeof id, "shopify:orders/paid:%s", pending);
    JD_EXPECT(j && jd_count_event(j, id) == 0, "the pending order %s is in the journey", id);
    cJSON_Delete(j);

    struct fake_request rq;
    char token[128], want[64];
    JD_REQUIRE(fake_api_request(fake, 0, &rq) == 0, "no request recorded");
    JD_EXPECT(strstr(rq.target, "/orders.json?status=any&limit=250&updated_at_min=") &&
                  strstr(rq.target, "&since_id=0"),
              "the first request: %s", rq.target);
    JD_EXPECT(fake_request_header(&rq, "X-Shopify-Access-Token", token, sizeof token) &&
                  strcmp(token, SHOP_TOKEN) == 0,
              "the access token was not sent");
    JD_REQUIRE(fake_api_request(fake, 1, &rq) == 0, "no second request recorded");
    snprintf(want, sizeof want, "&since_id=0");
    JD_EXPECT(strstr(rq.target, want) != NULL,
              "a fresh walk starts again at since_id=0 (the first page was short): %s", rq.target);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
