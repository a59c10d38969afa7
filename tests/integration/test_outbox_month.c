/*
 * A month through the outbox (issue 14's closing test): every destination type at once —
 * a Standard Webhooks receiver, Meta's Conversions API, Google's token and Data Manager
 * ingest endpoints — fake, on loopback, while 80 contacts live a month of funnel.
 *
 * The month is built here, so what must go out is known by construction, not read back
 * from journeyd: contact i came by a Meta lead ad (lead id and fbclid), a Google click
 * (gclid), a Meta click (fbclid) or nothing (i % 4); went as far as lead, qualified,
 * opportunity, won and paid, or lead and paid at once (i % 5); paid contacts partly
 * refunded when i % 3 == 0; refused advertising consent when i % 7 == 3; and lived either
 * 12–26 days ago or in the last 5 days (i < 40 or not: Meta takes events up to 7 days old
 * only). The rules the expected counts follow are the documented ones
 * (docs/configuration.md "Destinations", docs/providers/meta_capi.md and
 * google_data_manager.md):
 *   webhook  lead.created once per contact, contact.stage_changed once per event that
 *            raises the stage, contact.paid once per payment;
 *   Meta     per Meta-lead contact, one CRM event per stage it reached among lead,
 *            qualified, opportunity and won (a later stage passes the earlier ones: won
 *            after qualified reaches opportunity too, a payment reaches all four);
 *            a Purchase per payment of a contact with an fbclid; none for a refused
 *            contact or an event older than 7 days;
 *   Google   per payment of a contact with a gclid one conversion, and a refund restates
 *            it (same transactionId, new value); none for a refused contact.
 * The receivers misbehave on the way: the webhook one answers 503 three times and 429 with
 * Retry-After, Meta answers 500 once, and journeyd is SIGKILLed mid-month while requests
 * are in flight. Each destination's dedup key (webhook-id, event_id, transactionId with
 * its value) must be answered 200 for exactly the expected set: nothing missing, nothing
 * extra, by destination and event.
 */
#include "fake_api.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define N 80
#define PIXEL "1234567890"
#define GOOGLE_TOKEN "ya29.fake-access-token-month"
#define MAX_KEYS 1024

static struct jd_daemon daemon_;
static struct fake_api *fake;
static struct jd_redis redis;
static int r_hook, r_meta, r_token, r_ingest;

enum { VIA_META_LEAD, VIA_GCLID, VIA_FBCLID, VIA_NONE };

static int via(int i)
{
    return i % 4;
}
static int path(int i)
{
    return i % 5;
}
static int pays(int i)
{
    return path(i) >= 3;
}
static int refunds(int i)
{
    return pays(i) && i % 3 == 0;
}
static int refused(int i)
{
    return i % 7 == 3;
}
static int recent(int i)
{
    return i >= N / 2;
}

/* What must arrive, counted from the construction above. */
struct want {
    int lead_created, stage_changed, paid;       /* webhook */
    int meta_lead, meta_mql, meta_opp, meta_won; /* Meta CRM events by stage */
    int meta_purchase;
    int google_conversions, google_restated;
};

static struct want expected(void)
{
    struct want w = {0};
    for (int i = 0; i < N; i++) {
        int p = path(i);
        w.lead_created++;
        /* lead; lead qualified; lead qualified opportunity; lead qualified won paid; lead paid */
        static const int rises[] = {1, 2, 3, 4, 2};
        w.stage_changed += rises[p];
        w.paid += pays(i);
        int ads = !refused(i);
        if (ads && recent(i) && via(i) == VIA_META_LEAD) {
            w.meta_lead++;
            /* Paying reaches paid, which passes every stage before it: the contact that
             * went from lead straight to paid (path 4) has reached all four too. */
            w.meta_mql += p >= 1;
            w.meta_opp += p >= 2;
            w.meta_won += p >= 3;
        }
        if (ads && recent(i) && pays(i) && (via(i) == VIA_META_LEAD || via(i) == VIA_FBCLID))
            w.meta_purchase++;
        if (ads && pays(i) && via(i) == VIA_GCLID) {
            w.google_conversions++;
            w.google_restated += refunds(i);
        }
    }
    return w;
}

