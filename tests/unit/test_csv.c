/*
 * CSV for the report tables (reports/csv.h): RFC 4180 quoting, the OWASP formula guard on
 * text and never on numbers, each report's table from a JSON answer written out here, the
 * size bound, and the Accept header's choice between JSON and CSV.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

static void expect_text(char *got, const char *want)
{
    if (!got)
        fail_msg("no CSV, expected\n%s", want);
    if (strcmp(got, want) != 0)
        fail_msg("got\n%s\nexpected\n%s", got, want);
    free(got);
}

/* One line of text cells. */
static char *line(const char *const *cells, size_t n)
{
    struct rp_csv c;
    rp_csv_init(&c, 1 << 20);
    for (size_t i = 0; i < n; i++)
        rp_csv_text(&c, cells[i]);
    rp_csv_end_line(&c);
    return rp_csv_take(&c);
}

static void test_quoting(void **state)
{
    (void)state;
    const char *plain[] = {"paid_social", "", NULL, "Autunno 2026"};
    expect_text(line(plain, 4), "paid_social,,,Autunno 2026\r\n");
    const char *quoted[] = {"a,b", "say \"hi\"", "two\nlines", "cr\rhere", "\"", "ok"};
    expect_text(line(quoted, 6),
                "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",\"\"\"\",ok\r\n");
    /* UTF-8 passes as it is. */
    const char *utf8[] = {"caf\xc3\xa9", "\xe2\x82\xac"};
    expect_text(line(utf8, 2), "caf\xc3\xa9,\xe2\x82\xac\r\n");
}

static void test_formula_guard(void **state)
{
    (void)state;
    const char *cells[] = {"=1+1", "+39 333", "-20% sale", "@SUM(A1)", "\tx", "a=b", "x-1"};
    expect_text(line(cells, 7), "'=1+1,'+39 333,'-20% sale,'@SUM(A1),'\tx,a=b,x-1\r\n");
    /* The guard goes inside the quotes when the cell needs quoting. */
    const char *both[] = {"=HYPERLINK(\"http://x\",\"a,b\")", "\rhidden"};
    expect_text(line(both, 2), "\"'=HYPERLINK(\"\"http://x\"\",\"\"a,b\"\")\",\"'\rhidden\"\r\n");
    /* Numbers are ours: a refund's negative amount keeps its sign, unguarded. */
    struct rp_csv c;
    rp_csv_init(&c, 1024);
    cJSON *n = cJSON_CreateNumber(-1250), *d = cJSON_CreateNumber(-12.5),
          *s = cJSON_CreateString("-3");
    rp_csv_value(&c, n);
    rp_csv_value(&c, d);
    rp_csv_value(&c, s);
    rp_csv_end_line(&c);
    expect_text(rp_csv_take(&c), "-1250,-12.5,'-3\r\n");
    cJSON_Delete(n);
    cJSON_Delete(d);
    cJSON_Delete(s);
}

static void test_values(void **state)
{
    (void)state;
    cJSON *o = cJSON_Parse("{\"i\":652250,\"r\":0.6667,\"z\":0,\"t\":true,\"f\":false,\"n\":null,"
                           "\"o\":{},\"a\":[1],\"big\":123456789012345}");
    assert_non_null(o);
    cJSON *raw = cJSON_CreateRaw("12345678901234567.89");
    assert_non_null(raw);
    assert_true(cJSON_AddItemToObject(o, "raw", raw));
    struct rp_csv c;
    rp_csv_init(&c, 1024);
    const char *names[] = {"i", "r", "z", "t", "f", "n", "o", "a", "big", "raw", "missing"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        rp_csv_value(&c, cJSON_GetObjectItemCaseSensitive(o, names[i]));
    rp_csv_end_line(&c);
    expect_text(rp_csv_take(&c),
                "652250,0.6667,0,true,false,,,,123456789012345,12345678901234567.89,\r\n");
    cJSON_Delete(o);
}

/* A number cell holds exactly the digits cJSON prints for it in the JSON answer, for the
 * report's kinds of numbers (integers, rounded decimals, negative refunds) and random
 * doubles. */
static void expect_same_digits(double d)
{
    cJSON *n = cJSON_CreateNumber(d);
    assert_non_null(n);
    char *want = cJSON_PrintUnformatted(n);
    struct rp_csv c;
    rp_csv_init(&c, 1024);
    rp_csv_value(&c, n);
    char *got = rp_csv_take(&c);
    assert_non_null(want);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g: CSV %s, JSON %s", d, got, want);
    free(got);
    cJSON_free(want);
    cJSON_Delete(n);
}

static void test_numbers_match_json(void **state)
{
    (void)state;
    static const double fixed[] = {0,
                                   -0.0,
                                   1,
                                   -1,
                                   2147483647,
                                   2147483648.0,
                                   -2147483649.0,
                                   652250,
                                   -12345,
                                   6.52,
                                   0.6667,
                                   0.1,
                                   1.0 / 3,
                                   -9.09,
                                   1e12,
                                   9999999999999.0,
                                   123456789012.5,
                                   1e-7,
                                   4503599627370497.0,
                                   1e15};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        expect_same_digits(fixed[i]);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)(x % 2000000000001ULL) - 1000000000000LL;
        expect_same_digits((double)v);                   /* minor units */
        expect_same_digits((double)(v % 1000000) / 100); /* ROAS-like, 2 decimals */
        expect_same_digits((double)(v % 10001) / 10000); /* rates, 4 decimals */
        double r;
        memcpy(&r, &x, sizeof(r));
        if (r == r && r - r == 0)
            expect_same_digits(r); /* any finite double */
    }
}

