/*
 * Meta Lead Ads connector: the derived signature vector D1 and handshake D2 from
 * /work/shared/fixtures/meta/vectors.md, the webhook and Graph API samples from Meta's
 * docs, and composed payloads (tests/data/meta_leads/README.md says where each came
 * from).
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

/* ---- verify ---- */

static enum cx_verdict verify_post(const char *const *secrets, size_t nsecrets, const char *header,
                                   const void *body, size_t len)
{
    struct cx_source src;
    struct cx_header h[2] = {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", header}};

    cx_test_source_init(&src, "meta_leads", "meta", secrets, nsecrets);
    src.verify_token = "meatyhamhock";
    return cx_test_verify(&src, "POST", h, header ? 2 : 1, body, len, 1700000000000);
}

/* D1 (vectors.md, derived with Python hmac and openssl; not published by Meta): app
 * secret meta_test_app_secret over the exact bytes of leadgen_webhook_docs_sample.json. */
#define D1_HEX "da209c0418c757e0667d2de582ed8bb242f11af2bb1933b06ff45a5ed620b279"
#define D1_HEADER "sha256=" D1_HEX

static const char *const d1_secret[] = {"meta_test_app_secret"};

static void test_d1_payload_is_exact(void **state)
{
    unsigned char mac[CX_SHA256_LEN];
    char hex[2 * CX_SHA256_LEN + 1];
    size_t len;
    unsigned char *body = cx_test_slurp("meta_leads", "leadgen_webhook_docs_sample.json", &len);

    (void)state;
    /* 743 bytes ending in one LF (vectors.md): a reformatted copy fails here first. */
    assert_int_equal(len, 743);
    assert_int_equal(body[len - 1], '\n');
    assert_int_equal(cx_hmac_sha256("meta_test_app_secret", 20, body, len, NULL, 0, mac), 0);
    cx_hex_encode(mac, sizeof mac, hex);
    assert_string_equal(hex, D1_HEX);
    free(body);
}

static void test_d1_verify(void **state)
{
    static const char *const wrong[] = {"meta_test_app_secret2"};
    static const char *const rotated[] = {"old_app_secret", "meta_test_app_secret"};
    static const struct {
        const char *header;
        enum cx_verdict want;
    } rows[] = {
        {D1_HEADER, CX_OK},
        {"sha256=DA209C0418C757E0667D2DE582ED8BB242F11AF2BB1933B06FF45A5ED620B279", CX_OK},
        {NULL, CX_BAD_SIGNATURE},
        {"", CX_BAD_SIGNATURE},
        {D1_HEX, CX_BAD_SIGNATURE},                /* no scheme */
        {"sha1=" D1_HEX, CX_BAD_SIGNATURE},        /* the legacy header's scheme */
        {"sha256=" D1_HEX "00", CX_BAD_SIGNATURE}, /* too long */
        {"sha256=da209c04", CX_BAD_SIGNATURE},     /* too short */
        {"sha256=zz209c0418c757e0667d2de582ed8bb242f11af2bb1933b06ff45a5ed620b279",
         CX_BAD_SIGNATURE},
        {"sha256=ea209c0418c757e0667d2de582ed8bb242f11af2bb1933b06ff45a5ed620b279",
         CX_BAD_SIGNATURE}, /* one bit off */
    };
    size_t len, i;
    unsigned char *body = cx_test_slurp("meta_leads", "leadgen_webhook_docs_sample.json", &len);
    unsigned char *copy = malloc(len);

    (void)state;
    assert_non_null(copy);
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = verify_post(d1_secret, 1, rows[i].header, body, len);
        if (v != rows[i].want)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].header ? rows[i].header : "(none)",
                     (int)v, (int)rows[i].want);
    }
    /* tampered: one digit of the first leadgen_id changed */
    memcpy(copy, body, len);
    {
        char *p = strstr((char *)copy, "123123123123");
        assert_non_null(p);
        p[11] = '4';
    }
    assert_int_equal(verify_post(d1_secret, 1, D1_HEADER, copy, len), CX_BAD_SIGNATURE);
    /* without the trailing newline */
    assert_int_equal(verify_post(d1_secret, 1, D1_HEADER, body, len - 1), CX_BAD_SIGNATURE);
    /* wrong secret, no secret, rotation with the right one second */
    assert_int_equal(verify_post(wrong, 1, D1_HEADER, body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify_post(d1_secret, 0, D1_HEADER, body, len), CX_BAD_SIGNATURE);
    assert_int_equal(verify_post(rotated, 2, D1_HEADER, body, len), CX_OK);
    assert_int_equal(verify_post(rotated, 1, D1_HEADER, body, len), CX_BAD_SIGNATURE);
    free(copy);
    free(body);
}

