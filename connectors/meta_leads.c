/*
 * Meta Lead Ads (type "meta_leads"): Facebook/Instagram lead form leads.
 *
 * Rules follow Meta's Graph API Webhooks "Getting Started" page and the Lead Ads
 * webhooks and retrieval guides (shared/providers.md), and the signature recipe of
 * Meta's WhatsApp Node.js SDK (src/utils.ts generateXHub256Sig):
 * - GET hub.mode=subscribe & hub.verify_token=<ours> & hub.challenge=<n> is the
 *   subscription handshake: the answer is the challenge itself as the whole body.
 * - POST carries X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>;
 *   nothing time-stamped is signed, so there is no replay window to check.
 * - The body is {"object":"page","entry":[{"changes":[{"field":"leadgen","value":
 *   {"leadgen_id",...}}]}]}, several leads per request, ids possibly beyond 2^53.
 * - The webhook holds no personal data: the lead's fields come from
 *   GET /<leadgen_id>?fields=... on the Graph API, which normalize asks the daemon to do.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define META_GRAPH_HOST "https://graph.facebook.com/"
#define META_FIELDS                                                                                \
    "id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,"         \
    "field_data,is_organic,platform"
/* Meta sends a decimal integer; anything longer or not plain visible ASCII is not a
 * challenge we echo into a response body. */
#define META_CHALLENGE_MAX 256
/* Graph object ids are decimal integers well below 32 digits. */
#define META_ID_MAX 32
/* 9999-12-31T23:59:59Z: the end of RFC 3339 time. */
#define META_MAX_TIME_S 253402300799LL

/* ---- verify ---- */

static enum cx_verdict meta_handshake(const struct cx_source *src, const struct cx_input *in,
                                      struct cx_reply *reply, struct cx_err *err)
{
    struct cx_form q;
    const char *mode, *token, *challenge;
    enum cx_verdict v = CX_BAD_REQUEST;
    size_t len, i;

    memset(&q, 0, sizeof q);
    /* Parameter names contain dots ("hub.mode"), which is why the raw query is parsed
     * here rather than by a framework that would read them as nesting. */
    if (!in->query || cx_form_parse(&q, in->query, strlen(in->query)) != 0) {
        cx_form_free(&q);
        cx_fail(err, "handshake: missing or malformed query string");
        return CX_BAD_REQUEST;
    }
    mode = cx_form_get(&q, "hub.mode");
    token = cx_form_get(&q, "hub.verify_token");
    challenge = cx_form_get(&q, "hub.challenge");
    if (!mode || strcmp(mode, "subscribe") != 0 || !token ||
        !cx_secret_equal(token, strlen(token), src->verify_token)) {
        cx_fail(err, "handshake: hub.mode or hub.verify_token does not match");
        v = CX_BAD_SIGNATURE;
        goto out;
    }
    len = challenge ? strlen(challenge) : 0;
    if (len == 0 || len > META_CHALLENGE_MAX || len >= sizeof reply->body) {
        cx_fail(err, "handshake: missing or oversized hub.challenge");
        goto out;
    }
    for (i = 0; i < len; i++) {
        if (challenge[i] < 0x21 || challenge[i] > 0x7e) {
            cx_fail(err, "handshake: hub.challenge is not printable text");
            goto out;
        }
    }
    reply->status = 200;
    cx_copy_text(reply->content_type, sizeof reply->content_type, "text/plain");
    memcpy(reply->body, challenge, len + 1);
    v = CX_HANDSHAKE;
out:
    cx_form_free(&q);
    return v;
}

static enum cx_verdict meta_verify(const struct cx_source *src, const struct cx_input *in,
                                   struct cx_reply *reply, struct cx_err *err)
{
    const char *object;
    cJSON *root;
    enum cx_verdict v;

    if (in->method && strcmp(in->method, "GET") == 0)
        return meta_handshake(src, in, reply, err);
    v = cx_verify_body_mac(src, in, "X-Hub-Signature-256", "sha256=", CX_MAC_HEX, err);
    if (v != CX_OK)
        return v;
    root = cx_json_parse(in->body, in->body_len, CX_JSON_MAX_DEPTH);
    object = cx_json_str(root, "object");
    if (object && strcmp(object, "page") == 0 && cx_json_arr(root, "entry")) {
        v = CX_OK;
    } else {
        cx_fail(err, "body is not a Meta page webhook (object \"page\" with an entry array)");
        v = CX_BAD_REQUEST;
    }
    cJSON_Delete(root);
    return v;
}

