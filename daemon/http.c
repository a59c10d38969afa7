/*
 * The HTTP server (http.h): evhttp set-up and limits, the listener, the connection guard
 * (every client connection followed from accept to close: absolute deadlines, a minimum
 * body rate, the connection caps and who makes room, accepting paused when descriptors run
 * out), libevent's own error answers rewritten as JSON and closed with a lingering close,
 * the per-connection state a graceful stop waits on, and the reply helpers. All of
 * it lives in one struct http_server that struct jd owns; every request goes to the
 * dispatcher the server was started with.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "common.h"
#include "http.h"
#include "jd.h"
#include "log.h"
#include "util.h"

/* Where each client connection stands. libevent 2.1 has no hook for "a connection was
 * accepted" nor "bytes of a request arrived", and its timeout restarts on every byte, so a
 * client dripping a byte every few seconds would hold a connection forever. We follow each
 * connection ourselves, from the bufferevent evhttp asks us for (evhttp_set_bevcb) to its
 * close callback:
 *   CONN_PENDING  accepted; adopted at once by a zero-delay event (the descriptor and the
 *                 peer are known only after evhttp_get_request_connection returns);
 *   CONN_RECV     a request is arriving (a new connection waits for its first): deadline
 *                 armed once for its headers, then once again for its body;
 *   CONN_HANDLING dispatched, our handler owes the answer: never cut, no deadline;
 *   CONN_SENDING  answered, being written;
 *   CONN_IDLE     answer written, nothing since (keep-alive): deadline armed once;
 *   CONN_CLOSING  answered while stopping, or refused by libevent itself (on_conn_output):
 *                 evhttp closes it once the answer is written.
 * RECV and IDLE connections have not finished sending a request: they are the ones a new
 * connection may displace and the ones a deadline cuts. */
enum conn_state { CONN_PENDING, CONN_RECV, CONN_HANDLING, CONN_SENDING, CONN_IDLE, CONN_CLOSING };

/* Descriptors kept for everything that is not a client connection (Redis, outbound
 * transfers, logs, libevent's own) on top of those open when the server starts. */
#define FD_SLACK 16
/* A body is given this long before its average rate is held to min_body_rate: it absorbs
 * a TCP retransmission backoff or two on a poor link. */
#define BODY_RATE_GRACE_MS 2000
/* After accept() fails for want of descriptors, the listener rests this long: the
 * listening socket stays readable, so retrying at once spins the loop. */
#define ACCEPT_PAUSE_MS 250
/* Repeated failures (accept errors, displacements) are logged at most this often. */
#define LOG_EVERY_MS 10000
/* A lingering close (nginx's lingering_close): after an answer libevent gives on its own
 * (413 above all, sent as soon as Content-Length is read, while the body is still on its
 * way), the socket is not closed at once: closing with unread bytes makes the kernel send a
 * reset, and a client still sending then sees "connection reset" instead of the answer.
 * Its write side is shut (the client reads the answer, then the end), and whatever still
 * arrives is read and thrown away until the client closes, for at most LINGER_MS in all,
 * LINGER_IDLE_MS of silence or LINGER_MAX_BYTES, whichever comes first. At most
 * LINGER_MAX sockets linger at once (beyond it, a socket closes at once, as before); the
 * oldest gives its descriptor back first when descriptors run out. */
#define LINGER_MS 5000
#define LINGER_IDLE_MS 1000
#define LINGER_MAX_BYTES (16u * 1024 * 1024)
#define LINGER_MAX 256

struct conn {
    struct http_server *server;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;  /* NULL while pending */
    struct evbuffer_cb_entry *input;  /* watches the bytes that arrive */
    struct evbuffer_cb_entry *output; /* rewrites libevent's own error pages (on_conn_output) */
    struct event *timer;              /* the adoption, then the current deadline */
    TAILQ_ENTRY(conn) link;
    int fd;
    enum conn_state state;
    int cut;      /* shut down by us: evhttp frees it at its next read */
    int in_body;  /* CONN_RECV: the headers are complete */
    int hdr_scan; /* line ends seen at the end of the headers so far (0, 1, 2: "\n\r") */
    int refused;  /* libevent's own error answer: 1 maybe (status seen), 2 rewritten */
    int refused_status;
    size_t refused_at; /* where its answer starts in the output buffer */
    int64_t since_ms;  /* accept, answer written or first byte of the current request */
    int64_t body_since_ms;
    size_t body_bytes;
    unsigned char addr[17]; /* family byte + IPv4 or IPv6 address of the peer */
};

