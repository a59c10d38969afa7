/*
 * journeyd.conf: the engine of the table-driven ini parser (DESIGN §9, STYLE B6): the
 * ini syntax, the value grammars and their storage, _file and env: values, defaults,
 * load and free, the SIGHUP comparison and the --help-config reference.
 *
 * Every key is one row of the tables in config_keys.c: its value grammar, where the value
 * lands in struct cfg / struct cfg_source, bounds, flags, default and a doc line. Parsing,
 * defaults, freeing, the restart-only comparison and --help-config all walk the same
 * rows, so a key cannot exist without being documented, defaulted and freed. The one
 * exception is the [channels] rules (medium.<value> = <channel>): their keys are data, so
 * they have a parser of their own (set_channel_rule), fixed-size storage that needs no
 * freeing, and a paragraph in --help-config; and [campaigns] (<platform>:<id> = <name>),
 * whose keys are data too (set_campaign). Source types and what each requires are the
 * connector registry's (cx_lookup, cx_connector.needs): a provider is added in
 * connectors/ without a line here.
 *
 * Nothing is half-applied: cfg_parse builds a fresh struct and returns it fully validated
 * or frees it, which is what lets a SIGHUP keep the old config when the new one is wrong
 * (nginx's cycle rule).
 *
 * cfg_load also judges the files it reads by their mode (fstat of the descriptor read): a
 * secret others on the host can read is logged as a warning (jlog, naming the file and the
 * key), a secret file others can write is refused. It logs itself, rather than hand the
 * warnings to its callers, so that start, SIGHUP and --check-config all say the same.
 */
#include "config.h"
#include "config_keys.h"
#include "listing.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on untrusted-ish input: a config file is written by an operator, but a typo or a
 * wrong path (secret_file = /dev/zero) must not be able to eat memory. */
#define CFG_LINE_MAX 4096
#define CFG_FILE_MAX (1024 * 1024)
#define CFG_VALUE_FILE_MAX (64 * 1024)
#define CFG_SOURCE_NAME_MAX 63
#define CFG_KEY_NAME_MAX 64
#define CFG_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 on Linux */
#define CFG_MAX_TYPES 32      /* registered connector types listed in a message */

static int has_control_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

static int has_control(const char *s)
{
    return has_control_n(s, strlen(s));
}

static char *trim(char *s)
{
    while (cfg_is_space((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && cfg_is_space((unsigned char)s[n - 1]))
        n--;
    s[n] = '\0';
    return s;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

enum cfg_where { IN_NONE, IN_MAIN, IN_SOURCE, IN_SLA, IN_CHANNELS, IN_CAMPAIGNS, IN_DEST };

struct parser {
    const char *name; /* prefixes every message; its directory anchors relative paths */
    mode_t mode;      /* of the file being parsed; 0 for a buffer (nothing to warn about) */
    int literal_list; /* the list being set was written in the file: env: items resolve */
    struct cfg_err *err;
    struct cfg *c;
    enum cfg_where in;
    unsigned main_line;                    /* of [journeyd]; 0 until seen */
    unsigned main_seen[CFG_MAX_KEYS];      /* line where each key was set; 0 = not set */
    unsigned char main_file[CFG_MAX_KEYS]; /* set through <key>_file */
    unsigned sla_line;
    unsigned sla_seen[CFG_MAX_KEYS];
    unsigned char sla_file[CFG_MAX_KEYS];
    unsigned channels_line;
    unsigned channels_seen[CFG_MAX_KEYS];
    unsigned char channels_file[CFG_MAX_KEYS];
    unsigned rule_line[CX_CHANNEL_RULES_MAX]; /* of each cfg.channel_rules[i] */
    unsigned campaigns_line;
    struct cfg_source *src;
    unsigned src_line[CFG_MAX_SOURCES];
    unsigned src_seen[CFG_MAX_KEYS];
    unsigned char src_file[CFG_MAX_KEYS];
    struct cfg_destination *dst;
    unsigned dst_line[CFG_MAX_DESTINATIONS];
    unsigned dst_seen[CFG_MAX_KEYS];
    unsigned char dst_file[CFG_MAX_KEYS];
};

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, unsigned line,
                                                      const char *fmt, ...)
{
    char what[224];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(p->err->msg, sizeof(p->err->msg), "%s:%u: %s", p->name, line, what);
    else
        snprintf(p->err->msg, sizeof(p->err->msg), "%s: %s", p->name, what);
    return -1;
}

/* Operator text echoed in a message is bounded and has non-printables replaced, so a
 * binary file pasted into the config cannot garble the log line. */
static const char *shown(const char *v, char *out, size_t outsz)
{
    size_t n = 0;
    for (; *v && n + 4 < outsz; v++)
        out[n++] = ((unsigned char)*v < 0x20 || (unsigned char)*v >= 0x7f) ? '?' : *v;
    if (*v && n + 4 >= outsz) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static void *at(void *base, size_t off)
{
    return (char *)base + off;
}

static const struct cfg_key *find_key(const struct cfg_key *tab, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i].key, key) == 0)
            return &tab[i];
    return NULL;
}

static int find_value(const char *const *values, const char *v)
{
    for (int i = 0; values[i]; i++)
        if (strcmp(values[i], v) == 0)
            return i;
    return -1;
}

