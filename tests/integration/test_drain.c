/*
 * Graceful stop (DESIGN §8: "SIGTERM stops accepting, finishes what is in flight, exits
 * 0"; README: bounded by drain_timeout, a second SIGTERM exits at once).
 *
 * 1. A burst of 300 signed Stripe webhooks on 300 connections at once; two thirds of
 *    them come from slow clients that send half the body at once and the rest only
 *    after SIGTERM (requests in flight in the truest sense): 100 as soon as journeyd
 *    logs that it is stopping, 100 two seconds later. SIGTERM goes out as soon as the
 *    first answer arrives. Just before the SIGTERM and again once journeyd has logged
 *    that it is stopping, the test reads /proc/net/tcp to learn which of the still-open
 *    connections journeyd had accepted (its socket has an inode) and which were still in the
 * kernel's accept queue (ESTABLISHED, inode 0: journeyd never saw them). Then:
 *      - a request that journeyd accepted gets a complete answer: 200 or 503, never a
 *        reset or an empty reply;
 *      - only requests that journeyd never accepted may fail, and only at transport level;
 *      - journeyd exits 0 within drain_timeout, without hitting it;
 *      - restarted on the same Redis, every webhook that got 200 is in its journey once.
 * 2. drain_timeout = 30s and a webhook stuck in flight (redis-server SIGSTOPped, so the
 *    XADD hangs): one SIGTERM leaves journeyd draining (still alive 1 s later), a second
 *    one makes it exit at once.
 */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N 300

enum conn_seen { SEEN_UNKNOWN, SEEN_ACCEPTED, SEEN_BACKLOG };

/* When the state of the daemon's side of each connection is read. */
enum { SNAP_AT_TERM, SNAP_STOPPING, NSNAPS };

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    struct jd_buf answer;
    int done;
    long status; /* 0: no HTTP answer */
    int curl_code;
    int done_at[NSNAPS];         /* finished before that snapshot */
    enum conn_seen seen[NSNAPS]; /* for transfers still running at that snapshot */
    int client_port;
    int slow;    /* sends half its body, then waits for the release after SIGTERM */
    size_t sent; /* body bytes handed to curl so far */
    int paused;
};

/* Slow clients send the rest of their bodies once their release has come: release 1
 * when journeyd has logged that it is stopping, release 2 two seconds later (a client on
 * a poor network; drain_timeout is 10 s, request_timeout 20 s). */
static int released;

static struct xfer xs[N];

static char *make_body(int i)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"evt_drain_%04d\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_drain_%04d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
                  "\"currency\":\"eur\",\"customer\":\"cus_drain_%04d\",\"customer_details\":"
                  "{\"email\":\"drain%04d@example.com\"},\"payment_intent\":\"pi_drain_%04d\","
                  "\"metadata\":{}}}}",
                  i, (int64_t)1790000000 + i, i, 500 + i, i, i, i);
    return b.p;
}

static size_t keep_answer(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct jd_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > 4096)
        return 0;
    jd_buf_append(b, ptr, n);
    return n;
}

/* A slow client: half the body at once, the rest only after the release. */
static size_t read_body(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t len = strlen(x->body), cap = size * nitems;
    size_t limit = released >= x->slow ? len : len / 2;
    if (x->sent >= limit) {
        if (x->sent == len)
            return 0;
        x->paused = 1;
        return CURL_READFUNC_PAUSE;
    }
    size_t n = limit - x->sent < cap ? limit - x->sent : cap;
    memcpy(buf, x->body + x->sent, n);
    x->sent += n;
    return n;
}

static void setup_xfer(struct xfer *x, const struct jd_daemon *d, int idx)
{
    char url[128], sig[256];
    x->easy = curl_easy_init();
    JD_REQUIRE(x->easy, "curl_easy_init failed");
    x->body = make_body(idx);
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), x->body, strlen(x->body));
    x->hdrs = curl_slist_append(x->hdrs, sig);
    x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json; charset=utf-8");
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    snprintf(url, sizeof url, "%s/hooks/stripe", d->base);
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    if (x->slow) {
        curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    } else {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    }
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->answer);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, 60L);
    /* One connection per request: a reused connection would let curl silently retry a
     * request whose first attempt died, hiding exactly what this test looks for. */
    curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
}

static int log_has(const char *path, const char *needle)
{
    char *log = jd_slurp(path);
    int has = log && strstr(log, needle) != NULL;
    free(log);
    return has;
}

/* The daemon side of the loopback connection from client_port to server_port, from
 * /proc/net/tcp: accepted (a socket inode), still in the accept queue (ESTABLISHED,
 * inode 0), or unknown (gone, closing). */
