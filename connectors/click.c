/*
 * Click tracker (type "click"). The daemon's GET /c handler has already checked the
 * destination against the allow-list, minted the click id and anonymous id and stored
 * {"id","aid","at_ms","query","to"} as the raw record; this connector only turns that
 * record into a canonical click.
 */
#include "common.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

/* Latest at_ms accepted: 9999-12-31T23:59:59.999Z. */
#define CLICK_MAX_MS 253402300799999LL
/* Destinations are kept for the journey view; past this they are cut. */
#define CLICK_TO_MAX 2048

static enum cx_verdict click_verify(const struct cx_source *src, const struct cx_input *in,
                                    struct cx_reply *reply, struct cx_err *err)
{
    /* Records are produced by our own handler, never posted by a provider. */
    (void)src;
    (void)in;
    (void)reply;
    (void)err;
    return CX_OK;
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
