/*
 * Reconciliation of a HubSpot portal: a hubspot source with `reconcile = 2s` searches a
 * fake CRM API on loopback (POST /crm/v3/objects/{contacts,deals}/search with the query
 * in a JSON body: outbound's POST) and looks each object up as for a webhook. HubSpot's
 * event ids cannot be rebuilt from the search, so both paths key a creation and a stage
 * on the object (connectors/hubspot.c).
 *   - the contact's creation came as a webhook before the walk: found again, it changes
 *     nothing;
 *   - its lifecycle stage, the deal's creation and the deal's win never came: after the
 *     walk each is in the journey once, journeyd_reconciled_total{source="hubspot"} is 3;
 *   - their webhooks then arrive late (the win twice, a retry): nothing changes, every one
 *     counts as a duplicate.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define HS_SECRET "hubspot_test_client_secret_0123"
#define HS_TOKEN "pat-na1-hubspot-test-token-0123456789"

static struct jd_daemon daemon_;
static struct fake_api *fake;

/* A v1 delivery: X-HubSpot-Signature = hex SHA-256(secret + body) (no public_url). */
static void post_hook(const char *body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char sig[160];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    JD_REQUIRE(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                   EVP_DigestUpdate(ctx, HS_SECRET, strlen(HS_SECRET)) == 1 &&
                   EVP_DigestUpdate(ctx, body, strlen(body)) == 1 &&
                   EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32,
               "sha256 failed");
    EVP_MD_CTX_free(ctx);
    int n = snprintf(sig, sizeof sig, "X-HubSpot-Signature: ");
    for (unsigned i = 0; i < mdlen; i++)
        n += snprintf(sig + n, sizeof sig - (size_t)n, "%02x", md[i]);
    const char *hdrs[] = {sig, "X-HubSpot-Signature-Version: v1", "Content-Type: application/json",
                          NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "hubspot", hdrs, body, &h);
    JD_EXPECT(h.status == 200, "webhook: want 200, got %ld (%s)", h.status, h.body);
    jd_http_free(&h);
}

static long long metric(const char *series)
{
    long long v = jd_metric(&daemon_, series);
    return v < 0 ? 0 : v;
}

