/*
 * Outbound HTTP on the event loop (see outbound.h): the curl multi handle, its timer and
 * socket events, the transfers with their retries and backoff, and the queue of requests
 * waiting for a free transfer slot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/rand.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"
#include "outbound.h"

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_BACKOFF };

/* One request, across its attempts. Lives on the all-transfers list from xfer_queue until
 * its callback has run. */
struct out_xfer {
    struct outbound *o;
    struct out_xfer *prev, *next; /* all live transfers */
    struct out_xfer *queue_next;  /* waiting for a free slot */
    enum xfer_state state;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body; /* the request's body (copied, NUL-terminated), NULL for none */
    outbound_cb cb;
    outbound_req_cb rcb; /* instead of cb, for outbound_request */
    void *ud;
    int public_only, blocked, max_attempts;
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
    outbound_req_cb rcb = x->rcb;
    void *ud = x->ud;
    int64_t retry_after_s = x->retry_after_s;
    int blocked = x->blocked;
    /* Detach the response and copy the error (it may point into x->errbuf) before
     * freeing, so the callback sees stable buffers. */
    char *body = x->resp;
    size_t len = x->resp_len;
    char why[CURL_ERROR_SIZE];
    snprintf(why, sizeof(why), "%s", error ? error : "");
    x->resp = NULL;
    xfer_unlink_and_free(x);
    if (rcb) {
        struct outbound_answer a = {.result = r,
                                    .status = status,
                                    .body = body ? body : "",
                                    .len = len,
                                    .error = error ? why : NULL,
                                    .retry_after_s = retry_after_s,
                                    .blocked = blocked};
        rcb(ud, &a);
    } else {
        cb(ud, r, status, body ? body : "", len, error ? why : NULL);
    }
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
    if (x->blocked) {
        complete(x, OUTBOUND_PERMANENT, 0, "address not allowed (private, loopback or link-local)");
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
    if (x->attempt >= (x->max_attempts ? x->max_attempts : o->cfg.max_attempts) || o->stopping) {
        complete(x, OUTBOUND_TRANSIENT, status,
                 res != CURLE_OK ? (x->errbuf[0] ? x->errbuf : curl_easy_strerror(res))
                                 : "retryable HTTP error");
        return;
    }
    int64_t delay = o->cfg.backoff_ms;
    for (int i = 1; i < x->attempt && delay < o->cfg.max_backoff_ms; i++)
        delay *= 2;
    /* Jitter (half to all of the delay), so callers that failed together do not come
     * back together. */
    unsigned char r = 0;
    (void)RAND_bytes(&r, 1);
    delay = delay / 2 + (delay / 2) * r / 255;
    if ((status == 429 || status == 503) && x->retry_after_s >= 0)
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

int outbound_addr_public(const struct sockaddr *addr, size_t len)
{
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        uint32_t a = ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr);
        static const struct {
            uint32_t net, mask;
        } bad[] = {
            {0x00000000, 0xff000000}, /* 0/8 "this network" */
            {0x0a000000, 0xff000000}, /* 10/8 */
            {0x64400000, 0xffc00000}, /* 100.64/10 CGNAT */
            {0x7f000000, 0xff000000}, /* 127/8 loopback */
            {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local (cloud metadata) */
            {0xac100000, 0xfff00000}, /* 172.16/12 */
            {0xc0000000, 0xffffff00}, /* 192.0.0/24 */
            {0xc0000200, 0xffffff00}, /* 192.0.2/24 documentation */
            {0xc0a80000, 0xffff0000}, /* 192.168/16 */
            {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
            {0xc6336400, 0xffffff00}, /* 198.51.100/24 documentation */
            {0xcb007100, 0xffffff00}, /* 203.0.113/24 documentation */
            {0xe0000000, 0xe0000000}, /* 224/4 multicast, 240/4 reserved, broadcast */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if ((a & bad[i].mask) == bad[i].net)
                return 0;
        return 1;
    }
    if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const unsigned char *b = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const unsigned char zero[15] = {0};
        if (memcmp(b, mapped, 12) == 0) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, b + 12, 4);
            return outbound_addr_public((const struct sockaddr *)&v4, sizeof(v4));
        }
        if (memcmp(b, zero, 15) == 0) /* :: and ::1 */
            return 0;
        if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
            return 0;
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
            return 0;
        if (b[0] == 0xff) /* multicast */
            return 0;
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 */
            return 0;
        if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) /* NAT64 64:ff9b::/96 */
            return 0;
        return 1;
    }
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: the SSRF guard sees the address curl resolved, so a public
 * name that resolves to a private address (DNS rebinding included) is refused. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    struct out_xfer *x = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    if (x->public_only && !outbound_addr_public(&address->addr, address->addrlen)) {
        x->blocked = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* Queues one transfer of req; exactly one of cb (look-ups: outbound_get, outbound_post) and
 * rcb (the outbox: outbound_request) is set. */
static int xfer_queue(struct outbound *o, const struct outbound_req *req, outbound_cb cb,
                      outbound_req_cb rcb, void *ud)
{
    if (o->stopping || o->nqueued >= o->cfg.max_queued)
        return -1;
    struct out_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->o = o;
    x->cb = cb;
    x->rcb = rcb;
    x->ud = ud;
    x->public_only = req->public_only;
    x->max_attempts = req->max_attempts;
    x->url = strdup(req->url);
    x->easy = curl_easy_init();
    int ok = x->url && x->easy;
    if (ok && req->body) {
        x->body = malloc(req->len + 1);
        ok = x->body != NULL;
        if (ok) {
            memcpy(x->body, req->body, req->len);
            x->body[req->len] = '\0';
        }
    }
    /* No "Expect: 100-continue": it would hold a body over 1 KiB back for a second. */
    if (ok) {
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");
        ok = l != NULL;
        x->headers = l;
    }
    for (size_t i = 0; ok && i < req->nheaders && i < OUTBOUND_MAX_HEADERS; i++) {
        struct curl_slist *l = curl_slist_append(x->headers, req->headers[i]);
        if (!l)
            ok = 0;
        else
            x->headers = l;
    }
    /* Redirects are never followed: a 3xx is an answer (permanent), so a receiver cannot
     * bounce us to an address the guard would refuse. */
    ok = ok && curl_easy_setopt(x->easy, CURLOPT_URL, x->url) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK &&
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
         curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR,
                          req->public_only ? "https" : "http,https") == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x) == CURLE_OK &&
         curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "journeyd/0.1") == CURLE_OK;
    if (ok && req->public_only)
        /* A proxy would be the address checked, not the receiver's. */
        ok = curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*") == CURLE_OK;
    if (ok && x->body)
        ok = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body) == CURLE_OK &&
             curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len) ==
                 CURLE_OK;
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
    event_active(o->kick, 0, 0);
    return 0;
}

int outbound_request(struct outbound *o, const struct outbound_req *req, outbound_req_cb cb,
                     void *ud)
{
    return xfer_queue(o, req, NULL, cb, ud);
}

int outbound_post(struct outbound *o, const char *url, const char *const *headers, size_t nheaders,
                  const char *body, size_t len, outbound_cb cb, void *ud)
{
    /* journeyd's own calls go to provider APIs over https; plain http is there for a
     * configured api_base on loopback (tests, a local proxy). */
    const struct outbound_req req = {.method = body ? "POST" : "GET",
                                     .url = url,
                                     .headers = headers,
                                     .nheaders = nheaders,
                                     .body = body,
                                     .len = len};
    if (len > OUTBOUND_MAX_BODY)
        return -1;
    return xfer_queue(o, &req, cb, NULL, ud);
}

size_t outbound_active(const struct outbound *o)
{
    return o ? o->nrunning + o->nqueued : 0;
}

const struct outbound_counters *outbound_counters(const struct outbound *o)
{
    return &o->n;
}
