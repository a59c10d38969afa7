/*
 * Meta Conversions API for CRM (Conversion Leads): `type = meta_capi`.
 *
 * Follows developers.facebook.com/documentation/ads-commerce/conversions-api/
 * conversion-leads-integration/payload-specification: every stage change of a contact that
 * came from a Meta lead ad is an event whose event_name is the CRM stage, with
 * action_source "system_generated", custom_data {event_source: "crm", lead_event_source},
 * user_data.lead_id (the leadgen id, a number, never hashed) and hashed contact data; "if a
 * lead reaches the final Converted stage, then all previous stages should have been sent
 * beforehand", so a jump (lead → won) sends the mapped stages in between too, earlier first.
 * A payment of a contact with a Meta click (fbclid) is a Purchase with value and currency
 * and fbc. event_id is the dedup key Meta drops a second copy by; it is derived from the
 * lead id and stage (or the payment key), so a redelivery or a second message naming the
 * same stage has no second effect.
 *
 * POST <api_base>/<pixel_id>/events, the token in the Authorization header (never in the
 * URL, which the outbox may log).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ads.h"
#include "common.h"
#include "stage.h"

#define META_API_BASE "https://graph.facebook.com/v25.0"
/* Meta refuses a whole batch holding an event older than 7 days (Using the API: "Upload
 * Time versus Event Transaction Time"). */
#define META_MAX_AGE_S (7 * 86400)
#define META_DEFAULT_STAGES                                                                        \
    "lead:Lead, qualified:Marketing Qualified Lead, opportunity:Sales Opportunity, won:Converted"
#define META_LEAD_EVENT_SOURCE "journeyd"
/* Sent in dry-run mode: Meta validates the payload and answers its errors; the events are
 * marked as test events (docs/providers/meta_capi.md says what that does and does not). */
#define META_DRY_RUN_CODE "JOURNEYD_DRY_RUN"
#define META_MAX_EVENTS 8

static void say(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

/* The first identity of `type` in facts.identities, or NULL. */
static const char *identity(const cJSON *facts, const char *type)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(facts, "identities");
    const cJSON *id;

    cJSON_ArrayForEach(id, ids)
    {
        const char *t = cx_json_str(id, "type");
        if (t && strcmp(t, type) == 0)
            return cx_json_str(id, "value");
    }
    return NULL;
}

