/*
 * GET /metrics (DESIGN §6) after a known mix of webhooks, read the way Prometheus reads
 * it: the text is parsed (HELP and TYPE lines, `name{labels} value` samples, label
 * escapes), every sample must belong to a family declared by a TYPE line before it, no
 * family may come in two separate groups, no series twice, and a histogram must be
 * cumulative with +Inf == _count. Then the values must be exactly what was sent:
 *
 *   N accepted Stripe webhooks + 1 redelivery of one of them   → status 200: N + 1
 *   M with a wrong signature                                     → status 401: M
 *   K to a source that does not exist                            → (unknown), 404: K
 *
 * and once the worker has drained: N events applied, 1 duplicate skipped, the raw
 * stream gauge back to 0 (it is sampled once a second: polled), Redis up.
 */
#include "harness.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OK 7
#define M_BADSIG 4
#define K_UNKNOWN 3

#define MAX_FAMILIES 128
#define MAX_SAMPLES 1024
#define MAX_LABELS 8

enum mtype { MT_UNTYPED, MT_COUNTER, MT_GAUGE, MT_HISTOGRAM, MT_SUMMARY };

struct family {
    char name[128];
    enum mtype type;
    int has_help, has_type;
    int first_sample, last_sample; /* -1 until a sample */
};

struct label {
    char name[64];
    char value[128];
};

struct sample {
    char name[128]; /* as written: foo_bucket, foo_sum… */
    int family;
    struct label labels[MAX_LABELS];
    int nlabels;
    double value;
    char key[512]; /* name{sorted labels}: identity of the series */
};

struct exposition {
    struct family fam[MAX_FAMILIES];
    int nfam;
    struct sample s[MAX_SAMPLES];
    int ns;
};

static struct exposition expo;

static int is_name_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_' || c == ':';
}

static int find_family(const struct exposition *e, const char *name)
{
    for (int i = 0; i < e->nfam; i++)
        if (strcmp(e->fam[i].name, name) == 0)
            return i;
    return -1;
}

static int add_family(struct exposition *e, const char *name, int line)
{
    int f = find_family(e, name);
    if (f >= 0)
        return f;
    JD_REQUIRE(e->nfam < MAX_FAMILIES, "line %d: more than %d metric families", line, MAX_FAMILIES);
    f = e->nfam++;
    /* `name` may point into *e (a sample's name): copy it out first so the two buffers of
     * the second snprintf cannot overlap (GCC's -Wrestrict sees that they could). */
    char copy[sizeof e->fam[f].name];
    snprintf(copy, sizeof copy, "%s", name);
    snprintf(e->fam[f].name, sizeof e->fam[f].name, "%s", copy);
    e->fam[f].type = MT_UNTYPED;
    e->fam[f].first_sample = e->fam[f].last_sample = -1;
    return f;
}

/* The family a sample name belongs to: itself, or a histogram/summary it is a part of. */
static int family_of(const struct exposition *e, const char *name)
{
    int f = find_family(e, name);
    if (f >= 0 && e->fam[f].has_type)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (size_t k = 0; k < 3; k++) {
        size_t sl = strlen(suffixes[k]);
        if (n <= sl || strcmp(name + n - sl, suffixes[k]) != 0)
            continue;
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(n - sl), name);
        int b = find_family(e, base);
        if (b >= 0 && (e->fam[b].type == MT_HISTOGRAM || (e->fam[b].type == MT_SUMMARY && k > 0)))
            return b;
    }
    return f;
}

