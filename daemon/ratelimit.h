/*
 * A per-address request limit for the open doors a browser reaches without a secret
 * (POST /v1/collect): a fixed window of one minute per client address, in a fixed table.
 * Memory never grows with the number of addresses: an address probes RL_PROBE slots, and
 * when all are held by addresses still inside their window, the one whose window started
 * first gives way (a flood of addresses forgets some, it never costs memory or time).
 */
#ifndef JD_RATELIMIT_H
#define JD_RATELIMIT_H

#include <stdint.h>

#define RL_SLOTS 4096
#define RL_PROBE 8
#define RL_ADDR_MAX 64
#define RL_WINDOW_MS 60000

struct ratelimit;

struct ratelimit *rl_new(void);
void rl_free(struct ratelimit *r);
/* Counts one request from addr at now_ms: 1 when it is within limit per minute, 0 when
 * over it (then *retry_after_s says when the window ends). */
int rl_take(struct ratelimit *r, const char *addr, int64_t limit, int64_t now_ms,
            int64_t *retry_after_s);

#endif
