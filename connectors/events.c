/*
 * Custom events API (type "events", POST /v1/events): {"events":[...]} in the canonical
 * form of DESIGN §3. verify and normalize run the same builder, so a batch that verify
 * accepted can never poison the worker, and the 400 names the first bad field exactly.
 */
#include "common.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

static const char *const kinds[] = {"click",     "visit",       "lead",         "form",
                                    "meeting",   "sales_touch", "stage_change", "deal_won",
                                    "deal_lost", "payment",     "refund",       "custom"};

static const char *const identity_types[] = {
    "email",           "phone",           "anon",
    "gclid",           "fbclid",          "meta_lead",
    "google_lead",     "hubspot_contact", "pipedrive_person",
    "stripe_customer", "shopify_customer"};

static const char *const touch_text[] = {"source", "medium", "campaign", "content",
                                         "term",   "ad",     "platform", "channel"};

static int in_list(const char *v, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return 1;
    return 0;
}

#define IN_LIST(v, list) in_list((v), (list), sizeof(list) / sizeof((list)[0]))

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Absent and null are the same "not given"; any other non-string is an error. */
static int opt_str(cJSON *o, const char *key, const char **out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return -1;
    *out = v->valuestring[0] ? v->valuestring : NULL;
    return 0;
}

static cJSON *opt_item(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNull(v) ? NULL : v;
}

/* Serves the canonical touch's names under the utm names cx_event_set_touch asks for. */
static const char *touch_getter(void *ctx, const char *name)
{
    const cJSON *touch = ctx;

    if (strncmp(name, "utm_", 4) == 0)
        return cx_json_str(touch, name + 4);
    return cx_json_str(cx_json_obj(touch, "click_ids"), name);
}

static int known_identity_type(const char *t)
{
    if (strncmp(t, "custom:", 7) == 0)
        return t[7] != '\0';
    return IN_LIST(t, identity_types);
}

static int build_identities(cJSON *arr, size_t idx, const struct cx_source *src,
                            struct cx_event *ev, struct cx_err *err)
{
    cJSON *it;
    size_t j = 0;

    if (!cJSON_IsArray(arr))
        return cx_fail(err, "events[%zu].identities: not an array", idx);
    cJSON_ArrayForEach(it, arr)
    {
        const char *type = cx_json_str(it, "type"), *value = cx_json_str(it, "value");

        if (!type || !value)
            return cx_fail(err, "events[%zu].identities[%zu]: needs string type and value", idx, j);
        if (!known_identity_type(type))
            return cx_fail(err, "events[%zu].identities[%zu].type: unknown", idx, j);
        /* An unusable value (a malformed email) is dropped, as from any provider. */
        if (cx_event_add_identity(ev, src, type, value) < 0)
            return cx_fail(err, "events[%zu].identities: more than %d", idx, CX_MAX_IDENTITIES);
        j++;
    }
    return 0;
}

static int build_touch(cJSON *touch, size_t idx, const struct cx_source *src, struct cx_event *ev,
                       struct cx_err *err)
{
    const char *v;
    cJSON *ids, *it;
    size_t i;

    if (!cJSON_IsObject(touch))
        return cx_fail(err, "events[%zu].touch: not an object", idx);
    for (i = 0; i < sizeof touch_text / sizeof touch_text[0]; i++)
        if (opt_str(touch, touch_text[i], &v) != 0)
            return cx_fail(err, "events[%zu].touch.%s: not a string", idx, touch_text[i]);
    ids = opt_item(touch, "click_ids");
    if (ids) {
        if (!cJSON_IsObject(ids))
            return cx_fail(err, "events[%zu].touch.click_ids: not an object", idx);
        cJSON_ArrayForEach(it, ids)
        {
            if (!cJSON_IsString(it))
                return cx_fail(err, "events[%zu].touch.click_ids: values must be strings", idx);
        }
    }
    ev->has_touch = 1;
    if (opt_str(touch, "ad", &v) == 0 && v && !has_control(v))
        cx_copy_text(ev->touch.ad, sizeof ev->touch.ad, v);
    if (opt_str(touch, "platform", &v) == 0 && v && !has_control(v))
        cx_copy_text(ev->touch.platform, sizeof ev->touch.platform, v);
    /* The channel is always derived (DESIGN §6), never taken from the client, so reports
     * classify every source the same way. */
    cx_event_set_touch(ev, src, touch_getter, touch);
    return 0;
}

static int build_amount(cJSON *amount, size_t idx, struct cx_event *ev, struct cx_err *err)
{
    if (!cJSON_IsObject(amount))
        return cx_fail(err, "events[%zu].amount: not an object", idx);
    if (cx_json_int(amount, "minor", &ev->amount_minor) != 0 || ev->amount_minor < 0)
        return cx_fail(err, "events[%zu].amount.minor: not a non-negative integer below 2^53", idx);
    if (cx_norm_currency(cx_json_str(amount, "currency"), ev->currency) != 0)
        return cx_fail(err, "events[%zu].amount.currency: not an ISO 4217 code", idx);
    ev->has_amount = 1;
    return 0;
}

static int build_event(cJSON *e, size_t idx, const struct cx_source *src, struct cx_event *ev,
                       struct cx_err *err)
{
    const char *id, *kind, *at, *stage, *key;
    cJSON *item;

