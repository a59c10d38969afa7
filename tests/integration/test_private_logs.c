/*
 * Secrets and personal data never reach the log at info level (DESIGN §8). A full day of
 * traffic goes through journeyd at the default log_level: an ad click, website forms
 * (JSON and urlencoded) with names, emails and phone numbers, Stripe payments, custom
 * events, badly signed webhooks of every kind, a wrong API token, signed bodies that are
 * not JSON or miss fields (so that the worker fails on them and dead-letters them), and a
 * clean stop. Then the whole log is searched, case-insensitively, for every secret,
 * token, email, phone number (as sent and in E.164), name, anonymous id, click id,
 * signature value and for markers that exist only inside request bodies.
 *
 * The same traffic then runs at log_level = debug, which may say more: nothing is
 * asserted about that log, only that the daemon still behaves.
 */
#include "harness.h"

#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECRETS 256

/* What must not be logged, with why, for the failure message. */
struct needle {
    char text[160];
    const char *what;
};

static struct needle needles[MAX_SECRETS];
static int nneedles;

static void forbid(const char *what, const char *text)
{
    JD_REQUIRE(nneedles < MAX_SECRETS, "too many needles");
    snprintf(needles[nneedles].text, sizeof needles[nneedles].text, "%s", text);
    needles[nneedles].what = what;
    nneedles++;
}

/* Both the whole signature and a prefix: a truncated value in a log is still a leak. */
static void forbid_signature(const char *header_line)
{
    const char *v = strrchr(header_line, '=');
    JD_REQUIRE(v && strlen(v + 1) == 64, "unexpected signature header %s", header_line);
    char prefix[17];
    snprintf(prefix, sizeof prefix, "%.16s", v + 1);
    forbid("a signature value (first 16 hex digits)", prefix);
}

static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return p;
    }
    return NULL;
}

static long post(const struct jd_daemon *d, const char *path, const char *const *hdrs,
                 const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, strlen(body));
    long st = h.status;
    jd_http_free(&h);
    return st;
}

static long post_stripe_as(const struct jd_daemon *d, const char *secret, const char *body,
                           int64_t t, int record)
{
    char sig[256];
    jd_stripe_sig_header(sig, sizeof sig, secret, t, body, strlen(body));
    if (record)
        forbid_signature(sig);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    return post(d, "/hooks/stripe", hdrs, body);
}

static long post_form_as(const struct jd_daemon *d, const char *secret, const char *body,
                         const char *ct, int record)
{
    char sig[256], cth[128];
    jd_form_sig_header(sig, sizeof sig, secret, body, strlen(body));
    if (record)
        forbid_signature(sig);
    snprintf(cth, sizeof cth, "Content-Type: %s", ct);
    const char *hdrs[] = {sig, cth, NULL};
    return post(d, "/hooks/site", hdrs, body);
}

