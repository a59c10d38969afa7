/*
 * The outbox (issue 14: daemon/outbox.c, apply.lua's outbox block, destinations/) against
 * fake receivers on loopback:
 *
 *   1. Webhooks, exactly once, through 5xx and 429: five form leads and three payments give
 *      exactly eight lead.created and three contact.paid webhooks (distinct webhook-ids),
 *      although the receiver answers 503, 503, 503, then 429 with Retry-After: 1 before
 *      200s. Every request is signed the Standard Webhooks way (the signature recomputed
 *      here with libcrypto from the whsec_ secret), a redelivered message keeps its
 *      webhook-id and its body, and each id is answered 200 once. The journey answer lists
 *      what was sent about the lead; /metrics counts deliveries by destination and result.
 *   2. SIGKILL during delivery: the receiver holds its answers for 2 s; journeyd is killed
 *      while requests are in flight and restarted; every message then arrives, each
 *      webhook-id answered 200 exactly once.
 *   3. SSRF: a destination whose https:// URL is a loopback address, without
 *      allow_private, sends nothing; its message goes to jd:out:dead with the reason.
 *   4. SLA alerts (response_hours = 0.003, about 11 s; no injected clock: the lead's own
 *      time is now): a lead nobody answers gets one Slack alert naming its email, within
 *      60 s of the breach; a lead answered by a sales_touch at once never alerts; a restart
 *      after the alert sends no second one.
 *   5. Redis restarted from its append-only file (SIGKILL, 2 s after the messages were
 *      queued: the everysec fsync has them): the receiver answers 503 until Redis is back;
 *      then every message arrives, each webhook-id answered 200 exactly once.
 *   6. A message left pending by a consumer that died on another host is claimed after
 *      claim_idle and delivered; a 429 with Retry-After: 1 holds the whole destination
 *      (max_concurrent = 1) back for that second, not just the message answered. With
 *      consent_field = consent_ads, a lead posted with consent_ads = no arrives with
 *      "consent_refused": true in its data (what the ad-platform types skip on), the
 *      others without it.
 *   7. A figure, no threshold: 200 leads to a receiver answering at once (max_concurrent
 *      8), every one delivered once; the time from the first post to the last delivery is
 *      printed.
 *   8. Erasing a contact drops its pending messages: with the receiver answering 503, a
 *      lead's messages wait; DELETE /v1/contacts/<id> leaves nothing of it in jd:out.
 */
#include "fake_api.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define WH_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MAX_IDS 64

static struct jd_daemon daemon_;
static struct fake_api *fake;
static struct jd_redis redis;
static int r_hook, r_slack, r_slow, r_erase, r_durable, r_serial, r_bulk;

/* Standard Webhooks: base64 HMAC-SHA256 of "id.timestamp.body", keyed with the base64 of
 * the secret after "whsec_". */
static void sign(const char *id, const char *ts, const char *body, size_t len, char *out)
{
    const char *b64 = WH_SECRET + 6;
    unsigned char key[64];
    int klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)strlen(b64));
    struct jd_buf m = {0};
    jd_buf_printf(&m, "%s.%s.", id, ts);
    jd_buf_append(&m, body, len);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, klen, (const unsigned char *)m.p, m.len, mac, &maclen);
    jd_buf_free(&m);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
}

struct seen {
    char id[64];
    char type[32];
    int ok;     /* answered 200 */
    int copies; /* requests */
};

/* The distinct webhook-ids the route got, with how often each was answered 200; checks
 * every request's signature and that every copy of one id has the same body. Returns the
 * number of distinct ids. */
