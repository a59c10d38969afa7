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
    const char *platform, *campaign_id; /* of the touch: the ad platform's campaign id */
    const char *owner; /* the CRM user who did it ("pipedrive:123"); NULL or "" = unknown */
};

/* A contact's events in journey order (at, id). The functions check the order and restore it
 * if the caller broke it, so results depend only on the journey order. */
struct rp_contact {
    const char *id;
    const struct rp_event *events;
    size_t n;
};

enum rp_model { RP_FIRST_TOUCH, RP_LAST_TOUCH, RP_LINEAR, RP_POSITION, RP_TIME_DECAY };
#define RP_NMODELS 5 /* the models above, RP_FIRST_TOUCH … RP_TIME_DECAY */
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
/* Campaign names (by=campaign): "<platform>:<id>" → name, from the configuration, spend
 * rows and look-ups. A touch whose record carries the platform and the campaign id is
 * grouped under this name instead of its own campaign field, so one campaign is one row
 * whether its touches carry the id (a lead form) or the name (utm_campaign). The first name
 * added for a key stands: add the configured ones first. Add them before any contact or
 * spend. 0; -1 allocation failure or empty arguments; -2 more than RP_MAX_CAMPAIGN_NAMES
 * (sticky, like add). */
#define RP_MAX_CAMPAIGN_NAMES 20000
#define RP_CAMPAIGN_KEY_MAX 112 /* "<platform>:<id>": platform < 32, id < 64 */
int rp_attribution_add_name(struct rp_attribution *a, const char *platform, const char *id,
                            const char *name);
/* A campaign's spend row: under the name known for platform:id, else the row's name, else
 * the id. As add_spend. */
int rp_attribution_add_campaign_spend(struct rp_attribution *a, const char *platform,
                                      const char *id, const char *name, const char *currency,
                                      int64_t minor);
/* The report key of one credit row (§6): (direct) for NULL, (none) when the touch lacks the
 * grouping attribute, by=campaign the name known for the touch's campaign id first. The
 * pointer is borrowed from t or from a. */
const char *rp_attribution_key(const struct rp_attribution *a, const struct rp_event *t);
/* {"model","by","from","to","rows":[{key, revenue{cur:minor}, conversions, touches,
 * spend?, roas?}]} sorted by key (bytewise); from/to null for an open end (INT64_MIN/MAX).
 * conversions: payments (not refunds) with at least one credit row under the key, zero-cent
 * rows included; touches: those payments' credit rows under the key that name a touch.
 * roas per spend currency: revenue / spend, 2 decimals half away from zero, null when the
 * spend is not positive. NULL on allocation failure or after a failed add. */
cJSON *rp_attribution_json(const struct rp_attribution *a);
void rp_attribution_free(struct rp_attribution *a);

/* Several reports from one read of the contacts (model=all: the five models side by side).
 * rp_attribution_add_each adds c to each of a[0 … n) as rp_attribution_add would, with
 * the journey put in order and its conversions listed once for all of them when their
 * from/to agree (else each on its own); each splits under its own model and groups by its
 * own key. 0, or the first failure (-1, -2); each accumulator keeps its own failure,
 * sticky, as with add. */
int rp_attribution_add_each(struct rp_attribution *const *a, size_t n, const struct rp_contact *c);
/* {"model":"all","by","from","to","identity","models":{"<model>": rp_attribution_json of
 * that accumulator, …}} in the order of a; by, from, to and identity are the first's (the
 * same for all when they share the range and key: identity counts payments credited to a
 * touch, which no model changes). NULL on allocation failure, n == 0 or a failed
 * accumulator. */
cJSON *rp_attribution_all_json(struct rp_attribution *const *a, size_t n);

/* Drill-down (DESIGN §7): one conversion behind an attribution row. */
struct rp_drill_conv {
    const char *event_id; /* borrowed from the contact's events */
    int64_t at_ms;
    int64_t amount_minor; /* negative for a refund */
    char currency[4];
    int64_t credit;   /* the sum of the conversion's credit rows under the key */
    int payment;      /* a payment: counted in the row's conversions (refunds are not) */
    uint64_t touches; /* a payment's credit rows under the key that name a touch */
};

