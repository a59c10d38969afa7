#include "fake_api.h"

#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#define FA_MAX_ROUTES 64
#define FA_MAX_REPLIES 16
#define FA_MAX_CONNS 512
#define FA_HEAD_MAX 16384
#define FA_BODY_MAX (1024 * 1024)

struct fa_reply {
    int status;
    char *headers;
    char *body;
    int delay_ms;
};

struct fa_route {
    char method[16]; /* "" = any */
    char *target;
    enum fake_match match;
    struct fa_reply replies[FA_MAX_REPLIES];
    size_t nreplies;
    size_t hits;   /* requests matched */
    size_t served; /* requests matched since the replies were last cleared */
};

struct fa_conn {
    pthread_t th;
    int fd; /* -1 once the thread closed it */
    int used, done;
    struct fake_api *fa;
};

struct fake_api {
    int listen_fd;
    int port;
    char base[64];
    pthread_t accept_th;
    atomic_int stopping;
    pthread_mutex_t mu;
    struct fa_route routes[FA_MAX_ROUTES];
    int nroutes;
    struct fake_request *reqs;
    size_t nreqs, capreqs;
    int in_flight, max_in_flight;
    struct fa_conn conns[FA_MAX_CONNS];
};

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (!p)
        jd_fatal(__FILE__, __LINE__, "fake_api: out of memory");
    memcpy(p, s, n + 1);
    return p;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* ---- route table ---- */

/* Called with the lock held. Returns the route index or -1. */
static int match_route(struct fake_api *fa, const char *method, const char *target)
{
    int best = -1;
    size_t best_len = 0;
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        for (int i = 0; i < fa->nroutes; i++) {
            const struct fa_route *r = &fa->routes[i];
            if (r->method[0] && strcmp(r->method, method) != 0)
                continue;
            size_t n = strlen(r->target);
            if (pass == 0 && r->match == FAKE_EXACT && strcmp(target, r->target) == 0)
                return i;
            if (pass == 1 && r->match == FAKE_PREFIX && strncmp(target, r->target, n) == 0 &&
                (best < 0 || n > best_len)) {
                best = i;
                best_len = n;
            }
        }
    }
    return best;
}

int fake_api_route(struct fake_api *fa, const char *method, const char *target,
                   enum fake_match match)
{
    pthread_mutex_lock(&fa->mu);
    if (fa->nroutes >= FA_MAX_ROUTES) {
        pthread_mutex_unlock(&fa->mu);
        jd_fatal(__FILE__, __LINE__, "fake_api: more than %d routes", FA_MAX_ROUTES);
    }
    int i = fa->nroutes++;
    struct fa_route *r = &fa->routes[i];
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method ? method : "");
    r->target = dup_or_null(target);
    r->match = match;
    pthread_mutex_unlock(&fa->mu);
    return i;
}

void fake_api_reply(struct fake_api *fa, int route, int status, const char *headers,
                    const char *body, int delay_ms)
{
    pthread_mutex_lock(&fa->mu);
    if (route < 0 || route >= fa->nroutes || fa->routes[route].nreplies >= FA_MAX_REPLIES) {
        pthread_mutex_unlock(&fa->mu);
        jd_fatal(__FILE__, __LINE__, "fake_api: bad route %d or too many replies", route);
    }
    struct fa_route *r = &fa->routes[route];
    struct fa_reply *rep = &r->replies[r->nreplies++];
    rep->status = status;
    rep->headers = dup_or_null(headers);
    rep->body = dup_or_null(body ? body : "");
    rep->delay_ms = delay_ms;
    pthread_mutex_unlock(&fa->mu);
}

static void free_replies(struct fa_route *r)
{
    for (size_t k = 0; k < r->nreplies; k++) {
        free(r->replies[k].headers);
        free(r->replies[k].body);
    }
    r->nreplies = 0;
}

void fake_api_clear_replies(struct fake_api *fa, int route)
{
    pthread_mutex_lock(&fa->mu);
    if (route >= 0 && route < fa->nroutes) {
        free_replies(&fa->routes[route]);
        fa->routes[route].served = 0;
    }
    pthread_mutex_unlock(&fa->mu);
}

