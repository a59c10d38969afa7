/*
 * The report endpoints (DESIGN §6, §6b, §7) and ad spend import. The arithmetic lives in
 * report.c (pure); this file reads what a report needs from the indexes apply.lua keeps,
 * in bounded pieces, because the webhooks share Redis and must never wait long behind a
 * report:
 *
 *   attribution: the contacts with a conversion in range (report.lua "conv"), then their
 *     touches and conversions, REPORT_BATCH contacts per call ("touches") → report.c.
 *   funnel: the stage indexes jd:st:<rank> themselves, read with their scores in pages
 *     of SCAN_PAGE (a member's score is the contact's entry time: apply.lua writes the
 *     index and the contact's eN field together and removes both with the contact),
 *     joined by contact id in a hash table here → rp_funnel_entries. Reading each
 *     contact's eN fields instead took a Lua loop 0.8 s at 100k contacts.
 *   SLA: the leads (jd:st:2) and the converters (jd:conv → jd:evc) of the range, then per
 *     contact only what rp_sla reads (report.h): its journey from the lead entry up to
 *     the response, and its payments and refunds → rp_sla_add, SLA_BATCH contacts at a
 *     time. Whole journeys are about five times more events, and their Lua loop held
 *     Redis some 35 ms per call.
 *
 * Several commands of a report are in flight at once (pages of different score ranges,
 * the journeys of a batch), so Redis works on the next one while we parse the last; each
 * is small, so other clients' commands interleave. A job lives until the last callback
 * of its commands has run (`inflight`), also when it failed and answered early: the
 * handler holds one reference while it starts the job, each command one more.
 */
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "common.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "util.h"

#define REPORT_BATCH 500
#define REPORT_MAX_CONTACTS 1000000
#define REPORT_MAX_EVENTS 5000000 /* kept in memory by one SLA batch */
#define DAY_MS INT64_C(86400000)
/* Index pages: 1000 members with scores cost Redis about 2 ms on the benchmark machine. */
#define SCAN_PAGE 1000
#define SCAN_SPLIT 4    /* a finite score range is read as this many ranges side by side */
#define SCAN_PARALLEL 4 /* pages in flight for one report */
#define SCAN_MAX 48     /* ranges of one phase: 5 stages × 2 ranges × (SCAN_SPLIT + 1) fits */
#define MULTI_MAX 1000  /* ids per ZMSCORE / HMGET */
#define SLA_BATCH 256   /* contacts whose journeys are read together */
#define SLA_BATCHES 2   /* batches in flight: one is parsed while Redis serves the other */
/* Journey events read first from a lead entry on: the lead and its response are within
 * them for 98% of the benchmark's leads; the rest read on, four times more each round. */
#define SLA_FIRST 3
#define SLA_PAGE_MAX 256
#define ID_MAX 256 /* longest contact or event id taken from an index */

enum report_kind { REPORT_ATTRIBUTION, REPORT_FUNNEL, REPORT_SLA };

/* One contact's events, parsed from compact records into one owned block. */
struct loaded {
    struct rp_contact c;
    struct rp_event *events;
    char *blob;
};

/* ---- contact table: index members joined by contact id ---- */

#define CT_LEAD 1 /* SLA: entered lead in range */
#define CT_CONV 2 /* SLA: has a conversion in range */

/* Open addressing over entries kept in parallel arrays, so rp_funnel_entries reads `ent`
 * as it is. Ids are stored back to back, NUL-terminated, and found by offset. */
struct ctab {
    char *ids;
    size_t ilen, icap;
    size_t *off;
    struct rp_entries *ent;
    unsigned char *flags;
    size_t n, cap;
    uint32_t *slot; /* entry + 1, 0 = empty */
    size_t nslot;   /* a power of two, more than twice n */
};

static uint64_t id_hash(const char *s, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static void ctab_free(struct ctab *t)
{
    free(t->ids);
    free(t->off);
    free(t->ent);
    free(t->flags);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

static int ctab_rehash(struct ctab *t, size_t nslot)
{
    uint32_t *slot = calloc(nslot, sizeof(*slot));
    if (!slot)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const char *id = t->ids + t->off[i];
        size_t h = (size_t)id_hash(id, strlen(id)) & (nslot - 1);
        while (slot[h])
            h = (h + 1) & (nslot - 1);
        slot[h] = (uint32_t)(i + 1);
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return 0;
}

static int ctab_reserve(struct ctab *t, size_t idlen)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        size_t *off = realloc(t->off, cap * sizeof(*off));
        if (off)
            t->off = off;
        struct rp_entries *ent = off ? realloc(t->ent, cap * sizeof(*ent)) : NULL;
        if (ent)
            t->ent = ent;
        unsigned char *flags = ent ? realloc(t->flags, cap) : NULL;
        if (!flags)
            return -1;
        t->flags = flags;
        t->cap = cap;
    }
    if (t->ilen + idlen + 1 > t->icap) {
        size_t cap = t->icap ? t->icap * 2 : 32768;
        while (cap < t->ilen + idlen + 1)
            cap *= 2;
        char *ids = realloc(t->ids, cap);
        if (!ids)
            return -1;
        t->ids = ids;
        t->icap = cap;
    }
    return 0;
}

/* The entry of contact `id` (len bytes, no NUL) in *out, or SIZE_MAX when it is absent
 * and !create; a new entry has no stage entered and no flag. 0, -1 on allocation
 * failure, -2 when the table already holds REPORT_MAX_CONTACTS contacts. */
static int ctab_get(struct ctab *t, const char *id, size_t len, int create, size_t *out)
{
    *out = SIZE_MAX;
    if (!t->nslot && ctab_rehash(t, 4096))
        return -1;
    size_t mask = t->nslot - 1, h = (size_t)id_hash(id, len) & mask;
    for (uint32_t e; (e = t->slot[h]) != 0; h = (h + 1) & mask) {
        const char *s = t->ids + t->off[e - 1];
        if (strncmp(s, id, len) == 0 && s[len] == '\0') {
            *out = e - 1;
            return 0;
        }
    }
    if (!create)
        return 0;
    if (t->n >= REPORT_MAX_CONTACTS)
        return -2;
    if (ctab_reserve(t, len))
        return -1;
    size_t i = t->n++;
    t->off[i] = t->ilen;
    memcpy(t->ids + t->ilen, id, len);
    t->ids[t->ilen + len] = '\0';
    t->ilen += len + 1;
    for (int s = 0; s <= 6; s++)
        t->ent[i].at[s] = RP_NEVER;
    t->flags[i] = 0;
    t->slot[h] = (uint32_t)(i + 1);
    *out = i;
    if (t->n * 2 > t->nslot && ctab_rehash(t, t->nslot * 2))
        return -1;
    return 0;
}

/* ---- a bump allocator for one SLA batch: its ids and records, freed together ---- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    size_t al = alignof(max_align_t);
    n = (n + al - 1) / al * al;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static char *arena_dup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
}

/* ---- jobs ---- */

struct report_job;

