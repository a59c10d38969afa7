/*
 * Campaign names learned from events (see campaigns.h): one report.lua "names_set" per
 * webhook that teaches any, sent on the worker's connection behind its apply.
 */
#include "campaigns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "jd.h"
#include "log.h"

#define LEARN_PER_WEBHOOK 16

void campaigns_platform(const char *source, char *out, size_t cap)
{
    static const char *const meta[] = {"facebook", "fb", "instagram", "ig", "meta"};
    size_t n = 0;
    if (!cap)
        return;
    out[0] = '\0';
    for (; source && source[n] && n + 1 < cap; n++)
        out[n] = (char)(source[n] >= 'A' && source[n] <= 'Z' ? source[n] - 'A' + 'a' : source[n]);
    out[n] = '\0';
    if (source && source[n]) {
        out[0] = '\0'; /* too long to be a platform */
        return;
    }
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
        if (strcmp(out, meta[i]) == 0)
            snprintf(out, cap, "meta");
    if (cfg_check_campaign_platform(out))
        out[0] = '\0';
}

static void on_learned(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)priv;
    if (r && r->type == REDIS_REPLY_ERROR)
        jlog(JLOG_DEBUG, "msg=\"campaign names not recorded\" error=\"%.120s\"", r->str);
}

void campaigns_learn(struct rq_client *rq, const struct cx_event_list *events)
{
    /* A webhook is one lead (or one batch of custom events, which carry no campaign ids):
     * a few names at most; more wait for the next webhook that carries them. */
    const char *argv[1 + 2 * LEARN_PER_WEBHOOK];
    size_t lens[1 + 2 * LEARN_PER_WEBHOOK];
    char keys[LEARN_PER_WEBHOOK][32 + 1 + 64];
    int argc = 1, k = 0;
    argv[0] = "names_set";
    lens[0] = strlen(argv[0]);
    for (size_t i = 0; i < events->n && k < LEARN_PER_WEBHOOK; i++) {
        const struct cx_event *ev = &events->v[i];
        const struct cx_touch *t = &ev->touch;
        if (!ev->has_touch || !t->platform[0] || !t->campaign_id[0] || !t->campaign[0] ||
            strcmp(t->campaign, t->campaign_id) == 0 || cfg_check_campaign_name(t->campaign) ||
            cfg_check_campaign_id(t->campaign_id) || cfg_check_campaign_platform(t->platform))
            continue;
        snprintf(keys[k], sizeof(keys[k]), "%s:%s", t->platform, t->campaign_id);
        argv[argc] = keys[k];
        lens[argc] = strlen(keys[k]);
        k++;
        argc++;
        argv[argc] = t->campaign;
        lens[argc] = strlen(t->campaign);
        argc++;
    }
    if (argc == 1 || !rq)
        return;
    if (rq_eval(rq, JD_SCRIPT_REPORT, 0, on_learned, NULL, 0, argc, argv, lens) != 0)
        jlog(JLOG_DEBUG, "msg=\"campaign names not recorded\" error=\"not sent\"");
}
