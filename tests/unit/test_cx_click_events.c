/*
 * Click tracker records (built at the door, read back by normalize), the custom events API and the
 * canonical JSON every event leaves the connectors as (parsed back and compared field by field).
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

#define RECEIVED_MS 1790900000000
#define AID "a_0123456789abcdef0123456789abcdef"

struct norm {
    struct cx_source src;
    struct cx_raw raw;
    struct cx_event_list list;
    struct cx_err err;
};

static enum cx_result run_normalize(struct norm *n, const char *type, const char *name,
                                    const char *body)
{
    const struct cx_connector *c = cx_lookup(type);

    assert_non_null(c);
    memset(n, 0, sizeof *n);
    n->src.name = name;
    n->src.type = type;
    n->src.default_country_code = "39";
    n->raw.source = name;
    n->raw.stream_id = "1790900000000-7";
    n->raw.received_ms = RECEIVED_MS;
    n->raw.body = (const unsigned char *)body;
    n->raw.body_len = strlen(body);
    cx_list_init(&n->list);
    return c->normalize(&n->src, &n->raw, NULL, &n->list, NULL, &n->err);
}

/* ---- click ---- */

static const char click_body[] =
    "{\"id\":\"clk_01J9ZK\",\"aid\":\"a_7f3c2e\",\"at_ms\":1790855000123,"
    "\"query\":\"to=https%3A%2F%2Fexample.com%2Fpricing&utm_source=google&utm_medium=cpc"
    "&utm_campaign=spring_promo&utm_term=crm+software&gclid=EAIaIQobChMI-click\","
    "\"to\":\"https://example.com/pricing?jd_aid=a_7f3c2e\"}";

static enum cx_verdict click_verify_query(const char *query, struct cx_err *err)
{
    struct cx_source src;
    struct cx_input in;
    struct cx_reply reply;

    memset(&src, 0, sizeof src);
    memset(&in, 0, sizeof in);
    memset(err, 0, sizeof *err);
    src.name = "click";
    src.type = "click";
    in.method = "GET";
    in.query = query;
    in.now_ms = RECEIVED_MS;
    return cx_lookup("click")->verify(&src, &in, &reply, err);
}

/* /c is an open door (DESIGN §2b): verify decides at the door whether a query may be
 * recorded, refusing what normalize would not read back whole. */
static void test_click_verify(void **state)
{
    static char long_utm[320], long_id[320], long_query[4200], max_query[4097];
    static const struct {
        const char *query;
        enum cx_verdict want;
    } rows[] = {
        {"to=https%3A%2F%2Fexample.com%2Fpricing&utm_source=google&utm_medium=cpc"
         "&utm_campaign=spring_promo&utm_term=crm+software&gclid=EAIaIQobChMI-click",
         CX_OK},
        {"to=https://example.com/&utm_content=%C3%A9t%C3%A9", CX_OK}, /* UTF-8 */
        {"to=https://example.com/&flag", CX_OK},
        {NULL, CX_BAD_REQUEST},
        {"", CX_BAD_REQUEST},
        {"to=https://example.com/&utm_source=%FF", CX_BAD_REQUEST},       /* not UTF-8 */
        {"to=https://example.com/&utm_source=\xc3", CX_BAD_REQUEST},      /* raw, cut */
        {"to=https://example.com/&utm_source=%ED%A0%80", CX_BAD_REQUEST}, /* surrogate */
        {"to=https://example.com/&utm_source=a%0Ab", CX_BAD_REQUEST},     /* control */
        {"to=https://example.com/&x%01=1", CX_BAD_REQUEST},
        {"to=https://example.com/&utm_source=%zz", CX_BAD_REQUEST},
        {"to=https://example.com/&utm_source=a\tb", CX_BAD_REQUEST},
        {long_utm, CX_BAD_REQUEST},   /* a utm value the touch would cut */
        {long_id, CX_BAD_REQUEST},    /* a click id the identity would drop */
        {long_query, CX_BAD_REQUEST}, /* padding */
        {max_query, CX_OK},
    };
    struct cx_err err;

    (void)state;
    snprintf(long_utm, sizeof long_utm, "to=https://example.com/&utm_campaign=%0256d", 0);
    snprintf(long_id, sizeof long_id, "to=https://example.com/&gclid=%0256d", 0);
    snprintf(long_query, sizeof long_query, "to=https://example.com/&utm_source=g&pad=%04150d", 0);
    /* Exactly at the cap, with every value within its own. */
    strcpy(max_query, "to=x");
    for (size_t len = 4; len < 4096; len = strlen(max_query)) {
        size_t room = 4096 - len, digits = room > 203 ? 200 : room > 3 ? room - 3 : 0;
        strcat(max_query, digits ? "&p=" : "&");
        memset(max_query + strlen(max_query), '7', digits);
        max_query[len + (digits ? 3 + digits : 1)] = '\0';
    }
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = click_verify_query(rows[i].query, &err);
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d (%s)", i, (int)v, (int)rows[i].want, err.msg);
        if (v != CX_OK && !err.msg[0])
            fail_msg("row %zu: refused without a reason", i);
    }
    assert_null(cx_lookup("click")->keep_headers);
}

