/*
 * What apply.lua is told to decide (outplan.h): the [destination] sections'
 * subscriptions, as its last argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "destination.h"
#include "outplan.h"

#define OUTBOX_NAME_MAX 63 /* a [destination] name (config.c) */

size_t outplan_subscribers(const struct cfg *c, const char *kind, char *out, size_t cap)
{
    size_t n = 0, len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->ndestinations; i++) {
        const struct cfg_destination *d = &c->destinations[i];
        const struct dst_type *t = dst_lookup(d->type);
        if (!t || !dst_wants(t, &d->dst, kind))
            continue;
        int w = snprintf(out + len, cap - len, "%s%s", n ? "," : "", d->name);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
        n++;
    }
    return n;
}

char *outplan_apply_arg(const struct cfg *c)
{
    static const char *const kinds[] = {DST_LEAD_CREATED, DST_STAGE_CHANGED, DST_PAID,
                                        DST_REFUNDED};
    if (c->ndestinations == 0)
        return NULL;
    size_t cap = 64 + strlen(c->consent_field ? c->consent_field : "") +
                 sizeof(kinds) / sizeof(kinds[0]) * (32 + c->ndestinations * (OUTBOX_NAME_MAX + 2));
    char *out = malloc(cap), dests[CFG_MAX_DESTINATIONS * (OUTBOX_NAME_MAX + 2)];
    if (!out)
        return NULL;
    int n = snprintf(out, cap, "jd-outbox\t%s\t%d\t", c->consent_field ? c->consent_field : "",
                     outplan_subscribers(c, DST_SLA_BREACHED, dests, sizeof(dests)) > 0);
    size_t len = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (outplan_subscribers(c, kinds[i], dests, sizeof(dests)) == 0)
            continue;
        n = snprintf(out + len, cap - len, "%s=%s;", kinds[i], dests);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
    return out;
}
