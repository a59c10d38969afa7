/*
 * The canonical event (DESIGN §3): list ownership, identity and touch filling shared by
 * every connector, the channel table (DESIGN §6) and the one JSON serializer.
 */
#include "common.h"
#include "stage.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- event list ---- */

void cx_list_init(struct cx_event_list *l)
{
    if (l)
        memset(l, 0, sizeof *l);
}

struct cx_event *cx_list_add(struct cx_event_list *l, const struct cx_source *src,
                             const struct cx_raw *raw)
{
    struct cx_event *ev;

    if (!l)
        return NULL;
    if (l->n >= l->cap) {
        size_t ncap;
        struct cx_event *v;

        if (l->cap >= CX_MAX_EVENTS)
            return NULL;
        /* Start at one: almost every webhook yields a single event, and an event is
         * ~13 KiB, so batches double from there. */
        ncap = l->cap ? l->cap * 2 : 1;
        if (ncap > CX_MAX_EVENTS)
            ncap = CX_MAX_EVENTS;
        v = realloc(l->v, ncap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = ncap;
    }
    ev = &l->v[l->n++];
    memset(ev, 0, sizeof *ev);
    if (src) {
        cx_copy_text(ev->source, sizeof ev->source, src->name);
        cx_copy_text(ev->type, sizeof ev->type, src->type);
    } else if (raw) {
        cx_copy_text(ev->source, sizeof ev->source, raw->source);
    }
    if (raw)
        cx_copy_text(ev->raw, sizeof ev->raw, raw->stream_id);
    return ev;
}

void cx_list_free(struct cx_event_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->cap = 0;
}

/* ---- stages ---- */

/* Names by rank - 1, from the one stage list. */
#define STAGE_NAME_(name, str) str,
static const char *const stage_names[] = {JD_STAGES(STAGE_NAME_)};
#undef STAGE_NAME_

const char *cx_event_stage(const struct cx_event *ev)
{
    static const struct {
        const char *kind, *stage;
    } by_kind[] = {
        {"click", "visit"},         {"visit", "visit"},  {"lead", "lead"},    {"form", "lead"},
        {"meeting", "opportunity"}, {"deal_won", "won"}, {"payment", "paid"},
    };
    size_t i;

    if (!ev)
        return "";
    if (ev->stage[0])
        return ev->stage;
    for (i = 0; i < sizeof by_kind / sizeof by_kind[0]; i++)
        if (strcmp(ev->kind, by_kind[i].kind) == 0)
            return by_kind[i].stage;
    return "";
}

const char *cx_stage_name(int rank)
{
    if (rank < 1 || rank > (int)(sizeof stage_names / sizeof stage_names[0]))
        return NULL;
    return stage_names[rank - 1];
}

int cx_stage_rank(const char *stage)
{
    size_t i;

    if (!stage)
        return 0;
    for (i = 0; i < sizeof stage_names / sizeof stage_names[0]; i++)
        if (strcmp(stage, stage_names[i]) == 0)
            return (int)i + 1;
    return 0;
}

/* ---- identities ---- */

/* Text that can go into an identity or touch verbatim: valid UTF-8, no control bytes
 * (they would make ids that look equal and are not, and break log lines). */
int cx_text_usable(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return cx_utf8_valid((const unsigned char *)s, len);
}

int cx_event_add_identity(struct cx_event *ev, const struct cx_source *src, const char *type,
                          const char *value)
{
    char norm[CX_IDENT_VALUE_MAX];
    size_t tl, vl, i;

    if (!ev || !type || !value)
        return 1;
    tl = strnlen(type, CX_IDENT_TYPE_MAX);
    if (tl == 0 || tl >= CX_IDENT_TYPE_MAX || !cx_text_usable(type, tl))
        return 1;
    if (strcmp(type, "email") == 0) {
        if (cx_norm_email(value, norm, sizeof norm) != 0)
            return 1;
    } else if (strcmp(type, "phone") == 0) {
        if (cx_norm_phone(value, src ? src->default_country_code : NULL, norm, sizeof norm) != 0)
            return 1;
    } else {
        /* Never truncated: a cut id would silently name a different contact. */
        vl = strnlen(value, CX_IDENT_VALUE_MAX);
        if (vl == 0 || vl >= CX_IDENT_VALUE_MAX || !cx_text_usable(value, vl))
            return 1;
        memcpy(norm, value, vl + 1);
    }
    for (i = 0; i < ev->nidentities && i < CX_MAX_IDENTITIES; i++)
        if (strcmp(ev->identities[i].type, type) == 0 && strcmp(ev->identities[i].value, norm) == 0)
            return 1;
    if (ev->nidentities >= CX_MAX_IDENTITIES)
        return -1;
    memcpy(ev->identities[ev->nidentities].type, type, tl + 1);
    memcpy(ev->identities[ev->nidentities].value, norm, strlen(norm) + 1);
    ev->nidentities++;
    return 0;
}

/* ---- touch ---- */

static const struct {
    const char *name;
    size_t off, cap;
} utm_fields[] = {
    {"utm_source", offsetof(struct cx_touch, source), CX_TEXT_MAX},
    {"utm_medium", offsetof(struct cx_touch, medium), CX_TEXT_MAX},
    {"utm_campaign", offsetof(struct cx_touch, campaign), CX_TEXT_MAX},
    {"utm_content", offsetof(struct cx_touch, content), CX_TEXT_MAX},
    {"utm_term", offsetof(struct cx_touch, term), CX_TEXT_MAX},
};

/* The order decides which platform wins when one link carries several click ids. */
static const struct {
    const char *name, *channel;
} click_ids[] = {
    {"gclid", "paid_search"},   {"gbraid", "paid_search"}, {"wbraid", "paid_search"},
    {"msclkid", "paid_search"}, {"fbclid", "paid_social"}, {"li_fat_id", "paid_social"},
    {"ttclid", "paid_social"},
};

/* The DESIGN §6 table's lists. daemon/config.c repeats them as the defaults of its
 * [channels] keys (so --help-config shows them); a unit test keeps the two equal. */
static const char *const search_engines[] = {"google", "bing",   "microsoft", "yahoo", "duckduckgo",
                                             "baidu",  "yandex", "ecosia",    "qwant"};
static const char *const social_networks[] = {
    "facebook", "fb", "instagram", "ig",       "meta",   "linkedin", "tiktok",
    "twitter",  "x",  "pinterest", "snapchat", "reddit", "youtube",  "threads"};
static const char *const paid_mediums[] = {"cpc", "ppc", "paid"};
static const char *const paid_social_mediums[] = {"paid_social", "paidsocial"};
static const char *const email_mediums[] = {"email", "newsletter"};
static const char *const social_mediums[] = {"social"};
static const char *const referral_mediums[] = {"referral"};

#define LIST(a)                                                                                    \
    {                                                                                              \
        (a), sizeof(a) / sizeof((a)[0])                                                            \
    }

static const struct cx_channel_map default_map = {
    .lists =
        {
            [CX_CHL_SEARCH_ENGINES] = LIST(search_engines),
            [CX_CHL_SOCIAL_NETWORKS] = LIST(social_networks),
            [CX_CHL_PAID_MEDIUMS] = LIST(paid_mediums),
            [CX_CHL_PAID_SOCIAL_MEDIUMS] = LIST(paid_social_mediums),
            [CX_CHL_EMAIL_MEDIUMS] = LIST(email_mediums),
            [CX_CHL_SOCIAL_MEDIUMS] = LIST(social_mediums),
            [CX_CHL_REFERRAL_MEDIUMS] = LIST(referral_mediums),
        },
    .rules = NULL,
    .nrules = 0,
};

const struct cx_channel_map *cx_channel_defaults(void)
{
    return &default_map;
}

static int in_list(const struct cx_channel_map *m, enum cx_channel_list_id id, const char *v)
{
    const struct cx_channel_list *l = &m->lists[id];
    size_t i;

    /* An empty value is "absent" in a touch, never a match for anything. */
    if (!v[0] || !l->v)
        return 0;
    for (i = 0; i < l->n; i++)
        if (l->v[i] && strcasecmp(v, l->v[i]) == 0)
            return 1;
    return 0;
}

/* Meta's _fbc cookie is "fb.<subdomain index>.<creation ms>.<fbclid>"; sites often pass
 * it instead of the fbclid itself. Returns the fbclid part or NULL. */
static const char *fbc_to_fbclid(const char *fbc)
{
    const char *p;
    int part;

    if (!fbc || strncmp(fbc, "fb.", 3) != 0)
        return NULL;
    p = fbc + 3;
    for (part = 0; part < 2; part++) {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start || *p != '.')
            return NULL;
        p++;
    }
    return *p ? p : NULL;
}

