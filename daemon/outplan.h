/*
 * The outbox's plan for apply.lua (issue 14): which destinations want which kinds of
 * message, from the current config. Apart from outbox.c so the worker, which passes it to
 * apply.lua, and the outbox, which reads the worker's consumer name, do not include each
 * other. Module prefix outplan_.
 */
#ifndef JD_OUTPLAN_H
#define JD_OUTPLAN_H

#include <stddef.h>

struct cfg;

/* apply.lua's last argument: "jd-outbox\t<consent field>\t<sla 0|1>\t<kind>=<d>,<d>;...",
 * malloc'd; NULL when no destination is configured (or out of memory). */
char *outplan_apply_arg(const struct cfg *c);

/* The destinations subscribed to kind (their `events`, else their type's default),
 * comma-joined into out; returns how many. */
size_t outplan_subscribers(const struct cfg *c, const char *kind, char *out, size_t cap);

#endif
