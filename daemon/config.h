/*
 * journeyd.conf: an ini file with one [journeyd] section, optional [sla], [channels] and
 * [campaigns] sections and [source <name>] sections (DESIGN §9). The parser is table-driven: every
 * key has one entry (daemon/config_keys.c) with its type, bounds, default and flags, and
 * --check-config, the docs, the defaults and SIGHUP's restart-only warning all come from it; the
 * engine that walks the entries is daemon/config.c.
 *
 * Any key may take a `_file` suffix (`secret_file = /run/credentials/.../stripe`) to read
 * its value from a file; a relative path is looked up in $CREDENTIALS_DIRECTORY when set
 * (systemd LoadCredential=). A value of the form `env:NAME` reads the environment.
 * Secrets are wiped when the config is freed.
 */
#ifndef JD_CONFIG_H
#define JD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../connectors/connector.h"
#include "../destinations/destination.h"

#define CFG_MAX_SOURCES 64
#define CFG_MAX_TOKENS 16
#define CFG_MAX_HOSTS 64
#define CFG_MAX_CAMPAIGNS 10000
#define CFG_MAX_FORMS 32
#define CFG_MAX_DESTINATIONS 32
#define CFG_MAX_DST_EVENTS 8

/* [destination <name>] (DESIGN §9): an outbound destination the outbox delivers to. */
struct cfg_destination {
    char *name;
    char *type, *url, *secret, *access_token, *pixel_id, *customer_id, *conversion_action;
    char *service_account, *token_url, *stages, *api_base, *dashboard_url, *test_event_code;
    char *events[CFG_MAX_DST_EVENTS];
    size_t nevents;
    int dry_run, allow_private;
    size_t max_concurrent; /* requests in flight to this destination */
    struct dst_config dst; /* the destination types' view; points into the fields above */
};

struct cfg_source {
    char *name;
    char *type;
    /* Storage for the strings the cx_source view points into. */
    char *secrets_buf, *verify_token, *username, *password, *public_url;
    char *api_token, *api_base, *stages, *allow_origins, *thank_you_url, *graph_version;
    char *forms;          /* meta_leads: lead form ids, comma-separated (reconcile.c) */
    int64_t reconcile_ms; /* reconcile.c: list the provider's API this often; 0 = off */
    struct cx_source cx;  /* the connectors' view; points into the fields above */
};

/* What an API token may do (DESIGN §7); each scope includes the ones before it. A token
 * written without a "read:", "write:" or "admin:" prefix is admin (the old behaviour). */
enum cfg_scope { CFG_SCOPE_READ, CFG_SCOPE_WRITE, CFG_SCOPE_ADMIN };

/* A redis://[user@]host[:port][/db] value, parsed (cfg_parse_redis_url). */
struct cfg_redis_url {
    char user[65]; /* "" = none */
    char host[254];
    int port; /* 6379 when not given */
    int db;   /* 0 when not given */
};

/* NULL when v is a valid redis:// URL (filling u), else what was expected. The answer never
 * quotes v: a URL may hold a password, which is refused (redis_password takes it). */
const char *cfg_parse_redis_url(const char *v, struct cfg_redis_url *u);

struct cfg {
    /* [journeyd] */
    char *listen_host;
    int listen_port;
    char *redis_host; /* NULL when redis is a unix socket */
    int redis_port;
    char *redis_unix;
    char *redis_user;                 /* from redis://user@host: AUTH user password (Redis 6 ACL) */
    int redis_db;                     /* from redis://host/db: SELECT on every connect */
    char *redis_password;             /* redis_password: AUTH on every connect; NULL = none */
    char *api_tokens[CFG_MAX_TOKENS]; /* without their "read:" … prefix */
    size_t napi_tokens;
    enum cfg_scope api_token_scopes[CFG_MAX_TOKENS];
    char *default_country_code; /* "" when unset */
    char *timezone;
    char *click_allow[CFG_MAX_HOSTS];
    size_t nclick_allow;
    int click_cookie_secure;
    int64_t click_cookie_days;
    char *collect_allow[CFG_MAX_HOSTS]; /* sites whose pages may POST /v1/collect */
    size_t ncollect_allow;
    int64_t collect_rate; /* page views per minute from one client address */
    char *log_level;      /* debug | info | notice | warning | error */

