/*
 * What the connector unit tests share: reading a fixture from tests/data/<dir>/ and
 * finding a connector in the registry, one normalize call and its identity checks.
 * Include after <cmocka.h>.
 */
#ifndef JD_CX_TEST_H
#define JD_CX_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"

#ifndef JD_TEST_DATA
#define JD_TEST_DATA "tests/data"
#endif

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The whole file, NUL-terminated (malloc'd; the caller frees); fails the test when it
 * cannot be read. */
static inline unsigned char *cx_test_slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    unsigned char *buf = NULL;
    long size = 0;
    FILE *f;

    /* Set on every path: GCC at -O2 sees the early returns below and cannot know that
     * fail_msg does not return, so callers' `len` would be "maybe uninitialized". */
    *len = 0;
    snprintf(path, sizeof path, "%s/%s/%s", JD_TEST_DATA, dir, name);
    /* fail_msg jumps out of the test; the returns only satisfy the compiler. */
    f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        fail_msg("cannot size %s", path);
        return NULL;
    }
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        fail_msg("short read %s", path);
    fclose(f);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static inline const struct cx_connector *cx_test_connector(const char *type)
{
    const struct cx_connector *c = cx_lookup(type);
    assert_non_null(c);
    return c;
}

/* One normalize call of a connector, and what it leaves behind. */
struct cx_test_norm {
    struct cx_source src;
    struct cx_raw raw;
    struct cx_event_list list;
    struct cx_fetch_list need; /* what a connector that reads back asks for */
    struct cx_fetched fetched; /* the answers a test hands back (cx_test_norm_fetch) */
    struct cx_err err;
    unsigned char *owned; /* a fixture body read for the call */
};

/* Resets n for connector `type` fed by source `name`: default country code 39, the raw
 * record's stream id and arrival time as given. */
static inline void cx_test_norm_init(struct cx_test_norm *n, const char *type, const char *name,
                                     const char *stream_id, int64_t received_ms, const void *body,
                                     size_t len)
{
    memset(n, 0, sizeof *n);
    n->src.name = name;
    n->src.type = type;
    n->src.default_country_code = "39";
    n->raw.source = name;
    n->raw.stream_id = stream_id;
    n->raw.received_ms = received_ms;
    n->raw.body = body;
    n->raw.body_len = len;
    cx_list_init(&n->list);
}

static inline enum cx_result cx_test_norm_run(struct cx_test_norm *n)
{
    return cx_test_connector(n->src.type)
        ->normalize(&n->src, &n->raw, NULL, &n->list, NULL, &n->err);
}

/* Makes the fixture tests/data/<dir>/<name> the raw record's body (freed with n). */
static inline void cx_test_norm_load(struct cx_test_norm *n, const char *dir, const char *name)
{
    size_t len;

    free(n->owned);
    n->owned = cx_test_slurp(dir, name, &len);
    n->raw.body = n->owned;
    n->raw.body_len = len;
}

/* A normalize call of a connector that reads back (HubSpot, Pipedrive, Meta): it may ask
 * for fetches in n->need, and gets `fetched` (NULL: nothing fetched yet) as the answers.
 * The list, the asks and the error start empty, so a test may run the same n again. */
static inline enum cx_result cx_test_norm_fetch(struct cx_test_norm *n,
                                                const struct cx_fetched *fetched)
{
    cx_list_free(&n->list);
    cx_list_init(&n->list);
    memset(&n->need, 0, sizeof n->need);
    memset(&n->err, 0, sizeof n->err);
    return cx_test_connector(n->src.type)
        ->normalize(&n->src, &n->raw, fetched, &n->list, &n->need, &n->err);
}

/* Sets answer i of f (status, body of len bytes) and counts it in f->n. */
static inline void cx_test_answer(struct cx_fetched *f, size_t i, int status, const void *body,
                                  size_t len)
{
    assert_true(i < CX_MAX_FETCHES);
    f->v[i].status = status;
    f->v[i].body = body;
    f->v[i].len = len;
    if (f->n < i + 1)
        f->n = i + 1;
}

/* Where a connector's tests feed normalize from: the connector and the source's name, the
 * raw record's stream id and arrival time, and the folder of its fixtures under
 * tests/data. */
struct cx_test_feed {
    const char *type, *source;
    const char *stream_id;
    int64_t received_ms;
    const char *dir;
};

static inline void cx_test_norm_feed(struct cx_test_norm *n, const struct cx_test_feed *f,
                                     const void *body, size_t len)
{
    cx_test_norm_init(n, f->type, f->source, f->stream_id, f->received_ms, body, len);
}

/* cx_test_norm_feed with the fixture tests/data/<f->dir>/<name> as the body. */
static inline void cx_test_norm_feed_file(struct cx_test_norm *n, const struct cx_test_feed *f,
                                          const char *name)
{
    cx_test_norm_feed(n, f, NULL, 0);
    cx_test_norm_load(n, f->dir, name);
}

static inline enum cx_result cx_test_normalize(struct cx_test_norm *n, const struct cx_test_feed *f,
                                               const void *body, size_t len)
{
    cx_test_norm_feed(n, f, body, len);
    return cx_test_norm_run(n);
}

static inline enum cx_result cx_test_normalize_str(struct cx_test_norm *n,
                                                   const struct cx_test_feed *f, const char *body)
{
    return cx_test_normalize(n, f, body, strlen(body));
}

