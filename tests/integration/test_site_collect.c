/*
 * The site kit's doors (issue 15 items 1 and 2): GET /j.js is served from the binary with
 * a versioned, cacheable answer; POST /v1/collect takes a page view only from an origin on
 * collect_allow, only within collect_rate per client address, only a small valid body
 * (each refusal is counted and nothing refused reaches the journeys); an accepted page
 * view is a "visit" in the visitor's journey with its landing utm values, click ids and
 * referrer, and joins the click tracker's cookie id. GET /c works as a Google Ads
 * tracking template: with track=1 or without a destination it records and answers 204,
 * and the landing page's view joins that click through the gclid, then a browser form
 * with the script's jd_aid joins the lead: one journey.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN "https://example.com"
#define AID_A "a_0123456789abcdef0123456789abcdef"
#define AID_B "a_fedcba9876543210fedcba9876543210"
#define AID_C "a_00000000000000000000000000000c0c"
#define AID_D "a_0000000000000000000000000000d0d0"

static struct jd_redis redis_;
static struct jd_daemon daemon_;

static void start(void)
{
    jd_redis_start(&redis_, NULL, 0);
    jd_daemon_config(&daemon_, redis_.port,
                     "collect_allow = example.com, shop.example:8443\n"
                     "collect_rate = 5\n");
    jd_daemon_config_append(
        &daemon_, "\n[source web]\ntype = form\nauth = origin\nallow_origins = example.com\n"
                  "thank_you_url = https://example.com/thanks\n");
    jd_daemon_start(&daemon_, 1);
}

/* POST /v1/collect with the given Origin (NULL: none), client address (X-Forwarded-For,
 * which the daemon reads only from a loopback peer: the proxy case) and cookie. */
static long collect(const char *origin, const char *xff, const char *cookie, const char *body,
                    size_t len, struct jd_http *keep)
{
    char url[128], o[256], x[128], c[128];
    const char *hdrs[5];
    size_t n = 0;
    snprintf(url, sizeof url, "%s/v1/collect", daemon_.base);
    hdrs[n++] = "Content-Type: text/plain";
    if (origin) {
        snprintf(o, sizeof o, "Origin: %s", origin);
        hdrs[n++] = o;
    }
    if (xff) {
        snprintf(x, sizeof x, "X-Forwarded-For: %s", xff);
        hdrs[n++] = x;
    }
    if (cookie) {
        snprintf(c, sizeof c, "Cookie: jd_aid=%s", cookie);
        hdrs[n++] = c;
    }
    hdrs[n] = NULL;
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, len);
    long st = h.status;
    if (keep)
        *keep = h;
    else
        jd_http_free(&h);
    return st;
}

static long collect_json(const char *xff, const char *cookie, const char *body)
{
    return collect(ORIGIN, xff, cookie, body, strlen(body), NULL);
}

static long get(const char *path, const char *const *hdrs, struct jd_http *keep)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", daemon_.base, path);
    struct jd_http h;
    jd_http(&h, "GET", url, hdrs, NULL, 0);
    long st = h.status;
    if (keep)
        *keep = h;
    else
        jd_http_free(&h);
    return st;
}

/* The first event of kind `kind` in a journey answer, or NULL. */
static const cJSON *event_of_kind(const cJSON *j, const char *kind)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        const char *k = jd_json_str(e, "kind");
        if (k && strcmp(k, kind) == 0)
            return e;
    }
    return NULL;
}

