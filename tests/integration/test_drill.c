/*
 * The drill-downs (DESIGN §7): every number of a report expands into exactly the
 * conversions or contacts it counts. A simulated month (bench/synth.c, the simulator's
 * own month: clicks, website forms, the events API, Stripe) is sent in a shuffled order;
 * then, for every row of the attribution report (three models, two keys), every cell of
 * the funnel (cohort and activity, by week) and every figure of the SLA scorecard, the
 * drill-down is read page by page (a small `limit`, so the cursor is exercised) and
 * checked against the report's number: the count of items, the sum of credits per
 * currency against the row's revenue, the payments against its conversions and their
 * credited touches against its touches, the waiting leads against the scorecard's list.
 * Each contact carries its journey link, and a lead that gave its name on a form shows
 * it (until it is erased).
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_send.h"

#define CONTACTS 60
#define PAGE 7
#define MAX_CUR 8
#define MAX_PAGES 10000

static struct jd_daemon d;
static char from_s[32], to_s[32];

/* GET with the token; the parsed answer (fatal when it is not 200 JSON). */
static cJSON *get_json(const char *path)
{
    struct jd_http h = {0};
    JD_REQUIRE(jd_get_auth(&d, path, &h) == 0, "GET %s: no answer", path);
    JD_REQUIRE(h.status == 200, "GET %s: status %ld: %.300s", path, h.status, h.body ? h.body : "");
    cJSON *j = jd_http_json(&h);
    JD_REQUIRE(j, "GET %s: not JSON", path);
    jd_http_free(&h);
    return j;
}

static int64_t num(const cJSON *o, const char *key)
{
    int ok = 0;
    int64_t v = jd_json_int(cJSON_GetObjectItemCaseSensitive(o, key), &ok);
    JD_REQUIRE(ok, "%s is not an integer in %s", key, jd_json_brief(o));
    return v;
}

/* Every contact of a drill-down item: an id, its journey link, email/name strings or null. */
static void check_person(const cJSON *c)
{
    const char *id = jd_json_str(c, "id"), *link = jd_json_str(c, "journey");
    char want[128];
    JD_REQUIRE(id && link, "a drill-down contact without id or journey: %s", jd_json_brief(c));
    snprintf(want, sizeof want, "/v1/journey?contact=%s", id);
    JD_EXPECT(strcmp(link, want) == 0, "journey link %s, expected %s", link, want);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "email");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
    JD_EXPECT(cJSON_IsString(e) || cJSON_IsNull(e), "email neither text nor null");
    JD_EXPECT(cJSON_IsString(n) || cJSON_IsNull(n), "name neither text nor null");
}

/* Reads every page of a drill-down (base path + "&limit=PAGE[&cursor=…]") and hands each
 * item to fn; checks that `total` is the same on every page and equals the items read.
 * Returns the count. */
static int64_t read_all(const char *base, const char *array,
                        void (*fn)(const cJSON *item, void *ctx), void *ctx)
{
    char path[2048], cursor[1024] = "";
    int64_t seen = 0, total = -1;
    for (int page = 0; page < MAX_PAGES; page++) {
        snprintf(path, sizeof path, "%s&limit=%d%s%s", base, PAGE, cursor[0] ? "&cursor=" : "",
                 cursor);
        cJSON *j = get_json(path);
        int64_t t = num(j, "total");
        JD_EXPECT(total < 0 || t == total, "%s: total changed from %" PRId64 " to %" PRId64, base,
                  total, t);
        total = t;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, array), *it;
        JD_REQUIRE(cJSON_IsArray(arr), "%s: no %s array", base, array);
        JD_EXPECT(cJSON_GetArraySize(arr) <= PAGE, "%s: a page longer than limit", base);
        cJSON_ArrayForEach(it, arr)
        {
            fn(it, ctx);
            seen++;
        }
        const char *next = jd_json_str(j, "next_cursor");
        if (!next) {
            cJSON_Delete(j);
            break;
        }
        JD_REQUIRE(strlen(next) < sizeof cursor, "cursor too long");
        snprintf(cursor, sizeof cursor, "%s", next);
        cJSON_Delete(j);
    }
    JD_EXPECT(seen == total, "%s: %" PRId64 " items over the pages, total says %" PRId64, base,
              seen, total);
    return seen;
}

/* ---- attribution ---- */

struct attr_sum {
    char cur[MAX_CUR][4];
    int64_t credit[MAX_CUR];
    int ncur;
    int64_t payments, touches;
};

