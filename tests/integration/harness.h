/*
 * Integration test harness: every test runs its own redis-server and journeyd on free
 * loopback ports inside a private temporary directory, drives them over HTTP with libcurl
 * and inspects Redis with the synchronous hiredis client.
 *
 * Signatures are computed here, the provider's way (libcrypto HMAC), never with the
 * daemon's own connector code: a test that shared the daemon's code would agree with the
 * daemon's bugs.
 *
 * Failure model: JD_EXPECT records a failure and goes on (so one run reports every broken
 * check), JD_REQUIRE stops the test at once. Either way the exit path kills every child
 * process group, prints the tail of each child's log and keeps the temporary directory
 * for a post-mortem. A SIGALRM watchdog turns a hang into a failure.
 */
#ifndef JD_ITEST_HARNESS_H
#define JD_ITEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

/* ctest's SKIP_RETURN_CODE. */
#define JD_SKIP 77

#define JD_PATH_MAX 512

/* The fixed test configuration (the daemon's contract in the test brief). */
#define JD_TOKEN "test-token-5f3a9c17"
#define JD_STRIPE_SECRET "whsec_test_secret"
#define JD_FORM_SECRET "form_test_secret"

/* Starts the test: seeds the PRNG (JD_SEED overrides; the seed is printed so a failure
 * can be replayed), creates the temporary directory, arms the watchdog, installs the
 * exit cleanup. When need_redis is set and redis-server is not installed, exits with
 * JD_SKIP. */
void jd_setup(const char *test_name, unsigned watchdog_s, int need_redis);
/* Prints the summary; returns the process exit status (0 or 1). */
int jd_finish(void);

