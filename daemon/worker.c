/*
 * The worker's policy: read a batch from the raw stream, normalize each entry with its
 * connector, apply the canonical events with one atomic script call that also acks the
 * entry, and decide what goes to the dead-letter stream (a poison payload, a source no
 * longer configured, too many deliveries). A periodic sweep claims entries a crashed or
 * slow consumer left pending. When Redis refuses a script because of its own state (out of
 * memory, loading, busy, a lost connection...), the entry is not at fault: it is held in
 * memory, with its delivery count untouched, and tried again after a backoff, while the
 * worker reads nothing new. The wire format is queue/stream.c's; look-up rounds for thin
 * webhooks are daemon/lookup.c's, which calls back through on_lookups_done.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaigns.h"
#include "common.h"
#include "log.h"
#include "lookup.h"
#include "outbound.h"
#include "stream.h"
#include "util.h"
#include "outplan.h"
#include "worker.h"

#define WORKER_BLOCK_MS 1000
#define DROP_LOG_MS 60000
/* A consumer name's lease (docs/internals.md "Consumer names"): renewed every third of
 * it; a worker that dies without a trace frees its name this long after. */
#define LEASE_MS 15000
/* Instance names a host tries (<host>-0 ... <host>-63). */
#define LEASE_SLOTS 64

/* Backoff while Redis refuses work: from the first to the last, doubling. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000

/* One raw entry on its way through a script: what the reply callback needs to log and
 * account, and, for a refusal by Redis, to try it again without reading it back (a read
 * back would count a delivery). */
struct apply_ctx {
    struct worker *w;
    struct apply_ctx *next; /* in worker.held */
    char entry[64];
    char source[64]; /* a dead letter's: whose cap it counts against */
    long long deliveries;
    int has_rec; /* 0: a malformed entry, nothing to parse */
    struct stream_record rec;
    char *blob; /* rec's storage */
};

struct worker {
    struct jd *jd;
    char consumer[128];
    int group_ready;
    int reading;        /* an XREADGROUP or claim is in flight */
    size_t outstanding; /* apply / dead-letter scripts and look-up jobs in flight */
    int stopping;
    struct event *sweep;     /* periodic claim of entries left pending by a crash */
    struct event *retry;     /* read again after a failure */
    struct lookups *lookups; /* entries waiting for look-ups: not to be claimed again */
    int sweeping;            /* sweep commands in flight */
    /* Dead letters dropped to keep a source within dead_letter_max: logged at once, then
     * at most once a DROP_LOG_MS with the count since, so a flood cannot flood the log. */
    int64_t drop_logged_ms;
    uint64_t drops_unlogged;
    /* Entries Redis refused (not their fault), to be tried again after backoff_ms; none
     * new is read meanwhile. backoff_ms is 0 while Redis does what it is asked. */
    struct apply_ctx *held;
    int64_t backoff_ms;
    int sweep_more; /* the last sweep found a full page: sweep again when it is done */
    /* The consumer name is ours while we hold its lease; until then nothing is read.
     * Once taken, our own pending entries (a predecessor's under this name) are read
     * first, from history_from on, then new ones. */
    int leased;
    int history;
    char history_from[64];
    char host[64];
    char token[192]; /* "<host> <pid> <start µs>": who holds a lease */
    struct event *renew;
};

static void read_more(struct worker *w);
static void read_next(struct worker *w, int block);
static void lease_acquire(struct worker *w);
static void schedule_retry(struct worker *w);
static int is_held(const struct worker *w, const char *id);

/* Errors that come from Redis's state, not from the entry: no reply at all (a timeout, a
 * lost connection) or one of these codes, at the start of the reply or, from a script on
 * Redis before 7, quoted inside "ERR Error running script ...: -CODE ...". */
static int redis_refused(const redisReply *r)
{
    static const char *const codes[] = {
        "OOM",         "LOADING",    "BUSY",     "MISCONF", "READONLY", "MASTERDOWN", "TRYAGAIN",
        "CLUSTERDOWN", "NOREPLICAS", "NOSCRIPT", "NOAUTH",  "NOPERM",   "UNBLOCKED",  "EXECABORT"};
    if (!r)
        return 1;
    if (r->type != REDIS_REPLY_ERROR || !r->str)
        return 0;
    const char *quoted =
        strncmp(r->str, "ERR Error running script", 24) == 0 ? strstr(r->str, ": -") : NULL;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(r->str, codes[i], n) == 0 && (r->str[n] == ' ' || r->str[n] == '\0'))
            return 1;
        if (quoted && strncmp(quoted + 3, codes[i], n) == 0 && quoted[3 + n] == ' ')
            return 1;
    }
    return 0;
}

