/*
 * Google Ads through the Data Manager API: `type = google_data_manager`.
 *
 * POST <api_base>/events:ingest (developers.google.com/data-manager/api/reference/rest/v1/
 * events/ingest) with one Event per message: a payment as an offline conversion of the
 * configured `conversion_action`, and each configured stage newly reached (`stages =
 * qualified:<conversion action id>, …`) as a conversion of its own action, every one
 * addressed through a destination reference. Google requires exactly one click id per
 * event: gclid when the contact has one, else gbraid, else wbraid; a contact with none is
 * skipped (hashed e-mail and phone alone would be enhanced conversions for leads, which
 * this destination does not claim to do).
 *
 * transactionId is the dedup key: the payment key for payments (so a refund can address
 * the same conversion), "jd-<stage>-<hash of the click id>" for stages. A refund is sent as
 * an adjustment (…/devguides/events/google-ads/conversion-adjustments): the same
 * transactionId and conversion action with the conversion's remaining value, which Google
 * "overwrites" in reporting and bidding "without increasing the conversion count". The
 * Data Manager API has no retraction: a full refund restates the value to 0 and the
 * conversion still counts once (docs/providers/google_data_manager.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ads.h"
#include "common.h"
#include "stage.h"

#define GOOGLE_API_BASE "https://datamanager.googleapis.com/v1"
#define GOOGLE_MAX_STAGES 6

static void say(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

static const char *identity(const cJSON *facts, const char *type)
{
    const cJSON *id;

    cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(facts, "identities"))
    {
        const char *t = cx_json_str(id, "type");
        if (t && strcmp(t, type) == 0)
            return cx_json_str(id, "value");
    }
    return NULL;
}

static int stage_rank(const char *s)
{
    static const char *const names[] = {
#define STAGE_NAME_(name, str) str,
        JD_STAGES(STAGE_NAME_)
#undef STAGE_NAME_
    };
    size_t i;

    for (i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i + 1;
    return 0;
}

static const char *stage_name(int rank)
{
    static const char *const names[] = {
#define STAGE_NAME_(name, str) str,
        JD_STAGES(STAGE_NAME_)
#undef STAGE_NAME_
    };
    return (rank >= 1 && rank <= (int)(sizeof names / sizeof names[0])) ? names[rank - 1] : NULL;
}

/* Digits only ("123-456-7890" as the Google Ads UI shows it → "1234567890"). */
static int account_digits(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    for (; in && *in; in++) {
        if (*in == '-' || *in == ' ')
            continue;
        if (*in < '0' || *in > '9' || n + 1 >= cap)
            return -1;
        out[n++] = *in;
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

/* Adds a destination {reference, operatingAccount, productDestinationId}. */
static int add_destination(cJSON *dests, const char *ref, const char *account, const char *action)
{
    cJSON *d = cJSON_CreateObject(), *op;

    if (!d)
        return -1;
    cJSON_AddItemToArray(dests, d);
    if (!cJSON_AddStringToObject(d, "reference", ref))
        return -1;
    op = cJSON_AddObjectToObject(d, "operatingAccount");
    if (!op || !cJSON_AddStringToObject(op, "accountType", "GOOGLE_ADS") ||
        !cJSON_AddStringToObject(op, "accountId", account) ||
        !cJSON_AddStringToObject(d, "productDestinationId", action))
        return -1;
    return 0;
}

/* The parts every event of the message shares: adIdentifiers (one click id), userData
 * (hashed), consent. Returns 1 when userData was added (the request then needs
 * "encoding"), 0 without, -1 on failure. */
static int add_common(cJSON *ev, const cJSON *facts, const char *click_name, const char *click)
{
    cJSON *ad = cJSON_AddObjectToObject(ev, "adIdentifiers");
    const char *email = identity(facts, "email");
    const char *phone = identity(facts, "phone");
    char norm[512], hex[DST_HASH_HEX];
    cJSON *ids = NULL;
    int with_user = 0;

    if (!ad || !cJSON_AddStringToObject(ad, click_name, click))
        return -1;
    if (email && dst_google_norm_email(email, norm, sizeof norm) == 0) {
        cJSON *u = cJSON_CreateObject();
        if (!u || dst_sha256_hex(norm, strlen(norm), hex) != 0 ||
            !cJSON_AddStringToObject(u, "emailAddress", hex)) {
            cJSON_Delete(u);
            return -1;
        }
        ids = cJSON_CreateArray();
        if (!ids) {
            cJSON_Delete(u);
            return -1;
        }
        cJSON_AddItemToArray(ids, u);
    }
    if (phone && dst_google_norm_phone(phone, norm, sizeof norm) == 0) {
        cJSON *u = cJSON_CreateObject();
        if (!ids)
            ids = cJSON_CreateArray();
        if (!u || !ids || dst_sha256_hex(norm, strlen(norm), hex) != 0 ||
            !cJSON_AddStringToObject(u, "phoneNumber", hex)) {
            cJSON_Delete(u);
            cJSON_Delete(ids);
            return -1;
        }
        cJSON_AddItemToArray(ids, u);
    }
    if (ids) {
        cJSON *ud = cJSON_AddObjectToObject(ev, "userData");
        if (!ud) {
            cJSON_Delete(ids);
            return -1;
        }
        cJSON_AddItemToObject(ud, "userIdentifiers", ids);
        with_user = 1;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(facts, "consent_granted"))) {
        cJSON *c = cJSON_AddObjectToObject(ev, "consent");
        if (!c || !cJSON_AddStringToObject(c, "adUserData", "CONSENT_GRANTED") ||
            !cJSON_AddStringToObject(c, "adPersonalization", "CONSENT_GRANTED"))
            return -1;
    }
    return with_user;
}

/* One event addressed to destination `ref`. */
static cJSON *new_event(cJSON *events, const char *ref, const char *transaction_id, const char *at)
{
    cJSON *ev = cJSON_CreateObject(), *refs;

    if (!ev)
        return NULL;
    cJSON_AddItemToArray(events, ev);
    refs = cJSON_AddArrayToObject(ev, "destinationReferences");
    if (!refs || !cJSON_AddItemToArray(refs, cJSON_CreateString(ref)) ||
        !cJSON_AddStringToObject(ev, "transactionId", transaction_id) ||
        !cJSON_AddStringToObject(ev, "eventTimestamp", at))
        return NULL;
    return ev;
}

/* A payment key as a transactionId: used as it is, except that Google refuses a purely
 * numeric one (a Shopify order id), which gets "order-" in front, the same for the payment
 * and its refunds. */
static void transaction_id(const char *key, char *out, size_t cap)
{
    if (strspn(key, "0123456789") == strlen(key))
        snprintf(out, cap, "order-%s", key);
    else
        snprintf(out, cap, "%s", key);
}

cJSON *dst_google_request(const struct dst_config *cfg, const cJSON *facts, char *why,
                          size_t whylen)
{
    static const char *const clicks[] = {"gclid", "gbraid", "wbraid"};
    const cJSON *click_ids = cx_json_obj(facts, "click_ids");
    const char *kind = cx_json_str(facts, "kind");
    const char *at = cx_json_str(facts, "at");
    const char *click = NULL, *click_name = NULL;
    char account[32], tid[DST_DEDUP_MAX], at_norm[32];
    cJSON *root = NULL, *dests, *events;
    int64_t at_ms;
    int with_user = 0, n = 0;
    size_t i;

    if (!cJSON_IsObject(facts) || !at || cx_parse_rfc3339(at, &at_ms) != 0) {
        say(why, whylen, "facts without a valid \"at\"");
        return NULL;
    }
    if (dst_facts_consent_refused(facts, NULL)) {
        say(why, whylen, "consent for advertising refused");
        return NULL;
    }
    for (i = 0; i < sizeof clicks / sizeof clicks[0] && !click; i++) {
        click = cx_json_str(click_ids, clicks[i]);
        click_name = clicks[i];
    }
    if (!click) {
        say(why, whylen, "no gclid, gbraid or wbraid");
        return NULL;
    }
    if (account_digits(cfg->customer_id, account, sizeof account) != 0) {
        say(why, whylen, "customer_id is not a Google Ads account id");
        return NULL;
    }
    /* RFC 3339 in UTC, as Google writes its own ("Z-normalized"). */
    cx_format_rfc3339(at_ms, at_norm);
    root = cJSON_CreateObject();
    dests = root ? cJSON_AddArrayToObject(root, "destinations") : NULL;
    events = root ? cJSON_AddArrayToObject(root, "events") : NULL;
    if (!dests || !events)
        goto fail;

    if (kind && (strcmp(kind, "payment") == 0 || strcmp(kind, "refund") == 0)) {
        const cJSON *amount =
            cx_json_obj(facts, strcmp(kind, "refund") == 0 ? "amount_remaining" : "amount");
        const char *key = cx_json_str(facts, "payment_key");
        const char *cur = cx_json_str(amount, "currency");
        int64_t minor = -1;
        char value[40];
        cJSON *ev;
        if (!key)
            key = cx_json_str(facts, "event");
        if (!cfg->conversion_action || !key || !cur || cx_json_int(amount, "minor", &minor) != 0 ||
            dst_minor_to_decimal(minor, cur, value, sizeof value) != 0) {
            say(why, whylen,
                strcmp(kind, "refund") == 0
                    ? "refund without the conversion's remaining value (amount_remaining)"
                    : "payment without a usable amount or payment key");
            goto skip;
        }
        transaction_id(key, tid, sizeof tid);
        if (add_destination(dests, "paid", account, cfg->conversion_action) != 0)
            goto fail;
        ev = new_event(events, "paid", tid, at_norm);
        if (!ev || !cJSON_AddRawToObject(ev, "conversionValue", value) ||
            !cJSON_AddStringToObject(ev, "currency", cur))
            goto fail;
        if ((with_user = add_common(ev, facts, click_name, click)) < 0)
            goto fail;
        n++;
    } else if (cfg->stages && *cfg->stages) {
        int to = stage_rank(cx_json_str(facts, "stage"));
        int from = cx_json_str(facts, "previous_stage")
                       ? stage_rank(cx_json_str(facts, "previous_stage"))
                       : to - 1;
        char action[64], click_hex[DST_HASH_HEX];
        int r;
        if (dst_sha256_hex(click, strlen(click), click_hex) != 0)
            goto fail;
        /* paid is the payment's own conversion, never a stage upload */
        for (r = from + 1; r <= to && r < stage_rank("paid"); r++) {
            cJSON *ev;
            int u;
            if (cx_stage_map_lookup(cfg->stages, stage_name(r), action, sizeof action) != 0)
                continue;
            if (n >= GOOGLE_MAX_STAGES)
                goto fail;
            /* A stage converts once per click: the same tid whoever sends it again. */
            snprintf(tid, sizeof tid, "jd-%s-%.24s", stage_name(r), click_hex);
            if (add_destination(dests, stage_name(r), account, action) != 0)
                goto fail;
            ev = new_event(events, stage_name(r), tid, at_norm);
            if (!ev || (u = add_common(ev, facts, click_name, click)) < 0)
                goto fail;
            with_user |= u;
            n++;
        }
    }
    if (n == 0) {
        say(why, whylen, "no payment and no configured stage newly reached");
        goto skip;
    }
    if (with_user && !cJSON_AddStringToObject(root, "encoding", "HEX"))
        goto fail;
    if (!cJSON_AddBoolToObject(root, "validateOnly", cfg->dry_run ? 1 : 0))
        goto fail;
    return root;
fail:
    say(why, whylen, "out of memory or too many stages");
skip:
    cJSON_Delete(root);
    return NULL;
}

/* ---- the destination type ---- */

static int add_header(struct dst_request *out, const char *name, const char *value)
{
    int n;

    if (out->nheaders >= DST_MAX_HEADERS)
        return -1;
    n = snprintf(out->headers[out->nheaders], DST_HEADER_MAX, "%s: %s", name, value);
    if (n < 0 || n >= DST_HEADER_MAX)
        return -1;
    out->nheaders++;
    return 0;
}

static int google_check(const struct dst_config *cfg, char *why, size_t whylen)
{
    char account[32];
    cJSON *sa;
    int ok;

    if (account_digits(cfg->customer_id, account, sizeof account) != 0) {
        say(why, whylen, "customer_id must be the Google Ads account id (digits, dashes allowed)");
        return -1;
    }
    sa = cfg->service_account ? cx_json_parse((const unsigned char *)cfg->service_account,
                                              strlen(cfg->service_account), 8)
                              : NULL;
    ok = sa && cx_json_str(sa, "client_email") && cx_json_str(sa, "private_key");
    cJSON_Delete(sa);
    if (!ok) {
        say(why, whylen, "service_account must be a key file with client_email and private_key");
        return -1;
    }
    return 0;
}

static enum dst_build_result google_auth(const struct dst_config *cfg, int64_t now_s,
                                         struct dst_request *out, char *why, size_t whylen)
{
    const char *url = cfg->token_url && *cfg->token_url ? cfg->token_url : DST_GOOGLE_TOKEN_URL;
    char *jwt, *body;
    int n;

    memset(out, 0, sizeof *out);
    jwt = dst_google_jwt(cfg->service_account,
                         cfg->service_account ? strlen(cfg->service_account) : 0, url, now_s, why,
                         whylen);
    if (!jwt)
        return DST_INVALID;
    body = dst_google_token_body(jwt);
    free(jwt);
    n = snprintf(out->url, sizeof out->url, "%s", url);
    if (!body || n < 0 || (size_t)n >= sizeof out->url ||
        add_header(out, "Content-Type", "application/x-www-form-urlencoded") != 0) {
        free(body);
        say(why, whylen, "token request does not fit");
        return DST_INVALID;
    }
    snprintf(out->method, sizeof out->method, "POST");
    out->body = body;
    out->len = strlen(body);
    return DST_BUILT;
}

static enum dst_build_result google_build(const struct dst_config *cfg,
                                          const struct dst_message *msg,
                                          const struct dst_context *ctx, struct dst_request *out,
                                          char *why, size_t whylen)
{
    cJSON *facts =
        cx_json_parse((const unsigned char *)msg->facts, msg->facts_len, CX_JSON_MAX_DEPTH);
    cJSON *req = NULL;
    const char *base = cfg->api_base && *cfg->api_base ? cfg->api_base : GOOGLE_API_BASE;
    enum dst_build_result r = DST_INVALID;
    char *body = NULL;
    int n;

    memset(out, 0, sizeof *out);
    if (!facts) {
        say(why, whylen, "facts are not JSON");
        goto out;
    }
    /* A payment's event leaves a contact.stage_changed too, with the same facts: that one
     * sends the configured stages only, the contact.paid one the conversion. */
    if (msg->kind && strcmp(msg->kind, DST_STAGE_CHANGED) == 0 &&
        cJSON_GetObjectItemCaseSensitive(facts, "kind") &&
        !cJSON_ReplaceItemInObjectCaseSensitive(facts, "kind",
                                                cJSON_CreateString("stage_change"))) {
        say(why, whylen, "out of memory");
        goto out;
    }
    req = dst_google_request(cfg, facts, why, whylen);
    if (!req) {
        r = DST_SKIP;
        goto out;
    }
    if (!ctx->access_token) {
        say(why, whylen, "no access token");
        goto out;
    }
    body = cJSON_PrintUnformatted(req);
    n = snprintf(out->url, sizeof out->url, "%s/events:ingest", base);
    if (!body || n < 0 || (size_t)n >= sizeof out->url ||
        add_header(out, "Content-Type", "application/json") != 0) {
        say(why, whylen, "request does not fit");
        goto out;
    }
    if (out->nheaders >= DST_MAX_HEADERS ||
        (n = snprintf(out->headers[out->nheaders], DST_HEADER_MAX, "Authorization: Bearer %s",
                      ctx->access_token)) < 0 ||
        n >= DST_HEADER_MAX) {
        say(why, whylen, "access token too long");
        goto out;
    }
    out->nheaders++;
    snprintf(out->method, sizeof out->method, "POST");
    snprintf(out->dedup, sizeof out->dedup, "%s",
             cx_json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(req, "events"), 0),
                         "transactionId"));
    out->body = body;
    out->len = strlen(body);
    body = NULL;
    r = DST_BUILT;
out:
    free(body);
    cJSON_Delete(req);
    cJSON_Delete(facts);
    return r;
}

static const char *const google_needs[] = {"customer_id", "conversion_action", "service_account",
                                           NULL};
static const char *const google_events[] = {DST_STAGE_CHANGED, DST_PAID, DST_REFUNDED, NULL};

const struct dst_type dst_google_data_manager = {
    .type = "google_data_manager",
    .dry_run_sends = 1,
    .needs = google_needs,
    .default_events = google_events,
    .check = google_check,
    .auth = google_auth,
    .auth_parse = dst_google_token_parse,
    .build = google_build,
};
