/*
 * The read API of DESIGN §7 for one contact: GET /v1/journey and GET/DELETE
 * /v1/contacts/<id>, answered from journey.lua's one atomic read with the stored event
 * texts spliced in as they are; the revenue and the conversions are the report library's
 * (rp_contact_revenue, rp_contact_conversions), so a journey and a report never disagree.
 * Also the queue status handler at the end of the file (the dead letters: api_dead.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "api.h"
#include "common.h"
#include "erase.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "stage.h"
#include "util.h"

/* Nesting up to which scan_event vouches for a stored event; canonical events nest three
 * deep, deeper ones are parsed and printed. */
#define API_EVENT_MAX_DEPTH 64

enum api_view { VIEW_JOURNEY, VIEW_CONTACT };

struct api_req {
    struct jd *jd;
    struct evhttp_request *req;
    enum api_view view;
    struct rp_attr_params attr; /* the journey's "conversions": model, lookback, half-life */
};

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- stored events, spliced as they are ----
 *
 * The stored event JSON is canonical (connectors/canon.c prints it with cJSON), so the
 * answer carries it verbatim instead of parsing and re-printing every event. Only what the
 * answer computes needs a look inside: the touch flag and id of every event (for the
 * conversions' credit), and the amounts of payments and refunds (revenue, conversions). A
 * scanner that builds nothing finds the first two and checks the text is one well-formed
 * JSON object; payments, refunds and anything the scanner does not vouch for are parsed
 * with cJSON exactly as before, so the numbers cannot change. */

/* One returned event: its text in journey.lua's reply and what the answer needs of it. */
struct jev {
    const char *text; /* borrowed from the reply */
    size_t len;
    int64_t at_ms;
    cJSON *tree;  /* owned; parsed only when needed */
    int keep;     /* 0: no usable JSON, left out of the answer as before */
    int verbatim; /* the text is spliced as it is (else tree is printed) */
    /* From the scan: spans of the first top-level "id" and "kind" when they are strings
     * (as stored, escapes not decoded), whether the first "touch" is an object, and
     * whether a top-level key or those two values hold an escape (then it is parsed). */
    const char *id, *kind;
    size_t id_len, kind_len;
    int has_id, has_kind, has_touch, escaped;
};

/* 0 when the text is exactly one JSON object (cx_json_check: RFC 8259 grammar, valid
 * UTF-8, nesting at most API_EVENT_MAX_DEPTH, surrounding whitespace allowed), so it can be
 * spliced into the answer as it is; fills e's id / kind / touch from its first top-level
 * members of those names, the way cJSON_GetObjectItemCaseSensitive would find them.
 * -1 otherwise. */
static int scan_event(struct jev *e)
{
    static const char *const keys[] = {"id", "kind", "touch"};
    struct cx_json_top top = {.keys = keys, .nkeys = 3};
    const struct cx_json_member *id = &top.found[0], *kind = &top.found[1];

    if (cx_json_check((const unsigned char *)e->text, e->len, API_EVENT_MAX_DEPTH, &top) != 0 ||
        top.type != '{')
        return -1;
    e->has_id = id->kind == 's' || id->kind == 'e';
    if (e->has_id) {
        e->id = (const char *)id->value;
        e->id_len = id->len;
    }
    e->has_kind = kind->kind == 's' || kind->kind == 'e';
    if (e->has_kind) {
        e->kind = (const char *)kind->value;
        e->kind_len = kind->len;
    }
    e->has_touch = top.found[2].kind == '{';
    /* "\u0069d" is "id" too: such a text gets parsed instead. */
    e->escaped = top.escaped_name || (e->has_id && id->escaped) || (e->has_kind && kind->escaped);
    return 0;
}

static int kind_is(const struct jev *e, const char *kind)
{
    size_t n = strlen(kind);
    return e->has_kind && e->kind_len == n && memcmp(e->kind, kind, n) == 0;
}

/* Decides how an event goes into the answer. Parsed with cJSON (as every event was
 * before): payments and refunds, whose amounts and payment keys the answer computes with;
 * texts with escapes in the fields looked at; texts the scanner does not accept (cJSON is
 * more lenient, and printing its tree keeps the answer valid JSON). An event cJSON cannot
 * parse either (or out of memory) is left out, as it always was. */
static void load_event(struct jev *e)
{
    if (e->len == 0)
        return; /* the event's JSON is missing */
    int ok = scan_event(e) == 0;
    if (ok && !e->escaped && !kind_is(e, "payment") && !kind_is(e, "refund")) {
        e->keep = e->verbatim = 1;
        return;
    }
    e->tree = cJSON_ParseWithLength(e->text, e->len);
    e->keep = e->tree != NULL;
    e->verbatim = ok;
}

/* journey.lua's "at at …" and its array of texts → one jev per event (texts borrowed
 * from the reply). Returns 0, -1 on allocation failure, -2 when the two do not agree. */
static int split_events(const redisReply *ats, const redisReply *texts, struct jev **out,
                        size_t *nout)
{
    size_t n = texts->elements;
    const char *p = ats->str;
    *out = NULL;
    *nout = 0;
    struct jev *v = calloc(n + 1, sizeof(*v));
    if (!v)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const redisReply *t = texts->element[k];
        char *end;
        errno = 0;
        long long at = strtoll(p, &end, 10);
        if (end == p || errno || *end != (k + 1 < n ? ' ' : '\0') ||
            (t->type != REDIS_REPLY_STRING && t->type != REDIS_REPLY_NIL)) {
            free(v);
            return -2;
        }
        p = *end ? end + 1 : end;
        v[k].text = t->type == REDIS_REPLY_STRING ? t->str : "";
        v[k].len = t->type == REDIS_REPLY_STRING ? t->len : 0;
        v[k].at_ms = (int64_t)at;
    }
    if (*p) {
        free(v);
        return -2;
    }
    *out = v;
    *nout = n;
    return 0;
}