static void test_script(void)
{
    struct jd_http h;
    char type[128] = "", etag[128] = "", cc[128] = "", path[256];
    JD_REQUIRE(get("/j.js", NULL, &h) == 200, "GET /j.js: want 200, got %ld", h.status);
    JD_EXPECT(jd_http_header(&h, "Content-Type", type, sizeof type) &&
                  strncmp(type, "text/javascript", 15) == 0,
              "/j.js Content-Type: %s", type);
    JD_EXPECT(h.body && strstr(h.body, "/v1/collect") && strstr(h.body, "MutationObserver"),
              "/j.js is not the site script");
    JD_EXPECT(h.len < 16384, "/j.js is %zu bytes: it must stay small", h.len);
    JD_REQUIRE(jd_http_header(&h, "ETag", etag, sizeof etag) && etag[0] == '"',
               "/j.js has no ETag");
    JD_EXPECT(jd_http_header(&h, "Cache-Control", cc, sizeof cc) && strstr(cc, "max-age=3600"),
              "bare /j.js Cache-Control: %s", cc);
    jd_http_free(&h);

    /* The version in the URL makes it cacheable for a year. */
    snprintf(path, sizeof path, "/j.js?v=%.*s", (int)(strlen(etag) - 2), etag + 1);
    JD_EXPECT(get(path, NULL, &h) == 200, "GET %s: %ld", path, h.status);
    JD_EXPECT(jd_http_header(&h, "Cache-Control", cc, sizeof cc) && strstr(cc, "immutable") &&
                  strstr(cc, "max-age=31536000"),
              "versioned /j.js Cache-Control: %s", cc);
    jd_http_free(&h);
    JD_EXPECT(get("/j.js?v=0000", NULL, &h) == 200 &&
                  jd_http_header(&h, "Cache-Control", cc, sizeof cc) && !strstr(cc, "immutable"),
              "an old version must not be cached for a year: %s", cc);
    jd_http_free(&h);
    char inm[160];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *hdrs[] = {inm, NULL};
    JD_EXPECT(get("/j.js", hdrs, NULL) == 304, "If-None-Match with the ETag: want 304");
}

static void test_refusals(void)
{
    static const char ok[] = "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/\"}";
    struct jd_http h;
    char v[128] = "";

    JD_EXPECT(collect(NULL, "192.0.2.1", NULL, ok, strlen(ok), NULL) == 403, "no Origin: want 403");
    JD_EXPECT(collect("https://evil.example", "192.0.2.1", NULL, ok, strlen(ok), NULL) == 403,
              "origin not on collect_allow: want 403");
    JD_EXPECT(collect("https://shop.example", "192.0.2.1", NULL, ok, strlen(ok), NULL) == 403,
              "host listed only with a port, asked without: want 403");
    JD_EXPECT(collect("ftp://example.com", "192.0.2.1", NULL, ok, strlen(ok), NULL) == 403,
              "a non-http origin: want 403");
    static const char *bad[] = {
        "not json",
        "[]",
        "{\"url\":\"https://example.com/\"}",
        "{\"aid\":\"a_short\",\"url\":\"https://example.com/\"}",
        "{\"aid\":\"A_0123456789ABCDEF0123456789ABCDEF\",\"url\":\"https://example.com/\"}",
        "{\"aid\":\"" AID_A "\"}",
        "{\"aid\":\"" AID_A "\",\"url\":\"javascript:alert(1)\"}",
        "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/\",\"referrer\":\"about:blank\"}",
        "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/?utm_source=%zz\"}",
        "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/\\u0001\"}",
        "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/\",\"x\":{\"a\":{\"b\":{\"c\":{}}}}}",
    };
    /* Each from its own address: refused bodies count against the rate too. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "192.0.2.%zu", 10 + i);
        JD_EXPECT(collect(ORIGIN, addr, NULL, bad[i], strlen(bad[i]), NULL) == 400,
                  "body %s: want 400", bad[i]);
    }
    /* A click id longer than normalize keeps: refused whole, not cut. */
    struct jd_buf b = {0};
    jd_buf_printf(&b, "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/?gclid=");
    for (int i = 0; i < 300; i++)
        jd_buf_append(&b, "g", 1);
    jd_buf_printf(&b, "\"}");
    JD_EXPECT(collect(ORIGIN, "192.0.2.2", NULL, b.p, b.len, NULL) == 400,
              "a 300-byte gclid: want 400");
    jd_buf_free(&b);
    /* Over the body bound: 413, before anything is parsed. */
    jd_buf_printf(&b, "{\"aid\":\"" AID_A "\",\"url\":\"https://example.com/\",\"pad\":\"");
    for (int i = 0; i < 7000; i++)
        jd_buf_append(&b, "x", 1);
    jd_buf_printf(&b, "\"}");
    JD_EXPECT(collect(ORIGIN, "192.0.2.3", NULL, b.p, b.len, NULL) == 413,
              "a 7 kB page view: want 413");
    jd_buf_free(&b);
    JD_EXPECT(jd_metric(&daemon_, "journeyd_page_views_refused_total") >= 17,
              "refusals are counted: %lld",
              jd_metric(&daemon_, "journeyd_page_views_refused_total"));

    /* The rate limit: collect_rate = 5 per address and minute; another address is not
     * held back by the first. */
    for (int i = 0; i < 5; i++)
        JD_EXPECT(collect_json("198.51.100.7", NULL, ok) == 200, "view %d within the rate", i);
    JD_EXPECT(collect(ORIGIN, "198.51.100.7", NULL, ok, strlen(ok), &h) == 429,
              "the sixth view in a minute: want 429, got %ld", h.status);
    JD_EXPECT(jd_http_header(&h, "Retry-After", v, sizeof v) && atoi(v) >= 1 && atoi(v) <= 60,
              "429 without a Retry-After in 1..60: %s", v);
    jd_http_free(&h);
    JD_EXPECT(collect_json("198.51.100.8", NULL, ok) == 200, "another address: want 200");
    JD_EXPECT(jd_metric(&daemon_, "journeyd_page_views_limited_total") == 1,
              "journeyd_page_views_limited_total: %lld",
              jd_metric(&daemon_, "journeyd_page_views_limited_total"));
    /* The allowed origin is answered with CORS for it (the script reads no answer, but
     * a site's own code may). */
    JD_EXPECT(collect("https://shop.example:8443", "198.51.100.9", NULL, ok, strlen(ok), &h) == 200,
              "host:port on collect_allow: want 200, got %ld", h.status);
    JD_EXPECT(jd_http_header(&h, "Access-Control-Allow-Origin", v, sizeof v) &&
                  strcmp(v, "https://shop.example:8443") == 0,
              "Access-Control-Allow-Origin: %s", v);
    jd_http_free(&h);
}

