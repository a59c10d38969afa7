/*
 * journeyd's provider look-ups (daemon/outbound.c driven by the worker) against a fake
 * Graph API, through a meta_leads source, one lead per webhook:
 *
 *   1. 429 + Retry-After: 1, then 200: applied after exactly two requests, the second at
 *      least ~1 s after the first (Retry-After honoured; the configured backoff is 100 ms).
 *   2. 500, 500, then 200 with outbound_attempts = 3: applied after three requests.
 *   3. 404: a permanent answer; the entry goes to jd:dead with a reason naming the lead
 *      and 404, is asked for once, and a later good lead is applied.
 *   4. outbound_max_transfers = 2: ten leads at once to a route that answers in 300 ms are
 *      all applied and the fake never sees more than two requests at a time.
 *   5. /metrics counts the look-ups: ok > 0, permanent_error >= 1.
 *   6. A route that never answers within outbound_timeout (1 s) on any attempt: the
 *      webhook is neither lost nor dead-lettered at once; it stays pending, is tried again
 *      after claim_idle, and is applied once the fake answers.
 */
#include "fake_api.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_SECRET "meta_test_app_secret"
#define META_TOKEN "meta-token"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static struct jd_redis redis;
static uint64_t lead_base; /* 15-digit lead ids, unique per run */
static int64_t t0_s;       /* provider times: created_time = t0_s + n */

static void lead_id(char *out, size_t outlen, unsigned n)
{
    snprintf(out, outlen, "%" PRIu64, lead_base + n);
}

/* Lead ids are 15 digits (lead_id) or short test names; the bound tells the compiler so,
 * which keeps -Wformat-truncation quiet in optimized builds. */
#define ID_MAX 40

/* The Graph API's lead object for the lead (email and campaign derived from the id). */
static void graph_body(char *out, size_t outlen, const char *id)
{
    snprintf(out, outlen,
             "{\"id\":\"%.*s\",\"created_time\":\"2026-09-01T10:00:00+0000\","
             "\"ad_id\":\"238%.*s\",\"ad_name\":\"Ad %.*s\",\"adset_id\":\"239%.*s\","
             "\"adset_name\":\"Adset\",\"campaign_id\":\"237%.*s\","
             "\"campaign_name\":\"outbound_campaign\",\"form_id\":\"555\","
             "\"field_data\":[{\"name\":\"email\",\"values\":[\"lead%.*s@example.com\"]},"
             "{\"name\":\"full_name\",\"values\":[\"Lead %.*s\"]}]}",
             ID_MAX, id, ID_MAX, id, ID_MAX, id, ID_MAX, id, ID_MAX, id, ID_MAX, id, ID_MAX, id);
}

/* A route for GET /v19.0/<id>?… (the '?' keeps one id from prefixing another). */
static int lead_route(const char *id)
{
    char target[400];
    snprintf(target, sizeof target, "/v19.0/%.320s?", id);
    return fake_api_route(fake, "GET", target, FAKE_PREFIX);
}

static void reply_graph(int route, const char *id, int delay_ms)
{
    char body[2048];
    graph_body(body, sizeof body, id);
    fake_api_reply(fake, route, 200, NULL, body, delay_ms);
}

/* POST /hooks/meta with one lead, signed the way Meta signs (X-Hub-Signature-256). */
static void post_lead(const char *id, unsigned n)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"object\":\"page\",\"entry\":[{\"id\":\"153125381133\",\"time\":%" PRId64
             ",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":%s,"
             "\"page_id\":153125381133,\"form_id\":555,\"adgroup_id\":239%s,"
             "\"ad_id\":238%s,\"created_time\":%" PRId64 "}}]}]}",
             t0_s + n, id, id, id, t0_s + n);
    struct jd_http h;
    jd_post_meta(&daemon_, "meta", META_SECRET, body, &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/meta (lead %s): want 200, got %ld (curl %d): %.300s",
               id, h.status, h.curl_code, h.body ? h.body : "");
    jd_http_free(&h);
}

