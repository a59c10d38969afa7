/*
 * The journey the product exists for: an ad click, then the website form (carrying the
 * click's anonymous id), then the Stripe payment, stitched into one contact with the
 * events in the order they happened and the revenue counted once, however Stripe reports
 * the purchase (checkout.session.completed and payment_intent.succeeded share a
 * PaymentIntent, DESIGN §3).
 *
 * Times: the click's time is its arrival, so T is now; the form says it was submitted at
 * T+1h and Stripe that the payment was created at T+2h.
 */
#include "harness.h"

#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jd_daemon daemon_;

/* "a_" followed by 32 hex digits. */
static int is_anon_id(const char *s, size_t len)
{
    if (len != 34 || s[0] != 'a' || s[1] != '_')
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Performs GET /c and returns the anonymous id from Location (copied into aid), checking
 * the redirect target and the cookie. */
static void click(const char *to, const char *extra_query, const char *cookie, char *aid,
                  size_t aidlen)
{
    char enc[512], url[1024], loc[1024], setc[1024], ckhdr[256];
    jd_urlencode(to, enc, sizeof enc);
    snprintf(url, sizeof url, "%s/c?to=%s%s", daemon_.base, enc, extra_query);
    const char *hdrs[2] = {NULL, NULL};
    if (cookie) {
        snprintf(ckhdr, sizeof ckhdr, "Cookie: jd_aid=%s", cookie);
        hdrs[0] = ckhdr;
    }
    struct jd_http h;
    jd_http(&h, "GET", url, hdrs, NULL, 0);
    JD_REQUIRE(h.status == 302, "GET %s: want 302, got %ld (curl %d) body %.300s", url, h.status,
               h.curl_code, h.body ? h.body : "");
    JD_REQUIRE(jd_http_header(&h, "Location", loc, sizeof loc) != NULL,
               "GET %s: 302 without Location", url);
    /* The destination must be `to` itself plus jd_aid, '?' or '&' depending on whether `to`
     * already has a query. */
    size_t tolen = strlen(to);
    char sep = strchr(to, '?') ? '&' : '?';
    JD_REQUIRE(strncmp(loc, to, tolen) == 0 && loc[tolen] == sep &&
                   strncmp(loc + tolen + 1, "jd_aid=", 7) == 0,
               "GET /c to=%s: Location is \"%s\", want \"%s%cjd_aid=a_<32 hex>\"", to, loc, to,
               sep);
    const char *id = loc + tolen + 8;
    size_t idlen = strcspn(id, "&#");
    JD_REQUIRE(is_anon_id(id, idlen), "GET /c: jd_aid in Location is \"%s\", want a_<32 hex>", id);
    JD_EXPECT(id[idlen] == '\0', "GET /c: Location has something after jd_aid: \"%s\"", loc);
    snprintf(aid, aidlen, "%.*s", (int)idlen, id);

    JD_EXPECT(jd_http_header(&h, "Set-Cookie", setc, sizeof setc) != NULL,
              "GET /c: no Set-Cookie header");
    char want[64];
    snprintf(want, sizeof want, "jd_aid=%s", aid);
    JD_EXPECT(strncmp(setc, want, strlen(want)) == 0 &&
                  (setc[strlen(want)] == ';' || setc[strlen(want)] == '\0'),
              "GET /c: Set-Cookie is \"%s\", want it to start with \"%s;\"", setc, want);
    jd_note("click to=%s -> Location %s, Set-Cookie %s", to, loc, setc);
    jd_http_free(&h);
}

static void expect_click_refused(const char *to)
{
    char enc[512], url[1024], loc[512];
    jd_urlencode(to, enc, sizeof enc);
    snprintf(url, sizeof url, "%s/c?to=%s&utm_source=google", daemon_.base, enc);
    struct jd_http h;
    jd_http(&h, "GET", url, NULL, NULL, 0);
    JD_EXPECT(h.status == 400, "GET /c to=%s (not allow-listed): want 400, got %ld", to, h.status);
    JD_EXPECT(jd_http_header(&h, "Location", loc, sizeof loc) == NULL,
              "GET /c to=%s (not allow-listed) redirects to %s: an open redirect", to, loc);
    jd_http_free(&h);
}

static const cJSON *event_at(const cJSON *j, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "events"), i);
}

static int64_t event_time(const cJSON *ev)
{
    int64_t t = -1;
    const char *at = jd_json_str(ev, "at");
    if (!at || jd_parse_rfc3339(at, &t) != 0)
        return -1;
    return t;
}

/* The revenue object must be exactly {"EUR": want}. */
static void expect_revenue_eur(const cJSON *j, int64_t want, const char *ctx)
{
    const cJSON *rev = jd_json_path(j, "contact.revenue");
    JD_EXPECT(cJSON_IsObject(rev) && cJSON_GetArraySize(rev) == 1,
              "%s: contact.revenue should be {\"EUR\": %" PRId64 "}, got %s", ctx, want,
              jd_json_brief(rev));
    JD_EXPECT_INT(j, "contact.revenue.EUR", want, ctx);
}

