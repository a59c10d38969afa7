/*
 * Stripe (type "stripe"): payments and refunds.
 *
 * Signature rules follow stripe-node src/Webhooks.ts, stripe-go webhook/client.go and
 * stripe-python stripe/_webhook.py (shared/providers.md): Stripe-Signature elements split
 * on ',' then on the first '='; HMAC-SHA256 keyed with the whole secret string over
 * "<t>.<raw body>"; any v1 may match (secret rotation); v0 and unknown schemes are ignored
 * (accepting v0 would be a downgrade); the signature is checked before the timestamp, and
 * only old timestamps are refused (age > tolerance), as the SDKs do.
 */
#include "common.h"
#include "listing.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define STRIPE_DEFAULT_TOLERANCE_S 300
/* A rotation has two v1 values; anything past this many is ignored, not an error. */
/* Latest `created` we accept: 9999-12-31T23:59:59Z, the end of RFC 3339 time. */
#define STRIPE_MAX_CREATED 253402300799LL

static enum cx_verdict stripe_verify(const struct cx_source *src, const struct cx_input *in,
                                     struct cx_reply *reply, struct cx_err *err)
{
    static const char *const keys[] = {"id", "type"};
    struct cx_json_top top = {.keys = keys, .nkeys = 2};
    enum cx_verdict verdict;

    (void)reply;
    verdict = cx_verify_timestamped(src, in, "Stripe-Signature", STRIPE_DEFAULT_TOLERANCE_S, err);
    if (verdict != CX_OK)
        return verdict;
    if (cx_json_check(in->body, in->body_len, CX_JSON_MAX_DEPTH, &top) != 0 || top.type != '{' ||
        top.found[0].kind != 's' || top.found[1].kind != 's') {
        cx_fail(err, "body is not a Stripe event (JSON object with id and type)");
        return CX_BAD_REQUEST;
    }
    return CX_OK;
}

/* ---- normalize ---- */

enum stripe_kind { ST_CHECKOUT, ST_PAYMENT_INTENT, ST_INVOICE, ST_REFUND };

static const struct {
    const char *type;
    enum stripe_kind kind;
} handled[] = {
    {"checkout.session.completed", ST_CHECKOUT},
    /* Delayed methods (SEPA, bank transfers) complete the session unpaid and confirm the
     * money with this event; same object, now paid. */
    {"checkout.session.async_payment_succeeded", ST_CHECKOUT},
    {"payment_intent.succeeded", ST_PAYMENT_INTENT},
    {"invoice.paid", ST_INVOICE},
    {"charge.refunded", ST_REFUND},
};

/* The event types normalize reads, for reconciliation's types[] filter (listing.h):
 * listing only these keeps the fetched events to the ones that can change a journey. */
const char *cx_stripe_type_at(size_t i)
{
    return i < sizeof handled / sizeof handled[0] ? handled[i].type : NULL;
}

/* What one Stripe object says, as pointers into the parsed tree. */
struct stripe_fields {
    const char *kind; /* "payment", "refund" or "custom" (no money moved) */
    int has_amount;
    int64_t amount;
    char currency[4];
    const char *key;
    const char *emails[3];
    const char *phone, *name, *customer;
    cJSON *metas[3];
    const char *client_ref;
};

