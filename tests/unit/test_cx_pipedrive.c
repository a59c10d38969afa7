/*
 * Pipedrive connector: HTTP Basic credentials, normalization of Pipedrive's documented v2
 * payloads (tests/data/pipedrive/README.md), v1 bodies, stage mappings and the person
 * look-up of a deal.
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

extern const struct cx_connector cx_pipedrive;

/* ---- verify ---- */

static enum cx_verdict verify(const char *user, const char *pass, const char *auth,
                              const char *body)
{
    struct cx_source src;
    struct cx_header h[2] = {{"Content-Type", "application/json"}, {"Authorization", auth}};

    cx_test_source_init(&src, "pipedrive", "pipedrive", NULL, 0);
    src.username = user;
    src.password = pass;
    return cx_test_verify(&src, "POST", h, auth ? 2 : 1, body, strlen(body), 1700000000000);
}

static void test_basic_auth(void **state)
{
    /* RFC 7617 §2's own example: "Aladdin" / "open sesame" is
     * "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="; "user:pass" is "dXNlcjpwYXNz" (base64 by hand). */
    static const struct {
        const char *user, *pass, *auth;
        enum cx_verdict want;
    } rows[] = {
        {"Aladdin", "open sesame", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", CX_OK},
        {"Aladdin", "open sesame", "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", CX_OK}, /* scheme case */
        {"Aladdin", "open sesame", "Basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ== ", CX_OK},
        {"user", "pass", "Basic dXNlcjpwYXNz", CX_OK},
        {"user", "pass2", "Basic dXNlcjpwYXNz", CX_BAD_SIGNATURE}, /* wrong password */
        {"user2", "pass", "Basic dXNlcjpwYXNz", CX_BAD_SIGNATURE}, /* wrong user */
        {"use", "rpass", "Basic dXNlcjpwYXNz", CX_BAD_SIGNATURE},  /* the split matters */
        {"user", "pas", "Basic dXNlcjpwYXNz", CX_BAD_SIGNATURE},   /* a prefix is not enough */
        {"user", "pass", "Bearer dXNlcjpwYXNz", CX_BAD_SIGNATURE}, /* another scheme */
        {"user", "pass", "Basic dXNlcjpwYXNz!", CX_BAD_SIGNATURE}, /* not base64 */
        {"user", "pass", "Basic dXNlcnBhc3M=", CX_BAD_SIGNATURE},  /* "userpass": no ':' */
        {"user", "pass", "Basic ", CX_BAD_SIGNATURE},
        {"user", "pass", "Basic", CX_BAD_SIGNATURE},
        {"user", "pass", NULL, CX_BAD_SIGNATURE},                     /* no header */
        {NULL, NULL, "Basic dXNlcjpwYXNz", CX_BAD_SIGNATURE},         /* nothing configured */
        {"user", "", "Basic dXNlcjo=", CX_BAD_SIGNATURE},             /* an empty password never */
        {"user", "pass", "Basic dXNlcjpwYXNzAA==", CX_BAD_SIGNATURE}, /* "user:pass\0" */
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = verify(rows[i].user, rows[i].pass, rows[i].auth, "{}");
        if (v != rows[i].want)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].auth ? rows[i].auth : "(none)",
                     (int)v, (int)rows[i].want);
    }
}

static void test_verify_body(void **state)
{
    size_t len;
    unsigned char *body = cx_test_slurp("pipedrive", "v2_create_person.json", &len);

    (void)state;
    assert_int_equal(verify("user", "pass", "Basic dXNlcjpwYXNz", (const char *)body), CX_OK);
    assert_int_equal(verify("user", "pass", "Basic dXNlcjpwYXNz", "[]"), CX_BAD_REQUEST);
    assert_int_equal(verify("user", "pass", "Basic dXNlcjpwYXNz", "{"), CX_BAD_REQUEST);
    assert_int_equal(verify("user", "pass", "Basic dXNlcjpwYXNz", ""), CX_BAD_REQUEST);
    /* credentials first: a wrong password with a bad body is a 401 */
    assert_int_equal(verify("user", "nope", "Basic dXNlcjpwYXNz", "{"), CX_BAD_SIGNATURE);
    free(body);
}

/* ---- normalization ---- */