static void touch_add_click_id(struct cx_event *ev, const struct cx_source *src, const char *name,
                               const char *value)
{
    struct cx_touch *t = &ev->touch;
    size_t i, vl = strnlen(value, CX_IDENT_VALUE_MAX);

    if (vl == 0 || vl >= CX_IDENT_VALUE_MAX || !cx_text_usable(value, vl))
        return;
    for (i = 0; i < t->nclick_ids && i < CX_MAX_CLICK_IDS; i++)
        if (strcmp(t->click_ids[i].name, name) == 0)
            return; /* the first value seen stands */
    if (t->nclick_ids >= CX_MAX_CLICK_IDS)
        return;
    cx_copy_text(t->click_ids[t->nclick_ids].name, sizeof t->click_ids[0].name, name);
    memcpy(t->click_ids[t->nclick_ids].value, value, vl + 1);
    t->nclick_ids++;
    /* gclid and fbclid also stitch: the ad platform reports them back with its own
     * conversions, so they identify the person across sources. */
    if (strcmp(name, "gclid") == 0 || strcmp(name, "fbclid") == 0)
        (void)cx_event_add_identity(ev, src, name, value);
}

void cx_event_set_touch(struct cx_event *ev, const struct cx_source *src, cx_getter get, void *ctx)
{
    size_t i;
    int found = 0;

    if (!ev || !get)
        return;
    for (i = 0; i < sizeof utm_fields / sizeof utm_fields[0]; i++) {
        const char *v = get(ctx, utm_fields[i].name);
        char *dst = (char *)&ev->touch + utm_fields[i].off;
        size_t vl;

        if (!v || !v[0])
            continue;
        vl = strlen(v);
        if (!cx_text_usable(v, vl))
            continue;
        found = 1;
        if (!dst[0])
            cx_copy_text(dst, utm_fields[i].cap, v);
    }
    for (i = 0; i < sizeof click_ids / sizeof click_ids[0]; i++) {
        const char *v = get(ctx, click_ids[i].name);
        size_t before = ev->touch.nclick_ids;

        if ((!v || !v[0]) && strcmp(click_ids[i].name, "fbclid") == 0)
            v = fbc_to_fbclid(get(ctx, "fbc"));
        if (!v || !v[0])
            continue;
        touch_add_click_id(ev, src, click_ids[i].name, v);
        if (ev->touch.nclick_ids > before)
            found = 1;
    }
    if (found)
        ev->has_touch = 1;
    if (ev->has_touch)
        cx_event_set_channel(ev, src);
}

