/*
 * The report range (daemon/report_range.h, DESIGN §7 "Report ranges"): dates at local
 * midnight, period= of a month, an ISO week or a day on the local calendar (DST days of
 * 23 and 25 hours, weeks that cross a year, month lengths), the defaults, the raw '+' of
 * an offset, and a clear refusal of everything else.
 *
 * Expected instants are written out in UTC with the 2026 Europe/Rome rule (CET UTC+1,
 * CEST UTC+2 from 2026-03-29 01:00Z to 2026-10-25 01:00Z), never computed with the code
 * under test.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common.h"
#include "report.h"
#include "report_range.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm) * 1000;
}

/* Parses "a=b&c=d" as the API does and reads the range. 0 / -1 (err set). */
static int range(const char *query, enum report_range_default def, int64_t now,
                 struct report_range *r, const char **err)
{
    struct cx_form q;
    int rc = cx_form_parse(&q, query, strlen(query));
    assert_int_equal(rc, 0);
    rc = report_range_parse(&q, def, now, r, err);
    cx_form_free(&q);
    return rc;
}

static void expect_range(const char *query, enum report_range_default def, int64_t now,
                         int64_t from, int64_t to)
{
    struct report_range r;
    const char *err = NULL;
    if (range(query, def, now, &r, &err) != 0)
        fail_msg("%s: refused: %s", query, err);
    if (r.from_ms != from || r.to_ms != to)
        fail_msg("%s: [%lld, %lld), expected [%lld, %lld)", query, (long long)r.from_ms,
                 (long long)r.to_ms, (long long)from, (long long)to);
}

static void expect_refused(const char *query, enum report_range_default def, const char *word)
{
    struct report_range r;
    const char *err = NULL;
    if (range(query, def, utc(2026, 12, 7, 10, 0), &r, &err) == 0)
        fail_msg("%s: accepted as [%lld, %lld)", query, (long long)r.from_ms, (long long)r.to_ms);
    assert_non_null(err);
    if (!strstr(err, word))
        fail_msg("%s: message \"%s\" does not name %s", query, err, word);
}

static const int64_t NOW = INT64_C(1796630400000); /* 2026-12-07T08:00:00Z, a Monday */

static void test_dates_are_local_midnight(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    assert_int_equal(NOW, utc(2026, 12, 7, 8, 0));
    /* October 2026 in Rome: CEST at its start, CET at its end. */
    expect_range("from=2026-10-01&to=2026-11-01", REPORT_RANGE_ALL_TIME, NOW,
                 utc(2026, 9, 30, 22, 0), utc(2026, 10, 31, 23, 0));
    /* A date and an instant mix; the instant is taken as written. */
    expect_range("from=2026-10-01&to=2026-10-15T12:00:00Z", REPORT_RANGE_THIS_MONTH, NOW,
                 utc(2026, 9, 30, 22, 0), utc(2026, 10, 15, 12, 0));
    /* Attribution keeps an end open when it is not given. */
    expect_range("from=2026-10-01", REPORT_RANGE_ALL_TIME, NOW, utc(2026, 9, 30, 22, 0), INT64_MAX);
    expect_range("to=2026-10-01", REPORT_RANGE_ALL_TIME, NOW, INT64_MIN, utc(2026, 9, 30, 22, 0));
    /* In UTC the same dates are UTC midnights. */
    set_tz("UTC");
    expect_range("from=2026-10-01&to=2026-11-01", REPORT_RANGE_ALL_TIME, NOW,
                 utc(2026, 10, 1, 0, 0), utc(2026, 11, 1, 0, 0));
    /* Leap day exists in 2028 only. */
    expect_range("from=2028-02-29&to=2028-03-01", REPORT_RANGE_ALL_TIME, NOW,
                 utc(2028, 2, 29, 0, 0), utc(2028, 3, 1, 0, 0));
    expect_refused("from=2026-02-29&to=2026-03-01", REPORT_RANGE_ALL_TIME, "from");
    set_tz("Europe/Rome");
}

