/*
 * Unit tests of the channel mapping (DESIGN §6, connectors/canon.c cx_touch_channel) and
 * of the way [channels] in the config reaches it: the defaults reproduce the DESIGN table
 * row by row whichever way they arrive (NULL map, cx_channel_defaults(), a config without
 * the section); replaced lists; the operator's rules and where they stand among the
 * default rules; and real connectors classifying by their source's map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cx_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "connector.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* One touch as a row: empty strings are absent fields. */
struct row {
    const char *platform, *source, *medium, *campaign, *click_id, *want;
};

static void fill_touch(struct cx_touch *t, const struct row *r)
{
    memset(t, 0, sizeof *t);
    cx_copy_text(t->platform, sizeof t->platform, r->platform);
    cx_copy_text(t->source, sizeof t->source, r->source);
    cx_copy_text(t->medium, sizeof t->medium, r->medium);
    cx_copy_text(t->campaign, sizeof t->campaign, r->campaign);
    if (r->click_id[0]) {
        cx_copy_text(t->click_ids[0].name, sizeof t->click_ids[0].name, r->click_id);
        cx_copy_text(t->click_ids[0].value, sizeof t->click_ids[0].value, "x");
        t->nclick_ids = 1;
    }
}

static void check_rows(const char *what, const struct cx_channel_map *map, const struct row *rows,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cx_touch t;
        fill_touch(&t, &rows[i]);
        const char *got = cx_touch_channel(&t, map);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("%s, row %zu (platform '%s' source '%s' medium '%s' click id '%s'): got "
                     "\"%s\", want \"%s\"",
                     what, i, rows[i].platform, rows[i].source, rows[i].medium, rows[i].click_id,
                     got, rows[i].want);
    }
}

