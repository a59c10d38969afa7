/*
 * The report arithmetic of DESIGN §6 and §6b: attribution of revenue to touches, the funnel
 * by period and the SLA scorecard. Pure functions over contacts' events already read from
 * the store: no I/O, no clock (now is an argument), no globals, so every number can be
 * unit-tested against hand-computed expectations and property-tested. Money is int64
 * minor units; credit is split with the largest-remainder rule so the parts of one
 * conversion always sum to its amount exactly. Module prefix rp_.
 */
#ifndef JD_REPORT_H
#define JD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* One event of a contact, as the reports need it. Strings are borrowed; "" = absent. */
struct rp_event {
    const char *id;
    int64_t at_ms;
    const char *kind;        /* DESIGN §3 kinds */
    int stage;               /* effective stage rank: 0 none, visit 1 … paid 6 */
    const char *source_type; /* connector type: "stripe", "hubspot", "events", … */
    int is_touch;            /* carries a touch object */
    const char *channel, *source, *campaign, *ad; /* of the touch */
    int has_amount;
    int64_t amount_minor; /* positive; a refund's is the amount refunded */
    char currency[4];
    const char *payment_key;
};

/* A contact's events in journey order (at, id). The functions check the order and restore it
 * if the caller broke it, so results depend only on the journey order. */
struct rp_contact {
    const char *id;
    const struct rp_event *events;
    size_t n;
};

enum rp_model { RP_FIRST_TOUCH, RP_LAST_TOUCH, RP_LINEAR, RP_POSITION, RP_TIME_DECAY };
enum rp_key { RP_BY_CHANNEL, RP_BY_SOURCE, RP_BY_CAMPAIGN, RP_BY_AD };

/* "first_touch" … → 0 / -1. */
int rp_parse_model(const char *s, enum rp_model *out);
int rp_parse_key(const char *s, enum rp_key *out);

struct rp_attr_params {
    enum rp_model model;
    enum rp_key by;
    int64_t lookback_ms;    /* default 90 days */
    int64_t half_life_ms;   /* time_decay, default 7 days */
    int64_t from_ms, to_ms; /* conversions with at in [from, to); INT64_MIN/MAX = all time */
};

/* One conversion's split (DESIGN §7 journey "conversions"): credit[i] goes to touch
 * credit[i].touch_id; the parts sum to amount exactly. */
struct rp_credit {
    const char *touch_id; /* NULL: (direct); borrowed from the contact's events */
    int64_t minor;
};

struct rp_conversion {
    const char *event_id; /* borrowed from the contact's events */
    int64_t at_ms;
    int64_t amount_minor; /* negative for a refund */
    char currency[4];
    struct rp_credit *credit; /* owned by the result */
    size_t ncredit;
};

/* The conversions of one contact under a model, with at in [p->from_ms, p->to_ms): payments
 * once per payment key (the first payment with an amount in journey order, over the whole
 * journey; a payment without a key counts on its own), refunds as negative conversions split
 * like a payment of their size and negated. lookback_ms < 0 and half_life_ms <= 0 mean the
 * defaults (90 d, 7 d); lookback 0 keeps only touches at the conversion's instant. Returns 0,
 * -1 on allocation failure or arithmetic overflow. Free with rp_conversions_free. */
int rp_contact_conversions(const struct rp_contact *c, const struct rp_attr_params *p,
                           struct rp_conversion **out, size_t *nout);
void rp_conversions_free(struct rp_conversion *v, size_t n);

/* The contact's revenue (DESIGN §3 payment_key, §7 "revenue"): the conversions of
 * rp_contact_conversions over the whole journey (payments once per payment key, refunds
 * subtracted), summed per currency as {"EUR": minor, …} sorted by currency. repeat, when
 * not NULL, has room for c->n flags: repeat[i] is set to 1 when c->events[i] is a payment
 * whose key an earlier payment in journey order already counted (§3: such repeats stay in
 * the journey without their amount), else 0. NULL on allocation failure or overflow. */
cJSON *rp_contact_revenue(const struct rp_contact *c, unsigned char *repeat);