static void test_verify_body_check(void **state)
{
    /* Signed with cx_hmac_sha256 (D1 establishes it): after the signature, the body must
     * be a page webhook, else 400. */
    static const char *const secret[] = {"k"};
    static const struct {
        const char *body;
        enum cx_verdict want;
    } rows[] = {
        {"{\"object\":\"page\",\"entry\":[]}", CX_OK},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[]}]}", CX_OK},
        {"{\"object\":\"instagram\",\"entry\":[]}", CX_BAD_REQUEST},
        {"{\"object\":\"page\"}", CX_BAD_REQUEST},
        {"{\"object\":\"page\",\"entry\":{}}", CX_BAD_REQUEST},
        {"{\"entry\":[]}", CX_BAD_REQUEST},
        {"[{\"object\":\"page\"}]", CX_BAD_REQUEST},
        {"{\"object\":\"page\",\"entry\":[]} x", CX_BAD_REQUEST},
        {"", CX_BAD_REQUEST},
    };
    unsigned char mac[CX_SHA256_LEN];
    char header[80], hex[2 * CX_SHA256_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        size_t n = strlen(rows[i].body);
        assert_int_equal(cx_hmac_sha256("k", 1, rows[i].body, n, NULL, 0, mac), 0);
        cx_hex_encode(mac, sizeof mac, hex);
        snprintf(header, sizeof header, "sha256=%s", hex);
        if (verify_post(secret, 1, header, rows[i].body, n) != rows[i].want)
            fail_msg("row %zu: unexpected verdict", i);
    }
}

/* ---- D2: the GET handshake (values from Meta's "Getting Started" page, vectors.md) ---- */

static enum cx_verdict handshake(const char *verify_token, const char *query,
                                 struct cx_reply *reply)
{
    static const char *const secret[] = {"meta_test_app_secret"};
    struct cx_source src;
    struct cx_input in;
    struct cx_err err;

    memset(&src, 0, sizeof src);
    memset(&in, 0, sizeof in);
    memset(reply, 0, sizeof *reply);
    src.name = "meta";
    src.type = "meta_leads";
    src.secrets[0] = secret[0];
    src.nsecrets = 1;
    src.verify_token = verify_token;
    in.method = "GET";
    in.query = query;
    in.body = (const unsigned char *)"";
    in.now_ms = 1700000000000;
    return cx_test_connector("meta_leads")->verify(&src, &in, reply, &err);
}

#define LONG_PREFIX "hub.mode=subscribe&hub.verify_token=meatyhamhock&hub.challenge="

