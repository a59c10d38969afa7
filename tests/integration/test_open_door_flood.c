/*
 * Open doors store small bounded records and never dead-letter (DESIGN §2b, issue 11 item
 * 2). A flood through GET /c (a query with broken UTF-8 and 30 KB of padding) is still
 * redirected, but nothing of it reaches the queue; a flood of origin-mode form posts with
 * a 200-character submission_id, broken UTF-8 or a body past 16 KiB is refused with 400.
 * Afterwards jd:dead is empty, and a valid click and a valid browser form still arrive.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD 40

/* GET url; the status, with Location copied into loc (or ""). */
static long get_location(const char *url, char *loc, size_t cap)
{
    struct jd_http h;
    jd_http(&h, "GET", url, NULL, NULL, 0);
    long status = h.status;
    if (!jd_http_header(&h, "Location", loc, cap))
        loc[0] = '\0';
    jd_http_free(&h);
    return status;
}

/* A browser's post to the origin-mode source "web"; the status. */
static long post_web(const struct jd_daemon *d, const char *body, size_t len)
{
    char url[128];
    struct jd_http h;
    const char *hdrs[] = {"Origin: https://example.com",
                          "Content-Type: application/x-www-form-urlencoded", NULL};
    snprintf(url, sizeof url, "%s/hooks/web", d->base);
    jd_http(&h, "POST", url, hdrs, body, len);
    long status = h.status;
    jd_http_free(&h);
    return status;
}

int main(void)
{
    jd_setup("open_door_flood", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port,
                     "max_deliveries = 1\n"
                     "click_cookie_secure = no\n"
                     "\n[source web]\n"
                     "type = form\n"
                     "auth = origin\n"
                     "allow_origins = example.com\n"
                     "thank_you_url = https://example.com/thanks\n");
    jd_daemon_start(&d, 1);
    redisContext *rc = jd_redis_connect(&redis);

    /* 1. The click flood: broken UTF-8 and 30 KB of padding, to an allowed destination. */
    size_t pad = 30000;
    char *url = malloc(pad + 256);
    JD_REQUIRE(url, "out of memory");
    int n = snprintf(url, 256,
                     "%s/c?to=https%%3A%%2F%%2Fexample.com%%2Fpricing&utm_source=%%FF%%FE"
                     "&utm_campaign=flood&pad=",
                     d.base);
    memset(url + n, 'x', pad);
    url[n + (int)pad] = '\0';
    char loc[2048];
    int redirected = 0;
    for (int i = 0; i < FLOOD; i++)
        if (get_location(url, loc, sizeof loc) == 302 &&
            strncmp(loc, "https://example.com/pricing?jd_aid=a_", 37) == 0)
            redirected++;
    JD_EXPECT(redirected == FLOOD, "click flood: %d of %d redirected to the destination",
              redirected, FLOOD);
    /* Raw bytes that are not UTF-8 (no browser sends them, a script can): as above. */
    n = snprintf(url, 256,
                 "%s/c?to=https%%3A%%2F%%2Fexample.com%%2F&utm_source=\xff\xfe&pad=", d.base);
    memset(url + n, 'y', pad);
    url[n + (int)pad] = '\0';
    redirected = 0;
    for (int i = 0; i < FLOOD; i++)
        redirected += get_location(url, loc, sizeof loc) == 302;
    JD_EXPECT(redirected == FLOOD, "raw-byte click flood: %d of %d redirected", redirected, FLOOD);
    /* Short but invalid too: a control byte. */
    snprintf(url, 256, "%s/c?to=https%%3A%%2F%%2Fexample.com%%2F&utm_source=a%%0Ab", d.base);
    JD_EXPECT(get_location(url, loc, sizeof loc) == 302, "a click with a control byte: want 302");
    /* No valid destination: refused, as before. */
    snprintf(url, 256, "%s/c?to=https%%3A%%2F%%2Fevil.example%%2F&utm_source=%%FF", d.base);
    JD_EXPECT(get_location(url, loc, sizeof loc) == 400, "a click to elsewhere: want 400");
    /* The valid click still counts. */
    snprintf(url, 256, "%s/c?to=https%%3A%%2F%%2Fexample.com%%2F&utm_source=google&utm_medium=cpc",
             d.base);
    JD_EXPECT(get_location(url, loc, sizeof loc) == 302, "a valid click: want 302");
    free(url);

    /* 2. The origin-form flood: what would dead-letter or bloat the queue gets 400. */
    struct jd_buf b = {0};
    int refused = 0;
    for (int i = 0; i < FLOOD; i++) {
        b.len = 0;
        jd_buf_printf(&b, "email=flood%d%%40example.com&submission_id=", i);
        for (int k = 0; k < 200; k++)
            jd_buf_append(&b, "s", 1);
        refused += post_web(&d, b.p, b.len) == 400;
    }
    JD_EXPECT(refused == FLOOD, "long submission_id: %d of %d refused with 400", refused, FLOOD);
    static const char bad_utf8[] = "email=utf8%40example.com&name=%FF%FE&submission_id=u1";
    JD_EXPECT(post_web(&d, bad_utf8, strlen(bad_utf8)) == 400, "broken UTF-8: want 400");
    b.len = 0;
    jd_buf_printf(&b, "email=big%%40example.com&submission_id=big1&message=");
    for (int k = 0; k < 100000; k++)
        jd_buf_append(&b, "m", 1);
    JD_EXPECT(post_web(&d, b.p, b.len) == 400, "a 100 KB origin form: want 400");
    static const char good[] = "email=web.lead%40example.com&submission_id=web-1&message=Ciao";
    JD_EXPECT(post_web(&d, good, strlen(good)) == 303, "a valid browser form: want 303");
    jd_buf_free(&b);

    /* 3. Nothing reached the dead letters; what was valid arrived. */
    long dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "dead_letters is %ld after the floods, want 0", dead);
    JD_EXPECT(jd_redis_int(rc, "XLEN jd:dead") == 0, "jd:dead holds entries");
    redisReply *r = redisCommand(rc, "MEMORY USAGE jd:dead");
    JD_EXPECT(r && r->type == REDIS_REPLY_NIL, "jd:dead exists (%lld bytes)",
              r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
    freeReplyObject(r);
    JD_EXPECT(jd_metric(&d, "journeyd_clicks_invalid_total") == 2 * FLOOD + 1,
              "journeyd_clicks_invalid_total is %lld, want %d",
              jd_metric(&d, "journeyd_clicks_invalid_total"), 2 * FLOOD + 1);
    long status;
    cJSON *j = jd_journey(&d, "email", "web.lead@example.com", &status);
    JD_EXPECT(status == 200 && jd_count_event(j, "form:web:web-1") == 1,
              "the valid browser form was applied: %s", jd_json_brief(j));
    cJSON_Delete(j);
    j = jd_journey(&d, "email", "flood0@example.com", &status);
    JD_EXPECT(status == 404, "a refused form was not applied: %ld", status);
    cJSON_Delete(j);
    JD_EXPECT(jd_redis_int(rc, "HLEN jd:ev") == 2,
              "jd:ev holds %lld events, want the click and "
              "the form",
              jd_redis_int(rc, "HLEN jd:ev"));

    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
