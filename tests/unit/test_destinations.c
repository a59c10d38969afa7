/*
 * The pure destination types (destinations/): the Standard Webhooks signature against the
 * specification's own reference vector, the webhook request a message builds (headers,
 * body stable across redeliveries), the Slack alert's text, and the registry's rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "destination.h"
#include "webhook.h"

/* Known answer from the specification's reference implementation:
 * standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py,
 * test_sign_function (commit 33d368b20c5543357f4f27fd13bed0703b8c5204). */
static void test_sign_reference_vector(void **state)
{
    (void)state;
    const char *body = "{\"test\": 2432232314}";
    char sig[64];
    assert_int_equal(dst_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                      strlen(body), sig, sizeof(sig)),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* The same key without its prefix (the reference accepts both). */
    assert_int_equal(dst_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                      strlen(body), sig, sizeof(sig)),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(dst_webhook_sign("whsec_not*base64", "x", 1, "", 0, sig, sizeof(sig)), -1);
}

static const char *header(const struct dst_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (strncmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

static void test_webhook_build(void **state)
{
    (void)state;
    const struct dst_type *t = dst_lookup("webhook");
    assert_non_null(t);
    struct dst_config cfg = {.name = "crm",
                             .type = "webhook",
                             .url = "https://hooks.example.com/j",
                             .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    const char *facts = "{\"event\":\"form:site:1\",\"at\":\"2026-10-01T12:00:00Z\","
                        "\"contact\":\"c_1\",\"stage\":\"lead\"}";
    struct dst_message m = {.id = "1-0",
                            .destination = "crm",
                            .kind = DST_LEAD_CREATED,
                            .dedup = "msg_abc",
                            .contact = "c_1",
                            .facts = facts,
                            .facts_len = strlen(facts)};
    struct dst_context ctx = {.now_s = 1614265330};
    struct dst_request r;
    memset(&r, 0, sizeof(r));
    char why[DST_WHY_MAX] = "";
    assert_int_equal(t->build(&cfg, &m, &ctx, &r, why, sizeof(why)), DST_BUILT);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://hooks.example.com/j");
    assert_string_equal(r.dedup, "msg_abc");
    assert_string_equal(header(&r, "webhook-id"), "msg_abc");
    assert_string_equal(header(&r, "webhook-timestamp"), "1614265330");
    assert_string_equal(r.body,
                        "{\"type\":\"lead.created\",\"timestamp\":\"2026-10-01T12:00:00Z\","
                        "\"data\":{\"event\":\"form:site:1\",\"at\":\"2026-10-01T12:00:00Z\","
                        "\"contact\":\"c_1\",\"stage\":\"lead\"}}");
    char sig[64];
    assert_int_equal(
        dst_webhook_sign(cfg.secret, "msg_abc", 1614265330, r.body, r.len, sig, sizeof(sig)), 0);
    assert_string_equal(header(&r, "webhook-signature"), sig);
    free(r.body);
    /* api_base wins over url (tests, proxies). */
    cfg.api_base = "http://127.0.0.1:9/x";
    memset(&r, 0, sizeof(r));
    assert_int_equal(t->build(&cfg, &m, &ctx, &r, why, sizeof(why)), DST_BUILT);
    assert_string_equal(r.url, "http://127.0.0.1:9/x");
    free(r.body);
    /* Facts that are not an object cannot be sent: dead-lettered, not retried. */
    m.facts = "[1]";
    m.facts_len = 3;
    memset(&r, 0, sizeof(r));
    assert_int_equal(t->build(&cfg, &m, &ctx, &r, why, sizeof(why)), DST_INVALID);
    assert_null(r.body);
    /* A short secret is refused at load time. */
    cfg.secret = "whsec_c2hvcnQ=";
    assert_int_equal(t->check(&cfg, why, sizeof(why)), -1);
}

static void test_slack_alert_text(void **state)
{
    (void)state;
    const struct dst_type *t = dst_lookup("slack");
    assert_non_null(t);
    struct dst_config cfg = {.name = "alerts",
                             .type = "slack",
                             .url = "https://hooks.slack.com/services/T/B/X",
                             .dashboard_url = "https://j.example.com/ui/"};
    const char *facts = "{\"name\":\"Giulia <b>\",\"lead_source\":\"facebook\","
                        "\"identities\":[{\"type\":\"email\",\"value\":\"g@example.it\"}],"
                        "\"waited_seconds\":93780}";
    struct dst_message m = {.id = "1-0",
                            .destination = "alerts",
                            .kind = DST_SLA_BREACHED,
                            .dedup = "sla:c_1",
                            .contact = "c_1",
                            .facts = facts,
                            .facts_len = strlen(facts)};
    struct dst_context ctx = {.now_s = 1};
    struct dst_request r;
    memset(&r, 0, sizeof(r));
    char why[DST_WHY_MAX];
    assert_int_equal(t->build(&cfg, &m, &ctx, &r, why, sizeof(why)), DST_BUILT);
    assert_string_equal(r.body, "{\"text\":\"Lead waiting past the SLA: Giulia &lt;b&gt; "
                                "<g@example.it> from facebook, waited 26h 03m. "
                                "<https://j.example.com/ui/#/journey?contact=c_1|open the "
                                "journey>\"}");
    free(r.body);
}

static void test_registry_and_classify(void **state)
{
    (void)state;
    assert_null(dst_lookup("nope"));
    const struct dst_type *t = dst_lookup("slack");
    struct dst_config cfg = {.type = "slack"};
    assert_true(dst_wants(t, &cfg, DST_SLA_BREACHED));
    assert_false(dst_wants(t, &cfg, DST_LEAD_CREATED));
    const char *const ev[] = {DST_LEAD_CREATED};
    cfg.events = ev;
    cfg.nevents = 1;
    assert_true(dst_wants(t, &cfg, DST_LEAD_CREATED));
    assert_false(dst_wants(t, &cfg, DST_SLA_BREACHED));

    int64_t ra;
    char why[DST_WHY_MAX];
    struct dst_answer a = {.status = 204, .retry_after_s = -1};
    assert_int_equal(dst_classify_default(&a, &ra, why, sizeof(why)), DST_DONE);
    a.status = 429;
    a.retry_after_s = 7;
    assert_int_equal(dst_classify_default(&a, &ra, why, sizeof(why)), DST_RETRY);
    assert_int_equal(ra, 7);
    a.status = 503;
    assert_int_equal(dst_classify_default(&a, &ra, why, sizeof(why)), DST_RETRY);
    a.status = 0;
    assert_int_equal(dst_classify_default(&a, &ra, why, sizeof(why)), DST_RETRY);
    a.status = 410;
    assert_int_equal(dst_classify_default(&a, &ra, why, sizeof(why)), DST_PERMANENT);
    assert_string_equal(why, "HTTP 410");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_reference_vector),
        cmocka_unit_test(test_webhook_build),
        cmocka_unit_test(test_slack_alert_text),
        cmocka_unit_test(test_registry_and_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
