/*
 * Unit tests of connectors/common.c and the non-JSON parts of connectors/canon.c: every
 * helper that touches untrusted bytes, table by table.
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

#define CHECK_STR(row, got, want)                                                                  \
    do {                                                                                           \
        if (strcmp((got), (want)) != 0)                                                            \
            fail_msg("row %zu: got \"%s\", want \"%s\"", (size_t)(row), (got), (want));            \
    } while (0)

#define CHECK_INT(row, got, want)                                                                  \
    do {                                                                                           \
        if ((int64_t)(got) != (int64_t)(want))                                                     \
            fail_msg("row %zu: got %" PRId64 ", want %" PRId64, (size_t)(row), (int64_t)(got),     \
                     (int64_t)(want));                                                             \
    } while (0)

/* ---- hex ---- */

static void test_hex_round_trip(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *hex;
    } rows[] = {
        {"", 0, ""},
        {"\x00", 1, "00"},
        {"\xff\x10\xab", 3, "ff10ab"},
        {"journeyd", 8, "6a6f75726e657964"},
    };
    unsigned char buf[32];
    char hex[65];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        cx_hex_encode((const unsigned char *)rows[i].bytes, rows[i].len, hex);
        CHECK_STR(i, hex, rows[i].hex);
        CHECK_INT(i, cx_hex_decode(hex, strlen(hex), buf, sizeof buf), rows[i].len);
        if (memcmp(buf, rows[i].bytes, rows[i].len) != 0)
            fail_msg("row %zu: decoded bytes differ", i);
    }
    /* Either case decodes. */
    assert_int_equal(cx_hex_decode("FF10AB", 6, buf, sizeof buf), 3);
    assert_memory_equal(buf, "\xff\x10\xab", 3);
}

static void test_hex_bad(void **state)
{
    unsigned char buf[4];

    (void)state;
    assert_int_equal(cx_hex_decode("abc", 3, buf, sizeof buf), -1);         /* odd */
    assert_int_equal(cx_hex_decode("zz", 2, buf, sizeof buf), -1);          /* bad digit */
    assert_int_equal(cx_hex_decode("0g", 2, buf, sizeof buf), -1);          /* bad digit */
    assert_int_equal(cx_hex_decode("0011223344", 10, buf, sizeof buf), -1); /* too long */
    assert_int_equal(cx_hex_decode("00112233", 8, buf, sizeof buf), 4);     /* fits exactly */
    assert_int_equal(cx_hex_decode(" 0", 2, buf, sizeof buf), -1);
}

/* ---- base64 ---- */

static void test_base64_round_trip(void **state)
{
    /* RFC 4648 §10 test vectors. */
    static const struct {
        const char *plain, *b64;
    } rows[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    unsigned char buf[16];
    char enc[32];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        size_t n = strlen(rows[i].plain);
        cx_base64_encode((const unsigned char *)rows[i].plain, n, enc);
        CHECK_STR(i, enc, rows[i].b64);
        CHECK_INT(i, cx_base64_decode(enc, strlen(enc), buf, sizeof buf), n);
        if (memcmp(buf, rows[i].plain, n) != 0)
            fail_msg("row %zu: decoded bytes differ", i);
    }
    /* Binary with every alphabet edge: 0xfb 0xff -> "+/8=". */
    cx_base64_encode((const unsigned char *)"\xfb\xff", 2, enc);
    assert_string_equal(enc, "+/8=");
}

static void test_base64_bad(void **state)
{
    static const char *const bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg=a",     /* data after padding */
        "Z===",     /* three pad characters */
        "=Zg=",     /* padding first */
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",     /* non-zero bits under the padding */
        "Zm9v\n",   /* whitespace */
        "Zm9v!A==", /* outside the alphabet */
        "Zm-_",     /* base64url is another alphabet */
    };
    unsigned char buf[16];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(bad); i++)
        CHECK_INT(i, cx_base64_decode(bad[i], strlen(bad[i]), buf, sizeof buf), -1);
    /* Output bound: "Zm9vYmFy" is 6 bytes. */
    assert_int_equal(cx_base64_decode("Zm9vYmFy", 8, buf, 5), -1);
    assert_int_equal(cx_base64_decode("Zm9vYmFy", 8, buf, 6), 6);
}

/* ---- HMAC ---- */

static void test_hmac_stripe_node_vectors(void **state)
{
    /* stripe-node test/crypto/helpers.ts (commit 0d177684726390dfaee513d669222543fc5a2b5f),
     * as recorded in /work/shared/fixtures/stripe/vectors.md S2: key "test_secret". */
    static const struct {
        const char *msg;
        const char *hex;
    } rows[] = {
        {"", "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd"},
        {"{\"obj1\":\"hello\",\"obj2\":\"world\"}",
         "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363"},
        {"\xf0\x9f\x98\x80", "837da296d05c4fe31f61d5d7ead035099d9585a5bcde87de952012a78f0b0c43"},
    };
    unsigned char mac[CX_SHA256_LEN];
    char hex[2 * CX_SHA256_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        size_t n = strlen(rows[i].msg);
        CHECK_INT(i, cx_hmac_sha256("test_secret", 11, rows[i].msg, n, NULL, 0, mac), 0);
        cx_hex_encode(mac, sizeof mac, hex);
        CHECK_STR(i, hex, rows[i].hex);
        /* The same message split in two parts gives the same MAC. */
        if (n > 1) {
            CHECK_INT(
                i, cx_hmac_sha256("test_secret", 11, rows[i].msg, 1, rows[i].msg + 1, n - 1, mac),
                0);
            cx_hex_encode(mac, sizeof mac, hex);
            CHECK_STR(i, hex, rows[i].hex);
        }
    }
    /* An empty key never authenticates anything. */
    assert_int_equal(cx_hmac_sha256("", 0, "x", 1, NULL, 0, mac), -1);
}

