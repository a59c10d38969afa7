/*
 * Open doors cannot merge verified people (issue 11 item 1, DESIGN §2b). Two people who
 * each came in through a signed form (an email and a gclid each) must stay two contacts
 * when unauthenticated requests link them: two GET /c with one jd_aid cookie and each
 * gclid, or two auth = origin forms with one jd_aid and each email. The link is recorded
 * as an open_door conflict on both, erasing one leaves the other, and an origin form's
 * submitted_at cannot backdate a contact's first_seen. The click attack runs in both
 * arrival orders (signed forms first, then the clicks; clicks first, then the signed
 * forms, which are earlier in journey order): the contacts must be the same either way.
 * The core join still works: clicks with cookie A, then a browser form with jd_aid=A and
 * a new email give one contact; a click may join one verified contact.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_ORIGIN "https://example.com"

static struct jd_redis redis_;
static struct jd_daemon daemon_;

/* The standard configuration plus a browser-posted form source. */
static void start(void)
{
    jd_redis_start(&redis_, NULL, 0);
    jd_daemon_config(&daemon_, redis_.port, NULL);
    jd_daemon_config_append(
        &daemon_, "\n[source web]\ntype = form\nauth = origin\nallow_origins = example.com\n"
                  "thank_you_url = https://example.com/thanks\n");
    jd_daemon_start(&daemon_, 1);
}

static void stop(void)
{
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis_, SIGKILL);
}

static void signed_form(const char *email, const char *gclid, const char *sid, int64_t at)
{
    char body[512], ts[32];
    jd_rfc3339(at, ts, sizeof ts);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"gclid\":\"%s\",\"submission_id\":\"%s\","
             "\"submitted_at\":\"%s\"}",
             email, gclid, sid, ts);
    struct jd_http h;
    jd_post_form(&daemon_, body, "application/json", &h);
    JD_REQUIRE(h.status == 200, "signed form %s: want 200, got %ld", sid, h.status);
    jd_http_free(&h);
}

/* GET /c with the browser's cookie and, when given, a gclid in the query. */
static void click(const char *aid, const char *gclid)
{
    char url[512], cookie[128];
    snprintf(url, sizeof url, "%s/c?to=https%%3A%%2F%%2Fexample.com%%2F%s%s", daemon_.base,
             gclid ? "&gclid=" : "", gclid ? gclid : "");
    snprintf(cookie, sizeof cookie, "Cookie: jd_aid=%s", aid);
    const char *hdrs[] = {cookie, NULL};
    struct jd_http h;
    jd_http(&h, "GET", url, hdrs, NULL, 0);
    JD_REQUIRE(h.status == 302, "GET %s: want 302, got %ld", url, h.status);
    jd_http_free(&h);
}

/* A browser-posted form with a spoofed Origin: anyone can send it. */
static void origin_form(const char *body)
{
    const char *hdrs[] = {"Origin: " WEB_ORIGIN, "Content-Type: application/x-www-form-urlencoded",
                          NULL};
    struct jd_http h;
    jd_post_hook(&daemon_, "web", hdrs, body, &h);
    JD_REQUIRE(h.status == 303, "origin form %s: want 303, got %ld", body, h.status);
    jd_http_free(&h);
}

/* The contact id an identity resolves to, copied into out ("" when unknown). */
static const char *contact_of(const char *key, const char *value, char *out, size_t cap)
{
    long st;
    cJSON *j = jd_journey(&daemon_, key, value, &st);
    const char *id = jd_json_str(cJSON_GetObjectItemCaseSensitive(j, "contact"), "id");
    snprintf(out, cap, "%s", id ? id : "");
    cJSON_Delete(j);
    return out;
}

/* 1 when the contact shows an open_door conflict whose values are exactly a and b. */
static int has_open_door_conflict(const cJSON *j, const char *a, const char *b)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jd_json_path(j, "contact.conflicts"))
    {
        const char *type = jd_json_str(c, "type");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "values");
        const char *v0 = cJSON_GetStringValue(cJSON_GetArrayItem(v, 0));
        const char *v1 = cJSON_GetStringValue(cJSON_GetArrayItem(v, 1));
        if (type && strcmp(type, "open_door") == 0 && v0 && v1 &&
            ((strcmp(v0, a) == 0 && strcmp(v1, b) == 0) ||
             (strcmp(v0, b) == 0 && strcmp(v1, a) == 0)))
            return 1;
    }
    return 0;
}

