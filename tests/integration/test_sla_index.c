/*
 * The SLA index (apply.lua's SLA block, jd:sla:f; read by daemon/report_sla.c): a lead
 * the index holds is counted from its entry instead of from its journey, and every
 * answer must be byte for byte what reading the journeys gives. A simulated month
 * (bench/synth.c: clicks, website forms, the events API with sales touches and meetings,
 * Stripe) and a few hand-made leads (a response delivered before its lead, a lead
 * waiting behind more events than the index walks, two leads that one event merges) are
 * sent in time order into one store and shuffled into another: the index entries the
 * two orders build are alike (the lead whose entry needs a longer walk than apply.lua's
 * has one only in time order), and so are the answers. The scorecard and every
 * drill-down of three ranges are read with the index, and again with jd:sla:f moved
 * aside (so every journey is read: the computation from before the index): the same
 * bytes. Then an erasure, a late response delivered out of order, a merge and a payment
 * change the journeys, and the two are compared again. An entry planted by hand changes
 * the answer: the report does read the index. (Retention, which deletes the entries of
 * the contacts it changes, is compared with a recomputation from scratch in
 * test_retention.)
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_send.h"

#define CONTACTS 150
#define LONG_TAIL 80 /* events after the long lead's entry: more than apply.lua walks (64) */

static struct jd_daemon d;
static struct jd_redis r;
static char sfx[17];
static int64_t now;

/* One event through POST /v1/events: kind, optional stage, at, one or two identities,
 * the owner attribute (NULL: none; for a payment, its amount instead). */
static void post_event(const char *id, const char *kind, const char *stage, int64_t at_s,
                       const char *ident, const char *ident2, const char *owner)
{
    char at[32], body[1024], st[64] = "", id2[256] = "", own[96] = "";
    struct jd_http h = {0};
    jd_rfc3339(at_s, at, sizeof at);
    if (stage)
        snprintf(st, sizeof st, ",\"stage\":\"%s\"", stage);
    if (ident2)
        snprintf(id2, sizeof id2, ",{\"type\":\"phone\",\"value\":\"%s\"}", ident2);
    if (strcmp(kind, "payment") == 0)
        snprintf(own, sizeof own, ",\"amount\":{\"minor\":%s,\"currency\":\"EUR\"}", owner);
    else if (owner)
        snprintf(own, sizeof own, ",\"attributes\":{\"owner\":\"%s\"}", owner);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"%s-%s\",\"kind\":\"%s\",\"at\":\"%s\"%s,"
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s.%s@example.it\"}%s]%s}]}",
             id, sfx, kind, at, st, ident, sfx, id2, own);
    JD_EXPECT(jd_post_events(&d, body, &h) == 0 && h.status == 200, "POST %s: %ld %.200s", id,
              h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

static char *get_body(const char *path)
{
    struct jd_http h = {0};
    JD_REQUIRE(jd_get_auth(&d, path, &h) == 0, "GET %s: no answer", path);
    JD_REQUIRE(h.status == 200, "GET %s: %ld %.300s", path, h.status, h.body ? h.body : "");
    char *b = strdup(h.body ? h.body : "");
    JD_REQUIRE(b, "out of memory");
    jd_http_free(&h);
    return b;
}

/* Every answer the SLA gives over three ranges, all ending in the past (a waiting lead's
 * time is measured to `to`, so two reads seconds apart agree): the scorecard as JSON and
 * CSV, the waiting table, and each drill-down status in one page. */
static void all_answers(struct jd_buf *out)
{
    static const char *const statuses[] = {"answered", "within",      "breached", "waiting",
                                           "open",     "self_served", "leads"};
    const int64_t ranges[][2] = {{now - 40 * 86400, now - 3600},
                                 {now - 12 * 86400, now - 4 * 86400},
                                 {now - 30 * 86400, now - 29 * 86400}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        char from[32], to[32], path[512];
        jd_rfc3339(ranges[i][0], from, sizeof from);
        jd_rfc3339(ranges[i][1], to, sizeof to);
        const char *views[] = {"", "&format=csv", "&format=csv&table=waiting"};
        for (size_t v = 0; v < 3; v++) {
            snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s%s", from, to, views[v]);
            char *b = get_body(path);
            jd_buf_printf(out, "%s\n%s\n", path, b);
            free(b);
        }
        for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++) {
            snprintf(path, sizeof path,
                     "/v1/reports/sla/contacts?from=%s&to=%s&status=%s&limit=500", from, to,
                     statuses[s]);
            char *b = get_body(path);
            jd_buf_printf(out, "%s\n%s\n", path, b);
            free(b);
        }
    }
}