static void add_conversion(const cJSON *it, void *ctx)
{
    struct attr_sum *s = ctx;
    const cJSON *credit = cJSON_GetObjectItemCaseSensitive(it, "credit");
    const char *cur = jd_json_str(credit, "currency"), *kind = jd_json_str(it, "kind");
    JD_REQUIRE(cur && strlen(cur) == 3 && kind, "a conversion without currency or kind: %s",
               jd_json_brief(it));
    int k = 0;
    while (k < s->ncur && strcmp(s->cur[k], cur) != 0)
        k++;
    JD_REQUIRE(k < MAX_CUR, "too many currencies");
    if (k == s->ncur)
        snprintf(s->cur[s->ncur++], 4, "%s", cur);
    s->credit[k] += num(credit, "minor");
    if (strcmp(kind, "payment") == 0) {
        s->payments++;
        s->touches += num(it, "touches");
    }
    JD_EXPECT(jd_json_str(it, "event") != NULL, "a conversion without its event id");
    check_person(cJSON_GetObjectItemCaseSensitive(it, "contact"));
}

static int check_attribution(const char *model, const char *by)
{
    char path[512], key[512], base[1024];
    int rows = 0;
    snprintf(path, sizeof path, "/v1/reports/attribution?model=%s&by=%s&from=%s&to=%s", model, by,
             from_s, to_s);
    cJSON *rep = get_json(path);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(rep, "rows"))
    {
        struct attr_sum s;
        memset(&s, 0, sizeof s);
        jd_urlencode(jd_json_str(row, "key"), key, sizeof key);
        snprintf(base, sizeof base,
                 "/v1/reports/attribution/conversions?model=%s&by=%s&key=%s&from=%s&to=%s", model,
                 by, key, from_s, to_s);
        read_all(base, "conversions", add_conversion, &s);
        JD_EXPECT(s.payments == num(row, "conversions"),
                  "%s by %s, row %s: %" PRId64 " payments listed, the report counts %" PRId64,
                  model, by, jd_json_str(row, "key"), s.payments, num(row, "conversions"));
        JD_EXPECT(s.touches == num(row, "touches"),
                  "%s by %s, row %s: %" PRId64 " touches listed, the report counts %" PRId64, model,
                  by, jd_json_str(row, "key"), s.touches, num(row, "touches"));
        const cJSON *rev = cJSON_GetObjectItemCaseSensitive(row, "revenue"), *c;
        int nrev = 0;
        cJSON_ArrayForEach(c, rev)
        {
            int64_t got = 0;
            for (int k = 0; k < s.ncur; k++)
                if (strcmp(s.cur[k], c->string) == 0)
                    got = s.credit[k];
            int ok;
            int64_t want = jd_json_int(c, &ok);
            JD_EXPECT(got == want,
                      "%s by %s, row %s: credits sum to %" PRId64 " %s, revenue %" PRId64, model,
                      by, jd_json_str(row, "key"), got, c->string, want);
            nrev++;
        }
        JD_EXPECT(nrev == s.ncur, "%s by %s, row %s: %d currencies listed, %d in revenue", model,
                  by, jd_json_str(row, "key"), s.ncur, nrev);
        rows++;
    }
    cJSON_Delete(rep);
    return rows;
}

/* ---- funnel ---- */

static void count_contact(const cJSON *it, void *ctx)
{
    (void)ctx;
    check_person(it);
    JD_EXPECT(jd_json_str(it, "entered_at") && jd_json_str(it, "lead_at"),
              "a funnel contact without its times: %s", jd_json_brief(it));
}

static const char *const stages[] = {"lead", "qualified", "opportunity", "won", "paid"};

static int64_t check_funnel(const char *view)
{
    char path[512], base[1024];
    int64_t cells = 0, contacts = 0;
    snprintf(path, sizeof path, "/v1/reports/funnel?view=%s&by=week&from=%s&to=%s", view, from_s,
             to_s);
    cJSON *rep = get_json(path);
    const cJSON *per;
    cJSON_ArrayForEach(per, cJSON_GetObjectItemCaseSensitive(rep, "periods"))
    {
        const char *label = jd_json_str(per, "period");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(per, "stages");
        for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++) {
            int64_t want = num(cJSON_GetObjectItemCaseSensitive(st, stages[s]), "contacts");
            snprintf(base, sizeof base,
                     "/v1/reports/funnel/contacts?view=%s&by=week&period=%s&stage=%s&from=%s&to=%s",
                     view, label, stages[s], from_s, to_s);
            int64_t got = read_all(base, "contacts", count_contact, NULL);
            JD_EXPECT(got == want,
                      "%s %s %s: %" PRId64 " contacts listed, the report counts %" PRId64, view,
                      label, stages[s], got, want);
            cells++;
            contacts += got;
        }
    }
    cJSON_Delete(rep);
    jd_note("funnel %s: %" PRId64 " cells, %" PRId64 " contacts listed", view, cells, contacts);
    return contacts;
}

