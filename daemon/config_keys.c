/*
 * journeyd.conf's keys: the [journeyd], [sla], [source <name>] and [channels] tables,
 * one row per key with its grammar, target field, bounds, flags, default and doc line,
 * and the checks the rows name (DESIGN §9, STYLE B6). A key is added here and only here;
 * config.c's engine parses, defaults, frees, compares (SIGHUP) and documents every row
 * the same way. What a source type requires is not here but in its connector's
 * descriptor (cx_connector.needs).
 */
#include "config_keys.h"
#include "destination.h"
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};
static const char *const role_names[] = {"ingest", "worker", "api", NULL};
/* Indexed by the enum so the mapping cannot drift from connector.h. */
static const char *const auth_names[] = {[CX_AUTH_HMAC] = "hmac",
                                         [CX_AUTH_TOKEN] = "token",
                                         [CX_AUTH_ORIGIN] = "origin",
                                         [CX_AUTH_ORIGIN + 1] = NULL};

/* Every check returns what it expected, for the message, or NULL when the value is fine. */

static const char *check_country(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return NULL;
    /* Calling codes never start with 0: that is the trunk prefix. */
    if (n > 3 || v[0] == '0' || strspn(v, "0123456789") != n)
        return "expected 1-3 digits like 39, or nothing";
    return NULL;
}

static const char *check_timezone(const char *v)
{
    /* No '.', so no "..": the name ends up under /usr/share/zoneinfo. */
    if (!*v || strlen(v) > 64 || v[0] == '/' || !cfg_all_of(v, "/_+-"))
        return "expected a zone name like Europe/Rome";
    return NULL;
}

/* A Meta lead form id: decimal digits (it becomes part of a Graph API path). */
static const char *check_form_id(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 32 || strspn(v, "0123456789") != n)
        return "expected a lead form id (digits)";
    return NULL;
}

static const char *check_host(const char *v)
{
    if (strstr(v, "://"))
        return "expected a host name like example.com, not a URL";
    const char *colon = strchr(v, ':');
    size_t hl = colon ? (size_t)(colon - v) : strlen(v);
    if (hl == 0 || hl > 253)
        return "expected a host name like example.com";
    for (size_t i = 0; i < hl; i++)
        if (!cfg_is_alnum((unsigned char)v[i]) && v[i] != '.' && v[i] != '-' && v[i] != '_')
            return "expected a host name like example.com";
    if (colon) {
        char *end;
        if (!cfg_is_digit((unsigned char)colon[1]))
            return "expected a host name like example.com, with an optional :port";
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || *end || port < 1 || port > 65535)
            return "expected a host name like example.com, with an optional :port";
    }
    return NULL;
}

static const char *check_identity_type(const char *v)
{
    if (!*v || strlen(v) >= CX_IDENT_TYPE_MAX || !cfg_all_of(v, "_:"))
        return "expected an identity type like hubspot_contact";
    return NULL;
}

static const char *check_consumer(const char *v)
{
    if (strlen(v) > 128 || !cfg_all_of(v, "_.:@-"))
        return "expected at most 128 of A-Z a-z 0-9 _ . : @ -";
    return NULL;
}

/* Targets are decimals ("0.9", "50", "24"): compared as decimals, never doubles. */
static const char *check_decimal(const char *v)
{
    size_t i = 0, digits = 0, frac = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++, digits++;
    if (v[i] == '.') {
        i++;
        while (v[i] >= '0' && v[i] <= '9')
            i++, frac++;
    }
    if (v[i] || digits == 0 || digits > 9 || frac > 6 || (v[digits] == '.' && frac == 0))
        return "expected a decimal such as 24, 0.9 or 12.5";
    return NULL;
}

static const char *check_share(const char *v)
{
    const char *bad = check_decimal(v);
    if (bad)
        return bad;
    /* A share or rate is at most 1. */
    if (strtod(v, NULL) > 1.0)
        return "expected a decimal between 0 and 1";
    return NULL;
}

static const char *check_business_hours(const char *v)
{
    return !v[0] || rp_parse_business_hours(v) == 0
               ? NULL
               : "expected days and hours such as 'mon-fri 09:00-18:00'";
}

static const char *check_url(const char *v)
{
    size_t skip;
    if (strncmp(v, "https://", 8) == 0)
        skip = 8;
    else if (strncmp(v, "http://", 7) == 0)
        skip = 7;
    else
        return "expected an absolute http:// or https:// URL";
    if (!v[skip] || v[skip] == '/' || strchr(v, ' '))
        return "expected an absolute http:// or https:// URL";
    return NULL;
}

/* Outgoing look-ups carry the provider's API token: over plain http a network hop could
 * read it. Plain http is only for a loopback address (the tests' fake APIs, a local
 * proxy). */
