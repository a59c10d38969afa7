/*
 * Erasure that really erases (issue 12.5, DESIGN §7 DELETE /v1/contacts/<id>):
 *
 *   1. A person P has a lead that was dead-lettered for a config cause (the source
 *      "leads" was retyped to typeform after the lead was queued as a form), events from
 *      /v1/events, the site form and Stripe, and a conflict with a partner Q (an event
 *      carrying P's email and Q's HubSpot id). More of P's webhooks wait in the queue
 *      (a daemon without the worker role), beside a bystander's, and one batch carries an
 *      event of P's and one of another person's.
 *   2. DELETE: the answer counts the queue entries and the dead letter removed, the
 *      shared batch left and the conflict scrubbed; the queue holds only the bystanders'
 *      entries (the shared batch's other event is applied later), the dead-letter
 *      stream nothing (and its byte count is back to 0); Q has no conflict left, and its
 *      event no longer names P's email.
 *   3. A copy of the dead letter comes back (a backup restored: no scan can see it). A
 *      week later (the daemon's test clock is shifted by JD_TEST_CLOCK_OFFSET, and every
 *      Redis key with an expiry is deleted, as a week would have done), the config is
 *      fixed by SIGHUP and the dead letters replayed: P stays gone. Every one of P's
 *      webhooks is delivered again (Stripe signed at the shifted time): still gone, and
 *      no key name or value in Redis holds P's email, phone, ids or name.
 *   4. A new event of P after the erasure (they sign up again) creates a contact.
 */
#include "harness.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK_S (7 * 86400)
#define LEADS_SECRET "leads_form_secret_0123"
#define P_EMAIL "erasep00000@example.com" /* jd_stripe_checkout_body("erasep", 0)'s */
#define P_PHONE "+39 02 9876 5432"
#define P_PHONE_E164 "+390298765432"
#define P_HS "hs-erase-person-p"
#define P_ANON "a_erasep_cookie"
#define P_NAME "Erasa Persona"
#define Q_EMAIL "partner.q@example.com"
#define Q_HS "hs-partner-q"

static const char leads_form[] =
    "[source leads]\ntype = form\nauth = hmac\nsecret = " LEADS_SECRET "\n";
static const char leads_broken[] = "[source leads]\ntype = typeform\nsecret = " LEADS_SECRET "\n";

static const char ev_p[] =
    "{\"events\":[{\"id\":\"p1\",\"kind\":\"lead\",\"at\":\"2026-10-01T10:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"" P_EMAIL "\"},"
    "{\"type\":\"hubspot_contact\",\"value\":\"" P_HS "\"}]},"
    "{\"id\":\"p2\",\"kind\":\"visit\",\"at\":\"2026-10-01T09:00:00Z\","
    "\"identities\":[{\"type\":\"anon\",\"value\":\"" P_ANON "\"}]}]}";
static const char ev_q[] =
    "{\"events\":[{\"id\":\"q1\",\"kind\":\"lead\",\"at\":\"2026-10-01T11:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"" Q_EMAIL "\"},"
    "{\"type\":\"hubspot_contact\",\"value\":\"" Q_HS "\"}]}]}";
/* P's email with Q's HubSpot id: a conflict on both; the event stays with Q. */
static const char ev_conflict[] =
    "{\"events\":[{\"id\":\"c1\",\"kind\":\"form\",\"at\":\"2026-10-02T10:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"" P_EMAIL "\"},"
    "{\"type\":\"hubspot_contact\",\"value\":\"" Q_HS "\"}]}]}";
static const char ev_link[] =
    "{\"events\":[{\"id\":\"p3\",\"kind\":\"form\",\"at\":\"2026-10-03T10:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"" P_EMAIL "\"},"
    "{\"type\":\"phone\",\"value\":\"" P_PHONE "\"},{\"type\":\"anon\",\"value\":\"" P_ANON
    "\"}]}]}";
static const char ev_late[] =
    "{\"events\":[{\"id\":\"p4\",\"kind\":\"meeting\",\"at\":\"2026-10-06T10:00:00Z\","
    "\"identities\":[{\"type\":\"phone\",\"value\":\"" P_PHONE "\"}]}]}";
static const char ev_keep[] =
    "{\"events\":[{\"id\":\"k1\",\"kind\":\"lead\",\"at\":\"2026-10-01T12:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"keep@example.com\"}]}]}";
/* One batch, two people: it is not P's alone, so it stays queued (the bystander's event
 * must be applied) and apply.lua drops P's event in it. */
