/*
 * HubSpot (type "hubspot"): contacts, lifecycle stages, deals and deal stages.
 *
 * Signatures follow HubSpot's request-validation page (developers.hubspot.com, "Validating
 * requests") and the SDKs' implementations and tests (hubspot-api-nodejs
 * src/utils/signature.ts + test/unit/signature.spec.ts, hubspot-api-python
 * hubspot/utils/signature.py + tests/spec/utils/test_signature.py):
 *   v3  X-HubSpot-Signature-v3 = base64 HMAC-SHA256(client secret,
 *       method + URI + body + X-HubSpot-Request-Timestamp), refused when the timestamp (ms)
 *       is more than 5 minutes old (one-sided, as the SDKs check it);
 *   v2  X-HubSpot-Signature = hex SHA-256(secret + method + URI + body);
 *   v1  X-HubSpot-Signature = hex SHA-256(secret + body) (CRM object subscriptions still
 *       send v1, with X-HubSpot-Signature-Version: v1).
 * The URI is the public URL HubSpot called (src->public_url, plus "?query" when the request
 * had one: the docs say the URI must match the original request, query included).
 *
 * Bodies are JSON arrays of up to ~100 events (providers.md, HubSpot). They are thin (a
 * contact.creation carries no email), so with an api_token the contact or deal is read
 * from the CRM API through the daemon's look-ups (CX_NORM_NEED_FETCH). Creations and stage
 * moves are keyed on the object (build_event), so reconciliation's CRM search
 * (listing.c), which has no eventId, names the same events as the webhooks.
 *
 * Engagements (DESIGN §6b: a logged call, e-mail or meeting is the real first response)
 * come through HubSpot's generic webhook subscriptions (developers.hubspot.com "Create
 * generic webhook subscriptions"; changelog "Public Beta: Generic Webhook Subscriptions",
 * 2024-08): subscriptionType "object.creation" with objectTypeId "0-48" (call), "0-49"
 * (email) or "0-47" (meeting). Such a webhook names only the engagement, so it needs the
 * api_token: the look-up (CRM API v3 /crm/v3/objects/calls|emails|meetings/{id} with
 * associations=contacts) gives the contacts it was logged on and hubspot_owner_id, the
 * rep; without a token there is nothing to join and it is skipped. An e-mail the lead
 * sent (hs_email_direction INCOMING_EMAIL) is not the sales team's doing and is skipped
 * too. The generic format of contacts ("0-1") and deals ("0-3") reads like the legacy
 * contact.* and deal.* subscriptions.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HS_DEFAULT_TOLERANCE_S 300
#define HS_DEFAULT_API "https://api.hubapi.com"
/* public_url + '?' + query; a request URI longer than this is not one HubSpot sends. */
#define HS_URI_MAX 4096
/* Millisecond timestamps with more than 15 digits are past year 33000: garbage. */
#define HS_MAX_TS_DIGITS 15
/* 9999-12-31T23:59:59.999Z, the end of RFC 3339 time. */
#define HS_MAX_MS 253402300799999LL

/* ---- hashing over several parts (the signed strings are concatenations) ---- */

static int sha256_parts(const struct cx_bytes *parts, size_t n, unsigned char out[CX_SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outl = 0;
    size_t i;
    int rc = -1;

    if (!ctx)
        return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        goto out;
    for (i = 0; i < n; i++)
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) != 1)
            goto out;
    if (EVP_DigestFinal_ex(ctx, out, &outl) != 1 || outl != CX_SHA256_LEN)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- verify ---- */

/* The v3 instructions on HubSpot's validation page tell receivers to decode these escapes
 * in the URI before signing; the SDKs sign the URL as given. Both forms are tried, so a
 * URL with none of these escapes (the usual case) yields one candidate. */
static const struct {
    char hex[3];
    char c;
} uri_decodes[] = {
    {"3A", ':'},  {"2F", '/'}, {"3F", '?'}, {"40", '@'}, {"21", '!'}, {"24", '$'},
    {"27", '\''}, {"28", '('}, {"29", ')'}, {"2A", '*'}, {"2C", ','}, {"3B", ';'},
};

