/*
 * Report ranges and CSV over the real daemon (DESIGN §7 "Report ranges", "Every report
 * table also answers CSV"), in Europe/Rome:
 *   - period=2026-10 answers exactly what from=2026-10-01&to=2026-11-01 (local midnights)
 *     and the same range as RFC 3339 instants answer, also with an offset's raw '+';
 *     weeks and a 25-hour DST day likewise; a date is local midnight, not UTC's (a lead
 *     at 00:30 local on 1 October is in October);
 *   - without a range the funnel and the SLA cover the current local month so far, and
 *     attribution all time;
 *   - format=csv and Accept: text/csv give each report's table with the JSON's numbers,
 *     quoted by RFC 4180 and with campaign names that look like formulas defused;
 *   - phone= with a raw '+' finds the contact; bad ranges get 400 with the JSON error.
 *
 * October's instants are written out in UTC (CEST = UTC+2 until 2026-10-25T01:00Z, CET =
 * UTC+1 after), not computed with the machine's tzdata. The current month is read from
 * the machine's Europe/Rome like the daemon does: the point there is only that the
 * default equals the explicit range.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct jd_daemon daemon_;

#define EVIL_CAMPAIGN "=HYPERLINK(\"http://evil.example\",\"x\")"
#define COMMA_CAMPAIGN "autunno, \"promo\""
#define PHONE "+393331234567"

/* ---------------------------------------------------------------- sending */

static void post_event(const char *id, const char *kind, int64_t at_s, const char *email,
                       const char *phone, const char *campaign, const char *stage, int64_t minor,
                       const char *cur)
{
    char at[32];
    jd_rfc3339(at_s, at, sizeof at);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "events");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, e);
    cJSON_AddStringToObject(e, "id", id);
    cJSON_AddStringToObject(e, "kind", kind);
    cJSON_AddStringToObject(e, "at", at);
    cJSON *ids = cJSON_AddArrayToObject(e, "identities"), *idn = cJSON_CreateObject();
    cJSON_AddStringToObject(idn, "type", "email");
    cJSON_AddStringToObject(idn, "value", email);
    cJSON_AddItemToArray(ids, idn);
    if (phone) {
        idn = cJSON_CreateObject();
        cJSON_AddStringToObject(idn, "type", "phone");
        cJSON_AddStringToObject(idn, "value", phone);
        cJSON_AddItemToArray(ids, idn);
    }
    if (campaign) {
        cJSON *t = cJSON_AddObjectToObject(e, "touch");
        cJSON_AddStringToObject(t, "source", "google");
        cJSON_AddStringToObject(t, "medium", "cpc");
        cJSON_AddStringToObject(t, "campaign", campaign);
    }
    if (stage)
        cJSON_AddStringToObject(e, "stage", stage);
    if (minor) {
        cJSON *a = cJSON_AddObjectToObject(e, "amount");
        cJSON_AddNumberToObject(a, "minor", (double)minor);
        cJSON_AddStringToObject(a, "currency", cur);
        cJSON_AddStringToObject(e, "payment_key", id);
    }
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    JD_REQUIRE(body, "out of memory");
    struct jd_http h;
    jd_post_events(&daemon_, body, &h);
    JD_REQUIRE(h.status >= 200 && h.status < 300, "event %s: want 2xx, got %ld: %.300s", id,
               h.status, h.body ? h.body : "");
    jd_http_free(&h);
    cJSON_free(body);
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

/* ---------------------------------------------------------------- reading */

static cJSON *get_json(const char *path)
{
    struct jd_http h;
    jd_get_auth(&daemon_, path, &h);
    cJSON *j = h.status == 200 ? jd_http_json(&h) : NULL;
    JD_EXPECT(j, "GET %s: want 200 JSON, got %ld %.300s", path, h.status, h.body ? h.body : "");
    jd_http_free(&h);
    return j;
}

/* The SLA's waited_seconds grow with the clock between two requests: left out of
 * comparisons (the waiting contacts themselves are compared). */
static void drop_waited(cJSON *j)
{
    cJSON *w, *e;
    w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "sales"), "waiting");
    cJSON_ArrayForEach(e, w)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(e, "waited_seconds");
    }
}

