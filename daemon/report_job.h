/*
 * The report job: what one report request reads from Redis and how. The arithmetic lives in
 * reports/ (pure); the readers (report_attribution.c, report_scan.c, report_sla.c) read
 * what a report needs from the indexes apply.lua keeps, in bounded pieces, because the
 * webhooks share Redis and must never wait long behind a report:
 *
 *   attribution: the contacts with a conversion in range (report.lua "conv"), then their
 *     touches and conversions, REPORT_BATCH contacts per call ("touches") → reports/.
 *   funnel: the stage indexes jd:st:<rank> themselves, read with their scores in pages
 *     of SCAN_PAGE (a member's score is the contact's entry time: apply.lua writes the
 *     index and the contact's eN field together and removes both with the contact),
 *     joined by contact id in a hash table here → rp_funnel_entries. Reading each
 *     contact's eN fields instead took a Lua loop 0.8 s at 100k contacts.
 *   SLA: the leads (jd:st:2) and the converters (jd:conv → jd:evc) of the range, then per
 *     contact only what rp_sla reads (report.h): its journey from the lead entry up to
 *     the response, and its payments and refunds → rp_sla_add, SLA_BATCH contacts at a
 *     time. Whole journeys are about five times more events, and their Lua loop held
 *     Redis some 35 ms per call.
 *
 * Several commands of a report are in flight at once (pages of different score ranges,
 * the journeys of a batch), so Redis works on the next one while we parse the last; each
 * is small, so other clients' commands interleave. A job lives until the last callback
 * of its commands has run (`inflight`), also when it failed and answered early: the
 * handler holds one reference while it starts the job, each command one more.
 */
#ifndef JD_REPORT_JOB_H
#define JD_REPORT_JOB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "ctab.h"
#include "jd.h"
#include "report.h"

#define REPORT_BATCH 500
#define REPORT_MAX_EVENTS 5000000 /* kept in memory by one SLA batch */
/* Index pages: 1000 members with scores cost Redis about 2 ms on the benchmark machine. */
#define SCAN_PAGE 1000
#define SCAN_SPLIT 4    /* a finite score range is read as this many ranges side by side */
#define SCAN_PARALLEL 4 /* pages in flight for one report */
#define SCAN_MAX 48     /* ranges of one phase: 5 stages × 2 ranges × (SCAN_SPLIT + 1) fits */
#define MULTI_MAX 1000  /* ids per ZMSCORE / HMGET */
#define SLA_BATCH 256   /* contacts whose journeys are read together */
#define SLA_BATCHES 2   /* batches in flight: one is parsed while Redis serves the other */
/* Journey events read first from a lead entry on: the lead and its response are within
 * them for 98% of the benchmark's leads; the rest read on, four times more each round. */
#define SLA_FIRST 3
#define SLA_PAGE_MAX 256
#define ID_MAX 256 /* longest contact or event id taken from an index */

enum report_kind { REPORT_ATTRIBUTION, REPORT_FUNNEL, REPORT_SLA };
/* How the answer is written (DESIGN §7: every report table also answers CSV). */
enum report_format {
    REPORT_JSON,
    REPORT_CSV,
    REPORT_CSV_WAITING, /* the SLA's waiting list */
    REPORT_CSV_BY_OWNER /* the SLA's sales.by_owner */
};
/* The largest CSV answer: far above any real report (100000 attribution keys take some
 * 10 MB), and a bound on what one request can make us hold. */
#define REPORT_CSV_MAX (64u << 20)

struct report_job;

/* One score range of one index, read a page at a time. */
struct zscan {
    struct report_job *j;
    char key[16]; /* jd:st:<rank> or jd:conv */
    int rank;     /* the stage of jd:st:<rank>; 0 for jd:conv */
    int64_t min;  /* the next page starts at this score, inclusive ... */
    int64_t max;  /* ... and ends before this one; INT64_MAX = +inf */
    long skip;    /* members at score `min` already read: ties can cross pages */
};

struct sla_batch;

