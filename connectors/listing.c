/*
 * The providers' list APIs as reconciliation reads them (listing.h). Each page item
 * becomes the body a webhook of the same thing would have carried, so the worker's
 * normalize reads it with no special case and its dedup key (stripe:<evt id>,
 * shopify:orders/paid:<order id>, shopify:refunds/create:<refund id>) is the webhook's:
 * an event already delivered changes nothing when fetched again.
 */
#include "listing.h"

#include "common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPE_PAGE 100
#define STRIPE_API "https://api.stripe.com"

int cx_list_supported(const char *type)
{
    return type && (strcmp(type, "stripe") == 0 || strcmp(type, "shopify") == 0 ||
                    strcmp(type, "meta_leads") == 0 || strcmp(type, "pipedrive") == 0 ||
                    strcmp(type, "hubspot") == 0);
}

/* The listings a CRM walk reads one after the other, like a Meta source's forms. */
static const char *const pipedrive_feeds[] = {"persons", "deals"};
static const char *const hubspot_feeds[] = {"contacts", "deals"};

static const char *const *feeds_of(const char *type, size_t *n)
{
    if (strcmp(type, "pipedrive") == 0) {
        *n = sizeof pipedrive_feeds / sizeof pipedrive_feeds[0];
        return pipedrive_feeds;
    }
    if (strcmp(type, "hubspot") == 0) {
        *n = sizeof hubspot_feeds / sizeof hubspot_feeds[0];
        return hubspot_feeds;
    }
    *n = 0;
    return NULL;
}

size_t cx_list_nforms(const struct cx_source *src)
{
    size_t nfeeds;
    if (feeds_of(src->type, &nfeeds))
        return nfeeds;
    if (strcmp(src->type, "meta_leads") != 0)
        return 1;
    size_t n = 0;
    for (const char *p = src->forms; p && *p; p++)
        n += *p == ',';
    return src->forms && src->forms[0] ? n + 1 : 0;
}

