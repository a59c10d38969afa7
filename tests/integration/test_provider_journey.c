/*
 * The provider journey (issue 3's acceptance test): one person, from a Meta lead ad to the
 * CRM to a booked meeting to the payment, every delivery signed the provider's way over
 * real HTTP, the thin webhooks (Meta, HubSpot) enriched from a fake Graph / CRM API:
 *
 *   Meta GET handshake → Meta leadgen webhook (Graph API look-up: email, phone, name, ad
 *   and campaign) → HubSpot contact.creation (CRM look-up: the same email) → HubSpot
 *   lifecyclestage = marketingqualifiedlead → HubSpot deal.creation (the deal, associated
 *   with the contact, still in "appointmentscheduled") → HubSpot dealstage = closedwon →
 *   Calendly invitee.created → Stripe checkout.session.completed.
 *
 * The deal's creation is delivered (and looked up) before it is won, as HubSpot sends it
 * when the deal is created; the CRM's answer for the deal then changes to closedwon.
 *
 * Expected, from reading the connectors: kinds lead (meta), lead (contact.creation),
 * stage_change/qualified (lifecycle), stage_change/opportunity (deal created in an open
 * stage), deal_won/won (closedwon), meeting/opportunity (Calendly), payment/paid (Stripe);
 * one contact, stage paid, revenue exact, every identity, the Meta touch attributed to
 * paid_social with the campaign name from the Graph answer. A redelivery of the Meta
 * webhook changes nothing.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define META_SECRET "meta_test_app_secret"
#define META_VERIFY "meatyhamhock"
#define META_TOKEN "meta-token"
#define HS_SECRET "hs-client-secret-5b7e"
#define HS_TOKEN "hs-token"
#define CALENDLY_KEY "calendly_test_signing_key"

#define EMAIL "giulia.rossi@example.it"
#define PHONE_E164 "+393331234567"
#define CAMPAIGN "Autunno 2026 - Lead Gen IT"
#define AD_NAME "Carousel demo request"
#define AMOUNT 249000

/* The CRM's deal: id, dealstage, id, createdAt, updatedAt, associated contact id. */
#define DEAL_FMT                                                                                   \
    "{\"id\":\"%s\",\"properties\":{\"amount\":\"2490\",\"dealname\":\"Rossi SRL - annual\","      \
    "\"dealstage\":\"%s\",\"deal_currency_code\":\"EUR\",\"pipeline\":\"default\","                \
    "\"hs_object_id\":\"%s\"},\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"archived\":false,"       \
    "\"associations\":{\"contacts\":{\"results\":[{\"id\":\"%s\",\"type\":"                        \
    "\"deal_to_contact\"}]}}}"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static char hs_public_url[128];

/* ---- signatures, computed here the providers' way ---- */

static void hmac_b64(const char *key, const void *msg, size_t len, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    JD_REQUIRE(HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, mac, &maclen), "HMAC failed");
    JD_REQUIRE(outlen >= 4 * ((maclen + 2) / 3) + 1, "base64 buffer too small");
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
}

static long post(const char *path, const char *const *hdrs, const char *body, char *resp,
                 size_t resplen)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", daemon_.base, path);
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, strlen(body));
    long st = h.status;
    if (resp && resplen)
        snprintf(resp, resplen, "%s", h.body ? h.body : "");
    jd_http_free(&h);
    return st;
}

/* Meta: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, raw body). */
static long post_meta(const char *body)
{
    char hex[65], sig[128], resp[512];
    jd_hmac_hex(META_SECRET, body, strlen(body), hex);
    snprintf(sig, sizeof sig, "X-Hub-Signature-256: sha256=%s", hex);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    long st = post("/hooks/meta", hdrs, body, resp, sizeof resp);
    JD_EXPECT(st == 200, "POST /hooks/meta: want 200, got %ld: %.300s", st, resp);
    return st;
}

/* HubSpot v3: base64 HMAC-SHA256(client secret, "POST" + public URL + body + timestamp),
 * the timestamp in ms in X-HubSpot-Request-Timestamp. tamper changes the body after
 * signing. */