static void test_page_view(void)
{
    long st;
    JD_EXPECT(collect_json("203.0.113.1", AID_B,
                           "{\"aid\":\"" AID_C "\",\"url\":\"https://example.com/landing?"
                           "utm_source=newsletter&utm_medium=email&utm_campaign=autumn&"
                           "fbclid=FB_land_1#top\",\"referrer\":\"https://mail.example.org/\"}") ==
                  200,
              "a landing page view: want 200");
    jd_wait_drained(&daemon_, 60);
    cJSON *j = jd_journey(&daemon_, "anon", AID_C, &st);
    JD_REQUIRE(j, "journey anon=%s: %ld", AID_C, st);
    const cJSON *ids = jd_json_path(j, "contact.identities");
    JD_EXPECT(jd_has_identity(ids, "anon", AID_B),
              "the click tracker's cookie id joins the script's id: %s", jd_json_brief(ids));
    JD_EXPECT(jd_has_identity(ids, "fbclid", "FB_land_1"), "the landing's fbclid: %s",
              jd_json_brief(ids));
    const cJSON *e = event_of_kind(j, "visit");
    JD_REQUIRE(e, "no visit in %s", jd_json_brief(j));
    const char *id = jd_json_str(e, "id");
    JD_EXPECT(id && strncmp(id, "view:", 5) == 0, "visit id %s", id ? id : "(null)");
    JD_EXPECT(jd_json_str(jd_json_path(e, "touch"), "campaign") &&
                  strcmp(jd_json_str(jd_json_path(e, "touch"), "campaign"), "autumn") == 0,
              "the landing's utm_campaign is the visit's touch: %s", jd_json_brief(e));
    char *text = jd_json_print(e);
    JD_EXPECT(text && strstr(text, "https://mail.example.org/") &&
                  strstr(text, "https://example.com/landing?"),
              "the page and its referrer are kept: %s", text);
    cJSON_free(text);
    cJSON_Delete(j);

    /* A later page without parameters: a visit, not a touch. */
    JD_EXPECT(collect_json("203.0.113.1", NULL,
                           "{\"aid\":\"" AID_C
                           "\",\"url\":\"https://example.com/pricing\"}") == 200,
              "a second page view: want 200");
    jd_wait_drained(&daemon_, 60);
    j = jd_journey(&daemon_, "anon", AID_C, &st);
    int visits = 0, touches = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "events"))
    {
        const char *k = jd_json_str(e, "kind");
        if (k && strcmp(k, "visit") == 0) {
            visits++;
            touches += cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "touch"));
        }
    }
    JD_EXPECT(visits == 2 && touches == 1, "two visits, one of them a touch: %d, %d", visits,
              touches);
    cJSON_Delete(j);
}

