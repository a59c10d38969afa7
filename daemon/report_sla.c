/*
 * The SLA reader (DESIGN §6b). After the index scans (report_scan.c) found the leads and
 * converters of the range: first the leads without a conversion in range are looked up
 * in the SLA index apply.lua keeps (jd:sla:f: per lead, its lead entry, what followed it
 * and its first touch), FACT_MAX at a time, and counted from that (rp_sla_add_lead).
 * Then the batches: per contact left (converters, and leads the index does not hold),
 * only what rp_sla reads (report.h) — its journey from the lead entry up to the response
 * and its payments and refunds — SLA_BATCH contacts at a time, SLA_BATCHES batches in
 * flight, each batch's ids and records in one arena dropped once the batch is added to
 * the scorecard.
 */
#include "report_job.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* ---- SLA: the leads the index holds, FACT_MAX at a time ---- */

enum { PH_INDEX = PH_SECOND + 1 }; /* j->phase between the scans and the batches */
#define FACT_MAX 500               /* leads per HMGET of jd:sla:f */
#define FACT_INFLIGHT 4 /* look-ups in flight: Redis answers one while we count another */
#define FACT_TEXT 2400  /* an entry's text: two instants, flags and a record's owner */

struct fact_req {
    struct report_job *j;
    size_t n;
    size_t entry[FACT_MAX];
};

/* One entry of jd:sla:f (apply.lua's SLA block) into f: "<lead at>\t<marketing>\t
 * <qualified>\t<w|r|s>\t<response at>\t<first touch at>\t<owner>". buf holds the text
 * f's owner points into. 0, or -1 when it is not such an entry. */
static int parse_fact(const char *s, size_t len, char *buf, struct rp_sla_fact *f,
                      int64_t *touch_at)
{
    char *field[7];
    int nf = 1;
    if (len >= FACT_TEXT || memchr(s, '\0', len))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    field[0] = buf;
    for (char *p = buf; *p && nf < 7; p++)
        if (*p == '\t') {
            *p = '\0';
            field[nf++] = p + 1;
        }
    if (nf != 7 || report_parse_score(field[0], strlen(field[0]), &f->lead_at) ||
        strlen(field[1]) != 1 || strlen(field[2]) != 1 || strlen(field[3]) != 1)
        return -1;
    f->marketing = field[1][0] == '1';
    f->qualified = field[2][0] == '1';
    *touch_at = INT64_MAX;
    if (field[5][0] && report_parse_score(field[5], strlen(field[5]), touch_at))
        return -1;
    f->owner = NULL;
    f->response_at = 0;
    switch (field[3][0]) {
    case 'w':
        f->response = RP_SLA_WAITS;
        break;
    case 's':
        f->response = RP_SLA_PAID_FIRST;
        break;
    case 'r':
        f->response = RP_SLA_ANSWERED;
        f->owner = field[6];
        return report_parse_score(field[4], strlen(field[4]), &f->response_at);
    default:
        return -1;
    }
    return 0;
}

static void on_facts(struct rq_client *c, const redisReply *r, void *priv);
static void sla_pump(struct report_job *j);

/* A lead in range whose lead the index did not count: its journey is read. */
static int needs_journey(unsigned char flags)
{
    return (flags & (CT_LEAD | CT_INDEXED)) == CT_LEAD;
}

/* The next FACT_MAX leads, while fewer than FACT_INFLIGHT look-ups run; once every one is
 * back, the batches read the contacts left and the converters' payments. */
