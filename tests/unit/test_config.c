/*
 * Unit tests of the config parser (daemon/config.c, its tables in config_keys.c):
 * defaults, every value grammar, every error with its exact line, _file /
 * $CREDENTIALS_DIRECTORY / env: values, the connectors' cx view, what each source type
 * requires (from its connector's descriptor), SIGHUP's restart-only comparison, and the
 * shipped journeyd.conf.example. Run under ASan: every error path must free what it built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "stderr_capture.h"

#ifndef JD_TEST_DATA
#define JD_TEST_DATA "tests/data"
#endif

static struct cfg *parse_named(const char *text, const char *name, struct cfg_err *err)
{
    return cfg_parse(text, strlen(text), name, err);
}

static struct cfg *must_parse(const char *text)
{
    struct cfg_err err;
    struct cfg *c = parse_named(text, "test.conf", &err);
    if (!c)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

static void expect_error(const char *text, const char *msg)
{
    struct cfg_err err;
    struct cfg *c = parse_named(text, "test.conf", &err);
    if (c) {
        cfg_free(c);
        fail_msg("parsed, but expected: %s", msg);
    }
    assert_string_equal(err.msg, msg);
}

/* "[journeyd]\n<key> = <value>\n": the value sits on line 2. */
static struct cfg *main_value(const char *key, const char *value, struct cfg_err *err)
{
    char text[8192];
    snprintf(text, sizeof(text), "[journeyd]\n%s = %s\n", key, value);
    return parse_named(text, "test.conf", err);
}

static struct cfg *must_main_value(const char *key, const char *value)
{
    struct cfg_err err;
    struct cfg *c = main_value(key, value, &err);
    if (!c)
        fail_msg("%s = %s: unexpected error: %s", key, value, err.msg);
    return c;
}

static void expect_main_error(const char *key, const char *value, const char *what)
{
    struct cfg_err err;
    char want[512];
    struct cfg *c = main_value(key, value, &err);
    if (c) {
        cfg_free(c);
        fail_msg("%s = %s parsed, but expected: %s", key, value, what);
    }
    snprintf(want, sizeof(want), "test.conf:2: %s", what);
    assert_string_equal(err.msg, want);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void make_tmpdir(char *dir, size_t dirsz)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dirsz, "%s/jd-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static void test_defaults(void **state)
{
    (void)state;
    struct cfg *c = must_parse("");
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6379);
    assert_null(c->redis_unix);
    assert_int_equal(c->napi_tokens, 0);
    assert_string_equal(c->default_country_code, "");
    assert_string_equal(c->timezone, "UTC");
    assert_int_equal(c->nclick_allow, 0);
    assert_int_equal(c->click_cookie_secure, 1);
    assert_int_equal(c->click_cookie_days, 365);
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->max_body, 1024 * 1024);
    assert_int_equal(c->request_timeout_ms, 10000);
    assert_int_equal(c->redis_timeout_ms, 2000);
    assert_int_equal(c->redis_connect_timeout_ms, 2000);
    assert_int_equal(c->max_inflight, 4096);
    assert_int_equal(c->max_connections, 4096);
    assert_int_equal(c->max_queue, 1000000);
    assert_int_equal(c->dedup_days, 7);
    assert_int_equal(c->worker_batch, 256);
    assert_int_equal(c->claim_idle_ms, 30000);
    assert_int_equal(c->max_deliveries, 5);
    assert_int_equal(c->retry_after_s, 5);
    assert_int_equal(c->drain_timeout_ms, 10000);
    assert_int_equal(c->nunique_types, 2);
    assert_string_equal(c->unique_types[0], "hubspot_contact");
    assert_string_equal(c->unique_types[1], "pipedrive_person");
    assert_string_equal(c->roles, "ingest,worker,api");
    assert_int_equal(c->max_journey_events, 10000);
    assert_string_equal(c->consumer, "");
    assert_int_equal(c->nsources, 0);
    cfg_free(c);

    /* An empty [journeyd] section is the same as none. */
    c = must_parse("[journeyd]\n");
    assert_int_equal(c->listen_port, 8080);
    cfg_free(c);
}

static void test_source_defaults(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[source hooks]\ntype = events\nsecret = t_padded_to_16ch\n");
    assert_int_equal(c->nsources, 1);
    const struct cfg_source *s = &c->sources[0];
    assert_string_equal(s->name, "hooks");
    assert_string_equal(s->type, "events");
    assert_int_equal(s->cx.nsecrets, 1);
    assert_null(s->cx.verify_token);
    assert_null(s->cx.username);
    assert_null(s->cx.allow_origins);
    assert_int_equal(s->cx.auth, CX_AUTH_HMAC);
    assert_int_equal(s->cx.tolerance_s, 300);
    assert_int_equal(s->cx.legacy_signatures, 0);
    cfg_free(c);
}

