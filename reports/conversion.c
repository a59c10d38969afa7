/*
 * Conversions and their split (see conversion.h, report.h rp_contact_conversions).
 * Doubles appear only where §6 asks for them: the time-decay weights.
 */
#include "conversion.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exact.h"
#include "purse.h"

#define MS_PER_DAY INT64_C(86400000)
#define DEFAULT_LOOKBACK_MS (90 * MS_PER_DAY) /* §6: default 90 days */
#define DEFAULT_HALF_LIFE_MS (7 * MS_PER_DAY) /* §6: default 7 days */
#define TIE_EPSILON 1e-9                      /* §6: time-decay remainders closer are ties */

struct keyed {
    const char *key;
    size_t pos;
};

static int keyed_cmp(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* A payment that can be a conversion: it has an amount (§3: the repeats of a payment key
 * are kept "without amount"; a negative amount is malformed and ignored). */
static int is_payment(const struct rp_event *e)
{
    return rp_is_kind(e, "payment") && e->has_amount && e->amount_minor >= 0;
}

static int is_refund(const struct rp_event *e)
{
    return rp_is_kind(e, "refund") && e->has_amount && e->amount_minor >= 0;
}

/* The conversions of a journey with at in [from, to). Payments count once per payment
 * key: the first payment with an amount in journey order is the conversion, over the
 * whole journey (a repeat inside the range of a payment made before it adds nothing).
 * A payment without a key is its own conversion. Each refund is a negative conversion. */
int rp_list_conversions(const struct rp_jview *v, int64_t from, int64_t to, struct rp_conv **out,
                        size_t *nout)
{
    struct keyed *k = NULL;
    unsigned char *first = NULL;
    struct rp_conv *c = NULL;
    size_t nk = 0, nc = 0;
    *out = NULL;
    *nout = 0;
    if (v->n == 0)
        return 0;
    k = calloc(v->n, sizeof(*k));
    first = calloc(v->n, 1);
    c = calloc(v->n, sizeof(*c));
    if (!k || !first || !c)
        goto fail;
    for (size_t i = 0; i < v->n; i++)
        if (is_payment(v->ev[i]) && *rp_nz(v->ev[i]->payment_key)) {
            k[nk].key = v->ev[i]->payment_key;
            k[nk].pos = i;
            nk++;
        }
    if (nk > 1)
        qsort(k, nk, sizeof(*k), keyed_cmp);
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || strcmp(k[i].key, k[i - 1].key) != 0)
            first[k[i].pos] = 1;
    for (size_t i = 0; i < v->n; i++) {
        const struct rp_event *e = v->ev[i];
        int64_t amount;
        if (is_payment(e) && (!*rp_nz(e->payment_key) || first[i]))
            amount = e->amount_minor;
        else if (is_refund(e))
            amount = -e->amount_minor;
        else
            continue;
        if (e->at_ms < from || e->at_ms >= to)
            continue;
        c[nc].ev = e;
        c[nc].amount = amount;
        nc++;
    }
    free(k);
    free(first);
    *out = c;
    *nout = nc;
    return 0;
fail:
    free(k);
    free(first);
    free(c);
    return -1;
}

/* ------------------------------------------------------------------------------------ */
/* Splitting one conversion (§6 models and the largest-remainder rule)                   */
/* ------------------------------------------------------------------------------------ */

static int rem_cmp(const void *pa, const void *pb)
{
    const struct rp_rem_item *a = pa, *b = pb;
    if (a->rem != b->rem)
        return a->rem > b->rem ? -1 : 1;   /* largest remainder first */
    return a->i < b->i ? -1 : a->i > b->i; /* ties to the earlier touch */
}

void rp_split_free(struct rp_split *s)
{
    free(s->touch);
    free(s->minor);
    free(s->w);
    free(s->part);
    free(s->rem);
    free(s->dw);
    free(s->drem);
    free(s->given);
    memset(s, 0, sizeof(*s));
}

int rp_split_init(struct rp_split *s, size_t nevents)
{
    size_t cap = nevents ? nevents : 1;
    memset(s, 0, sizeof(*s));
    s->touch = calloc(cap, sizeof(*s->touch));
    s->minor = calloc(cap, sizeof(*s->minor));
    s->w = calloc(cap, sizeof(*s->w));
    s->part = calloc(cap, sizeof(*s->part));
    s->rem = calloc(cap, sizeof(*s->rem));
    s->dw = calloc(cap, sizeof(*s->dw));
    s->drem = calloc(cap, sizeof(*s->drem));
    s->given = calloc(cap, 1);
    if (!s->touch || !s->minor || !s->w || !s->part || !s->rem || !s->dw || !s->drem || !s->given) {
        rp_split_free(s);
        return -1;
    }
    return 0;
}

/* mag × w[i] / W exactly: floor every share, then one unit each to the largest remainders,
 * ties to the earlier touch (§6). Σ w = W, so Σ floors ≤ mag and fewer than n units are
 * left; the parts sum to mag exactly. */