    size_t max_body; /* bytes, default 1 MiB */
    int64_t request_timeout_ms;
    int64_t redis_timeout_ms; /* per command */
    int64_t redis_connect_timeout_ms;
    size_t max_inflight;    /* XADDs waiting for Redis */
    size_t max_connections; /* open HTTP connections */
    int64_t max_queue;      /* raw stream length at which ingest answers 503 */
    int64_t dedup_days;     /* how long a deleted event's id still counts as seen */
    int64_t retention_ms;   /* events older than this are removed (retention.c); 0 = kept */
    int64_t worker_batch;   /* XREADGROUP COUNT */
    int64_t claim_idle_ms;  /* pending this long → claimed again */
    int64_t max_deliveries; /* then dead-lettered */
    size_t dead_letter_max; /* bytes of dead letters per source (dead.lua) */

    /* The connection guard (http.c) */
    size_t max_connections_per_address; /* 0: a quarter of max_connections */
    size_t min_body_rate;               /* request body bytes per second; 0: no minimum */

    int64_t retry_after_s;
    int64_t drain_timeout_ms;
    char *unique_types[16]; /* identity types that never merge (DESIGN §4) */
    size_t nunique_types;
    char *roles;                /* "ingest,worker,api" */
    int64_t max_journey_events; /* events returned by one journey answer */
    char *consumer;             /* consumer name in the group; default hostname-pid */
    int64_t attribution_lookback_ms, attribution_half_life_ms;
    /* [sla]: decimal texts, NULL or "" when unset */
    char *sla_response_hours, *sla_response_share, *sla_business_hours;
    char *sla_leads_per_month, *sla_qualified_rate;
    size_t outbound_max_transfers, outbound_max_queued;
    int64_t outbound_timeout_ms, outbound_attempts, outbound_backoff_ms;
    /* [channels] (DESIGN §6): the lists (indexed by enum cx_channel_list_id), the
     * operator's rules in file order, and the connectors' view of both. */
    char *channel_lists[CX_CHL_COUNT][CX_CHANNEL_LIST_MAX];
    size_t nchannel_lists[CX_CHL_COUNT];
    struct cx_channel_rule channel_rules[CX_CHANNEL_RULES_MAX];
    size_t nchannel_rules;
    struct cx_channel_map channels; /* points into the fields above; every source's cx too */
    /* [campaigns]: "<platform>:<id> = <name>" in file order, at most CFG_MAX_CAMPAIGNS.
     * Read by the attribution report only (reloadable): the names it groups ids under. */
    struct cfg_campaign {
        char platform[32];
        char id[64];
        char name[CX_TEXT_MAX];
        unsigned line;
    } * campaigns;
    size_t ncampaigns, capcampaigns;

    struct cfg_source sources[CFG_MAX_SOURCES];
    size_t nsources;
    char *consent_field; /* [journeyd] consent_field: "" = none */
    struct cfg_destination destinations[CFG_MAX_DESTINATIONS];
    size_t ndestinations;
};

/* The [campaigns] name of platform's campaign id, NULL when none; cfg is a struct cfg (the
 * signature is cx_source.campaign_name's). */
const char *cfg_campaign_name(const void *cfg, const char *platform, const char *id);

struct cfg_err {
    char msg[256]; /* "journeyd.conf:12: unknown key 'scret' in [source stripe]" */
};

/* Parses and validates the whole file. Returns a new config (free with cfg_free) or NULL
 * with err filled. Never exits. Logs a warning (jlog) for each secret others can read (an
 * inline secret in a file readable by others, a <key>_file readable by others); a secret
 * file writable by others is an error. */
struct cfg *cfg_load(const char *path, struct cfg_err *err);
/* Same, from a buffer (tests, fuzzing); `name` prefixes messages. */
struct cfg *cfg_parse(const char *text, size_t len, const char *name, struct cfg_err *err);
/* NULL-safe; wipes secrets. */
void cfg_free(struct cfg *c);
#define CFG_FREE(c)                                                                                \
    do {                                                                                           \
        cfg_free(c);                                                                               \
        (c) = NULL;                                                                                \
    } while (0)

const struct cfg_source *cfg_find_source(const struct cfg *c, const char *name);
const struct cfg_destination *cfg_find_destination(const struct cfg *c, const char *name);
/* Which keys marked "restart to change" (not CF_RELOADABLE) differ between the running
 * config and a freshly loaded one, for SIGHUP's warning: their names only, never their
 * values (some are secrets), joined by ", " into out (cut short if it is too small; a
 * source's key reads "[source <name>] <key>"). Returns how many differ. The fresh config
 * is still taken whole; what was built from these keys at start (the listener, the Redis
 * connections, the roles, the consumer name, the outbound limits) keeps its start values
 * until a restart. */
size_t cfg_restart_changes(const struct cfg *old, const struct cfg *fresh, char *out, size_t cap);
/* The keys and their documentation, for `journeyd --help-config`. */
void cfg_print_reference(FILE *out);

#endif
