#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#define MAX_PROCS 32
#define BODY_CAP (64u * 1024 * 1024)

/* Every child we start, alive or not: alive ones are killed at exit, and all their logs
 * are dumped when the test fails. Plain arrays so the watchdog handler may read them. */
struct proc {
    volatile pid_t pid; /* 0 once reaped */
    char log[JD_PATH_MAX];
    char what[32];
};
static struct proc procs[MAX_PROCS];
static volatile int nprocs;

static char test_name[64];
static char tmpdir[JD_PATH_MAX];
static int failures;
static uint64_t seed_value, rng_state;
static pid_t main_pid;
static _Thread_local CURL *tl_curl;

/* ---- failure reporting ---- */

static void dump_all_logs(void)
{
    for (int i = 0; i < nprocs; i++) {
        if (procs[i].log[0] == '\0')
            continue;
        fprintf(stderr, "---- last lines of %s log (%s) ----\n", procs[i].what, procs[i].log);
        jd_dump_log(procs[i].log, 40);
    }
}

/* One failed check on stderr ("FAIL" or "FATAL", where, what), counted. */
__attribute__((format(printf, 4, 0))) static void
report_failure(const char *kind, const char *file, int line, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s %s:%d: ", kind, file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    failures++;
}

void jd_error(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_failure("FAIL", file, line, fmt, ap);
    va_end(ap);
}

void jd_fatal(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_failure("FATAL", file, line, fmt, ap);
    va_end(ap);
    exit(1); /* the atexit handler dumps the logs and kills the children */
}

void jd_note(const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "[%s] ", test_name);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

int jd_failures(void)
{
    return failures;
}

/* ---- process registry and cleanup ---- */

static int register_proc(pid_t pid, const char *log, const char *what)
{
    if (nprocs >= MAX_PROCS)
        jd_fatal(__FILE__, __LINE__, "too many child processes");
    struct proc *p = &procs[nprocs];
    snprintf(p->log, sizeof p->log, "%s", log ? log : "");
    snprintf(p->what, sizeof p->what, "%s", what);
    p->pid = pid;
    return nprocs++;
}

static void mark_reaped(pid_t pid)
{
    for (int i = 0; i < nprocs; i++)
        if (procs[i].pid == pid)
            procs[i].pid = 0;
}

/* Async-signal-safe: only kill(2). Children run in their own process groups so that a
 * daemon's helpers die with it. */
static void kill_all_children(void)
{
    for (int i = 0; i < nprocs; i++) {
        pid_t p = procs[i].pid;
        if (p > 0) {
            kill(-p, SIGKILL);
            kill(p, SIGKILL);
        }
    }
}

static void write_str(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Async-signal-safe tail of a log: the last 4 KiB. */
static void dump_tail_raw(const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > (off_t)sizeof buf)
        lseek(fd, end - (off_t)sizeof buf, SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(n - off));
            if (w <= 0)
                break;
            off += w;
        }
    }
}