static void test_syntax(void **state)
{
    (void)state;
    /* Comments, blank lines, CRLF, a BOM, spaces everywhere, '#' inside a value. */
    static const char text[] = "\xEF\xBB\xBF"
                               "; leading comment\r\n"
                               "# another\r\n"
                               "\r\n"
                               "  [ journeyd ]   ; trailing comment\r\n"
                               "\tlog_level\t=\tdebug   # why not\r\n"
                               "timezone=Europe/Rome;not-a-comment\r\n"
                               "consumer = worker-1 ;comment\r\n"
                               "[source  web-1.eu_x]\r\n"
                               "type = form\r\n"
                               "secret = ab#cd;ef_padded_to_16ch, gh_padded_to_16ch ;comment\r\n";
    struct cfg_err err;
    struct cfg *c = parse_named(text, "test.conf", &err);
    /* "Europe/Rome;not-a-comment" is a value with a ';' in it, and not a valid zone. */
    assert_null(c);
    assert_string_equal(err.msg, "test.conf:6: invalid value 'Europe/Rome;not-a-comment' for "
                                 "timezone: expected a zone name like Europe/Rome");

    static const char ok[] = "\xEF\xBB\xBF"
                             "; leading comment\r\n"
                             "  [ journeyd ]   ; trailing comment\r\n"
                             "\tlog_level\t=\tdebug   # why not\r\n"
                             "consumer = worker-1 ;comment\r\n"
                             "[source  web-1.eu_x]\r\n"
                             "type = form\r\n"
                             "secret = ab#cd;ef_padded_to_16ch, gh_padded_to_16ch ;comment\r\n"
                             "stages =\r\n"; /* empty value, no newline at the end */
    c = must_parse(ok);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->consumer, "worker-1");
    assert_int_equal(c->nsources, 1);
    assert_string_equal(c->sources[0].name, "web-1.eu_x");
    assert_int_equal(c->sources[0].cx.nsecrets, 2);
    assert_string_equal(c->sources[0].cx.secrets[0], "ab#cd;ef_padded_to_16ch");
    assert_string_equal(c->sources[0].cx.secrets[1], "gh_padded_to_16ch");
    assert_string_equal(c->sources[0].stages, "");
    cfg_free(c);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t bytes;
    } good[] = {
        {"1k", 1024},         {"1K", 1024},     {"1KiB", 1024},
        {"1KB", 1024},        {"2M", 2 << 20},  {"2m", 2 << 20},
        {"2MiB", 2 << 20},    {"3 M", 3 << 20}, {"64M", 64 << 20},
        {"65536K", 64 << 20}, {"1024", 1024},   {"1024B", 1024},
        {"1500000", 1500000}, {"0G", 0},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cfg_err err;
        struct cfg *c = main_value("max_body", good[i].in, &err);
        if (good[i].bytes == 0) { /* 0G parses as a size, then fails the range */
            assert_null(c);
            assert_string_equal(err.msg,
                                "test.conf:2: invalid value '0G' for max_body: expected 1K..64M");
            continue;
        }
        if (!c)
            fail_msg("%s: %s", good[i].in, err.msg);
        assert_int_equal(c->max_body, good[i].bytes);
        cfg_free(c);
    }
    static const char *const malformed[] = {"abc",   "1.5M", "M",  "-1M",  "1MX",
                                            "1 M B", "1Mi",  "1T", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        char what[256];
        snprintf(what, sizeof(what), "invalid value '%s' for max_body: expected a size like 1M",
                 malformed[i]);
        expect_main_error("max_body", malformed[i], what);
    }
    expect_main_error("max_body", "1023", "invalid value '1023' for max_body: expected 1K..64M");
    expect_main_error("max_body", "65M", "invalid value '65M' for max_body: expected 1K..64M");
    expect_main_error("max_body", "1G", "invalid value '1G' for max_body: expected 1K..64M");
    /* Overflow in the multiplication, not only in the digits. */
    expect_main_error("max_body", "9223372036854775807G",
                      "invalid value '9223372036854775807G' for max_body: expected a size like 1M");
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *key, *in;
        int64_t want;
    } good[] = {
        {"request_timeout", "10s", 10000}, {"request_timeout", "500ms", 500},
        {"request_timeout", "2m", 120000}, {"request_timeout", "10m", 600000},
        {"request_timeout", "30", 30000},  {"request_timeout", "100ms", 100},
        {"request_timeout", "5 s", 5000},  {"claim_idle", "1d", 86400000},
        {"claim_idle", "1h", 3600000},     {"drain_timeout", "0", 0},
        {"drain_timeout", "0ms", 0},       {"redis_timeout", "10ms", 10},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cfg *c = must_main_value(good[i].key, good[i].in);
        int64_t got = strcmp(good[i].key, "request_timeout") == 0 ? c->request_timeout_ms
                      : strcmp(good[i].key, "claim_idle") == 0    ? c->claim_idle_ms
                      : strcmp(good[i].key, "drain_timeout") == 0 ? c->drain_timeout_ms
                                                                  : c->redis_timeout_ms;
        assert_int_equal(got, good[i].want);
        cfg_free(c);
    }
    struct cfg *c = must_main_value("retry_after", "1m");
    assert_int_equal(c->retry_after_s, 60);
    cfg_free(c);
    c = must_main_value("retry_after", "2000ms");
    assert_int_equal(c->retry_after_s, 2);
    cfg_free(c);
    c = must_main_value("redis_connect_timeout", "250ms");
    assert_int_equal(c->redis_connect_timeout_ms, 250);
    cfg_free(c);

    expect_main_error("request_timeout", "11m",
                      "invalid value '11m' for request_timeout: expected 100ms..10m");
    expect_main_error("request_timeout", "99ms",
                      "invalid value '99ms' for request_timeout: expected 100ms..10m");
    expect_main_error("request_timeout", "1x",
                      "invalid value '1x' for request_timeout: expected a duration like 10s");
    expect_main_error("request_timeout", "1.5s",
                      "invalid value '1.5s' for request_timeout: expected a duration like 10s");
    expect_main_error("request_timeout", "s",
                      "invalid value 's' for request_timeout: expected a duration like 10s");
    expect_main_error("request_timeout", "-1s",
                      "invalid value '-1s' for request_timeout: expected a duration like 10s");
    expect_main_error("retry_after", "1500ms",
                      "invalid value '1500ms' for retry_after: expected whole seconds");
    expect_main_error("claim_idle", "2d", "invalid value '2d' for claim_idle: expected 1s..1d");

    c = must_parse("[source s]\ntype = stripe\nsecret = x_padded_to_16ch\ntolerance = 10m\n");
    assert_int_equal(c->sources[0].cx.tolerance_s, 600);
    cfg_free(c);
    expect_error("[source s]\ntype = stripe\nsecret = x_padded_to_16ch\ntolerance = 0\n",
                 "test.conf:4: invalid value '0' for tolerance: expected 1s..7d");
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int want;
    } cases[] = {{"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1},
                 {"off", 0}, {"1", 1},  {"0", 0},    {"YES", 1},   {"Off", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg *c = must_main_value("click_cookie_secure", cases[i].in);
        assert_int_equal(c->click_cookie_secure, cases[i].want);
        cfg_free(c);
    }
    expect_main_error("click_cookie_secure", "maybe",
                      "invalid value 'maybe' for click_cookie_secure: expected yes or no");
    expect_main_error("click_cookie_secure", "2",
                      "invalid value '2' for click_cookie_secure: expected yes or no");
}

static void test_ints(void **state)
{
    (void)state;
    struct cfg *c = must_main_value("worker_batch", "1");
    assert_int_equal(c->worker_batch, 1);
    cfg_free(c);
    c = must_main_value("worker_batch", "1000");
    assert_int_equal(c->worker_batch, 1000);
    cfg_free(c);
    c = must_main_value("max_inflight", "10");
    assert_int_equal(c->max_inflight, 10);
    cfg_free(c);
    c = must_main_value("max_queue", "5000000000");
    assert_int_equal(c->max_queue, INT64_C(5000000000));
    cfg_free(c);

    expect_main_error("worker_batch", "0", "invalid value '0' for worker_batch: expected 1..1000");
    expect_main_error("worker_batch", "1001",
                      "invalid value '1001' for worker_batch: expected 1..1000");
    expect_main_error("worker_batch", "-5",
                      "invalid value '-5' for worker_batch: expected 1..1000");
    expect_main_error("worker_batch", "12x",
                      "invalid value '12x' for worker_batch: expected an integer");
    expect_main_error("worker_batch", "+5",
                      "invalid value '+5' for worker_batch: expected an integer");
    expect_main_error("worker_batch", "", "invalid value '' for worker_batch: expected an integer");
    expect_main_error("dedup_days", "2", "invalid value '2' for dedup_days: expected 3..3650");
    expect_main_error("max_deliveries", "101",
                      "invalid value '101' for max_deliveries: expected 1..100");
    expect_main_error("click_cookie_days", "3651",
                      "invalid value '3651' for click_cookie_days: expected 1..3650");
    expect_main_error("max_queue", "99999999999999999999",
                      "invalid value '99999999999999999999' for max_queue: expected an integer");
}

static void test_lists(void **state)
{
    (void)state;
    struct cfg *c =
        must_main_value("api_tokens", "  a_padded_to_16ch , b_padded_to_16ch,c_padded_to_16ch  ");
    assert_int_equal(c->napi_tokens, 3);
    assert_string_equal(c->api_tokens[0], "a_padded_to_16ch");
    assert_string_equal(c->api_tokens[1], "b_padded_to_16ch");
    assert_string_equal(c->api_tokens[2], "c_padded_to_16ch");
    cfg_free(c);

    c = must_main_value("api_tokens", "");
    assert_int_equal(c->napi_tokens, 0);
    cfg_free(c);

    c = must_main_value("click_allow", "example.com, Shop.Example.com:8443, localhost");
    assert_int_equal(c->nclick_allow, 3);
    assert_string_equal(c->click_allow[1], "Shop.Example.com:8443");
    cfg_free(c);

    c = must_main_value("roles", " worker ,api ");
    assert_string_equal(c->roles, "worker,api");
    cfg_free(c);

    c = must_main_value("unique_types", "hubspot_contact, custom:crm_id");
    assert_int_equal(c->nunique_types, 2);
    assert_string_equal(c->unique_types[1], "custom:crm_id");
    cfg_free(c);

    expect_main_error("api_tokens", "a_padded_to_16ch,,b_padded_to_16ch",
                      "empty item in api_tokens");
    expect_main_error("api_tokens", "a_padded_to_16ch, b_padded_to_16ch,",
                      "empty item in api_tokens");
    expect_main_error("api_tokens", ", a_padded_to_16ch", "empty item in api_tokens");
    char many[17 * 20] = "";
    for (int i = 1; i <= 17; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%stoken-%02d-of-many",
                 i > 1 ? "," : "", i);
    expect_main_error("api_tokens", many, "too many items in api_tokens (at most 16)");
    *strrchr(many, ',') = '\0';
    c = must_main_value("api_tokens", many);
    assert_int_equal(c->napi_tokens, 16);
    assert_string_equal(c->api_tokens[15], "token-16-of-many");
    cfg_free(c);
    expect_main_error("click_allow", "example.com, https://evil.example",
                      "invalid item 'https://evil.example' in click_allow: expected a host "
                      "name like example.com, not a URL");
    expect_main_error("click_allow", "exa mple.com",
                      "invalid item 'exa mple.com' in click_allow: expected a host name like "
                      "example.com");
    expect_main_error("click_allow", "example.com:0",
                      "invalid item 'example.com:0' in click_allow: expected a host name like "
                      "example.com, with an optional :port");
    expect_main_error("roles", "ingest, cron",
                      "invalid item 'cron' in roles: expected one of ingest, worker, api");
    expect_main_error("roles", "", "roles needs at least 1 item");
    expect_main_error("unique_types", "Hub Spot",
                      "invalid item 'Hub Spot' in unique_types: expected an identity type like "
                      "hubspot_contact");
}

static void test_hostport(void **state)
{
    (void)state;
    struct cfg *c = must_main_value("listen", "[::1]:9000");
    assert_string_equal(c->listen_host, "::1");
    assert_int_equal(c->listen_port, 9000);
    cfg_free(c);
    c = must_main_value("listen", "0.0.0.0:80");
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 80);
    cfg_free(c);
    c = must_main_value("listen", "localhost:65535");
    assert_string_equal(c->listen_host, "localhost");
    assert_int_equal(c->listen_port, 65535);
    cfg_free(c);

    static const char *const bad[] = {"localhost", ":8080", "::1:80", "[::1]80", "[]:80", "a b:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char what[256];
        snprintf(what, sizeof(what),
                 "invalid value '%s' for listen: expected host:port like 127.0.0.1:8080 or "
                 "[::1]:8080",
                 bad[i]);
        expect_main_error("listen", bad[i], what);
    }
    static const char *const badport[] = {"h:0", "h:65536", "h:x", "h:", "h:-1", "h:+80"};
    for (size_t i = 0; i < sizeof(badport) / sizeof(badport[0]); i++) {
        char what[256];
        snprintf(what, sizeof(what),
                 "invalid value '%s' for listen: expected a port 1..65535 after the ':'",
                 badport[i]);
        expect_main_error("listen", badport[i], what);
    }
}

static void test_redis(void **state)
{
    (void)state;
    struct cfg *c = must_main_value("redis", "unix:/run/redis/redis.sock");
    assert_null(c->redis_host);
    assert_int_equal(c->redis_port, 0);
    assert_string_equal(c->redis_unix, "/run/redis/redis.sock");
    cfg_free(c);
    c = must_main_value("redis", "redis.internal:6380");
    assert_string_equal(c->redis_host, "redis.internal");
    assert_int_equal(c->redis_port, 6380);
    assert_null(c->redis_unix);
    cfg_free(c);
    c = must_main_value("redis", "[2001:db8::1]:6379");
    assert_string_equal(c->redis_host, "2001:db8::1");
    cfg_free(c);

    expect_main_error(
        "redis", "unix:redis.sock",
        "invalid value 'unix:redis.sock' for redis: expected unix:/absolute/path.sock");
    expect_main_error("redis", "unix:",
                      "invalid value 'unix:' for redis: expected "
                      "unix:/absolute/path.sock");
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    memcpy(longpath, "unix:/", 6);
    struct cfg_err err;
    c = main_value("redis", longpath, &err);
    assert_null(c);
    assert_non_null(strstr(err.msg, "expected unix:/absolute/path.sock"));
    expect_main_error("redis", "nohost",
                      "invalid value 'nohost' for redis: expected host:port, unix:/path or "
                      "redis://[user@]host[:port][/db]");
}

static void test_enums_and_strings(void **state)
{
    (void)state;
    static const char *const levels[] = {"debug", "info", "notice", "warning", "error"};
    for (size_t i = 0; i < 5; i++) {
        struct cfg *c = must_main_value("log_level", levels[i]);
        assert_string_equal(c->log_level, levels[i]);
        cfg_free(c);
    }
    expect_main_error("log_level", "verbose",
                      "invalid value 'verbose' for log_level: expected one of debug, info, "
                      "notice, warning, error");
    expect_main_error("log_level", "INFO",
                      "invalid value 'INFO' for log_level: expected one of debug, info, "
                      "notice, warning, error");

    static const char *const codes[] = {"1", "39", "999"};
    for (size_t i = 0; i < 3; i++) {
        struct cfg *c = must_main_value("default_country_code", codes[i]);
        assert_string_equal(c->default_country_code, codes[i]);
        cfg_free(c);
    }
    static const char *const badcodes[] = {"0", "1234", "3a", "+39", "039"};
    for (size_t i = 0; i < 5; i++) {
        char what[256];
        snprintf(what, sizeof(what),
                 "invalid value '%s' for default_country_code: expected 1-3 digits like 39, "
                 "or nothing",
                 badcodes[i]);
        expect_main_error("default_country_code", badcodes[i], what);
    }

    struct cfg *c = must_main_value("timezone", "America/Argentina/Buenos_Aires");
    assert_string_equal(c->timezone, "America/Argentina/Buenos_Aires");
    cfg_free(c);
    expect_main_error("timezone", "../../etc/passwd",
                      "invalid value '../../etc/passwd' for timezone: expected a zone name like "
                      "Europe/Rome");
    expect_main_error("timezone", "",
                      "invalid value '' for timezone: expected a zone name like "
                      "Europe/Rome");
    c = must_main_value("consumer", "host-1:4242");
    assert_string_equal(c->consumer, "host-1:4242");
    cfg_free(c);
    expect_main_error("consumer", "a b",
                      "invalid value 'a b' for consumer: expected at most 128 of A-Z a-z 0-9 _ . "
                      ": @ -");
    /* A control character in a value, echoed escaped. */
    expect_main_error("consumer", "a\x01z",
                      "invalid value 'a?z' for consumer: contains a control character");
}