static void test_equal_ct(void **state)
{
    (void)state;
    assert_int_equal(cx_equal_ct("abc", 3, "abc", 3), 1);
    assert_int_equal(cx_equal_ct("abc", 3, "abd", 3), 0);
    assert_int_equal(cx_equal_ct("abc", 3, "abcd", 4), 0);
    assert_int_equal(cx_equal_ct("", 0, "", 0), 1);
}

/* ---- headers and bearer tokens ---- */

static void test_headers_and_bearer(void **state)
{
    static const char *const tokens[] = {"tok-one", "tok-two"};
    static const struct {
        const char *auth;
        int want;
    } rows[] = {
        {"Bearer tok-one", 1}, {"bearer tok-two", 1},  {"BEARER  tok-two ", 1},
        {"Bearer tok-on", 0},  {"Bearer tok-one2", 0}, {"Bearer ", 0},
        {"Basic tok-one", 0},  {"tok-one", 0},         {"Bearertok-one", 0},
    };
    struct cx_header h[2] = {{"Content-Type", "text/plain"}, {"authorization", NULL}};
    size_t i;

    (void)state;
    assert_string_equal(cx_header_get(h, 2, "content-type"), "text/plain");
    assert_null(cx_header_get(h, 2, "X-Missing"));
    assert_int_equal(cx_bearer_matches(h, 2, tokens, 2), 0); /* NULL value = absent */
    for (i = 0; i < N_ELEMS(rows); i++) {
        h[1].value = rows[i].auth;
        CHECK_INT(i, cx_bearer_matches(h, 2, tokens, 2), rows[i].want);
    }
    h[1].value = "Bearer tok-one";
    assert_int_equal(cx_bearer_matches(h, 2, tokens, 0), 0);
}

/* The index tells the caller which token (and so which scope) matched: every entry of a
 * long list counts, not only the first eight (issue 11.9), NULL and empty entries never
 * match, and a duplicate answers with its first place. */
static void test_bearer_match_index(void **state)
{
    static const char *const tokens[] = {"t00-aaaaaaaaaaaaaaaa",
                                         NULL,
                                         "",
                                         "t03-aaaaaaaaaaaaaaaa",
                                         "t04-aaaaaaaaaaaaaaaa",
                                         "t05-aaaaaaaaaaaaaaaa",
                                         "t06-aaaaaaaaaaaaaaaa",
                                         "t07-aaaaaaaaaaaaaaaa",
                                         "t08-aaaaaaaaaaaaaaaa",
                                         "t09-aaaaaaaaaaaaaaaa",
                                         "t10-aaaaaaaaaaaaaaaa",
                                         "t11-aaaaaaaaaaaaaaaa",
                                         "t12-aaaaaaaaaaaaaaaa",
                                         "t13-aaaaaaaaaaaaaaaa",
                                         "t14-aaaaaaaaaaaaaaaa",
                                         "t15-aaaaaaaaaaaaaaaa",
                                         "t03-aaaaaaaaaaaaaaaa"};
    struct cx_header h[1] = {{"Authorization", NULL}};
    char auth[64];

    (void)state;
    for (size_t i = 3; i < 16; i++) {
        snprintf(auth, sizeof auth, "Bearer %s", tokens[i]);
        h[0].value = auth;
        CHECK_INT(i, cx_bearer_match(h, 1, tokens, N_ELEMS(tokens)), (int)i);
    }
    h[0].value = "Bearer ";
    assert_int_equal(cx_bearer_match(h, 1, tokens, N_ELEMS(tokens)), -1);
    h[0].value = "Bearer t15-aaaaaaaaaaaaaaa"; /* one character short */
    assert_int_equal(cx_bearer_match(h, 1, tokens, N_ELEMS(tokens)), -1);
    h[0].value = "Bearer t15-aaaaaaaaaaaaaaaaa"; /* one character long */
    assert_int_equal(cx_bearer_match(h, 1, tokens, N_ELEMS(tokens)), -1);
}

/* ---- identities ---- */

static void test_norm_email(void **state)
{
    static const struct {
        const char *in, *want; /* want NULL = rejected */
    } rows[] = {
        {"giulia.rossi@example.it", "giulia.rossi@example.it"},
        {"  Giulia.Rossi@Example.IT\r\n", "giulia.rossi@example.it"},
        {"\tMARCO+news@EXAMPLE.com ", "marco+news@example.com"},
        {"élodie@exemple.fr", "élodie@exemple.fr"}, /* non-ASCII kept as is */
        {"", NULL},
        {"   ", NULL},
        {"no-at.example.com", NULL},
        {"two@@example.com", NULL},
        {"a@b@example.com", NULL},
        {"@example.com", NULL},
        {"local@", NULL},
        {"gi ulia@example.it", NULL},
        {"giulia@exa\tmple.it", NULL},
        {"giulia@example.it\x01", NULL},
        {"bad\xff@example.it", NULL},
    };
    char out[CX_IDENT_VALUE_MAX], longer[300];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        int rc = cx_norm_email(rows[i].in, out, sizeof out);
        if (rows[i].want) {
            CHECK_INT(i, rc, 0);
            CHECK_STR(i, out, rows[i].want);
        } else {
            CHECK_INT(i, rc, -1);
        }
    }
    /* 254 bytes pass, 255 do not. */
    memset(longer, 'a', sizeof longer);
    memcpy(longer + 254 - 12, "@example.com", 12);
    longer[254] = '\0';
    assert_int_equal(cx_norm_email(longer, out, sizeof out), 0);
    memset(longer, 'a', sizeof longer);
    memcpy(longer + 255 - 12, "@example.com", 12);
    longer[255] = '\0';
    assert_int_equal(cx_norm_email(longer, out, sizeof out), -1);
    /* Output bound. */
    assert_int_equal(cx_norm_email("a@b.it", out, 6), -1);
    assert_int_equal(cx_norm_email("a@b.it", out, 7), 0);
}

