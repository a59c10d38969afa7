/*
 * cx_json_check, verify's allocation-free JSON shape check, against fixed cases and
 * against cJSON itself: whatever the check accepts must parse (cx_json_parse) with the same
 * top-level type and members, and every valid text the generator builds must pass both.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int check(const char *s, struct cx_json_top *top)
{
    return cx_json_check((const unsigned char *)s, strlen(s), CX_JSON_MAX_DEPTH, top);
}

static void test_fixed_cases(void **state)
{
    static const struct {
        const char *text;
        int ok;
    } rows[] = {
        {"{}", 1},
        {" [1, -0, 0.5e+3, 2E-2, true, false, null, \"x\"] ", 1},
        {"{\"a\":{\"b\":[{}]}}", 1},
        {"\"\\u00e9\\n\\\\\\/\"", 1},
        {"\"caf\xc3\xa9\"", 1},
        {"-12", 1},
        {"", 0},
        {"   ", 0},
        {"{", 0},
        {"{\"a\" 1}", 0},
        {"{\"a\":1,}", 0},
        {"[1,]", 0},
        {"[1 2]", 0},
        {"{a:1}", 0},
        {"{\"a\":1}}", 0},
        {"{} {}", 0},
        {"01", 0},
        {"1.", 0},
        {".5", 0},
        {"+1", 0},
        {"1e", 0},
        {"-", 0},
        {"tru", 0},
        {"nul", 0},
        {"\"\\x\"", 0},
        {"\"\\u12g4\"", 0},
        {"\"\\u12\"", 0},
        {"\"\\ud83d\\ude00\"", 1},
        {"\"\\udf00\"", 0},
        {"\"\\ud83d\"", 0},
        {"\"\\ud83dx\"", 0},
        {"\"\\ud83d\\u0041\"", 0},
        {"\"a\tb\"", 0},
        {"\"unterminated", 0},
        {"\"bad \xc3\x28 utf-8\"", 0},
        {"\"overlong \xc0\xaf\"", 0},
        /* An escaped NUL would cut the value where cJSON stores it (issue 11.8). */
        {"\"a@b.c\\u0000evil\"", 0},
        {"{\"id\":\"\\u0000\"}", 0},
        {"{\"\\u0000\":1}", 0},
        {"\"\\u0001 and \\u00e9\"", 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int got = check(rows[i].text, NULL) == 0;
        if (got != rows[i].ok)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].text, got, rows[i].ok);
    }
}

static void test_depth_limit(void **state)
{
    char deep[2 * (CX_JSON_MAX_DEPTH + 1) + 1];
    (void)state;
    for (int n = CX_JSON_MAX_DEPTH; n <= CX_JSON_MAX_DEPTH + 1; n++) {
        /* memset, not a loop of two stores: GCC 12's vectorizer at -O3 misreads the loop's
         * bounds and reports an overflow (-Wstringop-overflow) that cannot happen. */
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = '\0';
        assert_int_equal(check(deep, NULL) == 0, n <= CX_JSON_MAX_DEPTH);
    }
}

static void test_top_members(void **state)
{
    static const char *const keys[] = {"id", "type", "data"};
    struct cx_json_top top = {.keys = keys, .nkeys = 3};
    (void)state;

    assert_int_equal(check("{\"type\":\"x\",\"id\":\"evt_1\",\"data\":{\"id\":\"\"}}", &top), 0);
    assert_int_equal(top.type, '{');
    assert_int_equal(top.found[0].kind, 's');
    assert_int_equal(top.found[1].kind, 's');
    assert_int_equal(top.found[2].kind, '{');
    assert_int_equal(top.found[0].len, 5);
    assert_memory_equal(top.found[0].value, "evt_1", 5);
    assert_int_equal(top.found[2].len, 9); /* {"id":""} */
    assert_false(top.escaped_name);

    /* Only the top level counts; the first of a repeated name wins (as cJSON's lookup). */
    assert_int_equal(check("{\"data\":{\"id\":\"x\"},\"type\":\"\",\"type\":\"y\"}", &top), 0);
    assert_int_equal(top.found[0].kind, 0);
    assert_int_equal(top.found[1].kind, 'e');

    /* A name written with escapes is not matched, but reported: verify then refuses it,
     * the journey answer parses such an event instead of trusting the scan. */
    assert_int_equal(check("{\"\\u0069d\":\"x\",\"id\":7}", &top), 0);
    assert_int_equal(top.found[0].kind, '7');
    assert_true(top.escaped_name);
    assert_int_equal(check("{\"id\":\"a\\\"b\",\"type\":\"t\"}", &top), 0);
    assert_false(top.escaped_name);
    assert_true(top.found[0].escaped);
    assert_false(top.found[1].escaped);
    assert_int_equal(top.found[0].len, 4); /* a\"b as written */

    assert_int_equal(check("[{\"id\":\"x\"}]", &top), 0);
    assert_int_equal(top.type, '[');
    assert_int_equal(top.found[0].kind, 0);

    assert_int_equal(check("{\"id\":\"x\"", &top), -1);
}

/* The worker's parse refuses an escaped NUL as the door's check does: a body stored before
 * the check existed (or replayed) must not be cut either. */
static void test_parse_refuses_nul_escape(void **state)
{
    static const char cut[] = "{\"id\":\"events:nul\\u0000x\"}";
    static const char fine[] = "{\"id\":\"events:\\u0041\"}";
    (void)state;
    assert_null(cx_json_parse((const unsigned char *)cut, strlen(cut), CX_JSON_MAX_DEPTH));
    cJSON *root = cx_json_parse((const unsigned char *)fine, strlen(fine), CX_JSON_MAX_DEPTH);
    assert_non_null(root);
    assert_string_equal(cx_json_str(root, "id"), "events:A");
    cJSON_Delete(root);
}