/* The attribution report accumulated over contacts. Opaque; bounded by max_keys (spend-only
 * keys included). add / add_spend return 0, -1 on allocation failure or overflow, -2 when a
 * new key would exceed max_keys; a failure is sticky (every later call returns it and
 * rp_attribution_json gives NULL), so a half-added contact is never reported. */
struct rp_attribution;
struct rp_attribution *rp_attribution_new(const struct rp_attr_params *p, size_t max_keys);
int rp_attribution_add(struct rp_attribution *a, const struct rp_contact *c);
/* Spend rows: per key (campaign or source: the caller passes spend keyed like `by`) and
 * currency, minor units; repeated rows add up. A key with spend and no conversion is listed
 * (revenue {}, roas 0). */
int rp_attribution_add_spend(struct rp_attribution *a, const char *key, const char *currency,
                             int64_t minor);
/* {"model","by","from","to","rows":[{key, revenue{cur:minor}, conversions, touches,
 * spend?, roas?}]} sorted by key (bytewise); from/to null for an open end (INT64_MIN/MAX).
 * conversions: payments (not refunds) with at least one credit row under the key, zero-cent
 * rows included; touches: those payments' credit rows under the key that name a touch.
 * roas per spend currency: revenue / spend, 2 decimals half away from zero, null when the
 * spend is not positive. NULL on allocation failure or after a failed add. */
cJSON *rp_attribution_json(const struct rp_attribution *a);
void rp_attribution_free(struct rp_attribution *a);

/* Periods in the configured time zone (IANA name; the process TZ is set from it). */
enum rp_period { RP_DAY, RP_WEEK, RP_MONTH };
int rp_parse_period(const char *s, enum rp_period *out);
/* A period label as the funnel names it (2026-09, 2026-W40 ISO week, 2026-09-15) → its
 * [start, end) on the local clock, for the funnel's compare=. 0, -1 when the label is not
 * one of `by` written exactly as the funnel writes it (2026-9, 2026-w40 and dates that do
 * not exist such as 2026-02-30 are refused, and so is week 53 of a year that has 52,
 * 2027-W53), or the time cannot be represented. */
int rp_period_range(const char *label, enum rp_period by, int64_t *start, int64_t *end);
/* rp_period_range for a label of any of the three kinds, told apart by its shape; the
 * kind in *by. 0 / -1. */
int rp_period_parse(const char *label, enum rp_period *by, int64_t *start, int64_t *end);
/* Start of the local day / ISO week (Monday) / month that contains ms. 0 / -1. */
int rp_period_start(enum rp_period by, int64_t ms, int64_t *out);
/* The start of the local calendar date y-m-d (m 1 … 12) in *ms, e.g. of a spend row's
 * date. 0, -1 when it is not a calendar date (2026-02-30) or cannot be represented. */
int rp_local_date(int y, int m, int d, int64_t *ms);

struct rp_funnel_params {
    enum rp_period by;
    int activity; /* 0 cohort, 1 activity */
    int64_t from_ms, to_ms;
    int has_compare;
    int64_t compare_from_ms, compare_to_ms; /* the whole compared period */
};

/* At most this many periods in one funnel answer. */
#define RP_MAX_PERIODS 20000

/* DESIGN §6b funnel over all contacts given. Periods are clipped to [from, to) (a contact
 * whose lead entry lies in the period but before `from` is not in it); the compared period
 * is taken whole. "compare" is {"period","transition","points","stages"}: stages are the
 * compared period's numbers, beside the first listed period; transition/points null when no
 * transition has a rate on both sides. NULL on allocation failure, more than RP_MAX_PERIODS
 * periods or a time localtime_r/mktime cannot represent. */
cJSON *rp_funnel(const struct rp_contact *contacts, size_t n, const struct rp_funnel_params *p);

/* A contact's stage entries (§6b) as apply.lua indexes them (jd:st:<rank>, the contact's
 * e2…e6): at[s] for ranks lead (2) … paid (6), RP_NEVER when not entered; at[0] and at[1]
 * are not read. */