static struct cfg *must_parse(const char *text)
{
    struct cfg_err err;
    struct cfg *c = cfg_parse(text, strlen(text), "test.conf", &err);
    if (!c)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

/* DESIGN §6, "Channels come from the touch, first rule that applies", one block per row
 * of the table in its order. */
static const struct row design_rows[] = {
    /* an ad-platform lead */
    {"google", "", "", "", "", "paid_search"},
    {"microsoft", "", "", "", "", "paid_search"},
    {"meta", "", "", "", "", "paid_social"},
    {"linkedin", "", "", "", "", "paid_social"},
    {"tiktok", "", "", "", "", "paid_social"},
    {"google", "facebook", "email", "", "fbclid", "paid_search"}, /* the platform first */
    {"meta", "facebook", "paid_social", "", "", "paid_social"},   /* meta_leads' touch */
    {"google", "google", "cpc", "", "gclid", "paid_search"},      /* google_ads' touch */
    /* a click id (it names its platform and wins over utm_source) */
    {"", "", "", "", "gclid", "paid_search"},
    {"", "", "", "", "gbraid", "paid_search"},
    {"", "", "", "", "wbraid", "paid_search"},
    {"", "", "", "", "msclkid", "paid_search"},
    {"", "", "", "", "fbclid", "paid_social"},
    {"", "", "", "", "li_fat_id", "paid_social"},
    {"", "", "", "", "ttclid", "paid_social"},
    {"", "facebook", "cpc", "", "gclid", "paid_search"},
    {"", "google", "paid", "", "ttclid", "paid_social"},
    {"", "newsletter", "email", "", "msclkid", "paid_search"},
    /* or utm_medium cpc / ppc / paid with a known utm_source */
    {"", "google", "cpc", "", "", "paid_search"},
    {"", "Bing", "PPC", "", "", "paid_search"},
    {"", "qwant", "paid", "", "", "paid_search"},
    {"", "facebook", "cpc", "", "", "paid_social"},
    {"", "threads", "Paid", "", "", "paid_social"},
    /* utm_medium paid_social / paidsocial */
    {"", "", "paid_social", "", "", "paid_social"},
    {"", "whatever", "PaidSocial", "", "", "paid_social"},
    /* paid (as above) on an unknown platform */
    {"", "adroll", "cpc", "", "", "other"},
    {"", "", "ppc", "", "", "other"},
    {"snapads", "", "", "", "", "other"},
    /* utm_medium email / newsletter */
    {"", "mailchimp", "email", "", "", "email"},
    {"", "", "Newsletter", "", "", "email"},
    /* utm_medium social */
    {"", "facebook", "social", "", "", "organic_social"},
    /* utm_medium referral */
    {"", "partner.example", "referral", "", "", "referral"},
    /* any other utm */
    {"", "google", "organic", "", "", "other"},
    {"", "", "", "autumn", "", "other"},
    {"", "google", "", "", "", "other"},
    /* nothing */
    {"", "", "", "", "", "direct"},
};

static const char *const design_search[] = {"google", "bing",   "microsoft", "yahoo", "duckduckgo",
                                            "baidu",  "yandex", "ecosia",    "qwant"};
static const char *const design_social[] = {
    "facebook", "fb", "instagram", "ig",       "meta",   "linkedin", "tiktok",
    "twitter",  "x",  "pinterest", "snapchat", "reddit", "youtube",  "threads"};

/* Every engine and network the DESIGN names, as a paid source, an ad platform and (for
 * contrast) an organic source. */
static void check_design_lists(const char *what, const struct cx_channel_map *map)
{
    static const char *const paid[] = {"cpc", "ppc", "paid"};
    for (size_t k = 0; k < N_ELEMS(paid); k++) {
        for (size_t i = 0; i < N_ELEMS(design_search); i++) {
            struct row r[] = {{"", design_search[i], paid[k], "", "", "paid_search"},
                              {design_search[i], "", "", "", "", "paid_search"},
                              {"", design_search[i], "organic", "", "", "other"}};
            check_rows(what, map, r, N_ELEMS(r));
        }
        for (size_t i = 0; i < N_ELEMS(design_social); i++) {
            struct row r[] = {{"", design_social[i], paid[k], "", "", "paid_social"},
                              {design_social[i], "", "", "", "", "paid_social"},
                              {"", design_social[i], "social", "", "", "organic_social"}};
            check_rows(what, map, r, N_ELEMS(r));
        }
    }
}

static void test_defaults_reproduce_design(void **state)
{
    (void)state;
    check_rows("NULL map", NULL, design_rows, N_ELEMS(design_rows));
    check_design_lists("NULL map", NULL);
    check_rows("cx_channel_defaults()", cx_channel_defaults(), design_rows, N_ELEMS(design_rows));

    /* The daemon never passes NULL: its map is the config's, and without a [channels]
     * section it must classify exactly as the built-in table. */
    struct cfg *c = must_parse("[journeyd]\n");
    check_rows("config without [channels]", &c->channels, design_rows, N_ELEMS(design_rows));
    check_design_lists("config without [channels]", &c->channels);
    cfg_free(c);
    c = must_parse("[channels]\n");
    check_rows("empty [channels]", &c->channels, design_rows, N_ELEMS(design_rows));
    cfg_free(c);
    assert_string_equal(cx_touch_channel(NULL, NULL), "direct");
}

/* config.c writes the default lists a second time (so --help-config shows them): the two
 * must never drift apart. */
static void test_config_defaults_are_the_builtin_lists(void **state)
{
    (void)state;
    const struct cx_channel_map *d = cx_channel_defaults();
    struct cfg *c = must_parse("");
    assert_null(d->rules);
    assert_int_equal(d->nrules, 0);
    assert_int_equal(c->channels.nrules, 0);
    for (size_t l = 0; l < CX_CHL_COUNT; l++) {
        const struct cx_channel_list *a = &d->lists[l], *b = &c->channels.lists[l];
        if (a->n != b->n)
            fail_msg("list %zu: %zu built-in items, %zu from the config", l, a->n, b->n);
        assert_true(a->n > 0);
        for (size_t i = 0; i < a->n; i++)
            if (strcmp(a->v[i], b->v[i]) != 0)
                fail_msg("list %zu item %zu: built-in '%s', config '%s'", l, i, a->v[i], b->v[i]);
    }
    assert_int_equal(d->lists[CX_CHL_SEARCH_ENGINES].n, N_ELEMS(design_search));
    assert_int_equal(d->lists[CX_CHL_SOCIAL_NETWORKS].n, N_ELEMS(design_social));
    cfg_free(c);
}

static void test_replaced_lists(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[channels]\n"
                               "search_engines = startpage, Kagi\n"
                               "social_networks = mastodon\n"
                               "paid_mediums = cpc, display\n"
                               "paid_social_mediums = boosted\n"
                               "email_mediums =\n"
                               "social_mediums = social, community\n"
                               "referral_mediums = referral, partner\n");
    static const struct row rows[] = {
        {"", "startpage", "cpc", "", "", "paid_search"},
        {"", "kagi", "DISPLAY", "", "", "paid_search"}, /* lists match any case */
        {"", "mastodon", "display", "", "", "paid_social"},
        {"", "google", "cpc", "", "", "other"},    /* no longer a search engine */
        {"", "facebook", "cpc", "", "", "other"},  /* no longer a social network */
        {"", "startpage", "ppc", "", "", "other"}, /* ppc is no longer paid */
        {"", "", "boosted", "", "", "paid_social"},
        {"", "", "paid_social", "", "", "other"},
        {"", "mailchimp", "email", "", "", "other"}, /* an empty list turns its rule off */
        {"", "", "community", "", "", "organic_social"},
        {"", "", "partner", "", "", "referral"},
        /* Ad-platform leads keep their platform's channel: the built-in lists back the
         * configured ones up, so a list without google cannot demote Google Ads leads. */
        {"google", "google", "cpc", "", "", "paid_search"},
        {"meta", "facebook", "paid_social", "", "", "paid_social"},
        {"startpage", "", "", "", "", "paid_search"},
        {"mastodon", "", "", "", "", "paid_social"},
        /* click ids are not lists */
        {"", "", "", "", "gclid", "paid_search"},
        {"", "", "", "", "fbclid", "paid_social"},
        {"", "", "", "", "", "direct"},
    };
    check_rows("replaced lists", &c->channels, rows, N_ELEMS(rows));
    cfg_free(c);

