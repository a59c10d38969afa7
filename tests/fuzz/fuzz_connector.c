/*
 * libFuzzer target: verify + normalize of every connector on arbitrary bytes.
 *
 * Input layout: byte 0 picks the connector (modulo the registry's size), byte 1 the
 * operation: bit 0 verify (0) or normalize (1); for verify, bit 1 makes it a GET whose
 * query is the body (Meta's handshake, the click tracker) and bit 2 puts a form source in
 * origin mode; for normalize, when the connector asks for
 * look-ups, every answer is the body again with status 200 (bit 2 clear) or 404 (set).
 * Then "Name: value" header lines up to an empty line; the rest is the body. The clock
 * is fixed, so a finding replays exactly.
 *
 * Invariants checked on every input (h2o's driver_url.cc habit): nothing crashes or
 * leaks; a normalized event has an id, a kind, at most CX_MAX_IDENTITIES identities,
 * a three-letter currency with any amount, and its canonical JSON parses back. For the
 * open doors (DESIGN §2b), whatever verify accepts normalize accepts: the click tracker's
 * query (a GET's, as the record the door builds from it) and a form in origin mode (bit 2
 * of byte 1 on a verify), so a browser can never produce a dead letter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "connector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_HEADERS 16
#define FUZZ_NOW_MS 1700000000000LL

static void check(int cond)
{
    if (!cond)
        abort();
}

/* The open door's property: the record ingest would store for an accepted request is
 * one normalize accepts. */
static void check_open_door(const struct cx_connector *cx, const struct cx_source *src,
                            const struct cx_input *in)
{
    struct cx_raw raw = {.source = "fuzz",
                         .stream_id = "1700000000000-0",
                         .received_ms = FUZZ_NOW_MS,
                         .body = in->body,
                         .body_len = in->body_len,
                         .headers = in->headers,
                         .nheaders = in->nheaders};
    struct cx_event_list out;
    struct cx_err err;
    struct cx_form q;
    char *record = NULL;
    if (strcmp(cx->type, "click") == 0) {
        check(cx_form_parse(&q, in->query, strlen(in->query)) == 0);
        const char *to = cx_form_get(&q, "to");
        record = cx_click_record("c1", "a_0123456789abcdef0123456789abcdef", in->query,
                                 to ? to : "https://example.com/", FUZZ_NOW_MS);
        cx_form_free(&q);
        if (!record)
            return; /* out of memory */
        raw.body = (const unsigned char *)record;
        raw.body_len = strlen(record);
        raw.headers = NULL;
        raw.nheaders = 0;
    }
    memset(&err, 0, sizeof(err));
    cx_list_init(&out);
    check(cx->normalize(src, &raw, NULL, &out, NULL, &err) == CX_NORM_OK);
    cx_list_free(&out);
    cJSON_free(record);
}

