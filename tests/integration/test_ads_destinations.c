/*
 * The ad-platform destinations through the outbox (issue 14 items 2–4): `meta_capi` and
 * `google_data_manager` against a fake Meta Graph endpoint, a fake Google token endpoint
 * and a fake Data Manager ingest endpoint on loopback (api_base / token_url pointed at
 * them, allow_private = yes):
 *
 *   1. Meta: a lead-ad lead (leadgen id, email, phone, an fbclid) that is qualified, then
 *      won, then pays, all posted in one batch: Meta gets the CRM stages in funnel order
 *      (Lead, Marketing Qualified Lead, Sales Opportunity and Converted: won jumped over
 *      opportunity, sent together, earlier first) and then a Purchase, although the
 *      endpoint takes 300 ms per answer and the destination may send 4 at once; each event
 *      has its event_id, action_source system_generated, event_source crm, the lead id as
 *      a number and the hashed email (SHA-256 of the normalized address, recomputed here);
 *      the Purchase has the exact value, the currency and fbc built from the click's time.
 *   2. Google: two contacts with a gclid pay (one with a numeric order id): one ingest each,
 *      with the transaction id, the hashed email and the click id; then a partial refund of
 *      the first restates its value (what is left) under the same transaction id. The token
 *      endpoint is called once for all three and its token is the bearer of each.
 *   3. Consent: a contact posted with consent_ads = no (a lead-ad lead with a gclid and an
 *      fbclid that pays) is never uploaded: its messages end as skipped, no request body
 *      holds its hash, and the journey says why.
 *   4. SIGKILL during delivery: Meta holds its answer 2 s; journeyd is killed while a request
 *      is in flight and restarted; the event arrives again with the same event_id, and over
 *      the whole test no event_id is answered 200 twice.
 *   4b. A token revoked before its expiry: the ingest answered 401 drops it, and the
 *      retry carries a freshly fetched one.
 *   5. dry_run: the Meta request carries test_event_code, the Google one validateOnly: true,
 *      and both end as dry_run.
 *   Throughout: no request body holds an email address or a phone number in clear.
 */
#include "fake_api.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PIXEL "1234567890"
#define META_TOKEN "EAAtestMetaAccessToken0123456789"
#define GOOGLE_TOKEN "ya29.fake-access-token-0001"
#define LEAD_ID "120212345678901234" /* beyond 2^53: must leave as these digits */
#define FBCLID "IwAR2fbclidTestValue"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static struct jd_redis redis;
static int r_meta, r_token, r_ingest;
static int64_t t0; /* the events' times start here (seconds) */

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void post_events(const char *body)
{
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: %ld %s", h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

static void at(int offset_s, char *out, size_t cap)
{
    jd_rfc3339(t0 + offset_s, out, cap);
}

/* Waits until the route has answered `want` requests 200. */
static size_t wait_ok(int route, size_t want, int timeout_s)
{
    int64_t end = jd_mono_ms() + (int64_t)timeout_s * 1000;
    size_t ok = 0;
    while (jd_mono_ms() < end) {
        ok = 0;
        size_t total = fake_api_nrequests(fake);
        for (size_t i = 0; i < total; i++) {
            struct fake_request r;
            if (fake_api_request(fake, i, &r) == 0 && r.route == route && r.status == 200)
                ok++;
        }
        if (ok >= want)
            break;
        jd_sleep_ms(100);
    }
    return ok;
}

/* Waits until jd:out is empty (every message delivered, skipped or dead). */
static void wait_outbox_empty(int timeout_s)
{
    redisContext *rc = jd_redis_connect(&redis);
    int64_t end = jd_mono_ms() + (int64_t)timeout_s * 1000;
    long long left = -1;
    while (jd_mono_ms() < end && (left = jd_redis_int(rc, "XLEN jd:out")) != 0)
        jd_sleep_ms(100);
    JD_EXPECT(left == 0, "jd:out still holds %lld messages", left);
    redisFree(rc);
}

/* The Meta events answered 200 so far, in arrival order: event_name and event_id. */
struct meta_ev {
    char name[64];
    char id[128];
    char raw[1024]; /* the event as cJSON prints it (numbers through a double) */
    size_t req;     /* the request it came in (its body has the numbers as sent) */
};

/* Whether the body of recorded request i contains text. */
static int body_has(size_t i, const char *text)
{
    static struct fake_request r;
    return fake_api_request(fake, i, &r) == 0 && strstr(r.body, text) != NULL;
}

static size_t meta_events(struct meta_ev *out, size_t cap)
{
    size_t n = 0, total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0 || r.route != r_meta || r.status != 200)
            continue;
        cJSON *b = cJSON_Parse(r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(b, "data"))
        {
            if (n == cap)
                break;
            snprintf(out[n].name, sizeof out[n].name, "%s", jd_json_str(e, "event_name"));
            snprintf(out[n].id, sizeof out[n].id, "%s", jd_json_str(e, "event_id"));
            char *raw = cJSON_PrintUnformatted(e);
            snprintf(out[n].raw, sizeof out[n].raw, "%s", raw ? raw : "");
            free(raw);
            out[n].req = i;
            n++;
        }
        cJSON_Delete(b);
    }
    return n;
}

