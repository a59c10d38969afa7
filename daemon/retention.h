/*
 * Retention (config key `retention`): a timer on the event loop that runs
 * queue/scripts/retention.lua, one short slice after another, to remove events older than
 * the configured age from the journeys and the report indexes. All of the sweep's state is
 * in Redis (jd:ret*), so a restart resumes a pass where it stopped and several journeyd
 * sharing one Redis share the work. The key is read at every tick: a reload turns the
 * sweep on or off. Module prefix retention_.
 */
#ifndef JD_RETENTION_H
#define JD_RETENTION_H

struct jd;
struct retention;

/* Arms the timer; the first slice runs once the Redis connection is ready. Runs its
 * slices on jd->rq_api when this process has one (no blocking reads there), else on
 * jd->rq_worker. NULL on allocation failure or when the process has neither. Free with
 * retention_free after the Redis clients (their pending replies call back into it). */
struct retention *retention_new(struct jd *jd);
/* NULL-safe. Must not be called while a slice is waiting for its reply: free the Redis
 * client first (which fails the reply) or wait for it. */
void retention_free(struct retention *r);
#define RETENTION_FREE(r)                                                                          \
    do {                                                                                           \
        retention_free(r);                                                                         \
        (r) = NULL;                                                                                \
    } while (0)

#endif