static void join_values(const char *const *values, const char *sep, char *out, size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; values[i] && n < outsz; i++) {
        int w = snprintf(out + n, outsz - n, "%s%s", i ? sep : "", values[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/* The values a CT_ENUM or CT_CONNECTOR row accepts, joined by sep. For a connector row
 * they are the registry's types (the one list of them) less those the row's check refuses
 * (click, which cannot be a [source]). */
static void join_choices(const struct cfg_key *k, const char *sep, char *out, size_t outsz)
{
    const char *types[CFG_MAX_TYPES + 1];
    const struct cx_connector *cx;
    size_t n = 0;

    if (k->type != CT_CONNECTOR) {
        join_values(k->values, sep, out, outsz);
        return;
    }
    for (size_t i = 0; n < CFG_MAX_TYPES && (cx = cx_connector_at(i)) != NULL; i++)
        if (!k->check || !k->check(cx->type))
            types[n++] = cx->type;
    types[n] = NULL;
    join_values(types, sep, out, outsz);
}

static void fmt_size(int64_t v, char *out, size_t outsz)
{
    if (v != 0 && v % GIB == 0)
        snprintf(out, outsz, "%" PRId64 "G", v / GIB);
    else if (v != 0 && v % MIB == 0)
        snprintf(out, outsz, "%" PRId64 "M", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(out, outsz, "%" PRId64 "K", v / KIB);
    else
        snprintf(out, outsz, "%" PRId64 "B", v);
}

static void fmt_duration(int64_t ms, char *out, size_t outsz)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{DAY, "d"}, {HOUR, "h"}, {MINUTE, "m"}, {SEC, "s"}};
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, outsz, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    if (ms == 0)
        snprintf(out, outsz, "0s");
    else
        snprintf(out, outsz, "%" PRId64 "ms", ms);
}

static void fmt_number(const struct cfg_key *k, int64_t v, char *out, size_t outsz)
{
    if (k->type == CT_SIZE)
        fmt_size(v, out, outsz);
    else if (k->type == CT_DURATION)
        fmt_duration(v, out, outsz);
    else
        snprintf(out, outsz, "%" PRId64, v);
}

static int bad_value(struct parser *p, const struct cfg_key *k, const char *v, unsigned line,
                     const char *expected)
{
    char b[48];
    if (k->flags & CF_SECRET)
        return fail(p, line, "invalid value for %s: %s", k->key, expected);
    return fail(p, line, "invalid value '%s' for %s: %s", shown(v, b, sizeof(b)), k->key, expected);
}

static int out_of_memory(struct parser *p, unsigned line)
{
    return fail(p, line, "out of memory");
}

/* A leading run of decimal digits. strtoll alone would also take spaces and a sign. */
static int parse_leading(const char *s, int allow_minus, int64_t *out, const char **end)
{
    char *e;
    if (!cfg_is_digit((unsigned char)s[0]) &&
        !(allow_minus && s[0] == '-' && cfg_is_digit((unsigned char)s[1])))
        return -1;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno == ERANGE)
        return -1;
    *out = v;
    *end = e;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    const char *end;
    if (parse_leading(s, 1, out, &end) || *end)
        return -1;
    return 0;
}

static int scale(int64_t n, int64_t mult, int64_t *out)
{
    if (n > INT64_MAX / mult)
        return -1;
    *out = n * mult;
    return 0;
}

static int parse_size(const char *s, int64_t *out)
{
    int64_t n, mult = 1;
    const char *end;
    if (parse_leading(s, 0, &n, &end))
        return -1;
    while (cfg_is_space((unsigned char)*end))
        end++;
    switch (*end) {
    case 'k':
    case 'K':
        mult = KIB;
        break;
    case 'm':
    case 'M':
        mult = MIB;
        break;
    case 'g':
    case 'G':
        mult = GIB;
        break;
    default:
        break;
    }
    if (mult > 1) {
        end++;
        if (end[0] == 'i' && end[1] == 'B')
            end += 2;
        else if (end[0] == 'B')
            end++;
    } else if (end[0] == 'B') {
        end++;
    }
    if (*end)
        return -1;
    return scale(n, mult, out);
}

static int parse_duration(const char *s, int64_t bare, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", SEC}, {"m", MINUTE}, {"h", HOUR}, {"d", DAY}};
    int64_t n, mult = 0;
    const char *end;
    if (parse_leading(s, 0, &n, &end))
        return -1;
    while (cfg_is_space((unsigned char)*end))
        end++;
    if (!*end)
        mult = bare;
    for (size_t i = 0; i < ARRAY_LEN(units) && !mult; i++)
        if (strcmp(end, units[i].unit) == 0)
            mult = units[i].ms;
    if (!mult)
        return -1;
    return scale(n, mult, out_ms);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* host:port or [v6]:port. Returns what was expected, or NULL with the host's span (brackets
 * dropped, for getaddrinfo) and the port. */
static const char *parse_hostport(const char *v, const char **host, size_t *host_len, int *port)
{
    static const char expected[] = "expected host:port like 127.0.0.1:8080 or [::1]:8080";
    const char *h, *colon;
    size_t hl;
    if (v[0] == '[') {
        const char *rb = strchr(v, ']');
        if (!rb || rb[1] != ':')
            return expected;
        h = v + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
        for (size_t i = 0; i < hl; i++)
            if (!cfg_is_alnum((unsigned char)h[i]) && h[i] != ':' && h[i] != '.' && h[i] != '%')
                return expected;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            return expected;
        h = v;
        hl = (size_t)(colon - v);
        for (size_t i = 0; i < hl; i++)
            if (!cfg_is_alnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
                return expected;
    }
    if (hl == 0 || hl > 253)
        return expected;
    int64_t n;
    if (parse_int(colon + 1, &n) || colon[1] == '-' || n < 1 || n > 65535)
        return "expected a port 1..65535 after the ':'";
    *host = h;
    *host_len = hl;
    *port = (int)n;
    return NULL;
}

const char *cfg_parse_redis_url(const char *v, struct cfg_redis_url *u)
{
    static const char expected[] = "expected redis://[user@]host[:port][/db]";
    memset(u, 0, sizeof(*u));
    if (strncmp(v, "redis://", 8) != 0)
        return expected;
    const char *rest = v + 8, *end = rest + strcspn(rest, "/"), *at = NULL;
    for (const char *q = rest; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        size_t ul = (size_t)(at - rest);
        if (memchr(rest, ':', ul))
            return "a password in the URL is refused: give it to redis_password (takes _file and "
                   "env:)";
        if (ul == 0 || ul >= sizeof(u->user))
            return "expected a user name of 1 to 64 characters before the '@'";
        for (size_t i = 0; i < ul; i++)
            if (!cfg_is_alnum((unsigned char)rest[i]) && !strchr("-_.", rest[i]))
                return "expected a user name of letters, digits, '-', '_' and '.'";
        memcpy(u->user, rest, ul);
        rest = at + 1;
    }
    /* host[:port]: give parse_hostport the default port when none is written. */
    char hp[300];
    size_t hl = (size_t)(end - rest);
    if (hl == 0 || hl > 270)
        return expected;
    const char *last_colon = memchr(rest, ']', hl) ? strstr(rest, "]:") : memchr(rest, ':', hl);
    int has_port = last_colon && last_colon < end;
    if (snprintf(hp, sizeof(hp), "%.*s%s", (int)hl, rest, has_port ? "" : ":6379") >=
        (int)sizeof(hp))
        return expected;
    const char *h;
    size_t hlen;
    const char *why = parse_hostport(hp, &h, &hlen, &u->port);
    if (why)
        return why;
    memcpy(u->host, h, hlen);
    u->host[hlen] = '\0';
    if (*end == '/') {
        int64_t n;
        if (parse_int(end + 1, &n) || end[1] == '-' || n < 0 || n > 65535)
            return "expected a database number 0..65535 after the '/'";
        u->db = (int)n;
    }
    return NULL;
}

static int store_number(struct parser *p, const struct cfg_key *k, void *base, const char *v,
                        int64_t n, unsigned line)
{
    if (n < k->min || n > k->max) {
        char lo[32], hi[32], exp[80];
        fmt_number(k, k->min, lo, sizeof(lo));
        fmt_number(k, k->max, hi, sizeof(hi));
        snprintf(exp, sizeof(exp), "expected %s..%s", lo, hi);
        return bad_value(p, k, v, line, exp);
    }
    if (k->type == CT_DURATION) {
        if (n % k->unit != 0)
            return bad_value(p, k, v, line, "expected whole seconds");
        n /= k->unit;
    }
    switch (k->store) {
    case CS_INT:
        *(int *)at(base, k->off) = (int)n;
        return 0;
    case CS_I64:
        *(int64_t *)at(base, k->off) = n;
        return 0;
    case CS_SIZE:
        *(size_t *)at(base, k->off) = (size_t)n;
        return 0;
    default:
        return fail(p, line, "internal: %s has no numeric field", k->key);
    }
}

static int store_string(struct parser *p, const struct cfg_key *k, void *base, const char *v,
                        unsigned line)
{
    char *s = strdup(v);
    if (!s)
        return out_of_memory(p, line);
    *(char **)at(base, k->off) = s;
    return 0;
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wipe_free(items[i]);
}

static int store_list(struct parser *p, const struct cfg_key *k, void *base, char **items, size_t n,
                      unsigned line)
{
    size_t total = 0;
    char *buf;
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 1;
    switch (k->store) {
    case CS_STRV: {
        char **arr = at(base, k->off);
        for (size_t i = 0; i < n; i++) {
            arr[i] = items[i];
            items[i] = NULL;
        }
        *(size_t *)at(base, k->off2) = n;
        return 0;
    }
    case CS_JOINED:
        buf = malloc(total ? total : 1);
        if (!buf)
            return out_of_memory(p, line);
        buf[0] = '\0';
        for (size_t i = 0, len = 0; i < n; i++) {
            size_t il = strlen(items[i]);
            if (i)
                buf[len++] = ',';
            memcpy(buf + len, items[i], il + 1);
            len += il;
        }
        *(char **)at(base, k->off) = buf;
        return 0;
    case CS_PACKED: {
        const char **ptrs = at(base, k->off2);
        if (n == 0)
            return 0;
        buf = malloc(total);
        if (!buf)
            return out_of_memory(p, line);
        for (size_t i = 0, len = 0; i < n; i++) {
            size_t il = strlen(items[i]) + 1;
            memcpy(buf + len, items[i], il);
            ptrs[i] = buf + len;
            len += il;
        }
        *(char **)at(base, k->off) = buf;
        *(size_t *)at(base, k->off3) = n;
        return 0;
    }
    default:
        return fail(p, line, "internal: %s has no list field", k->key);
    }
}

static int read_value_env(struct parser *p, const struct cfg_key *k, const char *v, unsigned line,
                          char **out);

static int set_list(struct parser *p, const struct cfg_key *k, void *base, const char *v,
                    unsigned line)
{
    char *items[CFG_MAX_ITEMS];
    size_t n = 0;
    int rc = -1;
    char b[48];
    const char *s = v;

    if (k->cap > CFG_MAX_ITEMS)
        return fail(p, line, "internal: %s holds more than %d items", k->key, CFG_MAX_ITEMS);
    /* Newlines separate items too: a list read from a file is often one item a line. */
    while (*s) {
        const char *e = s + strcspn(s, ",\n");
        const char *a = s, *z = e;
        const char *why = NULL;
        while (a < z && cfg_is_space((unsigned char)*a))
            a++;
        while (z > a && cfg_is_space((unsigned char)z[-1]))
            z--;
        if (a == z) {
            fail(p, line, "empty item in %s", k->key);
            goto out;
        }
        if (n == k->cap) {
            fail(p, line, "too many items in %s (at most %zu)", k->key, k->cap);
            goto out;
        }
        if (has_control_n(a, (size_t)(z - a))) {
            bad_value(p, k, v, line, "contains a control character");
            goto out;
        }
        items[n] = strndup(a, (size_t)(z - a));
        if (!items[n]) {
            out_of_memory(p, line);
            goto out;
        }
        if (p->literal_list && strncmp(items[n], "env:", 4) == 0) {
            char *value = NULL;
            int bad = read_value_env(p, k, items[n], line, &value);
            wipe_free(items[n]);
            items[n] = value;
            if (bad)
                goto out;
        }
        n++;
        if (k->values && find_value(k->values, items[n - 1]) < 0) {
            char list[128];
            join_values(k->values, ", ", list, sizeof(list));
            fail(p, line, "invalid item '%s' in %s: expected one of %s",
                 shown(items[n - 1], b, sizeof(b)), k->key, list);
            goto out;
        }
        if (k->check && (why = k->check(items[n - 1])) != NULL) {
            if (k->flags & CF_SECRET)
                fail(p, line, "invalid item in %s: %s", k->key, why);
            else
                fail(p, line, "invalid item '%s' in %s: %s", shown(items[n - 1], b, sizeof(b)),
                     k->key, why);
            goto out;
        }
        s = *e ? e + 1 : e;
        if (*e && !*s) {
            fail(p, line, "empty item in %s", k->key);
            goto out;
        }
    }
    if ((int64_t)n < k->min) {
        fail(p, line, "%s needs at least %" PRId64 " item%s", k->key, k->min,
             k->min == 1 ? "" : "s");
        goto out;
    }
    rc = store_list(p, k, base, items, n, line);
out:
    free_items(items, n);
    return rc;
}

/* Parses v by the row's grammar and stores it. The field is known to be unset. */
static int set_value(struct parser *p, const struct cfg_key *k, void *base, const char *v,
                     unsigned line)
{
    int64_t n;
    int b;
    const char *why;

    if (k->type != CT_LIST && has_control(v))
        return bad_value(p, k, v, line, "contains a control character");
    switch (k->type) {
    case CT_STRING:
        if (k->check && (why = k->check(v)) != NULL)
            return bad_value(p, k, v, line, why);
        return store_string(p, k, base, v, line);
    case CT_INT:
        if (parse_int(v, &n))
            return bad_value(p, k, v, line, "expected an integer");
        return store_number(p, k, base, v, n, line);
    case CT_SIZE:
        if (parse_size(v, &n))
            return bad_value(p, k, v, line, "expected a size like 1M");
        return store_number(p, k, base, v, n, line);
    case CT_DURATION:
        if (parse_duration(v, k->bare, &n))
            return bad_value(p, k, v, line, "expected a duration like 10s");
        return store_number(p, k, base, v, n, line);
    case CT_BOOL:
        if (parse_bool(v, &b))
            return bad_value(p, k, v, line, "expected yes or no");
        *(int *)at(base, k->off) = b;
        return 0;
    case CT_ENUM:
    case CT_CONNECTOR: {
        if (k->check && (why = k->check(v)) != NULL)
            return bad_value(p, k, v, line, why);
        int i = k->type == CT_ENUM ? find_value(k->values, v) : cx_lookup(v) ? 0 : -1;
        if (i < 0) {
            char list[160], exp[192];
            join_choices(k, ", ", list, sizeof(list));
            snprintf(exp, sizeof(exp), "expected one of %s", list);
            return bad_value(p, k, v, line, exp);
        }
        if (k->store == CS_AUTH) {
            *(enum cx_form_auth *)at(base, k->off) = (enum cx_form_auth)i;
            return 0;
        }
        return store_string(p, k, base, k->type == CT_ENUM ? k->values[i] : v, line);
    }
    case CT_HOSTPORT:
    case CT_REDIS: {
        const char *h;
        size_t hl;
        int port;
        if (k->type == CT_REDIS && strncmp(v, "unix:", 5) == 0) {
            const char *path = v + 5;
            if (path[0] != '/' || strlen(path) > CFG_UNIX_PATH_MAX)
                return bad_value(p, k, v, line, "expected unix:/absolute/path.sock");
            char *copy = strdup(path);
            if (!copy)
                return out_of_memory(p, line);
            *(char **)at(base, k->off3) = copy;
            return 0;
        }
        if (k->type == CT_REDIS && strncmp(v, "redis://", 8) == 0) {
            /* CT_REDIS is a [journeyd] key only: base is the struct cfg. */
            struct cfg *c = base;
            struct cfg_redis_url u;
            /* Never quoted: whatever follows redis:// may be a password. */
            if ((why = cfg_parse_redis_url(v, &u)) != NULL)
                return fail(p, line, "invalid value for %s: %s", k->key, why);
            char *host = strdup(u.host), *user = u.user[0] ? strdup(u.user) : NULL;
            if (!host || (u.user[0] && !user)) {
                free(host);
                free(user);
                return out_of_memory(p, line);
            }
            *(char **)at(base, k->off) = host;
            *(int *)at(base, k->off2) = u.port;
            c->redis_user = user;
            c->redis_db = u.db;
            return 0;
        }
        if ((why = parse_hostport(v, &h, &hl, &port)) != NULL) {
            if (k->type == CT_REDIS && strchr(v, '@')) /* a mistyped URL with a password */
                return fail(p, line,
                            "invalid value for %s: expected host:port, unix:/path or "
                            "redis://[user@]host[:port][/db]",
                            k->key);
            return bad_value(
                p, k, v, line,
                k->type == CT_REDIS
                    ? "expected host:port, unix:/path or redis://[user@]host[:port][/db]"
                    : why);
        }
        char *host = strndup(h, hl);
        if (!host)
            return out_of_memory(p, line);
        *(char **)at(base, k->off) = host;
        *(int *)at(base, k->off2) = port;
        return 0;
    }
    case CT_LIST:
        return set_list(p, k, base, v, line);
    }
    return fail(p, line, "internal: %s has no type", k->key);
}

/* 0, -1 with why filled, or -2 when the file holds more than cap bytes. *mode is the
 * mode of the descriptor read, so what is judged by it is what was read (no TOCTOU). */
static int read_file(const char *path, size_t cap, char **out, size_t *outlen, mode_t *mode,
                     char *why, size_t whysz)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;
    /* O_NONBLOCK so a FIFO given by mistake is refused below instead of hanging startup. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whysz, "not a regular file");
        goto fail;
    }
    /* Read one byte past the cap rather than trust st_size: the file may be growing. */
    buf = malloc(cap + 2);
    if (!buf) {
        snprintf(why, whysz, "out of memory");
        goto fail;
    }
    while (len <= cap) {
        ssize_t r = read(fd, buf + len, cap + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whysz, "%s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > cap) {
        snprintf(why, whysz, "too large");
        rc = -2;
        goto fail;
    }
    buf[len] = '\0';
    close(fd);
    *out = buf;
    *outlen = len;
    *mode = st.st_mode;
    return 0;
fail:
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    close(fd);
    return rc;
}

/* A secret others can read is worth a warning, not a refusal: an operator may have meant
 * it (a single-user host), and refusing would turn a chmod slip into an outage at reload.
 * The line names the file and the key, never the value. */
static void warn_readable(const char *what, const char *file, const char *key, unsigned line)
{
    char q[160];
    jlog(JLOG_WARNING, "msg=\"%s\" file=\"%s\" key=%s config_line=%u", what,
         jlog_quote(file, strlen(file), q, sizeof(q)), key, line);
}

static int read_value_file(struct parser *p, const struct cfg_key *k, const char *path,
                           unsigned line, char **out)
{
    char full[PATH_MAX], b[96], why[96];
    const char *cred = getenv("CREDENTIALS_DIRECTORY");
    const char *slash = strrchr(p->name, '/');
    size_t len;
    mode_t mode;
    int w;

    if (!*path)
        return fail(p, line, "%s_file needs a path", k->key);
    if (path[0] == '/')
        w = snprintf(full, sizeof(full), "%s", path);
    else if (cred && *cred) /* systemd LoadCredential= */
        w = snprintf(full, sizeof(full), "%s/%s", cred, path);
    else if (slash)
        w = snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - p->name), p->name, path);
    else
        w = snprintf(full, sizeof(full), "%s", path);
    if (w < 0 || (size_t)w >= sizeof(full))
        return fail(p, line, "path of %s_file is too long", k->key);
    int rc = read_file(full, CFG_VALUE_FILE_MAX, out, &len, &mode, why, sizeof(why));
    if (rc == -2)
        return fail(p, line, "%s_file '%s' is larger than 64 KiB", k->key,
                    shown(full, b, sizeof(b)));
    if (rc)
        return fail(p, line, "cannot read %s_file '%s': %s", k->key, shown(full, b, sizeof(b)),
                    why);
    if (memchr(*out, '\0', len)) {
        explicit_bzero(*out, len);
        free(*out);
        *out = NULL;
        return fail(p, line, "%s_file '%s' contains a NUL byte", k->key, shown(full, b, sizeof(b)));
    }
    if ((k->flags & CF_SECRET) && (mode & S_IWOTH)) {
        wipe_free(*out);
        *out = NULL;
        return fail(p, line,
                    "%s_file '%s' is writable by others (anyone on the host could replace it)",
                    k->key, shown(full, b, sizeof(b)));
    }
    if ((k->flags & CF_SECRET) && (mode & S_IROTH))
        warn_readable("secret file readable by others", full, k->key, line);
    /* Editors end files with a newline; the value does not include it. */
    if (len > 0 && (*out)[len - 1] == '\n')
        (*out)[--len] = '\0';
    if (len > 0 && (*out)[len - 1] == '\r')
        (*out)[--len] = '\0';
    return 0;
}