static size_t split_headers(const uint8_t *data, size_t size, char *store, size_t cap,
                            struct cx_header *h, size_t *nh)
{
    size_t pos = 0, used = 0;
    *nh = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        if (len == 0) {
            pos += 1;
            break;
        }
        const uint8_t *colon = memchr(data + pos, ':', len);
        if (colon && *nh < FUZZ_MAX_HEADERS && used + len + 2 <= cap &&
            !memchr(data + pos, '\0', len)) {
            size_t nlen = (size_t)(colon - (data + pos));
            size_t vstart = nlen + 1;
            while (vstart < len && data[pos + vstart] == ' ')
                vstart++;
            char *name = store + used;
            memcpy(name, data + pos, nlen);
            name[nlen] = '\0';
            char *value = name + nlen + 1;
            memcpy(value, data + pos + vstart, len - vstart);
            value[len - vstart] = '\0';
            used += len + 2;
            h[*nh].name = name;
            h[*nh].value = value;
            (*nh)++;
        }
        pos += len + (nl ? 1 : 0);
    }
    return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nconnectors = 0;
    while (cx_connector_at(nconnectors))
        nconnectors++;
    if (size < 2 || nconnectors == 0)
        return 0;
    const struct cx_connector *cx = cx_connector_at(data[0] % nconnectors);
    int normalize = data[1] & 1, get = (data[1] >> 1) & 1;
    int bit2 = (data[1] >> 2) & 1;
    long answer_status = bit2 ? 404 : 200;
    data += 2;
    size -= 2;

    char store[8192];
    struct cx_header headers[FUZZ_MAX_HEADERS];
    size_t nheaders;
    size_t body_at = split_headers(data, size, store, sizeof(store), headers, &nheaders);
    /* A private copy, so a read past the end is caught by ASan. */
    size_t body_len = size - body_at;
    unsigned char *body = malloc(body_len ? body_len : 1);
    if (!body)
        return 0;
    memcpy(body, data + body_at, body_len);

    struct cx_source src = {
        .name = "fuzz",
        .type = cx->type,
        .secrets = {"whsec_test_secret", "form_test_secret"},
        .nsecrets = 2,
        .verify_token = "verify-token",
        .username = "user",
        .password = "pass",
        .public_url = "https://example.com/hooks/fuzz",
        .legacy_signatures = 1, /* so HubSpot's v1/v2 checks stay fuzzed */
        .api_token = "token",
        .allow_origins = "example.com",
        .tolerance_s = 300,
        .default_country_code = "39",
    };
    char query[1024];
    size_t qlen = body_len < sizeof(query) - 1 ? body_len : sizeof(query) - 1;
    memcpy(query, body, qlen);
    query[qlen] = '\0';
    if (!normalize) {
        struct cx_input in = {.method = get ? "GET" : "POST",
                              .query = get ? query : NULL,
                              .headers = headers,
                              .nheaders = nheaders,
                              .body = body,
                              .body_len = body_len,
                              .now_ms = FUZZ_NOW_MS};
        struct cx_reply reply;
        struct cx_err err;
        memset(&reply, 0, sizeof(reply));
        memset(&err, 0, sizeof(err));
        int origin = strcmp(cx->type, "form") == 0 && bit2;
        if (origin)
            src.auth = CX_AUTH_ORIGIN;
        enum cx_verdict v = cx->verify(&src, &in, &reply, &err);
        check(v <= CX_STALE);
        check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        if (v == CX_OK && (origin || (strcmp(cx->type, "click") == 0 && get)))
            check_open_door(cx, &src, &in);
    } else {
        struct cx_raw raw = {.source = "fuzz",
                             .stream_id = "1700000000000-0",
                             .received_ms = FUZZ_NOW_MS,
                             .body = body,
                             .body_len = body_len,
                             .headers = headers,
                             .nheaders = nheaders};
        struct cx_event_list out;
        struct cx_err err;
        memset(&err, 0, sizeof(err));
        cx_list_init(&out);
        struct cx_fetch_list need;
        memset(&need, 0, sizeof(need));
        enum cx_result r = cx->normalize(&src, &raw, NULL, &out, &need, &err);
        if (r == CX_NORM_NEED_FETCH) {
            /* The second call, with every look-up answered (the connector must not ask
             * for more than it can hold, nor leave a URL unterminated). */
            static struct cx_fetched fetched;
            check(need.n >= 1 && need.n <= CX_MAX_FETCHES);
            for (size_t i = 0; i < need.n; i++) {
                check(memchr(need.v[i].url, '\0', sizeof(need.v[i].url)) != NULL);
                fetched.v[i].status = answer_status;
                fetched.v[i].body = body;
                fetched.v[i].len = body_len;
            }
            fetched.n = need.n;
            cx_list_free(&out);
            cx_list_init(&out);
            memset(&need, 0, sizeof(need));
            r = cx->normalize(&src, &raw, &fetched, &out, &need, &err);
        }
        if (r == CX_NORM_OK) {
            check(out.n >= 1 && out.n <= CX_MAX_EVENTS);
            for (size_t i = 0; i < out.n; i++) {
                const struct cx_event *ev = &out.v[i];
                check(ev->id[0] != '\0' && ev->kind[0] != '\0');
                check(ev->nidentities <= CX_MAX_IDENTITIES);
                check(!ev->has_amount || strlen(ev->currency) == 3);
                char *json = cx_event_to_json(ev);
                if (json) {
                    cJSON *back = cJSON_Parse(json);
                    check(back != NULL);
                    cJSON_Delete(back);
                    free(json);
                }
            }
        }
        cx_list_free(&out);
    }
    free(body);
    return 0;
}
