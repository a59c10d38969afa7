#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "outbound.h"
#include "util.h"
#include "worker.h"

#define WORKER_BLOCK_MS 1000
#define WORKER_MAX_FIELDS 32

struct worker {
    struct jd *jd;
    char consumer[128];
    int group_ready;
    int reading;        /* an XREADGROUP or claim is in flight */
    size_t outstanding; /* apply / dead-letter scripts and look-up jobs in flight */
    int stopping;
    struct event *sweep;    /* periodic claim of entries left pending by a crash */
    struct event *retry;    /* read again after a failure */
    struct fetch_job *jobs; /* entries waiting for look-ups: not to be claimed again */
    int sweeping;           /* sweep commands in flight */
};

/* One raw entry being applied: what the reply callback needs to log and account. */
struct apply_ctx {
    struct worker *w;
    char entry[64];
};

static void read_more(struct worker *w);
static void read_next(struct worker *w, int block);

/* A raw entry's fields, borrowed from the hiredis reply (valid inside the callback only). */
struct raw_fields {
    const char *src, *type, *body;
    size_t body_len;
    int64_t recv;
    struct cx_header headers[8];
    size_t nheaders;
    /* All pairs, for copying into the dead-letter stream. */
    const char *argv[WORKER_MAX_FIELDS];
    size_t lens[WORKER_MAX_FIELDS];
    int argc;
};

/* Finds the known fields among the pairs in f->argv (NUL-terminated strings). */
static int index_fields(struct raw_fields *f)
{
    for (int i = 0; i + 1 < f->argc; i += 2) {
        const char *k = f->argv[i], *v = f->argv[i + 1];
        if (strcmp(k, "src") == 0)
            f->src = v;
        else if (strcmp(k, "type") == 0)
            f->type = v;
        else if (strcmp(k, "recv") == 0)
            f->recv = strtoll(v, NULL, 10);
        else if (strcmp(k, "body") == 0) {
            f->body = v;
            f->body_len = f->lens[i + 1];
        } else if (strncmp(k, "h:", 2) == 0 && f->nheaders < 8) {
            f->headers[f->nheaders].name = k + 2;
            f->headers[f->nheaders].value = v;
            f->nheaders++;
        }
    }
    return f->src && f->type && f->body ? 0 : -1;
}

static int parse_fields(const redisReply *f, struct raw_fields *out)
{
    memset(out, 0, sizeof(*out));
    if (!f || f->type != REDIS_REPLY_ARRAY || f->elements % 2 || f->elements > WORKER_MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < f->elements; i++) {
        const redisReply *e = f->element[i];
        if (e->type != REDIS_REPLY_STRING)
            return -1;
        out->argv[out->argc] = e->str;
        out->lens[out->argc++] = e->len;
    }
    return index_fields(out);
}

static void on_ignore(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)r;
    (void)priv;
}

static void on_script_done(struct rq_client *c, const redisReply *r, void *priv)
{
    struct apply_ctx *ctx = priv;
    struct worker *w = ctx->w;
    struct jd *jd = w->jd;
    (void)c;
    w->outstanding--;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        jd->n.applied += (uint64_t)r->element[0]->integer;
        jd->n.duplicates += (uint64_t)r->element[1]->integer;
        jd->n.merges += (uint64_t)r->element[2]->integer;
        jd->n.conflicts += (uint64_t)r->element[3]->integer;
        jd->n.restitched += (uint64_t)r->element[4]->integer;
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        jd->n.dead_letters++;
    } else {
        /* Left pending: the sweep claims it again, and after max_deliveries it is
         * dead-lettered with the error recorded here. */
        char why[200] = "no reply";
        if (r && r->type == REDIS_REPLY_ERROR) {
            jlog_quote(r->str, r->len, why, sizeof(why));
            const char *argv[4] = {"HSET", "jd:lasterr", ctx->entry, why};
            size_t lens[4] = {4, 10, strlen(ctx->entry), strlen(why)};
            (void)rq_command(jd->rq_worker, 0, on_ignore, NULL, 4, argv, lens);
        }
        jlog(JLOG_WARNING, "msg=\"apply failed, will retry\" entry=%s error=\"%s\"", ctx->entry,
             why);
    }
    free(ctx);
    if (w->outstanding == 0 && !w->reading)
        read_more(w);
}

static int send_script(struct worker *w, enum jd_script script, const char *entry, int numkeys,
                       int argc, const char **argv, const size_t *lens)
{
    struct apply_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -1;
    ctx->w = w;
    snprintf(ctx->entry, sizeof(ctx->entry), "%s", entry);
    if (rq_eval(w->jd->rq_worker, script, 0, on_script_done, ctx, numkeys, argc, argv, lens) != 0) {
        free(ctx);
        return -1;
    }
    w->outstanding++;
    return 0;
}

