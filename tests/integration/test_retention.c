/*
 * Retention (issue 12 item 8): `retention = 400d` removes events older than 400 days from
 * journeys and report indexes in the background, and the reports then equal reports
 * computed from scratch on the kept events only.
 *
 * Daemon A gets three years of custom events (POST /v1/events with explicit times) for
 * contacts whose journeys are all old, all recent, or span the cut (their first event,
 * stage entries, touches in a kept conversion's lookback window, a payment key first paid
 * before the cut all go); daemon B, on its own redis-server, gets only the events of the
 * last 400 days. The reports differ, A restarts with the retention set, is SIGKILLed in
 * the middle of its first pass and started again, the pass ends (bounded wait, read from
 * jd:ret in Redis) having counted every old event (so it resumed, not restarted), and
 * then every report (attribution in
 * all five models by channel and campaign, the funnel's cohort and activity views, the
 * SLA over the three years and over the last months) and every contact (its id, stage,
 * first and last seen, revenue; 404 for one whose every event went) must be the same JSON
 * on both. A redelivery of a removed event is refused at apply and changes nothing.
 *
 * No event lies within 5 days of the cut, so the cutoff's drift during the run does not
 * matter. The slowest retention slice is read from SLOWLOG and printed (a figure, not a
 * threshold); JD_RETENTION_CONTACTS scales the load for a measurement run by hand.
 */
#include "harness.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY INT64_C(86400)
#define KEEP_DAYS 400
#define MAX_EV 10
#define BIG_EV 900

struct tev {
    char id[48];
    int64_t at;
    char json[1024];
};

static struct tev *events;
static size_t nevents;
static int ncontacts = 80;
static int64_t now_s;

static const char *const campaigns[] = {"spring", "summer", "brand", "retarget"};
static const char *const sources[][2] = {
    {"google", "cpc"}, {"facebook", "cpc"}, {"newsletter", "email"}, {"bing", "cpc"}};

static int kept(const struct tev *e)
{
    return e->at > now_s - KEEP_DAYS * DAY;
}