static long long redis_int(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *rr = redisCommand(c, fmt, arg);
    JD_REQUIRE(rr && rr->type == REDIS_REPLY_INTEGER, "%s: no integer answer", fmt);
    long long v = rr->integer;
    freeReplyObject(rr);
    return v;
}

static void redis_ok(redisContext *c, const char *fmt, const char *a, const char *b)
{
    redisReply *rr = redisCommand(c, fmt, a, b);
    JD_REQUIRE(rr && rr->type != REDIS_REPLY_ERROR, "%s: %s", fmt, rr ? rr->str : c->errstr);
    freeReplyObject(rr);
}

/* The answers with the index and with it moved aside (every journey read): the same. */
static void compare(const char *when)
{
    redisContext *c = jd_redis_connect(&r);
    long long n = redis_int(c, "HLEN %s", "jd:sla:f");
    jd_note("%s: %lld leads in the SLA index", when, n);
    JD_EXPECT(n >= 20, "%s: the SLA index holds %lld leads", when, n);
    struct jd_buf a = {0}, b = {0};
    all_answers(&a);
    redis_ok(c, "RENAME %s %s", "jd:sla:f", "jd:sla:f:aside");
    all_answers(&b);
    redis_ok(c, "RENAME %s %s", "jd:sla:f:aside", "jd:sla:f");
    redisFree(c);
    JD_REQUIRE(a.p && b.p, "no answers");
    if (strcmp(a.p, b.p) != 0) {
        size_t k = 0;
        while (a.p[k] && a.p[k] == b.p[k])
            k++;
        size_t from = k > 300 ? k - 300 : 0;
        JD_EXPECT(0,
                  "%s: the index answers differently from the journeys at byte %zu:\n"
                  "index:    %.600s\njourneys: %.600s",
                  when, k, a.p + from, b.p + from);
    }
    jd_note("%s: %zu bytes of SLA answers alike", when, a.len);
    free(a.p);
    free(b.p);
}

/* The contact id an email resolves to, or "" (into out). */
static void contact_of(const char *who, char *out, size_t cap)
{
    char email[128];
    long status = 0;
    snprintf(email, sizeof email, "%s.%s@example.it", who, sfx);
    cJSON *j = jd_journey(&d, "email", email, &status);
    const char *id = j ? jd_json_str(cJSON_GetObjectItemCaseSensitive(j, "contact"), "id") : NULL;
    snprintf(out, cap, "%s", id ? id : "");
    cJSON_Delete(j);
}

static long long indexed(const char *cid)
{
    redisContext *c = jd_redis_connect(&r);
    long long v = redis_int(c, "HEXISTS jd:sla:f %s", cid);
    redisFree(c);
    return v;
}

static int by_time(const void *pa, const void *pb)
{
    const struct sy_delivery *a = pa, *b = pb;
    return a->at_ms < b->at_ms ? -1 : a->at_ms > b->at_ms;
}

/* A Redis and a journeyd with the [sla] targets, in r and d. */
static void start(void)
{
    jd_redis_start(&r, NULL, 0);
    jd_daemon_config(&d, r.port, "timezone = Europe/Rome\n");
    FILE *f = fopen(d.conf, "a");
    JD_REQUIRE(f, "cannot append to %s", d.conf);
    fputs("\n[sla]\nresponse_hours = 4\nresponse_share = 0.8\n"
          "business_hours = mon-fri 09:00-18:00\nleads_per_month = 40\nqualified_rate = 0.3\n",
          f);
    JD_REQUIRE(fclose(f) == 0, "write %s", d.conf);
    jd_daemon_start(&d, 1);
}

static void send_month(const struct sy_month *m, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        jd_sim_send(&d, &m->v[i]);
}

/* The month and the hand-made leads, in time order or shuffled (then each hand-made
 * lead out of order, in the middle of the month). */