static void test_bound(void **state)
{
    (void)state;
    struct rp_csv c;
    rp_csv_init(&c, 10);
    rp_csv_text(&c, "12345");
    rp_csv_text(&c, "6789");
    rp_csv_end_line(&c); /* 12 bytes with the comma and CRLF: over */
    rp_csv_text(&c, "x");
    assert_null(rp_csv_take(&c));
    rp_csv_free(&c);
    cJSON *a = cJSON_Parse("{\"rows\":[{\"key\":\"direct\",\"revenue\":{\"EUR\":1},"
                           "\"conversions\":1,\"touches\":0}]}");
    assert_null(rp_csv_attribution(a, 20));
    char *t = rp_csv_attribution(a, 1000);
    assert_non_null(t);
    free(t);
    cJSON_Delete(a);
}

static void test_attribution(void **state)
{
    (void)state;
    /* Two currencies, a spend-only currency, a key with neither, a hostile campaign. */
    cJSON *a = cJSON_Parse(
        "{\"model\":\"linear\",\"by\":\"campaign\",\"from\":null,\"to\":null,\"rows\":["
        "{\"key\":\"=cmd|' /C calc'!A0\",\"revenue\":{\"EUR\":-500},\"conversions\":0,"
        "\"touches\":0},"
        "{\"key\":\"autunno\",\"revenue\":{\"EUR\":652250,\"USD\":1999},\"conversions\":3,"
        "\"touches\":7,\"spend\":{\"EUR\":100000,\"GBP\":5000},"
        "\"roas\":{\"EUR\":6.52,\"GBP\":0}},"
        "{\"key\":\"free\",\"revenue\":{},\"conversions\":1,\"touches\":1}]}");
    assert_non_null(a);
    expect_text(rp_csv_attribution(a, 1 << 20),
                "key,currency,revenue_minor,spend_minor,roas,conversions,touches\r\n"
                "'=cmd|' /C calc'!A0,EUR,-500,,,0,0\r\n"
                "autunno,EUR,652250,100000,6.52,3,7\r\n"
                "autunno,USD,1999,,,3,7\r\n"
                "autunno,GBP,,5000,0,3,7\r\n"
                "free,,,,,1,1\r\n");
    cJSON_Delete(a);
    cJSON *bad = cJSON_Parse("{\"rows\":{}}");
    assert_null(rp_csv_attribution(bad, 1 << 20));
    assert_null(rp_csv_attribution(NULL, 1 << 20));
    cJSON_Delete(bad);
}

/* model=all: one table, the model in front, each model's lines as its own table has them. */
static void test_attribution_models(void **state)
{
    (void)state;
    cJSON *a = cJSON_Parse(
        "{\"model\":\"all\",\"by\":\"channel\",\"from\":null,\"to\":null,\"models\":{"
        "\"first_touch\":{\"model\":\"first_touch\",\"rows\":["
        "{\"key\":\"email\",\"revenue\":{\"EUR\":1000},\"conversions\":1,\"touches\":1,"
        "\"spend\":{\"EUR\":500},\"roas\":{\"EUR\":2}}]},"
        "\"linear\":{\"model\":\"linear\",\"rows\":["
        "{\"key\":\"email\",\"revenue\":{\"EUR\":500},\"conversions\":1,\"touches\":1,"
        "\"spend\":{\"EUR\":500},\"roas\":{\"EUR\":1}},"
        "{\"key\":\"@social\",\"revenue\":{\"EUR\":500},\"conversions\":1,\"touches\":2}]},"
        "\"position\":{\"model\":\"position\",\"rows\":[]}}}");
    assert_non_null(a);
    expect_text(rp_csv_attribution(a, 1 << 20),
                "model,key,currency,revenue_minor,spend_minor,roas,conversions,touches\r\n"
                "first_touch,email,EUR,1000,500,2,1,1\r\n"
                "linear,email,EUR,500,500,1,1,1\r\n"
                "linear,'@social,EUR,500,,,1,2\r\n");
    cJSON_Delete(a);
    cJSON *bad = cJSON_Parse("{\"models\":{\"linear\":{\"rows\":{}}}}");
    assert_null(rp_csv_attribution(bad, 1 << 20));
    cJSON_Delete(bad);
}