static void test_norm_phone(void **state)
{
    static const struct {
        const char *in, *cc, *want;
    } rows[] = {
        {"+39 02 1234 5678", NULL, "+390212345678"},
        {"+39 02 1234 5678", "49", "+390212345678"},
        {"02 1234567", "39", "+39021234567"},        /* Italy keeps the 0 */
        {"0549 882 555", "378", "+3780549882555"},   /* San Marino keeps it */
        {"06 698 83145", "379", "+3790669883145"},   /* Vatican keeps it */
        {"07 07 07 07 07", "225", "+2250707070707"}, /* Côte d'Ivoire keeps it */
        {"06 666 66 66", "242", "+242066666666"},    /* Rep. Congo keeps it */
        {"0171 1234567", "49", "+491711234567"},     /* Germany drops it */
        {"0049 (0)171 123-45-67", NULL, "+491711234567"},
        {"+49 (0)171 1234567", NULL, "+491711234567"},
        {"(415) 555.2671", "1", "+14155552671"},
        {"020 7946 0958", "44", "+442079460958"},
        {"00 44 20/7946/0958", NULL, "+442079460958"},
        {"+1 (0) 555", NULL, NULL},                     /* 4 digits: too short */
        {"12345", "1", "+112345"},                      /* 6 digits: shortest */
        {"1234", "1", NULL},                            /* 5 digits */
        {"+1234567890123456", NULL, NULL},              /* 16 digits: too long */
        {"+123456789012345", NULL, "+123456789012345"}, /* 15 digits */
        {"0171 1234567", NULL, NULL},                   /* national without default */
        {"0171 1234567", "", NULL},
        {"0171 1234567", "4x", NULL},
        {"+39 02 CALL ME", NULL, NULL}, /* letters */
        {"+39 02 1234 5678 ext 12", NULL, NULL},
        {"39+02 1234", "39", NULL}, /* + inside */
        {"++39 02 1234 5678", NULL, NULL},
        {"", "39", NULL},
        {"   ", "39", NULL},
    };
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        int rc = cx_norm_phone(rows[i].in, rows[i].cc, out, sizeof out);
        if (rows[i].want) {
            CHECK_INT(i, rc, 0);
            CHECK_STR(i, out, rows[i].want);
        } else {
            CHECK_INT(i, rc, -1);
        }
    }
}

/* ---- urlencoded ---- */

static void test_form_parse(void **state)
{
    const char *s = "a=1&b=hello+world&c=%41%e2%82%AC&d&=x&&e=&a=2&utm%5Fsource=google";
    struct cx_form f;

    (void)state;
    assert_int_equal(cx_form_parse(&f, s, strlen(s)), 0);
    assert_int_equal(f.n, 7);                       /* "=x" and the empty pair are not fields */
    assert_string_equal(cx_form_get(&f, "a"), "1"); /* first match */
    assert_string_equal(cx_form_get(&f, "b"), "hello world");
    assert_string_equal(cx_form_get(&f, "c"), "A\xe2\x82\xac");
    assert_string_equal(cx_form_get(&f, "d"), "");
    assert_string_equal(cx_form_get(&f, "e"), "");
    assert_string_equal(cx_form_get(&f, "utm_source"), "google");
    assert_string_equal(cx_form_getter(&f, "utm_source"), "google");
    assert_null(cx_form_get(&f, "x"));
    assert_string_equal(f.names[5], "a");
    assert_string_equal(f.values[5], "2");
    cx_form_free(&f);
    assert_int_equal(f.n, 0);

    /* A length shorter than the string: only that prefix counts. */
    assert_int_equal(cx_form_parse(&f, "a=1&b=2", 3), 0);
    assert_int_equal(f.n, 1);
    assert_null(cx_form_get(&f, "b"));
    cx_form_free(&f);

    assert_int_equal(cx_form_parse(&f, "", 0), 0);
    assert_int_equal(f.n, 0);
    cx_form_free(&f);
}

static void test_form_parse_bad(void **state)
{
    static const char *const bad[] = {"a=%",   "a=%4",      "a=%zz", "a=%00",
                                      "%00=1", "a=1&b=%G1", "a=%4g"};
    char many[CX_FORM_MAX_FIELDS * 4 + 8];
    struct cx_form f;
    size_t i, o = 0;

    (void)state;
    for (i = 0; i < N_ELEMS(bad); i++) {
        CHECK_INT(i, cx_form_parse(&f, bad[i], strlen(bad[i])), -1);
        cx_form_free(&f);
    }
    /* A literal NUL inside the given length. */
    assert_int_equal(cx_form_parse(&f, "a=1\0b", 5), -1);
    cx_form_free(&f);
    /* CX_FORM_MAX_FIELDS fields pass, one more does not. */
    for (i = 0; i < CX_FORM_MAX_FIELDS; i++) {
        memcpy(many + o, "a=1&", 4);
        o += 4;
    }
    assert_int_equal(cx_form_parse(&f, many, o - 1), 0);
    assert_int_equal(f.n, CX_FORM_MAX_FIELDS);
    cx_form_free(&f);
    memcpy(many + o, "b=2", 3);
    assert_int_equal(cx_form_parse(&f, many, o + 3), -1);
    cx_form_free(&f);
}

/* ---- time ---- */

