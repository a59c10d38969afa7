/*
 * Back at once after Redis comes back (issue 12 items 1 and 3). When Redis goes away just
 * after it handed the worker a batch (a crash or a dropped connection), the entries sit in
 * the worker's own pending list but their reply never arrived. Found by bench/crash.sh:
 * after a Redis restart the last batch waited claim_idle (30 s by default) for the sweep.
 * The worker reads its own pending entries again on every reconnect, so they are applied
 * as soon as it is ready.
 *
 * The lost reply is made exactly: the test itself adds the entries and reads them for the
 * worker's consumer name in one MULTI (the worker's blocked read sees nothing new), then
 * drops journeyd's connections with CLIENT KILL.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 50 };

int main(void)
{
    jd_setup("reconnect_pending", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    redisContext *c = jd_redis_connect(&redis);

    /* Real entries, as the door writes them: an ingest-only journeyd takes the webhooks. */
    struct jd_daemon ingest, worker;
    jd_daemon_config(&ingest, redis.port, "roles = ingest,api\n");
    jd_daemon_start(&ingest, 1);
    for (int i = 0; i < N; i++) {
        char *body = jd_stripe_checkout_body("rp", i);
        struct jd_http h;
        jd_post_stripe(&ingest, body, &h);
        JD_REQUIRE(h.status == 200, "webhook %d: want 200, got %ld", i, h.status);
        jd_http_free(&h);
        free(body);
    }
    redisReply *entries = redisCommand(c, "XRANGE jd:raw - +");
    JD_REQUIRE(entries && entries->type == REDIS_REPLY_ARRAY && entries->elements == N,
               "the %d webhooks are queued", N);
    freeReplyObject(redisCommand(c, "DEL jd:raw"));

    /* claim_idle as by default: the sweep would take them only after 30 s. */
    jd_daemon_config(&worker, redis.port,
                     "roles = worker\nconsumer = reconnect-test\nclaim_idle = 30s\n");
    jd_daemon_start(&worker, 0);
    int64_t deadline = jd_mono_ms() + 30000;
    while (jd_mono_ms() < deadline && jd_redis_int(c, "EXISTS jd:lease:reconnect-test") != 1)
        jd_sleep_ms(20);
    JD_REQUIRE(jd_redis_int(c, "EXISTS jd:lease:reconnect-test") == 1,
               "the worker took its consumer name");
    jd_sleep_ms(200); /* its read is now blocked waiting for new entries */

    redisReply *r = redisCommand(c, "MULTI");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "MULTI");
    freeReplyObject(r);
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *f = entries->element[i]->element[1];
        const char *argv[64];
        size_t lens[64];
        int argc = 0;
        argv[argc++] = "XADD";
        argv[argc++] = "jd:raw";
        argv[argc++] = "*";
        for (size_t k = 0; k < f->elements && argc < 64; k++) {
            argv[argc] = f->element[k]->str;
            lens[argc++] = f->element[k]->len;
        }
        for (int k = 0; k < 3; k++)
            lens[k] = strlen(argv[k]);
        r = redisCommandArgv(c, argc, argv, lens);
        JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "XADD queued in the MULTI");
        freeReplyObject(r);
    }
    r = redisCommand(c, "XREADGROUP GROUP jd reconnect-test COUNT %d STREAMS jd:raw >", N);
    freeReplyObject(r);
    r = redisCommand(c, "EXEC");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == N + 1 &&
                   r->element[N]->type == REDIS_REPLY_ARRAY,
               "the entries were added and handed to the worker's name in one step");
    freeReplyObject(r);
    freeReplyObject(entries);
    JD_REQUIRE(jd_redis_pending(c) == N, "%d entries pending for the worker", N);

    /* The connection the reply would have come back on is gone. */
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    JD_REQUIRE(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1,
               "journeyd's connections were dropped");
    freeReplyObject(r);

    /* Well inside claim_idle: the worker reads its own pending entries when it is back. */
    int64_t start = jd_mono_ms();
    while (jd_mono_ms() - start < 10000 && jd_redis_int(c, "XLEN jd:raw") != 0)
        jd_sleep_ms(20);
    long long left = jd_redis_int(c, "XLEN jd:raw");
    jd_note("queue empty %lld ms after the connections dropped (%lld left)",
            (long long)(jd_mono_ms() - start), left);
    JD_EXPECT(left == 0, "%lld entries still waiting 10 s after the reconnect (claim_idle 30 s)",
              left);

    /* The ingest daemon lost its connections too: its API answers 503 until it is back. */
    struct jd_http rz = {0};
    for (int i = 0; i < 500; i++) {
        char url[128];
        snprintf(url, sizeof url, "%s/readyz", ingest.base);
        int ok = jd_http(&rz, "GET", url, NULL, NULL, 0) == 0 && rz.status == 200;
        jd_http_free(&rz);
        if (ok)
            break;
        jd_sleep_ms(20);
    }

    jd_check_checkout_journeys(&ingest, "rp", N, NULL);

    redisFree(c);
    jd_daemon_stop(&worker);
    jd_daemon_stop(&ingest);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