void cx_touch_set_campaign(struct cx_event *ev, const struct cx_source *src, const char *id,
                           const char *name)
{
    struct cx_touch *t = &ev->touch;
    if (!id || !*id) {
        if (name && *name)
            cx_copy_text(t->campaign, sizeof t->campaign, name);
        return;
    }
    cx_copy_text(t->campaign_id, sizeof t->campaign_id, id);
    if ((!name || !*name) && src && src->campaign_name)
        name = src->campaign_name(src->campaign_ctx, t->platform, t->campaign_id);
    cx_copy_text(t->campaign, sizeof t->campaign, name && *name ? name : id);
}

void cx_event_set_channel(struct cx_event *ev, const struct cx_source *src)
{
    if (!ev)
        return;
    cx_copy_text(ev->touch.channel, sizeof ev->touch.channel,
                 cx_touch_channel(&ev->touch, src ? src->channels : NULL));
}

/* The operator's rule that applies, or NULL. A rule whose fields are not terminated
 * inside themselves is skipped: the map is plain memory its builder may have botched, and
 * the answer is copied into a fixed field. */
static const char *user_rule(const struct cx_channel_map *m, const struct cx_touch *t)
{
    size_t i;

    for (i = 0; m->rules && i < m->nrules && i < CX_CHANNEL_RULES_MAX; i++) {
        const struct cx_channel_rule *r = &m->rules[i];
        const char *v = r->on == CX_CHANNEL_ON_SOURCE ? t->source : t->medium;

        if (!memchr(r->value, '\0', sizeof r->value) ||
            !memchr(r->channel, '\0', sizeof r->channel) || !r->value[0] || !r->channel[0])
            continue;
        if (v[0] && strcasecmp(v, r->value) == 0)
            return r->channel;
    }
    return NULL;
}

