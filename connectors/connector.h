/*
 * The connector interface: how a provider's webhook is verified (in ingest, on the raw
 * bytes) and normalized into canonical events (in the worker, DESIGN §3).
 *
 * Connectors are pure: no libevent, hiredis, curl, globals or clock reads. Everything a
 * connector needs arrives in its arguments, so the same code runs in the daemon, the unit
 * tests and the fuzzers. Module prefix: cx_.
 */
#ifndef JD_CONNECTOR_H
#define JD_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Bounds of a canonical event. Providers send more only in pathological payloads; a
 * value over its bound is dropped (identities) or truncated at a UTF-8 boundary
 * (descriptive text), never allowed to grow a buffer. */
#define CX_ID_MAX 200        /* event id, payment key, raw stream id */
#define CX_IDENT_TYPE_MAX 48 /* "hubspot_contact", "custom:<name>" */
#define CX_IDENT_VALUE_MAX 256
#define CX_MAX_IDENTITIES 16
#define CX_TEXT_MAX 256 /* utm values, campaign, ad, names */
#define CX_MAX_CLICK_IDS 8
#define CX_MAX_SECRETS 8
#define CX_MAX_EVENTS 1000 /* per raw record (a batch of custom events at most) */
#define CX_ATTRS_MAX 4096  /* serialized extra attributes of a lead */
#define CX_OWNER_MAX 64    /* "pipedrive:12415231": a CRM user id with its type */

struct cx_err {
    char msg[128];
};