static void on_fatal_signal(int sig)
{
    write_str(sig == SIGALRM ? "\nFATAL: watchdog fired, the test hung; killing children\n"
                             : "\nFATAL: test interrupted; killing children\n");
    kill_all_children();
    for (int i = 0; i < nprocs; i++) {
        if (procs[i].log[0] == '\0')
            continue;
        write_str("---- tail of ");
        write_str(procs[i].log);
        write_str(" ----\n");
        dump_tail_raw(procs[i].log);
    }
    _exit(1);
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[JD_PATH_MAX * 2];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                remove_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void at_exit_cleanup(void)
{
    /* A forked child that returns through exit() must not kill its siblings. */
    if (getpid() != main_pid)
        return;
    alarm(0);
    if (failures > 0)
        dump_all_logs();
    kill_all_children();
    for (int i = 0; i < nprocs; i++) {
        if (procs[i].pid > 0) {
            waitpid(procs[i].pid, NULL, 0);
            procs[i].pid = 0;
        }
    }
    jd_http_thread_done();
    curl_global_cleanup();
    if (tmpdir[0] != '\0') {
        if (failures == 0 && getenv("JD_KEEP_TMP") == NULL)
            remove_tree(tmpdir);
        else
            fprintf(stderr, "[%s] kept %s for inspection\n", test_name, tmpdir);
    }
}

/* ---- randomness and time ---- */

uint64_t jd_rand(void)
{
    /* xorshift64*: deterministic from the printed seed, so any failing order replays. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

uint64_t jd_rand_below(uint64_t n)
{
    return n == 0 ? 0 : jd_rand() % n;
}

uint64_t jd_seed(void)
{
    return seed_value;
}

void jd_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int64_t jd_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t jd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's civil calendar algorithms: gmtime is banned, and these are exact for
 * the whole proleptic Gregorian range. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void jd_rfc3339(int64_t t, char *out, size_t outlen)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400;
    int64_t secs = t - z * 86400;
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    snprintf(out, outlen,
             "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64 ":%02" PRId64 "Z",
             y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
}

static int parse_digits(const char **p, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int jd_parse_rfc3339(const char *s, int64_t *unix_s)
{
    int64_t y, mo, d, h, mi, se;
    const char *p = s;
    if (!s || parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) || *p++ != '-' ||
        parse_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi) || *p++ != ':' ||
        parse_digits(&p, 2, &se))
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int64_t oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om))
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *unix_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    return 0;
}

/* ---- setup ---- */

static int find_in_path(const char *prog, char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(out, outlen, "%.*s/%s", (int)n, p, prog);
        if (n > 0 && access(out, X_OK) == 0)
            return 0;
        p += n;
        if (*p == ':')
            p++;
    }
    /* Debian installs redis-server in /usr/bin, but sbin dirs are not always on PATH. */
    snprintf(out, outlen, "/usr/sbin/%s", prog);
    return access(out, X_OK) == 0 ? 0 : -1;
}

static char redis_server_path[JD_PATH_MAX];

void jd_setup(const char *name, unsigned watchdog_s, int need_redis)
{
    snprintf(test_name, sizeof test_name, "%s", name);
    main_pid = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *env_seed = getenv("JD_SEED");
    if (env_seed && *env_seed) {
        seed_value = strtoull(env_seed, NULL, 0);
    } else {
        int fd = open("/dev/urandom", O_RDONLY);
        if (fd < 0 || read(fd, &seed_value, sizeof seed_value) != (ssize_t)sizeof seed_value)
            seed_value = (uint64_t)jd_mono_ms() ^ ((uint64_t)getpid() << 32);
        if (fd >= 0)
            close(fd);
    }
    rng_state = seed_value ? seed_value : 0x9E3779B97F4A7C15ULL;
    jd_note("seed %" PRIu64 " (replay with JD_SEED=%" PRIu64 ")", seed_value, seed_value);

    if (need_redis) {
        const char *env = getenv("JD_REDIS_SERVER");
        if (env && *env)
            snprintf(redis_server_path, sizeof redis_server_path, "%s", env);
        else if (find_in_path("redis-server", redis_server_path, sizeof redis_server_path) != 0)
            redis_server_path[0] = '\0';
        if (redis_server_path[0] == '\0' || access(redis_server_path, X_OK) != 0) {
            jd_note("SKIP: redis-server is not installed");
            exit(JD_SKIP);
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/jd-%s-XXXXXX", base, name);
    if (!mkdtemp(tmpdir)) {
        tmpdir[0] = '\0';
        jd_fatal(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        jd_fatal(__FILE__, __LINE__, "curl_global_init failed");
    atexit(at_exit_cleanup);
    alarm(watchdog_s);
    jd_note("tmpdir %s, watchdog %us", tmpdir, watchdog_s);
}

/* A sanitizer report in a child's log is a failure even when the child went on (UBSan
 * without halt_on_error) or was SIGKILLed by the test before it could exit non-zero. */
static void scan_logs_for_sanitizers(void)
{
    static const char *const marks[] = {"runtime error:", "AddressSanitizer", "LeakSanitizer",
                                        "UndefinedBehaviorSanitizer"};
    for (int i = 0; i < nprocs; i++) {
        if (procs[i].log[0] == '\0' || strcmp(procs[i].what, "journeyd") != 0)
            continue;
        int seen = 0; /* a restarted daemon appends to the same log */
        for (int j = 0; j < i; j++)
            seen |= strcmp(procs[j].log, procs[i].log) == 0;
        if (seen)
            continue;
        FILE *f = fopen(procs[i].log, "r");
        if (!f)
            continue;
        char line[1024];
        int reported = 0;
        while (!reported && fgets(line, sizeof line, f)) {
            for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++) {
                if (strstr(line, marks[k])) {
                    jd_error(__FILE__, __LINE__, "sanitizer report in %s: %s", procs[i].log, line);
                    reported = 1;
                    break;
                }
            }
        }
        fclose(f);
    }
}

int jd_finish(void)
{
    scan_logs_for_sanitizers();
    if (failures > 0) {
        jd_note("%d check(s) FAILED (seed %" PRIu64 ")", failures, seed_value);
        return 1;
    }
    jd_note("all checks passed");
    return 0;
}

const char *jd_tmpdir(void)
{
    return tmpdir;
}

/* ---- processes ---- */

/* snprintf for paths: a truncated path would silently point elsewhere, so it is fatal. */
__attribute__((format(printf, 3, 4))) static void path_fmt(char *out, size_t outlen,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen)
        jd_fatal(__FILE__, __LINE__, "path too long: %s", out);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        jd_fatal(__FILE__, __LINE__, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        jd_fatal(__FILE__, __LINE__, "bind: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

int jd_daemon_connect(const struct jd_daemon *d)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        jd_fatal(__FILE__, __LINE__, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)d->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        jd_fatal(__FILE__, __LINE__, "connect to journeyd: %s", strerror(errno));
    return fd;
}

/* fork + exec with its own process group, stdio to the log, and a parent-death signal so
 * that nothing outlives a test killed from outside. */
static pid_t spawn(char *const argv[], const char *log, const char *what)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        jd_fatal(__FILE__, __LINE__, "open %s: %s", log, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        jd_fatal(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(fd);
    register_proc(pid, log, what);
    return pid;
}

/* waitpid with a deadline; returns the status or -1 on timeout. */
static int wait_pid(pid_t pid, int timeout_ms)
{
    int64_t deadline = jd_mono_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            mark_reaped(pid);
            return st;
        }
        if (r < 0 && errno != EINTR) {
            mark_reaped(pid);
            return 0;
        }
        if (jd_mono_ms() >= deadline)
            return -1;
        jd_sleep_ms(20);
    }
}

static int pid_alive(pid_t pid)
{
    if (pid <= 0)
        return 0;
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        mark_reaped(pid);
        return 0;
    }
    return r == 0;
}

static redisContext *try_connect(int port, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, (struct timeval){10, 0});
    return c;
}

static int redis_ping_ok(int port)
{
    redisContext *c = try_connect(port, 200);
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

void jd_redis_start(struct jd_redis *r, const char *dir, int port)
{
    static int counter;
    if (dir) {
        char copy[JD_PATH_MAX]; /* dir may be r->dir itself (a restart in place) */
        snprintf(copy, sizeof copy, "%s", dir);
        snprintf(r->dir, sizeof r->dir, "%s", copy);
    } else {
        path_fmt(r->dir, sizeof r->dir, "%s/redis%d", tmpdir, counter++);
    }
    if (mkdir(r->dir, 0700) != 0 && errno != EEXIST)
        jd_fatal(__FILE__, __LINE__, "mkdir %s: %s", r->dir, strerror(errno));
    path_fmt(r->log, sizeof r->log, "%s/redis.log", r->dir);

    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = port ? port : free_port();
        char portbuf[16];
        snprintf(portbuf, sizeof portbuf, "%d", r->port);
        char *argv[] = {redis_server_path,
                        "--port",
                        portbuf,
                        "--bind",
                        "127.0.0.1",
                        "--appendonly",
                        "yes",
                        "--appendfsync",
                        "everysec",
                        "--dir",
                        r->dir,
                        "--save",
                        "",
                        "--daemonize",
                        "no",
                        NULL};
        r->pid = spawn(argv, r->log, "redis-server");
        int64_t deadline = jd_mono_ms() + 30000;
        while (jd_mono_ms() < deadline) {
            if (redis_ping_ok(r->port))
                return;
            if (!pid_alive(r->pid))
                break;
            jd_sleep_ms(50);
        }
        if (pid_alive(r->pid)) {
            jd_fatal(__FILE__, __LINE__, "redis-server on port %d did not answer PING", r->port);
        }
        if (port)
            break; /* a fixed port cannot be retried with another */
        jd_note("redis-server exited at start (port %d taken?); retrying", r->port);
    }
    jd_fatal(__FILE__, __LINE__, "redis-server would not start (see %s)", r->log);
}

void jd_redis_shutdown(struct jd_redis *r)
{
    redisContext *c = try_connect(r->port, 2000);
    if (c) {
        /* The reply is normally a closed connection: that is the success case. */
        redisReply *rep = redisCommand(c, "SHUTDOWN");
        if (rep) {
            if (rep->type == REDIS_REPLY_ERROR)
                jd_note("SHUTDOWN answered: %s", rep->str);
            freeReplyObject(rep);
        }
        redisFree(c);
    }
    if (wait_pid(r->pid, 30000) < 0) {
        jd_note("redis-server ignored SHUTDOWN; sending SIGTERM");
        jd_redis_kill(r, SIGTERM);
    }
    r->pid = 0;
}

void jd_redis_kill(struct jd_redis *r, int sig)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    if (wait_pid(r->pid, 30000) < 0)
        jd_fatal(__FILE__, __LINE__, "redis-server %d did not exit on signal %d", r->pid, sig);
    r->pid = 0;
}

redisContext *jd_redis_connect(const struct jd_redis *r)
{
    redisContext *c = try_connect(r->port, 2000);
    if (!c)
        jd_fatal(__FILE__, __LINE__, "cannot connect to redis on port %d", r->port);
    return c;
}

long long jd_redis_int(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r)
        freeReplyObject(r);
    return v;
}