const char *cx_touch_channel(const struct cx_touch *t, const struct cx_channel_map *map)
{
    const struct cx_channel_map *m = map ? map : &default_map;
    const char *medium, *rule;
    size_t i, k;
    int any_utm;

    if (!t)
        return "direct";
    medium = t->medium;
    any_utm = t->source[0] || t->medium[0] || t->campaign[0] || t->content[0] || t->term[0];

    /* An ad-platform lead: the platform itself is the channel. The built-in lists back
     * the configured ones up, because the platform is named by our own connector (or an
     * events client) for a lead that is paid by definition: a list written without
     * "google" must not turn every Google Ads lead into "other". */
    if (t->platform[0]) {
        if (in_list(m, CX_CHL_SEARCH_ENGINES, t->platform))
            return "paid_search";
        if (in_list(m, CX_CHL_SOCIAL_NETWORKS, t->platform))
            return "paid_social";
        if (in_list(&default_map, CX_CHL_SEARCH_ENGINES, t->platform))
            return "paid_search";
        if (in_list(&default_map, CX_CHL_SOCIAL_NETWORKS, t->platform))
            return "paid_social";
    }
    /* A click id names its platform, whatever utm_source claims. */
    for (i = 0; i < t->nclick_ids && i < CX_MAX_CLICK_IDS; i++)
        for (k = 0; k < sizeof click_ids / sizeof click_ids[0]; k++)
            if (strcmp(t->click_ids[i].name, click_ids[k].name) == 0)
                return click_ids[k].channel;
    if ((rule = user_rule(m, t)) != NULL)
        return rule;
    if (in_list(m, CX_CHL_PAID_MEDIUMS, medium)) {
        if (in_list(m, CX_CHL_SEARCH_ENGINES, t->source))
            return "paid_search";
        if (in_list(m, CX_CHL_SOCIAL_NETWORKS, t->source))
            return "paid_social";
        return "other";
    }
    if (in_list(m, CX_CHL_PAID_SOCIAL_MEDIUMS, medium))
        return "paid_social";
    if (in_list(m, CX_CHL_EMAIL_MEDIUMS, medium))
        return "email";
    if (in_list(m, CX_CHL_SOCIAL_MEDIUMS, medium))
        return "organic_social";
    if (in_list(m, CX_CHL_REFERRAL_MEDIUMS, medium))
        return "referral";
    /* An unknown ad platform is still paid, just not classifiable: "other". */
    if (any_utm || t->platform[0] || t->ad[0])
        return "other";
    return "direct";
}

/* ---- canonical JSON ---- */

/* The struct is plain memory a caller could have filled carelessly; serialize only what
 * is terminated inside its own field. */
static const char *field(const char *buf, size_t cap)
{
    return memchr(buf, '\0', cap) ? buf : "";
}

#define FIELD(f) field((f), sizeof(f))

static int add_str(cJSON *o, const char *key, const char *v)
{
    return cJSON_AddStringToObject(o, key, v) ? 0 : -1;
}

static int add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (!v[0])
        return cJSON_AddNullToObject(o, key) ? 0 : -1;
    return add_str(o, key, v);
}

