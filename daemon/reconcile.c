/*
 * The walks of reconcile.h: HMGET the cursor → GET (HubSpot: POST) a page (outbound) →
 * XADD each item as a fetched raw record → HSET the cursor once every XADD was
 * acknowledged → the next page after a pause. Nothing here applies anything: the worker
 * does, with the webhooks' code.
 */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "jd.h"
#include "listing.h"
#include "log.h"
#include "outbound.h"
#include "util.h"

#define RECONCILE_TICK_MS 1000
/* Between two pages of a walk: at most 2 requests a second to a provider. */
#define RECONCILE_PAGE_GAP_MS 500
/* A loop walk yields after this many pages (the next tick goes on from the cursor), so
 * one source's long window or a backfill never starves the other sources. */
#define RECONCILE_WALK_PAGES 20
/* A new window starts this long before the last one began: events the provider made
 * visible late are still listed; the dedup absorbs the overlap. */
#define RECONCILE_OVERLAP_S 600
/* The first walk of a source: Stripe keeps events 30 days, and lists the ones whose
 * delivery failed; Shopify orders are read back 3 days (a backfill reaches further). */
#define RECONCILE_FIRST_FAILED_S (30 * 86400)
#define RECONCILE_FIRST_RECENT_S (3 * 86400)
/* A walk that failed is tried again after this, or after the interval when shorter. */
#define RECONCILE_RETRY_MS 60000
#define BACKFILL_POLL_MS 5000
#define RECONCILE_SLOTS (2 * CFG_MAX_SOURCES)

struct rec_slot {
    char name[64];
    int64_t due_ms;           /* the next loop walk; 0 = at the first tick */
    uint64_t seen_reconciled; /* the source's recovered count when its last walk began */
    int started;
};

struct reconcile {
    struct jd *jd;
    struct event *tick, *gap;
    int cli; /* one backfill, then progress(done) */
    reconcile_progress_cb progress;
    void *ud;
    int64_t cli_since_s;
    struct rec_slot slots[RECONCILE_SLOTS];
    size_t nslots;
    int64_t next_poll_ms;
    /* The walk in progress. */
    int active, backfill;
    char source[64], type[32], key[160];
    enum cx_list_feed feed;
    int64_t since_s, next_s;
    char after[CX_ID_MAX];
    size_t form_i; /* meta_leads: which of the source's forms the walk reads */
    char form[40];
    uint64_t pages, fetched, walk_pages;
    int waiting, failed, finished;
    struct cx_list_page *page;
};

/* A command whose answer nobody waits for (rq_command needs a callback). */
static void on_ignore(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)r;
    (void)priv;
}

static struct rq_client *rq_of(const struct jd *jd)
{
    /* Never the worker's connection when another exists: its blocking reads would hold
     * the XADDs back. */
    return jd->rq_ingest ? jd->rq_ingest : jd->rq_api ? jd->rq_api : jd->rq_worker;
}

static void arm(struct event *ev, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(ev, &tv) != 0)
        jlog(JLOG_ERROR, "msg=\"reconcile timer failed\"");
}