static void test_periods(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    /* Month lengths: February 28 and 29 days, December into the next year, October with
     * its 25-hour day (745 h). */
    expect_range("period=2026-02", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 1, 31, 23, 0),
                 utc(2026, 2, 28, 23, 0));
    expect_range("period=2028-02", REPORT_RANGE_THIS_MONTH, NOW, utc(2028, 1, 31, 23, 0),
                 utc(2028, 2, 29, 23, 0));
    expect_range("period=2026-12", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 11, 30, 23, 0),
                 utc(2026, 12, 31, 23, 0));
    expect_range("period=2026-10", REPORT_RANGE_ALL_TIME, NOW, utc(2026, 9, 30, 22, 0),
                 utc(2026, 10, 31, 23, 0));
    assert_int_equal(utc(2026, 10, 31, 23, 0) - utc(2026, 9, 30, 22, 0), 745 * HOUR_MS);
    /* DST days: 2026-03-29 lasts 23 hours, 2026-10-25 lasts 25, an ordinary day 24. */
    expect_range("period=2026-03-29", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 3, 28, 23, 0),
                 utc(2026, 3, 29, 22, 0));
    expect_range("period=2026-10-25", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 10, 24, 22, 0),
                 utc(2026, 10, 25, 23, 0));
    expect_range("period=2026-10-15", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 10, 14, 22, 0),
                 utc(2026, 10, 15, 22, 0));
    /* ISO weeks: W40 of 2026 is Mon 28 Sep – Sun 4 Oct; the week of the October change
     * lasts 169 hours. */
    expect_range("period=2026-W40", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 9, 27, 22, 0),
                 utc(2026, 10, 4, 22, 0));
    expect_range("period=2026-W43", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 10, 18, 22, 0),
                 utc(2026, 10, 25, 23, 0));
    /* Weeks across years: 2026 has 53 (it starts on a Thursday), W53 runs into 2027, and
     * 2027-W01 starts Monday 4 January; 2025-W01 starts Monday 30 December 2024; 2020
     * (a leap year starting on a Wednesday) has a W53 too. */
    expect_range("period=2026-W53", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 12, 27, 23, 0),
                 utc(2027, 1, 3, 23, 0));
    expect_range("period=2027-W01", REPORT_RANGE_THIS_MONTH, NOW, utc(2027, 1, 3, 23, 0),
                 utc(2027, 1, 10, 23, 0));
    expect_range("period=2025-W01", REPORT_RANGE_THIS_MONTH, NOW, utc(2024, 12, 29, 23, 0),
                 utc(2025, 1, 5, 23, 0));
    expect_range("period=2020-W53", REPORT_RANGE_THIS_MONTH, NOW, utc(2020, 12, 27, 23, 0),
                 utc(2021, 1, 3, 23, 0));
    /* 2027 and 2025 have 52 weeks: W53 does not exist (it is not next year's W01). */
    expect_refused("period=2027-W53", REPORT_RANGE_THIS_MONTH, "period");
    expect_refused("period=2025-W53", REPORT_RANGE_THIS_MONTH, "period");
}

static void test_defaults(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    /* Funnel and SLA: the current local month so far. */
    expect_range("", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 11, 30, 23, 0), NOW);
    expect_range("by=week", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 11, 30, 23, 0), NOW);
    /* Empty values count as absent (a form with blank fields). */
    expect_range("from=&to=&period=", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 11, 30, 23, 0), NOW);
    /* Local, not UTC: at 23:30Z on 31 October it is already 1 November in Rome. */
    int64_t late = utc(2026, 10, 31, 23, 30);
    expect_range("", REPORT_RANGE_THIS_MONTH, late, utc(2026, 10, 31, 23, 0), late);
    /* At the first instant of a month the range holds that millisecond, never nothing. */
    int64_t first = utc(2026, 11, 30, 23, 0);
    expect_range("", REPORT_RANGE_THIS_MONTH, first, first, first + 1);
    /* from alone runs to now. */
    expect_range("from=2026-11-15", REPORT_RANGE_THIS_MONTH, NOW, utc(2026, 11, 14, 23, 0), NOW);
    /* Attribution: all time. */
    expect_range("", REPORT_RANGE_ALL_TIME, NOW, INT64_MIN, INT64_MAX);
}

