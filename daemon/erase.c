/*
 * GDPR erasure (see erase.h; the design: docs/internals.md "Erasure"). One job per
 * DELETE, in phases, each a callback of the one before:
 *   1. erase.lua: the contact, its partners' conflict records, the tombstones; the reply
 *      carries the erased identities (kept in the job, in memory only, wiped at the end)
 *      and the raw stream's last id at that moment.
 *   2. the raw stream up to that id, ERASE_PAGE entries at a time: each entry normalized
 *      with its connector (pure code, as the worker does) and removed (acknowledged and
 *      deleted) when an event of it carries an erased identity. Entries added after the
 *      erasure are not looked at: apply.lua's tombstone check drops them.
 *   3. the dead-letter stream the same way, up to its last id when the phase starts, the
 *      matches discarded with stream_discard_dead (the per-source byte count stays exact).
 *   4. one answer and one log line: the contact id and counts, never what it held.
 * Every page is a bounded Redis call and a bounded amount of normalizing on the loop, so
 * webhooks and other requests interleave with a long scan.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common.h"
#include "erase.h"
#include "http.h"
#include "log.h"
#include "stream.h"
#include "util.h"

/* Entries per XRANGE page: bodies may be up to max_body each, so a page stays small. */
#define ERASE_PAGE 64
/* An identity value shorter than this is not looked for as plain text in a body the
 * connector cannot read (a short value would match unrelated bytes). */
#define ERASE_TEXT_MIN 6

enum erase_phase { PHASE_RAW, PHASE_DEAD };

struct erase_job {
    struct jd *jd;
    struct evhttp_request *req; /* answered once, in finish() */
    char contact[32];
    long long events, identities, scrubbed, queue_entries, dead_letters;
    long long shared; /* entries that also carry others' events: left, apply.lua drops theirs */
    /* The erased identities, "type\tvalue" (owned; wiped and freed in finish()). */
    char **idents;
    size_t nidents;
    enum erase_phase phase;
    char from[72];  /* the next page starts here: "-" or "(" + the last id seen */
    char to[64];    /* the last id the phase looks at */
    int incomplete; /* a scan was cut short (Redis away): said in the answer and the log */
};

static void scan_page(struct erase_job *job);
static void start_dead(struct erase_job *job);

static void job_free(struct erase_job *job)
{
    for (size_t i = 0; i < job->nidents; i++) {
        OPENSSL_cleanse(job->idents[i], strlen(job->idents[i]));
        free(job->idents[i]);
    }
    free(job->idents);
    free(job);
}

static void finish(struct erase_job *job)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "erased", job->contact);
    cJSON_AddNumberToObject(o, "events", (double)job->events);
    cJSON_AddNumberToObject(o, "identities", (double)job->identities);
    cJSON_AddNumberToObject(o, "conflicts_scrubbed", (double)job->scrubbed);
    cJSON_AddNumberToObject(o, "queue_entries", (double)job->queue_entries);
    cJSON_AddNumberToObject(o, "dead_letters", (double)job->dead_letters);
    cJSON_AddNumberToObject(o, "shared_entries", (double)job->shared);
    cJSON_AddBoolToObject(o, "complete", !job->incomplete);
    /* The contact id is not personal data; what it held is gone. */
    jlog(job->incomplete ? JLOG_WARNING : JLOG_NOTICE,
         "msg=\"contact erased\" contact=%s events=%lld identities=%lld conflicts_scrubbed=%lld "
         "queue_entries=%lld dead_letters=%lld shared_entries=%lld complete=%s",
         job->contact, job->events, job->identities, job->scrubbed, job->queue_entries,
         job->dead_letters, job->shared, job->incomplete ? "no" : "yes");
    http_reply_json(job->req, 200, o);
    job_free(job);
}

/* A step of the scan failed: the erasure answers now, marked incomplete. */
static void finish_incomplete(struct erase_job *job)
{
    job->incomplete = 1;
    finish(job);
}

/* The source an entry is normalized with: the configured one, the built-in ones, else a
 * stand-in of the entry's type (a source removed or retyped since: its dead letters are
 * still the person's). stand_in is the caller's storage. */
