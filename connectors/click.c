/*
 * Click tracker (type "click"): both ends of the click's raw record. At the door, the
 * daemon's GET /c handler checks the destination against the allow-list and mints the
 * random ids, then asks this file for the rest: whether the query may be recorded
 * (verify), the anonymous id already in the browser's cookie, the record it enqueues
 * ({"id","aid","at_ms","query","to"}) and the redirect location. In the worker,
 * normalize turns that record into a canonical click. /c is an open door (DESIGN §2b):
 * verify accepts only what normalize reads back whole, so a click never dead-letters and
 * its record stays small. The site script's page views (POST /v1/collect) are the same
 * record with "kind":"page_view": cx_collect_record is their door, normalize reads both.
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

/* The check of a tracked query (GET /c's, or the landing page's that POST /v1/collect
 * reports): at most CLICK_QUERY_MAX bytes, well-formed escapes, the raw text and every
 * decoded name and value UTF-8 without control characters, and each value no longer than
 * normalize keeps. An empty query passes only when may_be_empty. */
static int query_ok(const char *query, size_t len, int may_be_empty, struct cx_err *err)
{
    struct cx_form q;
    int ok = 0;

    memset(&q, 0, sizeof q);
    if (len == 0) {
        if (!may_be_empty)
            cx_fail(err, "click: no query");
        return may_be_empty;
    }
    if (len > CLICK_QUERY_MAX) {
        cx_fail(err, "click: query longer than %d bytes", CLICK_QUERY_MAX);
        return 0;
    }
    if (!cx_text_usable(query, len) || cx_form_parse(&q, query, len) != 0) {
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
    ok = 1;
out:
    cx_form_free(&q);
    return ok;
}

/* The door's check of GET /c's query (in->query), by query_ok. A query that fails is not
 * recorded (the browser is still redirected): its record would either dead-letter or lose
 * part of the click silently. */
static enum cx_verdict click_verify(const struct cx_source *src, const struct cx_input *in,
                                    struct cx_reply *reply, struct cx_err *err)
{
    size_t len = in->query ? strnlen(in->query, CLICK_QUERY_MAX + 1) : 0;

    (void)src;
    (void)reply;
    if (!in->query) {
        cx_fail(err, "click: no query");
        return CX_BAD_REQUEST;
    }
    return query_ok(in->query, len, 0, err) ? CX_OK : CX_BAD_REQUEST;
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

/* An absolute http(s) URL of printable UTF-8, shorter than CLICK_TO_MAX (what the journey
 * keeps whole). */
static int page_url_ok(const char *url)
{
    size_t len = strnlen(url, CLICK_TO_MAX);

    return len < CLICK_TO_MAX && cx_text_usable(url, len) &&
           (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0);
}

enum cx_verdict cx_collect_record(const unsigned char *body, size_t len, const char *view_id,
                                  const char *cookie_aid, int64_t at_ms, char **record,
                                  struct cx_err *err)
{
    enum cx_verdict v = CX_BAD_REQUEST;
    cJSON *root = NULL, *out = NULL;
    const char *aid, *url, *ref;
    char query[CLICK_QUERY_MAX + 1];
    size_t qlen = 0;

    *record = NULL;
    if (len > CX_COLLECT_BODY_MAX) {
        cx_fail(err, "collect: body longer than %d bytes", CX_COLLECT_BODY_MAX);
        return CX_BAD_REQUEST;
    }
    /* A page view is one flat object: anything deep is not one. */
    root = cx_json_parse(body, len, 4);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "collect: body is not a JSON object");
        goto out;
    }
    aid = cx_json_str(root, "aid");
    url = cx_json_str(root, "url");
    ref = cx_json_str(root, "referrer");
    if (!aid || !is_anon_id(aid, strlen(aid))) {
        cx_fail(err, "collect: aid must be \"a_\" and 32 lowercase hex digits");
        goto out;
    }
    if (!url || !page_url_ok(url)) {
        cx_fail(err, "collect: url must be an absolute http(s) URL under %d bytes", CLICK_TO_MAX);
        goto out;
    }
    if (ref && !page_url_ok(ref)) {
        cx_fail(err, "collect: referrer must be an absolute http(s) URL under %d bytes",
                CLICK_TO_MAX);
        goto out;
    }
    /* The landing page's query (before any #fragment) carries the utm values and click
     * ids: held to the same rules as a tracked link's. */
    const char *q = strchr(url, '?');
    if (q) {
        q++;
        qlen = strcspn(q, "#");
        if (qlen > CLICK_QUERY_MAX) {
            cx_fail(err, "click: query longer than %d bytes", CLICK_QUERY_MAX);
            goto out;
        }
        memcpy(query, q, qlen);
    }
    query[qlen] = '\0';
    if (!query_ok(query, qlen, 1, err))
        goto out;
    out = cJSON_CreateObject();
    if (!out || !cJSON_AddStringToObject(out, "kind", "page_view") ||
        !cJSON_AddStringToObject(out, "id", view_id) || !cJSON_AddStringToObject(out, "aid", aid) ||
        (cookie_aid && cookie_aid[0] && strcmp(cookie_aid, aid) != 0 &&
         !cJSON_AddStringToObject(out, "aid2", cookie_aid)) ||
        !cJSON_AddNumberToObject(out, "at_ms", (double)at_ms) ||
        !cJSON_AddStringToObject(out, "query", query) || !cJSON_AddStringToObject(out, "to", url) ||
        (ref && !cJSON_AddStringToObject(out, "referrer", ref))) {
        cx_fail(err, "collect: out of memory");
        goto out;
    }
    *record = cJSON_PrintUnformatted(out);
    if (!*record)
        cx_fail(err, "collect: out of memory");
    else
        v = CX_OK;
out:
    cJSON_Delete(out);
    cJSON_Delete(root);
    return v;
}

