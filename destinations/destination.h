/*
 * The destination interface: what a `[destination <name>]` type (DESIGN §9: webhook, slack,
 * meta_capi, google_data_manager) gives the outbox (daemon/outbox.c), and what the outbox
 * gives it.
 *
 * A destination type is PURE, like a connector: it sees only cJSON and libcrypto, no
 * libevent, hiredis, curl, clock or globals. The outbox does every I/O: it reads an outbox
 * message from Redis (`jd:out`, written by queue/scripts/apply.lua in the same atomic call
 * that changed the contact), asks the type to `build` the HTTP request, sends it with
 * libcurl on the event loop, asks the type to `classify` the answer, and acknowledges,
 * retries (backoff, jitter, Retry-After) or dead-letters (`jd:out:dead`, with the reason).
 *
 * Exactly once: an outbox message is delivered at least once (a crash between the answer
 * and the XACK sends it again), so every request carries the destination's own dedup key
 * (`dst_request.dedup`: the webhook id, Meta's event_id, Google's transactionId), derived
 * only from the message, never from the clock or the attempt: a redelivery is the same
 * request and the receiver drops it.
 *
 * The message's facts (dst_message.facts), a JSON object written by apply.lua:
 *   {"event": "<canonical event id>", "kind": "<canonical kind>", "at": "<RFC 3339>",
 *    "contact": "c_…", "stage": "<stage reached>", "previous_stage": "<stage before>",
 *    "stages": ["lead", "qualified"],          // every stage newly reached, in order
 *    "identities": [{"type": "email", "value": "…"}, …],   // the contact's (64 at most)
 *    "click_ids": {"gclid": "…", "fbclid": "…"},           // the contact's, newest first
 *    "touch": {…},                                         // the event's, when it has one
 *    "amount": {"minor": 249000, "currency": "EUR"}, "payment_key": "…",
 *    "amount_remaining": {"minor": 149000, "currency": "EUR"}, // contact.refunded: what
 *                                      // the payment_key's payments less refunds leave
 *    "click_at": "<RFC 3339>",         // when the fbclid in click_ids was first seen
 *    "name": "…", "lead_source": "…", "consent_refused": true, "consent_granted": true,
 *    "waited_seconds": 90000}                              // sla.breached
 * Any member may be absent. Personal data stays in Redis; a type hashes what its platform
 * wants hashed (Meta, Google) and never logs it. An advertising type (meta_capi,
 * google_data_manager) returns DST_SKIP for a message whose facts say
 * "consent_refused": true (DESIGN §9 consent_field: never uploaded).
 */
#ifndef JD_DESTINATION_H
#define JD_DESTINATION_H

#include <stddef.h>
#include <stdint.h>

#define DST_URL_MAX 2048
#define DST_HEADER_MAX 512
#define DST_MAX_HEADERS 8
#define DST_DEDUP_MAX 128
#define DST_WHY_MAX 160
#define DST_TOKEN_MAX 4096

/* Message kinds (what apply.lua or the SLA timer decided must go out); a destination's
 * `events` key subscribes it to some of them. */
#define DST_LEAD_CREATED "lead.created"
#define DST_STAGE_CHANGED "contact.stage_changed"
#define DST_PAID "contact.paid"
#define DST_SLA_BREACHED "sla.breached"
#define DST_REFUNDED "contact.refunded" /* a refund of a payment whose amount is known */

/* The view of one [destination <name>] section (daemon/config.c fills it; every string
 * may be NULL when the key is not set; secrets are wiped by the config). */
struct dst_config {
    const char *name;
    const char *type;
    const char *api_base;     /* override of the platform's base URL (tests, proxies) */
    const char *url;          /* webhook, slack */
    const char *secret;       /* webhook: whsec_<base64> */
    const char *access_token; /* meta_capi */
    const char *pixel_id;     /* meta_capi */
    const char *customer_id;  /* google_data_manager */
    const char *conversion_action;
    const char *service_account; /* google_data_manager: the JSON key file's content */
    const char *token_url;       /* google_data_manager */
    const char *stages;          /* "<journeyd stage>:<platform name>, …" */
    const char *dashboard_url;   /* slack: link to the journey in the dashboard */
    const char *test_event_code; /* meta_capi: Events Manager's Test Events code */
    const char *const *events;   /* subscribed kinds (DST_*) */
    size_t nevents;
    int dry_run;       /* build and validate, log, send nothing (or the platform's test mode) */
    int allow_private; /* http:// and private addresses allowed (checked by the outbox) */
};

