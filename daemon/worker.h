/*
 * The worker: read → normalize → apply → ack. Reads the raw stream through the consumer
 * group on its own Redis connection (a blocking XREADGROUP must not stall ingest's
 * XADDs), normalizes each entry with its connector (pure code) and applies the canonical
 * events with one atomic script call that also acknowledges the entry. Entries left
 * pending by a crash are claimed again after claim_idle; an entry that fails
 * max_deliveries times goes to the dead-letter stream with its reason.
 */
#ifndef JD_WORKER_H
#define JD_WORKER_H

#include "jd.h"

struct worker *worker_new(struct jd *jd);
void worker_free(struct worker *w);
void worker_on_redis_state(struct worker *w, enum rq_state s);
/* SIGTERM: no new reads; what is in flight still completes. */
void worker_stop(struct worker *w);
int worker_is_idle(const struct worker *w);
/* The consumer name this worker holds the lease of, or NULL while it holds none (the
 * outbox reads jd:out under the same name, so a restart resumes its pending messages). */
const char *worker_consumer(const struct worker *w);

#endif