/* /c as a Google Ads tracking template with parallel tracking: the background call has
 * no cookie and wants no redirect; the landing page (with the gclid Google appends)
 * reports the view with the script's own id; a form carries that id and an email. */
static void test_tracking_template(void)
{
    struct jd_http h;
    char loc[256] = "";
    long st;
    JD_EXPECT(get("/c?track=1&to=https%3A%2F%2Fexample.com%2Flp&utm_source=google&utm_medium="
                  "cpc&utm_campaign=brand&gclid=G_track_1",
                  NULL, &h) == 204,
              "track=1: want 204, got %ld", h.status);
    JD_EXPECT(!jd_http_header(&h, "Location", loc, sizeof loc), "204 with a Location: %s", loc);
    jd_http_free(&h);
    JD_EXPECT(get("/c?utm_source=google&gclid=G_track_2", NULL, NULL) == 204,
              "no destination: want 204");
    JD_EXPECT(get("/c?to={lpurl}&gclid=G_track_3", NULL, NULL) == 204,
              "an unsubstituted {lpurl}: want 204");
    JD_EXPECT(get("/c?track=1&to=https%3A%2F%2Fevil.example%2F&gclid=G_track_4", NULL, NULL) == 400,
              "track=1 to a host not on click_allow: want 400");
    /* The redirect is unchanged. */
    JD_EXPECT(get("/c?to=https%3A%2F%2Fexample.com%2F&gclid=G_track_5", NULL, NULL) == 302,
              "a destination without track=1 still redirects");

    JD_EXPECT(collect_json("203.0.113.2", NULL,
                           "{\"aid\":\"" AID_D "\",\"url\":\"https://example.com/lp?"
                           "gclid=G_track_1\"}") == 200,
              "the landing view: want 200");
    char body[256];
    snprintf(body, sizeof body, "email=lea%%40example.com&jd_aid=%s&gclid=G_track_1", AID_D);
    const char *hdrs[] = {"Origin: " ORIGIN, "Content-Type: application/x-www-form-urlencoded",
                          NULL};
    jd_post_hook(&daemon_, "web", hdrs, body, &h);
    JD_EXPECT(h.status == 303, "the browser form: want 303, got %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(&daemon_, 60);

    cJSON *j = jd_journey(&daemon_, "email", "lea@example.com", &st);
    JD_REQUIRE(j, "journey email=lea@example.com: %ld", st);
    const cJSON *click = event_of_kind(j, "click");
    JD_EXPECT(click && jd_json_str(jd_json_path(click, "touch"), "campaign") &&
                  strcmp(jd_json_str(jd_json_path(click, "touch"), "campaign"), "brand") == 0,
              "the tracked click with its campaign joins the lead: %s", jd_json_brief(j));
    JD_EXPECT(event_of_kind(j, "visit"), "the landing visit joins the lead: %s", jd_json_brief(j));
    JD_EXPECT(event_of_kind(j, "lead") || event_of_kind(j, "form"), "the lead: %s",
              jd_json_brief(j));
    JD_EXPECT(jd_has_identity(jd_json_path(j, "contact.identities"), "anon", AID_D),
              "the script's id: %s", jd_json_brief(j));
    cJSON_Delete(j);
}

/* "name value" of a /metrics line, copied into out ("" when absent). */
static const char *metric_text(const char *name, char *out, size_t cap)
{
    struct jd_http h;
    size_t n = strlen(name);
    out[0] = '\0';
    jd_get_auth(&daemon_, "/metrics", &h);
    for (const char *p = h.body; p && (p = strstr(p, name)); p += n)
        if ((p == h.body || p[-1] == '\n') && p[n] == ' ')
            snprintf(out, cap, "%.*s", (int)strcspn(p + n + 1, "\n"), p + n + 1);
    jd_http_free(&h);
    return out;
}

/* A Stripe checkout paid now; its `at` is Stripe's `created`, in whole seconds, so it is
 * dated 2 s ahead to come after this second's click and form in journey order. */
static void stripe_payment(const char *id, const char *email, const char *ref)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"id\":\"evt_%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_%s\",\"object\":"
             "\"checkout.session\",\"amount_total\":4900,\"currency\":\"eur\","
             "\"customer_details\":{\"email\":\"%s\"},\"payment_intent\":\"pi_%s\","
             "%s%s%s\"metadata\":{}}}}",
             id, (long long)jd_now_s() + 2, id, email, id, ref ? "\"client_reference_id\":\"" : "",
             ref ? ref : "", ref ? "\"," : "");
    struct jd_http h;
    jd_post_stripe(&daemon_, body, &h);
    JD_REQUIRE(h.status == 200, "stripe %s: %ld", id, h.status);
    jd_http_free(&h);
}