static const char *check_api_base(const char *v)
{
    const char *why = check_url(v);
    if (why || strncmp(v, "https://", 8) == 0)
        return why;
    const char *host = v + 7, *end;
    if (*host == '[')
        end = strchr(host, ']') ? strchr(host, ']') + 1 : host;
    else
        end = host + strcspn(host, ":/?#");
    char name[64];
    size_t n = (size_t)(end - host);
    if (n == 0 || n >= sizeof(name) || (*end && !strchr(":/?#", *end)))
        return "must be https:// (http:// only to a loopback address)";
    memcpy(name, host, n);
    name[n] = '\0';
    struct in_addr a4;
    if (strcmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0 ||
        (inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127))
        return NULL;
    return "must be https:// (http:// only to a loopback address)";
}

/* "v26.0": Meta's version path segment; anything else would make a wrong URL quietly. */
static const char *check_graph_version(const char *v)
{
    size_t i = 1, digits = 0;
    if (v[0] != 'v')
        return "expected a Graph API version such as " CX_META_GRAPH_VERSION;
    for (; cfg_is_digit((unsigned char)v[i]); i++)
        digits++;
    if (digits == 0 || digits > 3 || v[i] != '.' || !cfg_is_digit((unsigned char)v[i + 1]) ||
        v[i + 2] != '\0')
        return "expected a Graph API version such as " CX_META_GRAPH_VERSION;
    return NULL;
}

/* A short secret can be guessed, or found offline from one captured signed delivery.
 * The providers' own are longer (Stripe 38 characters, HubSpot 36, Meta 32). */
#define CFG_SECRET_MIN 16

/* The shipped example marks every secret and token with this, so an installed file never
 * holds a working one: a value containing it was never replaced (`journeyd init` writes
 * real ones). */
#define CFG_PLACEHOLDER "CHANGE-ME"
static const char *check_placeholder(const char *v)
{
    return strstr(v, CFG_PLACEHOLDER) ? "is the example's " CFG_PLACEHOLDER
                                        " placeholder: set a real value (journeyd init writes "
                                        "fresh ones)"
                                      : NULL;
}

static const char *check_secret(const char *v)
{
    const char *why = check_placeholder(v);
    if (why)
        return why;
    return strlen(v) >= CFG_SECRET_MIN ? NULL : "shorter than 16 characters (guessable)";
}

static const char *const scope_names[] = {"read", "write", "admin"};

const char *cfg_split_scope(const char *item, enum cfg_scope *scope)
{
    for (size_t i = 0; i < ARRAY_LEN(scope_names); i++) {
        size_t n = strlen(scope_names[i]);
        if (strncmp(item, scope_names[i], n) == 0 && item[n] == ':') {
            *scope = (enum cfg_scope)i;
            return item + n + 1;
        }
    }
    *scope = CFG_SCOPE_ADMIN;
    return item;
}

/* The length rule is the token's, without its scope prefix. */
static const char *check_api_token(const char *v)
{
    enum cfg_scope scope;
    return check_secret(cfg_split_scope(v, &scope));
}

/* Any registered connector type is a source type (CT_CONNECTOR asks the registry), but
 * one. */
static const char *check_type(const char *v)
{
    /* The click connector trusts its records because only the built-in GET /c handler
     * writes them: as a [source] it would be an unauthenticated POST /hooks/<name>. */
    if (strcmp(v, "click") == 0)
        return "the click tracker is built in (GET /c, with click_allow in [journeyd])";
    return NULL;
}

static const char *check_username(const char *v)
{
    /* HTTP Basic joins user and password with the first ':'. */
    if (strchr(v, ':'))
        return "expected no ':' (HTTP Basic cannot carry it)";
    return NULL;
}

/* A utm value in a [channels] list or rule: what a link's author types, kept to the
 * characters of a slug so a rule can be its key (medium.<value>) too. */
const char *cfg_check_channel_value(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= CX_CHANNEL_VALUE_MAX || !cfg_all_of(v, "_.-"))
        return "expected 1-63 of A-Z a-z 0-9 _ . -";
    return NULL;
}

/* A channel name becomes a report key, a JSON string and a field of the report record:
 * lower case (reports group exactly, so "Partners" and "partners" would be two rows), no
 * separators, no "(" that would make it look like the reports' own "(none)"/"(direct)". */
const char *cfg_check_channel_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= CX_CHANNEL_MAX || v[0] == '-' || v[0] == '_')
        return "expected 1-31 of a-z 0-9 _ -, starting with a letter or digit";
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= 'a' && v[i] <= 'z') && !cfg_is_digit((unsigned char)v[i]) && v[i] != '_' &&
            v[i] != '-')
            return "expected 1-31 of a-z 0-9 _ -, starting with a letter or digit";
    return NULL;
}