/* ---- normalize ---- */

/* Unix seconds as Meta sends them (a JSON number) → ms; -1 when absent or absurd. */
static int64_t unix_s_ms(const cJSON *o, const char *key)
{
    int64_t t;

    if (cx_json_int(o, key, &t) != 0 || t <= 0 || t > META_MAX_TIME_S)
        return -1;
    return t * 1000;
}

/* A field_data entry's values[] as one text: checkbox questions give several. */
static void join_values(const cJSON *values, char *out, size_t cap)
{
    const cJSON *it;
    size_t used = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(it, values)
    {
        size_t n;

        if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0])
            continue;
        if (used > 0) {
            if (used + 2 >= cap)
                break;
            memcpy(out + used, ", ", 3);
            used += 2;
        }
        cx_copy_text(out + used, cap - used, it->valuestring);
        n = strlen(out + used);
        used += n;
        if (used + 1 >= cap)
            break;
    }
}

/* field_data names Meta uses for contact details in its standard questions. */
static const char *identity_for(const char *field)
{
    if (strcmp(field, "email") == 0 || strcmp(field, "work_email") == 0)
        return "email";
    if (strcmp(field, "phone_number") == 0 || strcmp(field, "work_phone_number") == 0)
        return "phone";
    return NULL;
}

/* Fills one lead event from the webhook's change value and, when the look-up ran, the
 * Graph API's lead object. Returns 0, or -1 with err set. */