static void test_d2_handshake(void **state)
{
    static char long_ok[400], long_bad[400];
    struct {
        const char *token, *query;
        enum cx_verdict want;
        const char *body; /* expected reply body for CX_HANDSHAKE */
    } rows[] = {
        {"meatyhamhock",
         "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", CX_HANDSHAKE,
         "1158201444"},
        {"meatyhamhock",
         "hub.verify_token=meatyhamhock&hub.challenge=1158201444&hub.mode=subscribe", CX_HANDSHAKE,
         "1158201444"},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=abc%2D1&hub.verify_token=meatyhamhock",
         CX_HANDSHAKE, "abc-1"},
        {"meatyhamhock", long_ok, CX_HANDSHAKE, long_ok + sizeof LONG_PREFIX - 1},
        {"meatyhamhock",
         "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhocK",
         CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyham",
         CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock",
         "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock2",
         CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=1158201444", CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock",
         "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
         CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock", "hub.challenge=1158201444&hub.verify_token=meatyhamhock", CX_BAD_SIGNATURE,
         NULL},
        {"meatyhamhock", "", CX_BAD_SIGNATURE, NULL},
        /* no verify_token configured: nothing can match, not even an empty one */
        {NULL, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=", CX_BAD_SIGNATURE, NULL},
        {"", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=", CX_BAD_SIGNATURE, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.verify_token=meatyhamhock", CX_BAD_REQUEST, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=&hub.verify_token=meatyhamhock",
         CX_BAD_REQUEST, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=a%20b&hub.verify_token=meatyhamhock",
         CX_BAD_REQUEST, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=a%0Db&hub.verify_token=meatyhamhock",
         CX_BAD_REQUEST, NULL},
        {"meatyhamhock",
         "hub.mode=subscribe&hub.challenge=%3Cscript%3E%C3%A9&hub.verify_token=meatyhamhock",
         CX_BAD_REQUEST, NULL},
        {"meatyhamhock", long_bad, CX_BAD_REQUEST, NULL},
        {"meatyhamhock", "hub.mode=subscribe&hub.challenge=1%zz&hub.verify_token=meatyhamhock",
         CX_BAD_REQUEST, NULL},
        {"meatyhamhock", NULL, CX_BAD_REQUEST, NULL},
    };
    struct cx_reply reply;
    size_t i;

    (void)state;
    /* 256 challenge bytes pass, 257 do not. */
    memcpy(long_ok, LONG_PREFIX, sizeof LONG_PREFIX - 1);
    memset(long_ok + sizeof LONG_PREFIX - 1, '7', 256);
    long_ok[sizeof LONG_PREFIX - 1 + 256] = '\0';
    memcpy(long_bad, LONG_PREFIX, sizeof LONG_PREFIX - 1);
    memset(long_bad + sizeof LONG_PREFIX - 1, '7', 257);
    long_bad[sizeof LONG_PREFIX - 1 + 257] = '\0';
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = handshake(rows[i].token, rows[i].query, &reply);
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)v, (int)rows[i].want);
        if (v == CX_HANDSHAKE) {
            assert_int_equal(reply.status, 200);
            assert_string_equal(reply.content_type, "text/plain");
            assert_string_equal(reply.body, rows[i].body);
        }
    }
}

/* ---- normalize ---- */

static const struct cx_test_feed feed = {"meta_leads", "meta-ads", "1790856000000-0", 1790900000000,
                                         "meta_leads"};

/* A source with this Graph API token (NULL: none), fed body. */
static void norm_setup(struct cx_test_norm *n, const void *body, size_t len, const char *api_token)
{
    cx_test_norm_feed(n, &feed, body, len);
    n->src.api_token = api_token;
}

static enum cx_result normalize_file(struct cx_test_norm *n, const char *name,
                                     const char *api_token)
{
    cx_test_norm_feed_file(n, &feed, name);
    n->src.api_token = api_token;
    return cx_test_norm_fetch(n, NULL);
}

static enum cx_result normalize_str(struct cx_test_norm *n, const char *body, const char *api_token)
{
    norm_setup(n, body, strlen(body), api_token);
    return cx_test_norm_fetch(n, NULL);
}

static void expect_touch(const struct cx_event *ev, const char *ad, const char *campaign)
{
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_social");
    assert_string_equal(ev->touch.platform, "meta");
    assert_string_equal(ev->touch.source, "facebook");
    assert_string_equal(ev->touch.medium, "paid_social");
    assert_string_equal(ev->touch.ad, ad);
    assert_string_equal(ev->touch.campaign, campaign);
    assert_string_equal(ev->touch.content, "");
    assert_string_equal(ev->touch.term, "");
    assert_int_equal(ev->touch.nclick_ids, 0);
}