int main(void)
{
    jd_setup("reconcile_hubspot", 240, 1);
    uint64_t r = jd_rand_below(1000000000);
    uint64_t contact = 1000 + r, deal = 5000000000 + r;
    char email[96], body[4096], path[128];
    snprintf(email, sizeof email, "crm%" PRIu64 "@example.com", r);

    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_config_append(&daemon_,
                            "\n[source hubspot]\ntype = hubspot\nsecret = " HS_SECRET
                            "\napi_token = " HS_TOKEN "\napi_base = %s\nreconcile = 2s\n",
                            fake_api_base(fake));

    /* The searches (the contacts' first page late, so the creation webhook goes first),
     * then the look-ups of the contact and of the deal. */
    int r_contacts = fake_api_route(fake, "POST", "/crm/v3/objects/contacts/search", FAKE_EXACT);
    int r_deals = fake_api_route(fake, "POST", "/crm/v3/objects/deals/search", FAKE_EXACT);
    snprintf(body, sizeof body,
             "{\"total\":1,\"results\":[{\"id\":\"%" PRIu64 "\",\"properties\":{"
             "\"lifecyclestage\":\"opportunity\",\"hs_lifecyclestage_opportunity_date\":"
             "\"2026-10-01T11:00:00.000Z\"},\"createdAt\":\"2026-10-01T10:00:00.000Z\","
             "\"updatedAt\":\"2026-10-01T11:00:00.000Z\",\"archived\":false}]}",
             contact);
    fake_api_reply(fake, r_contacts, 200, NULL, body, 3000);
    fake_api_reply(fake, r_contacts, 200, NULL, "{\"total\":0,\"results\":[]}", 0);
    snprintf(body, sizeof body,
             "{\"total\":1,\"results\":[{\"id\":\"%" PRIu64 "\",\"properties\":{\"dealstage\":"
             "\"closedwon\"},\"createdAt\":\"2026-10-01T10:30:00.000Z\",\"updatedAt\":"
             "\"2026-10-01T12:00:00.000Z\",\"archived\":false}]}",
             deal);
    fake_api_reply(fake, r_deals, 200, NULL, body, 0);
    fake_api_reply(fake, r_deals, 200, NULL, "{\"total\":0,\"results\":[]}", 0);
    snprintf(path, sizeof path, "/crm/v3/objects/contacts/%" PRIu64 "?", contact);
    int r_contact = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"id\":\"%" PRIu64 "\",\"properties\":{\"email\":\"%s\",\"lifecyclestage\":"
             "\"opportunity\"}}",
             contact, email);
    fake_api_reply(fake, r_contact, 200, NULL, body, 0);
    snprintf(path, sizeof path, "/crm/v3/objects/deals/%" PRIu64 "?", deal);
    int r_deal = fake_api_route(fake, "GET", path, FAKE_PREFIX);
    snprintf(body, sizeof body,
             "{\"id\":\"%" PRIu64 "\",\"properties\":{\"dealstage\":\"closedwon\",\"amount\":"
             "\"100\"},\"associations\":{\"contacts\":{\"results\":[{\"id\":\"%" PRIu64 "\","
             "\"type\":\"deal_to_contact\"}]}}}",
             deal, contact);
    fake_api_reply(fake, r_deal, 200, NULL, body, 0);

    /* The webhooks HubSpot would send, each with its own event id. */
    char created_hook[1024], stage_hook[1024], deal_hook[1024], won_hook[1024];
    snprintf(created_hook, sizeof created_hook,
             "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":11,\"portalId\":62515,\"occurredAt\":"
             "1790848800000,\"subscriptionType\":\"contact.creation\",\"objectId\":%" PRIu64 "}]",
             r, contact);
    snprintf(stage_hook, sizeof stage_hook,
             "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":12,\"portalId\":62515,\"occurredAt\":"
             "1790852400000,\"subscriptionType\":\"contact.propertyChange\",\"objectId\":%" PRIu64
             ",\"propertyName\":\"lifecyclestage\",\"propertyValue\":\"opportunity\"}]",
             r + 1, contact);
    snprintf(deal_hook, sizeof deal_hook,
             "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":13,\"portalId\":62515,\"occurredAt\":"
             "1790850600000,\"subscriptionType\":\"deal.creation\",\"objectId\":%" PRIu64 "}]",
             r + 2, deal);
    snprintf(won_hook, sizeof won_hook,
             "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":14,\"portalId\":62515,\"occurredAt\":"
             "1790856000000,\"subscriptionType\":\"deal.propertyChange\",\"objectId\":%" PRIu64
             ",\"propertyName\":\"dealstage\",\"propertyValue\":\"closedwon\"}]",
             r + 3, deal);

    jd_daemon_start(&daemon_, 1);
    post_hook(created_hook);
    jd_wait_drained(&daemon_, 30);

    /* ---- one walk: three events recovered, the delivered creation not counted ---- */
    const char *reconciled = "journeyd_reconciled_total{source=\"hubspot\"}";
    int64_t end = jd_mono_ms() + 30000;
    while ((fake_api_hits(fake, r_deals) < 1 || metric(reconciled) < 3) && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(metric(reconciled) == 3, "%s: want 3, got %lld", reconciled, metric(reconciled));
    char id[128];
    snprintf(id, sizeof id, "hubspot:contact:%" PRIu64 ":created", contact);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "hubspot:contact:%" PRIu64 ":lifecyclestage:opportunity", contact);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "hubspot:deal:%" PRIu64 ":created", deal);
    JD_EXPECT_ONCE(&daemon_, email, id);
    snprintf(id, sizeof id, "hubspot:deal:%" PRIu64 ":dealstage:closedwon", deal);
    JD_EXPECT_ONCE(&daemon_, email, id);
    long st;
    cJSON *j = jd_journey(&daemon_, "email", email, &st);
    const cJSON *stage = jd_json_path(j, "contact.stage");
    JD_EXPECT(cJSON_IsString(stage) && strcmp(stage->valuestring, "won") == 0,
              "the contact's stage: want won, got %s", jd_json_brief(stage));
    cJSON_Delete(j);

    /* ---- what was asked: a POST search with the token ---- */
    struct fake_request rq;
    char token[128], ctype[64];
    /* The first search (the webhook's look-up may come before it). */
    size_t i = 0;
    while (fake_api_request(fake, i, &rq) == 0 && rq.route != r_contacts)
        i++;
    JD_REQUIRE(rq.route == r_contacts, "no contacts search recorded");
    JD_EXPECT(strcmp(rq.method, "POST") == 0, "the search: %s %s", rq.method, rq.target);
    JD_EXPECT(fake_request_header(&rq, "Authorization", token, sizeof token) &&
                  strcmp(token, "Bearer " HS_TOKEN) == 0,
              "the search did not carry the token");
    JD_EXPECT(fake_request_header(&rq, "Content-Type", ctype, sizeof ctype) &&
                  strcmp(ctype, "application/json") == 0,
              "the search's Content-Type: %s", ctype);
    char clen[32];
    JD_EXPECT(fake_request_header(&rq, "Content-Length", clen, sizeof clen) && atoi(clen) > 100,
              "the search carried no body (Content-Length %s)", clen);

    /* ---- the late webhooks, and a retry, change nothing ---- */
    long long dups = metric("journeyd_duplicates_skipped_total");
    post_hook(stage_hook);
    post_hook(deal_hook);
    post_hook(won_hook);
    post_hook(won_hook); /* HubSpot's retry of the same delivery */
    jd_wait_drained(&daemon_, 30);
    JD_EXPECT(metric("journeyd_duplicates_skipped_total") == dups + 4,
              "the late webhooks and a retry: want 4 more duplicates, got %lld",
              metric("journeyd_duplicates_skipped_total") - dups);
    JD_EXPECT(metric(reconciled) == 3, "after the late webhooks: %s want 3, got %lld", reconciled,
              metric(reconciled));
    j = jd_journey(&daemon_, "email", email, &st);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_EXPECT(cJSON_GetArraySize(events) == 4, "the journey: want 4 events, got %d: %s",
              cJSON_GetArraySize(events), jd_json_brief(events));
    cJSON_Delete(j);

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