/* The open door's property: for any query verify accepts, the record the door builds from
 * it is one normalize accepts, small, and read back whole (its utm_source uncut). Over
 * mutations of real tracked links that break escapes, UTF-8 and lengths. */
static void test_click_verify_implies_normalize(void **state)
{
    static const char *const seeds[] = {
        "to=https%3A%2F%2Fexample.com%2Fpricing&utm_source=google&utm_medium=cpc"
        "&utm_campaign=spring_promo&utm_term=crm+software&gclid=EAIaIQobChMI-click",
        "to=https://example.com/&fbclid=IwAR1&utm_content=%C3%A9t%C3%A9&utm_source=fb",
        "utm_source=news&utm_medium=email&to=https%3A%2F%2Fexample.com%2F",
    };
    static char q[8192];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t accepted = 0, refused = 0;
    struct cx_err err;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        const char *from = seeds[(size_t)i % N_ELEMS(seeds)];
        size_t len = strlen(from);
        struct cx_form f;
        struct norm n;
        char *rec;

        memcpy(q, from, len + 1);
        for (uint64_t e = 1 + cx_test_rand(&seed) % 4; e > 0; e--)
            len = cx_test_mutate(&seed, q, len, sizeof q - 1);
        if (click_verify_query(q, &err) != CX_OK) {
            refused++;
            continue;
        }
        accepted++;
        assert_int_equal(cx_form_parse(&f, q, strlen(q)), 0);
        const char *to = cx_form_get(&f, "to"), *utm = cx_form_get(&f, "utm_source");
        rec = cx_click_record("4f2a", AID, q, to ? to : "https://example.com/", 1790855000123);
        assert_non_null(rec);
        if (strlen(rec) > 16384)
            fail_msg("a record of %zu bytes from %s", strlen(rec), q);
        if (run_normalize(&n, "click", "click", rec) != CX_NORM_OK)
            fail_msg("verify accepted %s, normalize refused its record: %s", q, n.err.msg);
        if (utm && utm[0] && strcmp(n.list.v[0].touch.source, utm) != 0)
            fail_msg("utm_source %s came back as %s", utm, n.list.v[0].touch.source);
        cx_list_free(&n.list);
        cJSON_free(rec);
        cx_form_free(&f);
    }
    if (accepted < 1000 || refused < 1000)
        fail_msg("generated %zu accepted and %zu refused queries: too few of one", accepted,
                 refused);
}

/* The site script's page views (POST /v1/collect): what the door accepts, normalize reads
 * back as a visit: the landing's utm and click ids, the page and its referrer, the
 * click tracker's cookie id beside the script's; refusals say why. */
static void test_collect_record(void **state)
{
    static const char body[] =
        "{\"aid\":\"" AID "\",\"url\":\"https://example.com/landing?utm_source=news&"
        "utm_medium=email&utm_campaign=autumn&gclid=G1#top\",\"referrer\":"
        "\"https://mail.example.org/\",\"extra\":1}";
    static const char plain[] = "{\"aid\":\"" AID "\",\"url\":\"https://example.com/pricing\"}";
    char *rec = NULL;
    struct cx_err err;
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    memset(&err, 0, sizeof err);
    assert_int_equal(cx_collect_record((const unsigned char *)body, strlen(body), "v1",
                                       "a_fedcba9876543210fedcba9876543210", 1790855000123, &rec,
                                       &err),
                     CX_OK);
    assert_int_equal(run_normalize(&n, "click", "click", rec), CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "view:v1");
    assert_string_equal(ev->kind, "visit");
    assert_string_equal(cx_event_stage(ev), "visit");
    assert_int_equal(ev->at_ms, 1790855000123);
    assert_int_equal(ev->nidentities, 3);
    assert_string_equal(ev->identities[0].value, AID);
    assert_string_equal(ev->identities[1].value, "a_fedcba9876543210fedcba9876543210");
    assert_string_equal(ev->identities[2].type, "gclid");
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.campaign, "autumn");
    assert_string_equal(ev->touch.channel, "paid_search"); /* a gclid decides */
    assert_string_equal(ev->attrs, "{\"to\":\"https://example.com/landing?utm_source=news&"
                                   "utm_medium=email&utm_campaign=autumn&gclid=G1#top\","
                                   "\"referrer\":\"https://mail.example.org/\"}");
    cx_list_free(&n.list);
    cJSON_free(rec);

    /* A page without parameters is a visit, not a touch; the same cookie id is not
     * repeated. */
    assert_int_equal(
        cx_collect_record((const unsigned char *)plain, strlen(plain), "v2", AID, 5, &rec, &err),
        CX_OK);
    assert_int_equal(run_normalize(&n, "click", "click", rec), CX_NORM_OK);
    assert_int_equal(n.list.v[0].has_touch, 0);
    assert_int_equal(n.list.v[0].nidentities, 1);
    cx_list_free(&n.list);
    cJSON_free(rec);

    static const char *const bad[] = {
        "",
        "null",
        "{\"aid\":\"" AID "\"}",
        "{\"aid\":\"a_1\",\"url\":\"https://example.com/\"}",
        "{\"aid\":\"" AID "\",\"url\":\"ftp://example.com/\"}",
        "{\"aid\":\"" AID "\",\"url\":\"https://example.com/?a=%zz\"}",
        "{\"aid\":\"" AID "\",\"url\":\"https://example.com/\",\"referrer\":\"x\"}",
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        memset(&err, 0, sizeof err);
        rec = (char *)1;
        if (cx_collect_record((const unsigned char *)bad[i], strlen(bad[i]), "v", NULL, 1, &rec,
                              &err) != CX_BAD_REQUEST ||
            rec != NULL || !err.msg[0])
            fail_msg("row %zu (%s): not refused with a reason", i, bad[i]);
    }
    char big[CX_COLLECT_BODY_MAX + 2];
    memset(big, ' ', sizeof big);
    assert_int_equal(
        cx_collect_record((const unsigned char *)big, sizeof big, "v", NULL, 1, &rec, &err),
        CX_BAD_REQUEST);
}