static void facts_pump(struct report_job *j)
{
    while (!j->answered && j->pending < FACT_INFLIGHT && j->next_entry < j->tab.n) {
        struct fact_req *q = malloc(sizeof(*q));
        const char *argv[2 + FACT_MAX];
        size_t lens[2 + FACT_MAX];
        if (!q) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
        q->j = j;
        q->n = 0;
        for (; j->next_entry < j->tab.n && q->n < FACT_MAX; j->next_entry++)
            if (j->tab.flags[j->next_entry] & CT_LEAD)
                q->entry[q->n++] = j->next_entry;
        if (q->n == 0) {
            free(q);
            break;
        }
        ctab_id_command(&j->tab, "HMGET", "jd:sla:f", q->entry, q->n, argv, lens);
        if (report_job_send(j, on_facts, q, 2 + (int)q->n, argv, lens)) {
            free(q);
            return;
        }
        j->pending++;
    }
    if (!j->answered && j->pending == 0) {
        j->phase = PH_SECOND;
        j->next_entry = 0;
        sla_pump(j);
    }
}

/* The index's answer for a chunk: each lead it holds is counted, and marked so the
 * batches skip it (a converter's journey is then not read, only its payments and refunds
 * and its touches); one it does not hold (or holds with another lead entry than the scan
 * saw: a write between the two reads) is left to the batches. */
static void on_facts(struct rq_client *c, const redisReply *r, void *priv)
{
    struct fact_req *q = priv;
    struct report_job *j = q->j;
    char buf[FACT_TEXT];
    (void)c;
    j->pending--;
    if (j->answered)
        goto out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != q->n) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        goto out;
    }
    for (size_t i = 0; i < q->n; i++) {
        const redisReply *v = r->element[i];
        size_t e = q->entry[i];
        struct rp_sla_fact f;
        int64_t touch_at;
        if (v->type != REDIS_REPLY_STRING || parse_fact(v->str, v->len, buf, &f, &touch_at) ||
            f.lead_at != j->tab.ent[e].at[2])
            continue;
        f.contact = j->tab.ids + j->tab.off[e];
        f.touched = touch_at < j->sla.to_ms;
        int rc = rp_sla_add_lead(j->sla_acc, &f);
        if (rc == -2) {
            report_job_fail(j, 422, "too_large", "the range holds too many leads: narrow from/to");
            goto out;
        }
        if (rc) {
            report_job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
            goto out;
        }
        j->tab.flags[e] |= CT_INDEXED;
    }
    facts_pump(j);
out:
    free(q);
    report_job_release(j);
}

/* ---- SLA: per contact, what rp_sla reads (report.h), a batch of contacts at a time ---- */

enum { SRC_J, SRC_A }; /* journey from the lead entry on; touches and conversions */

struct evlist {
    struct rp_event *v;
    size_t n, cap;
};

struct sla_item;

struct sla_ref { /* privdata of one journey read */
    struct sla_item *it;
    int src;
};

struct sla_item {
    struct sla_batch *b;
    size_t entry; /* in the contact table */
    struct evlist ev[2];
    long read[2]; /* members read so far: the next page's offset */
    long ask[2];  /* the next page's size */
    long got[2];  /* members this round's page held */
    int sent[2], done[2];
    int qualified;       /* entered qualified (a member of jd:st:3) */
    int64_t first_touch; /* the earliest touch among its touches and conversions */
    int touch_only;      /* SRC_A is read only for first_touch: a lead, not a converter */
    struct sla_ref ref[2];
};

struct sla_pend { /* a member read this round, waiting for its record */
    struct sla_item *it;
    int src;
    const char *id;
    int64_t at;
};

struct sla_chunk { /* privdata of one HMGET of records */
    struct sla_batch *b;
    size_t first, n;
};

struct sla_batch {
    struct report_job *j;
    size_t slot; /* in j->batch */
    struct sla_item items[SLA_BATCH];
    size_t nitems;
    int outstanding; /* commands of the current step */
    struct sla_pend *pend;
    size_t npend, cpend;
    int records_asked; /* this round's records are asked for */
    size_t nevents;
    struct arena mem;
};

static void sla_batch_free(struct sla_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nitems; i++)
        for (int s = 0; s < 2; s++)
            free(b->items[i].ev[s].v);
    free(b->pend);
    arena_free(&b->mem);
    free(b);
}

