/*
 * The outbox (outbox.h): read jd:out with the consumer group "out", hand each message to
 * its destination type (destinations/) to build the request, send it with outbound.c,
 * classify the answer, and end the message with out_done.lua (delivered, skipped, dry run
 * or dead). And the SLA alert timer over jd:sla:due (out_sla.lua).
 *
 * Every action starts from the tick (a timer, or event_active after a callback); the
 * Redis and curl callbacks only change a message's state. So a callback never re-enters
 * the loop that called it, and freeing needs no care beyond "after the clients".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ads.h"
#include "common.h"
#include "config.h"
#include "destination.h"
#include "jd.h"
#include "log.h"
#include "outbound.h"
#include "outbox.h"
#include "outplan.h"
#include "report.h"
#include "util.h"
#include "worker.h"

#define OUTBOX_STREAM "jd:out"
#define OUTBOX_GROUP "out"
#define OUTBOX_HELD_MAX 64 /* messages in memory at once (read, sending, backing off) */
#define OUTBOX_TICK_MS 250
#define OUTBOX_BACKOFF_MS 1000
#define OUTBOX_BACKOFF_MAX_MS (10 * 60 * 1000)
#define OUTBOX_RETRY_AFTER_MAX_S 3600
#define OUTBOX_MAX_ROUNDS 12 /* failed rounds (each up to outbound_attempts tries) */
#define OUTBOX_SLA_TICK_MS 5000
#define OUTBOX_SLA_BATCH 100
#define OUTBOX_ROWS 64 /* metric rows (destination, result) */
#define OUTBOX_TOKEN_BACKOFF_MS 2000
#define OUTBOX_TOKEN_BACKOFF_MAX_MS (5 * 60 * 1000)

enum msg_state { M_WAITING, M_CHECKING, M_SENDING, M_BACKOFF, M_FINISH, M_FINISHING };

struct out_msg {
    struct outbox *ob;
    struct out_msg *next;
    enum msg_state state;
    char id[64], dest[64], kind[32], dedup[DST_DEDUP_MAX], contact[64], event[256];
    char *facts;
    size_t facts_len;
    int rounds;
    int checked;         /* after a backoff: the entry is still in jd:out (not erased) */
    struct event *timer; /* backoff */
    /* How it ended (M_FINISH): out_done.lua's mode, the result word and the reason. */
    int dead;
    long status;
    char result[16];
    char reason[DST_WHY_MAX];
    char sent_dedup[DST_DEDUP_MAX];
};

/* The access token of a destination whose type has a token step (Google: a service-account
 * JWT exchanged at token_url), fetched once and reused until shortly before it expires.
 * One token request per destination at a time; its messages wait meanwhile. */
struct out_token {
    struct outbox *ob;
    char dest[64];
    struct dst_token_cache cache;
    int fetching;
    int failures;        /* in a row: the next try waits longer */
    int64_t next_try_ms; /* after a failure */
};

struct outbox {
    struct jd *jd;
    struct out_token tokens[CFG_MAX_DESTINATIONS];
    struct event *tick, *kick;
    struct out_msg *held;
    size_t nheld;
    int group_ready, group_pending, reading;
    char consumer[128];
    int history;
    char history_from[64];
    /* The read in flight reads our pending list, from history_from as it was when the
     * read left; a claim (or a new name) restarts the list from "0" and bumps history_gen,
     * and a read sent before that changes nothing when it returns. */
    int read_history;
    unsigned history_gen, read_gen;
    int64_t sla_next_ms;
    int64_t sweep_next_ms; /* refresh our messages' idle time, claim a dead consumer's */
    int sweeping;
    /* A destination that answered Retry-After is left alone until then, every message. */
    struct {
        char dest[64];
        int64_t until_ms;
    } paused[16];
    int sla_busy;
    struct {
        char dest[64];
        char result[16];
        uint64_t n;
    } rows[OUTBOX_ROWS];
    size_t nrows;
    uint64_t rows_overflow;
};

static struct rq_client *outbox_redis(const struct outbox *ob)
{
    return ob->jd->rq_api ? ob->jd->rq_api : ob->jd->rq_worker;
}

static void kick(struct outbox *ob)
{
    event_active(ob->kick, 0, 0);
}

static void count(struct outbox *ob, const char *dest, const char *result)
{
    for (size_t i = 0; i < ob->nrows; i++)
        if (strcmp(ob->rows[i].dest, dest) == 0 && strcmp(ob->rows[i].result, result) == 0) {
            ob->rows[i].n++;
            return;
        }
    if (ob->nrows == OUTBOX_ROWS) {
        ob->rows_overflow++;
        return;
    }
    snprintf(ob->rows[ob->nrows].dest, sizeof(ob->rows[0].dest), "%s", dest);
    snprintf(ob->rows[ob->nrows].result, sizeof(ob->rows[0].result), "%s", result);
    ob->rows[ob->nrows++].n = 1;
}

static void msg_free(struct out_msg *m)
{
    if (m->timer)
        event_free(m->timer);
    free(m->facts);
    free(m);
}

