/*
 * The daemon's counters and their Prometheus text for GET /metrics. This module owns every
 * counter (the event counts, webhooks per (source, status) in a fixed table with one
 * overflow row instead of growing memory, the ingest latency histogram, the queue sample);
 * what it does not own (in-flight writes, look-ups, Redis connections, uptime) its caller
 * samples into a struct metrics_gauges at scrape time. It knows neither struct jd nor HTTP.
 */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <stdint.h>

#include <event2/buffer.h>

struct outbound;
struct rq_client;

#define METRICS_MAX_ROWS 256
/* Sources whose dead letters were dropped: configured sources plus click, events and
 * "(none)", bounded by the config; past this, one overflow row. */
#define METRICS_MAX_DROP_ROWS 64
#define METRICS_LATENCY_BUCKETS 12
/* Per-source health rows: configured sources (64 at most) plus the built-in ones. */
#define METRICS_MAX_SOURCE_ROWS 72

/* What reconciliation and ingest know about one source's webhooks (docs/running.md,
 * "A source that went silent"). */
struct metrics_source {
    char source[64];
    uint64_t fetched;        /* events read back from the provider's API (reconcile.c) */
    uint64_t reconciled;     /* of those, applied as new: their webhook never came (worker) */
    uint64_t bad_signatures; /* webhooks refused 401 since the last accepted one (ingest) */
    int silent;              /* the last reconcile run recovered events (reconcile.c) */
};

/* Bumped where the thing happens: ingest (accepted … clicks_invalid), the worker
 * (applied … skipped), main (reloads). */
struct metrics_counters {
    uint64_t accepted, rejected, unavailable, clicks, clicks_unrecorded, clicks_invalid;
    uint64_t page_views, page_views_refused, page_views_limited;
    uint64_t applied, duplicates, merges, conflicts, restitched, restitches_skipped, dead_letters,
        skipped;
    uint64_t reloads, reload_failures;
};

struct metrics {
    /* First member: jd.h's transitional alias jd->n relies on it. */
    struct metrics_counters n;
    struct {
        char source[64];
        int status;
        uint64_t count;
    } webhooks[METRICS_MAX_ROWS];
    size_t nwebhooks;
    uint64_t webhooks_overflow;
    /* Old dead letters dropped to keep a source within dead_letter_max, by source. */
    struct {
        char source[64];
        uint64_t count;
    } dead_dropped[METRICS_MAX_DROP_ROWS];
    size_t ndead_dropped;
    uint64_t dead_dropped_overflow;
    struct metrics_source sources[METRICS_MAX_SOURCE_ROWS];
    size_t nsources;
    /* Ingest latency: from the request's arrival at the handler to the reply. */
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS + 1];
    double latency_sum_s;
    uint64_t latency_count;
    /* Sampled by the queue probe. */
    int64_t raw_length, pending, dead_letters, group_lag;
    /* Identity health (issue 15): the shares the last SLA report (leads and payments) or
     * attribution report (payments) answered with; shown once a report has set them. */
    struct {
        int leads_set, payments_set;
        uint64_t leads, leads_touched, payments, payments_touched;
    } identity;
};

/* Copies the "identity" member of a report answer (rp_identity_json) into m->identity:
 * its leads when it has them, its payments always. */
struct cJSON;
void metrics_set_identity(struct metrics *m, const struct cJSON *identity);

void metrics_count_webhook(struct metrics *m, const char *source, int status);
/* n old dead letters of source were dropped to make room (dead.lua's answer). */
void metrics_count_dead_dropped(struct metrics *m, const char *source, uint64_t n);
/* The row of source, created on first use; NULL when the table is full (not counted). */
struct metrics_source *metrics_source(struct metrics *m, const char *source);
void metrics_observe_latency(struct metrics *m, int64_t micros);
/* What a scrape shows besides the counters: sampled by the caller, borrowed for the call. */
struct metrics_gauges {
    int64_t ingest_inflight;
    const struct outbound *outbound; /* NULL: no look-ups in this process (no worker role) */
    /* The Redis connections by role (ingest, worker, api); NULL where the role is off. */
    const struct rq_client *redis[3];
    int64_t uptime_s;
};

/* The exposition text, or NULL when out of memory; the caller frees it. */
struct evbuffer *metrics_render(const struct metrics *m, const struct metrics_gauges *g);

#endif
