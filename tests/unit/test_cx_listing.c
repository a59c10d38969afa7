/*
 * The providers' list APIs (connectors/listing.c): the URL and token of a page, and each
 * page item read back into the body its webhook would carry, checked by normalizing it
 * with the provider's own connector (the dedup key must be the webhook's).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "listing.h"

extern const struct cx_connector cx_stripe, cx_shopify, cx_meta_leads, cx_pipedrive, cx_hubspot;

static struct cx_source source(const char *type, const char *base)
{
    struct cx_source s;
    memset(&s, 0, sizeof s);
    s.name = type;
    s.type = type;
    s.api_token = "tok_read_only_0123456789";
    s.api_base = base;
    return s;
}

/* Normalizes one item the way the worker does (topic header when it has one). */
static void normalize_item(const struct cx_connector *cx, const struct cx_source *src,
                           const struct cx_list_item *it, const char *want_id)
{
    struct cx_header h = {"x-shopify-topic", it->topic};
    struct cx_raw raw = {src->name,        "1-0",
                         1700000000000,    (const unsigned char *)it->body,
                         it->len,          it->topic ? &h : NULL,
                         it->topic ? 1 : 0};
    struct cx_event_list out;
    struct cx_fetch_list need;
    struct cx_err err = {{0}};
    cx_list_init(&out);
    enum cx_result r = cx->normalize(src, &raw, NULL, &out, &need, &err);
    assert_int_equal(r, CX_NORM_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0].id, want_id);
    cx_list_free(&out);
}

static void test_supported(void **state)
{
    (void)state;
    assert_true(cx_list_supported("stripe"));
    assert_true(cx_list_supported("shopify"));
    assert_true(cx_list_supported("pipedrive"));
    assert_true(cx_list_supported("hubspot"));
    assert_false(cx_list_supported("form"));
    assert_false(cx_list_supported(NULL));
}

static void test_stripe_request(void **state)
{
    (void)state;
    struct cx_source s = source("stripe", NULL);
    struct cx_fetch fx;
    struct cx_err err = {{0}};
    struct cx_list_query q = {CX_FEED_FAILED, NULL, 1790000000, ""};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_non_null(strstr(fx.url, "https://api.stripe.com/v1/events?limit=100"));
    assert_non_null(strstr(fx.url, "&created%5Bgte%5D=1790000000"));
    assert_non_null(strstr(fx.url, "&types%5B%5D=checkout.session.completed"));
    assert_non_null(strstr(fx.url, "&types%5B%5D=charge.refunded"));
    assert_non_null(strstr(fx.url, "&delivery_success=false"));
    assert_null(strstr(fx.url, "starting_after"));
    assert_string_equal(fx.headers[0], "Authorization: Bearer tok_read_only_0123456789");
    assert_int_equal(fx.nheaders, 1);

    s = source("stripe", "http://127.0.0.1:9/");
    q = (struct cx_list_query){CX_FEED_RECENT, NULL, 1790000000, "evt_1Abc"};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_non_null(strstr(fx.url, "http://127.0.0.1:9/v1/events?"));
    assert_null(strstr(fx.url, "delivery_success"));
    assert_non_null(strstr(fx.url, "&starting_after=evt_1Abc"));

    /* A cursor that is not an id never reaches a URL. */
    q.after = "evt_1&limit=1";
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), -1);
    s.api_token = NULL;
    q.after = "";
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), -1);
}

static void test_stripe_page(void **state)
{
    (void)state;
    static const char body[] =
        "{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":true,\"data\":["
        "{\"id\":\"evt_2\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
        "\"created\":1790000100,\"data\":{\"object\":{\"id\":\"cs_2\",\"object\":"
        "\"checkout.session\",\"amount_total\":9007199254740991,\"currency\":\"eur\","
        "\"customer_details\":{\"email\":\"a@example.com\"},\"payment_intent\":\"pi_2\",\"rate\":0."
        "1}}},"
        "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"customer.created\",\"created\":1}]}";
    struct cx_source s = source("stripe", NULL);
    struct cx_list_query q = {CX_FEED_RECENT, NULL, 0, ""};
    struct cx_list_page *p = calloc(1, sizeof *p);
    struct cx_err err = {{0}};
    assert_non_null(p);
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)body, strlen(body), p, &err),
                     0);
    /* A type journeyd does not read is not queued, but the cursor moves past it. */
    assert_int_equal(p->n, 1);
    assert_int_equal(p->listed, 2);
    assert_true(p->more);
    assert_string_equal(p->after, "evt_1");
    assert_null(p->v[0].topic);
    /* Numbers survive the round trip exactly (2^53 - 1; cJSON alone prints
     * 9.00719925474099e+15), fractions too. */
    assert_non_null(strstr(p->v[0].body, "\"amount_total\":9007199254740991"));
    assert_non_null(strstr(p->v[0].body, "\"rate\":0.10000000000000001"));
    normalize_item(&cx_stripe, &s, &p->v[0], "stripe:evt_2");
    cx_list_page_free(p);

    static const char refused[] = "{\"error\":{\"type\":\"invalid_request_error\"}}";
    assert_int_equal(
        cx_list_parse(&s, &q, 401, (const unsigned char *)refused, strlen(refused), p, &err), -1);
    assert_non_null(strstr(err.msg, "api_token"));
    assert_int_equal(p->n, 0);
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)"{\"data\":1}", 10, p, &err),
                     -1);
    free(p);
}

