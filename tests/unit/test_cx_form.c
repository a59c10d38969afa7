/*
 * The company's own forms: the three auth modes, the content types, and normalization of
 * JSON and urlencoded submissions field by field (tests/data/form/README.md).
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

/* HMAC-SHA256("form_secret", contact.json), computed with Python's hmac module. */
#define CONTACT_JSON_SIG "fcb8d757a2d724d2b4ebd304bfcd3a5584b82b6f99cfffce5132a0458dd34433"
/* SHA-256 of contact.urlencoded (Python hashlib), first 32 hex digits. */
#define CONTACT_URL_HASH "503991fda17a1bc158bbb47ea2dfe174"
#define RECEIVED_MS 1790900000000

static char *slurp(const char *name, size_t *len)
{
    return (char *)cx_test_slurp("form", name, len);
}

static const struct cx_connector *form(void)
{
    const struct cx_connector *c = cx_lookup("form");

    assert_non_null(c);
    return c;
}

static void init_source(struct cx_source *src, enum cx_form_auth auth)
{
    memset(src, 0, sizeof *src);
    src->name = "site-contact";
    src->type = "form";
    src->auth = auth;
    src->default_country_code = "39";
}

/* Runs verify with up to three headers (name/value pairs, NULL name = unused). */
static enum cx_verdict verify3(const struct cx_source *src, const char *n1, const char *v1,
                               const char *n2, const char *v2, const char *n3, const char *v3,
                               const void *body, size_t len)
{
    struct cx_header h[3];
    struct cx_input in;
    struct cx_reply reply;
    struct cx_err err;
    size_t n = 0;

    if (n1)
        h[n++] = (struct cx_header){n1, v1};
    if (n2)
        h[n++] = (struct cx_header){n2, v2};
    if (n3)
        h[n++] = (struct cx_header){n3, v3};
    memset(&in, 0, sizeof in);
    in.method = "POST";
    in.headers = h;
    in.nheaders = n;
    in.body = body;
    in.body_len = len;
    in.now_ms = RECEIVED_MS;
    return form()->verify(src, &in, &reply, &err);
}

static void sign(const char *secret, const char *body, char out[80])
{
    unsigned char mac[CX_SHA256_LEN];
    char hex[2 * CX_SHA256_LEN + 1];

    assert_int_equal(cx_hmac_sha256(secret, strlen(secret), body, strlen(body), NULL, 0, mac), 0);
    cx_hex_encode(mac, sizeof mac, hex);
    snprintf(out, 80, "sha256=%s", hex);
}

/* ---- verify ---- */

static void test_verify_hmac(void **state)
{
    static const struct {
        const char *sig;
        enum cx_verdict want;
    } rows[] = {
        {"sha256=" CONTACT_JSON_SIG, CX_OK},
        {"SHA256=FCB8D757A2D724D2B4EBD304BFCD3A5584B82B6F99CFFFCE5132A0458DD34433", CX_OK},
        {NULL, CX_BAD_SIGNATURE},
        {"", CX_BAD_SIGNATURE},
        {CONTACT_JSON_SIG, CX_BAD_SIGNATURE}, /* no scheme */
        {"sha1=" CONTACT_JSON_SIG, CX_BAD_SIGNATURE},
        {"sha256=fcb8d757a2d724d2", CX_BAD_SIGNATURE},       /* truncated */
        {"sha256=" CONTACT_JSON_SIG "00", CX_BAD_SIGNATURE}, /* too long */
        {"sha256=0cb8d757a2d724d2b4ebd304bfcd3a5584b82b6f99cfffce5132a0458dd34433",
         CX_BAD_SIGNATURE}, /* one digit off */
    };
    struct cx_source src;
    size_t len, i;
    char *body = slurp("contact.json", &len);

    (void)state;
    init_source(&src, CX_AUTH_HMAC);
    src.secrets[0] = "form_secret";
    src.nsecrets = 1;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v = verify3(&src, "Content-Type", "application/json",
                                    rows[i].sig ? "X-Journeyd-Signature" : NULL, rows[i].sig, NULL,
                                    NULL, body, len);
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)v, (int)rows[i].want);
    }
    /* Body tampered by one byte. */
    body[len - 3] = ' ';
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "X-Journeyd-Signature",
                             "sha256=" CONTACT_JSON_SIG, NULL, NULL, body, len),
                     CX_BAD_SIGNATURE);
    body[len - 3] = '\n';
    /* Wrong secret; rotation with the new secret second. */
    src.secrets[0] = "form_secret_old";
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "X-Journeyd-Signature",
                             "sha256=" CONTACT_JSON_SIG, NULL, NULL, body, len),
                     CX_BAD_SIGNATURE);
    src.secrets[1] = "form_secret";
    src.nsecrets = 2;
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "X-Journeyd-Signature",
                             "sha256=" CONTACT_JSON_SIG, NULL, NULL, body, len),
                     CX_OK);
    /* No secret configured: nothing verifies. */
    src.nsecrets = 0;
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "X-Journeyd-Signature",
                             "sha256=" CONTACT_JSON_SIG, NULL, NULL, body, len),
                     CX_BAD_SIGNATURE);
    free(body);
}

