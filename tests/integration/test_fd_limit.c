/*
 * Running out of descriptors does not spin the daemon (issue 11 item 4).
 *
 * journeyd starts under `ulimit -n 64` (a wrapper script sets the limit, soft and hard,
 * and execs the daemon, so the harness still follows the daemon's own pid) with default
 * settings: max_connections = 4096, far above what 64 descriptors can hold. It must say
 * once that it lowered max_connections to fit. Then twice, 80 idle connections are opened
 * and held for three seconds: first under that limit, then with the limit of the running
 * daemon lowered (prlimit) to two descriptors above what it holds, so accept() fails with
 * EMFILE. Each time:
 *   - the daemon used under 30 % of one CPU over those seconds (utime + stime from
 *     /proc/<pid>/stat): accept() failing on a listening socket that stays readable is a
 *     busy loop unless accepting pauses;
 *   - its log grew by less than 16 KiB (the failure is logged now and then, not on every
 *     retry);
 *   - /healthz answers meanwhile (the oldest idle connection makes room), and again once
 *     the idle clients have closed.
 * Finally a reload (SIGHUP) under the lowered limit clamps max_connections again, logged
 * once more.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NIDLE 80
#define HOLD_MS 3000

static struct jd_daemon daemon_;

/* utime + stime of a process, in clock ticks; -1 when unreadable. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: the fields start after its closing parenthesis.
     * utime and stime are fields 14 and 15, the 12th and 13th after it. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* /healthz answers 200 within within_ms (polled; a slow answer counts as none). */
static int health_ok(int within_ms)
{
    int64_t start = jd_mono_ms(), end = start + within_ms;
    while (jd_mono_ms() < end) {
        long st = jd_get_status(&daemon_, "/healthz");
        if (st == 200 && jd_mono_ms() <= end)
            return 1;
        jd_sleep_ms(100);
    }
    jd_note("/healthz: no 200 within %d ms (%" PRId64 " ms spent)", within_ms,
            jd_mono_ms() - start);
    return 0;
}

/* Opens NIDLE idle connections, holds them HOLD_MS, and checks the daemon's CPU time and
 * log growth over that time and /healthz during and after. */
static void hold_idle(const char *what)
{
    long hz = sysconf(_SC_CLK_TCK);
    long long log0 = file_size(daemon_.log);
    long long cpu0 = cpu_ticks(daemon_.pid);
    int64_t t0 = jd_mono_ms();
    JD_REQUIRE(cpu0 >= 0 && log0 >= 0 && hz > 0, "cannot read the daemon's CPU time or log");

    int idle[NIDLE];
    for (int i = 0; i < NIDLE; i++)
        idle[i] = jd_daemon_connect(&daemon_);
    jd_sleep_ms(HOLD_MS);
    long long cpu1 = cpu_ticks(daemon_.pid);
    long long log1 = file_size(daemon_.log);
    int64_t elapsed = jd_mono_ms() - t0;
    double share = (double)(cpu1 - cpu0) / (double)hz * 1000.0 / (double)elapsed;
    jd_note("%s, %d idle connections for %" PRId64 " ms: daemon CPU %.1f %% of the interval, "
            "log +%lld bytes; log lines so far: %d accept pauses, %d about the connection cap",
            what, NIDLE, elapsed, share * 100.0, log1 - log0,
            count_in_file(daemon_.log, "cannot accept connections"),
            count_in_file(daemon_.log, "connection cap reached"));
    JD_EXPECT(cpu1 >= 0 && share < 0.30,
              "%s: the daemon used %.0f %% of a CPU while idle clients held its descriptors "
              "(want under 30 %%)",
              what, share * 100.0);
    JD_EXPECT(log1 - log0 < 16 * 1024, "%s: the log grew by %lld bytes in %" PRId64 " ms", what,
              log1 - log0, elapsed);
    /* The oldest idle connection makes room for a newcomer. */
    JD_EXPECT(health_ok(3000),
              "%s: /healthz does not answer while idle clients hold "
              "connections",
              what);
    for (int i = 0; i < NIDLE; i++)
        close(idle[i]);
    JD_EXPECT(health_ok(5000), "%s: /healthz does not answer after the idle clients closed", what);
}

/* Descriptors a process holds (its /proc/<pid>/fd entries). */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void)
{
    jd_setup("fd_limit", 120, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);

    /* The daemon under ulimit -n 64, soft and hard (it raises its soft limit to the hard
     * one at start). exec keeps the pid. */
    char wrapper[JD_PATH_MAX];
    snprintf(wrapper, sizeof wrapper, "%s/journeyd-nofile64", jd_tmpdir());
    FILE *w = fopen(wrapper, "w");
    JD_REQUIRE(w, "cannot write %s: %s", wrapper, strerror(errno));
    fprintf(w, "#!/bin/sh\nulimit -n 64 || exit 111\nexec '%s' \"$@\"\n", jd_binary());
    fclose(w);
    JD_REQUIRE(chmod(wrapper, 0755) == 0, "chmod %s: %s", wrapper, strerror(errno));
    JD_REQUIRE(setenv("JD_BINARY", wrapper, 1) == 0, "setenv failed");

    jd_daemon_config(&daemon_, redis.port, NULL);
    jd_daemon_start(&daemon_, 1);
    const char *clamp = "max_connections lowered to fit the descriptor limit";
    JD_EXPECT(count_in_file(daemon_.log, clamp) == 1,
              "the clamp of max_connections is logged %d times at start, want once",
              count_in_file(daemon_.log, clamp));

    hold_idle("under ulimit -n 64");

    /* Descriptors run out below the clamp (the limit lowered under the running daemon,
     * as anything else holding descriptors would): accept() fails with EMFILE. */
    int nfds = count_fds(daemon_.pid);
    JD_REQUIRE(nfds > 0, "cannot count the daemon's descriptors");
    struct rlimit lower = {(rlim_t)nfds + 2, (rlim_t)nfds + 2};
    JD_REQUIRE(prlimit(daemon_.pid, RLIMIT_NOFILE, &lower, NULL) == 0, "prlimit: %s",
               strerror(errno));
    hold_idle("with 2 descriptors left");
    JD_EXPECT(count_in_file(daemon_.log, "cannot accept connections") >= 1,
              "accept() never failed: the test did not run the daemon out of descriptors");

    /* A reload under the lower limit clamps again, logged once more. */
    jd_daemon_signal(&daemon_, SIGHUP);
    int64_t end = jd_mono_ms() + 5000;
    while (count_in_file(daemon_.log, "msg=reloaded") < 1 && jd_mono_ms() < end)
        jd_sleep_ms(50);
    JD_EXPECT(count_in_file(daemon_.log, "msg=reloaded") == 1, "the reload did not happen");
    JD_EXPECT(count_in_file(daemon_.log, clamp) == 2,
              "after a reload under a lower limit the clamp is logged %d times, want twice",
              count_in_file(daemon_.log, clamp));
    JD_EXPECT(health_ok(3000), "/healthz does not answer after the reload");
    jd_daemon_stop(&daemon_);
    return jd_finish();
}