/* A time in the contact's span, never within 5 days of the cut. */
static int64_t pick_time(int kind_of_contact)
{
    int64_t cut = now_s - KEEP_DAYS * DAY;
    for (;;) {
        int64_t lo = now_s - 3 * 365 * DAY, hi = now_s - 2 * DAY;
        if (kind_of_contact == 0)
            hi = cut;
        else if (kind_of_contact == 1)
            lo = cut;
        int64_t t = lo + (int64_t)jd_rand_below((uint64_t)(hi - lo));
        if (t < cut - 5 * DAY || t > cut + 5 * DAY)
            return t;
    }
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One contact's journey: kinds drawn in journey order so the funnel has every stage. */
static void make_contact(int c)
{
    int type = (int)jd_rand_below(4); /* 0 all old, 1 all kept, 2-3 across the cut */
    int n = 3 + (int)jd_rand_below(MAX_EV - 2);
    int64_t t[MAX_EV];
    for (int k = 0; k < n; k++)
        t[k] = pick_time(type < 2 ? type : 2);
    if (type >= 2) {
        /* Across the cut for sure: one before, one after. */
        t[0] = now_s - (KEEP_DAYS + 30 + (int64_t)jd_rand_below(300)) * DAY;
        t[1] = now_s - (KEEP_DAYS - 30 - (int64_t)jd_rand_below(300)) * DAY;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_i64);
    char last_key[32] = "";
    for (int k = 0; k < n; k++) {
        struct tev *e = &events[nevents++];
        char at[32], extra[256] = "";
        snprintf(e->id, sizeof e->id, "rt-%d-%d", c, k);
        e->at = t[k] + (int64_t)jd_rand_below(60);
        jd_rfc3339(e->at, at, sizeof at);
        unsigned r = (unsigned)jd_rand_below(100);
        const char *kind;
        if (k == 0 || r < 25) {
            kind = jd_rand_below(2) ? "click" : "form";
        } else if (r < 40) {
            kind = "stage_change";
            snprintf(extra, sizeof extra, ",\"stage\":\"qualified\"");
        } else if (r < 50) {
            kind = "meeting";
        } else if (r < 56) {
            kind = "sales_touch";
        } else if (r < 62) {
            kind = "deal_won";
        } else if (r < 90) {
            kind = "payment";
            char key[32];
            /* Now and then the same payment again (DESIGN §3: it counts once, the first
             * in journey order; when that one goes, the repeat counts). */
            if (last_key[0] && jd_rand_below(3) == 0)
                snprintf(key, sizeof key, "%s", last_key);
            else
                snprintf(key, sizeof key, "pk-%d-%d", c, k);
            snprintf(last_key, sizeof last_key, "%s", key);
            snprintf(extra, sizeof extra,
                     ",\"amount\":{\"minor\":%d,\"currency\":\"%s\"},\"payment_key\":\"%s\"",
                     1000 + (int)jd_rand_below(50000), jd_rand_below(5) ? "EUR" : "USD", key);
        } else {
            kind = last_key[0] ? "refund" : "sales_touch";
            if (last_key[0])
                snprintf(extra, sizeof extra,
                         ",\"amount\":{\"minor\":%d,\"currency\":\"EUR\"},\"payment_key\":\"%s\"",
                         100 + (int)jd_rand_below(900), last_key);
        }
        char touch[256] = "";
        int with_touch = strcmp(kind, "click") == 0 || strcmp(kind, "form") == 0 ||
                         (strcmp(kind, "payment") == 0 && jd_rand_below(4) == 0);
        if (with_touch) {
            const char *const *s = sources[jd_rand_below(4)];
            snprintf(touch, sizeof touch,
                     ",\"touch\":{\"source\":\"%s\",\"medium\":\"%s\",\"campaign\":\"%s\"}", s[0],
                     s[1], campaigns[jd_rand_below(4)]);
        }
        snprintf(e->json, sizeof e->json,
                 "{\"id\":\"%s\",\"kind\":\"%s\",\"at\":\"%s\",\"identities\":[{\"type\":"
                 "\"email\",\"value\":\"r%d@example.com\"}]%s%s}",
                 e->id, kind, at, c, touch, extra);
    }
}

/* One big contact across the cut, bigger than a slice on both sides: its removal and the
 * walk that finds its stage entries again (lead, qualified, paid come only at the end of
 * its kept journey) each take several slices. */
static void make_big_contact(int c)
{
    int64_t cut = now_s - KEEP_DAYS * DAY;
    for (int k = 0; k < BIG_EV; k++) {
        struct tev *e = &events[nevents++];
        char at[32];
        int old = k < BIG_EV / 2, tail = k >= BIG_EV - 3;
        snprintf(e->id, sizeof e->id, "rt-%d-%d", c, k);
        e->at = old ? cut - 300 * DAY + k * 3600 : cut + 30 * DAY + (k - BIG_EV / 2) * 3600;
        jd_rfc3339(e->at, at, sizeof at);
        const char *kind = tail                 ? (k == BIG_EV - 1   ? "payment"
                                                   : k == BIG_EV - 2 ? "stage_change"
                                                                     : "form")
                           : old && k % 50 == 7 ? "payment"
                           : old && k % 50 == 9 ? "stage_change"
                           : old && k % 50 == 3 ? "form"
                                                : "click";
        const char *extra = strcmp(kind, "payment") == 0
                                ? ",\"amount\":{\"minor\":7000,\"currency\":\"EUR\"}"
                            : strcmp(kind, "stage_change") == 0 ? ",\"stage\":\"qualified\""
                                                                : "";
        snprintf(e->json, sizeof e->json,
                 "{\"id\":\"%s\",\"kind\":\"%s\",\"at\":\"%s\",\"identities\":[{\"type\":"
                 "\"email\",\"value\":\"r%d@example.com\"}],\"touch\":{\"source\":\"google\","
                 "\"medium\":\"cpc\",\"campaign\":\"%s\"}%s}",
                 e->id, kind, at, c, campaigns[k % 4], extra);
    }
}

/* POST /v1/events in batches of 100: all events, or only the kept ones. */
static void send_events(const struct jd_daemon *d, int only_kept)
{
    struct jd_buf b = {0};
    size_t in_batch = 0;
    for (size_t i = 0; i <= nevents; i++) {
        if (i < nevents && (!only_kept || kept(&events[i]))) {
            jd_buf_printf(&b, "%s%s", in_batch ? "," : "{\"events\":[", events[i].json);
            in_batch++;
        }
        if (in_batch && (in_batch == 100 || i == nevents)) {
            jd_buf_printf(&b, "]}");
            struct jd_http h;
            jd_post_events(d, b.p, &h);
            JD_REQUIRE(h.status == 200, "POST /v1/events: want 200, got %ld", h.status);
            jd_http_free(&h);
            b.len = 0;
            in_batch = 0;
        }
    }
    jd_buf_free(&b);
    JD_REQUIRE(jd_wait_drained(d, 120) == 0, "dead letters after loading");
}

/* The answer's body (malloc'd), fatal unless 200. */
static char *get_body(const struct jd_daemon *d, const char *path)
{
    struct jd_http h;
    jd_get_auth(d, path, &h);
    JD_REQUIRE(h.status == 200, "GET %s: want 200, got %ld: %.300s", path, h.status,
               h.body ? h.body : "");
    char *s = strdup(h.body ? h.body : "");
    JD_REQUIRE(s, "out of memory");
    jd_http_free(&h);
    return s;
}

#define NPATHS 16
static char paths[NPATHS][256];
static int npaths;

static void report_paths(void)
{
    static const char *const models[] = {"first_touch", "last_touch", "linear", "position",
                                         "time_decay"};
    char from[32], to[32], recent[32];
    jd_rfc3339(now_s - 3 * 365 * DAY - 10 * DAY, from, sizeof from);
    jd_rfc3339(now_s - DAY, to, sizeof to);
    jd_rfc3339(now_s - 200 * DAY, recent, sizeof recent);
    for (int m = 0; m < 5; m++) {
        snprintf(paths[npaths++], sizeof paths[0], "/v1/reports/attribution?model=%s&by=channel",
                 models[m]);
        snprintf(paths[npaths++], sizeof paths[0], "/v1/reports/attribution?model=%s&by=campaign",
                 models[m]);
    }
    snprintf(paths[npaths++], sizeof paths[0], "/v1/reports/funnel?from=%s&to=%s&by=month", from,
             to);
    snprintf(paths[npaths++], sizeof paths[0],
             "/v1/reports/funnel?from=%s&to=%s&by=month&view=activity", from, to);
    snprintf(paths[npaths++], sizeof paths[0], "/v1/reports/sla?from=%s&to=%s", from, to);
    snprintf(paths[npaths++], sizeof paths[0], "/v1/reports/sla?from=%s&to=%s", recent, to);
}

/* Every report path on both daemons; returns how many differ (reported when `expect`). */
static int compare_reports(const struct jd_daemon *a, const struct jd_daemon *b, int expect)
{
    int differ = 0;
    for (int i = 0; i < npaths; i++) {
        char *x = get_body(a, paths[i]), *y = get_body(b, paths[i]);
        if (strcmp(x, y) != 0) {
            differ++;
            JD_EXPECT(!expect,
                      "%s differs from the recomputation:\n  after retention: %.1500s\n"
                      "  kept events only: %.1500s",
                      paths[i], x, y);
        }
        free(x);
        free(y);
    }
    return differ;
}

/* The contact as both daemons see it (id, stage, first/last seen, revenue). */
static void compare_contacts(const struct jd_daemon *a, const struct jd_daemon *b)
{
    static const char *const fields[] = {"id", "stage", "first_seen", "last_seen", "revenue"};
    int gone = 0, renamed = 0;
    for (int c = 0; c < ncontacts; c++) {
        char email[48];
        long sa, sb;
        snprintf(email, sizeof email, "r%d@example.com", c);
        cJSON *ja = jd_journey(a, "email", email, &sa), *jb = jd_journey(b, "email", email, &sb);
        JD_EXPECT(sa == sb, "%s: journey status %ld after retention, %ld on kept events", email, sa,
                  sb);
        if (sa == 404 && sb == 404)
            gone++;
        if (ja && jb) {
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                char path[32];
                snprintf(path, sizeof path, "contact.%s", fields[f]);
                char *x = jd_json_print(jd_json_path(ja, path));
                char *y = jd_json_print(jd_json_path(jb, path));
                JD_EXPECT(x && y && strcmp(x, y) == 0, "%s: %s is %s after retention, %s on kept",
                          email, path, x ? x : "(none)", y ? y : "(none)");
                cJSON_free(x);
                cJSON_free(y);
            }
            const cJSON *mf = jd_json_path(ja, "contact.merged_from");
            if (cJSON_GetArraySize(mf) > 0)
                renamed++;
            JD_EXPECT(cJSON_GetArraySize(cJSON_GetObjectItem(ja, "events")) ==
                          cJSON_GetArraySize(cJSON_GetObjectItem(jb, "events")),
                      "%s: journey lengths differ", email);
        }
        cJSON_Delete(ja);
        cJSON_Delete(jb);
    }
    jd_note("contacts: %d gone with every event, %d took the id of their first kept event", gone,
            renamed);
    JD_EXPECT(gone > 0 && renamed > 0, "the data should hold removed and renamed contacts");
}