static void scenario_meta(void)
{
    char a0[32], a1[32], a2[32], a3[32], body[4096];
    at(0, a0, sizeof a0);
    at(60, a1, sizeof a1);
    at(120, a2, sizeof a2);
    at(180, a3, sizeof a3);
    /* 300 ms per answer: four messages at once would arrive in any order. */
    fake_api_clear_replies(fake, r_meta);
    fake_api_reply(fake, r_meta, 200, NULL, "{\"events_received\":1}", 300);
    snprintf(body, sizeof body,
             "{\"events\":["
             "{\"id\":\"ml-1\",\"kind\":\"lead\",\"stage\":\"lead\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"" LEAD_ID "\"},"
             "{\"type\":\"email\",\"value\":\"ana.lead@example.com\"},"
             "{\"type\":\"phone\",\"value\":\"+4915112345678\"},"
             "{\"type\":\"fbclid\",\"value\":\"" FBCLID "\"}],"
             "\"attributes\":{\"name\":\"Ana Lead\",\"consent_ads\":\"yes\"}},"
             "{\"id\":\"ml-2\",\"kind\":\"stage_change\",\"stage\":\"qualified\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"ana.lead@example.com\"}]},"
             "{\"id\":\"ml-3\",\"kind\":\"deal_won\",\"stage\":\"won\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"ana.lead@example.com\"}]},"
             "{\"id\":\"ml-4\",\"kind\":\"payment\",\"at\":\"%s\",\"payment_key\":\"pay_ana_1\","
             "\"amount\":{\"minor\":249000,\"currency\":\"EUR\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"ana.lead@example.com\"}]}]}",
             a0, a1, a2, a3);
    post_events(body);
    JD_EXPECT(wait_ok(r_meta, 4, 90) == 4, "Meta answered %zu requests, want 4",
              wait_ok(r_meta, 4, 1));
    wait_outbox_empty(30);

    struct meta_ev ev[16];
    size_t n = meta_events(ev, 16);
    static const char *const want[] = {"Lead", "Marketing Qualified Lead", "Sales Opportunity",
                                       "Converted", "Purchase"};
    JD_EXPECT(n == 5, "Meta events: %zu, want 5", n);
    for (size_t i = 0; i < n && i < 5; i++)
        JD_EXPECT(strcmp(ev[i].name, want[i]) == 0, "Meta event %zu is %s, want %s", i, ev[i].name,
                  want[i]);
    char em[65], ph[65];
    sha256_hex("ana.lead@example.com", em);
    sha256_hex("4915112345678", ph);
    for (size_t i = 0; i < n; i++) {
        JD_EXPECT(ev[i].id[0] != '\0', "Meta event %zu without event_id", i);
        JD_EXPECT(strstr(ev[i].raw, em) != NULL, "Meta event %zu without the hashed email: %s", i,
                  ev[i].raw);
        JD_EXPECT(strstr(ev[i].raw, ph) != NULL, "Meta event %zu without the hashed phone", i);
        JD_EXPECT(body_has(ev[i].req, "\"lead_id\":" LEAD_ID ","),
                  "Meta event %zu: lead_id not the exact number: %s", i, ev[i].raw);
        JD_EXPECT(strstr(ev[i].raw, "\"action_source\":\"system_generated\"") != NULL,
                  "Meta event %zu: action_source", i);
        if (i < 4)
            JD_EXPECT(strstr(ev[i].raw, "\"event_source\":\"crm\"") != NULL,
                      "Meta CRM event %zu without event_source crm: %s", i, ev[i].raw);
    }
    if (n == 5) {
        JD_EXPECT(strcmp(ev[0].id, "jd." LEAD_ID ".lead") == 0, "Lead event_id %s", ev[0].id);
        JD_EXPECT(strcmp(ev[4].id, "jd.pay.pay_ana_1") == 0, "Purchase event_id %s", ev[4].id);
        JD_EXPECT(body_has(ev[4].req, "\"value\":2490.00,\"currency\":\"EUR\""),
                  "Purchase value or currency: %s", ev[4].raw);
        /* fbc's creation time is when the fbclid was first seen: the lead event. */
        char fbc[128];
        snprintf(fbc, sizeof fbc, "\"fbc\":\"fb.1.%lld000." FBCLID "\"", (long long)t0);
        JD_EXPECT(strstr(ev[4].raw, fbc) != NULL, "Purchase fbc, want %s: %s", fbc, ev[4].raw);
    }
    /* The requests' bearer is the configured token; the URL is the dataset's. */
    struct fake_request r;
    size_t total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total; i++)
        if (fake_api_request(fake, i, &r) == 0 && r.route == r_meta) {
            char auth[128] = "";
            fake_request_header(&r, "Authorization", auth, sizeof auth);
            JD_EXPECT(strcmp(auth, "Bearer " META_TOKEN) == 0, "Meta Authorization: %s", auth);
            JD_EXPECT(strstr(r.body, "test_event_code") == NULL, "a live request has a test code");
            break;
        }
}