static int read_value_env(struct parser *p, const struct cfg_key *k, const char *v, unsigned line,
                          char **out)
{
    const char *name = v + 4;
    char b[48];
    if (!*name || cfg_is_digit((unsigned char)*name) || !cfg_all_of(name, "_"))
        return fail(p, line, "invalid environment variable name '%s' for %s",
                    shown(name, b, sizeof(b)), k->key);
    const char *e = getenv(name);
    if (!e)
        return fail(p, line, "environment variable %s (for %s) is not set", name, k->key);
    if (strlen(e) > CFG_VALUE_FILE_MAX)
        return fail(p, line, "environment variable %s (for %s) is longer than 64 KiB", name,
                    k->key);
    *out = strdup(e);
    if (!*out)
        return out_of_memory(p, line);
    return 0;
}

static const char *section_label(const struct parser *p, char *out, size_t outsz)
{
    if (p->in == IN_MAIN)
        snprintf(out, outsz, "[journeyd]");
    else if (p->in == IN_SLA)
        snprintf(out, outsz, "[sla]");
    else if (p->in == IN_CHANNELS)
        snprintf(out, outsz, "[channels]");
    else if (p->in == IN_CAMPAIGNS)
        snprintf(out, outsz, "[campaigns]");
    else if (p->in == IN_DEST)
        snprintf(out, outsz, "[destination %s]", p->dst->name);
    else
        snprintf(out, outsz, "[source %s]", p->src->name);
    return out;
}

