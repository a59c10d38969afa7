/*
 * Calendly connector: the derived signature vector D1 from
 * /work/shared/fixtures/calendly/vectors.md, and composed invitee.created /
 * invitee.canceled payloads in the shape of Calendly's API v2 webhook payload
 * (tests/data/calendly/README.md says where each came from).
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

static enum cx_verdict verify(const char *const *secrets, size_t nsecrets, int64_t tolerance_s,
                              const char *header, const void *body, size_t len, int64_t now_s)
{
    struct cx_source src;
    struct cx_header h[2] = {{"Content-Type", "application/json"},
                             {"Calendly-Webhook-Signature", header}};

    cx_test_source_init(&src, "calendly", "calendly", secrets, nsecrets);
    src.tolerance_s = tolerance_s;
    return cx_test_verify(&src, "POST", h, header ? 2 : 1, body, len, now_s * 1000);
}

/* D1 (vectors.md; derived, computed with Python hmac and openssl, not from Calendly). */
static const char d1_body[] = "{\"event\":\"invitee.created\",\"payload\":{\"email\":"
                              "\"test@example.com\"}}";
#define D1_T 1700000000
#define D1_V1 "bb71ecb6efcaca16c1c7d0ecd15da5ed67a54d28f3bc14ee5dca17b32dac18f0"
#define D1_HEADER "t=1700000000,v1=" D1_V1

static const char *const d1_key[] = {"calendly_test_signing_key"};

static void test_d1_mac(void **state)
{
    unsigned char mac[CX_SHA256_LEN];
    char hex[2 * CX_SHA256_LEN + 1];

    (void)state;
    assert_int_equal(sizeof d1_body - 1, 66);
    assert_int_equal(cx_hmac_sha256("calendly_test_signing_key", 25, "1700000000.", 11, d1_body,
                                    sizeof d1_body - 1, mac),
                     0);
    cx_hex_encode(mac, sizeof mac, hex);
    assert_string_equal(hex, D1_V1);
}

static void test_d1_verify(void **state)
{
    static const char *const wrong[] = {"calendly_test_signing_kez"};
    static const char *const rotated[] = {"calendly_old_key", "calendly_test_signing_key"};
    const size_t n = sizeof d1_body - 1;
    char tampered[sizeof d1_body];

    (void)state;
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, d1_body, n, D1_T), CX_OK);
    /* the replay window is the source's tolerance, both ends: age 300 passes, 301 not */
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, d1_body, n, D1_T + 300), CX_OK);
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, d1_body, n, D1_T + 301), CX_STALE);
    /* Calendly's own sample window, 3 minutes */
    assert_int_equal(verify(d1_key, 1, 180, D1_HEADER, d1_body, n, D1_T + 180), CX_OK);
    assert_int_equal(verify(d1_key, 1, 180, D1_HEADER, d1_body, n, D1_T + 181), CX_STALE);
    /* tolerance 0 (unset) means the config default, 300 s */
    assert_int_equal(verify(d1_key, 1, 0, D1_HEADER, d1_body, n, D1_T + 300), CX_OK);
    assert_int_equal(verify(d1_key, 1, 0, D1_HEADER, d1_body, n, D1_T + 301), CX_STALE);
    /* a future timestamp passes, as with Stripe */
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, d1_body, n, D1_T - 3600), CX_OK);
    /* tampered body, shorter body */
    memcpy(tampered, d1_body, sizeof d1_body);
    tampered[47] = 'T'; /* "test@" -> "Test@" */
    assert_int_equal(tampered[46], '"');
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, tampered, n, D1_T), CX_BAD_SIGNATURE);
    assert_int_equal(verify(d1_key, 1, 300, D1_HEADER, d1_body, n - 1, D1_T), CX_BAD_SIGNATURE);
    /* wrong key, no key, rotation */
    assert_int_equal(verify(wrong, 1, 300, D1_HEADER, d1_body, n, D1_T), CX_BAD_SIGNATURE);
    assert_int_equal(verify(d1_key, 0, 300, D1_HEADER, d1_body, n, D1_T), CX_BAD_SIGNATURE);
    assert_int_equal(verify(rotated, 2, 300, D1_HEADER, d1_body, n, D1_T), CX_OK);
    assert_int_equal(verify(rotated, 1, 300, D1_HEADER, d1_body, n, D1_T), CX_BAD_SIGNATURE);
    /* the signature is checked before the age: stale and wrong is a bad signature */
    assert_int_equal(verify(wrong, 1, 300, D1_HEADER, d1_body, n, D1_T + 301), CX_BAD_SIGNATURE);
}

