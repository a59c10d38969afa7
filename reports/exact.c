/*
 * Exact arithmetic of the reports (see exact.h). Money is int64 minor units, counts are
 * uint64, fractions are exact: the few products that can exceed 64 bits go through the
 * small unsigned 128-bit helpers here, never through doubles.
 */
#include "exact.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

int rp_add_i64(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return -1;
    *out = a + b;
    return 0;
}

int rp_sub_i64(int64_t a, int64_t b, int64_t *out)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return -1;
    *out = a - b;
    return 0;
}

/* Floor division (b > 0): milliseconds → whole seconds rounded down (§6b), also before
 * 1970 where C's truncation would round up. */
int64_t rp_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b < 0)
        q--;
    return q;
}

struct rp_u128 rp_u128_of(uint64_t v)
{
    struct rp_u128 r = {0, v};
    return r;
}

struct rp_u128 rp_mul64(uint64_t a, uint64_t b)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    struct rp_u128 r;
    r.lo = (mid << 32) | (p00 & 0xffffffffu);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

int rp_u128_mul(struct rp_u128 a, uint64_t b, struct rp_u128 *out)
{
    struct rp_u128 lo = rp_mul64(a.lo, b), hi = rp_mul64(a.hi, b);
    if (hi.hi)
        return -1;
    uint64_t h = lo.hi + hi.lo;
    if (h < lo.hi)
        return -1;
    out->hi = h;
    out->lo = lo.lo;
    return 0;
}

int rp_u128_add(struct rp_u128 a, struct rp_u128 b, struct rp_u128 *out)
{
    uint64_t lo = a.lo + b.lo;
    uint64_t carry = lo < a.lo;
    uint64_t hi = a.hi + b.hi;
    if (hi < a.hi || hi + carry < hi)
        return -1;
    out->hi = hi + carry;
    out->lo = lo;
    return 0;
}

int rp_u128_cmp(struct rp_u128 a, struct rp_u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

static struct rp_u128 u128_sub(struct rp_u128 a, struct rp_u128 b) /* a >= b */
{
    struct rp_u128 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

/* Shift-subtract long division; d must be nonzero and below 2^127. */
int rp_u128_divmod(struct rp_u128 n, struct rp_u128 d, struct rp_u128 *q, struct rp_u128 *r)
{
    if ((d.hi == 0 && d.lo == 0) || (d.hi >> 63))
        return -1;
    if (n.hi == 0 && d.hi == 0) {
        *q = rp_u128_of(n.lo / d.lo);
        *r = rp_u128_of(n.lo % d.lo);
        return 0;
    }
    struct rp_u128 qq = {0, 0}, rr = {0, 0};
    for (int i = 127; i >= 0; i--) {
        uint64_t bit = i >= 64 ? (n.hi >> (i - 64)) & 1u : (n.lo >> i) & 1u;
        rr.hi = (rr.hi << 1) | (rr.lo >> 63);
        rr.lo = (rr.lo << 1) | bit;
        if (rp_u128_cmp(rr, d) >= 0) {
            rr = u128_sub(rr, d);
            if (i >= 64)
                qq.hi |= UINT64_C(1) << (i - 64);
            else
                qq.lo |= UINT64_C(1) << i;
        }
    }
    *q = qq;
    *r = rr;
    return 0;
}

/* n / d rounded half up (n, d >= 0), as a uint64; -1 on overflow. */
int rp_div_half_up(struct rp_u128 n, struct rp_u128 d, uint64_t *out)
{
    struct rp_u128 q, r;
    if (rp_u128_divmod(n, d, &q, &r))
        return -1;
    if (rp_u128_cmp(r, u128_sub(d, r)) >= 0 && rp_u128_add(q, rp_u128_of(1), &q))
        return -1;
    if (q.hi)
        return -1;
    *out = q.lo;
    return 0;
}

/* num/den rounded half up to 4 decimals, in units of 1e-4 (§6b rates). den > 0. */
int rp_rate4(uint64_t num, uint64_t den, uint64_t *out)
{
    return rp_div_half_up(rp_mul64(num, 10000), rp_u128_of(den), out);
}

/* a/b >= c/d for nonnegative fractions with positive denominators, exactly. */
int rp_frac_ge(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return rp_u128_cmp(rp_mul64(a, d), rp_mul64(c, b)) >= 0;
}

int rp_dec_parse(const char *s, struct rp_dec *d)
{
    uint64_t num = 0, scale = 1;
    int digits = 0, frac = -1;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s == '.') {
            if (frac >= 0 || digits == 0)
                return -1;
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9')
            return -1;
        if (++digits > 18)
            return -1;
        num = num * 10 + (uint64_t)(*s - '0');
        if (frac >= 0) {
            if (++frac > 9)
                return -1;
            scale *= 10;
        }
    }
    if (digits == 0 || frac == 0) /* "." or "5." */
        return -1;
    d->num = num;
    d->scale = scale;
    return 0;
}

/* Nearest rank (§6b): the p-th percentile of n sorted values is the ⌈p·n/100⌉-th. */
size_t rp_nearest_rank(size_t n, unsigned pct)
{
    uint64_t r = ((uint64_t)n * pct + 99) / 100;
    return r == 0 ? 0 : (size_t)(r - 1);
}
