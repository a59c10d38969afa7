/*
 * Redis refusing writes is not poison (issue 12 item 1). An ingest-only journeyd queues a
 * backlog of accepted webhooks; Redis is then put at its memory limit (noeviction), so
 * every apply.lua call fails with OOM, and a worker is started on the backlog. While Redis
 * refuses, nothing may be dead-lettered or counted as a failed delivery; once the limit is
 * raised, the backlog must drain at full speed and every webhook be applied exactly once.
 *
 * Two rounds: with a 1 s claim_idle and max_deliveries = 1 (a refusal counted as a delivery
 * would dead-letter the lot), and with the default 30 s claim_idle (a drain paced by the
 * claim sweep would take minutes, not the few seconds allowed here).
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* used_memory from INFO memory, or -1. */
static long long used_memory(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO memory");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_memory:");
        if (p)
            v = strtoll(p + strlen("used_memory:"), NULL, 10);
    }
    freeReplyObject(r);
    return v;
}

static void config_set(redisContext *c, const char *key, const char *value)
{
    redisReply *r = redisCommand(c, "CONFIG SET %s %s", key, value);
    JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET %s %s failed", key, value);
    freeReplyObject(r);
}

static void round_(struct jd_redis *redis, const char *prefix, int n, const char *claim_idle,
                   const char *worker_conf, int refuse_ms, int drain_limit_s)
{
    struct jd_daemon ingest, worker;
    jd_daemon_config(&ingest, redis->port, "roles = ingest,api\n");
    jd_daemon_start(&ingest, 1);
    for (int i = 0; i < n; i++) {
        char *body = jd_stripe_checkout_body(prefix, i);
        struct jd_http h;
        jd_post_stripe(&ingest, body, &h);
        JD_REQUIRE(h.status == 200, "%s: backlog webhook %d: want 200, got %ld", prefix, i,
                   h.status);
        jd_http_free(&h);
        free(body);
    }
    jd_daemon_stop(&ingest);

    /* The worker starts on the backlog with Redis still accepting writes, and Redis reaches
     * its limit part-way through: the worker is then mid-drain, with the rest of the
     * backlog read or still to be read. */
    redisContext *c = jd_redis_connect(redis);
    long long len = jd_redis_int(c, "XLEN jd:raw");
    long long dead0 = jd_redis_int(c, "XLEN jd:dead");
    JD_REQUIRE(len == n, "%s: %lld entries queued, want %d", prefix, len, n);
    char conf[256];
    snprintf(conf, sizeof conf, "claim_idle = %s\n%s", claim_idle, worker_conf ? worker_conf : "");
    jd_daemon_config(&worker, redis->port, conf);
    jd_daemon_start(&worker, 0);
    int64_t deadline = jd_mono_ms() + 60000;
    while (len > n - 50 && jd_mono_ms() < deadline) {
        jd_sleep_ms(2);
        len = jd_redis_int(c, "XLEN jd:raw");
    }
    long long used = used_memory(c);
    JD_REQUIRE(used > 0, "%s: no used_memory in INFO", prefix);
    char limit[32];
    snprintf(limit, sizeof limit, "%lld", used / 2);
    config_set(c, "maxmemory-policy", "noeviction");
    config_set(c, "maxmemory", limit);
    /* What was in flight when the limit came may still complete. */
    jd_sleep_ms(300);
    long long at_limit = jd_redis_int(c, "XLEN jd:raw");
    JD_REQUIRE(at_limit > n / 2, "%s: the worker drained %lld of %d before the limit", prefix,
               n - at_limit, n);
    jd_sleep_ms(refuse_ms);
    long long dead = jd_redis_int(c, "XLEN jd:dead") - dead0;
    len = jd_redis_int(c, "XLEN jd:raw");
    JD_EXPECT(dead == 0, "%s: %lld entries dead-lettered while redis refused writes", prefix, dead);
    JD_EXPECT(len == at_limit, "%s: %lld entries left the queue while redis refused writes", prefix,
              at_limit - len);
    JD_EXPECT(jd_daemon_alive(&worker), "%s: journeyd died while redis refused writes", prefix);

    config_set(c, "maxmemory", "0");
    int64_t t0 = jd_mono_ms();
    deadline = t0 + (int64_t)drain_limit_s * 1000;
    while (jd_mono_ms() < deadline) {
        len = jd_redis_int(c, "XLEN jd:raw");
        if (len == 0)
            break;
        jd_sleep_ms(50);
    }
    int64_t took = jd_mono_ms() - t0;
    jd_note("%s: %lld entries drained %lld ms after redis accepted writes again (left %lld)",
            prefix, at_limit, (long long)took, len);
    JD_EXPECT(len == 0, "%s: %lld of %d entries still queued %d s after redis recovered", prefix,
              len, n, drain_limit_s);
    dead = jd_redis_int(c, "XLEN jd:dead") - dead0;
    JD_EXPECT(dead == 0, "%s: %lld entries dead-lettered after redis refused writes", prefix, dead);
    long long dl = jd_metric(&worker, "journeyd_dead_lettered_total");
    JD_EXPECT(dl <= 0, "%s: journeyd_dead_lettered_total %lld", prefix, dl);

    jd_check_checkout_journeys(&worker, prefix, n, NULL);
    redisFree(c);
    jd_daemon_stop(&worker);
}

int main(void)
{
    jd_setup("redis_oom", 300, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    round_(&redis, "oomA", 2000, "1s", "max_deliveries = 1\n", 4000, 15);
    round_(&redis, "oomB", 3000, "30s", NULL, 3000, 15);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
