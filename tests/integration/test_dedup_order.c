/*
 * Effect exactly once and order independence (DESIGN §3, §4, §8). One fixed set of
 * deliveries over seven people (forms in JSON and urlencoded, Stripe payments that share
 * a PaymentIntent, partial refunds with cumulative amounts, custom events that link
 * identities so that contacts merge, transitively too) is sent
 *   (a) once, in order,
 *   (b) every delivery twice,
 *   (r) in reverse order (every merge and conflict decided late),
 *   (c) in five random orders with random duplicates (c2 and c4 alternate between two
 *       journeyd sharing the Redis; c4 and c5 are fired all at once),
 *   (p) every delivery three times, all at once, at two journeyd instances,
 * each against a fresh redis-server and journeyd. After draining, every person's journey
 * must be byte-identical across runs once the fields that legitimately record history are
 * removed: `merged_from` (which contact absorbed which depends on arrival) and each
 * event's `raw` (the stream id of the delivery that carried it). Run (a) is also checked
 * against the expected journeys worked out by hand below.
 *
 * The contact id is compared too (the same deliveries should give the same contact), but a
 * run that differs only there is reported as such, separately from a journey difference.
 */
#include "harness.h"

#include <curl/curl.h>

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STRIPE, FORM_JSON, FORM_URLENC, EVENTS };

struct delivery {
    enum kind kind;
    char *body;
};

#define MAX_DELIV 40
static struct delivery deliv[MAX_DELIV];
static int ndeliv;

static void add(enum kind k, char *body)
{
    JD_REQUIRE(ndeliv < MAX_DELIV, "too many deliveries");
    deliv[ndeliv].kind = k;
    deliv[ndeliv].body = body;
    ndeliv++;
}

static int64_t ts(const char *rfc3339)
{
    int64_t t;
    JD_REQUIRE(jd_parse_rfc3339(rfc3339, &t) == 0, "bad time %s", rfc3339);
    return t;
}

static char *checkout(const char *evt, const char *at, const char *pi, int64_t amount,
                      const char *cur, const char *cus, const char *email)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
                  "\"created\":%" PRId64 ",\"data\":{\"object\":{\"id\":\"cs_%s\","
                  "\"object\":\"checkout.session\",\"amount_total\":%" PRId64 ","
                  "\"currency\":\"%s\",\"customer\":\"%s\",\"customer_details\":{\"email\":\"%s\"},"
                  "\"payment_intent\":\"%s\",\"metadata\":{}}}}",
                  evt, ts(at), evt, amount, cur, cus, email, pi);
    return b.p;
}

static char *pi_succeeded(const char *evt, const char *at, const char *pi, int64_t amount,
                          const char *cur, const char *cus, const char *receipt_email)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\","
                  "\"created\":%" PRId64 ",\"data\":{\"object\":{\"id\":\"%s\","
                  "\"object\":\"payment_intent\",\"amount\":%" PRId64
                  ",\"amount_received\":%" PRId64
                  ",\"currency\":\"%s\",\"customer\":\"%s\",\"receipt_email\":%s%s%s,"
                  "\"metadata\":{}}}}",
                  evt, ts(at), pi, amount, amount, cur, cus, receipt_email ? "\"" : "",
                  receipt_email ? receipt_email : "null", receipt_email ? "\"" : "");
    return b.p;
}

/* amount_refunded is cumulative; previous_attributes says what it was before this event. */
static char *refund(const char *evt, const char *at, const char *ch, const char *pi, int64_t amount,
                    int64_t refunded, int64_t prev, const char *cus, const char *email)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"charge.refunded\","
                  "\"created\":%" PRId64
                  ",\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"charge\","
                  "\"amount\":%" PRId64 ",\"amount_refunded\":%" PRId64 ",\"currency\":\"eur\","
                  "\"customer\":\"%s\",\"payment_intent\":\"%s\",\"refunded\":%s,"
                  "\"billing_details\":{\"email\":\"%s\"}},"
                  "\"previous_attributes\":{\"amount_refunded\":%" PRId64 "}}}",
                  evt, ts(at), ch, amount, refunded, cus, pi, refunded == amount ? "true" : "false",
                  email, prev);
    return b.p;
}

static char *str(const char *s)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b, "%s", s);
    return b.p;
}

#define ANON3 "a_0123456789abcdef0123456789abcdef"