TAILQ_HEAD(conn_list, conn);

/* A socket in its lingering close (LINGER_MS): ours alone, libevent has let it go. */
struct lingerer {
    struct http_server *server;
    struct event *ev; /* readable, or LINGER_IDLE_MS of silence */
    int fd;
    int64_t until_ms;
    size_t bytes;
    TAILQ_ENTRY(lingerer) link;
};

TAILQ_HEAD(linger_list, lingerer);

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener; /* freed with http */
    struct event *tick;              /* body rates, once a second */
    struct event *resume;            /* re-enables accepting after a pause */
    http_dispatch_fn dispatch;
    void *dispatch_ctx;
    struct conn_list conns;       /* every connection we follow, pending ones included */
    struct linger_list lingering; /* oldest first */
    size_t nlinger;
    size_t max_body;     /* for the message of a 413 */
    struct conn **by_fd; /* adopted connections, by descriptor */
    size_t by_fd_cap;
    size_t nlive;    /* adopted, not cut */
    size_t npending; /* accepted, not yet adopted */
    size_t base_fds; /* descriptors open once the listener was up */
    size_t max_connections;
    size_t max_per_address;
    size_t min_body_rate;
    int64_t timeout_ms;
    int accept_paused;
    int stop_requested;
    int64_t accept_err_logged_ms, displace_logged_ms;
    uint64_t accept_errors, displaced, refused;
};

static void arm(struct conn *c, int64_t at_ms)
{
    int64_t left = at_ms - jd_mono_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    if (event_add(c->timer, &tv) != 0)
        jlog(JLOG_ERROR, "msg=\"cannot arm a connection deadline\" fd=%d", c->fd);
}

static void disarm(struct conn *c)
{
    (void)event_del(c->timer);
}

/* Closes a connection from our side without freeing anything on a callback stack: the
 * shutdown makes the next read see the end, and evhttp frees the connection (and through
 * its close callback, ours). Only a connection with no request in our handlers is cut. */
static void conn_cut(struct conn *c)
{
    if (c->cut)
        return;
    c->cut = 1;
    disarm(c);
    if (c->state != CONN_PENDING && c->server->nlive > 0)
        c->server->nlive--;
    if (c->fd >= 0)
        (void)shutdown(c->fd, SHUT_RDWR);
}

static int may_displace(const struct conn *c)
{
    return !c->cut && (c->state == CONN_RECV || c->state == CONN_IDLE);
}

/* A new request (or the wait for one) starts: one deadline for its headers. */
static void restart(struct conn *c, enum conn_state st)
{
    c->state = st;
    c->in_body = 0;
    c->hdr_scan = 0;
    c->body_bytes = 0;
    c->since_ms = jd_mono_ms();
    arm(c, c->since_ms + c->server->timeout_ms);
}

/* Follows the end of the headers over the bytes that arrived: an empty line. Returns how
 * many of them are body bytes, or -1 while the headers go on. */
static long scan_headers(struct conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (c->hdr_scan)
                return (long)(n - i - 1);
            c->hdr_scan = 1;
        } else
            c->hdr_scan = p[i] == '\r' && c->hdr_scan == 1 ? 2 : 0;
    }
    return -1;
}

/* Bytes that arrived (the `n` at the end of buf): the request goes on, its headers may end
 * (the body deadline is armed then, once) and the body's bytes are counted for its rate. */
static void received(struct conn *c, struct evbuffer *buf, size_t n)
{
    if (c->cut || n == 0)
        return;
    if (c->state == CONN_IDLE)
        restart(c, CONN_RECV);
    if (c->state != CONN_RECV)
        return; /* pipelined behind a request being answered: looked at after the answer */
    if (c->in_body) {
        c->body_bytes += n;
        return;
    }
    size_t len = evbuffer_get_length(buf);
    struct evbuffer_ptr at;
    if (n > len || evbuffer_ptr_set(buf, &at, len - n, EVBUFFER_PTR_SET) != 0)
        return;
    char chunk[512];
    for (size_t left = n; left > 0;) {
        ev_ssize_t k =
            evbuffer_copyout_from(buf, &at, chunk, left < sizeof chunk ? left : sizeof chunk);
        if (k <= 0)
            return;
        long body = scan_headers(c, chunk, (size_t)k);
        left -= (size_t)k;
        if (body >= 0) {
            c->in_body = 1;
            c->body_bytes = (size_t)body + left;
            c->body_since_ms = jd_mono_ms();
            arm(c, c->body_since_ms + c->server->timeout_ms);
            return;
        }
        if (evbuffer_ptr_set(buf, &at, (size_t)k, EVBUFFER_PTR_ADD) != 0)
            return;
    }
}