/* `run` makes every id, email and marker unique to the run. */
static void traffic(const struct jd_daemon *d, int run, int record)
{
    char tag[24];
    snprintf(tag, sizeof tag, "%d%06" PRIu64, run, jd_rand_below(1000000));
    char email1[96], email2[96], email3[96], email4[96], aid[64], gclid[64];
    snprintf(email1, sizeof email1, "ottavia.brambilla%s@example.it", tag);
    snprintf(email2, sizeof email2, "Ludovico.Sforza%s@Example.COM", tag);
    snprintf(email3, sizeof email3, "ermenegilda%s@example.org", tag);
    snprintf(email4, sizeof email4, "policarpo%s@example.net", tag);
    snprintf(gclid, sizeof gclid, "EAIaIQobPrivGclid%s", tag);
    const char *phone1 = "+39 347 991 5523", *phone1_e164 = "+393479915523";
    const char *phone2 = "0039 (0)2 8845 1177", *phone2_e164 = "+390288451177";
    const char *phone3 = "348-662-0419", *phone3_e164 = "+393486620419";
    char marker[64], marker_bad[64];
    snprintf(marker, sizeof marker, "BODYMARKER%s", tag);
    snprintf(marker_bad, sizeof marker_bad, "BADBODYMARKER%s", tag);
    if (record) {
        forbid("an email", email1);
        forbid("an email", email2);
        forbid("an email", email3);
        forbid("an email", email4);
        forbid("a phone number as sent", phone1);
        forbid("a phone number in E.164", phone1_e164);
        forbid("a phone number's digits", "3479915523");
        forbid("a phone number as sent", phone2);
        forbid("a phone number in E.164", phone2_e164);
        forbid("a phone number's digits", "288451177");
        forbid("a phone number as sent", phone3);
        forbid("a phone number in E.164", phone3_e164);
        forbid("a phone number's digits", "3486620419");
        forbid("a name", "Ottavia");
        forbid("a name", "Brambilla");
        forbid("a name", "Ludovico");
        forbid("a name", "Sforza");
        forbid("a name", "Ermenegilda");
        forbid("a name", "Policarpo");
        forbid("a click id", gclid);
        forbid("a marker inside request bodies", marker);
        forbid("a marker inside a bad request body", marker_bad);
        forbid("a raw request body", "{\"id\":\"evt_");
        forbid("a raw request body", "customer_details");
    }

    /* The ad click; the anonymous id comes back in Location. */
    char enc[256], url[512], loc[512];
    jd_urlencode("https://example.com/landing", enc, sizeof enc);
    snprintf(url, sizeof url, "%s/c?to=%s&utm_source=google&utm_medium=cpc&gclid=%s", d->base, enc,
             gclid);
    struct jd_http h;
    jd_http(&h, "GET", url, NULL, NULL, 0);
    JD_EXPECT(h.status == 302, "GET /c: want 302, got %ld", h.status);
    const char *a = jd_http_header(&h, "Location", loc, sizeof loc) ? strstr(loc, "jd_aid=") : NULL;
    snprintf(aid, sizeof aid, "%s", a ? a + 7 : "");
    jd_http_free(&h);
    JD_REQUIRE(strncmp(aid, "a_", 2) == 0, "no anonymous id in Location %s", loc);
    if (record)
        forbid("an anonymous id", aid);

    /* Forms: JSON from the landing page, urlencoded from a plain HTML form. */
    char body[2048];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"phone\":\"%s\",\"name\":\"Ottavia Brambilla\","
             "\"jd_aid\":\"%s\",\"form\":\"demo\",\"submission_id\":\"sub_a_%s\","
             "\"message\":\"%s\"}",
             email1, phone1, aid, tag, marker);
    JD_EXPECT(post_form_as(d, JD_FORM_SECRET, body, "application/json", record) == 200,
              "JSON form: want 200");
    char e2[160];
    jd_urlencode(email2, e2, sizeof e2);
    snprintf(body, sizeof body,
             "email=%s&phone=%%2B39%%20347%%20991%%205523&name=Ludovico+Sforza&"
             "submission_id=sub_b_%s&note=%s",
             e2, tag, marker);
    JD_EXPECT(post_form_as(d, JD_FORM_SECRET, body, "application/x-www-form-urlencoded", record) ==
                  200,
              "urlencoded form: want 200");

    /* Payments. */
    int64_t now = jd_now_s();
    snprintf(body, sizeof body,
             "{\"id\":\"evt_priv_%s\",\"object\":\"event\",\"type\":"
             "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
             "{\"id\":\"cs_priv_%s\",\"object\":\"checkout.session\",\"amount_total\":4900,"
             "\"currency\":\"eur\",\"customer\":\"cus_priv_%s\",\"customer_details\":"
             "{\"email\":\"%s\",\"name\":\"Ottavia Brambilla\",\"phone\":\"%s\"},"
             "\"payment_intent\":\"pi_priv_%s\",\"metadata\":{\"note\":\"%s\"}}}}",
             tag, now, tag, tag, email1, phone1, tag, marker);
    JD_EXPECT(post_stripe_as(d, JD_STRIPE_SECRET, body, now, record) == 200,
              "stripe payment: want 200");
    snprintf(body, sizeof body,
             "{\"id\":\"evt_priv2_%s\",\"object\":\"event\",\"type\":"
             "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
             "{\"id\":\"cs_priv2_%s\",\"object\":\"checkout.session\",\"amount_total\":12000,"
             "\"currency\":\"eur\",\"customer_details\":{\"email\":\"%s\",\"name\":"
             "\"Ermenegilda\",\"phone\":\"%s\"},\"payment_intent\":\"pi_priv2_%s\","
             "\"metadata\":{}}}}",
             tag, now, tag, email3, phone3, tag);
    JD_EXPECT(post_stripe_as(d, JD_STRIPE_SECRET, body, now, record) == 200,
              "second stripe payment: want 200");

    /* Custom events. */
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"priv_ev_%s\",\"kind\":\"custom\",\"at\":"
             "\"2026-09-01T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":\"%s\"},"
             "{\"type\":\"phone\",\"value\":\"%s\"},{\"type\":\"anon\",\"value\":\"%s\"}]}]}",
             tag, email4, phone2, aid);
    jd_post_events(d, body, &h);
    JD_EXPECT(h.status == 200, "POST /v1/events: want 200, got %ld", h.status);
    jd_http_free(&h);

    /* Refused: wrong secrets, stale and garbled signatures, a wrong token. */
    snprintf(body, sizeof body,
             "{\"id\":\"evt_privbad_%s\",\"object\":\"event\",\"type\":"
             "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
             "{\"customer_details\":{\"email\":\"%s\"},\"metadata\":{\"n\":\"%s\"}}}}",
             tag, now, email4, marker_bad);
    JD_EXPECT(post_stripe_as(d, "whsec_wrong_secret_priv", body, now, record) == 401,
              "stripe, wrong secret: want 401");
    JD_EXPECT(post_stripe_as(d, JD_STRIPE_SECRET, body, now - 3 * 3600, record) == 401,
              "stripe, stale timestamp: want 401");
    {
        const char *hdrs[] = {"Stripe-Signature: t=garbage,v1=zz"
                              "BADSIGVALUEPRIV",
                              NULL};
        if (record)
            forbid("a garbled signature value", "BADSIGVALUEPRIV");
        long gs = post(d, "/hooks/stripe", hdrs, body);
        JD_EXPECT(gs == 400 || gs == 401,
                  "stripe, garbled signature header: want 400 or 401, got %ld", gs);
    }
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"name\":\"Policarpo\",\"x\":\"%s\"}", email4,
             marker_bad);
    JD_EXPECT(post_form_as(d, "form_wrong_secret_priv", body, "application/json", record) == 401,
              "form, wrong secret: want 401");
    {
        const char *hdrs[] = {"Authorization: Bearer wrong-token-privlog",
                              "Content-Type: application/json", NULL};
        if (record)
            forbid("a wrong bearer token", "wrong-token-privlog");
        snprintf(body, sizeof body,
                 "{\"events\":[{\"id\":\"priv_bad_%s\",\"kind\":\"custom\",\"at\":"
                 "\"2026-09-01T10:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                 "\"%s\"}]}]}",
                 tag, email4);
        JD_EXPECT(post(d, "/v1/events", hdrs, body) == 401, "events, wrong token: want 401");
    }

    /* Signed but bad bodies: refused at once (400) or dead-lettered by the worker. */
    snprintf(body, sizeof body, "not json at all %s %s %s", email4, phone2, marker_bad);
    long st = post_stripe_as(d, JD_STRIPE_SECRET, body, now, record);
    JD_EXPECT(st == 200 || st == 400, "stripe, signed non-JSON body: want 200 or 400, got %ld", st);
    snprintf(body, sizeof body,
             "{\"id\":\"evt_privnoamt_%s\",\"object\":\"event\",\"type\":"
             "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
             "{\"id\":\"cs_privnoamt_%s\",\"customer_details\":{\"email\":\"%s\",\"name\":"
             "\"Policarpo\"},\"currency\":\"%s\"}}}",
             tag, now, tag, email4, marker_bad);
    st = post_stripe_as(d, JD_STRIPE_SECRET, body, now, record);
    JD_EXPECT(st == 200 || st == 400,
              "stripe, signed body without amount: want 200 or 400, got %ld", st);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"name\":\"Policarpo\" %s", email4, marker_bad);
    st = post_form_as(d, JD_FORM_SECRET, body, "application/json", record);
    JD_EXPECT(st == 200 || st == 400, "form, signed broken JSON: want 200 or 400, got %ld", st);
    snprintf(body, sizeof body,
             "{\"events\":[{\"id\":\"priv_badkind_%s\",\"kind\":\"%s\",\"at\":\"yesterday\","
             "\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}]}",
             tag, marker_bad, email4);
    jd_post_events(d, body, &h);
    JD_EXPECT(h.status == 400, "events, invalid event: want 400, got %ld", h.status);
    jd_http_free(&h);

    jd_wait_drained(d, 60);
    /* The API answers with the data, of course; the log must not. */
    long js;
    cJSON *j = jd_journey(d, "email", email1, &js);
    JD_EXPECT(js == 200 && j, "journey of %s: want 200, got %ld", email1, js);
    cJSON_Delete(j);
}