/* One score range of one index, read a page at a time. */
struct zscan {
    struct report_job *j;
    char key[16]; /* jd:st:<rank> or jd:conv */
    int rank;     /* the stage of jd:st:<rank>; 0 for jd:conv */
    int64_t min;  /* the next page starts at this score, inclusive ... */
    int64_t max;  /* ... and ends before this one; INT64_MAX = +inf */
    long skip;    /* members at score `min` already read: ties can cross pages */
};

struct sla_batch;

struct report_job {
    struct jd *jd;
    struct evhttp_request *req;
    enum report_kind kind;
    struct rp_attr_params attr;
    struct rp_funnel_params funnel;
    struct rp_sla_params sla;
    /* Copies of the [sla] targets: a reload may free the config while the job runs. */
    char sla_hours[16], sla_share[16], sla_hours_text[128], sla_leads[16], sla_rate[16];
    int64_t started_us;
    int inflight; /* references: commands sent and not answered, plus the starter's */
    int answered; /* the request has had its reply */
    /* attribution */
    struct rp_attribution *acc;
    char **ids;
    size_t nids, next;
    size_t nevents;
    /* funnel and SLA: phases of index scans and per-contact reads */
    int phase;
    int pending; /* units of the phase not finished: ranges, look-ups, batches */
    int64_t rng[2][2];
    size_t nrng;
    struct zscan scans[SCAN_MAX];
    size_t nscans, next_scan;
    int scanning; /* pages in flight */
    struct ctab tab;
    size_t next_entry;
    struct rp_sla *sla_acc;
    struct sla_batch *batch[SLA_BATCHES];
};

static void sla_batch_free(struct sla_batch *b);

static void job_free(struct report_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    rp_attribution_free(j->acc);
    for (size_t i = 0; i < SLA_BATCHES; i++)
        sla_batch_free(j->batch[i]);
    rp_sla_free(j->sla_acc);
    ctab_free(&j->tab);
    free(j);
}

/* Drops one reference; the last one frees an answered job. */
static void job_release(struct report_job *j)
{
    if (--j->inflight == 0 && j->answered)
        job_free(j);
}

/* Answers with an error once; the job is freed when its last reference goes. */
static void job_fail(struct report_job *j, int status, const char *code, const char *msg)
{
    if (j->answered)
        return;
    j->answered = 1;
    if (status == 503)
        http_reply_unavailable(j->jd, j->req, msg);
    else
        http_reply_error(j->req, status, code, msg);
}

/* Sends one command for the job (arguments are copied at once); cb must end with
 * job_release. 0, or -1 after answering 503 (cb will not run). */
static int job_send(struct report_job *j, rq_reply_cb cb, void *priv, int argc, const char **argv,
                    const size_t *lens)
{
    size_t own[16];
    if (!lens) {
        if (argc > 16) {
            job_fail(j, 503, "unavailable", "internal error");
            return -1;
        }
        for (int i = 0; i < argc; i++)
            own[i] = strlen(argv[i]);
        lens = own;
    }
    if (rq_command(j->jd->rq_api, 0, cb, priv, argc, argv, lens) != 0) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return -1;
    }
    j->inflight++;
    return 0;
}

/* 1 when the job still waits and the reply is the array it asked for; else 0, and a job
 * still waiting is answered 503. */
static int job_array_reply(struct report_job *j, const redisReply *r)
{
    if (j->answered)
        return 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return 0;
    }
    return 1;
}

static int job_eval(struct report_job *j, rq_reply_cb cb, int argc, const char **argv,
                    const size_t *lens)
{
    if (rq_eval(j->jd->rq_api, JD_SCRIPT_REPORT, 0, cb, j, 0, argc, argv, lens) != 0) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return -1;
    }
    j->inflight++;
    return 0;
}

static void finish(struct report_job *j, cJSON *answer, size_t contacts)
{
    if (j->answered) {
        cJSON_Delete(answer);
        return;
    }
    if (!answer) {
        job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    jlog(JLOG_DEBUG, "msg=report kind=%d contacts=%zu events=%zu ms=%lld", (int)j->kind, contacts,
         j->nevents, (long long)((jd_mono_us() - j->started_us) / 1000));
    j->answered = 1;
    http_reply_json(j->req, 200, answer);
}

/* ---- query parsing ---- */

/* "90d", "36h", "45m", "600s" → ms. */
static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t unit = *end == 'd' ? DAY_MS : *end == 'h' ? 3600000 : *end == 'm' ? 60000 : 1000;
    if (end == s || v <= 0 || v > 3650LL * 86400 || (*end && end[1]) ||
        (*end && !strchr("dhms", *end)))
        return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

/* from/to: RFC 3339 instants; absent = open. from must be before to. */
static const char *parse_range(const struct cx_form *q, int required, int64_t *from, int64_t *to)
{
    const char *f = cx_form_get(q, "from"), *t = cx_form_get(q, "to");
    *from = INT64_MIN;
    *to = INT64_MAX;
    if (required && (!f || !t))
        return "from and to are required (RFC 3339 instants)";
    if (f && cx_parse_rfc3339(f, from) != 0)
        return "from is not an RFC 3339 instant";
    if (t && cx_parse_rfc3339(t, to) != 0)
        return "to is not an RFC 3339 instant";
    if (*from >= *to)
        return "from must be before to";
    return NULL;
}

static int64_t local_ms(struct tm *tm)
{
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    return t == (time_t)-1 ? INT64_MIN : (int64_t)t * 1000;
}

/* A period label (2026-09, 2026-W40, 2026-09-15) → its [start, end) in the configured
 * time zone, for compare=. */
static int period_range(const char *label, enum rp_period by, int64_t *start, int64_t *end)
{
    struct tm a = {0}, b;
    int y, m, d, w;
    char tail;
    if (by == RP_MONTH && sscanf(label, "%4d-%2d%c", &y, &m, &tail) == 2 && m >= 1 && m <= 12) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = 1;
        b = a;
        b.tm_mon += 1;
    } else if (by == RP_DAY && sscanf(label, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
               m <= 12 && d >= 1 && d <= 31) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = d;
        b = a;
        b.tm_mday += 1;
    } else if (by == RP_WEEK && sscanf(label, "%4d-W%2d%c", &y, &w, &tail) == 2 && w >= 1 &&
               w <= 53) {
        /* ISO week 1 holds January 4th; weeks start on Monday. */
        a.tm_year = y - 1900;
        a.tm_mday = 4;
        a.tm_hour = 12;
        a.tm_isdst = -1;
        if (mktime(&a) == (time_t)-1)
            return -1;
        int back = (a.tm_wday + 6) % 7;
        a.tm_mday = 4 - back + (w - 1) * 7;
        a.tm_hour = 0;
        a.tm_mon = 0;
        b = a;
        b.tm_mday += 7;
    } else {
        return -1;
    }
    *start = local_ms(&a);
    *end = local_ms(&b);
    return *start == INT64_MIN || *end == INT64_MIN || *start >= *end ? -1 : 0;
}

/* ---- compact records ---- */

/* A compact record (connectors/record.h) into e; rec is cut in place and e points into
 * it. */