/* [campaigns] and spend rows: "<platform>:<id> = <name>". The platform is a touch's
 * (google, meta: lower case, as the connectors write it), the id the platform's own
 * campaign id as a touch carries it, the name a report key (no control bytes, which the
 * report record and the spend keys use as separators; no leading "(" that would pass for
 * the reports' own "(none)" and "(direct)"). */
const char *cfg_check_campaign_platform(const char *v)
{
    if (cfg_check_channel_name(v))
        return "expected a platform of 1-31 of a-z 0-9 _ -, starting with a letter or digit";
    return NULL;
}

const char *cfg_check_campaign_id(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= CFG_CAMPAIGN_ID_MAX || !cfg_all_of(v, "_.-"))
        return "expected a campaign id of 1-63 of A-Z a-z 0-9 _ . -";
    return NULL;
}

const char *cfg_check_campaign_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= CX_TEXT_MAX || v[0] == '(')
        return "expected a name of 1-255 bytes, not starting with '('";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return "expected a name without control characters";
    return NULL;
}

static const char *check_stages(const char *v)
{
    /* The connector owns the meaning; the shape is checked here so a typo fails at load
     * time instead of at the first webhook. */
    const char *s = v;
    while (*s) {
        const char *e = s + strcspn(s, ",");
        const char *colon = memchr(s, ':', (size_t)(e - s));
        const char *a = s, *b = e;
        while (a < b && cfg_is_space((unsigned char)*a))
            a++;
        while (b > a && cfg_is_space((unsigned char)b[-1]))
            b--;
        if (!colon || colon == a || colon + 1 >= b)
            return "expected <provider stage>:<journeyd stage>, ...";
        s = *e ? e + 1 : e;
    }
    return NULL;
}

static const char *check_dst_type(const char *v)
{
    return dst_lookup(v) ? NULL : "expected a destination type such as webhook or slack";
}

static const char *const dst_event_names[] = {DST_LEAD_CREATED, DST_STAGE_CHANGED, DST_PAID,
                                              DST_REFUNDED,     DST_SLA_BREACHED,  NULL};

/* A consent field is a form field or event attribute name. */
static const char *check_field_name(const char *v)
{
    if (strlen(v) > 64 || !cfg_all_of(v, "_.-"))
        return "expected a field name such as consent_ads";
    return NULL;
}

