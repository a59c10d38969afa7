/*
 * Google Data Manager destination: Google's known-answer hashes and formatting rules, the
 * events.ingest body compared field by field with Google's own sample event data
 * (tests/data/google_data_manager/, vectors.md), refunds as adjustments, one click id per
 * event, and the service-account JWT verified with the public key of the key that signed it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ads.h"
#include "common.h"
#include "cx_test.h"

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static void check_hash(int (*norm)(const char *, char *, size_t), const char *in,
                       const char *want_norm, const char *want_hash)
{
    char out[256], hex[DST_HASH_HEX];

    assert_int_equal(norm(in, out, sizeof out), 0);
    assert_string_equal(out, want_norm);
    if (!want_hash)
        return;
    assert_int_equal(dst_sha256_hex(out, strlen(out), hex), 0);
    assert_string_equal(hex, want_hash);
}

/* googleads/data-manager-python tests/formatter_test.py. */
static void test_google_hash_vectors(void **state)
{
    char out[128];
    (void)state;
    check_hash(dst_google_norm_email, "  ALEXZ@example.com   ", "alexz@example.com",
               "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a");
    check_hash(dst_google_norm_email, "  alexz@EXAMPLE.com   ", "alexz@example.com",
               "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a");
    check_hash(dst_google_norm_phone, "   +1-800-555-0100", "+18005550100",
               "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30");
    check_hash(dst_google_norm_phone, "1-800-555-0100   ", "+18005550100",
               "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30");
    check_hash(dst_google_norm_email, "Jefferson.Loves.hiking@gmail.com",
               "jeffersonloveshiking@gmail.com", NULL);
    check_hash(dst_google_norm_email, "Jefferson.LOVES.Hiking@googlemail.com",
               "jeffersonloveshiking@googlemail.com", NULL);
    check_hash(dst_google_norm_email, "Cloudy.SanFrancisco+shopping@gmail.com",
               "cloudysanfrancisco@gmail.com", NULL);
    check_hash(dst_google_norm_email, "user.name+NYC@Example.com", "user.name+nyc@example.com",
               NULL);
    assert_int_equal(dst_google_norm_email("quinn", out, sizeof out), -1);
    assert_int_equal(dst_google_norm_email(" ...@gmail.com", out, sizeof out), -1);
    assert_int_equal(dst_google_norm_email("a b@example.com", out, sizeof out), -1);
    assert_int_equal(dst_google_norm_phone(" +A BCD EFG ", out, sizeof out), -1);
}

static const struct dst_config base_cfg = {
    .name = "google",
    .type = "google_data_manager",
    .customer_id = "123-456-7890",
    .conversion_action = "987654321",
};

/* Row 2 of Google's events_1.json as journeyd's facts (the first e-mail and phone of the
 * row: a contact's identities), then every field the sample names. */