static void test_verify_content_types(void **state)
{
    /* Auth passes in every row; only the body's format decides. */
    static const struct {
        const char *ctype, *body;
        enum cx_verdict want;
    } rows[] = {
        {"application/json", "{\"email\":\"a@b.it\"}", CX_OK},
        {"Application/JSON; charset=utf-8", "{}", CX_OK},
        {"application/x-www-form-urlencoded", "email=a%40b.it&x=1", CX_OK},
        {"application/x-www-form-urlencoded;charset=UTF-8", "", CX_OK},
        {"application/json", "email=a%40b.it", CX_BAD_REQUEST},
        {"application/json", "[{\"email\":\"a@b.it\"}]", CX_BAD_REQUEST},
        {"application/json", "{\"email\":\"a@b.it\"", CX_BAD_REQUEST},
        {"application/json", "{\"email\":\"\xff\"}", CX_BAD_REQUEST},
        {"application/x-www-form-urlencoded", "email=%zz", CX_BAD_REQUEST},
        {"application/x-www-form-urlencoded", "a=%00", CX_BAD_REQUEST},
        {"text/plain", "{}", CX_BAD_REQUEST},
        {"multipart/form-data; boundary=x", "--x--", CX_BAD_REQUEST},
        {"application/jsonx", "{}", CX_BAD_REQUEST},
        {NULL, "{}", CX_BAD_REQUEST},
    };
    struct cx_source src;
    char sig[80];
    size_t i;

    (void)state;
    init_source(&src, CX_AUTH_HMAC);
    src.secrets[0] = "s3cret";
    src.nsecrets = 1;
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v;
        sign("s3cret", rows[i].body, sig);
        v = verify3(&src, "X-Journeyd-Signature", sig, rows[i].ctype ? "Content-Type" : NULL,
                    rows[i].ctype, NULL, NULL, rows[i].body, strlen(rows[i].body));
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)v, (int)rows[i].want);
    }
}

static void test_verify_token(void **state)
{
    struct cx_source src;
    const char *body = "{\"email\":\"a@b.it\"}";
    size_t n = strlen(body);

    (void)state;
    init_source(&src, CX_AUTH_TOKEN);
    src.secrets[0] = "tok-a";
    src.secrets[1] = "tok-b";
    src.nsecrets = 2;
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "Authorization",
                             "Bearer tok-b", NULL, NULL, body, n),
                     CX_OK);
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "authorization",
                             "bearer tok-a", NULL, NULL, body, n),
                     CX_OK);
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "Authorization",
                             "Bearer tok-c", NULL, NULL, body, n),
                     CX_BAD_SIGNATURE);
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "Authorization", "tok-a",
                             NULL, NULL, body, n),
                     CX_BAD_SIGNATURE);
    assert_int_equal(
        verify3(&src, "Content-Type", "application/json", NULL, NULL, NULL, NULL, body, n),
        CX_BAD_SIGNATURE);
    /* An HMAC header does not stand in for the token. */
    assert_int_equal(verify3(&src, "Content-Type", "application/json", "X-Journeyd-Signature",
                             "sha256=" CONTACT_JSON_SIG, NULL, NULL, body, n),
                     CX_BAD_SIGNATURE);
    /* Auth first: a bad body with a bad token is a 401. */
    assert_int_equal(verify3(&src, "Content-Type", "text/plain", "Authorization", "Bearer nope",
                             NULL, NULL, body, n),
                     CX_BAD_SIGNATURE);
    assert_int_equal(verify3(&src, "Content-Type", "text/plain", "Authorization", "Bearer tok-a",
                             NULL, NULL, body, n),
                     CX_BAD_REQUEST);
}