static void ctx_free(struct apply_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->blob);
    free(ctx);
}

/* Redis did what it was asked: the backoff starts over next time. */
static void redis_answered(struct worker *w)
{
    w->backoff_ms = 0;
}

/* Redis refused: the next try waits longer, up to BACKOFF_MAX_MS. */
static void redis_refusing(struct worker *w)
{
    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (w->backoff_ms > BACKOFF_MAX_MS)
        w->backoff_ms = BACKOFF_MAX_MS;
    schedule_retry(w);
}

/* A record reconciliation fetched whose events were new: their webhook never came (or
 * not yet). The dedup made an already applied one count 0. */
static void count_fetched(struct jd *jd, const struct apply_ctx *ctx, uint64_t applied)
{
    if (!ctx->has_rec || applied == 0)
        return;
    for (size_t i = 0; i < ctx->rec.nheaders; i++)
        if (strcmp(ctx->rec.headers[i].name, STREAM_FETCHED_HEADER) == 0) {
            struct metrics_source *row = metrics_source(&jd->metrics, ctx->rec.src);
            if (row)
                row->reconciled += applied;
            return;
        }
}

static void on_script_done(struct rq_client *c, const redisReply *r, void *priv)
{
    struct apply_ctx *ctx = priv;
    struct worker *w = ctx->w;
    struct jd *jd = w->jd;
    (void)c;
    w->outstanding--;
    if (redis_refused(r)) {
        /* Not the entry's fault: held and tried again as it is, so neither this refusal
         * nor the retry counts toward max_deliveries. */
        char why[200] = "no reply";
        if (r)
            jlog_quote(r->str, r->len, why, sizeof(why));
        if (!w->held)
            jlog(JLOG_WARNING, "msg=\"redis refused, will retry\" entry=%s error=\"%s\"",
                 ctx->entry, why);
        ctx->next = w->held;
        w->held = ctx;
        redis_refusing(w);
        return;
    }
    redis_answered(w);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 6) {
        count_fetched(jd, ctx, (uint64_t)r->element[0]->integer);
        jd->metrics.n.applied += (uint64_t)r->element[0]->integer;
        jd->metrics.n.duplicates += (uint64_t)r->element[1]->integer;
        jd->metrics.n.merges += (uint64_t)r->element[2]->integer;
        jd->metrics.n.conflicts += (uint64_t)r->element[3]->integer;
        jd->metrics.n.restitched += (uint64_t)r->element[4]->integer;
        jd->metrics.n.restitches_skipped += (uint64_t)r->element[5]->integer;
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        jd->metrics.n.dead_letters++;
    } else {
        /* Left pending: the sweep claims it again, and after max_deliveries it is
         * dead-lettered with the error recorded here. */
        char why[200] = "no reply";
        if (r && r->type == REDIS_REPLY_ERROR) {
            jlog_quote(r->str, r->len, why, sizeof(why));
            stream_note_error(jd->rq_worker, ctx->entry, why);
        }
        jlog(JLOG_WARNING, "msg=\"apply failed, will retry\" entry=%s error=\"%s\"", ctx->entry,
             why);
    }
    ctx_free(ctx);
    if (w->outstanding == 0 && !w->reading)
        read_more(w);
}

/* rec == NULL: a malformed entry (dead-lettered without its fields). */
static struct apply_ctx *ctx_new(struct worker *w, const char *entry,
                                 const struct stream_record *rec, long long deliveries)
{
    struct apply_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->w = w;
    ctx->deliveries = deliveries;
    snprintf(ctx->entry, sizeof(ctx->entry), "%s", entry);
    if (rec) {
        if (stream_record_copy(rec, &ctx->rec, &ctx->blob) != 0) {
            ctx_free(ctx);
            return NULL;
        }
        ctx->has_rec = 1;
    }
    return ctx;
}

/* Accounts a script call that was (rc == 0) or was not sent; on_script_done frees ctx. */
static int ctx_sent(struct worker *w, struct apply_ctx *ctx, int rc)
{
    if (rc != 0) {
        ctx_free(ctx);
        return -1;
    }
    w->outstanding++;
    return 0;
}

static int send_script(struct worker *w, enum jd_script script, const char *entry,
                       const struct stream_record *rec, long long deliveries, int numkeys, int argc,
                       const char **argv, const size_t *lens)
{
    struct apply_ctx *ctx = ctx_new(w, entry, rec, deliveries);
    if (!ctx)
        return -1;
    return ctx_sent(
        w, ctx,
        rq_eval(w->jd->rq_worker, script, 0, on_script_done, ctx, numkeys, argc, argv, lens));
}

