/*
 * The destination registry and the helpers every type shares (destination.h). Pure: no
 * I/O, no clock, no globals beyond the constant table.
 */
#include <stdio.h>
#include <string.h>

#include "ads.h"
#include "destination.h"

extern const struct dst_type dst_webhook;
extern const struct dst_type dst_slack;

/* One line per type. */
static const struct dst_type *const types[] = {&dst_webhook, &dst_slack, &dst_meta_capi,
                                               &dst_google_data_manager};

const struct dst_type *dst_type_at(size_t i)
{
    return i < sizeof(types) / sizeof(types[0]) ? types[i] : NULL;
}

const struct dst_type *dst_lookup(const char *type)
{
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i]->type, type) == 0)
            return types[i];
    return NULL;
}

int dst_wants(const struct dst_type *t, const struct dst_config *cfg, const char *kind)
{
    if (cfg->nevents > 0) {
        for (size_t i = 0; i < cfg->nevents; i++)
            if (strcmp(cfg->events[i], kind) == 0)
                return 1;
        return 0;
    }
    for (size_t i = 0; t->default_events && t->default_events[i]; i++)
        if (strcmp(t->default_events[i], kind) == 0)
            return 1;
    return 0;
}

enum dst_verdict dst_classify_default(const struct dst_answer *a, int64_t *retry_after_s, char *why,
                                      size_t whylen)
{
    *retry_after_s = -1;
    if (a->status >= 200 && a->status < 300)
        return DST_DONE;
    if (a->status == 0 || a->status == 408 || a->status == 429 || a->status >= 500) {
        *retry_after_s = a->retry_after_s;
        snprintf(why, whylen, a->status ? "HTTP %ld" : "transport error", a->status);
        return DST_RETRY;
    }
    snprintf(why, whylen, "HTTP %ld", a->status);
    return DST_PERMANENT;
}

int dst_add_header(struct dst_request *out, const char *name, const char *value)
{
    if (out->nheaders >= DST_MAX_HEADERS)
        return -1;
    int n = snprintf(out->headers[out->nheaders], DST_HEADER_MAX, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= DST_HEADER_MAX)
        return -1;
    out->nheaders++;
    return 0;
}
