/*
 * journeyd as a Type=notify service (DESIGN §9, systemd/journeyd.service): the test plays
 * systemd's part. It binds the notification socket itself (AF_UNIX datagrams with
 * SO_PASSCRED, as PID 1 does, so the sender's pid can be checked against NotifyAccess=main)
 * and starts journeyd with NOTIFY_SOCKET and WATCHDOG_USEC in its environment.
 *
 * 1. Redis up: READY=1 arrives, and /readyz is 200 when it does; WATCHDOG=1 keeps coming;
 *    SIGHUP gives RELOADING=1 with a MONOTONIC_USEC taken between our kill() and the
 *    message (what Type=notify-reload needs), then READY=1 again; SIGTERM gives
 *    STOPPING=1 and exit status 0.
 * 2. Redis down: no READY=1 while /readyz would say 503 (systemd would otherwise start
 *    the units ordered after journeyd too early); once redis-server is started on that
 *    port, READY=1 arrives without any help.
 */
/* struct ucred and SCM_CREDENTIALS are Linux extensions, like sd_notify itself. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSGS 4096

struct note_msg {
    char text[512];
    pid_t pid; /* the sender, from SCM_CREDENTIALS */
};

/* Every datagram received on one socket, in arrival order. */
struct listener {
    int fd;
    char path[JD_PATH_MAX];
    struct note_msg msgs[MAX_MSGS];
    int n;
};

static struct listener notify_a, notify_b;

static void listener_open(struct listener *l, const char *name)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    int n = snprintf(l->path, sizeof l->path, "%s/%s", jd_tmpdir(), name);
    JD_REQUIRE(n > 0 && (size_t)n < sizeof sa.sun_path, "socket path too long: %s", l->path);
    memcpy(sa.sun_path, l->path, (size_t)n + 1);
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    JD_REQUIRE(l->fd >= 0, "socket(AF_UNIX): %s", strerror(errno));
    int one = 1;
    JD_REQUIRE(setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0, "SO_PASSCRED: %s",
               strerror(errno));
    JD_REQUIRE(bind(l->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s", l->path,
               strerror(errno));
    l->n = 0;
}

/* Waits up to timeout_ms for one datagram; returns its index or -1. */
static int listener_recv(struct listener *l, int timeout_ms)
{
    int64_t deadline = jd_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - jd_mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {l->fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        JD_REQUIRE(l->n < MAX_MSGS, "more than %d notifications", MAX_MSGS);
        struct note_msg *m = &l->msgs[l->n];
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = {m->text, sizeof m->text - 1};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        ssize_t r = recvmsg(l->fd, &mh, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        JD_REQUIRE(r >= 0, "recvmsg: %s", strerror(errno));
        m->text[r] = '\0';
        m->pid = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cr;
                memcpy(&cr, CMSG_DATA(c), sizeof cr);
                m->pid = cr.pid;
            }
        }
        return l->n++;
    }
}