static void test_shopify(void **state)
{
    (void)state;
    struct cx_source s = source("shopify", "https://example.myshopify.com");
    struct cx_fetch fx;
    struct cx_err err = {{0}};
    struct cx_list_query q = {CX_FEED_RECENT, NULL, 1790000000, ""};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_string_equal(fx.url, "https://example.myshopify.com/admin/api/" CX_SHOPIFY_API_VERSION
                                "/orders.json?status=any&limit=250&updated_at_min="
                                "2026-09-21T14:13:20Z&since_id=0");
    assert_string_equal(fx.headers[0], "X-Shopify-Access-Token: tok_read_only_0123456789");
    q.after = "820982911946154509";
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_non_null(strstr(fx.url, "&since_id=820982911946154509"));
    q.after = "QVFI+b"; /* a Graph cursor is no order id */
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), -1);
    q.after = "";
    struct cx_source nobase = source("shopify", NULL);
    assert_int_equal(cx_list_request(&nobase, &q, &fx, &err), -1);

    static const char body[] =
        "{\"orders\":[{\"id\":820982911946154508,\"financial_status\":\"partially_refunded\","
        "\"email\":\"jon@example.com\",\"total_price\":\"199.00\",\"currency\":\"USD\","
        "\"processed_at\":\"2026-10-01T10:00:00Z\",\"refunds\":[{\"id\":509562969,"
        "\"created_at\":\"2026-10-02T10:00:00Z\",\"transactions\":[{\"kind\":\"refund\","
        "\"status\":\"success\",\"amount\":\"10.00\",\"currency\":\"USD\"}]}]},"
        "{\"id\":820982911946154509,\"financial_status\":\"pending\",\"total_price\":\"5.00\","
        "\"currency\":\"USD\"}]}";
    struct cx_list_page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)body, strlen(body), p, &err),
                     0);
    assert_int_equal(p->n, 2); /* the paid order and its refund; the pending order is not */
    assert_false(p->more);
    assert_string_equal(p->after, "820982911946154509");
    assert_string_equal(p->v[0].topic, "orders/paid");
    assert_string_equal(p->v[1].topic, "refunds/create");
    normalize_item(&cx_shopify, &s, &p->v[0], "shopify:orders/paid:820982911946154508");
    normalize_item(&cx_shopify, &s, &p->v[1], "shopify:refunds/create:509562969");
    cx_list_page_free(p);
    free(p);
}