static void free_events(struct jev *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        cJSON_Delete(v[i].tree);
    free(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static cJSON *time_string(const redisReply *score)
{
    char buf[32];
    if (score->type != REDIS_REPLY_STRING || score->len == 0)
        return cJSON_CreateNull();
    cx_format_rfc3339(strtoll(score->str, NULL, 10), buf);
    return cJSON_CreateString(buf);
}

/* Copies a span into the arena as a C string (the arena was sized for every span). */
static const char *arena_put(char **arena, const char *s, size_t n)
{
    char *out = *arena;
    memcpy(out, s, n);
    out[n] = '\0';
    *arena += n + 1;
    return out;
}

/* The events the report arithmetic reads, borrowed from the loaded ones: every parsed
 * event (payments and refunds always are) and the touches the scan found. Other events
 * cannot change a split or the revenue, so they stay out (and a touch's channel, source, …
 * are not needed for credit by touch id). src[k] is the index in the loaded events of
 * ev[k]; the arena holds the scanned ids and kinds as C strings. */
struct jrp {
    struct rp_event *ev;
    size_t *src;
    size_t n;
    char *arena;
};

static void jrp_free(struct jrp *j)
{
    free(j->ev);
    free(j->src);
    free(j->arena);
}

/* 0, -1 on allocation failure. */
static int jrp_build(const struct jev *v, size_t n, struct jrp *out)
{
    size_t k = 0, arena_len = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].keep && !v[i].tree && v[i].has_touch && v[i].has_id && v[i].has_kind)
            arena_len += v[i].id_len + 1 + v[i].kind_len + 1;
    out->n = 0;
    out->ev = calloc(n ? n : 1, sizeof(*out->ev));
    out->src = calloc(n ? n : 1, sizeof(*out->src));
    char *next = out->arena = malloc(arena_len ? arena_len : 1);
    if (!out->ev || !out->src || !out->arena) {
        jrp_free(out);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct jev *j = &v[i];
        struct rp_event *e = &out->ev[k];
        if (!j->keep)
            continue;
        if (!j->tree) {
            if (!j->has_touch || !j->has_id || !j->has_kind)
                continue;
            e->id = arena_put(&next, j->id, j->id_len);
            e->kind = arena_put(&next, j->kind, j->kind_len);
            e->at_ms = j->at_ms;
            e->is_touch = 1;
            e->source_type = e->channel = e->source = e->campaign = e->ad = e->payment_key = "";
            out->src[k++] = i;
            continue;
        }
        const cJSON *ev = j->tree;
        const cJSON *touch = cJSON_GetObjectItemCaseSensitive(ev, "touch");
        const cJSON *amount = cJSON_GetObjectItemCaseSensitive(ev, "amount");
        const char *s;
        e->id = str_field(ev, "id");
        e->kind = str_field(ev, "kind");
        if (!e->id || !e->kind)
            continue;
        e->at_ms = j->at_ms;
        e->stage = cx_stage_rank(str_field(ev, "stage"));
        e->source_type = (s = str_field(ev, "type")) ? s : "";
        e->is_touch = cJSON_IsObject(touch);
        e->channel = e->is_touch && (s = str_field(touch, "channel")) ? s : "";
        e->source = e->is_touch && (s = str_field(touch, "source")) ? s : "";
        e->campaign = e->is_touch && (s = str_field(touch, "campaign")) ? s : "";
        e->ad = e->is_touch && (s = str_field(touch, "ad")) ? s : "";
        e->payment_key = (s = str_field(ev, "payment_key")) ? s : "";
        const char *cur = amount ? str_field(amount, "currency") : NULL;
        if (cur && strlen(cur) == 3 && cx_json_int(amount, "minor", &e->amount_minor) == 0) {
            e->has_amount = 1;
            memcpy(e->currency, cur, 4);
        }
        out->src[k++] = i;
    }
    out->n = k;
    return 0;
}

