/*
 * Shopify (type "shopify"): paid orders and refunds.
 *
 * Signature (shopify.dev "Verify webhook deliveries"; shopify-api-ruby
 * lib/shopify_api/webhooks/request.rb and utils/hmac_validator.rb): X-Shopify-Hmac-Sha256
 * (newer deliveries also send the un-prefixed Shopify-Hmac-Sha256) = base64 HMAC-SHA256
 * keyed with the app's client secret over the raw body. No timestamp is signed. After a
 * secret rotation Shopify signs with the old secret for up to an hour, so every configured
 * secret is tried.
 *
 * The HMAC covers the body only, and Shopify signs no timestamp: every header can be
 * changed by whoever captured one delivery. So the dedup key and the event time come from
 * the signed body — the order id for orders/paid, the refund's own id for refunds (one
 * order can have several) — never from X-Shopify-Webhook-Id or X-Shopify-Triggered-At,
 * which shopify.dev suggests for dedup: a captured refund re-sent with fresh webhook ids
 * would otherwise subtract the refund again and again. The topic travels in a header too
 * (ingest keeps it with the raw body); only orders/paid and refunds/create are read, each
 * checked against the body's shape, so a changed topic cannot turn one into the other.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SH_ID_MAX 32 /* Shopify ids are 64-bit integers */

static const char *header(const struct cx_header *h, size_t n, const char *prefixed,
                          const char *bare)
{
    const char *v = cx_header_get(h, n, prefixed);

    return v ? v : cx_header_get(h, n, bare);
}

static enum cx_verdict shopify_verify(const struct cx_source *src, const struct cx_input *in,
                                      struct cx_reply *reply, struct cx_err *err)
{
    unsigned char sig[1][CX_SHA256_LEN];
    const char *hdr;
    int match;
    struct cx_json_top top = {.keys = NULL, .nkeys = 0};

    (void)reply;
    hdr = header(in->headers, in->nheaders, "X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256");
    if (cx_decode_mac(hdr, NULL, CX_MAC_BASE64, sig[0]) != 0) {
        cx_fail(err, "shopify: missing or malformed X-Shopify-Hmac-Sha256");
        return CX_BAD_SIGNATURE;
    }
    match = cx_any_secret_mac(src, in->body, in->body_len, NULL, 0,
                              (const unsigned char(*)[CX_SHA256_LEN])sig, 1);
    if (match <= 0) {
        cx_fail(err, "shopify: X-Shopify-Hmac-Sha256 does not match");
        return CX_BAD_SIGNATURE;
    }
    /* Normalize cannot tell an order from a refund without the topic. */
    if (!header(in->headers, in->nheaders, "X-Shopify-Topic", "Shopify-Topic")) {
        cx_fail(err, "shopify: missing X-Shopify-Topic header");
        return CX_BAD_REQUEST;
    }
    if (cx_json_check(in->body, in->body_len, CX_JSON_MAX_DEPTH, &top) != 0 || top.type != '{') {
        /* XML-format subscriptions are not supported: the docs say to choose JSON. */
        cx_fail(err, "shopify: body is not a JSON object");
        return CX_BAD_REQUEST;
    }
    return CX_OK;
}

/* ---- normalize ---- */

/* note_attributes: [{name, value}], the order's cart attributes (where a storefront puts
 * our anonymous id or utm values it kept). */
static const char *note_get(void *ctx, const char *name)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, (const cJSON *)ctx)
    {
        const char *n = cx_json_str(it, "name");
        if (n && strcmp(n, name) == 0)
            return cx_json_str(it, "value");
    }
    return NULL;
}

/* landing_site is the first page of the visit that ordered ("/?utm_source=…" or a full
 * URL): its query string carries utm values, click ids and the jd_aid our links add. */
static void apply_landing_site(struct cx_event *ev, const struct cx_source *src, const char *site)
{
    struct cx_form f;
    const char *q, *end, *anon;

    if (!site)
        return;
    q = strchr(site, '?');
    if (!q)
        return;
    q++;
    end = strchr(q, '#');
    if (cx_form_parse(&f, q, end ? (size_t)(end - q) : strlen(q)) == 0) {
        cx_event_set_touch(ev, src, cx_form_getter, &f);
        anon = cx_form_get(&f, "jd_aid");
        if (anon && anon[0])
            (void)cx_event_add_identity(ev, src, "anon", anon);
    }
    cx_form_free(&f);
}

