/*
 * DELETE /v1/dead/<id> (issue 12 item 4): discards one dead letter for good, 404 when
 * there is none, with a log line naming the id, source and reason but never the body. The
 * per-source byte accounting of the dead-letter cap stays exact: the bytes hash always
 * equals the sum of the counted entries' field names and values, computed here from the
 * stream itself, and an entry an operator added by hand (never counted) is not uncounted.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long discard(const struct jd_daemon *d, const char *id, const char *token)
{
    char url[256], auth[96];
    struct jd_http h;
    snprintf(url, sizeof url, "%s/v1/dead/%s", d->base, id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    jd_http(&h, "DELETE", url, headers, NULL, 0);
    long status = h.status;
    if (status == 200) {
        cJSON *o = jd_http_json(&h);
        const char *got = jd_json_str(o, "discarded");
        JD_EXPECT(got && strcmp(got, id) == 0, "the answer names the discarded id: %s",
                  h.body ? h.body : "");
        cJSON_Delete(o);
    } else if (status == 404) {
        JD_EXPECT(jd_http_is_error(&h, "not_found"), "a 404 is a JSON error: %s",
                  h.body ? h.body : "");
    }
    jd_http_free(&h);
    return status;
}

/* A signed Stripe payment without a currency: authentic, but the connector cannot turn it
 * into money, so it is dead-lettered. */
static void post_poison(const struct jd_daemon *d, const char *tag)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"id\":\"evt_%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_%s\",\"amount_total\":100,"
             "\"customer_details\":{\"email\":\"%s@example.com\"},\"payment_intent\":\"pi_%s\"}}}",
             tag, (long long)jd_now_s(), tag, tag, tag);
    struct jd_http h;
    jd_post_stripe(d, body, &h);
    JD_REQUIRE(h.status == 200, "poison webhook %s: want 200 (queued), got %ld", tag, h.status);
    jd_http_free(&h);
}

/* The dead letters as [id, bytes, evt] rows (bytes: every field name and value). */
struct dl {
    char id[64];
    long long bytes;
    int by_hand;
    char evt[64];
};

static int read_dead(redisContext *rc, struct dl *out, int max)
{
    redisReply *r = redisCommand(rc, "XRANGE jd:dead - +");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "XRANGE jd:dead");
    int n = 0;
    for (size_t i = 0; i < r->elements && n < max; i++, n++) {
        const redisReply *e = r->element[i], *f = e->element[1];
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].id, sizeof out[n].id, "%s", e->element[0]->str);
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            out[n].bytes += (long long)(f->element[k]->len + f->element[k + 1]->len);
            if (strcmp(f->element[k]->str, "reason") == 0 &&
                strcmp(f->element[k + 1]->str, "by hand") == 0)
                out[n].by_hand = 1;
            if (strcmp(f->element[k]->str, "body") == 0) {
                const char *p = strstr(f->element[k + 1]->str, "\"evt_");
                if (p)
                    snprintf(out[n].evt, sizeof out[n].evt, "%.*s", (int)strcspn(p + 1, "\""),
                             p + 1);
            }
        }
    }
    freeReplyObject(r);
    return n;
}

/* The bytes hash and the source's list agree with the counted entries in the stream. */
static void check_accounting(redisContext *rc, const char *when)
{
    struct dl d[8];
    int n = read_dead(rc, d, 8);
    long long want = 0;
    int counted = 0;
    for (int i = 0; i < n; i++)
        if (!d[i].by_hand) {
            want += d[i].bytes;
            counted++;
        }
    redisReply *r = redisCommand(rc, "HGET jd:dead:bytes stripe");
    long long got = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    JD_EXPECT(got == want, "%s: jd:dead:bytes stripe = %lld, the counted entries hold %lld", when,
              got, want);
    long long len = jd_redis_int(rc, "LLEN jd:dead:ids:stripe");
    JD_EXPECT(len == counted, "%s: the source's list holds %lld, want %d", when, len, counted);
}

int main(void)
{
    jd_setup("dead_discard", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "max_deliveries = 2");
    jd_daemon_start(&d, 1);
    redisContext *rc = jd_redis_connect(&redis);

    post_poison(&d, "poisonone");
    post_poison(&d, "poisontwo");
    long dead = jd_wait_drained(&d, 60);
    JD_REQUIRE(dead == 2, "two dead letters, got %ld", dead);
    check_accounting(rc, "after dead-lettering");

    /* An operator's hand-made dead letter: never counted, so never uncounted. */
    redisReply *x = redisCommand(rc,
                                 "XADD jd:dead * entry 1-1 reason %s src stripe type t "
                                 "recv 1 body {}",
                                 "by hand");
    JD_REQUIRE(x && x->type == REDIS_REPLY_STRING, "XADD by hand");
    freeReplyObject(x);

    struct dl dl[8];
    int n = read_dead(rc, dl, 8);
    JD_REQUIRE(n == 3, "three dead letters, got %d", n);
    JD_EXPECT(discard(&d, dl[0].id, JD_TOKEN) == 200, "discarding %s", dl[0].id);
    check_accounting(rc, "after one discard");
    JD_EXPECT(discard(&d, dl[0].id, JD_TOKEN) == 404, "discarding %s twice: 404", dl[0].id);
    JD_EXPECT(discard(&d, "1-0", JD_TOKEN) == 404, "an absent id: 404");
    JD_EXPECT(discard(&d, "replay", JD_TOKEN) == 404, "not a stream id: 404");
    JD_EXPECT(discard(&d, dl[0].id, "wrong-token-0123456789") == 401, "no valid token: 401");
    JD_EXPECT(discard(&d, dl[2].id, JD_TOKEN) == 200, "discarding the hand-made one");
    check_accounting(rc, "after discarding the hand-made one");
    JD_EXPECT(discard(&d, dl[1].id, JD_TOKEN) == 200, "discarding %s", dl[1].id);
    check_accounting(rc, "after discarding all");
    JD_EXPECT(jd_redis_int(rc, "XLEN jd:dead") == 0, "no dead letters left");
    dead = jd_wait_drained(&d, 10);
    JD_EXPECT(dead == 0, "/v1/status counts none, got %ld", dead);

    /* The log names what went, never the payload. */
    char *log = jd_slurp(d.log);
    JD_REQUIRE(log, "read the log");
    char want[160];
    snprintf(want, sizeof want,
             "msg=\"dead letter discarded\" id=%s source=stripe reason=", dl[0].id);
    const char *line = strstr(log, want);
    JD_EXPECT(line, "the discard is logged with id, source and reason (%s)", want);
    JD_EXPECT(line && dl[0].evt[0] && strstr(line, dl[0].evt) &&
                  strstr(line, dl[0].evt) < strchr(line, '\n'),
              "the logged reason names the event (%s)", dl[0].evt);
    JD_EXPECT(!strstr(log, "poisonone@example.com") && !strstr(log, "poisontwo@example.com"),
              "no body in the log");
    free(log);

    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
