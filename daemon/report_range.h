/*
 * The range of a report query (DESIGN §7 "Report ranges"), read in one place for every
 * report and drill-down endpoint: from=/to= as RFC 3339 instants or local dates, or
 * period= instead of both, and the default when none is given.
 *
 * Pure: no I/O, no clock (now is an argument). "Local" is the process time zone, which
 * main.c sets from the configured `timezone` at start and on every reload, and which
 * reports/localtime uses for every period of the answers too; so a date or a period here
 * begins exactly where the funnel's periods begin.
 */
#ifndef JD_REPORT_RANGE_H
#define JD_REPORT_RANGE_H

#include <stdint.h>

#include "common.h"
#include "report.h"

enum report_range_default {
    /* Attribution: no range is all time, and either end may stay open. */
    REPORT_RANGE_ALL_TIME,
    /* Funnel, SLA: no range is the current local month so far ([month start, now));
     * from= alone runs to now; to= alone is refused (there is no sensible start). */
    REPORT_RANGE_THIS_MONTH,
};

struct report_range {
    int64_t from_ms; /* inclusive; INT64_MIN: open (REPORT_RANGE_ALL_TIME only) */
    int64_t to_ms;   /* exclusive; INT64_MAX: open (REPORT_RANGE_ALL_TIME only) */
};

/* Reads from=, to= and period= of q (an empty value counts as absent):
 *   - from/to: an RFC 3339 instant, or a date 2026-10-01 meaning local midnight that day
 *     (so to=2026-11-01 ends with October); a raw '+' of an offset that form decoding
 *     turned into a space ("2026-10-01T10:00:00 02:00") is read as the '+' it was;
 *   - period: 2026-10 (month), 2026-W40 (ISO week), 2026-10-15 (day), on the local
 *     calendar, so a DST day lasts 23 or 25 hours; it replaces both from and to;
 *   - none: as def says.
 * 0 with *out set, or -1 with *err pointing at a static message fit for a 400 answer
 * (a malformed value, period= beside from= or to=, from not before to). */
int report_range_parse(const struct cx_form *q, enum report_range_default def, int64_t now_ms,
                       struct report_range *out, const char **err);

/* One from= or to= value as report_range_parse reads it. 0 / -1. (A period label alone:
 * rp_period_parse in report.h.) */
int report_range_instant(const char *s, int64_t *ms);

#endif