static void test_d1_header_variants(void **state)
{
    static const struct {
        const char *header;
        enum cx_verdict want;
    } rows[] = {
        {NULL, CX_BAD_SIGNATURE},
        {"", CX_BAD_SIGNATURE},
        {"garbage", CX_BAD_SIGNATURE},
        {"v1=" D1_V1, CX_BAD_SIGNATURE},                           /* no t */
        {"t=1700000000", CX_BAD_SIGNATURE},                        /* no v1 */
        {"t=1700000000,v0=" D1_V1, CX_BAD_SIGNATURE},              /* unknown scheme only */
        {"t=17000000x0,v1=" D1_V1, CX_BAD_SIGNATURE},              /* malformed t */
        {"t=-1700000000,v1=" D1_V1, CX_BAD_SIGNATURE},             /* negative t */
        {"t=,v1=" D1_V1, CX_BAD_SIGNATURE},                        /* empty t */
        {"t=1700000000,t=1700000001,v1=" D1_V1, CX_BAD_SIGNATURE}, /* two timestamps */
        {"t=1700000001,v1=" D1_V1, CX_BAD_SIGNATURE},              /* t changed */
        {"t=1700000000,v1=" D1_V1 "00", CX_BAD_SIGNATURE},         /* too long */
        {"t=1700000000,v1=x" D1_V1, CX_BAD_SIGNATURE},             /* undecodable */
        {"t=1700000000,v1=" D1_V1, CX_OK},
        {"v1=" D1_V1 ",t=1700000000", CX_OK},           /* any order */
        {"t=1700000000, v1=" D1_V1, CX_OK},             /* blanks */
        {"t=1700000000,t=1700000000,v1=" D1_V1, CX_OK}, /* same t twice */
        {"t=1700000000,v2=abc,v1=" D1_V1, CX_OK},       /* unknown keys ignored */
        {"t=1700000000,v1=00,v1=" D1_V1, CX_OK},        /* any v1 may match */
        {"t=1700000000,v1=BB71ECB6EFCACA16C1C7D0ECD15DA5ED67A54D28F3BC14EE5DCA17B32DAC18F0",
         CX_OK}, /* hex in either case */
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v =
            verify(d1_key, 1, 300, rows[i].header, d1_body, sizeof d1_body - 1, D1_T + 10);
        if (v != rows[i].want)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].header ? rows[i].header : "(none)",
                     (int)v, (int)rows[i].want);
    }
}

static void test_verify_body_check(void **state)
{
    /* Signed with cx_hmac_sha256 (established by D1): once the signature matches, a body
     * that is not a Calendly event is a 400. GET is never a Calendly delivery. */
    static const char *const key[] = {"k"};
    static const struct {
        const char *body;
        enum cx_verdict want;
    } rows[] = {
        {"{\"event\":\"invitee.created\",\"payload\":{}}", CX_OK},
        {"{\"event\":\"routing_form_submission.created\",\"payload\":{}}", CX_OK},
        {"{\"event\":\"invitee.created\"}", CX_BAD_REQUEST},
        {"{\"event\":\"invitee.created\",\"payload\":[]}", CX_BAD_REQUEST},
        {"{\"payload\":{}}", CX_BAD_REQUEST},
        {"[]", CX_BAD_REQUEST},
        {"x", CX_BAD_REQUEST},
    };
    unsigned char mac[CX_SHA256_LEN];
    char header[96], hex[2 * CX_SHA256_LEN + 1];
    struct cx_source src;
    struct cx_input in;
    struct cx_header h[1];
    struct cx_reply reply;
    struct cx_err err;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        size_t n = strlen(rows[i].body);
        assert_int_equal(cx_hmac_sha256("k", 1, "1700000000.", 11, rows[i].body, n, mac), 0);
        cx_hex_encode(mac, sizeof mac, hex);
        snprintf(header, sizeof header, "t=1700000000,v1=%s", hex);
        if (verify(key, 1, 300, header, rows[i].body, n, 1700000001) != rows[i].want)
            fail_msg("row %zu: unexpected verdict", i);
    }
    memset(&src, 0, sizeof src);
    memset(&in, 0, sizeof in);
    src.secrets[0] = key[0];
    src.nsecrets = 1;
    h[0].name = "Calendly-Webhook-Signature";
    h[0].value = header;
    in.method = "GET";
    in.headers = h;
    in.nheaders = 1;
    in.body = (const unsigned char *)rows[N_ELEMS(rows) - 1].body;
    in.body_len = 1;
    in.now_ms = 1700000001000;
    assert_int_equal(cx_test_connector("calendly")->verify(&src, &in, &reply, &err),
                     CX_BAD_REQUEST);
}