static enum conn_seen server_side(const char *table, int server_port, int client_port)
{
    const unsigned lo = 0x0100007Fu; /* 127.0.0.1 as the kernel prints it */
    for (const char *p = table; p && *p;) {
        const char *eol = strchr(p, '\n');
        unsigned la, lp, ra, rp, st;
        unsigned long inode;
        if (sscanf(p, " %*u: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &la, &lp, &ra, &rp,
                   &st, &inode) == 6 &&
            la == lo && ra == lo && (int)lp == server_port && (int)rp == client_port) {
            if (inode != 0)
                return SEEN_ACCEPTED;
            return st == 0x01 ? SEEN_BACKLOG : SEEN_UNKNOWN;
        }
        p = eol ? eol + 1 : NULL;
    }
    return SEEN_UNKNOWN;
}

/* For every running transfer, which state its connection is in on the daemon's side. */
static void snapshot(const struct jd_daemon *d, int which)
{
    char *table = jd_slurp("/proc/net/tcp");
    JD_REQUIRE(table, "cannot read /proc/net/tcp: %s", strerror(errno));
    for (int i = 0; i < N; i++) {
        struct xfer *x = &xs[i];
        if (x->done) {
            x->done_at[which] = 1;
            continue;
        }
        long port = 0;
        if (curl_easy_getinfo(x->easy, CURLINFO_LOCAL_PORT, &port) != CURLE_OK || port <= 0)
            continue;
        x->client_port = (int)port;
        x->seen[which] = server_side(table, d->port, x->client_port);
    }
    free(table);
}

static int was_accepted(const struct xfer *x)
{
    return x->seen[SNAP_AT_TERM] == SEEN_ACCEPTED || x->seen[SNAP_STOPPING] == SEEN_ACCEPTED;
}

static void complete(CURLM *m, CURLMsg *msg)
{
    struct xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    x->curl_code = (int)msg->data.result;
    if (msg->data.result == CURLE_OK)
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
    x->done = 1;
    curl_multi_remove_handle(m, msg->easy_handle);
}

static void release(int level)
{
    released = level;
    for (int i = 0; i < N; i++)
        if (xs[i].paused && !xs[i].done) {
            xs[i].paused = 0;
            curl_easy_pause(xs[i].easy, CURLPAUSE_CONT);
        }
}

/* Fires the burst, SIGTERMs after the first answer, snapshots once journeyd has logged
 * that it is stopping, and drives every transfer to its end. */
static void burst_and_term(struct jd_daemon *d)
{
    CURLM *m = curl_multi_init();
    JD_REQUIRE(m, "curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)N);
    for (int i = 0; i < N; i++) {
        xs[i].slow = i % 3;
        setup_xfer(&xs[i], d, i);
        curl_multi_add_handle(m, xs[i].easy);
    }
    int running = N, done = 0, termed = 0, snapped = 0;
    int64_t release2_at = 0;
    while (done < N) {
        CURLMcode mc = curl_multi_perform(m, &running);
        JD_REQUIRE(mc == CURLM_OK, "curl_multi_perform: %s", curl_multi_strerror(mc));
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            complete(m, msg);
            done++;
            if (!termed) {
                /* A connection accepted now is accepted at the stop, whatever follows. */
                snapshot(d, SNAP_AT_TERM);
                jd_daemon_signal(d, SIGTERM);
                termed = 1;
                jd_note("SIGTERM after the first answer; %d requests still running", N - done);
            }
        }
        if (termed && !snapped) {
            /* The stop callback logs before it disables the listener and runs to its end
             * before the loop can accept again: once the line is there, the set of
             * accepted connections is final. */
            if (log_has(d->log, "msg=stopping")) {
                snapshot(d, SNAP_STOPPING);
                snapped = 1;
                release(1);
                release2_at = jd_mono_ms() + 2000;
            }
        }
        if (snapped && released < 2 && jd_mono_ms() >= release2_at)
            release(2);
        if (done < N) {
            mc = curl_multi_poll(m, NULL, 0, 10, NULL);
            JD_REQUIRE(mc == CURLM_OK, "curl_multi_poll: %s", curl_multi_strerror(mc));
        }
    }
    JD_EXPECT(snapped, "the burst ended before journeyd logged msg=stopping");
    for (int i = 0; i < N; i++) {
        curl_easy_cleanup(xs[i].easy);
        xs[i].easy = NULL;
    }
    curl_multi_cleanup(m);
}