long long jd_redis_pending(redisContext *c)
{
    redisReply *r = redisCommand(c, "XPENDING jd:raw jd");
    long long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        n = r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

const char *jd_binary(void)
{
    const char *b = getenv("JD_BINARY");
    if (!b || !*b)
        jd_fatal(__FILE__, __LINE__, "JD_BINARY is not set (run through ctest)");
    if (access(b, X_OK) != 0)
        jd_fatal(__FILE__, __LINE__, "JD_BINARY=%s is not executable", b);
    return b;
}

void jd_daemon_config(struct jd_daemon *d, int redis_port, const char *extra)
{
    static int counter;
    memset(d, 0, sizeof *d);
    d->port = free_port();
    d->redis_port = redis_port;
    int n = counter++;
    path_fmt(d->conf, sizeof d->conf, "%s/journeyd%d.conf", tmpdir, n);
    path_fmt(d->log, sizeof d->log, "%s/journeyd%d.log", tmpdir, n);
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
    FILE *f = fopen(d->conf, "w");
    if (!f)
        jd_fatal(__FILE__, __LINE__, "fopen %s: %s", d->conf, strerror(errno));
    fprintf(f,
            "[journeyd]\n"
            "listen = 127.0.0.1:%d\n"
            "redis = 127.0.0.1:%d\n"
            "api_tokens = " JD_TOKEN "\n"
            "default_country_code = 39\n"
            "click_allow = example.com\n"
            "retry_after = 2s\n"
            "%s"
            "%s"
            "\n"
            "[source stripe]\n"
            "type = stripe\n"
            "secret = " JD_STRIPE_SECRET "\n"
            "\n"
            "[source site]\n"
            "type = form\n"
            "auth = hmac\n"
            "secret = " JD_FORM_SECRET "\n",
            d->port, redis_port, extra && strstr(extra, "claim_idle") ? "" : "claim_idle = 1s\n",
            extra ? extra : "");
    if (fclose(f) != 0)
        jd_fatal(__FILE__, __LINE__, "write %s failed", d->conf);
}

/* The printf-formatted lines of a config addition, bounded (a test's few lines). */
static void config_lines(char *out, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, cap, fmt, ap);
    if (n < 0 || (size_t)n >= cap)
        jd_fatal(__FILE__, __LINE__, "config lines longer than %zu bytes", cap - 1);
}

