/*
 * Bad input of every kind gets a clear 4xx and leaves the daemon healthy (DESIGN §8):
 * each case asserts its exact status and, where the daemon's own handler answers, the
 * JSON error body. Nothing refused may reach a journey, and after all of it a valid
 * webhook is still accepted and applied.
 *
 * Poison events (authentic but unusable) must end in the dead-letter stream with a
 * reason without blocking the queue.
 *
 * Slow clients (half a request, then silence) are held open for the whole test: every
 * other case below is served while they stall, which is the property under test.
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#define NSLOW 40

static struct jd_daemon daemon_;

/* Emails of refused deliveries: none of them may have become a contact. */
static const char *refused_emails[64];
static size_t nrefused;

static void refused(const char *email)
{
    if (nrefused < sizeof refused_emails / sizeof refused_emails[0])
        refused_emails[nrefused++] = email;
}

static char *checkout(const char *evt, const char *email)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
                  "\"created\":%" PRId64 ",\"data\":{\"object\":{\"id\":\"cs_%s\","
                  "\"object\":\"checkout.session\",\"amount_total\":1000,\"currency\":\"eur\","
                  "\"customer\":\"cus_%s\",\"customer_details\":{\"email\":\"%s\"},"
                  "\"payment_intent\":\"pi_%s\",\"metadata\":{}}}}",
                  evt, jd_now_s(), evt, evt, email, evt);
    return b.p;
}

/* POST to /hooks/<source> with explicit headers; checks the status and the JSON error. */
static void expect_post(const char *what, const char *source, const char *const *hdrs,
                        const void *body, size_t len, long want, const char *want_error)
{
    char url[256];
    snprintf(url, sizeof url, "%s/hooks/%s", daemon_.base, source);
    struct jd_http h;
    jd_http(&h, "POST", url, hdrs, body, len);
    JD_EXPECT(h.status == want, "%s: want %ld, got %ld (curl %d) body %.200s", what, want, h.status,
              h.curl_code, h.body ? h.body : "");
    if (h.status == want && want >= 400)
        JD_EXPECT(jd_http_is_error(&h, want_error),
                  "%s: %ld without a JSON error body {\"error\":%s%s%s,\"message\":…}: %.200s",
                  what, want, want_error ? "\"" : "", want_error ? want_error : "<code>",
                  want_error ? "\"" : "", h.body ? h.body : "");
    jd_note("%-48s -> %ld %.120s", what, h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

static void stripe_signed(const char *what, const void *body, size_t len, long want)
{
    char sig[256];
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), body, len);
    const char *hdrs[] = {sig, "Content-Type: application/json; charset=utf-8", NULL};
    expect_post(what, "stripe", hdrs, body, len, want, NULL);
}

static void form_signed(const char *what, const char *body, const char *ctype, long want)
{
    char sig[256], ct[128];
    jd_form_sig_header(sig, sizeof sig, JD_FORM_SECRET, body, strlen(body));
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    const char *hdrs[] = {sig, ct, NULL};
    expect_post(what, "site", hdrs, body, strlen(body), want, NULL);
}

/* Half a request, in three flavours: a partial request line, partial headers, and full
 * headers with half of the announced body. */
static int open_slow_client(int i)
{
    int fd = jd_daemon_connect(&daemon_);
    static const char *const partial[] = {
        "POST /hooks/str",
        "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl",
        ("POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: 400\r\n\r\n{\"id\":\"evt_slow\",\"object\":\"ev"),
    };
    const char *p = partial[i % 3];
    JD_REQUIRE(send(fd, p, strlen(p), MSG_NOSIGNAL) == (ssize_t)strlen(p), "send: %s",
               strerror(errno));
    return fd;
}

/* 1 when the server closed (or reset) the connection; any answer bytes are drained. */
static int server_closed(int fd)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return 1;
        if (n < 0)
            return 0;
    }
}

/* Sends raw bytes and reads the first answer line: the daemon may answer 4xx or close the
 * connection, but never 2xx/5xx and never hang. Returns the status (0 = closed without an
 * answer). */
