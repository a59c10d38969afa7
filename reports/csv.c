/*
 * CSV for the report tables (see csv.h): the writer, then one table per report answer.
 */
#include "csv.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_START 4096

void rp_csv_init(struct rp_csv *c, size_t max)
{
    memset(c, 0, sizeof(*c));
    c->max = max;
}

void rp_csv_free(struct rp_csv *c)
{
    free(c->p);
    c->p = NULL;
    c->len = c->cap = 0;
}

/* Room for n more bytes and the final NUL, within max. */
static int reserve(struct rp_csv *c, size_t n)
{
    if (c->failed)
        return -1;
    if (n > c->max || c->len > c->max - n) {
        c->failed = 1;
        return -1;
    }
    if (c->len + n + 1 <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : CSV_START;
    while (cap < c->len + n + 1)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    char *p = realloc(c->p, cap);
    if (!p) {
        c->failed = 1;
        return -1;
    }
    c->p = p;
    c->cap = cap;
    return 0;
}

static void put(struct rp_csv *c, const char *s, size_t n)
{
    if (reserve(c, n))
        return;
    memcpy(c->p + c->len, s, n);
    c->len += n;
    c->p[c->len] = '\0';
}

static void separate(struct rp_csv *c)
{
    if (c->cells++)
        put(c, ",", 1);
}

void rp_csv_text(struct rp_csv *c, const char *text)
{
    separate(c);
    if (!text || !text[0])
        return;
    /* OWASP: = + - @ start a formula, and a leading tab or CR can hide one. */
    int formula = strchr("=+-@\t\r", text[0]) != NULL;
    int quote = strpbrk(text, ",\"\r\n") != NULL;
    if (quote)
        put(c, "\"", 1);
    if (formula)
        put(c, "'", 1);
    for (const char *s = text; *s;) {
        const char *q = strchr(s, '"');
        size_t n = q ? (size_t)(q - s) + 1 : strlen(s);
        put(c, s, n);
        if (q)
            put(c, "\"", 1); /* RFC 4180: a quote inside a quoted cell is doubled */
        s += n;
    }
    if (quote)
        put(c, "\"", 1);
}

/* cJSON's test whether 15 digits read back as the number: within a relative epsilon. */
static int close_enough(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= max * DBL_EPSILON;
}

/* The digits cJSON 1.7.15 prints for a number (print_number): 15 significant digits, or
 * 17 when 15 do not read back close enough. Written out here because
 * cJSON_PrintUnformatted of each cell allocates, which took a second for a 100000-row
 * attribution; test_csv checks the two agree. Integers below 10^15 (except -0) print the
 * same with %lld, which is cheaper. NaN and infinity (JSON null): nothing. */
static int number_text(double d, char *buf, size_t cap)
{
    int n;
    double back;
    if (isnan(d) || isinf(d))
        return 0;
    if (d == floor(d) && fabs(d) < 1e15 && !(d == 0 && signbit(d)))
        n = snprintf(buf, cap, "%lld", (long long)d);
    else if ((n = snprintf(buf, cap, "%1.15g", d)) > 0 && (size_t)n < cap &&
             (sscanf(buf, "%lg", &back) != 1 || !close_enough(back, d)))
        n = snprintf(buf, cap, "%1.17g", d);
    return n > 0 && (size_t)n < cap ? n : 0;
}

void rp_csv_value(struct rp_csv *c, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        rp_csv_text(c, v->valuestring);
        return;
    }
    separate(c);
    if (cJSON_IsRaw(v) && v->valuestring) {
        put(c, v->valuestring, strlen(v->valuestring)); /* rp_fixed_number's big numbers */
    } else if (cJSON_IsNumber(v)) {
        char buf[32];
        int n = number_text(v->valuedouble, buf, sizeof(buf));
        if (n > 0)
            put(c, buf, (size_t)n);
    } else if (cJSON_IsBool(v)) {
        put(c, cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5);
    }
}

void rp_csv_end_line(struct rp_csv *c)
{
    put(c, "\r\n", 2);
    c->cells = 0;
}

char *rp_csv_take(struct rp_csv *c)
{
    char *p = NULL;
    if (!c->failed && !reserve(c, 0))
        p = c->p;
    else
        free(c->p);
    c->p = NULL;
    c->len = c->cap = 0;
    return p;
}

static void header(struct rp_csv *c, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rp_csv_text(c, names[i]);
    rp_csv_end_line(c);
}

#define HEADER(c, ...)                                                                             \
    do {                                                                                           \
        static const char *const h_[] = {__VA_ARGS__};                                             \
        header((c), h_, sizeof(h_) / sizeof(h_[0]));                                               \
    } while (0)

