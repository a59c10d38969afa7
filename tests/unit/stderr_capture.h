/*
 * What the unit tests that check a log line share: stderr (where jlog writes) sent to a
 * temporary file between capture_begin and capture_end. Include after <cmocka.h>.
 */
#ifndef JD_STDERR_CAPTURE_H
#define JD_STDERR_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct stderr_capture {
    int fd;    /* the temporary file, already unlinked */
    int saved; /* the real stderr */
};

static inline void capture_begin(struct stderr_capture *c)
{
    char path[] = "/tmp/jd-test-log-XXXXXX";
    c->fd = mkstemp(path);
    assert_true(c->fd >= 0);
    unlink(path); /* the descriptor keeps it until capture_end */
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fd, STDERR_FILENO) >= 0);
}

/* Puts stderr back; out holds what was written (at most cap - 1 bytes). Returns out. */
static inline char *capture_end(struct stderr_capture *c, char *out, size_t cap)
{
    fflush(stderr);
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    ssize_t n = pread(c->fd, out, cap - 1, 0);
    assert_true(n >= 0);
    out[n] = '\0';
    close(c->fd);
    return out;
}

#endif