/* 1 when GET /v1/journey?identity=meta_lead:<id> answers 200 with the lead's event. */
static int lead_applied(const char *id)
{
    char ident[128], evid[128];
    snprintf(ident, sizeof ident, "meta_lead:%.*s", ID_MAX, id);
    snprintf(evid, sizeof evid, "meta_leads:%.*s", ID_MAX, id);
    long st = 0;
    cJSON *j = jd_journey(&daemon_, "identity", ident, &st);
    int ok = j && jd_count_event(j, evid) == 1;
    cJSON_Delete(j);
    return ok;
}

static int wait_applied(const char *id, int timeout_s)
{
    int64_t deadline = jd_mono_ms() + (int64_t)timeout_s * 1000;
    while (jd_mono_ms() < deadline) {
        if (lead_applied(id))
            return 1;
        jd_sleep_ms(100);
    }
    return 0;
}

/* Looks for a dead letter whose fields mention needle (the raw body holds the lead id);
 * copies its reason. Returns the number of such entries. */
static int find_dead(const char *needle, char *reason, size_t reasonlen)
{
    redisContext *c = jd_redis_connect(&redis);
    redisReply *r = redisCommand(c, "XRANGE jd:dead - +");
    int found = 0;
    if (reason && reasonlen)
        reason[0] = '\0';
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            const redisReply *f = e->element[1];
            int hit = 0;
            const char *why = NULL;
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                if (f->element[k]->type != REDIS_REPLY_STRING ||
                    f->element[k + 1]->type != REDIS_REPLY_STRING)
                    continue;
                if (strstr(f->element[k + 1]->str, needle))
                    hit = 1;
                if (strcmp(f->element[k]->str, "reason") == 0)
                    why = f->element[k + 1]->str;
            }
            if (hit) {
                found++;
                if (reason && reasonlen && why)
                    snprintf(reason, reasonlen, "%s", why);
            }
        }
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return found;
}

/* Entries of jd:raw pending in the consumer group. */
static long long pending_count(void)
{
    redisContext *c = jd_redis_connect(&redis);
    long long n = jd_redis_pending(c);
    redisFree(c);
    return n;
}

/* Checks that every request of the fake for this route carried the bearer token. */
static void expect_auth(int route, const char *ctx)
{
    size_t n = fake_api_nrequests(fake);
    for (size_t i = 0; i < n; i++) {
        struct fake_request r;
        char v[256];
        if (fake_api_request(fake, i, &r) != 0 || r.route != route)
            continue;
        const char *got = fake_request_header(&r, "Authorization", v, sizeof v);
        JD_EXPECT(got && strcmp(got, "Bearer " META_TOKEN) == 0,
                  "%s: GET %s carried Authorization \"%s\", want \"Bearer " META_TOKEN "\"", ctx,
                  r.target, got ? got : "(none)");
    }
}

/* Arrival times of the route's requests, in order; returns how many were copied. */
static size_t route_times(int route, int64_t *at, size_t max)
{
    size_t n = fake_api_nrequests(fake), k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 && r.route == route)
            at[k++] = r.at_ms;
    }
    return k;
}

/* The most requests of one route that were in flight at the same time: one webhook's
 * look-up of one lead is sequential (attempt after attempt), so more than 1 means the
 * same entry was being processed twice at once. Also prints the route's timeline. */