/* retention.lua's SHA1, as the daemon sent it (EVALSHA): the merge scenario runs slices
 * itself. */
static char slice_sha[41];

/* The retention.lua slices in SLOWLOG (EVALSHA with its 6 arguments: cutoff, now, 100
 * events, 200 keys, ...): how many, and their median, 99th percentile and slowest time in
 * microseconds (wall time inside Redis, so a busy machine adds its descheduling). */
static long long slice_times(redisContext *rc, long long *p50, long long *p99, long long *worst)
{
    long long n = 0;
    *p50 = *p99 = *worst = 0;
    redisReply *r = redisCommand(rc, "SLOWLOG GET -1");
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY, "SLOWLOG GET failed");
    long long *us = calloc(r->elements + 1, sizeof *us);
    JD_REQUIRE(us, "out of memory");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4)
            continue;
        const redisReply *args = e->element[3];
        if (args->type != REDIS_REPLY_ARRAY || args->elements != 9 ||
            strcasecmp(args->element[0]->str, "evalsha") != 0 ||
            strcmp(args->element[2]->str, "0") != 0 || strcmp(args->element[5]->str, "100") != 0 ||
            strcmp(args->element[6]->str, "200") != 0)
            continue;
        us[n++] = e->element[2]->integer;
        snprintf(slice_sha, sizeof slice_sha, "%s", args->element[1]->str);
    }
    freeReplyObject(r);
    if (n > 0) {
        qsort(us, (size_t)n, sizeof *us, cmp_ll);
        *p50 = us[n / 2];
        *p99 = us[n * 99 / 100];
        *worst = us[n - 1];
    }
    free(us);
    return n;
}

