/*
 * Meta Conversions API destination: Meta's own known-answer hashes, fbc, and the built
 * payload compared field by field with the official examples in tests/data/meta_capi/
 * (vectors.md names the pages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ads.h"
#include "common.h"
#include "cx_test.h"

static cJSON *fixture(const char *name)
{
    size_t len;
    unsigned char *b = cx_test_slurp("meta_capi", name, &len);
    cJSON *j = cJSON_ParseWithLength((const char *)b, len);
    free(b);
    assert_non_null(j);
    return j;
}

static cJSON *facts(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static void check_hash(int (*norm)(const char *, char *, size_t), const char *in,
                       const char *want_norm, const char *want_hash)
{
    char out[256], hex[DST_HASH_HEX];

    assert_int_equal(norm(in, out, sizeof out), 0);
    assert_string_equal(out, want_norm);
    assert_int_equal(dst_sha256_hex(out, strlen(out), hex), 0);
    assert_string_equal(hex, want_hash);
}

/* Customer Information Parameters' examples (vectors.md). */
static void test_meta_hash_vectors(void **state)
{
    char out[64];
    (void)state;
    check_hash(dst_meta_norm_email, "  John_Smith@gmail.com ", "john_smith@gmail.com",
               "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f");
    /* journeyd's phones are E.164: the US example with its country code. */
    check_hash(dst_meta_norm_phone, "+1 (650)555-1212", "16505551212",
               "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176");
    check_hash(dst_meta_norm_name, "Mary", "mary",
               "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec");
    check_hash(dst_meta_norm_name, "\xec\xa0\x95", "\xec\xa0\x95",
               "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14");
    check_hash(dst_meta_norm_name, "Val\xc3\xa9ry", "val\xc3\xa9ry",
               "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c");
    /* Capital É (U+00C9) lowers to é, punctuation goes: the same hash. */
    check_hash(dst_meta_norm_name, " VAL\xc3\x89RY. ", "val\xc3\xa9ry",
               "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c");
    /* Using the API's ph hashes: the PHP sample's phones. */
    check_hash(dst_meta_norm_phone, "+1 234 567 8901", "12345678901",
               "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4");
    assert_int_equal(dst_meta_norm_email("no-at-sign", out, sizeof out), -1);
    assert_int_equal(dst_meta_norm_email("   ", out, sizeof out), -1);
    assert_int_equal(dst_meta_norm_phone("+12", out, sizeof out), -1);
    assert_int_equal(dst_meta_norm_name("..", out, sizeof out), -1);
}

static void test_meta_fbc(void **state)
{
    char out[128];
    (void)state;
    assert_int_equal(
        dst_meta_fbc("AbCdEfGhIjKlMnOpQrStUvWxYz1234567890", 1554763741205, out, sizeof out), 0);
    /* The fbp-and-fbc page's example value, case kept. */
    assert_string_equal(out, "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890");
    assert_int_equal(dst_meta_fbc("", 1, out, sizeof out), -1);
    assert_int_equal(dst_meta_fbc("abc", 1, out, 8), -1);
}

/* Every member of the official example is in ours with the same value; lead_event_source
 * is the tool's name (journeyd, where the example says Salesforce). */
static void test_meta_crm_event_matches_official_example(void **state)
{
    struct dst_config cfg = {.stages = "qualified:my lead stage"};
    cJSON *want = fixture("conversion_leads_example.json");
    cJSON *f = facts("{\"kind\":\"stage_change\",\"at\":\"2021-04-06T07:23:53Z\","
                     "\"contact\":\"c_1\",\"stage\":\"qualified\",\"previous_stage\":\"lead\","
                     "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"1234567890123456\"}]}");
    char why[DST_WHY_MAX] = "";
    cJSON *req = dst_meta_request(&cfg, f, 1617693833 + 60, NULL, why, sizeof why);
    const cJSON *ev, *ud, *cd;
    char *lead_txt;
    (void)state;

    assert_non_null(req);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "data")), 1);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "data"), 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "event_name")->valuestring,
                        cJSON_GetObjectItem(want, "event_name")->valuestring);
    assert_true(cJSON_GetObjectItem(ev, "event_time")->valuedouble ==
                cJSON_GetObjectItem(want, "event_time")->valuedouble);
    assert_string_equal(cJSON_GetObjectItem(ev, "action_source")->valuestring,
                        cJSON_GetObjectItem(want, "action_source")->valuestring);
    ud = cJSON_GetObjectItem(ev, "user_data");
    /* lead_id a JSON number, the digits exactly (never through a double). */
    assert_true(cJSON_IsRaw(cJSON_GetObjectItem(ud, "lead_id")));
    lead_txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(want, "user_data"));
    assert_string_equal(lead_txt, "{\"lead_id\":1234567890123456}");
    free(lead_txt);
    assert_string_equal(cJSON_GetObjectItem(ud, "lead_id")->valuestring, "1234567890123456");
    cd = cJSON_GetObjectItem(ev, "custom_data");
    assert_string_equal(
        cJSON_GetObjectItem(cd, "event_source")->valuestring,
        cJSON_GetObjectItem(cJSON_GetObjectItem(want, "custom_data"), "event_source")->valuestring);
    assert_string_equal(cJSON_GetObjectItem(cd, "lead_event_source")->valuestring, "journeyd");
    /* The dedup key: the lead and the stage, the same whoever sends it again. */
    assert_string_equal(cJSON_GetObjectItem(ev, "event_id")->valuestring,
                        "jd.1234567890123456.qualified");
    cJSON_Delete(req);
    cJSON_Delete(f);
    cJSON_Delete(want);
}