int cx_list_form(const struct cx_source *src, size_t i, char *out, size_t cap)
{
    size_t nfeeds;
    const char *const *feeds = feeds_of(src->type, &nfeeds);
    out[0] = '\0';
    if (feeds) {
        if (i >= nfeeds || strlen(feeds[i]) >= cap)
            return -1;
        memcpy(out, feeds[i], strlen(feeds[i]) + 1);
        return 0;
    }
    if (strcmp(src->type, "meta_leads") != 0)
        return i == 0 ? 0 : -1;
    const char *p = src->forms;
    for (size_t k = 0; p && k < i; k++) {
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    if (!p || !*p)
        return -1;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ", ");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Provider ids are letters, digits and '_' (evt_…, decimal order ids), Graph paging
 * cursors base64 ('+', '/', '=', '-' too): anything else in a stored cursor is refused,
 * and what is not a letter, digit or '_' is percent-encoded in the URL. */
static int cursor_ok(const char *s)
{
    if (strlen(s) >= CX_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!is_alnum(*s) && !strchr("_-+/=", *s))
            return 0;
    return 1;
}

/* Appends printf output to out (cap bytes); -1 when it does not fit. */
static int append(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int append(char *out, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(out);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + len, cap - len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

/* Appends name=<cursor, percent-encoded>. */
static int append_cursor(char *out, size_t cap, const char *name, const char *cursor)
{
    int bad = append(out, cap, "&%s=", name);
    for (const char *c = cursor; !bad && *c; c++)
        bad = is_alnum(*c) || *c == '_' ? append(out, cap, "%c", *c)
                                        : append(out, cap, "%%%02X", (unsigned char)*c);
    return bad;
}

static int base_of(const struct cx_source *src, const char *dflt, char *out, size_t cap)
{
    const char *b = src->api_base && src->api_base[0] ? src->api_base : dflt;
    if (!b)
        return -1;
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/')
        n--;
    if (n + 1 > cap)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

static int stripe_request(const struct cx_source *src, const struct cx_list_query *q,
                          struct cx_fetch *out, struct cx_err *err)
{
    if (base_of(src, STRIPE_API, out->url, sizeof out->url) != 0)
        return cx_fail(err, "stripe: api_base too long");
    /* created[gte] and types[] with their brackets percent-encoded. */
    int bad = append(out->url, sizeof out->url, "/v1/events?limit=%d&created%%5Bgte%%5D=%" PRId64,
                     STRIPE_PAGE, q->since_s);
    for (size_t i = 0; !bad && cx_stripe_type_at(i); i++)
        bad = append(out->url, sizeof out->url, "&types%%5B%%5D=%s", cx_stripe_type_at(i));
    if (!bad && q->feed == CX_FEED_FAILED)
        bad = append(out->url, sizeof out->url, "&delivery_success=false");
    if (!bad && q->after && q->after[0])
        bad = append_cursor(out->url, sizeof out->url, "starting_after", q->after);
    if (bad)
        return cx_fail(err, "stripe: list URL too long");
    int n = snprintf(out->headers[0], sizeof out->headers[0], "Authorization: Bearer %s",
                     src->api_token);
    if (n < 0 || (size_t)n >= sizeof out->headers[0])
        return cx_fail(err, "stripe: api_token too long");
    out->nheaders = 1;
    return 0;
}

static int shopify_request(const struct cx_source *src, const struct cx_list_query *q,
                           struct cx_fetch *out, struct cx_err *err)
{
    char since[32];
    /* The shop's own host: there is no default (the config requires api_base). */
    if (base_of(src, NULL, out->url, sizeof out->url) != 0)
        return cx_fail(err, "shopify: reconcile needs api_base (https://<shop>.myshopify.com)");
    cx_format_rfc3339(q->since_s * 1000, since);
    /* since_id orders the answer by id, ascending: the cursor is the last id seen. */
    if (append(out->url, sizeof out->url,
               "/admin/api/" CX_SHOPIFY_API_VERSION
               "/orders.json?status=any&limit=%d&updated_at_min=%s&since_id=%s",
               CX_LIST_PAGE_MAX, since, q->after && q->after[0] ? q->after : "0") != 0 ||
        strspn(q->after ? q->after : "", "0123456789") != strlen(q->after ? q->after : ""))
        return cx_fail(err, "shopify: list URL too long");
    int n = snprintf(out->headers[0], sizeof out->headers[0], "X-Shopify-Access-Token: %s",
                     src->api_token);
    if (n < 0 || (size_t)n >= sizeof out->headers[0])
        return cx_fail(err, "shopify: api_token too long");
    out->nheaders = 1;
    return 0;
}

#define META_GRAPH "https://graph.facebook.com/"

static int meta_request(const struct cx_source *src, const struct cx_list_query *q,
                        struct cx_fetch *out, struct cx_err *err)
{
    char graph[sizeof(META_GRAPH) + 16];
    const char *version =
        src->graph_version && src->graph_version[0] ? src->graph_version : CX_META_GRAPH_VERSION;
    int n = snprintf(graph, sizeof graph, META_GRAPH "%s", version);
    if (n < 0 || (size_t)n >= sizeof graph)
        return cx_fail(err, "meta_leads: graph_version too long");
    if (!q->form || !q->form[0] || strspn(q->form, "0123456789") != strlen(q->form))
        return cx_fail(err, "meta_leads: reconcile needs forms (lead form ids)");
    /* api_base, when set, is the whole base (version included), as for the look-ups. */
    if (base_of(src, graph, out->url, sizeof out->url) != 0)
        return cx_fail(err, "meta_leads: api_base too long");
    /* filtering=[{"field":"time_created","operator":"GREATER_THAN","value":<since>}] */
    int bad =
        append(out->url, sizeof out->url,
               "/%s/leads?fields=id,created_time,form_id&limit=100&filtering=%%5B%%7B%%22field"
               "%%22%%3A%%22time_created%%22%%2C%%22operator%%22%%3A%%22GREATER_THAN%%22%%2C%%22"
               "value%%22%%3A%" PRId64 "%%7D%%5D",
               q->form, q->since_s - 1);
    if (!bad && q->after && q->after[0])
        bad = append_cursor(out->url, sizeof out->url, "after", q->after);
    if (bad)
        return cx_fail(err, "meta_leads: list URL too long");
    n = snprintf(out->headers[0], sizeof out->headers[0], "Authorization: Bearer %s",
                 src->api_token);
    if (n < 0 || (size_t)n >= sizeof out->headers[0])
        return cx_fail(err, "meta_leads: api_token too long");
    out->nheaders = 1;
    return 0;
}

#define PIPEDRIVE_API "https://api.pipedrive.com"

static int is_feed(const char *type, const char *form)
{
    size_t n;
    const char *const *feeds = feeds_of(type, &n);
    for (size_t i = 0; form && i < n; i++)
        if (strcmp(form, feeds[i]) == 0)
            return 1;
    return 0;
}

static int pipedrive_request(const struct cx_source *src, const struct cx_list_query *q,
                             struct cx_fetch *out, struct cx_err *err)
{
    char since[32];
    if (!is_feed(src->type, q->form))
        return cx_fail(err, "pipedrive: no listing %s", q->form ? q->form : "");
    if (base_of(src, PIPEDRIVE_API, out->url, sizeof out->url) != 0)
        return cx_fail(err, "pipedrive: api_base too long");
    /* RFC 3339 as API v2 wants it, its ':' percent-encoded. */
    cx_format_rfc3339(q->since_s * 1000, since);
    int bad = append(out->url, sizeof out->url, "/api/v2/%s?limit=%d", q->form, CX_LIST_PAGE_MAX);
    bad = bad || append_cursor(out->url, sizeof out->url, "updated_since", since);
    bad = bad || append(out->url, sizeof out->url, "&sort_by=update_time&sort_direction=asc");
    if (!bad && q->after && q->after[0])
        bad = append_cursor(out->url, sizeof out->url, "cursor", q->after);
    if (bad)
        return cx_fail(err, "pipedrive: list URL too long");
    /* The token in a header, never in a URL a proxy's log could keep (as the look-ups). */
    int n = snprintf(out->headers[0], sizeof out->headers[0], "x-api-token: %s", src->api_token);
    if (n < 0 || (size_t)n >= sizeof out->headers[0])
        return cx_fail(err, "pipedrive: api_token too long");
    out->nheaders = 1;
    return 0;
}

#define HUBSPOT_API "https://api.hubapi.com"
#define HUBSPOT_PAGE 100
/* The search answers no page past the 10,000th result: before that, a walk starts the
 * search over from the last modification time it read (cursor "s<ms>"). */
#define HUBSPOT_MAX_RESULTS 10000
/* The default lifecycle stages, each with its hs_lifecyclestage_<stage>_date property:
 * when the contact entered the stage it is in. */
static const char *const hubspot_lifecycles[] = {
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other"};

static int hubspot_request(const struct cx_source *src, const struct cx_list_query *q,
                           struct cx_fetch *out, struct cx_err *err)
{
    if (!is_feed(src->type, q->form))
        return cx_fail(err, "hubspot: no listing %s", q->form ? q->form : "");
    if (base_of(src, HUBSPOT_API, out->url, sizeof out->url) != 0 ||
        append(out->url, sizeof out->url, "/crm/v3/objects/%s/search", q->form) != 0)
        return cx_fail(err, "hubspot: api_base too long");
    int n = snprintf(out->headers[0], sizeof out->headers[0], "Authorization: Bearer %s",
                     src->api_token);
    if (n < 0 || (size_t)n >= sizeof out->headers[0])
        return cx_fail(err, "hubspot: api_token too long");
    snprintf(out->headers[1], sizeof out->headers[1], "Content-Type: application/json");
    out->nheaders = 2;
    return 0;
}

/* The CRM search (developers.hubspot.com, "Search the CRM"): modified since the window
 * start, oldest first, the properties that date a creation and a stage; `after` pages. */
static int hubspot_body(const struct cx_list_query *q, char *out, size_t cap, size_t *len)
{
    int deals = strcmp(q->form, "deals") == 0;
    /* Contacts name it lastmodifieddate, the other objects hs_lastmodifieddate. */
    const char *modified = deals ? "hs_lastmodifieddate" : "lastmodifieddate";
    const char *after = q->after ? q->after : "";
    int64_t since_ms = q->since_s * 1000;
    out[0] = '\0';
    if (after[0] == 's') {
        /* A search started over (hubspot_read): from that time, from its first page. */
        char *end = NULL;
        long long ms = strtoll(after + 1, &end, 10);
        if (!end || *end || ms < since_ms)
            return -1;
        since_ms = ms;
        after = "";
    }
    int bad =
        append(out, cap,
               "{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"%s\",\"operator\":"
               "\"GTE\",\"value\":\"%" PRId64 "\"}]}],\"sorts\":[{\"propertyName\":\"%s\","
               "\"direction\":\"ASCENDING\"}],\"limit\":%d,\"properties\":[\"%s\"",
               modified, since_ms, modified, HUBSPOT_PAGE, deals ? "dealstage" : "lifecyclestage");
    for (size_t i = 0;
         !deals && !bad && i < sizeof hubspot_lifecycles / sizeof hubspot_lifecycles[0]; i++)
        bad = append(out, cap, ",\"hs_lifecyclestage_%s_date\"", hubspot_lifecycles[i]);
    bad = bad || append(out, cap, "]");
    /* A paging cursor is an offset: digits. */
    if (!bad && after[0]) {
        if (strspn(after, "0123456789") != strlen(after))
            return -1;
        bad = append(out, cap, ",\"after\":\"%s\"", after);
    }
    bad = bad || append(out, cap, "}");
    if (bad)
        return -1;
    *len = strlen(out);
    return 0;
}

int cx_list_body(const struct cx_source *src, const struct cx_list_query *q, char *out, size_t cap,
                 size_t *len, struct cx_err *err)
{
    *len = 0;
    if (cap > 0)
        out[0] = '\0';
    if (strcmp(src->type, "hubspot") != 0)
        return 0;
    if (!is_feed(src->type, q->form) || hubspot_body(q, out, cap, len) != 0)
        return cx_fail(err, "hubspot: search body too long or a cursor that is not an offset");
    return 0;
}

int cx_list_request(const struct cx_source *src, const struct cx_list_query *q,
                    struct cx_fetch *out, struct cx_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!src->api_token || !src->api_token[0])
        return cx_fail(err, "%s: reconcile needs api_token", src->type);
    if (q->after && !cursor_ok(q->after))
        return cx_fail(err, "%s: stored cursor is not an id", src->type);
    if (strcmp(src->type, "stripe") == 0)
        return stripe_request(src, q, out, err);
    if (strcmp(src->type, "shopify") == 0)
        return shopify_request(src, q, out, err);
    if (strcmp(src->type, "meta_leads") == 0)
        return meta_request(src, q, out, err);
    if (strcmp(src->type, "pipedrive") == 0)
        return pipedrive_request(src, q, out, err);
    if (strcmp(src->type, "hubspot") == 0)
        return hubspot_request(src, q, out, err);
    return cx_fail(err, "%s: no list API", src->type);
}

void cx_list_page_free(struct cx_list_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        cJSON_free(p->v[i].body);
    p->n = 0;
}

/* cJSON prints numbers with 15 significant digits when that reads back close enough:
 * 1234567890123456 would come out as 1.23456789012346e+15, a different id or amount.
 * So every number is turned into raw text that is exact before an item is printed: an
 * integer (cx_json_parse keeps those beyond 2^53 as strings) in full, anything else with
 * 17 significant digits, which read back to the same double. The tree is at most
 * CX_JSON_MAX_DEPTH deep (cx_json_parse), so the recursion is bounded. -1 out of memory. */
static int exact_numbers(cJSON *node)
{
    cJSON *child = node ? node->child : NULL;
    while (child) {
        cJSON *next = child->next;
        if (cJSON_IsNumber(child)) {
            char text[48];
            double v = child->valuedouble;
            if (v == (double)(int64_t)v && v > -9007199254740992.0 && v < 9007199254740992.0)
                snprintf(text, sizeof text, "%" PRId64, (int64_t)v);
            else
                snprintf(text, sizeof text, "%.17g", v);
            cJSON *raw = cJSON_CreateRaw(text);
            if (!raw)
                return -1;
            /* The member's name moves to the raw node (the replacement keeps none). */
            raw->string = child->string;
            raw->type |= child->type & cJSON_StringIsConst;
            child->string = NULL;
            if (!cJSON_ReplaceItemViaPointer(node, child, raw)) {
                cJSON_Delete(raw);
                return -1;
            }
        } else if ((cJSON_IsObject(child) || cJSON_IsArray(child)) && exact_numbers(child) != 0)
            return -1;
        child = next;
    }
    return 0;
}

/* Adds obj's text as an item; -1 when out of memory or full. */
static int add_item(struct cx_list_page *p, const cJSON *obj, const char *id, const char *topic)
{
    if (p->n >= sizeof p->v / sizeof p->v[0])
        return -1;
    /* A copy: the page's tree is still read (its ids) after this item is printed. */
    cJSON *copy = cJSON_Duplicate(obj, 1);
    char *text = copy && exact_numbers(copy) == 0 ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    if (!text)
        return -1;
    struct cx_list_item *it = &p->v[p->n++];
    snprintf(it->id, sizeof it->id, "%s", id);
    it->topic = topic;
    it->body = text;
    it->len = strlen(text);
    return 0;
}

static int stripe_read(const struct cx_source *src, const cJSON *root, struct cx_list_page *out,
                       struct cx_err *err)
{
    (void)src;
    const cJSON *data = cx_json_arr(root, "data");
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
    if (!data || !cJSON_IsBool(more))
        return cx_fail(err, "stripe list: no data array or has_more");
    const cJSON *ev;
    cJSON_ArrayForEach(ev, data)
    {
        const char *id = cx_json_str(ev, "id"), *type = cx_json_str(ev, "type");
        if (!id || !type || !cursor_ok(id) || strlen(id) >= CX_ID_MAX)
            return cx_fail(err, "stripe list: an event without a usable id or type");
        if (++out->listed > CX_LIST_PAGE_MAX)
            return cx_fail(err, "stripe list: more events than a page holds");
        snprintf(out->after, sizeof out->after, "%s", id);
        /* The URL asked for these types; anything else listed would only be skipped. */
        int read = 0;
        for (size_t i = 0; !read && cx_stripe_type_at(i); i++)
            read = strcmp(type, cx_stripe_type_at(i)) == 0;
        if (read && add_item(out, ev, id, NULL) != 0)
            return cx_fail(err, "stripe list: out of memory");
    }
    out->more = cJSON_IsTrue(more) && out->listed > 0;
    return 0;
}

static int shopify_read(const struct cx_source *src, cJSON *root, struct cx_list_page *out,
                        struct cx_err *err)
{
    (void)src;
    /* A paid order: what orders/paid would have carried (a later refund does not unpay). */
    static const char *const paid[] = {"paid", "partially_refunded", "refunded"};
    const cJSON *orders = cx_json_arr(root, "orders");
    if (!orders)
        return cx_fail(err, "shopify list: no orders array");
    cJSON *order;
    cJSON_ArrayForEach(order, orders)
    {
        char id[32], rid[32];
        if (cx_json_id(order, "id", id, sizeof id) != 0 || !cursor_ok(id))
            return cx_fail(err, "shopify list: an order without a usable id");
        if (++out->listed > CX_LIST_PAGE_MAX)
            return cx_fail(err, "shopify list: more orders than a page holds");
        snprintf(out->after, sizeof out->after, "%s", id);
        const char *status = cx_json_str(order, "financial_status");
        int is_paid = 0;
        for (size_t i = 0; status && i < sizeof paid / sizeof paid[0]; i++)
            is_paid |= strcmp(status, paid[i]) == 0;
        if (!is_paid)
            continue;
        if (add_item(out, order, id, "orders/paid") != 0)
            return cx_fail(err, "shopify list: out of memory");
        cJSON *refund;
        cJSON_ArrayForEach(refund, cJSON_GetObjectItemCaseSensitive(order, "refunds"))
        {
            if (cx_json_id(refund, "id", rid, sizeof rid) != 0)
                continue;
            /* refunds/create carries order_id; an order's own refunds may leave it out. */
            if (!cJSON_HasObjectItem(refund, "order_id") &&
                !cJSON_AddStringToObject(refund, "order_id", id))
                return cx_fail(err, "shopify list: out of memory");
            if (add_item(out, refund, rid, "refunds/create") != 0)
                return cx_fail(err, "shopify list: out of memory");
        }
    }
    out->more = out->listed == CX_LIST_PAGE_MAX;
    return 0;
}

/* A lead of the list becomes the leadgen webhook Meta sends for it: the worker then looks
 * the lead up (fields, ad, campaign) and normalizes it exactly as the webhook's. */
static int meta_read(const struct cx_source *src, const struct cx_list_query *q, const cJSON *root,
                     struct cx_list_page *out, struct cx_err *err)
{
    (void)src;
    const cJSON *data = cx_json_arr(root, "data");
    if (!data)
        return cx_fail(err, "meta_leads list: no data array");
    const cJSON *lead;
    cJSON_ArrayForEach(lead, data)
    {
        char id[CX_ID_MAX];
        int64_t at = 0;
        if (cx_json_id(lead, "id", id, sizeof id) != 0 || strspn(id, "0123456789") != strlen(id))
            return cx_fail(err, "meta_leads list: a lead without a numeric id");
        if (++out->listed > CX_LIST_PAGE_MAX)
            return cx_fail(err, "meta_leads list: more leads than a page holds");
        if (cx_parse_iso8601(cx_json_str(lead, "created_time"), &at) != 0)
            at = 0;
        cJSON *hook = cJSON_CreateObject(), *entry = cJSON_CreateObject();
        cJSON *change = cJSON_CreateObject(), *value = cJSON_CreateObject();
        cJSON *entries = cJSON_CreateArray(), *changes = cJSON_CreateArray();
        int ok = hook && entry && change && value && entries && changes &&
                 cJSON_AddStringToObject(hook, "object", "page") &&
                 cJSON_AddStringToObject(value, "leadgen_id", id) &&
                 cJSON_AddStringToObject(value, "form_id", q->form ? q->form : "") &&
                 (at <= 0 || cJSON_AddNumberToObject(value, "created_time", (double)(at / 1000))) &&
                 cJSON_AddStringToObject(change, "field", "leadgen");
        if (ok) {
            cJSON_AddItemToObject(change, "value", value);
            value = NULL;
            cJSON_AddItemToArray(changes, change);
            change = NULL;
            cJSON_AddItemToObject(entry, "changes", changes);
            changes = NULL;
            cJSON_AddItemToArray(entries, entry);
            entry = NULL;
            cJSON_AddItemToObject(hook, "entry", entries);
            entries = NULL;
            ok = add_item(out, hook, id, NULL) == 0;
        }
        cJSON_Delete(hook);
        cJSON_Delete(entry);
        cJSON_Delete(change);
        cJSON_Delete(value);
        cJSON_Delete(entries);
        cJSON_Delete(changes);
        if (!ok)
            return cx_fail(err, "meta_leads list: out of memory");
    }
    /* Graph pages on: paging.next is there while more follow, with the cursor. */
    const cJSON *paging = cx_json_obj(root, "paging");
    const char *after = cx_json_str(cx_json_obj(paging, "cursors"), "after");
    out->more = cx_json_str(paging, "next") != NULL && after && out->listed > 0;
    if (out->more) {
        if (!cursor_ok(after))
            return cx_fail(err, "meta_leads list: a paging cursor that is not base64");
        snprintf(out->after, sizeof out->after, "%s", after);
    }
    return 0;
}

/* One object as the v2 webhook of its creation or of its last change would carry it
 * (action, entity, timestamp; data the object): the connector derives the same dedup key
 * from either (pipedrive.c, object_event_id). meta.id is no webhook's uuid: a change
 * without update_time, which would need it, is never queued. */
static int pipedrive_item(struct cx_list_page *out, const char *entity, const char *id,
                          const char *action, const char *at, cJSON *data)
{
    cJSON *hook = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    int ok = hook && meta && cJSON_AddStringToObject(meta, "action", action) &&
             cJSON_AddStringToObject(meta, "entity", entity) &&
             cJSON_AddStringToObject(meta, "entity_id", id) &&
             cJSON_AddStringToObject(meta, "id", "journeyd-reconcile") &&
             cJSON_AddStringToObject(meta, "version", "2.0") &&
             (!at || cJSON_AddStringToObject(meta, "timestamp", at));
    if (ok) {
        cJSON_AddItemToObject(hook, "meta", meta);
        meta = NULL;
        /* A reference: printed (add_item copies it) but not freed with the hook. */
        ok = cJSON_AddItemReferenceToObject(hook, "data", data) &&
             add_item(out, hook, id, NULL) == 0;
    }
    cJSON_Delete(meta);
    cJSON_Delete(hook);
    return ok ? 0 : -1;
}

/* Each listed person or deal gives its creation (a person's is the lead; a deal's is told
 * as it was opened: open, and its stage only while it never moved) and, when it changed
 * since, its last change (the current state, at update_time). */
static int pipedrive_read(const struct cx_list_query *q, cJSON *root, struct cx_list_page *out,
                          struct cx_err *err)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const char *entity = strcmp(q->form, "deals") == 0 ? "deal" : "person";
    if (!cJSON_IsArray(data))
        return cx_fail(err, "pipedrive list: no data array");
    cJSON *obj;
    cJSON_ArrayForEach(obj, data)
    {
        char id[CX_ID_MAX];
        if (cx_json_id(obj, "id", id, sizeof id) != 0 || strspn(id, "0123456789") != strlen(id))
            return cx_fail(err, "pipedrive list: a %s without a numeric id", entity);
        if (++out->listed > CX_LIST_PAGE_MAX)
            return cx_fail(err, "pipedrive list: more %ss than a page holds", entity);
        const char *added = cx_json_str(obj, "add_time"),
                   *updated = cx_json_str(obj, "update_time");
        cJSON *opened = cJSON_Duplicate(obj, 1);
        int ok = opened != NULL;
        if (ok && strcmp(entity, "deal") == 0) {
            /* No won or lost backdated to when the deal was opened (that moment is the
             * change's), nor a stage it only reached later. */
            const cJSON *moved = cJSON_GetObjectItemCaseSensitive(obj, "stage_change_time");
            if (cJSON_HasObjectItem(opened, "status")) {
                cJSON *open = cJSON_CreateString("open");
                ok = open && cJSON_ReplaceItemInObjectCaseSensitive(opened, "status", open);
                if (!ok)
                    cJSON_Delete(open);
            }
            if (cJSON_IsString(moved))
                cJSON_DeleteItemFromObjectCaseSensitive(opened, "stage_id");
        }
        ok = ok && pipedrive_item(out, entity, id, "create", added, opened) == 0;
        cJSON_Delete(opened);
        if (ok && updated && (!added || strcmp(updated, added) != 0))
            ok = pipedrive_item(out, entity, id, "change", updated, obj) == 0;
        if (!ok)
            return cx_fail(err, "pipedrive list: out of memory");
    }
    /* API v2 pages on with additional_data.next_cursor (null on the last page). */
    const char *next = cx_json_str(cx_json_obj(root, "additional_data"), "next_cursor");
    out->more = next && next[0] && out->listed > 0;
    if (out->more) {
        if (!cursor_ok(next))
            return cx_fail(err, "pipedrive list: a next_cursor that is not base64");
        snprintf(out->after, sizeof out->after, "%s", next);
    }
    return 0;
}

/* An element of a HubSpot webhook batch, as journeyd reads one (hubspot.c). */
static cJSON *hubspot_element(const char *id, const char *type, int64_t at_ms, const char *prop,
                              const char *value)
{
    cJSON *el = cJSON_CreateObject();
    int ok = el && cJSON_AddStringToObject(el, "subscriptionType", type) &&
             cJSON_AddStringToObject(el, "objectId", id) &&
             cJSON_AddNumberToObject(el, "occurredAt", (double)at_ms) &&
             (!prop || (cJSON_AddStringToObject(el, "propertyName", prop) &&
                        cJSON_AddStringToObject(el, "propertyValue", value)));
    if (!ok) {
        cJSON_Delete(el);
        return NULL;
    }
    return el;
}

/* Each contact or deal found becomes the webhook batch its creation and its stage would
 * have sent: contact.creation (or deal.creation) at createdAt, and the propertyChange of
 * lifecyclestage (dealstage) to the value it holds now, at the moment it entered it when
 * HubSpot says (hs_lifecyclestage_<stage>_date), else at updatedAt. The worker then looks
 * the object up and the connector keys both on the object (hubspot.c), as the webhooks. */
static int hubspot_read(const struct cx_list_query *q, const cJSON *root, struct cx_list_page *out,
                        struct cx_err *err)
{
    int deals = strcmp(q->form, "deals") == 0;
    const char *object = deals ? "deal" : "contact";
    const char *stage_prop = deals ? "dealstage" : "lifecyclestage";
    const cJSON *results = cx_json_arr(root, "results");
    int64_t last_modified = 0;
    if (!results)
        return cx_fail(err, "hubspot list: no results array");
    const cJSON *obj;
    cJSON_ArrayForEach(obj, results)
    {
        char id[CX_ID_MAX], type[40], prop[64];
        int64_t created = 0, updated = 0, entered = 0, modified = 0;
        if (cx_json_id(obj, "id", id, sizeof id) != 0 || strspn(id, "0123456789") != strlen(id))
            return cx_fail(err, "hubspot list: a %s without a numeric id", object);
        if (++out->listed > CX_LIST_PAGE_MAX)
            return cx_fail(err, "hubspot list: more %ss than a page holds", object);
        if (cx_parse_iso8601(cx_json_str(obj, "createdAt"), &created) != 0 || created <= 0)
            return cx_fail(err, "hubspot list: %s %s without createdAt", object, id);
        if (cx_parse_iso8601(cx_json_str(obj, "updatedAt"), &updated) != 0 || updated <= 0)
            updated = created;
        const cJSON *props = cx_json_obj(obj, "properties");
        /* The sort key, for a search started over past HubSpot's result limit. */
        if (cx_parse_iso8601(cx_json_str(props, deals ? "hs_lastmodifieddate" : "lastmodifieddate"),
                             &modified) == 0 &&
            modified > last_modified)
            last_modified = modified;
        if (updated > last_modified)
            last_modified = updated;
        const char *stage = cx_json_str(props, stage_prop);
        if (stage && stage[0] && !deals) {
            snprintf(prop, sizeof prop, "hs_lifecyclestage_%s_date", stage);
            if (cx_parse_iso8601(cx_json_str(props, prop), &entered) != 0)
                entered = 0;
        }
        cJSON *batch = cJSON_CreateArray();
        snprintf(type, sizeof type, "%s.creation", object);
        cJSON *el = batch ? hubspot_element(id, type, created, NULL, NULL) : NULL;
        int ok = el != NULL;
        if (ok)
            cJSON_AddItemToArray(batch, el);
        if (ok && stage && stage[0]) {
            snprintf(type, sizeof type, "%s.propertyChange", object);
            el = hubspot_element(id, type, entered > 0 ? entered : updated, stage_prop, stage);
            ok = el != NULL;
            if (ok)
                cJSON_AddItemToArray(batch, el);
        }
        ok = ok && add_item(out, batch, id, NULL) == 0;
        cJSON_Delete(batch);
        if (!ok)
            return cx_fail(err, "hubspot list: out of memory");
    }
    /* paging.next.after while more follow (an offset, as text). */
    const char *after = cx_json_str(cx_json_obj(cx_json_obj(root, "paging"), "next"), "after");
    out->more = after && after[0] && out->listed > 0;
    if (out->more) {
        if (strspn(after, "0123456789") != strlen(after) || strlen(after) >= sizeof out->after)
            return cx_fail(err, "hubspot list: a paging cursor that is not an offset");
        snprintf(out->after, sizeof out->after, "%s", after);
        /* The next page would pass the 10,000th result, which HubSpot refuses (and the walk
         * would fail on it for ever): search again from the last time read instead. The
         * objects modified at that very millisecond come again; the dedup absorbs them. */
        if (strtoll(after, NULL, 10) + HUBSPOT_PAGE > HUBSPOT_MAX_RESULTS && last_modified > 0)
            snprintf(out->after, sizeof out->after, "s%" PRId64, last_modified);
    }
    return 0;
}

int cx_list_parse(const struct cx_source *src, const struct cx_list_query *q, long status,
                  const unsigned char *body, size_t len, struct cx_list_page *out,
                  struct cx_err *err)
{
    memset(out, 0, sizeof(*out));
    if (status == 401 || status == 403)
        return cx_fail(err, "%s list: HTTP %ld (api_token refused or lacks read access)", src->type,
                       status);
    if (status < 200 || status > 299)
        return cx_fail(err, "%s list: HTTP %ld", src->type, status);
    cJSON *root = cx_json_parse(body, len, CX_JSON_MAX_DEPTH);
    int rc;
    if (!cJSON_IsObject(root))
        rc = cx_fail(err, "%s list: answer is not a JSON object", src->type);
    else if (strcmp(src->type, "stripe") == 0)
        rc = stripe_read(src, root, out, err);
    else if (strcmp(src->type, "shopify") == 0)
        rc = shopify_read(src, root, out, err);
    else if (strcmp(src->type, "meta_leads") == 0)
        rc = meta_read(src, q, root, out, err);
    else if (strcmp(src->type, "pipedrive") == 0 && is_feed(src->type, q->form))
        rc = pipedrive_read(q, root, out, err);
    else if (strcmp(src->type, "hubspot") == 0 && is_feed(src->type, q->form))
        rc = hubspot_read(q, root, out, err);
    else
        rc = cx_fail(err, "%s: no list API", src->type);
    cJSON_Delete(root);
    if (rc != 0)
        cx_list_page_free(out);
    return rc;
}
