/*
 * Journey order and event predicates (see journey.h).
 */
#include "journey.h"

#include <stdlib.h>
#include <string.h>

#include "stage.h"

const char *rp_nz(const char *s)
{
    return s ? s : "";
}

static int ev_order(const struct rp_event *a, const struct rp_event *b)
{
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return strcmp(rp_nz(a->id), rp_nz(b->id));
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

int rp_view_open(const struct rp_contact *c, struct rp_jview *v)
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

void rp_view_close(struct rp_jview *v)
{
    free(v->ev);
    v->ev = NULL;
    v->n = 0;
}

int rp_is_kind(const struct rp_event *e, const char *kind)
{
    return strcmp(rp_nz(e->kind), kind) == 0;
}

int rp_clamp_stage(int s)
{
    return s < 0 ? 0 : s > JD_STAGE_PAID ? JD_STAGE_PAID : s;
}