/* dead.lua's answer: how many older dead letters of the source went to make room. The
 * rest of the accounting is on_script_done's, as for any script. */
static void on_dead_lettered(struct rq_client *c, const redisReply *r, void *priv)
{
    struct apply_ctx *ctx = priv;
    struct worker *w = ctx->w;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        int64_t now = jd_mono_us() / 1000;
        metrics_count_dead_dropped(&w->jd->metrics, ctx->source, (uint64_t)r->integer);
        w->drops_unlogged += (uint64_t)r->integer;
        if (w->drop_logged_ms == 0 || now - w->drop_logged_ms >= DROP_LOG_MS) {
            jlog(JLOG_WARNING,
                 "msg=\"dead letters dropped\" source=%s dropped=%llu dead_letter_max=%zu",
                 ctx->source, (unsigned long long)w->drops_unlogged, w->jd->cfg->dead_letter_max);
            w->drop_logged_ms = now;
            w->drops_unlogged = 0;
        }
    }
    on_script_done(c, r, priv);
}

static void dead_letter(struct worker *w, const char *entry, const struct stream_record *f,
                        const char *reason, long long deliveries)
{
    /* The reason quotes payload ids: escaped, so it cannot close its field and forge
     * another. */
    char why[CX_ID_MAX + 128];
    const char *source = stream_dead_source(f);
    const char *text = reason[0] ? reason : "repeated failures";
    jlog(JLOG_NOTICE, "msg=dead-letter entry=%s source=%s reason=\"%s\"", entry, source,
         jlog_quote(text, strlen(text), why, sizeof(why)));
    struct apply_ctx *ctx = ctx_new(w, entry, f, deliveries);
    if (ctx)
        snprintf(ctx->source, sizeof(ctx->source), "%s", source);
    if (!ctx ||
        ctx_sent(w, ctx,
                 stream_dead_letter(w->jd->rq_worker, entry, f, reason, deliveries,
                                    w->jd->cfg->dead_letter_max, on_dead_lettered, ctx)) != 0)
        jlog(JLOG_WARNING, "msg=\"dead-letter not sent, will retry\" entry=%s", entry);
}

static const struct cx_source *source_for(struct jd *jd, const char *name, const char *type)
{
    if (strcmp(type, "events") == 0)
        return &jd->events_source;
    if (strcmp(type, "click") == 0)
        return &jd->click_source;
    const struct cfg_source *s = cfg_find_source(jd->cfg, name);
    return s && strcmp(s->type, type) == 0 ? &s->cx : NULL;
}

/* Open doors (DESIGN §2b): what anyone can send without a secret. apply.lua lets their
 * events join at most one verified contact and never re-stitch for them. */
static int is_open_door(const struct cx_source *src)
{
    return strcmp(src->type, "click") == 0 ||
           (strcmp(src->type, "form") == 0 && src->auth == CX_AUTH_ORIGIN);
}

const char *worker_consumer(const struct worker *w)
{
    return w && w->leased ? w->consumer : NULL;
}

