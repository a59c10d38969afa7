/*
 * JSON building for the report answers (see json.h). Doubles appear only as the carrier of
 * already-rounded decimals, below EXACT_DOUBLE_LIMIT so cJSON prints them exactly.
 */
#include "json.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exact.h"

#define EXACT_DOUBLE_LIMIT INT64_C(10000000000000) /* 10^13: JSON numbers below print exactly */

int rp_put(cJSON *obj, const char *name, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

int rp_push(cJSON *arr, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* A decimal with `decimals` places given as the scaled integer (652, 2 → 6.52). Below
 * 10^13 a double carries it and cJSON's %1.15g prints exactly those digits; above, the
 * text is written raw so no cent is lost (§6 "to the cent"). */
cJSON *rp_fixed_number(int64_t scaled, int decimals)
{
    static const double pow10[] = {1, 10, 100, 1000, 10000};
    if (scaled > -EXACT_DOUBLE_LIMIT && scaled < EXACT_DOUBLE_LIMIT)
        return cJSON_CreateNumber((double)scaled / pow10[decimals]);
    char text[48];
    uint64_t mag = scaled < 0 ? (uint64_t)0 - (uint64_t)scaled : (uint64_t)scaled;
    uint64_t div = (uint64_t)pow10[decimals];
    if (decimals == 0)
        snprintf(text, sizeof(text), "%s%llu", scaled < 0 ? "-" : "", (unsigned long long)mag);
    else
        snprintf(text, sizeof(text), "%s%llu.%0*llu", scaled < 0 ? "-" : "",
                 (unsigned long long)(mag / div), decimals, (unsigned long long)(mag % div));
    return cJSON_CreateRaw(text);
}

cJSON *rp_int_number(int64_t v)
{
    return rp_fixed_number(v, 0);
}

cJSON *rp_uint_number(uint64_t v)
{
    return rp_fixed_number(v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v, 0);
}

/* RFC 3339 in UTC (§7 "Dates are RFC 3339 … in UTC"), milliseconds only when present. */
int rp_format_instant(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)rp_floor_div(ms, 1000);
    int64_t frac = ms - rp_floor_div(ms, 1000) * 1000;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    int n;
    if (frac)
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    else
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* An instant, or null for the open ends INT64_MIN / INT64_MAX ("all time", §7). */
cJSON *rp_instant_json(int64_t ms)
{
    char buf[48];
    if (ms == INT64_MIN || ms == INT64_MAX)
        return cJSON_CreateNull();
    if (rp_format_instant(ms, buf, sizeof(buf)))
        return NULL;
    return cJSON_CreateString(buf);
}

int rp_parse_name(const char *s, const char *const *names, size_t n, int *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return -1;
}

/* A share of 4 decimals, or null without a denominator; NULL on failure. */
static cJSON *share_json(uint64_t num, uint64_t den)
{
    uint64_t r4;
    if (den == 0)
        return cJSON_CreateNull();
    if (rp_rate4(num, den, &r4))
        return NULL;
    return rp_fixed_number((int64_t)r4, 4);
}

cJSON *rp_identity_json(int with_leads, uint64_t leads, uint64_t leads_touched, uint64_t payments,
                        uint64_t payments_touched)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if ((with_leads && (rp_put(o, "leads", rp_uint_number(leads)) ||
                        rp_put(o, "leads_with_touch", rp_uint_number(leads_touched)) ||
                        rp_put(o, "leads_share", share_json(leads_touched, leads)))) ||
        rp_put(o, "payments", rp_uint_number(payments)) ||
        rp_put(o, "payments_with_touch", rp_uint_number(payments_touched)) ||
        rp_put(o, "payments_share", share_json(payments_touched, payments))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
