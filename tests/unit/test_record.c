/*
 * The compact report record (connectors/record.h): what cx_record_encode writes,
 * cx_record_decode reads back field for field, edge values included (empty fields, the
 * int64 limits, every stage rank, fields at their longest, control bytes), and the record
 * of a canonical event (cx_event_record) decodes to that event's fields.
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
#include "record.h"

/* Encodes r, decodes the text and checks every field came back. */
static void round_trip(const struct cx_record *r)
{
    char buf[CX_RECORD_MAX];
    struct cx_record d;
    assert_int_equal(cx_record_encode(r, buf, sizeof(buf)), 0);
    cx_record_decode(buf, &d);
    assert_string_equal(d.kind, r->kind ? r->kind : "");
    assert_int_equal(d.stage, r->stage);
    assert_string_equal(d.type, r->type ? r->type : "");
    assert_int_equal(d.touch, !!r->touch);
    assert_string_equal(d.channel, r->channel ? r->channel : "");
    assert_string_equal(d.source, r->source ? r->source : "");
    assert_string_equal(d.campaign, r->campaign ? r->campaign : "");
    assert_string_equal(d.ad, r->ad ? r->ad : "");
    assert_int_equal(d.has_amount, r->has_amount);
    if (r->has_amount) {
        assert_true(d.amount_minor == r->amount_minor);
        assert_string_equal(d.currency, r->currency);
    }
    assert_string_equal(d.payment_key, r->payment_key ? r->payment_key : "");
    assert_string_equal(d.platform, r->platform ? r->platform : "");
    assert_string_equal(d.campaign_id, r->campaign_id ? r->campaign_id : "");
    assert_string_equal(d.owner, r->owner ? r->owner : "");
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cx_record full = {.kind = "payment",
                             .stage = 6,
                             .type = "stripe",
                             .touch = 1,
                             .channel = "paid_search",
                             .source = "google",
                             .campaign = "spring sale",
                             .ad = "ad-7",
                             .has_amount = 1,
                             .amount_minor = 4900,
                             .currency = "EUR",
                             .payment_key = "pi_123",
                             .platform = "google",
                             .campaign_id = "9876543210987654321",
                             .owner = "pipedrive:12415231"};
    round_trip(&full);

    /* Every field empty, no touch, no amount; NULL strings encode as "". */
    struct cx_record empty = {0};
    round_trip(&empty);
    struct cx_record blanks = {.kind = "",
                               .type = "",
                               .channel = "",
                               .source = "",
                               .campaign = "",
                               .ad = "",
                               .payment_key = ""};
    round_trip(&blanks);

    /* The int64 limits and zero; every stage rank. */
    const int64_t amounts[] = {0, 1, -1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        struct cx_record r = full;
        r.amount_minor = amounts[i];
        round_trip(&r);
    }
    for (int s = 0; s <= 6; s++) {
        struct cx_record r = full;
        r.stage = s;
        round_trip(&r);
    }

    /* Touch fields without a touch flag, a payment key without an amount. */
    struct cx_record odd = full;
    odd.touch = 0;
    odd.has_amount = 0;
    round_trip(&odd);

    /* Every text field at the longest a canonical event holds still fits. */
    static char longest[CX_TEXT_MAX], key[CX_ID_MAX];
    memset(longest, 'x', sizeof(longest) - 1);
    memset(key, 'k', sizeof(key) - 1);
    struct cx_record big = full;
    big.channel = big.source = big.campaign = big.ad = longest;
    big.payment_key = key;
    static char longest_id[64];
    memset(longest_id, '9', sizeof(longest_id) - 1);
    big.campaign_id = longest_id;
    big.platform = "0123456789012345678901234567890";
    round_trip(&big);
}

/* A record written before the owner field existed reads with no owner; the fields before
 * it are where they were. */
static void test_owner_appended(void **state)
{
    (void)state;
    char old[] = "sales_touch\x1f"
                 "2\x1f"
                 "pipedrive\x1f"
                 "0\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f";
    struct cx_record d;
    cx_record_decode(old, &d);
    assert_string_equal(d.kind, "sales_touch");
    assert_string_equal(d.type, "pipedrive");
    assert_string_equal(d.campaign_id, "");
    assert_string_equal(d.owner, "");
}