static struct rec_slot *slot_of(struct reconcile *r, const char *name)
{
    for (size_t i = 0; i < r->nslots; i++)
        if (strcmp(r->slots[i].name, name) == 0)
            return &r->slots[i];
    if (r->nslots == RECONCILE_SLOTS)
        return NULL;
    struct rec_slot *s = &r->slots[r->nslots++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static void report(struct reconcile *r, int done, const char *why)
{
    if (!r->progress)
        return;
    struct reconcile_progress p = {r->source, r->since_s, r->pages, r->fetched,
                                   r->after,  done,       why};
    r->progress(&p, r->ud);
}

/* outcome: 1 the window was read to its end, 0 it yielded (more to read), -1 failed. */
static void walk_end(struct reconcile *r, int outcome, const char *why)
{
    if (r->page) {
        cx_list_page_free(r->page);
        free(r->page);
        r->page = NULL;
    }
    r->active = 0;
    if (outcome < 0) {
        char q[256];
        jlog(JLOG_WARNING, "msg=\"%s failed, will retry\" source=%s reason=\"%s\"",
             r->backfill ? "backfill" : "reconcile", r->source,
             jlog_quote(why, strlen(why), q, sizeof(q)));
    } else if (outcome > 0)
        /* Every interval: said at info only when the walk brought something back. */
        jlog(r->fetched || r->backfill ? JLOG_INFO : JLOG_DEBUG,
             "msg=\"%s done\" source=%s pages=%llu fetched=%llu",
             r->backfill ? "backfill" : "reconcile", r->source, (unsigned long long)r->pages,
             (unsigned long long)r->fetched);
    if (r->cli) {
        if (outcome != 0)
            report(r, outcome, why);
        return;
    }
    const struct cfg_source *s = cfg_find_source(r->jd->cfg, r->source);
    struct rec_slot *slot = r->backfill ? NULL : slot_of(r, r->source);
    if (slot && s) {
        int64_t now = jd_mono_ms(), every = s->reconcile_ms > 0 ? s->reconcile_ms : 60000;
        slot->due_ms = outcome > 0 ? now + every
                       : outcome < 0
                           ? now + (every < RECONCILE_RETRY_MS ? every : RECONCILE_RETRY_MS)
                           : now + RECONCILE_PAGE_GAP_MS;
    }
    if (r->backfill && outcome < 0)
        r->next_poll_ms = jd_mono_ms() + RECONCILE_RETRY_MS;
}

static void fetch_page(struct reconcile *r);

static void on_saved(struct rq_client *c, const redisReply *reply, void *priv)
{
    struct reconcile *r = priv;
    (void)c;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        walk_end(r, -1, "cursor not saved (redis)");
        return;
    }
    if (r->finished) {
        if (r->backfill && !r->cli) {
            const char *argv[] = {"SREM", BACKFILL_REQUESTS, r->source};
            size_t lens[] = {4, strlen(BACKFILL_REQUESTS), strlen(r->source)};
            (void)rq_command(c, 0, on_ignore, NULL, 3, argv, lens);
        }
        walk_end(r, 1, "");
        return;
    }
    report(r, 0, "");
    if (!r->cli && r->walk_pages >= RECONCILE_WALK_PAGES) {
        walk_end(r, 0, "");
        return;
    }
    arm(r->gap, RECONCILE_PAGE_GAP_MS);
}

/* Every item of the page is in the raw stream: the cursor may move past it. */
static void page_queued(struct reconcile *r)
{
    if (r->failed) {
        walk_end(r, -1, "fetched events not queued (redis)");
        return;
    }
    struct cx_list_page *p = r->page;
    r->pages++;
    r->walk_pages++;
    r->fetched += p->n;
    if (!r->cli) {
        struct metrics_source *row = metrics_source(&r->jd->metrics, r->source);
        if (row)
            row->fetched += p->n;
    }
    r->finished = 0;
    if (p->more)
        snprintf(r->after, sizeof(r->after), "%s", p->after);
    else {
        /* This form (or the one listing) is read to its end: the next form, or done. */
        const struct cfg_source *s = cfg_find_source(r->jd->cfg, r->source);
        r->after[0] = '\0';
        if (s && r->form_i + 1 < cx_list_nforms(&s->cx))
            r->form_i++;
        else {
            r->finished = 1;
            r->form_i = 0;
        }
    }
    cx_list_page_free(p); /* queued: the next page reuses the storage */
    char since[24], next[24], feed[8], pages[24], fetched[24], form[24];
    snprintf(form, sizeof(form), "%zu", r->form_i);
    snprintf(since, sizeof(since), "%lld",
             (long long)(r->finished && !r->backfill ? r->next_s : r->since_s));
    snprintf(next, sizeof(next), "%lld", (long long)r->next_s);
    snprintf(feed, sizeof(feed), "%d", r->finished ? (int)CX_FEED_RECENT : (int)r->feed);
    snprintf(pages, sizeof(pages), "%llu", (unsigned long long)r->pages);
    snprintf(fetched, sizeof(fetched), "%llu", (unsigned long long)r->fetched);
    const char *state = r->finished ? "done" : "running";
    const char *argv[] = {"HSET",  r->key,   "since",   since,   "next",  next,
                          "after", r->after, "feed",    feed,    "state", state,
                          "pages", pages,    "fetched", fetched, "form",  form};
    size_t lens[18];
    int argc = 18;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(rq_of(r->jd), 0, on_saved, r, argc, argv, lens) != 0)
        walk_end(r, -1, "cursor not saved (redis unavailable)");
}