static size_t collect(int route, struct seen *s, size_t cap, int *bad_sig, int *changed_body)
{
    size_t n = 0, total = fake_api_nrequests(fake);
    static char first_body[MAX_IDS][8192];
    *bad_sig = *changed_body = 0;
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0 || r.route != route)
            continue;
        char id[64] = "", ts[32] = "", sig[128] = "", want[64];
        fake_request_header(&r, "webhook-id", id, sizeof id);
        fake_request_header(&r, "webhook-timestamp", ts, sizeof ts);
        fake_request_header(&r, "webhook-signature", sig, sizeof sig);
        sign(id, ts, r.body, r.body_len, want);
        if (strcmp(sig, want) != 0)
            (*bad_sig)++;
        size_t k = 0;
        while (k < n && strcmp(s[k].id, id) != 0)
            k++;
        if (k == n) {
            if (n == cap)
                continue;
            memset(&s[n], 0, sizeof s[n]);
            snprintf(s[n].id, sizeof s[n].id, "%s", id);
            cJSON *b = cJSON_Parse(r.body);
            const char *t = b ? jd_json_str(b, "type") : NULL;
            snprintf(s[n].type, sizeof s[n].type, "%s", t ? t : "");
            cJSON_Delete(b);
            snprintf(first_body[n], sizeof first_body[n], "%s", r.body);
            n++;
        } else if (strcmp(first_body[k], r.body) != 0) {
            (*changed_body)++;
        }
        s[k].copies++;
        s[k].ok += r.status == 200;
    }
    return n;
}

static size_t count_type(const struct seen *s, size_t n, const char *type)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(s[i].type, type) == 0;
    return c;
}

/* Waits until the route has `want` distinct ids each answered 200. */
static size_t wait_delivered(int route, size_t want, int timeout_s, struct seen *s)
{
    int64_t end = jd_mono_ms() + timeout_s * 1000;
    size_t n = 0;
    while (jd_mono_ms() < end) {
        int bad, changed;
        n = collect(route, s, MAX_IDS, &bad, &changed);
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += s[i].ok > 0;
        if (ok >= want)
            return n;
        jd_sleep_ms(200);
    }
    return n;
}