    /* Every list empty: only platforms, click ids, "other" and "direct" are left. */
    c = must_parse("[channels]\nsearch_engines =\nsocial_networks =\npaid_mediums =\n"
                   "paid_social_mediums =\nemail_mediums =\nsocial_mediums =\n"
                   "referral_mediums =\n");
    static const struct row bare[] = {
        {"", "google", "cpc", "", "", "other"},     {"", "", "email", "", "", "other"},
        {"", "", "referral", "", "", "other"},      {"linkedin", "", "", "", "", "paid_social"},
        {"", "", "", "", "msclkid", "paid_search"}, {"", "", "", "", "", "direct"},
    };
    check_rows("empty lists", &c->channels, bare, N_ELEMS(bare));
    cfg_free(c);
}

static void test_rules_and_precedence(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[channels]\n"
                               "medium.affiliate = affiliate\n"
                               "source.partnerx = partners\n"
                               "medium.cpc = paid-generic\n"
                               "source.news.example.com = news_sites\n"
                               "source.quora = quora\n");
    static const struct row rows[] = {
        {"", "", "affiliate", "", "", "affiliate"},
        {"", "whoever", "AFFILIATE", "", "", "affiliate"}, /* any case */
        {"", "PartnerX", "", "", "", "partners"},
        {"", "partnerx", "email", "", "", "partners"}, /* before the default lists */
        {"", "google", "cpc", "", "", "paid-generic"}, /* before paid_mediums */
        {"", "google", "ppc", "", "", "paid_search"},  /* the rest of the list stands */
        {"", "news.example.com", "referral", "", "", "news_sites"}, /* dots in the value */
        {"", "news", "referral", "", "", "referral"},               /* whole values only */
        {"", "partnerx2", "", "", "", "other"},
        {"", "", "affiliates", "", "", "other"},
        /* a click id and an ad-platform lead still name their platform first */
        {"", "partnerx", "affiliate", "", "gclid", "paid_search"},
        {"", "google", "cpc", "", "fbclid", "paid_social"},
        {"meta", "partnerx", "affiliate", "", "", "paid_social"},
        {"google", "google", "cpc", "", "", "paid_search"},
        /* an unknown platform is not a platform lead: the rules apply */
        {"quora", "quora", "display", "", "", "quora"},
        {"quora", "quora", "cpc", "", "", "paid-generic"}, /* medium.cpc is written first */
        {"", "", "", "", "", "direct"},
        {"", "", "", "spring", "", "other"},
    };
    check_rows("rules", &c->channels, rows, N_ELEMS(rows));
    assert_int_equal(c->channels.nrules, 5);
    cfg_free(c);
}

