/*
 * Managed Redis (issue 12 item 6): journeyd sends AUTH (with a Redis 6 ACL user when the
 * redis:// URL names one) and SELECT on every connect before its scripts load.
 *
 * 1. requirepass: with redis_password journeyd is ready and takes a webhook.
 * 2. An ACL user and db 2 (redis://user@host:port/2): the keys land in db 2, none in db 0.
 * 3. A wrong password at start: exit 1 with one line naming Redis's answer, no password.
 * 4. The password changed under a running journeyd: 503, the loss logged once per
 *    connection, and ready again once the old password is back, without a restart.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define PASSWORD "managed-redis-password-1"
#define USER_PASSWORD "acl-user-password-22"
#define WRONG_PASSWORD "not-the-password-333"

static struct jd_redis redis;

static long long dbsize(redisContext *c, int db)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "SELECT %d", db);
    redisReply *r = redisCommand(c, cmd);
    JD_EXPECT(r && r->type == REDIS_REPLY_STATUS, "SELECT %d failed", db);
    freeReplyObject(r);
    long long n = jd_redis_int(c, "DBSIZE");
    r = redisCommand(c, "SELECT 0");
    freeReplyObject(r);
    return n;
}

static void set_redis(redisContext *c, const char *cmd, const char *arg)
{
    redisReply *r = redisCommand(c, cmd, arg);
    JD_EXPECT(r && r->type == REDIS_REPLY_STATUS, "%s failed: %s", cmd,
              r && r->str ? r->str : "no reply");
    freeReplyObject(r);
}

/* Replaces the harness's "redis = 127.0.0.1:<port>" line with `value`. */
static void set_redis_line(const struct jd_daemon *d, const char *value)
{
    char *text = jd_slurp(d->conf), old[64];
    if (!text)
        jd_fatal(__FILE__, __LINE__, "cannot read %s", d->conf);
    snprintf(old, sizeof old, "redis = 127.0.0.1:%d\n", d->redis_port);
    char *at = strstr(text, old);
    if (!at)
        jd_fatal(__FILE__, __LINE__, "no '%s' in %s", old, d->conf);
    FILE *f = fopen(d->conf, "w");
    if (!f ||
        fprintf(f, "%.*sredis = %s\n%s", (int)(at - text), text, value, at + strlen(old)) < 0 ||
        fclose(f) != 0)
        jd_fatal(__FILE__, __LINE__, "cannot write %s", d->conf);
    free(text);
}

static long post(const struct jd_daemon *d, const char *id)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"evt_%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":1790000000,\"data\":{\"object\":{\"id\":\"cs_%s\",\"object\":"
             "\"checkout.session\",\"amount_total\":500,\"currency\":\"eur\","
             "\"customer_details\":{\"email\":\"%s@example.com\"},\"metadata\":{}}}}",
             id, id, id);
    struct jd_http h;
    jd_post_stripe(d, body, &h);
    long st = h.status;
    jd_http_free(&h);
    return st;
}

static int count_lines(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1),
                 p);
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
        p = eol ? eol + 1 : NULL;
    }
    return n;
}

static void expect_no_password(const char *log, const char *what)
{
    JD_EXPECT(!strstr(log, PASSWORD) && !strstr(log, USER_PASSWORD) && !strstr(log, WRONG_PASSWORD),
              "%s: a password appears in the log", what);
}

static void requirepass(redisContext *c)
{
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "redis_password = " PASSWORD "\n");
    jd_daemon_start(&d, 1);
    JD_EXPECT(post(&d, "pass1") == 200, "a webhook with AUTH is not accepted");
    JD_EXPECT(jd_wait_drained(&d, 30) == 0, "not drained");
    jd_daemon_stop(&d);
    JD_EXPECT(dbsize(c, 0) > 0, "nothing written to db 0");
    char *log = jd_slurp(d.log);
    expect_no_password(log, "requirepass");
    free(log);
}