/* medium.<value> = <channel> or source.<value> = <channel> in [channels]: appended in
 * file order, which is the order cx_touch_channel consults them. The channel is taken
 * literally (no _file, no env:): it is a short name, never a secret. */
static int set_channel_rule(struct parser *p, const char *key, const char *val, unsigned line)
{
    struct cfg *c = p->c;
    const char *dot = strchr(key, '.');
    const char *value = dot + 1, *why;
    enum cx_channel_on on = key[0] == 'm' ? CX_CHANNEL_ON_MEDIUM : CX_CHANNEL_ON_SOURCE;
    char b[48];

    if ((why = cfg_check_channel_value(value)) != NULL)
        return fail(p, line, "invalid rule '%s': after '%.*s.' %s", key, (int)(dot - key), key,
                    why);
    if ((why = cfg_check_channel_name(val)) != NULL)
        return fail(p, line, "invalid channel '%s' for %s: %s", shown(val, b, sizeof(b)), key, why);
    /* utm values match case-insensitively, so these two could never both apply. */
    for (size_t i = 0; i < c->nchannel_rules; i++)
        if (c->channel_rules[i].on == on && strcasecmp(c->channel_rules[i].value, value) == 0)
            return fail(p, line, "duplicate rule '%s' (first at line %u)", key, p->rule_line[i]);
    if (c->nchannel_rules == CX_CHANNEL_RULES_MAX)
        return fail(p, line, "more than %d channel rules", CX_CHANNEL_RULES_MAX);
    struct cx_channel_rule *r = &c->channel_rules[c->nchannel_rules];
    r->on = on;
    /* Both fit: the checks above bound them below the fields' sizes. */
    memcpy(r->value, value, strlen(value) + 1);
    memcpy(r->channel, val, strlen(val) + 1);
    p->rule_line[c->nchannel_rules++] = line;
    return 0;
}

const char *cfg_campaign_name(const void *cfg, const char *platform, const char *id)
{
    const struct cfg *c = cfg;
    for (size_t i = 0; c && platform && id && i < c->ncampaigns; i++)
        if (strcmp(c->campaigns[i].id, id) == 0 && strcmp(c->campaigns[i].platform, platform) == 0)
            return c->campaigns[i].name;
    return NULL;
}

/* <platform>:<id> = <name> in [campaigns]. Taken literally (no _file, no env:): a campaign
 * name is no secret. Kept in file order; a key given twice is an error, like any key. */
static int set_campaign(struct parser *p, const char *key, const char *val, unsigned line)
{
    struct cfg *c = p->c;
    const char *colon = strchr(key, ':'), *why;
    char platform[64], b[48];
    size_t plen = colon ? (size_t)(colon - key) : 0;

    if (!colon || plen >= sizeof(platform))
        return fail(p, line, "invalid key '%s' in [campaigns]: expected <platform>:<id>",
                    shown(key, b, sizeof(b)));
    memcpy(platform, key, plen);
    platform[plen] = '\0';
    if ((why = cfg_check_campaign_platform(platform)) != NULL ||
        (why = cfg_check_campaign_id(colon + 1)) != NULL)
        return fail(p, line, "invalid key '%s' in [campaigns]: %s", shown(key, b, sizeof(b)), why);
    if ((why = cfg_check_campaign_name(val)) != NULL)
        return fail(p, line, "invalid campaign name for %s: %s", shown(key, b, sizeof(b)), why);
    for (size_t i = 0; i < c->ncampaigns; i++)
        if (strcmp(c->campaigns[i].platform, platform) == 0 &&
            strcmp(c->campaigns[i].id, colon + 1) == 0)
            return fail(p, line, "duplicate key '%s' in [campaigns] (first at line %u)", key,
                        c->campaigns[i].line);
    if (c->ncampaigns == CFG_MAX_CAMPAIGNS)
        return fail(p, line, "more than %d campaigns in [campaigns]", CFG_MAX_CAMPAIGNS);
    if (c->ncampaigns == c->capcampaigns) {
        size_t cap = c->capcampaigns ? c->capcampaigns * 2 : 16;
        struct cfg_campaign *v = realloc(c->campaigns, cap * sizeof(*v));
        if (!v)
            return out_of_memory(p, line);
        c->campaigns = v;
        c->capcampaigns = cap;
    }
    struct cfg_campaign *e = &c->campaigns[c->ncampaigns++];
    /* All fit: the checks above bound them below the fields' sizes. */
    memcpy(e->platform, platform, plen + 1);
    memcpy(e->id, colon + 1, strlen(colon + 1) + 1);
    memcpy(e->name, val, strlen(val) + 1);
    e->line = line;
    return 0;
}