static void graceful_burst(struct jd_redis *redis)
{
    struct jd_daemon d;
    /* The slow clients stall mid-body until two seconds after the stop, which comes after
     * the first answer: on a loaded machine that is close to 10 s after their headers.
     * request_timeout is an absolute deadline for the body, so it is set well past that,
     * and the body rate the daemon would otherwise hold them to is off. */
    jd_daemon_config(&d, redis->port,
                     "drain_timeout = 10s\nrequest_timeout = 20s\nmin_body_rate = 0\n");
    jd_daemon_start(&d, 1);

    int64_t t_start = jd_mono_ms();
    burst_and_term(&d);
    int st = jd_daemon_wait_exit(&d, 20);
    int64_t t_exit = jd_mono_ms();
    JD_EXPECT(st >= 0, "journeyd still running 20 s after SIGTERM (drain_timeout = 10s)");
    if (st >= 0)
        JD_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "journeyd ended with %s %d after SIGTERM, want exit status 0",
                  WIFEXITED(st) ? "exit status" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    JD_EXPECT(!log_has(d.log, "drain deadline passed"),
              "journeyd hit drain_timeout: something it had in flight never finished");
    jd_note("burst to exit: %" PRId64 " ms", t_exit - t_start);

    int n200 = 0, n503 = 0, nrefused = 0, nbacklog = 0, nbad = 0;
    int running_at_term = 0, accepted_at_term = 0;
    int by_slow[3][3] = {{0}}; /* [slow][200, 503, broken] */
    for (int i = 0; i < N; i++) {
        const struct xfer *x = &xs[i];
        if (!x->done_at[SNAP_AT_TERM]) {
            running_at_term++;
            accepted_at_term += was_accepted(x);
        }
        if (x->status == 200) {
            n200++;
            by_slow[x->slow][0]++;
        } else if (x->status == 503) {
            n503++;
            by_slow[x->slow][1]++;
            JD_EXPECT(x->answer.p && strstr(x->answer.p, "\"error\""),
                      "webhook %d: 503 without a JSON error body: %.200s", i,
                      x->answer.p ? x->answer.p : "");
        } else if (x->status != 0) {
            nbad++;
            jd_error(__FILE__, __LINE__, "webhook %d: status %ld, want 200 or 503: %.200s", i,
                     x->status, x->answer.p ? x->answer.p : "");
        } else if (x->curl_code == CURLE_COULDNT_CONNECT) {
            nrefused++;
        } else if (!was_accepted(x) && (x->seen[SNAP_AT_TERM] == SEEN_BACKLOG ||
                                        x->seen[SNAP_STOPPING] == SEEN_BACKLOG)) {
            /* journeyd never accepted this connection; closing the listener reset it. */
            nbacklog++;
        } else {
            nbad++;
            by_slow[x->slow][2]++;
            if (nbad <= 10)
                jd_error(__FILE__, __LINE__,
                         "webhook %d%s: no HTTP answer (curl: %s) on a connection journeyd %s "
                         "(client port %d)",
                         i,
                         x->slow == 1   ? " (rest of its body sent at msg=stopping)"
                         : x->slow == 2 ? " (rest of its body sent 2 s after msg=stopping)"
                                        : "",
                         curl_easy_strerror((CURLcode)x->curl_code),
                         was_accepted(x) ? "had accepted before it logged msg=stopping"
                                         : "was not seen to hold in /proc/net/tcp",
                         x->client_port);
        }
    }
    jd_note("%d webhooks: %d got 200, %d got 503, %d refused at connect, %d reset while still "
            "in the accept queue, %d broken; at SIGTERM %d were running, %d of them on "
            "connections journeyd had accepted",
            N, n200, n503, nrefused, nbacklog, nbad, running_at_term, accepted_at_term);
    static const char *const kinds[3] = {"whole body at once", "rest at msg=stopping",
                                         "rest 2 s after msg=stopping"};
    for (int k = 0; k < 3; k++)
        jd_note("  %-28s 200: %3d  503: %3d  broken: %3d", kinds[k], by_slow[k][0], by_slow[k][1],
                by_slow[k][2]);
    JD_EXPECT(nbad == 0, "%d webhooks got a broken or unexpected answer", nbad);
    JD_REQUIRE(n200 > 0, "no webhook got 200: the burst did not exercise the drain");

    /* Every 200 is in Redis: restart on the same data and let the worker apply it all. */
    jd_daemon_start(&d, 1);
    long dead = jd_wait_drained(&d, 60);
    JD_EXPECT(dead == 0, "%ld dead letters after the restart", dead);
    int lost = 0;
    for (int i = 0; i < N; i++) {
        if (xs[i].status != 200)
            continue;
        char email[64], id[64];
        snprintf(email, sizeof email, "drain%04d@example.com", i);
        snprintf(id, sizeof id, "stripe:evt_drain_%04d", i);
        long hs;
        cJSON *j = jd_journey(&d, "email", email, &hs);
        int n = j ? jd_count_event(j, id) : 0;
        if (n != 1 && lost++ < 10)
            jd_error(__FILE__, __LINE__,
                     "webhook %d got 200 before the stop but is %d times in its journey "
                     "(journey status %ld)",
                     i, n, hs);
        cJSON_Delete(j);
    }
    JD_EXPECT(lost == 0, "%d of %d acknowledged webhooks are not in their journey exactly once",
              lost, n200);
    jd_daemon_stop(&d);
    for (int i = 0; i < N; i++) {
        curl_slist_free_all(xs[i].hdrs);
        free(xs[i].body);
        jd_buf_free(&xs[i].answer);
    }
}