/* CPU seconds of Redis's main thread so far (INFO cpu): unlike SLOWLOG's wall time, it
 * does not count the time a busy machine keeps Redis descheduled. */
static double redis_main_cpu(redisContext *rc)
{
    double total = 0;
    redisReply *r = redisCommand(rc, "INFO cpu");
    JD_REQUIRE(r && r->type == REDIS_REPLY_STRING, "INFO cpu failed");
    static const char *const fields[] = {"used_cpu_sys_main_thread:", "used_cpu_user_main_thread:"};
    for (size_t i = 0; i < 2; i++) {
        const char *f = strstr(r->str, fields[i]);
        if (f)
            total += strtod(f + strlen(fields[i]), NULL);
    }
    freeReplyObject(r);
    return total;
}

/* ---- a contact merged away between two slices ---- */

/* One event as POST /v1/events takes it; at in seconds from the cut. */
static void add_event(struct jd_buf *b, const char *id, const char *kind, int64_t at,
                      const char *emails, const char *extra)
{
    char t[32];
    jd_rfc3339(at, t, sizeof t);
    jd_buf_printf(b, "%s{\"id\":\"%s\",\"kind\":\"%s\",\"at\":\"%s\",\"identities\":[%s]%s}",
                  b->len > 11 ? "," : "", id, kind, t, emails, extra);
}