static void msg_unlink(struct outbox *ob, struct out_msg *m)
{
    for (struct out_msg **pp = &ob->held; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            ob->nheld--;
            return;
        }
}

static int is_held(const struct outbox *ob, const char *id)
{
    for (const struct out_msg *m = ob->held; m; m = m->next)
        if (strcmp(m->id, id) == 0)
            return 1;
    return 0;
}

/* The wall-clock time in an entry id ("<ms>-<seq>"). */
static int64_t id_ms(const char *id)
{
    return strtoll(id, NULL, 10);
}

/* ---- ending a message ---- */

static void finish(struct out_msg *m, int dead, const char *result, long status, const char *why)
{
    m->state = M_FINISH;
    m->dead = dead;
    m->status = status;
    snprintf(m->result, sizeof(m->result), "%s", result);
    snprintf(m->reason, sizeof(m->reason), "%s", why ? why : "");
    kick(m->ob);
}

static void on_done(struct rq_client *c, const redisReply *r, void *priv)
{
    struct out_msg *m = priv;
    struct outbox *ob = m->ob;
    (void)c;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        /* Redis away: the message is still pending in jd:out; end it again later (the
         * script is idempotent: XACK and XDEL of a gone entry do nothing). */
        m->state = M_FINISH;
        return;
    }
    count(ob, m->dest, m->result);
    if (m->dead)
        jlog(JLOG_WARNING,
             "msg=\"outbox message dead-lettered\" destination=%s kind=%s entry=%s reason=\"%s\"",
             m->dest, m->kind, m->id, m->reason);
    msg_unlink(ob, m);
    msg_free(m);
    kick(ob);
}

static void send_done(struct outbox *ob, struct out_msg *m)
{
    char rec[1024], status[24];
    snprintf(status, sizeof(status), "%ld", m->status);
    cJSON *o = cJSON_CreateObject();
    char at[32];
    cx_format_rfc3339(jd_now_ms(), at);
    if (!o || !cJSON_AddStringToObject(o, "destination", m->dest) ||
        !cJSON_AddStringToObject(o, "kind", m->kind) ||
        !cJSON_AddStringToObject(o, "result", m->result) ||
        !cJSON_AddNumberToObject(o, "status", (double)m->status) ||
        !cJSON_AddStringToObject(o, "at", at) ||
        !cJSON_AddStringToObject(o, "dedup", m->sent_dedup[0] ? m->sent_dedup : m->dedup) ||
        (m->dead && !cJSON_AddStringToObject(o, "reason", m->reason)) ||
        !cJSON_PrintPreallocated(o, rec, sizeof(rec), 0)) {
        cJSON_Delete(o);
        return; /* tried again at the next tick */
    }
    cJSON_Delete(o);
    const char *argv[] = {m->dead ? "dead" : "done",
                          m->id,
                          m->event,
                          rec,
                          m->reason,
                          "d",
                          m->dest,
                          "k",
                          m->kind,
                          "x",
                          m->dedup,
                          "c",
                          m->contact,
                          "e",
                          m->event,
                          "f",
                          m->facts};
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    size_t n = m->dead ? sizeof(argv) / sizeof(argv[0]) : 5;
    for (size_t i = 0; i < n; i++)
        lens[i] = i == n - 1 && m->dead ? m->facts_len : strlen(argv[i]);
    if (rq_eval(outbox_redis(ob), JD_SCRIPT_OUT_DONE, 0, on_done, m, 0, (int)n, argv, lens) == 0)
        m->state = M_FINISHING;
}

/* ---- the token step (dst_type.auth) ---- */

/* dest's slot, or a free one when it has none yet (reloads that renamed destinations may
 * have used them all: then one not fetching, its token wiped). */