/* cJSON prints numbers from a double with "%1.15g": integers from 1e15 up would come out
 * in exponent form ("1e+15"). Those are written as raw decimal text instead, so every
 * int64 prints digit for digit. */
static int add_int(cJSON *o, const char *key, int64_t v)
{
    char buf[24];
    int n;

    if (v > -1000000000000000LL && v < 1000000000000000LL)
        return cJSON_AddNumberToObject(o, key, (double)v) ? 0 : -1;
    n = snprintf(buf, sizeof buf, "%" PRId64, v);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    return cJSON_AddRawToObject(o, key, buf) ? 0 : -1;
}

static int add_touch(cJSON *root, const struct cx_touch *t)
{
    cJSON *o = cJSON_AddObjectToObject(root, "touch");
    cJSON *ids;
    size_t i;

    if (!o)
        return -1;
    if (add_str_or_null(o, "channel", FIELD(t->channel)) ||
        add_str_or_null(o, "source", FIELD(t->source)) ||
        add_str_or_null(o, "medium", FIELD(t->medium)) ||
        add_str_or_null(o, "campaign", FIELD(t->campaign)) ||
        add_str_or_null(o, "content", FIELD(t->content)) ||
        add_str_or_null(o, "term", FIELD(t->term)) || add_str_or_null(o, "ad", FIELD(t->ad)) ||
        add_str_or_null(o, "platform", FIELD(t->platform)))
        return -1;
    /* Only when the provider gave one: most touches are utm links, which carry none. */
    if (t->campaign_id[0] && add_str(o, "campaign_id", FIELD(t->campaign_id)))
        return -1;
    /* Always an object, empty when none, so readers need no null check. */
    ids = cJSON_AddObjectToObject(o, "click_ids");
    if (!ids)
        return -1;
    for (i = 0; i < t->nclick_ids && i < CX_MAX_CLICK_IDS; i++) {
        const char *name = FIELD(t->click_ids[i].name);
        if (!name[0] || cJSON_GetObjectItemCaseSensitive(ids, name))
            continue;
        if (add_str(ids, name, FIELD(t->click_ids[i].value)))
            return -1;
    }
    return 0;
}

static int add_identities(cJSON *root, const struct cx_event *ev)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "identities");
    size_t i;

    if (!arr)
        return -1;
    for (i = 0; i < ev->nidentities && i < CX_MAX_IDENTITIES; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return -1;
        if (!cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -1;
        }
        if (add_str(o, "type", FIELD(ev->identities[i].type)) ||
            add_str(o, "value", FIELD(ev->identities[i].value)))
            return -1;
    }
    return 0;
}

char *cx_event_to_json(const struct cx_event *ev)
{
    cJSON *root;
    char at[32], *printed = NULL, *out = NULL;
    const char *stage;

    if (!ev)
        return NULL;
    root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cx_format_rfc3339(ev->at_ms, at);
    if (add_str(root, "id", FIELD(ev->id)) || add_str(root, "source", FIELD(ev->source)) ||
        add_str(root, "type", FIELD(ev->type)) || add_str(root, "kind", FIELD(ev->kind)) ||
        add_str(root, "at", at) || add_identities(root, ev))
        goto out;
    if (ev->has_touch && add_touch(root, &ev->touch))
        goto out;
    stage = memchr(ev->stage, '\0', sizeof ev->stage) ? cx_event_stage(ev) : "";
    if (stage[0] && add_str(root, "stage", stage))
        goto out;
    if (ev->has_amount) {
        cJSON *amount = cJSON_AddObjectToObject(root, "amount");
        if (!amount || add_int(amount, "minor", ev->amount_minor) ||
            add_str(amount, "currency", FIELD(ev->currency)))
            goto out;
    }
    if (FIELD(ev->payment_key)[0] && add_str(root, "payment_key", ev->payment_key))
        goto out;
    if (FIELD(ev->raw)[0] && add_str(root, "raw", ev->raw))
        goto out;
    if (FIELD(ev->owner)[0] && add_str(root, "owner", ev->owner))
        goto out;
    if (FIELD(ev->attrs)[0]) {
        cJSON *attrs = cJSON_Parse(ev->attrs);
        /* attrs is written only by connectors; anything that is not an object is our
         * bug and is left out rather than emitted as broken JSON. */
        if (cJSON_IsObject(attrs)) {
            if (!cJSON_AddItemToObject(root, "attributes", attrs)) {
                cJSON_Delete(attrs);
                goto out;
            }
        } else {
            cJSON_Delete(attrs);
        }
    }
    printed = cJSON_PrintUnformatted(root);
    if (printed) {
        /* The contract says free(): copy out of cJSON's allocator, which a program may
         * have replaced with cJSON_InitHooks. */
        size_t n = strlen(printed);
        out = malloc(n + 1);
        if (out)
            memcpy(out, printed, n + 1);
        cJSON_free(printed);
    }
out:
    cJSON_Delete(root);
    return out;
}