static void load(int shuffled)
{
    struct sy_month m = {0};
    struct sy_opts o = {
        .seed = 1313,
        .contacts = CONTACTS,
        .types = SY_CORE,
        .month_start_ms = (now - 35 * 86400) * 1000,
        .dup_rate = 0.05,
    };
    JD_REQUIRE(sy_month_build(&o, &m) == 0, "the simulator refused its options");
    if (shuffled)
        sy_month_shuffle(&m, jd_seed());
    else
        qsort(m.v, m.n, sizeof(*m.v), by_time);
    size_t half = shuffled ? m.n / 2 : m.n;
    send_month(&m, 0, half);
    int64_t t = now - 9 * 86400;
    char id[32];
    if (shuffled) {
        /* "early": its response first. */
        post_event("early-resp", "sales_touch", NULL, t + 3 * 3600, "early", NULL, "rep-a");
        post_event("early-lead", "lead", NULL, t, "early", NULL, NULL);
        /* "long": a lead with more later events than the index walks, none a response;
         * the tail first. */
        for (int i = 0; i < LONG_TAIL; i++) {
            snprintf(id, sizeof id, "long-v%d", i);
            post_event(id, "custom", NULL, t + 600 + 60 * i, "long", NULL, NULL);
        }
        post_event("long-lead", "form", "lead", t + 60, "long", NULL, NULL);
        /* "twin" and "pair": two leads, joined later by an event carrying both
         * identities, delivered before the earlier lead. */
        post_event("pair-lead", "lead", NULL, t + 7200, "pair", "+390600000001", NULL);
        post_event("join", "custom", NULL, t + 9000, "twin", "+390600000001", NULL);
        post_event("twin-lead", "lead", NULL, t + 3600, "twin", NULL, NULL);
    } else {
        post_event("early-lead", "lead", NULL, t, "early", NULL, NULL);
        post_event("long-lead", "form", "lead", t + 60, "long", NULL, NULL);
        for (int i = 0; i < LONG_TAIL; i++) {
            snprintf(id, sizeof id, "long-v%d", i);
            post_event(id, "custom", NULL, t + 600 + 60 * i, "long", NULL, NULL);
        }
        post_event("twin-lead", "lead", NULL, t + 3600, "twin", NULL, NULL);
        post_event("pair-lead", "lead", NULL, t + 7200, "pair", "+390600000001", NULL);
        post_event("join", "custom", NULL, t + 9000, "twin", "+390600000001", NULL);
        post_event("early-resp", "sales_touch", NULL, t + 3 * 3600, "early", NULL, "rep-a");
    }
    send_month(&m, half, m.n);
    jd_note("sent %zu deliveries (%" PRId64 " events) for %d contacts and the hand-made leads, %s",
            m.n, m.events, CONTACTS, shuffled ? "shuffled" : "in time order");
    sy_month_free(&m);
    JD_REQUIRE(jd_wait_drained(&d, 120) >= 0, "the queue did not drain");
}

/* jd:sla:f whole: its HGETALL reply (the caller frees). */
static redisReply *index_all(void)
{
    redisContext *c = jd_redis_connect(&r);
    redisReply *rr = redisCommand(c, "HGETALL jd:sla:f");
    JD_REQUIRE(rr && rr->type == REDIS_REPLY_ARRAY, "HGETALL jd:sla:f: no array");
    redisFree(c);
    return rr;
}

