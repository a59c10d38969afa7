/*
 * Backfill (issue 15 item 4): `journeyd backfill --source stripe --since 90d` reads a fake
 * Stripe API on loopback while journeyd runs. The command is killed (SIGKILL) while it
 * waits for the second page, after the first page was queued; run again, it goes on from
 * the cursor in Redis (starting_after = the first page's last event, page 1 is never asked
 * for again) and finishes. Each of the six events is in its journey exactly once — one of
 * them also came as a webhook before — and journeyd_reconciled_total counts the five new
 * ones. Then POST /v1/backfill (admin) queues a backfill the daemon runs by itself.
 */
#include "fake_api.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define API_TOKEN "sk_test_backfill_0123456789"

static struct jd_daemon daemon_;
static struct fake_api *fake;
static char prefix[32];

static long long reconciled(void)
{
    return jd_metric(&daemon_, "journeyd_reconciled_total{source=\"stripe\"}");
}

/* HGET jd:backfill:stripe <field> into out ("" when absent). */
static void backfill_field(redisContext *rc, const char *field, char *out, size_t cap)
{
    redisReply *r = redisCommand(rc, "HGET jd:backfill:stripe %s", field);
    snprintf(out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r)
        freeReplyObject(r);
}

static pid_t start_backfill(const char *log)
{
    pid_t pid = fork();
    JD_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
        char *argv[] = {(char *)(uintptr_t)jd_binary(),
                        "backfill",
                        "-c",
                        daemon_.conf,
                        "--source",
                        "stripe",
                        "--since",
                        "90d",
                        NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int main(void)
{
    jd_setup("backfill", 240, 1);
    snprintf(prefix, sizeof prefix, "bf%08" PRIx64, jd_rand() & 0xffffffffu);
    fake = fake_api_start();
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    /* No reconcile: a backfill needs only the token. */
    jd_daemon_config_stripe(&daemon_, "api_token = " API_TOKEN "\napi_base = %s\n",
                            fake_api_base(fake));
    jd_daemon_start(&daemon_, 1);
    redisContext *rc = jd_redis_connect(&redis);

    /* Event 4 arrives as a webhook before the backfill reads it again. */
    struct jd_http h;
    char *body = jd_stripe_checkout_body(prefix, 4);
    JD_EXPECT(jd_post_stripe(&daemon_, body, &h) == 0 && h.status == 200,
              "webhook of event 4: want 200, got %ld", h.status);
    jd_http_free(&h);
    free(body);
    jd_wait_drained(&daemon_, 30);

    /* Page 1 at once; page 2 not before the command is killed. */
    int r_events = fake_api_route(fake, "GET", "/v1/events?", FAKE_PREFIX);
    char *p1 = jd_stripe_events_page(prefix, 5, 3, 1), *p2 = jd_stripe_events_page(prefix, 2, 0, 0);
    fake_api_reply(fake, r_events, 200, NULL, p1, 0);
    fake_api_reply(fake, r_events, 200, NULL, p2, 60000);

    char log[JD_PATH_MAX], after[128], want_after[64];
    snprintf(log, sizeof log, "%s/backfill1.log", jd_tmpdir());
    snprintf(want_after, sizeof want_after, "evt_%s_00003", prefix);
    pid_t pid = start_backfill(log);
    int64_t end = jd_mono_ms() + 30000;
    after[0] = '\0';
    while (jd_mono_ms() < end &&
           (strcmp(after, want_after) != 0 || fake_api_hits(fake, r_events) < 2)) {
        jd_sleep_ms(50);
        backfill_field(rc, "after", after, sizeof after);
    }
    JD_REQUIRE(strcmp(after, want_after) == 0 && fake_api_hits(fake, r_events) >= 2,
               "the first run did not save its cursor after page 1 (after=\"%s\", %zu requests)",
               after, fake_api_hits(fake, r_events));
    JD_REQUIRE(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    int st = 0;
    JD_REQUIRE(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st), "the backfill did not die");

    /* ---- run again: it resumes at page 2 ---- */
    fake_api_clear_replies(fake, r_events);
    fake_api_reply(fake, r_events, 200, NULL, p2, 0);
    size_t before = fake_api_nrequests(fake);
    char out[8192];
    char *argv[] = {(char *)(uintptr_t)jd_binary(),
                    "backfill",
                    "-c",
                    daemon_.conf,
                    "--source",
                    "stripe",
                    "--since",
                    "90d",
                    NULL};
    st = jd_run_capture(argv, out, sizeof out, 60);
    jd_note("the resumed backfill said:\n%s", out);
    JD_EXPECT(st == 0, "the resumed backfill: want exit 0, got %d: %.600s", st, out);
    JD_EXPECT(strstr(out, "resuming the backfill") && strstr(out, "3 events queued before") &&
                  strstr(out, "6 events queued, done"),
              "the resumed backfill's progress lines: %.600s", out);
    struct fake_request rq;
    JD_REQUIRE(fake_api_request(fake, before, &rq) == 0, "the resumed run asked nothing");
    char want[96];
    snprintf(want, sizeof want, "starting_after=%s", want_after);
    JD_EXPECT(strstr(rq.target, want) != NULL, "the resumed run asked %s, want %s", rq.target,
              want);
    JD_EXPECT(fake_api_nrequests(fake) == before + 1,
              "the resumed run made %zu requests, want 1 (page 2 only)",
              fake_api_nrequests(fake) - before);
    /* Page 1 once, page 2 twice (the request the kill cut short, then the resumed one). */
    JD_EXPECT(fake_api_count(fake, "GET", "/v1/events?") == 3,
              "requests to the list API: want 3, got %zu",
              fake_api_count(fake, "GET", "/v1/events?"));
    char state[32];
    backfill_field(rc, "state", state, sizeof state);
    JD_EXPECT(strcmp(state, "done") == 0, "jd:backfill:stripe state: want done, got \"%s\"", state);

    /* ---- each event once, five of them new ---- */
    end = jd_mono_ms() + 30000;
    while (reconciled() < 5 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    jd_check_checkout_journeys(&daemon_, prefix, 6, NULL);
    JD_EXPECT(reconciled() == 5, "journeyd_reconciled_total{source=\"stripe\"}: want 5, got %lld",
              reconciled());

    /* ---- POST /v1/backfill: the daemon runs it ---- */
    char url[160];
    snprintf(url, sizeof url, "%s/v1/backfill", daemon_.base);
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, "Content-Type: application/json",
                          NULL};
    const char *bad = "{\"source\":\"site\",\"since\":\"90d\"}";
    jd_http(&h, "POST", url, hdrs, bad, strlen(bad));
    JD_EXPECT(h.status == 400 && jd_http_is_error(&h, "bad_request"),
              "a backfill of a form source: want 400, got %ld %.200s", h.status,
              h.body ? h.body : "");
    jd_http_free(&h);
    const char *odd = "{\"source\":\"stripe\",\"since\":\"yesterday\"}";
    jd_http(&h, "POST", url, hdrs, odd, strlen(odd));
    JD_EXPECT(h.status == 400, "since=yesterday: want 400, got %ld", h.status);
    jd_http_free(&h);
    fake_api_clear_replies(fake, r_events);
    char *p3 = jd_stripe_events_page(prefix, 6, 6, 0);
    fake_api_reply(fake, r_events, 200, NULL, p3, 0);
    const char *ask = "{\"source\":\"stripe\",\"since\":\"30d\"}";
    jd_http(&h, "POST", url, hdrs, ask, strlen(ask));
    JD_EXPECT(h.status == 202 && h.body && strstr(h.body, "\"state\":\"queued\""),
              "POST /v1/backfill: want 202 queued, got %ld %.200s", h.status, h.body ? h.body : "");
    jd_http_free(&h);
    end = jd_mono_ms() + 30000;
    while (reconciled() < 6 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    jd_wait_drained(&daemon_, 30);
    jd_check_checkout_journeys(&daemon_, prefix, 7, NULL);
    JD_EXPECT(reconciled() == 6,
              "after POST /v1/backfill: journeyd_reconciled_total want 6, "
              "got %lld",
              reconciled());
    end = jd_mono_ms() + 10000;
    long long left = 1;
    while ((left = jd_redis_int(rc, "SCARD jd:backfill:requests")) != 0 && jd_mono_ms() < end)
        jd_sleep_ms(100);
    JD_EXPECT(left == 0, "jd:backfill:requests still holds %lld", left);

    free(p1);
    free(p2);
    free(p3);
    redisFree(rc);
    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    fake_api_stop(fake);
    return jd_finish();
}