static const struct cx_source *source_for(struct jd *jd, const struct stream_record *rec,
                                          struct cx_source *stand_in)
{
    if (strcmp(rec->type, "events") == 0)
        return &jd->events_source;
    if (strcmp(rec->type, "click") == 0)
        return &jd->click_source;
    const struct cfg_source *s = cfg_find_source(jd->cfg, rec->src);
    if (s && strcmp(s->type, rec->type) == 0)
        return &s->cx;
    memset(stand_in, 0, sizeof(*stand_in));
    stand_in->name = rec->src;
    stand_in->type = rec->type;
    stand_in->default_country_code = jd->cfg->default_country_code;
    return stand_in;
}

static int is_erased(const struct erase_job *job, const char *type, const char *value)
{
    size_t tl = strlen(type);
    for (size_t i = 0; i < job->nidents; i++) {
        const char *s = job->idents[i];
        if (strncmp(s, type, tl) == 0 && s[tl] == '\t' && strcmp(s + tl + 1, value) == 0)
            return 1;
    }
    return 0;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Does hay hold needle (ASCII case-insensitive when fold)? */
static int contains(const char *hay, size_t n, const char *needle, int fold)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m && i + m <= n; i++) {
        size_t k = 0;
        while (k < m && (fold ? ascii_lower((unsigned char)hay[i + k]) ==
                                    ascii_lower((unsigned char)needle[k])
                              : hay[i + k] == needle[k]))
            k++;
        if (k == m)
            return 1;
    }
    return 0;
}

/* A body its connector cannot read (poison, no connector): the person's when it holds one
 * of their identity values as text (an email also with its '@' form-encoded). */
static int body_names_person(const struct erase_job *job, const struct stream_record *rec)
{
    for (size_t i = 0; i < job->nidents; i++) {
        const char *tab = strchr(job->idents[i], '\t');
        const char *v = tab ? tab + 1 : "";
        int email =
            tab && (size_t)(tab - job->idents[i]) == 5 && strncmp(job->idents[i], "email", 5) == 0;
        if (strlen(v) < ERASE_TEXT_MIN)
            continue;
        if (contains(rec->body, rec->body_len, v, email))
            return 1;
        const char *at = email ? strchr(v, '@') : NULL;
        char enc[CX_IDENT_VALUE_MAX + 4];
        if (at && snprintf(enc, sizeof(enc), "%.*s%%40%s", (int)(at - v), v, at + 1) > 0 &&
            contains(rec->body, rec->body_len, enc, 1))
            return 1;
    }
    return 0;
}

enum erase_match {
    MATCH_NONE,   /* not the person's */
    MATCH_MINE,   /* the person's webhook: removed */
    MATCH_SHARED, /* it also carries someone else's events: left to apply.lua's check */
};

/* Does an event carry one of the erased identities (1), only others (0), or none (-1)? */
static int event_is_erased(const struct erase_job *job, const struct cx_event *ev)
{
    for (size_t k = 0; k < ev->nidentities; k++)
        if (is_erased(job, ev->identities[k].type, ev->identities[k].value))
            return 1;
    return ev->nidentities ? 0 : -1;
}

/* Is this raw record one of the erased person's webhooks? One that also carries another
 * person's events (a /v1/events batch, a CRM's batched notification) is not removed: its
 * other events must still be applied, and apply.lua drops the person's. */