static const struct cx_test_feed feed = {"pipedrive", "pipedrive", "1669295936000-0", 1669296000000,
                                         "pipedrive"};

static void test_norm_create_person(void **state)
{
    static const char *const ids[] = {"pipedrive_person", "8"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_create_person.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "pipedrive:person:8:created");
    assert_string_equal(ev->source, "pipedrive");
    assert_string_equal(ev->type, "pipedrive");
    assert_string_equal(ev->raw, "1669295936000-0");
    assert_string_equal(ev->kind, "lead");
    assert_string_equal(cx_event_stage(ev), "lead");
    assert_int_equal(ev->at_ms, 1669295935665);       /* meta.timestamp 2022-11-24T13:18:55.665Z */
    cx_test_expect_identities(ev, ids, N_ELEMS(ids)); /* emails[] and phones[] are empty */
    assert_int_equal(ev->has_touch, 0);
    assert_int_equal(ev->has_amount, 0);
    assert_string_equal(ev->attrs, "{\"pipedrive_entity\":\"person\",\"name\":\"Sample\","
                                   "\"first_name\":\"Sample\"}");
    cx_test_norm_free(&n);
}

static void test_norm_change_person(void **state)
{
    static const char *const ids[] = {"pipedrive_person", "8"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_change_person.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "pipedrive:person:8:1669303115");
    assert_string_equal(ev->kind, "custom"); /* CRM activity, no stage */
    assert_string_equal(cx_event_stage(ev), "");
    assert_int_equal(ev->at_ms, 1669303115616);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_string_equal(ev->attrs, "{\"pipedrive_entity\":\"person\",\"name\":\"Sample Person\","
                                   "\"first_name\":\"Sample Person\"}");
    cx_test_norm_free(&n);
}

static void test_norm_create_deal(void **state)
{
    static const char *const ids[] = {"pipedrive_person", "8", "custom:pipedrive_deal", "8"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_create_deal.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "pipedrive:deal:8:created");
    assert_string_equal(ev->kind, "stage_change"); /* an open deal: qualified by default */
    assert_string_equal(ev->stage, "qualified");
    assert_int_equal(ev->at_ms, 1669295936089);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_int_equal(ev->has_amount, 0); /* a deal's value is not revenue */
    assert_string_equal(ev->attrs, "{\"pipedrive_entity\":\"deal\",\"title\":\"Sample Org deal\","
                                   "\"status\":\"open\",\"value\":\"100\",\"currency\":\"EUR\","
                                   "\"stage_id\":\"2\",\"pipeline_id\":\"1\"}");
    cx_test_norm_free(&n);
}

static void test_norm_deal_stages(void **state)
{
    static const struct {
        const char *from, *to; /* same-length text replaced in v2_create_deal.json */
        const char *stages;
        const char *kind, *stage;
    } rows[] = {
        {NULL, NULL, NULL, "stage_change", "qualified"},
        {NULL, NULL, "2:opportunity", "stage_change", "opportunity"},
        {NULL, NULL, " 1:lead , 2 : opportunity ", "stage_change", "opportunity"},
        {NULL, NULL, "3:opportunity", "stage_change", "qualified"}, /* another stage */
        {NULL, NULL, "2:lost", "deal_lost", ""},
        {NULL, NULL, "2:won", "deal_won", "won"},
        {NULL, NULL, "2:nonsense", "stage_change", "qualified"}, /* not a stage: default */
        {"\"status\": \"open\"", "\"status\": \"won\" ", "2:opportunity", "deal_won", ""},
        {"\"status\": \"open\"", "\"status\": \"lost\"", NULL, "deal_lost", ""},
    };
    size_t len, i;
    unsigned char *orig = cx_test_slurp("pipedrive", "v2_create_deal.json", &len);
    char body[2048];
    struct cx_test_norm n;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        assert_true(len < sizeof body);
        memcpy(body, orig, len + 1);
        if (rows[i].from) {
            char *at = strstr(body, rows[i].from);
            assert_non_null(at);
            assert_int_equal(strlen(rows[i].from), strlen(rows[i].to));
            memcpy(at, rows[i].to, strlen(rows[i].to));
        }
        cx_test_norm_feed(&n, &feed, body, strlen(body));
        n.src.stages = rows[i].stages;
        if (cx_test_norm_fetch(&n, NULL) != CX_NORM_OK)
            fail_msg("row %zu: %s", i, n.err.msg);
        if (strcmp(n.list.v[0].kind, rows[i].kind) != 0 ||
            strcmp(n.list.v[0].stage, rows[i].stage) != 0)
            fail_msg("row %zu: got %s/%s, want %s/%s", i, n.list.v[0].kind, n.list.v[0].stage,
                     rows[i].kind, rows[i].stage);
        cx_test_norm_free(&n);
    }
    free(orig);
}

