/*
 * Exact arithmetic shared by the reports (DESIGN §6 "exact integer minor units", §6b
 * "exact fractions"): checked int64, a small unsigned 128-bit type for the products that
 * can exceed 64 bits, half-up division, rates in 1e-4 units, decimal texts of the config
 * and the nearest-rank percentile. Never doubles. Internal to jd_reports.
 */
#ifndef JD_RP_EXACT_H
#define JD_RP_EXACT_H

#include <stddef.h>
#include <stdint.h>

/* Unsigned 128-bit integers: exact products of amounts and weights, month lengths and
 * targets (§6 "exact integer minor units", §6b "exact fractions"). */
struct rp_u128 {
    uint64_t hi, lo;
};

/* A decimal text of the config ("24", "0.9", "1.5"): value = num / scale. At most 9
 * fraction digits and 18 digits in all, so every product below stays within 128 bits. */
struct rp_dec {
    uint64_t num, scale;
};

int rp_add_i64(int64_t a, int64_t b, int64_t *out);

int rp_sub_i64(int64_t a, int64_t b, int64_t *out);

/* Floor division (b > 0): milliseconds → whole seconds rounded down (§6b), also before
 * 1970 where C's truncation would round up. */
int64_t rp_floor_div(int64_t a, int64_t b);

struct rp_u128 rp_u128_of(uint64_t v);

struct rp_u128 rp_mul64(uint64_t a, uint64_t b);

int rp_u128_mul(struct rp_u128 a, uint64_t b, struct rp_u128 *out);

int rp_u128_add(struct rp_u128 a, struct rp_u128 b, struct rp_u128 *out);

int rp_u128_cmp(struct rp_u128 a, struct rp_u128 b);

/* Shift-subtract long division; d must be nonzero and below 2^127. */
int rp_u128_divmod(struct rp_u128 n, struct rp_u128 d, struct rp_u128 *q, struct rp_u128 *r);

/* n / d rounded half up (n, d >= 0), as a uint64; -1 on overflow. */
int rp_div_half_up(struct rp_u128 n, struct rp_u128 d, uint64_t *out);

/* num/den rounded half up to 4 decimals, in units of 1e-4 (§6b rates). den > 0. */
int rp_rate4(uint64_t num, uint64_t den, uint64_t *out);

/* a/b >= c/d for nonnegative fractions with positive denominators, exactly. */
int rp_frac_ge(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

int rp_dec_parse(const char *s, struct rp_dec *d);

/* Nearest rank (§6b): the p-th percentile of n sorted values is the ⌈p·n/100⌉-th. */
size_t rp_nearest_rank(size_t n, unsigned pct);

#endif
