/*
 * The operator's loop over dead letters (issue 12 item 4, docs/running.md): webhooks of a
 * source that was taken out of the config are dead-lettered ("source no longer
 * configured"), next to Stripe payments the connector refuses. GET /v1/dead lists them
 * oldest first with id, source, reason, first and last attempt and attempts, filtered by
 * source, reason (a case-sensitive substring), time range and ids, in pages that follow
 * a cursor; the raw body only to an admin token. Each request reads a bounded number of
 * entries and hands back a cursor to go on. Once the source is back in the config (a
 * reload), POST /v1/dead/replay by id and then by filter puts them back and they are
 * applied, the refused payments stay, and the per-source byte accounting of the cap is
 * exact afterwards.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_TOKEN "read-token-0123456789abcdef"
#define NSITE 3
#define NSTRIPE 2
#define NDEAD (NSITE + NSTRIPE)
/* Hand-made dead letters of another source, after the real ones: more than one list
 * request reads (its budget is 1,000 entries). */
#define NFILLER 1200

static struct jd_daemon d;

/* Rewrites the harness's config: the read token beside the admin one, the form source
 * "site" kept or not, extra lines (roles) added. */
static void write_conf(const char *base, int with_site, const char *extra)
{
    struct jd_buf b = {0};
    const char *site = strstr(base, "\n[source site]");
    JD_REQUIRE(site, "the harness config has [source site]");
    const char *tok = strstr(base, "api_tokens = " JD_TOKEN "\n");
    JD_REQUIRE(tok && tok < site, "the harness config has its api_tokens line");
    jd_buf_append(&b, base, (size_t)(tok - base));
    jd_buf_printf(&b, "api_tokens = " JD_TOKEN ", read:" READ_TOKEN "\n%s", extra ? extra : "");
    const char *after = tok + strlen("api_tokens = " JD_TOKEN "\n");
    jd_buf_append(&b, after, (size_t)((with_site ? base + strlen(base) : site) - after));
    jd_buf_append(&b, "\n", 1);
    FILE *f = fopen(d.conf, "w");
    JD_REQUIRE(f && fwrite(b.p, 1, b.len, f) == b.len && fclose(f) == 0, "write %s", d.conf);
    jd_buf_free(&b);
}

static cJSON *call(const char *method, const char *path, const char *token, long *status)
{
    char url[1024], auth[96];
    struct jd_http h;
    snprintf(url, sizeof url, "%s%s", d.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    jd_http(&h, method, url, headers, strcmp(method, "POST") == 0 ? "" : NULL, 0);
    *status = h.status;
    cJSON *o = jd_http_json(&h);
    jd_http_free(&h);
    return o;
}

/* GET /v1/dead<query>: the answer, required to be a 200 page. */
static cJSON *list(const char *query, const char *token)
{
    char path[900];
    long status;
    snprintf(path, sizeof path, "/v1/dead%s", query);
    cJSON *o = call("GET", path, token, &status);
    JD_REQUIRE(status == 200 && cJSON_IsArray(cJSON_GetObjectItem(o, "dead_letters")),
               "GET %s: want a 200 page, got %ld %s", path, status, jd_json_brief(o));
    return o;
}

static int page_len(const cJSON *o)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(o, "dead_letters"));
}

static long replay(const char *query, const char *token, long *status)
{
    char path[900];
    snprintf(path, sizeof path, "/v1/dead/replay%s", query);
    cJSON *o = call("POST", path, token, status);
    int ok = 0;
    long n = o ? (long)jd_json_int(cJSON_GetObjectItem(o, "replayed"), &ok) : -1;
    cJSON_Delete(o);
    return ok ? n : -1;
}

/* jd:dead:bytes and the per-source lists equal what the counted entries hold (every field
 * name and value of each, as dead.lua counts them); hand-made ones are not counted. */
