/*
 * The outbox (issue 14): delivers what apply.lua decided must go out (the stream jd:out)
 * to the [destination <name>] sections, on the event loop, through outbound.c's libcurl
 * multi. Also the SLA alert timer: a lead in jd:sla:due whose wait (business hours, DST
 * included: reports' SLA clock) is over response_hours gets one sla.breached message.
 *
 * Exactly once per dedup key, as far as the receiver dedups: messages are read with the
 * consumer group "out" under the worker's leased consumer name, acknowledged (XACK and
 * XDEL, out_done.lua) only after a 2xx, a skip or a dead letter; a restart after SIGKILL
 * takes over the same name and sends its pending messages again with the same dedup key
 * (webhook-id, event_id, transactionId). Retries: backoff doubling from 1 s to 10 min with
 * jitter, a Retry-After honoured (up to an hour), at most max_concurrent requests per
 * destination; after OUTBOX_MAX_ROUNDS failed rounds, or a permanent answer, the message
 * goes to jd:out:dead with its reason. Module prefix outbox_.
 */
#ifndef JD_OUTBOX_H
#define JD_OUTBOX_H

#include <event2/buffer.h>

struct jd;
struct outbox;

/* Starts the timers; NULL on allocation failure. Does nothing until a destination is
 * configured (a reload may add one). Uses jd->rq_api when this process has one, else
 * jd->rq_worker, and jd->outbound. Free with outbox_free after the Redis clients and
 * outbound (their callbacks come back into it). */
struct outbox *outbox_new(struct jd *jd);
void outbox_free(struct outbox *ob); /* NULL-safe */
#define OUTBOX_FREE(ob)                                                                            \
    do {                                                                                           \
        outbox_free(ob);                                                                           \
        (ob) = NULL;                                                                               \
    } while (0)

/* Appends the outbox's series to a /metrics answer (NULL-safe: nothing). */
void outbox_metrics(const struct outbox *ob, struct evbuffer *b);

#endif