static void build_deliveries(void)
{
    /* P1 Giulia: form, checkout + payment_intent of one purchase, a partial refund, and a
     * second form. Revenue 249000 - 49000. */
    add(FORM_JSON, str("{\"email\":\"g@example.it\",\"phone\":\"0039 333 111 1111\","
                       "\"name\":\"Giulia\",\"utm_source\":\"google\",\"utm_medium\":\"cpc\","
                       "\"utm_campaign\":\"spring\",\"submission_id\":\"dd_s1\","
                       "\"submitted_at\":\"2026-09-01T10:00:00Z\"}"));
    add(STRIPE, checkout("evt_dd_p1a", "2026-09-02T10:00:00Z", "pi_dd_p1", 249000, "eur",
                         "cus_dd_p1", "g@example.it"));
    add(STRIPE, pi_succeeded("evt_dd_p1b", "2026-09-02T10:00:05Z", "pi_dd_p1", 249000, "eur",
                             "cus_dd_p1", NULL));
    add(STRIPE, refund("evt_dd_p1c", "2026-09-10T10:00:00Z", "ch_dd_p1", "pi_dd_p1", 249000, 49000,
                       0, "cus_dd_p1", "g@example.it"));
    add(FORM_JSON,
        str("{\"email\":\"G@Example.it\",\"utm_source\":\"google\","
            "\"utm_medium\":\"cpc\",\"utm_campaign\":\"autumn\","
            "\"submission_id\":\"dd_s1b\",\"submitted_at\":\"2026-09-11T12:00:00+02:00\"}"));

    /* P2 Marco: a phone-only form joins him only through a later custom event. */
    add(FORM_JSON, str("{\"email\":\"m@example.com\",\"name\":\"Marco\",\"submission_id\":"
                       "\"dd_s2\",\"submitted_at\":\"2026-09-03T09:00:00Z\"}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e2\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-04T09:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"m@example.com\"},{\"type\":\"phone\",\"value\":\"02 1234 5678\"}]}]}"));
    add(FORM_JSON, str("{\"phone\":\"+39 340 222 2222\",\"name\":\"M.\",\"submission_id\":"
                       "\"dd_s3\",\"submitted_at\":\"2026-09-05T09:00:00Z\"}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e2link\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-06T09:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"m@example.com\"},{\"type\":\"phone\",\"value\":\"+393402222222\"}]}]}"));
    add(STRIPE, checkout("evt_dd_p2", "2026-09-07T09:00:00Z", "pi_dd_p2", 120000, "eur",
                         "cus_dd_p2", "m@example.com"));
    add(STRIPE, pi_succeeded("evt_dd_p2b", "2026-09-07T09:00:03Z", "pi_dd_p2", 120000, "eur",
                             "cus_dd_p2", NULL));

    /* P3 Anna: an anonymous page view before the form that names her; the PaymentIntent
     * (receipt email only) precedes the checkout of the same purchase. */
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e3\",\"kind\":\"custom\",\"at\":"
                    "\"2026-08-31T12:00:00Z\",\"identities\":[{\"type\":\"anon\",\"value\":"
                    "\"" ANON3 "\"}]}]}"));
    add(FORM_JSON, str("{\"email\":\"anna@example.com\",\"jd_aid\":\"" ANON3 "\","
                       "\"utm_source\":\"facebook\",\"utm_medium\":\"paid_social\","
                       "\"fbclid\":\"IwAR_dd_anna\",\"submission_id\":\"dd_s4\","
                       "\"submitted_at\":\"2026-09-01T08:00:00Z\"}"));
    add(STRIPE, pi_succeeded("evt_dd_p3a", "2026-09-08T00:00:00Z", "pi_dd_p3", 59900, "eur",
                             "cus_dd_p3", "anna@example.com"));
    add(STRIPE, checkout("evt_dd_p3b", "2026-09-08T00:00:02Z", "pi_dd_p3", 59900, "eur",
                         "cus_dd_p3", "anna@example.com"));

    /* P4 Luca and P5 Sara: one contact through a chain email → crm id → phone, carried by
     * one batch of two custom events. Two currencies. */
    add(FORM_JSON, str("{\"email\":\"luca@example.com\",\"submission_id\":\"dd_s5\","
                       "\"submitted_at\":\"2026-09-02T08:00:00Z\"}"));
    add(FORM_JSON, str("{\"email\":\"sara@example.com\",\"phone\":\"+39 347 999 9999\","
                       "\"submission_id\":\"dd_s6\",\"submitted_at\":\"2026-09-02T12:00:00Z\"}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e4\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-03T08:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"luca@example.com\"},{\"type\":\"custom:crm_id\",\"value\":\"L-1\"}]},"
                    "{\"id\":\"dd_e5\",\"kind\":\"custom\",\"at\":\"2026-09-04T08:00:00Z\","
                    "\"identities\":[{\"type\":\"custom:crm_id\",\"value\":\"L-1\"},"
                    "{\"type\":\"phone\",\"value\":\"+393479999999\"}]}]}"));
    add(STRIPE, checkout("evt_dd_p5", "2026-09-09T08:00:00Z", "pi_dd_p5", 10000, "usd", "cus_dd_p5",
                         "sara@example.com"));
    add(STRIPE, checkout("evt_dd_p4", "2026-09-09T09:00:00Z", "pi_dd_p4", 5000, "eur", "cus_dd_p4",
                         "luca@example.com"));

    /* P6 Paolo: urlencoded form, a purchase and two partial refunds (cumulative 10000 then
     * 15000: this event's refund is the increase). */
    add(FORM_URLENC, str("email=PAOLO%40Example.COM&name=Paolo+Bianchi&utm_source=newsletter"
                         "&utm_medium=email&utm_campaign=sept&submission_id=dd_s7"
                         "&submitted_at=2026-09-05T10%3A00%3A00Z"));
    /* Same instant as dd_e6 and sent before it: journey order breaks the tie by id, so
     * events:dd_e6 comes first whatever the arrival order. */
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e6_a\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-06T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"paolo@example.com\"}]}]}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e6\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-06T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"paolo@example.com\"}]}]}"));
    add(STRIPE, checkout("evt_dd_p6", "2026-09-07T10:00:00Z", "pi_dd_p6", 30000, "eur", "cus_dd_p6",
                         "paolo@example.com"));
    add(STRIPE, refund("evt_dd_p6r1", "2026-09-08T10:00:00Z", "ch_dd_p6", "pi_dd_p6", 30000, 10000,
                       0, "cus_dd_p6", "paolo@example.com"));
    add(STRIPE, refund("evt_dd_p6r2", "2026-09-09T10:00:00Z", "ch_dd_p6", "pi_dd_p6", 30000, 15000,
                       10000, "cus_dd_p6", "paolo@example.com"));

    /* P7: a form without submission_id (its id is a hash of the body, stable across
     * redeliveries) and a custom event that adds the email. */
    add(FORM_JSON, str("{\"phone\":\"+41 79 123 45 67\",\"name\":\"Sam\",\"form\":\"contact\","
                       "\"submitted_at\":\"2026-09-10T10:00:00Z\"}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e7\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-11T10:00:00Z\",\"identities\":[{\"type\":\"phone\",\"value\":"
                    "\"+41791234567\"},{\"type\":\"email\",\"value\":\"p7@example.com\"}]}]}"));

    /* P8/P9: merge protection (DESIGN §4). hubspot_contact is unique by default, so the
     * third event, which carries hubspot 202 and x's email, must not merge the two
     * contacts: it stays with 202's contact, the email stays with the contact that held it
     * first in journey order (101's), and both record the conflict. Whenever e8c arrives
     * before e8a, journeyd has to re-stitch. */
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e8a\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-12T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"x@example.com\"},{\"type\":\"hubspot_contact\",\"value\":\"101\"}]}]}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e8b\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-12T11:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                    "\"y@example.com\"},{\"type\":\"hubspot_contact\",\"value\":\"202\"}]}]}"));
    add(EVENTS, str("{\"events\":[{\"id\":\"dd_e8c\",\"kind\":\"custom\",\"at\":"
                    "\"2026-09-13T10:00:00Z\",\"identities\":[{\"type\":\"hubspot_contact\","
                    "\"value\":\"202\"},{\"type\":\"email\",\"value\":\"x@example.com\"}]}]}"));

    /* Noise: an event type nobody uses. */
    add(STRIPE, str("{\"id\":\"evt_dd_noise\",\"object\":\"event\",\"type\":\"customer.created\","
                    "\"created\":1788000000,\"data\":{\"object\":{\"id\":\"cus_dd_noise\","
                    "\"object\":\"customer\",\"email\":\"noise@example.com\"}}}"));
}

