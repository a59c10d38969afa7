/*
 * The counters' bookkeeping and the Prometheus text exposition of them and of the gauges
 * the caller samples (metrics.h says who bumps what).
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "metrics.h"
#include "outbound.h"
#include "redis.h"

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

void metrics_count_webhook(struct metrics *m, const char *source, int status)
{
    for (size_t i = 0; i < m->nwebhooks; i++)
        if (m->webhooks[i].status == status && strcmp(m->webhooks[i].source, source) == 0) {
            m->webhooks[i].count++;
            return;
        }
    if (m->nwebhooks == METRICS_MAX_ROWS) {
        m->webhooks_overflow++;
        return;
    }
    snprintf(m->webhooks[m->nwebhooks].source, sizeof(m->webhooks[0].source), "%s", source);
    m->webhooks[m->nwebhooks].status = status;
    m->webhooks[m->nwebhooks].count = 1;
    m->nwebhooks++;
}

void metrics_count_dead_dropped(struct metrics *m, const char *source, uint64_t n)
{
    size_t i = 0;
    while (i < m->ndead_dropped && strcmp(m->dead_dropped[i].source, source) != 0)
        i++;
    if (i == METRICS_MAX_DROP_ROWS) {
        m->dead_dropped_overflow += n;
        return;
    }
    if (i == m->ndead_dropped) {
        snprintf(m->dead_dropped[i].source, sizeof(m->dead_dropped[i].source), "%s", source);
        m->ndead_dropped++;
    }
    m->dead_dropped[i].count += n;
}

struct metrics_source *metrics_source(struct metrics *m, const char *source)
{
    for (size_t i = 0; i < m->nsources; i++)
        if (strcmp(m->sources[i].source, source) == 0)
            return &m->sources[i];
    if (m->nsources == METRICS_MAX_SOURCE_ROWS)
        return NULL;
    struct metrics_source *row = &m->sources[m->nsources++];
    memset(row, 0, sizeof(*row));
    snprintf(row->source, sizeof(row->source), "%s", source);
    return row;
}

/* One labelled sample per source row; which = the field. */
static void per_source(struct evbuffer *b, const struct metrics *m, const char *name,
                       const char *type, const char *help, int which)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t i = 0; i < m->nsources; i++) {
        const struct metrics_source *r = &m->sources[i];
        uint64_t v = which == 0   ? r->fetched
                     : which == 1 ? r->reconciled
                     : which == 2 ? r->bad_signatures
                                  : (uint64_t)r->silent;
        evbuffer_add_printf(b, "%s{source=\"%s\"} %llu\n", name, r->source, (unsigned long long)v);
    }
}

void metrics_observe_latency(struct metrics *m, int64_t micros)
{
    double s = (double)micros / 1e6;
    size_t b = 0;
    while (b < METRICS_LATENCY_BUCKETS && s > latency_bounds[b])
        b++;
    m->latency_buckets[b]++;
    m->latency_sum_s += s;
    m->latency_count++;
}

static const char *state_name(const struct rq_client *c)
{
    static const char *const names[] = {"closed", "connecting", "loading", "ready"};
    return names[rq_get_state(c)];
}

static void counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                        (unsigned long long)v);
}

static void gauge(struct evbuffer *b, const char *name, const char *help, int64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
                        (long long)v);
}

static int identity_count(const cJSON *o, const char *name, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

void metrics_set_identity(struct metrics *m, const cJSON *identity)
{
    uint64_t a, b;
    if (identity_count(identity, "payments", &a) == 0 &&
        identity_count(identity, "payments_with_touch", &b) == 0) {
        m->identity.payments = a;
        m->identity.payments_touched = b;
        m->identity.payments_set = 1;
    }
    if (identity_count(identity, "leads", &a) == 0 &&
        identity_count(identity, "leads_with_touch", &b) == 0) {
        m->identity.leads = a;
        m->identity.leads_touched = b;
        m->identity.leads_set = 1;
    }
}

/* A share in [0, 1] of the last report's identity health, when a report has set it and
 * it had a denominator. */
static void identity_ratio(struct evbuffer *b, const char *name, const char *help, int set,
                           uint64_t num, uint64_t den)
{
    if (!set || den == 0)
        return;
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.4f\n", name, help, name, name,
                        (double)num / (double)den);
}