static struct out_token *token_slot(struct outbox *ob, const char *dest)
{
    struct out_token *free_slot = NULL;
    for (size_t i = 0; i < CFG_MAX_DESTINATIONS; i++) {
        if (strcmp(ob->tokens[i].dest, dest) == 0)
            return &ob->tokens[i];
        if (!free_slot && !ob->tokens[i].dest[0])
            free_slot = &ob->tokens[i];
    }
    if (!free_slot) {
        /* A reload renamed destinations: reuse a slot not fetching (its token is wiped). */
        for (size_t i = 0; i < CFG_MAX_DESTINATIONS && !free_slot; i++)
            if (!ob->tokens[i].fetching)
                free_slot = &ob->tokens[i];
        if (!free_slot)
            return NULL;
        dst_token_clear(&free_slot->cache);
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->ob = ob;
    snprintf(free_slot->dest, sizeof(free_slot->dest), "%s", dest);
    return free_slot;
}

static void token_failed(struct out_token *tk, const char *why)
{
    int64_t delay = OUTBOX_TOKEN_BACKOFF_MS;
    for (int i = 0; i < tk->failures && delay < OUTBOX_TOKEN_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > OUTBOX_TOKEN_BACKOFF_MAX_MS)
        delay = OUTBOX_TOKEN_BACKOFF_MAX_MS;
    tk->failures++;
    tk->next_try_ms = jd_now_ms() + delay;
    count(tk->ob, tk->dest, "token_failed");
    jlog(JLOG_WARNING,
         "msg=\"cannot get an access token\" destination=%s why=\"%s\" retry_in_ms=%lld", tk->dest,
         why, (long long)delay);
}

/* One built request out through the shared transfer machinery: one attempt (the outbox
 * keeps its own retry schedule), public addresses only unless the destination allows
 * private ones. 0 when it is under way. */
static int send_built(struct outbox *ob, const struct cfg_destination *d,
                      const struct dst_request *rq, outbound_req_cb cb, void *ud)
{
    const char *hdrs[DST_MAX_HEADERS];
    for (size_t i = 0; i < rq->nheaders; i++)
        hdrs[i] = rq->headers[i];
    struct outbound_req req = {.method = rq->method,
                               .url = rq->url,
                               .headers = hdrs,
                               .nheaders = rq->nheaders,
                               .body = rq->body,
                               .len = rq->len,
                               .public_only = !d->allow_private,
                               .max_attempts = 1};
    return outbound_request(ob->jd->outbound, &req, cb, ud);
}

static void on_token(void *ud, const struct outbound_answer *a)
{
    struct out_token *tk = ud;
    struct outbox *ob = tk->ob;
    tk->fetching = 0;
    if (a->result == OUTBOUND_REFUSED)
        return; /* queue full or shutting down: asked again by the next message */
    const struct cfg_destination *d = cfg_find_destination(ob->jd->cfg, tk->dest);
    const struct dst_type *t = d ? dst_lookup(d->type) : NULL;
    char token[DST_TOKEN_MAX], why[DST_WHY_MAX];
    int64_t expires_in = 0;
    if (a->blocked) {
        token_failed(tk, a->error ? a->error : "address not allowed");
    } else if (a->status < 200 || a->status >= 300) {
        /* The answer's body may quote the request; only its status is logged. */
        snprintf(why, sizeof(why),
                 a->status ? "token endpoint answered HTTP %ld" : "token endpoint unreachable",
                 a->status);
        token_failed(tk, why);
    } else if (!t || !t->auth_parse ||
               t->auth_parse(a->body, a->len, token, sizeof(token), &expires_in) != 0 ||
               dst_token_put(&tk->cache, token, expires_in, jd_now_ms() / 1000) != 0) {
        token_failed(tk, "token answer not usable");
    } else {
        tk->failures = 0;
        count(ob, tk->dest, "token");
    }
    OPENSSL_cleanse(token, sizeof(token));
    kick(ob);
}

/* Starts a token request for d unless one is in flight or a failure's wait is not over;
 * *dead is set with why when no token request can be built (the message cannot leave). */
static void token_fetch(struct outbox *ob, const struct cfg_destination *d,
                        const struct dst_type *t, int *dead, char *why, size_t whylen)
{
    struct out_token *tk = token_slot(ob, d->name);
    int64_t now = jd_now_ms();
    *dead = 0;
    if (!tk || tk->fetching || now < tk->next_try_ms)
        return;
    struct dst_request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return;
    if (t->auth(&d->dst, now / 1000, rq, why, whylen) != DST_BUILT) {
        *dead = 1;
    } else {
        if (send_built(ob, d, rq, on_token, tk) == 0)
            tk->fetching = 1;
    }
    if (rq->body)
        OPENSSL_cleanse(rq->body, rq->len); /* a signed assertion: good for an hour */
    free(rq->body);
    free(rq);
}

/* dest's valid token, or NULL (none yet, or expiring). */
static const char *token_cached(struct outbox *ob, const char *dest)
{
    for (size_t i = 0; i < CFG_MAX_DESTINATIONS; i++)
        if (strcmp(ob->tokens[i].dest, dest) == 0)
            return dst_token_get(&ob->tokens[i].cache, jd_now_ms() / 1000);
    return NULL;
}

/* Forgets dest's token (an answer said it is no good). */
static void token_drop(struct outbox *ob, const char *dest)
{
    for (size_t i = 0; i < CFG_MAX_DESTINATIONS; i++)
        if (strcmp(ob->tokens[i].dest, dest) == 0)
            dst_token_clear(&ob->tokens[i].cache);
}

/* ---- sending ---- */

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct out_msg *m = arg;
    (void)fd;
    (void)what;
    m->state = M_WAITING;
    kick(m->ob);
}

static int64_t paused_until(const struct outbox *ob, const char *dest)
{
    for (size_t i = 0; i < sizeof(ob->paused) / sizeof(ob->paused[0]); i++)
        if (strcmp(ob->paused[i].dest, dest) == 0)
            return ob->paused[i].until_ms;
    return 0;
}

