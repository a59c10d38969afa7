/*
 * The funnel report (DESIGN §6b, report.h rp_funnel*): per period, the contacts entering
 * each stage lead … paid, the rates between stages and the median time from the lead
 * entry, by cohort or by activity, and the comparison with another period.
 */
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exact.h"
#include "journey.h"
#include "json.h"
#include "localtime.h"
#include "stage.h"

#define NSTAGES (JD_STAGE_COUNT - JD_STAGE_LEAD) /* funnel stages lead … paid (§6b) */

/* Stage names by rank, from the one stage list (connectors/stage.h). */
#define RANK_NAME_(name, str) [JD_STAGE_##name] = str,
static const char *const rank_names[JD_STAGE_COUNT] = {JD_STAGES(RANK_NAME_)};
#undef RANK_NAME_

_Static_assert(sizeof(((struct rp_entries *)0)->at) == (JD_STAGE_PAID + 1) * sizeof(int64_t),
               "rp_entries holds one time per stage rank");

/* Stage entry (§6b): the earliest at among events whose stage is s or higher. t[s] for
 * ranks 0…6, RP_NEVER = never. Order-free: a minimum does not care about order. */
static void stage_entries(const struct rp_contact *c, int64_t t[JD_STAGE_PAID + 1])
{
    for (int s = 0; s <= JD_STAGE_PAID; s++)
        t[s] = RP_NEVER;
    for (size_t i = 0; c->events && i < c->n; i++) {
        int s = rp_clamp_stage(c->events[i].stage);
        if (c->events[i].at_ms < t[s])
            t[s] = c->events[i].at_ms;
    }
    for (int s = JD_STAGE_PAID - 1; s >= 0; s--)
        if (t[s + 1] < t[s])
            t[s] = t[s + 1];
}

struct fstat {
    uint64_t count[NSTAGES]; /* index 0 = lead … 4 = paid */
    int has_median[NSTAGES];
    int64_t median[NSTAGES];
};

struct frec {
    size_t p;
    int k;
    int64_t secs;
};

static int frec_cmp(const void *pa, const void *pb)
{
    const struct frec *a = pa, *b = pb;
    if (a->p != b->p)
        return a->p < b->p ? -1 : 1;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    return a->secs < b->secs ? -1 : a->secs > b->secs;
}

/* Whole seconds from lead entry (rounded down, §6b). */
static int64_t secs_between(int64_t a, int64_t b)
{
    int64_t d;
    if (rp_sub_i64(b, a, &d))
        return INT64_MAX / 1000;
    return rp_floor_div(d, 1000);
}

/* Counts and medians of every period b[i]…b[i+1] clipped to [lo, hi).
 * Cohort: contacts grouped by the period of their lead entry; later stages entered at any
 * time ("so far, even after to"), medians of (entry − lead entry).
 * Activity: per period, the contacts that entered each stage in it; medians from the
 * lead entry of the contacts entering the stage in the period (which may lie earlier). */
static int funnel_stats(const struct rp_entries *ent, size_t nc, const int64_t *b, size_t np,
                        int64_t lo, int64_t hi, int activity, struct fstat *st)
{
    struct frec *rec = NULL;
    size_t nrec = 0;
    if (np == 0)
        return 0;
    memset(st, 0, np * sizeof(*st));
    if (nc && (nc > SIZE_MAX / (NSTAGES * sizeof(*rec)) ||
               !(rec = calloc(nc * (NSTAGES - 1), sizeof(*rec)))))
        return -1;
    for (size_t c = 0; c < nc; c++) {
        const int64_t *t = ent[c].at;
        if (t[JD_STAGE_LEAD] == RP_NEVER)
            continue;
        if (!activity) {
            size_t p = rp_period_find(b, np, lo, hi, t[JD_STAGE_LEAD]);
            if (p == SIZE_MAX)
                continue;
            st[p].count[0]++;
            for (int s = JD_STAGE_QUALIFIED; s <= JD_STAGE_PAID; s++)
                if (t[s] != RP_NEVER) {
                    st[p].count[s - JD_STAGE_LEAD]++;
                    rec[nrec].p = p;
                    rec[nrec].k = s - JD_STAGE_LEAD;
                    rec[nrec].secs = secs_between(t[JD_STAGE_LEAD], t[s]);
                    nrec++;
                }
        } else {
            for (int s = JD_STAGE_LEAD; s <= JD_STAGE_PAID; s++) {
                size_t p = rp_period_find(b, np, lo, hi, t[s]);
                if (p == SIZE_MAX)
                    continue;
                st[p].count[s - JD_STAGE_LEAD]++;
                if (s == JD_STAGE_LEAD)
                    continue; /* §6b: lead carries only its count */
                rec[nrec].p = p;
                rec[nrec].k = s - JD_STAGE_LEAD;
                rec[nrec].secs = secs_between(t[JD_STAGE_LEAD], t[s]);
                nrec++;
            }
        }
    }
    if (nrec > 1)
        qsort(rec, nrec, sizeof(*rec), frec_cmp);
    for (size_t i = 0; i < nrec;) {
        size_t j = i;
        while (j < nrec && rec[j].p == rec[i].p && rec[j].k == rec[i].k)
            j++;
        st[rec[i].p].has_median[rec[i].k] = 1;
        st[rec[i].p].median[rec[i].k] = rec[i + rp_nearest_rank(j - i, 50)].secs;
        i = j;
    }
    free(rec);
    return 0;
}