/* A jump from lead to won sends every mapped stage in between, earlier first (Meta: "all
 * previous stages should have been sent beforehand"); lead ids beyond 2^53 stay exact. */
static void test_meta_stage_jump_in_order(void **state)
{
    struct dst_config cfg = {0};
    cJSON *f = facts("{\"kind\":\"deal_won\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"won\","
                     "\"previous_stage\":\"lead\",\"contact\":\"c_9\",\"identities\":["
                     "{\"type\":\"meta_lead\",\"value\":\"98765432109876543\"},"
                     "{\"type\":\"email\",\"value\":\"giulia.rossi@example.it\"}]}");
    char why[DST_WHY_MAX] = "";
    cJSON *req = dst_meta_request(&cfg, f, 1790856000 + 3600, NULL, why, sizeof why);
    const char *want[] = {"Marketing Qualified Lead", "Sales Opportunity", "Converted"};
    cJSON *data;
    char *txt;
    int i;
    (void)state;

    assert_non_null(req);
    data = cJSON_GetObjectItem(req, "data");
    assert_int_equal(cJSON_GetArraySize(data), 3);
    for (i = 0; i < 3; i++)
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(data, i), "event_name")->valuestring, want[i]);
    txt = cJSON_PrintUnformatted(req);
    assert_non_null(strstr(txt, "\"lead_id\":98765432109876543,"));
    /* Never in clear: the e-mail leaves only as its hash. */
    assert_null(strstr(txt, "giulia"));
    assert_non_null(strstr(txt, "\"em\":[\""));
    free(txt);
    cJSON_Delete(req);
    cJSON_Delete(f);
}

/* The Purchase compared with "Using the API"'s example: event_name, event_time, ph, fbc,
 * custom_data.value and currency equal; action_source is system_generated (a CRM payment,
 * not a browser: website would need the browser's user agent and URL). */
static void test_meta_purchase_matches_official_example(void **state)
{
    struct dst_config cfg = {0};
    cJSON *want = fixture("using_the_api_example.json");
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(want, "data"), 0);
    const cJSON *wud = cJSON_GetObjectItem(w, "user_data");
    const cJSON *wcd = cJSON_GetObjectItem(w, "custom_data");
    cJSON *f = facts("{\"kind\":\"payment\",\"at\":\"2021-10-06T20:38:08Z\",\"stage\":\"paid\","
                     "\"previous_stage\":\"lead\",\"payment_key\":\"pi_123\","
                     "\"amount\":{\"minor\":10020,\"currency\":\"USD\"},"
                     "\"click_at\":\"2019-04-08T22:49:01.205Z\","
                     "\"click_ids\":{\"fbclid\":\"AbCdEfGhIjKlMnOpQrStUvWxYz1234567890\"},"
                     "\"identities\":[{\"type\":\"phone\",\"value\":\"+12345678901\"}]}");
    char why[DST_WHY_MAX] = "";
    cJSON *req = dst_meta_request(&cfg, f, 1633552688 + 5, NULL, why, sizeof why);
    const cJSON *ev, *ud, *cd;
    (void)state;

    assert_non_null(req);
    /* No lead id: no CRM stage event, only the Purchase. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "data")), 1);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "data"), 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "event_name")->valuestring,
                        cJSON_GetObjectItem(w, "event_name")->valuestring);
    assert_true(cJSON_GetObjectItem(ev, "event_time")->valuedouble ==
                cJSON_GetObjectItem(w, "event_time")->valuedouble);
    assert_string_equal(cJSON_GetObjectItem(ev, "action_source")->valuestring, "system_generated");
    assert_string_equal(cJSON_GetObjectItem(ev, "event_id")->valuestring, "jd.pay.pi_123");
    ud = cJSON_GetObjectItem(ev, "user_data");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(ud, "ph"), 0)->valuestring,
                        cJSON_GetArrayItem(cJSON_GetObjectItem(wud, "ph"), 0)->valuestring);
    assert_string_equal(cJSON_GetObjectItem(ud, "fbc")->valuestring,
                        cJSON_GetObjectItem(wud, "fbc")->valuestring);
    cd = cJSON_GetObjectItem(ev, "custom_data");
    {
        /* Raw exact decimal; parsed back it is the example's number. */
        char *t = cJSON_PrintUnformatted(cd);
        cJSON *back = cJSON_Parse(t);
        assert_true(cJSON_GetObjectItem(back, "value")->valuedouble ==
                    cJSON_GetObjectItem(wcd, "value")->valuedouble);
        assert_non_null(strstr(t, "\"value\":100.20"));
        cJSON_Delete(back);
        free(t);
    }
    assert_string_equal(cJSON_GetObjectItem(cd, "currency")->valuestring,
                        cJSON_GetObjectItem(wcd, "currency")->valuestring);
    cJSON_Delete(req);
    cJSON_Delete(f);
    cJSON_Delete(want);
}

