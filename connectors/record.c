/*
 * The compact report record (see record.h): encode and decode. It knows nothing of
 * canonical events; canon.c builds a record from one (cx_event_record), so the format
 * sits below the connectors' interface and both sides of it include only record.h.
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t put_field(char *out, size_t cap, size_t o, const char *s, int last)
{
    /* Control characters never occur in normalized fields; a unit separator inside
     * provider text would shift the fields, so every control byte becomes a space. */
    for (; s && *s && o + 2 < cap; s++)
        out[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    if (!last && o + 1 < cap)
        out[o++] = CX_RECORD_SEP;
    out[o] = '\0';
    return o;
}

int cx_record_encode(const struct cx_record *r, char *out, size_t cap)
{
    char stage[16], amount[24] = "";
    snprintf(stage, sizeof(stage), "%d", r->stage);
    if (r->has_amount)
        snprintf(amount, sizeof(amount), "%lld", (long long)r->amount_minor);
    if (cap < 16)
        return -1;
    size_t o = 0;
    const char *fields[] = {r->kind,        stage,
                            r->type,        r->touch ? "1" : "0",
                            r->channel,     r->source,
                            r->campaign,    r->ad,
                            amount,         r->has_amount ? r->currency : "",
                            r->payment_key, r->platform,
                            r->campaign_id, r->owner};
    size_t n = sizeof(fields) / sizeof(fields[0]);
    for (size_t i = 0; i < n; i++)
        o = put_field(out, cap, o, fields[i], i + 1 == n);
    return o + 2 < cap ? 0 : -1;
}

static char *field(char **p)
{
    char *f = *p;
    char *sep = f ? strchr(f, CX_RECORD_SEP) : NULL;
    if (sep) {
        *sep = '\0';
        *p = sep + 1;
    } else {
        *p = NULL;
    }
    return f ? f : (char *)"";
}

void cx_record_decode(char *rec, struct cx_record *r)
{
    char *p = rec;
    memset(r, 0, sizeof(*r));
    r->kind = field(&p);
    r->stage = (int)strtol(field(&p), NULL, 10);
    r->type = field(&p);
    r->touch = field(&p)[0] == '1';
    r->channel = field(&p);
    r->source = field(&p);
    r->campaign = field(&p);
    r->ad = field(&p);
    const char *amount = field(&p);
    const char *cur = field(&p);
    r->payment_key = field(&p);
    r->platform = field(&p);
    r->campaign_id = field(&p);
    r->owner = field(&p);
    if (amount[0] && strlen(cur) == 3) {
        r->has_amount = 1;
        r->amount_minor = strtoll(amount, NULL, 10);
        memcpy(r->currency, cur, 4);
    }
}
