/* synth: the synthetic company month (see synth.h). */
#include "synth.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const sy_type_names[SY_NTYPES] = {
    "click",    "form",     "events",  "stripe",  "meta_leads", "google_ads",
    "typeform", "calendly", "hubspot", "shopify", "pipedrive",
};

#define DAY_MS (86400LL * 1000)
#define HOUR_MS (3600LL * 1000)
#define MIN_MS (60LL * 1000)
#define HEAVY_VIEWS 95

/* ---- text buffer ---- */

void sb_reserve(struct sb *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "synth: out of memory\n");
        exit(1);
    }
    b->p = p;
    b->cap = cap;
}

void sb_put(struct sb *b, const char *s, size_t len)
{
    sb_reserve(b, len);
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_free(struct sb *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- randomness ---- */

uint64_t sy_mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return sy_mix(r->s);
}

static int64_t rnd_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(r) % (uint64_t)(hi - lo + 1));
}

static int chance(struct rng *r, int percent)
{
    return (int)(rnd(r) % 100) < percent;
}

static void rnd_chars(struct rng *r, const char *alphabet, char *out, size_t n)
{
    size_t k = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd(r) % k];
    out[n] = '\0';
}

static const char hexdig[] = "0123456789abcdef";
static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char digits[] = "0123456789";

/* prefix + n characters of the alphabet */
static void rnd_id(struct rng *r, const char *prefix, const char *alphabet, size_t n, char *out,
                   size_t cap)
{
    size_t pl = strlen(prefix);
    if (pl + n + 1 > cap)
        n = cap - pl - 1;
    memcpy(out, prefix, pl);
    rnd_chars(r, alphabet, out + pl, n);
}

static void iso(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- personas ---- */

static const char *const firsts[] = {
    "giulia", "marco",  "sofia", "luca",   "anna", "paolo", "chiara", "matteo", "elena", "davide",
    "sara",   "andrea", "laura", "franco", "lena", "jonas", "marie",  "lucas",  "emma",  "noah"};
static const char *const lasts[] = {"rossi",  "bianchi", "romano", "colombo", "ricci",  "marino",
                                    "greco",  "bruno",   "gallo",  "conti",   "muller", "schmidt",
                                    "martin", "bernard", "dubois", "weber"};
static const char *const domains[] = {"example.it", "example.com", "example.de", "example.fr",
                                      "example.org"};
static const char *const campaigns[] = {"spring_promo", "brand_search",  "retargeting_q3",
                                        "webinar_sept", "competitor_kw", "lookalike_1pct"};
static const char *const cities[] = {"Milano", "Roma", "Torino", "Bologna", "Berlin", "Paris"};

enum channel { CH_GOOGLE, CH_FACEBOOK, CH_NEWSLETTER, CH_DIRECT };

struct persona {
    int i;
    char first[16], last[16], email[96], phone[32], aid[40];
    enum channel ch;
    const char *campaign, *city;
    char clickid[48];
    int64_t t0;
};

static struct rng contact_rng(uint64_t seed, int i)
{
    struct rng r = {sy_mix(seed * UINT64_C(0x100000001b3) + (uint64_t)i)};
    return r;
}

static void make_persona(uint64_t seed, int i, int64_t month_start, struct persona *p)
{
    struct rng r = contact_rng(seed, i);
    memset(p, 0, sizeof(*p));
    p->i = i;
    snprintf(p->first, sizeof(p->first), "%s", firsts[rnd(&r) % 20]);
    snprintf(p->last, sizeof(p->last), "%s", lasts[rnd(&r) % 16]);
    snprintf(p->email, sizeof(p->email), "%s.%s.%d@%s", p->first, p->last, i, domains[rnd(&r) % 5]);
    if (chance(&r, 50))
        snprintf(p->phone, sizeof(p->phone), "+39 3%02d %03d %04d", (int)rnd_range(&r, 20, 99),
                 (int)rnd_range(&r, 100, 999), (int)rnd_range(&r, 1000, 9999));
    rnd_id(&r, "a_", hexdig, 32, p->aid, sizeof(p->aid));
    int c = (int)(rnd(&r) % 100);
    p->ch = c < 35 ? CH_GOOGLE : c < 65 ? CH_FACEBOOK : c < 80 ? CH_NEWSLETTER : CH_DIRECT;
    p->campaign = campaigns[rnd(&r) % 6];
    p->city = cities[rnd(&r) % 6];
    if (p->ch == CH_GOOGLE)
        rnd_id(&r, "Cj0KCQjw", alnum, 28, p->clickid, sizeof(p->clickid));
    else if (p->ch == CH_FACEBOOK)
        rnd_id(&r, "IwAR", alnum, 30, p->clickid, sizeof(p->clickid));
    p->t0 = month_start + rnd_range(&r, 0, 24 * DAY_MS);
}

void sy_contact_email(uint64_t seed, int i, char *out, size_t cap)
{
    struct persona p;
    make_persona(seed, i, 0, &p);
    snprintf(out, cap, "%s", p.email);
}

static const char *utm_source(const struct persona *p)
{
    switch (p->ch) {
    case CH_GOOGLE:
        return "google";
    case CH_FACEBOOK:
        return "facebook";
    case CH_NEWSLETTER:
        return "newsletter";
    case CH_DIRECT:
        break;
    }
    return NULL;
}

static const char *utm_medium(const struct persona *p)
{
    return p->ch == CH_NEWSLETTER ? "email" : p->ch == CH_DIRECT ? NULL : "cpc";
}

static const char *clickid_name(const struct persona *p)
{
    return p->ch == CH_GOOGLE ? "gclid" : p->ch == CH_FACEBOOK ? "fbclid" : NULL;
}

/* ---- the month ---- */

struct gen {
    const struct sy_opts *o;
    struct sy_month *m;
    struct rng r;
    struct sb b;
    int evseq; /* events API ids within the contact */
};

static struct sy_delivery *add(struct gen *g, enum sy_type t, const struct persona *p,
                               int64_t at_ms, int nevents)
{
    struct sy_month *m = g->m;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct sy_delivery *v = realloc(m->v, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, "synth: out of memory\n");
            exit(1);
        }
        m->v = v;
        m->cap = cap;
    }
    struct sy_delivery *d = &m->v[m->n++];
    memset(d, 0, sizeof(*d));
    d->type = t;
    d->contact = p->i;
    d->at_ms = at_ms;
    d->nevents = nevents;
    d->body = g->b.p; /* the buffer is handed over */
    d->len = g->b.len;
    g->b.p = NULL;
    g->b.len = g->b.cap = 0;
    snprintf(d->aid, sizeof(d->aid), "%s", p->aid);
    m->events += nevents;
    return d;
}