static size_t decode_uri(const char *in, size_t len, char *out)
{
    size_t i, o = 0, k;

    for (i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len) {
            for (k = 0; k < sizeof uri_decodes / sizeof uri_decodes[0]; k++)
                if (strncasecmp(in + i + 1, uri_decodes[k].hex, 2) == 0)
                    break;
            if (k < sizeof uri_decodes / sizeof uri_decodes[0]) {
                out[o++] = uri_decodes[k].c;
                i += 2;
                continue;
            }
        }
        out[o++] = in[i];
    }
    out[o] = '\0';
    return o;
}

/* The signed URI: the configured public URL, plus the query HubSpot sent. */
static int build_uri(const struct cx_source *src, const struct cx_input *in, char *out, size_t cap,
                     size_t *len)
{
    int n;

    if (!src->public_url || !src->public_url[0])
        return -1;
    if (in->query && in->query[0])
        n = snprintf(out, cap, "%s?%s", src->public_url, in->query);
    else
        n = snprintf(out, cap, "%s", src->public_url);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    *len = (size_t)n;
    return 0;
}

static int parse_ms(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i, len = strnlen(s, HS_MAX_TS_DIGITS + 1);

    if (len == 0 || len > HS_MAX_TS_DIGITS)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Compares a decoded signature with every candidate MAC: each secret, and each form of
 * the URI. No early exit, so the time taken does not tell which one matched. */
static int any_match(const unsigned char *sig, const unsigned char (*macs)[CX_SHA256_LEN], size_t n)
{
    size_t i;
    int match = 0;

    for (i = 0; i < n; i++)
        match |= CRYPTO_memcmp(sig, macs[i], CX_SHA256_LEN) == 0;
    return match;
}

enum hs_scheme { HS_V1, HS_V2, HS_V3 };

/* Builds every expected MAC for `scheme` (secrets × URI forms) and compares them with the
 * decoded signature. 1 match, 0 none, -1 when nothing could be computed. */
static int check_scheme(enum hs_scheme scheme, const struct cx_source *src,
                        const struct cx_input *in, const unsigned char sig[CX_SHA256_LEN],
                        const char *ts, struct cx_err *err)
{
    unsigned char macs[2 * CX_MAX_SECRETS][CX_SHA256_LEN];
    char uri[HS_URI_MAX], dec[HS_URI_MAX];
    const char *method = in->method && in->method[0] ? in->method : "POST";
    size_t ulen = 0, dlen = 0, nuris = 0, nmacs = 0, i, u;
    const char *uris[2];
    size_t ulens[2];
    int match;

    if (scheme != HS_V1) {
        if (build_uri(src, in, uri, sizeof uri, &ulen) != 0)
            return cx_fail(err, "hubspot: public_url not configured or request URI too long");
        uris[nuris] = uri;
        ulens[nuris++] = ulen;
        dlen = decode_uri(uri, ulen, dec);
        if (dlen != ulen) {
            uris[nuris] = dec;
            ulens[nuris++] = dlen;
        }
    } else {
        uris[nuris] = "";
        ulens[nuris++] = 0;
    }
    for (i = 0; i < src->nsecrets && i < CX_MAX_SECRETS; i++) {
        const char *secret = src->secrets[i];
        if (!secret || !secret[0])
            continue;
        for (u = 0; u < nuris; u++) {
            int rc;
            if (scheme == HS_V3) {
                struct cx_bytes parts[4] = {{method, strlen(method)},
                                            {uris[u], ulens[u]},
                                            {in->body, in->body_len},
                                            {ts, strlen(ts)}};
                rc = cx_hmac_sha256_parts(secret, strlen(secret), parts, 4, macs[nmacs]);
            } else {
                struct cx_bytes parts[4] = {{secret, strlen(secret)},
                                            {method, scheme == HS_V2 ? strlen(method) : 0},
                                            {uris[u], ulens[u]},
                                            {in->body, in->body_len}};
                rc = sha256_parts(parts, 4, macs[nmacs]);
            }
            if (rc != 0) {
                OPENSSL_cleanse(macs, sizeof macs);
                return cx_fail(err, "hubspot: hash computation failed");
            }
            nmacs++;
        }
    }
    if (nmacs == 0)
        return cx_fail(err, "hubspot: no secret configured");
    match = any_match(sig, (const unsigned char(*)[CX_SHA256_LEN])macs, nmacs);
    OPENSSL_cleanse(macs, sizeof macs);
    if (!match)
        cx_fail(err, "hubspot: %s signature does not match",
                scheme == HS_V3   ? "v3"
                : scheme == HS_V2 ? "v2"
                                  : "v1");
    return match;
}

static enum cx_verdict hubspot_verify(const struct cx_source *src, const struct cx_input *in,
                                      struct cx_reply *reply, struct cx_err *err)
{
    unsigned char sig[CX_SHA256_LEN];
    const char *v3, *legacy, *version, *ts;
    int has_url = src->public_url && src->public_url[0];
    int64_t t = 0, tolerance_ms, age;
    struct cx_json_top top = {.keys = NULL, .nkeys = 0};

    (void)reply;
    v3 = cx_header_get(in->headers, in->nheaders, "X-HubSpot-Signature-v3");
    legacy = cx_header_get(in->headers, in->nheaders, "X-HubSpot-Signature");
    if (v3 && (has_url || !legacy)) {
        /* v3 decides when it can be checked: it is the only version that covers a
         * timestamp, so falling back to v1 after a v3 failure would void the replay
         * window. */
        ts = cx_header_get(in->headers, in->nheaders, "X-HubSpot-Request-Timestamp");
        if (!ts || parse_ms(ts, &t) != 0) {
            cx_fail(err, "hubspot: missing or bad X-HubSpot-Request-Timestamp");
            return CX_BAD_SIGNATURE;
        }
        if (cx_base64_decode(v3, strlen(v3), sig, sizeof sig) != CX_SHA256_LEN) {
            cx_fail(err, "hubspot: X-HubSpot-Signature-v3 is not a base64 SHA-256 MAC");
            return CX_BAD_SIGNATURE;
        }
        if (check_scheme(HS_V3, src, in, sig, ts, err) != 1)
            return CX_BAD_SIGNATURE;
        tolerance_ms = (src->tolerance_s > 0 ? src->tolerance_s : HS_DEFAULT_TOLERANCE_S) * 1000;
        age = in->now_ms - t;
        if (age > tolerance_ms) {
            cx_fail(err, "hubspot: timestamp %" PRId64 " ms old (tolerance %" PRId64 " ms)", age,
                    tolerance_ms);
            return CX_STALE;
        }
    } else if (legacy) {
        enum hs_scheme scheme;

        /* v1 and v2 sign no timestamp: one captured delivery replays forever. Once v3 can
         * be checked (public_url), they are accepted only if the source asks for them. */
        if (has_url && !src->legacy_signatures) {
            cx_fail(err, "hubspot: v1/v2 signature refused (public_url is set, so v3 is "
                         "required; legacy_signatures = yes allows them)");
            return CX_BAD_SIGNATURE;
        }
        /* Without the version header the Node SDK's default, v1, applies. */
        version = cx_header_get(in->headers, in->nheaders, "X-HubSpot-Signature-Version");
        if (!version || strcasecmp(version, "v1") == 0) {
            scheme = HS_V1;
        } else if (strcasecmp(version, "v2") == 0) {
            scheme = HS_V2;
        } else {
            cx_fail(err, "hubspot: unknown X-HubSpot-Signature-Version");
            return CX_BAD_SIGNATURE;
        }
        if (cx_hex_decode(legacy, strlen(legacy), sig, sizeof sig) != CX_SHA256_LEN) {
            cx_fail(err, "hubspot: X-HubSpot-Signature is not a hex SHA-256");
            return CX_BAD_SIGNATURE;
        }
        if (check_scheme(scheme, src, in, sig, NULL, err) != 1)
            return CX_BAD_SIGNATURE;
    } else {
        cx_fail(err, "hubspot: no X-HubSpot-Signature-v3 or X-HubSpot-Signature header");
        return CX_BAD_SIGNATURE;
    }
    if (cx_json_check(in->body, in->body_len, CX_JSON_MAX_DEPTH, &top) != 0 || top.type != '[') {
        cx_fail(err, "hubspot: body is not a JSON array of events");
        return CX_BAD_REQUEST;
    }
    return CX_OK;
}

/* ---- normalize ---- */

enum hs_object { HS_CONTACT, HS_DEAL, HS_CALL, HS_EMAIL, HS_MEETING };
enum hs_change { HS_CREATION, HS_PROPERTY };

static const struct {
    const char *type;
    enum hs_object object;
    enum hs_change change;
} handled[] = {
    {"contact.creation", HS_CONTACT, HS_CREATION},
    {"contact.propertyChange", HS_CONTACT, HS_PROPERTY},
    {"deal.creation", HS_DEAL, HS_CREATION},
    {"deal.propertyChange", HS_DEAL, HS_PROPERTY},
};

/* The generic format (object.*) names the object by objectTypeId: HubSpot's ids of the
 * standard objects (contacts 0-1, deals 0-3, meetings 0-47, calls 0-48, emails 0-49), and
 * the CRM API v3 path of each. */
static const struct {
    const char *type_id, *path;
    enum hs_object object;
} objects[] = {
    {"0-1", "contacts", HS_CONTACT}, {"0-3", "deals", HS_DEAL},        {"0-48", "calls", HS_CALL},
    {"0-49", "emails", HS_EMAIL},    {"0-47", "meetings", HS_MEETING},
};

static int is_engagement(enum hs_object o)
{
    return o == HS_CALL || o == HS_EMAIL || o == HS_MEETING;
}

/* Which handled event a batch element is: 0 with *object and *change, else -1. */
static int classify(const cJSON *el, enum hs_object *object, enum hs_change *change,
                    const char **type)
{
    /* subscriptionType in current payloads, eventType in the legacy docs sample. */
    const char *t = cx_json_str(el, "subscriptionType"), *tid;
    size_t k;

    if (!t)
        t = cx_json_str(el, "eventType");
    if (!t)
        return -1;
    *type = t;
    for (k = 0; k < sizeof handled / sizeof handled[0]; k++)
        if (strcmp(t, handled[k].type) == 0) {
            *object = handled[k].object;
            *change = handled[k].change;
            return 0;
        }
    if (strcmp(t, "object.creation") == 0)
        *change = HS_CREATION;
    else if (strcmp(t, "object.propertyChange") == 0)
        *change = HS_PROPERTY;
    else
        return -1;
    tid = cx_json_str(el, "objectTypeId");
    for (k = 0; tid && k < sizeof objects / sizeof objects[0]; k++)
        if (strcmp(tid, objects[k].type_id) == 0) {
            *object = objects[k].object;
            /* An engagement's edits are not responses: its creation is. */
            return is_engagement(*object) && *change != HS_CREATION ? -1 : 0;
        }
    return -1;
}

#define HS_ID_MAX 32 /* HubSpot object ids are 64-bit integers: 20 digits at most */

/* One element of the batch that we handle. */
struct hs_item {
    const cJSON *el;
    const char *type;
    enum hs_object object;
    enum hs_change change;
    char object_id[HS_ID_MAX];
    int fetch;    /* index into the look-up list, -1 when not enriched */
    size_t index; /* position in the batch, for error messages */
};

/* One CRM object to read; the list order is the request order. */
struct hs_lookup {
    enum hs_object object;
    const char *id; /* points into an hs_item */
};

static const char *object_path(enum hs_object o)
{
    for (size_t k = 0; k < sizeof objects / sizeof objects[0]; k++)
        if (objects[k].object == o)
            return objects[k].path;
    return "objects";
}

static const char *object_name(enum hs_object o)
{
    return o == HS_CONTACT ? "contact" : o == HS_DEAL ? "deal" : object_path(o);
}

/* Journeyd stages a mapping may name, plus "lost" (kind deal_lost; DESIGN §9). */
static int usable_stage(const char *s)
{
    return cx_stage_rank(s) > 0 || strcmp(s, "lost") == 0;
}

/* Lifecycle stage → journeyd stage: the source's `stages` first, then DESIGN §9's
 * defaults. NULL when unmapped. */
static const char *lifecycle_stage(const struct cx_source *src, const char *value, char *buf,
                                   size_t cap)
{
    static const struct {
        const char *hs, *jd;
    } defaults[] = {
        {"lead", "lead"},
        {"marketingqualifiedlead", "qualified"},
        {"salesqualifiedlead", "qualified"},
        {"opportunity", "opportunity"},
        {"customer", "won"},
    };
    size_t i;

    if (!value || !value[0])
        return NULL;
    if (cx_stage_map_lookup(src->stages, value, buf, cap) == 0 && usable_stage(buf))
        return buf;
    for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (strcmp(value, defaults[i].hs) == 0)
            return defaults[i].jd;
    return NULL;
}

/* Deal stage → journeyd stage: closedwon → won, closedlost → lost, any other (or an
 * unknown one) → opportunity (DESIGN §9), unless `stages` says otherwise. */
static const char *deal_stage(const struct cx_source *src, const char *value, char *buf, size_t cap)
{
    if (value && value[0] && cx_stage_map_lookup(src->stages, value, buf, cap) == 0 &&
        usable_stage(buf))
        return buf;
    if (value && strcmp(value, "closedwon") == 0)
        return "won";
    if (value && strcmp(value, "closedlost") == 0)
        return "lost";
    return "opportunity";
}

/* Sets kind and stage from a mapped stage. Deals use the deal kinds for won and lost;
 * a lifecycle stage stays a stage change ("customer" → won is not a closed deal). */
static void set_stage(struct cx_event *ev, const char *stage, int is_deal)
{
    if (!stage) {
        cx_copy_text(ev->kind, sizeof ev->kind, "custom");
        return;
    }
    if (strcmp(stage, "lost") == 0) {
        cx_copy_text(ev->kind, sizeof ev->kind, "deal_lost");
        return;
    }
    cx_copy_text(ev->kind, sizeof ev->kind,
                 is_deal && strcmp(stage, "won") == 0 ? "deal_won" : "stage_change");
    cx_copy_text(ev->stage, sizeof ev->stage, stage);
}

/* Property values arrive as strings, but numbers and booleans are not unheard of. */
static const char *prop_text(const cJSON *o, const char *key, char *buf, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsString(v) && v->valuestring && v->valuestring[0])
        return v->valuestring;
    if (cJSON_IsNumber(v) && cx_json_id(o, key, buf, cap) == 0)
        return buf;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return NULL;
}