/* Whatever the door accepts, normalize takes whole (an open door never dead-letters). */
static void test_collect_implies_normalize(void **state)
{
    static const char seed_body[] =
        "{\"aid\":\"" AID "\",\"url\":\"https://example.com/l?utm_source=g&gclid=X1&"
        "utm_campaign=%C3%A9t%C3%A9\",\"referrer\":\"https://www.google.com/\"}";
    static char b[8192];
    uint64_t seed = 0x243f6a8885a308d3u;
    size_t accepted = 0, refused = 0;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        size_t len = strlen(seed_body);
        struct cx_err err;
        struct norm n;
        char *rec;

        memcpy(b, seed_body, len + 1);
        for (uint64_t e = 1 + cx_test_rand(&seed) % 3; e > 0; e--)
            len = cx_test_mutate(&seed, b, len, sizeof b - 1);
        memset(&err, 0, sizeof err);
        if (cx_collect_record((const unsigned char *)b, len, "v", NULL, 1, &rec, &err) != CX_OK) {
            refused++;
            continue;
        }
        accepted++;
        if (run_normalize(&n, "click", "click", rec) != CX_NORM_OK)
            fail_msg("collect accepted %.*s, normalize refused: %s", (int)len, b, n.err.msg);
        cx_list_free(&n.list);
        cJSON_free(rec);
    }
    if (accepted < 500 || refused < 500)
        fail_msg("generated %zu accepted and %zu refused bodies: too few of one", accepted,
                 refused);
}

static void test_click_normalize(void **state)
{
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(run_normalize(&n, "click", "click", click_body), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "click:clk_01J9ZK");
    assert_string_equal(ev->source, "click");
    assert_string_equal(ev->type, "click");
    assert_string_equal(ev->kind, "click");
    assert_string_equal(cx_event_stage(ev), "visit");
    assert_int_equal(ev->at_ms, 1790855000123);
    assert_int_equal(ev->nidentities, 2);
    assert_string_equal(ev->identities[0].type, "anon");
    assert_string_equal(ev->identities[0].value, "a_7f3c2e");
    assert_string_equal(ev->identities[1].type, "gclid");
    assert_string_equal(ev->identities[1].value, "EAIaIQobChMI-click");
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_search");
    assert_string_equal(ev->touch.source, "google");
    assert_string_equal(ev->touch.medium, "cpc");
    assert_string_equal(ev->touch.campaign, "spring_promo");
    assert_string_equal(ev->touch.term, "crm software");
    assert_string_equal(ev->touch.content, "");
    assert_int_equal(ev->touch.nclick_ids, 1);
    assert_string_equal(ev->touch.click_ids[0].name, "gclid");
    assert_string_equal(ev->touch.click_ids[0].value, "EAIaIQobChMI-click");
    assert_int_equal(ev->has_amount, 0);
    assert_string_equal(ev->attrs, "{\"to\":\"https://example.com/pricing?jd_aid=a_7f3c2e\"}");
    cx_list_free(&n.list);
}

static void test_click_edge_cases(void **state)
{
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    /* A click without utm is still a touch: direct. A bad at_ms falls back. */
    assert_int_equal(
        run_normalize(&n, "click", "click", "{\"id\":\"c2\",\"aid\":\"a_1\",\"at_ms\":1.5}"),
        CX_NORM_OK);
    ev = &n.list.v[0];
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "direct");
    assert_int_equal(ev->at_ms, RECEIVED_MS);
    assert_string_equal(ev->attrs, "");
    cx_list_free(&n.list);
    /* A malformed query loses its utm, not the click. */
    assert_int_equal(run_normalize(&n, "click", "click",
                                   "{\"id\":\"c3\",\"at_ms\":5,\"query\":\"utm_source=%zz\"}"),
                     CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->touch.channel, "direct");
    assert_string_equal(ev->touch.source, "");
    assert_int_equal(ev->at_ms, 5);
    assert_int_equal(ev->nidentities, 0);
    cx_list_free(&n.list);
    /* utm_medium email through the click tracker */
    assert_int_equal(run_normalize(&n, "click", "click",
                                   "{\"id\":\"c4\",\"at_ms\":5,\"query\":\"utm_source=news&"
                                   "utm_medium=email\"}"),
                     CX_NORM_OK);
    assert_string_equal(n.list.v[0].touch.channel, "email");
    cx_list_free(&n.list);
    assert_int_equal(run_normalize(&n, "click", "click", "{\"aid\":\"a_1\"}"), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "click: record without id");
    assert_int_equal(n.list.n, 0);
    cx_list_free(&n.list);
    assert_int_equal(run_normalize(&n, "click", "click", "not json"), CX_NORM_POISON);
    cx_list_free(&n.list);
}