/* Every path answers the same JSON as the first. */
static void expect_same(const char *const *paths, size_t n)
{
    cJSON *first = get_json(paths[0]);
    if (!first)
        return;
    drop_waited(first);
    for (size_t i = 1; i < n; i++) {
        cJSON *j = get_json(paths[i]);
        if (!j)
            continue;
        drop_waited(j);
        char *a = jd_json_print(first), *b = jd_json_print(j);
        JD_EXPECT(cJSON_Compare(first, j, 1),
                  "GET %s answered\n  %.600s\nbut GET %s answered\n  %.600s", paths[0], a, paths[i],
                  b);
        cJSON_free(a);
        cJSON_free(b);
        cJSON_Delete(j);
    }
    cJSON_Delete(first);
}

static void expect_400(const char *path, const char *word)
{
    struct jd_http h;
    jd_get_auth(&daemon_, path, &h);
    cJSON *j = jd_http_json(&h);
    const char *msg = jd_json_str(j, "message");
    JD_EXPECT(h.status == 400 && jd_http_is_error(&h, "bad_request") && msg && strstr(msg, word),
              "GET %s: want 400 bad_request naming \"%s\", got %ld %.300s", path, word, h.status,
              h.body ? h.body : "");
    cJSON_Delete(j);
    jd_http_free(&h);
}

/* ---------------------------------------------------------------- CSV */

#define CSV_ROWS 256
#define CSV_COLS 8

struct csv {
    int rows;
    char *cell[CSV_ROWS][CSV_COLS];
    int cols[CSV_ROWS];
};

static void csv_free(struct csv *c)
{
    for (int r = 0; r < c->rows; r++)
        for (int k = 0; k < c->cols[r]; k++)
            free(c->cell[r][k]);
    c->rows = 0;
}

/* RFC 4180 as a spreadsheet reads it: quoted cells may hold , " CR LF; lines end in CRLF.
 * 0, or -1 when the text is not that. */
static int csv_parse(const char *s, struct csv *c)
{
    memset(c, 0, sizeof *c);
    struct jd_buf cell = {0};
    while (*s) {
        JD_REQUIRE(c->rows < CSV_ROWS, "CSV: more than %d lines", CSV_ROWS);
        int r = c->rows;
        for (;;) {
            cell.len = 0;
            jd_buf_append(&cell, "", 0);
            if (*s == '"') {
                for (s++;; s++) {
                    if (!*s)
                        goto bad;
                    if (*s == '"' && s[1] == '"')
                        jd_buf_append(&cell, s++, 1);
                    else if (*s == '"')
                        break;
                    else
                        jd_buf_append(&cell, s, 1);
                }
                s++;
            } else {
                size_t n = strcspn(s, ",\r\n\"");
                jd_buf_append(&cell, s, n);
                s += n;
                if (*s == '"')
                    goto bad;
            }
            JD_REQUIRE(c->cols[r] < CSV_COLS, "CSV: more than %d cells", CSV_COLS);
            jd_buf_append(&cell, "", 1);
            c->cell[r][c->cols[r]++] = strdup(cell.p);
            if (*s == ',') {
                s++;
                continue;
            }
            if (s[0] == '\r' && s[1] == '\n') {
                s += 2;
                break;
            }
            goto bad;
        }
        c->rows++;
    }
    jd_buf_free(&cell);
    return 0;
bad:
    jd_buf_free(&cell);
    c->rows++;
    return -1;
}

