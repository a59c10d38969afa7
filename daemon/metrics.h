/*
 * Prometheus text exposition for GET /metrics. Counters live here, bounded: webhooks are
 * counted per (source, status) in a fixed table; anything past it goes to one overflow
 * row instead of growing memory.
 */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <stdint.h>

#include <event2/http.h>

struct jd;

#define METRICS_MAX_ROWS 256
#define METRICS_LATENCY_BUCKETS 12

struct metrics {
    struct {
        char source[64];
        int status;
        uint64_t count;
    } webhooks[METRICS_MAX_ROWS];
    size_t nwebhooks;
    uint64_t webhooks_overflow;
    /* Ingest latency: from the request's arrival at the handler to the reply. */
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS + 1];
    double latency_sum_s;
    uint64_t latency_count;
    /* Sampled by the queue probe. */
    int64_t raw_length, pending, dead_letters, group_lag;
};

void metrics_count_webhook(struct metrics *m, const char *source, int status);
void metrics_observe_latency(struct metrics *m, int64_t micros);
void metrics_handle(struct jd *jd, struct evhttp_request *req, const char *rest);

#endif