/* Serializes the events into apply.lua's argument list and sends it. */
static int send_apply(struct worker *w, const char *entry, const struct stream_record *f,
                      long long deliveries, const struct cx_event_list *events, int open_door)
{
    size_t argc = 5, cap = 6; /* and the outbox's argument */
    for (size_t i = 0; i < events->n; i++)
        cap += 8 + 2 * events->v[i].nidentities;
    char *outbox_arg = outplan_apply_arg(w->jd->cfg);
    const char **argv = calloc(cap, sizeof(*argv));
    size_t *lens = calloc(cap, sizeof(*lens));
    char **owned = calloc(4 * events->n + 1, sizeof(*owned));
    char unique[512] = "", count[24];
    int rc = -1;
    size_t nowned = 0;
    if (!argv || !lens || !owned || (w->jd->cfg->ndestinations && !outbox_arg))
        goto out;
    for (size_t i = 0; i < w->jd->cfg->nunique_types; i++) {
        size_t len = strlen(unique);
        snprintf(unique + len, sizeof(unique) - len, "%s%s", i ? "," : "",
                 w->jd->cfg->unique_types[i]);
    }
    snprintf(count, sizeof(count), "%zu", events->n);
    argv[0] = JD_RAW_STREAM;
    argv[1] = JD_GROUP;
    argv[2] = entry;
    argv[3] = unique;
    argv[4] = count;
    for (size_t i = 0; i < events->n; i++) {
        const struct cx_event *ev = &events->v[i];
        char *json = cx_event_to_json(ev);
        char *record = malloc(CX_RECORD_MAX);
        /* at_ms, stage rank, conversion flag, identity count: four NUL-separated numbers */
        char *nums = malloc(64);
        char *name = malloc(CX_NAME_MAX);
        if (name)
            owned[nowned++] = name;
        if (json)
            owned[nowned++] = json;
        if (record)
            owned[nowned++] = record;
        if (nums)
            owned[nowned++] = nums;
        if (!json || !record || !nums || !name || cx_event_record(ev, record, CX_RECORD_MAX) != 0)
            goto out;
        /* Flags: 1 a conversion (payment or refund with an amount), 2 a touch, 4 an open
         * door, 8 the person's name follows the identities (kept by identity: jd:pn). */
        int named = cx_event_person_name(ev, name) && ev->nidentities > 0;
        int conversion = (ev->has_amount &&
                          (strcmp(ev->kind, "payment") == 0 || strcmp(ev->kind, "refund") == 0)) |
                         (ev->has_touch ? 2 : 0) | (open_door ? 4 : 0) | (named ? 8 : 0);
        int a = snprintf(nums, 64, "%lld", (long long)ev->at_ms) + 1;
        int b = snprintf(nums + a, (size_t)(64 - a), "%d", cx_stage_rank(cx_event_stage(ev))) + 1;
        int c = snprintf(nums + a + b, (size_t)(64 - a - b), "%d", conversion) + 1;
        snprintf(nums + a + b + c, (size_t)(64 - a - b - c), "%zu", ev->nidentities);
        argv[argc++] = ev->id;
        argv[argc++] = nums;
        argv[argc++] = nums + a;
        argv[argc++] = nums + a + b;
        argv[argc++] = nums + a + b + c;
        for (size_t k = 0; k < ev->nidentities; k++) {
            argv[argc++] = ev->identities[k].type;
            argv[argc++] = ev->identities[k].value;
        }
        if (named)
            argv[argc++] = name;
        argv[argc++] = json;
        argv[argc++] = record;
    }
    if (outbox_arg)
        argv[argc++] = outbox_arg;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = send_script(w, JD_SCRIPT_APPLY, entry, f, deliveries, 1, (int)argc, argv, lens);
out:
    for (size_t i = 0; owned && i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    free(lens);
    free(outbox_arg);
    return rc;
}

static void normalize_and_apply(struct worker *w, const char *entry, const struct stream_record *f,
                                long long deliveries, struct lookup_job *job);

/* A raw entry whose connector asked for look-ups counts as one outstanding operation of
 * the batch until it is applied or given up. */
static struct lookup_job *job_start(struct worker *w, const char *entry,
                                    const struct stream_record *f, long long deliveries)
{
    struct lookup_job *job = lookup_job_new(w->lookups, entry, f, deliveries);
    if (job)
        w->outstanding++;
    return job;
}

static void job_finish(struct worker *w, struct lookup_job *job)
{
    lookup_job_free(job);
    w->outstanding--;
    if (w->outstanding == 0 && !w->reading)
        read_more(w);
}

/* A round of look-ups is over: normalize again with the answers, or leave the entry
 * pending when one failed (the sweep claims it again after claim_idle, and after
 * max_deliveries it is dead-lettered with this reason). */
static void on_lookups_done(struct lookup_job *job, void *ud)
{
    struct worker *w = ud;
    if (job->failed) {
        stream_note_error(w->jd->rq_worker, job->entry, job->why);
        /* The reason quotes a provider's answer: quoted, so it cannot forge a field. */
        char why[sizeof(job->why) * 2];
        jlog(JLOG_NOTICE, "msg=\"look-up failed, will retry\" entry=%s source=%s reason=\"%s\"",
             job->entry, job->rec.src, jlog_quote(job->why, strlen(job->why), why, sizeof(why)));
        job_finish(w, job);
        return;
    }
    normalize_and_apply(w, job->entry, &job->rec, job->deliveries, job);
}

/* read → normalize → apply → ack for one raw entry; with job set, normalize again with
 * the look-ups' answers. Consumes job (frees it or starts its next round). */
static void normalize_and_apply(struct worker *w, const char *entry, const struct stream_record *f,
                                long long deliveries, struct lookup_job *job)
{
    const struct cx_source *src = source_for(w->jd, f->src, f->type);
    const struct cx_connector *cx = cx_lookup(f->type);
    struct cx_fetch_list *need = NULL;
    struct cx_event_list events;
    struct cx_err err = {{0}};
    cx_list_init(&events);
    if (!src || !cx) {
        dead_letter(w, entry, f, "source no longer configured", deliveries);
        goto out;
    }
    struct cx_header headers[STREAM_MAX_HEADERS];
    for (size_t i = 0; i < f->nheaders; i++)
        headers[i] = (struct cx_header){f->headers[i].name, f->headers[i].value};
    struct cx_raw raw = {
        .source = f->src,
        .stream_id = entry,
        .received_ms = f->recv_ms,
        .body = (const unsigned char *)f->body,
        .body_len = f->body_len,
        .headers = headers,
        .nheaders = f->nheaders,
    };
    struct cx_fetched *fetched = NULL;
    need = calloc(1, sizeof(*need));
    if (job) {
        fetched = calloc(1, sizeof(*fetched));
        if (fetched)
            lookup_job_fetched(job, fetched);
    }
    if (!need || (job && !fetched)) {
        free(fetched);
        jlog(JLOG_WARNING, "msg=\"out of memory, will retry\" entry=%s", entry);
        goto out;
    }
    enum cx_result res = cx->normalize(src, &raw, fetched, &events, need, &err);
    free(fetched);
    switch (res) {
    case CX_NORM_POISON:
        dead_letter(w, entry, f, err.msg[0] ? err.msg : "connector could not handle it",
                    deliveries);
        break;
    case CX_NORM_NEED_FETCH:
        if (need->n == 0 || (job ? job->nanswers : 0) + need->n > CX_MAX_FETCHES) {
            dead_letter(w, entry, f, "too many look-ups for one webhook", deliveries);
            break;
        }
        if (!job && !(job = job_start(w, entry, f, deliveries))) {
            jlog(JLOG_WARNING, "msg=\"out of memory, will retry\" entry=%s", entry);
            break;
        }
        /* Owned by its round now, unless none could start (the sweep brings it back). */
        if (lookup_start_round(job, w->jd->outbound, need) == 0)
            job = NULL;
        break;
    case CX_NORM_SKIP:
        w->jd->metrics.n.skipped++;
        events.n = 0; /* apply.lua with no events only acknowledges */
        __attribute__((fallthrough));
    case CX_NORM_OK:
        if (send_apply(w, entry, f, deliveries, &events, is_open_door(src)) != 0)
            jlog(JLOG_WARNING, "msg=\"apply not sent, will retry\" entry=%s", entry);
        else
            campaigns_learn(w->jd->rq_worker, &events); /* a look-up that named an id */
        break;
    }
out:
    free(need);
    cx_list_free(&events);
    if (job)
        job_finish(w, job);
}

/* One parsed entry (f NULL: malformed), as read or as held after a refusal. */
static void process_record(struct worker *w, const char *entry, const struct stream_record *f,
                           long long deliveries)
{
    if (!f) {
        dead_letter(w, entry, NULL, "malformed raw entry", deliveries);
        return;
    }
    if (deliveries > w->jd->cfg->max_deliveries) {
        dead_letter(w, entry, f, "", deliveries);
        return;
    }
    normalize_and_apply(w, entry, f, deliveries, NULL);
}

/* One entry as XREADGROUP or XCLAIM returned it. */
static void process_entry(struct worker *w, const redisReply *e, long long deliveries)
{
    const char *entry;
    struct stream_record f;
    switch (stream_parse_entry(e, &entry, &f)) {
    case STREAM_ENTRY_GONE:
        return; /* an entry deleted while pending: nothing to apply */
    case STREAM_ENTRY_MALFORMED:
        process_record(w, entry, NULL, deliveries);
        return;
    case STREAM_ENTRY_OK:
        break;
    }
    /* Re-read from our own pending list while still in look-ups or held here: the copy
     * in flight finishes it. */
    if (lookups_has(w->lookups, entry) || is_held(w, entry))
        return;
    process_record(w, entry, &f, deliveries);
}

/* The held entries go through their scripts again, as they were read. */
static void retry_held(struct worker *w)
{
    struct apply_ctx *list = w->held;
    w->held = NULL;
    while (list) {
        struct apply_ctx *ctx = list;
        list = ctx->next;
        process_record(w, ctx->entry, ctx->has_rec ? &ctx->rec : NULL, ctx->deliveries);
        ctx_free(ctx);
    }
}

static void process_entries(struct worker *w, const redisReply *entries, long long deliveries)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++)
        process_entry(w, entries->element[i], deliveries);
}