    if (!cJSON_IsObject(e))
        return cx_fail(err, "events[%zu]: not an object", idx);
    id = cx_json_str(e, "id");
    if (!id)
        return cx_fail(err, "events[%zu].id: missing or not a string", idx);
    if (cx_event_set_id(ev, "events:%s", id) != 0 || has_control(id))
        return cx_fail(err, "events[%zu].id: too long or has control characters", idx);
    kind = cx_json_str(e, "kind");
    if (!kind || !IN_LIST(kind, kinds))
        return cx_fail(err, "events[%zu].kind: missing or unknown", idx);
    cx_copy_text(ev->kind, sizeof ev->kind, kind);
    at = cx_json_str(e, "at");
    if (!at || cx_parse_rfc3339(at, &ev->at_ms) != 0)
        return cx_fail(err, "events[%zu].at: missing or not RFC 3339", idx);
    if ((item = opt_item(e, "identities")) && build_identities(item, idx, src, ev, err) != 0)
        return -1;
    if ((item = opt_item(e, "touch")) && build_touch(item, idx, src, ev, err) != 0)
        return -1;
    if (opt_str(e, "stage", &stage) != 0 || (stage && cx_stage_rank(stage) == 0))
        return cx_fail(err, "events[%zu].stage: not a funnel stage", idx);
    if (stage)
        cx_copy_text(ev->stage, sizeof ev->stage, stage);
    if ((item = opt_item(e, "amount")) && build_amount(item, idx, ev, err) != 0)
        return -1;
    if ((strcmp(kind, "payment") == 0 || strcmp(kind, "refund") == 0) && !ev->has_amount)
        return cx_fail(err, "events[%zu].amount: required for %s", idx, kind);
    if (opt_str(e, "payment_key", &key) != 0 || (key && strlen(key) >= sizeof ev->payment_key))
        return cx_fail(err, "events[%zu].payment_key: not a string or too long", idx);
    /* Revenue counts once per key: without one, the event is its own payment. */
    if (key)
        cx_copy_text(ev->payment_key, sizeof ev->payment_key, key);
    else if (ev->has_amount)
        cx_copy_text(ev->payment_key, sizeof ev->payment_key, ev->id);
    if ((item = opt_item(e, "attributes"))) {
        char *s;
        size_t len;
        if (!cJSON_IsObject(item))
            return cx_fail(err, "events[%zu].attributes: not an object", idx);
        s = cJSON_PrintUnformatted(item);
        if (!s)
            return cx_fail(err, "events[%zu]: out of memory", idx);
        len = strlen(s);
        if (len < sizeof ev->attrs)
            memcpy(ev->attrs, s, len + 1);
        cJSON_free(s);
        if (len >= sizeof ev->attrs)
            return cx_fail(err, "events[%zu].attributes: over %d bytes", idx, CX_ATTRS_MAX - 1);
    }
    return 0;
}

/* Parses and checks the whole batch; with `out`, also appends the events. */
static int build_batch(const struct cx_source *src, const unsigned char *body, size_t len,
                       const struct cx_raw *raw, struct cx_event_list *out, struct cx_err *err)
{
    struct cx_event scratch;
    cJSON *root, *arr, *e;
    size_t idx = 0;
    int count, rc = -1;

    root = cx_json_parse(body, len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "body is not a JSON object");
        goto out;
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "events");
    count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (count < 1 || count > CX_MAX_EVENTS) {
        cx_fail(err, "events: expected an array of 1 to %d events", CX_MAX_EVENTS);
        goto out;
    }
    cJSON_ArrayForEach(e, arr)
    {
        struct cx_event *ev;

        if (out) {
            ev = cx_list_add(out, src, raw);
            if (!ev) {
                cx_fail(err, "events[%zu]: out of memory", idx);
                goto out;
            }
        } else {
            memset(&scratch, 0, sizeof scratch);
            ev = &scratch;
        }
        if (build_event(e, idx, src, ev, err) != 0)
            goto out;
        idx++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static enum cx_verdict events_verify(const struct cx_source *src, const struct cx_input *in,
                                     struct cx_reply *reply, struct cx_err *err)
{
    (void)reply;
    if (!src->authenticated_by_door &&
        !cx_bearer_matches(in->headers, in->nheaders, src->secrets,
                           src->nsecrets < CX_MAX_SECRETS ? src->nsecrets : CX_MAX_SECRETS)) {
        cx_fail(err, "missing or wrong bearer token");
        return CX_BAD_SIGNATURE;
    }
    if (build_batch(src, in->body, in->body_len, NULL, NULL, err) != 0)
        return CX_BAD_REQUEST;
    return CX_OK;
}

static enum cx_result events_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                       const struct cx_fetched *fetched, struct cx_event_list *out,
                                       struct cx_fetch_list *need, struct cx_err *err)
{
    (void)fetched; /* never enriched: the webhook carries everything */
    (void)need;
    size_t n0 = out->n;

    if (build_batch(src, raw->body, raw->body_len, raw, out, err) != 0) {
        out->n = n0;
        return CX_NORM_POISON;
    }
    return CX_NORM_OK;
}

const struct cx_connector cx_events = {
    .type = "events",
    /* the bearer token(s); none would refuse every request */
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = events_verify,
    .normalize = events_normalize,
};
