/*
 * The SLA scorecard (DESIGN §6b, report.h rp_sla*): marketing (leads delivered and the
 * qualified rate against their targets) and sales (lead response time in business hours,
 * the share answered within the SLA, leads still waiting) and the revenue of the range.
 */
#include "report.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "exact.h"
#include "journey.h"
#include "json.h"
#include "localtime.h"
#include "purse.h"
#include "stage.h"

#define MAX_MONTHS 12000 /* pro-rata target: 1000 years of months */
/* Owners listed one by one in sales.by_owner; the responses of any further owner count
 * together under "(other)", so a CRM with thousands of users cannot grow the answer (or
 * the linear look-up below) without bound. A sales team has tens of reps. */
#define MAX_OWNERS 500

/* Source types of the CRMs (§6b: HubSpot, Pipedrive, Salesforce). */
static int is_crm(const struct rp_event *e)
{
    const char *t = rp_nz(e->source_type);
    return strcmp(t, "hubspot") == 0 || strcmp(t, "pipedrive") == 0 || strcmp(t, "salesforce") == 0;
}

/* The sales team's doing (§6b): these kinds, or anything a CRM sent. */
static int is_sales_response(const struct rp_event *e)
{
    static const char *const kinds[] = {"sales_touch", "meeting", "stage_change", "deal_won",
                                        "deal_lost"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (rp_is_kind(e, kinds[i]))
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
        if (rp_is_kind(e, kinds[i]))
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
static int duration_secs(const struct rp_bhours *bh, int64_t t0, int64_t t1, int64_t *secs)
{
    int64_t ms;
    if (t1 <= t0) {
        *secs = 0;
        return 0;
    }
    if (bh) {
        if (rp_business_ms(bh, t0, t1, &ms))
            return -1;
    } else if (rp_sub_i64(t1, t0, &ms)) {
        return -1;
    }
    *secs = rp_floor_div(ms, 1000);
    return 0;
}

/* secs ≤ hours × 3600, exactly (§6b "within the SLA means ≤ the limit"). */
static int within_limit(int64_t secs, const struct rp_dec *hours)
{
    if (secs < 0)
        return 1;
    return rp_u128_cmp(rp_mul64((uint64_t)secs, hours->scale), rp_mul64(hours->num, 3600)) <= 0;
}

/* The pro-rata lead target in hundredths (§6b): leads_per_month × Σ over the local months
 * overlapping [from, to) of overlap ÷ month length, rounded half up to 2 decimals. Whole
 * months contribute exactly 1 and only the first and last month can be partial, so the
 * sum is W + a/b + c/d, kept as one exact fraction (128-bit) until the final rounding. */
static int leads_target(const struct rp_dec *t, int64_t from, int64_t to, uint64_t *hundredths)
{
    uint64_t whole = 0;
    struct rp_u128 num = {0, 0}, den = {0, 1};
    int64_t ms;
    size_t months = 0;
    if (from >= to) {
        *hundredths = 0;
        return 0;
    }
    if (rp_period_start(RP_MONTH, from, &ms))
        return -1;
    while (ms < to) {
        int64_t next;
        if (++months > MAX_MONTHS || rp_period_next(RP_MONTH, ms, &next))
            return -1;
        int64_t lo = ms > from ? ms : from, hi = next < to ? next : to;
        uint64_t len = (uint64_t)(next - ms), part = (uint64_t)(hi - lo);
        if (part == len) {
            whole++;
        } else {
            /* num/den + part/len = (num·len + part·den) / (den·len); den has at most two
             * month lengths (< 2^32 ms each) so everything stays below 2^100. */
            struct rp_u128 x, y;
            if (rp_u128_mul(num, len, &x) || rp_u128_mul(den, part, &y) ||
                rp_u128_add(x, y, &num) || rp_u128_mul(den, len, &den))
                return -1;
        }
        ms = next;
    }
    /* target = t.num/t.scale × (whole + num/den) → hundredths = 100·t.num·(whole·den + num)
     *                                                           / (t.scale·den) */
    struct rp_u128 n, w, d;
    if (rp_u128_mul(den, whole, &w) || rp_u128_add(w, num, &n) || rp_u128_mul(n, t->num, &n) ||
        rp_u128_mul(n, 100, &n) || rp_u128_mul(den, t->scale, &d))
        return -1;
    return rp_div_half_up(n, d, hundredths);
}

/* The answered leads of one owner (sales.by_owner): who gave the response. */
struct owner_acc {
    char *owner; /* owned; "(none)" for responses without an owner */
    int64_t *resp;
    size_t nresp, cresp;
    uint64_t within;
};

struct sla_acc {
    struct owner_acc *owners;
    size_t nowners, cowners;
    uint64_t leads, self_served, answered, within, qualified;
    uint64_t leads_touched, payments, payments_touched; /* identity health */
    int64_t *resp;
    size_t nresp, cresp;
    struct waiting *wait;
    size_t nwait, cwait;
    struct rp_purse revenue;
    /* Drill-down: the leads kept (rp_sla_keep_leads); keep_mask 0 keeps none. */
    unsigned keep_mask;
    size_t keep_max;
    struct rp_sla_lead *kept;
    size_t nkept, ckept;
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

/* Counts one answered lead for the owner of its response (§6b "per owner"): the CRM user
 * the response event names, "(none)" when it names nobody (a form's own events, a CRM
 * that gave no owner). 0, -1 on allocation failure. */
static int owner_add(struct sla_acc *acc, const char *owner, int64_t secs, int within)
{
    const char *name = owner && owner[0] ? owner : "(none)";
    size_t i;
    for (i = 0; i < acc->nowners; i++)
        if (strcmp(acc->owners[i].owner, name) == 0)
            break;
    if (i == acc->nowners && acc->nowners >= MAX_OWNERS) {
        name = "(other)";
        for (i = 0; i < acc->nowners; i++)
            if (strcmp(acc->owners[i].owner, name) == 0)
                break;
    }
    if (i == acc->nowners) {
        if (grow((void **)&acc->owners, &acc->cowners, acc->nowners, sizeof(*acc->owners)))
            return -1;
        struct owner_acc *o = &acc->owners[acc->nowners];
        memset(o, 0, sizeof(*o));
        if (!(o->owner = strdup(name)))
            return -1;
        acc->nowners++;
    }
    struct owner_acc *o = &acc->owners[i];
    if (grow((void **)&o->resp, &o->cresp, o->nresp, sizeof(*o->resp)))
        return -1;
    o->resp[o->nresp++] = secs;
    o->within += (uint64_t)(within != 0);
    return 0;
}

/* Keeps one lead for the drill-down when its status is asked for. 0, -1 on allocation
 * failure, -2 past keep_max. */
static int keep_lead(struct sla_acc *acc, const char *contact, int64_t lead_at,
                     enum rp_sla_status st, int64_t secs, int64_t resp_at)
{
    if (!(acc->keep_mask & (1u << st)))
        return 0;
    if (acc->nkept >= acc->keep_max)
        return -2;
    if (grow((void **)&acc->kept, &acc->ckept, acc->nkept, sizeof(*acc->kept)))
        return -1;
    struct rp_sla_lead *l = &acc->kept[acc->nkept];
    if (!(l->contact = strdup(contact)))
        return -1;
    l->lead_at = lead_at;
    l->status = st;
    l->seconds = secs;
    l->response_at = resp_at;
    acc->nkept++;
    return 0;
}

/* The sales and marketing part of one lead counted (a marketing lead entry in [from, to)):
 * from its journey (sla_contact) or from the index apply.lua keeps (rp_sla_add_lead). */
static int lead_part(const struct rp_sla_fact *f, const struct rp_sla_params *p,
                     const struct rp_bhours *bh, const struct rp_dec *hours, struct sla_acc *acc)
{
    const char *cid = rp_nz(f->contact);
    int64_t secs;
    acc->leads++;
    acc->leads_touched += (uint64_t)(f->touched != 0);
    acc->qualified += (uint64_t)(f->qualified != 0);
    if (f->response == RP_SLA_PAID_FIRST) {
        acc->self_served++;
        return keep_lead(acc, cid, f->lead_at, RP_SLA_SELF_SERVED, 0, 0);
    }
    if (f->response == RP_SLA_ANSWERED) {
        if (duration_secs(bh, f->lead_at, f->response_at, &secs))
            return -1;
        if (grow((void **)&acc->resp, &acc->cresp, acc->nresp, sizeof(*acc->resp)))
            return -1;
        acc->answered++;
        int within = within_limit(secs, hours);
        acc->within += (uint64_t)within;
        acc->resp[acc->nresp++] = secs;
        if (owner_add(acc, f->owner, secs, within))
            return -1;
        return keep_lead(acc, cid, f->lead_at, within ? RP_SLA_WITHIN : RP_SLA_BREACHED, secs,
                         f->response_at);
    }
    /* Waiting: measured to the earlier of now and to; listed when over the limit. */
    int64_t end = p->now_ms < p->to_ms ? p->now_ms : p->to_ms;
    if (duration_secs(bh, f->lead_at, end, &secs))
        return -1;
    if (!within_limit(secs, hours)) {
        if (grow((void **)&acc->wait, &acc->cwait, acc->nwait, sizeof(*acc->wait)) ||
            !(acc->wait[acc->nwait].contact = strdup(cid)))
            return -1;
        acc->wait[acc->nwait].lead_at = f->lead_at;
        acc->wait[acc->nwait].waited = secs;
        acc->nwait++;
    }
    return keep_lead(acc, cid, f->lead_at, within_limit(secs, hours) ? RP_SLA_OPEN : RP_SLA_WAITING,
                     secs, 0);
}

/* One contact's part of the SLA; with lead_too 0, only its revenue and payments (its
 * lead is counted from the index, or it has none in range). */
static int sla_contact(const struct rp_contact *c, int64_t first_touch, int lead_too,
                       const struct rp_sla_params *p, const struct rp_bhours *bh,
                       const struct rp_dec *hours, struct sla_acc *acc)
{
    struct rp_jview v;
    struct rp_conv *cv = NULL;
    size_t ncv = 0;
    int rc = -1;
    if (rp_view_open(c, &v))
        return -1;
    /* §6b "both": every conversion with at in [from, to), whoever the contact is. */
    if (rp_list_conversions(&v, p->from_ms, p->to_ms, &cv, &ncv))
        goto out;
    for (size_t i = 0; i < ncv; i++)
        if (rp_purse_add(&acc->revenue, cv[i].ev->currency, cv[i].amount))
            goto out;
    /* Identity health: a payment with a touch at or before it; a lead with a touch before
     * `to` (first_touch: the earliest the caller saw apart from the events, before `to`,
     * or INT64_MAX). */
    for (size_t i = 0; i < v.n; i++)
        if (v.ev[i]->is_touch && v.ev[i]->at_ms < first_touch && v.ev[i]->at_ms < p->to_ms)
            first_touch = v.ev[i]->at_ms;
    for (size_t i = 0; i < ncv; i++)
        if (cv[i].amount >= 0 && rp_is_kind(cv[i].ev, "payment")) {
            acc->payments++;
            acc->payments_touched += (uint64_t)(first_touch <= cv[i].ev->at_ms);
        }
    if (!lead_too) {
        rc = 0;
        goto out;
    }
    /* The lead entry is the first event in journey order at stage lead or higher; its at
     * is the stage entry of §6b. The lead counts when that event is a marketing event. */
    size_t li = 0;
    while (li < v.n && rp_clamp_stage(v.ev[li]->stage) < JD_STAGE_LEAD)
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
    int qualified = 0;
    for (size_t i = li; i < v.n && !qualified; i++)
        qualified = rp_clamp_stage(v.ev[i]->stage) >= JD_STAGE_QUALIFIED;
    /* The response: the first later event in journey order that is the sales team's
     * doing, also after `to`; a payment before any response makes the lead self-served. */
    struct rp_sla_fact f = {.contact = rp_nz(c->id),
                            .lead_at = lead->at_ms,
                            .marketing = 1,
                            .qualified = qualified,
                            .touched = first_touch != INT64_MAX,
                            .response = RP_SLA_WAITS};
    for (size_t i = li + 1; i < v.n; i++) {
        if (is_sales_response(v.ev[i])) {
            f.response = RP_SLA_ANSWERED;
            f.response_at = v.ev[i]->at_ms;
            f.owner = v.ev[i]->owner;
            break;
        }
        if (rp_is_kind(v.ev[i], "payment")) {
            f.response = RP_SLA_PAID_FIRST;
            break;
        }
    }
    rc = lead_part(&f, p, bh, hours, acc);
out:
    free(cv);
    rp_view_close(&v);
    return rc;
}

static int owner_cmp(const void *pa, const void *pb)
{
    return strcmp(((const struct owner_acc *)pa)->owner, ((const struct owner_acc *)pb)->owner);
}

/* sales.by_owner: per owner of the responses, sorted by owner, the answered leads, those
 * within the SLA and the median and p90 response time (nearest rank, as the totals). */
static cJSON *by_owner_json(struct sla_acc *acc)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    if (acc->nowners > 1)
        qsort(acc->owners, acc->nowners, sizeof(*acc->owners), owner_cmp);
    for (size_t i = 0; i < acc->nowners; i++) {
        struct owner_acc *o = &acc->owners[i];
        cJSON *e;
        if (o->nresp > 1)
            qsort(o->resp, o->nresp, sizeof(*o->resp), i64_cmp);
        if (rp_push(a, e = cJSON_CreateObject()) ||
            rp_put(e, "owner", cJSON_CreateString(o->owner)) ||
            rp_put(e, "answered", rp_uint_number(o->nresp)) ||
            rp_put(e, "within_sla", rp_uint_number(o->within)) ||
            rp_put(e, "median_seconds", rp_int_number(o->resp[rp_nearest_rank(o->nresp, 50)])) ||
            rp_put(e, "p90_seconds", rp_int_number(o->resp[rp_nearest_rank(o->nresp, 90)]))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* The distribution of response times the scorecard draws (issue 13: "the distribution of
 * response times"): answered leads per bucket, under each edge (seconds, business seconds
 * with business_hours, as the median), the last open-ended. An object, so the CSV's figures
 * table leaves it out; the edges travel with the counts so the answer explains itself. */
static const int64_t response_edges[] = {900, 3600, 4 * 3600, 86400, 3 * 86400};
#define N_RESPONSE_BUCKETS (sizeof(response_edges) / sizeof(response_edges[0]) + 1)

static cJSON *response_times_json(const int64_t *sorted, size_t n)
{
    cJSON *o = cJSON_CreateObject(), *edges, *counts;
    if (!o || rp_put(o, "under_seconds", edges = cJSON_CreateArray()) ||
        rp_put(o, "answered", counts = cJSON_CreateArray()))
        goto fail;
    size_t at = 0;
    for (size_t b = 0; b < N_RESPONSE_BUCKETS; b++) {
        int last = b + 1 == N_RESPONSE_BUCKETS;
        size_t from = at;
        while (at < n && (last || sorted[at] < response_edges[b]))
            at++;
        if (rp_push(edges, last ? cJSON_CreateNull() : rp_int_number(response_edges[b])) ||
            rp_push(counts, rp_uint_number(at - from)))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *sla_sales_json(struct sla_acc *acc, const struct rp_dec *share_target)
{
    cJSON *o = cJSON_CreateObject(), *w;
    uint64_t sales = acc->leads - acc->self_served, r4 = 0;
    char at[48];
    if (!o)
        return NULL;
    if (sales && rp_rate4(acc->within, sales, &r4))
        goto fail;
    /* Met: the shown share ≥ response_share, as decimals; no sales leads: met. */
    int met = sales == 0 || rp_frac_ge(r4, 10000, share_target->num, share_target->scale);
    if (acc->nresp > 1)
        qsort(acc->resp, acc->nresp, sizeof(*acc->resp), i64_cmp);
    if (acc->nwait > 1)
        qsort(acc->wait, acc->nwait, sizeof(*acc->wait), waiting_cmp);
    if (rp_put(o, "leads", rp_uint_number(sales)) ||
        rp_put(o, "answered", rp_uint_number(acc->answered)) ||
        rp_put(o, "within_sla", rp_uint_number(acc->within)) ||
        rp_put(o, "share_within_sla",
               sales ? rp_fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
        rp_put(o, "median_seconds",
               acc->nresp ? rp_int_number(acc->resp[rp_nearest_rank(acc->nresp, 50)])
                          : cJSON_CreateNull()) ||
        rp_put(o, "p90_seconds",
               acc->nresp ? rp_int_number(acc->resp[rp_nearest_rank(acc->nresp, 90)])
                          : cJSON_CreateNull()) ||
        rp_put(o, "response_times", response_times_json(acc->resp, acc->nresp)) ||
        rp_put(o, "waiting", w = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < acc->nwait; i++) {
        cJSON *e;
        if (rp_format_instant(acc->wait[i].lead_at, at, sizeof(at)) ||
            rp_push(w, e = cJSON_CreateObject()) ||
            rp_put(e, "contact", cJSON_CreateString(acc->wait[i].contact)) ||
            rp_put(e, "lead_at", cJSON_CreateString(at)) ||
            rp_put(e, "waited_seconds", rp_int_number(acc->wait[i].waited)))
            goto fail;
    }
    if (rp_put(o, "self_served", rp_uint_number(acc->self_served)) ||
        rp_put(o, "met", cJSON_CreateBool(met)) || rp_put(o, "by_owner", by_owner_json(acc)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *dec_json(const struct rp_dec *d)
{
    return cJSON_CreateNumber((double)d->num / (double)d->scale);
}

static cJSON *sla_marketing_json(const struct sla_acc *acc, const struct rp_sla_params *p,
                                 const struct rp_dec *lpm, const struct rp_dec *qrt)
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
        met = met && rp_frac_ge(acc->leads, 1, target, 100);
    }
    if (acc->leads && rp_rate4(acc->qualified, acc->leads, &r4))
        goto fail;
    if (qrt) /* a null rate never meets a target; compared as shown, as decimals */
        met = met && acc->leads && rp_frac_ge(r4, 10000, qrt->num, qrt->scale);
    if (rp_put(o, "leads", rp_uint_number(acc->leads)) ||
        rp_put(o, "leads_target", lpm ? rp_fixed_number((int64_t)target, 2) : cJSON_CreateNull()) ||
        rp_put(o, "qualified", rp_uint_number(acc->qualified)) ||
        rp_put(o, "qualified_rate",
               acc->leads ? rp_fixed_number((int64_t)r4, 4) : cJSON_CreateNull()) ||
        rp_put(o, "qualified_rate_target", qrt ? dec_json(qrt) : cJSON_CreateNull()) ||
        /* Nothing configured is nothing to meet: null, not a "met" nobody promised. */
        rp_put(o, "met", lpm || qrt ? cJSON_CreateBool(met) : cJSON_CreateNull()))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

struct rp_sla {
    const struct rp_sla_params *p;
    struct rp_bhours bh;
    struct rp_dec hours, share, lpm, qrt;
    struct sla_acc acc;
    int failed; /* sticky: a half-added contact is never reported */
};

struct rp_sla *rp_sla_new(const struct rp_sla_params *p)
{
    struct rp_sla *s;
    if (!p || !(s = calloc(1, sizeof(*s))))
        return NULL;
    s->p = p;
    if ((p->business_hours && rp_bh_parse(p->business_hours, &s->bh)) ||
        rp_dec_parse(p->response_hours ? p->response_hours : "24", &s->hours) ||
        rp_dec_parse(p->response_share ? p->response_share : "0.9", &s->share) ||
        (p->leads_per_month && rp_dec_parse(p->leads_per_month, &s->lpm)) ||
        (p->qualified_rate && rp_dec_parse(p->qualified_rate, &s->qrt))) {
        free(s);
        return NULL;
    }
    return s;
}

int rp_sla_add(struct rp_sla *s, const struct rp_contact *c)
{
    return rp_sla_add_touched(s, c, INT64_MAX);
}

int rp_sla_add_touched(struct rp_sla *s, const struct rp_contact *c, int64_t first_touch_ms)
{
    if (!s || !c)
        return -1;
    if (s->failed)
        return s->failed;
    int rc = sla_contact(c, first_touch_ms, 1, s->p, s->p->business_hours ? &s->bh : NULL,
                         &s->hours, &s->acc);
    if (rc)
        s->failed = rc == -2 ? -2 : -1;
    return s->failed;
}

int rp_sla_add_conversions(struct rp_sla *s, const struct rp_contact *c, int64_t first_touch_ms)
{
    if (!s || !c)
        return -1;
    if (s->failed)
        return s->failed;
    int rc = sla_contact(c, first_touch_ms, 0, s->p, NULL, &s->hours, &s->acc);
    if (rc)
        s->failed = rc == -2 ? -2 : -1;
    return s->failed;
}

int rp_sla_add_lead(struct rp_sla *s, const struct rp_sla_fact *f)
{
    if (!s || !f)
        return -1;
    if (s->failed)
        return s->failed;
    /* What sla_contact counts: a marketing lead entry in [from, to). */
    if (!f->marketing || f->lead_at < s->p->from_ms || f->lead_at >= s->p->to_ms)
        return 0;
    int rc = lead_part(f, s->p, s->p->business_hours ? &s->bh : NULL, &s->hours, &s->acc);
    if (rc)
        s->failed = rc == -2 ? -2 : -1;
    return s->failed;
}

void rp_sla_keep_leads(struct rp_sla *s, unsigned mask, size_t max)
{
    if (!s)
        return;
    s->acc.keep_mask = mask;
    s->acc.keep_max = max;
}

const struct rp_sla_lead *rp_sla_leads(const struct rp_sla *s, size_t *n)
{
    *n = s ? s->acc.nkept : 0;
    return s ? s->acc.kept : NULL;
}

/* "targets": the names of the [sla] targets this answer was measured against, so a
 * reader can tell "met" from "not asked". */
static int put_targets(cJSON *o, const struct rp_sla_params *p)
{
    const struct {
        const char *name, *value;
    } t[] = {{"response_hours", p->response_hours},
             {"response_share", p->response_share},
             {"leads_per_month", p->leads_per_month},
             {"qualified_rate", p->qualified_rate}};
    cJSON *a = cJSON_CreateArray();
    if (rp_put(o, "targets", a))
        return -1;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].value && t[i].value[0] && rp_push(a, cJSON_CreateString(t[i].name)))
            return -1;
    return 0;
}

cJSON *rp_sla_json(struct rp_sla *s)
{
    const struct rp_sla_params *p;
    cJSON *o = NULL;
    if (!s || s->failed)
        return NULL;
    p = s->p;
    if (!(o = cJSON_CreateObject()) || rp_put(o, "from", rp_instant_json(p->from_ms)) ||
        rp_put(o, "to", rp_instant_json(p->to_ms)) ||
        rp_put(o, "sales", sla_sales_json(&s->acc, &s->share)) ||
        rp_put(o, "marketing",
               sla_marketing_json(&s->acc, p, p->leads_per_month ? &s->lpm : NULL,
                                  p->qualified_rate ? &s->qrt : NULL)) ||
        rp_put(o, "revenue", rp_purse_json(&s->acc.revenue)) ||
        rp_put(o, "identity",
               rp_identity_json(1, s->acc.leads, s->acc.leads_touched, s->acc.payments,
                                s->acc.payments_touched)) ||
        put_targets(o, p)) {
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
    for (size_t i = 0; i < s->acc.nkept; i++)
        free(s->acc.kept[i].contact);
    free(s->acc.kept);
    for (size_t i = 0; i < s->acc.nowners; i++) {
        free(s->acc.owners[i].owner);
        free(s->acc.owners[i].resp);
    }
    free(s->acc.owners);
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
    struct rp_jview v;
    int lead = 0, answered = 0, done = 0;
    if (n == 0 || rp_view_open(&c, &v))
        return 0;
    /* The same walk as sla_contact: the lead is the first event at stage lead or higher;
     * the response scan stops at the first sales response or payment after it. */
    for (size_t i = 0; i < v.n && !done; i++) {
        int st = rp_clamp_stage(v.ev[i]->stage);
        if (!lead) {
            lead = st >= JD_STAGE_LEAD;
        } else if (!answered) {
            answered = is_sales_response(v.ev[i]) || rp_is_kind(v.ev[i], "payment");
        }
        if (lead && st >= JD_STAGE_QUALIFIED)
            qualified = 0;
        done = lead && answered && !qualified;
    }
    rp_view_close(&v);
    return done;
}

int rp_sla_overdue(const char *business_hours, const char *response_hours, int64_t lead_ms,
                   int64_t now_ms, int64_t *waited_s)
{
    struct rp_bhours bh;
    struct rp_dec hours;
    int has_bh = business_hours && business_hours[0];
    if ((has_bh && rp_bh_parse(business_hours, &bh)) ||
        rp_dec_parse(response_hours && response_hours[0] ? response_hours : "24", &hours) ||
        duration_secs(has_bh ? &bh : NULL, lead_ms, now_ms, waited_s))
        return -1;
    return within_limit(*waited_s, &hours) ? 0 : 1;
}