static int set_key(struct parser *p, char *key, const char *val, unsigned line)
{
    if (p->in == IN_CAMPAIGNS)
        return set_campaign(p, key, val, line);
    if (p->in == IN_CHANNELS &&
        (strncmp(key, "medium.", 7) == 0 || strncmp(key, "source.", 7) == 0))
        return set_channel_rule(p, key, val, line);
    const struct cfg_key *tab = p->in == IN_MAIN       ? cfg_main_keys
                                : p->in == IN_SLA      ? cfg_sla_keys
                                : p->in == IN_CHANNELS ? cfg_channel_keys
                                : p->in == IN_DEST     ? cfg_destination_keys
                                                       : cfg_source_keys;
    size_t ntab = p->in == IN_MAIN       ? cfg_nmain_keys
                  : p->in == IN_SLA      ? cfg_nsla_keys
                  : p->in == IN_CHANNELS ? cfg_nchannel_keys
                  : p->in == IN_DEST     ? cfg_ndestination_keys
                                         : cfg_nsource_keys;
    unsigned *seen = p->in == IN_MAIN       ? p->main_seen
                     : p->in == IN_SLA      ? p->sla_seen
                     : p->in == IN_CHANNELS ? p->channels_seen
                     : p->in == IN_DEST     ? p->dst_seen
                                            : p->src_seen;
    unsigned char *seen_file = p->in == IN_MAIN       ? p->main_file
                               : p->in == IN_SLA      ? p->sla_file
                               : p->in == IN_CHANNELS ? p->channels_file
                               : p->in == IN_DEST     ? p->dst_file
                                                      : p->src_file;
    void *base = p->in == IN_SOURCE ? (void *)p->src
                 : p->in == IN_DEST ? (void *)p->dst
                                    : (void *)p->c;
    const struct cfg_key *k = find_key(tab, ntab, key);
    size_t klen = strlen(key);
    int from_file = 0, rc;
    char label[96], *resolved = NULL;

    if (!k && klen > 5 && strcmp(key + klen - 5, "_file") == 0) {
        key[klen - 5] = '\0';
        k = find_key(tab, ntab, key);
        key[klen - 5] = '_';
        from_file = 1;
    }
    if (!k)
        return fail(p, line, "unknown key '%s' in %s", key, section_label(p, label, sizeof(label)));
    size_t i = (size_t)(k - tab);
    if (seen[i] && seen_file[i] != from_file)
        return fail(p, line, "both '%s' and '%s_file' given (first at line %u)", k->key, k->key,
                    seen[i]);
    if (seen[i])
        return fail(p, line, "duplicate key '%s' in %s (first at line %u)", key,
                    section_label(p, label, sizeof(label)), seen[i]);
    seen[i] = line;
    seen_file[i] = (unsigned char)from_file;

    if (from_file) {
        if (read_value_file(p, k, val, line, &resolved))
            return -1;
        val = resolved;
    } else if (strncmp(val, "env:", 4) == 0 && (k->type != CT_LIST || !strchr(val, ','))) {
        /* The whole value from one variable (a list's items then split from it). A list of
         * several items resolves each env: item by itself instead (set_list): "secret =
         * env:STRIPE_SECRET, whsec_old" is the rotation the docs show. */
        if (read_value_env(p, k, val, line, &resolved))
            return -1;
        val = resolved;
    } else if ((k->flags & CF_SECRET) && *val && (p->mode & S_IROTH)) {
        warn_readable("config file readable by others holds a secret (use a _file or env: value)",
                      p->name, k->key, line);
    }
    p->literal_list = !from_file && !resolved;
    rc = set_value(p, k, base, val, line);
    p->literal_list = 0;
    wipe_free(resolved);
    return rc;
}

static int apply_defaults(struct parser *p, const struct cfg_key *tab, size_t n,
                          const unsigned *seen, void *base, unsigned line)
{
    for (size_t i = 0; i < n; i++)
        if (!seen[i] && tab[i].def && set_value(p, &tab[i], base, tab[i].def, line))
            return -1;
    return 0;
}

/* Whether a source has a usable value for the key (a required one). */
static int has_value(const struct cfg_source *s, const char *key)
{
    const struct cfg_key *k = find_key(cfg_source_keys, cfg_nsource_keys, key);
    const char *base = (const char *)s;
    if (!k)
        return 0;
    switch (k->store) {
    case CS_STR:
    case CS_JOINED: {
        const char *v = *(char *const *)(base + k->off);
        return v && *v;
    }
    case CS_PACKED:
        return *(const size_t *)(base + k->off3) > 0;
    case CS_STRV:
        return *(const size_t *)(base + k->off2) > 0;
    default:
        return 1;
    }
}

static int end_source(struct parser *p)
{
    struct cfg_source *s = p->src;
    unsigned sl = p->src_line[s - p->c->sources];

    p->src = NULL;
    p->in = IN_NONE;
    if (apply_defaults(p, cfg_source_keys, cfg_nsource_keys, p->src_seen, s, sl))
        return -1;
    if (!s->type)
        return fail(p, sl, "[source %s] needs 'type'", s->name);
    int is_form = strcmp(s->type, "form") == 0;
    for (size_t i = 0; i < cfg_nsource_keys; i++)
        if ((cfg_source_keys[i].flags & CF_FORM_ONLY) && p->src_seen[i] && !is_form)
            return fail(p, p->src_seen[i], "'%s' applies only to sources of type form",
                        cfg_source_keys[i].key);
    /* What a type needs is its connector's to say; the type row let only registered
     * types through. */
    const struct cx_connector *cx = cx_lookup(s->type);
    const char *const *needs = cx ? cx->needs : NULL;
    if (cx && cx->needs_origin && s->cx.auth == CX_AUTH_ORIGIN)
        needs = cx->needs_origin;
    for (size_t i = 0; needs && needs[i]; i++)
        if (!has_value(s, needs[i]))
            return fail(p, sl, "[source %s] needs '%s'", s->name, needs[i]);
    /* Said at load time: a reconcile that could never read anything would only fail in
     * the background, once per interval. */
    if (s->reconcile_ms > 0 && !cx_list_supported(s->type))
        return fail(p, sl,
                    "[source %s] 'reconcile' is not available for type %s (stripe, shopify, "
                    "meta_leads, pipedrive, hubspot)",
                    s->name, s->type);
    if (s->reconcile_ms > 0 && !has_value(s, "api_token"))
        return fail(p, sl, "[source %s] 'reconcile' needs 'api_token'", s->name);
    if (s->reconcile_ms > 0 && strcmp(s->type, "meta_leads") == 0 && !has_value(s, "forms"))
        return fail(p, sl, "[source %s] 'reconcile' needs 'forms' (the lead form ids to read)",
                    s->name);
    if (s->forms && strcmp(s->type, "meta_leads") != 0)
        return fail(p, sl, "[source %s] 'forms' applies only to sources of type meta_leads",
                    s->name);
    if (s->reconcile_ms > 0 && strcmp(s->type, "shopify") == 0 && !has_value(s, "api_base"))
        return fail(p, sl,
                    "[source %s] 'reconcile' needs 'api_base' (https://<shop>.myshopify.com)",
                    s->name);
    return 0;
}

/* The destination types' view, built once the section is complete. */
static void fill_dst_view(struct cfg_destination *d)
{
    d->dst = (struct dst_config){
        .name = d->name,
        .type = d->type,
        .api_base = d->api_base,
        .url = d->url,
        .secret = d->secret,
        .access_token = d->access_token,
        .pixel_id = d->pixel_id,
        .customer_id = d->customer_id,
        .conversion_action = d->conversion_action,
        .service_account = d->service_account,
        .token_url = d->token_url,
        .stages = d->stages,
        .dashboard_url = d->dashboard_url,
        .test_event_code = d->test_event_code,
        .events = (const char *const *)d->events,
        .nevents = d->nevents,
        .dry_run = d->dry_run,
        .allow_private = d->allow_private,
    };
}