static void test_funnel(void **state)
{
    (void)state;
    cJSON *f = cJSON_Parse(
        "{\"view\":\"cohort\",\"by\":\"month\",\"periods\":["
        "{\"period\":\"2026-09\",\"stages\":{\"lead\":{\"contacts\":12},"
        "\"qualified\":{\"contacts\":7,\"rate\":0.5833,\"median_seconds\":86400},"
        "\"paid\":{\"contacts\":0,\"rate\":null,\"median_seconds\":null}}}],"
        "\"compare\":{\"period\":\"2026-10\",\"transition\":\"qualified\xe2\x86\x92paid\","
        "\"points\":-12.5,\"stages\":{\"lead\":{\"contacts\":4},"
        "\"qualified\":{\"contacts\":2,\"rate\":0.5,\"median_seconds\":3600}}}}");
    assert_non_null(f);
    expect_text(rp_csv_funnel(f, 1 << 20), "series,period,stage,contacts,rate,median_seconds\r\n"
                                           "range,2026-09,lead,12,,\r\n"
                                           "range,2026-09,qualified,7,0.5833,86400\r\n"
                                           "range,2026-09,paid,0,,\r\n"
                                           "compare,2026-10,lead,4,,\r\n"
                                           "compare,2026-10,qualified,2,0.5,3600\r\n");
    cJSON_Delete(f);
}

static void test_sla(void **state)
{
    (void)state;
    cJSON *s = cJSON_Parse(
        "{\"from\":\"2026-09-30T22:00:00Z\",\"to\":\"2026-10-31T23:00:00Z\","
        "\"sales\":{\"leads\":40,\"answered\":35,\"within_sla\":30,\"share_within_sla\":0.75,"
        "\"median_seconds\":5400,\"p90_seconds\":86400,\"waiting\":[{\"contact\":\"c_1\","
        "\"lead_at\":\"2026-10-30T10:00:00Z\",\"waited_seconds\":200000},{\"contact\":\"c_2\","
        "\"name\":\"Rossi, "
        "Giulia\",\"email\":\"g@example.it\",\"lead_at\":\"2026-10-31T09:00:00Z\","
        "\"waited_seconds\":7200}],\"self_served\":1,\"met\":false},"
        "\"marketing\":{\"leads\":40,\"leads_target\":50,\"qualified\":14,\"qualified_rate\":0.35,"
        "\"qualified_rate_target\":null,\"met\":null},"
        "\"revenue\":{\"EUR\":1895000,\"USD\":-100},\"targets\":[\"response_hours\"]}");
    assert_non_null(s);
    expect_text(rp_csv_sla(s, 1 << 20), "side,figure,value,currency\r\n"
                                        "range,from,2026-09-30T22:00:00Z,\r\n"
                                        "range,to,2026-10-31T23:00:00Z,\r\n"
                                        "sales,leads,40,\r\n"
                                        "sales,answered,35,\r\n"
                                        "sales,within_sla,30,\r\n"
                                        "sales,share_within_sla,0.75,\r\n"
                                        "sales,median_seconds,5400,\r\n"
                                        "sales,p90_seconds,86400,\r\n"
                                        "sales,waiting,2,\r\n"
                                        "sales,self_served,1,\r\n"
                                        "sales,met,false,\r\n"
                                        "marketing,leads,40,\r\n"
                                        "marketing,leads_target,50,\r\n"
                                        "marketing,qualified,14,\r\n"
                                        "marketing,qualified_rate,0.35,\r\n"
                                        "marketing,qualified_rate_target,,\r\n"
                                        "marketing,met,,\r\n"
                                        "revenue,revenue_minor,1895000,EUR\r\n"
                                        "revenue,revenue_minor,-100,USD\r\n");
    expect_text(rp_csv_sla_waiting(s, 1 << 20),
                "contact,name,email,lead_at,waited_seconds\r\n"
                "c_1,,,2026-10-30T10:00:00Z,200000\r\n"
                "c_2,\"Rossi, Giulia\",g@example.it,2026-10-31T09:00:00Z,7200\r\n");
    cJSON_Delete(s);
}

static void test_accept(void **state)
{
    (void)state;
    static const struct {
        const char *accept;
        int csv;
    } cases[] = {
        {"text/csv", 1},
        {"TEXT/CSV", 1},
        {" text/csv ; charset=utf-8", 1},
        {"application/json;q=0.5, text/csv", 1},
        {"text/csv;q=0.9,application/json;q=0.8", 1},
        {"application/json", 0},
        {"text/csv, application/json", 0}, /* a tie keeps JSON */
        {"application/json, text/csv;q=0.5", 0},
        {"text/csv;q=0", 0},
        {"text/csv; q=0.000", 0},
        {"text/csvx", 0},
        {"text/*", 0},
        {"*/*", 0},
        {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 0},
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (rp_csv_accepted(cases[i].accept) != cases[i].csv)
            fail_msg("Accept: %s: want %s", cases[i].accept ? cases[i].accept : "(none)",
                     cases[i].csv ? "CSV" : "JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_formula_guard),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_numbers_match_json),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_attribution),
        cmocka_unit_test(test_attribution_models),
        cmocka_unit_test(test_funnel),
        cmocka_unit_test(test_sla),
        cmocka_unit_test(test_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