static void test_verify_origin(void **state)
{
    static const struct {
        const char *origin, *referer;
        enum cx_verdict want;
    } rows[] = {
        {"https://example.com", NULL, CX_OK},
        {"https://Shop.Example.COM:8443", NULL, CX_OK},
        {"http://example.com", NULL, CX_OK},
        {NULL, "https://shop.example.com/contact?x=1#top", CX_OK},
        {"null", "https://example.com/", CX_OK},
        {"https://example.com", "https://evil.example/", CX_OK}, /* Origin wins */
        {"https://evil.example", "https://example.com/", CX_BAD_SIGNATURE},
        {"https://example.com.evil.example", NULL, CX_BAD_SIGNATURE},
        {"https://sub.example.com", NULL, CX_BAD_SIGNATURE}, /* exact hosts only */
        {"https://xample.com", NULL, CX_BAD_SIGNATURE},
        {NULL, "https://example.com@evil.example/", CX_BAD_SIGNATURE},
        /* userinfo "example.com:x": a parser that stops at ':' would see example.com */
        {NULL, "https://example.com:x@evil.example/", CX_BAD_SIGNATURE},
        {"ftp://example.com", NULL, CX_BAD_SIGNATURE},
        {"example.com", NULL, CX_BAD_SIGNATURE},
        {"https://", NULL, CX_BAD_SIGNATURE},
        {"null", NULL, CX_BAD_SIGNATURE},
        {NULL, NULL, CX_BAD_SIGNATURE},
    };
    struct cx_source src;
    const char *body = "email=a%40b.it";
    size_t i;

    (void)state;
    init_source(&src, CX_AUTH_ORIGIN);
    src.allow_origins = "example.com, shop.example.com,[::1]";
    for (i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v =
            verify3(&src, "Content-Type", "application/x-www-form-urlencoded",
                    rows[i].origin ? "Origin" : NULL, rows[i].origin,
                    rows[i].referer ? "Referer" : NULL, rows[i].referer, body, strlen(body));
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)v, (int)rows[i].want);
    }
    assert_int_equal(verify3(&src, "Content-Type", "application/x-www-form-urlencoded", "Origin",
                             "http://[::1]:8080", NULL, NULL, body, strlen(body)),
                     CX_OK);
    src.allow_origins = NULL;
    assert_int_equal(verify3(&src, "Content-Type", "application/x-www-form-urlencoded", "Origin",
                             "https://example.com", NULL, NULL, body, strlen(body)),
                     CX_BAD_SIGNATURE);
}

/* An origin-mode form with the browser's headers: verify, and when it accepts, normalize
 * of the record ingest would store (the body and its Content-Type). */
static enum cx_verdict verify_open(const char *ctype, const void *body, size_t len,
                                   enum cx_result *norm, char *why, size_t whylen)
{
    struct cx_source src;
    struct cx_header h[1] = {{"content-type", ctype}};
    struct cx_raw raw;
    struct cx_event_list list;
    struct cx_err err;
    enum cx_verdict v;