/* The ingest requests answered 200, parsed, in arrival order. */
static size_t ingests(cJSON **out, size_t cap)
{
    size_t n = 0, total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total && n < cap; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 && r.route == r_ingest && r.status == 200) {
            char auth[128] = "";
            fake_request_header(&r, "Authorization", auth, sizeof auth);
            JD_EXPECT(strcmp(auth, "Bearer " GOOGLE_TOKEN) == 0, "ingest Authorization: %s", auth);
            out[n++] = cJSON_Parse(r.body);
        }
    }
    return n;
}

static void scenario_google(void)
{
    char a0[32], a1[32], a2[32], body[4096];
    at(10, a0, sizeof a0);
    at(20, a1, sizeof a1);
    at(30, a2, sizeof a2);
    snprintf(body, sizeof body,
             "{\"events\":["
             "{\"id\":\"g1-pay\",\"kind\":\"payment\",\"at\":\"%s\",\"payment_key\":\"ord_g1\","
             "\"amount\":{\"minor\":1999,\"currency\":\"USD\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"gina.buyer@example.com\"},"
             "{\"type\":\"phone\",\"value\":\"+15551234567\"},"
             "{\"type\":\"gclid\",\"value\":\"Cj0KCQgclidOne\"}]},"
             "{\"id\":\"g2-pay\",\"kind\":\"payment\",\"at\":\"%s\",\"payment_key\":\"10042\","
             "\"amount\":{\"minor\":5000,\"currency\":\"USD\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"gus.buyer@example.com\"},"
             "{\"type\":\"gclid\",\"value\":\"Cj0KCQgclidTwo\"}]}]}",
             a0, a1);
    post_events(body);
    JD_EXPECT(wait_ok(r_ingest, 2, 90) == 2, "ingest answered %zu, want 2",
              wait_ok(r_ingest, 2, 1));
    /* A partial refund of the first: its conversion is restated at what is left. */
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"g1-refund\",\"kind\":\"refund\",\"at\":\"%s\","
             "\"payment_key\":\"ord_g1\",\"amount\":{\"minor\":999,\"currency\":\"USD\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"gina.buyer@example.com\"}]}]}",
             a2);
    post_events(body);
    JD_EXPECT(wait_ok(r_ingest, 3, 90) == 3, "ingest answered %zu, want 3",
              wait_ok(r_ingest, 3, 1));
    wait_outbox_empty(30);
    JD_EXPECT(fake_api_hits(fake, r_token) == 1, "token endpoint called %zu times, want 1",
              fake_api_hits(fake, r_token));

    cJSON *b[8] = {0};
    size_t n = ingests(b, 8);
    JD_EXPECT(n == 3, "ingests: %zu, want 3", n);
    char em[65];
    sha256_hex("gina.buyer@example.com", em);
    int pay1 = 0, pay2 = 0, refund = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b[i], "events"), 0);
        const char *tid = jd_json_str(e, "transactionId");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "conversionValue");
        double value = cJSON_IsNumber(v) ? v->valuedouble : -1;
        JD_EXPECT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b[i], "validateOnly")),
                  "live ingest without validateOnly false");
        JD_EXPECT(
            strcmp(jd_json_str(b[i], "encoding") ? jd_json_str(b[i], "encoding") : "", "HEX") == 0,
            "ingest encoding");
        if (tid && strcmp(tid, "ord_g1") == 0 && value > 19.98 && value < 20.0) {
            pay1++;
            const cJSON *uid = jd_json_path(e, "userData.userIdentifiers");
            const char *got = jd_json_str(uid ? uid->child : NULL, "emailAddress");
            JD_EXPECT(got && strcmp(got, em) == 0, "hashed email %s, want %s", got ? got : "-", em);
            const char *gclid =
                jd_json_str(cJSON_GetObjectItemCaseSensitive(e, "adIdentifiers"), "gclid");
            JD_EXPECT(gclid && strcmp(gclid, "Cj0KCQgclidOne") == 0, "gclid %s",
                      gclid ? gclid : "-");
        } else if (tid && strcmp(tid, "ord_g1") == 0 && value > 9.99 && value < 10.01) {
            refund++;
        } else if (tid && strcmp(tid, "order-10042") == 0) {
            pay2++;
        } else {
            JD_EXPECT(0, "unexpected ingest: %s", jd_json_brief(b[i]));
        }
        cJSON_Delete(b[i]);
    }
    JD_EXPECT(pay1 == 1 && pay2 == 1 && refund == 1,
              "payment ord_g1 %d, payment order-10042 %d, refund restated at 10.00 %d", pay1, pay2,
              refund);
}