/* ---- SLA ---- */

struct sla_seen {
    const cJSON *waiting; /* the scorecard's list, to compare in order */
    int i;
    int64_t asked_s; /* when the scorecard was asked */
};

static void check_lead(const cJSON *it, void *ctx)
{
    struct sla_seen *w = ctx;
    check_person(it);
    if (!w)
        return;
    const cJSON *want = cJSON_GetArrayItem(w->waiting, w->i++);
    /* Waiting is counted up to the moment of each request: the drill-down, asked after the
     * scorecard, may see a lead wait the seconds in between longer, never less. */
    JD_REQUIRE(want, "the drill-down lists more waiting leads than the scorecard");
    int64_t later = num(it, "waited_seconds") - num(want, "waited_seconds");
    JD_EXPECT(strcmp(jd_json_str(want, "contact"), jd_json_str(it, "id")) == 0 && later >= 0 &&
                  later <= jd_now_s() - w->asked_s + 1,
              "waiting lead %d: %s waited %" PRId64 " s, the scorecard lists %s, %" PRId64 " s",
              w->i - 1, jd_json_str(it, "id"), num(it, "waited_seconds"),
              jd_json_str(want, "contact"), num(want, "waited_seconds"));
}

static void check_sla(void)
{
    char path[512], base[512];
    snprintf(path, sizeof path, "/v1/reports/sla?from=%s&to=%s", from_s, to_s);
    int64_t asked = jd_now_s();
    cJSON *rep = get_json(path);
    const cJSON *sales = cJSON_GetObjectItemCaseSensitive(rep, "sales");
    struct sla_seen w = {cJSON_GetObjectItemCaseSensitive(sales, "waiting"), 0, asked};
    const struct {
        const char *status;
        int64_t want;
    } fig[] = {
        {"answered", num(sales, "answered")},
        {"within", num(sales, "within_sla")},
        {"breached", num(sales, "answered") - num(sales, "within_sla")},
        {"waiting", cJSON_GetArraySize(w.waiting)},
        {"self_served", num(sales, "self_served")},
        {"open", num(sales, "leads") - num(sales, "answered") - cJSON_GetArraySize(w.waiting)},
        {"leads", num(cJSON_GetObjectItemCaseSensitive(rep, "marketing"), "leads")},
    };
    for (size_t i = 0; i < sizeof fig / sizeof fig[0]; i++) {
        snprintf(base, sizeof base, "/v1/reports/sla/contacts?from=%s&to=%s&status=%s", from_s,
                 to_s, fig[i].status);
        int64_t got = read_all(base, "contacts", check_lead,
                               strcmp(fig[i].status, "waiting") == 0 ? &w : NULL);
        JD_EXPECT(got == fig[i].want,
                  "SLA %s: %" PRId64 " leads listed, the scorecard says %" PRId64, fig[i].status,
                  got, fig[i].want);
        jd_note("SLA %s: %" PRId64 " leads", fig[i].status, got);
    }
    JD_EXPECT(num(sales, "answered") > 0, "the month has no answered lead to drill into");
    cJSON_Delete(rep);
}