static int has(const struct gen *g, enum sy_type t)
{
    return (g->o->types & SY_BIT(t)) != 0;
}

/* The landing page's utm and click id, as a query string. */
static void utm_query(struct sb *b, const struct persona *p)
{
    sb_printf(b, "utm_source=%s&utm_medium=%s&utm_campaign=%s", utm_source(p), utm_medium(p),
              p->campaign);
    if (clickid_name(p))
        sb_printf(b, "&%s=%s", clickid_name(p), p->clickid);
}

static void gen_click(struct gen *g, const struct persona *p)
{
    struct sb q = {0};
    sb_printf(&q, "to=https%%3A%%2F%%2Fexample.com%%2Flanding%%3Fref%%3Dad&");
    utm_query(&q, p);
    if (g->o->raw_clicks) {
        char id[32];
        rnd_id(&g->r, "", hexdig, 24, id, sizeof(id));
        sb_printf(&g->b,
                  "{\"id\":\"%s\",\"aid\":\"%s\",\"at_ms\":%" PRId64
                  ",\"query\":\"%s\",\"to\":\"https://example.com/landing?ref=ad\"}",
                  id, p->aid, p->t0, q.p);
        sb_free(&q);
    } else {
        g->b = q;
    }
    add(g, SY_CLICK, p, p->t0, 1);
}

/* {"id":..,"kind":..,"at":..,"identities":[..] — the caller closes the object. */
static void ev_open(struct gen *g, const struct persona *p, const char *kind, int64_t at)
{
    char t[32];
    iso(at, t);
    sb_printf(&g->b, "{\"id\":\"sim-%" PRIu64 "-%d-%d\",\"kind\":\"%s\",\"at\":\"%s\"", g->o->seed,
              p->i, g->evseq++, kind, t);
}

static void gen_views(struct gen *g, const struct persona *p, int heavy)
{
    static const char *const pages[] = {"/",          "/pricing", "/features",  "/blog/attribution",
                                        "/customers", "/demo",    "/docs/start"};
    int n = heavy ? HEAVY_VIEWS : (int)rnd_range(&g->r, 4, 9);
    int64_t at = p->t0 + 5000;
    sb_printf(&g->b, "{\"events\":[");
    for (int k = 0; k < n; k++) {
        if (k)
            sb_put(&g->b, ",", 1);
        ev_open(g, p, "visit", at);
        sb_printf(&g->b, ",\"identities\":[{\"type\":\"anon\",\"value\":\"%s\"}]", p->aid);
        if (k == 0 && utm_source(p)) {
            sb_printf(&g->b, ",\"touch\":{\"source\":\"%s\",\"medium\":\"%s\",\"campaign\":\"%s\"",
                      utm_source(p), utm_medium(p), p->campaign);
            if (clickid_name(p))
                sb_printf(&g->b, ",\"click_ids\":{\"%s\":\"%s\"}", clickid_name(p), p->clickid);
            sb_put(&g->b, "}", 1);
        }
        sb_printf(&g->b, ",\"attributes\":{\"page\":\"%s\",\"referrer\":\"%s\"}}",
                  pages[rnd(&g->r) % 7], utm_source(p) ? utm_source(p) : "");
        /* Heavy readers come back all month; others browse in one sitting. */
        at += heavy ? rnd_range(&g->r, 2 * HOUR_MS, 6 * HOUR_MS) : rnd_range(&g->r, 10000, 120000);
    }
    sb_put(&g->b, "]}", 2);
    add(g, SY_EVENTS, p, p->t0 + 5000, n);
}