static void test_norm_person_contacts_and_v1(void **state)
{
    /* v2 person with emails and phones */
    const char *v2 =
        "{\"meta\":{\"action\":\"create\",\"entity\":\"person\",\"entity_id\":\"42\","
        "\"id\":\"0d3c5d4e-0000-4000-8000-000000000042\",\"timestamp\":\"2026-10-01T12:00:00Z\"},"
        "\"data\":{\"id\":42,\"name\":\"Giulia "
        "Rossi\",\"emails\":[{\"value\":\"Giulia@Example.IT\","
        "\"primary\":true,\"label\":\"work\"},{\"value\":\"\",\"primary\":false}],"
        "\"phones\":[{\"value\":\"02 1234 5678\",\"primary\":true}]},\"previous\":null}";
    static const char *const v2_ids[] = {"pipedrive_person",  "42",    "email",
                                         "giulia@example.it", "phone", "+390212345678"};
    /* v1 (Pipedrive's v1 guide; shape also in Pipedream's sample): current, email[], phone[]
     * and no event id */
    const char *v1 =
        "{\"v\":1,\"meta\":{\"v\":1,\"action\":\"added\",\"object\":\"person\",\"id\":42,"
        "\"company_id\":1,\"user_id\":2,\"timestamp\":1790856000,"
        "\"timestamp_micro\":1790856000123456,\"webhook_id\":\"7\"},"
        "\"current\":{\"id\":42,\"name\":\"Giulia Rossi\",\"email\":[{\"value\":"
        "\"giulia@example.it\",\"primary\":true}],\"phone\":[{\"value\":\"+39 02 1234 5678\"}]},"
        "\"previous\":null,\"event\":\"added.person\",\"retry\":0}";
    /* v1 deal won, person_id as an object (the v1 API's shape) */
    const char *v1_deal =
        "{\"v\":1,\"meta\":{\"v\":1,\"action\":\"updated\",\"object\":\"deal\",\"id\":77,"
        "\"timestamp\":1790856100},\"current\":{\"id\":77,\"status\":\"won\",\"person_id\":"
        "{\"value\":42,\"name\":\"Giulia Rossi\"},\"value\":2490.5,\"currency\":\"EUR\"},"
        "\"event\":\"updated.deal\"}";
    static const char *const v1_deal_ids[] = {"pipedrive_person", "42", "custom:pipedrive_deal",
                                              "77"};
    struct cx_test_norm n;

    (void)state;
    cx_test_norm_feed(&n, &feed, v2, strlen(v2));
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1790856000000);
    cx_test_expect_identities(&n.list.v[0], v2_ids, N_ELEMS(v2_ids));
    cx_test_norm_free(&n);

    cx_test_norm_feed(&n, &feed, v1, strlen(v1));
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "pipedrive:person:42:created");
    assert_string_equal(n.list.v[0].kind, "lead");
    assert_int_equal(n.list.v[0].at_ms, 1790856000123); /* timestamp_micro */
    cx_test_expect_identities(&n.list.v[0], v2_ids, N_ELEMS(v2_ids));
    cx_test_norm_free(&n);

    /* A v1 change names the same key as v2's (update_time "YYYY-MM-DD HH:MM:SS", UTC),
     * and a retry (the same body again) the same key as the first delivery. */
    {
        const char *v1_change = "{\"meta\":{\"action\":\"updated\",\"object\":\"person\",\"id\":8,"
                                "\"timestamp\":1669303116},\"current\":{\"id\":8,\"update_time\":"
                                "\"2022-11-24 15:18:35\"}}";
        for (int k = 0; k < 2; k++) {
            cx_test_norm_feed(&n, &feed, v1_change, strlen(v1_change));
            assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
            assert_string_equal(n.list.v[0].id, "pipedrive:person:8:1669303115");
            cx_test_norm_free(&n);
        }
    }

    cx_test_norm_feed(&n, &feed, v1_deal, strlen(v1_deal));
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "pipedrive:v1:updated.deal:77:1790856100");
    assert_string_equal(n.list.v[0].kind, "deal_won");
    assert_int_equal(n.list.v[0].at_ms, 1790856100000); /* Unix seconds */
    cx_test_expect_identities(&n.list.v[0], v1_deal_ids, N_ELEMS(v1_deal_ids));
    assert_string_equal(n.list.v[0].attrs, "{\"pipedrive_entity\":\"deal\",\"status\":\"won\","
                                           "\"value\":\"2490.5\",\"currency\":\"EUR\"}");
    cx_test_norm_free(&n);
}