static void test_control_bytes(void **state)
{
    (void)state;
    /* A separator or another control byte inside a field cannot shift the fields: it is
     * written as a space. */
    char buf[CX_RECORD_MAX];
    struct cx_record r = {.kind = "lead",
                          .stage = 2,
                          .type = "form",
                          .touch = 1,
                          .campaign = "a\x1f"
                                      "b\nc",
                          .payment_key = ""};
    struct cx_record d;
    assert_int_equal(cx_record_encode(&r, buf, sizeof(buf)), 0);
    cx_record_decode(buf, &d);
    assert_string_equal(d.campaign, "a b c");
    assert_string_equal(d.ad, "");
    assert_string_equal(d.kind, "lead");
    assert_int_equal(d.stage, 2);
}

static void test_limits(void **state)
{
    (void)state;
    char buf[64];
    struct cx_record r = {.kind = "payment", .type = "stripe", .campaign = "a long campaign name"};
    assert_int_equal(cx_record_encode(&r, buf, 15), -1);
    assert_int_equal(cx_record_encode(&r, buf, 24), -1);
    assert_int_equal(cx_record_encode(&r, buf, sizeof(buf)), 0);

    /* An amount with a currency that is not three letters is no amount; a record cut short
     * reads its missing fields as "". */
    char odd[] = "payment\x1f"
                 "6\x1fstripe\x1f"
                 "0\x1f\x1f\x1f\x1f\x1f"
                 "100\x1f"
                 "EU\x1fk";
    struct cx_record d;
    cx_record_decode(odd, &d);
    assert_int_equal(d.has_amount, 0);
    assert_string_equal(d.payment_key, "k");
    char shortrec[] = "visit\x1f"
                      "1";
    cx_record_decode(shortrec, &d);
    assert_string_equal(d.kind, "visit");
    assert_int_equal(d.stage, 1);
    assert_string_equal(d.type, "");
    assert_string_equal(d.payment_key, "");
    assert_int_equal(d.touch, 0);
}

static void test_event_record(void **state)
{
    (void)state;
    static struct cx_event ev;
    char buf[CX_RECORD_MAX];
    struct cx_record d;
    snprintf(ev.kind, sizeof(ev.kind), "payment");
    snprintf(ev.type, sizeof(ev.type), "stripe");
    ev.has_touch = 1;
    snprintf(ev.touch.channel, sizeof(ev.touch.channel), "paid_social");
    snprintf(ev.touch.source, sizeof(ev.touch.source), "facebook");
    snprintf(ev.touch.campaign, sizeof(ev.touch.campaign), "autumn");
    snprintf(ev.touch.ad, sizeof(ev.touch.ad), "a1");
    ev.has_amount = 1;
    ev.amount_minor = 12345;
    snprintf(ev.currency, sizeof(ev.currency), "USD");
    snprintf(ev.payment_key, sizeof(ev.payment_key), "pi_9");
    assert_int_equal(cx_event_record(&ev, buf, sizeof(buf)), 0);
    cx_record_decode(buf, &d);
    assert_string_equal(d.kind, "payment");
    assert_int_equal(d.stage, 6); /* the kind's stage (cx_event_stage) */
    assert_string_equal(d.type, "stripe");
    assert_int_equal(d.touch, 1);
    assert_string_equal(d.channel, "paid_social");
    assert_string_equal(d.source, "facebook");
    assert_string_equal(d.campaign, "autumn");
    assert_string_equal(d.ad, "a1");
    assert_int_equal(d.has_amount, 1);
    assert_true(d.amount_minor == 12345);
    assert_string_equal(d.currency, "USD");
    assert_string_equal(d.payment_key, "pi_9");

    /* Without a touch its fields are written empty; without an amount, no currency. */
    ev.has_touch = 0;
    ev.has_amount = 0;
    snprintf(ev.stage, sizeof(ev.stage), "qualified");
    assert_int_equal(cx_event_record(&ev, buf, sizeof(buf)), 0);
    cx_record_decode(buf, &d);
    assert_int_equal(d.stage, 3);
    assert_int_equal(d.touch, 0);
    assert_string_equal(d.channel, "");
    assert_string_equal(d.campaign, "");
    assert_int_equal(d.has_amount, 0);
    assert_string_equal(d.payment_key, "pi_9");
}

static void test_stage_names(void **state)
{
    (void)state;
    /* The ranks and names are one list (stage.h): each name finds its rank again. */
    assert_null(cx_stage_name(0));
    assert_null(cx_stage_name(7));
    assert_string_equal(cx_stage_name(1), "visit");
    assert_string_equal(cx_stage_name(6), "paid");
    for (int r = 1; r <= 6; r++)
        assert_int_equal(cx_stage_rank(cx_stage_name(r)), r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_control_bytes),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_event_record),
        cmocka_unit_test(test_stage_names), cmocka_unit_test(test_owner_appended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