/* The conversions of c that rp_attribution_add(a, c) would credit to the row `key` (a key as
 * the report names it: "(direct)", "(none)" included), in journey order: each one with
 * at least one credit row under the key, zero-cent rows included. Summed over every
 * contact, the payments among them are the row's `conversions`, their `touches` its
 * `touches` and the credits per currency its `revenue`, exactly (the same split, the same
 * rows). *out is malloc'd (free it; NULL when none). 0, -1 on allocation failure or
 * overflow. */
int rp_attribution_drill(const struct rp_attribution *a, const struct rp_contact *c,
                         const char *key, struct rp_drill_conv **out, size_t *nout);

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

/* Drill-down (DESIGN §7): whether a contact with these stage entries is counted in the
 * funnel cell of `rank` (lead 2 … paid 6) for the period [lo, hi) (the period as the
 * report lists it: clipped to the report's [from, to)), exactly as rp_funnel_entries
 * counts it: cohort, its lead entry lies in [lo, hi) and it has entered `rank`; activity,
 * it has a lead entry and its entry to `rank` lies in [lo, hi). 1 with *at set to its
 * entry to `rank`, else 0. */
int rp_funnel_cell(const struct rp_entries *e, int activity, int rank, int64_t lo, int64_t hi,
                   int64_t *at);

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
/* rp_sla_add for a reader that gives a contact only part of its journey (below): the
 * earliest touch it saw apart from the events (INT64_MAX: none), for the answer's
 * "identity" (the share of leads and payments with a touch; the events' own touches
 * count too). */
int rp_sla_add_touched(struct rp_sla *s, const struct rp_contact *c, int64_t first_touch_ms);
cJSON *rp_sla_json(struct rp_sla *s);
void rp_sla_free(struct rp_sla *s);

/* One lead as the SLA index knows it (apply.lua keeps it per lead in jd:sla:f, so a
 * reader need not walk the journey): its lead entry (the first event at stage lead or
 * higher, journey order) and whether that is a marketing event, whether it entered
 * qualified, whether it has a touch before `to`, and what first followed the entry: a
 * sales response (its at and owner), a payment (self-served) or nothing yet.
 * rp_sla_add_lead counts exactly what rp_sla_add counts of the lead of a contact with
 * that journey (its revenue and payments, if it has conversions, go through
 * rp_sla_add_conversions); a lead entry outside [from, to) or not a marketing event
 * counts nothing. 0, -1, -2 as rp_sla_add. */
enum rp_sla_response { RP_SLA_WAITS, RP_SLA_ANSWERED, RP_SLA_PAID_FIRST };
struct rp_sla_fact {
    const char *contact;
    int64_t lead_at;
    int marketing, qualified, touched;
    enum rp_sla_response response;
    int64_t response_at; /* RP_SLA_ANSWERED */
    const char *owner;   /* RP_SLA_ANSWERED: the response's owner, NULL or "" for none */
};
int rp_sla_add_lead(struct rp_sla *s, const struct rp_sla_fact *f);
/* rp_sla_add_touched's revenue and payments only, for a contact whose lead is counted
 * with rp_sla_add_lead (or who has none in range): it needs only its payments and refunds
 * before `to` and its first touch (report.h's first part below). */
int rp_sla_add_conversions(struct rp_sla *s, const struct rp_contact *c, int64_t first_touch_ms);

/* Drill-down (DESIGN §7): the leads behind the scorecard's figures. Each sales-side
 * lead has one status: self-served, answered within the SLA, answered past it
 * ("breached"), waiting past the limit (the scorecard's `waiting` list) or still within
 * it (open, in no figure). answered = within + breached. */
enum rp_sla_status {
    RP_SLA_SELF_SERVED,
    RP_SLA_WITHIN,
    RP_SLA_BREACHED,
    RP_SLA_WAITING,
    RP_SLA_OPEN
};

struct rp_sla_lead {
    char *contact; /* owned by the accumulator */
    int64_t lead_at;
    enum rp_sla_status status;
    int64_t seconds;     /* response time (answered), waited time (waiting, open), else 0 */
    int64_t response_at; /* answered: the response's at; else 0 */
};

/* From now on rp_sla_add also keeps the leads whose status is in `mask` (bits
 * 1 << RP_SLA_*), at most `max` of them (more: add fails with -2, sticky). */
void rp_sla_keep_leads(struct rp_sla *s, unsigned mask, size_t max);
/* The kept leads in the order they were added (the caller sorts); valid until the next
 * add or rp_sla_free. */
const struct rp_sla_lead *rp_sla_leads(const struct rp_sla *s, size_t *n);

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