static void test_norm_webhook_only(void **state)
{
    static const char *const ids0[] = {"meta_lead", "123123123123"};
    static const char *const ids1[] = {"meta_lead", "123123123124"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    /* Without api_token the webhook alone makes the events (no personal data). */
    assert_int_equal(normalize_file(&n, "leadgen_webhook_docs_sample.json", NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, 2);
    assert_int_equal(n.need.n, 0);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "meta_leads:123123123123");
    assert_string_equal(ev->source, "meta-ads");
    assert_string_equal(ev->type, "meta_leads");
    assert_string_equal(ev->kind, "lead");
    assert_string_equal(ev->raw, "1790856000000-0");
    assert_int_equal(ev->at_ms, 1440120384000); /* created_time, not entry.time */
    assert_string_equal(ev->stage, "");
    assert_string_equal(cx_event_stage(ev), "lead");
    assert_int_equal(ev->has_amount, 0);
    assert_string_equal(ev->payment_key, "");
    cx_test_expect_identities(ev, ids0, N_ELEMS(ids0));
    expect_touch(ev, "12312312312", "");
    assert_string_equal(ev->attrs, "{\"form_id\":\"12312312312\",\"page_id\":\"123123123\"}");
    ev = &n.list.v[1];
    assert_string_equal(ev->id, "meta_leads:123123123124");
    assert_int_equal(ev->at_ms, 1440120384000);
    cx_test_expect_identities(ev, ids1, N_ELEMS(ids1));
    expect_touch(ev, "12312312312", "");
    cx_test_norm_free(&n);
}

static void test_norm_big_ids(void **state)
{
    static const char *const ids[] = {"meta_lead", "9007199254740993"};
    struct cx_test_norm n;
    const struct cx_event *ev;
    char *json;

    (void)state;
    /* 2^53 + 1 rounds to 2^53 as a double; 2^64 - 1 is past int64 too. Both stay exact. */
    assert_int_equal(normalize_file(&n, "leadgen_webhook_big_ids.json", NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, 1); /* the "feed" change is not a lead */
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "meta_leads:9007199254740993");
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    expect_touch(ev, "23851234567890125", "");
    assert_int_equal(ev->at_ms, 1790856000000);
    assert_string_equal(ev->attrs, "{\"form_id\":\"18446744073709551615\",\"page_id\":"
                                   "\"102938475610293\"}");
    json = cx_event_to_json(ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"id\":\"meta_leads:9007199254740993\""));
    assert_non_null(strstr(json, "{\"type\":\"meta_lead\",\"value\":\"9007199254740993\"}"));
    free(json);
    cx_test_norm_free(&n);
}

#define GRAPH_FIELDS                                                                               \
    "?fields=id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,"         \
    "form_id,field_data,is_organic,platform"