static void test_click_cookie_aid(void **state)
{
    char aid[CX_CLICK_AID_SIZE];

    (void)state;
    assert_int_equal(cx_click_cookie_aid("theme=dark; jd_aid=" AID "; lang=it", aid), 1);
    assert_string_equal(aid, AID);
    assert_int_equal(cx_click_cookie_aid("jd_aid=" AID, aid), 1);
    assert_string_equal(aid, AID);
    /* A forged or damaged id is not reused: the handler mints a fresh one. */
    assert_int_equal(cx_click_cookie_aid("jd_aid=a_0123456789ABCDEF0123456789abcdef", aid), 0);
    assert_string_equal(aid, "");
    assert_int_equal(cx_click_cookie_aid("jd_aid=a_123; jd_aid=" AID, aid), 1);
    assert_string_equal(aid, AID);
    assert_int_equal(cx_click_cookie_aid("xjd_aid=" AID, aid), 0);
    assert_int_equal(cx_click_cookie_aid("jd_aid=" AID "0", aid), 0);
    assert_int_equal(cx_click_cookie_aid(";; ", aid), 0);
    assert_int_equal(cx_click_cookie_aid(NULL, aid), 0);
    assert_string_equal(aid, "");
}

/* The record the door enqueues is the one normalize reads: built, then read back. */
static void test_click_record_round_trip(void **state)
{
    struct norm n;
    const struct cx_event *ev;
    char *rec;

    (void)state;
    rec = cx_click_record("4f2a", AID,
                          "to=https%3A%2F%2Fexample.com%2F&utm_source=google&"
                          "utm_medium=cpc&utm_campaign=spring_promo&gclid=G-1",
                          "https://example.com/", 1790855000123);
    assert_non_null(rec);
    assert_string_equal(rec, "{\"id\":\"4f2a\",\"aid\":\"" AID "\",\"at_ms\":1790855000123,"
                             "\"query\":\"to=https%3A%2F%2Fexample.com%2F&utm_source=google&"
                             "utm_medium=cpc&utm_campaign=spring_promo&gclid=G-1\","
                             "\"to\":\"https://example.com/\"}");
    assert_int_equal(run_normalize(&n, "click", "click", rec), CX_NORM_OK);
    cJSON_free(rec);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "click:4f2a");
    assert_int_equal(ev->at_ms, 1790855000123);
    assert_string_equal(ev->identities[0].type, "anon");
    assert_string_equal(ev->identities[0].value, AID);
    assert_string_equal(ev->touch.channel, "paid_search");
    assert_string_equal(ev->touch.campaign, "spring_promo");
    assert_string_equal(ev->attrs, "{\"to\":\"https://example.com/\"}");
    cx_list_free(&n.list);
}

static void test_click_location(void **state)
{
    char loc[64];

    (void)state;
    assert_int_equal(cx_click_location("https://example.com/p", "a_1", loc, sizeof loc), 0);
    assert_string_equal(loc, "https://example.com/p?jd_aid=a_1");
    assert_int_equal(cx_click_location("https://example.com/p?x=1", "a_1", loc, sizeof loc), 0);
    assert_string_equal(loc, "https://example.com/p?x=1&jd_aid=a_1");
    /* The id goes before the fragment, and a ? inside the fragment is not a query. */
    assert_int_equal(cx_click_location("https://example.com/p#top?x", "a_1", loc, sizeof loc), 0);
    assert_string_equal(loc, "https://example.com/p?jd_aid=a_1#top?x");
    assert_int_equal(cx_click_location("https://example.com/p?x=1#f", "a_1", loc, sizeof loc), 0);
    assert_string_equal(loc, "https://example.com/p?x=1&jd_aid=a_1#f");
    assert_int_equal(cx_click_location("https://example.com/p", "a_1", loc, 20), -1);
}

/* ---- events API ---- */

static enum cx_verdict events_verify(const char *auth, const char *body, struct cx_err *err)
{
    const struct cx_connector *c = cx_lookup("events");
    struct cx_header h[2] = {{"Content-Type", "application/json"}, {"Authorization", auth}};
    struct cx_source src;
    struct cx_input in;
    struct cx_reply reply;

    assert_non_null(c);
    memset(&src, 0, sizeof src);
    memset(&in, 0, sizeof in);
    memset(err, 0, sizeof *err);
    src.name = "api";
    src.type = "events";
    src.secrets[0] = "token-one";
    src.secrets[1] = "token-two";
    src.nsecrets = 2;
    in.method = "POST";
    in.headers = h;
    in.nheaders = auth ? 2 : 1;
    in.body = (const unsigned char *)body;
    in.body_len = strlen(body);
    in.now_ms = RECEIVED_MS;
    return c->verify(&src, &in, &reply, err);
}

