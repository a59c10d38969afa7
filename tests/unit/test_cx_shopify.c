/*
 * Shopify connector: the derived HMAC vector from /work/shared/fixtures/shopify/vectors.md,
 * secret rotation, header variants, and normalization of paid orders and refunds
 * (tests/data/shopify/README.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cx_test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "connector.h"

extern const struct cx_connector cx_shopify;

static unsigned char *slurp(const char *name, size_t *len)
{
    return cx_test_slurp("shopify", name, len);
}

/* ---- verify ---- */

/* D1 in /work/shared/fixtures/shopify/vectors.md (DERIVED there with Python's hmac, not
 * published by Shopify; the algorithm is shopify.dev "Verify webhook deliveries"). */
#define D1_SECRET "shopify_test_client_secret"
#define D1_BODY                                                                                    \
    "{\"id\":820982911946154508,\"email\":\"jon@example.com\",\"total_price\":\"199.00\","         \
    "\"currency\":\"USD\"}"
#define D1_HMAC "6ZPmKdX0C/ZX2VFTyp2J05SUIYhUEKVbEW8ZKwhVyZs="

static enum cx_verdict verify(const char *const *secrets, size_t nsecrets, const char *hname,
                              const char *hmac, const char *topic_name, const char *body,
                              size_t len)
{
    struct cx_source src;
    struct cx_input in;
    struct cx_header h[3];
    struct cx_reply reply;
    struct cx_err err;
    size_t i, n = 0;

    memset(&src, 0, sizeof src);
    memset(&in, 0, sizeof in);
    src.name = "shop";
    src.type = "shopify";
    for (i = 0; i < nsecrets; i++)
        src.secrets[i] = secrets[i];
    src.nsecrets = nsecrets;
    h[n++] = (struct cx_header){"Content-Type", "application/json"};
    if (hmac)
        h[n++] = (struct cx_header){hname, hmac};
    if (topic_name)
        h[n++] = (struct cx_header){topic_name, "orders/paid"};
    in.method = "POST";
    in.headers = h;
    in.nheaders = n;
    in.body = (const unsigned char *)body;
    in.body_len = len;
    in.now_ms = 1700000000000;
    return cx_shopify.verify(&src, &in, &reply, &err);
}

static void test_d1_vector(void **state)
{
    static const char *const secret[] = {D1_SECRET};
    static const char *const rotated[] = {"shopify_new_client_secret", D1_SECRET};
    static const char *const wrong[] = {"shopify_new_client_secret"};
    static const struct {
        const char *const *secrets;
        size_t nsecrets;
        const char *hname, *hmac, *topic;
        int tamper; /* 1: last byte changed, 2: one byte short */
        enum cx_verdict want;
    } rows[] = {
        {secret, 1, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 0, CX_OK},
        {secret, 1, "X-Shopify-Hmac-SHA256", D1_HMAC, "X-Shopify-Topic", 0, CX_OK},
        {secret, 1, "x-shopify-hmac-sha256", D1_HMAC, "x-shopify-topic", 0, CX_OK},
        {secret, 1, "Shopify-Hmac-Sha256", D1_HMAC, "Shopify-Topic", 0, CX_OK}, /* un-prefixed */
        {rotated, 2, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 0, CX_OK},
        {wrong, 1, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 0, CX_BAD_SIGNATURE},
        {secret, 0, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 0, CX_BAD_SIGNATURE},
        {secret, 1, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 1, CX_BAD_SIGNATURE},
        {secret, 1, "X-Shopify-Hmac-Sha256", D1_HMAC, "X-Shopify-Topic", 2, CX_BAD_SIGNATURE},
        {secret, 1, "X-Shopify-Hmac-Sha256", NULL, "X-Shopify-Topic", 0, CX_BAD_SIGNATURE},
        {secret, 1, "X-Shopify-Hmac-Sha256", "6ZPmKdX0C/ZX2VFTyp2J05SUIYhUEKVbEW8ZKwhVyZs",
         "X-Shopify-Topic", 0, CX_BAD_SIGNATURE}, /* padding missing */
        {secret, 1, "X-Shopify-Hmac-Sha256",
         "7ZPmKdX0C/ZX2VFTyp2J05SUIYhUEKVbEW8ZKwhVyZs=", "X-Shopify-Topic", 0, CX_BAD_SIGNATURE},
        {secret, 1, "X-Shopify-Hmac-Sha256", "e993e629d5f40bf657d95153ca9d89d3", "X-Shopify-Topic",
         0, CX_BAD_SIGNATURE}, /* hex is not the encoding */
        {secret, 1, "X-Shopify-Hmac-Sha256", D1_HMAC, NULL, 0, CX_BAD_REQUEST}, /* no topic */
    };
    char body[sizeof D1_BODY];
    size_t i, len;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        memcpy(body, D1_BODY, sizeof body);
        len = sizeof D1_BODY - 1;
        if (rows[i].tamper == 1)
            body[len - 1] = ' ';
        if (rows[i].tamper == 2)
            len--;
        if (verify(rows[i].secrets, rows[i].nsecrets, rows[i].hname, rows[i].hmac, rows[i].topic,
                   body, len) != rows[i].want)
            fail_msg("row %zu: unexpected verdict", i);
    }
}