/* First parseable RFC 3339 time among the keys, else the fallback. */
static int64_t first_time(const cJSON *o, const char *const *keys, size_t n, int64_t fallback)
{
    int64_t ms;
    size_t i;

    for (i = 0; i < n; i++)
        if (cx_parse_rfc3339(cx_json_str(o, keys[i]), &ms) == 0)
            return ms;
    return fallback;
}

/* The order (orders/paid): total_price in the shop currency, identities, touch. */
static int order_event(struct cx_event *ev, const struct cx_source *src, const cJSON *order,
                       const char *order_id, struct cx_err *err)
{
    const cJSON *customer = cx_json_obj(order, "customer");
    cJSON *notes = cJSON_GetObjectItemCaseSensitive(order, "note_attributes");
    const char *total = cx_json_str(order, "total_price");
    char cid[SH_ID_MAX];
    int64_t minor;
    struct cx_attrs attrs = {0};

    if (cx_norm_currency(cx_json_str(order, "currency"), ev->currency) != 0)
        return cx_fail(err, "shopify order %s: missing or invalid currency", order_id);
    /* total_price is a decimal string ("199.00") in the currency's minor-unit exponent. */
    if (!total || cx_parse_decimal_minor(total, cx_currency_exponent(ev->currency), &minor) != 0 ||
        minor < 0)
        return cx_fail(err, "shopify order %s: missing or invalid total_price", order_id);
    if (minor > 0) {
        cx_copy_text(ev->kind, sizeof ev->kind, "payment");
        ev->has_amount = 1;
        ev->amount_minor = minor;
        cx_copy_text(ev->payment_key, sizeof ev->payment_key, order_id);
    } else {
        /* A free order moves no money: identities and touch, no revenue (as Stripe's
         * zero invoices). */
        cx_copy_text(ev->kind, sizeof ev->kind, "custom");
        ev->currency[0] = '\0';
    }
    (void)cx_event_add_identity(ev, src, "email", cx_json_str(order, "email"));
    (void)cx_event_add_identity(ev, src, "email", cx_json_str(order, "contact_email"));
    (void)cx_event_add_identity(ev, src, "email", cx_json_str(customer, "email"));
    (void)cx_event_add_identity(ev, src, "phone", cx_json_str(order, "phone"));
    (void)cx_event_add_identity(ev, src, "phone", cx_json_str(customer, "phone"));
    (void)cx_event_add_identity(ev, src, "phone",
                                cx_json_str(cx_json_obj(order, "billing_address"), "phone"));
    if (customer && cx_json_id(customer, "id", cid, sizeof cid) == 0)
        (void)cx_event_add_identity(ev, src, "shopify_customer", cid);
    /* Refunds name only the order: this identity is what joins a refund to its buyer. */
    (void)cx_event_add_identity(ev, src, "custom:shopify_order", order_id);
    apply_landing_site(ev, src, cx_json_str(order, "landing_site"));
    if (cJSON_IsArray(notes)) {
        const char *anon = note_get(notes, "jd_aid");
        cx_event_set_touch(ev, src, note_get, notes);
        if (anon)
            (void)cx_event_add_identity(ev, src, "anon", anon);
    }
    (void)cx_attrs_init(&attrs);
    (void)cx_attrs_put(&attrs, "order", cx_json_str(order, "name"));
    (void)cx_attrs_put(&attrs, "first_name", cx_json_str(customer, "first_name"));
    (void)cx_attrs_put(&attrs, "last_name", cx_json_str(customer, "last_name"));
    (void)cx_attrs_store(&attrs, ev);
    cx_attrs_free(&attrs);
    return 0;
}

/* The refund (refunds/create): what this refund returned, the sum of its successful
 * refund transactions (amounts are decimal strings). 0, 1 = nothing refunded, -1. */