/* Rules apply in the order written: a medium rule first here, a source rule first there. */
static void test_rules_in_file_order(void **state)
{
    (void)state;
    static const struct row medium_first[] = {
        {"", "news", "email", "", "", "mail-first"},
        {"", "news", "social", "", "", "news-first"},
        {"", "other-list", "email", "", "", "mail-first"},
    };
    static const struct row source_first[] = {
        {"", "news", "email", "", "", "news-first"},
        {"", "news", "social", "", "", "news-first"},
        {"", "other-list", "email", "", "", "mail-first"},
    };
    struct cfg *c = must_parse("[channels]\nmedium.email = mail-first\nsource.news = news-first\n");
    check_rows("medium rule first", &c->channels, medium_first, N_ELEMS(medium_first));
    cfg_free(c);
    c = must_parse("[channels]\nsource.news = news-first\nmedium.email = mail-first\n");
    check_rows("source rule first", &c->channels, source_first, N_ELEMS(source_first));
    cfg_free(c);
}

/* A map built by hand (not by the config) that is partly broken must not crash or return
 * an unterminated name: such rules are skipped, NULL lists match nothing. */
static void test_hand_built_map(void **state)
{
    (void)state;
    struct cx_channel_rule rules[3];
    memset(rules, 0, sizeof rules);
    rules[0].on = CX_CHANNEL_ON_MEDIUM;
    memset(rules[0].value, 'a', sizeof rules[0].value); /* no NUL */
    cx_copy_text(rules[0].channel, sizeof rules[0].channel, "broken");
    rules[1].on = CX_CHANNEL_ON_MEDIUM;
    cx_copy_text(rules[1].value, sizeof rules[1].value, "aaa");
    memset(rules[1].channel, 'b', sizeof rules[1].channel); /* no NUL */
    rules[2].on = CX_CHANNEL_ON_SOURCE;
    cx_copy_text(rules[2].value, sizeof rules[2].value, "aaa");
    cx_copy_text(rules[2].channel, sizeof rules[2].channel, "fine");
    struct cx_channel_map m;
    memset(&m, 0, sizeof m);
    m.rules = rules;
    m.nrules = N_ELEMS(rules);
    static const struct row rows[] = {
        {"", "", "aaa", "", "", "other"},       {"", "aaa", "aaa", "", "", "fine"},
        {"", "google", "cpc", "", "", "other"}, {"google", "", "", "", "", "paid_search"},
        {"", "", "", "", "", "direct"},
    };
    check_rows("hand-built map", &m, rows, N_ELEMS(rows));
    m.rules = NULL; /* a count without rules */
    assert_string_equal(cx_touch_channel(&(struct cx_touch){.source = "aaa"}, &m), "other");
}

struct pairs {
    const char *const *kv; /* name, value, ..., NULL */
};