static cJSON *child_obj(cJSON *o, const char *key)
{
    cJSON *v;

    if (!cJSON_IsObject(o))
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* Expandable fields arrive as an id string or, when expanded, as the object itself. */
static const char *id_of(const cJSON *o, const char *key)
{
    const char *s = cx_json_str(o, key);

    return s ? s : cx_json_str(cx_json_obj(o, key), "id");
}

static int money(const cJSON *obj, const char *amount_key, struct stripe_fields *f,
                 const char *type, const char *evt_id, struct cx_err *err)
{
    if (cx_json_int(obj, amount_key, &f->amount) != 0 || f->amount < 0)
        return cx_fail(err, "stripe %s %s: missing or invalid %s", type, evt_id, amount_key);
    if (cx_norm_currency(cx_json_str(obj, "currency"), f->currency) != 0)
        return cx_fail(err, "stripe %s %s: missing or invalid currency", type, evt_id);
    f->has_amount = 1;
    return 0;
}

/* Returns CX_NORM_OK with f filled, SKIP, or POISON with err set. */
static enum cx_result extract(enum stripe_kind k, cJSON *root, cJSON *obj, const char *type,
                              const char *evt_id, struct stripe_fields *f, struct cx_err *err)
{
    cJSON *details, *billing;
    const char *status;
    const char *pi = NULL, *invoice = NULL;
    int64_t before = 0;

    memset(f, 0, sizeof *f);
    f->kind = "payment";
    f->customer = id_of(obj, "customer");
    f->metas[0] = child_obj(obj, "metadata");
    switch (k) {
    case ST_CHECKOUT:
        details = child_obj(obj, "customer_details");
        f->emails[0] = cx_json_str(details, "email");
        f->emails[1] = cx_json_str(obj, "customer_email");
        f->phone = cx_json_str(details, "phone");
        f->name = cx_json_str(details, "name");
        f->client_ref = cx_json_str(obj, "client_reference_id");
        pi = id_of(obj, "payment_intent");
        invoice = id_of(obj, "invoice");
        status = cx_json_str(obj, "payment_status");
        /* "unpaid" (a delayed method still pending) and "no_payment_required" move no
         * money: the session still brings identities and a touch, but no revenue. */
        if (status && strcmp(status, "paid") != 0) {
            f->kind = "custom";
            break;
        }
        if (money(obj, "amount_total", f, type, evt_id, err) != 0)
            return CX_NORM_POISON;
        break;
    case ST_PAYMENT_INTENT: {
        const cJSON *charges = cx_json_arr(cx_json_obj(obj, "charges"), "data");

        f->emails[0] = cx_json_str(obj, "receipt_email");
        /* API versions before 2022-11-15 embed the charges; their billing email is
         * the only email a bare PaymentIntent carries. */
        if (charges && cJSON_GetArraySize(charges) > 0)
            f->emails[1] = cx_json_str(
                cx_json_obj(cJSON_GetArrayItem(charges, 0), "billing_details"), "email");
        pi = cx_json_str(obj, "id");
        if (money(obj,
                  cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, "amount_received"))
                      ? "amount_received"
                      : "amount",
                  f, type, evt_id, err) != 0)
            return CX_NORM_POISON;
        break;
    }
    case ST_INVOICE:
        f->emails[0] = cx_json_str(obj, "customer_email");
        f->phone = cx_json_str(obj, "customer_phone");
        f->name = cx_json_str(obj, "customer_name");
        /* Subscription metadata moved from subscription_details to
         * parent.subscription_details in API 2025-03-31; read both. */
        f->metas[1] = child_obj(child_obj(obj, "subscription_details"), "metadata");
        f->metas[2] =
            child_obj(child_obj(child_obj(obj, "parent"), "subscription_details"), "metadata");
        pi = cx_json_str(obj, "payment_intent");
        invoice = cx_json_str(obj, "id");
        if (money(obj, "amount_paid", f, type, evt_id, err) != 0)
            return CX_NORM_POISON;
        break;
    case ST_REFUND:
        billing = child_obj(obj, "billing_details");
        f->kind = "refund";
        f->emails[0] = cx_json_str(billing, "email");
        f->emails[1] = cx_json_str(obj, "receipt_email");
        f->phone = cx_json_str(billing, "phone");
        f->name = cx_json_str(billing, "name");
        pi = id_of(obj, "payment_intent");
        if (money(obj, "amount_refunded", f, type, evt_id, err) != 0)
            return CX_NORM_POISON;
        /* amount_refunded is cumulative; this event refunded the increase. */
        if (cx_json_int(child_obj(child_obj(root, "data"), "previous_attributes"),
                        "amount_refunded", &before) != 0)
            before = 0;
        if (before < 0 || before > f->amount) {
            cx_fail(err, "stripe %s %s: amount_refunded went down", type, evt_id);
            return CX_NORM_POISON;
        }
        f->amount -= before;
        if (f->amount == 0)
            return CX_NORM_SKIP;
        break;
    }
    /* A zero payment (trial invoice, 100% coupon) is no revenue and no "paid" stage. */
    if (strcmp(f->kind, "payment") == 0 && f->amount == 0)
        f->kind = "custom";
    if (strcmp(f->kind, "custom") == 0)
        f->has_amount = 0;
    /* DESIGN §3: the PaymentIntent id, else the invoice, else the object itself. */
    f->key = pi ? pi : invoice ? invoice : cx_json_str(obj, "id");
    return CX_NORM_OK;
}

static void add_anon_from_json(struct cx_event *ev, const struct cx_source *src, cJSON *meta)
{
    const char *anon = cx_json_str(meta, "jd_aid");

    if (!anon)
        anon = cx_json_str(meta, "anon");
    if (anon)
        (void)cx_event_add_identity(ev, src, "anon", anon);
}

/* client_reference_id is one merchant-chosen string (≤ 200 chars): either urlencoded
 * pairs ("jd_aid=a_..&utm_source=..") or just our click tracker's anonymous id. */
static void apply_client_ref(struct cx_event *ev, const struct cx_source *src, const char *ref)
{
    struct cx_form f;
    const char *anon;

    if (!ref)
        return;
    if (!strchr(ref, '=')) {
        if (strncmp(ref, "a_", 2) == 0)
            (void)cx_event_add_identity(ev, src, "anon", ref);
        return;
    }
    if (cx_form_parse(&f, ref, strlen(ref)) == 0) {
        cx_event_set_touch(ev, src, cx_form_getter, &f);
        anon = cx_form_get(&f, "jd_aid");
        if (!anon || !anon[0])
            anon = cx_form_get(&f, "anon");
        if (anon && anon[0])
            (void)cx_event_add_identity(ev, src, "anon", anon);
    }
    cx_form_free(&f);
}