/* The slot of dest, else the one whose pause ended first. */
static void pause_destination(struct outbox *ob, const char *dest, int64_t until_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < sizeof(ob->paused) / sizeof(ob->paused[0]); i++) {
        if (strcmp(ob->paused[i].dest, dest) == 0) {
            k = i;
            break;
        }
        if (ob->paused[i].until_ms < ob->paused[k].until_ms)
            k = i;
    }
    snprintf(ob->paused[k].dest, sizeof(ob->paused[k].dest), "%s", dest);
    if (until_ms > ob->paused[k].until_ms || strcmp(ob->paused[k].dest, dest) != 0)
        ob->paused[k].until_ms = until_ms;
}

/* A failed round: back off (doubling, jittered; the platform's Retry-After wins), or give
 * up after OUTBOX_MAX_ROUNDS. */
static void retry_later(struct out_msg *m, int64_t retry_after_s, long status, const char *why)
{
    if (++m->rounds >= OUTBOX_MAX_ROUNDS) {
        char r[DST_WHY_MAX];
        snprintf(r, sizeof(r), "gave up after %d rounds: %s", m->rounds, why);
        finish(m, 1, "failed", status, r);
        return;
    }
    int64_t delay = OUTBOX_BACKOFF_MS;
    for (int i = 1; i < m->rounds && delay < OUTBOX_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > OUTBOX_BACKOFF_MAX_MS)
        delay = OUTBOX_BACKOFF_MAX_MS;
    unsigned char r = 0;
    (void)RAND_bytes(&r, 1);
    delay = delay / 2 + (delay / 2) * r / 255;
    if (retry_after_s >= 0) {
        delay =
            (retry_after_s > OUTBOX_RETRY_AFTER_MAX_S ? OUTBOX_RETRY_AFTER_MAX_S : retry_after_s) *
            1000;
        pause_destination(m->ob, m->dest, jd_now_ms() + delay);
    }
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    if (!m->timer)
        m->timer = evtimer_new(m->ob->jd->base, on_backoff, m);
    m->state = M_BACKOFF;
    if (!m->timer || evtimer_add(m->timer, &tv) != 0)
        m->state = M_WAITING;
    m->checked = 0;
    count(m->ob, m->dest, "retry");
    jlog(JLOG_INFO,
         "msg=\"outbox retry\" destination=%s entry=%s round=%d delay_ms=%lld why=\"%s\"", m->dest,
         m->id, m->rounds, (long long)delay, why);
}

static void on_answer(void *ud, const struct outbound_answer *a)
{
    struct out_msg *m = ud;
    struct outbox *ob = m->ob;
    if (a->result == OUTBOUND_REFUSED) {
        /* Queue full or shutting down: nothing was decided; send it again later. */
        m->state = M_WAITING;
        return;
    }
    if (a->blocked) {
        finish(m, 1, "failed", 0, a->error ? a->error : "address not allowed");
        return;
    }
    const struct cfg_destination *d = cfg_find_destination(ob->jd->cfg, m->dest);
    const struct dst_type *t = d ? dst_lookup(d->type) : NULL;
    struct dst_answer ans = {
        .status = a->status, .body = a->body, .len = a->len, .retry_after_s = a->retry_after_s};
    int64_t retry_after = -1;
    char why[DST_WHY_MAX] = "";
    enum dst_verdict v = t && t->classify
                             ? t->classify(&d->dst, &ans, &retry_after, why, sizeof(why))
                             : dst_classify_default(&ans, &retry_after, why, sizeof(why));
    if (a->status == 0 && a->error)
        snprintf(why, sizeof(why), "%s", a->error);
    if (t && t->auth && a->status == 401) {
        /* Revoked or expired early: the next round fetches a new token. */
        token_drop(ob, m->dest);
        if (v == DST_PERMANENT)
            v = DST_RETRY;
    }
    if (v == DST_DONE)
        /* A platform's validation mode (dry_run_sends) answered: nothing was recorded. */
        finish(m, 0, d && d->dry_run && t && t->dry_run_sends ? "dry_run" : "delivered", a->status,
               NULL);
    else if (v == DST_PERMANENT)
        finish(m, 1, "failed", a->status, why);
    else
        retry_later(m, retry_after, a->status, why);
    kick(ob);
}

static size_t sending_to(const struct outbox *ob, const char *dest)
{
    size_t n = 0;
    for (const struct out_msg *x = ob->held; x; x = x->next)
        n += x->state == M_SENDING && strcmp(x->dest, dest) == 0;
    return n;
}

static void on_checked(struct rq_client *c, const redisReply *r, void *priv)
{
    struct out_msg *m = priv;
    (void)c;
    m->state = M_WAITING;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return; /* asked again at the next tick */
    if (r->elements == 0)
        finish(m, 0, "erased", 0, NULL); /* erase.lua took it out of jd:out */
    else
        m->checked = 1;
    kick(m->ob);
}

/* A message that waited out a backoff is sent again only if it is still in jd:out: erasing
 * its contact (erase.lua) deletes it there while it is in our hands. */