static void test_google_request_matches_sample(void **state)
{
    size_t len;
    unsigned char *raw = cx_test_slurp("google_data_manager", "events_1.json", &len);
    cJSON *rows = cJSON_ParseWithLength((const char *)raw, len);
    const cJSON *row = cJSON_GetArrayItem(rows, 1);
    cJSON *f = parse("{\"kind\":\"payment\",\"at\":\"2025-06-06T16:45:09.333Z\","
                     "\"payment_key\":\"DEF987654321\",\"amount\":{\"minor\":199,"
                     "\"currency\":\"USD\"},\"click_ids\":{\"gclid\":\"GCLID123\"},"
                     "\"identities\":[{\"type\":\"email\",\"value\":\"ALEXF@example.com\"},"
                     "{\"type\":\"phone\",\"value\":\"+1-800-555-0100\"}]}");
    char why[DST_WHY_MAX] = "", hex[DST_HASH_HEX];
    cJSON *req = dst_google_request(&base_cfg, f, why, sizeof why);
    const cJSON *d, *ev, *ids;
    char *txt;
    (void)state;

    free(raw);
    assert_non_null(req);
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "destinations"), 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "operatingAccount"), "accountType")->valuestring,
        "GOOGLE_ADS");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "operatingAccount"), "accountId")->valuestring,
        "1234567890");
    assert_string_equal(cJSON_GetObjectItem(d, "productDestinationId")->valuestring, "987654321");
    assert_string_equal(cJSON_GetObjectItem(d, "reference")->valuestring, "paid");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "events")), 1);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "events"), 0);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "destinationReferences"), 0)->valuestring,
        "paid");
    assert_string_equal(cJSON_GetObjectItem(ev, "transactionId")->valuestring,
                        cJSON_GetObjectItem(row, "transactionId")->valuestring);
    assert_string_equal(cJSON_GetObjectItem(ev, "eventTimestamp")->valuestring,
                        cJSON_GetObjectItem(row, "timestamp")->valuestring);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "adIdentifiers"), "gclid")->valuestring,
        cJSON_GetObjectItem(row, "gclid")->valuestring);
    assert_string_equal(cJSON_GetObjectItem(ev, "currency")->valuestring,
                        cJSON_GetObjectItem(row, "currency")->valuestring);
    txt = cJSON_PrintUnformatted(req);
    assert_non_null(strstr(txt, "\"conversionValue\":1.99,"));
    {
        cJSON *back = cJSON_Parse(txt);
        const cJSON *bev = cJSON_GetArrayItem(cJSON_GetObjectItem(back, "events"), 0);
        assert_true(cJSON_GetObjectItem(bev, "conversionValue")->valuedouble ==
                    cJSON_GetObjectItem(row, "value")->valuedouble);
        cJSON_Delete(back);
    }
    /* Never in clear. */
    assert_null(strstr(txt, "alexf"));
    assert_null(strstr(txt, "ALEXF"));
    assert_null(strstr(txt, "555"));
    free(txt);
    ids = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "userData"), "userIdentifiers");
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_int_equal(dst_sha256_hex("alexf@example.com", 17, hex), 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 0), "emailAddress")->valuestring, hex);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 1), "phoneNumber")->valuestring,
                        "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30");
    assert_string_equal(cJSON_GetObjectItem(req, "encoding")->valuestring, "HEX");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(req, "validateOnly")));
    assert_null(cJSON_GetObjectItem(ev, "consent"));
    cJSON_Delete(req);

    /* Dry run: validateOnly; consent granted travels with the event. */
    {
        struct dst_config cfg = base_cfg;
        cJSON *c;
        cfg.dry_run = 1;
        cJSON_AddTrueToObject(f, "consent_granted");
        req = dst_google_request(&cfg, f, why, sizeof why);
        assert_non_null(req);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(req, "validateOnly")));
        c = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(req, "events"), 0),
                                "consent");
        assert_string_equal(cJSON_GetObjectItem(c, "adUserData")->valuestring, "CONSENT_GRANTED");
        assert_string_equal(cJSON_GetObjectItem(c, "adPersonalization")->valuestring,
                            "CONSENT_GRANTED");
        cJSON_Delete(req);
    }
    cJSON_Delete(f);
    cJSON_Delete(rows);
}

/* Exactly one click id per event (gclid first), refunds restate the value under the same
 * transactionId, numeric keys get a prefix, configured stages convert once per click. */