static void test_rfc3339_parse(void **state)
{
    static const struct {
        const char *in;
        int ok;
        int64_t ms;
    } rows[] = {
        {"2026-10-01T12:00:00Z", 1, 1790856000000},
        {"2026-10-01T14:00:00+02:00", 1, 1790856000000},
        {"2026-10-01T06:30:00-05:30", 1, 1790856000000},
        {"2026-10-01t12:00:00z", 1, 1790856000000},
        {"2026-10-01 12:00:00Z", 1, 1790856000000},
        {"2026-10-01T12:00:00.123Z", 1, 1790856000123},
        {"2026-10-01T12:00:00.1Z", 1, 1790856000100},
        {"2026-10-01T12:00:00.1239999Z", 1, 1790856000123}, /* truncated, not rounded */
        {"2026-10-01T14:00:00.5+02:00", 1, 1790856000500},
        {"1970-01-01T00:00:00Z", 1, 0},
        {"1969-12-31T23:59:59.999Z", 1, -1},
        {"2000-02-29T00:00:00Z", 1, 951782400000},
        {"2024-02-29T23:59:59Z", 1, 1709251199000},
        {"9999-12-31T23:59:59.999Z", 1, 253402300799999},
        {"2026-02-29T00:00:00Z", 0, 0}, /* not a leap year */
        {"2100-02-29T00:00:00Z", 0, 0}, /* century, not leap */
        {"2026-02-30T00:00:00Z", 0, 0},
        {"2026-04-31T00:00:00Z", 0, 0},
        {"2026-13-01T00:00:00Z", 0, 0},
        {"2026-00-01T00:00:00Z", 0, 0},
        {"2026-10-00T00:00:00Z", 0, 0},
        {"2026-10-01T24:00:00Z", 0, 0},
        {"2026-10-01T12:60:00Z", 0, 0},
        {"2026-10-01T12:00:60Z", 0, 0},
        {"2026-10-01T12:00:00", 0, 0},      /* no offset */
        {"2026-10-01T12:00:00+0200", 0, 0}, /* offset without colon */
        {"2026-10-01T12:00:00+24:00", 0, 0},
        {"2026-10-01T12:00:00.Z", 0, 0},
        {"2026-10-01T12:00:00ZZ", 0, 0},
        {"2026-10-01T12:00Z", 0, 0},
        {"2026-10-01", 0, 0},
        {"26-10-01T12:00:00Z", 0, 0},
        {"2026-1-01T12:00:00Z", 0, 0},
        {"", 0, 0},
    };
    size_t i;
    int64_t ms;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        int rc = cx_parse_rfc3339(rows[i].in, &ms);
        if (rows[i].ok) {
            if (rc != 0)
                fail_msg("row %zu (%s): rejected", i, rows[i].in);
            CHECK_INT(i, ms, rows[i].ms);
        } else if (rc != -1) {
            fail_msg("row %zu (%s): accepted", i, rows[i].in);
        }
    }
}

static void test_rfc3339_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } rows[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1790856000000, "2026-10-01T12:00:00Z"},
        {1790856000123, "2026-10-01T12:00:00.123Z"},
        {1790856000007, "2026-10-01T12:00:00.007Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {951782400000, "2000-02-29T00:00:00Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
        {INT64_MAX, "9999-12-31T23:59:59.999Z"}, /* clamped to what RFC 3339 can write */
    };
    char out[32];
    int64_t back;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        cx_format_rfc3339(rows[i].ms, out);
        CHECK_STR(i, out, rows[i].want);
        if (rows[i].ms != INT64_MAX) {
            CHECK_INT(i, cx_parse_rfc3339(out, &back), 0);
            CHECK_INT(i, back, rows[i].ms);
        }
    }
}

/* ---- money ---- */

static void test_decimal_minor(void **state)
{
    static const struct {
        const char *in;
        int exp;
        int ok;
        int64_t want;
    } rows[] = {
        {"12.34", 2, 1, 1234},
        {"12.3", 2, 1, 1230},
        {"12", 2, 1, 1200},
        {"0.05", 2, 1, 5},
        {"2490.00", 2, 1, 249000},
        {"12.340", 2, 1, 1234}, /* trailing zero beyond the exponent is harmless */
        {"-3.50", 2, 1, -350},
        {"1000", 0, 1, 1000}, /* JPY */
        {"1000.0", 0, 1, 1000},
        {"1.234", 3, 1, 1234}, /* KWD */
        {"90071992547409.91", 2, 1, 9007199254740991},
        {"12.345", 2, 0, 0}, /* more precision than the currency */
        {"1000.5", 0, 0, 0},
        {"1.2345", 3, 0, 0},
        {"1,00", 2, 0, 0},
        {"1.000,00", 2, 0, 0},
        {"", 2, 0, 0},
        {".", 2, 0, 0},
        {"12.", 2, 0, 0},
        {".5", 2, 0, 0},
        {"+1", 2, 0, 0},
        {" 1", 2, 0, 0},
        {"1 ", 2, 0, 0},
        {"1e3", 2, 0, 0},
        {"9007199254740992", 0, 0, 0}, /* 2^53: no longer exact */
        {"90071992547409.92", 2, 0, 0},
        {"99999999999999999999", 0, 0, 0},
    };
    int64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        int rc = cx_parse_decimal_minor(rows[i].in, rows[i].exp, &v);
        if (rows[i].ok) {
            if (rc != 0)
                fail_msg("row %zu (%s): rejected", i, rows[i].in);
            CHECK_INT(i, v, rows[i].want);
        } else if (rc != -1) {
            fail_msg("row %zu (%s): accepted", i, rows[i].in);
        }
    }
}

static void test_currency(void **state)
{
    char cur[4];

    (void)state;
    assert_int_equal(cx_currency_exponent("JPY"), 0);
    assert_int_equal(cx_currency_exponent("jpy"), 0);
    assert_int_equal(cx_currency_exponent("KRW"), 0);
    assert_int_equal(cx_currency_exponent("KWD"), 3);
    assert_int_equal(cx_currency_exponent("BHD"), 3);
    assert_int_equal(cx_currency_exponent("EUR"), 2);
    assert_int_equal(cx_currency_exponent("USD"), 2);
    assert_int_equal(cx_currency_exponent(NULL), 2);
    assert_int_equal(cx_norm_currency("eur", cur), 0);
    assert_string_equal(cur, "EUR");
    assert_int_equal(cx_norm_currency("Usd", cur), 0);
    assert_string_equal(cur, "USD");
    assert_int_equal(cx_norm_currency("EURO", cur), -1);
    assert_int_equal(cx_norm_currency("EU", cur), -1);
    assert_int_equal(cx_norm_currency("E1R", cur), -1);
    assert_int_equal(cx_norm_currency("", cur), -1);
    assert_int_equal(cx_norm_currency(NULL, cur), -1);
}