/* Frees a batch whose job has answered (failed) once its last command is back. */
static void sla_batch_drop(struct sla_batch *b)
{
    if (b->outstanding == 0) {
        b->j->batch[b->slot] = NULL;
        sla_batch_free(b);
    }
}

static void sla_pump(struct report_job *j);
static void on_journey(struct rq_client *c, const redisReply *r, void *priv);
static void on_qualified(struct rq_client *c, const redisReply *r, void *priv);
static void on_records(struct rq_client *c, const redisReply *r, void *priv);
static void sla_step(struct sla_batch *b);
static void sla_batch_end(struct sla_batch *b);

static int batch_send(struct sla_batch *b, rq_reply_cb cb, void *priv, int argc, const char **argv,
                      const size_t *lens)
{
    if (report_job_send(b->j, cb, priv, argc, argv, lens))
        return -1;
    b->outstanding++;
    return 0;
}

/* One round: the next page of every read not done; on the first, also which leads
 * entered qualified. */
static void sla_round(struct sla_batch *b, int first)
{
    struct report_job *j = b->j;
    char key[ID_MAX + 16], min[24], max[24], off[24], cnt[24];
    for (size_t i = 0; i < b->nitems; i++) {
        struct sla_item *it = &b->items[i];
        const char *cid = j->tab.ids + j->tab.off[it->entry];
        for (int s = 0; s < 2; s++) {
            it->sent[s] = 0;
            if (it->done[s])
                continue;
            snprintf(key, sizeof(key), "jd:c:%s:%s", cid, s == SRC_J ? "j" : "a");
            if (s == SRC_J) {
                /* From the lead entry on (all events at or after its time). */
                snprintf(min, sizeof(min), "%lld", (long long)j->tab.ent[it->entry].at[2]);
                snprintf(max, sizeof(max), "+inf");
            } else {
                /* Payments and refunds before `to`: the range's and the earlier ones
                 * whose payment keys those may repeat; and the first touch before `to`
                 * (identity health). */
                snprintf(min, sizeof(min), "-inf");
                snprintf(max, sizeof(max), "(%lld", (long long)j->sla.to_ms);
            }
            snprintf(off, sizeof(off), "%ld", it->read[s]);
            snprintf(cnt, sizeof(cnt), "%ld", it->ask[s]);
            const char *argv[8] = {"ZRANGEBYSCORE", key, min, max, "WITHSCORES", "LIMIT", off, cnt};
            if (batch_send(b, on_journey, &it->ref[s], 8, argv, NULL))
                return;
            it->sent[s] = 1;
        }
    }
    if (!first)
        return;
    const char *argv[2 + SLA_BATCH];
    size_t lens[2 + SLA_BATCH];
    int argc = 2;
    for (size_t i = 0; i < b->nitems; i++)
        if (needs_journey(j->tab.flags[b->items[i].entry])) {
            argv[argc] = j->tab.ids + j->tab.off[b->items[i].entry];
            lens[argc] = strlen(argv[argc]);
            argc++;
        }
    if (argc == 2)
        return;
    argv[0] = "ZMSCORE";
    argv[1] = "jd:st:3";
    lens[0] = 7;
    lens[1] = 7;
    (void)batch_send(b, on_qualified, b, argc, argv, lens);
}

