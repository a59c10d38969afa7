/*
 * Look-up rounds for thin webhooks: when a connector's normalize asks for data it does
 * not have (a Meta lead's fields, a HubSpot contact), the worker hands the raw entry to a
 * lookup job, which copies it (the hiredis reply is gone when the answers arrive), runs
 * the round's GETs through daemon/outbound.c and calls the owner's `done` callback once
 * every answer is in. The worker then normalizes again with the answers, and may start
 * another round on the same job. This module knows nothing of the worker: it is handed a
 * callback, so the arrow points one way. Module prefix lookup_.
 */
#ifndef JD_LOOKUP_H
#define JD_LOOKUP_H

#include <stddef.h>

#include <event2/event.h>

#include "connector.h"
#include "outbound.h"
#include "stream.h"

struct lookups;

/* One raw entry waiting for look-ups. The owner reads the first fields; the rest is
 * lookup.c's. */
struct lookup_job {
    char entry[64];
    long long deliveries;
    struct stream_record rec; /* a copy: points into blob */
    int failed;               /* a look-up failed: why says how */
    char why[160];
    /* lookup.c's own */
    struct lookups *owner;
    struct lookup_job *prev, *next;
    char *blob;
    struct lookup_slot {
        struct lookup_job *job;
        size_t index;
    } slots[CX_MAX_FETCHES];
    struct {
        long status;
        char *body;
        size_t len;
    } answers[CX_MAX_FETCHES];
    size_t nanswers, waiting;
    struct event *later; /* finishes a round whose every look-up was refused at once */
};

/* Runs once per started round, from the event loop, when every look-up of the round has
 * answered or failed. The job is still the owner's: start another round or free it. */
typedef void (*lookup_done_cb)(struct lookup_job *job, void *ud);

/* NULL out of memory. Free with lookups_free, which also frees the jobs still held. */
struct lookups *lookups_new(struct event_base *base, lookup_done_cb done, void *ud);
void lookups_free(struct lookups *l);

/* A job for entry holding a copy of rec; NULL out of memory. Free with lookup_job_free. */
struct lookup_job *lookup_job_new(struct lookups *l, const char *entry,
                                  const struct stream_record *rec, long long deliveries);
void lookup_job_free(struct lookup_job *job);

/* Sends the GETs of need through out (NULL: none can go). Returns 0: done runs once when
 * the round is over (a refused look-up sets failed). Returns -1 when nothing could even be
 * scheduled: done will not run and the job stays the caller's. */
int lookup_start_round(struct lookup_job *job, struct outbound *out,
                       const struct cx_fetch_list *need);
/* The answers of every round so far, borrowed from the job, for the connector. */
void lookup_job_fetched(const struct lookup_job *job, struct cx_fetched *out);

/* Whether entry waits for look-ups here (it must not be claimed again meanwhile). */
int lookups_has(const struct lookups *l, const char *entry);
/* The entries waiting, at most cap of them, into ids (borrowed); returns how many. */
int lookups_entries(const struct lookups *l, const char **ids, int cap);

#endif
