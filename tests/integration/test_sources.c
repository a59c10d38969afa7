/*
 * GET /v1/sources (DESIGN §7): each configured source with its type, the time of its last
 * accepted delivery, and its accepted and refused deliveries by reason over 24 hours and
 * 7 days. Deliveries of every kind go to the two test sources (accepted, a wrong
 * signature, a stale timestamp, a body that does not parse); the answer counts each one
 * at once (the counts not yet written come from the daemon's table), and again after a
 * graceful restart, from Redis alone, where the hourly bucket carries its expiry.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD 300

static struct jd_daemon d;

/* INFO stats total_commands_processed (the INFO command itself included). */
static long long redis_total_commands(redisContext *c)
{
    redisReply *rep = redisCommand(c, "INFO stats");
    const char *p = rep && rep->type == REDIS_REPLY_STRING
                        ? strstr(rep->str, "total_commands_processed:")
                        : NULL;
    long long n = p ? strtoll(p + strlen("total_commands_processed:"), NULL, 10) : -1;
    freeReplyObject(rep);
    JD_REQUIRE(n >= 0, "no total_commands_processed in INFO stats");
    return n;
}

static const cJSON *source_of(const cJSON *list, const char *name)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(list, "sources"))
    {
        const char *n = jd_json_str(s, "name");
        if (n && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

static int64_t count(const cJSON *src, const char *path)
{
    int ok = 0;
    int64_t v = jd_json_int(jd_json_path(src, path), &ok);
    return ok ? v : -1;
}

/* Every figure of both sources, in both windows (nothing here is older than an hour). */
static void check_counts(const char *when, int flooded)
{
    struct jd_http h = {0};
    JD_REQUIRE(jd_get_auth(&d, "/v1/sources", &h) == 0 && h.status == 200,
               "%s: GET /v1/sources status %ld", when, h.status);
    cJSON *list = jd_http_json(&h);
    jd_http_free(&h);
    JD_REQUIRE(list, "%s: not JSON", when);
    const cJSON *stripe = source_of(list, "stripe"), *site = source_of(list, "site");
    JD_REQUIRE(stripe && site, "%s: a configured source is missing: %s", when, jd_json_brief(list));
    JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "sources")) == 2,
              "%s: only the configured sources are listed", when);
    JD_EXPECT(strcmp(jd_json_str(stripe, "type"), "stripe") == 0 &&
                  strcmp(jd_json_str(site, "type"), "form") == 0,
              "%s: wrong types", when);
    static const char *const windows[] = {"last_24h", "last_7d"};
    for (int w = 0; w < 2; w++) {
        char p[128];
        const struct {
            const cJSON *src;
            const char *field;
            int64_t want;
        } want[] = {
            {stripe, "accepted", 3},
            {stripe, "refused", 3 + flooded},
            {stripe, "refused_by_reason.bad_signature", 2 + flooded},
            {stripe, "refused_by_reason.stale_timestamp", 1},
            {site, "accepted", 2},
            {site, "refused", 1},
            {site, "refused_by_reason.bad_request", 1},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            snprintf(p, sizeof p, "%s.%s", windows[w], want[i].field);
            JD_EXPECT(count(want[i].src, p) == want[i].want,
                      "%s: %s %s is %" PRId64 ", expected %" PRId64, when,
                      jd_json_str(want[i].src, "name"), p, count(want[i].src, p), want[i].want);
        }
    }
    int64_t last;
    const char *ls = jd_json_str(stripe, "last_delivery");
    JD_EXPECT(ls && jd_parse_rfc3339(ls, &last) == 0 && last >= jd_now_s() - 600 &&
                  last <= jd_now_s() + 1,
              "%s: stripe's last delivery %s", when, ls ? ls : "(null)");
    JD_EXPECT(jd_json_str(site, "last_delivery") != NULL, "%s: the form's last delivery is null",
              when);
    cJSON_Delete(list);
}