/* The next SLA_BATCH contacts of the table, while fewer than SLA_BATCHES run. */
static void sla_pump(struct report_job *j)
{
    for (size_t slot = 0; slot < SLA_BATCHES && !j->answered; slot++) {
        if (j->batch[slot])
            continue;
        while (j->next_entry < j->tab.n &&
               (j->tab.flags[j->next_entry] & (CT_INDEXED | CT_CONV)) == CT_INDEXED)
            j->next_entry++;
        if (j->next_entry >= j->tab.n)
            break;
        struct sla_batch *b = calloc(1, sizeof(*b));
        if (!b) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            return;
        }
        b->j = j;
        b->slot = slot;
        j->batch[slot] = b;
        j->pending++;
        for (; j->next_entry < j->tab.n && b->nitems < SLA_BATCH; j->next_entry++) {
            unsigned char f = j->tab.flags[j->next_entry];
            if ((f & (CT_INDEXED | CT_CONV)) == CT_INDEXED)
                continue; /* counted from the index */
            struct sla_item *it = &b->items[b->nitems++];
            it->b = b;
            it->entry = j->next_entry;
            it->first_touch = INT64_MAX;
            it->done[SRC_J] = !needs_journey(f);
            /* A lead's touches too, for identity health (has it any?): its touches and
             * conversions index holds only those, a page of SLA_PAGE_MAX at a time. */
            it->done[SRC_A] = !(f & (CT_CONV | CT_LEAD));
            it->touch_only = !(f & CT_CONV);
            it->ask[SRC_J] = SLA_FIRST;
            /* A lead alone needs one touch: its index is read from the start in small
             * pages, and no further once a touch is seen (most leads' first member is). */
            it->ask[SRC_A] = it->touch_only ? SLA_FIRST : SLA_PAGE_MAX;
            for (int s = 0; s < 2; s++) {
                it->ref[s].it = it;
                it->ref[s].src = s;
            }
        }
        sla_round(b, 1);
        /* Every contact of the table has something to read (it is a lead or a converter,
         * or it would not be there); should none, the batch ends here, not never. */
        if (!j->answered && b->outstanding == 0)
            sla_step(b);
    }
    if (!j->answered && j->pending == 0)
        report_phase_done(j);
}

static void on_journey(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_ref *ref = priv;
    struct sla_item *it = ref->it;
    struct sla_batch *b = it->b;
    struct report_job *j = b->j;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    it->got[ref->src] = (long)(r->elements / 2);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *m = r->element[i], *sc = r->element[i + 1];
        int64_t at;
        if (!report_is_id(m) || sc->type != REDIS_REPLY_STRING ||
            report_parse_score(sc->str, sc->len, &at)) {
            report_job_fail(j, 503, "unavailable", "unexpected store answer");
            sla_batch_drop(b);
            goto out;
        }
        if (b->npend == b->cpend) {
            size_t cap = b->cpend ? b->cpend * 2 : 1024;
            struct sla_pend *p = realloc(b->pend, cap * sizeof(*p));
            if (!p) {
                report_job_fail(j, 503, "unavailable", "out of memory");
                sla_batch_drop(b);
                goto out;
            }
            b->pend = p;
            b->cpend = cap;
        }
        struct sla_pend *p = &b->pend[b->npend];
        if (!(p->id = arena_dup(&b->mem, m->str, m->len))) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            sla_batch_drop(b);
            goto out;
        }
        p->it = it;
        p->src = ref->src;
        p->at = at;
        b->npend++;
    }
    if (b->outstanding == 0)
        sla_step(b);
out:
    report_job_release(j);
}

static void on_qualified(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_batch *b = priv;
    struct report_job *j = b->j;
    size_t k = 0;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    for (size_t i = 0; i < b->nitems; i++)
        if (needs_journey(j->tab.flags[b->items[i].entry])) {
            if (k >= r->elements) {
                report_job_fail(j, 503, "unavailable", "unexpected store answer");
                sla_batch_drop(b);
                goto out;
            }
            b->items[i].qualified = r->element[k++]->type == REDIS_REPLY_STRING;
        }
    if (b->outstanding == 0)
        sla_step(b);
out:
    report_job_release(j);
}