static enum erase_match record_matches(struct erase_job *job, const char *entry,
                                       const struct stream_record *rec)
{
    struct cx_source stand_in;
    const struct cx_source *src = source_for(job->jd, rec, &stand_in);
    const struct cx_connector *cx = cx_lookup(rec->type);
    if (!cx)
        return body_names_person(job, rec) ? MATCH_MINE : MATCH_NONE;
    struct cx_header headers[STREAM_MAX_HEADERS];
    for (size_t i = 0; i < rec->nheaders; i++)
        headers[i] = (struct cx_header){rec->headers[i].name, rec->headers[i].value};
    struct cx_raw raw = {
        .source = rec->src,
        .stream_id = entry,
        .received_ms = rec->recv_ms,
        .body = (const unsigned char *)rec->body,
        .body_len = rec->body_len,
        .headers = headers,
        .nheaders = rec->nheaders,
    };
    struct cx_event_list events;
    struct cx_err err = {{0}};
    struct cx_fetch_list *need = calloc(1, sizeof(*need));
    int mine = 0, others = 0;
    cx_list_init(&events);
    if (!need)
        return body_names_person(job, rec) ? MATCH_MINE : MATCH_NONE;
    enum cx_result res = cx->normalize(src, &raw, NULL, &events, need, &err);
    /* Whatever events came out (a thin webhook's may be partial) are looked at. */
    for (size_t i = 0; i < events.n; i++) {
        int e = event_is_erased(job, &events.v[i]);
        mine |= e == 1;
        others |= e == 0;
    }
    if (!mine && res != CX_NORM_OK && res != CX_NORM_SKIP)
        mine = body_names_person(job, rec);
    cx_list_free(&events);
    free(need);
    return !mine ? MATCH_NONE : others ? MATCH_SHARED : MATCH_MINE;
}

/* The next page of this phase, or the next phase. */
static void page_done(struct erase_job *job, int full)
{
    if (full) {
        scan_page(job);
    } else if (job->phase == PHASE_RAW) {
        start_dead(job);
    } else {
        finish(job);
    }
}

struct page_state {
    struct erase_job *job;
    int full;
};

/* A page's removal answered: `ok`, n more removed (counted in *count) and on to the next
 * page; else the erasure is incomplete and ends here. ps is freed. */
static void page_removed(struct page_state *ps, int ok, long long n, long long *count)
{
    struct erase_job *job = ps->job;
    int full = ps->full;
    free(ps);
    if (!ok) {
        finish_incomplete(job);
        return;
    }
    *count += n;
    page_done(job, full);
}

static void on_raw_removed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct page_state *ps = priv;
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    (void)c;
    page_removed(ps, ok, ok ? r->integer : 0, &ps->job->queue_entries);
}

static void on_dead_removed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct page_state *ps = priv;
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    (void)c;
    page_removed(ps, ok, ok ? (long long)r->elements : 0, &ps->job->dead_letters);
}

static void on_page(struct rq_client *c, const redisReply *r, void *priv)
{
    struct erase_job *job = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        finish_incomplete(job);
        return;
    }
    const char *ids[ERASE_PAGE];
    int n = 0;
    for (size_t i = 0; i < r->elements && i < ERASE_PAGE; i++) {
        const char *id;
        struct stream_record rec;
        enum stream_entry_kind kind = stream_parse_entry(r->element[i], &id, &rec);
        if (kind == STREAM_ENTRY_GONE)
            continue;
        snprintf(job->from, sizeof(job->from), "(%s", id);
        switch (kind == STREAM_ENTRY_OK ? record_matches(job, id, &rec) : MATCH_NONE) {
        case MATCH_MINE:
            ids[n++] = id;
            break;
        case MATCH_SHARED:
            job->shared++;
            break;
        case MATCH_NONE:
            break;
        }
    }
    int full = r->elements >= ERASE_PAGE;
    if (n == 0) {
        page_done(job, full);
        return;
    }
    struct page_state *ps = calloc(1, sizeof(*ps));
    int rc = -1;
    if (ps) {
        ps->job = job;
        ps->full = full;
        rc = job->phase == PHASE_RAW
                 ? stream_remove_raw(job->jd->rq_api, ids, n, on_raw_removed, ps)
                 : stream_discard_dead(job->jd->rq_api, ids, n, on_dead_removed, ps);
    }
    if (rc != 0) {
        free(ps);
        finish_incomplete(job);
    }
}

static void scan_page(struct erase_job *job)
{
    const char *stream = job->phase == PHASE_RAW ? JD_RAW_STREAM : JD_DEAD_STREAM;
    if (stream_range(job->jd->rq_api, stream, job->from, job->to, ERASE_PAGE, on_page, job) != 0) {
        finish_incomplete(job);
    }
}