/* The contact's "revenue" (DESIGN §3 payment_key, §7): the reports' own rule over the
 * whole journey (rp_contact_revenue), so the journey and the reports cannot disagree. A
 * payment repeating an earlier payment's key stays in the journey without its amount,
 * marked "counted": false, so it is printed from its tree. NULL on allocation failure or
 * overflow. */
static cJSON *journey_revenue(struct jev *v, const struct jrp *j)
{
    struct rp_contact c = {.id = "", .events = j->ev, .n = j->n};
    unsigned char *repeat = calloc(j->n ? j->n : 1, 1);
    cJSON *revenue = repeat ? rp_contact_revenue(&c, repeat) : NULL;
    for (size_t k = 0; revenue && k < j->n; k++) {
        struct jev *e = &v[j->src[k]];
        if (!repeat[k])
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(e->tree, "amount");
        cJSON_AddBoolToObject(e->tree, "counted", 0);
        e->verbatim = 0;
    }
    free(repeat);
    return revenue;
}

/* "conversions" (DESIGN §7): each payment or refund with the credit every touch received
 * under the requested model, so each report number can be traced to its payments. */
static cJSON *conversions_json(const struct jrp *j, const struct rp_attr_params *p)
{
    cJSON *out = cJSON_CreateArray();
    struct rp_conversion *conv = NULL;
    size_t nconv = 0;
    struct rp_contact c = {.id = "", .events = j->ev, .n = j->n};
    if (!out || rp_contact_conversions(&c, p, &conv, &nconv) != 0)
        goto fail;
    for (size_t i = 0; i < nconv; i++) {
        cJSON *o = cJSON_CreateObject(), *amt, *credit;
        cJSON_AddItemToArray(out, o);
        cJSON_AddStringToObject(o, "event", conv[i].event_id);
        amt = cJSON_AddObjectToObject(o, "amount");
        cJSON_AddNumberToObject(amt, "minor", (double)conv[i].amount_minor);
        cJSON_AddStringToObject(amt, "currency", conv[i].currency);
        credit = cJSON_AddArrayToObject(o, "credit");
        for (size_t t = 0; t < conv[i].ncredit; t++) {
            cJSON *cr = cJSON_CreateObject();
            cJSON_AddItemToArray(credit, cr);
            if (conv[i].credit[t].touch_id)
                cJSON_AddStringToObject(cr, "touch", conv[i].credit[t].touch_id);
            else
                cJSON_AddStringToObject(cr, "touch", "(direct)");
            cJSON_AddNumberToObject(cr, "minor", (double)conv[i].credit[t].minor);
        }
    }
    rp_conversions_free(conv, nconv);
    return out;
fail:
    rp_conversions_free(conv, nconv);
    cJSON_Delete(out);
    return NULL;
}

