/*
 * Google Ads lead forms (type "google_ads"): leads from lead form assets, delivered by
 * the form's webhook integration.
 *
 * Rules follow developers.google.com/google-ads/webhook/docs/implementation
 * (shared/providers.md): the body is one JSON WebhookLead {lead_id, user_column_data
 * [{column_id, column_name?, string_value}], api_version, form_id, campaign_id,
 * google_key, is_test, gcl_id, adgroup_id, creative_id, asset_group_id, lead_stage,
 * lead_submit_time}; int64 ids must stay exact; unknown fields are to be ignored;
 * lead_id is the dedup key. Authenticity is only the google_key the advertiser set on
 * the form, carried inside the body, so this is the one connector that parses before it
 * authenticates (the daemon has already capped the body size). "Send test data" posts
 * the real key with is_test true.
 */
#include "common.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

static enum cx_verdict google_verify(const struct cx_source *src, const struct cx_input *in,
                                     struct cx_reply *reply, struct cx_err *err)
{
    const cJSON *key;
    cJSON *root;
    size_t i, klen;
    int match = 0;
    enum cx_verdict v;

    (void)reply;
    if (in->method && strcmp(in->method, "GET") == 0) {
        cx_fail(err, "Google Ads lead webhooks are POSTed");
        return CX_BAD_REQUEST;
    }
    root = cx_json_parse(in->body, in->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        cx_fail(err, "body is not a JSON object");
        return CX_BAD_REQUEST;
    }
    key = cJSON_GetObjectItemCaseSensitive(root, "google_key");
    if (!cJSON_IsString(key) || !key->valuestring || !key->valuestring[0]) {
        cJSON_Delete(root);
        cx_fail(err, "missing google_key");
        return CX_BAD_SIGNATURE;
    }
    klen = strlen(key->valuestring);
    /* Every configured key is compared, each in time independent of the contents. */
    for (i = 0; i < src->nsecrets && i < CX_MAX_SECRETS; i++)
        match |= cx_secret_equal(key->valuestring, klen, src->secrets[i]);
    if (!match) {
        v = CX_BAD_SIGNATURE;
        cx_fail(err, "google_key does not match");
    } else if (!cx_json_str(root, "lead_id")) {
        v = CX_BAD_REQUEST;
        cx_fail(err, "body is not a Google Ads lead (no lead_id)");
    } else {
        v = CX_OK;
    }
    cJSON_Delete(root);
    return v;
}

/* ---- normalize ---- */

struct gclid_ctx {
    const char *gclid;
};

/* Answers the touch builder's question for the only click id this webhook carries. */
static const char *gclid_getter(void *ctx, const char *name)
{
    const struct gclid_ctx *g = ctx;

    return strcmp(name, "gclid") == 0 ? g->gclid : NULL;
}

/* Standard column ids (the implementation page's column list) that name a contact
 * detail; everything else is a lead attribute. */
static const char *identity_for(const char *column_id)
{
    if (strcmp(column_id, "EMAIL") == 0 || strcmp(column_id, "WORK_EMAIL") == 0)
        return "email";
    if (strcmp(column_id, "PHONE_NUMBER") == 0 || strcmp(column_id, "WORK_PHONE") == 0)
        return "phone";
    return NULL;
}

/* Attribute key of a column: its id in lower case ("FULL_NAME" → "full_name", the same
 * keys Meta's leads use), else the human column name. */
static void column_key(const char *column_id, const char *column_name, char *out, size_t cap)
{
    size_t i;

    if (!column_id) {
        cx_copy_text(out, cap, column_name);
        return;
    }
    cx_copy_text(out, cap, column_id);
    for (i = 0; out[i]; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
}

static int add_columns(struct cx_event *ev, const struct cx_source *src, struct cx_attrs *attrs,
                       const cJSON *columns)
{
    const cJSON *it;
    char key[CX_TEXT_MAX];

    cJSON_ArrayForEach(it, columns)
    {
        const char *id = cx_json_str(it, "column_id");
        const char *name = cx_json_str(it, "column_name");
        const char *value = cx_json_str(it, "string_value");
        const char *type;

        if (!value || (!id && !name))
            continue;
        type = id ? identity_for(id) : NULL;
        if (type) {
            (void)cx_event_add_identity(ev, src, type, value);
            continue;
        }
        column_key(id, name, key, sizeof key);
        if (cx_attrs_put(attrs, key, value) < 0)
            return -1;
    }
    return 0;
}

static enum cx_result google_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                       const struct cx_fetched *fetched, struct cx_event_list *out,
                                       struct cx_fetch_list *need, struct cx_err *err)
{
    (void)fetched; /* never enriched: the webhook carries the lead's answers */
    (void)need;
    enum cx_result rc = CX_NORM_POISON;
    struct cx_attrs attrs;
    struct gclid_ctx gclid;
    struct cx_event *ev;
    char id[CX_TEXT_MAX];
    const char *lead_id, *s;
    cJSON *root;
    size_t n0 = out->n;
    int64_t at;