static int parse_value(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' ? 0 : -1;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* One `name{l="v",…} value [timestamp]` line. */
static void parse_sample(struct exposition *e, const char *p, int line)
{
    JD_REQUIRE(e->ns < MAX_SAMPLES, "more than %d samples", MAX_SAMPLES);
    struct sample *s = &e->s[e->ns];
    memset(s, 0, sizeof *s);
    size_t n = 0;
    JD_REQUIRE(is_name_start((unsigned char)*p), "line %d: sample does not start with a name: %s",
               line, p);
    while (is_name_char((unsigned char)p[n]) && n + 1 < sizeof s->name) {
        s->name[n] = p[n];
        n++;
    }
    p += n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            JD_REQUIRE(s->nlabels < MAX_LABELS, "line %d: too many labels", line);
            struct label *l = &s->labels[s->nlabels++];
            size_t k = 0;
            JD_REQUIRE(isalpha((unsigned char)*p) || *p == '_', "line %d: bad label name at %s",
                       line, p);
            while ((isalnum((unsigned char)*p) || *p == '_') && k + 1 < sizeof l->name)
                l->name[k++] = *p++;
            JD_REQUIRE(p[0] == '=' && p[1] == '"', "line %d: want =\" after label %s", line,
                       l->name);
            p += 2;
            k = 0;
            while (*p && *p != '"') {
                char c = *p++;
                if (c == '\\') {
                    c = *p++;
                    JD_REQUIRE(c == '\\' || c == '"' || c == 'n',
                               "line %d: bad escape \\%c in a label value", line, c);
                    if (c == 'n')
                        c = '\n';
                }
                JD_REQUIRE(k + 1 < sizeof l->value, "line %d: label value too long", line);
                l->value[k++] = c;
            }
            JD_REQUIRE(*p == '"', "line %d: unterminated label value", line);
            p++;
            for (int j = 0; j < s->nlabels - 1; j++)
                JD_EXPECT(strcmp(s->labels[j].name, l->name) != 0, "line %d: label %s given twice",
                          line, l->name);
            if (*p == ',')
                p++;
            else
                JD_REQUIRE(*p == '}', "line %d: want , or } after a label", line);
        }
        p++;
    }
    JD_REQUIRE(*p == ' ', "line %d: want a space before the value", line);
    while (*p == ' ')
        p++;
    char num[64];
    size_t k = 0;
    while (*p && *p != ' ' && k + 1 < sizeof num)
        num[k++] = *p++;
    num[k] = '\0';
    JD_REQUIRE(parse_value(num, &s->value) == 0, "line %d: value \"%s\" is not a float", line, num);
    while (*p == ' ')
        p++;
    if (*p) {
        char *end;
        (void)strtoll(p, &end, 10);
        JD_REQUIRE(*end == '\0', "line %d: trailing garbage \"%s\"", line, p);
    }

    qsort(s->labels, (size_t)s->nlabels, sizeof s->labels[0], cmp_label);
    struct jd_buf key = {0};
    jd_buf_printf(&key, "%s{", s->name);
    for (int j = 0; j < s->nlabels; j++)
        jd_buf_printf(&key, "%s%s=\"%s\"", j ? "," : "", s->labels[j].name, s->labels[j].value);
    jd_buf_printf(&key, "}");
    snprintf(s->key, sizeof s->key, "%s", key.p);
    jd_buf_free(&key);
    for (int j = 0; j < e->ns; j++)
        JD_EXPECT(strcmp(e->s[j].key, s->key) != 0, "line %d: series %s appears twice", line,
                  s->key);

    int f = family_of(e, s->name);
    JD_EXPECT(f >= 0 && e->fam[f].has_type,
              "line %d: sample %s comes before (or without) a TYPE line for its family", line,
              s->name);
    if (f < 0)
        f = add_family(e, s->name, line);
    s->family = f;
    struct family *fam = &e->fam[f];
    /* A family's samples must be one contiguous group. */
    if (fam->last_sample >= 0 && fam->last_sample != e->ns - 1)
        jd_error(__FILE__, __LINE__, "line %d: family %s is split: %s comes after other families",
                 line, fam->name, s->name);
    if (fam->first_sample < 0)
        fam->first_sample = e->ns;
    fam->last_sample = e->ns;
    e->ns++;
}