size_t fake_api_hits(struct fake_api *fa, int route)
{
    pthread_mutex_lock(&fa->mu);
    size_t n = route >= 0 && route < fa->nroutes ? fa->routes[route].hits : 0;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

size_t fake_api_nrequests(struct fake_api *fa)
{
    pthread_mutex_lock(&fa->mu);
    size_t n = fa->nreqs;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

int fake_api_request(struct fake_api *fa, size_t i, struct fake_request *out)
{
    int rc = -1;
    pthread_mutex_lock(&fa->mu);
    if (i < fa->nreqs) {
        *out = fa->reqs[i];
        rc = 0;
    }
    pthread_mutex_unlock(&fa->mu);
    return rc;
}

size_t fake_api_count(struct fake_api *fa, const char *method, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    pthread_mutex_lock(&fa->mu);
    for (size_t i = 0; i < fa->nreqs; i++)
        if ((!method || strcmp(method, fa->reqs[i].method) == 0) &&
            strncmp(fa->reqs[i].target, prefix, plen) == 0)
            n++;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

int fake_api_max_concurrent(struct fake_api *fa)
{
    pthread_mutex_lock(&fa->mu);
    int n = fa->max_in_flight;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

int fake_api_in_flight(struct fake_api *fa)
{
    pthread_mutex_lock(&fa->mu);
    int n = fa->in_flight;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

void fake_api_reset_max_concurrent(struct fake_api *fa)
{
    pthread_mutex_lock(&fa->mu);
    fa->max_in_flight = fa->in_flight;
    pthread_mutex_unlock(&fa->mu);
}

int fake_api_port(const struct fake_api *fa)
{
    return fa->port;
}

const char *fake_api_base(const struct fake_api *fa)
{
    return fa->base;
}

const char *fake_request_header(const struct fake_request *r, const char *name, char *out,
                                size_t outlen)
{
    return jd_header_value(r->headers, name, out, outlen);
}

/* ---- serving ---- */

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Waits until the deadline; returns 0, or -1 when the client closed the connection or the
 * server is stopping. */
static int wait_delay(struct fake_api *fa, int fd, int delay_ms)
{
    int64_t deadline = jd_mono_ms() + delay_ms;
    for (;;) {
        if (atomic_load(&fa->stopping))
            return -1;
        int64_t left = deadline - jd_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)(left < 20 ? left : 20));
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr > 0) {
            if (p.revents & (POLLHUP | POLLERR))
                return -1;
            char c;
            ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (r == 0)
                return -1;
            if (r > 0)
                jd_sleep_ms(left < 20 ? left : 20); /* a pipelined request: just wait */
        }
    }
}

/* Finds "\r\n\r\n" in buf[0..len); returns the offset after it or 0. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n')
            return i + 1;
    return 0;
}

static int header_value(const char *headers, const char *name, char *out, size_t outlen)
{
    struct fake_request tmp;
    snprintf(tmp.headers, sizeof tmp.headers, "%s", headers);
    return fake_request_header(&tmp, name, out, outlen) ? 0 : -1;
}

/* 1 when one of the "\r\n"-separated lines starts with name (case-insensitive). */
static int has_line(const char *lines, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = lines; *p;) {
        if (strncasecmp(p, name, n) == 0)
            return 1;
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        p = eol + 2;
    }
    return 0;
}

/* Records the request, picks the reply. Returns the index of the record. */
static size_t record(struct fake_api *fa, const char *method, const char *target,
                     const char *headers, const char *body, size_t body_len, struct fa_reply *reply,
                     int *found)
{
    pthread_mutex_lock(&fa->mu);
    if (fa->nreqs == fa->capreqs) {
        size_t cap = fa->capreqs ? fa->capreqs * 2 : 64;
        struct fake_request *p = realloc(fa->reqs, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&fa->mu);
            jd_fatal(__FILE__, __LINE__, "fake_api: out of memory");
        }
        fa->reqs = p;
        fa->capreqs = cap;
    }
    size_t idx = fa->nreqs++;
    struct fake_request *r = &fa->reqs[idx];
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->target, sizeof r->target, "%s", target);
    snprintf(r->headers, sizeof r->headers, "%s", headers);
    r->body_len = body_len;
    memcpy(r->body, body, body_len < sizeof r->body ? body_len : sizeof r->body - 1);
    r->at_ms = jd_mono_ms();
    r->route = match_route(fa, method, target);
    *found = 0;
    if (r->route >= 0) {
        struct fa_route *rt = &fa->routes[r->route];
        rt->hits++;
        if (rt->nreplies > 0) {
            size_t k = rt->served < rt->nreplies ? rt->served : rt->nreplies - 1;
            /* Copied so that a concurrent clear cannot free what we are sending. */
            reply->status = rt->replies[k].status;
            reply->headers = dup_or_null(rt->replies[k].headers);
            reply->body = dup_or_null(rt->replies[k].body);
            reply->delay_ms = rt->replies[k].delay_ms;
            *found = 1;
        }
        rt->served++;
    }
    fa->in_flight++;
    if (fa->in_flight > fa->max_in_flight)
        fa->max_in_flight = fa->in_flight;
    pthread_mutex_unlock(&fa->mu);
    return idx;
}

