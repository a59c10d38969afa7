/*
 * No acknowledged webhook is lost, and none is applied twice, when journeyd dies under load
 * (DESIGN §8).
 *
 * Phase 1 (the scenario of the issue): 2,000 signed Stripe webhooks (distinct event ids and
 * emails) go out over ~200 concurrent keep-alive connections; after 800 answers journeyd is
 * killed with SIGKILL while ~200 requests are in flight. Which requests got 200 is
 * recorded. journeyd is restarted on the same Redis, nothing is resent, and once the queue
 * has drained:
 *   - every 200'd event is in its contact's journey exactly once, with its revenue;
 *   - no event is anywhere twice (a request that got no answer may or may not have been
 *     queued before the kill; if it was, it too appears exactly once);
 *   - the raw stream, its pending list and the dead-letter stream are empty.
 *
 * Phase 2 (the worker's side of the same guarantee): an ingest-only journeyd queues 1,500
 * webhooks without applying them; a full journeyd then starts draining and is SIGKILLed
 * part-way, with entries read but not acknowledged; a restart must apply every one exactly
 * once (the killed consumer's pending entries are claimed after claim_idle = 1s).
 *
 * Phase 3 (graceful stop): the same burst with SIGTERM instead of SIGKILL: journeyd must
 * exit 0, and again every 200 is applied exactly once.
 */
#include "harness.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAXN 2000
#define CONC 200

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    int idx;
    char *body;
};

/* One burst: n webhooks named <prefix>_<i>, a signal after kill_after answers. */
struct burst {
    const char *prefix;
    int n;
    int kill_after; /* 0 = no signal */
    int sig;
    long status[MAXN]; /* 0 = no answer, else the HTTP status */
    int curl_err[MAXN];
    int read_before_signal[MAXN];
    int in_flight_at_signal; /* -1 = no signal sent */
};

static char *make_body(const char *prefix, int i)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"evt_%s_%05d\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_%s_%05d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
                  "\"currency\":\"eur\",\"customer\":\"cus_%s_%05d\",\"customer_details\":"
                  "{\"email\":\"%s%05d@example.com\"},\"payment_intent\":\"pi_%s_%05d\","
                  "\"metadata\":{}}}}",
                  prefix, i, (int64_t)1790000000 + i, prefix, i, 1000 + i, prefix, i, prefix, i,
                  prefix, i);
    return b.p;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static void setup_xfer(struct xfer *x, const struct jd_daemon *d, const char *prefix, int idx)
{
    char url[128], sig[256];
    x->idx = idx;
    free(x->body);
    x->body = make_body(prefix, idx);
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), x->body, strlen(x->body));
    x->hdrs = curl_slist_append(x->hdrs, sig);
    x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json; charset=utf-8");
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    snprintf(url, sizeof url, "%s/hooks/stripe", d->base);
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
}

/* Fires b->n webhooks with CONC in flight (the hiperfifo shape, with curl_multi_poll). */
static void run_burst(struct jd_daemon *d, struct burst *b)
{
    CURLM *m = curl_multi_init();
    JD_REQUIRE(m, "curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)CONC);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)CONC);
    static struct xfer xs[CONC];
    int next = 0, running = 0, answered = 0;
    b->in_flight_at_signal = -1;
    int active = 0;
    for (int i = 0; i < CONC && next < b->n; i++) {
        xs[i].easy = curl_easy_init();
        JD_REQUIRE(xs[i].easy, "curl_easy_init failed");
        setup_xfer(&xs[i], d, b->prefix, next++);
        curl_multi_add_handle(m, xs[i].easy);
        active++;
    }
    while (active > 0) {
        CURLMcode mc = curl_multi_perform(m, &running);
        JD_REQUIRE(mc == CURLM_OK, "curl_multi_perform: %s", curl_multi_strerror(mc));
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode res = msg->data.result;
            struct xfer *x = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
            long code = 0;
            if (res == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            b->status[x->idx] = code;
            b->curl_err[x->idx] = (int)res;
            b->read_before_signal[x->idx] = b->in_flight_at_signal < 0;
            curl_multi_remove_handle(m, e);
            active--;
            if (res == CURLE_OK)
                answered++;
            if (b->kill_after > 0 && answered == b->kill_after && b->in_flight_at_signal < 0) {
                /* The signal lands while the other transfers are mid-request. */
                kill(d->pid, b->sig);
                b->in_flight_at_signal = active;
                jd_note("%s: signal %d to journeyd after %d answers, %d requests in flight, %d "
                        "not sent yet",
                        b->prefix, b->sig, answered, active, b->n - next);
            }
            if (next < b->n) {
                setup_xfer(x, d, b->prefix, next++);
                curl_multi_add_handle(m, e);
                active++;
            }
        }
        if (active > 0) {
            mc = curl_multi_poll(m, NULL, 0, 100, NULL);
            JD_REQUIRE(mc == CURLM_OK, "curl_multi_poll: %s", curl_multi_strerror(mc));
        }
    }
    for (int i = 0; i < CONC; i++) {
        curl_easy_cleanup(xs[i].easy);
        curl_slist_free_all(xs[i].hdrs);
        free(xs[i].body);
        xs[i].easy = NULL;
        xs[i].hdrs = NULL;
        xs[i].body = NULL;
    }
    curl_multi_cleanup(m);
}

/* Returns the number of 200 answers; reports the distribution. */
static int summarize(const struct burst *b)
{
    int n200 = 0, n200_before = 0, n503 = 0, nother = 0, nerr = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->status[i] == 200) {
            n200++;
            n200_before += b->read_before_signal[i];
        } else if (b->status[i] == 503) {
            n503++;
        } else if (b->status[i] == 0) {
            nerr++;
        } else {
            if (nother++ < 5)
                jd_error(__FILE__, __LINE__, "%s webhook %d: unexpected status %ld", b->prefix, i,
                         b->status[i]);
        }
    }
    jd_note("%s: %d sent, %d got 200 (%d read before the signal, the rest were already on "
            "their way back), %d got 503, %d other, %d without answer",
            b->prefix, b->n, n200, n200_before, n503, nother, nerr);
    return n200;
}