static const char *click_id(const cJSON *facts, const char *name)
{
    return cx_json_str(cx_json_obj(facts, "click_ids"), name);
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

/* Hashes `norm` into a one-element array member `key` of user_data. 0 / -1. */
static int put_hashed(cJSON *user_data, const char *key, const char *norm)
{
    char hex[DST_HASH_HEX];
    cJSON *arr;

    if (dst_sha256_hex(norm, strlen(norm), hex) != 0)
        return -1;
    arr = cJSON_AddArrayToObject(user_data, key);
    if (!arr || !cJSON_AddItemToArray(arr, cJSON_CreateString(hex)))
        return -1;
    return 0;
}

/* user_data for every event of the message: lead_id (unhashed number, as Meta asks), then
 * em, ph, fn, ln, external_id hashed. Values that do not normalize are left out. */
static cJSON *user_data(const cJSON *facts)
{
    cJSON *ud = cJSON_CreateObject();
    const char *lead = identity(facts, "meta_lead");
    const char *email = identity(facts, "email");
    const char *phone = identity(facts, "phone");
    const char *name = cx_json_str(facts, "name");
    const char *contact = cx_json_str(facts, "contact");
    char norm[512];

    if (!ud)
        return NULL;
    if (lead) {
        /* Lead ids are 15–17 digits, beyond 2^53 at the top: written as the digits, never
         * through a double. */
        size_t i, n = strlen(lead);
        int digits = n > 0 && n <= 20;
        for (i = 0; digits && i < n; i++)
            digits = lead[i] >= '0' && lead[i] <= '9';
        if (digits ? !cJSON_AddRawToObject(ud, "lead_id", lead)
                   : !cJSON_AddStringToObject(ud, "lead_id", lead))
            goto fail;
    }
    if (email && dst_meta_norm_email(email, norm, sizeof norm) == 0 &&
        put_hashed(ud, "em", norm) != 0)
        goto fail;
    if (phone && dst_meta_norm_phone(phone, norm, sizeof norm) == 0 &&
        put_hashed(ud, "ph", norm) != 0)
        goto fail;
    if (name) {
        /* The first word is the first name, the rest the last name ("Giulia Rossi Bianchi"
         * → fn giulia, ln rossi bianchi). */
        char first[256], last[256];
        const char *sp;
        while (*name == ' ')
            name++;
        sp = strchr(name, ' ');
        if (sp && (size_t)(sp - name) < sizeof first) {
            memcpy(first, name, (size_t)(sp - name));
            first[sp - name] = '\0';
            snprintf(last, sizeof last, "%s", sp + 1);
        } else {
            snprintf(first, sizeof first, "%s", name);
            last[0] = '\0';
        }
        if (dst_meta_norm_name(first, norm, sizeof norm) == 0 && put_hashed(ud, "fn", norm) != 0)
            goto fail;
        if (last[0] && dst_meta_norm_name(last, norm, sizeof norm) == 0 &&
            put_hashed(ud, "ln", norm) != 0)
            goto fail;
    }
    if (contact && put_hashed(ud, "external_id", contact) != 0)
        goto fail;
    return ud;
fail:
    cJSON_Delete(ud);
    return NULL;
}

int dst_meta_fbc(const char *fbclid, int64_t creation_ms, char *out, size_t cap)
{
    int n;

    /* fbp-and-fbc: "fb.${subdomain_index}.${creation_time}.${fbclid}", version "fb",
     * subdomain index 1 (the registrable domain), creation time in milliseconds, the
     * fbclid as received (case-sensitive: never lowered). */
    if (!fbclid || !*fbclid || creation_ms < 0 || !cx_text_usable(fbclid, strlen(fbclid)))
        return -1;
    n = snprintf(out, cap, "fb.1.%lld.%s", (long long)creation_ms, fbclid);
    return (n > 0 && (size_t)n < cap) ? 0 : -1;
}

static cJSON *base_event(const char *event_name, int64_t event_time, const char *event_id,
                         const cJSON *ud)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON *udc = cJSON_Duplicate(ud, 1);

    if (!ev || !udc || !cJSON_AddStringToObject(ev, "event_name", event_name) ||
        !cJSON_AddNumberToObject(ev, "event_time", (double)event_time) ||
        !cJSON_AddStringToObject(ev, "event_id", event_id) ||
        !cJSON_AddStringToObject(ev, "action_source", "system_generated")) {
        cJSON_Delete(ev);
        cJSON_Delete(udc);
        return NULL;
    }
    cJSON_AddItemToObject(ev, "user_data", udc);
    return ev;
}

/* The CRM events for the stages newly reached: every rank above previous_stage up to stage
 * that the mapping names, earlier first. Returns how many were added, or -1. */
static int add_stage_events(cJSON *data, const struct dst_config *cfg, const cJSON *facts,
                            const cJSON *ud, const char *lead, int64_t event_time)
{
    const char *map = cfg->stages && *cfg->stages ? cfg->stages : META_DEFAULT_STAGES;
    int to = stage_rank(cx_json_str(facts, "stage"));
    int from = stage_rank(cx_json_str(facts, "previous_stage"));
    int r, added = 0;
    const cJSON *stages = cx_json_arr(facts, "stages");

    if (!cx_json_str(facts, "previous_stage")) {
        /* Without the stage before, the newly reached list says where the jump began. */
        const cJSON *first = cJSON_GetArrayItem(stages, 0);
        from = cJSON_IsString(first) ? stage_rank(first->valuestring) - 1 : to - 1;
    }
    if (from < 0)
        from = 0;
    for (r = from + 1; r <= to; r++) {
        char name[128], id[DST_DEDUP_MAX];
        cJSON *ev, *cd;
        if (cx_stage_map_lookup(map, stage_name(r), name, sizeof name) != 0)
            continue;
        if (cJSON_GetArraySize(data) >= META_MAX_EVENTS)
            return -1;
        snprintf(id, sizeof id, "jd.%s.%s", lead, stage_name(r));
        ev = base_event(name, event_time, id, ud);
        if (!ev)
            return -1;
        cd = cJSON_AddObjectToObject(ev, "custom_data");
        if (!cd || !cJSON_AddStringToObject(cd, "event_source", "crm") ||
            !cJSON_AddStringToObject(cd, "lead_event_source", META_LEAD_EVENT_SOURCE)) {
            cJSON_Delete(ev);
            return -1;
        }
        cJSON_AddItemToArray(data, ev);
        added++;
    }
    return added;
}

