/*
 * Local time for the reports (§6b): period boundaries, labels and look-up by calendar in
 * the process time zone (days are never assumed to last 24 h), and business hours placed
 * on the local clock of each day, so DST changes move the window with the clock. Internal
 * to jd_reports.
 */
#ifndef JD_RP_LOCALTIME_H
#define JD_RP_LOCALTIME_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* "day", "week", "month": the query word of a period, as the answer names it. */
const char *rp_period_name(enum rp_period by);

/* The boundaries b[0] < … < b[n] of every period overlapping [from, to) (§6b: partial
 * and empty ones included). */
struct rp_periods {
    int64_t *b;
    size_t n;
};

struct rp_bhours {
    unsigned days; /* bit tm_wday: 0 = Sunday */
    int start_min, end_min;
};

/* Start of the period after the one starting at start: by calendar, not by 86400 s. */
int rp_period_next(enum rp_period by, int64_t start, int64_t *out);

/* 2026-09 / 2026-W40 (ISO 8601 week-numbering year and week) / 2026-09-15 (§7). */
int rp_period_label(enum rp_period by, int64_t start, char *buf, size_t cap);

int rp_periods_build(enum rp_period by, int64_t from, int64_t to, struct rp_periods *ps);

/* The period of t, or SIZE_MAX when t is outside [lo, hi) or outside every period. */
size_t rp_period_find(const int64_t *b, size_t n, int64_t lo, int64_t hi, int64_t t);

/* "mon-fri 09:00-18:00", "mon,wed,fri 08:30-12:30", "sat-sun 10:00-14:00" (§6b: day
 * names or ranges, comma-separated, then one daily window). Days: three-letter or full
 * English names, any case; a range may wrap (fri-mon). The window is HH:MM-HH:MM on the
 * local clock, start before end (24:00 allowed as the end); no overnight windows. */
int rp_bh_parse(const char *text, struct rp_bhours *bh);

/* Milliseconds of [t0, t1) inside the business windows, each window placed on the local
 * clock of its own day (mktime with tm_isdst = -1), so a DST change moves the window with
 * the clock (§6b). */
int rp_business_ms(const struct rp_bhours *bh, int64_t t0, int64_t t1, int64_t *out);

#endif