/* Sales activity (DESIGN §6b): a done activity is a sales_touch with its owner; planned
 * ones are not responses yet. */
static void test_norm_activity(void **state)
{
    static const char *const ids[] = {"pipedrive_person", "10", "custom:pipedrive_deal", "10"};
    struct cx_test_norm n;
    const struct cx_event *ev;
    char *json;

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_create_activity.json"); /* planned meeting */
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_SKIP);
    cx_test_norm_free(&n);
    cx_test_norm_feed_file(&n, &feed, "v2_change_activity.json"); /* renamed, still planned */
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_SKIP);
    cx_test_norm_free(&n);

    cx_test_norm_feed_file(&n, &feed, "v2_create_activity_done.json"); /* a logged call */
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    /* Keyed on the object, as reconciliation names it (listing.c). */
    assert_string_equal(ev->id, "pipedrive:activity:2:created");
    assert_string_equal(ev->kind, "sales_touch");
    assert_string_equal(ev->stage, "");
    assert_int_equal(ev->at_ms, 1669303544461); /* 2022-11-24T15:25:44.461Z */
    assert_string_equal(ev->owner, "pipedrive:12415231");
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_string_equal(ev->attrs, "{\"pipedrive_entity\":\"activity\",\"activity_id\":\"2\","
                                   "\"activity_type\":\"call\"}");
    json = cx_event_to_json(ev);
    assert_non_null(strstr(json, "\"owner\":\"pipedrive:12415231\""));
    assert_null(strstr(json, "Call with friends")); /* the subject stays in Pipedrive */
    free(json);
    cx_test_norm_free(&n);

    cx_test_norm_feed_file(&n, &feed, "v2_change_activity_done.json"); /* the meeting marked done */
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "pipedrive:activity:2:1669303693");
    assert_string_equal(ev->kind, "sales_touch");
    assert_int_equal(ev->at_ms, 1669303693375); /* 2022-11-24T15:28:13.375Z */
    assert_string_equal(ev->owner, "pipedrive:12415231");
    cx_test_norm_free(&n);
}

/* v1 activities: user_id is the owner, marked_as_done_time ("YYYY-MM-DD HH:MM:SS", UTC) the
 * time; an edit of an activity already done is no new response. */
static void test_norm_activity_v1(void **state)
{
    static const char done_v1[] =
        "{\"v\":1,\"event\":\"updated.activity\",\"meta\":{\"v\":1,\"action\":\"updated\","
        "\"object\":\"activity\",\"id\":311,\"timestamp\":1790856300,"
        "\"timestamp_micro\":1790856300123456},\"current\":{\"id\":311,\"user_id\":1236582,"
        "\"done\":true,\"type\":\"email\",\"person_id\":22,\"lead_id\":"
        "\"b1810230-6c0d-11ed-9826-a53d0eb706a5\",\"marked_as_done_time\":"
        "\"2026-10-01 09:30:00\"},\"previous\":{\"id\":311,\"done\":false}}";
    static const char again_v1[] =
        "{\"v\":1,\"event\":\"updated.activity\",\"meta\":{\"v\":1,\"action\":\"updated\","
        "\"object\":\"activity\",\"id\":311,\"timestamp\":1790856400},\"current\":{\"id\":311,"
        "\"user_id\":1236582,\"done\":true,\"person_id\":22},\"previous\":{\"id\":311,"
        "\"done\":true}}";
    static const char *const ids[] = {"pipedrive_person", "22", "custom:pipedrive_lead",
                                      "b1810230-6c0d-11ed-9826-a53d0eb706a5"};
    struct cx_test_norm n;

    (void)state;
    cx_test_norm_feed(&n, &feed, done_v1, strlen(done_v1));
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_string_equal(n.list.v[0].kind, "sales_touch");
    assert_int_equal(n.list.v[0].at_ms, 1790847000000); /* 2026-10-01T09:30:00Z */
    assert_string_equal(n.list.v[0].owner, "pipedrive:1236582");
    cx_test_expect_identities(&n.list.v[0], ids, N_ELEMS(ids));
    cx_test_norm_free(&n);
    cx_test_norm_feed(&n, &feed, again_v1, strlen(again_v1));
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_SKIP);
    cx_test_norm_free(&n);
}