int main(void)
{
    jd_setup("test_drill", 300, 1);
    struct jd_redis r;
    jd_redis_start(&r, NULL, 0);
    jd_daemon_config(&d, r.port, NULL);
    jd_daemon_start(&d, 1);

    /* Before anything is sent, the drill-downs exist and answer an empty page. */
    int64_t now = jd_now_s();
    jd_rfc3339(now - 40 * 86400, from_s, sizeof from_s);
    jd_rfc3339(now + 3600, to_s, sizeof to_s);
    char path[512];
    snprintf(path, sizeof path, "/v1/reports/sla/contacts?from=%s&to=%s&status=waiting", from_s,
             to_s);
    cJSON *empty = get_json(path);
    JD_EXPECT(num(empty, "total") == 0, "an empty store has waiting leads");
    cJSON_Delete(empty);
    struct jd_http h = {0};
    JD_EXPECT(jd_get_auth(&d, "/v1/reports/attribution/conversions?by=channel", &h) == 0 &&
                  h.status == 400 && jd_http_is_error(&h, "bad_request"),
              "a drill-down without its key: status %ld", h.status);
    jd_http_free(&h);
    JD_EXPECT(jd_get_auth(&d, "/v1/reports/sla/contacts?status=waiting&cursor=zz", &h) == 0 &&
                  h.status == 400,
              "a cursor this API never gave: status %ld", h.status);
    jd_http_free(&h);

    struct sy_month m = {0};
    struct sy_opts o = {
        .seed = 1307,
        .contacts = CONTACTS,
        .types = SY_CORE,
        .month_start_ms = (now - 31 * 86400) * 1000,
        .dup_rate = 0.05,
    };
    JD_REQUIRE(sy_month_build(&o, &m) == 0, "the simulator refused its options");
    sy_month_shuffle(&m, 1307);
    for (size_t i = 0; i < m.n; i++)
        jd_sim_send(&d, &m.v[i]);
    jd_note("sent %zu deliveries (%" PRId64 " events) for %d contacts", m.n, m.events, CONTACTS);
    sy_month_free(&m);

    /* One lead that gives its name on the website form. */
    char body[512], ts[32];
    jd_rfc3339(now - 2 * 86400, ts, sizeof ts);
    snprintf(body, sizeof body,
             "{\"email\":\"anna.verdi@example.it\",\"first_name\":\"Anna\",\"last_name\":\"Verdi\","
             "\"utm_source\":\"newsletter\",\"utm_medium\":\"email\",\"submission_id\":\"drill-1\","
             "\"submitted_at\":\"%s\"}",
             ts);
    JD_EXPECT(jd_post_form(&d, body, "application/json", &h) == 0 && h.status == 200,
              "the named form: status %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(&d, 120);

    int rows = 0;
    const char *models[] = {"linear", "first_touch", "position"};
    const char *keys[] = {"channel", "campaign"};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 2; k++)
            rows += check_attribution(models[i], keys[k]);
    jd_note("attribution: %d rows drilled into", rows);
    JD_EXPECT(rows >= 6, "the month gave too few attribution rows (%d)", rows);
    JD_EXPECT(check_funnel("cohort") > 0, "the cohort funnel listed nobody");
    JD_EXPECT(check_funnel("activity") > 0, "the activity funnel listed nobody");
    check_sla();

    /* The named lead: found by its day's funnel cell, with its name and email. */
    char day[16], base[512];
    snprintf(day, sizeof day, "%.10s", ts);
    snprintf(base, sizeof base,
             "/v1/reports/funnel/contacts?view=activity&by=day&period=%s&stage=lead&limit=500",
             day);
    cJSON *cell = get_json(base);
    const cJSON *it;
    int found = 0;
    char anna[64] = "";
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cell, "contacts"))
    {
        const char *e = jd_json_str(it, "email"), *n = jd_json_str(it, "name");
        if (e && strcmp(e, "anna.verdi@example.it") == 0) {
            found = 1;
            snprintf(anna, sizeof anna, "%s", jd_json_str(it, "id"));
            JD_EXPECT(n && strcmp(n, "Anna Verdi") == 0, "the named lead shows name %s",
                      n ? n : "(null)");
        }
    }
    JD_EXPECT(found, "the named lead is not in its day's lead cell: %s", jd_json_brief(cell));
    cJSON_Delete(cell);

    /* Erasure takes the name with the identities. */
    redisContext *rc = jd_redis_connect(&r);
    redisReply *rr = redisCommand(rc, "HEXISTS jd:pn %s", "email\tanna.verdi@example.it");
    JD_EXPECT(rr && rr->type == REDIS_REPLY_INTEGER && rr->integer == 1,
              "the name is not kept by the lead's email");
    freeReplyObject(rr);
    snprintf(base, sizeof base, "%s/v1/contacts/%s", d.base, anna);
    const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    JD_EXPECT(anna[0] && jd_http(&h, "DELETE", base, auth, NULL, 0) == 0 && h.status == 200,
              "erasing the named lead: status %ld", h.status);
    jd_http_free(&h);
    rr = redisCommand(rc, "HEXISTS jd:pn %s", "email\tanna.verdi@example.it");
    JD_EXPECT(rr && rr->type == REDIS_REPLY_INTEGER && rr->integer == 0,
              "the erased lead's name is still kept");
    freeReplyObject(rr);
    redisFree(rc);

    jd_daemon_stop(&d);
    jd_redis_shutdown(&r);
    return jd_finish();
}