static void test_verify_body(void **state)
{
    /* A matching HMAC over something that is not a JSON object is a 400. */
    static const char *const secret[] = {D1_SECRET};
    static const char *const bodies[] = {"[]", "<order/>", "", "{"};
    unsigned char mac[CX_SHA256_LEN];
    char b64[64];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(bodies); i++) {
        size_t n = strlen(bodies[i]);
        assert_int_equal(cx_hmac_sha256(D1_SECRET, strlen(D1_SECRET), bodies[i], n, NULL, 0, mac),
                         0);
        cx_base64_encode(mac, sizeof mac, b64);
        if (verify(secret, 1, "X-Shopify-Hmac-Sha256", b64, "X-Shopify-Topic", bodies[i], n) !=
            CX_BAD_REQUEST)
            fail_msg("body %zu: not a 400", i);
    }
}

/* ---- normalization ---- */

struct norm {
    struct cx_source src;
    struct cx_raw raw;
    struct cx_header h[4];
    struct cx_event_list list;
    struct cx_err err;
    unsigned char *owned;
};

/* Sent with every delivery; the replay test changes it (it is not signed). */
static const char *triggered_at = "2026-10-01T12:00:06.000Z";

static enum cx_result normalize(struct norm *n, const char *topic, const char *webhook_id,
                                const void *body, size_t len)
{
    size_t k = 0;

    memset(n, 0, sizeof *n);
    n->src.name = "shop-eu";
    n->src.type = "shopify";
    n->src.default_country_code = "39";
    /* as ingest stores them: lower-case names */
    if (topic)
        n->h[k++] = (struct cx_header){"x-shopify-topic", topic};
    if (webhook_id)
        n->h[k++] = (struct cx_header){"x-shopify-webhook-id", webhook_id};
    n->h[k++] = (struct cx_header){"x-shopify-triggered-at", triggered_at};
    n->raw.source = "shop-eu";
    n->raw.stream_id = "1790856007000-0";
    n->raw.received_ms = 1790856007000;
    n->raw.body = body;
    n->raw.body_len = len;
    n->raw.headers = n->h;
    n->raw.nheaders = k;
    cx_list_init(&n->list);
    return cx_shopify.normalize(&n->src, &n->raw, NULL, &n->list, NULL, &n->err);
}

static enum cx_result normalize_file(struct norm *n, const char *topic, const char *webhook_id,
                                     const char *name)
{
    size_t len;
    unsigned char *body = slurp(name, &len);
    enum cx_result rc = normalize(n, topic, webhook_id, body, len);

    n->owned = body;
    return rc;
}

static void norm_free(struct norm *n)
{
    cx_list_free(&n->list);
    free(n->owned);
    n->owned = NULL;
}

#define WEBHOOK_ID "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"

/* The site script's journeyd.shopify() as cart attributes (issue 15): Shopify copies them
 * to the order's note_attributes, and the order carries the visitor's id, utm values and
 * click id. */
static void test_norm_site_kit_cart_attributes(void **state)
{
    static const char body[] =
        "{\"id\":5550001,\"name\":\"#1001\",\"currency\":\"EUR\",\"total_price\":\"49.00\","
        "\"email\":\"lea@example.com\",\"note_attributes\":["
        "{\"name\":\"jd_aid\",\"value\":\"a_0123456789abcdef0123456789abcdef\"},"
        "{\"name\":\"utm_source\",\"value\":\"google\"},"
        "{\"name\":\"utm_medium\",\"value\":\"cpc\"},"
        "{\"name\":\"utm_campaign\",\"value\":\"spring\"},"
        "{\"name\":\"gclid\",\"value\":\"G_cart_1\"}]}";
    struct norm n;
    const struct cx_event *ev;
    int anon = 0, gclid = 0;

    (void)state;
    assert_int_equal(normalize(&n, "orders/paid", WEBHOOK_ID, body, strlen(body)), CX_NORM_OK);
    ev = &n.list.v[0];
    for (size_t i = 0; i < ev->nidentities; i++) {
        anon |= strcmp(ev->identities[i].type, "anon") == 0 &&
                strcmp(ev->identities[i].value, "a_0123456789abcdef0123456789abcdef") == 0;
        gclid |= strcmp(ev->identities[i].type, "gclid") == 0 &&
                 strcmp(ev->identities[i].value, "G_cart_1") == 0;
    }
    assert_true(anon);
    assert_true(gclid);
    assert_string_equal(ev->touch.campaign, "spring");
    assert_string_equal(ev->touch.channel, "paid_search");
    norm_free(&n);
}