static void schedule_retry(struct worker *w)
{
    int64_t ms = w->backoff_ms ? w->backoff_ms : 1000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!evtimer_pending(w->retry, NULL) && evtimer_add(w->retry, &tv) != 0)
        jlog(JLOG_ERROR, "msg=\"worker retry timer not set\"");
}

static void on_read(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->reading = 0;
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0) {
        w->group_ready = 0; /* a fresh server: create the group, then read */
        read_more(w);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        redis_refusing(w);
        return;
    }
    const redisReply *entries = stream_read_entries(r);
    if (w->history) {
        /* The next read of our own pending entries starts after this batch's last. */
        size_t n = entries && entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
        const redisReply *last = n ? entries->element[n - 1] : NULL;
        if (last && last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING)
            snprintf(w->history_from, sizeof(w->history_from), "%s", last->element[0]->str);
        else
            w->history = 0;
    }
    if (entries) {
        /* The next read goes out before this batch's scripts: Redis answers it at once
         * and then applies this batch while we normalize the next one, so neither side
         * waits for the other. Replies come in order on the one connection, so at most
         * two batches are ever in flight. */
        if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0)
            read_next(w, 0);
        process_entries(w, entries, 1);
    }
    if (w->outstanding == 0)
        read_more(w);
}

static void on_group(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->reading = 0;
    if (r && (r->type == REDIS_REPLY_STATUS ||
              (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0))) {
        w->group_ready = 1;
        read_more(w);
    } else {
        /* XGROUP CREATE is refused at the memory limit even when the group exists: read
         * anyway (a read that finds no group comes back here). */
        if (r && redis_refused(r))
            w->group_ready = 1;
        redis_refusing(w);
    }
}