static int route_max_overlap(int route, const char *ctx, int verbose)
{
    size_t n = fake_api_nrequests(fake);
    struct fake_request *v = calloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    JD_REQUIRE(v, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (fake_api_request(fake, i, &v[k]) == 0 && v[k].route == route)
            k++;
    int best = k ? 1 : 0;
    for (size_t i = 0; i < k; i++) {
        int c = 0;
        for (size_t j = 0; j < k; j++)
            if (v[j].at_ms <= v[i].at_ms && (v[j].end_ms == 0 || v[i].at_ms < v[j].end_ms))
                c++;
        if (c > best)
            best = c;
        if (verbose)
            jd_note("%s: request %zu at +%" PRId64 " ms, %s after %" PRId64 " ms", ctx, i,
                    v[i].at_ms - v[0].at_ms,
                    v[i].end_ms == 0 ? "still open"
                    : v[i].aborted   ? "client left"
                                     : "answered",
                    v[i].end_ms ? v[i].end_ms - v[i].at_ms : 0);
    }
    free(v);
    return best;
}

static void case_retry_after(void)
{
    char id[32], ctx[64];
    lead_id(id, sizeof id, 1);
    snprintf(ctx, sizeof ctx, "429 then 200 (lead %s)", id);
    int route = lead_route(id);
    fake_api_reply(fake, route, 429, "Retry-After: 1\r\n",
                   "{\"error\":{\"message\":\"(#4) Application request limit reached\","
                   "\"type\":\"OAuthException\",\"code\":4}}",
                   0);
    reply_graph(route, id, 0);
    post_lead(id, 1);
    JD_EXPECT(wait_applied(id, 20), "%s: the lead was not applied within 20 s", ctx);
    JD_EXPECT(fake_api_hits(fake, route) == 2, "%s: the fake saw %zu requests, want exactly 2", ctx,
              fake_api_hits(fake, route));
    int64_t at[8];
    size_t n = route_times(route, at, 8);
    if (n >= 2) {
        int64_t gap = at[1] - at[0];
        jd_note("%s: second request %" PRId64 " ms after the first", ctx, gap);
        /* A behaviour check, not a performance threshold: the retry must not come before
         * the Retry-After the provider asked for (backoff alone would be 100 ms). */
        JD_EXPECT(gap >= 950,
                  "%s: the retry came %" PRId64 " ms after the 429, want >= 1000 (Retry-After: 1)",
                  ctx, gap);
    }
    expect_auth(route, ctx);
}

static void case_5xx(void)
{
    char id[32], ctx[64];
    lead_id(id, sizeof id, 2);
    snprintf(ctx, sizeof ctx, "500, 500, 200 (lead %s)", id);
    int route = lead_route(id);
    fake_api_reply(fake, route, 500, NULL, "{\"error\":{\"message\":\"An unknown error\"}}", 0);
    fake_api_reply(fake, route, 500, NULL, "{\"error\":{\"message\":\"An unknown error\"}}", 0);
    reply_graph(route, id, 0);
    post_lead(id, 2);
    JD_EXPECT(wait_applied(id, 20), "%s: the lead was not applied within 20 s", ctx);
    JD_EXPECT(fake_api_hits(fake, route) == 3, "%s: the fake saw %zu requests, want exactly 3", ctx,
              fake_api_hits(fake, route));
    JD_EXPECT(find_dead(id, NULL, 0) == 0, "%s: the lead was dead-lettered", ctx);
    expect_auth(route, ctx);
}

static void case_404(void)
{
    char bad[32], good[32], ctx[64], reason[512];
    lead_id(bad, sizeof bad, 3);
    lead_id(good, sizeof good, 4);
    snprintf(ctx, sizeof ctx, "404 (lead %s)", bad);
    int rbad = lead_route(bad);
    fake_api_reply(fake, rbad, 404, NULL,
                   "{\"error\":{\"message\":\"Unsupported get request. Object does not exist\","
                   "\"type\":\"GraphMethodException\",\"code\":100,\"error_subcode\":33}}",
                   0);
    int rgood = lead_route(good);
    reply_graph(rgood, good, 0);
    post_lead(bad, 3);
    post_lead(good, 4);
    JD_EXPECT(wait_applied(good, 20), "%s: the good lead %s after it was not applied within 20 s",
              ctx, good);
    int64_t deadline = jd_mono_ms() + 15000;
    int found = 0;
    while (jd_mono_ms() < deadline && !(found = find_dead(bad, reason, sizeof reason)))
        jd_sleep_ms(100);
    JD_EXPECT(found == 1, "%s: want exactly one entry for the lead in jd:dead, found %d", ctx,
              found);
    if (found) {
        jd_note("%s: dead-letter reason \"%s\"", ctx, reason);
        JD_EXPECT(strstr(reason, bad) && strstr(reason, "404"),
                  "%s: dead-letter reason \"%s\" should name the lead and 404", ctx, reason);
    }
    JD_EXPECT(!lead_applied(bad), "%s: a lead the Graph API does not know was applied", ctx);
    /* 404 is permanent: asking again cannot help. */
    JD_EXPECT(fake_api_hits(fake, rbad) == 1, "%s: the fake saw %zu requests, want 1", ctx,
              fake_api_hits(fake, rbad));
    expect_auth(rbad, ctx);
}

static void case_concurrency(void)
{
    char blocker[32], ids[10][32], ctx[64] = "max_transfers 2";
    /* A first lead whose look-up takes 800 ms keeps the worker busy while the ten are
     * queued, so that they reach it in one batch instead of one by one. */
    lead_id(blocker, sizeof blocker, 10);
    int rb = lead_route(blocker);
    reply_graph(rb, blocker, 800);
    int routes[10];
    for (unsigned i = 0; i < 10; i++) {
        lead_id(ids[i], sizeof ids[i], 11 + i);
        routes[i] = lead_route(ids[i]);
        reply_graph(routes[i], ids[i], 300);
    }
    fake_api_reset_max_concurrent(fake);
    post_lead(blocker, 10);
    /* Wait until its look-up is running. */
    int64_t deadline = jd_mono_ms() + 10000;
    while (fake_api_hits(fake, rb) == 0 && jd_mono_ms() < deadline)
        jd_sleep_ms(10);
    for (unsigned i = 0; i < 10; i++)
        post_lead(ids[i], 11 + i);
    JD_EXPECT(wait_applied(blocker, 20), "%s: lead %s not applied", ctx, blocker);
    for (unsigned i = 0; i < 10; i++) {
        JD_EXPECT(wait_applied(ids[i], 20), "%s: lead %s not applied", ctx, ids[i]);
        /* Not a failure here (it depends on timing): the batch takes longer than
         * claim_idle, and the sweep may claim entries whose look-ups are still queued.
         * case_timeout checks that deterministically. */
        if (fake_api_hits(fake, routes[i]) != 1)
            jd_note("%s: NOTE lead %s was looked up %zu times (one webhook)", ctx, ids[i],
                    fake_api_hits(fake, routes[i]));
    }
    int maxc = fake_api_max_concurrent(fake);
    jd_note("%s: the fake saw at most %d look-ups at once", ctx, maxc);
    JD_EXPECT(maxc >= 1 && maxc <= 2, "%s: the fake saw %d look-ups at once, want at most 2", ctx,
              maxc);
}

/* Value of a sample line "<series> <value>" in the exposition; -1 when absent. */
static long long metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static void case_metrics(void)
{
    struct jd_http h;
    jd_get_auth(&daemon_, "/metrics", &h);
    JD_REQUIRE(h.status == 200 && h.body, "GET /metrics: want 200, got %ld", h.status);
    long long ok = metric(h.body, "journeyd_outbound_transfers_total{result=\"ok\"}");
    long long perm =
        metric(h.body, "journeyd_outbound_transfers_total{result=\"permanent_error\"}");
    jd_note("/metrics: outbound ok %lld, permanent_error %lld", ok, perm);
    /* 1 (429 case) + 1 (5xx case) + 1 (404 case's good lead) + 11 (concurrency case). */
    JD_EXPECT(ok >= 14,
              "/metrics: journeyd_outbound_transfers_total{result=\"ok\"} is %lld, want "
              ">= 14",
              ok);
    JD_EXPECT(perm >= 1,
              "/metrics: journeyd_outbound_transfers_total{result=\"permanent_error\"} is %lld, "
              "want >= 1",
              perm);
    /* The 429 once and the 500 twice were each retried. */
    long long retries = metric(h.body, "journeyd_outbound_retries_total");
    JD_EXPECT(retries >= 3, "/metrics: journeyd_outbound_retries_total is %lld, want >= 3",
              retries);
    jd_http_free(&h);
}

static void case_timeout(void)
{
    char id[32], ctx[64], reason[512];
    lead_id(id, sizeof id, 30);
    snprintf(ctx, sizeof ctx, "no answer in time (lead %s)", id);
    int route = lead_route(id);
    /* Slower than outbound_timeout on every attempt. */
    reply_graph(route, id, 5000);
    int64_t start = jd_mono_ms();
    post_lead(id, 30);
    /* One delivery's whole look-up budget: 3 attempts x 1 s + 100 + 200 ms of backoff. */
    int64_t deadline = start + 20000;
    while ((fake_api_hits(fake, route) < 3 || jd_mono_ms() < start + 3500) &&
           jd_mono_ms() < deadline)
        jd_sleep_ms(50);
    jd_note("%s: %zu requests in %" PRId64 " ms", ctx, fake_api_hits(fake, route),
            jd_mono_ms() - start);
    JD_EXPECT(fake_api_hits(fake, route) >= 3,
              "%s: the fake saw %zu requests, want >= 3 (outbound_attempts = 3)", ctx,
              fake_api_hits(fake, route));
    int dead = find_dead(id, reason, sizeof reason);
    JD_EXPECT(dead == 0,
              "%s: dead-lettered %" PRId64 " ms after it arrived, while the provider was only "
              "slow (reason \"%s\")",
              ctx, jd_mono_ms() - start, reason);
    JD_EXPECT(!lead_applied(id), "%s: applied although no look-up succeeded", ctx);
    long long pend = pending_count();
    JD_EXPECT(dead || pend >= 1, "%s: the entry is neither pending (XPENDING says %lld) nor dead",
              ctx, pend);

    /* The provider recovers. */
    fake_api_clear_replies(fake, route);
    reply_graph(route, id, 0);
    size_t before = fake_api_hits(fake, route);
    int applied = wait_applied(id, 30);
    JD_EXPECT(applied, "%s: not applied within 30 s after the fake answered again", ctx);
    JD_EXPECT(fake_api_hits(fake, route) > before, "%s: no look-up after the fake recovered", ctx);
    if (!dead) {
        dead = find_dead(id, reason, sizeof reason);
        JD_EXPECT(dead == 0, "%s: dead-lettered after all (reason \"%s\")", ctx, reason);
    }
    jd_note("%s: applied after %" PRId64 " ms, %zu requests in all", ctx, jd_mono_ms() - start,
            fake_api_hits(fake, route));
    int ov = route_max_overlap(route, ctx, 1);
    JD_EXPECT(ov <= 1,
              "%s: %d look-ups of the lead were in flight at once: the one webhook was being "
              "processed several times in parallel",
              ctx, ov);
}

int main(void)
{
    jd_setup("outbound", 240, 1);
    lead_base = 100000000000000ULL + (jd_rand() % 800000000000000ULL);
    lead_base -= lead_base % 1000; /* room for the case numbers */
    t0_s = jd_now_s() - 86400;
    fake = fake_api_start();
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port,
                     "outbound_timeout = 1s\n"
                     "outbound_attempts = 3\n"
                     "outbound_backoff = 100ms\n"
                     "outbound_max_transfers = 2\n"
                     "max_deliveries = 3\n");
    jd_daemon_config_append(&daemon_,
                            "\n[source meta]\n"
                            "type = meta_leads\n"
                            "secret = " META_SECRET "\n"
                            "verify_token = meatyhamhock\n"
                            "api_token = " META_TOKEN "\n"
                            "api_base = %s/v19.0\n",
                            fake_api_base(fake));
    jd_daemon_start(&daemon_, 1);

    case_retry_after();
    case_5xx();
    case_404();
    case_concurrency();
    case_metrics();
    case_timeout();

    jd_daemon_stop(&daemon_);
    fake_api_stop(fake);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