/* contact + events, the parts that must not depend on how the contact was looked up. */
static char *core_of(const cJSON *j)
{
    cJSON *core = cJSON_CreateObject();
    cJSON_AddItemToObject(core, "contact",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "contact"), 1));
    cJSON_AddItemToObject(core, "events",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "events"), 1));
    char *s = jd_json_print(core);
    cJSON_Delete(core);
    return s;
}

static void dump_journey(const char *label, const cJSON *j)
{
    char *s = cJSON_Print(j);
    jd_note("%s:\n%s", label, s ? s : "(null)");
    cJSON_free(s);
}

/* ---- the answer splices stored event texts as they are ---- */

/* GET path; the body must be exactly one JSON value (nothing after it). NULL otherwise. */
static cJSON *get_strict(const char *path, struct jd_http *h)
{
    jd_get_auth(&daemon_, path, h);
    JD_EXPECT(h->status == 200, "GET %s: want 200, got %ld %.300s", path, h->status,
              h->body ? h->body : "");
    const char *end = NULL;
    cJSON *j = h->body ? cJSON_ParseWithOpts(h->body, &end, 1) : NULL;
    JD_EXPECT(j != NULL,
              "GET %s: the answer (%zu bytes) is not one valid JSON text; it breaks "
              "near byte %td: %.200s",
              path, h->len, end && h->body ? end - h->body : (ptrdiff_t)-1,
              end ? end : "(no body)");
    return j;
}

/* The stored JSON of an event (the caller frees it), or NULL. */
static char *stored_text(redisContext *rc, const char *id)
{
    redisReply *r = redisCommand(rc, "HGET jd:ev %s", id);
    char *out = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r)
        freeReplyObject(r);
    return out;
}

static void store_text(redisContext *rc, const char *id, const char *text, size_t len)
{
    redisReply *r = redisCommand(rc, "HSET jd:ev %s %b", id, text, len);
    JD_REQUIRE(r && r->type == REDIS_REPLY_INTEGER, "HSET jd:ev %s failed", id);
    freeReplyObject(r);
}

/* The answer carries each event's stored text verbatim where it is canonical. */
static void expect_spliced(redisContext *rc, const struct jd_http *h, const char *id)
{
    char *text = stored_text(rc, id);
    JD_EXPECT(text && h->body && strstr(h->body, text),
              "event %s: its stored text is not in the answer as it is (stored %.300s)", id,
              text ? text : "(missing)");
    free(text);
}

static const cJSON *event_by_id(const cJSON *j, const char *id)
{
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        const char *got = jd_json_str(ev, "id");
        if (got && strcmp(got, id) == 0)
            return ev;
    }
    return NULL;
}

/* Credit of a conversion to a touch id, or INT64_MIN when that touch has no credit row. */
static int64_t credit_of(const cJSON *j, const char *conv_id, const char *touch_id)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "conversions"))
    {
        const char *ev = jd_json_str(c, "event");
        if (!ev || strcmp(ev, conv_id) != 0)
            continue;
        const cJSON *cr;
        cJSON_ArrayForEach(cr, cJSON_GetObjectItemCaseSensitive(c, "credit"))
        {
            const char *t = jd_json_str(cr, "touch");
            int ok;
            int64_t v = jd_json_int(cJSON_GetObjectItemCaseSensitive(cr, "minor"), &ok);
            if (t && strcmp(t, touch_id) == 0 && ok)
                return v;
        }
    }
    return INT64_MIN;
}

/* The journey answer is assembled from the stored event texts without re-printing them
 * (DESIGN §7). The risks of splicing: an event with quotes, backslashes, control
 * characters, non-ASCII text or a large attribute must still give one valid JSON answer
 * with the same data; a payment repeating a payment key is the one event that is changed
 * ("counted": false, no amount); and a stored text that is not canonical, not valid or
 * missing must not break the answer (left out when unreadable, as before). */
