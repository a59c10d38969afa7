/*
 * Per-source delivery counts (sources.h): ingest's tallies in memory, their batched
 * writes to Redis (queue/scripts/sources.lua), and GET /v1/sources.
 */
#include "sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define HOUR_MS INT64_C(3600000)
/* (source, hour) pairs tallied between two writes: two hours of CFG_MAX_SOURCES fit. */
#define SOURCES_MAX_TALLIES 256
#define SOURCES_NAME_MAX 64
/* An hour's counts live this long: the 7-day window and a day to spare. */
#define SOURCES_TTL_S (8 * 86400)
#define SHORT_HOURS 24
#define LONG_HOURS (7 * 24)

/* The refusal reasons counted, by the code of the answer the provider got. */
static const char *const reasons[] = {"bad_signature",      "stale_timestamp",   "bad_request",
                                      "method_not_allowed", "handshake_refused", "unavailable"};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

struct tally {
    char name[SOURCES_NAME_MAX];
    int64_t hour; /* ms / HOUR_MS */
    uint64_t accepted;
    uint64_t refused[NREASONS];
    int64_t last_ms; /* latest accepted delivery, 0 = none */
};

/* One write in flight: the tallies it carries, put back when it fails. */
struct flush {
    struct sources *s;
    size_t n;
    struct tally t[SOURCES_MAX_TALLIES];
};

struct sources {
    struct tally t[SOURCES_MAX_TALLIES];
    size_t n;
    struct flush *inflight;
    int ticks; /* since the last write */
    uint64_t dropped;
    int dropped_logged;
};

struct sources *sources_new(void)
{
    return calloc(1, sizeof(struct sources));
}

void sources_free(struct sources *s)
{
    if (!s)
        return;
    if (s->inflight)
        s->inflight->s = NULL; /* its reply, should one still come, finds no table */
    free(s);
}

/* The tally of (name, hour), created when new; NULL when the table is full. */
static struct tally *tally_of(struct sources *s, const char *name, int64_t hour)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].hour == hour && strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    if (s->n == SOURCES_MAX_TALLIES || strlen(name) >= SOURCES_NAME_MAX) {
        s->dropped++;
        if (!s->dropped_logged) {
            s->dropped_logged = 1;
            jlog(JLOG_WARNING, "msg=\"source counts table full, counts dropped\" max=%d",
                 SOURCES_MAX_TALLIES);
        }
        return NULL;
    }
    struct tally *t = &s->t[s->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->hour = hour;
    return t;
}

void sources_accepted(struct sources *s, const char *name, int64_t now_ms)
{
    struct tally *t = s && name ? tally_of(s, name, now_ms / HOUR_MS) : NULL;
    if (!t)
        return;
    t->accepted++;
    if (now_ms > t->last_ms)
        t->last_ms = now_ms;
}

void sources_refused(struct sources *s, const char *name, const char *reason, int64_t now_ms)
{
    size_t r = 0;
    while (r < NREASONS && (!reason || strcmp(reasons[r], reason) != 0))
        r++;
    if (r == NREASONS)
        r = NREASONS - 1; /* an unlisted refusal is the daemon's own: unavailable */
    struct tally *t = s && name ? tally_of(s, name, now_ms / HOUR_MS) : NULL;
    if (t)
        t->refused[r]++;
}

/* Adds a failed write's tallies back into the table. */
static void put_back(struct sources *s, const struct flush *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct tally *o = &f->t[i];
        struct tally *t = tally_of(s, o->name, o->hour);
        if (!t)
            continue;
        t->accepted += o->accepted;
        for (size_t r = 0; r < NREASONS; r++)
            t->refused[r] += o->refused[r];
        if (o->last_ms > t->last_ms)
            t->last_ms = o->last_ms;
    }
}

static void on_flushed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct flush *f = priv;
    (void)c;
    if (f->s) {
        f->s->inflight = NULL;
        if (!r || r->type == REDIS_REPLY_ERROR)
            put_back(f->s, f);
    }
    free(f);
}

int sources_is_flushed(const struct sources *s)
{
    return !s || (s->n == 0 && !s->inflight);
}

