/*
 * Reconciliation and backfill (DESIGN §9 `reconcile`, issue 15): reads the providers'
 * own list APIs (connectors/listing.h) through daemon/outbound.c and queues every item
 * on the raw stream as a record marked fetched (STREAM_FETCHED_HEADER), so the worker
 * normalizes and applies it exactly as it would the webhook; the event id's dedup makes
 * an event already applied change nothing, and the worker counts the new ones
 * (journeyd_reconciled_total{source}).
 *
 * One walk at a time lists one window of one source, page by page, at most one page per
 * RECONCILE_PAGE_GAP_MS (the providers' rate limits: Shopify's REST bucket leaks 2 per
 * second, Stripe allows far more), with a 429's Retry-After honoured by outbound. The
 * cursor is in Redis and is advanced only once every item of a page is queued, so a walk
 * cut short (a crash, a SIGKILL, a lost connection) resumes at the page it was reading:
 *   jd:reconcile:<source>  since, next, after, feed   the loop's window and cursor
 *   jd:backfill:<source>   since, after, state, fetched, pages
 *   jd:backfill:requests   the sources POST /v1/backfill asked for (a set)
 * Module prefix reconcile_.
 */
#ifndef JD_RECONCILE_H
#define JD_RECONCILE_H

#include <stdint.h>

struct jd;
struct reconcile;

#define RECONCILE_KEY_PREFIX "jd:reconcile:"
#define BACKFILL_KEY_PREFIX "jd:backfill:"
#define BACKFILL_REQUESTS "jd:backfill:requests"

/* What a backfill has done so far (the CLI's progress line). */
struct reconcile_progress {
    const char *source;
    int64_t since_s;
    uint64_t pages, fetched;
    const char *after; /* the cursor: the last provider id read */
    int done;          /* 1 finished, -1 failed (why says), 0 going on */
    const char *why;
};
typedef void (*reconcile_progress_cb)(const struct reconcile_progress *p, void *ud);

/* The daemon's loop (worker role: it needs jd->outbound): a timer that walks every source
 * whose `reconcile` is set, each on its interval, and the backfills POST /v1/backfill
 * queued. NULL out of memory. Free with reconcile_free after the Redis clients and the
 * outbound handle (their pending callbacks call back into it). */
struct reconcile *reconcile_new(struct jd *jd);
/* One backfill of one source and nothing else (journeyd backfill): resumes the one in
 * Redis when it is still running, else starts one from since_s. progress runs after
 * every page and once at the end (done != 0). NULL out of memory. */
struct reconcile *reconcile_backfill_new(struct jd *jd, const char *source, int64_t since_s,
                                         reconcile_progress_cb progress, void *ud);
void reconcile_free(struct reconcile *r);
/* A backfill's start: an age ("90d", "12w", "36h", "30m") before now_s, or a date
 * ("2026-09-01", UTC midnight) or RFC 3339 instant; at most RECONCILE_MAX_AGE_S back.
 * 0, or -1 when s is neither. */
#define RECONCILE_MAX_AGE_S (3660LL * 86400)
int reconcile_parse_since(const char *s, int64_t now_s, int64_t *out);
#define RECONCILE_FREE(r)                                                                          \
    do {                                                                                           \
        reconcile_free(r);                                                                         \
        (r) = NULL;                                                                                \
    } while (0)

#endif