/* ---- the report record of an event (its format: record.h) ---- */

int cx_event_record(const struct cx_event *ev, char *out, size_t cap)
{
    const struct cx_touch *t = ev->has_touch ? &ev->touch : NULL;
    struct cx_record r = {
        .kind = ev->kind,
        .stage = cx_stage_rank(cx_event_stage(ev)),
        .type = ev->type,
        .touch = t != NULL,
        .channel = t ? t->channel : "",
        .source = t ? t->source : "",
        .campaign = t ? t->campaign : "",
        .ad = t ? t->ad : "",
        .platform = t ? t->platform : "",
        .campaign_id = t ? t->campaign_id : "",
        .has_amount = ev->has_amount,
        .amount_minor = ev->amount_minor,
        .payment_key = ev->payment_key,
        .owner = FIELD(ev->owner),
    };
    if (ev->has_amount)
        snprintf(r.currency, sizeof(r.currency), "%s", ev->currency);
    return cx_record_encode(&r, out, cap);
}

int cx_event_set_owner(struct cx_event *ev, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    int w;

    if (!ev || n == 0 || n > 40)
        return -1;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '_' || *p == '-'))
            return -1;
    w = snprintf(ev->owner, sizeof ev->owner, "%s:%s", FIELD(ev->type), id);
    if (w < 0 || (size_t)w >= sizeof ev->owner) {
        ev->owner[0] = '\0';
        return -1;
    }
    return 0;
}

/* Appends text to out[0 … *len) as cx_event_person_name writes it: controls and runs of
 * spaces as one space, never past CX_NAME_MAX - 1 bytes and never inside a UTF-8
 * sequence (the attributes are valid UTF-8: connectors check it). */
static void name_append(char out[CX_NAME_MAX], size_t *len, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
        if (*p < 0x20 || *p == 0x7f || *p == ' ') {
            if (*len && out[*len - 1] != ' ' && *len + 1 < CX_NAME_MAX)
                out[(*len)++] = ' ';
            p++;
            continue;
        }
        if (strnlen((const char *)p, n) < n || *len + n >= CX_NAME_MAX)
            break;
        memcpy(out + *len, p, n);
        *len += n;
        p += n;
    }
    out[*len] = '\0';
}

int cx_event_person_name(const struct cx_event *ev, char out[CX_NAME_MAX])
{
    static const char *const whole[] = {"name", "full_name"};
    size_t len = 0;
    out[0] = '\0';
    if (!ev || !ev->attrs[0])
        return 0;
    cJSON *a = cJSON_Parse(ev->attrs);
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]) && !len; i++) {
        const char *v = cx_json_str(a, whole[i]);
        if (v)
            name_append(out, &len, v);
        while (len && out[len - 1] == ' ')
            out[--len] = '\0';
    }
    if (!len) {
        const char *first = cx_json_str(a, "first_name"), *last = cx_json_str(a, "last_name");
        if (first)
            name_append(out, &len, first);
        if (len && last && len + 1 < CX_NAME_MAX)
            out[len++] = ' ';
        if (last)
            name_append(out, &len, last);
        while (len && out[len - 1] == ' ')
            out[--len] = '\0';
    }
    cJSON_Delete(a);
    return len > 0;
}
