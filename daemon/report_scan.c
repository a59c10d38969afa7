/*
 * The funnel and SLA index scans (DESIGN §6b): the stage indexes jd:st:<rank> and jd:conv
 * read with their scores in pages, several score ranges side by side, joined by contact id
 * in the job's table (ctab.h); the funnel's phases (the activity view's missing lead
 * entries among them) that decide what is read next and when its answer is ready. The SLA
 * reader (report_sla.c) runs its first phase on these scans too, through j->phase_done.
 */
#include "report_job.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* ---- funnel and SLA: stage index scans joined by contact id ---- */

int report_scan_add(struct report_job *j, int rank, int64_t min, int64_t max)
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
int report_scan_add_split(struct report_job *j, int rank, int64_t min, int64_t max)
{
    if (min >= max)
        return 0;
    uint64_t width = ((uint64_t)max - (uint64_t)min) / SCAN_SPLIT;
    if (width < 1000)
        return report_scan_add(j, rank, min, max);
    for (int i = 0; i < SCAN_SPLIT; i++) {
        int64_t a = (int64_t)((uint64_t)min + width * (uint64_t)i);
        int64_t b =
            i + 1 == SCAN_SPLIT ? max : (int64_t)((uint64_t)min + width * (uint64_t)(i + 1));
        if (report_scan_add(j, rank, a, b))
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
    if (report_job_send(s->j, on_scan, s, 8, argv, NULL) == 0)
        s->j->scanning++;
}

/* Starts the phase's ranges that have not started, SCAN_PARALLEL pages at most. */
static void scans_pump(struct report_job *j)
{
    while (!j->answered && j->scanning < SCAN_PARALLEL && j->next_scan < j->nscans)
        scan_send(&j->scans[j->next_scan++]);
}

/* Begins a phase of scans (added with report_scan_add*) and possibly other units. */
void report_scans_start(struct report_job *j)
{
    j->pending += (int)j->nscans;
    if (j->pending == 0) {
        report_phase_done(j);
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
        report_job_fail(j, 422, "too_large", "the range holds too many contacts: narrow from/to");
        return -1;
    }
    if (rc) {
        report_job_fail(j, 503, "unavailable", "out of memory");
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
        report_job_fail(j, 503, "unavailable", "store unavailable");
        return;
    }
    size_t n = r->elements / 2;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = r->element[2 * i], *sc = r->element[2 * i + 1];
        int64_t at;
        if (!report_is_id(m) || sc->type != REDIS_REPLY_STRING ||
            report_parse_score(sc->str, sc->len, &at)) {
            report_job_fail(j, 503, "unavailable", "unexpected store answer");
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
        if (report_job_send(j, on_evc, j, argc, argv, lens))
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
        report_phase_done(j);
}

static void on_scan(struct rq_client *c, const redisReply *r, void *priv)
{
    struct zscan *s = priv;
    struct report_job *j = s->j;
    (void)c;
    if (!j->answered)
        scan_page(s, r);
    report_job_release(j);
}

/* SLA: the contacts of a page of conversions. */
static void on_evc(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i < r->elements; i++) {
        size_t e;
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue; /* erased since the index was read */
        if (!report_is_id(r->element[i])) {
            report_job_fail(j, 503, "unavailable", "unexpected store answer");
            goto out;
        }
        int rc = ctab_get(&j->tab, r->element[i]->str, r->element[i]->len, 1, &e);
        if (rc) {
            report_job_fail(j, rc == -2 ? 422 : 503, rc == -2 ? "too_large" : "unavailable",
                            rc == -2 ? "the range holds too many contacts: narrow from/to"
                                     : "out of memory");
            goto out;
        }
        j->tab.flags[e] |= CT_CONV;
    }
    if (--j->pending == 0)
        report_phase_done(j);
out:
    report_job_release(j);
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
        report_job_fail(j, 503, "unavailable", "out of memory");
        return;
    }
    q->j = j;
    q->n = 0;
    for (; j->next_entry < t->n && q->n < MULTI_MAX; j->next_entry++)
        if (t->ent[j->next_entry].at[2] == RP_NEVER)
            q->entry[q->n++] = j->next_entry;
    if (q->n == 0) {
        free(q);
        report_phase_done(j);
        return;
    }
    ctab_id_command(t, "ZMSCORE", "jd:st:2", q->entry, q->n, argv, lens);
    if (report_job_send(j, on_missing, q, 2 + (int)q->n, argv, lens))
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
        report_job_fail(j, 503, "unavailable", "store unavailable");
        goto out;
    }
    for (size_t i = 0; i < q->n; i++) {
        const redisReply *sc = r->element[i];
        int64_t at;
        if (sc->type != REDIS_REPLY_STRING)
            continue; /* merged or erased since: no lead entry, the funnel skips it */
        if (report_parse_score(sc->str, sc->len, &at)) {
            report_job_fail(j, 503, "unavailable", "unexpected store answer");
            goto out;
        }
        j->tab.ent[q->entry[i]].at[2] = at;
    }
    missing_next(j);
out:
    free(q);
    report_job_release(j);
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

void report_phase_done(struct report_job *j)
{
    if (j->answered)
        return;
    j->nscans = 0;
    j->next_scan = 0;
    j->pending = 0;
    j->phase_done(j);
}

static cJSON *funnel_answer(struct report_job *j)
{
    return rp_funnel_entries(j->tab.ent, j->tab.n, &j->funnel);
}

/* The funnel's phases: the contacts the view is about, then what else their medians need. */
static void funnel_phase_done(struct report_job *j)
{
    if (j->phase == PH_FIRST && !j->funnel.activity) {
        /* Cohort: every later stage of the cohort's contacts, even after `to`. Their
         * entries are at or after their lead entry (apply.lua: e<s> is the earliest event
         * at stage s or higher, a subset of those at lead or higher), so never before the
         * earliest range. */
        int64_t lo = j->rng[0][0], hi = j->rng[j->nrng - 1][1];
        j->phase = PH_SECOND;
        for (int rank = 3; rank <= 6 && j->tab.n; rank++)
            if (report_scan_add_split(j, rank, lo, hi) || report_scan_add(j, rank, hi, INT64_MAX)) {
                report_job_fail(j, 503, "unavailable", "internal error");
                return;
            }
        report_scans_start(j);
        return;
    }
    if (j->phase == PH_FIRST) {
        /* Activity: the lead entry is the base of every median, also when it lies before
         * the ranges read. */
        j->phase = PH_SECOND;
        j->next_entry = 0;
        missing_next(j);
        return;
    }
    report_job_done(j, funnel_answer, j->tab.n);
}

void report_funnel_start(struct report_job *j)
{
    /* First the contacts the view is about: cohort, those that entered lead in a range;
     * activity, those that entered any stage in one. */
    funnel_ranges(j);
    j->phase_done = funnel_phase_done;
    j->phase = PH_FIRST;
    for (int rank = 2; rank <= (j->funnel.activity ? 6 : 2); rank++)
        for (size_t i = 0; i < j->nrng; i++)
            if (report_scan_add_split(j, rank, j->rng[i][0], j->rng[i][1]))
                report_job_fail(j, 503, "unavailable", "internal error");
    if (!j->answered)
        report_scans_start(j);
}