struct report_job {
    struct jd *jd;
    struct evhttp_request *req;
    enum report_kind kind;
    enum report_format format;
    struct rp_attr_params attr;
    struct rp_funnel_params funnel;
    struct rp_sla_params sla;
    /* Copies of the [sla] targets: a reload may free the config while the job runs. */
    char sla_hours[16], sla_share[16], sla_hours_text[128], sla_leads[16], sla_rate[16];
    int64_t started_us;
    int inflight; /* references: commands sent and not answered, plus the starter's */
    int answered; /* the request has had its reply */
    /* attribution: acc, or with model=all one accumulator per model (enum order) in all[],
     * each contact read once and added to every one of them */
    struct rp_attribution *acc;
    struct rp_attribution *all[RP_NMODELS];
    size_t nall;
    char **ids;
    size_t nids, next;
    size_t nevents;
    /* funnel and SLA: phases of index scans and per-contact reads */
    int phase;
    int pending; /* units of the phase not finished: ranges, look-ups, batches */
    int64_t rng[2][2];
    size_t nrng;
    struct zscan scans[SCAN_MAX];
    size_t nscans, next_scan;
    int scanning; /* pages in flight */
    struct ctab tab;
    size_t next_entry;
    struct rp_sla *sla_acc;
    struct sla_batch *batch[SLA_BATCHES];
    /* Set by the reader that starts the job: called when a unit of the current phase ends
     * (the scans of report_scan.c know no reader), and at free for what the reader owns.
     * Hooks rather than calls keep report_scan.c below the funnel and SLA readers. */
    void (*phase_done)(struct report_job *j);
    void (*cleanup)(struct report_job *j);
    /* Drill-downs (api_drill.c) run the report's own readers, so they list exactly what
     * the report counts. When set, the attribution reader hands each contact to
     * attr_drill instead of the report (0, -1 out of memory, -2 too many), and every
     * reader calls drill_done instead of answering; drill_free frees `drill` with the
     * job. */
    int (*attr_drill)(struct report_job *j, const struct rp_contact *c);
    void (*drill_done)(struct report_job *j);
    void *drill;
    void (*drill_free)(void *drill);
};

enum { PH_FIRST = 1, PH_SECOND }; /* j->phase */

/* report_job.c: the job's life. report_job_new answers 503 itself when it returns NULL;
 * the job starts with the handler's reference, dropped with report_job_release once the
 * handler has started it. */
struct report_job *report_job_new(struct jd *jd, struct evhttp_request *req, enum report_kind k);
/* Drops one reference; the last one frees an answered job. */
void report_job_release(struct report_job *j);
/* Answers with an error once; the job is freed when its last reference goes. */
void report_job_fail(struct report_job *j, int status, const char *code, const char *msg);
/* Sends one command for the job (arguments are copied at once); cb must end with
 * report_job_release. 0, or -1 after answering 503 (cb will not run). lens NULL: strlen. */
int report_job_send(struct report_job *j, rq_reply_cb cb, void *priv, int argc, const char **argv,
                    const size_t *lens);
/* report.lua with these arguments, answered to cb with the job as privdata; as
 * report_job_send. */
int report_job_eval(struct report_job *j, rq_reply_cb cb, int argc, const char **argv,
                    const size_t *lens);
/* 1 when the job still waits and the reply is the array it asked for; else 0, and a job
 * still waiting is answered 503. */
int report_job_array_reply(struct report_job *j, const redisReply *r);
/* Answers 200 with the answer (taken) in the job's format, or 503 when it is NULL or its
 * CSV cannot be written; nothing once answered. */
void report_job_finish(struct report_job *j, cJSON *answer, size_t contacts);
/* The reader's last step: drill_done when the job is a drill-down, else the answer. */
void report_job_done(struct report_job *j, cJSON *(*answer)(struct report_job *j), size_t contacts);

/* What the readers share of an index or record reply. */
void report_parse_record(char *rec, struct rp_event *e);
int report_parse_score(const char *s, size_t len, int64_t *out);
int report_is_id(const redisReply *r);

/* The readers: each starts the job's first commands (or answers it on failure). */
void report_attribution_start(struct report_job *j); /* report_attribution.c */
void report_funnel_start(struct report_job *j);      /* report_scan.c */
void report_sla_start(struct report_job *j);         /* report_sla.c */

/* report_scan.c: index scans of score ranges into the job's contact table. Add ranges,
 * then start them; j->phase_done runs when the phase's last unit ends. 0 / -1. */
int report_scan_add(struct report_job *j, int rank, int64_t min, int64_t max);
int report_scan_add_split(struct report_job *j, int rank, int64_t min, int64_t max);
void report_scans_start(struct report_job *j);
/* Ends one unit of the current phase: the reader's j->phase_done, once per answered job. */
void report_phase_done(struct report_job *j);

#endif