static void test_norm_lead(void **state)
{
    static const char *const ids[] = {
        "custom:pipedrive_lead", "b1810230-6c0d-11ed-9826-a53d0eb706a5", "pipedrive_person", "11"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_create_lead.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "pipedrive:lead:b1810230-6c0d-11ed-9826-a53d0eb706a5:created");
    assert_string_equal(ev->kind, "lead");
    assert_string_equal(ev->owner, "pipedrive:12415231");
    assert_int_equal(ev->at_ms, 1669304158772);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_string_equal(ev->attrs, "{\"pipedrive_entity\":\"lead\",\"title\":\"Lead Org lead\"}");
    cx_test_norm_free(&n);

    cx_test_norm_feed_file(&n, &feed, "v2_change_lead.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_string_equal(n.list.v[0].kind, "sales_touch");
    assert_string_equal(n.list.v[0].owner, "pipedrive:12415231");
    cx_test_expect_identities(&n.list.v[0], ids, N_ELEMS(ids));
    cx_test_norm_free(&n);

    /* With an api_token, the lead's person is read for its e-mail, as a deal's is. */
    cx_test_norm_feed_file(&n, &feed, "v2_create_lead.json");
    n.src.api_token = "pd-api-token-0123456789";
    n.src.api_base = "http://127.0.0.1:9";
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_NEED_FETCH);
    assert_string_equal(n.need.v[0].url, "http://127.0.0.1:9/api/v2/persons/11");
    cx_test_norm_free(&n);
}

static void test_norm_skip_and_poison(void **state)
{
    static const struct {
        const char *body;
        enum cx_result want;
        const char *msg;
    } rows[] = {
        {"{\"meta\":{\"action\":\"delete\",\"entity\":\"person\",\"id\":\"u1\"},\"data\":null}",
         CX_NORM_SKIP, NULL},
        {"{\"meta\":{\"action\":\"create\",\"entity\":\"organization\",\"id\":\"u1\"},"
         "\"data\":{\"id\":1}}",
         CX_NORM_SKIP, NULL},
        {"{\"meta\":{\"action\":\"merged\",\"object\":\"person\",\"id\":1,\"timestamp\":1},"
         "\"current\":{\"id\":1}}",
         CX_NORM_SKIP, NULL},
        {"{\"meta\":{\"action\":\"change\",\"entity\":\"deal\",\"id\":\"u1\"},"
         "\"data\":{\"id\":1,\"status\":\"deleted\"}}",
         CX_NORM_SKIP, NULL},
        {"[]", CX_NORM_POISON, "pipedrive: body is not a JSON object"},
        {"{}", CX_NORM_POISON, "pipedrive: no meta object"},
        {"{\"meta\":{\"action\":\"create\",\"id\":\"u1\"}}", CX_NORM_POISON,
         "pipedrive: meta names no entity"},
        {"{\"meta\":{\"action\":\"create\",\"entity\":\"person\"},\"data\":{\"id\":1}}",
         CX_NORM_POISON, "pipedrive: meta without id"},
        {"{\"meta\":{\"action\":\"create\",\"entity\":\"person\",\"id\":\"u1\"}}", CX_NORM_POISON,
         "pipedrive:u1: person without data"},
        {"{\"meta\":{\"action\":\"create\",\"entity\":\"person\",\"id\":\"u1\"},"
         "\"data\":{\"name\":\"x\"}}",
         CX_NORM_POISON, "pipedrive:u1: person without id"},
        {"{\"meta\":{\"action\":\"added\",\"object\":\"person\",\"id\":1},"
         "\"current\":{\"id\":1}}",
         CX_NORM_POISON, "pipedrive: v1 meta without object, action, id or timestamp"},
    };
    struct cx_test_norm n;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_result rc;
        cx_test_norm_feed(&n, &feed, rows[i].body, strlen(rows[i].body));
        rc = cx_test_norm_fetch(&n, NULL);
        cx_test_expect_refused(&n, i, rc, rows[i].want, rows[i].msg);
        cx_test_norm_free(&n);
    }
    /* v2_create_user.json: users are not journey events */
    cx_test_norm_feed_file(&n, &feed, "v2_create_user.json");
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_SKIP);
    cx_test_norm_free(&n);
}