static void test_google_click_refund_stages(void **state)
{
    char why[DST_WHY_MAX] = "";
    cJSON *f, *req, *ad, *ev;
    (void)state;

    f = parse("{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00+02:00\",\"payment_key\":"
              "\"5551234\",\"amount\":{\"minor\":249000,\"currency\":\"EUR\"},"
              "\"click_ids\":{\"gbraid\":\"GB1\",\"gclid\":\"GC1\",\"wbraid\":\"WB1\"}}");
    req = dst_google_request(&base_cfg, f, why, sizeof why);
    assert_non_null(req);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "events"), 0);
    ad = cJSON_GetObjectItem(ev, "adIdentifiers");
    assert_int_equal(cJSON_GetArraySize(ad), 1);
    assert_string_equal(cJSON_GetObjectItem(ad, "gclid")->valuestring, "GC1");
    assert_string_equal(cJSON_GetObjectItem(ev, "transactionId")->valuestring, "order-5551234");
    assert_string_equal(cJSON_GetObjectItem(ev, "eventTimestamp")->valuestring,
                        "2026-10-01T10:00:00Z");
    /* No user data: no encoding member. */
    assert_null(cJSON_GetObjectItem(req, "encoding"));
    cJSON_Delete(req);
    cJSON_Delete(f);

    f = parse(
        "{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\",\"payment_key\":\"pi_1\","
        "\"amount\":{\"minor\":500,\"currency\":\"JPY\"},\"click_ids\":{\"wbraid\":\"WB1\"}}");
    req = dst_google_request(&base_cfg, f, why, sizeof why);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "events"), 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "adIdentifiers"), "wbraid")->valuestring,
        "WB1");
    cJSON_Delete(req);
    cJSON_Delete(f);

    /* A partial refund: the same transactionId, the remaining value. */
    f = parse("{\"kind\":\"refund\",\"at\":\"2026-10-05T12:00:00Z\",\"payment_key\":\"pi_1\","
              "\"amount\":{\"minor\":49000,\"currency\":\"EUR\"},"
              "\"amount_remaining\":{\"minor\":200000,\"currency\":\"EUR\"},"
              "\"click_ids\":{\"gclid\":\"GC1\"}}");
    req = dst_google_request(&base_cfg, f, why, sizeof why);
    assert_non_null(req);
    {
        char *t = cJSON_PrintUnformatted(req);
        assert_non_null(strstr(t, "\"transactionId\":\"pi_1\""));
        assert_non_null(strstr(t, "\"conversionValue\":2000.00,"));
        free(t);
    }
    cJSON_Delete(req);
    cJSON_DeleteItemFromObject(f, "amount_remaining");
    assert_null(dst_google_request(&base_cfg, f, why, sizeof why));
    assert_string_equal(why, "refund without the conversion's remaining value (amount_remaining)");
    cJSON_Delete(f);

    /* Stages: lead → won with qualified and won mapped: two events, two actions. */
    {
        struct dst_config cfg = base_cfg;
        char *t;
        cfg.stages = "qualified:111, won:222";
        f = parse("{\"kind\":\"deal_won\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"won\","
                  "\"previous_stage\":\"lead\",\"click_ids\":{\"gclid\":\"GC1\"}}");
        req = dst_google_request(&cfg, f, why, sizeof why);
        assert_non_null(req);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "events")), 2);
        t = cJSON_PrintUnformatted(cJSON_GetObjectItem(req, "destinations"));
        assert_string_equal(t, "[{\"reference\":\"qualified\",\"operatingAccount\":{"
                               "\"accountType\":\"GOOGLE_ADS\",\"accountId\":\"1234567890\"},"
                               "\"productDestinationId\":\"111\"},{\"reference\":\"won\","
                               "\"operatingAccount\":{\"accountType\":\"GOOGLE_ADS\","
                               "\"accountId\":\"1234567890\"},\"productDestinationId\":\"222\"}]");
        free(t);
        ev = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "events"), 0);
        assert_memory_equal(cJSON_GetObjectItem(ev, "transactionId")->valuestring, "jd-qualified-",
                            13);
        cJSON_Delete(req);
        cJSON_Delete(f);
    }
}