void jd_daemon_config_append(const struct jd_daemon *d, const char *fmt, ...)
{
    char lines[4096];
    va_list ap;
    va_start(ap, fmt);
    config_lines(lines, sizeof lines, fmt, ap);
    va_end(ap);
    FILE *f = fopen(d->conf, "a");
    if (!f)
        jd_fatal(__FILE__, __LINE__, "cannot append to %s: %s", d->conf, strerror(errno));
    fputs(lines, f);
    if (fclose(f) != 0)
        jd_fatal(__FILE__, __LINE__, "write %s failed", d->conf);
}

void jd_daemon_config_stripe(const struct jd_daemon *d, const char *fmt, ...)
{
    static const char type_line[] = "type = stripe\n";
    char lines[4096];
    va_list ap;
    va_start(ap, fmt);
    config_lines(lines, sizeof lines, fmt, ap);
    va_end(ap);
    char *conf = jd_slurp(d->conf);
    if (!conf)
        jd_fatal(__FILE__, __LINE__, "cannot read %s", d->conf);
    char *at = strstr(conf, type_line);
    if (!at)
        jd_fatal(__FILE__, __LINE__, "no stripe source in the test config");
    at += strlen(type_line);
    FILE *f = fopen(d->conf, "w");
    if (!f)
        jd_fatal(__FILE__, __LINE__, "cannot rewrite %s: %s", d->conf, strerror(errno));
    fprintf(f, "%.*s%s%s", (int)(at - conf), conf, lines, at);
    if (fclose(f) != 0)
        jd_fatal(__FILE__, __LINE__, "write %s failed", d->conf);
    free(conf);
}

void jd_daemon_start(struct jd_daemon *d, int wait_ready)
{
    char *argv[] = {(char *)(uintptr_t)jd_binary(), "-c", d->conf, NULL};
    /* A marker line separates the runs of a restarted daemon in the same log. */
    FILE *f = fopen(d->log, "a");
    if (f) {
        fprintf(f, "==== test harness: starting journeyd on port %d ====\n", d->port);
        fclose(f);
    }
    d->pid = spawn(argv, d->log, "journeyd");
    if (!wait_ready)
        return;
    int64_t deadline = jd_mono_ms() + 60000;
    long last = 0;
    while (jd_mono_ms() < deadline) {
        last = jd_get_status(d, "/readyz");
        if (last == 200)
            return;
        if (!pid_alive(d->pid))
            jd_fatal(__FILE__, __LINE__, "journeyd exited during startup (see %s)", d->log);
        jd_sleep_ms(50);
    }
    jd_fatal(__FILE__, __LINE__, "journeyd not ready after 60 s (last /readyz status %ld)", last);
}

void jd_daemon_signal(struct jd_daemon *d, int sig)
{
    if (d->pid > 0)
        kill(d->pid, sig);
}