static long post_hubspot(const char *body, int tamper)
{
    char ts[32], b64[64], sig[128], tsh[64], resp[512];
    snprintf(ts, sizeof ts, "%" PRId64, jd_now_s() * 1000);
    struct jd_buf msg = {0};
    jd_buf_printf(&msg, "POST%s%s%s", hs_public_url, body, ts);
    hmac_b64(HS_SECRET, msg.p, msg.len, b64, sizeof b64);
    jd_buf_free(&msg);
    snprintf(sig, sizeof sig, "X-HubSpot-Signature-v3: %s", b64);
    snprintf(tsh, sizeof tsh, "X-HubSpot-Request-Timestamp: %s", ts);
    const char *hdrs[] = {sig, tsh, "Content-Type: application/json", NULL};
    struct jd_buf sent = {0};
    jd_buf_printf(&sent, "%s", body);
    if (tamper)
        sent.p[sent.len - 2] = sent.p[sent.len - 2] == '0' ? '1' : '0';
    long st = post("/hooks/hubspot", hdrs, sent.p, resp, sizeof resp);
    jd_buf_free(&sent);
    if (tamper)
        JD_EXPECT(st == 401, "POST /hooks/hubspot with a tampered body: want 401, got %ld: %.300s",
                  st, resp);
    else
        JD_EXPECT(st == 200, "POST /hooks/hubspot: want 200, got %ld: %.300s", st, resp);
    return st;
}

/* Calendly: Calendly-Webhook-Signature: t=<unix s>,v1=<hex HMAC-SHA256(key, "t.body")>. */
static long post_calendly(const char *body)
{
    char hex[65], sig[160], resp[512];
    int64_t t = jd_now_s();
    struct jd_buf msg = {0};
    jd_buf_printf(&msg, "%" PRId64 ".%s", t, body);
    jd_hmac_hex(CALENDLY_KEY, msg.p, msg.len, hex);
    jd_buf_free(&msg);
    snprintf(sig, sizeof sig, "Calendly-Webhook-Signature: t=%" PRId64 ",v1=%s", t, hex);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    long st = post("/hooks/calendly", hdrs, body, resp, sizeof resp);
    JD_EXPECT(st == 200, "POST /hooks/calendly: want 200, got %ld: %.300s", st, resp);
    return st;
}

/* ---- checks ---- */

static const cJSON *event_at(const cJSON *j, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "events"), i);
}

static void expect_identity(const cJSON *idents, const char *type, const char *value,
                            const char *ctx)
{
    JD_EXPECT(jd_has_identity(idents, type, value), "%s: identities lack {%s, %s}: %s", ctx, type,
              value, jd_json_brief(idents));
}

static char *core_of(const cJSON *j)
{
    cJSON *core = cJSON_CreateObject();
    cJSON_AddItemToObject(core, "contact",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "contact"), 1));
    cJSON_AddItemToObject(core, "events",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "events"), 1));
    char *s = jd_json_print(core);
    cJSON_Delete(core);
    return s;
}

/* Every recorded request whose target starts with prefix carried "Authorization: <want>";
 * returns how many there were. */
static size_t expect_auth(const char *prefix, const char *want, const char *ctx)
{
    size_t n = fake_api_nrequests(fake), seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct fake_request r;
        char v[256];
        if (fake_api_request(fake, i, &r) != 0 || strncmp(r.target, prefix, strlen(prefix)) != 0)
            continue;
        seen++;
        const char *got = fake_request_header(&r, "Authorization", v, sizeof v);
        JD_EXPECT(got && strcmp(got, want) == 0,
                  "%s: %s %s carried Authorization \"%s\", want \"%s\"", ctx, r.method, r.target,
                  got ? got : "(none)", want);
    }
    return seen;
}