static void redis_counts(const struct jd_redis *redis, long long *xlen, long long *pending,
                         long long *dead)
{
    redisContext *c = jd_redis_connect(redis);
    *xlen = jd_redis_int(c, "XLEN jd:raw");
    *dead = jd_redis_int(c, "XLEN jd:dead");
    *pending = jd_redis_pending(c);
    redisFree(c);
}

/* Every 200 exactly once, nothing twice, revenue once; returns the number lost. */
static int check_applied(const struct jd_daemon *d, const struct burst *b, int all_must_exist)
{
    int lost = 0, dup = 0, extra = 0, badrev = 0, n200 = 0;
    for (int i = 0; i < b->n; i++) {
        char email[64], id[64];
        snprintf(email, sizeof email, "%s%05d@example.com", b->prefix, i);
        snprintf(id, sizeof id, "stripe:evt_%s_%05d", b->prefix, i);
        long hs;
        cJSON *j = jd_journey(d, "email", email, &hs);
        int n = j ? jd_count_event(j, id) : 0;
        int nev = j ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) : 0;
        JD_EXPECT(hs == 200 || hs == 404, "journey of %s: status %ld", email, hs);
        int must = b->status[i] == 200 || all_must_exist;
        n200 += b->status[i] == 200;
        if (must && n != 1 && lost++ < 10)
            jd_error(__FILE__, __LINE__,
                     "%s webhook %d (answer %ld) is in its journey %d times, want once "
                     "(journey status %ld)",
                     b->prefix, i, b->status[i], n, hs);
        if ((n > 1 || nev > 1) && dup++ < 10)
            jd_error(__FILE__, __LINE__, "%s: %d events, event %s %d times", email, nev, id, n);
        if (b->status[i] != 200 && n == 1)
            extra++;
        if (n == 1) {
            int ok;
            int64_t rev = jd_json_int(jd_json_path(j, "contact.revenue.EUR"), &ok);
            if ((!ok || rev != 1000 + i) && badrev++ < 10)
                jd_error(__FILE__, __LINE__, "%s: revenue %s, want {\"EUR\":%d}", email,
                         jd_json_brief(jd_json_path(j, "contact.revenue")), 1000 + i);
        }
        cJSON_Delete(j);
    }
    JD_EXPECT(lost == 0, "%s: %d webhooks that must be applied are not in their journey once",
              b->prefix, lost);
    JD_EXPECT(dup == 0, "%s: %d journeys hold an event more than once", b->prefix, dup);
    JD_EXPECT(badrev == 0, "%s: %d contacts have a wrong revenue", b->prefix, badrev);
    jd_note("%s: %d of %d acknowledged webhooks applied exactly once; %d unanswered ones had "
            "been queued and were applied once; %d lost, %d duplicated",
            b->prefix, n200 - (all_must_exist ? 0 : lost), n200, extra, lost, dup);
    return lost;
}

static void expect_redis_clean(const struct jd_redis *redis, const char *when)
{
    long long xlen, pending, dead;
    redis_counts(redis, &xlen, &pending, &dead);
    JD_EXPECT(xlen == 0, "%s: XLEN jd:raw is %lld after draining, want 0", when, xlen);
    JD_EXPECT(dead <= 0, "%s: XLEN jd:dead is %lld, want 0", when, dead);
    JD_EXPECT(pending == 0, "%s: XPENDING jd:raw jd reports %lld pending, want 0", when, pending);
    jd_note("%s: redis XLEN jd:raw=%lld XLEN jd:dead=%lld pending=%lld", when, xlen, dead, pending);
}

static struct burst b1, b2, b3;