/* What is never sent, each with its reason. */
static void test_meta_skips(void **state)
{
    static const struct {
        const char *facts;
        int64_t now;
        const char *why;
    } cases[] = {
        {"{\"kind\":\"stage_change\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"qualified\","
         "\"consent_refused\":true,\"identities\":[{\"type\":\"meta_lead\",\"value\":\"1\"}]}",
         1790856000, "consent for advertising refused"},
        {"{\"kind\":\"stage_change\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"qualified\","
         "\"attributes\":{\"consent_ads\":\"no\"},"
         "\"identities\":[{\"type\":\"email\",\"value\":\"a@b.it\"}]}",
         1790856000, "not from a Meta lead ad and no fbclid"},
        {"{\"kind\":\"stage_change\",\"at\":\"2026-09-01T12:00:00Z\",\"stage\":\"qualified\","
         "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"1\"}]}",
         1790856000, "older than the 7 days Meta accepts"},
        {"{\"kind\":\"stage_change\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"visit\","
         "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"1\"}]}",
         1790856000, "no mapped stage newly reached"},
        {"{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"paid\","
         "\"click_ids\":{\"fbclid\":\"x\"}}",
         1790856000, "payment without a usable amount or payment key"},
        {"{\"kind\":\"payment\"}", 1790856000, "facts without a valid \"at\""},
    };
    struct dst_config cfg = {0};
    size_t i;
    (void)state;

    for (i = 0; i < N_ELEMS(cases); i++) {
        char why[DST_WHY_MAX] = "";
        cJSON *f = facts(cases[i].facts);
        cJSON *req = dst_meta_request(&cfg, f, cases[i].now, NULL, why, sizeof why);
        if (req)
            fail_msg("case %zu built a request", i);
        assert_string_equal(why, cases[i].why);
        cJSON_Delete(f);
    }
}

static void test_consent_predicate(void **state)
{
    static const struct {
        const char *attrs;
        int refused;
    } cases[] = {
        {"{\"consent_ads\":\"no\"}", 1},
        {"{\"consent_ads\":\" NO \"}", 1},
        {"{\"consent_ads\":\"False\"}", 1},
        {"{\"consent_ads\":\"0\"}", 1},
        {"{\"consent_ads\":false}", 1},
        {"{\"consent_ads\":0}", 1},
        {"{\"consent_ads\":\"yes\"}", 0},
        {"{\"consent_ads\":\"nope\"}", 0},
        {"{\"other\":\"no\"}", 0},
        {"{}", 0},
        {"[]", 0},
    };
    size_t i;
    (void)state;

    for (i = 0; i < N_ELEMS(cases); i++) {
        cJSON *a = cJSON_Parse(cases[i].attrs);
        if (dst_consent_refused(a, "consent_ads") != cases[i].refused)
            fail_msg("case %zu (%s)", i, cases[i].attrs);
        cJSON_Delete(a);
    }
    assert_int_equal(dst_consent_refused(NULL, "consent_ads"), 0);
    {
        cJSON *a = cJSON_Parse("{\"consent_ads\":\"no\"}");
        assert_int_equal(dst_consent_refused(a, NULL), 0); /* no consent_field configured */
        cJSON_Delete(a);
    }
}

/* The type as the outbox calls it: URL, token in a header (never in the URL), dedup,
 * and test_event_code in dry-run mode. */
