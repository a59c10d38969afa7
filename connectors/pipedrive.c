/*
 * Pipedrive (type "pipedrive"): persons, deals, deal stages, won and lost, leads and the
 * activities sales logs (calls, e-mails, meetings).
 *
 * Pipedrive signs nothing: a webhook carries the HTTP Basic credentials set on it
 * (pipedrive.readme.io "Guide for Webhooks v2": "HTTP Auth username/password"), so verify
 * compares Authorization: Basic against the source's username and password.
 *
 * Bodies (providers.md, Pipedrive; fixtures/pipedrive/v2_*.json):
 *   v2  {meta{action create|change|delete, entity, entity_id, id (event uuid), timestamp
 *       (ISO 8601, or Unix seconds for some entities)}, data, previous};
 *   v1  {meta{action added|updated|deleted|merged, object, id (the object's id), timestamp,
 *       timestamp_micro}, current, previous, event "added.person"}. v1 has no event id
 *       [UNVERIFIED: v1 shape from the v1 guide and Pipedream's sample, not from a fixture].
 * Person and deal events are keyed on the object, not the delivery (object_event_id), so
 * reconciliation's read of the API (listing.c) names the same event as the webhook.
 * Persons carry emails[] / phones[] of {value, primary, label} (v1: email[] / phone[]).
 *
 * Sales activity (DESIGN §6b: a logged call, e-mail or meeting is the real first response),
 * from the v2 examples of pipedrive.readme.io "Webhooks v2 migration guide"
 * (tests/data/pipedrive/README.md):
 *   activity  {id, type "call"|"meeting"|"email"|…, done, owner_id (v1: user_id), person_id,
 *             deal_id, lead_id, add_time, …}: an activity that is done — created done (a
 *             logged call) or changed to done (previous.done false) — is a sales_touch at
 *             that moment, marked_as_done_time when the payload has it (v1, API answers),
 *             else the webhook's timestamp. A planned activity is not a response yet and is
 *             skipped, as are edits of an activity already done and deletions.
 *   lead      {id (uuid), title, owner_id, person_id, organization_id, …}: a new lead is a
 *             lead (like a new person, DESIGN §9); a change of it (seen, assigned,
 *             labelled, archived) is a sales_touch.
 * The owner (cx_event.owner) is the data's owner_id (v1: user_id) on every entity.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define PD_DEFAULT_API "https://api.pipedrive.com"
#define PD_ID_MAX 32
/* user:password as HTTP Basic carries it; longer credentials are not ours. */
#define PD_CRED_MAX 512
/* 9999-12-31T23:59:59Z in seconds: the end of RFC 3339 time. */
#define PD_MAX_S 253402300799LL

/* ---- verify ---- */

/* Digest of "user:password", so the comparison runs over fixed-length values and its time
 * says nothing about the length of what was sent or configured. */
static int cred_digest(const void *a, size_t alen, const void *b, size_t blen,
                       unsigned char out[CX_SHA256_LEN])
{
    static const char key[] = "journeyd pipedrive basic auth";

    return cx_hmac_sha256(key, sizeof key - 1, a, alen, b, blen, out);
}

static enum cx_verdict pipedrive_verify(const struct cx_source *src, const struct cx_input *in,
                                        struct cx_reply *reply, struct cx_err *err)
{
    unsigned char sent[PD_CRED_MAX], got[CX_SHA256_LEN], want[CX_SHA256_LEN];
    char expected[PD_CRED_MAX];
    const char *auth, *b64;
    size_t blen;
    int n, dlen, match;
    cJSON *root;
    enum cx_verdict verdict;

