/*
 * Local time for the reports (see localtime.h). Local time comes from the process time
 * zone through localtime_r/mktime, which the daemon sets from `timezone` (§6b).
 */
#include "localtime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exact.h"
#include "json.h"

#define MAX_BH_DAYS 36600 /* business-hours walk: 100 years of days */

static const char *const period_names[] = {"day", "week", "month"};

const char *rp_period_name(enum rp_period by)
{
    return period_names[by];
}

int rp_parse_period(const char *s, enum rp_period *out)
{
    int v;
    if (rp_parse_name(s, period_names, sizeof(period_names) / sizeof(period_names[0]), &v))
        return -1;
    *out = (enum rp_period)v;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Local time: periods (§6b)                                                             */
/* ------------------------------------------------------------------------------------ */

static int local_tm(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)rp_floor_div(ms, 1000);
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
int rp_period_start(enum rp_period by, int64_t ms, int64_t *out)
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
int rp_period_next(enum rp_period by, int64_t start, int64_t *out)
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
int rp_period_label(enum rp_period by, int64_t start, char *buf, size_t cap)
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

int rp_periods_build(enum rp_period by, int64_t from, int64_t to, struct rp_periods *ps)
{
    size_t cap = 16;
    ps->n = 0;
    ps->b = NULL;
    if (from >= to)
        return 0;
    ps->b = malloc(cap * sizeof(*ps->b));
    if (!ps->b || rp_period_start(by, from, &ps->b[0]))
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
        if (rp_period_next(by, ps->b[ps->n], &ps->b[ps->n + 1]))
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
size_t rp_period_find(const int64_t *b, size_t n, int64_t lo, int64_t hi, int64_t t)
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

static int64_t local_ms(struct tm *tm)
{
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    return t == (time_t)-1 ? INT64_MIN : (int64_t)t * 1000;
}

int rp_local_date(int y, int m, int d, int64_t *ms)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    int64_t start = local_ms(&tm);
    if (start == INT64_MIN || tm.tm_mday != d)
        return -1;
    *ms = start;
    return 0;
}

int rp_period_range(const char *label, enum rp_period by, int64_t *start, int64_t *end)
{
    struct tm a = {0}, b;
    int y, m, d, w;
    char tail;
    if (by == RP_MONTH && sscanf(label, "%4d-%2d%c", &y, &m, &tail) == 2 && m >= 1 && m <= 12) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = 1;
        b = a;
        b.tm_mon += 1;
    } else if (by == RP_DAY && sscanf(label, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
               m <= 12 && d >= 1 && d <= 31) {
        a.tm_year = y - 1900;
        a.tm_mon = m - 1;
        a.tm_mday = d;
        b = a;
        b.tm_mday += 1;
    } else if (by == RP_WEEK && sscanf(label, "%4d-W%2d%c", &y, &w, &tail) == 2 && w >= 1 &&
               w <= 53) {
        /* ISO week 1 holds January 4th; weeks start on Monday. */
        a.tm_year = y - 1900;
        a.tm_mday = 4;
        a.tm_hour = 12;
        a.tm_isdst = -1;
        if (mktime(&a) == (time_t)-1)
            return -1;
        int back = (a.tm_wday + 6) % 7;
        a.tm_mday = 4 - back + (w - 1) * 7;
        a.tm_hour = 0;
        a.tm_mon = 0;
        b = a;
        b.tm_mday += 7;
    } else {
        return -1;
    }
    *start = local_ms(&a);
    *end = local_ms(&b);
    if (*start == INT64_MIN || *end == INT64_MIN || *start >= *end)
        return -1;
    /* sscanf is lenient (2026-9, " 2026-09", 2026-02-30 and 2027-W53 normalized into the
     * next month or year): the label must be the one the period writes itself. */
    char back[32];
    return rp_period_label(by, *start, back, sizeof(back)) || strcmp(back, label) ? -1 : 0;
}

int rp_period_parse(const char *label, enum rp_period *by, int64_t *start, int64_t *end)
{
    size_t n = strnlen(label, 16);
    enum rp_period k;
    if (n == 7)
        k = RP_MONTH;
    else if (n == 8 && label[5] == 'W')
        k = RP_WEEK;
    else if (n == 10)
        k = RP_DAY;
    else
        return -1;
    if (rp_period_range(label, k, start, end))
        return -1;
    *by = k;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Business hours (§6b)                                                                  */
/* ------------------------------------------------------------------------------------ */

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

static int is_blank(char c)
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
int rp_bh_parse(const char *text, struct rp_bhours *bh)
{
    if (!text)
        return -1;
    size_t len = strlen(text);
    while (len && is_blank(text[len - 1]))
        len--;
    size_t tstart = len;
    while (tstart && !is_blank(text[tstart - 1]))
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
        while (i < dend && is_blank(text[i]))
            i++;
        size_t a = i;
        while (i < dend && text[i] != ',' && text[i] != '-' && !is_blank(text[i]))
            i++;
        int d1 = day_index(text + a, i - a), d2;
        if (d1 < 0)
            return -1;
        while (i < dend && is_blank(text[i]))
            i++;
        d2 = d1;
        if (i < dend && text[i] == '-') {
            i++;
            while (i < dend && is_blank(text[i]))
                i++;
            a = i;
            while (i < dend && text[i] != ',' && text[i] != '-' && !is_blank(text[i]))
                i++;
            if ((d2 = day_index(text + a, i - a)) < 0)
                return -1;
            while (i < dend && is_blank(text[i]))
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
    struct rp_bhours bh;
    return rp_bh_parse(s, &bh);
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
int rp_business_ms(const struct rp_bhours *bh, int64_t t0, int64_t t1, int64_t *out)
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