/* What run (a) must show, worked out by hand from the deliveries above. */
struct expected {
    const char *key, *value;
    const char *stage;
    const char *events[8]; /* in journey order (at, id); "form:site:" alone = any form id */
    const char *revenue;   /* the revenue object, compact JSON */
};

static const struct expected expected[] = {
    {"email",
     "g@example.it",
     "paid",
     {"form:site:dd_s1", "stripe:evt_dd_p1a", "stripe:evt_dd_p1b", "stripe:evt_dd_p1c",
      "form:site:dd_s1b"},
     "{\"EUR\":200000}"},
    {"email",
     "m@example.com",
     "paid",
     {"form:site:dd_s2", "events:dd_e2", "form:site:dd_s3", "events:dd_e2link", "stripe:evt_dd_p2",
      "stripe:evt_dd_p2b"},
     "{\"EUR\":120000}"},
    {"email",
     "anna@example.com",
     "paid",
     {"events:dd_e3", "form:site:dd_s4", "stripe:evt_dd_p3a", "stripe:evt_dd_p3b"},
     "{\"EUR\":59900}"},
    {"email",
     "luca@example.com",
     "paid",
     {"form:site:dd_s5", "form:site:dd_s6", "events:dd_e4", "events:dd_e5", "stripe:evt_dd_p5",
      "stripe:evt_dd_p4"},
     NULL /* two currencies: checked below */},
    {"email",
     "paolo@example.com",
     "paid",
     {"form:site:dd_s7", "events:dd_e6", "events:dd_e6_a", "stripe:evt_dd_p6", "stripe:evt_dd_p6r1",
      "stripe:evt_dd_p6r2"},
     "{\"EUR\":15000}"},
    {"email", "p7@example.com", "lead", {"form:site:", "events:dd_e7"}, NULL},
    {"identity", "hubspot_contact:101", "", {"events:dd_e8a"}, NULL},
    {"identity", "hubspot_contact:202", "", {"events:dd_e8b", "events:dd_e8c"}, NULL},
};