    init_source(&src, CX_AUTH_ORIGIN);
    src.allow_origins = "example.com";
    v = verify3(&src, "Content-Type", ctype, "Origin", "https://example.com", NULL, NULL, body,
                len);
    *norm = CX_NORM_SKIP;
    if (v != CX_OK)
        return v;
    memset(&raw, 0, sizeof raw);
    memset(&err, 0, sizeof err);
    raw.source = src.name;
    raw.stream_id = "1790900000000-5";
    raw.received_ms = RECEIVED_MS;
    raw.body = body;
    raw.body_len = len;
    raw.headers = h;
    raw.nheaders = 1;
    cx_list_init(&list);
    *norm = form()->normalize(&src, &raw, NULL, &list, NULL, &err);
    snprintf(why, whylen, "%s", err.msg);
    cx_list_free(&list);
    return v;
}

/* An open door (DESIGN §2b) refuses at the door, with 400, what would dead-letter or grow
 * the queue: the 200-character submission_id, padding past 16 KiB, broken UTF-8,
 * identities and utm values longer than normalize keeps. */
static void test_verify_origin_door(void **state)
{
    static const char url[] = "application/x-www-form-urlencoded";
    static char sid[300], pad[17000], note[3000], email[400];
    static const struct {
        const char *ctype, *body;
        enum cx_verdict want;
    } rows[] = {
        {url, "email=a%40b.it&submission_id=0b6e1c52-9f1e-4c3a-a1d2-3f4e5a6b7c8d", CX_OK},
        {url, note, CX_OK}, /* a long message: normalize cuts it, the body cap bounds it */
        {"application/json", "{\"email\":\"a@b.it\",\"submission_id\":\"s-1\",\"n\":3}", CX_OK},
        {url, sid, CX_BAD_REQUEST},
        {url, "email=a%40b.it&submission_id=a%20b", CX_BAD_REQUEST},
        {url, "email=a%40b.it&submission_id=%C3%A9", CX_BAD_REQUEST},
        {url, pad, CX_BAD_REQUEST},
        {url, "email=a%40b.it&name=%FF", CX_BAD_REQUEST},
        {url, "email=a%40b.it&%FF=x", CX_BAD_REQUEST},
        {url, "email=a%40b.it&utm_source=a%0Ab", CX_BAD_REQUEST},
        {url, email, CX_BAD_REQUEST},
        {url, "email=a%40b.it&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1",
         CX_BAD_REQUEST}, /* a 65-byte field name */
        {"application/json", "{\"email\":\"a@b.it\",\"submission_id\":\"x\u00e9\"}",
         CX_BAD_REQUEST},
        {"text/plain", "email=a%40b.it", CX_BAD_REQUEST},
    };
    enum cx_result norm;
    char why[128];

    (void)state;
    snprintf(sid, sizeof sid, "email=a%%40b.it&submission_id=%0200d", 0);
    snprintf(pad, sizeof pad, "email=a%%40b.it&pad=%016400d", 0);
    snprintf(note, sizeof note, "email=a%%40b.it&message=%02900d", 0);
    snprintf(email, sizeof email, "email=%0300d%%40b.it", 0);
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        enum cx_verdict v =
            verify_open(rows[i].ctype, rows[i].body, strlen(rows[i].body), &norm, why, sizeof why);
        if (v != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)v, (int)rows[i].want);
        if (v == CX_OK && norm != CX_NORM_OK)
            fail_msg("row %zu: accepted at the door, then normalize said %d (%s)", i, (int)norm,
                     why);
    }
}

/* The open door's property over generated bodies: whatever verify accepts in origin mode,
 * normalize accepts (so a browser's form never dead-letters). */