static int split_exact(struct rp_split *s, size_t n, uint64_t mag, uint64_t W)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        struct rp_u128 q, r;
        if (rp_u128_divmod(rp_mul64(mag, s->w[i]), rp_u128_of(W), &q, &r) || q.hi)
            return -1;
        s->part[i] = q.lo;
        s->rem[i].rem = r.lo;
        s->rem[i].i = i;
        sum += q.lo;
    }
    if (sum > mag)
        return -1;
    uint64_t left = mag - sum;
    if (left >= n && n > 0)
        return -1; /* impossible: each remainder is below one unit */
    if (n > 1)
        qsort(s->rem, n, sizeof(*s->rem), rem_cmp);
    for (uint64_t k = 0; k < left; k++)
        s->part[s->rem[k].i]++;
    return 0;
}

/* The next touch to receive a unit: the largest remainder, where remainders closer than
 * 1e-9 are ties and ties go to the earlier touch (§6, time decay). A later touch wins only
 * when its remainder is larger by more than the tolerance. */
static size_t pick_largest(const struct rp_split *s, size_t n)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s->given[i])
            continue;
        if (best == SIZE_MAX || s->drem[i] > s->drem[best] + TIE_EPSILON)
            best = i;
    }
    return best;
}

/* Mirror of pick_largest for the (never expected) case where rounded doubles floored to
 * more than the amount: take a unit back from the smallest remainder, ties to the later
 * touch, never below zero. */
static size_t pick_smallest(const struct rp_split *s, size_t n)
{
    size_t best = SIZE_MAX;
    for (size_t i = n; i-- > 0;) {
        if (s->given[i] || s->part[i] == 0)
            continue;
        if (best == SIZE_MAX || s->drem[i] < s->drem[best] - TIE_EPSILON)
            best = i;
    }
    return best;
}

/* Time decay (§6): weight 2^(−Δt/half_life) in double precision, normalized; floors and
 * remainders from the doubles; units handed out by pick_largest. Should every weight
 * underflow (Δt of thousands of half-lives) the weights are taken relative to the latest
 * touch, which normalizes to the same shares. The parts always sum to mag exactly: the
 * leftover is computed in integers and corrected unit by unit. */
static int split_decay(struct rp_split *s, size_t n, uint64_t mag, int64_t conv_at, int64_t half)
{
    double sum = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t ref = pass == 0 ? conv_at : s->touch[n - 1]->at_ms;
        sum = 0;
        for (size_t i = 0; i < n; i++) {
            double dt = (double)ref - (double)s->touch[i]->at_ms;
            s->dw[i] = exp2(-dt / (double)half);
            sum += s->dw[i];
        }
        if (sum >= DBL_MIN && isfinite(sum))
            break;
    }
    if (!(sum >= DBL_MIN) || !isfinite(sum))
        return -1;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        double share = (s->dw[i] / sum) * (double)mag;
        double f = floor(share);
        if (!(f >= 0))
            f = 0;
        if (f >= (double)mag) {
            s->part[i] = mag;
            s->drem[i] = 0;
        } else {
            s->part[i] = (uint64_t)f;
            s->drem[i] = share - f;
        }
        if (total > UINT64_MAX - s->part[i])
            return -1;
        total += s->part[i];
    }
    if (total <= mag) {
        uint64_t left = mag - total;
        while (left > 0) {
            memset(s->given, 0, n);
            for (size_t k = 0; k < n && left > 0; k++, left--) {
                size_t b = pick_largest(s, n);
                s->given[b] = 1;
                s->part[b]++;
            }
        }
    } else {
        uint64_t extra = total - mag;
        while (extra > 0) {
            memset(s->given, 0, n);
            for (size_t k = 0; k < n && extra > 0; k++, extra--) {
                size_t b = pick_smallest(s, n);
                if (b == SIZE_MAX)
                    return -1;
                s->given[b] = 1;
                s->part[b]--;
            }
        }
    }
    return 0;
}