static void check_still_there(struct outbox *ob, struct out_msg *m)
{
    const char *argv[] = {"XRANGE", OUTBOX_STREAM, m->id, m->id};
    size_t lens[] = {6, strlen(OUTBOX_STREAM), strlen(m->id), strlen(m->id)};
    if (rq_command(outbox_redis(ob), 0, on_checked, m, 4, argv, lens) == 0)
        m->state = M_CHECKING;
}

/* Whether stream entry id a comes before b ("<ms>-<seq>"). */
static int id_before(const char *a, const char *b)
{
    unsigned long long ams = strtoull(a, NULL, 10), bms = strtoull(b, NULL, 10);
    if (ams != bms)
        return ams < bms;
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    return strtoull(ad ? ad + 1 : "0", NULL, 10) < strtoull(bd ? bd + 1 : "0", NULL, 10);
}

/* An ordered type's message waits while an older one of the same contact to the same
 * destination is in hand and not ended. Messages are read in stream order, so an older one
 * not in hand has ended already (except one claimed later from a consumer that died on
 * another host: that one may arrive after a newer one). */
static int waits_for_older(const struct outbox *ob, const struct out_msg *m)
{
    for (const struct out_msg *x = ob->held; x; x = x->next)
        if (x != m && x->state != M_FINISH && x->state != M_FINISHING &&
            strcmp(x->dest, m->dest) == 0 && strcmp(x->contact, m->contact) == 0 &&
            id_before(x->id, m->id))
            return 1;
    return 0;
}

/* Builds and sends one waiting message (or ends it: skipped, dry run, invalid). */
static void dispatch(struct outbox *ob, struct out_msg *m)
{
    const struct cfg_destination *d = cfg_find_destination(ob->jd->cfg, m->dest);
    const struct dst_type *t = d ? dst_lookup(d->type) : NULL;
    if (!t) {
        finish(m, 1, "failed", 0, "destination not configured");
        return;
    }
    if (sending_to(ob, m->dest) >= d->max_concurrent || paused_until(ob, m->dest) > jd_now_ms())
        return;
    if (!ob->jd->outbound || (t->ordered && waits_for_older(ob, m)))
        return;
    struct dst_message msg = {.id = m->id,
                              .destination = m->dest,
                              .kind = m->kind,
                              .dedup = m->dedup,
                              .contact = m->contact,
                              .facts = m->facts,
                              .facts_len = m->facts_len};
    struct dst_context ctx = {.now_s = jd_now_ms() / 1000};
    char why[DST_WHY_MAX] = "";
    if (t->auth)
        ctx.access_token = token_cached(ob, d->name);
    struct dst_request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return;
    enum dst_build_result b = t->build(&d->dst, &msg, &ctx, rq, why, sizeof(why));
    if (t->auth && !ctx.access_token && b != DST_SKIP) {
        /* It needs a token (destination.h): fetch one, and build again when it is here
         * (the answer kicks the loop). A skip never waits for a token. */
        free(rq->body);
        free(rq);
        int dead = 0;
        why[0] = '\0';
        token_fetch(ob, d, t, &dead, why, sizeof(why));
        if (dead)
            finish(m, 1, "failed", 0, why[0] ? why : "cannot build the token request");
        return;
    }
    snprintf(m->sent_dedup, sizeof(m->sent_dedup), "%s", rq->dedup);
    if (b == DST_SKIP) {
        finish(m, 0, "skipped", 0, why);
    } else if (b != DST_BUILT) {
        finish(m, 1, "failed", 0, why[0] ? why : "cannot build the request");
    } else if (!d->allow_private && strncmp(rq->url, "https://", 8) != 0) {
        finish(m, 1, "failed", 0, "only https:// without allow_private");
    } else if (d->dry_run && !t->dry_run_sends) {
        /* What would leave, without its content (personal data stays out of the log). */
        jlog(JLOG_INFO,
             "msg=\"outbox dry run\" destination=%s kind=%s entry=%s method=%s bytes=%zu "
             "dedup=%s",
             m->dest, m->kind, m->id, rq->method, rq->len, rq->dedup);
        finish(m, 0, "dry_run", 0, NULL);
    } else {
        if (send_built(ob, d, rq, on_answer, m) == 0)
            m->state = M_SENDING;
    }
    free(rq->body);
    free(rq);
}

/* ---- reading ---- */

static const redisReply *field(const redisReply *kv, const char *name)
{
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && strcmp(kv->element[i]->str, name) == 0 &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING)
            return kv->element[i + 1];
    return NULL;
}

static void copy_field(const redisReply *kv, const char *name, char *out, size_t cap)
{
    const redisReply *v = field(kv, name);
    snprintf(out, cap, "%s", v ? v->str : "");
}

static void on_ack(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)r;
    (void)priv;
}

/* An entry erase.lua deleted (its fields are gone) is only acknowledged. */
static void ack_gone(struct outbox *ob, const char *id)
{
    const char *argv[] = {"XACK", OUTBOX_STREAM, OUTBOX_GROUP, id};
    size_t lens[] = {4, strlen(OUTBOX_STREAM), strlen(OUTBOX_GROUP), strlen(id)};
    (void)rq_command(outbox_redis(ob), 0, on_ack, NULL, 4, argv, lens);
}