/* clang-format off */
const struct cfg_key cfg_main_keys[] = {
    {.key = "listen", .type = CT_HOSTPORT, .store = CS_HOSTPORT,
     .off = IN_CFG(listen_host, char *), .off2 = IN_CFG(listen_port, int),
     .def = "127.0.0.1:8080",
     .doc = "Address of the HTTP server (webhooks, API, click tracker); [::1]:8080 for IPv6."},
    {.key = "redis", .type = CT_REDIS, .store = CS_REDIS,
     .off = IN_CFG(redis_host, char *), .off2 = IN_CFG(redis_port, int),
     .off3 = IN_CFG(redis_unix, char *),
     .def = "127.0.0.1:6379",
     .doc = "Redis server: host:port, unix:/absolute/path.sock, or redis://[user@]host[:port][/db] "
            "(user: a Redis 6 ACL user; db: SELECT on every connect). The password goes in "
            "redis_password, never in the URL."},
    {.key = "redis_password", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(redis_password, char *), .flags = CF_SECRET,
     .doc = "Password sent with AUTH on every connect to Redis (with the URL's user, if any). "
            "Best given as redis_password_file or env:NAME."},
    {.key = "api_tokens", .type = CT_LIST, .store = CS_STRV,
     .off = IN_CFG(api_tokens[0], char *), .off2 = IN_CFG(napi_tokens, size_t),
     .cap = CFG_MAX_TOKENS, .check = check_api_token, .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "Bearer tokens accepted by the HTTP API (16+ characters); several allow rotation. "
            "read:<token> reads, write:<token> also posts events and spend, admin:<token> "
            "(or no prefix) also erases and replays."},
    {.key = "default_country_code", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(default_country_code, char *), .check = check_country,
     .flags = CF_RELOADABLE, .def = "",
     .doc = "Calling code (digits, like 39) for phone numbers written without one."},
    {.key = "timezone", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(timezone, char *), .check = check_timezone,
     .flags = CF_RELOADABLE, .def = "UTC",
     .doc = "Time zone of report periods and business hours (tz database name)."},
    {.key = "click_allow", .type = CT_LIST, .store = CS_STRV,
     .off = IN_CFG(click_allow[0], char *), .off2 = IN_CFG(nclick_allow, size_t),
     .cap = CFG_MAX_HOSTS, .check = check_host, .flags = CF_RELOADABLE,
     .doc = "Hosts the click tracker may redirect to (GET /c?to=...); nothing else is allowed."},
    {.key = "click_cookie_secure", .type = CT_BOOL, .store = CS_INT,
     .off = IN_CFG(click_cookie_secure, int), .flags = CF_RELOADABLE, .def = "yes",
     .doc = "Mark the click tracker's cookie Secure (turn off only for plain-http testing)."},
    {.key = "click_cookie_days", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(click_cookie_days, int64_t), .min = 1, .max = 3650,
     .flags = CF_RELOADABLE, .def = "365",
     .doc = "Lifetime of the click tracker's anonymous-id cookie, in days."},
    {.key = "collect_allow", .type = CT_LIST, .store = CS_STRV,
     .off = IN_CFG(collect_allow[0], char *), .off2 = IN_CFG(ncollect_allow, size_t),
     .cap = CFG_MAX_HOSTS, .check = check_host, .flags = CF_RELOADABLE,
     .doc = "Sites whose pages may record page views (POST /v1/collect, from GET /j.js): "
            "the Origin's host, or host:port; empty turns the door off."},
    {.key = "collect_rate", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(collect_rate, int64_t), .min = 1, .max = 100000,
     .flags = CF_RELOADABLE, .def = "60",
     .doc = "Page views per minute accepted from one client address (POST /v1/collect)."},
    {.key = "log_level", .type = CT_ENUM, .store = CS_STR,
     .off = IN_CFG(log_level, char *), .values = log_levels,
     .flags = CF_RELOADABLE, .def = "info",
     .doc = "Least severe level that is logged."},
    {.key = "max_body", .type = CT_SIZE, .store = CS_SIZE,
     .off = IN_CFG(max_body, size_t), .min = KIB, .max = 64 * MIB,
     .flags = CF_RELOADABLE, .def = "1M",
     .doc = "Largest request body accepted; bigger ones get 413."},
    {.key = "request_timeout", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(request_timeout_ms, int64_t), .min = 100, .max = 10 * MINUTE,
     .unit = 1, .bare = SEC, .flags = CF_RELOADABLE, .def = "10s",
     .doc = "Time a client has to send a request's headers, and again its body, counted "
            "from the start (bytes arriving do not extend it); also bounds an idle "
            "keep-alive connection and writing an answer."},
    {.key = "redis_timeout", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(redis_timeout_ms, int64_t), .min = 10, .max = 5 * MINUTE,
     .unit = 1, .bare = SEC, .flags = CF_RELOADABLE, .def = "2s",
     .doc = "Deadline of one Redis command; a webhook waiting longer gets 503."},
    {.key = "redis_connect_timeout", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(redis_connect_timeout_ms, int64_t), .min = 10, .max = 5 * MINUTE,
     .unit = 1, .bare = SEC, .flags = CF_RELOADABLE, .def = "2s",
     .doc = "Deadline of one connection attempt to Redis."},
    {.key = "max_inflight", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(max_inflight, size_t), .min = 1, .max = 1000000,
     .flags = CF_RELOADABLE, .def = "4096",
     .doc = "Webhooks waiting for Redis at once; more get 503 with Retry-After."},
    {.key = "max_connections", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(max_connections, size_t), .min = 1, .max = 1000000,
     .flags = CF_RELOADABLE, .def = "4096",
     .doc = "Open HTTP connections (held below the descriptor limit); past it a new "
            "connection displaces the oldest one still sending its request."},
    {.key = "max_connections_per_address", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(max_connections_per_address, size_t), .min = 0, .max = 1000000,
     .flags = CF_RELOADABLE, .def = "0",
     .doc = "Open HTTP connections from one client address (0: a quarter of "
            "max_connections); past it the address's oldest unfinished request makes room."},
    {.key = "min_body_rate", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(min_body_rate, size_t), .min = 0, .max = 1000000000,
     .flags = CF_RELOADABLE, .def = "500",
     .doc = "Bytes per second a request body must average after its first 2 seconds, or "
            "the connection is closed (0: no minimum)."},
    {.key = "max_queue", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(max_queue, int64_t), .min = 1, .max = INT64_C(1000000000000),
     .flags = CF_RELOADABLE, .def = "1000000",
     .doc = "Raw stream length at which ingest answers 503 instead of queueing."},
    {.key = "dedup_days", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(dedup_days, int64_t), .min = 3, .max = 3650,
     .flags = CF_RELOADABLE, .def = "7",
     .doc = "No longer used: an erasure's tombstones are kept for good (docs/internals.md, "
            "Erasure); accepted so existing configs still load."},
    {.key = "retention", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(retention_ms, int64_t), .min = 0, .max = 36500 * DAY, .unit = 1,
     .bare = DAY, .flags = CF_RELOADABLE, .def = "0",
     .doc = "Events older than this leave journeys and reports, removed in the background in "
            "short slices, and later deliveries of older events are refused (0: keep all)."},
    {.key = "worker_batch", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(worker_batch, int64_t), .min = 1, .max = 1000,
     .flags = CF_RELOADABLE, .def = "256",
     .doc = "Entries the worker reads from the raw stream at once (XREADGROUP COUNT)."},
    {.key = "claim_idle", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(claim_idle_ms, int64_t), .min = SEC, .max = DAY,
     .unit = 1, .bare = SEC, .flags = CF_RELOADABLE, .def = "30s",
     .doc = "An entry pending this long (its worker died) is claimed by another worker."},
    {.key = "max_deliveries", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(max_deliveries, int64_t), .min = 1, .max = 100,
     .flags = CF_RELOADABLE, .def = "5",
     .doc = "Attempts at one entry before it goes to the dead-letter stream."},
    {.key = "dead_letter_max", .type = CT_SIZE, .store = CS_SIZE,
     .off = IN_CFG(dead_letter_max, size_t), .min = KIB, .max = 64 * GIB,
     .flags = CF_RELOADABLE, .def = "64M",
     .doc = "Bytes of dead letters kept per source; past it that source's oldest are dropped "
            "(counted and logged), never another source's."},
    {.key = "retry_after", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(retry_after_s, int64_t), .min = SEC, .max = HOUR,
     .unit = SEC, .bare = SEC, .flags = CF_RELOADABLE, .def = "5s",
     .doc = "Retry-After sent with a 503 (whole seconds)."},
    {.key = "drain_timeout", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(drain_timeout_ms, int64_t), .min = 0, .max = HOUR,
     .unit = 1, .bare = SEC, .flags = CF_RELOADABLE, .def = "10s",
     .doc = "On SIGTERM, how long to wait for in-flight webhooks before exiting."},
    {.key = "unique_types", .type = CT_LIST, .store = CS_STRV,
     .off = IN_CFG(unique_types[0], char *), .off2 = IN_CFG(nunique_types, size_t),
     .cap = ARRAY_LEN(((struct cfg *)0)->unique_types), .check = check_identity_type,
     /* Reloadable because the worker reads it for every batch it applies, so a reload
      * and a restart do the same thing: the rule applies from the next event on, and a
      * merge done under the old rule stays done either way. */
     .flags = CF_RELOADABLE, .def = "hubspot_contact, pipedrive_person",
     .doc = "Identity types that never merge two contacts holding different values; a "
            "change applies to events applied after it (merges already done stay)."},
    {.key = "roles", .type = CT_LIST, .store = CS_JOINED,
     .off = IN_CFG(roles, char *), .cap = ARRAY_LEN(role_names) - 1, .min = 1,
     .values = role_names, .def = "ingest,worker,api",
     .doc = "What this process runs; split them across processes to scale apart."},
    {.key = "max_journey_events", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(max_journey_events, int64_t), .min = 1, .max = 1000000,
     .flags = CF_RELOADABLE, .def = "10000",
     .doc = "Events one journey answer of the API returns at most."},
    {.key = "consumer", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(consumer, char *), .check = check_consumer, .def = "",
     .doc = "Name of this worker in the consumer group, leased in Redis (one live worker per "
            "name; a second waits); empty = <hostname>-<n>, the first free instance number."},
    {.key = "attribution_lookback", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(attribution_lookback_ms, int64_t), .min = SEC, .max = 3650 * DAY, .unit = 1,
     .bare = DAY, .flags = CF_RELOADABLE, .def = "90d",
     .doc = "Touches this long before a conversion get credit (DESIGN §6; query: lookback=)."},
    {.key = "attribution_half_life", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(attribution_half_life_ms, int64_t), .min = SEC, .max = 3650 * DAY, .unit = 1,
     .bare = DAY, .flags = CF_RELOADABLE, .def = "7d",
     .doc = "Half-life of the time_decay model (query: half_life=)."},
    {.key = "outbound_max_transfers", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(outbound_max_transfers, size_t), .min = 1, .max = 1024, .def = "16",
     .doc = "Provider API look-ups (Meta leads, CRM records) running at once."},
    {.key = "outbound_max_queued", .type = CT_INT, .store = CS_SIZE,
     .off = IN_CFG(outbound_max_queued, size_t), .min = 1, .max = 100000, .def = "1024",
     .doc = "Look-ups waiting for a free transfer; beyond it the webhook waits in Redis."},
    {.key = "outbound_timeout", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(outbound_timeout_ms, int64_t), .min = 100, .max = 5 * MINUTE, .unit = 1,
     .bare = SEC, .def = "10s", .doc = "Whole-transfer timeout of one look-up attempt."},
    {.key = "outbound_attempts", .type = CT_INT, .store = CS_I64,
     .off = IN_CFG(outbound_attempts, int64_t), .min = 1, .max = 10, .def = "3",
     .doc = "Attempts of a look-up on transport errors, 5xx and 429 before giving up for now."},
    {.key = "outbound_backoff", .type = CT_DURATION, .store = CS_I64,
     .off = IN_CFG(outbound_backoff_ms, int64_t), .min = 1, .max = 5 * MINUTE, .unit = 1,
     .bare = SEC, .def = "500ms",
     .doc = "First retry delay of a look-up; doubles per attempt (a 429's Retry-After wins)."},
    {.key = "consent_field", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(consent_field, char *), .check = check_field_name, .flags = CF_RELOADABLE,
     .def = "",
     .doc = "Form field or event attribute whose value no/false/0 marks a contact as refusing "
            "advertising uploads (meta_capi, google_data_manager); empty = none."},
};