static void on_added(struct rq_client *c, const redisReply *reply, void *priv)
{
    struct reconcile *r = priv;
    (void)c;
    if (!reply || reply->type != REDIS_REPLY_STRING)
        r->failed = 1;
    if (--r->waiting == 0)
        page_queued(r);
}

static void on_page(void *ud, enum outbound_result result, long status, const char *body,
                    size_t len, const char *error)
{
    struct reconcile *r = ud;
    char why[200];
    if (result != OUTBOUND_OK && result != OUTBOUND_PERMANENT) {
        snprintf(why, sizeof(why), "list API unavailable: %s (HTTP %ld)", error ? error : "refused",
                 status);
        walk_end(r, -1, why);
        return;
    }
    const struct cfg_source *s = cfg_find_source(r->jd->cfg, r->source);
    if (!s) {
        walk_end(r, -1, "source no longer configured");
        return;
    }
    struct cx_list_query q = {r->feed, r->form, r->since_s, r->after};
    struct cx_err err = {{0}};
    if (cx_list_parse(&s->cx, &q, status, (const unsigned char *)body, len, r->page, &err) != 0) {
        walk_end(r, -1, err.msg);
        return;
    }
    struct rq_client *rq = rq_of(r->jd);
    const char *mode = r->backfill ? "backfill" : "reconcile";
    r->failed = 0;
    r->waiting = 1; /* held until every XADD is sent, so page_queued runs once */
    for (size_t i = 0; i < r->page->n; i++) {
        const struct cx_list_item *it = &r->page->v[i];
        struct stream_record rec = {
            .src = r->source,
            .type = r->type,
            .recv_ms = jd_now_ms(),
            .body = it->body,
            .body_len = it->len,
        };
        rec.headers[rec.nheaders++] = (struct stream_header){STREAM_FETCHED_HEADER, mode};
        if (it->topic)
            rec.headers[rec.nheaders++] = (struct stream_header){"x-shopify-topic", it->topic};
        if (stream_add(rq, &rec, on_added, r) != 0) {
            r->failed = 1;
            break;
        }
        r->waiting++;
    }
    if (--r->waiting == 0)
        page_queued(r);
}