static void set_attrs(struct cx_event *ev, const struct stripe_fields *f, const char *type)
{
    char name[CX_TEXT_MAX];
    cJSON *o;

    if (!f->name && strcmp(f->kind, "custom") != 0)
        return;
    o = cJSON_CreateObject();
    if (!o)
        return;
    if (f->name) {
        cx_copy_text(name, sizeof name, f->name);
        if (!cJSON_AddStringToObject(o, "name", name))
            goto out;
    }
    if (strcmp(f->kind, "custom") == 0 && !cJSON_AddStringToObject(o, "stripe_type", type))
        goto out;
    /* Attributes that do not fit, or no memory to print them: the event goes without. */
    (void)cx_event_put_attrs(ev, o);
out:
    cJSON_Delete(o);
}

/* Every Stripe event carries `created`; without a usable one the event's place in the
 * journey would depend on when it arrived, so it is refused rather than guessed. */
static int event_time_ms(const cJSON *root, const cJSON *obj, int64_t *ms)
{
    int64_t created;

    if ((cx_json_int(root, "created", &created) == 0 ||
         cx_json_int(obj, "created", &created) == 0) &&
        created > 0 && created <= STRIPE_MAX_CREATED) {
        *ms = created * 1000;
        return 0;
    }
    return -1;
}

static enum cx_result stripe_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                       const struct cx_fetched *fetched, struct cx_event_list *out,
                                       struct cx_fetch_list *need, struct cx_err *err)
{
    (void)fetched; /* never enriched: the webhook carries everything */
    (void)need;
    struct stripe_fields f;
    struct cx_event *ev;
    cJSON *root, *obj;
    const char *evt_id, *type;
    enum cx_result rc = CX_NORM_POISON;
    size_t i, n0 = out->n;

    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "stripe: body is not a JSON object");
        goto out;
    }
    evt_id = cx_json_str(root, "id");
    type = cx_json_str(root, "type");
    if (!evt_id || !type) {
        cx_fail(err, "stripe: event without id or type");
        goto out;
    }
    for (i = 0; i < sizeof handled / sizeof handled[0]; i++)
        if (strcmp(type, handled[i].type) == 0)
            break;
    if (i == sizeof handled / sizeof handled[0]) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    obj = child_obj(child_obj(root, "data"), "object");
    if (!obj) {
        cx_fail(err, "stripe %s %s: no data.object", type, evt_id);
        goto out;
    }
    rc = extract(handled[i].kind, root, obj, type, evt_id, &f, err);
    if (rc != CX_NORM_OK)
        goto out;
    rc = CX_NORM_POISON;
    ev = cx_list_add(out, src, raw);
    if (!ev) {
        cx_fail(err, "stripe %s: out of memory", evt_id);
        goto out;
    }
    if (cx_event_set_id(ev, "stripe:%s", evt_id) != 0) {
        cx_fail(err, "stripe: event id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, f.kind);
    if (event_time_ms(root, obj, &ev->at_ms) != 0) {
        cx_fail(err, "stripe %s: no usable 'created' time", evt_id);
        goto out;
    }
    if (f.has_amount) {
        ev->has_amount = 1;
        ev->amount_minor = f.amount;
        memcpy(ev->currency, f.currency, sizeof ev->currency);
    }
    if (strcmp(f.kind, "custom") != 0 && f.key) {
        if (strlen(f.key) >= sizeof ev->payment_key) {
            cx_fail(err, "stripe %s: payment key too long", evt_id);
            goto out;
        }
        cx_copy_text(ev->payment_key, sizeof ev->payment_key, f.key);
    }
    for (i = 0; i < sizeof f.emails / sizeof f.emails[0]; i++)
        if (f.emails[i])
            (void)cx_event_add_identity(ev, src, "email", f.emails[i]);
    if (f.phone)
        (void)cx_event_add_identity(ev, src, "phone", f.phone);
    if (f.customer)
        (void)cx_event_add_identity(ev, src, "stripe_customer", f.customer);
    for (i = 0; i < sizeof f.metas / sizeof f.metas[0]; i++) {
        if (!f.metas[i])
            continue;
        cx_event_set_touch(ev, src, cx_json_getter, f.metas[i]);
        add_anon_from_json(ev, src, f.metas[i]);
    }
    apply_client_ref(ev, src, f.client_ref);
    set_attrs(ev, &f, type);
    rc = CX_NORM_OK;
out:
    return cx_norm_end(rc, out, n0, NULL, root);
}

const struct cx_connector cx_stripe = {
    .type = "stripe",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = stripe_verify,
    .normalize = stripe_normalize,
};