/* ---- lingering close ---- */

static void linger_end(struct lingerer *l)
{
    struct http_server *s = l->server;
    TAILQ_REMOVE(&s->lingering, l, link);
    s->nlinger--;
    event_free(l->ev);
    (void)close(l->fd);
    free(l);
}

/* Reads and throws away what arrives; ends at the client's close, an error, silence, the
 * time or the byte bound. */
static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    struct lingerer *l = arg;
    char scratch[16384];
    if (!(what & EV_READ) || jd_mono_ms() >= l->until_ms) {
        linger_end(l);
        return;
    }
    for (int i = 0; i < 64; i++) { /* at most 1 MiB a turn: other connections go on */
        ssize_t k = recv(fd, scratch, sizeof(scratch), 0);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (k <= 0 || (l->bytes += (size_t)k) > LINGER_MAX_BYTES) {
            linger_end(l);
            return;
        }
    }
}

/* Keeps the socket of fd (about to be closed by libevent) open in a lingering close: a
 * descriptor of our own for it, its write side shut once the answer is out. Without room
 * or memory the socket just closes, as it would have. */
static void linger_start(struct http_server *s, int fd)
{
    if (s->nlinger >= LINGER_MAX || fd < 0)
        return;
    struct lingerer *l = calloc(1, sizeof(*l));
    if (!l)
        return;
    l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    struct timeval idle = {LINGER_IDLE_MS / 1000, (LINGER_IDLE_MS % 1000) * 1000};
    if (l->fd < 0 || !(l->ev = event_new(s->base, l->fd, EV_READ | EV_PERSIST, on_linger, l)) ||
        event_add(l->ev, &idle) != 0) {
        if (l->ev)
            event_free(l->ev);
        if (l->fd >= 0)
            (void)close(l->fd);
        free(l);
        return;
    }
    l->server = s;
    l->until_ms = jd_mono_ms() + LINGER_MS;
    TAILQ_INSERT_TAIL(&s->lingering, l, link);
    s->nlinger++;
    /* The answer was written whole before libevent closes (evhttp_send_done): the end
     * follows it, so the client reads both, and then closes its side. */
    (void)shutdown(l->fd, SHUT_WR);
}

/* ---- libevent's own error answers, as DESIGN §7's JSON ----
 *
 * libevent 2.1 answers some requests itself, before any handler of ours runs: a body over
 * max_body (413, as soon as Content-Length is read), a malformed request line or header
 * (400), a method not allowed (501), a refused Expect (417). It writes them with
 * evhttp_send_error, an HTML page, and has no hook to replace it (evhttp_set_errorcb
 * comes with 2.2). What it writes goes to the connection's output buffer, where we watch:
 * an answer that starts while no request of ours is being answered (the connection is
 * receiving or idle) is libevent's own. When its page is complete (it always ends with
 * "</BODY></HTML>\n", evhttp_send_error's format), the page is replaced by the same status
 * with our JSON error, before a byte of it reaches the socket (the write happens later,
 * from the loop). Such an answer always closes the connection (evhttp_send_page_), and
 * the close lingers (linger_start). */

static const char page_end[] = "</BODY></HTML>\n";

static const char *refusal_reason(int status, const char **code)
{
    switch (status) {
    case 400:
        *code = "bad_request";
        return "Bad Request";
    case 413:
        *code = "payload_too_large";
        return "Payload Too Large";
    case 417:
        *code = "expectation_failed";
        return "Expectation Failed";
    case 501:
        *code = "not_implemented";
        return "Not Implemented";
    default:
        *code = "http_error";
        return status >= 500 ? "Server Error" : "Client Error";
    }
}

