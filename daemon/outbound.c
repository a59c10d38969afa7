/*
 * Outbound HTTP on the event loop (see outbound.h): the curl multi handle, its timer and
 * socket events, the transfers with their retries and backoff, and the queue of requests
 * waiting for a free transfer slot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"
#include "outbound.h"

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_BACKOFF };

/* One request, across its attempts. Lives on the all-transfers list from outbound_get
 * until its callback has run. */
struct out_xfer {
    struct outbound *o;
    struct out_xfer *prev, *next; /* all live transfers */
    struct out_xfer *queue_next;  /* waiting for a free slot */
    enum xfer_state state;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body; /* a POST's body (copied), NULL for a GET */
    outbound_cb cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    char *resp;
    size_t resp_len, resp_cap;
    int too_big;
    int attempt;
    int64_t retry_after_s; /* from a 429's Retry-After, -1 when absent */
    struct event *backoff;
};

/* Per socket: an event re-armed with event_assign whenever curl changes its interest. */
struct out_sock {
    struct event ev;
    int assigned;
};

struct outbound {
    struct event_base *base;
    struct outbound_config cfg;
    CURLM *multi;
    struct event *timer;
    struct event *kick; /* starts queued transfers from the loop, never inside a caller */
    struct out_xfer *all;
    struct out_xfer *queue_head, *queue_tail;
    size_t nqueued, nrunning;
    int stopping;
    struct outbound_counters n;
};

static void start_next(struct outbound *o);

static void xfer_unlink_and_free(struct out_xfer *x)
{
    struct outbound *o = x->o;
    if (x->prev)
        x->prev->next = x->next;
    else
        o->all = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    if (x->backoff)
        event_free(x->backoff);
    free(x->url);
    free(x->body);
    free(x->resp);
    free(x);
}

static void complete(struct out_xfer *x, enum outbound_result r, long status, const char *error)
{
    struct outbound *o = x->o;
    switch (r) {
    case OUTBOUND_OK:
        o->n.ok++;
        break;
    case OUTBOUND_PERMANENT:
        o->n.permanent++;
        break;
    case OUTBOUND_TRANSIENT:
        o->n.transient++;
        break;
    case OUTBOUND_REFUSED:
        o->n.refused++;
        break;
    }
    outbound_cb cb = x->cb;
    void *ud = x->ud;
    /* Detach the response and copy the error (it may point into x->errbuf) before
     * freeing, so the callback sees stable buffers. */
    char *body = x->resp;
    size_t len = x->resp_len;
    char why[CURL_ERROR_SIZE];
    snprintf(why, sizeof(why), "%s", error ? error : "");
    x->resp = NULL;
    xfer_unlink_and_free(x);
    cb(ud, r, status, body ? body : "", len, error ? why : NULL);
    free(body);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct out_xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->resp_len + n > OUTBOUND_MAX_RESPONSE) {
        x->too_big = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (x->resp_len + n + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 4096;
        while (cap < x->resp_len + n + 1)
            cap *= 2;
        char *p = realloc(x->resp, cap);
        if (!p)
            return 0;
        x->resp = p;
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, ptr, n);
    x->resp_len += n;
    x->resp[x->resp_len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct out_xfer *x = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        /* Only the delta-seconds form; an HTTP date falls back to our own backoff. */
        char tmp[32];
        size_t len = n - (sizeof(name) - 1);
        if (len >= sizeof(tmp))
            len = sizeof(tmp) - 1;
        memcpy(tmp, buf + sizeof(name) - 1, len);
        tmp[len] = '\0';
        char *end;
        long long v = strtoll(tmp, &end, 10);
        if (end != tmp && v >= 0)
            x->retry_after_s = v;
    }
    return n;
}

static int start_attempt(struct out_xfer *x)
{
    struct outbound *o = x->o;
    x->resp_len = 0;
    x->too_big = 0;
    x->retry_after_s = -1;
    x->errbuf[0] = '\0';
    x->attempt++;
    if (curl_multi_add_handle(o->multi, x->easy) != CURLM_OK)
        return -1;
    x->state = XFER_RUNNING;
    o->nrunning++;
    return 0;
}