/* ---- normalize ---- */

static const struct cx_test_feed feed = {"calendly", "calendly-sales", "1790932503000-0",
                                         1790990000000, "calendly"};

/* A fixture under a source that maps event types to stages (NULL: none). */
static enum cx_result normalize_file(struct cx_test_norm *n, const char *name, const char *stages)
{
    cx_test_norm_feed_file(n, &feed, name);
    n->src.stages = stages;
    return cx_test_norm_run(n);
}

#define INVITEE                                                                                    \
    "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/BBBBBBBBBBBBBBBB"

static void test_norm_invitee_created(void **state)
{
    static const char *const ids[] = {"email", "giulia.rossi@example.it", "phone", "+393471234567"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(normalize_file(&n, "invitee_created.json", NULL), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "calendly:" INVITEE);
    assert_string_equal(ev->source, "calendly-sales");
    assert_string_equal(ev->type, "calendly");
    assert_string_equal(ev->kind, "meeting");
    assert_string_equal(ev->raw, "1790932503000-0");
    /* payload.created_at (the booking), not the envelope's 09:15:03 nor the meeting */
    assert_int_equal(ev->at_ms, 1790932502481);
    assert_string_equal(ev->stage, "");
    assert_string_equal(cx_event_stage(ev), "opportunity");
    assert_int_equal(ev->has_amount, 0);
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "email");
    assert_string_equal(ev->touch.source, "newsletter");
    assert_string_equal(ev->touch.medium, "email");
    assert_string_equal(ev->touch.campaign, "spring_promo");
    assert_string_equal(ev->touch.content, ""); /* null in the tracking object */
    assert_string_equal(ev->touch.term, "");
    assert_int_equal(ev->touch.nclick_ids, 0);
    assert_string_equal(ev->attrs,
                        "{\"name\":\"Giulia Rossi\",\"event_name\":\"Discovery call\","
                        "\"event_start\":\"2026-10-05T14:00:00.000000Z\",\"event_end\":"
                        "\"2026-10-05T14:30:00.000000Z\",\"event_uri\":\"https://api.calendly.com/"
                        "scheduled_events/GBGBDCAADAEDCRZ2\",\"timezone\":\"Europe/Rome\","
                        "\"Company\":\"Acme S.r.l.\"}");
    cx_test_norm_free(&n);
}

static void test_norm_stage_mapping(void **state)
{
    static const struct {
        const char *stages;
        const char *want; /* ev->stage */
    } rows[] = {
        {NULL, ""},
        {"", ""},
        {"Discovery call:qualified", "qualified"},
        {"invitee.created:lead", "lead"},
        {"Discovery call:won, invitee.created:lead", "won"}, /* the event type first */
        {"Demo:won, invitee.created:qualified", "qualified"},
        {"Discovery call:bogus", ""}, /* not a journeyd stage: the kind's default stays */
        {"Demo:won", ""},
    };
    struct cx_test_norm n;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        assert_int_equal(normalize_file(&n, "invitee_created.json", rows[i].stages), CX_NORM_OK);
        if (strcmp(n.list.v[0].stage, rows[i].want) != 0)
            fail_msg("row %zu: stage \"%s\", want \"%s\"", i, n.list.v[0].stage, rows[i].want);
        cx_test_norm_free(&n);
    }
}