    memset(&attrs, 0, sizeof attrs);
    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "google_ads: body is not a JSON object");
        goto out;
    }
    lead_id = cx_json_str(root, "lead_id");
    if (!lead_id) {
        cx_fail(err, "google_ads: lead without lead_id");
        goto out;
    }
    if (cx_attrs_init(&attrs) != 0 || !(ev = cx_list_add(out, src, raw))) {
        cx_fail(err, "google_ads: out of memory");
        goto out;
    }
    if (cx_event_set_id(ev, "google_ads:%s", lead_id) != 0) {
        cx_fail(err, "google_ads: lead_id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, "lead");
    /* lead_submit_time ("ISO-8601 format. Ex- 2024-09-26T12:30:00Z") is newer than the
     * rest of the schema; older deliveries have no time of their own, and Google
     * delivers at submission, so the arrival time stands in. */
    s = cx_json_str(root, "lead_submit_time");
    ev->at_ms = s && cx_parse_iso8601(s, &at) == 0 ? at : raw->received_ms;
    if (cx_event_add_identity(ev, src, "google_lead", lead_id) != 0) {
        cx_fail(err, "google_ads: lead_id is not a usable identity");
        goto out;
    }

    ev->has_touch = 1;
    gclid.gclid = cx_json_str(root, "gcl_id");
    if (gclid.gclid)
        cx_event_set_touch(ev, src, gclid_getter, &gclid);
    cx_copy_text(ev->touch.platform, sizeof ev->touch.platform, "google");
    cx_copy_text(ev->touch.source, sizeof ev->touch.source, "google");
    cx_copy_text(ev->touch.medium, sizeof ev->touch.medium, "cpc");
    /* The id stays in its own field: the lead's clicks carry the campaign's name
     * (utm_campaign), and reports put both under the name known for the id.
     * campaign_name is not in the documented schema; taken if Google ever adds it. */
    cx_touch_set_campaign(ev, src, cx_json_id(root, "campaign_id", id, sizeof id) == 0 ? id : NULL,
                          cx_json_str(root, "campaign_name"));
    if (cx_json_id(root, "creative_id", id, sizeof id) == 0)
        cx_copy_text(ev->touch.ad, sizeof ev->touch.ad, id);
    cx_event_set_channel(ev, src);

    /* A test lead is still processed (it proves the pipeline end to end) but marked. */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "is_test")) &&
        cx_attrs_put(&attrs, "is_test", "true") < 0)
        goto oom;
    if (cx_json_id(root, "form_id", id, sizeof id) == 0 && cx_attrs_put(&attrs, "form_id", id) < 0)
        goto oom;
    if (cx_json_id(root, "adgroup_id", id, sizeof id) == 0 &&
        cx_attrs_put(&attrs, "adgroup_id", id) < 0)
        goto oom;
    if (cx_json_id(root, "asset_group_id", id, sizeof id) == 0 &&
        cx_attrs_put(&attrs, "asset_group_id", id) < 0)
        goto oom;
    if ((s = cx_json_str(root, "lead_stage")) && cx_attrs_put(&attrs, "lead_stage", s) < 0)
        goto oom;
    if (add_columns(ev, src, &attrs, cx_json_arr(root, "user_column_data")) != 0 ||
        cx_attrs_store(&attrs, ev) != 0)
        goto oom;
    rc = CX_NORM_OK;
    goto out;
oom:
    cx_fail(err, "google_ads: out of memory");
out:
    return cx_norm_end(rc, out, n0, &attrs, root);
}

const struct cx_connector cx_google_ads = {
    .type = "google_ads",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = google_verify,
    .normalize = google_normalize,
};
