/*
 * The attribution reader (DESIGN §6): the spend rows and the contacts with a conversion in
 * range (report.lua "spend", "conv"), then their touches and conversions REPORT_BATCH
 * contacts per call ("touches"), each contact added to rp_attribution as it arrives; with
 * model=all to the five models' accumulators at once, so five answers cost one read.
 */
#include "report_job.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.h"
#include "common.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* One contact's events, parsed from compact records into one owned block. */
struct loaded {
    struct rp_contact c;
    struct rp_event *events;
    char *blob;
};

/* ---- attribution: the contacts with conversions, their touches a batch at a time ---- */

static void load_next(struct report_job *j);

/* The accumulators the read feeds: the report's one, or with model=all one per model. */
static struct rp_attribution **accs(struct report_job *j, size_t *n)
{
    *n = j->nall ? j->nall : 1;
    return j->nall ? j->all : &j->acc;
}

/* report.lua's `what` (conv, spend) over the job's [from, to), answered to cb. */
static void read_range(struct report_job *j, const char *what, rq_reply_cb cb)
{
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)j->attr.from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)j->attr.to_ms);
    const char *argv[3] = {what, from, to};
    size_t lens[3] = {strlen(what), strlen(from), strlen(to)};
    (void)report_job_eval(j, cb, 3, argv, lens);
}

/* {cid, "id\x1eat\x1erecord\x1d…"} → one owned rp_contact (report.lua's "touches" form). */
static int parse_contact(const redisReply *r, struct loaded *out)
{
    memset(out, 0, sizeof(*out));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    const redisReply *cid = r->element[0], *evs = r->element[1];
    size_t n = evs->len ? 1 : 0;
    for (size_t i = 0; i < evs->len; i++)
        n += evs->str[i] == '\x1d';
    out->blob = malloc(cid->len + 1 + evs->len + 1);
    out->events = calloc(n ? n : 1, sizeof(*out->events));
    if (!out->blob || !out->events)
        return -1;
    memcpy(out->blob, cid->str, cid->len + 1);
    out->c.id = out->blob;
    char *b = out->blob + cid->len + 1;
    memcpy(b, evs->str, evs->len + 1);
    size_t k = 0;
    for (char *next = evs->len ? b : NULL; next && k < n;) {
        char *item = next;
        char *end = strchr(item, '\x1d');
        if (end) {
            *end = '\0';
            next = end + 1;
        } else {
            next = NULL;
        }
        char *at = strchr(item, '\x1e');
        char *p = at ? strchr(at + 1, '\x1e') : NULL;
        if (!p)
            continue;
        *at++ = '\0';
        *p++ = '\0';
        struct rp_event *e = &out->events[k];
        e->id = item;
        e->at_ms = strtoll(at, NULL, 10);
        report_parse_record(p, e);
        k++;
    }
    out->c.events = out->events;
    out->c.n = k;
    return 0;
}

static void on_data(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i < r->elements; i++) {
        struct loaded l;
        if (parse_contact(r->element[i], &l) != 0) {
            free(l.events);
            free(l.blob);
            report_job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
        j->nevents += l.c.n;
        size_t nacc;
        struct rp_attribution **acc = accs(j, &nacc);
        int rc = j->attr_drill ? j->attr_drill(j, &l.c) : rp_attribution_add_each(acc, nacc, &l.c);
        free(l.events);
        free(l.blob);
        if (rc == -2) {
            report_job_fail(j, 422, "too_large", "too many report keys: group by a coarser key");
            goto out;
        }
        if (rc != 0) {
            report_job_fail(j, 503, "unavailable", "out of memory or amounts out of range");
            goto out;
        }
    }
    load_next(j);
out:
    report_job_release(j);
}