int main(void)
{
    jd_setup("provider_journey", 240, 1);
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    snprintf(hs_public_url, sizeof hs_public_url, "http://127.0.0.1:%d/hooks/hubspot",
             daemon_.port);
    jd_daemon_config_append(
        &daemon_,
        "\n[source meta]\ntype = meta_leads\nsecret = " META_SECRET "\nverify_token = " META_VERIFY
        "\napi_token = " META_TOKEN "\napi_base = %s/v19.0\n"
        "\n[source hubspot]\ntype = hubspot\nsecret = " HS_SECRET "\npublic_url = %s\n"
        "api_token = " HS_TOKEN "\napi_base = %s\n"
        "\n[source calendly]\ntype = calendly\nsecret = " CALENDLY_KEY "\n",
        fake_api_base(fake), hs_public_url, fake_api_base(fake));
    jd_daemon_start(&daemon_, 1);

    /* Ids unique per run; Meta's beyond 2^53 (kept as text end to end). */
    char sfx[17], lead[32], contact[32], deal[32], cus[64], pi[64], evt[64], cs[64], inv[160];
    snprintf(sfx, sizeof sfx, "%016" PRIx64, jd_rand());
    snprintf(lead, sizeof lead, "%" PRIu64,
             (uint64_t)9007199254740993ULL + jd_rand_below(1000000000));
    snprintf(contact, sizeof contact, "%" PRIu64, 1000000 + jd_rand_below(100000000));
    snprintf(deal, sizeof deal, "%" PRIu64, (uint64_t)20000000000ULL + jd_rand_below(1000000000));
    snprintf(cus, sizeof cus, "cus_%s", sfx);
    snprintf(pi, sizeof pi, "pi_%s", sfx);
    snprintf(evt, sizeof evt, "evt_%s", sfx);
    snprintf(cs, sizeof cs, "cs_test_%s", sfx);
    snprintf(inv, sizeof inv, "https://api.calendly.com/scheduled_events/EV%s/invitees/IN%s", sfx,
             sfx);
    /* Provider times: an hour apart, starting ten days ago. */
    const int64_t T = (jd_now_s() / 3600 - 240) * 3600;
    char iso[8][32];
    for (int i = 0; i < 8; i++)
        jd_rfc3339(T + (int64_t)i * 3600, iso[i], sizeof iso[i]);

    /* ---- the fake Graph and CRM APIs ---- */
    char body[4096], path[256];
    snprintf(path, sizeof path, "/v19.0/%s?", lead);
    int r_graph = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"created_time\":\"%.19s+0000\",\"id\":\"%s\",\"ad_id\":\"120210000000000001\","
             "\"ad_name\":\"" AD_NAME "\",\"adset_id\":\"120210000000000002\","
             "\"adset_name\":\"Italia 25-54\",\"campaign_id\":\"120210000000000003\","
             "\"campaign_name\":\"" CAMPAIGN "\",\"form_id\":\"1234567890\","
             "\"is_organic\":false,\"platform\":\"fb\",\"field_data\":["
             "{\"name\":\"email\",\"values\":[\"Giulia.Rossi@Example.IT\"]},"
             "{\"name\":\"phone_number\",\"values\":[\"+39 333 123 4567\"]},"
             "{\"name\":\"full_name\",\"values\":[\"Giulia Rossi\"]},"
             "{\"name\":\"company_size\",\"values\":[\"11-50\"]}]}",
             iso[0], lead);
    fake_api_reply(fake, r_graph, 200, NULL, body, 0);

    snprintf(path, sizeof path, "/crm/v3/objects/contacts/%s", contact);
    int r_contact = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"properties\":{\"createdate\":\"%s\",\"email\":\"" EMAIL "\","
             "\"firstname\":\"Giulia\",\"lastname\":\"Rossi\",\"phone\":\"333 123 4567\","
             "\"hs_object_id\":\"%s\",\"lifecyclestage\":\"marketingqualifiedlead\"},"
             "\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"archived\":false}",
             contact, iso[1], contact, iso[1], iso[2]);
    fake_api_reply(fake, r_contact, 200, NULL, body, 0);

    snprintf(path, sizeof path, "/crm/v3/objects/deals/%s", deal);
    int r_deal = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body, DEAL_FMT, deal, "appointmentscheduled", deal, iso[3], iso[3],
             contact);
    fake_api_reply(fake, r_deal, 200, NULL, body, 0);

    /* ---- 1. Meta's subscription handshake ---- */
    {
        char url[512];
        snprintf(url, sizeof url,
                 "%s/hooks/"
                 "meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" META_VERIFY,
                 daemon_.base);
        struct jd_http h;
        jd_http(&h, "GET", url, NULL, NULL, 0);
        JD_EXPECT(h.status == 200 && h.body && strcmp(h.body, "1158201444") == 0,
                  "Meta handshake: want 200 with body 1158201444, got %ld \"%.200s\"", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
        snprintf(url, sizeof url,
                 "%s/hooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong",
                 daemon_.base);
        jd_http(&h, "GET", url, NULL, NULL, 0);
        JD_EXPECT(h.status == 401 || h.status == 403,
                  "Meta handshake with a wrong verify_token: want 401/403, got %ld", h.status);
        JD_EXPECT(!h.body || !strstr(h.body, "1158201444"),
                  "Meta handshake with a wrong verify_token echoed the challenge");
        jd_http_free(&h);
    }

    /* ---- 2. the lead ad ---- */
    char meta_body[1024];
    snprintf(meta_body, sizeof meta_body,
             "{\"object\":\"page\",\"entry\":[{\"id\":\"153125381133\",\"time\":%" PRId64
             ",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":%s,"
             "\"page_id\":153125381133,\"form_id\":1234567890,\"adgroup_id\":120210000000000002,"
             "\"ad_id\":120210000000000001,\"created_time\":%" PRId64 "}}]}]}",
             T + 60, lead, T);
    post_meta(meta_body);

    /* ---- 3. HubSpot: the contact, its lifecycle stage, the deal ---- */
    char hs[1024];
    snprintf(hs, sizeof hs,
             "[{\"eventId\":3001,\"subscriptionId\":4101,\"portalId\":62515,\"appId\":54321,"
             "\"occurredAt\":%" PRId64 ",\"subscriptionType\":\"contact.creation\","
             "\"attemptNumber\":0,\"objectId\":%s,\"changeSource\":\"CRM\",\"changeFlag\":"
             "\"NEW\"}]",
             (T + 3600) * 1000, contact);
    post_hubspot(hs, 1); /* a tampered delivery is refused */
    post_hubspot(hs, 0);
    snprintf(hs, sizeof hs,
             "[{\"eventId\":3002,\"subscriptionId\":4102,\"portalId\":62515,\"appId\":54321,"
             "\"occurredAt\":%" PRId64 ",\"subscriptionType\":\"contact.propertyChange\","
             "\"attemptNumber\":0,\"objectId\":%s,\"propertyName\":\"lifecyclestage\","
             "\"propertyValue\":\"marketingqualifiedlead\",\"changeSource\":\"CRM_UI\"}]",
             (T + 2 * 3600) * 1000, contact);
    post_hubspot(hs, 0);
    snprintf(hs, sizeof hs,
             "[{\"eventId\":3003,\"subscriptionId\":4103,\"portalId\":62515,\"appId\":54321,"
             "\"occurredAt\":%" PRId64 ",\"subscriptionType\":\"deal.creation\","
             "\"attemptNumber\":0,\"objectId\":%s,\"changeSource\":\"CRM_UI\",\"changeFlag\":"
             "\"NEW\"}]",
             (T + 3 * 3600) * 1000, deal);
    post_hubspot(hs, 0);
    /* The deal is looked up while open; then it is won and the CRM says so. */
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(fake_api_hits(fake, r_deal) >= 1, "deal.creation: the deal was not looked up");
    fake_api_clear_replies(fake, r_deal);
    snprintf(body, sizeof body, DEAL_FMT, deal, "closedwon", deal, iso[3], iso[4], contact);
    fake_api_reply(fake, r_deal, 200, NULL, body, 0);
    snprintf(hs, sizeof hs,
             "[{\"eventId\":3004,\"subscriptionId\":4104,\"portalId\":62515,\"appId\":54321,"
             "\"occurredAt\":%" PRId64 ",\"subscriptionType\":\"deal.propertyChange\","
             "\"attemptNumber\":0,\"objectId\":%s,\"propertyName\":\"dealstage\","
             "\"propertyValue\":\"closedwon\",\"changeSource\":\"CRM_UI\"}]",
             (T + 4 * 3600) * 1000, deal);
    post_hubspot(hs, 0);

    /* ---- 4. the meeting ---- */
    char cal[2048];
    snprintf(cal, sizeof cal,
             "{\"created_at\":\"%s\",\"created_by\":\"https://api.calendly.com/users/U%s\","
             "\"event\":\"invitee.created\",\"payload\":{\"cancel_url\":"
             "\"https://calendly.com/cancellations/IN%s\",\"created_at\":\"%s\","
             "\"email\":\"Giulia.Rossi@example.it\",\"event\":"
             "\"https://api.calendly.com/scheduled_events/EV%s\",\"first_name\":null,"
             "\"last_name\":null,\"name\":\"Giulia Rossi\",\"new_invitee\":null,"
             "\"old_invitee\":null,\"questions_and_answers\":[{\"answer\":\"Rossi SRL\","
             "\"position\":0,\"question\":\"Company\"}],\"rescheduled\":false,"
             "\"scheduled_event\":{\"uri\":\"https://api.calendly.com/scheduled_events/EV%s\","
             "\"name\":\"Onboarding call\",\"start_time\":\"%s\",\"end_time\":\"%s\"},"
             "\"status\":\"active\",\"text_reminder_number\":null,\"timezone\":\"Europe/Rome\","
             "\"tracking\":{\"utm_campaign\":null,\"utm_source\":null,\"utm_medium\":null,"
             "\"utm_content\":null,\"utm_term\":null,\"salesforce_uuid\":null},"
             "\"updated_at\":\"%s\",\"uri\":\"%s\"}}",
             iso[5], sfx, sfx, iso[5], sfx, sfx, iso[7], iso[7], iso[5], inv);
    post_calendly(cal);

    /* ---- 5. the payment ---- */
    char st[2048];
    snprintf(
        st, sizeof st,
        "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%" PRId64
        ",\"type\":\"checkout.session.completed\",\"livemode\":false,\"pending_webhooks\":1,"
        "\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"checkout.session\","
        "\"amount_subtotal\":%d,\"amount_total\":%d,\"currency\":\"eur\",\"customer\":\"%s\","
        "\"customer_details\":{\"email\":\"" EMAIL "\",\"name\":\"Giulia Rossi\","
        "\"phone\":null},\"mode\":\"payment\",\"payment_intent\":\"%s\","
        "\"payment_status\":\"paid\",\"status\":\"complete\",\"metadata\":{}}}}",
        evt, T + 6 * 3600, cs, AMOUNT, AMOUNT, cus, pi);
    struct jd_http h;
    jd_post_stripe(&daemon_, st, &h);
    JD_EXPECT(h.status == 200, "POST /hooks/stripe: want 200, got %ld: %.300s", h.status,
              h.body ? h.body : "");
    jd_http_free(&h);

    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "%ld webhook(s) dead-lettered", dead);

    /* ---- the look-ups ---- */
    JD_EXPECT(expect_auth("/v19.0/", "Bearer " META_TOKEN, "Graph API") >= 1,
              "the Graph API was never asked for the lead");
    JD_EXPECT(expect_auth("/crm/", "Bearer " HS_TOKEN, "HubSpot CRM") >= 1,
              "the HubSpot CRM was never asked");
    {
        struct fake_request r;
        int found = 0;
        for (size_t i = 0; i < fake_api_nrequests(fake); i++)
            if (fake_api_request(fake, i, &r) == 0 && r.route == r_graph) {
                found = 1;
                JD_EXPECT(strstr(r.target, "fields=") && strstr(r.target, "field_data") &&
                              strstr(r.target, "campaign_name"),
                          "Graph API request %s does not ask for field_data and campaign_name",
                          r.target);
                break;
            }
        JD_EXPECT(found, "no Graph API request for lead %s", lead);
    }
    JD_EXPECT(fake_api_hits(fake, r_contact) >= 1, "contact %s was never looked up", contact);
    JD_EXPECT(fake_api_count(fake, NULL, "/") == fake_api_hits(fake, r_graph) +
                                                     fake_api_hits(fake, r_contact) +
                                                     fake_api_hits(fake, r_deal),
              "journeyd asked the fake API for something unexpected");

    /* ---- the journey ---- */
    long status = 0;
    cJSON *j = jd_journey(&daemon_, "email", EMAIL, &status);
    JD_REQUIRE(j, "GET /v1/journey?email=%s: want 200, got %ld", EMAIL, status);
    char *s = cJSON_Print(j);
    jd_note("journey:\n%s", s ? s : "(null)");
    cJSON_free(s);
    const char *cid = jd_json_str(jd_json_path(j, "contact"), "id");
    JD_EXPECT(cid != NULL, "journey without contact.id");

    char ident[128];
    snprintf(ident, sizeof ident, "meta_lead:%s", lead);
    cJSON *jm = jd_journey(&daemon_, "identity", ident, &status);
    JD_EXPECT(jm, "GET /v1/journey?identity=%s: want 200, got %ld", ident, status);
    snprintf(ident, sizeof ident, "hubspot_contact:%s", contact);
    cJSON *jh = jd_journey(&daemon_, "identity", ident, &status);
    JD_EXPECT(jh, "GET /v1/journey?identity=%s: want 200, got %ld", ident, status);
    const char *cm = jd_json_str(jd_json_path(jm, "contact"), "id");
    const char *ch = jd_json_str(jd_json_path(jh, "contact"), "id");
    JD_EXPECT(cid && cm && strcmp(cid, cm) == 0,
              "the Meta lead's contact is %s, the email's is %s: not one person", cm ? cm : "-",
              cid ? cid : "-");
    JD_EXPECT(cid && ch && strcmp(cid, ch) == 0,
              "the HubSpot contact's contact is %s, the email's is %s: not one person",
              ch ? ch : "-", cid ? cid : "-");

    static const struct {
        const char *id_prefix, *kind, *stage;
        int64_t at;
    } want[] = {
        {"meta_leads:", "lead", "lead", 0},
        {"hubspot:contact:", "lead", "lead", 1},
        {"hubspot:contact:", "stage_change", "qualified", 2},
        {"hubspot:deal:", "stage_change", "opportunity", 3},
        {"hubspot:deal:", "deal_won", "won", 4},
        {"calendly:", "meeting", "opportunity", 5},
        {"stripe:", "payment", "paid", 6},
    };
    const int nwant = (int)(sizeof want / sizeof want[0]);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_EXPECT(cJSON_GetArraySize(events) == nwant, "journey has %d events, want %d",
              cJSON_GetArraySize(events), nwant);
    for (int i = 0; i < nwant && i < cJSON_GetArraySize(events); i++) {
        const cJSON *ev = event_at(j, i);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "event %d (%s)", i, want[i].id_prefix);
        const char *id = jd_json_str(ev, "id");
        JD_EXPECT(id && strncmp(id, want[i].id_prefix, strlen(want[i].id_prefix)) == 0,
                  "%s: id is %s, want %s…", ctx, id ? id : "(none)", want[i].id_prefix);
        JD_EXPECT_STR(ev, "kind", want[i].kind, ctx);
        JD_EXPECT_STR(ev, "stage", want[i].stage, ctx);
        JD_EXPECT_STR(ev, "at", iso[want[i].at], ctx);
    }
    char id_meta[64], id_cal[256], id_stripe[80];
    snprintf(id_meta, sizeof id_meta, "meta_leads:%s", lead);
    snprintf(id_cal, sizeof id_cal, "calendly:%s", inv);
    snprintf(id_stripe, sizeof id_stripe, "stripe:%s", evt);
    JD_EXPECT(jd_count_event(j, id_meta) == 1, "want one event %s", id_meta);
    JD_EXPECT(jd_count_event(j, id_cal) == 1, "want one event %s", id_cal);
    JD_EXPECT(jd_count_event(j, id_stripe) == 1, "want one event %s", id_stripe);
    {
        char hid[128];
        /* keyed on the object (what reconciliation can name too), not the delivery */
        snprintf(hid, sizeof hid, "hubspot:contact:%s:created", contact);
        JD_EXPECT(jd_count_event(j, hid) == 1, "want one event %s", hid);
    }

    /* The Meta lead: its identities and its touch from the Graph answer. */
    const cJSON *em = event_at(j, 0);
    const cJSON *emi = cJSON_GetObjectItemCaseSensitive(em, "identities");
    expect_identity(emi, "email", EMAIL, "meta lead");
    expect_identity(emi, "phone", PHONE_E164, "meta lead");
    expect_identity(emi, "meta_lead", lead, "meta lead");
    JD_EXPECT_STR(em, "touch.platform", "meta", "meta lead");
    JD_EXPECT_STR(em, "touch.channel", "paid_social", "meta lead");
    JD_EXPECT_STR(em, "touch.campaign", CAMPAIGN, "meta lead");
    JD_EXPECT_STR(em, "touch.ad", AD_NAME, "meta lead");
    JD_EXPECT_STR(em, "attributes.full_name", "Giulia Rossi", "meta lead");
    /* The CRM events: the contact look-up brought the email, the deal its contact. */
    const cJSON *ec = event_at(j, 1);
    expect_identity(cJSON_GetObjectItemCaseSensitive(ec, "identities"), "email", EMAIL,
                    "contact.creation");
    expect_identity(cJSON_GetObjectItemCaseSensitive(ec, "identities"), "hubspot_contact", contact,
                    "contact.creation");
    const cJSON *ed = event_at(j, 4);
    expect_identity(cJSON_GetObjectItemCaseSensitive(ed, "identities"), "hubspot_contact", contact,
                    "deal.propertyChange");
    const cJSON *ep = event_at(j, 6);
    JD_EXPECT_INT(ep, "amount.minor", AMOUNT, "payment");
    JD_EXPECT_STR(ep, "amount.currency", "EUR", "payment");
    const cJSON *t_meet = jd_json_path(event_at(j, 5), "touch");
    JD_EXPECT(!t_meet || cJSON_IsNull(t_meet),
              "the Calendly booking has a touch although it carries no utm: %s",
              jd_json_brief(t_meet));

    /* The contact. */
    JD_EXPECT_STR(j, "contact.stage", "paid", "contact");
    const cJSON *rev = jd_json_path(j, "contact.revenue");
    JD_EXPECT(cJSON_IsObject(rev) && cJSON_GetArraySize(rev) == 1,
              "contact.revenue should be {\"EUR\": %d}, got %s", AMOUNT, jd_json_brief(rev));
    JD_EXPECT_INT(j, "contact.revenue.EUR", AMOUNT, "contact");
    JD_EXPECT_STR(j, "contact.first_seen", iso[0], "contact");
    JD_EXPECT_STR(j, "contact.last_seen", iso[6], "contact");
    const cJSON *ids = jd_json_path(j, "contact.identities");
    expect_identity(ids, "email", EMAIL, "contact");
    expect_identity(ids, "phone", PHONE_E164, "contact");
    expect_identity(ids, "meta_lead", lead, "contact");
    expect_identity(ids, "hubspot_contact", contact, "contact");
    expect_identity(ids, "stripe_customer", cus, "contact");
    const cJSON *conf = jd_json_path(j, "contact.conflicts");
    JD_EXPECT(!conf || cJSON_GetArraySize(conf) == 0, "contact has conflicts: %s",
              jd_json_brief(conf));
    char *core_email = core_of(j);
    char *core_meta = jm ? core_of(jm) : NULL;
    char *core_hs = jh ? core_of(jh) : NULL;
    JD_EXPECT(core_meta && strcmp(core_email, core_meta) == 0,
              "the journey by meta_lead differs from the one by email");
    JD_EXPECT(core_hs && strcmp(core_email, core_hs) == 0,
              "the journey by hubspot_contact differs from the one by email");

    /* ---- a redelivery of the Meta webhook changes nothing ---- */
    size_t graph_before = fake_api_hits(fake, r_graph);
    post_meta(meta_body);
    dead = jd_wait_drained(&daemon_, 30);
    JD_EXPECT(dead == 0, "%ld webhook(s) dead-lettered after the redelivery", dead);
    jd_note("Graph API asked %zu time(s) before the redelivery, %zu after", graph_before,
            fake_api_hits(fake, r_graph));
    cJSON *j2 = jd_journey(&daemon_, "email", EMAIL, &status);
    JD_EXPECT(j2, "GET /v1/journey after the redelivery: want 200, got %ld", status);
    if (j2) {
        char *core2 = core_of(j2);
        JD_EXPECT(strcmp(core_email, core2) == 0,
                  "the redelivered Meta webhook changed the journey:\nbefore %s\nafter  %s",
                  core_email, core2);
        cJSON_free(core2);
    }
    cJSON_Delete(j2);
    cJSON_free(core_email);
    cJSON_free(core_meta);
    cJSON_free(core_hs);
    cJSON_Delete(jm);
    cJSON_Delete(jh);
    cJSON_Delete(j);

    jd_daemon_stop(&daemon_);
    fake_api_stop(fake);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