static void test_plus_in_offsets(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    /* %2B is the right way; a raw '+' arrives as a space and means the same. */
    expect_range("from=2026-10-01T10:00:00%2B02:00&to=2026-10-02T10:00:00-01:30",
                 REPORT_RANGE_ALL_TIME, NOW, utc(2026, 10, 1, 8, 0), utc(2026, 10, 2, 11, 30));
    expect_range("from=2026-10-01T10:00:00+02:00&to=2026-10-01T20:00:00.500+05:30",
                 REPORT_RANGE_ALL_TIME, NOW, utc(2026, 10, 1, 8, 0),
                 utc(2026, 10, 1, 14, 30) + 500);
    /* A space separating date and time (RFC 3339 §5.6 note) still works beside it. */
    expect_range("from=2026-10-01%2010:00:00+02:00", REPORT_RANGE_ALL_TIME, NOW,
                 utc(2026, 10, 1, 8, 0), INT64_MAX);
    /* Only there: a space anywhere else stays an error. */
    expect_refused("from=2026-10-01T10:00:00+2:00", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=+2026-10-01", REPORT_RANGE_ALL_TIME, "from");
}

static void test_errors(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    expect_refused("from=yesterday", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=2026-10-01&to=soon", REPORT_RANGE_ALL_TIME, "to");
    expect_refused("from=2026-13-01", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=2026-10-32", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=2026-10-1", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=2026-10-01T10:00:00", REPORT_RANGE_ALL_TIME, "from"); /* no offset */
    expect_refused("from=2026-10-01T25:00:00Z", REPORT_RANGE_ALL_TIME, "from");
    expect_refused("from=2026-11-01&to=2026-10-01", REPORT_RANGE_ALL_TIME, "before");
    expect_refused("from=2026-10-01&to=2026-10-01", REPORT_RANGE_THIS_MONTH, "before");
    expect_refused("from=2027-01-01", REPORT_RANGE_THIS_MONTH, "now");
    expect_refused("to=2026-11-01", REPORT_RANGE_THIS_MONTH, "from");
    expect_refused("period=2026-10&from=2026-10-01", REPORT_RANGE_THIS_MONTH, "not both");
    expect_refused("period=2026-10&to=2026-11-01", REPORT_RANGE_ALL_TIME, "not both");
    const char *bad_periods[] = {"period=2026-13",    "period=2026-9",    "period=2026-00",
                                 "period=2026-02-30", "period=2026-w40",  "period=2026-W00",
                                 "period=2026-W54",   "period=2026",      "period=october",
                                 "period=%202026-10", "period=2026-10-1", "period=2026-10x"};
    for (size_t i = 0; i < sizeof(bad_periods) / sizeof(bad_periods[0]); i++)
        expect_refused(bad_periods[i], REPORT_RANGE_THIS_MONTH, "period");
    /* A value longer than any instant is refused without being copied. */
    char longq[256];
    snprintf(longq, sizeof(longq), "from=2026-10-01T10:00:00.%0100d+02:00", 0);
    expect_refused(longq, REPORT_RANGE_ALL_TIME, "from");
}

/* The funnel's compare= reads labels the same strict way. */
static void test_period_labels(void **state)
{
    (void)state;
    set_tz("Europe/Rome");
    int64_t a, b;
    enum rp_period by;
    assert_int_equal(rp_period_range("2026-10", RP_MONTH, &a, &b), 0);
    assert_int_equal(rp_period_range("2026-10", RP_WEEK, &a, &b), -1);
    assert_int_equal(rp_period_range("2027-W53", RP_WEEK, &a, &b), -1);
    assert_int_equal(rp_period_range("2026-02-30", RP_DAY, &a, &b), -1);
    assert_int_equal(rp_period_parse("2026-W53", &by, &a, &b), 0);
    assert_int_equal(by, RP_WEEK);
    assert_int_equal(b - a, 7 * DAY_MS);
    assert_int_equal(rp_period_parse("2026-10-25", &by, &a, &b), 0);
    assert_int_equal(by, RP_DAY);
    assert_int_equal(b - a, 25 * HOUR_MS);
    assert_int_equal(rp_period_parse("2026-03", &by, &a, &b), 0);
    assert_int_equal(by, RP_MONTH);
    assert_int_equal(b - a, (31 * 24 - 1) * HOUR_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates_are_local_midnight),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_plus_in_offsets),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_period_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