static void parse_exposition(struct exposition *e, const char *text)
{
    memset(e, 0, sizeof *e);
    int line = 0;
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        JD_REQUIRE(eol, "the exposition does not end with a newline");
        char buf[1024];
        size_t len = (size_t)(eol - p);
        JD_REQUIRE(len < sizeof buf, "line %d is too long", line + 1);
        memcpy(buf, p, len);
        buf[len] = '\0';
        line++;
        p = eol + 1;
        if (len == 0)
            continue;
        if (buf[0] == '#') {
            char kw[8], name[128], rest[512];
            rest[0] = '\0';
            if (sscanf(buf, "# %7s %127s %511[^\n]", kw, name, rest) < 2)
                continue; /* a plain comment */
            if (strcmp(kw, "HELP") != 0 && strcmp(kw, "TYPE") != 0)
                continue;
            int f = find_family(e, name);
            if (f >= 0 && e->fam[f].first_sample >= 0)
                JD_EXPECT(0, "line %d: %s for %s after its samples", line, kw, name);
            f = add_family(e, name, line);
            if (strcmp(kw, "HELP") == 0) {
                JD_EXPECT(!e->fam[f].has_help, "line %d: second HELP for %s", line, name);
                e->fam[f].has_help = 1;
                JD_EXPECT(rest[0] != '\0', "line %d: empty HELP for %s", line, name);
            } else {
                JD_EXPECT(!e->fam[f].has_type, "line %d: second TYPE for %s", line, name);
                e->fam[f].has_type = 1;
                static const char *const types[] = {"untyped", "counter", "gauge", "histogram",
                                                    "summary"};
                int t = -1;
                for (int k = 0; k < 5; k++)
                    if (strcmp(rest, types[k]) == 0)
                        t = k;
                JD_EXPECT(t >= 0, "line %d: unknown TYPE \"%s\" for %s", line, rest, name);
                e->fam[f].type = t >= 0 ? (enum mtype)t : MT_UNTYPED;
            }
            continue;
        }
        parse_sample(e, buf, line);
    }
}

/* The value of series `key` (name{sorted labels}); -1 when absent (and recorded). */
static double value_of(const char *key)
{
    for (int i = 0; i < expo.ns; i++)
        if (strcmp(expo.s[i].key, key) == 0)
            return expo.s[i].value;
    jd_error(__FILE__, __LINE__, "/metrics has no series %s", key);
    return -1;
}

static void expect_value(const char *key, double want)
{
    double got = value_of(key);
    JD_EXPECT(got == want, "%s is %g, want %g", key, got, want);
}

static void expect_type(const char *family, enum mtype t)
{
    static const char *const names[] = {"untyped", "counter", "gauge", "histogram", "summary"};
    int f = find_family(&expo, family);
    JD_EXPECT(f >= 0 && expo.fam[f].has_type && expo.fam[f].type == t,
              "family %s: want TYPE %s, got %s", family, names[t],
              f >= 0 && expo.fam[f].has_type ? names[expo.fam[f].type] : "(none)");
    JD_EXPECT(f >= 0 && expo.fam[f].has_help, "family %s has no HELP line", family);
}

static void fetch_metrics(const struct jd_daemon *d)
{
    struct jd_http h;
    jd_get_auth(d, "/metrics", &h);
    JD_REQUIRE(h.status == 200 && h.body, "GET /metrics: want 200, got %ld", h.status);
    char ct[128];
    JD_EXPECT(jd_http_header(&h, "Content-Type", ct, sizeof ct) &&
                  strncmp(ct, "text/plain; version=0.0.4", 25) == 0,
              "GET /metrics Content-Type is \"%s\", want text/plain; version=0.0.4",
              jd_http_header(&h, "Content-Type", ct, sizeof ct) ? ct : "(none)");
    JD_EXPECT(strlen(h.body) == h.len, "/metrics holds a NUL byte");
    parse_exposition(&expo, h.body);
    jd_http_free(&h);
}