static void on_backoff_done(evutil_socket_t fd, short what, void *arg)
{
    struct out_xfer *x = arg;
    (void)fd;
    (void)what;
    /* Back in the queue: a retry waits for a free slot like any other request. */
    x->state = XFER_QUEUED;
    x->queue_next = NULL;
    if (x->o->queue_tail)
        x->o->queue_tail->queue_next = x;
    else
        x->o->queue_head = x;
    x->o->queue_tail = x;
    x->o->nqueued++;
    start_next(x->o);
}

static int is_transient_status(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

/* One attempt ended: succeed, fail for good, or back off and try again. */
static void attempt_done(struct out_xfer *x, CURLcode res)
{
    struct outbound *o = x->o;
    long status = 0;
    (void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    o->nrunning--;
    x->state = XFER_QUEUED;
    if (x->too_big) {
        complete(x, OUTBOUND_PERMANENT, status, "response over the size limit");
        return;
    }
    if (res == CURLE_OK && status >= 200 && status < 300) {
        complete(x, OUTBOUND_OK, status, NULL);
        return;
    }
    int transient = res != CURLE_OK || is_transient_status(status);
    if (!transient) {
        complete(x, OUTBOUND_PERMANENT, status, "permanent HTTP error");
        return;
    }
    if (x->attempt >= o->cfg.max_attempts || o->stopping) {
        complete(x, OUTBOUND_TRANSIENT, status,
                 res != CURLE_OK ? (x->errbuf[0] ? x->errbuf : curl_easy_strerror(res))
                                 : "retryable HTTP error");
        return;
    }
    int64_t delay = o->cfg.backoff_ms;
    for (int i = 1; i < x->attempt && delay < o->cfg.max_backoff_ms; i++)
        delay *= 2;
    if (status == 429 && x->retry_after_s >= 0)
        delay = x->retry_after_s * 1000;
    if (delay > o->cfg.max_backoff_ms)
        delay = o->cfg.max_backoff_ms;
    o->n.retries++;
    x->state = XFER_BACKOFF;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    if (!x->backoff)
        x->backoff = evtimer_new(o->base, on_backoff_done, x);
    if (!x->backoff || evtimer_add(x->backoff, &tv) != 0)
        complete(x, OUTBOUND_TRANSIENT, status, "cannot schedule a retry");
}

/* Drains curl's completion messages; required after every curl_multi_socket_action. */
static void check_done(struct outbound *o)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(o->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct out_xfer *x = NULL;
        (void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        /* msg is invalid after remove_handle: everything needed was copied above. */
        CURLMcode mc = curl_multi_remove_handle(o->multi, easy);
        if (mc != CURLM_OK)
            jlog(JLOG_WARNING, "msg=\"curl_multi_remove_handle failed\" error=\"%s\"",
                 curl_multi_strerror(mc));
        if (x)
            attempt_done(x, res);
    }
    start_next(o);
}

static void socket_action(struct outbound *o, curl_socket_t fd, int ev_bitmask)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(o->multi, fd, ev_bitmask, &running);
    if (mc != CURLM_OK)
        jlog(JLOG_WARNING, "msg=\"curl_multi_socket_action failed\" error=\"%s\"",
             curl_multi_strerror(mc));
    check_done(o);
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    socket_action(arg, fd, action);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: follow curl's interest in a socket. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct outbound *o = userp;
    struct out_sock *sock = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sock) {
            if (sock->assigned)
                event_del(&sock->ev);
            free(sock);
            curl_multi_assign(o->multi, s, NULL);
        }
        return 0;
    }
    if (!sock) {
        sock = calloc(1, sizeof(*sock));
        if (!sock)
            return -1;
        curl_multi_assign(o->multi, s, sock);
    } else if (sock->assigned) {
        event_del(&sock->ev);
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (event_assign(&sock->ev, o->base, s, kind, on_sock_event, o) != 0 ||
        event_add(&sock->ev, NULL) != 0) {
        sock->assigned = 0;
        return -1;
    }
    sock->assigned = 1;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms our timer; never calls libcurl. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct outbound *o = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(o->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(o->timer, &tv) == 0 ? 0 : -1;
}

static void start_next(struct outbound *o)
{
    while (!o->stopping && o->queue_head && o->nrunning < o->cfg.max_transfers) {
        struct out_xfer *x = o->queue_head;
        o->queue_head = x->queue_next;
        if (!o->queue_head)
            o->queue_tail = NULL;
        o->nqueued--;
        if (start_attempt(x) != 0)
            complete(x, OUTBOUND_TRANSIENT, 0, "cannot start the transfer");
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_next(arg);
}

struct outbound *outbound_new(struct event_base *base, const struct outbound_config *cfg)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!v || !(v->features & CURL_VERSION_ASYNCHDNS)) {
        jlog(JLOG_ERROR, "msg=\"libcurl lacks asynchronous DNS; refusing to block the loop\"");
        return NULL;
    }
    struct outbound *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->base = base;
    o->cfg = *cfg;
    if (o->cfg.max_attempts < 1)
        o->cfg.max_attempts = 1;
    o->multi = curl_multi_init();
    o->timer = evtimer_new(base, on_timer, o);
    o->kick = event_new(base, -1, 0, on_kick, o);
    if (!o->multi || !o->timer || !o->kick ||
        curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o) != CURLM_OK) {
        outbound_free(o);
        return NULL;
    }
    return o;
}