static void parse_record(char *rec, struct rp_event *e)
{
    struct cx_record r;
    cx_record_decode(rec, &r);
    e->kind = r.kind;
    e->stage = r.stage;
    e->source_type = r.type;
    e->is_touch = r.touch;
    e->channel = r.channel;
    e->source = r.source;
    e->campaign = r.campaign;
    e->ad = r.ad;
    e->payment_key = r.payment_key;
    e->has_amount = r.has_amount;
    if (r.has_amount) {
        e->amount_minor = r.amount_minor;
        memcpy(e->currency, r.currency, 4);
    }
}

/* A score as Redis prints it (%.17g) → whole milliseconds. Every score of the report
 * indexes is an event's at_ms; anything else is an unexpected store answer (-1). */
static int parse_score(const char *s, size_t len, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (len && end == s + len && errno == 0) {
        *out = v;
        return 0;
    }
    double d = strtod(s, &end);
    if (end != s + len || !(d >= -9007199254740992.0 && d <= 9007199254740992.0) ||
        d != (double)(int64_t)d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* An id member of an index reply: a string of sane length without NUL. */
static int is_id(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING && r->len > 0 && r->len <= ID_MAX &&
           !memchr(r->str, '\0', r->len);
}

/* ---- attribution: the contacts with conversions, their touches a batch at a time ---- */

static void load_next(struct report_job *j);
static void on_spend(struct rq_client *c, const redisReply *r, void *priv);

/* {cid, "id\x1eat\x1erecord\x1d…"} → one owned rp_contact (report.lua's "touches" form). */
static int parse_contact(const redisReply *r, struct loaded *out)
{
    memset(out, 0, sizeof(*out));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    const redisReply *cid = r->element[0], *evs = r->element[1];
    size_t n = evs->len ? 1 : 0;
    for (size_t i = 0; i < evs->len; i++)
        n += evs->str[i] == '\x1d';
    out->blob = malloc(cid->len + 1 + evs->len + 1);
    out->events = calloc(n ? n : 1, sizeof(*out->events));
    if (!out->blob || !out->events)
        return -1;
    memcpy(out->blob, cid->str, cid->len + 1);
    out->c.id = out->blob;
    char *b = out->blob + cid->len + 1;
    memcpy(b, evs->str, evs->len + 1);
    size_t k = 0;
    for (char *next = evs->len ? b : NULL; next && k < n;) {
        char *item = next;
        char *end = strchr(item, '\x1d');
        if (end) {
            *end = '\0';
            next = end + 1;
        } else {
            next = NULL;
        }
        char *at = strchr(item, '\x1e');
        char *p = at ? strchr(at + 1, '\x1e') : NULL;
        if (!p)
            continue;
        *at++ = '\0';
        *p++ = '\0';
        struct rp_event *e = &out->events[k];
        e->id = item;
        e->at_ms = strtoll(at, NULL, 10);
        parse_record(p, e);
        k++;
    }
    out->c.events = out->events;
    out->c.n = k;
    return 0;
}

static void on_data(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i < r->elements; i++) {
        struct loaded l;
        if (parse_contact(r->element[i], &l) != 0) {
            free(l.events);
            free(l.blob);
            job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
        j->nevents += l.c.n;
        int rc = rp_attribution_add(j->acc, &l.c);
        free(l.events);
        free(l.blob);
        if (rc == -2) {
            job_fail(j, 422, "too_large", "too many report keys: group by a coarser key");
            goto out;
        }
        if (rc != 0) {
            job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
            goto out;
        }
    }
    load_next(j);
out:
    job_release(j);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_next(struct report_job *j)
{
    if (j->next >= j->nids) {
        finish(j, rp_attribution_json(j->acc), j->nids);
        return;
    }
    const char *argv[1 + REPORT_BATCH];
    size_t lens[1 + REPORT_BATCH];
    int argc = 0;
    /* Attribution reads only the touches and conversions it uses. */
    argv[argc] = "touches";
    lens[argc] = strlen(argv[argc]);
    argc++;
    while (j->next < j->nids && argc <= REPORT_BATCH) {
        /* Skip ids already asked for: a merge between index and data reads may name one
         * survivor twice (the list is sorted, so duplicates are neighbours). */
        if (j->next > 0 && strcmp(j->ids[j->next], j->ids[j->next - 1]) == 0) {
            j->next++;
            continue;
        }
        argv[argc] = j->ids[j->next];
        lens[argc++] = strlen(j->ids[j->next]);
        j->next++;
    }
    (void)job_eval(j, on_data, argc, argv, lens);
}

static void on_index(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!job_array_reply(j, r))
        goto out;
    if (r->elements > REPORT_MAX_CONTACTS) {
        job_fail(j, 422, "too_large", "the range holds too many contacts: narrow from/to");
        goto out;
    }
    j->ids = calloc(r->elements ? r->elements : 1, sizeof(*j->ids));
    if (!j->ids) {
        job_fail(j, 503, "unavailable", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (!(j->ids[j->nids] = strdup(r->element[i]->str))) {
            job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
        j->nids++;
    }
    qsort(j->ids, j->nids, sizeof(*j->ids), cmp_str);
    load_next(j);
out:
    job_release(j);
}

/* ---- funnel and SLA: stage index scans joined by contact id ---- */

enum { PH_FIRST = 1, PH_SECOND }; /* j->phase */

static void phase_done(struct report_job *j);
static void sla_pump(struct report_job *j);

static int scan_add(struct report_job *j, int rank, int64_t min, int64_t max)
{
    if (min >= max)
        return 0;
    if (j->nscans == SCAN_MAX)
        return -1;
    struct zscan *s = &j->scans[j->nscans++];
    memset(s, 0, sizeof(*s));
    s->j = j;
    s->rank = rank;
    if (rank)
        snprintf(s->key, sizeof(s->key), "jd:st:%d", rank);
    else
        snprintf(s->key, sizeof(s->key), "jd:conv");
    s->min = min;
    s->max = max;
    return 0;
}

/* [min, max) as SCAN_SPLIT ranges of equal width, read side by side: one range's pages
 * follow each other (the next starts where the last ended), so parallel ranges are what
 * keeps Redis busy while we parse. Short ranges stay whole. */
static int scan_add_split(struct report_job *j, int rank, int64_t min, int64_t max)
{
    if (min >= max)
        return 0;
    uint64_t width = ((uint64_t)max - (uint64_t)min) / SCAN_SPLIT;
    if (width < 1000)
        return scan_add(j, rank, min, max);
    for (int i = 0; i < SCAN_SPLIT; i++) {
        int64_t a = (int64_t)((uint64_t)min + width * (uint64_t)i);
        int64_t b =
            i + 1 == SCAN_SPLIT ? max : (int64_t)((uint64_t)min + width * (uint64_t)(i + 1));
        if (scan_add(j, rank, a, b))
            return -1;
    }
    return 0;
}

static void on_scan(struct rq_client *c, const redisReply *r, void *priv);

static void scan_send(struct zscan *s)
{
    char min[24], max[24], skip[24], page[16];
    snprintf(min, sizeof(min), "%lld", (long long)s->min);
    if (s->max == INT64_MAX)
        snprintf(max, sizeof(max), "+inf");
    else
        snprintf(max, sizeof(max), "(%lld", (long long)s->max);
    snprintf(skip, sizeof(skip), "%ld", s->skip);
    snprintf(page, sizeof(page), "%d", SCAN_PAGE);
    const char *argv[8] = {"ZRANGEBYSCORE", s->key, min, max, "WITHSCORES", "LIMIT", skip, page};
    if (job_send(s->j, on_scan, s, 8, argv, NULL) == 0)
        s->j->scanning++;
}

/* Starts the phase's ranges that have not started, SCAN_PARALLEL pages at most. */
static void scans_pump(struct report_job *j)
{
    while (!j->answered && j->scanning < SCAN_PARALLEL && j->next_scan < j->nscans)
        scan_send(&j->scans[j->next_scan++]);
}

/* Begins a phase of scans (added with scan_add*) and possibly other units. */
static void scans_start(struct report_job *j)
{
    j->pending += (int)j->nscans;
    if (j->pending == 0) {
        phase_done(j);
        return;
    }
    scans_pump(j);
}

static void on_evc(struct rq_client *c, const redisReply *r, void *priv);

/* One member of a page: what it means depends on the report and the phase. */
static int scan_member(struct report_job *j, const struct zscan *s, const redisReply *m, int64_t at)
{
    size_t e;
    int create = !(j->kind == REPORT_FUNNEL && !j->funnel.activity && j->phase == PH_SECOND);
    int rc = ctab_get(&j->tab, m->str, m->len, create, &e);
    if (rc == -2) {
        job_fail(j, 422, "too_large", "the range holds too many contacts: narrow from/to");
        return -1;
    }
    if (rc) {
        job_fail(j, 503, "unavailable", "out of memory");
        return -1;
    }
    if (e == SIZE_MAX)
        return 0; /* cohort: a later stage of a contact outside every cohort */
    /* One member per contact in an index; should a concurrent write show one twice, the
     * earlier entry is the one the index holds now. */
    if (at < j->tab.ent[e].at[s->rank])
        j->tab.ent[e].at[s->rank] = at;
    if (j->kind == REPORT_SLA)
        j->tab.flags[e] |= CT_LEAD;
    return 0;
}

static void scan_page(struct zscan *s, const redisReply *r)
{
    struct report_job *j = s->j;
    const char *argv[2 + SCAN_PAGE];
    size_t lens[2 + SCAN_PAGE];
    int argc = 2;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2 || r->elements > 2 * SCAN_PAGE) {
        job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    size_t n = r->elements / 2;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = r->element[2 * i], *sc = r->element[2 * i + 1];
        int64_t at;
        if (!is_id(m) || sc->type != REDIS_REPLY_STRING || parse_score(sc->str, sc->len, &at)) {
            job_fail(j, 503, "unavailable", "unexpected store answer");
            return;
        }
        if (at == s->min) {
            s->skip++;
        } else {
            s->min = at;
            s->skip = 1;
        }
        if (s->rank == 0) {
            /* jd:conv members are event ids: their contacts come from jd:evc. */
            argv[argc] = m->str;
            lens[argc++] = m->len;
        } else if (scan_member(j, s, m, at)) {
            return;
        }
    }
    if (argc > 2) {
        argv[0] = "HMGET";
        argv[1] = "jd:evc";
        for (int i = 0; i < 2; i++)
            lens[i] = strlen(argv[i]);
        if (job_send(j, on_evc, j, argc, argv, lens))
            return;
        j->pending++;
    }
    j->scanning--;
    if (n == SCAN_PAGE) {
        scan_send(s); /* the range goes on where this page ended */
        return;
    }
    j->pending--;
    scans_pump(j);
    if (j->pending == 0)
        phase_done(j);
}

static void on_scan(struct rq_client *c, const redisReply *r, void *priv)
{
    struct zscan *s = priv;
    struct report_job *j = s->j;
    (void)c;
    if (!j->answered)
        scan_page(s, r);
    job_release(j);
}

/* SLA: the contacts of a page of conversions. */
static void on_evc(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i < r->elements; i++) {
        size_t e;
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue; /* erased since the index was read */
        if (!is_id(r->element[i])) {
            job_fail(j, 503, "unavailable", "unexpected store answer");
            goto out;
        }
        int rc = ctab_get(&j->tab, r->element[i]->str, r->element[i]->len, 1, &e);
        if (rc) {
            job_fail(j, rc == -2 ? 422 : 503, rc == -2 ? "too_large" : "unavailable",
                     rc == -2 ? "the range holds too many contacts: narrow from/to"
                              : "out of memory");
            goto out;
        }
        j->tab.flags[e] |= CT_CONV;
    }
    if (--j->pending == 0)
        phase_done(j);
out:
    job_release(j);
}

/* ---- funnel, activity view: the lead entries of contacts that entered a later stage
 * in range after a lead entry outside it (ZMSCORE of jd:st:2, MULTI_MAX at a time) ---- */

struct missing_req {
    struct report_job *j;
    size_t n;
    size_t entry[MULTI_MAX];
};

static void on_missing(struct rq_client *c, const redisReply *r, void *priv);

static void missing_next(struct report_job *j)
{
    struct ctab *t = &j->tab;
    struct missing_req *q = malloc(sizeof(*q));
    const char *argv[2 + MULTI_MAX];
    size_t lens[2 + MULTI_MAX];
    if (!q) {
        job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    q->j = j;
    q->n = 0;
    for (; j->next_entry < t->n && q->n < MULTI_MAX; j->next_entry++) {
        size_t e = j->next_entry;
        if (t->ent[e].at[2] != RP_NEVER)
            continue;
        argv[2 + q->n] = t->ids + t->off[e];
        lens[2 + q->n] = strlen(argv[2 + q->n]);
        q->entry[q->n++] = e;
    }
    if (q->n == 0) {
        free(q);
        phase_done(j);
        return;
    }
    argv[0] = "ZMSCORE";
    argv[1] = "jd:st:2";
    lens[0] = 7;
    lens[1] = 7;
    if (job_send(j, on_missing, q, 2 + (int)q->n, argv, lens))
        free(q);
}

static void on_missing(struct rq_client *c, const redisReply *r, void *priv)
{
    struct missing_req *q = priv;
    struct report_job *j = q->j;
    (void)c;
    if (j->answered)
        goto out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != q->n) {
        job_fail(j, 503, "unavailable", "store unavailable");
        goto out;
    }
    for (size_t i = 0; i < q->n; i++) {
        const redisReply *sc = r->element[i];
        int64_t at;
        if (sc->type != REDIS_REPLY_STRING)
            continue; /* merged or erased since: no lead entry, the funnel skips it */
        if (parse_score(sc->str, sc->len, &at)) {
            job_fail(j, 503, "unavailable", "unexpected store answer");
            goto out;
        }
        j->tab.ent[q->entry[i]].at[2] = at;
    }
    missing_next(j);
out:
    free(q);
    job_release(j);
}

/* ---- phases ---- */

/* The funnel reads [from, to) and the compared period (the only ranges rp_funnel_entries
 * counts in: periods are clipped to [from, to), the compared one is taken whole), as one
 * range when they touch. */
static void funnel_ranges(struct report_job *j)
{
    const struct rp_funnel_params *p = &j->funnel;
    j->nrng = 1;
    j->rng[0][0] = p->from_ms;
    j->rng[0][1] = p->to_ms;
    if (!p->has_compare || p->compare_from_ms >= p->compare_to_ms)
        return;
    int64_t a = p->compare_from_ms, b = p->compare_to_ms;
    if (a <= p->to_ms && b >= p->from_ms) {
        j->rng[0][0] = a < p->from_ms ? a : p->from_ms;
        j->rng[0][1] = b > p->to_ms ? b : p->to_ms;
        return;
    }
    /* In score order: the cohort's later stages are read from the earliest range on. */
    j->nrng = 2;
    j->rng[1][0] = a;
    j->rng[1][1] = b;
    if (a < p->from_ms) {
        j->rng[1][0] = p->from_ms;
        j->rng[1][1] = p->to_ms;
        j->rng[0][0] = a;
        j->rng[0][1] = b;
    }
}

static void phase_done(struct report_job *j)
{
    if (j->answered)
        return;
    j->nscans = 0;
    j->next_scan = 0;
    j->pending = 0;
    if (j->phase == PH_FIRST && j->kind == REPORT_FUNNEL && !j->funnel.activity) {
        /* Cohort: every later stage of the cohort's contacts, even after `to`. Their
         * entries are at or after their lead entry (apply.lua: e<s> is the earliest event
         * at stage s or higher, a subset of those at lead or higher), so never before the
         * earliest range. */
        int64_t lo = j->rng[0][0], hi = j->rng[j->nrng - 1][1];
        j->phase = PH_SECOND;
        for (int rank = 3; rank <= 6 && j->tab.n; rank++)
            if (scan_add_split(j, rank, lo, hi) || scan_add(j, rank, hi, INT64_MAX)) {
                job_fail(j, 503, "unavailable", "internal error");
                return;
            }
        scans_start(j);
        return;
    }
    if (j->phase == PH_FIRST && j->kind == REPORT_FUNNEL) {
        /* Activity: the lead entry is the base of every median, also when it lies before
         * the ranges read. */
        j->phase = PH_SECOND;
        j->next_entry = 0;
        missing_next(j);
        return;
    }
    if (j->phase == PH_FIRST && j->kind == REPORT_SLA) {
        j->phase = PH_SECOND;
        j->next_entry = 0;
        sla_pump(j);
        return;
    }
    if (j->kind == REPORT_FUNNEL)
        finish(j, rp_funnel_entries(j->tab.ent, j->tab.n, &j->funnel), j->tab.n);
    else
        finish(j, rp_sla_json(j->sla_acc), j->tab.n);
}

/* ---- SLA: per contact, what rp_sla reads (report.h), a batch of contacts at a time ---- */

enum { SRC_J, SRC_A }; /* journey from the lead entry on; touches and conversions */

struct evlist {
    struct rp_event *v;
    size_t n, cap;
};

struct sla_item;

struct sla_ref { /* privdata of one journey read */
    struct sla_item *it;
    int src;
};

struct sla_item {
    struct sla_batch *b;
    size_t entry; /* in the contact table */
    struct evlist ev[2];
    long read[2]; /* members read so far: the next page's offset */
    long ask[2];  /* the next page's size */
    long got[2];  /* members this round's page held */
    int sent[2], done[2];
    int qualified; /* entered qualified (a member of jd:st:3) */
    struct sla_ref ref[2];
};

struct sla_pend { /* a member read this round, waiting for its record */
    struct sla_item *it;
    int src;
    const char *id;
    int64_t at;
};

struct sla_chunk { /* privdata of one HMGET of records */
    struct sla_batch *b;
    size_t first, n;
};

struct sla_batch {
    struct report_job *j;
    size_t slot; /* in j->batch */
    struct sla_item items[SLA_BATCH];
    size_t nitems;
    int outstanding; /* commands of the current step */
    struct sla_pend *pend;
    size_t npend, cpend;
    int records_asked; /* this round's records are asked for */
    size_t nevents;
    struct arena mem;
};

static void sla_batch_free(struct sla_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nitems; i++)
        for (int s = 0; s < 2; s++)
            free(b->items[i].ev[s].v);
    free(b->pend);
    arena_free(&b->mem);
    free(b);
}

/* Frees a batch whose job has answered (failed) once its last command is back. */
static void sla_batch_drop(struct sla_batch *b)
{
    if (b->outstanding == 0) {
        b->j->batch[b->slot] = NULL;
        sla_batch_free(b);
    }
}

static void on_journey(struct rq_client *c, const redisReply *r, void *priv);
static void on_qualified(struct rq_client *c, const redisReply *r, void *priv);
static void on_records(struct rq_client *c, const redisReply *r, void *priv);
static void sla_step(struct sla_batch *b);
static void sla_batch_end(struct sla_batch *b);

static int batch_send(struct sla_batch *b, rq_reply_cb cb, void *priv, int argc, const char **argv,
                      const size_t *lens)
{
    if (job_send(b->j, cb, priv, argc, argv, lens))
        return -1;
    b->outstanding++;
    return 0;
}

/* One round: the next page of every read not done; on the first, also which leads
 * entered qualified. */
static void sla_round(struct sla_batch *b, int first)
{
    struct report_job *j = b->j;
    char key[ID_MAX + 16], min[24], max[24], off[24], cnt[24];
    for (size_t i = 0; i < b->nitems; i++) {
        struct sla_item *it = &b->items[i];
        const char *cid = j->tab.ids + j->tab.off[it->entry];
        for (int s = 0; s < 2; s++) {
            it->sent[s] = 0;
            if (it->done[s])
                continue;
            snprintf(key, sizeof(key), "jd:c:%s:%s", cid, s == SRC_J ? "j" : "a");
            if (s == SRC_J) {
                /* From the lead entry on (all events at or after its time). */
                snprintf(min, sizeof(min), "%lld", (long long)j->tab.ent[it->entry].at[2]);
                snprintf(max, sizeof(max), "+inf");
            } else {
                /* Payments and refunds before `to`: the range's and the earlier ones
                 * whose payment keys those may repeat. */
                snprintf(min, sizeof(min), "-inf");
                snprintf(max, sizeof(max), "(%lld", (long long)j->sla.to_ms);
            }
            snprintf(off, sizeof(off), "%ld", it->read[s]);
            snprintf(cnt, sizeof(cnt), "%ld", it->ask[s]);
            const char *argv[8] = {"ZRANGEBYSCORE", key, min, max, "WITHSCORES", "LIMIT", off, cnt};
            if (batch_send(b, on_journey, &it->ref[s], 8, argv, NULL))
                return;
            it->sent[s] = 1;
        }
    }
    if (!first)
        return;
    const char *argv[2 + SLA_BATCH];
    size_t lens[2 + SLA_BATCH];
    int argc = 2;
    for (size_t i = 0; i < b->nitems; i++)
        if (j->tab.flags[b->items[i].entry] & CT_LEAD) {
            argv[argc] = j->tab.ids + j->tab.off[b->items[i].entry];
            lens[argc] = strlen(argv[argc]);
            argc++;
        }
    if (argc == 2)
        return;
    argv[0] = "ZMSCORE";
    argv[1] = "jd:st:3";
    lens[0] = 7;
    lens[1] = 7;
    (void)batch_send(b, on_qualified, b, argc, argv, lens);
}

/* The next SLA_BATCH contacts of the table, while fewer than SLA_BATCHES run. */
static void sla_pump(struct report_job *j)
{
    for (size_t slot = 0; slot < SLA_BATCHES && !j->answered; slot++) {
        if (j->batch[slot])
            continue;
        if (j->next_entry >= j->tab.n)
            break;
        struct sla_batch *b = calloc(1, sizeof(*b));
        if (!b) {
            job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
        b->j = j;
        b->slot = slot;
        j->batch[slot] = b;
        j->pending++;
        for (; j->next_entry < j->tab.n && b->nitems < SLA_BATCH; j->next_entry++) {
            struct sla_item *it = &b->items[b->nitems++];
            unsigned char f = j->tab.flags[j->next_entry];
            it->b = b;
            it->entry = j->next_entry;
            it->done[SRC_J] = !(f & CT_LEAD);
            it->done[SRC_A] = !(f & CT_CONV);
            it->ask[SRC_J] = SLA_FIRST;
            it->ask[SRC_A] = SLA_PAGE_MAX;
            for (int s = 0; s < 2; s++) {
                it->ref[s].it = it;
                it->ref[s].src = s;
            }
        }
        sla_round(b, 1);
        /* Every contact of the table has something to read (it is a lead or a converter,
         * or it would not be there); should none, the batch ends here, not never. */
        if (!j->answered && b->outstanding == 0)
            sla_step(b);
    }
    if (!j->answered && j->pending == 0)
        phase_done(j);
}

static void on_journey(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_ref *ref = priv;
    struct sla_item *it = ref->it;
    struct sla_batch *b = it->b;
    struct report_job *j = b->j;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    it->got[ref->src] = (long)(r->elements / 2);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *m = r->element[i], *sc = r->element[i + 1];
        int64_t at;
        if (!is_id(m) || sc->type != REDIS_REPLY_STRING || parse_score(sc->str, sc->len, &at)) {
            job_fail(j, 503, "unavailable", "unexpected store answer");
            sla_batch_drop(b);
            goto out;
        }
        if (b->npend == b->cpend) {
            size_t cap = b->cpend ? b->cpend * 2 : 1024;
            struct sla_pend *p = realloc(b->pend, cap * sizeof(*p));
            if (!p) {
                job_fail(j, 503, "unavailable", "out of memory");
                sla_batch_drop(b);
                goto out;
            }
            b->pend = p;
            b->cpend = cap;
        }
        struct sla_pend *p = &b->pend[b->npend];
        if (!(p->id = arena_dup(&b->mem, m->str, m->len))) {
            job_fail(j, 503, "unavailable", "out of memory");
            sla_batch_drop(b);
            goto out;
        }
        p->it = it;
        p->src = ref->src;
        p->at = at;
        b->npend++;
    }
    if (b->outstanding == 0)
        sla_step(b);
out:
    job_release(j);
}

static void on_qualified(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_batch *b = priv;
    struct report_job *j = b->j;
    size_t k = 0;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    for (size_t i = 0; i < b->nitems; i++)
        if (j->tab.flags[b->items[i].entry] & CT_LEAD) {
            if (k >= r->elements) {
                job_fail(j, 503, "unavailable", "unexpected store answer");
                sla_batch_drop(b);
                goto out;
            }
            b->items[i].qualified = r->element[k++]->type == REDIS_REPLY_STRING;
        }
    if (b->outstanding == 0)
        sla_step(b);
out:
    job_release(j);
}

static int grow_events(struct evlist *l)
{
    size_t cap = l->cap ? l->cap * 2 : 8;
    struct rp_event *v = realloc(l->v, cap * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    l->cap = cap;
    return 0;
}

/* The records of this round's members. */
static void on_records(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_chunk *ch = priv;
    struct sla_batch *b = ch->b;
    struct report_job *j = b->j;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != ch->n) {
        job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    for (size_t k = 0; k < ch->n; k++) {
        const redisReply *rec = r->element[k];
        const struct sla_pend *p = &b->pend[ch->first + k];
        if (rec->type != REDIS_REPLY_STRING)
            continue; /* erased since the journey was read */
        char *copy = arena_dup(&b->mem, rec->str, rec->len);
        struct evlist *l = &p->it->ev[p->src];
        if (!copy || (l->n == l->cap && grow_events(l))) {
            job_fail(j, 503, "unavailable", "out of memory");
            sla_batch_drop(b);
            goto out;
        }
        struct rp_event *e = &l->v[l->n];
        memset(e, 0, sizeof(*e));
        e->id = p->id;
        e->at_ms = p->at;
        parse_record(copy, e);
        /* Of the touches and conversions only the conversions: a touch without the rest
         * of its journey could pose as the lead (report.h: what rp_sla needs). */
        if (p->src == SRC_A && strcmp(e->kind, "payment") != 0 && strcmp(e->kind, "refund") != 0)
            continue;
        l->n++;
        if (++b->nevents > REPORT_MAX_EVENTS) {
            job_fail(j, 422, "too_large", "the range holds too many events: narrow from/to");
            sla_batch_drop(b);
            goto out;
        }
    }
    if (b->outstanding == 0)
        sla_step(b);
out:
    job_release(j);
}

/* Called when every command of a step is back: after the pages of a round, asks for
 * their records; after the records, decides what is left to read. */
static void sla_step(struct sla_batch *b)
{
    struct report_job *j = b->j;
    if (b->npend && !b->records_asked) {
        b->records_asked = 1;
        for (size_t first = 0; first < b->npend; first += MULTI_MAX) {
            struct sla_chunk *ch = arena_alloc(&b->mem, sizeof(*ch));
            const char *argv[2 + MULTI_MAX];
            size_t lens[2 + MULTI_MAX];
            if (!ch) {
                job_fail(j, 503, "unavailable", "out of memory");
                sla_batch_drop(b);
                return;
            }
            ch->b = b;
            ch->first = first;
            ch->n = b->npend - first < MULTI_MAX ? b->npend - first : MULTI_MAX;
            argv[0] = "HMGET";
            argv[1] = "jd:evr";
            lens[0] = 5;
            lens[1] = 6;
            for (size_t k = 0; k < ch->n; k++) {
                argv[2 + k] = b->pend[first + k].id;
                lens[2 + k] = strlen(argv[2 + k]);
            }
            if (batch_send(b, on_records, ch, 2 + (int)ch->n, argv, lens)) {
                sla_batch_drop(b);
                return;
            }
        }
        return;
    }
    b->npend = 0;
    b->records_asked = 0;
    int more = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        struct sla_item *it = &b->items[i];
        for (int s = 0; s < 2; s++) {
            if (!it->sent[s])
                continue;
            it->read[s] += it->got[s];
            if (it->got[s] < it->ask[s])
                it->done[s] = 1; /* the end of the journey, or of its part before `to` */
            else if (s == SRC_J)
                it->done[s] = rp_sla_slice_done(it->ev[s].v, it->ev[s].n, it->qualified);
            it->got[s] = 0;
            if (!it->done[s]) {
                it->ask[s] = it->ask[s] * 4 < SLA_PAGE_MAX ? it->ask[s] * 4 : SLA_PAGE_MAX;
                more = 1;
            }
        }
    }
    if (more) {
        sla_round(b, 0);
        if (b->outstanding == 0 && j->answered)
            sla_batch_drop(b);
        return;
    }
    sla_batch_end(b);
}

static int ev_cmp(const void *pa, const void *pb)
{
    const struct rp_event *a = pa, *b = pb;
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* Every read of the batch is done: each contact's events (its journey slice and its
 * conversions, an event read both ways once) go to the scorecard; the next batch starts. */
static void sla_batch_end(struct sla_batch *b)
{
    struct report_job *j = b->j;
    struct rp_event *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < b->nitems && !j->answered; i++) {
        struct sla_item *it = &b->items[i];
        size_t n = it->ev[SRC_J].n + it->ev[SRC_A].n, k = 0;
        if (n > cap) {
            struct rp_event *nv = realloc(v, n * sizeof(*nv));
            if (!nv) {
                job_fail(j, 503, "unavailable", "out of memory");
                break;
            }
            v = nv;
            cap = n;
        }
        for (int s = 0; s < 2; s++)
            for (size_t e = 0; e < it->ev[s].n; e++)
                v[k++] = it->ev[s].v[e];
        if (k > 1)
            qsort(v, k, sizeof(*v), ev_cmp);
        size_t m = 0;
        for (size_t e = 0; e < k; e++)
            if (m == 0 || ev_cmp(&v[m - 1], &v[e]) != 0)
                v[m++] = v[e];
        struct rp_contact c = {j->tab.ids + j->tab.off[it->entry], v, m};
        j->nevents += m;
        if (rp_sla_add(j->sla_acc, &c)) {
            job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
            break;
        }
    }
    free(v);
    j->batch[b->slot] = NULL;
    sla_batch_free(b);
    if (j->answered)
        return;
    j->pending--;
    sla_pump(j);
}