static void check_accounting(redisContext *rc, const char *when)
{
    static const char *const sources[] = {"site", "stripe"};
    for (size_t s = 0; s < 2; s++) {
        long long want = 0, counted = 0;
        char last[64] = "-";
        for (int round = 0; round < 100; round++) {
            redisReply *r =
                redisCommand(rc, "XRANGE jd:dead %s%s + COUNT 500", round ? "(" : "", last);
            JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "XRANGE jd:dead");
            for (size_t i = 0; i < r->elements; i++) {
                const redisReply *f = r->element[i]->element[1];
                long long bytes = 0;
                int mine = 0, by_hand = 0;
                for (size_t k = 0; k + 1 < f->elements; k += 2) {
                    bytes += (long long)(f->element[k]->len + f->element[k + 1]->len);
                    if (!strcmp(f->element[k]->str, "src") &&
                        !strcmp(f->element[k + 1]->str, sources[s]))
                        mine = 1;
                    if (!strcmp(f->element[k]->str, "reason") &&
                        !strcmp(f->element[k + 1]->str, "filler"))
                        by_hand = 1;
                }
                if (mine && !by_hand) {
                    want += bytes;
                    counted++;
                }
                snprintf(last, sizeof last, "%s", r->element[i]->element[0]->str);
            }
            size_t n = r->elements;
            freeReplyObject(r);
            if (n < 500)
                break;
        }
        redisReply *r = redisCommand(rc, "HGET jd:dead:bytes %s", sources[s]);
        long long got = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
        freeReplyObject(r);
        JD_EXPECT(got == want, "%s: jd:dead:bytes %s = %lld, its counted entries hold %lld", when,
                  sources[s], got, want);
        char cmd[64];
        snprintf(cmd, sizeof cmd, "LLEN jd:dead:ids:%s", sources[s]);
        long long len = jd_redis_int(rc, cmd);
        JD_EXPECT(len == counted, "%s: jd:dead:ids:%s holds %lld, want %lld", when, sources[s], len,
                  counted);
    }
}

/* Stream id a comes before b. */
static int id_before(const char *a, const char *b)
{
    char *ea, *eb;
    unsigned long long ma = strtoull(a, &ea, 10), mb = strtoull(b, &eb, 10);
    if (ma != mb)
        return ma < mb;
    return strtoull(ea + 1, NULL, 10) < strtoull(eb + 1, NULL, 10);
}

static long journey_status(const char *email)
{
    long status;
    cJSON *j = jd_journey(&d, "email", email, &status);
    cJSON_Delete(j);
    return status;
}

static void post_lead(int i)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"email\":\"lead%d@example.com\",\"name\":\"Lead %d\",\"submission_id\":\"dl-%d\"}",
             i, i, i);
    struct jd_http h;
    jd_post_form(&d, body, "application/json", &h);
    JD_REQUIRE(h.status == 200, "form lead %d: want 200 (queued), got %ld", i, h.status);
    jd_http_free(&h);
}

/* A signed Stripe payment without a currency: the connector refuses it. */
static void post_poison(int i)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"id\":\"evt_dl%d\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_dl%d\",\"amount_total\":100,"
             "\"customer_details\":{\"email\":\"payer%d@example.com\"},\"payment_intent\":"
             "\"pi_dl%d\"}}}",
             i, (long long)jd_now_s(), i, i, i);
    struct jd_http h;
    jd_post_stripe(&d, body, &h);
    JD_REQUIRE(h.status == 200, "poison %d: want 200 (queued), got %ld", i, h.status);
    jd_http_free(&h);
}

/* Follows next_cursor from `query` (from the url-encoded `cursor`, when not NULL) and
 * collects the ids; returns how many. */