static void on_dead_last(struct rq_client *c, const redisReply *r, void *priv)
{
    struct erase_job *job = priv;
    (void)c;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        finish_incomplete(job);
        return;
    }
    const char *id;
    struct stream_record rec;
    if (r->elements == 0 || stream_parse_entry(r->element[0], &id, &rec) == STREAM_ENTRY_GONE) {
        finish(job); /* no dead letters */
        return;
    }
    snprintf(job->to, sizeof(job->to), "%s", id);
    scan_page(job);
}

/* The dead letters up to the newest one now: a webhook of the person dead-lettered while
 * the raw stream was scanned is among them. */
static void start_dead(struct erase_job *job)
{
    job->phase = PHASE_DEAD;
    snprintf(job->from, sizeof(job->from), "-");
    if (stream_last(job->jd->rq_api, JD_DEAD_STREAM, on_dead_last, job) != 0) {
        finish_incomplete(job);
    }
}

/* erase.lua's reply: {contact, events, identities, scrubbed, {identities}, raw last id}. */
static int reply_shape_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6)
        return 0;
    for (size_t i = 0; i < r->elements; i++) {
        int want = i == 0 || i == 5 ? REDIS_REPLY_STRING
                   : i == 4         ? REDIS_REPLY_ARRAY
                                    : REDIS_REPLY_INTEGER;
        if (r->element[i]->type != want)
            return 0;
    }
    for (size_t i = 0; i < r->element[4]->elements; i++)
        if (r->element[4]->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
}

static void on_erased(struct rq_client *c, const redisReply *r, void *priv)
{
    struct erase_job *job = priv;
    (void)c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        http_reply_unavailable(job->jd, job->req, "store unavailable");
        job_free(job);
        return;
    }
    if (r->type == REDIS_REPLY_NIL) {
        http_reply_error(job->req, 404, "not_found", "no such contact");
        job_free(job);
        return;
    }
    if (!reply_shape_ok(r)) {
        http_reply_error(job->req, 500, "internal", "unexpected store answer");
        job_free(job);
        return;
    }
    snprintf(job->contact, sizeof(job->contact), "%s", r->element[0]->str);
    job->events = r->element[1]->integer;
    job->identities = r->element[2]->integer;
    job->scrubbed = r->element[3]->integer;
    const redisReply *ids = r->element[4];
    job->idents = calloc(ids->elements + 1, sizeof(*job->idents));
    for (size_t i = 0; job->idents && i < ids->elements; i++) {
        if (!(job->idents[i] = strdup(ids->element[i]->str))) {
            job->incomplete = 1;
            break;
        }
        job->nidents++;
    }
    if (!job->idents || job->incomplete) {
        /* The contact and its tombstones are gone already; only the scan cannot run. */
        finish_incomplete(job);
        return;
    }
    job->phase = PHASE_RAW;
    snprintf(job->from, sizeof(job->from), "-");
    snprintf(job->to, sizeof(job->to), "%s", r->element[5]->str);
    if (job->nidents == 0)
        finish(job); /* nothing any webhook could be recognised by */
    else if (strcmp(job->to, "0") == 0)
        start_dead(job);
    else
        scan_page(job);
}

void erase_contact(struct jd *jd, struct evhttp_request *req, const char *contact_id)
{
    struct erase_job *job = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*job)) : NULL;
    char salt[72], now[24];
    if (!job || jd_random_id("", 32, salt, sizeof(salt)) != 0) {
        free(job);
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    job->jd = jd;
    job->req = req;
    snprintf(job->contact, sizeof(job->contact), "%s", contact_id);
    snprintf(now, sizeof(now), "%lld", (long long)jd_now_ms());
    const char *argv[3] = {contact_id, now, salt};
    size_t lens[3] = {strlen(contact_id), strlen(now), strlen(salt)};
    if (rq_eval(jd->rq_api, JD_SCRIPT_ERASE, 0, on_erased, job, 0, 3, argv, lens) != 0) {
        job_free(job);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}