static void post_lead(const char *email, const char *sub)
{
    char form[512];
    snprintf(form, sizeof form,
             "{\"email\":\"%s\",\"name\":\"Lead %s\",\"utm_source\":\"facebook\","
             "\"utm_medium\":\"cpc\",\"submission_id\":\"%s\"}",
             email, sub, sub);
    struct jd_http h;
    jd_post_form(&daemon_, form, "application/json", &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/site: %ld", h.status);
    jd_http_free(&h);
}

static void post_touch(const char *id, const char *email)
{
    char at[32], body[512];
    jd_rfc3339(jd_now_s() + 1, at, sizeof at);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"%s\",\"kind\":\"sales_touch\",\"at\":\"%s\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}]}",
             id, at, email);
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: %ld %s", h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

static void scenario_exactly_once(void)
{
    /* 503 ×3, then 429 with Retry-After: 1, then 200 for good. */
    for (int i = 0; i < 3; i++)
        fake_api_reply(fake, r_hook, 503, NULL, "{}", 0);
    fake_api_reply(fake, r_hook, 429, "Retry-After: 1\r\n", "{}", 0);
    fake_api_reply(fake, r_hook, 200, NULL, "{}", 0);
    for (int i = 0; i < 5; i++) {
        char email[64], sub[32];
        snprintf(email, sizeof email, "lead%d@example.com", i);
        snprintf(sub, sizeof sub, "sub-%d", i);
        post_lead(email, sub);
    }
    for (int i = 0; i < 3; i++) {
        char *b = jd_stripe_checkout_body("ob", i);
        struct jd_http h;
        jd_post_stripe(&daemon_, b, &h);
        JD_REQUIRE(h.status == 200, "stripe: %ld", h.status);
        jd_http_free(&h);
        free(b);
    }
    struct seen s[MAX_IDS];
    size_t n = wait_delivered(r_hook, 11, 120, s);
    int bad_sig, changed;
    n = collect(r_hook, s, MAX_IDS, &bad_sig, &changed);
    JD_EXPECT(n == 11, "distinct webhook-ids: %zu, want 11", n);
    JD_EXPECT(count_type(s, n, "lead.created") == 8, "lead.created: %zu, want 8",
              count_type(s, n, "lead.created"));
    JD_EXPECT(count_type(s, n, "contact.paid") == 3, "contact.paid: %zu, want 3",
              count_type(s, n, "contact.paid"));
    size_t retried = 0;
    for (size_t i = 0; i < n; i++) {
        JD_EXPECT(s[i].ok == 1, "webhook-id %s answered 200 %d times", s[i].id, s[i].ok);
        retried += s[i].copies > 1;
    }
    JD_EXPECT(retried >= 1, "no message was retried after the 503s");
    JD_EXPECT(bad_sig == 0, "%d requests with a wrong webhook-signature", bad_sig);
    JD_EXPECT(changed == 0, "%d redeliveries changed the body", changed);
    /* Retry-After: the message answered 429 came again a second later, at least. */
    size_t total = fake_api_nrequests(fake);
    char id429[64] = "";
    int64_t t429 = -1;
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        char id[64] = "";
        if (fake_api_request(fake, i, &r) != 0 || r.route != r_hook)
            continue;
        fake_request_header(&r, "webhook-id", id, sizeof id);
        if (r.status == 429) {
            t429 = r.at_ms;
            snprintf(id429, sizeof id429, "%s", id);
        } else if (t429 >= 0 && strcmp(id, id429) == 0) {
            JD_EXPECT(r.at_ms - t429 >= 900, "sent again %lld ms after its 429 (Retry-After: 1)",
                      (long long)(r.at_ms - t429));
            break;
        }
    }
    JD_EXPECT(t429 >= 0, "no request was answered 429");
    /* Nothing left behind, and the journey says what was sent. */
    jd_sleep_ms(500);
    redisContext *rc = jd_redis_connect(&redis);
    JD_EXPECT(jd_redis_int(rc, "XLEN jd:out") == 0, "jd:out still holds %lld",
              jd_redis_int(rc, "XLEN jd:out"));
    redisFree(rc);
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "lead0@example.com", &st);
    JD_REQUIRE(j, "journey: %ld", st);
    const cJSON *sent = jd_json_path(j, "sent");
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, sent)
    {
        const char *d = jd_json_str(it, "destination"), *r = jd_json_str(it, "result");
        found += d && r && strcmp(d, "crm") == 0 && strcmp(r, "delivered") == 0;
    }
    JD_EXPECT(found == 1, "journey sent list: %s", jd_json_brief(sent));
    cJSON_Delete(j);
    long long delivered = jd_metric(&daemon_, "journeyd_outbox_total{destination=\"crm\","
                                              "result=\"delivered\"}");
    JD_EXPECT(delivered == 11, "metric delivered: %lld", delivered);
}

static void scenario_sigkill(void)
{
    fake_api_reply(fake, r_slow, 200, NULL, "{}", 2000);
    for (int i = 0; i < 4; i++) {
        char email[64], sub[32];
        snprintf(email, sizeof email, "kill%d@example.com", i);
        snprintf(sub, sizeof sub, "kill-%d", i);
        post_lead(email, sub);
    }
    int64_t end = jd_mono_ms() + 60000;
    while (fake_api_hits(fake, r_slow) == 0 && jd_mono_ms() < end)
        jd_sleep_ms(20);
    JD_REQUIRE(fake_api_hits(fake, r_slow) > 0, "no request reached the slow receiver");
    jd_daemon_signal(&daemon_, SIGKILL);
    jd_daemon_wait_exit(&daemon_, 10);
    jd_daemon_start(&daemon_, 1);
    struct seen s[MAX_IDS];
    size_t n = wait_delivered(r_slow, 4, 120, s);
    int bad_sig, changed;
    n = collect(r_slow, s, MAX_IDS, &bad_sig, &changed);
    JD_EXPECT(n == 4, "distinct webhook-ids after the SIGKILL: %zu, want 4", n);
    for (size_t i = 0; i < n; i++)
        JD_EXPECT(s[i].ok == 1, "webhook-id %s answered 200 %d times (%d requests)", s[i].id,
                  s[i].ok, s[i].copies);
    JD_EXPECT(bad_sig == 0 && changed == 0, "signatures %d, bodies changed %d", bad_sig, changed);
    size_t aborted = 0, total = fake_api_nrequests(fake);
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) == 0 && r.route == r_slow && r.status != 200)
            aborted++;
    }
    jd_note("sigkill: %zu requests cut short by the kill, all sent again", aborted);
    JD_EXPECT(aborted >= 1, "the kill cut no request short");
}

