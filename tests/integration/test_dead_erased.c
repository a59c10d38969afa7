/*
 * A webhook an erasure removed from the raw stream while a worker held it in memory must
 * not come back as a dead letter when that worker gives up on it (issue 12 item 5; the
 * erasure's scan of jd:dead has passed by then). dead.lua is run here as the daemon runs
 * it (the script file, on a real redis-server): an entry still queued moves to jd:dead, an
 * entry already removed is only acknowledged.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dead.lua's KEYS and ARGV for entry `id` of source "stripe" with one field pair. */
static redisReply *dead_letter(redisContext *c, const char *script, const char *id)
{
    return redisCommand(c,
                        "EVAL %s 4 jd:raw jd:dead jd:dead:bytes jd:dead:ids:stripe "
                        "jd %s %s 5 stripe 1048576 body %s",
                        script, id, "failed repeatedly", "{\"email\":\"gone@example.com\"}");
}

int main(void)
{
    jd_setup("dead_erased", 60, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    redisContext *c = jd_redis_connect(&redis);
    const char *top = getenv("JD_SOURCE_DIR");
    JD_REQUIRE(top, "JD_SOURCE_DIR is set (ctest sets it)");
    char path[JD_PATH_MAX];
    snprintf(path, sizeof path, "%s/queue/scripts/dead.lua", top);
    char *script = jd_slurp(path);
    JD_REQUIRE(script, "%s is readable", path);

    freeReplyObject(redisCommand(c, "XGROUP CREATE jd:raw jd $ MKSTREAM"));
    redisReply *kept = redisCommand(c, "XADD jd:raw * src stripe body kept");
    redisReply *gone = redisCommand(c, "XADD jd:raw * src stripe body gone");
    JD_REQUIRE(kept && kept->type == REDIS_REPLY_STRING && gone && gone->type == REDIS_REPLY_STRING,
               "two raw entries");
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP jd w COUNT 2 STREAMS jd:raw >"));
    /* The erasure takes the second one out, as stream_remove_raw does. */
    freeReplyObject(redisCommand(c, "XACK jd:raw jd %s", gone->str));
    freeReplyObject(redisCommand(c, "XDEL jd:raw %s", gone->str));

    redisReply *r = dead_letter(c, script, kept->str);
    JD_EXPECT(r && r->type == REDIS_REPLY_INTEGER, "dead.lua on a queued entry: %s",
              r && r->type == REDIS_REPLY_ERROR ? r->str : "no integer");
    freeReplyObject(r);
    JD_EXPECT(jd_redis_int(c, "XLEN jd:dead") == 1, "the queued entry became a dead letter");

    r = dead_letter(c, script, gone->str);
    JD_EXPECT(r && r->type == REDIS_REPLY_INTEGER, "dead.lua on a removed entry: %s",
              r && r->type == REDIS_REPLY_ERROR ? r->str : "no integer");
    freeReplyObject(r);
    JD_EXPECT(jd_redis_int(c, "XLEN jd:dead") == 1,
              "a removed entry must not come back as a dead letter (jd:dead holds %lld)",
              jd_redis_int(c, "XLEN jd:dead"));
    JD_EXPECT(jd_redis_pending(c) == 0, "nothing left pending");

    freeReplyObject(kept);
    freeReplyObject(gone);
    free(script);
    redisFree(c);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