static void test_norm_fetch_request(void **state)
{
    struct cx_test_norm n;

    (void)state;
    assert_int_equal(normalize_file(&n, "leadgen_webhook_docs_sample.json", "EAAB-test-token"),
                     CX_NORM_NEED_FETCH);
    assert_int_equal(n.list.n, 0); /* nothing half-built is left behind */
    assert_int_equal(n.need.n, 2);
    assert_string_equal(n.need.v[0].url,
                        "https://graph.facebook.com/v26.0/123123123123" GRAPH_FIELDS);
    assert_string_equal(n.need.v[1].url,
                        "https://graph.facebook.com/v26.0/123123123124" GRAPH_FIELDS);
    assert_int_equal(n.need.v[0].nheaders, 1);
    assert_string_equal(n.need.v[0].headers[0], "Authorization: Bearer EAAB-test-token");
    assert_int_equal(n.need.v[1].nheaders, 1);
    assert_string_equal(n.need.v[1].headers[0], "Authorization: Bearer EAAB-test-token");
    cx_test_norm_free(&n);

    /* The default is a current version (v19.0 was retired in May 2026: issue 16.2), and
     * graph_version moves it without naming the host. */
    {
        size_t len;
        unsigned char *body = cx_test_slurp("meta_leads", "leadgen_webhook_big_ids.json", &len);
        norm_setup(&n, body, len, "tok");
        n.owned = body;
        n.src.graph_version = "v27.0";
        assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_NEED_FETCH);
        assert_string_equal(n.need.v[0].url,
                            "https://graph.facebook.com/v27.0/9007199254740993" GRAPH_FIELDS);
        cx_test_norm_free(&n);
    }
    /* api_base overrides the Graph host and version; a trailing slash is not doubled. */
    {
        size_t len;
        unsigned char *body = cx_test_slurp("meta_leads", "leadgen_webhook_big_ids.json", &len);
        norm_setup(&n, body, len, "tok");
        n.owned = body;
        n.src.api_base = "http://127.0.0.1:18080/graph/v21.0/";
        assert_int_equal(cx_test_norm_fetch(&n, NULL), CX_NORM_NEED_FETCH);
        assert_int_equal(n.need.n, 1);
        assert_string_equal(n.need.v[0].url,
                            "http://127.0.0.1:18080/graph/v21.0/9007199254740993" GRAPH_FIELDS);
        assert_string_equal(n.need.v[0].headers[0], "Authorization: Bearer tok");
        cx_test_norm_free(&n);
    }

    /* A token that would break the header line is refused, not sent. */
    assert_int_equal(normalize_file(&n, "leadgen_webhook_docs_sample.json", "tok\r\nX-Evil: 1"),
                     CX_NORM_POISON);
    assert_string_equal(n.err.msg, "meta_leads: api_token holds characters a header cannot carry");
    assert_int_equal(n.need.n, 0);
    cx_test_norm_free(&n);
}

static void test_norm_fetch_answers(void **state)
{
    static const char *const ids0[] = {"meta_lead", "123123123123", "email", "joe@example.com"};
    static const char *const ids1[] = {
        "meta_lead", "123123123124", "email", "giulia.rossi@example.it", "phone", "+393471234567"};
    struct cx_fetched fetched;
    struct cx_test_norm n;
    const struct cx_event *ev;
    size_t l0, l1;
    unsigned char *docs = cx_test_slurp("meta_leads", "lead_graph_response_docs_sample.json", &l0);
    unsigned char *composed = cx_test_slurp("meta_leads", "lead_graph_response_composed.json", &l1);

    (void)state;
    assert_int_equal(normalize_file(&n, "leadgen_webhook_docs_sample.json", "EAAB-test-token"),
                     CX_NORM_NEED_FETCH);
    memset(&fetched, 0, sizeof fetched);
    fetched.n = 2;
    cx_test_answer(&fetched, 0, 200, docs, l0);
    cx_test_answer(&fetched, 1, 200, composed, l1);
    assert_int_equal(cx_test_norm_fetch(&n, &fetched), CX_NORM_OK);
    assert_int_equal(n.list.n, 2);

    /* Meta's documented answer: email and name; its placeholder ad_id loses to the
     * webhook's real one, and it names no campaign. */
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "meta_leads:123123123123");
    assert_string_equal(ev->kind, "lead");
    assert_int_equal(ev->at_ms, 1440120384000);
    cx_test_expect_identities(ev, ids0, N_ELEMS(ids0));
    expect_touch(ev, "12312312312", "");
    assert_string_equal(
        ev->attrs, "{\"form_id\":\"12312312312\",\"page_id\":\"123123123\",\"car_make\":"
                   "\"Honda\",\"full_name\":\"Joe Example\",\"selected_dealer\":\"99213450\"}");

    /* The composed answer: a national phone number gets the default country code, the
     * ad and campaign names replace ids, several values are joined. */
    ev = &n.list.v[1];
    assert_string_equal(ev->id, "meta_leads:123123123124");
    assert_int_equal(ev->at_ms, 1440120384000);
    cx_test_expect_identities(ev, ids1, N_ELEMS(ids1));
    expect_touch(ev, "Spring promo - carousel", "spring_promo");
    assert_string_equal(ev->attrs,
                        "{\"form_id\":\"12312312312\",\"page_id\":\"123123123\",\"adset\":"
                        "\"Italy 25-45\",\"platform\":\"ig\",\"first_name\":\"Giulia\","
                        "\"last_name\":\"Rossi\",\"which_services_interest_you?\":"
                        "\"consulting, training\"}");
    cx_test_norm_free(&n);
    free(docs);
    free(composed);
}