static int walk(const char *query, const char *cursor, char ids[][48], int max, int *pages)
{
    char q[900];
    int n = 0;
    if (cursor)
        snprintf(q, sizeof q, "%s%scursor=%s", query, strchr(query, '?') ? "&" : "?", cursor);
    else
        snprintf(q, sizeof q, "%s", query);
    for (*pages = 0; *pages < 50; (*pages)++) {
        cJSON *o = list(q, JD_TOKEN);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "dead_letters"))
        {
            if (n < max)
                snprintf(ids[n], 48, "%s", jd_json_str(e, "id"));
            n++;
        }
        int ok = 0;
        long long scanned = jd_json_int(cJSON_GetObjectItem(o, "scanned"), &ok);
        JD_EXPECT(ok && scanned <= 1000, "a request reads at most 1,000 entries: %lld", scanned);
        const char *next = jd_json_str(o, "next_cursor");
        if (!next) {
            cJSON_Delete(o);
            (*pages)++;
            return n;
        }
        char enc[200];
        jd_urlencode(next, enc, sizeof enc);
        snprintf(q, sizeof q, "%s%scursor=%s", query, strchr(query, '?') ? "&" : "?", enc);
        cJSON_Delete(o);
    }
    JD_EXPECT(0, "%s: the cursor never ran out", query);
    return n;
}