static void test_origin_verify_implies_normalize(void **state)
{
    static const struct {
        const char *ctype, *body;
    } seeds[] = {
        {"application/x-www-form-urlencoded",
         "email=giulia%40example.it&phone=%2B39+02+1234+5678&jd_aid=a_7f3c2e&utm_source=google"
         "&utm_medium=cpc&gclid=EAIa-1&submission_id=sub-2026-0001&message=Ciao+%C3%A8"},
        {"application/json",
         "{\"email\":\"giulia@example.it\",\"submission_id\":\"sub-1\",\"utm_source\":"
         "\"news\",\"fbc\":\"fb.1.1.IwAR\",\"n\":12.5,\"ok\":true,\"note\":\"\u00e8\"}"},
    };
    static char body[20000];
    uint64_t seed = 0x2545f4914f6cdd1du;
    size_t accepted = 0, refused = 0;
    enum cx_result norm;
    char why[128];

    (void)state;
    for (int i = 0; i < 20000; i++) {
        size_t k = (size_t)i % N_ELEMS(seeds), len = strlen(seeds[k].body);

        memcpy(body, seeds[k].body, len + 1);
        for (uint64_t e = 1 + cx_test_rand(&seed) % 4; e > 0; e--)
            len = cx_test_mutate(&seed, body, len, sizeof body - 1);
        if (verify_open(seeds[k].ctype, body, len, &norm, why, sizeof why) != CX_OK) {
            refused++;
            continue;
        }
        accepted++;
        if (norm != CX_NORM_OK)
            fail_msg("verify accepted %.*s, normalize said %d (%s)", (int)len, body, (int)norm,
                     why);
    }
    if (accepted < 1000 || refused < 1000)
        fail_msg("generated %zu accepted and %zu refused bodies: too few of one", accepted,
                 refused);
}

/* ---- normalize ---- */

struct norm {
    struct cx_source src;
    struct cx_raw raw;
    struct cx_header h[1];
    struct cx_event_list list;
    struct cx_err err;
};

static enum cx_result normalize(struct norm *n, const char *ctype, const void *body, size_t len)
{
    init_source(&n->src, CX_AUTH_HMAC);
    memset(&n->raw, 0, sizeof n->raw);
    memset(&n->err, 0, sizeof n->err);
    n->raw.source = "site-contact";
    n->raw.stream_id = "1790900000000-3";
    n->raw.received_ms = RECEIVED_MS;
    n->raw.body = body;
    n->raw.body_len = len;
    n->h[0] = (struct cx_header){"content-type", ctype};
    n->raw.headers = n->h;
    n->raw.nheaders = ctype ? 1 : 0;
    cx_list_init(&n->list);
    return form()->normalize(&n->src, &n->raw, NULL, &n->list, NULL, &n->err);
}

static enum cx_result normalize_s(struct norm *n, const char *ctype, const char *body)
{
    return normalize(n, ctype, body, strlen(body));
}

static void test_norm_json(void **state)
{
    struct norm n;
    const struct cx_event *ev;
    size_t len;
    char *body = slurp("contact.json", &len);

    (void)state;
    assert_int_equal(normalize(&n, "application/json", body, len), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "form:site-contact:sub-2026-0001");
    assert_string_equal(ev->source, "site-contact");
    assert_string_equal(ev->type, "form");
    assert_string_equal(ev->kind, "form");
    assert_string_equal(cx_event_stage(ev), "lead");
    assert_string_equal(ev->raw, "1790900000000-3");
    assert_int_equal(ev->at_ms, 1790856300000); /* 14:05 at +02:00 = 12:05Z */
    assert_int_equal(ev->nidentities, 4);
    assert_string_equal(ev->identities[0].type, "email");
    assert_string_equal(ev->identities[0].value, "giulia.rossi@example.it");
    assert_string_equal(ev->identities[1].type, "phone");
    assert_string_equal(ev->identities[1].value, "+390212345678");
    assert_string_equal(ev->identities[2].type, "anon");
    assert_string_equal(ev->identities[2].value, "a_7f3c2e");
    assert_string_equal(ev->identities[3].type, "gclid");
    assert_string_equal(ev->identities[3].value, "EAIaIQobChMI-form-gclid");
    assert_int_equal(ev->has_touch, 1);
    assert_string_equal(ev->touch.channel, "paid_search");
    assert_string_equal(ev->touch.source, "google");
    assert_string_equal(ev->touch.medium, "cpc");
    assert_string_equal(ev->touch.campaign, "spring_promo");
    assert_string_equal(ev->touch.content, "");
    assert_int_equal(ev->touch.nclick_ids, 1);
    assert_int_equal(ev->has_amount, 0);
    assert_string_equal(ev->payment_key, "");
    /* Numbers and booleans as text; nested values and nulls left out; JSON order. */
    assert_string_equal(ev->attrs, "{\"form\":\"contact\",\"first_name\":\"Giulia\","
                                   "\"last_name\":\"Rossi\",\"company\":\"Rossi S.r.l.\","
                                   "\"employees\":\"42\",\"newsletter\":\"true\","
                                   "\"budget\":\"1500.5\","
                                   "\"message\":\"Vorrei un preventivo.\\nGrazie!\"}");
    cx_list_free(&n.list);
    free(body);
}