static void test_meta(void **state)
{
    (void)state;
    struct cx_source s = source("meta_leads", "http://127.0.0.1:9/v19.0");
    s.forms = "1234567890, 987654321";
    char form[40];
    assert_int_equal(cx_list_nforms(&s), 2);
    assert_int_equal(cx_list_form(&s, 0, form, sizeof form), 0);
    assert_string_equal(form, "1234567890");
    assert_int_equal(cx_list_form(&s, 1, form, sizeof form), 0);
    assert_string_equal(form, "987654321");
    assert_int_equal(cx_list_form(&s, 2, form, sizeof form), -1);

    struct cx_fetch fx;
    struct cx_err err = {{0}};
    struct cx_list_query q = {CX_FEED_RECENT, "1234567890", 1790000000, "QVFI+a/b="};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_string_equal(fx.url, "http://127.0.0.1:9/v19.0/1234567890/leads?fields=id,created_time,"
                                "form_id&limit=100&filtering=%5B%7B%22field%22%3A%22time_created"
                                "%22%2C%22operator%22%3A%22GREATER_THAN%22%2C%22value%22%3A"
                                "1789999999%7D%5D&after=QVFI%2Ba%2Fb%3D");
    assert_string_equal(fx.headers[0], "Authorization: Bearer tok_read_only_0123456789");

    static const char body[] =
        "{\"data\":[{\"id\":\"9007199254740993\",\"created_time\":\"2026-10-01T10:00:00+0000\","
        "\"form_id\":\"1234567890\"}],\"paging\":{\"cursors\":{\"before\":\"QVFIa\","
        "\"after\":\"QVFIb\"},\"next\":\"https://graph.facebook.com/v19.0/1234567890/leads?"
        "after=QVFIb\"}}";
    struct cx_list_page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    q.after = "";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)body, strlen(body), p, &err),
                     0);
    assert_int_equal(p->n, 1);
    assert_true(p->more);
    assert_string_equal(p->after, "QVFIb");
    /* The item is the leadgen webhook: the connector asks for the lead, as for a webhook. */
    struct cx_raw raw = {
        "meta_leads", "1-0", 1700000000000, (const unsigned char *)p->v[0].body, p->v[0].len,
        NULL,         0};
    struct cx_event_list out;
    struct cx_fetch_list *need = calloc(1, sizeof *need);
    assert_non_null(need);
    cx_list_init(&out);
    assert_int_equal(cx_meta_leads.normalize(&s, &raw, NULL, &out, need, &err), CX_NORM_NEED_FETCH);
    assert_int_equal(need->n, 1);
    assert_non_null(strstr(need->v[0].url, "http://127.0.0.1:9/v19.0/9007199254740993?fields="));
    cx_list_free(&out);
    free(need);
    cx_list_page_free(p);
    /* The last page has no paging.next. */
    static const char last[] = "{\"data\":[],\"paging\":{\"cursors\":{\"after\":\"x\"}}}";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)last, strlen(last), p, &err),
                     0);
    assert_false(p->more);
    free(p);
}

/* Normalizes one item and returns its only event's kind (static storage of the test). */
static const char *pipedrive_event(const struct cx_source *src, const struct cx_list_item *it,
                                   const char *want_id)
{
    static char kind[32];
    struct cx_raw raw = {src->name, "1-0", 1700000000000, (const unsigned char *)it->body, it->len,
                         NULL,      0};
    struct cx_event_list out;
    struct cx_fetch_list *need = calloc(1, sizeof *need);
    struct cx_err err = {{0}};
    assert_non_null(need);
    cx_list_init(&out);
    assert_int_equal(cx_pipedrive.normalize(src, &raw, NULL, &out, need, &err), CX_NORM_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0].id, want_id);
    snprintf(kind, sizeof kind, "%s", out.v[0].kind);
    cx_list_free(&out);
    free(need);
    return kind;
}