static long raw_exchange(const char *what, const void *data, size_t len)
{
    int fd = jd_daemon_connect(&daemon_);
    JD_REQUIRE(send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len || errno == ECONNRESET ||
                   errno == EPIPE,
               "%s: send: %s", what, strerror(errno));
    shutdown(fd, SHUT_WR);
    char buf[512];
    size_t used = 0;
    int64_t deadline = jd_mono_ms() + 15000;
    while (used < sizeof buf - 1 && jd_mono_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        if (memchr(buf, '\n', used))
            break;
    }
    buf[used] = '\0';
    close(fd);
    long st = 0;
    if (strncmp(buf, "HTTP/1.", 7) == 0 && used > 12)
        st = strtol(buf + 9, NULL, 10);
    JD_EXPECT(used > 0 || jd_mono_ms() < deadline, "%s: no answer and no close within 15 s", what);
    JD_EXPECT(st == 0 || (st >= 400 && st < 500), "%s: answered %ld, want a 4xx or a close", what,
              st);
    jd_note("%-48s -> %ld %.60s", what, st, st ? "" : "(connection closed)");
    return st;
}

/* An HTTP version other than 1.0 and 1.1 (libevent reads any %d.%d) is answered 505 in a
 * well-formed HTTP/1.1 status line, not echoed (found by tests/fuzz/fuzz_http.c). */
static void version_refused(const char *version)
{
    char req[128], buf[256];
    int n = snprintf(req, sizeof req, "GET /healthz HTTP/%s\r\nHost: x\r\n\r\n", version);
    int fd = jd_daemon_connect(&daemon_);
    JD_REQUIRE(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n, "send: %s", strerror(errno));
    shutdown(fd, SHUT_WR);
    size_t used = 0;
    int64_t deadline = jd_mono_ms() + 15000;
    while (used < sizeof buf - 1 && !memchr(buf, '\n', used) && jd_mono_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (r <= 0)
            break;
        used += (size_t)r;
    }
    buf[used] = '\0';
    close(fd);
    JD_EXPECT(strncmp(buf, "HTTP/1.1 505 ", 13) == 0, "HTTP/%s: want \"HTTP/1.1 505\", got %.40s",
              version, buf);
}

static void expect_get(const char *what, const char *path, const char *auth, long want,
                       const char *want_error)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", daemon_.base, path);
    const char *hdrs[] = {auth, NULL};
    struct jd_http h;
    jd_http(&h, "GET", url, auth ? hdrs : NULL, NULL, 0);
    JD_EXPECT(h.status == want, "%s: want %ld, got %ld body %.200s", what, want, h.status,
              h.body ? h.body : "");
    if (h.status == want && want >= 400)
        JD_EXPECT(jd_http_is_error(&h, want_error),
                  "%s: %ld without the JSON error {\"error\":\"%s\",…}: %.200s", what, want,
                  want_error ? want_error : "<code>", h.body ? h.body : "");
    jd_note("%-48s -> %ld %.120s", what, h.status, h.body ? h.body : "");
    jd_http_free(&h);
}