/* "set the error message"; always returns -1 so callers can `return cx_fail(...)`. */
int cx_fail(struct cx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct cx_header {
    const char *name; /* compared case-insensitively */
    const char *value;
};

enum cx_form_auth { CX_AUTH_HMAC, CX_AUTH_TOKEN, CX_AUTH_ORIGIN };

/* The channel table of DESIGN §6 as data, so an operator can adapt it ([channels] in the
 * config). A touch's channel is the first of these that applies:
 *   1. an ad-platform lead: its platform in search_engines / social_networks, then in the
 *      built-in lists (a Google Ads or Meta lead stays paid whatever the lists say);
 *   2. a click id, fixed: it names its platform and wins over any utm value;
 *   3. the operator's rules, in the order written: utm_medium or utm_source equal to the
 *      rule's value (ASCII case-insensitive) gives the rule's channel;
 *   4. utm_medium in paid_mediums: paid_search / paid_social by utm_source, else other;
 *   5. paid_social_mediums, email_mediums, social_mediums, referral_mediums, in turn;
 *   6. any other utm (or a platform or ad): other; nothing: direct.
 * Rules come after click ids because a click id is proof of the ad platform, while utm
 * values are whatever a link's author typed; they come before the default medium rules
 * because an explicit rule is the operator saying what a value means. */
#define CX_CHANNEL_MAX 32       /* a channel name with its NUL: struct cx_touch.channel */
#define CX_CHANNEL_VALUE_MAX 64 /* a utm value in a list or rule, with its NUL */
#define CX_CHANNEL_LIST_MAX 32  /* items of one list */
#define CX_CHANNEL_RULES_MAX 64

enum cx_channel_list_id {
    CX_CHL_SEARCH_ENGINES, /* utm_source / platform values that are search engines */
    CX_CHL_SOCIAL_NETWORKS,
    CX_CHL_PAID_MEDIUMS, /* cpc, ppc, paid: paid_search or paid_social by the source */
    CX_CHL_PAID_SOCIAL_MEDIUMS,
    CX_CHL_EMAIL_MEDIUMS,
    CX_CHL_SOCIAL_MEDIUMS, /* organic_social */
    CX_CHL_REFERRAL_MEDIUMS,
    CX_CHL_COUNT
};

struct cx_channel_list {
    const char *const *v; /* compared ASCII case-insensitively */
    size_t n;             /* 0: the rule that uses the list never applies */
};

enum cx_channel_on { CX_CHANNEL_ON_MEDIUM, CX_CHANNEL_ON_SOURCE };

struct cx_channel_rule {
    enum cx_channel_on on;
    char value[CX_CHANNEL_VALUE_MAX];
    char channel[CX_CHANNEL_MAX];
};

/* Owned by whoever built it (the daemon's config); connectors only read it. Every list
 * is complete: there is no "unset" list, cx_channel_defaults() has the built-in ones. */
struct cx_channel_map {
    struct cx_channel_list lists[CX_CHL_COUNT];
    const struct cx_channel_rule *rules;
    size_t nrules;
};

/* The DESIGN §6 table as shipped; what a NULL map means. Static storage. */
const struct cx_channel_map *cx_channel_defaults(void);

/* One configured source as the connectors see it. Owned by the daemon's config; connectors
 * borrow it for the duration of a call. */
struct cx_source {
    const char *name; /* "stripe-eu": the path /hooks/<name> */
    const char *type; /* "stripe", "form", ... */
    const char *secrets[CX_MAX_SECRETS];
    size_t nsecrets;
    const char *verify_token;
    const char *username, *password;
    const char *public_url;
    int legacy_signatures;     /* HubSpot: accept v1/v2 (no timestamp) even with public_url */
    const char *graph_version; /* meta_leads: Graph API version ("v26.0"); NULL = default */
    const char *api_token, *api_base;
    const char *forms; /* meta_leads: lead form ids, comma-separated (reconciliation) */
    const char *stages;
    enum cx_form_auth auth;
    const char *allow_origins;             /* form auth=origin: comma-separated hosts */
    int64_t tolerance_s;                   /* replay window for signed timestamps */
    const char *default_country_code;      /* digits, e.g. "39"; NULL or "" = none */
    const struct cx_channel_map *channels; /* NULL = cx_channel_defaults() */
    /* [campaigns]: the configured name of a platform's campaign id, NULL when none; the
     * daemon's look-up over its config, campaign_ctx its argument. NULL: no names. */
    const char *(*campaign_name)(const void *ctx, const char *platform, const char *id);
    const void *campaign_ctx;
    /* Set by the daemon, never by the config, for its built-in POST /v1/events: the route
     * already checked the bearer token against the API's own list and scopes (one list,
     * one check), so verify checks only the body. */
    int authenticated_by_door;
};

/* The Graph API version meta_leads calls when the source names none. Meta retires each
 * version about two years after the next (v19.0 went in May 2026): move this, and the
 * docs (docs/providers/meta_leads.md), to the newest version when one is released. */
#define CX_META_GRAPH_VERSION "v26.0"

/* A borrowed view of one HTTP request, no libevent types. */
struct cx_input {
    const char *method; /* "GET", "POST" */
    const char *query;  /* raw query string without '?', may be NULL */
    const struct cx_header *headers;
    size_t nheaders;
    const unsigned char *body;
    size_t body_len;
    int64_t now_ms; /* injected clock */
};

enum cx_verdict {
    CX_OK,            /* authentic: enqueue it */
    CX_HANDSHAKE,     /* answer with reply->body, enqueue nothing */
    CX_BAD_REQUEST,   /* 400: not the provider's format */
    CX_BAD_SIGNATURE, /* 401: missing or wrong signature or credentials */
    CX_STALE,         /* 401: signed timestamp outside the tolerance */
};

struct cx_reply {
    int status;
    char content_type[64];
    char body[512];
};

/* One stored webhook as the worker reads it back from the raw stream. */
struct cx_raw {
    const char *source; /* source name */
    const char *stream_id;
    int64_t received_ms; /* arrival time, for payloads that carry no time of their own */
    const unsigned char *body;
    size_t body_len;
    const struct cx_header *headers; /* the headers the connector asked to keep */
    size_t nheaders;
};

enum cx_result {
    CX_NORM_OK,         /* out holds >= 1 events */
    CX_NORM_SKIP,       /* nothing of interest (an event type we do not use): ack it */
    CX_NORM_POISON,     /* cannot be handled: dead-letter it with err->msg */
    CX_NORM_NEED_FETCH, /* `need` holds look-ups; call again with their answers */
};

/* Enrichment of thin webhooks (a Meta lead's fields, a HubSpot contact's email): normalize
 * asks for HTTP look-ups instead of doing I/O; the daemon runs them (libcurl on its loop)
 * and calls normalize again with every answer so far, in request order. Only completed
 * answers reach the connector (2xx, or a permanent 4xx it can turn into POISON with a clear
 * reason); transport errors and 5xx/429 after retries leave the webhook queued for later. */
#define CX_MAX_FETCHES 32 /* answers per raw record, over all rounds */
#define CX_URL_MAX 1024
#define CX_FETCH_HEADER_MAX 512

struct cx_fetch {
    char url[CX_URL_MAX]; /* absolute: the source's api_base (or the provider's) + path */
    char headers[2][CX_FETCH_HEADER_MAX]; /* "Authorization: Bearer <api_token>" */
    size_t nheaders;
};

struct cx_fetch_list {
    struct cx_fetch v[CX_MAX_FETCHES];
    size_t n;
};

struct cx_fetched {
    struct {
        long status;
        const unsigned char *body;
        size_t len;
    } v[CX_MAX_FETCHES];
    size_t n;
};

struct cx_identity {
    char type[CX_IDENT_TYPE_MAX];
    char value[CX_IDENT_VALUE_MAX];
};

struct cx_click_id {
    char name[16]; /* gclid, gbraid, wbraid, fbclid, msclkid, li_fat_id, ttclid */
    char value[CX_IDENT_VALUE_MAX];
};

/* Empty strings mean "absent" and serialize as null. */
struct cx_touch {
    char channel[32];
    char source[CX_TEXT_MAX], medium[CX_TEXT_MAX], campaign[CX_TEXT_MAX];
    char content[CX_TEXT_MAX], term[CX_TEXT_MAX];
    char ad[CX_TEXT_MAX], platform[32];
    /* The platform's own campaign id when the provider gives one (a Google lead form, a
     * Meta look-up); campaign is then its name when known, else the id again. Reports
     * group such a touch under the name "<platform>:<id>" maps to ([campaigns], spend
     * rows, look-ups), so one campaign is one row whichever the touch carries. */
    char campaign_id[64];
    struct cx_click_id click_ids[CX_MAX_CLICK_IDS];
    size_t nclick_ids;
};

/* A canonical event (DESIGN §3). Fixed-size fields keep every event bounded by
 * construction; cx_event_to_json is the only way it leaves the connectors. */
struct cx_event {
    char id[CX_ID_MAX];
    char source[64];
    char type[32];
    char kind[16];
    int64_t at_ms;
    char stage[16]; /* "" = follows the kind (cx_event_stage) */
    struct cx_identity identities[CX_MAX_IDENTITIES];
    size_t nidentities;
    int has_touch;
    struct cx_touch touch;
    int has_amount;
    int64_t amount_minor;
    char currency[4];
    char payment_key[CX_ID_MAX];
    char raw[CX_ID_MAX];      /* stream id of the raw webhook it came from */
    char attrs[CX_ATTRS_MAX]; /* "" or a serialized JSON object of extra lead fields */
    /* The CRM user who owns or did it (a sales touch's rep, a deal's owner), as
     * "<source type>:<the CRM's user id>" so two CRMs' users never share a name; "" =
     * unknown. The SLA groups response times by the response's owner (DESIGN §6b). */
    char owner[CX_OWNER_MAX];
};

/* Caller-owned, growable up to CX_MAX_EVENTS. */
struct cx_event_list {
    struct cx_event *v;
    size_t n, cap;
};

struct cx_connector {
    const char *type;
    /* The source keys (by their config names, DESIGN §9) a [source] of this type cannot
     * work without: the config refuses such a source at load time, with the line of its
     * section, instead of every webhook being refused later. NULL-terminated; NULL = none. */
    const char *const *needs;
    /* What replaces `needs` for a source with auth = origin (the form's browser posts: no
     * shared secret, the Origin check and the redirect take its place). NULL: the type has
     * no origin mode. */
    const char *const *needs_origin;
    /* 1 when the provider checks the endpoint with a GET (Meta's hub.challenge); a GET to
     * any other source is answered 405 without calling verify. */
    int get_handshake;
    /* Headers (lower-case names) that normalize needs besides the body; ingest stores
     * them with the raw record. NULL-terminated, may be NULL. */
    const char *const *keep_headers;
    enum cx_verdict (*verify)(const struct cx_source *src, const struct cx_input *in,
                              struct cx_reply *reply, struct cx_err *err);
    /* fetched: NULL on the first call, then every answer so far. need: where a connector
     * that enriches puts its look-ups (NULL is allowed for those that never do). */
    enum cx_result (*normalize)(const struct cx_source *src, const struct cx_raw *raw,
                                const struct cx_fetched *fetched, struct cx_event_list *out,
                                struct cx_fetch_list *need, struct cx_err *err);
};

/* The registry: NULL when the type is unknown. */
const struct cx_connector *cx_lookup(const char *type);
/* The i-th registered connector, NULL past the last (fuzzers and tests enumerate). */
const struct cx_connector *cx_connector_at(size_t i);

/* The click tracker's door (GET /c, connectors/click.c). The daemon checks the destination
 * against the allow-list and mints the random ids; the click connector's verify, given the
 * query as cx_input.query, says whether it may be recorded (CX_OK: a record built from it
 * is one normalize accepts); these build everything else, purely.
 * cx_click_cookie_aid: the anonymous id ("a_" + 32 lowercase hex digits) from a Cookie
 * header's jd_aid, copied to out; 1 when found, else 0 with out = "" (cookie may be NULL).
 * cx_click_record: the raw record the daemon enqueues and normalize reads back,
 * {"id","aid","at_ms","query","to"}; release with cJSON_free, NULL when out of memory.
 * cx_click_location: where the browser goes, `to` with jd_aid=<aid> appended to its query
 * (before any #fragment); 0, or -1 when it does not fit in cap. */
#define CX_CLICK_AID_SIZE 40
int cx_click_cookie_aid(const char *cookie, char out[CX_CLICK_AID_SIZE]);
char *cx_click_record(const char *click_id, const char *aid, const char *query, const char *to,
                      int64_t at_ms);
int cx_click_location(const char *to, const char *aid, char *out, size_t cap);

/* The site script's page views (POST /v1/collect, an open door like /c): the body
 * {"aid": "a_…", "url": "https://…", "referrer": "https://…"} (referrer optional; other
 * members ignored), at most CX_COLLECT_BODY_MAX bytes, checked whole here. CX_OK with
 * *record the raw record normalize reads back as a "visit" event (id "view:…") (release with
 * cJSON_free): the page's query is read like a tracked link's (utm values, click ids), and
 * cookie_aid (the click tracker's cookie, may be NULL) joins aid when it differs. Anything
 * else is CX_BAD_REQUEST with err set and no record. */
#define CX_COLLECT_BODY_MAX 6144
enum cx_verdict cx_collect_record(const unsigned char *body, size_t len, const char *view_id,
                                  const char *cookie_aid, int64_t at_ms, char **record,
                                  struct cx_err *err);

/* Event list ownership: cx_list_init zeroes; cx_list_add returns a zeroed event with
 * source/type/raw filled from the arguments, or NULL when the list is full or out of
 * memory; cx_list_free releases the array (NULL-safe). */
void cx_list_init(struct cx_event_list *l);
struct cx_event *cx_list_add(struct cx_event_list *l, const struct cx_source *src,
                             const struct cx_raw *raw);
void cx_list_free(struct cx_event_list *l);

/* Stage of an event: its own, else the one its kind implies (DESIGN §3); "" if none. */
const char *cx_event_stage(const struct cx_event *ev);
/* Rank of a stage in the funnel (visit=1 ... paid=6), 0 for "" or unknown. */
int cx_stage_rank(const char *stage);
/* Name of a rank (stage.h), NULL for 0 or out of range. */
const char *cx_stage_name(int rank);

/* Canonical JSON of an event (DESIGN §3). Returns a malloc'd string the caller frees with
 * free(), or NULL on allocation failure. */
char *cx_event_to_json(const struct cx_event *ev);

/* Adds an identity after normalizing it (email: trim + lower-case; phone: E.164 with the
 * source's default country code). Returns 0 if added, 1 if the value was unusable or a
 * duplicate (not an error), -1 when the event already holds CX_MAX_IDENTITIES. */
int cx_event_add_identity(struct cx_event *ev, const struct cx_source *src, const char *type,
                          const char *value);

/* Fills the touch's utm, click id and channel fields from name/value pairs (utm_source,
 * utm_medium, ..., gclid, fbclid, ...). Pairs with other names are ignored. Sets
 * ev->has_touch when any utm value or click id was found, and adds gclid / fbclid as
 * identities. The channel follows src->channels. `get` returns the value for a name or
 * NULL. */
typedef const char *(*cx_getter)(void *ctx, const char *name);
void cx_event_set_touch(struct cx_event *ev, const struct cx_source *src, cx_getter get, void *ctx);
/* (Re)computes ev->touch.channel from the touch as it stands, by src's map (src may be
 * NULL), for connectors that fill touch fields themselves (platform, medium, source). */
void cx_event_set_channel(struct cx_event *ev, const struct cx_source *src);
/* The touch's campaign from an ad platform that names it by id (touch.platform set first):
 * campaign_id = id, and campaign = name when the provider gave one, else the name
 * [campaigns] gives the id (src->campaign_name), else the id itself. Reports map ids to
 * names again when they run (names learned later included); this names the stored touch
 * so a journey shows both. */
void cx_touch_set_campaign(struct cx_event *ev, const struct cx_source *src, const char *id,
                           const char *name);
/* The compact record the report indexes keep per event (record.h: the format is defined
 * there): 0 / -1 when it does not fit. */
int cx_event_record(const struct cx_event *ev, char *out, size_t cap);
/* Sets ev->owner to "<ev->type>:<id>" when id is a usable CRM user id (1-40 of A-Z a-z
 * 0-9 _ -: the ids Pipedrive and HubSpot give users); anything else leaves it as it was.
 * 0 when set, else -1. */
int cx_event_set_owner(struct cx_event *ev, const char *id);
/* The person's name an event gives (the drill-downs' `name`), from its lead attributes:
 * "name", else "full_name", else "first_name" and "last_name" joined by a space, as
 * forms, Meta and Google lead forms and Calendly invitees carry them. Control characters
 * become spaces, runs of spaces one, the ends are trimmed, and the text is cut on a UTF-8
 * boundary to fit CX_NAME_MAX bytes with its NUL. 1 when out holds a name, else 0 (out
 * is then ""). */
#define CX_NAME_MAX 129
int cx_event_person_name(const struct cx_event *ev, char out[CX_NAME_MAX]);
/* Channel of a touch by the map (NULL: the DESIGN §6 defaults). The answer points into
 * the map or static storage: copy it before the map goes. */
const char *cx_touch_channel(const struct cx_touch *t, const struct cx_channel_map *map);

#endif