/* Buckets of the histogram: sorted by le, counts non-decreasing, +Inf == _count. */
static void check_histogram(const char *family, double want_count)
{
    double prev_le = -INFINITY, prev_count = -1, inf_count = -1;
    int nb = 0;
    char bucket[160], countname[160], sumname[160];
    snprintf(bucket, sizeof bucket, "%s_bucket", family);
    snprintf(countname, sizeof countname, "%s_count{}", family);
    snprintf(sumname, sizeof sumname, "%s_sum{}", family);
    for (int i = 0; i < expo.ns; i++) {
        const struct sample *s = &expo.s[i];
        if (strcmp(s->name, bucket) != 0)
            continue;
        nb++;
        const char *le = NULL;
        for (int j = 0; j < s->nlabels; j++)
            if (strcmp(s->labels[j].name, "le") == 0)
                le = s->labels[j].value;
        JD_EXPECT(le != NULL, "%s sample without le label", bucket);
        double lev;
        if (!le || parse_value(le, &lev) != 0) {
            jd_error(__FILE__, __LINE__, "%s: le=\"%s\" is not a float", bucket, le ? le : "");
            continue;
        }
        JD_EXPECT(lev > prev_le, "%s: le=%s after le=%g (buckets must be in increasing order)",
                  bucket, le, prev_le);
        JD_EXPECT(s->value >= prev_count,
                  "%s{le=\"%s\"} is %g, less than the bucket before (%g): not cumulative", bucket,
                  le, s->value, prev_count);
        JD_EXPECT(s->value >= 0 && s->value == (double)(int64_t)s->value,
                  "%s{le=\"%s\"} is %g, not a count", bucket, le, s->value);
        prev_le = lev;
        prev_count = s->value;
        if (isinf(lev) && lev > 0)
            inf_count = s->value;
    }
    JD_EXPECT(nb >= 2, "%s: %d buckets", family, nb);
    JD_EXPECT(inf_count >= 0, "%s has no le=\"+Inf\" bucket", family);
    double count = value_of(countname);
    double sum = value_of(sumname);
    JD_EXPECT(inf_count == count, "%s: +Inf bucket %g != _count %g", family, inf_count, count);
    JD_EXPECT(count == want_count, "%s_count is %g, want %g (one per /hooks answer)", family, count,
              want_count);
    JD_EXPECT(sum >= 0 && isfinite(sum), "%s_sum is %g", family, sum);
}

static char *stripe_body(int i)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"evt_metrics_%03d\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_metrics_%03d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
                  "\"currency\":\"eur\",\"customer\":\"cus_metrics_%03d\",\"customer_details\":"
                  "{\"email\":\"metrics%03d@example.com\"},\"payment_intent\":\"pi_metrics_%03d\","
                  "\"metadata\":{}}}}",
                  i, (int64_t)1790000000 + i, i, 1000 + i, i, i, i);
    return b.p;
}