/* The text a cell must hold for a JSON value: numbers as cJSON prints them, null empty. */
static void json_cell(const cJSON *v, char *out, size_t outlen)
{
    if (!v || cJSON_IsNull(v)) {
        out[0] = 0;
    } else if (cJSON_IsString(v)) {
        snprintf(out, outlen, "%s%s", strchr("=+-@", v->valuestring[0]) ? "'" : "", v->valuestring);
    } else if (cJSON_IsBool(v)) {
        snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else {
        char *p = jd_json_print(v);
        snprintf(out, outlen, "%s", p ? p : "?");
        cJSON_free(p);
    }
}

static void expect_cell(const struct csv *c, int r, int k, const cJSON *v, const char *what)
{
    char want[512];
    json_cell(v, want, sizeof want);
    const char *got = r < c->rows && k < c->cols[r] ? c->cell[r][k] : "(missing)";
    JD_EXPECT(!strcmp(got, want), "%s: CSV line %d cell %d is \"%s\", the JSON says \"%s\"", what,
              r, k, got, want);
}

static void expect_header(const struct csv *c, const char *const *names, int n, const char *what)
{
    JD_EXPECT(c->rows > 0 && c->cols[0] == n, "%s: header has %d cells, want %d", what,
              c->rows ? c->cols[0] : 0, n);
    for (int k = 0; c->rows && k < n && k < c->cols[0]; k++)
        JD_EXPECT(!strcmp(c->cell[0][k], names[k]), "%s: column %d is %s, want %s", what, k,
                  c->cell[0][k], names[k]);
}

/* GET path as CSV (format=csv appended, or Accept: text/csv), checked as a CSV answer. */
static int get_csv(const char *path, int by_accept, struct csv *c, char **raw)
{
    struct jd_http h;
    char url[1024], ctype[128];
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN,
                          by_accept ? "Accept: text/csv" : "Accept: */*", NULL};
    snprintf(url, sizeof url, "%s%s%s", daemon_.base, path,
             by_accept ? "" : (strchr(path, '?') ? "&format=csv" : "?format=csv"));
    jd_http(&h, "GET", url, hdrs, NULL, 0);
    int ok = h.status == 200 && jd_http_header(&h, "Content-Type", ctype, sizeof ctype) &&
             !strncmp(ctype, "text/csv", 8);
    JD_EXPECT(ok, "GET %s as CSV (%s): want 200 text/csv, got %ld %.300s", path,
              by_accept ? "Accept" : "format=csv", h.status, h.body ? h.body : "");
    if (ok) {
        ok = csv_parse(h.body, c) == 0;
        JD_EXPECT(ok, "GET %s: not RFC 4180 CSV:\n%s", path, h.body);
        if (!ok)
            csv_free(c);
    }
    if (ok && raw)
        *raw = strdup(h.body);
    jd_http_free(&h);
    return ok ? 0 : -1;
}

static void check_csv_attribution(const char *path)
{
    static const char *const cols[] = {"key",  "currency",    "revenue_minor", "spend_minor",
                                       "roas", "conversions", "touches"};
    cJSON *j = get_json(path);
    struct csv c;
    char *raw = NULL, *raw2 = NULL;
    if (!j || get_csv(path, 0, &c, &raw) != 0) {
        cJSON_Delete(j);
        return;
    }
    expect_header(&c, cols, 7, path);
    int r = 1, saw_evil = 0, saw_comma = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(j, "rows"))
    {
        const cJSON *m, *rev = cJSON_GetObjectItemCaseSensitive(row, "revenue");
        const char *key = jd_json_str(row, "key");
        saw_evil |= key && !strcmp(key, EVIL_CAMPAIGN);
        saw_comma |= key && !strcmp(key, COMMA_CAMPAIGN);
        /* No spend in this world: a line per revenue currency. */
        cJSON_ArrayForEach(m, rev)
        {
            expect_cell(&c, r, 0, cJSON_GetObjectItemCaseSensitive(row, "key"), path);
            JD_EXPECT(r < c.rows && c.cols[r] > 1 && !strcmp(c.cell[r][1], m->string),
                      "%s: line %d currency want %s", path, r, m->string);
            expect_cell(&c, r, 2, m, path);
            expect_cell(&c, r, 5, cJSON_GetObjectItemCaseSensitive(row, "conversions"), path);
            expect_cell(&c, r, 6, cJSON_GetObjectItemCaseSensitive(row, "touches"), path);
            r++;
        }
    }
    JD_EXPECT(r == c.rows, "%s: CSV has %d lines, the JSON's rows make %d", path, c.rows, r);
    if (strstr(path, "by=campaign")) {
        JD_EXPECT(saw_evil && saw_comma, "%s: the test's campaigns are not rows: %s", path,
                  jd_json_brief(j));
        /* The formula is defused inside RFC 4180 quotes; the comma and quotes survive. */
        JD_EXPECT(strstr(raw, "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",") &&
                      strstr(raw, "\"autunno, \"\"promo\"\"\","),
                  "%s: CSV text quotes or guards wrongly:\n%s", path, raw);
    }
    /* Accept: text/csv gives the very same file. */
    struct csv c2;
    if (get_csv(path, 1, &c2, &raw2) == 0) {
        JD_EXPECT(!strcmp(raw, raw2), "%s: Accept: text/csv and format=csv differ", path);
        csv_free(&c2);
    }
    free(raw);
    free(raw2);
    csv_free(&c);
    cJSON_Delete(j);
}