static int end_destination(struct parser *p)
{
    struct cfg_destination *d = p->dst;
    unsigned dl = p->dst_line[d - p->c->destinations];
    char why[DST_WHY_MAX];

    p->dst = NULL;
    p->in = IN_NONE;
    if (apply_defaults(p, cfg_destination_keys, cfg_ndestination_keys, p->dst_seen, d, dl))
        return -1;
    const struct dst_type *t = d->type ? dst_lookup(d->type) : NULL;
    if (!t)
        return fail(p, dl, "[destination %s] needs 'type'", d->name);
    fill_dst_view(d);
    for (size_t i = 0; t->needs && t->needs[i]; i++) {
        const struct cfg_key *k =
            find_key(cfg_destination_keys, cfg_ndestination_keys, t->needs[i]);
        const char *v = k && k->store == CS_STR ? *(char *const *)((const char *)d + k->off) : NULL;
        if (!v || !*v)
            return fail(p, dl, "[destination %s] needs '%s'", d->name, t->needs[i]);
    }
    if (t->check && t->check(&d->dst, why, sizeof(why)) != 0)
        return fail(p, dl, "[destination %s]: %s", d->name, why);
    /* Only https:// leaves for the internet; http:// is for tests and on-premises receivers
     * that the operator lets through on purpose. */
    const char *urls[] = {d->url, d->api_base, d->token_url};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
        if (urls[i] && !d->allow_private && strncmp(urls[i], "https://", 8) != 0)
            return fail(p, dl, "[destination %s]: only https:// URLs without allow_private = yes",
                        d->name);
    return 0;
}

static int valid_source_name(const char *name)
{
    size_t n = strlen(name);
    /* "." and ".." would make /hooks/. and /hooks/.., which clients rewrite. */
    if (n == 0 || n > CFG_SOURCE_NAME_MAX || strspn(name, ".") == n)
        return 0;
    return cfg_all_of(name, "_.-");
}

static int parse_header(struct parser *p, char *s, unsigned line)
{
    char *end = strchr(s, ']');
    char b[48];
    if (!end)
        return fail(p, line, "missing ']' in section header");
    if (*trim(end + 1))
        return fail(p, line, "unexpected text after ']'");
    *end = '\0';
    char *inner = trim(s + 1);

    if (p->in == IN_SOURCE && end_source(p))
        return -1;
    if (p->in == IN_DEST && end_destination(p))
        return -1;
    p->in = IN_NONE;
    if (strcmp(inner, "journeyd") == 0) {
        if (p->main_line)
            return fail(p, line, "duplicate section [journeyd] (first at line %u)", p->main_line);
        p->main_line = line;
        p->in = IN_MAIN;
        return 0;
    }
    if (strcmp(inner, "sla") == 0) {
        if (p->sla_line)
            return fail(p, line, "duplicate section [sla] (first at line %u)", p->sla_line);
        p->sla_line = line;
        p->in = IN_SLA;
        return 0;
    }
    if (strcmp(inner, "campaigns") == 0) {
        if (p->campaigns_line)
            return fail(p, line, "duplicate section [campaigns] (first at line %u)",
                        p->campaigns_line);
        p->campaigns_line = line;
        p->in = IN_CAMPAIGNS;
        return 0;
    }
    if (strcmp(inner, "channels") == 0) {
        if (p->channels_line)
            return fail(p, line, "duplicate section [channels] (first at line %u)",
                        p->channels_line);
        p->channels_line = line;
        p->in = IN_CHANNELS;
        return 0;
    }
    if (strncmp(inner, "destination", 11) == 0 &&
        (!inner[11] || cfg_is_space((unsigned char)inner[11]))) {
        const char *dname = trim(inner + 11);
        if (!valid_source_name(dname))
            return fail(p, line,
                        "invalid destination name '%s': expected 1-63 of A-Z a-z 0-9 _ . -",
                        shown(dname, b, sizeof(b)));
        for (size_t i = 0; i < p->c->ndestinations; i++)
            if (strcmp(p->c->destinations[i].name, dname) == 0)
                return fail(p, line, "duplicate destination '%s' (first at line %u)", dname,
                            p->dst_line[i]);
        if (p->c->ndestinations == CFG_MAX_DESTINATIONS)
            return fail(p, line, "more than %d destinations", CFG_MAX_DESTINATIONS);
        struct cfg_destination *d = &p->c->destinations[p->c->ndestinations];
        d->name = strdup(dname);
        if (!d->name)
            return out_of_memory(p, line);
        p->dst_line[p->c->ndestinations++] = line;
        p->dst = d;
        p->in = IN_DEST;
        memset(p->dst_seen, 0, sizeof(p->dst_seen));
        memset(p->dst_file, 0, sizeof(p->dst_file));
        return 0;
    }
    if (strncmp(inner, "source", 6) != 0 || (inner[6] && !cfg_is_space((unsigned char)inner[6])))
        return fail(p, line, "unknown section [%s]", shown(inner, b, sizeof(b)));
    const char *name = trim(inner + 6);
    if (!*name)
        return fail(p, line, "section [source] needs a name: [source <name>]");
    if (!valid_source_name(name))
        return fail(p, line, "invalid source name '%s': expected 1-63 of A-Z a-z 0-9 _ . -",
                    shown(name, b, sizeof(b)));
    for (size_t i = 0; i < p->c->nsources; i++)
        if (strcmp(p->c->sources[i].name, name) == 0)
            return fail(p, line, "duplicate source '%s' (first at line %u)", name, p->src_line[i]);
    if (p->c->nsources == CFG_MAX_SOURCES)
        return fail(p, line, "more than %d sources", CFG_MAX_SOURCES);
    struct cfg_source *src = &p->c->sources[p->c->nsources];
    src->name = strdup(name);
    if (!src->name)
        return out_of_memory(p, line);
    p->src_line[p->c->nsources] = line;
    p->c->nsources++;
    p->src = src;
    p->in = IN_SOURCE;
    memset(p->src_seen, 0, sizeof(p->src_seen));
    memset(p->src_file, 0, sizeof(p->src_file));
    return 0;
}

/* ';' and '#' start a comment at the start of a line or after whitespace, so values such
 * as "#ff0000" or "a;b" survive. */
static void strip_comment(char *s)
{
    for (char *q = s; *q; q++) {
        if ((*q == ';' || *q == '#') && (q == s || cfg_is_space((unsigned char)q[-1]))) {
            *q = '\0';
            return;
        }
    }
}

static int parse_line(struct parser *p, char *s, unsigned line)
{
    char b[48];
    strip_comment(s);
    s = trim(s);
    if (!*s)
        return 0;
    if (*s == '[')
        return parse_header(p, s, line);
    char *eq = strchr(s, '=');
    if (!eq)
        return fail(p, line, "expected 'key = value' or a [section] header");
    *eq = '\0';
    char *key = trim(s);
    const char *val = trim(eq + 1);
    if (p->in == IN_CAMPAIGNS && *key && strlen(key) < CFG_KEY_NAME_MAX + CFG_CAMPAIGN_ID_MAX &&
        cfg_all_of(key, "_.-:"))
        return set_key(p, key, val, line); /* <platform>:<id>: set_campaign checks it */
    if (!*key || strlen(key) > CFG_KEY_NAME_MAX || !cfg_all_of(key, "_.-"))
        return fail(p, line, "invalid key '%s'", shown(key, b, sizeof(b)));
    if (p->in == IN_NONE)
        return fail(p, line, "key '%s' outside any section", key);
    return set_key(p, key, val, line);
}

static int finish(struct parser *p)
{
    struct cfg *c = p->c;
    if (p->in == IN_SOURCE && end_source(p))
        return -1;
    if (p->in == IN_DEST && end_destination(p))
        return -1;
    if (apply_defaults(p, cfg_main_keys, cfg_nmain_keys, p->main_seen, c, p->main_line))
        return -1;
    /* Without a password the user would never be sent: journeyd would quietly run as
     * Redis's default user instead of the one named. */
    if (c->redis_user && !c->redis_password)
        return fail(p, p->main_line, "redis names user '%s' but redis_password is not set",
                    c->redis_user);
    if (apply_defaults(p, cfg_sla_keys, cfg_nsla_keys, p->sla_seen, c, p->sla_line))
        return -1;
    if (apply_defaults(p, cfg_channel_keys, cfg_nchannel_keys, p->channels_seen, c,
                       p->channels_line))
        return -1;
    for (size_t i = 0; i < CX_CHL_COUNT; i++) {
        c->channels.lists[i].v = (const char *const *)c->channel_lists[i];
        c->channels.lists[i].n = c->nchannel_lists[i];
    }
    c->channels.rules = c->channel_rules;
    c->channels.nrules = c->nchannel_rules;
    /* Checked with their prefix (check_api_token); kept without it, beside their scope. */
    for (size_t i = 0; i < c->napi_tokens; i++) {
        const char *token = cfg_split_scope(c->api_tokens[i], &c->api_token_scopes[i]);
        memmove(c->api_tokens[i], token, strlen(token) + 1);
    }
    /* The view is built last: [journeyd] may come after the sources. */
    for (size_t i = 0; i < c->nsources; i++) {
        struct cfg_source *s = &c->sources[i];
        s->cx.name = s->name;
        s->cx.type = s->type;
        s->cx.verify_token = s->verify_token;
        s->cx.username = s->username;
        s->cx.password = s->password;
        s->cx.public_url = s->public_url;
        s->cx.api_token = s->api_token;
        s->cx.api_base = s->api_base;
        s->cx.stages = s->stages;
        s->cx.graph_version = s->graph_version;
        s->cx.forms = s->forms;
        s->cx.allow_origins = s->allow_origins;
        s->cx.default_country_code = c->default_country_code;
        s->cx.channels = &c->channels;
        s->cx.campaign_name = cfg_campaign_name;
        s->cx.campaign_ctx = c;
    }
    return 0;
}

