/*
 * Typeform (type "typeform"): form responses.
 *
 * Rules follow typeform.com/developers/webhooks/secure-your-webhooks and the example
 * payload page (shared/providers.md): Typeform-Signature: sha256=<base64 HMAC-SHA256
 * (secret, raw body)>, standard base64 with padding (the Ruby sample uses
 * Base64.strict_encode64); body {event_id, event_type "form_response", form_response
 * {form_id, token, submitted_at, hidden{...}, definition{fields[{id, ref, type}]},
 * answers[{type, field{id, ref?, type}, <value under the type's name>}]}}. event_id is
 * the dedup key. utm values, click ids and our anonymous id arrive only as hidden fields
 * the form owner defined, under whatever names they chose: we read the usual ones.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

static enum cx_verdict typeform_verify(const struct cx_source *src, const struct cx_input *in,
                                       struct cx_reply *reply, struct cx_err *err)
{
    cJSON *root;
    enum cx_verdict v;

    (void)reply;
    if (in->method && strcmp(in->method, "GET") == 0) {
        cx_fail(err, "Typeform webhooks are POSTed");
        return CX_BAD_REQUEST;
    }
    v = cx_verify_body_mac(src, in, "Typeform-Signature", "sha256=", CX_MAC_BASE64, err);
    if (v != CX_OK)
        return v;
    root = cx_json_parse(in->body, in->body_len, CX_JSON_MAX_DEPTH);
    if (cx_json_str(root, "event_id") && cx_json_str(root, "event_type")) {
        v = CX_OK;
    } else {
        cx_fail(err, "body is not a Typeform event (JSON object with event_id and event_type)");
        v = CX_BAD_REQUEST;
    }
    cJSON_Delete(root);
    return v;
}

/* ---- normalize ---- */

/* Hidden fields with a meaning of their own; the others are kept as attributes. */
static const char *const hidden_consumed[] = {
    "jd_aid",      "anon",     "email",     "utm_source", "utm_medium", "utm_campaign",
    "utm_content", "utm_term", "gclid",     "gbraid",     "wbraid",     "fbclid",
    "fbc",         "msclkid",  "li_fat_id", "ttclid",
};

static int is_consumed(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof hidden_consumed / sizeof hidden_consumed[0]; i++)
        if (strcmp(name, hidden_consumed[i]) == 0)
            return 1;
    return 0;
}

/* The field's ref names an answer the way the form owner reads it; answers carry it in
 * field.ref, older payloads only in the definition, and the id is the last resort. */
static const char *field_key(const cJSON *answer, const cJSON *definition)
{
    const cJSON *field = cx_json_obj(answer, "field"), *it;
    const char *ref = cx_json_str(field, "ref"), *id = cx_json_str(field, "id");

    if (ref || !id)
        return ref;
    cJSON_ArrayForEach(it, cx_json_arr(definition, "fields"))
    {
        const char *fid = cx_json_str(it, "id");
        if (fid && strcmp(fid, id) == 0 && (ref = cx_json_str(it, "ref")))
            return ref;
    }
    return id;
}

/* An answer's value as text, for the simple answer types; "" for the others (file
 * uploads, payments) and for values of the wrong type. */
static void answer_text(const cJSON *a, const char *type, char *out, size_t cap)
{
    static const char *const plain[] = {"text", "email", "phone_number", "date", "url"};
    const cJSON *v, *it;
    const char *s;
    size_t i, used = 0;
    int64_t num;

    out[0] = '\0';
    for (i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(type, plain[i]) == 0) {
            cx_copy_text(out, cap, cx_json_str(a, type));
            return;
        }
    }
    if (strcmp(type, "boolean") == 0) {
        v = cJSON_GetObjectItemCaseSensitive(a, "boolean");
        if (cJSON_IsBool(v))
            cx_copy_text(out, cap, cJSON_IsTrue(v) ? "true" : "false");
    } else if (strcmp(type, "number") == 0) {
        /* Typeform numbers are integers (number and rating questions). */
        if (cx_json_int(a, "number", &num) == 0 && snprintf(out, cap, "%" PRId64, num) < 0)
            out[0] = '\0';
    } else if (strcmp(type, "choice") == 0) {
        v = cx_json_obj(a, "choice");
        s = cx_json_str(v, "label");
        cx_copy_text(out, cap, s ? s : cx_json_str(v, "other"));
    } else if (strcmp(type, "choices") == 0) {
        v = cx_json_obj(a, "choices");
        cJSON_ArrayForEach(it, cx_json_arr(v, "labels"))
        {
            if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0])
                continue;
            if (used > 0) {
                if (used + 3 >= cap)
                    break;
                memcpy(out + used, ", ", 3);
                used += 2;
            }
            cx_copy_text(out + used, cap - used, it->valuestring);
            used += strlen(out + used);
            if (used + 1 >= cap)
                break;
        }
    }
}