static cJSON *attribution_answer(struct report_job *j)
{
    return j->nall ? rp_attribution_all_json(j->all, j->nall) : rp_attribution_json(j->acc);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_next(struct report_job *j)
{
    if (j->next >= j->nids) {
        report_job_done(j, attribution_answer, j->nids);
        return;
    }
    const char *argv[1 + REPORT_BATCH];
    size_t lens[1 + REPORT_BATCH];
    int argc = 0;
    /* Attribution reads only the touches and conversions it uses. */
    argv[argc] = "touches";
    lens[argc] = strlen(argv[argc]);
    argc++;
    while (j->next < j->nids && argc <= REPORT_BATCH) {
        /* Skip ids already asked for: a merge between index and data reads may name one
         * survivor twice (the list is sorted, so duplicates are neighbours). */
        if (j->next > 0 && strcmp(j->ids[j->next], j->ids[j->next - 1]) == 0) {
            j->next++;
            continue;
        }
        argv[argc] = j->ids[j->next];
        lens[argc++] = strlen(j->ids[j->next]);
        j->next++;
    }
    (void)report_job_eval(j, on_data, argc, argv, lens);
}

static void on_index(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    if (r->elements > REPORT_MAX_CONTACTS) {
        report_job_fail(j, 422, "too_large", "the range holds too many contacts: narrow from/to");
        goto out;
    }
    j->ids = calloc(r->elements ? r->elements : 1, sizeof(*j->ids));
    if (!j->ids) {
        report_job_fail(j, 503, "unavailable", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (!(j->ids[j->nids] = strdup(r->element[i]->str))) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
        j->nids++;
    }
    qsort(j->ids, j->nids, sizeof(*j->ids), cmp_str);
    load_next(j);
out:
    report_job_release(j);
}

/* Spend rows "<date>\t<source>\t<campaign>" → "<minor>\t<currency>", or with a campaign
 * id "<date>\t<source>\t\t<id>" → "<minor>\t<currency>\t<name or empty>" (api_spend.c),
 * summed per key: by=source the source, by=campaign the name the id is known by. */
static void on_spend(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        const char *t1 = k ? strchr(k, '\t') : NULL, *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        const char *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
        const char *vt = v ? strchr(v, '\t') : NULL, *vname = vt ? strchr(vt + 1, '\t') : NULL;
        if (!t2 || !vt)
            continue;
        char key[CX_TEXT_MAX], cur[4], platform[32] = "", name[CX_TEXT_MAX] = "";
        snprintf(cur, sizeof(cur), "%.*s", (int)(vname ? vname - vt - 1 : 3), vt + 1);
        int64_t minor = strtoll(v, NULL, 10);
        int rc = 0, campaign = 0;
        if (j->attr.by == RP_BY_SOURCE) {
            snprintf(key, sizeof(key), "%.*s", (int)(t2 - t1 - 1), t1 + 1);
        } else if (t3 && t3 == t2 + 1) {
            snprintf(key, sizeof(key), "%.*s", (int)(t2 - t1 - 1), t1 + 1);
            campaigns_platform(key, platform, sizeof(platform));
            snprintf(name, sizeof(name), "%s", vname ? vname + 1 : "");
            snprintf(key, sizeof(key), "%s", t3 + 1);
            campaign = 1;
        } else {
            snprintf(key, sizeof(key), "%s", t2 + 1);
        }
        /* Spend is the same under every model: each model=all answer lists it. */
        size_t nacc;
        struct rp_attribution **acc = accs(j, &nacc);
        for (size_t a = 0; a < nacc && rc == 0; a++)
            rc = campaign
                     ? rp_attribution_add_campaign_spend(acc[a], platform, key, name, cur, minor)
                     : rp_attribution_add_spend(acc[a], key, cur, minor);
        if (rc != 0) {
            report_job_fail(j, 503, "unavailable", "out of memory");
            goto out;
        }
    }
    read_range(j, "conv", on_index);
out:
    report_job_release(j);
}

/* The campaign names: [campaigns] first (the first name added for an id stands), then
 * those learned in jd:campaigns, "<platform>:<id>" → name (daemon/campaigns.h). */
static void on_names(struct rq_client *c, const redisReply *r, void *priv)
{
    struct report_job *j = priv;
    const struct cfg *cfg = j->jd->cfg;
    int rc = 0;
    (void)c;
    if (!report_job_array_reply(j, r))
        goto out;
    size_t nacc;
    struct rp_attribution **acc = accs(j, &nacc);
    for (size_t a = 0; a < nacc && rc == 0; a++) {
        for (size_t i = 0; cfg && i < cfg->ncampaigns && rc == 0; i++)
            rc = rp_attribution_add_name(acc[a], cfg->campaigns[i].platform, cfg->campaigns[i].id,
                                         cfg->campaigns[i].name);
        for (size_t i = 0; i + 1 < r->elements && rc == 0; i += 2) {
            const redisReply *k = r->element[i], *v = r->element[i + 1];
            const char *colon = k->type == REDIS_REPLY_STRING ? strchr(k->str, ':') : NULL;
            char platform[32];
            if (!colon || (size_t)(colon - k->str) >= sizeof(platform) ||
                v->type != REDIS_REPLY_STRING || !v->len)
                continue;
            snprintf(platform, sizeof(platform), "%.*s", (int)(colon - k->str), k->str);
            rc = rp_attribution_add_name(acc[a], platform, colon + 1, v->str);
        }
    }
    if (rc != 0) {
        report_job_fail(j, 503, "unavailable", "out of memory or too many campaign names");
        goto out;
    }
    if (j->attr_drill)
        read_range(j, "conv", on_index); /* a drill-down lists conversions: no spend */
    else
        read_range(j, "spend", on_spend);
out:
    report_job_release(j);
}

/* Spend first (small, and only for keys spend is kept by), then the contacts with
 * conversions in range; by campaign, the names of campaign ids before both. */
void report_attribution_start(struct report_job *j)
{
    const char *hgetall[] = {"HGETALL", "jd:campaigns"};
    if (j->attr.by == RP_BY_CAMPAIGN)
        (void)report_job_send(j, on_names, j, 2, hgetall, NULL);
    else if (!j->attr_drill && j->attr.by == RP_BY_SOURCE)
        read_range(j, "spend", on_spend);
    else
        read_range(j, "conv", on_index);
}