static struct report_job *new_job(struct jd *jd, struct evhttp_request *req, enum report_kind k)
{
    struct report_job *j = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*j)) : NULL;
    if (!j) {
        http_reply_unavailable(jd, req, "store unavailable");
        return NULL;
    }
    j->jd = jd;
    j->req = req;
    j->kind = k;
    j->started_us = jd_mono_us();
    j->inflight = 1; /* the handler's, dropped when it has started the job */
    return j;
}

static int parse_query(struct evhttp_request *req, struct cx_form *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    memset(q, 0, sizeof(*q));
    if (!query)
        return 0;
    return cx_form_parse(q, query, strlen(query));
}

/* GET /v1/reports/attribution?model=&from=&to=&by=&lookback=&half_life= */
void api_handle_attribution(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_attr_params p = {
        .model = RP_LINEAR,
        .by = RP_BY_CHANNEL,
        .lookback_ms = jd->cfg->attribution_lookback_ms,
        .half_life_ms = jd->cfg->attribution_half_life_ms,
    };
    const char *bad = NULL, *v;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "model")) && rp_parse_model(v, &p.model) != 0)
        bad = "unknown model: expected first_touch, last_touch, linear, position or time_decay";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_key(v, &p.by) != 0)
        bad = "unknown by: expected channel, source, campaign or ad";
    else if ((v = cx_form_get(&q, "lookback")) && parse_duration(v, &p.lookback_ms) != 0)
        bad = "lookback: expected a duration such as 90d";
    else if ((v = cx_form_get(&q, "half_life")) && parse_duration(v, &p.half_life_ms) != 0)
        bad = "half_life: expected a duration such as 7d";
    else
        bad = parse_range(&q, 0, &p.from_ms, &p.to_ms);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_ATTRIBUTION);
    if (!j)
        return;
    j->attr = p;
    j->acc = rp_attribution_new(&j->attr, 100000);
    if (!j->acc) {
        job_fail(j, 503, "unavailable", "out of memory");
        job_release(j);
        return;
    }
    /* Spend first (small), then the contacts with conversions in range. */
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)p.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)p.to_ms);
    const char *argv[3] = {"conv", from, to};
    size_t lens[3] = {4, strlen(from), strlen(to)};
    if (p.by == RP_BY_CAMPAIGN || p.by == RP_BY_SOURCE) {
        argv[0] = "spend";
        lens[0] = 5;
        (void)job_eval(j, on_spend, 3, argv, lens);
    } else {
        (void)job_eval(j, on_index, 3, argv, lens);
    }
    job_release(j);
}