static void on_read(struct rq_client *c, const redisReply *r, void *priv)
{
    struct outbox *ob = priv;
    (void)c;
    ob->reading = 0;
    if (!r || (r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_NIL)) {
        if (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOGROUP"))
            ob->group_ready = 0; /* the stream was deleted (FLUSHALL, a restore): again */
        return;
    }
    size_t got = 0;
    const redisReply *entries = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2)
        entries = r->element[0]->element[1];
    for (size_t i = 0; entries && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const char *id = e->element[0]->str;
        const redisReply *kv = e->element[1];
        got++;
        if (ob->read_history && ob->history && ob->read_gen == ob->history_gen)
            snprintf(ob->history_from, sizeof(ob->history_from), "%s", id);
        if (is_held(ob, id))
            continue;
        const redisReply *facts = kv->type == REDIS_REPLY_ARRAY ? field(kv, "f") : NULL;
        if (!facts) {
            ack_gone(ob, id);
            continue;
        }
        struct out_msg *m = calloc(1, sizeof(*m));
        if (!m || !(m->facts = malloc(facts->len + 1))) {
            free(m);
            continue; /* stays pending: read again after a restart */
        }
        memcpy(m->facts, facts->str, facts->len);
        m->facts[facts->len] = '\0';
        m->facts_len = facts->len;
        m->ob = ob;
        snprintf(m->id, sizeof(m->id), "%s", id);
        copy_field(kv, "d", m->dest, sizeof(m->dest));
        copy_field(kv, "k", m->kind, sizeof(m->kind));
        copy_field(kv, "x", m->dedup, sizeof(m->dedup));
        copy_field(kv, "c", m->contact, sizeof(m->contact));
        copy_field(kv, "e", m->event, sizeof(m->event));
        m->state = M_WAITING;
        m->next = ob->held;
        ob->held = m;
        ob->nheld++;
    }
    /* Only a read of the pending list that found nothing ends it: a claim may have asked
     * for one while a read of new messages was in flight. */
    if (ob->read_history && ob->history && ob->read_gen == ob->history_gen && got == 0)
        ob->history = 0; /* our pending ones are all in hand: new ones from now on */
    kick(ob);
}

static void read_more(struct outbox *ob, const char *consumer)
{
    char count[16];
    snprintf(count, sizeof(count), "%zu", (size_t)OUTBOX_HELD_MAX - ob->nheld);
    const char *from = ob->history ? ob->history_from : ">";
    const char *argv[] = {"XREADGROUP", "GROUP",   OUTBOX_GROUP,  consumer, "COUNT",
                          count,        "STREAMS", OUTBOX_STREAM, from};
    size_t lens[9];
    for (size_t i = 0; i < 9; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(outbox_redis(ob), 0, on_read, ob, 9, argv, lens) == 0) {
        ob->reading = 1;
        ob->read_history = ob->history;
        ob->read_gen = ob->history_gen;
    }
}

static void on_group(struct rq_client *c, const redisReply *r, void *priv)
{
    struct outbox *ob = priv;
    (void)c;
    ob->group_pending = 0;
    if (r && (r->type == REDIS_REPLY_STATUS ||
              (r->type == REDIS_REPLY_ERROR && strstr(r->str, "BUSYGROUP"))))
        ob->group_ready = 1;
    kick(ob);
}

/* ---- the sweep: messages of a consumer that died elsewhere ---- */

static void on_claimed(struct rq_client *c, const redisReply *r, void *priv)
{
    struct outbox *ob = priv;
    (void)c;
    ob->sweeping = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        /* Ours now: read from our own pending list again. */
        ob->history = 1;
        snprintf(ob->history_from, sizeof(ob->history_from), "0");
        ob->history_gen++;
        kick(ob);
    }
}

static void on_sweep_pending(struct rq_client *c, const redisReply *r, void *priv)
{
    struct outbox *ob = priv;
    (void)c;
    ob->sweeping = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return;
    const char *argv[6 + OUTBOX_HELD_MAX];
    size_t lens[6 + OUTBOX_HELD_MAX], n = 0;
    char idle[24];
    snprintf(idle, sizeof(idle), "%lld", (long long)ob->jd->cfg->claim_idle_ms);
    argv[n++] = "XCLAIM";
    argv[n++] = OUTBOX_STREAM;
    argv[n++] = OUTBOX_GROUP;
    argv[n++] = ob->consumer;
    argv[n++] = idle;
    for (size_t i = 0; i < r->elements && n < 5 + OUTBOX_HELD_MAX; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2 &&
            e->element[0]->type == REDIS_REPLY_STRING &&
            e->element[1]->type == REDIS_REPLY_STRING && !is_held(ob, e->element[0]->str))
            argv[n++] = e->element[0]->str;
    }
    if (n == 5)
        return;
    argv[n++] = "JUSTID";
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(outbox_redis(ob), 0, on_claimed, ob, (int)n, argv, lens) == 0)
        ob->sweeping = 1;
}