static size_t lower_bound_at(const struct rp_jview *v, int64_t at)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->ev[mid]->at_ms < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The credit rows of one conversion under p (§6) into s->touch / s->minor / s->n. */
int rp_split_conversion(const struct rp_jview *v, const struct rp_conv *c,
                        const struct rp_attr_params *p, struct rp_split *s)
{
    int64_t at = c->ev->at_ms;
    int64_t lookback = p->lookback_ms < 0 ? DEFAULT_LOOKBACK_MS : p->lookback_ms;
    int64_t half = p->half_life_ms <= 0 ? DEFAULT_HALF_LIFE_MS : p->half_life_ms;
    int64_t lo;
    if (rp_sub_i64(at, lookback, &lo))
        lo = INT64_MIN;
    /* Both ends inclusive: a touch exactly `lookback` before, or at the same instant as
     * the conversion (even after it in id order: a payment carrying utm credits itself). */
    size_t nt = 0;
    for (size_t i = lower_bound_at(v, lo); i < v->n && v->ev[i]->at_ms <= at; i++)
        if (v->ev[i]->is_touch)
            s->touch[nt++] = v->ev[i];
    if (nt == 0) { /* §6: no touch in the window → (direct) */
        s->touch[0] = NULL;
        s->minor[0] = c->amount;
        s->n = 1;
        return 0;
    }
    if (p->model == RP_FIRST_TOUCH || p->model == RP_LAST_TOUCH) {
        /* One credit row per conversion (§6). */
        s->touch[0] = p->model == RP_FIRST_TOUCH ? s->touch[0] : s->touch[nt - 1];
        s->minor[0] = c->amount;
        s->n = 1;
        return 0;
    }
    /* A refund is split like a payment of its size, then negated: −100 over three
     * touches is −34/−33/−33, the mirror of the payment it undoes. */
    uint64_t mag = c->amount < 0 ? (uint64_t)0 - (uint64_t)c->amount : (uint64_t)c->amount;
    int rc;
    if (p->model == RP_LINEAR) {
        for (size_t i = 0; i < nt; i++)
            s->w[i] = 1;
        rc = split_exact(s, nt, mag, nt);
    } else if (p->model == RP_POSITION) {
        /* 40/40/20 as integers: first and last 2(n−2), each middle 1, out of 5(n−2). */
        if (nt <= 2) {
            for (size_t i = 0; i < nt; i++)
                s->w[i] = 1;
            rc = split_exact(s, nt, mag, nt);
        } else {
            uint64_t m = nt - 2;
            if (m > UINT64_MAX / 5)
                return -1;
            for (size_t i = 0; i < nt; i++)
                s->w[i] = (i == 0 || i == nt - 1) ? 2 * m : 1;
            rc = split_exact(s, nt, mag, 5 * m);
        }
    } else if (p->model == RP_TIME_DECAY) {
        rc = split_decay(s, nt, mag, at, half);
    } else {
        return -1;
    }
    if (rc)
        return -1;
    for (size_t i = 0; i < nt; i++) {
        if (s->part[i] > (uint64_t)INT64_MAX)
            return -1;
        s->minor[i] = c->amount < 0 ? -(int64_t)s->part[i] : (int64_t)s->part[i];
    }
    s->n = nt;
    return 0;
}

void rp_conversions_free(struct rp_conversion *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].credit);
    free(v);
}

static void copy_currency(char dst[4], const char src[4])
{
    memset(dst, 0, 4);
    for (size_t i = 0; i < 3 && src[i]; i++)
        dst[i] = src[i];
}

int rp_contact_conversions(const struct rp_contact *c, const struct rp_attr_params *p,
                           struct rp_conversion **out, size_t *nout)
{
    struct rp_jview v;
    struct rp_conv *cv = NULL;
    size_t ncv = 0;
    struct rp_split s;
    struct rp_conversion *res = NULL;
    size_t done = 0;
    *out = NULL;
    *nout = 0;
    if (!p || rp_view_open(c, &v))
        return -1;
    if (rp_list_conversions(&v, p->from_ms, p->to_ms, &cv, &ncv) || rp_split_init(&s, v.n)) {
        free(cv);
        rp_view_close(&v);
        return -1;
    }
    if (ncv && !(res = calloc(ncv, sizeof(*res))))
        goto fail;
    for (; done < ncv; done++) {
        struct rp_conversion *r = &res[done];
        if (rp_split_conversion(&v, &cv[done], p, &s))
            goto fail;
        r->event_id = cv[done].ev->id;
        r->at_ms = cv[done].ev->at_ms;
        r->amount_minor = cv[done].amount;
        copy_currency(r->currency, cv[done].ev->currency);
        r->credit = calloc(s.n, sizeof(*r->credit));
        if (!r->credit)
            goto fail;
        r->ncredit = s.n;
        for (size_t i = 0; i < s.n; i++) {
            r->credit[i].touch_id = s.touch[i] ? s.touch[i]->id : NULL;
            r->credit[i].minor = s.minor[i];
        }
    }
    rp_split_free(&s);
    free(cv);
    rp_view_close(&v);
    *out = res;
    *nout = ncv;
    return 0;
fail:
    rp_conversions_free(res, ncv);
    rp_split_free(&s);
    free(cv);
    rp_view_close(&v);
    return -1;
}

cJSON *rp_contact_revenue(const struct rp_contact *c, unsigned char *repeat)
{
    struct rp_jview v;
    struct rp_conv *cv = NULL;
    size_t ncv = 0;
    struct rp_purse total = {0};
    unsigned char *counted = NULL;
    cJSON *out = NULL;
    if (rp_view_open(c, &v))
        return NULL;
    if (rp_list_conversions(&v, INT64_MIN, INT64_MAX, &cv, &ncv) ||
        (c && c->n && !(counted = calloc(c->n, 1))))
        goto out;
    for (size_t i = 0; i < ncv; i++) {
        if (rp_purse_add(&total, cv[i].ev->currency, cv[i].amount))
            goto out;
        counted[cv[i].ev - c->events] = 1;
    }
    /* A payment with a key that is not a conversion repeats an earlier payment's key. */
    for (size_t i = 0; repeat && c && i < c->n; i++)
        repeat[i] = is_payment(&c->events[i]) && *rp_nz(c->events[i].payment_key) && !counted[i];
    out = rp_purse_json(&total);
out:
    free(total.v);
    free(counted);
    free(cv);
    rp_view_close(&v);
    return out;
}
