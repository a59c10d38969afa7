/*
 * Slow clients cannot lock the door (issue 11 item 3, DESIGN §8 "slow clients").
 *
 * libevent's timeout restarts on every byte, so a client that drips a byte now and then
 * would hold its connection forever, and max_connections of them would keep webhooks,
 * /healthz and /readyz out. Against max_connections = 64 and request_timeout = 5s, 120
 * raw sockets from one address (127.0.0.1) drip one byte a second: half of them inside
 * their headers, half inside a body that announces 100 000 bytes. A socket the daemon
 * closes is opened again (twice a second at most) for the first 7 seconds, so the pressure
 * stays at 120 against 64. The attack runs twice: with the default per-address cap (a
 * quarter of max_connections, so the address's own oldest connection makes room) and with
 * that cap as high as max_connections (so max_connections is the cap reached). Meanwhile, from the
 * third second on, a normal client asks for /healthz four times a second, each time on a fresh
 * connection (so each one has to get in past the slow ones). Then:
 *   - every /healthz from the third second on answers 200 within a second;
 *   - every slow socket is closed by the daemon within twice request_timeout of its
 *     connect (headers, then body, each with its own absolute deadline);
 *   - the daemon is still healthy and takes a webhook afterwards.
 */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NSLOW 120
#define TIMEOUT_MS 5000
#define ATTACK_MS 8000 /* slow sockets are reopened until then */
#define HEALTH_FROM_MS 2000
#define SLACK_MS 1500 /* the daemon's checks run once a second; our loop ticks at 50 ms */

struct slow {
    int fd;
    int body; /* drips inside a body rather than inside the headers */
    int64_t opened_ms;
    int64_t next_drip_ms;
};

static struct jd_daemon daemon_;
static struct slow slows[NSLOW];
static int64_t longest_ms; /* longest life of a slow socket the daemon closed */
static int nclosed, nreopened, nlate;

static void open_slow(struct slow *s, int64_t now)
{
    static const char head[] = "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ";
    static const char body[] = "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
    s->fd = jd_daemon_connect(&daemon_);
    s->opened_ms = now;
    s->next_drip_ms = now + 1000;
    const char *p = s->body ? body : head;
    size_t len = s->body ? sizeof body - 1 : sizeof head - 1;
    /* A reset right away is the daemon making room: seen as a close below. */
    (void)send(s->fd, p, len, MSG_NOSIGNAL);
}

/* 1 when the daemon closed (or reset) the socket; answer bytes are drained. */
static int closed_by_daemon(int fd)
{
    char buf[1024];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 1;
        if (n < 0)
            return 0;
    }
    return 0;
}

/* One pass over the slow sockets: drip what is due, note what the daemon closed (and
 * reopen it while the attack lasts). */