static void test_norm_invitee_canceled(void **state)
{
    static const char *const ids[] = {"email", "giulia.rossi@example.it"};
    struct cx_test_norm n;
    const struct cx_event *ev;

    (void)state;
    assert_int_equal(normalize_file(&n, "invitee_canceled.json", "invitee.created:qualified"),
                     CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    /* its own id: the booking's dedup key stays the booking's */
    assert_string_equal(ev->id, "calendly:" INVITEE ":canceled");
    assert_string_equal(ev->kind, "custom");
    assert_int_equal(ev->at_ms, 1791045610902); /* cancellation.created_at */
    assert_string_equal(ev->stage, "");         /* a cancellation moves no stage */
    assert_string_equal(cx_event_stage(ev), "");
    cx_test_expect_identities(ev, ids, N_ELEMS(ids));
    assert_int_equal(ev->has_touch, 0); /* not a marketing touch */
    assert_string_equal(ev->attrs,
                        "{\"calendly_event\":\"invitee.canceled\",\"name\":\"Giulia Rossi\","
                        "\"event_name\":\"Discovery call\",\"event_start\":"
                        "\"2026-10-05T14:00:00.000000Z\",\"event_end\":"
                        "\"2026-10-05T14:30:00.000000Z\",\"event_uri\":\"https://api.calendly.com/"
                        "scheduled_events/GBGBDCAADAEDCRZ2\",\"timezone\":\"Europe/Rome\","
                        "\"canceled_by\":\"Giulia Rossi\",\"cancel_reason\":\"Found another "
                        "slot\"}");
    cx_test_norm_free(&n);
}

static void test_norm_times(void **state)
{
    struct cx_test_norm n;

    (void)state;
    /* created without payload.created_at: the envelope's created_at, else arrival */
    assert_int_equal(
        cx_test_normalize_str(&n, &feed,
                              "{\"event\":\"invitee.created\",\"created_at\":"
                              "\"2026-10-02T09:15:03.000000Z\",\"payload\":{\"uri\":\"u1\"}}"),
        CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1790932503000);
    assert_string_equal(n.list.v[0].id, "calendly:u1");
    assert_int_equal(n.list.v[0].nidentities, 0);
    assert_int_equal(n.list.v[0].has_touch, 0);
    assert_string_equal(n.list.v[0].attrs, "");
    cx_test_norm_free(&n);
    assert_int_equal(cx_test_normalize_str(&n, &feed,
                                           "{\"event\":\"invitee.created\",\"payload\":{\"uri\":"
                                           "\"u1\",\"created_at\":\"yesterday\"}}"),
                     CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1790990000000);
    cx_test_norm_free(&n);
    /* canceled without cancellation: payload.updated_at; rescheduled is marked */
    assert_int_equal(cx_test_normalize_str(&n, &feed,
                                           "{\"event\":\"invitee.canceled\",\"payload\":{\"uri\":"
                                           "\"u1\",\"rescheduled\":true,\"updated_at\":"
                                           "\"2026-10-03T18:40:10.902+02:00\"}}"),
                     CX_NORM_OK);
    assert_int_equal(n.list.v[0].at_ms, 1791045610902);
    assert_string_equal(n.list.v[0].id, "calendly:u1:canceled");
    assert_string_equal(n.list.v[0].attrs,
                        "{\"calendly_event\":\"invitee.canceled\",\"rescheduled\":\"true\"}");
    cx_test_norm_free(&n);
}

static void test_norm_skip_and_poison(void **state)
{
    static char long_uri[300];
    struct {
        const char *body;
        enum cx_result want;
        const char *msg;
    } rows[] = {
        {"{\"event\":\"invitee_no_show.created\",\"payload\":{\"uri\":\"u\"}}", CX_NORM_SKIP, NULL},
        {"{\"event\":\"routing_form_submission.created\",\"payload\":{}}", CX_NORM_SKIP, NULL},
        {"{\"event\":\"meeting_recap.created\"}", CX_NORM_SKIP, NULL},
        {"{\"event\":\"invitee.created\"}", CX_NORM_POISON,
         "calendly invitee.created: no payload with an invitee uri"},
        {"{\"event\":\"invitee.canceled\",\"payload\":{\"email\":\"a@b.c\"}}", CX_NORM_POISON,
         "calendly invitee.canceled: no payload with an invitee uri"},
        {"{\"event\":\"invitee.created\",\"payload\":\"x\"}", CX_NORM_POISON,
         "calendly invitee.created: no payload with an invitee uri"},
        {"{\"payload\":{}}", CX_NORM_POISON, "calendly: body is not an event"},
        {"nope", CX_NORM_POISON, "calendly: body is not an event"},
        {long_uri, CX_NORM_POISON, "calendly: invitee uri too long"},
    };
    struct cx_test_norm n;
    size_t i;

    (void)state;
    snprintf(long_uri, sizeof long_uri,
             "{\"event\":\"invitee.canceled\",\"payload\":{\"uri\":\"https://%0180d\"}}", 1);
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_result rc = cx_test_normalize_str(&n, &feed, rows[i].body);
        cx_test_expect_refused(&n, i, rc, rows[i].want, rows[i].msg);
        cx_test_norm_free(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_d1_mac),
        cmocka_unit_test(test_d1_verify),
        cmocka_unit_test(test_d1_header_variants),
        cmocka_unit_test(test_verify_body_check),
        cmocka_unit_test(test_norm_invitee_created),
        cmocka_unit_test(test_norm_stage_mapping),
        cmocka_unit_test(test_norm_invitee_canceled),
        cmocka_unit_test(test_norm_times),
        cmocka_unit_test(test_norm_skip_and_poison),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
