/*
 * synth: a synthetic company month, shared by the simulator (jdsim, over HTTP) and the
 * pre-filler (jdfill, raw records straight into Redis). Deterministic for a seed: the
 * same contacts, identities and bodies every run (only signatures, which carry the
 * signing time, differ).
 *
 * Each contact walks a realistic path through the sources: an ad click, page views, a lead
 * (own website form, Typeform, Google or Meta lead form), qualification and sales work in
 * the CRM or through the events API, a meeting, a won deal, a Stripe or Shopify payment
 * (checkout.session.completed and payment_intent.succeeded of one PaymentIntent: revenue
 * counted once) and now and then a refund. Identities overlap between the deliveries (the
 * anonymous id, the email, the Stripe customer, the CRM ids), so contacts merge when the
 * deliveries arrive out of order.
 */
#ifndef JD_BENCH_SYNTH_H
#define JD_BENCH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

enum sy_type {
    SY_CLICK,
    SY_FORM,
    SY_EVENTS,
    SY_STRIPE,
    SY_META,
    SY_GOOGLE,
    SY_TYPEFORM,
    SY_CALENDLY,
    SY_HUBSPOT,
    SY_SHOPIFY,
    SY_PIPEDRIVE,
    SY_NTYPES
};

#define SY_BIT(t) (1u << (t))
/* What always exists: the click tracker, the website form, the events API and Stripe. */
#define SY_CORE (SY_BIT(SY_CLICK) | SY_BIT(SY_FORM) | SY_BIT(SY_EVENTS) | SY_BIT(SY_STRIPE))

/* Connector type names ("meta_leads", ...), as in connectors/registry.c. */
extern const char *const sy_type_names[SY_NTYPES];

/* A growing text buffer; sb_printf aborts the program on allocation failure (a benchmark
 * tool has nothing better to do). */
struct sb {
    char *p;
    size_t len, cap;
};
void sb_reserve(struct sb *b, size_t more);
void sb_put(struct sb *b, const char *s, size_t len);
void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct sb *b);

/* One delivery as the provider sends it. For SY_CLICK, `body` is the query string of
 * GET /c (or, with sy_opts.raw_clicks, the click record the daemon stores). */
struct sy_delivery {
    enum sy_type type;
    int contact;
    int duplicate; /* a provider retry of an earlier delivery (same bytes) */
    int64_t at_ms; /* when it happened, provider time */
    int nevents;   /* canonical events it brings (0 for a duplicate) */
    char *body;    /* owned, NUL-terminated */
    size_t len;
    char aid[40];   /* the visitor's anonymous id (click cookie) */
    char id[64];    /* provider delivery id where a header carries it (Shopify) */
    char topic[32]; /* Shopify topic */
};

struct sy_month {
    struct sy_delivery *v;
    size_t n, cap;
    int64_t events; /* canonical events, duplicates not counted */
};

struct sy_opts {
    uint64_t seed;
    int contacts;
    int heavy;      /* the first `heavy` contacts get 100-event journeys */
    unsigned types; /* SY_BIT mask of the sources the daemon has */
    int64_t month_start_ms;
    int raw_clicks;         /* click bodies as stored raw records (jdfill) */
    double dup_rate;        /* share of deliveries sent twice */
    const char *google_key; /* goes into Google lead bodies */
};

/* Builds the month (appending to m). Returns 0, or -1 on bad options. */
int sy_month_build(const struct sy_opts *o, struct sy_month *m);
/* Fisher-Yates with the given seed: out-of-order arrival. */
void sy_month_shuffle(struct sy_month *m, uint64_t seed);
void sy_month_free(struct sy_month *m);

/* Contact i's email address and kind of path, for picking journeys to look at. */
void sy_contact_email(uint64_t seed, int i, char *out, size_t cap);
/* How far contact i goes (heavy: it is one of the first sy_opts.heavy contacts). */
enum { SY_LEAD = 1, SY_QUALIFIED = 2, SY_MEETING = 4, SY_WON = 8, SY_PAYS = 16, SY_REFUND = 32 };
unsigned sy_contact_path(uint64_t seed, int i, int heavy);

/* A unique Stripe checkout.session.completed of 1-2 KB for load tests: the n-th one of
 * the run tagged `run`, created at `created_s`. Replaces b's contents. */
void sy_stripe_load_body(struct sb *b, uint64_t run, uint64_t n, int64_t created_s);
/* The Stripe event id of load webhook n of a run (what sy_stripe_load_body puts in it). */
void sy_stripe_load_id(uint64_t run, uint64_t n, char *out, size_t cap);

/* splitmix64: the generator behind everything above. */
uint64_t sy_mix(uint64_t x);

#endif
