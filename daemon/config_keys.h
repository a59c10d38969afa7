/*
 * Private to daemon/config*.c: the shape of one config key (struct cfg_key), the grammar
 * and storage enums, the _Generic-checked AT() offset, and the tables config_keys.c
 * defines and config.c's engine walks. Nothing outside the config includes it: the rest
 * of the daemon sees struct cfg (config.h) and never a row.
 */
#ifndef JD_CONFIG_KEYS_H
#define JD_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define CFG_MAX_KEYS 64  /* rows per table; config_keys.c asserts each table fits */
#define CFG_MAX_ITEMS 64 /* the largest list capacity of any row */

#define KIB INT64_C(1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define SEC INT64_C(1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* The grammar of a value. */
enum cfg_type {
    CT_STRING,
    CT_INT,
    CT_SIZE,     /* bytes; k/K/m/M/g/G, optional B or iB */
    CT_DURATION, /* ms s m h d; a bare number is in the row's `bare` unit */
    CT_BOOL,
    CT_LIST, /* comma-separated (and newline-separated when read from a file) */
    CT_ENUM,
    CT_HOSTPORT,
    CT_REDIS,     /* host:port or unix:/path */
    CT_CONNECTOR, /* a type in the connector registry (cx_lookup), unless `check` refuses it */
};

/* Where a parsed value lands, since one grammar can feed fields of different C types
 * (a list into an array, a joined string or a packed buffer). */
enum cfg_store {
    CS_STR,      /* char * at off */
    CS_INT,      /* int at off */
    CS_I64,      /* int64_t at off */
    CS_SIZE,     /* size_t at off */
    CS_STRV,     /* char *[cap] at off, size_t count at off2 */
    CS_JOINED,   /* char * at off: the items joined by "," */
    CS_PACKED,   /* char * at off holds the items NUL-separated, const char *[cap] at off2
                    points into it, size_t count at off3 (cx.secrets) */
    CS_HOSTPORT, /* char *host at off, int port at off2 */
    CS_REDIS,    /* char *host at off (NULL for unix), int port at off2, char *path at off3 */
    CS_AUTH,     /* enum cx_form_auth at off */
};

#define CF_SECRET 1u     /* never echoed in messages; wiped on free like every string */
#define CF_RELOADABLE 2u /* takes effect on SIGHUP; the others need a restart */
#define CF_FORM_ONLY 4u  /* meaningful only for sources of type form */

struct cfg_key {
    const char *key;
    enum cfg_type type;
    enum cfg_store store;
    size_t off, off2, off3;
    size_t cap;       /* CT_LIST: most items */
    int64_t min, max; /* CT_INT, CT_SIZE (bytes), CT_DURATION (ms); CT_LIST: fewest items */
    int64_t unit;     /* CT_DURATION: ms per unit of the stored field */
    int64_t bare;     /* CT_DURATION: ms per unit of a number written without one */
    const char *const *values;           /* CT_ENUM, and CT_LIST items when restricted */
    const char *(*check)(const char *v); /* extra rule; returns what was expected or NULL */
    unsigned flags;
    const char *def; /* parsed like a written value; NULL = unset */
    const char *doc;
};

/* offsetof that refuses to compile unless the member has type T, so a row can never write
 * an int64_t into a size_t or an int (negative array size on mismatch). */
#define AT(st, m, T)                                                                               \
    (offsetof(st, m) + 0 * sizeof(char[_Generic(&((st *)0)->m, T * : 1, default : -1)]))
#define IN_CFG(m, T) AT(struct cfg, m, T)
#define IN_SRC(m, T) AT(struct cfg_source, m, T)
#define IN_DST(m, T) AT(struct cfg_destination, m, T)

/* The tables, one per section kind, and their lengths. */
extern const struct cfg_key cfg_main_keys[];        /* [journeyd] */
extern const struct cfg_key cfg_sla_keys[];         /* [sla] */
extern const struct cfg_key cfg_source_keys[];      /* [source <name>] */
extern const struct cfg_key cfg_channel_keys[];     /* [channels], one row per list */
extern const struct cfg_key cfg_destination_keys[]; /* [destination <name>] */
extern const size_t cfg_nmain_keys, cfg_nsla_keys, cfg_nsource_keys, cfg_nchannel_keys;
extern const size_t cfg_ndestination_keys;

/* The two checks of a [channels] rule (medium.<value> = <channel>), which is parsed apart
 * from the rows; same contract as a row's check. */
const char *cfg_check_channel_value(const char *v);
/* An api_tokens item "read:<token>" (or write:, admin:): its scope and where the token
 * starts; an item without one of these prefixes is the whole token, scope admin. */
const char *cfg_split_scope(const char *item, enum cfg_scope *scope);
const char *cfg_check_channel_name(const char *v);
/* [campaigns] "<platform>:<id> = <name>" and spend rows: NULL when valid, else why. */
#define CFG_CAMPAIGN_ID_MAX 64 /* the touch's campaign_id field */
const char *cfg_check_campaign_platform(const char *v);
const char *cfg_check_campaign_id(const char *v);
const char *cfg_check_campaign_name(const char *v);

/* Character classes of the ini grammar and the checks, locale-free. */
static inline int cfg_is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static inline int cfg_is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static inline int cfg_is_alnum(int ch)
{
    return cfg_is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static inline int cfg_all_of(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!cfg_is_alnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

#endif