static const char events_body[] =
    "{\"events\":["
    "{\"id\":\"signup-1\",\"kind\":\"lead\",\"at\":\"2026-10-01T12:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"Giulia.Rossi@example.it\"},"
    "{\"type\":\"custom:crm_id\",\"value\":\"CRM-42\"},{\"type\":\"phone\",\"value\":\"n/a\"}],"
    "\"touch\":{\"source\":\"linkedin\",\"medium\":\"paid_social\",\"campaign\":\"q4\","
    "\"content\":null,\"ad\":\"ad-7\",\"platform\":\"linkedin\",\"channel\":\"ignored\","
    "\"click_ids\":{\"li_fat_id\":\"LI-1\",\"unknown_id\":\"x\"}},"
    "\"attributes\":{\"plan\":\"pro\",\"seats\":5}},"
    "{\"id\":\"order-9\",\"kind\":\"payment\",\"at\":\"2026-10-02T08:30:00.250+02:00\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"giulia.rossi@example.it\"}],"
    "\"amount\":{\"minor\":9007199254740991,\"currency\":\"eur\"},\"payment_key\":\"ord-9\","
    "\"stage\":\"paid\"},"
    "{\"id\":\"pv-1\",\"kind\":\"visit\",\"at\":\"2026-09-30T10:00:00Z\","
    "\"identities\":[{\"type\":\"anon\",\"value\":\"a_7f3c2e\"}]}"
    "]}";

static void test_events_verify(void **state)
{
    struct cx_err err;

    (void)state;
    assert_int_equal(events_verify("Bearer token-one", events_body, &err), CX_OK);
    assert_int_equal(events_verify("Bearer token-two", events_body, &err), CX_OK);
    assert_int_equal(events_verify("Bearer token-three", events_body, &err), CX_BAD_SIGNATURE);
    assert_int_equal(events_verify("token-one", events_body, &err), CX_BAD_SIGNATURE);
    assert_int_equal(events_verify(NULL, events_body, &err), CX_BAD_SIGNATURE);
    /* Credentials come first: a bad body with no token is a 401. */
    assert_int_equal(events_verify(NULL, "junk", &err), CX_BAD_SIGNATURE);
}

#define AT "\"at\":\"2026-10-01T12:00:00Z\""
#define OK_EV "{\"id\":\"e\",\"kind\":\"custom\"," AT "}"

static void test_events_verify_bad_bodies(void **state)
{
    static const struct {
        const char *body, *msg;
    } rows[] = {
        {"junk", "body is not a JSON object"},
        {"[]", "body is not a JSON object"},
        {"{}", "events: expected an array of 1 to 1000 events"},
        {"{\"events\":[]}", "events: expected an array of 1 to 1000 events"},
        {"{\"events\":{}}", "events: expected an array of 1 to 1000 events"},
        {"{\"events\":[1]}", "events[0]: not an object"},
        {"{\"events\":[{\"kind\":\"lead\"," AT "}]}", "events[0].id: missing or not a string"},
        {"{\"events\":[{\"id\":7,\"kind\":\"lead\"," AT "}]}",
         "events[0].id: missing or not a string"},
        {"{\"events\":[{\"id\":\"\",\"kind\":\"lead\"," AT "}]}",
         "events[0].id: missing or not a string"},
        {"{\"events\":[{\"id\":\"a\\nb\",\"kind\":\"lead\"," AT "}]}",
         "events[0].id: too long or has control characters"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"purchase\"," AT "}]}",
         "events[0].kind: missing or unknown"},
        {"{\"events\":[{\"id\":\"e\"," AT "}]}", "events[0].kind: missing or unknown"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\",\"at\":\"2026-02-30T00:00:00Z\"}]}",
         "events[0].at: missing or not RFC 3339"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\",\"at\":1790856000}]}",
         "events[0].at: missing or not RFC 3339"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"}]}",
         "events[0].at: missing or not RFC 3339"},
        {"{\"events\":[" OK_EV ",{\"id\":\"e2\",\"kind\":\"lead\",\"at\":\"2026-10-01\"}]}",
         "events[1].at: missing or not RFC 3339"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"identities\":{}}]}",
         "events[0].identities: not an array"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"identities\":[{\"type\":"
         "\"email\"}]}]}",
         "events[0].identities[0]: needs string type and value"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"identities\":[{\"type\":"
         "\"twitter\",\"value\":\"x\"}]}]}",
         "events[0].identities[0].type: unknown"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"identities\":[{\"type\":"
         "\"custom:\",\"value\":\"x\"}]}]}",
         "events[0].identities[0].type: unknown"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"touch\":[]}]}",
         "events[0].touch: not an object"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"touch\":{\"source\":1}}]}",
         "events[0].touch.source: not a string"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT
         ",\"touch\":{\"click_ids\":{\"gclid\":1}}}]}",
         "events[0].touch.click_ids: values must be strings"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"stage\":\"customer\"}]}",
         "events[0].stage: not a funnel stage"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT "}]}",
         "events[0].amount: required for payment"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"refund\"," AT ",\"amount\":null}]}",
         "events[0].amount: required for refund"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT
         ",\"amount\":{\"minor\":12.5,\"currency\":\"EUR\"}}]}",
         "events[0].amount.minor: not a non-negative integer below 2^53"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT
         ",\"amount\":{\"minor\":\"1250\",\"currency\":\"EUR\"}}]}",
         "events[0].amount.minor: not a non-negative integer below 2^53"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT
         ",\"amount\":{\"minor\":9007199254740992,\"currency\":\"EUR\"}}]}",
         "events[0].amount.minor: not a non-negative integer below 2^53"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT
         ",\"amount\":{\"minor\":-5,\"currency\":\"EUR\"}}]}",
         "events[0].amount.minor: not a non-negative integer below 2^53"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"payment\"," AT
         ",\"amount\":{\"minor\":100,\"currency\":\"EURO\"}}]}",
         "events[0].amount.currency: not an ISO 4217 code"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"payment_key\":5}]}",
         "events[0].payment_key: not a string or too long"},
        {"{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"attributes\":[1]}]}",
         "events[0].attributes: not an object"},
    };
    struct cx_err err;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = events_verify("Bearer token-one", rows[i].body, &err);
        if (v != CX_BAD_REQUEST)
            fail_msg("row %zu: verdict %d, want CX_BAD_REQUEST", i, (int)v);
        if (strcmp(err.msg, rows[i].msg) != 0)
            fail_msg("row %zu: message \"%s\", want \"%s\"", i, err.msg, rows[i].msg);
    }
}

