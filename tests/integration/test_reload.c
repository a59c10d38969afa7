/*
 * SIGHUP reloads the config without a restart (DESIGN §9: "rotated secrets take effect
 * without a restart"), and a broken file changes nothing (pgbouncer's and nginx's rule):
 *
 *   whsec_old                    old-signed 200, new-signed 401
 *   whsec_new, whsec_old  + HUP  both 200 (the rotation window)
 *   whsec_new             + HUP  old-signed 401, new-signed 200
 *   unknown key           + HUP  refused and logged; whsec_new still the only secret
 *   unique_types += custom:crm, outbound_timeout changed
 *                         + HUP  unique_types is reloadable (the worker reads it for every
 *                                batch): two custom:crm values sharing an email merged
 *                                before, and no longer merge after it (a conflict instead);
 *                                the restart-only outbound_timeout is the one key the
 *                                warning names
 *
 * Meanwhile a second thread keeps posting signed form webhooks (a secret that every
 * version of the file keeps) on one keep-alive connection: a reload must not drop, reset
 * or refuse any of them. /metrics then counts 2 reloads and 1 refusal.
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLD_SECRET "whsec_old_9f2c41"
#define NEW_SECRET "whsec_new_5be07d"

static struct jd_daemon daemon_;
static atomic_int stop_load;
static atomic_int load_sent, load_ok;
static int evt_counter;

/* The first few non-200 answers of the load thread, for the failure message. */
static char load_errors[8][256];
static atomic_int nload_errors;

/* The harness's file with other [source stripe] secrets and optional extra [journeyd]
 * lines; written beside and renamed, so the daemon never reads half a file. */
static void write_conf(const char *stripe_secrets, const char *extra)
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
            "default_country_code = 39\n"
            "click_allow = example.com\n"
            "retry_after = 2s\n"
            "claim_idle = 1s\n"
            "%s"
            "\n"
            "[source stripe]\n"
            "type = stripe\n"
            "secret = %s\n"
            "\n"
            "[source site]\n"
            "type = form\n"
            "auth = hmac\n"
            "secret = " JD_FORM_SECRET "\n",
            daemon_.port, daemon_.redis_port, extra ? extra : "", stripe_secrets);
    JD_REQUIRE(fclose(f) == 0, "write %s failed", tmp);
    JD_REQUIRE(rename(tmp, daemon_.conf) == 0, "rename %s: %s", tmp, strerror(errno));
}

/* A fresh Stripe event signed with `secret`; returns the HTTP status (0: no answer). */
static long post_signed(const char *secret)
{
    char body[768], sig[256], url[128];
    int n = ++evt_counter;
    snprintf(body, sizeof body,
             "{\"id\":\"evt_reload_%05d\",\"object\":\"event\",\"type\":"
             "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
             "{\"id\":\"cs_reload_%05d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
             "\"currency\":\"eur\",\"customer\":\"cus_reload_%05d\",\"customer_details\":"
             "{\"email\":\"reload%05d@example.com\"},\"payment_intent\":\"pi_reload_%05d\","
             "\"metadata\":{}}}}",
             n, (int64_t)1790000000 + n, n, 100 + n, n, n, n);
    jd_stripe_sig_header(sig, sizeof sig, secret, jd_now_s(), body, strlen(body));
    snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, strlen(body));
    long st = h.status;
    jd_http_free(&h);
    return st;
}

/* One custom event through POST /v1/events carrying an email and a custom:crm id. */
static void post_crm_event(const char *id, const char *at, const char *email, const char *crm)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"%s\",\"kind\":\"custom\",\"at\":\"%s\",\"identities\":["
             "{\"type\":\"email\",\"value\":\"%s\"},{\"type\":\"custom:crm\",\"value\":\"%s\"}]}]}",
             id, at, email, crm);
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_EXPECT(h.status == 200, "POST /v1/events %s: want 200, got %ld", id, h.status);
    jd_http_free(&h);
}

/* Waits until the contact of `email` holds custom:crm `crm` and, if want_conflict, has a
 * conflict (the worker applies asynchronously); returns its journey (cJSON_Delete) or
 * NULL after 15 s. */
static cJSON *wait_contact(const char *email, const char *crm, int want_conflict)
{
    int64_t deadline = jd_mono_ms() + 15000;
    while (jd_mono_ms() < deadline) {
        long st;
        cJSON *j = jd_journey(&daemon_, "email", email, &st);
        if (j && jd_has_identity(jd_json_path(j, "contact.identities"), "custom:crm", crm) &&
            (!want_conflict || cJSON_GetArraySize(jd_json_path(j, "contact.conflicts")) > 0))
            return j;
        cJSON_Delete(j);
        jd_sleep_ms(50);
    }
    return NULL;
}