static int add_answers(struct cx_event *ev, const struct cx_source *src, struct cx_attrs *attrs,
                       const cJSON *fr)
{
    const cJSON *definition = cx_json_obj(fr, "definition"), *a;
    char text[CX_TEXT_MAX];

    cJSON_ArrayForEach(a, cx_json_arr(fr, "answers"))
    {
        const char *type = cx_json_str(a, "type"), *key;

        if (!type)
            continue;
        /* Identities are normalized from the full value, never from a cut copy. */
        if (strcmp(type, "email") == 0 || strcmp(type, "phone_number") == 0) {
            (void)cx_event_add_identity(ev, src, type[0] == 'e' ? "email" : "phone",
                                        cx_json_str(a, type));
            continue;
        }
        answer_text(a, type, text, sizeof text);
        key = field_key(a, definition);
        if (text[0] && key && cx_attrs_put(attrs, key, text) < 0)
            return -1;
    }
    return 0;
}

static int add_hidden(struct cx_event *ev, const struct cx_source *src, struct cx_attrs *attrs,
                      const cJSON *fr)
{
    /* The getter interface takes a mutable context; cJSON hands one out for reading. */
    cJSON *hidden = cJSON_GetObjectItemCaseSensitive(fr, "hidden");
    const cJSON *it;
    const char *anon;

    if (!cJSON_IsObject(hidden))
        return 0;
    cx_event_set_touch(ev, src, cx_json_getter, hidden);
    anon = cx_json_str(hidden, "jd_aid");
    if (!anon)
        anon = cx_json_str(hidden, "anon");
    if (anon)
        (void)cx_event_add_identity(ev, src, "anon", anon);
    /* Forms linked from a newsletter often pass the reader's address as a hidden field. */
    if (cx_json_str(hidden, "email"))
        (void)cx_event_add_identity(ev, src, "email", cx_json_str(hidden, "email"));
    cJSON_ArrayForEach(it, hidden)
    {
        if (!it->string || is_consumed(it->string) || !cJSON_IsString(it))
            continue;
        if (cx_attrs_put(attrs, it->string, it->valuestring) < 0)
            return -1;
    }
    return 0;
}

static enum cx_result typeform_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                         const struct cx_fetched *fetched,
                                         struct cx_event_list *out, struct cx_fetch_list *need,
                                         struct cx_err *err)
{
    (void)fetched; /* never enriched: the response carries every answer */
    (void)need;
    enum cx_result rc = CX_NORM_POISON;
    struct cx_attrs attrs;
    struct cx_event *ev;
    const char *event_id, *type, *s;
    const cJSON *fr;
    cJSON *root;
    size_t n0 = out->n;
    int64_t at;

    memset(&attrs, 0, sizeof attrs);
    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    event_id = cx_json_str(root, "event_id");
    type = cx_json_str(root, "event_type");
    if (!event_id || !type) {
        cx_fail(err, "typeform: body is not an event with event_id and event_type");
        goto out;
    }
    /* Partial responses and any later event types are not submissions. */
    if (strcmp(type, "form_response") != 0) {
        rc = CX_NORM_SKIP;
        goto out;
    }
    fr = cx_json_obj(root, "form_response");
    if (!fr) {
        cx_fail(err, "typeform %s: no form_response object", event_id);
        goto out;
    }
    if (cx_attrs_init(&attrs) != 0 || !(ev = cx_list_add(out, src, raw)))
        goto oom;
    if (cx_event_set_id(ev, "typeform:%s", event_id) != 0) {
        cx_fail(err, "typeform: event_id too long");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, "form");
    s = cx_json_str(fr, "submitted_at");
    ev->at_ms = s && cx_parse_iso8601(s, &at) == 0 ? at : raw->received_ms;
    if (cx_attrs_put(&attrs, "form_id", cx_json_str(fr, "form_id")) < 0 ||
        cx_attrs_put(&attrs, "form_title", cx_json_str(cx_json_obj(fr, "definition"), "title")) <
            0 ||
        add_answers(ev, src, &attrs, fr) != 0 || add_hidden(ev, src, &attrs, fr) != 0 ||
        cx_attrs_store(&attrs, ev) != 0)
        goto oom;
    rc = CX_NORM_OK;
    goto out;
oom:
    cx_fail(err, "typeform: out of memory");
out:
    return cx_norm_end(rc, out, n0, &attrs, root);
}

const struct cx_connector cx_typeform = {
    .type = "typeform",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = typeform_verify,
    .normalize = typeform_normalize,
};
