/*
 * The API's tokens (issue 11, items 9 and 10; DESIGN §7): every configured token works on
 * every /v1 endpoint — the 16th as well as the first (POST /v1/events knew only the first
 * eight) — and each within its scope: `read` looks, `write` also posts events and spend,
 * `admin` (or a token without a prefix) also erases and replays. Outside its scope a
 * token gets 403; without a known token, 401.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NTOKENS 16

static struct jd_daemon daemon_;
static char tokens[NTOKENS][40];

/* The harness's config, with sixteen tokens: 0–5 read, 6–10 write, 11–13 admin, 14–15
 * without a prefix (admin). */
static void write_conf(void)
{
    char list[NTOKENS * 48] = "";
    size_t o = 0;
    for (int i = 0; i < NTOKENS; i++) {
        const char *scope = i < 6 ? "read:" : i < 11 ? "write:" : i < 14 ? "admin:" : "";
        /* The last is the harness's own, which its helpers (journey, drain) send. */
        if (i == NTOKENS - 1)
            snprintf(tokens[i], sizeof tokens[i], "%s", JD_TOKEN);
        else
            snprintf(tokens[i], sizeof tokens[i], "token-%02d-0123456789abcdef", i);
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s%s", i ? ", " : "", scope, tokens[i]);
    }
    FILE *f = fopen(daemon_.conf, "w");
    JD_REQUIRE(f, "fopen %s: %s", daemon_.conf, strerror(errno));
    fprintf(f,
            "[journeyd]\n"
            "listen = 127.0.0.1:%d\n"
            "redis = 127.0.0.1:%d\n"
            "api_tokens = %s\n"
            "claim_idle = 1s\n",
            daemon_.port, daemon_.redis_port, list);
    JD_REQUIRE(fclose(f) == 0, "write %s failed", daemon_.conf);
}

static long call(const char *method, const char *path, const char *token, const char *body)
{
    char url[512], auth[96];
    snprintf(url, sizeof url, "%s%s", daemon_.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    struct jd_http h;
    jd_http(&h, method, url, headers, body, body ? strlen(body) : 0);
    long st = h.status;
    if (st == 401 || st == 403)
        JD_EXPECT(jd_http_is_error(&h, st == 401 ? "unauthorized" : "forbidden"),
                  "%s %s: a %ld carries the JSON error body: %s", method, path, st,
                  h.body ? h.body : "");
    jd_http_free(&h);
    return st;
}

static void post_event(int t, long want)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"tok-%02d\",\"kind\":\"lead\",\"at\":\"2026-10-01T10:00:00Z\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"t%02d@example.com\"}]}]}",
             t, t);
    long st = call("POST", "/v1/events", tokens[t], body);
    JD_EXPECT(st == want, "POST /v1/events with token %d: want %ld, got %ld", t, want, st);
}

int main(void)
{
    jd_setup("tokens", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    write_conf();
    jd_daemon_start(&daemon_, 1);

    /* Item 9: every token with write scope or more posts events, the 9th … 16th too. */
    for (int t = 6; t < NTOKENS; t++)
        post_event(t, 200);
    /* Read tokens may not write. */
    for (int t = 0; t < 6; t++)
        post_event(t, 403);
    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);

    /* Reading: every token, whatever its scope. */
    for (int t = 0; t < NTOKENS; t++) {
        long st = call("GET", "/v1/journey?email=t15%40example.com", tokens[t], NULL);
        JD_EXPECT(st == 200, "GET /v1/journey with token %d: want 200, got %ld", t, st);
        st = call("GET", "/v1/reports/funnel?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z",
                  tokens[t], NULL);
        JD_EXPECT(st == 200, "GET /v1/reports/funnel with token %d: want 200, got %ld", t, st);
    }
    /* Spend is a write; replay and erasure are admin's. */
    const char *spend = "{\"rows\":[{\"date\":\"2026-10-01\",\"source\":\"google\","
                        "\"campaign\":\"c\",\"amount\":100,\"currency\":\"EUR\"}]}";
    JD_EXPECT(call("POST", "/v1/spend", tokens[0], spend) == 403, "spend with a read token");
    long st = call("POST", "/v1/spend", tokens[7], spend);
    JD_EXPECT(st >= 200 && st < 300, "spend with a write token: want 2xx, got %ld", st);
    JD_EXPECT(call("POST", "/v1/dead/replay", tokens[9], "") == 403, "replay with a write token");
    st = call("POST", "/v1/dead/replay", tokens[12], "");
    JD_EXPECT(st == 200, "replay with an admin token: want 200, got %ld", st);

    cJSON *j = jd_journey(&daemon_, "email", "t15@example.com", &st);
    JD_REQUIRE(st == 200 && j, "journey of t15: status %ld", st);
    char path[128];
    snprintf(path, sizeof path, "/v1/contacts/%s", jd_json_str(jd_json_path(j, "contact"), "id"));
    cJSON_Delete(j);
    JD_EXPECT(call("DELETE", path, tokens[3], NULL) == 403, "erasure with a read token");
    JD_EXPECT(call("DELETE", path, tokens[10], NULL) == 403, "erasure with a write token");
    JD_EXPECT(call("GET", path, tokens[3], NULL) == 200, "the contact survives refused erasures");
    st = call("DELETE", path, tokens[15], NULL);
    JD_EXPECT(st == 200, "erasure with an unprefixed (admin) token: want 200, got %ld", st);

    /* No token, an unknown one, or a scope prefix sent as part of the token: 401. */
    JD_EXPECT(call("GET", "/v1/status", NULL, NULL) == 401, "no token");
    JD_EXPECT(call("GET", "/v1/status", "token-99-0123456789abcdef", NULL) == 401, "unknown");
    char prefixed[64];
    snprintf(prefixed, sizeof prefixed, "read:%s", tokens[0]);
    JD_EXPECT(call("GET", "/v1/status", prefixed, NULL) == 401, "the prefix is no part of it");
    /* An unknown method on a known path is still 405, before any token. */
    JD_EXPECT(call("PUT", "/v1/status", tokens[12], NULL) == 405, "PUT /v1/status");

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
