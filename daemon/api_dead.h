/*
 * The dead-letter endpoints (DESIGN §8: poison events are kept with their reason and can be
 * replayed after a fix): list them, replay them, discard one. docs/api.md "Dead letters".
 */
#ifndef JD_API_DEAD_H
#define JD_API_DEAD_H

#include <event2/http.h>

#include "jd.h"

/* DELETE /v1/dead/<id>: discards one dead letter for good (404 when there is none). */
void api_handle_dead_discard(struct jd *jd, struct evhttp_request *req, const char *id);

#endif