static void test_events_too_many_identities(void **state)
{
    char body[2048];
    struct cx_err err;
    size_t o, i;

    (void)state;
    o = (size_t)snprintf(body, sizeof body,
                         "{\"events\":[{\"id\":\"e\",\"kind\":\"lead\"," AT ",\"identities\":[");
    for (i = 0; i <= CX_MAX_IDENTITIES; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"type\":\"anon\",\"value\":\"a_%zu\"}", i ? "," : "", i);
    snprintf(body + o, sizeof body - o, "]}]}");
    assert_int_equal(events_verify("Bearer token-one", body, &err), CX_BAD_REQUEST);
    assert_string_equal(err.msg, "events[0].identities: more than 16");
    /* exactly CX_MAX_IDENTITIES is fine: drop the last one */
    o = (size_t)(strstr(body, ",{\"type\":\"anon\",\"value\":\"a_16\"}") - body);
    snprintf(body + o, sizeof body - o, "]}]}");
    assert_int_equal(events_verify("Bearer token-one", body, &err), CX_OK);
}

static char *batch_of(size_t n)
{
    const char *one = OK_EV;
    size_t one_len = strlen(one), cap = 16 + n * (one_len + 1), o = 0, i;
    char *b = malloc(cap);

    assert_non_null(b);
    memcpy(b, "{\"events\":[", 11);
    o = 11;
    for (i = 0; i < n; i++) {
        if (i)
            b[o++] = ',';
        memcpy(b + o, one, one_len);
        o += one_len;
    }
    memcpy(b + o, "]}", 3);
    return b;
}

static void test_events_batch_limits(void **state)
{
    struct cx_err err;
    struct norm n;
    char *b;

    (void)state;
    b = batch_of(CX_MAX_EVENTS);
    assert_int_equal(events_verify("Bearer token-one", b, &err), CX_OK);
    assert_int_equal(run_normalize(&n, "events", "api", b), CX_NORM_OK);
    assert_int_equal(n.list.n, CX_MAX_EVENTS);
    assert_string_equal(n.list.v[CX_MAX_EVENTS - 1].id, "events:e");
    cx_list_free(&n.list);
    free(b);
    b = batch_of(CX_MAX_EVENTS + 1);
    assert_int_equal(events_verify("Bearer token-one", b, &err), CX_BAD_REQUEST);
    assert_string_equal(err.msg, "events: expected an array of 1 to 1000 events");
    assert_int_equal(run_normalize(&n, "events", "api", b), CX_NORM_POISON);
    assert_int_equal(n.list.n, 0);
    cx_list_free(&n.list);
    free(b);
}