/* Contact i's whole life, in journey order, as one POST /v1/events. */
static void post_contact(int i)
{
    int64_t start = jd_now_s() - (recent(i) ? 5 * 86400 - i * 600 : (26 - i % 15) * 86400);
    char email[64], ids[512], attrs[128], body[8192], t[6][32];
    for (int k = 0; k < 6; k++)
        jd_rfc3339(start + k * 3600, t[k], sizeof t[k]);
    snprintf(email, sizeof email, "month.%02d@example.com", i);
    int n = snprintf(ids, sizeof ids, "{\"type\":\"email\",\"value\":\"%s\"}", email);
    char *more = ids + n;
    size_t room = sizeof ids - (size_t)n;
    if (via(i) == VIA_META_LEAD)
        snprintf(more, room,
                 ",{\"type\":\"meta_lead\",\"value\":\"1202%014d\"},"
                 "{\"type\":\"fbclid\",\"value\":\"IwARmonth%02d\"}",
                 i, i);
    else if (via(i) == VIA_GCLID)
        snprintf(more, room, ",{\"type\":\"gclid\",\"value\":\"Cj0KCQmonth%02d\"}", i);
    else if (via(i) == VIA_FBCLID)
        snprintf(more, room, ",{\"type\":\"fbclid\",\"value\":\"IwARmonth%02d\"}", i);
    snprintf(attrs, sizeof attrs, "{\"name\":\"Month %02d\",\"consent_ads\":\"%s\"}", i,
             refused(i) ? "no" : "yes");
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"events\":[{\"id\":\"m%02d-lead\",\"kind\":\"lead\",\"stage\":\"lead\","
                  "\"at\":\"%s\",\"identities\":[%s],\"attributes\":%s}",
                  i, t[0], ids, attrs);
    const char *one = "{\"type\":\"email\",\"value\":\"";
    int p = path(i);
    if (p >= 1 && p <= 3)
        jd_buf_printf(&b,
                      ",{\"id\":\"m%02d-q\",\"kind\":\"stage_change\",\"stage\":\"qualified\","
                      "\"at\":\"%s\",\"identities\":[%s%s\"}]}",
                      i, t[1], one, email);
    if (p == 2)
        jd_buf_printf(&b,
                      ",{\"id\":\"m%02d-m\",\"kind\":\"meeting\",\"stage\":\"opportunity\","
                      "\"at\":\"%s\",\"identities\":[%s%s\"}]}",
                      i, t[2], one, email);
    if (p == 3)
        jd_buf_printf(&b,
                      ",{\"id\":\"m%02d-w\",\"kind\":\"deal_won\",\"stage\":\"won\","
                      "\"at\":\"%s\",\"identities\":[%s%s\"}]}",
                      i, t[3], one, email);
    if (pays(i))
        jd_buf_printf(&b,
                      ",{\"id\":\"m%02d-pay\",\"kind\":\"payment\",\"at\":\"%s\","
                      "\"payment_key\":\"ord_m%02d\",\"amount\":{\"minor\":%d,\"currency\":"
                      "\"EUR\"},\"identities\":[%s%s\"}]}",
                      i, t[4], i, 10000 + i * 100, one, email);
    if (refunds(i))
        jd_buf_printf(&b,
                      ",{\"id\":\"m%02d-ref\",\"kind\":\"refund\",\"at\":\"%s\","
                      "\"payment_key\":\"ord_m%02d\",\"amount\":{\"minor\":1000,\"currency\":"
                      "\"EUR\"},\"identities\":[%s%s\"}]}",
                      i, t[5], i, one, email);
    jd_buf_printf(&b, "]}");
    snprintf(body, sizeof body, "%s", b.p);
    jd_buf_free(&b);
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events (contact %d): %ld %s", i, h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

/* The distinct dedup keys answered 200, with a label each (the event's type or name). */
struct keys {
    char key[MAX_KEYS][160];
    char label[MAX_KEYS][64];
    size_t n;
};

static void add_key(struct keys *k, const char *key, const char *label)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->key[i], key) == 0)
            return;
    JD_REQUIRE(k->n < MAX_KEYS, "more than %d keys", MAX_KEYS);
    snprintf(k->key[k->n], sizeof k->key[k->n], "%s", key);
    snprintf(k->label[k->n], sizeof k->label[k->n], "%s", label);
    k->n++;
}

