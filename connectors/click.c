/*
 * Click tracker (type "click"): both ends of the click's raw record. At the door, the
 * daemon's GET /c handler checks the destination against the allow-list and mints the
 * random ids, then asks this file for the rest: whether the query may be recorded
 * (verify), the anonymous id already in the browser's cookie, the record it enqueues
 * ({"id","aid","at_ms","query","to"}) and the redirect location. In the worker,
 * normalize turns that record into a canonical click. /c is an open door (DESIGN §2b):
 * verify accepts only what normalize reads back whole, so a click never dead-letters and
 * its record stays small.
 */
#include "common.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

/* Latest at_ms accepted: 9999-12-31T23:59:59.999Z. */
#define CLICK_MAX_MS 253402300799999LL
/* Destinations are kept for the journey view; past this they are cut. */
#define CLICK_TO_MAX 2048

/* A tracked link's query (utm values, click ids, the destination) fits in this many times
 * over; a longer one is padding, and the record is never bigger than it needs to be. */
#define CLICK_QUERY_MAX 4096

/* Longest value a parameter may have: what normalize keeps of it whole. utm values fill
 * the touch's text fields; the destination is kept for the journey view; every other
 * parameter is a click id (an identity) or means nothing to us, and none needs more. */
static size_t value_cap(const char *name)
{
    if (strncmp(name, "utm_", 4) == 0)
        return CX_TEXT_MAX;
    if (strcmp(name, "to") == 0)
        return CLICK_TO_MAX;
    return CX_IDENT_VALUE_MAX;
}

/* The door's check of GET /c's query (in->query): at most CLICK_QUERY_MAX bytes, well-formed
 * escapes, the raw text and every decoded name and value UTF-8 without control characters,
 * and each value no longer than normalize keeps. A query that fails is not recorded (the
 * browser is still redirected): its record would either dead-letter or lose part of the
 * click silently. */
static enum cx_verdict click_verify(const struct cx_source *src, const struct cx_input *in,
                                    struct cx_reply *reply, struct cx_err *err)
{
    enum cx_verdict v = CX_BAD_REQUEST;
    struct cx_form q;
    size_t len;

    (void)src;
    (void)reply;
    memset(&q, 0, sizeof q);
    len = in->query ? strnlen(in->query, CLICK_QUERY_MAX + 1) : 0;
    if (!in->query || len == 0) {
        cx_fail(err, "click: no query");
        goto out;
    }
    if (len > CLICK_QUERY_MAX) {
        cx_fail(err, "click: query longer than %d bytes", CLICK_QUERY_MAX);
        goto out;
    }
    if (!cx_text_usable(in->query, len) || cx_form_parse(&q, in->query, len) != 0) {
        cx_fail(err, "click: malformed query");
        goto out;
    }
    for (size_t i = 0; i < q.n; i++) {
        size_t nl = strlen(q.names[i]), vl = strlen(q.values[i]);
        if (!cx_text_usable(q.names[i], nl) || !cx_text_usable(q.values[i], vl)) {
            cx_fail(err, "click: a parameter is not printable UTF-8");
            goto out;
        }
        if (vl >= value_cap(q.names[i])) {
            cx_fail(err, "click: a parameter's value is too long");
            goto out;
        }
    }
    v = CX_OK;
out:
    cx_form_free(&q);
    return v;
}

/* The click tracker's anonymous id: "a_" + 32 lowercase hex digits. */
static int is_anon_id(const char *s, size_t len)
{
    if (len != 34 || s[0] != 'a' || s[1] != '_')
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int cx_click_cookie_aid(const char *cookie, char out[CX_CLICK_AID_SIZE])
{
    out[0] = '\0';
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 7 && strncmp(p, "jd_aid=", 7) == 0 && is_anon_id(p + 7, len - 7)) {
            memcpy(out, p + 7, len - 7);
            out[len - 7] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

char *cx_click_record(const char *click_id, const char *aid, const char *query, const char *to,
                      int64_t at_ms)
{
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;

    if (body && cJSON_AddStringToObject(body, "id", click_id) &&
        cJSON_AddStringToObject(body, "aid", aid) &&
        cJSON_AddNumberToObject(body, "at_ms", (double)at_ms) &&
        cJSON_AddStringToObject(body, "query", query) && cJSON_AddStringToObject(body, "to", to))
        text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return text;
}

int cx_click_location(const char *to, const char *aid, char *out, size_t cap)
{
    /* The id goes before any #fragment, after any existing query. */
    const char *hash = strchr(to, '#');
    size_t base_len = hash ? (size_t)(hash - to) : strlen(to);
    const char *qmark = memchr(to, '?', base_len);
    int n = snprintf(out, cap, "%.*s%cjd_aid=%s%s", (int)base_len, to, qmark ? '&' : '?', aid,
                     hash ? hash : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void set_to_attr(struct cx_event *ev, const char *to)
{
    char buf[CLICK_TO_MAX];
    cJSON *o;
    char *s;

    if (!to)
        return;
    o = cJSON_CreateObject();
    if (!o)
        return;
    cx_copy_text(buf, sizeof buf, to);
    if (cJSON_AddStringToObject(o, "to", buf)) {
        s = cJSON_PrintUnformatted(o);
        if (s) {
            if (strlen(s) < sizeof ev->attrs)
                memcpy(ev->attrs, s, strlen(s) + 1);
            cJSON_free(s);
        }
    }
    cJSON_Delete(o);
}

static enum cx_result click_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                      const struct cx_fetched *fetched, struct cx_event_list *out,
                                      struct cx_fetch_list *need, struct cx_err *err)
{
    (void)fetched; /* never enriched: the webhook carries everything */
    (void)need;
    enum cx_result rc = CX_NORM_POISON;
    struct cx_event *ev;
    struct cx_form q;
    cJSON *root;
    const char *id, *aid, *query;
    int64_t at_ms;
    size_t n0 = out->n;
    int n;

    memset(&q, 0, sizeof q);
    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    id = cx_json_str(root, "id");
    if (!id) {
        cx_fail(err, "click: record without id");
        goto out;
    }
    ev = cx_list_add(out, src, raw);
    if (!ev) {
        cx_fail(err, "click: out of memory");
        goto out;
    }
    n = snprintf(ev->id, sizeof ev->id, "click:%s", id);
    if (n < 0 || (size_t)n >= sizeof ev->id) {
        cx_fail(err, "click: id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, "click");
    if (cx_json_int(root, "at_ms", &at_ms) == 0 && at_ms >= 0 && at_ms <= CLICK_MAX_MS)
        ev->at_ms = at_ms;
    else
        ev->at_ms = raw->received_ms;
    aid = cx_json_str(root, "aid");
    if (aid)
        (void)cx_event_add_identity(ev, src, "anon", aid);
    /* Every tracked click is a touch; without utm or click ids its channel is direct. */
    ev->has_touch = 1;
    query = cx_json_str(root, "query");
    /* A malformed query loses its utm, never the click. */
    if (query && cx_form_parse(&q, query, strlen(query)) == 0)
        cx_event_set_touch(ev, src, cx_form_getter, &q);
    else
        cx_event_set_channel(ev, src);
    set_to_attr(ev, cx_json_str(root, "to"));
    rc = CX_NORM_OK;
out:
    if (rc != CX_NORM_OK)
        out->n = n0;
    cx_form_free(&q);
    cJSON_Delete(root);
    return rc;
}

const struct cx_connector cx_click = {
    .type = "click",
    .keep_headers = NULL,
    .verify = click_verify,
    .normalize = click_normalize,
};
