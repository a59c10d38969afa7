/*
 * libFuzzer target: the HTTP door itself. The input is the raw bytes one client sends on
 * one connection; they go over loopback to the daemon's real server (http.c, libevent's
 * request parser), the real route table (routes.c) and the real handlers up to the queue:
 * the request line and headers, token checks, every source's verify on /hooks/<name>
 * (signatures, urlencoded and JSON form bodies, Meta's handshake), and the click
 * tracker's query and cookie. No Redis is configured, so whatever passes the door is
 * answered 503 (or, for a click, redirected unrecorded): the door is what is fuzzed.
 *
 * Invariants on every input: no crash, no sanitizer report, no leak; the connection ends
 * (an answer and a close) within a bounded number of loop turns; an answer starts with a
 * well-formed status line; and when the server is idle again it holds no connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "jd.h"
#include "log.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64 * 1024) /* well past every header limit, far below max_body */
/* Loop turns for one connection. Nothing sleeps (a turn is a few microseconds), so this is
 * a bound on a server that neither answers nor closes, not a timeout. */
#define FUZZ_TURNS 20000

static void check(int cond)
{
    if (!cond)
        abort();
}

static struct jd jd;
static int port;

/* Every door a browser or a provider can knock on, with secrets the dictionary knows. */
static const char conf_fmt[] =
    "[journeyd]\n"
    "listen = 127.0.0.1:%d\n"
    "api_tokens = read:fuzz-read-token-0001, fuzz-admin-token-0001\n"
    "click_allow = example.com\n"
    "log_level = error\n"
    "request_timeout = 2s\n"
    "[source stripe]\ntype = stripe\nsecret = whsec_fuzz_secret_0001\n"
    "[source site]\ntype = form\nauth = hmac\nsecret = form_fuzz_secret_0001\n"
    "[source token]\ntype = form\nauth = token\nsecret = form_fuzz_token_0001\n"
    "[source web]\ntype = form\nauth = origin\nallow_origins = example.com\n"
    "thank_you_url = https://example.com/thanks\n"
    "[source meta]\ntype = meta_leads\nsecret = meta_fuzz_secret_0001\n"
    "verify_token = meta-verify-token-0001\n"
    "[source google]\ntype = google_ads\nsecret = google_fuzz_key_0001\n"
    "[source typeform]\ntype = typeform\nsecret = typeform_fuzz_secret_1\n"
    "[source hubspot]\ntype = hubspot\nsecret = hubspot_fuzz_secret_01\n"
    "[source pipedrive]\ntype = pipedrive\nusername = fuzz\npassword = pipedrive_fuzz_pass1\n"
    "[source calendly]\ntype = calendly\nsecret = calendly_fuzz_secret1\n"
    "[source shopify]\ntype = shopify\nsecret = shopify_fuzz_secret_1\n"
    "[source custom]\ntype = events\nsecret = events_fuzz_secret_01\n";

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    check(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* What main.c sets up for the built-in doors (its setup_builtin_sources). */
static void builtin_sources(void)
{
    jd.events_source.name = "events";
    jd.events_source.type = "events";
    jd.events_source.authenticated_by_door = 1;
    jd.events_source.channels = &jd.cfg->channels;
    jd.click_source.name = "click";
    jd.click_source.type = "click";
    jd.click_source.channels = &jd.cfg->channels;
}

static void init(void)
{
    char text[sizeof(conf_fmt) + 16];
    struct cfg_err err = {{0}};
    port = free_port();
    snprintf(text, sizeof(text), conf_fmt, port);
    jd.cfg = cfg_parse(text, strlen(text), "fuzz.conf", &err);
    if (!jd.cfg) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        abort();
    }
    jlog_set_level(JLOG_ERROR);
    jd.base = event_base_new();
    check(jd.base != NULL);
    jd.roles_ingest = jd.roles_api = 1;
    builtin_sources();
    jd.http = http_start(jd.base, jd.cfg, routes_dispatch, &jd);
    check(jd.http != NULL);
}

static int connect_client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    check(fd >= 0);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    check(rc == 0 || errno == EINPROGRESS);
    return fd;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits from r[*i] on (at least one); *i moves past them. */
static int digits(const char *r, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && is_digit(r[*i]))
        (*i)++;
    return *i > start;
}

/* "HTTP/<n>.<n> NNN " at the start of an answer. The daemon answers HTTP/1.0 and 1.1 only
 * (505 to others), but libevent's own refusals (a malformed header: 400) echo the version
 * the request named, read with %d.%d: "HTTP/-1.1" is answered "HTTP/-1.1 400" (found by
 * this target), so the numbers may be any and signed. */
static int status_line_ok(const char *r, size_t n)
{
    size_t i = 5;
    if (n < 5 || memcmp(r, "HTTP/", 5) != 0)
        return 0;
    if (i < n && r[i] == '-')
        i++;
    if (!digits(r, n, &i) || i >= n || r[i++] != '.')
        return 0;
    if (i < n && r[i] == '-')
        i++;
    if (!digits(r, n, &i))
        return 0;
    return n >= i + 5 && r[i] == ' ' && r[i + 1] >= '1' && r[i + 1] <= '5' && is_digit(r[i + 2]) &&
           is_digit(r[i + 3]) && r[i + 4] == ' ';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!jd.base)
        init();
    if (size > FUZZ_MAX_INPUT)
        size = FUZZ_MAX_INPUT;
    int fd = connect_client();
    size_t sent = 0, got = 0;
    int eof = 0, shut = 0;
    static char answer[4096];
    for (int turn = 0; turn < FUZZ_TURNS && !eof; turn++) {
        event_base_loop(jd.base, EVLOOP_NONBLOCK);
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
                sent = size; /* the server closed on us: stop sending */
        }
        if (sent == size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0) {
            char buf[4096];
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                size_t keep = got < sizeof(answer) ? sizeof(answer) - got : 0;
                memcpy(answer + got, buf, (size_t)r < keep ? (size_t)r : keep);
                got += (size_t)r;
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                eof = 1;
            }
        }
    }
    /* FUZZ_HTTP_SHOW=1 prints each answer's first line: to see what a corpus reaches. */
    if (getenv("FUZZ_HTTP_SHOW"))
        fprintf(stderr, "fuzz_http: %zu bytes sent, %zu received: %.*s\n", sent, got,
                (int)strcspn(answer, "\r\n") < (int)got ? (int)strcspn(answer, "\r\n") : (int)got,
                answer);
    /* Every request line the server answered starts an answer with a status line. */
    if (got > 0)
        check(status_line_ok(answer, got < sizeof(answer) ? got : sizeof(answer)));
    close(fd);
    /* The server lets go of the connection once the client is gone. */
    for (int turn = 0; turn < FUZZ_TURNS && http_busy_connections(jd.http) > 0; turn++) {
        event_base_loop(jd.base, EVLOOP_NONBLOCK);
    }
    check(eof || http_busy_connections(jd.http) == 0);
    return 0;
}