/* The "contact" object, which takes the revenue object (NULL: it failed). NULL on
 * allocation failure. */
static cJSON *contact_json(const redisReply *r, cJSON *revenue)
{
    cJSON *contact = revenue ? cJSON_CreateObject() : NULL;
    if (!contact) {
        cJSON_Delete(revenue);
        return NULL;
    }
    cJSON_AddStringToObject(contact, "id", r->element[0]->str);
    long rank = strtol(r->element[1]->str, NULL, 10);
    if (rank >= 1 && rank < JD_STAGE_COUNT)
        cJSON_AddStringToObject(contact, "stage", cx_stage_name((int)rank));
    else
        cJSON_AddNullToObject(contact, "stage");

    /* Identities sorted by type, then value ("type\tvalue" sorts that way). */
    const redisReply *ids = r->element[2];
    const char **sorted = calloc(ids->elements + 1, sizeof(*sorted));
    cJSON *idarr = cJSON_AddArrayToObject(contact, "identities");
    if (!sorted || !idarr) {
        free(sorted);
        cJSON_Delete(contact);
        return NULL;
    }
    for (size_t i = 0; i < ids->elements; i++)
        sorted[i] = ids->element[i]->type == REDIS_REPLY_STRING ? ids->element[i]->str : "";
    qsort(sorted, ids->elements, sizeof(*sorted), cmp_str);
    for (size_t i = 0; i < ids->elements; i++) {
        const char *tab = strchr(sorted[i], '\t');
        cJSON *o = cJSON_CreateObject();
        if (!tab || !o) {
            cJSON_Delete(o);
            continue;
        }
        char type[CX_IDENT_TYPE_MAX];
        snprintf(type, sizeof(type), "%.*s", (int)(tab - sorted[i]), sorted[i]);
        cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "value", tab + 1);
        cJSON_AddItemToArray(idarr, o);
    }
    free(sorted);
    cJSON_AddItemToObject(contact, "first_seen", time_string(r->element[6]));
    cJSON_AddItemToObject(contact, "last_seen", time_string(r->element[7]));

    cJSON_AddItemToObject(contact, "revenue", revenue);

    /* Conflict records are written by apply.lua's cjson, which escapes '/': parsed and
     * printed, so they read like everything else (at most 100 of them). */
    cJSON *conf = cJSON_AddArrayToObject(contact, "conflicts");
    for (size_t i = 0; conf && i < r->element[3]->elements; i++) {
        const redisReply *c = r->element[3]->element[i];
        cJSON *o = c->type == REDIS_REPLY_STRING ? cJSON_ParseWithLength(c->str, c->len) : NULL;
        if (o)
            cJSON_AddItemToArray(conf, o);
    }
    cJSON *mf = cJSON_AddArrayToObject(contact, "merged_from");
    for (size_t i = 0; mf && i < r->element[4]->elements; i++)
        if (r->element[4]->element[i]->type == REDIS_REPLY_STRING)
            cJSON_AddItemToArray(mf, cJSON_CreateString(r->element[4]->element[i]->str));
    cJSON_AddNumberToObject(contact, "events_total", (double)r->element[5]->integer);
    return contact;
}

static int add_str(struct evbuffer *buf, const char *s)
{
    return evbuffer_add(buf, s, strlen(s));
}

/* Appends a tree's unformatted text (NULL: allocation failed building it). */
static int add_printed(struct evbuffer *buf, const cJSON *tree)
{
    char *text = tree ? cJSON_PrintUnformatted(tree) : NULL;
    int rc = text && add_str(buf, text) == 0 ? 0 : -1;
    cJSON_free(text);
    return rc;
}

/* "sent" (issue 14): what the outbox sent about the returned events, from journey.lua's
 * eleventh element ({event id, JSON list, ...}), each item with its event. NULL when there
 * is nothing (the key is then left out) or on allocation failure. */