static void check_csv_funnel(const char *path)
{
    static const char *const cols[] = {"series",   "period", "stage",
                                       "contacts", "rate",   "median_seconds"};
    cJSON *j = get_json(path);
    struct csv c;
    if (!j || get_csv(path, 1, &c, NULL) != 0) {
        cJSON_Delete(j);
        return;
    }
    expect_header(&c, cols, 6, path);
    int r = 1;
    const cJSON *p, *s;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(j, "periods"))
    {
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(p, "stages"))
        {
            JD_EXPECT(r < c.rows && !strcmp(c.cell[r][0], "range") &&
                          !strcmp(c.cell[r][2], s->string),
                      "%s: line %d want range %s", path, r, s->string);
            expect_cell(&c, r, 1, cJSON_GetObjectItemCaseSensitive(p, "period"), path);
            expect_cell(&c, r, 3, cJSON_GetObjectItemCaseSensitive(s, "contacts"), path);
            expect_cell(&c, r, 4, cJSON_GetObjectItemCaseSensitive(s, "rate"), path);
            expect_cell(&c, r, 5, cJSON_GetObjectItemCaseSensitive(s, "median_seconds"), path);
            r++;
        }
    }
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(j, "compare");
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(cmp, "stages"))
    {
        JD_EXPECT(r < c.rows && !strcmp(c.cell[r][0], "compare"), "%s: line %d want compare", path,
                  r);
        expect_cell(&c, r, 1, cJSON_GetObjectItemCaseSensitive(cmp, "period"), path);
        expect_cell(&c, r, 3, cJSON_GetObjectItemCaseSensitive(s, "contacts"), path);
        expect_cell(&c, r, 4, cJSON_GetObjectItemCaseSensitive(s, "rate"), path);
        r++;
    }
    JD_EXPECT(r == c.rows && r > 5, "%s: CSV has %d lines, the JSON makes %d", path, c.rows, r);
    csv_free(&c);
    cJSON_Delete(j);
}

static void check_csv_sla(const char *path)
{
    static const char *const cols[] = {"side", "figure", "value", "currency"};
    static const char *const wcols[] = {"contact", "name", "email", "lead_at", "waited_seconds"};
    cJSON *j = get_json(path);
    struct csv c, w;
    char wpath[512];
    if (!j || get_csv(path, 0, &c, NULL) != 0) {
        cJSON_Delete(j);
        return;
    }
    expect_header(&c, cols, 4, path);
    int found = 0;
    for (int r = 1; r < c.rows; r++) {
        if (c.cols[r] != 4) {
            JD_EXPECT(0, "%s: line %d has %d cells", path, r, c.cols[r]);
            continue;
        }
        const char *side = c.cell[r][0], *fig = c.cell[r][1];
        const cJSON *v;
        if (!strcmp(side, "revenue"))
            v = jd_json_path(j, "revenue")
                    ? cJSON_GetObjectItemCaseSensitive(jd_json_path(j, "revenue"), c.cell[r][3])
                    : NULL;
        else if (!strcmp(side, "range"))
            v = cJSON_GetObjectItemCaseSensitive(j, fig);
        else
            v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, side), fig);
        if (cJSON_IsArray(v)) {
            char n[16];
            snprintf(n, sizeof n, "%d", cJSON_GetArraySize(v));
            JD_EXPECT(!strcmp(c.cell[r][2], n), "%s: %s.%s is %s, the list holds %s", path, side,
                      fig, c.cell[r][2], n);
        } else {
            JD_EXPECT(v, "%s: line %d names %s.%s, not in the JSON", path, r, side, fig);
            expect_cell(&c, r, 2, v, path);
        }
        found++;
    }
    /* Sales 10 figures (by_owner as its count), marketing 6, the range 2, a revenue line
     * per currency. */
    int want = 18 + cJSON_GetArraySize(jd_json_path(j, "revenue"));
    JD_EXPECT(found == want, "%s: %d figures in the CSV, want %d", path, found, want);
    snprintf(wpath, sizeof wpath, "%s&table=waiting", path);
    if (get_csv(wpath, 0, &w, NULL) == 0) {
        expect_header(&w, wcols, 5, wpath);
        const cJSON *e;
        int r = 1;
        cJSON_ArrayForEach(e, jd_json_path(j, "sales.waiting"))
        {
            expect_cell(&w, r, 0, cJSON_GetObjectItemCaseSensitive(e, "contact"), wpath);
            expect_cell(&w, r, 3, cJSON_GetObjectItemCaseSensitive(e, "lead_at"), wpath);
            r++;
        }
        JD_EXPECT(r == w.rows && r > 1, "%s: %d lines, want %d (at least one waiting)", wpath,
                  w.rows, r);
        csv_free(&w);
    }
    csv_free(&c);
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- the checks */

