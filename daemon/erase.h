/*
 * GDPR erasure, DELETE /v1/contacts/<id> (DESIGN §7; docs/internals.md "Erasure"): one
 * atomic call (queue/scripts/erase.lua) erases the contact, scrubs its conflict partners
 * and leaves hashed tombstones of its identities and events; then the raw webhooks that
 * carry its identities are removed from the queue and from the dead letters, found by
 * normalizing each entry with its connector, a page at a time on the event loop. The
 * answer (and one log line, ids and counts only) comes when all of it is done.
 */
#ifndef JD_ERASE_H
#define JD_ERASE_H

#include <event2/http.h>

#include "jd.h"

/* contact_id is a well-formed contact id (the caller checked it). Answers req exactly
 * once: 200 with the counts, 404 for an unknown contact, 503 when Redis is away. */
void erase_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id);

#endif