static void read_more(struct worker *w)
{
    read_next(w, 1);
}

/* A lease token's holder is a dead predecessor on this host: our own pid (a container's
 * journeyd is often pid 1 every start) or a process that no longer exists. */
static int dead_predecessor(const struct worker *w, const char *token)
{
    char host[64];
    long pid;
    if (sscanf(token, "%63s %ld", host, &pid) != 2 || strcmp(host, w->host) != 0 || pid <= 0)
        return 0;
    return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static void lease_name(const struct worker *w, int i, char *out, size_t outlen)
{
    if (w->jd->cfg->consumer && w->jd->cfg->consumer[0])
        snprintf(out, outlen, "%s", w->jd->cfg->consumer);
    else
        snprintf(out, outlen, "%s-%d", w->host, i);
}

static void on_lease_taken(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->reading = 0;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        redis_refusing(w);
        return;
    }
    if (r->integer < 0) {
        /* Another worker took it between the look and the take: look again. */
        schedule_retry(w);
        return;
    }
    redis_answered(w);
    w->leased = 1;
    w->history = 1;
    snprintf(w->history_from, sizeof(w->history_from), "0");
    jlog(JLOG_NOTICE, "msg=\"consumer name leased\" consumer=%s removed_consumers=%lld",
         w->consumer, r->integer);
    read_more(w);
}

/* The first name whose lease is free or held by a dead predecessor on this host. */
static void on_lease_peek(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->reading = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        redis_refusing(w);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *v = r->element[i];
        const char *expect = "";
        if (v->type == REDIS_REPLY_STRING) {
            if (!dead_predecessor(w, v->str))
                continue;
            expect = v->str;
        }
        lease_name(w, (int)i, w->consumer, sizeof(w->consumer));
        if (stream_lease_take(w->jd->rq_worker, w->consumer, expect, w->token, LEASE_MS,
                              on_lease_taken, w) == 0)
            w->reading = 1;
        else
            redis_refusing(w);
        return;
    }
    /* Every name is held by a live worker: wait for one (a named consumer's holder may be
     * gone without a trace: its lease runs out). */
    jlog(JLOG_WARNING, "msg=\"every consumer name is leased, waiting\" consumer=%s", w->consumer);
    w->backoff_ms = BACKOFF_MAX_MS;
    schedule_retry(w);
}

/* Looks at the leases of this worker's candidate names (the configured one, or
 * <host>-0 ... <host>-63) and takes the first free one. */