static void sources_flush(struct sources *s, struct rq_client *c)
{
    if (!s || s->n == 0 || s->inflight || !c || !rq_is_ready(c))
        return;
    struct flush *f = malloc(sizeof(*f));
    /* At most 4 arguments per count and 2 per source's last time. */
    size_t cap = 3 + s->n * (4 * (1 + NREASONS) + 2);
    const char **argv = calloc(cap, sizeof(*argv));
    size_t *lens = calloc(cap, sizeof(*lens));
    /* Number texts of 24 bytes: per tally its hour, its 1 + NREASONS counts, its last time. */
    char *nums = calloc(s->n * (3 + NREASONS), 24);
    if (!f || !argv || !lens || !nums)
        goto out;
    f->s = s;
    f->n = s->n;
    memcpy(f->t, s->t, s->n * sizeof(s->t[0]));
    size_t argc = 3, nq = 0, k = 0;
    char ttl[24], count[24], fields[NREASONS + 1][40];
    snprintf(ttl, sizeof(ttl), "%d", SOURCES_TTL_S);
    snprintf(fields[0], sizeof(fields[0]), "accepted");
    for (size_t r = 0; r < NREASONS; r++)
        snprintf(fields[r + 1], sizeof(fields[0]), "refused:%s", reasons[r]);
    for (size_t i = 0; i < f->n; i++) {
        const struct tally *t = &f->t[i];
        char *hour = nums + 24 * k++;
        snprintf(hour, 24, "%lld", (long long)t->hour);
        for (size_t fi = 0; fi <= NREASONS; fi++) {
            uint64_t v = fi ? t->refused[fi - 1] : t->accepted;
            if (!v)
                continue;
            char *n = nums + 24 * k++;
            snprintf(n, 24, "%llu", (unsigned long long)v);
            argv[argc++] = hour;
            argv[argc++] = t->name;
            argv[argc++] = fields[fi];
            argv[argc++] = n;
            nq++;
        }
    }
    snprintf(count, sizeof(count), "%zu", nq);
    for (size_t i = 0; i < f->n; i++) {
        const struct tally *t = &f->t[i];
        if (!t->last_ms)
            continue;
        char *n = nums + 24 * k++;
        snprintf(n, 24, "%lld", (long long)t->last_ms);
        argv[argc++] = t->name;
        argv[argc++] = n;
    }
    argv[0] = "add";
    argv[1] = ttl;
    argv[2] = count;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rq_eval(c, JD_SCRIPT_SOURCES, 0, on_flushed, f, 0, (int)argc, argv, lens) == 0) {
        s->inflight = f;
        s->n = 0;
        f = NULL;
    }
out:
    free(f);
    free(argv);
    free(lens);
    free(nums);
}

void sources_tick(struct sources *s, struct rq_client *c, int stopping)
{
    if (!s || (++s->ticks < SOURCES_FLUSH_TICKS && !stopping))
        return;
    s->ticks = 0;
    sources_flush(s, c);
}

/* ---- GET /v1/sources ---- */

struct list_req {
    struct jd *jd;
    struct evhttp_request *req;
    int64_t now_ms;
    int local; /* read on ingest's connection: add the counts not written yet */
};

/* The count of `field` ("accepted", "refused:<reason>") of source `name` in one window
 * (0: 24 hours, 1: 7 days) from the script's {field, n24, n7d, ...} list, plus what this
 * process tallied and has not written yet. */
static long long count_of(const redisReply *sums, const struct sources *s, const char *name,
                          const char *field, int window, int64_t now_hour)
{
    long long n = 0;
    size_t nl = strlen(name), fl = strlen(field);
    for (size_t i = 0; i + 2 < sums->elements; i += 3) {
        const redisReply *f = sums->element[i];
        if (f->type == REDIS_REPLY_STRING && f->len == nl + 1 + fl &&
            memcmp(f->str, name, nl) == 0 && f->str[nl] == '\t' &&
            memcmp(f->str + nl + 1, field, fl) == 0) {
            const redisReply *v = sums->element[i + 1 + window];
            n += v->type == REDIS_REPLY_INTEGER ? v->integer : 0;
        }
    }
    int64_t hours = window ? LONG_HOURS : SHORT_HOURS;
    for (size_t i = 0; s && i < s->n; i++) {
        const struct tally *t = &s->t[i];
        if (strcmp(t->name, name) != 0 || t->hour <= now_hour - hours)
            continue;
        if (strcmp(field, "accepted") == 0)
            n += (long long)t->accepted;
        for (size_t r = 0; r < NREASONS; r++)
            if (strncmp(field, "refused:", 8) == 0 && strcmp(field + 8, reasons[r]) == 0)
                n += (long long)t->refused[r];
    }
    return n;
}