static void test_fetch_person_of_deal(void **state)
{
    static const char *const ids[] = {
        "pipedrive_person",          "8",     "custom:pipedrive_deal", "8",     "email",
        "sample.person@example.com", "email", "sample@home.example",   "phone", "+390212345678"};
    struct cx_test_norm n;
    size_t alen;
    unsigned char *answer = cx_test_slurp("pipedrive", "api_v2_person_8.json", &alen);

    (void)state;
    cx_test_norm_feed_file(&n, &feed, "v2_create_deal.json");
    n.src.api_token = "0123456789abcdef";
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_NEED_FETCH);
    assert_int_equal(n.list.n, 0);
    assert_int_equal(n.need.n, 1);
    assert_string_equal(n.need.v[0].url, "https://api.pipedrive.com/api/v2/persons/8");
    assert_int_equal(n.need.v[0].nheaders, 1);
    assert_string_equal(n.need.v[0].headers[0], "x-api-token: 0123456789abcdef");
    n.src.api_base = "http://127.0.0.1:18081//";
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_NEED_FETCH);
    assert_string_equal(n.need.v[0].url, "http://127.0.0.1:18081/api/v2/persons/8");
    cx_test_answer(&n.fetched, 0, 200, answer, alen);
    assert_int_equal(cx_test_norm_fetch(&n, &n.fetched), CX_NORM_OK);
    assert_int_equal(n.need.n, 0);
    assert_string_equal(n.list.v[0].kind, "stage_change");
    cx_test_expect_identities(&n.list.v[0], ids, N_ELEMS(ids));
    n.fetched.v[0].status = 404;
    assert_int_equal(cx_test_norm_fetch(&n, &n.fetched), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "person 8: Pipedrive answered 404");
    assert_int_equal(n.list.n, 0);
    n.fetched.v[0].status = 403;
    assert_int_equal(cx_test_norm_fetch(&n, &n.fetched), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "person 8: Pipedrive answered 403");
    cx_test_answer(&n.fetched, 0, 200, "{\"success\":false}", 17);
    assert_int_equal(cx_test_norm_fetch(&n, &n.fetched), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "person 8: Pipedrive answer has no data object");
    cx_test_norm_free(&n);

    /* Persons carry their own emails: no look-up for them. */
    cx_test_norm_feed_file(&n, &feed, "v2_create_person.json");
    n.src.api_token = "0123456789abcdef";
    assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_OK);
    assert_int_equal(n.need.n, 0);
    cx_test_norm_free(&n);
    free(answer);
}

static void test_registered(void **state)
{
    (void)state;
    assert_ptr_equal(cx_lookup("pipedrive"), &cx_pipedrive);
    assert_null(cx_pipedrive.keep_headers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_verify_body),
        cmocka_unit_test(test_norm_create_person),
        cmocka_unit_test(test_norm_change_person),
        cmocka_unit_test(test_norm_create_deal),
        cmocka_unit_test(test_norm_deal_stages),
        cmocka_unit_test(test_norm_person_contacts_and_v1),
        cmocka_unit_test(test_norm_skip_and_poison),
        cmocka_unit_test(test_norm_activity),
        cmocka_unit_test(test_norm_activity_v1),
        cmocka_unit_test(test_norm_lead),
        cmocka_unit_test(test_fetch_person_of_deal),
        cmocka_unit_test(test_registered),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
