/*
 * The dashboard's server side (issue 13 item 3, DESIGN §7b): GET /ui/ serves the built-in
 * files with a Content-Security-Policy that allows only this origin; POST /ui/login trades
 * an API token for a session cookie (HttpOnly, SameSite=Strict; Secure unless the listener
 * is loopback plain HTTP) that the /v1 routes accept with the token's scope; a non-GET made
 * with the cookie needs the dashboard's header (CSRF); sessions are bounded in number, end
 * at logout, and end when their token leaves the config (SIGHUP).
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_TOKEN "read-token-ui-0123456789abcdef"
#define ADMIN_TOKEN "admin-token-ui-0123456789abcdef"
#define MAX_SESSIONS 256

static struct jd_daemon daemon_;

static void write_conf(int with_read)
{
    FILE *f = fopen(daemon_.conf, "w");
    JD_REQUIRE(f, "fopen %s: %s", daemon_.conf, strerror(errno));
    fprintf(f,
            "[journeyd]\n"
            "listen = 127.0.0.1:%d\n"
            "redis = 127.0.0.1:%d\n"
            "api_tokens = %sadmin:" ADMIN_TOKEN ", " JD_TOKEN "\n"
            "claim_idle = 1s\n",
            daemon_.port, daemon_.redis_port, with_read ? "read:" READ_TOKEN ", " : "");
    JD_REQUIRE(fclose(f) == 0, "write %s failed", daemon_.conf);
}

/* One request; headers NULL-terminated. The answer is the caller's to free. */
static long req(struct jd_http *h, const char *method, const char *path, const char *const *headers,
                const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", daemon_.base, path);
    jd_http(h, method, url, headers, body, body ? strlen(body) : 0);
    return h->status;
}

static long status_of(const char *method, const char *path, const char *const *headers)
{
    struct jd_http h;
    long st = req(&h, method, path, headers, NULL);
    jd_http_free(&h);
    return st;
}

/* Logs in with token; the cookie header ("Cookie: jd_session=…") into cookie, the whole
 * Set-Cookie into set_cookie (when not NULL). Returns the status. */
static long login(const char *token, const char *const *extra, char *cookie, size_t cap,
                  char *set_cookie, size_t sc_cap)
{
    char body[128];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    const char *headers[8] = {"Content-Type: application/json", "X-Journeyd-UI: 1"};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i] && n < 7; i++)
        headers[n++] = extra[i];
    headers[n] = NULL;
    struct jd_http h;
    long st = req(&h, "POST", "/ui/login", headers, body);
    char sc[512];
    if (cookie)
        cookie[0] = '\0';
    if (st == 200 && jd_http_header(&h, "Set-Cookie", sc, sizeof sc)) {
        if (set_cookie)
            snprintf(set_cookie, sc_cap, "%s", sc);
        const char *semi = strchr(sc, ';');
        if (cookie)
            snprintf(cookie, cap, "Cookie: %.*s", semi ? (int)(semi - sc) : (int)strlen(sc), sc);
    }
    if (st == 200) {
        cJSON *j = jd_http_json(&h);
        const char *scope = jd_json_str(j, "scope");
        JD_EXPECT(scope && strcmp(scope, strncmp(token, "read", 4) == 0 ? "read" : "admin") == 0,
                  "login answer names the token's scope: %s", h.body ? h.body : "");
        cJSON_Delete(j);
    }
    jd_http_free(&h);
    return st;
}

