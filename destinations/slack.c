/*
 * type = slack: a Slack-compatible incoming webhook ({"text": "…"}). An SLA alert names the
 * lead (name, email), its source, how long it has waited and links to its journey in the
 * dashboard (`dashboard_url`, e.g. https://journeyd.example.com/ui/). Incoming webhooks
 * take no idempotency key: the outbox's at-least-once delivery can, after a crash between
 * Slack's 200 and the acknowledgement, post one alert twice (docs/configuration.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "destination.h"

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *email_of(const cJSON *facts)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(facts, "identities");
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        const char *t = str(it, "type");
        if (t && strcmp(t, "email") == 0)
            return str(it, "value");
    }
    return NULL;
}

/* Slack's mrkdwn treats <, > and & as markup: a lead's name must not become a link. */
static void escape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in && *in && n + 6 < cap; in++) {
        const char *rep = *in == '<' ? "&lt;" : *in == '>' ? "&gt;" : *in == '&' ? "&amp;" : NULL;
        if (rep) {
            memcpy(out + n, rep, strlen(rep));
            n += strlen(rep);
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static void text_of(const struct dst_config *cfg, const struct dst_message *msg, const cJSON *facts,
                    char *out, size_t cap)
{
    char name[160], email[160], source[96];
    escape(str(facts, "name") ? str(facts, "name") : "(no name)", name, sizeof(name));
    escape(email_of(facts) ? email_of(facts) : "(no email)", email, sizeof(email));
    escape(str(facts, "lead_source") ? str(facts, "lead_source") : "(unknown)", source,
           sizeof(source));
    const char *contact = msg->contact ? msg->contact : "";
    char link[600] = "";
    if (cfg->dashboard_url)
        snprintf(link, sizeof(link), " <%s#/journey?contact=%s|open the journey>",
                 cfg->dashboard_url, contact);
    if (strcmp(msg->kind, DST_SLA_BREACHED) == 0) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(facts, "waited_seconds");
        long long s = cJSON_IsNumber(w) ? (long long)w->valuedouble : 0;
        snprintf(out, cap, "Lead waiting past the SLA: %s <%s> from %s, waited %lldh %02lldm.%s",
                 name, email, source, s / 3600, s % 3600 / 60, link);
        return;
    }
    const char *stage = str(facts, "stage");
    snprintf(out, cap, "%s: %s <%s> (%s)%s", msg->kind, name, email, stage ? stage : "", link);
}

static enum dst_build_result build(const struct dst_config *cfg, const struct dst_message *msg,
                                   const struct dst_context *ctx, struct dst_request *out,
                                   char *why, size_t whylen)
{
    (void)ctx;
    const char *url = cfg->api_base ? cfg->api_base : cfg->url;
    if (!url || strlen(url) >= sizeof(out->url)) {
        snprintf(why, whylen, "no url");
        return DST_INVALID;
    }
    cJSON *facts = cJSON_ParseWithLength(msg->facts, msg->facts_len);
    if (!cJSON_IsObject(facts)) {
        cJSON_Delete(facts);
        snprintf(why, whylen, "facts are not a JSON object");
        return DST_INVALID;
    }
    char text[1200];
    text_of(cfg, msg, facts, text, sizeof(text));
    cJSON_Delete(facts);
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "text", text) ||
        !(out->body = cJSON_PrintUnformatted(root))) {
        cJSON_Delete(root);
        snprintf(why, whylen, "out of memory");
        return DST_INVALID;
    }
    cJSON_Delete(root);
    out->len = strlen(out->body);
    snprintf(out->method, sizeof(out->method), "POST");
    snprintf(out->url, sizeof(out->url), "%s", url);
    snprintf(out->dedup, sizeof(out->dedup), "%s", msg->dedup ? msg->dedup : "");
    if (dst_add_header(out, "Content-Type", "application/json") != 0) {
        snprintf(why, whylen, "header");
        return DST_INVALID;
    }
    return DST_BUILT;
}

static const char *const needs[] = {"url", NULL};
static const char *const default_events[] = {DST_SLA_BREACHED, NULL};

const struct dst_type dst_slack = {
    .type = "slack",
    .needs = needs,
    .default_events = default_events,
    .build = build,
};