int jd_daemon_wait_exit(struct jd_daemon *d, int timeout_s)
{
    if (d->pid <= 0)
        return 0;
    int st = wait_pid(d->pid, timeout_s * 1000);
    if (st >= 0)
        d->pid = 0;
    return st;
}

int jd_daemon_alive(struct jd_daemon *d)
{
    if (d->pid <= 0)
        return 0;
    if (!pid_alive(d->pid)) {
        d->pid = 0;
        return 0;
    }
    return 1;
}

void jd_daemon_stop(struct jd_daemon *d)
{
    if (d->pid <= 0) {
        jd_error(__FILE__, __LINE__, "journeyd was no longer running at stop");
        return;
    }
    jd_daemon_signal(d, SIGTERM);
    int st = jd_daemon_wait_exit(d, 60);
    if (st < 0) {
        jd_error(__FILE__, __LINE__, "journeyd did not exit within 60 s of SIGTERM");
        return;
    }
    if (WIFSIGNALED(st))
        jd_error(__FILE__, __LINE__, "journeyd died of signal %d after SIGTERM (want exit 0)",
                 WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0)
        jd_error(__FILE__, __LINE__, "journeyd exited %d after SIGTERM (want 0)", WEXITSTATUS(st));
}

void jd_dump_log(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "(no log at %s)\n", path);
        return;
    }
    /* Only the end matters; bound what we read so a chatty log cannot flood ctest. */
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        long start = end > 65536 ? end - 65536 : 0;
        fseek(f, start, SEEK_SET);
    }
    struct jd_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        jd_buf_append(&b, chunk, n);
    fclose(f);
    if (!b.p) {
        fprintf(stderr, "(empty)\n");
        return;
    }
    size_t pos = b.len;
    int seen = 0;
    while (pos > 0) {
        if (b.p[pos - 1] == '\n' && pos != b.len && ++seen >= lines)
            break;
        pos--;
    }
    fwrite(b.p + pos, 1, b.len - pos, stderr);
    if (b.len > 0 && b.p[b.len - 1] != '\n')
        fputc('\n', stderr);
    jd_buf_free(&b);
}

int jd_run_capture(char *const argv[], char *out, size_t outlen, int timeout_s)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    register_proc(pid, NULL, "command");
    close(pfd[1]);
    size_t used = 0;
    int64_t deadline = jd_mono_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        int64_t left = deadline - jd_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char buf[1024];
        ssize_t n = read(pfd[0], buf, sizeof buf);
        if (n <= 0)
            break;
        if (outlen > 0 && used < outlen - 1) {
            size_t take = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
    }
    close(pfd[0]);
    if (outlen > 0)
        out[used] = '\0';
    int st = wait_pid(pid, 5000);
    if (st < 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        wait_pid(pid, 5000);
        return -1;
    }
    return st;
}

/* ---- buffers ---- */