static void dead_letter(struct worker *w, const char *entry, const struct raw_fields *f,
                        const char *reason, long long deliveries)
{
    const char *argv[5 + WORKER_MAX_FIELDS];
    size_t lens[5 + WORKER_MAX_FIELDS];
    char dl[24];
    snprintf(dl, sizeof(dl), "%lld", deliveries);
    argv[0] = JD_RAW_STREAM;
    argv[1] = JD_DEAD_STREAM;
    argv[2] = JD_GROUP;
    argv[3] = entry;
    argv[4] = reason;
    argv[5] = dl;
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    int argc = 6;
    for (int i = 0; f && i < f->argc; i++, argc++) {
        argv[argc] = f->argv[i];
        lens[argc] = f->lens[i];
    }
    jlog(JLOG_NOTICE, "msg=dead-letter entry=%s source=%s reason=\"%s\"", entry,
         f && f->src ? f->src : "?", reason[0] ? reason : "repeated failures");
    if (send_script(w, JD_SCRIPT_DEAD, entry, 2, argc, argv, lens) != 0)
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

/* Serializes the events into apply.lua's argument list and sends it. */
static int send_apply(struct worker *w, const char *entry, const struct cx_event_list *events)
{
    size_t argc = 5, cap = 5;
    for (size_t i = 0; i < events->n; i++)
        cap += 7 + 2 * events->v[i].nidentities;
    const char **argv = calloc(cap, sizeof(*argv));
    size_t *lens = calloc(cap, sizeof(*lens));
    char **owned = calloc(3 * events->n + 1, sizeof(*owned));
    char unique[512] = "", count[24];
    int rc = -1;
    size_t nowned = 0;
    if (!argv || !lens || !owned)
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
        if (json)
            owned[nowned++] = json;
        if (record)
            owned[nowned++] = record;
        if (nums)
            owned[nowned++] = nums;
        if (!json || !record || !nums || cx_event_record(ev, record, CX_RECORD_MAX) != 0)
            goto out;
        /* Report flags: 1 a conversion (payment or refund with an amount), 2 a touch. */
        int conversion = (ev->has_amount &&
                          (strcmp(ev->kind, "payment") == 0 || strcmp(ev->kind, "refund") == 0)) |
                         (ev->has_touch ? 2 : 0);
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
        argv[argc++] = json;
        argv[argc++] = record;
    }
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = send_script(w, JD_SCRIPT_APPLY, entry, 1, (int)argc, argv, lens);
out:
    for (size_t i = 0; owned && i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    free(lens);
    return rc;
}

/* A raw entry whose connector asked for look-ups (a Meta lead's fields, a HubSpot contact).
 * It owns a copy of the entry, since the hiredis reply is gone when the answers arrive,
 * and counts as one outstanding operation of the batch until it is applied or given up. */
struct fetch_job;

struct fetch_slot {
    struct fetch_job *job;
    size_t index;
};

struct fetch_job {
    struct worker *w;
    struct fetch_job *prev, *next; /* the worker's jobs in flight */
    char entry[64];
    long long deliveries;
    struct raw_fields f; /* points into blob */
    char *blob;
    struct fetch_slot slots[CX_MAX_FETCHES];
    struct {
        long status;
        char *body;
        size_t len;
    } answers[CX_MAX_FETCHES];
    size_t nanswers, waiting;
    int failed;
    char why[160];
    struct event *later; /* finishes a round whose every look-up was refused at once */
};

static void normalize_and_apply(struct worker *w, const char *entry, const struct raw_fields *f,
                                long long deliveries, struct fetch_job *job);

static void job_free(struct fetch_job *job)
{
    struct worker *w = job->w;
    if (job->prev)
        job->prev->next = job->next;
    else
        w->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    for (size_t i = 0; i < job->nanswers; i++)
        free(job->answers[i].body);
    if (job->later)
        event_free(job->later);
    free(job->blob);
    free(job);
    w->outstanding--;
    if (w->outstanding == 0 && !w->reading)
        read_more(w);
}

static struct fetch_job *job_new(struct worker *w, const char *entry, const struct raw_fields *f,
                                 long long deliveries)
{
    struct fetch_job *job = calloc(1, sizeof(*job));
    size_t total = 0;
    for (int i = 0; i < f->argc; i++)
        total += f->lens[i] + 1;
    char *blob = job ? malloc(total ? total : 1) : NULL;
    if (!job || !blob) {
        free(job);
        free(blob);
        return NULL;
    }
    job->w = w;
    job->blob = blob;
    job->deliveries = deliveries;
    snprintf(job->entry, sizeof(job->entry), "%s", entry);
    for (int i = 0; i < f->argc; i++) {
        memcpy(blob, f->argv[i], f->lens[i]);
        blob[f->lens[i]] = '\0';
        job->f.argv[i] = blob;
        job->f.lens[i] = f->lens[i];
        blob += f->lens[i] + 1;
    }
    job->f.argc = f->argc;
    (void)index_fields(&job->f);
    job->next = w->jobs;
    if (w->jobs)
        w->jobs->prev = job;
    w->jobs = job;
    w->outstanding++;
    return job;
}

static void round_done(struct fetch_job *job)
{
    struct worker *w = job->w;
    if (job->failed) {
        /* Left pending: the sweep claims it again after claim_idle, and after
         * max_deliveries it is dead-lettered with this reason. */
        const char *argv[4] = {"HSET", "jd:lasterr", job->entry, job->why};
        size_t lens[4] = {4, 10, strlen(job->entry), strlen(job->why)};
        (void)rq_command(w->jd->rq_worker, 0, on_ignore, NULL, 4, argv, lens);
        jlog(JLOG_NOTICE, "msg=\"look-up failed, will retry\" entry=%s source=%s reason=\"%s\"",
             job->entry, job->f.src, job->why);
        job_free(job);
        return;
    }
    normalize_and_apply(w, job->entry, &job->f, job->deliveries, job);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    round_done(arg);
}

static void on_fetched(void *ud, enum outbound_result result, long status, const char *body,
                       size_t len, const char *error)
{
    struct fetch_slot *slot = ud;
    struct fetch_job *job = slot->job;
    if (result == OUTBOUND_OK || result == OUTBOUND_PERMANENT) {
        /* The connector judges completed answers, 4xx included ("lead not found"). */
        job->answers[slot->index].status = status;
        job->answers[slot->index].body = malloc(len + 1);
        if (job->answers[slot->index].body) {
            memcpy(job->answers[slot->index].body, body, len);
            job->answers[slot->index].body[len] = '\0';
            job->answers[slot->index].len = len;
        } else {
            job->failed = 1;
            snprintf(job->why, sizeof(job->why), "out of memory");
        }
    } else {
        job->failed = 1;
        snprintf(job->why, sizeof(job->why), "look-up failed: %s (HTTP %ld)",
                 error ? error : "unavailable", status);
    }
    if (--job->waiting == 0)
        round_done(job);
}

/* Starts one round of look-ups. Takes ownership of job. */
static void start_round(struct fetch_job *job, const struct cx_fetch_list *need)
{
    struct outbound *out = job->w->jd->outbound;
    size_t first = job->nanswers;
    job->nanswers += need->n;
    job->waiting = need->n;
    for (size_t i = 0; i < need->n; i++) {
        const struct cx_fetch *fx = &need->v[i];
        const char *headers[2] = {fx->headers[0], fx->headers[1]};
        struct fetch_slot *slot = &job->slots[first + i];
        slot->job = job;
        slot->index = first + i;
        if (!out || outbound_get(out, fx->url, headers, fx->nheaders, on_fetched, slot) != 0) {
            job->failed = 1;
            snprintf(job->why, sizeof(job->why), "look-up queue full or unavailable");
            job->waiting--;
        }
    }
    if (job->waiting == 0) {
        /* Every look-up was refused at once: finish from the loop, not from here. */
        if (!job->later)
            job->later = evtimer_new(job->w->jd->base, on_later, job);
        struct timeval now = {0, 0};
        if (!job->later || evtimer_add(job->later, &now) != 0)
            job_free(job); /* stays pending; the sweep brings it back */
    }
}

/* read → normalize → apply → ack for one raw entry; with job set, normalize again with
 * the look-ups' answers. Consumes job (frees it or starts its next round). */
static void normalize_and_apply(struct worker *w, const char *entry, const struct raw_fields *f,
                                long long deliveries, struct fetch_job *job)
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
    struct cx_raw raw = {
        .source = f->src,
        .stream_id = entry,
        .received_ms = f->recv,
        .body = (const unsigned char *)f->body,
        .body_len = f->body_len,
        .headers = f->headers,
        .nheaders = f->nheaders,
    };
    struct cx_fetched *fetched = NULL;
    need = calloc(1, sizeof(*need));
    if (job) {
        fetched = calloc(1, sizeof(*fetched));
        if (fetched) {
            fetched->n = job->nanswers;
            for (size_t i = 0; i < job->nanswers; i++) {
                fetched->v[i].status = job->answers[i].status;
                fetched->v[i].body = (const unsigned char *)job->answers[i].body;
                fetched->v[i].len = job->answers[i].len;
            }
        }
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
        if (!job && !(job = job_new(w, entry, f, deliveries))) {
            jlog(JLOG_WARNING, "msg=\"out of memory, will retry\" entry=%s", entry);
            break;
        }
        start_round(job, need);
        job = NULL; /* owned by its round now */
        break;
    case CX_NORM_SKIP:
        w->jd->n.skipped++;
        events.n = 0; /* apply.lua with no events only acknowledges */
        __attribute__((fallthrough));
    case CX_NORM_OK:
        if (send_apply(w, entry, &events) != 0)
            jlog(JLOG_WARNING, "msg=\"apply not sent, will retry\" entry=%s", entry);
        break;
    }
out:
    free(need);
    cx_list_free(&events);
    if (job)
        job_free(job);
}