static void scenario_ssrf(void)
{
    redisContext *rc = jd_redis_connect(&redis);
    int64_t end = jd_mono_ms() + 60000;
    long long dead = 0;
    while ((dead = jd_redis_int(rc, "XLEN jd:out:dead")) < 1 && jd_mono_ms() < end)
        jd_sleep_ms(200);
    JD_EXPECT(dead >= 1, "no dead letter for the loopback destination");
    redisReply *r = redisCommand(rc, "XRANGE jd:out:dead - + COUNT 100");
    int named = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *kv = r->element[i]->element[1];
        int blocked_dest = 0, reason_ok = 0;
        for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            if (strcmp(kv->element[k]->str, "d") == 0 &&
                strcmp(kv->element[k + 1]->str, "blocked") == 0)
                blocked_dest = 1;
            if (strcmp(kv->element[k]->str, "reason") == 0 &&
                strstr(kv->element[k + 1]->str, "not allowed"))
                reason_ok = 1;
        }
        named += blocked_dest && reason_ok;
    }
    JD_EXPECT(named >= 1, "no dead letter of 'blocked' names the refused address");
    freeReplyObject(r);
    redisFree(rc);
    JD_EXPECT(fake_api_count(fake, NULL, "/blocked") == 0, "the blocked destination was called");
}

static void scenario_sla(void)
{
    int64_t t0 = jd_mono_ms();
    post_lead("waiting@example.com", "sla-wait");
    post_lead("answered@example.com", "sla-answered");
    post_touch("touch-answered", "answered@example.com");
    /* Breach at ~11 s; the alert must leave within 60 s of it. */
    int64_t end = t0 + 11000 + 60000;
    while (fake_api_hits(fake, r_slack) < 1 && jd_mono_ms() < end)
        jd_sleep_ms(200);
    JD_REQUIRE(fake_api_hits(fake, r_slack) >= 1, "no SLA alert within 60 s of the breach");
    jd_note("sla: the alert arrived %lld ms after the lead (limit 10.8 s)",
            (long long)(jd_mono_ms() - t0));
    /* A restart, then time for a second alert to show up if one were coming. */
    jd_daemon_signal(&daemon_, SIGKILL);
    jd_daemon_wait_exit(&daemon_, 10);
    jd_daemon_start(&daemon_, 1);
    jd_sleep_ms(12000);
    size_t total = fake_api_nrequests(fake), waiting = 0, answered = 0;
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0 || r.route != r_slack)
            continue;
        if (strstr(r.body, "waiting@example.com") && strstr(r.body, "Lead waiting past the SLA"))
            waiting++;
        if (strstr(r.body, "answered@example.com"))
            answered++;
    }
    JD_EXPECT(waiting == 1, "alerts for the waiting lead: %zu, want 1", waiting);
    JD_EXPECT(answered == 0, "alerts for the answered lead: %zu, want 0", answered);
}