static void finish(struct fake_api *fa, size_t idx, int status, int aborted)
{
    pthread_mutex_lock(&fa->mu);
    fa->in_flight--;
    fa->reqs[idx].status = status;
    fa->reqs[idx].aborted = aborted;
    fa->reqs[idx].end_ms = jd_mono_ms();
    pthread_mutex_unlock(&fa->mu);
}

/* Serves one request from buf (head of hlen bytes). Returns 0 to keep the connection,
 * -1 to close it. */
static int serve_one(struct fake_api *fa, int fd, char *buf, size_t hlen, const char *body,
                     size_t body_len)
{
    char method[16], target[2048], version[16];
    buf[hlen - 2] = '\0'; /* the head ends in "\r\n" now, without the blank line */
    char *line_end = strstr(buf, "\r\n");
    if (!line_end)
        return -1;
    *line_end = '\0';
    const char *headers = line_end + 2;
    const char *sp1 = strchr(buf, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || (size_t)(sp1 - buf) >= sizeof method ||
        (size_t)(sp2 - sp1 - 1) >= sizeof target)
        return -1;
    snprintf(method, sizeof method, "%.*s", (int)(sp1 - buf), buf);
    snprintf(target, sizeof target, "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
    snprintf(version, sizeof version, "%s", sp2 + 1);
    int keep = strcmp(version, "HTTP/1.1") == 0;
    char conn[64];
    if (header_value(headers, "Connection", conn, sizeof conn) == 0 &&
        strcasecmp(conn, "close") == 0)
        keep = 0;

    struct fa_reply reply = {0, NULL, NULL, 0};
    int found = 0;
    size_t idx = record(fa, method, target, headers, body, body_len, &reply, &found);
    if (!found) {
        int matched;
        pthread_mutex_lock(&fa->mu);
        matched = fa->reqs[idx].route >= 0;
        pthread_mutex_unlock(&fa->mu);
        reply.status = matched ? 500 : 404;
        reply.body = dup_or_null(matched ? "{\"error\":\"no reply configured\"}"
                                         : "{\"error\":\"no route\"}");
    }
    if (reply.delay_ms > 0 && wait_delay(fa, fd, reply.delay_ms) != 0) {
        finish(fa, idx, 0, 1);
        free(reply.headers);
        free(reply.body);
        return -1;
    }
    struct jd_buf out = {0};
    const char *extra = reply.headers ? reply.headers : "";
    jd_buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", reply.status,
                  reason_phrase(reply.status), strlen(reply.body));
    if (!has_line(extra, "content-type:"))
        jd_buf_printf(&out, "Content-Type: application/json\r\n");
    jd_buf_printf(&out, "%sConnection: %s\r\n\r\n%s", extra, keep ? "keep-alive" : "close",
                  reply.body);
    int rc = send_all(fd, out.p, out.len);
    finish(fa, idx, rc == 0 ? reply.status : 0, rc != 0);
    jd_buf_free(&out);
    free(reply.headers);
    free(reply.body);
    return rc == 0 && keep ? 0 : -1;
}