static struct jd_daemon stuck_daemon;
static atomic_long stuck_status = -1;

static void *stuck_post(void *arg)
{
    (void)arg;
    struct jd_http h;
    jd_post_stripe(
        &stuck_daemon,
        "{\"id\":\"evt_drain_stuck\",\"object\":\"event\",\"type\":"
        "\"checkout.session.completed\",\"created\":1790000000,\"data\":{\"object\":"
        "{\"id\":\"cs_drain_stuck\",\"object\":\"checkout.session\",\"amount_total\":"
        "100,\"currency\":\"eur\",\"customer_details\":{\"email\":"
        "\"stuck@example.com\"},\"payment_intent\":\"pi_drain_stuck\",\"metadata\":{}}}}",
        &h);
    atomic_store(&stuck_status, h.status);
    jd_http_free(&h);
    jd_http_thread_done();
    return NULL;
}

/* The journeyd_ingest_inflight gauge from /metrics, or -1. */
static long inflight(const struct jd_daemon *d)
{
    struct jd_http h;
    jd_get_auth(d, "/metrics", &h);
    long v = -1;
    const char *p =
        h.status == 200 && h.body ? strstr(h.body, "\njourneyd_ingest_inflight ") : NULL;
    if (p) {
        char *end;
        v = strtol(p + strlen("\njourneyd_ingest_inflight "), &end, 10);
        if (*end != '\n')
            v = -1;
    }
    jd_http_free(&h);
    return v;
}

static void second_term(struct jd_redis *redis)
{
    /* Long Redis deadlines: the stuck XADD must outlast both stop signals. */
    jd_daemon_config(&stuck_daemon, redis->port, "drain_timeout = 30s\nredis_timeout = 60s\n");
    jd_daemon_start(&stuck_daemon, 1);
    JD_REQUIRE(kill(redis->pid, SIGSTOP) == 0, "SIGSTOP redis: %s", strerror(errno));

    pthread_t th;
    JD_REQUIRE(pthread_create(&th, NULL, stuck_post, NULL) == 0, "pthread_create failed");
    int64_t deadline = jd_mono_ms() + 15000;
    long n = -1;
    while (jd_mono_ms() < deadline && (n = inflight(&stuck_daemon)) != 1)
        jd_sleep_ms(20);
    JD_EXPECT(n == 1, "journeyd_ingest_inflight is %ld with redis stopped, want 1", n);

    jd_daemon_signal(&stuck_daemon, SIGTERM);
    jd_sleep_ms(1000);
    JD_EXPECT(jd_daemon_alive(&stuck_daemon),
              "journeyd exited within 1 s of the first SIGTERM although a webhook was in "
              "flight and drain_timeout is 30s");
    JD_EXPECT(atomic_load(&stuck_status) == -1,
              "the stuck webhook was answered (%ld) while Redis was stopped",
              atomic_load(&stuck_status));
    if (jd_daemon_alive(&stuck_daemon)) {
        jd_daemon_signal(&stuck_daemon, SIGTERM);
        int st = jd_daemon_wait_exit(&stuck_daemon, 10);
        JD_EXPECT(st >= 0, "journeyd still running 10 s after the second SIGTERM");
        if (st >= 0)
            JD_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "journeyd ended with %s %d after the second SIGTERM, want exit status 0",
                      WIFEXITED(st) ? "exit status" : "signal",
                      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        JD_EXPECT(log_has(stuck_daemon.log, "second stop signal"),
                  "no \"second stop signal\" log line");
    }
    JD_REQUIRE(kill(redis->pid, SIGCONT) == 0, "SIGCONT redis: %s", strerror(errno));
    pthread_join(th, NULL);
    jd_note("second SIGTERM: the stuck webhook's client saw status %ld (0: connection closed)",
            atomic_load(&stuck_status));
}

int main(void)
{
    jd_setup("drain", 240, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    graceful_burst(&redis);
    second_term(&redis);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