static void test_events_normalize(void **state)
{
    struct norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(run_normalize(&n, "events", "api", events_body), CX_NORM_OK);
    assert_int_equal(n.list.n, 3);

    ev = &n.list.v[0];
    assert_string_equal(ev->id, "events:signup-1");
    assert_string_equal(ev->source, "api");
    assert_string_equal(ev->type, "events");
    assert_string_equal(ev->kind, "lead");
    assert_int_equal(ev->at_ms, 1790856000000);
    assert_int_equal(ev->nidentities, 2); /* the unusable phone is dropped */
    assert_string_equal(ev->identities[0].type, "email");
    assert_string_equal(ev->identities[0].value, "giulia.rossi@example.it");
    assert_string_equal(ev->identities[1].type, "custom:crm_id");
    assert_string_equal(ev->identities[1].value, "CRM-42");
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_social"); /* derived, never the client's */
    assert_string_equal(ev->touch.source, "linkedin");
    assert_string_equal(ev->touch.medium, "paid_social");
    assert_string_equal(ev->touch.campaign, "q4");
    assert_string_equal(ev->touch.content, "");
    assert_string_equal(ev->touch.ad, "ad-7");
    assert_string_equal(ev->touch.platform, "linkedin");
    assert_int_equal(ev->touch.nclick_ids, 1);
    assert_string_equal(ev->touch.click_ids[0].name, "li_fat_id");
    assert_string_equal(ev->touch.click_ids[0].value, "LI-1");
    assert_int_equal(ev->has_amount, 0);
    assert_string_equal(ev->payment_key, "");
    assert_string_equal(ev->attrs, "{\"plan\":\"pro\",\"seats\":5}");

    ev = &n.list.v[1];
    assert_string_equal(ev->id, "events:order-9");
    assert_string_equal(ev->kind, "payment");
    assert_int_equal(ev->at_ms, 1790922600250); /* 08:30:00.250+02:00 */
    assert_string_equal(ev->stage, "paid");
    assert_int_equal(ev->has_amount, 1);
    assert_int_equal(ev->amount_minor, 9007199254740991);
    assert_string_equal(ev->currency, "EUR");
    assert_string_equal(ev->payment_key, "ord-9");
    assert_int_equal(ev->has_touch, 0);

    ev = &n.list.v[2];
    assert_string_equal(ev->id, "events:pv-1");
    assert_string_equal(ev->kind, "visit");
    assert_int_equal(ev->nidentities, 1);
    assert_string_equal(ev->identities[0].value, "a_7f3c2e");
    cx_list_free(&n.list);

    /* A payment without a key is its own payment. */
    assert_int_equal(run_normalize(&n, "events", "api",
                                   "{\"events\":[{\"id\":\"p1\",\"kind\":\"payment\"," AT
                                   ",\"amount\":{\"minor\":100,\"currency\":\"USD\"}}]}"),
                     CX_NORM_OK);
    assert_string_equal(n.list.v[0].payment_key, "events:p1");
    cx_list_free(&n.list);

    /* A body that could not pass verify is poison in the worker, with the same reason. */
    assert_int_equal(run_normalize(&n, "events", "api", "{\"events\":[{\"id\":\"e\"}]}"),
                     CX_NORM_POISON);
    assert_string_equal(n.err.msg, "events[0].kind: missing or unknown");
    assert_int_equal(n.list.n, 0);
    cx_list_free(&n.list);
}

/* ---- canonical JSON ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!v)
        fail_msg("key \"%s\" missing", key);
    return v;
}

static void expect_str(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = get(o, key);

    if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
        fail_msg("%s: want \"%s\"", key, want);
}

static void expect_null(const cJSON *o, const char *key)
{
    if (!cJSON_IsNull(get(o, key)))
        fail_msg("%s: want null", key);
}

static void test_json_events(void **state)
{
    struct norm n;
    cJSON *j;
    const cJSON *touch, *ids, *amount, *attrs;
    char *s;

    (void)state;
    assert_int_equal(run_normalize(&n, "events", "api", events_body), CX_NORM_OK);

    s = cx_event_to_json(&n.list.v[0]);
    assert_non_null(s);
    j = cJSON_Parse(s);
    assert_non_null(j);
    expect_str(j, "id", "events:signup-1");
    expect_str(j, "source", "api");
    expect_str(j, "type", "events");
    expect_str(j, "kind", "lead");
    expect_str(j, "at", "2026-10-01T12:00:00Z");
    expect_str(j, "stage", "lead"); /* follows the kind */
    expect_str(j, "raw", "1790900000000-7");
    assert_int_equal(cJSON_GetArraySize(get(j, "identities")), 2);
    expect_str(cJSON_GetArrayItem(get(j, "identities"), 0), "type", "email");
    expect_str(cJSON_GetArrayItem(get(j, "identities"), 0), "value", "giulia.rossi@example.it");
    expect_str(cJSON_GetArrayItem(get(j, "identities"), 1), "type", "custom:crm_id");
    touch = get(j, "touch");
    expect_str(touch, "channel", "paid_social");
    expect_str(touch, "source", "linkedin");
    expect_str(touch, "medium", "paid_social");
    expect_str(touch, "campaign", "q4");
    expect_null(touch, "content");
    expect_null(touch, "term");
    expect_str(touch, "ad", "ad-7");
    expect_str(touch, "platform", "linkedin");
    ids = get(touch, "click_ids");
    assert_int_equal(cJSON_GetArraySize(ids), 1);
    expect_str(ids, "li_fat_id", "LI-1");
    attrs = get(j, "attributes");
    expect_str(attrs, "plan", "pro");
    assert_int_equal(get(attrs, "seats")->valuedouble, 5);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "amount"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "payment_key"));
    cJSON_Delete(j);
    free(s);

    s = cx_event_to_json(&n.list.v[1]);
    assert_non_null(s);
    /* The integer is printed digit for digit, not through a double's %g. */
    assert_non_null(strstr(s, "\"amount\":{\"minor\":9007199254740991,\"currency\":\"EUR\"}"));
    j = cJSON_Parse(s);
    assert_non_null(j);
    expect_str(j, "at", "2026-10-02T06:30:00.250Z");
    expect_str(j, "stage", "paid");
    expect_str(j, "payment_key", "ord-9");
    amount = get(j, "amount");
    assert_true(get(amount, "minor")->valuedouble == 9007199254740991.0);
    expect_str(amount, "currency", "EUR");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "touch"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "attributes"));
    cJSON_Delete(j);
    free(s);

    /* The simplest event, byte for byte (key order as in DESIGN §3). */
    s = cx_event_to_json(&n.list.v[2]);
    assert_string_equal(s, "{\"id\":\"events:pv-1\",\"source\":\"api\",\"type\":\"events\","
                           "\"kind\":\"visit\",\"at\":\"2026-09-30T10:00:00Z\","
                           "\"identities\":[{\"type\":\"anon\",\"value\":\"a_7f3c2e\"}],"
                           "\"stage\":\"visit\",\"raw\":\"1790900000000-7\"}");
    free(s);
    cx_list_free(&n.list);
}

