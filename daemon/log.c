/*
 * Structured logging (log.h): formats one key=value line at the caller's level and writes
 * it to stderr with journald's priority prefix when stderr is the journal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum jlog_level jlog_threshold = JLOG_INFO;

/* -1 until the first line: whether stderr is journald's (then it parses <N> prefixes). */
static int journal_prefix = -1;

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error"};

int jlog_parse_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void jlog_set_level(enum jlog_level level)
{
    jlog_threshold = level;
}

void jlog_write(enum jlog_level level, int with_errno, const char *fmt, ...)
{
    int saved = errno;
    char line[1024];
    /* journald parses <N> priority prefixes (sd-daemon(3)): debug 7, info 6, notice 5,
     * warning 4, error 3. */
    static const int prio[] = {7, 6, 5, 4, 3};
    if (journal_prefix < 0)
        journal_prefix = getenv("JOURNAL_STREAM") != NULL;
    int n = journal_prefix
                ? snprintf(line, sizeof(line), "<%d>level=%s ", prio[level], level_names[level])
                : snprintf(line, sizeof(line), "level=%s ", level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (with_errno && n > 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n, " error=\"%s\"", strerror(saved));
    /* One event is one line, whatever a value holds: a newline or another control byte in
     * a field (a payload id in a dead-letter reason, a header) could otherwise forge a
     * line of its own. Callers still quote untrusted values (jlog_quote) so that no field
     * can forge another field; this is the floor under that. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s\n", line);
    errno = saved;
}

const char *jlog_quote(const char *in, size_t in_len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return out;
    for (size_t i = 0; i < in_len && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '?';
        }
    }
    out[o] = '\0';
    return out;
}