static void splice_checks(const struct jd_redis *redis)
{
    static const char *const email = "splice.check@example.org";
    /* A 3,500-byte attribute (as JSON text in the request) of every kind of character
     * that needs care. */
    static const char *const pieces[] = {"\\\"q\\\" ", "\\\\back ", "\\u0001\\u001f ", "\\n\\t ",
                                         "é😀 ",        "\\u2028 ",  "</script> ",      "{[,:]} "};
    struct jd_buf big = {0};
    for (size_t i = 0; big.len < 3500; i++)
        jd_buf_printf(&big, "%s", pieces[i % (sizeof pieces / sizeof pieces[0])]);
    struct jd_buf b = {0};
    jd_buf_printf(
        &b,
        "{\"events\":["
        /* A touch whose id holds quotes, backslashes and non-ASCII text: parsed, not
         * spliced blind, since the credit names it. */
        "{\"id\":\"tricky \\\"q\\\" \\\\b\\\\ /sl é😀\\u2028\",\"kind\":\"click\","
        "\"at\":\"2026-10-01T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
        "\"touch\":{\"source\":\"google\",\"medium\":\"cpc\",\"campaign\":\"spr\\\"ing\\\\\"},"
        "\"attributes\":{\"big\":\"%s\",\"nested\":{\"a\":[1,2.5,-300,true,false,null,{}],"
        "\"b\":[]}}},"
        "{\"id\":\"plain-touch\",\"kind\":\"visit\",\"at\":\"2026-10-01T11:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
        "\"touch\":{\"source\":\"facebook\",\"medium\":\"paid_social\"}},"
        "{\"id\":\"pay1\",\"kind\":\"payment\",\"at\":\"2026-10-01T12:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
        "\"amount\":{\"minor\":10000,\"currency\":\"EUR\"},\"payment_key\":\"k\\\"1\\\\\"},"
        "{\"id\":\"pay2\",\"kind\":\"payment\",\"at\":\"2026-10-01T13:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
        "\"amount\":{\"minor\":10000,\"currency\":\"EUR\"},\"payment_key\":\"k\\\"1\\\\\"},"
        "{\"id\":\"ref1\",\"kind\":\"refund\",\"at\":\"2026-10-01T14:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}],"
        "\"amount\":{\"minor\":2500,\"currency\":\"EUR\"},\"payment_key\":\"k\\\"1\\\\\"}",
        email, big.p, email, email, email, email);
    /* Events whose stored text is replaced below. */
    static const char *const later[] = {"ws", "trail", "arr", "gone", "deep", "ctl"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        jd_buf_printf(&b,
                      ",{\"id\":\"%s\",\"kind\":\"custom\",\"at\":\"2026-10-01T15:0%zu:00Z\","
                      "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}",
                      later[i], i, email);
    jd_buf_printf(&b, "]}");
    struct jd_http h;
    jd_post_events(&daemon_, b.p, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events (splice checks): want 200, got %ld %.300s",
               h.status, h.body ? h.body : "");
    jd_http_free(&h);
    jd_buf_free(&b);
    jd_buf_free(&big);
    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "splice checks: dead_letters is %ld", dead);

    static const char *const tricky = "events:tricky \"q\" \\b\\ /sl é😀\u2028";
    char path[256];
    char enc[128];
    jd_urlencode(email, enc, sizeof enc);
    snprintf(path, sizeof path, "/v1/journey?email=%s&model=linear", enc);
    redisContext *rc = jd_redis_connect(redis);
    cJSON *j = get_strict(path, &h);
    if (j) {
        int failures_before = jd_failures();
        JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 11,
                  "splice checks: want 11 events, got %d",
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")));
        static const char *const verbatim[] = {"events:plain-touch", "events:pay1", "events:ref1"};
        for (size_t i = 0; i < sizeof verbatim / sizeof verbatim[0]; i++)
            expect_spliced(rc, &h, verbatim[i]);
        expect_spliced(rc, &h, tricky);
        /* The same data as the stored text, whichever way it got into the answer. */
        char *text = stored_text(rc, tricky);
        cJSON *stored = text ? cJSON_Parse(text) : NULL;
        JD_EXPECT(stored && cJSON_Compare(stored, event_by_id(j, tricky), 1),
                  "the tricky event reads differently from its stored text");
        cJSON_Delete(stored);
        free(text);
        const cJSON *pay2 = event_by_id(j, "events:pay2");
        JD_EXPECT(pay2 && !cJSON_GetObjectItemCaseSensitive(pay2, "amount") &&
                      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pay2, "counted")),
                  "the repeated payment key: want no amount and \"counted\": false, got %s",
                  jd_json_brief(pay2));
        expect_revenue_eur(j, 10000 - 2500, "splice checks");
        JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "conversions")) == 2,
                  "splice checks: want 2 conversions (pay1, ref1), got %s",
                  jd_json_brief(cJSON_GetObjectItemCaseSensitive(j, "conversions")));
        JD_EXPECT(credit_of(j, "events:pay1", tricky) == 5000 &&
                      credit_of(j, "events:pay1", "events:plain-touch") == 5000 &&
                      credit_of(j, "events:ref1", tricky) == -1250 &&
                      credit_of(j, "events:ref1", "events:plain-touch") == -1250,
                  "splice checks: linear credit should be 5000 / 5000 and -1250 / -1250, got %s",
                  jd_json_brief(cJSON_GetObjectItemCaseSensitive(j, "conversions")));
        if (jd_failures() > failures_before)
            dump_journey("splice checks", j);
    }
    cJSON_Delete(j);
    jd_http_free(&h);

    /* Stored texts that are not what the worker writes. The answer stays one valid JSON
     * text: the valid ones go in, cJSON's reading of what only cJSON accepts is printed,
     * and what nothing can read is left out (also from the conversions). */
    static const char ws[] = " { \"kind\" : \"custom\" ,\n\"id\" : \"events:ws\" } ";
    store_text(rc, "events:ws", ws, strlen(ws));
    static const char trail[] = "{\"id\":\"events:trail\",\"kind\":\"custom\"}garbage";
    store_text(rc, "events:trail", trail, strlen(trail));
    store_text(rc, "events:arr", "[1,2]", 5);
    static const char cut[] = "{\"id\":\"events:plain-touch\",\"kind\":\"visit\",\"touch\":{";
    store_text(rc, "events:plain-touch", cut, strlen(cut));
    struct jd_buf deep = {0};
    jd_buf_printf(&deep, "{\"id\":\"events:deep\",\"kind\":\"custom\",\"x\":");
    for (int i = 0; i < 100; i++)
        jd_buf_printf(&deep, "[");
    for (int i = 0; i < 100; i++)
        jd_buf_printf(&deep, "]");
    jd_buf_printf(&deep, "}");
    store_text(rc, "events:deep", deep.p, deep.len);
    jd_buf_free(&deep);
    static const char ctl[] = "{\"id\":\"events:ctl\",\"kind\":\"custom\",\"x\":\"a\x01\x1f b\"}";
    store_text(rc, "events:ctl", ctl, strlen(ctl));
    redisReply *r = redisCommand(rc, "HDEL jd:ev events:gone");
    JD_EXPECT(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "HDEL events:gone failed");
    if (r)
        freeReplyObject(r);

    j = get_strict(path, &h);
    if (j) {
        int failures_before = jd_failures();
        JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 9,
                  "after storing odd texts: want 9 events (the cut one and the missing one left "
                  "out), got %d",
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")));
        JD_EXPECT(h.body && strstr(h.body, ws), "valid stored text with spaces not spliced as is");
        JD_EXPECT(!event_by_id(j, "events:plain-touch") && !event_by_id(j, "events:gone"),
                  "an unreadable or missing event is in the answer");
        JD_EXPECT(event_by_id(j, "events:trail") && event_by_id(j, "events:deep") &&
                      event_by_id(j, "events:ctl"),
                  "events only cJSON reads are missing from the answer");
        const cJSON *ctl_ev = event_by_id(j, "events:ctl");
        const char *x = ctl_ev ? jd_json_str(ctl_ev, "x") : NULL;
        JD_EXPECT(x && strcmp(x, "a\x01\x1f b") == 0, "events:ctl: x is %s", jd_json_brief(ctl_ev));
        JD_EXPECT(credit_of(j, "events:pay1", tricky) == 10000 &&
                      credit_of(j, "events:pay1", "events:plain-touch") == INT64_MIN,
                  "with the second touch unreadable, the first should get all 10000: %s",
                  jd_json_brief(cJSON_GetObjectItemCaseSensitive(j, "conversions")));
        if (jd_failures() > failures_before)
            dump_journey("splice checks after odd stored texts", j);
    }
    cJSON_Delete(j);
    jd_http_free(&h);

    /* A journey longer than Lua's unpack limit (about 8,000 values) but within
     * max_journey_events (10,000 by default): the script reads it in slices. The events
     * are written straight into the store, as apply.lua would keep them. */
    enum { BULK = 9000 };
    const char **zargv = calloc(2 + 2 * BULK, sizeof(*zargv));
    const char **hargv = calloc(2 + 2 * BULK, sizeof(*hargv));
    char(*ids)[32] = calloc(BULK, sizeof(*ids));
    char(*ats)[24] = calloc(BULK, sizeof(*ats));
    char(*texts)[160] = calloc(BULK, sizeof(*texts));
    JD_REQUIRE(zargv && hargv && ids && ats && texts, "out of memory");
    redisReply *cr = redisCommand(rc, "HGET jd:idx email\t%s", email);
    JD_REQUIRE(cr && cr->type == REDIS_REPLY_STRING, "no contact for %s in jd:idx", email);
    char zkey[96];
    snprintf(zkey, sizeof zkey, "jd:c:%s:j", cr->str);
    zargv[0] = "ZADD";
    zargv[1] = zkey;
    hargv[0] = "HSET";
    hargv[1] = "jd:ev";
    for (int i = 0; i < BULK; i++) {
        /* 2026-10-02 onwards, one second apart: after every event above. */
        snprintf(ids[i], sizeof ids[i], "events:bulk-%05d", i);
        snprintf(ats[i], sizeof ats[i], "%lld", 1790899200000LL + i * 1000LL);
        char at[32];
        jd_rfc3339(1790899200 + i, at, sizeof at);
        snprintf(texts[i], sizeof texts[i],
                 "{\"id\":\"%s\",\"source\":\"events\",\"type\":\"events\",\"kind\":\"visit\","
                 "\"at\":\"%s\",\"identities\":[]}",
                 ids[i], at);
        zargv[2 + 2 * i] = ats[i];
        zargv[3 + 2 * i] = ids[i];
        hargv[2 + 2 * i] = ids[i];
        hargv[3 + 2 * i] = texts[i];
    }
    freeReplyObject(cr);
    redisReply *zr = redisCommandArgv(rc, 2 + 2 * BULK, zargv, NULL);
    redisReply *hr = redisCommandArgv(rc, 2 + 2 * BULK, hargv, NULL);
    JD_REQUIRE(zr && zr->type == REDIS_REPLY_INTEGER && zr->integer == BULK && hr &&
                   hr->type == REDIS_REPLY_INTEGER && hr->integer == BULK,
               "writing %d events straight into the store failed", BULK);
    freeReplyObject(zr);
    freeReplyObject(hr);
    j = get_strict(path, &h);
    JD_EXPECT(j && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 9 + BULK,
              "a journey of %d events: want %d events in the answer, got %d", 11 + BULK, 9 + BULK,
              j ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) : -1);
    JD_EXPECT(j && !cJSON_GetObjectItemCaseSensitive(j, "truncated"),
              "a journey within max_journey_events is marked truncated");
    JD_EXPECT(j && event_by_id(j, "events:bulk-08999"), "the last bulk event is missing");
    cJSON_Delete(j);
    jd_http_free(&h);
    free(zargv);
    free(hargv);
    free(ids);
    free(ats);
    free(texts);
    redisFree(rc);
}

