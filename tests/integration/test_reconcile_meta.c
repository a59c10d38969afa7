/*
 * Reconciliation of Meta lead forms: a meta_leads source with `forms` (two lead forms) and
 * `reconcile = 2s` lists each form's leads on a fake Graph API on loopback, page by page
 * (the Graph paging cursor), one form after the other. Of four leads, one arrives as a
 * webhook first; the other three were never delivered. After the walk all four are in
 * their journeys exactly once, each looked up like a webhook's lead (email from the
 * lead's field_data), journeyd_reconciled_total{source="meta"} is 3, and a late webhook
 * of one of them changes nothing.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_SECRET "meta_test_app_secret"
#define META_VERIFY "meatyhamhock"
#define META_TOKEN "meta-token-0123456789abcdef"
#define FORM_A "1234567890"
#define FORM_B "1234567891"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static char leads[4][32];

static void post_meta_webhook(int i, const char *form)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"object\":\"page\",\"entry\":[{\"id\":\"153125381133\",\"time\":%" PRId64
             ",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":%s,"
             "\"page_id\":153125381133,\"form_id\":%s,\"created_time\":%" PRId64 "}}]}]}",
             jd_now_s(), leads[i], form, jd_now_s() - 3600 + i);
    struct jd_http h;
    jd_post_meta(&daemon_, "meta", META_SECRET, body, &h);
    JD_EXPECT(h.status == 200, "Meta webhook of lead %d: want 200, got %ld", i, h.status);
    jd_http_free(&h);
}

static long long reconciled(void)
{
    return jd_metric(&daemon_, "journeyd_reconciled_total{source=\"meta\"}");
}

static void check_journeys(void)
{
    for (int i = 0; i < 4; i++) {
        char email[192], id[192];
        snprintf(email, sizeof email, "lead%d.%s@example.com", i, leads[0]);
        snprintf(id, sizeof id, "meta_leads:%s", leads[i]);
        long st;
        cJSON *j = jd_journey(&daemon_, "email", email, &st);
        int n = j ? jd_count_event(j, id) : 0;
        JD_EXPECT(n == 1, "lead %d (%s) is %d times in the journey of %s (status %ld)", i, id, n,
                  email, st);
        cJSON_Delete(j);
    }
}

static void list_lead(struct jd_buf *b, int i, int first)
{
    char iso[32];
    jd_rfc3339(jd_now_s() - 3600 + i, iso, sizeof iso);
    jd_buf_printf(b, "%s{\"id\":\"%s\",\"created_time\":\"%.19s+0000\",\"form_id\":\"%s\"}",
                  first ? "" : ",", leads[i], iso, i < 3 ? FORM_A : FORM_B);
}

int main(void)
{
    jd_setup("reconcile_meta", 240, 1);
    for (int i = 0; i < 4; i++)
        snprintf(leads[i], sizeof leads[i], "%" PRIu64,
                 (uint64_t)9007199254740993ULL + jd_rand_below(1000000000) * 4 + (uint64_t)i);
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[source meta]\ntype = meta_leads\nsecret = " META_SECRET
                            "\nverify_token = " META_VERIFY "\napi_token = " META_TOKEN
                            "\napi_base = %s/v19.0\n"
                            "forms = " FORM_A ", " FORM_B "\nreconcile = 2s\n",
                            fake_api_base(fake));

    /* The lead look-ups, as for a webhook. */
    char path[256], body[2048];
    for (int i = 0; i < 4; i++) {
        char iso[32];
        jd_rfc3339(jd_now_s() - 3600 + i, iso, sizeof iso);
        snprintf(path, sizeof path, "/v19.0/%s?", leads[i]);
        int r = fake_api_route(fake, "GET", path, FAKE_PREFIX);
        snprintf(body, sizeof body,
                 "{\"created_time\":\"%.19s+0000\",\"id\":\"%s\",\"ad_id\":\"120210000000000001\","
                 "\"campaign_name\":\"Autunno\",\"form_id\":\"%s\",\"is_organic\":false,"
                 "\"field_data\":[{\"name\":\"email\",\"values\":[\"lead%d.%s@example.com\"]}]}",
                 iso, leads[i], i < 3 ? FORM_A : FORM_B, i, leads[0]);
        fake_api_reply(fake, r, 200, NULL, body, 0);
    }
    /* Form A: leads 0, 1 on page 1 (late, so lead 0's webhook is applied first), lead 2 on
     * page 2; form B: lead 3. Then nothing new. */
    int r_a = fake_api_route(fake, "GET", "/v19.0/" FORM_A "/leads?", FAKE_PREFIX);
    int r_b = fake_api_route(fake, "GET", "/v19.0/" FORM_B "/leads?", FAKE_PREFIX);
    struct jd_buf b = {0};
    jd_buf_printf(&b, "{\"data\":[");
    list_lead(&b, 1, 1);
    list_lead(&b, 0, 0);
    jd_buf_printf(&b, "],\"paging\":{\"cursors\":{\"before\":\"QVFIa\",\"after\":\"QVFI+b/c=\"},"
                      "\"next\":\"https://graph.facebook.com/v19.0/" FORM_A "/leads?after=x\"}}");
    fake_api_reply(fake, r_a, 200, NULL, b.p, 3000);
    jd_buf_free(&b);
    jd_buf_printf(&b, "{\"data\":[");
    list_lead(&b, 2, 1);
    jd_buf_printf(&b, "],\"paging\":{\"cursors\":{\"before\":\"QVFId\",\"after\":\"QVFIe\"}}}");
    fake_api_reply(fake, r_a, 200, NULL, b.p, 0);
    jd_buf_free(&b);
    const char *empty = "{\"data\":[]}";
    fake_api_reply(fake, r_a, 200, NULL, empty, 0);
    jd_buf_printf(&b, "{\"data\":[");
    list_lead(&b, 3, 1);
    jd_buf_printf(&b, "]}");
    fake_api_reply(fake, r_b, 200, NULL, b.p, 0);
    fake_api_reply(fake, r_b, 200, NULL, empty, 0);
    jd_buf_free(&b);

    jd_daemon_start(&daemon_, 1);
    post_meta_webhook(0, FORM_A);
    jd_wait_drained(&daemon_, 30);

    int64_t end = jd_mono_ms() + 30000;
    while (reconciled() < 3 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(reconciled() == 3, "journeyd_reconciled_total{source=\"meta\"}: want 3, got %lld",
              reconciled());
    check_journeys();

    /* Page 2 of form A carried the Graph cursor; form B came after form A. */
    size_t n = fake_api_nrequests(fake);
    int saw_cursor = 0, a_done_at = -1, b_first = -1;
    for (size_t i = 0; i < n; i++) {
        struct fake_request rq;
        if (fake_api_request(fake, i, &rq) != 0)
            continue;
        if (rq.route == r_a && strstr(rq.target, "&after=QVFI%2Bb%2Fc%3D")) {
            saw_cursor = 1;
            if (a_done_at < 0)
                a_done_at = (int)i;
        }
        if (rq.route == r_b && b_first < 0)
            b_first = (int)i;
    }
    JD_EXPECT(saw_cursor, "no request for page 2 of form A with the paging cursor");
    JD_EXPECT(b_first > a_done_at && a_done_at >= 0,
              "form B was read at request %d, form A's last page at %d", b_first, a_done_at);

    /* A late webhook changes nothing. */
    post_meta_webhook(2, FORM_A);
    jd_wait_drained(&daemon_, 30);
    check_journeys();
    JD_EXPECT(reconciled() == 3, "after a late webhook: journeyd_reconciled_total want 3, got %lld",
              reconciled());

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
