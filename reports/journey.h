/*
 * A contact's events in journey order (at, id) as every report reads them, and the small
 * predicates over one event (kind, clamped stage rank). Internal to jd_reports.
 */
#ifndef JD_RP_JOURNEY_H
#define JD_RP_JOURNEY_H

#include <stddef.h>

#include "report.h"

/* The contact's events in journey order (at, id). report.h promises that order already;
 * it is checked in O(n) and restored if broken, so every result depends only on the
 * journey order (§3), never on the order the caller happened to pass. */
struct rp_jview {
    const struct rp_event **ev;
    size_t n;
};

const char *rp_nz(const char *s);

int rp_view_open(const struct rp_contact *c, struct rp_jview *v);

void rp_view_close(struct rp_jview *v);

int rp_is_kind(const struct rp_event *e, const char *kind);

int rp_clamp_stage(int s);

#endif