/* Every claim_idle / 2: our messages in hand are claimed again by us (XCLAIM with idle 0,
 * JUSTID: it resets their idle time without counting a delivery), so no other journeyd
 * takes a message we are still backing off on; then the messages idle longer than
 * claim_idle (a consumer that died on another host, or one of ours we could not take in)
 * become ours. The first step's answer is not awaited: Redis runs the commands in order. */
static void sweep(struct outbox *ob)
{
    int64_t now = jd_now_ms();
    if (ob->sweeping || now < ob->sweep_next_ms || !ob->consumer[0])
        return;
    ob->sweep_next_ms = now + ob->jd->cfg->claim_idle_ms / 2;
    const char *argv[6 + OUTBOX_HELD_MAX];
    size_t lens[6 + OUTBOX_HELD_MAX], n = 0;
    argv[n++] = "XCLAIM";
    argv[n++] = OUTBOX_STREAM;
    argv[n++] = OUTBOX_GROUP;
    argv[n++] = ob->consumer;
    argv[n++] = "0";
    for (const struct out_msg *m = ob->held; m && n < 5 + OUTBOX_HELD_MAX; m = m->next)
        argv[n++] = m->id;
    argv[n++] = "JUSTID";
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (n > 6)
        (void)rq_command(outbox_redis(ob), 0, on_ack, NULL, (int)n, argv, lens);
    char idle[24];
    snprintf(idle, sizeof(idle), "%lld", (long long)ob->jd->cfg->claim_idle_ms);
    const char *pv[] = {"XPENDING", OUTBOX_STREAM, OUTBOX_GROUP, "IDLE", idle, "-", "+", "64"};
    size_t pl[8];
    for (size_t i = 0; i < 8; i++)
        pl[i] = strlen(pv[i]);
    if (rq_command(outbox_redis(ob), 0, on_sweep_pending, ob, 8, pv, pl) == 0)
        ob->sweeping = 1;
}

/* ---- SLA alerts ---- */

struct sla_pass {
    struct outbox *ob;
    size_t outstanding;
};

static void on_sla_alert(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_pass *p = priv;
    (void)c;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        jlog(JLOG_INFO, "msg=\"sla breached, alert queued\" messages=%lld", r->integer);
    if (--p->outstanding == 0) {
        p->ob->sla_busy = 0;
        kick(p->ob);
        free(p);
    }
}

static void on_sla_due(struct rq_client *c, const redisReply *r, void *priv)
{
    struct outbox *ob = priv;
    (void)c;
    struct sla_pass *p = calloc(1, sizeof(*p));
    char dests[1024];
    const struct cfg *cfg = ob->jd->cfg;
    if (!p || !r || r->type != REDIS_REPLY_ARRAY ||
        outplan_subscribers(cfg, DST_SLA_BREACHED, dests, sizeof(dests)) == 0) {
        free(p);
        ob->sla_busy = 0;
        return;
    }
    p->ob = ob;
    p->outstanding = 1;
    int64_t now = jd_now_ms();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *cid = r->element[i], *score = r->element[i + 1];
        if (cid->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING)
            continue;
        int64_t waited = 0;
        if (rp_sla_overdue(cfg->sla_business_hours, cfg->sla_response_hours,
                           strtoll(score->str, NULL, 10), now, &waited) != 1)
            continue;
        char w[24];
        snprintf(w, sizeof(w), "%lld", (long long)waited);
        const char *argv[] = {cid->str, score->str, w, dests};
        size_t lens[] = {cid->len, score->len, strlen(w), strlen(dests)};
        if (rq_eval(outbox_redis(ob), JD_SCRIPT_OUT_SLA, 0, on_sla_alert, p, 0, 4, argv, lens) == 0)
            p->outstanding++;
    }
    on_sla_alert(NULL, NULL, p); /* drops the pass's own hold */
}

/* Every OUTBOX_SLA_TICK_MS: the leads whose wall-clock wait is already over the limit
 * (business time never runs faster than the clock, so nobody due is missed), oldest first;
 * rp_sla_overdue decides with business hours. */