/* Every lookup compared across runs (people by several identities, plus the noise). */
static const struct {
    const char *key, *value;
} lookups[] = {
    {"email", "g@example.it"},
    {"phone", "+393331111111"},
    {"email", "m@example.com"},
    {"phone", "+393402222222"},
    {"phone", "+390212345678"},
    {"email", "anna@example.com"},
    {"anon", ANON3},
    {"email", "luca@example.com"},
    {"email", "sara@example.com"},
    {"identity", "custom:crm_id:L-1"},
    {"email", "paolo@example.com"},
    {"email", "p7@example.com"},
    {"phone", "+41791234567"},
    {"email", "noise@example.com"},
    {"email", "x@example.com"},
    {"email", "y@example.com"},
    {"identity", "hubspot_contact:101"},
    {"identity", "hubspot_contact:202"},
};
#define NLOOKUPS (sizeof lookups / sizeof lookups[0])

struct run_result {
    char *lines[NLOOKUPS];  /* normalized journey per lookup */
    char *masked[NLOOKUPS]; /* the same with the contact id masked */
    char *indexes;          /* the report indexes, as read_indexes prints them */
};

/* Appends to a growing string; the test stops on allocation failure. */
static void cat(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char **s, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    JD_REQUIRE(n >= 0, "vsnprintf");
    char *grown = realloc(*s, *len + (size_t)n + 1);
    JD_REQUIRE(grown != NULL, "out of memory");
    va_start(ap, fmt);
    vsnprintf(grown + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = grown;
    *len += (size_t)n;
}

/* What the reports read, which apply.lua keeps beside the journeys: each stage's contacts
 * with their entry times, and each conversion's contact. Contact ids do not depend on
 * arrival order, so neither may these; renames and merges must leave no trace of the
 * contacts they retired. Each stage member must be a live contact whose eN field agrees. */
static char *read_indexes(const struct jd_redis *redis, const char *label)
{
    redisContext *c = jd_redis_connect(redis);
    char *out = NULL;
    size_t len = 0;
    for (int st = 1; st <= 6; st++) {
        redisReply *r = redisCommand(c, "ZRANGE jd:st:%d 0 -1 WITHSCORES", st);
        JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "ZRANGE jd:st:%d", st);
        cat(&out, &len, "st%d:", st);
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *cid = r->element[i]->str, *score = r->element[i + 1]->str;
            cat(&out, &len, " %s=%s", cid, score);
            redisReply *e = redisCommand(c, "HGET jd:c:%s e%d", cid, st);
            JD_EXPECT(e && e->type == REDIS_REPLY_STRING && strcmp(e->str, score) == 0,
                      "run %s: jd:st:%d holds %s at %s, but the contact's e%d is %s", label, st,
                      cid, score, st, e && e->type == REDIS_REPLY_STRING ? e->str : "(none)");
            if (e)
                freeReplyObject(e);
        }
        cat(&out, &len, "\n");
        freeReplyObject(r);
    }
    redisReply *conv = redisCommand(c, "ZRANGE jd:conv 0 -1");
    JD_REQUIRE(conv && conv->type == REDIS_REPLY_ARRAY, "ZRANGE jd:conv");
    cat(&out, &len, "conv:");
    for (size_t i = 0; i < conv->elements; i++) {
        redisReply *e = redisCommand(c, "HGET jd:evc %s", conv->element[i]->str);
        int ok = e && e->type == REDIS_REPLY_STRING;
        cat(&out, &len, " %s=%s", conv->element[i]->str, ok ? e->str : "(none)");
        if (ok) {
            redisReply *x = redisCommand(c, "EXISTS jd:c:%s", e->str);
            JD_EXPECT(x && x->type == REDIS_REPLY_INTEGER && x->integer == 1,
                      "run %s: conversion %s points at %s, which is not a live contact", label,
                      conv->element[i]->str, e->str);
            if (x)
                freeReplyObject(x);
        }
        if (e)
            freeReplyObject(e);
    }
    freeReplyObject(conv);
    redisFree(c);
    return out;
}

static void send_delivery(const struct jd_daemon *d, int i)
{
    struct jd_http h;
    const struct delivery *dv = &deliv[i];
    switch (dv->kind) {
    case STRIPE:
        jd_post_stripe(d, dv->body, &h);
        break;
    case FORM_JSON:
        jd_post_form(d, dv->body, "application/json", &h);
        break;
    case FORM_URLENC:
        jd_post_form(d, dv->body, "application/x-www-form-urlencoded", &h);
        break;
    case EVENTS:
    default:
        jd_post_events(d, dv->body, &h);
        break;
    }
    JD_EXPECT(h.status == 200, "delivery #%d: want 200, got %ld %.200s (body %.120s)", i, h.status,
              h.body ? h.body : "", dv->body);
    jd_http_free(&h);
}