static void scenario_redis_restart(void)
{
    fake_api_reply(fake, r_durable, 503, NULL, "{}", 0);
    for (int i = 0; i < 3; i++) {
        char email[64], sub[32];
        snprintf(email, sizeof email, "aof%d@example.com", i);
        snprintf(sub, sizeof sub, "aof-%d", i);
        post_lead(email, sub);
    }
    int64_t end = jd_mono_ms() + 60000;
    while (fake_api_hits(fake, r_durable) < 3 && jd_mono_ms() < end)
        jd_sleep_ms(50);
    JD_REQUIRE(fake_api_hits(fake, r_durable) >= 3, "the messages never reached the receiver");
    jd_sleep_ms(2000);
    jd_redis_kill(&redis, SIGKILL);
    jd_redis_start(&redis, redis.dir, redis.port);
    fake_api_clear_replies(fake, r_durable);
    fake_api_reply(fake, r_durable, 200, NULL, "{}", 0);
    struct seen s[MAX_IDS];
    size_t n = wait_delivered(r_durable, 3, 120, s);
    int bad_sig, changed;
    n = collect(r_durable, s, MAX_IDS, &bad_sig, &changed);
    JD_EXPECT(n == 3, "distinct webhook-ids after the Redis restart: %zu, want 3", n);
    for (size_t i = 0; i < n; i++)
        JD_EXPECT(s[i].ok == 1, "webhook-id %s answered 200 %d times", s[i].id, s[i].ok);
    JD_EXPECT(changed == 0, "%d redeliveries changed the body", changed);
}

/* Before journeyd starts: a message for `serial` read by "ghost-9", a consumer of another
 * host that died holding it. */
static void plant_ghost(void)
{
    redisContext *rc = jd_redis_connect(&redis);
    redisReply *r = redisCommand(rc,
                                 "XADD jd:out * d serial k lead.created x msg_ghost c "
                                 "c_00000000000000000000 e ghost-event f %s",
                                 "{\"event\":\"ghost-event\",\"at\":\"2026-10-01T00:00:00Z\"}");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STRING, "XADD jd:out failed");
    freeReplyObject(r);
    r = redisCommand(rc, "XREADGROUP GROUP out ghost-9 COUNT 100 STREAMS jd:out >");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "XREADGROUP as the ghost failed");
    freeReplyObject(r);
    redisFree(rc);
}

static void scenario_claim_and_pause(void)
{
    fake_api_reply(fake, r_serial, 429, "Retry-After: 1\r\n", "{}", 0);
    fake_api_reply(fake, r_serial, 200, NULL, "{}", 0);
    post_lead("serial0@example.com", "serial-0");
    struct jd_http h;
    jd_post_form(&daemon_,
                 "{\"email\":\"serial1@example.com\",\"submission_id\":\"serial-1\","
                 "\"consent_ads\":\"no\"}",
                 "application/json", &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/site: %ld", h.status);
    jd_http_free(&h);
    struct seen s[MAX_IDS];
    size_t n = wait_delivered(r_serial, 3, 60, s);
    int bad_sig, changed;
    n = collect(r_serial, s, MAX_IDS, &bad_sig, &changed);
    JD_EXPECT(n == 3, "distinct webhook-ids: %zu, want 3 (two leads and the ghost's)", n);
    int ghost = 0;
    for (size_t i = 0; i < n; i++) {
        JD_EXPECT(s[i].ok == 1, "webhook-id %s answered 200 %d times", s[i].id, s[i].ok);
        ghost += strcmp(s[i].id, "msg_ghost") == 0 && s[i].ok == 1;
    }
    JD_EXPECT(ghost == 1, "the dead consumer's message was not delivered");
    size_t total_c = fake_api_nrequests(fake);
    int refused = 0, plain = 0;
    for (size_t i = 0; i < total_c; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0 || r.route != r_serial || r.status != 200)
            continue;
        cJSON *b = cJSON_Parse(r.body);
        const cJSON *data = b ? jd_json_path(b, "data") : NULL;
        const cJSON *c = data ? cJSON_GetObjectItemCaseSensitive(data, "consent_refused") : NULL;
        const char *body = r.body;
        if (strstr(body, "serial1@example.com"))
            refused += cJSON_IsTrue(c);
        else if (strstr(body, "serial0@example.com"))
            plain += c == NULL;
        cJSON_Delete(b);
    }
    JD_EXPECT(refused == 1, "the lead that refused consent was not marked consent_refused");
    JD_EXPECT(plain == 1, "the lead that did not refuse was marked");
    size_t total = fake_api_nrequests(fake);
    int64_t t429 = -1;
    for (size_t i = 0; i < total; i++) {
        struct fake_request r;
        if (fake_api_request(fake, i, &r) != 0 || r.route != r_serial)
            continue;
        if (r.status == 429)
            t429 = r.at_ms;
        else if (t429 >= 0) {
            JD_EXPECT(r.at_ms - t429 >= 900, "the destination was called %lld ms after its 429",
                      (long long)(r.at_ms - t429));
            break;
        }
    }
    JD_EXPECT(t429 >= 0, "no 429 was answered");
}