/* Two verified people, P and Q, must stay apart; `link_a`/`link_b` are the identities the
 * open door used, as the conflict names them. Returns P's journey summary: its
 * identities (sorted) and its number of events, for comparing arrival orders. */
static char *expect_apart(const char *label, const char *p, const char *q, const char *link_a,
                          const char *link_b)
{
    long s1, s2;
    cJSON *a = jd_journey(&daemon_, "email", p, &s1);
    cJSON *b = jd_journey(&daemon_, "email", q, &s2);
    JD_REQUIRE(a && b, "%s: journeys of %s (%ld) and %s (%ld)", label, p, s1, q, s2);
    const char *ia = jd_json_str(cJSON_GetObjectItemCaseSensitive(a, "contact"), "id");
    const char *ib = jd_json_str(cJSON_GetObjectItemCaseSensitive(b, "contact"), "id");
    JD_EXPECT(ia && ib && strcmp(ia, ib) != 0,
              "%s: %s and %s are one contact (%s): an open door merged two verified people", label,
              p, q, ia ? ia : "?");
    JD_EXPECT(!jd_has_identity(jd_json_path(a, "contact.identities"), "email", q),
              "%s: %s's contact holds %s", label, p, q);
    JD_EXPECT(!jd_has_identity(jd_json_path(b, "contact.identities"), "email", p),
              "%s: %s's contact holds %s", label, q, p);
    JD_EXPECT(has_open_door_conflict(a, link_a, link_b),
              "%s: %s's contact lacks the open_door conflict [%s, %s]: %s", label, p, link_a,
              link_b, jd_json_brief(jd_json_path(a, "contact.conflicts")));
    JD_EXPECT(has_open_door_conflict(b, link_a, link_b),
              "%s: %s's contact lacks the open_door conflict [%s, %s]: %s", label, q, link_a,
              link_b, jd_json_brief(jd_json_path(b, "contact.conflicts")));
    struct jd_buf out = {0};
    const cJSON *it;
    char *names[16];
    int n = 0;
    cJSON_ArrayForEach(it, jd_json_path(a, "contact.identities"))
    {
        if (n < 16) {
            struct jd_buf one = {0};
            jd_buf_printf(&one, "%s:%s", jd_json_str(it, "type"), jd_json_str(it, "value"));
            names[n++] = one.p;
        }
    }
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        jd_buf_printf(&out, "%s ", names[i]);
        free(names[i]);
    }
    jd_buf_printf(&out, "| %d events | %s has %d events",
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a, "events")), q,
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "events")));
    cJSON_Delete(a);
    cJSON_Delete(b);
    return out.p;
}

#define AID_X "a_00000000000000000000000000000001"
#define AID_Y "a_00000000000000000000000000000002"
#define AID_Z "a_00000000000000000000000000000003"
#define AID_W "a_00000000000000000000000000000004"

/* The click attack; clicks_first sends the forged links before the signed forms (which
 * are still earlier in journey order: their submitted_at is signed). */
static char *click_attack(int clicks_first)
{
    const char *label = clicks_first ? "clicks first" : "forms first";
    int64_t t0 = jd_now_s() - 7200;
    start();
    if (clicks_first) {
        click(AID_X, "GA_alice");
        click(AID_X, "GB_bob");
        jd_wait_drained(&daemon_, 60);
    }
    signed_form("alice@example.com", "GA_alice", "od_alice", t0);
    jd_wait_drained(&daemon_, 60);
    signed_form("bob@example.com", "GB_bob", "od_bob", t0 + 600);
    jd_wait_drained(&daemon_, 60);
    if (!clicks_first) {
        click(AID_X, "GA_alice");
        click(AID_X, "GB_bob");
        jd_wait_drained(&daemon_, 60);
    }
    char *summary =
        expect_apart(label, "alice@example.com", "bob@example.com", "anon:" AID_X, "gclid:GB_bob");
    jd_note("%s: alice: %s", label, summary);
    if (clicks_first) {
        stop();
        return summary;
    }

    /* Erasing one of them leaves the other whole. */
    char ca[64], path[256];
    contact_of("email", "alice@example.com", ca, sizeof ca);
    snprintf(path, sizeof path, "%s/v1/contacts/%s", daemon_.base, ca);
    const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    struct jd_http h;
    jd_http(&h, "DELETE", path, auth, NULL, 0);
    JD_EXPECT(h.status == 200, "DELETE alice's contact: want 200, got %ld", h.status);
    jd_http_free(&h);
    long st;
    cJSON *b = jd_journey(&daemon_, "email", "bob@example.com", &st);
    JD_EXPECT(st == 200 && b, "erasing alice erased bob too (journey of bob: %ld)", st);
    cJSON_Delete(b);
    return summary;
}