static void test_google_skips(void **state)
{
    static const struct {
        const char *facts;
        const char *why;
    } cases[] = {
        {"{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\",\"payment_key\":\"pi_1\","
         "\"amount\":{\"minor\":1,\"currency\":\"EUR\"},\"click_ids\":{\"fbclid\":\"x\"}}",
         "no gclid, gbraid or wbraid"},
        {"{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\",\"payment_key\":\"pi_1\","
         "\"consent_refused\":true,\"amount\":{\"minor\":1,\"currency\":\"EUR\"},"
         "\"click_ids\":{\"gclid\":\"x\"}}",
         "consent for advertising refused"},
        {"{\"kind\":\"stage_change\",\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"qualified\","
         "\"click_ids\":{\"gclid\":\"x\"}}",
         "no payment and no configured stage newly reached"},
    };
    size_t i;
    (void)state;

    for (i = 0; i < N_ELEMS(cases); i++) {
        char why[DST_WHY_MAX] = "";
        cJSON *f = parse(cases[i].facts);
        cJSON *req = dst_google_request(&base_cfg, f, why, sizeof why);
        cJSON_Delete(f);
        if (req) {
            cJSON_Delete(req);
            fail_msg("case %zu built a request", i);
        }
        assert_string_equal(why, cases[i].why);
    }
}

/* base64url → bytes (the test's own decoder over the connectors' base64). */
static int b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    char buf[4096];
    size_t i;

    if (len + 4 > sizeof buf)
        return -1;
    for (i = 0; i < len; i++)
        buf[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (i % 4)
        buf[i++] = '=';
    return cx_base64_decode(buf, i, out, cap);
}

/* A fresh RSA key as a service-account key file, and its public half. */
static char *service_account(EVP_PKEY **pub)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, *out;
    long n;
    cJSON *sa;

    assert_non_null(key);
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &pem);
    assert_true(n > 0);
    sa = cJSON_CreateObject();
    cJSON_AddStringToObject(sa, "type", "service_account");
    cJSON_AddStringToObject(sa, "client_email", "journeyd@example-project.iam.gserviceaccount.com");
    {
        char *p = malloc((size_t)n + 1);
        memcpy(p, pem, (size_t)n);
        p[n] = '\0';
        cJSON_AddStringToObject(sa, "private_key", p);
        free(p);
    }
    out = cJSON_PrintUnformatted(sa);
    cJSON_Delete(sa);
    BIO_free(bio);
    *pub = key;
    return out;
}

static void test_google_jwt_verifies(void **state)
{
    EVP_PKEY *key = NULL;
    char *sa = service_account(&key);
    char why[DST_WHY_MAX] = "";
    char *jwt =
        dst_google_jwt(sa, strlen(sa), "http://127.0.0.1:9/token", 1790856000, why, sizeof why);
    const char *dot1, *dot2;
    unsigned char hdr[256], claims[1024], sig[512];
    int hl, cl, sl;
    cJSON *c;
    EVP_MD_CTX *md;
    (void)state;

    assert_non_null(jwt);
    dot1 = strchr(jwt, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    assert_null(strchr(jwt, '='));
    hl = b64url_decode(jwt, (size_t)(dot1 - jwt), hdr, sizeof hdr - 1);
    cl = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), claims, sizeof claims - 1);
    sl = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof sig);
    assert_true(hl > 0 && cl > 0 && sl == 256);
    hdr[hl] = claims[cl] = '\0';
    assert_string_equal((char *)hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    c = cJSON_Parse((char *)claims);
    assert_string_equal(cJSON_GetObjectItem(c, "iss")->valuestring,
                        "journeyd@example-project.iam.gserviceaccount.com");
    assert_string_equal(cJSON_GetObjectItem(c, "scope")->valuestring,
                        "https://www.googleapis.com/auth/datamanager");
    assert_string_equal(cJSON_GetObjectItem(c, "aud")->valuestring, "http://127.0.0.1:9/token");
    assert_true(cJSON_GetObjectItem(c, "iat")->valuedouble == 1790856000.0);
    assert_true(cJSON_GetObjectItem(c, "exp")->valuedouble == 1790856000.0 + 3600);
    cJSON_Delete(c);

    /* RS256 over "<header>.<claims>" verifies with the public key; one byte changed does
     * not. */
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    sig[10] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);

    {
        static const char prefix[] =
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
        char *body = dst_google_token_body(jwt);
        assert_non_null(body);
        assert_memory_equal(body, prefix, sizeof prefix - 1);
        assert_string_equal(body + sizeof prefix - 1, jwt);
        free(body);
    }
    free(jwt);
    /* A key file without a key, or with something that is not a PEM key. */
    assert_null(dst_google_jwt("{\"client_email\":\"a@b\"}", 22, NULL, 1, why, sizeof why));
    {
        static const char bad[] = "{\"client_email\":\"a@b\",\"private_key\":\"nope\"}";
        assert_null(dst_google_jwt(bad, sizeof bad - 1, NULL, 1, why, sizeof why));
    }
    assert_string_equal(why, "private_key is not an RSA key in PEM");
    free(sa);
    EVP_PKEY_free(key);
}