/* Posts with `secret` until the answer is `want` (a reload is asynchronous). */
static int poll_until(const char *secret, long want, const char *what)
{
    int64_t deadline = jd_mono_ms() + 15000;
    long st = 0;
    while (jd_mono_ms() < deadline) {
        st = post_signed(secret);
        if (st == want)
            return 1;
        jd_sleep_ms(50);
    }
    jd_error(__FILE__, __LINE__, "%s: still %ld after 15 s, want %ld", what, st, want);
    return 0;
}

static void expect_status(const char *secret, long want, const char *what)
{
    long st = post_signed(secret);
    JD_EXPECT(st == want, "%s: want %ld, got %ld", what, want, st);
}

static void *load(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&stop_load); i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"email\":\"load%05d@example.com\",\"form\":\"reload\","
                 "\"submission_id\":\"reload_load_%05d\",\"submitted_at\":"
                 "\"2026-09-01T10:00:00Z\"}",
                 i, i);
        struct jd_http h;
        jd_post_form(&daemon_, body, "application/json", &h);
        atomic_fetch_add(&load_sent, 1);
        if (h.status == 200) {
            atomic_fetch_add(&load_ok, 1);
        } else {
            int k = atomic_fetch_add(&nload_errors, 1);
            if (k < 8)
                snprintf(load_errors[k], sizeof load_errors[k],
                         "form #%d: status %ld, curl code %d, body %.150s", i, h.status,
                         h.curl_code, h.body ? h.body : "");
        }
        jd_http_free(&h);
    }
    jd_http_thread_done();
    return NULL;
}

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Waits until the daemon's log holds `needle` at least `times` times. */
static int wait_log(const char *needle, int times)
{
    int64_t deadline = jd_mono_ms() + 15000;
    while (jd_mono_ms() < deadline) {
        char *log = jd_slurp(daemon_.log);
        int n = log ? count_occurrences(log, needle) : 0;
        free(log);
        if (n >= times)
            return 1;
        jd_sleep_ms(50);
    }
    return 0;
}