static void post_all(const struct jd_daemon *d, struct jd_buf *b)
{
    jd_buf_printf(b, "]}");
    struct jd_http h;
    jd_post_events(d, b->p, &h);
    JD_REQUIRE(h.status == 200, "POST /v1/events: want 200, got %ld", h.status);
    jd_http_free(&h);
    JD_REQUIRE(jd_wait_drained(d, 60) == 0, "dead letters");
    jd_buf_free(b);
}

#define MX "{\"type\":\"email\",\"value\":\"mx@example.com\"}"
#define MZ "{\"type\":\"email\",\"value\":\"mz@example.com\"}"

/* Contact x: 150 old clicks and an old form, then 300 kept clicks and, last, a kept form:
 * its removal takes two slices and the walk that finds its lead entry again three. z: one
 * kept click, earlier than all of x's kept events. */
static void merge_events(struct jd_buf *b, int64_t cut, int all)
{
    char id[32];
    jd_buf_printf(b, "{\"events\":[");
    for (int i = 0; all && i < 150; i++) {
        snprintf(id, sizeof id, "mx-old-%d", i);
        add_event(b, id, "click", cut - 200 * DAY + i * 60, MX, "");
    }
    if (all)
        add_event(b, "mx-old-form", "form", cut - 100 * DAY, MX, "");
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "mx-new-%d", i);
        add_event(b, id, "click", cut + 50 * DAY + i * 60, MX,
                  ",\"touch\":{\"source\":\"google\",\"medium\":\"cpc\",\"campaign\":\"m\"}");
    }
    add_event(b, "mx-new-form", "form", cut + 60 * DAY, MX, "");
    add_event(b, "mx-new-pay", "payment", cut + 61 * DAY, MX,
              ",\"amount\":{\"minor\":4200,\"currency\":\"EUR\"}");
    add_event(b, "mz-click", "click", cut + 10 * DAY, MZ,
              ",\"touch\":{\"source\":\"bing\",\"medium\":\"cpc\",\"campaign\":\"z\"}");
}

/* One slice, the daemon's way (cutoff, now, 100 events, 200 keys, an hour, 5 minutes);
 * returns its state ("more", "done", "wait") into out. */
static void run_slice(redisContext *rc, int64_t cut, char *out, size_t outlen)
{
    char cutoff[24], now[24];
    snprintf(cutoff, sizeof cutoff, "%lld", (long long)cut * 1000);
    snprintf(now, sizeof now, "%lld", (long long)jd_now_s() * 1000);
    redisReply *r =
        redisCommand(rc, "EVALSHA %s 0 %s %s 100 200 3600000 300000", slice_sha, cutoff, now);
    JD_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4, "retention slice: %s",
               r && r->type == REDIS_REPLY_ERROR ? r->str : "no array");
    snprintf(out, outlen, "%s", r->element[0]->str);
    freeReplyObject(r);
}

/* Redis CPU per slice, sampled around each one (INFO cpu before and after): a pass over
 * B's kept events with a cutoff 200 days ago, run slice by slice by this test. Printed as
 * median, 99th percentile and slowest; unlike SLOWLOG it leaves out descheduling. */