void jd_buf_append(struct jd_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            jd_fatal(__FILE__, __LINE__, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void jd_buf_printf(struct jd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        jd_fatal(__FILE__, __LINE__, "vsnprintf failed");
    jd_buf_append(b, "", 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            jd_fatal(__FILE__, __LINE__, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jd_buf_free(struct jd_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- HTTP ---- */

struct capture {
    struct jd_buf body, hdrs;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct capture *c = ud;
    size_t n = size * nmemb;
    if (c->body.len + n > BODY_CAP)
        return 0; /* an endless answer is a failure, not an out-of-memory */
    jd_buf_append(&c->body, ptr, n);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct capture *c = ud;
    size_t n = size * nmemb;
    /* Keep only the final response's headers (after a 100 Continue, say). */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        c->hdrs.len = 0;
    jd_buf_append(&c->hdrs, ptr, n);
    return n;
}

void jd_http_free(struct jd_http *h)
{
    free(h->body);
    free(h->hdrs);
    memset(h, 0, sizeof *h);
}

void jd_http_thread_done(void)
{
    if (tl_curl) {
        curl_easy_cleanup(tl_curl);
        tl_curl = NULL;
    }
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return 1;
    return 0;
}

int jd_http(struct jd_http *out, const char *method, const char *url, const char *const *headers,
            const void *body, size_t len)
{
    memset(out, 0, sizeof *out);
    if (!tl_curl) {
        tl_curl = curl_easy_init();
        if (!tl_curl)
            jd_fatal(__FILE__, __LINE__, "curl_easy_init failed");
    } else {
        curl_easy_reset(tl_curl); /* keeps the connection cache: keep-alive as providers do */
    }
    CURL *c = tl_curl;
    struct capture cap = {{0}, {0}};
    struct curl_slist *sl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        sl = curl_slist_append(sl, headers[i]);
    int is_get = strcmp(method, "GET") == 0;
    if (!has_header(headers, "Expect"))
        sl = curl_slist_append(sl, "Expect:");
    if (!is_get && !has_header(headers, "Content-Type"))
        sl = curl_slist_append(sl, "Content-Type:");

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &cap);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &cap);
    if (is_get) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        if (body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(sl);
    out->curl_code = (int)rc;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    jd_buf_append(&cap.body, "", 0);
    jd_buf_append(&cap.hdrs, "", 0);
    out->body = cap.body.p;
    out->len = cap.body.len;
    out->hdrs = cap.hdrs.p;
    out->hlen = cap.hdrs.len;
    /* The POSTFIELDS pointer belongs to the caller: do not let a later reset-less reuse
     * see it. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

const char *jd_header_value(const char *block, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = block;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t linelen = eol ? (size_t)(eol - p) : strlen(p);
        if (linelen > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            const char *end = p + linelen;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            snprintf(out, outlen, "%.*s", (int)(end - v), v);
            return out;
        }
        p += linelen;
        if (*p == '\n')
            p++;
    }
    return NULL;
}

const char *jd_http_header(const struct jd_http *h, const char *name, char *out, size_t outlen)
{
    return h->hdrs ? jd_header_value(h->hdrs, name, out, outlen) : NULL;
}

cJSON *jd_http_json(const struct jd_http *h)
{
    if (!h->body || h->len == 0)
        return NULL;
    return cJSON_ParseWithLength(h->body, h->len);
}

int jd_http_is_error(const struct jd_http *h, const char *code)
{
    cJSON *j = jd_http_json(h);
    int ok = 0;
    if (cJSON_IsObject(j)) {
        const char *e = jd_json_str(j, "error");
        const char *m = jd_json_str(j, "message");
        ok = e && m && (!code || strcmp(e, code) == 0);
    }
    cJSON_Delete(j);
    return ok;
}

void jd_hmac_hex(const char *key, const void *msg, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg ? msg : empty, len, mac, &maclen))
        jd_fatal(__FILE__, __LINE__, "HMAC failed");
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < maclen; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[2 * maclen] = '\0';
}

void jd_stripe_sig_header(char *out, size_t outlen, const char *secret, int64_t t, const void *body,
                          size_t len)
{
    /* Stripe signs "<t>.<raw body>" with the whole secret string as the key. */
    struct jd_buf msg = {0};
    jd_buf_printf(&msg, "%" PRId64 ".", t);
    jd_buf_append(&msg, body, len);
    char hex[65];
    jd_hmac_hex(secret, msg.p, msg.len, hex);
    jd_buf_free(&msg);
    snprintf(out, outlen, "Stripe-Signature: t=%" PRId64 ",v1=%s", t, hex);
}

void jd_form_sig_header(char *out, size_t outlen, const char *secret, const void *body, size_t len)
{
    char hex[65];
    jd_hmac_hex(secret, body, len, hex);
    snprintf(out, outlen, "X-Journeyd-Signature: sha256=%s", hex);
}

long long jd_metric(const struct jd_daemon *d, const char *series)
{
    struct jd_http h;
    long long v = -1;
    jd_get_auth(d, "/metrics", &h);
    size_t n = strlen(series);
    for (const char *p = h.body; p && (p = strstr(p, series)); p += n)
        if ((p == h.body || p[-1] == '\n') && p[n] == ' ')
            v = strtoll(p + n + 1, NULL, 10);
    jd_http_free(&h);
    return v;
}

char *jd_stripe_checkout_body(const char *prefix, int i)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b,
                  "{\"id\":\"evt_%s_%05d\",\"object\":\"event\",\"type\":"
                  "\"checkout.session.completed\",\"created\":%" PRId64 ",\"data\":{\"object\":"
                  "{\"id\":\"cs_%s_%05d\",\"object\":\"checkout.session\",\"amount_total\":%d,"
                  "\"currency\":\"eur\",\"customer_details\":{\"email\":\"%s%05d@example.com\"},"
                  "\"payment_intent\":\"pi_%s_%05d\",\"metadata\":{}}}}",
                  prefix, i, (int64_t)1790000000 + i, prefix, i, 500 + i, prefix, i, prefix, i);
    return b.p;
}

char *jd_stripe_events_page(const char *prefix, int first, int last, int more)
{
    struct jd_buf b = {0};
    jd_buf_printf(&b, "{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":%s,\"data\":[",
                  more ? "true" : "false");
    for (int i = first; i >= last; i--) {
        char *ev = jd_stripe_checkout_body(prefix, i);
        jd_buf_printf(&b, "%s%s", i == first ? "" : ",", ev);
        free(ev);
    }
    jd_buf_printf(&b, "]}");
    return b.p;
}

int jd_check_checkout_journeys(const struct jd_daemon *d, const char *prefix, int n,
                               const long *first_status)
{
    int missing = 0, dup = 0;
    for (int i = 0; i < n; i++) {
        char email[64], id[64];
        snprintf(email, sizeof email, "%s%05d@example.com", prefix, i);
        snprintf(id, sizeof id, "stripe:evt_%s_%05d", prefix, i);
        long st;
        cJSON *j = jd_journey(d, "email", email, &st);
        int c = j ? jd_count_event(j, id) : 0;
        if (c == 0 && missing++ < 10)
            jd_error(__FILE__, __LINE__,
                     "webhook %s %d (first answer %ld) is not in its journey "
                     "(status %ld)",
                     prefix, i, first_status ? first_status[i] : 200L, st);
        if (c > 1 && dup++ < 10)
            jd_error(__FILE__, __LINE__, "webhook %s %d appears %d times", prefix, i, c);
        cJSON_Delete(j);
    }
    JD_EXPECT(missing == 0, "%s: %d webhooks missing from the journeys", prefix, missing);
    JD_EXPECT(dup == 0, "%s: %d webhooks applied more than once", prefix, dup);
    jd_note("%s: %d of %d webhooks present exactly once", prefix, n - missing - dup, n);
    return missing + dup;
}

char *jd_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct jd_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        jd_buf_append(&b, chunk, n);
    fclose(f);
    jd_buf_append(&b, "", 1);
    return b.p;
}

int jd_post_hook(const struct jd_daemon *d, const char *source, const char *const *headers,
                 const char *body, struct jd_http *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s/hooks/%s", d->base, source);
    return jd_http(out, "POST", url, headers, body, strlen(body));
}

int jd_post_meta(const struct jd_daemon *d, const char *source, const char *secret,
                 const char *body, struct jd_http *out)
{
    char hex[65], sig[128];
    jd_hmac_hex(secret, body, strlen(body), hex);
    snprintf(sig, sizeof sig, "X-Hub-Signature-256: sha256=%s", hex);
    const char *hdrs[] = {sig, "Content-Type: application/json", NULL};
    return jd_post_hook(d, source, hdrs, body, out);
}

int jd_post_stripe(const struct jd_daemon *d, const char *body, struct jd_http *out)
{
    char sig[256];
    jd_stripe_sig_header(sig, sizeof sig, JD_STRIPE_SECRET, jd_now_s(), body, strlen(body));
    const char *hdrs[] = {sig, "Content-Type: application/json; charset=utf-8",
                          "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)", NULL};
    return jd_post_hook(d, "stripe", hdrs, body, out);
}

int jd_post_form(const struct jd_daemon *d, const char *body, const char *content_type,
                 struct jd_http *out)
{
    char sig[256], ct[128];
    jd_form_sig_header(sig, sizeof sig, JD_FORM_SECRET, body, strlen(body));
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    const char *hdrs[] = {sig, ct, NULL};
    return jd_post_hook(d, "site", hdrs, body, out);
}

int jd_post_events(const struct jd_daemon *d, const char *body, struct jd_http *out)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/events", d->base);
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, "Content-Type: application/json",
                          NULL};
    return jd_http(out, "POST", url, hdrs, body, strlen(body));
}

