/*
 * Per-source delivery counts for GET /v1/sources (DESIGN §7): each configured source's
 * accepted and refused deliveries by reason over the last 24 hours and 7 days, and the
 * time of its last accepted one, kept across restarts and shared by every instance.
 *
 * Ingest tallies in memory only (sources_accepted / sources_refused: a table lookup, never
 * a Redis round trip, so a flood of bad signatures costs Redis nothing); every few seconds
 * the tallies go to Redis in one sources.lua call, into hourly hashes jd:src:h:<hour>
 * that expire after 8 days, and jd:src:last. A write that fails puts its counts back, so
 * an outage delays them instead of losing them (a write whose answer is lost, a timeout
 * after Redis ran it, is tried again and counts twice: these are operations figures, not
 * money); a graceful stop waits for the last write
 * (sources_is_flushed). Only a crash loses what was tallied since the last write (a few
 * seconds). The table is bounded (SOURCES_MAX_TALLIES); what does not fit is counted as
 * dropped and logged once.
 */
#ifndef JD_SOURCES_H
#define JD_SOURCES_H

#include <stdint.h>

#include <event2/http.h>

#include "jd.h"

struct sources;

/* Ticks (seconds) between two writes of the counts. */
#define SOURCES_FLUSH_TICKS 5

/* NULL on allocation failure. Free with sources_free (NULL-safe) after the Redis clients
 * are freed: a write still in flight is answered (failed) into it. */
struct sources *sources_new(void);
void sources_free(struct sources *s);

/* A delivery of the configured source `name` was accepted (queued) at now_ms. */
void sources_accepted(struct sources *s, const char *name, int64_t now_ms);
/* A delivery of `name` was refused; reason is the answer's error code (bad_signature,
 * stale_timestamp, bad_request, method_not_allowed, handshake_refused, unavailable). */
void sources_refused(struct sources *s, const char *name, const char *reason, int64_t now_ms);

/* Called once a second (ingest's queue probe): every SOURCES_FLUSH_TICKS calls, and at
 * every call while stopping, writes what was tallied since the last write in one script
 * call on c (nothing when a write is in flight or c is not ready). */
void sources_tick(struct sources *s, struct rq_client *c, int stopping);
/* 1 when nothing tallied is waiting to be written. */
int sources_is_flushed(const struct sources *s);

/* GET /v1/sources. */
void sources_handle_list(struct jd *jd, struct evhttp_request *req, const char *rest);

#endif