static void test_norm_fetch_failures(void **state)
{
    static const char not_json[] = "<html>oops</html>";
    struct cx_fetched fetched;
    struct cx_test_norm n;
    size_t len;
    unsigned char *docs = cx_test_slurp("meta_leads", "lead_graph_response_docs_sample.json", &len);
    static const struct {
        long status0, status1;
        size_t nanswers;
        int junk0;
        const char *msg;
    } rows[] = {
        {200, 404, 2, 0, "lead 123123123124: Graph API answered 404"},
        {404, 200, 2, 0, "lead 123123123123: Graph API answered 404"},
        {400, 400, 2, 0, "lead 123123123123: Graph API answered 400"},
        {302, 200, 2, 0, "lead 123123123123: Graph API answered 302"},
        {200, 200, 1, 0, "meta_leads: 1 Graph API answers for 2 leads"},
        {200, 200, 0, 0, "meta_leads: 0 Graph API answers for 2 leads"},
        {200, 200, 2, 1, "lead 123123123123: Graph API answer is not a JSON object"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        assert_int_equal(normalize_file(&n, "leadgen_webhook_docs_sample.json", "t"),
                         CX_NORM_NEED_FETCH);
        memset(&fetched, 0, sizeof fetched);
        cx_test_answer(&fetched, 0, rows[i].status0, rows[i].junk0 ? not_json : (const char *)docs,
                       rows[i].junk0 ? sizeof not_json - 1 : len);
        cx_test_answer(&fetched, 1, rows[i].status1, docs, len);
        fetched.n = rows[i].nanswers; /* the rows that answer fewer than two */
        cx_test_expect_refused(&n, i, cx_test_norm_fetch(&n, &fetched), CX_NORM_POISON,
                               rows[i].msg);
        cx_test_norm_free(&n);
    }
    free(docs);
}

/* A webhook with `nleads` leadgen changes (ids 1000..). */
static char *many_leads(size_t nleads)
{
    size_t cap = 64 + nleads * 80, used, i;
    char *s = malloc(cap);
    int w;

    assert_non_null(s);
    used = (size_t)snprintf(s, cap, "{\"object\":\"page\",\"entry\":[{\"changes\":[");
    for (i = 0; i < nleads; i++) {
        w = snprintf(s + used, cap - used,
                     "%s{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":%zu,\"created_time\":"
                     "1790856000}}",
                     i ? "," : "", 1000 + i);
        assert_true(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
    w = snprintf(s + used, cap - used, "]}]}");
    assert_true(w > 0 && (size_t)w < cap - used);
    return s;
}

static void test_norm_fetch_limit(void **state)
{
    struct cx_test_norm n;
    char *body;

    (void)state;
    body = many_leads(CX_MAX_FETCHES);
    assert_int_equal(normalize_str(&n, body, "t"), CX_NORM_NEED_FETCH);
    assert_int_equal(n.need.n, CX_MAX_FETCHES);
    assert_string_equal(n.need.v[CX_MAX_FETCHES - 1].url,
                        "https://graph.facebook.com/v26.0/1031" GRAPH_FIELDS);
    cx_test_norm_free(&n);
    free(body);

    body = many_leads(CX_MAX_FETCHES + 1);
    assert_int_equal(normalize_str(&n, body, "t"), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "meta_leads: 33 leads in one webhook, at most 32 can be "
                                   "looked up");
    assert_int_equal(n.need.n, 0);
    cx_test_norm_free(&n);
    /* Without look-ups there is no such limit. */
    assert_int_equal(normalize_str(&n, body, NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, CX_MAX_FETCHES + 1);
    assert_string_equal(n.list.v[CX_MAX_FETCHES].id, "meta_leads:1032");
    cx_test_norm_free(&n);
    free(body);

    /* A caller that takes no look-ups cannot enrich: poison, never half-empty leads. */
    body = many_leads(1);
    norm_setup(&n, body, strlen(body), "t");
    assert_int_equal(
        cx_test_connector("meta_leads")->normalize(&n.src, &n.raw, NULL, &n.list, NULL, &n.err),
        CX_NORM_POISON);
    assert_string_equal(n.err.msg, "meta_leads: look-ups needed but the caller takes none");
    cx_test_norm_free(&n);
    free(body);
}

static void test_norm_times(void **state)
{
    static const char graph[] = "{\"id\":\"77\",\"created_time\":\"2015-08-21T01:26:24+0000\"}";
    struct cx_fetched fetched;
    struct cx_test_norm n;

    (void)state;
    /* No created_time in the change: entry.time, else the arrival time. */
    assert_int_equal(normalize_str(&n,
                                   "{\"object\":\"page\",\"entry\":[{\"time\":1438292065,"
                                   "\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":"
                                   "\"77\"}}]}]}",
                                   NULL),
                     CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1438292065000);
    assert_string_equal(n.list.v[0].attrs, "");
    cx_test_norm_free(&n);
    assert_int_equal(normalize_str(&n,
                                   "{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":"
                                   "\"leadgen\",\"value\":{\"leadgen_id\":\"77\",\"created_time\":"
                                   "\"1440120384\"}}]}]}",
                                   NULL),
                     CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1790900000000);
    cx_test_norm_free(&n);
    /* With a look-up, the Graph API's ISO time (basic-format offset) comes before
     * entry.time. */
    assert_int_equal(normalize_str(&n,
                                   "{\"object\":\"page\",\"entry\":[{\"time\":1438292065,"
                                   "\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":"
                                   "\"77\"}}]}]}",
                                   "t"),
                     CX_NORM_NEED_FETCH);
    memset(&fetched, 0, sizeof fetched);
    cx_test_answer(&fetched, 0, 200, graph, sizeof graph - 1);
    assert_int_equal(cx_test_norm_fetch(&n, &fetched), CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1440120384000);
    assert_string_equal(n.list.v[0].touch.ad, "");
    cx_test_norm_free(&n);
}

static void test_norm_attrs_bound(void **state)
{
    /* 20 custom answers of 200 bytes with quotes and newlines (each serializes to 308
     * bytes as a pair), then a short one: the attributes take whole pairs up to
     * CX_ATTRS_MAX - 1 bytes, skip what does not fit, and still take the short one. */
    static const char webhook[] = "{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":"
                                  "\"leadgen\",\"value\":{\"leadgen_id\":5}}]}]}";
    struct cx_fetched fetched;
    struct cx_test_norm n;
    char *graph = malloc(16384), name[8];
    size_t used, i, k;
    cJSON *attrs;

    (void)state;
    assert_non_null(graph);
    used = (size_t)snprintf(graph, 16384, "{\"field_data\":[");
    for (i = 0; i < 21; i++) {
        used +=
            (size_t)snprintf(graph + used, 16384 - used, "%s{\"name\":\"%s%02zu\",\"values\":[\"",
                             i ? "," : "", i < 20 ? "q" : "last", i);
        for (k = 0; k < (i < 20 ? 50u : 1u); k++)
            used += (size_t)snprintf(graph + used, 16384 - used, "%s", i < 20 ? "a\\\"b\\n" : "x");
        used += (size_t)snprintf(graph + used, 16384 - used, "\"]}");
    }
    used += (size_t)snprintf(graph + used, 16384 - used, "]}");
    assert_true(used < 16384);
    assert_int_equal(normalize_str(&n, webhook, "t"), CX_NORM_NEED_FETCH);
    memset(&fetched, 0, sizeof fetched);
    cx_test_answer(&fetched, 0, 200, graph, used);
    assert_int_equal(cx_test_norm_fetch(&n, &fetched), CX_NORM_OK);
    /* 2 + 13 * 308 + 12 commas = 4018, then ,"last20":"x" (13 bytes) */
    assert_int_equal(strlen(n.list.v[0].attrs), 4031);
    attrs = cJSON_Parse(n.list.v[0].attrs);
    assert_true(cJSON_IsObject(attrs));
    assert_int_equal(cJSON_GetArraySize(attrs), 14);
    for (i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "q%02zu", i);
        if ((cJSON_GetObjectItemCaseSensitive(attrs, name) != NULL) != (i < 13))
            fail_msg("%s: present %d", name, cJSON_GetObjectItemCaseSensitive(attrs, name) != NULL);
    }
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(attrs, "q12")->valuestring + 196,
                        "a\"b\n");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(attrs, "last20")->valuestring, "x");
    cJSON_Delete(attrs);
    cx_test_norm_free(&n);
    free(graph);
}

static void test_norm_skip_and_poison(void **state)
{
    static const struct {
        const char *body;
        enum cx_result want;
        const char *msg;
    } rows[] = {
        {"{\"object\":\"page\",\"entry\":[]}", CX_NORM_SKIP, NULL},
        {"{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"feed\","
         "\"value\":{}}]}]}",
         CX_NORM_SKIP, NULL},
        {"{\"object\":\"page\",\"entry\":[{\"id\":\"1\"}]}", CX_NORM_SKIP, NULL},
        {"{\"object\":\"user\",\"entry\":[]}", CX_NORM_POISON,
         "meta_leads: body is not a page webhook with an entry array"},
        {"{\"object\":\"page\"}", CX_NORM_POISON,
         "meta_leads: body is not a page webhook with an entry array"},
        {"not json", CX_NORM_POISON, "meta_leads: body is not a page webhook with an entry array"},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\"}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a value object"},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\",\"value\":"
         "{\"ad_id\":1}}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a numeric leadgen_id"},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\",\"value\":"
         "{\"leadgen_id\":\"12/../me\"}}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a numeric leadgen_id"},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\",\"value\":"
         "{\"leadgen_id\":1.5}}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a numeric leadgen_id"},
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\",\"value\":"
         "{\"leadgen_id\":-5}}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a numeric leadgen_id"},
        /* one bad lead poisons the whole delivery: no partial batch is applied */
        {"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"field\":\"leadgen\",\"value\":"
         "{\"leadgen_id\":5}},{\"field\":\"leadgen\",\"value\":{}}]}]}",
         CX_NORM_POISON, "meta_leads: leadgen change without a numeric leadgen_id"},
    };
    struct cx_test_norm n;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_result rc = normalize_str(&n, rows[i].body, NULL);
        cx_test_expect_refused(&n, i, rc, rows[i].want, rows[i].msg);
        cx_test_norm_free(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_d1_payload_is_exact),  cmocka_unit_test(test_d1_verify),
        cmocka_unit_test(test_verify_body_check),    cmocka_unit_test(test_d2_handshake),
        cmocka_unit_test(test_norm_webhook_only),    cmocka_unit_test(test_norm_big_ids),
        cmocka_unit_test(test_norm_fetch_request),   cmocka_unit_test(test_norm_fetch_answers),
        cmocka_unit_test(test_norm_fetch_failures),  cmocka_unit_test(test_norm_fetch_limit),
        cmocka_unit_test(test_norm_times),           cmocka_unit_test(test_norm_attrs_bound),
        cmocka_unit_test(test_norm_skip_and_poison),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