/* Identity health (item 5): the SLA and attribution answers and /metrics state the share
 * of leads and payments with a touch. lea@ came through the tracked click and pays with
 * the script's id as Stripe's client_reference_id (joined: a touch); a signed form lead
 * and a payment by someone never seen have none. */
static void test_identity_health(void)
{
    char v[64], path[256], from[40], to[40];
    struct jd_http h;
    JD_EXPECT(!metric_text("journeyd_identity_leads_with_touch_ratio", v, sizeof v)[0],
              "the gauge before any report: %s", v);
    stripe_payment("site_paid", "lea@example.com", AID_D);
    stripe_payment("site_cold", "cold@example.com", NULL);
    jd_post_form(&daemon_, "{\"email\":\"notouch@example.com\",\"submission_id\":\"nt1\"}",
                 "application/json", &h);
    JD_EXPECT(h.status == 200, "signed form: %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(&daemon_, 60);
    long st;
    cJSON *j = jd_journey(&daemon_, "anon", AID_D, &st);
    JD_EXPECT(
        j && jd_has_identity(jd_json_path(j, "contact.identities"), "email", "lea@example.com") &&
            jd_count_event(j, "stripe:evt_site_paid") == 1,
        "the payment joins the click's journey: %s", jd_json_brief(j));
    cJSON_Delete(j);

    jd_rfc3339(jd_now_s() - 86400, from, sizeof from);
    jd_rfc3339(jd_now_s() + 86400, to, sizeof to);
    snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s", from, to);
    JD_REQUIRE(jd_get_auth(&daemon_, path, &h) == 0 && h.status == 200, "GET %s: %ld", path,
               h.status);
    j = jd_http_json(&h);
    const cJSON *id = jd_json_path(j, "identity");
    char *t = jd_json_print(id);
    JD_EXPECT(t && strcmp(t, "{\"leads\":2,\"leads_with_touch\":1,\"leads_share\":0.5,"
                             "\"payments\":2,\"payments_with_touch\":1,"
                             "\"payments_share\":0.5}") == 0,
              "SLA identity: %s", t ? t : "(none)");
    cJSON_free(t);
    cJSON_Delete(j);
    jd_http_free(&h);
    JD_EXPECT(
        strcmp(metric_text("journeyd_identity_leads_with_touch_ratio", v, sizeof v), "0.5000") == 0,
        "journeyd_identity_leads_with_touch_ratio after the SLA report: '%s'", v);
    JD_EXPECT(strcmp(metric_text("journeyd_identity_payments_with_touch_ratio", v, sizeof v),
                     "0.5000") == 0,
              "journeyd_identity_payments_with_touch_ratio after the SLA report: '%s'", v);

    JD_REQUIRE(jd_get_auth(&daemon_, "/v1/reports/attribution", &h) == 0 && h.status == 200,
               "GET /v1/reports/attribution: %ld", h.status);
    j = jd_http_json(&h);
    t = jd_json_print(jd_json_path(j, "identity"));
    JD_EXPECT(t && strcmp(t, "{\"payments\":2,\"payments_with_touch\":1,"
                             "\"payments_share\":0.5}") == 0,
              "attribution identity: %s", t ? t : "(none)");
    cJSON_free(t);
    cJSON_Delete(j);
    jd_http_free(&h);
}

int main(void)
{
    jd_setup("site_collect", 300, 1);
    start();
    test_script();
    test_refusals();
    test_page_view();
    test_tracking_template();
    test_identity_health();
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis_, SIGKILL);
    return jd_finish();
}