/* One entry as XREADGROUP or XCLAIM returned it. */
static void process_entry(struct worker *w, const redisReply *e, long long deliveries)
{
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return; /* an entry deleted while pending: nothing to apply */
    const char *entry = e->element[0]->str;
    struct raw_fields f;
    if (parse_fields(e->element[1], &f) != 0) {
        dead_letter(w, entry, NULL, "malformed raw entry", deliveries);
        return;
    }
    if (deliveries > w->jd->cfg->max_deliveries) {
        dead_letter(w, entry, &f, "", deliveries);
        return;
    }
    normalize_and_apply(w, entry, &f, deliveries, NULL);
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
    struct timeval tv = {1, 0};
    evtimer_add(w->retry, &tv);
}

static void on_read(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->reading = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r && strncmp(r->str, "NOGROUP", 7) == 0)
            w->group_ready = 0;
        schedule_retry(w);
        return;
    }
    /* [[stream, [[id, fields], ...]]] or nil after BLOCK ran out. */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        const redisReply *entries = r->element[0]->element[1];
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
        schedule_retry(w);
    }
}

static void read_more(struct worker *w)
{
    read_next(w, 1);
}

/* XREADGROUP of the next batch; `block` waits on the server for new entries, which only
 * an idle worker may do: a blocked read holds back every command behind it. */