static void fetch_page(struct reconcile *r)
{
    /* Webhooks first: with the raw stream half full (max_queue), the walk waits and goes
     * on from its cursor, so a backfill never makes ingest answer 503. */
    if (!r->cli && r->jd->queue_length > 0 && r->jd->queue_length >= r->jd->cfg->max_queue / 2) {
        walk_end(r, 0, "");
        return;
    }
    const struct cfg_source *s = cfg_find_source(r->jd->cfg, r->source);
    if (!s || strcmp(s->type, r->type) != 0) {
        walk_end(r, -1, "source no longer configured");
        return;
    }
    if (cx_list_form(&s->cx, r->form_i, r->form, sizeof(r->form)) != 0) {
        /* The forms changed under a walk (a reload): start the list over. */
        r->form_i = 0;
        r->after[0] = '\0';
        if (cx_list_form(&s->cx, 0, r->form, sizeof(r->form)) != 0) {
            walk_end(r, -1, "no forms to read");
            return;
        }
    }
    struct cx_list_query q = {r->feed, r->form, r->since_s, r->after};
    struct cx_fetch *fx = calloc(1, sizeof(*fx));
    struct cx_err err = {{0}};
    if (!fx) {
        walk_end(r, -1, "out of memory");
        return;
    }
    if (cx_list_request(&s->cx, &q, fx, &err) != 0) {
        free(fx);
        walk_end(r, -1, err.msg);
        return;
    }
    /* HubSpot's search is a POST with the query in its body; the others are GETs. */
    char body[CX_LIST_BODY_MAX];
    size_t blen = 0;
    if (cx_list_body(&s->cx, &q, body, sizeof(body), &blen, &err) != 0) {
        free(fx);
        walk_end(r, -1, err.msg);
        return;
    }
    const char *headers[2] = {fx->headers[0], fx->headers[1]};
    int rc = blen ? outbound_post(r->jd->outbound, fx->url, headers, fx->nheaders, body, blen,
                                  on_page, r)
                  : outbound_get(r->jd->outbound, fx->url, headers, fx->nheaders, on_page, r);
    free(fx);
    if (rc != 0)
        walk_end(r, -1, "look-up queue full");
}

static void on_gap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reconcile *r = arg;
    if (r->jd->stopping) {
        walk_end(r, 0, "");
        return;
    }
    fetch_page(r);
}

static const char *field(const redisReply *reply, size_t i)
{
    const redisReply *e = i < reply->elements ? reply->element[i] : NULL;
    return e && e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

static int64_t num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

/* The "webhooks went silent" signal: a walk found events the webhooks had not delivered
 * (the worker counted them as new while the last walk's records were applied). */
static void judge_silence(struct reconcile *r)
{
    struct rec_slot *slot = slot_of(r, r->source);
    struct metrics_source *row = metrics_source(&r->jd->metrics, r->source);
    if (!slot || !row)
        return;
    if (slot->started) {
        uint64_t recovered = row->reconciled - slot->seen_reconciled;
        if (recovered > 0) {
            if (!row->silent)
                jlog(JLOG_WARNING,
                     "msg=\"webhooks missed events: recovered from the provider's API; check "
                     "the webhook endpoint and its secret\" source=%s recovered=%llu",
                     r->source, (unsigned long long)recovered);
            row->silent = 1;
        } else if (row->silent) {
            jlog(JLOG_NOTICE, "msg=\"webhooks deliver again: nothing to recover\" source=%s",
                 r->source);
            row->silent = 0;
        }
    }
    slot->started = 1;
    slot->seen_reconciled = row->reconciled;
}

static void on_cursor(struct rq_client *c, const redisReply *reply, void *priv)
{
    struct reconcile *r = priv;
    (void)c;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 8) {
        walk_end(r, -1, "cursor not read (redis)");
        return;
    }
    const char *since = field(reply, 0), *next = field(reply, 1), *after = field(reply, 2);
    const char *feed = field(reply, 3), *state = field(reply, 4);
    int64_t now_s = jd_now_ms() / 1000;
    int running = state && strcmp(state, "running") == 0;
    snprintf(r->after, sizeof(r->after), "%s", after ? after : "");
    r->feed = feed && num(feed) == CX_FEED_FAILED ? CX_FEED_FAILED : CX_FEED_RECENT;
    r->pages = r->fetched = 0;
    /* The form in hand when the walk was cut short (its cursor belongs to it). */
    r->form_i = r->after[0] ? (size_t)num(field(reply, 7)) : 0;
    if (r->backfill) {
        if (r->cli && !running) {
            r->since_s = r->cli_since_s;
            r->after[0] = '\0';
            r->form_i = 0;
        } else if (!running) {
            /* A request whose backfill is over (or was never written): forget it. */
            const char *argv[] = {"SREM", BACKFILL_REQUESTS, r->source};
            size_t lens[] = {4, strlen(BACKFILL_REQUESTS), strlen(r->source)};
            (void)rq_command(c, 0, on_ignore, NULL, 3, argv, lens);
            walk_end(r, 0, "");
            return;
        } else {
            r->since_s = num(since);
            r->pages = (uint64_t)num(field(reply, 5));
            r->fetched = (uint64_t)num(field(reply, 6));
        }
        r->feed = CX_FEED_RECENT;
        r->next_s = r->since_s;
    } else if (!since) {
        /* The source's first walk. */
        int stripe = strcmp(r->type, "stripe") == 0;
        r->feed = stripe ? CX_FEED_FAILED : CX_FEED_RECENT;
        r->since_s = now_s - (stripe ? RECONCILE_FIRST_FAILED_S : RECONCILE_FIRST_RECENT_S);
        r->next_s = now_s - RECONCILE_OVERLAP_S;
        r->after[0] = '\0';
        r->form_i = 0;
    } else {
        r->since_s = num(since);
        /* A walk cut short goes on in its window; a fresh one opens the next. */
        r->next_s = r->after[0] && next ? num(next) : now_s - RECONCILE_OVERLAP_S;
    }
    if (!r->backfill)
        judge_silence(r);
    if (r->backfill && r->cli)
        report(r, 0, "");
    fetch_page(r);
}

