/*
 * Ingest: route → verify → enqueue → reply. A webhook is answered 200 only after Redis
 * acknowledged the XADD to the raw stream (DESIGN §2); anything else gets the status
 * DESIGN §2 names, and nothing is parsed before the signature has been checked.
 */
#ifndef JD_INGEST_H
#define JD_INGEST_H

#include <event2/http.h>

#include "jd.h"

void ingest_handle_hook(struct jd *jd, struct evhttp_request *req, const char *source_name);
void ingest_handle_click(struct jd *jd, struct evhttp_request *req, const char *rest);
void ingest_handle_events(struct jd *jd, struct evhttp_request *req, const char *rest);
/* POST /v1/collect: the site script's page views (an open door, docs/providers/site.md). */
void ingest_handle_collect(struct jd *jd, struct evhttp_request *req, const char *rest);
/* GET /j.js: the site script itself, embedded at build time (daemon/site/). */
void ingest_handle_site_script(struct jd *jd, struct evhttp_request *req, const char *rest);
/* Samples the raw stream length periodically (back-pressure: max_queue). */
int ingest_start(struct jd *jd);
void ingest_free(struct jd *jd);
/* No webhook is waiting for Redis (a graceful stop waits for this). */
int ingest_is_idle(const struct jd *jd);

#endif