static const char *pairs_get(void *ctx, const char *name)
{
    const struct pairs *p = ctx;
    for (size_t i = 0; p->kv[i]; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

/* The map reaches cx_event_set_touch and cx_event_set_channel through the source. */
static void test_set_touch_follows_source(void **state)
{
    (void)state;
    static const char *const kv[] = {"utm_source", "partnerx", "utm_medium", "email", NULL};
    struct pairs p = {kv};
    struct cfg *c = must_parse("[channels]\nsource.partnerx = partners\n"
                               "[source s]\ntype = stripe\nsecret = x_padded_to_16ch\n");
    const struct cfg_source *s = cfg_find_source(c, "s");
    assert_non_null(s);
    assert_ptr_equal(s->cx.channels, &c->channels);

    struct cx_event ev;
    memset(&ev, 0, sizeof ev);
    cx_event_set_touch(&ev, &s->cx, pairs_get, &p);
    assert_string_equal(ev.touch.channel, "partners");
    memset(&ev, 0, sizeof ev);
    cx_event_set_touch(&ev, NULL, pairs_get, &p);
    assert_string_equal(ev.touch.channel, "email");
    struct cx_source plain = {.name = "p", .type = "stripe"};
    memset(&ev, 0, sizeof ev);
    cx_event_set_touch(&ev, &plain, pairs_get, &p);
    assert_string_equal(ev.touch.channel, "email");

    /* A connector that fills the touch itself recomputes the channel by the same map. */
    memset(&ev, 0, sizeof ev);
    ev.has_touch = 1;
    cx_copy_text(ev.touch.source, sizeof ev.touch.source, "partnerx");
    cx_event_set_channel(&ev, &s->cx);
    assert_string_equal(ev.touch.channel, "partners");
    cx_event_set_channel(&ev, NULL);
    assert_string_equal(ev.touch.channel, "other");
    cx_event_set_channel(NULL, &s->cx);
    cfg_free(c);
}

/* Real connectors classify by their source's map: a tracked click (utm in its query), a
 * custom event, and a Google Ads lead (an ad-platform lead that a rule must not move). */
static void test_connectors_use_the_map(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[channels]\nmedium.affiliate = affiliate\nmedium.cpc = not-this\n");
    struct cx_test_norm n;

    static const char click[] = "{\"id\":\"k1\",\"aid\":\"a_0123456789abcdef0123456789abcdef\","
                                "\"at_ms\":1700000000000,\"to\":\"https://example.com/\","
                                "\"query\":\"utm_source=blog&utm_medium=Affiliate\"}";
    cx_test_norm_init(&n, "click", "click", "1-0", 1700000000000, click, strlen(click));
    n.src.channels = &c->channels;
    assert_int_equal(cx_test_norm_run(&n), CX_NORM_OK);
    assert_string_equal(n.list.v[0].touch.channel, "affiliate");
    cx_test_norm_free(&n);
    cx_test_norm_init(&n, "click", "click", "1-0", 1700000000000, click, strlen(click));
    assert_int_equal(cx_test_norm_run(&n), CX_NORM_OK); /* NULL map: the defaults */
    assert_string_equal(n.list.v[0].touch.channel, "other");
    cx_test_norm_free(&n);

    static const char events[] =
        "{\"events\":[{\"id\":\"e1\",\"kind\":\"visit\",\"at\":\"2026-01-05T10:00:00Z\","
        "\"identities\":[{\"type\":\"email\",\"value\":\"a@example.com\"}],"
        "\"touch\":{\"source\":\"blog\",\"medium\":\"affiliate\",\"channel\":\"ignored\"}}]}";
    cx_test_norm_init(&n, "events", "app", "2-0", 1700000000000, events, strlen(events));
    n.src.channels = &c->channels;
    if (cx_test_norm_run(&n) != CX_NORM_OK)
        fail_msg("events: %s", n.err.msg);
    assert_string_equal(n.list.v[0].touch.channel, "affiliate");
    cx_test_norm_free(&n);

    static const char lead[] = "{\"lead_id\":\"L1\",\"api_version\":\"1.0\",\"form_id\":1,"
                               "\"campaign_id\":2,\"google_key\":\"k\",\"is_test\":false,"
                               "\"gcl_id\":\"G1\",\"user_column_data\":[{\"column_id\":"
                               "\"EMAIL\",\"string_value\":\"b@example.com\"}]}";
    cx_test_norm_init(&n, "google_ads", "gads", "3-0", 1700000000000, lead, strlen(lead));
    n.src.channels = &c->channels;
    if (cx_test_norm_run(&n) != CX_NORM_OK)
        fail_msg("google_ads: %s", n.err.msg);
    assert_string_equal(n.list.v[0].touch.medium, "cpc");
    assert_string_equal(n.list.v[0].touch.channel, "paid_search");
    cx_test_norm_free(&n);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_reproduce_design),
        cmocka_unit_test(test_config_defaults_are_the_builtin_lists),
        cmocka_unit_test(test_replaced_lists),
        cmocka_unit_test(test_rules_and_precedence),
        cmocka_unit_test(test_rules_in_file_order),
        cmocka_unit_test(test_hand_built_map),
        cmocka_unit_test(test_set_touch_follows_source),
        cmocka_unit_test(test_connectors_use_the_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