static int64_t funnel_leads(const cJSON *j, int period)
{
    int ok;
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "periods"), period);
    int64_t n = jd_json_int(jd_json_path(p, "stages.lead.contacts"), &ok);
    return ok ? n : -1;
}

static void check_october(void)
{
    static const char *const reports[] = {
        "/v1/reports/attribution?model=linear&by=campaign&",
        "/v1/reports/funnel?by=month&",
        "/v1/reports/funnel?by=week&view=activity&",
        "/v1/reports/sla?",
    };
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        char p[5][256];
        snprintf(p[0], sizeof p[0], "%speriod=2026-10", reports[i]);
        snprintf(p[1], sizeof p[1], "%sfrom=2026-10-01&to=2026-11-01", reports[i]);
        snprintf(p[2], sizeof p[2], "%sfrom=2026-09-30T22:00:00Z&to=2026-10-31T23:00:00Z",
                 reports[i]);
        /* The raw '+' a hand-typed URL carries, and the %2B the docs ask for. */
        snprintf(p[3], sizeof p[3], "%sfrom=2026-10-01T00:00:00+02:00&to=2026-11-01T00:00:00+01:00",
                 reports[i]);
        snprintf(p[4], sizeof p[4],
                 "%sfrom=2026-10-01T00:00:00%%2B02:00&to=2026-11-01T00:00:00%%2B01:00", reports[i]);
        const char *paths[] = {p[0], p[1], p[2], p[3], p[4]};
        expect_same(paths, 5);
        /* A week and the 25-hour day of the October DST change, by label and by dates. */
        snprintf(p[0], sizeof p[0], "%speriod=2026-W40", reports[i]);
        snprintf(p[1], sizeof p[1], "%sfrom=2026-09-28&to=2026-10-05", reports[i]);
        expect_same(paths, 2);
        snprintf(p[0], sizeof p[0], "%speriod=2026-10-25", reports[i]);
        snprintf(p[1], sizeof p[1], "%sfrom=2026-10-24T22:00:00Z&to=2026-10-25T23:00:00Z",
                 reports[i]);
        expect_same(paths, 2);
    }
    /* Local midnight: Anna's lead at 00:30 on 1 October (22:30Z on 30 September) is an
     * October lead, Bruno's at 23:30 on 30 September is not; Carla's at 23:30 on
     * 31 October (22:30Z) is, and so are Dario's and Gino's. Read as UTC midnights October
     * would hold 3. */
    cJSON *j = get_json("/v1/reports/funnel?by=month&period=2026-10");
    JD_EXPECT(j && funnel_leads(j, 0) == 4 &&
                  !strcmp(jd_json_str(j, "from"), "2026-09-30T22:00:00Z") &&
                  !strcmp(jd_json_str(j, "to"), "2026-10-31T23:00:00Z"),
              "funnel of period=2026-10: want 4 leads over [2026-09-30T22:00:00Z, "
              "2026-10-31T23:00:00Z), got %s",
              jd_json_brief(j));
    cJSON_Delete(j);
    j = get_json("/v1/reports/sla?period=2026-10-25");
    JD_EXPECT(j && !strcmp(jd_json_str(j, "from"), "2026-10-24T22:00:00Z") &&
                  !strcmp(jd_json_str(j, "to"), "2026-10-25T23:00:00Z"),
              "period=2026-10-25 is the 25-hour local day, got %s", jd_json_brief(j));
    cJSON_Delete(j);
}

