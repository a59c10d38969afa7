/*
 * The daemon's shared state: one struct, owned by main.c, passed to every module. It is
 * the only "global" the daemon has, and it is passed explicitly. Modules own their parts
 * (the HTTP server, the worker, the counters in struct metrics); nothing here calls back
 * up into main.c, which decides when a graceful stop is over by polling them.
 */
#ifndef JD_JD_H
#define JD_JD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "metrics.h"
#include "redis.h"

#include "scripts.h" /* enum jd_script, generated from the script list (queue/) */
#include "stream.h"  /* JD_RAW_STREAM, JD_DEAD_STREAM, JD_GROUP */

struct worker;
struct http_server;
struct retention;
struct reconcile;
struct ui;
struct ratelimit;
struct outbox;

struct jd {
    struct event_base *base;
    struct cfg *cfg;
    const char *config_path;  /* re-read on SIGHUP */
    struct http_server *http; /* NULL without the ingest and api roles */
    struct rq_client *rq_ingest, *rq_worker, *rq_api;
    struct worker *worker;
    struct ui *ui;             /* dashboard sessions (api role) */
    struct outbound *outbound; /* look-ups for thin webhooks (worker role) */
    struct event *sig_term, *sig_int, *sig_hup;
    struct event *drain_timer; /* SIGTERM: waits for in-flight work, bounded */
    struct event *queue_probe; /* samples the raw stream length for back-pressure */
    int64_t queue_length;      /* last sampled XLEN of the raw stream */
    size_t ingest_inflight;    /* XADDs waiting for Redis */
    int roles_ingest, roles_worker, roles_api;
    int stopping;
    int ready_notified;
    int down_logged[3];    /* per Redis connection: its loss was logged */
    int refused_logged[3]; /* per Redis connection: its AUTH/SELECT refusal was logged */
    int aof_off_warned;    /* "AOF is off" logged; cleared when a connect finds it on */
    int fatal;             /* exit non-zero: Redis refused our AUTH or SELECT at start */
    int64_t drain_deadline_ms;
    struct cx_source events_source;  /* POST /v1/events: api tokens as secrets */
    struct cx_source click_source;   /* GET /c and POST /v1/collect */
    struct ratelimit *collect_limit; /* POST /v1/collect per client address (ingest role) */
    struct metrics metrics;
    struct sources *sources; /* per-source delivery counts (ingest role): sources.h */
    int64_t started_ms;
    struct retention *retention; /* the retention sweep's timer (worker role) */
    struct reconcile *reconcile; /* reconciliation and queued backfills (worker role) */
    struct outbox *outbox;       /* delivers jd:out to the destinations (worker role) */
};

#endif
