/*
 * No acknowledged webhook is lost, and none is applied twice, when journeyd is SIGKILLed
 * under load (DESIGN §8). 2,000 signed Stripe webhooks (distinct event ids and emails) go
 * out over ~200 concurrent keep-alive connections; after ~800 answers journeyd is killed
 * with SIGKILL while ~200 requests are in flight. Which requests got 200 is recorded.
 * journeyd is restarted on the same Redis, nothing is resent, and once the queue has
 * drained:
 *   - every 200'd event is in its contact's journey exactly once, with its revenue;
 *   - no event is anywhere twice (a request that got no answer may or may not have been
 *     queued before the kill; if it was, it too appears exactly once);
 *   - the raw stream, its pending list and the dead-letter stream are empty.
 */
#include "harness.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N 2000
#define CONC 200
#define KILL_AFTER 800

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    int idx;
    char *body;
};

static long status[N];  /* 0 = no answer, else the HTTP status */
static int curl_err[N]; /* CURLcode of a failed transfer */
static int answered_before_kill[N];

static char *make_body(int i)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"evt_burst_%05d\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_burst_%05d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
                  "\"currency\":\"eur\",\"customer\":\"cus_burst_%05d\",\"customer_details\":"
                  "{\"email\":\"burst%05d@example.com\"},\"payment_intent\":\"pi_burst_%05d\","
                  "\"metadata\":{}}}}",
                  i, (int64_t)1790000000 + i, i, 1000 + i, i, i, i);
    return b.p;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static void setup_xfer(struct xfer *x, const struct jd_daemon *d, int idx)
{
    char url[128], sig[256];
    x->idx = idx;
    free(x->body);
    x->body = make_body(idx);
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

/* Fires all N webhooks with CONC in flight; SIGKILLs the daemon after KILL_AFTER answers.
 * Returns the number of transfers in flight at the kill. */
static int burst(struct jd_daemon *d)
{
    CURLM *m = curl_multi_init();
    JD_REQUIRE(m, "curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)CONC);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)CONC);
    static struct xfer xs[CONC];
    int next = 0, running = 0, answered = 0, in_flight_at_kill = -1;
    for (int i = 0; i < CONC; i++) {
        xs[i].easy = curl_easy_init();
        JD_REQUIRE(xs[i].easy, "curl_easy_init failed");
        setup_xfer(&xs[i], d, next++);
        curl_multi_add_handle(m, xs[i].easy);
    }
    int active = CONC;
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
            status[x->idx] = code;
            curl_err[x->idx] = (int)res;
            answered_before_kill[x->idx] = in_flight_at_kill < 0;
            curl_multi_remove_handle(m, e);
            active--;
            if (res == CURLE_OK)
                answered++;
            if (answered == KILL_AFTER && in_flight_at_kill < 0) {
                /* The kill lands while the other transfers are mid-request. */
                kill(d->pid, SIGKILL);
                in_flight_at_kill = active;
                jd_note("SIGKILL journeyd after %d answers, %d requests in flight, %d not sent "
                        "yet",
                        answered, active, N - next);
            }
            if (next < N) {
                setup_xfer(x, d, next++);
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
    }
    curl_multi_cleanup(m);
    return in_flight_at_kill;
}

int main(void)
{
    jd_setup("sigkill_burst", 420, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    jd_daemon_start(&d, 1);

    int in_flight = burst(&d);
    JD_REQUIRE(in_flight >= 0, "journeyd was never killed: fewer than %d answers", KILL_AFTER);
    int st = jd_daemon_wait_exit(&d, 30);
    {
        /* How much work the restart inherits: unread entries and entries the dead consumer
         * had read but not acknowledged. */
        redisContext *c = jd_redis_connect(&redis);
        long long xlen = jd_redis_int(c, "XLEN jd:raw");
        redisReply *r = redisCommand(c, "XPENDING jd:raw jd");
        long long pending = -1;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
            r->element[0]->type == REDIS_REPLY_INTEGER)
            pending = r->element[0]->integer;
        if (r)
            freeReplyObject(r);
        redisFree(c);
        jd_note("after the kill: jd:raw holds %lld entries, %lld of them pending (read by the "
                "dead consumer, not acknowledged)",
                xlen, pending);
    }
    JD_EXPECT(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "journeyd did not die of SIGKILL (status 0x%x): did it exit before the kill?",
              (unsigned)st);

    int n200 = 0, n200_before = 0, n503 = 0, nother = 0, nerr = 0;
    for (int i = 0; i < N; i++) {
        if (status[i] == 200) {
            n200++;
            n200_before += answered_before_kill[i];
        } else if (status[i] == 503) {
            n503++;
        } else if (status[i] == 0) {
            nerr++;
        } else {
            nother++;
            JD_EXPECT(0, "webhook %d: unexpected status %ld", i, status[i]);
        }
    }
    jd_note("burst: %d sent, %d got 200 (%d of them read before the kill signal, the rest were "
            "already in flight back), %d got 503, %d other, %d without answer",
            N, n200, n200_before, n503, nother, nerr);
    JD_REQUIRE(n200 >= KILL_AFTER / 2,
               "only %d of the first %d answers were 200: the burst did not exercise the queue",
               n200, KILL_AFTER);

    /* Restart on the same Redis; the killed consumer's pending entries must be claimed
     * (claim_idle = 1s) and the rest read normally. */
    jd_daemon_start(&d, 1);
    long dead = jd_wait_drained(&d, 240);
    JD_EXPECT(dead == 0, "%ld dead letters after the restart", dead);

    int lost = 0, dup = 0, extra = 0, badrev = 0;
    for (int i = 0; i < N; i++) {
        char email[64], id[64];
        snprintf(email, sizeof email, "burst%05d@example.com", i);
        snprintf(id, sizeof id, "stripe:evt_burst_%05d", i);
        long hs;
        cJSON *j = jd_journey(&d, "email", email, &hs);
        int n = j ? jd_count_event(j, id) : 0;
        int nev = j ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) : 0;
        if (hs != 200 && hs != 404)
            JD_EXPECT(0, "journey of %s: status %ld", email, hs);
        if (status[i] == 200 && n != 1) {
            if (lost++ < 10)
                jd_error(__FILE__, __LINE__,
                         "webhook %d got 200 but its journey has it %d times "
                         "(journey status %ld)",
                         i, n, hs);
        }
        if (n > 1 || nev > 1) {
            if (dup++ < 10)
                jd_error(__FILE__, __LINE__, "%s: %d events, event %s %d times", email, nev, id, n);
        }
        if (status[i] != 200 && n == 1)
            extra++;
        if (n == 1) {
            int ok;
            int64_t rev = jd_json_int(jd_json_path(j, "contact.revenue.EUR"), &ok);
            if (!ok || rev != 1000 + i) {
                if (badrev++ < 10)
                    jd_error(__FILE__, __LINE__, "%s: revenue %s, want {\"EUR\":%d}", email,
                             jd_json_brief(jd_json_path(j, "contact.revenue")), 1000 + i);
            }
        }
        cJSON_Delete(j);
    }
    JD_EXPECT(lost == 0, "%d of %d acknowledged webhooks are not in their journey exactly once",
              lost, n200);
    JD_EXPECT(dup == 0, "%d journeys hold an event more than once", dup);
    JD_EXPECT(badrev == 0, "%d contacts have a wrong revenue", badrev);
    jd_note("after restart: %d of %d acknowledged webhooks applied exactly once; %d unanswered "
            "ones were queued before the kill and applied once; %d lost, %d duplicated",
            n200 - lost, n200, extra, lost, dup);

    /* Redis itself: nothing left behind, nothing dead-lettered. */
    redisContext *c = jd_redis_connect(&redis);
    long long xlen = jd_redis_int(c, "XLEN jd:raw");
    long long xdead = jd_redis_int(c, "XLEN jd:dead");
    redisReply *r = redisCommand(c, "XPENDING jd:raw jd");
    long long pending = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        pending = r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    JD_EXPECT(xlen == 0, "XLEN jd:raw is %lld after draining, want 0", xlen);
    JD_EXPECT(xdead <= 0, "XLEN jd:dead is %lld, want 0", xdead);
    JD_EXPECT(pending == 0, "XPENDING jd:raw jd reports %lld pending, want 0", pending);
    jd_note("redis: XLEN jd:raw=%lld XLEN jd:dead=%lld pending=%lld", xlen, xdead, pending);

    jd_daemon_stop(&d);
    jd_redis_kill(&redis, SIGTERM);
    return jd_finish();
}
