/*
 * A 413 the sender can read (issue 16 item 3). A body over max_body is refused as soon as
 * its Content-Length is known; the connection then lingers, reading and discarding what
 * the client is still sending, so the client reads the answer instead of a connection
 * reset (which is what closing with unread bytes in the socket gives). The refusal, and
 * any request libevent refuses on its own (a malformed request line, headers too large),
 * is the JSON error of DESIGN §7, not libevent's HTML page.
 *
 * Many 2 MiB uploads at once over loopback with libcurl's multi interface, sent as a
 * provider sends (no Expect: 100-continue, so the body is on its way when the answer
 * comes), several rounds: every one must read 413 with {"error","message"}, none a reset.
 */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UPLOADS 48
#define ROUNDS 4
#define BIG (2u * 1024 * 1024)

static struct jd_redis redis_;
static struct jd_daemon daemon_;

struct upload {
    CURL *easy;
    struct curl_slist *hdrs;
    struct jd_buf body; /* the answer */
    struct jd_buf head;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct jd_buf *b = ud;
    if (b->len + size * n <= 64 * 1024)
        jd_buf_append(b, p, size * n);
    return size * n;
}

/* A sender on a real link cannot hand the kernel its whole body at once: a small send
 * buffer keeps most of the 2 MiB in the client while the answer comes, as over the
 * internet (over loopback the whole body would otherwise sit in socket buffers). */
static int small_sndbuf(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    int size = 64 * 1024;
    (void)ud;
    if (purpose == CURLSOCKTYPE_IPCXN)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return CURL_SOCKOPT_OK;
}

/* One round of UPLOADS concurrent uploads of payload; counts the answers that were not a
 * readable JSON 413. */
static int round_of_uploads(const char *payload, size_t len, int round)
{
    struct upload up[UPLOADS];
    char url[128];
    snprintf(url, sizeof url, "%s/hooks/stripe", daemon_.base);
    CURLM *multi = curl_multi_init();
    JD_REQUIRE(multi, "curl_multi_init");
    memset(up, 0, sizeof up);
    for (int i = 0; i < UPLOADS; i++) {
        struct upload *u = &up[i];
        u->easy = curl_easy_init();
        JD_REQUIRE(u->easy, "curl_easy_init");
        /* A provider sends its body at once: no 100-continue handshake to refuse early. */
        u->hdrs = curl_slist_append(NULL, "Expect:");
        u->hdrs = curl_slist_append(u->hdrs, "Content-Type: application/json");
        curl_easy_setopt(u->easy, CURLOPT_URL, url);
        curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, u->hdrs);
        curl_easy_setopt(u->easy, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(u->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, &u->body);
        curl_easy_setopt(u->easy, CURLOPT_HEADERFUNCTION, on_body);
        curl_easy_setopt(u->easy, CURLOPT_HEADERDATA, &u->head);
        curl_easy_setopt(u->easy, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(u->easy, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(u->easy, CURLOPT_PRIVATE, u);
        curl_easy_setopt(u->easy, CURLOPT_SOCKOPTFUNCTION, small_sndbuf);
        JD_REQUIRE(curl_multi_add_handle(multi, u->easy) == CURLM_OK, "curl_multi_add_handle");
    }
    int running = 1, bad = 0, resets = 0, html = 0;
    for (int spins = 0; running && spins < 100000; spins++) {
        JD_REQUIRE(curl_multi_perform(multi, &running) == CURLM_OK, "curl_multi_perform");
        if (running)
            JD_REQUIRE(curl_multi_poll(multi, NULL, 0, 1000, NULL) == CURLM_OK, "curl_multi_poll");
    }
    JD_REQUIRE(!running, "round %d: uploads still running", round);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct upload *u;
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&u);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        struct jd_http h = {.status = status, .body = u->body.p, .len = u->body.len};
        int json = status && jd_http_is_error(&h, "payload_too_large");
        if (m->data.result != CURLE_OK || status != 413 || !json) {
            if (bad < 3)
                jd_error(__FILE__, __LINE__,
                         "round %d: a 2 MiB upload read curl %d (%s), status %ld, body %.120s",
                         round, (int)m->data.result, curl_easy_strerror(m->data.result), status,
                         u->body.p ? u->body.p : "");
            bad++;
            resets += m->data.result == CURLE_SEND_ERROR || m->data.result == CURLE_RECV_ERROR;
            html += status == 413 && !json;
        }
    }
    jd_note("round %d: %d uploads of %zu bytes, %d not a readable JSON 413 (%d resets, %d "
            "non-JSON)",
            round, UPLOADS, len, bad, resets, html);
    for (int i = 0; i < UPLOADS; i++) {
        curl_multi_remove_handle(multi, up[i].easy);
        curl_easy_cleanup(up[i].easy);
        curl_slist_free_all(up[i].hdrs);
        jd_buf_free(&up[i].body);
        jd_buf_free(&up[i].head);
    }
    curl_multi_cleanup(multi);
    return bad;
}

