/*
 * The raw-stream record (queue/stream.c) round trip: a record encoded for XADD, turned
 * into the reply hiredis gives for the stored entry (field/value strings, as XREADGROUP
 * returns them), parsed back: the same fields, whatever bytes the body holds. Malformed
 * replies are refused, and a copy outlives the reply it came from.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* The reply for the fields of an entry, built from the XADD arguments after "XADD jd:raw *".
 * Each string is a NUL-terminated copy, as hiredis gives it. */
struct fake_reply {
    redisReply top;
    redisReply items[STREAM_MAX_FIELDS + 8];
    redisReply *ptrs[STREAM_MAX_FIELDS + 8];
    char *texts[STREAM_MAX_FIELDS + 8];
};

static void fake_from_argv(struct fake_reply *f, const char *const *argv, const size_t *lens,
                           int argc)
{
    memset(f, 0, sizeof(*f));
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.element = f->ptrs;
    for (int i = 0; i < argc; i++) {
        f->texts[i] = malloc(lens[i] + 1);
        assert_non_null(f->texts[i]);
        memcpy(f->texts[i], argv[i], lens[i]);
        f->texts[i][lens[i]] = '\0';
        f->items[i].type = REDIS_REPLY_STRING;
        f->items[i].str = f->texts[i];
        f->items[i].len = lens[i];
        f->ptrs[i] = &f->items[i];
    }
    f->top.elements = (size_t)argc;
}

static void fake_from_xadd(struct fake_reply *f, const struct stream_xadd *x)
{
    assert_true(x->argc > 3);
    assert_string_equal(x->argv[0], "XADD");
    assert_string_equal(x->argv[1], JD_RAW_STREAM);
    assert_string_equal(x->argv[2], "*");
    fake_from_argv(f, x->argv + 3, x->lens + 3, x->argc - 3);
}

static void fake_free(struct fake_reply *f)
{
    for (size_t i = 0; i < sizeof(f->texts) / sizeof(f->texts[0]); i++)
        free(f->texts[i]);
}

static void assert_same(const struct stream_record *want, const struct stream_record *got)
{
    assert_string_equal(got->src, want->src);
    assert_string_equal(got->type, want->type);
    assert_int_equal(got->recv_ms, want->recv_ms);
    assert_int_equal(got->body_len, want->body_len);
    assert_memory_equal(got->body, want->body, want->body_len);
    assert_int_equal(got->nheaders, want->nheaders);
    for (size_t i = 0; i < want->nheaders; i++) {
        assert_string_equal(got->headers[i].name, want->headers[i].name);
        assert_string_equal(got->headers[i].value, want->headers[i].value);
    }
}

static void round_trip(const struct stream_record *rec)
{
    struct stream_xadd x;
    struct fake_reply f;
    struct stream_record got;
    stream_encode(rec, &x);
    fake_from_xadd(&f, &x);
    assert_int_equal(stream_parse(&f.top, &got), 0);
    assert_same(rec, &got);
    /* The copy keeps every item and outlives the reply. */
    struct stream_record copy;
    char *blob = NULL;
    assert_int_equal(stream_record_copy(&got, &copy, &blob), 0);
    fake_free(&f);
    assert_same(rec, &copy);
    assert_int_equal(copy.nitems, x.argc - 3);
    free(blob);
}

static void test_plain(void **state)
{
    (void)state;
    struct stream_record rec = {
        .src = "stripe-eu",
        .type = "stripe",
        .recv_ms = 1700000000123,
        .body = "{\"id\":\"evt_1\"}",
        .body_len = 14,
    };
    round_trip(&rec);
}

static void test_binary_body(void **state)
{
    (void)state;
    static const char body[] = "%s%n%%\0\0\x01\xff{\"a\":\"%d\"}\0tail";
    struct stream_record rec = {
        .src = "form",
        .type = "form",
        .recv_ms = 0,
        .body = body,
        .body_len = sizeof(body) - 1,
    };
    round_trip(&rec);
    rec.body = "";
    rec.body_len = 0;
    round_trip(&rec); /* an empty body is still a body */
}