int jd_get_auth(const struct jd_daemon *d, const char *path, struct jd_http *out)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    const char *hdrs[] = {"Authorization: Bearer " JD_TOKEN, NULL};
    return jd_http(out, "GET", url, hdrs, NULL, 0);
}

long jd_get_status(const struct jd_daemon *d, const char *path)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    struct jd_http h;
    jd_http(&h, "GET", url, NULL, NULL, 0);
    long st = h.status;
    jd_http_free(&h);
    return st;
}

long jd_wait_drained(const struct jd_daemon *d, int timeout_s)
{
    int64_t deadline = jd_mono_ms() + (int64_t)timeout_s * 1000;
    int zeros = 0;
    char last[512] = "";
    while (jd_mono_ms() < deadline) {
        struct jd_http h;
        jd_get_auth(d, "/v1/status", &h);
        cJSON *j = h.status == 200 ? jd_http_json(&h) : NULL;
        int ok1 = 0, ok2 = 0, ok3 = 0;
        int64_t len = jd_json_int(jd_json_path(j, "queue.length"), &ok1);
        int64_t pend = jd_json_int(jd_json_path(j, "queue.pending"), &ok2);
        int64_t dead = jd_json_int(cJSON_GetObjectItemCaseSensitive(j, "dead_letters"), &ok3);
        snprintf(last, sizeof last, "status %ld body %.400s", h.status, h.body ? h.body : "");
        cJSON_Delete(j);
        jd_http_free(&h);
        if (ok1 && ok2 && len == 0 && pend == 0) {
            if (++zeros >= 2)
                return ok3 ? (long)dead : 0;
        } else {
            zeros = 0;
        }
        jd_sleep_ms(100);
    }
    jd_fatal(__FILE__, __LINE__, "queue not drained after %d s; last /v1/status: %s", timeout_s,
             last);
}