static void walk_start(struct reconcile *r, const struct cfg_source *s, int backfill)
{
    r->page = calloc(1, sizeof(*r->page));
    if (!r->page)
        return;
    r->active = 1;
    r->backfill = backfill;
    r->walk_pages = 0;
    r->finished = 0;
    snprintf(r->source, sizeof(r->source), "%s", s->name);
    snprintf(r->type, sizeof(r->type), "%s", s->type);
    snprintf(r->key, sizeof(r->key), "%s%s", backfill ? BACKFILL_KEY_PREFIX : RECONCILE_KEY_PREFIX,
             s->name);
    const char *argv[] = {"HMGET", r->key,  "since", "next",    "after",
                          "feed",  "state", "pages", "fetched", "form"};
    size_t lens[10];
    for (int i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(rq_of(r->jd), 0, on_cursor, r, 10, argv, lens) != 0)
        walk_end(r, -1, "redis unavailable");
}

static void on_request(struct rq_client *c, const redisReply *reply, void *priv)
{
    struct reconcile *r = priv;
    if (r->active || !reply || reply->type != REDIS_REPLY_STRING)
        return;
    const struct cfg_source *s = cfg_find_source(r->jd->cfg, reply->str);
    if (!s || !cx_list_supported(s->type) || !s->api_token || cx_list_nforms(&s->cx) == 0) {
        const char *argv[] = {"SREM", BACKFILL_REQUESTS, reply->str};
        size_t lens[] = {4, strlen(BACKFILL_REQUESTS), reply->len};
        jlog(JLOG_NOTICE, "msg=\"backfill request dropped: no such source that can list\"");
        (void)rq_command(c, 0, on_ignore, NULL, 3, argv, lens);
        return;
    }
    walk_start(r, s, 1);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct reconcile *r = arg;
    struct jd *jd = r->jd;
    (void)fd;
    (void)what;
    if (jd->stopping)
        return;
    arm(r->tick, RECONCILE_TICK_MS);
    if (r->active || !rq_is_ready(rq_of(jd)) || !jd->outbound)
        return;
    int64_t now = jd_mono_ms();
    for (size_t i = 0; i < jd->cfg->nsources; i++) {
        const struct cfg_source *s = &jd->cfg->sources[i];
        if (s->reconcile_ms <= 0 || !cx_list_supported(s->type))
            continue;
        struct rec_slot *slot = slot_of(r, s->name);
        if (slot && slot->due_ms <= now) {
            walk_start(r, s, 0);
            return;
        }
    }
    if (now < r->next_poll_ms)
        return;
    r->next_poll_ms = now + BACKFILL_POLL_MS;
    const char *argv[] = {"SRANDMEMBER", BACKFILL_REQUESTS};
    size_t lens[] = {11, strlen(BACKFILL_REQUESTS)};
    (void)rq_command(rq_of(jd), 0, on_request, r, 2, argv, lens);
}