/* ---- JSON ---- */

static cJSON *parse_str(const char *s, int depth)
{
    return cx_json_parse((const unsigned char *)s, strlen(s), depth);
}

static void test_json_parse_limits(void **state)
{
    static const char *const bad[] = {
        "\"\xff\"",            /* invalid byte */
        "\"\xc0\xaf\"",        /* overlong "/" */
        "\"\xed\xa0\x80\"",    /* UTF-16 surrogate in UTF-8 */
        "\"\xe2\x82\"",        /* truncated sequence */
        "{\"a\":\"x\x01y\"}",  /* raw control byte in a string */
        "{} x",                /* trailing garbage */
        "{}{}",                /* two values */
        "{\"a\":1,}",          /* not JSON */
        "",                    /* nothing */
        "{\"a\":\"\\ud800\"}", /* lone surrogate escape */
    };
    char deep[300];
    cJSON *j;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(bad); i++) {
        j = parse_str(bad[i], CX_JSON_MAX_DEPTH);
        if (j) {
            cJSON_Delete(j);
            fail_msg("row %zu: accepted", i);
        }
    }
    /* Trailing JSON whitespace is fine; valid multi-byte text is fine. */
    j = parse_str("{\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"} \r\n\t", CX_JSON_MAX_DEPTH);
    assert_non_null(j);
    assert_string_equal(cx_json_str(j, "a"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
    cJSON_Delete(j);
    /* Depth: exactly the limit passes, one more does not. */
    for (i = 0; i < 64; i++)
        deep[i] = '[';
    for (i = 0; i < 64; i++)
        deep[64 + i] = ']';
    deep[128] = '\0';
    j = parse_str(deep, 64);
    assert_non_null(j);
    cJSON_Delete(j);
    assert_null(parse_str(deep, 63));
    /* Brackets inside strings are not nesting. */
    j = parse_str("{\"a\":\"[[[[{{{{\\\"[[[[\"}", 1);
    assert_non_null(j);
    cJSON_Delete(j);
    /* The body need not be NUL-terminated: only len bytes are read. */
    j = cx_json_parse((const unsigned char *)"{\"a\":1}XYZ", 7, 4);
    assert_non_null(j);
    cJSON_Delete(j);
}

static void test_json_getters(void **state)
{
    cJSON *j = parse_str("{\"s\":\"x\",\"e\":\"\",\"i\":-5,\"f\":1.5,\"big\":9007199254740992,"
                         "\"max\":9007199254740991,\"exp\":1e3,\"o\":{\"k\":\"v\"},\"a\":[1],"
                         "\"n\":null,\"str_num\":\"1\"}",
                         CX_JSON_MAX_DEPTH);
    int64_t v = 42;

    (void)state;
    assert_non_null(j);
    assert_string_equal(cx_json_str(j, "s"), "x");
    assert_null(cx_json_str(j, "e")); /* empty strings count as absent */
    assert_null(cx_json_str(j, "i"));
    assert_null(cx_json_str(j, "missing"));
    assert_null(cx_json_str(NULL, "s"));
    assert_int_equal(cx_json_int(j, "i", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(cx_json_int(j, "max", &v), 0);
    assert_int_equal(v, 9007199254740991);
    assert_int_equal(cx_json_int(j, "exp", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(cx_json_int(j, "f", &v), -1);
    assert_int_equal(cx_json_int(j, "big", &v), -1);
    assert_int_equal(cx_json_int(j, "str_num", &v), -1);
    assert_int_equal(cx_json_int(j, "n", &v), -1);
    assert_non_null(cx_json_obj(j, "o"));
    assert_null(cx_json_obj(j, "a"));
    assert_non_null(cx_json_arr(j, "a"));
    assert_null(cx_json_arr(j, "o"));
    assert_string_equal(cx_json_getter(j, "s"), "x");
    assert_null(cx_json_getter(j, "i"));
    /* Getters on an array never look inside it. */
    assert_null(cx_json_str(cx_json_arr(j, "a"), "s"));
    cJSON_Delete(j);
}

/* ---- UTF-8 text ---- */

static void test_utf8_and_copy(void **state)
{
    char dst[5];

    (void)state;
    assert_int_equal(cx_utf8_valid((const unsigned char *)"abc", 3), 1);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\xc3\xa9", 2), 1);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 1);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\xe0\x80\x80", 3), 0);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\xc3", 1), 0);
    assert_int_equal(cx_utf8_valid((const unsigned char *)"\x80", 1), 0);
    /* "abcé" is 5 bytes; cap 5 leaves room for 4: the é must go whole. */
    cx_copy_text(dst, sizeof dst, "abc\xc3\xa9");
    assert_string_equal(dst, "abc");
    cx_copy_text(dst, sizeof dst, "ab\xc3\xa9");
    assert_string_equal(dst, "ab\xc3\xa9");
    cx_copy_text(dst, sizeof dst, "a\xe2\x82\xac\xe2\x82\xac");
    assert_string_equal(dst, "a\xe2\x82\xac");
    cx_copy_text(dst, sizeof dst, NULL);
    assert_string_equal(dst, "");
}

/* ---- channel table (DESIGN §6) ---- */

static void test_channel_table(void **state)
{
    static const struct {
        const char *platform, *source, *medium, *campaign, *click_id, *want;
    } rows[] = {
        {"", "", "", "", "", "direct"},
        {"google", "", "", "", "", "paid_search"},
        {"microsoft", "", "", "", "", "paid_search"},
        {"meta", "", "", "", "", "paid_social"},
        {"facebook", "", "", "", "", "paid_social"},
        {"instagram", "", "", "", "", "paid_social"},
        {"linkedin", "", "", "", "", "paid_social"},
        {"tiktok", "", "", "", "", "paid_social"},
        {"snapads", "", "", "", "", "other"}, /* an unknown ad platform is still paid */
        {"", "", "", "", "gclid", "paid_search"},
        {"", "", "", "", "gbraid", "paid_search"},
        {"", "", "", "", "wbraid", "paid_search"},
        {"", "", "", "", "msclkid", "paid_search"},
        {"", "", "", "", "fbclid", "paid_social"},
        {"", "", "", "", "li_fat_id", "paid_social"},
        {"", "", "", "", "ttclid", "paid_social"},
        {"", "facebook", "cpc", "", "gclid", "paid_search"}, /* the click id wins */
        {"", "google", "cpc", "", "fbclid", "paid_social"},
        {"", "newsletter", "email", "", "gclid", "paid_search"},
        {"", "Google", "CPC", "", "", "paid_search"},
        {"", "bing", "ppc", "", "", "paid_search"},
        {"", "duckduckgo", "paid", "", "", "paid_search"},
        {"", "instagram", "paid", "", "", "paid_social"},
        {"", "X", "cpc", "", "", "paid_social"},
        {"", "youtube", "cpc", "", "", "paid_social"},
        {"", "adroll", "cpc", "", "", "other"},
        {"", "", "cpc", "", "", "other"},
        {"", "whatever", "paid_social", "", "", "paid_social"},
        {"", "", "PaidSocial", "", "", "paid_social"},
        {"", "mailchimp", "email", "", "", "email"},
        {"", "", "Newsletter", "", "", "email"},
        {"", "facebook", "social", "", "", "organic_social"},
        {"", "partner.example", "referral", "", "", "referral"},
        {"", "google", "organic", "", "", "other"},
        {"", "", "", "autumn", "", "other"},
        {"", "google", "", "", "", "other"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        struct cx_touch t;
        memset(&t, 0, sizeof t);
        cx_copy_text(t.platform, sizeof t.platform, rows[i].platform);
        cx_copy_text(t.source, sizeof t.source, rows[i].source);
        cx_copy_text(t.medium, sizeof t.medium, rows[i].medium);
        cx_copy_text(t.campaign, sizeof t.campaign, rows[i].campaign);
        if (rows[i].click_id[0]) {
            cx_copy_text(t.click_ids[0].name, sizeof t.click_ids[0].name, rows[i].click_id);
            cx_copy_text(t.click_ids[0].value, sizeof t.click_ids[0].value, "x");
            t.nclick_ids = 1;
        }
        CHECK_STR(i, cx_touch_channel(&t, NULL), rows[i].want);
    }
}

/* ---- canonical event helpers ---- */

static void test_add_identity(void **state)
{
    struct cx_source src;
    struct cx_event ev;
    char longv[CX_IDENT_VALUE_MAX + 1];
    size_t i;

    (void)state;
    memset(&src, 0, sizeof src);
    memset(&ev, 0, sizeof ev);
    src.default_country_code = "39";
    assert_int_equal(cx_event_add_identity(&ev, &src, "email", " Giulia@Example.IT "), 0);
    assert_int_equal(cx_event_add_identity(&ev, &src, "email", "giulia@example.it"), 1); /* dup */
    assert_int_equal(cx_event_add_identity(&ev, &src, "phone", "02 1234567"), 0);
    assert_int_equal(cx_event_add_identity(&ev, &src, "phone", "+39 02 1234567"), 1); /* dup */
    assert_int_equal(cx_event_add_identity(&ev, &src, "email", "not-an-email"), 1);
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", "a_7F3C"), 0);
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", "a_7f3c"), 0); /* case matters */
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", ""), 1);
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", "a\nb"), 1);
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", "a\xff"), 1);
    assert_int_equal(cx_event_add_identity(&ev, &src, "", "x"), 1);
    memset(longv, 'a', sizeof longv);
    longv[CX_IDENT_VALUE_MAX] = '\0';
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", longv), 1); /* never truncated */
    longv[CX_IDENT_VALUE_MAX - 1] = '\0';
    assert_int_equal(cx_event_add_identity(&ev, &src, "anon", longv), 0); /* 255 bytes fit */
    assert_int_equal(ev.nidentities, 5);
    assert_string_equal(ev.identities[0].type, "email");
    assert_string_equal(ev.identities[0].value, "giulia@example.it");
    assert_string_equal(ev.identities[1].type, "phone");
    assert_string_equal(ev.identities[1].value, "+39021234567");
    assert_string_equal(ev.identities[2].value, "a_7F3C");
    for (i = ev.nidentities; i < CX_MAX_IDENTITIES; i++) {
        char v[16];
        snprintf(v, sizeof v, "c%zu", i);
        assert_int_equal(cx_event_add_identity(&ev, &src, "custom:crm", v), 0);
    }
    assert_int_equal(cx_event_add_identity(&ev, &src, "custom:crm", "one-more"), -1);
    assert_int_equal(cx_event_add_identity(&ev, &src, "custom:crm", "c5"), 1); /* dup first */
}

struct pairs {
    const char *const *kv; /* name, value, name, value, ..., NULL */
};

static const char *pairs_get(void *ctx, const char *name)
{
    const struct pairs *p = ctx;
    size_t i;

    for (i = 0; p->kv[i]; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

static void test_set_touch(void **state)
{
    static const char *const kv1[] = {
        "utm_source", "Facebook", "utm_medium", "cpc", "utm_campaign",
        "spring",     "utm_term", "",           "fbc", "fb.1.1554763741205.IwAR_fbclid_value",
        "other",      "ignored",  NULL};
    static const char *const kv2[] = {"utm_source", "google",      "gclid",   "G-1", "fbclid",
                                      "F-1",        "utm_content", "bad\x01", NULL};
    static const char *const kv3[] = {"fbc", "fb.x.123.abc", "name", "x", NULL};
    struct pairs p1 = {kv1}, p2 = {kv2}, p3 = {kv3};
    struct cx_event ev;

    (void)state;
    memset(&ev, 0, sizeof ev);
    cx_event_set_touch(&ev, NULL, pairs_get, &p1);
    assert_int_equal(ev.has_touch, 1);
    assert_string_equal(ev.touch.source, "Facebook");
    assert_string_equal(ev.touch.medium, "cpc");
    assert_string_equal(ev.touch.campaign, "spring");
    assert_string_equal(ev.touch.term, "");
    assert_int_equal(ev.touch.nclick_ids, 1);
    assert_string_equal(ev.touch.click_ids[0].name, "fbclid");
    assert_string_equal(ev.touch.click_ids[0].value, "IwAR_fbclid_value");
    assert_string_equal(ev.touch.channel, "paid_social");
    assert_int_equal(ev.nidentities, 1);
    assert_string_equal(ev.identities[0].type, "fbclid");
    assert_string_equal(ev.identities[0].value, "IwAR_fbclid_value");

    /* A second source of touch data fills gaps only; the click id named first stands. */
    cx_event_set_touch(&ev, NULL, pairs_get, &p2);
    assert_string_equal(ev.touch.source, "Facebook");
    assert_string_equal(ev.touch.content, ""); /* control byte: not usable */
    assert_int_equal(ev.touch.nclick_ids, 2);
    assert_string_equal(ev.touch.click_ids[1].name, "gclid");
    assert_string_equal(ev.touch.click_ids[1].value, "G-1");
    assert_string_equal(ev.touch.click_ids[0].value, "IwAR_fbclid_value");
    assert_int_equal(ev.nidentities, 2);
    assert_string_equal(ev.identities[1].type, "gclid");
    /* fbclid is listed first in click_ids, so it still names the channel. */
    assert_string_equal(ev.touch.channel, "paid_social");

    memset(&ev, 0, sizeof ev);
    cx_event_set_touch(&ev, NULL, pairs_get, &p3); /* malformed fbc, no utm */
    assert_int_equal(ev.has_touch, 0);
    assert_int_equal(ev.touch.nclick_ids, 0);
    assert_string_equal(ev.touch.channel, "");
}

static void test_stages_and_list(void **state)
{
    static const struct {
        const char *kind, *stage, *want;
    } rows[] = {
        {"click", "", "visit"},
        {"visit", "", "visit"},
        {"lead", "", "lead"},
        {"form", "", "lead"},
        {"meeting", "", "opportunity"},
        {"deal_won", "", "won"},
        {"payment", "", "paid"},
        {"refund", "", ""},
        {"deal_lost", "", ""},
        {"custom", "", ""},
        {"stage_change", "qualified", "qualified"},
        {"payment", "won", "won"},
    };
    struct cx_source src;
    struct cx_raw raw;
    struct cx_event_list l;
    struct cx_event ev, *e;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(rows); i++) {
        memset(&ev, 0, sizeof ev);
        cx_copy_text(ev.kind, sizeof ev.kind, rows[i].kind);
        cx_copy_text(ev.stage, sizeof ev.stage, rows[i].stage);
        CHECK_STR(i, cx_event_stage(&ev), rows[i].want);
    }
    assert_int_equal(cx_stage_rank("visit"), 1);
    assert_int_equal(cx_stage_rank("lead"), 2);
    assert_int_equal(cx_stage_rank("qualified"), 3);
    assert_int_equal(cx_stage_rank("opportunity"), 4);
    assert_int_equal(cx_stage_rank("won"), 5);
    assert_int_equal(cx_stage_rank("paid"), 6);
    assert_int_equal(cx_stage_rank(""), 0);
    assert_int_equal(cx_stage_rank("Paid"), 0);
    assert_int_equal(cx_stage_rank(NULL), 0);

    memset(&src, 0, sizeof src);
    memset(&raw, 0, sizeof raw);
    src.name = "site";
    src.type = "form";
    raw.stream_id = "1700000000000-0";
    cx_list_init(&l);
    for (i = 0; i < CX_MAX_EVENTS; i++) {
        e = cx_list_add(&l, &src, &raw);
        if (!e)
            fail_msg("add %zu failed", i);
    }
    assert_null(cx_list_add(&l, &src, &raw));
    assert_int_equal(l.n, CX_MAX_EVENTS);
    assert_string_equal(l.v[999].source, "site");
    assert_string_equal(l.v[999].type, "form");
    assert_string_equal(l.v[999].raw, "1700000000000-0");
    assert_int_equal(l.v[999].nidentities, 0);
    cx_list_free(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    cx_list_free(&l);
    cx_list_free(NULL);
}

static void test_registry(void **state)
{
    /* Every source type DESIGN §2 requires (plus the built-in click and events). */
    static const char *const types[] = {"stripe",     "form",      "click",   "events",
                                        "hubspot",    "pipedrive", "shopify", "meta_leads",
                                        "google_ads", "typeform",  "calendly"};
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(types); i++) {
        const struct cx_connector *c = cx_lookup(types[i]);
        if (!c)
            fail_msg("%s missing", types[i]);
        CHECK_STR(i, c->type, types[i]);
        if (!c->verify || !c->normalize)
            fail_msg("%s incomplete", types[i]);
    }
    for (i = 0; cx_connector_at(i); i++)
        assert_ptr_equal(cx_lookup(cx_connector_at(i)->type), cx_connector_at(i));
    assert_int_equal(i, N_ELEMS(types));
    assert_null(cx_connector_at(N_ELEMS(types)));
    assert_null(cx_connector_at((size_t)-1));
    assert_null(cx_lookup("nope"));
    assert_null(cx_lookup(NULL));
    assert_string_equal(cx_lookup("form")->keep_headers[0], "content-type");
    assert_null(cx_lookup("form")->keep_headers[1]);
}

static void test_fail(void **state)
{
    struct cx_err err;

    (void)state;
    assert_int_equal(cx_fail(&err, "x=%d %s", 7, "y"), -1);
    assert_string_equal(err.msg, "x=7 y");
    assert_int_equal(cx_fail(NULL, "ignored"), -1);
}

/* Ids beyond 2^53 (Meta lead ids, Shopify order ids) keep every digit; exact smaller
 * integers stay numbers, and digits inside strings are left alone. */
static void test_big_integers(void **state)
{
    (void)state;
    static const char body[] = "{\"lead\": 1234567890123456789, \"neg\": -98765432109876543210,"
                               " \"max\": 9007199254740991, \"over\": 9007199254740992,"
                               " \"f\": 12345678901234567.5, \"s\": \"12345678901234567890\","
                               " \"arr\": [11111111111111111111]}";
    cJSON *o = cx_json_parse((const unsigned char *)body, strlen(body), CX_JSON_MAX_DEPTH);
    char id[64];
    int64_t n;
    assert_non_null(o);
    assert_int_equal(cx_json_id(o, "lead", id, sizeof(id)), 0);
    assert_string_equal(id, "1234567890123456789");
    assert_int_equal(cx_json_id(o, "neg", id, sizeof(id)), 0);
    assert_string_equal(id, "-98765432109876543210");
    assert_int_equal(cx_json_int(o, "max", &n), 0);
    assert_true(n == 9007199254740991LL);
    assert_int_equal(cx_json_id(o, "max", id, sizeof(id)), 0);
    assert_string_equal(id, "9007199254740991");
    assert_int_equal(cx_json_id(o, "over", id, sizeof(id)), 0);
    assert_string_equal(id, "9007199254740992");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "f")));
    assert_string_equal(cx_json_str(o, "s"), "12345678901234567890");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "arr"), 0)->valuestring,
        "11111111111111111111");
    assert_int_equal(cx_json_id(o, "lead", id, 5), -1);
    assert_int_equal(cx_json_id(o, "missing", id, sizeof(id)), -1);
    cJSON_Delete(o);
}