static void check_defaults(int64_t month_start, int64_t before_s)
{
    char from[32];
    jd_rfc3339(month_start, from, sizeof from);
    static const char *const reports[] = {"/v1/reports/funnel?by=month",
                                          "/v1/reports/funnel?by=day&view=activity",
                                          "/v1/reports/sla"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        cJSON *j = get_json(reports[i]);
        int64_t after_s = jd_now_s(), to_s;
        const char *f = jd_json_str(j, "from"), *t = jd_json_str(j, "to");
        JD_EXPECT(f && !strcmp(f, from) && t && jd_parse_rfc3339(t, &to_s) == 0 &&
                      to_s >= before_s && to_s <= after_s,
                  "GET %s: want from %s to now, got %s", reports[i], from, jd_json_brief(j));
        if (i == 0)
            JD_EXPECT(funnel_leads(j, 0) == 1 &&
                          cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "periods")) == 1,
                      "GET %s: this month holds one lead (Elena), got %s", reports[i],
                      jd_json_brief(j));
        if (i == 2) {
            int ok;
            /* Elena paid at once: a marketing lead, self-served on the sales side. */
            JD_EXPECT(jd_json_int(jd_json_path(j, "marketing.leads"), &ok) == 1 && ok,
                      "GET %s: this month holds one lead, got %s", reports[i], jd_json_brief(j));
        }
        /* The same range given explicitly answers the same. */
        char explicit_[256];
        snprintf(explicit_, sizeof explicit_, "%s%sfrom=%s&to=%s", reports[i],
                 strchr(reports[i], '?') ? "&" : "?", f ? f : "", t ? t : "");
        cJSON *k = get_json(explicit_);
        if (j && k) {
            drop_waited(j);
            drop_waited(k);
            char *a = jd_json_print(j);
            JD_EXPECT(cJSON_Compare(j, k, 1), "GET %s answered\n  %s\nbut GET %s answered\n  %s",
                      reports[i], a, explicit_, jd_json_brief(k));
            cJSON_free(a);
        }
        cJSON_Delete(k);
        cJSON_Delete(j);
    }
    /* Attribution without a range: all time (October and this month). */
    cJSON *j = get_json("/v1/reports/attribution?model=linear&by=channel");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows"), *row;
    int64_t conv = 0;
    int ok;
    cJSON_ArrayForEach(row, rows)
    {
        conv += jd_json_int(cJSON_GetObjectItemCaseSensitive(row, "conversions"), &ok);
    }
    JD_EXPECT(j && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "from")) &&
                  cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "to")) && conv == 4,
              "attribution without a range: want all time (4 conversions), got %s",
              jd_json_brief(j));
    cJSON_Delete(j);
}

static void check_phone(void)
{
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "dario@example.it", &st);
    const char *id = jd_json_str(cJSON_GetObjectItemCaseSensitive(j, "contact"), "id");
    JD_REQUIRE(id && st == 200, "journey of dario: %ld", st);
    static const char *const queries[] = {
        "/v1/journey?phone=%2B393331234567",        /* as the docs say */
        "/v1/journey?phone=+393331234567",          /* a raw '+' */
        "/v1/journey?phone=+39%20333%20123%204567", /* a raw '+' and spaces */
        "/v1/journey?identity=phone:+393331234567",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        cJSON *k = get_json(queries[i]);
        const char *kid = jd_json_str(cJSON_GetObjectItemCaseSensitive(k, "contact"), "id");
        JD_EXPECT(kid && !strcmp(kid, id), "GET %s: want contact %s, got %s", queries[i], id,
                  jd_json_brief(k));
        cJSON_Delete(k);
    }
    cJSON_Delete(j);
}

static void check_bad(void)
{
    expect_400("/v1/reports/funnel?from=yesterday", "from");
    expect_400("/v1/reports/funnel?from=2026-10-01&to=next%20week", "to");
    expect_400("/v1/reports/sla?period=2026-13", "period");
    expect_400("/v1/reports/sla?period=2027-W53", "period");
    expect_400("/v1/reports/attribution?period=2026-02-30", "period");
    expect_400("/v1/reports/attribution?period=2026-10&from=2026-10-01", "not both");
    expect_400("/v1/reports/attribution?from=2026-11-01&to=2026-10-01", "before");
    expect_400("/v1/reports/funnel?to=2026-11-01", "from");
    expect_400("/v1/reports/funnel?from=2026-10-01T00:00:00", "from");
    expect_400("/v1/reports/attribution?format=xml", "format");
    expect_400("/v1/reports/sla?format=csv&table=everything", "table");
}