static void test_norm_urlencoded(void **state)
{
    struct norm n;
    const struct cx_event *ev;
    size_t len;
    char *body = slurp("contact.urlencoded", &len);

    (void)state;
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded; charset=UTF-8", body, len),
                     CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    /* No submission_id: the body hash is the dedup key. */
    assert_string_equal(ev->id, "form:site-contact:" CONTACT_URL_HASH);
    assert_string_equal(ev->kind, "form");
    assert_int_equal(ev->at_ms, RECEIVED_MS); /* no submitted_at */
    assert_int_equal(ev->nidentities, 4);
    assert_string_equal(ev->identities[0].type, "email");
    assert_string_equal(ev->identities[0].value, "marco.bianchi@example.it");
    assert_string_equal(ev->identities[1].type, "phone");
    assert_string_equal(ev->identities[1].value, "+491711234567");
    assert_string_equal(ev->identities[2].type, "anon");
    assert_string_equal(ev->identities[2].value, "a_99");
    assert_string_equal(ev->identities[3].type, "fbclid");
    assert_string_equal(ev->identities[3].value, "IwAR_form_fbclid");
    assert_int_equal(ev->has_touch, 1);
    /* utm says email, but a click id names its platform */
    assert_string_equal(ev->touch.channel, "paid_social");
    assert_string_equal(ev->touch.source, "newsletter");
    assert_string_equal(ev->touch.medium, "email");
    assert_string_equal(ev->touch.campaign, "october");
    assert_string_equal(ev->touch.click_ids[0].name, "fbclid");
    assert_string_equal(ev->attrs, "{\"name\":\"Marco Bianchi\",\"company\":\"Bianchi & Figli\","
                                   "\"form\":\"demo\",\"interest\":\"pricing plans\"}");
    cx_list_free(&n.list);

    /* A redelivery of the same bytes is the same lead; other bytes are another. */
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", body, len), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "form:site-contact:" CONTACT_URL_HASH);
    cx_list_free(&n.list);
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", body, len - 1), CX_NORM_OK);
    assert_true(strcmp(n.list.v[0].id, "form:site-contact:" CONTACT_URL_HASH) != 0);
    cx_list_free(&n.list);
    free(body);
}