static void acl_user_db2(redisContext *c)
{
    redisReply *r = redisCommand(c, "ACL SETUSER jdops on >%s ~* &* +@all", USER_PASSWORD);
    JD_EXPECT(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER failed");
    freeReplyObject(r);
    long long db0 = dbsize(c, 0);
    JD_EXPECT(dbsize(c, 2) == 0, "db 2 is not empty before the test");

    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "redis_password = env:JD_TEST_REDIS_PASSWORD\n");
    char url[128];
    snprintf(url, sizeof url, "redis://jdops@127.0.0.1:%d/2", redis.port);
    set_redis_line(&d, url);
    if (setenv("JD_TEST_REDIS_PASSWORD", USER_PASSWORD, 1) != 0)
        jd_fatal(__FILE__, __LINE__, "setenv failed");
    jd_daemon_start(&d, 1);
    JD_EXPECT(post(&d, "acl1") == 200, "a webhook with an ACL user is not accepted");
    JD_EXPECT(jd_wait_drained(&d, 30) == 0, "not drained");
    long st;
    cJSON *j = jd_journey(&d, "email", "acl1@example.com", &st);
    JD_EXPECT(j && jd_count_event(j, "stripe:evt_acl1") == 1, "the webhook is not in its journey");
    cJSON_Delete(j);
    jd_daemon_stop(&d);
    unsetenv("JD_TEST_REDIS_PASSWORD");
    JD_EXPECT(dbsize(c, 2) > 0, "nothing landed in db 2");
    JD_EXPECT(dbsize(c, 0) == db0, "db 0 changed (%lld keys, was %lld)", dbsize(c, 0), db0);
    r = redisCommand(c, "ACL LOG");
    freeReplyObject(r);
    char *log = jd_slurp(d.log);
    expect_no_password(log, "acl user");
    free(log);
}

static void wrong_password_at_start(void)
{
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "redis_password = " WRONG_PASSWORD "\n");
    jd_daemon_start(&d, 0);
    int st = jd_daemon_wait_exit(&d, 60);
    JD_EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
              "a wrong password at start: status %d, expected exit 1", st);
    char *log = jd_slurp(d.log);
    JD_EXPECT(log && strstr(log, "redis refused") && strstr(log, "WRONGPASS"),
              "no message naming Redis's refusal");
    JD_EXPECT(log && count_lines(log, "redis refused", NULL) == 1,
              "the refusal is not said exactly once");
    expect_no_password(log, "wrong password");
    free(log);
}

static void password_changed_under_us(redisContext *c)
{
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "redis_password = " PASSWORD "\n");
    jd_daemon_start(&d, 1);
    JD_EXPECT(post(&d, "before") == 200, "not accepted before the change");
    set_redis(c, "CONFIG SET requirepass %s", WRONG_PASSWORD);
    /* Existing connections stay authenticated: cut them (not ours: SKIPME is the default). */
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE normal");
    freeReplyObject(r);
    long st = 0;
    for (int i = 0; i < 200 && st != 503; i++) {
        st = post(&d, "during");
        if (st != 503)
            jd_sleep_ms(50);
    }
    JD_EXPECT(st == 503, "a webhook while AUTH is refused: %ld, expected 503", st);
    /* Several reconnect attempts (backoff 100 ms, doubling) all refused. */
    jd_sleep_ms(2000);
    JD_EXPECT(jd_daemon_alive(&d), "journeyd exited when the password changed at run time");
    char *log = jd_slurp(d.log);
    JD_EXPECT(log && count_lines(log, "redis unavailable", "connection=ingest") == 1,
              "the loss of Redis is not logged exactly once");
    JD_EXPECT(log && count_lines(log, "redis refused", "connection=ingest") == 1 &&
                  count_lines(log, "redis refused", "WRONGPASS") >= 1,
              "the refused password is not logged exactly once");
    free(log);
    set_redis(c, "CONFIG SET requirepass %s", PASSWORD);
    long ready = 0;
    for (int i = 0; i < 200 && ready != 200; i++) {
        ready = jd_get_status(&d, "/readyz");
        if (ready != 200)
            jd_sleep_ms(50);
    }
    JD_EXPECT(ready == 200, "not ready again once the password is back");
    JD_EXPECT(post(&d, "after") == 200, "not accepted after the password is back");
    jd_daemon_stop(&d);
    log = jd_slurp(d.log);
    expect_no_password(log, "password change");
    free(log);
}

int main(void)
{
    jd_setup("redis_managed", 240, 1);
    jd_redis_start(&redis, NULL, 0);
    redisContext *c = jd_redis_connect(&redis);
    set_redis(c, "CONFIG SET requirepass %s", PASSWORD);
    requirepass(c);
    acl_user_db2(c);
    wrong_password_at_start();
    password_changed_under_us(c);
    /* The harness's SHUTDOWN connection does not authenticate. */
    set_redis(c, "CONFIG SET requirepass %s", "");
    redisFree(c);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