static void scenario_consent(void)
{
    size_t meta_before = fake_api_nrequests(fake);
    char a0[32], a1[32], body[4096];
    at(40, a0, sizeof a0);
    at(50, a1, sizeof a1);
    snprintf(body, sizeof body,
             "{\"events\":["
             "{\"id\":\"nc-1\",\"kind\":\"lead\",\"stage\":\"lead\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"120299999999999999\"},"
             "{\"type\":\"email\",\"value\":\"no.consent@example.com\"},"
             "{\"type\":\"gclid\",\"value\":\"Cj0KCQgclidRefused\"},"
             "{\"type\":\"fbclid\",\"value\":\"IwARrefused\"}],"
             "\"attributes\":{\"consent_ads\":\"no\"}},"
             "{\"id\":\"nc-2\",\"kind\":\"payment\",\"at\":\"%s\",\"payment_key\":\"pay_nc\","
             "\"amount\":{\"minor\":10000,\"currency\":\"EUR\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"no.consent@example.com\"}]}]}",
             a0, a1);
    post_events(body);
    (void)jd_wait_drained(&daemon_, 30);
    wait_outbox_empty(30);
    char em[65];
    sha256_hex("no.consent@example.com", em);
    size_t total = fake_api_nrequests(fake), leaked = 0;
    for (size_t i = meta_before; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 &&
            (strstr(r.body, em) || strstr(r.body, "120299999999999999") ||
             strstr(r.body, "Refused") || strstr(r.body, "refused")))
            leaked++;
    }
    JD_EXPECT(leaked == 0, "%zu requests about the contact that refused consent", leaked);
    JD_EXPECT(fake_api_nrequests(fake) == meta_before, "%zu requests after a refusal",
              fake_api_nrequests(fake) - meta_before);
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "no.consent@example.com", &st);
    JD_REQUIRE(j, "journey: %ld", st);
    const cJSON *it;
    int skipped = 0, other = 0;
    cJSON_ArrayForEach(it, jd_json_path(j, "sent"))
    {
        const char *res = jd_json_str(it, "result");
        if (res && strcmp(res, "skipped") == 0)
            skipped++;
        else
            other++;
    }
    /* meta: the lead's and the payment's stage changes and the payment; google the same. */
    JD_EXPECT(skipped >= 4 && other == 0, "sent list of the refusing contact: %s",
              jd_json_brief(jd_json_path(j, "sent")));
    cJSON_Delete(j);
}