int reconcile_parse_since(const char *s, int64_t now_s, int64_t *out)
{
    char *end = NULL;
    int64_t ms;
    if (!s || !*s)
        return -1;
    if (*s >= '0' && *s <= '9') {
        long long n = strtoll(s, &end, 10);
        int64_t unit = 0;
        if (end && end[0] && !end[1])
            unit = end[0] == 'w'   ? 7 * 86400
                   : end[0] == 'd' ? 86400
                   : end[0] == 'h' ? 3600
                   : end[0] == 'm' ? 60
                                   : 0;
        if (unit && n > 0 && n <= RECONCILE_MAX_AGE_S / unit) {
            *out = now_s - (int64_t)n * unit;
            return 0;
        }
    }
    char day[32];
    if (strlen(s) == 10 && snprintf(day, sizeof(day), "%sT00:00:00Z", s) > 0 &&
        cx_parse_rfc3339(day, &ms) == 0)
        s = day;
    else if (cx_parse_rfc3339(s, &ms) != 0)
        return -1;
    if (ms / 1000 > now_s || now_s - ms / 1000 > RECONCILE_MAX_AGE_S)
        return -1;
    *out = ms / 1000;
    return 0;
}

static struct reconcile *alloc(struct jd *jd)
{
    struct reconcile *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->jd = jd;
    r->tick = evtimer_new(jd->base, on_tick, r);
    r->gap = evtimer_new(jd->base, on_gap, r);
    if (!r->tick || !r->gap) {
        reconcile_free(r);
        return NULL;
    }
    return r;
}

struct reconcile *reconcile_new(struct jd *jd)
{
    if (!rq_of(jd) || !jd->outbound)
        return NULL;
    struct reconcile *r = alloc(jd);
    if (r)
        arm(r->tick, 0);
    return r;
}

/* The CLI's one walk starts once its Redis connection is ready. */
static void on_cli_tick(evutil_socket_t fd, short what, void *arg)
{
    struct reconcile *r = arg;
    (void)fd;
    (void)what;
    const struct cfg_source *s = cfg_find_source(r->jd->cfg, r->source);
    if (!s) {
        report(r, -1, "no such source");
        return;
    }
    if (!rq_is_ready(rq_of(r->jd))) {
        /* Redis's own connect timeout and backoff run meanwhile; 30 s is plenty. */
        if (++r->waiting > 300) {
            report(r, -1, "redis unavailable");
            return;
        }
        arm(r->tick, 100);
        return;
    }
    r->waiting = 0;
    walk_start(r, s, 1);
    if (!r->active)
        report(r, -1, "out of memory or redis unavailable");
}

struct reconcile *reconcile_backfill_new(struct jd *jd, const char *source, int64_t since_s,
                                         reconcile_progress_cb progress, void *ud)
{
    struct reconcile *r = alloc(jd);
    if (!r)
        return NULL;
    r->cli = 1;
    r->progress = progress;
    r->ud = ud;
    r->cli_since_s = since_s;
    snprintf(r->source, sizeof(r->source), "%s", source);
    event_free(r->tick);
    r->tick = evtimer_new(jd->base, on_cli_tick, r);
    if (!r->tick) {
        reconcile_free(r);
        return NULL;
    }
    arm(r->tick, 0);
    return r;
}

void reconcile_free(struct reconcile *r)
{
    if (!r)
        return;
    if (r->tick)
        event_free(r->tick);
    if (r->gap)
        event_free(r->gap);
    if (r->page) {
        cx_list_page_free(r->page);
        free(r->page);
    }
    free(r);
}