/* Our answer for status: the JSON error and headers every answer of ours carries. */
static int refusal_add(struct evbuffer *out, int status, size_t max_body)
{
    const char *code, *reason = refusal_reason(status, &code);
    char msg[128], body[256];
    if (status == 413)
        snprintf(msg, sizeof(msg), "the body is over the limit of %zu bytes (max_body)", max_body);
    else if (status == 400)
        snprintf(msg, sizeof(msg), "malformed HTTP request");
    else
        snprintf(msg, sizeof(msg), "%s", reason);
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}", code, msg);
    if (n < 0 || (size_t)n >= sizeof(body))
        return -1;
    return evbuffer_add_printf(out,
                               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                               status, reason, n, body) < 0
               ? -1
               : 0;
}

/* The status of an answer that starts at `at` in buf ("HTTP/1.1 413 ..."), 0 when the
 * bytes there are not one (yet). */
static int status_at(struct evbuffer *buf, size_t at)
{
    char line[16];
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(buf, &p, at, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &p, line, sizeof(line) - 1) < 13)
        return 0;
    line[sizeof(line) - 1] = '\0';
    if (strncmp(line, "HTTP/", 5) != 0 || line[8] != ' ' || line[12] != ' ')
        return 0;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return 0;
        status = status * 10 + (line[i] - '0');
    }
    return status;
}

static void on_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    if (info->n_added == 0 || c->cut || c->refused == 2)
        return;
    if (!c->refused) {
        /* An answer of ours is being written (or it is a 100 Continue): leave it. */
        if (c->state != CONN_RECV && c->state != CONN_IDLE)
            return;
        int status = status_at(buf, info->orig_size);
        if (status < 400)
            return;
        /* A candidate until its page is complete: only libevent's pages end that way. */
        c->refused = 1;
        c->refused_status = status;
        c->refused_at = info->orig_size;
    }
    size_t len = evbuffer_get_length(buf), tail = sizeof(page_end) - 1;
    char end[sizeof(page_end)];
    struct evbuffer_ptr p;
    if (len < c->refused_at + tail ||
        evbuffer_ptr_set(buf, &p, len - tail, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &p, end, tail) != (ev_ssize_t)tail ||
        memcmp(end, page_end, tail) != 0)
        return; /* the page goes on */
    /* Replaced below: the changes call us again, and must find nothing to do. Answered
     * and closing: no deadline, not a connection that may make room. */
    c->refused = 2;
    c->state = CONN_CLOSING;
    disarm(c);
    struct evbuffer *keep = evbuffer_new();
    if (!keep || evbuffer_remove_buffer(buf, keep, c->refused_at) != (int)c->refused_at ||
        evbuffer_drain(buf, evbuffer_get_length(buf)) != 0 || evbuffer_add_buffer(buf, keep) != 0 ||
        refusal_add(buf, c->refused_status, c->server->max_body) != 0)
        /* Out of memory: whatever is left goes out; the close follows. */
        jlog(JLOG_WARNING, "msg=\"cannot rewrite an error answer\" fd=%d", c->fd);
    if (keep)
        evbuffer_free(keep);
}

static void on_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    received(arg, buf, info->n_added);
}

static void conn_free(struct conn *c)
{
    struct http_server *s = c->server;
    TAILQ_REMOVE(&s->conns, c, link);
    if (c->state == CONN_PENDING)
        s->npending--;
    else if (!c->cut && s->nlive > 0)
        s->nlive--;
    if (c->fd >= 0 && (size_t)c->fd < s->by_fd_cap && s->by_fd[c->fd] == c)
        s->by_fd[c->fd] = NULL;
    event_free(c->timer);
    free(c);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    (void)evcon;
    if (c->input)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input);
    if (c->output)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->output);
    /* libevent refused a request and closes: the client may still be sending. */
    if (c->refused == 2 && !c->cut)
        linger_start(c->server, c->fd);
    conn_free(c);
}

static struct conn *conn_of(const struct http_server *s, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn *c = fd >= 0 && (size_t)fd < s->by_fd_cap ? s->by_fd[fd] : NULL;
    return c && c->evcon == evcon ? c : NULL;
}

/* The peer's address, the key of the per-address cap (an IPv4-mapped IPv6 peer counts as
 * its IPv4 address). */
static void peer_key(int fd, unsigned char key[17])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(key, 0, 17);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 16);
        }
    }
}

/* The door stays open: a connection over a cap displaces the oldest one of its kind that
 * has not finished sending a request (over the per-address cap, one of its own address),
 * so slow clients cannot hold every slot, even from one address. Only when no such
 * connection exists is the newcomer refused. One pass over the connections: at most
 * max_connections, once per accepted connection. */