static void test_norm_orders_paid(void **state)
{
    static const char *const want_ids[] = {"email",
                                           "giulia.rossi@example.it",
                                           "phone",
                                           "+390212345678",
                                           "shopify_customer",
                                           "115310627314723954",
                                           "custom:shopify_order",
                                           "820982911946154508",
                                           "fbclid",
                                           "IwAR0shopifyTestFbclid",
                                           "anon",
                                           "a_7f3c2e"};
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(normalize_file(&n, "orders/paid", WEBHOOK_ID, "orders_paid.json"), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "shopify:orders/paid:820982911946154508");
    assert_string_equal(ev->source, "shop-eu");
    assert_string_equal(ev->type, "shopify");
    assert_string_equal(ev->raw, "1790856007000-0");
    assert_string_equal(ev->kind, "payment");
    assert_string_equal(cx_event_stage(ev), "paid");
    /* processed_at 2026-10-01T14:00:00+02:00 */
    assert_int_equal(ev->at_ms, 1790856000000);
    assert_int_equal(ev->has_amount, 1);
    assert_int_equal(ev->amount_minor, 249000);
    assert_string_equal(ev->currency, "EUR");
    /* beyond 2^53: every digit kept */
    assert_string_equal(ev->payment_key, "820982911946154508");
    /* email and contact_email normalize to one; the order phone and the billing phone
     * are one number */
    cx_test_expect_identities(ev, want_ids, N_ELEMS(want_ids));
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_social");
    assert_string_equal(ev->touch.source, "facebook");
    assert_string_equal(ev->touch.medium, "cpc");
    assert_string_equal(ev->touch.campaign, "autumn sale"); /* %20 decoded; #fragment cut */
    assert_string_equal(ev->touch.content, "carousel_b");   /* from note_attributes */
    assert_string_equal(ev->touch.term, "");
    assert_int_equal(ev->touch.nclick_ids, 1);
    assert_string_equal(ev->touch.click_ids[0].name, "fbclid");
    assert_string_equal(ev->attrs,
                        "{\"order\":\"#9999\",\"first_name\":\"Giulia\",\"last_name\":\"Rossi\"}");
    norm_free(&n);
}

static void test_norm_d1_body_and_fallback_id(void **state)
{
    static const char *const ids[] = {"email", "jon@example.com", "custom:shopify_order",
                                      "820982911946154508"};
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    /* No webhook id: the key is the order id all the same. No times in the body: the
     * arrival time (X-Shopify-Triggered-At is not signed). */
    assert_int_equal(normalize(&n, "orders/paid", NULL, D1_BODY, strlen(D1_BODY)), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "shopify:orders/paid:820982911946154508");
    assert_int_equal(ev->amount_minor, 19900);
    assert_string_equal(ev->currency, "USD");
    assert_string_equal(ev->payment_key, "820982911946154508");
    assert_int_equal(ev->at_ms, 1790856007000);
    assert_int_equal(ev->has_touch, 0);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    norm_free(&n);
    /* Whatever the webhook id, the key is the order id. */
    assert_int_equal(normalize(&n, "orders/paid", "a b", D1_BODY, strlen(D1_BODY)), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "shopify:orders/paid:820982911946154508");
    norm_free(&n);
}

static void test_norm_refund(void **state)
{
    static const char *const ids[] = {"custom:shopify_order", "820982911946154508"};
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(normalize_file(&n, "refunds/create", "c1a2b3c4-0000-4000-8000-000000000001",
                                    "refunds_create.json"),
                     CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "shopify:refunds/create:929361462");
    assert_string_equal(ev->kind, "refund");
    assert_string_equal(cx_event_stage(ev), "");
    assert_int_equal(ev->at_ms, 1791189000000);
    /* 1000.00 + 245.50 succeeded; the failed refund and the sale do not count */
    assert_int_equal(ev->amount_minor, 124550);
    assert_string_equal(ev->currency, "EUR");
    assert_string_equal(ev->payment_key, "820982911946154508");
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    norm_free(&n);
    /* Without a webhook id too, the refund's own id: one order may have several refunds. */
    assert_int_equal(normalize_file(&n, "refunds/create", NULL, "refunds_create.json"), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "shopify:refunds/create:929361462");
    norm_free(&n);
}