/* Origin forms: the same merge by email, and a backdated submitted_at. */
static void origin_attack(void)
{
    int64_t t0 = jd_now_s() - 7200, start_s = jd_now_s();
    signed_form("carol@example.com", "GC_carol", "od_carol", t0);
    signed_form("dave@example.com", "GD_dave", "od_dave", t0 + 600);
    jd_wait_drained(&daemon_, 60);
    origin_form("email=carol%40example.com&jd_aid=" AID_Y
                "&submitted_at=2020-01-01T00%3A00%3A00Z&submission_id=od_o1");
    origin_form("email=dave%40example.com&jd_aid=" AID_Y "&submission_id=od_o2");
    /* A new person through the open door alone, backdated. */
    origin_form("email=zed%40example.com&submitted_at=2020-01-01T00%3A00%3A00Z"
                "&submission_id=od_o3");
    jd_wait_drained(&daemon_, 60);
    char *s = expect_apart("origin forms", "carol@example.com", "dave@example.com", "anon:" AID_Y,
                           "email:dave@example.com");
    free(s);
    const char *who[] = {"carol@example.com", "zed@example.com"};
    int64_t floor_s[] = {t0, start_s - 5};
    for (int i = 0; i < 2; i++) {
        long st;
        cJSON *j = jd_journey(&daemon_, "email", who[i], &st);
        const char *fs = jd_json_str(cJSON_GetObjectItemCaseSensitive(j, "contact"), "first_seen");
        int64_t t = 0;
        JD_EXPECT(fs && jd_parse_rfc3339(fs, &t) == 0 && t >= floor_s[i],
                  "%s: first_seen %s: an origin form's submitted_at backdated it", who[i],
                  fs ? fs : "(none)");
        cJSON_Delete(j);
    }
}

/* What open doors are for: anonymous clicks joined to the person a browser form names,
 * and to one verified contact. */
static void core_join(void)
{
    click(AID_Z, NULL);
    click(AID_Z, NULL);
    jd_wait_drained(&daemon_, 60);
    origin_form("email=eve%40example.com&jd_aid=" AID_Z "&submission_id=od_eve");
    signed_form("frank@example.com", "GF_frank", "od_frank", jd_now_s() - 3600);
    jd_wait_drained(&daemon_, 60);
    click(AID_W, "GF_frank");
    jd_wait_drained(&daemon_, 60);
    char c1[64], c2[64];
    contact_of("email", "eve@example.com", c1, sizeof c1);
    contact_of("anon", AID_Z, c2, sizeof c2);
    JD_EXPECT(c1[0] && strcmp(c1, c2) == 0,
              "core join: eve@example.com is %s, its browser's clicks (jd_aid %s) are %s", c1,
              AID_Z, c2);
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "eve@example.com", &st);
    JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 3,
              "core join: eve's journey should hold 2 clicks and the form: %s",
              jd_json_brief(cJSON_GetObjectItemCaseSensitive(j, "events")));
    cJSON_Delete(j);
    contact_of("email", "frank@example.com", c1, sizeof c1);
    contact_of("anon", AID_W, c2, sizeof c2);
    JD_EXPECT(c1[0] && strcmp(c1, c2) == 0,
              "a click with frank's gclid should join its browser to frank (%s), got %s", c1, c2);
}

int main(void)
{
    jd_setup("open_doors", 300, 1);
    char *a = click_attack(0);
    origin_attack();
    core_join();
    stop();
    char *b = click_attack(1);
    JD_EXPECT(strcmp(a, b) == 0,
              "the click attack gives different contacts by arrival order:\n  forms first:  %s\n"
              "  clicks first: %s",
              a, b);
    free(a);
    free(b);
    return jd_finish();
}