/* Spend rows "<date>\t<source>\t<campaign>" → "<minor>\t<currency>", summed per key. */
static void on_spend(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        const char *t1 = k ? strchr(k, '\t') : NULL, *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        const char *vt = v ? strchr(v, '\t') : NULL;
        if (!t2 || !vt)
            continue;
        char key[CX_TEXT_MAX];
        if (j->attr.by == RP_BY_SOURCE)
            snprintf(key, sizeof(key), "%.*s", (int)(t2 - t1 - 1), t1 + 1);
        else
            snprintf(key, sizeof(key), "%s", t2 + 1);
        if (rp_attribution_add_spend(j->acc, key, vt + 1, strtoll(v, NULL, 10)) != 0) {
            job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
    }
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)j->attr.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)j->attr.to_ms);
    const char *argv[3] = {"conv", from, to};
    size_t lens[3] = {4, strlen(from), strlen(to)};
    (void)job_eval(j, on_index, 3, argv, lens);
out:
    job_release(j);
}

/* GET /v1/reports/funnel?from=&to=&by=&view=&compare= */
void api_handle_funnel(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_funnel_params p = {.by = RP_MONTH};
    const char *bad = NULL, *v;
    if (parse_query(req, &q) != 0)
        bad = "malformed query string";
    else if ((v = cx_form_get(&q, "by")) && rp_parse_period(v, &p.by) != 0)
        bad = "unknown by: expected day, week or month";
    else if ((v = cx_form_get(&q, "view")) && strcmp(v, "cohort") != 0 &&
             strcmp(v, "activity") != 0)
        bad = "unknown view: expected cohort or activity";
    else if (!(bad = parse_range(&q, 1, &p.from_ms, &p.to_ms))) {
        p.activity = (v = cx_form_get(&q, "view")) && strcmp(v, "activity") == 0;
        if ((v = cx_form_get(&q, "compare"))) {
            p.has_compare = 1;
            if (period_range(v, p.by, &p.compare_from_ms, &p.compare_to_ms) != 0)
                bad = "compare: expected a period label such as 2026-09, 2026-W40 or 2026-09-15";
        }
    }
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_FUNNEL);
    if (!j)
        return;
    j->funnel = p;
    /* First the contacts the view is about: cohort, those that entered lead in a range;
     * activity, those that entered any stage in one. */
    funnel_ranges(j);
    j->phase = PH_FIRST;
    for (int rank = 2; rank <= (p.activity ? 6 : 2); rank++)
        for (size_t i = 0; i < j->nrng; i++)
            if (scan_add_split(j, rank, j->rng[i][0], j->rng[i][1]))
                job_fail(j, 503, "unavailable", "internal error");
    if (!j->answered)
        scans_start(j);
    job_release(j);
}

