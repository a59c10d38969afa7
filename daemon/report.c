/*
 * The report arithmetic of DESIGN §6 (attribution) and §6b (funnel, SLA). See report.h.
 *
 * Everything here is pure: the inputs are contacts' events already read from the store,
 * `now` is a parameter, and the only state is in the objects the caller owns. Local time
 * (periods, business hours) comes from the process time zone through localtime_r/mktime,
 * which the daemon sets from `timezone` (§6b); days are never assumed to last 24 h.
 *
 * Money is int64 minor units, counts are uint64, fractions are exact: the few products
 * that can exceed 64 bits go through the small unsigned 128-bit helpers below, never
 * through doubles. Doubles appear only where §6 asks for them (time-decay weights) and as
 * the carrier of already-rounded decimals in the JSON.
 */
#include "report.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY INT64_C(86400000)
#define DEFAULT_LOOKBACK_MS (90 * MS_PER_DAY)      /* §6: default 90 days */
#define DEFAULT_HALF_LIFE_MS (7 * MS_PER_DAY)      /* §6: default 7 days */
#define MAX_CURRENCIES 256                         /* per key: ISO 4217 has fewer */
#define MAX_BH_DAYS 36600                          /* business-hours walk: 100 years of days */
#define MAX_MONTHS 12000                           /* pro-rata target: 1000 years of months */
#define TIE_EPSILON 1e-9                           /* §6: time-decay remainders closer are ties */
#define EXACT_DOUBLE_LIMIT INT64_C(10000000000000) /* 10^13: JSON numbers below print exactly */

/* Stage ranks of §5 (report.h: visit 1 … paid 6). */
enum { ST_VISIT = 1, ST_LEAD = 2, ST_QUALIFIED = 3, ST_OPPORTUNITY = 4, ST_WON = 5, ST_PAID = 6 };
#define NSTAGES 5 /* funnel stages lead … paid (§6b) */

static const char *const model_names[] = {"first_touch", "last_touch", "linear", "position",
                                          "time_decay"};
static const char *const key_names[] = {"channel", "source", "campaign", "ad"};
static const char *const period_names[] = {"day", "week", "month"};
static const char *const stage_names[NSTAGES] = {"lead", "qualified", "opportunity", "won", "paid"};
/* Transition k (1…4) goes from stage k-1 to stage k; the arrow is U+2192 in UTF-8 (§7). */
static const char *const transition_names[NSTAGES] = {
    NULL, "lead\xe2\x86\x92qualified", "qualified\xe2\x86\x92opportunity",
    "opportunity\xe2\x86\x92won", "won\xe2\x86\x92paid"};

/* ------------------------------------------------------------------------------------ */
/* Checked integer arithmetic                                                            */
/* ------------------------------------------------------------------------------------ */

static int add_i64(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return -1;
    *out = a + b;
    return 0;
}

static int sub_i64(int64_t a, int64_t b, int64_t *out)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return -1;
    *out = a - b;
    return 0;
}

/* Floor division (b > 0): milliseconds → whole seconds rounded down (§6b), also before
 * 1970 where C's truncation would round up. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b < 0)
        q--;
    return q;
}

/* Unsigned 128-bit integers: exact products of amounts and weights, month lengths and
 * targets (§6 "exact integer minor units", §6b "exact fractions"). */
struct u128 {
    uint64_t hi, lo;
};

static struct u128 u128_of(uint64_t v)
{
    struct u128 r = {0, v};
    return r;
}

static struct u128 mul64(uint64_t a, uint64_t b)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    struct u128 r;
    r.lo = (mid << 32) | (p00 & 0xffffffffu);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

static int u128_mul(struct u128 a, uint64_t b, struct u128 *out)
{
    struct u128 lo = mul64(a.lo, b), hi = mul64(a.hi, b);
    if (hi.hi)
        return -1;
    uint64_t h = lo.hi + hi.lo;
    if (h < lo.hi)
        return -1;
    out->hi = h;
    out->lo = lo.lo;
    return 0;
}

static int u128_add(struct u128 a, struct u128 b, struct u128 *out)
{
    uint64_t lo = a.lo + b.lo;
    uint64_t carry = lo < a.lo;
    uint64_t hi = a.hi + b.hi;
    if (hi < a.hi || hi + carry < hi)
        return -1;
    out->hi = hi + carry;
    out->lo = lo;
    return 0;
}