static int add_purchase(cJSON *data, const cJSON *facts, const cJSON *ud, int64_t event_time,
                        int64_t at_ms, char *why, size_t whylen)
{
    const cJSON *amount = cx_json_obj(facts, "amount");
    const char *fbclid = click_id(facts, "fbclid");
    const char *cur = cx_json_str(amount, "currency");
    const char *key = cx_json_str(facts, "payment_key");
    int64_t minor = 0, click_ms = at_ms;
    char value[40], fbc[600], id[DST_DEDUP_MAX];
    cJSON *ev, *cd, *udc;
    const char *click_at = cx_json_str(facts, "click_at");

    if (!fbclid)
        return 0;
    if (!key)
        key = cx_json_str(facts, "event");
    if (!cur || !key || cx_json_int(amount, "minor", &minor) != 0 || minor <= 0 ||
        dst_minor_to_decimal(minor, cur, value, sizeof value) != 0) {
        say(why, whylen, "payment without a usable amount or payment key");
        return -1;
    }
    /* fbc's creation time is when the fbclid was first seen: the click's time when the
     * outbox knows it, else the payment's. */
    if (click_at && cx_parse_rfc3339(click_at, &click_ms) != 0)
        click_ms = at_ms;
    if (dst_meta_fbc(fbclid, click_ms, fbc, sizeof fbc) != 0) {
        say(why, whylen, "fbclid not usable");
        return -1;
    }
    snprintf(id, sizeof id, "jd.pay.%s", key);
    ev = base_event("Purchase", event_time, id, ud);
    if (!ev)
        return -1;
    udc = cJSON_GetObjectItemCaseSensitive(ev, "user_data");
    cd = cJSON_AddObjectToObject(ev, "custom_data");
    if (!cJSON_AddStringToObject(udc, "fbc", fbc) || !cd ||
        !cJSON_AddRawToObject(cd, "value", value) ||
        !cJSON_AddStringToObject(cd, "currency", cur)) {
        cJSON_Delete(ev);
        return -1;
    }
    cJSON_AddItemToArray(data, ev);
    return 1;
}