static void tend_slow(int64_t t0)
{
    int64_t now = jd_mono_ms();
    for (int i = 0; i < NSLOW; i++) {
        struct slow *s = &slows[i];
        if (s->fd < 0) {
            if (now - t0 < ATTACK_MS && now >= s->next_drip_ms) {
                open_slow(s, now);
                nreopened++;
            }
            continue;
        }
        if (closed_by_daemon(s->fd)) {
            int64_t life = now - s->opened_ms;
            if (life > longest_ms)
                longest_ms = life;
            if (life > 2 * TIMEOUT_MS + SLACK_MS && nlate++ < 5)
                jd_error(__FILE__, __LINE__, "slow socket %d was held %" PRId64 " ms", i, life);
            close(s->fd);
            s->fd = -1;
            s->next_drip_ms = now + 500; /* reopened no sooner */
            nclosed++;
            continue;
        }
        if (now >= s->next_drip_ms) {
            (void)send(s->fd, s->body ? " " : "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            s->next_drip_ms = now + 1000;
        }
    }
}

/* /healthz on a fresh connection; its duration in ms, or -1 without a 200. */
static long health_ms(CURL *c, long *status)
{
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", daemon_.base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    int64_t t = jd_mono_ms();
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return *status == 200 ? (long)(jd_mono_ms() - t) : -1;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One attack against a daemon started with `conf`. */
static void attack(struct jd_redis *redis, const char *what, const char *conf)
{
    jd_note("--- %s ---", what);
    longest_ms = 0;
    nclosed = nreopened = nlate = 0;
    jd_daemon_config(&daemon_, redis->port, conf);
    jd_daemon_start(&daemon_, 1);

    CURL *c = curl_easy_init();
    JD_REQUIRE(c, "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* Within a second, or it counts as a failure. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);

    int64_t t0 = jd_mono_ms();
    for (int i = 0; i < NSLOW; i++) {
        slows[i].body = i % 2;
        open_slow(&slows[i], t0);
        /* Staggered drips: a byte a second each, not all in the same instant. */
        slows[i].next_drip_ms = t0 + 1000 + (i * 1000) / NSLOW;
    }
    jd_note("%d slow sockets open in %" PRId64 " ms", NSLOW, jd_mono_ms() - t0);

    int polls = 0, bad = 0;
    long slowest = 0;
    int64_t next_health = t0 + HEALTH_FROM_MS;
    /* Bounded: the attack, then until every slow socket is closed (2 x timeout at most). */
    int64_t end = t0 + ATTACK_MS + 2 * TIMEOUT_MS + 2 * SLACK_MS;
    for (;;) {
        int64_t now = jd_mono_ms();
        int open = 0;
        for (int i = 0; i < NSLOW; i++)
            open += slows[i].fd >= 0;
        if ((now - t0 >= ATTACK_MS && open == 0) || now >= end)
            break;
        tend_slow(t0);
        if (now >= next_health && now - t0 < ATTACK_MS) {
            long status;
            long ms = health_ms(c, &status);
            polls++;
            if (ms < 0 || ms > 1000) {
                if (bad++ < 5)
                    jd_error(__FILE__, __LINE__,
                             "/healthz at %" PRId64 " ms: status %ld in %ld ms (want 200 within "
                             "a second)",
                             now - t0, status, ms);
            } else if (ms > slowest)
                slowest = ms;
            next_health = now + 250;
            continue;
        }
        struct pollfd none;
        (void)poll(&none, 0, 50);
    }
    int still = 0;
    for (int i = 0; i < NSLOW; i++)
        if (slows[i].fd >= 0) {
            still++;
            close(slows[i].fd);
        }
    jd_note("/healthz: %d polls from the third second on, %d failed, slowest %ld ms", polls, bad,
            slowest);
    jd_note("slow sockets: %d closed by the daemon (%d reopened), longest held %" PRId64
            " ms, %d still open at the end",
            nclosed, nreopened, longest_ms, still);
    JD_EXPECT(polls >= 10, "only %d /healthz polls ran", polls);
    JD_EXPECT(bad == 0, "%d of %d /healthz polls did not get 200 within a second", bad, polls);
    JD_EXPECT(nlate == 0, "%d slow sockets were held longer than twice request_timeout", nlate);
    JD_EXPECT(still == 0, "%d slow sockets still open %d ms after the attack ended", still,
              2 * TIMEOUT_MS + 2 * SLACK_MS);

    /* Still healthy, and webhooks still get in. */
    JD_EXPECT(jd_daemon_alive(&daemon_), "journeyd died under the slow clients");
    JD_EXPECT(jd_get_status(&daemon_, "/readyz") == 200, "/readyz is not 200 afterwards");
    struct jd_http h;
    jd_post_stripe(&daemon_,
                   "{\"id\":\"evt_after_slow\",\"object\":\"event\",\"type\":\"customer.created\","
                   "\"created\":1790000000,\"data\":{\"object\":{\"id\":\"cus_after_slow\","
                   "\"object\":\"customer\",\"email\":\"after.slow@example.com\"}}}",
                   &h);
    JD_EXPECT(h.status == 200, "a webhook after the slow clients: want 200, got %ld", h.status);
    jd_http_free(&h);
    curl_easy_cleanup(c);
    jd_daemon_stop(&daemon_);
}

int main(void)
{
    jd_setup("slow_clients", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    /* The per-address cap (by default a quarter of max_connections) makes the room. */
    attack(&redis, "default per-address cap", "max_connections = 64\nrequest_timeout = 5s\n");
    /* One address may take every connection: max_connections makes the room. */
    attack(&redis, "per-address cap as high as max_connections",
           "max_connections = 64\nmax_connections_per_address = 64\nrequest_timeout = 5s\n");
    return jd_finish();
}