static int grow_events(struct evlist *l)
{
    size_t cap = l->cap ? l->cap * 2 : 8;
    struct rp_event *v = realloc(l->v, cap * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    l->cap = cap;
    return 0;
}

/* The records of this round's members. */
static void on_records(struct rq_client *c, const redisReply *r, void *priv)
{
    struct sla_chunk *ch = priv;
    struct sla_batch *b = ch->b;
    struct report_job *j = b->j;
    (void)c;
    b->outstanding--;
    if (j->answered) {
        sla_batch_drop(b);
        goto out;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != ch->n) {
        report_job_fail(j, 503, "unavailable", "store unavailable");
        sla_batch_drop(b);
        goto out;
    }
    for (size_t k = 0; k < ch->n; k++) {
        const redisReply *rec = r->element[k];
        const struct sla_pend *p = &b->pend[ch->first + k];
        if (rec->type != REDIS_REPLY_STRING)
            continue; /* erased since the journey was read */
        char *copy = arena_dup(&b->mem, rec->str, rec->len);
        struct evlist *l = &p->it->ev[p->src];
        if (!copy || (l->n == l->cap && grow_events(l))) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            sla_batch_drop(b);
            goto out;
        }
        struct rp_event *e = &l->v[l->n];
        memset(e, 0, sizeof(*e));
        e->id = p->id;
        e->at_ms = p->at;
        report_parse_record(copy, e);
        /* Of the touches and conversions only the conversions: a touch without the rest
         * of its journey could pose as the lead (report.h: what rp_sla needs). Of the
         * touches, only the time of the first: identity health. */
        if (p->src == SRC_A && e->is_touch && p->at < p->it->first_touch)
            p->it->first_touch = p->at;
        if (p->src == SRC_A && strcmp(e->kind, "payment") != 0 && strcmp(e->kind, "refund") != 0)
            continue;
        l->n++;
        if (++b->nevents > REPORT_MAX_EVENTS) {
            report_job_fail(j, 422, "too_large", "the range holds too many events: narrow from/to");
            sla_batch_drop(b);
            goto out;
        }
    }
    if (b->outstanding == 0)
        sla_step(b);
out:
    report_job_release(j);
}

/* Called when every command of a step is back: after the pages of a round, asks for
 * their records; after the records, decides what is left to read. */
static void sla_step(struct sla_batch *b)
{
    struct report_job *j = b->j;
    if (b->npend && !b->records_asked) {
        b->records_asked = 1;
        for (size_t first = 0; first < b->npend; first += MULTI_MAX) {
            struct sla_chunk *ch = arena_alloc(&b->mem, sizeof(*ch));
            const char *argv[2 + MULTI_MAX];
            size_t lens[2 + MULTI_MAX];
            if (!ch) {
                report_job_fail(j, 503, "unavailable", "out of memory");
                sla_batch_drop(b);
                return;
            }
            ch->b = b;
            ch->first = first;
            ch->n = b->npend - first < MULTI_MAX ? b->npend - first : MULTI_MAX;
            argv[0] = "HMGET";
            argv[1] = "jd:evr";
            lens[0] = 5;
            lens[1] = 6;
            for (size_t k = 0; k < ch->n; k++) {
                argv[2 + k] = b->pend[first + k].id;
                lens[2 + k] = strlen(argv[2 + k]);
            }
            if (batch_send(b, on_records, ch, 2 + (int)ch->n, argv, lens)) {
                sla_batch_drop(b);
                return;
            }
        }
        return;
    }
    b->npend = 0;
    b->records_asked = 0;
    int more = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        struct sla_item *it = &b->items[i];
        for (int s = 0; s < 2; s++) {
            if (!it->sent[s])
                continue;
            it->read[s] += it->got[s];
            if (it->got[s] < it->ask[s])
                it->done[s] = 1; /* the end of the journey, or of its part before `to` */
            else if (s == SRC_J)
                it->done[s] = rp_sla_slice_done(it->ev[s].v, it->ev[s].n, it->qualified);
            else if (it->touch_only && it->first_touch != INT64_MAX)
                it->done[s] = 1;
            it->got[s] = 0;
            if (!it->done[s]) {
                it->ask[s] = it->ask[s] * 4 < SLA_PAGE_MAX ? it->ask[s] * 4 : SLA_PAGE_MAX;
                more = 1;
            }
        }
    }
    if (more) {
        sla_round(b, 0);
        if (b->outstanding == 0 && j->answered)
            sla_batch_drop(b);
        return;
    }
    sla_batch_end(b);
}