static const char ev_shared[] =
    "{\"events\":[{\"id\":\"p5\",\"kind\":\"visit\",\"at\":\"2026-10-07T10:00:00Z\","
    "\"identities\":[{\"type\":\"anon\",\"value\":\"" P_ANON "\"}]},"
    "{\"id\":\"k2\",\"kind\":\"lead\",\"at\":\"2026-10-07T10:00:00Z\","
    "\"identities\":[{\"type\":\"email\",\"value\":\"keep2@example.com\"}]}]}";
static const char site_form[] = "{\"email\":\"" P_EMAIL "\",\"phone\":\"" P_PHONE
                                "\",\"name\":\"" P_NAME "\",\"submission_id\":\"erase-site-1\","
                                "\"submitted_at\":\"2026-10-04T10:00:00Z\"}";
static const char lead_form[] = "email=" P_EMAIL "&phone=%2B39%2002%209876%205432&name=Erasa+"
                                "Persona&submission_id=erase-lead-1&submitted_at=2026-10-05T10%3A"
                                "00%3A00Z";

/* What must not be found anywhere in Redis after the erasure. */
static const char *const traces[] = {P_EMAIL, P_PHONE_E164, "390298765432", P_HS,
                                     P_ANON,  P_NAME,       "Erasa+Persona"};

static void post_events(const struct jd_daemon *d, const char *body)
{
    struct jd_http h;
    jd_post_events(d, body, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: want 200, got %ld %s", h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

static void post_site(const struct jd_daemon *d, const char *body)
{
    struct jd_http h;
    jd_post_form(d, body, "application/json", &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/site: want 200, got %ld", h.status);
    jd_http_free(&h);
}

static void post_lead(const struct jd_daemon *d)
{
    char url[128], sig[160];
    struct jd_http h;
    snprintf(url, sizeof url, "%s/hooks/leads", d->base);
    jd_form_sig_header(sig, sizeof sig, LEADS_SECRET, lead_form, strlen(lead_form));
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", sig, NULL};
    jd_http(&h, "POST", url, headers, lead_form, strlen(lead_form));
    JD_REQUIRE(h.status == 200, "POST /hooks/leads: want 200, got %ld", h.status);
    jd_http_free(&h);
}

/* Stripe's checkout for P, signed at now + shift_s (the daemon's clock). */
static void post_stripe(const struct jd_daemon *d, int64_t shift_s)
{
    char *body = jd_stripe_checkout_body("erasep", 0);
    char url[128], sig[256];
    struct jd_http h;
    snprintf(url, sizeof url, "%s/hooks/stripe", d->base);
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s() + shift_s, body,
                         strlen(body));
    const char *headers[] = {"Content-Type: application/json", sig, NULL};
    jd_http(&h, "POST", url, headers, body, strlen(body));
    JD_REQUIRE(h.status == 200, "POST /hooks/stripe signed at +%" PRId64 " s: want 200, got %ld",
               shift_s, h.status);
    jd_http_free(&h);
    free(body);
}

static void expect_gone(const struct jd_daemon *d, const char *when)
{
    const char *gone[][2] = {{"email", P_EMAIL},
                             {"phone", P_PHONE_E164},
                             {"anon", P_ANON},
                             {"identity", "hubspot_contact:" P_HS}};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        long status;
        cJSON *j = jd_journey(d, gone[i][0], gone[i][1], &status);
        JD_EXPECT(status == 404, "%s: %s=%s is back: %ld %s", when, gone[i][0], gone[i][1], status,
                  jd_json_brief(j));
        cJSON_Delete(j);
    }
}

/* Q: its own event and the conflict event, no conflict, nothing of P. */
static void expect_partner_clean(const struct jd_daemon *d, const char *when)
{
    long status;
    cJSON *q = jd_journey(d, "email", Q_EMAIL, &status);
    JD_REQUIRE(q && status == 200, "%s: partner journey: %ld", when, status);
    const cJSON *conf = jd_json_path(q, "contact.conflicts");
    JD_EXPECT(cJSON_GetArraySize(conf) == 0, "%s: the partner keeps a conflict with P: %s", when,
              jd_json_brief(conf));
    JD_EXPECT(jd_count_event(q, "events:c1") == 1 && jd_count_event(q, "events:q1") == 1,
              "%s: the partner's events: %s", when, jd_json_brief(q));
    char *text = jd_json_print(q);
    JD_EXPECT(text && !strstr(text, P_EMAIL) && !strstr(text, P_HS),
              "%s: the partner's journey names P: %s", when, text ? text : "");
    cJSON_free(text);
    cJSON_Delete(q);
}

static long long xlen(redisContext *rc, const char *key)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "XLEN %s", key);
    return jd_redis_int(rc, cmd);
}

