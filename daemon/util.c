/*
 * Small helpers shared by the daemon modules (see util.h): the wall and monotonic clocks
 * and random ids.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "util.h"

int64_t jd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
