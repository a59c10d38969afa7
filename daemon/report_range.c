/*
 * The range of a report query (see report_range.h). The instants are read by the one
 * RFC 3339 parser of the connectors (cx_parse_rfc3339), the dates and periods by the
 * reports' local calendar (rp_local_date, rp_period_parse), so a range begins where the
 * answer's periods begin.
 */
#include "report_range.h"

#include <limits.h>
#include <string.h>

/* Longest instant read: 2026-10-01T10:00:00.123456789+02:00 is 35 bytes. */
#define INSTANT_MAX 63

static int is_digit_at(const char *s, size_t i)
{
    return s[i] >= '0' && s[i] <= '9';
}

/* YYYY-MM-DD exactly, a calendar date → local midnight. */
static int parse_date(const char *s, size_t len, int64_t *ms)
{
    static const size_t digits[] = {0, 1, 2, 3, 5, 6, 8, 9};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++)
        if (!is_digit_at(s, digits[i]))
            return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    /* rp_local_date refuses 2026-02-30 but would carry month 13 into the next year. */
    if (m < 1 || m > 12 || d < 1)
        return -1;
    return rp_local_date(y, m, d, ms);
}

int report_range_instant(const char *s, int64_t *ms)
{
    size_t len = strnlen(s, INSTANT_MAX + 1);
    char buf[INSTANT_MAX + 1];
    if (len > INSTANT_MAX)
        return -1;
    if (len == 10)
        return parse_date(s, len, ms);
    if (cx_parse_rfc3339(s, ms) == 0)
        return 0;
    /* "…T10:00:00 02:00": form decoding made the offset's raw '+' a space. A space in
     * front of a final HH:MM after a whole date-time can be nothing else ('-' and 'Z'
     * survive decoding), so it is read as '+'; the parser then checks everything else. */
    if (len >= 25 && s[len - 6] == ' ' && is_digit_at(s, len - 5) && is_digit_at(s, len - 4) &&
        s[len - 3] == ':' && is_digit_at(s, len - 2) && is_digit_at(s, len - 1)) {
        memcpy(buf, s, len + 1);
        buf[len - 6] = '+';
        return cx_parse_rfc3339(buf, ms);
    }
    return -1;
}

static const char *value(const struct cx_form *q, const char *name)
{
    const char *v = cx_form_get(q, name);
    return v && v[0] ? v : NULL;
}

int report_range_parse(const struct cx_form *q, enum report_range_default def, int64_t now_ms,
                       struct report_range *out, const char **err)
{
    const char *f = value(q, "from"), *t = value(q, "to"), *p = value(q, "period");
    int64_t from = INT64_MIN, to = INT64_MAX;
    enum rp_period by;
    *err = NULL;
    if (p && (f || t)) {
        *err = "give either period= or from= and to=, not both";
        return -1;
    }
    if (p) {
        if (rp_period_parse(p, &by, &from, &to) != 0) {
            *err = "period: expected a month (2026-10), an ISO week (2026-W40) or a day "
                   "(2026-10-15)";
            return -1;
        }
    } else {
        if (f && report_range_instant(f, &from) != 0) {
            *err = "from: expected an RFC 3339 instant (2026-10-01T00:00:00Z, a + sent as "
                   "%2B) or a date (2026-10-01)";
            return -1;
        }
        if (t && report_range_instant(t, &to) != 0) {
            *err = "to: expected an RFC 3339 instant (2026-11-01T00:00:00Z, a + sent as %2B) "
                   "or a date (2026-11-01)";
            return -1;
        }
        if (def == REPORT_RANGE_THIS_MONTH) {
            if (t && !f) {
                *err = "to needs from (or give period=, or neither for this month so far)";
                return -1;
            }
            if (!f && rp_period_start(RP_MONTH, now_ms, &from) != 0) {
                *err = "the current month cannot be represented in the configured timezone";
                return -1;
            }
            /* "So far": up to now; at the very first instant of a month that range would be
             * empty, so it then holds that one millisecond. */
            if (!t)
                to = now_ms > from || f ? now_ms : from + 1;
        }
    }
    if (from >= to) {
        *err = f && !t ? "from must be before now (or give to=)" : "from must be before to";
        return -1;
    }
    out->from_ms = from;
    out->to_ms = to;
    return 0;
}