/* A reply's strings, nested, appended to the dump. */
static void dump_reply(struct jd_buf *b, const redisReply *r)
{
    if (!r)
        return;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        jd_buf_append(b, r->str, r->len);
        jd_buf_append(b, "\n", 1);
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        dump_reply(b, r->element[i]);
}

/* Every key name and value in Redis, as text (redis-cli --scan and a dump of each). */
static char *dump_all(redisContext *rc)
{
    struct jd_buf b = {0};
    char cursor[32] = "0";
    int rounds = 0;
    do {
        redisReply *r = redisCommand(rc, "SCAN %s COUNT 1000", cursor);
        JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN failed");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            jd_buf_printf(&b, "KEY %s\n", k);
            redisReply *t = redisCommand(rc, "TYPE %s", k);
            const char *type = t && t->type == REDIS_REPLY_STATUS ? t->str : "";
            redisReply *v = NULL;
            if (strcmp(type, "string") == 0)
                v = redisCommand(rc, "GET %s", k);
            else if (strcmp(type, "hash") == 0)
                v = redisCommand(rc, "HGETALL %s", k);
            else if (strcmp(type, "list") == 0)
                v = redisCommand(rc, "LRANGE %s 0 -1", k);
            else if (strcmp(type, "set") == 0)
                v = redisCommand(rc, "SMEMBERS %s", k);
            else if (strcmp(type, "zset") == 0)
                v = redisCommand(rc, "ZRANGE %s 0 -1", k);
            else if (strcmp(type, "stream") == 0)
                v = redisCommand(rc, "XRANGE %s - +", k);
            dump_reply(&b, v);
            freeReplyObject(v);
            freeReplyObject(t);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && ++rounds < 10000);
    jd_buf_append(&b, "", 1);
    return b.p;
}

/* "A week later": every key with an expiry is gone, as it would be by then. */
static int expire_all(redisContext *rc)
{
    int n = 0, rounds = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(rc, "SCAN %s COUNT 1000", cursor);
        JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN failed");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            redisReply *t = redisCommand(rc, "PTTL %s", k);
            if (t && t->type == REDIS_REPLY_INTEGER && t->integer >= 0) {
                redisReply *d = redisCommand(rc, "DEL %s", k);
                freeReplyObject(d);
                n++;
            }
            freeReplyObject(t);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && ++rounds < 10000);
    return n;
}

/* The dead letter's fields, to put back later as a restored backup would. */
struct saved {
    int n;
    const char *argv[64];
    char *owned[64];
    size_t lens[64];
};

static void save_dead(redisContext *rc, struct saved *s)
{
    redisReply *r = redisCommand(rc, "XRANGE jd:dead - +");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1,
               "jd:dead holds the one dead-lettered lead");
    const redisReply *f = r->element[0]->element[1];
    s->argv[0] = "XADD";
    s->argv[1] = "jd:dead";
    s->argv[2] = "*";
    s->n = 3;
    for (size_t i = 0; i < f->elements && s->n < 64; i++) {
        s->lens[s->n] = f->element[i]->len;
        s->owned[s->n] = malloc(f->element[i]->len + 1);
        JD_REQUIRE(s->owned[s->n], "out of memory");
        memcpy(s->owned[s->n], f->element[i]->str, f->element[i]->len + 1);
        s->argv[s->n] = s->owned[s->n];
        s->n++;
    }
    for (int i = 0; i < 3; i++)
        s->lens[i] = strlen(s->argv[i]);
    freeReplyObject(r);
}

static void restore_dead(redisContext *rc, struct saved *s)
{
    redisReply *r = redisCommandArgv(rc, s->n, s->argv, s->lens);
    JD_REQUIRE(r && r->type == REDIS_REPLY_STRING, "restoring the dead letter");
    freeReplyObject(r);
    for (int i = 3; i < s->n; i++)
        free(s->owned[i]);
}