static int ev_cmp(const void *pa, const void *pb)
{
    const struct rp_event *a = pa, *b = pb;
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* Every read of the batch is done: each contact's events (its journey slice and its
 * conversions, an event read both ways once) go to the scorecard; the next batch starts. */
static void sla_batch_end(struct sla_batch *b)
{
    struct report_job *j = b->j;
    struct rp_event *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < b->nitems && !j->answered; i++) {
        struct sla_item *it = &b->items[i];
        size_t n = it->ev[SRC_J].n + it->ev[SRC_A].n, k = 0;
        if (n > cap) {
            struct rp_event *nv = realloc(v, n * sizeof(*nv));
            if (!nv) {
                report_job_fail(j, 503, "unavailable", "out of memory");
                break;
            }
            v = nv;
            cap = n;
        }
        for (int s = 0; s < 2; s++)
            for (size_t e = 0; e < it->ev[s].n; e++)
                v[k++] = it->ev[s].v[e];
        if (k > 1)
            qsort(v, k, sizeof(*v), ev_cmp);
        size_t m = 0;
        for (size_t e = 0; e < k; e++)
            if (m == 0 || ev_cmp(&v[m - 1], &v[e]) != 0)
                v[m++] = v[e];
        struct rp_contact c = {j->tab.ids + j->tab.off[it->entry], v, m};
        j->nevents += m;
        int rc = j->tab.flags[it->entry] & CT_INDEXED
                     ? rp_sla_add_conversions(j->sla_acc, &c, it->first_touch)
                     : rp_sla_add_touched(j->sla_acc, &c, it->first_touch);
        if (rc == -2) {
            report_job_fail(j, 422, "too_large", "the range holds too many leads: narrow from/to");
            break;
        }
        if (rc) {
            report_job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
            break;
        }
    }
    free(v);
    j->batch[b->slot] = NULL;
    sla_batch_free(b);
    if (j->answered)
        return;
    j->pending--;
    sla_pump(j);
}

static cJSON *sla_answer(struct report_job *j)
{
    return rp_sla_json(j->sla_acc);
}

/* The SLA's phases: the scans find the leads and converters of the range (report_scan.c),
 * the index counts the leads it holds, then the batches read what rp_sla needs of the
 * others. */
static void sla_phase_done(struct report_job *j)
{
    if (j->phase == PH_FIRST) {
        j->phase = PH_INDEX;
        j->next_entry = 0;
        facts_pump(j);
        return;
    }
    report_job_done(j, sla_answer, j->tab.n);
}

static void sla_cleanup(struct report_job *j)
{
    for (size_t i = 0; i < SLA_BATCHES; i++) {
        sla_batch_free(j->batch[i]);
        j->batch[i] = NULL;
    }
}

void report_sla_start(struct report_job *j)
{
    /* The leads of the range and everyone with a conversion in it (the revenue line). A
     * drill-down lists leads only: it needs neither the converters' revenue nor, for a
     * lead the index holds, anything but its entry, so it reads no conversions. */
    j->phase_done = sla_phase_done;
    j->cleanup = sla_cleanup;
    j->phase = PH_FIRST;
    if (report_scan_add_split(j, 2, j->sla.from_ms, j->sla.to_ms) ||
        (!j->drill_done && report_scan_add_split(j, 0, j->sla.from_ms, j->sla.to_ms)))
        report_job_fail(j, 503, "unavailable", "internal error");
    else
        report_scans_start(j);
}