static int add_lookup(struct cx_fetch_list *need, const struct cx_source *src,
                      const struct hs_lookup *lk)
{
    const char *base = src->api_base && src->api_base[0] ? src->api_base : HS_DEFAULT_API;
    size_t blen = strlen(base);
    struct cx_fetch *f;
    int n;

    if (need->n >= CX_MAX_FETCHES)
        return -1;
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    f = &need->v[need->n];
    memset(f, 0, sizeof *f);
    /* The properties we read: identities, names and the stage; associations give a
     * deal's contact (CRM API v3, objects endpoints). */
    if (lk->object == HS_CONTACT)
        n = snprintf(f->url, sizeof f->url,
                     "%.*s/crm/v3/objects/contacts/%s"
                     "?properties=email,phone,firstname,lastname,lifecyclestage,"
                     "hubspot_owner_id",
                     (int)blen, base, lk->id);
    else if (lk->object == HS_DEAL)
        n = snprintf(f->url, sizeof f->url,
                     "%.*s/crm/v3/objects/deals/%s"
                     "?properties=dealstage,amount,deal_currency_code,dealname,pipeline,"
                     "hubspot_owner_id&associations=contacts",
                     (int)blen, base, lk->id);
    else
        /* An engagement: who logged it, which way an e-mail went, and its contacts. */
        n = snprintf(f->url, sizeof f->url,
                     "%.*s/crm/v3/objects/%s/%s"
                     "?properties=hubspot_owner_id,hs_email_direction,hs_call_direction"
                     "&associations=contacts",
                     (int)blen, base, object_path(lk->object), lk->id);
    if (n < 0 || (size_t)n >= sizeof f->url)
        return -1;
    n = snprintf(f->headers[0], sizeof f->headers[0], "Authorization: Bearer %s", src->api_token);
    if (n < 0 || (size_t)n >= sizeof f->headers[0])
        return -1;
    f->nheaders = 1;
    need->n++;
    return 0;
}