void outbound_free(struct outbound *o)
{
    if (!o)
        return;
    o->stopping = 1;
    while (o->all) {
        struct out_xfer *x = o->all;
        if (x->state == XFER_RUNNING)
            (void)curl_multi_remove_handle(o->multi, x->easy);
        complete(x, OUTBOUND_REFUSED, 0, "shutting down");
    }
    if (o->multi)
        curl_multi_cleanup(o->multi);
    if (o->timer)
        event_free(o->timer);
    if (o->kick)
        event_free(o->kick);
    free(o);
}

int outbound_get(struct outbound *o, const char *url, const char *const *headers, size_t nheaders,
                 outbound_cb cb, void *ud)
{
    return outbound_post(o, url, headers, nheaders, NULL, 0, cb, ud);
}

int outbound_post(struct outbound *o, const char *url, const char *const *headers, size_t nheaders,
                  const char *body, size_t len, outbound_cb cb, void *ud)
{
    if (o->stopping || o->nqueued >= o->cfg.max_queued || len > OUTBOUND_MAX_BODY)
        return -1;
    struct out_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->o = o;
    x->cb = cb;
    x->ud = ud;
    x->url = strdup(url);
    x->easy = curl_easy_init();
    int ok = x->url && x->easy;
    if (ok && body) {
        /* Kept for every attempt: libcurl reads POSTFIELDS again on each one. */
        x->body = malloc(len ? len : 1);
        ok = x->body != NULL;
        if (ok && len)
            memcpy(x->body, body, len);
        ok = ok &&
             curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK &&
             curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body) == CURLE_OK;
    }
    for (size_t i = 0; ok && i < nheaders && i < OUTBOUND_MAX_HEADERS; i++) {
        struct curl_slist *l = curl_slist_append(x->headers, headers[i]);
        if (!l)
            ok = 0;
        else
            x->headers = l;
    }
    /* journeyd's own calls go to provider APIs over https; plain http is there for a
     * configured api_base on loopback (tests, a local proxy). Redirects are not followed. */
    ok = ok && curl_easy_setopt(x->easy, CURLOPT_URL, x->url) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)o->cfg.timeout_ms) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)o->cfg.connect_timeout_ms) ==
             CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "journeyd/0.1") == CURLE_OK;
    if (!ok) {
        if (x->easy)
            curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->headers);
        free(x->url);
        free(x->body);
        free(x);
        return -1;
    }
    x->next = o->all;
    if (o->all)
        o->all->prev = x;
    o->all = x;
    x->state = XFER_QUEUED;
    if (o->queue_tail)
        o->queue_tail->queue_next = x;
    else
        o->queue_head = x;
    o->queue_tail = x;
    o->nqueued++;
    /* Started from the loop, not here, so cb can never run before we return. */
    event_active(o->kick, 0, 0);
    return 0;
}

size_t outbound_active(const struct outbound *o)
{
    return o ? o->nrunning + o->nqueued : 0;
}

const struct outbound_counters *outbound_counters(const struct outbound *o)
{
    return &o->n;
}
