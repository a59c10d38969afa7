/*
 * Calendly (type "calendly"): meetings booked and canceled, a sales touch.
 *
 * Signature: developer.calendly.com/api-docs/overview/webhooks/webhook-signatures and
 * the recipe independent implementations agree on (shared/providers.md marks the
 * details unverified; shared/fixtures/calendly/vectors.md): Calendly-Webhook-Signature:
 * t=<unix s>,v1=<hex HMAC-SHA256(signing key, "<t>.<raw body>")>. The header is read like
 * Stripe's (elements split on ',' then on the first '='; unknown keys ignored; any v1 may
 * match), the signature is checked before the timestamp, and only timestamps older than
 * the source's tolerance are refused (Calendly's sample allows 3 minutes; the config
 * default is 5), a future t passes as with Stripe.
 *
 * Body (webhook payload of API v2): {event, created_at, created_by, payload: the Invitee
 * {uri, email, name, first_name, last_name, created_at, updated_at, timezone,
 * text_reminder_number, rescheduled, old_invitee, new_invitee, tracking{utm_campaign,
 * utm_source, utm_medium, utm_content, utm_term, salesforce_uuid}, questions_and_answers
 * [{question, answer}], scheduled_event{uri, name, start_time, end_time, ...},
 * cancellation{canceled_by, reason, canceler_type, created_at}}}. The invitee URI is
 * stable and unique per booking; a reschedule cancels one invitee and creates another.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#define CALENDLY_DEFAULT_TOLERANCE_S 300
static enum cx_verdict calendly_verify(const struct cx_source *src, const struct cx_input *in,
                                       struct cx_reply *reply, struct cx_err *err)
{
    static const char *const keys[] = {"event", "payload"};
    struct cx_json_top top = {.keys = keys, .nkeys = 2};
    enum cx_verdict v;

    (void)reply;
    if (in->method && strcmp(in->method, "GET") == 0) {
        cx_fail(err, "Calendly webhooks are POSTed");
        return CX_BAD_REQUEST;
    }
    v = cx_verify_timestamped(src, in, "Calendly-Webhook-Signature", CALENDLY_DEFAULT_TOLERANCE_S,
                              err);
    if (v != CX_OK)
        return v;
    if (cx_json_check(in->body, in->body_len, CX_JSON_MAX_DEPTH, &top) != 0 || top.type != '{' ||
        top.found[0].kind != 's' || top.found[1].kind != '{') {
        cx_fail(err, "body is not a Calendly event (JSON object with event and payload)");
        return CX_BAD_REQUEST;
    }
    return CX_OK;
}

/* ---- normalize ---- */

/* The first of the keys that holds a valid date-time, else -1. */
static int64_t first_time(const cJSON *a, const char *ka, const cJSON *b, const char *kb)
{
    int64_t ms;

    if (cx_parse_iso8601(cx_json_str(a, ka), &ms) == 0)
        return ms;
    if (cx_parse_iso8601(cx_json_str(b, kb), &ms) == 0)
        return ms;
    return -1;
}

static int add_attrs(struct cx_attrs *attrs, const cJSON *payload, int canceled)
{
    const cJSON *se = cx_json_obj(payload, "scheduled_event");
    const cJSON *cancel = cx_json_obj(payload, "cancellation"), *qa;
    const char *name = cx_json_str(payload, "name"), *first, *last;
    char full[CX_TEXT_MAX];

    if (canceled && cx_attrs_put(attrs, "calendly_event", "invitee.canceled") < 0)
        return -1;
    if (!name) {
        /* Event types that ask for first and last name separately leave name empty. */
        first = cx_json_str(payload, "first_name");
        last = cx_json_str(payload, "last_name");
        if (snprintf(full, sizeof full, "%s%s%s", first ? first : "", first && last ? " " : "",
                     last ? last : "") > 0)
            name = full;
    }
    if (cx_attrs_put(attrs, "name", name) < 0 ||
        cx_attrs_put(attrs, "event_name", cx_json_str(se, "name")) < 0 ||
        cx_attrs_put(attrs, "event_start", cx_json_str(se, "start_time")) < 0 ||
        cx_attrs_put(attrs, "event_end", cx_json_str(se, "end_time")) < 0 ||
        cx_attrs_put(attrs, "event_uri", cx_json_str(se, "uri")) < 0 ||
        cx_attrs_put(attrs, "timezone", cx_json_str(payload, "timezone")) < 0)
        return -1;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(payload, "rescheduled")) &&
        cx_attrs_put(attrs, "rescheduled", "true") < 0)
        return -1;
    if (cx_attrs_put(attrs, "old_invitee", cx_json_str(payload, "old_invitee")) < 0)
        return -1;
    if (canceled && (cx_attrs_put(attrs, "canceled_by", cx_json_str(cancel, "canceled_by")) < 0 ||
                     cx_attrs_put(attrs, "cancel_reason", cx_json_str(cancel, "reason")) < 0))
        return -1;
    /* Booking questions ("Company", "What do you want to discuss?") by question text. */
    cJSON_ArrayForEach(qa, cx_json_arr(payload, "questions_and_answers"))
    {
        if (cx_attrs_put(attrs, cx_json_str(qa, "question"), cx_json_str(qa, "answer")) < 0)
            return -1;
    }
    return 0;
}