static void admit(struct http_server *s, struct conn *c)
{
    struct conn *oldest = NULL, *oldest_same = NULL;
    size_t same = 0;
    struct conn *o;
    TAILQ_FOREACH(o, &s->conns, link)
    {
        if (o == c || o->cut || o->state == CONN_PENDING)
            continue;
        int is_same = memcmp(o->addr, c->addr, sizeof(c->addr)) == 0;
        same += is_same;
        if (!may_displace(o))
            continue;
        if (!oldest || o->since_ms < oldest->since_ms)
            oldest = o;
        if (is_same && (!oldest_same || o->since_ms < oldest_same->since_ms))
            oldest_same = o;
    }
    struct conn *victim;
    if (same >= s->max_per_address)
        victim = oldest_same;
    else if (s->nlive > s->max_connections)
        victim = oldest;
    else
        return;
    if (victim)
        s->displaced++;
    else
        s->refused++;
    conn_cut(victim ? victim : c);
    int64_t now = jd_mono_ms();
    if (now - s->displace_logged_ms >= LOG_EVERY_MS) {
        s->displace_logged_ms = now;
        jlog(JLOG_NOTICE,
             "msg=\"connection cap reached, the oldest unfinished request makes room\" "
             "connections=%zu max_connections=%zu max_per_address=%zu displaced=%llu "
             "refused=%llu",
             s->nlive, s->max_connections, s->max_per_address, (unsigned long long)s->displaced,
             (unsigned long long)s->refused);
    }
}

/* First run of a connection's timer, right after evhttp set the connection up: learn its
 * descriptor, peer and evhttp connection, start its first deadline, apply the caps. */
static void adopt(struct conn *c)
{
    struct http_server *s = c->server;
    bufferevent_event_cb alive = NULL;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &alive, &evcon);
    int fd = bufferevent_getfd(c->bev);
    s->npending--;
    if (!alive || !evcon || fd < 0 || (size_t)fd >= s->by_fd_cap) {
        /* evhttp gave the connection up while setting it up (out of memory), or a
         * descriptor beyond the table: not ours to follow. */
        TAILQ_REMOVE(&s->conns, c, link);
        bufferevent_decref(c->bev);
        /* Freed from its own callback: a fired one-shot event is no longer pending, and
         * libevent touches it no more once the callback has run. */
        event_free(c->timer);
        free(c);
        return;
    }
    c->fd = fd;
    c->evcon = evcon;
    if (s->by_fd[fd]) {
        /* Its previous connection closed without a close callback: forget it. */
        struct conn *stale = s->by_fd[fd];
        stale->input = NULL;
        stale->fd = -1;
        conn_free(stale);
    }
    s->by_fd[fd] = c;
    c->input = evbuffer_add_cb(bufferevent_get_input(c->bev), on_conn_input, c);
    c->output = evbuffer_add_cb(bufferevent_get_output(c->bev), on_conn_output, c);
    evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
    bufferevent_decref(c->bev);
    /* Answers are written whole: without this, Nagle holds the tail of a large answer
     * back until the client's delayed ACK (40 ms) on a keep-alive connection. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    peer_key(fd, c->addr);
    c->state = CONN_RECV;
    s->nlive++;
    arm(c, c->since_ms + s->timeout_ms);
    if (!c->input || !c->output)
        conn_cut(c); /* out of memory: its requests could not be followed */
    else
        admit(s, c);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CONN_PENDING) {
        adopt(c);
        return;
    }
    if (may_displace(c))
        conn_cut(c); /* its deadline passed */
}

/* evhttp asks us for each accepted connection's bufferevent: the one moment we hear of a
 * new connection. Held with a reference until it is adopted, so a connection evhttp gives
 * up meanwhile is seen (its callbacks cleared) rather than freed under us. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn *c = bev ? calloc(1, sizeof(*c)) : NULL;
    if (c)
        c->timer = event_new(base, -1, 0, on_conn_timer, c);
    if (!c || !c->timer) {
        /* Out of memory: evhttp makes its own bufferevent (or gives the connection up);
         * this connection is not followed. */
        free(c);
        if (bev)
            bufferevent_free(bev);
        return NULL;
    }
    c->server = s;
    c->bev = bev;
    c->fd = -1;
    c->state = CONN_PENDING;
    c->since_ms = jd_mono_ms();
    bufferevent_incref(bev);
    TAILQ_INSERT_TAIL(&s->conns, c, link);
    s->npending++;
    event_active(c->timer, EV_TIMEOUT, 1);
    /* Accepting goes on in a loop until the backlog is empty: stop it at the cap, so one
     * burst cannot overshoot it before the newcomers are adopted (and make room). */
    if (s->nlive + s->npending > s->max_connections && s->listener && !s->accept_paused &&
        !s->stop_requested) {
        evconnlistener_disable(s->listener);
        s->accept_paused = 1;
        struct timeval now = {0, 0};
        if (event_add(s->resume, &now) != 0)
            jlog(JLOG_ERROR, "msg=\"cannot schedule accepting again\"");
    }
    return bev;
}