static const cJSON *item(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* ---- attribution ---- */

/* model: the first cell of each line in a model=all answer, NULL in a one-model answer. */
static void attribution_line(struct rp_csv *c, const char *model, const cJSON *row, const char *cur)
{
    const cJSON *rev = item(row, "revenue"), *spend = item(row, "spend"), *roas = item(row, "roas");
    if (model)
        rp_csv_text(c, model);
    rp_csv_value(c, item(row, "key"));
    rp_csv_text(c, cur);
    rp_csv_value(c, cur ? item(rev, cur) : NULL);
    rp_csv_value(c, cur ? item(spend, cur) : NULL);
    rp_csv_value(c, cur ? item(roas, cur) : NULL);
    rp_csv_value(c, item(row, "conversions"));
    rp_csv_value(c, item(row, "touches"));
    rp_csv_end_line(c);
}

/* The lines of one model's rows: the one-model table's lines, model first when set. */
static void attribution_rows(struct rp_csv *c, const char *model, const cJSON *rows)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        const cJSON *rev = item(row, "revenue"), *spend = item(row, "spend"), *m;
        int lines = 0;
        /* Revenue's currencies, then those with spend only. */
        cJSON_ArrayForEach(m, rev)
        {
            attribution_line(c, model, row, m->string);
            lines++;
        }
        cJSON_ArrayForEach(m, spend)
        {
            if (!item(rev, m->string)) {
                attribution_line(c, model, row, m->string);
                lines++;
            }
        }
        if (!lines)
            attribution_line(c, model, row, NULL);
    }
}

char *rp_csv_attribution(const cJSON *answer, size_t max)
{
    const cJSON *rows = item(answer, "rows"), *models = item(answer, "models"), *m;
    struct rp_csv c;
    if (cJSON_IsObject(models)) {
        /* model=all: one table, a model column in front, the models in the answer's order. */
        cJSON_ArrayForEach(m, models)
        {
            if (!cJSON_IsArray(item(m, "rows")))
                return NULL;
        }
        rp_csv_init(&c, max);
        HEADER(&c, "model", "key", "currency", "revenue_minor", "spend_minor", "roas",
               "conversions", "touches");
        cJSON_ArrayForEach(m, models)
        {
            attribution_rows(&c, m->string, item(m, "rows"));
        }
        return rp_csv_take(&c);
    }
    if (!cJSON_IsArray(rows))
        return NULL;
    rp_csv_init(&c, max);
    HEADER(&c, "key", "currency", "revenue_minor", "spend_minor", "roas", "conversions", "touches");
    attribution_rows(&c, NULL, rows);
    return rp_csv_take(&c);
}

/* ---- funnel ---- */

static void funnel_period(struct rp_csv *c, const char *series, const cJSON *label,
                          const cJSON *stages)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, stages)
    {
        rp_csv_text(c, series);
        rp_csv_value(c, label);
        rp_csv_text(c, s->string);
        rp_csv_value(c, item(s, "contacts"));
        rp_csv_value(c, item(s, "rate"));
        rp_csv_value(c, item(s, "median_seconds"));
        rp_csv_end_line(c);
    }
}

char *rp_csv_funnel(const cJSON *answer, size_t max)
{
    const cJSON *periods = item(answer, "periods"), *p, *cmp = item(answer, "compare");
    struct rp_csv c;
    if (!cJSON_IsArray(periods))
        return NULL;
    rp_csv_init(&c, max);
    HEADER(&c, "series", "period", "stage", "contacts", "rate", "median_seconds");
    cJSON_ArrayForEach(p, periods)
    {
        funnel_period(&c, "range", item(p, "period"), item(p, "stages"));
    }
    if (cJSON_IsObject(cmp))
        funnel_period(&c, "compare", item(cmp, "period"), item(cmp, "stages"));
    return rp_csv_take(&c);
}

/* ---- SLA ---- */

/* Every scalar figure of one side, in the answer's order; a list counts its items. */
static void sla_side(struct rp_csv *c, const char *side, const cJSON *o)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, o)
    {
        if (cJSON_IsObject(f))
            continue;
        rp_csv_text(c, side);
        rp_csv_text(c, f->string);
        if (cJSON_IsArray(f)) {
            cJSON *n = cJSON_CreateNumber(cJSON_GetArraySize(f));
            if (!n)
                c->failed = 1;
            rp_csv_value(c, n);
            cJSON_Delete(n);
        } else {
            rp_csv_value(c, f);
        }
        rp_csv_text(c, NULL);
        rp_csv_end_line(c);
    }
}

