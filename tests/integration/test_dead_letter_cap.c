/*
 * The dead letters are bounded in bytes per source (issue 11 items 2 and 11). A payment
 * from one source is dead-lettered; then a flood of poison from another source passes
 * that source's dead_letter_max: the flood's oldest are dropped, the payment stays, the
 * drop is counted in /metrics and logged, and a replay keeps the byte accounting right.
 * The payment's id carries `" level=error msg="x`, which the dead-letter log line must
 * keep inside its reason field (escaped), not let it forge fields of its own.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 8192
#define FLOOD 60

/* A Stripe event the connector refuses (a checkout without a currency), signed. */
static long post_poison(const struct jd_daemon *d, const char *source, const char *id_json)
{
    char body[768], sig[256], url[128];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_p\",\"amount_total\":100,"
             "\"customer_details\":{\"email\":\"poison@example.com\"},"
             "\"payment_intent\":\"pi_p\"}}}",
             id_json, (long long)jd_now_s());
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), body, strlen(body));
    snprintf(url, sizeof url, "%s/hooks/%s", d->base, source);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, strlen(body));
    long status = h.status;
    jd_http_free(&h);
    return status;
}

struct dead_view {
    int entries[2];     /* [0] source "stripe", [1] source "flood" */
    long long bytes[2]; /* field names and values, as dead.lua counts them */
};

static void read_dead(redisContext *rc, struct dead_view *v)
{
    memset(v, 0, sizeof *v);
    redisReply *r = redisCommand(rc, "XRANGE jd:dead - +");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "XRANGE jd:dead");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        long long bytes = 0;
        int which = -1;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            bytes += (long long)(f->element[k]->len + f->element[k + 1]->len);
            if (strcmp(f->element[k]->str, "src") == 0)
                which = strcmp(f->element[k + 1]->str, "stripe") == 0  ? 0
                        : strcmp(f->element[k + 1]->str, "flood") == 0 ? 1
                                                                       : -1;
        }
        if (which >= 0) {
            v->entries[which]++;
            v->bytes[which] += bytes;
        }
    }
    freeReplyObject(r);
}

static long long counted(redisContext *rc, const char *source)
{
    redisReply *r = redisCommand(rc, "HGET jd:dead:bytes %s", source);
    long long v = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

static void check_cap(redisContext *rc, const char *when)
{
    struct dead_view v;
    read_dead(rc, &v);
    JD_EXPECT(v.entries[0] == 1, "%s: the payment's dead letter is gone (%d left)", when,
              v.entries[0]);
    JD_EXPECT(v.entries[1] > 0 && v.entries[1] < FLOOD, "%s: %d of %d flood dead letters kept",
              when, v.entries[1], FLOOD);
    /* The newest always stays, so a source may pass its cap by at most one entry. */
    JD_EXPECT(v.bytes[1] <= CAP + 1024, "%s: the flood holds %lld bytes of dead letters, cap %d",
              when, v.bytes[1], CAP);
    JD_EXPECT(counted(rc, "flood") == v.bytes[1] && counted(rc, "stripe") == v.bytes[0],
              "%s: counted bytes flood %lld stripe %lld, held %lld and %lld", when,
              counted(rc, "flood"), counted(rc, "stripe"), v.bytes[1], v.bytes[0]);
}

int main(void)
{
    jd_setup("dead_letter_cap", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port,
                     "max_deliveries = 1\n"
                     "dead_letter_max = 8K\n"
                     "\n[source flood]\n"
                     "type = stripe\n"
                     "secret = " JD_STRIPE_SECRET "\n");
    jd_daemon_start(&d, 1);
    redisContext *rc = jd_redis_connect(&redis);

    /* The genuine payment, dead-lettered first (oldest of all). */
    JD_REQUIRE(post_poison(&d, "stripe", "evt_pay\\\" level=error msg=\\\"x") == 200,
               "the payment: want 200");
    JD_EXPECT(jd_wait_drained(&d, 60) == 1, "the payment is dead-lettered");
    for (int i = 0; i < FLOOD; i++) {
        char id[64];
        snprintf(id, sizeof id, "evt_flood_%03d", i);
        JD_REQUIRE(post_poison(&d, "flood", id) == 200, "flood %d: want 200", i);
    }
    jd_wait_drained(&d, 60);
    check_cap(rc, "after the flood");
    struct dead_view v;
    read_dead(rc, &v);
    long long dropped = jd_metric(&d, "journeyd_dead_letters_dropped_total{source=\"flood\"}");
    jd_note("flood: %d of %d dead letters kept (%lld bytes, cap %d), %lld dropped", v.entries[1],
            FLOOD, v.bytes[1], CAP, dropped);
    JD_EXPECT(dropped == FLOOD - v.entries[1], "dropped_total{flood} is %lld, want %d", dropped,
              FLOOD - v.entries[1]);

    char *log = jd_slurp(d.log);
    JD_REQUIRE(log, "cannot read %s", d.log);
    JD_EXPECT(strstr(log, "msg=\"dead letters dropped\" source=flood"), "the drop is logged");
    /* The payment's dead-letter line: its reason keeps the id's quotes escaped. */
    const char *line = strstr(log, "msg=dead-letter entry=");
    while (line && !strstr(line, "source=stripe"))
        line = strstr(line + 1, "msg=dead-letter entry=");
    const char *eol = line ? strchr(line, '\n') : NULL;
    JD_REQUIRE(line && eol, "no dead-letter line for source stripe");
    char text[1024];
    snprintf(text, sizeof text, "%.*s", (int)(eol - line), line);
    JD_EXPECT(strstr(text, "evt_pay\\\" level=error msg=\\\"x"),
              "the reason keeps the id escaped: %s", text);
    JD_EXPECT(!strstr(text, "evt_pay\" level=error"), "the id forged a field: %s", text);
    free(log);

    /* A replay of everything: each comes back (max_deliveries = 1) and the accounting
     * still matches what is held. */
    struct jd_http h;
    char url[128];
    const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    snprintf(url, sizeof url, "%s/v1/dead/replay?count=1000", d.base);
    jd_http(&h, "POST", url, auth, "", 0);
    JD_EXPECT(h.status == 200, "replay: want 200, got %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(&d, 60);
    check_cap(rc, "after a replay");

    redisFree(rc);
    jd_daemon_stop(&d);
    return jd_finish();
}