static cJSON *window_json(const redisReply *sums, const struct sources *s, const char *name,
                          int window, int64_t now_hour)
{
    cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateObject();
    long long total = 0;
    char field[40];
    if (!o || !by)
        goto fail;
    for (size_t r = 0; r < NREASONS; r++) {
        snprintf(field, sizeof(field), "refused:%s", reasons[r]);
        long long n = count_of(sums, s, name, field, window, now_hour);
        total += n;
        if (n && !cJSON_AddNumberToObject(by, reasons[r], (double)n))
            goto fail;
    }
    if (!cJSON_AddNumberToObject(o, "accepted",
                                 (double)count_of(sums, s, name, "accepted", window, now_hour)) ||
        !cJSON_AddNumberToObject(o, "refused", (double)total) ||
        !cJSON_AddItemToObject(o, "refused_by_reason", by))
        goto fail;
    return o;
fail:
    cJSON_Delete(by);
    cJSON_Delete(o);
    return NULL;
}

static cJSON *list_json(struct jd *jd, const redisReply *r, int64_t now_ms, int local)
{
    const redisReply *sums = r->element[0], *last = r->element[1];
    /* The table holds exactly what Redis had not seen when it answered only when the read
     * went through ingest's connection, behind its writes (sources_handle_list). */
    const struct sources *s = local ? jd->sources : NULL;
    int64_t now_hour = now_ms / HOUR_MS;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!o || !arr || !cJSON_AddItemToObject(o, "sources", arr)) {
        cJSON_Delete(arr);
        goto fail;
    }
    for (size_t i = 0; i < jd->cfg->nsources; i++) {
        const struct cfg_source *cs = &jd->cfg->sources[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            goto fail;
        }
        int64_t lm = 0;
        for (size_t k = 0; k + 1 < last->elements; k += 2)
            if (last->element[k]->type == REDIS_REPLY_STRING &&
                strcmp(last->element[k]->str, cs->name) == 0 &&
                last->element[k + 1]->type == REDIS_REPLY_STRING)
                lm = strtoll(last->element[k + 1]->str, NULL, 10);
        for (size_t k = 0; s && k < s->n; k++)
            if (strcmp(s->t[k].name, cs->name) == 0 && s->t[k].last_ms > lm)
                lm = s->t[k].last_ms;
        char at[32];
        cx_format_rfc3339(lm, at);
        if (!cJSON_AddStringToObject(e, "name", cs->name) ||
            !cJSON_AddStringToObject(e, "type", cs->type) ||
            !cJSON_AddItemToObject(e, "last_delivery",
                                   lm ? cJSON_CreateString(at) : cJSON_CreateNull()) ||
            !cJSON_AddItemToObject(e, "last_24h", window_json(sums, s, cs->name, 0, now_hour)) ||
            !cJSON_AddItemToObject(e, "last_7d", window_json(sums, s, cs->name, 1, now_hour)))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static void on_list(struct rq_client *c, const redisReply *r, void *priv)
{
    struct list_req *lr = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY) {
        http_reply_unavailable(lr->jd, lr->req, "store unavailable");
    } else {
        cJSON *o = list_json(lr->jd, r, lr->now_ms, lr->local);
        if (o)
            http_reply_json(lr->req, 200, o);
        else
            http_reply_unavailable(lr->jd, lr->req, "out of memory");
    }
    free(lr);
}

void sources_handle_list(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    /* Through ingest's connection when this process has one: its writes go first, so the
     * counts still in the table are exactly those not yet in Redis. */
    struct rq_client *c = rq_is_ready(jd->rq_ingest) ? jd->rq_ingest : jd->rq_api;
    struct list_req *lr = rq_is_ready(c) ? malloc(sizeof(*lr)) : NULL;
    if (!lr) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    lr->jd = jd;
    lr->req = req;
    lr->now_ms = jd_now_ms();
    lr->local = c == jd->rq_ingest;
    char hour[24], shorth[8], longh[8];
    snprintf(hour, sizeof(hour), "%lld", (long long)(lr->now_ms / HOUR_MS));
    snprintf(shorth, sizeof(shorth), "%d", SHORT_HOURS);
    snprintf(longh, sizeof(longh), "%d", LONG_HOURS);
    const char *argv[4] = {"read", hour, shorth, longh};
    size_t lens[4] = {4, strlen(hour), strlen(shorth), strlen(longh)};
    if (rq_eval(c, JD_SCRIPT_SOURCES, 0, on_list, lr, 0, 4, argv, lens) != 0) {
        free(lr);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}