/* Issue 11.5: the HMAC covers only the body, so a captured refund re-sent with fresh
 * webhook ids and trigger times must be the same event (one subtraction), and a changed
 * topic must not turn a signed refund into an order or an order into a refund. */
static void test_norm_replay_with_new_headers(void **state)
{
    static const char *const webhook_ids[] = {"c1a2b3c4-0000-4000-8000-000000000001",
                                              "c1a2b3c4-0000-4000-8000-0000000000ff", NULL};
    static const char *const triggers[] = {"2026-10-01T12:00:06.000Z", "2030-01-01T00:00:00.000Z"};
    struct norm n;
    char first_id[sizeof n.list.v[0].id] = "";
    int64_t first_at = 0;

    (void)state;
    for (size_t i = 0; i < N_ELEMS(webhook_ids); i++) {
        triggered_at = triggers[i % 2];
        assert_int_equal(
            normalize_file(&n, "refunds/create", webhook_ids[i], "refunds_create.json"),
            CX_NORM_OK);
        if (i == 0) {
            snprintf(first_id, sizeof first_id, "%s", n.list.v[0].id);
            first_at = n.list.v[0].at_ms;
        }
        assert_string_equal(n.list.v[0].id, first_id);
        assert_int_equal(n.list.v[0].at_ms, first_at);
        norm_free(&n);
    }
    triggered_at = triggers[0];
    /* The refund's body under the order topic, and the order's under the refund topic. */
    assert_int_not_equal(normalize_file(&n, "orders/paid", NULL, "refunds_create.json"),
                         CX_NORM_OK);
    norm_free(&n);
    assert_int_not_equal(normalize_file(&n, "refunds/create", NULL, "orders_paid.json"),
                         CX_NORM_OK);
    norm_free(&n);
}