int main(void)
{
    jd_setup("test_sources", 120, 1);
    struct jd_redis r;
    jd_redis_start(&r, NULL, 0);
    jd_daemon_config(&d, r.port, NULL);
    jd_daemon_start(&d, 1);

    struct jd_http h = {0};
    char url[256], sig[256];
    snprintf(url, sizeof url, "%s/hooks/stripe", d.base);
    for (int i = 0; i < 3; i++) {
        char *body = jd_stripe_checkout_body("src", i);
        JD_EXPECT(jd_post_stripe(&d, body, &h) == 0 && h.status == 200, "stripe %d: %ld", i,
                  h.status);
        jd_http_free(&h);
        if (i < 2) {
            /* The same body signed with another secret. */
            jd_stripe_sig_header(sig, sizeof sig, "whsec_not_the_secret", jd_now_s(), body,
                                 strlen(body));
            const char *hdrs[] = {sig, NULL};
            JD_EXPECT(jd_http(&h, "POST", url, hdrs, body, strlen(body)) == 0 && h.status == 401,
                      "bad signature: %ld", h.status);
            jd_http_free(&h);
        } else {
            /* Signed an hour ago: outside the 5-minute tolerance. */
            jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s() - 3600, body,
                                 strlen(body));
            const char *hdrs[] = {sig, NULL};
            JD_EXPECT(jd_http(&h, "POST", url, hdrs, body, strlen(body)) == 0 && h.status == 401,
                      "stale signature: %ld", h.status);
            jd_http_free(&h);
        }
        free(body);
    }
    for (int i = 0; i < 2; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"email\":\"src%d@example.it\",\"submission_id\":\"s%d\"}", i,
                 i);
        JD_EXPECT(jd_post_form(&d, body, "application/json", &h) == 0 && h.status == 200,
                  "form %d: %ld", i, h.status);
        jd_http_free(&h);
    }
    JD_EXPECT(jd_post_form(&d, "{\"email\": ", "application/json", &h) == 0 && h.status == 400,
              "a form body that does not parse: %ld", h.status);
    jd_http_free(&h);
    /* An unknown source is nobody's: not counted, not listed. */
    snprintf(url, sizeof url, "%s/hooks/nosuch", d.base);
    JD_EXPECT(jd_http(&h, "POST", url, NULL, "{}", 2) == 0 && h.status == 404, "unknown: %ld",
              h.status);
    jd_http_free(&h);

    check_counts("at once", 0);

    /* A flood of refusals costs Redis nothing per request: the commands Redis processes
     * while 300 bad signatures arrive are the daemon's periodic ones (the queue probe, the
     * worker's reads, a write of the counts), far fewer than the requests. */
    redisContext *rc = jd_redis_connect(&r);
    long long before = redis_total_commands(rc);
    char *flood = jd_stripe_checkout_body("flood", 0);
    snprintf(url, sizeof url, "%s/hooks/stripe", d.base);
    jd_stripe_sig_header(sig, sizeof sig, "whsec_not_the_secret", jd_now_s(), flood, strlen(flood));
    for (int i = 0; i < FLOOD; i++) {
        const char *hdrs[] = {sig, NULL};
        JD_EXPECT(jd_http(&h, "POST", url, hdrs, flood, strlen(flood)) == 0 && h.status == 401,
                  "flood %d: %ld", i, h.status);
        jd_http_free(&h);
    }
    free(flood);
    long long used = redis_total_commands(rc) - before;
    jd_note("Redis processed %lld commands while %d refused deliveries arrived", used, FLOOD);
    JD_EXPECT(used < FLOOD / 3, "%lld Redis commands for %d refused deliveries", used, FLOOD);
    redisFree(rc);

    /* A graceful stop writes what was tallied; the next start reads it from Redis. */
    jd_daemon_stop(&d);
    redisContext *c = jd_redis_connect(&r);
    redisReply *keys = redisCommand(c, "KEYS jd:src:h:*");
    JD_REQUIRE(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements >= 1,
               "no hourly bucket in Redis after the stop");
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *ttl = redisCommand(c, "TTL %s", keys->element[i]->str);
        JD_EXPECT(ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 7 * 86400 &&
                      ttl->integer <= 8 * 86400,
                  "bucket %s expires in %lld s", keys->element[i]->str,
                  ttl ? (long long)ttl->integer : -1LL);
        freeReplyObject(ttl);
    }
    freeReplyObject(keys);
    redisFree(c);
    jd_daemon_start(&d, 1);
    check_counts("after a restart", FLOOD);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&r);
    return jd_finish();
}