/* Marks a request as one of ours; its argument is how an answer finds its server. Called
 * by evhttp once the answer is written: the connection waits for its next request. */
static void on_request_done(struct evhttp_request *req, void *arg)
{
    struct conn *c = conn_of(arg, evhttp_request_get_connection(req));
    if (!c || c->cut || c->state == CONN_CLOSING)
        return;
    c->refused = 0; /* an answer of ours, whatever on_conn_output took it for */
    restart(c, CONN_IDLE);
    /* A request pipelined behind this one is already here. */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    received(c, in, evbuffer_get_length(in));
}

/* The server a request came through, NULL for one that did not pass route_request.
 * evhttp keeps no user pointer per server or per connection, so route_request leaves it
 * as the request's completion-callback argument. */
static struct http_server *server_of(struct evhttp_request *req)
{
    return req->on_complete_cb == on_request_done ? req->on_complete_cb_arg : NULL;
}

static void set_state(struct http_server *s, struct evhttp_request *req, enum conn_state st)
{
    struct conn *c = s ? conn_of(s, evhttp_request_get_connection(req)) : NULL;
    if (c && !c->cut) {
        c->state = st;
        disarm(c);
    }
}

static void route_request(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    evhttp_request_set_on_complete_cb(req, on_request_done, s);
    set_state(s, req, CONN_HANDLING);
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    if (!uri || !path) {
        http_reply_error(req, 400, "bad_request", "unparseable request target");
        return;
    }
    /* libevent reads the version with %d.%d: "HTTP/-1.1" or "HTTP/7.42" reach us, and the
     * answer would echo them. Only 1.0 and 1.1 are HTTP we speak (found by fuzz_http). */
    if (req->major != 1 || (req->minor != 0 && req->minor != 1)) {
        req->major = 1;
        req->minor = 1;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        http_reply_error(req, 505, "http_version_not_supported", "HTTP/1.0 or HTTP/1.1 only");
        return;
    }
    s->dispatch(s->dispatch_ctx, req, path);
}

size_t http_busy_connections(const struct http_server *s)
{
    size_t busy = 0;
    const struct conn *c;
    TAILQ_FOREACH(c, &s->conns, link)
    {
        if (c->state != CONN_IDLE)
            busy++;
    }
    return busy;
}

void http_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
    struct http_server *s = server_of(req);
    int stopping = s && s->stop_requested;
    set_state(s, req, stopping ? CONN_CLOSING : CONN_SENDING);
    /* Every answer: some echo what the client sent (Meta's handshake returns the
     * challenge), and a browser must not sniff such text into HTML or script. */
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Content-Type-Options", "nosniff");
    if (stopping)
        /* Stopping: no keep-alive, so each client leaves after its answer, and the stop
         * waits until the answer is out (the connection then closes). */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    evhttp_send_reply(req, status, NULL, body);
}

void http_reply_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *text)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (!buf || evbuffer_add(buf, text, strlen(text)) != 0) {
        /* Out of memory: answer without a body rather than not at all. */
        http_send(req, 503, NULL);
        if (buf)
            evbuffer_free(buf);
        return;
    }
    http_send(req, status, buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        http_reply_text(req, 503, "application/json",
                        "{\"error\":\"out_of_memory\",\"message\":\"try again\"}");
        return;
    }
    http_reply_text(req, status, "application/json", text);
    cJSON_free(text);
}

void http_reply_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "error", code) ||
              !cJSON_AddStringToObject(o, "message", message))) {
        cJSON_Delete(o);
        o = NULL;
    }
    http_reply_json(req, status, o);
}

