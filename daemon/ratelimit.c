/* The per-address limit of the open doors (ratelimit.h). */
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

struct rl_slot {
    char addr[RL_ADDR_MAX]; /* "" when free */
    int64_t window_ms;      /* start of the address's current window */
    int64_t count;
};

struct ratelimit {
    struct rl_slot s[RL_SLOTS];
};

struct ratelimit *rl_new(void)
{
    return calloc(1, sizeof(struct ratelimit));
}

void rl_free(struct ratelimit *r)
{
    free(r);
}

/* FNV-1a: addresses are not chosen against us here, only spread. */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int rl_take(struct ratelimit *r, const char *addr, int64_t limit, int64_t now_ms,
            int64_t *retry_after_s)
{
    char key[RL_ADDR_MAX];
    size_t len = strnlen(addr, RL_ADDR_MAX - 1);
    memcpy(key, addr, len);
    key[len] = '\0';
    uint32_t h = hash(key);
    struct rl_slot *slot = NULL, *oldest = NULL;
    for (uint32_t i = 0; i < RL_PROBE; i++) {
        struct rl_slot *s = &r->s[(h + i) % RL_SLOTS];
        if (strcmp(s->addr, key) == 0) {
            slot = s;
            break;
        }
        if (!oldest || s->addr[0] == '\0' || s->window_ms < oldest->window_ms)
            if (!oldest || oldest->addr[0] != '\0')
                oldest = s;
    }
    if (!slot) {
        slot = oldest;
        memcpy(slot->addr, key, len + 1);
        slot->window_ms = now_ms;
        slot->count = 0;
    }
    if (now_ms - slot->window_ms >= RL_WINDOW_MS || now_ms < slot->window_ms) {
        slot->window_ms = now_ms;
        slot->count = 0;
    }
    if (slot->count >= limit) {
        *retry_after_s = (slot->window_ms + RL_WINDOW_MS - now_ms + 999) / 1000;
        return 0;
    }
    slot->count++;
    return 1;
}