    (void)reply;
    if (!src->username || !src->username[0] || !src->password || !src->password[0]) {
        cx_fail(err, "pipedrive: username and password not configured");
        return CX_BAD_SIGNATURE;
    }
    auth = cx_header_get(in->headers, in->nheaders, "Authorization");
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0) {
        cx_fail(err, "pipedrive: missing HTTP Basic credentials");
        return CX_BAD_SIGNATURE;
    }
    b64 = auth + 6;
    while (*b64 == ' ')
        b64++;
    blen = strlen(b64);
    while (blen > 0 && b64[blen - 1] == ' ')
        blen--;
    dlen = cx_base64_decode(b64, blen, sent, sizeof sent);
    if (dlen <= 0 || !memchr(sent, ':', (size_t)dlen)) {
        cx_fail(err, "pipedrive: malformed HTTP Basic credentials");
        return CX_BAD_SIGNATURE;
    }
    n = snprintf(expected, sizeof expected, "%s:%s", src->username, src->password);
    if (n < 0 || (size_t)n >= sizeof expected) {
        cx_fail(err, "pipedrive: configured credentials too long");
        return CX_BAD_SIGNATURE;
    }
    /* The username has no ':' (the config refuses it), so comparing "user:password" as a
     * whole is comparing both parts. */
    if (cred_digest(sent, (size_t)dlen, NULL, 0, got) != 0 ||
        cred_digest(expected, (size_t)n, NULL, 0, want) != 0) {
        OPENSSL_cleanse(expected, sizeof expected);
        OPENSSL_cleanse(sent, sizeof sent);
        cx_fail(err, "pipedrive: digest computation failed");
        return CX_BAD_SIGNATURE;
    }
    match = CRYPTO_memcmp(got, want, sizeof got) == 0;
    OPENSSL_cleanse(expected, sizeof expected);
    OPENSSL_cleanse(sent, sizeof sent);
    if (!match) {
        cx_fail(err, "pipedrive: wrong HTTP Basic credentials");
        return CX_BAD_SIGNATURE;
    }
    root = cx_json_parse(in->body, in->body_len, CX_JSON_MAX_DEPTH);
    if (cJSON_IsObject(root)) {
        verdict = CX_OK;
    } else {
        cx_fail(err, "pipedrive: body is not a JSON object");
        verdict = CX_BAD_REQUEST;
    }
    cJSON_Delete(root);
    return verdict;
}

/* ---- normalize ---- */

enum pd_action { PD_CREATE, PD_CHANGE, PD_OTHER };

/* What one webhook says, whatever its version. */
struct pd_event {
    int v1;
    const char *entity;
    enum pd_action action;
    const cJSON *meta, *data;
    char id[CX_ID_MAX]; /* the canonical event id */
    int64_t at_ms;
};

static enum pd_action parse_action(const char *a)
{
    if (!a)
        return PD_OTHER;
    if (strcmp(a, "create") == 0 || strcmp(a, "added") == 0)
        return PD_CREATE;
    if (strcmp(a, "change") == 0 || strcmp(a, "updated") == 0)
        return PD_CHANGE;
    return PD_OTHER; /* delete, deleted, merged (v1) */
}

/* meta.timestamp: ISO 8601 in v2 ("2022-11-24T15:18:35.616Z"), Unix seconds in v1 and for
 * some v2 entities (fixtures/pipedrive/v2_create_user.json). v1's timestamp_micro is more
 * precise when present. */
static int64_t event_time(const cJSON *meta, int64_t fallback)
{
    const char *iso = cx_json_str(meta, "timestamp");
    int64_t v;

    if (cx_json_int(meta, "timestamp_micro", &v) == 0 && v > 0 && v / 1000000 <= PD_MAX_S)
        return v / 1000;
    if (iso && cx_parse_rfc3339(iso, &v) == 0)
        return v;
    if (cx_json_int(meta, "timestamp", &v) == 0 && v > 0 && v <= PD_MAX_S)
        return v * 1000;
    return fallback;
}

/* The key of a v1 change without update_time (object_event_id keys the others). A retry resends the
 * same meta, so object, action, object id and the microsecond timestamp name the event stably; the
 * webhook id is left out so that two webhooks delivering the same change to one source count it
 * once. */
