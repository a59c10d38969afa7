/*
 * Campaign names (issue 16: one campaign, one row). An ad platform's lead form names its
 * campaign by id while the campaign's clicks name it by utm_campaign, so reports group a
 * touch that carries a campaign id under the name known for "<platform>:<id>". Names come
 * from [campaigns] in the config first (the report adds them first), then from what
 * journeyd learns and keeps in the Redis hash jd:campaigns: spend rows that carry both a
 * campaign and a campaign_id (api_spend.c) and events whose touch carries both, which is
 * what a Meta look-up answers (the worker, after normalize). The latest learned name of
 * an id stands; the hash holds at most CAMPAIGNS_LEARN_MAX ids (report.lua "names_set").
 * Module prefix campaigns_.
 */
#ifndef JD_CAMPAIGNS_H
#define JD_CAMPAIGNS_H

#include <stddef.h>

#include "connector.h"
#include "redis.h"

#define CAMPAIGNS_LEARN_MAX 10000 /* report.lua's cap on jd:campaigns, kept in step */

/* The platform a spend row's source names, for its campaign id: the source in lower case,
 * Meta's family (facebook, fb, instagram, ig) as "meta", the platform Meta's lead touches
 * carry. out has room for cap bytes (32 is enough for any platform); "" when the source
 * cannot be a platform. */
void campaigns_platform(const char *source, char *out, size_t cap);

/* Records "<platform>:<id>" → name in jd:campaigns for every event of the list whose touch
 * carries a platform, a campaign id and a name other than the id. Fire and forget: a
 * failure only means the name is learned at the next event or spend row. */
void campaigns_learn(struct rq_client *rq, const struct cx_event_list *events);

#endif
