/*
 * Google Ads lead form connector: the production sample from Google's webhook
 * implementation page (/work/shared/fixtures/google_ads/, no vectors.md: the "known
 * answer" is the google_key inside the sample) and a composed full lead
 * (tests/data/google_ads/README.md says where each came from).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cx_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "connector.h"

static enum cx_verdict verify(const char *const *secrets, size_t nsecrets, const char *method,
                              const void *body, size_t len)
{
    struct cx_source src;
    struct cx_header h[1] = {{"Content-Type", "application/json"}};

    cx_test_source_init(&src, "google_ads", "google-leads", secrets, nsecrets);
    return cx_test_verify(&src, method, h, 1, body, len, 1700000000000);
}

/* The key set on the form in Google's sample (lead_form_docs_sample_production.json). */
#define DOCS_KEY "xfdgdgsgfchgvhgfchg"

static void test_docs_sample_verify(void **state)
{
    static const char *const right[] = {DOCS_KEY};
    static const char *const wrong[] = {"xfdgdgsgfchgvhgfchh"};
    static const char *const prefix[] = {"xfdgdgsgfchgvhgfch"};
    static const char *const longer[] = {DOCS_KEY "g"};
    static const char *const rotated[] = {"old-key", DOCS_KEY};
    static const char *const empty[] = {""};
    size_t len;
    unsigned char *body =
        cx_test_slurp("google_ads", "lead_form_docs_sample_production.json", &len);
    char *tampered;

    (void)state;
    assert_int_equal(len, 587); /* byte-exact copy of the shared fixture */
    assert_int_equal(verify(right, 1, "POST", body, len), CX_OK);
    assert_int_equal(verify(wrong, 1, "POST", body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify(prefix, 1, "POST", body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify(longer, 1, "POST", body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify(rotated, 2, "POST", body, len), CX_OK);
    assert_int_equal(verify(rotated, 1, "POST", body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify(right, 0, "POST", body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify(empty, 1, "POST", body, len), CX_BAD_SIGNATURE);
    /* The key is the only authenticity: a body whose key was edited is refused. */
    tampered = malloc(len + 1);
    assert_non_null(tampered);
    memcpy(tampered, body, len + 1);
    {
        char *p = strstr(tampered, DOCS_KEY);
        assert_non_null(p);
        p[0] = 'X';
    }
    assert_int_equal(verify(right, 1, "POST", tampered, len), CX_BAD_SIGNATURE);
    /* GET is not a Google delivery (the daemon answers 405) */
    assert_int_equal(verify(right, 1, "GET", body, len), CX_BAD_REQUEST);
    free(tampered);
    free(body);
}

static void test_verify_shapes(void **state)
{
    static const char *const key[] = {"k-123"};
    static const struct {
        const char *body;
        enum cx_verdict want;
    } rows[] = {
        {"{\"lead_id\":\"L1\",\"google_key\":\"k-123\"}", CX_OK},
        {"{\"google_key\":\"k-123\",\"lead_id\":\"L1\",\"is_test\":true}", CX_OK},
        /* unparseable comes first: the key is inside the body */
        {"not json", CX_BAD_REQUEST},
        {"", CX_BAD_REQUEST},
        {"[{\"google_key\":\"k-123\"}]", CX_BAD_REQUEST},
        {"{\"lead_id\":\"L1\",\"google_key\":\"k-123\"} trailing", CX_BAD_REQUEST},
        {"{\"lead_id\":\"L1\",\"google_key\":\"k-\xff\"}", CX_BAD_REQUEST},
        /* missing or non-string key */
        {"{\"lead_id\":\"L1\"}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"google_key\":\"\"}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"google_key\":123}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"google_key\":null}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"Google_Key\":\"k-123\"}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"google_key\":\"K-123\"}", CX_BAD_SIGNATURE},
        {"{\"lead_id\":\"L1\",\"google_key\":\"k-123 \"}", CX_BAD_SIGNATURE},
        /* right key, but not a lead: 400; wrong key and not a lead: 401 */
        {"{\"google_key\":\"k-123\"}", CX_BAD_REQUEST},
        {"{\"google_key\":\"k-123\",\"lead_id\":42}", CX_BAD_REQUEST},
        {"{\"google_key\":\"nope\"}", CX_BAD_SIGNATURE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = verify(key, 1, "POST", rows[i].body, strlen(rows[i].body));
        if (v != rows[i].want)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].body, (int)v, (int)rows[i].want);
    }
}

/* ---- normalize ---- */

static const struct cx_test_feed feed = {"google_ads", "google-leads", "1790856000000-0",
                                         1790900000000, "google_ads"};

#define DOCS_LEAD                                                                                  \
    "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-AeL6z35IWb6VYiZUygtTfwD3hDlgSGmY-XTTlK3lfV1wcuIwIAaAmMxEALw_wcB"

static void test_norm_docs_sample(void **state)
{
    static const char *const ids[] = {"google_lead", DOCS_LEAD, "gclid",
                                      DOCS_LEAD,     "phone",   "+11234567890"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(cx_test_normalize_file(&n, &feed, "lead_form_docs_sample_production.json"),
                     CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "google_ads:" DOCS_LEAD);
    assert_string_equal(ev->source, "google-leads");
    assert_string_equal(ev->type, "google_ads");
    assert_string_equal(ev->kind, "lead");
    assert_string_equal(ev->raw, "1790856000000-0");
    /* no lead_submit_time in this (older) sample: the arrival time */
    assert_int_equal(ev->at_ms, 1790900000000);
    assert_string_equal(cx_event_stage(ev), "lead");
    assert_int_equal(ev->has_amount, 0);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_search");
    assert_string_equal(ev->touch.platform, "google");
    assert_string_equal(ev->touch.source, "google");
    assert_string_equal(ev->touch.medium, "cpc");
    assert_string_equal(ev->touch.campaign, "123456");
    assert_string_equal(ev->touch.ad, "");
    assert_string_equal(ev->touch.content, "");
    assert_string_equal(ev->touch.term, "");
    assert_int_equal(ev->touch.nclick_ids, 1);
    assert_string_equal(ev->touch.click_ids[0].name, "gclid");
    assert_string_equal(ev->touch.click_ids[0].value, DOCS_LEAD);
    assert_string_equal(ev->attrs, "{\"form_id\":\"1234\",\"full_name\":\"John Doe\"}");
    cx_test_norm_free(&n);
}

static void test_norm_composed_full(void **state)
{
    static const char *const ids[] = {
        "google_lead",
        "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-"
        "0123456789-AaBbCcDdEeFfGgHhIiJjKkLl",
        "gclid",
        "EAIaIQobChMI-test-gclid",
        "email",
        "marco.bianchi@example.it",
        "phone",
        "+39021234567"};
    struct cx_test_norm n;
    const struct cx_event *ev;
    char *json;

    (void)state;
    assert_int_equal(cx_test_normalize_file(&n, &feed, "lead_form_composed_full.json"), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_int_equal(ev->at_ms, 1790856000000); /* lead_submit_time 2026-10-01T12:00:00Z */
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    /* int64 ids past 2^53 keep every digit */
    assert_string_equal(ev->touch.campaign, "21987654321098765");
    assert_string_equal(ev->touch.ad, "9007199254740993");
    assert_string_equal(ev->touch.channel, "paid_search");
    /* a test lead is processed, and marked */
    assert_string_equal(ev->attrs,
                        "{\"is_test\":\"true\",\"form_id\":\"9223372036854775807\",\"adgroup_id\":"
                        "\"159753159753\",\"lead_stage\":\"NEW\",\"full_name\":\"Marco Bianchi\","
                        "\"postal_code\":\"20121\",\"How many employees?\":\"11-50\"}");
    json = cx_event_to_json(ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"campaign\":\"21987654321098765\""));
    assert_non_null(strstr(json, "\"click_ids\":{\"gclid\":\"EAIaIQobChMI-test-gclid\"}"));
    free(json);
    cx_test_norm_free(&n);
}

static void test_norm_submit_time(void **state)
{
    static const struct {
        const char *field; /* the lead_submit_time member, or "" for none */
        int64_t want;
    } rows[] = {
        {",\"lead_submit_time\":\"2024-09-26T12:30:00Z\"", 1727353800000},
        {",\"lead_submit_time\":\"2024-09-26T14:30:00+02:00\"", 1727353800000},
        {",\"lead_submit_time\":\"2024-09-26T14:30:00+0200\"", 1727353800000},
        {",\"lead_submit_time\":\"2024-09-26T07:30:00-05\"", 1727353800000},
        {",\"lead_submit_time\":\"2024-09-26T12:30:00.250Z\"", 1727353800250},
        {",\"lead_submit_time\":\"2024-09-26 12:30:00Z\"", 1727353800000},
        /* unreadable or absent: the arrival time, never a failure */
        {",\"lead_submit_time\":\"26/09/2024 12:30\"", 1790900000000},
        {",\"lead_submit_time\":\"2024-09-26T12:30:00\"", 1790900000000},
        {",\"lead_submit_time\":1727353800", 1790900000000},
        {"", 1790900000000},
    };
    char body[256];
    struct cx_test_norm n;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        snprintf(body, sizeof body, "{\"lead_id\":\"L%zu\",\"google_key\":\"k\"%s}", i,
                 rows[i].field);
        assert_int_equal(cx_test_normalize_str(&n, &feed, body), CX_NORM_OK);
        if (n.list.v[0].at_ms != rows[i].want)
            fail_msg("row %zu: at %lld, want %lld", i, (long long)n.list.v[0].at_ms,
                     (long long)rows[i].want);
        cx_test_norm_free(&n);
    }
}

static void test_norm_shapes(void **state)
{
    static const char *const ids[] = {"google_lead", "L7", "email", "ops@example.com"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    /* campaign_name wins over campaign_id when present; WORK_EMAIL is an email; columns
     * without a value, or with neither id nor name, are dropped; is_test false is not
     * marked; no gcl_id means no click id. */
    assert_int_equal(cx_test_normalize_str(
                         &n, &feed,
                         "{\"lead_id\":\"L7\",\"campaign_id\":55,\"campaign_name\":\"Brand IT\","
                         "\"creative_id\":\"777\",\"is_test\":false,\"user_column_data\":["
                         "{\"column_id\":\"WORK_EMAIL\",\"string_value\":\"Ops@Example.com\"},"
                         "{\"column_id\":\"CITY\"},{\"string_value\":\"orphan\"},"
                         "{\"column_id\":\"FIRST_NAME\",\"string_value\":\"Ada\"},"
                         "{\"column_id\":\"LAST_NAME\",\"string_value\":\"Lovelace\"},"
                         "{\"column_id\":\"PHONE_NUMBER\",\"string_value\":\"12\"}]}"),
                     CX_NORM_OK);
    ev = &n.list.v[0];
    cx_test_expect_identities(ev, ids, N_ELEMS(ids)); /* "12" is no phone number */
    assert_string_equal(ev->touch.campaign, "Brand IT");
    assert_string_equal(ev->touch.ad, "777");
    assert_int_equal(ev->touch.nclick_ids, 0);
    assert_string_equal(ev->touch.channel, "paid_search");
    assert_string_equal(ev->attrs, "{\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}");
    cx_test_norm_free(&n);
}

/* [campaigns] as the daemon hands it over: only google:55 has a name. */
static const char *campaign_name(const void *ctx, const char *platform, const char *id)
{
    (void)ctx;
    return strcmp(platform, "google") == 0 && strcmp(id, "55") == 0 ? "brand_it" : NULL;
}

/* The campaign id stays in its own field (issue 16: one campaign, one row); campaign is the
 * provider's name, else the configured one, else the id. */
static void test_norm_campaign_id(void **state)
{
    static const struct {
        const char *body, *campaign, *campaign_id;
    } rows[] = {
        {"{\"lead_id\":\"L1\",\"campaign_id\":55}", "brand_it", "55"},
        {"{\"lead_id\":\"L2\",\"campaign_id\":\"56\"}", "56", "56"},
        {"{\"lead_id\":\"L3\",\"campaign_id\":55,\"campaign_name\":\"Brand IT\"}", "Brand IT",
         "55"},
        {"{\"lead_id\":\"L4\"}", "", ""},
        {"{\"lead_id\":\"L5\",\"campaign_id\":12345678901234567890}", "12345678901234567890",
         "12345678901234567890"},
    };
    (void)state;
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct cx_test_norm n;
        cx_test_norm_init(&n, "google_ads", "google-leads", "1790856000000-0", 1790900000000,
                          rows[i].body, strlen(rows[i].body));
        n.src.campaign_name = campaign_name;
        assert_int_equal(cx_test_norm_run(&n), CX_NORM_OK);
        assert_string_equal(n.list.v[0].touch.campaign, rows[i].campaign);
        assert_string_equal(n.list.v[0].touch.campaign_id, rows[i].campaign_id);
        char *json = cx_event_to_json(&n.list.v[0]);
        assert_non_null(json);
        assert_true(!rows[i].campaign_id[0] == !strstr(json, "\"campaign_id\""));
        free(json);
        cx_test_norm_free(&n);
    }
}

static void test_norm_poison(void **state)
{
    static char long_id[300];
    struct {
        const char *body;
        const char *msg;
    } rows[] = {
        {"not json", "google_ads: body is not a JSON object"},
        {"[]", "google_ads: body is not a JSON object"},
        {"{\"google_key\":\"k\"}", "google_ads: lead without lead_id"},
        {"{\"lead_id\":\"\",\"google_key\":\"k\"}", "google_ads: lead without lead_id"},
        {"{\"lead_id\":12345,\"google_key\":\"k\"}", "google_ads: lead without lead_id"},
        {long_id, "google_ads: lead_id too long"},
        {"{\"lead_id\":\"a\\u0001b\"}", "google_ads: lead_id is not a usable identity"},
    };
    struct cx_test_norm n;
    size_t i;

    (void)state;
    snprintf(long_id, sizeof long_id, "{\"lead_id\":\"%0200d\"}", 7);
    for (i = 0; i < N_ELEMS(rows); i++) {
        cx_test_expect_refused(&n, i, cx_test_normalize_str(&n, &feed, rows[i].body),
                               CX_NORM_POISON, rows[i].msg);
        cx_test_norm_free(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_sample_verify), cmocka_unit_test(test_verify_shapes),
        cmocka_unit_test(test_norm_docs_sample),   cmocka_unit_test(test_norm_composed_full),
        cmocka_unit_test(test_norm_submit_time),   cmocka_unit_test(test_norm_shapes),
        cmocka_unit_test(test_norm_poison),        cmocka_unit_test(test_norm_campaign_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