static void test_meta_type_build(void **state)
{
    const char *facts_txt =
        "{\"kind\":\"stage_change\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"qualified\","
        "\"previous_stage\":\"lead\",\"contact\":\"c_7\",\"name\":\"Giulia Rossi\","
        "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"123456789012345\"},"
        "{\"type\":\"phone\",\"value\":\"+393331234567\"}]}";
    struct dst_config cfg = {.name = "meta",
                             .type = "meta_capi",
                             .pixel_id = "1234567890",
                             .access_token = "EAAB-test-token-0123456789",
                             .api_base = "http://127.0.0.1:9/v25.0"};
    struct dst_message msg = {.kind = DST_STAGE_CHANGED, .facts = facts_txt};
    struct dst_context ctx = {.now_s = 1790856000 + 10};
    struct dst_request out;
    char why[DST_WHY_MAX] = "";
    char err[64];
    (void)state;

    msg.facts_len = strlen(facts_txt);
    assert_int_equal(dst_meta_capi.check(&cfg, err, sizeof err), 0);
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_string_equal(out.method, "POST");
    assert_string_equal(out.url, "http://127.0.0.1:9/v25.0/1234567890/events");
    assert_null(strstr(out.url, "token"));
    assert_int_equal(out.nheaders, 2);
    assert_string_equal(out.headers[1], "Authorization: Bearer EAAB-test-token-0123456789");
    assert_string_equal(out.dedup, "jd.123456789012345.qualified");
    assert_null(strstr(out.body, "Giulia"));
    assert_null(strstr(out.body, "3331234567"));
    assert_non_null(strstr(out.body, "\"fn\":[\""));
    assert_non_null(strstr(out.body, "\"ln\":[\""));
    assert_non_null(strstr(out.body, "\"external_id\":[\""));
    assert_null(strstr(out.body, "test_event_code"));
    free(out.body);

    cfg.dry_run = 1;
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_non_null(strstr(out.body, "\"test_event_code\":\"JOURNEYD_DRY_RUN\""));
    free(out.body);

    /* A configured Test Events code wins over the dry-run one, and goes out live too. */
    cfg.test_event_code = "TEST12345";
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_non_null(strstr(out.body, "\"test_event_code\":\"TEST12345\""));
    free(out.body);
    cfg.dry_run = 0;
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_non_null(strstr(out.body, "\"test_event_code\":\"TEST12345\""));
    free(out.body);

    cfg.pixel_id = "12ab";
    assert_int_equal(dst_meta_capi.check(&cfg, err, sizeof err), -1);
}

/* A paying event leaves a contact.stage_changed and a contact.paid with the same facts:
 * the first sends only the stages, the second only the Purchase, so no event_id leaves in
 * two messages. */
static void test_meta_message_kinds_split(void **state)
{
    const char *facts_txt =
        "{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"paid\","
        "\"previous_stage\":\"lead\",\"stages\":[\"qualified\",\"opportunity\",\"won\","
        "\"paid\"],\"contact\":\"c_8\",\"payment_key\":\"pi_1\","
        "\"amount\":{\"minor\":1000,\"currency\":\"EUR\"},\"click_ids\":{\"fbclid\":\"IwAR1\"},"
        "\"identities\":[{\"type\":\"meta_lead\",\"value\":\"123456789012345\"}]}";
    struct dst_config cfg = {.name = "meta",
                             .type = "meta_capi",
                             .pixel_id = "1234567890",
                             .access_token = "EAAB-test-token-0123456789"};
    struct dst_message msg = {.kind = DST_STAGE_CHANGED, .facts = facts_txt};
    struct dst_context ctx = {.now_s = 1790856000 + 10};
    struct dst_request out;
    char why[DST_WHY_MAX] = "";
    (void)state;

    msg.facts_len = strlen(facts_txt);
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_non_null(strstr(out.body, "\"jd.123456789012345.qualified\""));
    assert_non_null(strstr(out.body, "\"jd.123456789012345.won\""));
    assert_null(strstr(out.body, "Purchase"));
    free(out.body);

    msg.kind = DST_PAID;
    assert_int_equal(dst_meta_capi.build(&cfg, &msg, &ctx, &out, why, sizeof why), DST_BUILT);
    assert_non_null(strstr(out.body, "\"event_id\":\"jd.pay.pi_1\""));
    assert_null(strstr(out.body, "jd.123456789012345."));
    free(out.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_hash_vectors),
        cmocka_unit_test(test_meta_fbc),
        cmocka_unit_test(test_meta_crm_event_matches_official_example),
        cmocka_unit_test(test_meta_stage_jump_in_order),
        cmocka_unit_test(test_meta_purchase_matches_official_example),
        cmocka_unit_test(test_meta_skips),
        cmocka_unit_test(test_consent_predicate),
        cmocka_unit_test(test_meta_type_build),
        cmocka_unit_test(test_meta_message_kinds_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