/* Removes the history-dependent fields; returns the normalized answer (or a status line). */
static void normalize(cJSON *j, long status, char **line, char **masked)
{
    struct jd_buf b = {0};
    if (!j) {
        jd_buf_printf(&b, "status %ld", status);
        *line = b.p;
        *masked = strdup(b.p);
        return;
    }
    cJSON *contact = cJSON_GetObjectItemCaseSensitive(j, "contact");
    cJSON_DeleteItemFromObjectCaseSensitive(contact, "merged_from");
    cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "raw");
    }
    /* Only the journey's fixed parts: an extra field such as a generation time would not
     * be a property of the deliveries. */
    cJSON *core = cJSON_CreateObject();
    cJSON_AddItemToObject(core, "contact", cJSON_Duplicate(contact, 1));
    cJSON_AddItemToObject(core, "events",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "events"), 1));
    char *s = jd_json_print(core);
    *line = strdup(s);
    cJSON_free(s);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(core, "contact"), "id",
                                           cJSON_CreateString("<contact-id>"));
    s = jd_json_print(core);
    *masked = strdup(s);
    cJSON_free(s);
    cJSON_Delete(core);
}

static int has_conflict(const cJSON *j)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jd_json_path(j, "contact.conflicts"))
    {
        const char *ev = jd_json_str(c, "event"), *type = jd_json_str(c, "type");
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(c, "values");
        int has101 = 0, has202 = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, values)
        {
            has101 |= cJSON_IsString(v) && strcmp(v->valuestring, "101") == 0;
            has202 |= cJSON_IsString(v) && strcmp(v->valuestring, "202") == 0;
        }
        if (ev && type && strcmp(ev, "events:dd_e8c") == 0 &&
            strcmp(type, "hubspot_contact") == 0 && has101 && has202)
            return 1;
    }
    return 0;
}

/* DESIGN §3 identity normalization and time zones, as the deliveries spell them. */
static void check_normalization(const struct jd_daemon *d)
{
    long st;
    cJSON *g = jd_journey(d, "email", "g@example.it", &st);
    const cJSON *ids = jd_json_path(g, "contact.identities");
    /* "0039 333 111 1111": 00 starts an international number. */
    JD_EXPECT(jd_has_identity(ids, "phone", "+393331111111"),
              "run a: g's phone \"0039 333 111 1111\" should be +393331111111: %s",
              jd_json_brief(ids));
    int emails = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        const char *t = jd_json_str(it, "type");
        emails += t && strcmp(t, "email") == 0;
    }
    JD_EXPECT(emails == 1,
              "run a: g has %d emails (\"G@Example.it\" must normalize to "
              "g@example.it): %s",
              emails, jd_json_brief(ids));
    /* submitted_at "2026-09-11T12:00:00+02:00" is 10:00 UTC. */
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "events"), 4);
    int64_t at = -1;
    const char *ats = jd_json_str(ev, "at");
    JD_EXPECT(ats && jd_parse_rfc3339(ats, &at) == 0 && at == ts("2026-09-11T10:00:00Z"),
              "run a: form dd_s1b submitted at 12:00+02:00 has at %s, want 2026-09-11T10:00:00Z",
              ats ? ats : "(none)");
    cJSON_Delete(g);

    /* "02 1234 5678" is national: +39 added and, Italy being a country that keeps it, the 0
     * kept. */
    cJSON *m = jd_journey(d, "email", "m@example.com", &st);
    JD_EXPECT(jd_has_identity(jd_json_path(m, "contact.identities"), "phone", "+390212345678"),
              "run a: m's national phone \"02 1234 5678\" should be +390212345678: %s",
              jd_json_brief(jd_json_path(m, "contact.identities")));
    cJSON_Delete(m);
}

/* The unique-identity case, checked against DESIGN §4 word by word. */
static void check_conflicts(const struct jd_daemon *d)
{
    long s1, s2, s3;
    cJSON *a = jd_journey(d, "identity", "hubspot_contact:101", &s1);
    cJSON *b = jd_journey(d, "identity", "hubspot_contact:202", &s2);
    cJSON *x = jd_journey(d, "email", "x@example.com", &s3);
    const char *ia = jd_json_str(cJSON_GetObjectItemCaseSensitive(a, "contact"), "id");
    const char *ib = jd_json_str(cJSON_GetObjectItemCaseSensitive(b, "contact"), "id");
    const char *ix = jd_json_str(cJSON_GetObjectItemCaseSensitive(x, "contact"), "id");
    JD_EXPECT(ia && ib && strcmp(ia, ib) != 0,
              "run a: hubspot_contact 101 and 202 are one contact (%s): a unique identity type "
              "must never merge",
              ia ? ia : "(none)");
    JD_EXPECT(ia && ix && strcmp(ia, ix) == 0,
              "run a: x@example.com resolves to %s, want the contact of hubspot 101 (%s) that "
              "held it first",
              ix ? ix : "(none)", ia ? ia : "(none)");
    JD_EXPECT(has_conflict(a),
              "run a: hubspot 101's contact lacks the conflict {event: events:dd_e8c, type: "
              "hubspot_contact, values: [101, 202]}: %s",
              jd_json_brief(jd_json_path(a, "contact.conflicts")));
    JD_EXPECT(has_conflict(b),
              "run a: hubspot 202's contact lacks the conflict {event: events:dd_e8c, type: "
              "hubspot_contact, values: [101, 202]}: %s",
              jd_json_brief(jd_json_path(b, "contact.conflicts")));
    JD_EXPECT(!jd_has_identity(jd_json_path(b, "contact.identities"), "email", "x@example.com"),
              "run a: hubspot 202's contact holds x@example.com too");
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(x);
}