static cJSON *sent_json(const redisReply *r)
{
    if (r->elements < 11 || r->element[10]->elements == 0)
        return NULL;
    const redisReply *s = r->element[10];
    cJSON *out = cJSON_CreateArray();
    for (size_t i = 0; out && i + 1 < s->elements; i += 2) {
        if (s->element[i]->type != REDIS_REPLY_STRING ||
            s->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        cJSON *list = cJSON_ParseWithLength(s->element[i + 1]->str, s->element[i + 1]->len);
        cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            cJSON *copy = cJSON_Duplicate(it, 1);
            if (!copy || !cJSON_IsObject(copy) ||
                !cJSON_AddStringToObject(copy, "event", s->element[i]->str)) {
                cJSON_Delete(copy);
                continue;
            }
            cJSON_AddItemToArray(out, copy);
        }
        cJSON_Delete(list);
    }
    return out;
}

/* The answer from journey.lua's reply, key order as it always was: {"contact":…,
 * "events":[…],"conversions":[…],"truncated":true}, the last three for the journey view.
 * Returns 0, -1 on allocation failure, -2 when the reply's event texts do not add up. */
static int build_answer(const redisReply *r, enum api_view view, const struct rp_attr_params *p,
                        struct evbuffer *buf)
{
    struct jev *v = NULL;
    size_t n = 0, bytes = 0;
    cJSON *conversions = NULL, *contact = NULL, *sent = NULL;
    int rc = split_events(r->element[8], r->element[9], &v, &n);
    if (rc != 0)
        return rc;
    rc = -1;
    for (size_t i = 0; i < n; i++)
        load_event(&v[i]);
    struct jrp j;
    if (jrp_build(v, n, &j) != 0)
        goto out;
    /* The revenue first: it decides which payments are printed as repeats. */
    contact = contact_json(r, journey_revenue(v, &j));
    if (view == VIEW_JOURNEY)
        /* NULL (overflow or memory) leaves "conversions" out, as it always did. */
        conversions = conversions_json(&j, p);
    if (view == VIEW_JOURNEY)
        sent = sent_json(r);
    jrp_free(&j);
    /* One block for the whole answer: the event texts dominate it. */
    for (size_t i = 0; view == VIEW_JOURNEY && i < n; i++)
        bytes += v[i].verbatim ? v[i].len + 1 : 0;
    if (!contact || evbuffer_expand(buf, bytes + 4096) != 0 || add_str(buf, "{\"contact\":") != 0 ||
        add_printed(buf, contact) != 0)
        goto out;
    if (view == VIEW_JOURNEY) {
        int first = 1;
        if (add_str(buf, ",\"events\":[") != 0)
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (!v[i].keep)
                continue;
            if ((!first && add_str(buf, ",") != 0) ||
                (v[i].verbatim ? evbuffer_add(buf, v[i].text, v[i].len)
                               : add_printed(buf, v[i].tree)) != 0)
                goto out;
            first = 0;
        }
        if (add_str(buf, "]") != 0 ||
            (conversions &&
             (add_str(buf, ",\"conversions\":") != 0 || add_printed(buf, conversions) != 0)) ||
            (sent && (add_str(buf, ",\"sent\":") != 0 || add_printed(buf, sent) != 0)) ||
            ((long long)n < r->element[5]->integer && add_str(buf, ",\"truncated\":true") != 0))
            goto out;
    }
    rc = add_str(buf, "}") == 0 ? 0 : -1;
out:
    cJSON_Delete(contact);
    cJSON_Delete(conversions);
    cJSON_Delete(sent);
    free_events(v, n);
    return rc;
}

static int reply_shape_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 10 || r->elements > 11 ||
        (r->elements == 11 && r->element[10]->type != REDIS_REPLY_ARRAY))
        return 0;
    return r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
           r->element[2]->type == REDIS_REPLY_ARRAY && r->element[3]->type == REDIS_REPLY_ARRAY &&
           r->element[4]->type == REDIS_REPLY_ARRAY && r->element[5]->type == REDIS_REPLY_INTEGER &&
           r->element[8]->type == REDIS_REPLY_STRING && r->element[9]->type == REDIS_REPLY_ARRAY;
}