static void lease_acquire(struct worker *w)
{
    char names[LEASE_SLOTS][128];
    const char *v[LEASE_SLOTS];
    int n = w->jd->cfg->consumer && w->jd->cfg->consumer[0] ? 1 : LEASE_SLOTS;
    for (int i = 0; i < n; i++) {
        lease_name(w, i, names[i], sizeof(names[i]));
        v[i] = names[i];
    }
    if (stream_lease_peek(w->jd->rq_worker, v, n, on_lease_peek, w) == 0)
        w->reading = 1;
    else
        redis_refusing(w);
}

static void on_lease_renewed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0 && w->leased) {
        /* Gone (Redis lost it, or we were away longer than the lease): take a name again
         * before reading on. What is in flight is applied idempotently either way. */
        jlog(JLOG_WARNING, "msg=\"consumer lease lost, taking a name again\" consumer=%s",
             w->consumer);
        w->leased = 0;
        read_more(w);
    }
}

static void on_renew(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (w->leased && rq_is_ready(w->jd->rq_worker))
        (void)stream_lease_renew(w->jd->rq_worker, w->consumer, w->token, LEASE_MS,
                                 on_lease_renewed, w);
}

/* XREADGROUP of the next batch; `block` waits on the server for new entries, which only
 * an idle worker may do: a blocked read holds back every command behind it. */
static void read_next(struct worker *w, int block)
{
    struct jd *jd = w->jd;
    if (w->reading || w->stopping || !rq_is_ready(jd->rq_worker))
        return;
    if (w->held)
        return; /* the retry timer brings them back first; nothing new meanwhile */
    if (!w->group_ready) {
        if (stream_group_create(jd->rq_worker, on_group, w) == 0)
            w->reading = 1;
        return;
    }
    if (!w->leased) {
        lease_acquire(w);
        return;
    }
    /* Our own pending entries are read without blocking: an empty answer ends them. */
    const char *from = w->history ? w->history_from : ">";
    if (stream_read(jd->rq_worker, w->consumer, from, jd->cfg->worker_batch,
                    block && !w->history ? WORKER_BLOCK_MS : 0, jd->cfg->redis_timeout_ms, on_read,
                    w) == 0)
        w->reading = 1;
    else
        schedule_retry(w);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (w->held) {
        if (w->stopping)
            return; /* still pending in Redis: the next start takes them over */
        if (!rq_is_ready(w->jd->rq_worker)) {
            schedule_retry(w);
            return;
        }
        retry_held(w);
        if (w->outstanding == 0 && !w->reading)
            read_more(w);
        return;
    }
    read_more(w);
}

/* Entries claimed from a crashed (or slow) consumer are applied again; apply.lua makes a
 * second application a no-op. */
static void on_claimed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    process_entries(w, r, 1);
    /* A backlog left by a crash drains at full speed, not a page per sweep period. */
    if (w->sweeping == 0 && w->sweep_more && !w->stopping)
        event_active(w->sweep, EV_TIMEOUT, 0);
}

/* Entries that already failed max_deliveries times go to the dead-letter stream. */
static void on_claimed_exhausted(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    process_entries(w, r, w->jd->cfg->max_deliveries + 1);
    if (w->sweeping == 0 && w->sweep_more && !w->stopping)
        event_active(w->sweep, EV_TIMEOUT, 0);
}

static void claim(struct worker *w, const char **ids, int n, rq_reply_cb cb)
{
    if (n > 0 &&
        stream_claim(w->jd->rq_worker, w->consumer, w->jd->cfg->claim_idle_ms, ids, n, cb, w) == 0)
        w->sweeping++;
}

/* Entries waiting for look-ups stay pending for as long as the look-ups take (retries and
 * backoff can outlast claim_idle): resetting their idle time keeps other workers from
 * claiming them, without counting a delivery (JUSTID). */
static void keep_jobs_claimed(struct worker *w)
{
    const char *ids[STREAM_CLAIM_MAX];
    int n = lookups_entries(w->lookups, ids, STREAM_CLAIM_MAX);
    if (n > 0)
        stream_keep_claimed(w->jd->rq_worker, w->consumer, ids, n);
    /* Held entries too: another worker's claim would count a delivery. */
    n = 0;
    for (struct apply_ctx *h = w->held; h; h = h->next) {
        ids[n++] = h->entry;
        if (n == STREAM_CLAIM_MAX || !h->next) {
            stream_keep_claimed(w->jd->rq_worker, w->consumer, ids, n);
            n = 0;
        }
    }
}

static int is_held(const struct worker *w, const char *id)
{
    for (const struct apply_ctx *h = w->held; h; h = h->next)
        if (strcmp(h->entry, id) == 0)
            return 1;
    return 0;
}