/* The value of the unlabelled or labelled sample `name` (exact text before the value). */
static int metric_value(const char *text, const char *name, double *out)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n + 1 && strncmp(p, name, n) == 0 && p[n] == ' ') {
            char num[64];
            snprintf(num, sizeof num, "%.*s", (int)(len - n - 1), p + n + 1);
            char *end;
            *out = strtod(num, &end);
            return end != num && *end == '\0';
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

int main(void)
{
    jd_setup("reload", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, NULL);
    write_conf(OLD_SECRET, NULL);
    jd_daemon_start(&daemon_, 1);

    expect_status(OLD_SECRET, 200, "signed with the configured secret");
    expect_status(NEW_SECRET, 401, "signed with a secret not configured yet");

    /* custom:crm is not a unique type yet: two values sharing an email make one contact. */
    post_crm_event("reload_crm_1", "2026-09-01T10:00:00Z", "crm-a@example.com", "1");
    post_crm_event("reload_crm_2", "2026-09-01T11:00:00Z", "crm-a@example.com", "2");
    cJSON *merged = wait_contact("crm-a@example.com", "2", 0);
    JD_EXPECT(merged, "crm-a@example.com never held custom:crm 2 before the reload");
    if (merged)
        JD_EXPECT(jd_has_identity(jd_json_path(merged, "contact.identities"), "custom:crm", "1"),
                  "before the reload, custom:crm 1 and 2 should be one contact: %s",
                  jd_json_brief(jd_json_path(merged, "contact.identities")));
    cJSON_Delete(merged);

    pthread_t th;
    JD_REQUIRE(pthread_create(&th, NULL, load, NULL) == 0, "pthread_create failed");
    /* Let the load thread's keep-alive connection exist before the first reload. */
    int64_t deadline = jd_mono_ms() + 15000;
    while (atomic_load(&load_sent) < 5 && jd_mono_ms() < deadline)
        jd_sleep_ms(10);
    JD_REQUIRE(atomic_load(&load_sent) >= 5, "the load thread sent nothing in 15 s");

    /* 1. Rotation: both secrets. */
    write_conf(NEW_SECRET ", " OLD_SECRET, NULL);
    jd_daemon_signal(&daemon_, SIGHUP);
    if (poll_until(NEW_SECRET, 200, "new secret after adding it by SIGHUP"))
        expect_status(OLD_SECRET, 200, "old secret during the rotation window");
    JD_EXPECT(wait_log("msg=reloaded", 1), "no \"msg=reloaded\" log line after the first SIGHUP");

    /* 2. The old secret retired. */
    write_conf(NEW_SECRET, NULL);
    jd_daemon_signal(&daemon_, SIGHUP);
    if (poll_until(OLD_SECRET, 401, "old secret after removing it by SIGHUP"))
        expect_status(NEW_SECRET, 200, "new secret after the rotation");
    JD_EXPECT(wait_log("msg=reloaded", 2), "no second \"msg=reloaded\" log line");

    /* 3. A broken file: refused, the running config stays. */
    write_conf(OLD_SECRET, "no_such_key = 1\n");
    jd_daemon_signal(&daemon_, SIGHUP);
    JD_EXPECT(wait_log("reload refused", 1),
              "no log line with \"reload refused\" within 15 s of SIGHUP with an unknown key");
    JD_REQUIRE(jd_daemon_alive(&daemon_), "journeyd exited on a reload of a broken config");
    expect_status(NEW_SECRET, 200, "new secret after a refused reload");
    /* The broken file names only the old secret: had any part of it been applied, this
     * would pass. */
    expect_status(OLD_SECRET, 401, "old secret after a refused reload of a file naming it");
    long rz = jd_get_status(&daemon_, "/readyz");
    JD_EXPECT(rz == 200, "GET /readyz after a refused reload: want 200, got %ld", rz);

    /* 4. unique_types is reloadable and takes effect; a restart-only key is named. */
    write_conf(NEW_SECRET, "unique_types = hubspot_contact, pipedrive_person, custom:crm\n"
                           "outbound_timeout = 7s\n");
    jd_daemon_signal(&daemon_, SIGHUP);
    JD_EXPECT(wait_log("msg=reloaded", 3), "no third \"msg=reloaded\" log line");
    post_crm_event("reload_crm_3", "2026-09-02T10:00:00Z", "crm-b@example.com", "3");
    post_crm_event("reload_crm_4", "2026-09-02T11:00:00Z", "crm-b@example.com", "4");
    cJSON *kept = wait_contact("crm-b@example.com", "3", 1);
    JD_EXPECT(kept, "after reloading unique_types with custom:crm, crm-b@example.com's contact "
                    "never showed a conflict");
    if (kept)
        JD_EXPECT(!jd_has_identity(jd_json_path(kept, "contact.identities"), "custom:crm", "4"),
                  "after the reload custom:crm is unique, yet 3 and 4 merged: %s",
                  jd_json_brief(jd_json_path(kept, "contact.identities")));
    cJSON_Delete(kept);
    JD_EXPECT(wait_log("msg=\"changed keys take effect only on restart\" "
                       "keys=\"outbound_timeout\"",
                       1),
              "no warning naming exactly outbound_timeout after a reload that changed it and "
              "unique_types");

    /* A few more load requests after the last reload before stopping the thread. */
    int sent_now = atomic_load(&load_sent);
    deadline = jd_mono_ms() + 15000;
    while (atomic_load(&load_sent) < sent_now + 5 && jd_mono_ms() < deadline)
        jd_sleep_ms(10);
    atomic_store(&stop_load, 1);
    pthread_join(th, NULL);
    int sent = atomic_load(&load_sent), ok = atomic_load(&load_ok);
    int nerr = atomic_load(&nload_errors);
    for (int i = 0; i < nerr && i < 8; i++)
        jd_error(__FILE__, __LINE__, "load across reloads: %s", load_errors[i]);
    JD_EXPECT(ok == sent, "load across 4 reloads: %d of %d webhooks got 200", ok, sent);
    jd_note("load across 4 reloads: %d of %d form webhooks got 200", ok, sent);

    struct jd_http h;
    jd_get_auth(&daemon_, "/metrics", &h);
    JD_REQUIRE(h.status == 200 && h.body, "GET /metrics: want 200, got %ld", h.status);
    double v;
    JD_EXPECT(metric_value(h.body, "journeyd_reloads_total", &v),
              "journeyd_reloads_total absent from /metrics");
    if (metric_value(h.body, "journeyd_reloads_total", &v))
        JD_EXPECT(v == 3, "journeyd_reloads_total is %g, want 3", v);
    JD_EXPECT(metric_value(h.body, "journeyd_reload_failures_total", &v),
              "journeyd_reload_failures_total absent from /metrics");
    if (metric_value(h.body, "journeyd_reload_failures_total", &v))
        JD_EXPECT(v == 1, "journeyd_reload_failures_total is %g, want 1", v);
    jd_http_free(&h);

    char *log = jd_slurp(daemon_.log);
    int reloaded = log ? count_occurrences(log, "msg=reloaded") : -1;
    int refused = log ? count_occurrences(log, "reload refused") : -1;
    /* Secrets rotated and unique_types changed: none of that is restart-only. */
    int restart = log ? count_occurrences(log, "take effect only on restart") : -1;
    free(log);
    JD_EXPECT(restart == 1, "the log has %d restart warnings, want 1 (outbound_timeout)", restart);
    JD_EXPECT(reloaded == 3, "the log has %d \"msg=reloaded\" lines, want 3", reloaded);
    JD_EXPECT(refused == 1, "the log has %d \"reload refused\" lines, want 1", refused);

    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