static void on_journey(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        char why[128];
        if (r)
            jlog(JLOG_WARNING, "msg=\"journey read failed\" error=\"%s\"",
                 jlog_quote(r->str, r->len, why, sizeof(why)));
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
    } else if (r->type == REDIS_REPLY_NIL) {
        http_reply_error(ar->req, 404, "not_found", "no contact with that identity");
    } else if (!reply_shape_ok(r)) {
        http_reply_error(ar->req, 500, "internal", "unexpected store answer");
    } else {
        struct evbuffer *buf = evbuffer_new();
        int rc = buf ? build_answer(r, ar->view, &ar->attr, buf) : -1;
        /* The headers http_reply_text sets, for a body already in a buffer. */
        struct evkeyvalq *h = evhttp_request_get_output_headers(ar->req);
        if (rc == 0 && (evhttp_add_header(h, "Content-Type", "application/json") != 0 ||
                        evhttp_add_header(h, "Cache-Control", "no-store") != 0)) {
            (void)evhttp_remove_header(h, "Content-Type"); /* the error reply sets its own */
            rc = -1;
        }
        if (rc == 0) {
            http_send(ar->req, 200, buf);
        } else if (rc == -2) {
            http_reply_error(ar->req, 500, "internal", "unexpected store answer");
        } else {
            http_reply_unavailable(ar->jd, ar->req, "out of memory");
        }
        if (buf)
            evbuffer_free(buf);
    }
    free(ar);
}