static void measure_cpu(const struct jd_redis *rb)
{
    redisContext *rc = jd_redis_connect(rb);
    int64_t cut = now_s - 200 * DAY;
    size_t cap = 1024, n = 0;
    long long *us = calloc(cap, sizeof *us);
    JD_REQUIRE(us, "out of memory");
    char state[16] = "";
    for (int i = 0; i < 100000 && strcmp(state, "done") != 0; i++) {
        double a = redis_main_cpu(rc);
        run_slice(rc, cut, state, sizeof state);
        double b = redis_main_cpu(rc);
        if (n == cap) {
            long long *more = realloc(us, 2 * cap * sizeof *us);
            JD_REQUIRE(more, "out of memory");
            us = more;
            cap *= 2;
        }
        us[n++] = (long long)((b - a) * 1e6);
    }
    JD_EXPECT(strcmp(state, "done") == 0, "the measured pass did not end");
    qsort(us, n, sizeof *us, cmp_ll);
    jd_note("Redis CPU per slice over %zu slices (INFO cpu around each; B's kept events, cutoff "
            "200 days ago): median %lld us, p99 %lld us, slowest %lld us",
            n, us[n / 2], us[n * 99 / 100], us[n - 1]);
    free(us);
    redisFree(rc);
}

/* The contact in hand is merged into another between two slices of its walk: the sweep
 * takes the survivor up afresh, and the result equals the kept events applied from
 * scratch. */
static void merge_mid_pass(void)
{
    JD_REQUIRE(slice_sha[0], "no retention slice seen in SLOWLOG");
    int64_t cut = now_s - KEEP_DAYS * DAY;
    struct jd_redis rc_, rd_;
    struct jd_daemon dc, dd;
    jd_redis_start(&rc_, NULL, 0);
    jd_redis_start(&rd_, NULL, 0);
    /* No retention in C's config: this test runs C's slices itself. */
    jd_daemon_config(&dc, rc_.port, NULL);
    jd_daemon_config(&dd, rd_.port, NULL);
    jd_daemon_start(&dc, 1);
    jd_daemon_start(&dd, 1);
    struct jd_buf b = {0};
    merge_events(&b, cut, 1);
    post_all(&dc, &b);
    merge_events(&b, cut, 0);
    post_all(&dd, &b);

    redisContext *rc = jd_redis_connect(&rc_);
    char state[16] = "", cid[32] = "";
    for (int i = 0; i < 20; i++) {
        run_slice(rc, cut, state, sizeof state);
        redisReply *r = redisCommand(rc, "HMGET jd:ret:cur cid phase");
        int walking = r && r->type == REDIS_REPLY_ARRAY &&
                      r->element[1]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[1]->str, "walk") == 0;
        if (walking)
            snprintf(cid, sizeof cid, "%s", r->element[0]->str);
        freeReplyObject(r);
        if (walking)
            break;
    }
    JD_REQUIRE(cid[0], "the sweep never held x in its walk");

    /* x meets z, whose first event is earlier: x is merged into z and its id is gone. */
    jd_buf_printf(&b, "{\"events\":[");
    add_event(&b, "mxz-join", "sales_touch", cut + 100 * DAY, MX "," MZ, "");
    struct jd_buf b2 = {0};
    jd_buf_printf(&b2, "%s", b.p);
    post_all(&dc, &b);
    post_all(&dd, &b2);
    char key[48];
    snprintf(key, sizeof key, "EXISTS jd:c:%s", cid);
    JD_REQUIRE(jd_redis_int(rc, key) == 0, "x should have been merged away mid-pass");
    jd_note("x (%s) merged away in the middle of its walk", cid);

    int done = 0;
    for (int i = 0; i < 50 && !done; i++) {
        run_slice(rc, cut, state, sizeof state);
        done = strcmp(state, "done") == 0;
    }
    JD_REQUIRE(done, "the pass did not end within 50 slices after the merge");

    static const char *const fields[] = {"id", "stage", "first_seen", "last_seen", "revenue"};
    long sc, sd;
    cJSON *jc = jd_journey(&dc, "email", "mx@example.com", &sc);
    cJSON *jdd = jd_journey(&dd, "email", "mx@example.com", &sd);
    JD_REQUIRE(jc && jdd, "journeys: %ld, %ld", sc, sd);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        char path[32];
        snprintf(path, sizeof path, "contact.%s", fields[f]);
        char *x = jd_json_print(jd_json_path(jc, path)),
             *y = jd_json_print(jd_json_path(jdd, path));
        JD_EXPECT(x && y && strcmp(x, y) == 0, "merged mid-pass: %s is %s, %s on kept events", path,
                  x ? x : "(none)", y ? y : "(none)");
        cJSON_free(x);
        cJSON_free(y);
    }
    cJSON_Delete(jc);
    cJSON_Delete(jdd);
    compare_reports(&dc, &dd, 1);
    redisFree(rc);
    jd_daemon_stop(&dc);
    jd_daemon_stop(&dd);
}