int main(void)
{
    jd_setup("private_logs", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);

    forbid("the Stripe signing secret", JD_STRIPE_SECRET);
    forbid("the form signing secret", JD_FORM_SECRET);
    forbid("the API token", JD_TOKEN);
    forbid("a wrong Stripe secret", "whsec_wrong_secret_priv");
    forbid("a wrong form secret", "form_wrong_secret_priv");

    struct jd_daemon d;
    /* max_deliveries = 1: the bad bodies reach the dead-letter path (and its log line)
     * at once. */
    jd_daemon_config(&d, redis.port, "max_deliveries = 1\n");
    jd_daemon_start(&d, 1);
    traffic(&d, 1, 1);
    /* A reload logs, and so does a refused one, whose file holds secrets next to the
     * error. */
    jd_daemon_signal(&d, SIGHUP);
    int64_t deadline = jd_mono_ms() + 15000;
    for (;;) {
        jd_sleep_ms(50);
        char *text = jd_slurp(d.log);
        int reloaded = text && strstr(text, "msg=reloaded");
        free(text);
        if (reloaded)
            break;
        JD_REQUIRE(jd_mono_ms() < deadline, "no \"msg=reloaded\" line after SIGHUP");
    }
    jd_daemon_config_append(&d, "\n[source extra]\ntype = stripe\nsecret = " JD_STRIPE_SECRET
                                ", whsec_wrong_secret_priv,\nsecrte = " JD_FORM_SECRET "\n");
    deadline = jd_mono_ms() + 15000;
    for (;;) {
        jd_daemon_signal(&d, SIGHUP);
        jd_sleep_ms(100);
        char *text = jd_slurp(d.log);
        int refused = text && strstr(text, "reload refused");
        free(text);
        if (refused)
            break;
        JD_REQUIRE(jd_mono_ms() < deadline, "no \"reload refused\" line for a broken config");
    }
    jd_daemon_stop(&d);

    char *log = jd_slurp(d.log);
    JD_REQUIRE(log, "cannot read %s", d.log);
    JD_REQUIRE(strstr(log, "level=info") || strstr(log, "level=notice"),
               "the info-level log is empty: nothing was checked");
    int leaks = 0;
    for (int i = 0; i < nneedles; i++) {
        const char *hit = find_ci(log, needles[i].text);
        if (!hit)
            continue;
        leaks++;
        const char *bol = hit;
        while (bol > log && bol[-1] != '\n')
            bol--;
        const char *eol = strchr(hit, '\n');
        int len = eol ? (int)(eol - bol) : (int)strlen(bol);
        jd_error(__FILE__, __LINE__, "log at level info holds %s (\"%s\"): %.*s", needles[i].what,
                 needles[i].text, len > 400 ? 400 : len, bol);
    }
    size_t lines = 0;
    for (const char *p = log; *p; p++)
        lines += *p == '\n';
    jd_note("info-level log: %zu lines searched for %d private values, %d found", lines, nneedles,
            leaks);
    free(log);

    /* Debug may say more: the same traffic, only the daemon's health is checked. */
    struct jd_daemon dbg;
    jd_daemon_config(&dbg, redis.port, "log_level = debug\nmax_deliveries = 1\n");
    jd_daemon_start(&dbg, 1);
    traffic(&dbg, 2, 0);
    jd_daemon_stop(&dbg);

    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
