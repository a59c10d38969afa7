/*
 * Structured logging: one key=value line per event worth logging, to stderr (journald
 * adds the time). The level test happens before any formatting, as in Redis's serverLog.
 * Never pass secrets, signatures, bodies or personal data at info or above.
 */
#ifndef JD_LOG_H
#define JD_LOG_H

enum jlog_level { JLOG_DEBUG, JLOG_INFO, JLOG_NOTICE, JLOG_WARNING, JLOG_ERROR };

extern enum jlog_level jlog_threshold;

/* "debug" … "error"; -1 when unknown. */
int jlog_parse_level(const char *name);
void jlog_set_level(enum jlog_level level);

void jlog_write(enum jlog_level level, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define jlog(level, ...)                                                                           \
    do {                                                                                           \
        if ((level) >= jlog_threshold)                                                             \
            jlog_write((level), 0, __VA_ARGS__);                                                   \
    } while (0)
/* Appends strerror(errno), like OpenBSD's log_warn against log_warnx. */
#define jlog_errno(level, ...)                                                                     \
    do {                                                                                           \
        if ((level) >= jlog_threshold)                                                             \
            jlog_write((level), 1, __VA_ARGS__);                                                   \
    } while (0)

/* Escapes an untrusted fragment for a log line: printable ASCII only, quotes and
 * backslashes escaped, at most `cap - 1` bytes. Returns out. */
const char *jlog_quote(const char *in, size_t in_len, char *out, size_t cap);

#endif