int main(void)
{
    jd_setup("dead_loop", 300, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&d, redis.port, "max_deliveries = 2");
    char *base = jd_slurp(d.conf);
    JD_REQUIRE(base, "read the harness config");
    redisContext *rc = jd_redis_connect(&redis);

    /* 1. Webhooks queued while no worker runs ... */
    write_conf(base, 1, "roles = ingest, api\n");
    jd_daemon_start(&d, 1);
    for (int i = 1; i <= NSITE; i++)
        post_lead(i);
    for (int i = 1; i <= NSTRIPE; i++)
        post_poison(i);
    jd_daemon_stop(&d);
    JD_REQUIRE(jd_redis_int(rc, "XLEN jd:raw") == NDEAD, "the webhooks wait in jd:raw");

    /* ... and applied by a daemon whose config lost the form source: dead letters. */
    int64_t before_ms = jd_now_s() * 1000 - 1000;
    write_conf(base, 0, NULL);
    jd_daemon_start(&d, 1);
    long dead = jd_wait_drained(&d, 60);
    JD_REQUIRE(dead == NDEAD, "%d dead letters, got %ld", NDEAD, dead);
    check_accounting(rc, "after dead-lettering");

    /* 2. The list, oldest first, everything an operator needs; the body to admin. */
    cJSON *all = list("", JD_TOKEN);
    JD_REQUIRE(page_len(all) == NDEAD, "GET /v1/dead lists %d: %s", NDEAD, jd_json_brief(all));
    JD_EXPECT(!jd_json_str(all, "next_cursor"), "one page holds them all: no cursor");
    char ids[NDEAD][48], site_ids[NSITE][48];
    int nsite = 0;
    const cJSON *e;
    int k = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(all, "dead_letters"))
    {
        const char *id = jd_json_str(e, "id"), *src = jd_json_str(e, "source");
        const char *reason = jd_json_str(e, "reason"), *body = jd_json_str(e, "body");
        const char *first = jd_json_str(e, "first_attempt"), *last = jd_json_str(e, "last_attempt");
        int ok = 0;
        long long attempts = jd_json_int(cJSON_GetObjectItem(e, "attempts"), &ok);
        JD_REQUIRE(id && src && reason && first && last, "a dead letter's fields: %s",
                   jd_json_brief(e));
        snprintf(ids[k], sizeof ids[k], "%s", id);
        JD_EXPECT(k == 0 || id_before(ids[k - 1], id), "oldest first: %s after %s", id, ids[k - 1]);
        JD_EXPECT(ok && attempts >= 1, "attempts: %s", jd_json_brief(e));
        int64_t f = 0, l = 0;
        JD_EXPECT(jd_parse_rfc3339(first, &f) == 0 && jd_parse_rfc3339(last, &l) == 0 && f <= l &&
                      f * 1000 >= before_ms - 60000,
                  "first attempt (received) <= last attempt (dead-lettered): %s", jd_json_brief(e));
        JD_EXPECT(body, "an admin token sees the body: %s", jd_json_brief(e));
        if (strcmp(src, "site") == 0) {
            JD_EXPECT(strstr(reason, "no longer configured"), "the site's reason: %s", reason);
            JD_EXPECT(body && strstr(body, "@example.com"), "the lead's body: %s", body);
            if (nsite < NSITE)
                snprintf(site_ids[nsite++], sizeof site_ids[0], "%s", id);
        } else {
            JD_EXPECT(strcmp(src, "stripe") == 0 && strstr(reason, "evt_dl"),
                      "a refused payment names its event: %s", jd_json_brief(e));
        }
        k++;
    }
    JD_REQUIRE(nsite == NSITE, "%d dead letters of site, got %d", NSITE, nsite);
    cJSON_Delete(all);

    /* A read token sees everything but the raw webhook. */
    cJSON *ro = list("", READ_TOKEN);
    JD_EXPECT(page_len(ro) == NDEAD, "the read token lists them too");
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ro, "dead_letters"))
    {
        int ok = 0;
        JD_EXPECT(!cJSON_GetObjectItem(e, "body") && !cJSON_GetObjectItem(e, "body_base64") &&
                      !cJSON_GetObjectItem(e, "headers"),
                  "no body or headers for a read token: %s", jd_json_brief(e));
        JD_EXPECT(jd_json_str(e, "reason") &&
                      jd_json_int(cJSON_GetObjectItem(e, "body_bytes"), &ok) > 0 && ok,
                  "but the reason and the body's size: %s", jd_json_brief(e));
    }
    char *text = jd_json_print(ro);
    JD_EXPECT(text && !strstr(text, "@example.com"), "no personal data for a read token");
    cJSON_free(text);
    cJSON_Delete(ro);

    /* Filters. */
    cJSON *o = list("?source=site", READ_TOKEN);
    JD_EXPECT(page_len(o) == NSITE, "source=site: %d", page_len(o));
    cJSON_Delete(o);
    o = list("?source=stripe", READ_TOKEN);
    JD_EXPECT(page_len(o) == NSTRIPE, "source=stripe: %d", page_len(o));
    cJSON_Delete(o);
    o = list("?reason=longer%20config", READ_TOKEN);
    JD_EXPECT(page_len(o) == NSITE, "reason: a substring: %d", page_len(o));
    cJSON_Delete(o);
    o = list("?reason=NO%20LONGER", READ_TOKEN);
    JD_EXPECT(page_len(o) == 0, "reason: case-sensitive: %d", page_len(o));
    cJSON_Delete(o);
    o = list("?source=stripe&reason=evt_dl2", READ_TOKEN);
    JD_EXPECT(page_len(o) == 1, "source and reason together: %d", page_len(o));
    cJSON_Delete(o);
    char q[900], t1[32], t2[32];
    jd_rfc3339(jd_now_s() - 3600, t1, sizeof t1);
    jd_rfc3339(jd_now_s() + 3600, t2, sizeof t2);
    snprintf(q, sizeof q, "?from=%s&to=%s", t1, t2);
    o = list(q, READ_TOKEN);
    JD_EXPECT(page_len(o) == NDEAD, "from/to around now: %d", page_len(o));
    cJSON_Delete(o);
    snprintf(q, sizeof q, "?to=%s", t1);
    o = list(q, READ_TOKEN);
    JD_EXPECT(page_len(o) == 0, "to an hour ago: %d", page_len(o));
    cJSON_Delete(o);
    snprintf(q, sizeof q, "?from=%s", t2);
    o = list(q, READ_TOKEN);
    JD_EXPECT(page_len(o) == 0, "from in an hour: %d", page_len(o));
    cJSON_Delete(o);
    snprintf(q, sizeof q, "?ids=%s,%s", ids[4], ids[0]);
    o = list(q, READ_TOKEN);
    JD_EXPECT(page_len(o) == 2, "ids=: those two: %d", page_len(o));
    cJSON_Delete(o);
    long status;
    o = call("GET", "/v1/dead?limit=0", READ_TOKEN, &status);
    JD_EXPECT(status == 400, "limit=0: 400, got %ld", status);
    cJSON_Delete(o);
    o = call("GET", "/v1/dead?cursor=nonsense", READ_TOKEN, &status);
    JD_EXPECT(status == 400, "a bad cursor: 400, got %ld", status);
    cJSON_Delete(o);
    snprintf(q, sizeof q, "/v1/dead?from=%s&to=%s", t2, t1);
    o = call("GET", q, READ_TOKEN, &status);
    JD_EXPECT(status == 400, "from after to: 400, got %ld", status);
    cJSON_Delete(o);

    /* Pages of two: the same ids in the same order, three pages. */
    char walked[NDEAD + 2][48];
    int pages = 0;
    int n = walk("?limit=2", NULL, walked, NDEAD + 2, &pages);
    JD_EXPECT(n == NDEAD && pages == 3, "limit=2: %d entries in %d pages", n, pages);
    for (int i = 0; i < NDEAD && i < n; i++)
        JD_EXPECT(strcmp(walked[i], ids[i]) == 0, "page order: %s, want %s", walked[i], ids[i]);

    /* A cursor continues the selection as it was when it began: a dead letter added
     * between two pages is not in it (a fresh listing shows it). */
    o = list("?limit=2", JD_TOKEN);
    const char *next = jd_json_str(o, "next_cursor");
    JD_REQUIRE(next, "limit=2: a cursor");
    char cur[200], late_id[64];
    jd_urlencode(next, cur, sizeof cur);
    cJSON_Delete(o);
    /* (Made by hand with bytes that are not text: a reason that is not UTF-8, a body
     * with a NUL.) */
    static const char late_body[] = {'a', '\0', (char)0xff};
    redisReply *x = redisCommand(rc,
                                 "XADD jd:dead * entry 1-1 reason %b src late type form "
                                 "recv 1 body %b",
                                 "late \xff", (size_t)6, late_body, sizeof late_body);
    JD_REQUIRE(x && x->type == REDIS_REPLY_STRING, "XADD late");
    snprintf(late_id, sizeof late_id, "%s", x->str);
    freeReplyObject(x);
    n = walk("?limit=2", cur, walked, NDEAD + 2, &pages);
    JD_EXPECT(n == NDEAD - 2, "the rest of the walk: %d, without the late one", n);
    o = list("", JD_TOKEN);
    JD_EXPECT(page_len(o) == NDEAD + 1, "a fresh listing has the late one: %d", page_len(o));
    const cJSON *late = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "dead_letters"), NDEAD);
    const char *b64 = jd_json_str(late, "body_base64"), *why = jd_json_str(late, "reason");
    JD_EXPECT(b64 && strcmp(b64, "YQD/") == 0 && !cJSON_GetObjectItem(late, "body"),
              "a body that is not text comes as base64: %s", jd_json_brief(late));
    JD_EXPECT(why && strcmp(why, "late ?") == 0, "a reason that is not UTF-8 is made text: %s",
              jd_json_brief(late));
    cJSON_Delete(o);
    snprintf(q, sizeof q, "/v1/dead/%s", late_id);
    o = call("DELETE", q, JD_TOKEN, &status);
    JD_EXPECT(status == 200, "discarding the late one: %ld", status);
    cJSON_Delete(o);

    /* A filtered list over more entries than one request reads: it stops at the budget
     * with a cursor, and the cursor goes on to the end. */
    for (int i = 0; i < NFILLER; i++)
        redisAppendCommand(rc,
                           "XADD jd:dead * entry 1-%d reason filler deliveries 1 src other "
                           "type form recv 1 body {}",
                           i + 1);
    for (int i = 0; i < NFILLER; i++) {
        redisReply *r = NULL;
        JD_REQUIRE(redisGetReply(rc, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_STRING,
                   "XADD filler");
        freeReplyObject(r);
    }
    char found[4][48];
    n = walk("?source=nowhere", NULL, found, 4, &pages);
    JD_EXPECT(n == 0 && pages == 2, "source=nowhere over %d entries: %d found in %d requests",
              NFILLER + NDEAD, n, pages);
    /* Found at once, but whether more follow is known only by reading on. */
    o = list("?source=stripe&limit=500", READ_TOKEN);
    JD_EXPECT(page_len(o) == NSTRIPE && jd_json_str(o, "next_cursor"),
              "the stripe ones come first: %d, then a cursor", page_len(o));
    cJSON_Delete(o);

    /* 3. Replay: forbidden to a read token; then the fix (the source is back, a reload)
     * and the replay of one by id, then the rest by filter. */
    JD_EXPECT(replay("", READ_TOKEN, &status) == -1 && status == 403,
              "replay with a read token: %ld", status);
    long long reloads = jd_metric(&d, "journeyd_reloads_total");
    write_conf(base, 1, NULL);
    jd_daemon_signal(&d, SIGHUP);
    for (int i = 0; i < 100 && jd_metric(&d, "journeyd_reloads_total") <= reloads; i++)
        jd_sleep_ms(50);
    JD_REQUIRE(jd_metric(&d, "journeyd_reloads_total") > reloads, "the reload took");

    JD_EXPECT(journey_status("lead1@example.com") == 404, "lead1 not applied before the replay");
    /* The id twice: replayed once. */
    snprintf(q, sizeof q, "?ids=%s,%s", site_ids[0], site_ids[0]);
    long got = replay(q, JD_TOKEN, &status);
    JD_EXPECT(status == 200 && got == 1, "replay by id: %ld %ld", status, got);
    got = replay(q, JD_TOKEN, &status);
    JD_EXPECT(status == 200 && got == 0, "replaying it again: nothing (%ld)", got);
    jd_wait_drained(&d, 60);
    JD_EXPECT(journey_status("lead1@example.com") == 200, "lead1 applied after its replay");
    JD_EXPECT(journey_status("lead2@example.com") == 404, "lead2 still waits");
    check_accounting(rc, "after a replay by id");

    got = replay("?reason=no%20match%20anywhere", JD_TOKEN, &status);
    JD_EXPECT(status == 200 && got == 0, "a filter that matches nothing replays nothing: %ld", got);
    got = replay("?source=site&reason=no%20longer%20configured", JD_TOKEN, &status);
    JD_EXPECT(status == 200 && got == NSITE - 1, "replay by filter: %ld %ld", status, got);
    dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == NSTRIPE + NFILLER, "the refused payments and the filler stay: %ld", dead);
    for (int i = 2; i <= NSITE; i++) {
        char email[64];
        snprintf(email, sizeof email, "lead%d@example.com", i);
        JD_EXPECT(journey_status(email) == 200, "%s applied after the replay", email);
    }
    check_accounting(rc, "after a replay by filter");
    o = list("?source=site", JD_TOKEN);
    JD_EXPECT(page_len(o) == 0, "no site dead letters left");
    cJSON_Delete(o);

    /* count= keeps working: the oldest one, a refused payment, comes back with its reason. */
    got = replay("?count=1", JD_TOKEN, &status);
    JD_EXPECT(status == 200 && got == 1, "count=1: %ld", got);
    dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == NSTRIPE + NFILLER, "it failed again and is back: %ld", dead);
    /* The one replayed is now the newest, behind the filler: the cursor reaches it. */
    n = walk("?source=stripe", NULL, found, 4, &pages);
    JD_EXPECT(n == NSTRIPE && pages == 2, "both payments listed: %d in %d requests", n, pages);
    check_accounting(rc, "after a failed replay");

    free(base);
    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