int main(void)
{
    jd_setup("bad_input", 240, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    /* A short request timeout so the stalled clients are seen to be cut off in the test's
     * lifetime (the default is 10 s). */
    jd_daemon_config(&daemon_, redis.port, "request_timeout = 3s\n");
    jd_daemon_start(&daemon_, 1);

    int slow[NSLOW];
    for (int i = 0; i < NSLOW; i++)
        slow[i] = open_slow_client(i);
    int64_t slow_since = jd_mono_ms();
    jd_note("%d slow clients hold half-sent requests", NSLOW);

    /* --- signatures --- */
    char *b = checkout("evt_bad_nosig", "nosig@example.com");
    refused("nosig@example.com");
    {
        const char *hdrs[] = {"Content-Type: application/json", NULL};
        expect_post("stripe without Stripe-Signature", "stripe", hdrs, b, strlen(b), 401, NULL);
    }
    free(b);

    b = checkout("evt_bad_wrongsig", "wrongsig@example.com");
    refused("wrongsig@example.com");
    {
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, "whsec_not_the_secret", jd_now_s(), b, strlen(b));
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        expect_post("stripe signed with another secret", "stripe", hdrs, b, strlen(b), 401, NULL);
        /* The right MAC over a different body (one byte appended). */
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), b, strlen(b) - 1);
        expect_post("stripe signature over other bytes", "stripe", hdrs, b, strlen(b), 401, NULL);
    }
    free(b);

    b = checkout("evt_bad_stale", "stale@example.com");
    refused("stale@example.com");
    {
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s() - 600, b, strlen(b));
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        expect_post("stripe timestamp 10 min old", "stripe", hdrs, b, strlen(b), 401, NULL);
        /* Just outside the 300 s tolerance (by 10 s, so the clock's tick cannot matter). */
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s() - 310, b, strlen(b));
        expect_post("stripe timestamp 310 s old", "stripe", hdrs, b, strlen(b), 401, NULL);
    }
    free(b);
    /* Just inside: a slow provider retry is still authentic. */
    b = checkout("evt_ok_290", "tolerance@example.com");
    {
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s() - 290, b, strlen(b));
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        expect_post("stripe timestamp 290 s old (within tolerance)", "stripe", hdrs, b, strlen(b),
                    200, NULL);
    }
    free(b);

    /* The right MAC offered only as v0: accepting v0 would be a downgrade. */
    b = checkout("evt_bad_v0", "v0@example.com");
    refused("v0@example.com");
    {
        char hex[65], sig[256];
        struct jd_buf msg = {0};
        int64_t t = jd_now_s();
        jd_buf_printf(&msg, "%" PRId64 ".%s", t, b);
        jd_hmac_hex(JD_STRIPE_SECRET, msg.p, msg.len, hex);
        jd_buf_free(&msg);
        snprintf(sig, sizeof sig, "Stripe-Signature: t=%" PRId64 ",v0=%s", t, hex);
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        expect_post("stripe with the MAC only in v0", "stripe", hdrs, b, strlen(b), 401, NULL);
        snprintf(sig, sizeof sig, "Stripe-Signature: v1=%s", hex);
        expect_post("stripe signature without t=", "stripe", hdrs, b, strlen(b), 401, NULL);
    }
    free(b);

    /* --- bodies that are not Stripe events (all correctly signed) --- */
    refused("malformed@example.com");
    static const char malformed[] = "{\"id\":\"evt_bad_json\",\"object\":\"event\",\"type\":"
                                    "\"checkout.session.completed\",\"data\":{\"object\":{"
                                    "\"customer_details\":{\"email\":\"malformed@example.com\"";
    stripe_signed("stripe malformed JSON", malformed, strlen(malformed), 400);

    refused("noid@example.com");
    static const char noid[] =
        "{\"object\":\"event\",\"type\":\"checkout.session.completed\",\"created\":1790000000,"
        "\"data\":{\"object\":{\"id\":\"cs_noid\",\"object\":\"checkout.session\","
        "\"amount_total\":1000,\"currency\":\"eur\",\"customer_details\":{\"email\":"
        "\"noid@example.com\"},\"payment_intent\":\"pi_noid\"}}}";
    stripe_signed("stripe event without id", noid, strlen(noid), 400);
    static const char array[] = "[{\"id\":\"evt_in_array\",\"object\":\"event\"}]";
    stripe_signed("stripe body that is a JSON array", array, strlen(array), 400);
    static const char notevent[] = "{\"id\":\"cus_123\",\"object\":\"customer\"}";
    stripe_signed("stripe object that is not an event", notevent, strlen(notevent), 400);
    stripe_signed("stripe empty body", "", 0, 400);

    refused("utf8@example.com");
    static const char badutf8[] =
        "{\"id\":\"evt_bad_utf8\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
        "\"created\":1790000000,\"data\":{\"object\":{\"id\":\"cs_utf8\",\"object\":"
        "\"checkout.session\",\"amount_total\":1000,\"currency\":\"eur\",\"customer_details\":"
        "{\"email\":\"utf8@example.com\",\"name\":\"Gi\xc3\x28ulia \xff\xfe \xed\xa0\x80\"},"
        "\"payment_intent\":\"pi_utf8\"}}}";
    stripe_signed("stripe JSON with invalid UTF-8", badutf8, strlen(badutf8), 400);

    /* 10,000 nested arrays inside an otherwise valid event. */
    refused("deep@example.com");
    struct jd_buf deep = {0};
    jd_buf_printf(&deep,
                  "{\"id\":\"evt_bad_deep\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_deep\",\"object\":\"checkout.session\",\"amount_total\":1000,"
                  "\"currency\":\"eur\",\"customer_details\":{\"email\":\"deep@example.com\"},"
                  "\"payment_intent\":\"pi_deep\",\"metadata\":{\"x\":",
                  jd_now_s());
    for (int i = 0; i < 10000; i++)
        jd_buf_append(&deep, "[", 1);
    for (int i = 0; i < 10000; i++)
        jd_buf_append(&deep, "]", 1);
    jd_buf_printf(&deep, "}}}}");
    stripe_signed("stripe JSON nested 10,000 deep", deep.p, deep.len, 400);

    /* --- size limits --- */
    refused("big@example.com");
    {
        /* A valid event padded to 2 MiB inside metadata; signed, so only the size is wrong. */
        struct jd_buf big = {0};
        jd_buf_printf(&big,
                      "{\"id\":\"evt_bad_big\",\"object\":\"event\",\"type\":"
                      "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                      "{\"id\":\"cs_big\",\"object\":\"checkout.session\",\"amount_total\":1000,"
                      "\"currency\":\"eur\",\"customer_details\":{\"email\":\"big@example.com\"},"
                      "\"payment_intent\":\"pi_big\",\"metadata\":{\"pad\":\"",
                      jd_now_s());
        while (big.len < 2u * 1024 * 1024)
            jd_buf_append(&big, "abcdefghijklmnopqrstuvwxyz012345", 32);
        jd_buf_printf(&big, "\"}}}}");
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), big.p, big.len);
        char url[256];
        snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
        /* Once as a polite client (Expect: 100-continue), once as one that just sends. */
        const char *hdrs1[] = {sig, "Content-Type: application/json", "Expect: 100-continue", NULL};
        const char *hdrs2[] = {sig, "Content-Type: application/json", NULL};
        const char *const *variants[] = {hdrs1, hdrs2};
        for (int v = 0; v < 2; v++) {
            struct jd_http h;
            jd_http(&h, "POST", url, variants[v], big.p, big.len);
            JD_EXPECT(h.status == 413, "2 MiB body (%s): want 413, got %ld (curl %d)",
                      v == 0 ? "Expect: 100-continue" : "sent at once", h.status, h.curl_code);
            if (h.status == 413 && !jd_http_is_error(&h, NULL))
                jd_note("NOTE 2 MiB body: 413 body is not a JSON error: %.100s",
                        h.body ? h.body : "");
            jd_note("%-48s -> %ld (curl %d)",
                    v == 0 ? "2 MiB body, Expect: 100-continue" : "2 MiB body, sent at once",
                    h.status, h.curl_code);
            jd_http_free(&h);
        }
        jd_buf_free(&big);
    }

    /* A 256 KiB header on an otherwise valid, signed webhook: the header limit must stop
     * it before the body is considered. */
    refused("hugeheader@example.com");
    {
        b = checkout("evt_bad_hdr", "hugeheader@example.com");
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), b, strlen(b));
        struct jd_buf pad = {0};
        jd_buf_printf(&pad, "X-Padding: ");
        while (pad.len < 256 * 1024)
            jd_buf_append(&pad, "0123456789abcdef", 16);
        const char *hdrs[] = {sig, "Content-Type: application/json", pad.p, NULL};
        char url[256];
        snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
        struct jd_http h;
        jd_http(&h, "POST", url, hdrs, b, strlen(b));
        JD_EXPECT(h.status == 431 || h.status == 413 || h.status == 400,
                  "256 KiB header: want 431 (or 413/400), got %ld (curl %d)", h.status,
                  h.curl_code);
        jd_note("%-48s -> %ld (curl %d)", "256 KiB request header", h.status, h.curl_code);
        jd_http_free(&h);
        jd_buf_free(&pad);
        free(b);
    }

    /* --- routing --- */
    b = checkout("evt_bad_unknown_source", "unknownsource@example.com");
    refused("unknownsource@example.com");
    {
        char sig[256];
        jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), b, strlen(b));
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        expect_post("unknown source /hooks/nosuch", "nosuch", hdrs, b, strlen(b), 404, NULL);
    }
    free(b);
    expect_get("GET /hooks/stripe (wrong method)", "/hooks/stripe", NULL, 405, NULL);
    {
        char url[256];
        snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
        struct jd_http h;
        jd_http(&h, "PUT", url, NULL, "{}", 2);
        JD_EXPECT(h.status == 405 && jd_http_is_error(&h, NULL),
                  "PUT /hooks/stripe: want 405 with a JSON error, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
        snprintf(url, sizeof url, "%s/v1/status", daemon_.base);
        const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
        jd_http(&h, "DELETE", url, auth, NULL, 0);
        JD_EXPECT(h.status == 405 && jd_http_is_error(&h, NULL),
                  "DELETE /v1/status: want 405 with a JSON error, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
    }
    expect_get("GET /nosuchpath", "/nosuchpath", NULL, 404, NULL);

    /* --- the form source --- */
    refused("ct@example.com");
    form_signed("form urlencoded body labelled JSON",
                "email=ct%40example.com&submission_id=bad_ct&name=Wrong+Type", "application/json",
                400);
    refused("ct2@example.com");
    {
        /* Not a format the form source speaks: 415 is the precise answer, 400 acceptable. */
        static const char fb[] = "{\"email\":\"ct2@example.com\",\"submission_id\":\"ct2\"}";
        char sig[256], url[256];
        jd_form_sig_header(sig, sizeof sig, JD_FORM_SECRET, fb, strlen(fb));
        const char *hdrs[] = {sig, "Content-Type: text/plain", NULL};
        snprintf(url, sizeof url, "%s/hooks/site", daemon_.base);
        struct jd_http h;
        jd_http(&h, "POST", url, hdrs, fb, strlen(fb));
        JD_EXPECT(
            (h.status == 415 || h.status == 400) && jd_http_is_error(&h, NULL),
            "form JSON labelled text/plain: want 415 or 400 with a JSON error, got %ld %.200s",
            h.status, h.body ? h.body : "");
        jd_note("%-48s -> %ld %.120s", "form JSON labelled text/plain", h.status,
                h.body ? h.body : "");
        jd_http_free(&h);
    }
    refused("formnosig@example.com");
    {
        static const char fb[] = "{\"email\":\"formnosig@example.com\",\"submission_id\":\"ns\"}";
        const char *hdrs[] = {"Content-Type: application/json", NULL};
        expect_post("form without signature", "site", hdrs, fb, strlen(fb), 401, NULL);
        const char *hdrs2[] = {"Content-Type: application/json",
                               "X-Journeyd-Signature: sha256=0000000000000000000000000000000000000"
                               "000000000000000000000000000",
                               NULL};
        expect_post("form with a wrong signature", "site", hdrs2, fb, strlen(fb), 401, NULL);
    }
    refused("formjson@example.com");
    form_signed("form malformed JSON", "{\"email\":\"formjson@example.com\",", "application/json",
                400);

    /* --- the API --- */
    expect_get("GET /v1/status without token", "/v1/status", NULL, 401, "unauthorized");
    expect_get("GET /v1/status with a wrong token", "/v1/status", "Authorization: Bearer nope", 401,
               "unauthorized");
    expect_get("GET /v1/status with a token prefix", "/v1/status",
               "Authorization: Bearer test-toke", 401, "unauthorized");
    expect_get("GET /v1/status with token + suffix", "/v1/status",
               "Authorization: Bearer " JD_TOKEN "X", 401, "unauthorized");
    expect_get("GET /v1/status with Basic auth", "/v1/status",
               "Authorization: Basic dGVzdC10b2tlbjp4", 401, "unauthorized");
    expect_get("GET /v1/journey without token", "/v1/journey?email=a%40example.com", NULL, 401,
               "unauthorized");
    expect_get("GET /v1/contacts/x without token", "/v1/contacts/c_x", NULL, 401, "unauthorized");
    {
        char url[256];
        snprintf(url, sizeof url, "%s/v1/events", daemon_.base);
        static const char ev[] = "{\"events\":[{\"id\":\"unauth\",\"kind\":\"custom\",\"at\":"
                                 "\"2026-10-01T12:00:00Z\",\"identities\":[{\"type\":\"email\","
                                 "\"value\":\"unauth@example.com\"}]}]}";
        refused("unauth@example.com");
        const char *hdrs[] = {"Content-Type: application/json", NULL};
        struct jd_http h;
        jd_http(&h, "POST", url, hdrs, ev, strlen(ev));
        JD_EXPECT(h.status == 401 && jd_http_is_error(&h, "unauthorized"),
                  "POST /v1/events without token: want 401 unauthorized, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);

        refused("evjson@example.com");
        jd_post_events(&daemon_, "{\"events\":[{\"id\":\"x\",\"kind\":", &h);
        JD_EXPECT(h.status == 400 && jd_http_is_error(&h, NULL),
                  "POST /v1/events malformed JSON: want 400 JSON error, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
        refused("evnoid@example.com");
        jd_post_events(&daemon_,
                       "{\"events\":[{\"kind\":\"custom\",\"at\":\"2026-10-01T12:00:00Z\","
                       "\"identities\":[{\"type\":\"email\",\"value\":\"evnoid@example.com\"}]}]}",
                       &h);
        JD_EXPECT(h.status == 400 && jd_http_is_error(&h, NULL),
                  "POST /v1/events event without id: want 400 JSON error, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
        jd_post_events(&daemon_, "{\"events\":{}}", &h);
        JD_EXPECT(h.status == 400 && jd_http_is_error(&h, NULL),
                  "POST /v1/events with events not an array: want 400, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
        jd_post_events(&daemon_, deep.p, &h);
        JD_EXPECT(h.status == 400 && jd_http_is_error(&h, NULL),
                  "POST /v1/events 10,000-deep JSON: want 400, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);
    }
    jd_buf_free(&deep);
    expect_get("GET /v1/journey without a key", "/v1/journey", "Authorization: Bearer " JD_TOKEN,
               400, NULL);

    {
        struct jd_http h;
        char url[256];
        snprintf(url, sizeof url, "%s/v1/events", daemon_.base);
        const char *auth[] = {"Authorization: Bearer " JD_TOKEN, NULL};
        jd_http(&h, "GET", url, auth, NULL, 0);
        JD_EXPECT(h.status == 405 && jd_http_is_error(&h, NULL),
                  "GET /v1/events: want 405 with a JSON error, got %ld %.200s", h.status,
                  h.body ? h.body : "");
        jd_http_free(&h);

        refused("evutf8@example.com");
        jd_post_events(&daemon_,
                       "{\"events\":[{\"id\":\"utf8\",\"kind\":\"custom\",\"at\":"
                       "\"2026-10-01T12:00:00Z\",\"identities\":[{\"type\":\"email\",\"value\":"
                       "\"evutf8@example.com\"}],\"attributes\":{\"x\":\"\xc0\xaf\xff\"}}]}",
                       &h);
        JD_EXPECT(h.status == 400 && jd_http_is_error(&h, NULL),
                  "POST /v1/events with invalid UTF-8: want 400 JSON error, got %ld %.200s",
                  h.status, h.body ? h.body : "");
        jd_http_free(&h);
    }
    refused("formutf8@example.com");
    form_signed("form JSON with invalid UTF-8",
                "{\"email\":\"formutf8@example.com\",\"name\":\"\xed\xa0\x80\xff\","
                "\"submission_id\":\"utf8\"}",
                "application/json", 400);

    /* --- the HTTP layer itself: garbage that never becomes a request --- */
    static const char junk1[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"; /* a TLS hello */
    raw_exchange("TLS ClientHello on the plain port", junk1, sizeof junk1 - 1);
    version_refused("-1.1");
    version_refused("0.1");
    version_refused("1.11"); /* (libevent itself answers 400 to "2.0") */
    static const char junk2[] = "GARBAGE\r\n\r\n";
    raw_exchange("request line GARBAGE", junk2, sizeof junk2 - 1);
    static const char junk3[] = "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: -5\r\n\r\n";
    raw_exchange("negative Content-Length", junk3, sizeof junk3 - 1);
    static const char junk4[] = "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: 99999999999999999999\r\n\r\n";
    raw_exchange("Content-Length beyond 64 bits", junk4, sizeof junk4 - 1);
    static const char junk5[] = "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\nBroken header\r\n"
                                "Content-Length: 2\r\n\r\n{}";
    raw_exchange("header line without a colon", junk5, sizeof junk5 - 1);
    static const char junk6[] = "GET /v1/journey?email=%zz%00 HTTP/1.1\r\nHost: x\r\n"
                                "Authorization: Bearer " JD_TOKEN "\r\n\r\n";
    raw_exchange("bad percent-encoding in the query", junk6, sizeof junk6 - 1);
    static const char junk7[] = "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    raw_exchange("invalid chunk size", junk7, sizeof junk7 - 1);

    /* --- click tracker --- */
    {
        char url[256];
        snprintf(url, sizeof url, "%s/c?to=https%%3A%%2F%%2Fevil.net%%2F", daemon_.base);
        struct jd_http h;
        char loc[256];
        jd_http(&h, "GET", url, NULL, NULL, 0);
        JD_EXPECT(h.status == 400 && !jd_http_header(&h, "Location", loc, sizeof loc),
                  "click to a host not allowed: want 400 without Location, got %ld", h.status);
        jd_http_free(&h);
        snprintf(url, sizeof url, "%s/c", daemon_.base);
        jd_http(&h, "GET", url, NULL, NULL, 0);
        JD_EXPECT(h.status == 400, "click without to=: want 400, got %ld", h.status);
        jd_http_free(&h);
    }

    /* --- still serving while the slow clients stall --- */
    JD_EXPECT(jd_daemon_alive(&daemon_), "journeyd died during the bad input");
    JD_EXPECT(jd_get_status(&daemon_, "/healthz") == 200, "/healthz is not 200 after bad input");
    JD_EXPECT(jd_get_status(&daemon_, "/readyz") == 200, "/readyz is not 200 after bad input");

    /* Poison: authentic, well-formed events the connector cannot turn into canonical
     * events (money that is not integer minor units, a currency that is not ISO 4217).
     * Refusing them at the door (400) is fine; accepting them means they must end in the
     * dead-letter stream with a reason, and must not block the valid webhook queued after
     * them. */
    int poison_accepted = 0;
    static const char *const poison[] = {
        "{\"id\":\"evt_poison_float\",\"object\":\"event\",\"type\":"
        "\"checkout.session.completed\",\"created\":1790000000,\"data\":{\"object\":{\"id\":"
        "\"cs_pf\",\"object\":\"checkout.session\",\"amount_total\":2490.5,\"currency\":"
        "\"eur\",\"customer_details\":{\"email\":\"poison1@example.com\"},"
        "\"payment_intent\":\"pi_pf\"}}}",
        "{\"id\":\"evt_poison_cur\",\"object\":\"event\",\"type\":"
        "\"checkout.session.completed\",\"created\":1790000000,\"data\":{\"object\":{\"id\":"
        "\"cs_pc\",\"object\":\"checkout.session\",\"amount_total\":1000,\"currency\":"
        "\"euro!\",\"customer_details\":{\"email\":\"poison2@example.com\"},"
        "\"payment_intent\":\"pi_pc\"}}}",
    };
    refused("poison1@example.com");
    refused("poison2@example.com");
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        struct jd_http h;
        jd_post_stripe(&daemon_, poison[i], &h);
        JD_EXPECT(h.status == 200 || h.status == 400, "poison event %zu: want 200 or 400, got %ld",
                  i, h.status);
        poison_accepted += h.status == 200;
        jd_note("%-48s -> %ld %.120s",
                i == 0 ? "poison: fractional amount" : "poison: bad currency", h.status,
                h.body ? h.body : "");
        jd_http_free(&h);
    }

    /* Stripe secret rotation: several v1, any one valid is enough. */
    b = checkout("evt_good_after", "good@example.com");
    {
        char sig[256], hex[65];
        struct jd_buf msg = {0};
        int64_t t = jd_now_s();
        jd_buf_printf(&msg, "%" PRId64 ".%s", t, b);
        jd_hmac_hex(JD_STRIPE_SECRET, msg.p, msg.len, hex);
        jd_buf_free(&msg);
        snprintf(sig, sizeof sig,
                 "Stripe-Signature: t=%" PRId64 ",v1=%064d,v1=%s,v0=%064d,x1=whatever", t, 0, hex,
                 0);
        const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
        char url[256];
        snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
        struct jd_http h;
        jd_http(&h, "POST", url, hdrs, b, strlen(b));
        JD_EXPECT(h.status == 200,
                  "valid webhook after the bad input (second of two v1): want 200,"
                  " got %ld %.200s",
                  h.status, h.body ? h.body : "");
        jd_http_free(&h);
    }
    free(b);
    form_signed("valid urlencoded form after the bad input",
                "email=formok%40example.com&submission_id=ok1&utm_source=google&utm_medium=cpc",
                "application/x-www-form-urlencoded", 200);

    long dead = jd_wait_drained(&daemon_, 60);
    JD_EXPECT(dead == poison_accepted,
              "dead_letters is %ld, want %d (the accepted poison events and nothing refused)", dead,
              poison_accepted);
    {
        /* Each dead letter says why: an operator must be able to fix and replay it. */
        redisContext *c = jd_redis_connect(&redis);
        redisReply *r = redisCommand(c, "XRANGE jd:dead - +");
        size_t with_reason = 0, n = 0;
        if (r && r->type == REDIS_REPLY_ARRAY) {
            n = r->elements;
            for (size_t i = 0; i < r->elements; i++) {
                const redisReply *e = r->element[i];
                const redisReply *f =
                    e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? e->element[1] : NULL;
                for (size_t k = 0; f && k + 1 < f->elements; k += 2)
                    if (f->element[k]->type == REDIS_REPLY_STRING &&
                        strcmp(f->element[k]->str, "reason") == 0 &&
                        f->element[k + 1]->type == REDIS_REPLY_STRING &&
                        f->element[k + 1]->len > 0) {
                        with_reason++;
                        jd_note("dead letter %zu reason: %s", i, f->element[k + 1]->str);
                    }
            }
        }
        if (r)
            freeReplyObject(r);
        redisFree(c);
        JD_EXPECT(n == (size_t)poison_accepted && with_reason == n,
                  "jd:dead holds %zu entries (%zu with a reason), want %d with reasons", n,
                  with_reason, poison_accepted);
    }
    long st;
    cJSON *j = jd_journey(&daemon_, "email", "good@example.com", &st);
    JD_EXPECT(st == 200 && jd_count_event(j, "stripe:evt_good_after") == 1,
              "the valid webhook after the bad input was not applied (journey status %ld)", st);
    cJSON_Delete(j);
    j = jd_journey(&daemon_, "email", "formok@example.com", &st);
    JD_EXPECT(st == 200 && jd_count_event(j, "form:site:ok1") == 1,
              "the valid form after the bad input was not applied (journey status %ld)", st);
    cJSON_Delete(j);
    for (size_t i = 0; i < nrefused; i++) {
        j = jd_journey(&daemon_, "email", refused_emails[i], &st);
        JD_EXPECT(st == 404, "refused delivery for %s reached a journey (status %ld): %s",
                  refused_emails[i], st, jd_json_brief(j));
        cJSON_Delete(j);
    }

    /* The stalled clients: request_timeout is 3 s, so within a generous minute the daemon
     * must have cut every one of them off (a slowloris would otherwise pin connections). */
    int open_left = NSLOW;
    int64_t deadline = slow_since + 60000;
    while (open_left > 0 && jd_mono_ms() < deadline) {
        open_left = 0;
        for (int i = 0; i < NSLOW; i++) {
            if (slow[i] >= 0 && server_closed(slow[i])) {
                close(slow[i]);
                slow[i] = -1;
            }
            if (slow[i] >= 0)
                open_left++;
        }
        if (open_left > 0)
            jd_sleep_ms(200);
    }
    JD_EXPECT(open_left == 0,
              "%d of %d stalled clients are still connected 60 s after request_timeout = 3s",
              open_left, NSLOW);
    jd_note("stalled clients cut off by the daemon: %d of %d", NSLOW - open_left, NSLOW);
    for (int i = 0; i < NSLOW; i++)
        if (slow[i] >= 0)
            close(slow[i]);

    JD_EXPECT(jd_get_status(&daemon_, "/healthz") == 200, "/healthz is not 200 at the end");
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