/* One canonical event through POST /v1/events. */
static void gen_custom(struct gen *g, const struct persona *p, const char *kind, const char *stage,
                       int64_t at, const char *extra_type, const char *extra_value)
{
    sb_printf(&g->b, "{\"events\":[");
    ev_open(g, p, kind, at);
    sb_printf(&g->b, ",\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}", p->email);
    if (extra_type)
        sb_printf(&g->b, ",{\"type\":\"%s\",\"value\":\"%s\"}", extra_type, extra_value);
    sb_put(&g->b, "]", 1);
    if (stage)
        sb_printf(&g->b, ",\"stage\":\"%s\"", stage);
    sb_printf(&g->b, ",\"attributes\":{\"owner\":\"rep%d\",\"via\":\"crm-sync\"}}]}",
              (int)(rnd(&g->r) % 7));
    add(g, SY_EVENTS, p, at, 1);
}

static void gen_form(struct gen *g, const struct persona *p, int64_t at)
{
    char t[32], sub[40];
    iso(at, t);
    rnd_id(&g->r, "sub_", alnum, 20, sub, sizeof(sub));
    /* Some visitors type their address in capitals or with spaces: normalized on ingest. */
    int shout = chance(&g->r, 20);
    sb_printf(&g->b, "{\"form\":\"demo-request\",\"submission_id\":\"%s\",\"submitted_at\":\"%s\"",
              sub, t);
    if (shout) {
        sb_put(&g->b, ",\"email\":\" ", 11);
        for (const char *c = p->email; *c; c++) {
            char u = (*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c;
            sb_put(&g->b, &u, 1);
        }
        sb_put(&g->b, " \"", 2);
    } else {
        sb_printf(&g->b, ",\"email\":\"%s\"", p->email);
    }
    if (p->phone[0])
        sb_printf(&g->b, ",\"phone\":\"%s\"", p->phone);
    sb_printf(&g->b,
              ",\"first_name\":\"%s\",\"last_name\":\"%s\",\"company\":\"%s %s srl\","
              "\"jd_aid\":\"%s\",\"message\":\"We would like a demo for our team in %s.\"",
              p->first, p->last, p->last, p->city, p->aid, p->city);
    if (utm_source(p))
        sb_printf(&g->b, ",\"utm_source\":\"%s\",\"utm_medium\":\"%s\",\"utm_campaign\":\"%s\"",
                  utm_source(p), utm_medium(p), p->campaign);
    if (clickid_name(p))
        sb_printf(&g->b, ",\"%s\":\"%s\"", clickid_name(p), p->clickid);
    sb_put(&g->b, "}", 1);
    add(g, SY_FORM, p, at, 1);
}

static void gen_typeform(struct gen *g, const struct persona *p, int64_t at)
{
    char t[32], ev[40], tok[40];
    iso(at, t);
    rnd_id(&g->r, "01H", alnum, 23, ev, sizeof(ev));
    rnd_id(&g->r, "", hexdig, 32, tok, sizeof(tok));
    sb_printf(
        &g->b,
        "{\"event_id\":\"%s\",\"event_type\":\"form_response\",\"form_response\":{"
        "\"form_id\":\"lT4Z3j\",\"token\":\"%s\",\"landed_at\":\"%s\",\"submitted_at\":\"%s\","
        "\"hidden\":{\"jd_aid\":\"%s\"",
        ev, tok, t, t, p->aid);
    if (utm_source(p))
        sb_printf(&g->b, ",\"utm_source\":\"%s\",\"utm_medium\":\"%s\",\"utm_campaign\":\"%s\"",
                  utm_source(p), utm_medium(p), p->campaign);
    if (clickid_name(p))
        sb_printf(&g->b, ",\"%s\":\"%s\"", clickid_name(p), p->clickid);
    sb_printf(
        &g->b,
        "},\"definition\":{\"id\":\"lT4Z3j\",\"title\":\"Request a demo\",\"fields\":["
        "{\"id\":\"f1\",\"ref\":\"name\",\"type\":\"short_text\",\"title\":\"Your name\"},"
        "{\"id\":\"f2\",\"ref\":\"email\",\"type\":\"email\",\"title\":\"Work email\"},"
        "{\"id\":\"f3\",\"ref\":\"team_size\",\"type\":\"number\",\"title\":\"Team size\"}]},"
        "\"answers\":[{\"type\":\"text\",\"text\":\"%s %s\",\"field\":{\"id\":\"f1\","
        "\"type\":\"short_text\",\"ref\":\"name\"}},{\"type\":\"email\",\"email\":\"%s\","
        "\"field\":{\"id\":\"f2\",\"type\":\"email\",\"ref\":\"email\"}},{\"type\":\"number\","
        "\"number\":%d,\"field\":{\"id\":\"f3\",\"type\":\"number\",\"ref\":\"team_size\"}}]}}",
        p->first, p->last, p->email, (int)rnd_range(&g->r, 2, 400));
    add(g, SY_TYPEFORM, p, at, 1);
}

static void gen_google(struct gen *g, const struct persona *p, int64_t at)
{
    char t[32], lead[48];
    iso(at, t);
    rnd_id(&g->r, "TeSter-", alnum, 40, lead, sizeof(lead));
    sb_printf(
        &g->b,
        "{\"lead_id\":\"%s\",\"api_version\":\"1.0\",\"form_id\":%" PRIu64
        ",\"campaign_id\":%" PRIu64 ",\"google_key\":\"%s\",\"is_test\":false,"
        "\"gcl_id\":\"%s\",\"adgroup_id\":%" PRIu64 ",\"creative_id\":%" PRIu64
        ",\"lead_submit_time\":\"%s\",\"user_column_data\":["
        "{\"column_name\":\"Full Name\",\"string_value\":\"%s %s\",\"column_id\":\"FULL_NAME\"},"
        "{\"column_name\":\"User Email\",\"string_value\":\"%s\",\"column_id\":\"EMAIL\"}",
        lead, UINT64_C(40000000000) + rnd(&g->r) % 1000, UINT64_C(20000000000) + rnd(&g->r) % 1000,
        g->o->google_key ? g->o->google_key : "", p->clickid,
        UINT64_C(130000000000) + rnd(&g->r) % 100000, UINT64_C(600000000000) + rnd(&g->r) % 100000,
        t, p->first, p->last, p->email);
    if (p->phone[0])
        sb_printf(&g->b,
                  ",{\"column_name\":\"User Phone\",\"string_value\":\"%s\","
                  "\"column_id\":\"PHONE_NUMBER\"}",
                  p->phone);
    sb_put(&g->b, "]}", 2);
    add(g, SY_GOOGLE, p, at, 1);
}

/* Returns the lead id (the webhook carries no personal data). */
static void gen_meta(struct gen *g, const struct persona *p, int64_t at, char lead[24])
{
    rnd_id(&g->r, "9", digits, 16, lead, 24);
    sb_printf(&g->b,
              "{\"object\":\"page\",\"entry\":[{\"id\":\"104857600000001\",\"time\":%" PRId64
              ",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"%s\","
              "\"page_id\":\"104857600000001\",\"form_id\":\"7340032000000%02d\","
              "\"adgroup_id\":\"2385000000000%04d\",\"ad_id\":\"2385000000001%04d\","
              "\"created_time\":%" PRId64 "}}]}]}",
              at / 1000 + 3, lead, (int)(rnd(&g->r) % 100), (int)(rnd(&g->r) % 10000),
              (int)(rnd(&g->r) % 10000), at / 1000);
    add(g, SY_META, p, at, 1);
}

static void gen_calendly(struct gen *g, const struct persona *p, int64_t at)
{
    char t[32], start[32], end[32], ev[32], inv[32];
    iso(at, t);
    int64_t s = at + rnd_range(&g->r, 1, 5) * DAY_MS;
    iso(s, start);
    iso(s + 30 * MIN_MS, end);
    rnd_id(&g->r, "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 16, ev, sizeof(ev));
    rnd_id(&g->r, "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 16, inv, sizeof(inv));
    sb_printf(&g->b,
              "{\"created_at\":\"%s\",\"created_by\":\"https://api.calendly.com/users/AAAA\","
              "\"event\":\"invitee.created\",\"payload\":{\"uri\":"
              "\"https://api.calendly.com/scheduled_events/%s/invitees/%s\",\"email\":\"%s\","
              "\"name\":\"%s %s\",\"first_name\":null,\"last_name\":null,\"status\":\"active\","
              "\"timezone\":\"Europe/Rome\",\"created_at\":\"%s\",\"updated_at\":\"%s\","
              "\"scheduled_event\":{\"uri\":\"https://api.calendly.com/scheduled_events/%s\","
              "\"name\":\"Intro call\",\"start_time\":\"%s\",\"end_time\":\"%s\"},"
              "\"tracking\":{\"utm_source\":%s%s%s,\"utm_medium\":%s%s%s,\"utm_campaign\":\"%s\"},"
              "\"text_reminder_number\":null,\"rescheduled\":false,\"questions_and_answers\":"
              "[{\"question\":\"What would you like to discuss?\",\"answer\":\"Pricing\"}]}}",
              t, ev, inv, p->email, p->first, p->last, t, t, ev, start, end,
              utm_source(p) ? "\"" : "", utm_source(p) ? utm_source(p) : "null",
              utm_source(p) ? "\"" : "", utm_medium(p) ? "\"" : "",
              utm_medium(p) ? utm_medium(p) : "null", utm_medium(p) ? "\"" : "", p->campaign);
    add(g, SY_CALENDLY, p, at, 1);
}

static void gen_hubspot(struct gen *g, const struct persona *p, int64_t at, uint64_t object_id)
{
    sb_printf(&g->b,
              "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":2381234,\"portalId\":4411223,"
              "\"appId\":991122,\"occurredAt\":%" PRId64
              ",\"subscriptionType\":\"contact.propertyChange\",\"attemptNumber\":0,"
              "\"objectId\":%" PRIu64 ",\"propertyName\":\"lifecyclestage\","
              "\"propertyValue\":\"salesqualifiedlead\",\"changeSource\":\"CRM_UI\","
              "\"sourceId\":\"userId:5512\"}]",
              UINT64_C(1000000000) + rnd(&g->r) % UINT64_C(1000000000), at, object_id);
    add(g, SY_HUBSPOT, p, at, 1);
}

static void uuid(struct rng *r, char out[40])
{
    char h[33];
    rnd_chars(r, hexdig, h, 32);
    snprintf(out, 40, "%.8s-%.4s-4%.3s-a%.3s-%.12s", h, h + 8, h + 12, h + 15, h + 20);
}

static void gen_pipedrive(struct gen *g, const struct persona *p, int64_t at)
{
    char t[32], id1[40], id2[40];
    uint64_t person = 10000 + (uint64_t)p->i, deal = 50000 + (uint64_t)p->i;
    iso(at - HOUR_MS, t);
    uuid(&g->r, id1);
    uuid(&g->r, id2);
    sb_printf(&g->b,
              "{\"meta\":{\"action\":\"create\",\"entity\":\"person\",\"entity_id\":\"%" PRIu64
              "\",\"id\":\"%s\",\"company_id\":\"7788\",\"timestamp\":\"%s\",\"attempt\":1,"
              "\"host\":\"acme.pipedrive.com\",\"version\":\"2.0\"},\"data\":{\"id\":%" PRIu64
              ",\"name\":\"%s %s\",\"emails\":[{\"label\":\"work\",\"value\":\"%s\","
              "\"primary\":true}],\"phones\":[%s%s%s],\"owner_id\":12},\"previous\":null}",
              person, id1, t, person, p->first, p->last, p->email,
              p->phone[0] ? "{\"label\":\"mobile\",\"value\":\"" : "", p->phone,
              p->phone[0] ? "\",\"primary\":true}" : "");
    add(g, SY_PIPEDRIVE, p, at - HOUR_MS, 1);
    iso(at, t);
    sb_printf(&g->b,
              "{\"meta\":{\"action\":\"change\",\"entity\":\"deal\",\"entity_id\":\"%" PRIu64
              "\",\"id\":\"%s\",\"company_id\":\"7788\",\"timestamp\":\"%s\",\"attempt\":1,"
              "\"host\":\"acme.pipedrive.com\",\"version\":\"2.0\"},\"data\":{\"id\":%" PRIu64
              ",\"title\":\"%s %s deal\",\"status\":\"won\",\"value\":%d,\"currency\":\"EUR\","
              "\"person_id\":%" PRIu64 ",\"stage_id\":5,\"pipeline_id\":1,\"won_time\":\"%s\"},"
              "\"previous\":{\"status\":\"open\"}}",
              deal, id2, t, deal, p->last, p->city, (int)rnd_range(&g->r, 500, 5000), person, t);
    add(g, SY_PIPEDRIVE, p, at, 1);
}

static void gen_shopify(struct gen *g, const struct persona *p, int64_t at, int64_t minor)
{
    char t[32];
    uint64_t order = UINT64_C(5000000000000) + (uint64_t)p->i,
             customer = UINT64_C(7000000000000) + (uint64_t)p->i;
    iso(at, t);
    sb_printf(&g->b,
              "{\"id\":%" PRIu64 ",\"admin_graphql_api_id\":\"gid://shopify/Order/%" PRIu64
              "\",\"email\":\"%s\",\"phone\":%s%s%s,\"created_at\":\"%s\",\"processed_at\":\"%s\","
              "\"currency\":\"EUR\",\"total_price\":\"%" PRId64
              ".%02d\",\"financial_status\":\"paid\","
              "\"landing_site\":\"/?",
              order, order, p->email, p->phone[0] ? "\"" : "", p->phone[0] ? p->phone : "null",
              p->phone[0] ? "\"" : "", t, t, minor / 100, (int)(minor % 100));
    if (utm_source(p))
        utm_query(&g->b, p);
    sb_printf(&g->b,
              "\",\"customer\":{\"id\":%" PRIu64 ",\"email\":\"%s\",\"first_name\":\"%s\","
              "\"last_name\":\"%s\"},\"line_items\":[{\"id\":%" PRIu64 ",\"title\":\"Annual plan\","
              "\"quantity\":1,\"price\":\"%" PRId64 ".%02d\"}]}",
              customer, p->email, p->first, p->last, order + 1, minor / 100, (int)(minor % 100));
    struct sy_delivery *d = add(g, SY_SHOPIFY, p, at, 1);
    uuid(&g->r, d->id);
    snprintf(d->topic, sizeof(d->topic), "orders/paid");
}

/* The billing address and friends: Stripe objects are large, and so are these. */
static void stripe_details(struct sb *b, const char *email, const char *name, const char *city)
{
    sb_printf(b,
              "{\"address\":{\"city\":\"%s\",\"country\":\"IT\",\"line1\":\"Via Roma 1\","
              "\"line2\":null,\"postal_code\":\"20121\",\"state\":\"MI\"},\"email\":\"%s\","
              "\"name\":\"%s\",\"phone\":null,\"tax_exempt\":\"none\",\"tax_ids\":[]}",
              city, email, name);
}

static void stripe_envelope_open(struct sb *b, const char *evt, int64_t created_s)
{
    sb_printf(
        b,
        "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%" PRId64
        ",\"data\":{\"object\":",
        evt, created_s);
}

static void stripe_envelope_close(struct sb *b, const char *type, const char *prev)
{
    sb_printf(b,
              "%s%s},\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":null,"
              "\"idempotency_key\":null},\"type\":\"%s\"}",
              prev ? ",\"previous_attributes\":" : "", prev ? prev : "", type);
}

static void checkout_object(struct sb *b, const char *cs, const char *cus, const char *pi,
                            const char *email, const char *name, const char *city, const char *aid,
                            const char *source, const char *medium, const char *campaign,
                            int64_t minor, int64_t created_s)
{
    sb_printf(b,
              "{\"id\":\"%s\",\"object\":\"checkout.session\",\"amount_subtotal\":%" PRId64
              ",\"amount_total\":%" PRId64 ",\"automatic_tax\":{\"enabled\":false,\"status\":null},"
              "\"cancel_url\":\"https://example.com/cart\",\"client_reference_id\":\"%s\","
              "\"created\":%" PRId64 ",\"currency\":\"eur\",\"customer\":\"%s\","
              "\"customer_creation\":\"always\",\"customer_details\":",
              cs, minor, minor, aid, created_s, cus);
    stripe_details(b, email, name, city);
    sb_printf(b,
              ",\"expires_at\":%" PRId64 ",\"invoice\":null,\"livemode\":false,\"locale\":\"it\","
              "\"metadata\":{\"jd_aid\":\"%s\"",
              created_s + 86400, aid);
    if (source)
        sb_printf(b, ",\"utm_source\":\"%s\",\"utm_medium\":\"%s\",\"utm_campaign\":\"%s\"", source,
                  medium, campaign);
    sb_printf(
        b,
        "},\"mode\":\"payment\",\"payment_intent\":\"%s\",\"payment_method_types\":[\"card\"],"
        "\"payment_status\":\"paid\",\"shipping_details\":null,\"status\":\"complete\","
        "\"submit_type\":\"pay\",\"subscription\":null,"
        "\"success_url\":\"https://example.com/thanks?session={CHECKOUT_SESSION_ID}\","
        "\"total_details\":{\"amount_discount\":0,\"amount_shipping\":0,\"amount_tax\":0},"
        "\"url\":null}",
        pi);
}

static void gen_stripe(struct gen *g, const struct persona *p, int64_t at, int64_t minor,
                       int refund)
{
    char evt[40], cs[80], cus[32], pi[40], ch[40], name[40];
    struct rng *r = &g->r;
    int64_t s = at / 1000;
    snprintf(name, sizeof(name), "%s %s", p->first, p->last);
    rnd_id(r, "cs_live_", alnum, 58, cs, sizeof(cs));
    rnd_id(r, "cus_", alnum, 14, cus, sizeof(cus));
    rnd_id(r, "pi_", alnum, 24, pi, sizeof(pi));
    rnd_id(r, "ch_", alnum, 24, ch, sizeof(ch));

    rnd_id(r, "evt_", alnum, 24, evt, sizeof(evt));
    stripe_envelope_open(&g->b, evt, s);
    checkout_object(&g->b, cs, cus, pi, p->email, name, p->city, p->aid, utm_source(p),
                    utm_medium(p), p->campaign, minor, s - 40);
    stripe_envelope_close(&g->b, "checkout.session.completed", NULL);
    add(g, SY_STRIPE, p, at, 1);

    /* The same money again, from the PaymentIntent: a customer id, no email. */
    rnd_id(r, "evt_", alnum, 24, evt, sizeof(evt));
    stripe_envelope_open(&g->b, evt, s + 1);
    sb_printf(&g->b,
              "{\"id\":\"%s\",\"object\":\"payment_intent\",\"amount\":%" PRId64
              ",\"amount_capturable\":0,\"amount_received\":%" PRId64
              ",\"capture_method\":\"automatic\",\"client_secret\":null,\"confirmation_method\":"
              "\"automatic\",\"created\":%" PRId64 ",\"currency\":\"eur\",\"customer\":\"%s\","
              "\"description\":null,\"latest_charge\":\"%s\",\"livemode\":false,\"metadata\":{},"
              "\"payment_method\":\"pm_1Nq2x3\",\"payment_method_types\":[\"card\"],"
              "\"receipt_email\":null,\"setup_future_usage\":null,\"shipping\":null,"
              "\"statement_descriptor\":null,\"status\":\"succeeded\"}",
              pi, minor, minor, s - 40, cus, ch);
    stripe_envelope_close(&g->b, "payment_intent.succeeded", NULL);
    add(g, SY_STRIPE, p, at + 1000, 1);

    if (!refund)
        return;
    int64_t back = chance(r, 50) ? minor : minor / 2;
    int64_t rs = s + rnd_range(r, 1, 6) * 86400;
    rnd_id(r, "evt_", alnum, 24, evt, sizeof(evt));
    stripe_envelope_open(&g->b, evt, rs);
    sb_printf(&g->b,
              "{\"id\":\"%s\",\"object\":\"charge\",\"amount\":%" PRId64
              ",\"amount_captured\":%" PRId64 ",\"amount_refunded\":%" PRId64
              ",\"billing_details\":",
              ch, minor, minor, back);
    stripe_details(&g->b, p->email, name, p->city);
    sb_printf(&g->b,
              ",\"captured\":true,\"created\":%" PRId64 ",\"currency\":\"eur\",\"customer\":\"%s\","
              "\"livemode\":false,\"metadata\":{},\"paid\":true,\"payment_intent\":\"%s\","
              "\"receipt_email\":null,\"refunded\":%s,\"status\":\"succeeded\"}",
              s, cus, pi, back == minor ? "true" : "false");
    stripe_envelope_close(&g->b, "charge.refunded", "{\"amount_refunded\":0}");
    add(g, SY_STRIPE, p, rs * 1000, 1);
}

unsigned sy_contact_path(uint64_t seed, int i, int heavy)
{
    /* Decided from the contact's own stream, with the draws gen_contact makes first. */
    struct rng r = contact_rng(seed ^ UINT64_C(0x5eed), i);
    int lead = chance(&r, 85) || heavy;
    int qualified = lead && chance(&r, 60);
    int meeting = qualified && chance(&r, 45);
    int won = meeting && chance(&r, 55);
    int pays = (won && chance(&r, 85)) || (lead && !won && chance(&r, 4));
    int refund = pays && chance(&r, 12);
    return (lead ? SY_LEAD : 0u) | (qualified ? SY_QUALIFIED : 0u) | (meeting ? SY_MEETING : 0u) |
           (won ? SY_WON : 0u) | (pays ? SY_PAYS : 0u) | (refund ? SY_REFUND : 0u);
}

static void gen_contact(struct gen *g, int i)
{
    struct persona p;
    make_persona(g->o->seed, i, g->o->month_start_ms, &p);
    int heavy = i < g->o->heavy;
    g->r = contact_rng(g->o->seed ^ UINT64_C(0x5eed), i);
    g->evseq = 0;
    /* The path; the same draws as sy_contact_pays, in the same order. */
    int lead = chance(&g->r, 85) || heavy;
    int qualified = lead && chance(&g->r, 60);
    int meeting = qualified && chance(&g->r, 45);
    int won = meeting && chance(&g->r, 55);
    int pays = (won && chance(&g->r, 85)) || (lead && !won && chance(&g->r, 4));
    int refund = pays && chance(&g->r, 12);
    size_t first = g->m->n;
    int64_t tl = 0, tq = 0, tm = 0, tw = 0;
    char meta_lead[24] = "", hs_text[24];
    uint64_t hs_id = UINT64_C(300000000) + (uint64_t)i;

    if (p.ch != CH_DIRECT && has(g, SY_CLICK))
        gen_click(g, &p);
    gen_views(g, &p, heavy);
    if (!lead)
        goto dups;
    tl = p.t0 + rnd_range(&g->r, 10 * MIN_MS, 2 * DAY_MS);
    int pick = (int)(rnd(&g->r) % 100);
    if (p.ch == CH_GOOGLE && has(g, SY_GOOGLE) && pick < 40)
        gen_google(g, &p, tl);
    else if (p.ch == CH_FACEBOOK && has(g, SY_META) && pick < 40)
        gen_meta(g, &p, tl, meta_lead);
    else if (has(g, SY_TYPEFORM) && pick >= 75)
        gen_typeform(g, &p, tl);
    else
        gen_form(g, &p, tl);
    /* Sales calls back; a Meta lead is matched to its email by the CRM import. */
    if (meta_lead[0] || chance(&g->r, 70))
        gen_custom(g, &p, "sales_touch", NULL, tl + rnd_range(&g->r, 5 * MIN_MS, 30 * HOUR_MS),
                   meta_lead[0] ? "meta_lead" : NULL, meta_lead);
    if (!qualified)
        goto dups;
    tq = tl + rnd_range(&g->r, HOUR_MS, 3 * DAY_MS);
    snprintf(hs_text, sizeof(hs_text), "%" PRIu64, hs_id);
    gen_custom(g, &p, "stage_change", "qualified", tq,
               has(g, SY_HUBSPOT) ? "hubspot_contact" : NULL, hs_text);
    if (has(g, SY_HUBSPOT))
        gen_hubspot(g, &p, tq + 2000, hs_id);
    if (!meeting)
        goto dups;
    tm = tq + rnd_range(&g->r, HOUR_MS, 4 * DAY_MS);
    if (has(g, SY_CALENDLY))
        gen_calendly(g, &p, tm);
    else
        gen_custom(g, &p, "meeting", NULL, tm, NULL, NULL);
    tw = tm + rnd_range(&g->r, DAY_MS, 6 * DAY_MS);
    if (won) {
        if (has(g, SY_PIPEDRIVE))
            gen_pipedrive(g, &p, tw);
        else
            gen_custom(g, &p, "deal_won", NULL, tw, NULL, NULL);
    }
dups:
    if (pays) {
        int64_t tp = (won ? tw : p.t0 + 2 * DAY_MS) + rnd_range(&g->r, HOUR_MS, 2 * DAY_MS);
        int64_t minor = rnd_range(&g->r, 490, 4990) * 100;
        if (has(g, SY_SHOPIFY) && !refund && chance(&g->r, 30))
            gen_shopify(g, &p, tp, minor);
        else
            gen_stripe(g, &p, tp, minor, refund);
    }
    /* Provider retries: the same bytes again. A click is never retried (each GET /c is a
     * new click). */
    size_t last = g->m->n;
    for (size_t k = first; k < last; k++) {
        if (g->m->v[k].type == SY_CLICK || (double)(rnd(&g->r) % 10000) >= g->o->dup_rate * 10000)
            continue;
        struct sy_delivery orig = g->m->v[k];
        sb_put(&g->b, orig.body, orig.len);
        struct sy_delivery *d = add(g, orig.type, &p, orig.at_ms, 0);
        d->duplicate = 1;
        memcpy(d->id, orig.id, sizeof(d->id));
        memcpy(d->topic, orig.topic, sizeof(d->topic));
    }
}

int sy_month_build(const struct sy_opts *o, struct sy_month *m)
{
    if (o->contacts < 0 || o->heavy < 0)
        return -1;
    struct gen g = {.o = o, .m = m};
    for (int i = 0; i < o->contacts; i++)
        gen_contact(&g, i);
    sb_free(&g.b);
    return 0;
}

void sy_month_shuffle(struct sy_month *m, uint64_t seed)
{
    struct rng r = {sy_mix(seed ^ 0xa11ce)};
    for (size_t i = m->n; i > 1; i--) {
        size_t j = (size_t)(rnd(&r) % i);
        struct sy_delivery t = m->v[i - 1];
        m->v[i - 1] = m->v[j];
        m->v[j] = t;
    }
}

void sy_month_free(struct sy_month *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].body);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

void sy_stripe_load_id(uint64_t run, uint64_t n, char *out, size_t cap)
{
    snprintf(out, cap, "evt_L%" PRIx64 "x%" PRIu64, run & UINT64_C(0xffffffff), n);
}

void sy_stripe_load_body(struct sb *b, uint64_t run, uint64_t n, int64_t created_s)
{
    struct rng r = {sy_mix(run * UINT64_C(1000003) + n)};
    char evt[40], cs[80], cus[32], pi[40], email[64], aid[40];
    b->len = 0;
    sy_stripe_load_id(run, n, evt, sizeof(evt));
    rnd_id(&r, "cs_live_", alnum, 58, cs, sizeof(cs));
    snprintf(cus, sizeof(cus), "cus_L%" PRIx64 "x%" PRIu64, run & 0xffffff, n);
    rnd_id(&r, "pi_", alnum, 24, pi, sizeof(pi));
    rnd_id(&r, "a_", hexdig, 32, aid, sizeof(aid));
    snprintf(email, sizeof(email), "buyer%" PRIu64 ".%" PRIx64 "@example.net", n, run & 0xffff);
    stripe_envelope_open(b, evt, created_s);
    checkout_object(b, cs, cus, pi, email, "Load Tester", "Milano", aid, "google", "cpc",
                    "load_test", rnd_range(&r, 490, 4990) * 100, created_s - 30);
    stripe_envelope_close(b, "checkout.session.completed", NULL);
}