static void sla_tick(struct outbox *ob)
{
    const struct cfg *cfg = ob->jd->cfg;
    char dests[1024];
    int64_t now = jd_now_ms();
    if (ob->sla_busy || now < ob->sla_next_ms ||
        outplan_subscribers(cfg, DST_SLA_BREACHED, dests, sizeof(dests)) == 0)
        return;
    ob->sla_next_ms = now + OUTBOX_SLA_TICK_MS;
    double hours = strtod(cfg->sla_response_hours ? cfg->sla_response_hours : "24", NULL);
    char max[32];
    snprintf(max, sizeof(max), "%lld", (long long)(now - (int64_t)(hours * 3600000.0)));
    const char *argv[] = {"ZRANGEBYSCORE", "jd:sla:due", "-inf", max,
                          "WITHSCORES",    "LIMIT",      "0",    "100"};
    size_t lens[8];
    for (size_t i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (rq_command(outbox_redis(ob), 0, on_sla_due, ob, 8, argv, lens) == 0)
        ob->sla_busy = 1;
}

/* ---- the tick ---- */

static void step(struct outbox *ob)
{
    struct rq_client *c = outbox_redis(ob);
    if (ob->jd->cfg->ndestinations == 0 || !c || !rq_is_ready(c) || ob->jd->stopping)
        return;
    if (!ob->group_ready) {
        if (!ob->group_pending) {
            const char *argv[] = {"XGROUP", "CREATE", OUTBOX_STREAM, OUTBOX_GROUP, "0", "MKSTREAM"};
            size_t lens[6];
            for (size_t i = 0; i < 6; i++)
                lens[i] = strlen(argv[i]);
            if (rq_command(c, 0, on_group, ob, 6, argv, lens) == 0)
                ob->group_pending = 1;
        }
        return;
    }
    const char *consumer = worker_consumer(ob->jd->worker);
    if (!consumer)
        return;
    if (strcmp(consumer, ob->consumer) != 0) {
        /* A new name (the first lease, or a lease taken again): its pending first. */
        snprintf(ob->consumer, sizeof(ob->consumer), "%s", consumer);
        ob->history = 1;
        snprintf(ob->history_from, sizeof(ob->history_from), "0");
        ob->history_gen++;
    }
    for (struct out_msg *m = ob->held, *next; m; m = next) {
        next = m->next;
        if (m->state == M_FINISH)
            send_done(ob, m);
        else if (m->state == M_WAITING && m->rounds > 0 && !m->checked)
            check_still_there(ob, m);
        else if (m->state == M_WAITING)
            dispatch(ob, m);
    }
    if (!ob->reading && ob->nheld < OUTBOX_HELD_MAX)
        read_more(ob, consumer);
    sweep(ob);
    sla_tick(ob);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct outbox *ob = arg;
    (void)fd;
    (void)what;
    step(ob);
    struct timeval tv = {0, OUTBOX_TICK_MS * 1000};
    if (evtimer_add(ob->tick, &tv) != 0)
        jlog(JLOG_ERROR, "msg=\"cannot arm the outbox timer\"");
}

struct outbox *outbox_new(struct jd *jd)
{
    struct outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return NULL;
    ob->jd = jd;
    ob->tick = evtimer_new(jd->base, on_tick, ob);
    ob->kick = event_new(jd->base, -1, 0, on_kick, ob);
    struct timeval tv = {0, OUTBOX_TICK_MS * 1000};
    if (!ob->tick || !ob->kick || evtimer_add(ob->tick, &tv) != 0) {
        outbox_free(ob);
        return NULL;
    }
    return ob;
}

void outbox_free(struct outbox *ob)
{
    if (!ob)
        return;
    while (ob->held) {
        struct out_msg *m = ob->held;
        ob->held = m->next;
        msg_free(m);
    }
    for (size_t i = 0; i < CFG_MAX_DESTINATIONS; i++)
        dst_token_clear(&ob->tokens[i].cache);
    if (ob->tick)
        event_free(ob->tick);
    if (ob->kick)
        event_free(ob->kick);
    free(ob);
}

void outbox_metrics(const struct outbox *ob, struct evbuffer *b)
{
    if (!ob)
        return;
    evbuffer_add_printf(b, "# HELP journeyd_outbox_total Outbox messages by destination and "
                           "result (delivered, skipped, dry_run, failed; retry counts rounds "
                           "that will be tried again; token and token_failed count "
                           "access-token requests).\n# TYPE journeyd_outbox_total counter\n");
    for (size_t i = 0; i < ob->nrows; i++)
        evbuffer_add_printf(b, "journeyd_outbox_total{destination=\"%s\",result=\"%s\"} %llu\n",
                            ob->rows[i].dest, ob->rows[i].result,
                            (unsigned long long)ob->rows[i].n);
    if (ob->rows_overflow)
        evbuffer_add_printf(b, "journeyd_outbox_total{destination=\"(other)\",result=\"\"} %llu\n",
                            (unsigned long long)ob->rows_overflow);
    int64_t oldest = 0;
    for (const struct out_msg *m = ob->held; m; m = m->next)
        if (!oldest || id_ms(m->id) < oldest)
            oldest = id_ms(m->id);
    int64_t lag = oldest ? (jd_now_ms() - oldest) / 1000 : 0;
    evbuffer_add_printf(b,
                        "# HELP journeyd_outbox_lag_seconds Age of the oldest outbox message "
                        "this process holds undelivered (0: none).\n# TYPE "
                        "journeyd_outbox_lag_seconds gauge\njourneyd_outbox_lag_seconds %lld\n"
                        "# HELP journeyd_outbox_held Outbox messages in hand (sending, "
                        "waiting or backing off).\n# TYPE journeyd_outbox_held gauge\n"
                        "journeyd_outbox_held %zu\n",
                        (long long)(lag < 0 ? 0 : lag), ob->nheld);
}