void http_reply_unavailable(struct jd *jd, struct evhttp_request *req, const char *why)
{
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld", (long long)jd->cfg->retry_after_s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", secs);
    http_reply_error(req, 503, "unavailable", why);
}

size_t http_collect_headers(struct evhttp_request *req, struct cx_header *out, size_t cap)
{
    size_t n = 0;
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (n == cap)
            break;
        out[n].name = kv->key;
        out[n].value = kv->value;
        n++;
    }
    return n;
}

const unsigned char *http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    if (*len == 0)
        return (const unsigned char *)"";
    return evbuffer_pullup(in, -1);
}

/* Descriptors open now (every kind): what the server must leave to the rest of the daemon. */
static size_t count_open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own descriptor */
}

/* Body rates, once a second: a body that, past its grace, has averaged less than
 * min_body_rate is cut (its absolute deadline would free the slot only later). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    if (s->min_body_rate == 0)
        return;
    int64_t now = jd_mono_ms();
    struct conn *c, *next;
    for (c = TAILQ_FIRST(&s->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->cut || c->state != CONN_RECV || !c->in_body)
            continue;
        int64_t rated = now - c->body_since_ms - BODY_RATE_GRACE_MS;
        if (rated > 0 && (double)c->body_bytes < (double)s->min_body_rate * (double)rated / 1000.0)
            conn_cut(c);
    }
}

/* Accepting again after a pause (a cap reached in a burst, or no descriptor left). */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    if (!s->accept_paused || s->stop_requested)
        return;
    if (evconnlistener_enable(s->listener) != 0) {
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        (void)event_add(s->resume, &tv);
        return;
    }
    s->accept_paused = 0;
}

/* libevent hands the listener's error callback evhttp's argument, not ours: the one
 * server of the process is found here. */
static struct http_server *accepting_server;

/* accept() failed (out of descriptors, most often). The listening socket stays readable,
 * so retrying at once would spin the loop and log without end: rest, count, and log at
 * most once in a while. Out of descriptors, the oldest connection still sending its request
 * makes room, as it would at the connection cap. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct http_server *s = accepting_server;
    int err = errno;
    (void)arg;
    if (!s || s->listener != lev)
        return;
    s->accept_errors++;
    struct conn *c, *oldest = NULL;
    int freed = 0;
    if ((err == EMFILE || err == ENFILE) && s->nlinger > 0) {
        /* A lingering close is a courtesy; a new client is not. */
        for (int i = 0; i < 8 && s->nlinger > 0; i++)
            linger_end(TAILQ_FIRST(&s->lingering));
        freed = 1;
    } else if (err == EMFILE || err == ENFILE) {
        TAILQ_FOREACH(c, &s->conns, link)
        {
            if (may_displace(c) && (!oldest || c->since_ms < oldest->since_ms))
                oldest = c;
        }
    }
    if (!s->stop_requested && !s->accept_paused) {
        evconnlistener_disable(lev);
        s->accept_paused = 1;
        /* Accepting resumes once the connection cut here has given its descriptor back
         * (the next turn of the loop), or after a rest when nothing could be cut. */
        struct timeval tv = {0, oldest || freed ? 0 : ACCEPT_PAUSE_MS * 1000};
        if (event_add(s->resume, &tv) != 0)
            jlog(JLOG_ERROR, "msg=\"cannot schedule accepting again\"");
    }
    if (oldest) {
        s->displaced++;
        conn_cut(oldest);
    }
    int64_t now = jd_mono_ms();
    if (s->accept_err_logged_ms == 0 || now - s->accept_err_logged_ms >= LOG_EVERY_MS) {
        s->accept_err_logged_ms = now;
        jlog(JLOG_WARNING,
             "msg=\"cannot accept connections, pausing\" error=\"%s\" errors=%llu "
             "connections=%zu displaced=%llu",
             strerror(err), (unsigned long long)s->accept_errors, s->nlive,
             (unsigned long long)s->displaced);
    }
}

/* max_connections, held below the descriptor limit: past it accept() fails (EMFILE) and
 * the rest of the daemon (Redis, outbound transfers) starves with it. */
static size_t clamp_connections(const struct http_server *s, const struct cfg *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return c->max_connections;
    size_t limit = rl.rlim_cur < ((rlim_t)1 << 30) ? (size_t)rl.rlim_cur : (size_t)1 << 30;
    size_t reserve = s->base_fds + c->outbound_max_transfers + FD_SLACK;
    size_t room = limit > reserve + 4 ? limit - reserve : (limit / 4 > 0 ? limit / 4 : 1);
    return c->max_connections < room ? c->max_connections : room;
}