/* 1 when the message has `line` as one of its newline-separated assignments. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return 1;
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* The value of `KEY=` in the message, copied into out; NULL when absent. */
static const char *field(const char *text, const char *key, char *out, size_t outlen)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && memcmp(p, key, n) == 0 && p[n] == '=') {
            snprintf(out, outlen, "%.*s", (int)(len - n - 1), p + n + 1);
            return out;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* A message that says nothing but WATCHDOG=1: it may arrive at any time. */
static int is_watchdog_only(const char *text)
{
    return strcmp(text, "WATCHDOG=1") == 0 || strcmp(text, "WATCHDOG=1\n") == 0;
}

static const char *printable(const char *text)
{
    static char buf[600];
    size_t o = 0;
    for (const char *p = text; *p && o + 3 < sizeof buf; p++) {
        if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* Receives until a message holds `line`. Every other message received meanwhile must be
 * a bare WATCHDOG=1 (or STATUS= only) unless allow_other is set. Returns the index or -1. */
static int wait_line(struct listener *l, const char *line, int timeout_ms, int allow_other,
                     const struct jd_daemon *d)
{
    int64_t deadline = jd_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - jd_mono_ms();
        if (left <= 0)
            return -1;
        int i = listener_recv(l, (int)left);
        if (i < 0)
            return -1;
        const struct note_msg *m = &l->msgs[i];
        JD_EXPECT(m->pid == d->pid,
                  "notification \"%s\" came from pid %d, want journeyd's %d "
                  "(NotifyAccess=main drops it)",
                  printable(m->text), (int)m->pid, (int)d->pid);
        if (has_line(m->text, line))
            return i;
        int status_only = strncmp(m->text, "STATUS=", 7) == 0 && !strchr(m->text, '\n');
        if (!allow_other && !is_watchdog_only(m->text) && !status_only)
            jd_error(__FILE__, __LINE__, "while waiting for %s: unexpected notification \"%s\"",
                     line, printable(m->text));
    }
}

/* systemd passes these; the child inherits them through fork+exec. */
static void start_with_notify(struct jd_daemon *d, const struct listener *l)
{
    JD_REQUIRE(setenv("NOTIFY_SOCKET", l->path, 1) == 0, "setenv NOTIFY_SOCKET");
    JD_REQUIRE(setenv("WATCHDOG_USEC", "400000", 1) == 0, "setenv WATCHDOG_USEC");
    /* sd_watchdog_enabled() ignores the watchdog when WATCHDOG_PID names another process. */
    unsetenv("WATCHDOG_PID");
    jd_daemon_start(d, 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
}

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    JD_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    JD_REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                   getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
               "bind: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void expect_exit_0(struct jd_daemon *d, int timeout_s, const char *ctx)
{
    int st = jd_daemon_wait_exit(d, timeout_s);
    JD_EXPECT(st >= 0, "%s: journeyd still running %d s after SIGTERM", ctx, timeout_s);
    if (st >= 0) {
        JD_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s: journeyd ended with %s %d, want exit status 0", ctx,
                  WIFEXITED(st) ? "exit status" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
}

static void scenario_redis_up(void)
{
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port, NULL);
    listener_open(&notify_a, "notify-a.sock");
    start_with_notify(&d, &notify_a);

    int ready = wait_line(&notify_a, "READY=1", 30000, 0, &d);
    JD_REQUIRE(ready >= 0, "no READY=1 within 30 s of start (%d other notifications)", notify_a.n);
    /* READY=1 promises that the service works: /readyz must already agree. */
    long rz = jd_get_status(&d, "/readyz");
    JD_EXPECT(rz == 200, "GET /readyz right after READY=1: want 200, got %ld", rz);
    jd_note("READY=1 after %d notification(s): \"%s\"", ready,
            printable(notify_a.msgs[ready].text));

    /* WATCHDOG_USEC=400000: a ping at least every 400 ms, so two come well within 10 s. */
    int watchdogs = 0;
    int64_t deadline = jd_mono_ms() + 10000;
    while (watchdogs < 2 && jd_mono_ms() < deadline) {
        int i = wait_line(&notify_a, "WATCHDOG=1", (int)(deadline - jd_mono_ms()), 0, &d);
        if (i < 0)
            break;
        watchdogs++;
    }
    JD_EXPECT(watchdogs == 2, "want 2 WATCHDOG=1 after READY=1 within 10 s, got %d", watchdogs);

    uint64_t before_us = mono_us();
    jd_daemon_signal(&d, SIGHUP);
    int rel = wait_line(&notify_a, "RELOADING=1", 10000, 0, &d);
    uint64_t after_us = mono_us();
    JD_EXPECT(rel >= 0, "no RELOADING=1 within 10 s of SIGHUP");
    if (rel >= 0) {
        char v[64];
        const char *mu = field(notify_a.msgs[rel].text, "MONOTONIC_USEC", v, sizeof v);
        char *end = NULL;
        unsigned long long us = mu ? strtoull(mu, &end, 10) : 0;
        JD_EXPECT(mu && end && *end == '\0' && end != mu,
                  "RELOADING=1 message \"%s\" lacks a numeric MONOTONIC_USEC= (systemd's "
                  "notify-reload protocol needs it)",
                  printable(notify_a.msgs[rel].text));
        if (mu && end && *end == '\0')
            JD_EXPECT(us >= before_us && us <= after_us,
                      "MONOTONIC_USEC=%llu is not CLOCK_MONOTONIC between the kill (%" PRIu64
                      ") and the message (%" PRIu64 ")",
                      us, before_us, after_us);
        int again = wait_line(&notify_a, "READY=1", 10000, 0, &d);
        JD_EXPECT(again >= 0, "no READY=1 after RELOADING=1 (systemd would stay in 'reloading')");
        rz = jd_get_status(&d, "/readyz");
        JD_EXPECT(rz == 200, "GET /readyz after the reload: want 200, got %ld", rz);
    }

    jd_daemon_signal(&d, SIGTERM);
    int stop = wait_line(&notify_a, "STOPPING=1", 30000, 0, &d);
    JD_EXPECT(stop >= 0, "no STOPPING=1 within 30 s of SIGTERM");
    expect_exit_0(&d, 30, "redis up");
    /* Nothing after STOPPING=1 may claim readiness again. */
    for (int i = stop >= 0 ? stop + 1 : notify_a.n; i < notify_a.n; i++)
        JD_EXPECT(!has_line(notify_a.msgs[i].text, "READY=1"), "READY=1 after STOPPING=1: \"%s\"",
                  printable(notify_a.msgs[i].text));
    while (listener_recv(&notify_a, 0) >= 0) {
        const char *t = notify_a.msgs[notify_a.n - 1].text;
        JD_EXPECT(!has_line(t, "READY=1"), "READY=1 after STOPPING=1: \"%s\"", printable(t));
    }
    jd_note("redis up: %d notifications, READY/WATCHDOG/RELOADING/READY/STOPPING in order",
            notify_a.n);
    close(notify_a.fd);
    jd_redis_kill(&redis, SIGTERM);
}

static void scenario_redis_down(void)
{
    int port = free_tcp_port();
    struct jd_daemon d;
    jd_daemon_config(&d, port, NULL);
    listener_open(&notify_b, "notify-b.sock");
    start_with_notify(&d, &notify_b);

    /* Two seconds without Redis: several reconnect attempts, never READY=1. */
    int64_t until = jd_mono_ms() + 2000;
    while (jd_mono_ms() < until) {
        int i = listener_recv(&notify_b, (int)(until - jd_mono_ms()));
        if (i < 0)
            break;
        JD_EXPECT(!has_line(notify_b.msgs[i].text, "READY=1"),
                  "READY=1 sent while nothing listens on the Redis port %d: \"%s\"", port,
                  printable(notify_b.msgs[i].text));
    }
    JD_REQUIRE(jd_daemon_alive(&d), "journeyd exited when Redis was unreachable (see %s)", d.log);
    long rz = jd_get_status(&d, "/readyz");
    JD_EXPECT(rz == 503, "GET /readyz without Redis: want 503, got %ld", rz);

    struct jd_redis redis;
    jd_redis_start(&redis, NULL, port);
    /* The reconnect backoff is capped at a few seconds; 30 s is generous. */
    int ready = wait_line(&notify_b, "READY=1", 30000, 0, &d);
    JD_EXPECT(ready >= 0, "no READY=1 within 30 s of Redis starting on port %d", port);
    if (ready >= 0) {
        rz = jd_get_status(&d, "/readyz");
        JD_EXPECT(rz == 200, "GET /readyz right after the late READY=1: want 200, got %ld", rz);
    }
    jd_daemon_signal(&d, SIGTERM);
    JD_EXPECT(wait_line(&notify_b, "STOPPING=1", 30000, 0, &d) >= 0,
              "no STOPPING=1 within 30 s of SIGTERM");
    expect_exit_0(&d, 30, "redis late");
    jd_note("redis late: %d notifications, READY=1 only once Redis was up", notify_b.n);
    close(notify_b.fd);
    jd_redis_kill(&redis, SIGTERM);
}

int main(void)
{
    jd_setup("systemd_notify", 180, 1);
    scenario_redis_up();
    scenario_redis_down();
    return jd_finish();
}