static void check_static(void)
{
    struct jd_http h;
    long st = req(&h, "GET", "/ui/", NULL, NULL);
    char v[512];
    JD_EXPECT(st == 200, "GET /ui/: %ld", st);
    JD_EXPECT(jd_http_header(&h, "Content-Type", v, sizeof v) && strstr(v, "text/html"),
              "GET /ui/ is HTML");
    JD_EXPECT(h.body && strstr(h.body, "app.js"), "GET /ui/ is the app's page");
    const char *csp = jd_http_header(&h, "Content-Security-Policy", v, sizeof v);
    JD_EXPECT(csp && strstr(csp, "default-src 'none'") && strstr(csp, "script-src 'self'") &&
                  strstr(csp, "connect-src 'self'") && strstr(csp, "frame-ancestors 'none'") &&
                  !strstr(csp, "unsafe") && !strstr(csp, "http"),
              "the CSP allows only this origin: %s", csp ? csp : "(none)");
    char etag[128] = "";
    JD_EXPECT(jd_http_header(&h, "ETag", etag, sizeof etag), "GET /ui/ has an ETag");
    jd_http_free(&h);

    char inm[160];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *cond[] = {inm, NULL};
    JD_EXPECT(status_of("GET", "/ui/", cond) == 304, "an unchanged page is 304");

    st = req(&h, "GET", "/ui/app.js", NULL, NULL);
    JD_EXPECT(st == 200 && jd_http_header(&h, "Content-Type", v, sizeof v) &&
                  strstr(v, "text/javascript"),
              "GET /ui/app.js: %ld", st);
    JD_EXPECT(h.body && strstr(h.body, "data-jd-src"), "app.js is the dashboard's script");
    jd_http_free(&h);
    JD_EXPECT(status_of("GET", "/ui/app.css", NULL) == 200, "GET /ui/app.css");
    /* A deep link without a dot is the app; a missing file is 404. */
    st = req(&h, "GET", "/ui/revenue", NULL, NULL);
    JD_EXPECT(st == 200 && h.body && strstr(h.body, "app.js"), "GET /ui/revenue is the app");
    jd_http_free(&h);
    JD_EXPECT(status_of("GET", "/ui/nothing.js", NULL) == 404, "GET /ui/nothing.js is 404");
    st = req(&h, "GET", "/ui", NULL, NULL);
    JD_EXPECT(st == 301 && jd_http_header(&h, "Location", v, sizeof v) && strcmp(v, "/ui/") == 0,
              "GET /ui redirects to /ui/: %ld", st);
    jd_http_free(&h);
}