static void read_contact(struct jd *jd, struct evhttp_request *req, enum api_view view,
                         enum rp_model model, const char *mode, const char *key, size_t key_len)
{
    if (!rq_is_ready(jd->rq_api)) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    struct api_req *ar = calloc(1, sizeof(*ar));
    if (!ar) {
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    ar->view = view;
    ar->attr.model = model;
    ar->attr.lookback_ms = jd->cfg->attribution_lookback_ms;
    ar->attr.half_life_ms = jd->cfg->attribution_half_life_ms;
    ar->attr.from_ms = INT64_MIN;
    ar->attr.to_ms = INT64_MAX;
    char limit[24];
    snprintf(limit, sizeof(limit), "%lld", (long long)jd->cfg->max_journey_events);
    const char *argv[3] = {mode, key, limit};
    size_t lens[3] = {strlen(mode), key_len, strlen(limit)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_JOURNEY, 0, on_journey, ar, 0, 3, argv, lens) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}

/* Contact ids are "c_" and 20 lowercase hex digits (apply.lua's cid_for). They become parts
 * of Redis key names (jd:c:<id>:j), so anything else — "<id>:j" named the contact's journey
 * key — is no contact. The scripts check again (prelude.lua is_contact_id). */
static int is_contact_id(const char *s, size_t len)
{
    if (len != 22 || s[0] != 'c' || s[1] != '_')
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* DESIGN §7: a '+' must be sent as %2B, since form decoding makes a raw one a space. A
 * phone number that starts with a space and then a digit other than 0 can only have
 * been an international number written with a raw '+' (cx_norm_phone would otherwise
 * prefix the default country code to it), so it is read as one. A leading 0 is left as
 * it came: " 0039…" is already international, " 02…" a national number. */
static const char *phone_plus(const char *v, char *buf, size_t cap)
{
    if (v[0] != ' ' || v[1] < '1' || v[1] > '9')
        return v;
    int n = snprintf(buf, cap, "+%s", v + 1);
    return n < 0 || (size_t)n >= cap ? v : buf;
}

/* ?email= | phone= | anon= | contact= | identity=<type>:<value>, normalized the same way
 * the connectors normalize identities. */
void api_handle_journey(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct cx_form q = {0};
    char key[CX_IDENT_TYPE_MAX + CX_IDENT_VALUE_MAX + 2], norm[CX_IDENT_VALUE_MAX];
    char plus[CX_IDENT_VALUE_MAX];
    const char *v;
    int ok = query && cx_form_parse(&q, query, strlen(query)) == 0;
    enum rp_model model = RP_LINEAR;
    if (ok && (v = cx_form_get(&q, "model")) && rp_parse_model(v, &model) != 0) {
        cx_form_free(&q);
        http_reply_error(req, 400, "bad_request",
                         "unknown model: expected first_touch, last_touch, linear, position or "
                         "time_decay");
        return;
    }
    if (ok && (v = cx_form_get(&q, "contact"))) {
        if (!is_contact_id(v, strlen(v))) {
            cx_form_free(&q);
            http_reply_error(req, 404, "not_found", "no such contact");
            return;
        }
        snprintf(key, sizeof(key), "%s", v);
        cx_form_free(&q);
        read_contact(jd, req, VIEW_JOURNEY, model, "contact", key, strlen(key));
        return;
    }
    const char *type = NULL, *value = NULL;
    if (ok && (v = cx_form_get(&q, "email"))) {
        ok = cx_norm_email(v, norm, sizeof(norm)) == 0;
        type = "email";
        value = norm;
    } else if (ok && (v = cx_form_get(&q, "phone"))) {
        ok = cx_norm_phone(phone_plus(v, plus, sizeof(plus)), jd->cfg->default_country_code, norm,
                           sizeof(norm)) == 0;
        type = "phone";
        value = norm;
    } else if (ok && (v = cx_form_get(&q, "anon"))) {
        type = "anon";
        value = v;
    } else if (ok && (v = cx_form_get(&q, "identity"))) {
        const char *colon = strrchr(v, ':');
        /* custom:<name>:<value> keeps its own colon: split at the last one. */
        if (colon && colon != v && colon - v < CX_IDENT_TYPE_MAX) {
            char t[CX_IDENT_TYPE_MAX];
            snprintf(t, sizeof(t), "%.*s", (int)(colon - v), v);
            if (strcmp(t, "email") == 0)
                ok = cx_norm_email(colon + 1, norm, sizeof(norm)) == 0;
            else if (strcmp(t, "phone") == 0)
                ok = cx_norm_phone(phone_plus(colon + 1, plus, sizeof(plus)),
                                   jd->cfg->default_country_code, norm, sizeof(norm)) == 0;
            else
                snprintf(norm, sizeof(norm), "%s", colon + 1);
            snprintf(key, sizeof(key), "%s\t%s", t, norm);
            type = "";
        } else {
            ok = 0;
        }
    } else {
        ok = 0;
    }
    if (ok && type && type[0])
        snprintf(key, sizeof(key), "%s\t%s", type, value);
    cx_form_free(&q);
    if (!ok) {
        http_reply_error(
            req, 400, "bad_request",
            "expected one of email=, phone=, anon=, contact=, identity=<type>:<value>");
        return;
    }
    read_contact(jd, req, VIEW_JOURNEY, model, "identity", key, strlen(key));
}

void api_handle_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id)
{
    size_t len = strlen(contact_id);
    if (!is_contact_id(contact_id, len)) {
        http_reply_error(req, 404, "not_found", "no such contact");
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_DELETE)
        erase_contact(jd, req, contact_id);
    else
        read_contact(jd, req, VIEW_CONTACT, RP_LINEAR, "contact", contact_id, len);
}

static void on_status(struct rq_client *c, const redisReply *r, void *priv)
{
    struct api_req *ar = priv;
    (void)c;
    struct stream_status st;
    if (stream_parse_status(r, &st) != 0) {
        http_reply_unavailable(ar->jd, ar->req, "store unavailable");
        free(ar);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "length", (double)st.length);
    cJSON_AddNumberToObject(q, "pending", (double)st.pending);
    /* Lag: how long the oldest webhook not yet applied has waited (0 when none waits). */
    int64_t lag_ms = st.oldest_ms > 0 ? jd_now_ms() - st.oldest_ms : 0;
    cJSON_AddNumberToObject(q, "lag_seconds", (double)(lag_ms > 0 ? lag_ms / 1000 : 0));
    cJSON_AddNumberToObject(o, "dead_letters", (double)st.dead_letters);
    cJSON_AddStringToObject(o, "redis", "ready");
    http_reply_json(ar->req, 200, o);
    free(ar);
}

void api_handle_status(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct api_req *ar = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*ar)) : NULL;
    if (!ar) {
        http_reply_unavailable(jd, req, "redis unavailable");
        return;
    }
    ar->jd = jd;
    ar->req = req;
    if (stream_status(jd->rq_api, on_status, ar) != 0) {
        free(ar);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}