/* [destination <name>] (DESIGN §9): where the outbox delivers. Every row is reloadable:
 * the outbox looks its destination up in the current config for each message. */
const struct cfg_key cfg_destination_keys[] = {
    {.key = "type", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(type, char *), .check = check_dst_type, .flags = CF_RELOADABLE,
     .doc = "webhook (Standard Webhooks signing), slack, meta_capi or google_data_manager "
            "(required)."},
    {.key = "url", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(url, char *), .check = check_url, .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "webhook, slack: the receiver's URL (https:// unless allow_private; a Slack URL is "
            "a secret: best as url_file)."},
    {.key = "secret", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(secret, char *), .check = check_placeholder,
     .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "webhook: the signing secret, whsec_<base64 of 16+ bytes>."},
    {.key = "events", .type = CT_LIST, .store = CS_STRV,
     .off = IN_DST(events[0], char *), .off2 = IN_DST(nevents, size_t),
     .cap = CFG_MAX_DST_EVENTS, .values = dst_event_names, .flags = CF_RELOADABLE,
     .doc = "What the destination receives: lead.created, contact.stage_changed, contact.paid, "
            "contact.refunded, sla.breached (default: webhook all but contact.refunded, slack "
            "sla.breached, meta_capi contact.stage_changed and contact.paid, "
            "google_data_manager those and contact.refunded)."},
    {.key = "api_base", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(api_base, char *), .check = check_url, .flags = CF_RELOADABLE,
     .doc = "Override of the platform's base URL, or of url (tests, proxies)."},
    {.key = "dry_run", .type = CT_BOOL, .store = CS_INT,
     .off = IN_DST(dry_run, int), .flags = CF_RELOADABLE, .def = "no",
     .doc = "Build, validate and log each request instead of sending it (acknowledged as "
            "dry_run)."},
    {.key = "allow_private", .type = CT_BOOL, .store = CS_INT,
     .off = IN_DST(allow_private, int), .flags = CF_RELOADABLE, .def = "no",
     .doc = "Let http:// and loopback, private or link-local addresses through (tests, "
            "on-premises receivers); otherwise https:// to public addresses only, checked "
            "after DNS resolution."},
    {.key = "max_concurrent", .type = CT_INT, .store = CS_SIZE,
     .off = IN_DST(max_concurrent, size_t), .min = 1, .max = 256, .flags = CF_RELOADABLE,
     .def = "4", .doc = "Requests in flight to this destination at once."},
    {.key = "dashboard_url", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(dashboard_url, char *), .check = check_url, .flags = CF_RELOADABLE,
     .doc = "slack: the dashboard's address (https://host/ui/), for a link to the journey."},
    {.key = "access_token", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(access_token, char *), .check = check_placeholder,
     .flags = CF_SECRET | CF_RELOADABLE, .doc = "meta_capi: the Conversions API access token."},
    {.key = "pixel_id", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(pixel_id, char *), .flags = CF_RELOADABLE,
     .doc = "meta_capi: the dataset (pixel) id."},
    {.key = "stages", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(stages, char *), .check = check_stages, .flags = CF_RELOADABLE,
     .doc = "Ad platforms: <journeyd stage>:<platform event name>, ..."},
    {.key = "customer_id", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(customer_id, char *), .flags = CF_RELOADABLE,
     .doc = "google_data_manager: the Google Ads operating account."},
    {.key = "conversion_action", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(conversion_action, char *), .flags = CF_RELOADABLE,
     .doc = "google_data_manager: the product destination id for payments."},
    {.key = "service_account", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(service_account, char *), .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "google_data_manager: the service-account JSON key (best as service_account_file)."},
    {.key = "token_url", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(token_url, char *), .check = check_url, .flags = CF_RELOADABLE,
     .doc = "google_data_manager: the OAuth 2.0 token endpoint (overridable for tests)."},
    {.key = "test_event_code", .type = CT_STRING, .store = CS_STR,
     .off = IN_DST(test_event_code, char *), .flags = CF_RELOADABLE,
     .doc = "meta_capi: the Test Events code from Events Manager, sent with every request "
            "(dry_run without it sends JOURNEYD_DRY_RUN)."},
};