/* mode: the file's, for the warnings about secrets others can read (0: none). */
static struct cfg *parse(const char *text, size_t len, const char *name, mode_t mode,
                         struct cfg_err *err)
{
    struct cfg_err scratch = {{0}};
    struct parser p;
    char line[CFG_LINE_MAX + 1];
    size_t pos = 0;
    unsigned lineno = 0;
    int rc = 0;

    memset(&p, 0, sizeof(p));
    p.err = err ? err : &scratch;
    p.err->msg[0] = '\0';
    p.name = name ? name : "(config)";
    p.mode = mode;
    if (!text && len) {
        fail(&p, 0, "no text");
        return NULL;
    }
    if (len > CFG_FILE_MAX) {
        fail(&p, 0, "file is larger than 1 MiB");
        return NULL;
    }
    p.c = calloc(1, sizeof(*p.c));
    if (!p.c) {
        fail(&p, 0, "out of memory");
        return NULL;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (rc == 0 && pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (n > CFG_LINE_MAX)
            rc = fail(&p, lineno, "line is longer than %d bytes", CFG_LINE_MAX);
        else if (memchr(start, '\0', n))
            rc = fail(&p, lineno, "line contains a NUL byte");
        else {
            memcpy(line, start, n);
            line[n] = '\0';
            rc = parse_line(&p, line, lineno);
        }
    }
    if (rc == 0)
        rc = finish(&p);
    /* Lines may have held secrets. */
    explicit_bzero(line, sizeof(line));
    if (rc) {
        cfg_free(p.c);
        return NULL;
    }
    return p.c;
}

struct cfg *cfg_parse(const char *text, size_t len, const char *name, struct cfg_err *err)
{
    return parse(text, len, name, 0, err);
}

struct cfg *cfg_load(const char *path, struct cfg_err *err)
{
    struct cfg_err scratch = {{0}};
    char *text = NULL;
    size_t len = 0;
    char why[96];
    mode_t mode = 0;
    struct cfg *c;

    if (!err)
        err = &scratch;
    if (!path) {
        snprintf(err->msg, sizeof(err->msg), "(config): no path");
        return NULL;
    }
    int rc = read_file(path, CFG_FILE_MAX, &text, &len, &mode, why, sizeof(why));
    if (rc == -2) {
        snprintf(err->msg, sizeof(err->msg), "%s: file is larger than 1 MiB", path);
        return NULL;
    }
    if (rc) {
        snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path, why);
        return NULL;
    }
    c = parse(text, len, path, mode, err);
    explicit_bzero(text, len);
    free(text);
    return c;
}

static void free_fields(const struct cfg_key *tab, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_key *k = &tab[i];
        switch (k->store) {
        case CS_STR:
        case CS_JOINED:
        case CS_HOSTPORT:
            wipe_free(*(char **)at(base, k->off));
            *(char **)at(base, k->off) = NULL;
            break;
        case CS_REDIS:
            wipe_free(*(char **)at(base, k->off));
            wipe_free(*(char **)at(base, k->off3));
            wipe_free(((struct cfg *)base)->redis_user); /* CS_REDIS: [journeyd] only */
            ((struct cfg *)base)->redis_user = NULL;
            *(char **)at(base, k->off) = NULL;
            *(char **)at(base, k->off3) = NULL;
            break;
        case CS_STRV: {
            char **arr = at(base, k->off);
            size_t *cnt = at(base, k->off2);
            for (size_t j = 0; j < *cnt; j++) {
                wipe_free(arr[j]);
                arr[j] = NULL;
            }
            *cnt = 0;
            break;
        }
        case CS_PACKED: {
            char *buf = *(char **)at(base, k->off);
            const char **ptrs = at(base, k->off2);
            size_t *cnt = at(base, k->off3);
            size_t total = 0;
            /* The items are contiguous, so the last one ends the buffer. */
            if (buf && *cnt > 0)
                total = (size_t)(ptrs[*cnt - 1] - buf) + strlen(ptrs[*cnt - 1]) + 1;
            if (buf) {
                explicit_bzero(buf, total);
                free(buf);
            }
            for (size_t j = 0; j < *cnt; j++)
                ptrs[j] = NULL;
            *cnt = 0;
            *(char **)at(base, k->off) = NULL;
            break;
        }
        case CS_INT:
        case CS_I64:
        case CS_SIZE:
        case CS_AUTH:
            break;
        }
    }
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsources; i++) {
        free_fields(cfg_source_keys, cfg_nsource_keys, &c->sources[i]);
        wipe_free(c->sources[i].name);
    }
    for (size_t i = 0; i < c->ndestinations; i++) {
        free_fields(cfg_destination_keys, cfg_ndestination_keys, &c->destinations[i]);
        wipe_free(c->destinations[i].name);
    }
    free_fields(cfg_main_keys, cfg_nmain_keys, c);
    free_fields(cfg_sla_keys, cfg_nsla_keys, c);
    free_fields(cfg_channel_keys, cfg_nchannel_keys, c);
    free(c->campaigns);
    explicit_bzero(c, sizeof(*c));
    free(c);
}

static const void *at_const(const void *base, size_t off)
{
    return (const char *)base + off;
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static int strv_differs(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return 1;
    for (size_t i = 0; i < na; i++)
        if (str_differs(a[i], b[i]))
            return 1;
    return 0;
}

/* Whether the row's value differs between a and b (two configs, or two sources). */
static int value_differs(const struct cfg_key *k, const void *a, const void *b)
{
#define FIELD(T, base, off) (*(T const *)at_const(base, off))
    switch (k->store) {
    case CS_STR:
    case CS_JOINED:
        return str_differs(FIELD(char *, a, k->off), FIELD(char *, b, k->off));
    case CS_HOSTPORT:
        return str_differs(FIELD(char *, a, k->off), FIELD(char *, b, k->off)) ||
               FIELD(int, a, k->off2) != FIELD(int, b, k->off2);
    case CS_REDIS:
        return str_differs(FIELD(char *, a, k->off), FIELD(char *, b, k->off)) ||
               FIELD(int, a, k->off2) != FIELD(int, b, k->off2) ||
               str_differs(FIELD(char *, a, k->off3), FIELD(char *, b, k->off3)) ||
               str_differs(((const struct cfg *)a)->redis_user,
                           ((const struct cfg *)b)->redis_user) ||
               ((const struct cfg *)a)->redis_db != ((const struct cfg *)b)->redis_db;
    case CS_INT:
        return FIELD(int, a, k->off) != FIELD(int, b, k->off);
    case CS_I64:
        return FIELD(int64_t, a, k->off) != FIELD(int64_t, b, k->off);
    case CS_SIZE:
        return FIELD(size_t, a, k->off) != FIELD(size_t, b, k->off);
    case CS_AUTH:
        return FIELD(enum cx_form_auth, a, k->off) != FIELD(enum cx_form_auth, b, k->off);
    case CS_STRV:
        return strv_differs(at_const(a, k->off), FIELD(size_t, a, k->off2), at_const(b, k->off),
                            FIELD(size_t, b, k->off2));
    case CS_PACKED:
        return strv_differs(at_const(a, k->off2), FIELD(size_t, a, k->off3), at_const(b, k->off2),
                            FIELD(size_t, b, k->off3));
    }
#undef FIELD
    return 1;
}

/* Appends the names of the table's restart-only rows whose values differ; `where` is ""
 * or "[source <name>] ". */
static size_t note_restart_keys(const struct cfg_key *tab, size_t n, const void *a, const void *b,
                                const char *where, char *out, size_t cap, size_t *len)
{
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if ((tab[i].flags & CF_RELOADABLE) || !value_differs(&tab[i], a, b))
            continue;
        found++;
        if (*len < cap) {
            int w = snprintf(out + *len, cap - *len, "%s%s%s", *len ? ", " : "", where, tab[i].key);
            *len = w < 0 ? cap : *len + (size_t)w;
        }
    }
    return found;
}

