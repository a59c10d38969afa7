/*
 * The retention sweep's clock (retention.h): one EVALSHA of retention.lua per tick, each
 * bounded (RET_SLICE_EVENTS events, one SCAN step of RET_SCAN_KEYS keys), with a pause
 * between slices so the webhooks' scripts always find Redis free. The script decides what
 * a tick does (a slice of the pass in progress, the start of a new pass, or nothing yet)
 * from its state in Redis, so this side only keeps time and never holds a slice in memory:
 * a crash or a restart loses nothing but the slice in flight, which is atomic anyway.
 */
#include "retention.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "jd.h"
#include "log.h"
#include "util.h"

/* A slice: at most this many events removed or read (a contact taken up or finished counts
 * as four) and one SCAN step over this many keys, which keeps a slice within a few
 * milliseconds of Redis time (docs/configuration.md has the measurement). */
#define RET_SLICE_EVENTS 100
#define RET_SCAN_KEYS 200
/* Between the slices of a pass: Redis is left free most of the time. */
#define RET_PAUSE_MS 20
/* Between the end of a pass and the start of the next (the script keeps it, in Redis). */
#define RET_PASS_EVERY_MS INT64_C(3600000)
/* Retention off, or the next pass not due: look again this often (a reload may turn it on;
 * each look also refreshes the cutoff apply.lua reads). */
#define RET_IDLE_MS INT64_C(60000)
/* Redis away or refusing: try again after this. */
#define RET_RETRY_MS 1000
/* jd:ret:cutoff outlives a few idle looks, then lapses when no journeyd sweeps. */
#define RET_CUTOFF_TTL_MS (5 * RET_IDLE_MS)

struct retention {
    struct jd *jd;
    struct event *timer;
    int error_logged; /* a refused slice was logged; cleared by the next good one */
    int pass_seen;    /* this process has logged the current pass as running */
};

static struct rq_client *retention_redis(const struct jd *jd)
{
    return jd->rq_api ? jd->rq_api : jd->rq_worker;
}

static void arm(struct retention *r, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (r->jd->stopping)
        return;
    if (evtimer_add(r->timer, &tv) != 0)
        jlog(JLOG_ERROR, "msg=\"retention timer failed\"");
}

static int64_t reply_int(const redisReply *e)
{
    return e && e->type == REDIS_REPLY_INTEGER ? (int64_t)e->integer : 0;
}

static void on_slice(struct rq_client *c, const redisReply *reply, void *priv)
{
    struct retention *r = priv;
    (void)c;
    if (!reply) {
        /* Redis away: its loss is logged once by main.c. */
        arm(r, RET_RETRY_MS);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
        (reply->element[0]->type != REDIS_REPLY_STATUS &&
         reply->element[0]->type != REDIS_REPLY_STRING)) {
        if (!r->error_logged) {
            char q[256];
            const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
            r->error_logged = 1;
            jlog(JLOG_ERROR, "msg=\"retention slice refused\" reason=\"%s\"",
                 jlog_quote(why, strlen(why), q, sizeof(q)));
        }
        arm(r, RET_RETRY_MS);
        return;
    }
    r->error_logged = 0;
    const char *state = reply->element[0]->str;
    int64_t removed = reply_int(reply->element[1]), contacts = reply_int(reply->element[2]);
    int64_t ms = reply_int(reply->element[3]);
    if (strcmp(state, "more") == 0) {
        if (!r->pass_seen) {
            r->pass_seen = 1;
            jlog(JLOG_INFO, "msg=\"retention pass\" state=running");
        }
        arm(r, RET_PAUSE_MS);
    } else if (strcmp(state, "done") == 0) {
        /* Counts only: which events and contacts went is nobody's business in a log. */
        jlog(JLOG_NOTICE,
             "msg=\"retention pass done\" events_removed=%lld contacts_removed=%lld "
             "seconds=%.1f",
             (long long)removed, (long long)contacts, (double)ms / 1000.0);
        r->pass_seen = 0;
        arm(r, RET_PAUSE_MS);
    } else {
        /* "wait": ms until the next pass is due. */
        arm(r, ms > 0 && ms < RET_IDLE_MS ? ms : RET_IDLE_MS);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct retention *r = arg;
    struct jd *jd = r->jd;
    (void)fd;
    (void)what;
    if (jd->stopping)
        return;
    int64_t keep_ms = jd->cfg->retention_ms;
    if (keep_ms <= 0) {
        arm(r, RET_IDLE_MS);
        return;
    }
    struct rq_client *c = retention_redis(jd);
    if (!rq_is_ready(c)) {
        arm(r, RET_RETRY_MS);
        return;
    }
    int64_t now = jd_now_ms();
    char cutoff[24], now_s[24], events[16], keys[16], every[24], ttl[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(now - keep_ms));
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    snprintf(events, sizeof(events), "%d", RET_SLICE_EVENTS);
    snprintf(keys, sizeof(keys), "%d", RET_SCAN_KEYS);
    snprintf(every, sizeof(every), "%lld", (long long)RET_PASS_EVERY_MS);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)RET_CUTOFF_TTL_MS);
    const char *argv[] = {cutoff, now_s, events, keys, every, ttl};
    size_t lens[6];
    for (size_t i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    /* Not sent: try again later. Sent: on_slice re-arms the timer. */
    if (rq_eval(c, JD_SCRIPT_RETENTION, 0, on_slice, r, 0, 6, argv, lens) != 0)
        arm(r, RET_RETRY_MS);
}

struct retention *retention_new(struct jd *jd)
{
    if (!retention_redis(jd))
        return NULL;
    struct retention *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->jd = jd;
    r->timer = evtimer_new(jd->base, on_tick, r);
    if (!r->timer) {
        free(r);
        return NULL;
    }
    /* The first tick finds Redis still connecting and comes back in RET_RETRY_MS. */
    arm(r, 0);
    return r;
}

void retention_free(struct retention *r)
{
    if (!r)
        return;
    if (r->timer)
        event_free(r->timer);
    free(r);
}
