/*
 * The attribution report (DESIGN §6, report.h rp_attribution_*): each conversion split
 * over its touches, the credit summed per key (channel, source, campaign, ad) and
 * currency, with spend and ROAS where spend is known.
 */
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "exact.h"
#include "journey.h"
#include "json.h"
#include "purse.h"

static const char *const model_names[] = {"first_touch", "last_touch", "linear", "position",
                                          "time_decay"};
static const char *const key_names[] = {"channel", "source", "campaign", "ad"};

int rp_parse_model(const char *s, enum rp_model *out)
{
    int v;
    if (rp_parse_name(s, model_names, sizeof(model_names) / sizeof(model_names[0]), &v))
        return -1;
    *out = (enum rp_model)v;
    return 0;
}

int rp_parse_key(const char *s, enum rp_key *out)
{
    int v;
    if (rp_parse_name(s, key_names, sizeof(key_names) / sizeof(key_names[0]), &v))
        return -1;
    *out = (enum rp_key)v;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Attribution report                                                                    */
/* ------------------------------------------------------------------------------------ */

struct arow {
    char *key;
    struct rp_purse revenue, spend;
    uint64_t conversions, touches;
    uint64_t last_conv; /* serial of the last conversion counted under this key */
};

/* Campaign names by "<platform>:<id>": the same open addressing as the rows. */
struct aname {
    char *key; /* "<platform>:<id>\0<name>": one allocation */
    const char *name;
};

struct rp_attribution {
    struct rp_attr_params p;
    struct aname *names;
    size_t nnames, capnames;
    size_t *nslots_of; /* name index + 1, 0 = empty; power-of-two size */
    size_t nnslots;
    size_t max_keys;
    struct arow *rows;
    size_t nrows, caprows;
    size_t *slots; /* open addressing: row index + 1, 0 = empty; power-of-two size */
    size_t nslots;
    uint64_t serial;
    uint64_t payments, payments_touched; /* identity health: payments credited to a touch */
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

static int names_grow(struct rp_attribution *a)
{
    size_t n = a->nnslots ? a->nnslots * 2 : 64;
    if (n > SIZE_MAX / sizeof(size_t) / 2)
        return -1;
    size_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t r = 0; r < a->nnames; r++) {
        size_t i = (size_t)hash_str(a->names[r].key) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = r + 1;
    }
    free(a->nslots_of);
    a->nslots_of = slots;
    a->nnslots = n;
    return 0;
}

/* The slot of "<platform>:<id>" in the names table: its index + 1 there, or 0 with *free_slot
 * set to where it would go. */
static size_t name_slot(const struct rp_attribution *a, const char *platform, const char *id,
                        size_t *free_slot)
{
    char key[RP_CAMPAIGN_KEY_MAX];
    int n = snprintf(key, sizeof(key), "%s:%s", platform, id);
    if (n < 0 || (size_t)n >= sizeof(key) || !a->nnslots)
        return 0;
    size_t i = (size_t)hash_str(key) & (a->nnslots - 1);
    while (a->nslots_of[i]) {
        if (strcmp(a->names[a->nslots_of[i] - 1].key, key) == 0)
            return a->nslots_of[i];
        i = (i + 1) & (a->nnslots - 1);
    }
    if (free_slot)
        *free_slot = i;
    return 0;
}

/* The name of platform's campaign id, NULL when none is known. */
static const char *name_of(const struct rp_attribution *a, const char *platform, const char *id)
{
    if (!platform || !*platform || !id || !*id)
        return NULL;
    size_t k = name_slot(a, platform, id, NULL);
    return k ? a->names[k - 1].name : NULL;
}

int rp_attribution_add_name(struct rp_attribution *a, const char *platform, const char *id,
                            const char *name)
{
    size_t at = 0;
    if (!a || !platform || !*platform || !id || !*id || !name || !*name)
        return -1;
    if (a->err)
        return a->err;
    size_t plen = strlen(platform), ilen = strlen(id), nlen = strlen(name);
    if (plen + 1 + ilen >= RP_CAMPAIGN_KEY_MAX)
        return 0; /* no touch can carry such an id: nothing to name */
    if (!a->nnslots && names_grow(a))
        return a->err = -1;
    if (name_slot(a, platform, id, &at))
        return 0; /* the first name stands: the configured ones are added first */
    if (a->nnames >= RP_MAX_CAMPAIGN_NAMES)
        return a->err = -2;
    if (a->nnames == a->capnames) {
        size_t cap = a->capnames ? a->capnames * 2 : 16;
        struct aname *v = realloc(a->names, cap * sizeof(*v));
        if (!v)
            return a->err = -1;
        a->names = v;
        a->capnames = cap;
    }
    char *k = malloc(plen + 1 + ilen + 1 + nlen + 1);
    if (!k)
        return a->err = -1;
    memcpy(k, platform, plen);
    k[plen] = ':';
    memcpy(k + plen + 1, id, ilen + 1);
    memcpy(k + plen + 1 + ilen + 1, name, nlen + 1);
    a->names[a->nnames] = (struct aname){k, k + plen + 1 + ilen + 1};
    a->nslots_of[at] = ++a->nnames;
    if (a->nnames * 2 > a->nnslots && names_grow(a))
        return a->err = -1;
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
    for (size_t i = 0; i < a->nnames; i++)
        free(a->names[i].key);
    free(a->names);
    free(a->nslots_of);
    free(a);
}

const char *rp_attribution_key(const struct rp_attribution *a, const struct rp_event *t)
{
    const char *k;
    if (!t)
        return "(direct)";
    switch (a->p.by) {
    case RP_BY_CHANNEL:
        k = t->channel;
        break;
    case RP_BY_SOURCE:
        k = t->source;
        break;
    case RP_BY_CAMPAIGN:
        /* One campaign, one row: a touch that carries the platform's campaign id goes
         * under the name known for it, so a lead form's id and the clicks' utm_campaign
         * name meet. */
        k = name_of(a, t->platform, t->campaign_id);
        if (!k)
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
/* The conversions cv of one contact's journey v, split under a's model and added to its
 * rows; s is scratch space sized for the journey. 0, -1 or -2, also kept in a->err. */
static int add_listed(struct rp_attribution *a, const struct rp_jview *v, const struct rp_conv *cv,
                      size_t ncv, struct rp_split *s)
{
    int rc = 0;
    for (size_t k = 0; k < ncv && rc == 0; k++) {
        if (rp_split_conversion(v, &cv[k], &a->p, s)) {
            rc = -1;
            break;
        }
        int payment = cv[k].amount >= 0 && rp_is_kind(cv[k].ev, "payment");
        uint64_t serial = ++a->serial;
        int touched = 0;
        for (size_t i = 0; i < s->n; i++)
            touched |= s->touch[i] != NULL;
        a->payments += (uint64_t)payment;
        a->payments_touched += (uint64_t)(payment && touched);
        for (size_t i = 0; i < s->n && rc == 0; i++) {
            struct arow *r;
            rc = row_of(a, rp_attribution_key(a, s->touch[i]), &r);
            if (rc)
                break;
            if (rp_purse_add(&r->revenue, cv[k].ev->currency, s->minor[i])) {
                rc = -1;
                break;
            }
            if (!payment)
                continue;
            if (s->touch[i])
                r->touches++;
            if (r->last_conv != serial) {
                r->last_conv = serial;
                r->conversions++;
            }
        }
    }
    if (rc)
        a->err = rc;
    return rc;
}

int rp_attribution_add(struct rp_attribution *a, const struct rp_contact *c)
{
    return rp_attribution_add_each(&a, 1, c);
}

int rp_attribution_add_each(struct rp_attribution *const *a, size_t n, const struct rp_contact *c)
{
    struct rp_jview v;
    struct rp_conv *cv = NULL;
    size_t ncv = 0;
    struct rp_split s;
    int rc = 0;
    if (!a || n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!a[i])
            return -1;
        if (a[i]->err)
            return a[i]->err;
    }
    /* The journey is ordered once and its conversions listed once: only the split and the
     * grouping differ between the accumulators. One with another range lists its own. */
    if (rp_view_open(c, &v)) {
        for (size_t i = 0; i < n; i++)
            a[i]->err = -1;
        return -1;
    }
    if (rp_split_init(&s, v.n)) {
        rp_view_close(&v);
        for (size_t i = 0; i < n; i++)
            a[i]->err = -1;
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i == 0 || a[i]->p.from_ms != a[i - 1]->p.from_ms ||
            a[i]->p.to_ms != a[i - 1]->p.to_ms) {
            free(cv);
            cv = NULL;
            if (rp_list_conversions(&v, a[i]->p.from_ms, a[i]->p.to_ms, &cv, &ncv)) {
                rc = a[i]->err = -1;
                break;
            }
        }
        rc = add_listed(a[i], &v, cv, ncv, &s);
    }
    /* The others lack this contact now: none of them may be reported either. */
    for (size_t i = 0; rc && i < n; i++)
        if (!a[i]->err)
            a[i]->err = rc;
    rp_split_free(&s);
    free(cv);
    rp_view_close(&v);
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
    if (rc == 0 && rp_purse_add(&r->spend, currency, minor))
        rc = -1;
    if (rc)
        a->err = rc;
    return rc;
}

int rp_attribution_add_campaign_spend(struct rp_attribution *a, const char *platform,
                                      const char *id, const char *name, const char *currency,
                                      int64_t minor)
{
    const char *k = name_of(a, platform, id);
    if (!k)
        k = name && *name ? name : id;
    return rp_attribution_add_spend(a, k, currency, minor);
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
    if (rp_div_half_up(rp_mul64(mag, 100), rp_u128_of((uint64_t)spend), &h) ||
        h > (uint64_t)INT64_MAX)
        return NULL;
    return rp_fixed_number(revenue < 0 ? -(int64_t)h : (int64_t)h, 2);
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
    if (rp_put(o, "key", cJSON_CreateString(r->key)) ||
        rp_put(o, "revenue", rp_purse_json(&r->revenue)) ||
        rp_put(o, "conversions", rp_uint_number(r->conversions)) ||
        rp_put(o, "touches", rp_uint_number(r->touches)))
        goto fail;
    if (r->spend.n) {
        cJSON *roas;
        if (rp_put(o, "spend", rp_purse_json(&r->spend)) ||
            rp_put(o, "roas", roas = cJSON_CreateObject()))
            goto fail;
        for (size_t i = 0; i < r->spend.n; i++) {
            const int64_t *rev = rp_purse_get(&r->revenue, r->spend.v[i].cur);
            if (rp_put(roas, r->spend.v[i].cur, roas_json(rev ? *rev : 0, r->spend.v[i].minor)))
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
    if (rp_put(o, "model", cJSON_CreateString(model_names[a->p.model])) ||
        rp_put(o, "by", cJSON_CreateString(key_names[a->p.by])) ||
        rp_put(o, "from", rp_instant_json(a->p.from_ms)) ||
        rp_put(o, "to", rp_instant_json(a->p.to_ms)) ||
        rp_put(o, "identity", rp_identity_json(0, 0, 0, a->payments, a->payments_touched)) ||
        rp_put(o, "rows", rows = cJSON_CreateArray()))
        goto fail;
    for (size_t i = 0; i < a->nrows; i++)
        if (rp_push(rows, arow_json(order[i])))
            goto fail;
    free(order);
    return o;
fail:
    free(order);
    cJSON_Delete(o);
    return NULL;
}

cJSON *rp_attribution_all_json(struct rp_attribution *const *a, size_t n)
{
    static const char *const shared[] = {"by", "from", "to", "identity"};
    cJSON *o, *models, *first;
    if (!a || n == 0 || !(first = rp_attribution_json(a[0])))
        return NULL;
    /* by, from, to and identity beside "model", as in a one-model answer; the members of
     * "models" keep theirs, so each is exactly that model's own answer. */
    if (!(o = cJSON_CreateObject()) || rp_put(o, "model", cJSON_CreateString("all")))
        goto fail;
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
        if (rp_put(o, shared[i],
                   cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first, shared[i]), 1)))
            goto fail;
    if (rp_put(o, "models", models = cJSON_CreateObject()))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        cJSON *one = i ? rp_attribution_json(a[i]) : first;
        const char *name = (unsigned)a[i]->p.model < RP_NMODELS ? model_names[a[i]->p.model] : NULL;
        if (i == 0)
            first = NULL; /* owned by o from here */
        /* Two accumulators of one model would make a duplicate member: refused. */
        if (!one || !name || cJSON_GetObjectItemCaseSensitive(models, name)) {
            cJSON_Delete(one);
            goto fail;
        }
        if (rp_put(models, name, one))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(first);
    cJSON_Delete(o);
    return NULL;
}

int rp_attribution_drill(const struct rp_attribution *a, const struct rp_contact *c,
                         const char *key, struct rp_drill_conv **out, size_t *nout)
{
    const struct rp_attr_params *p = a ? &a->p : NULL;
    struct rp_jview v;
    struct rp_conv *cv = NULL;
    size_t ncv = 0, n = 0;
    struct rp_split s;
    struct rp_drill_conv *items = NULL;
    int rc = -1;
    *out = NULL;
    *nout = 0;
    if (!c || !p || !key || rp_view_open(c, &v))
        return -1;
    if (rp_list_conversions(&v, p->from_ms, p->to_ms, &cv, &ncv) || rp_split_init(&s, v.n)) {
        free(cv);
        rp_view_close(&v);
        return -1;
    }
    if (ncv && !(items = calloc(ncv, sizeof(*items))))
        goto out;
    for (size_t k = 0; k < ncv; k++) {
        if (rp_split_conversion(&v, &cv[k], p, &s))
            goto out;
        struct rp_drill_conv d = {0};
        int found = 0;
        d.payment = cv[k].amount >= 0 && rp_is_kind(cv[k].ev, "payment");
        for (size_t i = 0; i < s.n; i++) {
            if (strcmp(rp_attribution_key(a, s.touch[i]), key) != 0)
                continue;
            found = 1;
            if (rp_add_i64(d.credit, s.minor[i], &d.credit))
                goto out;
            if (d.payment && s.touch[i])
                d.touches++;
        }
        if (!found)
            continue;
        d.event_id = cv[k].ev->id;
        d.at_ms = cv[k].ev->at_ms;
        d.amount_minor = cv[k].amount;
        memcpy(d.currency, cv[k].ev->currency, sizeof(d.currency));
        items[n++] = d;
    }
    rc = 0;
out:
    rp_split_free(&s);
    free(cv);
    rp_view_close(&v);
    if (rc || n == 0) {
        free(items);
        items = NULL;
        n = 0;
    }
    *out = items;
    *nout = n;
    return rc;
}
