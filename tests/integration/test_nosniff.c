/*
 * Every answer carries X-Content-Type-Options: nosniff (issue 11.11): Meta's subscription
 * handshake echoes the caller's hub.challenge, so without it a browser could be led to
 * sniff that text as HTML. Probes, errors, redirects, refusals and the handshake are all
 * tried.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static void expect_nosniff(const struct jd_daemon *d, const char *method, const char *path,
                           long want_status)
{
    char url[512], v[64];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    const char *headers[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    struct jd_http h;
    jd_http(&h, method, url, headers, NULL, 0);
    JD_EXPECT(h.status == want_status, "%s %s: want %ld, got %ld", method, path, want_status,
              h.status);
    const char *got = jd_http_header(&h, "X-Content-Type-Options", v, sizeof v);
    JD_EXPECT(got && strcmp(got, "nosniff") == 0,
              "%s %s (%ld): X-Content-Type-Options is %s, want nosniff", method, path, h.status,
              got ? got : "absent");
    jd_http_free(&h);
}

int main(void)
{
    jd_setup("nosniff", 60, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port,
                     "\n[source meta]\ntype = meta_leads\nsecret = meta_test_app_secret\n"
                     "verify_token = handshake-token\n");
    jd_daemon_start(&d, 1);

    expect_nosniff(&d, "GET",
                   "/hooks/meta?hub.mode=subscribe&hub.challenge=%3Cscript%3Ex%3C%2Fscript%3E"
                   "&hub.verify_token=handshake-token",
                   200);
    expect_nosniff(&d, "GET", "/healthz", 200);
    expect_nosniff(&d, "GET", "/readyz", 200);
    expect_nosniff(&d, "GET", "/metrics", 200);
    expect_nosniff(&d, "GET", "/v1/status", 200);
    expect_nosniff(&d, "GET", "/nowhere", 404);
    expect_nosniff(&d, "PUT", "/healthz", 405);
    expect_nosniff(&d, "POST", "/hooks/stripe", 401);
    expect_nosniff(&d, "GET", "/c?to=https%3A%2F%2Fexample.com%2F&utm_source=x", 302);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