static void test_norm_amounts_and_shapes(void **state)
{
    static const struct {
        const char *topic, *body;
        enum cx_result want;
        const char *kind;
        int64_t minor;
        const char *cur, *msg;
    } rows[] = {
        {"orders/paid", "{\"id\":1,\"total_price\":\"1500\",\"currency\":\"JPY\"}", CX_NORM_OK,
         "payment", 1500, "JPY", NULL},
        {"orders/paid", "{\"id\":1,\"total_price\":\"1.234\",\"currency\":\"kwd\"}", CX_NORM_OK,
         "payment", 1234, "KWD", NULL},
        {"orders/paid", "{\"id\":1,\"total_price\":\"10.5\",\"currency\":\"EUR\"}", CX_NORM_OK,
         "payment", 1050, "EUR", NULL},
        {"orders/paid", "{\"id\":1,\"total_price\":\"0.00\",\"currency\":\"EUR\"}", CX_NORM_OK,
         "custom", 0, "", NULL},
        {"orders/paid", "{\"id\":1,\"total_price\":\"199.001\",\"currency\":\"USD\"}",
         CX_NORM_POISON, NULL, 0, NULL, "shopify order 1: missing or invalid total_price"},
        {"orders/paid", "{\"id\":1,\"total_price\":199.0,\"currency\":\"USD\"}", CX_NORM_POISON,
         NULL, 0, NULL, "shopify order 1: missing or invalid total_price"},
        {"orders/paid", "{\"id\":1,\"total_price\":\"-5.00\",\"currency\":\"USD\"}", CX_NORM_POISON,
         NULL, 0, NULL, "shopify order 1: missing or invalid total_price"},
        {"orders/paid", "{\"id\":1,\"total_price\":\"5.00\"}", CX_NORM_POISON, NULL, 0, NULL,
         "shopify order 1: missing or invalid currency"},
        {"orders/paid", "{\"total_price\":\"5.00\",\"currency\":\"USD\"}", CX_NORM_POISON, NULL, 0,
         NULL, "shopify orders/paid: missing or invalid id"},
        {"orders/paid", "[]", CX_NORM_POISON, NULL, 0, NULL, "shopify: body is not a JSON object"},
        {NULL, "{\"id\":1}", CX_NORM_POISON, NULL, 0, NULL,
         "shopify: no X-Shopify-Topic kept with the webhook"},
        {"orders/create", "{\"id\":1}", CX_NORM_SKIP, NULL, 0, NULL, NULL},
        {"customers/create", "{\"id\":1}", CX_NORM_SKIP, NULL, 0, NULL, NULL},
        {"refunds/create",
         "{\"id\":2,\"order_id\":1,\"transactions\":[{\"kind\":\"refund\",\"status\":"
         "\"pending\",\"amount\":\"5.00\",\"currency\":\"USD\"}]}",
         CX_NORM_SKIP, NULL, 0, NULL, NULL}, /* nothing refunded yet */
        {"refunds/create", "{\"id\":2,\"order_id\":1,\"transactions\":[]}", CX_NORM_SKIP, NULL, 0,
         NULL, NULL},
        {"refunds/create",
         "{\"id\":2,\"order_id\":1,\"transactions\":[{\"kind\":\"refund\",\"status\":"
         "\"success\",\"amount\":\"5.00\",\"currency\":\"USD\"},{\"kind\":\"refund\","
         "\"status\":\"success\",\"amount\":\"5.00\",\"currency\":\"EUR\"}]}",
         CX_NORM_POISON, NULL, 0, NULL,
         "shopify refund of order 1: transactions in two currencies"},
        {"refunds/create",
         "{\"id\":2,\"order_id\":1,\"transactions\":[{\"kind\":\"refund\",\"status\":"
         "\"success\",\"amount\":\"5.00\"}]}",
         CX_NORM_POISON, NULL, 0, NULL, "shopify refund of order 1: transaction without currency"},
        {"refunds/create",
         "{\"id\":2,\"order_id\":1,\"transactions\":[{\"kind\":\"refund\",\"status\":"
         "\"success\",\"amount\":\"5,00\",\"currency\":\"USD\"}]}",
         CX_NORM_POISON, NULL, 0, NULL, "shopify refund of order 1: invalid transaction amount"},
        {"refunds/create", "{\"id\":2,\"transactions\":[]}", CX_NORM_POISON, NULL, 0, NULL,
         "shopify refunds/create: missing or invalid order_id"},
        {"refunds/create", "{\"order_id\":1,\"transactions\":[]}", CX_NORM_POISON, NULL, 0, NULL,
         "shopify refunds/create: refund without id"},
    };
    struct norm n;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_result rc = normalize(&n, rows[i].topic, NULL, rows[i].body, strlen(rows[i].body));
        if (rc != rows[i].want)
            fail_msg("row %zu: got %d, want %d (%s)", i, (int)rc, (int)rows[i].want, n.err.msg);
        if (rc == CX_NORM_OK) {
            const struct cx_event *ev = &n.list.v[0];
            if (strcmp(ev->kind, rows[i].kind) != 0 || ev->amount_minor != rows[i].minor ||
                strcmp(ev->currency, rows[i].cur) != 0 || ev->has_amount != (rows[i].minor != 0))
                fail_msg("row %zu: got %s %" PRId64 " %s", i, ev->kind, ev->amount_minor,
                         ev->currency);
        } else if (n.list.n != 0) {
            fail_msg("row %zu: %zu events left", i, n.list.n);
        }
        if (rows[i].msg && strcmp(n.err.msg, rows[i].msg) != 0)
            fail_msg("row %zu: message \"%s\", want \"%s\"", i, n.err.msg, rows[i].msg);
        norm_free(&n);
    }
}

static void test_keep_headers_and_registered(void **state)
{
    /* Only the topic: the webhook id and the trigger time are not signed, so nothing reads
     * them (issue 11.5). */
    static const char *const want[] = {"x-shopify-topic", "shopify-topic"};
    size_t i;

    (void)state;
    assert_non_null(cx_shopify.keep_headers);
    for (i = 0; i < N_ELEMS(want); i++) {
        assert_non_null(cx_shopify.keep_headers[i]);
        assert_string_equal(cx_shopify.keep_headers[i], want[i]);
    }
    assert_null(cx_shopify.keep_headers[N_ELEMS(want)]);
    assert_ptr_equal(cx_lookup("shopify"), &cx_shopify);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_d1_vector),
        cmocka_unit_test(test_verify_body),
        cmocka_unit_test(test_norm_orders_paid),
        cmocka_unit_test(test_norm_site_kit_cart_attributes),
        cmocka_unit_test(test_norm_d1_body_and_fallback_id),
        cmocka_unit_test(test_norm_refund),
        cmocka_unit_test(test_norm_replay_with_new_headers),
        cmocka_unit_test(test_norm_amounts_and_shapes),
        cmocka_unit_test(test_keep_headers_and_registered),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
