/*
 * Poison events (DESIGN §8): a webhook its connector cannot handle goes to the dead-letter
 * stream with the reason, does not block the webhooks behind it, and can be replayed after
 * a fix with POST /v1/dead/replay — a replayed entry that is fine now is applied, one that
 * still fails comes back to the dead-letter stream with its reason.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long replay(const struct jd_daemon *d, const char *query, long *replayed)
{
    char url[256];
    struct jd_http h;
    const char *headers[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(url, sizeof url, "%s/v1/dead/replay%s", d->base, query);
    jd_http(&h, "POST", url, headers, "", 0);
    cJSON *o = jd_http_json(&h);
    int ok = 0;
    *replayed = o ? (long)jd_json_int(cJSON_GetObjectItem(o, "replayed"), &ok) : -1;
    if (!ok)
        *replayed = -1;
    cJSON_Delete(o);
    long status = h.status;
    jd_http_free(&h);
    return status;
}

int main(void)
{
    jd_setup("dead_replay", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, "max_deliveries = 2");
    jd_daemon_start(&d, 1);
    redisContext *rc = jd_redis_connect(&redis);

    /* A signed Stripe payment without a currency: authentic, but the connector cannot
     * turn it into money. */
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"id\":\"evt_poison\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
        "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_p\",\"amount_total\":100,"
        "\"customer_details\":{\"email\":\"poison@example.com\"},\"payment_intent\":\"pi_p\"}}}",
        (long long)jd_now_s());
    struct jd_http h;
    jd_post_stripe(&d, body, &h);
    JD_REQUIRE(h.status == 200, "poison webhook: want 200 (queued), got %ld", h.status);
    jd_http_free(&h);
    /* A good one behind it is not blocked. */
    static const char good[] =
        "{\"events\":[{\"id\":\"after-poison\",\"kind\":\"lead\",\"at\":\"2026-10-01T10:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"fine@example.com\"}]}]}";
    jd_post_events(&d, good, &h);
    JD_REQUIRE(h.status == 200, "good webhook: want 200, got %ld", h.status);
    jd_http_free(&h);
    long dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 1, "one dead letter, got %ld", dead);
    long status;
    cJSON *j = jd_journey(&d, "email", "fine@example.com", &status);
    JD_EXPECT(status == 200 && jd_count_event(j, "events:after-poison") == 1,
              "the webhook behind the poison was applied: %s", jd_json_brief(j));
    cJSON_Delete(j);

    redisReply *r = redisCommand(rc, "XRANGE jd:dead - +");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1, "jd:dead holds one entry");
    const redisReply *f = r->element[0]->element[1];
    const char *reason = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, "reason") == 0)
            reason = f->element[i + 1]->str;
    JD_EXPECT(reason && strstr(reason, "evt_poison"), "the reason names the event: %s",
              reason ? reason : "(none)");
    freeReplyObject(r);

    /* Replayed while the connector still refuses it: back to jd:dead, nothing applied. */
    long n;
    JD_EXPECT(replay(&d, "", &n) == 200 && n == 1, "replay: want 200 and 1 replayed, got %ld", n);
    dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 1, "still one dead letter after a replay that fails again, got %ld", dead);
    j = jd_journey(&d, "email", "poison@example.com", &status);
    JD_EXPECT(status == 404, "the poison payment was not applied: %ld", status);
    cJSON_Delete(j);

    /* "The fix": an operator corrects the stored payload (here: the currency the payment
     * was missing), then replays it. */
    r = redisCommand(rc, "XRANGE jd:dead - +");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1, "jd:dead holds one entry");
    char id[64];
    snprintf(id, sizeof id, "%s", r->element[0]->element[0]->str);
    f = r->element[0]->element[1];
    redisReply *x = NULL;
    const char *src = NULL, *type = NULL, *recv = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
        if (strcmp(k, "src") == 0)
            src = v;
        else if (strcmp(k, "type") == 0)
            type = v;
        else if (strcmp(k, "recv") == 0)
            recv = v;
    }
    JD_REQUIRE(src && type && recv, "the dead letter keeps src, type and recv");
    char fixed[600];
    snprintf(fixed, sizeof fixed, "%.*s,\"currency\":\"eur\"}}}", (int)(strstr(body, "}}}") - body),
             body);
    x = redisCommand(rc, "XADD jd:dead * entry %s reason %s src %s type %s recv %s body %s", id,
                     "fixed by hand", src, type, recv, fixed);
    JD_REQUIRE(x && x->type == REDIS_REPLY_STRING, "re-adding the corrected dead letter");
    freeReplyObject(x);
    x = redisCommand(rc, "XDEL jd:dead %s", id);
    freeReplyObject(x);
    freeReplyObject(r);
    JD_EXPECT(replay(&d, "?count=10", &n) == 200 && n == 1, "replay of the fix: got %ld", n);
    dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "no dead letters left, got %ld", dead);
    j = jd_journey(&d, "email", "poison@example.com", &status);
    const cJSON *rev = jd_json_path(j, "contact.revenue.EUR");
    int ok = 0;
    JD_EXPECT(status == 200 && jd_json_int(rev, &ok) == 100 && ok,
              "the fixed payment was applied with its revenue: %s", jd_json_brief(j));
    cJSON_Delete(j);

    JD_EXPECT(replay(&d, "?count=0", &n) == 400, "count=0 is refused");
    JD_EXPECT(replay(&d, "", &n) == 200 && n == 0, "nothing left to replay: %ld", n);

    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