static void test_stage_map(void **state)
{
    (void)state;
    char out[32];
    const char *map = " closedwon : won, 7:qualified,appointmentscheduled:opportunity ,bad, x:";
    assert_int_equal(cx_stage_map_lookup(map, "closedwon", out, sizeof(out)), 0);
    assert_string_equal(out, "won");
    assert_int_equal(cx_stage_map_lookup(map, "7", out, sizeof(out)), 0);
    assert_string_equal(out, "qualified");
    assert_int_equal(cx_stage_map_lookup(map, "appointmentscheduled", out, sizeof(out)), 0);
    assert_string_equal(out, "opportunity");
    assert_int_equal(cx_stage_map_lookup(map, "closed", out, sizeof(out)), -1);
    assert_int_equal(cx_stage_map_lookup(map, "x", out, sizeof(out)), -1);
    assert_int_equal(cx_stage_map_lookup(map, "bad", out, sizeof(out)), -1);
    assert_int_equal(cx_stage_map_lookup(NULL, "7", out, sizeof(out)), -1);
    assert_int_equal(cx_stage_map_lookup(map, "closedwon", out, 3), -1);
}

/* The drill-downs' name: which attribute wins, and what is cleaned and cut. */
static void test_person_name(void **state)
{
    (void)state;
    static const struct {
        const char *attrs, *want;
    } cases[] = {
        {"", NULL},
        {"{\"company\":\"Acme\"}", NULL},
        {"{\"name\":\"Giulia Rossi\",\"first_name\":\"X\"}", "Giulia Rossi"},
        {"{\"full_name\":\"  Marco\\t\\nBianchi  \"}", "Marco Bianchi"},
        {"{\"first_name\":\"Anna\",\"last_name\":\"Verdi\"}", "Anna Verdi"},
        {"{\"last_name\":\"Verdi\"}", "Verdi"},
        {"{\"name\":\"   \",\"first_name\":\"Lia\"}", "Lia"},
    };
    struct cx_event ev;
    char out[CX_NAME_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&ev, 0, sizeof ev);
        snprintf(ev.attrs, sizeof ev.attrs, "%s", cases[i].attrs);
        int got = cx_event_person_name(&ev, out);
        assert_int_equal(got, cases[i].want != NULL);
        assert_string_equal(out, cases[i].want ? cases[i].want : "");
    }
    /* Cut to CX_NAME_MAX - 1 bytes, never inside a UTF-8 sequence: 2-byte letters from an
     * odd offset end one byte short. */
    char body[1024];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"name\":\"x");
    for (int k = 0; k < 200; k++)
        n += (size_t)snprintf(body + n, sizeof body - n, "\xc3\xa8");
    snprintf(body + n, sizeof body - n, "\"}");
    memset(&ev, 0, sizeof ev);
    snprintf(ev.attrs, sizeof ev.attrs, "%s", body);
    assert_int_equal(cx_event_person_name(&ev, out), 1);
    assert_int_equal(strlen(out), CX_NAME_MAX - 2);
    assert_int_equal((unsigned char)out[strlen(out) - 1], 0xa8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_bad),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_bad),
        cmocka_unit_test(test_hmac_stripe_node_vectors),
        cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_headers_and_bearer),
        cmocka_unit_test(test_bearer_match_index),
        cmocka_unit_test(test_norm_email),
        cmocka_unit_test(test_norm_phone),
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_parse_bad),
        cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_decimal_minor),
        cmocka_unit_test(test_currency),
        cmocka_unit_test(test_json_parse_limits),
        cmocka_unit_test(test_json_getters),
        cmocka_unit_test(test_utf8_and_copy),
        cmocka_unit_test(test_channel_table),
        cmocka_unit_test(test_add_identity),
        cmocka_unit_test(test_set_touch),
        cmocka_unit_test(test_stages_and_list),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_big_integers),
        cmocka_unit_test(test_stage_map),
        cmocka_unit_test(test_person_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