size_t cfg_restart_changes(const struct cfg *old, const struct cfg *fresh, char *out, size_t cap)
{
    char where[96];
    size_t len = 0, found = 0;

    if (cap)
        out[0] = '\0';
    if (!old || !fresh)
        return 0;
    found += note_restart_keys(cfg_main_keys, cfg_nmain_keys, old, fresh, "", out, cap, &len);
    found += note_restart_keys(cfg_sla_keys, cfg_nsla_keys, old, fresh, "", out, cap, &len);
    found += note_restart_keys(cfg_channel_keys, cfg_nchannel_keys, old, fresh, "", out, cap, &len);
    /* A source added or removed is a reload's ordinary business; one kept by name is
     * compared row by row. */
    for (size_t i = 0; i < fresh->nsources; i++) {
        const struct cfg_source *was = cfg_find_source(old, fresh->sources[i].name);
        if (!was)
            continue;
        snprintf(where, sizeof(where), "[source %s] ", fresh->sources[i].name);
        found += note_restart_keys(cfg_source_keys, cfg_nsource_keys, was, &fresh->sources[i],
                                   where, out, cap, &len);
    }
    return found;
}

const struct cfg_destination *cfg_find_destination(const struct cfg *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->ndestinations; i++)
        if (strcmp(c->destinations[i].name, name) == 0)
            return &c->destinations[i];
    return NULL;
}

const struct cfg_source *cfg_find_source(const struct cfg *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->nsources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    return NULL;
}

static void describe_type(const struct cfg_key *k, char *out, size_t outsz)
{
    char lo[32], hi[32], list[160];
    switch (k->type) {
    case CT_STRING:
        snprintf(out, outsz, "string");
        return;
    case CT_INT:
        snprintf(out, outsz, "integer %" PRId64 "..%" PRId64, k->min, k->max);
        return;
    case CT_SIZE:
        fmt_size(k->min, lo, sizeof(lo));
        fmt_size(k->max, hi, sizeof(hi));
        snprintf(out, outsz, "size %s..%s", lo, hi);
        return;
    case CT_DURATION:
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        snprintf(out, outsz, "duration %s..%s (a bare number is in %s)", lo, hi,
                 k->bare == SEC   ? "seconds"
                 : k->bare == 1   ? "milliseconds"
                 : k->bare == DAY ? "days"
                                  : "minutes");
        return;
    case CT_BOOL:
        snprintf(out, outsz, "yes|no");
        return;
    case CT_LIST:
        if (k->values) {
            join_values(k->values, "|", list, sizeof(list));
            snprintf(out, outsz, "list of %s", list);
        } else {
            snprintf(out, outsz, "list, up to %zu", k->cap);
        }
        return;
    case CT_ENUM:
    case CT_CONNECTOR:
        join_choices(k, "|", list, sizeof(list));
        snprintf(out, outsz, "%s", list);
        return;
    case CT_HOSTPORT:
        snprintf(out, outsz, "host:port");
        return;
    case CT_REDIS:
        snprintf(out, outsz, "host:port | unix:/path");
        return;
    }
    snprintf(out, outsz, "?");
}

static void print_keys(FILE *out, const char *title, const struct cfg_key *tab, size_t n)
{
    fprintf(out, "\n%s\n", title);
    for (size_t i = 0; i < n; i++) {
        const struct cfg_key *k = &tab[i];
        char type[200];
        describe_type(k, type, sizeof(type));
        fprintf(out, "  %-22s %s\n", k->key, type);
        fprintf(out, "  %-22s default: %s%s%s%s\n", "",
                !k->def   ? "none"
                : *k->def ? k->def
                          : "\"\"",
                (k->flags & CF_SECRET) ? "; secret" : "",
                (k->flags & CF_RELOADABLE) ? "; reloadable" : "; restart to change",
                (k->flags & CF_FORM_ONLY) ? "; type form only" : "");
        fprintf(out, "  %-22s %s\n", "", k->doc);
    }
}

void cfg_print_reference(FILE *out)
{
    fputs("journeyd.conf keys (DESIGN §9)\n"
          "\n"
          "Lines are `key = value`; ';' or '#' at the start of a line or after a space starts\n"
          "a comment. Lists are comma-separated. Sizes take K, M, G (KiB, MiB, GiB); durations\n"
          "take ms, s, m, h, d. Any key also takes a _file suffix (key_file = path) to read its\n"
          "value from a file, relative paths resolved in $CREDENTIALS_DIRECTORY when set, else\n"
          "next to the config file; and a value env:NAME reads the environment variable NAME.\n"
          "SIGHUP reloads the file; a key marked \"restart to change\" is read at start only:\n"
          "if a reload changes it, a warning names it and the daemon keeps running with the\n"
          "value it started with until the next restart.\n",
          out);
    print_keys(out, "[journeyd]", cfg_main_keys, cfg_nmain_keys);
    print_keys(out, "[sla]", cfg_sla_keys, cfg_nsla_keys);
    print_keys(out, "[channels]  (DESIGN §6; values 1-63 of A-Z a-z 0-9 _ . -, any case)",
               cfg_channel_keys, cfg_nchannel_keys);
    fprintf(out,
            "  %-22s Your own rules (up to %d), consulted in the order written: after an\n"
            "  %-22s ad-platform lead and a click id, before the lists above. <ch>: 1-31 of\n"
            "  %-22s a-z 0-9 _ -. A list replaces its default; an empty one turns its rule\n"
            "  %-22s off. Reloadable; an event's channel is fixed when the worker applies it.\n",
            "medium.<value> = <ch>", CX_CHANNEL_RULES_MAX, "source.<value> = <ch>", "", "");
    fprintf(out,
            "\n[campaigns]  (names of ad-platform campaign ids; attribution by=campaign)\n"
            "  %-22s The name reports group the platform's campaign id under (up to %d):\n"
            "  %-22s a Google Ads lead form's campaign_id, a Meta lead's, a spend row's.\n"
            "  %-22s <platform>: the touch's (google, meta); <id>: 1-63 of A-Z a-z 0-9 _ . -;\n"
            "  %-22s <name>: 1-255 bytes. First before spend rows and look-ups. Reloadable.\n",
            "<platform>:<id> = <name>", CFG_MAX_CAMPAIGNS, "", "", "");
    print_keys(out, "[source <name>]  (name: 1-63 of A-Z a-z 0-9 _ . -)", cfg_source_keys,
               cfg_nsource_keys);
    print_keys(out, "[destination <name>]  (name: 1-63 of A-Z a-z 0-9 _ . -)", cfg_destination_keys,
               cfg_ndestination_keys);
    fputs("\nRequired per source type (each connector says what it needs):\n", out);
    const struct cfg_key *type_row = find_key(cfg_source_keys, cfg_nsource_keys, "type");
    const struct cx_connector *cx;
    for (size_t i = 0; (cx = cx_connector_at(i)) != NULL; i++) {
        char needs[160], origin[160];
        if (type_row->check && type_row->check(cx->type))
            continue;
        join_values(cx->needs ? cx->needs : (const char *const[]){"nothing", NULL}, ", ", needs,
                    sizeof(needs));
        if (!cx->needs_origin) {
            fprintf(out, "  %-22s %s\n", cx->type, needs);
            continue;
        }
        join_values(cx->needs_origin, ", ", origin, sizeof(origin));
        fprintf(out, "  %-22s %s (auth = hmac|token); %s (auth = origin)\n", cx->type, needs,
                origin);
    }
}