static void scenario_sigkill(void)
{
    fake_api_clear_replies(fake, r_meta);
    fake_api_reply(fake, r_meta, 200, NULL, "{\"events_received\":1}", 2000);
    size_t before = fake_api_hits(fake, r_meta);
    char a0[32], body[2048];
    at(70, a0, sizeof a0);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"kill-1\",\"kind\":\"lead\",\"stage\":\"lead\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"120277777777777777\"},"
             "{\"type\":\"email\",\"value\":\"kim.killed@example.com\"}]}]}",
             a0);
    post_events(body);
    int64_t end = jd_mono_ms() + 60000;
    while (fake_api_hits(fake, r_meta) == before && jd_mono_ms() < end)
        jd_sleep_ms(20);
    JD_REQUIRE(fake_api_hits(fake, r_meta) > before, "no request reached Meta");
    jd_daemon_signal(&daemon_, SIGKILL);
    jd_daemon_wait_exit(&daemon_, 10);
    jd_daemon_start(&daemon_, 1);
    fake_api_clear_replies(fake, r_meta);
    fake_api_reply(fake, r_meta, 200, NULL, "{\"events_received\":1}", 0);
    struct meta_ev ev[32];
    end = jd_mono_ms() + 90000;
    int got = 0;
    while (!got && jd_mono_ms() < end) {
        size_t n = meta_events(ev, 32);
        for (size_t i = 0; i < n; i++)
            got |= strcmp(ev[i].id, "jd.120277777777777777.lead") == 0;
        if (!got)
            jd_sleep_ms(100);
    }
    JD_EXPECT(got, "the lead cut short by the kill never arrived");
    size_t cut = 0, total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 && r.route == r_meta && r.status != 200 &&
            strstr(r.body, "jd.120277777777777777.lead"))
            cut++;
    }
    JD_EXPECT(cut >= 1, "the kill cut no request short");
}

/* A token Google revokes before it expires: the ingest answered 401 drops it, the next
 * round fetches a fresh one and carries it (the cached one would be sent for an hour). */