static int u128_cmp(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

static struct u128 u128_sub(struct u128 a, struct u128 b) /* a >= b */
{
    struct u128 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

/* Shift-subtract long division; d must be nonzero and below 2^127. */
static int u128_divmod(struct u128 n, struct u128 d, struct u128 *q, struct u128 *r)
{
    if ((d.hi == 0 && d.lo == 0) || (d.hi >> 63))
        return -1;
    if (n.hi == 0 && d.hi == 0) {
        *q = u128_of(n.lo / d.lo);
        *r = u128_of(n.lo % d.lo);
        return 0;
    }
    struct u128 qq = {0, 0}, rr = {0, 0};
    for (int i = 127; i >= 0; i--) {
        uint64_t bit = i >= 64 ? (n.hi >> (i - 64)) & 1u : (n.lo >> i) & 1u;
        rr.hi = (rr.hi << 1) | (rr.lo >> 63);
        rr.lo = (rr.lo << 1) | bit;
        if (u128_cmp(rr, d) >= 0) {
            rr = u128_sub(rr, d);
            if (i >= 64)
                qq.hi |= UINT64_C(1) << (i - 64);
            else
                qq.lo |= UINT64_C(1) << i;
        }
    }
    *q = qq;
    *r = rr;
    return 0;
}

/* n / d rounded half up (n, d >= 0), as a uint64; -1 on overflow. */
static int div_half_up(struct u128 n, struct u128 d, uint64_t *out)
{
    struct u128 q, r;
    if (u128_divmod(n, d, &q, &r))
        return -1;
    if (u128_cmp(r, u128_sub(d, r)) >= 0 && u128_add(q, u128_of(1), &q))
        return -1;
    if (q.hi)
        return -1;
    *out = q.lo;
    return 0;
}

/* num/den rounded half up to 4 decimals, in units of 1e-4 (§6b rates). den > 0. */
static int rate4(uint64_t num, uint64_t den, uint64_t *out)
{
    return div_half_up(mul64(num, 10000), u128_of(den), out);
}

/* a/b >= c/d for nonnegative fractions with positive denominators, exactly. */
static int frac_ge(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return u128_cmp(mul64(a, d), mul64(c, b)) >= 0;
}

/* A decimal text of the config ("24", "0.9", "1.5"): value = num / scale. At most 9
 * fraction digits and 18 digits in all, so every product below stays within 128 bits. */
struct dec {
    uint64_t num, scale;
};

static int dec_parse(const char *s, struct dec *d)
{
    uint64_t num = 0, scale = 1;
    int digits = 0, frac = -1;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s == '.') {
            if (frac >= 0 || digits == 0)
                return -1;
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9')
            return -1;
        if (++digits > 18)
            return -1;
        num = num * 10 + (uint64_t)(*s - '0');
        if (frac >= 0) {
            if (++frac > 9)
                return -1;
            scale *= 10;
        }
    }
    if (digits == 0 || frac == 0) /* "." or "5." */
        return -1;
    d->num = num;
    d->scale = scale;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* JSON helpers                                                                          */
/* ------------------------------------------------------------------------------------ */

static int put(cJSON *obj, const char *name, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static int push(cJSON *arr, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* A decimal with `decimals` places given as the scaled integer (652, 2 → 6.52). Below
 * 10^13 a double carries it and cJSON's %1.15g prints exactly those digits; above, the
 * text is written raw so no cent is lost (§6 "to the cent"). */
static cJSON *fixed_number(int64_t scaled, int decimals)
{
    static const double pow10[] = {1, 10, 100, 1000, 10000};
    if (scaled > -EXACT_DOUBLE_LIMIT && scaled < EXACT_DOUBLE_LIMIT)
        return cJSON_CreateNumber((double)scaled / pow10[decimals]);
    char text[48];
    uint64_t mag = scaled < 0 ? (uint64_t)0 - (uint64_t)scaled : (uint64_t)scaled;
    uint64_t div = (uint64_t)pow10[decimals];
    if (decimals == 0)
        snprintf(text, sizeof(text), "%s%llu", scaled < 0 ? "-" : "", (unsigned long long)mag);
    else
        snprintf(text, sizeof(text), "%s%llu.%0*llu", scaled < 0 ? "-" : "",
                 (unsigned long long)(mag / div), decimals, (unsigned long long)(mag % div));
    return cJSON_CreateRaw(text);
}

static cJSON *int_number(int64_t v)
{
    return fixed_number(v, 0);
}

static cJSON *uint_number(uint64_t v)
{
    return fixed_number(v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v, 0);
}

/* RFC 3339 in UTC (§7 "Dates are RFC 3339 … in UTC"), milliseconds only when present. */
static int format_instant(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)floor_div(ms, 1000);
    int64_t frac = ms - floor_div(ms, 1000) * 1000;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    int n;
    if (frac)
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    else
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* An instant, or null for the open ends INT64_MIN / INT64_MAX ("all time", §7). */
static cJSON *instant_json(int64_t ms)
{
    char buf[48];
    if (ms == INT64_MIN || ms == INT64_MAX)
        return cJSON_CreateNull();
    if (format_instant(ms, buf, sizeof(buf)))
        return NULL;
    return cJSON_CreateString(buf);
}

/* ------------------------------------------------------------------------------------ */
/* Money per currency                                                                    */
/* ------------------------------------------------------------------------------------ */

struct money {
    char cur[4];
    int64_t minor;
};

struct purse {
    struct money *v;
    size_t n, cap;
};

/* Adds delta to the currency's total, keeping the currencies sorted by code so every
 * money object prints in the same order whatever the input order. */
static int purse_add(struct purse *p, const char *cur, int64_t delta)
{
    char c[4] = {0};
    size_t at = 0;
    for (size_t i = 0; i < 3 && cur[i]; i++)
        c[i] = cur[i];
    for (; at < p->n; at++) {
        int cmp = strcmp(p->v[at].cur, c);
        if (cmp == 0)
            return add_i64(p->v[at].minor, delta, &p->v[at].minor);
        if (cmp > 0)
            break;
    }
    if (p->n == MAX_CURRENCIES)
        return -1;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 2;
        struct money *v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof(*p->v));
    memcpy(p->v[at].cur, c, 4);
    p->v[at].minor = delta;
    p->n++;
    return 0;
}

static const int64_t *purse_get(const struct purse *p, const char *cur)
{
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->v[i].cur, cur, 4) == 0)
            return &p->v[i].minor;
    return NULL;
}

/* {"EUR": 652250, …} sorted by currency, so the output never depends on input order. */
static cJSON *purse_json(const struct purse *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (put(o, p->v[i].cur, int_number(p->v[i].minor))) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Journey order                                                                         */
/* ------------------------------------------------------------------------------------ */

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int ev_order(const struct rp_event *a, const struct rp_event *b)
{
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return strcmp(nz(a->id), nz(b->id));
}

static int ev_ptr_cmp(const void *pa, const void *pb)
{
    const struct rp_event *a = *(const struct rp_event *const *)pa;
    const struct rp_event *b = *(const struct rp_event *const *)pb;
    int c = ev_order(a, b);
    if (c)
        return c;
    /* Ids are unique in a journey (§3: the id is the dedup key); should two collide, the
     * input order decides, deterministically. */
    return a < b ? -1 : a > b;
}

/* The contact's events in journey order (at, id). report.h promises that order already;
 * it is checked in O(n) and restored if broken, so every result depends only on the
 * journey order (§3), never on the order the caller happened to pass. */
struct jview {
    const struct rp_event **ev;
    size_t n;
};

static int view_open(const struct rp_contact *c, struct jview *v)
{
    v->ev = NULL;
    v->n = 0;
    if (!c || c->n == 0)
        return 0;
    if (!c->events)
        return -1;
    v->ev = calloc(c->n, sizeof(*v->ev));
    if (!v->ev)
        return -1;
    int sorted = 1;
    for (size_t i = 0; i < c->n; i++) {
        v->ev[i] = &c->events[i];
        if (i && ev_order(v->ev[i - 1], v->ev[i]) > 0)
            sorted = 0;
    }
    if (!sorted)
        qsort(v->ev, c->n, sizeof(*v->ev), ev_ptr_cmp);
    v->n = c->n;
    return 0;
}

static void view_close(struct jview *v)
{
    free(v->ev);
    v->ev = NULL;
    v->n = 0;
}

static int is_kind(const struct rp_event *e, const char *kind)
{
    return strcmp(nz(e->kind), kind) == 0;
}

static int clamp_stage(int s)
{
    return s < 0 ? 0 : s > ST_PAID ? ST_PAID : s;
}

/* ------------------------------------------------------------------------------------ */
/* Conversions (§3 payment_key, §6)                                                      */
/* ------------------------------------------------------------------------------------ */

struct conv {
    const struct rp_event *ev;
    int64_t amount; /* signed: negative for a refund */
};

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
    return is_kind(e, "payment") && e->has_amount && e->amount_minor >= 0;
}

static int is_refund(const struct rp_event *e)
{
    return is_kind(e, "refund") && e->has_amount && e->amount_minor >= 0;
}

/* The conversions of a journey with at in [from, to). Payments count once per payment
 * key: the first payment with an amount in journey order is the conversion, over the
 * whole journey (a repeat inside the range of a payment made before it adds nothing).
 * A payment without a key is its own conversion. Each refund is a negative conversion. */
static int list_conversions(const struct jview *v, int64_t from, int64_t to, struct conv **out,
                            size_t *nout)
{
    struct keyed *k = NULL;
    unsigned char *first = NULL;
    struct conv *c = NULL;
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
        if (is_payment(v->ev[i]) && *nz(v->ev[i]->payment_key)) {
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
        if (is_payment(e) && (!*nz(e->payment_key) || first[i]))
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

struct rem_item {
    uint64_t rem;
    size_t i;
};

static int rem_cmp(const void *pa, const void *pb)
{
    const struct rem_item *a = pa, *b = pb;
    if (a->rem != b->rem)
        return a->rem > b->rem ? -1 : 1;   /* largest remainder first */
    return a->i < b->i ? -1 : a->i > b->i; /* ties to the earlier touch */
}

/* Scratch space for one contact, sized by its event count: the credit rows of the
 * conversion being split and the work arrays of the split. */
struct split {
    const struct rp_event **touch; /* row i credits touch[i]; NULL = (direct) */
    int64_t *minor;
    size_t n;
    uint64_t *w, *part;
    struct rem_item *rem;
    double *dw, *drem;
    unsigned char *given;
};

static void split_free(struct split *s)
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

static int split_init(struct split *s, size_t nevents)
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
        split_free(s);
        return -1;
    }
    return 0;
}

/* mag × w[i] / W exactly: floor every share, then one unit each to the largest remainders,
 * ties to the earlier touch (§6). Σ w = W, so Σ floors ≤ mag and fewer than n units are
 * left; the parts sum to mag exactly. */
static int split_exact(struct split *s, size_t n, uint64_t mag, uint64_t W)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        struct u128 q, r;
        if (u128_divmod(mul64(mag, s->w[i]), u128_of(W), &q, &r) || q.hi)
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
static size_t pick_largest(const struct split *s, size_t n)
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
static size_t pick_smallest(const struct split *s, size_t n)
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
static int split_decay(struct split *s, size_t n, uint64_t mag, int64_t conv_at, int64_t half)
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

static size_t lower_bound_at(const struct jview *v, int64_t at)
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
static int split_conversion(const struct jview *v, const struct conv *c,
                            const struct rp_attr_params *p, struct split *s)
{
    int64_t at = c->ev->at_ms;
    int64_t lookback = p->lookback_ms < 0 ? DEFAULT_LOOKBACK_MS : p->lookback_ms;
    int64_t half = p->half_life_ms <= 0 ? DEFAULT_HALF_LIFE_MS : p->half_life_ms;
    int64_t lo;
    if (sub_i64(at, lookback, &lo))
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

/* ------------------------------------------------------------------------------------ */
/* Public: parsing, conversions                                                          */
/* ------------------------------------------------------------------------------------ */

static int parse_name(const char *s, const char *const *names, size_t n, int *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return -1;
}

int rp_parse_model(const char *s, enum rp_model *out)
{
    int v;
    if (parse_name(s, model_names, sizeof(model_names) / sizeof(model_names[0]), &v))
        return -1;
    *out = (enum rp_model)v;
    return 0;
}

int rp_parse_key(const char *s, enum rp_key *out)
{
    int v;
    if (parse_name(s, key_names, sizeof(key_names) / sizeof(key_names[0]), &v))
        return -1;
    *out = (enum rp_key)v;
    return 0;
}

int rp_parse_period(const char *s, enum rp_period *out)
{
    int v;
    if (parse_name(s, period_names, sizeof(period_names) / sizeof(period_names[0]), &v))
        return -1;
    *out = (enum rp_period)v;
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
    struct jview v;
    struct conv *cv = NULL;
    size_t ncv = 0;
    struct split s;
    struct rp_conversion *res = NULL;
    size_t done = 0;
    *out = NULL;
    *nout = 0;
    if (!p || view_open(c, &v))
        return -1;
    if (list_conversions(&v, p->from_ms, p->to_ms, &cv, &ncv) || split_init(&s, v.n)) {
        free(cv);
        view_close(&v);
        return -1;
    }
    if (ncv && !(res = calloc(ncv, sizeof(*res))))
        goto fail;
    for (; done < ncv; done++) {
        struct rp_conversion *r = &res[done];
        if (split_conversion(&v, &cv[done], p, &s))
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
    split_free(&s);
    free(cv);
    view_close(&v);
    *out = res;
    *nout = ncv;
    return 0;
fail:
    rp_conversions_free(res, ncv);
    split_free(&s);
    free(cv);
    view_close(&v);
    return -1;
}

/* ------------------------------------------------------------------------------------ */
/* Attribution report                                                                    */
/* ------------------------------------------------------------------------------------ */

struct arow {
    char *key;
    struct purse revenue, spend;
    uint64_t conversions, touches;
    uint64_t last_conv; /* serial of the last conversion counted under this key */
};

struct rp_attribution {
    struct rp_attr_params p;
    size_t max_keys;
    struct arow *rows;
    size_t nrows, caprows;
    size_t *slots; /* open addressing: row index + 1, 0 = empty; power-of-two size */
    size_t nslots;
    uint64_t serial;
    int err; /* sticky: the first failure of an add, returned ever after */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static int slots_grow(struct rp_attribution *a)
{
    size_t n = a->nslots ? a->nslots * 2 : 64;
    if (n > SIZE_MAX / sizeof(size_t) / 2)
        return -1;
    size_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t r = 0; r < a->nrows; r++) {
        size_t i = (size_t)hash_str(a->rows[r].key) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = r + 1;
    }
    free(a->slots);
    a->slots = slots;
    a->nslots = n;
    return 0;
}

/* The row of key, created when new. -1 allocation, -2 over max_keys. */
static int row_of(struct rp_attribution *a, const char *key, struct arow **out)
{
    if (a->nslots == 0 && slots_grow(a))
        return -1;
    size_t i = (size_t)hash_str(key) & (a->nslots - 1);
    while (a->slots[i]) {
        struct arow *r = &a->rows[a->slots[i] - 1];
        if (strcmp(r->key, key) == 0) {
            *out = r;
            return 0;
        }
        i = (i + 1) & (a->nslots - 1);
    }
    if (a->nrows >= a->max_keys)
        return -2;
    if (a->nrows == a->caprows) {
        size_t cap = a->caprows ? a->caprows * 2 : 16;
        if (cap > SIZE_MAX / sizeof(struct arow))
            return -1;
        struct arow *rows = realloc(a->rows, cap * sizeof(*rows));
        if (!rows)
            return -1;
        a->rows = rows;
        a->caprows = cap;
    }
    size_t len = strlen(key);
    char *k = malloc(len + 1);
    if (!k)
        return -1;
    memcpy(k, key, len + 1);
    struct arow *r = &a->rows[a->nrows];
    memset(r, 0, sizeof(*r));
    r->key = k;
    a->slots[i] = ++a->nrows;
    if (a->nrows * 2 > a->nslots && slots_grow(a))
        return -1; /* the row exists; only the table could not grow */
    *out = &a->rows[a->nrows - 1];
    return 0;
}

struct rp_attribution *rp_attribution_new(const struct rp_attr_params *p, size_t max_keys)
{
    if (!p)
        return NULL;
    struct rp_attribution *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->p = *p;
    a->max_keys = max_keys;
    return a;
}

void rp_attribution_free(struct rp_attribution *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nrows; i++) {
        free(a->rows[i].key);
        free(a->rows[i].revenue.v);
        free(a->rows[i].spend.v);
    }
    free(a->rows);
    free(a->slots);
    free(a);
}

/* The report key of a credit row (§6): (direct) without a touch, (none) when the touch
 * lacks the grouping attribute. */
static const char *row_key(const struct rp_event *t, enum rp_key by)
{
    const char *k;
    if (!t)
        return "(direct)";
    switch (by) {
    case RP_BY_CHANNEL:
        k = t->channel;
        break;
    case RP_BY_SOURCE:
        k = t->source;
        break;
    case RP_BY_CAMPAIGN:
        k = t->campaign;
        break;
    case RP_BY_AD:
        k = t->ad;
        break;
    default:
        k = NULL;
        break;
    }
    return k && *k ? k : "(none)";
}

/*
 * Adds a contact's conversions with at in [from, to).
 *
 * Definitions (§6 leaves them to us; DESIGN's report row is {key, revenue, conversions,
 * touches, spend, roas}):
 * - revenue: the sum of the credit rows under the key, per currency, refunds included
 *   (negative). A key that received only zero-cent rows still appears, with 0.
 * - conversions: the number of payments (not refunds) that have at least one credit row
 *   under the key, zero-cent rows included — every touch in the window has a row (§6
 *   "zeros included"), and the weight of every model is nonzero for every touch in the
 *   window, so "has a row" and "has nonzero weight" are the same thing. A payment whose
 *   rows fall under three keys counts once under each; the column does not sum to the
 *   number of payments under multi-touch models. A refund undoes money, not a conversion,
 *   so it counts nowhere.
 * - touches: the number of credit rows of payments under the key that point to a touch
 *   ((direct) rows point to none, so (direct) always has 0). Under first/last touch that
 *   equals conversions; under the other models it counts each touch in each window.
 */
int rp_attribution_add(struct rp_attribution *a, const struct rp_contact *c)
{
    struct jview v;
    struct conv *cv = NULL;
    size_t ncv = 0;
    struct split s;
    int rc = 0;
    if (!a)
        return -1;
    if (a->err)
        return a->err;
    if (view_open(c, &v))
        return a->err = -1;
    if (list_conversions(&v, a->p.from_ms, a->p.to_ms, &cv, &ncv) || split_init(&s, v.n)) {
        free(cv);
        view_close(&v);
        return a->err = -1;
    }
    for (size_t k = 0; k < ncv && rc == 0; k++) {
        if (split_conversion(&v, &cv[k], &a->p, &s)) {
            rc = -1;
            break;
        }
        int payment = cv[k].amount >= 0 && is_kind(cv[k].ev, "payment");
        uint64_t serial = ++a->serial;
        for (size_t i = 0; i < s.n && rc == 0; i++) {
            struct arow *r;
            rc = row_of(a, row_key(s.touch[i], a->p.by), &r);
            if (rc)
                break;
            if (purse_add(&r->revenue, cv[k].ev->currency, s.minor[i])) {
                rc = -1;
                break;
            }
            if (!payment)
                continue;
            if (s.touch[i])
                r->touches++;
            if (r->last_conv != serial) {
                r->last_conv = serial;
                r->conversions++;
            }
        }
    }
    split_free(&s);
    free(cv);
    view_close(&v);
    if (rc)
        a->err = rc;
    return rc;
}

int rp_attribution_add_spend(struct rp_attribution *a, const char *key, const char *currency,
                             int64_t minor)
{
    struct arow *r;
    int rc;
    if (!a || !currency)
        return -1;
    if (a->err)
        return a->err;
    rc = row_of(a, key && *key ? key : "(none)", &r);
    if (rc == 0 && purse_add(&r->spend, currency, minor))
        rc = -1;
    if (rc)
        a->err = rc;
    return rc;
}

/* ROAS = revenue / spend, 2 decimals, from the integers (§6, §7): rounded half away from
 * zero (half up on the magnitude; revenue can be negative after refunds). null when the
 * spend is not positive. */
static cJSON *roas_json(int64_t revenue, int64_t spend)
{
    uint64_t h;
    if (spend <= 0)
        return cJSON_CreateNull();
    uint64_t mag = revenue < 0 ? (uint64_t)0 - (uint64_t)revenue : (uint64_t)revenue;
    if (div_half_up(mul64(mag, 100), u128_of((uint64_t)spend), &h) || h > (uint64_t)INT64_MAX)
        return NULL;
    return fixed_number(revenue < 0 ? -(int64_t)h : (int64_t)h, 2);
}

static int arow_ptr_cmp(const void *pa, const void *pb)
{
    const struct arow *a = *(const struct arow *const *)pa;
    const struct arow *b = *(const struct arow *const *)pb;
    return strcmp(a->key, b->key);
}

static cJSON *arow_json(const struct arow *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (put(o, "key", cJSON_CreateString(r->key)) || put(o, "revenue", purse_json(&r->revenue)) ||
        put(o, "conversions", uint_number(r->conversions)) ||
        put(o, "touches", uint_number(r->touches)))
        goto fail;
    if (r->spend.n) {
        cJSON *roas;
        if (put(o, "spend", purse_json(&r->spend)) || put(o, "roas", roas = cJSON_CreateObject()))
            goto fail;
        for (size_t i = 0; i < r->spend.n; i++) {
            const int64_t *rev = purse_get(&r->revenue, r->spend.v[i].cur);
            if (put(roas, r->spend.v[i].cur, roas_json(rev ? *rev : 0, r->spend.v[i].minor)))
                goto fail;
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *rp_attribution_json(const struct rp_attribution *a)
{
    if (!a || a->err)
        return NULL;
    const struct arow **order = NULL;
    cJSON *o = cJSON_CreateObject(), *rows;
    if (!o)
        return NULL;
    if (a->nrows && !(order = calloc(a->nrows, sizeof(*order))))
        goto fail;
    for (size_t i = 0; i < a->nrows; i++)
        order[i] = &a->rows[i];
    if (a->nrows > 1)
        qsort(order, a->nrows, sizeof(*order), arow_ptr_cmp);
    if ((unsigned)a->p.model >= sizeof(model_names) / sizeof(model_names[0]) ||
        (unsigned)a->p.by >= sizeof(key_names) / sizeof(key_names[0]))
        goto fail;
    if (put(o, "model", cJSON_CreateString(model_names[a->p.model])) ||
        put(o, "by", cJSON_CreateString(key_names[a->p.by])) ||
        put(o, "from", instant_json(a->p.from_ms)) || put(o, "to", instant_json(a->p.to_ms)) ||
        put(o, "rows", rows = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < a->nrows; i++)
        if (push(rows, arow_json(order[i])))
            goto fail;
    free(order);
    return o;
fail:
    free(order);
    cJSON_Delete(o);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Local time: periods (§6b)                                                             */
/* ------------------------------------------------------------------------------------ */

static int local_tm(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)floor_div(ms, 1000);
    return localtime_r(&t, tm) ? 0 : -1;
}

/* The instant of a local wall-clock time; mktime normalizes day 32, hour 24 and so on,
 * and tm_isdst = -1 lets it pick the offset in force that day (DST-correct). */
static int mk_local(int year, int mon0, int mday, int hour, int min, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon0;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_isdst = -1;
    tm.tm_wday = -1; /* mktime sets it on success: tells a failure from 1969-12-31T23:59:59 */
    time_t t = mktime(&tm);
    if (t == (time_t)-1 && tm.tm_wday < 0)
        return -1;
    if ((int64_t)t > INT64_MAX / 1000 || (int64_t)t < INT64_MIN / 1000)
        return -1;
    *ms = (int64_t)t * 1000;
    return 0;
}

/* Start of the local day / ISO week (Monday) / month that contains ms. */
static int period_start(enum rp_period by, int64_t ms, int64_t *out)
{
    struct tm tm;
    if (local_tm(ms, &tm))
        return -1;
    int mday = tm.tm_mday;
    if (by == RP_WEEK)
        mday -= (tm.tm_wday + 6) % 7;
    else if (by == RP_MONTH)
        mday = 1;
    if (mk_local(tm.tm_year + 1900, tm.tm_mon, mday, 0, 0, out))
        return -1;
    return *out <= ms ? 0 : -1;
}

/* Start of the period after the one starting at start: by calendar, not by 86400 s. */
static int period_next(enum rp_period by, int64_t start, int64_t *out)
{
    struct tm tm;
    if (local_tm(start, &tm))
        return -1;
    int y = tm.tm_year + 1900, m = tm.tm_mon, d = tm.tm_mday;
    if (by == RP_DAY)
        d += 1;
    else if (by == RP_WEEK)
        d += 7;
    else {
        m += 1;
        d = 1;
    }
    if (mk_local(y, m, d, 0, 0, out))
        return -1;
    return *out > start ? 0 : -1;
}

/* 2026-09 / 2026-W40 (ISO 8601 week-numbering year and week) / 2026-09-15 (§7). */
static int period_label(enum rp_period by, int64_t start, char *buf, size_t cap)
{
    struct tm tm;
    int n;
    if (local_tm(start, &tm))
        return -1;
    if (by == RP_WEEK)
        return strftime(buf, cap, "%G-W%V", &tm) ? 0 : -1;
    if (by == RP_MONTH)
        n = snprintf(buf, cap, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    else
        n = snprintf(buf, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The boundaries b[0] < … < b[n] of every period overlapping [from, to) (§6b: partial
 * and empty ones included). */
struct periods {
    int64_t *b;
    size_t n;
};

static int periods_build(enum rp_period by, int64_t from, int64_t to, struct periods *ps)
{
    size_t cap = 16;
    ps->n = 0;
    ps->b = NULL;
    if (from >= to)
        return 0;
    ps->b = malloc(cap * sizeof(*ps->b));
    if (!ps->b || period_start(by, from, &ps->b[0]))
        goto fail;
    while (ps->b[ps->n] < to) {
        if (ps->n >= RP_MAX_PERIODS)
            goto fail;
        if (ps->n + 1 == cap) {
            int64_t *b = realloc(ps->b, cap * 2 * sizeof(*b));
            if (!b)
                goto fail;
            ps->b = b;
            cap *= 2;
        }
        if (period_next(by, ps->b[ps->n], &ps->b[ps->n + 1]))
            goto fail;
        ps->n++;
    }
    return 0;
fail:
    free(ps->b);
    ps->b = NULL;
    ps->n = 0;
    return -1;
}

/* The period of t, or SIZE_MAX when t is outside [lo, hi) or outside every period. */
static size_t period_find(const int64_t *b, size_t n, int64_t lo, int64_t hi, int64_t t)
{
    if (t < lo || t >= hi || n == 0 || t < b[0] || t >= b[n])
        return SIZE_MAX;
    size_t l = 0, h = n; /* largest i with b[i] <= t */
    while (h - l > 1) {
        size_t mid = l + (h - l) / 2;
        if (b[mid] <= t)
            l = mid;
        else
            h = mid;
    }
    return l;
}

/* ------------------------------------------------------------------------------------ */
/* Funnel (§6b)                                                                          */
/* ------------------------------------------------------------------------------------ */

_Static_assert(sizeof(((struct rp_entries *)0)->at) == (ST_PAID + 1) * sizeof(int64_t),
               "rp_entries holds one time per stage rank");

/* Stage entry (§6b): the earliest at among events whose stage is s or higher. t[s] for
 * ranks 0…6, RP_NEVER = never. Order-free: a minimum does not care about order. */
static void stage_entries(const struct rp_contact *c, int64_t t[ST_PAID + 1])
{
    for (int s = 0; s <= ST_PAID; s++)
        t[s] = RP_NEVER;
    for (size_t i = 0; c->events && i < c->n; i++) {
        int s = clamp_stage(c->events[i].stage);
        if (c->events[i].at_ms < t[s])
            t[s] = c->events[i].at_ms;
    }
    for (int s = ST_PAID - 1; s >= 0; s--)
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

/* Nearest rank (§6b): the p-th percentile of n sorted values is the ⌈p·n/100⌉-th. */
static size_t nearest_rank(size_t n, unsigned pct)
{
    uint64_t r = ((uint64_t)n * pct + 99) / 100;
    return r == 0 ? 0 : (size_t)(r - 1);
}

/* Whole seconds from lead entry (rounded down, §6b). */
static int64_t secs_between(int64_t a, int64_t b)
{
    int64_t d;
    if (sub_i64(b, a, &d))
        return INT64_MAX / 1000;
    return floor_div(d, 1000);
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
        if (t[ST_LEAD] == RP_NEVER)
            continue;
        if (!activity) {
            size_t p = period_find(b, np, lo, hi, t[ST_LEAD]);
            if (p == SIZE_MAX)
                continue;
            st[p].count[0]++;
            for (int s = ST_QUALIFIED; s <= ST_PAID; s++)
                if (t[s] != RP_NEVER) {
                    st[p].count[s - ST_LEAD]++;
                    rec[nrec].p = p;
                    rec[nrec].k = s - ST_LEAD;
                    rec[nrec].secs = secs_between(t[ST_LEAD], t[s]);
                    nrec++;
                }
        } else {
            for (int s = ST_LEAD; s <= ST_PAID; s++) {
                size_t p = period_find(b, np, lo, hi, t[s]);
                if (p == SIZE_MAX)
                    continue;
                st[p].count[s - ST_LEAD]++;
                if (s == ST_LEAD)
                    continue; /* §6b: lead carries only its count */
                rec[nrec].p = p;
                rec[nrec].k = s - ST_LEAD;
                rec[nrec].secs = secs_between(t[ST_LEAD], t[s]);
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
        st[rec[i].p].median[rec[i].k] = rec[i + nearest_rank(j - i, 50)].secs;
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
    if (rate4(st->count[k], st->count[k - 1], r4))
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
        if (put(o, stage_names[k], s = cJSON_CreateObject()) ||
            put(s, "contacts", uint_number(st->count[k])))
            goto fail;
        if (k == 0)
            continue;
        int has = stage_rate(st, k, &r4);
        if (has < 0 || put(s, "rate", has ? fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
            put(s, "median_seconds",
                st->has_median[k] ? int_number(st->median[k]) : cJSON_CreateNull()))
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
    if (put(o, "period", cJSON_CreateString(label)) ||
        put(o, "transition",
            best ? cJSON_CreateString(transition_names[best]) : cJSON_CreateNull()) ||
        put(o, "points", best ? fixed_number(best_d, 2) : cJSON_CreateNull()) ||
        put(o, "stages", stages_json(cmp)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* The funnel answer over the contacts' stage entries. */
static cJSON *funnel_json(const struct rp_entries *ent, size_t n, const struct rp_funnel_params *p)
{
    struct periods ps = {NULL, 0};
    struct fstat *st = NULL, cst;
    cJSON *o = NULL, *arr;
    char label[32];
    if (periods_build(p->by, p->from_ms, p->to_ms, &ps))
        goto fail;
    if (ps.n && !(st = calloc(ps.n, sizeof(*st))))
        goto fail;
    if (funnel_stats(ent, n, ps.b, ps.n, p->from_ms, p->to_ms, p->activity, st))
        goto fail;
    if (!(o = cJSON_CreateObject()) ||
        put(o, "view", cJSON_CreateString(p->activity ? "activity" : "cohort")) ||
        put(o, "by", cJSON_CreateString(period_names[p->by])) ||
        put(o, "periods", arr = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < ps.n; i++) {
        cJSON *per;
        if (period_label(p->by, ps.b[i], label, sizeof(label)) ||
            push(arr, per = cJSON_CreateObject()) ||
            put(per, "period", cJSON_CreateString(label)) ||
            put(per, "stages", stages_json(&st[i])))
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
        if (period_label(p->by, p->compare_from_ms, label, sizeof(label)) ||
            put(o, "compare",
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

/* ------------------------------------------------------------------------------------ */
/* Business hours (§6b)                                                                  */
/* ------------------------------------------------------------------------------------ */

struct bhours {
    unsigned days; /* bit tm_wday: 0 = Sunday */
    int start_min, end_min;
};

static int day_index(const char *s, size_t len)
{
    static const char *const full[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};
    char w[16];
    if (len == 0 || len >= sizeof(w))
        return -1;
    for (size_t i = 0; i < len; i++)
        w[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    w[len] = 0;
    for (int d = 0; d < 7; d++)
        if ((len == 3 && strncmp(w, full[d], 3) == 0) || strcmp(w, full[d]) == 0)
            return d;
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_hhmm(const char *s, size_t len, int *minutes)
{
    if (len != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

/* "mon-fri 09:00-18:00", "mon,wed,fri 08:30-12:30", "sat-sun 10:00-14:00" (§6b: day
 * names or ranges, comma-separated, then one daily window). Days: three-letter or full
 * English names, any case; a range may wrap (fri-mon). The window is HH:MM-HH:MM on the
 * local clock, start before end (24:00 allowed as the end); no overnight windows. */
static int bh_parse(const char *text, struct bhours *bh)
{
    if (!text)
        return -1;
    size_t len = strlen(text);
    while (len && is_space(text[len - 1]))
        len--;
    size_t tstart = len;
    while (tstart && !is_space(text[tstart - 1]))
        tstart--;
    const char *win = text + tstart;
    size_t wlen = len - tstart;
    if (wlen != 11 || win[5] != '-' || parse_hhmm(win, 5, &bh->start_min) ||
        parse_hhmm(win + 6, 5, &bh->end_min) || bh->start_min >= bh->end_min)
        return -1;
    bh->days = 0;
    size_t i = 0, dend = tstart;
    int items = 0;
    while (1) {
        while (i < dend && is_space(text[i]))
            i++;
        size_t a = i;
        while (i < dend && text[i] != ',' && text[i] != '-' && !is_space(text[i]))
            i++;
        int d1 = day_index(text + a, i - a), d2;
        if (d1 < 0)
            return -1;
        while (i < dend && is_space(text[i]))
            i++;
        d2 = d1;
        if (i < dend && text[i] == '-') {
            i++;
            while (i < dend && is_space(text[i]))
                i++;
            a = i;
            while (i < dend && text[i] != ',' && text[i] != '-' && !is_space(text[i]))
                i++;
            if ((d2 = day_index(text + a, i - a)) < 0)
                return -1;
            while (i < dend && is_space(text[i]))
                i++;
        }
        for (int d = d1;; d = (d + 1) % 7) {
            bh->days |= 1u << d;
            if (d == d2)
                break;
        }
        items++;
        if (i >= dend)
            break;
        if (text[i] != ',')
            return -1;
        i++;
    }
    return items ? 0 : -1;
}

int rp_parse_business_hours(const char *s)
{
    struct bhours bh;
    return bh_parse(s, &bh);
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm), to count local days. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Milliseconds of [t0, t1) inside the business windows, each window placed on the local
 * clock of its own day (mktime with tm_isdst = -1), so a DST change moves the window with
 * the clock (§6b). */
static int business_ms(const struct bhours *bh, int64_t t0, int64_t t1, int64_t *out)
{
    struct tm a, b;
    *out = 0;
    if (t1 <= t0)
        return 0;
    if (local_tm(t0, &a) || local_tm(t1, &b))
        return -1;
    int64_t ndays = days_from_civil(b.tm_year + 1900, b.tm_mon + 1, b.tm_mday) -
                    days_from_civil(a.tm_year + 1900, a.tm_mon + 1, a.tm_mday);
    if (ndays < 0 || ndays > MAX_BH_DAYS)
        return -1;
    int64_t total = 0;
    for (int64_t k = 0; k <= ndays; k++) {
        int wday = (int)((a.tm_wday + k) % 7);
        if (!(bh->days & (1u << wday)))
            continue;
        int64_t ws, we;
        int mday = a.tm_mday + (int)k;
        if (mk_local(a.tm_year + 1900, a.tm_mon, mday, bh->start_min / 60, bh->start_min % 60,
                     &ws) ||
            mk_local(a.tm_year + 1900, a.tm_mon, mday, bh->end_min / 60, bh->end_min % 60, &we))
            return -1;
        int64_t lo = ws > t0 ? ws : t0, hi = we < t1 ? we : t1;
        if (hi > lo)
            total += hi - lo;
    }
    *out = total;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* SLA (§6b)                                                                             */
/* ------------------------------------------------------------------------------------ */

/* Source types of the CRMs (§6b: HubSpot, Pipedrive, Salesforce). */
static int is_crm(const struct rp_event *e)
{
    const char *t = nz(e->source_type);
    return strcmp(t, "hubspot") == 0 || strcmp(t, "pipedrive") == 0 || strcmp(t, "salesforce") == 0;
}

/* The sales team's doing (§6b): these kinds, or anything a CRM sent. */
static int is_sales_response(const struct rp_event *e)
{
    static const char *const kinds[] = {"sales_touch", "meeting", "stage_change", "deal_won",
                                        "deal_lost"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (is_kind(e, kinds[i]))
            return 1;
    return is_crm(e);
}

/* "Through a marketing event" (§6b: form, ad-platform lead, Typeform, custom event…, not a
 * CRM record sales created or a payment). Defined as: an event of kind lead, form or custom
 * (or a click/visit a connector promoted to lead) that no CRM sent. So the events API,
 * form, typeform, meta_leads and google_ads leads count; HubSpot/Pipedrive/Salesforce
 * records, payments, refunds, meetings (Calendly), sales touches, stage changes and deal
 * outcomes do not, whoever sent them. */
static int is_marketing(const struct rp_event *e)
{
    static const char *const kinds[] = {"lead", "form", "custom", "click", "visit"};
    if (is_crm(e))
        return 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (is_kind(e, kinds[i]))
            return 1;
    return 0;
}

struct waiting {
    char *contact; /* owned: the caller may free its contacts before the answer is built */
    int64_t lead_at, waited;
};

static int waiting_cmp(const void *pa, const void *pb)
{
    const struct waiting *a = pa, *b = pb;
    if (a->lead_at != b->lead_at)
        return a->lead_at < b->lead_at ? -1 : 1;
    return strcmp(a->contact, b->contact);
}

static int i64_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

/* Whole seconds from t0 to t1 (rounded down, §6b): clock time, or business time. */
static int duration_secs(const struct bhours *bh, int64_t t0, int64_t t1, int64_t *secs)
{
    int64_t ms;
    if (t1 <= t0) {
        *secs = 0;
        return 0;
    }
    if (bh) {
        if (business_ms(bh, t0, t1, &ms))
            return -1;
    } else if (sub_i64(t1, t0, &ms)) {
        return -1;
    }
    *secs = floor_div(ms, 1000);
    return 0;
}

/* secs ≤ hours × 3600, exactly (§6b "within the SLA means ≤ the limit"). */
static int within_limit(int64_t secs, const struct dec *hours)
{
    if (secs < 0)
        return 1;
    return u128_cmp(mul64((uint64_t)secs, hours->scale), mul64(hours->num, 3600)) <= 0;
}

/* The pro-rata lead target in hundredths (§6b): leads_per_month × Σ over the local months
 * overlapping [from, to) of overlap ÷ month length, rounded half up to 2 decimals. Whole
 * months contribute exactly 1 and only the first and last month can be partial, so the
 * sum is W + a/b + c/d, kept as one exact fraction (128-bit) until the final rounding. */
static int leads_target(const struct dec *t, int64_t from, int64_t to, uint64_t *hundredths)
{
    uint64_t whole = 0;
    struct u128 num = {0, 0}, den = {0, 1};
    int64_t ms;
    size_t months = 0;
    if (from >= to) {
        *hundredths = 0;
        return 0;
    }
    if (period_start(RP_MONTH, from, &ms))
        return -1;
    while (ms < to) {
        int64_t next;
        if (++months > MAX_MONTHS || period_next(RP_MONTH, ms, &next))
            return -1;
        int64_t lo = ms > from ? ms : from, hi = next < to ? next : to;
        uint64_t len = (uint64_t)(next - ms), part = (uint64_t)(hi - lo);
        if (part == len) {
            whole++;
        } else {
            /* num/den + part/len = (num·len + part·den) / (den·len); den has at most two
             * month lengths (< 2^32 ms each) so everything stays below 2^100. */
            struct u128 x, y;
            if (u128_mul(num, len, &x) || u128_mul(den, part, &y) || u128_add(x, y, &num) ||
                u128_mul(den, len, &den))
                return -1;
        }
        ms = next;
    }
    /* target = t.num/t.scale × (whole + num/den) → hundredths = 100·t.num·(whole·den + num)
     *                                                           / (t.scale·den) */
    struct u128 n, w, d;
    if (u128_mul(den, whole, &w) || u128_add(w, num, &n) || u128_mul(n, t->num, &n) ||
        u128_mul(n, 100, &n) || u128_mul(den, t->scale, &d))
        return -1;
    return div_half_up(n, d, hundredths);
}

struct sla_acc {
    uint64_t leads, self_served, answered, within, qualified;
    int64_t *resp;
    size_t nresp, cresp;
    struct waiting *wait;
    size_t nwait, cwait;
    struct purse revenue;
};

/* Room for one more element in a growing array of elements of size sz. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    if (c > SIZE_MAX / sz)
        return -1;
    void *nv = realloc(*v, c * sz);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
    return 0;
}

/* One contact's part of the SLA. */
static int sla_contact(const struct rp_contact *c, const struct rp_sla_params *p,
                       const struct bhours *bh, const struct dec *hours, struct sla_acc *acc)
{
    struct jview v;
    struct conv *cv = NULL;
    size_t ncv = 0;
    int rc = -1;
    if (view_open(c, &v))
        return -1;
    /* §6b "both": every conversion with at in [from, to), whoever the contact is. */
    if (list_conversions(&v, p->from_ms, p->to_ms, &cv, &ncv))
        goto out;
    for (size_t i = 0; i < ncv; i++)
        if (purse_add(&acc->revenue, cv[i].ev->currency, cv[i].amount))
            goto out;
    /* The lead entry is the first event in journey order at stage lead or higher; its at
     * is the stage entry of §6b. The lead counts when that event is a marketing event. */
    size_t li = 0;
    while (li < v.n && clamp_stage(v.ev[li]->stage) < ST_LEAD)
        li++;
    if (li == v.n) {
        rc = 0;
        goto out;
    }
    const struct rp_event *lead = v.ev[li];
    if (lead->at_ms < p->from_ms || lead->at_ms >= p->to_ms || !is_marketing(lead)) {
        rc = 0;
        goto out;
    }
    acc->leads++;
    int qualified = 0;
    for (size_t i = li; i < v.n && !qualified; i++)
        qualified = clamp_stage(v.ev[i]->stage) >= ST_QUALIFIED;
    acc->qualified += (uint64_t)qualified;
    /* The response: the first later event in journey order that is the sales team's
     * doing, also after `to`; a payment before any response makes the lead self-served. */
    const struct rp_event *resp = NULL;
    int self = 0;
    for (size_t i = li + 1; i < v.n; i++) {
        if (is_sales_response(v.ev[i])) {
            resp = v.ev[i];
            break;
        }
        if (is_kind(v.ev[i], "payment")) {
            self = 1;
            break;
        }
    }
    if (self) {
        acc->self_served++;
        rc = 0;
        goto out;
    }
    int64_t secs;
    if (resp) {
        if (duration_secs(bh, lead->at_ms, resp->at_ms, &secs))
            goto out;
        if (grow((void **)&acc->resp, &acc->cresp, acc->nresp, sizeof(*acc->resp)))
            goto out;
        acc->answered++;
        acc->within += (uint64_t)within_limit(secs, hours);
        acc->resp[acc->nresp++] = secs;
    } else {
        /* Waiting: measured to the earlier of now and to; listed when over the limit. */
        int64_t end = p->now_ms < p->to_ms ? p->now_ms : p->to_ms;
        if (duration_secs(bh, lead->at_ms, end, &secs))
            goto out;
        if (!within_limit(secs, hours)) {
            if (grow((void **)&acc->wait, &acc->cwait, acc->nwait, sizeof(*acc->wait)) ||
                !(acc->wait[acc->nwait].contact = strdup(nz(c->id))))
                goto out;
            acc->wait[acc->nwait].lead_at = lead->at_ms;
            acc->wait[acc->nwait].waited = secs;
            acc->nwait++;
        }
    }
    rc = 0;
out:
    free(cv);
    view_close(&v);
    return rc;
}

static cJSON *sla_sales_json(struct sla_acc *acc, const struct dec *share_target)
{
    cJSON *o = cJSON_CreateObject(), *w;
    uint64_t sales = acc->leads - acc->self_served, r4 = 0;
    char at[48];
    if (!o)
        return NULL;
    if (sales && rate4(acc->within, sales, &r4))
        goto fail;
    /* Met: the shown share ≥ response_share, as decimals; no sales leads: met. */
    int met = sales == 0 || frac_ge(r4, 10000, share_target->num, share_target->scale);
    if (acc->nresp > 1)
        qsort(acc->resp, acc->nresp, sizeof(*acc->resp), i64_cmp);
    if (acc->nwait > 1)
        qsort(acc->wait, acc->nwait, sizeof(*acc->wait), waiting_cmp);
    if (put(o, "leads", uint_number(sales)) || put(o, "answered", uint_number(acc->answered)) ||
        put(o, "within_sla", uint_number(acc->within)) ||
        put(o, "share_within_sla", sales ? fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
        put(o, "median_seconds",
            acc->nresp ? int_number(acc->resp[nearest_rank(acc->nresp, 50)])
                       : cJSON_CreateNull()) ||
        put(o, "p90_seconds",
            acc->nresp ? int_number(acc->resp[nearest_rank(acc->nresp, 90)])
                       : cJSON_CreateNull()) ||
        put(o, "waiting", w = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < acc->nwait; i++) {
        cJSON *e;
        if (format_instant(acc->wait[i].lead_at, at, sizeof(at)) ||
            push(w, e = cJSON_CreateObject()) ||
            put(e, "contact", cJSON_CreateString(acc->wait[i].contact)) ||
            put(e, "lead_at", cJSON_CreateString(at)) ||
            put(e, "waited_seconds", int_number(acc->wait[i].waited)))
            goto fail;
    }
    if (put(o, "self_served", uint_number(acc->self_served)) ||
        put(o, "met", cJSON_CreateBool(met)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *dec_json(const struct dec *d)
{
    return cJSON_CreateNumber((double)d->num / (double)d->scale);
}

static cJSON *sla_marketing_json(const struct sla_acc *acc, const struct rp_sla_params *p,
                                 const struct dec *lpm, const struct dec *qrt)
{
    cJSON *o = cJSON_CreateObject();
    uint64_t target = 0, r4 = 0;
    int met = 1;
    if (!o)
        return NULL;
    if (lpm) {
        if (leads_target(lpm, p->from_ms, p->to_ms, &target) || target > (uint64_t)INT64_MAX)
            goto fail;
        /* leads ≥ the shown (2-decimal) target, exactly */
        met = met && frac_ge(acc->leads, 1, target, 100);
    }
    if (acc->leads && rate4(acc->qualified, acc->leads, &r4))
        goto fail;
    if (qrt) /* a null rate never meets a target; compared as shown, as decimals */
        met = met && acc->leads && frac_ge(r4, 10000, qrt->num, qrt->scale);
    if (put(o, "leads", uint_number(acc->leads)) ||
        put(o, "leads_target", lpm ? fixed_number((int64_t)target, 2) : cJSON_CreateNull()) ||
        put(o, "qualified", uint_number(acc->qualified)) ||
        put(o, "qualified_rate", acc->leads ? fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
        put(o, "qualified_rate_target", qrt ? dec_json(qrt) : cJSON_CreateNull()) ||
        put(o, "met", cJSON_CreateBool(met)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

struct rp_sla {
    const struct rp_sla_params *p;
    struct bhours bh;
    struct dec hours, share, lpm, qrt;
    struct sla_acc acc;
    int failed; /* sticky: a half-added contact is never reported */
};

struct rp_sla *rp_sla_new(const struct rp_sla_params *p)
{
    struct rp_sla *s;
    if (!p || !(s = calloc(1, sizeof(*s))))
        return NULL;
    s->p = p;
    if ((p->business_hours && bh_parse(p->business_hours, &s->bh)) ||
        dec_parse(p->response_hours ? p->response_hours : "24", &s->hours) ||
        dec_parse(p->response_share ? p->response_share : "0.9", &s->share) ||
        (p->leads_per_month && dec_parse(p->leads_per_month, &s->lpm)) ||
        (p->qualified_rate && dec_parse(p->qualified_rate, &s->qrt))) {
        free(s);
        return NULL;
    }
    return s;
}

int rp_sla_add(struct rp_sla *s, const struct rp_contact *c)
{
    if (!s || !c || s->failed)
        return -1;
    if (sla_contact(c, s->p, s->p->business_hours ? &s->bh : NULL, &s->hours, &s->acc)) {
        s->failed = 1;
        return -1;
    }
    return 0;
}

cJSON *rp_sla_json(struct rp_sla *s)
{
    const struct rp_sla_params *p;
    cJSON *o = NULL;
    if (!s || s->failed)
        return NULL;
    p = s->p;
    if (!(o = cJSON_CreateObject()) || put(o, "from", instant_json(p->from_ms)) ||
        put(o, "to", instant_json(p->to_ms)) ||
        put(o, "sales", sla_sales_json(&s->acc, &s->share)) ||
        put(o, "marketing",
            sla_marketing_json(&s->acc, p, p->leads_per_month ? &s->lpm : NULL,
                               p->qualified_rate ? &s->qrt : NULL)) ||
        put(o, "revenue", purse_json(&s->acc.revenue))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

void rp_sla_free(struct rp_sla *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->acc.nwait; i++)
        free(s->acc.wait[i].contact);
    free(s->acc.resp);
    free(s->acc.wait);
    free(s->acc.revenue.v);
    free(s);
}

cJSON *rp_sla(const struct rp_contact *contacts, size_t n, const struct rp_sla_params *p)
{
    struct rp_sla *s;
    cJSON *o = NULL;
    if (!p || (n && !contacts) || !(s = rp_sla_new(p)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (rp_sla_add(s, &contacts[i]))
            goto out;
    o = rp_sla_json(s);
out:
    rp_sla_free(s);
    return o;
}

int rp_sla_slice_done(const struct rp_event *ev, size_t n, int qualified)
{
    struct rp_contact c = {NULL, ev, n};
    struct jview v;
    int lead = 0, answered = 0, done = 0;
    if (n == 0 || view_open(&c, &v))
        return 0;
    /* The same walk as sla_contact: the lead is the first event at stage lead or higher;
     * the response scan stops at the first sales response or payment after it. */
    for (size_t i = 0; i < v.n && !done; i++) {
        int st = clamp_stage(v.ev[i]->stage);
        if (!lead) {
            lead = st >= ST_LEAD;
        } else if (!answered) {
            answered = is_sales_response(v.ev[i]) || is_kind(v.ev[i], "payment");
        }
        if (lead && st >= ST_QUALIFIED)
            qualified = 0;
        done = lead && answered && !qualified;
    }
    view_close(&v);
    return done;
}
