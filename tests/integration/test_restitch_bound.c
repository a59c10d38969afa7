/*
 * Re-stitching cannot block Redis (issue 11 item 6, DESIGN §2b, §4). Two contacts with a
 * merge-protection conflict (hubspot_contact 101 and 202 both claim x@example.com) grow
 * to a few thousand events through POST /v1/events batches of 250. Each batch arrives in
 * reverse journey order, so every event but the first of a batch is late for the contact
 * it joins and, on the old code, re-applied the whole history of both contacts in one
 * script call. Measured on the real redis-server: no command over 50 ms in SLOWLOG
 * (threshold set and the log reset before the measured phase; every command counts, not
 * only the EVALSHA of apply.lua) and no 503. Then a second redis-server and journeyd get
 * the same events in journey order, and the journeys and conflicts of both contacts must
 * be the same (without `merged_from` and each event's `raw`, which record history).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEVENTS 3000
#define BATCH 250

static int64_t t0;

static void send_setup(const struct jd_daemon *d)
{
    char body[1024], a[32], b[32], c[32];
    jd_rfc3339(t0, a, sizeof a);
    jd_rfc3339(t0 + 3600, b, sizeof b);
    jd_rfc3339(t0 + 7200, c, sizeof c);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"rs_a\",\"kind\":\"custom\",\"at\":\"%s\",\"identities\":["
             "{\"type\":\"email\",\"value\":\"x@example.com\"},{\"type\":\"hubspot_contact\","
             "\"value\":\"101\"}]},{\"id\":\"rs_b\",\"kind\":\"custom\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"y@example.com\"},"
             "{\"type\":\"hubspot_contact\",\"value\":\"202\"}]},{\"id\":\"rs_c\",\"kind\":"
             "\"custom\",\"at\":\"%s\",\"identities\":[{\"type\":\"hubspot_contact\",\"value\":"
             "\"202\"},{\"type\":\"email\",\"value\":\"x@example.com\"}]}]}",
             a, b, c);
    struct jd_http h;
    jd_post_events(d, body, &h);
    JD_REQUIRE(h.status == 200, "setup events: want 200, got %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(d, 60);
}

/* Event i of the measured phase: most on x@example.com (hubspot 101's contact), some on
 * hubspot 202's, all after the setup in journey order. */
static void append_event(struct jd_buf *b, int i)
{
    char at[32];
    jd_rfc3339(t0 + 3 * 3600 + i, at, sizeof at);
    const char *type = i % 5 == 0 ? "hubspot_contact" : "email";
    const char *value = i % 5 == 0 ? "202" : i % 7 == 0 ? "y@example.com" : "x@example.com";
    jd_buf_printf(b,
                  "%s{\"id\":\"rs_%04d\",\"kind\":\"custom\",\"at\":\"%s\",\"identities\":"
                  "[{\"type\":\"%s\",\"value\":\"%s\"}]}",
                  b->len > 11 ? "," : "", i, at, type, value);
}

/* Sends the events in batches; reversed sends each batch in reverse journey order. After
 * each batch, with slow set, any SLOWLOG entry stops the test (the old code would
 * otherwise run for many minutes). */
static void send_events(const struct jd_daemon *d, redisContext *slow, int reversed)
{
    for (int start = 0; start < NEVENTS; start += BATCH) {
        struct jd_buf b = {0};
        jd_buf_printf(&b, "{\"events\":[");
        for (int k = 0; k < BATCH && start + k < NEVENTS; k++)
            append_event(&b, reversed ? start + BATCH - 1 - k : start + k);
        jd_buf_printf(&b, "]}");
        struct jd_http h;
        jd_post_events(d, b.p, &h);
        JD_EXPECT(h.status == 200, "POST /v1/events batch at %d: want 200, got %ld", start,
                  h.status);
        jd_http_free(&h);
        jd_buf_free(&b);
        if (!slow)
            continue;
        jd_wait_drained(d, 120);
        redisReply *r = redisCommand(slow, "SLOWLOG GET 16");
        JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "SLOWLOG GET failed");
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i];
            const char *cmd = "?";
            if (e->elements > 3 && e->element[3]->elements > 0)
                cmd = e->element[3]->element[0]->str;
            jd_error(__FILE__, __LINE__,
                     "batch at %d: Redis ran %s for %lld us (over 50 ms: blocks every client)",
                     start, cmd, e->element[2]->integer);
        }
        size_t n = r->elements;
        freeReplyObject(r);
        JD_REQUIRE(n == 0, "stopping at the first slow batch");
    }
}

/* The journey of key=value, without what records history, as compact JSON. */
static char *journey_text(const struct jd_daemon *d, const char *key, const char *value)
{
    long st;
    cJSON *j = jd_journey(d, key, value, &st);
    JD_REQUIRE(j, "journey %s=%s: %ld", key, value, st);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "contact"),
                                            "merged_from");
    cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "raw");
    char *s = jd_json_print(j);
    cJSON_Delete(j);
    return s;
}

static const char *const lookups[][2] = {
    {"identity", "hubspot_contact:101"},
    {"identity", "hubspot_contact:202"},
    {"email", "x@example.com"},
    {"email", "y@example.com"},
};
#define NLOOKUPS (sizeof lookups / sizeof lookups[0])

static void run(int reversed, char **out)
{
    struct jd_redis redis;
    struct jd_daemon d;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);
    send_setup(&d);
    redisContext *c = NULL;
    if (reversed) {
        c = jd_redis_connect(&redis);
        freeReplyObject(redisCommand(c, "CONFIG SET slowlog-log-slower-than 50000"));
        freeReplyObject(redisCommand(c, "CONFIG SET latency-monitor-threshold 1"));
        freeReplyObject(redisCommand(c, "SLOWLOG RESET"));
        freeReplyObject(redisCommand(c, "LATENCY RESET"));
    }
    int64_t t = jd_mono_ms();
    send_events(&d, c, reversed);
    jd_wait_drained(&d, 300);
    jd_note("%s: %d events in batches of %d applied in %lld ms",
            reversed ? "reversed batches" : "journey order", NEVENTS, BATCH,
            (long long)(jd_mono_ms() - t));
    if (c) {
        /* The figure behind the budget: the slowest command of the phase. */
        redisReply *r = redisCommand(c, "LATENCY LATEST");
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            redisReply *e = r->element[i];
            if (e->elements >= 4 && strcmp(e->element[0]->str, "command") == 0)
                jd_note("slowest Redis command of the measured phase: %lld ms",
                        e->element[3]->integer);
        }
        freeReplyObject(r);
        redisFree(c);
    }
    for (size_t k = 0; k < NLOOKUPS; k++)
        out[k] = journey_text(&d, lookups[k][0], lookups[k][1]);
    jd_daemon_stop(&d);
    jd_redis_kill(&redis, SIGKILL);
}

int main(void)
{
    jd_setup("restitch_bound", 500, 1);
    t0 = jd_now_s() - 30 * 86400;
    char *late[NLOOKUPS], *in_order[NLOOKUPS];
    run(1, late);
    run(0, in_order);
    for (size_t k = 0; k < NLOOKUPS; k++) {
        JD_EXPECT(strcmp(late[k], in_order[k]) == 0,
                  "%s=%s differs from in-order arrival:\n  late:     %.400s\n  in order: %.400s",
                  lookups[k][0], lookups[k][1], late[k], in_order[k]);
        cJSON_free(late[k]);
        cJSON_free(in_order[k]);
    }
    return jd_finish();
}