static void scenario_token_revoked(void)
{
    fake_api_clear_replies(fake, r_token);
    fake_api_reply(fake, r_token, 200, NULL,
                   "{\"access_token\":\"ya29.revoked-token-0002\",\"expires_in\":3599}", 0);
    fake_api_reply(fake, r_token, 200, NULL,
                   "{\"access_token\":\"ya29.fresh-token-0003\",\"expires_in\":3599}", 0);
    fake_api_clear_replies(fake, r_ingest);
    fake_api_reply(fake, r_ingest, 401, NULL, "{\"error\":{\"code\":401}}", 0);
    fake_api_reply(fake, r_ingest, 200, NULL, "{\"requestId\":\"req-2\"}", 0);
    size_t tokens = fake_api_hits(fake, r_token);
    char a0[32], body[1024];
    at(80, a0, sizeof a0);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"rev-pay\",\"kind\":\"payment\",\"at\":\"%s\","
             "\"payment_key\":\"ord_rev\",\"amount\":{\"minor\":500,\"currency\":\"EUR\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"rita.revoked@example.com\"},"
             "{\"type\":\"gclid\",\"value\":\"Cj0KCQgclidRevoked\"}]}]}",
             a0);
    post_events(body);
    static struct fake_request r;
    char refused[128] = "", accepted[128] = "";
    int64_t end = jd_mono_ms() + 60000;
    while (!accepted[0] && jd_mono_ms() < end) {
        size_t total = fake_api_nrequests(fake);
        for (size_t i = 0; i < total; i++) {
            if (fake_api_request(fake, i, &r) != 0 || r.route != r_ingest ||
                !strstr(r.body, "ord_rev"))
                continue;
            fake_request_header(&r, "Authorization", r.status == 200 ? accepted : refused,
                                sizeof accepted);
        }
        if (!accepted[0])
            jd_sleep_ms(100);
    }
    JD_EXPECT(strcmp(refused, "Bearer ya29.revoked-token-0002") == 0,
              "the ingest answered 401 carried %s", refused[0] ? refused : "nothing");
    JD_EXPECT(strcmp(accepted, "Bearer ya29.fresh-token-0003") == 0,
              "the ingest after the 401 carried %s, want the fresh token",
              accepted[0] ? accepted : "nothing (it never arrived)");
    JD_EXPECT(fake_api_hits(fake, r_token) == tokens + 2,
              "token requests for the revoked one and the fresh one: %zu, want 2",
              fake_api_hits(fake, r_token) - tokens);
}

/* Over the whole run: every event_id answered 200 once at most. */
static void check_no_event_id_twice(void)
{
    static struct meta_ev ev[64];
    size_t n = meta_events(ev, 64), dup = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(ev[i].id, ev[k].id) == 0) {
                jd_note("event_id %s accepted twice", ev[i].id);
                dup++;
            }
    JD_EXPECT(dup == 0, "%zu event_ids accepted twice", dup);
    jd_note("meta: %zu events accepted, each event_id once", n);
}

/* No request body holds an address or a phone number in clear. */
static void check_nothing_in_clear(void)
{
    size_t total = fake_api_nrequests(fake), bad = 0;
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 &&
            (strstr(r.body, "@example.com") || strstr(r.body, "4915112345678") ||
             strstr(r.body, "15551234567") || strstr(r.body, "Ana Lead")))
            bad++;
    }
    JD_EXPECT(bad == 0, "%zu request bodies hold personal data in clear", bad);
}