/* The journey view's attributes: the destination (a click) or the page (a page view), and
 * the page's referrer. Each is under CLICK_TO_MAX, so both fit in CX_ATTRS_MAX. */
static void set_attrs(struct cx_event *ev, const char *to, const char *referrer)
{
    char buf[CLICK_TO_MAX];
    cJSON *o;

    if (!to && !referrer)
        return;
    o = cJSON_CreateObject();
    if (!o)
        return;
    cx_copy_text(buf, sizeof buf, to ? to : "");
    if (to && !cJSON_AddStringToObject(o, "to", buf))
        goto out;
    cx_copy_text(buf, sizeof buf, referrer ? referrer : "");
    if (referrer && !cJSON_AddStringToObject(o, "referrer", buf))
        goto out;
    /* Attributes that do not fit, or no memory to print them: the event goes without. */
    (void)cx_event_put_attrs(ev, o);
out:
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
    const char *id, *aid, *query, *kind;
    int64_t at_ms;
    int is_view;
    size_t n0 = out->n;

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
    kind = cx_json_str(root, "kind");
    is_view = kind && strcmp(kind, "page_view") == 0;
    if (cx_event_set_id(ev, "%s:%s", is_view ? "view" : "click", id) != 0) {
        cx_fail(err, "click: id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, is_view ? "visit" : "click");
    if (cx_json_int(root, "at_ms", &at_ms) == 0 && at_ms >= 0 && at_ms <= CLICK_MAX_MS)
        ev->at_ms = at_ms;
    else
        ev->at_ms = raw->received_ms;
    aid = cx_json_str(root, "aid");
    if (aid)
        (void)cx_event_add_identity(ev, src, "anon", aid);
    /* A page view also names the click tracker's cookie when the browser had another id:
     * the two are one visitor. */
    aid = cx_json_str(root, "aid2");
    if (aid)
        (void)cx_event_add_identity(ev, src, "anon", aid);
    /* Every tracked click is a touch; without utm or click ids its channel is direct. A
     * page view is one only when its page was landed on with utm values or click ids. */
    ev->has_touch = !is_view;
    query = cx_json_str(root, "query");
    /* A malformed query loses its utm, never the click. */
    if (query && cx_form_parse(&q, query, strlen(query)) == 0)
        cx_event_set_touch(ev, src, cx_form_getter, &q);
    else if (!is_view)
        cx_event_set_channel(ev, src);
    set_attrs(ev, cx_json_str(root, "to"), cx_json_str(root, "referrer"));
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