/* [sla] (DESIGN §6b): the marketing-sales agreement the SLA report checks. */
const struct cfg_key cfg_sla_keys[] = {
    {.key = "response_hours", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(sla_response_hours, char *), .check = check_decimal, .flags = CF_RELOADABLE,
     .def = "24", .doc = "Sales answers a lead within this many hours (business hours if set)."},
    {.key = "response_share", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(sla_response_share, char *), .check = check_share, .flags = CF_RELOADABLE,
     .def = "0.9", .doc = "Share of leads that must be answered within response_hours."},
    {.key = "business_hours", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(sla_business_hours, char *), .check = check_business_hours,
     .flags = CF_RELOADABLE, .def = "",
     .doc = "e.g. 'mon-fri 09:00-18:00' (local time zone); empty = the clock runs always."},
    {.key = "leads_per_month", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(sla_leads_per_month, char *), .check = check_decimal, .flags = CF_RELOADABLE,
     .doc = "Marketing's lead target per month (pro-rata for partial months); unset = none."},
    {.key = "qualified_rate", .type = CT_STRING, .store = CS_STR,
     .off = IN_CFG(sla_qualified_rate, char *), .check = check_share, .flags = CF_RELOADABLE,
     .doc = "Marketing's target share of leads that get qualified; unset = none."},
};