int main(void)
{
    jd_setup("metrics", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    /* Before any webhook: parseable, no webhook series yet. */
    fetch_metrics(&d);
    expect_type("journeyd_webhooks_total", MT_COUNTER);
    expect_type("journeyd_ingest_seconds", MT_HISTOGRAM);

    struct jd_http h;
    for (int i = 0; i < N_OK; i++) {
        char *body = stripe_body(i);
        jd_post_stripe(&d, body, &h);
        JD_EXPECT(h.status == 200, "stripe webhook %d: want 200, got %ld", i, h.status);
        jd_http_free(&h);
        free(body);
    }
    /* A provider retry of webhook 0: answered 200, skipped by the worker. */
    char *dup = stripe_body(0);
    jd_post_stripe(&d, dup, &h);
    JD_EXPECT(h.status == 200, "redelivery: want 200, got %ld", h.status);
    jd_http_free(&h);

    char url[160], sig[256];
    snprintf(url, sizeof url, "%s/hooks/stripe", d.base);
    for (int i = 0; i < M_BADSIG; i++) {
        char *body = stripe_body(100 + i);
        jd_stripe_sig_header(sig, sizeof sig, "whsec_not_the_secret", jd_now_s(), body,
                             strlen(body));
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        jd_http(&h, "POST", url, hdrs, body, strlen(body));
        JD_EXPECT(h.status == 401, "badly signed webhook %d: want 401, got %ld", i, h.status);
        jd_http_free(&h);
        free(body);
    }
    for (int i = 0; i < K_UNKNOWN; i++) {
        char path[160];
        /* Different unknown names: they must all land in the one (unknown) series. */
        snprintf(path, sizeof path, "%s/hooks/nosuch%d", d.base, i);
        const char *hdrs[] = {"Content-Type: application/json", NULL};
        jd_http(&h, "POST", path, hdrs, dup, strlen(dup));
        JD_EXPECT(h.status == 404, "webhook to an unknown source: want 404, got %ld", h.status);
        jd_http_free(&h);
    }
    free(dup);

    long dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "%ld dead letters", dead);

    /* The raw-stream gauge is sampled once a second: wait for a sample after the drain. */
    int64_t deadline = jd_mono_ms() + 15000;
    double raw = -1;
    do {
        fetch_metrics(&d);
        raw = value_of("journeyd_raw_stream_length{}");
        if (raw == 0)
            break;
        jd_sleep_ms(200);
    } while (jd_mono_ms() < deadline);
    JD_EXPECT(raw == 0, "journeyd_raw_stream_length is %g 15 s after the drain, want 0", raw);

    jd_note("/metrics: %d families, %d samples", expo.nfam, expo.ns);
    for (int f = 0; f < expo.nfam; f++)
        JD_EXPECT(expo.fam[f].has_type && expo.fam[f].has_help, "family %s lacks %s",
                  expo.fam[f].name, expo.fam[f].has_type ? "HELP" : "TYPE");
    expect_type("journeyd_webhooks_total", MT_COUNTER);
    expect_type("journeyd_ingest_seconds", MT_HISTOGRAM);
    expect_type("journeyd_events_applied_total", MT_COUNTER);
    expect_type("journeyd_duplicates_skipped_total", MT_COUNTER);
    expect_type("journeyd_raw_stream_length", MT_GAUGE);
    expect_type("journeyd_redis_up", MT_GAUGE);

    expect_value("journeyd_webhooks_total{source=\"stripe\",status=\"200\"}", N_OK + 1);
    expect_value("journeyd_webhooks_total{source=\"stripe\",status=\"401\"}", M_BADSIG);
    expect_value("journeyd_webhooks_total{source=\"(unknown)\",status=\"404\"}", K_UNKNOWN);
    /* Nothing else was sent to /hooks: no other series, and no per-name label. */
    int nwebhook_series = 0;
    double answers = 0;
    for (int i = 0; i < expo.ns; i++) {
        if (strcmp(expo.s[i].name, "journeyd_webhooks_total") != 0)
            continue;
        nwebhook_series++;
        answers += expo.s[i].value;
        JD_EXPECT(!strstr(expo.s[i].key, "nosuch"), "the unknown source's name became a label: %s",
                  expo.s[i].key);
    }
    JD_EXPECT(nwebhook_series == 3, "%d journeyd_webhooks_total series, want 3", nwebhook_series);
    /* Every /hooks answer counted by source and status is one latency observation. */
    check_histogram("journeyd_ingest_seconds", answers);
    jd_note("journeyd_webhooks_total sums to %g answers; journeyd_ingest_seconds_count is %g",
            answers, value_of("journeyd_ingest_seconds_count{}"));

    expect_value("journeyd_events_applied_total{}", N_OK);
    expect_value("journeyd_duplicates_skipped_total{}", 1);
    expect_value("journeyd_redis_up{connection=\"ingest\"}", 1);
    expect_value("journeyd_redis_up{connection=\"worker\"}", 1);
    expect_value("journeyd_redis_up{connection=\"api\"}", 1);
    expect_value("journeyd_pending_entries{}", 0);
    expect_value("journeyd_dead_letters{}", 0);
    expect_value("journeyd_ingest_inflight{}", 0);

    jd_daemon_stop(&d);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
