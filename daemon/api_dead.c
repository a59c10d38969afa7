/*
 * The dead-letter endpoints (docs/api.md "Dead letters"): the operator's loop over the
 * webhooks that could not be applied — see them and their reasons, fix the cause, replay
 * them, or discard one.
 *
 * GET /v1/dead and POST /v1/dead/replay select the same way (source, reason substring,
 * the time range of the dead-lettering, ids) and read the stream in slices of
 * STREAM_DEAD_SCAN_MAX entries (dead_list.lua, replay.lua), chained here from each
 * slice's cursor, so no one Redis call is long; a request reads at most a budget of
 * entries and then answers with a cursor to continue. The range's end is fixed at the
 * first slice and travels in the cursor, so a replay never meets again the entries it put
 * back that failed once more. DELETE /v1/dead/<id> discards one through dead_discard.lua.
 * The body and kept headers are shown to an admin token only; logs never carry them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_dead.h"
#include "common.h"
#include "http.h"
#include "log.h"
#include "stream.h"

/* Page sizes and the entries one request reads at most (then it answers with a cursor). */
#define DEAD_LIST_DEFAULT 50
#define DEAD_LIST_MAX 500
#define DEAD_LIST_BUDGET 1000
#define DEAD_REPLAY_DEFAULT 100
#define DEAD_REPLAY_MAX 10000
#define DEAD_REPLAY_BUDGET 10000
/* Bodies one list page carries at most (the first entry always goes in). */
#define DEAD_BODY_BUDGET (4u * 1024 * 1024)
/* A stream id as text: "<ms>-<seq>", each at most 20 digits. */
#define DEAD_ID_MAX 48
#define DEAD_FILTER_MAX 256

struct sid {
    uint64_t ms, seq;
};

enum dead_mode { DEAD_LIST, DEAD_REPLAY };

struct dead_job {
    struct jd *jd;
    struct evhttp_request *req;
    enum dead_mode mode;
    int with_body;
    /* The selection: inclusive range (last "+" = the stream's end), filters, ids. */
    char first[DEAD_ID_MAX], last[DEAD_ID_MAX];
    char source[DEAD_FILTER_MAX], reason[DEAD_FILTER_MAX];
    char *ids_text; /* owned: the ids= value, split in place */
    const char *ids[STREAM_DISCARD_MAX];
    int nids;
    long limit, done; /* listed or replayed */
    long read, budget;
    size_t body_bytes;
    cJSON *list;
};