/* Applies a CRM answer to the event: identities from a contact, the contact of a deal,
 * and descriptive attributes. *deal_stage_out gets a fetched deal's stage. */
static void enrich(struct cx_event *ev, const struct cx_source *src, const struct hs_item *it,
                   const cJSON *answer, struct cx_attrs *attrs, const char **deal_stage_out)
{
    const cJSON *props = cx_json_obj(answer, "properties");
    char buf[HS_ID_MAX];
    const char *owner = prop_text(props, "hubspot_owner_id", buf, sizeof buf);

    if (owner && cx_all_digits(owner))
        (void)cx_event_set_owner(ev, owner);
    if (is_engagement(it->object)) {
        const cJSON *results =
            cx_json_arr(cx_json_obj(cx_json_obj(answer, "associations"), "contacts"), "results");
        const cJSON *first = cJSON_GetArrayItem(results, 0);
        /* The first contact it was logged on, as for a deal: hubspot_contact is a unique
         * type (DESIGN §4), so an event naming two contacts would record a conflict
         * instead of answering either lead. */
        if (cJSON_IsObject(first) && cx_json_id(first, "id", buf, sizeof buf) == 0 &&
            cx_all_digits(buf))
            (void)cx_event_add_identity(ev, src, "hubspot_contact", buf);
        (void)cx_attrs_put(attrs, "engagement", object_name(it->object));
        return;
    }
    if (it->object == HS_CONTACT) {
        (void)cx_event_add_identity(ev, src, "email", cx_json_str(props, "email"));
        (void)cx_event_add_identity(ev, src, "phone", cx_json_str(props, "phone"));
        (void)cx_attrs_put(attrs, "first_name", cx_json_str(props, "firstname"));
        (void)cx_attrs_put(attrs, "last_name", cx_json_str(props, "lastname"));
        (void)cx_attrs_put(attrs, "lifecyclestage", cx_json_str(props, "lifecyclestage"));
        return;
    }
    {
        const cJSON *results =
            cx_json_arr(cx_json_obj(cx_json_obj(answer, "associations"), "contacts"), "results");
        const cJSON *first = cJSON_GetArrayItem(results, 0);
        if (cJSON_IsObject(first) && cx_json_id(first, "id", buf, sizeof buf) == 0)
            (void)cx_event_add_identity(ev, src, "hubspot_contact", buf);
    }
    *deal_stage_out = cx_json_str(props, "dealstage");
    (void)cx_attrs_put(attrs, "deal_name", cx_json_str(props, "dealname"));
    (void)cx_attrs_put(attrs, "pipeline", cx_json_str(props, "pipeline"));
    (void)cx_attrs_put(attrs, "dealstage", cx_json_str(props, "dealstage"));
    /* A deal's amount is a forecast, not revenue (payments are): an attribute only. */
    (void)cx_attrs_put(attrs, "amount", prop_text(props, "amount", buf, sizeof buf));
    (void)cx_attrs_put(attrs, "currency", cx_json_str(props, "deal_currency_code"));
}

