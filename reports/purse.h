/*
 * Money per currency ("purse"): int64 minor units per ISO 4217 code, kept sorted by code so
 * every money object prints in the same order whatever the input order. Internal to
 * jd_reports.
 */
#ifndef JD_RP_PURSE_H
#define JD_RP_PURSE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct rp_money {
    char cur[4];
    int64_t minor;
};

struct rp_purse {
    struct rp_money *v;
    size_t n, cap;
};

/* Adds delta to the currency's total, keeping the currencies sorted by code so every
 * money object prints in the same order whatever the input order. */
int rp_purse_add(struct rp_purse *p, const char *cur, int64_t delta);

const int64_t *rp_purse_get(const struct rp_purse *p, const char *cur);

/* {"EUR": 652250, …} sorted by currency, so the output never depends on input order. */
cJSON *rp_purse_json(const struct rp_purse *p);

#endif