static void scenario_bulk(void)
{
    enum { N = 200 };
    fake_api_reply(fake, r_bulk, 200, NULL, "{}", 0);
    int64_t t0 = jd_mono_ms();
    for (int i = 0; i < N; i++) {
        char email[64], sub[32];
        snprintf(email, sizeof email, "bulk%d@example.com", i);
        snprintf(sub, sizeof sub, "bulk-%d", i);
        post_lead(email, sub);
    }
    int64_t posted = jd_mono_ms();
    int64_t end = posted + 120000;
    while (fake_api_hits(fake, r_bulk) < N && jd_mono_ms() < end)
        jd_sleep_ms(20);
    int64_t done = jd_mono_ms();
    JD_EXPECT(fake_api_hits(fake, r_bulk) == N, "bulk: %zu requests, want %d",
              fake_api_hits(fake, r_bulk), N);
    jd_note("bulk: %d leads posted in %lld ms, all %d webhooks delivered %lld ms after the "
            "first post (%.0f per second end to end)",
            N, (long long)(posted - t0), N, (long long)(done - t0),
            N * 1000.0 / (double)(done - t0 > 0 ? done - t0 : 1));
}

static void scenario_erase(void)
{
    fake_api_reply(fake, r_erase, 503, NULL, "{}", 0);
    post_lead("erase@example.com", "erase-1");
    int64_t end = jd_mono_ms() + 60000;
    while (fake_api_hits(fake, r_erase) == 0 && jd_mono_ms() < end)
        jd_sleep_ms(50);
    JD_REQUIRE(fake_api_hits(fake, r_erase) > 0, "the erase receiver was never called");
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "erase@example.com", &st);
    JD_REQUIRE(j, "journey: %ld", st);
    char path[128];
    snprintf(path, sizeof path, "%s/v1/contacts/%s", daemon_.base,
             jd_json_str(jd_json_path(j, "contact"), "id"));
    cJSON_Delete(j);
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    struct jd_http h;
    jd_http(&h, "DELETE", path, hdrs, NULL, 0);
    JD_EXPECT(h.status == 200 || h.status == 204, "DELETE: %ld", h.status);
    jd_http_free(&h);
    redisContext *rc = jd_redis_connect(&redis);
    redisReply *r = redisCommand(rc, "XRANGE jd:out - +");
    size_t left = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *kv = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < kv->elements; k += 2)
            left += strcmp(kv->element[k]->str, "f") == 0 &&
                    strstr(kv->element[k + 1]->str, "erase@example.com") != NULL;
    }
    freeReplyObject(r);
    JD_EXPECT(left == 0, "%zu messages about the erased contact are still in jd:out", left);
    redisFree(rc);
    size_t before = fake_api_hits(fake, r_erase);
    jd_sleep_ms(4000);
    JD_EXPECT(fake_api_hits(fake, r_erase) <= before + 1,
              "the erased contact's message is still being sent (%zu more)",
              fake_api_hits(fake, r_erase) - before);
}