int main(void)
{
    jd_setup("test_retention", 600, 1);
    const char *scale = getenv("JD_RETENTION_CONTACTS");
    if (scale && atoi(scale) > 0)
        ncontacts = atoi(scale);
    now_s = jd_now_s();
    events = calloc((size_t)ncontacts * MAX_EV + BIG_EV, sizeof *events);
    JD_REQUIRE(events, "out of memory");
    for (int c = 0; c < ncontacts; c++)
        make_contact(c);
    make_big_contact(ncontacts++);
    size_t nkept = 0;
    for (size_t i = 0; i < nevents; i++)
        nkept += (size_t)kept(&events[i]);
    jd_note("%zu events of %d contacts over three years, %zu in the last %d days", nevents,
            ncontacts, nkept, KEEP_DAYS);
    report_paths();

    /* The reference says what a bare number means: days, as for attribution_lookback. */
    char help[65536];
    char *const help_argv[] = {(char *)(uintptr_t)jd_binary(), "--help-config", NULL};
    JD_REQUIRE(jd_run_capture(help_argv, help, sizeof help, 30) == 0, "--help-config failed");
    const char *row = strstr(help, "\n  retention ");
    JD_EXPECT(row && strstr(row, "(a bare number is in days)") &&
                  strstr(row, "(a bare number is in days)") < strstr(row + 1, "\n  "),
              "--help-config: retention's bare number should be in days");

    struct jd_redis ra, rb;
    struct jd_daemon da, db;
    jd_redis_start(&ra, NULL, 0);
    jd_redis_start(&rb, NULL, 0);
    jd_daemon_config(&da, ra.port, NULL);
    jd_daemon_config(&db, rb.port, NULL);
    jd_daemon_start(&da, 1);
    jd_daemon_start(&db, 1);
    send_events(&da, 0);
    send_events(&db, 1);
    JD_REQUIRE(compare_reports(&da, &db, 0) > 0,
               "the reports agree before retention: the data does not test anything");

    /* A again, now with the retention; every command is timed by SLOWLOG. */
    redisContext *rc = jd_redis_connect(&ra);
    static const char *const setup[] = {"CONFIG SET slowlog-log-slower-than 0",
                                        "CONFIG SET slowlog-max-len 1000000", "SLOWLOG RESET"};
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++) {
        redisReply *r = redisCommand(rc, setup[i]);
        JD_REQUIRE(r && r->type == REDIS_REPLY_STATUS, "%s failed", setup[i]);
        freeReplyObject(r);
    }
    jd_daemon_stop(&da);
    jd_daemon_config(&da, ra.port, "retention = 400d\n");
    int64_t t0 = jd_mono_ms();
    jd_daemon_start(&da, 1);
    /* Killed in the middle of its first pass (once a slice has removed something): the
     * restarted process goes on with the same pass, whose count then holds every old
     * event; a pass started afresh would have counted only what was left. */
    int killed_mid_pass = 0;
    for (int i = 0; i < 4000; i++) {
        redisReply *r = redisCommand(rc, "HMGET jd:ret cursor removed done");
        int running = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      r->element[1]->type == REDIS_REPLY_STRING && atoll(r->element[1]->str) > 0;
        int ended = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                    r->element[2]->type == REDIS_REPLY_STRING;
        freeReplyObject(r);
        if (ended)
            break;
        if (running) {
            jd_daemon_signal(&da, SIGKILL);
            JD_REQUIRE(jd_daemon_wait_exit(&da, 10) != -1, "journeyd survived SIGKILL");
            killed_mid_pass = 1;
            break;
        }
        jd_sleep_ms(5);
    }
    if (killed_mid_pass) {
        redisReply *r = redisCommand(rc, "HGET jd:ret removed");
        jd_note("killed mid-pass after %s of %zu old events", r && r->str ? r->str : "?",
                nevents - nkept);
        freeReplyObject(r);
        jd_daemon_start(&da, 1);
    } else {
        jd_note("the first pass ended before the kill: the resume is not exercised this run");
    }
    int done = 0;
    for (int i = 0; i < 1200 && !done; i++) {
        redisReply *r = redisCommand(rc, "HGET jd:ret done");
        done = r && r->type == REDIS_REPLY_STRING;
        freeReplyObject(r);
        if (!done)
            jd_sleep_ms(100);
    }
    JD_REQUIRE(done, "no retention pass ended within 120 s");
    long long p50, p99, worst, slices = slice_times(rc, &p50, &p99, &worst);
    jd_note("first pass: %.1f s from start, %lld slices (SLOWLOG): median %lld us, p99 %lld us, "
            "slowest %lld us",
            (double)(jd_mono_ms() - t0) / 1000.0, slices, p50, p99, worst);
    JD_EXPECT(slices > 1, "the pass should take several slices");
    redisReply *pr = redisCommand(rc, "HGET jd:ret removed");
    long long pass_removed = pr && pr->type == REDIS_REPLY_STRING ? atoll(pr->str) : -1;
    freeReplyObject(pr);
    JD_EXPECT(pass_removed == (long long)(nevents - nkept),
              "the pass removed %lld events, want every old one: %zu", pass_removed,
              nevents - nkept);
    char *log = jd_slurp(da.log);
    JD_EXPECT(log && strstr(log, "retention pass done"), "no 'retention pass done' log line");
    free(log);

    compare_reports(&da, &db, 1);
    compare_contacts(&da, &db);

    /* A provider redelivers a removed event: refused by its age, nothing changes. */
    const struct tev *old = NULL;
    for (size_t i = 0; i < nevents && !old; i++)
        if (!kept(&events[i]) && strstr(events[i].json, "\"payment\""))
            old = &events[i];
    JD_REQUIRE(old, "no old payment in the data");
    char body[1200], key[64];
    snprintf(body, sizeof body, "{\"events\":[%s]}", old->json);
    struct jd_http h;
    jd_post_events(&da, body, &h);
    JD_EXPECT(h.status == 200, "redelivery: want 200, got %ld", h.status);
    jd_http_free(&h);
    jd_wait_drained(&da, 60);
    snprintf(key, sizeof key, "events:%s", old->id);
    redisReply *r = redisCommand(rc, "HEXISTS jd:ev %s", key);
    JD_EXPECT(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0,
              "a redelivered removed event is stored again");
    freeReplyObject(r);
    compare_reports(&da, &db, 1);

    redisFree(rc);
    jd_daemon_stop(&da);
    measure_cpu(&rb);
    jd_daemon_stop(&db);
    merge_mid_pass();
    free(events);
    return jd_finish();
}