static int count_label(const struct keys *k, const char *label)
{
    int c = 0;
    for (size_t i = 0; i < k->n; i++)
        c += strcmp(k->label[i], label) == 0;
    return c;
}

static struct keys hook, meta, google;

#define EXPECT_COUNT(got, want)                                                                    \
    JD_EXPECT((got) == (want), "%s: %d, want %d", #got, (int)(got), (int)(want))

/* Reads every request answered 200 so far into the three key sets. */
static void collect(void)
{
    static struct fake_request r;
    hook.n = meta.n = google.n = 0;
    size_t total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total; i++) {
        if (fake_api_request(fake, i, &r) != 0 || r.status != 200)
            continue;
        cJSON *b = cJSON_Parse(r.body);
        const cJSON *e;
        if (r.route == r_hook) {
            char id[128] = "";
            fake_request_header(&r, "webhook-id", id, sizeof id);
            const char *type = jd_json_str(b, "type");
            add_key(&hook, id, type ? type : "?");
        } else if (r.route == r_meta) {
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(b, "data"))
            {
                const char *id = jd_json_str(e, "event_id"), *name = jd_json_str(e, "event_name");
                add_key(&meta, id ? id : "?", name ? name : "?");
            }
        } else if (r.route == r_ingest) {
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(b, "events"))
            {
                const char *tid = jd_json_str(e, "transactionId");
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "conversionValue");
                char key[160];
                snprintf(key, sizeof key, "%s@%.2f", tid ? tid : "?",
                         cJSON_IsNumber(v) ? v->valuedouble : -1.0);
                /* A restatement carries the value left after the refund (ends in .00 less
                 * 10 EUR than the payment: the payments are 100 + i EUR). */
                int restated = tid && cJSON_IsNumber(v) && v->valuedouble < 100.0 + atoi(tid + 5);
                add_key(&google, key, restated ? "restated" : "conversion");
            }
        }
        cJSON_Delete(b);
    }
}

static long long outbox_len(void)
{
    redisContext *rc = jd_redis_connect(&redis);
    long long n = jd_redis_int(rc, "XLEN jd:out");
    redisFree(rc);
    return n;
}

/* Until every expected key has arrived and jd:out is empty, or timeout_s. */
static void wait_month(const struct want *w, int timeout_s)
{
    int64_t end = jd_mono_ms() + (int64_t)timeout_s * 1000;
    int total = w->lead_created + w->stage_changed + w->paid;
    int ads = w->meta_lead + w->meta_mql + w->meta_opp + w->meta_won + w->meta_purchase;
    while (jd_mono_ms() < end) {
        collect();
        if ((int)hook.n >= total && (int)meta.n >= ads &&
            (int)google.n >= w->google_conversions + w->google_restated && outbox_len() == 0)
            return;
        jd_sleep_ms(250);
    }
}