static void test_errors_with_lines(void **state)
{
    (void)state;
    expect_error("[journeyd]\nlisten = 1.2.3.4:80\n\n[source stripe]\ntype = stripe\nscret = x\n",
                 "test.conf:6: unknown key 'scret' in [source stripe]");
    expect_error("[journeyd]\n\nlisen = 1.2.3.4:80\n", "test.conf:3: unknown key 'lisen' in "
                                                       "[journeyd]");
    expect_error("[source s]\ntype = events\nfoo_file = /x\n",
                 "test.conf:3: unknown key 'foo_file' in [source s]");
    expect_error("[journeyd]\n[sources x]\n", "test.conf:2: unknown section [sources x]");
    expect_error("[Journeyd]\n", "test.conf:1: unknown section [Journeyd]");
    expect_error("# comment\nlisten = 1.2.3.4:80\n",
                 "test.conf:2: key 'listen' outside any section");
    expect_error("[journeyd]\nlog_level = info\n; x\nlog_level = debug\n",
                 "test.conf:4: duplicate key 'log_level' in [journeyd] (first at line 2)");
    expect_error("[source a]\ntype = events\nsecret = t_padded_to_16ch\n[source b]\ntype = "
                 "events\nsecret = t_padded_to_16ch\n"
                 "[source a]\n",
                 "test.conf:7: duplicate source 'a' (first at line 1)");
    expect_error("[journeyd]\n[source a]\ntype = events\nsecret = t_padded_to_16ch\n[journeyd]\n",
                 "test.conf:5: duplicate section [journeyd] (first at line 1)");
    expect_error("[journeyd]\nworker_batch = 5000\n",
                 "test.conf:2: invalid value '5000' for worker_batch: expected 1..1000");
    expect_error("[journeyd]\nlisten\n",
                 "test.conf:2: expected 'key = value' or a [section] header");
    expect_error("[journeyd]\n= x\n", "test.conf:2: invalid key ''");
    expect_error("[journeyd]\nmy key = x\n", "test.conf:2: invalid key 'my key'");
    expect_error("[journeyd\n", "test.conf:1: missing ']' in section header");
    expect_error("[journeyd] x\n", "test.conf:1: unexpected text after ']'");
    expect_error("[journeyd];x\n", "test.conf:1: unexpected text after ']'");
    expect_error("[source]\n", "test.conf:1: section [source] needs a name: [source <name>]");
    expect_error("\n[source a/b]\n",
                 "test.conf:2: invalid source name 'a/b': expected 1-63 of A-Z a-z 0-9 _ . -");
    expect_error("[source ..]\n",
                 "test.conf:1: invalid source name '..': expected 1-63 of A-Z a-z 0-9 _ . -");
    expect_error("[source stripe eu]\n", "test.conf:1: invalid source name 'stripe eu': expected "
                                         "1-63 of A-Z a-z 0-9 _ . -");
    /* 63 characters is the longest name. */
    char text[256], name[80];
    memset(name, 'n', 63);
    name[63] = '\0';
    snprintf(text, sizeof(text), "[source %s]\ntype = events\nsecret = t_padded_to_16ch\n", name);
    struct cfg *c = must_parse(text);
    cfg_free(c);
    snprintf(text, sizeof(text), "[source %sn]\ntype = events\n", name);
    struct cfg_err err;
    assert_null(parse_named(text, "test.conf", &err));
    assert_non_null(strstr(err.msg, "test.conf:1: invalid source name"));

    /* The section's own line, whether the problem shows at the next header or at EOF. */
    expect_error("[source s]\ntype = stripe\n\n[source t]\ntype = events\n",
                 "test.conf:1: [source s] needs 'secret'");
    expect_error("[journeyd]\n\n[source s]\ntype = stripe\n", "test.conf:3: [source s] needs "
                                                              "'secret'");
    expect_error("[source s]\nsecret = x_padded_to_16ch\n", "test.conf:1: [source s] needs 'type'");
    expect_error("[source s]\ntype = strip\n",
                 "test.conf:2: invalid value 'strip' for type: expected one of stripe, form, "
                 "events, hubspot, pipedrive, shopify, meta_leads, google_ads, typeform, "
                 "calendly");
    expect_error("[source c]\ntype = click\n",
                 "test.conf:2: invalid value 'click' for type: the click tracker is built in "
                 "(GET /c, with click_allow in [journeyd])");
    expect_error("[source s]\ntype = stripe\nsecret = x_padded_to_16ch\n\nauth = token\n",
                 "test.conf:5: 'auth' applies only to sources of type form");
    expect_error("[source s]\ntype = events\nthank_you_url = https://x.example/\n",
                 "test.conf:3: 'thank_you_url' applies only to sources of type form");
    /* An empty secret is no secret. */
    expect_error("[source s]\ntype = stripe\nsecret =\n", "test.conf:1: [source s] needs "
                                                          "'secret'");
    expect_error("[source s]\ntype = stripe\nsecret = x_padded_to_16ch\nsecret_file = /x\n",
                 "test.conf:4: both 'secret' and 'secret_file' given (first at line 3)");
#define SECRET_FILE JD_TEST_DATA "/config/stripe.secret"
    expect_error("[source s]\ntype = stripe\nsecret_file = " SECRET_FILE
                 "\nsecret = x_padded_to_16ch\n",
                 "test.conf:4: both 'secret' and 'secret_file' given (first at line 3)");
    expect_error("[source s]\ntype = stripe\nsecret_file = " SECRET_FILE "\nsecret_file = /y\n",
                 "test.conf:4: duplicate key 'secret_file' in [source s] (first at line 3)");
}

static void test_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "[journeyd]\nlog_level = in\0fo\n";
    struct cfg_err err;
    assert_null(cfg_parse(text, sizeof(text) - 1, "test.conf", &err));
    assert_string_equal(err.msg, "test.conf:2: line contains a NUL byte");
}

static void test_long_lines_and_files(void **state)
{
    (void)state;
    struct cfg_err err;
    size_t n = 20 + 4097;
    char *text = malloc(2 * n);
    assert_non_null(text);

    /* 4096 bytes on a line is fine, 4097 is not. */
    int w = snprintf(text, 2 * n, "[journeyd]\n\n#");
    memset(text + w, 'x', 4095);
    memcpy(text + w + 4095, "\n", 2);
    struct cfg *c = parse_named(text, "test.conf", &err);
    if (!c)
        fail_msg("%s", err.msg);
    cfg_free(c);
    memset(text + w, 'x', 4096);
    memcpy(text + w + 4096, "\n", 2);
    assert_null(parse_named(text, "test.conf", &err));
    assert_string_equal(err.msg, "test.conf:3: line is longer than 4096 bytes");
    free(text);

    /* Over 1 MiB of comments. */
    size_t big = 1024 * 1024 + 1;
    text = malloc(big);
    assert_non_null(text);
    memset(text, '\n', big);
    assert_null(cfg_parse(text, big, "test.conf", &err));
    assert_string_equal(err.msg, "test.conf: file is larger than 1 MiB");
    c = cfg_parse(text, big - 1, "test.conf", &err);
    if (!c)
        fail_msg("%s", err.msg);
    cfg_free(c);

    char dir[256], path[300];
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/big.conf", dir);
    write_file(path, text, big);
    free(text);
    assert_null(cfg_load(path, &err));
    char want[400];
    snprintf(want, sizeof(want), "%s: file is larger than 1 MiB", path);
    assert_string_equal(err.msg, want);
    unlink(path);

    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    assert_null(cfg_load(path, &err));
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(err.msg, want);
    assert_null(cfg_load(dir, &err));
    snprintf(want, sizeof(want), "%s: cannot read: not a regular file", dir);
    assert_string_equal(err.msg, want);
    rmdir(dir);
}

static void test_too_many_sources(void **state)
{
    (void)state;
    size_t cap = (CFG_MAX_SOURCES + 1) * 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i < CFG_MAX_SOURCES; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "[source s%d]\ntype = events\nsecret = t_padded_to_16ch\n", i);
    struct cfg *c = must_parse(text);
    assert_int_equal(c->nsources, CFG_MAX_SOURCES);
    assert_non_null(cfg_find_source(c, "s63"));
    cfg_free(c);
    snprintf(text + len, cap - len, "[source one-too-many]\ntype = events\n");
    char want[128];
    snprintf(want, sizeof(want), "test.conf:%d: more than %d sources", 3 * CFG_MAX_SOURCES + 1,
             CFG_MAX_SOURCES);
    expect_error(text, want);
    free(text);
}

static void test_required_per_type(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        const char *keys; /* the lines that satisfy it */
        const char *first_need;
    } cases[] = {
        {"stripe", "secret = a_padded_to_16ch\n", "secret"},
        {"typeform", "secret = a_padded_to_16ch\n", "secret"},
        {"shopify", "secret = a_padded_to_16ch\n", "secret"},
        {"calendly", "secret = a_padded_to_16ch\n", "secret"},
        {"hubspot", "secret = a_padded_to_16ch\n", "secret"},
        {"google_ads", "secret = a_padded_to_16ch\n", "secret"},
        {"form", "secret = a_padded_to_16ch\n", "secret"},
        {"pipedrive", "username = u\npassword = p_padded_to_16ch\n", "username"},
        {"meta_leads", "secret = a_padded_to_16ch\nverify_token = v\n", "secret"},
        {"events", "secret = a_padded_to_16ch\n", "secret"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256], want[128];
        snprintf(text, sizeof(text), "[source x]\ntype = %s\n%s", cases[i].type, cases[i].keys);
        struct cfg *c = must_parse(text);
        cfg_free(c);
        if (!cases[i].first_need)
            continue;
        snprintf(text, sizeof(text), "[source x]\ntype = %s\n", cases[i].type);
        snprintf(want, sizeof(want), "test.conf:1: [source x] needs '%s'", cases[i].first_need);
        expect_error(text, want);
    }
    expect_error("[source x]\ntype = pipedrive\nusername = u\n",
                 "test.conf:1: [source x] needs 'password'");
    expect_error("[source x]\ntype = meta_leads\nsecret = s_padded_to_16ch\n",
                 "test.conf:1: [source x] needs 'verify_token'");
    expect_error("[source x]\ntype = pipedrive\nusername = a:b\npassword = p_padded_to_16ch\n",
                 "test.conf:3: invalid value 'a:b' for username: expected no ':' (HTTP Basic "
                 "cannot carry it)");

    /* form: token needs the secret too; origin needs the allow-list and the redirect. */
    expect_error("[source f]\ntype = form\nauth = token\n", "test.conf:1: [source f] needs "
                                                            "'secret'");
    expect_error("[source f]\ntype = form\nauth = origin\n",
                 "test.conf:1: [source f] needs 'allow_origins'");
    expect_error("[source f]\ntype = form\nauth = origin\nallow_origins = example.com\n",
                 "test.conf:1: [source f] needs 'thank_you_url'");
    expect_error("[source f]\ntype = form\nauth = password\n",
                 "test.conf:3: invalid value 'password' for auth: expected one of hmac, token, "
                 "origin");
    expect_error("[source f]\ntype = form\nauth = origin\nallow_origins = example.com\n"
                 "thank_you_url = /thanks\n",
                 "test.conf:5: invalid value '/thanks' for thank_you_url: expected an absolute "
                 "http:// or https:// URL");
    struct cfg *c = must_parse("[source f]\ntype = form\nauth = origin\n"
                               "allow_origins = example.com, www.example.com:8443\n"
                               "thank_you_url = https://www.example.com/thanks\n");
    assert_int_equal(c->sources[0].cx.auth, CX_AUTH_ORIGIN);
    assert_string_equal(c->sources[0].cx.allow_origins, "example.com,www.example.com:8443");
    assert_string_equal(c->sources[0].thank_you_url, "https://www.example.com/thanks");
    assert_int_equal(c->sources[0].cx.nsecrets, 0);
    cfg_free(c);
    c = must_parse(
        "[source f]\ntype = form\nauth = token\nsecret = t1_padded_to_16ch, t2_padded_to_16ch\n");
    assert_int_equal(c->sources[0].cx.auth, CX_AUTH_TOKEN);
    cfg_free(c);
}