/* Found by the differential test below: an exponent's digits were taken for a new
 * integer and quoted, so a valid number broke the parse. */
static void test_parse_keeps_exponents(void **state)
{
    static const char text[] = "[3e79007199254740993, 1.5E+10000000000000000000, 9007199254740993]";
    cJSON *root = cx_json_parse((const unsigned char *)text, strlen(text), CX_JSON_MAX_DEPTH);
    (void)state;
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(root), 3);
    assert_true(cJSON_IsNumber(cJSON_GetArrayItem(root, 0)));
    assert_true(cJSON_IsString(cJSON_GetArrayItem(root, 2)));
    cJSON_Delete(root);
}

/* ---- differential test against cJSON ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

struct text {
    char buf[4096];
    size_t len;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
    }
}

static void gen_value(struct text *t, int depth);

static void gen_string(struct text *t)
{
    static const char *const parts[] = {"id",          "type", "evt_1", "\\n", "\\u00e9", "\\\"",
                                        "caf\xc3\xa9", " ",    "",      "x",   "\\/",     "data"};
    put(t, "\"");
    for (uint32_t i = rnd(3); i > 0; i--)
        put(t, parts[rnd(sizeof parts / sizeof parts[0])]);
    put(t, "\"");
}

static void gen_value(struct text *t, int depth)
{
    static const char *const scalars[] = {
        "0", "-1", "12.5", "3e7", "-0.25E-3", "true", "false", "null", "9007199254740993"};
    uint32_t kind = depth > 4 ? rnd(2) : rnd(4);
    if (kind == 0) {
        put(t, scalars[rnd(sizeof scalars / sizeof scalars[0])]);
    } else if (kind == 1) {
        gen_string(t);
    } else {
        int object = kind == 2;
        put(t, object ? "{" : "[");
        for (uint32_t i = rnd(4), first = 1; i > 0; i--, first = 0) {
            if (!first)
                put(t, rnd(2) ? "," : ", ");
            if (object) {
                gen_string(t);
                put(t, rnd(2) ? ":" : " : ");
            }
            gen_value(t, depth + 1);
        }
        put(t, object ? "}" : "]");
    }
}

/* The check may be stricter than cJSON, never looser. */
static void compare_with_cjson(const struct text *t, int must_pass)
{
    static const char *const keys[] = {"id", "type", "data", "x"};
    struct cx_json_top top = {.keys = keys, .nkeys = 4};
    const unsigned char *b = (const unsigned char *)t->buf;
    int ok = cx_json_check(b, t->len, CX_JSON_MAX_DEPTH, &top) == 0;
    cJSON *root = cx_json_parse(b, t->len, CX_JSON_MAX_DEPTH);

    if (must_pass && !ok)
        fail_msg("a valid text was refused: %.*s", (int)t->len, t->buf);
    if (ok && !root)
        fail_msg("accepted but cJSON cannot parse: %.*s", (int)t->len, t->buf);
    if (ok && cJSON_IsObject(root) != (top.type == '{'))
        fail_msg("top-level type differs: %.*s", (int)t->len, t->buf);
    if (ok && cJSON_IsObject(root)) {
        for (size_t i = 0; i < 4; i++) {
            int want = cx_json_str(root, keys[i]) != NULL;
            /* Generated names never spell a key with escapes, so both must agree, except
             * that cx_json_parse turns integers beyond 2^53 into their text. */
            int big_number =
                top.found[i].kind == '-' || (top.found[i].kind >= '0' && top.found[i].kind <= '9');
            if ((top.found[i].kind == 's') != want && !(want && big_number))
                fail_msg("member %s: check says %c, cJSON %d: %.*s", keys[i],
                         top.found[i].kind ? top.found[i].kind : '0', want, (int)t->len, t->buf);
            if ((top.found[i].kind == '{') != (cx_json_obj(root, keys[i]) != NULL))
                fail_msg("member %s object-ness differs: %.*s", keys[i], (int)t->len, t->buf);
        }
    }
    cJSON_Delete(root);
}

static void test_against_cjson(void **state)
{
    static const char noise[] = "{}[]\":,\\ -.e0123456789tfnu\t\n\x80\xc3\xff\x01";
    (void)state;
    for (int round = 0; round < 20000; round++) {
        struct text t = {.len = 0};
        gen_value(&t, 0);
        compare_with_cjson(&t, 1);
        /* Then a few mutations: flipped, deleted, inserted bytes and truncations. */
        for (int m = 0; m < 4 && t.len > 0; m++) {
            size_t at = rnd((uint32_t)t.len);
            switch (rnd(4)) {
            case 0:
                t.buf[at] = noise[rnd(sizeof noise - 1)];
                break;
            case 1:
                memmove(t.buf + at, t.buf + at + 1, t.len - at - 1);
                t.len--;
                break;
            case 2:
                if (t.len + 1 < sizeof t.buf) {
                    memmove(t.buf + at + 1, t.buf + at, t.len - at);
                    t.buf[at] = noise[rnd(sizeof noise - 1)];
                    t.len++;
                }
                break;
            default:
                t.len = at;
                break;
            }
            if (t.len > 0)
                compare_with_cjson(&t, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cases),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_top_members),
        cmocka_unit_test(test_parse_keeps_exponents),
        cmocka_unit_test(test_parse_refuses_nul_escape),
        cmocka_unit_test(test_against_cjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
