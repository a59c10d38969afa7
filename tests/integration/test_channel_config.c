/*
 * [channels] reaches the worker (DESIGN §6, "the mapping is configurable"): a signed form
 * webhook and a tracked click (the built-in GET /c source) carrying utm_medium=affiliate
 * are stored under the operator's channel, a replaced list changes a default rule, and
 * after a SIGHUP with another mapping the next event gets the new channel while the
 * stored one keeps its own (the channel is fixed when the event is applied).
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jd_daemon daemon_;

/* The harness's file with a [channels] section of our own. Written beside and renamed so
 * the daemon never reads half a file. */
static void write_conf(const char *channels)
{
    char tmp[JD_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", daemon_.conf);
    FILE *f = fopen(tmp, "w");
    JD_REQUIRE(f, "fopen %s: %s", tmp, strerror(errno));
    fprintf(f,
            "[journeyd]\n"
            "listen = 127.0.0.1:%d\n"
            "redis = 127.0.0.1:%d\n"
            "api_tokens = " JD_TOKEN "\n"
            "click_allow = example.com\n"
            "claim_idle = 1s\n"
            "\n"
            "[channels]\n"
            "%s"
            "\n"
            "[source site]\n"
            "type = form\n"
            "auth = hmac\n"
            "secret = " JD_FORM_SECRET "\n",
            daemon_.port, daemon_.redis_port, channels);
    JD_REQUIRE(fclose(f) == 0, "write %s failed", tmp);
    JD_REQUIRE(rename(tmp, daemon_.conf) == 0, "rename %s: %s", tmp, strerror(errno));
}

static void post_form(const char *sub, const char *email, const char *source, const char *medium)
{
    char body[512];
    struct jd_http h;
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"submission_id\":\"%s\",\"utm_source\":\"%s\","
             "\"utm_medium\":\"%s\"}",
             email, sub, source, medium);
    jd_post_form(&daemon_, body, "application/json", &h);
    JD_REQUIRE(h.status == 200, "POST /hooks/site (%s): want 200, got %ld: %.300s", sub, h.status,
               h.body ? h.body : "");
    jd_http_free(&h);
}

/* GET /c with utm in the query; returns the anonymous id from the redirect. */
static void click(const char *query, char *aid, size_t aidlen)
{
    char url[512], loc[1024];
    struct jd_http h;
    snprintf(url, sizeof url, "%s/c?to=https%%3A%%2F%%2Fexample.com%%2F&%s", daemon_.base, query);
    jd_http(&h, "GET", url, NULL, NULL, 0);
    JD_REQUIRE(h.status == 302, "GET %s: want 302, got %ld", url, h.status);
    const char *id =
        jd_http_header(&h, "Location", loc, sizeof loc) ? strstr(loc, "jd_aid=") : NULL;
    JD_REQUIRE(id, "GET %s: no jd_aid in the redirect", url);
    snprintf(aid, aidlen, "%.*s", (int)strcspn(id + 7, "&#"), id + 7);
    jd_http_free(&h);
}

/* The touch.channel of event `id` (or of the click, for a NULL id) in the journey of
 * key=value, checked against want. */
static void expect_channel(const char *key, const char *value, const char *id, const char *want)
{
    long st;
    cJSON *j = jd_journey(&daemon_, key, value, &st);
    JD_REQUIRE(st == 200 && j, "GET /v1/journey?%s=%s: want 200, got %ld", key, value, st);
    const cJSON *ev, *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    const char *got = NULL;
    int found = 0;
    if (!id)
        id = "click:";
    cJSON_ArrayForEach(ev, events)
    {
        const char *eid = jd_json_str(ev, "id");
        if (eid && strncmp(eid, id, strlen(id)) == 0) {
            const cJSON *c = jd_json_path(ev, "touch.channel");
            got = cJSON_IsString(c) ? c->valuestring : NULL;
            found = 1;
        }
    }
    JD_EXPECT(found, "journey of %s has no event %s: %s", value, id, jd_json_brief(j));
    JD_EXPECT(!found || (got && strcmp(got, want) == 0), "%s: touch.channel is %s, want \"%s\"", id,
              got ? got : "(missing)", want);
    cJSON_Delete(j);
}

/* The reload has happened once the log says so `times` times. */
static int wait_reloaded(int times)
{
    int64_t deadline = jd_mono_ms() + 15000;
    while (jd_mono_ms() < deadline) {
        FILE *f = fopen(daemon_.log, "r");
        char line[1024];
        int n = 0;
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "msg=reloaded"))
                n++;
        if (f)
            fclose(f);
        if (n >= times)
            return 1;
        jd_sleep_ms(50);
    }
    return 0;
}

int main(void)
{
    jd_setup("channel_config", 240, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    write_conf("medium.affiliate = partners\n"
               "email_mediums = newsletter\n");
    jd_daemon_start(&daemon_, 1);

    post_form("ch-1", "aff1@example.com", "blog", "affiliate");
    post_form("ch-2", "mail1@example.com", "mailchimp", "email");
    post_form("ch-3", "news1@example.com", "mailchimp", "newsletter");
    char aid1[64], aid2[64];
    click("utm_source=blog&utm_medium=Affiliate", aid1, sizeof aid1);
    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "dead_letters is %ld after good form webhooks", dead);
    expect_channel("anon", aid1, NULL, "partners");
    expect_channel("email", "aff1@example.com", "form:site:ch-1", "partners");
    expect_channel("email", "mail1@example.com", "form:site:ch-2",
                   "other"); /* email is no longer listed */
    expect_channel("email", "news1@example.com", "form:site:ch-3", "email");

    write_conf("medium.affiliate = affiliates\n");
    jd_daemon_signal(&daemon_, SIGHUP);
    JD_REQUIRE(wait_reloaded(1), "no \"msg=reloaded\" log line within 15 s of SIGHUP");
    post_form("ch-4", "aff2@example.com", "blog", "affiliate");
    post_form("ch-5", "mail2@example.com", "mailchimp", "email");
    click("utm_source=blog&utm_medium=affiliate", aid2, sizeof aid2);
    dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "dead_letters is %ld after the reload", dead);
    expect_channel("anon", aid2, NULL, "affiliates");
    expect_channel("anon", aid1, NULL, "partners");
    expect_channel("email", "aff2@example.com", "form:site:ch-4", "affiliates");
    expect_channel("email", "mail2@example.com", "form:site:ch-5",
                   "email"); /* the default list is back */
    expect_channel("email", "aff1@example.com", "form:site:ch-1",
                   "partners"); /* stored: unchanged */

    /* A bad mapping is refused like any bad file; the running one stays. */
    write_conf("medium.affiliate = Not A Channel\n");
    jd_daemon_signal(&daemon_, SIGHUP);
    int64_t deadline = jd_mono_ms() + 15000;
    int refused = 0;
    while (!refused && jd_mono_ms() < deadline) {
        FILE *f = fopen(daemon_.log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "reload refused") && strstr(line, "invalid channel"))
                refused = 1;
        if (f)
            fclose(f);
        if (!refused)
            jd_sleep_ms(50);
    }
    JD_EXPECT(refused, "no \"reload refused ... invalid channel\" log line after a bad SIGHUP");
    post_form("ch-6", "aff3@example.com", "blog", "affiliate");
    jd_wait_drained(&daemon_, 60);
    expect_channel("email", "aff3@example.com", "form:site:ch-6", "affiliates");

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