/* (Re)starts journeyd with these [destination] sections (and [sla] when given). */
static void start_with(const char *sections)
{
    if (daemon_.pid > 0)
        jd_daemon_stop(&daemon_);
    char extra[4096];
    snprintf(extra, sizeof extra, "outbound_backoff = 100ms\n%s", sections);
    /* jd_daemon_config appends `extra` to [journeyd]; the sections in it end that one and
     * the harness's [source] sections follow. */
    jd_daemon_config(&daemon_, redis.port, extra);
    jd_daemon_start(&daemon_, 1);
}

#define WEBHOOK(name, url, events)                                                                 \
    "\n[destination " name "]\ntype = webhook\nurl = " url "\nsecret = " WH_SECRET                 \
    "\nevents = " events "\n"

int main(void)
{
    jd_setup("test_outbox", 480, 1);
    fake = fake_api_start();
    r_hook = fake_api_route(fake, "POST", "/hook", FAKE_EXACT);
    r_slow = fake_api_route(fake, "POST", "/slow", FAKE_EXACT);
    r_slack = fake_api_route(fake, "POST", "/slack", FAKE_EXACT);
    r_erase = fake_api_route(fake, "POST", "/erase", FAKE_EXACT);
    r_durable = fake_api_route(fake, "POST", "/durable", FAKE_EXACT);
    r_serial = fake_api_route(fake, "POST", "/serial", FAKE_EXACT);
    r_bulk = fake_api_route(fake, "POST", "/bulk", FAKE_EXACT);
    fake_api_reply(fake, r_slack, 200, "Content-Type: text/plain\r\n", "ok", 0);
    jd_redis_start(&redis, NULL, 0);
    const char *base = fake_api_base(fake);
    char s[2048];

    snprintf(
        s, sizeof s,
        WEBHOOK("crm", "%s/hook", "lead.created, contact.paid") "allow_private = yes\n" WEBHOOK(
            "blocked", "https://127.0.0.1:%d/blocked", "contact.paid"),
        base, fake_api_port(fake));
    start_with(s);
    scenario_exactly_once();
    scenario_ssrf();

    snprintf(s, sizeof s, WEBHOOK("slow", "%s/slow", "lead.created") "allow_private = yes\n", base);
    start_with(s);
    scenario_sigkill();

    snprintf(s, sizeof s,
             "\n[sla]\nresponse_hours = 0.003\n"
             "\n[destination alerts]\ntype = slack\nurl = %s/slack\nallow_private = yes\n"
             "dashboard_url = https://journeyd.example.com/ui/\n",
             base);
    start_with(s);
    scenario_sla();

    snprintf(s, sizeof s, WEBHOOK("durable", "%s/durable", "lead.created") "allow_private = yes\n",
             base);
    start_with(s);
    scenario_redis_restart();

    jd_daemon_stop(&daemon_);
    daemon_.pid = 0;
    plant_ghost();
    snprintf(s, sizeof s,
             "consent_field = consent_ads\n" WEBHOOK(
                 "serial", "%s/serial", "lead.created") "allow_private = yes\nmax_concurrent = 1\n",
             base);
    start_with(s);
    scenario_claim_and_pause();

    snprintf(s, sizeof s,
             WEBHOOK("bulk", "%s/bulk", "lead.created") "allow_private = yes\nmax_concurrent = 8\n",
             base);
    start_with(s);
    scenario_bulk();

    snprintf(s, sizeof s, WEBHOOK("erasable", "%s/erase", "lead.created") "allow_private = yes\n",
             base);
    start_with(s);
    scenario_erase();

    jd_daemon_stop(&daemon_);
    fake_api_stop(fake);
    return jd_finish();
}