static void *conn_main(void *arg)
{
    struct fa_conn *c = arg;
    struct fake_api *fa = c->fa;
    int fd = c->fd;
    char *buf = malloc(FA_HEAD_MAX + 1);
    size_t len = 0;
    while (buf && !atomic_load(&fa->stopping)) {
        size_t hlen = head_end(buf, len);
        if (hlen == 0) {
            if (len >= FA_HEAD_MAX)
                break;
            ssize_t r = recv(fd, buf + len, FA_HEAD_MAX - len, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            len += (size_t)r;
            continue;
        }
        /* The request body (Content-Length only). */
        size_t body_len = 0;
        {
            char saved = buf[hlen - 1];
            buf[hlen - 1] = '\0';
            char cl[32];
            if (header_value(buf, "Content-Length", cl, sizeof cl) == 0)
                body_len = (size_t)strtoull(cl, NULL, 10);
            buf[hlen - 1] = saved;
        }
        if (body_len > FA_BODY_MAX)
            break;
        /* The body is kept (its first bytes are recorded): the outbox's requests are
         * POSTs whose bodies the tests check. */
        size_t have = len - hlen;
        char *body = malloc(body_len + 1);
        if (!body)
            break;
        size_t got = body_len < have ? body_len : have;
        memcpy(body, buf + hlen, got);
        int bad = 0;
        while (got < body_len) {
            ssize_t r = recv(fd, body + got, body_len - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                bad = 1;
                break;
            }
            got += (size_t)r;
        }
        body[body_len] = '\0';
        if (bad) {
            free(body);
            break;
        }
        size_t consumed = hlen + (body_len < have ? body_len : have);
        char *copy = malloc(hlen + 1);
        if (!copy) {
            free(body);
            break;
        }
        memcpy(copy, buf, hlen);
        copy[hlen] = '\0';
        memmove(buf, buf + consumed, len - consumed);
        len -= consumed;
        int rc = serve_one(fa, fd, copy, hlen, body, body_len);
        free(copy);
        free(body);
        if (rc != 0)
            break;
    }
    free(buf);
    pthread_mutex_lock(&fa->mu);
    c->fd = -1;
    c->done = 1;
    pthread_mutex_unlock(&fa->mu);
    close(fd);
    return NULL;
}

/* Called with the lock held: a free slot, joining finished threads when needed. */
static struct fa_conn *free_slot(struct fake_api *fa)
{
    for (int i = 0; i < FA_MAX_CONNS; i++)
        if (!fa->conns[i].used)
            return &fa->conns[i];
    for (int i = 0; i < FA_MAX_CONNS; i++)
        if (fa->conns[i].done) {
            pthread_join(fa->conns[i].th, NULL);
            fa->conns[i].used = 0;
            return &fa->conns[i];
        }
    return NULL;
}

static void *accept_main(void *arg)
{
    struct fake_api *fa = arg;
    while (!atomic_load(&fa->stopping)) {
        int fd = accept(fa->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (atomic_load(&fa->stopping))
                break;
            jd_sleep_ms(10);
            continue;
        }
        pthread_mutex_lock(&fa->mu);
        struct fa_conn *c = atomic_load(&fa->stopping) ? NULL : free_slot(fa);
        if (c) {
            memset(c, 0, sizeof *c);
            c->fa = fa;
            c->fd = fd;
            c->used = 1;
            if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
                c->used = 0;
                c = NULL;
            }
        }
        pthread_mutex_unlock(&fa->mu);
        if (!c)
            close(fd);
    }
    return NULL;
}

struct fake_api *fake_api_start(void)
{
    struct fake_api *fa = calloc(1, sizeof *fa);
    if (!fa)
        jd_fatal(__FILE__, __LINE__, "fake_api: out of memory");
    pthread_mutex_init(&fa->mu, NULL);
    atomic_init(&fa->stopping, 0);
    fa->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fa->listen_fd < 0)
        jd_fatal(__FILE__, __LINE__, "fake_api: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fa->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(fa->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fa->listen_fd, (struct sockaddr *)&a, &alen) != 0 ||
        listen(fa->listen_fd, 128) != 0)
        jd_fatal(__FILE__, __LINE__, "fake_api: bind/listen: %s", strerror(errno));
    fa->port = ntohs(a.sin_port);
    snprintf(fa->base, sizeof fa->base, "http://127.0.0.1:%d", fa->port);
    if (pthread_create(&fa->accept_th, NULL, accept_main, fa) != 0)
        jd_fatal(__FILE__, __LINE__, "fake_api: pthread_create failed");
    return fa;
}

void fake_api_stop(struct fake_api *fa)
{
    if (!fa)
        return;
    atomic_store(&fa->stopping, 1);
    /* Wakes the blocked accept() on Linux. */
    shutdown(fa->listen_fd, SHUT_RDWR);
    pthread_join(fa->accept_th, NULL);
    close(fa->listen_fd);
    pthread_mutex_lock(&fa->mu);
    for (int i = 0; i < FA_MAX_CONNS; i++)
        if (fa->conns[i].used && fa->conns[i].fd >= 0)
            shutdown(fa->conns[i].fd, SHUT_RDWR);
    pthread_mutex_unlock(&fa->mu);
    for (int i = 0; i < FA_MAX_CONNS; i++)
        if (fa->conns[i].used)
            pthread_join(fa->conns[i].th, NULL);
    for (int i = 0; i < fa->nroutes; i++) {
        free_replies(&fa->routes[i]);
        free(fa->routes[i].target);
    }
    free(fa->reqs);
    pthread_mutex_destroy(&fa->mu);
    free(fa);
}