/* GET /v1/reports/sla?from=&to= */
void api_handle_sla(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    struct cx_form q;
    struct rp_sla_params p = {0};
    const char *bad = parse_query(req, &q) != 0 ? "malformed query string"
                                                : parse_range(&q, 1, &p.from_ms, &p.to_ms);
    cx_form_free(&q);
    if (bad) {
        http_reply_error(req, 400, "bad_request", bad);
        return;
    }
    struct report_job *j = new_job(jd, req, REPORT_SLA);
    if (!j)
        return;
    const struct cfg *c = jd->cfg;
    p.now_ms = jd_now_ms();
    snprintf(j->sla_hours, sizeof(j->sla_hours), "%s", c->sla_response_hours);
    snprintf(j->sla_share, sizeof(j->sla_share), "%s", c->sla_response_share);
    p.response_hours = j->sla_hours;
    p.response_share = j->sla_share;
    if (c->sla_business_hours && c->sla_business_hours[0]) {
        snprintf(j->sla_hours_text, sizeof(j->sla_hours_text), "%s", c->sla_business_hours);
        p.business_hours = j->sla_hours_text;
    }
    if (c->sla_leads_per_month && c->sla_leads_per_month[0]) {
        snprintf(j->sla_leads, sizeof(j->sla_leads), "%s", c->sla_leads_per_month);
        p.leads_per_month = j->sla_leads;
    }
    if (c->sla_qualified_rate && c->sla_qualified_rate[0]) {
        snprintf(j->sla_rate, sizeof(j->sla_rate), "%s", c->sla_qualified_rate);
        p.qualified_rate = j->sla_rate;
    }
    j->sla = p;
    if (!(j->sla_acc = rp_sla_new(&j->sla))) {
        job_fail(j, 503, "unavailable", "out of memory");
        job_release(j);
        return;
    }
    /* The leads of the range and everyone with a conversion in it (the revenue line). */
    j->phase = PH_FIRST;
    if (scan_add_split(j, 2, p.from_ms, p.to_ms) || scan_add_split(j, 0, p.from_ms, p.to_ms))
        job_fail(j, 503, "unavailable", "internal error");
    else
        scans_start(j);
    job_release(j);
}

