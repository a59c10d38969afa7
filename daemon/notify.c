/*
 * systemd notification (notify.h) through libsystemd's sd_notify: the READY, STOPPING and
 * RELOADING messages main.c sends, and the WATCHDOG=1 timer. A send failure is logged
 * once, so a broken socket cannot flood the log.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static struct event *watchdog_timer;
static int send_failed_logged;

static void notify_send(const char *msg)
{
    int r = sd_notify(0, msg);
    if (r < 0 && !send_failed_logged) {
        /* Logged once: a broken notify socket would otherwise flood the log. */
        send_failed_logged = 1;
        jlog(JLOG_WARNING, "msg=\"sd_notify failed\" code=%d", r);
    }
}

void notify_ready(void)
{
    notify_send("READY=1\nSTATUS=ready");
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=stopping");
}

void notify_reloading(void)
{
    char msg[96];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    notify_send(msg);
}

void notify_status(const char *status)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "STATUS=%s", status);
    notify_send(msg);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    notify_send("WATCHDOG=1");
}

int notify_watchdog_start(struct event_base *base)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    watchdog_timer = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
    uint64_t half = usec / 2;
    struct timeval tv = {(time_t)(half / 1000000), (suseconds_t)(half % 1000000)};
    if (!watchdog_timer || event_add(watchdog_timer, &tv) != 0)
        return -1;
    return 0;
}

void notify_free(void)
{
    if (watchdog_timer) {
        event_free(watchdog_timer);
        watchdog_timer = NULL;
    }
}
