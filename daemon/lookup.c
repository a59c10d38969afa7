/*
 * The look-up round machinery (see lookup.h): the jobs in flight, one slot per GET so
 * each answer lands in its place, and the `later` timer that finishes a round whose
 * look-ups were all refused at once from the loop, never from inside the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"

struct lookups {
    struct event_base *base;
    lookup_done_cb done;
    void *ud;
    struct lookup_job *jobs;
};

struct lookups *lookups_new(struct event_base *base, lookup_done_cb done, void *ud)
{
    struct lookups *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->base = base;
    l->done = done;
    l->ud = ud;
    return l;
}

void lookups_free(struct lookups *l)
{
    if (!l)
        return;
    while (l->jobs)
        lookup_job_free(l->jobs);
    free(l);
}

struct lookup_job *lookup_job_new(struct lookups *l, const char *entry,
                                  const struct stream_record *rec, long long deliveries)
{
    struct lookup_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    if (stream_record_copy(rec, &job->rec, &job->blob) != 0) {
        free(job);
        return NULL;
    }
    job->owner = l;
    job->deliveries = deliveries;
    snprintf(job->entry, sizeof(job->entry), "%s", entry);
    job->next = l->jobs;
    if (l->jobs)
        l->jobs->prev = job;
    l->jobs = job;
    return job;
}

void lookup_job_free(struct lookup_job *job)
{
    if (!job)
        return;
    struct lookups *l = job->owner;
    if (job->prev)
        job->prev->next = job->next;
    else
        l->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    for (size_t i = 0; i < job->nanswers; i++)
        free(job->answers[i].body);
    if (job->later)
        event_free(job->later);
    free(job->blob);
    free(job);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    struct lookup_job *job = arg;
    (void)fd;
    (void)what;
    job->owner->done(job, job->owner->ud);
}

static void on_fetched(void *ud, enum outbound_result result, long status, const char *body,
                       size_t len, const char *error)
{
    struct lookup_slot *slot = ud;
    struct lookup_job *job = slot->job;
    if (result == OUTBOUND_OK || result == OUTBOUND_PERMANENT) {
        /* The connector judges completed answers, 4xx included ("lead not found"). */
        job->answers[slot->index].status = status;
        job->answers[slot->index].body = malloc(len + 1);
        if (job->answers[slot->index].body) {
            memcpy(job->answers[slot->index].body, body, len);
            job->answers[slot->index].body[len] = '\0';
            job->answers[slot->index].len = len;
        } else {
            job->failed = 1;
            snprintf(job->why, sizeof(job->why), "out of memory");
        }
    } else {
        job->failed = 1;
        snprintf(job->why, sizeof(job->why), "look-up failed: %s (HTTP %ld)",
                 error ? error : "unavailable", status);
    }
    if (--job->waiting == 0)
        job->owner->done(job, job->owner->ud);
}

int lookup_start_round(struct lookup_job *job, struct outbound *out,
                       const struct cx_fetch_list *need)
{
    size_t first = job->nanswers;
    job->nanswers += need->n;
    job->waiting = need->n;
    for (size_t i = 0; i < need->n; i++) {
        const struct cx_fetch *fx = &need->v[i];
        const char *headers[2] = {fx->headers[0], fx->headers[1]};
        struct lookup_slot *slot = &job->slots[first + i];
        slot->job = job;
        slot->index = first + i;
        if (!out || outbound_get(out, fx->url, headers, fx->nheaders, on_fetched, slot) != 0) {
            job->failed = 1;
            snprintf(job->why, sizeof(job->why), "look-up queue full or unavailable");
            job->waiting--;
        }
    }
    if (job->waiting == 0) {
        /* Every look-up was refused at once: finish from the loop, not from here. */
        if (!job->later)
            job->later = evtimer_new(job->owner->base, on_later, job);
        struct timeval now = {0, 0};
        if (!job->later || evtimer_add(job->later, &now) != 0)
            return -1;
    }
    return 0;
}

void lookup_job_fetched(const struct lookup_job *job, struct cx_fetched *out)
{
    out->n = job->nanswers;
    for (size_t i = 0; i < job->nanswers; i++) {
        out->v[i].status = job->answers[i].status;
        out->v[i].body = (const unsigned char *)job->answers[i].body;
        out->v[i].len = job->answers[i].len;
    }
}

int lookups_has(const struct lookups *l, const char *entry)
{
    for (const struct lookup_job *j = l->jobs; j; j = j->next)
        if (strcmp(j->entry, entry) == 0)
            return 1;
    return 0;
}

int lookups_entries(const struct lookups *l, const char **ids, int cap)
{
    int n = 0;
    for (const struct lookup_job *j = l->jobs; j && n < cap; j = j->next)
        ids[n++] = j->entry;
    return n;
}