/* The fixture tests/data/<f->dir>/<name>, normalized (n owns the body). */
static inline enum cx_result cx_test_normalize_file(struct cx_test_norm *n,
                                                    const struct cx_test_feed *f, const char *name)
{
    cx_test_norm_feed_file(n, f, name);
    return cx_test_norm_run(n);
}

/* A source of connector `type` named `name` with the given secrets, nothing else set. */
static inline void cx_test_source_init(struct cx_source *src, const char *type, const char *name,
                                       const char *const *secrets, size_t nsecrets)
{
    memset(src, 0, sizeof *src);
    src->name = name;
    src->type = type;
    assert_true(nsecrets <= CX_MAX_SECRETS);
    for (size_t i = 0; i < nsecrets; i++)
        src->secrets[i] = secrets[i];
    src->nsecrets = nsecrets;
}

/* One verify call: a request with these headers and body to src at now_ms. */
static inline enum cx_verdict cx_test_verify(const struct cx_source *src, const char *method,
                                             const struct cx_header *h, size_t nheaders,
                                             const void *body, size_t len, int64_t now_ms)
{
    struct cx_input in;
    struct cx_reply reply;
    struct cx_err err;

    memset(&in, 0, sizeof in);
    memset(&err, 0, sizeof err);
    in.method = method;
    in.headers = h;
    in.nheaders = nheaders;
    in.body = body;
    in.body_len = len;
    in.now_ms = now_ms;
    return cx_test_connector(src->type)->verify(src, &in, &reply, &err);
}

static inline void cx_test_norm_free(struct cx_test_norm *n)
{
    cx_list_free(&n->list);
    free(n->owned);
    n->owned = NULL;
}

/* Row `row` of a table of bodies normalize turns away: it answered rc, the result wanted,
 * left no event behind, and said msg (when msg is set). */
static inline void cx_test_expect_refused(const struct cx_test_norm *n, size_t row,
                                          enum cx_result rc, enum cx_result want, const char *msg)
{
    if (rc != want)
        fail_msg("row %zu: got %d, want %d (%s)", row, (int)rc, (int)want, n->err.msg);
    if (n->list.n != 0)
        fail_msg("row %zu: %zu events left in the list", row, n->list.n);
    if (msg && strcmp(n->err.msg, msg) != 0)
        fail_msg("row %zu: message \"%s\", want \"%s\"", row, n->err.msg, msg);
}

/* The event's identities equal the (type, value) pairs in tv, in order (n = 2 × pairs). */
static inline void cx_test_expect_identities(const struct cx_event *ev, const char *const *tv,
                                             size_t n)
{
    if (ev->nidentities != n / 2)
        fail_msg("%zu identities, want %zu", ev->nidentities, n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        if (strcmp(ev->identities[i].type, tv[2 * i]) != 0 ||
            strcmp(ev->identities[i].value, tv[2 * i + 1]) != 0)
            fail_msg("identity %zu: got %s=%s, want %s=%s", i, ev->identities[i].type,
                     ev->identities[i].value, tv[2 * i], tv[2 * i + 1]);
    }
}

/* Generated inputs for the open doors' property (DESIGN §2b: whatever verify accepts,
 * normalize accepts): xorshift64, so a failing input replays from the same seed. */
static inline uint64_t cx_test_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One random edit of buf (len bytes; room for cap bytes plus a NUL, which it keeps after
 * the last byte): a piece that breaks escapes, UTF-8 or structure inserted, a range
 * deleted, a byte overwritten, a run of padding, a chunk repeated. The new length. */
static inline size_t cx_test_mutate(uint64_t *seed, char *buf, size_t len, size_t cap)
{
    static const char *const pieces[] = {
        "%FF",       "%C3%A9",
        "%00",       "%0A",
        "%zz",       "&",
        "=",         "+",
        "%",         "\xff",
        "\xc3\xa9",  "\"",
        "\\",        "\xed\xa0\x80",
        "%ED%A0%80", "%E2%82",
        "{",         "}",
        ":",         ",",
        "\t",        "utm_source=",
        "gclid=",    "submission_id=",
        "email=",    "a@b.it",
        "\x01",      " ",
        "\n",        "%09",
        "\"x\":\"",  "\\u0000",
    };
    uint64_t r = cx_test_rand(seed);
    size_t pos = len ? (size_t)(r >> 8) % (len + 1) : 0, n = 0;
    const char *ins = NULL;
    char run[512];

    switch (r % 6) {
    case 0:
    case 1:
        ins = pieces[(r >> 40) % (sizeof pieces / sizeof pieces[0])];
        n = strlen(ins);
        break;
    case 2: /* delete */
        n = 1 + (size_t)(r >> 40) % 8;
        if (pos + n > len)
            n = len - pos;
        memmove(buf + pos, buf + pos + n, len - pos - n);
        len -= n;
        buf[len] = '\0';
        return len;
    case 3: /* overwrite */
        if (pos < len)
            buf[pos] = (char)(r >> 32);
        return len;
    case 4: /* padding */
        n = (size_t)(r >> 40) % sizeof run;
        memset(run, 'a' + (int)((r >> 20) % 26), n);
        ins = run;
        break;
    default: /* repeat a chunk */
        n = (size_t)(r >> 40) % 64;
        if (pos + n > len)
            n = len - pos;
        if (n > sizeof run)
            n = sizeof run;
        memcpy(run, buf + pos, n);
        ins = run;
        break;
    }
    if (len + n > cap)
        return len;
    memmove(buf + pos + n, buf + pos, len - pos);
    memcpy(buf + pos, ins, n);
    len += n;
    buf[len] = '\0';
    return len;
}

#endif