/* The shown rate of stage k from stage k−1, in 1e-4 units; 0 when null (denominator 0). */
static int stage_rate(const struct fstat *st, int k, uint64_t *r4)
{
    if (st->count[k - 1] == 0)
        return 0;
    if (rp_rate4(st->count[k], st->count[k - 1], r4))
        return -1;
    return 1;
}

static cJSON *stages_json(const struct fstat *st)
{
    cJSON *o = cJSON_CreateObject(), *s;
    if (!o)
        return NULL;
    for (int k = 0; k < NSTAGES; k++) {
        uint64_t r4;
        if (rp_put(o, rank_names[JD_STAGE_LEAD + k], s = cJSON_CreateObject()) ||
            rp_put(s, "contacts", rp_uint_number(st->count[k])))
            goto fail;
        if (k == 0)
            continue;
        int has = stage_rate(st, k, &r4);
        if (has < 0 ||
            rp_put(s, "rate", has ? rp_fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
            rp_put(s, "median_seconds",
                   st->has_median[k] ? rp_int_number(st->median[k]) : cJSON_CreateNull()))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* §6b compare: the transition whose shown rate fell most between the first listed
 * period and the compared one, points = 100 × (later − earlier) in date order; the
 * smallest rise when none fell; ties to the earlier transition; transitions without a
 * rate on either side skipped. Shown rates are 4-decimal integers r4, so
 * points = (later − earlier) / 100 exactly, with 2 decimals. */
static cJSON *compare_json(const struct fstat *first, int64_t first_start, const struct fstat *cmp,
                           int64_t cmp_start, const char *label)
{
    cJSON *o = cJSON_CreateObject();
    int best = 0;
    int64_t best_d = 0;
    if (!o)
        return NULL;
    int cmp_later = cmp_start > first_start;
    for (int k = 1; first && k < NSTAGES; k++) {
        uint64_t a, b;
        int ha = stage_rate(first, k, &a), hb = stage_rate(cmp, k, &b);
        if (ha < 0 || hb < 0)
            goto fail;
        if (!ha || !hb)
            continue;
        int64_t d = cmp_later ? (int64_t)b - (int64_t)a : (int64_t)a - (int64_t)b;
        if (best == 0 || d < best_d) {
            best = k;
            best_d = d;
        }
    }
    /* Transition k goes from stage k-1 to stage k; the arrow is U+2192 in UTF-8 (§7). */
    char transition[64];
    if (best)
        snprintf(transition, sizeof(transition), "%s\xe2\x86\x92%s",
                 rank_names[JD_STAGE_LEAD + best - 1], rank_names[JD_STAGE_LEAD + best]);
    if (rp_put(o, "period", cJSON_CreateString(label)) ||
        rp_put(o, "transition", best ? cJSON_CreateString(transition) : cJSON_CreateNull()) ||
        rp_put(o, "points", best ? rp_fixed_number(best_d, 2) : cJSON_CreateNull()) ||
        rp_put(o, "stages", stages_json(cmp)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* The funnel answer over the contacts' stage entries. */
static cJSON *funnel_json(const struct rp_entries *ent, size_t n, const struct rp_funnel_params *p)
{
    struct rp_periods ps = {NULL, 0};
    struct fstat *st = NULL, cst;
    cJSON *o = NULL, *arr;
    char label[32];
    if (rp_periods_build(p->by, p->from_ms, p->to_ms, &ps))
        goto fail;
    if (ps.n && !(st = calloc(ps.n, sizeof(*st))))
        goto fail;
    if (funnel_stats(ent, n, ps.b, ps.n, p->from_ms, p->to_ms, p->activity, st))
        goto fail;
    if (!(o = cJSON_CreateObject()) ||
        rp_put(o, "view", cJSON_CreateString(p->activity ? "activity" : "cohort")) ||
        rp_put(o, "by", cJSON_CreateString(rp_period_name(p->by))) ||
        rp_put(o, "from", rp_instant_json(p->from_ms)) ||
        rp_put(o, "to", rp_instant_json(p->to_ms)) ||
        rp_put(o, "periods", arr = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < ps.n; i++) {
        cJSON *per;
        if (rp_period_label(p->by, ps.b[i], label, sizeof(label)) ||
            rp_push(arr, per = cJSON_CreateObject()) ||
            rp_put(per, "period", cJSON_CreateString(label)) ||
            rp_put(per, "stages", stages_json(&st[i])))
            goto fail;
    }
    if (p->has_compare) {
        /* The whole compared period, unclipped: [compare_from, compare_to). */
        int64_t cb[2] = {p->compare_from_ms, p->compare_to_ms};
        size_t cn = p->compare_to_ms > p->compare_from_ms ? 1 : 0;
        if (funnel_stats(ent, n, cb, cn, p->compare_from_ms, p->compare_to_ms, p->activity, &cst))
            goto fail;
        if (!cn)
            memset(&cst, 0, sizeof(cst));
        if (rp_period_label(p->by, p->compare_from_ms, label, sizeof(label)) ||
            rp_put(o, "compare",
                   compare_json(ps.n ? &st[0] : NULL, ps.n ? ps.b[0] : 0, &cst, p->compare_from_ms,
                                label)))
            goto fail;
    }
    free(ps.b);
    free(st);
    return o;
fail:
    cJSON_Delete(o);
    free(ps.b);
    free(st);
    return NULL;
}

cJSON *rp_funnel(const struct rp_contact *contacts, size_t n, const struct rp_funnel_params *p)
{
    struct rp_entries *ent = NULL;
    if (!p || (n && !contacts) || (unsigned)p->by > RP_MONTH)
        return NULL;
    if (n && !(ent = calloc(n, sizeof(*ent))))
        return NULL;
    for (size_t i = 0; i < n; i++)
        stage_entries(&contacts[i], ent[i].at);
    cJSON *o = funnel_json(ent, n, p);
    free(ent);
    return o;
}

/* The entries are taken as they are (no minimum over the higher stages as stage_entries
 * does): the activity view's caller passes RP_NEVER for stages it did not read, and a
 * minimum would pull a later stage's time into them. */
cJSON *rp_funnel_entries(const struct rp_entries *e, size_t n, const struct rp_funnel_params *p)
{
    if (!p || (n && !e) || (unsigned)p->by > RP_MONTH)
        return NULL;
    return funnel_json(e, n, p);
}

/* The membership funnel_stats counts with rp_period_find over one period [lo, hi). */
int rp_funnel_cell(const struct rp_entries *e, int activity, int rank, int64_t lo, int64_t hi,
                   int64_t *at)
{
    if (!e || rank < JD_STAGE_LEAD || rank > JD_STAGE_PAID || lo >= hi)
        return 0;
    const int64_t *t = e->at;
    int64_t b[2] = {lo, hi};
    if (t[JD_STAGE_LEAD] == RP_NEVER || t[rank] == RP_NEVER)
        return 0;
    if (rp_period_find(b, 1, lo, hi, activity ? t[rank] : t[JD_STAGE_LEAD]) == SIZE_MAX)
        return 0;
    *at = t[rank];
    return 1;
}