cJSON *dst_meta_request(const struct dst_config *cfg, const cJSON *facts, int64_t now_s,
                        const char *test_event_code, char *why, size_t whylen)
{
    const char *kind = cx_json_str(facts, "kind");
    const char *at = cx_json_str(facts, "at");
    const char *lead = identity(facts, "meta_lead");
    int64_t at_ms = 0, event_time;
    cJSON *root = NULL, *data, *ud = NULL;
    int n = 0;

    if (!cJSON_IsObject(facts) || !at || cx_parse_rfc3339(at, &at_ms) != 0) {
        say(why, whylen, "facts without a valid \"at\"");
        return NULL;
    }
    if (dst_facts_consent_refused(facts, NULL)) {
        say(why, whylen, "consent for advertising refused");
        return NULL;
    }
    event_time = at_ms / 1000;
    if (event_time > now_s)
        event_time = now_s; /* Meta refuses events from the future */
    if (event_time < now_s - META_MAX_AGE_S) {
        say(why, whylen, "older than the 7 days Meta accepts");
        return NULL;
    }
    root = cJSON_CreateObject();
    data = root ? cJSON_AddArrayToObject(root, "data") : NULL;
    ud = user_data(facts);
    if (!data || !ud)
        goto fail;
    if (lead && add_stage_events(data, cfg, facts, ud, lead, event_time) < 0)
        goto fail;
    if (kind && (strcmp(kind, "payment") == 0)) {
        int p = add_purchase(data, facts, ud, event_time, at_ms, why, whylen);
        if (p < 0)
            goto skip;
    }
    n = cJSON_GetArraySize(data);
    if (n == 0) {
        say(why, whylen,
            lead ? "no mapped stage newly reached" : "not from a Meta lead ad and no fbclid");
        goto skip;
    }
    if (test_event_code && !cJSON_AddStringToObject(root, "test_event_code", test_event_code))
        goto fail;
    cJSON_Delete(ud);
    return root;
fail:
    say(why, whylen, "out of memory or too many stages");
skip:
    cJSON_Delete(ud);
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

static int meta_check(const struct dst_config *cfg, char *why, size_t whylen)
{
    const char *p = cfg->pixel_id;

    if (!p || !*p || strspn(p, "0123456789") != strlen(p)) {
        say(why, whylen, "pixel_id must be the dataset's numeric id");
        return -1;
    }
    return 0;
}

static enum dst_build_result meta_build(const struct dst_config *cfg, const struct dst_message *msg,
                                        const struct dst_context *ctx, struct dst_request *out,
                                        char *why, size_t whylen)
{
    cJSON *facts =
        cx_json_parse((const unsigned char *)msg->facts, msg->facts_len, CX_JSON_MAX_DEPTH);
    cJSON *req = NULL;
    const char *base = cfg->api_base && *cfg->api_base ? cfg->api_base : META_API_BASE;
    enum dst_build_result r = DST_INVALID;
    char *body = NULL;
    int n;

    memset(out, 0, sizeof *out);
    if (!facts) {
        say(why, whylen, "facts are not JSON");
        goto out;
    }
    /* One event leaves one contact.stage_changed and, when it pays, one contact.paid, both
     * with the same facts: the first sends the CRM stages, the second the Purchase, so no
     * event_id goes out twice. */
    if (msg->kind && strcmp(msg->kind, DST_PAID) == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(facts, "stage");
        cJSON_DeleteItemFromObjectCaseSensitive(facts, "stages");
    } else if (cJSON_GetObjectItemCaseSensitive(facts, "kind") &&
               !cJSON_ReplaceItemInObjectCaseSensitive(facts, "kind",
                                                       cJSON_CreateString("stage_change"))) {
        say(why, whylen, "out of memory");
        goto out;
    }
    req = dst_meta_request(cfg, facts, ctx->now_s,
                           cfg->test_event_code && *cfg->test_event_code ? cfg->test_event_code
                           : cfg->dry_run                                ? META_DRY_RUN_CODE
                                                                         : NULL,
                           why, whylen);
    if (!req) {
        r = DST_SKIP;
        goto out;
    }
    body = cJSON_PrintUnformatted(req);
    n = snprintf(out->url, sizeof out->url, "%s/%s/events", base, cfg->pixel_id);
    if (!body || n < 0 || (size_t)n >= sizeof out->url || !cfg->access_token ||
        add_header(out, "Content-Type", "application/json") != 0 ||
        add_header(out, "Authorization", "Bearer") != 0) {
        say(why, whylen, "request does not fit");
        goto out;
    }
    /* The token goes in after the fixed part so a too long token fails cleanly. */
    n = snprintf(out->headers[out->nheaders - 1], DST_HEADER_MAX, "Authorization: Bearer %s",
                 cfg->access_token);
    if (n < 0 || n >= DST_HEADER_MAX) {
        say(why, whylen, "access token too long");
        goto out;
    }
    snprintf(out->method, sizeof out->method, "POST");
    /* The outbox's key when it decided one, else the first event's event_id. */
    snprintf(out->dedup, sizeof out->dedup, "%s",
             msg->dedup && *msg->dedup
                 ? msg->dedup
                 : cx_json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(req, "data"), 0),
                               "event_id"));
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

static const char *const meta_needs[] = {"pixel_id", "access_token", NULL};
/* Not lead.created: contact.stage_changed also goes out when a contact becomes a lead, and
 * sends its Lead stage. */
static const char *const meta_events[] = {DST_STAGE_CHANGED, DST_PAID, NULL};

const struct dst_type dst_meta_capi = {
    .type = "meta_capi",
    .dry_run_sends = 1,
    .ordered = 1,
    .needs = meta_needs,
    .default_events = meta_events,
    .check = meta_check,
    .build = meta_build,
};