int main(void)
{
    jd_setup("ui", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    write_conf(1);
    jd_daemon_start(&daemon_, 1);

    check_static();

    /* Login: the header is required, a wrong token is 401, a real one gets the cookie. */
    const char *no_header[] = {"Content-Type: application/json", NULL};
    struct jd_http h;
    JD_EXPECT(req(&h, "POST", "/ui/login", no_header, "{\"token\":\"" READ_TOKEN "\"}") == 403,
              "login without X-Journeyd-UI: %ld", h.status);
    jd_http_free(&h);
    JD_EXPECT(login("wrong-token-0123456789abcdef", NULL, NULL, 0, NULL, 0) == 401,
              "a wrong token is 401");
    char rcookie[256], sc[512];
    JD_REQUIRE(login(READ_TOKEN, NULL, rcookie, sizeof rcookie, sc, sizeof sc) == 200 && rcookie[0],
               "login with the read token");
    JD_EXPECT(strstr(sc, "jd_session=") && strstr(sc, "HttpOnly") &&
                  strstr(sc, "SameSite=Strict") && strstr(sc, "Path=/") && !strstr(sc, "Secure"),
              "loopback plain HTTP: HttpOnly, SameSite=Strict, not Secure: %s", sc);
    char acookie[256], asc[512];
    const char *proxied[] = {"X-Forwarded-Proto: https", NULL};
    JD_REQUIRE(login(ADMIN_TOKEN, proxied, acookie, sizeof acookie, asc, sizeof asc) == 200,
               "login with the admin token");
    JD_EXPECT(strstr(asc, "; Secure"), "behind a TLS proxy the cookie is Secure: %s", asc);

    /* The cookie in the token's place, with the token's scope. */
    const char *rc[] = {rcookie, NULL};
    const char *rc_ui[] = {rcookie, "X-Journeyd-UI: 1", NULL};
    const char *ac[] = {acookie, NULL};
    const char *ac_ui[] = {acookie, "X-Journeyd-UI: 1", NULL};
    JD_EXPECT(status_of("GET", "/v1/status", NULL) == 401, "no cookie, no token: 401");
    JD_EXPECT(status_of("GET", "/v1/status", rc) == 200, "the read cookie reads /v1/status");
    JD_EXPECT(status_of("GET", "/v1/reports/attribution", rc) == 200,
              "the read cookie reads a report");
    long st = status_of("POST", "/v1/dead/replay", rc_ui);
    JD_EXPECT(st == 403, "the read cookie cannot replay: %ld", st);
    st = status_of("POST", "/v1/dead/replay", ac);
    JD_EXPECT(st == 403, "the admin cookie without X-Journeyd-UI cannot POST (CSRF): %ld", st);
    st = status_of("POST", "/v1/dead/replay", ac_ui);
    JD_EXPECT(st == 200, "the admin cookie with X-Journeyd-UI replays: %ld", st);
    /* A bearer header is judged alone: a bad token with a good cookie is still 401. */
    const char *bad_bearer[] = {acookie, "Authorization: Bearer nope-0123456789abcdef", NULL};
    JD_EXPECT(status_of("GET", "/v1/status", bad_bearer) == 401,
              "a wrong bearer token is 401 whatever the cookie");
    JD_EXPECT(
        status_of("GET", "/v1/status", (const char *const[]){"Cookie: jd_session=00", NULL}) == 401,
        "a made-up session id is 401");
    /* The session cookie among others, as a browser sends them. */
    char several[320];
    snprintf(several, sizeof several, "Cookie: theme=dark; %s; lang=it",
             rcookie + strlen("Cookie: "));
    const char *sev[] = {several, NULL};
    JD_EXPECT(status_of("GET", "/v1/status", sev) == 200, "the cookie among others: %s", several);
    st = req(&h, "GET", "/ui/session", rc, NULL);
    JD_EXPECT(st == 200 && h.body && strstr(h.body, "\"read\""), "GET /ui/session: %s",
              h.body ? h.body : "");
    jd_http_free(&h);

    /* Logout ends the session. */
    JD_EXPECT(status_of("POST", "/ui/logout", ac_ui) == 200, "logout");
    JD_EXPECT(status_of("GET", "/v1/status", ac) == 401, "after logout the cookie is 401");

    /* Bounded: MAX_SESSIONS logins later, the oldest session is gone, the newest works. */
    char last[256] = "";
    for (int i = 0; i < MAX_SESSIONS; i++)
        JD_REQUIRE(login(ADMIN_TOKEN, NULL, last, sizeof last, NULL, 0) == 200, "login %d", i);
    JD_EXPECT(status_of("GET", "/v1/status", rc) == 401,
              "after %d newer logins the oldest session has ended", MAX_SESSIONS);
    const char *lc[] = {last, NULL};
    JD_EXPECT(status_of("GET", "/v1/status", lc) == 200, "the newest session works");

    /* A token taken out of the config (SIGHUP) ends its sessions. */
    JD_REQUIRE(login(READ_TOKEN, NULL, rcookie, sizeof rcookie, NULL, 0) == 200, "login again");
    JD_EXPECT(status_of("GET", "/v1/status", rc) == 200, "the new read session works");
    write_conf(0);
    jd_daemon_signal(&daemon_, SIGHUP);
    int gone = 0;
    for (int i = 0; i < 300 && !gone; i++) {
        gone = status_of("GET", "/v1/status", rc) == 401;
        if (!gone)
            jd_sleep_ms(50);
    }
    JD_EXPECT(gone, "a session whose token left the config is 401 after SIGHUP");
    JD_EXPECT(status_of("GET", "/v1/status", lc) == 200, "the admin session still works");

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