int main(void)
{
    jd_setup("sigkill_burst", 480, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    /* ---- Phase 1: SIGKILL in the middle of a 2,000-webhook burst ---- */
    b1.prefix = "burst";
    b1.n = 2000;
    b1.kill_after = 800;
    b1.sig = SIGKILL;
    run_burst(&d, &b1);
    JD_REQUIRE(b1.in_flight_at_signal >= 0, "journeyd was never killed: fewer than %d answers",
               b1.kill_after);
    int st = jd_daemon_wait_exit(&d, 30);
    JD_EXPECT(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "journeyd did not die of SIGKILL (status 0x%x): did it exit before the kill?",
              (unsigned)st);
    long long xlen, pending, dead;
    redis_counts(&redis, &xlen, &pending, &dead);
    jd_note("burst: after the kill jd:raw holds %lld entries, %lld of them pending (read by the "
            "dead consumer, not acknowledged)",
            xlen, pending);
    int n200 = summarize(&b1);
    JD_REQUIRE(n200 >= b1.kill_after / 2,
               "only %d of the first %d answers were 200: the burst did not exercise the queue",
               n200, b1.kill_after);

    /* Restart on the same Redis; nothing is resent. */
    jd_daemon_start(&d, 1);
    long ndead = jd_wait_drained(&d, 240);
    JD_EXPECT(ndead == 0, "burst: %ld dead letters after the restart", ndead);
    check_applied(&d, &b1, 0);
    expect_redis_clean(&redis, "burst");
    jd_daemon_stop(&d);

    /* ---- Phase 2: the worker SIGKILLed part-way through a backlog ---- */
    struct jd_daemon ingest;
    jd_daemon_config(&ingest, redis.port, "roles = ingest,api\n");
    jd_daemon_start(&ingest, 1);
    b2.prefix = "backlog";
    b2.n = 1500;
    run_burst(&ingest, &b2);
    n200 = summarize(&b2);
    JD_EXPECT(n200 == b2.n, "backlog: %d of %d webhooks got 200 from an idle ingest-only daemon",
              n200, b2.n);
    jd_daemon_stop(&ingest);
    redis_counts(&redis, &xlen, &pending, &dead);
    jd_note("backlog: queued %lld entries with no worker running", xlen);
    JD_EXPECT(xlen >= n200, "backlog: jd:raw holds %lld entries after %d acknowledged webhooks",
              xlen, n200);

    jd_daemon_start(&d, 0);
    redisContext *c = jd_redis_connect(&redis);
    long long start_len = xlen, now_len = xlen;
    int64_t deadline = jd_mono_ms() + 120000;
    /* Kill once about a third of the backlog is applied: entries are then in every state
     * (applied, read but not acknowledged, unread). */
    while (now_len > start_len * 2 / 3 && now_len > 0 && jd_mono_ms() < deadline &&
           jd_daemon_alive(&d)) {
        long long v = jd_redis_int(c, "XLEN jd:raw");
        if (v >= 0)
            now_len = v;
        jd_sleep_ms(2);
    }
    redisFree(c);
    JD_REQUIRE(jd_daemon_alive(&d), "journeyd exited while draining the backlog");
    kill(d.pid, SIGKILL);
    st = jd_daemon_wait_exit(&d, 30);
    JD_EXPECT(st >= 0 && WIFSIGNALED(st), "draining journeyd did not die of SIGKILL");
    redis_counts(&redis, &xlen, &pending, &dead);
    jd_note("backlog: worker SIGKILLed with %lld of %lld entries left, %lld pending", xlen,
            start_len, pending);
    if (xlen == 0)
        jd_note("NOTE backlog: the worker drained everything before the kill; the crash-in-"
                "the-middle case was not exercised this time");
    jd_daemon_start(&d, 1);
    ndead = jd_wait_drained(&d, 240);
    JD_EXPECT(ndead == 0, "backlog: %ld dead letters", ndead);
    check_applied(&d, &b2, 1);
    expect_redis_clean(&redis, "backlog");

    /* ---- Phase 3: SIGTERM in the middle of a burst ---- */
    b3.prefix = "term";
    b3.n = 1200;
    b3.kill_after = 300;
    b3.sig = SIGTERM;
    run_burst(&d, &b3);
    st = jd_daemon_wait_exit(&d, 60);
    JD_EXPECT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "journeyd under load: want exit 0 after SIGTERM, got status 0x%x", (unsigned)st);
    if (st < 0) {
        kill(d.pid, SIGKILL);
        jd_daemon_wait_exit(&d, 30);
    }
    summarize(&b3);
    jd_daemon_start(&d, 1);
    ndead = jd_wait_drained(&d, 240);
    JD_EXPECT(ndead == 0, "term: %ld dead letters", ndead);
    check_applied(&d, &b3, 0);
    expect_redis_clean(&redis, "term");

    jd_daemon_stop(&d);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