static void test_json_click_and_amounts(void **state)
{
    static const struct {
        int64_t minor;
        const char *text;
    } amounts[] = {
        {0, "0"},
        {249000, "249000"},
        {2147483648, "2147483648"},
        {999999999999999, "999999999999999"},
        {1000000000000000, "1000000000000000"}, /* cJSON alone would print 1e+15 */
        {1234567890123456789, "1234567890123456789"},
    };
    struct norm n;
    struct cx_event ev;
    cJSON *j;
    const cJSON *touch;
    char *s, want[96];
    size_t i;

    (void)state;
    assert_int_equal(run_normalize(&n, "click", "click", click_body), CX_NORM_OK);
    s = cx_event_to_json(&n.list.v[0]);
    assert_non_null(s);
    j = cJSON_Parse(s);
    assert_non_null(j);
    expect_str(j, "id", "click:clk_01J9ZK");
    expect_str(j, "kind", "click");
    expect_str(j, "at", "2026-10-01T11:43:20.123Z");
    expect_str(j, "stage", "visit");
    touch = get(j, "touch");
    expect_str(touch, "channel", "paid_search");
    expect_str(touch, "source", "google");
    expect_str(touch, "term", "crm software");
    expect_null(touch, "content");
    expect_null(touch, "ad");
    expect_null(touch, "platform");
    expect_str(get(touch, "click_ids"), "gclid", "EAIaIQobChMI-click");
    expect_str(get(j, "attributes"), "to", "https://example.com/pricing?jd_aid=a_7f3c2e");
    cJSON_Delete(j);
    free(s);
    cx_list_free(&n.list);

    for (i = 0; i < N_ELEMS(amounts); i++) {
        memset(&ev, 0, sizeof ev);
        cx_copy_text(ev.id, sizeof ev.id, "events:x");
        cx_copy_text(ev.kind, sizeof ev.kind, "payment");
        ev.has_amount = 1;
        ev.amount_minor = amounts[i].minor;
        memcpy(ev.currency, "EUR", 4);
        s = cx_event_to_json(&ev);
        assert_non_null(s);
        snprintf(want, sizeof want, "\"amount\":{\"minor\":%s,\"currency\":\"EUR\"}",
                 amounts[i].text);
        if (!strstr(s, want))
            fail_msg("row %zu: %s lacks %s", i, s, want);
        j = cJSON_Parse(s);
        if (!j)
            fail_msg("row %zu: not JSON: %s", i, s);
        cJSON_Delete(j);
        free(s);
    }

    /* Stored attrs that are not an object are left out, never emitted broken. */
    memset(&ev, 0, sizeof ev);
    cx_copy_text(ev.kind, sizeof ev.kind, "custom");
    cx_copy_text(ev.attrs, sizeof ev.attrs, "[1,2");
    s = cx_event_to_json(&ev);
    assert_non_null(s);
    assert_null(strstr(s, "attributes"));
    assert_null(strstr(s, "stage")); /* custom has no stage */
    free(s);
    assert_null(cx_event_to_json(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_click_verify),
        cmocka_unit_test(test_click_verify_implies_normalize),
        cmocka_unit_test(test_click_normalize),
        cmocka_unit_test(test_click_edge_cases),
        cmocka_unit_test(test_click_cookie_aid),
        cmocka_unit_test(test_click_record_round_trip),
        cmocka_unit_test(test_click_location),
        cmocka_unit_test(test_collect_record),
        cmocka_unit_test(test_collect_implies_normalize),
        cmocka_unit_test(test_events_verify),
        cmocka_unit_test(test_events_verify_bad_bodies),
        cmocka_unit_test(test_events_too_many_identities),
        cmocka_unit_test(test_events_batch_limits),
        cmocka_unit_test(test_events_normalize),
        cmocka_unit_test(test_json_events),
        cmocka_unit_test(test_json_click_and_amounts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
