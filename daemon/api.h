/*
 * The read API (DESIGN §7): journeys and contacts, read through one atomic script so no
 * answer ever shows half of a merge; the queue status. Every call under /v1/ needs a bearer
 * token from api_tokens.
 */
#ifndef JD_API_H
#define JD_API_H

#include <event2/http.h>

#include "jd.h"

void api_handle_journey(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id);
void api_handle_status(struct jd *jd, struct evhttp_request *req, const char *rest);

/* api_reports.c: DESIGN §6, §6b and the report endpoints of §7. */
void api_handle_attribution(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_funnel(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_sla(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_spend(struct jd *jd, struct evhttp_request *req, const char *rest);
/* POST /v1/backfill (api_backfill.c). */
void api_handle_backfill(struct jd *jd, struct evhttp_request *req, const char *rest);

/* api_drill.c: the drill-downs of §7, what is behind a report's number, paged. */
void api_handle_drill_attribution(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_drill_funnel(struct jd *jd, struct evhttp_request *req, const char *rest);
void api_handle_drill_sla(struct jd *jd, struct evhttp_request *req, const char *rest);

#endif
