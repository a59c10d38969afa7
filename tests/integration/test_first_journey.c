/*
 * The quick start's live visitor (issue 15 item 5): tools/first-journey.sh, run against a
 * journeyd like the demo's, ends with one contact holding the click, the landing page's
 * view, the form and the payment, and the payment credited to the click (not to
 * "(direct)", which is what the README's quick look gave before the site kit).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int main(void)
{
    static struct jd_redis redis;
    static struct jd_daemon d;
    char script[JD_PATH_MAX], url[128], out[8192];
    jd_setup("first_journey", 120, 1);
    /* The script lives two folders above this file (tests/integration/ → tools/). */
    const char *slash = strrchr(__FILE__, '/');
    JD_REQUIRE(slash, "no folder in __FILE__ (%s)", __FILE__);
    snprintf(script, sizeof script, "%.*s/../../tools/first-journey.sh", (int)(slash - __FILE__),
             __FILE__);
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&d, redis.port, "collect_allow = example.com\n");
    jd_daemon_start(&d, 1);
    snprintf(url, sizeof url, "JD_URL=%s", d.base);
    char *const argv[] = {"/usr/bin/env",
                          url,
                          "JD_TOKEN=" JD_TOKEN,
                          "JD_FORM_SECRET=" JD_FORM_SECRET,
                          "JD_STRIPE_SECRET=" JD_STRIPE_SECRET,
                          "sh",
                          script,
                          "ada.first@example.it",
                          NULL};
    int st = jd_run_capture(argv, out, sizeof out, 60);
    JD_EXPECT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "first-journey.sh failed:\n%s",
              out);
    JD_EXPECT(strstr(out, "events: click visit form payment"), "the journey's events:\n%s", out);
    JD_EXPECT(strstr(out, "\"credit\":[{\"touch\":\"click:"), "the payment's credit:\n%s", out);
    long s;
    cJSON *j = jd_journey(&d, "email", "ada.first@example.it", &s);
    JD_EXPECT(j && jd_json_path(j, "contact.revenue.EUR"), "the contact paid: %s",
              jd_json_brief(j));
    cJSON_Delete(j);
    jd_daemon_stop(&d);
    jd_redis_kill(&redis, SIGKILL);
    return jd_finish();
}