int main(void)
{
    jd_setup("test_sla_index", 300, 1);
    now = jd_now_s();
    snprintf(sfx, sizeof sfx, "%016" PRIx64, jd_rand());

    /* In time order first: the entries an in-order store builds, and its answers. */
    start();
    load(0);
    redisReply *in_order = index_all();
    struct jd_buf first = {0};
    all_answers(&first);
    jd_daemon_stop(&d);
    jd_redis_shutdown(&r);

    /* Then shuffled, into a new store. */
    start();
    load(1);
    redisReply *shuffled = index_all();
    size_t common = 0;
    for (size_t i = 0; i + 1 < in_order->elements; i += 2)
        for (size_t k = 0; k + 1 < shuffled->elements; k += 2)
            if (strcmp(in_order->element[i]->str, shuffled->element[k]->str) == 0) {
                common++;
                JD_EXPECT(strcmp(in_order->element[i + 1]->str, shuffled->element[k + 1]->str) == 0,
                          "%s: entry %s in order, %s shuffled", in_order->element[i]->str,
                          in_order->element[i + 1]->str, shuffled->element[k + 1]->str);
            }
    jd_note("index entries: %zu in order, %zu shuffled, %zu of them alike", in_order->elements / 2,
            shuffled->elements / 2, common);
    JD_EXPECT(common + 2 >= in_order->elements / 2, "the two orders share only %zu entries of %zu",
              common, in_order->elements / 2);
    freeReplyObject(in_order);
    freeReplyObject(shuffled);
    struct jd_buf second = {0};
    all_answers(&second);
    JD_EXPECT(first.p && second.p && strcmp(first.p, second.p) == 0,
              "the SLA answers depend on the delivery order");
    free(first.p);
    free(second.p);

    char early[64], lng[64], twin[64], pair[64];
    contact_of("early", early, sizeof early);
    contact_of("long", lng, sizeof lng);
    contact_of("twin", twin, sizeof twin);
    contact_of("pair", pair, sizeof pair);
    JD_REQUIRE(early[0] && lng[0] && twin[0], "the hand-made leads have no contact");
    JD_EXPECT(strcmp(twin, pair) == 0, "the joined leads are two contacts: %s %s", twin, pair);
    JD_EXPECT(indexed(early) == 1, "the lead answered out of order is not in the index");
    JD_EXPECT(indexed(lng) == 0, "a lead with %d unanswered events after it is in the index",
              LONG_TAIL);
    JD_EXPECT(indexed(twin) == 1, "the merged lead is not in the index");
    compare("after the month");

    /* The report reads the index: an entry planted for "early" (answered) saying it waits
     * puts it among the waiting leads. */
    redisContext *c = jd_redis_connect(&r);
    redisReply *rr = redisCommand(c, "HGET jd:sla:f %s", early);
    JD_REQUIRE(rr && rr->type == REDIS_REPLY_STRING, "no entry for %s", early);
    char *saved = strdup(rr->str), planted[512];
    freeReplyObject(rr);
    JD_REQUIRE(saved, "out of memory");
    char *tab = strchr(saved, '\t');
    JD_REQUIRE(tab, "an entry without fields: %s", saved);
    snprintf(planted, sizeof planted, "%.*s\t1\t0\tw\t\t\t", (int)(tab - saved), saved);
    redis_ok(c, "HSET jd:sla:f %s %s", early, planted);
    char from[32], to[32], path[512];
    jd_rfc3339(now - 40 * 86400, from, sizeof from);
    jd_rfc3339(now - 3600, to, sizeof to);
    snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s", from, to);
    char *b = get_body(path);
    JD_EXPECT(strstr(b, early) != NULL, "a planted waiting entry is not in the answer");
    free(b);
    redis_ok(c, "HSET jd:sla:f %s %s", early, saved);
    free(saved);
    b = get_body(path);
    JD_EXPECT(strstr(b, early) == NULL, "the answered lead %s is waiting", early);
    free(b);
    redisFree(c);

    /* Journeys change: "early" is erased; "long" gets a response delivered late, before
     * its tail (now within the walk: indexed); a third identity joins "twin" to a new
     * lead; a payment ends another lead's wait. */
    int64_t t = now - 9 * 86400; /* the hand-made leads' day (load) */
    char url[256];
    struct jd_http h = {0};
    const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(url, sizeof url, "%s/v1/contacts/%s", d.base, early);
    JD_EXPECT(jd_http(&h, "DELETE", url, auth, NULL, 0) == 0 && h.status == 200,
              "erasing %s: status %ld", early, h.status);
    jd_http_free(&h);
    post_event("long-resp", "meeting", NULL, t + 300, "long", NULL, "rep-b");
    post_event("third-lead", "lead", NULL, t - 3600, "third", "+390600000001", NULL);
    post_event("pay-first", "payment", NULL, t + 4 * 3600, "pair", NULL, "49000");
    JD_REQUIRE(jd_wait_drained(&d, 60) >= 0, "the queue did not drain");
    JD_EXPECT(indexed(early) == 0, "the erased lead keeps its index entry");
    JD_EXPECT(indexed(lng) == 1, "the answered long lead is not in the index");
    compare("after the changes");

    jd_daemon_stop(&d);
    jd_redis_shutdown(&r);
    return jd_finish();
}