static void check_expected(const struct jd_daemon *d)
{
    for (size_t e = 0; e < sizeof expected / sizeof expected[0]; e++) {
        const struct expected *x = &expected[e];
        long st;
        cJSON *j = jd_journey(d, x->key, x->value, &st);
        JD_EXPECT(st == 200 && j, "run a: journey %s=%s: want 200, got %ld", x->key, x->value, st);
        if (!j)
            continue;
        const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
        int want_n = 0;
        while (want_n < 8 && x->events[want_n])
            want_n++;
        int got_n = cJSON_GetArraySize(events);
        JD_EXPECT(got_n == want_n, "run a: %s=%s: want %d events, got %d", x->key, x->value, want_n,
                  got_n);
        for (int i = 0; i < want_n && i < got_n; i++) {
            const char *id = jd_json_str(cJSON_GetArrayItem(events, i), "id");
            size_t wl = strlen(x->events[i]);
            int ok =
                id && (strcmp(x->events[i], "form:site:") == 0 ? strncmp(id, x->events[i], wl) == 0
                                                               : strcmp(id, x->events[i]) == 0);
            JD_EXPECT(ok, "run a: %s=%s: event %d is %s, want %s", x->key, x->value, i,
                      id ? id : "(no id)", x->events[i]);
        }
        const char *stage = jd_json_str(cJSON_GetObjectItemCaseSensitive(j, "contact"), "stage");
        if (x->stage[0])
            JD_EXPECT(stage && strcmp(stage, x->stage) == 0, "run a: %s=%s: stage %s, want %s",
                      x->key, x->value, stage ? stage : "(none)", x->stage);
        const cJSON *rev = jd_json_path(j, "contact.revenue");
        if (x->revenue) {
            char *r = rev ? jd_json_print(rev) : NULL;
            JD_EXPECT(r && strcmp(r, x->revenue) == 0, "run a: %s=%s: revenue %s, want %s", x->key,
                      x->value, r ? r : "(none)", x->revenue);
            cJSON_free(r);
        } else if (strcmp(x->value, "luca@example.com") == 0) {
            int ok1, ok2;
            int64_t eur = jd_json_int(jd_json_path(rev, "EUR"), &ok1);
            int64_t usd = jd_json_int(jd_json_path(rev, "USD"), &ok2);
            JD_EXPECT(ok1 && ok2 && eur == 5000 && usd == 10000 && cJSON_GetArraySize(rev) == 2,
                      "run a: luca/sara revenue %s, want {\"EUR\":5000,\"USD\":10000}",
                      jd_json_brief(rev));
        } else {
            JD_EXPECT(!rev || cJSON_GetArraySize(rev) == 0, "run a: %s=%s: revenue %s, want none",
                      x->key, x->value, jd_json_brief(rev));
        }
        cJSON_Delete(j);
    }
    check_conflicts(d);
    check_normalization(d);
    /* People joined by merges answer with one contact. */
    const char *same[][2] = {{"luca@example.com", "sara@example.com"}};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        long s1, s2;
        cJSON *a = jd_journey(d, "email", same[i][0], &s1);
        cJSON *b = jd_journey(d, "email", same[i][1], &s2);
        const char *ia = jd_json_str(cJSON_GetObjectItemCaseSensitive(a, "contact"), "id");
        const char *ib = jd_json_str(cJSON_GetObjectItemCaseSensitive(b, "contact"), "id");
        JD_EXPECT(ia && ib && strcmp(ia, ib) == 0,
                  "run a: %s and %s should be one contact (linked through custom:crm_id), got "
                  "%s and %s",
                  same[i][0], same[i][1], ia ? ia : "(none)", ib ? ib : "(none)");
        /* In this arrival order they were two contacts before e5 joined them, so one
         * absorbed the other; the absorbed id keeps resolving to the survivor. */
        const cJSON *mf = jd_json_path(a, "contact.merged_from");
        JD_EXPECT(cJSON_IsArray(mf) && cJSON_GetArraySize(mf) >= 1,
                  "run a: the contact of %s and %s came from a merge but merged_from is %s",
                  same[i][0], same[i][1], jd_json_brief(mf));
        const cJSON *m;
        cJSON_ArrayForEach(m, mf)
        {
            if (!cJSON_IsString(m))
                continue;
            char path[256];
            snprintf(path, sizeof path, "/v1/contacts/%s", m->valuestring);
            struct jd_http h;
            jd_get_auth(d, path, &h);
            cJSON *cj = jd_http_json(&h);
            const char *sid = jd_json_str(cJSON_GetObjectItemCaseSensitive(cj, "contact"), "id");
            JD_EXPECT(h.status == 200 && sid && ia && strcmp(sid, ia) == 0,
                      "GET %s (a merged id): want 200 with the survivor %s, got %ld %.200s", path,
                      ia ? ia : "?", h.status, h.body ? h.body : "");
            cJSON_Delete(cj);
            jd_http_free(&h);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* Sends the whole sequence at once over parallel connections, alternating between the
 * daemons: copies of one delivery then race each other through ingest and the workers. */
static void send_parallel(struct jd_daemon *const *ds, int nd, const int *seq, int nseq)
{
    CURLM *m = curl_multi_init();
    JD_REQUIRE(m, "curl_multi_init failed");
    CURL **easy = calloc((size_t)nseq, sizeof *easy);
    struct curl_slist **hdrs = calloc((size_t)nseq, sizeof *hdrs);
    JD_REQUIRE(easy && hdrs, "out of memory");
    for (int i = 0; i < nseq; i++) {
        const struct delivery *dv = &deliv[seq[i]];
        const struct jd_daemon *d = ds[i % nd];
        char url[128], sig[256];
        size_t len = strlen(dv->body);
        switch (dv->kind) {
        case STRIPE:
            snprintf(url, sizeof url, "%s/hooks/stripe", d->base);
            jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), dv->body, len);
            hdrs[i] = curl_slist_append(hdrs[i], "Content-Type: application/json");
            break;
        case FORM_JSON:
        case FORM_URLENC:
            snprintf(url, sizeof url, "%s/hooks/site", d->base);
            jd_form_sig_header(sig, sizeof sig, JD_FORM_SECRET, dv->body, len);
            hdrs[i] = curl_slist_append(hdrs[i], dv->kind == FORM_JSON
                                                     ? "Content-Type: application/json"
                                                     : "Content-Type: "
                                                       "application/x-www-form-urlencoded");
            break;
        case EVENTS:
        default:
            snprintf(url, sizeof url, "%s/v1/events", d->base);
            snprintf(sig, sizeof sig, "Authorization: Bearer " JD_TOKEN);
            hdrs[i] = curl_slist_append(hdrs[i], "Content-Type: application/json");
            break;
        }
        hdrs[i] = curl_slist_append(hdrs[i], sig);
        hdrs[i] = curl_slist_append(hdrs[i], "Expect:");
        easy[i] = curl_easy_init();
        JD_REQUIRE(easy[i], "curl_easy_init failed");
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hdrs[i]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, dv->body);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 60L);
        curl_multi_add_handle(m, easy[i]);
    }
    int running = 1;
    while (running) {
        CURLMcode mc = curl_multi_perform(m, &running);
        JD_REQUIRE(mc == CURLM_OK, "curl_multi_perform: %s", curl_multi_strerror(mc));
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(m, &q)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        long code = 0;
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        JD_EXPECT(code == 200, "parallel delivery: want 200, got %ld (curl %d)", code,
                  (int)msg->data.result);
    }
    for (int i = 0; i < nseq; i++) {
        curl_multi_remove_handle(m, easy[i]);
        curl_easy_cleanup(easy[i]);
        curl_slist_free_all(hdrs[i]);
    }
    free(easy);
    free(hdrs);
    curl_multi_cleanup(m);
}