static void read_next(struct worker *w, int block)
{
    struct jd *jd = w->jd;
    if (w->reading || w->stopping || !rq_is_ready(jd->rq_worker))
        return;
    if (!w->group_ready) {
        const char *argv[6] = {"XGROUP", "CREATE", JD_RAW_STREAM, JD_GROUP, "0", "MKSTREAM"};
        size_t lens[6];
        for (int i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        if (rq_command(jd->rq_worker, 0, on_group, w, 6, argv, lens) == 0)
            w->reading = 1;
        return;
    }
    char count[24], block_ms[24];
    snprintf(count, sizeof(count), "%lld", (long long)jd->cfg->worker_batch);
    snprintf(block_ms, sizeof(block_ms), "%d", WORKER_BLOCK_MS);
    const char *argv[11] = {"XREADGROUP", "GROUP",  JD_GROUP,  w->consumer,   "COUNT", count,
                            "BLOCK",      block_ms, "STREAMS", JD_RAW_STREAM, ">"};
    size_t lens[11];
    int argc = 0;
    for (int i = 0; i < 11; i++) {
        if (!block && (i == 6 || i == 7))
            continue;
        argv[argc] = argv[i];
        lens[argc++] = strlen(argv[i]);
    }
    /* The deadline must outlast the server-side BLOCK. */
    if (rq_command(jd->rq_worker, block ? WORKER_BLOCK_MS + jd->cfg->redis_timeout_ms : 0, on_read,
                   w, argc, argv, lens) == 0)
        w->reading = 1;
    else
        schedule_retry(w);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    read_more(arg);
}

/* Entries claimed from a crashed (or slow) consumer are applied again; apply.lua makes a
 * second application a no-op. */
static void on_claimed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    process_entries(w, r, 1);
}

/* Entries that already failed max_deliveries times go to the dead-letter stream. */
static void on_claimed_exhausted(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    process_entries(w, r, w->jd->cfg->max_deliveries + 1);
}

#define WORKER_CLAIM_MAX 256