void jd_error(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void jd_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void jd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int jd_failures(void);

#define JD_EXPECT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            jd_error(__FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)
#define JD_REQUIRE(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            jd_fatal(__FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)

const char *jd_tmpdir(void);
/* xorshift64*, seeded by jd_setup. Not for threads other than the main one. */
uint64_t jd_rand(void);
uint64_t jd_rand_below(uint64_t n);
uint64_t jd_seed(void);

void jd_sleep_ms(long ms);
int64_t jd_now_s(void);
int64_t jd_mono_ms(void);
/* "2026-10-01T12:00:00Z" (UTC); out must hold 21 bytes. */
void jd_rfc3339(int64_t unix_s, char *out, size_t outlen);
/* Parses RFC 3339 (optional fraction, Z or +hh:mm); -1 on error. Fractions are dropped. */
int jd_parse_rfc3339(const char *s, int64_t *unix_s);

/* ---- child processes ---- */

struct jd_redis {
    pid_t pid;
    int port;
    char dir[JD_PATH_MAX];
    char log[JD_PATH_MAX];
};

/* Starts redis-server with AOF in `dir` (created if needed; NULL = a fresh subdirectory)
 * on `port` (0 = a free one) and waits until it answers PING. */
void jd_redis_start(struct jd_redis *r, const char *dir, int port);
/* Graceful stop through a SHUTDOWN command on a separate connection (AOF is fsynced). */
void jd_redis_shutdown(struct jd_redis *r);
/* Sends sig and waits for the process to end. */
void jd_redis_kill(struct jd_redis *r, int sig);
/* A synchronous connection for inspection; the caller frees it. Fatal on failure. */
redisContext *jd_redis_connect(const struct jd_redis *r);
/* Integer reply of a command without user data, or -1 on error. */
long long jd_redis_int(redisContext *c, const char *cmd);
/* Entries of jd:raw pending in the consumer group jd (XPENDING's summary), or -1. */
long long jd_redis_pending(redisContext *c);

struct jd_daemon {
    pid_t pid;
    int port;
    int redis_port;
    char conf[JD_PATH_MAX];
    char log[JD_PATH_MAX];
    char base[64]; /* "http://127.0.0.1:<port>" */
};

/* Writes the standard test configuration (free listen port) plus `extra` lines appended to
 * the [journeyd] section (may be NULL). claim_idle is 1s so retries come quickly, unless
 * `extra` sets it (a key may appear once). */
void jd_daemon_config(struct jd_daemon *d, int redis_port, const char *extra);
/* Appends printf-formatted lines (a section of their own) to d's configuration file, after
 * jd_daemon_config; fatal when the file cannot be written. */
void jd_daemon_config_append(const struct jd_daemon *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds printf-formatted key lines to the harness's own [source stripe], right after its
 * type line (the API keys of a reconciliation or backfill test, say). */
void jd_daemon_config_stripe(const struct jd_daemon *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Starts $JD_BINARY -c <conf> with stderr appended to d->log, and waits for /readyz 200
 * when wait_ready is set (fatal if it does not come, with the log tail). */
void jd_daemon_start(struct jd_daemon *d, int wait_ready);
void jd_daemon_signal(struct jd_daemon *d, int sig);
/* Waits up to timeout_s for the process to end; returns the waitpid status, or -1 on
 * timeout (the process is then still registered for the exit cleanup). */
int jd_daemon_wait_exit(struct jd_daemon *d, int timeout_s);
/* SIGTERM, then expects exit status 0 within 60 s (the graceful-stop contract). */
void jd_daemon_stop(struct jd_daemon *d);
/* 1 while the process has not exited. */
int jd_daemon_alive(struct jd_daemon *d);
/* Prints the last `lines` lines of a log file to stderr. */
void jd_dump_log(const char *path, int lines);
/* The whole file, NUL-terminated (malloc'd; the caller frees), or NULL when it cannot be
 * read. */
char *jd_slurp(const char *path);
/* A Stripe checkout.session.completed for payment i of a run (ids, email and amount derived
 * from prefix and i; EUR 5.00 + i cents), unsigned: post it with jd_post_stripe. Free it. */
char *jd_stripe_checkout_body(const char *prefix, int i);
/* Every webhook jd_stripe_checkout_body(prefix, i) for i < n is in its journey exactly once
 * (the first ten misses and doubles are reported, with first_status[i] when given: the
 * answer its sender got). Counts as failed checks; returns how many are not. */
int jd_check_checkout_journeys(const struct jd_daemon *d, const char *prefix, int n,
                               const long *first_status);
/* A page of Stripe's GET /v1/events answer holding jd_stripe_checkout_body(prefix, i) for i
 * from first down to last (newest first, as Stripe lists). Free it. */
char *jd_stripe_events_page(const char *prefix, int first, int last, int more);
/* A raw TCP connection to the daemon (loopback, blocking, close-on-exec), for tests that
 * speak HTTP byte by byte or not at all; fatal when it cannot connect. */
int jd_daemon_connect(const struct jd_daemon *d);
/* Runs argv to completion with stdout+stderr captured into out (NUL-terminated, truncated
 * to outlen); returns the waitpid status or -1. */
int jd_run_capture(char *const argv[], char *out, size_t outlen, int timeout_s);
/* The daemon binary from $JD_BINARY (fatal when unset or not executable). */
const char *jd_binary(void);

/* ---- HTTP ---- */

struct jd_http {
    long status; /* 0 on a transport error */
    int curl_code;
    char *body;
    size_t len;
    char *hdrs; /* raw response header block(s) */
    size_t hlen;
};

void jd_http_free(struct jd_http *h);
/* One request on this thread's keep-alive handle. headers is NULL-terminated (may be NULL);
 * body may be NULL for no body. Returns 0 when an HTTP answer arrived, -1 otherwise. */
int jd_http(struct jd_http *out, const char *method, const char *url, const char *const *headers,
            const void *body, size_t len);
/* Value of the last response's header `name` (case-insensitive), copied into out; NULL
 * when absent. */
const char *jd_http_header(const struct jd_http *h, const char *name, char *out, size_t outlen);
/* The same in a block of header lines ending in "\n" or "\r\n" (blanks around the value
 * trimmed). */
const char *jd_header_value(const char *block, const char *name, char *out, size_t outlen);
/* Parses the body as JSON (NULL when it is not JSON). */
cJSON *jd_http_json(const struct jd_http *h);
/* 1 when the body is {"error": "<string>", "message": "<string>"} and, when code is not
 * NULL, error equals it. */
int jd_http_is_error(const struct jd_http *h, const char *code);
/* Frees the calling thread's curl handle (threads other than main call it before exit). */
void jd_http_thread_done(void);

/* A Google service-account key file (mode 0600, as the config wants secrets) holding a
 * fresh RSA key, for the Data Manager destination's JWT step. */
void jd_write_service_account(const char *path);
/* Lowercase hex HMAC-SHA256; out holds 65 bytes. */
void jd_hmac_hex(const char *key, const void *msg, size_t len, char *out);
/* "Stripe-Signature: t=<t>,v1=<hex>" for the secret. */
void jd_stripe_sig_header(char *out, size_t outlen, const char *secret, int64_t t, const void *body,
                          size_t len);
/* "X-Journeyd-Signature: sha256=<hex>". */
void jd_form_sig_header(char *out, size_t outlen, const char *secret, const void *body, size_t len);

/* POST base/hooks/<source> with these header lines (NULL-terminated) and body; as jd_http. */
int jd_post_hook(const struct jd_daemon *d, const char *source, const char *const *headers,
                 const char *body, struct jd_http *out);
/* POST a JSON body to /hooks/<source> signed as Meta signs it: X-Hub-Signature-256 is
 * "sha256=" and the hex HMAC-SHA256 of the raw body under the app secret. */
int jd_post_meta(const struct jd_daemon *d, const char *source, const char *secret,
                 const char *body, struct jd_http *out);
/* Signed POST /hooks/stripe with the current time. */
int jd_post_stripe(const struct jd_daemon *d, const char *body, struct jd_http *out);
/* Signed POST /hooks/site; content_type e.g. "application/json". */
int jd_post_form(const struct jd_daemon *d, const char *body, const char *content_type,
                 struct jd_http *out);
/* POST /v1/events with the bearer token. */
int jd_post_events(const struct jd_daemon *d, const char *body, struct jd_http *out);
/* GET base+path with the bearer token. */
int jd_get_auth(const struct jd_daemon *d, const char *path, struct jd_http *out);
/* GET base+path without credentials; returns the status (0 on transport error). */
long jd_get_status(const struct jd_daemon *d, const char *path);

/* The value of one /metrics series, named in full with its labels
 * ("journeyd_clicks_total", "journeyd_x_total{source=\"a\"}"), or -1 when absent. */
long long jd_metric(const struct jd_daemon *d, const char *series);
/* Polls /v1/status until queue length and pending are both 0 (with at least two such
 * answers in a row, so an entry between read and apply is not missed); fatal after
 * timeout_s. Returns dead_letters. */
long jd_wait_drained(const struct jd_daemon *d, int timeout_s);
/* GET /v1/journey?<key>=<urlencoded value>; returns the parsed answer or NULL (status in
 * *status). */
cJSON *jd_journey(const struct jd_daemon *d, const char *key, const char *value, long *status);
/* The string (integer) at path (jd_json_path) of obj equals want; a failure names ctx and
 * is reported at the caller's line. */
void jd_expect_str_at(const char *file, int line, const cJSON *obj, const char *path,
                      const char *want, const char *ctx);
void jd_expect_int_at(const char *file, int line, const cJSON *obj, const char *path, int64_t want,
                      const char *ctx);
#define JD_EXPECT_STR(obj, path, want, ctx)                                                        \
    jd_expect_str_at(__FILE__, __LINE__, obj, path, want, ctx)
#define JD_EXPECT_INT(obj, path, want, ctx)                                                        \
    jd_expect_int_at(__FILE__, __LINE__, obj, path, want, ctx)
/* Expects event `id` exactly once in the journey of the contact with this email (reported
 * at the caller's line). */
void jd_expect_once_at(const char *file, int line, const struct jd_daemon *d, const char *email,
                       const char *id);
#define JD_EXPECT_ONCE(d, email, id) jd_expect_once_at(__FILE__, __LINE__, d, email, id)

/* Percent-encodes everything but unreserved characters into out (truncates safely). */
void jd_urlencode(const char *s, char *out, size_t outlen);

/* ---- small JSON helpers ---- */

const char *jd_json_str(const cJSON *obj, const char *key);
/* Follows a dotted path of object keys ("contact.revenue.EUR"). */
const cJSON *jd_json_path(const cJSON *obj, const char *path);
/* Integer value of a number item that holds an exact integer; 0 with *ok = 0 otherwise. */
int64_t jd_json_int(const cJSON *item, int *ok);
/* Unformatted JSON of an item; the caller frees with cJSON_free. */
char *jd_json_print(const cJSON *item);
/* Compact JSON of an item for messages, in a per-thread buffer reused by the next call
 * (truncated to 2000 bytes); "(null)" for NULL. */
const char *jd_json_brief(const cJSON *item);
/* 1 when the identities array holds {type, value}. */
int jd_has_identity(const cJSON *identities, const char *type, const char *value);
/* Number of events in a journey answer whose id is `id`. */
int jd_count_event(const cJSON *journey, const char *id);

/* A growable string buffer for building payloads. */
struct jd_buf {
    char *p;
    size_t len, cap;
};
void jd_buf_printf(struct jd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jd_buf_append(struct jd_buf *b, const void *data, size_t len);
void jd_buf_free(struct jd_buf *b);

#endif
