/*
 * The JSON side of the reports: checked cJSON insertion (a failed item fails its parent),
 * exact numbers (integers and already-rounded decimals, kept below 10^13 so they print
 * exactly), RFC 3339 instants, and the name tables of the query words. Internal to
 * jd_reports.
 */
#ifndef JD_RP_JSON_H
#define JD_RP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

int rp_put(cJSON *obj, const char *name, cJSON *item);

int rp_push(cJSON *arr, cJSON *item);

/* A decimal with `decimals` places given as the scaled integer (652, 2 → 6.52). Below
 * 10^13 a double carries it and cJSON's %1.15g prints exactly those digits; above, the
 * text is written raw so no cent is lost (§6 "to the cent"). */
cJSON *rp_fixed_number(int64_t scaled, int decimals);

cJSON *rp_int_number(int64_t v);

cJSON *rp_uint_number(uint64_t v);

/* RFC 3339 in UTC (§7 "Dates are RFC 3339 … in UTC"), milliseconds only when present. */
int rp_format_instant(int64_t ms, char *buf, size_t cap);

/* Identity health (issue 15): {"leads", "leads_with_touch", "leads_share", "payments",
 * "payments_with_touch", "payments_share"}, each share 4 decimals or null without a
 * denominator; the leads members only when with_leads (attribution does not count
 * leads). A low share means the site kit is missing somewhere (docs/api.md). */
cJSON *rp_identity_json(int with_leads, uint64_t leads, uint64_t leads_touched, uint64_t payments,
                        uint64_t payments_touched);

/* An instant, or null for the open ends INT64_MIN / INT64_MAX ("all time", §7). */
cJSON *rp_instant_json(int64_t ms);

int rp_parse_name(const char *s, const char *const *names, size_t n, int *out);

#endif