static void test_many_headers(void **state)
{
    (void)state;
    struct stream_record rec = {
        .src = "shop",
        .type = "shopify",
        .recv_ms = -1,
        .body = "x",
        .body_len = 1,
    };
    static const char *const names[STREAM_MAX_HEADERS] = {
        "content-type", "x-shopify-topic", "x-shopify-shop-domain", "x-a", "x-b", "x-c", "x-d",
        "x-%s"};
    for (size_t i = 0; i < STREAM_MAX_HEADERS; i++)
        rec.headers[rec.nheaders++] = (struct stream_header){names[i], "v%d\x01"};
    round_trip(&rec);
}

static void test_header_name_cut(void **state)
{
    (void)state;
    char name[200];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct stream_record rec = {.src = "s", .type = "t", .body = "b", .body_len = 1, .nheaders = 1};
    rec.headers[0] = (struct stream_header){name, "v"};
    struct stream_xadd x;
    stream_encode(&rec, &x);
    assert_int_equal(x.lens[9], 63); /* "h:" and 61 bytes of the name */
    assert_memory_equal(x.argv[9], "h:nnn", 5);
}

static void test_unknown_fields_kept(void **state)
{
    (void)state;
    const char *argv[] = {"src", "a", "extra", "1", "type", "b", "body", "z"};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    struct fake_reply f;
    struct stream_record got;
    fake_from_argv(&f, argv, lens, 8);
    assert_int_equal(stream_parse(&f.top, &got), 0);
    assert_int_equal(got.nitems, 8);
    assert_string_equal(got.items[2], "extra");
    assert_int_equal(got.recv_ms, 0);
    fake_free(&f);
}

static void test_malformed(void **state)
{
    (void)state;
    struct stream_record got;
    struct fake_reply f;
    assert_int_equal(stream_parse(NULL, &got), -1);

    const char *odd[] = {"src", "a", "type", "b", "body"};
    size_t lens[STREAM_MAX_FIELDS + 2];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(odd[i]);
    fake_from_argv(&f, odd, lens, 5);
    assert_int_equal(stream_parse(&f.top, &got), -1);
    fake_free(&f);

    const char *missing[] = {"src", "a", "type", "b", "h:x", "y"};
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(missing[i]);
    fake_from_argv(&f, missing, lens, 6);
    assert_int_equal(stream_parse(&f.top, &got), -1); /* no body */
    fake_free(&f);

    const char *ok[] = {"src", "a", "type", "b", "body", "c"};
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(ok[i]);
    fake_from_argv(&f, ok, lens, 6);
    f.items[3].type = REDIS_REPLY_INTEGER; /* a value that is not a string */
    assert_int_equal(stream_parse(&f.top, &got), -1);
    f.items[3].type = REDIS_REPLY_STRING;
    f.top.type = REDIS_REPLY_NIL;
    assert_int_equal(stream_parse(&f.top, &got), -1);
    f.top.type = REDIS_REPLY_ARRAY;
    assert_int_equal(stream_parse(&f.top, &got), 0);
    fake_free(&f);

    const char *many[STREAM_MAX_FIELDS + 2];
    for (int i = 0; i < STREAM_MAX_FIELDS + 2; i++) {
        many[i] = i % 2 ? "v" : "k";
        lens[i] = 1;
    }
    /* Well-formed but for its length: src, type and body are all there. */
    const char *known[3] = {"src", "type", "body"};
    for (int i = 0; i < 3; i++) {
        many[2 * i] = known[i];
        lens[2 * i] = strlen(known[i]);
    }
    fake_from_argv(&f, many, lens, STREAM_MAX_FIELDS + 2);
    assert_int_equal(stream_parse(&f.top, &got), -1); /* more than STREAM_MAX_FIELDS */
    fake_free(&f);
}

