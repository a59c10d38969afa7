/*
 * The journey's revenue on a contact with more payment keys than any small table holds:
 * 4,500 payments, each with its own key, then later payments repeating 350 of those keys
 * (from the first ones and from past the 4,096th) and a few refunds, all for one e-mail.
 * Revenue counts once per payment key (DESIGN §3): the answer's revenue must be exactly
 * the first payments minus the refunds, every repeat must be listed without its amount as
 * "counted": false, and the contact view must agree. A capped list of seen keys counted
 * the repeats of the keys past its cap a second time.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 900        /* at most CX_MAX_EVENTS (1,000) per /v1/events call */
#define KEYS 4500        /* distinct payment keys: over 4,096 */
#define REPEATS_LOW 50   /* repeats of keys 0 … 49 */
#define REPEATS_HIGH 300 /* repeats of keys 4,100 … 4,399: past the 4,096th key */
#define REFUNDS 5
#define EMAIL "many.payments@example.com"

struct pay {
    char id[32], key[32], kind[8];
    int64_t at, minor;
};

/* Posts v[0 … n) in batches of BATCH. */
static void post_all(const struct jd_daemon *d, const struct pay *v, size_t n)
{
    size_t cap = (size_t)BATCH * 320 + 64;
    char *body = malloc(cap);
    JD_REQUIRE(body != NULL, "out of memory");
    for (size_t b = 0; b < n; b += BATCH) {
        size_t o = (size_t)snprintf(body, cap, "{\"events\":[");
        for (size_t i = b; i < n && i < b + BATCH; i++) {
            char at[32], key[64] = "";
            jd_rfc3339(v[i].at, at, sizeof at);
            if (v[i].key[0])
                snprintf(key, sizeof key, ",\"payment_key\":\"%s\"", v[i].key);
            o += (size_t)snprintf(body + o, cap - o,
                                  "%s{\"id\":\"%s\",\"kind\":\"%s\",\"at\":\"%s\","
                                  "\"identities\":[{\"type\":\"email\",\"value\":\"" EMAIL
                                  "\"}],\"amount\":{\"minor\":%" PRId64 ",\"currency\":\"EUR\"}%s}",
                                  i > b ? "," : "", v[i].id, v[i].kind, at, v[i].minor, key);
            JD_REQUIRE(o < cap, "body buffer too small");
        }
        snprintf(body + o, cap - o, "]}");
        struct jd_http h;
        jd_post_events(d, body, &h);
        JD_REQUIRE(h.status == 200, "POST /v1/events (batch at %zu): want 200, got %ld %s", b,
                   h.status, h.body ? h.body : "");
        jd_http_free(&h);
    }
    free(body);
}

/* The EUR revenue of a journey answer, or INT64_MIN when it is not there. */
static int64_t revenue_eur(const cJSON *j)
{
    int ok = 0;
    const cJSON *eur = jd_json_path(j, "contact.revenue.EUR");
    int64_t v = eur ? jd_json_int(eur, &ok) : 0;
    return ok ? v : INT64_MIN;
}

int main(void)
{
    jd_setup("journey_revenue", 300, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    const int64_t t0 = 1790899200; /* 2026-10-02T00:00:00Z */
    size_t n = KEYS + REPEATS_LOW + REPEATS_HIGH + REFUNDS;
    struct pay *v = calloc(n, sizeof(*v));
    JD_REQUIRE(v != NULL, "out of memory");
    int64_t want = 0;
    size_t k = 0;
    for (int i = 0; i < KEYS; i++, k++) {
        snprintf(v[k].id, sizeof v[k].id, "pay-%05d", i);
        snprintf(v[k].key, sizeof v[k].key, "key-%05d", i);
        snprintf(v[k].kind, sizeof v[k].kind, "payment");
        v[k].at = t0 + i;
        v[k].minor = 100 + i;
        want += v[k].minor;
    }
    /* Repeats come later in journey order and carry other amounts: none may count. */
    for (int r = 0; r < REPEATS_LOW + REPEATS_HIGH; r++, k++) {
        int key = r < REPEATS_LOW ? r : 4100 + (r - REPEATS_LOW);
        snprintf(v[k].id, sizeof v[k].id, "again-%05d", r);
        snprintf(v[k].key, sizeof v[k].key, "key-%05d", key);
        snprintf(v[k].kind, sizeof v[k].kind, "payment");
        v[k].at = t0 + KEYS + 100 + r;
        v[k].minor = 7777;
    }
    for (int r = 0; r < REFUNDS; r++, k++) {
        snprintf(v[k].id, sizeof v[k].id, "refund-%d", r);
        snprintf(v[k].kind, sizeof v[k].kind, "refund");
        v[k].at = t0 + KEYS + 1000 + r;
        v[k].minor = 50 + r;
        want -= v[k].minor;
    }
    post_all(&d, v, n);
    long dead = jd_wait_drained(&d, 240);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);

    long st;
    cJSON *j = jd_journey(&d, "email", EMAIL, &st);
    JD_REQUIRE(st == 200 && j, "journey of " EMAIL ": status %ld", st);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    JD_EXPECT(cJSON_GetArraySize(events) == (int)n, "want %zu events, got %d", n,
              cJSON_GetArraySize(events));
    int64_t got = revenue_eur(j);
    JD_EXPECT(got == want, "journey revenue: want EUR %" PRId64 ", got %" PRId64 " (%s)", want, got,
              jd_json_brief(jd_json_path(j, "contact.revenue")));
    /* Every repeat is listed without its amount, nothing else is. */
    int uncounted = 0, wrong = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const cJSON *counted = cJSON_GetObjectItemCaseSensitive(e, "counted");
        const char *id = jd_json_str(e, "id");
        int repeat = id && strncmp(id, "events:again-", 13) == 0;
        if (cJSON_IsFalse(counted)) {
            uncounted++;
            wrong += !repeat || cJSON_GetObjectItemCaseSensitive(e, "amount") != NULL;
        } else {
            wrong += repeat;
        }
    }
    JD_EXPECT(uncounted == REPEATS_LOW + REPEATS_HIGH && wrong == 0,
              "want %d repeats marked \"counted\": false, got %d (%d misplaced)",
              REPEATS_LOW + REPEATS_HIGH, uncounted, wrong);
    cJSON_Delete(j);

    /* The contact view reads the same journey and must say the same. */
    struct jd_http h;
    char path[128];
    j = jd_journey(&d, "email", EMAIL, &st);
    JD_REQUIRE(st == 200 && j, "journey again: status %ld", st);
    snprintf(path, sizeof path, "/v1/contacts/%s", jd_json_str(jd_json_path(j, "contact"), "id"));
    cJSON_Delete(j);
    jd_get_auth(&d, path, &h);
    cJSON *c = h.status == 200 ? jd_http_json(&h) : NULL;
    JD_EXPECT(c && revenue_eur(c) == want, "GET %s: status %ld, want EUR %" PRId64 ", got %s", path,
              h.status, want, c ? jd_json_brief(jd_json_path(c, "contact.revenue")) : "");
    cJSON_Delete(c);
    jd_http_free(&h);

    free(v);
    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