/* POST /v1/spend {"rows":[{"date":"2026-10-01","source":"google","campaign":"spring",
 * "amount":12345,"currency":"EUR"}]}: amount in minor units; one row per date, source and
 * campaign (a row sent again replaces the earlier one, so imports are idempotent). */
#define SPEND_MAX_ROWS 1000

static void on_spend_set(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (j->answered)
        goto out;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        job_fail(j, 503, "unavailable", "store unavailable");
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "stored", (double)r->integer)) {
        cJSON_Delete(o);
        job_fail(j, 503, "unavailable", "out of memory");
        goto out;
    }
    j->answered = 1;
    http_reply_json(j->req, 200, o);
out:
    job_release(j);
}

static const char *spend_row(const cJSON *row, char *key, size_t kcap, char *day, size_t dcap,
                             char *val, size_t vcap)
{
    const char *date = cx_json_str(row, "date"), *source = cx_json_str(row, "source");
    const char *campaign = cx_json_str(row, "campaign"), *cur = cx_json_str(row, "currency");
    char currency[4];
    int64_t amount;
    int y, m, d;
    char tail;
    if (!date || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return "date: expected YYYY-MM-DD";
    if (!source || !campaign || strchr(source, '\t') || strchr(campaign, '\t') ||
        strlen(source) >= CX_TEXT_MAX || strlen(campaign) >= CX_TEXT_MAX)
        return "source and campaign: non-empty text";
    if (!cur || cx_norm_currency(cur, currency) != 0)
        return "currency: an ISO 4217 code";
    if (cx_json_int(row, "amount", &amount) != 0 || amount < 0)
        return "amount: a non-negative integer in minor units";
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    int64_t start = local_ms(&tm);
    if (start == INT64_MIN || tm.tm_mday != d)
        return "date: not a calendar date";
    snprintf(key, kcap, "%04d-%02d-%02d\t%s\t%s", y, m, d, source, campaign);
    snprintf(day, dcap, "%lld", (long long)start);
    snprintf(val, vcap, "%lld\t%s", (long long)amount, currency);
    return NULL;
}

void api_handle_spend(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    if (!http_require_token(jd, req))
        return;
    size_t len;
    const unsigned char *body = http_body(req, &len);
    cJSON *root = body ? cx_json_parse(body, len, CX_JSON_MAX_DEPTH) : NULL;
    const cJSON *rows = root ? cx_json_arr(root, "rows") : NULL;
    int n = rows ? cJSON_GetArraySize(rows) : 0;
    if (!rows || n < 1 || n > SPEND_MAX_ROWS) {
        cJSON_Delete(root);
        http_reply_error(req, 400, "bad_request", "expected {\"rows\":[…]} with 1-1000 rows");
        return;
    }
    const char **argv = calloc(1 + 3 * (size_t)n, sizeof(*argv));
    size_t *lens = calloc(1 + 3 * (size_t)n, sizeof(*lens));
    char *store = calloc((size_t)n, 2 * CX_TEXT_MAX + 96);
    const char *bad = argv && lens && store ? NULL : "out of memory";
    int argc = 1, i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (bad)
            break;
        char *key = store + (size_t)i * (2 * CX_TEXT_MAX + 96);
        char *day = key + 2 * CX_TEXT_MAX + 16, *val = day + 32;
        char msg[96];
        const char *why = spend_row(row, key, 2 * CX_TEXT_MAX + 16, day, 32, val, 48);
        if (why) {
            snprintf(msg, sizeof(msg), "row %d: %s", i, why);
            http_reply_error(req, 400, "bad_request", msg);
            free(argv);
            free(lens);
            free(store);
            cJSON_Delete(root);
            return;
        }
        argv[argc++] = key;
        argv[argc++] = day;
        argv[argc++] = val;
        i++;
    }
    cJSON_Delete(root);
    struct report_job *j = bad ? NULL : new_job(jd, req, REPORT_ATTRIBUTION);
    if (j) {
        argv[0] = "spend_set";
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        (void)job_eval(j, on_spend_set, argc, argv, lens);
        job_release(j);
    } else if (bad) {
        http_reply_unavailable(jd, req, bad);
    }
    free(argv);
    free(lens);
    free(store);
}