int main(void)
{
    jd_setup("test_outbox_month", 600, 1);
    fake = fake_api_start();
    r_hook = fake_api_route(fake, "POST", "/hook", FAKE_EXACT);
    r_meta = fake_api_route(fake, "POST", "/meta/" PIXEL "/events", FAKE_EXACT);
    r_token = fake_api_route(fake, "POST", "/token", FAKE_EXACT);
    r_ingest = fake_api_route(fake, "POST", "/google/events:ingest", FAKE_EXACT);
    for (int k = 0; k < 3; k++)
        fake_api_reply(fake, r_hook, 503, NULL, "{}", 0);
    fake_api_reply(fake, r_hook, 429, "Retry-After: 1\r\n", "{}", 0);
    fake_api_reply(fake, r_hook, 200, NULL, "{}", 40); /* slow enough to be in flight */
    fake_api_reply(fake, r_meta, 500, NULL, "{\"error\":{\"message\":\"try again\"}}", 0);
    fake_api_reply(fake, r_meta, 200, NULL, "{\"events_received\":1}", 40);
    fake_api_reply(fake, r_token, 200, NULL,
                   "{\"access_token\":\"" GOOGLE_TOKEN "\",\"expires_in\":3599,"
                   "\"token_type\":\"Bearer\"}",
                   0);
    fake_api_reply(fake, r_ingest, 200, NULL, "{\"requestId\":\"req-month\"}", 40);
    jd_redis_start(&redis, NULL, 0);
    char sa[512], extra[4096];
    snprintf(sa, sizeof sa, "%s/google-sa.json", jd_tmpdir());
    jd_write_service_account(sa);
    const char *base = fake_api_base(fake);
    snprintf(extra, sizeof extra,
             "outbound_backoff = 100ms\nconsent_field = consent_ads\n"
             "\n[destination crm-hook]\ntype = webhook\nurl = %s/hook\n"
             "secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nallow_private = yes\n"
             "events = lead.created, contact.stage_changed, contact.paid\n"
             "\n[destination meta]\ntype = meta_capi\npixel_id = " PIXEL "\n"
             "access_token = EAAtestMetaAccessTokenMonth0123\napi_base = %s/meta\n"
             "allow_private = yes\n"
             "\n[destination google]\ntype = google_data_manager\ncustomer_id = 123-456-7890\n"
             "conversion_action = 987654321\nservice_account_file = %s\ntoken_url = %s/token\n"
             "api_base = %s/google\nallow_private = yes\n",
             base, base, sa, base, base);
    jd_daemon_config(&daemon_, redis.port, extra);
    jd_daemon_start(&daemon_, 1);

    struct want w = expected();
    /* Half the month, then a SIGKILL while deliveries are in flight, then the rest. */
    for (int i = 0; i < N / 2; i++)
        post_contact(i);
    int64_t end = jd_mono_ms() + 30000;
    while (jd_mono_ms() < end && fake_api_hits(fake, r_hook) < 20)
        jd_sleep_ms(20);
    JD_EXPECT(fake_api_hits(fake, r_hook) >= 20, "the webhook receiver got %zu requests",
              fake_api_hits(fake, r_hook));
    jd_daemon_signal(&daemon_, SIGKILL);
    (void)jd_daemon_wait_exit(&daemon_, 10);
    jd_daemon_start(&daemon_, 1);
    for (int i = N / 2; i < N; i++)
        post_contact(i);
    wait_month(&w, 240);
    collect();

    jd_note("expected: webhook %d lead.created, %d stage_changed, %d paid; Meta %d Lead, %d "
            "MQL, %d Opportunity, %d Converted, %d Purchase; Google %d conversions, %d "
            "restated",
            w.lead_created, w.stage_changed, w.paid, w.meta_lead, w.meta_mql, w.meta_opp,
            w.meta_won, w.meta_purchase, w.google_conversions, w.google_restated);
    EXPECT_COUNT(count_label(&hook, "lead.created"), w.lead_created);
    EXPECT_COUNT(count_label(&hook, "contact.stage_changed"), w.stage_changed);
    EXPECT_COUNT(count_label(&hook, "contact.paid"), w.paid);
    EXPECT_COUNT((int)hook.n, w.lead_created + w.stage_changed + w.paid);
    EXPECT_COUNT(count_label(&meta, "Lead"), w.meta_lead);
    EXPECT_COUNT(count_label(&meta, "Marketing Qualified Lead"), w.meta_mql);
    EXPECT_COUNT(count_label(&meta, "Sales Opportunity"), w.meta_opp);
    EXPECT_COUNT(count_label(&meta, "Converted"), w.meta_won);
    EXPECT_COUNT(count_label(&meta, "Purchase"), w.meta_purchase);
    EXPECT_COUNT((int)meta.n, w.meta_lead + w.meta_mql + w.meta_opp + w.meta_won + w.meta_purchase);
    EXPECT_COUNT(count_label(&google, "conversion"), w.google_conversions);
    EXPECT_COUNT(count_label(&google, "restated"), w.google_restated);
    EXPECT_COUNT((int)google.n, w.google_conversions + w.google_restated);
    JD_EXPECT(outbox_len() == 0, "jd:out still holds %lld messages", outbox_len());
    /* A request that went out twice (the SIGKILL, the 5xx) carries its dedup key again:
     * the receivers above count it once, the platforms dedup on it. How many there were: */
    jd_note("requests answered 200: webhook %zu for %zu ids, Meta %zu, Google %zu; token "
            "fetched %zu times",
            fake_api_hits(fake, r_hook), hook.n, fake_api_hits(fake, r_meta),
            fake_api_hits(fake, r_ingest), fake_api_hits(fake, r_token));

    jd_daemon_stop(&daemon_);
    fake_api_stop(fake);
    return jd_finish();
}
