/*
 * The daemon's shared state: one struct, owned by main.c, passed to every module. It is
 * the only "global" the daemon has, and it is passed explicitly.
 */
#ifndef JD_JD_H
#define JD_JD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "config.h"
#include "metrics.h"
#include "redis.h"

#include "scripts.h" /* enum jd_script, generated from the script list (queue/) */
#include "stream.h"  /* JD_RAW_STREAM, JD_DEAD_STREAM, JD_GROUP */

struct worker;

struct jd_counters {
    uint64_t accepted, rejected, unavailable, clicks, clicks_unrecorded;
    uint64_t applied, duplicates, merges, conflicts, restitched, dead_letters, skipped;
};

struct jd {
    struct event_base *base;
    struct cfg *cfg;
    const char *config_path; /* re-read on SIGHUP */
    struct evhttp *http;
    struct evconnlistener *listener;
    struct rq_client *rq_ingest, *rq_worker, *rq_api;
    struct worker *worker;
    struct outbound *outbound; /* look-ups for thin webhooks (worker role) */
    struct event *sig_term, *sig_int, *sig_hup;
    struct event *conn_guard;  /* caps open connections (libevent 2.1 has no such limit) */
    struct event *drain_timer; /* SIGTERM: waits for in-flight work, bounded */
    struct event *queue_probe; /* samples the raw stream length for back-pressure */
    int64_t queue_length;      /* last sampled XLEN of the raw stream */
    int reloads, reload_failures;
    size_t ingest_inflight; /* XADDs waiting for Redis */
    int roles_ingest, roles_worker, roles_api;
    int stopping;
    int ready_notified;
    int down_logged[3]; /* per Redis connection: its loss was logged */
    int64_t drain_deadline_ms;
    struct cx_source events_source; /* POST /v1/events: api tokens as secrets */
    struct cx_source click_source;  /* GET /c */
    struct jd_counters n;
    struct metrics metrics;
    int64_t started_ms;
};

/* main.c: called when a module finished its part of a graceful stop. */
void jd_check_drained(struct jd *jd);

#endif