#define RP_NEVER INT64_MAX
struct rp_entries {
    int64_t at[7];
};

/* rp_funnel over stage entries instead of events: the same answer as rp_funnel given
 * contacts whose stage entries (the earliest event at that stage or higher) are these.
 * The times are used as given, so the view reads only some of them: the cohort view every
 * stage of the contacts whose lead entry lies in [from, to) or the compared period; the
 * activity view the lead entry of every contact and each other stage only where it lies
 * in one of those ranges (a stage entered outside them may be passed as RP_NEVER). */
cJSON *rp_funnel_entries(const struct rp_entries *e, size_t n, const struct rp_funnel_params *p);

/* Targets are decimal texts ("0.9", "50", "0.35") and compare as decimals, never doubles
 * (DESIGN §6b); NULL = not set. */
struct rp_sla_params {
    int64_t from_ms, to_ms, now_ms;
    const char *response_hours;  /* default "24" */
    const char *response_share;  /* default "0.9" */
    const char *business_hours;  /* "mon-fri 09:00-18:00" or NULL */
    const char *leads_per_month; /* marketing target, or NULL */
    const char *qualified_rate;  /* marketing target, or NULL */
};

/* DESIGN §6b SLA scorecard. NULL on allocation failure, a malformed business_hours
 * (rp_parse_business_hours says which) or a malformed decimal (digits with an optional
 * fraction of at most 9 digits, 18 digits in all), or a range too long to walk (business
 * hours: 100 years; months: 1000 years). */
cJSON *rp_sla(const struct rp_contact *contacts, size_t n, const struct rp_sla_params *p);

/* The same scorecard accumulated a contact at a time, so a caller can read contacts in
 * batches and drop each batch once added. rp_sla_new copies nothing: p and its strings
 * must outlive the accumulator. NULL on allocation failure or malformed parameters (as
 * rp_sla). add returns 0, -1 on allocation failure or overflow (sticky: json then gives
 * NULL). rp_sla_json does not consume the accumulator; rp_sla_free accepts NULL. */
struct rp_sla;
struct rp_sla *rp_sla_new(const struct rp_sla_params *p);
int rp_sla_add(struct rp_sla *s, const struct rp_contact *c);
cJSON *rp_sla_json(struct rp_sla *s);
void rp_sla_free(struct rp_sla *s);

/* What rp_sla reads of a contact, so a caller need not load whole journeys. A contact
 * counts the same when given only
 *   - its payments and refunds with an amount and `at` before `to` (the conversions, and
 *     the earlier payments whose keys they may repeat), and
 *   - its events in journey order from its lead entry on (the events with `at` at or
 *     after the entry time), as far as rp_sla_slice_done asks;
 * one whose lead entry is not in [from, to) needs only the first part, one without a
 * conversion in [from, to) only the second, one with neither nothing (leave it out).
 * rp_sla_slice_done: given the events read so far from the lead entry on (journey order
 * is restored if need be) and whether the contact ever entered qualified, 1 when they
 * hold the lead event, the first later sales response or payment, and (if qualified) an
 * event at stage qualified or higher; 0: read on, unless the journey has ended. */
int rp_sla_slice_done(const struct rp_event *ev, size_t n, int qualified);

/* The SLA alert's clock (issue 14, daemon/outbox.c): the whole seconds a lead entered at
 * lead_ms has waited by now_ms, in business time when business_hours is set (DST
 * included), into *waited_s. 1 when that is over response_hours (the report's "within
 * means <= the limit", exactly), 0 when not yet, -1 when a setting is malformed. */
int rp_sla_overdue(const char *business_hours, const char *response_hours, int64_t lead_ms,
                   int64_t now_ms, int64_t *waited_s);

/* 0 when the business_hours text is valid: day names (mon or monday, any case) or ranges
 * (mon-fri, may wrap: fri-mon), comma-separated, then one window HH:MM-HH:MM on the local
 * clock with start < end (24:00 allowed as the end). */
int rp_parse_business_hours(const char *s);

#endif