static void on_pending(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    w->sweep_more = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || w->stopping)
        return;
    w->sweep_more = r->elements >= STREAM_CLAIM_MAX;
    const char *retry[STREAM_CLAIM_MAX], *exhausted[STREAM_CLAIM_MAX];
    int nretry = 0, nexhausted = 0;
    for (size_t i = 0; i < r->elements && i < STREAM_CLAIM_MAX; i++) {
        const char *id;
        long long deliveries;
        if (stream_pending_row(r->element[i], &id, &deliveries) != 0 ||
            lookups_has(w->lookups, id) || is_held(w, id))
            continue;
        if (deliveries >= w->jd->cfg->max_deliveries)
            exhausted[nexhausted++] = id;
        else
            retry[nretry++] = id;
    }
    claim(w, retry, nretry, on_claimed);
    claim(w, exhausted, nexhausted, on_claimed_exhausted);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct jd *jd = w->jd;
    (void)fd;
    (void)what;
    if (w->sweeping || w->stopping || !w->group_ready || !w->leased || !rq_is_ready(jd->rq_worker))
        return;
    keep_jobs_claimed(w);
    /* While Redis refuses work, claiming would only count deliveries it cannot apply. */
    if (w->held || w->backoff_ms)
        return;
    if (stream_pending(jd->rq_worker, jd->cfg->claim_idle_ms, STREAM_CLAIM_MAX, on_pending, w) == 0)
        w->sweeping++;
}

struct worker *worker_new(struct jd *jd)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->jd = jd;
    snprintf(w->host, sizeof(w->host), "journeyd");
    if (gethostname(w->host, sizeof(w->host) - 1) != 0)
        snprintf(w->host, sizeof(w->host), "journeyd");
    w->host[sizeof(w->host) - 1] = '\0';
    /* Spaces separate the token's fields; a host name has none, but make sure. */
    for (char *p = w->host; *p; p++)
        if (*p == ' ')
            *p = '_';
    snprintf(w->token, sizeof(w->token), "%s %ld %lld", w->host, (long)getpid(),
             (long long)jd_mono_us());
    w->sweep = event_new(jd->base, -1, EV_PERSIST, on_sweep, w);
    w->renew = event_new(jd->base, -1, EV_PERSIST, on_renew, w);
    struct timeval renew_tv = {(time_t)(LEASE_MS / 3000), 0};
    w->retry = evtimer_new(jd->base, on_retry, w);
    w->lookups = lookups_new(jd->base, on_lookups_done, w);
    int64_t period = jd->cfg->claim_idle_ms / 2;
    if (period < 200)
        period = 200;
    struct timeval tv = {(time_t)(period / 1000), (suseconds_t)((period % 1000) * 1000)};
    if (!w->sweep || !w->retry || !w->lookups || !w->renew || event_add(w->sweep, &tv) != 0 ||
        event_add(w->renew, &renew_tv) != 0) {
        worker_free(w);
        return NULL;
    }
    return w;
}

void worker_on_redis_state(struct worker *w, enum rq_state s)
{
    if (s == RQ_READY) {
        w->group_ready = 0; /* the server may be a fresh one: make sure the group exists */
        if (w->leased) {
            /* A batch Redis handed us just before the connection went is pending under
             * our name, its reply lost: read our own pending entries again first, not
             * after claim_idle. Those still in flight here are skipped (process_entry). */
            w->history = 1;
            snprintf(w->history_from, sizeof(w->history_from), "0");
        }
        if (w->held && !w->stopping)
            event_active(w->retry, EV_TIMEOUT, 0); /* back at once, not after the backoff */
        else
            read_more(w);
    } else if (s == RQ_CLOSED) {
        /* Every command in flight has been failed by now. */
        w->reading = 0;
    }
}

void worker_stop(struct worker *w)
{
    w->stopping = 1;
    /* The name is free for the next start at once; what is still in flight here is
     * applied idempotently should a successor read it again. */
    if (w->leased && rq_is_ready(w->jd->rq_worker))
        stream_lease_release(w->jd->rq_worker, w->consumer, w->token);
    w->leased = 0;
}

int worker_is_idle(const struct worker *w)
{
    return !w || (!w->reading && w->outstanding == 0);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    if (w->sweep)
        event_free(w->sweep);
    if (w->retry)
        event_free(w->retry);
    if (w->renew)
        event_free(w->renew);
    lookups_free(w->lookups);
    while (w->held) {
        struct apply_ctx *ctx = w->held;
        w->held = ctx->next;
        ctx_free(ctx);
    }
    free(w);
}