/* ndaemons journeyd instances share one fresh Redis (DESIGN §1: any number may); with
 * parallel set the sequence is fired all at once. */
static void do_run(const char *label, const int *seq, int nseq, struct run_result *out, int check,
                   int ndaemons, int parallel)
{
    struct jd_redis redis;
    struct jd_daemon dd[2];
    struct jd_daemon *ds[2] = {&dd[0], &dd[1]};
    struct jd_daemon *const d = &dd[0];
    jd_redis_start(&redis, NULL, 0);
    for (int k = 0; k < ndaemons; k++) {
        jd_daemon_config(&dd[k], redis.port, NULL);
        jd_daemon_start(&dd[k], 1);
    }
    if (parallel) {
        send_parallel(ds, ndaemons, seq, nseq);
    } else {
        for (int i = 0; i < nseq; i++)
            send_delivery(ds[i % ndaemons], seq[i]);
    }
    long dead = jd_wait_drained(d, 120);
    JD_EXPECT(dead == 0, "run %s: %ld dead letters", label, dead);
    for (size_t k = 0; k < NLOOKUPS; k++) {
        long st;
        cJSON *j = jd_journey(ds[k % ndaemons], lookups[k].key, lookups[k].value, &st);
        normalize(j, st, &out->lines[k], &out->masked[k]);
        cJSON_Delete(j);
    }
    out->indexes = read_indexes(&redis, label);
    if (check)
        check_expected(d);
    for (int k = ndaemons - 1; k >= 0; k--)
        jd_daemon_stop(&dd[k]);
    jd_redis_kill(&redis, SIGKILL);
    jd_note("run %s: %d deliveries sent, drained, %zu journeys read", label, nseq, NLOOKUPS);
}