/* A client that sends its whole request before it reads (as many HTTP libraries do), then
 * reads the answer until the daemon closes (bounded by SO_RCVTIMEO), NUL-terminated in out.
 * Returns 0 when every byte was sent, -1 when sending failed: the connection was reset
 * under a client still sending. */
static int raw_exchange(const char *what, const char *req, size_t len, char *out, size_t cap)
{
    int fd = jd_daemon_connect(&daemon_), rc = 0;
    struct timeval tv = {10, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* As small_sndbuf: the body cannot all sit in the kernel before the answer comes. */
    int size = 64 * 1024;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    for (size_t off = 0; off < len;) {
        ssize_t k = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (k <= 0) {
            rc = -1;
            jd_note("%s: send failed after %zu of %zu bytes: %s", what, off, len,
                    k < 0 ? strerror(errno) : "closed");
            break;
        }
        off += (size_t)k;
    }
    size_t n = 0;
    for (;;) {
        ssize_t k = recv(fd, out + n, cap - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n + 1 >= cap)
            break;
    }
    out[n] = '\0';
    close(fd);
    jd_note("%-32s -> %.40s", what, out);
    return rc;
}

/* The answer is status with a JSON error body of DESIGN §7. */
static void expect_json_answer(const char *what, const char *ans, int status)
{
    char line[32];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    JD_EXPECT(strncmp(ans, line, strlen(line)) == 0, "%s: want %d, got %.80s", what, status, ans);
    JD_EXPECT(strstr(ans, "Content-Type: application/json\r\n") != NULL,
              "%s: want Content-Type: application/json, got %.300s", what, ans);
    const char *body = strstr(ans, "\r\n\r\n");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", body ? body + 4 : "");
    struct jd_http h = {.status = status, .body = copy, .len = strlen(copy)};
    JD_EXPECT(body && jd_http_is_error(&h, NULL), "%s: want a JSON error body, got %.300s", what,
              body ? body + 4 : ans);
}

int main(void)
{
    jd_setup("test_readable_413", 300, 1);
    jd_redis_start(&redis_, NULL, 0);
    jd_daemon_config(&daemon_, redis_.port, NULL);
    jd_daemon_start(&daemon_, 1);

    /* A body that would be a valid Stripe event, padded: only its size is wrong. */
    struct jd_buf big = {0};
    jd_buf_printf(&big, "{\"id\":\"evt_413\",\"object\":\"event\",\"type\":\"ping\",\"pad\":\"");
    while (big.len < BIG)
        jd_buf_append(&big, "abcdefghijklmnopqrstuvwxyz012345", 32);
    jd_buf_printf(&big, "\"}");

    int bad = 0;
    for (int r = 0; r < ROUNDS; r++)
        bad += round_of_uploads(big.p, big.len, r);
    JD_EXPECT(bad == 0, "%d of %d uploads of 2 MiB did not read a JSON 413", bad, UPLOADS * ROUNDS);

    /* Clients that send everything before they read: each one is still sending long after
     * the 413 was written, so closing at once resets every one of them. */
    {
        struct jd_buf req = {0};
        jd_buf_printf(&req,
                      "POST /hooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      big.len);
        jd_buf_append(&req, big.p, big.len);
        int resets = 0;
        for (int i = 0; i < 8; i++) {
            char ans[4096];
            resets += raw_exchange("2 MiB body, sent before reading", req.p, req.len, ans,
                                   sizeof ans) != 0;
            expect_json_answer("2 MiB body, sent before reading", ans, 413);
        }
        JD_EXPECT(resets == 0, "%d of 8 clients sending a 2 MiB body were reset", resets);
        jd_buf_free(&req);
    }
    /* Malformed requests libevent refuses before any handler sees them. */
    {
        char ans[4096];
        static const char garbage[] = "GARBAGE\r\n\r\n";
        (void)raw_exchange("malformed request line", garbage, sizeof garbage - 1, ans, sizeof ans);
        expect_json_answer("malformed request line", ans, 400);
        static const char badhdr[] = "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n";
        (void)raw_exchange("malformed header line", badhdr, sizeof badhdr - 1, ans, sizeof ans);
        expect_json_answer("malformed header line", ans, 400);
    }
    jd_buf_free(&big);

    /* Still healthy and answering. */
    JD_EXPECT(jd_get_status(&daemon_, "/healthz") == 200, "healthz after the uploads");
    jd_daemon_stop(&daemon_);
    jd_redis_kill(&redis_, SIGKILL);
    return jd_finish();
}