static void test_norm_edge_cases(void **state)
{
    struct norm n;
    const struct cx_event *ev;
    char big[5000];
    char longid[200];
    size_t i, o = 0;

    (void)state;
    /* Nothing usable still yields one event: a contact of its own. SHA-256("{}") starts
     * 44136fa355b3678a1146ad16f7e8649e (Python hashlib). */
    assert_int_equal(normalize_s(&n, "application/json", "{}"), CX_NORM_OK);
    assert_int_equal(n.list.n, 1);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "form:site-contact:44136fa355b3678a1146ad16f7e8649e");
    assert_int_equal(ev->nidentities, 0);
    assert_int_equal(ev->has_touch, 0);
    assert_string_equal(ev->attrs, "");
    assert_int_equal(ev->at_ms, RECEIVED_MS);
    cx_list_free(&n.list);

    /* Empty urlencoded body: SHA-256("") = e3b0c442... */
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", "", 0), CX_NORM_OK);
    assert_string_equal(n.list.v[0].id, "form:site-contact:e3b0c44298fc1c149afbf4c8996fb924");
    cx_list_free(&n.list);

    /* An unparseable submitted_at falls back to the arrival; an unusable email and phone
     * are dropped, not fatal. A numeric submission_id is its text. */
    assert_int_equal(normalize_s(&n, "application/json",
                                 "{\"submission_id\":12345,\"submitted_at\":\"yesterday\","
                                 "\"email\":\"not-an-email\",\"phone\":\"call me\"}"),
                     CX_NORM_OK);
    ev = &n.list.v[0];
    assert_string_equal(ev->id, "form:site-contact:12345");
    assert_int_equal(ev->at_ms, RECEIVED_MS);
    assert_int_equal(ev->nidentities, 0);
    assert_string_equal(ev->attrs, "");
    cx_list_free(&n.list);

    /* Without the stored header, the body's first byte picks the format. */
    assert_int_equal(normalize_s(&n, NULL, " {\"jd_aid\":\"a_1\"}"), CX_NORM_OK);
    assert_string_equal(n.list.v[0].identities[0].value, "a_1");
    cx_list_free(&n.list);
    assert_int_equal(normalize_s(&n, NULL, "jd_aid=a_2"), CX_NORM_OK);
    assert_string_equal(n.list.v[0].identities[0].value, "a_2");
    cx_list_free(&n.list);

    /* A submission_id too long for an event id is refused with a reason. */
    memset(longid, 0, sizeof longid);
    memcpy(longid, "submission_id=", 14);
    memset(longid + 14, 'x', 129);
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", longid, strlen(longid)),
                     CX_NORM_POISON);
    assert_int_equal(n.list.n, 0);
    assert_string_equal(n.err.msg, "form: submission_id longer than 128 bytes or not UTF-8");
    cx_list_free(&n.list);

    /* Malformed bodies stored anyway are poison, not a crash. */
    assert_int_equal(normalize_s(&n, "application/json", "[1]"), CX_NORM_POISON);
    assert_string_equal(n.err.msg, "form: body is not a JSON object");
    cx_list_free(&n.list);
    assert_int_equal(normalize_s(&n, "text/plain", "a=1"), CX_NORM_POISON);
    cx_list_free(&n.list);

    /* Attributes stay bounded: 40 fields of 100 bytes do not all fit in CX_ATTRS_MAX. */
    for (i = 0; i < 40; i++) {
        int w = snprintf(big + o, sizeof big - o, "%sf%02zu=", i ? "&" : "", i);
        o += (size_t)w;
        memset(big + o, 'v', 100);
        o += 100;
    }
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", big, o), CX_NORM_OK);
    ev = &n.list.v[0];
    {
        size_t alen = strlen(ev->attrs);
        cJSON *a = cJSON_Parse(ev->attrs);
        assert_true(alen > 0 && alen < CX_ATTRS_MAX);
        assert_non_null(a);
        /* each member "fNN":"v...v" is 108 bytes, plus commas and braces: 1 + 109 n must
         * stay below CX_ATTRS_MAX (4096), so 37 fit */
        assert_int_equal(cJSON_GetArraySize(a), 37);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(a, "f00"));
        cJSON_Delete(a);
    }
    cx_list_free(&n.list);

    /* A value over CX_TEXT_MAX is cut on a UTF-8 boundary. */
    memcpy(big, "note=", 5);
    for (i = 0; i < 200; i++)
        memcpy(big + 5 + 2 * i, "\xc3\xa9", 2); /* 400 bytes of "é" */
    assert_int_equal(normalize(&n, "application/x-www-form-urlencoded", big, 405), CX_NORM_OK);
    {
        cJSON *a = cJSON_Parse(n.list.v[0].attrs);
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(a, "note");
        assert_true(cJSON_IsString(note));
        assert_int_equal(strlen(note->valuestring), 254); /* 127 whole "é" */
        assert_int_equal(cx_utf8_valid((const unsigned char *)note->valuestring, 254), 1);
        cJSON_Delete(a);
    }
    cx_list_free(&n.list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_hmac),
        cmocka_unit_test(test_verify_content_types),
        cmocka_unit_test(test_verify_token),
        cmocka_unit_test(test_verify_origin),
        cmocka_unit_test(test_verify_origin_door),
        cmocka_unit_test(test_origin_verify_implies_normalize),
        cmocka_unit_test(test_norm_json),
        cmocka_unit_test(test_norm_urlencoded),
        cmocka_unit_test(test_norm_edge_cases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