void http_apply_limits(struct http_server *s, const struct cfg *c)
{
    if (!s)
        return;
    evhttp_set_max_body_size(s->http, (ev_ssize_t)c->max_body);
    s->max_body = c->max_body;
    evhttp_set_max_headers_size(s->http, 64 * 1024);
    /* libevent's timeout restarts on every byte: it only bounds a stalled write and
     * idling; the deadlines above bound receiving. */
    evhttp_set_timeout(s->http, (int)((c->request_timeout_ms + 999) / 1000));
    s->timeout_ms = c->request_timeout_ms;
    s->min_body_rate = c->min_body_rate;
    size_t max = clamp_connections(s, c);
    if (max != c->max_connections && max != s->max_connections)
        jlog(JLOG_WARNING,
             "msg=\"max_connections lowered to fit the descriptor limit\" max_connections=%zu "
             "configured=%zu",
             max, c->max_connections);
    s->max_connections = max;
    s->max_per_address = c->max_connections_per_address ? c->max_connections_per_address
                                                        : (max / 4 > 0 ? max / 4 : 1);
}

/* The listener evhttp serves: ours, so it can be paused. 0 / -1. */
static int listen_on(struct http_server *s, struct event_base *base, const struct cfg *c)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d", c->listen_host,
             c->listen_port);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        jlog(JLOG_ERROR, "msg=\"listen address must be numeric\" listen=%s", addr);
        return -1;
    }
    s->listener = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        (struct sockaddr *)&ss, sslen);
    if (!s->listener) {
        jlog_errno(JLOG_ERROR, "msg=\"cannot listen\" listen=%s", addr);
        return -1;
    }
    if (!evhttp_bind_listener(s->http, s->listener)) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
        return -1;
    }
    accepting_server = s;
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    jlog(JLOG_NOTICE, "msg=listening listen=%s", addr);
    return 0;
}

struct http_server *http_start(struct event_base *base, const struct cfg *c,
                               http_dispatch_fn dispatch, void *ctx)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base = base;
    s->dispatch = dispatch;
    s->dispatch_ctx = ctx;
    TAILQ_INIT(&s->conns);
    TAILQ_INIT(&s->lingering);
    s->http = evhttp_new(base);
    if (!s->http)
        goto fail;
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
    evhttp_set_gencb(s->http, route_request, s);
    evhttp_set_bevcb(s->http, on_new_connection, s);
    struct rlimit rl;
    s->by_fd_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20)
                       ? (size_t)rl.rlim_cur
                       : (size_t)1 << 20;
    s->by_fd = calloc(s->by_fd_cap, sizeof(*s->by_fd));
    s->tick = event_new(base, -1, EV_PERSIST, on_tick, s);
    s->resume = event_new(base, -1, 0, on_resume, s);
    struct timeval second = {1, 0};
    if (!s->by_fd || !s->tick || !s->resume || event_add(s->tick, &second) != 0 ||
        listen_on(s, base, c) != 0)
        goto fail;
    s->base_fds = count_open_fds();
    http_apply_limits(s, c);
    return s;
fail:
    http_free(s);
    return NULL;
}

void http_stop_accepting(struct http_server *s)
{
    if (!s)
        return;
    s->stop_requested = 1;
    if (s->listener)
        evconnlistener_disable(s->listener);
}

void http_free(struct http_server *s)
{
    if (!s)
        return;
    if (s->tick)
        event_free(s->tick);
    if (s->resume)
        event_free(s->resume);
    /* Frees the bound listener (and its socket) too, and closes every connection, whose
     * close callbacks still use the connection list: it goes after. */
    if (s->http)
        evhttp_free(s->http);
    if (accepting_server == s)
        accepting_server = NULL;
    /* Left: connections accepted but not yet adopted (their bufferevents are held). */
    struct conn *c;
    while ((c = TAILQ_FIRST(&s->conns))) {
        if (c->state == CONN_PENDING)
            bufferevent_decref(c->bev);
        c->input = NULL;
        conn_free(c);
    }
    while (!TAILQ_EMPTY(&s->lingering))
        linger_end(TAILQ_FIRST(&s->lingering));
    free(s->by_fd);
    free(s);
}