int main(void)
{
    jd_setup("report_ranges", 180, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    jd_daemon_config(&daemon_, redis.port, "timezone = Europe/Rome\n");
    jd_daemon_start(&daemon_, 1);

    /* October 2026. */
    post_event("anna_lead", "lead", utc(2026, 9, 30, 22, 30), "anna@example.it", NULL,
               EVIL_CAMPAIGN, NULL, 0, NULL);
    post_event("anna_pay", "payment", utc(2026, 10, 5, 10, 0), "anna@example.it", NULL, NULL, NULL,
               10000, "EUR");
    post_event("bruno_lead", "lead", utc(2026, 9, 30, 21, 30), "bruno@example.it", NULL,
               COMMA_CAMPAIGN, NULL, 0, NULL);
    post_event("bruno_q", "stage_change", utc(2026, 10, 3, 9, 0), "bruno@example.it", NULL, NULL,
               "qualified", 0, NULL);
    post_event("bruno_st", "sales_touch", utc(2026, 10, 1, 9, 0), "bruno@example.it", NULL, NULL,
               NULL, 0, NULL);
    post_event("bruno_pay", "payment", utc(2026, 10, 10, 10, 0), "bruno@example.it", NULL, NULL,
               NULL, 5000, "USD");
    post_event("carla_lead", "lead", utc(2026, 10, 31, 22, 30), "carla@example.it", NULL, NULL,
               NULL, 0, NULL);
    post_event("dario_lead", "lead", utc(2026, 10, 15, 8, 0), "dario@example.it", PHONE,
               COMMA_CAMPAIGN, NULL, 0, NULL);
    post_event("dario_q", "stage_change", utc(2026, 10, 16, 8, 0), "dario@example.it", NULL, NULL,
               "qualified", 0, NULL);
    /* Gino's lead is never answered: the SLA lists him as waiting. */
    post_event("gino_lead", "lead", utc(2026, 10, 20, 8, 0), "gino@example.it", NULL, NULL, NULL, 0,
               NULL);
    post_event("dario_pay", "payment", utc(2026, 10, 20, 8, 0), "dario@example.it", NULL, NULL,
               NULL, 7001, "EUR");

    /* This month (the machine's clock, in Rome like the daemon), and the one before. */
    setenv("TZ", "Europe/Rome", 1);
    tzset();
    time_t now = (time_t)jd_now_s();
    struct tm tm;
    JD_REQUIRE(localtime_r(&now, &tm), "localtime_r");
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t month_start = (int64_t)mktime(&tm);
    JD_REQUIRE(month_start > 0 && month_start <= now, "month start");
    int64_t mid = month_start + (now - month_start) / 2;
    post_event("elena_lead", "lead", mid, "elena@example.it", NULL, "now", NULL, 0, NULL);
    post_event("elena_pay", "payment", mid, "elena@example.it", NULL, NULL, NULL, 2500, "EUR");
    post_event("fabio_lead", "lead", month_start - 86400, "fabio@example.it", NULL, NULL, NULL, 0,
               NULL);

    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == 0, "dead letters: %ld", dead);

    check_october();
    check_defaults(month_start, (int64_t)now);
    check_csv_attribution("/v1/reports/attribution?model=linear&by=campaign&period=2026-10");
    check_csv_attribution("/v1/reports/attribution?model=position&by=channel");
    check_csv_funnel("/v1/reports/funnel?by=week&period=2026-10&compare=2026-W35");
    check_csv_funnel("/v1/reports/funnel?by=month&view=activity&from=2026-09-01&to=2026-12-01"
                     "&compare=2026-10");
    check_csv_sla("/v1/reports/sla?period=2026-10");
    check_phone();
    check_bad();

    jd_daemon_stop(&daemon_);
    jd_redis_shutdown(&redis);
    return jd_finish();
}
