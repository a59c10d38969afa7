/*
 * Money per currency (see purse.h): the revenue and spend columns of every report.
 */
#include "purse.h"

#include <stdlib.h>
#include <string.h>

#include "exact.h"
#include "json.h"

#define MAX_CURRENCIES 256 /* per key: ISO 4217 has fewer */

/* Adds delta to the currency's total, keeping the currencies sorted by code so every
 * money object prints in the same order whatever the input order. */
int rp_purse_add(struct rp_purse *p, const char *cur, int64_t delta)
{
    char c[4] = {0};
    size_t at = 0;
    for (size_t i = 0; i < 3 && cur[i]; i++)
        c[i] = cur[i];
    for (; at < p->n; at++) {
        int cmp = strcmp(p->v[at].cur, c);
        if (cmp == 0)
            return rp_add_i64(p->v[at].minor, delta, &p->v[at].minor);
        if (cmp > 0)
            break;
    }
    if (p->n == MAX_CURRENCIES)
        return -1;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 2;
        struct rp_money *v = realloc(p->v, cap * sizeof(*v));
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

const int64_t *rp_purse_get(const struct rp_purse *p, const char *cur)
{
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->v[i].cur, cur, 4) == 0)
            return &p->v[i].minor;
    return NULL;
}

/* {"EUR": 652250, …} sorted by currency, so the output never depends on input order. */
cJSON *rp_purse_json(const struct rp_purse *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (rp_put(o, p->v[i].cur, rp_int_number(p->v[i].minor))) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}