/* One outbox entry. */
struct dst_message {
    const char *id;          /* the jd:out stream entry id */
    const char *destination; /* the [destination] name */
    const char *kind;        /* DST_* */
    const char *dedup;       /* decided by apply.lua: stable across redeliveries */
    const char *contact;
    const char *facts; /* JSON object text (above) */
    size_t facts_len;
};

/* What the outbox hands a build besides the message. */
struct dst_context {
    int64_t now_s; /* wall clock (webhook-timestamp, Meta event_time bounds) */
    /* A token from `auth` (Google), NULL for the others. A type with a token step is built
     * first with NULL when the outbox holds no valid token: DST_SKIP then needs none, any
     * other result makes the outbox fetch a token and build again with it. */
    const char *access_token;
};

/* The request a type builds. The outbox frees body with free(). */
struct dst_request {
    char method[8]; /* "POST" */
    char url[DST_URL_MAX];
    char headers[DST_MAX_HEADERS][DST_HEADER_MAX]; /* "Name: value" */
    size_t nheaders;
    char *body;
    size_t len;
    char dedup[DST_DEDUP_MAX]; /* the destination's own key (shown in the journey's "sent") */
};

enum dst_build_result {
    DST_BUILT = 0,    /* send out */
    DST_SKIP = 1,     /* nothing to send (no click id, consent refused, stage not mapped):
                         acknowledged as "skipped" with the reason */
    DST_INVALID = -1, /* the message cannot be sent: dead-lettered with the reason */
};

enum dst_verdict {
    DST_DONE,      /* delivered: acknowledge */
    DST_RETRY,     /* try again later (retry_after_s when the platform said so, else -1) */
    DST_PERMANENT, /* never succeeds: dead-letter with the reason */
};

struct dst_answer {
    long status; /* HTTP status; 0 when the transport failed */
    const char *body;
    size_t len;
    int64_t retry_after_s; /* the answer's Retry-After in seconds, -1 when absent */
};

struct dst_type {
    const char *type;
    /* 1 when the platform has its own validation mode (Meta's test_event_code, Google's
     * validateOnly) that the build switches on under dry_run: the request then leaves and
     * the platform's answer is what the dry run shows. 0: dry_run sends nothing. */
    int dry_run_sends;
    /* 1 when a contact's messages must reach the platform in the order they were decided
     * (Meta: every earlier CRM stage before a later one): the outbox sends a message only
     * after the contact's older messages to the same destination have ended. */
    int ordered;
    /* Config keys the type requires ("url", "secret", …), NULL-terminated. */
    const char *const *needs;
    /* Kinds subscribed when the section has no `events` (NULL-terminated). */
    const char *const *default_events;
    /* Extra config check at load time (NULL = none): 0, or -1 with why filled. */
    int (*check)(const struct dst_config *cfg, char *why, size_t whylen);
    /* Optional (Google): the token request to make before build when the outbox holds no
     * unexpired token, and the parser of its answer (token copied into `token`, its
     * lifetime in *expires_in_s). NULL for types without one. */
    enum dst_build_result (*auth)(const struct dst_config *cfg, int64_t now_s,
                                  struct dst_request *out, char *why, size_t whylen);
    int (*auth_parse)(const char *body, size_t len, char *token, size_t tokenlen,
                      int64_t *expires_in_s);
    enum dst_build_result (*build)(const struct dst_config *cfg, const struct dst_message *msg,
                                   const struct dst_context *ctx, struct dst_request *out,
                                   char *why, size_t whylen);
    /* NULL: 2xx DONE, 408/429/5xx/transport RETRY (Retry-After honoured), else PERMANENT. */
    enum dst_verdict (*classify)(const struct dst_config *cfg, const struct dst_answer *a,
                                 int64_t *retry_after_s, char *why, size_t whylen);
};

/* The registry (destinations/registry.c): NULL when unknown. */
const struct dst_type *dst_lookup(const char *type);
const struct dst_type *dst_type_at(size_t i); /* NULL past the end */

/* Whether cfg subscribes to kind (its `events`, else the type's default_events). */
int dst_wants(const struct dst_type *t, const struct dst_config *cfg, const char *kind);

/* The default verdict (the rule documented at dst_type.classify). */
enum dst_verdict dst_classify_default(const struct dst_answer *a, int64_t *retry_after_s, char *why,
                                      size_t whylen);

/* Appends "Name: value" to out's headers; -1 when full or too long. */
int dst_add_header(struct dst_request *out, const char *name, const char *value);

#endif