static long replay(const struct jd_daemon *d)
{
    char url[128];
    struct jd_http h;
    const char *headers[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(url, sizeof url, "%s/v1/dead/replay", d->base);
    jd_http(&h, "POST", url, headers, "", 0);
    long status = h.status;
    jd_http_free(&h);
    return status;
}

static int log_has(const struct jd_daemon *d, const char *needle, int count)
{
    for (int tries = 0; tries < 300; tries++) {
        char *log = jd_slurp(d->log);
        int n = 0;
        for (const char *p = log; p && (p = strstr(p, needle)); p++)
            n++;
        free(log);
        if (n >= count)
            return 1;
        jd_sleep_ms(50);
    }
    return 0;
}

static void config_with(struct jd_daemon *d, int redis_port, const char *roles, const char *leads)
{
    char extra[512];
    snprintf(extra, sizeof extra, "%s%s", roles, leads);
    jd_daemon_config(d, redis_port, extra);
}

/* Rewrites d's config file in place (same port) with another [source leads]. */
static void rewrite_leads(struct jd_daemon *d, const char *from, const char *to)
{
    char *text = jd_slurp(d->conf);
    JD_REQUIRE(text, "read %s", d->conf);
    char *at = strstr(text, from);
    JD_REQUIRE(at, "the config names the leads source");
    FILE *f = fopen(d->conf, "w");
    JD_REQUIRE(f, "rewrite %s", d->conf);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    JD_REQUIRE(fclose(f) == 0, "write %s", d->conf);
    free(text);
}

int main(void)
{
    jd_setup("erase_forever", 300, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    redisContext *rc = jd_redis_connect(&redis);
    long status;

    /* 1. The lead is queued while "leads" is a form source (ingest only: not applied)... */
    struct jd_daemon a;
    config_with(&a, redis.port, "roles = ingest\n", leads_form);
    jd_daemon_start(&a, 1);
    post_lead(&a);
    jd_daemon_stop(&a);

    /* ... and dead-lettered once it is a typeform source (an operator's mistake). */
    struct jd_daemon b;
    config_with(&b, redis.port, "", leads_broken);
    jd_daemon_start(&b, 1);
    post_events(&b, ev_p);
    post_events(&b, ev_q);
    post_events(&b, ev_conflict);
    post_events(&b, ev_link);
    post_site(&b, site_form);
    post_stripe(&b, 0);
    long dead = jd_wait_drained(&b, 60);
    JD_REQUIRE(dead == 1, "the lead is dead-lettered (source retyped): %ld dead letters", dead);
    cJSON *j = jd_journey(&b, "phone", P_PHONE_E164, &status);
    JD_REQUIRE(j && status == 200, "P's journey before the erasure: %ld", status);
    char pid[64];
    snprintf(pid, sizeof pid, "%s", jd_json_str(jd_json_path(j, "contact"), "id"));
    JD_EXPECT(jd_count_event(j, "stripe:evt_erasep_00000") == 1 && jd_count_event(j, "events:p2"),
              "P's journey holds the payment and the visit: %s", jd_json_brief(j));
    cJSON_Delete(j);
    j = jd_journey(&b, "email", Q_EMAIL, &status);
    JD_REQUIRE(j && cJSON_GetArraySize(jd_json_path(j, "contact.conflicts")) == 1,
               "Q has its conflict with P before the erasure: %s", jd_json_brief(j));
    cJSON_Delete(j);
    jd_daemon_stop(&b);

    /* 2. More of P's webhooks wait in the queue (no worker), beside a bystander's. */
    struct jd_daemon c;
    config_with(&c, redis.port, "roles = ingest, api\n", leads_broken);
    jd_daemon_start(&c, 1);
    post_events(&c, ev_p);
    post_site(&c, site_form);
    post_events(&c, ev_late);
    post_events(&c, ev_keep);
    post_events(&c, ev_shared);
    JD_REQUIRE(xlen(rc, "jd:raw") == 5, "five webhooks wait in the queue");
    struct saved backup;
    save_dead(rc, &backup);

    char path[128], url[192];
    struct jd_http h;
    const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(path, sizeof path, "/v1/contacts/%s", pid);
    snprintf(url, sizeof url, "%s%s", c.base, path);
    jd_http(&h, "DELETE", url, auth, NULL, 0);
    JD_EXPECT(h.status == 200, "DELETE %s: want 200, got %ld %s", path, h.status,
              h.body ? h.body : "");
    cJSON *ans = jd_http_json(&h);
    int ok;
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "queue_entries"), &ok) == 3 && ok,
              "3 queue entries removed: %s", jd_json_brief(ans));
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "dead_letters"), &ok) == 1 && ok,
              "1 dead letter removed: %s", jd_json_brief(ans));
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "conflicts_scrubbed"), &ok) == 1 && ok,
              "1 conflict record scrubbed from the partner: %s", jd_json_brief(ans));
    JD_EXPECT(jd_json_int(cJSON_GetObjectItem(ans, "shared_entries"), &ok) == 1 && ok,
              "1 queue entry shared with someone else, left: %s", jd_json_brief(ans));
    JD_EXPECT(cJSON_IsTrue(cJSON_GetObjectItem(ans, "complete")), "the erasure is complete: %s",
              jd_json_brief(ans));
    cJSON_Delete(ans);
    jd_http_free(&h);
    JD_EXPECT(xlen(rc, "jd:raw") == 2, "only the bystanders' webhooks are queued: %lld",
              xlen(rc, "jd:raw"));
    JD_EXPECT(xlen(rc, "jd:dead") == 0, "no dead letter left: %lld", xlen(rc, "jd:dead"));
    redisReply *r = redisCommand(rc, "HGET jd:dead:bytes leads");
    JD_EXPECT(r && (r->type == REDIS_REPLY_NIL ||
                    (r->type == REDIS_REPLY_STRING && strcmp(r->str, "0") == 0)),
              "the source's dead-letter bytes are back to 0: %s",
              r && r->type == REDIS_REPLY_STRING ? r->str : "?");
    freeReplyObject(r);
    /* The log names the contact and the counts, never what it held. */
    JD_EXPECT(log_has(&c, "msg=\"contact erased\" contact=", 1), "no erasure log line");
    char *log = jd_slurp(c.log);
    JD_EXPECT(log && strstr(log, "dead_letters=1") && !strstr(log, P_EMAIL),
              "the erasure log line has the counts and no personal data");
    free(log);
    jd_daemon_stop(&c);

    /* 3. A week later: the dead letter comes back from a backup, and every key with an
     * expiry has run out. */
    restore_dead(rc, &backup);
    int expired = expire_all(rc);
    jd_note("a week later: %d keys with an expiry removed", expired);

    struct jd_daemon d;
    config_with(&d, redis.port, "", leads_broken);
    setenv("JD_TEST_CLOCK_OFFSET", "604800", 1);
    jd_daemon_start(&d, 1);
    unsetenv("JD_TEST_CLOCK_OFFSET");
    int shifted = log_has(&d, "test clock", 1);
    int64_t shift = shifted ? WEEK_S : 0;
    if (!shifted)
        jd_note("this build ignores JD_TEST_CLOCK_OFFSET (NDEBUG): the redelivery runs unshifted");
    jd_wait_drained(&d, 60);

    /* The operator fixes the source and replays. */
    rewrite_leads(&d, leads_broken, leads_form);
    jd_daemon_signal(&d, SIGHUP);
    JD_REQUIRE(log_has(&d, "msg=reloaded", 1), "no reload after SIGHUP");
    JD_EXPECT(replay(&d) == 200, "replay after the fix");
    dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "the replayed lead is not dead-lettered again: %ld", dead);
    expect_gone(&d, "after the replay");

    /* Every one of P's webhooks again, a week later. */
    post_lead(&d);
    post_events(&d, ev_p);
    post_events(&d, ev_conflict);
    post_events(&d, ev_link);
    post_events(&d, ev_late);
    post_site(&d, site_form);
    post_stripe(&d, shift);
    jd_wait_drained(&d, 60);
    expect_gone(&d, "after every webhook was delivered again a week later");
    expect_partner_clean(&d, "a week later");
    j = jd_journey(&d, "email", "keep@example.com", &status);
    JD_EXPECT(status == 200 && jd_count_event(j, "events:k1") == 1,
              "the bystander's queued webhook was applied: %s", jd_json_brief(j));
    cJSON_Delete(j);
    j = jd_journey(&d, "email", "keep2@example.com", &status);
    JD_EXPECT(status == 200 && jd_count_event(j, "events:k2") == 1,
              "the other event of the shared batch was applied: %s", jd_json_brief(j));
    cJSON_Delete(j);

    char *all = dump_all(rc);
    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++) {
        const char *hit = all ? strstr(all, traces[i]) : NULL;
        JD_EXPECT(!hit, "Redis still holds \"%s\": ...%.200s", traces[i],
                  hit ? (hit > all + 100 ? hit - 100 : all) : "");
    }
    free(all);

    /* 4. P signs up again: a new event, after the erasure, is theirs to make. */
    static const char again[] = "{\"email\":\"" P_EMAIL "\",\"submission_id\":\"erase-site-2\"}";
    post_site(&d, again);
    jd_wait_drained(&d, 60);
    j = jd_journey(&d, "email", P_EMAIL, &status);
    JD_EXPECT(status == 200 && cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")) == 1 &&
                  jd_count_event(j, "form:site:erase-site-2") == 1,
              "a new sign-up after the erasure creates a contact with that one event: %ld %s",
              status, jd_json_brief(j));
    cJSON_Delete(j);

    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