static int refund_event(struct cx_event *ev, const struct cx_source *src, const cJSON *refund,
                        const char *order_id, struct cx_err *err)
{
    const cJSON *tx;
    char cur[4] = "";
    int64_t sum = 0;

    cJSON_ArrayForEach(tx, cx_json_arr(refund, "transactions"))
    {
        const char *kind = cx_json_str(tx, "kind"), *status = cx_json_str(tx, "status");
        const char *amount = cx_json_str(tx, "amount");
        char c[4];
        int64_t minor;

        if (!kind || strcmp(kind, "refund") != 0 || !status || strcmp(status, "success") != 0)
            continue;
        if (cx_norm_currency(cx_json_str(tx, "currency"), c) != 0)
            return cx_fail(err, "shopify refund of order %s: transaction without currency",
                           order_id);
        if (cur[0] && strcmp(cur, c) != 0)
            return cx_fail(err, "shopify refund of order %s: transactions in two currencies",
                           order_id);
        memcpy(cur, c, sizeof cur);
        if (!amount || cx_parse_decimal_minor(amount, cx_currency_exponent(cur), &minor) != 0 ||
            minor < 0)
            return cx_fail(err, "shopify refund of order %s: invalid transaction amount", order_id);
        /* Each term is below 2^53 (cx_parse_decimal_minor); so must the sum be. */
        if (sum > (INT64_C(1) << 53) - 1 - minor)
            return cx_fail(err, "shopify refund of order %s: amount too large", order_id);
        sum += minor;
    }
    if (sum == 0)
        return 1; /* a restock or a pending refund moved no money */
    cx_copy_text(ev->kind, sizeof ev->kind, "refund");
    ev->has_amount = 1;
    ev->amount_minor = sum;
    memcpy(ev->currency, cur, sizeof ev->currency);
    cx_copy_text(ev->payment_key, sizeof ev->payment_key, order_id);
    (void)cx_event_add_identity(ev, src, "custom:shopify_order", order_id);
    return 0;
}

static enum cx_result shopify_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                        const struct cx_fetched *fetched, struct cx_event_list *out,
                                        struct cx_fetch_list *need, struct cx_err *err)
{
    static const char *const order_times[] = {"processed_at", "updated_at", "created_at"};
    static const char *const refund_times[] = {"processed_at", "created_at"};
    const char *topic;
    char order_id[SH_ID_MAX], own_id[SH_ID_MAX];
    enum cx_result rc = CX_NORM_POISON;
    struct cx_event *ev;
    cJSON *root;
    int is_order, r;
    size_t n0 = out->n;

    (void)fetched; /* never enriched: the order carries everything */
    (void)need;
    topic = header(raw->headers, raw->nheaders, "x-shopify-topic", "shopify-topic");
    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "shopify: body is not a JSON object");
        goto out;
    }
    if (!topic) {
        cx_fail(err, "shopify: no X-Shopify-Topic kept with the webhook");
        goto out;
    }
    is_order = strcmp(topic, "orders/paid") == 0;
    if (!is_order && strcmp(topic, "refunds/create") != 0) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    /* Order ids exceed 2^53: the exact decimal text (cx_json_parse keeps it). */
    if (cx_json_id(root, is_order ? "id" : "order_id", order_id, sizeof order_id) != 0) {
        cx_fail(err, "shopify %s: missing or invalid %s", topic, is_order ? "id" : "order_id");
        goto out;
    }
    if (!is_order && cx_json_id(root, "id", own_id, sizeof own_id) != 0) {
        cx_fail(err, "shopify %s: refund without id", topic);
        goto out;
    }
    ev = cx_list_add(out, src, raw);
    if (!ev) {
        cx_fail(err, "shopify: out of memory");
        goto out;
    }
    /* Signed ids only (see the top of the file). */
    if (cx_event_set_id(ev, "shopify:%s:%s", topic, is_order ? order_id : own_id) != 0) {
        cx_fail(err, "shopify: event id too long");
        goto out;
    }
    if (is_order) {
        ev->at_ms = first_time(root, order_times, sizeof order_times / sizeof order_times[0],
                               raw->received_ms);
        if (order_event(ev, src, root, order_id, err) != 0)
            goto out;
    } else {
        ev->at_ms = first_time(root, refund_times, sizeof refund_times / sizeof refund_times[0],
                               raw->received_ms);
        r = refund_event(ev, src, root, order_id, err);
        if (r < 0)
            goto out;
        if (r > 0) {
            rc = CX_NORM_SKIP;
            goto out;
        }
    }
    rc = CX_NORM_OK;
out:
    return cx_norm_end(rc, out, n0, NULL, root);
}

static const char *const keep[] = {"x-shopify-topic", "shopify-topic", NULL};

const struct cx_connector cx_shopify = {
    .type = "shopify",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = keep,
    .verify = shopify_verify,
    .normalize = shopify_normalize,
};