/* Strict "<ms>-<seq>": digits only, each part fits 64 bits. */
static int parse_sid(const char *s, struct sid *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9' || strlen(s) >= DEAD_ID_MAX)
        return -1;
    errno = 0;
    out->ms = strtoull(s, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9')
        return -1;
    out->seq = strtoull(end + 1, &end, 10);
    /* A part past 64 bits saturates with ERANGE; the ms of a real id is far below it. */
    if (*end || errno == ERANGE || out->ms == UINT64_MAX)
        return -1;
    return 0;
}

static int sid_cmp(struct sid a, struct sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

static void sid_format(struct sid s, char out[DEAD_ID_MAX])
{
    snprintf(out, DEAD_ID_MAX, "%" PRIu64 "-%" PRIu64, s.ms, s.seq);
}

static int is_stream_id(const char *s)
{
    struct sid x;
    return parse_sid(s, &x) == 0;
}

static void job_free(struct dead_job *j)
{
    if (!j)
        return;
    cJSON_Delete(j->list);
    free(j->ids_text);
    free(j);
}

/* Reads the selection shared by the list and the replay. NULL, or what is wrong. */
static const char *parse_selection(const struct cx_form *q, struct dead_job *j)
{
    const char *source = cx_form_get(q, "source"), *reason = cx_form_get(q, "reason");
    const char *from_s = cx_form_get(q, "from"), *to_s = cx_form_get(q, "to");
    const char *cursor = cx_form_get(q, "cursor"), *ids = cx_form_get(q, "ids");
    if ((source && strlen(source) >= sizeof(j->source)) ||
        (reason && strlen(reason) >= sizeof(j->reason)))
        return "source and reason: at most 255 bytes";
    snprintf(j->source, sizeof(j->source), "%s", source ? source : "");
    snprintf(j->reason, sizeof(j->reason), "%s", reason ? reason : "");
    int64_t from = 0, to = 0;
    if (from_s && (cx_parse_rfc3339(from_s, &from) != 0 || from < 0))
        return "from is not an RFC 3339 instant";
    if (to_s && (cx_parse_rfc3339(to_s, &to) != 0 || to <= 0))
        return "to is not an RFC 3339 instant";
    if (from_s && to_s && from >= to)
        return "from must be before to";
    /* Dead-letter ids are the dead-lettering's time in ms: the range is an id range, from
     * inclusive, to exclusive. */
    struct sid lo = {from_s ? (uint64_t)from : 0, 0};
    struct sid hi = {to_s ? (uint64_t)to - 1 : UINT64_MAX, UINT64_MAX};
    if (cursor && !ids) {
        /* "<last id read>" or "<last id read>:<the range's end>", as an answer gave it. */
        char c[2 * DEAD_ID_MAX];
        struct sid after, end;
        if (strlen(cursor) >= sizeof(c))
            return "cursor: as a previous answer gave it";
        snprintf(c, sizeof(c), "%s", cursor);
        char *colon = strchr(c, ':');
        if (colon)
            *colon = '\0';
        if (parse_sid(c, &after) != 0 || (colon && parse_sid(colon + 1, &end) != 0))
            return "cursor: as a previous answer gave it";
        struct sid next = after.seq == UINT64_MAX ? (struct sid){after.ms + 1, 0}
                                                  : (struct sid){after.ms, after.seq + 1};
        if (sid_cmp(next, lo) > 0)
            lo = next;
        if (colon && sid_cmp(end, hi) < 0)
            hi = end;
    }
    sid_format(lo, j->first);
    if (hi.ms == UINT64_MAX)
        snprintf(j->last, sizeof(j->last), "+");
    else
        sid_format(hi, j->last);
    if (!ids)
        return NULL;
    /* ids=: only these, those outside from/to left out. */
    j->ids_text = strdup(ids);
    if (!j->ids_text)
        return "out of memory";
    for (char *save = NULL, *t = strtok_r(j->ids_text, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        struct sid x;
        if (parse_sid(t, &x) != 0)
            return "ids: a comma-separated list of dead-letter ids";
        if (j->nids == STREAM_DISCARD_MAX)
            return "ids: at most 256 per call";
        if (sid_cmp(x, lo) >= 0 && sid_cmp(x, hi) <= 0)
            j->ids[j->nids++] = t;
    }
    return NULL;
}

/* A stored text (a reason quoting a payload, a header) as a JSON string: the answer must
 * be UTF-8, so bytes that are not are shown as '?'. */
static void add_text(cJSON *o, const char *key, const char *s)
{
    size_t len = strlen(s);
    if (cx_utf8_valid((const unsigned char *)s, len)) {
        cJSON_AddStringToObject(o, key, s);
        return;
    }
    char *copy = strdup(s);
    if (!copy)
        return;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    cJSON_AddStringToObject(o, key, copy);
    free(copy);
}

/* The body as a JSON string when it is text, else as base64 (it may hold any bytes). */
static void add_body(cJSON *o, const char *body, size_t len)
{
    if (memchr(body, '\0', len) == NULL && cx_utf8_valid((const unsigned char *)body, len)) {
        cJSON_AddStringToObject(o, "body", body);
        return;
    }
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!b64)
        return;
    cx_base64_encode((const unsigned char *)body, len, b64);
    cJSON_AddStringToObject(o, "body_base64", b64);
    free(b64);
}

/* One dead letter [id, [field, value, ...]] as the API shows it; *body_len: its body's. */
static cJSON *dead_json(const redisReply *e, int with_body, size_t *body_len)
{
    const char *id = e->element[0]->str;
    const redisReply *f = e->element[1];
    const char *entry = NULL, *reason = "", *deliveries = NULL, *src = STREAM_NO_SOURCE;
    const char *type = NULL, *recv = NULL, *body = NULL, *body_bytes = NULL;
    size_t blen = 0;
    cJSON *o = cJSON_CreateObject(), *headers = NULL;
    if (!o)
        return NULL;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        const char *name = f->element[k]->str, *v = f->element[k + 1]->str;
        if (strcmp(name, "entry") == 0)
            entry = v;
        else if (strcmp(name, "reason") == 0)
            reason = v;
        else if (strcmp(name, "deliveries") == 0)
            deliveries = v;
        else if (strcmp(name, "src") == 0)
            src = v;
        else if (strcmp(name, "type") == 0)
            type = v;
        else if (strcmp(name, "recv") == 0)
            recv = v;
        else if (strcmp(name, "body_bytes") == 0)
            body_bytes = v;
        else if (strcmp(name, "body") == 0) {
            body = v;
            blen = f->element[k + 1]->len;
        } else if (with_body && strncmp(name, "h:", 2) == 0) {
            if (!headers)
                headers = cJSON_AddObjectToObject(o, "headers");
            if (headers)
                add_text(headers, name + 2, v);
        }
    }
    char t[32];
    struct sid s;
    cJSON_AddStringToObject(o, "id", id);
    add_text(o, "source", src);
    if (type)
        add_text(o, "type", type);
    add_text(o, "reason", reason);
    cJSON_AddNumberToObject(o, "attempts", deliveries ? (double)strtoll(deliveries, NULL, 10) : 0);
    /* First attempt: when journeyd received it (its raw entry's id); last: when it was
     * dead-lettered (the dead letter's id). */
    int64_t first = entry && parse_sid(entry, &s) == 0 ? (int64_t)s.ms
                    : recv                             ? strtoll(recv, NULL, 10)
                                                       : -1;
    if (first >= 0) {
        cx_format_rfc3339(first, t);
        cJSON_AddStringToObject(o, "first_attempt", t);
    } else {
        cJSON_AddNullToObject(o, "first_attempt");
    }
    if (parse_sid(id, &s) == 0) {
        cx_format_rfc3339((int64_t)s.ms, t);
        cJSON_AddStringToObject(o, "last_attempt", t);
    }
    if (entry)
        add_text(o, "entry", entry);
    cJSON_AddNumberToObject(o, "body_bytes",
                            body         ? (double)blen
                            : body_bytes ? (double)strtoll(body_bytes, NULL, 10)
                                         : 0);
    if (with_body && body)
        add_body(o, body, blen);
    *body_len = blen;
    return o;
}

static int send_slice(struct dead_job *j);

/* The answer, with the cursor that continues the selection (NULL: it was read through). */
static void finish(struct dead_job *j, const char *cursor)
{
    cJSON *o = cJSON_CreateObject();
    char next[2 * DEAD_ID_MAX + 1];
    if (!o) {
        http_reply_unavailable(j->jd, j->req, "out of memory");
        job_free(j);
        return;
    }
    if (j->mode == DEAD_LIST) {
        cJSON_AddItemToObject(o, "dead_letters", j->list);
        j->list = NULL;
    } else {
        cJSON_AddNumberToObject(o, "replayed", (double)j->done);
        jlog(JLOG_NOTICE, "msg=\"dead letters replayed\" count=%ld read=%ld", j->done, j->read);
    }
    cJSON_AddNumberToObject(o, "scanned", (double)j->read);
    if (cursor && cursor[0] && j->nids == 0) {
        snprintf(next, sizeof(next), "%s%s%s", cursor, strcmp(j->last, "+") ? ":" : "",
                 strcmp(j->last, "+") ? j->last : "");
        cJSON_AddStringToObject(o, "next_cursor", next);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    http_reply_json(j->req, 200, o);
    job_free(j);
}

static void on_slice(struct rq_client *c, const redisReply *r, void *priv)
{
    struct dead_job *j = priv;
    struct stream_dead_page p;
    (void)c;
    if (stream_parse_dead_page(r, &p) != 0) {
        if (j->mode == DEAD_REPLAY && j->done > 0)
            jlog(JLOG_WARNING, "msg=\"dead-letter replay cut short\" count=%ld", j->done);
        http_reply_unavailable(j->jd, j->req, "store unavailable");
        job_free(j);
        return;
    }
    j->read += (long)p.read;
    if (p.last[0] && strlen(p.last) < sizeof(j->last))
        snprintf(j->last, sizeof(j->last), "%s", p.last);
    if (j->mode == DEAD_REPLAY)
        j->done += (long)p.n;
    for (size_t i = 0; j->mode == DEAD_LIST && i < p.nentries; i++) {
        size_t blen = 0;
        /* A page of big bodies stops early; the cursor resumes after the last shown (a
         * slice starts only below the budget, so there is one in this slice). */
        if (i > 0 && j->with_body && j->body_bytes >= DEAD_BODY_BUDGET) {
            finish(j, p.entries[i - 1]->element[0]->str);
            return;
        }
        cJSON *e = dead_json(p.entries[i], j->with_body, &blen);
        if (!e) {
            http_reply_unavailable(j->jd, j->req, "out of memory");
            job_free(j);
            return;
        }
        cJSON_AddItemToArray(j->list, e);
        j->body_bytes += blen;
        j->done++;
    }
    if (!p.cursor[0] || j->done >= j->limit || j->read >= j->budget || j->nids > 0 ||
        (j->with_body && j->body_bytes >= DEAD_BODY_BUDGET)) {
        finish(j, p.cursor);
        return;
    }
    struct sid s;
    if (parse_sid(p.cursor, &s) != 0) {
        http_reply_unavailable(j->jd, j->req, "store unavailable");
        job_free(j);
        return;
    }
    s = s.seq == UINT64_MAX ? (struct sid){s.ms + 1, 0} : (struct sid){s.ms, s.seq + 1};
    sid_format(s, j->first);
    if (send_slice(j) != 0) {
        http_reply_unavailable(j->jd, j->req, "store unavailable");
        job_free(j);
    }
}

static int send_slice(struct dead_job *j)
{
    long scan = j->budget - j->read;
    struct stream_dead_query q = {
        .first = j->first,
        .last = j->last,
        .scan = (int)(scan < STREAM_DEAD_SCAN_MAX ? scan : STREAM_DEAD_SCAN_MAX),
        .limit = (int)(j->limit - j->done),
        .source = j->source,
        .reason = j->reason,
        .ids = j->ids,
        .nids = j->nids,
    };
    if (j->mode == DEAD_LIST)
        return stream_list_dead(j->jd->rq_api, &q, j->with_body, on_slice, j);
    return stream_replay_dead(j->jd->rq_api, &q, on_slice, j);
}

/* Parses the query into a new job and starts its first slice; answers on any failure. */
static void start(struct jd *jd, struct evhttp_request *req, enum dead_mode mode, int with_body)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct cx_form q = {0};
    struct dead_job *j = calloc(1, sizeof(*j));
    const char *err = NULL;
    if (!j) {
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    j->jd = jd;
    j->req = req;
    j->mode = mode;
    j->with_body = with_body;
    j->limit = mode == DEAD_LIST ? DEAD_LIST_DEFAULT : DEAD_REPLAY_DEFAULT;
    j->budget = mode == DEAD_LIST ? DEAD_LIST_BUDGET : DEAD_REPLAY_BUDGET;
    if (query && cx_form_parse(&q, query, strlen(query)) != 0)
        err = "malformed query";
    const char *name = mode == DEAD_LIST ? "limit" : "count";
    const char *v = err ? NULL : cx_form_get(&q, name);
    long max = mode == DEAD_LIST ? DEAD_LIST_MAX : DEAD_REPLAY_MAX;
    if (v) {
        char *end;
        j->limit = strtol(v, &end, 10);
        if (end == v || *end || j->limit < 1 || j->limit > max)
            err = mode == DEAD_LIST ? "limit: a number from 1 to 500"
                                    : "count: a number from 1 to 10000";
    }
    if (!err)
        err = parse_selection(&q, j);
    int ids_given = !err && cx_form_get(&q, "ids") != NULL;
    cx_form_free(&q);
    if (err) {
        http_reply_error(req, 400, "bad_request", err);
        job_free(j);
        return;
    }
    if (mode == DEAD_LIST && !(j->list = cJSON_CreateArray())) {
        http_reply_unavailable(jd, req, "out of memory");
        job_free(j);
        return;
    }
    /* Every id given was outside from/to: nothing to read. */
    if (ids_given && j->nids == 0) {
        finish(j, NULL);
        return;
    }
    if (!rq_is_ready(jd->rq_api) || send_slice(j) != 0) {
        http_reply_unavailable(jd, req, "store unavailable");
        job_free(j);
    }
}

void api_handle_dead_list(struct jd *jd, struct evhttp_request *req, const char *rest,
                          enum cfg_scope scope)
{
    (void)rest;
    start(jd, req, DEAD_LIST, scope >= CFG_SCOPE_ADMIN);
}

void api_handle_replay(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    start(jd, req, DEAD_REPLAY, 0);
}

struct dead_req {
    struct jd *jd;
    struct evhttp_request *req;
};

static void on_discarded(struct rq_client *c, const redisReply *r, void *priv)
{
    struct dead_req *dr = priv;
    (void)c;
    const char *id, *source, *reason;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        http_reply_unavailable(dr->jd, dr->req, "store unavailable");
    } else if (r->elements == 0 ||
               stream_discarded_row(r->element[0], &id, &source, &reason) != 0) {
        http_reply_error(dr->req, 404, "not_found", "no dead letter with that id");
    } else {
        /* The reason quotes payload ids: escaped, so it cannot forge another field. */
        char src[128], why[512];
        jlog(JLOG_NOTICE, "msg=\"dead letter discarded\" id=%s source=%s reason=\"%s\"", id,
             jlog_quote(source, strlen(source), src, sizeof(src)),
             jlog_quote(reason, strlen(reason), why, sizeof(why)));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "discarded", id);
        http_reply_json(dr->req, 200, o);
    }
    free(dr);
}

void api_handle_dead_discard(struct jd *jd, struct evhttp_request *req, const char *id)
{
    if (!is_stream_id(id)) {
        http_reply_error(req, 404, "not_found", "no dead letter with that id");
        return;
    }
    struct dead_req *dr = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*dr)) : NULL;
    if (!dr) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    dr->jd = jd;
    dr->req = req;
    const char *ids[1] = {id};
    if (stream_discard_dead(jd->rq_api, ids, 1, on_discarded, dr) != 0) {
        free(dr);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}