static void test_pipedrive(void **state)
{
    (void)state;
    struct cx_source s = source("pipedrive", "http://127.0.0.1:9/");
    char form[40];
    assert_int_equal(cx_list_nforms(&s), 2);
    assert_int_equal(cx_list_form(&s, 0, form, sizeof form), 0);
    assert_string_equal(form, "persons");
    assert_int_equal(cx_list_form(&s, 1, form, sizeof form), 0);
    assert_string_equal(form, "deals");
    assert_int_equal(cx_list_form(&s, 2, form, sizeof form), -1);

    struct cx_fetch fx;
    struct cx_err err = {{0}};
    struct cx_list_query q = {CX_FEED_RECENT, "deals", 1790856000, "eyJpZCI6OX0="};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_string_equal(fx.url, "http://127.0.0.1:9/api/v2/deals?limit=250&updated_since="
                                "2026%2D10%2D01T12%3A00%3A00Z&sort_by=update_time&sort_direction="
                                "asc&cursor=eyJpZCI6OX0%3D");
    assert_string_equal(fx.headers[0], "x-api-token: tok_read_only_0123456789");
    q.form = "users";
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), -1);

    /* A deal opened at 10:00 in stage 2, moved, won at 12:00; one never changed. */
    static const char deals[] =
        "{\"success\":true,\"data\":[{\"id\":77,\"person_id\":42,\"status\":\"won\","
        "\"stage_id\":5,\"stage_change_time\":\"2026-10-01T11:00:00Z\",\"add_time\":"
        "\"2026-10-01T10:00:00Z\",\"update_time\":\"2026-10-01T12:00:00Z\",\"value\":100},"
        "{\"id\":78,\"status\":\"open\",\"stage_id\":2,\"stage_change_time\":null,\"add_time\":"
        "\"2026-10-01T10:00:00Z\",\"update_time\":null}],"
        "\"additional_data\":{\"next_cursor\":\"eyJpZCI6Nzh9\"}}";
    struct cx_list_page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    q.form = "deals";
    assert_int_equal(
        cx_list_parse(&s, &q, 200, (const unsigned char *)deals, strlen(deals), p, &err), 0);
    assert_int_equal(p->listed, 2);
    assert_int_equal(p->n, 3);
    assert_true(p->more);
    assert_string_equal(p->after, "eyJpZCI6Nzh9");
    struct cx_source plain = s;
    plain.api_token = NULL; /* no person look-up here */
    /* The keys a webhook of the same creation or change gets (test_cx_pipedrive.c). */
    assert_string_equal(pipedrive_event(&plain, &p->v[0], "pipedrive:deal:77:created"),
                        "stage_change");
    assert_string_equal(pipedrive_event(&plain, &p->v[1], "pipedrive:deal:77:1790856000"),
                        "deal_won");
    assert_string_equal(pipedrive_event(&plain, &p->v[2], "pipedrive:deal:78:created"),
                        "stage_change");
    assert_non_null(strstr(p->v[0].body, "\"status\":\"open\""));
    assert_null(strstr(p->v[0].body, "\"stage_id\""));
    assert_non_null(strstr(p->v[2].body, "\"stage_id\":2"));
    cx_list_page_free(p);

    static const char persons[] =
        "{\"success\":true,\"data\":[{\"id\":42,\"name\":\"Giulia\",\"emails\":[{\"value\":"
        "\"giulia@example.it\"}],\"add_time\":\"2026-10-01T10:00:00Z\",\"update_time\":"
        "\"2026-10-01T10:00:00Z\"}],\"additional_data\":{\"next_cursor\":null}}";
    q.form = "persons";
    assert_int_equal(
        cx_list_parse(&s, &q, 200, (const unsigned char *)persons, strlen(persons), p, &err), 0);
    assert_int_equal(p->n, 1); /* never changed since its creation: the lead alone */
    assert_false(p->more);
    assert_string_equal(pipedrive_event(&plain, &p->v[0], "pipedrive:person:42:created"), "lead");
    cx_list_page_free(p);
    static const char bad[] = "{\"success\":false,\"error\":\"x\"}";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)bad, strlen(bad), p, &err),
                     -1);
    free(p);
}