/* A booking moves the contact to "opportunity" (the kind's default) unless `stages` maps
 * the event type's name, or "invitee.created", to another stage. */
static void apply_stage(struct cx_event *ev, const struct cx_source *src, const cJSON *payload)
{
    const char *type_name = cx_json_str(cx_json_obj(payload, "scheduled_event"), "name");
    char stage[sizeof ev->stage];

    if (!src->stages)
        return;
    if ((type_name && cx_stage_map_lookup(src->stages, type_name, stage, sizeof stage) == 0 &&
         cx_stage_rank(stage) > 0) ||
        (cx_stage_map_lookup(src->stages, "invitee.created", stage, sizeof stage) == 0 &&
         cx_stage_rank(stage) > 0))
        memcpy(ev->stage, stage, sizeof stage);
}

static enum cx_result calendly_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                         const struct cx_fetched *fetched,
                                         struct cx_event_list *out, struct cx_fetch_list *need,
                                         struct cx_err *err)
{
    (void)fetched; /* never enriched: the invitee is in the payload */
    (void)need;
    enum cx_result rc = CX_NORM_POISON;
    struct cx_attrs attrs;
    struct cx_event *ev;
    const char *event, *uri;
    cJSON *root, *payload, *tracking;
    size_t n0 = out->n;
    int64_t at;
    int canceled;

    memset(&attrs, 0, sizeof attrs);
    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    event = cx_json_str(root, "event");
    if (!event) {
        cx_fail(err, "calendly: body is not an event");
        goto out;
    }
    /* No-shows, routing forms and event type changes are not meetings. */
    if (strcmp(event, "invitee.created") == 0) {
        canceled = 0;
    } else if (strcmp(event, "invitee.canceled") == 0) {
        canceled = 1;
    } else {
        rc = CX_NORM_SKIP;
        goto out;
    }
    payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
    uri = cx_json_str(payload, "uri");
    if (!cJSON_IsObject(payload) || !uri) {
        cx_fail(err, "calendly %s: no payload with an invitee uri", event);
        goto out;
    }
    if (cx_attrs_init(&attrs) != 0 || !(ev = cx_list_add(out, src, raw)))
        goto oom;
    /* A cancellation is a second fact about the same invitee: its own id, so it does not
     * collide with the booking's dedup key. */
    if (cx_event_set_id(ev, "calendly:%s%s", uri, canceled ? ":canceled" : "") != 0) {
        cx_fail(err, "calendly: invitee uri too long");
        goto out;
    }
    if (canceled) {
        cx_copy_text(ev->kind, sizeof ev->kind, "custom");
        at = first_time(cx_json_obj(payload, "cancellation"), "created_at", payload, "updated_at");
    } else {
        cx_copy_text(ev->kind, sizeof ev->kind, "meeting");
        at = first_time(payload, "created_at", NULL, NULL);
    }
    if (at < 0 && cx_parse_iso8601(cx_json_str(root, "created_at"), &at) != 0)
        at = raw->received_ms;
    ev->at_ms = at;
    (void)cx_event_add_identity(ev, src, "email", cx_json_str(payload, "email"));
    /* The number the invitee gave for SMS reminders is theirs. */
    (void)cx_event_add_identity(ev, src, "phone", cx_json_str(payload, "text_reminder_number"));
    if (!canceled) {
        /* Only a booking is a marketing touch; its utm values come from the scheduling
         * link the invitee followed. */
        tracking = cJSON_GetObjectItemCaseSensitive(payload, "tracking");
        if (cJSON_IsObject(tracking))
            cx_event_set_touch(ev, src, cx_json_getter, tracking);
        apply_stage(ev, src, payload);
    }
    if (add_attrs(&attrs, payload, canceled) != 0 || cx_attrs_store(&attrs, ev) != 0)
        goto oom;
    rc = CX_NORM_OK;
    goto out;
oom:
    cx_fail(err, "calendly: out of memory");
out:
    return cx_norm_end(rc, out, n0, &attrs, root);
}

const struct cx_connector cx_calendly = {
    .type = "calendly",
    .needs = (const char *const[]){"secret", NULL},
    .keep_headers = NULL,
    .verify = calendly_verify,
    .normalize = calendly_normalize,
};