/* A valid line for each key a connector may name among its needs ("\n<key> = <value>"):
 * a connector naming a key not listed here fails the test below, since the config would
 * refuse every source of it. Returns the line (with its newline) and its length. */
static const char *need_line(const char *key, int *len)
{
    static const char lines[] = "\nsecret = a_padded_to_16ch"
                                "\nverify_token = v"
                                "\nusername = u"
                                "\npassword = p_padded_to_16ch"
                                "\npublic_url = https://hooks.example.com/x"
                                "\napi_token = t"
                                "\nallow_origins = example.com"
                                "\nthank_you_url = https://www.example.com/thanks\n";
    char pat[80];
    snprintf(pat, sizeof(pat), "\n%s = ", key);
    const char *line = strstr(lines, pat);
    if (!line)
        fail_msg("a connector needs '%s', which this test has no value for", key);
    line++;
    *len = (int)(strchr(line, '\n') - line) + 1;
    return line;
}

/* [source x] of `type` with `auth` (NULL: none written) and every key of needs but the
 * skip-th (skip past the end: all of them). */
static void source_text(char *out, size_t cap, const char *type, const char *auth,
                        const char *const *needs, size_t skip)
{
    size_t n = (size_t)snprintf(out, cap, "[source x]\ntype = %s\n", type);
    if (auth)
        n += (size_t)snprintf(out + n, cap - n, "auth = %s\n", auth);
    for (size_t j = 0; needs && needs[j]; j++) {
        int len;
        const char *line = need_line(needs[j], &len);
        if (j != skip)
            n += (size_t)snprintf(out + n, cap - n, "%.*s", len, line);
    }
    assert_true(n < cap);
}

/* Each need of `needs` alone missing is refused by name; all of them parse. */
static void check_needs(const char *type, const char *auth, const char *const *needs)
{
    char text[1024], want[128];
    size_t count = 0;
    while (needs && needs[count])
        count++;
    source_text(text, sizeof(text), type, auth, needs, count);
    cfg_free(must_parse(text));
    for (size_t j = 0; j < count; j++) {
        source_text(text, sizeof(text), type, auth, needs, j);
        snprintf(want, sizeof(want), "test.conf:1: [source x] needs '%s'", needs[j]);
        expect_error(text, want);
    }
}

/* What a type requires is its connector's descriptor (cx_connector.needs, needs_origin),
 * not a table in the config: every registered type that can be a [source] is checked
 * against its own descriptor, so a connector added to the registry is covered here
 * without a line of this test. */
static void test_required_from_descriptor(void **state)
{
    (void)state;
    const struct cx_connector *cx;
    size_t ntypes = 0;
    for (size_t i = 0; (cx = cx_connector_at(i)) != NULL; i++) {
        char text[128];
        if (strcmp(cx->type, "click") == 0) {
            /* Built in (GET /c), never a [source]. */
            snprintf(text, sizeof(text), "[source x]\ntype = %s\n", cx->type);
            struct cfg_err err;
            assert_null(parse_named(text, "test.conf", &err));
            assert_non_null(strstr(err.msg, "the click tracker is built in"));
            continue;
        }
        ntypes++;
        /* Every source verifies something: a type that needs nothing would accept anyone. */
        if (!cx->needs || !cx->needs[0])
            fail_msg("connector %s needs nothing", cx->type);
        check_needs(cx->type, NULL, cx->needs);
        if (cx->needs_origin) {
            check_needs(cx->type, "origin", cx->needs_origin);
            check_needs(cx->type, "token", cx->needs);
        }
    }
    assert_int_equal(ntypes, 10);
    /* The form's origin mode is its descriptor's second list. */
    assert_non_null(cx_lookup("form")->needs_origin);
    assert_null(cx_lookup("stripe")->needs_origin);
}

static void test_secret_rotation(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[source s]\ntype = stripe\nsecret = whsec_new_5be07d1a , "
                               "whsec_old_9f2c41e0,x_padded_to_16ch\n");
    const struct cfg_source *s = &c->sources[0];
    assert_int_equal(s->cx.nsecrets, 3);
    assert_string_equal(s->cx.secrets[0], "whsec_new_5be07d1a");
    assert_string_equal(s->cx.secrets[1], "whsec_old_9f2c41e0");
    assert_string_equal(s->cx.secrets[2], "x_padded_to_16ch");
    /* One buffer holds them all, in order. */
    assert_ptr_equal(s->cx.secrets[0], s->secrets_buf);
    assert_ptr_equal(s->cx.secrets[1], s->secrets_buf + strlen("whsec_new_5be07d1a") + 1);
    assert_ptr_equal(s->cx.secrets[2], s->cx.secrets[1] + strlen("whsec_old_9f2c41e0") + 1);
    assert_null(s->cx.secrets[3]);
    cfg_free(c);

    char text[512] = "[source s]\ntype = shopify\nsecret = ";
    for (int i = 1; i <= 8; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%sshopify_secret_%02d",
                 i > 1 ? "," : "", i);
    c = must_parse(text);
    assert_int_equal(c->sources[0].cx.nsecrets, CX_MAX_SECRETS);
    assert_string_equal(c->sources[0].cx.secrets[7], "shopify_secret_08");
    cfg_free(c);
    strcat(text, ",shopify_secret_09\n");
    expect_error(text, "test.conf:3: too many items in secret (at most 8)");
    /* Secret values never appear in messages. */
    expect_error("[source s]\ntype = shopify\nsecret = top\x01secret\n",
                 "test.conf:3: invalid value for secret: contains a control character");
    expect_error(
        "[source s]\ntype = meta_leads\nsecret = a_padded_to_16ch\nverify_token = top\tsecret\n",
        "test.conf:4: invalid value for verify_token: contains a control character");
}

static void test_cx_view(void **state)
{
    (void)state;
    /* [journeyd] after the sources: the view still gets its country code. */
    struct cfg *c = must_parse("[source hub]\n"
                               "type = hubspot\n"
                               "secret = s1_padded_to_16ch\n"
                               "verify_token = vt\n"
                               "username = user\n"
                               "password = pw_padded_to_16ch\n"
                               "public_url = https://hooks.example.com/hooks/hub\n"
                               "legacy_signatures = yes\n"
                               "api_token = at\n"
                               "api_base = http://127.0.0.1:9999\n"
                               "stages = lead:lead, customer:won\n"
                               "tolerance = 1m\n"
                               "[source pay]\n"
                               "type = stripe\n"
                               "secret = s2_padded_to_16ch\n"
                               "[journeyd]\n"
                               "default_country_code = 39\n");
    assert_int_equal(c->nsources, 2);
    const struct cfg_source *s = cfg_find_source(c, "hub");
    assert_ptr_equal(s, &c->sources[0]);
    assert_ptr_equal(s->cx.name, s->name);
    assert_ptr_equal(s->cx.type, s->type);
    assert_ptr_equal(s->cx.verify_token, s->verify_token);
    assert_ptr_equal(s->cx.username, s->username);
    assert_ptr_equal(s->cx.password, s->password);
    assert_ptr_equal(s->cx.public_url, s->public_url);
    assert_ptr_equal(s->cx.api_token, s->api_token);
    assert_ptr_equal(s->cx.api_base, s->api_base);
    assert_ptr_equal(s->cx.stages, s->stages);
    assert_ptr_equal(s->cx.allow_origins, s->allow_origins);
    assert_ptr_equal(s->cx.default_country_code, c->default_country_code);
    assert_ptr_equal(s->cx.secrets[0], s->secrets_buf);
    assert_string_equal(s->cx.name, "hub");
    assert_string_equal(s->cx.type, "hubspot");
    assert_string_equal(s->cx.verify_token, "vt");
    assert_string_equal(s->cx.username, "user");
    assert_string_equal(s->cx.password, "pw_padded_to_16ch");
    assert_string_equal(s->cx.public_url, "https://hooks.example.com/hooks/hub");
    assert_string_equal(s->cx.api_token, "at");
    assert_string_equal(s->cx.api_base, "http://127.0.0.1:9999");
    assert_string_equal(s->cx.stages, "lead:lead, customer:won");
    assert_string_equal(s->cx.default_country_code, "39");
    assert_int_equal(s->cx.tolerance_s, 60);
    assert_int_equal(s->cx.legacy_signatures, 1);
    assert_int_equal(s->cx.auth, CX_AUTH_HMAC);

    s = cfg_find_source(c, "pay");
    assert_ptr_equal(s, &c->sources[1]);
    assert_string_equal(s->cx.secrets[0], "s2_padded_to_16ch");
    assert_ptr_equal(s->cx.default_country_code, c->default_country_code);
    assert_null(cfg_find_source(c, "nope"));
    assert_null(cfg_find_source(c, NULL));
    assert_null(cfg_find_source(NULL, "pay"));
    cfg_free(c);

    expect_error("[source hub]\ntype = hubspot\nsecret = s_padded_to_16ch\nstages = lead\n",
                 "test.conf:4: invalid value 'lead' for stages: expected <provider "
                 "stage>:<journeyd stage>, ...");
    expect_error("[source hub]\ntype = hubspot\nsecret = s_padded_to_16ch\napi_base = ftp://x\n",
                 "test.conf:4: invalid value 'ftp://x' for api_base: expected an absolute "
                 "http:// or https:// URL");
}

/* A short secret or token can be guessed, or found offline from one captured signed
 * delivery (issue 11.11): 15 characters are refused, 16 accepted, and the message never
 * quotes the value, not even the short one. */
/* DESIGN §7 token scopes: the prefix gives the scope and is not part of the token; no
 * prefix is admin; the length rule applies to the token itself (issue 11.10). */
/* graph_version (issue 16.2): Meta's path segment, checked so a typo is a config error
 * rather than a look-up that fails at run time. */
static void test_graph_version(void **state)
{
    (void)state;
    static const char head[] = "[source m]\ntype = meta_leads\nsecret = meta_app_secret_0001\n"
                               "verify_token = verify\n";
    char text[256];
    snprintf(text, sizeof text, "%sgraph_version = v27.0\n", head);
    struct cfg *c = must_parse(text);
    assert_string_equal(c->sources[0].cx.graph_version, "v27.0");
    cfg_free(c);
    static const char *const bad[] = {"27.0", "v27", "v.0", "v27.0.1", "v27.x", "V27.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cfg_err err;
        snprintf(text, sizeof text, "%sgraph_version = %s\n", head, bad[i]);
        assert_null(parse_named(text, "test.conf", &err));
        assert_non_null(strstr(err.msg, "expected a Graph API version"));
    }
}

/* Issue 16.4: an env: item may stand in a list beside literal ones — the rotation the docs
 * show, "secret = env:STRIPE_SECRET, whsec_old" — and a whole env: value is still a list
 * of its own (its items split from the variable). */
