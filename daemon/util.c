/*
 * Small helpers shared by the daemon modules (see util.h): the wall and monotonic clocks
 * and random ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "log.h"
#include "util.h"

#ifndef NDEBUG
/* The test clock (util.h): JD_TEST_CLOCK_OFFSET seconds, read once. */
static int64_t test_clock_offset_ms(void)
{
    static int read;
    static int64_t offset_ms;
    if (read)
        return offset_ms;
    read = 1;
    const char *v = getenv("JD_TEST_CLOCK_OFFSET");
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long s = strtoll(v, &end, 10);
    if (errno || *end || s < -(100LL * 366 * 86400) || s > 100LL * 366 * 86400) {
        jlog(JLOG_WARNING, "msg=\"JD_TEST_CLOCK_OFFSET ignored: not a number of seconds\"");
        return 0;
    }
    offset_ms = (int64_t)s * 1000;
    jlog(JLOG_WARNING, "msg=\"test clock: the wall clock is shifted\" offset_s=%lld", s);
    return offset_ms;
}
#endif

int64_t jd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#ifndef NDEBUG
    ms += test_clock_offset_ms();
#endif
    return ms;
}

int64_t jd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t jd_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int jd_random_id(const char *prefix, size_t nbytes, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[32];
    size_t plen = strlen(prefix);
    if (nbytes > sizeof(raw) || plen + 2 * nbytes + 1 > cap)
        return -1;
    if (RAND_bytes(raw, (int)nbytes) != 1)
        return -1;
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < nbytes; i++) {
        out[plen + 2 * i] = digits[raw[i] >> 4];
        out[plen + 2 * i + 1] = digits[raw[i] & 15];
    }
    out[plen + 2 * nbytes] = '\0';
    return 0;
}