static void scenario_dry_run(void)
{
    size_t first = fake_api_nrequests(fake);
    char a0[32], a1[32], body[4096];
    at(90, a0, sizeof a0);
    at(100, a1, sizeof a1);
    snprintf(body, sizeof body,
             "{\"events\":["
             "{\"id\":\"dry-1\",\"kind\":\"lead\",\"stage\":\"lead\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"120255555555555555\"},"
             "{\"type\":\"email\",\"value\":\"dora.dry@example.com\"}]},"
             "{\"id\":\"dry-2\",\"kind\":\"payment\",\"at\":\"%s\",\"payment_key\":\"ord_dry\","
             "\"amount\":{\"minor\":700,\"currency\":\"USD\"},"
             "\"identities\":[{\"type\":\"email\",\"value\":\"dan.dry@example.com\"},"
             "{\"type\":\"gclid\",\"value\":\"Cj0KCQgclidDry\"}]}]}",
             a0, a1);
    post_events(body);
    (void)jd_wait_drained(&daemon_, 30);
    wait_outbox_empty(60);
    int meta_test = 0, google_validate = 0;
    size_t total = fake_api_nrequests(fake);
    for (size_t i = first; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0)
            continue;
        cJSON *b = cJSON_Parse(r.body);
        if (r.route == r_meta) {
            const char *code = jd_json_str(b, "test_event_code");
            meta_test += code && strcmp(code, "JOURNEYD_DRY_RUN") == 0;
        } else if (r.route == r_ingest) {
            google_validate += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "validateOnly"));
        }
        cJSON_Delete(b);
    }
    JD_EXPECT(meta_test == 1, "Meta dry-run requests with test_event_code: %d, want 1", meta_test);
    JD_EXPECT(google_validate == 1, "Google requests with validateOnly: %d, want 1",
              google_validate);
    long long m = jd_metric(&daemon_, "journeyd_outbox_total{destination=\"meta\","
                                      "result=\"dry_run\"}");
    long long g = jd_metric(&daemon_, "journeyd_outbox_total{destination=\"google\","
                                      "result=\"dry_run\"}");
    JD_EXPECT(m == 1 && g == 1, "dry_run results: meta %lld, google %lld", m, g);
}

static void start_with(const char *extra)
{
    if (daemon_.pid > 0)
        jd_daemon_stop(&daemon_);
    jd_daemon_config(&daemon_, redis.port, extra);
    jd_daemon_start(&daemon_, 1);
}

int main(void)
{
    jd_setup("test_ads_destinations", 480, 1);
    t0 = jd_now_s() - 3600; /* within the 7 days Meta accepts */
    fake = fake_api_start();
    r_meta = fake_api_route(fake, "POST", "/meta/" PIXEL "/events", FAKE_EXACT);
    r_token = fake_api_route(fake, "POST", "/token", FAKE_EXACT);
    r_ingest = fake_api_route(fake, "POST", "/google/events:ingest", FAKE_EXACT);
    fake_api_reply(fake, r_token, 200, NULL,
                   "{\"access_token\":\"" GOOGLE_TOKEN "\",\"expires_in\":3599,"
                   "\"token_type\":\"Bearer\"}",
                   0);
    fake_api_reply(fake, r_ingest, 200, NULL, "{\"requestId\":\"req-1\"}", 0);
    jd_redis_start(&redis, NULL, 0);
    char sa[512], s[4096];
    snprintf(sa, sizeof sa, "%s/google-sa.json", jd_tmpdir());
    jd_write_service_account(sa);
    const char *base = fake_api_base(fake);
#define SECTIONS(dry)                                                                              \
    "outbound_backoff = 100ms\nconsent_field = consent_ads\n"                                      \
    "\n[destination meta]\ntype = meta_capi\npixel_id = " PIXEL "\naccess_token = " META_TOKEN     \
    "\napi_base = %s/meta\nallow_private = yes\ndry_run = " dry                                    \
    "\n\n[destination google]\ntype = google_data_manager\ncustomer_id = 123-456-7890\n"           \
    "conversion_action = 987654321\nservice_account_file = %s\ntoken_url = %s/token\n"             \
    "api_base = %s/google\nallow_private = yes\ndry_run = " dry "\n"
    snprintf(s, sizeof s, SECTIONS("no"), base, sa, base, base);
    start_with(s);
    scenario_meta();
    scenario_google();
    scenario_consent();
    scenario_sigkill();
    scenario_token_revoked();
    check_no_event_id_twice();

    snprintf(s, sizeof s, SECTIONS("yes"), base, sa, base, base);
    start_with(s);
    scenario_dry_run();
    check_nothing_in_clear();

    jd_daemon_stop(&daemon_);
    fake_api_stop(fake);
    return jd_finish();
}