static void test_env_items_in_lists(void **state)
{
    (void)state;
    assert_int_equal(setenv("JD_TEST_ROTATE", "whsec_from_the_environment", 1), 0);
    assert_int_equal(setenv("JD_TEST_TOKENS", "token-from-env-0001, token-from-env-0002", 1), 0);
    struct cfg *c = must_parse("[journeyd]\napi_tokens = env:JD_TEST_TOKENS\n"
                               "[source s]\ntype = stripe\n"
                               "secret = env:JD_TEST_ROTATE, whsec_old_0123456789\n");
    assert_int_equal(c->sources[0].cx.nsecrets, 2);
    assert_string_equal(c->sources[0].cx.secrets[0], "whsec_from_the_environment");
    assert_string_equal(c->sources[0].cx.secrets[1], "whsec_old_0123456789");
    assert_int_equal(c->napi_tokens, 2);
    assert_string_equal(c->api_tokens[1], "token-from-env-0002");
    cfg_free(c);
    /* Each item's rules hold for what the variable holds, and an unset one is named. */
    assert_int_equal(setenv("JD_TEST_ROTATE", "short", 1), 0);
    expect_error("[source s]\ntype = stripe\nsecret = whsec_current_0123456, env:JD_TEST_ROTATE\n",
                 "test.conf:3: invalid item in secret: shorter than 16 characters (guessable)");
    unsetenv("JD_TEST_ROTATE");
    expect_error("[source s]\ntype = stripe\nsecret = env:JD_TEST_ROTATE, whsec_old_0123456789\n",
                 "test.conf:3: environment variable JD_TEST_ROTATE (for secret) is not set");
    unsetenv("JD_TEST_TOKENS");
}

static void test_api_token_scopes(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[journeyd]\napi_tokens = read:reader-token-0001, "
                               "write:writer-token-0001, admin:admin-token-00001, "
                               "plain-token-000001, readers:colon-in-a-token\n");
    assert_int_equal(c->napi_tokens, 5);
    static const char *const want[] = {"reader-token-0001", "writer-token-0001",
                                       "admin-token-00001", "plain-token-000001",
                                       "readers:colon-in-a-token"};
    static const enum cfg_scope scopes[] = {CFG_SCOPE_READ, CFG_SCOPE_WRITE, CFG_SCOPE_ADMIN,
                                            CFG_SCOPE_ADMIN, CFG_SCOPE_ADMIN};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(c->api_tokens[i], want[i]);
        assert_int_equal(c->api_token_scopes[i], scopes[i]);
    }
    cfg_free(c);
    /* The example's placeholders are refused, whatever surrounds the mark. */
    expect_error("[journeyd]\napi_tokens = read:CHANGE-ME-read-token\n",
                 "test.conf:2: invalid item in api_tokens: is the example's CHANGE-ME "
                 "placeholder: set a real value (journeyd init writes fresh ones)");
    expect_error("[source s]\ntype = stripe\nsecret = whsec_CHANGE-ME-new-secret\n",
                 "test.conf:3: invalid item in secret: is the example's CHANGE-ME "
                 "placeholder: set a real value (journeyd init writes fresh ones)");
    expect_error("[source m]\ntype = meta_leads\nverify_token = x-CHANGE-ME\n",
                 "test.conf:3: invalid value for verify_token: is the example's CHANGE-ME "
                 "placeholder: set a real value (journeyd init writes fresh ones)");
    /* "read:" plus 15 characters is 20 long, but the token is 15. */
    expect_error("[journeyd]\napi_tokens = read:fifteen-chars-x\n",
                 "test.conf:2: invalid item in api_tokens: shorter than 16 characters (guessable)");
}

static void test_secret_min_length(void **state)
{
    (void)state;
    static const char fifteen[] = "fifteen-chars-x", sixteen[] = "sixteen-chars-xy";
    static const struct {
        const char *before; /* the value, then a newline, ends the text */
        const char *error;
    } cases[] = {
        {"[journeyd]\napi_tokens = ",
         "test.conf:2: invalid item in api_tokens: shorter than 16 characters (guessable)"},
        {"[source s]\ntype = stripe\nsecret = ",
         "test.conf:3: invalid item in secret: shorter than 16 characters (guessable)"},
        {"[source p]\ntype = pipedrive\nusername = u\npassword = ",
         "test.conf:4: invalid value for password: shorter than 16 characters (guessable)"},
        /* Every item of a rotation list counts, not only the first. */
        {"[source s]\ntype = stripe\nsecret = whsec_current_1234567, ",
         "test.conf:3: invalid item in secret: shorter than 16 characters (guessable)"},
    };
    assert_int_equal(strlen(fifteen), 15);
    assert_int_equal(strlen(sixteen), 16);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        struct cfg_err err;
        snprintf(text, sizeof(text), "%s%s\n", cases[i].before, sixteen);
        cfg_free(must_parse(text));
        snprintf(text, sizeof(text), "%s%s\n", cases[i].before, fifteen);
        expect_error(text, cases[i].error);
        assert_null(parse_named(text, "test.conf", &err));
        assert_null(strstr(err.msg, fifteen));
    }
    /* From a file or the environment, the same rule. */
    assert_int_equal(setenv("JD_TEST_SHORT", fifteen, 1), 0);
    expect_error("[source s]\ntype = stripe\nsecret = env:JD_TEST_SHORT\n",
                 "test.conf:3: invalid item in secret: shorter than 16 characters (guessable)");
    unsetenv("JD_TEST_SHORT");
}

/* Outgoing API look-ups carry the provider's token: plain http only to a loopback
 * address, and a name that merely starts like one is not one (issue 11.11). */
static void test_api_base_https(void **state)
{
    (void)state;
    static const char *const ok[] = {"https://x",
                                     "https://api.hubapi.com/crm",
                                     "http://127.0.0.1:8080/x",
                                     "http://127.9.8.7/",
                                     "http://localhost:1/",
                                     "http://localhost",
                                     "http://[::1]:9/",
                                     "http://[::1]"};
    static const char *const refused[] = {"http://example.com",
                                          "http://127.0.0.1.evil.example/",
                                          "http://localhost.evil.example/",
                                          "http://localhost@evil.example/",
                                          "http://128.0.0.1/",
                                          "http://[::2]:9/",
                                          "http://[::1]evil.example/",
                                          "http://10.0.0.1:8080/"};
    char text[256], want[320];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(text, sizeof(text),
                 "[source h]\ntype = hubspot\nsecret = hs-client-secret-5b7e\napi_base = %s\n",
                 ok[i]);
        struct cfg *c = must_parse(text);
        assert_string_equal(c->sources[0].cx.api_base, ok[i]);
        cfg_free(c);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(text, sizeof(text),
                 "[source h]\ntype = hubspot\nsecret = hs-client-secret-5b7e\napi_base = %s\n",
                 refused[i]);
        snprintf(want, sizeof(want),
                 "test.conf:4: invalid value '%s' for api_base: must be https:// (http:// only "
                 "to a loopback address)",
                 refused[i]);
        expect_error(text, want);
    }
}