static void compare(const char *label, const struct run_result *base, const struct run_result *r)
{
    JD_EXPECT(strcmp(base->indexes, r->indexes) == 0,
              "run %s: the report indexes differ from run a\n  a: %s\n  %s: %s", label,
              base->indexes, label, r->indexes);
    for (size_t k = 0; k < NLOOKUPS; k++) {
        if (strcmp(base->lines[k], r->lines[k]) == 0)
            continue;
        if (strcmp(base->masked[k], r->masked[k]) == 0)
            jd_error(__FILE__, __LINE__,
                     "run %s: %s=%s: ONLY THE CONTACT ID differs from run a (the journey is "
                     "identical): contact ids depend on arrival order\n  a: %.300s\n  %s: %.300s",
                     label, lookups[k].key, lookups[k].value, base->lines[k], label, r->lines[k]);
        else
            jd_error(__FILE__, __LINE__,
                     "run %s: %s=%s: journey differs from run a\n  a: %s\n  %s: %s", label,
                     lookups[k].key, lookups[k].value, base->lines[k], label, r->lines[k]);
    }
}

static void free_run(struct run_result *r)
{
    free(r->indexes);
    for (size_t k = 0; k < NLOOKUPS; k++) {
        free(r->lines[k]);
        free(r->masked[k]);
    }
}

int main(void)
{
    jd_setup("dedup_order", 400, 1);
    build_deliveries();
    jd_note("%d deliveries", ndeliv);

    int seq[MAX_DELIV * 3];
    struct run_result base, r;

    for (int i = 0; i < ndeliv; i++)
        seq[i] = i;
    do_run("a (in order)", seq, ndeliv, &base, 1, 1, 0);
    for (size_t k = 0; k < NLOOKUPS; k++)
        jd_note("a: %s=%s -> %.160s%s", lookups[k].key, lookups[k].value, base.lines[k],
                strlen(base.lines[k]) > 160 ? "…" : "");

    for (int i = 0; i < ndeliv; i++) {
        seq[i] = i;
        seq[ndeliv + i] = i;
    }
    do_run("b (twice)", seq, 2 * ndeliv, &r, 0, 1, 0);
    compare("b", &base, &r);
    free_run(&r);

    /* Reversed: every event arrives before the ones it follows in journey order, so every
     * merge and every conflict has to be re-stitched from the late side. */
    for (int i = 0; i < ndeliv; i++)
        seq[i] = ndeliv - 1 - i;
    do_run("r (reversed)", seq, ndeliv, &r, 0, 1, 0);
    compare("r", &base, &r);
    free_run(&r);

    for (int run = 0; run < 5; run++) {
        int n = ndeliv;
        for (int i = 0; i < ndeliv; i++)
            seq[i] = i;
        for (int i = ndeliv - 1; i > 0; i--) {
            int k = (int)jd_rand_below((uint64_t)i + 1);
            int t = seq[i];
            seq[i] = seq[k];
            seq[k] = t;
        }
        /* Random duplicates at random places, before or after the original. */
        for (int i = 0; i < ndeliv; i++) {
            if (jd_rand_below(3) != 0)
                continue;
            int pos = (int)jd_rand_below((uint64_t)n + 1);
            memmove(&seq[pos + 1], &seq[pos], (size_t)(n - pos) * sizeof seq[0]);
            seq[pos] = i;
            n++;
        }
        char label[32], order[512];
        size_t o = 0;
        for (int i = 0; i < n && o + 5 < sizeof order; i++)
            o += (size_t)snprintf(order + o, sizeof order - o, "%d ", seq[i]);
        snprintf(label, sizeof label, "c%d", run + 1);
        jd_note("run %s order: %s", label, order);
        do_run(label, seq, n, &r, 0, run % 2 ? 2 : 1, run >= 3);
        compare(label, &base, &r);
        free_run(&r);
    }

    /* Everything three times, fired at once at two daemons: duplicates meet inside one
     * worker batch and in two workers at the same moment. */
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < ndeliv; i++)
            seq[c * ndeliv + i] = i;
    do_run("p (parallel, two daemons, x3)", seq, 3 * ndeliv, &r, 0, 2, 1);
    compare("p", &base, &r);
    free_run(&r);
    free_run(&base);
    for (int i = 0; i < ndeliv; i++)
        free(deliv[i].body);
    return jd_finish();
}