int main(void)
{
    jd_setup("e2e_journey", 240, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_start(&daemon_, 1);

    char sfx[17];
    snprintf(sfx, sizeof sfx, "%016" PRIx64, jd_rand());
    char gclid[64], sub[64], evt_cs[64], evt_pi[64], cs[64], pi[64], cus[64], ch[64];
    snprintf(gclid, sizeof gclid, "EAIaIQobChMI%.8s", sfx);
    snprintf(sub, sizeof sub, "sub_%s", sfx);
    snprintf(evt_cs, sizeof evt_cs, "evt_cs_%s", sfx);
    snprintf(evt_pi, sizeof evt_pi, "evt_pi_%s", sfx);
    snprintf(cs, sizeof cs, "cs_test_%s", sfx);
    snprintf(pi, sizeof pi, "pi_%s", sfx);
    snprintf(cus, sizeof cus, "cus_%s", sfx);
    snprintf(ch, sizeof ch, "ch_%s", sfx);
    const char *email = "giulia.rossi@example.it";
    const int64_t amount = 249000;

    /* 1. The ad click. */
    int64_t t_before = jd_now_s();
    char aid[64], q[256];
    snprintf(q, sizeof q, "&utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=%s", gclid);
    click("https://example.com/landing", q, NULL, aid, sizeof aid);
    int64_t t_after = jd_now_s();
    int64_t T = t_before;

    /* 2. The website form, from the landing page: jd_aid from the redirect, the email in
     * a different case and with spaces (normalization is the daemon's job). */
    char sat[32], form[1024];
    jd_rfc3339(T + 3600, sat, sizeof sat);
    snprintf(form, sizeof form,
             "{\"email\":\"  Giulia.Rossi@Example.IT \",\"phone\":\"+39 333 123 4567\","
             "\"name\":\"Giulia Rossi\",\"jd_aid\":\"%s\",\"form\":\"demo-request\","
             "\"submission_id\":\"%s\",\"submitted_at\":\"%s\",\"company\":\"Rossi SRL\"}",
             aid, sub, sat);
    struct jd_http h;
    jd_post_form(&daemon_, form, "application/json", &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/site: want 200, got %ld: %.300s", h.status,
               h.body ? h.body : "");
    JD_EXPECT(h.body && strstr(h.body, "\"queued\""),
              "form answer is %s, want {\"status\":\"queued\"}", h.body ? h.body : "");
    jd_http_free(&h);

    /* 3. The payment, two hours after the click. */
    char body[2048];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\","
             "\"type\":\"checkout.session.completed\",\"created\":%" PRId64 ",\"livemode\":false,"
             "\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"checkout.session\","
             "\"amount_total\":%" PRId64 ",\"currency\":\"eur\",\"customer\":\"%s\","
             "\"customer_details\":{\"email\":\"%s\",\"name\":\"Giulia Rossi\"},"
             "\"payment_intent\":\"%s\",\"payment_status\":\"paid\",\"mode\":\"payment\","
             "\"metadata\":{}}}}",
             evt_cs, T + 7200, cs, amount, cus, email, pi);
    jd_post_stripe(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/stripe: want 200, got %ld: %.300s", h.status,
               h.body ? h.body : "");
    JD_EXPECT(h.body && strstr(h.body, "\"queued\""),
              "stripe answer is %s, want {\"status\":\"queued\"}", h.body ? h.body : "");
    jd_http_free(&h);

    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "dead_letters is %ld after three good deliveries", dead);

    long st;
    cJSON *j = jd_journey(&daemon_, "email", email, &st);
    JD_REQUIRE(st == 200 && j, "GET /v1/journey?email=%s: want 200, got %ld", email, st);
    int failures_before = jd_failures();

    const cJSON *contact = cJSON_GetObjectItemCaseSensitive(j, "contact");
    const char *cid = jd_json_str(contact, "id");
    JD_REQUIRE(cid && strncmp(cid, "c_", 2) == 0, "contact.id is %s, want c_…",
               cid ? cid : "(missing)");
    char contact_id[128];
    snprintf(contact_id, sizeof contact_id, "%s", cid);
    JD_EXPECT_STR(j, "contact.stage", "paid", "journey");
    expect_revenue_eur(j, amount, "journey");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(contact, "identities");
    JD_EXPECT(jd_has_identity(ids, "anon", aid), "identities lack anon %s", aid);
    JD_EXPECT(jd_has_identity(ids, "email", email), "identities lack email %s (normalized)", email);
    JD_EXPECT(jd_has_identity(ids, "phone", "+393331234567"),
              "identities lack phone +393331234567 (E.164 of \"+39 333 123 4567\")");
    JD_EXPECT(jd_has_identity(ids, "gclid", gclid), "identities lack gclid %s", gclid);
    JD_EXPECT(jd_has_identity(ids, "stripe_customer", cus), "identities lack stripe_customer %s",
              cus);
    const cJSON *conflicts = cJSON_GetObjectItemCaseSensitive(contact, "conflicts");
    JD_EXPECT(cJSON_IsArray(conflicts) && cJSON_GetArraySize(conflicts) == 0,
              "contact.conflicts should be []");

    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_REQUIRE(cJSON_IsArray(events), "journey has no events array");
    JD_EXPECT(cJSON_GetArraySize(events) == 3, "want exactly 3 events, got %d",
              cJSON_GetArraySize(events));

    /* Event 0: the click. Its time is its arrival. */
    const cJSON *e0 = event_at(j, 0), *e1 = event_at(j, 1), *e2 = event_at(j, 2);
    const char *e0id = jd_json_str(e0, "id");
    JD_EXPECT(e0id && strncmp(e0id, "click:", 6) == 0, "event 0 id is %s, want click:…",
              e0id ? e0id : "(missing)");
    JD_EXPECT_STR(e0, "kind", "click", "event 0");
    JD_EXPECT_STR(e0, "stage", "visit", "event 0");
    int64_t t0 = event_time(e0);
    JD_EXPECT(t0 >= t_before - 2 && t0 <= t_after + 2,
              "click at %s is not its arrival time (between %" PRId64 " and %" PRId64 ")",
              jd_json_str(e0, "at") ? jd_json_str(e0, "at") : "(missing)", t_before, t_after);
    JD_EXPECT(jd_has_identity(cJSON_GetObjectItemCaseSensitive(e0, "identities"), "anon", aid),
              "click event lacks the anon identity");
    JD_EXPECT(jd_has_identity(cJSON_GetObjectItemCaseSensitive(e0, "identities"), "gclid", gclid),
              "click event lacks the gclid identity");
    JD_EXPECT_STR(e0, "touch.source", "google", "click touch");
    JD_EXPECT_STR(e0, "touch.medium", "cpc", "click touch");
    JD_EXPECT_STR(e0, "touch.campaign", "spring", "click touch");
    JD_EXPECT_STR(e0, "touch.channel", "paid_search", "click touch");
    JD_EXPECT_STR(e0, "touch.click_ids.gclid", gclid, "click touch");

    /* Event 1: the form. */
    char want_id[128];
    snprintf(want_id, sizeof want_id, "form:site:%s", sub);
    JD_EXPECT_STR(e1, "id", want_id, "event 1");
    JD_EXPECT_STR(e1, "kind", "form", "event 1");
    JD_EXPECT_STR(e1, "stage", "lead", "event 1");
    JD_EXPECT(event_time(e1) == T + 3600, "form at %s, want %s",
              jd_json_str(e1, "at") ? jd_json_str(e1, "at") : "(missing)", sat);

    /* Event 2: the payment. */
    snprintf(want_id, sizeof want_id, "stripe:%s", evt_cs);
    JD_EXPECT_STR(e2, "id", want_id, "event 2");
    JD_EXPECT_STR(e2, "kind", "payment", "event 2");
    JD_EXPECT_STR(e2, "stage", "paid", "event 2");
    JD_EXPECT_STR(e2, "type", "stripe", "event 2");
    JD_EXPECT_STR(e2, "source", "stripe", "event 2");
    JD_EXPECT_INT(e2, "amount.minor", amount, "event 2");
    JD_EXPECT_STR(e2, "amount.currency", "EUR", "event 2");
    JD_EXPECT_STR(e2, "payment_key", pi, "event 2");
    JD_EXPECT(event_time(e2) == T + 7200, "payment at %s, want T+2h",
              jd_json_str(e2, "at") ? jd_json_str(e2, "at") : "(missing)");
    JD_EXPECT(jd_has_identity(cJSON_GetObjectItemCaseSensitive(e2, "identities"), "email", email),
              "payment event lacks the email identity");

    int64_t first = -1, last = -1;
    jd_parse_rfc3339(jd_json_str(contact, "first_seen"), &first);
    jd_parse_rfc3339(jd_json_str(contact, "last_seen"), &last);
    JD_EXPECT(first == t0, "contact.first_seen is %s, want the click's time",
              jd_json_str(contact, "first_seen") ? jd_json_str(contact, "first_seen") : "null");
    JD_EXPECT(last == T + 7200, "contact.last_seen is %s, want the payment's time",
              jd_json_str(contact, "last_seen") ? jd_json_str(contact, "last_seen") : "null");

    if (jd_failures() > failures_before)
        dump_journey("journey after click, form, payment", j);

    /* 4. The same contact whichever identity asks. */
    char *core = core_of(j);
    struct {
        const char *key, *value;
    } lookups[] = {{"anon", aid},
                   {"contact", contact_id},
                   {"phone", "+39 333 123 4567"},
                   {"email", "GIULIA.ROSSI@example.it"},
                   {"identity", NULL},
                   {"identity", NULL}};
    char ident1[128], ident2[128];
    snprintf(ident1, sizeof ident1, "gclid:%s", gclid);
    snprintf(ident2, sizeof ident2, "stripe_customer:%s", cus);
    lookups[4].value = ident1;
    lookups[5].value = ident2;
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        cJSON *k = jd_journey(&daemon_, lookups[i].key, lookups[i].value, &st);
        JD_EXPECT(st == 200, "GET /v1/journey?%s=%s: want 200, got %ld", lookups[i].key,
                  lookups[i].value, st);
        if (k) {
            char *other = core_of(k);
            JD_EXPECT(strcmp(core, other) == 0,
                      "GET /v1/journey?%s=%s differs from the lookup by email:\n  by email: "
                      "%s\n  by %s: %s",
                      lookups[i].key, lookups[i].value, core, lookups[i].key, other);
            cJSON_free(other);
        }
        cJSON_Delete(k);
    }

    char path[256];
    snprintf(path, sizeof path, "/v1/contacts/%s", contact_id);
    jd_get_auth(&daemon_, path, &h);
    JD_EXPECT(h.status == 200, "GET %s: want 200, got %ld", path, h.status);
    cJSON *cj = jd_http_json(&h);
    if (h.status == 200) {
        char *a = jd_json_print(contact);
        const cJSON *c2 = cJSON_GetObjectItemCaseSensitive(cj, "contact");
        char *b = c2 ? jd_json_print(c2) : NULL;
        JD_EXPECT(b && strcmp(a, b) == 0,
                  "GET %s: {\"contact\": …} differs from the journey's contact:\n  journey: "
                  "%s\n  contacts: %s",
                  path, a, b ? b : (h.body ? h.body : ""));
        cJSON_free(a);
        cJSON_free(b);
    }
    cJSON_Delete(cj);
    jd_http_free(&h);

    jd_get_auth(&daemon_, "/v1/contacts/c_doesnotexist0000000000", &h);
    JD_EXPECT(h.status == 404 && jd_http_is_error(&h, NULL),
              "GET /v1/contacts/<unknown>: want 404 with a JSON error, got %ld %.200s", h.status,
              h.body ? h.body : "");
    jd_http_free(&h);
    cJSON *none = jd_journey(&daemon_, "email", "nobody@example.com", &st);
    JD_EXPECT(st == 404 && !none, "journey of an unknown email: want 404, got %ld", st);
    cJSON_Delete(none);

    /* 5. payment_intent.succeeded for the same PaymentIntent, then a provider retry of the
     * checkout event: the journey grows by one event, the revenue not at all. */
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\","
             "\"created\":%" PRId64 ",\"data\":{\"object\":{\"id\":\"%s\","
             "\"object\":\"payment_intent\",\"amount\":%" PRId64 ",\"amount_received\":%" PRId64
             ",\"currency\":\"eur\",\"customer\":\"%s\",\"receipt_email\":null,"
             "\"latest_charge\":\"%s\",\"metadata\":{}}}}",
             evt_pi, T + 7230, pi, amount, amount, cus, ch);
    jd_post_stripe(&daemon_, body, &h);
    JD_EXPECT(h.status == 200, "payment_intent.succeeded: want 200, got %ld", h.status);
    jd_http_free(&h);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\","
             "\"type\":\"checkout.session.completed\",\"created\":%" PRId64 ",\"livemode\":false,"
             "\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"checkout.session\","
             "\"amount_total\":%" PRId64 ",\"currency\":\"eur\",\"customer\":\"%s\","
             "\"customer_details\":{\"email\":\"%s\",\"name\":\"Giulia Rossi\"},"
             "\"payment_intent\":\"%s\",\"payment_status\":\"paid\",\"mode\":\"payment\","
             "\"metadata\":{}}}}",
             evt_cs, T + 7200, cs, amount, cus, email, pi);
    jd_post_stripe(&daemon_, body, &h);
    JD_EXPECT(h.status == 200, "redelivered checkout event: want 200, got %ld", h.status);
    jd_http_free(&h);
    dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "dead_letters is %ld", dead);

    cJSON_Delete(j);
    j = jd_journey(&daemon_, "email", email, &st);
    JD_REQUIRE(st == 200 && j, "journey after payment_intent.succeeded: got %ld", st);
    failures_before = jd_failures();
    JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 4,
              "want 4 events (click, form, checkout, payment_intent), got %d",
              cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")));
    snprintf(want_id, sizeof want_id, "stripe:%s", evt_pi);
    JD_EXPECT(jd_count_event(j, want_id) == 1, "%s appears %d times, want once", want_id,
              jd_count_event(j, want_id));
    snprintf(want_id, sizeof want_id, "stripe:%s", evt_cs);
    JD_EXPECT(jd_count_event(j, want_id) == 1, "%s appears %d times after a redelivery, want once",
              want_id, jd_count_event(j, want_id));
    expect_revenue_eur(j, amount, "journey after payment_intent.succeeded (revenue counts once)");
    JD_EXPECT_STR(j, "contact.id", contact_id, "journey after payment_intent.succeeded");
    const cJSON *e3 = event_at(j, 3);
    JD_EXPECT_STR(e3, "payment_key", pi, "payment_intent event");
    JD_EXPECT_STR(e3, "kind", "payment", "payment_intent event");
    if (cJSON_GetObjectItemCaseSensitive(e3, "amount"))
        jd_note("NOTE: the second payment event of %s still carries an amount: %s", pi,
                jd_json_brief(cJSON_GetObjectItemCaseSensitive(e3, "amount")));

    if (jd_failures() > failures_before)
        dump_journey("journey after payment_intent.succeeded and a redelivery", j);

    /* 6. The cookie: a second click from the same browser keeps its id, also when the
     * destination has a query of its own. A fresh visitor is used so the contact above is
     * not touched. */
    char aid2[64], aid3[64];
    click("https://example.com/pricing", "&utm_source=newsletter&utm_medium=email", NULL, aid2,
          sizeof aid2);
    JD_EXPECT(strcmp(aid2, aid) != 0, "a click without cookie reused the id %s", aid);
    click("https://example.com/p?x=1", "&utm_source=facebook&utm_medium=paid_social", aid2, aid3,
          sizeof aid3);
    JD_EXPECT(strcmp(aid3, aid2) == 0, "a click with Cookie jd_aid=%s got the new id %s", aid2,
              aid3);
    char aid4[64];
    click("https://example.com/", "", "garbage", aid4, sizeof aid4);
    JD_EXPECT(strcmp(aid4, "garbage") != 0, "a malformed cookie id was reused");

    /* No open redirect. */
    expect_click_refused("https://evil.example.net/landing");
    expect_click_refused("https://example.com.evil.net/");
    expect_click_refused("https://example.com@evil.net/");
    expect_click_refused("//evil.net/x");
    expect_click_refused("javascript:alert(1)");
    expect_click_refused("https://example.com\\@evil.net/");
    expect_click_refused("https://example.com/\r\nSet-Cookie: jd_aid=a_0");

    /* A fragment stays last: jd_aid must land in the query, where the page can read it. */
    {
        char url[512], loc[512];
        snprintf(url, sizeof url, "%s/c?to=https%%3A%%2F%%2Fexample.com%%2Fp%%23section",
                 daemon_.base);
        jd_http(&h, "GET", url, NULL, NULL, 0);
        const char *l = jd_http_header(&h, "Location", loc, sizeof loc);
        static const char head[] = "https://example.com/p?jd_aid=a_";
        JD_EXPECT(h.status == 302 && l && strncmp(l, head, sizeof head - 1) == 0 &&
                      strlen(l) == sizeof head - 1 + 32 + 8 &&
                      strcmp(l + sizeof head - 1 + 32, "#section") == 0,
                  "GET /c to=https://example.com/p#section: got %ld Location %s, want "
                  "https://example.com/p?jd_aid=a_<32 hex>#section",
                  h.status, l ? l : "(none)");
        jd_http_free(&h);
    }

    jd_wait_drained(&daemon_, 60);
    cJSON *k = jd_journey(&daemon_, "anon", aid2, &st);
    JD_EXPECT(st == 200 && k, "journey of anon %s: want 200, got %ld", aid2, st);
    if (k) {
        JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "events")) == 2,
                  "anon %s: want its 2 clicks, got %d events", aid2,
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "events")));
        JD_EXPECT_STR(k, "contact.stage", "visit", "anon visitor");
        const char *kid = jd_json_str(cJSON_GetObjectItemCaseSensitive(k, "contact"), "id");
        JD_EXPECT(kid && strcmp(kid, contact_id) != 0,
                  "the second visitor was merged into the paying contact");
    }
    cJSON_Delete(k);
    /* The paying contact is untouched by the other visitor. */
    cJSON_Delete(j);
    j = jd_journey(&daemon_, "email", email, &st);
    JD_EXPECT(j && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 4,
              "the paying contact changed after another visitor's clicks");

    /* 7. The answer splices stored event texts; what that must survive. */
    splice_checks(&redis);

    cJSON_Delete(j);
    cJSON_free(core);
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