/* One canonical event for one batch element. 0, or -1 with err set. */
static int build_event(struct cx_event *ev, const struct cx_source *src, const struct hs_item *it,
                       const cJSON *answer, struct cx_err *err)
{
    size_t index = it->index;
    char portal[HS_ID_MAX], sub[HS_ID_MAX], evid[HS_ID_MAX], stagebuf[16], vbuf[HS_ID_MAX];
    const char *prop = cx_json_str(it->el, "propertyName");
    const char *value = prop_text(it->el, "propertyValue", vbuf, sizeof vbuf);
    const char *fetched_stage = NULL;
    int64_t occurred;
    struct cx_attrs attrs = {0};
    int n;

    if (cx_json_int(it->el, "occurredAt", &occurred) != 0 || occurred <= 0 || occurred > HS_MAX_MS)
        return cx_fail(err, "hubspot event %zu: missing or invalid occurredAt", index);
    /* A creation and a move of the funnel's stage property are keyed on the object, not on
     * the delivery: reconciliation's CRM search (listing.c) has no eventId to give back,
     * and must name the same event as the webhook. A retry carries the same object and
     * value, so it stays a duplicate; a stage entered twice counts once (the funnel reads
     * the first entry anyway). */
    if (it->change == HS_CREATION)
        n = snprintf(ev->id, sizeof ev->id, "hubspot:%s:%s:created", object_name(it->object),
                     it->object_id);
    else if (prop && value &&
             strcmp(prop, it->object == HS_CONTACT ? "lifecyclestage" : "dealstage") == 0)
        n = snprintf(ev->id, sizeof ev->id, "hubspot:%s:%s:%s:%s", object_name(it->object),
                     it->object_id, prop, value);
    else {
        /* Any other property change: the delivery's own key. eventId alone is not unique
         * (providers.md): portal, subscription, event id and occurredAt together are. */
        if (cx_json_id(it->el, "portalId", portal, sizeof portal) != 0 ||
            cx_json_id(it->el, "subscriptionId", sub, sizeof sub) != 0 ||
            cx_json_id(it->el, "eventId", evid, sizeof evid) != 0)
            return cx_fail(err, "hubspot event %zu: missing portalId, subscriptionId or eventId",
                           index);
        n = snprintf(ev->id, sizeof ev->id, "hubspot:%s:%s:%s:%" PRId64, portal, sub, evid,
                     occurred);
    }
    if (n < 0 || (size_t)n >= sizeof ev->id)
        return cx_fail(err, "hubspot event %zu: id too long", index);
    ev->at_ms = occurred;
    (void)cx_attrs_init(&attrs);
    (void)cx_attrs_put(&attrs, "hubspot_event", it->type);
    (void)cx_attrs_put(&attrs, "change_source", cx_json_str(it->el, "changeSource"));
    if (it->change == HS_PROPERTY) {
        (void)cx_attrs_put(&attrs, "property", prop);
        (void)cx_attrs_put(&attrs, "value", value);
    }
    if (it->object == HS_CONTACT) {
        (void)cx_event_add_identity(ev, src, "hubspot_contact", it->object_id);
        /* A subscription to these properties brings the identity without a look-up. */
        if (prop && value && strcmp(prop, "email") == 0)
            (void)cx_event_add_identity(ev, src, "email", value);
        if (prop && value && (strcmp(prop, "phone") == 0 || strcmp(prop, "mobilephone") == 0))
            (void)cx_event_add_identity(ev, src, "phone", value);
    } else if (it->object == HS_DEAL) {
        /* Ties every event of one deal together, and a deal to its contact once a
         * look-up has named it. */
        (void)cx_event_add_identity(ev, src, "custom:hubspot_deal", it->object_id);
    }
    if (answer)
        enrich(ev, src, it, answer, &attrs, &fetched_stage);
    if (is_engagement(it->object)) {
        /* Logged when it happened: occurredAt is the engagement's creation. */
        cx_copy_text(ev->kind, sizeof ev->kind, "sales_touch");
    } else if (it->object == HS_CONTACT) {
        if (it->change == HS_CREATION)
            cx_copy_text(ev->kind, sizeof ev->kind, "lead");
        else if (prop && strcmp(prop, "lifecyclestage") == 0)
            set_stage(ev, lifecycle_stage(src, value, stagebuf, sizeof stagebuf), 0);
        else
            /* Other property edits are CRM activity: kept (the SLA counts any CRM event
             * as a response) without moving the funnel. */
            cx_copy_text(ev->kind, sizeof ev->kind, "custom");
    } else {
        if (it->change == HS_CREATION) {
            /* The look-up shows the deal as it is now, possibly already won or lost; that
             * moment has its own dealstage event, so a creation is never dated as a win or
             * loss (that would backdate "won" to when the deal was opened). */
            const char *st = deal_stage(src, fetched_stage, stagebuf, sizeof stagebuf);
            if (strcmp(st, "won") == 0 || strcmp(st, "paid") == 0 || strcmp(st, "lost") == 0)
                st = "opportunity";
            set_stage(ev, st, 1);
        } else if (prop && strcmp(prop, "dealstage") == 0)
            /* The webhook's value is the stage at that moment; a look-up may already
             * show a later one. */
            set_stage(ev, deal_stage(src, value, stagebuf, sizeof stagebuf), 1);
        else
            cx_copy_text(ev->kind, sizeof ev->kind, "custom");
    }
    (void)cx_attrs_store(&attrs, ev);
    cx_attrs_free(&attrs);
    return 0;
}