static int fill_lead(struct cx_event *ev, const struct cx_source *src, const struct cx_raw *raw,
                     const char *lead_id, const cJSON *value, const cJSON *entry,
                     const cJSON *graph, struct cx_err *err)
{
    struct cx_attrs attrs;
    char ad_id[CX_TEXT_MAX], form_id[CX_TEXT_MAX], page_id[CX_TEXT_MAX], tmp[CX_TEXT_MAX];
    const char *s;
    const cJSON *fields, *it;
    int64_t at;
    int rc = -1;

    if (cx_attrs_init(&attrs) != 0) {
        cx_attrs_free(&attrs);
        return cx_fail(err, "meta_leads: out of memory");
    }
    if (cx_event_set_id(ev, "meta_leads:%s", lead_id) != 0) {
        cx_fail(err, "meta_leads: lead id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, "lead");
    /* created_time of the webhook is when the person submitted the form; the look-up's
     * own created_time says the same in ISO form; the entry time is when Meta batched. */
    at = unix_s_ms(value, "created_time");
    if (at < 0 && graph && cx_parse_iso8601(cx_json_str(graph, "created_time"), &at) != 0)
        at = -1;
    if (at < 0)
        at = unix_s_ms(entry, "time");
    ev->at_ms = at >= 0 ? at : raw->received_ms;
    (void)cx_event_add_identity(ev, src, "meta_lead", lead_id);

    /* No fbclid exists for a lead ad: attribution is by ad and campaign. */
    ev->has_touch = 1;
    cx_copy_text(ev->touch.platform, sizeof ev->touch.platform, "meta");
    cx_copy_text(ev->touch.source, sizeof ev->touch.source, "facebook");
    cx_copy_text(ev->touch.medium, sizeof ev->touch.medium, "paid_social");
    if (cx_json_id(value, "ad_id", ad_id, sizeof ad_id) != 0)
        ad_id[0] = '\0';
    if (cx_json_id(value, "form_id", form_id, sizeof form_id) != 0)
        form_id[0] = '\0';
    if (cx_json_id(value, "page_id", page_id, sizeof page_id) != 0)
        page_id[0] = '\0';
    if ((s = cx_json_str(graph, "ad_name")))
        cx_copy_text(ev->touch.ad, sizeof ev->touch.ad, s);
    else if (ad_id[0])
        cx_copy_text(ev->touch.ad, sizeof ev->touch.ad, ad_id);
    else if (cx_json_id(graph, "ad_id", tmp, sizeof tmp) == 0)
        cx_copy_text(ev->touch.ad, sizeof ev->touch.ad, tmp);
    /* DESIGN §3: the campaign's name when a look-up gives it, else its id; the id also in
     * its own field (a look-up that answers both teaches reports the id's name). */
    cx_touch_set_campaign(ev, src,
                          cx_json_id(graph, "campaign_id", tmp, sizeof tmp) == 0 ? tmp : NULL,
                          cx_json_str(graph, "campaign_name"));
    cx_event_set_channel(ev, src);

    if (!form_id[0] && cx_json_id(graph, "form_id", form_id, sizeof form_id) != 0)
        form_id[0] = '\0';
    if (cx_attrs_put(&attrs, "form_id", form_id) < 0 ||
        cx_attrs_put(&attrs, "page_id", page_id) < 0)
        goto oom;
    s = cx_json_str(graph, "adset_name");
    if (!s && cx_json_id(graph, "adset_id", tmp, sizeof tmp) == 0)
        s = tmp;
    if (s && cx_attrs_put(&attrs, "adset", s) < 0)
        goto oom;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(graph, "is_organic")) &&
        cx_attrs_put(&attrs, "is_organic", "true") < 0)
        goto oom;
    if ((s = cx_json_str(graph, "platform")) && cx_attrs_put(&attrs, "platform", s) < 0)
        goto oom;
    fields = cx_json_arr(graph, "field_data");
    cJSON_ArrayForEach(it, fields)
    {
        const char *name = cx_json_str(it, "name");
        const char *type;

        if (!name)
            continue;
        join_values(cx_json_arr(it, "values"), tmp, sizeof tmp);
        if (!tmp[0])
            continue;
        type = identity_for(name);
        if (type) {
            (void)cx_event_add_identity(ev, src, type, tmp);
            continue;
        }
        /* full_name, first_name, last_name and the advertiser's own questions. */
        if (cx_attrs_put(&attrs, name, tmp) < 0)
            goto oom;
    }
    if (cx_attrs_store(&attrs, ev) != 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    cx_fail(err, "meta_leads: out of memory");
out:
    cx_attrs_free(&attrs);
    return rc;
}

/* One lead of the webhook: where it sits in the tree and its id. */
struct meta_lead {
    const cJSON *value, *entry;
    char id[META_ID_MAX + 1];
};

/* Lists the leadgen changes in delivery order. Returns the count, or -1 with err set. */
static long collect_leads(const cJSON *root, struct meta_lead **leads, struct cx_err *err)
{
    const cJSON *entry, *change;
    size_t n = 0, cap = 0;
    struct meta_lead *v = NULL;

    *leads = NULL;
    cJSON_ArrayForEach(entry, cx_json_arr(root, "entry")){cJSON_ArrayForEach(
        change, cx_json_arr(entry, "changes")){const char *field = cx_json_str(change, "field");
    const cJSON *value;

    /* Other fields of a page subscription are not leads. */
    if (!field || strcmp(field, "leadgen") != 0)
        continue;
    value = cx_json_obj(change, "value");
    if (!value) {
        free(v);
        return cx_fail(err, "meta_leads: leadgen change without a value object");
    }
    if (n >= CX_MAX_EVENTS) {
        free(v);
        return cx_fail(err, "meta_leads: more than %d leads in one webhook", CX_MAX_EVENTS);
    }
    if (n == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        struct meta_lead *nv = realloc(v, ncap * sizeof *nv);
        if (!nv) {
            free(v);
            return cx_fail(err, "meta_leads: out of memory");
        }
        v = nv;
        cap = ncap;
    }
    /* Ids are decimal integers that may exceed 2^53: cx_json_id keeps their text.
     * Only digits are accepted, since the id becomes part of a Graph API URL. */
    if (cx_json_id(value, "leadgen_id", v[n].id, sizeof v[n].id) != 0 || !cx_all_digits(v[n].id)) {
        free(v);
        return cx_fail(err, "meta_leads: leadgen change without a numeric leadgen_id");
    }
    v[n].value = value;
    v[n].entry = entry;
    n++;
}
}
*leads = v;
return (long)n;
}

/* One Graph API look-up per lead, in lead order. */
static int fill_need(const struct cx_source *src, const struct meta_lead *leads, size_t n,
                     struct cx_fetch_list *need, struct cx_err *err)
{
    /* api_base, when set, is the whole base (a proxy or a test's fake, version included). */
    char graph[sizeof(META_GRAPH_HOST) + 16];
    const char *version =
        src->graph_version && src->graph_version[0] ? src->graph_version : CX_META_GRAPH_VERSION;
    const char *base = src->api_base && src->api_base[0] ? src->api_base : graph;
    size_t blen, i;
    const char *p;
    int w;

    w = snprintf(graph, sizeof graph, META_GRAPH_HOST "%s", version);
    if (w < 0 || (size_t)w >= sizeof graph)
        return cx_fail(err, "meta_leads: graph_version too long");
    blen = strlen(base);

    if (n > CX_MAX_FETCHES)
        return cx_fail(err, "meta_leads: %zu leads in one webhook, at most %d can be looked up", n,
                       CX_MAX_FETCHES);
    /* The token goes into a header line: a CR or LF would split it. */
    for (p = src->api_token; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return cx_fail(err, "meta_leads: api_token holds characters a header cannot carry");
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (blen >= CX_URL_MAX)
        return cx_fail(err, "meta_leads: api_base too long");
    for (i = 0; i < n; i++) {
        struct cx_fetch *f = &need->v[i];

        memset(f, 0, sizeof *f);
        w = snprintf(f->url, sizeof f->url, "%.*s/%s?fields=" META_FIELDS, (int)blen, base,
                     leads[i].id);
        if (w < 0 || (size_t)w >= sizeof f->url)
            return cx_fail(err, "meta_leads: api_base too long for a look-up URL");
        w = snprintf(f->headers[0], sizeof f->headers[0], "Authorization: Bearer %s",
                     src->api_token);
        if (w < 0 || (size_t)w >= sizeof f->headers[0])
            return cx_fail(err, "meta_leads: api_token too long");
        f->nheaders = 1;
    }
    need->n = n;
    return 0;
}

static enum cx_result meta_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                     const struct cx_fetched *fetched, struct cx_event_list *out,
                                     struct cx_fetch_list *need, struct cx_err *err)
{
    enum cx_result rc = CX_NORM_POISON;
    struct meta_lead *leads = NULL;
    const char *object;
    cJSON *root, *graph = NULL;
    size_t n0 = out->n, i, n;
    long count;
    int enrich = src->api_token && src->api_token[0];

    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    object = cx_json_str(root, "object");
    if (!object || strcmp(object, "page") != 0 || !cx_json_arr(root, "entry")) {
        cx_fail(err, "meta_leads: body is not a page webhook with an entry array");
        goto out;
    }
    count = collect_leads(root, &leads, err);
    if (count < 0)
        goto out;
    n = (size_t)count;
    if (n == 0 || !leads) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    if (enrich && !fetched) {
        if (!need) {
            cx_fail(err, "meta_leads: look-ups needed but the caller takes none");
            goto out;
        }
        if (fill_need(src, leads, n, need, err) != 0) {
            need->n = 0;
            goto out;
        }
        rc = CX_NORM_NEED_FETCH;
        goto out;
    }
    if (enrich && fetched->n != n) {
        cx_fail(err, "meta_leads: %zu Graph API answers for %zu leads", fetched->n, n);
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct cx_event *ev;

        if (enrich) {
            long status = fetched->v[i].status;
            /* The daemon hands over only completed answers; a 4xx here (lead deleted,
             * token without leads_retrieval) will not heal by retrying. */
            if (status < 200 || status > 299) {
                cx_fail(err, "lead %s: Graph API answered %ld", leads[i].id, status);
                goto out;
            }
            graph = cx_json_parse(fetched->v[i].body, fetched->v[i].len, CX_JSON_MAX_DEPTH);
            if (!cJSON_IsObject(graph)) {
                cx_fail(err, "lead %s: Graph API answer is not a JSON object", leads[i].id);
                goto out;
            }
        }
        ev = cx_list_add(out, src, raw);
        if (!ev) {
            cx_fail(err, "meta_leads: out of memory");
            goto out;
        }
        if (fill_lead(ev, src, raw, leads[i].id, leads[i].value, leads[i].entry, graph, err) != 0)
            goto out;
        cJSON_Delete(graph);
        graph = NULL;
    }
    rc = CX_NORM_OK;
out:
    if (rc != CX_NORM_OK)
        out->n = n0;
    cJSON_Delete(graph);
    cJSON_Delete(root);
    free(leads);
    return rc;
}

const struct cx_connector cx_meta_leads = {
    .type = "meta_leads",
    .needs = (const char *const[]){"secret", "verify_token", NULL},
    .get_handshake = 1,
    .keep_headers = NULL,
    .verify = meta_verify,
    .normalize = meta_normalize,
};