static void claim(struct worker *w, const char **ids, int n, rq_reply_cb cb)
{
    const char *argv[5 + WORKER_CLAIM_MAX];
    size_t lens[5 + WORKER_CLAIM_MAX];
    char idle[24];
    if (n == 0)
        return;
    snprintf(idle, sizeof(idle), "%lld", (long long)w->jd->cfg->claim_idle_ms);
    argv[0] = "XCLAIM";
    argv[1] = JD_RAW_STREAM;
    argv[2] = JD_GROUP;
    argv[3] = w->consumer;
    argv[4] = idle;
    for (int i = 0; i < n; i++)
        argv[5 + i] = ids[i];
    for (int i = 0; i < 5 + n; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(w->jd->rq_worker, 0, cb, w, 5 + n, argv, lens) == 0)
        w->sweeping++;
}

static int is_ours_in_flight(const struct worker *w, const char *entry)
{
    for (const struct fetch_job *j = w->jobs; j; j = j->next)
        if (strcmp(j->entry, entry) == 0)
            return 1;
    return 0;
}

/* Entries waiting for look-ups stay pending for as long as the look-ups take (retries and
 * backoff can outlast claim_idle): resetting their idle time keeps other workers from
 * claiming them, without counting a delivery (JUSTID). */
static void keep_jobs_claimed(struct worker *w)
{
    const char *argv[6 + WORKER_CLAIM_MAX];
    size_t lens[6 + WORKER_CLAIM_MAX];
    int argc = 0;
    argv[argc++] = "XCLAIM";
    argv[argc++] = JD_RAW_STREAM;
    argv[argc++] = JD_GROUP;
    argv[argc++] = w->consumer;
    argv[argc++] = "0";
    for (const struct fetch_job *j = w->jobs; j && argc < 5 + WORKER_CLAIM_MAX; j = j->next)
        argv[argc++] = j->entry;
    if (argc == 5)
        return;
    argv[argc++] = "JUSTID";
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    (void)rq_command(w->jd->rq_worker, 0, on_ignore, NULL, argc, argv, lens);
}

static void on_pending(struct rq_client *c, const redisReply *r, void *priv)
{
    struct worker *w = priv;
    (void)c;
    w->sweeping--;
    if (!r || r->type != REDIS_REPLY_ARRAY || w->stopping)
        return;
    /* XPENDING rows: [id, consumer, idle ms, deliveries]. */
    const char *retry[WORKER_CLAIM_MAX], *exhausted[WORKER_CLAIM_MAX];
    int nretry = 0, nexhausted = 0;
    for (size_t i = 0; i < r->elements && i < WORKER_CLAIM_MAX; i++) {
        const redisReply *row = r->element[i];
        if (row->type != REDIS_REPLY_ARRAY || row->elements != 4 ||
            row->element[0]->type != REDIS_REPLY_STRING ||
            row->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        if (is_ours_in_flight(w, row->element[0]->str))
            continue;
        if (row->element[3]->integer >= w->jd->cfg->max_deliveries)
            exhausted[nexhausted++] = row->element[0]->str;
        else
            retry[nretry++] = row->element[0]->str;
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
    if (w->sweeping || w->stopping || !w->group_ready || !rq_is_ready(jd->rq_worker))
        return;
    keep_jobs_claimed(w);
    char idle[24];
    snprintf(idle, sizeof(idle), "%lld", (long long)jd->cfg->claim_idle_ms);
    const char *argv[8] = {"XPENDING", JD_RAW_STREAM, JD_GROUP, "IDLE", idle, "-", "+", "256"};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(jd->rq_worker, 0, on_pending, w, 8, argv, lens) == 0)
        w->sweeping++;
}

struct worker *worker_new(struct jd *jd)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->jd = jd;
    if (jd->cfg->consumer && jd->cfg->consumer[0]) {
        snprintf(w->consumer, sizeof(w->consumer), "%s", jd->cfg->consumer);
    } else {
        char host[64] = "journeyd";
        (void)gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(w->consumer, sizeof(w->consumer), "%s-%ld", host, (long)getpid());
    }
    w->sweep = event_new(jd->base, -1, EV_PERSIST, on_sweep, w);
    w->retry = evtimer_new(jd->base, on_retry, w);
    int64_t period = jd->cfg->claim_idle_ms / 2;
    if (period < 200)
        period = 200;
    struct timeval tv = {(time_t)(period / 1000), (suseconds_t)((period % 1000) * 1000)};
    if (!w->sweep || !w->retry || event_add(w->sweep, &tv) != 0) {
        worker_free(w);
        return NULL;
    }
    return w;
}

void worker_on_redis_state(struct worker *w, enum rq_state s)
{
    if (s == RQ_READY) {
        w->group_ready = 0; /* the server may be a fresh one: make sure the group exists */
        read_more(w);
    } else if (s == RQ_CLOSED) {
        /* Every command in flight has been failed by now. */
        w->reading = 0;
    }
}

void worker_stop(struct worker *w)
{
    w->stopping = 1;
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
    free(w);
}