static void test_google_token_answer_and_cache(void **state)
{
    static const char good[] =
        "{\"access_token\":\"ya29.c.abc-DEF_123\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
    struct dst_token_cache cache = {0};
    char tok[DST_TOKEN_MAX];
    int64_t exp = 0;
    (void)state;

    assert_int_equal(dst_google_token_parse(good, sizeof good - 1, tok, sizeof tok, &exp), 0);
    assert_string_equal(tok, "ya29.c.abc-DEF_123");
    assert_int_equal(exp, 3599);
    assert_int_equal(dst_google_token_parse("{\"access_token\":\"x\"}", 20, tok, sizeof tok, &exp),
                     -1);
    assert_int_equal(dst_google_token_parse("{\"access_token\":\"x\",\"expires_in\":10,"
                                            "\"token_type\":\"mac\"}",
                                            53, tok, sizeof tok, &exp),
                     -1);
    assert_int_equal(
        dst_google_token_parse("{\"error\":\"invalid_grant\"}", 25, tok, sizeof tok, &exp), -1);

    /* The cache: valid until the margin before expiry, empty after clear. */
    assert_null(dst_token_get(&cache, 1000));
    assert_int_equal(dst_token_put(&cache, "ya29.c.abc-DEF_123", 3599, 1000), 0);
    assert_string_equal(dst_token_get(&cache, 1000), "ya29.c.abc-DEF_123");
    assert_non_null(dst_token_get(&cache, 1000 + 3599 - DST_TOKEN_MARGIN_S - 1));
    assert_null(dst_token_get(&cache, 1000 + 3599 - DST_TOKEN_MARGIN_S));
    assert_int_equal(dst_token_put(&cache, "short-lived", DST_TOKEN_MARGIN_S, 1000), -1);
    dst_token_clear(&cache);
    assert_null(dst_token_get(&cache, 1000));
}