struct evbuffer *metrics_render(const struct metrics *m, const struct metrics_gauges *g)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return NULL;
    evbuffer_add_printf(b, "# HELP journeyd_webhooks_total Webhooks answered, by source and "
                           "HTTP status.\n# TYPE journeyd_webhooks_total counter\n");
    for (size_t i = 0; i < m->nwebhooks; i++)
        evbuffer_add_printf(b, "journeyd_webhooks_total{source=\"%s\",status=\"%d\"} %llu\n",
                            m->webhooks[i].source, m->webhooks[i].status,
                            (unsigned long long)m->webhooks[i].count);
    if (m->webhooks_overflow)
        evbuffer_add_printf(b, "journeyd_webhooks_total{source=\"(other)\",status=\"0\"} %llu\n",
                            (unsigned long long)m->webhooks_overflow);

    evbuffer_add_printf(b, "# HELP journeyd_ingest_seconds Time from a webhook's arrival to its "
                           "answer.\n# TYPE journeyd_ingest_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cum += m->latency_buckets[i];
        evbuffer_add_printf(b, "journeyd_ingest_seconds_bucket{le=\"%g\"} %llu\n",
                            latency_bounds[i], (unsigned long long)cum);
    }
    cum += m->latency_buckets[METRICS_LATENCY_BUCKETS];
    evbuffer_add_printf(b, "journeyd_ingest_seconds_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)cum);
    evbuffer_add_printf(b, "journeyd_ingest_seconds_sum %.6f\njourneyd_ingest_seconds_count %llu\n",
                        m->latency_sum_s, (unsigned long long)m->latency_count);

    gauge(b, "journeyd_raw_stream_length", "Raw webhooks queued and not yet applied.",
          m->raw_length);
    gauge(b, "journeyd_consumer_group_lag", "Raw webhooks not yet delivered to a worker.",
          m->raw_length - m->pending > 0 ? m->raw_length - m->pending : 0);
    gauge(b, "journeyd_pending_entries", "Raw webhooks delivered to a worker, not yet acked.",
          m->pending);
    gauge(b, "journeyd_dead_letters", "Entries in the dead-letter stream.", m->dead_letters);
    gauge(b, "journeyd_ingest_inflight", "Webhooks waiting for Redis to acknowledge the write.",
          g->ingest_inflight);
    counter(b, "journeyd_events_applied_total", "Canonical events applied to journeys.",
            m->n.applied);
    counter(b, "journeyd_duplicates_skipped_total", "Redeliveries recognised and skipped.",
            m->n.duplicates);
    counter(b, "journeyd_merges_total", "Contacts merged into another.", m->n.merges);
    counter(b, "journeyd_conflicts_total", "Merges refused by merge protection.", m->n.conflicts);
    counter(b, "journeyd_restitches_total", "Re-stitches of contacts with conflicts.",
            m->n.restitched);
    counter(b, "journeyd_restitches_skipped_total",
            "Late events placed online because re-stitching them would exceed one call's budget.",
            m->n.restitches_skipped);
    counter(b, "journeyd_dead_lettered_total", "Raw entries moved to the dead-letter stream.",
            m->n.dead_letters);
    evbuffer_add_printf(b, "# HELP journeyd_dead_letters_dropped_total Old dead letters dropped to "
                           "keep a source within dead_letter_max.\n"
                           "# TYPE journeyd_dead_letters_dropped_total counter\n");
    for (size_t i = 0; i < m->ndead_dropped; i++)
        evbuffer_add_printf(b, "journeyd_dead_letters_dropped_total{source=\"%s\"} %llu\n",
                            m->dead_dropped[i].source,
                            (unsigned long long)m->dead_dropped[i].count);
    if (m->dead_dropped_overflow)
        evbuffer_add_printf(b, "journeyd_dead_letters_dropped_total{source=\"(other)\"} %llu\n",
                            (unsigned long long)m->dead_dropped_overflow);
    per_source(b, m, "journeyd_reconcile_fetched_total", "counter",
               "Events read back from a provider's API by reconciliation or backfill.", 0);
    per_source(b, m, "journeyd_reconciled_total", "counter",
               "Fetched events that were new: their webhook had not been applied.", 1);
    per_source(b, m, "journeyd_source_signature_failures", "gauge",
               "Webhooks refused for their signature since the source's last accepted one.", 2);
    per_source(b, m, "journeyd_source_silent", "gauge",
               "1 when the source's last reconciliation found events its webhooks had not "
               "delivered.",
               3);
    counter(b, "journeyd_skipped_total", "Raw entries with nothing of interest.", m->n.skipped);
    counter(b, "journeyd_clicks_total", "Clicks on the click tracker.", m->n.clicks);
    counter(b, "journeyd_clicks_unrecorded_total",
            "Clicks redirected while the queue was unavailable.", m->n.clicks_unrecorded);
    counter(b, "journeyd_clicks_invalid_total",
            "Clicks redirected without being recorded: their query was not valid.",
            m->n.clicks_invalid);
    counter(b, "journeyd_page_views_total", "Page views accepted from the site script.",
            m->n.page_views);
    counter(b, "journeyd_page_views_refused_total",
            "Page views refused at the door (origin, body, or not valid).",
            m->n.page_views_refused);
    counter(b, "journeyd_page_views_limited_total",
            "Page views refused because their address was over collect_rate.",
            m->n.page_views_limited);
    counter(b, "journeyd_reloads_total", "Configuration reloads applied.", m->n.reloads);
    counter(b, "journeyd_reload_failures_total", "Reloads refused (old config kept).",
            m->n.reload_failures);
    if (g->outbound) {
        const struct outbound_counters *oc = outbound_counters(g->outbound);
        evbuffer_add_printf(
            b,
            "# HELP journeyd_outbound_transfers_total Provider API look-ups by result.\n"
            "# TYPE journeyd_outbound_transfers_total counter\n"
            "journeyd_outbound_transfers_total{result=\"ok\"} %llu\n"
            "journeyd_outbound_transfers_total{result=\"permanent_error\"} %llu\n"
            "journeyd_outbound_transfers_total{result=\"transient_error\"} %llu\n"
            "journeyd_outbound_transfers_total{result=\"refused\"} %llu\n",
            (unsigned long long)oc->ok, (unsigned long long)oc->permanent,
            (unsigned long long)oc->transient, (unsigned long long)oc->refused);
        counter(b, "journeyd_outbound_retries_total", "Look-up attempts repeated after an error.",
                oc->retries);
        gauge(b, "journeyd_outbound_active", "Look-ups running or waiting for a free transfer.",
              (int64_t)outbound_active(g->outbound));
    }
    evbuffer_add_printf(b, "# HELP journeyd_redis_up Redis connection ready (1) or not (0).\n"
                           "# TYPE journeyd_redis_up gauge\n");
    const struct rq_client *const *conns = g->redis;
    static const char *const roles[3] = {"ingest", "worker", "api"};
    for (size_t i = 0; i < 3; i++)
        if (conns[i])
            evbuffer_add_printf(b, "journeyd_redis_up{connection=\"%s\"} %d\n", roles[i],
                                rq_is_ready(conns[i]) ? 1 : 0);
    evbuffer_add_printf(b, "# HELP journeyd_redis_state Redis connection state.\n"
                           "# TYPE journeyd_redis_state gauge\n");
    for (size_t i = 0; i < 3; i++)
        if (conns[i])
            evbuffer_add_printf(b, "journeyd_redis_state{connection=\"%s\",state=\"%s\"} 1\n",
                                roles[i], state_name(conns[i]));
    /* Every connection talks to the same server: the first one answers for all. The
     * durability promise holds as written only with fsync="always" (README). */
    for (size_t i = 0; i < 3; i++)
        if (conns[i]) {
            evbuffer_add_printf(b,
                                "# HELP journeyd_redis_aof Redis append-only file as last read: "
                                "its fsync policy, off, or unknown.\n"
                                "# TYPE journeyd_redis_aof gauge\n"
                                "journeyd_redis_aof{fsync=\"%s\"} 1\n",
                                rq_aof(conns[i]));
            break;
        }
    gauge(b, "journeyd_uptime_seconds", "Seconds since start.", g->uptime_s);
    identity_ratio(b, "journeyd_identity_leads_with_touch_ratio",
                   "Share of the leads with at least one touch, in the last SLA report.",
                   m->identity.leads_set, m->identity.leads_touched, m->identity.leads);
    identity_ratio(b, "journeyd_identity_payments_with_touch_ratio",
                   "Share of the payments with at least one touch, in the last SLA or "
                   "attribution report.",
                   m->identity.payments_set, m->identity.payments_touched, m->identity.payments);
    return b;
}