cJSON *jd_journey(const struct jd_daemon *d, const char *key, const char *value, long *status)
{
    char enc[1024], path[1200];
    jd_urlencode(value, enc, sizeof enc);
    snprintf(path, sizeof path, "/v1/journey?%s=%s", key, enc);
    struct jd_http h;
    jd_get_auth(d, path, &h);
    if (status)
        *status = h.status;
    cJSON *j = h.status == 200 ? jd_http_json(&h) : NULL;
    if (h.status == 200 && !j)
        jd_error(__FILE__, __LINE__, "GET %s: 200 with a body that is not JSON: %.200s", path,
                 h.body ? h.body : "");
    jd_http_free(&h);
    return j;
}

void jd_expect_str_at(const char *file, int line, const cJSON *obj, const char *path,
                      const char *want, const char *ctx)
{
    const cJSON *it = jd_json_path(obj, path);
    const char *got = cJSON_IsString(it) ? it->valuestring : NULL;
    if (!got || strcmp(got, want) != 0)
        jd_error(file, line, "%s: %s is %s%s%s, want \"%s\"", ctx, path, got ? "\"" : "",
                 got ? got : "(missing or not a string)", got ? "\"" : "", want);
}

void jd_expect_int_at(const char *file, int line, const cJSON *obj, const char *path, int64_t want,
                      const char *ctx)
{
    int ok;
    int64_t got = jd_json_int(jd_json_path(obj, path), &ok);
    if (!ok || got != want)
        jd_error(file, line, "%s: %s is %s%" PRId64 ", want %" PRId64, ctx, path,
                 ok ? "" : "(missing/not an integer) ", got, want);
}

void jd_expect_once_at(const char *file, int line, const struct jd_daemon *d, const char *email,
                       const char *id)
{
    long st;
    cJSON *j = jd_journey(d, "email", email, &st);
    int n = j ? jd_count_event(j, id) : -1;
    if (n != 1)
        jd_error(file, line, "%s: want once in the journey (status %ld, %d)", id, st, n);
    cJSON_Delete(j);
}

void jd_urlencode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (outlen == 0)
        return;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            if (o + 1 >= outlen)
                break;
            out[o++] = (char)ch;
        } else {
            if (o + 3 >= outlen)
                break;
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

/* ---- JSON helpers ---- */

const char *jd_json_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

const cJSON *jd_json_path(const cJSON *obj, const char *path)
{
    char key[128];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        p += n;
        if (*p == '.')
            p++;
    }
    return obj;
}

int64_t jd_json_int(const cJSON *item, int *ok)
{
    *ok = 0;
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    /* Money and counters are integers on the wire; anything else is a contract breach. */
    if (v != v || v > 9007199254740992.0 || v < -9007199254740992.0 || (double)(int64_t)v != v)
        return 0;
    *ok = 1;
    return (int64_t)v;
}

char *jd_json_print(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    if (!s)
        jd_fatal(__FILE__, __LINE__, "cJSON_PrintUnformatted failed");
    return s;
}

const char *jd_json_brief(const cJSON *item)
{
    static _Thread_local char buf[2048];
    if (!item)
        return "(null)";
    char *s = cJSON_PrintUnformatted(item);
    snprintf(buf, sizeof buf, "%s", s ? s : "(unprintable)");
    cJSON_free(s);
    return buf;
}

int jd_has_identity(const cJSON *identities, const char *type, const char *value)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, identities)
    {
        const char *t = jd_json_str(it, "type");
        const char *v = jd_json_str(it, "value");
        if (t && v && strcmp(t, type) == 0 && strcmp(v, value) == 0)
            return 1;
    }
    return 0;
}

int jd_count_event(const cJSON *journey, const char *id)
{
    int n = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(journey, "events"))
    {
        const char *eid = jd_json_str(ev, "id");
        if (eid && strcmp(eid, id) == 0)
            n++;
    }
    return n;
}

void jd_write_service_account(const char *path)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    JD_REQUIRE(key && bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1,
               "cannot make an RSA key");
    long n = BIO_get_mem_data(bio, &pem);
    cJSON *sa = cJSON_CreateObject();
    char *p = strndup(pem, (size_t)n);
    JD_REQUIRE(sa && p, "out of memory");
    cJSON_AddStringToObject(sa, "type", "service_account");
    cJSON_AddStringToObject(sa, "client_email", "journeyd@test-project.iam.gserviceaccount.com");
    cJSON_AddStringToObject(sa, "private_key", p);
    char *text = cJSON_PrintUnformatted(sa);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    JD_REQUIRE(fd >= 0 && text && write(fd, text, strlen(text)) == (ssize_t)strlen(text),
               "cannot write %s", path);
    close(fd);
    free(text);
    free(p);
    cJSON_Delete(sa);
    BIO_free(bio);
    EVP_PKEY_free(key);
}