const struct cfg_key cfg_source_keys[] = {
    {.key = "type", .type = CT_CONNECTOR, .store = CS_STR,
     .off = IN_SRC(type, char *), .check = check_type,
     .flags = CF_RELOADABLE,
     .doc = "Provider (required); the section name is the path: POST /hooks/<name>."},
    {.key = "secret", .type = CT_LIST, .store = CS_PACKED,
     .off = IN_SRC(secrets_buf, char *), .off2 = IN_SRC(cx.secrets[0], const char *),
     .off3 = IN_SRC(cx.nsecrets, size_t), .cap = CX_MAX_SECRETS, .check = check_secret,
     .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "Signing secret, app secret, client secret or google_key (16+ characters); several = rotation."},
    {.key = "verify_token", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(verify_token, char *), .check = check_placeholder,
     .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "Token of Meta's GET subscription handshake (hub.verify_token)."},
    {.key = "username", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(username, char *), .check = check_username, .flags = CF_RELOADABLE,
     .doc = "HTTP Basic user name the provider sends (Pipedrive)."},
    {.key = "password", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(password, char *), .check = check_secret, .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "HTTP Basic password the provider sends (Pipedrive; 16+ characters)."},
    {.key = "public_url", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(public_url, char *), .check = check_url, .flags = CF_RELOADABLE,
     .doc = "URL the provider calls, for schemes that sign it (HubSpot v3)."},
    {.key = "legacy_signatures", .type = CT_BOOL, .store = CS_INT,
     .off = IN_SRC(cx.legacy_signatures, int), .flags = CF_RELOADABLE, .def = "no",
     .doc = "HubSpot with public_url: also accept v1/v2 signatures (no timestamp: replayable)."},
    {.key = "api_token", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(api_token, char *), .check = check_placeholder,
     .flags = CF_SECRET | CF_RELOADABLE,
     .doc = "Token to read from the provider's API (Meta Graph, HubSpot CRM, Pipedrive)."},
    {.key = "api_base", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(api_base, char *), .check = check_api_base, .flags = CF_RELOADABLE,
     .doc = "Override of the provider's API base URL (https://, or http:// to a loopback address)."},
    {.key = "graph_version", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(graph_version, char *), .check = check_graph_version, .flags = CF_RELOADABLE,
     .doc = "meta_leads: the Graph API version to call (default " CX_META_GRAPH_VERSION
            "); api_base, when set, wins."},
    {.key = "forms", .type = CT_LIST, .store = CS_JOINED,
     .off = IN_SRC(forms, char *), .cap = CFG_MAX_FORMS, .check = check_form_id,
     .flags = CF_RELOADABLE,
     .doc = "meta_leads: the lead form ids reconcile and backfill read (required for them)."},
    {.key = "reconcile", .type = CT_DURATION, .store = CS_I64,
     .off = IN_SRC(reconcile_ms, int64_t), .min = 0, .max = 7 * DAY, .unit = 1, .bare = SEC,
     .flags = CF_RELOADABLE, .def = "0",
     .doc = "stripe, shopify, meta_leads, pipedrive, hubspot: read the provider's API this "
            "often for events whose webhook never came (needs api_token; 0: off)."},
    {.key = "stages", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(stages, char *), .check = check_stages, .flags = CF_RELOADABLE,
     .doc = "CRM stage mapping: <provider stage>:<journeyd stage>, ..."},
    {.key = "auth", .type = CT_ENUM, .store = CS_AUTH,
     .off = IN_SRC(cx.auth, enum cx_form_auth), .values = auth_names,
     .flags = CF_RELOADABLE | CF_FORM_ONLY, .def = "hmac",
     .doc = "form: hmac (X-Journeyd-Signature), token (Bearer = secret) or origin."},
    {.key = "allow_origins", .type = CT_LIST, .store = CS_JOINED,
     .off = IN_SRC(allow_origins, char *), .cap = CFG_MAX_HOSTS, .check = check_host,
     .flags = CF_RELOADABLE | CF_FORM_ONLY,
     .doc = "form, auth = origin: hosts whose pages may post the form."},
    {.key = "thank_you_url", .type = CT_STRING, .store = CS_STR,
     .off = IN_SRC(thank_you_url, char *), .check = check_url,
     .flags = CF_RELOADABLE | CF_FORM_ONLY,
     .doc = "form, auth = origin: where the browser is sent (303) after posting."},
    {.key = "tolerance", .type = CT_DURATION, .store = CS_I64,
     .off = IN_SRC(cx.tolerance_s, int64_t), .min = SEC, .max = 7 * DAY,
     .unit = SEC, .bare = SEC, .flags = CF_RELOADABLE, .def = "300s",
     .doc = "Replay window for signed timestamps (whole seconds)."},
};

