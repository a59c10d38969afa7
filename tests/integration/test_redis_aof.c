/*
 * The durability promise says what it needs (issue 12 item 2): journeyd reads Redis's
 * appendonly/appendfsync at every connect, warns once when AOF is off, and /metrics shows
 * journeyd_redis_aof{fsync="..."}.
 *
 * 1. appendonly no: the warning, once, and fsync="off".
 * 2. Switched to appendonly yes, appendfsync always under the running journeyd, then its
 *    connections cut: after the reconnect the metric says "always".
 * 3. A fresh journeyd on that Redis: no warning at all, fsync="always".
 * 4. CONFIG refused (as on managed Redis; here an ACL user without it): INFO persistence
 *    answers instead.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char warning[] = "append-only file is off";

static void redis_set(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    JD_EXPECT(r && r->type == REDIS_REPLY_STATUS, "%s failed: %s", cmd,
              r && r->str ? r->str : "no reply");
    freeReplyObject(r);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Waits (bounded) until the metric series reads 1. */
static int wait_metric(const struct jd_daemon *d, const char *series)
{
    for (int i = 0; i < 200; i++) {
        if (jd_metric(d, series) == 1)
            return 1;
        jd_sleep_ms(50);
    }
    return 0;
}

int main(void)
{
    jd_setup("redis_aof", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    redisContext *c = jd_redis_connect(&redis);
    redis_set(c, "CONFIG SET appendonly no");

    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);
    JD_EXPECT(jd_metric(&d, "journeyd_redis_aof{fsync=\"off\"}") == 1,
              "AOF off: the metric does not say off");
    char *log = jd_slurp(d.log);
    JD_EXPECT(log && count(log, warning) == 1, "AOF off: %d warnings, expected 1",
              log ? count(log, warning) : -1);
    JD_EXPECT(log && strstr(log, "level=warning msg=\"redis append-only file is off"),
              "AOF off: not logged at level warning");
    free(log);

    redis_set(c, "CONFIG SET appendonly yes");
    redis_set(c, "CONFIG SET appendfsync always");
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE normal");
    freeReplyObject(r);
    JD_EXPECT(wait_metric(&d, "journeyd_redis_aof{fsync=\"always\"}"),
              "after a reconnect the metric does not say always");
    JD_EXPECT(jd_metric(&d, "journeyd_redis_aof{fsync=\"off\"}") == -1,
              "the old value is still exported");
    jd_daemon_stop(&d);

    struct jd_daemon d2;
    jd_daemon_config(&d2, redis.port, NULL);
    jd_daemon_start(&d2, 1);
    JD_EXPECT(jd_metric(&d2, "journeyd_redis_aof{fsync=\"always\"}") == 1,
              "appendfsync always: the metric does not say always");
    jd_daemon_stop(&d2);
    log = jd_slurp(d2.log);
    JD_EXPECT(log && count(log, warning) == 0, "appendfsync always: a warning was logged");
    free(log);

    /* Managed services refuse or rename CONFIG: an ACL user without it, so INFO answers. */
    redis_set(c, "CONFIG SET appendonly no");
    redis_set(c, "ACL SETUSER noconf on >no-config-password-1 ~* &* +@all -config");
    struct jd_daemon d3;
    jd_daemon_config(&d3, redis.port, "redis_password = no-config-password-1\n");
    char *conf = jd_slurp(d3.conf), old[64], url[64];
    snprintf(old, sizeof old, "redis = 127.0.0.1:%d\n", redis.port);
    snprintf(url, sizeof url, "redis = redis://noconf@127.0.0.1:%d\n", redis.port);
    char *at = conf ? strstr(conf, old) : NULL;
    FILE *f = at ? fopen(d3.conf, "w") : NULL;
    if (!f || fprintf(f, "%.*s%s%s", (int)(at - conf), conf, url, at + strlen(old)) < 0 ||
        fclose(f) != 0)
        jd_fatal(__FILE__, __LINE__, "cannot rewrite %s", d3.conf);
    free(conf);
    jd_daemon_start(&d3, 1);
    JD_EXPECT(jd_metric(&d3, "journeyd_redis_aof{fsync=\"off\"}") == 1,
              "CONFIG refused: INFO persistence did not say off");
    jd_daemon_stop(&d3);
    log = jd_slurp(d3.log);
    JD_EXPECT(log && count(log, warning) == 1, "CONFIG refused: %d warnings, expected 1",
              log ? count(log, warning) : -1);
    free(log);
    redisFree(c);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