static void test_file_values(void **state)
{
    (void)state;
    char dir[256], path[300], text[1024], want[600];
    struct cfg_err err;
    struct cfg *c;

    unsetenv("CREDENTIALS_DIRECTORY");
    make_tmpdir(dir, sizeof(dir));

    /* Absolute path; exactly one trailing newline is dropped. */
    snprintf(path, sizeof(path), "%s/stripe.secret", dir);
    write_file(path, "whsec_from_a_file\n", 18);
    snprintf(text, sizeof(text), "[source s]\ntype = stripe\nsecret_file = %s\n", path);
    c = must_parse(text);
    assert_int_equal(c->sources[0].cx.nsecrets, 1);
    assert_string_equal(c->sources[0].cx.secrets[0], "whsec_from_a_file");
    cfg_free(c);

    /* A list from a file: one item a line, or commas. */
    write_file(path, "new_secret_1234567\r\nold_secret_1234567, older_secret_12345\n", 59);
    c = must_parse(text);
    assert_int_equal(c->sources[0].cx.nsecrets, 3);
    assert_string_equal(c->sources[0].cx.secrets[0], "new_secret_1234567");
    assert_string_equal(c->sources[0].cx.secrets[2], "older_secret_12345");
    cfg_free(c);

    /* A second newline is not dropped: a string value refuses it. */
    snprintf(path, sizeof(path), "%s/verify", dir);
    write_file(path, "tok\n\n", 5);
    snprintf(text, sizeof(text),
             "[source m]\ntype = meta_leads\nsecret = s_padded_to_16ch\nverify_token_file = %s\n",
             path);
    expect_error(text, "test.conf:4: invalid value for verify_token: contains a control character");
    write_file(path, "tok\r\n", 5);
    c = must_parse(text);
    assert_string_equal(c->sources[0].cx.verify_token, "tok");
    cfg_free(c);
    write_file(path, "t\0k", 3);
    snprintf(want, sizeof(want), "test.conf:4: verify_token_file '%s' contains a NUL byte", path);
    expect_error(text, want);
    unlink(path);

    /* Any key takes _file, not only secrets. */
    snprintf(path, sizeof(path), "%s/level", dir);
    write_file(path, "debug\n", 6);
    snprintf(text, sizeof(text), "[journeyd]\nlog_level_file = %s\n", path);
    c = must_parse(text);
    assert_string_equal(c->log_level, "debug");
    cfg_free(c);
    unlink(path);

    /* Relative: next to the config file when there is no $CREDENTIALS_DIRECTORY. */
    snprintf(path, sizeof(path), "%s/app.conf", dir);
    c = parse_named("[source s]\ntype = stripe\nsecret_file = stripe.secret\n", path, &err);
    if (!c)
        fail_msg("%s", err.msg);
    assert_string_equal(c->sources[0].cx.secrets[0], "new_secret_1234567");
    cfg_free(c);
    c = cfg_load(JD_TEST_DATA "/config/relative.conf", &err);
    if (!c)
        fail_msg("%s", err.msg);
    assert_string_equal(c->sources[0].cx.secrets[0], "whsec_from_a_file");
    cfg_free(c);

    /* Relative: in $CREDENTIALS_DIRECTORY when systemd set it (LoadCredential=). */
    snprintf(path, sizeof(path), "%s/cred-secret", dir);
    write_file(path, "from-credentials", 16);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
    c = must_parse("[source s]\ntype = stripe\nsecret_file = cred-secret\n");
    assert_string_equal(c->sources[0].cx.secrets[0], "from-credentials");
    cfg_free(c);
    snprintf(want, sizeof(want),
             "test.conf:3: cannot read secret_file '%s/nope': No such file or directory", dir);
    expect_error("[source s]\ntype = stripe\nsecret_file = nope\n", want);
    unsetenv("CREDENTIALS_DIRECTORY");
    unlink(path);

    /* Errors: missing, empty path, a directory, over 64 KiB. */
    expect_error("[source s]\ntype = stripe\nsecret_file = /nonexistent/jd/secret\n",
                 "test.conf:3: cannot read secret_file '/nonexistent/jd/secret': No such file "
                 "or directory");
    expect_error("[source s]\ntype = stripe\nsecret_file =\n",
                 "test.conf:3: secret_file needs a path");
    snprintf(text, sizeof(text), "[source s]\ntype = stripe\nsecret_file = %s\n", dir);
    snprintf(want, sizeof(want), "test.conf:3: cannot read secret_file '%s': not a regular file",
             dir);
    expect_error(text, want);

    snprintf(path, sizeof(path), "%s/big", dir);
    char *big = malloc(64 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'k', 64 * 1024 + 1);
    write_file(path, big, 64 * 1024);
    snprintf(text, sizeof(text), "[source s]\ntype = stripe\nsecret_file = %s\n", path);
    c = must_parse(text);
    assert_int_equal(strlen(c->sources[0].cx.secrets[0]), 64 * 1024);
    cfg_free(c);
    write_file(path, big, 64 * 1024 + 1);
    free(big);
    snprintf(want, sizeof(want), "test.conf:3: secret_file '%s' is larger than 64 KiB", path);
    expect_error(text, want);
    unlink(path);

    snprintf(path, sizeof(path), "%s/stripe.secret", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

/* cfg_load with stderr captured: the config, and in `log` what it logged. */
static struct cfg *load_logged(const char *path, struct cfg_err *err, char *log, size_t logsz)
{
    struct stderr_capture cap;
    capture_begin(&cap);
    struct cfg *c = cfg_load(path, err);
    capture_end(&cap, log, logsz);
    return c;
}

/* Loads path, which must parse, and frees it: what it logged is in log. */
static void must_load(const char *path, char *log, size_t logsz)
{
    struct cfg_err err;
    struct cfg *c = load_logged(path, &err, log, logsz);
    if (!c)
        fail_msg("%s", err.msg);
    cfg_free(c);
}

/* Loads path, which must parse: it logged a line holding want, and no secret value (every
 * secret of the test below holds "never_logged"). */
static void expect_warning(const char *path, const char *want)
{
    char log[4096];
    must_load(path, log, sizeof(log));
    if (!strstr(log, want))
        fail_msg("want \"%s\" in the log: %s", want, log);
    assert_null(strstr(log, "never_logged"));
}

static void write_mode(const char *path, const char *text, mode_t mode)
{
    write_file(path, text, strlen(text));
    /* chmod, not the umask: the bits are what is tested (as root too: st_mode is read). */
    assert_int_equal(chmod(path, mode), 0);
}

/* Secrets others on the host can read (issue 11.11): an inline secret in a config file
 * readable by others, or a secret file readable by others, is a warning naming the file
 * and the key, never the value; a secret file writable by others is refused, since anyone
 * could swap in a secret of their own. The mode is the descriptor's that was read. */
static void test_secret_file_modes(void **state)
{
    (void)state;
    char dir[256], conf[300], secret[300], text[1024], log[4096], want[700];
    struct cfg_err err;

    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("JOURNAL_STREAM");
    make_tmpdir(dir, sizeof(dir));
    snprintf(conf, sizeof(conf), "%s/journeyd.conf", dir);
    snprintf(secret, sizeof(secret), "%s/stripe.secret", dir);

    /* Inline secrets in a world-readable config: one line per key, values never shown. */
    static const char inline_text[] = "[journeyd]\n"
                                      "api_tokens = api_token_never_logged\n"
                                      "[source s]\n"
                                      "type = stripe\n"
                                      "secret = whsec_never_logged_1\n";
    write_mode(conf, inline_text, 0644);
    snprintf(want, sizeof(want),
             "level=warning msg=\"config file readable by others holds a secret (use a _file or "
             "env: value)\" file=\"%s\" key=api_tokens config_line=2\n",
             conf);
    expect_warning(conf, want);
    expect_warning(conf, "key=secret config_line=5\n");

    /* Not readable by others, or no inline secret (env:, _file): nothing to say. */
    write_mode(conf, inline_text, 0640);
    must_load(conf, log, sizeof(log));
    assert_string_equal(log, "");
    assert_int_equal(setenv("JD_TEST_MODE_SECRET", "whsec_from_the_environment", 1), 0);
    write_mode(conf, "[source s]\ntype = stripe\nsecret = env:JD_TEST_MODE_SECRET\n", 0644);
    must_load(conf, log, sizeof(log));
    assert_string_equal(log, "");
    unsetenv("JD_TEST_MODE_SECRET");

    /* A secret file: 0600 silent, 0644 a warning naming it, o+w refused with the line. */
    snprintf(text, sizeof(text), "[source s]\ntype = stripe\nsecret_file = %s\n", secret);
    write_mode(conf, text, 0644);
    write_mode(secret, "whsec_in_a_file_never_logged\n", 0600);
    must_load(conf, log, sizeof(log));
    assert_string_equal(log, "");
    assert_int_equal(chmod(secret, 0644), 0);
    snprintf(want, sizeof(want),
             "level=warning msg=\"secret file readable by others\" file=\"%s\" key=secret "
             "config_line=3\n",
             secret);
    expect_warning(conf, want);
    assert_int_equal(chmod(secret, 0602), 0);
    assert_null(load_logged(conf, &err, log, sizeof(log)));
    snprintf(want, sizeof(want),
             "%s:3: secret_file '%s' is writable by others (anyone on the host could replace it)",
             conf, secret);
    assert_string_equal(err.msg, want);
    assert_null(strstr(log, "never_logged"));

    /* Only secrets: a world-writable file for another key is the operator's business. */
    write_mode(secret, "debug\n", 0666);
    snprintf(text, sizeof(text), "[journeyd]\nlog_level_file = %s\n", secret);
    write_mode(conf, text, 0644);
    must_load(conf, log, sizeof(log));
    assert_string_equal(log, "");

    assert_int_equal(unlink(secret), 0);
    assert_int_equal(unlink(conf), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_env_values(void **state)
{
    (void)state;
    assert_int_equal(setenv("JD_TEST_SECRET", "env-new-secret-16, env-old-secret-16", 1), 0);
    assert_int_equal(setenv("JD_TEST_BATCH", "128", 1), 0);
    assert_int_equal(setenv("JD_TEST_BAD_BATCH", "lots", 1), 0);
    unsetenv("JD_TEST_UNSET");

    struct cfg *c = must_parse("[journeyd]\nworker_batch = env:JD_TEST_BATCH\n"
                               "[source s]\ntype = stripe\nsecret = env:JD_TEST_SECRET\n");
    assert_int_equal(c->worker_batch, 128);
    assert_int_equal(c->sources[0].cx.nsecrets, 2);
    assert_string_equal(c->sources[0].cx.secrets[1], "env-old-secret-16");
    cfg_free(c);

    expect_error("[source s]\ntype = stripe\nsecret = env:JD_TEST_UNSET\n",
                 "test.conf:3: environment variable JD_TEST_UNSET (for secret) is not set");
    expect_error("[journeyd]\nworker_batch = env:JD_TEST_BAD_BATCH\n",
                 "test.conf:2: invalid value 'lots' for worker_batch: expected an integer");
    expect_error("[journeyd]\nworker_batch = env:1X\n",
                 "test.conf:2: invalid environment variable name '1X' for worker_batch");
    expect_error("[journeyd]\nworker_batch = env:\n",
                 "test.conf:2: invalid environment variable name '' for worker_batch");
    unsetenv("JD_TEST_SECRET");
    unsetenv("JD_TEST_BATCH");
    unsetenv("JD_TEST_BAD_BATCH");
}

static char *example_path(char *buf, size_t bufsz)
{
    const char *src = getenv("JD_SOURCE_DIR");
    if (src && *src)
        snprintf(buf, bufsz, "%s/journeyd.conf.example", src);
    else
        snprintf(buf, bufsz, "%s", JD_TEST_DATA "/../../journeyd.conf.example");
    return buf;
}

/* The shipped example holds no working secret: the daemon refuses it for its CHANGE-ME
 * placeholders, and for nothing else (with the marks replaced it parses). */
static void test_example_parses(void **state)
{
    (void)state;
    char path[4096];
    struct cfg_err err;
    unsetenv("CREDENTIALS_DIRECTORY");
    struct cfg *c = cfg_load(example_path(path, sizeof(path)), &err);
    if (c)
        fail_msg("the shipped example holds a working secret (no CHANGE-ME placeholder)");
    assert_non_null(strstr(err.msg, "CHANGE-ME placeholder"));

    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 64 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len = fread(text, 1, cap - 1, f);
    assert_int_equal(ferror(f), 0);
    assert_int_equal(fclose(f), 0);
    text[len] = '\0';
    /* Same length: "CHANGE-ME" -> "filled-in" keeps every secret 16+ characters. */
    for (char *m = strstr(text, "CHANGE-ME"); m; m = strstr(m, "CHANGE-ME"))
        memcpy(m, "filled-in", 9);
    c = parse_named(text, "journeyd.conf.example", &err);
    free(text);
    if (!c)
        fail_msg("%s", err.msg);
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->nclick_allow, 3);
    assert_string_equal(c->default_country_code, "39");
    const struct cfg_source *s = cfg_find_source(c, "stripe");
    assert_non_null(s);
    assert_string_equal(s->type, "stripe");
    assert_int_equal(s->cx.nsecrets, 2);
    s = cfg_find_source(c, "website");
    assert_non_null(s);
    assert_string_equal(s->type, "form");
    assert_int_equal(s->cx.auth, CX_AUTH_HMAC);
    s = cfg_find_source(c, "app");
    assert_non_null(s);
    assert_string_equal(s->type, "events");
    cfg_free(c);
}

/* Every prefix of a valid file either parses or fails with a located message, and never
 * leaks (ASan) or reads past the length. */
static void test_truncated_example(void **state)
{
    (void)state;
    char path[4096];
    FILE *f = fopen(example_path(path, sizeof(path)), "rb");
    assert_non_null(f);
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    size_t len = fread(text, 1, 64 * 1024, f);
    fclose(f);
    for (size_t i = 0; i <= len; i++) {
        struct cfg_err err;
        char *copy = malloc(i ? i : 1);
        assert_non_null(copy);
        memcpy(copy, text, i);
        struct cfg *c = cfg_parse(copy, i, "x.conf", &err);
        if (!c)
            assert_memory_equal(err.msg, "x.conf:", 7);
        cfg_free(c);
        free(copy);
    }
    free(text);
}

/* What `journeyd --help-config` prints, into the caller's *buf (free() it). The caller
 * owns the pointer open_memstream writes: returned from a local instead, GCC 12 at -O3
 * took the text for memory of that local (-Wdangling-pointer). */
static void reference_text(char **buf)
{
    size_t len = 0;
    *buf = NULL;
    FILE *f = open_memstream(buf, &len);
    assert_non_null(f);
    cfg_print_reference(f);
    assert_int_equal(fclose(f), 0);
}

static void test_reference(void **state)
{
    (void)state;
    char *buf;
    reference_text(&buf);
    static const char *const keys[] = {
        "[journeyd]", "listen", "redis", "api_tokens", "default_country_code", "timezone",
        "click_allow", "click_cookie_secure", "click_cookie_days", "log_level", "max_body",
        "request_timeout", "redis_timeout", "redis_connect_timeout", "max_inflight",
        "max_connections", "max_queue", "dedup_days", "worker_batch", "claim_idle",
        "max_deliveries", "retry_after", "drain_timeout", "unique_types", "roles",
        "max_journey_events", "consumer", "[source <name>]", "type", "secret", "verify_token",
        "username", "password", "public_url", "api_token", "api_base", "stages", "auth",
        "allow_origins", "thank_you_url", "tolerance", "[channels]", "search_engines",
        "social_networks", "paid_mediums", "paid_social_mediums", "email_mediums", "social_mediums",
        "referral_mediums", "medium.<value>", "source.<value>", "google, bing, microsoft",
        "cpc, ppc, paid",
        /* types, defaults and flags come from the same rows */
        "127.0.0.1:8080", "size 1K..64M", "default: 1M", "integer 1..1000", "duration 100ms..10m",
        "debug|info|notice|warning|error", "hmac|token|origin", "secret", "reloadable",
        "restart to change", "hubspot_contact, pipedrive_person", "meta_leads", "verify_token"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strstr(buf, keys[i]))
            fail_msg("reference lacks '%s'", keys[i]);
    free(buf);
}

/* SIGHUP's warning: the keys not flagged reloadable whose values differ, named exactly,
 * by the table's flag rather than a list of its own. */
static void test_restart_changes(void **state)
{
    (void)state;
    static const char base[] =
        "[journeyd]\nlisten = 127.0.0.1:8080\napi_tokens = tok-a_padded_to_16ch\n"
        "[source s]\ntype = stripe\nsecret = whsec_a_padded_to_16ch\n";
    char out[256];
    struct cfg *old = must_parse(base);
    struct cfg *same = must_parse(base);
    assert_int_equal(cfg_restart_changes(old, same, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    cfg_free(same);

    /* Reloadable keys (secrets among them, and unique_types) are not named. */
    struct cfg *fresh =
        must_parse("[journeyd]\nlisten = 127.0.0.1:8080\napi_tokens = tok-b_padded_to_16ch\n"
                   "max_body = 2M\nunique_types = custom:crm\n"
                   "[source s]\ntype = stripe\nsecret = whsec_b_padded_to_16ch\ntolerance = 60\n"
                   "[source t]\ntype = events\nsecret = x_padded_to_16ch\n");
    assert_int_equal(cfg_restart_changes(old, fresh, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    cfg_free(fresh);

    /* Restart-only keys, in table order; values never appear. */
    fresh = must_parse("[journeyd]\nlisten = 127.0.0.1:9090\nconsumer = w1\n"
                       "outbound_timeout = 7s\napi_tokens = tok-a_padded_to_16ch\n"
                       "[source s]\ntype = stripe\nsecret = whsec_a_padded_to_16ch\n");
    assert_int_equal(cfg_restart_changes(old, fresh, out, sizeof(out)), 3);
    assert_string_equal(out, "listen, consumer, outbound_timeout");
    assert_int_equal(cfg_restart_changes(fresh, old, out, sizeof(out)), 3);
    assert_string_equal(out, "listen, consumer, outbound_timeout");
    cfg_free(fresh);

    fresh = must_parse("[journeyd]\nredis = unix:/run/redis.sock\nroles = ingest\n");
    assert_int_equal(cfg_restart_changes(old, fresh, out, sizeof(out)), 2);
    assert_string_equal(out, "redis, roles");
    /* A short buffer still counts them all and stays a string. */
    assert_int_equal(cfg_restart_changes(old, fresh, out, 8), 2);
    assert_int_equal(strlen(out), 7);
    cfg_free(fresh);

    assert_int_equal(cfg_restart_changes(NULL, old, out, sizeof(out)), 0);
    cfg_free(old);
}

/* unique_types says what it does: reloadable (the worker reads it for every batch), so
 * --help-config must not call it "restart to change". */
static void test_unique_types_reloadable(void **state)
{
    (void)state;
    char *buf;
    reference_text(&buf);
    const char *row = strstr(buf, "\n  unique_types ");
    assert_non_null(row);
    const char *next = strstr(row + 1, "\n  roles ");
    assert_non_null(next);
    char text[512];
    snprintf(text, sizeof(text), "%.*s", (int)(next - row), row);
    if (!strstr(text, "; reloadable") || strstr(text, "restart to change"))
        fail_msg("unique_types is not reloadable in --help-config: %s", text);
    free(buf);

    struct cfg *a = must_parse("[journeyd]\n");
    struct cfg *b = must_parse("[journeyd]\nunique_types = hubspot_contact, custom:crm\n");
    char out[64];
    assert_int_equal(cfg_restart_changes(a, b, out, sizeof(out)), 0);
    assert_int_equal(b->nunique_types, 2);
    cfg_free(a);
    cfg_free(b);
}

static void test_cfg_free(void **state)
{
    (void)state;
    cfg_free(NULL);
    struct cfg *c = must_parse("[source s]\ntype = stripe\nsecret = a_padded_to_16ch\n");
    CFG_FREE(c);
    assert_null(c);
    CFG_FREE(c);
    /* err may be NULL. */
    assert_null(cfg_parse("[x]\n", 4, "t", NULL));
    assert_null(cfg_load("/nonexistent/jd.conf", NULL));
}

/* [sla] (DESIGN §6b): decimal targets kept as text, defaults, and line-numbered errors. */
static void test_sla_section(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[journeyd]\n");
    assert_string_equal(c->sla_response_hours, "24");
    assert_string_equal(c->sla_response_share, "0.9");
    assert_true(!c->sla_leads_per_month || !c->sla_leads_per_month[0]);
    assert_int_equal(c->attribution_lookback_ms, INT64_C(90) * 86400000);
    assert_int_equal(c->attribution_half_life_ms, INT64_C(7) * 86400000);
    cfg_free(c);

    c = must_parse("[sla]\nresponse_hours = 4.5\nresponse_share = 0.75\n"
                   "business_hours = mon-fri 09:00-18:00\nleads_per_month = 50\n"
                   "qualified_rate = 0.3\n[journeyd]\nattribution_lookback = 30d\n");
    assert_string_equal(c->sla_response_hours, "4.5");
    assert_string_equal(c->sla_response_share, "0.75");
    assert_string_equal(c->sla_business_hours, "mon-fri 09:00-18:00");
    assert_string_equal(c->sla_leads_per_month, "50");
    assert_string_equal(c->sla_qualified_rate, "0.3");
    assert_int_equal(c->attribution_lookback_ms, INT64_C(30) * 86400000);
    cfg_free(c);

    expect_error("[sla]\nresponse_hours = 1e3\n",
                 "test.conf:2: invalid value '1e3' for response_hours: expected a decimal such as "
                 "24, 0.9 or 12.5");
    expect_error(
        "[sla]\n\nresponse_share = 1.5\n",
        "test.conf:3: invalid value '1.5' for response_share: expected a decimal between 0 "
        "and 1");
    expect_error("[sla]\nbusiness_hours = someday 25:00\n",
                 "test.conf:2: invalid value 'someday 25:00' for business_hours: expected days and "
                 "hours such as 'mon-fri 09:00-18:00'");
    expect_error("[sla]\n[sla]\n", "test.conf:2: duplicate section [sla] (first at line 1)");
    expect_error("[sla]\nsecret = x\n", "test.conf:2: unknown key 'secret' in [sla]");
}

/* [campaigns] (issue 16): <platform>:<id> = <name> in file order, the name literal (spaces
 * kept); every malformed part refused with its line. */
static void test_campaigns_section(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[campaigns]\ngoogle:12345678901 = Spring promo 2026\n"
                               "meta:238512 = spring_promo\n[journeyd]\n");
    assert_int_equal(c->ncampaigns, 2);
    assert_string_equal(c->campaigns[0].platform, "google");
    assert_string_equal(c->campaigns[0].id, "12345678901");
    assert_string_equal(c->campaigns[0].name, "Spring promo 2026");
    assert_string_equal(c->campaigns[1].platform, "meta");
    assert_string_equal(c->campaigns[1].name, "spring_promo");
    cfg_free(c);
    c = must_parse("[journeyd]\n");
    assert_int_equal(c->ncampaigns, 0);
    cfg_free(c);

    expect_error("[campaigns]\ngoogle = x\n",
                 "test.conf:2: invalid key 'google' in [campaigns]: expected <platform>:<id>");
    expect_error("[campaigns]\nGoogle:1 = x\n",
                 "test.conf:2: invalid key 'Google:1' in [campaigns]: expected a platform of 1-31 "
                 "of a-z 0-9 _ -, starting with a letter or digit");
    expect_error("[campaigns]\ngoogle: = x\n",
                 "test.conf:2: invalid key 'google:' in [campaigns]: expected a campaign id of "
                 "1-63 of A-Z a-z 0-9 _ . -");
    expect_error("[campaigns]\ngoogle:1:2 = x\n",
                 "test.conf:2: invalid key 'google:1:2' in [campaigns]: expected a campaign id of "
                 "1-63 of A-Z a-z 0-9 _ . -");
    expect_error("[campaigns]\ngoogle:1 =\n",
                 "test.conf:2: invalid campaign name for google:1: expected a name of 1-255 "
                 "bytes, not starting with '('");
    expect_error("[campaigns]\ngoogle:1 = (none)\n",
                 "test.conf:2: invalid campaign name for google:1: expected a name of 1-255 "
                 "bytes, not starting with '('");
    expect_error("[campaigns]\ngoogle:1 = a\n\ngoogle:1 = b\n",
                 "test.conf:4: duplicate key 'google:1' in [campaigns] (first at line 2)");
    expect_error("[campaigns]\n[campaigns]\n",
                 "test.conf:2: duplicate section [campaigns] (first at line 1)");
    expect_error("[journeyd]\ngoogle:1 = a\n", "test.conf:2: invalid key 'google:1'");
}

/* [channels] (DESIGN §6): the lists and the operator's rules, their bounds, and
 * line-numbered errors. What the mapping does with them is tests/unit/test_channels.c. */
static void test_channels_section(void **state)
{
    (void)state;
    struct cfg *c = must_parse("[source s]\ntype = stripe\nsecret = x_padded_to_16ch\n");
    static const size_t default_counts[CX_CHL_COUNT] = {9, 14, 3, 2, 2, 1, 1};
    for (size_t i = 0; i < CX_CHL_COUNT; i++) {
        assert_int_equal(c->nchannel_lists[i], default_counts[i]);
        assert_int_equal(c->channels.lists[i].n, default_counts[i]);
        assert_ptr_equal(c->channels.lists[i].v, c->channel_lists[i]);
    }
    assert_string_equal(c->channel_lists[CX_CHL_SEARCH_ENGINES][0], "google");
    assert_string_equal(c->channel_lists[CX_CHL_SOCIAL_NETWORKS][13], "threads");
    assert_string_equal(c->channel_lists[CX_CHL_PAID_MEDIUMS][2], "paid");
    assert_int_equal(c->channels.nrules, 0);
    assert_ptr_equal(cfg_find_source(c, "s")->cx.channels, &c->channels);
    cfg_free(c);

    /* A list from a file, one item a line, like any list key. */
    char dir[256], path[512], text[16384];
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/referral", dir);
    write_file(path, "referral\npartner\n", 17);
    snprintf(text, sizeof(text), "[channels]\nreferral_mediums_file = %s\n", path);
    c = must_parse(text);
    assert_int_equal(c->channels.lists[CX_CHL_REFERRAL_MEDIUMS].n, 2);
    assert_string_equal(c->channels.lists[CX_CHL_REFERRAL_MEDIUMS].v[1], "partner");
    cfg_free(c);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);

    c = must_parse("[channels]\n"
                   "search_engines = startpage, kagi.com\n"
                   "email_mediums =\n"
                   "medium.affiliate = affiliate\n"
                   "source.Partner-X.example = partners\n"
                   "medium.partner-x.example = partners_2\n"
                   "[source s]\ntype = stripe\nsecret = x_padded_to_16ch\n");
    assert_int_equal(c->nchannel_lists[CX_CHL_SEARCH_ENGINES], 2);
    assert_string_equal(c->channel_lists[CX_CHL_SEARCH_ENGINES][1], "kagi.com");
    assert_int_equal(c->channels.lists[CX_CHL_EMAIL_MEDIUMS].n, 0);
    assert_int_equal(c->channels.lists[CX_CHL_SOCIAL_NETWORKS].n, 14); /* untouched */
    assert_int_equal(c->channels.nrules, 3);
    assert_ptr_equal(c->channels.rules, c->channel_rules);
    assert_int_equal(c->channel_rules[0].on, CX_CHANNEL_ON_MEDIUM);
    assert_string_equal(c->channel_rules[0].value, "affiliate");
    assert_string_equal(c->channel_rules[0].channel, "affiliate");
    assert_int_equal(c->channel_rules[1].on, CX_CHANNEL_ON_SOURCE);
    assert_string_equal(c->channel_rules[1].value, "Partner-X.example");
    assert_string_equal(c->channel_rules[1].channel, "partners");
    assert_int_equal(c->channel_rules[2].on, CX_CHANNEL_ON_MEDIUM);
    assert_ptr_equal(cfg_find_source(c, "s")->cx.channels, &c->channels);
    cfg_free(c);

    /* The most of everything is accepted; one more is refused on its own line. */
    size_t len = (size_t)snprintf(text, sizeof(text), "[channels]\nsearch_engines = e0");
    for (int i = 1; i < CX_CHANNEL_LIST_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, ", e%d", i);
    len += (size_t)snprintf(text + len, sizeof(text) - len, "\n");
    for (int i = 0; i < CX_CHANNEL_RULES_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s.v%d = c%d\n",
                                i % 2 ? "source" : "medium", i, i);
    assert_true(len < sizeof(text) - 64);
    c = must_parse(text);
    assert_int_equal(c->nchannel_lists[CX_CHL_SEARCH_ENGINES], CX_CHANNEL_LIST_MAX);
    assert_int_equal(c->channels.nrules, CX_CHANNEL_RULES_MAX);
    cfg_free(c);
    snprintf(text + len, sizeof(text) - len, "medium.one-more = x\n");
    expect_error(text, "test.conf:67: more than 64 channel rules");
    len = (size_t)snprintf(text, sizeof(text), "[channels]\n\nsocial_networks = n0");
    for (int i = 1; i <= CX_CHANNEL_LIST_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, ", n%d", i);
    snprintf(text + len, sizeof(text) - len, "\n");
    expect_error(text, "test.conf:3: too many items in social_networks (at most 32)");
    char name[80];
    memset(name, 'a', 31);
    snprintf(name + 31, sizeof(name) - 31, "\n");
    snprintf(text, sizeof(text), "[channels]\nmedium.x = %s", name);
    c = must_parse(text); /* 31 bytes: the longest name that fits cx_touch.channel */
    assert_string_equal(c->channel_rules[0].channel, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cfg_free(c);

    expect_error("[channels]\nmedium.affiliate = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "test.conf:2: invalid channel 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' for "
                 "medium.affiliate: expected 1-31 of a-z 0-9 _ -, starting with a letter or "
                 "digit");
    expect_error("[channels]\n\nmedium.affiliate = Partners\n",
                 "test.conf:3: invalid channel 'Partners' for medium.affiliate: expected 1-31 of "
                 "a-z 0-9 _ -, starting with a letter or digit");
    expect_error("[channels]\nsource.x = paid search\n",
                 "test.conf:2: invalid channel 'paid search' for source.x: expected 1-31 of a-z "
                 "0-9 _ -, starting with a letter or digit");
    expect_error("[channels]\nsource.x = (direct)\n",
                 "test.conf:2: invalid channel '(direct)' for source.x: expected 1-31 of a-z 0-9 "
                 "_ -, starting with a letter or digit");
    expect_error("[channels]\nsource.x = a\"b\n",
                 "test.conf:2: invalid channel 'a\"b' for source.x: expected 1-31 of a-z 0-9 _ -, "
                 "starting with a letter or digit");
    expect_error("[channels]\nsource.x = _x\n",
                 "test.conf:2: invalid channel '_x' for source.x: expected 1-31 of a-z 0-9 _ -, "
                 "starting with a letter or digit");
    expect_error("[channels]\nsource.x =\n",
                 "test.conf:2: invalid channel '' for source.x: expected 1-31 of a-z 0-9 _ -, "
                 "starting with a letter or digit");
    expect_error("[channels]\nsource.x = env:CHANNEL\n",
                 "test.conf:2: invalid channel 'env:CHANNEL' for source.x: expected 1-31 of a-z "
                 "0-9 _ -, starting with a letter or digit");
    expect_error("[channels]\nmedium. = x\n",
                 "test.conf:2: invalid rule 'medium.': after 'medium.' expected 1-63 of A-Z a-z "
                 "0-9 _ . -");
    expect_error("[channels]\nmedium.a b = x\n", "test.conf:2: invalid key 'medium.a b'");
    expect_error("[channels]\nmedium.Affiliate = a\nsource.affiliate = b\n"
                 "medium.affiliate = c\n",
                 "test.conf:4: duplicate rule 'medium.affiliate' (first at line 2)");
    expect_error("[channels]\ncampaign.x = y\n",
                 "test.conf:2: unknown key 'campaign.x' in [channels]");
    expect_error("[channels]\nsearch_engine = x\n",
                 "test.conf:2: unknown key 'search_engine' in [channels]");
    expect_error("[journeyd]\nmedium.x = y\n", "test.conf:2: unknown key 'medium.x' in [journeyd]");
    expect_error("[channels]\nsearch_engines = google, start page\n",
                 "test.conf:2: invalid item 'start page' in search_engines: expected 1-63 of A-Z "
                 "a-z 0-9 _ . -");
    expect_error("[channels]\nemail_mediums = email,\n",
                 "test.conf:2: empty item in email_mediums");
    expect_error("[channels]\nreferral_mediums = ref\nreferral_mediums = referral\n",
                 "test.conf:3: duplicate key 'referral_mediums' in [channels] (first at line 2)");
    expect_error("[channels]\n[journeyd]\n[channels]\n",
                 "test.conf:3: duplicate section [channels] (first at line 1)");
}

/* Issue 12 item 6: redis = also takes redis://[user@]host[:port][/db]; the password has its
 * own secret key (so it gets _file and env:), and no error ever quotes a URL. */
static void test_redis_url(void **state)
{
    (void)state;
    struct cfg_redis_url u;
    assert_null(cfg_parse_redis_url("redis://cache.internal", &u));
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_null(cfg_parse_redis_url("redis://journeyd@10.0.0.5:6380/2", &u));
    assert_string_equal(u.user, "journeyd");
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_null(cfg_parse_redis_url("redis://[::1]/3", &u));
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 3);
    assert_null(cfg_parse_redis_url("redis://[::1]:7000", &u));
    assert_int_equal(u.port, 7000);
    static const char *const bad[] = {
        "redis:/x",        "redis://",        "redis://@h",    "redis://u@",
        "redis://h:0",     "redis://h:99999", "redis://h/-1",  "redis://h/x",
        "redis://h/",      "redis://u:pw@h",  "redis://a b@h", "redis://h:6379/2/3",
        "rediss://h:6379", "redis://h/70000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!cfg_parse_redis_url(bad[i], &u))
            fail_msg("accepted %s", bad[i]);

    struct cfg_err err;
    assert_null(main_value("redis", "redis://ops@127.0.0.1:6390/5", &err));
    assert_string_equal(err.msg,
                        "test.conf:1: redis names user 'ops' but redis_password is not set");
    struct cfg *c = must_parse("[journeyd]\nredis = redis://ops@127.0.0.1:6390/5\n"
                               "redis_password = sixteen-characters\n");
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6390);
    assert_string_equal(c->redis_user, "ops");
    assert_int_equal(c->redis_db, 5);
    assert_string_equal(c->redis_password, "sixteen-characters");
    cfg_free(c);
    assert_int_equal(setenv("JD_TEST_REDIS_PW", "from-the-environment", 1), 0);
    c = must_parse("[journeyd]\nredis = 127.0.0.1:6379\nredis_password = env:JD_TEST_REDIS_PW\n");
    assert_string_equal(c->redis_password, "from-the-environment");
    assert_null(c->redis_user);
    cfg_free(c);
    unsetenv("JD_TEST_REDIS_PW");
    /* A password in the URL is refused, and neither it nor the URL is echoed. */
    assert_null(main_value("redis", "redis://ops:hunter2-hunter2-hunter2@127.0.0.1/1", &err));
    assert_null(strstr(err.msg, "hunter2"));
    assert_non_null(strstr(err.msg, "redis_password"));
    assert_null(main_value("redis", "ops:hunter2-hunter2-hunter2@127.0.0.1:6379", &err));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(main_value("redis", "redis://ops@127.0.0.1:6379/hunter2", &err));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(main_value("redis_password", "hunter2\x01", &err));
    assert_null(strstr(err.msg, "hunter2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_source_defaults),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_redis),
        cmocka_unit_test(test_enums_and_strings),
        cmocka_unit_test(test_errors_with_lines),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_long_lines_and_files),
        cmocka_unit_test(test_too_many_sources),
        cmocka_unit_test(test_required_per_type),
        cmocka_unit_test(test_required_from_descriptor),
        cmocka_unit_test(test_secret_rotation),
        cmocka_unit_test(test_cx_view),
        cmocka_unit_test(test_secret_min_length),
        cmocka_unit_test(test_api_token_scopes),
        cmocka_unit_test(test_env_items_in_lists),
        cmocka_unit_test(test_graph_version),
        cmocka_unit_test(test_api_base_https),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_secret_file_modes),
        cmocka_unit_test(test_env_values),
        cmocka_unit_test(test_example_parses),
        cmocka_unit_test(test_truncated_example),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_restart_changes),
        cmocka_unit_test(test_unique_types_reloadable),
        cmocka_unit_test(test_cfg_free),
        cmocka_unit_test(test_sla_section),
        cmocka_unit_test(test_channels_section),
        cmocka_unit_test(test_campaigns_section),
        cmocka_unit_test(test_redis_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
