/* systemd notification (sd_notify): READY, STOPPING, RELOADING and the watchdog. Every
 * call is a no-op when $NOTIFY_SOCKET is unset. */
#ifndef JD_NOTIFY_H
#define JD_NOTIFY_H

#include <event2/event.h>

void notify_ready(void);
void notify_stopping(void);
/* RELOADING=1 with MONOTONIC_USEC; follow with notify_ready() when done. */
void notify_reloading(void);
void notify_status(const char *status);
/* Starts the WATCHDOG=1 timer at half of $WATCHDOG_USEC, if set. 0 / -1. */
int notify_watchdog_start(struct event_base *base);
void notify_free(void);

#endif