static void test_entry(void **state)
{
    (void)state;
    const char *argv[] = {"src", "a", "type", "b", "body", "c"};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    struct fake_reply f;
    fake_from_argv(&f, argv, lens, 6);
    char idtext[] = "1700000000000-0";
    redisReply id = {.type = REDIS_REPLY_STRING, .str = idtext, .len = strlen(idtext)};
    redisReply *pair[2] = {&id, &f.top};
    redisReply e = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = pair};
    const char *entry;
    struct stream_record got;
    assert_int_equal(stream_parse_entry(&e, &entry, &got), STREAM_ENTRY_OK);
    assert_string_equal(entry, idtext);
    assert_string_equal(got.body, "c");
    f.top.elements = 5;
    assert_int_equal(stream_parse_entry(&e, &entry, &got), STREAM_ENTRY_MALFORMED);
    assert_string_equal(entry, idtext);
    e.elements = 1; /* deleted while pending: XCLAIM answers [id, nil] or less */
    assert_int_equal(stream_parse_entry(&e, &entry, &got), STREAM_ENTRY_GONE);
    assert_null(entry);
    assert_int_equal(stream_parse_entry(NULL, &entry, &got), STREAM_ENTRY_GONE);
    fake_free(&f);
}

static redisReply str_reply(char *s)
{
    return (redisReply){.type = REDIS_REPLY_STRING, .str = s, .len = strlen(s)};
}

/* A dead-letter list slice's reply {cursor, last, read, n, [id, fields]...} is read back
 * whole, and any element of the wrong type refuses it. */
static void test_dead_page(void **state)
{
    (void)state;
    char cursor[] = "5-0", last[] = "9-0", id[] = "5-0", k[] = "reason", v[] = "bad";
    redisReply c = str_reply(cursor), l = str_reply(last), idr = str_reply(id);
    redisReply kr = str_reply(k), vr = str_reply(v);
    redisReply read = {.type = REDIS_REPLY_INTEGER, .integer = 3};
    redisReply n = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    redisReply *fv[2] = {&kr, &vr};
    redisReply fields = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = fv};
    redisReply *pair[2] = {&idr, &fields};
    redisReply entry = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = pair};
    redisReply *top_el[5] = {&c, &l, &read, &n, &entry};
    redisReply top = {.type = REDIS_REPLY_ARRAY, .elements = 5, .element = top_el};
    struct stream_dead_page p;
    assert_int_equal(stream_parse_dead_page(&top, &p), 0);
    assert_string_equal(p.cursor, "5-0");
    assert_string_equal(p.last, "9-0");
    assert_int_equal(p.read, 3);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.nentries, 1);
    assert_ptr_equal(p.entries[0], &entry);
    /* A replay's reply: the four items alone. */
    top.elements = 4;
    assert_int_equal(stream_parse_dead_page(&top, &p), 0);
    assert_int_equal(p.nentries, 0);
    top.elements = 3;
    assert_int_equal(stream_parse_dead_page(&top, &p), -1);
    top.elements = 5;
    fields.elements = 1; /* fields not in pairs */
    assert_int_equal(stream_parse_dead_page(&top, &p), -1);
    fields.elements = 2;
    vr.type = REDIS_REPLY_INTEGER;
    assert_int_equal(stream_parse_dead_page(&top, &p), -1);
    vr.type = REDIS_REPLY_STRING;
    read.type = REDIS_REPLY_STRING;
    assert_int_equal(stream_parse_dead_page(&top, &p), -1);
    assert_int_equal(stream_parse_dead_page(NULL, &p), -1);
}

/* A discard reply's row [id, source, reason]. */
static void test_discarded_row(void **state)
{
    (void)state;
    char id[] = "5-0", src[] = "stripe", why[] = "missing currency";
    redisReply a = str_reply(id), b = str_reply(src), c = str_reply(why);
    redisReply *el[3] = {&a, &b, &c};
    redisReply row = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = el};
    const char *i, *s, *r;
    assert_int_equal(stream_discarded_row(&row, &i, &s, &r), 0);
    assert_string_equal(i, "5-0");
    assert_string_equal(s, "stripe");
    assert_string_equal(r, "missing currency");
    c.type = REDIS_REPLY_NIL;
    assert_int_equal(stream_discarded_row(&row, &i, &s, &r), -1);
    row.elements = 2;
    assert_int_equal(stream_discarded_row(&row, &i, &s, &r), -1);
    assert_int_equal(stream_discarded_row(NULL, &i, &s, &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_binary_body),
        cmocka_unit_test(test_many_headers),
        cmocka_unit_test(test_header_name_cut),
        cmocka_unit_test(test_unknown_fields_kept),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_entry),
        cmocka_unit_test(test_dead_page),
        cmocka_unit_test(test_discarded_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
