/* Small helpers shared by the daemon modules: clocks and ids. */
#ifndef JD_UTIL_H
#define JD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock in Unix milliseconds (what providers' timestamps compare against). Builds
 * without NDEBUG (Debug: the test builds) add JD_TEST_CLOCK_OFFSET seconds from the
 * environment, read at the first call and logged as a warning, so an integration test can
 * run the daemon "a week later" (tests/integration/test_erase_forever.c); Release builds
 * ignore it. */
int64_t jd_now_ms(void);
/* Monotonic milliseconds, for latencies and deadlines. */
int64_t jd_mono_ms(void);
int64_t jd_mono_us(void);
/* `prefix` followed by 2*nbytes random lowercase hex digits (OpenSSL's CSPRNG). 0 / -1. */
int jd_random_id(const char *prefix, size_t nbytes, char *out, size_t cap);

#endif