static int v1_event_id(const cJSON *meta, char *out, size_t cap)
{
    char oid[PD_ID_MAX], ts[PD_ID_MAX];
    const char *object = cx_json_str(meta, "object"), *action = cx_json_str(meta, "action");
    int n;

    if (!object || !action || cx_json_id(meta, "id", oid, sizeof oid) != 0)
        return -1;
    if (cx_json_id(meta, "timestamp_micro", ts, sizeof ts) != 0 &&
        cx_json_id(meta, "timestamp", ts, sizeof ts) != 0)
        return -1;
    n = snprintf(out, cap, "pipedrive:v1:%s.%s:%s:%s", action, object, oid, ts);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* An object's update_time as Unix seconds: RFC 3339 in API v2 and v2 webhooks
 * ("2022-11-24T15:18:35Z"), "2022-11-24 15:18:35" (UTC) in API v1 and v1 webhooks. -1 when
 * absent (a new deal carries null) or unreadable. */
static int64_t update_time_s(const cJSON *data)
{
    const char *t = cx_json_str(data, "update_time");
    char iso[40];
    int64_t ms;

    if (!t || strlen(t) >= sizeof iso - 1)
        return -1;
    snprintf(iso, sizeof iso, "%s", t);
    if (strlen(iso) == 19 && iso[10] == ' ') {
        iso[10] = 'T';
        iso[19] = 'Z';
        iso[20] = '\0';
    }
    if (cx_parse_rfc3339(iso, &ms) != 0 || ms < 0)
        return -1;
    return ms / 1000;
}

/* The dedup key of a person or deal event, one that a webhook and reconciliation's read of
 * the object (connectors/listing.c) both derive, since the API cannot give back a
 * webhook's uuid: a creation is pipedrive:<entity>:<id>:created (it happens once), a change
 * pipedrive:<entity>:<id>:<update_time, Unix seconds>. A webhook's retry carries the same
 * object, so it keeps its key; v1 and v2 webhooks of one change share it too. A change
 * without update_time keeps the webhook's own key (reconciliation never lists one). Two
 * changes of one object within the same second count once (update_time has seconds). */
static int object_event_id(struct pd_event *pe, const char *oid)
{
    int64_t t = pe->action == PD_CREATE ? 0 : update_time_s(pe->data);
    char id[CX_ID_MAX];
    int n;

    if (pe->action == PD_CREATE)
        n = snprintf(id, sizeof id, "pipedrive:%s:%s:created", pe->entity, oid);
    else if (t >= 0)
        n = snprintf(id, sizeof id, "pipedrive:%s:%s:%" PRId64, pe->entity, oid, t);
    else
        return 0;
    if (n < 0 || (size_t)n >= sizeof id)
        return -1;
    memcpy(pe->id, id, (size_t)n + 1);
    return 0;
}

static int parse_envelope(const cJSON *root, const struct cx_raw *raw, struct pd_event *pe,
                          struct cx_err *err)
{
    char uuid[CX_ID_MAX];
    int n;

    memset(pe, 0, sizeof *pe);
    pe->meta = cx_json_obj(root, "meta");
    if (!pe->meta)
        return cx_fail(err, "pipedrive: no meta object");
    pe->entity = cx_json_str(pe->meta, "entity");
    if (pe->entity) {
        pe->data = cx_json_obj(root, "data");
    } else {
        pe->v1 = 1;
        pe->entity = cx_json_str(pe->meta, "object");
        pe->data = cx_json_obj(root, "current");
    }
    if (!pe->entity)
        return cx_fail(err, "pipedrive: meta names no entity");
    pe->action = parse_action(cx_json_str(pe->meta, "action"));
    if (pe->v1) {
        if (v1_event_id(pe->meta, pe->id, sizeof pe->id) != 0)
            return cx_fail(err, "pipedrive: v1 meta without object, action, id or timestamp");
    } else {
        /* meta.id is the event's uuid; for users it repeats the user id, but users are
         * not events we keep. */
        if (cx_json_id(pe->meta, "id", uuid, sizeof uuid) != 0)
            return cx_fail(err, "pipedrive: meta without id");
        n = snprintf(pe->id, sizeof pe->id, "pipedrive:%s", uuid);
        if (n < 0 || (size_t)n >= sizeof pe->id)
            return cx_fail(err, "pipedrive: meta.id too long");
    }
    pe->at_ms = event_time(pe->meta, raw->received_ms);
    return 0;
}

/* A deal's person_id: a number in v2 and v1 webhooks, an object {value, name, …} in v1 API
 * answers. */
static int person_id_of(const cJSON *deal, char *out, size_t cap)
{
    const cJSON *o = cx_json_obj(deal, "person_id");

    if (cx_json_id(deal, "person_id", out, cap) == 0 && cx_all_digits(out))
        return 0;
    if (o && cx_json_id(o, "value", out, cap) == 0 && cx_all_digits(out))
        return 0;
    return -1;
}

/* emails[] / phones[] (v2) or email[] / phone[] (v1): arrays of {value} or of strings. */
static void add_contacts(struct cx_event *ev, const struct cx_source *src, const cJSON *person,
                         const char *v2key, const char *v1key, const char *type)
{
    const cJSON *arr = cx_json_arr(person, v2key), *it;

    if (!arr)
        arr = cx_json_arr(person, v1key);
    cJSON_ArrayForEach(it, arr)
    {
        const char *v = cJSON_IsString(it) ? it->valuestring : cx_json_str(it, "value");
        if (v && v[0])
            (void)cx_event_add_identity(ev, src, type, v);
    }
    if (!arr)
        (void)cx_event_add_identity(ev, src, type, cx_json_str(person, v1key));
}

/* Numbers (deal value, stage ids) as the text they arrived as. */
static void attr_put_json(struct cx_attrs *attrs, const char *name, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *s;

    if (cJSON_IsString(v)) {
        (void)cx_attrs_put(attrs, name, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        s = cJSON_PrintUnformatted(v);
        (void)cx_attrs_put(attrs, name, s);
        cJSON_free(s);
    }
}

/* An open deal's stage: `stages` maps Pipedrive stage ids; the default is qualified
 * (DESIGN §9). "lost" in a mapping makes it a deal_lost. */
static void open_deal_stage(struct cx_event *ev, const struct cx_source *src, const cJSON *deal)
{
    char sid[PD_ID_MAX], mapped[16];
    const char *stage = "qualified";

    if (cx_json_id(deal, "stage_id", sid, sizeof sid) == 0 &&
        cx_stage_map_lookup(src->stages, sid, mapped, sizeof mapped) == 0 &&
        (cx_stage_rank(mapped) > 0 || strcmp(mapped, "lost") == 0))
        stage = mapped;
    if (strcmp(stage, "lost") == 0) {
        cx_copy_text(ev->kind, sizeof ev->kind, "deal_lost");
        return;
    }
    cx_copy_text(ev->kind, sizeof ev->kind,
                 strcmp(stage, "won") == 0 ? "deal_won" : "stage_change");
    cx_copy_text(ev->stage, sizeof ev->stage, stage);
}

/* The owner of a Pipedrive object: owner_id (v2 webhooks, a number; v1 API answers, an
 * object {id, name, …}), else user_id (v1 activities and deals). */
static void set_owner(struct cx_event *ev, const cJSON *data)
{
    static const char *const keys[] = {"owner_id", "user_id"};
    char id[PD_ID_MAX];

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *o = cx_json_obj(data, keys[i]);
        if ((cx_json_id(data, keys[i], id, sizeof id) == 0 ||
             (o && cx_json_id(o, "id", id, sizeof id) == 0)) &&
            cx_all_digits(id) && cx_event_set_owner(ev, id) == 0)
            return;
    }
}

static int is_true(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsTrue(v) || (cJSON_IsNumber(v) && v->valuedouble == 1);
}

static int is_false(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsFalse(v) || (cJSON_IsNumber(v) && v->valuedouble == 0);
}

/* An activity became done in this webhook: created done, or changed with the previous
 * value of done false (v2's previous holds only the changed fields, v1's the whole
 * object; either way done is there only as false when it changed). */
static int became_done(const struct pd_event *pe, const cJSON *root)
{
    if (!is_true(pe->data, "done"))
        return 0;
    return pe->action == PD_CREATE || is_false(cx_json_obj(root, "previous"), "done");
}

/* When the activity was marked done: marked_as_done_time, ISO 8601 or the API's
 * "YYYY-MM-DD HH:MM:SS" (UTC), else the webhook's own time. */
static int64_t done_time(const cJSON *data, int64_t fallback)
{
    const char *t = cx_json_str(data, "marked_as_done_time");
    char buf[40];
    int64_t v;

    if (!t)
        return fallback;
    if (strlen(t) == 19 && t[10] == ' ') {
        (void)snprintf(buf, sizeof buf, "%.10sT%sZ", t, t + 11);
        t = buf;
    }
    return cx_parse_rfc3339(t, &v) == 0 && v > 0 && v / 1000 <= PD_MAX_S ? v : fallback;
}

static int person_lookup(struct cx_fetch_list *need, const struct cx_source *src,
                         const char *person_id)
{
    const char *base = src->api_base && src->api_base[0] ? src->api_base : PD_DEFAULT_API;
    size_t blen = strlen(base);
    struct cx_fetch *f = &need->v[0];
    int n;

    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    memset(f, 0, sizeof *f);
    /* API v2 persons endpoint; the token goes in a header, never in the URL that an HTTP
     * log could keep (Pipedrive accepts x-api-token). */
    n = snprintf(f->url, sizeof f->url, "%.*s/api/v2/persons/%s", (int)blen, base, person_id);
    if (n < 0 || (size_t)n >= sizeof f->url)
        return -1;
    n = snprintf(f->headers[0], sizeof f->headers[0], "x-api-token: %s", src->api_token);
    if (n < 0 || (size_t)n >= sizeof f->headers[0])
        return -1;
    f->nheaders = 1;
    need->n = 1;
    return 0;
}

enum pd_entity { PD_PERSON, PD_DEAL, PD_ACTIVITY, PD_LEAD, PD_UNUSED };

static enum pd_entity parse_entity(const char *e)
{
    static const char *const names[] = {"person", "deal", "activity", "lead"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(e, names[i]) == 0)
            return (enum pd_entity)i;
    return PD_UNUSED;
}

/* The ids an activity or a lead names its contact by: the person, and the deal or lead
 * it belongs to (so a call logged on a deal joins the deal's contact). */
static void add_links(struct cx_event *ev, const struct cx_source *src, const cJSON *data,
                      int has_person, const char *pid)
{
    char id[CX_IDENT_VALUE_MAX];

    if (has_person)
        (void)cx_event_add_identity(ev, src, "pipedrive_person", pid);
    if (cx_json_id(data, "deal_id", id, sizeof id) == 0 && cx_all_digits(id))
        (void)cx_event_add_identity(ev, src, "custom:pipedrive_deal", id);
    if (cx_json_id(data, "lead_id", id, sizeof id) == 0)
        (void)cx_event_add_identity(ev, src, "custom:pipedrive_lead", id);
}

static enum cx_result pipedrive_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                          const struct cx_fetched *fetched,
                                          struct cx_event_list *out, struct cx_fetch_list *need,
                                          struct cx_err *err)
{
    struct pd_event pe;
    struct cx_event *ev;
    char oid[CX_IDENT_VALUE_MAX], pid[PD_ID_MAX];
    enum cx_result rc = CX_NORM_POISON;
    cJSON *root, *answer = NULL;
    struct cx_attrs attrs = {0};
    enum pd_entity entity;
    int has_person = 0;
    size_t n0 = out->n;