char *rp_csv_sla(const cJSON *answer, size_t max)
{
    const cJSON *sales = item(answer, "sales"), *mkt = item(answer, "marketing");
    const cJSON *rev = item(answer, "revenue"), *m;
    struct rp_csv c;
    if (!cJSON_IsObject(sales) || !cJSON_IsObject(mkt) || !cJSON_IsObject(rev))
        return NULL;
    rp_csv_init(&c, max);
    HEADER(&c, "side", "figure", "value", "currency");
    static const char *const ends[] = {"from", "to"};
    for (size_t i = 0; i < 2; i++) {
        rp_csv_text(&c, "range");
        rp_csv_text(&c, ends[i]);
        rp_csv_value(&c, item(answer, ends[i]));
        rp_csv_text(&c, NULL);
        rp_csv_end_line(&c);
    }
    sla_side(&c, "sales", sales);
    sla_side(&c, "marketing", mkt);
    cJSON_ArrayForEach(m, rev)
    {
        rp_csv_text(&c, "revenue");
        rp_csv_text(&c, "revenue_minor");
        rp_csv_value(&c, m);
        rp_csv_text(&c, m->string);
        rp_csv_end_line(&c);
    }
    return rp_csv_take(&c);
}

char *rp_csv_sla_waiting(const cJSON *answer, size_t max)
{
    const cJSON *w = item(item(answer, "sales"), "waiting"), *e;
    struct rp_csv c;
    if (!cJSON_IsArray(w))
        return NULL;
    rp_csv_init(&c, max);
    HEADER(&c, "contact", "name", "email", "lead_at", "waited_seconds");
    cJSON_ArrayForEach(e, w)
    {
        rp_csv_value(&c, item(e, "contact"));
        rp_csv_value(&c, item(e, "name"));
        rp_csv_value(&c, item(e, "email"));
        rp_csv_value(&c, item(e, "lead_at"));
        rp_csv_value(&c, item(e, "waited_seconds"));
        rp_csv_end_line(&c);
    }
    return rp_csv_take(&c);
}

char *rp_csv_sla_by_owner(const cJSON *answer, size_t max)
{
    const cJSON *rows = item(item(answer, "sales"), "by_owner"), *e;
    struct rp_csv c;
    if (!cJSON_IsArray(rows))
        return NULL;
    rp_csv_init(&c, max);
    HEADER(&c, "owner", "answered", "within_sla", "median_seconds", "p90_seconds");
    cJSON_ArrayForEach(e, rows)
    {
        rp_csv_value(&c, item(e, "owner"));
        rp_csv_value(&c, item(e, "answered"));
        rp_csv_value(&c, item(e, "within_sla"));
        rp_csv_value(&c, item(e, "median_seconds"));
        rp_csv_value(&c, item(e, "p90_seconds"));
        rp_csv_end_line(&c);
    }
    return rp_csv_take(&c);
}

/* ---- content negotiation ---- */

static int lower_eq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (ch != word[i])
            return 0;
    }
    return i == n && !word[i];
}

/* q of one media range's parameters ("; q=0.5"), in thousandths; 1000 when absent. */
static int quality(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != ';')
            continue;
        size_t j = i + 1;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j + 1 < n && (s[j] == 'q' || s[j] == 'Q') && s[j + 1] == '=') {
            int q = 0, scale = 1000;
            j += 2;
            if (j < n && s[j] == '1')
                return 1000;
            if (j < n && s[j] == '0')
                j++;
            if (j < n && s[j] == '.')
                for (j++; j < n && s[j] >= '0' && s[j] <= '9' && scale > 1; j++)
                    q += (s[j] - '0') * (scale /= 10);
            return q;
        }
    }
    return 1000;
}

int rp_csv_accepted(const char *accept)
{
    int q_csv = -1, q_json = -1;
    if (!accept)
        return 0;
    for (const char *s = accept; *s;) {
        size_t n = strcspn(s, ",");
        size_t a = 0, b;
        while (a < n && (s[a] == ' ' || s[a] == '\t'))
            a++;
        b = a;
        while (b < n && s[b] != ';' && s[b] != ' ' && s[b] != '\t')
            b++;
        if (lower_eq(s + a, b - a, "text/csv"))
            q_csv = quality(s + b, n - b);
        else if (lower_eq(s + a, b - a, "application/json"))
            q_json = quality(s + b, n - b);
        s += n;
        if (*s == ',')
            s++;
    }
    return q_csv > 0 && q_csv > q_json;
}