static int status_ok(long status)
{
    return status >= 200 && status < 300;
}

static enum cx_result hubspot_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                        const struct cx_fetched *fetched, struct cx_event_list *out,
                                        struct cx_fetch_list *need, struct cx_err *err)
{
    struct hs_lookup lookups[CX_MAX_FETCHES];
    cJSON *answers[CX_MAX_FETCHES] = {0};
    struct hs_item *items = NULL;
    size_t nitems = 0, nlookups = 0, nanswers = 0, i, k, n0 = out->n;
    int enrich_on = src->api_token && src->api_token[0];
    enum cx_result rc = CX_NORM_POISON;
    const cJSON *el;
    cJSON *root;
    int count;

    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsArray(root)) {
        cx_fail(err, "hubspot: body is not a JSON array");
        goto out;
    }
    count = cJSON_GetArraySize(root);
    if (count <= 0) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    if (count > CX_MAX_EVENTS) {
        cx_fail(err, "hubspot: %d events in one batch (at most %d)", count, CX_MAX_EVENTS);
        goto out;
    }
    items = calloc((size_t)count, sizeof *items);
    if (!items) {
        cx_fail(err, "hubspot: out of memory");
        goto out;
    }
    i = 0;
    cJSON_ArrayForEach(el, root)
    {
        const char *type = NULL;
        enum hs_object object;
        enum hs_change change;
        struct hs_item *it;

        if (!cJSON_IsObject(el)) {
            cx_fail(err, "hubspot event %zu: not an object", i);
            goto out;
        }
        /* Deletions, merges, other objects: nothing for the journey. An engagement
         * without the token to read it names no contact: nothing to join. */
        if (classify(el, &object, &change, &type) != 0 ||
            (is_engagement(object) && !(enrich_on && need))) {
            i++;
            continue;
        }
        it = &items[nitems++];
        it->el = el;
        it->type = type;
        it->object = object;
        it->change = change;
        it->fetch = -1;
        it->index = i;
        if (cx_json_id(el, "objectId", it->object_id, sizeof it->object_id) != 0 ||
            !cx_all_digits(it->object_id)) {
            cx_fail(err, "hubspot event %zu: missing or invalid objectId", i);
            goto out;
        }
        if (enrich_on && need) {
            for (k = 0; k < nlookups; k++)
                if (lookups[k].object == it->object && strcmp(lookups[k].id, it->object_id) == 0)
                    break;
            /* The daemon answers at most CX_MAX_FETCHES look-ups per webhook; objects
             * past that keep what the webhook itself says. */
            if (k == nlookups && nlookups < CX_MAX_FETCHES) {
                lookups[nlookups].object = it->object;
                lookups[nlookups].id = it->object_id;
                nlookups++;
            }
            if (k < nlookups)
                it->fetch = (int)k;
        }
        i++;
    }
    if (nitems == 0) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    nanswers = fetched ? fetched->n : 0;
    if (nanswers < nlookups) {
        /* Ask for what is still missing, in list order, so answer i is look-up i. */
        need->n = 0;
        for (k = nanswers; k < nlookups; k++)
            if (add_lookup(need, src, &lookups[k]) != 0) {
                cx_fail(err, "hubspot: look-up URL or header too long");
                goto out;
            }
        rc = CX_NORM_NEED_FETCH;
        goto out;
    }
    for (k = 0; k < nlookups; k++) {
        long status = fetched->v[k].status;
        if (status == 404) {
            cx_fail(err, "%s %s: HubSpot answered 404", object_name(lookups[k].object),
                    lookups[k].id);
            goto out;
        }
        if (!status_ok(status)) {
            cx_fail(err, "%s %s: HubSpot answered %ld", object_name(lookups[k].object),
                    lookups[k].id, status);
            goto out;
        }
        answers[k] = cx_json_parse(fetched->v[k].body, fetched->v[k].len, CX_JSON_MAX_DEPTH);
        if (!cJSON_IsObject(answers[k])) {
            cx_fail(err, "%s %s: HubSpot answer is not a JSON object",
                    object_name(lookups[k].object), lookups[k].id);
            goto out;
        }
    }
    for (i = 0; i < nitems; i++) {
        const cJSON *answer = items[i].fetch >= 0 ? answers[items[i].fetch] : NULL;
        struct cx_event *ev;
        if (is_engagement(items[i].object)) {
            const char *dir = cx_json_str(cx_json_obj(answer, "properties"), "hs_email_direction");
            /* Past the look-up cap (no contact to join), or an e-mail the lead sent. */
            if (!answer || (dir && strcmp(dir, "INCOMING_EMAIL") == 0))
                continue;
        }
        ev = cx_list_add(out, src, raw);
        if (!ev) {
            cx_fail(err, "hubspot: out of memory");
            goto out;
        }
        if (build_event(ev, src, &items[i], answer, err) != 0)
            goto out;
    }
    rc = out->n > n0 ? CX_NORM_OK : CX_NORM_SKIP;
out:
    if (rc != CX_NORM_OK)
        out->n = n0;
    for (k = 0; k < CX_MAX_FETCHES; k++)
        cJSON_Delete(answers[k]);
    free(items);
    cJSON_Delete(root);
    return rc;
}

const struct cx_connector cx_hubspot = {
    .type = "hubspot",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = hubspot_verify,
    .normalize = hubspot_normalize,
};
