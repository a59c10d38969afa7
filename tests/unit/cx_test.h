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

static inline void cx_test_norm_free(struct cx_test_norm *n)
{
    cx_list_free(&n->list);
    free(n->owned);
    n->owned = NULL;
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

#endif