static void test_hubspot(void **state)
{
    (void)state;
    struct cx_source s = source("hubspot", "http://127.0.0.1:9");
    char form[40], body[CX_LIST_BODY_MAX];
    size_t blen = 99;
    assert_int_equal(cx_list_nforms(&s), 2);
    assert_int_equal(cx_list_form(&s, 0, form, sizeof form), 0);
    assert_string_equal(form, "contacts");
    assert_int_equal(cx_list_form(&s, 1, form, sizeof form), 0);
    assert_string_equal(form, "deals");

    struct cx_fetch fx;
    struct cx_err err = {{0}};
    struct cx_list_query q = {CX_FEED_RECENT, "deals", 1790856000, "200"};
    assert_int_equal(cx_list_request(&s, &q, &fx, &err), 0);
    assert_string_equal(fx.url, "http://127.0.0.1:9/crm/v3/objects/deals/search");
    assert_int_equal(fx.nheaders, 2);
    assert_string_equal(fx.headers[0], "Authorization: Bearer tok_read_only_0123456789");
    assert_string_equal(fx.headers[1], "Content-Type: application/json");
    assert_int_equal(cx_list_body(&s, &q, body, sizeof body, &blen, &err), 0);
    assert_string_equal(body, "{\"filterGroups\":[{\"filters\":[{\"propertyName\":"
                              "\"hs_lastmodifieddate\",\"operator\":\"GTE\",\"value\":"
                              "\"1790856000000\"}]}],\"sorts\":[{\"propertyName\":"
                              "\"hs_lastmodifieddate\",\"direction\":\"ASCENDING\"}],\"limit\":"
                              "100,\"properties\":[\"dealstage\"],\"after\":\"200\"}");
    assert_int_equal(blen, strlen(body));
    q.form = "contacts";
    q.after = "";
    assert_int_equal(cx_list_body(&s, &q, body, sizeof body, &blen, &err), 0);
    assert_non_null(strstr(body, "\"propertyName\":\"lastmodifieddate\""));
    assert_non_null(strstr(body, "\"hs_lifecyclestage_customer_date\""));
    assert_null(strstr(body, "\"after\""));
    q.after = "x\"}";
    assert_int_equal(cx_list_body(&s, &q, body, sizeof body, &blen, &err), -1);
    /* The others are GETs. */
    struct cx_source pd = source("pipedrive", NULL);
    q.form = "persons";
    assert_int_equal(cx_list_body(&pd, &q, body, sizeof body, &blen, &err), 0);
    assert_int_equal(blen, 0);

    static const char page[] =
        "{\"total\":2,\"results\":[{\"id\":\"123\",\"properties\":{\"lifecyclestage\":"
        "\"opportunity\",\"hs_lifecyclestage_opportunity_date\":\"2026-10-01T11:00:00.000Z\"},"
        "\"createdAt\":\"2026-10-01T10:00:00.000Z\",\"updatedAt\":\"2026-10-01T12:00:00.000Z\","
        "\"archived\":false},{\"id\":\"124\",\"properties\":{},\"createdAt\":"
        "\"2026-10-01T10:00:00Z\",\"updatedAt\":\"2026-10-01T10:00:00Z\"}],"
        "\"paging\":{\"next\":{\"after\":\"2\"}}}";
    struct cx_list_page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    q.form = "contacts";
    q.after = "";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)page, strlen(page), p, &err),
                     0);
    assert_int_equal(p->n, 2);
    assert_true(p->more);
    assert_string_equal(p->after, "2");
    /* Each item is the webhook batch: the creation, and the stage it is in now, keyed on
     * the object as the webhooks are (test_cx_hubspot.c). */
    struct cx_source plain = s;
    plain.api_token = NULL;
    struct cx_raw raw = {
        "hubspot", "1-0", 1700000000000, (const unsigned char *)p->v[0].body, p->v[0].len, NULL, 0};
    struct cx_event_list out;
    struct cx_fetch_list *need = calloc(1, sizeof *need);
    assert_non_null(need);
    cx_list_init(&out);
    assert_int_equal(cx_hubspot.normalize(&plain, &raw, NULL, &out, need, &err), CX_NORM_OK);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0].id, "hubspot:contact:123:created");
    assert_string_equal(out.v[0].kind, "lead");
    assert_int_equal(out.v[0].at_ms, 1790848800000);
    assert_string_equal(out.v[1].id, "hubspot:contact:123:lifecyclestage:opportunity");
    assert_string_equal(out.v[1].stage, "opportunity");
    assert_int_equal(out.v[1].at_ms, 1790852400000); /* when it entered the stage */
    cx_list_free(&out);
    normalize_item(&cx_hubspot, &plain, &p->v[1], "hubspot:contact:124:created");
    free(need);
    cx_list_page_free(p);
    /* Near HubSpot's 10,000-result limit the walk searches again from the last time read. */
    static const char deep[] =
        "{\"total\":20000,\"results\":[{\"id\":\"7\",\"properties\":{\"lastmodifieddate\":"
        "\"2026-10-01T12:00:00.500Z\"},\"createdAt\":\"2026-10-01T10:00:00Z\",\"updatedAt\":"
        "\"2026-10-01T12:00:00.500Z\"}],\"paging\":{\"next\":{\"after\":\"9950\"}}}";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)deep, strlen(deep), p, &err),
                     0);
    assert_true(p->more);
    assert_string_equal(p->after, "s1790856000500");
    cx_list_page_free(p);
    q.after = "s1790856000500";
    assert_int_equal(cx_list_body(&s, &q, body, sizeof body, &blen, &err), 0);
    assert_non_null(strstr(body, "\"value\":\"1790856000500\""));
    assert_null(strstr(body, "\"after\""));
    q.after = "s1"; /* before the window: not a cursor we wrote */
    assert_int_equal(cx_list_body(&s, &q, body, sizeof body, &blen, &err), -1);
    q.after = "";
    static const char last[] = "{\"total\":0,\"results\":[]}";
    assert_int_equal(cx_list_parse(&s, &q, 200, (const unsigned char *)last, strlen(last), p, &err),
                     0);
    assert_false(p->more);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supported),   cmocka_unit_test(test_stripe_request),
        cmocka_unit_test(test_stripe_page), cmocka_unit_test(test_shopify),
        cmocka_unit_test(test_meta),        cmocka_unit_test(test_pipedrive),
        cmocka_unit_test(test_hubspot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