/* [channels] (DESIGN §6): the lists the default channel rules use. Each default is the
 * built-in list of connectors/canon.c (a unit test keeps them equal); a list written here
 * replaces it, and an empty one turns its rule off. The operator's own rules
 * (medium.<value> = <channel>, source.<value> = <channel>) are not rows: their keys are
 * open-ended (set_channel_rule). */
#define CHANNEL_LIST(name, id, dflt, text)                                                         \
    {.key = (name), .type = CT_LIST, .store = CS_STRV,                                             \
     .off = IN_CFG(channel_lists[id][0], char *), .off2 = IN_CFG(nchannel_lists[id], size_t),      \
     .cap = CX_CHANNEL_LIST_MAX, .check = cfg_check_channel_value, .flags = CF_RELOADABLE,             \
     .def = (dflt), .doc = (text)}
const struct cfg_key cfg_channel_keys[] = {
    CHANNEL_LIST("search_engines", CX_CHL_SEARCH_ENGINES,
                 "google, bing, microsoft, yahoo, duckduckgo, baidu, yandex, ecosia, qwant",
                 "utm_source values (and ad platforms) of search engines: paid_search."),
    CHANNEL_LIST("social_networks", CX_CHL_SOCIAL_NETWORKS,
                 "facebook, fb, instagram, ig, meta, linkedin, tiktok, twitter, x, pinterest, "
                 "snapchat, reddit, youtube, threads",
                 "utm_source values (and ad platforms) of social networks: paid_social."),
    CHANNEL_LIST("paid_mediums", CX_CHL_PAID_MEDIUMS, "cpc, ppc, paid",
                 "utm_medium of paid links: paid_search or paid_social by utm_source, else other."),
    CHANNEL_LIST("paid_social_mediums", CX_CHL_PAID_SOCIAL_MEDIUMS, "paid_social, paidsocial",
                 "utm_medium values that mean paid_social whatever the source."),
    CHANNEL_LIST("email_mediums", CX_CHL_EMAIL_MEDIUMS, "email, newsletter",
                 "utm_medium values that mean email."),
    CHANNEL_LIST("social_mediums", CX_CHL_SOCIAL_MEDIUMS, "social",
                 "utm_medium values that mean organic_social."),
    CHANNEL_LIST("referral_mediums", CX_CHL_REFERRAL_MEDIUMS, "referral",
                 "utm_medium values that mean referral."),
};
#undef CHANNEL_LIST
/* clang-format on */

_Static_assert(ARRAY_LEN(cfg_main_keys) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
_Static_assert(ARRAY_LEN(cfg_sla_keys) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
_Static_assert(ARRAY_LEN(cfg_channel_keys) == CX_CHL_COUNT, "one [channels] row per list");
_Static_assert(CX_CHANNEL_LIST_MAX <= CFG_MAX_ITEMS, "raise CFG_MAX_ITEMS");
_Static_assert(ARRAY_LEN(cfg_source_keys) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
_Static_assert(ARRAY_LEN(cfg_destination_keys) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
_Static_assert(CFG_MAX_HOSTS <= CFG_MAX_ITEMS && CFG_MAX_TOKENS <= CFG_MAX_ITEMS &&
                   CX_MAX_SECRETS <= CFG_MAX_ITEMS,
               "raise CFG_MAX_ITEMS");

const size_t cfg_nmain_keys = ARRAY_LEN(cfg_main_keys);
const size_t cfg_nsla_keys = ARRAY_LEN(cfg_sla_keys);
const size_t cfg_nsource_keys = ARRAY_LEN(cfg_source_keys);
const size_t cfg_nchannel_keys = ARRAY_LEN(cfg_channel_keys);
const size_t cfg_ndestination_keys = ARRAY_LEN(cfg_destination_keys);