    root = cx_json_parse(raw->body, raw->body_len, CX_JSON_MAX_DEPTH);
    if (!cJSON_IsObject(root)) {
        cx_fail(err, "pipedrive: body is not a JSON object");
        goto out;
    }
    if (parse_envelope(root, raw, &pe, err) != 0)
        goto out;
    entity = parse_entity(pe.entity);
    if (entity == PD_UNUSED || pe.action == PD_OTHER) {
        rc = CX_NORM_SKIP; /* other entities; deletions and merges change no journey */
        goto out;
    }
    if (!pe.data) {
        cx_fail(err, "%s: %s without data", pe.id, pe.entity);
        goto out;
    }
    if (cx_json_id(pe.data, "id", oid, sizeof oid) != 0 ||
        (entity != PD_LEAD && !cx_all_digits(oid))) {
        cx_fail(err, "%s: %s without id", pe.id, pe.entity);
        goto out;
    }
    if (entity == PD_ACTIVITY && !became_done(&pe, root)) {
        rc = CX_NORM_SKIP; /* planned, or edited after it was done: not a response */
        goto out;
    }
    if (object_event_id(&pe, oid) != 0) {
        cx_fail(err, "%s: %s id too long", pe.id, pe.entity);
        goto out;
    }
    if (entity == PD_DEAL) {
        const char *status = cx_json_str(pe.data, "status");
        if (status && strcmp(status, "deleted") == 0) {
            rc = CX_NORM_SKIP;
            goto out;
        }
    }
    if (entity != PD_PERSON)
        has_person = person_id_of(pe.data, pid, sizeof pid) == 0;
    if (has_person && src->api_token && src->api_token[0] && need) {
        if (!fetched || fetched->n < 1) {
            if (person_lookup(need, src, pid) != 0) {
                cx_fail(err, "%s: look-up URL or header too long", pe.id);
                goto out;
            }
            rc = CX_NORM_NEED_FETCH;
            goto out;
        }
        if (fetched->v[0].status == 404) {
            cx_fail(err, "person %s: Pipedrive answered 404", pid);
            goto out;
        }
        if (fetched->v[0].status < 200 || fetched->v[0].status >= 300) {
            cx_fail(err, "person %s: Pipedrive answered %ld", pid, fetched->v[0].status);
            goto out;
        }
        answer = cx_json_parse(fetched->v[0].body, fetched->v[0].len, CX_JSON_MAX_DEPTH);
        if (!cx_json_obj(answer, "data")) {
            cx_fail(err, "person %s: Pipedrive answer has no data object", pid);
            goto out;
        }
    }
    ev = cx_list_add(out, src, raw);
    if (!ev) {
        cx_fail(err, "pipedrive: out of memory");
        goto out;
    }
    cx_copy_text(ev->id, sizeof ev->id, pe.id);
    ev->at_ms = pe.at_ms;
    set_owner(ev, pe.data);
    (void)cx_attrs_init(&attrs);
    (void)cx_attrs_put(&attrs, "pipedrive_entity", pe.entity);
    if (entity == PD_PERSON) {
        (void)cx_event_add_identity(ev, src, "pipedrive_person", oid);
        add_contacts(ev, src, pe.data, "emails", "email", "email");
        add_contacts(ev, src, pe.data, "phones", "phone", "phone");
        /* A new person is a lead (DESIGN §9); later edits are CRM activity. */
        cx_copy_text(ev->kind, sizeof ev->kind, pe.action == PD_CREATE ? "lead" : "custom");
        (void)cx_attrs_put(&attrs, "name", cx_json_str(pe.data, "name"));
        (void)cx_attrs_put(&attrs, "first_name", cx_json_str(pe.data, "first_name"));
        (void)cx_attrs_put(&attrs, "last_name", cx_json_str(pe.data, "last_name"));
    } else if (entity == PD_DEAL) {
        const char *status = cx_json_str(pe.data, "status");

        if (has_person)
            (void)cx_event_add_identity(ev, src, "pipedrive_person", pid);
        (void)cx_event_add_identity(ev, src, "custom:pipedrive_deal", oid);
        if (status && strcmp(status, "won") == 0)
            cx_copy_text(ev->kind, sizeof ev->kind, "deal_won");
        else if (status && strcmp(status, "lost") == 0)
            cx_copy_text(ev->kind, sizeof ev->kind, "deal_lost");
        else
            open_deal_stage(ev, src, pe.data);
        (void)cx_attrs_put(&attrs, "title", cx_json_str(pe.data, "title"));
        (void)cx_attrs_put(&attrs, "status", status);
        /* A deal's value is a forecast, not revenue (payments are): an attribute only. */
        attr_put_json(&attrs, "value", pe.data, "value");
        (void)cx_attrs_put(&attrs, "currency", cx_json_str(pe.data, "currency"));
        attr_put_json(&attrs, "stage_id", pe.data, "stage_id");
        attr_put_json(&attrs, "pipeline_id", pe.data, "pipeline_id");
    } else if (entity == PD_ACTIVITY) {
        /* The time the touch happened, for the response time; the subject and note stay
         * in Pipedrive (they are free text about a person). */
        ev->at_ms = done_time(pe.data, pe.at_ms);
        add_links(ev, src, pe.data, has_person, pid);
        cx_copy_text(ev->kind, sizeof ev->kind, "sales_touch");
        attr_put_json(&attrs, "activity_id", pe.data, "id");
        (void)cx_attrs_put(&attrs, "activity_type", cx_json_str(pe.data, "type"));
    } else {
        (void)cx_event_add_identity(ev, src, "custom:pipedrive_lead", oid);
        add_links(ev, src, pe.data, has_person, pid);
        /* A new lead is a lead, as a new person is; working on it is the sales team's
         * doing. */
        cx_copy_text(ev->kind, sizeof ev->kind, pe.action == PD_CREATE ? "lead" : "sales_touch");
        (void)cx_attrs_put(&attrs, "title", cx_json_str(pe.data, "title"));
    }
    if (answer && entity != PD_PERSON) {
        const cJSON *person = cx_json_obj(answer, "data");
        add_contacts(ev, src, person, "emails", "email", "email");
        add_contacts(ev, src, person, "phones", "phone", "phone");
    }
    (void)cx_attrs_store(&attrs, ev);
    rc = CX_NORM_OK;
out:
    if (rc != CX_NORM_OK)
        out->n = n0;
    cx_attrs_free(&attrs);
    cJSON_Delete(answer);
    cJSON_Delete(root);
    return rc;
}

const struct cx_connector cx_pipedrive = {
    .type = "pipedrive",
    .needs = (const char *const[]){"username", "password", NULL},
    .keep_headers = NULL,
    .verify = pipedrive_verify,
    .normalize = pipedrive_normalize,
};