/* The type as the outbox calls it: the token request, then the ingest request. */
static void test_google_type(void **state)
{
    EVP_PKEY *key = NULL;
    char *sa = service_account(&key);
    struct dst_config cfg = base_cfg;
    const char *facts_txt = "{\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\","
                            "\"payment_key\":\"pi_9\",\"amount\":{\"minor\":1000,"
                            "\"currency\":\"EUR\"},\"click_ids\":{\"gclid\":\"GC9\"}}";
    struct dst_message msg = {.kind = DST_PAID, .facts = facts_txt};
    struct dst_context ctx = {.now_s = 1790856000, .access_token = "ya29.token-0123456789"};
    struct dst_request out;
    char why[DST_WHY_MAX] = "";
    int64_t exp;
    char tok[64];
    (void)state;

    cfg.service_account = sa;
    cfg.token_url = "http://127.0.0.1:9/token";
    cfg.api_base = "http://127.0.0.1:9/v1";
    msg.facts_len = strlen(facts_txt);
    assert_int_equal(dst_google_data_manager.check(&cfg, why, sizeof why), 0);
    assert_int_equal(dst_google_data_manager.auth(&cfg, ctx.now_s, &out, why, sizeof why),
                     DST_BUILT);
    assert_string_equal(out.url, "http://127.0.0.1:9/token");
    assert_string_equal(out.headers[0], "Content-Type: application/x-www-form-urlencoded");
    assert_non_null(strstr(out.body, "&assertion=ey"));
    free(out.body);
    assert_int_equal(
        dst_google_data_manager.auth_parse("{\"access_token\":\"t1\",\"expires_in\":3599}",
                                           strlen("{\"access_token\":\"t1\",\"expires_in\":3599}"),
                                           tok, sizeof tok, &exp),
        0);

    assert_int_equal(dst_google_data_manager.build(&cfg, &msg, &ctx, &out, why, sizeof why),
                     DST_BUILT);
    assert_string_equal(out.url, "http://127.0.0.1:9/v1/events:ingest");
    assert_string_equal(out.headers[1], "Authorization: Bearer ya29.token-0123456789");
    assert_string_equal(out.dedup, "pi_9");
    free(out.body);

    /* The paying event's contact.stage_changed sends its mapped stages, never the payment
     * (the contact.paid message does); with no stage mapped it is skipped, and a skip needs
     * no token (the outbox builds without one first). */
    msg.kind = DST_STAGE_CHANGED;
    ctx.access_token = NULL;
    assert_int_equal(dst_google_data_manager.build(&cfg, &msg, &ctx, &out, why, sizeof why),
                     DST_SKIP);
    free(out.body);
    msg.kind = DST_PAID;
    assert_int_equal(dst_google_data_manager.build(&cfg, &msg, &ctx, &out, why, sizeof why),
                     DST_INVALID);
    free(out.body);

    cfg.customer_id = "12ab";
    assert_int_equal(dst_google_data_manager.check(&cfg, why, sizeof why), -1);
    free(sa);
    EVP_PKEY_free(key);
}

/* Facts of the wrong shape (the outbox's JSON is ours, but a bug there must not crash or
 * leak here): every builder answers NULL or a request, never anything else. */
static void test_builders_survive_odd_facts(void **state)
{
    static const char *const odd[] = {
        "{}",
        "[]",
        "{\"at\":5}",
        "{\"at\":\"2026-10-01T12:00:00Z\",\"kind\":\"payment\",\"identities\":{},"
        "\"click_ids\":[],\"amount\":\"12\"}",
        "{\"at\":\"2026-10-01T12:00:00Z\",\"kind\":\"payment\",\"click_ids\":{\"gclid\":1,"
        "\"fbclid\":\"f\"},\"amount\":{\"minor\":-5,\"currency\":\"EUR\"},"
        "\"payment_key\":\"k\"}",
        "{\"at\":\"2026-10-01T12:00:00Z\",\"kind\":\"refund\",\"click_ids\":{\"gclid\":\"g\"},"
        "\"amount_remaining\":{\"minor\":1e300,\"currency\":\"EUR\"},\"payment_key\":\"k\"}",
        "{\"at\":\"2026-10-01T12:00:00Z\",\"stage\":\"nonsense\",\"previous_stage\":\"paid\","
        "\"identities\":[1,{\"type\":\"meta_lead\"},{\"type\":\"meta_lead\",\"value\":\"7\"}],"
        "\"click_ids\":{\"gclid\":\"g\"}}",
    };
    struct dst_config cfg = base_cfg;
    size_t i;
    (void)state;

    cfg.stages = "qualified:1";
    for (i = 0; i < N_ELEMS(odd); i++) {
        char why[DST_WHY_MAX] = "";
        cJSON *f = parse(odd[i]);
        cJSON_Delete(dst_google_request(&cfg, f, why, sizeof why));
        cJSON_Delete(dst_meta_request(&cfg, f, 1790856000, NULL, why, sizeof why));
        cJSON_Delete(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_google_hash_vectors),
        cmocka_unit_test(test_google_request_matches_sample),
        cmocka_unit_test(test_google_click_refund_stages),
        cmocka_unit_test(test_google_skips),
        cmocka_unit_test(test_google_jwt_verifies),
        cmocka_unit_test(test_google_token_answer_and_cache),
        cmocka_unit_test(test_google_type),
        cmocka_unit_test(test_builders_survive_odd_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
